"""``audit_model``: one fitted model, its training rows and rows it never saw, one report.

Introduced in notebooks/07_audit_your_own_model.ipynb.

``audit_model(model, X_train, y_train, X_heldout, y_heldout)`` checks the inputs (before any
work), runs the course's attacks (``report.attacks``), computes every number
(``report.numbers``) and returns an ``AuditReport``; ``report.write(DIR)`` writes
``report.html`` (self-contained), ``report.md`` and ``report.json``. ``audit_files`` does the
same from a model file and two CSV files (the ``mia-course audit`` command).
"""
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mia_course._validation import check_int, check_real
from mia_course.hints import ArrayLike, AttackedModel, RandomStateLike
from mia_course.report import numbers as nb
from mia_course.report.attacks import ATTACKERS, run_attacks
from mia_course.report.inputs import AuditData, check_audit_data, load_model, read_table


@dataclass
class AuditReport:
    """The result of an audit: ``numbers`` (everything ``report.json`` holds), the scores of
    every attack on the pool (members first) and the audited data.

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    numbers: dict
    scores: dict[str, np.ndarray]
    data: AuditData
    figures: dict[str, bytes] = field(default_factory=dict)

    @property
    def strongest(self) -> str:
        """The name of the attack the report leads with."""
        return self.numbers["strongest_attack"]

    def write(self, out: str | os.PathLike[str]) -> dict[str, Path]:
        """Write ``report.html``, ``report.md`` and ``report.json`` (and the figures as PNG,
        for the Markdown) into ``out``; returns their paths."""
        from mia_course.report.render import write_report
        return write_report(self, out)


def audit_model(model: AttackedModel, X_train: ArrayLike, y_train: ArrayLike, X_heldout: ArrayLike,
                y_heldout: ArrayLike, *, feature_names: Sequence[str] | None = None, attacker: str = "black-box",
                prior: float = 0.5, population: int | None = None, n_references: int = 16,
                random_state: RandomStateLike = 0, scheduler: str | None = None, time_budget: float | None = None,
                top: int = 10, model_name: str | None = None) -> AuditReport:
    """Audit ``model``: members ``X_train, y_train`` (the rows it trained on), non-members
    ``X_heldout, y_heldout`` (rows it never saw). Labels may be strings.

    ``attacker``: ``"black-box"`` (queries probabilities) or ``"label-only"``; ``prior``: the
    share of members among the people the attacker queries (precision is quoted at it);
    ``population``: how many people that is (expected numbers found and wrongly flagged);
    ``n_references``: reference models for LiRA/RMIA (clones of the estimator on random halves of
    the pool); ``scheduler``: a Dask scheduler address for the fits; ``time_budget``: seconds the
    reference fits may take (fewer references if needed); ``top``: exposed records listed.

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    prior = check_real(prior, "prior", minimum=0.0, maximum=1.0, strict_min=True, strict_max=True)
    if population is not None:
        population = check_int(population, "population", minimum=1)
    top = check_int(top, "top", minimum=1)
    check_int(n_references, "n_references", minimum=0)
    if time_budget is not None:
        check_real(time_budget, "time_budget", minimum=0.0, strict_min=True)
    if attacker not in ATTACKERS:
        raise ValueError(f"attacker: expected one of {ATTACKERS}, got {attacker!r}")
    if scheduler is not None and not isinstance(scheduler, str):
        raise TypeError(f"scheduler: expected an address string such as 'tcp://host:8786', got {type(scheduler).__name__}")
    data = check_audit_data(model, X_train, y_train, X_heldout, y_heldout, feature_names)
    start = time.perf_counter()
    run = run_attacks(model, data, attacker=attacker, n_references=n_references, random_state=random_state,
                      scheduler=scheduler, time_budget=time_budget)
    is_member, X, y = data.is_member, data.X, data.y
    numbers = {name: nb.attack_numbers(is_member, s) for name, s in run.scores.items()}
    op = nb.operating_fpr(int((~is_member).sum()))
    best = nb.strongest(numbers, op)
    best_scores, best_rate = run.scores[best], numbers[best]["tpr_at_fpr"][str(op)]
    has_proba = callable(getattr(model, "predict_proba", None))
    report = {
        "model": model_name or type(model).__name__,
        "threat_model": {"attacker": attacker if has_proba else "label-only", "prior": prior,
                         "population": population, "n_references": run.n_references,
                         "candidates": "the training rows and the held-out rows (the pool)",
                         "random_state": random_state if isinstance(random_state, (int, np.integer)) else None},
        "data": {"n_members": int(is_member.sum()), "n_non_members": int((~is_member).sum()),
                 "n_features": len(data.feature_names), "feature_names": data.feature_names,
                 "classes": [str(c) for c in np.unique(y)]},
        "strongest_attack": best, "operating_fpr": op,
        "auc": numbers[best]["auc"], "tpr_at_fpr": numbers[best]["tpr_at_fpr"],
        "attacks": numbers,
        "precision_at_prior": nb.precision_at_prior(best_rate["tpr"], best_rate["ci95"], op, prior, population),
        "accuracy": nb.accuracy(model, data.X_train, data.y_train, data.X_heldout, data.y_heldout),
        "per_class": nb.per_class(is_member, best_scores, y, op),
        "exposure": nb.exposure(model, X, y, is_member, best_scores, data.feature_names, op, top=top),
        "dp": nb.dp_context(model, best_rate["tpr"], best_rate["ci95"][0], op),
        "seconds": {"total": time.perf_counter() - start, **run.seconds},
        "notes": run.notes,
    }
    from mia_course.report.text import statements
    report["statements"] = statements(report)
    return AuditReport(report, run.scores, data)


def audit_files(model_file: str | os.PathLike[str], train_csv: str | os.PathLike[str],
                heldout_csv: str | os.PathLike[str], label: str, *, trusted: Sequence[str] | None = None,
                **options: object) -> AuditReport:
    """``audit_model`` from files: a model saved with joblib/pickle or skops (``load_model``;
    ``trusted``: the skops types you accept) and two CSV files with a header and the label
    column ``label``; ``options`` go to ``audit_model``.

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    if not isinstance(label, str) or not label:
        raise TypeError(f"label: expected a column name, got {label!r}")
    model = load_model(model_file, trusted)
    X_train, y_train, names = read_table(train_csv, label, "TRAIN_CSV")
    X_heldout, y_heldout, held_names = read_table(heldout_csv, label, "HELDOUT_CSV")
    data = check_audit_data(model, X_train, y_train, X_heldout, y_heldout, names, held_names)
    options.setdefault("model_name", f"{type(model).__name__} ({Path(model_file).name})")
    return audit_model(model, data.X_train, data.y_train, data.X_heldout, data.y_heldout,
                       feature_names=data.feature_names, **options)

