"""Input checks shared by every public function: clear errors, raised before any work."""
import numbers
from typing import TypeVar

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

_Model = TypeVar("_Model")


def check_int(value: object, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__} {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}: expected an integer <= {maximum}, got {value}")
    return value


def check_real(value: object, name: str, *, minimum: float | None = None, maximum: float | None = None,
               strict_min: bool = False, strict_max: bool = False) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value}")
    if minimum is not None and (value <= minimum if strict_min else value < minimum):
        raise ValueError(f"{name}: expected a number {'>' if strict_min else '>='} {minimum}, got {value}")
    if maximum is not None and (value >= maximum if strict_max else value > maximum):
        raise ValueError(f"{name}: expected a number {'<' if strict_max else '<='} {maximum}, got {value}")
    return value


def check_matrix(X: ArrayLike, name: str = "X") -> np.ndarray:
    """A non-empty 2-D float32 array without NaN or infinity."""
    if X is None or isinstance(X, (str, bytes)):
        raise TypeError(f"{name}: expected a 2-D array of numbers, got {type(X).__name__}")
    try:
        X = np.ascontiguousarray(X, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name}: expected a 2-D array of numbers ({err})") from None
    if X.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array (rows x features), got {X.ndim}-D shape {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name}: expected a non-empty array, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name}: contains NaN or infinite values")
    return X


def check_vector(v: ArrayLike, name: str, *, n: int | None = None, dtype: DTypeLike = np.float64) -> np.ndarray:
    """A non-empty 1-D array (of length ``n`` if given) without NaN or infinity."""
    if v is None or isinstance(v, (str, bytes)):
        raise TypeError(f"{name}: expected a 1-D array, got {type(v).__name__}")
    try:
        v = np.asarray(v, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name}: expected a 1-D array of numbers ({err})") from None
    if v.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {v.shape}")
    if v.shape[0] == 0:
        raise ValueError(f"{name}: expected a non-empty array")
    if n is not None and v.shape[0] != n:
        raise ValueError(f"{name}: expected length {n} (one per row), got {v.shape[0]}")
    if np.issubdtype(v.dtype, np.floating) and not np.all(np.isfinite(v)):
        raise ValueError(f"{name}: contains NaN or infinite values")
    return v


def check_labels(y: ArrayLike, name: str = "y", *, n: int | None = None) -> np.ndarray:
    """Integer class labels (a 1-D array of whole numbers)."""
    y = check_vector(y, name, n=n, dtype=np.float64)
    if not np.all(y == np.round(y)):
        raise ValueError(f"{name}: expected integer class labels, got non-integer values")
    return y.astype(np.int64)


def check_class_labels(y: ArrayLike, name: str = "y", *, n: int | None = None) -> np.ndarray:
    """Class labels of any kind: whole numbers (as int64, like ``check_labels``) or strings
    such as ``"click"``/``"no-click"`` (kept as they are; attacks map them through
    ``model.classes_``)."""
    arr = np.asarray(y) if y is not None and not isinstance(y, (str, bytes)) else None
    if arr is None or arr.dtype.kind not in "UO":
        return check_labels(y, name, n=n)
    if arr.ndim != 1 or arr.shape[0] == 0:
        raise ValueError(f"{name}: expected a non-empty 1-D array of labels, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name}: expected length {n} (one per row), got {arr.shape[0]}")
    if arr.dtype.kind == "O" and not all(isinstance(v, str) for v in arr):
        raise TypeError(f"{name}: expected integer or string class labels, got mixed objects")
    return arr


def check_membership(is_member: ArrayLike, name: str = "is_member", *, n: int | None = None) -> np.ndarray:
    """A boolean/0-1 vector with at least one member and one non-member."""
    v = check_vector(is_member, name, n=n, dtype=np.float64)
    if not np.all((v == 0) | (v == 1)):
        raise ValueError(f"{name}: expected booleans or 0/1 values")
    v = v.astype(bool)
    if v.all() or not v.any():
        raise ValueError(f"{name}: needs at least one member and one non-member")
    return v


def check_probabilities(P: ArrayLike, name: str = "probabilities") -> np.ndarray:
    """Rows of class probabilities in [0, 1] that sum to 1."""
    P = np.asarray(P, dtype=np.float64)
    if P.ndim != 2 or P.shape[0] == 0:
        raise ValueError(f"{name}: expected a non-empty 2-D array (rows x classes), got shape {P.shape}")
    if not np.all(np.isfinite(P)) or P.min() < 0 or P.max() > 1:
        raise ValueError(f"{name}: expected probabilities in [0, 1]")
    if not np.allclose(P.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError(f"{name}: each row must sum to 1")
    return P


def check_model(model: _Model, name: str = "model", method: str = "predict_proba") -> _Model:
    if not callable(getattr(model, method, None)):
        raise TypeError(f"{name}: expected a fitted classifier with a {method}() method, "
                        f"got {type(model).__name__}")
    return model
