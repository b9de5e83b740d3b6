import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from mia_course.data import make_ad_clicks
from mia_course.models import TorchMLPClassifier
from mia_course.training.mlp import BatchedMLP
from mia_course.training.registry import ShadowModels, train_shadow_models
from mia_course.training.stacked import BatchedAdam, epoch_batches
from helpers import Recorder


def seeds_of(random_state, n_models):
    """The per-model seeds train_shadow_models documents (one draw per mask)."""
    return np.random.RandomState(random_state).randint(2**31 - 1, size=n_models)


@pytest.fixture(scope="module")
def pool(ad):
    """120 pool rows, 3 masks of clearly different sizes (both classes in each), 60 query rows."""
    X, y = ad.X[:120], ad.y[:120]
    masks = np.zeros((3, 120), dtype=bool)
    masks[0, :20] = True              # 20 rows
    masks[1, 10:80] = True            # 70 rows
    masks[2, ::2] = masks[2, 1::3] = True  # 80 rows, interleaved
    assert all(len(np.unique(y[m])) == 2 for m in masks)
    return X, y, masks, ad.X[200:260]


@pytest.mark.parametrize("weight_decay, batch_size", [(0.0, 64), (1e-2, 64), (0.0, 16), (0.05, 16)])
def test_batched_training_matches_one_by_one(pool, weight_decay, batch_size):
    X, y, masks, Xq = pool
    steps = [-(-m.sum() // batch_size) for m in masks]
    assert len(set(steps)) > 1  # models really take different numbers of steps
    est = TorchMLPClassifier(epochs=2, hidden_sizes=(32,), batch_size=batch_size, weight_decay=weight_decay)
    shadows = train_shadow_models(est, X, y, masks, random_state=5)
    assert isinstance(shadows, BatchedMLP) and len(shadows) == 3
    P = shadows.predict_proba(Xq)
    assert P.shape == (3, len(Xq), 2)
    singles = [clone(est).set_params(random_state=s).fit(X[m], y[m]).predict_proba(Xq)
               for s, m in zip(seeds_of(5, 3), masks)]
    for k in range(3):
        np.testing.assert_allclose(P[k], singles[k], atol=1e-4)
        assert np.abs(P[k] - singles[(k + 1) % 3]).max() > 1e-2  # the comparison can tell models apart


def test_fully_trained_accuracy_matches_one_by_one():
    d = make_ad_clicks(1200, random_state=3)
    X, y, Xt, yt = d.X[:600], d.y[:600], d.X[600:], d.y[600:]
    rng = np.random.RandomState(1)
    masks = rng.random_sample((4, 600)) < 0.5
    shadows = train_shadow_models(TorchMLPClassifier(), X, y, masks, random_state=2)
    acc_batched = (shadows.classes_[shadows.predict_proba(Xt).argmax(-1)] == yt).mean(axis=1)
    acc_single = [(TorchMLPClassifier(random_state=s).fit(X[m], y[m]).predict(Xt) == yt).mean()
                  for s, m in zip(seeds_of(2, 4), masks)]
    np.testing.assert_allclose(acc_batched, acc_single, atol=0.02)
    assert min(acc_batched) > 0.6  # they learned something


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_batched_adam_matches_torch_adam(weight_decay):
    torch.manual_seed(0)
    n_models, lr = 3, 0.05
    W0, b0 = torch.randn(n_models, 4, 2), torch.randn(n_models, 1, 2)
    Xs, Ts = torch.randn(n_models, 5, 4), torch.randn(n_models, 5, 2)
    active = torch.tensor([[True, False, False], [True, True, False], [False, True, False],
                           [True, True, False], [True, False, False]])  # model 2 never active

    def loss(W, b, k):
        return ((Xs[k] @ W + b - Ts[k]) ** 2).sum() + (W ** 3).sum()

    W, b = W0.clone().requires_grad_(), b0.clone().requires_grad_()
    adam = BatchedAdam([(W, b)], lr=lr, weight_decay=weight_decay)
    for on in active:
        total = sum(loss(W[k], b[k], k) for k in range(n_models))  # idle models get gradients too
        adam.step(torch.autograd.grad(total, [W, b]), active=on)

    for k in range(n_models):
        Wk, bk = W0[k].clone().requires_grad_(), b0[k].clone().requires_grad_()
        opt = torch.optim.Adam([Wk, bk], lr=lr, weight_decay=weight_decay)
        for on in active[:, k]:
            if on:  # a model without a batch is simply not stepped
                opt.zero_grad()
                loss(Wk, bk, k).backward()
                opt.step()
        torch.testing.assert_close(W[k].detach(), Wk.detach(), atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(b[k].detach(), bk.detach(), atol=1e-6, rtol=1e-5)
    assert torch.equal(W[2].detach(), W0[2]) and torch.equal(b[2].detach(), b0[2])  # exactly untouched
    assert not torch.allclose(W[0].detach(), W0[0])
    np.testing.assert_array_equal(adam.t.numpy(), active.sum(0).numpy())


@pytest.mark.parametrize("batch_size", [1, 7, 64])
def test_epoch_batches_partition_each_models_rows(batch_size):
    masks = np.random.RandomState(0).random_sample((4, 50)) < np.array([[0.1], [0.4], [0.7], [1.0]])
    seeds = [11, 12, 13, 14]
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    idx, valid = epoch_batches(masks, gens, batch_size)
    n_steps = max(-(-m.sum() // batch_size) for m in masks)
    assert idx.shape == valid.shape == (n_steps, 4, batch_size)
    idx, valid = idx.numpy(), valid.numpy()
    for k, m in enumerate(masks):
        rows = np.flatnonzero(m)
        # step by step, slot by slot: exactly the model's rows, each once, in its own shuffled order
        taken = idx[:, k][valid[:, k]]
        np.testing.assert_array_equal(np.sort(taken), rows)
        perm = torch.randperm(len(rows), generator=torch.Generator().manual_seed(seeds[k])).numpy()
        np.testing.assert_array_equal(taken, rows[perm])  # as TorchMLPClassifier.fit shuffles
        assert valid[:, k].sum() == len(rows)
        flat = valid[:, k].ravel()
        assert flat[:len(rows)].all() and not flat[len(rows):].any()  # padding only at the end
    # the generators advanced: the next epoch is a different shuffle
    idx2, _ = epoch_batches(masks, gens, batch_size)
    assert not np.array_equal(idx, idx2.numpy())


@pytest.mark.parametrize("estimator", [LogisticRegression(max_iter=300),
                                       RandomForestClassifier(n_estimators=5, max_depth=3),
                                       KNeighborsClassifier(n_neighbors=3)], ids=["lr", "forest", "knn"])
def test_non_torch_shadows_are_seeded_clones(pool, estimator):
    X, y, masks, Xq = pool
    shadows = train_shadow_models(estimator, X, y, masks, random_state=3)
    assert type(shadows) is ShadowModels and len(shadows) == 3
    np.testing.assert_array_equal(shadows.classes_, [0, 1])
    P = shadows.predict_proba(Xq)
    assert P.shape == (3, len(Xq), 2)
    seeds = seeds_of(3, 3)
    for k, (s, m) in enumerate(zip(seeds, masks)):
        ref = clone(estimator)
        if "random_state" in ref.get_params():
            ref.set_params(random_state=s)
        np.testing.assert_allclose(P[k], ref.fit(X[m], y[m]).predict_proba(Xq), rtol=0, atol=1e-12)
        np.testing.assert_array_equal(shadows.model(k).predict_proba(Xq), P[k])
        assert shadows.model(k) is not estimator
    if isinstance(estimator, RandomForestClassifier):  # the seed matters, so it was the right one
        other = clone(estimator).set_params(random_state=seeds[1]).fit(X[masks[0]], y[masks[0]])
        assert not np.allclose(other.predict_proba(Xq), P[0])
    assert not hasattr(estimator, "classes_")  # the given estimator stays unfitted


def test_batched_model_views_and_determinism(pool):
    X, y, masks, Xq = pool
    est = TorchMLPClassifier(epochs=2, hidden_sizes=(16,))
    a, b, c = (train_shadow_models(est, X, y, masks, random_state=r) for r in (0, 0, 1))
    P = a.predict_proba(Xq)
    np.testing.assert_array_equal(P, b.predict_proba(Xq))
    assert not np.allclose(P, c.predict_proba(Xq))
    np.testing.assert_allclose(P.sum(-1), 1.0, atol=1e-12)
    for k in range(3):
        view = a.model(k)
        np.testing.assert_allclose(view.predict_proba(Xq), P[k], atol=1e-6)
        np.testing.assert_array_equal(view.predict(Xq), a.classes_[P[k].argmax(1)])
        np.testing.assert_array_equal(view.classes_, [0, 1])
    np.testing.assert_allclose(a.predict_proba(Xq, models=[2, 0]), P[[2, 0]], atol=1e-6)
    for k, err in [(3, ValueError), (-1, ValueError), (1.0, TypeError)]:
        with pytest.raises(err, match="k"):
            a.model(k)
    with pytest.raises(ValueError, match="X"):
        a.predict_proba(Xq[:, :5])
    np.testing.assert_allclose(a.predict_proba(Xq[::-1]), P[:, ::-1], atol=1e-6)  # negative strides
    rev = train_shadow_models(est, X[::-1], y[::-1], masks[:, ::-1], random_state=0)
    assert rev.predict_proba(Xq).shape == P.shape
    assert not hasattr(est, "net_")




X6, Y6 = np.eye(6, dtype=np.float32), np.array([0, 1] * 3)
OK_MASKS = np.array([[True] * 3 + [False] * 3, [False] * 3 + [True] * 3])


@pytest.mark.parametrize("estimator, X, y, masks, err, match", [
    (Recorder(), X6, Y6, OK_MASKS.astype(int), TypeError, "masks"),
    (Recorder(), X6, Y6, OK_MASKS.astype(float), TypeError, "masks"),
    (Recorder(), X6, Y6, OK_MASKS[:, :5], ValueError, "masks"),
    (Recorder(), X6, Y6, OK_MASKS[0], ValueError, "masks"),
    (Recorder(), X6, Y6, OK_MASKS[:0], ValueError, "masks"),
    (Recorder(), X6, Y6, np.r_[OK_MASKS, np.zeros((1, 6), bool)], ValueError, "masks"),
    (object(), X6, Y6, OK_MASKS, TypeError, "estimator"),
    (Recorder(), np.where(X6 == 1, np.nan, X6), Y6, OK_MASKS, ValueError, "X"),
    (Recorder(), X6[:, 0], Y6, OK_MASKS, ValueError, "X"),
    (Recorder(), X6, Y6[:5], OK_MASKS, ValueError, "y"),
    (Recorder(), X6, [0, 1, 0.5, 1, 0, 1], OK_MASKS, ValueError, "y"),
    (TorchMLPClassifier(epochs=0), X6, Y6, OK_MASKS, ValueError, "epochs"),
])
def test_bad_inputs_raise_before_training(estimator, X, y, masks, err, match):
    Recorder.calls.clear()
    with pytest.raises(err, match=match):
        train_shadow_models(estimator, X, y, masks, random_state=0)
    assert Recorder.calls == []
    train_shadow_models(Recorder(), X6, Y6, OK_MASKS, random_state=0)  # the good inputs do work
    assert Recorder.calls == [3, 3]


def test_predicting_in_chunks_of_rows_changes_nothing(pool, monkeypatch):
    """Many rows at once (a label-only attack's perturbed copies) are predicted in chunks, with
    the hidden layer's ReLU in place: the same probabilities as one pass, and as each model
    alone, and gradients still flow where they are asked for."""
    import mia_course.training.mlp as mlp
    from mia_course.training.stacked import stacked_forward
    X, y, masks, _ = pool
    models = train_shadow_models(TorchMLPClassifier(epochs=2), X, y, masks, random_state=0)
    rows = np.vstack([X] * 5)
    whole = models.predict_proba(rows)
    monkeypatch.setattr(mlp, "PREDICT_CHUNK", 7)  # ragged chunks
    np.testing.assert_array_equal(models.predict_proba(rows), whole)
    np.testing.assert_allclose(models.model(1).predict_proba(rows), whole[1], rtol=1e-12)
    Xt = torch.from_numpy(X[:5]).expand(3, -1, -1).clone().requires_grad_()
    stacked_forward(models.params_, Xt).sum().backward()
    assert Xt.grad is not None and torch.isfinite(Xt.grad).all() and Xt.grad.abs().sum() > 0



def test_stacked_training_runs_on_one_torch_thread_by_default(monkeypatch):
    """Measured on 2 cores (benchmarks/RESULTS.md): the stacked models' small products run
    faster on one thread than when a second is woken for each (lesson 08: 32 s -> 22 s idle)."""
    from mia_course.nets import torch_threads
    from mia_course.training import mlp

    seen, real = [], mlp.train_stacked
    monkeypatch.setattr(mlp, "train_stacked", lambda *a, **k: seen.append(torch.get_num_threads()) or real(*a, **k))
    d = make_ad_clicks(40, random_state=0)
    masks = np.ones((2, 40), bool)
    with torch_threads(2):
        before = torch.get_num_threads()
        train_shadow_models(TorchMLPClassifier(epochs=1), d.X, d.y, masks, random_state=0)
        train_shadow_models(TorchMLPClassifier(epochs=1), d.X, d.y, masks, random_state=0, n_threads=None)
        assert seen == [1, 2] and torch.get_num_threads() == before
