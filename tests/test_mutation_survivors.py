"""Tests for what a hand-made mutation run found untested (issue 21, section 7), and for early
stopping's held-out rows (section 3). Each test names the mutant it kills."""
import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils import check_random_state

from mia_course.audit import one_run_epsilon
from mia_course.canaries import one_run_audit
from mia_course.data import make_ad_clicks
from mia_course.experiments import make_target_setting
from mia_course.lira import LiRA, lira_scores
from mia_course.metrics import most_exposed
from mia_course.many_targets import train_targets_on
from mia_course.models import TorchMLPClassifier
from mia_course.privacy_sweeps import privacy_utility_targets


def test_one_run_audit_charges_delta_for_the_canaries_of_all_runs():
    """Mutant: delta's term counts one run's canaries (500) instead of all runs' (8,000),
    which claims more than is proven."""
    is_in = np.random.RandomState(0).random_sample((16, 500)) < 0.5
    eps, guesses, correct = one_run_audit(is_in.astype(float), is_in, 20, delta=1e-5)
    assert (guesses, correct) == (320, 320)
    assert eps == pytest.approx(one_run_epsilon(320, 320, delta=1e-5, n_canaries=16 * 500))
    overclaim = one_run_epsilon(320, 320, delta=1e-5, n_canaries=500)
    assert eps < overclaim - 0.1, "the test must tell the two counts apart"


class SaturatedClassifier(ClassifierMixin, BaseEstimator):
    """Answers probabilities down to 1e-19 (far below the attacks' floor of 1e-6), a
    deterministic function of the record and the seed."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.offset_ = check_random_state(self.random_state).randint(20)
        return self

    def predict_proba(self, X):
        k = (np.round(np.abs(np.asarray(X)).sum(1) * 7).astype(int) + self.offset_) % 20
        p = 10.0 ** -k
        return np.c_[p, 1 - p]


def test_lira_floors_the_target_and_the_shadows_alike():
    """Mutant: the target's probabilities are clipped at another floor than the shadows'
    (or not at all). A target that IS shadow 0 must then score exactly as shadow 0's own
    confidences do, even where its probabilities are far below the floor."""
    data = make_ad_clicks(200, random_state=0)
    lira = LiRA(shadow_model=SaturatedClassifier(), n_shadows=4, online=False, random_state=0).fit(data.X, data.y)
    phi, _ = lira.shadow_confidences(data.X, data.y)
    target = lira.shadows_.model(0)
    assert (target.predict_proba(data.X).min(1) < 1e-6).mean() > 0.5, "the test needs saturated answers"
    expected = lira_scores(phi[0], phi, np.zeros(phi.shape, bool), online=False, fixed_variance=lira.fixed_variance)
    np.testing.assert_array_equal(lira.score_samples(target, data.X, data.y), expected)
    assert np.abs(phi).max() == pytest.approx(-np.log(1e-6), rel=1e-6), "both sides are floored at 1e-6"


def test_most_exposed_ranks_members_and_flags_them_at_the_fpr_threshold():
    non_members = np.arange(10) / 10  # flags 10% of them: threshold 0.9, flagged strictly above
    members = np.array([0.95, 0.5, 0.99, 0.95, 0.9])
    scores = np.r_[members[:2], non_members[:5], members[2:], non_members[5:]]
    is_member = np.r_[np.ones(2, bool), np.zeros(5, bool), np.ones(3, bool), np.zeros(5, bool)]
    rows = most_exposed(is_member, scores, top=4, fpr=0.1)
    assert rows == [(7, 0.99, True), (0, 0.95, True), (8, 0.95, True), (9, 0.9, False)]
    assert len(most_exposed(is_member, scores, top=50)) == 5  # never more than the members
    assert [r[0] for r in most_exposed(is_member, -scores, top=1)] == [1]  # only members


def test_privacy_utility_targets_train_accuracy_is_on_the_members():
    """Mutant: "train accuracy" computed on the non-members. A fully grown tree fits its own
    training rows, and only those."""
    row, family = privacy_utility_targets(DecisionTreeClassifier(random_state=0), n_targets=2, n_members=150,
                                          n_held_out=9_850, random_state=0)  # 10,000 non-members: 0.1% FPR resolves
    assert row["train accuracy"] > 0.99
    assert row["train accuracy"] > row["test accuracy"] + 0.1


def test_early_stopping_validation_rows_are_not_members():
    """Early stopping trains on 90% of the rows it is given; the other 10% must be scored as
    non-members (and left out of the train accuracy)."""
    model = TorchMLPClassifier(early_stopping=True, epochs=3)
    setting = make_target_setting(200, 100, include_alice=False, model=model, random_state=0)
    held = setting.model.validation_rows_
    assert len(held) == 20 and setting.is_member.sum() == 180 and not setting.is_member[held].any()
    train_acc = np.mean(setting.model.predict(setting.X_train[setting.is_member[:200]])
                        == setting.y_train[setting.is_member[:200]])
    assert setting.accuracies()[0] == pytest.approx(train_acc)
    # the gap attack flags the correctly labelled: its TPR and FPR are the two accuracies
    correct = setting.model.predict(setting.X_eval) == setting.y_eval
    assert setting.accuracies() == pytest.approx((correct[setting.is_member].mean(),
                                                  correct[~setting.is_member].mean()))

    data = make_ad_clicks(120, random_state=1)
    family = train_targets_on(model, data.X, data.y, n_targets=2, random_state=0)
    assert family.masks.sum(1).tolist() == [54, 54]  # 60 given to each, 6 held out for validation
    for k in range(2):
        assert not family.masks[k][np.flatnonzero(~family.masks[k])].any()

    plain = train_targets_on(TorchMLPClassifier(epochs=2), data.X, data.y, n_targets=2, random_state=0)
    assert plain.masks.sum(1).tolist() == [60, 60]
