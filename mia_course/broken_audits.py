"""A many-runs audit of a leak the one-run audits cannot see: the realised batch size.

Introduced in notebooks/12_auditing_with_canaries.ipynb.

DP-SGD's analysis releases, at each step, the sum of the batch's clipped gradients plus Gaussian
noise, divided by a number fixed in advance (the expected batch size). A trainer that divides by
the number of examples the batch actually holds (``broken_dp.RealisedBatchDPMLP``) releases more:
the noise of every coordinate then has standard deviation ``sigma * C / |B_t|``, so over many
coordinates each update tells its batch's size almost exactly. With Poisson sampling that size
depends on whether the canary was drawn, and nothing in the accountant pays for it.

Every canary of a one-run audit moves the batch size the same way, so one run's canaries cannot
tell which of them was in. The audit is therefore **many runs** on tiny data: ``n_runs`` models
(trained as one batch; each model is one run) on the same ``n_real`` records, the canary (one
more record) in each with probability 1/2. The auditor sees every noisy update of its run, reads
each step's batch size from the spread of the update (``sigma * C / std``), scores the run by the
largest batch it saw, and ``audit_fdp.many_runs_epsilon`` bounds it (Clopper-Pearson on
independent runs, Bonferroni over the thresholds, fixed in advance). The correct trainer in the
same configuration divides by ``batch_size``, a number fixed before training.
"""
import time
from typing import Any

import numpy as np
import torch
from scipy.special import logsumexp
from sklearn.utils import check_random_state

from mia_course._validation import check_int, check_labels, check_matrix
from mia_course.accounting import exact_epsilon
from mia_course.audit_fdp import many_runs_epsilon
from mia_course.broken_dp import broken_trainer
from mia_course.canaries import canary_masks
from mia_course.defenses.dp_models import DPMLPClassifier
from mia_course.hints import ArrayLike, RandomStateLike
from mia_course.training.dp_stacked import BatchedDPMLP
from mia_course.training.registry import model_seeds

__all__ = ["DiracRecordsDPMLP", "FixedBatchDPMLP", "realised_batch_audit", "shuffling_audit"]


class FixedBatchDPMLP(BatchedDPMLP):
    """The course's DP-SGD, dividing each noisy sum by ``estimator.batch_size`` (a number fixed
    before training, as the analysis assumes) rather than by each model's own expected batch size
    (which depends on how many rows that model has). Records ``batch_seen_``: ``[steps,
    n_models]``, each update's batch size as an auditor reads it, ``sigma * C / std(update)``.

    Introduced in notebooks/12_auditing_with_canaries.ipynb."""

    def _expected_batch_sizes(self, masks):
        return torch.full((len(masks),), float(self.estimator.batch_size))

    def _noisy_average(self, grads, sigma, C, valid, expected, gen):
        grads = super()._noisy_average(grads, sigma, C, valid, expected, gen)
        spread = torch.cat([g.flatten(1) for g in grads], dim=1).std(dim=1)
        self._seen.append(sigma * C / spread)
        return grads

    def _train(self, X, y, masks, gen):
        self._seen = []
        super()._train(X, y, masks, gen)
        self.batch_seen_ = torch.stack(self._seen).double().numpy()
        del self._seen


def realised_batch_audit(target_epsilon: float, X: ArrayLike, y: ArrayLike, *, delta: float,
                         broken: bool | str = False, n_runs: int = 1000, n_real: int = 3,
                         random_state: RandomStateLike = None, **training: Any) -> dict[str, Any]:
    """The many-runs audit of the realised batch size (see the module's docstring): ``n_runs``
    models on ``n_real`` records of ``X, y`` plus one canary record (in each run with
    probability 1/2), ``batch_size=2`` (Poisson sampling rate 1/2), ``epochs=10`` and one hidden
    layer of 16 units unless ``training`` says otherwise. ``broken``: the trainer of
    ``broken_dp`` to audit (e.g. ``"realised_batch"``); False: ``FixedBatchDPMLP``.
    Returns a dict: epsilon (``many_runs_epsilon`` on the runs' largest batch seen, thresholds
    ``n_real - 1.5, ..., n_real + 1.5``), accountant, exact, scores, is_in, noise_multiplier,
    sample_rate, steps, seconds.

    Introduced in notebooks/12_auditing_with_canaries.ipynb."""
    bug = broken_trainer(broken)
    X, y = check_matrix(X, "X"), check_labels(y, "y")
    n_real = check_int(n_real, "n_real", minimum=1, maximum=len(y) - 1)
    n_runs = check_int(n_runs, "n_runs", minimum=4)
    rng = check_random_state(random_state)
    settings = {"batch_size": 2, "epochs": 10, "hidden_sizes": (16,), "lr": 1e-3, **training}
    model = DPMLPClassifier(target_epsilon=target_epsilon, delta=delta, **settings)
    start = time.perf_counter()
    masks, is_in = canary_masks(n_runs, n_real, 1, random_state=rng)
    X_all, y_all = X[: n_real + 1], y[: n_real + 1]  # the last row is the canary
    trainer = FixedBatchDPMLP if bug is None else type(f"{bug.__name__}Audited", (bug, FixedBatchDPMLP), {})
    models = trainer(model, model_seeds(rng, n_runs), n_threads=1).fit(X_all, y_all, masks)
    scores = models.batch_seen_.max(axis=0)
    thresholds = np.arange(n_real - 1.5, n_real + 2.0)
    epsilon = many_runs_epsilon(is_in[:, 0], scores, delta, thresholds)
    return dict(epsilon=epsilon, accountant=float(models.epsilon_),
                exact=exact_epsilon(models.noise_multiplier_, models.sample_rate_, models.steps_, delta),
                scores=scores, is_in=is_in[:, 0], noise_multiplier=float(models.noise_multiplier_),
                sample_rate=float(models.sample_rate_), steps=int(models.steps_),
                seconds=time.perf_counter() - start)


class DiracRecordsDPMLP(FixedBatchDPMLP):
    """``FixedBatchDPMLP`` on Dirac records (gradients chosen by the auditor): row ``r``'s
    clipped gradient is ``signs[r] * C`` on one coordinate (the first weight of the first
    layer) and zero elsewhere. Records ``coordinate_``: ``[steps, n_models]``, that coordinate of
    each noisy update times ``batch_size / C`` (the batch's sum of signs plus N(0, sigma^2)).

    Introduced in notebooks/12_auditing_with_canaries.ipynb."""

    def __init__(self, estimator: DPMLPClassifier, seeds: list[int], signs: ArrayLike, n_threads: int | None = 1):
        super().__init__(estimator, seeds, n_threads)
        self.signs = signs

    def _initial_params(self, n_features, sizes, n_classes, seeds):
        """One start for every model (the records' gradients do not depend on the weights)."""
        one = super()._initial_params(n_features, sizes, n_classes, seeds[:1])
        return [tuple(p.detach().repeat(len(seeds), *[1] * (p.dim() - 1)).requires_grad_() for p in layer)
                for layer in one]

    def _clipped_sums(self, X, y, order, valid):
        grads = [torch.zeros_like(p) for layer in self.params_ for p in layer]
        signs = torch.as_tensor(np.asarray(self.signs), dtype=grads[0].dtype)
        grads[0][:, 0, 0] = (signs[order] * valid).sum(1) * float(self.estimator.max_grad_norm)
        return grads

    def _noisy_average(self, grads, sigma, C, valid, expected, gen):
        grads = super()._noisy_average(grads, sigma, C, valid, expected, gen)
        self._coordinate.append(grads[0][:, 0, 0].double() * expected.double() / C)
        return grads

    def _train(self, X, y, masks, gen):
        self._coordinate = []
        super()._train(X, y, masks, gen)
        self.coordinate_ = torch.stack(self._coordinate).numpy()
        del self._coordinate


def shuffling_audit(target_epsilon: float, *, delta: float, broken: bool | str = False, n_runs: int = 4000,
                    steps_per_epoch: int = 100, epochs: int = 1, batch_size: int = 2,
                    random_state: RandomStateLike = None) -> dict[str, Any]:
    """A many-runs audit of shuffled batches accounted as if Poisson-sampled (the construction of
    Chua et al. 2024's lower bound): each run's data is ``steps_per_epoch * batch_size - 1``
    Dirac records of gradient ``-C`` on one coordinate, plus the canary (gradient ``+C`` on the
    same coordinate) with probability 1/2. With fixed-size shuffled batches every batch then
    sums to ``-batch_size`` except one: the canary's (``+2`` above it) when the canary is in,
    the last, one row short (``+1``), when it is out, so the batches no longer hide the
    canary. The auditor sees every step's noisy update; the score is the log-likelihood ratio
    of those two hypotheses, summed over epochs; ``many_runs_epsilon`` with thresholds ``-2,
    -1.5, ..., 4`` (steps of 0.5). ``broken``: e.g. ``"shuffling"``; False: Poisson sampling (the correct trainer).
    Returns a dict like ``realised_batch_audit``'s.

    Introduced in notebooks/12_auditing_with_canaries.ipynb."""
    bug = broken_trainer(broken)
    n_runs = check_int(n_runs, "n_runs", minimum=4)
    per_epoch = check_int(steps_per_epoch, "steps_per_epoch", minimum=2)
    epochs = check_int(epochs, "epochs", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=2)
    rng = check_random_state(random_state)
    model = DPMLPClassifier(target_epsilon=target_epsilon, delta=delta, batch_size=batch_size, epochs=epochs,
                            hidden_sizes=(1,), lr=1e-3)
    start = time.perf_counter()
    n = per_epoch * batch_size
    masks, is_in = canary_masks(n_runs, n - 1, 1, random_state=rng)
    signs = np.r_[-np.ones(n - 1), 1.0]
    X, y = np.zeros((n, 1), dtype=np.float32), np.arange(n) % 2
    trainer = DiracRecordsDPMLP if bug is None else type(f"{bug.__name__}Audited", (bug, DiracRecordsDPMLP), {})
    models = trainer(model, model_seeds(rng, n_runs), signs, n_threads=1).fit(X, y, masks)
    sigma = models.noise_multiplier_
    x = (models.coordinate_ + batch_size).reshape(epochs, -1, n_runs)  # each batch's sum above -batch_size
    in_ = logsumexp((2 * x - 2) / sigma ** 2, axis=1) - np.log(x.shape[1])  # the canary's batch: +2
    out = (x[:, -1] - 0.5) / sigma ** 2  # the last batch one short: +1
    scores = (in_ - out).sum(axis=0)
    epsilon = many_runs_epsilon(is_in[:, 0], scores, delta, np.arange(-2.0, 4.5, 0.5))
    return dict(epsilon=epsilon, accountant=float(models.epsilon_),
                exact=exact_epsilon(models.noise_multiplier_, models.sample_rate_, models.steps_, delta),
                scores=scores, is_in=is_in[:, 0], noise_multiplier=float(sigma),
                sample_rate=float(models.sample_rate_), steps=int(models.steps_),
                seconds=time.perf_counter() - start)
