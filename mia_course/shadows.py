"""Shadow (reference) models on random halves of a pool: the design LiRA and RMIA use.

Introduced in notebooks/04_lira_and_rmia.ipynb.

Each record must be IN some shadows and OUT of others. ``random_halves`` draws the masks in
complementary pairs; ``train_on_random_halves`` trains one model per mask with
``mia_course.training.registry.train_shadow_models`` (many models at once).
"""
from typing import Any

import numpy as np

from mia_course.models import TorchMLPClassifier
from mia_course.training.registry import ShadowModels, train_shadow_models


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


def train_on_random_halves(estimator: Any, X: np.ndarray, y: np.ndarray, n_models: int,
                           rng: np.random.RandomState) -> tuple[np.ndarray, ShadowModels]:
    """``(masks, shadows)``: ``n_models`` clones of ``estimator`` (None: the course's
    ``TorchMLPClassifier``) trained on ``random_halves`` of ``X, y``; shared by LiRA, RMIA
    and the calibrated label-only attack.

    Introduced in notebooks/04_lira_and_rmia.ipynb."""
    masks = random_halves(n_models, len(y), rng)
    estimator = estimator if estimator is not None else TorchMLPClassifier()
    return masks, train_shadow_models(estimator, X, y, masks, random_state=rng)
