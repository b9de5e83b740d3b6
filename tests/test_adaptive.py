"""Attacks that know the defense: shadows read through ``output_defense``, repeated queries."""
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from mia_course.attacks import ShadowModelAttack
from mia_course.data import make_ad_clicks
from mia_course.defenses import LabelOnlyOutputs, NoisyOutputs, RoundedOutputs
from mia_course.label_only import LabelOnlyAttack
from mia_course.lira import LiRA, logit_confidence
from mia_course.metrics import roc_auc, tpr_at_fpr
from mia_course.models import TorchMLPClassifier
from mia_course.queries import PROBABILITY_FLOOR, query_proba, shadow_answers
from mia_course.rmia import RMIA


@pytest.fixture(scope="module")
def lira_setting():
    """An overfit target on 600 of 1,200 users; online LiRA with 8 shadows on all 1,200."""
    d = make_ad_clicks(1200, random_state=0)
    m = np.r_[np.ones(600, bool), np.zeros(600, bool)]
    target = TorchMLPClassifier(random_state=0).fit(d.X[m], d.y[m])
    return d.X, d.y, m, target, LiRA(n_shadows=8, random_state=0).fit(d.X, d.y)


def _auc(lira, api, X, y, m, **params):
    return roc_auc(m, lira.set_params(**{"output_defense": None, "n_queries": 1, **params}).score_samples(api, X, y))


def test_adaptive_lira_recovers_what_rounding_hid(lira_setting):
    X, y, m, target, lira = lira_setting
    undefended = _auc(lira, target, X, y, m)
    api = RoundedOutputs(target, 1)
    naive = _auc(lira, api, X, y, m)
    adaptive = _auc(lira, api, X, y, m, output_defense=lambda model: RoundedOutputs(model, 1))
    # measured (seeds 0, 1): undefended 0.808 / 0.810, naive 0.511 / 0.503, adaptive 0.765 / 0.803
    assert undefended > 0.7
    assert adaptive - 0.5 > 0.7 * (undefended - 0.5), "the adaptive attack recovers most of the advantage"
    assert naive - 0.5 < 0.3 * (undefended - 0.5), "the attack that ignores the defense is fooled"


def test_repeated_queries_average_the_noise_away(lira_setting):
    X, y, m, target, lira = lira_setting
    api = NoisyOutputs(target, 0.1, random_state=0)
    defense = lambda model: NoisyOutputs(model, 0.1, random_state=1)  # noqa: E731
    once = _auc(lira, api, X, y, m, output_defense=defense)
    many = _auc(lira, api, X, y, m, output_defense=defense, n_queries=64)
    assert many > once + 0.1  # measured (seed 0): 0.672 -> 0.805 (0.560 -> 0.734 when all shadows shared one noise)
    # and the averaged answer itself: its spread shrinks like 1 / sqrt(n_queries)
    def spread(n):
        a, b = (query_proba(NoisyOutputs(target, 0.1, random_state=rs), X[:200], n) for rs in (2, 3))
        return np.std(a - b)
    assert 3.0 < spread(1) / spread(16) < 5.5


def test_shadow_answers_go_through_the_defense(lira_setting):
    X, y, _, _, lira = lira_setting
    raw = shadow_answers(lira.shadows_, X[:50])
    rounded = shadow_answers(lira.shadows_, X[:50], lambda model: RoundedOutputs(model, 1))
    for k in range(len(lira.shadows_)):
        np.testing.assert_allclose(rounded[k], RoundedOutputs(lira.shadows_.model(k), 1).predict_proba(X[:50]))
    assert not np.allclose(raw, rounded)
    np.testing.assert_array_equal(shadow_answers(lira.shadows_, X[:50], n_queries=5), raw)


def test_one_floor_for_target_and_shadows():
    P = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])  # what a rounded API can return
    phi = logit_confidence(P, np.array([0, 0, 0]))
    np.testing.assert_allclose(phi, [-np.log(PROBABILITY_FLOOR), np.log(PROBABILITY_FLOOR), 0.0])
    assert np.abs(phi).max() < 14  # not the -690 of a 1e-300 floor


def test_every_shadow_attack_takes_the_defense(lira_setting):
    """ShadowModelAttack, RMIA and the calibrated label-only attack also read their models
    through the defense (checked on the answers they are built from)."""
    X, y, m, target, _ = lira_setting
    LR = LogisticRegression(max_iter=300)
    rounded = lambda model: RoundedOutputs(model, 0)  # noqa: E731  one-hot answers
    sm = ShadowModelAttack(LR, n_shadows=2, attack_model=LR, output_defense=rounded, random_state=0).fit(X, y)
    assert set(np.unique(sm.attack_X_)) <= {0.0, 1.0}
    rmia = RMIA(LR, n_references=2, output_defense=rounded, random_state=0).fit(X[600:], y[600:])
    assert set(np.unique(rmia.reference_probability(X[:50], y[:50]))) <= {
        v for a in [rmia.a_] for v in ((1 + a) * np.arange(3) / 2 / 2 + (1 - a) / 2)}
    s = rmia.score_samples(RoundedOutputs(target, 0), X, y)
    assert s.shape == (len(y),)
    seen = []
    calibrated = LabelOnlyAttack(n_perturbations=4, n_references=2, reference_model=LR,
                                 output_defense=lambda model: seen.append(model) or LabelOnlyOutputs(model),
                                 random_state=0).fit(X[600:], y[600:])
    plain = LabelOnlyAttack(n_perturbations=4, n_references=2, reference_model=LR, random_state=0).fit(X[600:], y[600:])
    api = LabelOnlyOutputs(target)
    np.testing.assert_allclose(calibrated.score_samples(api, X[:100], y[:100]), plain.score_samples(api, X[:100], y[:100]))
    assert len(seen) == 2  # label-preserving defense: same labels, but the references went through it


@pytest.mark.parametrize("make", [
    lambda model, **kw: LiRA(model, n_shadows=2, **kw), lambda model, **kw: RMIA(model, n_references=2, **kw),
    lambda model, **kw: ShadowModelAttack(model, n_shadows=2, **kw),
    lambda model, **kw: LabelOnlyAttack(n_references=2, reference_model=model, **kw)])
@pytest.mark.parametrize("params, err, match", [
    (dict(output_defense="round"), TypeError, "output_defense"),
    (dict(output_defense=np.ones(3)), TypeError, "output_defense"),
    (dict(n_queries=0), ValueError, "n_queries"),
    (dict(n_queries=1.5), TypeError, "n_queries"),
])
def test_bad_defense_parameters_raise_before_training(make, params, err, match):
    from helpers import Recorder
    Recorder.calls.clear()
    with pytest.raises(err, match=match):
        make(Recorder(), **params).fit(np.eye(8), [0, 1] * 4)
    assert Recorder.calls == []


@pytest.mark.parametrize("shadow_seed", [1, None])
def test_64_noisy_queries_keep_half_of_the_undefended_tpr(shadow_seed):
    """Issue 21's setting: an overfit target on 1,000 of 2,000 ad users (1,000 members, 1,000
    non-members), online LiRA with 32 shadows that reads them through the same defense,
    ``NoisyOutputs(model, 0.1)`` asked 64 times. Averaging must remove the noise: at least half
    of the undefended TPR at 1% FPR stays. Measured at seed 0: 20.2% undefended; 22.6% through
    the noise (0.9% before each shadow had noise of its own, when a seeded factory gave all 32
    the same noise, and the variance was fitted per record)."""
    d = make_ad_clicks(2000, random_state=0)
    m = np.r_[np.ones(1000, bool), np.zeros(1000, bool)]
    target = TorchMLPClassifier(random_state=0).fit(d.X[m], d.y[m])
    lira = LiRA(n_shadows=32, random_state=0).fit(d.X, d.y)
    undefended = tpr_at_fpr(m, lira.score_samples(target, d.X, d.y), 0.01)
    lira.set_params(output_defense=lambda model: NoisyOutputs(model, 0.1, random_state=shadow_seed), n_queries=64)
    noisy = tpr_at_fpr(m, lira.score_samples(NoisyOutputs(target, 0.1, random_state=0), d.X, d.y), 0.01)
    assert undefended > 0.1  # the overfit target leaks: the comparison means something
    assert noisy >= 0.5 * undefended, (noisy, undefended)


def test_each_shadow_gets_noise_of_its_own(lira_setting):
    X, _, _, _, lira = lira_setting
    seeded = lambda model: NoisyOutputs(model, 0.1, random_state=0)  # noqa: E731  one seed for all
    raw = shadow_answers(lira.shadows_, X[:300])
    noise = shadow_answers(lira.shadows_, X[:300], seeded) - raw
    corr = np.corrcoef(noise[:, :, 0])  # noise on column 0, shadow by shadow
    assert np.abs(corr[np.triu_indices(len(corr), 1)]).max() < 0.3, "two shadows share their noise"
    np.testing.assert_array_equal(shadow_answers(lira.shadows_, X[:300], seeded) - raw, noise)  # reproducible
    copies = [NoisyOutputs(lira.shadows_.model(0), 0.1, random_state=0).independent_copy(k) for k in (0, 0, 1)]
    a, b, c = (cp.predict_proba(X[:300]) for cp in copies)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    with pytest.raises(ValueError, match="index"):
        NoisyOutputs(lira.shadows_.model(0), 0.1).independent_copy(-1)
