"""The check makers' kit: what several exercises' checks share.

Introduced in docs/instructors.md ("Adding or changing an exercise"). A check module of
``mia_course.grading.checks`` draws cases with these helpers and reads the learner's answer
with :func:`as_numbers`; the engine (``mia_course.grading.engine``) never needs them.
"""
from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike


def as_numbers(out: Any, what: str, shape: tuple[int, ...] | None = None) -> tuple[np.ndarray | None, str | None]:
    """``(array, None)``, or ``(None, message)`` when the learner's ``out`` is not an array
    of numbers of ``shape`` (``what`` says what was expected, in words).

    Introduced in docs/instructors.md (every judge reads answers with it)."""
    if out is None:
        return None, "returned None: did you forget `return`?"
    try:
        arr = np.asarray(out, dtype=np.float64)
    except (TypeError, ValueError):
        return None, f"returned a {type(out).__name__}, expected {what}"
    if shape is not None and arr.shape != shape:
        return None, f"returned shape {arr.shape}, expected {what}, i.e. shape {shape}"
    if shape == () and np.isnan(arr):
        return None, f"returned NaN, expected {what}"
    return arr, None


def plural(n: int, word: str) -> str:
    """``"1 record"``, ``"3 records"``: a case's description in words."""
    return f"{n} {word}" + ("" if n == 1 else "s")


def first_match(arr: np.ndarray, candidates: Iterable[tuple[ArrayLike, str]], **tol: float) -> str | None:
    """The message of the first candidate ``(values, message)`` that ``arr`` equals (within
    ``np.allclose(**tol)``), or None: how a judge names the learner's likely mistake."""
    for values, message in candidates:
        values = np.asarray(values, dtype=np.float64)
        if values.shape == arr.shape and np.allclose(arr, values, **tol):
            return message
    return None


def membership(rng: np.random.Generator, n_in: int, n_out: int,
               as_int: bool = False) -> tuple[np.ndarray, np.ndarray, str]:
    """``(is_member, as handed to the learner, words)``: ``n_in`` members and ``n_out``
    non-members in random order, handed over as booleans or, with ``as_int``, as 0/1."""
    m = rng.permutation(np.arange(n_in + n_out) < n_in)
    return m, (m.astype(int) if as_int else m), (", is_member as 0/1 numbers" if as_int else "")


def label_classes(n_classes: int, classes: ArrayLike | None) -> tuple[np.ndarray, str]:
    """``(classes, words)``: ``classes`` (default ``0 .. n_classes - 1``) and a description that
    names the labels when they are not column numbers."""
    classes = np.arange(n_classes) if classes is None else np.asarray(classes)
    odd = not np.array_equal(classes, np.arange(len(classes)))
    return classes, f"{len(classes)} classes" + (f" labelled {', '.join(map(str, classes))}" if odd else "")


def hint_labels(err: Exception) -> str | None:
    """The advice added to an IndexError: labels are not always column numbers."""
    if isinstance(err, IndexError):
        return "labels are not always column numbers: find each label's column in model.classes_"
    return None


class ToyModel:
    """A stand-in for a trained classifier in the checks' cases: softmax of a fixed random
    linear map of X. ``classes_`` may be any sorted labels; a large ``sharpness`` gives
    probabilities of exactly 0. (A case model the learner's function queries, not a test
    double: the checks of lessons 01-03 and 05 hand it to the learner.)"""

    def __init__(self, rng: np.random.Generator, n_features: int, classes: ArrayLike, sharpness: float = 2.0):
        self.classes_ = np.asarray(classes)
        self.coef_ = rng.normal(0.0, sharpness, (n_features, len(self.classes_)))

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        z = np.asarray(X, dtype=np.float64) @ self.coef_
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)


class LabelModel(ToyModel):
    """A toy classifier with ``predict``; like the course's models, it takes 2-D inputs only.

    Introduced in solutions/ex05_label_only.ipynb (the checks' stand-in for a target)."""

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        if np.ndim(X) != 2:
            raise ValueError(f"expected a 2-D array [n_rows, n_features], got {np.ndim(X)} dimensions")
        return super().predict_proba(X)

    def predict(self, X: ArrayLike) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


class PredictOnly:
    """What a label-only attacker reaches of a case's model: ``predict`` alone (the checks'
    stand-in for ``mia_course.label_only.LabelsOnlyAPI``, defined here so that a grading worker
    can receive it without loading the module of the reference). Introduced in
    solutions/ex05_label_only.ipynb."""

    def __init__(self, model: LabelModel) -> None:
        self._model = model

    def predict(self, X: ArrayLike) -> np.ndarray:
        """The predicted labels of ``X``."""
        return self._model.predict(X)
