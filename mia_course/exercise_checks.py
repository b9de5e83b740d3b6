"""The registered exercise checks: one per graded function of the exercise notebooks.

Introduced in solutions/ex01_confidence.ipynb. Each check draws small random cases, runs
the package's reference (``mia_course.attacks``, ``mia_course.metrics``) on them and
judges the learner's answer in words, without revealing the expected values. Case
options (``check(..., cases=[{...}])``) let hidden tests ask for harder cases.
"""
import numpy as np

from mia_course.attacks import LossThresholdAttack, best_threshold, half_split, true_class_probability
from mia_course.grading import Exercise, ToyModel, as_numbers, register
from mia_course.metrics import roc, roc_auc, tpr_at_fpr


def _plural(n, word):
    return f"{n} {word}" + ("" if n == 1 else "s")


def _classes(n_classes, classes):
    classes = np.arange(n_classes) if classes is None else np.asarray(classes)
    odd = not np.array_equal(classes, np.arange(len(classes)))
    return classes, f"{len(classes)} classes" + (f" labelled {', '.join(map(str, classes))}" if odd else "")


def _same_order(a, b):
    """True when ``a`` and ``b`` rank their entries alike (ties included)."""
    ra, rb = (np.unique(v, return_inverse=True)[1] for v in (a, b))
    return np.array_equal(ra, rb)


def _hint_labels(err):
    if isinstance(err, IndexError):
        return "labels are not always column numbers: find each label's column in model.classes_"
    return None


# ---- ex01: confidence on the true label, and who is confidently predicted ----------------
def _case_confidence(rng, n_classes=2, classes=None, n_rows=None):
    classes, about = _classes(n_classes, classes)
    n, d = n_rows or int(rng.integers(6, 30)), int(rng.integers(3, 7))
    model = ToyModel(rng, d, classes)
    X, y = rng.normal(size=(n, d)).astype(np.float32), rng.choice(classes, size=n)
    ctx = dict(model=model, X=X, y=y, ref=true_class_probability(model, X, y), odd="labelled" in about)
    return f"{_plural(n, 'record')}, {about}", (model, X, y), ctx


def _judge_confidence(ctx, out):
    n, ref = len(ctx["y"]), ctx["ref"]
    arr, msg = as_numbers(out, "one probability per row of X", (n,))
    if msg or np.allclose(arr, ref, atol=1e-6):
        return msg
    if np.allclose(arr, ctx["model"].predict_proba(ctx["X"]).max(axis=1), atol=1e-6):
        return ("these are the probabilities of the predicted (most likely) class; "
                "take the probability of each row's true label y")
    if not np.all((arr >= 0) & (arr <= 1)):
        return "values must be probabilities, between 0 and 1"
    extra = " (the columns of predict_proba follow model.classes_)" if ctx["odd"] else ""
    wrong = int(np.sum(~np.isclose(arr, ref, atol=1e-6)))
    return f"{wrong} of {n} values are not the model's probability for the row's true label{extra}"


def _case_fractions(rng, level=None, as_int=False):
    n = int(rng.integers(24, 60))
    conf = np.round(rng.integers(8, 21, size=n) * 0.05, 2)
    level = float(level if level is not None else rng.choice([0.8, 0.9, 0.95]))
    m = np.zeros(n, dtype=bool)
    m[rng.permutation(n)[: int(rng.integers(8, n - 8))]] = True
    conf[np.flatnonzero(m)[0]] = conf[np.flatnonzero(~m)[0]] = level  # ties with level
    kind = " (is_member given as 0/1 numbers)" if as_int else ""
    ctx = dict(conf=conf, m=m, level=level, as_int=as_int)
    return f"{n} records, level = {level:g}{kind}", (conf, m.astype(int) if as_int else m, level), ctx


def _judge_fractions(ctx, out):
    conf, m, level = ctx["conf"], ctx["m"], ctx["level"]
    if not isinstance(out, (tuple, list, np.ndarray)) or np.ndim(out) != 1 or len(out) != 2:
        return "return two numbers: (fraction of members, fraction of non-members) at or above level"
    vals, msg = as_numbers(out, "two numbers", (2,))
    ref = [np.mean(conf[m] >= level), np.mean(conf[~m] >= level)]
    if msg or np.allclose(vals, ref):
        return msg
    for values, message in [
        (ref[::-1], "the two values are swapped: members first, then non-members"),
        ([np.sum(conf[m] >= level), np.sum(conf[~m] >= level)],
         "these look like counts: return fractions (divide by the number of members, and of non-members)"),
        ([np.mean(conf[m] > level), np.mean(conf[~m] > level)],
         "a confidence exactly equal to level counts as confident: use >= rather than >"),
        ([np.sum(conf[m] >= level) / len(m), np.sum(conf[~m] >= level) / len(m)],
         "divide by the number of members (and of non-members), not by the number of all records"),
    ]:
        if np.allclose(vals, values):
            return message
    if ctx["as_int"]:
        return "is_member may hold 0/1 numbers: turn it into a boolean mask before indexing with it"
    which = "first value (members)" if not np.isclose(vals[0], ref[0]) else "second value (non-members)"
    return f"the {which} is not the fraction of those records whose confidence is at least level"


# ---- ex02: the loss threshold attack's scores, and TPR at a fixed FPR ----------------------
def _case_loss(rng, n_classes=2, classes=None, n_rows=None, certain=False):
    classes, about = _classes(n_classes, classes)
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
    return f"{_plural(n, 'record')}, {about}{what}", (model, X, y), ctx


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
    (classes, about), d = _classes(None, classes), int(rng.integers(3, 6))
    shadows = [ToyModel(rng, d, classes) for _ in range(k)]
    masks = [half_split(n, rng) for _ in range(k)]
    X, y = rng.normal(size=(n, d)).astype(np.float32), rng.choice(classes, size=n)
    ctx = dict(k=k, n=n, masks=masks, ref=reference_attack_dataset(shadows, masks, X, y))
    return (f"{_plural(k, 'shadow model')}, {n} attacker records, {about}",
            (shadows, masks, X, y), ctx)


def _judge_attack_data(ctx, out):
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        return "return three arrays: (attack_X, attack_y, attack_class)"
    (rX, ry, rc), rows = ctx["ref"], ctx["k"] * ctx["n"]
    aX, msg = as_numbers(out[0], "attack_X as an array of numbers")
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
    labels = []
    for name, arr in (("attack_y", out[1]), ("attack_class", out[2])):
        arr, msg = as_numbers(arr, "one number per row of attack_X", (rows,))
        if msg:
            return f"{name}: {msg}"
        labels.append(arr)
    if not np.allclose(aX, rX, atol=1e-6):
        if np.allclose(np.sort(aX, axis=0), np.sort(rX, axis=0), atol=1e-6):
            return ("attack_X has the right rows in another order: go shadow by shadow, each with the "
                    "rows in X_aux order, so that attack_X, attack_y and attack_class line up")
        return "attack_X rows are not the shadow models' predict_proba on X_aux"
    if np.array_equal(labels[0], 1 - ry):
        return "attack_y is reversed: 1 means the shadow trained on that row (in), 0 that it did not"
    if not np.array_equal(labels[0], ry):
        return "attack_y must be 1 where the shadow trained on the row (its in_mask) and 0 elsewhere"
    if not np.array_equal(labels[1], rc):
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
    return f"{n_in} in and {n_out} out shadow scores ({kind})", (in_s, out_s), dict(i=in_s, o=out_s)


def _judge_threshold(ctx, out):
    t, msg = as_numbers(out, "one number (the threshold)", ())
    if msg:
        return msg
    gain = np.mean(ctx["i"] >= t) - np.mean(ctx["o"] >= t)
    ref_t = best_threshold(ctx["i"], ctx["o"])
    if gain >= np.mean(ctx["i"] >= ref_t) - np.mean(ctx["o"] >= ref_t) - 1e-9:
        return None
    if gain < 0:
        return ("at your threshold a larger share of out than of in records scores at or above it: "
                "members are the records with score >= threshold")
    if gain == 0:
        return "your threshold flags every record or none (TPR - FPR = 0): pick one of the observed scores"
    return ("another threshold separates the shadows' in and out records better (larger TPR - FPR): "
            "try each observed score as a candidate and keep the best")


for _name, _function, _case, _judge, _defaults, _hint in [
    ("ex01_true_class_confidence", "true_class_confidence", _case_confidence, _judge_confidence,
     [dict(n_classes=2), dict(n_classes=3), dict(n_classes=2)], _hint_labels),
    ("ex01_confident_fractions", "confident_fractions", _case_fractions, _judge_fractions,
     [dict(level=0.9), {}, {}], None),
    ("ex02_loss_threshold_scores", "loss_threshold_scores", _case_loss, _judge_loss,
     [dict(n_classes=2), dict(n_classes=3), dict(certain=True)], _hint_labels),
    ("ex02_tpr_at_fpr", "tpr_at_fpr", _case_tpr, _judge_tpr,
     [dict(fpr="grid"), dict(fpr="tiny"), dict(fpr="inside_tie", ties=True), dict(fpr=0.25, ties=True)], None),
    ("ex03_attack_dataset", "build_attack_dataset", _case_attack_data, _judge_attack_data,
     [{}, dict(classes=(0, 1, 2)), {}], None),
    ("ex03_threshold_from_shadows", "threshold_from_shadows", _case_threshold, _judge_threshold,
     [dict(kind="normal"), dict(kind="ties"), dict(kind="loss")], None),
]:  # every graded cell of solutions/ runs hidden tests as well
    register(Exercise(_name, _function, _case, _judge, _defaults, hidden_tests=True, hint=_hint))
