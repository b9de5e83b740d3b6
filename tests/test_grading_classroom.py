"""A class of simulated students on ex05, ex12 and ex15, graded in isolation three times (issue 22).

Each student hands in the model solutions with one change: a named bug (each bug of
tests/test_grading_named_bugs.py, and two more) or an attack on the grader, in one answer cell.
``mia_course.grading.isolation.grade_cell`` grades each graded cell (public checks and the
hidden tests of solutions/, plus the edge cases, with fresh entropy per run) as
``IsolatedGrading`` does inside ``nbgrader autograde``. The honest student keeps full marks on
every run; every other student gets 0 for the function changed, and full marks for the others
(ex05: a bug in the first function does not cost the second), on every run. The students x
questions table is printed (``-s``).

Where each attack on the grader is graded: the attacks of tests/test_grading_isolation.py, one
student each, three runs each, in its ``test_each_attack_scores_zero_on_every_run`` (ex12's
question 1; the kernel attacks also in a real kernel with ``IsolatedGrading``, once each); six
kernel attacks through nbgrader's own autograde in tests/test_nbgrader_roundtrip.py (its
``cheating`` student); here, ``secret_rank`` (a name that ex15 forbids only in words).
"""
import os
import textwrap

import nbformat
import pytest

from mia_course.grading.isolation import Program, grade_cell, graded_calls

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = 3
NOTEBOOKS = {"ex05": "ex05_label_only", "ex12": "ex12_canary_audit", "ex15": "ex15_language_models"}
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
STUDENTS = {  # name: {answer cell grade_id: source}; honest everywhere else
    "honest": {},
    "ex05 q1 bug (own copies not counted)": {"ex05_q1_code": """
        def robustness_scores(model, X, y, copies):
            n_copies, n_rows, n_features = copies.shape
            labels = np.asarray(model.predict(copies.reshape(-1, n_features))).reshape(n_copies, n_rows)
            return (labels == np.asarray(y)).mean(axis=0)
        """},
    "bisection capped at 4": {"ex12_q1_code": CAPPED_BISECTION.replace("CAP", "4.0")},
    "bisection capped at 8": {"ex12_q1_code": CAPPED_BISECTION.replace("CAP", "8.0")},
    "ex12 q2: 0/1 with ~": {"ex12_q2_code": """
        def one_run_guesses(scores, is_in, n_guesses):
            order, half = np.argsort(-np.asarray(scores)), n_guesses // 2
            is_in = np.asarray(is_in)
            return 2 * half, int(is_in[order[:half]].sum() + (~is_in[order[len(order) - half:]]).sum())
        """},
    "rank by stable sort position": {"ex15_q1_code": """
        def exposure_from_scores(scores, secret_index):
            order = np.argsort(-np.asarray(scores), kind="stable")
            rank = int(np.flatnonzero(order == secret_index)[0]) + 1
            return math.log2(len(scores)) - math.log2(rank)
        """},
    "rank by default sort position": {"ex15_q1_code": """
        def exposure_from_scores(scores, secret_index):
            order = np.argsort(-np.asarray(scores))
            rank = int(np.flatnonzero(order == secret_index)[0]) + 1
            return math.log2(len(scores)) - math.log2(rank)
        """},
    "rank by reversed ascending sort": {"ex15_q1_code": """
        def exposure_from_scores(scores, secret_index):
            order = np.argsort(np.asarray(scores), kind="stable")[::-1]
            rank = int(np.flatnonzero(order == secret_index)[0]) + 1
            return math.log2(len(scores)) - math.log2(rank)
        """},
    "ex15: secret_rank": {"ex15_q1_code": """
        from mia_course.language_attacks import secret_rank
        def exposure_from_scores(scores, secret_index):
            return math.log2(len(scores)) - math.log2(secret_rank(scores, secret_index))
        """},
    "int(k n) + 1 tokens": {"ex15_q2_code": """
        def min_k_percent(token_log_probs, k):
            return np.array([np.sort(lp)[:int(k * len(lp)) + 1].mean() for lp in token_log_probs])
        """},
}


def handed_in(student, notebook):
    nb = nbformat.read(os.path.join(ROOT, "solutions", f"{notebook}.ipynb"), as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in STUDENTS[student]:
            cell.source = textwrap.dedent(STUDENTS[student][gid])
    return nb


def graded_cells(nb):
    return [(c.metadata["nbgrader"]["grade_id"], c.metadata["nbgrader"]["points"], graded_calls(c.source))
            for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
            and not c.metadata["nbgrader"].get("solution")]


@pytest.mark.slow
def test_a_class_graded_three_times():
    table, wrong = {}, []
    for student, answers in STUDENTS.items():
        changed = {gid.split("_")[0] for gid in answers}
        for short, notebook in NOTEBOOKS.items():
            if student != "honest" and short not in changed:
                continue  # the other notebooks are the honest student's
            nb = handed_in(student, notebook)
            program = Program.from_notebook(nb)
            for gid, points, calls in graded_cells(nb):
                attacked = gid.replace("_tests", "_code") in answers
                got = [points * (len(reports) == len(calls) and all(r.passed for r in reports))
                       for reports in (grade_cell(program, calls) for _ in range(RUNS))]
                table[student, gid] = got
                want = 0 if attacked else points
                if got != [want] * RUNS:
                    wrong.append((student, gid, got, want))
    print()
    for (student, gid), got in table.items():
        print(f"{student:38s} {gid:15s} " + " ".join(f"{g:g}" for g in got))
    assert not wrong, wrong
