"""Checks that teach: run a learner's function on randomized cases, report in words.

Introduced in solutions/ex01_confidence.ipynb (every exercise notebook uses it).

``check(name, fn_or_namespace)`` draws fresh cases for the registered exercise ``name``
(see the ``mia_course.exercise_checks*`` modules), compares the learner's answers with the
package's reference and returns a :class:`Report`: which cases passed and, for a failure, what is
wrong, without the expected values. Exceptions, wrong types and shapes become failed
checks, never a crash; a case running over ``timeout`` seconds is stopped; a function that
calls the package's reference for the exercise fails (``mia_course.tripwire``).
``assert_passes`` prints the report and raises AssertionError unless it passed: graded
cells call it, so that nbgrader gives zero for a failure.
"""
import copy
import signal
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from mia_course import tripwire

DEFAULT_TIMEOUT = 3.0  # seconds per case
REGISTRY = {}


@dataclass
class Exercise:
    """One graded function. ``make_case(rng, **options)`` returns ``(description, args,
    context)``; ``judge(context, output)`` returns None (right) or a message in words;
    ``hint(exception)`` may add advice to the learner's exception; ``references`` names the
    package functions that compute the answer ("module:name", see ``mia_course.tripwire``)."""
    name: str
    function_name: str
    make_case: object
    judge: object
    default_cases: list
    hidden_tests: bool = False
    hint: object = None
    references: tuple = ()


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
    results: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    @property
    def passed(self):
        return bool(self.results) and all(r.passed for r in self.results)

    def __str__(self):
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

    def _repr_pretty_(self, printer, cycle):
        printer.text(str(self))


class ToyModel:
    """A stand-in for a trained classifier in the checks' cases: softmax of a fixed random
    linear map of X. ``classes_`` may be any sorted labels; a large ``sharpness`` gives
    probabilities of exactly 0."""

    def __init__(self, rng, n_features, classes, sharpness=2.0):
        self.classes_ = np.asarray(classes)
        self.coef_ = rng.normal(0.0, sharpness, (n_features, len(self.classes_)))

    def predict_proba(self, X):
        z = np.asarray(X, dtype=np.float64) @ self.coef_
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)


def as_numbers(out, what, shape=None):
    """``(array, None)``, or ``(None, message)`` when the learner's ``out`` is not an array
    of numbers of ``shape`` (``what`` says what was expected, in words)."""
    if out is None:
        return None, "returned None: did you forget `return`?"
    try:
        arr = np.asarray(out, dtype=np.float64)
    except (TypeError, ValueError):
        return None, f"returned a {type(out).__name__}, expected {what}"
    if shape is not None and arr.shape != shape:
        return None, f"returned shape {arr.shape}, expected {what}, i.e. shape {shape}"
    if shape == () and np.isnan(arr):
        return None, f"returned NaN, expected {what}"
    return arr, None


def register(exercise):
    """Add an :class:`Exercise` to the registry (``mia_course.exercise_checks`` does it)."""
    REGISTRY[exercise.name] = exercise
    return exercise


def _load():  # importing a check module registers its exercises
    import mia_course.exercise_checks  # noqa: F401  (lessons 01-03)
    import mia_course.exercise_checks_canaries  # noqa: F401  (12)
    import mia_course.exercise_checks_defenses  # noqa: F401  (08, 10)
    import mia_course.exercise_checks_dp  # noqa: F401  (09, 11)
    import mia_course.exercise_checks_exposure  # noqa: F401  (06-07)
    import mia_course.exercise_checks_inversion  # noqa: F401  (14)
    import mia_course.exercise_checks_language  # noqa: F401  (15)
    import mia_course.exercise_checks_label_only  # noqa: F401  (05)
    import mia_course.exercise_checks_playground  # noqa: F401  (13)
    import mia_course.exercise_checks_strong  # noqa: F401  (04)


def get_exercise(name):
    """The registered :class:`Exercise` called ``name``; ValueError lists the valid names."""
    _load()
    if name not in REGISTRY:
        raise ValueError(f"unknown exercise {name!r}; valid names: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def exercise_names():
    """The names ``check`` accepts, sorted."""
    _load()
    return sorted(REGISTRY)


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


def call_limited(fn, args, timeout=DEFAULT_TIMEOUT):
    """``(status, value, warnings)``: status "ok" (value: the result), "error" (value: the
    exception) or "timeout". On the main thread (Jupyter, pytest) SIGALRM stops the call;
    elsewhere, or when another timer is running, the call waits in a thread (a stopped
    call then finishes in the background)."""
    alarm = (hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
             and signal.getitimer(signal.ITIMER_REAL)[0] == 0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        status, value = (_call_with_alarm if alarm else _call_in_thread)(fn, args, timeout)
    return status, value, caught


def _resolve(exercise, obj):
    """The learner's function, or a message saying why it cannot be found."""
    if isinstance(obj, Mapping):
        if exercise.function_name not in obj:
            return None, (f"no function called `{exercise.function_name}` in the namespace you "
                          "passed: run the cell that defines it first")
        obj = obj[exercise.function_name]
    if not callable(obj):
        return None, f"expected your function `{exercise.function_name}` (or globals()), got {type(obj).__name__}"
    return obj, None


def check(name, obj, *, seed=None, cases=None, kind="public", timeout=DEFAULT_TIMEOUT):
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
    options_list = exercise.default_cases if cases is None else list(cases)
    report = Report(name, kind, exercise.hidden_tests, planned=len(options_list))
    fn, problem = _resolve(exercise, obj)
    if fn is None:
        report.results.append(CaseResult("find your function", False, problem))
        return report
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


def assert_passes(name, obj, **kwargs):
    """Print ``check(name, obj, **kwargs)`` and raise AssertionError unless it passed.

    Returns None, so that a graded cell shows no value (nbgrader would read a value as a
    partial score). Introduced in solutions/ex01_confidence.ipynb.
    """
    report = check(name, obj, **kwargs)
    print(report)
    if not report.passed:
        raise AssertionError(f"{name}: {report.kind} checks failed (see the report above)")
