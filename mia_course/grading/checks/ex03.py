"""The checks of solutions/ex03_shadow_models.ipynb: the shadow models' attack data set, and a
threshold from shadow data only.

Introduced in solutions/ex03_shadow_models.ipynb. Like ``checks.ex01``: small random cases,
the package's reference (``mia_course.attacks``, or ``reference_attack_dataset`` below), the
answer judged in words, never with the expected values.
"""
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from mia_course.attacks import best_threshold, half_split
from mia_course.grading.engine import Exercise, register
from mia_course.grading.kit import ToyModel, as_numbers, label_classes, plural


# ---- ex03: the shadow models' attack data set, and a threshold from shadow data only -------
def reference_attack_dataset(shadow_models: Sequence[Any], in_masks: Sequence[ArrayLike], X_aux: ArrayLike,
                             y_aux: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(attack_X, attack_y, attack_class)`` built as ``ShadowModelAttack.fit`` builds them.

    Introduced in solutions/ex03_shadow_models.ipynb.
    """
    attack_X = np.vstack([np.asarray(s.predict_proba(X_aux)) for s in shadow_models])
    attack_y = np.concatenate([np.asarray(m, dtype=bool) for m in in_masks]).astype(np.int64)
    return attack_X, attack_y, np.tile(np.asarray(y_aux), len(shadow_models))


def _case_attack_data(rng, n_shadows=None, classes=(0, 1), n_rows=None):
    k, n = n_shadows or int(rng.integers(2, 5)), n_rows or int(rng.integers(8, 20))
    (classes, about), d = label_classes(None, classes), int(rng.integers(3, 6))
    shadows = [ToyModel(rng, d, classes) for _ in range(k)]
    masks = [half_split(n, rng) for _ in range(k)]
    X, y = rng.normal(size=(n, d)).astype(np.float32), rng.choice(classes, size=n)
    ctx = dict(k=k, n=n, masks=masks, ref=reference_attack_dataset(shadows, masks, X, y))
    return (f"{plural(k, 'shadow model')}, {n} attacker records, {about}",
            (shadows, masks, X, y), ctx)


def _judge_attack_data(ctx, out):
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        return "return three arrays: (attack_X, attack_y, attack_class)"
    (rX, ry, rc), rows = ctx["ref"], ctx["k"] * ctx["n"]
    aX, msg = as_numbers(out[0], "attack_X as an array of numbers")
    if msg:
        return "attack_X: " + msg
    if aX.shape != rX.shape:
        if aX.ndim == 2 and aX.shape[0] == sum(int(np.sum(m)) for m in ctx["masks"]):
            return ("attack_X holds only the rows each shadow trained on: include every row of X_aux "
                    "for each shadow, in (label 1) and out (label 0)")
        if aX.shape == (ctx["n"], rX.shape[1]):
            return "attack_X holds one model's predictions: stack those of every shadow model"
        return (f"attack_X has shape {aX.shape}, expected one prediction vector (all class "
                "probabilities) per shadow model and per row of X_aux")
    labels = []
    for name, arr in (("attack_y", out[1]), ("attack_class", out[2])):
        arr, msg = as_numbers(arr, "one number per row of attack_X", (rows,))
        if msg:
            return f"{name}: {msg}"
        labels.append(arr)
    if not np.allclose(aX, rX, atol=1e-6):
        if np.allclose(np.sort(aX, axis=0), np.sort(rX, axis=0), atol=1e-6):
            return ("attack_X has the right rows in another order: go shadow by shadow, each with the "
                    "rows in X_aux order, so that attack_X, attack_y and attack_class line up")
        return "attack_X rows are not the shadow models' predict_proba on X_aux"
    if np.array_equal(labels[0], 1 - ry):
        return "attack_y is reversed: 1 means the shadow trained on that row (in), 0 that it did not"
    if not np.array_equal(labels[0], ry):
        return "attack_y must be 1 where the shadow trained on the row (its in_mask) and 0 elsewhere"
    if not np.array_equal(labels[1], rc):
        return "attack_class must be each row's true label y_aux, repeated once per shadow model"
    return None


def _case_threshold(rng, kind="normal"):
    n_in, n_out = (int(v) for v in rng.integers(10, 40, size=2))
    in_s, out_s = rng.normal(1.0, 1.0, n_in), rng.normal(0.0, 1.0, n_out)
    if kind == "ties":
        in_s, out_s = np.round(in_s * 2) / 2, np.round(out_s * 2) / 2
    elif kind == "separated":
        in_s, out_s = rng.uniform(2, 3, n_in), rng.uniform(0, 1, n_out)
    elif kind == "loss":
        in_s, out_s = -rng.exponential(0.05, n_in), -rng.exponential(0.5, n_out)
    return f"{n_in} in and {n_out} out shadow scores ({kind})", (in_s, out_s), dict(i=in_s, o=out_s)


def _judge_threshold(ctx, out):
    t, msg = as_numbers(out, "one number (the threshold)", ())
    if msg:
        return msg
    gain = np.mean(ctx["i"] >= t) - np.mean(ctx["o"] >= t)
    ref_t = best_threshold(ctx["i"], ctx["o"])
    if gain >= np.mean(ctx["i"] >= ref_t) - np.mean(ctx["o"] >= ref_t) - 1e-9:
        return None
    if gain < 0:
        return ("at your threshold a larger share of out than of in records scores at or above it: "
                "members are the records with score >= threshold")
    if gain == 0:
        return "your threshold flags every record or none (TPR - FPR = 0): pick one of the observed scores"
    return ("another threshold separates the shadows' in and out records better (larger TPR - FPR): "
            "try each observed score as a candidate and keep the best")


# every graded cell of solutions/ runs hidden tests as well
register(Exercise("ex03_attack_dataset", "build_attack_dataset", _case_attack_data, _judge_attack_data,
                  [{}, dict(classes=(0, 1, 2)), {}], hidden_tests=True, references=(reference_attack_dataset,)))
register(Exercise("ex03_threshold_from_shadows", "threshold_from_shadows", _case_threshold, _judge_threshold,
                  [dict(kind="normal"), dict(kind="ties"), dict(kind="loss")], hidden_tests=True,
                  references=(best_threshold,)))
