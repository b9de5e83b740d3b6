"""The tripwire: no credit for calling the course's own answer.

Introduced in docs/instructors.md ("What the checks guarantee").

The package holds a reference implementation of every graded function, so a learner could
pass a check with ``def tpr_at_fpr(m, s, f): return mia_course.metrics.tpr_at_fpr(m, s, f)``.
While ``mia_course.grading.check`` runs the learner's function, :func:`watching` records
every call, from inside it, to a reference of that exercise (the ``references`` of its
``Exercise``, listed next to its checks in ``mia_course.grading.checks.exNN``), however it
was reached: imported under another name, through a class, or through another package
function that calls it, such as ``attack_summary`` for ``membership_advantage``. Such a case fails
with :data:`MESSAGE`. The check's own expected values are computed outside the learner's
call, so the reference still runs for them.

What it does not prevent: copying the reference's source into the notebook.
"""
import importlib
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import CodeType
from typing import Any

MESSAGE = ("your function calls the course package's own `{name}`, the reference this check "
           "compares you with: this exercise asks for your own code")

_allowed = [False]  # see allowed()


def resolve(spec: str) -> Any:
    """The function named by ``"package.module:Name.attr"``."""
    module, _, qualname = spec.partition(":")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def reference_name(ref: Callable[..., Any] | str) -> str:
    """``"package.module.Name.attr"``: how the message names a reference (a function, or a
    ``"module:Name.attr"`` string)."""
    if isinstance(ref, str):
        return ref.replace(":", ".")
    return f"{ref.__module__}.{ref.__qualname__}"


def reference_codes(exercise: Any) -> dict[CodeType, str]:
    """``{code object: "module.name"}`` of the references of ``exercise`` (an ``Exercise``)."""
    refs = tuple(getattr(exercise, "references", ()) or ())
    return {(resolve(ref) if isinstance(ref, str) else ref).__code__: reference_name(ref) for ref in refs}


@contextmanager
def allowed() -> Iterator[None]:
    """Switch the tripwire off inside the block. For the package's own tests of the judges,
    which pass the reference itself (or a deliberate mistake built on it) as the learner's
    function; graded checks never use it."""
    before, _allowed[0] = _allowed[0], True
    try:
        yield
    finally:
        _allowed[0] = before


def watching(fn: Callable[..., Any], codes: dict[CodeType, str], hits: list[str]) -> Callable[..., Any]:
    """``fn`` wrapped so that a call to one of ``codes`` while it runs (in its thread) appends
    the reference's name to ``hits``. Uses ``sys.settrace`` for 'call' events only (no line
    tracing), chained to a tracer already installed (a debugger, coverage)."""
    if not codes or _allowed[0]:
        return fn

    def traced(*args, **kwargs):
        previous = sys.gettrace()

        def tracer(frame, event, arg):
            if event == "call" and frame.f_code in codes:
                hits.append(codes[frame.f_code])
            return previous(frame, event, arg) if previous is not None else None
        sys.settrace(tracer)
        try:
            return fn(*args, **kwargs)
        finally:
            sys.settrace(previous)
    return traced
