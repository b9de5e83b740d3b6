"""Many DP-SGD models at once: batched private shadow models.

Introduced in notebooks/09_differential_privacy.ipynb.

Attacking a private model needs shadows trained the same private way. Opacus trains one
small model in seconds, so 16+ shadows in a loop do not fit a lesson. Here all models train
as one stacked model (as in ``mia_course.training.mlp``), each with its own Poisson-sampled
batches, per-example clipping and Gaussian noise. Per-example gradient norms of a linear
layer need no per-example gradients: the gradient of ``W`` for example ``i`` is the outer
product ``a_i d_i^T`` (input activation times output gradient), whose norm is
``|a_i| |d_i|``; the clipped sum is then one batched matrix product ``A^T (s * D)``. The noise
multiplier comes from Opacus's accountant for the same epsilon, delta, sampling rate and
number of steps as ``DPMLPClassifier``, whose module registers ``BatchedDPMLP`` as its trainer.
"""
import math

import numpy as np
import torch
from tqdm.auto import tqdm

from mia_course.accounting import check_privacy, epsilon_spent, noise_multiplier_for
from mia_course.nets import seed_from, torch_threads
from mia_course.training.mlp import BatchedMLP
from mia_course.training.sparse_rows import SparseBatch, SparseRows, squared_norms, transposed_product
from mia_course.training.stacked import BatchedAdam, Params, forward_backward, initial_stacked_params


def clipped_gradient_sums(params: Params, X: torch.Tensor | SparseBatch, y: torch.Tensor, valid: torch.Tensor,
                          max_grad_norm: float, dropout: float = 0.0
                          ) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Per model: the sum over its valid examples of each example's gradient, clipped to
    norm ``max_grad_norm``; also each example's unclipped gradient norm. With ``dropout``,
    each example's gradient is that of its own dropped-out network. ``X``: the batches
    ``[n_models, batch, n_features]``, dense or a ``SparseBatch`` (mostly-zero data).

    Introduced in notebooks/09_differential_privacy.ipynb."""
    inputs, deltas = forward_backward(params, X, y, dropout)
    sq = 0
    for a, d in zip(inputs, deltas):
        d_sq = torch.linalg.vector_norm(d, dim=-1).square()  # one pass, no [models, batch, width] temporary
        sq = sq + squared_norms(a) * d_sq + d_sq
    norms = sq.sqrt()  # |a_i d_i^T| = |a_i| |d_i| for the weights, |d_i| for the bias
    scale = (max_grad_norm / (norms + 1e-12)).clamp(max=1.0) * valid
    grads = []
    for a, d in zip(inputs, deltas):  # sum_i scale_i a_i d_i^T, and sum_i scale_i d_i as one product
        grads += [transposed_product(a, d, scale), torch.bmm(scale[:, None, :], d)]
    return grads, norms


def poisson_batches(masks: torch.Tensor, sample_rate: float,
                    generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One step's Poisson-sampled batches: each model takes each of its rows independently
    with probability ``sample_rate``. Returns ``(order, valid)``: row indices ``[n_models,
    width]``, taken rows first, and whether each is taken (1.0) or padding (0.0).

    Introduced in notebooks/09_differential_privacy.ipynb."""
    take = masks & (torch.rand(masks.shape, generator=generator) < sample_rate)
    counts = take.sum(dim=1, keepdim=True)
    width = max(int(counts.max()), 1)
    # a stable sort of "taken first", in linear time: each row's place is its rank among the
    # taken rows, or after them among the others (an argsort per step cost more than the step)
    place = torch.where(take, take.cumsum(dim=1), counts + (~take).cumsum(dim=1)) - 1
    order = torch.empty_like(place).scatter_(1, place, torch.arange(take.shape[1]).expand_as(place))[:, :width]
    return order, (torch.arange(width) < counts).float()


def noisy_average(grads: list[torch.Tensor], noise_multiplier: float, max_grad_norm: float,
                  expected: torch.Tensor, generator: torch.Generator) -> list[torch.Tensor]:
    """Each model's clipped-gradient sums plus N(0, (noise_multiplier * C)^2) noise per
    coordinate, divided by its expected batch size ``expected[n_models]`` (as
    ``dp_sgd.noisy_gradient`` does for one model).

    Introduced in notebooks/09_differential_privacy.ipynb."""
    shape = (-1,) + (1,) * (grads[0].dim() - 1)
    return [(g + torch.normal(0.0, noise_multiplier * max_grad_norm, g.shape, generator=generator))
            / expected.view(shape) for g in grads]


class BatchedDPMLP(BatchedMLP):
    """``n_models`` copies of a ``DPMLPClassifier`` trained privately as one stacked model.

    ``observer``: None, or a callable (set on the class or the instance, e.g. by a test) that
    each step receives ``params`` (before the step), ``rows`` and ``valid`` (the Poisson
    batches: indices into the training pool) and ``grads`` (the noisy averages handed to
    Adam), to check noise, clipping and sampling from outside (tests/dp_checks.py).
    Introduced in notebooks/09_differential_privacy.ipynb."""

    observer = None

    def fit(self, X: np.ndarray, y: np.ndarray, masks: np.ndarray) -> "BatchedDPMLP":
        est = self.estimator
        check_privacy(est.target_epsilon, est.delta, est.max_grad_norm)
        if est.target_epsilon == float("inf"):  # no privacy: the plain models, as DPMLPClassifier.fit
            self.noise_multiplier_, self.epsilon_ = 0.0, float("inf")
            return super().fit(X, y, masks)
        sizes = est._check_params()
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        self.masks_, self.n_features_in_ = masks, X.shape[1]
        # Opacus samples each row with rate 1 / ceil(rows / batch_size) for epochs / rate steps;
        # one common rate (from the median model) keeps the models in step. The guarantee of
        # Poisson sampling depends on the rate and the steps only, so one noise multiplier
        # gives every model the same (epsilon, delta).
        n_batches = math.ceil(float(np.median(masks.sum(axis=1))) / est.batch_size)
        self.sample_rate_, self.steps_ = 1.0 / n_batches, est.epochs * n_batches
        self.noise_multiplier_ = noise_multiplier_for(est.target_epsilon, est.delta, self.sample_rate_, self.steps_)
        self.epsilon_ = epsilon_spent(self.noise_multiplier_, self.sample_rate_, self.steps_, est.delta)  # each model's
        seeds = [seed_from(s) for s in self.seeds]
        with torch.random.fork_rng(devices=[]), torch_threads(self.n_threads):
            self.params_ = self._initial_params(X.shape[1], sizes, len(self.classes_), seeds)
            gen = torch.Generator().manual_seed(seeds[0])
            Xt = torch.from_numpy(np.ascontiguousarray(X))
            self._sparse_rows = SparseRows.if_sparse(Xt)  # lesson 12's canaries: 0.5% non-zero
            self._train(Xt, torch.from_numpy(y_idx.astype(np.int64)), torch.from_numpy(masks), gen)
            del self._sparse_rows
        return self

    def _initial_params(self, n_features, sizes, n_classes, seeds):
        """Each model's initial weights, from its own seed."""
        return initial_stacked_params(n_features, sizes, n_classes, seeds)

    def _clip_bound(self) -> float:
        """The norm each example's gradient is clipped to: C (``max_grad_norm``)."""
        return float(self.estimator.max_grad_norm)

    def _clipped_sums(self, X, y, order, valid):
        """Each model's sum of clipped per-example gradients over its batch (lesson 12's
        gradient canaries add theirs here)."""
        est = self.estimator
        sparse = getattr(self, "_sparse_rows", None)
        rows = X[order] if sparse is None else sparse.take(order)
        return clipped_gradient_sums(self.params_, rows, y[order], valid, self._clip_bound(), est.dropout)[0]

    # The steps of DP-SGD that lesson 12's deliberately broken trainers (mia_course.broken_dp) replace.
    def _batches(self, masks, gen, step):
        """Step ``step``'s batches: Poisson sampling at ``sample_rate_``."""
        return poisson_batches(masks, self.sample_rate_, gen)

    def _expected_batch_sizes(self, masks):
        """What each model divides its noisy sum by: its expected batch size."""
        return self.sample_rate_ * masks.sum(dim=1).float()

    def _noisy_average(self, grads, sigma, C, valid, expected, gen):
        """The noisy sums divided by ``expected`` (``valid``: the batches drawn)."""
        return noisy_average(grads, sigma, C, expected, gen)

    def _train(self, X, y, masks, gen):
        est, C, sigma = self.estimator, float(self.estimator.max_grad_norm), self.noise_multiplier_
        adam = BatchedAdam(self.params_, lr=est.lr, weight_decay=est.weight_decay)
        expected = self._expected_batch_sizes(masks)  # expected batch size per model
        for step in tqdm(range(self.steps_), desc=f"DP training {len(masks)} models", delay=2.0, leave=False):
            order, valid = self._batches(masks, gen, step)
            with torch.no_grad():
                grads = self._clipped_sums(X, y, order, valid)
                grads = self._noisy_average(grads, sigma, C, valid, expected, gen)
            if self.observer is not None:  # before the step: params_ are those the gradients are of
                self.observer(params=self.params_, rows=order, valid=valid, grads=grads)
            adam.step(grads, active=torch.ones(len(masks), dtype=torch.bool))
