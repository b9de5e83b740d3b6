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
from mia_course.models import TorchMLPClassifier, seed_from, torch_threads
from mia_course.stacked import (BatchedAdam, epoch_batches, forward_backward,  # noqa: F401
                                initial_stacked_params, stacked_forward, train_stacked,
                                training_flops)


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
    cores: on an idle 2-core machine two threads train twice as fast as one; when other
    programs load the CPU, pass ``n_threads=1``). ``n_jobs``: joblib workers for other
    estimators.
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
    from mia_course.defenses.dp_models import DPMLPClassifier  # defenses build on this module
    if isinstance(estimator, DPMLPClassifier):
        from mia_course.defenses.dp_shadows import BatchedDPMLP
        return BatchedDPMLP(estimator, seeds, n_threads).fit(X, y, masks)
    if isinstance(estimator, TorchMLPClassifier) and not estimator.early_stopping:
        return BatchedMLP(estimator, seeds, n_threads).fit(X, y, masks)
    models = []
    jobs = (delayed(_fit_clone)(estimator, s, X[m], y[m]) for s, m in zip(seeds, masks))
    out = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    for model in tqdm(out, total=len(masks), desc="shadow models", delay=2.0):
        models.append(model)
    return ShadowModels(models, masks)


def random_halves(n_models, n_records, rng):
    """``[n_models, n_records]`` masks in complementary pairs: models ``2k`` and ``2k+1``
    split one random permutation of the records in half. Every model trains on exactly
    half of the records (so all train for the same number of steps), and for an even
    number of models every record is IN exactly half of them (Carlini et al.'s design).

    Introduced in notebooks/04_lira_and_rmia.ipynb."""
    masks = np.zeros((n_models, n_records), dtype=bool)
    for k in range(0, n_models, 2):
        first = rng.permutation(n_records) < n_records // 2
        masks[k] = first
        if k + 1 < n_models:
            masks[k + 1] = ~first
    return masks


def distinct_records(X, y):
    """``(first, inverse)``: one index per distinct record (features and label), in order of
    first appearance, and for each row the number of its distinct record.

    Introduced in notebooks/04_lira_and_rmia.ipynb."""
    rows = np.hstack([np.asarray(X, np.float64), np.asarray(y, np.float64)[:, None]])
    _, first, inverse = np.unique(rows, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # number distinct records by first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return first[order], rank[np.ravel(inverse)]


def train_on_random_halves(estimator, X, y, n_models, rng):
    """``(masks, shadows)``: ``n_models`` clones of ``estimator`` (None: the course's
    ``TorchMLPClassifier``) trained on ``random_halves`` of the *distinct* records of ``X, y``
    (every copy of a duplicated record is IN or OUT together, so each distinct record is IN
    for exactly half the models); shared by LiRA, RMIA and the calibrated label-only attack.

    Introduced in notebooks/04_lira_and_rmia.ipynb."""
    first, inverse = distinct_records(X, y)
    masks = random_halves(n_models, len(first), rng)[:, inverse]
    estimator = estimator if estimator is not None else TorchMLPClassifier()
    return masks, train_shadow_models(estimator, X, y, masks, random_state=rng)


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
