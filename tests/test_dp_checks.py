"""The batched DP-SGD trainer does what it promises, measured from outside (tests/dp_checks.py):
noise of sigma * C per coordinate of the clipped sum (divided by the expected batch size),
clipping to C per example, Poisson sampling at Opacus's rate, and an epsilon that Opacus's
accountant confirms from the measured noise, the measured rate and the counted steps.
tests/test_breakages.py shows that each check fails when that part is broken."""
import numpy as np
import pytest
import torch

from dp_checks import (check_clipping, check_epsilon, check_noise, check_reported_epsilon, check_sampling, measure,
                       measured_epsilon, opacus_sample_rate, record_dp_run, reference_clipped_sum)
from mia_course.data import make_ad_clicks
from mia_course.defenses.dp_models import DPMLPClassifier
from mia_course.training.dp_stacked import clipped_gradient_sums
from mia_course.training.sparse_rows import SparseRows
from mia_course.shadows import random_halves

# C well below the gradient norms, so that clipping changes every gradient
DP_ESTIMATOR = DPMLPClassifier(target_epsilon=2.0, epochs=4, hidden_sizes=(8,), batch_size=25,
                               max_grad_norm=0.1, lr=0.01)


def dp_data(sparse=False):
    """400 users; ``sparse``: as lesson 12's input canaries, 400 more columns, one per user,
    so that under 5% of the entries are non-zero and the trainer takes its sparse path."""
    d = make_ad_clicks(400, random_state=0)
    X = np.hstack([d.X, np.eye(400, dtype=d.X.dtype)]) if sparse else d.X
    assert (SparseRows.if_sparse(torch.from_numpy(X)) is not None) == sparse
    return X, d.y, random_halves(4, 400, np.random.RandomState(0))


@pytest.fixture(scope="module", params=[(0, False), (1, False), (0, True)], ids=["seed0", "seed1", "sparse"])
def run_and_measured(request):
    seed, sparse = request.param
    X, y, masks = dp_data(sparse)
    run = record_dp_run(DP_ESTIMATOR, X, y, masks, random_state=seed)
    return run, measure(run)


def test_noise_is_sigma_c_per_coordinate(run_and_measured):
    check_noise(*run_and_measured)


def test_clipping_is_per_example(run_and_measured):
    check_clipping(*run_and_measured)


def test_sampling_is_poisson_at_opacus_rate(run_and_measured):
    check_sampling(*run_and_measured)


def test_epsilon_of_the_actual_run_is_the_target(run_and_measured):
    run, measured = run_and_measured
    check_epsilon(run, measured)
    # the trainer ran the steps it accounted for, at the rate it accounted for
    assert measured.n_steps == run.stack.steps_ == DP_ESTIMATOR.epochs * 8
    assert run.stack.sample_rate_ == opacus_sample_rate(200, 25) == 1 / 8
    assert measured_epsilon(run, measured) == pytest.approx(2.0, rel=0.1)


def test_reported_epsilon_is_what_the_run_spent(run_and_measured):
    run, measured = run_and_measured
    check_reported_epsilon(run, measured)
    assert 1.9 <= run.stack.epsilon_ <= 2.0 + 1e-9  # the accountant's reading of the noise it chose


def test_reference_clipped_sum_is_the_trainers_clipped_sum():
    """The check's autograd reference and the trainer's written-out clipping agree exactly
    (no noise involved): the residuals above are noise only."""
    X, y, masks = dp_data()
    run = record_dp_run(DP_ESTIMATOR, X, y, masks)
    step = run.steps[3]
    params = step["params"]
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    grads, norms = clipped_gradient_sums(params, Xt[step["rows"]], yt[step["rows"]], step["valid"].float(), 0.1)
    for k in range(len(masks)):
        rows = step["rows"][k][step["valid"][k]]
        S, ref_norms = reference_clipped_sum([t[k] for pair in params for t in pair], Xt[rows], yt[rows], 0.1)
        ours = torch.cat([g[k].reshape(-1) for g in grads]).double()
        assert torch.allclose(ours, S, atol=1e-6)
        assert torch.allclose(norms[k][step["valid"][k]].double(), ref_norms, atol=1e-5)


def test_playground_epsilon_is_the_epsilon_of_the_run_it_trained():
    """The playground reports the accountant's epsilon; here it is compared with the epsilon
    measured from what its DP training actually did (not recomputed from its multiplier)."""
    from dp_checks import DPRun, record_observer
    from mia_course.playground import check_settings, make_playground_data, model_for, train_target
    # the target trains alone: 30 epochs give its Poisson batch sizes enough steps to be checked
    settings = check_settings({"n_members": 200, "hidden_units": 8, "epochs": 30, "epsilon": 4.0, "n_shadows": 2})
    data = make_playground_data(200, 50, random_state=0)
    steps = []
    with record_observer(steps):
        target, epsilon = train_target(data, settings, random_state=0)
    run = DPRun(estimator=model_for(settings), masks=data.is_member[None], stack=target, steps=steps,
                X=data.X, y=data.y)
    measured = measure(run)
    check_noise(run, measured)
    check_sampling(run, measured)
    assert measured_epsilon(run, measured) == pytest.approx(epsilon, rel=0.1)
    assert epsilon == pytest.approx(4.0, rel=0.05)


def test_the_sparse_path_computes_what_the_dense_path_does():
    X, y, masks = dp_data(sparse=True)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    torch.manual_seed(0)
    params = [(torch.randn(4, X.shape[1], 8), torch.randn(4, 1, 8)), (torch.randn(4, 8, 2), torch.randn(4, 1, 2))]
    order = torch.stack([torch.randperm(400)[:50] for _ in range(4)])
    valid = (torch.rand(4, 50) < 0.8).float()
    dense, dense_norms = clipped_gradient_sums(params, Xt[order], yt[order], valid, 0.1)
    sparse, sparse_norms = clipped_gradient_sums(params, SparseRows(Xt).take(order), yt[order], valid, 0.1)
    torch.testing.assert_close(sparse_norms, dense_norms)
    for a, b in zip(sparse, dense):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_a_broken_sparse_path_is_caught(monkeypatch):
    """A deliberate breakage of the sparse path: the inputs' norms left out of the clipping."""
    from mia_course.training import dp_stacked
    monkeypatch.setattr(dp_stacked, "squared_norms", lambda a: torch.zeros(a.shape[:2]))
    X, y, masks = dp_data(sparse=True)
    run = record_dp_run(DP_ESTIMATOR, X, y, masks, random_state=0)
    with pytest.raises(AssertionError):
        check_clipping(run, measure(run))
