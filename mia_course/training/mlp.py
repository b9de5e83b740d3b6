"""Many ``TorchMLPClassifier``s trained as one batched model.

Introduced in notebooks/04_lira_and_rmia.ipynb.

A loop of small torch models spends its time in Python and optimizer overhead, not
arithmetic. ``BatchedMLP`` stacks each layer's weights of all models into a ``[n_models,
fan_in, fan_out]`` tensor (``mia_course.training.stacked``); each model draws its own
mini-batches from its own rows (``masks``), and a batched Adam keeps every model's optimizer
state separate. Model ``k`` starts from the same weights and sees the same mini-batches as
``TorchMLPClassifier(random_state=seed_k)`` would, so it is the same training, only faster.
``mia_course.models`` registers it as ``TorchMLPClassifier``'s trainer.
"""
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike

from mia_course._validation import check_int, check_matrix
from mia_course.nets import seed_from, torch_threads
from mia_course.training.registry import ShadowModels
from mia_course.training.stacked import initial_stacked_params, stacked_forward, train_stacked


PREDICT_CHUNK = 16384  # rows per forward pass: its hidden layer fits a CPU's cache, not 1 GB


class BatchedMLP(ShadowModels):
    """``n_models`` copies of a ``TorchMLPClassifier`` trained as one batched model.

    Introduced in notebooks/04_lira_and_rmia.ipynb."""

    def __init__(self, estimator: Any, seeds: Sequence[int], n_threads: int | None = None):
        self.estimator = estimator
        self.seeds = seeds
        self.n_threads = n_threads

    @staticmethod
    def accepts(estimator: Any) -> bool:
        """Early stopping picks each model's own epoch: those train one by one."""
        return not estimator.early_stopping

    def fit(self, X: np.ndarray, y: np.ndarray, masks: np.ndarray) -> "BatchedMLP":
        est = self.estimator
        sizes = est._check_params()
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        self.masks_ = masks
        self.n_features_in_ = X.shape[1]
        torch_seeds = [seed_from(s) for s in self.seeds]  # as TorchMLPClassifier.fit does
        with torch.random.fork_rng(devices=[]), torch_threads(self.n_threads):
            torch.manual_seed(torch_seeds[0])
            self.params_ = initial_stacked_params(X.shape[1], sizes, len(self.classes_), torch_seeds)
            train_stacked(self.params_, torch.from_numpy(np.ascontiguousarray(X)),
                          torch.from_numpy(y_idx.astype(np.int64)),
                          masks, torch_seeds, epochs=est.epochs, batch_size=est.batch_size,
                          lr=est.lr, weight_decay=est.weight_decay, dropout=est.dropout)
        return self

    def predict_proba(self, X: ArrayLike, models: Sequence[int] | None = None) -> np.ndarray:
        """``[n_models, n_rows, n_classes]`` probabilities (or only ``models``, a list of indices)."""
        X = np.ascontiguousarray(check_matrix(X, "X"))  # torch refuses negative strides (X[::-1])
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X: expected {self.n_features_in_} features, got {X.shape[1]}")
        params = self.params_ if models is None else [(W[models], b[models]) for W, b in self.params_]
        out = []
        with torch.no_grad():  # in chunks of rows: a label-only attack asks about 100,000s at once
            for start in range(0, max(len(X), 1), PREDICT_CHUNK):
                Xt = torch.from_numpy(X[start:start + PREDICT_CHUNK]).expand(len(params[0][0]), -1, -1)
                out.append(torch.softmax(stacked_forward(params, Xt).double(), dim=-1))
        return torch.cat(out, dim=1).numpy()

    def model(self, k: int) -> "OneShadow":
        return OneShadow(self, check_int(k, "k", minimum=0, maximum=len(self) - 1))


class OneShadow:
    """A view of one model of a ``BatchedMLP`` (for attacks that query a single model).

    Introduced in notebooks/04_lira_and_rmia.ipynb."""

    def __init__(self, stack: BatchedMLP, k: int):
        self.stack, self.k, self.classes_ = stack, k, stack.classes_

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        return self.stack.predict_proba(X, models=[self.k])[0]

    def predict(self, X: ArrayLike) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
