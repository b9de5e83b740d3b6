"""Auditing differential privacy with attacks: a lower bound on epsilon from a ROC curve.

Introduced in notebooks/11_defense_scorecard.ipynb.

An (epsilon, delta)-DP training algorithm bounds every membership test:
``TPR <= e^eps * FPR + delta`` and ``1 - FPR <= e^eps * (1 - TPR) + delta``. An attack's ROC
point that comes close to the bound proves that epsilon is *at least* a certain size. With
finitely many members and non-members the point is uncertain, so the bound uses a
Clopper-Pearson interval: the lowest TPR and highest FPR consistent with what was observed.
The accountant's epsilon is an upper bound; the audit's must never exceed it.
"""
import numpy as np
from scipy.stats import beta

from mia_course._validation import check_real
from mia_course.metrics import roc


def clopper_pearson(successes, trials, confidence=0.95):
    """Two-sided Clopper-Pearson interval ``(low, high)`` for a binomial proportion.

    Introduced in notebooks/11_defense_scorecard.ipynb."""
    alpha = 1.0 - confidence
    k, n = np.asarray(successes, float), np.asarray(trials, float)
    low = np.where(k > 0, beta.ppf(alpha / 2, k, n - k + 1), 0.0)
    high = np.where(k < n, beta.ppf(1 - alpha / 2, k + 1, n - k), 1.0)
    return low, high


def empirical_epsilon(is_member, scores, delta, *, confidence=0.95):
    """The largest epsilon that some threshold of ``scores`` proves, at ``confidence``.

    Returns 0.0 when no threshold beats what any epsilon allows.
    Introduced in notebooks/11_defense_scorecard.ipynb."""
    delta = check_real(delta, "delta", minimum=0.0, maximum=1.0, strict_min=True, strict_max=True)
    confidence = check_real(confidence, "confidence", minimum=0.0, maximum=1.0, strict_min=True, strict_max=True)
    fpr, tpr, _ = roc(is_member, scores)
    is_member = np.asarray(is_member, dtype=bool)
    n_in, n_out = is_member.sum(), (~is_member).sum()
    tpr_low, _ = clopper_pearson(np.round(tpr * n_in), n_in, confidence)
    _, fpr_high = clopper_pearson(np.round(fpr * n_out), n_out, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.log((tpr_low - delta) / fpr_high)               # TPR <= e^eps FPR + delta
        b = np.log((1 - fpr_high - delta) / (1 - tpr_low))     # 1-FPR <= e^eps (1-TPR) + delta
    candidates = np.concatenate([a, b])
    return float(candidates[np.isfinite(candidates)].max(initial=0.0))


def dp_bound_tpr(fpr, epsilon, delta):
    """The highest TPR an (epsilon, delta)-DP model allows at each ``fpr`` (for plots).

    Introduced in notebooks/09_differential_privacy.ipynb."""
    epsilon = check_real(epsilon, "epsilon", minimum=0.0)
    delta = check_real(delta, "delta", minimum=0.0, maximum=1.0, strict_max=True)
    fpr = np.asarray(fpr, dtype=float)
    return np.clip(np.minimum(np.exp(epsilon) * fpr + delta, 1 - np.exp(-epsilon) * (1 - delta - fpr)), 0, 1)
