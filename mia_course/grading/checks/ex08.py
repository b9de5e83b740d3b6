"""The checks of solutions/ex08_regularization.ipynb: the membership advantage, and the
defenses worth considering.

Introduced in solutions/ex08_regularization.ipynb. Like ``checks.ex01``: small random cases,
the package's reference (``metrics.membership_advantage``, or ``reference_pareto_front``
below), the answer judged in words, never with the expected values.
"""
import numpy as np
from numpy.typing import ArrayLike

from mia_course.grading.engine import Exercise, register
from mia_course.grading.kit import as_numbers, first_match, membership, plural
from mia_course.metrics import attack_summary, membership_advantage, roc


# ---- ex08: the membership advantage, and the defenses worth considering -------------------
def _case_advantage(rng, ties=False, as_int=False, inverted=False, n_members=None):
    n_in, n_out = n_members or int(rng.integers(10, 60)), int(rng.integers(10, 60))
    m, given, kind = membership(rng, n_in, n_out, as_int)
    scores = rng.normal(0.0, 1.0, len(m)) + (-rng.uniform(1.0, 2.0) if inverted else rng.uniform(0.3, 1.5)) * m
    if ties:  # few distinct values, as for the gap attack (0/1) or rounded confidences
        scores = np.round(scores * rng.choice([1, 2]))
    kind += "".join([", tied scores" if ties else "", ", members scored lower" if inverted else ""])
    return (f"{n_in} members, {n_out} non-members (mixed order){kind}", (given, scores),
            dict(m=m, s=scores, ties=ties, as_int=as_int, ref=membership_advantage(m, scores)))


def _judge_advantage(ctx, out):
    m, s, ref = ctx["m"], ctx["s"], ctx["ref"]
    arr, msg = as_numbers(out, "one number (the best TPR - FPR)", ())
    if msg:
        if np.ndim(out) == 1:
            return "return one number, the largest TPR - FPR over all thresholds, not one per threshold"
        return msg + (" (is_member may hold 0/1 numbers: make it a boolean mask)" if ctx["as_int"] else "")
    if np.isclose(arr, ref, atol=1e-9):
        return None
    if arr < 0:
        return "the advantage is never negative: the threshold that flags nobody has TPR - FPR = 0"
    fprs, tprs, _ = roc(m, s)
    message = first_match(arr, [
        ((1 + ref) / 2, "that is the best balanced accuracy, (TPR + 1 - FPR) / 2; the advantage is "
                        "TPR - FPR (twice that minus 1)"),
        (100 * ref, "return a fraction between 0 and 1, not a percentage"),
        (np.max(np.abs(tprs - fprs)), "a higher score means 'member': don't take the absolute value of TPR - FPR"),
    ], atol=1e-9)
    if message or arr > ref:
        return message or "higher than any threshold reaches: " + (
            "with tied scores, a threshold flags all the records with the same score or none of them"
            if ctx["ties"] else "TPR and FPR must come from the same threshold")
    return ("lower than the best threshold reaches: try every threshold between distinct scores"
            + (" (is_member may hold 0/1 numbers: make it a boolean mask)" if ctx["as_int"] else ""))


def reference_pareto_front(accuracy: ArrayLike, attack_success: ArrayLike) -> np.ndarray:
    """For each defense, True when no other one is at least as accurate and at most as exposed
    (attack TPR or advantage), and better in one of the two: the defenses worth considering.

    Introduced in solutions/ex08_regularization.ipynb."""
    acc, tpr = np.asarray(accuracy, dtype=float), np.asarray(attack_success, dtype=float)
    better = (acc[None, :] >= acc[:, None]) & (tpr[None, :] <= tpr[:, None])
    strictly = (acc[None, :] > acc[:, None]) | (tpr[None, :] < tpr[:, None])
    return ~np.any(better & strictly, axis=1)


def _front_by(acc, tpr, rule):
    n = len(acc)
    return np.array([not any(rule(acc[j], tpr[j], acc[i], tpr[i]) for j in range(n) if j != i)
                     for i in range(n)])


def _case_front(rng, n=None, ties=False, tradeoff=False, as_list=False):
    n = n or int(rng.integers(5, 11))
    acc, tpr = rng.uniform(0.75, 0.95, n), rng.uniform(0.0, 0.3, n)
    if tradeoff:  # more accurate always means more exposed: every defense is on the front
        acc, tpr = np.sort(acc), np.sort(tpr)
    acc, tpr = np.round(acc, 3), np.round(tpr, 3)
    if ties and n >= 4:  # equal values; the most accurate defense measured twice, and as accurate but worse
        acc, tpr = np.round(acc * 50) / 50, np.round(tpr * 20) / 20
        i = np.lexsort((tpr, -acc))[0]
        j, k = rng.choice(np.setdiff1d(np.arange(n), [i]), size=2, replace=False)
        acc[j], tpr[j], acc[k], tpr[k] = acc[i], tpr[i], acc[i], tpr[i] + 0.05
    what = "".join([", equal values and a duplicate point" if ties else "",
                    ", a trade-off (all on the front)" if tradeoff else "", ", given as lists" if as_list else ""])
    args = (acc.tolist(), tpr.tolist()) if as_list else (acc, tpr)
    return (f"{plural(n, 'defense')}{what}", args, dict(acc=acc, tpr=tpr, ref=reference_pareto_front(acc, tpr)))


def _judge_front(ctx, out):
    acc, tpr, ref = ctx["acc"], ctx["tpr"], ctx["ref"]
    n = len(acc)
    given = np.asarray(out) if out is not None else None
    if (given is not None and given.ndim == 1 and given.dtype.kind in "iu" and len(given) == ref.sum() < n
            and np.isin(given, np.arange(n)).all()):
        return "return one True/False per defense (a boolean mask), not the indices of those on the front"
    arr, msg = as_numbers(out, "one True/False per defense", ref.shape)
    if msg:
        return msg
    if not np.isin(arr, (0, 1)).all():
        return "return booleans: True for a defense on the front, False for a dominated one"
    if np.array_equal(arr.astype(bool), ref):
        return None
    if not arr.any():
        return ("no defense is on your front: a defense never dominates itself, and two with exactly the same "
                "point don't dominate each other (dominating needs strictly better in one of the two)")
    return first_match(arr, [
        (_front_by(acc, tpr, lambda a, t, a0, t0: a > a0 and t < t0),
         "a defense is also dominated by one that is equally accurate and less exposed (or equally exposed "
         "and more accurate): strictly better in one, at least as good in the other"),
        (_front_by(acc, tpr, lambda a, t, a0, t0: a >= a0 and t <= t0),
         "two defenses with exactly the same point do not dominate each other: keep both (dominating needs "
         "strictly better in at least one of the two)"),
        (reference_pareto_front(acc, -tpr), "a lower attack success is better (less exposed), higher accuracy too"),
        (reference_pareto_front(-acc, tpr), "a higher test accuracy is better, a lower attack success too"),
    ]) or (f"{int(np.sum(arr.astype(bool) != ref))} of {n} defenses are wrongly put on the front or off it: "
           "a defense is dominated when another is at least as accurate and at most as exposed, and "
           "strictly better in one of the two")


# every graded cell of solutions/ runs hidden tests as well
register(Exercise("ex08_membership_advantage", "membership_advantage", _case_advantage, _judge_advantage,
                  [{}, dict(ties=True), dict(as_int=True)], hidden_tests=True, references=(membership_advantage, attack_summary)))
register(Exercise("ex08_pareto_front", "pareto_front", _case_front, _judge_front, [{}, dict(ties=True), dict(n=6)],
                  hidden_tests=True, references=(reference_pareto_front,)))
