"""The package as a learner gets it: the wheel, installed into a fresh virtual environment.

An editable install reads everything from the repository, so it cannot show that a real install
works. Here the wheel is built from a copy of the source tree (no stale ``build/`` output), its
contents are compared with the source tree, and then it is installed with pip alone
(``pip install <wheel> torch==2.13.0``) into a fresh venv in a temporary folder, where every
module is imported, ``mia-course lessons DIR`` copies the lessons, and lesson 01 is executed from
DIR by a kernel of that venv, outside the source tree and with no ``PYTHONPATH``.

The venv is made once per test run (about 1-2 minutes: pip resolves and installs every
dependency, from its cache when it can). Marked ``slow``; still part of ``make test``.
"""
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE",
           "mia_course", "notebooks", "exercises",
           "docs/glossary.md", "docs/reading_results.md")  # what a clean checkout builds from
LESSON_01 = "01_alice_and_the_ad_model.ipynb"
pytestmark = pytest.mark.slow


def source_modules():
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / "mia_course").rglob("*.py")
                  if "__pycache__" not in p.parts and "lessons" not in p.relative_to(ROOT / "mia_course").parts)


def module_name(path):
    parts = Path(path).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def clean_env(**extra):
    """The environment a learner's shell has: no PYTHONPATH pointing at the source tree."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "JUPYTER_PATH")}
    return {**env, **extra}


def run(cmd, cwd, env=None, timeout=900):
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env or clean_env(), capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, f"{cmd} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="session")
def wheel(tmp_path_factory):
    """The wheel built from a copy of the source tree (as a clean checkout would build it)."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    src.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        elif path.exists():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, src / name)
    # no build isolation: the build backend (setuptools) is this environment's, so no download
    run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-q",
         "-w", base / "dist"], cwd=src)
    (built,) = (base / "dist").glob("mia_course-*.whl")
    return built


@pytest.fixture(scope="session")
def venv(wheel, tmp_path_factory):
    """A fresh venv with nothing but ``pip install <wheel> torch==2.13.0``; returns its bin/."""
    base = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", base / "venv"], cwd=base)
    bin_dir = base / "venv" / "bin"
    # torch named explicitly: the CPU build, never a multi-GB CUDA download
    run([bin_dir / "python", "-m", "pip", "install", "-q", wheel, "torch==2.13.0"], cwd=base, timeout=1800)
    return bin_dir


def test_the_wheel_holds_every_module_of_the_source_tree_and_the_lessons(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(n for n in names if n.endswith(".py") and "/lessons/" not in n)
    assert shipped == source_modules(), "the wheel's modules differ from mia_course/ in the source tree"
    for folder in ("notebooks", "exercises"):
        in_wheel = sorted(n.rsplit("/", 1)[1] for n in names if n.startswith(f"mia_course/lessons/{folder}/"))
        assert in_wheel == sorted(p.name for p in (ROOT / folder).glob("*.ipynb")), f"{folder}/ not all shipped"
        for name in in_wheel:
            assert zipfile.ZipFile(wheel).read(f"mia_course/lessons/{folder}/{name}") == \
                (ROOT / folder / name).read_bytes(), f"{folder}/{name} differs from the repository's"
    assert not [n for n in names if "solutions" in n], "solutions/ must never be shipped"
    solution_marker = "### BEGIN SOLUTION"
    leaked = [n for n in names if n.endswith(".ipynb") and solution_marker in zipfile.ZipFile(wheel).read(n).decode()]
    assert not leaked, f"shipped notebooks contain solutions: {leaked}"
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "mia-course = mia_course.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_the_installed_wheel_imports_every_module(venv, tmp_path):
    expected = [module_name(p) for p in source_modules()]
    # the instructors' nbgrader plugins need nbgrader (the dev extra), which a learner's
    # install lacks: importing them there must fail on nbgrader alone, nothing else
    script = ("import importlib, json, sys, mia_course\n"
              "names = json.loads(sys.argv[1])\n"
              "for name in names:\n"
              "    try: importlib.import_module(name)\n"
              "    except ModuleNotFoundError as e:\n"
              "        if not (name in json.loads(sys.argv[2]) and e.name == 'nbgrader'): raise\n"
              "print(json.dumps({'file': mia_course.__file__, 'version': mia_course.__version__}))")
    needs_nbgrader = ["mia_course.grading.nbgrader_plugins"]
    done = run([venv / "python", "-c", script, json.dumps(expected), json.dumps(needs_nbgrader)], cwd=tmp_path)
    info = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(info["file"]).is_relative_to(venv.parent), f"mia_course imported from {info['file']}, not the venv"
    assert not Path(info["file"]).is_relative_to(ROOT)


def test_mia_course_lessons_copies_them_and_lesson_01_runs_from_there(venv, tmp_path):
    work = tmp_path / "my-course"
    assert "lessons" in run([venv / "mia-course", "--help"], cwd=tmp_path).stdout
    run([venv / "mia-course", "lessons", work], cwd=tmp_path)
    for folder in ("notebooks", "exercises"):
        assert sorted(p.name for p in (work / folder).glob("*.ipynb")) == \
            sorted(p.name for p in (ROOT / folder).glob("*.ipynb"))
    assert not (work / "solutions").exists()
    # a kernel of the fresh venv (a kernelspec of its own, so no other python3 kernel is picked)
    kernels = tmp_path / "jupyter"
    run([venv / "python", "-m", "ipykernel", "install", "--prefix", kernels, "--name", "python3"], cwd=tmp_path)
    env = clean_env(JUPYTER_PATH=str(kernels / "share" / "jupyter"))
    run([venv / "jupyter", "nbconvert", "--to", "notebook", "--execute", "--ExecutePreprocessor.timeout=600",
         "--ExecutePreprocessor.kernel_name=python3", "--output-dir", tmp_path / "executed",
         work / "notebooks" / LESSON_01], cwd=tmp_path, env=env)
    executed = json.loads((tmp_path / "executed" / LESSON_01).read_text())
    code = [c for c in executed["cells"] if c["cell_type"] == "code"]
    assert code and all(c["execution_count"] for c in code), "every code cell of lesson 01 ran"
    assert not any(o.get("output_type") == "error" for c in code for o in c["outputs"])
