import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mia_course.models import TorchMLPClassifier
from mia_course.nets import build_mlp, seed_from

FAST = dict(hidden_sizes=(16,), epochs=3)


def test_params_clone_and_set_params():
    m = TorchMLPClassifier(hidden_sizes=(8, 4), epochs=2, dropout=0.1, random_state=3)
    params = m.get_params()
    assert params["hidden_sizes"] == (8, 4) and params["epochs"] == 2
    assert set(params) >= {"hidden_sizes", "epochs", "lr", "batch_size", "weight_decay",
                           "dropout", "random_state", "device"}
    c = clone(m)
    assert c is not m and c.get_params() == params
    assert m.set_params(epochs=5, lr=0.01) is m
    assert m.epochs == 5 and m.lr == 0.01 and c.epochs == 2


def test_fit_returns_self_and_sets_trailing_underscore_attrs(ad):
    m = TorchMLPClassifier(random_state=0, **FAST)
    assert not [k for k in vars(m) if k.endswith("_")]
    with pytest.raises(NotFittedError):
        m.predict_proba(ad.X[:3])
    assert m.fit(ad.X[:100], ad.y[:100]) is m
    assert {"classes_", "n_features_in_", "net_"} <= set(vars(m))
    np.testing.assert_array_equal(m.classes_, [0, 1])
    assert m.n_features_in_ == ad.X.shape[1]


def test_predict_proba_and_predict(small_model, ad):
    P = small_model.predict_proba(ad.X[200:260])
    assert P.shape == (60, 2) and np.all(P >= 0) and np.all(P <= 1)
    np.testing.assert_allclose(P.sum(1), 1.0, atol=1e-9)
    np.testing.assert_array_equal(small_model.predict(ad.X[200:260]), small_model.classes_[P.argmax(1)])


def test_arbitrary_class_labels(ad):
    X, y = ad.X[:120], ad.y[:120]
    m01 = TorchMLPClassifier(random_state=0, **FAST).fit(X, y)
    m37 = TorchMLPClassifier(random_state=0, **FAST).fit(X, np.where(y == 1, 7, 3))
    np.testing.assert_array_equal(m37.classes_, [3, 7])
    np.testing.assert_allclose(m37.predict_proba(X), m01.predict_proba(X))  # same columns order
    np.testing.assert_array_equal(m37.predict(X), np.where(m01.predict(X) == 1, 7, 3))


def test_three_classes(ad):
    y = ad.segment[:150] % 3
    m = TorchMLPClassifier(random_state=0, **FAST).fit(ad.X[:150], y)
    assert m.predict_proba(ad.X[:5]).shape == (5, 3)
    assert set(m.predict(ad.X[:150])) <= {0, 1, 2}


def test_defaults_overfit_visibly(overfit):
    model, X_tr, y_tr, X_te, y_te = overfit
    train_acc, test_acc = model.score(X_tr, y_tr), model.score(X_te, y_te)
    assert train_acc >= 0.97
    assert test_acc <= train_acc - 0.1


def test_same_seed_same_model_other_seed_differs(ad):
    X, y = ad.X[:100], ad.y[:100]
    a = TorchMLPClassifier(random_state=5, dropout=0.2, **FAST).fit(X, y).predict_proba(X)
    b = TorchMLPClassifier(random_state=5, dropout=0.2, **FAST).fit(X, y).predict_proba(X)
    c = TorchMLPClassifier(random_state=6, dropout=0.2, **FAST).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_fit_leaves_torch_global_rng_and_threads_alone(ad):
    torch.manual_seed(123)
    state, threads = torch.get_rng_state(), torch.get_num_threads()
    TorchMLPClassifier(random_state=0, n_threads=2, **FAST).fit(ad.X[:50], ad.y[:50])
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.get_num_threads() == threads


def test_in_a_pipeline(ad):
    pipe = make_pipeline(StandardScaler(), TorchMLPClassifier(random_state=0, **FAST))
    pipe.fit(ad.X[:200], ad.y[:200])
    P = pipe.predict_proba(ad.X[200:])
    assert P.shape == (200, 2)
    np.testing.assert_array_equal(pipe.predict(ad.X[200:]), pipe.classes_[P.argmax(1)])
    assert pipe.score(ad.X[:200], ad.y[:200]) > 0.6
    assert clone(pipe).get_params()["torchmlpclassifier__epochs"] == 3


def test_regularization_knobs_and_int_hidden_size(ad):
    m = TorchMLPClassifier(hidden_sizes=8, epochs=2, dropout=0.5, weight_decay=1e-3,
                           random_state=0).fit(ad.X[:80], ad.y[:80])
    np.testing.assert_allclose(m.predict_proba(ad.X[:10]).sum(1), 1.0)
    layers = [type(layer).__name__ for layer in m.net_]
    assert layers == ["Linear", "ReLU", "Dropout", "Linear"]
    assert [type(layer).__name__ for layer in build_mlp(4, (3, 2), 2)] == \
        ["Linear", "ReLU", "Linear", "ReLU", "Linear"]


def test_seed_from():
    assert seed_from(3) == seed_from(3)
    assert seed_from(np.random.RandomState(3)) == seed_from(3)
    assert 0 <= seed_from(None) < 2**31 - 1


@pytest.mark.parametrize("params, err, match", [
    (dict(epochs=2.5), TypeError, "epochs"),
    (dict(epochs=0), ValueError, "epochs"),
    (dict(epochs="3"), TypeError, "epochs"),
    (dict(dropout=-0.1), ValueError, "dropout"),
    (dict(dropout=1.0), ValueError, "dropout"),
    (dict(lr=0.0), ValueError, "lr"),
    (dict(lr=float("nan")), ValueError, "lr"),
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(batch_size=8.0), TypeError, "batch_size"),
    (dict(weight_decay=-1e-4), ValueError, "weight_decay"),
    (dict(hidden_sizes="16"), TypeError, "hidden_sizes"),
    (dict(hidden_sizes=(16, 0)), ValueError, "hidden_sizes"),
    (dict(hidden_sizes=(8.5,)), TypeError, "hidden_sizes"),
    (dict(n_threads=0), ValueError, "n_threads"),
    (dict(n_threads=1.5), TypeError, "n_threads"),
])
def test_bad_params_raise_before_any_work(params, err, match, ad):
    m = TorchMLPClassifier(**params)
    with pytest.raises(err, match=match):
        m.fit(ad.X[:20], ad.y[:20])
    assert not hasattr(m, "classes_") and not hasattr(m, "net_")


@pytest.mark.parametrize("X, y, err, match", [
    (np.zeros(10), np.zeros(10), ValueError, "X"),                      # 1-D
    (np.zeros((0, 3)), np.zeros(0), ValueError, "X"),                   # empty
    (np.array([[0.0, np.nan], [1.0, 0.0]]), [0, 1], ValueError, "X"),
    ("abc", [0, 1], TypeError, "X"),
    (None, [0, 1], TypeError, "X"),
    (np.eye(4), [0, 1, 1], ValueError, "y"),                            # length mismatch
    (np.eye(4), [0, 0, 0, 0], ValueError, "y"),                         # one class
    (np.eye(4), [0, 0.5, 1, 1], ValueError, "y"),                       # not integer
    (np.eye(4), [0, np.nan, 1, 1], ValueError, "y"),
    (np.eye(4), [[0, 1], [1, 0], [0, 1], [1, 0]], ValueError, "y"),
])
def test_fit_bad_data(X, y, err, match):
    m = TorchMLPClassifier(**FAST)
    with pytest.raises(err, match=match):
        m.fit(X, y)
    assert not hasattr(m, "net_")


@pytest.mark.parametrize("X, match", [
    (np.zeros((3, 5)), "X: expected 60 features"),
    (np.full((2, 60), np.nan), "X"),
    (np.zeros(60), "X"),
])
@pytest.mark.parametrize("method", ["predict", "predict_proba"])
def test_predict_bad_data(small_model, method, X, match):
    with pytest.raises(ValueError, match=match):
        getattr(small_model, method)(X)
