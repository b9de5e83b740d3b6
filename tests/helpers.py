"""Small test doubles shared by several test files (imported as ``from helpers import ...``)."""
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression


class Recorder(ClassifierMixin, BaseEstimator):
    """An estimator whose fit records each call (class attribute: clones share it), to
    check that bad inputs fail before any training."""
    calls = []

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y):
        Recorder.calls.append(len(y))
        return LogisticRegression().fit(X, y)


# ---- the three checks every graded exercise must pass (tests/test_grading*.py) ----

def assert_reference_passes(name, reference, hidden_cases, n_seeds):
    """The package's reference passes the public and the hidden cases, for many seeds."""
    from mia_course.grading import check
    for seed in range(n_seeds):
        for cases in (None, hidden_cases):
            report = check(name, reference, seed=seed, cases=cases)
            assert report.passed, str(report)


def assert_hard_coded_answer_fails(name, reference):
    """An answer that is right for one case, returned for every case, fails."""
    import numpy as np
    from mia_course.grading import REGISTRY, check
    exercise = REGISTRY[name]
    _, args, _ = exercise.make_case(np.random.default_rng(0), **exercise.default_cases[0])
    answer = reference(*args)
    assert not check(name, lambda *a: answer, seed=1).passed


def assert_exception_is_reported(name):
    """A learner's exception becomes a failed check that shows its message."""
    from mia_course.grading import check

    def broken(*args):
        raise ZeroDivisionError("my own bug")
    report = check(name, broken)
    assert not report.passed and "ZeroDivisionError: my own bug" in str(report)


def generic_grading_tests(references, hidden_options, n_seeds):
    """The three tests above, parametrized over ``references`` (one per graded function);
    a test module assigns them to names starting with ``test_``."""
    import pytest
    names = pytest.mark.parametrize("name", sorted(references))

    @names
    def reference_passes(name):
        assert_reference_passes(name, references[name], hidden_options[name], n_seeds)

    @names
    def hard_coded_answer_fails(name):
        assert_hard_coded_answer_fails(name, references[name])

    @names
    def exception_is_reported(name):
        assert_exception_is_reported(name)

    return reference_passes, hard_coded_answer_fails, exception_is_reported


# ---- the browser tests (tests/test_browser.py, tests/test_site.py) ------------------------
HOW_TO_ENABLE = ("enable it with `apt-get install chromium` (as root) and "
                 "`pip install playwright` (or `pip install -e '.[dev]'`)")


def skip_or_fail(reason):
    """Skip with ``reason``; but where ``make test`` could install chromium (root with apt-get,
    as in CI) it sets MIA_REQUIRE_BROWSER=1, and a browser test that cannot run fails instead."""
    import os

    import pytest
    if os.environ.get("MIA_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (MIA_REQUIRE_BROWSER=1: here the browser tests must run)")
    pytest.skip(reason)


def require_browser():
    """Debian's chromium (its path) and Playwright, or skip (fail in CI) saying how to enable them."""
    import os
    import shutil
    chromium = shutil.which("chromium") or ("/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None)
    if chromium is None:
        skip_or_fail(f"chromium is not installed; {HOW_TO_ENABLE}")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        skip_or_fail(f"playwright is not installed; {HOW_TO_ENABLE}")
    return chromium
