"""Gradient-space (Dirac) canaries: canaries isolated by construction, for the strongest auditor.

Introduced in notebooks/12_auditing_with_canaries.ipynb.

An input-space canary (``mia_course.canaries``) is a record: its clipped gradient is spread over
its own site's first-layer weights *and* the hidden and output layers that every record shares,
so canaries of one run interfere, and only part of each canary's norm C lands where the auditor
looks. A **Dirac canary** is a record whose clipped per-example gradient is ``C`` times a unit
vector on a coordinate of its own: one first-layer weight of an input column that no real user
visits (each such column holds one canary per hidden unit). Nothing else moves that coordinate
but the canary and the DP noise, and each canary has the largest effect DP-SGD allows.

Threat model: white-box with gradient insertion and every step seen. The auditor chooses the
canaries' *gradients* (as in federated learning, or a worst-case record, which DP must also
cover: DP-SGD's analysis holds for any per-example gradient of norm at most C), and sees every
noisy update (what DP-SGD's accountant assumes is released). The ``"steps"`` score is the sum of
the canary's coordinate over all noisy updates, in units of C: with full batches it is exactly
N(T, T sigma^2) for a canary in and N(0, T sigma^2) out, i.e. the Gaussian mechanism with
``mu = sqrt(T) / sigma``, the whole of what the accountant's analysis allows. The ``"final"``
score (the coordinate's total change, to be read from the final weights and the initial ones) is
the same auditor seeing only the trained model; Adam's per-coordinate steps make it a
nonlinear function of the same updates, so it proves a little less.
"""
import numpy as np
import torch
from scipy.special import logsumexp

from mia_course._validation import check_int, check_labels, check_matrix, check_real
from mia_course.broken_dp import broken_trainer
from mia_course.defenses.dp_models import DPMLPClassifier
from mia_course.hints import ArrayLike, RandomStateLike
from mia_course.training.dp_stacked import BatchedDPMLP
from mia_course.training.registry import model_seeds, check_masks

__all__ = ["GradientCanaryDPMLP", "add_gradient_canaries", "gradient_canary_scores", "train_with_gradient_canaries"]


def add_gradient_canaries(X: ArrayLike, y: ArrayLike, n_canaries: int, hidden_units: int
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(X_all, y_all, rows, columns, units)``: ``X`` with ``ceil(n_canaries / hidden_units)``
    new all-zero columns and ``n_canaries`` placeholder rows (the canaries: their gradient is
    set by ``GradientCanaryDPMLP``, not computed from the row); canary ``j`` owns the
    first-layer weight from input ``columns[j]`` to hidden unit ``units[j]``.

    Introduced in notebooks/12_auditing_with_canaries.ipynb."""
    X = check_matrix(X, "X")
    y = check_labels(y, "y", n=X.shape[0])
    n_canaries = check_int(n_canaries, "n_canaries", minimum=1)
    hidden_units = check_int(hidden_units, "hidden_units", minimum=1)
    n, f = X.shape
    extra = -(-n_canaries // hidden_units)
    X_all = np.zeros((n + n_canaries, f + extra), dtype=np.float32)
    X_all[:n, :f] = X
    y_all = np.concatenate([y, np.full(n_canaries, y[0])])
    j = np.arange(n_canaries)
    return X_all, y_all, np.arange(n, n + n_canaries), f + j // hidden_units, j % hidden_units


class GradientCanaryDPMLP(BatchedDPMLP):
    """``BatchedDPMLP`` (the course's DP-SGD, unchanged) in which the rows ``canary_rows`` are
    Dirac canaries: whenever a batch takes one, its gradient is ``canary_gradient`` times ``C``
    on its own first-layer weight (``canary_columns``, ``canary_units``) and zero elsewhere,
    clipped like every example's (to ``C``). Records, per model and canary, ``step_values_``
    (``[steps, n_models, n_canaries]``: the canary's coordinate of each noisy update, times the
    expected batch size, in units of C), ``step_sums_`` (their sum over the steps) and
    ``start_`` (the coordinate's initial value).

    Introduced in notebooks/12_auditing_with_canaries.ipynb."""

    def __init__(self, estimator: DPMLPClassifier, seeds: list[int], canary_rows: ArrayLike,
                 canary_columns: ArrayLike, canary_units: ArrayLike, n_threads: int | None = 1,
                 canary_gradient: float = 1.0):
        super().__init__(estimator, seeds, n_threads)
        self.canary_rows, self.canary_columns, self.canary_units = canary_rows, canary_columns, canary_units
        self.canary_gradient = canary_gradient

    def canary_weights(self) -> np.ndarray:
        """The canaries' own first-layer weights now: ``[n_models, n_canaries]``."""
        return self.params_[0][0][:, self._cols, self._units].detach().double().numpy()

    def _clipped_sums(self, X, y, order, valid):
        canary = self._canary_of[order]  # [n_models, width]: canary index, -1 for real rows
        real = (valid > 0) & (canary < 0)  # real rows only through the real per-example gradients
        keep = torch.argsort(real.float(), dim=1, descending=True, stable=True)[:, :max(int(real.sum(1).max()), 1)]
        grads = super()._clipped_sums(X, y, torch.gather(order, 1, keep), torch.gather(real, 1, keep).float())
        model, pos = ((valid > 0) & (canary >= 0)).nonzero(as_tuple=True)
        j = canary[model, pos]
        size = min(float(self.canary_gradient) * float(self.estimator.max_grad_norm), self._clip_bound())
        grads[0].index_put_((model, self._cols[j], self._units[j]), torch.full((len(j),), size, dtype=grads[0].dtype),
                            accumulate=True)
        return grads

    def _noisy_average(self, grads, sigma, C, valid, expected, gen):
        grads = super()._noisy_average(grads, sigma, C, valid, expected, gen)
        self._steps.append(grads[0][:, self._cols, self._units].double() * expected.double()[:, None])  # seen
        return grads

    def _train(self, X, y, masks, gen):
        self._canary_of = torch.full((len(X),), -1, dtype=torch.long)
        self._canary_of[torch.as_tensor(np.asarray(self.canary_rows))] = torch.arange(len(self.canary_rows))
        self._cols = torch.as_tensor(np.asarray(self.canary_columns), dtype=torch.long)
        self._units = torch.as_tensor(np.asarray(self.canary_units), dtype=torch.long)
        self.start_, self._steps = self.canary_weights().copy(), []
        super()._train(X, y, masks, gen)
        steps, C = torch.stack(self._steps), float(self.estimator.max_grad_norm)
        self.step_values_, self.step_sums_ = (steps / C).numpy(), (steps.sum(0) / C).numpy()
        del self._steps


def train_with_gradient_canaries(estimator: DPMLPClassifier, X_all: ArrayLike, y_all: ArrayLike, masks: ArrayLike,
                                 canaries: tuple[ArrayLike, ArrayLike, ArrayLike], *, broken: bool | str = False,
                                 canary_gradient: float = 1.0,
                                 random_state: RandomStateLike = None) -> GradientCanaryDPMLP:
    """``len(masks)`` DP models trained as one batch, with the Dirac canaries ``canaries =
    (rows, columns, units)`` of ``add_gradient_canaries``, each with a gradient of
    ``canary_gradient`` times C before clipping; ``broken``: the same with one of the
    deliberately broken trainers of ``mia_course.broken_dp`` (True: ``BrokenDPMLP``, noise
    divided by the expected batch size twice; or a name of ``broken_dp.BROKEN``).

    Introduced in notebooks/12_auditing_with_canaries.ipynb."""
    if not isinstance(estimator, DPMLPClassifier):
        raise TypeError(f"estimator: expected a DPMLPClassifier, got {type(estimator).__name__}")
    bug = broken_trainer(broken)
    canary_gradient = check_real(canary_gradient, "canary_gradient", minimum=0.0, strict_min=True)
    X_all, y_all = check_matrix(X_all, "X_all"), check_labels(y_all, "y_all", n=len(X_all))
    masks = check_masks(masks, len(y_all))
    rows, cols, units = (np.asarray(a) for a in canaries)
    if not rows.shape == cols.shape == units.shape or rows.ndim != 1:
        raise ValueError("canaries: expected (rows, columns, units) of equal length")
    seeds = model_seeds(random_state, len(masks))
    trainer = GradientCanaryDPMLP if bug is None else \
        type(f"{bug.__name__}WithGradientCanaries", (bug, GradientCanaryDPMLP), {})
    return trainer(estimator, seeds, rows, cols, units, n_threads=1,
                   canary_gradient=canary_gradient).fit(X_all, y_all, masks)


def gradient_canary_scores(models: GradientCanaryDPMLP, kind: str = "steps") -> np.ndarray:
    """Scores ``[n_models, n_canaries]``, high for canaries that were in: ``"steps"``, the sum
    of each canary's coordinate over every noisy update (the auditor sees every step);
    ``"final"``, how far its weight moved against its gradient from start to end (the auditor
    sees the initial and the trained weights only); or ``"epochs"``, the auditor who sees every
    step and bets that each canary was in exactly one batch per epoch (shuffled batches): the sum
    over epochs of the log-likelihood ratio of "one of this epoch's steps carried the canary"
    against "none did", ``log mean_t exp((x_t - 1/2) / sigma^2)`` with ``x_t`` the canary's
    coordinate of step t in units of C.

    Introduced in notebooks/12_auditing_with_canaries.ipynb."""
    if not isinstance(models, GradientCanaryDPMLP):
        raise TypeError(f"models: expected models from train_with_gradient_canaries, got {type(models).__name__}")
    if kind == "steps":
        return models.step_sums_.copy()
    if kind == "final":
        return models.start_ - models.canary_weights()  # descent moves the weight against the canary's gradient C
    if kind == "epochs":
        per_epoch, sigma = round(1.0 / models.sample_rate_), models.noise_multiplier_
        x = models.step_values_.reshape(-1, per_epoch, *models.step_values_.shape[1:])
        return (logsumexp((x - 0.5) / sigma ** 2, axis=1) - np.log(per_epoch)).sum(axis=0)
    raise ValueError(f"kind: expected 'steps', 'final' or 'epochs', got {kind!r}")
