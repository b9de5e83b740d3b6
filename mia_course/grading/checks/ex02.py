"""The checks of solutions/ex02_threshold_attacks.ipynb: the loss threshold attack's scores,
and TPR at a fixed FPR.

Introduced in solutions/ex02_threshold_attacks.ipynb. Like ``checks.ex01``: small random
cases, the package's reference (``mia_course.attacks``, ``mia_course.metrics``), the answer
judged in words, never with the expected values.
"""
import numpy as np

from mia_course.attacks import LossThresholdAttack, cross_entropy_loss, true_class_probability
from mia_course.grading.engine import Exercise, register
from mia_course.grading.kit import ToyModel, as_numbers, hint_labels, label_classes, plural
from mia_course.metrics import attack_summary, roc, roc_auc, tpr_at_fpr


def _same_order(a, b):
    """True when ``a`` and ``b`` rank their entries alike (ties included)."""
    ra, rb = (np.unique(v, return_inverse=True)[1] for v in (a, b))
    return np.array_equal(ra, rb)


# ---- ex02: the loss threshold attack's scores, and TPR at a fixed FPR ----------------------
def provided_true_class_probability(model: "object", X: "np.ndarray", y: "np.ndarray") -> "np.ndarray":
    """What the notebook's ``true_class_probability`` gives, self-contained: isolated grading
    defines it in the worker (``Exercise.provided``), where the package is out of reach."""
    P = np.asarray(model.predict_proba(X), dtype=np.float64)
    column = {label: j for j, label in enumerate(np.asarray(model.classes_).tolist())}
    return P[np.arange(len(P)), [column[label] for label in np.asarray(y).tolist()]]


def _case_loss(rng, n_classes=2, classes=None, n_rows=None, certain=False):
    classes, about = label_classes(n_classes, classes)
    n, d = n_rows or int(rng.integers(8, 30)), int(rng.integers(3, 7))
    model = ToyModel(rng, d, classes, sharpness=1000.0 if certain else 2.0)
    X = rng.normal(size=(n, d)).astype(np.float32)
    m = np.arange(n) < max(1, n // 2)  # "members": the model predicts their label
    if certain:  # far from the boundary: some labels get probability exactly 0
        X[~m] *= 100
    P = model.predict_proba(X)
    y = np.where(m, classes[P.argmax(1)], classes[P.argmin(1)] if certain else rng.choice(classes, n))
    ctx = dict(model=model, X=X, y=y, m=m, ref=LossThresholdAttack().score_samples(model, X, y),
               p_true=true_class_probability(model, X, y))
    what = ", some certain and wrong (probability 0)" if certain else ""
    return f"{plural(n, 'record')}, {about}{what}", (model, X, y), ctx


def _judge_loss(ctx, out):
    n, ref, m = len(ctx["y"]), ctx["ref"], ctx["m"]
    arr, msg = as_numbers(out, "one score per row of X", (n,))
    if msg:
        return msg
    if not np.all(np.isfinite(arr)):
        return ("contains infinite or NaN scores: a probability of 0 gives log(0); clip the "
                "probability to a tiny positive number (1e-12 or less) before taking the log")
    zero = ctx["p_true"] < 1e-12  # there, any floor at or below 1e-12 is fine
    close = np.isclose(arr, ref, rtol=1e-6, atol=1e-8)
    if np.all(np.where(zero, arr <= np.log(1e-12) + 1e-9, close)):
        return None
    if m.any() and not m.all() and (np.allclose(arr, -ref) or roc_auc(m, arr) < 0.5 <= roc_auc(m, ref)):
        return ("scores must be higher for members; yours are higher for non-members "
                "(the score is minus the loss: members have a low loss)")
    if np.all(close[~zero]):
        return "a probability of 0 must get the lowest score: clip it to 1e-12 or less, not more"
    if np.allclose(arr, np.log(np.clip(ctx["model"].predict_proba(ctx["X"]).max(1), 1e-12, 1))):
        return "use the probability of the true label y, not the highest probability"
    if n > 2 and _same_order(arr, ref):
        return ("your scores order the records like minus the loss, but the values differ: "
                "the score is log p(true label), with the natural log")
    return f"{int(np.sum(~close))} of {n} scores differ from minus the cross-entropy loss on the true label"


def _case_tpr(rng, fpr="grid", ties=False, as_int=False, constant=False):
    n_in, n_out = (int(v) for v in rng.integers(8, 40, size=2))
    scores = np.r_[rng.normal(1.0, 1.0, n_in), rng.normal(0.0, 1.0, n_out)]
    if ties:  # rounded, and at least one member tied with a non-member
        scores = np.round(scores, 1)
        scores[int(rng.integers(n_in))] = scores[n_in + int(rng.integers(n_out))]
    scores = np.full_like(scores, 0.5) if constant else scores
    order = rng.permutation(n_in + n_out)
    scores, m = scores[order], (np.arange(n_in + n_out) < n_in)[order]
    fprs, tprs, _ = roc(m, scores)
    if fpr == "grid":  # exactly the FPR of a threshold that finds more members than "< fpr" does
        steps = [f for f in np.unique(fprs)[1:] if tprs[fprs <= f].max() > tprs[fprs < f].max()]
        fpr = float(steps[int(rng.integers(max(1, len(steps) // 2)))]) if steps else 1.0
    elif fpr == "tiny":  # below the first step of the ROC curve
        fpr = 0.5 / n_out
    elif fpr == "inside_tie":  # halfway along a diagonal ROC segment: interpolation shows
        diagonal = np.flatnonzero((np.diff(fprs) > 0) & (np.diff(tprs) > 0))
        i = diagonal[len(diagonal) // 2] if len(diagonal) else 0
        fpr = float((fprs[i] + fprs[i + 1]) / 2)
    kinds = "".join([", tied scores" if ties else "", ", all scores equal" if constant else "",
                     ", is_member as 0/1 numbers" if as_int else ""])
    ctx = dict(m=m, scores=scores, fpr=fpr, as_int=as_int)
    return (f"{n_in} members, {n_out} non-members, fpr = {fpr:.3g}{kinds}",
            (m.astype(int) if as_int else m, scores, fpr), ctx)


def _judge_tpr(ctx, out):
    val, msg = as_numbers(out, "one number (a TPR)", ())
    if msg:
        return msg
    if not 0.0 <= val <= 1.0:
        return "a true positive rate is a number between 0 and 1"
    ref = tpr_at_fpr(ctx["m"], ctx["scores"], ctx["fpr"])
    extra = " (is_member may hold 0/1 numbers: make it a boolean mask)" if ctx["as_int"] else ""
    if abs(val - ref) <= 1e-9:
        return None
    if val > ref:
        return ("higher than any threshold whose false positive rate is at most fpr reaches: "
                "read the TPR of an actual threshold, don't interpolate between ROC points" + extra)
    return ("lower than the best threshold with a false positive rate at most fpr reaches: take the "
            "largest TPR among all such thresholds (an FPR exactly equal to fpr is allowed)" + extra)


# every graded cell of solutions/ runs hidden tests as well
register(Exercise("ex02_loss_threshold_scores", "loss_threshold_scores", _case_loss, _judge_loss,
                  [dict(n_classes=2), dict(n_classes=3), dict(certain=True)], hidden_tests=True,
                  hint=hint_labels, references=(LossThresholdAttack._score_samples, cross_entropy_loss),
                  provided={"true_class_probability": "mia_course.grading.checks.ex02:provided_true_class_probability"}))
register(Exercise("ex02_tpr_at_fpr", "tpr_at_fpr", _case_tpr, _judge_tpr,
                  [dict(fpr="grid"), dict(fpr="tiny"), dict(fpr="inside_tie", ties=True), dict(fpr=0.25, ties=True)],
                  hidden_tests=True, references=(tpr_at_fpr, attack_summary)))  # attack_summary: the same TPR
