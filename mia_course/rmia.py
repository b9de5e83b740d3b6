"""RMIA: the relative membership inference attack of Zarifzadeh et al. (2024).

Introduced in notebooks/04_lira_and_rmia.ipynb.

How much more does the target like record ``x`` than the reference models do,
``p(x|target) / p(x)``, compared with the same ratio for population records ``z``? A member
beats most of the population; the score is the fraction of ``z`` it beats by a factor
``gamma``. Because every record is compared with many others, a few reference models are
enough. ``p(x)`` is the mean of the reference models' probabilities for the true label:
online, references train on halves of a pool that contains the candidates; offline, they
never saw them, and ``p(x) = ((1 + a) p_out(x) + (1 - a)) / 2`` approximates the missing
IN half (``a`` as in the paper's offline variant).
"""
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state

from mia_course._validation import check_int, check_labels, check_matrix, check_real
from mia_course.attacks import check_query, true_columns
from mia_course.shadows import train_on_random_halves


def true_class_probs(P, col):
    """``P[..., i, col[i]]``: each row's probability for its true label."""
    return np.take_along_axis(np.asarray(P, float), np.broadcast_to(col[:, None], P.shape[:-1] + (1,)),
                              axis=-1)[..., 0]


def rmia_scores(ratio_x, ratio_z, gamma=1.0):
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


def offline_probability(p_out, a=0.3):
    """``p(x)`` from OUT reference models only: ``((1 + a) p_out + (1 - a)) / 2`` stands in
    for the average with the missing IN models (the paper's offline variant).

    Introduced in notebooks/04_lira_and_rmia.ipynb."""
    return ((1 + a) * np.asarray(p_out, float) + (1 - a)) / 2


class RMIA(BaseEstimator):
    """Relative membership inference with ``n_references`` reference models.

    ``fit(X_population, y_population)`` trains the references on random halves of the
    population data and keeps it as the comparison records ``z``.
    Introduced in notebooks/04_lira_and_rmia.ipynb.
    """

    def __init__(self, reference_model=None, n_references=2, online=False, gamma=1.0,
                 offline_a=0.3, random_state=None):
        self.reference_model = reference_model
        self.n_references = n_references
        self.online = online
        self.gamma = gamma
        self.offline_a = offline_a
        self.random_state = random_state

    def fit(self, X_population, y_population):
        n = check_int(self.n_references, "n_references", minimum=1)
        check_real(self.gamma, "gamma", minimum=0.0, strict_min=True)
        check_real(self.offline_a, "offline_a", minimum=0.0, maximum=1.0)
        X = check_matrix(X_population, "X_population")
        y = check_labels(y_population, "y_population", n=X.shape[0])
        self.masks_, self.references_ = train_on_random_halves(
            self.reference_model, X, y, n, check_random_state(self.random_state))
        self.classes_ = self.references_.classes_
        self.X_population_, self.y_population_ = X, y
        return self

    def reference_probability(self, X, y):
        """``p(x)``: the references' mean probability for each row's true label."""
        if not hasattr(self, "references_"):
            raise ValueError("RMIA: call fit(X_population, y_population) first")
        col = true_columns(self.classes_, y)
        p = true_class_probs(self.references_.predict_proba(X), col).mean(axis=0)
        return p if self.online else offline_probability(p, self.offline_a)

    def score_samples(self, model, X, y):
        """Higher = more likely a member of ``model``'s training set."""
        if not hasattr(self, "references_"):
            raise ValueError("RMIA: call fit(X_population, y_population) before scoring")
        X, y = check_query(model, X, y)
        Z, yz = self.X_population_, self.y_population_
        ratio_x = _target_probs(model, X, y, self.classes_) / self.reference_probability(X, y)
        ratio_z = _target_probs(model, Z, yz, self.classes_) / self.reference_probability(Z, yz)
        return rmia_scores(ratio_x, ratio_z, self.gamma)


def _target_probs(model, X, y, classes):
    P = np.asarray(model.predict_proba(X), float)
    model_classes = np.asarray(getattr(model, "classes_", classes))
    return np.clip(true_class_probs(P, true_columns(model_classes, y)), 1e-300, None)
