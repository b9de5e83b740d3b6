"""The deliberately broken DP-SGDs of mia_course.broken_dp, each caught by an audit on every
seed 0-4 (proven epsilon above the epsilon it claims), and the correct trainer in the same
configuration never above its exact epsilon. ("Noise too small" is in test_gradient_canaries.py.)

Estimators, and why each is valid for the mechanism it audits:
- batch clipping: Steinke et al.'s one-run bound (``epsilon_steinke``), valid for any mechanism;
  the Gaussian-DP estimator is not used for the broken trainer, whose trade-off curve need not
  be Gaussian (the canaries' shift depends on how many canaries share the clipped mean).
- realised batch size and shuffling: many runs (``many_runs_epsilon``): each run an independent
  training, Clopper-Pearson on the runs with Bonferroni over thresholds fixed in advance; valid
  for any mechanism and any score.
"""
import numpy as np
import pytest

from mia_course.broken_audits import realised_batch_audit, shuffling_audit
from mia_course.broken_dp import BROKEN, BrokenDPMLP, ShuffledBatchesDPMLP, broken_trainer, register_broken
from mia_course.canaries import audit_dp_sgd
from mia_course.data import make_ad_clicks
from mia_course.defenses.dp_models import DPMLPClassifier

DELTA, SEEDS, CLAIM = 1e-5, range(5), 2.0


@pytest.fixture(scope="module")
def users():
    return make_ad_clicks(250, random_state=0)  # lesson 12's data


def test_batch_clipping_is_caught_by_large_dirac_canaries_on_every_seed(users):
    """Clipping the batch's mean lets one canary move its coordinate by far more than C."""
    found = [audit_dp_sgd(CLAIM, users.X, users.y, delta=DELTA, broken="batch_clipping", canary_gradient=1e3,
                          estimator="steinke", random_state=s) for s in SEEDS]
    assert all(r["epsilon"] == r["epsilon_steinke"] > r["accountant"] > r["exact"] for r in found), \
        [round(r["epsilon"], 2) for r in found]
    correct = [audit_dp_sgd(CLAIM, users.X, users.y, delta=DELTA, canary_gradient=1e3, estimator="steinke",
                            random_state=s) for s in SEEDS]
    assert all(max(r["epsilon_steinke"], r["epsilon_gdp"]) <= r["exact"] for r in correct)


def test_dividing_by_the_realised_batch_size_is_caught_on_every_seed(users):
    found = [realised_batch_audit(CLAIM, users.X, users.y, delta=DELTA, broken="realised_batch", random_state=s)
             for s in SEEDS]
    assert all(r["epsilon"] > r["accountant"] > r["exact"] for r in found), [round(r["epsilon"], 2) for r in found]
    correct = [realised_batch_audit(CLAIM, users.X, users.y, delta=DELTA, random_state=s) for s in SEEDS]
    assert all(r["epsilon"] <= r["exact"] for r in correct)


def test_shuffled_batches_accounted_as_poisson_are_caught_on_every_seed():
    found = [shuffling_audit(CLAIM, delta=DELTA, broken="shuffling", random_state=s) for s in SEEDS]
    assert all(r["epsilon"] > r["accountant"] > r["exact"] for r in found), [round(r["epsilon"], 2) for r in found]
    correct = [shuffling_audit(CLAIM, delta=DELTA, random_state=s) for s in SEEDS]
    assert all(r["epsilon"] <= r["exact"] for r in correct)


def test_shuffled_batches_take_every_row_exactly_once_per_epoch(users):
    seen = []
    ShuffledBatchesDPMLP.observer = staticmethod(lambda **step: seen.append((step["rows"], step["valid"])))
    try:
        masks = np.ones((3, 40), dtype=bool)
        masks[1, 30:] = False
        est = DPMLPClassifier(target_epsilon=4.0, delta=DELTA, batch_size=8, epochs=2, hidden_sizes=(4,))
        models = ShuffledBatchesDPMLP(est, [0, 1, 2]).fit(users.X[:40], users.y[:40], masks)
    finally:
        del ShuffledBatchesDPMLP.observer
    per_epoch = round(1 / models.sample_rate_)
    assert len(seen) == models.steps_ == 2 * per_epoch
    for epoch in range(2):
        for k in range(3):
            rows = np.concatenate([r[k][v[k] > 0].numpy() for r, v in seen[epoch * per_epoch:(epoch + 1) * per_epoch]])
            assert sorted(rows) == sorted(np.flatnonzero(masks[k])), "each row in exactly one batch per epoch"


def test_the_registry_finds_each_variant_by_name():
    assert broken_trainer(False) is None and broken_trainer(True) is BrokenDPMLP is broken_trainer("noise")
    assert set(BROKEN) == {"noise", "batch_clipping", "shuffling", "realised_batch"}
    assert all(broken_trainer(cls) is cls for cls in BROKEN.values())


@pytest.mark.parametrize("call, error, name", [
    (lambda u: broken_trainer("typo"), ValueError, "broken"),
    (lambda u: register_broken("x")(int), TypeError, "cls"),
    (lambda u: audit_dp_sgd(1.0, u.X, u.y, delta=DELTA, broken="typo"), ValueError, "broken"),
    (lambda u: audit_dp_sgd(1.0, u.X, u.y, delta=DELTA, canary_gradient=0.0), ValueError, "canary_gradient"),
    (lambda u: realised_batch_audit(1.0, u.X, u.y, delta=DELTA, n_real=0), ValueError, "n_real"),
    (lambda u: realised_batch_audit(1.0, u.X, u.y, delta=DELTA, broken="typo"), ValueError, "broken"),
    (lambda u: shuffling_audit(1.0, delta=DELTA, steps_per_epoch=1), ValueError, "steps_per_epoch"),
    (lambda u: shuffling_audit(1.0, delta=DELTA, n_runs=2), ValueError, "n_runs"),
])
def test_bad_inputs_name_the_parameter(users, call, error, name):
    with pytest.raises(error, match=name):
        call(users)
