import numpy as np
import pytest

from mia_course.metrics import attack_summary, membership_advantage, roc, roc_auc, tpr_at_fpr

# 4 members, 4 non-members. Sorted by score: M M N M N M N N, so the ROC points are
# (0,0) (0,.25) (0,.5) (.25,.5) (.25,.75) (.5,.75) (.5,1) (.75,1) (1,1).
MEMBER = [1, 1, 1, 1, 0, 0, 0, 0]
SCORES = [0.9, 0.8, 0.6, 0.3, 0.7, 0.5, 0.2, 0.1]


@pytest.mark.parametrize("fpr, tpr", [(0.0, 0.5), (0.1, 0.5), (0.25, 0.75), (0.4, 0.75),
                                      (0.5, 1.0), (1.0, 1.0)])
def test_tpr_at_fpr_hand_worked(fpr, tpr):
    assert tpr_at_fpr(MEMBER, SCORES, fpr) == tpr


def test_roc_auc_and_advantage_hand_worked():
    assert roc_auc(MEMBER, SCORES) == pytest.approx(13 / 16)  # 13 of 16 pairs ordered
    assert membership_advantage(MEMBER, SCORES) == pytest.approx(0.5)
    fpr, tpr, thr = roc(MEMBER, SCORES)
    np.testing.assert_allclose(fpr, [0, 0, 0, .25, .25, .5, .5, .75, 1])
    np.testing.assert_allclose(tpr, [0, .25, .5, .5, .75, .75, 1, 1, 1])
    assert np.isinf(thr[0]) and len(thr) == 9  # no points dropped


def test_ties_and_no_interpolation():
    # members 0.9, 0.5; non-members 0.5, 0.1: the tie gives a diagonal (0,.5) -> (.5,1)
    member, scores = [1, 1, 0, 0], [0.9, 0.5, 0.5, 0.1]
    assert roc_auc(member, scores) == pytest.approx(3.5 / 4)
    assert tpr_at_fpr(member, scores, 0.25) == 0.5  # interpolation would say 0.75
    assert tpr_at_fpr(member, scores, 0.49) == 0.5
    assert tpr_at_fpr(member, scores, 0.5) == 1.0
    assert membership_advantage(member, scores) == pytest.approx(0.5)
    # all scores tied: no information
    assert roc_auc(member, [1, 1, 1, 1]) == 0.5
    assert tpr_at_fpr(member, [1, 1, 1, 1], 0.5) == 0.0
    assert membership_advantage(member, [1, 1, 1, 1]) == 0.0


def test_perfect_and_inverted_attacks():
    member = np.array([True, True, False, False])
    assert roc_auc(member, [4, 3, 2, 1]) == 1.0
    assert tpr_at_fpr(member, [4, 3, 2, 1], 0.0) == 1.0
    assert membership_advantage(member, [4, 3, 2, 1]) == 1.0
    assert roc_auc(member, [1, 2, 3, 4]) == 0.0
    assert membership_advantage(member, [1, 2, 3, 4]) == 0.0  # the (0, 0) point


def slow_roc_points(member, scores):
    """(fpr, tpr) of the rule 'score >= t' for every threshold t, plus 'flag nobody'."""
    member = np.asarray(member, bool)
    points = [(0.0, 0.0)]
    for t in np.unique(scores):
        flagged = [s >= t for s in scores]
        tp = sum(f and m for f, m in zip(flagged, member))
        fp = sum(f and not m for f, m in zip(flagged, member))
        points.append((fp / np.sum(~member), tp / np.sum(member)))
    return points


def slow_auc(member, scores):
    """Mann-Whitney: P(member score > non-member score), ties count one half."""
    ins = [s for s, m in zip(scores, member) if m]
    outs = [s for s, m in zip(scores, member) if not m]
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in ins for b in outs)
    return wins / (len(ins) * len(outs))


@pytest.mark.parametrize("seed", range(4))
def test_against_slow_references(seed):
    rng = np.random.default_rng(seed)
    n = 60
    member = rng.random(n) < 0.4
    member[:2] = [True, False]
    scores = np.round(rng.normal(size=n) + 0.7 * member, 1)  # rounding makes ties
    points = slow_roc_points(member, scores)
    assert roc_auc(member, scores) == pytest.approx(slow_auc(member, scores))
    assert membership_advantage(member, scores) == pytest.approx(max(t - f for f, t in points))
    for fpr in [0.0, 0.01, 0.05, 0.1, 0.3, 0.77, 1.0]:
        expected = max(t for f, t in points if f <= fpr)
        assert tpr_at_fpr(member, scores, fpr) == pytest.approx(expected)


def test_attack_summary():
    row = attack_summary(MEMBER, SCORES)
    assert list(row) == ["AUC", "advantage", "TPR@0.1% FPR", "TPR@1.0% FPR"]
    assert row["AUC"] == roc_auc(MEMBER, SCORES)
    assert row["advantage"] == membership_advantage(MEMBER, SCORES)
    assert row["TPR@0.1% FPR"] == row["TPR@1.0% FPR"] == 0.5
    assert attack_summary(MEMBER, SCORES, fprs=(0.25,)) == {
        "AUC": 13 / 16, "advantage": 0.5, "TPR@25.0% FPR": 0.75}


@pytest.mark.parametrize("seed", range(5))
def test_attack_summary_from_one_curve_is_each_function_s_number(seed):
    """One ROC curve gives the same numbers as the four functions (sklearn's roc_auc_score
    among them), ties and all."""
    rng = np.random.default_rng(seed)
    member = rng.random(3000) < 0.3
    scores = np.round(rng.normal(size=3000) + member, 1)  # many ties
    fprs = (0.001, 0.01, 0.1, 0.5)
    row = attack_summary(member, scores, fprs)
    assert row["AUC"] == pytest.approx(roc_auc(member, scores), abs=1e-12)
    assert row["advantage"] == membership_advantage(member, scores)
    for f in fprs:
        assert row[f"TPR@{f:.1%} FPR"] == tpr_at_fpr(member, scores, f)
    with pytest.raises(ValueError, match="fprs"):
        attack_summary(member, scores, (1.5,))


FUNCS = {
    "roc": roc,
    "roc_auc": roc_auc,
    "tpr_at_fpr": lambda m, s: tpr_at_fpr(m, s, 0.1),
    "membership_advantage": membership_advantage,
    "attack_summary": attack_summary,
}
BAD = [
    ([1, 0, 1], [0.1, np.nan, 0.3], ValueError, "scores"),
    ([1, 0, 1], [0.1, np.inf, 0.3], ValueError, "scores"),
    ([], [], ValueError, "scores"),
    ([1, 0], [[0.1, 0.2], [0.3, 0.4]], ValueError, "scores"),
    ([1, 0], None, TypeError, "scores"),
    ([1, 0], ["a", "b"], TypeError, "scores"),
    ([1, 0, 1], [0.1, 0.2], ValueError, "is_member"),
    ([1, 1, 1], [0.1, 0.2, 0.3], ValueError, "is_member"),
    ([0, 0, 0], [0.1, 0.2, 0.3], ValueError, "is_member"),
    ([1, 2, 0], [0.1, 0.2, 0.3], ValueError, "is_member"),
    ([1, np.nan, 0], [0.1, 0.2, 0.3], ValueError, "is_member"),
    (None, [0.1, 0.2], TypeError, "is_member"),
]


@pytest.mark.parametrize("func", FUNCS.values(), ids=FUNCS.keys())
@pytest.mark.parametrize("member, scores, err, match", BAD)
def test_bad_inputs(func, member, scores, err, match):
    with pytest.raises(err, match=match):
        func(member, scores)


@pytest.mark.parametrize("fpr, err", [(-0.01, ValueError), (1.5, ValueError),
                                      (float("nan"), ValueError), ("0.1", TypeError),
                                      (None, TypeError)])
def test_bad_fpr(fpr, err):
    with pytest.raises(err, match="fpr"):
        tpr_at_fpr(MEMBER, SCORES, fpr)
    with pytest.raises(err, match="fpr"):
        attack_summary(MEMBER, SCORES, fprs=(fpr,))
