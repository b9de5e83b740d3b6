"""A small multi-layer perceptron on torch with scikit-learn's estimator API.

Introduced in notebooks/01_alice_and_the_ad_model.ipynb.

The defaults are chosen to overfit visibly (train accuracy near 100%, test accuracy
clearly lower): the model the course attacks. ``weight_decay`` and ``dropout`` are the
regularization knobs of the defenses lessons.
"""
from typing import Self

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from mia_course._validation import check_int, check_labels, check_matrix, check_real
from mia_course.nets import BestEpoch, build_mlp, seed_from, torch_threads
from mia_course.training.mlp import BatchedMLP
from mia_course.training.registry import register_trainer
from mia_course.hints import ArrayLike, RandomStateLike


class TorchMLPClassifier(ClassifierMixin, BaseEstimator):
    """MLP classifier trained with Adam on mini-batches of cross-entropy.

    Introduced in notebooks/01_alice_and_the_ad_model.ipynb.
    """

    def __init__(self, hidden_sizes: tuple[int, ...] = (256,), epochs: int = 30, lr: float = 3e-3,
                 batch_size: int = 64, weight_decay: float = 0.0, dropout: float = 0.0,
                 random_state: RandomStateLike = None, device: str = "cpu", n_threads: int | None = 1,
                 early_stopping: bool = False, validation_fraction: float = 0.1, patience: int = 3) -> None:
        self.hidden_sizes = hidden_sizes
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.random_state = random_state
        self.device = device
        self.n_threads = n_threads  # small models train fastest on one CPU thread
        self.early_stopping = early_stopping  # stop when the validation loss stops falling
        self.validation_fraction = validation_fraction
        self.patience = patience

    def _check_params(self) -> tuple[int, ...]:
        sizes = self.hidden_sizes
        if isinstance(sizes, (int, np.integer)):
            sizes = (sizes,)
        if not isinstance(sizes, (tuple, list)):
            raise TypeError(f"hidden_sizes: expected a tuple of layer widths, got {sizes!r}")
        sizes = tuple(check_int(h, "hidden_sizes", minimum=1) for h in sizes)
        check_int(self.epochs, "epochs", minimum=1)
        check_real(self.lr, "lr", minimum=0.0, strict_min=True)
        check_int(self.batch_size, "batch_size", minimum=1)
        check_real(self.weight_decay, "weight_decay", minimum=0.0)
        check_real(self.dropout, "dropout", minimum=0.0, maximum=1.0, strict_max=True)
        if self.n_threads is not None:
            check_int(self.n_threads, "n_threads", minimum=1)
        check_real(self.validation_fraction, "validation_fraction", minimum=0.0, maximum=1.0,
                   strict_min=True, strict_max=True)
        check_int(self.patience, "patience", minimum=1)
        return sizes

    def _prepare(self, X: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
        """Validated ``X``, class indices of ``y`` and hidden sizes; sets ``classes_``."""
        sizes = self._check_params()
        X = check_matrix(X, "X")
        y = check_labels(y, "y", n=X.shape[0])
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError("y: expected at least two classes, got one")
        self.n_features_in_ = X.shape[1]
        return X, y_idx.astype(np.int64), sizes

    def fit(self, X: ArrayLike, y: ArrayLike) -> Self:
        """Train on ``X`` (rows x features) and labels ``y``; returns ``self``."""
        X, y_idx, sizes = self._prepare(X, y)
        seed = seed_from(self.random_state)
        device = torch.device(self.device)
        # fork_rng: leave the caller's global torch seed as it was
        with torch.random.fork_rng(devices=[]), torch_threads(self.n_threads):
            torch.manual_seed(seed)
            net = build_mlp(X.shape[1], sizes, len(self.classes_), self.dropout).to(device)
            gen = torch.Generator().manual_seed(seed)
            Xt = torch.from_numpy(X).to(device)
            yt = torch.from_numpy(y_idx.astype(np.int64)).to(device)
            Xt, yt, X_val, y_val = self._validation_split(Xt, yt, gen)
            opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            loss_fn = torch.nn.CrossEntropyLoss()
            best_epoch = BestEpoch(net, X_val, y_val, loss_fn, self.patience)
            self.n_epochs_ = 0
            for _ in range(self.epochs):
                net.train()
                for idx in torch.randperm(len(Xt), generator=gen).split(self.batch_size):
                    idx = idx.to(device)
                    opt.zero_grad()
                    loss_fn(net(Xt[idx]), yt[idx]).backward()
                    opt.step()
                self.n_epochs_ += 1
                if best_epoch.stop():
                    break
            best_epoch.restore()
        net.eval()
        self.net_ = net
        return self

    def _validation_split(self, Xt, yt, gen):
        """With early stopping: hold out ``validation_fraction`` of the rows. Sets
        ``validation_rows_``: their indices (sorted; empty without early stopping). They are
        never trained on, so an evaluation must not count them as members."""
        if not self.early_stopping:
            self.validation_rows_ = np.zeros(0, dtype=np.int64)
            return Xt, yt, None, None
        perm = torch.randperm(len(Xt), generator=gen)
        n_val = max(1, int(round(self.validation_fraction * len(Xt))))
        if n_val >= len(Xt):
            raise ValueError("validation_fraction: leaves no rows to train on")
        val, train = perm[:n_val].to(Xt.device), perm[n_val:].to(Xt.device)
        self.validation_rows_ = np.sort(perm[:n_val].numpy())
        return Xt[train], yt[train], Xt[val], yt[val]

    def _logits(self, X):
        check_is_fitted(self, "net_")
        X = check_matrix(X, "X")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X: expected {self.n_features_in_} features (as in fit), got {X.shape[1]}")
        with torch.no_grad():
            return self.net_(torch.from_numpy(X).to(next(self.net_.parameters()).device)).cpu()

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Class probabilities, rows x classes (columns in the order of ``classes_``)."""
        return torch.softmax(self._logits(X).double(), dim=1).numpy()

    def predict(self, X: ArrayLike) -> np.ndarray:
        """The most probable class of each row."""
        return self.classes_[self._logits(X).argmax(dim=1).numpy()]


register_trainer(TorchMLPClassifier, BatchedMLP)  # train_shadow_models: many at once
