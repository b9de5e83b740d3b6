"""The grader's end of a grading worker: start it, send cases, read its JSON replies.

Introduced in docs/instructors.md ("What the grading does and does not guarantee"); used by
``mia_course.grading.isolation``. The worker is ``mia_course.grading.sandbox``; this side never
unpickles what it sends (:func:`decode` reads plain JSON), kills it when it runs over its time,
and says in words why it stopped.
"""
import base64
import json
import os
import pickle
import select
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

import mia_course
from mia_course.grading import sandbox

if TYPE_CHECKING:  # isolation imports this module
    from mia_course.grading.isolation import Program

__all__ = ["PACKAGE_DIR", "START_TIMEOUT", "Worker", "decode", "rebuild_exception"]

PACKAGE_DIR = os.path.realpath(os.path.dirname(mia_course.__file__))
START_TIMEOUT = 90.0  # seconds to start a worker and run the learner's cells


def decode(data: Any) -> Any:
    """What ``mia_course.grading.sandbox.encode`` encoded, rebuilt without ``pickle``: arrays of
    numeric dtypes only; anything else as a stand-in object that prints as the original did."""
    if not isinstance(data, dict):
        return data if not isinstance(data, list) else [decode(v) for v in data]
    kind = data.get("t")
    if kind in ("nd", "scalar"):
        dtype = np.dtype(data["dtype"])
        if dtype.kind not in "biufc":
            raise ValueError(f"dtype {dtype}")
        array = np.frombuffer(base64.b64decode(data["data"]), dtype=dtype).reshape(data["shape"]).copy()
        return array if kind == "nd" else array[()]
    if kind == "tensor":
        import torch
        return torch.from_numpy(np.array(decode(data["array"])))
    if kind == "ndobj":
        out = np.empty(len(data["items"]), dtype=object)
        out[:] = [decode(v) for v in data["items"]]
        return out.reshape(data["shape"])
    if kind in ("list", "tuple"):
        items = [decode(v) for v in data["items"]]
        return items if kind == "list" else tuple(items)
    if kind == "dict":
        return {decode(k): decode(v) for k, v in data["items"]}
    name, text = str(data.get("type", "object")), str(data.get("repr", ""))
    return type(name if name.isidentifier() else "object", (), {"__repr__": lambda self: text})()


def rebuild_exception(reply: Mapping[str, Any]) -> Exception:
    """The learner's exception, rebuilt as a builtin class when it is one (hints test its class)."""
    name, message = str(reply.get("type", "Exception")), str(reply.get("message", ""))
    cls = getattr(__import__("builtins"), name, None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        cls = type(name if name.isidentifier() else "Exception", (Exception,), {})
    try:
        return cls(message)
    except Exception:
        return Exception(message)


class Worker:
    """One learner function served by a ``mia_course.grading.sandbox`` process."""

    def __init__(self, program: "Program", function: str, trusted: Sequence[str] = (),
                 provided: Sequence[str] = ()) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env.update(PYTHONPATH=os.path.dirname(PACKAGE_DIR), PYTHONNOUSERSITE="1", PYTHONSAFEPATH="1",
                   PYTHONDONTWRITEBYTECODE="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "mia_course.grading.sandbox"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=env, cwd=os.path.expanduser("~"))
        setup = dict(preimports=program.preimports, prelude=program.prelude + list(provided), cells=program.cells,
                     trusted=list(trusted), function=function, blocked_dirs=[PACKAGE_DIR])
        try:
            self.send(pickle.dumps(setup))
        except OSError:  # it ended at once; receive() then reports it
            pass

    def send(self, body: bytes) -> None:
        sandbox.write_frame(self.proc.stdin, body)

    def receive(self, timeout: float) -> dict[str, Any] | None:
        """The worker's next JSON reply, or None when it died or ran over ``timeout``."""
        fd, deadline, chunks, need = self.proc.stdout.fileno(), time.monotonic() + timeout, b"", 8
        size = None
        while len(chunks) < need:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, need - len(chunks))
            if not chunk:  # the worker closed its end: it is ending
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
                return None
            chunks += chunk
            if size is None and len(chunks) == 8:
                size = int.from_bytes(chunks, "little")
                if size > sandbox.MAX_FRAME:
                    return None
                chunks, need = b"", size
        try:
            reply = json.loads(chunks)
        except Exception:  # not JSON, or nested past the recursion limit
            return None
        return reply if isinstance(reply, dict) else None

    def why_stopped(self) -> str:
        code = self.proc.poll()
        if code is None:
            return "still running"
        return f"exit code {code}" if code >= 0 else f"killed by signal {-code}"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
