import copy
import inspect
import math

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression

from mia_course.data import make_ad_clicks
from mia_course.metrics import roc_auc
from mia_course.models import TorchMLPClassifier
from mia_course.rmia import RMIA, rmia_scores
from helpers import Recorder

LR = LogisticRegression(max_iter=300)


def slow_counts(ratio_x, ratio_z, gamma):
    """How many z each x beats by gamma: the double loop of the paper's definition."""
    return np.array([sum(1 for z in ratio_z if x / z > gamma) for x in ratio_x])


def check_against_slow(scores, ratio_x, ratio_z, gamma):
    n_z = len(ratio_z)
    count = slow_counts(ratio_x, ratio_z, gamma)
    np.testing.assert_array_equal(np.floor(scores * n_z + 1e-9), count)  # the step: exactly mean_z[...]
    assert np.all(scores >= count / n_z) and np.all(scores < (count + 1) / n_z)  # tie-break < one step
    order = np.argsort(ratio_x, kind="stable")
    assert np.all(np.diff(scores[order]) >= 0)  # never against ratio_x
    distinct = np.diff(np.asarray(ratio_x)[order]) > 0
    assert np.all(np.diff(scores[order])[distinct] > 0)  # ...and strictly along it, within a step too


def test_rmia_scores_hand_example():
    ratio_z = [4.0, 1.0, 3.0, 2.0]
    ratio_x = np.array([2.5, 3.0, 5.0, 0.5, 9.0, 1.0])
    s = rmia_scores(ratio_x, ratio_z, gamma=1.0)
    np.testing.assert_array_equal(np.floor(s * 4 + 1e-9), [2, 2, 4, 0, 4, 0])  # ties (3 vs 3) do not count
    assert s[4] > s[2] and s[1] > s[0] and s[5] > s[3]  # same step, larger ratio first
    np.testing.assert_array_equal(np.floor(rmia_scores(ratio_x, ratio_z, gamma=2.0) * 4 + 1e-9),
                                  [1, 1, 2, 0, 4, 0])


@pytest.mark.parametrize("gamma", [1.0, 0.5, 1.7, 3.0])
@pytest.mark.parametrize("seed", range(3))
def test_rmia_scores_match_double_loop(gamma, seed):
    rng = np.random.RandomState(seed)
    ratio_z = np.exp(rng.normal(size=40))
    ratio_x = np.exp(rng.normal(0.3, 1.5, size=30))
    ratio_x[:3] = ratio_x[3]  # ties among the queried records
    scores = rmia_scores(ratio_x, ratio_z, gamma)
    assert scores.shape == (30,)
    check_against_slow(scores, ratio_x, ratio_z, gamma)
    np.testing.assert_array_equal(scores, rmia_scores(list(ratio_x), list(ratio_z[::-1]), gamma))


@pytest.fixture(scope="module")
def lr_rmia(ad):
    X, y = ad.X[:60], ad.y[:60]
    return RMIA(reference_model=LR, n_references=3, random_state=0).fit(X, y), X, y


def slow_reference_probability(rmia, X, y, online, a):
    probs = [rmia.references_.model(k).predict_proba(X) for k in range(len(rmia.masks_))]
    ps = []
    for i in range(len(y)):
        col = list(rmia.classes_).index(y[i])
        p = math.fsum(P[i, col] for P in probs) / len(probs)
        ps.append(p if online else ((1 + a) * p + (1 - a)) / 2)
    return np.array(ps)


@pytest.mark.parametrize("online, a", [(True, 0.3), (False, 0.3), (False, 0.0), (False, 1.0)])
def test_reference_probability(lr_rmia, ad, online, a):
    rmia, X, y = lr_rmia
    X, y = X[~rmia.z_mask_], y[~rmia.z_mask_]  # the references' pool: the population without Z
    for k, mask in enumerate(rmia.masks_):  # each reference: the model fitted on its own half
        ref = LogisticRegression(max_iter=300).fit(X[mask], y[mask])
        np.testing.assert_allclose(rmia.references_.model(k).predict_proba(X), ref.predict_proba(X),
                                   atol=1e-12)
    r = copy.deepcopy(rmia).set_params(online=online, offline_a=a)
    Xq, yq = ad.X[100:130], ad.y[100:130]
    p = r.reference_probability(Xq, yq)
    np.testing.assert_allclose(p, slow_reference_probability(rmia, Xq, yq, online, a), rtol=1e-12)
    if not online and a == 0.0:  # a = 0: p(x) = (p_out + 1) / 2 >= 1/2
        assert np.all(p >= 0.5)
    if not online and a == 1.0:  # a = 1: no correction
        np.testing.assert_allclose(p, r.set_params(online=True).reference_probability(Xq, yq), rtol=1e-12)


@pytest.mark.parametrize("online", [False, True])
def test_score_samples_matches_slow_reference(lr_rmia, small_model, ad, online):
    rmia, _, _ = lr_rmia
    Z, yz = rmia.X_z_, rmia.y_z_
    r = copy.deepcopy(rmia).set_params(online=online, gamma=1.3, offline_a=0.3)
    X, y = ad.X[150:250], ad.y[150:250]  # members (< 200) and non-members of small_model
    scores = r.score_samples(small_model, X, y)

    def ratio(X, y):
        P = small_model.predict_proba(X)
        return P[np.arange(len(y)), y] / slow_reference_probability(rmia, X, y, online, 0.3)

    check_against_slow(scores, ratio(X, y), ratio(Z, yz), 1.3)
    assert list(inspect.signature(RMIA.score_samples).parameters) == ["self", "model", "X", "y"]


def test_rmia_deterministic_per_seed(ad):
    X, y = ad.X[:80], ad.y[:80]
    ref = TorchMLPClassifier(hidden_sizes=(8,), epochs=2)
    target = TorchMLPClassifier(hidden_sizes=(8,), epochs=2, random_state=0).fit(X[:40], y[:40])
    fits = [RMIA(ref, n_references=2, random_state=rs).fit(X, y) for rs in (0, 0, 1)]
    s = [f.score_samples(target, ad.X[80:120], ad.y[80:120]) for f in fits]
    np.testing.assert_array_equal(fits[0].masks_, fits[1].masks_)
    np.testing.assert_array_equal(s[0], s[1])
    assert not np.array_equal(fits[0].masks_, fits[2].masks_)
    assert not np.array_equal(s[0], s[2])


@pytest.mark.parametrize("online", [True, False])
def test_rmia_beats_guessing_on_overfit_target(online):
    d = make_ad_clicks(900, random_state=7)
    X, y = d.X[:600], d.y[:600]  # members: the first 300
    target = TorchMLPClassifier(epochs=15, random_state=0).fit(X[:300], y[:300])
    Xp, yp = (X, y) if online else (d.X[600:], d.y[600:])  # offline: population without candidates
    rmia = RMIA(TorchMLPClassifier(epochs=15), n_references=4, online=online, random_state=0).fit(Xp, yp)
    assert roc_auc(np.r_[np.ones(300), np.zeros(300)], rmia.score_samples(target, X, y)) > 0.6




@pytest.mark.parametrize("params, X, y, err, match", [
    (dict(n_references=0), None, None, ValueError, "n_references"),
    (dict(n_references=2.0), None, None, TypeError, "n_references"),
    (dict(gamma=0.0), None, None, ValueError, "gamma"),
    (dict(gamma=-1.0), None, None, ValueError, "gamma"),
    (dict(gamma=float("nan")), None, None, ValueError, "gamma"),
    (dict(gamma="2"), None, None, TypeError, "gamma"),
    (dict(offline_a=-0.1), None, None, ValueError, "offline_a"),
    (dict(offline_a=1.5), None, None, ValueError, "offline_a"),
    (dict(), np.full((8, 2), np.nan), None, ValueError, "X_population"),
    (dict(), None, [0, 1] * 3, ValueError, "y_population"),
    (dict(reference_model=object()), None, None, TypeError, "estimator"),
])
def test_fit_bad_inputs_raise_before_training(params, X, y, err, match):
    Recorder.calls.clear()
    params = {"reference_model": Recorder(), **params}
    with pytest.raises(err, match=match):
        RMIA(**params).fit(np.eye(8) if X is None else X, [0, 1] * 4 if y is None else y)
    assert Recorder.calls == []
    RMIA(Recorder(), n_references=1, gamma=0.5, offline_a=1.0, random_state=0).fit(np.eye(8), [0, 1] * 4)
    assert len(Recorder.calls) == 1  # the good inputs do train


def test_scoring_bad_inputs(lr_rmia, small_model):
    rmia, X, y = lr_rmia
    with pytest.raises(NotFittedError, match="fit"):
        RMIA().score_samples(small_model, X, y)
    with pytest.raises(TypeError, match="model"):
        rmia.score_samples(object(), X, y)
    with pytest.raises(ValueError, match="y"):
        rmia.score_samples(small_model, X[:3], [0, 1, 2])
    with pytest.raises(ValueError, match="y"):
        rmia.score_samples(small_model, X[:3], y[:2])
    with pytest.raises(ValueError, match="X"):
        rmia.score_samples(small_model, np.full((2, 60), np.nan), [0, 1])
