"""Privacy-utility measurements over several targets: a defense's knob, mean and spread.

Introduced in notebooks/08_regularization_and_data.ipynb.

``experiments.privacy_utility`` measures one trained target. A sweep that compares
settings by one target each compares draws; here each setting gets several targets, trained
together as one batched model (``many_targets.train_targets``), and every number is a mean
over them with its standard deviation.
"""
from collections.abc import Sequence

import numpy as np
from sklearn.base import clone

from mia_course._validation import check_int, check_matrix
from mia_course.attacks import LossThresholdAttack
from mia_course.data import make_ad_clicks
from mia_course.hints import Estimator
from mia_course.many_targets import evaluate_targets, mean_sd, train_targets
from mia_course.rmia import RMIA


def privacy_utility_targets(model: Estimator, *, n_targets: int = 6, n_members: int = 1000,
                            n_held_out: int = 10_000, n_references: int = 2,
                            segments: Sequence[int] | None = None, random_state: int = 0,
                            return_scores: bool = False) -> tuple:
    """Train ``n_targets`` copies of ``model`` as ad-click targets and measure each: train
    and test accuracy (test: the held-out users), and the loss-threshold and RMIA attacks
    (``n_references`` reference models trained like the target, on other users of the same
    population) as AUC and TPR at 0.1% / 1% FPR. Returns ``(row, family)``: ``row[key]`` is
    the mean over targets and ``row[key + " sd"]`` the standard deviation. With
    ``return_scores=True``, ``(row, family, scores)``: ``scores[attack]`` is that attack's
    ``[n_targets, n_rows]`` scores of ``family.X`` ("loss" and "RMIA").

    Introduced in notebooks/08_regularization_and_data.ipynb."""
    n_targets = check_int(n_targets, "n_targets", minimum=2)
    check_int(n_references, "n_references", minimum=1)
    family = train_targets(n_targets, n_members, n_held_out, model=model, segments=segments,
                           random_state=random_state)
    held_out = ~family.masks.any(0)
    # every target's answers on family.X, computed once (one batched pass) for the
    # accuracies and both attacks, instead of once per use
    answers = np.asarray(family.models.predict_proba(family.X), dtype=np.float64)
    hits = family.models.classes_[answers.argmax(-1)] == family.y
    per_target = {"train accuracy": [h[m].mean() for h, m in zip(hits, family.masks)],
                  "test accuracy": [h[held_out].mean() for h in hits]}
    targets = [_Answered(family.model(k), family.X, answers[k]) for k in range(n_targets)]
    population = make_ad_clicks(2000, random_state=10_000 + random_state)  # same world, other people
    rmia = RMIA(reference_model=clone(model), n_references=n_references, random_state=random_state)
    rmia.fit(population.X, population.y)
    attacks, scores = {"loss": LossThresholdAttack(), "RMIA": rmia}, {}
    for name, attack in attacks.items():
        table, scores[name] = evaluate_targets(family, lambda m, k, a=attack: a.score_samples(targets[k], family.X, family.y))
        for key, values in table.items():
            per_target[f"{name} {key}"] = values
    row = {}
    for key, values in per_target.items():
        row[key], row[key + " sd"] = mean_sd(values)
    return (row, family, scores) if return_scores else (row, family)


class _Answered:
    """Target ``model`` with its answers ``P`` on the rows ``X`` already computed: asked about
    the same rows again, it returns them instead of recomputing; other rows go to the model."""

    def __init__(self, model, X, P):
        self.model, self._X, self._P = model, X, P
        self.classes_ = np.asarray(model.classes_)

    def predict_proba(self, X):
        X = check_matrix(X, "X")
        if X.shape == self._X.shape and np.array_equal(X, self._X):
            return self._P.copy()
        return np.asarray(self.model.predict_proba(X), dtype=np.float64)

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
