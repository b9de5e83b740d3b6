"""make_target_setting and the many-targets evaluation (mia_course.many_targets)."""
import numpy as np
import pytest
from scipy.stats import norm
from scipy.stats import t as t_dist
from sklearn.linear_model import LogisticRegression

from mia_course.attacks import LossThresholdAttack
from mia_course.data import alice
from mia_course.experiments import make_target_setting
from mia_course.many_targets import (evaluate_targets, format_table, mean_sd, out_p_values, out_z_scores,
                                     precision, train_targets, train_targets_on)
from mia_course.metrics import attack_summary, resolvable_fpr, tpr_at_fpr, tpr_curves
from mia_course.models import TorchMLPClassifier

SMALL = TorchMLPClassifier(hidden_sizes=(16,), epochs=3)


def test_make_target_setting_defaults_to_10000_non_members():
    s = make_target_setting(n_members=50, model=LogisticRegression(max_iter=200), random_state=0)
    assert s.is_member.sum() == 50 and (~s.is_member).sum() == 10_000
    assert len(s.X_eval) == len(s.y_eval) == 10_050
    x_alice, y_alice = alice()
    assert np.array_equal(s.X_eval[s.alice_index], x_alice) and s.y_eval[s.alice_index] == y_alice
    assert s.alice_index == 49 and s.is_member[s.alice_index]
    # members and non-members are different people of the population (rows drawn without overlap)
    assert np.array_equal(s.X_eval[50:], s.X_test)
    # deterministic
    t = make_target_setting(n_members=50, model=LogisticRegression(max_iter=200), random_state=0)
    assert np.array_equal(s.X_eval, t.X_eval)
    np.testing.assert_allclose(s.model.predict_proba(s.X_test[:20]), t.model.predict_proba(t.X_test[:20]))


def test_make_target_setting_rejects_bad_input():
    with pytest.raises(ValueError, match="n_non_members"):
        make_target_setting(n_non_members=0)
    with pytest.raises(TypeError, match="include_alice"):
        make_target_setting(include_alice="yes")


def test_train_targets_carlini_design():
    fam = train_targets(4, n_members=60, n_held_out=200, model=SMALL, random_state=1)
    assert fam.masks.shape == (4, 320) and len(fam) == 4
    assert (fam.masks.sum(1) == 60).all()
    assert not fam.masks[:, 120:].any(), "held-out users are in no training set"
    assert (fam.masks[0, :120] == ~fam.masks[1, :120]).all(), "targets come in complementary pairs"
    assert (fam.masks[:, :120].sum(0) == 2).all(), "each pool user is a member of half the targets"
    assert fam.n_non_members() == 260
    # the same random_state gives the same targets
    again = train_targets(4, n_members=60, n_held_out=200, model=SMALL, random_state=1)
    assert np.array_equal(fam.masks, again.masks)
    np.testing.assert_allclose(fam.model(2).predict_proba(fam.X[:5]), again.model(2).predict_proba(fam.X[:5]))


def test_train_targets_on_checks_input():
    X = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    y = np.arange(20) % 2
    with pytest.raises(ValueError, match="n_targets"):
        train_targets_on(LogisticRegression(), X, y, 1)
    with pytest.raises(ValueError, match="pool"):
        train_targets_on(LogisticRegression(), X, y, 2, pool=np.ones(5, bool))


def test_evaluate_targets_matches_a_loop_over_attack_summary():
    fam = train_targets(4, n_members=60, n_held_out=1000, model=SMALL, random_state=2)
    attack = LossThresholdAttack()
    table, scores = evaluate_targets(fam, lambda m, k: attack.score_samples(m, fam.X, fam.y), fprs=(0.01,))
    assert scores.shape == (4, len(fam.y))
    for k in range(4):
        ref = attack_summary(fam.masks[k], attack.score_samples(fam.model(k), fam.X, fam.y), (0.01,))
        for key, value in ref.items():
            assert table[key][k] == pytest.approx(value)
    # 0.1% of 1060 non-members is 1 false positive: not resolvable
    with pytest.raises(ValueError, match="fprs"):
        evaluate_targets(fam, lambda m, k: attack.score_samples(m, fam.X, fam.y), fprs=(0.001,))
    with pytest.raises(ValueError, match="score_fn"):
        evaluate_targets(fam, lambda m, k: np.zeros(3), fprs=(0.01,))
    with pytest.raises(TypeError, match="score_fn"):
        evaluate_targets(fam, None)
    text = format_table({"loss": table}, columns=("AUC", "TPR@1.0% FPR"))
    m, s = mean_sd(table["AUC"])
    assert f"{m:.3f} ± {s:.3f}" in text


def test_mean_sd_and_resolvable_fpr():
    assert mean_sd([1.0, 3.0]) == (2.0, pytest.approx(np.sqrt(2)))
    with pytest.raises(ValueError):
        mean_sd([1.0])
    assert resolvable_fpr(10_000) == 0.001 and resolvable_fpr(285) == pytest.approx(10 / 285)


def test_tpr_curves_agree_with_tpr_at_fpr():
    rng = np.random.default_rng(3)
    masks = rng.random((3, 400)) < 0.3
    scores = rng.normal(size=(3, 400)) + masks
    grid = np.array([0.0, 0.003, 0.01, 0.05, 0.2, 1.0])
    curves = tpr_curves(masks, scores, grid)
    for k in range(3):
        for j, f in enumerate(grid):
            assert curves[k, j] == pytest.approx(tpr_at_fpr(masks[k], scores[k], f))


def test_precision_is_bayes_rule_checked_by_simulation():
    rng = np.random.default_rng(4)
    n, b, tpr, fpr = 2_000_000, 0.01, 0.2, 0.001
    member = rng.random(n) < b
    flagged = np.where(member, rng.random(n) < tpr, rng.random(n) < fpr)
    assert precision(tpr, fpr, b) == pytest.approx(member[flagged].mean(), abs=0.02)
    assert precision(0.2, 0.2, 0.5) == pytest.approx(0.5)
    assert precision(1.0, 0.0, 0.001) == 1.0
    assert np.isnan(precision(0.0, 0.0, 0.1))
    with pytest.raises(ValueError, match="base_rate"):
        precision(0.1, 0.1, 0.0)
    with pytest.raises(ValueError, match="rates"):
        precision(1.5, 0.1, 0.1)


def test_out_p_values_reference_and_calibration():
    rng = np.random.default_rng(5)
    n_shadows, n = 40, 3000
    mu, sd = rng.normal(size=n), rng.uniform(0.5, 2, size=n)
    phi = mu + sd * rng.normal(size=(n_shadows, n))
    is_in = rng.random((n_shadows, n)) < 0.5
    target = mu + sd * rng.normal(size=n)  # the target is another OUT draw: a non-member
    p = out_p_values(target, phi, is_in, student=False)
    j = 7  # slow, obvious reference for one record
    out = phi[~is_in[:, j], j]
    assert p[j] == pytest.approx(norm.sf(target[j], out.mean(), out.std(ddof=1)))
    c = len(out)
    pt = out_p_values(target, phi, is_in)
    assert pt[j] == pytest.approx(t_dist.sf((target[j] - out.mean()) / (out.std(ddof=1) * np.sqrt(1 + 1 / c)), c - 1))
    # flagging p < alpha flags about alpha of the non-members (the OUT model is right here)
    assert abs(np.mean(p < 0.05) - 0.05) < 0.02
    with pytest.raises(ValueError, match="OUT"):
        out_p_values(target, phi, np.ones_like(is_in))
    with pytest.raises(ValueError, match="phi"):
        out_p_values(target[:5], phi, is_in)


def test_out_p_values_student_is_calibrated_with_few_shadows():
    """With 6 OUT shadows the plug-in Gaussian flags several times too many non-members at
    alpha = 0.1%; the predictive Student-t lands on alpha (checked on 200,000 nulls)."""
    rng = np.random.default_rng(6)
    n = 200_000
    mu, sd = rng.normal(size=n), rng.uniform(0.5, 2, size=n)
    phi = mu + sd * rng.normal(size=(6, n))
    target = mu + sd * rng.normal(size=n)
    none_in = np.zeros_like(phi, dtype=bool)
    assert np.mean(out_p_values(target, phi, none_in) < 0.001) == pytest.approx(0.001, abs=0.0003)
    assert np.mean(out_p_values(target, phi, none_in, student=False) < 0.001) > 0.004
    assert np.mean(out_p_values(target, phi, none_in) < 0.01) == pytest.approx(0.01, abs=0.001)


def test_out_z_scores_rank_like_offline_lira_without_saturating():
    from mia_course.lira import lira_scores
    rng = np.random.default_rng(7)
    phi = rng.normal(size=(10, 300))
    is_in = rng.random((10, 300)) < 0.4
    is_in[:3] = False  # every record keeps at least 3 OUT shadows
    target = rng.normal(size=300) * 3
    z, count = out_z_scores(target, phi, is_in)
    lira = lira_scores(target, phi, is_in, online=False, fixed_variance=False)
    finite = lira > -30  # where logcdf is not in its far tail, the two order records alike
    assert np.array_equal(np.argsort(z[finite]), np.argsort(lira[finite]))
    assert (count == (~is_in).sum(0)).all()
    far = out_z_scores(np.array([100.0, 200.0]), np.zeros((4, 2)) + rng.normal(size=(4, 2)), np.zeros((4, 2), bool))[0]
    assert far[1] > far[0] > 10, "very confident targets stay ordered"


def test_roc_clopper_pearson_band_covers_the_true_tpr():
    """Members' scores ~ N(1, 1), non-members' ~ N(0, 1): the true TPR at a threshold is known.
    The band at a fixed threshold (set by 20,000 non-members) covers it in about 95% of draws."""
    from scipy.stats import norm as normal
    from mia_course.plots import roc_clopper_pearson
    rng = np.random.default_rng(8)
    covered = 0
    n_in, n_out, f = 200, 20_000, 0.01
    for _ in range(200):
        is_member = np.r_[np.ones(n_in, bool), np.zeros(n_out, bool)]
        scores = np.r_[rng.normal(1, 1, n_in), rng.normal(0, 1, n_out)]
        tpr, low, high = roc_clopper_pearson(is_member, scores, [f])
        true = normal.sf(normal.isf(f) - 1)
        covered += low[0] <= true <= high[0]
    assert covered / 200 > 0.88
    tpr, low, high = roc_clopper_pearson(is_member, scores, [0.0, f, 1.0])
    assert tpr[1] == pytest.approx(tpr_at_fpr(is_member, scores, f)) and tpr[2] == 1.0
    assert (low <= tpr).all() and (tpr <= high).all()


def test_draw_users_keeps_only_the_given_segments():
    from mia_course.experiments import draw_users
    d = draw_users(300, [1, 3], np.random.RandomState(0))
    assert len(d) == 300 and set(np.unique(d.segment)) <= {1, 3}
    with pytest.raises(TypeError, match="segments"):
        draw_users(10, "tech", np.random.RandomState(0))
    with pytest.raises(ValueError, match="segments"):
        draw_users(10, [7], np.random.RandomState(0))


def test_privacy_utility_targets_matches_a_loop_over_targets():
    from mia_course.privacy_sweeps import privacy_utility_targets
    model = LogisticRegression(max_iter=300)
    row, fam = privacy_utility_targets(model, n_targets=3, n_members=150, random_state=3)
    assert len(fam) == 3 and fam.n_non_members() == 150 + 10_000
    held_out = ~fam.masks.any(0)
    acc = [np.mean(fam.model(k).predict(fam.X[held_out]) == fam.y[held_out]) for k in range(3)]
    assert row["test accuracy"] == pytest.approx(np.mean(acc))
    assert row["test accuracy sd"] == pytest.approx(np.std(acc, ddof=1))
    loss = [attack_summary(fam.masks[k], LossThresholdAttack().score_samples(fam.model(k), fam.X, fam.y))
            for k in range(3)]
    for key in ("AUC", "TPR@0.1% FPR", "TPR@1.0% FPR"):
        assert row[f"loss {key}"] == pytest.approx(np.mean([r[key] for r in loss]))
    assert 0.0 <= row["RMIA AUC"] <= 1.0 and row["RMIA AUC sd"] >= 0
    again, _ = privacy_utility_targets(model, n_targets=3, n_members=150, random_state=3)
    assert again == pytest.approx(row)
    with pytest.raises(ValueError, match="n_targets"):
        privacy_utility_targets(model, n_targets=1)
    with pytest.raises(ValueError, match="n_references"):
        privacy_utility_targets(model, n_references=0)
    from mia_course.experiments import draw_users
    _, fam2 = privacy_utility_targets(model, n_targets=2, n_members=100, segments=[2], random_state=0)
    expected = draw_users(200 + 10_000, [2], np.random.RandomState(0))  # the users train_targets draws
    assert np.array_equal(fam2.X, expected.X) and set(np.unique(expected.segment)) == {2}


def test_privacy_utility_targets_rmia_matches_a_loop_over_targets():
    """The targets' answers are computed once and reused: RMIA's scores are those of a
    fresh RMIA (fitted as the function fits it) asking each target itself."""
    from sklearn.base import clone
    from mia_course.data import make_ad_clicks
    from mia_course.privacy_sweeps import privacy_utility_targets
    from mia_course.rmia import RMIA
    model = LogisticRegression(max_iter=300)
    row, fam, scores = privacy_utility_targets(model, n_targets=2, n_members=150, random_state=4,
                                               return_scores=True)
    population = make_ad_clicks(2000, random_state=10_004)
    rmia = RMIA(reference_model=clone(model), n_references=2, random_state=4).fit(population.X, population.y)
    for k in range(2):
        np.testing.assert_array_equal(scores["RMIA"][k], rmia.score_samples(fam.model(k), fam.X, fam.y))
        np.testing.assert_array_equal(scores["loss"][k], LossThresholdAttack().score_samples(fam.model(k), fam.X, fam.y))
