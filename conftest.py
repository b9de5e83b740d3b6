"""Project-wide pytest hooks: time every notebook run by nbval and enforce the 60 s budget.

Every lesson's default settings must run end to end in under 60 s on a 2-core CPU. nbval
runs a notebook cell by cell; here the cells' times are added up per notebook, printed as a
table at the end of the run, and a notebook over budget fails the run.
"""
import collections

NOTEBOOK_BUDGET_S = 60.0
_times = collections.defaultdict(float)


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _times[path] += report.duration


def pytest_terminal_summary(terminalreporter):
    if not _times:
        return
    terminalreporter.section("notebook run times (sum of cell times)")
    for path, seconds in sorted(_times.items()):
        flag = "  OVER BUDGET" if seconds > NOTEBOOK_BUDGET_S else ""
        terminalreporter.write_line(f"{seconds:7.1f} s  {path}{flag}")


def pytest_sessionfinish(session, exitstatus):
    slow = {p: s for p, s in _times.items() if s > NOTEBOOK_BUDGET_S}
    if slow and exitstatus == 0:
        print(f"\nnotebooks over the {NOTEBOOK_BUDGET_S:.0f} s budget: {slow}")
        session.exitstatus = 1
