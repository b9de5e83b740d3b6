"""The checks of exercise 15: the reference passes, a hard-coded answer fails, and typical
mistakes get a message in words."""
import math

import numpy as np
import pytest

from mia_course.grading import check, exercise_names
from mia_course.language_attacks import exposure, min_k_scores, secret_rank
from helpers import generic_grading_tests

REFERENCES = {
    "ex15_exposure": lambda scores, i: exposure(secret_rank(scores, i), len(scores)),
    "ex15_min_k": lambda rows, k: min_k_scores(rows, k),
}
HIDDEN_OPTIONS = {  # the kinds of case the hidden tests of solutions/ex15 ask for
    "ex15_exposure": [{"where": "worst"}, {"n_candidates": 10_000}, {"ties": True, "where": "best"}],
    "ex15_min_k": [{"short": True}, {"n_texts": 1}, {"k": 0.05}],
}


def test_registry_has_the_two_checks_of_lesson_15():
    assert [n for n in exercise_names() if n.startswith("ex15")] == sorted(REFERENCES)


(test_the_package_reference_passes_public_and_hidden_cases, test_a_hard_coded_answer_fails,
 test_a_learners_exception_is_a_failed_check_with_its_message) = generic_grading_tests(REFERENCES, HIDDEN_OPTIONS, n_seeds=5)


def _exposure(rank_of, log=math.log2, sign=1):
    def fn(scores, i):
        n = len(scores)
        return sign * (log(n) - log(rank_of(np.asarray(scores), i)))
    return fn


@pytest.mark.parametrize("fn,words", [
    (_exposure(lambda s, i: 1 + np.sum(s > s[i])), ">="),  # ties count for the secret
    (_exposure(lambda s, i: np.sum(s <= s[i])), "lowest score"),
    (_exposure(lambda s, i: np.sum(s >= s[i]), log=math.log), "log2"),
    (_exposure(lambda s, i: np.sum(s >= s[i]), sign=-1), "sign"),
    (lambda s, i: float(np.sum(np.asarray(s) >= s[i])), "that is the rank"),
    (lambda s, i: None, "return"),
])
def test_exposure_check_explains_typical_mistakes(fn, words):
    report = check("ex15_exposure", fn, seed=0)
    assert not report.passed and words in str(report), str(report)


def _min_k(pick):
    return lambda rows, k: [pick(np.sort(lp), len(lp), k) for lp in rows]


@pytest.mark.parametrize("fn,words", [
    (_min_k(lambda s, m, k: s[:max(1, math.ceil(k * m))].mean()), None),  # right
    (_min_k(lambda s, m, k: s[-max(1, math.ceil(k * m)):].mean()), "LOWEST"),
    (_min_k(lambda s, m, k: s[:max(1, int(k * m))].mean()), "math.ceil"),
    (_min_k(lambda s, m, k: s[:max(1, math.ceil(k * m))].sum()), "don't sum"),
    (_min_k(lambda s, m, k: s.mean()), "loss attack"),
    (_min_k(lambda s, m, k: np.exp(s[:max(1, math.ceil(k * m))]).mean()), "not the probabilities"),
])
def test_min_k_check_explains_typical_mistakes(fn, words):
    report = check("ex15_min_k", fn, seed=0)
    assert report.passed == (words is None), str(report)
    assert words is None or words in str(report), str(report)


def test_min_k_check_catches_empty_selections_on_short_texts():
    no_floor = _min_k(lambda s, m, k: s[:int(k * m)].mean())  # NaN for a 1-token text
    report = check("ex15_min_k", no_floor, cases=[{"short": True}] * 3, seed=0)
    assert not report.passed
