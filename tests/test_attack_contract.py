"""One contract for every attack (mia_course.attack_base.MembershipAttack): the base class,
"fit first" as scikit-learn's NotFittedError, what the attacked model must provide (checked
before any work), predict with the attack's or a given threshold, one default shadow model."""
import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression

from mia_course.attack_base import MembershipAttack
from mia_course.attacks import ConfidenceThresholdAttack, LossThresholdAttack, ShadowModelAttack
from mia_course.data import make_ad_clicks
from mia_course.label_only import LabelOnlyAttack
from mia_course.lira import LiRA
from mia_course.models import TorchMLPClassifier
from mia_course.rmia import RMIA
from mia_course.shadows import default_shadow_model

ATTACKS = [LossThresholdAttack, ConfidenceThresholdAttack, ShadowModelAttack, LiRA, RMIA, LabelOnlyAttack]


class Counting:
    """An attacked model that counts its queries (labels 0/1, constant probabilities)."""

    def __init__(self, proba=True):
        self.calls, self.classes_ = 0, np.array([0, 1])
        if proba:
            self.predict_proba = self._proba

    def _proba(self, X):
        self.calls += 1
        return np.tile([0.3, 0.7], (len(X), 1))

    def predict(self, X):
        self.calls += 1
        return np.ones(len(X), int)


@pytest.fixture(scope="module")
def data():
    d = make_ad_clicks(200, random_state=0)
    return d.X, d.y


@pytest.mark.parametrize("cls", ATTACKS, ids=lambda c: c.__name__)
def test_every_attack_is_a_membership_attack(cls):
    assert issubclass(cls, MembershipAttack) and issubclass(cls, BaseEstimator)
    assert cls.requires in ("predict_proba", "predict")
    assert "_score_samples" in vars(cls) or any("_score_samples" in vars(b) for b in cls.__mro__[1:-3])
    assert cls().get_params() == cls().get_params()  # constructor parameters still plain


@pytest.mark.parametrize("make", [ShadowModelAttack, LiRA, RMIA, lambda: LabelOnlyAttack(n_references=2)],
                         ids=["shadow", "lira", "rmia", "label-only"])
def test_scoring_before_fit_is_a_not_fitted_error_before_any_query(data, make):
    X, y = data
    model = Counting()
    with pytest.raises(NotFittedError, match="fit"):
        make().score_samples(model, X[:5], y[:5])
    assert model.calls == 0


def test_threshold_attacks_score_without_fit_and_predict_needs_it(data):
    X, y = data
    model = Counting()
    assert LossThresholdAttack().score_samples(model, X[:5], y[:5]).shape == (5,)
    calls = model.calls
    with pytest.raises(NotFittedError, match="fit"):
        LossThresholdAttack().predict(model, X[:5], y[:5])
    assert model.calls == calls  # the threshold is checked before any query
    ones = np.ones(5, int)  # the model gives label 1 probability 0.7: loss -log 0.7 = 0.357
    assert LossThresholdAttack(threshold=-0.5).fit(None, None).predict(model, X[:5], ones).all()
    assert not LossThresholdAttack(threshold=-0.3).fit(None, None).predict(model, X[:5], ones).any()
    assert not LossThresholdAttack().predict(model, X[:5], ones, threshold=0.0).any()


def test_attacks_without_a_natural_threshold_ask_for_one(data):
    X, y = data
    lira = LiRA(shadow_model=LogisticRegression(), n_shadows=4, random_state=0).fit(X, y)
    target = LogisticRegression().fit(X[:100], y[:100])
    with pytest.raises(ValueError, match="threshold"):
        lira.predict(target, X, y)
    scores = lira.score_samples(target, X, y)
    t = np.median(scores)
    np.testing.assert_array_equal(lira.predict(target, X, y, threshold=t), scores >= t)


@pytest.mark.parametrize("attack", [LossThresholdAttack(), ConfidenceThresholdAttack()],
                         ids=["loss", "confidence"])
def test_a_label_only_model_is_a_helpful_type_error(data, attack):
    X, y = data
    model = Counting(proba=False)
    with pytest.raises(TypeError, match="predict_proba.*LabelOnlyAttack"):
        attack.score_samples(model, X[:5], y[:5])
    assert model.calls == 0
    assert LabelOnlyAttack(n_perturbations=2).score_samples(model, X[:5], y[:5]).shape == (5,)


def test_one_default_shadow_model():
    assert type(default_shadow_model()) is TorchMLPClassifier
    assert default_shadow_model().get_params() == TorchMLPClassifier().get_params()
    assert type(MembershipAttack().shadow_estimator(None)) is TorchMLPClassifier
    lr = LogisticRegression()
    assert MembershipAttack().shadow_estimator(lr) is lr
