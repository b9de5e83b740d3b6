"""The names the package's type hints use for what its functions accept (annotations only).

Introduced in notebooks/01_alice_and_the_ad_model.ipynb, where the first model is trained
(an ``Estimator``) and queried (a ``ProbabilisticModel``) with a ``random_state``.

Nothing here checks anything at run time (``mia_course._validation`` does, with errors that
name the parameter); the aliases say in a signature what a parameter may be:

- ``ArrayLike``: numpy's, anything ``np.asarray`` accepts (lists, arrays, DataFrames).
- ``RandomStateLike``: every ``random_state`` (scikit-learn's convention: an int seed, a
  ``RandomState`` to draw from, or None for fresh randomness).
- ``Estimator``: an unfitted scikit-learn-style model (``fit``), cloned and trained as a
  target, shadow or reference model.
- ``ProbabilisticModel``: a fitted model that answers class probabilities (``predict_proba``);
  ``LabelModel``: one that answers only labels (``predict``); ``AttackedModel``: either.
- ``OutputDefense``: a callable that takes a fitted model and returns it as the attacked
  API answers (e.g. ``lambda m: RoundedOutputs(m, 1)``).
- ``FixedVariance``: LiRA's variance rule: True (one global variance), False (one per
  record) or ``"auto"`` (global for fewer than 64 shadows; ``mia_course.lira``).
"""
from collections.abc import Callable
from typing import Any, Literal, Protocol

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["ArrayLike", "AttackedModel", "Estimator", "FixedVariance", "LabelModel", "OutputDefense",
           "ProbabilisticModel", "RandomStateLike"]

RandomStateLike = int | np.random.RandomState | None
FixedVariance = bool | Literal["auto"]


class Estimator(Protocol):
    """An unfitted scikit-learn-style model: ``fit(X, y)`` trains it and returns it."""

    def fit(self, X: Any, y: Any) -> Any: ...


class ProbabilisticModel(Protocol):
    """A fitted model that answers ``predict_proba(X)``: rows x classes (columns in the
    order of its ``classes_``, when it has them)."""

    def predict_proba(self, X: Any) -> Any: ...


class LabelModel(Protocol):
    """A fitted model that answers only ``predict(X)``: one label per row."""

    def predict(self, X: Any) -> Any: ...


AttackedModel = ProbabilisticModel | LabelModel
OutputDefense = Callable[[Any], ProbabilisticModel]
