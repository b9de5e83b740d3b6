"""Tighter audits: Gaussian-DP in one run, and many runs with every threshold searched.

Introduced in notebooks/12_auditing_with_canaries.ipynb.

``one_run_epsilon`` (Steinke, Nasr and Jagielski 2023) reads the correct guesses of a one-run
audit as if every canary had gone through randomized response: it asks only "which epsilon
could explain this many right guesses?", and epsilon-DP's trade-off curve is a worst case with
corners. DP-SGD's noise is Gaussian, and its privacy is a whole curve: a training is
**mu-GDP** (Gaussian differential privacy, Dong, Roth and Su 2022) when telling whether one
record was in is at most as easy as telling N(0, 1) from N(mu, 1). Full-batch DP-SGD with
noise multiplier sigma for T steps is exactly mu-GDP with ``mu = sqrt(T) / sigma``, and its
exact (epsilon, delta) curve is ``gdp_epsilon(mu, delta)``.

``fdp_one_run_mu`` tests the hypothesis "the training is mu-GDP" on one run's guesses
(Mahloujifar, Melis and Chaudhuri 2025, "Auditing f-differential privacy in one run"): if the
training were mu-GDP, at least ``n_correct`` right guesses among ``n_guesses`` would happen with
probability below ``1 - confidence``; the largest mu so rejected is the audit's result.
``fdp_one_run_epsilon`` reports the epsilon at delta of that mu. It is a lower bound on
epsilon *among Gaussian trade-off curves*: it shows that the training is not mu-GDP, and
converting to epsilon assumes the curve is Gaussian (true for correct DP-SGD; a broken trainer
with a curve of another shape is still caught, since it is not mu-GDP for its claimed mu; but
randomized response at epsilon = 1 is rejected as 0.3-GDP, whose epsilon at 1e-5 is above 1:
for a mechanism of unknown shape, ``one_run_epsilon`` is the bound to quote). It gains most
where the auditor abstains on most canaries; with a guess on every canary it is loose.

``many_runs_epsilon`` is the many-runs audit with thresholds searched on the same data: each
of the ``len(thresholds)`` Clopper-Pearson bounds is taken at ``1 - (1 - confidence) /
len(thresholds)`` (Bonferroni), so the best of them is still wrong with probability at most
``1 - confidence``; the thresholds must be fixed before the scores are seen.
"""
import math

import numpy as np
from scipy.optimize import brentq
from scipy.special import ndtr, ndtri

from mia_course._validation import check_int, check_membership, check_real, check_vector
from mia_course.audit import epsilon_from_counts
from mia_course.hints import ArrayLike

__all__ = ["fdp_one_run_epsilon", "fdp_one_run_mu", "gdp_delta", "gdp_epsilon", "gdp_mu", "many_runs_epsilon"]


def gdp_delta(mu: float, epsilon: float) -> float:
    """The delta at which a mu-GDP mechanism is (epsilon, delta)-DP, exactly:
    ``Phi(-eps/mu + mu/2) - e^eps Phi(-eps/mu - mu/2)`` (Balle and Wang 2018; Dong et al. 2022).

    Introduced in notebooks/12_auditing_with_canaries.ipynb."""
    mu = check_real(mu, "mu", minimum=0.0)
    epsilon = check_real(epsilon, "epsilon", minimum=0.0)
    if mu == 0:
        return 0.0
    return float(max(ndtr(-epsilon / mu + mu / 2) - math.exp(epsilon) * ndtr(-epsilon / mu - mu / 2), 0.0))


def gdp_epsilon(mu: float, delta: float) -> float:
    """The exact epsilon at ``delta`` of a mu-GDP mechanism (e.g. full-batch DP-SGD, mu =
    sqrt(steps) / noise_multiplier): the inverse of ``gdp_delta``; 0.0 when mu-GDP is already
    (0, delta)-DP.

    Introduced in notebooks/12_auditing_with_canaries.ipynb."""
    mu = check_real(mu, "mu", minimum=0.0)
    delta = check_real(delta, "delta", minimum=0.0, maximum=1.0, strict_min=True, strict_max=True)
    if gdp_delta(mu, 0.0) <= delta:
        return 0.0
    hi = 1.0
    while gdp_delta(mu, hi) > delta:
        hi *= 2
    return float(brentq(lambda e: gdp_delta(mu, e) - delta, 0.0, hi, xtol=1e-9))


def gdp_mu(epsilon: float, delta: float) -> float:
    """The mu whose mu-GDP curve is (``epsilon``, ``delta``)-DP exactly (the inverse of
    ``gdp_epsilon`` in mu).

    Introduced in notebooks/12_auditing_with_canaries.ipynb."""
    epsilon = check_real(epsilon, "epsilon", minimum=0.0)
    delta = check_real(delta, "delta", minimum=0.0, maximum=1.0, strict_min=True, strict_max=True)
    hi = 1.0
    while gdp_delta(hi, epsilon) < delta:
        hi *= 2
    return float(brentq(lambda m: gdp_delta(m, epsilon) - delta, 1e-12, hi, xtol=1e-10))


def _rejects(mu: float, n_guesses: int, n_correct: int, n_canaries: int, alpha: float) -> bool:
    """Whether ``n_correct`` of ``n_guesses`` right guesses among ``n_canaries`` canaries would
    have probability below ``alpha`` under mu-GDP (the recursion of Mahloujifar et al.).

    Suppose they had probability ``alpha``. Walk down the number of right guesses i from
    ``n_correct``: ``right`` and ``wrong`` bound from below the per-canary probability that a
    guess is right (wrong) and at least i guesses are right. Flipping one canary's membership
    turns a right guess on it into a wrong one, so by mu-GDP ``wrong >= Phi(Phi^-1(right) - mu)``;
    every outcome with exactly i right has i right guesses for ``n_guesses - i`` wrong ones, so
    mass added to ``wrong`` brings i / (n_guesses - i) times as much to ``right``. If the masses
    outgrow the guesses made (``n_guesses / n_canaries`` per canary), the supposition is false."""
    right, wrong = alpha * n_correct / n_canaries, alpha * (n_guesses - n_correct) / n_canaries
    for i in range(n_correct - 1, -1, -1):
        pushed = max(wrong, float(ndtr(ndtri(min(right, 1.0)) - mu)))
        if pushed == wrong:  # nothing moves any more
            break
        right, wrong = min(right + i / (n_guesses - i) * (pushed - wrong), 1.0), pushed
    return right + wrong > n_guesses / n_canaries


def fdp_one_run_mu(n_guesses: int, n_correct: int, n_canaries: int, *, confidence: float = 0.95) -> float:
    """The largest mu for which "the training is mu-GDP" is rejected at ``confidence`` by
    ``n_correct`` right guesses among ``n_guesses`` (the rest abstained) on ``n_canaries``
    canaries, each in the training independently with probability 1/2 (Mahloujifar, Melis and
    Chaudhuri 2025). Guesses of independent runs add up (``n_canaries``: all of them). 0.0 when
    nothing is rejected; inf when no mu explains the guesses (every one right with too many).

    Introduced in notebooks/12_auditing_with_canaries.ipynb."""
    n_guesses = check_int(n_guesses, "n_guesses", minimum=1)
    n_correct = check_int(n_correct, "n_correct", minimum=0, maximum=n_guesses)
    n_canaries = check_int(n_canaries, "n_canaries", minimum=n_guesses)
    confidence = check_real(confidence, "confidence", minimum=0.0, maximum=1.0, strict_min=True, strict_max=True)
    alpha = 1.0 - confidence
    if n_correct == 0 or not _rejects(0.0, n_guesses, n_correct, n_canaries, alpha):
        return 0.0
    hi = 1.0
    while _rejects(hi, n_guesses, n_correct, n_canaries, alpha):
        hi *= 2
        if hi > 64:  # beyond any DP training: the guesses are perfect
            return float("inf")
    lo = 0.0
    while hi - lo > 1e-4:  # bisection: rejection is monotone in mu
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _rejects(mid, n_guesses, n_correct, n_canaries, alpha) else (lo, mid)
    return lo


def fdp_one_run_epsilon(n_guesses: int, n_correct: int, n_canaries: int, *, delta: float,
                        confidence: float = 0.95) -> float:
    """``gdp_epsilon(fdp_one_run_mu(...), delta)``: the epsilon at ``delta`` of the largest
    mu-GDP curve the guesses reject (a lower bound on epsilon among Gaussian curves; see the
    module's docstring).

    Introduced in notebooks/12_auditing_with_canaries.ipynb."""
    delta = check_real(delta, "delta", minimum=0.0, maximum=1.0, strict_min=True, strict_max=True)
    mu = fdp_one_run_mu(n_guesses, n_correct, n_canaries, confidence=confidence)
    return float("inf") if math.isinf(mu) else gdp_epsilon(mu, delta)


def many_runs_epsilon(is_member: ArrayLike, scores: ArrayLike, delta: float, thresholds: ArrayLike, *,
                      confidence: float = 0.95) -> float:
    """The many-runs audit with the threshold searched: every (``is_member``, ``scores``) pair
    from its own training run; each threshold of ``thresholds`` (fixed before seeing the
    scores) flags ``scores >= t`` and is bounded by ``epsilon_from_counts`` at confidence
    ``1 - (1 - confidence) / len(thresholds)`` (Bonferroni); the best is returned. Unlike
    ``empirical_epsilon``, no half of the runs is spent on choosing the threshold.

    Introduced in notebooks/12_auditing_with_canaries.ipynb."""
    delta = check_real(delta, "delta", minimum=0.0, maximum=1.0, strict_min=True, strict_max=True)
    confidence = check_real(confidence, "confidence", minimum=0.0, maximum=1.0, strict_min=True, strict_max=True)
    scores = check_vector(scores, "scores")
    is_member = check_membership(is_member, "is_member", n=len(scores))
    thresholds = check_vector(thresholds, "thresholds")
    if len(thresholds) == 0:
        raise ValueError("thresholds: expected at least one threshold")
    if is_member.all() or not is_member.any():
        raise ValueError("is_member: the audit needs members and non-members")
    flagged = scores[None, :] >= thresholds[:, None]  # [thresholds, runs]
    tp, fp = flagged[:, is_member].sum(axis=1), flagged[:, ~is_member].sum(axis=1)
    per_threshold = 1.0 - (1.0 - confidence) / len(thresholds)
    found = epsilon_from_counts(tp, int(is_member.sum()), fp, int((~is_member).sum()), delta, per_threshold)
    return float(np.max(found))
