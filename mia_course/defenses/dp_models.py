"""Differentially private training with Opacus: a drop-in private ``TorchMLPClassifier``.

Introduced in notebooks/09_differential_privacy.ipynb.

``DPMLPClassifier`` trains the course's MLP with Opacus's ``PrivacyEngine``
(``make_private_with_epsilon``: Poisson-sampled batches, per-example clipping, Gaussian noise
calibrated by Opacus's RDP accountant to reach ``target_epsilon`` at ``delta``). The fitted
``epsilon_`` is what the accountant reports after training. It is a normal estimator, so
every attack runs on it unchanged.
"""
import warnings
from typing import Self

import numpy as np
import torch

from mia_course.accounting import check_privacy, epsilon_spent, noise_multiplier_for
from mia_course.models import TorchMLPClassifier
from mia_course.nets import BestEpoch, build_mlp, seed_from, torch_threads
from mia_course.training.dp_stacked import BatchedDPMLP
from mia_course.training.registry import register_trainer
from mia_course.hints import ArrayLike, RandomStateLike


class DPMLPClassifier(TorchMLPClassifier):
    """``TorchMLPClassifier`` trained with DP-SGD (Opacus) to (``target_epsilon``, ``delta``).

    With ``early_stopping``, ``validation_fraction`` of the rows are held out (never trained
    on, listed in ``validation_rows_``; DP does not cover them: the chosen epoch depends on
    them) and training keeps the epoch of lowest validation loss. The noise is set for the
    epochs planned, and ``epsilon_`` is the budget of all of them: when to stop depends on the
    data, so the steps not taken cannot be claimed back (only the planned budget is proven).

    ``trainer``: ``"opacus"`` (Opacus's ``PrivacyEngine``) or ``"stacked"``: the same DP-SGD
    (Poisson sampling at rate 1 / ceil(rows / batch_size), each example's gradient clipped to
    C, Gaussian noise of the same σ from Opacus's accountant, divided by the expected batch
    size, Adam) by ``BatchedDPMLP`` as a stack of one model: a few times faster, with other
    random draws, and without early stopping.
    Introduced in notebooks/09_differential_privacy.ipynb.
    """

    def __init__(self, target_epsilon: float = 1.0, delta: float = 1e-5, max_grad_norm: float = 1.0,
                 hidden_sizes: tuple[int, ...] = (256,), epochs: int = 30, lr: float = 1e-2,
                 batch_size: int = 64, weight_decay: float = 0.0, dropout: float = 0.0,
                 random_state: RandomStateLike = None, device: str = "cpu", n_threads: int | None = 1,
                 early_stopping: bool = False, validation_fraction: float = 0.1, patience: int = 3,
                 trainer: str = "opacus") -> None:
        super().__init__(hidden_sizes=hidden_sizes, epochs=epochs, lr=lr, batch_size=batch_size,
                         weight_decay=weight_decay, dropout=dropout, random_state=random_state,
                         device=device, n_threads=n_threads, early_stopping=early_stopping,
                         validation_fraction=validation_fraction, patience=patience)
        self.target_epsilon = target_epsilon
        self.delta = delta
        self.max_grad_norm = max_grad_norm
        self.trainer = trainer

    def fit(self, X: ArrayLike, y: ArrayLike) -> Self:
        """Private training; sets ``epsilon_`` (Opacus's RDP accountant, for every planned
        step) and ``noise_multiplier_``."""
        check_privacy(self.target_epsilon, self.delta, self.max_grad_norm)
        if self.trainer not in ("opacus", "stacked"):
            raise ValueError(f"trainer: expected 'opacus' or 'stacked', got {self.trainer!r}")
        if self.trainer == "stacked" and self.early_stopping:
            raise ValueError("trainer: 'stacked' trains without early stopping; use 'opacus' or early_stopping=False")
        X, y_idx, sizes = self._prepare(X, y)
        if self.target_epsilon == float("inf"):  # no privacy: the plain model
            self.noise_multiplier_, self.epsilon_ = 0.0, float("inf")
            return super().fit(X, self.classes_[y_idx])
        if self.trainer == "stacked":
            return self._fit_stacked(X, y_idx, sizes)
        from opacus import PrivacyEngine
        seed = seed_from(self.random_state)
        with torch.random.fork_rng(devices=[]), torch_threads(self.n_threads), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Opacus's notes on secure RNG and hooks
            torch.manual_seed(seed)
            net = build_mlp(X.shape[1], sizes, len(self.classes_), self.dropout)
            gen = torch.Generator().manual_seed(seed)
            Xt, yt, X_val, y_val = self._validation_split(torch.from_numpy(X), torch.from_numpy(y_idx), gen)
            loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(Xt, yt),
                                                 batch_size=self.batch_size, generator=gen)
            opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            engine = PrivacyEngine(accountant="rdp")
            # make_private_with_epsilon's own search, remembered: the same σ (Opacus's
            # get_noise_multiplier at rate 1 / batches and int(epochs / rate) steps)
            rate = 1 / len(loader)
            sigma = noise_multiplier_for(float(self.target_epsilon), float(self.delta), rate, int(self.epochs / rate))
            net, opt, loader = engine.make_private(module=net, optimizer=opt, data_loader=loader,
                                                   noise_multiplier=sigma, max_grad_norm=self.max_grad_norm)
            loss_fn = torch.nn.CrossEntropyLoss()
            best_epoch, self.n_epochs_ = BestEpoch(net, X_val, y_val, loss_fn, self.patience), 0
            for _ in range(self.epochs):
                net.train()
                for xb, yb in loader:
                    if len(xb) == 0:
                        continue
                    opt.zero_grad()
                    loss_fn(net(xb), yb).backward()
                    opt.step()
                self.n_epochs_ += 1
                if best_epoch.stop():
                    break
            best_epoch.restore()
            self.noise_multiplier_ = float(opt.noise_multiplier)
            # the planned budget: a data-dependent stop cannot claim the steps it skipped
            self.epsilon_ = epsilon_spent(self.noise_multiplier_, 1 / len(loader),
                                          self.epochs * len(loader), self.delta)
        if hasattr(net, "remove_hooks"):
            net.remove_hooks()  # a plain module again: backward() works, e.g. for inversion
        net.eval()
        self.net_ = net._module if hasattr(net, "_module") else net
        return self

    def _fit_stacked(self, X, y_idx, sizes):
        """DP-SGD by ``BatchedDPMLP`` with one model; its weights become ``net_``."""
        stack = BatchedDPMLP(self, [self.random_state], self.n_threads)  # seeded as the Opacus path
        stack.fit(X, y_idx, np.ones((1, len(y_idx)), dtype=bool))
        with torch.random.fork_rng(devices=[]):
            net = build_mlp(X.shape[1], sizes, len(self.classes_), self.dropout)
        linears = [m for m in net if isinstance(m, torch.nn.Linear)]
        with torch.no_grad():
            for lin, (W, b) in zip(linears, stack.params_):
                lin.weight.copy_(W[0].T)
                lin.bias.copy_(b[0, 0])
        self.net_ = net.eval()
        self.noise_multiplier_, self.epsilon_, self.n_epochs_ = stack.noise_multiplier_, stack.epsilon_, self.epochs
        return self


register_trainer(DPMLPClassifier, BatchedDPMLP)  # train_shadow_models: many at once
