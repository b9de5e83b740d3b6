"""The checks of exercise 12 teach: references pass, hard-coded answers fail, mistakes get words."""
import numpy as np
import pytest

from mia_course.grading import check, exercise_names
from mia_course.playground import OUTPUT_KEYS, training_key, where_record_lands
from helpers import generic_grading_tests

REFERENCES = {
    "ex13_where_record_lands": where_record_lands,
    "ex13_needs_retraining": lambda old, new: training_key(old) != training_key(new),
}
HIDDEN_OPTIONS = {  # the kinds of case the hidden tests of solutions/ ask for
    "ex13_where_record_lands": [{"as_int": True}, {"fpr": 0.5, "ties": True}, {"n": 4}, {"at_threshold": True, "fpr": 0.01}],
    "ex13_needs_retraining": [{"key": "attacks"}, {"key": "noise_scale"}, {"key": "epsilon"}, {"key": "dropout"},
                              {"key": "n_members"}, {"key": "decimals"}],
}


def test_registry_lists_the_graded_functions_of_lesson_12():
    assert [n for n in exercise_names() if n.startswith("ex13")] == sorted(REFERENCES)


(test_the_package_reference_passes_public_and_hidden_cases, test_a_hard_coded_answer_fails,
 test_a_learners_exception_is_a_failed_check_with_its_message) = generic_grading_tests(REFERENCES, HIDDEN_OPTIONS, n_seeds=10)


def _lands(members_too=False, at_or_below=False, percent=False, reversed_share=False,
           linear=False, all_scores=False, fpr_quantile=False, at_or_above=False):
    """A learner's where_record_lands, with one of the typical mistakes switched on."""
    def answer(is_member, scores, index, fpr):
        m, s = np.asarray(is_member, bool), np.asarray(scores, float)
        pool = s if members_too else s[~m]
        share = np.mean(pool <= s[index]) if at_or_below else np.mean(pool < s[index])
        share = 1 - np.mean(s[~m] <= s[index]) if reversed_share else share
        share = 100 * share if percent else share
        base = s if all_scores else s[~m]
        q = fpr if fpr_quantile else 1 - fpr
        threshold = np.quantile(base, q) if linear else np.quantile(base, q, method="higher")
        return float(share), bool(s[index] >= threshold if at_or_above else s[index] > threshold)
    return answer


@pytest.mark.parametrize("mistake, words", [
    (dict(members_too=True), "non-members only"),
    (dict(at_or_below=True), "strictly below"),
    (dict(percent=True), "not a percentage"),
    (dict(reversed_share=True), "below"),
    (dict(linear=True), 'method="higher"'),
    (dict(all_scores=True), "non-members' scores only"),
    (dict(fpr_quantile=True), "1 - fpr quantile"),
    (dict(at_or_above=True), "strictly above"),
])
def test_where_record_lands_mistakes_get_words(mistake, words):
    options = [{}, {"ties": True}, {"at_threshold": True}, {"fpr": 0.2, "at_threshold": True},
               {"as_int": True, "ties": True}]
    reports = [check("ex13_where_record_lands", _lands(**mistake), seed=s, cases=options) for s in range(5)]
    assert not all(r.passed for r in reports)
    assert any(words in str(r) for r in reports), [str(r) for r in reports]


def test_where_record_lands_wants_a_pair_and_a_boolean():
    assert "pair" in str(check("ex13_where_record_lands", lambda m, s, i, f: 0.5))
    assert "True or False" in str(check("ex13_where_record_lands", lambda m, s, i, f: (0.5, "yes")))


@pytest.mark.parametrize("mistake, key, words", [
    (lambda old, new: old != new, "output", "not the models"),
    (lambda old, new: old != new, "attacks", "no new models"),
    (lambda old, new: any(old[k] != new[k] for k in ("n_members", "hidden_units", "epochs", "l2", "dropout", "epsilon")),
     "n_shadows", "shadows are trained models too"),
    (lambda old, new: any(old[k] != new[k] for k in ("hidden_units", "epochs", "l2", "n_shadows")),
     "epsilon", "must be trained again"),
    (lambda old, new: "yes", "epochs", "True or False"),
])
def test_needs_retraining_mistakes_get_words(mistake, key, words):
    report = check("ex13_needs_retraining", mistake, cases=[{"key": key}])
    assert not report.passed and words in str(report), str(report)


def test_output_keys_never_retrain():
    base = {"output": "probabilities"}
    for key, value in zip(OUTPUT_KEYS, ("noise", 0.3, 2)):
        assert training_key(base) == training_key({**base, key: value})
