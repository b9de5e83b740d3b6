"""The exercise checks of lesson 05: label-only robustness and its difficulty calibration.

Introduced in solutions/ex05_label_only.ipynb. Registered like those of
``mia_course.grading.checks.ex01``; the cases query ``LabelModel`` stand-ins through
``PredictOnly`` (``predict`` only; both in ``mia_course.grading.kit``), and the reference is ``LabelOnlyAttack`` itself, run
with the seed that draws the same perturbed copies as those handed to the learner.
"""
import numpy as np

from mia_course.grading.engine import Exercise, register
from mia_course.grading.kit import LabelModel, PredictOnly, as_numbers, first_match, plural
from mia_course.label_only import LabelOnlyAttack, LabelsOnlyAPI, perturb
from mia_course.training.registry import ShadowModels


# ---- ex05: label-only robustness, and its difficulty calibration --------------------------
def trusted_robustness_scores(model: "PredictOnly", X: "np.ndarray", y: "np.ndarray",
                              copies: "np.ndarray") -> "np.ndarray":
    """The grader's own robustness score: ex05's second function is checked with this in place
    of the learner's first (each function graded on its own)."""
    n_copies, n_rows, n_features = np.shape(copies)
    y = np.asarray(y)
    labels = np.asarray(model.predict(np.reshape(copies, (-1, n_features)))).reshape(n_copies, n_rows)
    return np.vstack([np.asarray(model.predict(X)) == y, labels == y]).mean(axis=0)


def _label_case(rng, n_copies, n_rows, classes, n_flips=1, binary=True, n_references=0):
    classes = np.asarray(classes)
    n, d, k = n_rows or int(rng.integers(6, 20)), int(rng.integers(6, 12)), n_copies or int(rng.integers(4, 12))
    model = LabelModel(rng, d, classes, sharpness=1.0)
    refs = [LabelModel(rng, d, classes) for _ in range(n_references)]
    for r in refs:  # the attacker's models: similar to the target, not the same
        r.coef_ = model.coef_ + rng.normal(0.0, 0.7, model.coef_.shape)
    X = ((rng.random((n, d)) < 0.4) if binary else rng.normal(size=(n, d))).astype(np.float32)
    y = model.predict(X)
    wrong = rng.random(n) < 0.3
    y[wrong] = rng.choice(classes, int(wrong.sum()))
    seed = int(rng.integers(2**31 - 1))
    copies = perturb(X, k, np.random.RandomState(seed), n_flips=n_flips)
    attack = LabelOnlyAttack(n_perturbations=k, n_flips=n_flips, n_references=n_references, random_state=seed)
    if refs:
        attack.references_ = ShadowModels(refs, np.ones((len(refs), n), dtype=bool))
    ref = attack.score_samples(LabelsOnlyAPI(model), X, y)  # the package's attack draws the same copies
    api = PredictOnly(model)  # what the learner's function gets

    def right(m):
        return np.vstack([m.predict(X) == y, m.predict(copies.reshape(-1, d)).reshape(k, n) == y])
    flat = model.predict(copies.reshape(-1, d))
    ctx = dict(ref=ref, right=right(model), refs_right=[right(r) for r in refs], k=k, n=n,
               scrambled=(right(model)[0] + np.sum(flat.reshape(n, k) == y[:, None], axis=1)) / (k + 1))
    perturbation = f"{plural(n_flips, 'flipped bit')}" if binary else "Gaussian noise"
    about = (f"{plural(n, 'record')}, {k} {'copy' if k == 1 else 'copies'} ({perturbation}), "
             f"classes {', '.join(map(str, classes))}")
    return about, (api, X, y, copies), refs, ctx


def _case_robust(rng, n_copies=None, n_rows=None, classes=(0, 1), n_flips=1, binary=True):
    about, args, _, ctx = _label_case(rng, n_copies, n_rows, classes, n_flips, binary)
    return about, args, ctx


def _judge_robust(ctx, out):
    ref, right, k, n = ctx["ref"], ctx["right"], ctx["k"], ctx["n"]
    arr, msg = as_numbers(out, "one score per record (row of X)", (n,))
    if msg:
        if np.shape(out) in ((k, n), (k + 1, n)):
            return "you returned one row per copy: average over the copies (axis 0), one score per record"
        return msg
    if np.allclose(arr, ref):
        return None
    if not np.all((arr >= 0) & (arr <= 1)) and not np.allclose(arr, right.sum(0)):
        return "a share of correct labels is between 0 and 1"
    return first_match(arr, [
        (right[1:].mean(0), "count the record itself too: the score is the share of correct labels among "
                            "the record and its perturbed copies"),
        (1 - ref, "count the queries labelled correctly (predicted label equal to y), not the wrong ones"),
        (right.sum(0), "these look like counts: return shares (divide by the number of queries)"),
        (right[0], "you scored the record alone: also ask the model about its perturbed copies"),
        (ctx["scrambled"], "your scores mix up the records' copies: copies.reshape(-1, n_features) lists "
                           "copy 0 of every row, then copy 1, ...; reshape the labels back to "
                           "[n_copies, n_rows], not [n_rows, n_copies]"),
    ]) or f"{int(np.sum(~np.isclose(arr, ref)))} of {n} scores differ from the share of correct labels"


def _hint_label_only(err):
    if isinstance(err, AttributeError) and "predict" in str(err):
        return "a label-only attacker can call model.predict only"
    if "2-D" in str(err):
        return ("model.predict takes a 2-D array: reshape copies to [n_copies * n_rows, n_features], "
                "then the predicted labels back to [n_copies, n_rows]")
    return None


def _case_calibrated(rng, n_references=None, n_copies=None, n_rows=None, classes=(0, 1)):
    n_references = n_references or int(rng.integers(2, 4))
    about, (api, X, y, copies), refs, ctx = _label_case(rng, n_copies, n_rows, classes,
                                                        n_references=n_references)
    return f"{about}; {plural(n_references, 'reference model')}", (api, refs, X, y, copies), ctx


def _judge_calibrated(ctx, out):
    ref, n = ctx["ref"], ctx["n"]
    arr, msg = as_numbers(out, "one score per record (row of X)", (n,))
    if msg or np.allclose(arr, ref):
        return msg
    target = ctx["right"].mean(0)
    each = [r.mean(0) for r in ctx["refs_right"]]
    references = np.mean(each, axis=0)
    with np.errstate(all="ignore"):
        return first_match(arr, [
            (references - target, "reversed: the score is the target's robustness minus the references' "
                                  "(high when the target is more robust than models that never saw the record)"),
            (target, "that is the target's robustness alone: subtract the reference models' robustness"),
            (target - each[0] if len(each) > 1 else np.nan,
             "average the robustness over all the reference models, not only the first"),
            (target - np.mean([r[0] for r in ctx["refs_right"]], axis=0),
             "ask the references about the same perturbed copies (and the record), like the target"),
            (target / references, "subtract the references' robustness, don't divide by it"),
        ]) or (f"{int(np.sum(~np.isclose(arr, ref)))} of {n} scores differ from the target's robustness "
               "minus the references' mean robustness")


# every graded cell of solutions/ runs hidden tests as well
register(Exercise("ex05_robustness", "robustness_scores", _case_robust, _judge_robust,
                  [{}, dict(classes=(0, 1, 2)), dict(n_flips=2)], hidden_tests=True, hint=_hint_label_only,
                  references=(LabelOnlyAttack._score_samples, trusted_robustness_scores)))
register(Exercise("ex05_calibrated_robustness", "calibrated_robustness", _case_calibrated, _judge_calibrated,
                  [{}, dict(n_references=1), dict(classes=(0, 1, 2))], hidden_tests=True, hint=_hint_label_only,
                  references=(LabelOnlyAttack._score_samples,),
                  trusted={"robustness_scores": "mia_course.grading.checks.ex05:trusted_robustness_scores"}))
