"""The checks that teach: right answers pass, wrong ones fail with words, nothing crashes."""
import re
import threading
import time

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from mia_course.attacks import (LossThresholdAttack, ShadowModelAttack, best_threshold, half_split,
                                true_class_probability)
from mia_course.grading.checks.ex03 import reference_attack_dataset
from mia_course.grading import REGISTRY, assert_passes, call_limited, check, exercise_names
from mia_course.grading.kit import ToyModel
from mia_course.metrics import roc, tpr_at_fpr
from helpers import generic_grading_tests


def _fractions(conf, is_member, level):
    m = np.asarray(is_member).astype(bool)
    return float(np.mean(conf[m] >= level)), float(np.mean(conf[~m] >= level))


REFERENCES = {
    "ex01_true_class_confidence": true_class_probability,
    "ex01_confident_fractions": _fractions,
    "ex02_loss_threshold_scores": lambda model, X, y: LossThresholdAttack().score_samples(model, X, y),
    "ex02_tpr_at_fpr": tpr_at_fpr,
    "ex03_attack_dataset": reference_attack_dataset,
    "ex03_threshold_from_shadows": best_threshold,
}
HIDDEN_OPTIONS = {  # the kinds of case the hidden tests of solutions/ ask for
    "ex01_true_class_confidence": [{"classes": (2, 5, 9)}, {"n_rows": 1}, {"n_classes": 4}],
    "ex01_confident_fractions": [{"as_int": True}, {"level": 1.0}, {"level": 0.5}],
    "ex02_loss_threshold_scores": [{"classes": (3, 7)}, {"n_rows": 1}, {"certain": True, "n_classes": 3}],
    "ex02_tpr_at_fpr": [{"as_int": True}, {"fpr": 0.0}, {"fpr": 1.0}, {"constant": True, "fpr": 0.5}],
    "ex03_attack_dataset": [{"n_shadows": 1}, {"classes": (1, 4, 7)}, {"n_rows": 5}],
    "ex03_threshold_from_shadows": [{"kind": "separated"}, {"kind": "ties"}, {"kind": "loss"}],
}


def test_registry_lists_one_check_per_graded_function():
    early = [n for n in exercise_names() if n[:4] in ("ex01", "ex02", "ex03")]
    assert early == sorted(REFERENCES)  # lessons 04-07: tests/test_grading_strong.py
    assert all(re.fullmatch(r"ex\d\d_\w+", n) for n in exercise_names())
    assert all(REGISTRY[n].function_name.isidentifier() for n in exercise_names())


def test_unknown_name_raises_value_error_listing_valid_names():
    with pytest.raises(ValueError, match="ex02_tpr_at_fpr"):
        check("ex02_tpr_at_fpx", tpr_at_fpr)


# the package's reference passes; a hard-coded answer fails; a learner's exception is reported
(test_the_package_reference_passes_public_and_hidden_cases, test_a_hard_coded_answer_fails,
 test_a_learners_exception_is_a_failed_check_with_its_message) = generic_grading_tests(REFERENCES, HIDDEN_OPTIONS, n_seeds=15)


def test_not_implemented_stops_early_and_says_so():
    def stub(*args):
        raise NotImplementedError()
    report = check("ex02_tpr_at_fpr", stub)
    assert len(report.results) == 1 and "not implemented yet" in str(report)
    assert "0 of 4 public checks passed" in str(report)


def test_wrong_sign_is_explained_in_terms_of_members():
    report = check("ex02_loss_threshold_scores", lambda m, X, y: -REFERENCES["ex02_loss_threshold_scores"](m, X, y))
    assert not report.passed
    assert "scores must be higher for members; yours are higher for non-members" in str(report)


def test_wrong_shape_names_the_shape():
    report = check("ex01_true_class_confidence", lambda m, X, y: m.predict_proba(X))
    assert not report.passed
    first = report.results[0]
    n = int(first.description.split()[0])
    assert f"returned shape ({n}, " in first.message and "one probability per row of X" in first.message
    report = check("ex02_loss_threshold_scores", lambda m, X, y: np.zeros(10))
    assert "returned shape (10,), expected one score per row of X" in str(report)


@pytest.mark.parametrize("name,wrong,words", [
    ("ex01_true_class_confidence", lambda m, X, y: m.predict_proba(X).max(axis=1), "predicted (most likely) class"),
    ("ex01_true_class_confidence", lambda m, X, y: None, "did you forget `return`"),
    ("ex01_confident_fractions", lambda c, m, lv: _fractions(c, m, lv)[::-1], "swapped"),
    ("ex01_confident_fractions", lambda c, m, lv: (np.mean(c[m] > lv), np.mean(c[~m] > lv)), "use >= rather than >"),
    ("ex01_confident_fractions", lambda c, m, lv: (np.sum(c[m] >= lv), np.sum(c[~m] >= lv)), "look like counts"),
    ("ex02_loss_threshold_scores", lambda m, X, y: np.log(true_class_probability(m, X, y)), "clip the probability"),
    ("ex02_loss_threshold_scores", lambda m, X, y: true_class_probability(m, X, y), "order the records like"),
    ("ex02_tpr_at_fpr", lambda m, s, f: float(np.interp(f, *roc(m, s)[:2])), "don't interpolate"),
    ("ex02_tpr_at_fpr", lambda m, s, f: float(roc(m, s)[1][roc(m, s)[0] < f].max(initial=0)), "exactly equal to fpr"),
    ("ex02_tpr_at_fpr", lambda m, s, f: [0.5, 0.5], "expected one number"),
    ("ex03_attack_dataset", lambda s, m, X, y: tuple(a if i != 1 else 1 - a for i, a in
                                                    enumerate(reference_attack_dataset(s, m, X, y))), "reversed"),
    ("ex03_attack_dataset", lambda s, m, X, y: (s[0].predict_proba(X), m[0], y), "stack those of every shadow"),
    ("ex03_attack_dataset", lambda s, m, X, y: reference_attack_dataset(s, m, X, y)[:2], "three arrays"),
    ("ex03_threshold_from_shadows", lambda i, o: -best_threshold(o, i), "threshold"),
    ("ex03_threshold_from_shadows", lambda i, o: float(np.median(np.r_[i, o])), "try each observed score"),
])
def test_common_mistakes_get_a_message_that_teaches(name, wrong, words):
    report = check(name, wrong, seed=3)
    assert not report.passed and words in str(report), str(report)


def test_messages_do_not_reveal_the_expected_values():
    report = check("ex02_tpr_at_fpr", lambda m, s, f: 0.0, seed=5)
    exercise, rng = REGISTRY["ex02_tpr_at_fpr"], np.random.default_rng(5)
    for options, result in zip(exercise.default_cases, report.results):
        _, args, ctx = exercise.make_case(rng, **options)
        expected = tpr_at_fpr(ctx["m"], ctx["scores"], ctx["fpr"])
        if not result.passed:
            assert f"{expected:.3f}" not in result.message and f"{expected:.1%}" not in result.message


def test_a_slow_function_is_stopped_and_reported():
    def slow(*args):
        time.sleep(30)
    start = time.perf_counter()
    report = check("ex03_threshold_from_shadows", slow, timeout=0.5)
    assert time.perf_counter() - start < 5
    assert not report.passed and "stopped after 0.5 s" in str(report)
    assert len(report.results) == 1, "the remaining cases are skipped"


def test_a_busy_loop_is_stopped_too_and_the_alarm_is_cleaned_up():
    import signal

    def spin(*args):
        while True:
            pass
    before = signal.getsignal(signal.SIGALRM)
    assert "stopped after 0.3 s" in str(check("ex02_tpr_at_fpr", spin, timeout=0.3))
    assert signal.getsignal(signal.SIGALRM) is before and signal.getitimer(signal.ITIMER_REAL)[0] == 0


def test_timeouts_also_work_off_the_main_thread():
    box = {}
    worker = threading.Thread(target=lambda: box.update(r=check("ex02_tpr_at_fpr", lambda *a: time.sleep(5),
                                                                timeout=0.3)))
    worker.start()
    worker.join(10)
    assert "stopped after 0.3 s" in str(box["r"])
    assert call_limited(lambda: 1 / 0, ())[0] == "error"


def test_passing_report_says_public_checks_never_all_tests_passed():
    report = check("ex02_tpr_at_fpr", tpr_at_fpr)
    text = str(report)
    assert report.passed and "Public checks passed (4/4)" in text and "hidden tests" in text
    assert "all tests passed" not in text.lower()
    hidden = check("ex02_tpr_at_fpr", tpr_at_fpr, kind="hidden", cases=HIDDEN_OPTIONS["ex02_tpr_at_fpr"])
    assert "Hidden checks passed" in str(hidden) and "all tests passed" not in str(hidden).lower()
    assert repr(report) == text


def test_check_takes_the_function_or_a_namespace():
    assert check("ex02_tpr_at_fpr", {"tpr_at_fpr": tpr_at_fpr, "other": 1}).passed
    missing = check("ex02_tpr_at_fpr", {"something_else": tpr_at_fpr})
    assert not missing.passed and "no function called `tpr_at_fpr`" in str(missing)
    assert "expected your function" in str(check("ex02_tpr_at_fpr", 42))


def test_a_learners_warnings_become_notes_not_stderr(capfd):
    report = check("ex02_loss_threshold_scores", lambda m, X, y: np.log(true_class_probability(m, X, y)))
    assert any("divide by zero" in n for n in report.notes)
    assert capfd.readouterr().err == "", "graded cells must not write to stderr (nbgrader: 0 points)"


def test_the_learners_inputs_are_copies():
    def vandal(conf, is_member, level):
        answer = _fractions(conf, is_member, level)
        conf[:] = 0.0  # a learner's function that changes its input after answering
        return answer
    assert check("ex01_confident_fractions", vandal).passed  # the judge still sees the original data


def test_assert_passes_prints_the_report_and_raises_only_on_failure(capsys):
    assert assert_passes("ex02_tpr_at_fpr", tpr_at_fpr) is None
    assert "Public checks passed" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="public checks failed"):
        assert_passes("ex02_tpr_at_fpr", lambda *a: 0.5)
    assert "[FAIL]" in capsys.readouterr().out


def test_toy_model_can_give_exact_zero_probabilities():
    rng = np.random.default_rng(0)
    model = ToyModel(rng, 3, [2, 5], sharpness=1000.0)
    P = model.predict_proba(100 * rng.normal(size=(20, 3)))
    assert np.allclose(P.sum(1), 1) and (P == 0).any()


def test_reference_attack_dataset_is_what_shadow_model_attack_builds():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4)).astype(np.float32)
    y = (X[:, 0] + 0.5 * rng.normal(size=40) > 0).astype(int)
    attack = ShadowModelAttack(shadow_model=LogisticRegression(), n_shadows=3, random_state=7).fit(X, y)
    replay = np.random.RandomState(7)  # replay the attack's random draws to recover its shadows
    masks = [half_split(len(y), replay) for _ in range(3)]  # then train_shadow_models' seeds
    seeds = replay.randint(2**31 - 1, size=3)
    shadows = [LogisticRegression(random_state=s).fit(X[m], y[m]) for s, m in zip(seeds, masks)]
    ours = reference_attack_dataset(shadows, masks, X, y)
    assert np.allclose(ours[0], attack.attack_X_)
    assert np.array_equal(ours[1], attack.attack_y_) and np.array_equal(ours[2], attack.attack_class_)


# ---- the tripwire: no credit for calling the package's own answer (tests take the `tripwire` fixture) ----

def _solution_functions(notebook):
    """The functions of the solution cells of ``solutions/<notebook>.ipynb`` (after the imports of
    its first cell): a learner's own code."""
    import glob
    import nbformat
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    nb = nbformat.read(glob.glob(str(root / "solutions" / f"{notebook}*.ipynb"))[0], as_version=4)
    namespace = {}
    exec("\n".join(line for line in nb.cells[1].source.split("\n") if re.match(r"(from \S+ )?import ", line)),
         namespace)
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
            exec(cell.source, namespace)
    return namespace


def _delegators():
    from mia_course import metrics
    from mia_course.defenses import dp_sgd
    from mia_course.lira import lira_scores
    from mia_course.playground import training_key
    import mia_course.audit as audit
    return [
        ("ex02_loss_threshold_scores", lambda m, X, y: LossThresholdAttack().score_samples(m, X, y),
         "LossThresholdAttack._score_samples"),
        ("ex02_tpr_at_fpr", lambda m, s, f: metrics.tpr_at_fpr(m, s, f), "metrics.tpr_at_fpr"),
        ("ex02_tpr_at_fpr", lambda m, s, f: metrics.attack_summary(m, s, fprs=(f,))[f"TPR@{f:.1%} FPR"],
         "metrics.attack_summary"),  # another package function that computes the same TPR
        ("ex04_offline_lira", lambda phi, t: lira_scores(t, phi, np.zeros(phi.shape, bool), online=False,
                                                         fixed_variance=False), "lira.lira_scores"),
        ("ex06_online_lira", lambda phi, is_in, t: lira_scores(t, phi, is_in, online=True, fixed_variance=False),
         "lira.lira_scores"),
        ("ex08_membership_advantage", lambda m, s: metrics.attack_summary(m, s)["advantage"],
         "metrics.attack_summary"),
        ("ex09_clip_per_sample", lambda g, C: dp_sgd.clip_per_sample(g, C)[0], "dp_sgd.clip_per_sample"),
        ("ex09_noisy_gradient", dp_sgd.noisy_gradient, "dp_sgd.noisy_gradient"),
        ("ex11_dp_bound", audit.dp_bound_tpr, "audit.dp_bound_tpr"),
        ("ex13_needs_retraining", lambda old, new: training_key(old) != training_key(new), "playground.training_key"),
    ]


@pytest.mark.parametrize("name,delegate,reference", _delegators(), ids=lambda v: v if isinstance(v, str) else "")
def test_a_function_that_calls_the_reference_fails_and_is_told_why(tripwire, name, delegate, reference):
    for cases in (None, [{}]):
        report = check(name, delegate, seed=0, cases=cases, kind="public" if cases is None else "hidden")
        assert not report.passed, str(report)
        assert reference in report.results[0].message and "asks for your own code" in report.results[0].message
    with pytest.raises(AssertionError):
        assert_passes(name, delegate)


def test_calling_the_reference_fails_however_it_is_hidden(tripwire):
    from mia_course.metrics import tpr_at_fpr as renamed
    own = _solution_functions("ex02")["tpr_at_fpr"]

    def peeks(m, s, f):  # calls the reference, swallows anything, returns its own answer
        try:
            renamed(m, s, f)
        except BaseException:
            pass
        return own(m, s, f)
    assert "asks for your own code" in str(check("ex02_tpr_at_fpr", peeks))
    box = {}  # off the main thread (check then runs the function in a worker thread)
    worker = threading.Thread(target=lambda: box.update(r=check("ex02_tpr_at_fpr", peeks)))
    worker.start()
    worker.join(30)
    assert "asks for your own code" in str(box["r"])


@pytest.mark.parametrize("name", exercise_names())
def test_the_solutions_own_code_passes_with_the_tripwire_on(tripwire, name):
    """Every solution of solutions/ (its own code, with its notebook's imports) passes its public
    and hidden-style cases: none of them calls a reference, and the tracer is removed afterwards."""
    import sys
    function = _solution_functions(name[:4])[REGISTRY[name].function_name]
    tracer_before = sys.gettrace()
    for seed in range(2):
        assert check(name, function, seed=seed).passed
        assert check(name, function, seed=seed, kind="hidden", cases=REGISTRY[name].default_cases).passed
    assert sys.gettrace() is tracer_before


def test_the_checks_own_machinery_still_runs_the_reference(tripwire):
    """The expected values come from the reference (outside the learner's call), and calling the
    reference outside a check is unaffected; a check after a tripped one passes."""
    own = _solution_functions("ex02")["tpr_at_fpr"]
    assert not check("ex02_tpr_at_fpr", tpr_at_fpr, seed=1).passed
    assert check("ex02_tpr_at_fpr", own, seed=1).passed
    assert tpr_at_fpr([1, 1, 0, 0], [0.9, 0.2, 0.1, 0.05], 0.0) == 1.0
    # a reference of another exercise is allowed: ex02's loss attack may use ex01's answer
    assert check("ex02_loss_threshold_scores", _solution_functions("ex02")["loss_threshold_scores"]).passed


def test_every_exercise_names_its_references_and_they_resolve():
    import inspect
    from mia_course.grading.tripwire import reference_codes, reference_name, resolve
    for name in exercise_names():
        exercise = REGISTRY[name]
        assert isinstance(exercise.references, tuple), f"{name}: pass references=(...) to its Exercise"
        for ref in exercise.references:
            fn = resolve(ref) if isinstance(ref, str) else ref
            assert inspect.isfunction(fn) and reference_name(ref).startswith("mia_course."), ref
        assert len(reference_codes(exercise)) == len(set(exercise.references))


def test_only_ex01_confident_fractions_has_no_reference():
    """An empty ``references`` is a claim that the package computes no such answer: keep it rare."""
    assert [n for n in exercise_names() if not REGISTRY[n].references] == ["ex01_confident_fractions"]


@pytest.mark.parametrize("name", exercise_names())
def test_released_notebooks_do_not_import_the_reference_they_ask_for(name):
    """The first cell of the student notebook imports no reference of its exercises (the demo
    cells that need one import it after the question)."""
    import glob
    import nbformat
    from pathlib import Path
    path = glob.glob(str(Path(__file__).resolve().parents[1] / "exercises" / f"{name[:4]}_*.ipynb"))[0]
    first = nbformat.read(path, as_version=4).cells[1]
    assert first.cell_type == "code"
    imported = {n.strip().split(" as ")[0] for line in first.source.split("\n")
                if (m := re.match(r"from \S+ import (.*)", line)) for n in m.group(1).split(",")}
    from mia_course.grading.tripwire import reference_name
    for ref in REGISTRY[name].references:
        assert reference_name(ref).split(".")[-1] not in imported, (name, ref)
        assert getattr(ref, "__qualname__", "").split(".")[0] not in imported, (name, ref)


def test_instructors_guide_table_is_the_registry():
    """docs/instructors.md's table of notebooks and check modules is the registry, written out:
    one row per module of mia_course/grading/checks/, named after its solutions/ notebook."""
    import glob
    import inspect
    import pkgutil
    from pathlib import Path
    import mia_course.grading.checks as checks
    root = Path(__file__).resolve().parents[1]
    rows = re.findall(r"^\| `(ex\d\d_\w+\.ipynb)` \| `mia_course/grading/checks/(ex\d\d)\.py` \| (.*) \|$",
                      (root / "docs" / "instructors.md").read_text(), re.M)
    table = {module: (notebook, re.findall(r"`(\w+)`", names)) for notebook, module, names in rows}
    registry = {}  # module -> its exercises, in the order it registers them
    exercise_names()
    for name in REGISTRY:
        registry.setdefault(inspect.getmodule(REGISTRY[name].make_case).__name__.split(".")[-1], []).append(name)
    expected = {module: (Path(glob.glob(str(root / "solutions" / f"{module}_*.ipynb"))[0]).name, names)
                for module, names in registry.items()}
    assert len(rows) == len(table) and table == expected, "update the table in docs/instructors.md"
    assert sorted(m.name for m in pkgutil.iter_modules(checks.__path__)) == sorted(registry)
    notebooks = sorted(Path(p).name[:4] for p in glob.glob(str(root / "solutions" / "ex*.ipynb")))
    assert notebooks == sorted(registry), "one check module per exercise notebook"
    for module, names in registry.items():
        assert all(n.startswith(module + "_") for n in names), (module, names)
