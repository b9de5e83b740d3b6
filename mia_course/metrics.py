"""How good is a membership inference attack? ROC, AUC, TPR at low FPR, advantage.

Introduced in notebooks/02_threshold_attacks_and_metrics.ipynb.

All functions take ``is_member`` (True for records in the training set) and the attack's
``scores`` (higher = more likely a member), and are built on scikit-learn's ``roc_curve``.
"""
from collections.abc import Iterable

import numpy as np
from sklearn.metrics import auc, roc_auc_score, roc_curve

from mia_course._validation import check_int, check_membership, check_real, check_vector
from mia_course.hints import ArrayLike


def _check(is_member: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    scores = check_vector(scores, "scores")
    is_member = check_membership(is_member, "is_member", n=len(scores))
    return is_member, scores


def roc(is_member: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fpr, tpr, thresholds)`` of every threshold (no points dropped)."""
    is_member, scores = _check(is_member, scores)
    return roc_curve(is_member, scores, drop_intermediate=False)


def roc_auc(is_member: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve: 0.5 is guessing, 1.0 a perfect attack."""
    is_member, scores = _check(is_member, scores)
    return float(roc_auc_score(is_member, scores))


def tpr_at_fpr(is_member: ArrayLike, scores: ArrayLike, fpr: float) -> float:
    """The largest TPR among thresholds whose FPR is at most ``fpr`` (no interpolation).

    Introduced in notebooks/02_threshold_attacks_and_metrics.ipynb.
    """
    fpr = check_real(fpr, "fpr", minimum=0.0, maximum=1.0)
    fprs, tprs, _ = roc(is_member, scores)
    return float(tprs[fprs <= fpr].max())  # roc_curve always starts at (0, 0)


def membership_advantage(is_member: ArrayLike, scores: ArrayLike) -> float:
    """The best TPR - FPR over all thresholds (Yeom et al. 2018)."""
    fprs, tprs, _ = roc(is_member, scores)
    return float(np.max(tprs - fprs))


def attack_summary(is_member: ArrayLike, scores: ArrayLike, fprs: Iterable[float] = (0.001, 0.01)) -> dict[str, float]:
    """A dict with AUC, advantage and TPR at each FPR in ``fprs``: one row of a results table,
    the same numbers as ``roc_auc``, ``membership_advantage`` and ``tpr_at_fpr`` from one ROC
    curve (a lesson summarizes hundreds of attacks: four curves each cost 5x the time)."""
    fprs = [check_real(f, "fprs", minimum=0.0, maximum=1.0) for f in fprs]
    fpr, tpr, _ = roc(is_member, scores)
    row = {"AUC": float(auc(fpr, tpr)), "advantage": float(np.max(tpr - fpr))}
    for f in fprs:
        row[f"TPR@{f:.1%} FPR"] = float(tpr[fpr <= f].max())
    return row


def threshold_at_fpr(non_member_scores: ArrayLike, fpr: float) -> float:
    """The course's one rule for "the threshold that flags ``fpr`` of the non-members": the
    ``1 - fpr`` quantile of their scores, ``np.quantile(..., method="higher")`` (a score of
    the sample, no interpolation). A record is flagged when its score is strictly above it,
    which flags at most ``fpr`` of the non-members.

    Introduced in notebooks/06_who_is_exposed.ipynb."""
    non_member_scores = check_vector(non_member_scores, "non_member_scores")
    fpr = check_real(fpr, "fpr", minimum=0.0, maximum=1.0)
    return float(np.quantile(non_member_scores, 1 - fpr, method="higher"))


def most_exposed(is_member: ArrayLike, scores: ArrayLike, *, top: int = 10,
                 fpr: float = 0.01) -> list[tuple[int, float, bool]]:
    """The ``top`` highest-scoring members as ``(index, score, flagged)`` rows, where
    ``flagged`` says whether the score passes the threshold that flags ``fpr`` of the
    non-members (an auditor's view: it uses the true membership).

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    is_member, scores = _check(is_member, scores)
    top = check_int(top, "top", minimum=1)
    fpr = check_real(fpr, "fpr", minimum=0.0, maximum=1.0)
    threshold = threshold_at_fpr(scores[~is_member], fpr)
    members = np.flatnonzero(is_member)
    order = members[np.argsort(-scores[members], kind="stable")][:top]
    return [(int(i), float(scores[i]), bool(scores[i] > threshold)) for i in order]


def resolvable_fpr(n_non_members: int, min_false_positives: int = 10) -> float:
    """The lowest FPR at which ``n_non_members`` give ``min_false_positives`` false positives.

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    n = check_int(n_non_members, "n_non_members", minimum=1)
    return check_int(min_false_positives, "min_false_positives", minimum=1) / n


def tpr_curves(masks: ArrayLike, scores: ArrayLike, grid: ArrayLike) -> np.ndarray:
    """``[n_targets, len(grid)]``: each target's largest TPR at FPR <= each grid value
    (``tpr_at_fpr``'s rule, no interpolation), for ROC bands; ``masks[k]`` marks target
    ``k``'s members and ``scores[k]`` are the attack's scores against it.

    Introduced in notebooks/02_threshold_attacks_and_metrics.ipynb."""
    grid = np.asarray(grid, float)
    out = np.zeros((len(masks), len(grid)))
    for k, (m, s) in enumerate(zip(masks, scores)):
        f, t, _ = roc(m, s)
        best = np.maximum.accumulate(t)  # roc's fpr is non-decreasing
        out[k] = best[np.searchsorted(f, grid, side="right") - 1]
    return out
