"""The ``mia-course`` command: put the lessons where a learner works, and open JupyterLab there.

``mia-course lessons DIR`` copies the lessons (``notebooks/``) and the student exercises
(``exercises/``; never ``solutions/``) into DIR, side by side, as in the repository. A copy the
learner has changed (edited, or run and saved with outputs) is never overwritten unless asked
with ``--force``; an unchanged copy of an older version is brought up to date.
``mia-course lab [DIR]`` does that when needed and opens JupyterLab in DIR on lesson 00 (the
URL it opens and prints is that lesson's, so a learner who clicks the printed link lands there
too, not on the Launcher), with the instructors' nbgrader tools hidden there (``--allow-root``
only when run as root). Its kernels wait for work without spinning (``OMP_WAIT_POLICY=PASSIVE``,
unless set): a lesson stays fast on a laptop that also runs a browser, whatever it imports first.
``mia-course audit MODEL_FILE TRAIN_CSV HELDOUT_CSV --label COLUMN --out DIR`` writes a privacy
risk report of a fitted model (``mia_course.report``; notebooks/07_audit_your_own_model.ipynb).

Introduced in the README ("Two commands") and notebooks/00_start_here.ipynb.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

FOLDERS = ("notebooks", "exercises")  # never solutions/: they hold the answers
# single files copied with the lessons: the pages the lessons link to (../docs/glossary.md,
# ../docs/reading_results.md)
EXTRA_FILES = ("docs/glossary.md", "docs/reading_results.md")
MANIFEST = ".mia-course.json"         # in DIR: the hash of each file as it was copied
CONFIG_DIR = ".jupyter-config"        # in DIR: the workspace's JupyterLab settings
FIRST_LESSON = "notebooks/00_start_here.ipynb"
FIRST_URL = f"/lab/tree/{FIRST_LESSON}"  # JupyterLab opens the document at /lab/tree/<path>
# nbgrader's JupyterLab extension (menus, "Create Assignment") and its server extensions:
# instructor tools, off in a learner's workspace
NBGRADER_LAB_EXTENSION = "@jupyter/nbgrader"
NBGRADER_SERVER_EXTENSIONS = ("nbgrader.server_extensions.formgrader",
                              "nbgrader.server_extensions.validate_assignment",
                              "nbgrader.server_extensions.assignment_list",
                              "nbgrader.server_extensions.course_list")


def lessons_source() -> Path:
    """The folder that holds ``notebooks/`` and ``exercises/``: inside the installed package
    (a wheel ships them in ``mia_course/lessons/``), or the repository of an editable install."""
    here = Path(__file__).resolve().parent
    for root in (here / "lessons", here.parent):
        if all((root / folder).is_dir() for folder in FOLDERS):
            return root
    raise FileNotFoundError(f"no lessons found in {here / 'lessons'} or {here.parent}: "
                            "is mia-course installed from its wheel or its repository?")


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def copy_lessons(dest: str | os.PathLike[str], *, force: bool = False,
                 source: str | os.PathLike[str] | None = None) -> dict[str, list[str]]:
    """Copy the lessons and exercises into ``dest``; returns ``{"copied", "updated", "unchanged",
    "kept"}`` (lists of paths relative to ``dest``). ``kept`` are copies the learner changed,
    left alone unless ``force``."""
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise ValueError(f"dest: {dest} exists and is not a folder")
    source = Path(source) if source is not None else lessons_source()
    manifest_path = dest / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    report = {"copied": [], "updated": [], "unchanged": [], "kept": []}
    sources = [(f"{folder}/{src.name}", src) for folder in FOLDERS for src in sorted((source / folder).glob("*.ipynb"))]
    sources += [(rel, source / rel) for rel in EXTRA_FILES if (source / rel).is_file()]
    for rel, src in sources:
        target, new_hash = dest / rel, _sha256(src)
        if not target.exists():
            kind = "copied"
        elif _sha256(target) == new_hash:
            kind = "unchanged"
        elif manifest.get(rel) == _sha256(target) or force:
            kind = "updated"  # an untouched copy of an older version, or --force
        else:
            report["kept"].append(rel)  # the learner's work
            continue
        if kind != "unchanged":
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
        manifest[rel] = new_hash
        report[kind].append(rel)
    dest.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return report


def write_workspace_config(dest: str | os.PathLike[str]) -> Path:
    """JupyterLab settings for the learner's workspace: nbgrader's tools off. Returns the folder
    to put on ``JUPYTER_CONFIG_PATH``."""
    config = Path(dest) / CONFIG_DIR
    (config / "labconfig").mkdir(parents=True, exist_ok=True)
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {NBGRADER_LAB_EXTENSION: True}}, indent=1))
    (config / "jupyter_server_config.json").write_text(json.dumps(
        {"ServerApp": {"jpserver_extensions": {name: False for name in NBGRADER_SERVER_EXTENSIONS}}}, indent=1))
    return config


def lab_command(dest: str | os.PathLike[str], extra_args: Iterable[str] = ()) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that open JupyterLab in ``dest`` on the first lesson."""
    dest = Path(dest).resolve()
    config = write_workspace_config(dest)
    env = dict(os.environ)
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(p for p in (str(config), env.get("JUPYTER_CONFIG_PATH")) if p)
    # the kernels inherit it: OpenMP reads it once, when torch loads, which a lesson may import
    # before mia_course (whose import sets the same default)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    cmd = [sys.executable, "-m", "jupyter", "lab", f"--ServerApp.root_dir={dest}", f"--LabApp.default_url={FIRST_URL}"]
    cmd += ["--allow-root"] if is_root else []  # JupyterLab refuses root without it; never otherwise
    cmd += list(extra_args)
    return cmd, env


def _print_report(dest, report):
    done = {k: len(v) for k, v in report.items() if k != "kept"}
    print(f"{dest}: {done['copied']} notebooks copied, {done['updated']} updated, "
          f"{done['unchanged']} already up to date.")
    if report["kept"]:
        print(f"Kept {len(report['kept'])} notebooks you have changed (they differ from the course's "
              "version): " + ", ".join(report["kept"]))
        print(f"To replace them with the course's version (your changes are lost): "
              f"mia-course lessons {dest} --force")


def main(argv: Sequence[str] | None = None) -> int:
    """The ``mia-course`` command line (``mia-course --help``); returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="mia-course", description="The membership inference course: copy its lessons and "
        "exercises into a folder of your own and open them in JupyterLab. Your copies are yours: "
        "running a lesson saves its outputs there, never in the installed course.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{lessons,lab,audit}")
    lessons = sub.add_parser("lessons", help="copy notebooks/ and exercises/ into DIR",
                             description="Copy the lessons (notebooks/) and the exercises (exercises/) "
                             "into DIR. A copy you changed is kept unless --force; unchanged copies "
                             "of an older version are updated.")
    lessons.add_argument("dir", metavar="DIR", type=Path, help="the folder to work in (created if needed)")
    lessons.add_argument("--force", action="store_true", help="overwrite copies you changed (your changes are lost)")
    lab = sub.add_parser("lab", help="copy the lessons into DIR when needed and open JupyterLab there",
                         description="Copy the lessons into DIR when needed (your changed copies are "
                         "kept) and open JupyterLab there on the first lesson. Arguments after DIR "
                         "go to `jupyter lab` (e.g. --no-browser).")
    lab.add_argument("dir", metavar="DIR", type=Path, nargs="?", default=Path("mia-course"),
                     help="the folder to work in (default: ./mia-course)")
    from mia_course.report.command import add_audit_parser, run_audit  # `audit`: a privacy risk report
    add_audit_parser(sub)
    args, extra = parser.parse_known_args(argv)
    if args.command == "audit":
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        return run_audit(args)
    if extra and args.command != "lab":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    report = copy_lessons(args.dir, force=getattr(args, "force", False))
    _print_report(args.dir, report)
    if args.command == "lessons":
        return 1 if report["kept"] else 0
    cmd, env = lab_command(args.dir, extra)
    print(f"Starting JupyterLab in {args.dir} on {FIRST_LESSON} (stop it with Ctrl-C) ...", flush=True)
    return subprocess.call(cmd, env=env, cwd=args.dir)


if __name__ == "__main__":
    sys.exit(main())
