"""Canaries: a site of their own, white-box scores checked against a slow reference, and an
audit that catches a deliberately broken DP-SGD while the correct one passes."""
import numpy as np
import pytest
import torch

from mia_course.broken_dp import BrokenDPMLP
from mia_course.canaries import (add_canaries, audit_dp_sgd, canary_masks, canary_scores,
                                 natural_audit, one_run_guesses, train_with_canaries)
from mia_course.data import make_ad_clicks
from mia_course.defenses.dp_models import DPMLPClassifier
from mia_course.training.dp_stacked import BatchedDPMLP
from mia_course.nets import build_mlp, seed_from

DELTA = 1e-5


@pytest.fixture(scope="module")
def users():
    return make_ad_clicks(120, random_state=0)


@pytest.fixture(scope="module")
def trained(users):
    X, y, rows, cols = add_canaries(users.X, users.y, 6, random_state=0)
    masks, is_in = canary_masks(3, len(users.y), 6, random_state=0)
    est = DPMLPClassifier(target_epsilon=8.0, delta=DELTA, batch_size=len(y), lr=1e-3, hidden_sizes=(16,), epochs=5)
    return X, y, rows, cols, masks, is_in, train_with_canaries(est, X, y, masks, random_state=0)


def test_each_canary_visits_a_site_nobody_else_visits(users):
    X, y, rows, cols = add_canaries(users.X, users.y, 5, strength=3.0, random_state=0)
    n, f = users.X.shape
    assert X.shape == (n + 5, f + 5) and len(y) == n + 5
    assert np.array_equal(X[:n, :f], users.X) and not X[:n, f:].any(), "real users never visit a canary site"
    assert np.array_equal(X[rows][:, cols], 3.0 * np.eye(5)) and not X[rows][:, :f].any()
    assert set(y[rows]) <= set(users.y)
    again = add_canaries(users.X, users.y, 5, strength=3.0, random_state=0)
    assert np.array_equal(again[1], y), "reproducible"


def test_every_real_row_trains_every_model_and_each_canary_half(users):
    masks, is_in = canary_masks(40, 10, 50, random_state=1)
    assert masks.shape == (40, 60) and masks[:, :10].all() and np.array_equal(masks[:, 10:], is_in)
    assert 0.45 < is_in.mean() < 0.55


@pytest.mark.parametrize("call, error, name", [
    (lambda u: add_canaries(u.X, u.y, 0), ValueError, "n_canaries"),
    (lambda u: add_canaries(u.X, u.y, 3, strength=0.0), ValueError, "strength"),
    (lambda u: add_canaries(u.X, u.y[:-1], 3), ValueError, "y"),
    (lambda u: canary_masks(0, 10, 5), ValueError, "n_models"),
    (lambda u: canary_masks(2, 10, 2.5), TypeError, "n_canaries"),
    (lambda u: one_run_guesses(np.zeros((2, 5)), np.zeros((2, 4), bool), 2), ValueError, "is_in"),
    (lambda u: one_run_guesses(np.zeros((2, 5)), np.zeros((2, 5), bool), 6), ValueError, "n_guesses"),
    (lambda u: canary_scores("models", u.X, u.y, [0], [0]), TypeError, "models"),
    (lambda u: train_with_canaries(object(), u.X, u.y, np.ones((1, len(u.y)), bool), broken=True),
     TypeError, "estimator"),
])
def test_bad_inputs_name_the_parameter(users, call, error, name):
    with pytest.raises(error, match=name):
        call(users)


def test_scores_match_a_slow_reference(trained):
    """Rebuild model k's initial network with torch, reset the canary's site row, compare losses."""
    X, y, rows, cols, masks, is_in, models = trained
    scores = canary_scores(models, X, y, rows, cols)
    assert scores.shape == (3, 6)
    for k in (0, 2):
        torch.manual_seed(seed_from(models.seeds[k]))
        start = build_mlp(X.shape[1], (16,), 2)
        trained_net = build_mlp(X.shape[1], (16,), 2)
        with torch.no_grad():
            for lin, (W, b) in zip([m for m in trained_net if isinstance(m, torch.nn.Linear)], models.params_):
                lin.weight.copy_(W[k].T)
                lin.bias.copy_(b[k, 0])
        for j in (0, 5):
            x, label = torch.from_numpy(X[rows[j]][None]), torch.tensor([y[rows[j]]])
            reset = build_mlp(X.shape[1], (16,), 2)
            reset.load_state_dict(trained_net.state_dict())
            with torch.no_grad():
                reset[0].weight[:, cols[j]] = start[0].weight[:, cols[j]]
            loss = torch.nn.functional.cross_entropy
            with torch.no_grad():
                expected = float(loss(reset(x), label) - loss(trained_net(x), label))
            assert scores[k, j] == pytest.approx(expected, abs=1e-4)


def test_members_push_their_own_weights_the_most(users):
    r = audit_dp_sgd(50.0, users.X, users.y, delta=DELTA, canaries="input", n_runs=4, n_canaries=100, n_guesses=10, random_state=0)
    assert r["scores"][r["is_in"]].mean() > r["scores"][~r["is_in"]].mean() + 0.5 * r["scores"].std()
    assert r["correct"] >= 0.9 * r["guesses"]


def test_one_run_guesses_match_a_loop():
    rng = np.random.default_rng(0)
    scores, is_in = rng.normal(size=(3, 30)), rng.random((3, 30)) < 0.5
    guesses, correct = one_run_guesses(scores, is_in, 9)
    expected = 0
    for s, inside in zip(scores, is_in):
        ranked = sorted(range(30), key=lambda i: -s[i])
        expected += sum(inside[i] for i in ranked[:4]) + sum(not inside[i] for i in ranked[-4:])
    assert (guesses, correct) == (24, expected)


def test_the_audit_catches_the_broken_dp_sgd_and_passes_the_correct_one(users):
    """The deliberate breakage (noise divided by the batch size twice) must fail the audit."""
    broken = audit_dp_sgd(1.0, users.X, users.y, delta=DELTA, canaries="input", estimator="steinke", n_runs=8,
                          broken=True, random_state=0)
    correct = audit_dp_sgd(1.0, users.X, users.y, delta=DELTA, canaries="input", estimator="steinke", n_runs=8,
                           random_state=0)
    assert broken["epsilon"] > 1.0, "the broken DP-SGD claims epsilon = 1 and is caught"
    assert correct["epsilon"] <= 1.0, "the correct DP-SGD stays under its accountant"


def test_the_broken_trainer_claims_the_same_noise_but_its_canaries_stand_out(users):
    runs = {broken: audit_dp_sgd(4.0, users.X, users.y, delta=DELTA, canaries="input", n_runs=2, n_canaries=100, n_guesses=10,
                                 broken=broken, random_state=0, hidden_sizes=(32,)) for broken in (False, True)}
    from sklearn.metrics import roc_auc_score
    auc = {b: roc_auc_score(r["is_in"].ravel(), r["scores"].ravel()) for b, r in runs.items()}
    assert auc[True] > 0.95 and auc[False] < 0.85, auc


def test_the_real_dp_path_never_uses_the_broken_trainer(trained):
    X, y, rows, cols, masks, is_in, models = trained  # train_with_canaries: train_shadow_models
    assert type(models) is BatchedDPMLP and not isinstance(models, BrokenDPMLP)
    est = DPMLPClassifier(target_epsilon=8.0, delta=DELTA, batch_size=len(y), lr=1e-3, hidden_sizes=(16,), epochs=5)
    broken = train_with_canaries(est, X, y, masks, broken=True, random_state=0)
    assert type(broken) is BrokenDPMLP and broken.noise_multiplier_ == models.noise_multiplier_, "it claims the same"


def test_natural_records_prove_little(users):
    data = make_ad_clicks(300, random_state=1)
    eps = natural_audit(DPMLPClassifier(target_epsilon=8.0, delta=DELTA, epochs=5), data.X, data.y,
                        delta=DELTA, random_state=0)
    assert 0.0 <= eps < 1.0
