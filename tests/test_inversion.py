"""Model inversion: tiny models against slow reference loops, the query budget, bad inputs,
and the checks of exercise 13."""
import copy

import numpy as np
import pytest
import torch

from mia_course.defenses import LabelOnlyOutputs, RoundedOutputs
from mia_course.defenses.dp_models import DPMLPClassifier
from mia_course.grading import check, exercise_names
from mia_course.inversion import (confidence_gradient, finite_difference_gradient, inversion_step,
                                  invert_blackbox, invert_whitebox, projected_step, resemblance)
from mia_course.models import TorchMLPClassifier
from helpers import generic_grading_tests

CLASSES = (2, 5, 9)  # labels that are not column indices


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.uniform(0.0, 1.0, (60, 5))
    y = np.array(CLASSES)[(X[:, 0] + X[:, 1] > 1).astype(int) + (X[:, 2] > 0.7)]
    return X, y


@pytest.fixture(scope="module")
def tiny(data):
    return TorchMLPClassifier(hidden_sizes=(8,), epochs=5, random_state=0).fit(*data)


def slow_probability(net, x, col):
    """p(col | x) for one row, layer by layer in float64 numpy (Linear and ReLU only)."""
    h = np.asarray(x, dtype=np.float64)
    for layer in net:
        if isinstance(layer, torch.nn.Linear):
            h = layer.weight.detach().double().numpy() @ h + layer.bias.detach().double().numpy()
        elif isinstance(layer, torch.nn.ReLU):
            h = np.maximum(h, 0.0)
    e = np.exp(h - h.max())
    return e[col] / e.sum()


def slow_gradient(net, X, cols, eps=1e-6):
    """Central finite differences, one feature of one row at a time."""
    G = np.zeros_like(X, dtype=np.float64)
    for i in range(X.shape[0]):
        for j in range(X.shape[1]):
            up, down = X[i].astype(np.float64), X[i].astype(np.float64)
            up[j] += eps
            down[j] -= eps
            G[i, j] = (slow_probability(net, up, cols[i]) - slow_probability(net, down, cols[i])) / (2 * eps)
    return G


def test_confidence_gradient_matches_finite_differences(tiny, data):
    X, cols = data[0][:6], np.array([0, 1, 2, 2, 1, 0])
    p, grad = confidence_gradient(tiny.net_, X, cols)
    assert np.allclose(p, [slow_probability(tiny.net_, x, c) for x, c in zip(X, cols)], atol=1e-12)
    assert np.allclose(grad, slow_gradient(tiny.net_, X, cols), rtol=1e-5, atol=1e-8)
    assert np.abs(grad).max() > 1e-3  # not trivially zero


def test_projected_step_and_inversion_step_are_the_formula(tiny, data):
    rng = np.random.default_rng(1)
    X, g = rng.uniform(0.0, 1.0, (4, 5)), rng.normal(0.0, 1.0, (4, 5))
    assert np.array_equal(projected_step(X, g, 0.7, (0.1, 0.9)), np.clip(X + 0.7 * g, 0.1, 0.9))
    cols = np.array([0, 1, 2, 0])
    expected = np.clip(X + 20.0 * (slow_gradient(tiny.net_, X, cols) - 2 * 0.05 * X), 0.0, 1.0)
    out = inversion_step(tiny.net_, X, cols, lr=20.0, l2=0.05)
    assert np.allclose(out, expected, atol=1e-7)
    assert ((out == 0.0) | (out == 1.0)).any(), "the clip should act in this case"


def slow_whitebox(model, X0, cols, n_steps, lr, l2, lo, hi):
    X = X0.copy()
    for _ in range(n_steps):
        X = np.clip(X + lr * (slow_gradient(model.net_, X, cols) - 2 * l2 * X), lo, hi)
    return X


def test_whitebox_inversion_matches_a_slow_reference_loop(tiny):
    targets = [9, 2, 5, 5]
    cols = np.array([2, 0, 1, 1])
    kw = dict(lr=4.0, l2=0.01, bounds=(0.0, 1.0), random_state=3)
    X0 = invert_whitebox(tiny, targets, n_steps=0, **kw)
    assert X0.shape == (4, 5) and X0.min() >= 0 and X0.max() <= 0.01  # blank, plus a little noise
    out = invert_whitebox(tiny, targets, n_steps=6, **kw)
    assert np.allclose(out, slow_whitebox(tiny, X0, cols, 6, 4.0, 0.01, 0.0, 1.0), atol=1e-6)
    p = tiny.predict_proba(out)[np.arange(4), cols]
    assert np.all(p > tiny.predict_proba(X0)[np.arange(4), cols]), "the confidence goes up"


def slow_blackbox(model, X0, cols, n_steps, lr, l2, h, lo, hi):
    """Forward differences, one query row at a time (down where up would leave the box)."""
    X = X0.copy()
    for _ in range(n_steps):
        G = np.zeros_like(X)
        for i in range(X.shape[0]):
            base = model.predict_proba(X[i:i + 1])[0, cols[i]]
            for j in range(X.shape[1]):
                s = 1.0 if X[i, j] + h <= hi else -1.0
                moved = X[i].copy()
                moved[j] += s * h
                G[i, j] = s * (model.predict_proba(moved[None])[0, cols[i]] - base) / h
        X = np.clip(X + lr * (G - 2 * l2 * X), lo, hi)
    return X


def test_blackbox_inversion_matches_a_slow_reference_loop(tiny):
    kw = dict(lr=4.0, l2=0.01, h=0.05, random_state=0)
    X0, _ = invert_blackbox(tiny, [5, 9], n_features=5, n_steps=0, **kw)
    out, used = invert_blackbox(tiny, [5, 9], n_features=5, n_steps=4, **kw)
    assert used == 4 * 2 * 6
    assert np.allclose(out, slow_blackbox(tiny, X0, [1, 2], 4, 4.0, 0.01, 0.05, 0.0, 1.0), atol=1e-5)


def test_finite_differences_approach_the_exact_gradient(tiny, data):
    X, cols = data[0][:5] * 0.9, np.array([0, 1, 2, 0, 1])
    net64 = copy.deepcopy(tiny.net_).double()

    def proba(Q):  # float64 predict_proba, so that a small step is exact enough
        with torch.no_grad():
            return torch.softmax(net64(torch.from_numpy(Q)), dim=1).numpy()
    p, grad = finite_difference_gradient(proba, X, cols, h=1e-6)
    p_ref, grad_ref = confidence_gradient(tiny.net_, X, cols)
    assert np.allclose(p, p_ref, atol=1e-6) and np.allclose(grad, grad_ref, rtol=1e-3, atol=1e-5)


class CountingModel:
    """Counts the rows sent to ``predict_proba`` (and refuses any row over ``limit``)."""

    def __init__(self, model, limit):
        self.model, self.limit, self.rows = model, limit, 0
        self.classes_, self.n_features_in_ = model.classes_, model.n_features_in_

    def predict_proba(self, X):
        self.rows += len(X)
        assert self.rows <= self.limit, "the query budget was exceeded"
        return self.model.predict_proba(X)


@pytest.mark.parametrize("budget", [0, 5, 17, 18, 19, 55, 10_000])
def test_blackbox_never_exceeds_the_query_budget(tiny, budget):
    per_step = 3 * (5 + 1)  # 3 targets, 5 features
    counter = CountingModel(tiny, budget)
    X, used = invert_blackbox(counter, [2, 5, 9], n_features=5, budget=budget, n_steps=20, random_state=0)
    assert used == counter.rows <= budget
    assert used == min(20, budget // per_step) * per_step
    assert X.shape == (3, 5)


def test_same_seed_same_reconstructions(tiny):
    a = invert_whitebox(tiny, n_steps=5, random_state=7)
    assert np.array_equal(a, invert_whitebox(tiny, n_steps=5, random_state=7))
    assert not np.array_equal(a, invert_whitebox(tiny, n_steps=5, random_state=8))
    b = invert_blackbox(tiny, n_features=5, n_steps=3, random_state=7)
    assert np.array_equal(b[0], invert_blackbox(tiny, n_features=5, n_steps=3, random_state=7)[0])


def test_works_on_dp_models_and_output_wrappers(data):
    dp = DPMLPClassifier(target_epsilon=8.0, hidden_sizes=(8,), epochs=1, random_state=0).fit(*data)
    X = invert_whitebox(dp, [2, 9], n_steps=3, random_state=0)  # through Opacus's hooked net_
    cols = np.array([0, 2])
    assert np.allclose(confidence_gradient(dp.net_, X, cols)[1], slow_gradient(dp.net_, X, cols),
                       rtol=1e-5, atol=1e-8)
    dp.predict_proba(X)  # the model itself still works
    for wrapped in (RoundedOutputs(dp, 1), LabelOnlyOutputs(dp)):
        X, used = invert_blackbox(wrapped, n_features=5, n_steps=2, l2=0.0, random_state=0)
        assert used == 2 * 3 * 6 and X.min() >= 0 and X.max() <= 1


def test_label_only_outputs_give_no_gradient_away_from_the_boundary(tiny):
    start, _ = invert_blackbox(tiny, [5], n_features=5, n_steps=0, init=0.5, random_state=0)
    grad = finite_difference_gradient(LabelOnlyOutputs(tiny).predict_proba, start, np.array([1]), h=1e-3)[1]
    assert np.array_equal(grad, np.zeros_like(grad))


def test_resemblance_against_a_loop():
    rng = np.random.default_rng(2)
    X, y = rng.uniform(0, 1, (20, 6)), np.repeat([0, 1], 10)
    R, t = rng.uniform(0, 1, (3, 6)), np.array([1, 0, 1])
    out = resemblance(R, t, X, y)
    for i in range(3):
        imgs = X[y == t[i]]
        assert np.isclose(out["corr_mean"][i], np.corrcoef(R[i], imgs.mean(0))[0, 1])
        assert np.isclose(out["corr_best"][i], max(np.corrcoef(R[i], im)[0, 1] for im in imgs))
        assert np.isclose(out["dist_mean"][i], np.linalg.norm(R[i] - imgs.mean(0)))
        assert np.isclose(out["dist_nearest"][i], min(np.linalg.norm(R[i] - im) for im in imgs))
    for args, name in [((R, [0, 1, 7], X, y), "targets"), ((R, [0, 1], X, y), "targets"),
                       ((R, t, X, y[:5]), "y"), ((R, t, X[:, :4], y), "X")]:
        with pytest.raises(ValueError, match=name):
            resemblance(*args)


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(model="not a model"), TypeError, "model"),
    (dict(targets=[3]), ValueError, "targets"),
    (dict(targets=[[2, 5]]), ValueError, "targets"),
    (dict(n_steps=-1), ValueError, "n_steps"),
    (dict(n_steps=2.5), TypeError, "n_steps"),
    (dict(lr=0.0), ValueError, "lr"),
    (dict(l2=-1.0), ValueError, "l2"),
    (dict(bounds=(1.0, 0.0)), ValueError, "bounds"),
    (dict(bounds=0.5), TypeError, "bounds"),
    (dict(init=2.0), ValueError, "init"),
])
def test_whitebox_bad_inputs_name_the_parameter(tiny, kwargs, error, match):
    kwargs = dict(kwargs)
    model = kwargs.pop("model", tiny)
    with pytest.raises(error, match=match):
        invert_whitebox(model, **kwargs)


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(model=object()), TypeError, "model"),
    (dict(n_features=4), ValueError, "n_features"),
    (dict(n_features="5"), TypeError, "n_features"),
    (dict(budget=-1), ValueError, "budget"),
    (dict(budget=1.5), TypeError, "budget"),
    (dict(h=0.0), ValueError, "h"),
    (dict(h=2.0), ValueError, "h"),
    (dict(targets=["a"]), ValueError, "targets"),
])
def test_blackbox_bad_inputs_name_the_parameter(tiny, kwargs, error, match):
    kwargs = dict(dict(n_features=5), **kwargs)
    model = kwargs.pop("model", CountingModel(tiny, limit=0))  # any query fails the test
    with pytest.raises(error, match=match):
        invert_blackbox(model, **kwargs)


# ---- the checks of exercise 13 ---------------------------------------------------------------
def _update(X, g, lr, l2, bounds):
    return projected_step(X, g - 2 * l2 * X, lr, bounds)


REFERENCES = {
    "ex14_confidence_gradient": lambda net, X, t: confidence_gradient(net, X, t)[1],
    "ex14_projected_update": _update,
}
HIDDEN_OPTIONS = {  # the kinds of case the hidden tests of solutions/ex14 ask for
    "ex14_confidence_gradient": [{"n_rows": 1}, {"same_target": True}, {"n_layers": 2, "n_classes": 10}],
    "ex14_projected_update": [{"bounds": (0.0, 16.0)}, {"l2": 0.0}, {"n_rows": 1, "bounds": (-1.0, 1.0)}],
}


def test_registry_has_the_two_checks_of_lesson_13():
    assert [n for n in exercise_names() if n.startswith("ex14")] == sorted(REFERENCES)


(test_the_package_reference_passes_public_and_hidden_cases, test_a_hard_coded_answer_fails,
 test_a_learners_exception_is_a_failed_check_with_its_message) = generic_grading_tests(REFERENCES, HIDDEN_OPTIONS, n_seeds=5)


def _student_gradient(score, dtype=torch.float32, reduce="sum"):
    def fn(net, X, targets):
        x = torch.tensor(X, dtype=dtype, requires_grad=True)
        s = score(net(x), np.arange(len(X)), targets)
        (s.sum() if reduce == "sum" else s.mean()).backward()
        return x.grad.numpy()
    return fn


@pytest.mark.parametrize("fn,words", [
    (_student_gradient(lambda z, r, t: torch.softmax(z, 1)[r, t]), None),  # right, in float32
    (_student_gradient(lambda z, r, t: z[r, t]), "logit"),
    (_student_gradient(lambda z, r, t: torch.log_softmax(z, 1)[r, t]), "log-probability"),
    (_student_gradient(lambda z, r, t: 1 - torch.softmax(z, 1)[r, t]), "sign"),
    (_student_gradient(lambda z, r, t: torch.softmax(z, 1)), "zero"),
    (_student_gradient(lambda z, r, t: torch.softmax(z, 1)[r, t], reduce="mean"), "average"),
    (_student_gradient(lambda z, r, t: z, dtype=torch.float64), "float32"),
])
def test_gradient_check_explains_typical_mistakes(fn, words):
    report = check("ex14_confidence_gradient", fn, seed=0)
    assert report.passed == (words is None), str(report)
    assert words is None or words in str(report), str(report)


@pytest.mark.parametrize("fn,words", [
    (lambda X, g, lr, l2, b: X + lr * (g - 2 * l2 * X), "clip"),
    (lambda X, g, lr, l2, b: np.clip(X - lr * (g - 2 * l2 * X), *b), "uphill"),
    (lambda X, g, lr, l2, b: np.clip(X + lr * (g + 2 * l2 * X), *b), "pulls towards 0"),
    (lambda X, g, lr, l2, b: np.clip(X + lr * (g - l2 * X), *b), "2 * l2 * x"),
    (lambda X, g, lr, l2, b: np.clip(X + lr * g, *b), "prior"),
])
def test_update_check_explains_typical_mistakes(fn, words):
    report = check("ex14_projected_update", fn, seed=0)
    assert not report.passed and words in str(report), str(report)
    hidden = check("ex14_projected_update", lambda X, g, lr, l2, b: np.clip(X + lr * (g - 2 * l2 * X), 0, 1),
                   cases=[{"bounds": (0.0, 16.0)}] * 3, seed=0)
    assert not hidden.passed and "bounds you are given" in str(hidden)
