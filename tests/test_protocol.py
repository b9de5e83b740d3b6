"""Carlini et al.'s protocol: each model in turn the target, the others its shadows."""
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from mia_course.data import make_ad_clicks
from mia_course.defenses import RoundedOutputs
from mia_course.lira import lira_scores, logit_confidence
from mia_course.metrics import roc_auc, tpr_at_fpr
from mia_course.protocol import lira_each_target, roc_band, summary_over_targets, target_phis
from mia_course.shadows import train_on_random_halves


@pytest.fixture(scope="module")
def models():
    d = make_ad_clicks(120, random_state=0)
    masks, models = train_on_random_halves(LogisticRegression(max_iter=300), d.X, d.y, 6, np.random.RandomState(0))
    return d.X, d.y, masks, models


def test_each_target_is_scored_by_the_others(models):
    X, y, masks, ms = models
    rounded = lambda m: RoundedOutputs(m, 1)  # noqa: E731
    for defense, adaptive in ((None, True), (rounded, False), (rounded, True)):
        results = lira_each_target(ms, masks, X, y, 3, output_defense=defense, adaptive=adaptive)
        assert len(results) == 3
        for t, (member, scores) in enumerate(results):
            np.testing.assert_array_equal(member, masks[t])
            api = ms.model(t) if defense is None else defense(ms.model(t))
            target = logit_confidence(api.predict_proba(X), y)
            shadows = [k for k in range(6) if k != t]
            phi = np.stack([logit_confidence((ms.model(k) if defense is None or not adaptive else
                                              defense(ms.model(k))).predict_proba(X), y) for k in shadows])
            # 5 shadows: one global variance by default (Carlini et al.: below 64 shadows)
            np.testing.assert_allclose(scores, lira_scores(target, phi, masks[shadows], online=True,
                                                           fixed_variance=True), rtol=1e-9)
            if t == 0 and defense is None:
                per_record = lira_each_target(ms, masks, X, y, 1, fixed_variance=False)[0][1]
                np.testing.assert_allclose(per_record, lira_scores(target, phi, masks[shadows], online=True,
                                                                   fixed_variance=False), rtol=1e-9)
    assert target_phis(ms, X, y, 2).shape == (2, len(y))
    with pytest.raises(ValueError, match="n_targets"):
        target_phis(ms, X, y, 7)


def test_summary_and_band_are_means_and_spreads_over_targets(models):
    X, y, masks, ms = models
    results = lira_each_target(ms, masks, X, y, 4)
    summary = summary_over_targets(results, fprs=(0.1,))
    aucs = [roc_auc(m, s) for m, s in results]
    assert summary["AUC"] == pytest.approx((np.mean(aucs), np.std(aucs, ddof=1)))
    tprs = [tpr_at_fpr(m, s, 0.1) for m, s in results]
    assert summary["TPR@10.0% FPR"] == pytest.approx((np.mean(tprs), np.std(tprs, ddof=1)))
    mean, sd = roc_band(results, [0.1, 0.5])
    assert mean[0] == pytest.approx(np.mean(tprs)) and sd[0] == pytest.approx(np.std(tprs, ddof=1))
    assert mean[1] >= mean[0]
