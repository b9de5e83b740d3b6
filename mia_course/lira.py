"""LiRA: the likelihood-ratio attack of Carlini et al. (2022), online and offline.

Introduced in notebooks/04_lira_and_rmia.ipynb.

For one record, the target's logit-scaled confidence ``phi = log(p / (1 - p))`` on the true
label is compared with what shadow models give the same record when it was IN their
training set and when it was OUT. Each is modelled as a Gaussian; the score is how much more
likely ``phi`` is under IN than under OUT (online), or how far above the OUT Gaussian it
lies (offline: a one-sided test, no shadow needs the record). ``fixed_variance`` uses one
global standard deviation, which is far more stable with few shadows: by default
(``"auto"``) the attack uses it below ``GLOBAL_VARIANCE_BELOW`` = 64 shadows, as Carlini et
al. advise, and a variance per record from 64 shadows on.

``output_defense`` and ``n_queries`` (see ``mia_course.queries``) make the attack adaptive:
the shadows answer through the same defense as the target, and repeated queries are averaged.
"""
from typing import Self

import numpy as np
from scipy.stats import norm
from sklearn.utils import check_random_state

from mia_course._validation import check_class_labels, check_int, check_matrix
from mia_course.attack_base import MembershipAttack
from mia_course.attacks import check_query, sum_of_other_classes, true_class_probs, true_columns
from mia_course.queries import PROBABILITY_FLOOR, check_output_defense, query_proba, shadow_answers
from mia_course.shadows import train_on_random_halves
from mia_course.hints import ArrayLike, Estimator, FixedVariance, OutputDefense, RandomStateLike


GLOBAL_VARIANCE_BELOW = 64  # Carlini et al. (2022): one global variance for fewer shadows than this


def resolve_fixed_variance(fixed_variance: FixedVariance, n_shadows: int) -> bool:
    """``fixed_variance`` as a bool: ``"auto"`` means one global variance for fewer than
    ``GLOBAL_VARIANCE_BELOW`` (64) shadows, a variance per record from there on (per record,
    the spread of 32 IN and 32 OUT confidences is estimated well enough; from fewer it is
    noise, and a global one is the stronger attack).

    Introduced in notebooks/04_lira_and_rmia.ipynb."""
    n_shadows = check_int(n_shadows, "n_shadows", minimum=1)
    if isinstance(fixed_variance, (bool, np.bool_)):
        return bool(fixed_variance)
    if isinstance(fixed_variance, str):
        if fixed_variance == "auto":
            return n_shadows < GLOBAL_VARIANCE_BELOW
        raise ValueError(f"fixed_variance: expected True, False or 'auto', got {fixed_variance!r}")
    raise TypeError(f"fixed_variance: expected True, False or 'auto', got {fixed_variance!r}")


def logit_confidence(P: ArrayLike, col: ArrayLike, floor: float = PROBABILITY_FLOOR) -> np.ndarray:
    """``log p_y - log(1 - p_y)`` from probability rows ``P`` (``[..., n, classes]``) and
    each row's true-class column ``col``; the ``1 - p_y`` part is summed over the other
    classes so that it stays precise when ``p_y`` rounds to 1. Both parts are clipped at
    ``floor`` (the attacks' one rule for target and shadows: ``PROBABILITY_FLOOR``, so
    ``phi`` lies within about +-13.8; pass a tiny floor such as 1e-300 for the exact value).

    Introduced in notebooks/04_lira_and_rmia.ipynb."""
    p_true, rest = true_class_probs(P, col), sum_of_other_classes(P, col)
    return np.log(np.clip(p_true, floor, None)) - np.log(np.clip(rest, floor, None))


def row_keys(X: np.ndarray, y: np.ndarray) -> list[bytes]:
    """Hashable identity of each record (features and label)."""
    if np.asarray(y).dtype.kind in "iu":
        return [x.tobytes() + int(t).to_bytes(8, "little", signed=True) for x, t in zip(X, y)]
    return [x.tobytes() + str(t).encode() for x, t in zip(X, y)]


class LiRA(MembershipAttack):
    """Likelihood-ratio attack (Carlini et al. 2022).

    ``fit(X_pool, y_pool)``: online, the pool contains the candidates and each shadow trains
    on a random half of its distinct records; offline, the pool is attacker data without the
    candidates. ``output_defense``: a callable that takes a fitted model and returns it as the
    attacked API answers (e.g. ``lambda m: RoundedOutputs(m, 1)``); every shadow is read
    through it. ``n_queries``: ask the target (and each defended shadow) that many times and
    average the answers. ``fixed_variance``: ``"auto"`` (default) fits one global variance
    with fewer than 64 shadows and one per record from 64 on (``resolve_fixed_variance``);
    ``True`` / ``False`` force either. Fitted: ``masks_``, ``shadows_``, ``classes_`` and
    ``fixed_variance_`` (the rule in use; scoring re-reads the parameter, so ``set_params``
    after fit takes effect).
    Introduced in notebooks/04_lira_and_rmia.ipynb.
    """

    fitted_attribute = "shadows_"
    fit_signature = "fit(X_pool, y_pool)"

    def __init__(self, shadow_model: Estimator | None = None, n_shadows: int = 64, online: bool = True,
                 fixed_variance: FixedVariance = "auto", output_defense: OutputDefense | None = None, n_queries: int = 1,
                 random_state: RandomStateLike = None) -> None:
        self.shadow_model = shadow_model
        self.n_shadows = n_shadows
        self.online = online
        self.fixed_variance = fixed_variance
        self.output_defense = output_defense
        self.n_queries = n_queries
        self.random_state = random_state

    def fit(self, X_pool: ArrayLike, y_pool: ArrayLike) -> Self:
        n = check_int(self.n_shadows, "n_shadows", minimum=1)
        check_output_defense(self.output_defense, self.n_queries)
        fixed_variance = resolve_fixed_variance(self.fixed_variance, n)
        if self.online and n < 2:
            raise ValueError("n_shadows: online LiRA needs at least 2 shadows (some IN, some OUT)")
        X_pool = check_matrix(X_pool, "X_pool")
        y_pool = check_class_labels(y_pool, "y_pool", n=X_pool.shape[0])
        self.masks_, self.shadows_ = train_on_random_halves(
            self.shadow_model, X_pool, y_pool, n, check_random_state(self.random_state))
        self.classes_ = self.shadows_.classes_
        self.fixed_variance_ = fixed_variance
        self._pool_index = {}
        for i, key in enumerate(row_keys(X_pool, y_pool)):
            self._pool_index.setdefault(key, []).append(i)
        return self

    def shadow_confidences(self, X: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """``(phi [n_shadows, n_rows], is_in [n_shadows, n_rows])``: the shadows' logit
        confidences on each record and whether that shadow trained on it."""
        self.check_fitted()
        X = check_matrix(X, "X")
        y = check_class_labels(y, "y", n=X.shape[0])
        col = true_columns(self.classes_, y, known_to="the shadow models")
        defense, n_queries = check_output_defense(self.output_defense, self.n_queries)
        phi = logit_confidence(shadow_answers(self.shadows_, X, defense, n_queries), col)
        is_in = np.zeros(phi.shape, dtype=bool)
        for j, key in enumerate(row_keys(X, y)):
            for i in self._pool_index.get(key, ()):
                is_in[:, j] |= self.masks_[:, i]
        return phi, is_in

    def _score_samples(self, model, X, y):
        X, y = check_query(model, X, y)
        phi, is_in = self.shadow_confidences(X, y)
        col = true_columns(self.classes_, y, known_to="the shadow models")
        target = logit_confidence(query_proba(model, X, self.n_queries), col)
        self.fixed_variance_ = fixed_variance = resolve_fixed_variance(self.fixed_variance, len(self.shadows_))
        if self.online:
            missing = np.flatnonzero(is_in.sum(0) == 0)
            if len(missing):
                raise ValueError(f"X: online LiRA needs every queried record in the pool given to "
                                 f"fit (row {missing[0]} is in no shadow); use online=False")
            return lira_scores(target, phi, is_in, online=True, fixed_variance=fixed_variance)
        # offline: every shadow counts as OUT (a duplicate of the record in the attacker's
        # data is just part of the population the shadows were trained on)
        return lira_scores(target, phi, np.zeros_like(is_in), online=False, fixed_variance=fixed_variance)


def lira_scores(target: ArrayLike, phi: np.ndarray, is_in: np.ndarray, *, online: bool,
                fixed_variance: FixedVariance) -> np.ndarray:
    """LiRA scores from the target's ``target[n]`` and the shadows' ``phi[m, n]`` confidences.
    ``fixed_variance``: one global variance (True), one per record (False), or ``"auto"``:
    global for fewer than 64 shadows (``resolve_fixed_variance``).

    Introduced in notebooks/04_lira_and_rmia.ipynb."""
    fixed_variance = resolve_fixed_variance(fixed_variance, max(len(phi), 1))
    out = ~is_in
    if (out.sum(0) == 0).any():
        raise ValueError("phi: some record has no OUT shadow; use more shadows")
    mu_out, sd_out = _gaussian(phi, out, fixed_variance)
    if not online:
        return norm.logcdf(target, mu_out, sd_out)  # one-sided: above the OUT Gaussian
    mu_in, sd_in = _gaussian(phi, is_in, fixed_variance)
    return norm.logpdf(target, mu_in, sd_in) - norm.logpdf(target, mu_out, sd_out)


def _gaussian(phi, sel, fixed_variance):
    """Per-record mean and standard deviation of ``phi`` over the selected shadows."""
    count = sel.sum(0)
    mu = np.where(sel, phi, 0).sum(0) / np.maximum(count, 1)
    if fixed_variance:  # one global spread, pooled over all records
        sd = np.full(phi.shape[1], np.sqrt(np.sum(np.where(sel, (phi - mu) ** 2, 0)) / max(sel.sum() - 1, 1)))
    else:
        var = np.where(sel, (phi - mu) ** 2, 0).sum(0) / np.maximum(count - 1, 1)
        sd = np.sqrt(var)
    return mu, np.maximum(sd, 1e-3)
