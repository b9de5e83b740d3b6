"""The checks of solutions/ex01_confidence.ipynb: confidence on the true label, and who is
confidently predicted.

Introduced in solutions/ex01_confidence.ipynb. Each check draws small random cases, runs the
package's reference (``mia_course.attacks``) on them and judges the learner's answer in
words, without revealing the expected values. Case options (``check(..., cases=[{...}])``) let
hidden tests ask for harder cases. Every exercise module of ``mia_course.grading.checks``
follows this pattern.
"""
import numpy as np

from mia_course.attacks import true_class_probability
from mia_course.grading.engine import Exercise, register
from mia_course.grading.kit import ToyModel, as_numbers, hint_labels, label_classes, plural


# ---- ex01: confidence on the true label, and who is confidently predicted ----------------
def _case_confidence(rng, n_classes=2, classes=None, n_rows=None):
    classes, about = label_classes(n_classes, classes)
    n, d = n_rows or int(rng.integers(6, 30)), int(rng.integers(3, 7))
    model = ToyModel(rng, d, classes)
    X, y = rng.normal(size=(n, d)).astype(np.float32), rng.choice(classes, size=n)
    ctx = dict(model=model, X=X, y=y, ref=true_class_probability(model, X, y), odd="labelled" in about)
    return f"{plural(n, 'record')}, {about}", (model, X, y), ctx


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


# every graded cell of solutions/ runs hidden tests as well
register(Exercise("ex01_true_class_confidence", "true_class_confidence", _case_confidence, _judge_confidence,
                  [dict(n_classes=2), dict(n_classes=3), dict(n_classes=2)], hidden_tests=True,
                  hint=hint_labels, references=(true_class_probability,)))
register(Exercise("ex01_confident_fractions", "confident_fractions", _case_fractions, _judge_fractions,
                  [dict(level=0.9), {}, {}], hidden_tests=True,
                  references=()))  # numpy only: the package has no such function
