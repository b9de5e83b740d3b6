"""The checks of solutions/ex09_differential_privacy.ipynb: one DP-SGD step (clip each
example's gradient, then add noise to their sum).

Introduced in solutions/ex09_differential_privacy.ipynb. Like ``checks.ex01``: small random
cases, the package's reference (``mia_course.defenses.dp_sgd``), the answer judged in words,
never with the expected values. A DP-SGD step's noise drawn from the given generator as the
reference does matches it exactly; other draws are judged by their statistics.
"""
import copy

import numpy as np
import torch

from mia_course.defenses.dp_sgd import clip_per_sample, noisy_gradient
from mia_course.grading.engine import Exercise, register
from mia_course.grading.kit import plural


def _as_arrays(out, like):
    """``(dict of float64 arrays, None)``, or ``(None, message)`` unless ``out`` is shaped like ``like``."""
    if isinstance(out, tuple) and out and isinstance(out[0], dict):
        return None, "return only the dict of gradients (the package's function also returns the norms)"
    if not isinstance(out, dict):
        return None, f"returned a {type(out).__name__}, expected a dict {{parameter name: tensor}}"
    if set(out) != set(like):
        return None, "return the same parameter names (keys) as the dict you were given"
    arrays = {k: v.detach().cpu().double().numpy() if isinstance(v, torch.Tensor) else np.asarray(v, dtype=float)
              for k, v in out.items()}
    bad = [k for k in like if arrays[k].shape != like[k].shape][:1]
    return (None, f"{bad[0]!r}: returned shape {arrays[bad[0]].shape}, expected {like[bad[0]].shape}") if bad \
        else (arrays, None)


def _same(arr, other):  # other: a dict like arr, or a function of the key
    return all(np.allclose(v, other(k) if callable(other) else other[k], rtol=1e-4, atol=1e-6)
               for k, v in arr.items())


def _times(g, factor):  # each example's (row's) slice of g times its entry of factor
    return g * factor.reshape((-1,) + (1,) * (g.ndim - 1))


def _grads(rng, n, shapes):
    scale = rng.lognormal(0.0, 1.5, n)  # some examples far above the clipping norm, some below
    return {k: torch.from_numpy(_times(rng.normal(0.0, 0.3, (n,) + s), scale).astype(np.float32))
            for k, s in shapes.items()}


# ---- ex09: clip each example's gradient, then add noise to their sum ----------------------
def _case_clip(rng, batch=None, C=None, zero=False, below=False, one_param=False):
    n, d, h, k = batch or int(rng.integers(3, 16)), *(int(v) for v in rng.integers(2, 9, size=3))
    shapes = {"0.weight": (h, d), "0.bias": (h,), "2.weight": (k, h), "2.bias": (k,)}
    shapes = {"0.weight": (h, d)} if one_param else shapes
    C, grads = float(rng.choice([0.1, 0.5, 1.0, 2.0]) if C is None else C), _grads(rng, n, shapes)
    norms, factor, (i, j) = _norms(grads), np.ones(n), rng.integers(n, size=2)
    factor[i] = rng.uniform(0.2, 0.9) * C / norms[i]  # one example within the norm: clipping leaves it
    factor = np.full(n, 0.5 * C / norms.max()) if below else factor  # all within the norm
    factor[j] = 0.0 if zero else factor[j]  # an example whose gradient is exactly 0 (norm 0)
    grads = {key: _times(g, torch.from_numpy(factor.astype(np.float32))) for key, g in grads.items()}
    ref = {key: v.double().numpy() for key, v in clip_per_sample(grads, C)[0].items()}
    what = "".join([", one all-zero gradient" if zero else "", ", all within the norm" if below else ""])
    return (f"{plural(n, 'example')}, {plural(len(shapes), 'parameter')}, C = {C:g}{what}", (grads, C),
            dict(grads={key: g.double().numpy() for key, g in grads.items()}, C=C, ref=ref))


def _norms(grads):  # each example's gradient norm, all parameters together
    return np.linalg.norm(np.concatenate([np.asarray(g, dtype=float).reshape(len(g), -1)
                                          for g in grads.values()], axis=1), axis=1)


def _judge_clip(ctx, out):
    grads, C, ref = ctx["grads"], ctx["C"], ctx["ref"]
    arr, msg = _as_arrays(out, ref)
    if msg or any(not np.all(np.isfinite(v)) for v in arr.values()):
        return msg or ("NaN or infinite values: an example whose gradient is all zeros has norm 0; don't divide "
                       "by 0 (e.g. min(1, C / (norm + 1e-12)))")
    if _same(arr, ref):
        return None
    norms, whole = _norms(grads), np.minimum(1.0, C / np.linalg.norm(_norms(grads)))
    for candidate, message in [
        ({k: _times(g, np.minimum(1.0, C / (_norms({k: g}) + 1e-12))) for k, g in grads.items()},
         "clip one norm per example over all parameters together (concatenate them), not each "
         "parameter on its own: the bound C is on the example's whole gradient"),
        ({k: _times(g, C / (norms + 1e-12)) for k, g in grads.items()},
         "an example whose norm is already at most C stays unchanged: scale by min(1, C / norm)"),
        ({k: np.clip(g, -C, C) for k, g in grads.items()},
         "scale each example's whole gradient down to norm C; clamping its entries changes its direction"),
        ({k: g * whole for k, g in grads.items()},
         "one norm per example (per row of the batch), not one norm for the whole batch"),
    ]:
        if _same(arr, candidate):
            return message
    if np.any(_norms(arr) > C * (1 + 1e-4)):
        return "some examples still have a norm above C after clipping"
    return ("wrong values: each example's gradient (all parameters) multiplied by min(1, C / its norm), "
            "the same factor for all its parameters")


def _case_noise(rng, batch=None, sigma=None, C=None, expected=None):
    n, shapes = batch or int(rng.integers(5, 40)), {"0.weight": (32, 24), "0.bias": (32,), "2.weight": (4, 32),
                                                    "2.bias": (4,)}  # 932 noise values: precise statistics
    C = float(rng.choice([0.25, 0.5, 2.0, 4.0]) if C is None else C)
    if sigma is None:  # sigma * C kept away from 1, so that the std and the variance differ
        sigma = float(rng.choice([s for s in (0.5, 0.8, 1.5, 3.0) if not 0.6 < s * C < 1.7]))
    if expected is None:  # far from the batch's own size, so that the two divisors differ clearly
        expected = max(2, round(n * rng.choice([rng.uniform(0.45, 0.6), rng.uniform(1.7, 2.2)])))
    expected, clipped = float(expected), clip_per_sample(_grads(rng, n, shapes), C)[0]
    generator = torch.Generator().manual_seed(int(rng.integers(2**31 - 1)))
    ref = noisy_gradient(clipped, C, sigma, expected, generator=copy.deepcopy(generator))
    ctx = dict(sum={k: g.double().sum(0).numpy() for k, g in clipped.items()}, C=C, sigma=sigma, B=expected,
               n=n, ref={k: v.double().numpy() for k, v in ref.items()}, state=generator.get_state())
    return (f"{plural(n, 'example')}, expected batch size {expected:g}, C = {C:g}, noise multiplier "
            f"{sigma:g}", (clipped, C, sigma, expected, generator), ctx)


def _draws(state, shapes):  # the standard normal draws of a generator in this state, one array per shape
    g = torch.Generator().set_state(state)
    return [torch.normal(0.0, 1.0, shape, generator=g).double().numpy() for shape in shapes]


def _judge_noise(ctx, out):
    S, C, sigma, B, n, ref = ctx["sum"], ctx["C"], ctx["sigma"], ctx["B"], ctx["n"], ctx["ref"]
    arr, msg = _as_arrays(out, ref)
    if msg or any(not np.all(np.isfinite(v)) for v in arr.values()):
        return (msg or "NaN or infinite values") + (" (sum over the batch, axis 0: one gradient per parameter)"
                                                    if "returned shape" in (msg or "") else "")
    keys, target = list(ref), sigma * C
    if _same(arr, ref):
        return None
    Z = dict(zip(keys, _draws(ctx["state"], [S[k].shape for k in keys])))  # the reference's draws
    Z1 = dict(zip(keys, (z.sum(0) for z in _draws(ctx["state"], [(n,) + S[k].shape for k in keys]))))
    for make, message in [  # the same draws, used wrongly
        (lambda k: (S[k] + sigma * Z[k]) / B, "the noise's std is sigma * C, not noise_multiplier alone"),
        (lambda k: (S[k] + target ** 2 * Z[k]) / B, "torch.normal takes the std (sigma * C), not the variance"),
        (lambda k: S[k] / B + target * Z[k], "add the noise to the sum before dividing by expected_batch_size"),
        (lambda k: (S[k] + target * Z[k]) / n, "divide by expected_batch_size, not by the number of examples in "
                                               "the batch (with Poisson sampling it varies)"),
        (lambda k: S[k] + target * Z[k], "divide the noisy sum by expected_batch_size"),
        (lambda k: (S[k] + target * Z1[k]) / B, "add one noise draw to the sum, not one to each example's"),
        (lambda k: S[k] / B, "you added no noise: add Gaussian noise of std noise_multiplier * max_grad_norm"),
    ]:
        if _same(arr, make):
            return message
    if sigma == 0:
        return "with noise_multiplier 0 the result is the sum of the clipped gradients / expected_batch_size"
    noise = np.concatenate([(arr[k] * B - S[k]).ravel() for k in keys])  # other draws: judge their statistics
    spread = np.std(noise)
    if abs(np.log(spread / target)) < np.log(1.25) and abs(np.mean(noise)) < 6 * spread / np.sqrt(noise.size):
        if all(np.std(arr[k] * B - S[k]) > 0.5 * target for k in keys if arr[k].size >= 30):
            return None
        return "draw an independent noise value for every entry (noise of the parameter's own shape)"
    return ("the result should be (sum of the clipped gradients + Gaussian noise of mean 0 and std "
            "noise_multiplier * max_grad_norm) / expected_batch_size; draw the noise with torch.normal(..., "
            "generator=generator) for more precise advice")


# every graded cell of solutions/ runs hidden tests as well
register(Exercise("ex09_clip_per_sample", "clip_gradients", _case_clip, _judge_clip, [{}, dict(C=0.5), dict(batch=4)],
                  hidden_tests=True, references=(clip_per_sample,)))
register(Exercise("ex09_noisy_gradient", "noisy_gradient", _case_noise, _judge_noise,
                  [dict(sigma=1.5, C=2.0), {}, dict(C=0.25)], hidden_tests=True, references=(noisy_gradient,)))
