"""Checks that teach: run a learner's function on randomized cases, report in words.

Introduced in solutions/ex01_confidence.ipynb (every exercise notebook uses it).

``check(name, fn_or_namespace)`` draws fresh cases for the registered exercise ``name``
(``mia_course.grading.checks`` holds one module per exercise notebook), compares the
learner's answers with the package's reference and returns a :class:`Report`: which cases
passed and, for a failure, what is wrong, without the expected values. Exceptions, wrong types and shapes become failed
checks, never a crash; a case running over ``timeout`` seconds is stopped; a function that
calls the package's reference for the exercise fails (``mia_course.grading.tripwire``).
``assert_passes`` prints the report and raises AssertionError unless it passed: graded
cells call it, so that nbgrader gives zero for a failure.
"""
import copy
import importlib
import inspect
import pkgutil
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mia_course.grading import checks, tripwire
from mia_course.grading.limits import DEFAULT_TIMEOUT, call_limited

REGISTRY: dict[str, "Exercise"] = {}


@dataclass
class Exercise:
    """One graded function. ``make_case(rng, **options)`` returns ``(description, args,
    context)``; ``judge(context, output)`` returns None (right) or a message in words;
    ``hint(exception)`` may add advice to the learner's exception; ``references`` are the
    package functions that compute the answer (the functions themselves, or "module:name"
    strings): while the check runs, the learner's function may not call them
    (``mia_course.grading.tripwire``); isolated grading (``mia_course.grading.isolation``)
    refuses the whole package. ``edge_cases`` are case options added to every hidden run: the
    cases that force each named bug to show (a large ε, ties, k * length an integer), so that no
    run passes it by luck. ``trusted`` maps a name the learner's function uses to the
    ``"module:function"`` of a trusted version (ex05's second function calls the first): the
    check replaces the learner's own, so each function is graded on its own. ``provided`` maps a
    name the notebook lets the learner use (imported in its setup cell, e.g. ex02's
    ``true_class_probability``) to a self-contained version that isolated grading defines before
    the learner's cells, where the package itself is out of reach.
    Introduced in docs/instructors.md."""
    name: str
    function_name: str
    make_case: Callable[..., tuple[str, tuple[Any, ...], Any]]
    judge: Callable[[Any, Any], str | None]
    default_cases: list[dict[str, Any]]
    hidden_tests: bool = False
    hint: Callable[[Exception], str | None] | None = None
    references: tuple[Callable[..., Any] | str, ...] = ()
    edge_cases: list[dict[str, Any]] = field(default_factory=list)
    trusted: dict[str, str] = field(default_factory=dict)
    provided: dict[str, str] = field(default_factory=dict)


def trusted_sources(exercise: Exercise, which: str = "trusted") -> list[str]:
    """The source code of the ``trusted`` (or ``provided``) helpers of ``exercise``, each
    defining its name (``name = function`` after the function's own definition).
    Introduced in docs/instructors.md."""
    out = []
    for name, spec in getattr(exercise, which).items():
        fn = tripwire.resolve(spec)
        out.append(inspect.getsource(fn) + f"\n{name} = {fn.__name__}\n")
    return out


def _with_trusted(exercise: Exercise, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` seeing the exercise's trusted helpers instead of the learner's own (a plain
    Python function only; anything else is called as it is)."""
    if not exercise.trusted or not isinstance(fn, types.FunctionType):
        return fn
    scope = dict(fn.__globals__)
    scope.update({name: tripwire.resolve(spec) for name, spec in exercise.trusted.items()})
    return types.FunctionType(fn.__code__, scope, fn.__name__, fn.__defaults__, fn.__closure__)


@dataclass
class CaseResult:
    """The outcome of one case: its description, whether it passed, and why not."""
    description: str
    passed: bool
    message: str = ""


@dataclass
class Report:
    """What ``check`` found; ``passed`` is True only when every case passed."""
    exercise: str
    kind: str  # "public" or "hidden"
    hidden_tests: bool
    planned: int = 0  # cases to run (some are skipped after a timeout or NotImplementedError)
    results: list[CaseResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)

    def __str__(self) -> str:
        lines = [f"Check {self.exercise} ({self.kind} checks)"]
        for r in self.results:
            lines.append(f"  [PASS] {r.description}" if r.passed else
                         f"  [FAIL] {r.description}\n         {r.message}")
        lines += [f"  note: {n}" for n in self.notes]
        n, total = sum(r.passed for r in self.results), max(self.planned, len(self.results))
        if not self.passed:
            return "\n".join(lines + [f"{n} of {total} {self.kind} checks passed: fix the first failure above."])
        also = " The graded version also runs hidden tests." if self.hidden_tests and self.kind == "public" else ""
        return "\n".join(lines + [f"{self.kind.capitalize()} checks passed ({n}/{total}).{also}"])

    __repr__ = __str__

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))


def register(exercise: Exercise) -> Exercise:
    """Add an :class:`Exercise` to the registry (each module of ``mia_course.grading.checks``
    does it for its exercises). Introduced in docs/instructors.md."""
    REGISTRY[exercise.name] = exercise
    return exercise


def _load() -> None:
    """Import every module of the checks package (found on disk, not listed by hand): importing
    one registers its exercises, so a new exercise notebook needs a new ``checks/exNN.py`` and
    nothing else. ``checks/__init__.py`` imports nothing and the engine names no ``exNN``
    module: the ``exNN`` modules import the engine, never the reverse (no import cycle)."""
    for module in pkgutil.iter_modules(checks.__path__, prefix=checks.__name__ + "."):
        importlib.import_module(module.name)


def get_exercise(name: str) -> Exercise:
    """The registered :class:`Exercise` called ``name``; ValueError lists the valid names."""
    _load()
    if name not in REGISTRY:
        raise ValueError(f"unknown exercise {name!r}; valid names: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def exercise_names() -> list[str]:
    """The names ``check`` accepts, sorted."""
    _load()
    return sorted(REGISTRY)


def _resolve(exercise: Exercise, obj: Any) -> tuple[Callable[..., Any] | None, str | None]:
    """The learner's function, or a message saying why it cannot be found."""
    if isinstance(obj, Mapping):
        if exercise.function_name not in obj:
            return None, (f"no function called `{exercise.function_name}` in the namespace you "
                          "passed: run the cell that defines it first")
        obj = obj[exercise.function_name]
    if not callable(obj):
        return None, f"expected your function `{exercise.function_name}` (or globals()), got {type(obj).__name__}"
    return obj, None


def check(name: str, obj: Callable[..., Any] | Mapping[str, Any], *, seed: int | None = None,
          cases: Iterable[Mapping[str, Any]] | None = None, kind: str = "public",
          timeout: float = DEFAULT_TIMEOUT) -> Report:
    """Run exercise ``name`` on the learner's function ``obj`` (or a namespace such as
    ``globals()``) and return a :class:`Report`; print it, or let Jupyter show it.

    Cases are drawn at random (``seed`` repeats a draw); ``cases`` replaces the default
    case options (a list of dicts: hidden tests use it). Never raises for the learner's
    mistakes; raises ValueError for an unknown ``name``.
    Introduced in solutions/ex01_confidence.ipynb.
    """
    exercise = get_exercise(name)
    if kind not in ("public", "hidden"):
        raise ValueError(f"kind: expected 'public' or 'hidden', got {kind!r}")
    options_list = list(exercise.default_cases if cases is None else cases)
    if kind == "hidden":
        options_list += list(exercise.edge_cases)
    report = Report(name, kind, exercise.hidden_tests, planned=len(options_list))
    fn, problem = _resolve(exercise, obj)
    if fn is None:
        report.results.append(CaseResult("find your function", False, problem))
        return report
    fn = _with_trusted(exercise, fn)
    rng, warned, codes = np.random.default_rng(seed), set(), tripwire.reference_codes(exercise)
    for options in options_list:
        description, args, context = exercise.make_case(rng, **options)
        delegated = []
        status, value, caught = call_limited(tripwire.watching(fn, codes, delegated), copy.deepcopy(args), timeout)
        warned.update(f"your function warned: {w.category.__name__}: {w.message}" for w in caught)
        if delegated:
            report.results.append(CaseResult(description, False, tripwire.MESSAGE.format(name=delegated[0])))
            break
        if status == "timeout":
            report.results.append(CaseResult(description, False, f"stopped after {timeout:g} s: your "
                                             "function is too slow (or never returns); remaining cases skipped"))
            break
        if status == "error":
            if isinstance(value, NotImplementedError):
                message = "not implemented yet: replace `raise NotImplementedError()` with your code"
            else:
                hint = exercise.hint(value) if exercise.hint else None
                message = f"your function raised {type(value).__name__}: {value}" + (f" ({hint})" if hint else "")
            report.results.append(CaseResult(description, False, message))
            if isinstance(value, NotImplementedError):
                break
            continue
        try:
            message = exercise.judge(context, value)
        except Exception as err:  # an output so odd that the judge could not read it
            message = f"the checker could not read what your function returned ({type(err).__name__}: {err})"
        report.results.append(CaseResult(description, message is None, message or ""))
    report.notes.extend(sorted(warned))
    return report


def assert_passes(name: str, obj: Callable[..., Any] | Mapping[str, Any], **kwargs: Any) -> None:
    """Print ``check(name, obj, **kwargs)`` and raise AssertionError unless it passed.

    Returns None, so that a graded cell shows no value (nbgrader would read a value as a
    partial score). Introduced in solutions/ex01_confidence.ipynb.
    """
    report = check(name, obj, **kwargs)
    print(report)
    if not report.passed:
        raise AssertionError(f"{name}: {report.kind} checks failed (see the report above)")
