import inspect
import math

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mia_course.attacks import (ConfidenceThresholdAttack, LossThresholdAttack, ShadowModelAttack,
                                best_threshold, cross_entropy_loss, true_class_probability)
from mia_course.metrics import roc_auc
from mia_course.models import TorchMLPClassifier
from helpers import Recorder

TABLE = [[0.2, 0.8], [0.6, 0.4], [1.0, 0.0], [0.5, 0.5]]
LR = LogisticRegression(max_iter=300)


def logit(p):
    return math.log(p) - math.log(1 - p)


def rows(*idx):
    """Records whose first feature selects a row of the TableModel's table."""
    return np.c_[np.array(idx, dtype=np.float32), np.zeros(len(idx), np.float32)]


def test_scores_on_a_mock_table_model(table_model):
    model = table_model(TABLE, classes=[3, 7])
    X, y = rows(0, 0, 1, 2, 3), np.array([7, 3, 3, 3, 7])
    np.testing.assert_allclose(true_class_probability(model, X, y), [0.8, 0.2, 0.6, 1.0, 0.5])
    np.testing.assert_allclose(LossThresholdAttack().score_samples(model, X, y),
                               [math.log(p) for p in [0.8, 0.2, 0.6, 1.0, 0.5]])
    conf = ConfidenceThresholdAttack().score_samples(model, X, y)  # logit of top probability
    np.testing.assert_allclose(conf[[0, 1, 2, 4]], [logit(0.8), logit(0.8), logit(0.6), 0.0])
    assert np.isfinite(conf[3]) and conf[3] > logit(1 - 1e-12)  # top = 1: finite, largest
    # probability 0 on the true label: the loss is large but finite
    loss = cross_entropy_loss(model, rows(2), [7])[0]
    assert np.isfinite(loss) and loss >= -math.log(1e-12)
    # a list of classes and no classes_ at all (then columns are 0, 1, ...)
    model.classes_ = [3, 7]
    np.testing.assert_allclose(true_class_probability(model, rows(1), [7]), [0.4])
    np.testing.assert_allclose(true_class_probability(table_model(TABLE), rows(1), [1]), [0.4])


@pytest.mark.parametrize("y", [[5], [1], [10], [-2]])
def test_true_class_probability_unknown_label(table_model, y):
    with pytest.raises(ValueError, match="y"):
        true_class_probability(table_model(TABLE, classes=[3, 7]), rows(0), y)


def test_loss_and_confidence_match_row_by_row_loops(small_model, ad):
    X, y = ad.X[190:230], ad.y[190:230]
    P = small_model.predict_proba(X)  # one batch query; the references below loop over rows
    classes = list(small_model.classes_)
    loss = [-math.log(P[i][classes.index(y[i])]) for i in range(len(y))]
    top = [max(P[i]) for i in range(len(y))]
    np.testing.assert_allclose(LossThresholdAttack().score_samples(small_model, X, y), np.negative(loss),
                               rtol=1e-9)
    np.testing.assert_allclose(cross_entropy_loss(small_model, X, y), loss, rtol=1e-9)
    conf = ConfidenceThresholdAttack().score_samples(small_model, X, y)
    np.testing.assert_allclose(conf, [logit(p) for p in top], rtol=1e-9)
    assert list(np.argsort(conf, kind="stable")) == list(np.argsort(top, kind="stable"))


def brute_force_advantage(ins, outs):
    cands = list(np.unique(np.r_[ins, outs])) + [max(max(ins), max(outs)) + 1]
    return max(np.mean(ins >= t) - np.mean(outs >= t) for t in cands)


@pytest.mark.parametrize("seed", range(5))
def test_best_threshold_vs_brute_force(seed):
    rng = np.random.default_rng(seed)
    ins = np.round(rng.normal(0.5 * (seed - 2), 1, 25), 1)  # seed 0: out scores higher
    outs = np.round(rng.normal(0, 1, 30), 1)
    t = best_threshold(ins, outs)
    assert np.mean(ins >= t) - np.mean(outs >= t) == pytest.approx(brute_force_advantage(ins, outs))


def test_best_threshold_edge_cases():
    assert best_threshold([3.0, 4.0], [1.0, 2.0]) == 3.0
    t = best_threshold([0.0, 1.0], [5.0, 6.0])  # nothing separates: flag nobody
    assert t > 6.0


@pytest.mark.parametrize("attack_cls", [LossThresholdAttack, ConfidenceThresholdAttack])
def test_threshold_attack_fit_and_predict(attack_cls, ad, table_model):
    assert list(inspect.signature(attack_cls.fit).parameters) == ["self", "X_aux", "y_aux"]
    X, y = ad.X[:80], ad.y[:80]
    a = attack_cls(shadow_model=LR, random_state=0).fit(X, y)
    b = attack_cls(shadow_model=LR, random_state=0).fit(X, y)
    assert a.threshold_ == b.threshold_ and np.isfinite(a.threshold_)
    model = table_model(TABLE, classes=[0, 1])
    Xq, yq = rows(0, 1, 3, 0), np.array([1, 0, 1, 0])
    s = a.score_samples(model, Xq, yq)
    a.threshold_ = float(s[1])  # a score exactly at the threshold counts as a member
    np.testing.assert_array_equal(a.predict(model, Xq, yq), s >= s[1])
    assert a.predict(model, Xq, yq)[1]
    fixed = attack_cls(threshold=0.55).fit(None, None)  # a given threshold needs no data
    assert fixed.threshold_ == 0.55
    np.testing.assert_array_equal(fixed.predict(model, Xq, yq), s >= 0.55)


def test_loss_attack_beats_guessing_on_overfit_target(overfit):
    model, X_tr, y_tr, X_te, y_te = overfit
    scores = LossThresholdAttack().score_samples(model, np.r_[X_tr, X_te], np.r_[y_tr, y_te])
    assert roc_auc(np.r_[np.ones(len(y_tr)), np.zeros(len(y_te))], scores) > 0.6


@pytest.fixture(scope="module")
def shadow_attack(ad):
    X, y = ad.X[:60], ad.y[:60]
    return ShadowModelAttack(shadow_model=LR, n_shadows=3, attack_model=LogisticRegression(),
                             random_state=0).fit(X, y), X, y


def test_shadow_attack_data_matches_row_by_row_rebuild(shadow_attack):
    attack, X, y = shadow_attack
    n = len(y)
    exp_X, exp_y, exp_class = [], [], []
    for k in range(3):  # the k-th block of n rows comes from shadow k
        inside = attack.attack_y_[k * n:(k + 1) * n].astype(bool)
        assert inside.sum() == n // 2
        shadow = LogisticRegression(max_iter=300).fit(X[inside], y[inside])  # deterministic
        P = shadow.predict_proba(X)
        for i in range(n):
            exp_X.append(P[i])
            exp_y.append(inside[i])
            exp_class.append(y[i])
    np.testing.assert_allclose(attack.attack_X_, np.array(exp_X))
    np.testing.assert_array_equal(attack.attack_y_, exp_y)
    np.testing.assert_array_equal(attack.attack_class_, exp_class)
    assert len({attack.attack_y_[k * n:(k + 1) * n].tobytes() for k in range(3)}) == 3  # new halves


def test_shadow_attack_scores_use_the_class_attack_model(shadow_attack, small_model, ad):
    attack, _, _ = shadow_attack
    X, y = ad.X[150:190], ad.y[150:190]
    scores = attack.score_samples(small_model, X, y)
    P = small_model.predict_proba(X)
    for i in range(len(y)):
        expected = attack.attack_models_[y[i]].predict_proba(P[i:i + 1])[0, 1]
        assert scores[i] == pytest.approx(expected, rel=1e-9)
    np.testing.assert_array_equal(attack.predict(small_model, X, y), scores >= 0.5)
    y_unseen = np.full(len(y), 2)  # a class without attack model: no information, 0.5
    np.testing.assert_array_equal(attack.score_samples(small_model, X, y_unseen), 0.5)


def test_shadow_attack_deterministic_and_seeded(ad):
    X, y = ad.X[:60], ad.y[:60]
    shadow = TorchMLPClassifier(hidden_sizes=(8,), epochs=2)
    fits = [ShadowModelAttack(shadow_model=shadow, n_shadows=2, random_state=rs).fit(X, y)
            for rs in (0, 0, 1)]
    np.testing.assert_array_equal(fits[0].attack_X_, fits[1].attack_X_)
    np.testing.assert_array_equal(fits[0].score_samples(shadow.fit(X, y), X, y),
                                  fits[1].score_samples(shadow, X, y))
    assert not np.array_equal(fits[0].attack_X_, fits[2].attack_X_)


def test_shadow_attack_other_models(ad):
    X, y = ad.X[:40], ad.y[:40]
    a = ShadowModelAttack(shadow_model=make_pipeline(StandardScaler(), LR), n_shadows=1,
                          attack_model=RandomForestClassifier(n_estimators=3), random_state=0).fit(X, y)
    assert set(a.attack_models_) == {0, 1}
    t = LossThresholdAttack(shadow_model=make_pipeline(StandardScaler(), LR), random_state=0)
    assert np.isfinite(t.fit(X, y).threshold_)




@pytest.mark.parametrize("make, args, err, match", [
    (lambda: ShadowModelAttack(Recorder(), n_shadows=0), None, ValueError, "n_shadows"),
    (lambda: ShadowModelAttack(Recorder(), n_shadows=2.0), None, TypeError, "n_shadows"),
    (lambda: ShadowModelAttack(Recorder(), n_shadows="3"), None, TypeError, "n_shadows"),
    (lambda: ShadowModelAttack(Recorder(), n_shadows=2), (np.full((6, 2), np.nan), [0, 1] * 3),
     ValueError, "X_aux"),
    (lambda: ShadowModelAttack(Recorder(), n_shadows=2), (np.eye(3), [0, 1, 0]), ValueError, "X_aux"),
    (lambda: ShadowModelAttack(Recorder(), n_shadows=2), (np.eye(6), [0, 1] * 2), ValueError, "y_aux"),
    (lambda: LossThresholdAttack(Recorder()), (np.eye(6), [0, 1, 0.5, 1, 0, 1]), ValueError, "y_aux"),
    (lambda: LossThresholdAttack(Recorder()), (np.zeros(6), [0, 1] * 3), ValueError, "X_aux"),
    (lambda: ConfidenceThresholdAttack(Recorder()), (np.eye(2), [0, 1]), ValueError, "X_aux"),
    (lambda: LossThresholdAttack(threshold="high"), None, TypeError, "threshold"),
    (lambda: LossThresholdAttack(threshold=float("nan")), None, ValueError, "threshold"),
])
def test_fit_bad_inputs_raise_before_training(make, args, err, match):
    Recorder.calls.clear()
    with pytest.raises(err, match=match):
        make().fit(*(args or (np.eye(6), [0, 1] * 3)))
    assert Recorder.calls == []


ATTACKS = {"loss": LossThresholdAttack(threshold=0.0).fit(None, None).score_samples,
           "confidence": ConfidenceThresholdAttack().score_samples,
           "true_class_probability": true_class_probability,
           "cross_entropy_loss": cross_entropy_loss}


@pytest.mark.parametrize("func", ATTACKS.values(), ids=ATTACKS.keys())
@pytest.mark.parametrize("model, X, y, err, match", [
    (object(), rows(0, 1), [0, 1], TypeError, "model"),
    (None, rows(0, 1), [0, 1], TypeError, "model"),
    ("table", rows(0, 1)[:, 0], [0, 1], ValueError, "X"),
    ("table", np.zeros((0, 2)), [], ValueError, "X"),
    ("table", np.array([[0, np.nan]]), [0], ValueError, "X"),
    ("table", "X", [0], TypeError, "X"),
    ("table", rows(0, 1), [0], ValueError, "y"),
    ("table", rows(0, 1), [0, 0.5], ValueError, "y"),
    ("table", rows(0, 1), [0, np.nan], ValueError, "y"),
    ("table", rows(0, 1), None, TypeError, "y"),
])
def test_scoring_bad_inputs(func, model, X, y, err, match, table_model):
    model = table_model(TABLE, classes=[0, 1]) if model == "table" else model
    with pytest.raises(err, match=match):
        func(model, X, y)


def test_unfitted_attacks_and_class_mismatch(table_model, shadow_attack):
    model = table_model(TABLE, classes=[0, 1])
    with pytest.raises(NotFittedError, match="fit"):
        LossThresholdAttack().predict(model, rows(0), [0])
    with pytest.raises(NotFittedError, match="fit"):
        ShadowModelAttack().score_samples(model, rows(0), [0])
    three = table_model([[0.2, 0.3, 0.5]], classes=[0, 1, 2])
    with pytest.raises(ValueError, match="model"):
        shadow_attack[0].score_samples(three, rows(0), [0])


@pytest.mark.parametrize("ins, outs, err, match", [
    ([], [1.0], ValueError, "in_scores"),
    ([1.0], [], ValueError, "out_scores"),
    ([np.nan], [1.0], ValueError, "in_scores"),
    ([1.0], "ab", TypeError, "out_scores"),
    ([[1.0]], [1.0], ValueError, "in_scores"),
])
def test_best_threshold_bad_inputs(ins, outs, err, match):
    with pytest.raises(err, match=match):
        best_threshold(ins, outs)


class OpenMPThreadsSeen(LogisticRegression):
    """An attack model that records how many OpenMP threads it may use while it fits / answers."""
    seen = []

    def _record(self):
        from threadpoolctl import threadpool_info
        OpenMPThreadsSeen.seen += [i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp"]

    def fit(self, X, y):
        self._record()
        return super().fit(X, y)

    def predict_proba(self, X):
        self._record()
        return super().predict_proba(X)


def test_shadow_attack_models_run_on_one_openmp_thread(ad):
    """The attack models fit (and answer) on one OpenMP thread: on a few features, the default
    HistGradientBoosting fits 8x faster so, and leaves a busy laptop's other core alone."""
    from threadpoolctl import threadpool_info
    if not any(i["user_api"] == "openmp" for i in threadpool_info()):
        pytest.skip("no OpenMP runtime loaded")
    X, y = ad.X[:60], ad.y[:60]
    OpenMPThreadsSeen.seen = []
    attack = ShadowModelAttack(shadow_model=LR, n_shadows=2, attack_model=OpenMPThreadsSeen(),
                               random_state=0).fit(X, y)
    attack.score_samples(LogisticRegression().fit(X, y), X, y)
    assert OpenMPThreadsSeen.seen and set(OpenMPThreadsSeen.seen) == {1}
