"""Checks of the batched DP-SGD trainer (``mia_course.training.dp_stacked``) from outside.

Each ``check_*`` function raises AssertionError when what the trainer actually did is not
DP-SGD as promised; tests/test_dp_checks.py runs them on the real trainer, and
tests/test_breakages.py runs the same functions on deliberately broken trainers to show
that they fail. (Imported by the tests as ``from dp_checks import ...``.)

What is measured, every step and for every model (``BatchedDPMLP.observer``):
- the rows it sampled (``rows``/``valid``) and the parameters before the step;
- the noisy average gradient handed to Adam (``grads``).
From those alone, and independently of the trainer's own maths, the check recomputes each
example's gradient with ``torch.func`` (autograd), clips it to C and sums: ``S``. The
trainer's gradient times the expected batch size ``q * n_k`` minus ``S`` is what the
trainer added: it must be N(0, (sigma C)^2) noise per coordinate, independent of ``S``.
"""
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from opacus.accountants import RDPAccountant
from torch.func import grad, vmap

from mia_course.training.dp_stacked import BatchedDPMLP
from mia_course.training.registry import train_shadow_models


@dataclass
class DPRun:
    """What a batched DP training run did, step by step (see ``record_dp_run``)."""
    estimator: object
    masks: np.ndarray
    stack: object = None
    steps: list = field(default_factory=list)  # per step: dict(params, rows, valid, grads)
    X: np.ndarray = None
    y: np.ndarray = None


@contextmanager
def record_observer(steps):
    """While in the block, every step of the batched DP trainer is appended to ``steps``:
    ``dict(params, rows, valid, grads)`` (copies)."""
    def observer(*, params, rows, valid, grads):
        steps.append(dict(params=[(W.detach().clone(), b.detach().clone()) for W, b in params],
                          rows=rows.clone(), valid=valid.clone().bool(),
                          grads=[g.detach().clone() for g in grads]))

    old = BatchedDPMLP.observer
    BatchedDPMLP.observer = staticmethod(observer)
    try:
        yield steps
    finally:
        BatchedDPMLP.observer = old


def record_dp_run(estimator, X, y, masks, random_state=0):
    """Train ``len(masks)`` DP models with ``train_shadow_models`` and record every step."""
    run = DPRun(estimator=estimator, masks=np.asarray(masks), X=X, y=y)
    with record_observer(run.steps):
        run.stack = train_shadow_models(estimator, X, y, masks, random_state=random_state)
    assert isinstance(run.stack, BatchedDPMLP), "the DP estimator did not go to the batched DP trainer"
    return run


def opacus_sample_rate(n_rows, batch_size):
    """Opacus's Poisson rate for a data loader of ``n_rows`` rows: 1 / number of batches."""
    return 1.0 / np.ceil(n_rows / batch_size)


def _mlp_loss(params, x, t):
    """Cross-entropy of one example under an MLP given as ``[W0, b0, W1, b1, ...]``
    (``W`` as ``[fan_in, fan_out]``, ``b`` as ``[1, fan_out]``): plain, obvious torch."""
    h = x
    for i in range(0, len(params), 2):
        h = h @ params[i] + params[i + 1][0]
        if i < len(params) - 2:
            h = torch.relu(h)
    return torch.nn.functional.cross_entropy(h[None], t[None])


def reference_clipped_sum(flat_params, X, y, C):
    """``(sum of per-example gradients clipped to norm C, per-example norms)`` by autograd."""
    per_example = vmap(grad(_mlp_loss), in_dims=(None, 0, 0))(flat_params, X, y)
    flat = torch.cat([g.reshape(len(X), -1) for g in per_example], dim=1).double()
    norms = flat.norm(dim=1)
    return (flat * (C / norms).clamp(max=1.0)[:, None]).sum(0), norms


@dataclass
class Measured:
    """The trainer's added noise per (step, model), and the sampling it did."""
    residuals: list      # flat ``G * expected - S`` per (step, model)
    sums: list           # flat reference clipped sums ``S`` per (step, model)
    norms: list          # per-example gradient norms before clipping
    batch_sizes: np.ndarray  # [steps, models]
    taken_outside: int   # sampled rows that are not the model's training rows
    n_steps: int


def measure(run):
    """Recompute every step's clipped sums independently and take the trainer's noise out."""
    est = run.estimator
    C = float(est.max_grad_norm)
    n_k = run.masks.sum(axis=1)
    q = opacus_sample_rate(np.median(n_k), est.batch_size)
    X, y = torch.from_numpy(np.ascontiguousarray(run.X)), torch.from_numpy(np.unique(run.y, return_inverse=True)[1])
    residuals, sums, norms, sizes, outside = [], [], [], [], 0
    for step in run.steps:
        row_sizes = []
        for k in range(len(run.masks)):
            rows = step["rows"][k][step["valid"][k]].numpy()
            row_sizes.append(len(rows))
            outside += int((~run.masks[k][rows]).sum())
            flat_params = [t[k] for pair in step["params"] for t in pair]
            dim = sum(p.numel() for p in flat_params)
            if len(rows):
                S, nrm = reference_clipped_sum(flat_params, X[rows], y[rows].long(), C)
                norms.append(nrm.numpy())
            else:
                S = torch.zeros(dim, dtype=torch.float64)
            G = torch.cat([g[k].reshape(-1) for g in step["grads"]]).double()
            residuals.append((G * (q * n_k[k]) - S).numpy())
            sums.append(S.numpy())
        sizes.append(row_sizes)
    return Measured(residuals, sums, norms, np.array(sizes), outside, len(run.steps))


def check_noise(run, measured=None, rel=0.05):
    """The added noise has mean 0 and standard deviation ``noise_multiplier_ * C`` per
    coordinate of the summed gradient (the trainer's stated multiplier)."""
    m = measured or measure(run)
    r = np.concatenate(m.residuals)
    want = run.stack.noise_multiplier_ * float(run.estimator.max_grad_norm)
    assert want > 0, f"noise multiplier {run.stack.noise_multiplier_}: no noise at all"
    sd = r.std()
    assert abs(sd / want - 1) < rel, f"noise std {sd:.4g}, expected sigma*C = {want:.4g}"
    assert abs(r.mean()) < 5 * want / np.sqrt(len(r)), f"noise mean {r.mean():.3g} is not 0"
    # the same level at every step and model, whatever batch was drawn: each one's mean
    # square / (sigma C)^2 is chi-square(d) / d, of standard deviation sqrt(2 / d)
    v = np.array([np.mean(x ** 2) for x in m.residuals]) / want ** 2
    spread = v.std() / np.sqrt(2 / len(m.residuals[0]))
    assert spread < 1.5, f"the noise level varies between steps {spread:.2g} x more than chance allows"


def check_clipping(run, measured=None):
    """Each example's gradient is clipped to C on its own: what the trainer added to the
    independently clipped sum ``S`` is pure noise, so its component along ``S`` is
    N(0, (sigma C)^2) for every (step, model). Batch clipping, or dividing by the batch
    actually drawn, leaves a part of ``S`` in it."""
    m = measured or measure(run)
    sd = run.stack.noise_multiplier_ * float(run.estimator.max_grad_norm)
    assert sd > 0, "no noise: the projections cannot be standardised"
    t = np.array([r @ s / np.linalg.norm(s) / sd for r, s in zip(m.residuals, m.sums) if np.linalg.norm(s) > 0])
    assert len(t) >= 20, "too few non-empty batches to check clipping"
    # the check is sensitive only if many examples exceed C (else clipping does nothing)
    assert np.mean(np.concatenate(m.norms) > float(run.estimator.max_grad_norm)) > 0.5, \
        "choose C below most gradient norms, or the check cannot see clipping"
    assert abs(t.mean()) < 4 / np.sqrt(len(t)), f"the noise leans along the clipped sum: mean {t.mean():.3g}"
    assert 0.6 < t.std() < 1.5, f"the noise along the clipped sum has std {t.std():.3g} (sigma C units), expected 1"


def check_sampling(run, measured=None):
    """Poisson sampling at Opacus's rate ``1 / ceil(n / batch_size)``: each model takes each
    of its own rows independently, so its batch size is Binomial(n_k, q): mean ``q n_k``
    and variance ``q (1 - q) n_k`` (shuffled fixed-size batches have no variance)."""
    m = measured or measure(run)
    n_k = run.masks.sum(axis=1)
    q = opacus_sample_rate(np.median(n_k), run.estimator.batch_size)
    assert m.taken_outside == 0, f"{m.taken_outside} sampled rows are not the model's training rows"
    taken, trials = m.batch_sizes.sum(), m.n_steps * n_k.sum()
    z = (taken - q * trials) / np.sqrt(q * (1 - q) * trials)
    assert abs(z) < 4, f"sampling rate {taken / trials:.4f}, expected {q:.4f} (z = {z:.1f})"
    var_ratio = np.mean((m.batch_sizes - q * n_k) ** 2 / (q * (1 - q) * n_k))
    assert 0.6 < var_ratio < 1.5, f"batch-size variance {var_ratio:.2f} x the Poisson variance"


def measured_epsilon(run, measured=None):
    """Epsilon of what the trainer actually did: Opacus's RDP accountant run from the
    noise multiplier measured in the gradients, the sampling rate measured in the batches
    and the number of steps counted (not from the multiplier the trainer chose)."""
    m = measured or measure(run)
    sigma = np.concatenate(m.residuals).std() / float(run.estimator.max_grad_norm)
    rate = m.batch_sizes.sum() / (m.n_steps * run.masks.sum())
    if sigma < 1e-3:
        return float("inf")
    accountant = RDPAccountant()
    accountant.history = [(float(sigma), float(rate), int(m.n_steps))]
    return float(accountant.get_epsilon(run.estimator.delta))


def check_reported_epsilon(run, measured=None, rel=0.1):
    """What the trainer reports (``epsilon_``, which lessons print as the accountant's
    epsilon) is the epsilon of what it actually did (within measurement error)."""
    eps = measured_epsilon(run, measured)
    reported = run.stack.epsilon_
    assert (eps == reported == float("inf")) or abs(reported / eps - 1) < rel, \
        f"reported epsilon {reported:.3g}, measured {eps:.3g}"


def check_epsilon(run, measured=None, rel=0.1):
    """The measured epsilon is the target epsilon (within measurement error: the noise
    multiplier and the rate are estimated; at most ``rel`` off)."""
    eps = measured_epsilon(run, measured)
    target = run.estimator.target_epsilon
    assert abs(eps / target - 1) < rel, f"measured epsilon {eps:.3g}, promised {target:.3g}"
