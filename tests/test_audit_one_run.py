"""one_run_epsilon (Steinke, Nasr and Jagielski 2023): a 95% lower bound that is one.

Randomized response on each canary's in/out bit is exactly epsilon-DP, so it is the test
mechanism: the bound must land close below its epsilon, exceed it in at most 5% of simulated
runs, and claim nothing on coin flips."""
import math
from functools import lru_cache

import numpy as np
import pytest
from scipy.stats import binom

from mia_course.audit import one_run_epsilon


def reference_p_value(r, v, eps, delta=0.0, m=0):
    """The paper's p-value, as its appendix code computes it: a slow obvious loop."""
    q = 1 / (1 + math.exp(-eps))
    tail = sum(binom.pmf(k, r, q) for k in range(v, r + 1))
    alpha, running = 0.0, 0.0
    for i in range(1, v + 1):
        running += binom.pmf(v - i, r, q)
        alpha = max(alpha, running / i)
    return tail + alpha * delta * 2 * m


def reference_bound(r, v, delta=0.0, m=0, confidence=0.95):
    """The largest epsilon whose p-value is below 1 - confidence, by plain bisection."""
    if reference_p_value(r, v, 0.0, delta, m) >= 1 - confidence:
        return 0.0
    low, high = 0.0, 20.0
    for _ in range(30):
        mid = (low + high) / 2
        low, high = (mid, high) if reference_p_value(r, v, mid, delta, m) < 1 - confidence else (low, mid)
    return low


@pytest.mark.parametrize("r, v, delta, m", [(20, 20, 0.0, 0), (100, 80, 0.0, 0), (320, 296, 1e-5, 8000),
                                            (50, 45, 1e-3, 200), (400, 300, 0.0, 0)])
def test_matches_the_papers_algorithm(r, v, delta, m):
    ours = one_run_epsilon(r, v, delta=delta, n_canaries=m if delta else None)
    assert abs(ours - reference_bound(r, v, delta, m)) < 2e-3


def test_all_guesses_right_has_a_closed_form():
    # P[Binomial(r, p) >= r] = p^r = 0.05  =>  p = 0.05^(1/r), eps = log(p / (1 - p))
    assert one_run_epsilon(1, 1) == 0.0  # p = 0.05 < 1/2: one right guess proves nothing
    for r in (5, 20, 320):
        p = 0.05 ** (1 / r)
        assert one_run_epsilon(r, r) == pytest.approx(np.log(p / (1 - p)), abs=1e-5)


def randomized_response(rng, epsilon, n_runs, n_canaries, delta=0.0):
    """Correct guesses per run: each canary's bit is reported truthfully with probability
    e^eps / (1 + e^eps) (with probability delta it is leaked outright), and guessed as reported."""
    bits = rng.random((n_runs, n_canaries)) < 0.5
    truthful = rng.random(bits.shape) < 1 / (1 + np.exp(-epsilon))
    leaked = rng.random(bits.shape) < delta
    reported = np.where(truthful | leaked, bits, ~bits)
    return (reported == bits).sum(axis=1)


@pytest.mark.parametrize("epsilon", [0.5, 1.0, 2.0, 4.0])
def test_lands_close_below_the_true_epsilon(epsilon):
    correct = randomized_response(np.random.default_rng(0), epsilon, 21, 20_000)
    bounds = [one_run_epsilon(20_000, int(v)) for v in correct]
    assert epsilon - 0.25 < np.median(bounds) < epsilon  # a typical run: close below
    assert sum(b > epsilon for b in bounds) <= 3  # and rarely above (5% of runs: 1 of 21 expected)


@pytest.mark.parametrize("epsilon, n", [(1.0, 100), (2.0, 400), (0.5, 1000)])
def test_exceeds_the_true_epsilon_in_at_most_5_percent_of_runs(epsilon, n):
    correct = randomized_response(np.random.default_rng(1), epsilon, 4000, n)
    bound = lru_cache(None)(lambda v: one_run_epsilon(n, v))
    false_claims = np.mean([bound(int(v)) > epsilon for v in correct])
    assert false_claims <= 0.05 + 0.01  # simulation error: sd 0.35%
    # and exactly: the smallest count that overclaims has probability <= 5% under the mechanism
    first = min(v for v in range(n + 1) if bound(v) > epsilon)
    assert binom.sf(first - 1, n, 1 / (1 + np.exp(-epsilon))) <= 0.05


def test_with_delta_it_stays_valid_for_an_epsilon_delta_mechanism():
    epsilon, delta, n = 1.0, 1e-4, 1000
    correct = randomized_response(np.random.default_rng(2), epsilon, 2000, n, delta=delta)
    bound = lru_cache(None)(lambda v: one_run_epsilon(n, v, delta=delta, n_canaries=n))
    assert np.mean([bound(int(v)) > epsilon for v in correct]) <= 0.06
    for v in (600, 750, 800):  # the delta term only makes the bound more careful
        assert bound(v) <= one_run_epsilon(n, v)


def test_claims_nothing_on_coin_flips():
    correct = randomized_response(np.random.default_rng(3), 0.0, 2000, 200)
    bound = lru_cache(None)(lambda v: one_run_epsilon(200, v))
    assert np.mean([bound(int(v)) > 0 for v in correct]) <= 0.06
    assert one_run_epsilon(200, 100) == 0.0 and one_run_epsilon(200, 0) == 0.0


def test_lower_confidence_claims_more():
    assert one_run_epsilon(100, 85, confidence=0.5) > one_run_epsilon(100, 85) > one_run_epsilon(100, 85, confidence=0.99)


@pytest.mark.parametrize("kwargs, error, name", [
    (dict(n_guesses=0, n_correct=0), ValueError, "n_guesses"),
    (dict(n_guesses=10.5, n_correct=3), TypeError, "n_guesses"),
    (dict(n_guesses=10, n_correct=11), ValueError, "n_correct"),
    (dict(n_guesses=10, n_correct=-1), ValueError, "n_correct"),
    (dict(n_guesses=10, n_correct=True), TypeError, "n_correct"),
    (dict(n_guesses=10, n_correct=8, delta=-0.1), ValueError, "delta"),
    (dict(n_guesses=10, n_correct=8, delta="0"), TypeError, "delta"),
    (dict(n_guesses=10, n_correct=8, confidence=1.0), ValueError, "confidence"),
    (dict(n_guesses=10, n_correct=8, delta=1e-5), ValueError, "n_canaries"),
    (dict(n_guesses=10, n_correct=8, delta=1e-5, n_canaries=5), ValueError, "n_canaries"),
])
def test_bad_inputs_name_the_parameter(kwargs, error, name):
    with pytest.raises(error, match=name):
        one_run_epsilon(kwargs.pop("n_guesses"), kwargs.pop("n_correct"), **kwargs)


def test_the_false_claim_test_catches_an_off_by_one_bound():
    """A deliberate breakage: P[Binomial > v] instead of >= v. The simulation must catch it."""
    from scipy.optimize import brentq

    def wrong(n, v):
        p_value = lambda e: binom.sf(v, n, 1 / (1 + np.exp(-e))) - 0.05  # noqa: E731
        return brentq(p_value, 0.0, 30.0) if p_value(0.0) < 0 else 0.0
    correct = randomized_response(np.random.default_rng(1), 1.0, 4000, 100)
    bound = lru_cache(None)(lambda v: wrong(100, v))
    assert np.mean([bound(int(v)) > 1.0 for v in correct]) > 0.06
