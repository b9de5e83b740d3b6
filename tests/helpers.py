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
