"""Deliberately broken DP-SGDs, for teaching only: the ways DP-SGD breaks in practice, and what
the canary audits of lesson 12 catch.

Introduced in notebooks/12_auditing_with_canaries.ipynb.

Each trainer below is the course's ``BatchedDPMLP`` with one step done wrong; each asks Opacus's
accountant for the noise of its ``target_epsilon`` and claims it, and none delivers it. They are
registered by name in ``BROKEN`` (``broken_trainer(name)`` looks one up), so that the audits
(``canaries.audit_dp_sgd(..., broken=name)``, ``broken_audits.realised_batch_audit``) take any of
them without knowing the bug. Never use one to train anything you publish.

- ``"noise"`` (``BrokenDPMLP``): the noise divided by the expected batch size twice.
- ``"batch_clipping"``: the batch's mean gradient clipped to C (what ``clip_grad_norm_`` does)
  instead of each example's gradient: one example can move the update by up to the batch size
  times C.
- ``"shuffling"``: shuffled batches of a fixed size, each example in exactly one batch per
  epoch, accounted as if Poisson-sampled (Chua et al. 2024).
- ``"realised_batch"``: the noisy sum divided by the number of examples the batch actually
  holds instead of the expected number: the scale of the noise then reveals that number.
"""
from collections.abc import Callable

import torch

from mia_course.training.dp_stacked import BatchedDPMLP

__all__ = ["BROKEN", "BatchClippingDPMLP", "BrokenDPMLP", "RealisedBatchDPMLP", "ShuffledBatchesDPMLP",
           "broken_trainer", "register_broken"]

BROKEN: dict[str, type] = {}


def register_broken(name: str) -> Callable[[type], type]:
    """A class decorator: registers a deliberately broken trainer under ``name`` in ``BROKEN``.

    Introduced in notebooks/12_auditing_with_canaries.ipynb."""
    def register(cls: type) -> type:
        if not (isinstance(cls, type) and issubclass(cls, BatchedDPMLP)):
            raise TypeError(f"cls: expected a BatchedDPMLP subclass, got {cls!r}")
        BROKEN[name] = cls
        return cls
    return register


def broken_trainer(broken: "bool | str | type") -> "type | None":
    """The trainer an audit's ``broken`` argument names: None for False (the correct
    ``BatchedDPMLP``), ``BrokenDPMLP`` for True, the class registered in ``BROKEN`` under a
    name, or a registered class itself.

    Introduced in notebooks/12_auditing_with_canaries.ipynb."""
    if broken is False:
        return None
    if broken is True:
        return BROKEN["noise"]
    if isinstance(broken, type) and broken in BROKEN.values():
        return broken
    if isinstance(broken, str) and broken in BROKEN:
        return BROKEN[broken]
    raise ValueError(f"broken: expected False, True or one of {sorted(BROKEN)}, got {broken!r}")


@register_broken("noise")
class BrokenDPMLP(BatchedDPMLP):
    """A deliberately BROKEN DP-SGD, for teaching only: it asks Opacus's accountant for the
    noise of ``target_epsilon``, but divides the noise by the expected batch size twice (once
    when drawing it, once when averaging), a classic bug. It claims ``target_epsilon``; it
    does not deliver it. Never use it to train anything you publish.

    Introduced in notebooks/12_auditing_with_canaries.ipynb."""

    def _noisy_average(self, grads, sigma, C, valid, expected, gen):
        # THE BUG: the noise shrinks with the batch; it still reports the accountant's noise
        return super()._noisy_average(grads, sigma / float(expected.mean()), C, valid, expected, gen)


@register_broken("batch_clipping")
class BatchClippingDPMLP(BatchedDPMLP):
    """A deliberately BROKEN DP-SGD, for teaching only: no per-example clipping; the mean
    gradient of each batch is clipped to C (``torch.nn.utils.clip_grad_norm_`` after
    ``loss.mean().backward()``), then the accountant's noise is added as if each example had
    been clipped. One example's effect is bounded only by the batch size times C.

    Introduced in notebooks/12_auditing_with_canaries.ipynb."""

    def _clip_bound(self) -> float:
        return float("inf")  # THE BUG: per-example gradients unclipped

    def _noisy_average(self, grads, sigma, C, valid, expected, gen):
        realised = valid.sum(1).clamp(min=1)  # the mean over the batch drawn ...
        norm = sum((g * g).flatten(1).sum(1) for g in grads).sqrt() / realised
        scale = (C / (norm + 1e-12)).clamp(max=1.0)  # ... clipped to C
        factor = scale * expected / realised  # back in units of a sum, to which the noise is added
        grads = [g * factor.view(-1, *[1] * (g.dim() - 1)) for g in grads]
        return super()._noisy_average(grads, sigma, C, valid, expected, gen)


@register_broken("shuffling")
class ShuffledBatchesDPMLP(BatchedDPMLP):
    """A deliberately BROKEN DP-SGD, for teaching only: each epoch shuffles each model's rows
    and cuts them into ``1 / sample_rate_`` batches of equal size (about ``batch_size``; every
    example in exactly one batch per epoch, as a ``DataLoader(shuffle=True)`` does), while the accountant is asked for the noise of
    Poisson sampling at rate ``batch_size / n`` (a common practice; Chua, Ghazi, Kamath, Kumar,
    Manurangsi, Sinha and Zhang 2024 show shuffling can be far less private than that).

    Introduced in notebooks/12_auditing_with_canaries.ipynb."""

    def _batches(self, masks, gen, step):
        per_epoch = round(1.0 / self.sample_rate_)
        if step % per_epoch == 0:  # a new epoch: a new permutation of each model's rows
            keys = torch.rand(masks.shape, generator=gen) + masks.float()  # real rows first
            self._permutation = torch.argsort(keys, dim=1, descending=True)
        n = masks.sum(1)
        size = -(-n // per_epoch)  # each model: batches of ceil(n / batches per epoch) rows
        width = max(int(size.max()), 1)
        pos = (step % per_epoch) * size[:, None] + torch.arange(width)[None, :]
        valid = (torch.arange(width)[None, :] < size[:, None]) & (pos < n[:, None])
        order = torch.gather(self._permutation, 1, pos.clamp(max=masks.shape[1] - 1))
        return order, valid.float()


@register_broken("realised_batch")
class RealisedBatchDPMLP(BatchedDPMLP):
    """A deliberately BROKEN DP-SGD, for teaching only: Poisson sampling, per-example clipping
    and the accountant's noise, but the noisy sum is divided by the number of examples the batch
    holds (at least 1) instead of the expected batch size. The noise of each update then has
    standard deviation ``noise_multiplier * C / |B_t|``: every update reveals its batch's size,
    which the DP analysis does not account for.

    Introduced in notebooks/12_auditing_with_canaries.ipynb."""

    def _noisy_average(self, grads, sigma, C, valid, expected, gen):
        return super()._noisy_average(grads, sigma, C, valid, valid.sum(1).clamp(min=1), gen)  # THE BUG
