"""The checks of tests/checks.py pass on the package as it is (tests/test_breakages.py shows
that each fails under a deliberate breakage)."""
import pytest

import checks


@pytest.fixture(scope="module")
def setting():
    return checks.leaky_setting()


def test_lira_finds_members(setting):
    checks.check_lira_finds_members(setting)


@pytest.mark.parametrize("offline_a", [0.3, 0.8])
def test_rmia_offline_ranks_by_the_papers_ratio(setting, offline_a):
    checks.check_rmia_offline(setting, offline_a)


def test_audit_is_a_lower_bound():
    checks.check_audit_is_a_lower_bound()


def test_tpr_at_fpr_matches_the_slow_reference():
    checks.check_tpr_at_fpr()


def test_slow_tpr_reference_by_hand():
    # members 3, 1; non-members 2, 0: threshold 3 gives (FPR 0, TPR 1/2), threshold 2 (1/2, 1/2)
    assert checks.slow_tpr_at_fpr([1, 1, 0, 0], [3, 1, 2, 0], 0.0) == 0.5
    assert checks.slow_tpr_at_fpr([1, 1, 0, 0], [3, 1, 2, 0], 0.49) == 0.5
    assert checks.slow_tpr_at_fpr([1, 1, 0, 0], [3, 1, 2, 0], 0.5) == 1.0
    # a tie between a member and a non-member: flagged together or not at all
    assert checks.slow_tpr_at_fpr([1, 0], [1, 1], 0.5) == 0.0
