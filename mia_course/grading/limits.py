"""Time limits: run the learner's function for at most a few seconds.

Introduced in solutions/ex01_confidence.ipynb (through ``mia_course.grading.check``: a case
running over its time is stopped and reported, the remaining cases skipped).
"""
import signal
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any

DEFAULT_TIMEOUT = 3.0  # seconds per case


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


def call_limited(fn: Callable[..., Any], args: Sequence[Any],
                 timeout: float = DEFAULT_TIMEOUT) -> tuple[str, Any, list[warnings.WarningMessage]]:
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
