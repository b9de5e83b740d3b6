"""The exercise checks of lesson 04: LiRA's confidences and scores, stacked shadow models.

Introduced in solutions/ex04_lira_and_rmia.ipynb. Like ``checks.ex01``: each check draws small random
cases, runs the package's reference (``mia_course.lira``, ``mia_course.training.stacked``) and judges
the learner's answer in words, never with the expected values.
"""
from collections.abc import Sequence

import numpy as np
import torch
from scipy.stats import norm

from mia_course.grading.engine import Exercise, register
from mia_course.grading.kit import as_numbers, first_match, plural
from mia_course.lira import lira_scores, logit_confidence
from mia_course.training.stacked import stacked_forward


# ---- ex04: the logit-scaled confidence, offline LiRA, the stacked MLPs' forward pass -------
def _case_logit(rng, n_classes=2, n_models=None, n_rows=None, certain=False):
    n = n_rows or int(rng.integers(5, 20))
    P = rng.dirichlet(np.ones(n_classes), size=((n_models,) if n_models else ()) + (n,))
    col = rng.integers(n_classes, size=n)
    near = np.zeros(n, dtype=bool)
    if certain:  # 1 - p rounds to 0 on these rows; the other classes keep tiny probabilities
        near = rng.random(n) < 0.4
        near[rng.integers(n)] = True
        onehot = np.arange(n_classes) == col[:, None]
        rest = np.where(onehot, 0.0, 10.0 ** -rng.uniform(17, 30, size=P.shape))
        P = np.where(near[:, None], np.where(onehot, 1.0 - rest.sum(-1, keepdims=True), rest), P)
    ref = logit_confidence(P, col, floor=1e-300)  # the exact transform (the attacks floor at 1e-6)
    shape = f"{n_models} models x {n} rows" if n_models else plural(n, "row")
    what = ", some predicted with near certainty" if certain else ""
    return (f"P of {shape}, {n_classes} classes{what}", (P, col),
            dict(P=P, col=col, ref=ref, near=np.broadcast_to(near, ref.shape)))


def _judge_logit(ctx, out):
    P, col, ref = ctx["P"], ctx["col"], ctx["ref"]
    arr, msg = as_numbers(out, "one value per row of P (per model and row, for a 3-D P)", ref.shape)
    if msg or np.allclose(arr, ref, rtol=1e-6, atol=1e-9):
        return msg
    near = ctx["near"]
    if not np.all(np.isfinite(arr)) or np.allclose(arr[~near], ref[~near], rtol=1e-6, atol=1e-9):
        return ("wrong where the model is nearly certain: there 1 - p rounds to 0; compute 1 - p as "
                "the sum of the other classes' probabilities (and keep the logs finite)")
    p = np.take_along_axis(P, np.broadcast_to(col[:, None], P.shape[:-1] + (1,)), axis=-1)[..., 0]
    top = P.max(axis=-1)
    with np.errstate(all="ignore"):
        return first_match(arr, [
            (-ref, "the sign is reversed: phi = log p - log(1 - p) grows with the confidence p"),
            (np.log(p), "that is log p alone: subtract log(1 - p)"),
            (ref / np.log(10), "use the natural logarithm (np.log), not log10"),
            (np.log(top) - np.log(np.clip(P.sum(-1) - top, 1e-300, None)),
             "use the probability of each row's true class (column col[i]), not the highest one"),
        ], rtol=1e-6, atol=1e-9) or (f"{int(np.sum(~np.isclose(arr, ref, rtol=1e-6)))} of {ref.size} "
                                     "values differ from log p - log(1 - p) for the true class")


def _hint_logit(err):
    if isinstance(err, IndexError):
        return "col[i] is the column of row i's true class; for a 3-D P it holds for every model's row i"
    return None


def _case_offline(rng, n_shadows=None, n_records=None, far=False, constant=False):
    k, n = n_shadows or int(rng.integers(4, 17)), n_records or int(rng.integers(5, 25))
    mu, sd = rng.normal(0.0, 3.0, n), rng.uniform(0.5, 2.0, n)
    phi, target = mu + sd * rng.normal(size=(k, n)), mu + sd * rng.normal(0.5, 1.5, n)
    rows = rng.choice(n, size=max(1, n // 4), replace=False)
    if far:  # far below the OUT Gaussian: norm.cdf underflows to 0 there, norm.logcdf does not
        target[rows] = mu[rows] - sd[rows] * rng.uniform(200, 400, len(rows))
    if constant:  # every shadow gives the same phi: standard deviation 0
        phi[:, rows] = np.round(mu[rows])
        target[rows] = np.round(mu[rows]) + rng.uniform(-0.002, 0.002, len(rows))
    ref = lira_scores(target, phi, np.zeros(phi.shape, dtype=bool), online=False, fixed_variance=False)
    what = "".join([", some targets far below the OUT mean" if far else "",
                    ", some records on which every shadow agrees" if constant else ""])
    return (f"{plural(k, 'OUT shadow')}, {plural(n, 'record')}{what}", (phi, target),
            dict(phi=phi, target=target, ref=ref, rows=rows if (far or constant) else rows[:0]))


def _judge_offline(ctx, out):
    phi, t, ref = ctx["phi"], ctx["target"], ctx["ref"]
    arr, msg = as_numbers(out, "one score per record (column of phi_out)", ref.shape)
    if msg:
        if np.shape(out) == (phi.shape[0],):
            return ("you returned one value per shadow: the mean and the standard deviation go over "
                    "the shadows (axis 0), one pair per record")
        return msg
    if np.allclose(arr, ref, rtol=1e-6, atol=1e-9):
        return None
    others = np.setdiff1d(np.arange(len(t)), ctx["rows"])
    if not np.all(np.isfinite(arr)) or (len(ctx["rows"]) and np.allclose(arr[others], ref[others],
                                                                         rtol=1e-6, atol=1e-9)):
        return ("infinite, NaN or wrong scores for targets far below the OUT mean or records on which "
                "every shadow agrees: use norm.logcdf (log(norm.cdf(...)) is log(0) far below the "
                "mean), and floor the standard deviation at 1e-3 (it is 0 when all shadows agree)")
    mu, sd1, sd0 = phi.mean(0), np.maximum(phi.std(0, ddof=1), 1e-3), np.maximum(phi.std(0), 1e-3)
    reversed_ = ("your scores are higher for records below the OUT mean: the one-sided test should "
                 "grow with phi (the log CDF, not the survival function)")
    with np.errstate(all="ignore"):
        message = first_match(arr, [
            (norm.logsf(t, mu, sd1), reversed_), (-ref, reversed_),
            (norm.logcdf(t, mu, sd0), "use the sample standard deviation over the shadows (ddof=1)"),
            (norm.cdf(t, mu, sd1), "return the log of the CDF (norm.logcdf), not the CDF itself"),
            (norm.logpdf(t, mu, sd1), "that is the OUT Gaussian's log density at phi; offline LiRA "
                                      "scores how far phi lies above it: the log CDF"),
            ((t - mu) / sd1, "that is the target's z-score under the OUT Gaussian; the score is the "
                             "log of its normal CDF"),
        ], rtol=1e-6, atol=1e-9)
        backwards = len(t) >= 3 and np.corrcoef(arr, ref)[0, 1] < 0
    if message or not backwards:
        return message or (f"{int(np.sum(~np.isclose(arr, ref, rtol=1e-6)))} of {len(t)} scores "
                           "differ from the log CDF of the target's phi under each record's OUT Gaussian")
    return reversed_


def _case_forward(rng, n_layers=2, n_models=None, batch=None, grad=False):
    M, B = n_models or int(rng.integers(2, 6)), batch or int(rng.integers(2, 12))
    widths = [int(rng.integers(3, 8))] + [int(rng.integers(4, 10)) for _ in range(n_layers - 1)]
    widths.append(int(rng.integers(2, 5)))

    def tensor(*shape):
        return torch.from_numpy(rng.normal(0.0, 0.8, shape).astype(np.float32))
    params = [(tensor(M, a, b).requires_grad_(grad), tensor(M, 1, b).requires_grad_(grad))
              for a, b in zip(widths[:-1], widths[1:])]
    X = tensor(M, B, widths[0])
    with torch.no_grad():
        ref = stacked_forward(params, X).double().numpy()
    ctx = dict(params=[(W.detach().double().numpy(), b.detach().double().numpy()) for W, b in params],
               X=X.double().numpy(), ref=ref)
    what = ", weights that require gradients" if grad else ""
    return (f"{plural(M, 'model')}, layers {' -> '.join(map(str, widths))}, batches of {B}{what}",
            (params, X), ctx)


def mistaken_forward(params: Sequence[tuple[np.ndarray | torch.Tensor, np.ndarray | torch.Tensor]],
                     X: np.ndarray | torch.Tensor, relu_hidden: bool = True, relu_last: bool = False,
                     bias: bool = True, first_model: bool = False) -> np.ndarray | torch.Tensor:
    """The stacked forward pass, or (with the flags) a learner's typical mistake in it; works
    on numpy arrays and on torch tensors alike (the tests play the learner with it).

    Introduced in solutions/ex04_lira_and_rmia.ipynb."""
    h = X
    for i, (W, b) in enumerate(params):
        W, b = (W[:1], b[:1]) if first_model else (W, b)
        h = h @ W + (b if bias else 0.0)
        if (relu_hidden and i < len(params) - 1) or (relu_last and i == len(params) - 1):
            h = h * (h > 0)  # ReLU, in numpy and torch
    return h


def _judge_forward(ctx, out):
    ref, params, X = ctx["ref"], ctx["params"], ctx["X"]
    if isinstance(out, torch.Tensor):
        out = out.detach().cpu().double().numpy()
    arr, msg = as_numbers(out, "one logit row per model and example", ref.shape)
    if msg:
        if np.shape(out) == ref.shape[1:]:
            return ("you returned one model's logits: each model k applies its own weights (W[k], b[k]) "
                    "to its own batch X[k]; keep the model axis first")
        return msg
    if np.allclose(arr, ref, rtol=1e-4, atol=1e-4):
        return None
    return first_match(arr, [
        (mistaken_forward(params, X, relu_last=True), "your logits are never negative: apply ReLU between the "
                                              "layers only, not after the last one"),
        (mistaken_forward(params, X, relu_hidden=False), "apply ReLU after every layer except the last"),
        (mistaken_forward(params, X, bias=False), "add each layer's bias b after the product (its shape "
                                          "[n_models, 1, fan_out] broadcasts over the batch)"),
        (mistaken_forward(params, X, first_model=True), "every model must use its own weights: model k "
                                                "multiplies X[k] by W[k] (a batched matrix product)"),
    ], rtol=1e-4, atol=1e-4) or (f"{int(np.sum(~np.isclose(arr, ref, rtol=1e-4, atol=1e-4)))} of "
                                 f"{ref.size} logits differ from what the stacked models compute")


def _hint_forward(err):
    text = str(err)
    if "numpy" in text and "grad" in text:
        return "the weights may require gradients: compute with torch operations, as the models train"
    if isinstance(err, (RuntimeError, ValueError)):
        return ("multiply [n_models, batch, fan_in] by [n_models, fan_in, fan_out], one product per "
                "model: torch.bmm, torch.baddbmm or @")
    return None


# every graded cell of solutions/ runs hidden tests as well
register(Exercise("ex04_logit_confidence", "logit_scaled_confidence", _case_logit, _judge_logit,
                  [dict(n_classes=2), dict(n_classes=3, n_models=4), dict(certain=True)], hidden_tests=True,
                  hint=_hint_logit, references=(logit_confidence,)))
register(Exercise("ex04_offline_lira", "offline_lira_scores", _case_offline, _judge_offline,
                  [{}, dict(n_shadows=4), dict(far=True)], hidden_tests=True, references=(lira_scores,)))
register(Exercise("ex04_stacked_forward", "stacked_forward", _case_forward, _judge_forward,
                  [dict(n_layers=2), dict(n_layers=3), dict(n_layers=2, n_models=1)], hidden_tests=True,
                  hint=_hint_forward, references=(stacked_forward,)))
