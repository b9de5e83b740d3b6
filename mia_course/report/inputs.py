"""What an audit takes in: the fitted model, its training rows, rows it never saw, the label.

Introduced in notebooks/07_audit_your_own_model.ipynb (section 4, "the whole audit as one
report"). Every check here runs before any attack does, and names the problem.

Models load from a joblib/pickle file (which runs code: load only files you trust) or, safely,
from a ``.skops`` file: ``skops.io.load`` refuses every type it does not trust by default, and
``get_untrusted_types`` lists those a file holds (for scikit-learn models these are the fitted
trees or optimizers, e.g. ``sklearn.tree._tree.Tree``). ``load_model`` raises with that list; look
at it and pass the names you accept as ``trusted`` (``--trust NAME`` on the command line).
"""
import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mia_course.hints import ArrayLike, AttackedModel

MIN_NON_MEMBERS = 100  # 10 false positives at 10% FPR: the coarsest rate the report quotes
MIN_MEMBERS = 10


def load_model(path: str | os.PathLike[str], trusted: Sequence[str] | None = None) -> AttackedModel:
    """A fitted model from ``path``: ``.skops`` through ``skops.io.load`` (types it does not
    trust by default must be named in ``trusted``), anything else through ``joblib.load``
    (pickle: it runs code, so load only files you trust).

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model: no file {path}")
    if path.suffix == ".skops":
        import skops.io as sio
        untrusted = sio.get_untrusted_types(file=path)
        missing = sorted(set(untrusted) - set(trusted or ()))
        if missing:
            raise ValueError(f"model: {path} holds types skops does not trust by default: {missing}. "
                             "Check that they are what you expect (e.g. scikit-learn's fitted trees) and "
                             "pass them as trusted=[...] (command line: --trust NAME for each)")
        model = sio.load(path, trusted=list(untrusted))
    else:
        import joblib
        model = joblib.load(path)
    return check_attacked_model(model)


def check_attacked_model(model: Any) -> AttackedModel:
    """TypeError unless ``model`` answers ``predict_proba`` or at least ``predict``.

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    if isinstance(model, type) or not (callable(getattr(model, "predict_proba", None))
                                       or callable(getattr(model, "predict", None))):
        raise TypeError(f"model: expected a fitted classifier with predict_proba() (or predict() for a "
                        f"label-only audit), got {type(model).__name__}")
    return model


def read_table(path: str | os.PathLike[str], label: str, name: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(X, y, feature_names)`` from a CSV file with a header: every column but ``label`` is a
    numeric feature; labels stay strings (``match_labels`` maps them to the model's classes).

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{name}: no file {path}")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ValueError(f"{name}: {path} is empty")
    header = [h.strip() for h in rows[0]]
    if label not in header:
        raise ValueError(f"label: column {label!r} is not in {name} ({path}); its columns are {header}")
    j = header.index(label)
    features = header[:j] + header[j + 1:]
    X = np.empty((len(rows) - 1, len(features)))
    y = []
    for r, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ValueError(f"{name}: line {r} of {path} has {len(row)} fields, the header {len(header)}")
        y.append(row[j].strip())
        for c, value in enumerate(row[:j] + row[j + 1:]):
            try:
                X[r - 2, c] = float(value) if value.strip() else math.nan
            except ValueError:
                raise ValueError(f"{name}: column {features[c]!r}, line {r}: {value!r} is not a number "
                                 "(encode categories as numbers, as the model saw them)") from None
    return X, np.asarray(y, dtype=str), features


def match_labels(model: AttackedModel, y: ArrayLike, name: str) -> np.ndarray:
    """Labels as the model knows them: strings read from a CSV become numbers when the model's
    ``classes_`` are numbers. ValueError naming labels the model does not know.

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    y = np.asarray(y)
    classes = getattr(model, "classes_", None)
    if classes is None:
        return y
    classes = np.asarray(classes)
    if classes.dtype.kind in "iuf" and y.dtype.kind in "US":
        try:
            y = y.astype(np.float64).astype(classes.dtype)
        except ValueError:
            raise ValueError(f"{name}: labels {sorted(set(y))[:5]} are not numbers, the model's classes "
                             f"are {classes.tolist()}") from None
    elif classes.dtype.kind in "UO":
        y, classes = y.astype(str), classes.astype(str)
    unknown = sorted(set(y.tolist()) - set(classes.tolist()))
    if unknown:
        raise ValueError(f"{name}: labels {unknown[:5]} are not among the model's classes {classes.tolist()}")
    return y


@dataclass
class AuditData:
    """The audited rows: members (``X_train``) and non-members (``X_heldout``) with labels.

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    X_train: np.ndarray
    y_train: np.ndarray
    X_heldout: np.ndarray
    y_heldout: np.ndarray
    feature_names: list[str]

    @property
    def X(self) -> np.ndarray:
        """Members first, then non-members: the pool of candidates the attacker tests."""
        return np.vstack([self.X_train, self.X_heldout])

    @property
    def y(self) -> np.ndarray:
        """The labels of ``X``."""
        return np.concatenate([self.y_train, self.y_heldout])

    @property
    def is_member(self) -> np.ndarray:
        """True for the rows of ``X`` the model trained on."""
        return np.r_[np.ones(len(self.y_train), bool), np.zeros(len(self.y_heldout), bool)]


def check_audit_data(model: AttackedModel, X_train: ArrayLike, y_train: ArrayLike, X_heldout: ArrayLike,
                     y_heldout: ArrayLike, feature_names: Sequence[str] | None = None,
                     heldout_names: Sequence[str] | None = None) -> AuditData:
    """Validate everything an audit needs before it trains anything: a model that answers
    ``predict_proba``/``predict``; numeric rows without NaN, the columns the model expects
    (names, when it recorded them, and counts); labels the model knows; at least
    ``MIN_NON_MEMBERS`` held-out rows (10 false positives at 10% FPR) and ``MIN_MEMBERS`` members.

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    check_attacked_model(model)
    arrays = {}
    for name, X in (("X_train", X_train), ("X_heldout", X_heldout)):
        try:
            X = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name}: expected a 2-D array of numbers ({err})") from None
        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError(f"{name}: expected a non-empty 2-D array (rows x features), got shape {X.shape}")
        if not np.isfinite(X).all():
            rows, cols = np.nonzero(~np.isfinite(X))
            col = feature_names[cols[0]] if feature_names is not None else f"#{cols[0]}"
            raise ValueError(f"{name}: NaN or infinite values in {len(rows)} cells (first: row {rows[0]}, "
                             f"column {col}); impute them the way the model's training did, or drop the rows")
        arrays[name] = X
    names = list(feature_names) if feature_names is not None else [f"x{j}" for j in range(arrays["X_train"].shape[1])]
    if heldout_names is not None and list(heldout_names) != names:
        raise ValueError(f"X_heldout: its columns {_diff(names, list(heldout_names))} differ from the training rows'")
    if arrays["X_heldout"].shape[1] != arrays["X_train"].shape[1]:
        raise ValueError(f"X_heldout: {arrays['X_heldout'].shape[1]} columns, X_train {arrays['X_train'].shape[1]}")
    if len(names) != arrays["X_train"].shape[1]:
        raise ValueError(f"feature_names: {len(names)} names for {arrays['X_train'].shape[1]} columns")
    expected = getattr(model, "feature_names_in_", None)
    if expected is not None and feature_names is not None and list(expected) != names:
        raise ValueError(f"X_train: the columns {_diff(list(map(str, expected)), names)} do not match the model's "
                         "feature_names_in_ (same names, same order)")
    n_in = getattr(model, "n_features_in_", None)
    if n_in is not None and n_in != len(names):
        raise ValueError(f"X_train: {len(names)} feature columns, the model expects {n_in}")
    y_train = match_labels(model, _labels(y_train, "y_train", len(arrays["X_train"])), "y_train")
    y_heldout = match_labels(model, _labels(y_heldout, "y_heldout", len(arrays["X_heldout"])), "y_heldout")
    if len(y_heldout) < MIN_NON_MEMBERS:
        raise ValueError(f"X_heldout: {len(y_heldout)} held-out rows cannot resolve any rate: 10 false positives "
                         f"at 10% FPR need at least {MIN_NON_MEMBERS} (1% FPR: 1,000; 0.1%: 10,000)")
    if len(y_train) < MIN_MEMBERS:
        raise ValueError(f"X_train: {len(y_train)} training rows; an audit needs at least {MIN_MEMBERS}")
    return AuditData(arrays["X_train"], y_train, arrays["X_heldout"], y_heldout, names)


def _labels(y, name, n):
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"{name}: expected {n} labels (one per row), got shape {y.shape}")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError(f"{name}: contains NaN labels")
    if y.dtype.kind in "US" and (y == "").any():
        raise ValueError(f"{name}: {int((y == '').sum())} rows have no label")
    return y


def _diff(expected, got):
    missing, extra = [c for c in expected if c not in got], [c for c in got if c not in expected]
    return f"(missing: {missing}, extra: {extra})" if missing or extra else "(same names, other order)"
