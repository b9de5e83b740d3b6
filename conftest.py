"""Project-wide pytest hooks: time every notebook run by nbval, enforce the 60 s budget, and
keep the executed lessons for the course website.

Every lesson's default settings must run end to end in under 60 s on a 2-core CPU. nbval
runs a notebook cell by cell; here the cells' times are added up per notebook, printed as a
table at the end of the run, and a notebook over budget fails the run.

``--executed-dir=DIR`` (used by ``make test`` and ``make site``): each lesson
(``notebooks/*.ipynb``) whose every cell passed under nbval is written to DIR (same relative
path) with the outputs nbval received, so the website shows exactly the run that was tested:
each lesson is executed once. A lesson that failed leaves no copy (the site build then stops).
"""
import collections
from pathlib import Path

NOTEBOOK_BUDGET_S = 60.0
_times = collections.defaultdict(float)
_cells = collections.defaultdict(dict)  # notebook path -> {code cell number: outputs, None if it failed}


def pytest_addoption(parser):
    parser.addoption("--executed-dir", default=None, metavar="DIR",
                     help="write each notebook that passed under nbval, with its outputs, into DIR")


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
    slow = {p: s for p, s in _times.items() if s > NOTEBOOK_BUDGET_S}
    if slow and exitstatus == 0:
        print(f"\nnotebooks over the {NOTEBOOK_BUDGET_S:.0f} s budget: {slow}")
        session.exitstatus = 1
