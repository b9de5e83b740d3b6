"""pyproject.toml and environment.yml list the same packages with the same lower bounds; torch
is PyTorch's CPU-only build wherever the course installs it, and no CUDA package is installed."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _parse(spec):
    """'scikit-learn>=1.3' -> ('scikit-learn', '>=1.3')."""
    m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*", spec.split("#")[0])
    return m.group(1).lower(), m.group(2).replace(" ", "")


def pyproject_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + project["optional-dependencies"]["dev"]
    return dict(_parse(s) for s in specs)


def environment_requirements():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = {}, {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip.update(_parse(s) for s in dep["pip"] if not s.startswith("-"))  # not -e . or --extra-index-url
        else:
            name, bound = _parse(dep)
            if name not in ("python", "pip"):
                conda[name] = bound
    return conda, pip


def test_same_packages_and_lower_bounds():
    conda, pip = environment_requirements()
    project = pyproject_requirements()
    assert set(conda) | set(pip) == set(project), "environment.yml and pyproject.toml list different packages"
    for name, bound in {**conda, **pip}.items():
        if name == "torch":  # pinned to the CPU build in environment.yml, a lower bound in pyproject
            continue
        assert bound == project[name], f"{name}: environment.yml says {bound!r}, pyproject.toml {project[name]!r}"


CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def test_torch_is_pinned_to_the_cpu_build_everywhere_it_is_installed():
    _, pip = environment_requirements()
    assert pip["torch"] == "==2.13.0"
    makefile = (ROOT / "Makefile").read_text()
    assert "torch==2.13.0" in makefile
    assert pyproject_requirements()["torch"].startswith(">="), "pyproject keeps a lower bound"
    # PyTorch's CPU index: on Linux PyPI's torch is the CUDA build
    assert f"TORCH_INDEX ?= {CPU_INDEX}" in makefile and "--extra-index-url $(TORCH_INDEX)" in makefile
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_lines = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert f"--extra-index-url {CPU_INDEX}" in pip_lines
    assert CPU_INDEX in (ROOT / "README.md").read_text(), "the README tells pip users about the CPU index"


def test_no_cuda_package_is_installed():
    """The course promises a CPU-only PyTorch: `make test` fails if pip brought the CUDA build."""
    import importlib.metadata
    import sys

    import torch

    nvidia = sorted({d.metadata["Name"] for d in importlib.metadata.distributions()
                     if (d.metadata["Name"] or "").lower().startswith("nvidia-")})
    assert not nvidia, (f"{len(nvidia)} nvidia-* packages in {sys.prefix} ({', '.join(nvidia[:5])}, ...): "
                        f"torch was installed from PyPI's CUDA build; reinstall it with "
                        f"pip install --force-reinstall torch==2.13.0 --index-url {CPU_INDEX}")
    assert not torch.version.cuda, f"torch {torch.__version__} is a CUDA build"


def test_the_kernel_waits_without_spinning():
    """`make install` writes the kernel with OMP_WAIT_POLICY=PASSIVE (read once, when torch loads,
    which a lesson may import before mia_course); `make lab` and `make test` run that kernel."""
    makefile = (ROOT / "Makefile").read_text()
    assert "--env OMP_WAIT_POLICY PASSIVE" in makefile


def test_every_dependency_has_a_lower_bound():
    for name, bound in pyproject_requirements().items():
        assert bound.startswith(">="), f"{name} in pyproject.toml needs a lower bound (got {bound!r})"


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()
    assert "make lab" in (ROOT / "README.md").read_text()
