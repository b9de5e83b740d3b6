"""The exercise checks of lesson 14: one step of model inversion.

Introduced in solutions/ex14_model_inversion.ipynb. Registered like those of
``mia_course.grading.checks.ex01``: each check draws small random cases (tiny random torch MLPs,
random inputs), runs the package's reference (``mia_course.inversion``) and judges the
learner's answer in words, never with the expected values.
"""
import copy

import numpy as np
import torch

from mia_course.grading.engine import Exercise, register
from mia_course.grading.kit import as_numbers, first_match, plural
from mia_course.inversion import confidence_gradient, projected_step


def _random_net(rng, n_features, n_classes, n_layers):
    """A small ReLU MLP (float32, like the course's models) with weights drawn from ``rng``."""
    widths = [n_features] + [int(rng.integers(4, 10)) for _ in range(n_layers)] + [n_classes]
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        linear = torch.nn.Linear(a, b)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(rng.normal(0.0, 1.5 / np.sqrt(a), (b, a))))
            linear.bias.copy_(torch.from_numpy(rng.normal(0.0, 0.3, b)))
        layers += [linear, torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1]).eval()


def _gradient_of(net, X, score):
    """The gradient, row by row, of ``score(logits)`` (one number per row) with respect to X."""
    x = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    score(copy.deepcopy(net).double()(x)).sum().backward()
    return x.grad.numpy()


# ---- ex14 question 1: the gradient of the class confidence with respect to the input -------
def _case_gradient(rng, n_rows=None, n_classes=None, n_layers=1, same_target=False):
    n, d = n_rows or int(rng.integers(3, 9)), int(rng.integers(3, 9))
    k = n_classes or int(rng.integers(3, 6))
    net = _random_net(rng, d, k, n_layers)
    X = rng.uniform(0.0, 1.0, (n, d))
    targets = np.full(n, int(rng.integers(k))) if same_target else rng.integers(k, size=n)
    what = ", every row the same target" if same_target else ""
    return (f"{plural(n, 'row')}, {d} features, {k} classes, {plural(n_layers, 'hidden layer')}{what}",
            (net, X, targets), dict(net=net, X=X, t=targets, ref=confidence_gradient(net, X, targets)[1]))


def _judge_gradient(ctx, out):
    net, X, t, ref = ctx["net"], ctx["X"], ctx["t"], ctx["ref"]
    if isinstance(out, torch.Tensor):
        out = out.detach().cpu().double().numpy()
    arr, msg = as_numbers(out, "one gradient row per input row (the shape of X)", X.shape)
    if msg:
        return msg
    tol = dict(rtol=1e-3, atol=1e-6 + 1e-4 * np.abs(ref).max())
    if np.allclose(arr, ref, **tol):
        return None
    rows = np.arange(len(t))
    if np.allclose(arr, 0.0, atol=1e-4 * np.abs(ref).max()):
        return ("your gradient is zero: the probabilities of all classes sum to 1, so differentiate "
                "only each row's own target probability, p[i, targets[i]]")
    return first_match(arr, [
        (-ref, "the sign is flipped: differentiate the confidence p (which the attack climbs), not 1 - p "
               "or a loss"),
        (_gradient_of(net, X, lambda z: z[rows, t]), "that is the gradient of the target's logit: apply "
                                                    "the softmax first, and differentiate the probability"),
        (_gradient_of(net, X, lambda z: torch.log_softmax(z, 1)[rows, t]),
         "that is the gradient of the log-probability: differentiate the probability itself"),
        (_gradient_of(net, X, lambda z: torch.softmax(z, 1).max(1).values),
         "you differentiated the most probable class of each row: use its target, targets[i]"),
        (ref / len(t), "the gradient is divided by the number of rows: sum the rows' confidences "
                       "before backward(), don't average them"),
    ], **tol) or ("your gradient differs from that of each row's target probability, "
                  "softmax(net(x))[i, targets[i]], with respect to x[i]")


def _hint_gradient(err):
    text = str(err)
    if "same dtype" in text or "Double" in text:
        return "the net's weights are float32: make X a tensor with dtype=torch.float32"
    if "does not require grad" in text or "NoneType" in text:
        return "create the input tensor with requires_grad=True, then call backward() on a number"
    if "numpy" in text and "grad" in text:
        return "a tensor that requires gradients needs .detach() before .numpy()"
    if "scalar outputs" in text:
        return "backward() needs a single number: sum the rows' confidences first"
    return None


# ---- ex14 question 2: the projected update with the L2 prior -------------------------------
def _case_update(rng, n_rows=None, bounds=(0.0, 1.0), l2=None, lr=None):
    n, d = n_rows or int(rng.integers(3, 9)), int(rng.integers(3, 9))
    lo, hi = bounds
    X = rng.uniform(lo, hi, (n, d))
    X[rng.random((n, d)) < 0.15] = lo  # some features already at a bound
    X[rng.random((n, d)) < 0.15] = hi
    g = rng.normal(0.0, 0.2 * (hi - lo), (n, d))
    l2 = float(rng.choice([0.01, 0.05, 0.1]) if l2 is None else l2)
    lr = float(rng.choice([0.5, 1.0, 3.0]) if lr is None else lr)
    ref = projected_step(X, g - 2.0 * l2 * X, lr, bounds)
    return (f"{plural(n, 'row')}, {d} features, lr = {lr:g}, l2 = {l2:g}, bounds = ({lo:g}, {hi:g})",
            (X, g, lr, l2, bounds), dict(X=X, g=g, lr=lr, l2=l2, lo=lo, hi=hi, ref=ref))


def _judge_update(ctx, out):
    X, g, lr, l2, lo, hi, ref = (ctx[k] for k in ("X", "g", "lr", "l2", "lo", "hi", "ref"))
    arr, msg = as_numbers(out, "the updated inputs (the shape of X)", X.shape)
    if msg or np.allclose(arr, ref, rtol=1e-9, atol=1e-12):
        return msg
    step = X + lr * (g - 2.0 * l2 * X)
    return first_match(arr, [
        (step, "some features left the bounds: clip every feature to [lo, hi] after the step"),
        (np.clip(X - lr * (g - 2.0 * l2 * X), lo, hi), "step uphill: the attack climbs the confidence, "
                                                         "X + lr * (...)"),
        (np.clip(X + lr * (g + 2.0 * l2 * X), lo, hi), "the prior pulls towards 0: subtract its gradient "
                                                         "2 * l2 * X from the confidence's gradient"),
        (np.clip(X + lr * (g - l2 * X), lo, hi), "the gradient of l2 * ||x||^2 is 2 * l2 * x"),
        (np.clip(X + lr * g, lo, hi), "add the prior's part: the gradient of the objective is "
                                      "gradient - 2 * l2 * X"),
        (np.clip(X + lr * g - 2.0 * l2 * X, lo, hi), "multiply the whole gradient, prior included, by lr"),
        (np.clip(step, 0.0, 1.0), "clip to the bounds you are given, (lo, hi) = bounds, not to [0, 1]"),
    ], rtol=1e-9, atol=1e-12) or "your update differs from clip(X + lr * (gradient - 2 * l2 * X), lo, hi)"


# every graded cell of solutions/ runs hidden tests as well
register(Exercise("ex14_confidence_gradient", "class_confidence_gradient", _case_gradient, _judge_gradient,
                  [{}, dict(n_classes=2), dict(n_layers=2)], hidden_tests=True, hint=_hint_gradient,
                  references=(confidence_gradient,)))
register(Exercise("ex14_projected_update", "projected_update", _case_update, _judge_update,
                  [{}, dict(lr=3.0), dict(l2=0.1)], hidden_tests=True, references=(projected_step,)))
