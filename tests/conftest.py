"""Shared tiny fixtures for the mia_course unit tests (fast: the whole suite is seconds)."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from mia_course.data import make_ad_clicks  # noqa: E402
from mia_course.models import TorchMLPClassifier  # noqa: E402
from mia_course.grading.tripwire import allowed  # noqa: E402

torch.set_num_threads(1)  # the test machine is small and shared; one thread is faster there


@pytest.fixture
def tripwire():
    """Take this fixture to test with the tripwire on (graded checks fail a learner's function
    that calls the package's reference); tests/test_grading.py does."""


@pytest.fixture(autouse=True)
def _tripwire_off_unless_asked(request):
    """The tests of the judges pass the package's reference itself, or a deliberate mistake built
    on it, as the learner's function: the tripwire is off for them. Notebooks, the nbgrader round
    trip and the tests that take the ``tripwire`` fixture run with it on."""
    if "tripwire" in request.fixturenames:
        yield
    else:
        with allowed():
            yield


@pytest.fixture(scope="session")
def ad():
    """400 synthetic users of the ad-click world (60 sites)."""
    return make_ad_clicks(400, random_state=0)


@pytest.fixture(scope="session")
def small_model(ad):
    """A tiny, quickly trained MLP (3 epochs) on the first 200 users. Do not refit it."""
    return TorchMLPClassifier(hidden_sizes=(16,), epochs=3, random_state=0).fit(ad.X[:200], ad.y[:200])


@pytest.fixture(scope="session")
def overfit():
    """The default (overfitting) MLP on 1000 users; returns (model, X_tr, y_tr, X_te, y_te)."""
    d = make_ad_clicks(2000, random_state=1)
    model = TorchMLPClassifier(random_state=0).fit(d.X[:1000], d.y[:1000])
    return model, d.X[:1000], d.y[:1000], d.X[1000:], d.y[1000:]


class TableModel:
    """A mock target: row i gets the probabilities ``table[int(X[i, 0])]`` (fixed, exact)."""

    def __init__(self, table, classes=None):
        self.table = np.asarray(table, dtype=np.float64)
        if classes is not None:
            self.classes_ = np.asarray(classes)
        self.n_rows_seen = 0

    def predict_proba(self, X):
        X = np.asarray(X)
        self.n_rows_seen += len(X)
        return self.table[X[:, 0].astype(int)]


@pytest.fixture
def table_model():
    """Factory: ``table_model(table, classes=None)`` builds a TableModel."""
    return TableModel
