"""Label-only membership inference (Choquette-Choo et al. 2021).

Introduced in notebooks/05_label_only_attacks.ipynb.

The attacker sees only the predicted label. A model is not just confident on its members,
it is *robustly* right about them: small changes of a member still get its true label more
often than small changes of a non-member. The score is the share of perturbed copies
(plus the record itself) that the model labels correctly. For binary visit vectors a
perturbation flips ``n_flips`` random visits; for other data it adds Gaussian noise of
standard deviation ``noise_scale``.

Robustness alone confuses *easy* records (every model is robust on them) with members. With
``n_references > 0``, ``fit`` trains reference models on population data and the score
becomes the target's robustness minus the references' robustness on the same perturbed
copies: difficulty calibration (Watson et al. 2022), the same idea that makes LiRA strong.
The target is still only asked for labels; the references are the attacker's own models.
``output_defense`` reads the references through the target's defense (their labels are those
of the defended API); ``n_queries`` asks each question that many times and averages.
"""
from typing import Self

import numpy as np
from sklearn.utils import check_random_state

from mia_course._validation import check_class_labels, check_int, check_matrix, check_model, check_real
from mia_course.attack_base import MembershipAttack
from mia_course.queries import check_output_defense
from mia_course.shadows import train_on_random_halves
from mia_course.hints import ArrayLike, Estimator, LabelModel, OutputDefense, RandomStateLike


def perturb(X: np.ndarray, n_copies: int, rng: np.random.RandomState, *, n_flips: int = 1,
            noise_scale: float = 0.5) -> np.ndarray:
    """``[n_copies, n_rows, n_features]`` perturbed copies of ``X``: random bit flips for
    0/1 data, Gaussian noise otherwise.

    Introduced in notebooks/05_label_only_attacks.ipynb."""
    copies = np.repeat(X[None], n_copies, axis=0)
    if np.isin(X, (0.0, 1.0)).all():
        k = min(n_flips, X.shape[1])
        for copy in copies:  # one copy's keys at a time: the same draws as one [n_copies, ...] array
            keys = rng.random_sample(copy.shape)  # the k sites with the smallest keys: k distinct sites
            cols = keys.argmin(axis=-1)[:, None] if k == 1 else np.argpartition(keys, k - 1, axis=-1)[:, :k]
            np.put_along_axis(copy, cols, 1.0 - np.take_along_axis(copy, cols, axis=-1), axis=-1)
    else:
        copies = copies + rng.normal(0.0, noise_scale, copies.shape).astype(copies.dtype)
    return copies


class LabelOnlyAttack(MembershipAttack):
    """Membership from the robustness of predicted labels; calls ``predict`` only.

    Introduced in notebooks/05_label_only_attacks.ipynb.
    """

    requires = "predict"
    fitted_attribute = "references_"
    fit_signature = "fit(X_population, y_population) (n_references > 0 trains reference models)"

    def __init__(self, n_perturbations: int = 64, n_flips: int = 1, noise_scale: float = 0.5, n_references: int = 0,
                 reference_model: Estimator | None = None, output_defense: OutputDefense | None = None,
                 n_queries: int = 1, random_state: RandomStateLike = None) -> None:
        self.n_perturbations = n_perturbations
        self.n_flips = n_flips
        self.noise_scale = noise_scale
        self.n_references = n_references
        self.reference_model = reference_model
        self.output_defense = output_defense
        self.n_queries = n_queries
        self.random_state = random_state

    def fit(self, X_population: ArrayLike, y_population: ArrayLike) -> Self:
        """Train ``n_references`` reference models on random halves of population data
        (needed only for the calibrated score). Returns ``self``."""
        n = check_int(self.n_references, "n_references", minimum=1)
        check_output_defense(self.output_defense, self.n_queries)
        X = check_matrix(X_population, "X_population")
        y = check_class_labels(y_population, "y_population", n=X.shape[0])
        _, self.references_ = train_on_random_halves(
            self.reference_model, X, y, n, check_random_state(self.random_state))
        self._remembered = None  # new references: what the old ones said no longer holds
        return self

    def needs_fit_to_score(self) -> bool:
        return check_int(self.n_references, "n_references", minimum=0) > 0

    def _score_samples(self, model, X, y):
        """Share of the record and its perturbed copies that ``model`` labels ``y`` (minus
        the references' share, when fitted with references)."""
        n = check_int(self.n_perturbations, "n_perturbations", minimum=1)
        n_flips = check_int(self.n_flips, "n_flips", minimum=1)
        scale = check_real(self.noise_scale, "noise_scale", minimum=0.0, strict_min=True)
        defense, n_queries = check_output_defense(self.output_defense, self.n_queries)
        X = check_matrix(X, "X")
        y = check_class_labels(y, "y", n=X.shape[0])
        # a fixed integer seed draws the same copies of the same rows every time: a lesson that
        # scores several targets on one set of rows perturbs them, and asks the references
        # about the copies, once (the references' share is the same for every target)
        key = (n, n_flips, scale, id(getattr(self, "references_", None)))
        memo = getattr(self, "_remembered", None)
        fixed = isinstance(self.random_state, (int, np.integer)) and not isinstance(self.random_state, bool)
        if fixed and memo is not None and memo[0] == key and np.array_equal(memo[1], X) and np.array_equal(memo[2], y):
            rows = memo[3]
        else:
            copies = perturb(X, n, check_random_state(self.random_state), n_flips=n_flips, noise_scale=scale)
            rows = np.vstack([X, copies.reshape(-1, X.shape[1])])
            memo = self._remembered = [key, X.copy(), y.copy(), rows, None] if fixed else None
        right = np.mean([np.asarray(model.predict(rows)).reshape(n + 1, len(y)) == y
                         for _ in range(n_queries)], axis=0)  # [n + 1, n_rows]
        if not hasattr(self, "references_") or not self.n_references:
            return right.mean(axis=0)
        refs = self.references_
        if defense is None and memo is not None and memo[4] is not None:
            return right.mean(axis=0) - memo[4]
        if defense is None:
            ref_labels = refs.classes_[refs.predict_proba(rows).argmax(-1)][None]
        else:
            ref_labels = np.array([[np.asarray(defense(refs.model(k)).predict(rows)) for k in range(len(refs))]
                                   for _ in range(n_queries)])
        ref_share = (ref_labels.reshape(-1, len(refs), n + 1, len(y)) == y).mean(axis=(0, 1, 2))
        if defense is None and memo is not None:
            memo[4] = ref_share
        return right.mean(axis=0) - ref_share


class LabelsOnlyAPI:
    """What a label-only attacker can reach: ``predict`` and nothing else of ``model``.

    Introduced in notebooks/05_label_only_attacks.ipynb."""

    def __init__(self, model: LabelModel) -> None:
        check_model(model, method="predict")
        self._model = model

    def predict(self, X: ArrayLike) -> np.ndarray:
        """The predicted labels of ``X``; confidences stay hidden."""
        return self._model.predict(X)
