"""DP-SGD from scratch: one private training step, written out for the lesson.

Introduced in notebooks/09_differential_privacy.ipynb.

Abadi et al. (2016): (1) compute every example's own gradient, (2) clip each to norm at most
``max_grad_norm`` (C), so no single person can move the model far, (3) add Gaussian noise of
standard deviation ``noise_multiplier * C`` to their sum, which hides whether any one person
was in the batch, (4) divide by the expected batch size and take a step. The privacy
accounting (how much epsilon the steps add up to) is *not* written here: it comes from
Opacus's accountant (``dp_models``).
"""
from collections.abc import Mapping

import torch
from torch.func import functional_call, grad, vmap

from mia_course._validation import check_real


def per_sample_gradients(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """``{name: [batch, *param.shape]}``: each example's gradient of its own loss.

    Introduced in notebooks/09_differential_privacy.ipynb."""
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss_of_one(p, x, t):
        logits = functional_call(model, p, (x[None],))
        return torch.nn.functional.cross_entropy(logits, t[None])

    return vmap(grad(loss_of_one), in_dims=(None, 0, 0))(params, X, y)


def clip_per_sample(grads: Mapping[str, torch.Tensor],
                    max_grad_norm: float) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Scale each example's gradient (all parameters together) to norm <= ``max_grad_norm``.

    Introduced in notebooks/09_differential_privacy.ipynb."""
    max_grad_norm = check_real(max_grad_norm, "max_grad_norm", minimum=0.0, strict_min=True)
    flat = torch.cat([g.flatten(start_dim=1) for g in grads.values()], dim=1)
    norms = flat.norm(dim=1)
    scale = (max_grad_norm / (norms + 1e-12)).clamp(max=1.0)
    return {k: g * scale.view(-1, *([1] * (g.dim() - 1))) for k, g in grads.items()}, norms


def noisy_gradient(clipped: Mapping[str, torch.Tensor], max_grad_norm: float, noise_multiplier: float,
                   expected_batch_size: float, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """Sum of the clipped gradients plus N(0, (noise_multiplier * C)^2) noise, divided by the
    expected batch size (as Opacus does with Poisson sampling).

    Introduced in notebooks/09_differential_privacy.ipynb."""
    noise_multiplier = check_real(noise_multiplier, "noise_multiplier", minimum=0.0)
    expected_batch_size = check_real(expected_batch_size, "expected_batch_size", minimum=0.0, strict_min=True)
    out = {}
    for k, g in clipped.items():
        noise = torch.normal(0.0, noise_multiplier * max_grad_norm, g.shape[1:], generator=generator)
        out[k] = (g.sum(dim=0) + noise) / expected_batch_size
    return out


def dp_sgd_step(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, *, lr: float, max_grad_norm: float,
                noise_multiplier: float, expected_batch_size: float | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """One DP-SGD step on ``model`` (in place) with the batch ``X, y``; returns the
    per-example gradient norms before clipping.

    Introduced in notebooks/09_differential_privacy.ipynb."""
    check_real(lr, "lr", minimum=0.0, strict_min=True)
    clipped, norms = clip_per_sample(per_sample_gradients(model, X, y), max_grad_norm)
    noisy = noisy_gradient(clipped, max_grad_norm, noise_multiplier,
                           expected_batch_size or len(X), generator)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p -= lr * noisy[name]
    return norms
