"""The report's attacks: the course's own, run on the audited model as lessons 02-05 run them.

Introduced in notebooks/07_audit_your_own_model.ipynb.

The attacker of the report knows the candidate records (the training rows and the held-out
rows: the pool), the model's type and settings, and can query it. It trains reference models by
cloning the estimator on random halves of the pool (``mia_course.shadows``; Carlini et al.'s
online setting, the strongest standard attacker): each record is IN half of them. LiRA and
RMIA with the same ``random_state`` draw the same halves and seeds, so the report trains the
references once and gives RMIA LiRA's (``rmia_from_lira``: the same fitted state as
``RMIA(online=True).fit`` on the pool). The fits go through joblib
(``train_shadow_models``): ``scheduler`` sends them to a Dask cluster.
"""
import contextlib
import numbers
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_random_state

from mia_course._validation import check_class_labels, check_int, check_matrix
from mia_course.attacks import LossThresholdAttack
from mia_course.hints import ArrayLike, AttackedModel, RandomStateLike
from mia_course.label_only import LabelOnlyAttack
from mia_course.lira import LiRA
from mia_course.report.inputs import AuditData
from mia_course.rmia import RMIA

ATTACKERS = ("black-box", "label-only")


@dataclass
class AttackRun:
    """The scores of every attack the report ran on the pool (members first), the fitted
    attacks, and how long each took.

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    scores: dict[str, np.ndarray]
    attacks: dict[str, object]
    seconds: dict[str, float]
    n_references: int
    notes: list[str] = field(default_factory=list)


def unfitted_copy(model: AttackedModel) -> AttackedModel:
    """The audited model's estimator, unfitted (``sklearn.base.clone``): what reference models
    are cloned from. TypeError when it cannot be cloned (then no reference attack can run).

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    try:
        return clone(model)
    except Exception as err:  # sklearn raises TypeError/RuntimeError for non-estimators
        raise TypeError(f"model: reference models are clones of the audited estimator, and "
                        f"{type(model).__name__} cannot be cloned ({err}); pass n_references=0 for the "
                        "attacks that need none") from None


def rmia_from_lira(lira: LiRA, X_pool: ArrayLike, y_pool: ArrayLike) -> RMIA:
    """An online RMIA fitted with ``lira``'s shadows as its references: exactly what
    ``RMIA(reference_model, n_references, online=True, random_state).fit(pool)`` would train
    (same halves, same seeds), without training them twice.

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    lira.check_fitted()
    if not lira.online or not isinstance(lira.random_state, numbers.Integral):
        raise ValueError("lira: expected an online LiRA fitted with an integer random_state")
    rmia = RMIA(reference_model=lira.shadow_model, n_references=lira.n_shadows, online=True,
                random_state=lira.random_state)
    X = check_matrix(X_pool, "X_pool")
    y = check_class_labels(y_pool, "y_pool", n=X.shape[0])
    if lira.masks_.shape[1] != len(y):
        raise ValueError(f"X_pool: {len(y)} rows, lira was fitted on {lira.masks_.shape[1]}")
    rmia.masks_, rmia.references_ = lira.masks_, lira.shadows_
    rmia.classes_ = lira.classes_
    rmia.z_mask_ = np.zeros(len(y), dtype=bool)
    rmia.X_z_, rmia.y_z_ = X, y
    rmia.a_ = None
    return rmia


@contextlib.contextmanager
def fits_on(scheduler: str | None) -> Iterator[None]:
    """Run the reference fits on a Dask cluster at ``scheduler`` (an address such as
    ``tcp://10.0.0.5:8786``, or a ``distributed.Client``'s ``scheduler.address``); None: this
    machine (joblib's current ``parallel_config``).

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    if scheduler is None:
        yield
        return
    try:
        from distributed import Client
    except ImportError:
        raise ImportError("scheduler: sending fits to Dask needs `pip install 'mia-course[dask]'`") from None
    import joblib
    with Client(scheduler), joblib.parallel_config(backend="dask"):
        yield


def run_attacks(model: AttackedModel, data: AuditData, *, attacker: str = "black-box", n_references: int = 16,
                random_state: RandomStateLike = 0, scheduler: str | None = None,
                time_budget: float | None = None) -> AttackRun:
    """Every attack the model's answers and the attacker allow, scored on the pool.

    ``attacker="black-box"`` (the model must answer ``predict_proba``): loss threshold, and with
    ``n_references >= 2`` online LiRA and RMIA. ``"label-only"`` (or a model with ``predict``
    only): the label-only attack, calibrated with the references when clones answer
    probabilities. ``time_budget`` (seconds): one reference fit is timed first and
    ``n_references`` lowered (to an even number, at least 2) when all would not fit in it.

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    if attacker not in ATTACKERS:
        raise ValueError(f"attacker: expected one of {ATTACKERS}, got {attacker!r}")
    n_references = check_int(n_references, "n_references", minimum=0)
    has_proba = callable(getattr(model, "predict_proba", None))
    notes = []
    if attacker == "black-box" and not has_proba:
        attacker = "label-only"
        notes.append(f"{type(model).__name__} answers labels only (no predict_proba): label-only attack.")
    estimator = unfitted_copy(model) if n_references else None
    if not isinstance(random_state, numbers.Integral):  # LiRA and RMIA share one integer seed
        random_state = int(check_random_state(random_state).randint(2**31 - 1))
    X, y = data.X, data.y
    if time_budget is not None and n_references > 2:
        start = time.perf_counter()
        clone(estimator).fit(X[::2], y[::2])
        one = time.perf_counter() - start
        affordable = max(2, int(time_budget / max(one, 1e-9)) // 2 * 2)
        if affordable < n_references:
            notes.append(f"One reference fit took {one:.1f} s: {affordable} references instead of "
                         f"{n_references} fit the time budget of {time_budget:.0f} s.")
            n_references = affordable
    scores, attacks, seconds = {}, {}, {}
    with warnings.catch_warnings(), fits_on(scheduler):
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        if attacker == "black-box":
            _timed(seconds, "loss threshold", lambda: None)
            attacks["loss threshold"] = LossThresholdAttack()
            scores["loss threshold"] = attacks["loss threshold"].score_samples(model, X, y)
            if n_references >= 2:
                name = f"LiRA online ({n_references} references)"
                lira = LiRA(shadow_model=estimator, n_shadows=n_references, online=True,
                            fixed_variance=n_references < 64, random_state=random_state)
                _timed(seconds, name, lambda: lira.fit(X, y))
                attacks[name], scores[name] = lira, lira.score_samples(model, X, y)
                rmia = rmia_from_lira(lira, X, y)
                attacks[f"RMIA online ({n_references} references)"] = rmia
                scores[f"RMIA online ({n_references} references)"] = rmia.score_samples(model, X, y)
            else:
                notes.append("No reference models (n_references < 2): LiRA and RMIA were not run.")
        else:
            calibrated = n_references >= 1 and callable(getattr(estimator, "predict_proba", None))
            label_only = LabelOnlyAttack(n_references=n_references if calibrated else 0,
                                         reference_model=estimator, random_state=random_state)
            name = "label-only" + (f" calibrated ({n_references} references)" if calibrated else "")
            _timed(seconds, name, (lambda: label_only.fit(X, y)) if calibrated else (lambda: None))
            attacks[name], scores[name] = label_only, label_only.score_samples(model, X, y)
    return AttackRun(scores, attacks, seconds, n_references, notes)


def _timed(seconds, name, fit):
    start = time.perf_counter()
    fit()
    seconds[name] = time.perf_counter() - start
