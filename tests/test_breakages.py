"""Deliberate breakages, each caught by the check that guards that part.

Every test applies one breakage with monkeypatch and shows that the relevant check (the
same function that tests/test_dp_checks.py and tests/test_checks.py run on the unbroken
package, where it passes) now raises AssertionError."""
import numpy as np
import pytest
import torch

import checks
import dp_checks
import mia_course.audit
import mia_course.training.dp_stacked as dp_shadows
import mia_course.metrics
import mia_course.rmia
from mia_course.lira import LiRA
from test_dp_checks import DP_ESTIMATOR, dp_data

ORIGINAL = {name: getattr(dp_shadows, name) for name in
            ("noisy_average", "clipped_gradient_sums", "noise_multiplier_for", "poisson_batches", "epsilon_spent")}


# ---- breakages of the batched DP-SGD trainer --------------------------------------------
def noise_times(factor):
    def noisy_average(grads, noise_multiplier, max_grad_norm, expected, generator):
        return ORIGINAL["noisy_average"](grads, noise_multiplier * factor, max_grad_norm, expected, generator)
    return {"noisy_average": noisy_average}


def batch_clipping():
    """Clip each model's summed gradient to C instead of each example's."""
    def clipped_gradient_sums(params, X, y, valid, max_grad_norm, dropout=0.0):
        grads, norms = ORIGINAL["clipped_gradient_sums"](params, X, y, valid, 1e30, dropout)
        total = sum((g * g).flatten(1).sum(1) for g in grads).sqrt()
        scale = (max_grad_norm / (total + 1e-12)).clamp(max=1.0)
        return [g * scale.view(-1, *[1] * (g.dim() - 1)) for g in grads], norms
    return {"clipped_gradient_sums": clipped_gradient_sums}


def accountant_told(rate=1.0, steps=1.0):
    """The accountant is given ``rate`` x the sampling rate and ``steps`` x the steps."""
    def noise_multiplier_for(target_epsilon, delta, sample_rate, n_steps):
        return ORIGINAL["noise_multiplier_for"](target_epsilon, delta, min(sample_rate * rate, 1.0),
                                                max(int(n_steps * steps), 1))
    return {"noise_multiplier_for": noise_multiplier_for}


def fixed_size_batches():
    """Shuffled batches of exactly q * n rows instead of Poisson sampling."""
    def poisson_batches(masks, sample_rate, generator):
        n = (masks.sum(1).float() * sample_rate).round().long()
        order = torch.argsort(torch.rand(masks.shape, generator=generator) + masks.float(), dim=1,
                              descending=True)[:, :int(n.max())]
        return order, (torch.arange(order.shape[1])[None] < n[:, None]).float()
    return {"poisson_batches": poisson_batches}


def divide_by_actual_batch_size():
    """The noisy sum divided by the batch actually drawn (it leaks its size) instead of
    the expected batch size."""
    last = {}

    def poisson_batches(masks, sample_rate, generator):
        order, valid = ORIGINAL["poisson_batches"](masks, sample_rate, generator)
        last["valid"] = valid
        return order, valid

    def noisy_average(grads, noise_multiplier, max_grad_norm, expected, generator):
        actual = last["valid"].sum(1).clamp(min=1)
        return ORIGINAL["noisy_average"](grads, noise_multiplier, max_grad_norm, actual, generator)
    return {"poisson_batches": poisson_batches, "noisy_average": noisy_average}


def zero_noise_multiplier():
    """The trainer believes (and reports) a noise multiplier of 0."""
    return {"noise_multiplier_for": lambda *args: 0.0}


def epsilon_reported_as(factor):
    """The trainer reports ``factor`` x the epsilon it spent."""
    return {"epsilon_spent": lambda *args: factor * ORIGINAL["epsilon_spent"](*args)}


DP_BREAKAGES = [
    ("epsilon reported as half of what was spent", epsilon_reported_as(0.5), "check_reported_epsilon", "reported epsilon"),
    ("noise 10x too small", noise_times(0.1), "check_reported_epsilon", "reported epsilon"),
    ("noise removed", noise_times(0.0), "check_noise", "noise std"),
    ("noise removed", noise_times(0.0), "check_epsilon", "measured epsilon inf"),
    ("noise 10x too large", noise_times(10.0), "check_noise", "noise std"),
    ("noise 10x too small", noise_times(0.1), "check_noise", "noise std"),
    ("noise 10x too small", noise_times(0.1), "check_epsilon", "measured epsilon"),
    ("batch clipping instead of per-example clipping", batch_clipping(), "check_clipping", "along the clipped sum"),
    ("accountant given half the sampling rate", accountant_told(rate=0.5), "check_epsilon", "measured epsilon"),
    ("accountant given twice the sampling rate", accountant_told(rate=2.0), "check_epsilon", "measured epsilon"),
    ("accountant given half the steps", accountant_told(steps=0.5), "check_epsilon", "measured epsilon"),
    ("fixed-size batches instead of Poisson sampling", fixed_size_batches(), "check_sampling", "batch-size variance"),
    ("divided by the actual batch size", divide_by_actual_batch_size(), "check_noise", "noise (std|level)"),
    ("noise multiplier 0 (and reported as 0)", zero_noise_multiplier(), "check_noise", "no noise"),
    ("noise multiplier 0 (and reported as 0)", zero_noise_multiplier(), "check_epsilon", "measured epsilon inf"),
]


@pytest.fixture(scope="module")
def broken_runs():
    """One recorded run per distinct breakage (several checks may look at the same run)."""
    cache = {}

    def get(name, patch):
        if name not in cache:
            with pytest.MonkeyPatch.context() as mp:
                for attr, fn in patch.items():
                    mp.setattr(dp_shadows, attr, fn)
                run = dp_checks.record_dp_run(DP_ESTIMATOR, *dp_data())
            cache[name] = (run, dp_checks.measure(run))
        return cache[name]
    return get


@pytest.mark.parametrize("name,patch,check,message", DP_BREAKAGES, ids=[f"{b[0]}-{b[2]}" for b in DP_BREAKAGES])
def test_dp_breakage_is_caught(name, patch, check, message, broken_runs):
    run, measured = broken_runs(name, patch)
    with pytest.raises(AssertionError, match=message):
        getattr(dp_checks, check)(run, measured)


# ---- breakages of the attacks, the audit and the metrics --------------------------------
@pytest.fixture(scope="module")
def setting():
    return checks.leaky_setting()


def test_lira_in_and_out_swapped_is_caught(setting, monkeypatch):
    original = LiRA.shadow_confidences

    def swapped(self, X, y):
        phi, is_in = original(self, X, y)
        return phi, ~is_in
    monkeypatch.setattr(LiRA, "shadow_confidences", swapped)
    with pytest.raises(AssertionError, match="LiRA AUC"):
        checks.check_lira_finds_members(setting)


def test_rmia_without_a_correction_is_caught(setting, monkeypatch):
    monkeypatch.setattr(mia_course.rmia, "offline_probability", lambda p_out, a=0.3: np.asarray(p_out, float))
    with pytest.raises(AssertionError, match="Kendall"):
        checks.check_rmia_offline(setting)


def test_audit_with_point_estimate_instead_of_clopper_pearson_is_caught(monkeypatch):
    def point_estimate(successes, trials, confidence=0.95):
        p = np.asarray(successes, float) / np.asarray(trials, float)
        return p, p
    monkeypatch.setattr(mia_course.audit, "clopper_pearson", point_estimate)
    with pytest.raises(AssertionError, match="false claims"):
        checks.check_audit_is_a_lower_bound()


def test_tpr_at_fpr_interpolating_between_roc_points_is_caught(monkeypatch):
    def interpolated(is_member, scores, fpr):
        fprs, tprs, _ = mia_course.metrics.roc(is_member, scores)
        return float(np.interp(fpr, fprs, tprs))
    monkeypatch.setattr(mia_course.metrics, "tpr_at_fpr", interpolated)
    with pytest.raises(AssertionError, match="reference"):
        checks.check_tpr_at_fpr()
