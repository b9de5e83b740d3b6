"""Auditing differential privacy with attacks: what a ROC curve proves about epsilon.

Introduced in notebooks/11_defense_scorecard.ipynb.

An (epsilon, delta)-DP training algorithm bounds every membership test:
``TPR <= e^eps * FPR + delta`` and ``1 - FPR <= e^eps * (1 - TPR) + delta``, where the rates
are probabilities over the training's randomness for ONE record that is in or out. With
finitely many trials the observed rates are uncertain, so ``epsilon_from_counts`` uses
Clopper-Pearson intervals: the lowest TPR and highest FPR consistent with what was observed.
A threshold must be chosen *before* looking at the data it is scored on (the best of all
thresholds on the same data claims epsilon > 0 on pure noise far more often than 5%), so
``empirical_epsilon`` picks it on one random half and scores the other half.

What the number proves depends on where the trials come from:

- **Many runs** (Jagielski et al. 2020; lesson 12): every (membership, score) pair comes from
  its own training run, the record in or out at random. The trials are independent and
  ``empirical_epsilon`` is a 95% lower bound on epsilon: it exceeds the true epsilon with
  probability at most 5%. With n runs even a perfect attack proves at most
  ``max_provable_epsilon``.
- **One trained model** (lessons 09 and 11): its members and non-members are not independent
  trials of one record, so the same computation is a *heuristic empirical epsilon* (as the
  literature calls it), a measure of how much this attack tells members from non-members in
  DP's units, not a lower bound. Making many records of one run rigorous is what
  ``one_run_epsilon`` does (Steinke, Nasr and Jagielski 2023): every record in with
  probability 1/2 independently, guesses with abstention, and delta charged for all m
  records; lesson 12 uses it.
"""
import numpy as np
from scipy.optimize import brentq
from scipy.stats import beta, binom
from sklearn.utils import check_random_state

from mia_course._validation import check_int, check_membership, check_real, check_vector
from mia_course.metrics import roc
from mia_course.hints import ArrayLike, RandomStateLike


def clopper_pearson(successes: ArrayLike, trials: ArrayLike,
                    confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided Clopper-Pearson interval ``(low, high)`` for a binomial proportion.

    Introduced in notebooks/11_defense_scorecard.ipynb."""
    alpha = 1.0 - confidence
    k, n = np.asarray(successes, float), np.asarray(trials, float)
    low = np.where(k > 0, beta.ppf(alpha / 2, k, n - k + 1), 0.0)
    high = np.where(k < n, beta.ppf(1 - alpha / 2, k + 1, n - k), 1.0)
    return low, high


def epsilon_from_counts(tp: ArrayLike, n_in: ArrayLike, fp: ArrayLike, n_out: ArrayLike, delta: float,
                        confidence: float = 0.95) -> float | np.ndarray:
    """The epsilon that one ROC point proves at ``confidence``: ``tp`` of ``n_in`` members
    and ``fp`` of ``n_out`` non-members flagged by a threshold fixed in advance. Uses the
    Clopper-Pearson lower bound of the TPR and upper bound of the FPR (each at
    ``(1 - confidence) / 2``) in both DP inequalities; 0.0 when neither proves anything.
    Works element-wise on arrays of counts.

    Introduced in notebooks/11_defense_scorecard.ipynb."""
    tpr_low, _ = clopper_pearson(tp, n_in, confidence)
    _, fpr_high = clopper_pearson(fp, n_out, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.log((tpr_low - delta) / fpr_high)               # TPR <= e^eps FPR + delta
        b = np.log((1 - fpr_high - delta) / (1 - tpr_low))     # 1-FPR <= e^eps (1-TPR) + delta
    eps = np.fmax(np.where(np.isfinite(a), a, 0.0), np.where(np.isfinite(b), b, 0.0))
    eps = np.maximum(eps, 0.0)
    return float(eps) if eps.ndim == 0 else eps


def audit_halves(is_member: ArrayLike, random_state: RandomStateLike = 0) -> np.ndarray:
    """A boolean mask: True for the half of the members and the half of the non-members on
    which ``empirical_epsilon`` chooses its threshold (the rest is where it bounds).

    Introduced in notebooks/11_defense_scorecard.ipynb."""
    is_member = np.asarray(is_member, dtype=bool)
    rng = check_random_state(random_state)
    choose = np.zeros(len(is_member), dtype=bool)
    for group in (np.flatnonzero(is_member), np.flatnonzero(~is_member)):
        choose[rng.permutation(group)[: len(group) // 2]] = True
    return choose


def empirical_epsilon(is_member: ArrayLike, scores: ArrayLike, delta: float, *, confidence: float = 0.95,
                      random_state: RandomStateLike = 0) -> float:
    """The epsilon an attack's scores show: the threshold of ``scores`` that proves the most on
    one random half of the records (``audit_halves``) is applied to the other half, and
    ``epsilon_from_counts`` bounds it there at ``confidence``.

    A lower bound on epsilon (wrong with probability at most 1 - ``confidence``) only when each
    (``is_member``, ``scores``) pair comes from an independent training run (the many-runs
    audit of lesson 12). On the members and non-members of one model it is a heuristic
    empirical epsilon, not a bound: use ``one_run_epsilon`` for a one-run proof (see the
    module's docstring). Returns 0.0 when nothing is shown.
    Introduced in notebooks/11_defense_scorecard.ipynb."""
    delta = check_real(delta, "delta", minimum=0.0, maximum=1.0, strict_min=True, strict_max=True)
    confidence = check_real(confidence, "confidence", minimum=0.0, maximum=1.0, strict_min=True, strict_max=True)
    scores = check_vector(scores, "scores")
    is_member = check_membership(is_member, "is_member", n=len(scores))
    if min(is_member.sum(), (~is_member).sum()) < 2:
        raise ValueError("is_member: the audit needs at least 2 members and 2 non-members (one of each per half)")
    choose = audit_halves(is_member, random_state)
    m, s = is_member[choose], scores[choose]
    fpr, tpr, thresholds = roc(m, s)
    found = epsilon_from_counts(np.round(tpr * m.sum()), m.sum(), np.round(fpr * (~m).sum()), (~m).sum(),
                                delta, confidence)
    best = int(np.argmax(found))
    if found[best] <= 0:
        return 0.0
    m, s = is_member[~choose], scores[~choose]
    flagged = s >= thresholds[best]
    return epsilon_from_counts(int(flagged[m].sum()), int(m.sum()), int(flagged[~m].sum()), int((~m).sum()),
                               delta, confidence)


def max_provable_epsilon(n_members: int, n_non_members: int, delta: float, *, confidence: float = 0.95) -> float:
    """The largest epsilon ``empirical_epsilon`` can show with this many members and
    non-members (with many runs: "in" and "out" runs): a perfect attack (every member flagged,
    no non-member) on the half it bounds on. A model whose true epsilon is larger cannot be
    shown to be so at this size.

    Introduced in notebooks/11_defense_scorecard.ipynb."""
    n_in = check_int(n_members, "n_members", minimum=2)
    n_out = check_int(n_non_members, "n_non_members", minimum=2)
    delta = check_real(delta, "delta", minimum=0.0, maximum=1.0, strict_min=True, strict_max=True)
    confidence = check_real(confidence, "confidence", minimum=0.0, maximum=1.0, strict_min=True, strict_max=True)
    b_in, b_out = n_in - n_in // 2, n_out - n_out // 2
    return epsilon_from_counts(b_in, b_in, 0, b_out, delta, confidence)


def dp_bound_tpr(fpr: ArrayLike, epsilon: float, delta: float) -> float | np.ndarray:
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


def one_run_epsilon(n_guesses: int, n_correct: int, *, delta: float = 0.0, confidence: float = 0.95,
                    n_canaries: int | None = None) -> float:
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
