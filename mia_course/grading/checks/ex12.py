"""The exercise checks of lesson 12: the one-run bound, and the guesses it is computed on.

Introduced in solutions/ex12_canary_audit.ipynb. Registered like those of
``mia_course.grading.checks.ex01``; the references are ``mia_course.audit.one_run_epsilon`` and
``mia_course.canaries.one_run_guesses``.
"""
import numpy as np
from scipy.stats import binom

from mia_course.audit import one_run_epsilon
from mia_course.canaries import one_run_audit, one_run_guesses
from mia_course.grading.engine import Exercise, register
from mia_course.grading.kit import as_numbers

TOLERANCE = 0.01  # a bisection to 2 decimals passes


# ---- ex12 question 1: the one-run bound (delta = 0) ---------------------------------------
def _case_bound(rng, kind="random", n=None, confidence=0.95):
    n = n or int(rng.integers(20, 400))
    correct = {"random": int(rng.integers(n // 2, n + 1)), "all": n, "coin": n // 2,
               "none": 0, "most": int(round(0.9 * n))}[kind]
    ref = one_run_epsilon(n, correct, confidence=confidence)
    return (f"{correct} of {n} guesses right, confidence {confidence:g}", (n, correct, confidence),
            dict(ref=ref, n=n, v=correct, confidence=confidence))


def _bound_with(n, v, confidence, tail):
    """The bound for another (wrong) tail probability ``tail(v, n, p)``, by bisection."""
    alpha, lo, hi = 1 - confidence, 0.0, 30.0
    if tail(v, n, 0.5) >= alpha:
        return 0.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if tail(v, n, 1 / (1 + np.exp(-mid))) < alpha else (lo, mid)
    return lo


def _judge_bound(ctx, out):
    arr, msg = as_numbers(out, "epsilon as one number", ())
    if msg:
        return msg
    eps, ref = float(arr), ctx["ref"]
    if abs(eps - ref) <= TOLERANCE + 1e-3 * ref:
        return None
    n, v, conf = ctx["n"], ctx["v"], ctx["confidence"]
    p_ref = 1 / (1 + np.exp(-ref))
    if 0 < v < n and abs(eps - np.log(v / (n - v))) <= TOLERANCE + 1e-3 * abs(np.log(v / (n - v))):
        return ("that is the point estimate log(accuracy / (1 - accuracy)) of the guesses: the bound is the "
                "largest epsilon that the binomial tail rules out at the confidence, well below it")
    for wrong, words in [
        (_bound_with(n, v, conf, lambda v, n, p: binom.sf(v, n, p)),
         "P[Binomial >= n_correct] includes n_correct itself: binom.sf(n_correct - 1, n_guesses, p)"),
        (_bound_with(n, v, 1 - conf, lambda v, n, p: binom.sf(v - 1, n, p)),
         "the p-value must be below 1 - confidence (0.05 at 95%), not below confidence"),
        (np.log(p_ref) if p_ref > 0 else None, "p = e^eps / (1 + e^eps), so eps = log(p / (1 - p)), not log(p)"),
        (1 / (1 + np.exp(-ref)), "return epsilon, not the accuracy p = e^eps / (1 + e^eps)"),
    ]:
        if wrong is not None and abs(eps - wrong) <= TOLERANCE + 1e-3 * abs(wrong) and abs(wrong - ref) > TOLERANCE:
            return words
    if eps < 0:
        return "an audit that proves nothing proves epsilon >= 0: return at least 0"
    return ("not the largest epsilon with P[Binomial(n_guesses, e^eps / (1 + e^eps)) >= n_correct] "
            "< 1 - confidence" + (" (it is too large: it claims more than the guesses prove)" if eps > ref
                                  else " (it is too small)"))


# ---- ex12 question 2: the one-run guesses of one run --------------------------------------
def _case_guesses(rng, m=None, n_guesses=None, as_int=False, odd=False):
    m = m or int(rng.integers(30, 200))
    n_guesses = n_guesses or 2 * int(rng.integers(2, m // 4))
    n_guesses = n_guesses + 1 if odd else n_guesses
    is_in = rng.random(m) < 0.5
    is_in[:2], is_in[-2:] = True, False
    scores = rng.normal(size=m) + 1.5 * is_in  # members tend to score higher
    ref = one_run_guesses(scores[None], is_in[None], n_guesses)
    given = is_in.astype(int) if as_int else is_in
    return (f"{m} canaries ({int(is_in.sum())} in), n_guesses {n_guesses}", (scores.copy(), given, n_guesses),
            dict(ref=ref, scores=scores, is_in=is_in, k=n_guesses, as_int=as_int))


def _judge_guesses(ctx, out):
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        return "return a pair: (guesses, correct)"
    values = []
    for name, value in zip(("guesses", "correct"), out):
        arr, msg = as_numbers(value, f"{name} as one number", ())
        if msg:
            return f"{name}: {msg}"
        values.append(float(arr))
    (g, c), (rg, rc) = values, ctx["ref"]
    if g == rg and c == rc:
        return None
    s, inside, k = ctx["scores"], ctx["is_in"], ctx["k"]
    order, half = np.argsort(-s), k // 2
    if ctx.get("as_int") and g == rg:
        return ("is_in comes as 0/1 integers here: ~is_in is then -1 - is_in (not 'not'), and scores[is_in] "
                "picks rows 0 and 1; convert it first: np.asarray(is_in, dtype=bool)")
    if g != rg:
        if g == k:
            return "guesses: n_guesses // 2 'in' and as many 'out': 2 * (n_guesses // 2) in all"
        return "guesses: the number of canaries you guessed on (not the abstentions)"
    if c == inside[order[:k]].sum():
        return "guess 'in' for the n_guesses // 2 highest scores AND 'out' for as many lowest"
    if c == (~inside[order[:half]]).sum() + inside[order[-half:]].sum():
        return "high scores are the member-like ones: guess 'in' for the highest, 'out' for the lowest"
    return "correct: count the 'in' guesses on members plus the 'out' guesses on non-members"


# every graded cell of solutions/ runs hidden tests as well
# edge cases of every hidden run: epsilon about 6.5 and 10.4 (a bisection capped at 4, or at 10,
# fails), and a point estimate far from the bound
register(Exercise("ex12_one_run_bound", "one_run_bound", _case_bound, _judge_bound,
                  [{}, dict(kind="all"), dict(kind="coin"), dict(kind="most", confidence=0.5)], hidden_tests=True,
                  references=(one_run_epsilon, "mia_course.audit:_one_run_p_value"),
                  edge_cases=[dict(kind="all", n=2000), dict(kind="all", n=100_000), dict(kind="most", n=300)]))
register(Exercise("ex12_one_run_guesses", "one_run_guesses", _case_guesses, _judge_guesses,
                  [{}, dict(odd=True), dict(as_int=True)], hidden_tests=True,
                  references=(one_run_guesses, one_run_audit),
                  edge_cases=[dict(as_int=True, m=300, n_guesses=100), dict(n_guesses=2, m=50)]))
