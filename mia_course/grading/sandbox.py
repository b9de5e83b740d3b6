"""The worker of isolated grading: the only process where a learner's code runs while it is graded.

Introduced in docs/instructors.md ("What the grading does and does not guarantee"); started by
``mia_course.grading.isolation`` (``python -m mia_course.grading.sandbox``), never by hand.

The worker holds nothing worth stealing: no expected value, no case it has not been sent yet,
no random generator of the grader, no reference of the course package. It

1. reads its setup from the grader (the modules to import first, the learner's cells, the
   trusted helpers to define after them, the name of the function to serve);
2. imports the allowed third-party modules, then installs an audit hook (PEP 578: a hook
   cannot be removed or replaced once added) that refuses, for the rest of the process: opening
   any file of the course package (its references, their private helpers, the checks), of any
   other copy of it (a package folder called ``mia_course``), any notebook (the solutions, nbgrader's
   ``source/``), a wheel, an archive or a database; opening any file for writing, or changing
   the file system (a process left behind by the student's kernel could otherwise read a
   case's inputs from a file and write back the reference's answer); starting or signalling a
   process; ``ctypes`` (which could rewrite memory); shared memory; new sub-interpreters (which
   would not inherit the hook);
3. runs the learner's cells, then serves calls: it receives one case's arguments (pickled by
   the grader), calls the function and sends back its output encoded as JSON of plain values
   and arrays (:func:`encode`): the grader never unpickles what this process sends.

Standard output and error go to /dev/null: a learner's ``print(..., file=sys.stderr)``,
``tqdm`` or ``logging`` costs nothing. Whatever the learner's code does to this process
(patching modules, threads, ``sys.settrace``, seeding random generators, writing to the
grader's pipe), it can only change the outputs its own function returns, which it controls
anyway; the verdict is the grader's.
"""
import base64
import builtins
import importlib
import json
import os
import pickle
import re
import struct
import sys
import warnings
from typing import Any, BinaryIO

import numpy as np

MAX_FRAME = 256 * 2**20  # bytes: the grader refuses larger answers
BLOCKED_EVENTS = ("subprocess.", "os.exec", "os.spawn", "os.posix_spawn", "os.fork", "os.forkpty",
                  "os.system", "os.kill", "os.killpg", "signal.pthread_kill", "pty.spawn", "ctypes.",
                  "cpython.PyInterpreterState_New", "socket.", "_posixsubprocess.",
                  # no writing to the file system: nothing outside can learn a case's inputs from it
                  "os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.utime", "os.chmod", "os.chown",
                  "os.symlink", "os.link", "os.truncate", "os.setxattr", "os.removexattr", "os.chflags",
                  "os.mkfifo", "os.mknod")
BLOCKED_MODULES = ("mia_course", "_posixshmem", "_multiprocessing")  # the package; shared memory
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
BLOCKED_SUFFIXES = (".ipynb", ".whl", ".db", ".sqlite", ".zip", ".tar.gz")
BLOCKED_PARTS = ("mia_course",)  # package folders of these names, anywhere: any copy of the package
_PROC = re.compile(r"^/proc/(?!self/(?:stat|status|cpuset|maps)$)(?:\d+|self|thread-self)/")


def read_frame(stream: BinaryIO) -> bytes | None:
    """One length-prefixed frame of ``stream``, or None at its end."""
    head = stream.read(8)
    if len(head) < 8:
        return None
    (size,) = struct.unpack("<Q", head)
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes")
    body = stream.read(size)
    return body if len(body) == size else None


def write_frame(stream: BinaryIO, body: bytes) -> None:
    """Write ``body`` as one length-prefixed frame and flush."""
    stream.write(struct.pack("<Q", len(body)) + body)
    stream.flush()


def encode(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON-ready plain data: numbers, strings, lists, dicts, arrays as base64
    (numeric and boolean dtypes), torch tensors as arrays; anything else as its type and repr."""
    if depth > 20:
        return {"t": "opaque", "type": type(value).__name__, "repr": "(nested too deep)"}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)) and type(value) in (int, float):
        return value
    if type(value).__module__ == "torch" and type(value).__name__ in ("Tensor", "Parameter"):
        return {"t": "tensor", "array": encode(np.array(value.detach().cpu().numpy(), order="C"), depth + 1)}
    if isinstance(value, (np.ndarray, np.generic)) and np.asarray(value).dtype.kind in "biufc":
        array = np.array(value, order="C")  # keeps a 0-d array 0-d (ascontiguousarray would not)
        return {"t": "nd" if isinstance(value, np.ndarray) else "scalar", "dtype": array.dtype.str,
                "shape": list(array.shape), "data": base64.b64encode(array.tobytes()).decode()}
    if isinstance(value, np.ndarray):  # object arrays: element by element
        return {"t": "ndobj", "shape": list(value.shape), "items": [encode(v, depth + 1) for v in value.ravel()]}
    if isinstance(value, (list, tuple)):
        return {"t": type(value).__name__ if type(value) in (list, tuple) else "list",
                "items": [encode(v, depth + 1) for v in value]}
    if isinstance(value, dict):
        return {"t": "dict", "items": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]}
    try:
        text = repr(value)[:200]
    except Exception:  # a learner's object whose repr fails
        text = "?"
    return {"t": "opaque", "type": type(value).__name__, "repr": text}


def _in_a_copy(path: str) -> bool:
    """True inside a package folder called like the course's (one with an ``__init__.py``): a
    venv inside a clone called ``mia_course`` stays readable, a copy of the package does not."""
    parts = path.split(os.sep)
    return any(part in BLOCKED_PARTS and os.path.isfile(os.sep.join(parts[:i + 1] + ["__init__.py"]))
               for i, part in enumerate(parts[:-1]))


def _guard(blocked_dirs: list[str]) -> None:
    """Install the audit hook (see the module docstring); ``blocked_dirs`` are real paths."""
    inside = [False]

    def blocked_path(path: Any) -> bool:
        if isinstance(path, int):
            return False
        path = os.fsdecode(path)
        real = os.path.realpath(path)
        return (real.endswith(BLOCKED_SUFFIXES) or bool(_PROC.match(real)) or bool(_PROC.match(path))
                or _in_a_copy(real) or _in_a_copy(os.path.abspath(path))
                or any(real == d or real.startswith(d + os.sep) for d in blocked_dirs))

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if inside[0]:
            return
        inside[0] = True
        try:
            if event.startswith(BLOCKED_EVENTS):
                raise PermissionError(f"not allowed while your code is graded: {event}")
            if event == "open" and args and not isinstance(args[0], int):
                mode, flags = (list(args[1:3]) + [None, None])[:2]
                writing = ((isinstance(mode, str) and any(c in mode for c in "wax+"))
                           or (isinstance(flags, int) and flags & _WRITE_FLAGS))
                if writing or blocked_path(args[0]):
                    raise PermissionError(f"not allowed while your code is graded: opening {args[0]!r}"
                                          + (" for writing" if writing else ""))
            if event == "import" and args and str(args[0]).split(".")[0] in BLOCKED_MODULES \
                    and args[0] not in sys.modules:
                what = "the course package's" if str(args[0]).startswith("mia_course") else "the module"
                raise ImportError(f"{what} `{args[0]}` is not available while your code is graded"
                                  + (": this exercise asks for your own code" if what != "the module" else ""))
        finally:
            inside[0] = False
    sys.addaudithook(hook)


def _error(err: BaseException) -> dict[str, Any]:
    return {"status": "error", "type": type(err).__name__, "message": str(err)[:2000]}


def serve(reader: BinaryIO, writer: BinaryIO) -> None:
    """Set up from the grader's first frame, then answer one frame per case (see above)."""
    setup = pickle.loads(read_frame(reader))
    for name in setup["preimports"]:
        try:
            importlib.import_module(name)
        except Exception:  # an optional library missing here: the learner's import will say so
            pass
    _guard(setup["blocked_dirs"])
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    problems = []
    for statement in setup["prelude"]:  # imports and constants of the notebook's other cells
        try:
            exec(compile(statement, "<setup cell>", "exec"), namespace)
        except BaseException:  # e.g. the course's references: not available here
            pass
    for i, source in enumerate(setup["cells"]):
        try:
            exec(compile(source, f"<your cell {i + 1}>", "exec"), namespace)
        except BaseException as err:  # noqa: BLE001 - the learner's cell, reported in words
            problems.append(f"{type(err).__name__}: {err}"[:500])
    for source in setup["trusted"]:
        exec(compile(source, "<grader's helper>", "exec"), namespace)
    fn = namespace.get(setup["function"])
    write_frame(writer, json.dumps({"found": callable(fn), "problems": problems}).encode())
    while (frame := read_frame(reader)) is not None:
        args = pickle.loads(frame)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                reply = {"status": "ok", "value": encode(fn(*args))}
            except BaseException as err:  # noqa: BLE001 - SystemExit, KeyboardInterrupt included
                reply = _error(err)
        reply["warnings"] = sorted({f"{w.category.__name__}: {w.message}"[:300] for w in caught})
        try:
            body = json.dumps(reply).encode()
        except (TypeError, ValueError) as err:
            body = json.dumps(_error(err)).encode()
        write_frame(writer, body)


def main() -> None:
    """Entry point: keep the grader's pipes on private descriptors, silence 0, 1 and 2, serve."""
    reader, writer = os.fdopen(os.dup(0), "rb"), os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    serve(reader, writer)


if __name__ == "__main__":
    main()
