"""Many shadow (reference) models at once.

Introduced in notebooks/04_lira_and_rmia.ipynb.

LiRA and RMIA need tens of models trained on different subsets of the same pool. A loop of
small torch models spends its time in Python and optimizer overhead, not arithmetic. Here
all ``TorchMLPClassifier`` shadows train **as one batched model**: each layer's weights are
stacked into a ``[n_models, fan_in, fan_out]`` tensor, a step is one batched matrix product
per layer, each model draws its own mini-batches from its own rows (``masks``), and a
batched Adam keeps every model's optimizer state separate. Model ``k`` starts from the same
weights and sees the same mini-batches as ``TorchMLPClassifier(random_state=seed_k)`` would,
so it is the same training, only faster. Any other estimator is cloned and fitted in a
joblib loop (a Dask or Ray joblib backend can spread it over a cluster).
"""
import numpy as np
import torch
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.utils import check_random_state
from tqdm.auto import tqdm

from mia_course._validation import check_int, check_labels, check_matrix
from mia_course.models import TorchMLPClassifier, build_mlp, seed_from, torch_threads


def check_masks(masks, n_records):
    """A boolean ``[n_models, n_records]`` array; every model gets at least one row."""
    masks = np.asarray(masks)
    if masks.dtype != bool:
        raise TypeError(f"masks: expected a boolean array, got dtype {masks.dtype}")
    if masks.ndim != 2 or masks.shape[1] != n_records or masks.shape[0] == 0:
        raise ValueError(f"masks: expected shape [n_models, {n_records}], got {masks.shape}")
    if not masks.any(axis=1).all():
        raise ValueError("masks: every model needs at least one training row")
    return masks


def train_shadow_models(estimator, X, y, masks, *, random_state=None, n_jobs=None, n_threads=None):
    """Train one clone of ``estimator`` per row of ``masks`` on ``X[mask], y[mask]``.

    ``n_threads``: torch CPU threads for the batched trainer (None: torch's default, all
    cores; the batched products are large enough to use them). ``n_jobs``: joblib workers
    for other estimators.
    Returns a ``ShadowModels`` whose ``predict_proba(X)`` is ``[n_models, n_rows, n_classes]``.
    Introduced in notebooks/04_lira_and_rmia.ipynb.
    """
    if isinstance(estimator, type) or not callable(getattr(estimator, "fit", None)):
        raise TypeError(f"estimator: expected an unfitted scikit-learn estimator, got {type(estimator).__name__}")
    X = check_matrix(X, "X")
    y = check_labels(y, "y", n=X.shape[0])
    masks = check_masks(masks, X.shape[0])
    rng = check_random_state(random_state)
    seeds = [int(s) for s in rng.randint(2**31 - 1, size=len(masks))]
    if n_threads is not None:
        check_int(n_threads, "n_threads", minimum=1)
    if isinstance(estimator, TorchMLPClassifier):
        return BatchedMLP(estimator, seeds, n_threads).fit(X, y, masks)
    models = []
    jobs = (delayed(_fit_clone)(estimator, s, X[m], y[m]) for s, m in zip(seeds, masks))
    out = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    for model in tqdm(out, total=len(masks), desc="shadow models", delay=2.0):
        models.append(model)
    return ShadowModels(models, masks)


def _fit_clone(estimator, seed, X, y):
    model = clone(estimator)
    if "random_state" in model.get_params():
        model.set_params(random_state=seed)
    return model.fit(X, y)


class ShadowModels:
    """Fitted shadow models; ``predict_proba(X)`` stacks every model's probabilities."""

    def __init__(self, models, masks):
        self.models_ = models
        self.masks_ = masks
        self.classes_ = np.asarray(models[0].classes_)

    def __len__(self):
        return len(self.masks_)

    def predict_proba(self, X):
        """``[n_models, n_rows, n_classes]`` probabilities."""
        X = check_matrix(X, "X")
        return np.stack([m.predict_proba(X) for m in self.models_])

    def model(self, k):
        """The ``k``-th shadow alone (anything with ``predict_proba``)."""
        return self.models_[k]


class BatchedMLP(ShadowModels):
    """``n_models`` copies of a ``TorchMLPClassifier`` trained as one batched model."""

    def __init__(self, estimator, seeds, n_threads=None):
        self.estimator = estimator
        self.seeds = seeds
        self.n_threads = n_threads

    def fit(self, X, y, masks):
        est = self.estimator
        sizes = est._check_params()
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        self.masks_ = masks
        self.n_features_in_ = X.shape[1]
        torch_seeds = [seed_from(s) for s in self.seeds]  # as TorchMLPClassifier.fit does
        with torch.random.fork_rng(devices=[]), torch_threads(self.n_threads):
            torch.manual_seed(torch_seeds[0])
            self.params_ = initial_stacked_params(X.shape[1], sizes, len(self.classes_), torch_seeds)
            train_stacked(self.params_, torch.from_numpy(np.ascontiguousarray(X)),
                          torch.from_numpy(y_idx.astype(np.int64)),
                          masks, torch_seeds, epochs=est.epochs, batch_size=est.batch_size,
                          lr=est.lr, weight_decay=est.weight_decay, dropout=est.dropout)
        return self

    def predict_proba(self, X, models=None):
        """``[n_models, n_rows, n_classes]`` probabilities (or only ``models``, a list of indices)."""
        X = np.ascontiguousarray(check_matrix(X, "X"))  # torch refuses negative strides (X[::-1])
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X: expected {self.n_features_in_} features, got {X.shape[1]}")
        params = self.params_ if models is None else [(W[models], b[models]) for W, b in self.params_]
        with torch.no_grad():
            Xt = torch.from_numpy(X).expand(len(params[0][0]), *X.shape)
            logits = stacked_forward(params, Xt).double()
        return torch.softmax(logits, dim=-1).numpy()

    def model(self, k):
        return _OneShadow(self, check_int(k, "k", minimum=0, maximum=len(self) - 1))


class _OneShadow:
    """A view of one model of a ``BatchedMLP`` (for attacks that query a single model)."""

    def __init__(self, stack, k):
        self.stack, self.k, self.classes_ = stack, k, stack.classes_

    def predict_proba(self, X):
        return self.stack.predict_proba(X, models=[self.k])[0]

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def initial_stacked_params(n_features, sizes, n_classes, torch_seeds):
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


def stacked_forward(params, X, dropout=0.0, training=False):
    """Logits ``[n_models, batch, n_classes]`` of every model on its own batch ``X``."""
    h = X
    for i, (W, b) in enumerate(params):
        h = torch.baddbmm(b, h, W)  # one batched matrix product for all models
        if i < len(params) - 1:
            h = torch.relu(h)
            if dropout > 0 and training:
                h = torch.nn.functional.dropout(h, dropout, training=True)
    return h


def epoch_batches(masks, gens, batch_size):
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


def train_stacked(params, X, y, masks, torch_seeds, *, epochs, batch_size, lr,
                  weight_decay=0.0, dropout=0.0, progress=True):
    """Mini-batch Adam on every model at once; each model's loss is the mean cross-entropy
    of its own batch, and a model with no batch at a step is left untouched."""
    gens = [torch.Generator().manual_seed(s) for s in torch_seeds]
    adam = BatchedAdam(params, lr=lr, weight_decay=weight_decay)
    for _ in tqdm(range(epochs), desc=f"training {len(masks)} models", delay=2.0,
                  disable=not progress, leave=False):
        idx, valid = epoch_batches(masks, gens, batch_size)
        for s in range(idx.shape[0]):
            n_valid = valid[s].sum(dim=1)
            logits = stacked_forward(params, X[idx[s]], dropout, training=True)
            ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), y[idx[s]], reduction="none")
            per_model = (ce * valid[s]).sum(dim=1) / n_valid.clamp(min=1)
            grads = torch.autograd.grad(per_model.sum(), [p for pair in params for p in pair])
            adam.step(grads, active=n_valid > 0)


class BatchedAdam:
    """Adam (as ``torch.optim.Adam``, L2 ``weight_decay`` added to the gradient) on stacked
    parameters, with a separate step count per model so idle models stay untouched."""

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.params = [p for pair in params for p in pair]
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        n_models = self.params[0].shape[0]
        self.t = torch.zeros(n_models)
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self._torch_adam = torch.optim.Adam(self.params, lr=lr, betas=betas, eps=eps,
                                            weight_decay=weight_decay, fused=True)

    @torch.no_grad()
    def step(self, grads, active):
        b1, b2 = self.betas
        if bool(active.all()) and bool((self.t == self.t[0]).all()):
            self._step_all(grads, int(self.t[0]) + 1)
            return
        if self.weight_decay:
            grads = torch._foreach_add(grads, self.params, alpha=self.weight_decay)
        self.t += active.float()
        shape = (-1,) + (1,) * (self.params[0].dim() - 1)
        on = active.float().view(shape)
        c1 = (1 - b1 ** self.t.clamp(min=1)).view(shape)
        c2 = (1 - b2 ** self.t.clamp(min=1)).view(shape)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m.mul_(1 - on * (1 - b1)).add_(on * (1 - b1) * g)
            v.mul_(1 - on * (1 - b2)).add_(on * (1 - b2) * g * g)
            p.sub_(on * self.lr / c1 * m / ((v / c2).sqrt() + self.eps))

    def _step_all(self, grads, t):
        """Fast path: every model takes step ``t``: torch's own fused Adam kernel."""
        self.t.fill_(t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            p.grad = g
            self._torch_adam.state[p] = {"step": torch.tensor(float(t - 1)), "exp_avg": m, "exp_avg_sq": v}
        self._torch_adam.step()


def training_flops(n_features, hidden_sizes, n_classes, n_rows_seen):
    """Matrix-multiply floating-point operations of training an MLP on ``n_rows_seen`` rows
    (epochs x rows): forward ``2 a b`` per row and layer of shape ``a x b``, the weight
    gradient the same again, and the input gradient for every layer but the first.

    Introduced in benchmarks/bench_shadow_training.py."""
    widths = [n_features, *hidden_sizes, n_classes]
    per_row = 0
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        per_row += 2 * a * b * (2 if i == 0 else 3)
    return per_row * n_rows_seen
