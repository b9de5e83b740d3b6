"""The checks of exercises 08-11 teach: references pass, hard-coded answers fail, mistakes get words."""
import numpy as np
import pytest
import torch
from scipy.stats import beta

from mia_course.audit import dp_bound_tpr, epsilon_from_counts
from mia_course.defenses.dp_sgd import clip_per_sample, noisy_gradient
from mia_course.defenses.outputs import RoundedOutputs, keep_top_class
from mia_course.grading.checks.ex08 import reference_pareto_front
from mia_course.grading.checks.ex10 import FixedRows
from mia_course.grading import REGISTRY, check, exercise_names
from mia_course.metrics import membership_advantage, roc
from helpers import generic_grading_tests

LESSONS = ("ex08", "ex09", "ex10", "ex11")


def _rounded(P, decimals):
    return RoundedOutputs(FixedRows(np.asarray(P)), decimals).predict_proba(np.arange(len(P), dtype=float)[:, None])


def _noisy(P, noise, tie_break=True, clip=True, keep=True, fallback=True):
    Q = np.clip(P + noise, 0.0, None) if clip else P + noise
    if fallback:
        Q[Q.sum(axis=1) == 0] = 1.0
    Q = Q / Q.sum(axis=1, keepdims=True)
    if not keep:
        return Q
    if tie_break:
        return keep_top_class(Q, P.argmax(axis=1))
    rows, top, now = np.arange(len(Q)), P.argmax(axis=1), Q.argmax(axis=1)
    Q[rows, top], Q[rows, now] = Q[rows, now], Q[rows, top].copy()
    return Q


def _epsilon(tp, n_in, fp, n_out, delta, confidence=0.95):
    return epsilon_from_counts(tp, n_in, fp, n_out, delta, confidence)


REFERENCES = {
    "ex08_membership_advantage": membership_advantage,
    "ex08_pareto_front": reference_pareto_front,
    "ex09_clip_per_sample": lambda grads, C: clip_per_sample(grads, C)[0],
    "ex09_noisy_gradient": lambda c, C, s, B, generator=None: noisy_gradient(c, C, s, B, generator=generator),
    "ex10_rounded_outputs": _rounded,
    "ex10_noisy_outputs": _noisy,
    "ex11_dp_bound": dp_bound_tpr,
    "ex11_epsilon_lower_bound": _epsilon,
}
HIDDEN_OPTIONS = {  # the kinds of case the hidden tests of solutions/ ask for
    "ex08_membership_advantage": [{"inverted": True}, {"ties": True, "as_int": True}, {"n_members": 1}],
    "ex08_pareto_front": [{"ties": True, "n": 8}, {"n": 1}, {"tradeoff": True}, {"as_list": True}],
    "ex09_clip_per_sample": [{"zero": True}, {"batch": 1}, {"below": True}, {"one_param": True}],
    "ex09_noisy_gradient": [{"sigma": 0.0}, {"batch": 1}, {"sigma": 3.0, "C": 0.25}],
    "ex10_rounded_outputs": [{"on_grid": True}, {"decimals": 3, "n_rows": 1}, {"n_classes": 2, "decimals": 0}],
    "ex10_noisy_outputs": [{"wiped": True}, {"n_rows": 1}, {"scale": 0.5, "n_classes": 5}],
    "ex11_dp_bound": [{"epsilon": 0.0}, {"scalar": True}, {"as_list": True, "delta": 0.2}, {"epsilon": 8.0}],
    "ex11_epsilon_lower_bound": [{"kind": "no_false"}, {"kind": "all_true"}, {"kind": "zero"},
                                 {"n": 20, "delta": 0.1}, {"confidence": 0.5}],
}


def test_registry_lists_one_check_per_graded_function_of_lessons_08_to_11():
    assert [n for n in exercise_names() if n[:4] in LESSONS] == sorted(REFERENCES)
    assert {n[:4] for n in REFERENCES} == set(LESSONS)


# the package's reference passes; a hard-coded answer fails; a learner's exception is reported
(test_the_package_reference_passes_public_and_hidden_cases, test_a_hard_coded_answer_fails,
 test_a_learners_exception_is_a_failed_check_with_its_message) = generic_grading_tests(REFERENCES, HIDDEN_OPTIONS, n_seeds=10)


def test_the_noise_check_accepts_any_draw_of_the_right_distribution():
    def own_rng(clipped, C, sigma, B, generator=None):  # ignores the generator: other draws
        return {k: (g.sum(0) + torch.randn(g.shape[1:], dtype=torch.float64).float() * sigma * C) / B
                for k, g in clipped.items()}
    for seed in range(20):
        assert check("ex09_noisy_gradient", own_rng, seed=seed).passed


def test_the_epsilon_reference_is_the_formula_at_one_roc_point():
    tp, n_in, fp, n_out, delta, a = 300, 1000, 10, 1000, 1e-5, 0.025
    low, high = beta.ppf(a, tp, n_in - tp + 1), beta.ppf(1 - a, fp + 1, n_out - fp)
    expected = max(np.log((low - delta) / high), np.log((1 - high - delta) / (1 - low)), 0.0)
    assert np.isclose(_epsilon(tp, n_in, fp, n_out, delta), expected)
    assert _epsilon(10, 100, 10, 100, delta) == 0.0


# ---- the learner's typical mistakes, and the words that answer them ------------------------
def _gap(m, s):
    m = np.asarray(m).astype(bool)
    f, t, _ = roc(m, s)
    return f, t


def _sweep(m, s):  # TPR - FPR after each record, highest score first: splits groups of tied scores
    m = np.asarray(m).astype(bool)[np.argsort(-s, kind="stable")]
    return np.cumsum(m) / m.sum() - np.cumsum(~m) / (~m).sum()


def _front(acc, tpr, rule):
    acc, tpr = np.asarray(acc), np.asarray(tpr)
    return np.array([not any(rule(acc[j], tpr[j], acc[i], tpr[i]) for j in range(len(acc)) if j != i)
                     for i in range(len(acc))])


def _clip(grads, C, per_param=False, always=False, rescale=False):
    flat = torch.cat([g.flatten(1) for g in grads.values()], 1)
    out = {}
    for k, g in grads.items():
        norms = g.flatten(1).norm(dim=1) if per_param else flat.norm(dim=1)
        scale = C / (norms + 1e-12) if always else (C / (norms + 1e-12)).clamp(max=1.0)
        scale = norms.clamp(max=C) / norms if rescale else scale  # 0 / 0 for an all-zero gradient
        out[k] = g * scale.view(-1, *([1] * (g.dim() - 1)))
    return out


def _noise(clipped, C, sigma, B, divisor=None, std=None, after=False, per_example=False, generator=None):
    out = {}
    for k, g in clipped.items():
        shape = g.shape if per_example else g.shape[1:]
        noise = torch.normal(0.0, sigma * C if std is None else std, shape, generator=generator)
        noise = noise.sum(0) if per_example else noise
        d = B if divisor is None else (len(g) if divisor == "n" else divisor)
        out[k] = g.sum(0) / d + noise if after else (g.sum(0) + noise) / d
    return out


def _floor_round(P, d, eps=0.0, top_rest=True, how=np.floor):
    out = how(P * 10**d + eps) / 10**d
    if top_rest:
        rows, top = np.arange(len(P)), P.argmax(1)
        out[rows, top] = 0.0
        out[rows, top] = 1.0 - out.sum(1)
    return out


def _bound(f, e, d, second=True, delta_first=True, delta_second=True, clip=True):
    f = np.asarray(f, dtype=float)
    b = np.exp(e) * f + (d if delta_first else 0.0)
    if second:
        b = np.minimum(b, 1 - np.exp(-e) * (1 - (d if delta_second else 0.0) - f))
    return np.clip(b, 0, 1) if clip else b


def _audit(tp, n_in, fp, n_out, delta, conf=0.95, cp=True, second=True, floor=True, side=1):
    a = (1 - conf) / 2 * side
    tl = beta.ppf(a, tp, n_in - tp + 1) if (cp and tp > 0) else (0.0 if cp else tp / n_in)
    fh = beta.ppf(1 - a, fp + 1, n_out - fp) if (cp and fp < n_out) else (1.0 if cp else fp / n_out)
    with np.errstate(all="ignore"):
        c = [np.log((tl - delta) / fh)] + ([np.log((1 - fh - delta) / (1 - tl))] if second else [])
    c = [v for v in c if np.isfinite(v)]
    return max(c + [0.0]) if floor else (max(c) if c else -np.inf)


@pytest.mark.parametrize("name,wrong,words", [
    ("ex08_membership_advantage", lambda m, s: np.max(np.subtract(*_gap(m, s)[::-1])) * 100, "percentage"),
    ("ex08_membership_advantage", lambda m, s: (1 + membership_advantage(m, s)) / 2, "balanced accuracy"),
    ("ex08_membership_advantage", lambda m, s: np.subtract(*_gap(m, s)[::-1]), "not one per threshold"),
    ("ex08_membership_advantage", lambda m, s: np.min(np.subtract(*_gap(m, s))), "never negative"),
    ("ex08_membership_advantage", lambda m, s: np.max(_sweep(m, s)), "with tied scores"),
    ("ex08_pareto_front", lambda a, t: reference_pareto_front(a, -np.asarray(t)), "lower attack success is better"),
    ("ex08_pareto_front", lambda a, t: _front(a, t, lambda a1, t1, a0, t0: a1 > a0 and t1 < t0),
     "equally accurate and less exposed"),
    ("ex08_pareto_front", lambda a, t: _front(a, t, lambda a1, t1, a0, t0: a1 >= a0 and t1 <= t0),
     "exactly the same point"),
    ("ex08_pareto_front", lambda a, t: np.zeros(len(a), bool), "never dominates itself"),
    ("ex08_pareto_front", lambda a, t: np.flatnonzero(reference_pareto_front(a, t)), "not the indices"),
    ("ex09_clip_per_sample", lambda g, C: _clip(g, C, per_param=True), "all parameters together"),
    ("ex09_clip_per_sample", lambda g, C: _clip(g, C, always=True), "stays unchanged"),
    ("ex09_clip_per_sample", lambda g, C: {k: v.clamp(-C, C) for k, v in g.items()}, "clamping its entries"),
    ("ex09_clip_per_sample", lambda g, C: clip_per_sample(g, C), "return only the dict"),
    ("ex09_noisy_gradient", lambda c, C, s, B, g: _noise(c, C, s, B, divisor="n", generator=g),
     "not by the number of examples"),
    ("ex09_noisy_gradient", lambda c, C, s, B, g: _noise(c, C, s, B, std=s, generator=g),
     "not noise_multiplier alone"),
    ("ex09_noisy_gradient", lambda c, C, s, B, g: _noise(c, C, s, B, std=(s * C) ** 2, generator=g),
     "not the variance"),
    ("ex09_noisy_gradient", lambda c, C, s, B, g: _noise(c, C, s, B, after=True, generator=g),
     "before dividing"),
    ("ex09_noisy_gradient", lambda c, C, s, B, g: _noise(c, C, s, B, per_example=True, generator=g),
     "not one to each example"),
    ("ex09_noisy_gradient", lambda c, C, s, B, g: _noise(c, C, 0.0, B), "you added no noise"),
    ("ex09_noisy_gradient", lambda c, C, s, B, g: _noise(c, C, s, B, divisor=1.0, generator=g),
     "divide the noisy sum"),
    ("ex09_noisy_gradient", lambda c, C, s, B, g: _noise(c, C, s, B, std=s), "should be (sum of the clipped"),
    ("ex09_noisy_gradient", lambda c, C, s, B, g: {k: v.mean(0) for k, v in _noise(c, C, s, B).items()},
     "returned shape"),
    ("ex10_rounded_outputs", lambda P, d: np.round(P, d), "np.round"),
    ("ex10_rounded_outputs", lambda P, d: _floor_round(P, d, top_rest=False), "sum to 1"),
    ("ex10_rounded_outputs", lambda P, d: _floor_round(P, d, how=np.round), "(np.floor)"),
    ("ex10_noisy_outputs", lambda P, z: _noisy(P, z, keep=False), "label changed"),
    ("ex10_noisy_outputs", lambda P, z: _noisy(P, z, clip=False), "negative probabilities"),
    ("ex10_noisy_outputs", lambda P, z: np.clip(P + z, 0, None), "sum to 1"),
    ("ex11_dp_bound", lambda f, e, d: _bound(f, e, d, second=False), "second inequality"),
    ("ex11_dp_bound", lambda f, e, d: _bound(f, e, d, clip=False), "between 0 and 1"),
    ("ex11_dp_bound", lambda f, e, d: _bound(f, e, d, delta_first=False), "first inequality has delta"),
    ("ex11_dp_bound", lambda f, e, d: _bound(f, -e, d), "e^eps, not e^-eps"),
    ("ex11_epsilon_lower_bound", lambda *a: _audit(*a, cp=False), "observed rates claim too much"),
    ("ex11_epsilon_lower_bound", lambda *a: _audit(*a, side=2), "(1 - confidence) / 2 on each side"),
    ("ex11_epsilon_lower_bound", lambda *a: _audit(*a, second=False), "keep the larger of the two"),
])
def test_common_mistakes_get_a_message_that_teaches(name, wrong, words):
    for seed in range(3):
        report = check(name, wrong, seed=seed)
        assert not report.passed and words in str(report), str(report)


@pytest.mark.parametrize("name,wrong,cases,words", [
    ("ex08_membership_advantage", lambda m, s: float(np.max(np.abs(np.subtract(*_gap(m, s))))),
     [{"inverted": True}], "absolute value"),
    ("ex08_membership_advantage", lambda m, s: np.max(_sweep(m, s)), [{"ties": True}] * 2, "with tied scores"),
    ("ex09_clip_per_sample", lambda g, C: _clip(g, C, rescale=True), [{"zero": True}], "don't divide by 0"),
    ("ex09_noisy_gradient", lambda c, C, s, B, g: {k: v.sum(0) / len(v) for k, v in c.items()}, [{"sigma": 0.0}],
     "not by the number of examples"),
    ("ex10_rounded_outputs", lambda P, d: _floor_round(P, d), [{"on_grid": True}], "add 1e-9 before flooring"),
    ("ex10_noisy_outputs", lambda P, z: _noisy(P, z, tie_break=False), [{"wiped": True}], "tiny edge"),
    ("ex10_noisy_outputs", lambda P, z: _noisy(P, z, fallback=False), [{"wiped": True}], "uniform"),
    ("ex11_dp_bound", lambda f, e, d: _bound(f, e, d, delta_second=False), [{"delta": 0.2}],
     "second inequality has delta"),
    ("ex11_epsilon_lower_bound", lambda *a: _audit(*a, floor=False), [{"kind": "none"}], "at least 0"),
])
def test_hidden_cases_catch_the_mistakes_of_the_edge_cases(name, wrong, cases, words):
    for seed in range(3):
        report = check(name, wrong, seed=seed, kind="hidden", cases=cases)
        assert not report.passed and words in str(report), str(report)


def test_messages_do_not_reveal_the_expected_values():
    for name, zeros in (("ex08_membership_advantage", lambda m, s: 0.5),
                        ("ex11_epsilon_lower_bound", lambda *a: 9.0),
                        ("ex11_dp_bound", lambda f, e, d: np.zeros(np.shape(f)))):
        exercise, rng = REGISTRY[name], np.random.default_rng(4)
        report = check(name, zeros, seed=4)
        for options, result in zip(exercise.default_cases, report.results):
            _, _, ctx = exercise.make_case(rng, **options)
            assert not result.passed
            assert not any(f"{v:.3f}" in result.message for v in np.ravel(ctx["ref"])[:20] if abs(v) > 1e-3)
