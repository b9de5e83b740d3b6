"""The exercise checks of lessons 08 and 10: measuring a defense, and the output defenses.

Introduced in solutions/ex08_regularization.ipynb (and used by solutions/ex10_output_perturbation.ipynb).
Registered like those of ``mia_course.exercise_checks``: small random cases, the package's reference
(``metrics.membership_advantage``, ``RoundedOutputs``, ``NoisyOutputs``, or ``reference_pareto_front``),
the learner's answer judged in words, never with the expected values. 09 and 11: ``exercise_checks_dp``.
"""
from types import SimpleNamespace

import numpy as np

from mia_course.defenses.outputs import NoisyOutputs, RoundedOutputs
from mia_course.exercise_checks import _plural
from mia_course.exercise_checks_exposure import _membership
from mia_course.exercise_checks_strong import _first_match
from mia_course.grading import Exercise, as_numbers, register
from mia_course.metrics import membership_advantage, roc


# ---- ex08: the membership advantage, and the defenses worth considering -------------------
def _case_advantage(rng, ties=False, as_int=False, inverted=False, n_members=None):
    n_in, n_out = n_members or int(rng.integers(10, 60)), int(rng.integers(10, 60))
    m, given, kind = _membership(rng, n_in, n_out, as_int)
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
    message = _first_match(arr, [
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


def reference_pareto_front(accuracy, attack_success):
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
    return (f"{_plural(n, 'defense')}{what}", args, dict(acc=acc, tpr=tpr, ref=reference_pareto_front(acc, tpr)))


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
    return _first_match(arr, [
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


# ---- ex10: the rounding defense, and the noisy one ----------------------------------------
class _Fixed:
    """A stand-in model whose ``predict_proba`` returns given rows: row ``X[i, 0]`` of ``P``."""

    def __init__(self, P):
        self.P, self.classes_ = P, np.arange(P.shape[1])

    def predict_proba(self, X):
        return self.P[np.asarray(X)[:, 0].astype(int)]


def _probabilities(rng, n_rows, n_classes):
    n, k = n_rows or int(rng.integers(5, 20)), n_classes or int(rng.integers(2, 6))
    return rng.dirichlet(np.full(k, 0.6), size=n), n, k


def _case_rounded(rng, decimals=None, n_rows=None, n_classes=None, on_grid=False):
    P, n, k = _probabilities(rng, n_rows, n_classes)
    decimals = int(rng.integers(1, 4) if decimals is None else decimals)
    if on_grid:  # probabilities already on the grid, whose quotient by the step floats just below it
        (P, _, k), decimals = _probabilities(rng, n, max(k, 3)), 2
        P[::2] = np.r_[0.29, 0.57, 0.14, np.zeros(k - 3)]
    X = np.arange(n, dtype=float)[:, None]
    ref = RoundedOutputs(_Fixed(P), decimals).predict_proba(X)
    what = ", some probabilities already on the grid (such as 0.29)" if on_grid else ""
    return (f"{_plural(n, 'row')}, {k} classes, decimals = {decimals}{what}", (P, decimals),
            dict(P=P, decimals=decimals, ref=ref))


def _valid_rows(arr, P):
    """A message when ``arr`` is not a valid probability table that keeps ``P``'s labels."""
    if not np.all(np.isfinite(arr)):
        return "NaN or infinite probabilities"
    if np.any(arr < -1e-12):
        return "negative probabilities: clip at 0 before normalizing"
    if not np.allclose(arr.sum(axis=1), 1.0, atol=1e-6):
        return "each row must still sum to 1"
    if not np.array_equal(arr.argmax(axis=1), P.argmax(axis=1)):
        return ("the label changed on some rows: the defense must keep each row's top class on top "
                "(the label, and so the accuracy, never changes)")
    return None


def _judge_rounded(ctx, out):
    P, d, ref = ctx["P"], ctx["decimals"], ctx["ref"]
    arr, msg = as_numbers(out, "probabilities with the same shape as P", ref.shape)
    if msg:
        return msg
    if np.allclose(arr, ref, atol=1e-9):
        return None
    if np.allclose(arr, np.round(P, d), atol=1e-9):
        return ("np.round rounds to the nearest value: round the other classes *down* (np.floor), and give "
                "the top class 1 minus their sum, so that rows still sum to 1")
    rows, top, step = np.arange(len(P)), P.argmax(axis=1), 10.0 ** -d
    nearest = np.round(P, d)
    nearest[rows, top] = 0.0
    nearest[rows, top] = 1.0 - nearest.sum(axis=1)
    if np.allclose(arr, nearest, atol=1e-9):
        return ("round the other classes *down* (np.floor), not to the nearest value: rounding up could "
                "raise a class above the top one")
    message = _valid_rows(arr, P)
    if message:
        return (message + ": round the other classes down, and give the top class 1 minus their sum"
                if message.startswith("each row") else message)
    others = np.ones(P.shape, dtype=bool)
    others[rows, top] = False
    off = np.abs(arr - ref)[others]
    on_grid = np.isclose(P / step, np.round(P / step), atol=1e-9)[others]
    if np.all(np.isclose(off, 0.0, atol=1e-9) | (np.isclose(off, step, atol=1e-9) & on_grid)):
        return ("off by one step where a probability is already on the grid: in floating point 0.29 * 100 "
                "is 28.999999999999996, which floors to 28; add 1e-9 before flooring")
    return (f"{int(np.sum(~np.isclose(arr, ref, atol=1e-9)))} of {ref.size} probabilities differ from: the "
            f"other classes floored to {d} decimals, the top class 1 minus their sum")


def _case_noisy(rng, scale=None, n_rows=None, n_classes=None, wiped=False):
    P, n, k = _probabilities(rng, n_rows, n_classes)
    scale = float(rng.choice([0.1, 0.2, 0.3]) if scale is None else scale)
    noise = rng.normal(0.0, scale, P.shape)
    r = int(rng.integers(n))  # on row r, the noise lifts another class above the top one
    j = (P[r].argmax() + int(rng.integers(1, k))) % k
    noise[r, j] = max(noise[r, j], P[r].max() - P[r, j] + noise[r, P[r].argmax()] + 0.05)
    if wiped:  # the noise pushes every entry of some rows below 0: they fall back to uniform
        rows = rng.choice(n, size=max(1, n // 4), replace=False)
        noise[rows], P[rows] = -1.5, np.sort(P[rows], axis=1)  # top class in the last column
    api = NoisyOutputs(_Fixed(P), scale)
    api._rng = SimpleNamespace(normal=lambda *args: noise.copy())  # the package's steps, with this noise
    ref = api.predict_proba(np.arange(n, dtype=float)[:, None])
    what = ", some rows with every entry pushed below 0" if wiped else ""
    return (f"{_plural(n, 'row')}, {k} classes, noise sd {scale:g}{what}", (P, noise),
            dict(P=P, noise=noise, ref=ref))


def _judge_noisy(ctx, out):
    P, noise, ref = ctx["P"], ctx["noise"], ctx["ref"]
    arr, msg = as_numbers(out, "probabilities with the same shape as P", ref.shape)
    if msg:
        return msg
    if not np.all(np.isfinite(arr)):
        return ("NaN or infinite probabilities: a row whose entries were all clipped to 0 cannot be "
                "normalized; make it uniform (every entry 1) first")
    close = np.allclose(arr, ref, atol=1e-5)  # any tiny tie-break is fine
    if close and np.array_equal(arr.argmax(axis=1), P.argmax(axis=1)):
        return None
    if close:
        return ("a row where the top class ties with another (e.g. one that fell back to uniform) no longer "
                "shows the label: give the top class a tiny edge (add 1e-6, then normalize again)")
    message = _valid_rows(arr, P)
    if message:
        return message
    return ("when the noise moved the largest entry to another class, swap that entry with the top "
            "class's: the row keeps the same values, the label stays")


for _name, _function, _case, _judge, _defaults in [
    ("ex08_membership_advantage", "membership_advantage", _case_advantage, _judge_advantage,
     [{}, dict(ties=True), dict(as_int=True)]),
    ("ex08_pareto_front", "pareto_front", _case_front, _judge_front, [{}, dict(ties=True), dict(n=6)]),
    ("ex10_rounded_outputs", "rounded_proba", _case_rounded, _judge_rounded,
     [dict(decimals=1), dict(decimals=2, n_classes=4), dict(decimals=0)]),
    ("ex10_noisy_outputs", "noisy_proba", _case_noisy, _judge_noisy,
     [dict(scale=0.1), dict(scale=0.3, n_classes=3), dict(n_classes=2)]),
]:  # every graded cell of solutions/ runs hidden tests as well
    register(Exercise(_name, _function, _case, _judge, _defaults, hidden_tests=True))
