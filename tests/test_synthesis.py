import numpy as np
import pytest

from mia_course.synthesis import synthesize_records

N_FEATURES = 12


class OnesModel:
    """Deterministic mock target: P(class 1) = sigmoid(#ones - 6); counts what it is sent."""

    def __init__(self, classes=(0, 1)):
        self.classes_ = np.asarray(classes)
        self.rows_sent = 0
        self.calls = 0

    def predict_proba(self, X):
        X = np.asarray(X)
        assert X.ndim == 2 and X.shape[1] == N_FEATURES
        self.rows_sent += len(X)
        self.calls += 1
        p1 = 1 / (1 + np.exp(-(X.sum(axis=1) - N_FEATURES / 2)))
        return np.c_[1 - p1, p1]


def synth(model=None, **kw):
    kw = {"n_records": 5, "n_features": N_FEATURES, "conf_min": 0.8, "random_state": 0, **kw}
    model = OnesModel() if model is None else model
    return (*synthesize_records(model, **kw), model)


def test_records_are_confidently_classified_as_wanted():
    X, y, n_queries, model = synth(conf_min=0.8)
    assert X.dtype == np.float32 and X.shape == (10, N_FEATURES)
    assert set(np.unique(X)) <= {0.0, 1.0}
    np.testing.assert_array_equal(y, [0] * 5 + [1] * 5)
    model_check = OnesModel()
    P = model_check.predict_proba(X)
    assert np.all(P[np.arange(len(y)), y] > 0.8)
    np.testing.assert_array_equal(P.argmax(1), y)
    assert len(np.unique(X, axis=0)) > 2  # not one record repeated


def test_respects_n_records_and_arbitrary_classes():
    X, y, _, _ = synth(model=OnesModel(classes=(3, 7)), n_records=3)
    assert len(X) == len(y) == 6
    np.testing.assert_array_equal(np.sort(np.unique(y)), [3, 7])
    P = OnesModel().predict_proba(X)
    assert np.all(P[np.arange(6), (y == 7).astype(int)] > 0.8)


def test_deterministic_per_seed():
    X1, y1, q1, _ = synth(random_state=4)
    X2, y2, q2, _ = synth(random_state=4)
    X3, _, _, _ = synth(random_state=5)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert q1 == q2
    assert not np.array_equal(X1, X3)


def test_n_queries_counts_rows_sent():
    _, _, n_queries, model = synth()
    assert n_queries == model.rows_sent > 0
    # one step only: each class sends its n_records starting records once
    X, _, n_queries, model = synth(max_steps=1, conf_min=0.99)
    assert n_queries == model.rows_sent == 2 * 5 and model.calls == 2
    assert len(X) <= 10


def test_unreachable_confidence_gives_no_records():
    X, y, n_queries, model = synth(conf_min=1.0, max_steps=3)
    assert X.shape == (0, N_FEATURES) and len(y) == 0
    assert n_queries == model.rows_sent == 2 * 3 * 5


@pytest.mark.parametrize("kwargs, err, match", [
    (dict(model=object()), TypeError, "model"),
    (dict(n_records=0), ValueError, "n_records"),
    (dict(n_records=2.5), TypeError, "n_records"),
    (dict(n_features=0), ValueError, "n_features"),
    (dict(n_features="12"), TypeError, "n_features"),
    (dict(conf_min=1.5), ValueError, "conf_min"),
    (dict(conf_min=-0.1), ValueError, "conf_min"),
    (dict(conf_min=float("nan")), ValueError, "conf_min"),
    (dict(density=2.0), ValueError, "density"),
    (dict(k_max=0), ValueError, "k_max"),
    (dict(k_max=N_FEATURES + 1), ValueError, "k_max"),
    (dict(k_max=3, k_min=4), ValueError, "k_min"),
    (dict(k_min=0), ValueError, "k_min"),
    (dict(rej_max=0), ValueError, "rej_max"),
    (dict(max_steps=0), ValueError, "max_steps"),
    (dict(max_steps=1.0), TypeError, "max_steps"),
])
def test_bad_inputs_raise_before_any_query(kwargs, err, match):
    model = kwargs.pop("model", None) or OnesModel()
    with pytest.raises(err, match=match):
        synth(model=model, **kwargs)
    assert getattr(model, "rows_sent", 0) == 0


def test_flipping_all_chains_at_once_draws_what_rng_choice_draws():
    """The search flips k[i] distinct features of every chain at once, from permutations: the
    same draws, in the same order, as the loop of rng.choice it replaced (so the records are
    the same as before, faster)."""
    from mia_course.synthesis import _flip
    n_features, k = 60, np.array([5, 1, 15, 3])
    x = (np.random.RandomState(1).random_sample((len(k), n_features)) < 0.3).astype(np.float32)
    rng = np.random.RandomState(7)
    slow = x.copy()
    for i, ki in enumerate(k):
        flip = rng.choice(n_features, size=ki, replace=False)
        slow[i, flip] = 1.0 - slow[i, flip]
    fast = _flip(x.copy(), k, np.random.RandomState(7))
    np.testing.assert_array_equal(fast, slow)
    np.testing.assert_array_equal((fast != x).sum(1), k)
