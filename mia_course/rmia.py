"""RMIA: the relative membership inference attack of Zarifzadeh et al. (2024).

Introduced in notebooks/04_lira_and_rmia.ipynb.

How much more does the target like record ``x`` than the reference models do,
``p(x|target) / p(x)``, compared with the same ratio for population records ``z``? A member
beats most of the population; the score is the fraction of ``z`` it beats by a factor
``gamma``. ``p(x)`` is the mean of the reference models' probabilities for the true label:
online, references train on halves of a pool that contains the candidates; offline, they
never saw them, and ``p(x) = ((1 + a) p_out(x) + (1 - a)) / 2`` approximates the missing
IN half (the paper's offline variant; ``a`` is fitted on the reference models).

For one target and a fixed ``Z`` the score is an increasing function of the ratio
``p(x|target) / p(x)`` itself (``rmia_scores`` breaks ties by the ratio), so ``gamma`` and
the size of ``Z`` do not change the ROC: the gain over a plain confidence attack comes from
dividing by ``p(x)`` (how easy ``x`` is for models that never saw it) and from ``a``.
"""
from typing import Self

import numpy as np
from sklearn.utils import check_random_state

from mia_course._validation import check_class_labels, check_int, check_matrix, check_real
from scipy.stats import rankdata

from mia_course.attack_base import MembershipAttack
from mia_course.attacks import check_query, true_class_probs, true_columns
from mia_course.queries import PROBABILITY_FLOOR, check_output_defense, query_proba, shadow_answers
from mia_course.shadows import train_on_random_halves
from mia_course.hints import ArrayLike, Estimator, OutputDefense, RandomStateLike


def rmia_scores(ratio_x: ArrayLike, ratio_z: ArrayLike, gamma: float = 1.0) -> np.ndarray:
    """Fraction of population ratios ``ratio_z`` that each ``ratio_x`` beats by ``gamma``:
    ``mean_z [ratio_x / ratio_z > gamma]``, computed with a sort instead of a double loop.

    The fraction is a step function of ``ratio_x``; records on the same step (for example
    all those that beat every ``z``) are ordered by ``ratio_x`` itself, with a tie-break
    smaller than one step, so the ranking is never coarser than the population allows.
    Introduced in notebooks/04_lira_and_rmia.ipynb."""
    ratio_x = np.asarray(ratio_x, float)
    ratio_z = np.sort(np.asarray(ratio_z, float))
    beaten = np.searchsorted(ratio_z, ratio_x / gamma, side="left")
    within = np.argsort(np.argsort(ratio_x, kind="stable"), kind="stable") / len(ratio_x)
    return (beaten + 0.5 * within) / len(ratio_z)


def offline_probability(p_out: ArrayLike, a: float = 0.3) -> np.ndarray:
    """``p(x)`` from OUT reference models only: ``((1 + a) p_out + (1 - a)) / 2`` stands in
    for the average with the missing IN models (the paper's offline variant).

    Introduced in notebooks/04_lira_and_rmia.ipynb."""
    return ((1 + a) * np.asarray(p_out, float) + (1 - a)) / 2


def fit_offline_a(p_refs: np.ndarray, masks: np.ndarray, p_refs_z: np.ndarray,
                  grid: np.ndarray = np.linspace(0.0, 1.0, 21)) -> float:
    """The paper's way to choose ``a``: each reference model in turn plays the target, the
    others (those that did not train on a record) are its OUT references; ``a`` is the grid
    value whose ratio ``p_k(x) / p(x)`` best separates the reference's own training records
    (``masks[k]``) from ``Z`` (records no reference trained on), by mean AUC.

    ``p_refs [n_refs, n_pool]`` and ``p_refs_z [n_refs, n_z]``: the references' true-class
    probabilities on their training pool and on ``Z``. Introduced in notebooks/04_lira_and_rmia.ipynb."""
    n_refs = len(p_refs)
    if n_refs < 2:
        raise ValueError("offline_a: fitting a needs at least 2 reference models (one plays the target); "
                         "pass a number instead")
    aucs = np.zeros(len(grid))
    for k in range(n_refs):
        others = np.arange(n_refs) != k
        out = ~masks[others]  # the other references that did not train on each pool record
        has_out = out.any(axis=0)
        members = masks[k] & has_out
        p_out_m = (np.where(out, p_refs[others], 0).sum(0) / np.maximum(out.sum(0), 1))[members]
        p_out = np.r_[p_out_m, p_refs_z[others].mean(axis=0)]
        target = np.maximum(np.r_[p_refs[k][members], p_refs_z[k]], PROBABILITY_FLOOR)
        is_in = np.r_[np.ones(members.sum(), bool), np.zeros(p_refs_z.shape[1], bool)]
        ratios = target / np.maximum(offline_probability(p_out, np.asarray(grid, float)[:, None]), PROBABILITY_FLOOR)
        aucs += _auc_rows(is_in, ratios)
    return float(grid[int(np.argmax(aucs))])


def _auc_rows(is_in, scores):
    """ROC AUC of each row of ``scores`` (as ``roc_auc_score``, ties counted half): the
    Mann-Whitney statistic from midranks, exact, in one call for the whole grid."""
    n_in = int(is_in.sum())
    ranks = rankdata(scores, axis=1)
    return (ranks[:, is_in].sum(axis=1) - n_in * (n_in + 1) / 2) / (n_in * (len(is_in) - n_in))


class RMIA(MembershipAttack):
    """Relative membership inference with ``n_references`` reference models.

    ``fit(X_population, y_population)``: offline, a random ``z_fraction`` of the population
    becomes ``Z`` (records no reference trains on) and the references train on random halves
    of the rest; ``a`` is fitted on the references (``offline_a=None``) unless given.
    Online, the references train on random halves of the pool (which holds the candidates)
    and ``Z`` is the whole pool. ``output_defense`` and ``n_queries``: as in ``LiRA`` (the
    references are read through the defense; queries are repeated and averaged).
    Introduced in notebooks/04_lira_and_rmia.ipynb.
    """

    fitted_attribute = "references_"
    fit_signature = "fit(X_population, y_population)"

    def __init__(self, reference_model: Estimator | None = None, n_references: int = 2, online: bool = False,
                 gamma: float = 1.0, offline_a: float | None = None, z_fraction: float = 0.25,
                 output_defense: OutputDefense | None = None, n_queries: int = 1,
                 random_state: RandomStateLike = None) -> None:
        self.reference_model = reference_model
        self.n_references = n_references
        self.online = online
        self.gamma = gamma
        self.offline_a = offline_a
        self.z_fraction = z_fraction
        self.output_defense = output_defense
        self.n_queries = n_queries
        self.random_state = random_state

    def fit(self, X_population: ArrayLike, y_population: ArrayLike) -> Self:
        n = check_int(self.n_references, "n_references", minimum=1)
        check_real(self.gamma, "gamma", minimum=0.0, strict_min=True)
        if self.offline_a is not None:
            check_real(self.offline_a, "offline_a", minimum=0.0, maximum=1.0)
        elif not self.online and n < 2:
            raise ValueError("offline_a: fitting a needs at least 2 reference models; pass a number")
        z_fraction = check_real(self.z_fraction, "z_fraction", minimum=0.0, maximum=1.0,
                                strict_min=True, strict_max=True)
        defense, n_queries = check_output_defense(self.output_defense, self.n_queries)
        X = check_matrix(X_population, "X_population")
        y = check_class_labels(y_population, "y_population", n=X.shape[0])
        rng = check_random_state(self.random_state)
        in_z = np.zeros(len(y), dtype=bool)
        if not self.online:
            n_z = int(round(z_fraction * len(y)))
            if n_z < 1 or n_z > len(y) - 2:
                raise ValueError(f"X_population: {len(y)} rows leave no room for z_fraction={z_fraction}")
            in_z[rng.permutation(len(y))[:n_z]] = True
        self.masks_, self.references_ = train_on_random_halves(self.reference_model, X[~in_z], y[~in_z], n, rng)
        self.classes_ = self.references_.classes_
        self.z_mask_ = in_z  # population rows held out as Z (offline); online Z is the whole pool
        self.X_z_, self.y_z_ = (X[in_z], y[in_z]) if not self.online else (X, y)
        self.a_ = None if self.offline_a is None else float(self.offline_a)
        if not self.online and self.offline_a is None:
            col, col_z = true_columns(self.classes_, y[~in_z]), true_columns(self.classes_, self.y_z_)
            self.a_ = fit_offline_a(true_class_probs(shadow_answers(self.references_, X[~in_z], defense, n_queries), col),
                                    self.masks_,
                                    true_class_probs(shadow_answers(self.references_, self.X_z_, defense, n_queries), col_z))
        return self

    def reference_probability(self, X: ArrayLike, y: ArrayLike) -> np.ndarray:
        """``p(x)``: the references' mean probability for each row's true label (offline:
        with the ``a`` correction), floored at ``PROBABILITY_FLOOR``."""
        self.check_fitted()
        defense, n_queries = check_output_defense(self.output_defense, self.n_queries)
        X = check_matrix(X, "X")  # the attacker's own references take float32 rows
        col = true_columns(self.classes_, y)
        p = true_class_probs(shadow_answers(self.references_, X, defense, n_queries), col).mean(axis=0)
        if not self.online:
            a = self.a_ if self.offline_a is None else self.offline_a
            if a is None:
                raise ValueError("offline_a: this RMIA was fitted online; refit it offline to fit a")
            p = offline_probability(p, a)
        return np.maximum(p, PROBABILITY_FLOOR)

    def _score_samples(self, model, X, y):
        X, y = check_query(model, X, y)
        _, n_queries = check_output_defense(self.output_defense, self.n_queries)
        Z, yz = self.X_z_, self.y_z_
        ratio_x = _target_probs(model, X, y, self.classes_, n_queries) / self.reference_probability(X, y)
        ratio_z = _target_probs(model, Z, yz, self.classes_, n_queries) / self.reference_probability(Z, yz)
        return rmia_scores(ratio_x, ratio_z, self.gamma)


def _target_probs(model, X, y, classes, n_queries=1):
    P = query_proba(model, X, n_queries)
    model_classes = np.asarray(getattr(model, "classes_", classes))
    return np.maximum(true_class_probs(P, true_columns(model_classes, y)), PROBABILITY_FLOOR)
