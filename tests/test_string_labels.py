"""Attacks take any class labels: a model fitted on "click"/"no-click" is attacked through its
``classes_`` and gets exactly the scores of the same model fitted on 0/1 labels."""
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from mia_course.attacks import ConfidenceThresholdAttack, LossThresholdAttack
from mia_course.data import make_ad_clicks
from mia_course.label_only import LabelOnlyAttack
from mia_course.lira import LiRA
from mia_course.rmia import RMIA

NAMES = np.array(["no-click", "click"])  # 0 -> "no-click", 1 -> "click": sorted order differs


@pytest.fixture(scope="module")
def data():
    d = make_ad_clicks(600, random_state=0)
    X, y = d.X.astype(np.float64), d.y.astype(int)
    return X, y, NAMES[y]


def attack_pairs():
    return [
        ("loss", lambda: LossThresholdAttack(), False),
        ("confidence", lambda: ConfidenceThresholdAttack(), False),
        ("lira", lambda: LiRA(shadow_model=LogisticRegression(), n_shadows=4, random_state=0), True),
        ("lira offline", lambda: LiRA(shadow_model=LogisticRegression(), n_shadows=4, online=False,
                                      random_state=0), True),
        ("rmia", lambda: RMIA(reference_model=LogisticRegression(), n_references=2, random_state=0), True),
        ("label-only", lambda: LabelOnlyAttack(n_perturbations=8, random_state=0), False),
        ("label-only calibrated", lambda: LabelOnlyAttack(n_perturbations=8, n_references=2,
                                                          reference_model=LogisticRegression(),
                                                          random_state=0), True),
    ]


@pytest.mark.parametrize("name,make,needs_fit", attack_pairs(), ids=[a[0] for a in attack_pairs()])
def test_string_labels_give_the_scores_of_integer_labels(data, name, make, needs_fit):
    X, y, names = data
    X_train, X_eval = X[:300], X[:600]
    # the integer model's class 1 is "click", which sorts first among the names: compare with
    # the integer labels that order the classes the same way
    y_int = (names == "no-click").astype(int)
    target_int = LogisticRegression().fit(X_train, y_int[:300])
    target_str = LogisticRegression().fit(X_train, names[:300])
    assert list(target_str.classes_) == ["click", "no-click"]
    a_int, a_str = make(), make()
    if needs_fit:
        a_int.fit(X, y_int)
        a_str.fit(X, names)
    s_int = a_int.score_samples(target_int, X_eval, y_int)
    s_str = a_str.score_samples(target_str, X_eval, names)
    assert np.isfinite(s_str).all()
    np.testing.assert_allclose(s_str, s_int, rtol=1e-9, atol=1e-12)
    assert np.std(s_int) > 0  # the scores say something


def test_threshold_attack_fits_on_string_labels(data):
    X, _, names = data
    attack = LossThresholdAttack(shadow_model=LogisticRegression(), random_state=0).fit(X, names)
    target = LogisticRegression().fit(X[:300], names[:300])
    assert attack.predict(target, X, names).dtype == bool


def test_outside_models_get_x_unchanged(data):
    X, _, names = data
    seen = []

    class Spy(LogisticRegression):
        def predict_proba(self, X):
            seen.append(np.asarray(X).dtype)
            return super().predict_proba(X)

    target = Spy().fit(X[:300], names[:300])
    LossThresholdAttack().score_samples(target, X, names)
    ConfidenceThresholdAttack().score_samples(target, X, names)
    assert seen and all(d == np.float64 for d in seen)


def test_unknown_string_label_is_a_value_error(data):
    X, _, names = data
    target = LogisticRegression().fit(X[:300], names[:300])
    with pytest.raises(ValueError, match="y"):
        LossThresholdAttack().score_samples(target, X[:3], np.array(["click", "maybe", "click"]))
