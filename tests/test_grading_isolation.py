"""Attacks on the grader (issue 22): each is what a motivated student could write in an answer
cell to earn points without the right code. Graded in isolation (``mia_course.grading.isolation``),
each must score 0 for the function it attacks; the honest answer keeps its points.

The attacks that target the student's kernel (a patched ``check``, ``Report.passed``, a
redefined ``assert_passes``, the grader's stack frame, a seeded ``default_rng``, an input
transformer, the tripwire switched off) are also run in a real kernel, as nbgrader's autograde
runs them: there they DO earn the points (the test shows the attack is real), and
``IsolatedGrading`` takes them back.
"""
import os
import shutil
import textwrap

import nbformat
import pytest
from nbgrader.utils import determine_grade

from mia_course.grading.isolation import Program, check_isolated, grade_cell, graded_calls

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EX12, EX15 = "ex12_canary_audit", "ex15_language_models"

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
        def one_run_bound(n_guesses, n_correct, confidence=0.95):
            scope = {"__name__": "copied"}
            exec(open(COPY).read(), scope)
            return scope["one_run_epsilon"](n_guesses, n_correct, confidence=confidence)
        """,
    "a fresh Python in a subprocess": """
        import subprocess, sys
        def one_run_bound(n_guesses, n_correct, confidence=0.95):
            code = f"from mia_course.audit import one_run_epsilon as f; print(f({n_guesses}, {n_correct}, confidence={confidence}))"
            return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout)
        """,
    "os.system and a file": """
        import os
        def one_run_bound(n_guesses, n_correct, confidence=0.95):
            os.system(f"python -c 'print(1)' > /tmp/answer")
            return float(open("/tmp/answer").read())
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
        import os, signal
        def one_run_bound(n_guesses, n_correct, confidence=0.95):
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
        import glob, json
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
        def one_run_bound(n_guesses, n_correct, confidence=0.95):
            while True:
                pass
        """,
}


def _helper_left_by_the_kernel(folder):
    """What a student's kernel could leave running: a process with the whole package that answers
    questions written to a file (here a thread of the test process, outside the worker)."""
    import json
    import threading
    import time
    from mia_course.audit import one_run_epsilon
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            question = folder / "question.json"
            if question.exists():
                n, v, confidence = json.loads(question.read_text())
                (folder / "answer.json").write_text(json.dumps(one_run_epsilon(n, v, confidence=confidence)))
                question.unlink()
            time.sleep(0.005)
    threading.Thread(target=serve, daemon=True).start()
    return stop


def ex12_program(answer, q2=None):
    """ex12's solution notebook with question 1 answered by ``answer`` (and question 2 by ``q2``)."""
    nb = nbformat.read(os.path.join(ROOT, "solutions", f"{EX12}.ipynb"), as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "ex12_q1_code":
            cell.source = textwrap.dedent(answer)
        elif gid == "ex12_q2_code" and q2 is not None:
            cell.source = textwrap.dedent(q2)
    return nb


def isolated(answer, exercise="ex12_one_run_bound", **kwargs):
    return check_isolated(exercise, Program.from_notebook(ex12_program(answer)), **kwargs)


def test_the_honest_answer_passes_isolated_grading():
    nb = nbformat.read(os.path.join(ROOT, "solutions", f"{EX12}.ipynb"), as_version=4)
    report = check_isolated("ex12_one_run_bound", Program.from_notebook(nb), kind="hidden", cases=[])
    assert report.passed, report
    assert len(report.results) >= 3  # the edge cases: epsilon 6.5 and 10.4


RUNS = 3  # each attack is one student, graded three times (fresh cases each time), as issue 22 asks


def graded_cell_calls(grade_id="ex12_q1_tests"):
    """The ``assert_passes`` calls of a graded cell of solutions/ (public and hidden), as nbgrader
    restores it before ``IsolatedGrading`` grades it."""
    nb = nbformat.read(os.path.join(ROOT, "solutions", f"{EX12}.ipynb"), as_version=4)
    return graded_calls(next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id))


@pytest.mark.parametrize("name", sorted(KERNEL_ATTACKS) + sorted(WORKER_ATTACKS))
def test_each_attack_scores_zero_on_every_run(name, tmp_path):
    """One student per attack: ex12's graded cell of question 1 (3 points), graded RUNS times;
    the printed row is the attack's line of the students x questions table (``-s``)."""
    answer = {**KERNEL_ATTACKS, **WORKER_ATTACKS}[name]
    if name == "another copy of the package on disk":
        copy = tmp_path / "mia_course" / "audit.py"
        copy.parent.mkdir()
        shutil.copy(os.path.join(ROOT, "mia_course", "audit.py"), copy)
        (copy.parent / "__init__.py").write_text("")
        answer = f"COPY = {str(copy)!r}\n" + textwrap.dedent(answer)
    if name == "read the solutions notebook":
        answer = f"ROOTS = {ROOT!r}\n" + textwrap.dedent(answer)
    stop = None
    if name == "a helper process left by the kernel, through files":
        answer = f"MAILBOX = {str(tmp_path)!r}\n" + textwrap.dedent(answer)
        stop = _helper_left_by_the_kernel(tmp_path)  # it would answer with the reference
    program, calls, points = Program.from_notebook(ex12_program(answer)), graded_cell_calls(), []
    try:
        for _ in range(RUNS):
            reports = grade_cell(program, calls, timeout=3.0 if name == "never return" else 10.0)
            passed = len(reports) == len(calls) and all(r.passed for r in reports)
            points.append(3 * passed)
            message = " ".join(r.message for report in reports for r in report.results if not r.passed)
            assert "SyntaxError" not in message and "IndentationError" not in message, message  # fails for its reason
    finally:
        if stop is not None:
            stop.set()
    print(f"\n{name:55s} ex12_q1_tests [3] " + " ".join(map(str, points)) + f"   ({message[:120]})")
    assert points == [0] * RUNS, points


def test_a_forbidden_name_the_text_gives_is_refused_secret_rank(tripwire):
    """Issue 21, section 6: ex15 forbids `secret_rank` by name; the kernel's check and the
    isolated grader both refuse an answer that calls it."""
    from mia_course.grading import check
    from mia_course.language_attacks import secret_rank
    import math

    def exposure_from_scores(scores, secret_index):
        return math.log2(len(scores)) - math.log2(secret_rank(scores, secret_index))
    report = check("ex15_exposure", exposure_from_scores)
    assert not report.passed and "secret_rank" in report.results[0].message, report
    nb = nbformat.read(os.path.join(ROOT, "solutions", f"{EX15}.ipynb"), as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "ex15_q1_code":
            cell.source = ("from mia_course.language_attacks import secret_rank\n\n"
                           "def exposure_from_scores(scores, secret_index):\n"
                           "    return math.log2(len(scores)) - math.log2(secret_rank(scores, secret_index))\n")
    assert not check_isolated("ex15_exposure", Program.from_notebook(nb)).passed


def test_student_output_on_stderr_tqdm_and_logging_costs_nothing():
    answer = """
        import logging, sys
        import numpy as np
        from scipy.stats import binom
        from tqdm import tqdm
        logging.basicConfig()
        def one_run_bound(n_guesses, n_correct, confidence=0.95):
            print("debug", n_guesses, file=sys.stderr)
            logging.getLogger("me").warning("checking %d", n_correct)
            alpha, lo, hi = 1 - confidence, 0.0, 30.0
            tail = lambda eps: binom.sf(n_correct - 1, n_guesses, 1 / (1 + np.exp(-eps)))
            if tail(0.0) >= alpha:
                return 0.0
            for _ in tqdm(range(50)):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if tail(mid) < alpha else (lo, mid)
            return lo
        """
    report = isolated(answer)
    assert report.passed, report


def test_graded_calls_read_the_restored_graded_cell():
    nb = nbformat.read(os.path.join(ROOT, "solutions", f"{EX12}.ipynb"), as_version=4)
    sources = [c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "ex12_q1_tests"]
    calls = graded_calls(sources[0])
    assert [name for name, _ in calls] == ["ex12_one_run_bound"] * 2
    assert calls[1][1]["kind"] == "hidden" and len(calls[1][1]["cases"]) == 5


# ---- the kernel attacks, in a kernel, as nbgrader's autograde runs them -------------------
def _mini_notebook(answer=None):
    """ex12's question 1 alone: a light setup cell, the answer (default: the model answer), the
    graded cell with hidden tests."""
    nb = nbformat.read(os.path.join(ROOT, "solutions", f"{EX12}.ipynb"), as_version=4)
    graded = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "ex12_q1_tests")
    answer_cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "ex12_q1_code")
    if answer is not None:
        answer_cell.source = textwrap.dedent(answer)
    setup = nbformat.v4.new_code_cell("import numpy as np\nfrom scipy.stats import binom\n"
                                      "from mia_course.grading import assert_passes, check")
    out = nbformat.v4.new_notebook(metadata=nb.metadata)
    out.cells = [setup, answer_cell, graded]
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(KERNEL_ATTACKS))
def test_kernel_attacks_win_in_the_kernel_and_lose_in_autograde(name, tmp_path):
    from mia_course.grading.nbgrader_plugins import ExecuteToTheEnd, IsolatedGrading
    nb = _mini_notebook(KERNEL_ATTACKS[name])
    ExecuteToTheEnd(timeout=120).preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    graded = nb.cells[-1]
    assert determine_grade(graded)[0] == 3, f"{name}: the attack no longer works in the kernel"
    IsolatedGrading().preprocess(nb, {})
    assert determine_grade(graded)[0] == 0, graded.outputs


@pytest.mark.slow
def test_a_kernel_that_dies_fails_its_cell_not_the_autograde(tmp_path):
    from mia_course.grading.nbgrader_plugins import ExecuteToTheEnd, IsolatedGrading
    nb = _mini_notebook()  # the model answer, then a cell that ends the kernel's process
    nb.cells.insert(2, nbformat.v4.new_code_cell("import os\nos._exit(1)"))
    ExecuteToTheEnd(timeout=120).preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    assert nb.cells[2].outputs[-1].ename == "KernelDied"
    assert nb.cells[3].outputs[0].ename == "KernelDied"
    IsolatedGrading().preprocess(nb, {})
    assert "graded in a separate process" in nb.cells[3].outputs[0].text
    assert determine_grade(nb.cells[3])[0] == 3  # the function is right: graded, not lost with the kernel


# ---- issue 21, section 6: every name a notebook forbids is out of reach while grading ----------
def forbidden_names():
    """``{notebook: [name, ...]}``: the backticked names of each "Don't call ..." sentence."""
    import glob
    import re
    out = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "solutions", "*.ipynb"))):
        text = " ".join(c.source.replace("\n", " ") for c in nbformat.read(path, as_version=4).cells
                        if c.cell_type == "markdown")
        names = []
        for sentence in re.findall(r"[Dd]on't call (.*?)(?::|\.\s|$)", text):
            names += [n for n in re.findall(r"`([\w.]+)`", sentence) if not n.startswith("mia_course.") or
                      n.count(".") > 1]
        out[os.path.basename(path)[:-6]] = [n for n in names if not _is_module(n)]
    return out


def _is_module(name):
    import importlib.util
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _where(name):
    """The ``(module, attribute path)`` of a forbidden name in the course package."""
    import importlib
    import pkgutil
    import mia_course
    if name.startswith("mia_course."):
        module, _, attr = name.rpartition(".")
        return module, attr
    head = name.split(".")[0]
    for info in pkgutil.walk_packages(mia_course.__path__, "mia_course."):
        if ".grading" in info.name or info.name.endswith(("widgets", "cli")):
            continue
        module = importlib.import_module(info.name)
        if getattr(module, head, None) is not None and getattr(getattr(module, head), "__module__", "") == info.name:
            return info.name, name
    if hasattr(importlib.import_module("mia_course.grading.checks.ex08"), head):
        return "mia_course.grading.checks.ex08", name
    raise LookupError(name)


def test_every_forbidden_name_is_refused_in_the_grading_worker():
    from mia_course.grading.channel import Worker
    names = forbidden_names()
    assert "secret_rank" in names["ex15_language_models"] and len(names) == 15
    targets = sorted({_where(n) for ns in names.values() for n in ns})
    assert len(targets) >= 20
    probe = textwrap.dedent("""
        import importlib
        def probe(targets):
            reached = []
            for module, attr in targets:
                try:
                    obj = importlib.import_module(module)
                    for part in attr.split("."):
                        obj = getattr(obj, part)
                    reached.append(f"{module}:{attr}")
                except BaseException:
                    pass
            return reached
        """)
    worker = Worker(Program([probe]), "probe")
    try:
        assert worker.receive(90)["found"]
        import pickle
        worker.send(pickle.dumps((targets,)))
        reply = worker.receive(60)
    finally:
        worker.close()
    assert reply["status"] == "ok", reply
    assert reply["value"] == {"t": "list", "items": []}, reply  # not one of them reachable


def test_the_kernel_check_refuses_each_forbidden_function_it_can_name(tripwire):
    """In the kernel (teaching checks), the tripwire knows every forbidden *function* by its code
    object, or the function calls one it knows (checked by calling it through the tripwire)."""
    from mia_course.grading.engine import exercise_names, get_exercise
    from mia_course.grading.tripwire import reference_codes
    import importlib
    for notebook, names in forbidden_names().items():
        prefix = notebook[:4]
        codes = {}
        for ex in exercise_names():
            if ex.startswith(prefix):
                codes.update(reference_codes(get_exercise(ex)))
        for name in names:
            module, attr = _where(name)
            obj = importlib.import_module(module)
            for part in attr.split("."):
                obj = getattr(obj, part)
            methods = [obj] if not isinstance(obj, type) else [
                m for m in vars(obj).values() if hasattr(m, "__code__")]
            known = [m for m in methods if m.__code__ in codes]
            if not known:
                # a class or a wrapper (LiRA.score_samples, attack_summary, dp_sgd_step): its source
                # calls a reference the tripwire knows
                import inspect
                owner = getattr(importlib.import_module(module), attr.split(".")[0])  # a method: its class
                source = inspect.getsource(owner)
                known = [n for n in codes.values() if n.rsplit(".", 1)[-1] in source]
            assert known, f"{notebook}: the tripwire does not know `{name}`"


def test_a_file_read_in_a_librarys_own_c_code_is_not_seen_by_the_audit_hook():
    """A documented limit (docs/instructors.md, "does not guarantee"): the audit hook sees Python's
    file opening, not a library's own C code. ``torch.from_file`` reads the reference's source
    while grading, and a copy of it passes: no better than pasting the public source (plagiarism,
    the instructor's call), but the guide must not claim more. If this starts failing, the hole is
    closed: update the guide."""
    path = os.path.join(ROOT, "mia_course", "defenses", "dp_sgd.py")
    nb = nbformat.read(os.path.join(ROOT, "solutions", "ex09_differential_privacy.ipynb"), as_version=4)
    answer = textwrap.dedent(f"""
        import ast
        import torch
        _raw = torch.from_file({path!r}, shared=False, size={os.path.getsize(path)}, dtype=torch.uint8)
        _tree = ast.parse(bytes(_raw.tolist()).decode())
        _scope = {{"torch": torch, "Mapping": dict, "check_real": lambda value, *args, **kwargs: value}}
        exec(compile(ast.Module([n for n in _tree.body if getattr(n, "name", "") == "clip_per_sample"], []),
                     "copy", "exec"), _scope)
        def clip_gradients(grads, max_grad_norm):
            return _scope["clip_per_sample"](grads, max_grad_norm)[0]
        """)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "ex09_q1_code":
            cell.source = answer
    assert check_isolated("ex09_clip_per_sample", Program.from_notebook(nb)).passed
