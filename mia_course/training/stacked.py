"""Stacked MLPs: many small models as one, with batched products and a batched Adam.

Introduced in notebooks/04_lira_and_rmia.ipynb (through ``mia_course.training.mlp``).

Each layer's weights of ``n_models`` models are one ``[n_models, fan_in, fan_out]`` tensor.
A training step is a handful of batched matrix products (``torch.baddbmm``/``bmm``) for all
models together; backpropagation is written out (``forward_backward``), which also gives the
per-example gradients that DP-SGD clips (``mia_course.training.dp_stacked``).
"""
from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from mia_course.nets import build_mlp
from mia_course.training.sparse_rows import affine

Params = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: W [n_models, fan_in, fan_out], b [n_models, 1, fan_out]


def initial_stacked_params(n_features: int, sizes: Sequence[int], n_classes: int,
                           torch_seeds: Sequence[int]) -> Params:
    """Each model's initial weights exactly as ``build_mlp`` makes them under its seed,
    stacked: a list of ``(W [n_models, fan_in, fan_out], b [n_models, 1, fan_out])``."""
    per_model = []
    for seed in torch_seeds:
        torch.manual_seed(seed)
        net = build_mlp(n_features, sizes, n_classes)
        per_model.append([m for m in net if isinstance(m, torch.nn.Linear)])
    params = []
    for layer in range(len(per_model[0])):
        W = torch.stack([lin[layer].weight.detach().T for lin in per_model]).contiguous()
        b = torch.stack([lin[layer].bias.detach()[None, :] for lin in per_model])
        params.append((W.requires_grad_(), b.requires_grad_()))
    return params


def stacked_forward(params: Params, X: torch.Tensor, dropout: float = 0.0,
                    training: bool = False) -> torch.Tensor:
    """Logits ``[n_models, batch, n_classes]`` of every model on its own batch ``X``."""
    h = X
    for i, (W, b) in enumerate(params):
        h = torch.baddbmm(b, h, W)  # one batched matrix product for all models
        if i < len(params) - 1:
            # in place when nothing needs its gradient: a label-only attack's queries make h
            # hundreds of MB, and a fresh copy of it cost more than the matrix product
            h = torch.relu(h) if torch.is_grad_enabled() and h.requires_grad else h.relu_()
            if dropout > 0 and training:
                h = torch.nn.functional.dropout(h, dropout, training=True)
    return h


def epoch_batches(masks: np.ndarray, gens: Sequence[torch.Generator],
                  batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each model's shuffled mini-batches of this epoch, padded to a common shape:
    indices ``[n_steps, n_models, batch]`` into the pool and a validity mask."""
    rows = [np.flatnonzero(m) for m in masks]
    n_steps = max(-(-len(r) // batch_size) for r in rows)
    idx = np.zeros((n_steps, len(rows), batch_size), dtype=np.int64)
    valid = np.zeros(idx.shape, dtype=bool)
    for k, (r, gen) in enumerate(zip(rows, gens)):
        order = r[torch.randperm(len(r), generator=gen).numpy()]  # as TorchMLPClassifier.fit
        for s, start in enumerate(range(0, len(r), batch_size)):
            chunk = order[start:start + batch_size]
            idx[s, k, :len(chunk)] = chunk
            valid[s, k, :len(chunk)] = True
    return torch.from_numpy(idx), torch.from_numpy(valid)


def forward_backward(params: Params, X: torch.Tensor, y: torch.Tensor, dropout: float = 0.0,
                     weight: torch.Tensor | None = None) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Backpropagation written out for stacked MLPs: each layer's input ``[n_models, batch,
    fan_in]`` and the gradient of each example's own loss (times ``weight[model, example]``,
    if given) w.r.t. that layer's output. The weight gradient of a batch is then one
    batched product per layer."""
    inputs, keep, h = [], [], X
    for i, (W, b) in enumerate(params):
        inputs.append(h)
        h = affine(b, h, W)  # the first layer's input may be a SparseBatch (training.sparse_rows)
        if i < len(params) - 1:
            h.relu_()  # in place: one pass less over the largest tensor
            drop = None
            if dropout > 0:
                drop = torch.bernoulli(torch.full_like(h, 1 - dropout)) / (1 - dropout)
                h = h * drop
            keep.append((h, drop))
    delta = torch.softmax(h, dim=-1)
    delta.scatter_add_(-1, y[..., None], -torch.ones(y.shape + (1,), dtype=delta.dtype))
    if weight is not None:  # backpropagation is linear: weighting the top weights them all
        delta = delta * weight[..., None]
    deltas = [None] * len(params)
    for i in range(len(params) - 1, -1, -1):
        deltas[i] = delta
        if i > 0:
            h, drop = keep[i - 1]
            delta = torch.bmm(delta, params[i][0].transpose(1, 2))
            # ReLU's backward, in place: keep delta where h > 0
            torch.ops.aten.threshold_backward.grad_input(delta, h, 0.0, grad_input=delta)
            if drop is not None:
                delta = delta * drop
    return inputs, deltas


def train_stacked(params: Params, X: torch.Tensor, y: torch.Tensor, masks: np.ndarray,
                  torch_seeds: Sequence[int], *, epochs: int, batch_size: int, lr: float,
                  weight_decay: float = 0.0, dropout: float = 0.0, progress: bool = True) -> None:
    """Mini-batch Adam on every model at once; each model's loss is the mean cross-entropy
    of its own batch, and a model with no batch at a step is left untouched."""
    gens = [torch.Generator().manual_seed(s) for s in torch_seeds]
    adam = BatchedAdam(params, lr=lr, weight_decay=weight_decay)
    for _ in tqdm(range(epochs), desc=f"training {len(masks)} models", delay=2.0,
                  disable=not progress, leave=False):
        idx, valid = epoch_batches(masks, gens, batch_size)
        n_valid = valid.sum(dim=2)  # [steps, models]
        weight = valid / n_valid.clamp(min=1)[..., None]  # each model's batch mean
        for s in range(idx.shape[0]):
            with torch.no_grad():
                rows = idx[s].reshape(-1)
                X_s = X.index_select(0, rows).view(*idx.shape[1:], -1)
                inputs, deltas = forward_backward(params, X_s, y[idx[s]], dropout, weight[s])
                grads = []
                for a, d in zip(inputs, deltas):
                    grads += [torch.bmm(a.transpose(1, 2), d), d.sum(dim=1, keepdim=True)]
            adam.step(grads, active=n_valid[s] > 0)


class BatchedAdam:
    """Adam (as ``torch.optim.Adam``, L2 ``weight_decay`` added to the gradient) on stacked
    parameters, with a separate step count per model so idle models stay untouched."""

    def __init__(self, params: Params, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        self.params = [p for pair in params for p in pair]
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        n_models = self.params[0].shape[0]
        self.t = torch.zeros(n_models)
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self._torch_adam = torch.optim.Adam(self.params, lr=lr, betas=betas, eps=eps,
                                            weight_decay=weight_decay, fused=True)

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor], active: torch.Tensor) -> None:
        b1, b2 = self.betas
        if bool(active.all()) and bool((self.t == self.t[0]).all()):
            self._step_all(grads, int(self.t[0]) + 1)
            return
        if self.weight_decay:
            grads = torch._foreach_add(grads, self.params, alpha=self.weight_decay)
        self.t += active.float()  # some models idle: per-model bias corrections
        shape = (-1,) + (1,) * (self.params[0].dim() - 1)
        on = active.float().view(shape)
        c1 = (1 - b1 ** self.t.clamp(min=1)).view(shape)
        c2 = (1 - b2 ** self.t.clamp(min=1)).view(shape)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m.lerp_(g, on * (1 - b1))  # idle models: weight 0, unchanged
            v.lerp_(g * g, on * (1 - b2))
            p.addcdiv_(m * (on * self.lr / c1), (v / c2).sqrt_().add_(self.eps), value=-1.0)

    def _step_all(self, grads, t):
        """Fast path: every model takes step ``t``: torch's own fused Adam kernel."""
        self.t.fill_(t)
        state = self._torch_adam.state
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            p.grad = g
            if p not in state:  # the moments are shared with the slow path
                state[p] = {"step": torch.tensor(0.0), "exp_avg": m, "exp_avg_sq": v}
            state[p]["step"].fill_(t - 1)
        self._torch_adam.step()
