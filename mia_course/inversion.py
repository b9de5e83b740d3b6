"""Model inversion: reconstruct what a class's training data looks like, from the model alone.

Introduced in notebooks/14_model_inversion.ipynb.

Fredrikson et al. (2015): start from a blank input and climb the model's confidence in a
target class, one projected gradient step at a time,

    x <- clip(x + lr * gradient of [p(target | x) - l2 * ||x||^2], lo, hi).

The L2 term is a simple prior (prefer empty pixels, value 0: the digits' background); the
clip keeps every feature inside its valid range ``bounds`` (digits scaled to [0, 1]).

- White-box (``invert_whitebox``): exact gradients through a torch model's ``net_``
  (``TorchMLPClassifier``, ``DPMLPClassifier``).
- Black-box (``invert_blackbox``): ``predict_proba`` queries only; the gradient is estimated
  by finite differences (one query row per feature, plus one, per target) and the attack
  stops before it would send more rows than ``budget``. Output wrappers
  (``RoundedOutputs``, ``LabelOnlyOutputs``) work as the model.
"""
import copy
from collections.abc import Callable

import numpy as np
import torch
from sklearn.utils import check_random_state
from tqdm.auto import tqdm

from mia_course._validation import check_int, check_matrix, check_model, check_real
from mia_course.models import TorchMLPClassifier
from mia_course.hints import ArrayLike, ProbabilisticModel, RandomStateLike


def _plain_copy(net):
    """A float64 copy of ``net`` in eval mode, without hooks (a DP-trained net may still
    carry Opacus's per-example-gradient hooks, which break a plain backward pass)."""
    net = copy.deepcopy(net).double().eval()
    for m in net.modules():
        m._forward_hooks.clear()
        m._forward_pre_hooks.clear()
        m._backward_hooks.clear()
    return net


# ---- one step, written out ---------------------------------------------------------------
def confidence_gradient(net: torch.nn.Module, X: ArrayLike, targets: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """``(confidence, gradient)``: each row's ``p(targets[i] | X[i])`` under the torch module
    ``net`` (it returns logits; ``targets`` are column indices) and the gradient of that
    probability with respect to ``X[i]`` (numpy, the shape of ``X``). Computed in float64.

    Introduced in notebooks/14_model_inversion.ipynb."""
    x = torch.tensor(np.asarray(X, dtype=np.float64), requires_grad=True)
    p = torch.softmax(_plain_copy(net)(x), dim=1)[torch.arange(len(x)), torch.as_tensor(targets)]
    p.sum().backward()  # rows are independent: the gradient of the sum is each row's own
    return p.detach().numpy(), x.grad.numpy()


def projected_step(X: np.ndarray, gradient: np.ndarray, lr: float,
                   bounds: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """One step uphill, projected back into the box: ``clip(X + lr * gradient, lo, hi)``.

    Introduced in notebooks/14_model_inversion.ipynb."""
    return np.clip(X + lr * gradient, bounds[0], bounds[1])


def inversion_step(net: torch.nn.Module, X: np.ndarray, targets: ArrayLike, lr: float, l2: float = 0.0,
                   bounds: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """One white-box step: the gradient of ``confidence - l2 * ||x||^2`` (the prior's part is
    ``-2 * l2 * x``), then the projected update. Returns the new ``X``.

    Introduced in notebooks/14_model_inversion.ipynb."""
    _, grad = confidence_gradient(net, X, targets)
    return projected_step(X, grad - 2.0 * l2 * X, lr, bounds)


def finite_difference_gradient(predict_proba: Callable[[np.ndarray], ArrayLike], X: np.ndarray, cols: np.ndarray,
                               h: float, bounds: tuple[float, float] = (0.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """Estimate each row's gradient of ``p(cols[i] | X[i])`` from ``predict_proba`` alone:
    ``X`` plus one copy per feature moved by ``h`` (down where up would leave ``bounds``),
    sent in one call of ``len(X) * (n_features + 1)`` rows. Returns ``(confidence, gradient)``.

    Introduced in notebooks/14_model_inversion.ipynb."""
    n, d = X.shape
    sign = np.where(X + h <= bounds[1], 1.0, -1.0)  # [n, d]: the direction of each feature's move
    moved = X[:, None, :] + h * sign[:, :, None] * np.eye(d)  # [n, d, d]: copy j moves feature j
    queries = np.concatenate([X[:, None, :], moved], axis=1).reshape(-1, d)
    P = np.asarray(predict_proba(queries), dtype=np.float64).reshape(n, d + 1, -1)
    p = P[np.arange(n), :, cols]  # [n, d + 1]: the target's confidence on each query
    return p[:, 0], (p[:, 1:] - p[:, :1]) * sign / h


# ---- the attacks -------------------------------------------------------------------------
def _check_steps(n_steps, lr, l2, bounds, init):
    check_int(n_steps, "n_steps", minimum=0)
    check_real(lr, "lr", minimum=0.0, strict_min=True)
    check_real(l2, "l2", minimum=0.0)
    if not isinstance(bounds, (tuple, list)) or len(bounds) != 2:
        raise TypeError(f"bounds: expected a pair (lo, hi), got {bounds!r}")
    lo, hi = (check_real(b, "bounds") for b in bounds)
    if not lo < hi:
        raise ValueError(f"bounds: expected lo < hi, got {bounds!r}")
    check_real(init, "init", minimum=lo, maximum=hi)
    return lo, hi


def _target_columns(classes, targets):
    """``predict_proba``'s column for each target label (``None``: every class once)."""
    classes = np.asarray(classes)
    targets = classes if targets is None else np.asarray(targets)
    if targets.ndim != 1 or len(targets) == 0:
        raise ValueError(f"targets: expected a non-empty 1-D array of class labels, got shape {targets.shape}")
    missing = sorted(set(targets.tolist()) - set(classes.tolist()))
    if missing:
        raise ValueError(f"targets: {missing} are not classes of the model ({classes.tolist()})")
    return np.array([int(np.flatnonzero(classes == t)[0]) for t in targets])


def _start(n, d, lo, hi, init, random_state):
    """The starting inputs: ``init`` everywhere, plus a little noise (1% of the range)."""
    noise = check_random_state(random_state).uniform(0.0, 0.01 * (hi - lo), (n, d))
    return np.clip(init + noise, lo, hi)


def invert_whitebox(model: TorchMLPClassifier, targets: ArrayLike | None = None, *, n_steps: int = 300,
                    lr: float = 5.0, l2: float = 0.001, bounds: tuple[float, float] = (0.0, 1.0),
                    init: float = 0.0, random_state: RandomStateLike = None) -> np.ndarray:
    """Reconstruct one input per entry of ``targets`` (class labels; ``None``: each class of
    the model once) by ``n_steps`` projected gradient steps on the model's confidence.

    ``model``: a fitted ``TorchMLPClassifier`` or ``DPMLPClassifier`` (its ``net_`` is
    differentiated). Returns an array ``[len(targets), n_features]`` inside ``bounds``.
    Introduced in notebooks/14_model_inversion.ipynb."""
    net = getattr(model, "net_", None)
    if not isinstance(net, torch.nn.Module):
        raise TypeError(f"model: expected a fitted torch classifier with a net_ module (white-box), "
                        f"got {type(model).__name__}")
    lo, hi = _check_steps(n_steps, lr, l2, bounds, init)
    cols = _target_columns(model.classes_, targets)
    X = _start(len(cols), model.n_features_in_, lo, hi, init, random_state)
    for _ in tqdm(range(n_steps), desc="white-box inversion", delay=2.0, leave=False):
        X = inversion_step(net, X, cols, lr, l2, (lo, hi))
    return X


def invert_blackbox(model: ProbabilisticModel, targets: ArrayLike | None = None, *, n_features: int,
                    budget: int = 50_000, n_steps: int = 300, lr: float = 5.0, l2: float = 0.001, h: float = 0.05,
                    bounds: tuple[float, float] = (0.0, 1.0), init: float = 0.0,
                    random_state: RandomStateLike = None) -> tuple[np.ndarray, int]:
    """The same attack through ``predict_proba`` queries only (finite-difference gradients
    with step ``h``). A step sends ``len(targets) * (n_features + 1)`` rows; the attack stops
    after ``n_steps`` steps, or before a step would take the rows sent over ``budget``.

    Returns ``(X, n_queries)``: the reconstructions and the number of rows sent.
    Introduced in notebooks/14_model_inversion.ipynb."""
    check_model(model)
    d = check_int(n_features, "n_features", minimum=1)
    if getattr(model, "n_features_in_", d) != d:
        raise ValueError(f"n_features: the model expects {model.n_features_in_} features, got {d}")
    budget = check_int(budget, "budget", minimum=0)
    lo, hi = _check_steps(n_steps, lr, l2, bounds, init)
    h = check_real(h, "h", minimum=0.0, maximum=hi - lo, strict_min=True)
    if getattr(model, "classes_", None) is None:
        raise TypeError("model: expected a classes_ attribute (the labels of predict_proba's columns)")
    cols = _target_columns(model.classes_, targets)
    X = _start(len(cols), d, lo, hi, init, random_state)
    per_step, used = len(cols) * (d + 1), 0
    for _ in tqdm(range(n_steps), desc="black-box inversion", delay=2.0, leave=False):
        if used + per_step > budget:
            break  # the next step would go over the budget
        _, grad = finite_difference_gradient(model.predict_proba, X, cols, h, (lo, hi))
        used += per_step
        X = projected_step(X, grad - 2.0 * l2 * X, lr, (lo, hi))
    return X, used


# ---- how good is a reconstruction? ---------------------------------------------------------
def _correlation(a, B):
    """Pearson correlation of the vector ``a`` with each row of ``B`` (0 for a constant one)."""
    a, B = a - a.mean(), B - B.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(a) * np.linalg.norm(B, axis=1)
    return np.divide(B @ a, norms, out=np.zeros(len(B)), where=norms > 0)


def resemblance(X_rec: ArrayLike, targets: ArrayLike, X: ArrayLike, y: ArrayLike) -> dict[str, np.ndarray]:
    """How each reconstruction ``X_rec[i]`` compares with the images of its class
    ``targets[i]`` in ``(X, y)``: a dict of arrays, one entry per reconstruction, with
    ``corr_mean`` (correlation with the class's average image), ``corr_best`` (with the
    most similar single image), ``dist_mean`` and ``dist_nearest`` (Euclidean distances to
    the average and to the nearest single image).

    Introduced in notebooks/14_model_inversion.ipynb."""
    X_rec = check_matrix(X_rec, "X_rec").astype(np.float64)
    X = check_matrix(X, "X").astype(np.float64)
    y, targets = np.asarray(y), np.asarray(targets)
    if targets.shape != (len(X_rec),):
        raise ValueError(f"targets: expected one class per row of X_rec ({len(X_rec)}), got shape {targets.shape}")
    if y.shape != (len(X),):
        raise ValueError(f"y: expected one label per row of X ({len(X)}), got shape {y.shape}")
    if X.shape[1] != X_rec.shape[1]:
        raise ValueError(f"X: expected {X_rec.shape[1]} features (as X_rec), got {X.shape[1]}")
    if not np.isin(targets, y).all():
        raise ValueError("targets: every target class needs images in (X, y)")
    out = {k: np.empty(len(X_rec)) for k in ("corr_mean", "corr_best", "dist_mean", "dist_nearest")}
    for i, (r, t) in enumerate(zip(X_rec, targets)):
        images = X[y == t]
        mean = images.mean(axis=0)
        out["corr_mean"][i] = _correlation(r, mean[None])[0]
        out["corr_best"][i] = _correlation(r, images).max()
        out["dist_mean"][i] = np.linalg.norm(r - mean)
        out["dist_nearest"][i] = np.linalg.norm(images - r, axis=1).min()
    return out
