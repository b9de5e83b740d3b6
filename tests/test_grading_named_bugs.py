"""A subtle bug never passes by luck (issue 22): each named bug, graded as the graded cell grades
it (public checks, then the notebook's hidden cases plus the exercise's ``edge_cases``), over
many runs with fresh cases, passes 0 times; the model answer passes every time.

The edge cases make this a certainty rather than a rate: each one forces its bug to show
whatever the random draw (a bound of about 6.5 and 10.4 for a bisection capped at 4; a secret
tied with others at the first and at the last index of its group, so that any ranking by sort
position puts it ahead of a tie; texts whose length times k is a whole number). The test
checks that the edge case alone fails the bug in every run, then counts whole runs.
"""
import math

import numpy as np
import pytest
from grading_cases import BUGS as CASES
from grading_cases import CAPPED_BISECTION, bug_function, defined_function

from mia_course.grading import check, get_exercise

RUNS = 200
HIDDEN = {  # the hidden cases of the graded cells of solutions/ (ex12, ex15)
    "ex12_one_run_bound": [{"kind": "none"}, {"kind": "all", "n": 5}, {"kind": "most", "n": 1000},
                           {"kind": "coin", "confidence": 0.99}, {"confidence": 0.8}],
    "ex15_exposure": [{"where": "worst"}, {"n_candidates": 10_000}, {"ties": True, "where": "best"}],
    "ex15_min_k": [{"short": True}, {"n_texts": 1}, {"k": 0.05}],
}


# the model answer: the same bisection as the capped bug, over the whole range it needs
bound_right = defined_function(CAPPED_BISECTION.replace("CAP", "30.0"))


def exposure_right(scores, secret_index):
    scores = np.asarray(scores, dtype=float)
    return math.log2(len(scores)) - math.log2(int(np.sum(scores >= scores[secret_index])))


def min_k_right(token_log_probs, k):
    return np.array([np.sort(lp)[:max(1, math.ceil(k * len(lp)))].mean() for lp in token_log_probs])


# the named bugs of the graded functions with hidden cases here (tests/grading_cases.py, which the
# round trip also hands in, one student each)
BUGS = {name: (exercise, bug_function(name)) for name, (exercise, _, _) in CASES.items() if exercise in HIDDEN}
RIGHT = {"ex12_one_run_bound": bound_right, "ex15_exposure": exposure_right, "ex15_min_k": min_k_right}


def graded_run(exercise, fn):
    """One grade of ``fn``, as the graded cell computes it: public and hidden checks both pass."""
    return (check(exercise, fn).passed
            and check(exercise, fn, kind="hidden", cases=HIDDEN[exercise]).passed)


@pytest.mark.parametrize("name", sorted(BUGS))
def test_each_edge_case_catches_its_bug_every_time(name):
    exercise, fn = BUGS[name]
    edges = get_exercise(exercise).edge_cases
    for seed in range(RUNS):
        report = check(exercise, fn, kind="hidden", cases=[], seed=seed)  # the edge cases alone
        assert not report.passed, f"{name} passed the edge cases at seed {seed}"
    assert len(edges) >= 2


@pytest.mark.parametrize("name", sorted(BUGS))
def test_named_bug_passes_zero_of_many_runs(name):
    exercise, fn = BUGS[name]
    passes = sum(graded_run(exercise, fn) for _ in range(RUNS))
    print(f"{name}: {passes} passes in {RUNS} runs")
    assert passes == 0


@pytest.mark.parametrize("exercise", sorted(RIGHT))
def test_the_right_answer_passes_every_run(exercise):
    assert all(graded_run(exercise, RIGHT[exercise]) for _ in range(50))


# ---- issue 21, section 6: hints point at the real cause -----------------------------------
def test_ex12_point_estimate_gets_the_point_estimate_hint():
    def point_estimate(n_guesses, n_correct, confidence=0.95):
        if 0 < n_correct < n_guesses:
            return math.log(n_correct / (n_guesses - n_correct))
        return 0.0
    report = check("ex12_one_run_bound", point_estimate, cases=[{"kind": "most"}], seed=0)
    assert not report.passed and "point estimate" in report.results[0].message, report


def test_ex12_integer_membership_gets_the_0_1_hint():
    def with_tilde(scores, is_in, n_guesses):
        order, half, is_in = np.argsort(-np.asarray(scores)), n_guesses // 2, np.asarray(is_in)
        return 2 * half, int(is_in[order[:half]].sum() + (~is_in[order[len(order) - half:]]).sum())
    report = check("ex12_one_run_guesses", with_tilde, cases=[{"as_int": True}], seed=0)
    assert not report.passed and "0/1 integers" in report.results[0].message, report
    assert check("ex12_one_run_guesses", with_tilde, cases=[{}], seed=0).passed  # booleans: right


def test_ex15_ragged_array_gets_the_different_lengths_hint():
    def stacked(token_log_probs, k):
        lp = np.sort(np.array(token_log_probs), axis=1)
        return lp[:, :max(1, math.ceil(k * lp.shape[1]))].mean(axis=1)
    report = check("ex15_min_k", stacked, cases=[{}], seed=0)
    assert not report.passed and "different lengths" in report.results[0].message, report


def test_ex15_int_plus_one_gets_its_own_hint():
    report = check("ex15_min_k", BUGS["int(k * n) + 1 tokens"][1], cases=[{"k": 0.25, "exact": True}], seed=0)
    assert not report.passed and "one too many" in report.results[0].message, report


# ---- ex05: each function graded on its own -------------------------------------------------
def test_a_bug_in_ex05s_first_function_does_not_cost_the_second():
    scope = {"np": np}
    exec("def robustness_scores(model, X, y, copies):\n"  # the bug: the record itself not counted
         "    n_copies, n_rows, n_features = copies.shape\n"
         "    labels = np.asarray(model.predict(copies.reshape(-1, n_features))).reshape(n_copies, n_rows)\n"
         "    return (labels == np.asarray(y)).mean(axis=0)\n"
         "def calibrated_robustness(model, references, X, y, copies):\n"
         "    target = robustness_scores(model, X, y, copies)\n"
         "    return target - np.mean([robustness_scores(r, X, y, copies) for r in references], axis=0)\n",
         scope)
    assert not check("ex05_robustness", scope["robustness_scores"]).passed
    assert check("ex05_calibrated_robustness", scope["calibrated_robustness"]).passed
    assert check("ex05_calibrated_robustness", scope["calibrated_robustness"], kind="hidden",
                 cases=[{"n_references": 4}, {"n_rows": 1}, {"classes": (2, 5)}]).passed
