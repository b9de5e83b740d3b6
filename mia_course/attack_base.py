"""One contract for every membership inference attack: ``MembershipAttack``.

Introduced in notebooks/02_threshold_attacks_and_metrics.ipynb.

An attack is a scikit-learn estimator. ``fit`` (where the attack needs it) uses only the
attacker's own data; ``score_samples(model, X, y)`` gives one score per row, higher = more
likely a member of ``model``'s training set; ``predict(model, X, y, threshold=None)`` flags
the rows whose score reaches a threshold. The base class owns the checks every attack needs,
written once: the attacked model provides what the attack queries (``requires``:
``"predict_proba"``, or ``"predict"`` for a label-only attacker), and the attack is fitted
before it scores (scikit-learn's ``NotFittedError``). A subclass implements one hook,
``_score_samples(model, X, y)``.
"""
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from mia_course.shadows import default_shadow_model
from mia_course.hints import ArrayLike, AttackedModel, Estimator


class MembershipAttack(BaseEstimator):
    """Base class of the course's attacks (see the module docstring for the contract).

    Class attributes a subclass sets: ``requires`` (the method it calls on the attacked model),
    ``fitted_attribute`` (what ``fit`` sets; None when the attack needs no ``fit``) and
    ``fit_signature`` (how ``fit`` is called, for the error message).
    Introduced in notebooks/02_threshold_attacks_and_metrics.ipynb.
    """

    requires: str = "predict_proba"
    fitted_attribute: str | None = None
    fit_signature: str = "fit(X, y)"

    def score_samples(self, model: AttackedModel, X: ArrayLike, y: ArrayLike) -> np.ndarray:
        """One score per row of ``X``: higher = more likely a member of ``model``'s training set."""
        self.check_attacked_model(model)
        if self.needs_fit_to_score():
            self.check_fitted()
        return self._score_samples(model, X, y)

    def _score_samples(self, model, X, y):
        raise NotImplementedError(f"{type(self).__name__} must implement _score_samples(model, X, y)")

    def predict(self, model: AttackedModel, X: ArrayLike, y: ArrayLike, threshold: float | None = None) -> np.ndarray:
        """True where the score reaches ``threshold`` (predicted member); None: the attack's
        own ``decision_threshold()``."""
        threshold = self.decision_threshold() if threshold is None else threshold
        return self.score_samples(model, X, y) >= threshold

    def decision_threshold(self) -> float:
        """The score at which the attack says "member" (subclasses with a natural one override)."""
        raise ValueError(f"threshold: {type(self).__name__} has no built-in threshold; pass "
                         "predict(model, X, y, threshold=...), e.g. one chosen at a target FPR")

    def needs_fit_to_score(self) -> bool:
        """Whether ``score_samples`` needs ``fit`` first (True when there is a fitted attribute)."""
        return self.fitted_attribute is not None

    def check_fitted(self) -> None:
        """``NotFittedError`` (scikit-learn's) unless ``fit`` has run."""
        check_is_fitted(self, self.fitted_attribute,
                        msg=f"{type(self).__name__}: call {self.fit_signature} first (not fitted yet)")

    def check_attacked_model(self, model: AttackedModel, name: str = "model") -> AttackedModel:
        """TypeError, before any work, unless ``model`` provides ``self.requires``."""
        if not callable(getattr(model, self.requires, None)):
            hint = (" (a model that answers only labels can be attacked with LabelOnlyAttack)"
                    if self.requires == "predict_proba" else "")
            raise TypeError(f"{name}: {type(self).__name__} queries the attacked model's "
                            f"{self.requires}(); got {type(model).__name__}, which has none{hint}")
        return model

    def shadow_estimator(self, estimator: Estimator | None) -> Estimator:
        """``estimator``, or the course's default shadow/reference model when it is None."""
        return default_shadow_model() if estimator is None else estimator

