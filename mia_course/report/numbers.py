"""Every number of the report, computed from the attacks' scores and the true membership.

Introduced in notebooks/07_audit_your_own_model.ipynb.

Rates follow the course's rules: TPR at an FPR is ``metrics.tpr_at_fpr`` (no interpolation),
with a two-sided 95% Clopper-Pearson interval over the members; a rate is quoted only where
the held-out rows allow at least 10 false positives (``metrics.resolvable_fpr``), otherwise it
is "not resolvable". Precision at a prior ``pi``: ``pi TPR / (pi TPR + (1 - pi) FPR)``.
"""
from collections.abc import Sequence

import numpy as np

from mia_course.audit import clopper_pearson, dp_bound_tpr
from mia_course.hints import ArrayLike
from mia_course.metrics import most_exposed, resolvable_fpr, roc_auc, threshold_at_fpr, tpr_at_fpr

FPRS = (0.001, 0.01, 0.1)
NOT_RESOLVABLE = "not resolvable"


def rate_at(is_member: ArrayLike, scores: ArrayLike, fpr: float) -> dict:
    """TPR at ``fpr`` with its 95% Clopper-Pearson interval, or ``"not resolvable"`` where the
    non-members allow fewer than 10 false positives.

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    is_member, scores = np.asarray(is_member, bool), np.asarray(scores, float)
    n_in, n_out = int(is_member.sum()), int((~is_member).sum())
    row = {"fpr": fpr, "false_positives_possible": fpr * n_out, "n_members": n_in, "n_non_members": n_out}
    if fpr < resolvable_fpr(n_out) * (1 - 1e-9):
        return {**row, "resolvable": False, "tpr": NOT_RESOLVABLE, "ci95": NOT_RESOLVABLE}
    tpr = tpr_at_fpr(is_member, scores, fpr)
    low, high = clopper_pearson(round(tpr * n_in), n_in)
    return {**row, "resolvable": True, "tpr": tpr, "ci95": [float(low), float(high)]}


def attack_numbers(is_member: ArrayLike, scores: ArrayLike, fprs: Sequence[float] = FPRS) -> dict:
    """``{"auc", "tpr_at_fpr": {"0.001": rate_at(...), ...}}`` for one attack.

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    return {"auc": roc_auc(is_member, scores),
            "tpr_at_fpr": {str(f): rate_at(is_member, scores, f) for f in fprs}}


def operating_fpr(n_non_members: int, fprs: Sequence[float] = FPRS) -> float:
    """The lowest of ``fprs`` the held-out rows resolve (10 false positives): the report's
    operating point for precision, exposure and per-class results.

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    ok = [f for f in sorted(fprs) if f * n_non_members >= 10 * (1 - 1e-9)]
    if not ok:
        raise ValueError(f"n_non_members: {n_non_members} held-out rows resolve none of the FPRs {list(fprs)}")
    return ok[0]


def strongest(numbers: dict[str, dict], fpr: float) -> str:
    """The attack with the highest TPR at ``fpr`` (ties: the higher AUC).

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    return max(numbers, key=lambda a: (numbers[a]["tpr_at_fpr"][str(fpr)]["tpr"], numbers[a]["auc"]))


def precision_at_prior(tpr: float, tpr_ci: Sequence[float], fpr: float, prior: float,
                       population: int | None = None) -> dict:
    """What a flag means when a share ``prior`` of the people queried are members: precision
    (with the interval the TPR's gives) and, for a ``population``, the expected numbers of
    members found and of people wrongly flagged.

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    def precision(t):
        return float(prior * t / (prior * t + (1 - prior) * fpr)) if prior * t + (1 - prior) * fpr > 0 else 0.0
    row = {"prior": prior, "fpr": fpr, "precision": precision(tpr),
           "ci95": [precision(tpr_ci[0]), precision(tpr_ci[1])]}
    if population is not None:
        row.update(population=population, members_found=prior * population * tpr,
                   wrongly_flagged=(1 - prior) * population * fpr)
    return row


def accuracy(model: object, X_train: np.ndarray, y_train: np.ndarray, X_heldout: np.ndarray,
             y_heldout: np.ndarray) -> dict:
    """Train and held-out accuracy of ``model.predict`` and their gap (train - held-out).

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    train = float(np.mean(np.asarray(model.predict(X_train)) == y_train))
    test = float(np.mean(np.asarray(model.predict(X_heldout)) == y_heldout))
    return {"train": train, "heldout": test, "gap": train - test}


def per_class(is_member: np.ndarray, scores: np.ndarray, y: np.ndarray, fpr: float) -> dict:
    """For each class: members, non-members, AUC within the class, and the TPR and FPR of the
    one threshold that flags ``fpr`` of all non-members (the attacker has one threshold).

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    threshold = threshold_at_fpr(scores[~is_member], fpr)
    out = {}
    for c in np.unique(y):
        rows = y == c
        m, s = is_member[rows], scores[rows]
        n_in, n_out = int(m.sum()), int((~m).sum())
        tp, fp = int((s[m] > threshold).sum()), int((s[~m] > threshold).sum())
        low, high = clopper_pearson(tp, n_in) if n_in else (np.nan, np.nan)
        out[str(c)] = {"n_members": n_in, "n_non_members": n_out,
                       "auc": roc_auc(m, s) if n_in and n_out else None,
                       "tpr": tp / n_in if n_in else None, "tpr_ci95": [float(low), float(high)],
                       "fpr": fp / n_out if n_out else None}
    return out


def rare_values(X: np.ndarray, feature_names: Sequence[str], z: float = 3.0, share: float = 0.01) -> np.ndarray:
    """``[n_rows, n_features]`` True where a value is rare in the pool: more than ``z``
    standard deviations from the mean, or (columns with at most 20 distinct values) a value
    fewer than ``share`` of the rows have.

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    rare = np.zeros(X.shape, dtype=bool)
    for j in range(len(feature_names)):
        col = X[:, j]
        values, inverse, counts = np.unique(col, return_inverse=True, return_counts=True)
        if len(values) <= 20:
            rare[:, j] = counts[inverse.reshape(-1)] < share * len(col)
        else:
            sd = col.std()
            rare[:, j] = np.abs(col - col.mean()) > z * sd if sd > 0 else False
    return rare


def exposure(model: object, X: np.ndarray, y: np.ndarray, is_member: np.ndarray, scores: np.ndarray,
             feature_names: Sequence[str], fpr: float, top: int = 10) -> dict:
    """The ``top`` most exposed members (``metrics.most_exposed``) with their features and
    slices (class, predicted right or wrong, rare values), and what sets the members flagged at
    ``fpr`` apart from all members: share wrongly predicted, share with a rare value, classes,
    and the features whose mean differs most (in standard deviations of the pool).

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    predicted = np.asarray(model.predict(X))
    wrong, rare = predicted != y, rare_values(X, feature_names)
    rows = []
    for i, score, flagged in most_exposed(is_member, scores, top=top, fpr=fpr):
        rows.append({"row": int(i), "score": score, "flagged": flagged, "label": _py(y[i]),
                     "predicted": _py(predicted[i]), "correct": bool(not wrong[i]),
                     "rare": [feature_names[j] for j in np.flatnonzero(rare[i])],
                     "features": {n: float(v) for n, v in zip(feature_names, X[i])}})
    threshold = threshold_at_fpr(scores[~is_member], fpr)
    members = np.flatnonzero(is_member)
    flagged = members[scores[members] > threshold]
    sd = np.where(X.std(0) > 0, X.std(0), 1.0)
    summary = {"n_flagged": int(len(flagged)), "n_members": int(len(members)),
               "wrong_all": float(wrong[members].mean()), "rare_all": float(rare[members].any(1).mean())}
    if len(flagged):
        diff = (X[flagged].mean(0) - X[members].mean(0)) / sd
        order = np.argsort(-np.abs(diff))[:3]
        summary.update(wrong_flagged=float(wrong[flagged].mean()), rare_flagged=float(rare[flagged].any(1).mean()),
                       classes_flagged={str(c): int((y[flagged] == c).sum()) for c in np.unique(y[members])},
                       classes_all={str(c): int((y[members] == c).sum()) for c in np.unique(y[members])},
                       features_apart=[{"feature": feature_names[j], "sd_difference": float(diff[j])} for j in order])
    return {"fpr": fpr, "top": rows, "flagged": summary}


def dp_context(model: object, tpr: float, tpr_low: float, fpr: float) -> dict | None:
    """The ε the model declares (an ``epsilon_`` attribute, with ``delta``/``delta_``), the
    highest TPR at ``fpr`` it allows (``TPR <= e^eps FPR + delta``), and whether the measured
    TPR's interval (lower end ``tpr_low``) is consistent with it; None when it declares none.

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    epsilon = getattr(model, "epsilon_", None)
    if epsilon is None:
        return None
    delta = float(getattr(model, "delta_", getattr(model, "delta", 0.0)) or 0.0)
    bound = float(dp_bound_tpr(fpr, float(epsilon), delta)) if np.isfinite(epsilon) else 1.0
    return {"epsilon": float(epsilon), "delta": delta, "fpr": fpr, "tpr_bound": bound,
            "measured_tpr": tpr, "within_bound": bool(tpr_low <= bound)}


def _py(v):
    return v.item() if hasattr(v, "item") else v
