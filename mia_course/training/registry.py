"""Train many models at once: the registry of fast trainers, and the seeded-clone loop.

Introduced in notebooks/04_lira_and_rmia.ipynb.

LiRA and RMIA need tens of models trained on different subsets of the same pool.
``train_shadow_models`` looks up a fast trainer for the estimator's exact type (as Opacus
looks up a grad sampler by layer type). The module that defines an estimator registers its
trainer (``register_trainer``: ``TorchMLPClassifier`` in ``mia_course.models``,
``DPMLPClassifier`` in ``mia_course.defenses.dp_models``), so this module imports no model
and no defense. Any other estimator (or a subclass: the key is the exact type) is cloned,
seeded and fitted in a joblib loop (a Dask or Ray joblib backend can spread it over a cluster).
"""
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from numpy.typing import ArrayLike
from sklearn.base import clone
from sklearn.utils import check_random_state
from tqdm.auto import tqdm

from mia_course._validation import check_class_labels, check_int, check_matrix
from mia_course.hints import RandomStateLike

TRAINERS: dict[type, type] = {}


def register_trainer(estimator_type: type, trainer: type | None = None) -> type | Callable[[type], type]:
    """Register ``trainer`` as the fast way to train many ``estimator_type`` models at once.

    ``trainer(estimator, seeds, n_threads).fit(X, y, masks)`` must return a ``ShadowModels``
    whose model ``k`` is ``clone(estimator)`` with ``random_state=seeds[k]`` fitted on
    ``X[masks[k]]``; ``trainer.accepts(estimator)`` (optional) may decline some settings.
    Use as ``register_trainer(MyEstimator, MyTrainer)`` or as a decorator
    ``@register_trainer(MyEstimator)`` on the trainer class.
    Introduced in notebooks/04_lira_and_rmia.ipynb."""
    if not isinstance(estimator_type, type):
        raise TypeError(f"estimator_type: expected a class, got {estimator_type!r}")

    def register(trainer: type) -> type:
        if not callable(trainer):
            raise TypeError(f"trainer: expected a class, got {trainer!r}")
        TRAINERS[estimator_type] = trainer
        return trainer
    return register if trainer is None else register(trainer)


def trainer_for(estimator: Any) -> type | None:
    """The registered fast trainer for ``type(estimator)`` (exactly that type), or None if there
    is none or it declines this estimator's settings (then ``train_shadow_models`` loops).

    Introduced in notebooks/04_lira_and_rmia.ipynb."""
    trainer = TRAINERS.get(type(estimator))
    if trainer is None:
        return None
    accepts: Callable[[Any], bool] = getattr(trainer, "accepts", lambda est: True)
    return trainer if accepts(estimator) else None


def check_masks(masks: ArrayLike, n_records: int) -> np.ndarray:
    """A boolean ``[n_models, n_records]`` array; every model gets at least one row.

    Introduced in notebooks/04_lira_and_rmia.ipynb."""
    masks = np.asarray(masks)
    if masks.dtype != bool:
        raise TypeError(f"masks: expected a boolean array, got dtype {masks.dtype}")
    if masks.ndim != 2 or masks.shape[1] != n_records or masks.shape[0] == 0:
        raise ValueError(f"masks: expected shape [n_models, {n_records}], got {masks.shape}")
    if not masks.any(axis=1).all():
        raise ValueError("masks: every model needs at least one training row")
    return masks


def model_seeds(random_state: RandomStateLike, n_models: int) -> list[int]:
    """One torch seed per model, drawn from ``random_state``: what every batched training of
    ``n_models`` models seeds them with. Introduced in notebooks/04_lira_and_rmia.ipynb."""
    rng = check_random_state(random_state)
    return [int(s) for s in rng.randint(2**31 - 1, size=n_models)]


def train_shadow_models(estimator: Any, X: ArrayLike, y: ArrayLike, masks: ArrayLike, *,
                        random_state: int | np.random.RandomState | None = None,
                        n_jobs: int | None = None, n_threads: int | None = 1) -> "ShadowModels":
    """Train one clone of ``estimator`` per row of ``masks`` on ``X[mask], y[mask]``.

    Model ``k`` gets seed ``k`` of ``random_state``'s draws (one per mask), the same seed
    whichever trainer runs. ``n_threads``: torch CPU threads for a fast trainer (default 1: the
    stacked models' many small products run faster on one thread than waking others, idle or
    busy; None: torch's default, all cores). ``n_jobs``: joblib workers for the clone loop.
    Returns a ``ShadowModels`` whose ``predict_proba(X)`` is ``[n_models, n_rows, n_classes]``.
    Introduced in notebooks/04_lira_and_rmia.ipynb.
    """
    if isinstance(estimator, type) or not callable(getattr(estimator, "fit", None)):
        raise TypeError(f"estimator: expected an unfitted scikit-learn estimator, got {type(estimator).__name__}")
    X = check_matrix(X, "X")
    y = check_class_labels(y, "y", n=X.shape[0])
    masks = check_masks(masks, X.shape[0])
    seeds = model_seeds(random_state, len(masks))
    if n_threads is not None:
        check_int(n_threads, "n_threads", minimum=1)
    trainer = trainer_for(estimator)
    if trainer is not None:
        return trainer(estimator, seeds, n_threads).fit(X, y, masks)
    jobs = (delayed(fit_clone)(estimator, s, X[m], y[m]) for s, m in zip(seeds, masks))
    out = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    models = list(tqdm(out, total=len(masks), desc="shadow models", delay=2.0))
    trained = masks.copy()  # early stopping holds rows out: those are not members
    for k, model in enumerate(models):
        held_out = np.asarray(getattr(model, "validation_rows_", []), dtype=np.int64)
        trained[k, np.flatnonzero(masks[k])[held_out]] = False
    return ShadowModels(models, trained)


def seeded_clone(estimator: Any, seed: int | np.random.RandomState) -> Any:
    """``clone(estimator)`` with ``random_state=seed`` if it takes one (the one rule for seeding
    a copy). ``seed``: an int, or a RandomState that a seed is drawn from only when needed.

    Introduced in notebooks/04_lira_and_rmia.ipynb."""
    model = clone(estimator)
    if "random_state" in model.get_params():
        if isinstance(seed, np.random.RandomState):
            seed = seed.randint(2**31 - 1)
        model.set_params(random_state=seed)
    return model


def fit_clone(estimator: Any, seed: int, X: ArrayLike, y: ArrayLike) -> Any:
    """``seeded_clone(estimator, seed)`` fitted on ``X, y``.

    Introduced in notebooks/04_lira_and_rmia.ipynb."""
    return seeded_clone(estimator, seed).fit(X, y)


class ShadowModels:
    """Fitted shadow models; ``predict_proba(X)`` stacks every model's probabilities.

    Introduced in notebooks/04_lira_and_rmia.ipynb."""

    def __init__(self, models: Sequence[Any], masks: np.ndarray):
        self.models_ = models
        self.masks_ = masks
        self.classes_ = np.asarray(models[0].classes_)

    def __len__(self) -> int:
        return len(self.masks_)

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """``[n_models, n_rows, n_classes]`` probabilities."""
        X = check_matrix(X, "X")
        return np.stack([m.predict_proba(X) for m in self.models_])

    def model(self, k: int) -> Any:
        """The ``k``-th shadow alone (anything with ``predict_proba``)."""
        return self.models_[k]
