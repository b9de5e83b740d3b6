"""Isolated grading (issue 22), what nbgrader's round trip does not reach.

The attacks on the grader (``tests/grading_cases.py``: what a motivated student could write in an
answer cell to earn points without the right code) are graded where they count, each as a student
of tests/test_nbgrader_roundtrip.py, through nbgrader's real ``autograde``: each scores 0 there for
the function it attacks, and each attack on the checks in the kernel is shown to pass in the
kernel (``IsolatedGrading`` flags the cell). Here: a kernel that dies; the honest answer; a name
forbidden in words only; stderr, tqdm and logging; every forbidden name out of the worker's
reach; and the documented limit.
"""
import os
import textwrap

import nbformat
import pytest
from nbgrader.utils import determine_grade

from mia_course.grading.isolation import Program, check_isolated, graded_calls

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EX12, EX15 = "ex12_canary_audit", "ex15_language_models"

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


# ---- a kernel that dies, as nbgrader's autograde runs it --------------------------------
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
