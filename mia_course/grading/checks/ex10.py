"""The checks of solutions/ex10_output_perturbation.ipynb: the rounding defense, and the noisy one.

Introduced in solutions/ex10_output_perturbation.ipynb. Like ``checks.ex01``: small random
cases, the package's reference (``RoundedOutputs``, ``NoisyOutputs``), the answer judged in
words, never with the expected values.
"""
from types import SimpleNamespace

import numpy as np
from numpy.typing import ArrayLike

from mia_course.defenses.outputs import NoisyOutputs, RoundedOutputs, keep_top_class
from mia_course.grading.engine import Exercise, register
from mia_course.grading.kit import as_numbers, plural


# ---- ex10: the rounding defense, and the noisy one ----------------------------------------
class FixedRows:
    """A stand-in model whose ``predict_proba`` returns given rows: row ``X[i, 0]`` of ``P``."""

    def __init__(self, P: np.ndarray):
        self.P, self.classes_ = P, np.arange(P.shape[1])

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
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
    ref = RoundedOutputs(FixedRows(P), decimals).predict_proba(X)
    what = ", some probabilities already on the grid (such as 0.29)" if on_grid else ""
    return (f"{plural(n, 'row')}, {k} classes, decimals = {decimals}{what}", (P, decimals),
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
    api = NoisyOutputs(FixedRows(P), scale)
    api._rng = SimpleNamespace(normal=lambda *args: noise.copy())  # the package's steps, with this noise
    ref = api.predict_proba(np.arange(n, dtype=float)[:, None])
    what = ", some rows with every entry pushed below 0" if wiped else ""
    return (f"{plural(n, 'row')}, {k} classes, noise sd {scale:g}{what}", (P, noise),
            dict(P=P, noise=noise, ref=ref))


def _judge_noisy(ctx, out):
    P, ref = ctx["P"], ctx["ref"]
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


# every graded cell of solutions/ runs hidden tests as well
register(Exercise("ex10_rounded_outputs", "rounded_proba", _case_rounded, _judge_rounded,
                  [dict(decimals=1), dict(decimals=2, n_classes=4), dict(decimals=0)], hidden_tests=True,
                  references=(RoundedOutputs.predict_proba,)))
register(Exercise("ex10_noisy_outputs", "noisy_proba", _case_noisy, _judge_noisy,
                  [dict(scale=0.1), dict(scale=0.3, n_classes=3), dict(n_classes=2)], hidden_tests=True,
                  references=(NoisyOutputs.predict_proba, keep_top_class)))
