"""Isolated grading: the verdict is computed where the learner's code cannot reach it.

Introduced in docs/instructors.md ("What the grading does and does not guarantee"). ``check`` and
``assert_passes`` (``mia_course.grading.engine``) run in the learner's kernel: they teach, and
anything in that kernel can change them (patch ``check``, set ``Report.passed``, read the
expected value from a stack frame, seed NumPy so the cases repeat, install an input
transformer that swallows the AssertionError, switch the tripwire off). A grade must not depend
on that process behaving, so grading re-reads the notebook and runs three roles apart:

- **this process, the grader** (nbgrader's own process through ``IsolatedGrading`` in
  ``mia_course.grading.nbgrader_plugins``, or ``python -m mia_course.grading.isolation NOTEBOOK``)
  draws every case with fresh entropy from ``secrets`` (no seed the learner can set), computes
  the expected values with the package's references, judges the outputs and writes the report;
- **a worker per graded function** (``mia_course.grading.sandbox``, a new Python process) runs
  only the learner's code: the notebook's solution cells, with the imports and constants of its
  other cells, never the kernel's state. It receives one case's arguments at a time and returns
  only outputs, as JSON that this process decodes without ``pickle``;
- **what the worker may use is decided here**, before the learner's code runs: an audit hook
  that Python code cannot remove refuses opening the course package's files (no reference,
  private helper, renamed copy, or name a notebook forbids by text only, e.g. ``secret_rank``),
  new processes, ``ctypes`` and sub-interpreters.

ex05's second function is graded with the exercise's trusted version of the first
(``Exercise.trusted``). A worker that dies, hangs or runs too long fails its function with the
reason in words; the other functions are graded as usual.

Not prevented: the reference's source pasted into the notebook, or read while grading by a
library's own C code, which the audit hook does not see (``torch.from_file``); a kernel that
attacks the grading machine (it runs with the instructor's rights: autograde in a container).
"""
import ast
import os
import pickle
import secrets
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import numpy as np

from mia_course.grading.channel import START_TIMEOUT, Worker, decode, rebuild_exception
from mia_course.grading.engine import CaseResult, Report, get_exercise, trusted_sources

__all__ = ["GRADING_TIMEOUT", "Program", "check_isolated", "grade_cell", "grade_notebook", "graded_calls", "main"]
PREIMPORT_ROOTS = ("numpy", "scipy", "sklearn", "torch", "pandas", "math", "statistics", "zlib",
                   "collections", "itertools", "functools", "random", "heapq", "bisect")
GRADING_TIMEOUT = 10.0  # seconds per case (generous: the grader and the worker share the machine)


@dataclass
class Program:
    """What a worker runs of a notebook: its solution cells, after the imports, literal
    constants and ``def``/``class`` statements of its other (non-graded) code cells."""
    cells: list[str]
    prelude: list[str] = field(default_factory=list)
    preimports: list[str] = field(default_factory=list)

    @classmethod
    def from_notebook(cls, nb: nbformat.NotebookNode) -> "Program":
        cells, prelude, preimports = [], [], ["mia_course.grading.kit"]
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell.cell_type != "code":
                continue
            if meta.get("solution"):
                cells.append(cell.source)
            elif not meta.get("grade"):
                statements, modules = _setup_statements(cell.source)
                prelude += statements
                preimports += [m for m in modules if m.split(".")[0] in PREIMPORT_ROOTS]
        return cls(cells, prelude, list(dict.fromkeys(preimports)))

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> "Program":
        return cls.from_notebook(nbformat.read(path, as_version=4))


def _setup_statements(source: str) -> tuple[list[str], list[str]]:
    """The import statements, ``NAME = literal`` assignments and ``def``/``class`` statements of a
    cell (a learner's helper may live in a cell of their own), and the modules it imports."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return [], []
    statements, modules = [], []
    for node in tree.body:
        if isinstance(node, ast.Import):
            modules += [a.name for a in node.names]
            statements.append(ast.unparse(node))
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.append(node.module)
            statements.append(ast.unparse(node))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            statements.append(ast.unparse(node))
        elif isinstance(node, ast.Assign):
            try:
                ast.literal_eval(node.value)
            except ValueError:
                continue
            statements.append(ast.unparse(node))
    return statements, modules


def graded_calls(source: str) -> list[tuple[str, dict[str, Any]]]:
    """``[(exercise, {"kind": ..., "cases": ...}), ...]`` of the ``assert_passes`` calls of a
    graded cell's source (literal arguments only; the cell is nbgrader's restored copy)."""
    calls = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "assert_passes" and node.args:
            name = ast.literal_eval(node.args[0])
            options = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg in ("kind", "cases")}
            calls.append((name, options))
    return calls


STOP = "not implemented"  # _verdict's answer for NotImplementedError: skip the remaining cases


def _verdict(exercise: Any, context: Any, reply: Mapping[str, Any], warned: set[str]) -> str | None:
    """The judge's message (None: right) for the worker's ``reply`` to one case."""
    warned.update(f"your function warned: {w}" for w in reply.get("warnings") or [] if isinstance(w, str))
    if reply.get("status") != "ok":
        err = rebuild_exception(reply)
        if isinstance(err, NotImplementedError):
            return STOP
        hint = exercise.hint(err) if exercise.hint else None
        return f"your function raised {type(err).__name__}: {err}" + (f" ({hint})" if hint else "")
    return exercise.judge(context, decode(reply.get("value")))


def _ready(worker: Worker, exercise: Any) -> CaseResult | None:
    """None when the worker has defined the learner's function, else the failed step."""
    ready = worker.receive(START_TIMEOUT)
    if ready is None:
        return CaseResult("run your cells", False, "your code stopped the grader's worker process before "
                          f"any case ({worker.why_stopped()})")
    if ready.get("found") is not True:
        why = "; ".join(map(str, ready.get("problems") or [])) or "it is not defined in a solution cell"
        return CaseResult("find your function", False, f"no function called `{exercise.function_name}` ({why})")
    return None


def _run_cases(worker: Worker, exercise: Any, options_list: list[Mapping[str, Any]], report: Report,
               rng: np.random.Generator, timeout: float) -> None:
    """Send each case to ``worker`` and judge its reply here, into ``report``."""
    warned = set()
    for options in options_list:
        description, args, context = exercise.make_case(rng, **options)
        try:
            worker.send(pickle.dumps(args))
            reply = worker.receive(timeout)
        except OSError:  # the worker closed its end
            reply = None
        if reply is None:
            stopped = worker.why_stopped()
            message = (f"stopped after {timeout:g} s: your function is too slow (or never returns)"
                       if stopped == "still running" else f"your code ended the grader's worker process ({stopped})")
            report.results.append(CaseResult(description, False, message + "; remaining cases skipped"))
            break
        try:
            message = _verdict(exercise, context, reply, warned)
        except Exception as err:  # a reply so odd that the judge could not read it
            message = f"the checker could not read what your function returned ({type(err).__name__}: {err})"
        if message == STOP:
            report.results.append(CaseResult(description, False, "not implemented yet: replace "
                                             "`raise NotImplementedError()` with your code"))
            break
        report.results.append(CaseResult(description, message is None, message or ""))
    report.notes.extend(sorted(warned))


def grade_cell(program: Program, calls: Sequence[tuple[str, Mapping[str, Any]]], *,
               timeout: float = GRADING_TIMEOUT) -> list[Report]:
    """The reports of a graded cell's ``assert_passes`` calls (:func:`graded_calls`), graded in
    isolation as in the module docstring, in order, up to the first that fails (as in the kernel,
    where the cell stops at the first failed assertion: a public failure leaves the hidden
    checks unrun). Consecutive calls on one exercise share its worker (more cases, one process)."""
    reports: list[Report] = []
    rng = np.random.default_rng(secrets.randbits(128))  # fresh entropy, never the learner's seed
    worker, serving = None, None
    try:
        for name, options in calls:
            exercise = get_exercise(name)
            cases, kind = options.get("cases"), options.get("kind", "public")
            options_list = list(exercise.default_cases if cases is None else cases)
            options_list += list(exercise.edge_cases) if kind == "hidden" else []
            report = Report(name, kind, exercise.hidden_tests, planned=len(options_list))
            reports.append(report)
            if serving != name:
                if worker is not None:
                    worker.close()
                worker, serving = Worker(program, exercise.function_name, trusted_sources(exercise),
                                         trusted_sources(exercise, "provided")), name
                failed = _ready(worker, exercise)
                if failed is not None:
                    report.results.append(failed)
                    break
            _run_cases(worker, exercise, options_list, report, rng, timeout)
            if not report.passed:
                break
    finally:
        if worker is not None:
            worker.close()
    return reports


def check_isolated(name: str, program: Program, *, cases: Iterable[Mapping[str, Any]] | None = None,
                   kind: str = "public", timeout: float = GRADING_TIMEOUT) -> Report:
    """Grade exercise ``name`` of ``program`` in a worker process (see the module docstring):
    the cases are ``cases`` (default: the exercise's public ones), plus, for ``kind="hidden"``,
    the exercise's ``edge_cases``; fresh entropy every call. Returns the :class:`Report`."""
    return grade_cell(program, [(name, {"cases": None if cases is None else list(cases), "kind": kind})],
                      timeout=timeout)[0]


def grade_notebook(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Grade every graded code cell of the notebook at ``path`` in isolation:
    ``[{"grade_id", "points", "passed", "reports"}, ...]`` in notebook order."""
    nb = nbformat.read(path, as_version=4)
    program = Program.from_notebook(nb)
    out = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
            continue
        calls = graded_calls(cell.source)
        reports = grade_cell(program, calls)
        if reports:
            out.append(dict(grade_id=meta.get("grade_id"), points=float(meta.get("points", 0)),
                            passed=len(reports) == len(calls) and all(r.passed for r in reports),
                            reports=reports))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mia_course.grading.isolation NOTEBOOK...``: print each graded cell's isolated
    reports and points; exit status 0."""
    for path in (sys.argv[1:] if argv is None else argv):
        total = got = 0.0
        for cell in grade_notebook(path):
            total, got = total + cell["points"], got + cell["points"] * cell["passed"]
            print(f"{Path(path).name} {cell['grade_id']}: {cell['points'] * cell['passed']:g}/{cell['points']:g}")
            for report in cell["reports"]:
                print("  " + str(report).replace("\n", "\n  "))
        print(f"{Path(path).name}: {got:g}/{total:g} points from isolated grading")
    return 0


if __name__ == "__main__":
    sys.exit(main())
