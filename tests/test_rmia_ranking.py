"""RMIA's ranking fact, its fitted offline ``a``, Z held out; LiRA on pools with duplicates."""
import copy

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from mia_course.data import make_ad_clicks
from mia_course.lira import LiRA
from mia_course.metrics import roc
from mia_course.attacks import true_class_probs
from mia_course.rmia import RMIA, fit_offline_a, offline_probability

LR = LogisticRegression(max_iter=300)


@pytest.fixture(scope="module")
def population():
    return make_ad_clicks(400, random_state=11)  # other users of the same world


@pytest.fixture(scope="module")
def fitted(small_model, ad, population):
    rmia = RMIA(LR, n_references=4, random_state=0).fit(population.X, population.y)
    return rmia, ad.X[100:300], ad.y[100:300], np.arange(100, 300) < 200  # small_model's members: < 200


def test_rmia_ranks_records_by_the_ratio_alone(fitted, small_model):
    """For one target and a fixed Z, the score orders records exactly as p(x|theta)/p(x):
    gamma and the size of Z change the scores but not the ROC."""
    rmia, X, y, member = fitted
    P = small_model.predict_proba(X)
    ratio = np.maximum(P[np.arange(len(y)), y], 1e-6) / rmia.reference_probability(X, y)
    base = rmia.score_samples(small_model, X, y)
    np.testing.assert_array_equal(np.argsort(base, kind="stable"), np.argsort(ratio, kind="stable"))
    curves = []
    for gamma in (0.5, 1.0, 2.0):
        for n_z in (5, 40, len(rmia.y_z_)):
            r = copy.deepcopy(rmia).set_params(gamma=gamma)
            r.X_z_, r.y_z_ = rmia.X_z_[:n_z], rmia.y_z_[:n_z]
            s = r.score_samples(small_model, X, y)
            curves.append(roc(member, s)[:2])
            assert roc_auc_score(member, s) == roc_auc_score(member, ratio)
    for fpr, tpr in curves[1:]:
        np.testing.assert_array_equal(fpr, curves[0][0])
        np.testing.assert_array_equal(tpr, curves[0][1])


def test_z_is_held_out_from_every_reference(fitted, population):
    rmia, *_ = fitted
    X, yp = population.X, population.y
    assert rmia.z_mask_.sum() == 100 and rmia.masks_.shape == (4, 300)
    np.testing.assert_array_equal(rmia.X_z_, X[rmia.z_mask_])
    for k in range(4):  # reference k trained on its half of the rows outside Z
        ref = LogisticRegression(max_iter=300).fit(X[~rmia.z_mask_][rmia.masks_[k]], yp[~rmia.z_mask_][rmia.masks_[k]])
        np.testing.assert_allclose(rmia.references_.model(k).predict_proba(X), ref.predict_proba(X), atol=1e-12)
    online = RMIA(LR, n_references=2, online=True, random_state=0).fit(X, yp)
    assert len(online.y_z_) == 400 and not online.z_mask_.any()  # online: Z is the pool


def slow_fit_a(p, masks, pz, grid):
    means = []
    for a in grid:
        aucs = []
        for k in range(len(p)):
            s, lab = [], []
            for i in range(p.shape[1]):
                outs = [p[j, i] for j in range(len(p)) if j != k and not masks[j, i]]
                if masks[k, i] and outs:
                    s.append(max(p[k, i], 1e-6) / max(((1 + a) * np.mean(outs) + 1 - a) / 2, 1e-6))
                    lab.append(1)
            for i in range(pz.shape[1]):
                outs = [pz[j, i] for j in range(len(p)) if j != k]
                s.append(max(pz[k, i], 1e-6) / max(((1 + a) * np.mean(outs) + 1 - a) / 2, 1e-6))
                lab.append(0)
            aucs.append(roc_auc_score(lab, s))
        means.append(np.mean(aucs))
    return grid[int(np.argmax(means))]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fit_offline_a_matches_slow_loop(seed):
    rng = np.random.default_rng(seed)
    masks = rng.random((4, 30)) < 0.5
    easy = rng.random(30)
    p = np.clip(easy + 0.3 * masks + rng.normal(0, 0.1, (4, 30)), 0.01, 0.99)
    pz = np.clip(rng.random(20) + rng.normal(0, 0.1, (4, 20)), 0.01, 0.99)
    grid = np.linspace(0, 1, 11)
    assert fit_offline_a(p, masks, pz, grid) == slow_fit_a(p, masks, pz, grid)


def test_fitted_a_is_used_and_a_number_overrides_it(fitted):
    rmia, X, y, _ = fitted
    assert 0.0 <= rmia.a_ <= 1.0
    p = true_class_probs(rmia.references_.predict_proba(X), y).mean(0)
    np.testing.assert_allclose(rmia.reference_probability(X, y), offline_probability(p, rmia.a_))
    fixed = copy.deepcopy(rmia).set_params(offline_a=0.9)
    np.testing.assert_allclose(fixed.reference_probability(X, y), offline_probability(p, 0.9))
    with pytest.raises(ValueError, match="offline_a"):
        RMIA(LR, n_references=1).fit(X, y)  # one reference cannot play target and reference


def test_online_lira_splits_by_distinct_record():
    d = make_ad_clicks(60, random_state=3)
    X, y = np.r_[d.X, d.X[:20], d.X[:10]], np.r_[d.y, d.y[:20], d.y[:10]]  # 30 duplicated rows
    lira = LiRA(LR, n_shadows=4, random_state=0).fit(X, y)
    np.testing.assert_array_equal(lira.masks_[:, 60:80], lira.masks_[:, :20])  # copies IN together
    np.testing.assert_array_equal(lira.masks_[:, 80:], lira.masks_[:, :10])
    np.testing.assert_array_equal(lira.masks_[:, :60].sum(0), 2)  # each distinct record: half the shadows
    target = LogisticRegression(max_iter=300).fit(d.X[:30], d.y[:30])
    for seed in range(5):  # used to raise "some record has no OUT shadow" on such pools
        s = lira.set_params(random_state=seed).fit(X, y).score_samples(target, X, y)
        assert np.all(np.isfinite(s))
        np.testing.assert_array_equal(s[60:80], s[:20])


def test_fit_offline_a_picks_the_grid_value_with_the_best_mean_roc_auc():
    """The grid's AUCs from midranks: the same choice as roc_auc_score in a loop."""
    rng = np.random.RandomState(0)
    for trial in range(5):
        masks = rng.rand(3, 200) < 0.5
        p_refs = np.clip(rng.beta(5, 2, (3, 200)) + 0.1 * masks, 0, 1).round(2)  # ties too
        p_refs_z = rng.beta(5, 2, (3, 80)).round(2)
        grid = np.linspace(0.0, 1.0, 21)
        aucs = np.zeros(len(grid))
        for k in range(3):
            others = np.arange(3) != k
            out = ~masks[others]
            members = masks[k] & out.any(axis=0)
            p_out = np.r_[(np.where(out, p_refs[others], 0).sum(0) / np.maximum(out.sum(0), 1))[members],
                          p_refs_z[others].mean(axis=0)]
            target = np.maximum(np.r_[p_refs[k][members], p_refs_z[k]], 1e-6)
            is_in = np.r_[np.ones(members.sum(), bool), np.zeros(80, bool)]
            aucs += [roc_auc_score(is_in, target / np.maximum(offline_probability(p_out, a), 1e-6)) for a in grid]
        assert fit_offline_a(p_refs, masks, p_refs_z) == grid[int(np.argmax(aucs))]
