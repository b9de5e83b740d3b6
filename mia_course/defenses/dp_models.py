"""Differentially private training with Opacus: a drop-in private ``TorchMLPClassifier``.

Introduced in notebooks/09_differential_privacy.ipynb.

``DPMLPClassifier`` trains the course's MLP with Opacus's ``PrivacyEngine``
(``make_private_with_epsilon``: Poisson-sampled batches, per-example clipping, Gaussian noise
calibrated by Opacus's RDP accountant to reach ``target_epsilon`` at ``delta``). The fitted
``epsilon_`` is what the accountant reports after training. It is a normal estimator, so
every attack runs on it unchanged.
"""
import warnings

import torch
from opacus.accountants.utils import get_noise_multiplier

from mia_course._validation import check_real
from mia_course.models import TorchMLPClassifier, build_mlp, seed_from, torch_threads


def check_privacy(target_epsilon, delta, max_grad_norm):
    """Validate a privacy budget: epsilon > 0, delta in (0, 1), max_grad_norm (C) > 0.

    Introduced in notebooks/09_differential_privacy.ipynb."""
    if not isinstance(target_epsilon, (int, float)) or isinstance(target_epsilon, bool):
        raise TypeError(f"target_epsilon: expected a number, got {target_epsilon!r}")
    if not target_epsilon > 0:
        raise ValueError(f"target_epsilon: expected a number > 0, got {target_epsilon}")
    check_real(delta, "delta", minimum=0.0, maximum=1.0, strict_min=True, strict_max=True)
    check_real(max_grad_norm, "max_grad_norm", minimum=0.0, strict_min=True)


def noise_multiplier_for(target_epsilon, delta, sample_rate, steps):
    """The noise multiplier Opacus's RDP accountant needs for (epsilon, delta) after
    ``steps`` Poisson-sampled steps at ``sample_rate``.

    Introduced in notebooks/09_differential_privacy.ipynb."""
    return float(get_noise_multiplier(target_epsilon=target_epsilon, target_delta=delta,
                                      sample_rate=sample_rate, steps=steps, accountant="rdp"))


class DPMLPClassifier(TorchMLPClassifier):
    """``TorchMLPClassifier`` trained with DP-SGD (Opacus) to (``target_epsilon``, ``delta``).

    With ``early_stopping``, ``validation_fraction`` of the rows are held out (never trained
    on; DP does not cover them: the chosen epoch depends on them) and training keeps the
    epoch of lowest validation loss. The noise is set for the epochs planned, so stopping
    early only spends less (``epsilon_`` is what the steps taken spent).
    Introduced in notebooks/09_differential_privacy.ipynb.
    """

    def __init__(self, target_epsilon=1.0, delta=1e-5, max_grad_norm=1.0, hidden_sizes=(256,),
                 epochs=30, lr=1e-2, batch_size=64, weight_decay=0.0, dropout=0.0,
                 random_state=None, device="cpu", n_threads=1, early_stopping=False,
                 validation_fraction=0.1, patience=3):
        super().__init__(hidden_sizes=hidden_sizes, epochs=epochs, lr=lr, batch_size=batch_size,
                         weight_decay=weight_decay, dropout=dropout, random_state=random_state,
                         device=device, n_threads=n_threads, early_stopping=early_stopping,
                         validation_fraction=validation_fraction, patience=patience)
        self.target_epsilon = target_epsilon
        self.delta = delta
        self.max_grad_norm = max_grad_norm

    def fit(self, X, y):
        """Private training; sets ``epsilon_`` (Opacus's accountant) and ``noise_multiplier_``."""
        check_privacy(self.target_epsilon, self.delta, self.max_grad_norm)
        X, y_idx, sizes = self._prepare(X, y)
        if self.target_epsilon == float("inf"):  # no privacy: the plain model
            self.noise_multiplier_, self.epsilon_ = 0.0, float("inf")
            return super().fit(X, self.classes_[y_idx])
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
            net, opt, loader = engine.make_private_with_epsilon(
                module=net, optimizer=opt, data_loader=loader, target_epsilon=self.target_epsilon,
                target_delta=self.delta, epochs=self.epochs, max_grad_norm=self.max_grad_norm)
            loss_fn = torch.nn.CrossEntropyLoss()
            best, best_state, waited, self.n_epochs_ = float("inf"), None, 0, 0
            for _ in range(self.epochs):
                net.train()
                for xb, yb in loader:
                    if len(xb) == 0:
                        continue
                    opt.zero_grad()
                    loss_fn(net(xb), yb).backward()
                    opt.step()
                self.n_epochs_ += 1
                if X_val is None:
                    continue
                net.eval()
                with torch.no_grad():
                    val = float(loss_fn(net(X_val), y_val))
                if val < best:
                    best, waited, best_state = val, 0, {k: v.clone() for k, v in net.state_dict().items()}
                else:
                    waited += 1
                    if waited >= self.patience:
                        break
            if best_state is not None:
                net.load_state_dict(best_state)  # the epoch with the lowest validation loss
            self.epsilon_ = float(engine.get_epsilon(self.delta))
            self.noise_multiplier_ = float(opt.noise_multiplier)
        if hasattr(net, "remove_hooks"):
            net.remove_hooks()  # a plain module again: backward() works, e.g. for inversion
        net.eval()
        self.net_ = net._module if hasattr(net, "_module") else net
        return self
