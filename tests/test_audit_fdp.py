"""The Gaussian-DP one-run audit and the Bonferroni many-runs audit, on mechanisms whose privacy
is known: the Gaussian mechanism (exactly mu-GDP), randomized response (epsilon-DP, and exactly
mu-GDP for mu = 2 Phi^-1(e^eps / (1 + e^eps))) and the Laplace mechanism (epsilon-DP, every
tail threshold at exactly e^eps). A 95% lower bound may claim more than the truth in at most
5% of simulated audits; each test allows for the simulation's own error."""
from functools import lru_cache

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.stats import norm

import mia_course.audit_fdp as audit_fdp
from mia_course.accounting import exact_epsilon, noise_multiplier_for
from mia_course.audit import epsilon_from_counts, one_run_epsilon
from mia_course.audit_fdp import (fdp_one_run_epsilon, fdp_one_run_mu, gdp_delta, gdp_epsilon, gdp_mu,
                                  many_runs_epsilon)


def gaussian_guesses(rng, mu, n_audits, m, k):
    """Correct guesses of top/bottom guessing on m isolated canaries scored N(mu * in, 1)."""
    inside = rng.random((n_audits, m)) < 0.5
    order = np.argsort(-(rng.normal(size=inside.shape) + mu * inside), axis=1)
    top = np.take_along_axis(inside, order[:, :k // 2], axis=1)
    bottom = np.take_along_axis(inside, order[:, -(k // 2):], axis=1)
    return top.sum(axis=1) + (~bottom).sum(axis=1)


def test_gdp_epsilon_is_the_analytic_gaussian_and_the_exact_accountant():
    for mu, delta in ((0.5, 1e-5), (1.5, 1e-5), (3.0, 1e-3)):
        eps = gdp_epsilon(mu, delta)
        written_out = brentq(lambda e: norm.cdf(-e / mu + mu / 2) - np.exp(e) * norm.cdf(-e / mu - mu / 2) - delta,
                             0.0, 100.0)
        assert eps == pytest.approx(written_out, abs=1e-6)
        assert gdp_mu(eps, delta) == pytest.approx(mu, abs=1e-6)
        assert gdp_delta(mu, eps) == pytest.approx(delta, rel=1e-4)
    sigma = noise_multiplier_for(8.0, 1e-5, 1.0, 30)  # lesson 12's full batch: mu = sqrt(30) / sigma
    assert gdp_epsilon(np.sqrt(30) / sigma, 1e-5) == pytest.approx(exact_epsilon(sigma, 1.0, 30, 1e-5), abs=0.02)
    assert gdp_epsilon(0.0, 1e-5) == 0.0 and gdp_delta(0.0, 1.0) == 0.0


@pytest.mark.parametrize("mu, m, k", [(1.0, 200, 20), (0.5, 1000, 100), (2.0, 500, 50), (0.0, 200, 20)])
def test_gaussian_mechanism_rarely_claims_more_than_its_mu(mu, m, k):
    correct = gaussian_guesses(np.random.default_rng(0), mu, 1000, m, k)
    bound = lru_cache(None)(lambda v: fdp_one_run_mu(k, v, m))
    false_claims = np.mean([bound(int(v)) > mu for v in correct])
    assert false_claims <= 0.05 + 0.02  # sd of a 5% rate over 1,000 audits: 0.7%


@pytest.mark.parametrize("epsilon, m", [(1.0, 100), (2.0, 400)])
def test_randomized_response_rarely_claims_more_than_its_mu(epsilon, m):
    mu = 2 * norm.ppf(1 / (1 + np.exp(-epsilon)))  # the tightest Gaussian curve below RR's
    correct = (np.random.default_rng(1).random((2000, m)) < 1 / (1 + np.exp(-epsilon))).sum(axis=1)
    bound = lru_cache(None)(lambda v: fdp_one_run_mu(m, v, m))
    assert np.mean([bound(int(v)) > mu for v in correct]) <= 0.06
    # with a guess on every canary the Gaussian test is loose: well under RR's mu
    typical = int(np.median(correct))
    assert 0 < fdp_one_run_mu(m, typical, m) < 0.6 * mu


def test_the_epsilon_of_mu_assumes_a_gaussian_curve():
    """RR with epsilon = 1 is exactly (1, 0)-DP, but it is not 0.3-GDP: the rejected mu is right,
    and its epsilon at delta = 1e-5 lies above 1. Converting mu to epsilon holds for trainings
    with Gaussian curves (correct DP-SGD), which is why lesson 12 reports both estimators."""
    assert fdp_one_run_mu(100, 73, 100) > 0.3 and fdp_one_run_epsilon(100, 73, 100, delta=1e-5) > 1.0
    assert one_run_epsilon(100, 73) < 1.0  # Steinke et al.'s bound assumes no shape: valid for RR


@pytest.mark.parametrize("mu, m, k, share", [(1.0, 20_000, 400, 0.6), (2.0, 10_000, 1000, 0.6)])
def test_close_to_the_truth_when_guessing_is_easy(mu, m, k, share):
    found = [fdp_one_run_mu(k, int(v), m) for v in gaussian_guesses(np.random.default_rng(2), mu, 5, m, k)]
    assert share * mu < np.median(found) <= mu


def test_with_abstention_it_beats_steinke_on_ideal_canaries():
    """Lesson 12's eps = 8 configuration (mu = 1.57), 8 runs x 2,000 canaries, 100 guesses each."""
    mu = np.sqrt(30) / noise_multiplier_for(8.0, 1e-5, 1.0, 30)
    correct = gaussian_guesses(np.random.default_rng(3), mu, 8, 2000, 100)
    v = int(correct.sum())
    fdp, steinke = fdp_one_run_epsilon(800, v, 16_000, delta=1e-5), one_run_epsilon(800, v, delta=1e-5,
                                                                                     n_canaries=16_000)
    assert steinke + 0.5 < fdp < gdp_epsilon(mu, 1e-5)


def test_the_false_claim_test_catches_a_dropped_tail(monkeypatch):
    """A deliberate breakage: the observed count treated as certain (probability 1 instead of
    alpha = 5%): it must claim more than the truth far more often than 5%."""
    rejects = audit_fdp._rejects
    monkeypatch.setattr(audit_fdp, "_rejects", lambda mu, k, v, m, alpha: rejects(mu, k, v, m, 1.0))
    correct = gaussian_guesses(np.random.default_rng(0), 1.0, 1000, 200, 20)
    bound = lru_cache(None)(lambda v: fdp_one_run_mu(20, v, 200))
    assert np.mean([bound(int(v)) > 1.0 for v in correct]) > 0.2


def test_edge_cases():
    assert fdp_one_run_mu(20, 0, 200) == 0.0 and fdp_one_run_mu(20, 10, 200) == 0.0
    assert fdp_one_run_mu(20, 20, 200) > fdp_one_run_mu(20, 18, 200) > 0
    assert fdp_one_run_mu(100, 95, 1000, confidence=0.5) > fdp_one_run_mu(100, 95, 1000)


def laplace_runs(rng, epsilon, n):
    inside = rng.random(n) < 0.5
    return inside, rng.laplace(scale=1 / epsilon, size=n) + inside  # sensitivity 1: epsilon-DP


def test_many_runs_bonferroni_rarely_claims_more_than_epsilon():
    rng = np.random.default_rng(4)
    for epsilon, grid in ((1.0, np.linspace(1, 4, 40)), (2.0, np.linspace(1, 3, 40))):
        found = [many_runs_epsilon(*laplace_runs(rng, epsilon, 2000), 1e-5, grid) for _ in range(200)]
        assert np.mean(np.array(found) > epsilon) <= 0.06
        assert np.median(found) > 0.6 * epsilon  # and close below when the sample is large


def test_many_runs_close_to_randomized_response():
    rng = np.random.default_rng(5)
    inside = rng.random(4000) < 0.5
    reported = np.where(rng.random(4000) < 1 / (1 + np.exp(-2.0)), inside, ~inside)
    assert 1.7 < many_runs_epsilon(inside, reported.astype(float), 1e-5, [0.5]) <= 2.0


def test_the_false_claim_test_catches_a_search_without_bonferroni():
    """A deliberate breakage: every observed score tried as threshold, each at plain 95%."""
    rng = np.random.default_rng(6)
    found = []
    for _ in range(300):
        inside, scores = laplace_runs(rng, 2.0, 1000)
        flagged = scores[None] >= scores[:, None]
        found.append(np.max(epsilon_from_counts(flagged[:, inside].sum(1), inside.sum(), flagged[:, ~inside].sum(1),
                                                (~inside).sum(), 1e-5, 0.95)))
    assert np.mean(np.array(found) > 2.0) > 0.06


@pytest.mark.parametrize("call, error, name", [
    (lambda: fdp_one_run_mu(0, 0, 10), ValueError, "n_guesses"),
    (lambda: fdp_one_run_mu(10, 11, 10), ValueError, "n_correct"),
    (lambda: fdp_one_run_mu(10, 5, 9), ValueError, "n_canaries"),
    (lambda: fdp_one_run_mu(10, 5, 10, confidence=1.0), ValueError, "confidence"),
    (lambda: fdp_one_run_epsilon(10, 5, 10, delta=0.0), ValueError, "delta"),
    (lambda: gdp_epsilon(-1.0, 1e-5), ValueError, "mu"),
    (lambda: gdp_mu(1.0, 1.0), ValueError, "delta"),
    (lambda: many_runs_epsilon([True, False], [1.0, 0.0], 1e-5, []), ValueError, "thresholds"),
    (lambda: many_runs_epsilon([True, True], [1.0, 0.0], 1e-5, [0.5]), ValueError, "is_member"),
    (lambda: many_runs_epsilon([True, False], [1.0], 1e-5, [0.5]), ValueError, "is_member"),
])
def test_bad_inputs_name_the_parameter(call, error, name):
    with pytest.raises(error, match=name):
        call()
