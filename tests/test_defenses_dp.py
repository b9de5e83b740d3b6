"""DP-SGD: clipping, noise, the from-scratch step against Opacus, the accountant, batched DP shadows."""
import warnings


import numpy as np
import pytest
import torch
from opacus import PrivacyEngine
from opacus.accountants import RDPAccountant

from mia_course.data import make_ad_clicks
from mia_course.accounting import noise_multiplier_for
from mia_course.defenses.dp_models import DPMLPClassifier
from mia_course.defenses.dp_sgd import clip_per_sample, dp_sgd_step, noisy_gradient, per_sample_gradients
from mia_course.training.dp_stacked import clipped_gradient_sums
from mia_course.shadows import random_halves
from mia_course.nets import build_mlp
from mia_course.training.registry import train_shadow_models
from mia_course.training.stacked import initial_stacked_params

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # Opacus's notes on RNG and hooks


def tiny(seed=0, n=12, f=5):
    torch.manual_seed(seed)
    return build_mlp(f, (4,), 2), torch.randn(n, f), torch.randint(0, 2, (n,))


def test_per_sample_gradients_match_one_example_at_a_time():
    net, X, y = tiny()
    psg = per_sample_gradients(net, X, y)
    for i in range(len(X)):
        net.zero_grad()
        torch.nn.functional.cross_entropy(net(X[i:i + 1]), y[i:i + 1]).backward()
        for name, p in net.named_parameters():
            assert torch.allclose(psg[name][i], p.grad, atol=1e-6)


def test_every_clipped_gradient_has_norm_at_most_c_and_small_ones_are_untouched():
    net, X, y = tiny(n=40)
    psg = {k: v * 10 for k, v in per_sample_gradients(net, X, y).items()}
    clipped, norms = clip_per_sample(psg, 0.5)
    flat = torch.cat([g.flatten(1) for g in clipped.values()], 1)
    assert torch.all(flat.norm(dim=1) <= 0.5 + 1e-5)
    small, _ = clip_per_sample(psg, float(norms.max()) * 2)
    for k in psg:
        assert torch.allclose(small[k], psg[k])


def test_noise_has_standard_deviation_sigma_c_over_batch():
    zeros = {"w": torch.zeros(8, 50, 40)}
    gen = torch.Generator().manual_seed(0)
    noise = noisy_gradient(zeros, max_grad_norm=2.0, noise_multiplier=1.5, expected_batch_size=8, generator=gen)["w"]
    assert noise.mean().abs() < 0.05
    assert noise.std().item() == pytest.approx(1.5 * 2.0 / 8, rel=0.05)


def opacus_sgd_step(net, X, y, lr, C, sigma, seed):
    """One step of Opacus's DPOptimizer (SGD, no Poisson sampling) on the batch X, y."""
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=len(X))
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    engine = PrivacyEngine()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Opacus's notes on secure RNG
        model, opt, loader = engine.make_private(module=net, optimizer=opt, data_loader=loader,
                                                 noise_multiplier=sigma, max_grad_norm=C, poisson_sampling=False)
    torch.manual_seed(seed)
    for xb, yb in loader:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xb), yb).backward()
        opt.step()
    return model._module


def step_update(step, seed, sigma):
    net, X, y = tiny(seed=0)
    before = torch.cat([p.detach().flatten().clone() for p in net.parameters()])
    net = step(net, X, y, sigma, seed)
    return torch.cat([p.detach().flatten() for p in net.parameters()]) - before


def ours(net, X, y, sigma, seed):
    dp_sgd_step(net, X, y, lr=0.5, max_grad_norm=0.1, noise_multiplier=sigma,
                generator=torch.Generator().manual_seed(seed))
    return net


def theirs(net, X, y, sigma, seed):
    return opacus_sgd_step(net, X, y, lr=0.5, C=0.1, sigma=sigma, seed=seed)


def test_from_scratch_step_equals_opacus_without_noise():
    assert torch.allclose(step_update(ours, 0, 0.0), step_update(theirs, 0, 0.0), atol=1e-6)


def test_from_scratch_step_and_opacus_agree_in_distribution_with_noise():
    a = torch.stack([step_update(ours, s, 1.0) for s in range(60)])
    b = torch.stack([step_update(theirs, s, 1.0) for s in range(60)])
    expected_sd = 0.5 * 1.0 * 0.1 / 12  # lr * sigma * C / batch
    assert a.std(0).mean().item() == pytest.approx(expected_sd, rel=0.1)
    assert b.std(0).mean().item() == pytest.approx(expected_sd, rel=0.1)
    assert torch.allclose(a.mean(0), b.mean(0), atol=4 * expected_sd / np.sqrt(60))


@pytest.fixture(scope="module")
def dp_data():
    d = make_ad_clicks(600, random_state=0)
    return d.X, d.y


def test_opacus_epsilon_is_what_the_accountant_says(dp_data):
    X, y = dp_data
    model = DPMLPClassifier(target_epsilon=2.0, delta=1e-5, epochs=3, random_state=0).fit(X, y)
    n_batches = int(np.ceil(len(y) / model.batch_size))
    acc = RDPAccountant()
    acc.history = [(model.noise_multiplier_, 1 / n_batches, 3 * n_batches)]
    assert model.epsilon_ == pytest.approx(acc.get_epsilon(1e-5), rel=1e-6)
    assert 1.8 <= model.epsilon_ <= 2.0 + 1e-6
    assert model.noise_multiplier_ == pytest.approx(noise_multiplier_for(2.0, 1e-5, 1 / n_batches, 3 * n_batches))


def test_dp_model_is_a_normal_estimator(dp_data):
    from sklearn.base import clone
    X, y = dp_data
    a = DPMLPClassifier(target_epsilon=4.0, epochs=2, random_state=1).fit(X, y)
    b = clone(a).fit(X, y)
    assert np.allclose(a.predict_proba(X), b.predict_proba(X))  # seeded
    assert np.allclose(a.predict_proba(X).sum(1), 1)
    assert DPMLPClassifier(target_epsilon=float("inf"), epochs=2, random_state=0).fit(X, y).epsilon_ == float("inf")


def test_ghost_clipping_equals_per_sample_gradients():
    torch.manual_seed(0)
    seeds = [1, 2, 3]
    params = [(W.detach(), b.detach()) for W, b in initial_stacked_params(7, (6, 5), 3, seeds)]
    X, y = torch.randn(3, 9, 7), torch.randint(0, 3, (3, 9))
    valid = (torch.rand(3, 9) < 0.8).float()
    grads, norms = clipped_gradient_sums(params, X, y, valid, 0.3)
    for m, seed in enumerate(seeds):
        torch.manual_seed(seed)
        net = build_mlp(7, (6, 5), 3)
        clipped, ref_norms = clip_per_sample(per_sample_gradients(net, X[m], y[m]), 0.3)
        assert torch.allclose(norms[m], ref_norms, atol=1e-5)
        keep = valid[m].bool()
        names = [n for n, _ in net.named_parameters()]
        for g, name in zip(grads, names):
            ref = clipped[name][keep].sum(0)
            ref = ref.T if ref.dim() == 2 else ref[None]
            assert torch.allclose(g[m], ref, atol=1e-5), name


def _masked_forward(layers, x, masks):
    """One example through one model, with the given dropout masks on the hidden layers."""
    for i, (W, b) in enumerate(layers):
        x = x @ W + b
        if i < len(layers) - 1:
            x = torch.relu(x) * masks[i]
    return x


def test_ghost_clipping_with_dropout_matches_autograd_under_the_same_masks():
    """Slow reference: one autograd pass per example through its own dropped-out network."""
    p, params = 0.5, [(W.detach(), b.detach()) for W, b in initial_stacked_params(7, (6, 5), 3, [1, 2])]
    X, y, valid = torch.randn(2, 4, 7), torch.randint(0, 3, (2, 4)), torch.ones(2, 4)
    torch.manual_seed(42)
    grads, norms = clipped_gradient_sums(params, X, y, valid, 0.3, dropout=p)
    torch.manual_seed(42)  # the same masks, drawn in the same order as forward_backward draws them
    masks = [torch.bernoulli(torch.full((2, 4, n), 1 - p)) / (1 - p) for n in (6, 5)]
    for m in range(2):
        clipped_sum = torch.zeros_like(grads[0][m])
        for j in range(4):
            layers = [(W[m].clone().requires_grad_(), b[m, 0].clone().requires_grad_()) for W, b in params]
            logits = _masked_forward(layers, X[m, j], [mask[m, j] for mask in masks])
            loss = torch.nn.functional.cross_entropy(logits[None], y[m, j][None])
            g = torch.autograd.grad(loss, [t for pair in layers for t in pair])
            norm = torch.sqrt(sum((t ** 2).sum() for t in g))
            assert torch.isclose(norms[m, j], norm, atol=1e-5)
            clipped_sum += g[0] * min(1.0, 0.3 / float(norm))
        assert torch.allclose(grads[0][m], clipped_sum, atol=1e-5)


def test_batched_dp_shadows_use_opacus_noise_and_match_opacus_accuracy(dp_data):
    X, y = dp_data
    masks = random_halves(4, len(y), np.random.RandomState(0))
    est = DPMLPClassifier(target_epsilon=8.0, epochs=10, random_state=0)
    shadows = train_shadow_models(est, X, y, masks, random_state=0)
    single = DPMLPClassifier(target_epsilon=8.0, epochs=10, random_state=0).fit(X[masks[0]], y[masks[0]])
    assert shadows.noise_multiplier_ == pytest.approx(single.noise_multiplier_, rel=0.02)
    right = shadows.predict_proba(X).argmax(-1) == y
    batched_test = np.mean([r[~m].mean() for r, m in zip(right, masks)])
    opacus_test = single.score(X[~masks[0]], y[~masks[0]])
    assert abs(batched_test - opacus_test) < 0.06


def test_opacus_path_asks_for_the_noise_make_private_with_epsilon_would(dp_data):
    from opacus.accountants.utils import get_noise_multiplier
    X, y = dp_data
    model = DPMLPClassifier(target_epsilon=3.0, epochs=7, random_state=0).fit(X, y)
    rate = 1 / int(np.ceil(len(y) / model.batch_size))
    assert model.noise_multiplier_ == get_noise_multiplier(target_epsilon=3.0, target_delta=1e-5,
                                                           sample_rate=rate, epochs=7, accountant="rdp")


def test_stacked_trainer_is_batched_dp_sgd_of_one_model(dp_data):
    from mia_course.training.dp_stacked import BatchedDPMLP
    X, y = dp_data
    est = DPMLPClassifier(target_epsilon=8.0, epochs=10, random_state=0, trainer="stacked")
    model = est.fit(X[:400], y[:400])
    n_batches = int(np.ceil(400 / est.batch_size))
    assert model.noise_multiplier_ == noise_multiplier_for(8.0, 1e-5, 1 / n_batches, 10 * n_batches)
    assert 7.5 < model.epsilon_ <= 8.0 + 1e-6 and model.n_epochs_ == 10
    stack = BatchedDPMLP(est, [0], 1).fit(X[:400], y[:400], np.ones((1, 400), bool))
    assert np.allclose(model.predict_proba(X), stack.predict_proba(X)[0], atol=1e-6)  # its weights, as a net
    from sklearn.base import clone
    clone_fit = clone(est).fit(X[:400], y[:400])
    assert np.array_equal(clone_fit.predict_proba(X), model.predict_proba(X))  # seeded
    opacus = DPMLPClassifier(target_epsilon=8.0, epochs=10, random_state=0).fit(X[:400], y[:400])
    assert model.noise_multiplier_ == opacus.noise_multiplier_
    assert abs(model.score(X[400:], y[400:]) - opacus.score(X[400:], y[400:])) < 0.08


def test_batched_shadows_of_an_infinite_epsilon_are_the_plain_models(dp_data):
    from mia_course.models import TorchMLPClassifier
    X, y = dp_data
    masks = random_halves(2, len(y), np.random.RandomState(0))
    shadows = train_shadow_models(DPMLPClassifier(target_epsilon=float("inf"), epochs=3), X, y, masks, random_state=0)
    plain = train_shadow_models(TorchMLPClassifier(epochs=3, lr=1e-2), X, y, masks, random_state=0)
    assert shadows.noise_multiplier_ == 0.0 and shadows.epsilon_ == float("inf")  # no noise, no clipping
    np.testing.assert_allclose(shadows.predict_proba(X), plain.predict_proba(X), atol=1e-6)


@pytest.mark.parametrize("kwargs,match", [
    ({"target_epsilon": 0.0}, "target_epsilon"), ({"target_epsilon": -1.0}, "target_epsilon"),
    ({"delta": 0.0}, "delta"), ({"delta": 1.0}, "delta"), ({"max_grad_norm": 0.0}, "max_grad_norm"),
    ({"trainer": "jax"}, "trainer"), ({"trainer": "stacked", "early_stopping": True}, "trainer"),
])
def test_dp_model_bad_inputs_fail_before_training(kwargs, match, dp_data):
    with pytest.raises(ValueError, match=match):
        DPMLPClassifier(**kwargs).fit(*dp_data)


def test_dp_step_bad_inputs():
    net, X, y = tiny()
    with pytest.raises(ValueError, match="max_grad_norm"):
        dp_sgd_step(net, X, y, lr=0.1, max_grad_norm=0.0, noise_multiplier=1.0)
    with pytest.raises(ValueError, match="noise_multiplier"):
        dp_sgd_step(net, X, y, lr=0.1, max_grad_norm=1.0, noise_multiplier=-1.0)


def test_poisson_batches_put_each_models_taken_rows_first_in_order():
    """The linear-time placement gives exactly a stable argsort of "taken first"."""
    from mia_course.training.dp_stacked import poisson_batches
    for shape, rate in (((6, 500), 1 / 16), ((3, 5), 0.5), ((2, 9), 1.0), ((4, 7), 0.0)):
        masks = torch.rand(shape, generator=torch.Generator().manual_seed(1)) < 0.4
        for seed in range(5):
            order, valid = poisson_batches(masks, rate, torch.Generator().manual_seed(seed))
            take = masks & (torch.rand(shape, generator=torch.Generator().manual_seed(seed)) < rate)
            width = max(int(take.sum(1).max()), 1)
            want = torch.argsort(take.float(), dim=1, descending=True, stable=True)[:, :width]
            assert torch.equal(order, want)
            assert torch.equal(valid, torch.gather(take, 1, want).float())
