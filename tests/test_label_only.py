import inspect

import numpy as np
import pytest

from mia_course.data import make_ad_clicks
from mia_course.label_only import LabelOnlyAttack, perturb
from mia_course.metrics import roc_auc
from mia_course.models import TorchMLPClassifier


class LabelsOnly:
    """A target that answers labels only: a fixed linear rule (integer weights, so the same
    row gets the same label alone or in a batch); predict_proba must never be called."""

    def __init__(self, n_features, seed=0):
        self.w = np.random.RandomState(seed).randint(-2, 3, size=n_features).astype(np.float64)
        self.classes_ = np.array([0, 1])
        self.rows_predicted = 0

    def predict(self, X):
        X = np.asarray(X, dtype=np.float64)
        assert X.ndim == 2
        self.rows_predicted += len(X)
        return (X @ self.w > 0.5).astype(np.int64)

    def predict_proba(self, X):
        raise AssertionError("a label-only attack called predict_proba")


class Constant(LabelsOnly):
    def __init__(self, label):
        self.label, self.rows_predicted = label, 0

    def predict(self, X):
        self.rows_predicted += len(X)
        return np.full(len(X), self.label)


def slow_label_only(model, X, y, n, seed, n_flips=2, noise_scale=0.5):
    """One record and one perturbed copy at a time, from the same random draws."""
    rng = np.random.RandomState(seed)
    binary = np.isin(X, (0.0, 1.0)).all()
    if binary:  # per copy and row: a random key per feature; flip the n_flips smallest
        keys = rng.random_sample((n, len(X), X.shape[1]))
    else:
        noise = rng.normal(0.0, noise_scale, (n, len(X), X.shape[1])).astype(X.dtype)
    scores = []
    for i in range(len(X)):
        right = int(model.predict(X[i:i + 1])[0] == y[i])
        for c in range(n):
            x = X[i].copy()
            if binary:
                for j in np.argsort(keys[c, i])[:n_flips]:
                    x[j] = 1.0 - x[j]
            else:
                x = x + noise[c, i]
            right += int(model.predict(x[None])[0] == y[i])
        scores.append(right / (n + 1))
    return np.array(scores)


@pytest.mark.parametrize("n, n_flips", [(1, 1), (20, 1), (8, 2), (20, 5), (5, 100)])
def test_binary_scores_match_slow_reference(ad, n, n_flips):
    X, y = ad.X[:30], ad.y[:30]
    model = LabelsOnly(X.shape[1])
    scores = LabelOnlyAttack(n_perturbations=n, n_flips=n_flips, random_state=3).score_samples(model, X, y)
    assert model.rows_predicted == (n + 1) * len(y)  # the record and its n copies, nothing else
    np.testing.assert_array_equal(scores, slow_label_only(model, X, y, n, 3, n_flips=n_flips))
    assert 0 < scores.mean() < 1  # not a degenerate case


@pytest.mark.parametrize("noise_scale", [0.1, 1.0])
def test_continuous_scores_match_slow_reference(noise_scale):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(25, 6)).astype(np.float32)
    y = rng.randint(2, size=25)
    model = LabelsOnly(6, seed=1)
    attack = LabelOnlyAttack(n_perturbations=12, noise_scale=noise_scale, random_state=5)
    scores = attack.score_samples(model, X, y)
    np.testing.assert_array_equal(scores, slow_label_only(model, X, y, 12, 5, noise_scale=noise_scale))
    assert len(np.unique(scores)) > 3


@pytest.mark.parametrize("n", [1, 4, 10])
def test_score_range_and_granularity(small_model, ad, n):
    X, y = ad.X[150:250], ad.y[150:250]
    scores = LabelOnlyAttack(n_perturbations=n, random_state=0).score_samples(small_model, X, y)
    assert scores.shape == (100,) and scores.min() >= 0 and scores.max() <= 1
    steps = scores * (n + 1)
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-9)  # multiples of 1/(n + 1)
    assert len(np.unique(scores)) > 1


def test_always_right_scores_one_never_right_scores_zero(ad):
    X = ad.X[:20]
    attack = LabelOnlyAttack(n_perturbations=6, random_state=0)
    np.testing.assert_array_equal(attack.score_samples(Constant(1), X, np.ones(20, int)), 1.0)
    np.testing.assert_array_equal(attack.score_samples(Constant(1), X, np.zeros(20, int)), 0.0)
    only_the_record = LabelOnlyAttack(n_perturbations=3, n_flips=60, random_state=0)
    y = LabelsOnly(60).predict(X)  # right on every record; every copy flips all 60 sites
    expect = 1 / 4 + 3 / 4 * (LabelsOnly(60).predict(1 - X) == y)
    np.testing.assert_array_equal(only_the_record.score_samples(LabelsOnly(60), X, y), expect)


def test_never_calls_predict_proba_on_a_real_model(small_model, ad):
    class NoProba:
        classes_ = small_model.classes_

        def predict(self, X):
            return small_model.predict(X)

        def predict_proba(self, X):
            raise AssertionError("predict_proba called")

    X, y = ad.X[:40], ad.y[:40]
    a = LabelOnlyAttack(n_perturbations=5, random_state=1)
    np.testing.assert_array_equal(a.score_samples(NoProba(), X, y), a.score_samples(small_model, X, y))
    assert list(inspect.signature(LabelOnlyAttack.score_samples).parameters) == ["self", "model", "X", "y"]


@pytest.mark.parametrize("n_flips", [1, 3, 7])
def test_perturb_flips_exactly_n_distinct_bits(ad, n_flips):
    X = ad.X[:10]
    before = X.copy()
    copies = perturb(X, 9, np.random.RandomState(0), n_flips=n_flips)
    assert copies.shape == (9, 10, 60) and copies.dtype == X.dtype
    np.testing.assert_array_equal(X, before)  # the input is not modified
    assert np.isin(copies, (0.0, 1.0)).all()
    np.testing.assert_array_equal((copies != X).sum(axis=-1), n_flips)
    assert len({c.tobytes() for c in copies}) == 9  # copies differ from each other
    flipped = (copies != X).reshape(-1, 60).sum(axis=0)
    assert (flipped > 0).sum() > 30  # flips spread over many sites, not a fixed few
    np.testing.assert_array_equal(perturb(X, 2, np.random.RandomState(0), n_flips=100), 1 - np.stack([X, X]))


def test_perturb_adds_gaussian_noise_to_continuous_data():
    X = np.random.RandomState(0).normal(size=(10, 5)).astype(np.float32)
    X[0, 0] = 1.0  # a few 0/1 values do not make it binary
    copies = perturb(X, 400, np.random.RandomState(3), noise_scale=0.5)
    assert copies.shape == (400, 10, 5) and copies.dtype == np.float32
    noise = np.random.RandomState(3).normal(0.0, 0.5, (400, 10, 5)).astype(np.float32)
    np.testing.assert_array_equal(copies, X + noise)
    diff = (copies - X).astype(np.float64)
    assert abs(diff.mean()) < 0.02 and abs(diff.std() - 0.5) < 0.02
    zero_one = np.array([[0.0, 1.0], [0.5, 1.0]], np.float32)  # 0.5: continuous
    assert not np.isin(perturb(zero_one, 3, np.random.RandomState(0)), (0.0, 1.0)).all()


def test_deterministic_per_seed(ad):
    X, y = ad.X[:50], ad.y[:50]
    model = LabelsOnly(60)
    s = [LabelOnlyAttack(n_perturbations=10, n_flips=4, random_state=rs).score_samples(model, X, y)
         for rs in (0, 0, 1)]
    np.testing.assert_array_equal(s[0], s[1])
    assert not np.array_equal(s[0], s[2])
    p = [perturb(X, 3, np.random.RandomState(rs)) for rs in (7, 7, 8)]
    np.testing.assert_array_equal(p[0], p[1])
    assert not np.array_equal(p[0], p[2])


def test_members_are_more_robust_on_overfit_target():
    d = make_ad_clicks(600, random_state=7)
    target = TorchMLPClassifier(epochs=15, random_state=0).fit(d.X[:300], d.y[:300])
    scores = LabelOnlyAttack(n_perturbations=32, random_state=0).score_samples(target, d.X, d.y)
    assert roc_auc(np.r_[np.ones(300), np.zeros(300)], scores) > 0.53


@pytest.mark.parametrize("params, err, match", [
    (dict(n_perturbations=0), ValueError, "n_perturbations"),
    (dict(n_perturbations=2.5), TypeError, "n_perturbations"),
    (dict(n_flips=0), ValueError, "n_flips"),
    (dict(n_flips=-1), ValueError, "n_flips"),
    (dict(noise_scale=0.0), ValueError, "noise_scale"),
    (dict(noise_scale=-0.5), ValueError, "noise_scale"),
    (dict(noise_scale=float("nan")), ValueError, "noise_scale"),
    (dict(noise_scale="big"), TypeError, "noise_scale"),
])
def test_bad_parameters_raise_before_any_query(ad, params, err, match):
    model = LabelsOnly(60)
    with pytest.raises(err, match=match):
        LabelOnlyAttack(**params).score_samples(model, ad.X[:5], ad.y[:5])
    assert model.rows_predicted == 0


def test_bad_model_and_data(ad, table_model):
    attack = LabelOnlyAttack(n_perturbations=3)
    for model in (table_model([[0.5, 0.5]]), object(), None):  # no predict(): not a label oracle
        with pytest.raises(TypeError, match="model"):
            attack.score_samples(model, ad.X[:5], ad.y[:5])
    model = LabelsOnly(60)
    bad = [(np.where(ad.X[:5] == 1, np.nan, ad.X[:5]), ad.y[:5], ValueError, "X"),
           (ad.X[0], ad.y[:1], ValueError, "X"),
           (ad.X[:5], ad.y[:4], ValueError, "y"),
           (ad.X[:5], [0, 1, 0.5, 1, 0], ValueError, "y")]
    for X, y, err, match in bad:
        with pytest.raises(err, match=match):
            attack.score_samples(model, X, y)
    assert model.rows_predicted == 0


def test_scoring_the_same_rows_again_reuses_the_copies_and_the_references(ad):
    """With an integer seed the copies (and, fitted, the references' share on them) are computed
    once per set of rows: the scores are exactly those of a fresh attack, for every target."""
    X, y, pop = ad.X[:40], ad.y[:40], make_ad_clicks(300, random_state=9)
    targets = [LabelsOnly(60, seed=s) for s in (0, 1)]
    attack = LabelOnlyAttack(n_perturbations=8, n_references=2, random_state=3).fit(pop.X, pop.y)
    fresh = [LabelOnlyAttack(n_perturbations=8, n_references=2, random_state=3).fit(pop.X, pop.y)
             .score_samples(t, X, y) for t in targets]
    for t, want in zip(targets, fresh):
        np.testing.assert_array_equal(attack.score_samples(t, X, y), want)
    other = ad.X[40:80].copy()  # other rows: new copies, not the remembered ones
    np.testing.assert_array_equal(
        attack.score_samples(targets[0], other, ad.y[40:80]),
        LabelOnlyAttack(n_perturbations=8, n_references=2, random_state=3).fit(pop.X, pop.y)
        .score_samples(targets[0], other, ad.y[40:80]))
    attack.set_params(n_perturbations=4)  # new settings: not answered from memory
    assert attack.score_samples(targets[0], X, y).size == len(y)
    assert attack._remembered[0][0] == 4
    shared = LabelOnlyAttack(n_perturbations=8, random_state=np.random.RandomState(0))
    assert not np.array_equal(shared.score_samples(targets[0], X, y), shared.score_samples(targets[0], X, y)), \
        "a shared RandomState draws new copies each time"
