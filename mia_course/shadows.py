"""Shadow (reference) models on random halves of a pool: the design LiRA and RMIA use.

Introduced in notebooks/04_lira_and_rmia.ipynb.

Each record must be IN some shadows and OUT of others. ``random_halves`` draws the masks in
complementary pairs; ``train_on_random_halves`` trains one model per mask with
``mia_course.training.registry.train_shadow_models`` (many models at once).
"""
import numpy as np

from mia_course.models import TorchMLPClassifier
from mia_course.training.registry import ShadowModels, train_shadow_models
from mia_course.hints import ArrayLike, Estimator


def random_halves(n_models: int, n_records: int, rng: np.random.RandomState) -> np.ndarray:
    """``[n_models, n_records]`` masks in complementary pairs: models ``2k`` and ``2k+1``
    split one random permutation of the records in half. Every model trains on exactly
    half of the records (so all train for the same number of steps), and for an even
    number of models every record is IN exactly half of them (Carlini et al.'s design).

    Introduced in notebooks/04_lira_and_rmia.ipynb."""
    masks = np.zeros((n_models, n_records), dtype=bool)
    for k in range(0, n_models, 2):
        first = rng.permutation(n_records) < n_records // 2
        masks[k] = first
        if k + 1 < n_models:
            masks[k + 1] = ~first
    return masks


def distinct_records(X: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """``(first, inverse)``: one index per distinct record (features and label), in order of
    first appearance, and for each row the number of its distinct record.

    Introduced in notebooks/04_lira_and_rmia.ipynb."""
    codes = np.unique(np.asarray(y), return_inverse=True)[1].reshape(-1)  # labels of any kind, in order
    rows = np.hstack([np.asarray(X, np.float64), codes.astype(np.float64)[:, None]])
    _, first, inverse = np.unique(rows, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # number distinct records by first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return first[order], rank[np.ravel(inverse)]


def default_shadow_model() -> TorchMLPClassifier:
    """The shadow (reference) model an attack trains when given none: the course's
    ``TorchMLPClassifier`` with its default settings, the same architecture as the target.

    Introduced in notebooks/03_shadow_models.ipynb."""
    return TorchMLPClassifier()


def train_on_random_halves(estimator: Estimator | None, X: ArrayLike, y: ArrayLike, n_models: int,
                           rng: np.random.RandomState) -> tuple[np.ndarray, ShadowModels]:
    """``(masks, shadows)``: ``n_models`` clones of ``estimator`` (None: the course's
    ``TorchMLPClassifier``) trained on ``random_halves`` of the *distinct* records of ``X, y``
    (every copy of a duplicated record is IN or OUT together, so each distinct record is IN
    for exactly half the models; with early stopping, the rows a shadow held out for validation
    are OUT for it); shared by LiRA, RMIA and the calibrated label-only attack.

    Introduced in notebooks/04_lira_and_rmia.ipynb."""
    first, inverse = distinct_records(X, y)
    masks = random_halves(n_models, len(first), rng)[:, inverse]
    estimator = estimator if estimator is not None else default_shadow_model()
    shadows = train_shadow_models(estimator, X, y, masks, random_state=rng)
    return np.asarray(shadows.masks_, bool), shadows  # early stopping's validation rows are OUT
