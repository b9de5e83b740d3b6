"""The checks of exercises 04-07 teach: references pass, hard-coded answers fail, mistakes get words."""
import numpy as np
import pytest
from scipy.stats import norm

from mia_course.grading.checks.ex06 import reference_exposed_members
from mia_course.grading.checks.ex05 import LabelModel
from mia_course.grading.checks.ex04 import mistaken_forward as _forward
from mia_course.grading import REGISTRY, check, exercise_names
from mia_course.label_only import LabelOnlyAttack, LabelsOnlyAPI, perturb
from mia_course.lira import lira_scores, logit_confidence
from mia_course.metrics import most_exposed
from mia_course.rmia import rmia_scores
from mia_course.training.stacked import stacked_forward
from helpers import generic_grading_tests


def _robustness(model, X, y, copies):
    k, n, d = copies.shape
    return np.vstack([model.predict(X) == y, model.predict(copies.reshape(-1, d)).reshape(k, n) == y]).mean(0)


def _calibrated(model, references, X, y, copies):
    return _robustness(model, X, y, copies) - np.mean([_robustness(r, X, y, copies) for r in references], axis=0)


REFERENCES = {
    "ex04_logit_confidence": lambda P, col: logit_confidence(P, col, floor=1e-300),
    "ex04_offline_lira": lambda phi, t: lira_scores(t, phi, np.zeros(phi.shape, bool), online=False,
                                                    fixed_variance=False),
    "ex04_stacked_forward": stacked_forward,
    "ex05_robustness": _robustness,
    "ex05_calibrated_robustness": _calibrated,
    "ex06_online_lira": lambda phi, is_in, t: lira_scores(t, phi, is_in, online=True, fixed_variance=False),
    "ex06_exposed_members": reference_exposed_members,
    "ex07_fraction_beaten": lambda x, z, gamma: np.floor(rmia_scores(x, z, gamma) * len(z) + 1e-9) / len(z),
    "ex07_most_exposed": lambda m, s, top, fpr: most_exposed(m, s, top=top, fpr=fpr),
}
HIDDEN_OPTIONS = {  # the kinds of case the hidden tests of solutions/ ask for
    "ex04_logit_confidence": [{"certain": True, "n_models": 3, "n_classes": 3}, {"n_rows": 1}, {"n_classes": 5}],
    "ex04_offline_lira": [{"n_shadows": 2}, {"constant": True}, {"n_records": 1}],
    "ex04_stacked_forward": [{"n_layers": 1}, {"grad": True}, {"batch": 1, "n_layers": 3}],
    "ex05_robustness": [{"classes": (3, 7)}, {"n_rows": 1}, {"n_copies": 1}, {"binary": False}],
    "ex05_calibrated_robustness": [{"n_references": 4}, {"n_rows": 1}, {"classes": (2, 5)}],
    "ex06_online_lira": [{"constant": True}, {"n_records": 1}, {"single": True}, {"uneven": True, "n_shadows": 16}],
    "ex06_exposed_members": [{"as_int": True}, {"fpr": 0.0}, {"fpr": 1.0}, {"ties": True, "fpr": 0.1}],
    "ex07_fraction_beaten": [{"ties": True, "gamma": 2.0}, {"n_population": 1}, {"gamma": 0.5}],
    "ex07_most_exposed": [{"top": 100}, {"fpr": 0.01}, {"as_int": True, "ties": True}, {"top": 1}],
}


def test_registry_lists_one_check_per_graded_function_of_lessons_04_to_07():
    assert [n for n in exercise_names() if n[:4] in ("ex04", "ex05", "ex06", "ex07")] == sorted(REFERENCES)
    assert {n[:4] for n in REFERENCES} == {"ex04", "ex05", "ex06", "ex07"}


# the package's reference passes; a hard-coded answer fails; a learner's exception is reported
(test_the_package_reference_passes_public_and_hidden_cases, test_a_hard_coded_answer_fails,
 test_a_learners_exception_is_a_failed_check_with_its_message) = generic_grading_tests(REFERENCES, HIDDEN_OPTIONS, n_seeds=10)


def test_robustness_reference_is_what_label_only_attack_computes():
    rng = np.random.default_rng(0)
    model = LabelModel(rng, 8, np.array([0, 1]), sharpness=1.0)
    X = (rng.random((30, 8)) < 0.4).astype(np.float32)
    y = model.predict(X)
    copies = perturb(X, 16, np.random.RandomState(7), n_flips=2)
    attack = LabelOnlyAttack(n_perturbations=16, n_flips=2, random_state=7)
    assert np.allclose(_robustness(model, X, y, copies), attack.score_samples(LabelsOnlyAPI(model), X, y))
    with pytest.raises(ValueError, match="2-D"):
        model.predict(copies)


# ---- the learner's typical mistakes, and the words that answer them ------------------------
def _p_true(P, col):
    return np.take_along_axis(P, np.broadcast_to(col[:, None], P.shape[:-1] + (1,)), axis=-1)[..., 0]


def _offline(phi, t, ddof=1, f=norm.logcdf):
    return f(t, phi.mean(0), np.maximum(phi.std(0, ddof=ddof), 1e-3))


def _online(phi, is_in, t, ddof=1):
    def gaussian(sel):
        count = sel.sum(0)
        mu = np.where(sel, phi, 0).sum(0) / count
        return mu, np.maximum(np.sqrt(np.where(sel, (phi - mu) ** 2, 0).sum(0) / (count - ddof)), 1e-3)
    (mi, si), (mo, so) = gaussian(is_in), gaussian(~is_in)
    return norm.logpdf(t, mi, si) - norm.logpdf(t, mo, so)


def _exposed(s, m, fpr, op=np.greater, cut=lambda s, m, fpr: np.quantile(s[~m], 1 - fpr, method="higher")):
    m = np.asarray(m).astype(bool)
    return op(s, cut(s, m, fpr))[m]


def _ranking(m, s, top, fpr, order=None, among_members=False, flag=None):
    m = np.asarray(m).astype(bool)
    members = np.flatnonzero(m)
    ranked = members[np.argsort(-s[members], kind="stable")] if order is None else order(s, members)
    threshold = np.quantile(s[~m], 1 - fpr, method="higher")
    rows = [(int(i), float(s[i]), bool(s[i] > threshold if flag is None else flag(s[i], s, m, fpr)))
            for i in ranked[:top]]
    return [(int(np.searchsorted(members, i)), v, f) for i, v, f in rows] if among_members else rows


@pytest.mark.parametrize("name,wrong,words", [
    ("ex04_logit_confidence", lambda P, c: np.log(_p_true(P, c)) - np.log(1 - _p_true(P, c)),
     "sum of the other classes"),
    ("ex04_logit_confidence", lambda P, c: -logit_confidence(P, c, floor=1e-300), "sign is reversed"),
    ("ex04_logit_confidence", lambda P, c: np.log(_p_true(P, c)), "log p alone"),
    ("ex04_offline_lira", lambda phi, t: _offline(phi, t, f=norm.logsf),
     "your scores are higher for records below the OUT mean: the one-sided test should grow with phi"),
    ("ex04_offline_lira", lambda phi, t: _offline(phi, t, ddof=0), "sample standard deviation"),
    ("ex04_offline_lira", lambda phi, t: _offline(phi, t, f=norm.cdf), "not the CDF itself"),
    ("ex04_offline_lira", lambda phi, t: np.log(_offline(phi, t, f=norm.cdf)), "use norm.logcdf"),
    ("ex04_offline_lira", lambda phi, t: _offline(phi, t, f=norm.logpdf), "log density"),
    ("ex04_offline_lira", lambda phi, t: norm.logcdf(t.mean(), phi.mean(1), phi.std(1, ddof=1)),
     "one value per shadow"),
    ("ex04_stacked_forward", lambda p, X: _forward(p, X, relu_last=True), "ReLU between the layers only"),
    ("ex04_stacked_forward", lambda p, X: _forward(p, X, relu_hidden=False), "every layer except the last"),
    ("ex04_stacked_forward", lambda p, X: _forward(p, X, bias=False), "bias"),
    ("ex04_stacked_forward", lambda p, X: _forward(p, X, first_model=True), "its own weights"),
    ("ex04_stacked_forward", lambda p, X: _forward(p, X)[0],
     "you returned one model's logits"),
    ("ex05_robustness", lambda m, X, y, c: _robustness(m, X, y, c)[:-1], "returned shape"),
    ("ex05_robustness", lambda m, X, y, c: np.mean(m.predict(c.reshape(-1, X.shape[1])).reshape(len(c), -1) == y,
                                                   axis=0), "count the record itself too"),
    ("ex05_robustness", lambda m, X, y, c: 1 - _robustness(m, X, y, c), "not the wrong ones"),
    ("ex05_robustness", lambda m, X, y, c: _robustness(m, X, y, c) * (len(c) + 1), "look like counts"),
    ("ex05_robustness", lambda m, X, y, c: (np.sum(m.predict(c.reshape(-1, X.shape[1])).reshape(X.shape[0], -1)
                                                   == y[:, None], axis=1) + (m.predict(X) == y)) / (len(c) + 1),
     "mix up the records' copies"),
    ("ex05_robustness", lambda m, X, y, c: np.mean(m.predict(c) == y, axis=0), "reshape copies"),
    ("ex05_robustness", lambda m, X, y, c: m.predict_proba(X)[:, 0], "model.predict only"),
    ("ex05_calibrated_robustness", lambda m, R, X, y, c: -_calibrated(m, R, X, y, c), "reversed"),
    ("ex05_calibrated_robustness", lambda m, R, X, y, c: _robustness(m, X, y, c), "robustness alone"),
    ("ex05_calibrated_robustness", lambda m, R, X, y, c: _robustness(m, X, y, c)
     - np.mean([r.predict(X) == y for r in R], axis=0), "same perturbed copies"),
    ("ex06_online_lira", lambda phi, i, t: -_online(phi, i, t), "looks like an OUT model's"),
    ("ex06_online_lira", lambda phi, i, t: _online(phi, i, t, ddof=0), "sample standard deviation"),
    ("ex06_online_lira", lambda phi, i, t: np.exp(_online(phi, i, t)), "not the ratio itself"),
    ("ex06_online_lira", lambda phi, i, t: np.zeros(len(t)), "all your scores are 0"),
    ("ex06_exposed_members", lambda s, m, f: _exposed(s, m, f, op=np.greater_equal), "strictly above"),
    ("ex06_exposed_members", lambda s, m, f: _exposed(s, m, f, cut=lambda s, m, f: np.quantile(s, 1 - f, method="higher")),
     "non-members' scores only"),
    ("ex06_exposed_members", lambda s, m, f: _exposed(s, m, f, cut=lambda s, m, f: np.quantile(s[~m], f, method="higher")),
     "not the fpr quantile"),
    ("ex06_exposed_members", lambda s, m, f: _exposed(s, m, f, cut=lambda s, m, f: np.quantile(s[~m], 1 - f)),
     "no interpolation"),
    ("ex06_exposed_members", lambda s, m, f: s > np.quantile(s[~np.asarray(m, bool)], 1 - f, method="higher"),
     "not one per record"),
    ("ex06_exposed_members", lambda s, m, f: np.flatnonzero(_exposed(s, m, f)), "not the indices"),
    ("ex07_fraction_beaten", lambda x, z, g: np.mean(x[:, None] / z >= g, axis=1), "use > (strictly greater)"),
    ("ex07_fraction_beaten", lambda x, z, g: np.mean(z / x[:, None] > g, axis=1), "records that beat x"),
    ("ex07_fraction_beaten", lambda x, z, g: np.sum(x[:, None] / z > g, axis=1), "look like counts"),
    ("ex07_fraction_beaten", rmia_scores, "without the package's tie-break"),
    ("ex07_fraction_beaten", lambda x, z, g: x[:, None] / z > g, "every comparison"),
    ("ex07_most_exposed", lambda m, s, top, f: _ranking(m, s, top, f, order=lambda s, mem: mem[np.argsort(s[mem])]),
     "from the highest score down"),
    ("ex07_most_exposed", lambda m, s, top, f: _ranking(m, s, top, f, order=lambda s, mem: mem[np.argsort(s[mem])[::-1]]),
     "the lower index comes first"),
    ("ex07_most_exposed", lambda m, s, top, f: _ranking(m, s, top, f, order=lambda s, mem: np.argsort(-s, kind="stable")),
     "rank the members only"),
    ("ex07_most_exposed", lambda m, s, top, f: _ranking(m, s, top, f, among_members=True), "not its rank among"),
    ("ex07_most_exposed", lambda m, s, top, f: _ranking(
        m, s, top, f, flag=lambda v, s, m, f: v >= np.quantile(s[~m], 1 - f, method="higher")), "strictly above"),
    ("ex07_most_exposed", lambda m, s, top, f: _ranking(m, s, top + 1, f), "expected the top"),
    ("ex07_most_exposed", lambda m, s, top, f: np.array(_ranking(m, s, top, f)), "return a list of rows"),
])
def test_common_mistakes_get_a_message_that_teaches(name, wrong, words):
    for seed in range(3):
        report = check(name, wrong, seed=seed)
        assert not report.passed and words in str(report), str(report)


def test_stacked_forward_accepts_weights_that_require_gradients():
    report = check("ex04_stacked_forward", stacked_forward, kind="hidden", cases=[{"grad": True}])
    assert report.passed, str(report)
    numpy_only = check("ex04_stacked_forward", lambda p, X: _forward([(W.numpy(), b.numpy()) for W, b in p], X),
                       kind="hidden", cases=[{"grad": True}])
    assert not numpy_only.passed and "compute with torch operations" in str(numpy_only)


def test_messages_do_not_reveal_the_expected_values():
    for name in ("ex04_offline_lira", "ex06_online_lira", "ex07_fraction_beaten"):
        exercise, rng = REGISTRY[name], np.random.default_rng(4)
        report = check(name, lambda *a: np.zeros(len(a[0] if name == "ex07_fraction_beaten" else a[-1])), seed=4)
        for options, result in zip(exercise.default_cases, report.results):
            _, args, ctx = exercise.make_case(rng, **options)
            assert not result.passed
            assert not any(f"{v:.3f}" in result.message for v in np.ravel(ctx["ref"])[:20] if abs(v) > 1e-3)
