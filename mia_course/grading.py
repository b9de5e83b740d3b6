"""Checks that teach: run a learner's function on randomized cases, report in words.

Introduced in solutions/ex01_confidence.ipynb (every exercise notebook uses it).

``check(name, fn_or_namespace)`` runs the registered exercise ``name`` (see
``mia_course.exercise_checks``) on several freshly drawn cases, compares each answer with
the package's reference implementation and returns a :class:`Report` that says which
cases passed and, for a failure, what was wrong, without showing the expected values.
The learner's exceptions, wrong types and shapes become failed checks, never a crash of
the checker, and a case that runs longer than ``timeout`` seconds is stopped.
``assert_passes`` prints the report and raises ``AssertionError`` unless it passed: the
graded cells of the exercise notebooks call it, so nbgrader gives zero for a failure.
"""
import copy
import signal
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

DEFAULT_TIMEOUT = 3.0  # seconds per case
REGISTRY = {}


@dataclass
class Exercise:
    """One graded function: how to draw a case, how to call the learner, how to judge.

    ``make_case(rng, **options)`` returns ``(description, args, context)``;
    ``judge(context, output)`` returns ``None`` when the answer is right, else a message
    in words. ``hint(exception)`` may add advice to a learner's exception.
    """
    name: str
    function_name: str
    notebook: str
    make_case: object
    judge: object
    default_cases: list
    hidden_tests: bool = False
    hint: object = None


@dataclass
class CaseResult:
    """The outcome of one case: its description, whether it passed, and why not."""
    description: str
    passed: bool
    message: str = ""


@dataclass
class Report:
    """What ``check`` found. ``passed`` is True only when every case passed.

    Introduced in solutions/ex01_confidence.ipynb.
    """
    exercise: str
    kind: str  # "public" or "hidden"
    hidden_tests: bool
    results: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    @property
    def passed(self):
        return bool(self.results) and all(r.passed for r in self.results)

    @property
    def n_passed(self):
        return sum(r.passed for r in self.results)

    def __str__(self):
        lines = [f"Check {self.exercise} ({self.kind} checks)"]
        for r in self.results:
            mark = "PASS" if r.passed else "FAIL"
            lines.append(f"  [{mark}] {r.description}" + ("" if r.passed else f"\n         {r.message}"))
        lines += [f"  note: {n}" for n in self.notes]
        total = len(self.results)
        if self.passed:
            verdict = f"{self.kind.capitalize()} checks passed ({total}/{total})."
            if self.hidden_tests and self.kind == "public":
                verdict += " The graded version also runs hidden tests."
        else:
            verdict = f"{self.n_passed} of {total} {self.kind} checks passed: fix the first failure above."
        return "\n".join(lines + [verdict])

    __repr__ = __str__

    def _repr_pretty_(self, printer, cycle):
        printer.text(str(self))


def register(exercise):
    """Add an :class:`Exercise` to the registry (``mia_course.exercise_checks`` does it)."""
    REGISTRY[exercise.name] = exercise
    return exercise


def exercise_names():
    """The names ``check`` accepts, sorted."""
    _load_checks()
    return sorted(REGISTRY)


def _load_checks():
    import mia_course.exercise_checks  # noqa: F401  (registers the exercises)


def get_exercise(name):
    """The registered :class:`Exercise` called ``name`` (ValueError lists valid names)."""
    _load_checks()
    if name not in REGISTRY:
        raise ValueError(f"unknown exercise {name!r}; valid names: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


class _Stopped(BaseException):
    """Raised by the alarm inside the learner's function (BaseException: not swallowed)."""


def _call_with_alarm(fn, args, timeout):
    def on_alarm(signum, frame):
        raise _Stopped()
    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            return "ok", fn(*args)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _Stopped:
        return "timeout", None
    except Exception as err:  # the learner's error becomes a failed check
        return "error", err
    finally:
        signal.signal(signal.SIGALRM, previous)


def _call_in_thread(fn, args, timeout):
    box = {}

    def target():
        try:
            box["value"] = ("ok", fn(*args))
        except Exception as err:
            box["value"] = ("error", err)
    worker = threading.Thread(target=target, daemon=True, name="mia-course-check")
    worker.start()
    worker.join(timeout)
    return box.get("value", ("timeout", None))


def _alarm_usable():
    return (hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
            and signal.getitimer(signal.ITIMER_REAL)[0] == 0)  # leave others' timers alone


def call_limited(fn, args, timeout=DEFAULT_TIMEOUT):
    """``(status, value)``: status "ok" (value = result), "error" (value = the exception)
    or "timeout". Stops the call with SIGALRM on the main thread (Jupyter, pytest), else
    waits in a thread (the stopped call then finishes in the background)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if _alarm_usable():
            status, value = _call_with_alarm(fn, args, timeout)
        else:
            status, value = _call_in_thread(fn, args, timeout)
    return status, value, caught


def _describe_exception(err, exercise):
    if isinstance(err, NotImplementedError):
        return "not implemented yet: replace `raise NotImplementedError()` with your code"
    text = f"your function raised {type(err).__name__}: {err}"
    extra = exercise.hint(err) if exercise.hint else None
    return f"{text} ({extra})" if extra else text


def _resolve(exercise, obj):
    """The learner's function, or a message saying why it cannot be found."""
    if isinstance(obj, Mapping):
        fn = obj.get(exercise.function_name)
        if fn is None:
            return None, (f"no function called `{exercise.function_name}` in the namespace you "
                          "passed: run the cell that defines it first")
        obj = fn
    if not callable(obj):
        return None, (f"expected your function `{exercise.function_name}` (or globals()), "
                      f"got {type(obj).__name__}")
    return obj, None


def check(name, obj, *, seed=None, cases=None, kind="public", timeout=DEFAULT_TIMEOUT):
    """Run exercise ``name`` on the learner's function ``obj`` (or a namespace such as
    ``globals()``) and return a :class:`Report`; print it or let Jupyter show it.

    Each case is drawn at random (``seed`` makes the draw repeatable); ``cases`` replaces
    the default case options (a list of dicts, used by hidden tests). Never raises for the
    learner's mistakes; raises ValueError for an unknown ``name``.
    Introduced in solutions/ex01_confidence.ipynb.
    """
    exercise = get_exercise(name)
    if kind not in ("public", "hidden"):
        raise ValueError(f"kind: expected 'public' or 'hidden', got {kind!r}")
    report = Report(name, kind, exercise.hidden_tests)
    fn, problem = _resolve(exercise, obj)
    if fn is None:
        report.results.append(CaseResult("find your function", False, problem))
        return report
    rng = np.random.default_rng(seed)
    warned = set()
    for options in (exercise.default_cases if cases is None else cases):
        description, args, context = exercise.make_case(rng, **options)
        status, value, caught = call_limited(fn, copy.deepcopy(args), timeout)
        for w in caught:
            warned.add(f"your function warned: {w.category.__name__}: {w.message}")
        if status == "timeout":
            report.results.append(CaseResult(description, False,
                                             f"stopped after {timeout:g} s: your function is too slow "
                                             "(or never returns); remaining cases skipped"))
            break
        if status == "error":
            report.results.append(CaseResult(description, False, _describe_exception(value, exercise)))
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


def assert_passes(name, obj, **kwargs):
    """Print ``check(name, obj, **kwargs)`` and raise AssertionError unless it passed.

    The graded cells of the exercise notebooks call this (nbgrader: an error = 0 points).
    Returns None, so that a graded cell shows no value (nbgrader would read one as a
    partial score). Introduced in solutions/ex01_confidence.ipynb.
    """
    report = check(name, obj, **kwargs)
    print(report)
    if not report.passed:
        raise AssertionError(f"{name}: {report.kind} checks failed (see the report above)")
