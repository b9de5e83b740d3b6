"""The slow test: the instructors' guide, run as written, for a simulated class.

The nbgrader blocks of docs/instructors.md (those marked ``<!-- run: classroom -->``) run in
order, as one bash script, in a temporary ``$HOME`` where ``~/mia-course`` is this repository.
Canvas's gradebook export (``~/Downloads/canvas_gradebook.csv``) is the roster: the students below
and one (``ABSENT``) who hands in nothing. They hand in through an LMS download
(``~/Downloads/submissions.zip``, Canvas file names, one late, one resubmitted):

- ``untouched``: the notebooks as ``mia-course lessons`` gives them (``exercises/``);
- ``correct``: the solutions' code, and a written answer for each question; they deleted the
  graded cell of ex09's question 1 (autograde puts it back);
- ``buggy``: correct except one bug in each of ex02 (question 2) and ex09 (question 2);
- ``delegating``: ex02 and ex09 answered by calling the package's own references;
- ``cheating``: hands in ex02, ex09 and ex12 only, each graded function a wrong answer behind an
  attack on the grader in the student's own kernel (``CHEATS``: a patched ``check``,
  ``Report.passed``, a redefined ``assert_passes``, an input transformer, the expected value
  read from the grader's stack frame, the tripwire switched off); each scores 0;
- one student per attack on the grader and per named bug of ``tests/grading_cases.py`` (the
  table the isolation and named-bug tests read; ``CASES``), each handing in the one notebook its
  case is in: the model answers with the case in its answer cell. Each scores 0 for the function
  attacked (both functions of its notebook where the attack ends every process that runs its cell
  at the top level) and full marks for the other. A notebook carries two cases only where they
  cannot interfere, one per function: each function is graded in a worker of its own, and the
  two cases act only inside their own function or cell (two pairs of bugs, ``PACKED``; seven
  pairs of attacks, ``PACKED_ATTACKS``); every attack on the whole process (patches, an input
  transformer, threads, ``sys.settrace``, ``ctypes``, ``os.fork``, ``os._exit``) is alone. These
  students hand in their notebook trimmed to what grading reads: every nbgrader cell, and of the
  lesson's other code cells only the first cell's imports that these cells use (``trimmed``). A
  student may delete unlocked cells; autograde restores the graded ones, and it keeps each of
  these 31 notebooks at about a second of kernel time (ex12's and ex15's full setups train
  models: 7 and 20 s), which the isolation tests' three grade_cell runs per attack, no longer
  needed, pay for.

Between autograde and feedback the test grades the written answers as the formgrader would
(``MANUAL``; the delegating student's stay ungraded). Then: the per-question scores of the
guide's export, the roster's names in it, Canvas's gradebook import file (a total only where
nothing waits for grading), each exercise's run time (untouched and correct students, against
the notebooks' budget), feedback without hidden test code or paths, checksum warnings only for graded cells with hidden tests, and nbgrader's release equal
to ``exercises/``. ``untouched`` and ``correct`` hand in every exercise (a full round trip:
every solution earns full marks, every untouched notebook zero); ``MIA_ROUNDTRIP_QUICK=1``
limits them to ex02 and ex09. Deselect with ``-m "not slow"``.
"""
import ast
import csv
import html
import importlib.util
import os
import re
import subprocess
import sys
import time
import zipfile
from datetime import datetime
from pathlib import Path

import nbformat
import pytest
from grading_cases import ATTACKS, KERNEL_ATTACKS, hand_ins, prepare_home

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "instructors.md"
ASSIGNMENT = "mia_exercises"
TIMEOUT_S = 1800  # the whole guide; measured on a busy 2-core machine: 535 s wall (every exercise)
SOLUTIONS = sorted(p.stem for p in (ROOT / "solutions").glob("*.ipynb"))
TWO = ["ex02_threshold_attacks", "ex09_differential_privacy"]
EVERY = TWO if os.environ.get("MIA_ROUNDTRIP_QUICK") else SOLUTIONS
STUDENTS = {  # student id: (Canvas name, kind, notebooks handed in, late, resubmitted notebook)
    "1001": ("ullauntouched", "untouched", EVERY, False, None),
    "1002": ("coracorrect", "correct", EVERY, True, None),
    "1003": ("bobbuggy", "buggy", TWO, False, "ex09_differential_privacy"),
    "1004": ("dandelegating", "delegating", TWO, False, None),
    "1005": ("carlcheating", "cheating", TWO + ["ex12_canary_audit"], False, None),
}
BUGS = {  # grade_id: (right, wrong): one bug per notebook
    "ex02_q2_code": ("flagged[~members].mean() <= fpr", "flagged[~members].mean() < fpr"),
    "ex09_q2_code": ("/ expected_batch_size", "/ len(g)"),
}
DELEGATED = {  # grade_id: an answer that calls the package's reference
    "ex02_q1_code": "from mia_course.attacks import LossThresholdAttack\n\n"
                    "def loss_threshold_scores(model, X, y):\n"
                    "    return LossThresholdAttack().score_samples(model, X, y)",
    "ex02_q2_code": "import mia_course.metrics\n\n"
                    "def tpr_at_fpr(is_member, scores, fpr):\n"
                    "    return mia_course.metrics.tpr_at_fpr(is_member, scores, fpr)",
    "ex09_q1_code": "from mia_course.defenses.dp_sgd import clip_per_sample as clip\n\n"
                    "def clip_gradients(grads, max_grad_norm):\n"
                    "    return clip(grads, max_grad_norm)[0]",
    "ex09_q2_code": "from mia_course.defenses import dp_sgd\n\n"
                    "def noisy_gradient(clipped, max_grad_norm, noise_multiplier, expected_batch_size,\n"
                    "                   generator=None):\n"
                    "    return dp_sgd.noisy_gradient(clipped, max_grad_norm, noise_multiplier, expected_batch_size,\n"
                    "                                 generator=generator)",
}
CHEATS = {  # grade_id: (attack on the grader in the student's kernel, then a wrong answer): each scores 0
    "ex02_q1_code": ("patched engine.check", "import mia_course.grading.engine as engine\n"
                     "_real = engine.check\n\n"
                     "def _always(name, obj, **kwargs):\n"
                     "    report = _real(name, obj, **kwargs)\n"
                     "    for result in report.results:\n"
                     "        result.passed = True\n"
                     "    return report\n\n"
                     "engine.check = _always\n\n"
                     "def loss_threshold_scores(model, X, y):\n"
                     "    return np.zeros(len(y))"),
    "ex02_q2_code": ("Report.passed = True", "from mia_course.grading.engine import Report\n"
                     "Report.passed = property(lambda self: True)\n\n"
                     "def tpr_at_fpr(is_member, scores, fpr):\n"
                     "    return 1.0"),
    "ex09_q1_code": ("redefined assert_passes", "def assert_passes(*args, **kwargs):\n"
                     "    print('Hidden checks passed')\n\n"
                     "def clip_gradients(grads, max_grad_norm):\n"
                     "    return grads"),
    "ex09_q2_code": ("input transformer that swallows AssertionError",
                     "def noisy_gradient(clipped, max_grad_norm, noise_multiplier, expected_batch_size,\n"
                     "                   generator=None):\n"
                     "    return {name: g.sum(dim=0) for name, g in clipped.items()}\n\n"
                     "def _swallow(lines):\n"
                     "    body = ''.join(lines)\n"
                     "    return (['try:\\n'] + ['    ' + line for line in body.splitlines(True)]\n"
                     "            + ['\\nexcept AssertionError:\\n    pass\\n'])\n\n"
                     "get_ipython().input_transformers_cleanup.append(_swallow)"),
    "ex12_q1_code": ("expected value from the grader's stack frame", "import sys\n\n"
                     "def one_run_bound(n_guesses, n_correct, confidence=0.95):\n"
                     "    frame = sys._getframe(1)\n"
                     "    while frame is not None:\n"
                     "        ctx = frame.f_locals.get('context')\n"
                     "        if isinstance(ctx, dict) and ctx.get('n') == n_guesses and ctx.get('v') == n_correct:\n"
                     "            return ctx['ref']\n"
                     "        frame = frame.f_back\n"
                     "    return 0.0"),
    "ex12_q2_code": ("tripwire switched off, the reference called", "from mia_course.grading import tripwire\n"
                     "from mia_course import canaries\n"
                     "tripwire._allowed[0] = True\n\n"
                     "def one_run_guesses(scores, is_in, n_guesses):\n"
                     "    return canaries.one_run_guesses(scores, is_in, n_guesses)"),
}
ABSENT = "1006"  # on the roster, hands in nothing
NAMES = {"1001": "Untouched, Ulla", "1002": "Correct, Cora", "1003": "Buggy, Bob", "1004": "Delegating, Dan",
         "1005": "Cheating, Carl", ABSENT: "Absent, Abe"}  # Canvas's "Student" column
CASES = {}  # student id: (case names, {answer cell: source}, {graded cell that must score 0})
# MIA_ROUNDTRIP_CASES=START:STOP hands in only those cases (to split a run on a busy machine)
_SPLIT = slice(*(int(x) if x else None for x in os.environ.get("MIA_ROUNDTRIP_CASES", ":").split(":")))
for _k, (_names, _notebook, _answers, _zeros) in list(enumerate(hand_ins()))[_SPLIT]:
    _sid = str(1101 + _k)
    STUDENTS[_sid] = (f"case{_k + 1:02d}", "case", [_notebook], False, None)
    NAMES[_sid] = f"Case{_k + 1:02d}, " + ("Bug" if _names[0] not in ATTACKS else "Attack")
    CASES[_sid] = (_names, _answers, _zeros)
MANUAL = {"correct": "full", "buggy": 1, "cheating": 0, "case": 1}  # the written answers' points in the formgrader
# (the delegating student's answers stay ungraded: the export says so, Canvas gets no grade)
FORMGRADER = """
from nbgrader.api import Gradebook
manual = {manual!r}
with Gradebook("sqlite:///gradebook.db", course_id="mia-course") as gb:
    for sid, points in manual.items():
        for nb in gb.find_submission("mia_exercises", sid).notebooks:
            for grade in nb.grades:
                if grade.needs_manual_grade:
                    grade.manual_score = grade.max_score if points == "full" else points
                    grade.needs_manual_grade = False  # what the formgrader does when it saves a score
    gb.db.commit()
"""
DELETED = "ex09_q1_tests"  # the correct student deleted this graded cell
# slow, and not `timed`: `make test` runs it beside the other untimed tests (first, being the longest);
# its exercise budget is then measured next to one busy worker, which can only fail a slow
# exercise sooner, never pass one (the slowest exercise took 25 s on a busy machine, of 60 s)
pytestmark = pytest.mark.slow


def guide_blocks():
    """The bash blocks of the guide marked ``<!-- run: classroom -->``, in order."""
    return re.findall(r"<!-- run: classroom -->\n```bash\n(.*?)```", GUIDE.read_text(), re.S)


def _grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def trimmed(nb):
    """``nb`` with every nbgrader cell and, of its other code cells, only the first one's imports of
    names that these cells use (what grading reads: the answers, the graded cells, the imports the
    answers use; not the lesson's setup, whose imports alone take seconds: torch, the course's models)."""
    first = next(c for c in nb.cells if c.cell_type == "code")
    nb.cells = [c for c in nb.cells if c is first or "nbgrader" in c.metadata]
    used = set(re.findall(r"\w+", " ".join(c.source for c in nb.cells if c is not first)))
    kept = []
    for node in ast.parse(first.source).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            node.names = [a for a in node.names if (a.asname or a.name.split(".")[0]) in used]
            kept += [ast.unparse(node)] if node.names else []
    first.source = "\n".join(kept)
    return nb


def student_notebook(name, kind, sid=None):
    """What student ``sid`` of ``kind`` hands in for exercise ``name``: their copy of exercises/
    with the answer cells filled in."""
    nb = nbformat.read(ROOT / "exercises" / f"{name}.ipynb", as_version=4)
    if kind == "untouched":
        return nb
    model = {_grade_id(c): c for c in nbformat.read(ROOT / "solutions" / f"{name}.ipynb", as_version=4).cells}
    for cell in nb.cells:
        gid = _grade_id(cell)
        if not cell.metadata.get("nbgrader", {}).get("solution"):
            continue
        if cell.cell_type == "markdown":
            cell.source = "My answer: the attack's AUC averages over every threshold, while ..."
            continue
        source = "\n".join(line for line in model[gid].source.split("\n") if "### " not in line)
        if kind == "buggy" and gid in BUGS:
            right, wrong = BUGS[gid]
            assert right in source, (gid, right)
            source = source.replace(right, wrong)
        if kind == "delegating" and gid in DELEGATED:
            source = DELEGATED[gid]
        if kind == "cheating" and gid in CHEATS:
            source = CHEATS[gid][1]
        if kind == "case":
            source = CASES[sid][1].get(gid, source)
        cell.source = source
    if kind == "correct" and name == "ex09_differential_privacy":
        nb.cells = [c for c in nb.cells if _grade_id(c) != DELETED]
    return trimmed(nb) if kind == "case" else nb


def canvas_export(path):
    """Canvas's gradebook export (Grades -> Export): the class, the roster of the guide."""
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Quiz 1 (101)"])
        writer.writerow(["    Points Possible", "", "", "", "", "10"])
        for sid, name in NAMES.items():
            writer.writerow([name, sid, f"s{sid}", f"{name.split(', ')[1].lower()}@uni.example", "MIA 1", "7"])


def lms_download(path):
    """The LMS's bulk download: one flat zip, ``<name>_[LATE_]<id>_<submission>_<notebook>[-N].ipynb``."""
    with zipfile.ZipFile(path, "w") as archive:
        for k, (sid, (name, kind, notebooks, late, resubmitted)) in enumerate(STUDENTS.items()):
            for j, notebook in enumerate(notebooks):
                suffix = "-1" if notebook == resubmitted else ""
                filename = f"{name}_{'LATE_' if late else ''}{sid}_{5000 + 100 * k + j}_{notebook}{suffix}.ipynb"
                archive.writestr(filename, nbformat.writes(student_notebook(notebook, kind, sid)))


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    pytest.importorskip("nbgrader", reason="nbgrader is not installed (pip install -e '.[dev]')")
    home = tmp_path_factory.mktemp("home")
    (home / "mia-course").symlink_to(ROOT)
    (home / "Downloads").mkdir()
    lms_download(home / "Downloads" / "submissions.zip")
    canvas_export(home / "Downloads" / "canvas_gradebook.csv")
    (home / "formgrader.py").write_text(FORMGRADER.format(manual={sid: MANUAL[kind] for sid, (_, kind, *_)
                                                                  in STUDENTS.items() if kind in MANUAL}))
    blocks = guide_blocks()
    assert len(blocks) >= 5 and any("zip_collect" in b for b in blocks) and any("export" in b for b in blocks)
    # the instructor grades the written answers in the formgrader between autograde and feedback
    blocks = [("python ~/formgrader.py  # (the test's formgrader)\n" if "generate_feedback" in b else "") + b
              for b in blocks]
    assert sum("formgrader.py" in b for b in blocks) == 1
    script = "set -e\n" + "\n".join(f"echo '=== guide block {i}' >&2\n{b}" for i, b in enumerate(blocks))
    env = dict(os.environ, HOME=str(home), PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    env.pop("COURSE", None), env.pop("REPO", None)
    helper = prepare_home(home)  # what some attacks expect under $HOME, and a helper left by a kernel
    start = time.perf_counter()
    try:
        done = subprocess.run(["bash", "-c", script], cwd=home, env=env, capture_output=True, text=True,
                              timeout=TIMEOUT_S)
    finally:
        helper.set()
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-20000:]
    print(f"\nthe guide's commands took {time.perf_counter() - start:.0f} s")
    return home / "mia-grading", log


def scores(course):
    """``{student id: {column: value}}`` from the guide's per-question export."""
    with open(course / "grades_per_question.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {row["student_id"]: row for row in rows if row["assignment"] == ASSIGNMENT}


def question_columns(notebook):
    """``{grade_id: (column, points, written)}`` of ``notebook``'s graded cells."""
    out = {}
    for cell in nbformat.read(ROOT / "solutions" / f"{notebook}.ipynb", as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            out[meta["grade_id"]] = (f"{notebook}/{meta['grade_id']} [{meta['points']:g}]", meta["points"],
                                     cell.cell_type == "markdown")
    return out


def expected_score(kind, grade_id, points, written, sid=None):
    if kind == "untouched":
        return "0"
    if written:
        manual = MANUAL.get(kind)
        return "ungraded" if manual is None else f"{points if manual == 'full' else manual:g}"
    if kind == "buggy" and grade_id.replace("_tests", "_code") in BUGS:
        return "0"
    if kind == "delegating" and grade_id.replace("_tests", "_code") in DELEGATED:
        return "0"
    if kind == "cheating" and grade_id.replace("_tests", "_code") in CHEATS:
        return "0"
    if kind == "case" and grade_id in CASES[sid][2]:
        return "0"
    return f"{points:g}"


def test_the_collected_class_gets_the_scores_it_deserves_per_question(classroom):
    course, log = classroom
    table = scores(course)
    assert set(table) == set(STUDENTS) | {ABSENT}
    assert {sid: f"{row['last_name']}, {row['first_name']}" for sid, row in table.items()} == NAMES  # the roster
    assert table[ABSENT]["score"] == "0" and {table[ABSENT][c] for c in table[ABSENT] if "/" in c} == {"not submitted"}
    print()
    wrong = []
    for sid, (_, kind, notebooks, _, _) in STUDENTS.items():
        for notebook in SOLUTIONS:
            for gid, (column, points, written) in question_columns(notebook).items():
                want = expected_score(kind, gid, points, written, sid) if notebook in notebooks else "0"
                if table[sid][column] != want:
                    wrong.append((sid, kind, CASES.get(sid, ("",))[0], column, table[sid][column], want))
                if notebook in notebooks and not (kind in ("untouched", "correct") and notebook not in TWO):
                    attack = CHEATS.get(gid.replace("_tests", "_code"), ("",))[0] if kind == "cheating" else ""
                    attack = " + ".join(CASES[sid][0]) if kind == "case" else attack
                    print(f"{kind:10s} {sid} {column:45s} {table[sid][column]:9s} {attack}")
        print(f"{kind:10s} {sid} total {table[sid]['score']} of {table[sid]['max_score']}, "
              f"ungraded {table[sid]['ungraded']}")
    assert not wrong, wrong
    assert "Skipped submission" not in log
    for sid, (_, _, notebooks, _, _) in STUDENTS.items():
        assert sorted(p.stem for p in (course / "submitted" / sid / ASSIGNMENT).glob("*.ipynb")) == sorted(notebooks)
    restored = nbformat.read(course / "autograded" / "1002" / ASSIGNMENT / "ex09_differential_privacy.ipynb",
                             as_version=4)
    assert DELETED in [_grade_id(c) for c in restored.cells], "autograde puts a deleted graded cell back"


def test_autograde_warns_about_checksums_only_where_it_restores_hidden_tests(classroom):
    course, log = classroom
    changed = set(re.findall(r"Attribute 'checksum' for cell (\w+) has changed", log))
    with_hidden = {gid for name in SOLUTIONS for gid, cell in
                   ((_grade_id(c), c) for c in nbformat.read(ROOT / "solutions" / f"{name}.ipynb", as_version=4).cells)
                   if gid and "BEGIN HIDDEN TESTS" in cell.source}
    assert changed and changed <= with_hidden


def hidden_lines(notebook):
    """The lines of the hidden tests of ``notebook`` (markers excluded), whitespace-normalized."""
    out = []
    for cell in nbformat.read(ROOT / "solutions" / f"{notebook}.ipynb", as_version=4).cells:
        inside = False
        for line in cell.source.split("\n"):
            if "BEGIN HIDDEN TESTS" in line or "END HIDDEN TESTS" in line:
                inside = "BEGIN" in line
            elif inside and line.strip():
                out.append(" ".join(line.split()))
    return out


def test_feedback_shows_hidden_reports_but_no_hidden_code_cases_or_paths(classroom):
    course, _ = classroom
    for sid, (_, kind, notebooks, _, _) in STUDENTS.items():
        for notebook in notebooks:
            page = (course / "feedback" / sid / ASSIGNMENT / f"{notebook}.html").read_text()
            text = " ".join(html.unescape(re.sub(r"<[^>]+>", "", page)).split())
            autograded = " ".join(nbformat.writes(nbformat.read(
                course / "autograded" / sid / ASSIGNMENT / f"{notebook}.ipynb", as_version=4)).split())
            secret = hidden_lines(notebook)
            assert secret and all(line.replace('"', '\\"') in autograded for line in secret), "nothing to hide?"
            assert not [line for line in secret if line in text], (sid, notebook)
            assert "hidden tests: not shown" in text
            for path in (course.parent, ROOT, Path(sys.prefix)):
                assert str(path) not in page, (sid, notebook, path)
            if kind == "correct":
                assert "Hidden checks passed" in text
            if kind == "delegating" and notebook in TWO:
                assert "asks for your own code" in text


def test_nbgrader_release_equals_exercises_folder(classroom):
    """generate_assignment and `make exercises` write the same cells (nbgrader adds checksums,
    our release adds the raises-exception tags for nbval)."""
    course, _ = classroom
    for path in sorted((ROOT / "exercises").glob("*.ipynb")):
        ours = nbformat.read(path, as_version=4)
        theirs = nbformat.read(course / "release" / ASSIGNMENT / path.name, as_version=4)
        assert [c.source for c in ours.cells] == [c.source for c in theirs.cells], path.name
        for a, b in zip(ours.cells, theirs.cells):
            meta_b = dict(b.metadata)
            if "nbgrader" in meta_b:
                meta_b["nbgrader"] = {k: v for k, v in b.metadata.nbgrader.items()
                                      if k not in ("checksum", "cell_type")}
            assert {k: v for k, v in a.metadata.items() if k != "tags"} == meta_b, (path.name, a.id)


def notebook_budget_s():
    """``NOTEBOOK_BUDGET_S`` of the repository's conftest.py (the budget of every notebook)."""
    spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.NOTEBOOK_BUDGET_S


def run_seconds(path):
    """How long the student's kernel ran the autograded notebook ``path``: from the first cell's
    start to the last cell's reply, as nbclient recorded them (``metadata.execution``)."""
    starts, ends = [], []
    for cell in nbformat.read(path, as_version=4).cells:
        stamps = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in stamps and "shell.execute_reply" in stamps:
            starts.append(datetime.fromisoformat(stamps["iopub.execute_input"]))
            ends.append(datetime.fromisoformat(stamps["shell.execute_reply"]))
    assert starts, f"{path}: no execution times recorded"
    return (max(ends) - min(starts)).total_seconds()


def test_each_exercise_runs_within_the_notebook_budget(classroom):
    """With `make test` no longer running solutions/ and exercises/ under nbval, this is where their
    run time is measured: the untouched student's notebooks are exercises/, the correct student's
    the solutions (hidden tests included). The table is printed (``-s``)."""
    course, _ = classroom
    budget = notebook_budget_s()
    kinds = {"untouched": "1001", "correct": "1002"}
    times = {kind: {nb: run_seconds(course / "autograded" / sid / ASSIGNMENT / f"{nb}.ipynb") for nb in EVERY}
             for kind, sid in kinds.items()}
    print(f"\n{'exercise':28s} {'untouched s':>12s} {'correct s':>10s}")
    for nb in EVERY:
        print(f"{nb:28s} {times['untouched'][nb]:12.1f} {times['correct'][nb]:10.1f}")
    slow = {(kind, nb): round(t, 1) for kind, row in times.items() for nb, t in row.items() if t > budget}
    assert not slow, f"exercises over the {budget:.0f} s budget: {slow}"


def test_canvas_gets_each_graded_total_and_no_grade_where_answers_wait(classroom):
    course, log = classroom
    table = scores(course)
    with open(course / "canvas_grades.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "MIA exercises"]
    assert rows[1][0].strip() == "Points Possible" and rows[1][5] == table["1001"]["max_score"]
    got = {row[1]: row for row in rows[2:]}
    assert set(got) == set(NAMES)
    for sid, row in got.items():
        assert row[:5] == [NAMES[sid], sid, f"s{sid}", f"{NAMES[sid].split(', ')[1].lower()}@uni.example", "MIA 1"]
        waiting = sid == ABSENT or table[sid]["ungraded"] != "0"
        assert row[5] == ("" if waiting else table[sid]["score"]), (sid, row, table[sid])
    assert got["1004"][5] == "" and "Delegating, Dan (1004): written answers still to grade" in log
    assert "Absent, Abe (1006): no submission" in log
    assert float(got["1002"][5]) > 0 and got["1001"][5] == "0"
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="mia-course") as gb:
        assert gb.find_assignment(ASSIGNMENT).duedate is not None  # the guide set it
        late = gb.find_submission(ASSIGNMENT, "1002")  # LATE_ in Canvas's file names, no timestamp
        assert late.timestamp is None and not late.late_submission_penalty  # (the guide says so)


def test_a_kernel_that_dies_costs_its_student_only_what_it_ran_with_the_reason(classroom):
    """Issue 22: a notebook that ends its kernel does not stop the autograde (the class is graded,
    the export has every student), and its student's feedback says why each point was lost."""
    course, log = classroom
    died = {sid: names[0] for sid, (names, _, _) in CASES.items()
            if names[0] in ("end the worker at import", "end the worker during a case")}
    if not died:
        pytest.skip("MIA_ROUNDTRIP_CASES leaves out the students whose kernel dies")
    assert "the kernel died in cell" in log
    for sid, name in died.items():
        notebook = STUDENTS[sid][2][0]
        page = (course / "feedback" / sid / ASSIGNMENT / f"{notebook}.html").read_text()
        text = " ".join(html.unescape(re.sub(r"<[^>]+>", "", page)).split())
        assert "the kernel died" in text, (sid, name)  # in the cell that ended it, or the first not run
        assert "the grader's worker process" in text, (sid, name)  # the graded cell's reason, in words


def test_each_kernel_attack_wins_in_the_kernel_and_loses_the_points(classroom):
    """Each attack on the checks in the student's kernel is real: autograde's kernel run of its
    graded cell passed, and ``IsolatedGrading`` says so (a warning naming the student) while the
    cell scores 0 (the first test); no honest student is flagged."""
    course, log = classroom
    flagged = set(re.findall(r"(\w+) of student (\d+): the checks in your notebook's kernel passed", log))
    attacks = {sid: names[0] for sid, (names, _, _) in CASES.items() if names[0] in KERNEL_ATTACKS}
    if not attacks:
        pytest.skip("MIA_ROUNDTRIP_CASES leaves out the kernel attacks")
    assert not [name for sid, name in attacks.items() if ("ex12_q1_tests", sid) not in flagged]
    assert not {sid for _, sid in flagged if STUDENTS[sid][1] in ("correct", "buggy")}
