"""Issue 22's attacks on the grader and named bugs: one table, read by every test that grades them.

- ``tests/test_nbgrader_roundtrip.py`` hands each in as a student of its simulated class, through
  the instructors' guide and nbgrader's real ``autograde`` (``IsolatedGrading``): each must score
  0 for the function it attacks (:func:`hand_ins` says which notebook carries which case, and
  which graded cells must score 0), every other function keeps its points;
- ``tests/test_grading_isolation.py`` runs the kernel attacks in a kernel, where they win (the
  attack is real), then ``IsolatedGrading`` takes the points back;
- ``tests/test_grading_named_bugs.py`` counts each named bug's pass rate over many runs;
- ``benchmarks/classroom_table.py`` grades the class three times (the students x questions table).

Every attack is an answer cell of ex12's question 1 (``one_run_bound``): the stack-frame, seeded-table
and reference-calling attacks are written against its cases and its reference
(``mia_course.audit.one_run_epsilon``); seven that use none of its arguments are handed in on
question 2 instead (``one_run_guesses``), each sharing a notebook with one on question 1
(:data:`PACKED_ATTACKS`, which says why they cannot interfere). A path an attack needs is under the student's ``$HOME``
(:data:`HOME_FILES`, made by :func:`prepare_home`), as in the round trip. Three attacks behave in the
student's kernel and attack only the grader's worker (``"ipykernel" in sys.modules``): stopping the
kernel's parent would stop nbgrader itself (a kernel that attacks the grading machine is out of
scope, docs/instructors.md), and looping forever or a fresh Python per call would cost autograde's
120 s cell timeout or 2 s a call in the kernel, where nothing is graded.
"""
import json
import math
import shutil
import textwrap
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WRONG = "def one_run_bound(n_guesses, n_correct, confidence=0.95):\n    return 0.0\n"
KERNEL_ATTACKS = {  # name: the answer cell of ex12 question 1 (one_run_bound)
    "patched check": textwrap.dedent("""
        import mia_course.grading.engine as engine
        _real_check = engine.check
        def _always(name, obj, **kwargs):
            report = _real_check(name, obj, **kwargs)
            for result in report.results:
                result.passed = True
            return report
        engine.check = _always
        """) + WRONG,
    "Report.passed = True": textwrap.dedent("""
        from mia_course.grading.engine import Report
        Report.passed = property(lambda self: True)
        """) + WRONG,
    "redefined assert_passes": textwrap.dedent("""
        def assert_passes(*args, **kwargs):
            print("Hidden checks passed")
        """) + WRONG,
    "expected value from the grader's stack frame": textwrap.dedent("""
        import sys
        def one_run_bound(n_guesses, n_correct, confidence=0.95):
            frame = sys._getframe(1)
            while frame is not None:
                ctx = frame.f_locals.get("context")
                if isinstance(ctx, dict) and ctx.get("n") == n_guesses and ctx.get("v") == n_correct:
                    return ctx["ref"]
                frame = frame.f_back
            return 0.0
        """),
    "seeded default_rng and a table of answers": """
        import numpy as np
        _rng = np.random.default_rng
        np.random.default_rng = lambda seed=None: _rng(0)
        TABLE = {}
        try:
            from mia_course.grading import get_exercise
            ex = get_exercise("ex12_one_run_bound")
            hidden = [{"kind": "none"}, {"kind": "all", "n": 5}, {"kind": "most", "n": 1000},
                      {"kind": "coin", "confidence": 0.99}, {"confidence": 0.8}] + ex.edge_cases
            for options_list in (ex.default_cases, hidden):
                rng = _rng(0)
                for options in options_list:
                    _, args, ctx = ex.make_case(rng, **options)
                    TABLE[args] = ctx["ref"]
        except Exception:
            pass
        def one_run_bound(n_guesses, n_correct, confidence=0.95):
            return TABLE.get((n_guesses, n_correct, confidence), 0.0)
        """,
    "input transformer that swallows AssertionError": WRONG + textwrap.dedent("""
        def _swallow(lines):
            body = "".join(lines)
            return (["try:\\n"] + ["    " + line for line in body.splitlines(True)]
                    + ["\\nexcept AssertionError:\\n    pass\\n"])
        get_ipython().input_transformers_cleanup.append(_swallow)
        """),
    "tripwire flag switched off": """
        from mia_course.grading import tripwire
        from mia_course.audit import one_run_epsilon
        tripwire._allowed[0] = True
        def one_run_bound(n_guesses, n_correct, confidence=0.95):
            return one_run_epsilon(n_guesses, n_correct, confidence=confidence)
        """,
    "tripwire.allowed() kept open": """
        from mia_course.grading import tripwire
        from mia_course.audit import one_run_epsilon
        _kept = tripwire.allowed()
        _kept.__enter__()
        def one_run_bound(n_guesses, n_correct, confidence=0.95):
            return one_run_epsilon(n_guesses, n_correct, confidence=confidence)
        """,
    "references emptied": """
        from mia_course.grading import get_exercise
        from mia_course.audit import one_run_epsilon
        get_exercise("ex12_one_run_bound").references = ()
        def one_run_bound(n_guesses, n_correct, confidence=0.95):
            return one_run_epsilon(n_guesses, n_correct, confidence=confidence)
        """,
    "sys.settrace(None) first": """
        import sys
        from mia_course.audit import one_run_epsilon
        def one_run_bound(n_guesses, n_correct, confidence=0.95):
            sys.settrace(None)
            return one_run_epsilon(n_guesses, n_correct, confidence=confidence)
        """,
    "reference called from a thread": """
        import threading
        from mia_course.audit import one_run_epsilon
        def one_run_bound(n_guesses, n_correct, confidence=0.95):
            box = []
            worker = threading.Thread(target=lambda: box.append(
                one_run_epsilon(n_guesses, n_correct, confidence=confidence)))
            worker.start()
            worker.join()
            return box[0]
        """,
    "object that reads the answer when the judge converts it": """
        import sys
        class Answer:
            def __array__(self, dtype=None, copy=None):
                import numpy as np
                frame = sys._getframe(1)
                while frame is not None:
                    for value in frame.f_locals.values():
                        if isinstance(value, dict) and "ref" in value and "v" in value:
                            return np.asarray(value["ref"], dtype=dtype)
                    frame = frame.f_back
                return np.asarray(0.0, dtype=dtype)
        def one_run_bound(n_guesses, n_correct, confidence=0.95):
            return Answer()
        """,
}
WORKER_ATTACKS = {  # attacks on the isolated grader itself
    "private helper of the reference": """
        from mia_course.audit import _one_run_p_value
        def one_run_bound(n_guesses, n_correct, confidence=0.95):
            alpha, lo, hi = 1 - confidence, 0.0, 30.0
            if _one_run_p_value(n_guesses, n_correct, 0.0, 0.0, n_guesses) >= alpha:
                return 0.0
            for _ in range(50):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if _one_run_p_value(n_guesses, n_correct, mid, 0.0, n_guesses) < alpha else (lo, mid)
            return lo
        """,
    "renamed copy of the reference": """
        import types
        from mia_course import audit
        _ref = audit.one_run_epsilon
        my_bound = types.FunctionType(_ref.__code__.replace(co_name="my_bound"), _ref.__globals__, "my_bound",
                                      _ref.__defaults__, _ref.__closure__)
        my_bound.__kwdefaults__ = _ref.__kwdefaults__
        def one_run_bound(n_guesses, n_correct, confidence=0.95):
            return my_bound(n_guesses, n_correct, confidence=confidence)
        """,
    "importlib.import_module": """
        import importlib
        def one_run_bound(n_guesses, n_correct, confidence=0.95):
            ref = importlib.import_module("mia_course.audit").one_run_epsilon
            return ref(n_guesses, n_correct, confidence=confidence)
        """,
    "the reference's source file, read and executed": """
        import os
        import mia_course
        def one_run_bound(n_guesses, n_correct, confidence=0.95):
            scope = {"__name__": "copied"}
            exec(open(os.path.join(os.path.dirname(mia_course.__file__), "audit.py")).read(), scope)
            return scope["one_run_epsilon"](n_guesses, n_correct, confidence=confidence)
        """,
    "the reference loaded from its file path": """
        import importlib.util, os
        import mia_course
        def one_run_bound(n_guesses, n_correct, confidence=0.95):
            path = os.path.join(os.path.dirname(mia_course.__file__), "audit.py")
            spec = importlib.util.spec_from_file_location("my_audit", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module.one_run_epsilon(n_guesses, n_correct, confidence=confidence)
        """,
    "another copy of the package on disk": """
        import os
        COPY = os.path.expanduser("~/copy/mia_course/audit.py")  # a copy of the package's file (HOME_FILES)
        def one_run_bound(n_guesses, n_correct, confidence=0.95):
            scope = {"__name__": "copied"}
            exec(open(COPY).read(), scope)
            return scope["one_run_epsilon"](n_guesses, n_correct, confidence=confidence)
        """,
    "a fresh Python in a subprocess": """
        import subprocess, sys
        def one_run_bound(n_guesses, n_correct, confidence=0.95):
            if "ipykernel" in sys.modules:  # (in the kernel: 2 s a call; the attack is on the grader)
                return 0.0
            code = f"from mia_course.audit import one_run_epsilon as f; print(f({n_guesses}, {n_correct}, confidence={confidence}))"
            return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout)
        """,
    "os.system and a file": """
        import os
        def one_run_bound(n_guesses, n_correct, confidence=0.95):
            answer = os.path.expanduser("~/answer")
            os.system(f"python -c 'print(1)' > {answer}")
            return float(open(answer).read())
        """,
    "os.fork": """
        import os
        def one_run_bound(n_guesses, n_correct, confidence=0.95):
            read, write = os.pipe()
            if os.fork() == 0:
                os._exit(0)
            return 0.0
        """,
    "ctypes (to remove the audit hook)": """
        def one_run_bound(n_guesses, n_correct, confidence=0.95):
            import ctypes
            ctypes.pythonapi.Py_IsInitialized()
            from mia_course.audit import one_run_epsilon
            return one_run_epsilon(n_guesses, n_correct, confidence=confidence)
        """,
    "a sub-interpreter": """
        def one_run_bound(n_guesses, n_correct, confidence=0.95):
            import _xxsubinterpreters as interpreters
            interpreters.create()
            return 0.0
        """,
    "kill the grader": """
        import os, signal, sys
        def one_run_bound(n_guesses, n_correct, confidence=0.95):
            if "ipykernel" in sys.modules:  # the kernel's parent is nbgrader itself: attack only the grader
                return 0.0
            os.kill(os.getppid(), signal.SIGSTOP)
            return 0.0
        """,
    "read the grader's memory": """
        import os
        def one_run_bound(n_guesses, n_correct, confidence=0.95):
            open(f"/proc/{os.getppid()}/mem", "rb").read(1)
            return 0.0
        """,
    "read the solutions notebook": """
        import glob, json, os
        ROOTS = os.path.expanduser("~/mia-course")  # the instructor's clone (the round trip's $HOME)
        def one_run_bound(n_guesses, n_correct, confidence=0.95):
            for path in glob.glob(ROOTS + "/solutions/*.ipynb"):
                json.load(open(path))
            return 0.0
        """,
    "end the worker at import": textwrap.dedent("""
        import os
        os._exit(0)
        """) + WRONG,
    "end the worker during a case": """
        import os
        def one_run_bound(n_guesses, n_correct, confidence=0.95):
            os._exit(3)
        """,
    "a helper process left by the kernel, through files": textwrap.dedent("""
        import json, os, time
        MAILBOX = os.path.expanduser("~/mailbox")  # where the helper (HOME_FILES) reads and answers
        def one_run_bound(n_guesses, n_correct, confidence=0.95):
            with open(os.path.join(MAILBOX, "question.json"), "w") as fh:
                json.dump([n_guesses, n_correct, confidence], fh)
            for _ in range(200):
                if os.path.exists(os.path.join(MAILBOX, "answer.json")):
                    return json.load(open(os.path.join(MAILBOX, "answer.json")))
                time.sleep(0.01)
            return 0.0
        """),
    "a helper process left by the kernel, through shared memory": textwrap.dedent("""
        from multiprocessing import shared_memory
        def one_run_bound(n_guesses, n_correct, confidence=0.95):
            box = shared_memory.SharedMemory(name="mia_mailbox", create=True, size=64)
            return 0.0
        """),
    "never return": """
        import sys
        def one_run_bound(n_guesses, n_correct, confidence=0.95):
            if "ipykernel" in sys.modules:  # (in the kernel: autograde's 120 s cell timeout)
                return 0.0
            while True:
                pass
        """,
}



ATTACKS = {name: ("ex12_q1_code", textwrap.dedent(source))
           for name, source in {**KERNEL_ATTACKS, **WORKER_ATTACKS}.items()}
ATTACKS["a name ex15 forbids in words only (secret_rank)"] = ("ex15_q1_code", textwrap.dedent("""
    from mia_course.language_attacks import secret_rank
    def exposure_from_scores(scores, secret_index):
        return math.log2(len(scores)) - math.log2(secret_rank(scores, secret_index))
    """))
ENDS_EVERY_WORKER = {"end the worker at import"}  # at the cell's top level: no function of its notebook is served
Q1 = "def one_run_bound(n_guesses, n_correct, confidence=0.95):"
# Attacks that use none of one_run_bound's arguments and act only inside their function and its own
# worker (no top-level code but imports): also written for question 2 (one_run_guesses), each to
# share a notebook with an attack on question 1 that reaches for the reference (an import that
# fails in its own cell, or code inside its function). Not packed: the attacks on the whole process
# (patches, an input transformer, threads, sys.settrace, ctypes, os.fork, os._exit) and the others
# on the kernel's checks.
PACKED_ATTACKS = [  # (on question 1, on question 2)
    ("private helper of the reference", "os.system and a file"),
    ("renamed copy of the reference", "a sub-interpreter"),
    ("importlib.import_module", "kill the grader"),
    ("the reference's source file, read and executed", "read the grader's memory"),
    ("the reference loaded from its file path", "read the solutions notebook"),
    ("another copy of the package on disk", "a helper process left by the kernel, through shared memory"),
    ("a fresh Python in a subprocess", "never return"),
]
for _, _name in PACKED_ATTACKS:
    _body = ATTACKS[_name][1].split(Q1)[1]
    assert not any(arg in _body for arg in ("n_guesses", "n_correct", "confidence")), _name
    ATTACKS[_name] = ("ex12_q2_code", ATTACKS[_name][1].replace(Q1, "def one_run_guesses(scores, is_in, n_guesses):")
                      .replace("return 0.0", "return 0, 0"))

CAPPED_BISECTION = """
    def one_run_bound(n_guesses, n_correct, confidence=0.95):
        alpha, low, high = 1 - confidence, 0.0, CAP
        tail = lambda eps: binom.sf(n_correct - 1, n_guesses, 1 / (1 + np.exp(-eps)))
        if tail(0.0) >= alpha:
            return 0.0
        for _ in range(50):
            mid = (low + high) / 2
            low, high = (mid, high) if tail(mid) < alpha else (low, mid)
        return low
    """  # a bisection that never looks above CAP: right below it, wrong above
BY_POSITION = """
    def exposure_from_scores(scores, secret_index):
        order = ORDER
        rank = int(np.flatnonzero(order == secret_index)[0]) + 1
        return math.log2(len(scores)) - math.log2(rank)
    """  # the rank of the secret by its position in a sort: ahead of the candidates it ties with
BUGS = {  # name: (exercise, answer cell, source): each a bug class the hidden and edge cases must catch
    "bisection capped at eps = 4": ("ex12_one_run_bound", "ex12_q1_code", CAPPED_BISECTION.replace("CAP", "4.0")),
    "bisection capped at eps = 8": ("ex12_one_run_bound", "ex12_q1_code", CAPPED_BISECTION.replace("CAP", "8.0")),
    "rank by sort position (default sort), ties": (
        "ex15_exposure", "ex15_q1_code", BY_POSITION.replace("ORDER", "np.argsort(-np.asarray(scores))")),
    "rank by stable sort position, ties": (
        "ex15_exposure", "ex15_q1_code",
        BY_POSITION.replace("ORDER", 'np.argsort(-np.asarray(scores), kind="stable")')),
    "rank by reversed ascending sort position, ties": (
        "ex15_exposure", "ex15_q1_code",
        BY_POSITION.replace("ORDER", 'np.argsort(np.asarray(scores), kind="stable")[::-1]')),
    "int(k * n) + 1 tokens": ("ex15_min_k", "ex15_q2_code", """
        def min_k_percent(token_log_probs, k):
            return np.array([np.sort(lp)[:int(k * len(lp)) + 1].mean() for lp in token_log_probs])
        """),
    "0/1 integers negated with ~": ("ex12_one_run_guesses", "ex12_q2_code", """
        def one_run_guesses(scores, is_in, n_guesses):
            order, half = np.argsort(-np.asarray(scores)), n_guesses // 2
            is_in = np.asarray(is_in)
            return 2 * half, int(is_in[order[:half]].sum() + (~is_in[order[len(order) - half:]]).sum())
        """),
    "ex05: the record itself not counted": ("ex05_robustness", "ex05_q1_code", """
        def robustness_scores(model, X, y, copies):
            n_copies, n_rows, n_features = copies.shape
            labels = np.asarray(model.predict(copies.reshape(-1, n_features))).reshape(n_copies, n_rows)
            return (labels == np.asarray(y)).mean(axis=0)
        """),
}
BUGS = {name: (exercise, cell, textwrap.dedent(source)) for name, (exercise, cell, source) in BUGS.items()}
# several bugs in one notebook only on different functions: a bug is code inside its own function,
# with nothing at the cell's top level, so it cannot touch the other function (its worker is its own)
PACKED = [("bisection capped at eps = 4", "0/1 integers negated with ~"),
          ("rank by sort position (default sort), ties", "int(k * n) + 1 tokens")]
NOTEBOOKS = {"ex05": "ex05_label_only", "ex12": "ex12_canary_audit", "ex15": "ex15_language_models"}


def bug_function(name):
    """The function of bug ``name``, defined as the student's cell defines it."""
    return defined_function(BUGS[name][2])


def defined_function(source):
    """The function an answer cell's ``source`` defines (numpy, math and scipy's binom in scope)."""
    from scipy.stats import binom
    import numpy as np
    scope = {"np": np, "math": math, "binom": binom}
    exec(textwrap.dedent(source), scope)
    return scope[_function_name(textwrap.dedent(source))]


def _function_name(source):
    return next(line.split("(")[0][4:] for line in source.splitlines() if line.startswith("def "))


def hand_ins():
    """``[(cases, notebook, {answer cell: source}, {graded cell expected to score 0}), ...]``: one
    notebook per attack and per bug, except the pairs of :data:`PACKED_ATTACKS` and :data:`PACKED`,
    which share a notebook (one case per function)."""
    out = []
    paired = {first: second for first, second in PACKED_ATTACKS}
    for name, (cell, source) in ATTACKS.items():
        if name in paired.values():
            continue
        group = (name, paired[name]) if name in paired else (name,)
        cells = {ATTACKS[n][0]: ATTACKS[n][1] for n in group}
        assert len(cells) == len(group), f"{group}: one attack per function"
        zeros = {c.replace("_code", "_tests") for c in cells}
        if name in ENDS_EVERY_WORKER:
            zeros |= {f"{cell[:4]}_q{q}_tests" for q in (1, 2)}
        out.append((group, NOTEBOOKS[cell[:4]], cells, zeros))
    packed = {name for group in PACKED for name in group}
    for group in list(PACKED) + [(name,) for name in BUGS if name not in packed]:
        cells = {BUGS[name][1]: BUGS[name][2] for name in group}
        assert len(cells) == len(group), f"{group}: one bug per function"
        out.append((group, NOTEBOOKS[BUGS[group[0]][1][:4]], cells, {c.replace("_code", "_tests") for c in cells}))
    return out


HOME_FILES = ("copy/mia_course/audit.py", "mailbox/")  # what the attacks expect under $HOME


def prepare_home(home):
    """A copy of the package's ``audit.py`` in a folder ``mia_course`` under ``home``, and a helper
    left by the student's kernel that answers questions written to ``home/mailbox`` with the
    reference (here a thread of the test process, outside the grader's worker). Returns the
    helper's stop event."""
    home = Path(home)
    copy = home / "copy" / "mia_course" / "audit.py"
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "mia_course" / "audit.py", copy)
    (copy.parent / "__init__.py").write_text("")
    (home / "mailbox").mkdir(exist_ok=True)
    return helper_left_by_the_kernel(home / "mailbox")


def helper_left_by_the_kernel(folder):
    """What a student's kernel could leave running: a process with the whole package that answers
    questions written to a file (here a thread of this process). Returns its stop event."""
    from mia_course.audit import one_run_epsilon
    folder, stop = Path(folder), threading.Event()

    def serve():
        while not stop.is_set():
            question = folder / "question.json"
            if question.exists():
                try:
                    n, v, confidence = json.loads(question.read_text())
                except ValueError:  # being written
                    continue
                (folder / "answer.json").write_text(json.dumps(one_run_epsilon(n, v, confidence=confidence)))
                question.unlink()
            time.sleep(0.005)
    threading.Thread(target=serve, daemon=True).start()
    return stop
