"""Black-box membership inference attacks: thresholds and Shokri-style shadow models.

Every attack scores records through ``score_samples(model, X, y)``: one score per row,
higher = more likely a member. ``model`` is anything with ``predict_proba`` (the
attacker's query access). Thresholds are chosen on the attacker's own data (``fit``),
never from the true membership labels.
"""
from typing import Self

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from mia_course._validation import (check_class_labels, check_int, check_matrix, check_model,
                                    check_real, check_vector)
from mia_course.attack_base import MembershipAttack
from mia_course.metrics import roc
from mia_course.queries import check_output_defense, query_proba, shadow_answers
from mia_course.training.registry import seeded_clone, train_shadow_models
from mia_course.hints import ArrayLike, AttackedModel, Estimator, OutputDefense, ProbabilisticModel, RandomStateLike


def check_query(model: AttackedModel, X: ArrayLike, y: ArrayLike,
                method: str = "predict_proba") -> tuple[ArrayLike, np.ndarray]:
    """Validate an attack's query: a model with ``method``, rows X, labels y (integers or
    strings). Returns ``(X, y)`` with ``X`` unchanged (the attacked model gets exactly what
    the caller passed, e.g. float64 or a DataFrame).

    Introduced in notebooks/02_threshold_attacks_and_metrics.ipynb."""
    check_model(model, method=method)
    n = check_matrix(X, "X").shape[0]
    return X, check_class_labels(y, "y", n=n)


def _probabilities(model, X, y):
    """``(P, col)``: the model's probabilities and each row's true-class column."""
    X, y = check_query(model, X, y)
    P = np.asarray(model.predict_proba(X), dtype=np.float64)
    classes = np.asarray(getattr(model, "classes_", np.arange(P.shape[1])))
    return P, true_columns(classes, y, known_to="the model")


def true_columns(classes: ArrayLike, y: ArrayLike, known_to: str = "the model") -> np.ndarray:
    """The column of each label ``y`` in ``classes`` (ValueError for unknown labels).

    Introduced in notebooks/02_threshold_attacks_and_metrics.ipynb."""
    classes, y = np.asarray(classes), np.asarray(y)
    col = np.searchsorted(classes, y)
    if np.any(col >= len(classes)) or np.any(classes[np.minimum(col, len(classes) - 1)] != y):
        raise ValueError(f"y: contains labels {known_to} does not know")
    return col


def true_class_probs(P: ArrayLike, col: ArrayLike) -> np.ndarray:
    """``P[..., i, col[i]]``: each row's probability for its true label (``P``: ``[n, classes]``
    or a stack ``[models, n, classes]``); the one place that reads it.

    Introduced in notebooks/04_lira_and_rmia.ipynb."""
    P = np.asarray(P, dtype=np.float64)
    return np.take_along_axis(P, np.broadcast_to(np.asarray(col)[:, None], P.shape[:-1] + (1,)), axis=-1)[..., 0]


def sum_of_other_classes(P: ArrayLike, col: ArrayLike) -> np.ndarray:
    """``1 - P[i, col[i]]`` summed from the other columns: exact even where the
    probability in ``col`` rounds to 1 (``1 - p`` would then be 0).

    Introduced in notebooks/02_threshold_attacks_and_metrics.ipynb."""
    P = np.asarray(P, dtype=np.float64)
    return np.where(np.arange(P.shape[-1]) == np.asarray(col)[..., None], 0.0, P).sum(axis=-1)


def true_class_probability(model: ProbabilisticModel, X: ArrayLike, y: ArrayLike) -> np.ndarray:
    """The model's probability for each row's true label (its "confidence" on it).

    Introduced in notebooks/01_alice_and_the_ad_model.ipynb.
    """
    return true_class_probs(*_probabilities(model, X, y))


def cross_entropy_loss(model: ProbabilisticModel, X: ArrayLike, y: ArrayLike) -> np.ndarray:
    """Per-row cross-entropy loss ``-log p(true label)``.

    Computed as ``-log(1 - sum of the other classes' probabilities)`` when the true class
    is likely, so that losses of confident rows (p = 1 - 1e-20) do not all round to 0.
    Introduced in notebooks/02_threshold_attacks_and_metrics.ipynb.
    """
    P, col = _probabilities(model, X, y)
    p_true = true_class_probs(P, col)
    others = np.clip(sum_of_other_classes(P, col), 0.0, 1.0)  # precise when p_true ~ 1
    with np.errstate(divide="ignore"):
        loss = np.where(p_true > 0.5, -np.log1p(-np.minimum(others, 0.5)),
                        -np.log(np.clip(p_true, 1e-300, 1.0)))
    return loss


def best_threshold(in_scores: ArrayLike, out_scores: ArrayLike) -> float:
    """The threshold on scores that best separates ``in`` from ``out`` (max TPR - FPR).

    Introduced in notebooks/02_threshold_attacks_and_metrics.ipynb."""
    in_scores = check_vector(in_scores, "in_scores")
    out_scores = check_vector(out_scores, "out_scores")
    is_in = np.r_[np.ones(len(in_scores)), np.zeros(len(out_scores))]
    fpr, tpr, thr = roc(is_in, np.r_[in_scores, out_scores])
    best = int(np.argmax(tpr - fpr))
    if not np.isfinite(thr[best]):  # "flag nobody": above every score, in or out
        return float(max(in_scores.max(), out_scores.max())) + 1.0
    return float(thr[best])


def half_split(n: int, rng: np.random.RandomState) -> np.ndarray:
    """A random boolean mask selecting half of ``n`` rows (the shadow's "in" set).

    Introduced in notebooks/03_shadow_models.ipynb."""
    mask = np.zeros(n, dtype=bool)
    mask[rng.permutation(n)[: n // 2]] = True
    return mask


class _ThresholdAttack(MembershipAttack):
    """Shared by the threshold attacks: a threshold learned on one shadow model (scoring
    needs no ``fit``; ``predict`` uses the fitted ``threshold_``)."""

    fitted_attribute = "threshold_"
    fit_signature = "fit(X_aux, y_aux) (or pass threshold=...) to choose the threshold"

    def __init__(self, shadow_model: Estimator | None = None, threshold: float | None = None,
                 random_state: RandomStateLike = None) -> None:
        self.shadow_model = shadow_model
        self.threshold = threshold
        self.random_state = random_state

    def fit(self, X_aux: ArrayLike, y_aux: ArrayLike) -> Self:
        """Pick ``threshold_``: train a shadow on half of the attacker's data, separate
        its members (that half) from the other half. Returns ``self``."""
        if self.threshold is not None:
            self.threshold_ = check_real(self.threshold, "threshold")
            return self
        X_aux = check_matrix(X_aux, "X_aux")
        y_aux = check_class_labels(y_aux, "y_aux", n=X_aux.shape[0])
        if len(y_aux) < 4:
            raise ValueError("X_aux: need at least 4 rows to train and test a shadow model")
        rng = check_random_state(self.random_state)
        inside = half_split(len(y_aux), rng)
        estimator = self.shadow_estimator(self.shadow_model)
        shadow = train_shadow_models(estimator, X_aux, y_aux, inside[None], random_state=rng).model(0)
        s = self.score_samples(shadow, X_aux, y_aux)
        self.threshold_ = best_threshold(s[inside], s[~inside])
        return self

    def needs_fit_to_score(self) -> bool:
        return False

    def decision_threshold(self) -> float:
        """The fitted ``threshold_`` (NotFittedError before ``fit``)."""
        self.check_fitted()
        return self.threshold_


class LossThresholdAttack(_ThresholdAttack):
    """Yeom et al. (2018): members have low loss. Score = -loss on the true label.

    Introduced in notebooks/02_threshold_attacks_and_metrics.ipynb.
    """

    def _score_samples(self, model, X, y):
        return -cross_entropy_loss(model, X, y)


class ConfidenceThresholdAttack(_ThresholdAttack):
    """Salem et al. (2019): members get confident predictions. No label needed.

    Score = the logit of the top probability, ``log p_top - log(1 - p_top)``: it orders
    rows exactly like ``p_top`` but stays distinct where ``p_top`` rounds to 1.

    Introduced in notebooks/02_threshold_attacks_and_metrics.ipynb.
    """

    def _score_samples(self, model, X, y):
        X, y = check_query(model, X, y)
        P = np.asarray(model.predict_proba(X), dtype=np.float64)
        top = P.max(axis=1)
        rest = np.clip(sum_of_other_classes(P, P.argmax(axis=1)), 1e-300, 1.0)
        return np.log(np.clip(top, 1e-300, 1.0)) - np.log(rest)


class ShadowModelAttack(MembershipAttack):
    """Shokri et al. (2017): imitate the target with shadow models, learn in vs out.

    ``fit(X_aux, y_aux)`` trains ``n_shadows`` clones of ``shadow_model`` (default: the
    course's ``TorchMLPClassifier``), each on a random half of the attacker's data; their
    prediction vectors on their own half ("in") and the other half ("out") form the attack
    data set, and one attack model per class learns to tell in from out.

    ``output_defense``: a callable that takes a fitted model and returns it as the attacked
    API answers (e.g. ``lambda m: RoundedOutputs(m, 1)``); the shadows are read through it.
    ``n_queries``: ask the target (and each defended shadow) that many times and average.

    Introduced in notebooks/03_shadow_models.ipynb.
    """

    fitted_attribute = "attack_models_"
    fit_signature = "fit(X_aux, y_aux)"

    def __init__(self, shadow_model: Estimator | None = None, n_shadows: int = 8,
                 attack_model: Estimator | None = None, output_defense: OutputDefense | None = None,
                 n_queries: int = 1, random_state: RandomStateLike = None) -> None:
        self.shadow_model = shadow_model
        self.n_shadows = n_shadows
        self.attack_model = attack_model
        self.output_defense = output_defense
        self.n_queries = n_queries
        self.random_state = random_state

    def fit(self, X_aux: ArrayLike, y_aux: ArrayLike) -> Self:
        check_int(self.n_shadows, "n_shadows", minimum=1)
        defense, n_queries = check_output_defense(self.output_defense, self.n_queries)
        X_aux = check_matrix(X_aux, "X_aux")
        y_aux = check_class_labels(y_aux, "y_aux", n=X_aux.shape[0])
        if len(y_aux) < 4:
            raise ValueError("X_aux: need at least 4 rows to train shadow models")
        rng = check_random_state(self.random_state)
        masks = np.array([half_split(len(y_aux), rng) for _ in range(self.n_shadows)])
        estimator = self.shadow_estimator(self.shadow_model)
        shadows = train_shadow_models(estimator, X_aux, y_aux, masks, random_state=rng)
        answers = shadow_answers(shadows, X_aux, defense, n_queries)  # prediction vectors, as the API gives them
        self.attack_X_ = answers.reshape(-1, len(shadows.classes_))
        self.attack_y_ = masks.reshape(-1)  # 1 = the shadow trained on that row
        self.attack_class_ = np.tile(y_aux, self.n_shadows)
        self.attack_models_ = {}
        for c in np.unique(self.attack_class_):
            rows = self.attack_class_ == c
            if len(np.unique(self.attack_y_[rows])) < 2:
                continue
            model = seeded_clone(HistGradientBoostingClassifier(max_iter=100)
                                 if self.attack_model is None else self.attack_model, rng)
            # a few features, thousands of rows: OpenMP's threads cost more than they save (the
            # default attack model fits 8x faster on one thread, to the same trees) and are
            # what a busy laptop cannot spare
            with threadpool_limits(1, user_api="openmp"):
                self.attack_models_[c] = model.fit(self.attack_X_[rows], self.attack_y_[rows])
        return self

    def _score_samples(self, model, X, y):
        """P(member) from the attack model of each row's class (0.5 for unseen classes)."""
        X, y = check_query(model, X, y)
        _, n_queries = check_output_defense(self.output_defense, self.n_queries)
        P = query_proba(model, X, n_queries)
        if P.shape[1] != self.attack_X_.shape[1]:
            raise ValueError(f"model: predicts {P.shape[1]} classes, the shadows predicted "
                             f"{self.attack_X_.shape[1]}")
        scores = np.full(len(y), 0.5)
        with threadpool_limits(1, user_api="openmp"):  # as in fit
            for c, attack in self.attack_models_.items():
                rows = y == c
                if rows.any():
                    scores[rows] = attack.predict_proba(P[rows])[:, 1]
        return scores

    def decision_threshold(self) -> float:
        """0.5: member where the attack model says P(member) >= 0.5."""
        return 0.5
