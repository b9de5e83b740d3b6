"""The checks of exercise 12 teach: references pass, hard-coded answers fail, mistakes get words."""
import numpy as np
import pytest
from scipy.stats import binom

from mia_course.audit import one_run_epsilon
from mia_course.canaries import one_run_guesses
from mia_course.grading import check, exercise_names
from helpers import generic_grading_tests

REFERENCES = {
    "ex12_one_run_bound": lambda n, v, confidence=0.95: one_run_epsilon(n, v, confidence=confidence),
    "ex12_one_run_guesses": lambda s, m, k: one_run_guesses(np.asarray(s)[None], np.asarray(m, bool)[None], k),
}
HIDDEN_OPTIONS = {  # the kinds of case the hidden tests of solutions/ ask for
    "ex12_one_run_bound": [{"kind": "none"}, {"kind": "all", "n": 5}, {"kind": "most", "n": 1000},
                           {"kind": "coin", "confidence": 0.99}, {"confidence": 0.8}],
    "ex12_one_run_guesses": [{"n_guesses": 2}, {"m": 40, "n_guesses": 40}, {"odd": True, "as_int": True}, {"m": 500}],
}


def test_registry_lists_the_graded_functions_of_lesson_12():
    assert [n for n in exercise_names() if n.startswith("ex12")] == sorted(REFERENCES)


(test_the_package_reference_passes_public_and_hidden_cases, test_a_hard_coded_answer_fails,
 test_a_learners_exception_is_a_failed_check_with_its_message) = generic_grading_tests(REFERENCES, HIDDEN_OPTIONS, n_seeds=5)


def _bound(strict_tail=False, alpha_is_confidence=False, log_p=False, return_p=False, no_floor=False):
    """A learner's one_run_bound, with one of the typical mistakes switched on."""
    def answer(n, v, confidence=0.95):
        alpha = confidence if alpha_is_confidence else 1 - confidence
        k = v if strict_tail else v - 1

        def ruled_out(eps):
            return binom.sf(k, n, 1 / (1 + np.exp(-eps))) < alpha
        low, high = (-30.0 if no_floor else 0.0), 30.0
        if not no_floor and not ruled_out(0.0):
            return 0.0
        for _ in range(60):
            mid = (low + high) / 2
            low, high = (mid, high) if ruled_out(mid) else (low, mid)
        p = 1 / (1 + np.exp(-low))
        return float(np.log(p) if log_p else p if return_p else low)
    return answer


@pytest.mark.parametrize("mistake, words", [
    (dict(strict_tail=True), "includes n_correct itself"),
    (dict(alpha_is_confidence=True), "below 1 - confidence"),
    (dict(log_p=True), "not log(p)"),
    (dict(return_p=True), "not the accuracy"),
    (dict(no_floor=True), "at least 0"),
])
def test_one_run_bound_mistakes_get_words(mistake, words):
    reports = [check("ex12_one_run_bound", _bound(**mistake), seed=s) for s in range(4)]
    assert not any(r.passed for r in reports)
    assert any(words in str(r) for r in reports), [str(r) for r in reports]


def test_one_run_bound_claiming_too_much_is_named():
    report = check("ex12_one_run_bound", lambda n, v, confidence=0.95: one_run_epsilon(n, v, confidence=confidence) + 0.3)
    assert not report.passed and "too large" in str(report)


def _guesses(all_in=False, reversed_order=False, count_k=False, only_in_right=False):
    def answer(scores, is_in, n_guesses):
        s, m = np.asarray(scores, float), np.asarray(is_in, bool)
        order = np.argsort(s) if reversed_order else np.argsort(-s)
        half = n_guesses // 2
        if all_in:
            return n_guesses, int(m[order[:n_guesses]].sum())
        right = m[order[:half]].sum() + (0 if only_in_right else (~m[order[-half:]]).sum())
        return (n_guesses if count_k else 2 * half), int(right)
    return answer


@pytest.mark.parametrize("mistake, words", [
    (dict(all_in=True), "AND 'out'"),
    (dict(reversed_order=True), "guess 'in' for the highest"),
    (dict(count_k=True), "2 * (n_guesses // 2)"),
    (dict(only_in_right=True), "plus the 'out' guesses"),
])
def test_one_run_guesses_mistakes_get_words(mistake, words):
    options = [{}, {"odd": True}, {"as_int": True}, {"m": 60, "n_guesses": 20}]
    reports = [check("ex12_one_run_guesses", _guesses(**mistake), seed=s, cases=options) for s in range(4)]
    assert not all(r.passed for r in reports)
    assert any(words in str(r) for r in reports), [str(r) for r in reports]


def test_one_run_guesses_wants_a_pair_of_numbers():
    assert "pair" in str(check("ex12_one_run_guesses", lambda s, m, k: 3))
    assert "guesses" in str(check("ex12_one_run_guesses", lambda s, m, k: ("a", 2)))
