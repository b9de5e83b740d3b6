import copy
import inspect
import math

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from scipy.special import logsumexp
from scipy.stats import norm
from sklearn.linear_model import LogisticRegression

from mia_course.data import make_ad_clicks
from mia_course.lira import LiRA, lira_scores, logit_confidence, resolve_fixed_variance
from mia_course.protocol import lira_each_target
from mia_course.shadows import random_halves, train_on_random_halves
from mia_course.metrics import roc_auc, tpr_at_fpr
from mia_course.models import TorchMLPClassifier
from helpers import Recorder

LR = LogisticRegression(max_iter=300)


def slow_logit(P, col):
    """Row by row: log p_y - log(sum of the other classes)."""
    return np.array([math.log(row[c]) - math.log(math.fsum(p for j, p in enumerate(row) if j != c))
                     for row, c in zip(P, col)])


def slow_lira(target, phi, is_in, online, fixed_variance):
    """One record at a time; scipy.stats.norm; sample std (ddof=1) floored at 1e-3."""
    m, n = phi.shape

    def gaussians(sel):
        vals = [[phi[i, j] for i in range(m) if sel[i, j]] for j in range(n)]
        mus = [math.fsum(v) / len(v) for v in vals]
        if fixed_variance:  # one pooled spread around each record's own mean
            sq = [(x - mus[j]) ** 2 for j in range(n) for x in vals[j]]
            sds = [math.sqrt(math.fsum(sq) / max(len(sq) - 1, 1))] * n
        else:
            sds = [np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in vals]
        return mus, [max(s, 1e-3) for s in sds]

    mu_out, sd_out = gaussians(~is_in)
    if not online:
        return np.array([norm.logcdf(target[j], mu_out[j], sd_out[j]) for j in range(n)])
    mu_in, sd_in = gaussians(is_in)
    return np.array([norm.logpdf(target[j], mu_in[j], sd_in[j]) - norm.logpdf(target[j], mu_out[j], sd_out[j])
                     for j in range(n)])


def test_logit_confidence_matches_row_loop(small_model, ad):
    X, y = ad.X[200:240], ad.y[200:240]
    P = small_model.predict_proba(X)
    np.testing.assert_allclose(logit_confidence(P, y), slow_logit(P, y), rtol=1e-10)
    stacked = np.stack([P, P[::-1]])  # [n_models, n_rows, n_classes]: each slice on its own
    out = logit_confidence(stacked, y)
    assert out.shape == (2, 40)
    np.testing.assert_allclose(out[1], slow_logit(P[::-1], y), rtol=1e-10)


def test_logit_confidence_stays_precise_when_p_rounds_to_one():
    logits = np.array([[50.0, 0.0, -3.0], [0.0, 40.0, 2.0], [1.0, 2.0, 3.0], [-45.0, 0.0, 1.0]])
    P = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
    col = np.array([0, 1, 2, 0])
    assert P[0, 0] == 1.0 and P[1, 1] == 1.0  # 1 - p_y is lost in float64
    exact = [z[c] - logsumexp(np.delete(z, c)) for z, c in zip(logits, col)]
    np.testing.assert_allclose(logit_confidence(P, col, floor=1e-300), exact, rtol=1e-9)
    np.testing.assert_allclose(logit_confidence(P, col, floor=1e-300), slow_logit(P, col), rtol=1e-12)
    # the attacks' one clipping rule: both parts floored at PROBABILITY_FLOOR (1e-6)
    np.testing.assert_allclose(logit_confidence(P, col), np.clip(exact, np.log(1e-6), -np.log(1e-6)), rtol=1e-9)


@pytest.mark.parametrize("n_models", [2, 4, 8, 16])
def test_random_halves_every_record_in_half_the_models(n_models):
    masks = random_halves(n_models, 50, np.random.RandomState(0))
    assert masks.shape == (n_models, 50) and masks.dtype == bool
    np.testing.assert_array_equal(masks.sum(axis=0), n_models // 2)
    assert 10 < masks.sum(axis=1).min() and masks.sum(axis=1).max() < 40  # each model about half
    assert len({row.tobytes() for row in masks}) == n_models  # different halves
    np.testing.assert_array_equal(masks, random_halves(n_models, 50, np.random.RandomState(0)))
    assert not np.array_equal(masks, random_halves(n_models, 50, np.random.RandomState(1)))


def test_random_halves_odd_and_single():
    masks = random_halves(5, 40, np.random.RandomState(0))
    assert set(masks.sum(axis=0)) <= {2, 3}
    one = random_halves(1, 200, np.random.RandomState(0))
    assert one.shape == (1, 200) and 70 < one.sum() < 130


def phi_and_masks(kind):
    rng = np.random.RandomState(4)
    phi, target = rng.normal(size=(6, 12)), 2 * rng.normal(size=12)
    if kind == "halves":
        is_in = random_halves(6, 12, rng)
    else:  # uneven counts, including records with a single IN or a single OUT shadow
        is_in = rng.random_sample((6, 12)) < 0.5
        is_in[0], is_in[1] = True, False
    phi[is_in[:, 3], 3] = 0.7  # identical IN confidences: the spread is floored
    return target, phi, is_in


@pytest.mark.parametrize("kind", ["halves", "uneven"])
@pytest.mark.parametrize("fixed_variance", [False, True])
@pytest.mark.parametrize("online", [True, False])
def test_lira_scores_match_slow_loop(kind, online, fixed_variance):
    target, phi, is_in = phi_and_masks(kind)
    got = lira_scores(target, phi, is_in, online=online, fixed_variance=fixed_variance)
    expected = slow_lira(target, phi, is_in, online, fixed_variance)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
    assert np.all(np.isfinite(got))
    if not online:  # offline ignores the IN shadows' values
        phi2 = np.where(is_in, phi + 5.0, phi)
        np.testing.assert_array_equal(lira_scores(target, phi2, is_in, online=False,
                                                  fixed_variance=fixed_variance), got)


def test_lira_scores_need_an_out_shadow():
    target, phi, is_in = phi_and_masks("halves")
    is_in[:, 5] = True
    with pytest.raises(ValueError, match="phi"):
        lira_scores(target, phi, is_in, online=True, fixed_variance=False)


@pytest.fixture(scope="module")
def lr_lira(ad):
    X, y = ad.X[:60], ad.y[:60]
    return LiRA(shadow_model=LR, n_shadows=4, random_state=0).fit(X, y), X, y


def test_lira_uses_masks_for_in_and_out(lr_lira, small_model):
    lira, X, y = lr_lira
    assert lira.masks_.shape == (4, 60)
    np.testing.assert_array_equal(lira.masks_.sum(0), 2)
    order = np.random.RandomState(0).permutation(60)[:25]
    Xq, yq = X[order], y[order]
    phi, is_in = lira.shadow_confidences(Xq, yq)
    np.testing.assert_array_equal(is_in, lira.masks_[:, order])
    for k in range(4):
        shadow = lira.shadows_.model(k)
        np.testing.assert_allclose(phi[k], slow_logit(shadow.predict_proba(Xq), yq), rtol=1e-9)
        ref = LogisticRegression(max_iter=300).fit(X[lira.masks_[k]], y[lira.masks_[k]])
        np.testing.assert_allclose(shadow.predict_proba(Xq), ref.predict_proba(Xq), atol=1e-12)
    target = slow_logit(small_model.predict_proba(Xq), yq)
    for fixed in (False, True):
        lira.set_params(fixed_variance=fixed)
        np.testing.assert_allclose(lira.score_samples(small_model, Xq, yq),
                                   slow_lira(target, phi, is_in, True, fixed), rtol=1e-9, atol=1e-9)
    lira.set_params(fixed_variance=False)
    # the score of a record depends on that record only, not on the rest of the query
    s = lira.score_samples(small_model, Xq, yq)
    rev = np.ascontiguousarray(Xq[::-1])  # (TorchMLPClassifier itself rejects negative strides)
    np.testing.assert_allclose(lira.score_samples(small_model, rev, yq[::-1]), s[::-1], rtol=1e-6)
    one = lira.score_samples(small_model, Xq[3:4], yq[3:4])
    np.testing.assert_allclose(one, s[3:4], rtol=1e-6)  # float32 batch effects only


def test_attack_api_never_sees_membership_labels():
    assert list(inspect.signature(LiRA.fit).parameters) == ["self", "X_pool", "y_pool"]
    assert list(inspect.signature(LiRA.score_samples).parameters) == ["self", "model", "X", "y"]


def test_duplicate_pool_rows_are_in_wherever_either_copy_is(ad):
    X, y = np.r_[ad.X[:40], ad.X[:1]], np.r_[ad.y[:40], ad.y[:1]]
    lira = LiRA(shadow_model=LR, n_shadows=4, random_state=1).fit(X, y)
    _, is_in = lira.shadow_confidences(X[:2], y[:2])
    np.testing.assert_array_equal(is_in[:, 0], lira.masks_[:, 0] | lira.masks_[:, 40])
    np.testing.assert_array_equal(is_in[:, 1], lira.masks_[:, 1])


def test_online_needs_pool_records_offline_does_not(lr_lira, small_model, ad):
    lira, X, y = lr_lira
    Xq = np.r_[X[:3], ad.X[300:303]]
    Xq[3:, 0] = 0.5  # surely not in the pool
    yq = np.r_[y[:3], ad.y[300:303]]
    with pytest.raises(ValueError, match="X"):
        lira.score_samples(small_model, Xq, yq)
    offline = copy.deepcopy(lira).set_params(online=False)  # scoring reads options at call time
    phi, _ = lira.shadow_confidences(Xq, yq)
    target = slow_logit(small_model.predict_proba(Xq), yq)
    no_in = np.zeros(phi.shape, dtype=bool)  # offline: every shadow counts as OUT, pool rows too
    for fixed in (False, True):
        offline.set_params(fixed_variance=fixed)
        s = offline.score_samples(small_model, Xq, yq)
        np.testing.assert_allclose(s, slow_lira(target, phi, no_in, False, fixed), rtol=1e-9, atol=1e-9)
        assert np.all(s <= 0)  # log of a probability


def test_lira_deterministic_per_seed(ad):
    X, y = ad.X[:80], ad.y[:80]
    shadow = TorchMLPClassifier(hidden_sizes=(8,), epochs=2)
    fits = [LiRA(shadow, n_shadows=4, random_state=rs).fit(X, y) for rs in (0, 0, 1)]
    target = TorchMLPClassifier(hidden_sizes=(8,), epochs=2, random_state=0).fit(X[:40], y[:40])
    s = [f.score_samples(target, X, y) for f in fits]
    np.testing.assert_array_equal(fits[0].masks_, fits[1].masks_)
    np.testing.assert_array_equal(s[0], s[1])
    assert not np.array_equal(fits[0].masks_, fits[2].masks_)
    assert not np.allclose(s[0], s[2])


def test_online_lira_beats_guessing_on_overfit_target():
    d = make_ad_clicks(600, random_state=7)
    X, y = d.X, d.y  # members: the first 300, non-members: the rest; the pool holds both
    target = TorchMLPClassifier(epochs=15, random_state=0).fit(X[:300], y[:300])
    lira = LiRA(TorchMLPClassifier(epochs=15), n_shadows=16, random_state=0).fit(X, y)
    scores = lira.score_samples(target, X, y)
    assert roc_auc(np.r_[np.ones(300), np.zeros(300)], scores) > 0.6




@pytest.mark.parametrize("params, X, y, err, match", [
    (dict(n_shadows=0), None, None, ValueError, "n_shadows"),
    (dict(n_shadows=-2), None, None, ValueError, "n_shadows"),
    (dict(n_shadows=1), None, None, ValueError, "n_shadows"),  # online needs IN and OUT shadows
    (dict(n_shadows=2.0), None, None, TypeError, "n_shadows"),
    (dict(n_shadows=2), np.full((8, 2), np.nan), None, ValueError, "X_pool"),
    (dict(n_shadows=2), np.zeros(8), None, ValueError, "X_pool"),
    (dict(n_shadows=2), None, [0, 1] * 3, ValueError, "y_pool"),
    (dict(n_shadows=2, shadow_model=object()), None, None, TypeError, "estimator"),
])
def test_fit_bad_inputs_raise_before_training(params, X, y, err, match):
    Recorder.calls.clear()
    params = {"shadow_model": Recorder(), **params}
    with pytest.raises(err, match=match):
        LiRA(**params).fit(np.eye(8) if X is None else X, [0, 1] * 4 if y is None else y)
    assert Recorder.calls == []
    LiRA(Recorder(), n_shadows=1, online=False, random_state=0).fit(np.eye(8), [0, 1] * 4)
    assert len(Recorder.calls) == 1  # offline works with a single shadow


def test_scoring_bad_inputs(lr_lira, small_model):
    lira, X, y = lr_lira
    with pytest.raises(NotFittedError, match="fit"):
        LiRA().score_samples(small_model, X, y)
    with pytest.raises(NotFittedError, match="fit"):
        LiRA().shadow_confidences(X, y)
    with pytest.raises(TypeError, match="model"):
        lira.score_samples(object(), X, y)
    with pytest.raises(ValueError, match="y"):
        lira.score_samples(small_model, X[:3], [0, 1, 2])
    with pytest.raises(ValueError, match="y"):
        lira.score_samples(small_model, X[:3], y[:2])
    with pytest.raises(ValueError, match="X"):
        lira.score_samples(small_model, X[:3, :10], y[:3])


@pytest.mark.parametrize("n_shadows, expected", [(2, True), (15, True), (63, True), (64, False), (128, False)])
def test_auto_variance_is_global_below_64_shadows(n_shadows, expected):
    assert resolve_fixed_variance("auto", n_shadows) is expected
    assert resolve_fixed_variance(True, n_shadows) is True and resolve_fixed_variance(False, n_shadows) is False
    assert LiRA().fixed_variance == "auto"  # the default


def test_auto_variance_resolves_in_fit_and_scores_with_it(ad):
    X, y = ad.X[:40], ad.y[:40]
    lira = LiRA(shadow_model=LR, n_shadows=4, random_state=0).fit(X, y)
    assert lira.fixed_variance_ is True  # 4 shadows: one global variance
    target = LogisticRegression(max_iter=300).fit(X[:20], y[:20])
    phi, is_in = lira.shadow_confidences(X, y)
    t = logit_confidence(target.predict_proba(X), y)
    np.testing.assert_allclose(lira.score_samples(target, X, y),
                               lira_scores(t, phi, is_in, online=True, fixed_variance=True), rtol=1e-9)
    assert not np.allclose(lira.score_samples(target, X, y),
                           lira_scores(t, phi, is_in, online=True, fixed_variance=False))
    many = LiRA(shadow_model=LR, n_shadows=64, random_state=0).fit(X, y)
    assert many.fixed_variance_ is False  # 64 shadows: a variance per record
    phi, is_in = many.shadow_confidences(X, y)
    np.testing.assert_allclose(many.score_samples(target, X, y),
                               lira_scores(t, phi, is_in, online=True, fixed_variance=False), rtol=1e-9)


@pytest.mark.parametrize("value, err", [("yes", ValueError), (None, TypeError), (1.0, TypeError)])
def test_bad_fixed_variance_raises_before_training(value, err):
    Recorder.calls.clear()
    with pytest.raises(err, match="fixed_variance"):
        LiRA(Recorder(), n_shadows=2, fixed_variance=value).fit(np.eye(8), [0, 1] * 4)
    assert Recorder.calls == []
    with pytest.raises(err, match="fixed_variance"):
        lira_scores(np.zeros(3), np.zeros((2, 3)), np.array([[True] * 3, [False] * 3]), online=True,
                    fixed_variance=value)


def test_global_variance_is_the_stronger_attack_with_few_shadows():
    """Carlini et al.'s advice, measured: with 15 shadows (lesson 10's protocol: 16 models on
    random halves of 2,000 users, 4 targets) one global variance finds more members at 1% FPR
    than variances fitted per record to 7 or 8 points."""
    d = make_ad_clicks(2000, random_state=0)
    masks, models = train_on_random_halves(None, d.X, d.y, 16, np.random.RandomState(0))
    tpr = {fixed: np.mean([tpr_at_fpr(m, s, 0.01) for m, s in lira_each_target(
        models, masks, d.X, d.y, 4, fixed_variance=fixed)]) for fixed in (True, False, "auto")}
    assert tpr["auto"] == tpr[True]
    assert tpr[True] > 1.2 * tpr[False], tpr
