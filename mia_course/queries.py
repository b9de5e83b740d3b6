"""How an attacker reads a model through the API it attacks: defended and repeated queries.

Introduced in notebooks/10_output_perturbation.ipynb.

A defense that changes what the API answers (rounding, noise, labels only) is judged by an
attacker who knows it: the attacker passes its own shadow (reference) models through the
same ``output_defense`` so that they answer exactly as the target does, and asks each
question ``n_queries`` times and averages (fresh noise on every call averages out).
Every attack that trains shadow or reference models takes both parameters.

Each model's noise must be its own: a randomized defense (one with ``independent_copy``,
such as ``NoisyOutputs``) is re-drawn for model ``k`` as ``independent_copy(k)``
(``own_noise``), so that a seeded factory does not hand every shadow the same noise. Shared
noise would leave the shadows' spread without the noise that the target's answers carry:
LiRA then reads the target's noise as membership (``tests/test_adaptive.py``'s setting, 64
averaged queries, per-record variances: 0.9% TPR at 1% FPR against 20.3% undefended; with
noise of its own per shadow and the default global variance: 22.6% against 20.2%).

All attacks clip probabilities at one floor, ``PROBABILITY_FLOOR``, for the target and the
shadows alike: a rounded ``0`` then maps to the same finite value for both, instead of a
logarithm of about -690 that lies outside everything the shadows ever produced.
"""
import numpy as np

from mia_course._validation import check_int, check_matrix, check_model
from mia_course.training.registry import ShadowModels
from mia_course.hints import ArrayLike, OutputDefense, ProbabilisticModel

PROBABILITY_FLOOR = 1e-6


def check_output_defense(output_defense: OutputDefense | None, n_queries: int) -> tuple[OutputDefense | None, int]:
    """``(output_defense, n_queries)`` checked: None or a callable, and an integer >= 1.

    Introduced in notebooks/10_output_perturbation.ipynb."""
    if output_defense is not None and not callable(output_defense):
        raise TypeError("output_defense: expected None or a callable that takes a fitted model and "
                        f"returns it as the attacked API answers, got {type(output_defense).__name__}")
    return output_defense, check_int(n_queries, "n_queries", minimum=1)


def query_proba(model: ProbabilisticModel, X: ArrayLike, n_queries: int = 1) -> np.ndarray:
    """The mean of ``n_queries`` answers of ``model.predict_proba(X)``.

    Introduced in notebooks/10_output_perturbation.ipynb."""
    check_model(model)
    n_queries = check_int(n_queries, "n_queries", minimum=1)
    total = np.asarray(model.predict_proba(X), dtype=np.float64)
    for _ in range(n_queries - 1):
        total = total + np.asarray(model.predict_proba(X), dtype=np.float64)
    return total / n_queries


def own_noise(api: ProbabilisticModel, index: int) -> ProbabilisticModel:
    """``api`` with a noise stream of its own for model ``index`` (``api.independent_copy``
    where the defense is randomized, else ``api`` unchanged).

    Introduced in notebooks/10_output_perturbation.ipynb."""
    copy = getattr(api, "independent_copy", None)
    return copy(index) if callable(copy) else api


class _Remembered:
    """A fitted model that remembers its last answer: a defense asked many times for the
    same rows recomputes only its own randomness, not the model."""

    def __init__(self, model: ProbabilisticModel) -> None:
        self.model, self._X, self._P = model, None, None
        if hasattr(model, "classes_"):
            self.classes_ = np.asarray(model.classes_)

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        X = check_matrix(X, "X")
        if self._X is None or self._X.shape != X.shape or not np.array_equal(self._X, X):
            self._X, self._P = X, np.asarray(self.model.predict_proba(X), dtype=np.float64)
        return self._P.copy()

    def predict(self, X: ArrayLike) -> np.ndarray:
        P = self.predict_proba(X)
        return getattr(self, "classes_", np.arange(P.shape[1]))[P.argmax(axis=1)]


def shadow_answers(shadows: ShadowModels, X: ArrayLike, output_defense: OutputDefense | None = None,
                   n_queries: int = 1) -> np.ndarray:
    """``[n_models, n_rows, n_classes]``: each shadow's probabilities on ``X`` as the attacked
    API would answer them (through ``output_defense``, averaged over ``n_queries`` calls;
    each shadow with noise of its own, ``own_noise``).

    Introduced in notebooks/10_output_perturbation.ipynb."""
    if output_defense is None:  # the raw models are deterministic: one query says it all
        return np.asarray(shadows.predict_proba(X), dtype=np.float64)
    X = check_matrix(X, "X")
    return np.stack([query_proba(own_noise(output_defense(_Remembered(shadows.model(k))), k), X, n_queries)
                     for k in range(len(shadows))])
