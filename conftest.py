"""Project-wide pytest hooks: time every notebook run by nbval, enforce the 60 s budget, and
keep the executed lessons for the course website.

Every lesson's default settings must run end to end in under 60 s on a 2-core CPU. nbval
runs a notebook cell by cell; here the cells' times are added up per notebook, printed as a
table at the end of the run, and a notebook over budget fails the run.

``--executed-dir=DIR`` (used by ``make test`` and ``make site``): each lesson
(``notebooks/*.ipynb``) whose every cell passed under nbval is written to DIR (same relative
path) with the outputs nbval received, so the website shows exactly the run that was tested:
each lesson is executed once. A lesson that failed leaves no copy (the site build then stops).
Every notebook's run time goes into DIR/run_times.json (the website notes the lessons that ran
over the budget).

``--over-budget=fail`` (the default: ``make test`` and CI) fails the run when a notebook took
longer than the budget; ``--over-budget=note`` (``make site``) only reports it, so that a busy or
slow laptop still gets its website (with a note of which lessons ran over).

A lesson cell that works for more than ``PROGRESS_AFTER_S`` (3 s) should show a progress bar:
every run lists the slow cells whose outputs hold none. It is a report, not yet a failure: in
December 2026 about 30 cells were listed, most of them a lesson's first cell (imports and data,
3-6 s); making it fail ``make test`` waits until they show progress.

Progress bars: in the kernels nbval starts, ``tqdm.auto`` is tqdm's plain-text bar (an IPython
startup file, ``IPYTHONDIR``), not the notebook widget. A widget's saved output is its first
state ("0%"), the text bar's is its last, so the website shows how each bar ended.
"""
import collections
import json
import os
import re
import tempfile
from pathlib import Path

import pytest

NOTEBOOK_BUDGET_S = 60.0
PROGRESS_AFTER_S = 3.0  # a lesson cell that works longer than this shows a progress bar
PROGRESS_MARKS = re.compile(r"\d+%\||\d+/\d+ \[|it/s|s/it")  # what tqdm's text bar prints
_times = collections.defaultdict(float)
_cell_seconds = collections.defaultdict(dict)  # notebook path -> {code cell number: seconds}
_cells = collections.defaultdict(dict)  # notebook path -> {code cell number: outputs, None if it failed}


# IPython runs this in every kernel nbval starts, before the notebook's first cell
TEXT_PROGRESS_STARTUP = """\
import sys as _sys
import tqdm.auto as _auto, tqdm.autonotebook as _autonb, tqdm.std as _std


class _TextProgress(_std.tqdm):  # tqdm's text bar, on stdout, updated at most every 0.5 s
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("file", _sys.stdout)
        kwargs.setdefault("mininterval", 0.5)
        kwargs.setdefault("ascii", True)
        super().__init__(*args, **kwargs)


def _text_trange(*args, **kwargs):
    return _TextProgress(range(*args), **kwargs)


for _module in (_auto, _autonb):
    _module.tqdm, _module.trange = _TextProgress, _text_trange
"""


def pytest_addoption(parser):
    parser.addoption("--executed-dir", default=None, metavar="DIR",
                     help="write each notebook that passed under nbval, with its outputs, into DIR")
    parser.addoption("--over-budget", default="fail", choices=("fail", "note"),
                     help=f"a notebook over the {NOTEBOOK_BUDGET_S:.0f} s budget fails the run (fail, "
                          "the default) or is only reported (note: `make site`)")


def text_progress_ipythondir(parent):
    """An IPython directory whose startup file makes ``tqdm.auto`` the plain-text bar."""
    startup = Path(parent) / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00-mia-course-text-progress.py").write_text(TEXT_PROGRESS_STARTUP)
    return str(parent)


def pytest_configure(config):
    if any(config.getoption(name, default=False) for name in ("nbval", "nbval_lax")):
        os.environ["IPYTHONDIR"] = text_progress_ipythondir(tempfile.mkdtemp(prefix="mia-ipython-"))


def pytest_collection_modifyitems(config, items):
    """Every notebook's run is timed (``NOTEBOOK_BUDGET_S``): its cells carry the ``timed`` marker,
    which `make test` runs one at a time, after the tests that time nothing ran on every core.
    Tests marked ``slow`` are collected first."""
    for item in items:
        if str(item.fspath).endswith(".ipynb"):
            item.add_marker(pytest.mark.timed)
    # the slow ones first (the nbgrader round trip): on two workers the longest file starts at once
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _times[path] += report.duration


def pytest_runtest_makereport(item, call):
    """Keep the outputs nbval received for each cell (``IPyNbCell.test_outputs``)."""
    if call.when != "call" or not hasattr(item, "test_outputs") or not hasattr(item, "cell_num"):
        return
    key = str(item.fspath)
    _cells[key][item.cell_num] = None if call.excinfo is not None else list(item.test_outputs or [])
    _cell_seconds[key][item.cell_num] = call.duration


def shows_progress(outputs):
    """Whether a cell's outputs hold a progress bar (tqdm's text bar, or a widget)."""
    for out in outputs:
        if "application/vnd.jupyter.widget-view+json" in out.get("data", {}):
            return True
        text = out.get("text") or out.get("data", {}).get("text/plain", "")
        if PROGRESS_MARKS.search("".join(text) if isinstance(text, list) else text):
            return True
    return False


def silent_slow_cells(root):
    """The lesson cells that ran longer than ``PROGRESS_AFTER_S`` and showed no progress bar:
    ``{"notebooks/NN_x.ipynb cell K": seconds}``."""
    silent = {}
    for path, seconds in _cell_seconds.items():
        if Path(path).resolve().parent != (Path(root) / "notebooks").resolve():
            continue
        for cell, took in seconds.items():
            outputs = _cells[path].get(cell)
            if took > PROGRESS_AFTER_S and outputs is not None and not shows_progress(outputs):
                silent[f"{Path(path).relative_to(Path(root).resolve())} cell {cell}"] = round(took, 1)
    return silent


def write_executed(root, out_dir):
    """Write every notebook whose cells all ran and passed into ``out_dir``; returns their paths."""
    import nbformat

    written = []
    for path, outputs in _cells.items():
        if Path(path).resolve().parent != (Path(root) / "notebooks").resolve():
            continue  # only the lessons: the site shows no solution, and exercises unexecuted
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]  # nbval numbers the code cells
        if any(outputs.get(i) is None for i in range(len(code))):
            continue  # a cell failed or did not run: no executed copy (and the stale one was removed)
        for count, cell in enumerate(code, start=1):
            cell.outputs = [nbformat.from_dict(o) for o in outputs[count - 1]]
            cell.execution_count = count
            for o in cell.outputs:
                if o.get("output_type") == "execute_result":
                    o["execution_count"] = count
        target = Path(out_dir) / Path(path).resolve().relative_to(Path(root).resolve())
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)
        written.append(target)
    return written


def pytest_terminal_summary(terminalreporter):
    if not _times:
        return
    terminalreporter.section("notebook run times (sum of cell times)")
    for path, seconds in sorted(_times.items()):
        flag = "  OVER BUDGET" if seconds > NOTEBOOK_BUDGET_S else ""
        terminalreporter.write_line(f"{seconds:7.1f} s  {path}{flag}")


def pytest_sessionfinish(session, exitstatus):
    out_dir = session.config.getoption("--executed-dir")
    if out_dir:
        root = session.config.rootpath
        for path, outputs in _cells.items():  # never leave a stale copy of a notebook that failed now
            stale = Path(out_dir) / Path(path).resolve().relative_to(root.resolve())
            stale.unlink(missing_ok=True)
        written = write_executed(root, out_dir)
        print(f"\n{len(written)} executed notebooks written to {out_dir}")
        write_run_times(out_dir)
    silent = silent_slow_cells(session.config.rootpath.resolve())
    if silent:  # reported, not yet failed: see PROGRESS_AFTER_S
        print(f"\nlesson cells over {PROGRESS_AFTER_S:.0f} s without a progress bar ({len(silent)}): {silent}")
    slow = {p: s for p, s in _times.items() if s > NOTEBOOK_BUDGET_S}
    if slow and exitstatus == 0:
        print(f"\nnotebooks over the {NOTEBOOK_BUDGET_S:.0f} s budget: {slow}")
        if session.config.getoption("--over-budget") == "fail":
            session.exitstatus = 1
        else:
            print("(--over-budget=note: reported, not failed; `make test` fails them)")


def write_run_times(out_dir):
    """Merge this run's notebook times into DIR/run_times.json: {"budget_s": 60, "seconds":
    {node path ("notebooks/09_x.ipynb"): seconds}} (a notebook not run now keeps its last time)."""
    path = Path(out_dir) / "run_times.json"
    seconds = json.loads(path.read_text())["seconds"] if path.exists() else {}
    seconds.update({nb: round(t, 1) for nb, t in _times.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"budget_s": NOTEBOOK_BUDGET_S, "seconds": dict(sorted(seconds.items()))},
                               indent=1) + "\n")
