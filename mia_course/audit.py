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
from scipy.optimize import brentq
from scipy.stats import beta, binom

from mia_course._validation import check_int, check_real
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


def _one_run_p_value(n_guesses, n_correct, epsilon, delta, n_canaries):
    """P-value of ``n_correct`` of ``n_guesses`` under (epsilon, delta)-DP (Steinke et al.
    2023, Theorem 3.1): ``P[Binomial >= v]`` plus, for delta > 0, ``2 m delta alpha``."""
    p = 1.0 / (1.0 + np.exp(-epsilon))  # the accuracy of epsilon-DP randomized response
    tail = binom.sf(n_correct - 1, n_guesses, p)  # P[Binomial(r, p) >= v]
    if delta == 0.0 or n_correct == 0:
        return float(tail)
    i = np.arange(1, n_correct + 1)
    below = np.cumsum(binom.pmf(n_correct - i, n_guesses, p))  # P[v - i <= Binomial < v]
    return float(tail + 2 * n_canaries * delta * np.max(below / i))


def one_run_epsilon(n_guesses, n_correct, *, delta=0.0, confidence=0.95, n_canaries=None):
    """The epsilon that ``n_correct`` right membership guesses out of ``n_guesses`` prove,
    when every canary was included independently with probability 1/2 in ONE training run
    (Steinke, Nasr and Jagielski 2023, "Privacy auditing with one (1) training run").

    The auditor ranks the canaries by a score of the trained model, guesses "in" for the most
    member-like, "out" for the least, and abstains on the rest; how many guesses it makes is
    fixed before looking at which canaries were in. For an epsilon-DP training, the number of
    correct guesses is dominated by ``Binomial(n_guesses, e^eps / (1 + e^eps))``; the bound is
    the largest epsilon whose p-value is below ``1 - confidence``. For delta > 0 the paper
    adds ``2 m delta alpha`` to the p-value, which needs ``n_canaries`` (m, all canaries,
    guessed or not). Returns 0.0 when nothing is proven.
    Introduced in notebooks/12_auditing_with_canaries.ipynb."""
    n_guesses = check_int(n_guesses, "n_guesses", minimum=1)
    n_correct = check_int(n_correct, "n_correct", minimum=0, maximum=n_guesses)
    delta = check_real(delta, "delta", minimum=0.0, maximum=1.0, strict_max=True)
    confidence = check_real(confidence, "confidence", minimum=0.0, maximum=1.0, strict_min=True, strict_max=True)
    if delta > 0:
        if n_canaries is None:
            raise ValueError("n_canaries: the bound for delta > 0 needs the number of canaries "
                             "(guessed or not); pass n_canaries=m")
        n_canaries = check_int(n_canaries, "n_canaries", minimum=n_guesses)
    elif n_canaries is not None:
        check_int(n_canaries, "n_canaries", minimum=n_guesses)
    alpha = 1.0 - confidence
    if _one_run_p_value(n_guesses, n_correct, 0.0, delta, n_canaries) < alpha:
        hi = 1.0
        while _one_run_p_value(n_guesses, n_correct, hi, delta, n_canaries) < alpha:
            hi *= 2
            if hi > 1e3:  # more than any accountant would claim
                return float("inf")
        return float(brentq(lambda e: _one_run_p_value(n_guesses, n_correct, e, delta, n_canaries) - alpha,
                            0.0, hi, xtol=1e-6))
    return 0.0
