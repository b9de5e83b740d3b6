"""A deliberately broken DP-SGD, for teaching only: what the canary audits of lesson 12 catch.

Introduced in notebooks/12_auditing_with_canaries.ipynb.

Both kinds of canaries (``mia_course.canaries``: input-space; ``mia_course.gradient_canaries``:
Dirac) train it in place of the correct ``BatchedDPMLP`` when asked for ``broken=True``.
"""
from mia_course.training.dp_stacked import BatchedDPMLP

__all__ = ["BrokenDPMLP"]


class BrokenDPMLP(BatchedDPMLP):
    """A deliberately BROKEN DP-SGD, for teaching only: it asks Opacus's accountant for the
    noise of ``target_epsilon``, but divides the noise by the expected batch size twice (once
    when drawing it, once when averaging), a classic bug. It claims ``target_epsilon``; it
    does not deliver it. Never use it to train anything you publish.

    Introduced in notebooks/12_auditing_with_canaries.ipynb."""

    def _train(self, X, y, masks, gen):
        claimed = self.noise_multiplier_
        expected = float(self.sample_rate_ * masks.sum(dim=1).float().mean())
        self.noise_multiplier_ = claimed / expected  # THE BUG: the noise shrinks with the batch
        try:
            super()._train(X, y, masks, gen)
        finally:
            self.noise_multiplier_ = claimed  # what it reports: the accountant's noise
