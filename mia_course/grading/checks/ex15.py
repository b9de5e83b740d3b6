"""The exercise checks of lesson 15: exposure from candidates' scores, and Min-K% probability.

Introduced in solutions/ex15_language_models.ipynb. Registered like those of
``mia_course.grading.checks.ex01``: each check draws small random cases (candidate scores with ties,
token log-probabilities of texts of random lengths), runs the package's reference
(``mia_course.language_attacks``) and judges the learner's answer in words, never with the
expected values.
"""
import math

import numpy as np

from mia_course.grading.engine import Exercise, register
from mia_course.grading.kit import as_numbers
from mia_course.language_attacks import canary_exposures, exposure, min_k_scores, secret_rank


def _mistake(arr, candidates, **tol):
    """The message of the first ``(values, message)`` that the learner's ``arr`` equals."""
    for values, message in candidates:
        values = np.asarray(values, dtype=np.float64)
        if values.shape == arr.shape and np.allclose(arr, values, **tol):
            return message
    return None


# ---- ex15 question 1: exposure from the candidates' scores ---------------------------------
def _case_exposure(rng, n_candidates=None, ties=False, where="random"):
    n = n_candidates or int(rng.integers(20, 3000))
    scores = rng.normal(-30.0, 4.0, n)
    if ties:
        scores = np.round(scores)  # many candidates share a score
    if where in ("tied_first", "tied_last", "all_tied"):  # a secret tied with others, at either end
        scores = np.round(scores) if where != "all_tied" else np.full(n, np.round(scores[0]))
        _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
        groups = np.flatnonzero(counts > 1)
        members = np.flatnonzero(inverse == groups[rng.integers(len(groups))])
        i = int(members[0] if where == "tied_first" else members[-1] if where == "tied_last"
                else members[len(members) // 2])
    else:
        i = {"random": int(rng.integers(n)), "best": int(np.argmax(scores)),
             "worst": int(np.argmin(scores))}[where]
    if ties and where == "random":  # a secret that shares its score with other candidates
        _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
        i = int(rng.choice(np.flatnonzero(counts[inverse] > 1)))
    ref = exposure(secret_rank(scores, i), n)
    what = {"random": "", "best": ", the secret scores highest", "worst": ", the secret scores lowest",
            "tied_first": ", the secret tied with others", "tied_last": ", the secret tied with others",
            "all_tied": ", every candidate scores the same"}[where]
    return (f"{n} candidates{', with ties' if ties else ''}{what}", (scores, i),
            dict(scores=scores, i=i, n=n, ref=ref))


def _judge_exposure(ctx, out):
    scores, i, n, ref = ctx["scores"], ctx["i"], ctx["n"], ctx["ref"]
    arr, msg = as_numbers(out, "one number, the exposure in bits", ())
    if msg:
        return msg
    if np.isclose(arr, ref, rtol=1e-9, atol=1e-9):
        return None
    rank = secret_rank(scores, i)
    strict = 1 + int(np.sum(scores > scores[i]))
    ascending = int(np.sum(scores <= scores[i]))
    return _mistake(np.atleast_1d(arr), [
        (np.array([math.log2(n) - math.log2(strict)]),
         "with ties, count every other candidate that scores at least as high as the secret (>=): "
         "a tie is not a win for the secret"),
        (np.array([math.log2(n) - math.log2(ascending)]),
         "you ranked from the lowest score: rank 1 is the candidate the model likes MOST"),
        (np.array([math.log(n) - math.log(rank)]), "exposure is in bits: use log2, not the natural log"),
        (np.array([math.log2(rank) - math.log2(n)]), "the sign is flipped: log2(n) - log2(rank)"),
        (np.array([float(rank)]), "that is the rank: turn it into bits, log2(n) - log2(rank)"),
        (np.array([math.log2(n) - math.log2(max(rank - 1, 1e-300))]),
         "rank counts from 1 (the best candidate has rank 1, exposure log2(n))"),
    ], rtol=1e-9, atol=1e-9) or "your exposure differs from log2(n_candidates) - log2(rank)"


# ---- ex15 question 2: Min-K% probability ----------------------------------------------------
def _case_min_k(rng, n_texts=None, k=None, short=False, exact=False):
    n = n_texts or int(rng.integers(3, 9))
    k = float(rng.choice([0.1, 0.2, 0.3, 0.5]) if k is None else k)
    lengths = rng.integers(1, 5, n) if short else rng.integers(8, 60, n)
    if exact:  # k * length an integer for every text (k = 0.25 or 0.5: exact in floating point)
        lengths = 4 * rng.integers(2, 15, n)
    rows = [np.log(rng.uniform(0.001, 1.0, int(m))) for m in lengths]
    return (f"{n} texts of {lengths.min()} to {lengths.max()} tokens, k = {k:g}", (rows, k),
            dict(rows=rows, k=k, ref=min_k_scores(rows, k)))


def _judge_min_k(ctx, out):
    rows, k, ref = ctx["rows"], ctx["k"], ctx["ref"]
    arr, msg = as_numbers(out, "one score per text", (len(rows),))
    if msg or np.allclose(arr, ref, rtol=1e-9, atol=1e-12):
        return msg

    def per_text(fn):
        return np.array([fn(np.sort(lp), len(lp)) for lp in rows])
    return _mistake(arr, [
        (per_text(lambda s, m: s[-max(1, math.ceil(k * m)):].mean()),
         "you averaged the most likely tokens: Min-K% takes the k fraction with the LOWEST log-probability"),
        (per_text(lambda s, m: s[:max(1, int(k * m))].mean()),
         "round k * length up (math.ceil), not down: a 9-token text with k = 0.2 uses 2 tokens"),
        (per_text(lambda s, m: s[:int(k * m) + 1].mean()),
         "take ceil(k * length) tokens: int(k * length) + 1 is one too many when k * length is a whole number "
         "(a 20-token text with k = 0.25 uses 5 tokens, not 6)"),
        (per_text(lambda s, m: s[:max(1, round(k * m))].mean()),
         "round k * length up (math.ceil), not to the nearest"),
        (per_text(lambda s, m: s[:max(1, math.ceil(k * m))].sum()),
         "average the lowest tokens' log-probabilities, don't sum them"),
        (per_text(lambda s, m: s.mean()),
         "that is the mean over all tokens (the loss attack): keep only the lowest k fraction"),
        (per_text(lambda s, m: np.exp(s[:max(1, math.ceil(k * m))]).mean()),
         "average the log-probabilities themselves, not the probabilities"),
    ], rtol=1e-9, atol=1e-12) or ("your scores differ from the mean of the ceil(k * length) lowest "
                                  "log-probabilities of each text (at least one)")


def _hint_min_k(err):
    if isinstance(err, ValueError) and ("inhomogeneous" in str(err) or "sequence" in str(err)):
        return ("the texts have different lengths, so they do not stack into one array: "
                "handle each text's log-probabilities on its own (a loop over the texts)")
    if isinstance(err, (ValueError, ZeroDivisionError, IndexError)):
        return "every text keeps at least one token, even a very short one: max(1, ceil(k * length))"
    return None


# every graded cell of solutions/ runs hidden tests as well
register(Exercise("ex15_exposure", "exposure_from_scores", _case_exposure, _judge_exposure,
                  [{}, dict(ties=True), dict(where="best")], hidden_tests=True,
                  references=(exposure, canary_exposures, secret_rank),
                  # ranking by sort position places a tied secret first or last: both ends force it
                  edge_cases=[dict(where="tied_first"), dict(where="tied_last"), dict(where="all_tied"),
                              dict(where="tied_first", n_candidates=30), dict(where="tied_last", n_candidates=30)]))
register(Exercise("ex15_min_k", "min_k_percent", _case_min_k, _judge_min_k,
                  [{}, dict(k=0.2), dict(k=1.0)], hidden_tests=True, hint=_hint_min_k, references=(min_k_scores,),
                  # k * length an integer: int(k * length) + 1 takes one token too many
                  edge_cases=[dict(k=0.25, exact=True), dict(k=0.5, exact=True), dict(short=True, k=0.5)]))
