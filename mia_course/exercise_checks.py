"""The registered exercise checks: one per graded function of the exercise notebooks.

Introduced in solutions/ex01_confidence.ipynb. Each check draws small random cases, runs
the package's reference (``mia_course.attacks``, ``mia_course.metrics``) on them and
judges the learner's answer in words, without revealing the expected values. Case
options (``check(..., cases=[{...}])``) let hidden tests ask for harder cases.
"""
import numpy as np
from scipy.stats import spearmanr

from mia_course.attacks import LossThresholdAttack, best_threshold, half_split, true_class_probability
from mia_course.grading import Exercise, register
from mia_course.metrics import roc_auc, tpr_at_fpr


class ToyModel:
    """A stand-in for a trained classifier: softmax of a fixed random linear map of X.

    ``classes_`` may be any sorted labels; a large ``sharpness`` gives probabilities
    of exactly 0. Introduced in solutions/ex01_confidence.ipynb (hidden tests).
    """

    def __init__(self, rng, n_features, classes, sharpness=2.0):
        self.classes_ = np.asarray(classes)
        self.coef_ = rng.normal(0.0, sharpness, (n_features, len(self.classes_)))

    def predict_proba(self, X):
        z = np.asarray(X, dtype=np.float64) @ self.coef_
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)


def _numbers(out, what, shape=None):
    """``(array, None)``, or ``(None, message)`` when ``out`` is not numbers of ``shape``."""
    if out is None:
        return None, "returned None: did you forget `return`?"
    try:
        arr = np.asarray(out, dtype=np.float64)
    except (TypeError, ValueError):
        return None, f"returned a {type(out).__name__}, expected {what}"
    if shape is not None and arr.shape != shape:
        return None, f"returned shape {arr.shape}, expected {what}, i.e. shape {shape}"
    return arr, None


def _scalar(out, what):
    arr, msg = _numbers(out, what)
    if msg is None and arr.ndim != 0:
        msg = f"returned an array of shape {arr.shape}, expected {what}"
    return (None, msg) if msg else (float(arr), None)


def _labels(rng, classes, n_classes):
    return np.arange(n_classes) if classes is None else np.asarray(classes)


def _labelled(classes):
    return "" if np.array_equal(classes, np.arange(len(classes))) else f" labelled {list(classes)}"


# ---- ex01: confidence on the true label, and who is confidently predicted ----------------
def _case_confidence(rng, n_classes=2, classes=None, n_rows=None):
    classes = _labels(rng, classes, n_classes)
    n, d = n_rows or int(rng.integers(6, 30)), int(rng.integers(3, 7))
    model = ToyModel(rng, d, classes)
    X, y = rng.normal(size=(n, d)).astype(np.float32), rng.choice(classes, size=n)
    ctx = dict(model=model, X=X, y=y, ref=true_class_probability(model, X, y))
    return f"{n} records, {len(classes)} classes{_labelled(classes)}", (model, X, y), ctx


def _judge_confidence(ctx, out):
    n, classes = len(ctx["y"]), ctx["model"].classes_
    arr, msg = _numbers(out, "one probability per row of X", (n,))
    if msg:
        return msg
    if np.allclose(arr, ctx["ref"], atol=1e-6):
        return None
    if np.allclose(arr, ctx["model"].predict_proba(ctx["X"]).max(axis=1), atol=1e-6):
        return ("these are the probabilities of the predicted (most likely) class; "
                "take the probability of each row's true label y")
    if not (np.all(arr >= 0) and np.all(arr <= 1)):
        return "values must be probabilities, between 0 and 1"
    wrong = int(np.sum(~np.isclose(arr, ctx["ref"], atol=1e-6)))
    extra = " (the columns of predict_proba follow model.classes_)" if _labelled(classes) else ""
    return f"{wrong} of {n} values are not the model's probability for the row's true label{extra}"


def _hint_labels(err):
    if isinstance(err, IndexError):
        return "labels are not always column numbers: find each label's column in model.classes_"
    return None


def _case_fractions(rng, level=None, as_int=False, n=None):
    n = n or int(rng.integers(24, 60))
    conf = np.round(rng.integers(8, 21, size=n) * 0.05, 2)
    level = float(level if level is not None else rng.choice([0.8, 0.9, 0.95]))
    is_member = np.zeros(n, dtype=bool)
    is_member[rng.permutation(n)[: int(rng.integers(8, n - 8))]] = True
    conf[np.flatnonzero(is_member)[0]] = conf[np.flatnonzero(~is_member)[0]] = level  # ties
    given = is_member.astype(int) if as_int else is_member
    ctx = dict(conf=conf, is_member=is_member, level=level, as_int=as_int)
    kind = " (is_member given as 0/1 numbers)" if as_int else ""
    return f"{n} records, level = {level:g}{kind}", (conf, given, level), ctx


def _judge_fractions(ctx, out):
    conf, m, level = ctx["conf"], ctx["is_member"], ctx["level"]
    if not isinstance(out, (tuple, list, np.ndarray)) or len(out) != 2:
        return "return two numbers: (fraction of members, fraction of non-members) at or above level"
    vals, msg = _numbers(out, "two numbers", (2,))
    if msg:
        return msg
    ref = np.array([np.mean(conf[m] >= level), np.mean(conf[~m] >= level)])
    if np.allclose(vals, ref):
        return None
    variants = [
        (ref[::-1], "the two values are swapped: members first, then non-members"),
        ([np.sum(conf[m] >= level), np.sum(conf[~m] >= level)],
         "these look like counts: return fractions (divide by the number of members, and of non-members)"),
        ([np.mean(conf[m] > level), np.mean(conf[~m] > level)],
         "a confidence exactly equal to level counts as confident: use >= rather than >"),
        ([np.sum(conf[m] >= level) / len(m), np.sum(conf[~m] >= level) / len(m)],
         "divide by the number of members (and of non-members), not by the number of all records"),
    ]
    for values, message in variants:
        if np.allclose(vals, values):
            return message
    if ctx["as_int"]:
        return "is_member may hold 0/1 numbers: turn it into a boolean mask before indexing with it"
    if not np.all((vals >= 0) & (vals <= 1)):
        return "fractions must be between 0 and 1"
    which = "first value (members)" if not np.isclose(vals[0], ref[0]) else "second value (non-members)"
    return f"the {which} is not the fraction of those records whose confidence is at least level"


# ---- ex02: the loss threshold attack's scores, and TPR at a fixed FPR ----------------------
def _case_loss(rng, n_classes=2, classes=None, n_rows=None, certain=False):
    classes = _labels(rng, classes, n_classes)
    n, d = n_rows or int(rng.integers(8, 30)), int(rng.integers(3, 7))
    model = ToyModel(rng, d, classes, sharpness=1000.0 if certain else 2.0)
    X = rng.normal(size=(n, d)).astype(np.float32)
    P = model.predict_proba(X)
    is_member = np.arange(n) < max(1, n // 2)  # the model fits "members": label = its guess
    y = np.where(is_member, classes[P.argmax(axis=1)], classes[P.argmin(axis=1)] if certain
                 else rng.choice(classes, size=n))
    ref = LossThresholdAttack().score_samples(model, X, y)
    ctx = dict(model=model, X=X, y=y, is_member=is_member, ref=ref, certain=certain)
    what = ", some certain and wrong (probability 0)" if certain else ""
    return f"{n} records, {len(classes)} classes{_labelled(classes)}{what}", (model, X, y), ctx


def _judge_loss(ctx, out):
    n, ref = len(ctx["y"]), ctx["ref"]
    arr, msg = _numbers(out, "one score per row of X", (n,))
    if msg:
        return msg
    if not np.all(np.isfinite(arr)):
        if ctx["certain"]:
            return ("contains infinite or NaN scores: a probability of 0 gives log(0); "
                    "clip the probability to at least 1e-12 before taking the log")
        return "contains infinite or NaN scores"
    if np.allclose(arr, ref, rtol=1e-6, atol=1e-8):
        return None
    m = ctx["is_member"]
    if m.all() or not m.any():
        pass
    elif np.allclose(arr, -ref) or roc_auc(m, arr) < 0.5 <= roc_auc(m, ref):
        return ("scores must be higher for members; yours are higher for non-members "
                "(the score is minus the loss: members have a low loss)")
    P = ctx["model"].predict_proba(ctx["X"])
    if np.allclose(arr, np.log(np.clip(P.max(axis=1), 1e-12, 1))):
        return "use the probability of the true label y, not the highest probability"
    if n > 2 and spearmanr(arr, ref).statistic > 0.999:
        return ("your scores order the records like minus the loss, but the values differ: the "
                "score is log p(true label), natural log, with p clipped at 1e-12")
    wrong = int(np.sum(~np.isclose(arr, ref, rtol=1e-6, atol=1e-8)))
    return f"{wrong} of {n} scores differ from minus the cross-entropy loss on the true label"


def _case_tpr(rng, fpr="grid", ties=False, as_int=False, constant=False):
    n_in, n_out = (int(v) for v in rng.integers(8, 40, size=2))
    scores = np.r_[rng.normal(1.0, 1.0, n_in), rng.normal(0.0, 1.0, n_out)]
    scores = np.round(scores, 1) if ties else scores
    scores = np.full_like(scores, 0.5) if constant else scores
    is_member = np.r_[np.ones(n_in, dtype=bool), np.zeros(n_out, dtype=bool)]
    order = rng.permutation(n_in + n_out)
    scores, is_member = scores[order], is_member[order]
    if fpr == "grid":  # exactly the FPR of some threshold: "at most" must include it
        fpr = int(rng.integers(1, n_out // 3 + 1)) / n_out
    elif fpr == "tiny":  # below the first step of the ROC curve
        fpr = 0.5 / n_out
    kinds = "".join([", tied scores" if ties else "", ", all scores equal" if constant else "",
                     ", is_member as 0/1 numbers" if as_int else ""])
    ctx = dict(is_member=is_member, scores=scores, fpr=fpr, as_int=as_int)
    given = is_member.astype(int) if as_int else is_member
    return f"{n_in} members, {n_out} non-members, fpr = {fpr:.3g}{kinds}", (given, scores, fpr), ctx


def _judge_tpr(ctx, out):
    val, msg = _scalar(out, "one number (a TPR)")
    if msg:
        return msg
    if not 0.0 <= val <= 1.0:
        return "a true positive rate is a number between 0 and 1"
    ref = tpr_at_fpr(ctx["is_member"], ctx["scores"], ctx["fpr"])
    if abs(val - ref) <= 1e-9:
        return None
    extra = " (is_member may hold 0/1 numbers: make it a boolean mask)" if ctx["as_int"] else ""
    if val > ref:
        return ("higher than any threshold whose false positive rate is at most fpr reaches: "
                "read the TPR of an actual threshold, don't interpolate between ROC points" + extra)
    return ("lower than the best threshold with a false positive rate at most fpr reaches: take the "
            "largest TPR among all such thresholds (an FPR exactly equal to fpr is allowed)" + extra)


# ---- ex03: the shadow models' attack data set, and a threshold from shadow data only -------
def reference_attack_dataset(shadow_models, in_masks, X_aux, y_aux):
    """``(attack_X, attack_y, attack_class)`` built as ``ShadowModelAttack.fit`` builds them.

    Introduced in solutions/ex03_shadow_models.ipynb.
    """
    attack_X = np.vstack([np.asarray(s.predict_proba(X_aux)) for s in shadow_models])
    attack_y = np.concatenate([np.asarray(m, dtype=bool) for m in in_masks]).astype(np.int64)
    return attack_X, attack_y, np.tile(np.asarray(y_aux), len(shadow_models))


def _case_attack_data(rng, n_shadows=None, classes=(0, 1), n_rows=None):
    k, n = n_shadows or int(rng.integers(2, 5)), n_rows or int(rng.integers(8, 20))
    d, classes = int(rng.integers(3, 6)), np.asarray(classes)
    shadows = [ToyModel(rng, d, classes) for _ in range(k)]
    masks = [half_split(n, rng) for _ in range(k)]
    X, y = rng.normal(size=(n, d)).astype(np.float32), rng.choice(classes, size=n)
    ctx = dict(k=k, n=n, masks=masks, ref=reference_attack_dataset(shadows, masks, X, y))
    return (f"{k} shadow models, {n} attacker records, {len(classes)} classes{_labelled(classes)}",
            (shadows, masks, X, y), ctx)


def _judge_attack_data(ctx, out):
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        return "return three arrays: (attack_X, attack_y, attack_class)"
    (rX, ry, rc), rows = ctx["ref"], ctx["k"] * ctx["n"]
    aX, msg = _numbers(out[0], "attack_X as an array of numbers")
    if msg:
        return "attack_X: " + msg
    if aX.shape != rX.shape:
        if aX.ndim == 2 and aX.shape[0] == sum(int(np.sum(m)) for m in ctx["masks"]):
            return ("attack_X holds only the rows each shadow trained on: include every row of X_aux "
                    "for each shadow, in (label 1) and out (label 0)")
        if aX.shape == (ctx["n"], rX.shape[1]):
            return "attack_X holds one model's predictions: stack those of every shadow model"
        return (f"attack_X has shape {aX.shape}, expected one prediction vector (all class "
                "probabilities) per shadow model and per row of X_aux")
    for name, arr in (("attack_y", out[1]), ("attack_class", out[2])):
        _, msg = _numbers(arr, "one number per row of attack_X", (rows,))
        if msg:
            return f"{name}: {msg}"
    ay, ac = np.asarray(out[1], dtype=np.float64), np.asarray(out[2], dtype=np.float64)
    if not np.allclose(aX, rX, atol=1e-6):
        same_rows = np.allclose(np.sort(aX, axis=0), np.sort(rX, axis=0), atol=1e-6)
        if same_rows:
            return ("attack_X has the right rows in another order: go shadow by shadow, each with the "
                    "rows in X_aux order, so that attack_X, attack_y and attack_class line up")
        return "attack_X rows are not the shadow models' predict_proba on X_aux"
    if not np.array_equal(ay, ry):
        if np.array_equal(ay, 1 - ry):
            return "attack_y is reversed: 1 means the shadow trained on that row (in), 0 that it did not"
        return "attack_y must be 1 where the shadow trained on the row (its in_mask) and 0 elsewhere"
    if not np.array_equal(ac, rc):
        return "attack_class must be each row's true label y_aux, repeated once per shadow model"
    return None


def _case_threshold(rng, kind="normal"):
    n_in, n_out = (int(v) for v in rng.integers(10, 40, size=2))
    in_s, out_s = rng.normal(1.0, 1.0, n_in), rng.normal(0.0, 1.0, n_out)
    if kind == "ties":
        in_s, out_s = np.round(in_s * 2) / 2, np.round(out_s * 2) / 2
    elif kind == "separated":
        in_s, out_s = rng.uniform(2, 3, n_in), rng.uniform(0, 1, n_out)
    elif kind == "loss":
        in_s, out_s = -rng.exponential(0.05, n_in), -rng.exponential(0.5, n_out)
    return (f"{n_in} in and {n_out} out shadow scores ({kind})", (in_s, out_s),
            dict(in_s=in_s, out_s=out_s))


def _judge_threshold(ctx, out):
    t, msg = _scalar(out, "one number (the threshold)")
    if msg:
        return msg
    if np.isnan(t):
        return "returned NaN, expected a threshold"
    in_s, out_s = ctx["in_s"], ctx["out_s"]
    gain = np.mean(in_s >= t) - np.mean(out_s >= t)
    ref_t = best_threshold(in_s, out_s)
    if gain >= np.mean(in_s >= ref_t) - np.mean(out_s >= ref_t) - 1e-9:
        return None
    if gain < 0:
        return ("at your threshold a larger share of out than of in records scores at or above it: "
                "members are the records with score >= threshold")
    if gain == 0:
        return "your threshold flags every record or none (TPR - FPR = 0): pick one of the observed scores"
    return ("another threshold separates the shadows' in and out records better (larger TPR - FPR): "
            "try each observed score as a candidate and keep the best")


_EX1, _EX2, _EX3 = (f"solutions/{n}.ipynb" for n in
                    ("ex01_confidence", "ex02_threshold_attacks", "ex03_shadow_models"))
for _exercise in [
    Exercise("ex01_true_class_confidence", "true_class_confidence", _EX1, _case_confidence,
             _judge_confidence, [dict(n_classes=2), dict(n_classes=3), dict(n_classes=2)],
             hidden_tests=True, hint=_hint_labels),
    Exercise("ex01_confident_fractions", "confident_fractions", _EX1, _case_fractions,
             _judge_fractions, [dict(level=0.9), {}, {}], hidden_tests=True),
    Exercise("ex02_loss_threshold_scores", "loss_threshold_scores", _EX2, _case_loss, _judge_loss,
             [dict(n_classes=2), dict(n_classes=3), dict(certain=True)], hidden_tests=True,
             hint=_hint_labels),
    Exercise("ex02_tpr_at_fpr", "tpr_at_fpr", _EX2, _case_tpr, _judge_tpr,
             [dict(fpr="grid"), dict(fpr="tiny"), dict(fpr=0.25, ties=True), dict(fpr="grid", ties=True)],
             hidden_tests=True),
    Exercise("ex03_attack_dataset", "build_attack_dataset", _EX3, _case_attack_data,
             _judge_attack_data, [{}, dict(classes=(0, 1, 2)), {}], hidden_tests=True),
    Exercise("ex03_threshold_from_shadows", "threshold_from_shadows", _EX3, _case_threshold,
             _judge_threshold, [dict(kind="normal"), dict(kind="ties"), dict(kind="loss")],
             hidden_tests=True),
]:
    register(_exercise)
