"""Slow, obvious references for the package's own reference functions (the ones the graded
exercises compare learners with), so that they are not only compared with themselves:
``metrics.most_exposed``, ``playground.where_record_lands``, the Pareto front and lesson 06's
exposed-members rule of the exercise checks, and the playground's ``training_key``
(against actually training the models)."""
import math
from fractions import Fraction

import numpy as np
import pytest

from mia_course.grading.checks.ex08 import reference_pareto_front
from mia_course.grading.checks.ex06 import reference_exposed_members
from mia_course.metrics import most_exposed
from mia_course.playground import (DEFAULTS, OUTPUT_KEYS, check_settings, make_playground_data,
                                   train_target_and_shadows, training_key, where_record_lands)


# ---- the thresholds, one value at a time, in exact arithmetic ---------------------------
def slow_quantile(values, q, method):
    """numpy's ``quantile`` definitions written out: sort, the position ``(n - 1) q``, then
    the value at the next position up ("higher") or between the two neighbours ("linear").
    Exact arithmetic; an fpr is read as the decimal it is written as (0.2 is 1/5)."""
    v = sorted(Fraction(float(x)) for x in values)
    h = (len(v) - 1) * Fraction(q)
    low = math.floor(h)
    if method == "higher":
        return v[math.ceil(h)]
    if low == len(v) - 1:
        return v[low]
    return v[low] + (h - low) * (v[low + 1] - v[low])


def slow_higher_threshold(non_member_scores, fpr):
    """The score a record must beat (strictly) to be flagged at ``fpr``: the non-members'
    ``1 - fpr`` quantile, the next value up (it flags at most ``fpr`` of them)."""
    return slow_quantile(non_member_scores, 1 - Fraction(str(fpr)), "higher")


def cases(n_cases, seed=0):
    """Random ``(is_member, scores, fpr)``: mixed order, some with ties, fprs incl. 0 and 1."""
    rng = np.random.default_rng(seed)
    for c in range(n_cases):
        n = int(rng.integers(6, 80))
        is_member = rng.random(n) < 0.5
        is_member[:2], is_member[-2:] = True, False
        scores = rng.normal(size=n) + is_member
        if c % 3 == 0:
            scores = np.round(scores * 2) / 2  # ties, also between members and non-members
        fpr = float(rng.choice([0.0, 0.01, 0.05, 0.1, 0.2, 0.5, 1.0]))
        yield is_member, scores, fpr


# ---- most_exposed (lesson 07) -----------------------------------------------------------
def slow_most_exposed(is_member, scores, top, fpr):
    """Members from the highest score down (ties: lower index first); flagged when the
    score is strictly above the threshold (fpr 0: only scores above every non-member's)."""
    members = [i for i in range(len(scores)) if is_member[i]]
    ranked = sorted(members, key=lambda i: (-scores[i], i))[:top]
    threshold = slow_higher_threshold(scores[~is_member], fpr)
    return [(i, float(scores[i]), Fraction(float(scores[i])) > threshold) for i in ranked]


@pytest.mark.parametrize("top", [1, 5, 100])
def test_most_exposed_equals_the_slow_reference(top):
    for is_member, scores, fpr in cases(150, seed=top):
        assert most_exposed(is_member, scores, top=top, fpr=fpr) == slow_most_exposed(is_member, scores, top, fpr)


# ---- where_record_lands (lesson 13) -----------------------------------------------------
def slow_where_record_lands(is_member, scores, index, fpr):
    outside = [s for s, m in zip(scores, is_member) if not m]
    below = sum(1 for s in outside if s < scores[index])
    flagged = Fraction(float(scores[index])) > slow_higher_threshold(outside, fpr)
    return below / len(outside), flagged


def test_where_record_lands_equals_the_slow_reference():
    for c, (is_member, scores, fpr) in enumerate(cases(300, seed=1)):
        for index in (0, c % len(scores), len(scores) - 1):
            if c % 4 == 1:  # exactly on a non-member's score
                scores = scores.copy()
                scores[index] = scores[~is_member][c % (~is_member).sum()]
            got = where_record_lands(is_member, scores, index, fpr)
            want = slow_where_record_lands(is_member, scores, index, fpr)
            assert got[0] == pytest.approx(want[0]) and got[1] == want[1], (c, index, got, want)


# ---- the Pareto front (exercise 08) -----------------------------------------------------
def slow_pareto_front(accuracy, attack_success):
    """On the front unless another defense is at least as accurate and at most as exposed,
    and strictly better in one of the two."""
    n = len(accuracy)
    front = []
    for i in range(n):
        dominated = False
        for j in range(n):
            at_least_as_good = accuracy[j] >= accuracy[i] and attack_success[j] <= attack_success[i]
            strictly = accuracy[j] > accuracy[i] or attack_success[j] < attack_success[i]
            if j != i and at_least_as_good and strictly:
                dominated = True
        front.append(not dominated)
    return front


def test_pareto_front_equals_the_slow_reference():
    rng = np.random.default_rng(2)
    for c in range(300):
        n = int(rng.integers(1, 12))
        acc, tpr = rng.uniform(0.7, 0.95, n), rng.uniform(0, 0.3, n)
        if c % 2:
            acc, tpr = np.round(acc, 1), np.round(tpr, 1)  # ties and duplicate points
        assert reference_pareto_front(acc, tpr).tolist() == slow_pareto_front(acc.tolist(), tpr.tolist())
    assert slow_pareto_front([0.9, 0.9, 0.8], [0.1, 0.1, 0.2]) == [True, True, False]  # by hand


# ---- lesson 06's exposed members (exercise 06) ------------------------------------------
def slow_exposed_members(scores, is_member, fpr):
    """For each member in order: strictly above the non-members' ``1 - fpr`` quantile, the
    next value up (the course's one threshold rule, which the exercise asks for)."""
    threshold = slow_higher_threshold(scores[~is_member], fpr)
    return [Fraction(float(s)) > threshold for s, m in zip(scores, is_member) if m]


def test_exposed_members_rule_equals_the_slow_reference():
    for is_member, scores, fpr in cases(300, seed=3):
        got = reference_exposed_members(scores, is_member, fpr)
        assert got.tolist() == slow_exposed_members(scores, is_member, fpr)


# ---- the playground's training key, against training -------------------------------------
SMALL = {"n_members": 20, "hidden_units": 4, "epochs": 1, "n_shadows": 2}
OTHER_VALUE = {"n_members": 24, "hidden_units": 6, "epochs": 2, "l2": 0.01, "dropout": 0.2,
               "epsilon": 50.0, "n_shadows": 4, "output": "rounding", "noise_scale": 0.3,
               "decimals": 2, "attacks": ("loss",)}


def trained_models(settings):
    """What training gives for ``settings``: the target's and the shadows' probabilities on
    a fixed probe set (and the shadows' masks)."""
    s = check_settings(settings)
    data = make_playground_data(s["n_members"], 30, random_state=0)
    trained = train_target_and_shadows(data, s, random_state=0)
    probe = make_playground_data(20, 10, random_state=1).X
    return [trained.target.predict_proba(probe), trained.stack.predict_proba(probe), trained.shadow_masks]


def same_models(a, b):
    return all(np.shape(x) == np.shape(y) and np.array_equal(x, y) for x, y in zip(a, b))


def test_every_setting_is_covered():
    assert set(OTHER_VALUE) == set(DEFAULTS)


@pytest.mark.parametrize("name", sorted(OTHER_VALUE))
def test_training_key_changes_exactly_when_the_trained_models_change(name):
    base = dict(SMALL)
    changed = {**base, name: OTHER_VALUE[name]}
    retrain = training_key(base) != training_key(changed)
    models_differ = not same_models(trained_models(base), trained_models(changed))
    assert retrain == models_differ, f"{name}: key says retrain={retrain}, training says {models_differ}"
    assert retrain == (name not in OUTPUT_KEYS + ("attacks",))
