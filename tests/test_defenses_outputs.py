"""Output perturbation keeps valid probabilities and the label; the audit's epsilon bound."""
import numpy as np
import pytest

from mia_course.audit import clopper_pearson, dp_bound_tpr, empirical_epsilon
from mia_course.defenses import LabelOnlyOutputs, NoisyOutputs, RoundedOutputs
from mia_course.label_only import LabelOnlyAttack


class FixedModel:
    """Probabilities from a fixed random table (3 classes), labels 10, 20, 30."""

    def __init__(self, n=200, seed=0):
        rng = np.random.default_rng(seed)
        logits = rng.normal(0, 3, (n, 3))
        self.P = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        self.classes_ = np.array([10, 20, 30])

    def predict_proba(self, X):
        return self.P[np.asarray(X)[:, 0].astype(int)]

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(1)]


X = np.arange(200, dtype=np.float32)[:, None]
WRAPPERS = [lambda m: NoisyOutputs(m, 0.3, random_state=0), lambda m: NoisyOutputs(m, 5.0, random_state=1),
            lambda m: RoundedOutputs(m, 0), lambda m: RoundedOutputs(m, 1), lambda m: RoundedOutputs(m, 3),
            LabelOnlyOutputs]


@pytest.mark.parametrize("wrap", WRAPPERS)
def test_outputs_stay_valid_probabilities_and_keep_the_label(wrap):
    model = FixedModel()
    out = wrap(model).predict_proba(X)
    assert out.shape == model.P.shape
    assert out.min() >= 0 and np.allclose(out.sum(1), 1.0)
    assert np.array_equal(out.argmax(1), model.P.argmax(1))
    assert np.array_equal(wrap(model).predict(X), model.predict(X))


def test_rounding_has_the_requested_decimals_and_zero_is_one_hot():
    model = FixedModel()
    out = RoundedOutputs(model, 2).predict_proba(X)
    assert np.allclose(out * 100, np.round(out * 100), atol=1e-6)
    assert np.all(np.abs(out - model.P) <= 0.02 + 1e-9)
    assert np.array_equal(RoundedOutputs(model, 0).predict_proba(X), LabelOnlyOutputs(model).predict_proba(X))


def test_noise_has_roughly_the_requested_scale_and_is_seeded():
    model = FixedModel(n=200)
    a, b = NoisyOutputs(model, 0.01, random_state=3), NoisyOutputs(model, 0.01, random_state=3)
    pa, pb = a.predict_proba(X), b.predict_proba(X)
    assert np.array_equal(pa, pb)
    assert not np.array_equal(pa, a.predict_proba(X))  # fresh noise on every query
    assert 0.003 < np.std(pa - model.P) < 0.02
    assert np.allclose(NoisyOutputs(model, 0.0).predict_proba(X), model.P, atol=1e-12)


@pytest.mark.parametrize("wrap", WRAPPERS)
def test_label_only_attack_is_unchanged_by_any_output_perturbation(wrap):
    from sklearn.linear_model import LogisticRegression
    rng = np.random.default_rng(0)
    Xc = rng.normal(size=(120, 4)).astype(np.float32)
    yc = (Xc[:, 0] + rng.normal(0, 1, 120) > 0).astype(int)
    model = LogisticRegression().fit(Xc, yc)
    attack = LabelOnlyAttack(n_perturbations=8, noise_scale=0.5, random_state=0)
    assert np.array_equal(attack.score_samples(model, Xc, yc), attack.score_samples(wrap(model), Xc, yc))


@pytest.mark.parametrize("make,match", [
    (lambda m: NoisyOutputs(m, -0.1), "scale"), (lambda m: NoisyOutputs(m, float("nan")), "scale"),
    (lambda m: RoundedOutputs(m, -1), "decimals"), (lambda m: RoundedOutputs(m, 1.5), "decimals"),
    (lambda m: LabelOnlyOutputs(object()), "model"),
])
def test_bad_wrapper_arguments(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make(FixedModel())


# ---- audit ----

def slow_epsilon(is_member, scores, delta, confidence=0.95):
    """Every distinct threshold, both DP inequalities, Clopper-Pearson by hand."""
    from scipy.stats import beta
    a = 1 - confidence
    n_in, n_out = is_member.sum(), (~is_member).sum()
    best = 0.0
    for t in np.r_[np.inf, np.unique(scores)]:
        tp, fp = int(np.sum(scores[is_member] >= t)), int(np.sum(scores[~is_member] >= t))
        tpr_lo = beta.ppf(a / 2, tp, n_in - tp + 1) if tp > 0 else 0.0
        fpr_hi = beta.ppf(1 - a / 2, fp + 1, n_out - fp) if fp < n_out else 1.0
        for num, den in ((tpr_lo - delta, fpr_hi), (1 - fpr_hi - delta, 1 - tpr_lo)):
            if num > 0 and den > 0:
                best = max(best, np.log(num / den))
    return best


@pytest.mark.parametrize("seed,shift", [(0, 0.0), (1, 1.0), (2, 3.0)])
def test_empirical_epsilon_matches_slow_reference(seed, shift):
    rng = np.random.default_rng(seed)
    is_member = np.r_[np.ones(150, bool), np.zeros(150, bool)]
    scores = rng.normal(0, 1, 300) + shift * is_member
    # the threshold is chosen on one half (audit_halves) and the bound computed on the other
    from mia_course.audit import audit_halves
    choose = audit_halves(is_member, 0)
    best, best_t = 0.0, None
    for t in np.unique(scores[choose]):
        e = slow_epsilon(is_member[choose], np.where(scores[choose] >= t, 1.0, 0.0), 1e-5)
        if e > best:
            best, best_t = e, t
    expected = 0.0 if best_t is None else slow_epsilon(
        is_member[~choose], np.where(scores[~choose] >= best_t, 1.0, 0.0), 1e-5)
    assert empirical_epsilon(is_member, scores, 1e-5) == pytest.approx(expected, abs=1e-9)


def test_empirical_epsilon_is_near_zero_without_signal_and_grows_with_it():
    rng = np.random.default_rng(0)
    is_member = np.r_[np.ones(500, bool), np.zeros(500, bool)]
    assert empirical_epsilon(is_member, rng.normal(size=1000), 1e-5) < 0.1
    strong = np.where(is_member, 10.0, 0.0) + rng.normal(0, 0.01, 1000)
    assert empirical_epsilon(is_member, strong, 1e-5) > 3  # but bounded by the sample size
    assert empirical_epsilon(is_member, strong, 1e-5) < np.log(500)


def test_clopper_pearson_covers_the_observed_rate():
    low, high = clopper_pearson(np.array([0, 5, 10]), np.array([10, 10, 10]))
    assert low[0] == 0 and high[2] == 1 and low[1] < 0.5 < high[1]
    assert high[0] == pytest.approx(1 - 0.025 ** (1 / 10))


def test_dp_bound_curve():
    fpr = np.geomspace(1e-4, 1, 50)
    bound = dp_bound_tpr(fpr, 1.0, 1e-5)
    assert np.all(bound >= fpr - 1e-12) and np.all(bound <= np.e * fpr + 1e-5 + 1e-12)
    assert np.allclose(dp_bound_tpr(fpr, 0.0, 0.0), fpr)


@pytest.mark.parametrize("kwargs,match", [({"delta": 0.0}, "delta"), ({"delta": 1.0}, "delta"),
                                          ({"delta": 1e-5, "confidence": 1.5}, "confidence")])
def test_audit_bad_inputs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        empirical_epsilon([1, 0, 1, 0], [0.1, 0.2, 0.3, 0.4], **kwargs)
    with pytest.raises(ValueError, match="epsilon"):
        dp_bound_tpr([0.1], -1.0, 1e-5)


def test_audit_finds_nothing_on_a_model_trained_without_the_candidates():
    from mia_course.attacks import LossThresholdAttack
    from mia_course.data import make_ad_clicks
    from mia_course.models import TorchMLPClassifier
    d = make_ad_clicks(1600, random_state=0)
    model = TorchMLPClassifier(epochs=10, random_state=0).fit(d.X[:800], d.y[:800])
    # "members" and "non-members" are both users the model never saw
    pseudo_member = np.r_[np.ones(400, bool), np.zeros(400, bool)]
    scores = LossThresholdAttack().score_samples(model, d.X[800:], d.y[800:])
    assert empirical_epsilon(pseudo_member, scores, 1e-5) < 0.3
    real_member = np.r_[np.ones(800, bool), np.zeros(800, bool)]  # while the real members leak
    assert empirical_epsilon(real_member, LossThresholdAttack().score_samples(model, d.X, d.y), 1e-5) > 0.3
