"""The tripwire: no credit for calling the course's own answer.

Introduced in docs/instructors.md ("What the checks guarantee").

The package holds a reference implementation of every graded function, so a learner could
pass a check with ``def tpr_at_fpr(m, s, f): return mia_course.metrics.tpr_at_fpr(m, s, f)``.
While ``mia_course.grading.check`` runs the learner's function, :func:`watching` records
every call, from inside it, to a reference registered for that exercise (however it was
reached: imported under another name, through a class, or through another package function
that calls it, such as ``attack_summary`` for ``membership_advantage``). Such a case fails
with :data:`MESSAGE`. The check's own expected values are computed outside the learner's
call, so the reference still runs for them.

What it does not prevent: copying the reference's source into the notebook.
"""
import importlib
import sys
from contextlib import contextmanager

MESSAGE = ("your function calls the course package's own `{name}`, the reference this check "
           "compares you with: this exercise asks for your own code")

# exercise -> the package functions that compute its answer ("module:qualified name").
# An exercise the package has no function for maps to (); a new exercise either adds a line
# here or passes ``references=(...)`` to ``Exercise`` (tests/test_grading.py requires one of them).
REFERENCES = {
    "ex01_true_class_confidence": ("mia_course.attacks:true_class_probability",),
    "ex01_confident_fractions": (),  # numpy only: the package has no such function
    "ex02_loss_threshold_scores": ("mia_course.attacks:LossThresholdAttack.score_samples",
                                   "mia_course.attacks:cross_entropy_loss"),
    "ex02_tpr_at_fpr": ("mia_course.metrics:tpr_at_fpr",),
    "ex03_attack_dataset": ("mia_course.exercise_checks:reference_attack_dataset",),
    "ex03_threshold_from_shadows": ("mia_course.attacks:best_threshold",),
    "ex04_logit_confidence": ("mia_course.lira:logit_confidence",),
    "ex04_offline_lira": ("mia_course.lira:lira_scores",),
    "ex04_stacked_forward": ("mia_course.training.stacked:stacked_forward",),
    "ex05_robustness": ("mia_course.label_only:LabelOnlyAttack.score_samples",),
    "ex05_calibrated_robustness": ("mia_course.label_only:LabelOnlyAttack.score_samples",),
    "ex06_online_lira": ("mia_course.lira:lira_scores",),
    "ex06_exposed_members": ("mia_course.exercise_checks_exposure:reference_exposed_members",),
    "ex07_fraction_beaten": ("mia_course.rmia:rmia_scores",),
    "ex07_most_exposed": ("mia_course.metrics:most_exposed",),
    "ex08_membership_advantage": ("mia_course.metrics:membership_advantage",),
    "ex08_pareto_front": ("mia_course.exercise_checks_defenses:reference_pareto_front",),
    "ex09_clip_per_sample": ("mia_course.defenses.dp_sgd:clip_per_sample",),
    "ex09_noisy_gradient": ("mia_course.defenses.dp_sgd:noisy_gradient",),
    "ex10_rounded_outputs": ("mia_course.defenses.outputs:RoundedOutputs.predict_proba",),
    "ex10_noisy_outputs": ("mia_course.defenses.outputs:NoisyOutputs.predict_proba",
                           "mia_course.defenses.outputs:keep_top_class"),
    "ex11_dp_bound": ("mia_course.audit:dp_bound_tpr",),
    "ex11_epsilon_lower_bound": ("mia_course.audit:epsilon_from_counts", "mia_course.audit:empirical_epsilon",
                                 "mia_course.audit:clopper_pearson"),
    "ex12_one_run_bound": ("mia_course.audit:one_run_epsilon",),
    "ex12_one_run_guesses": ("mia_course.canaries:one_run_guesses", "mia_course.canaries:one_run_audit"),
    "ex13_where_record_lands": ("mia_course.playground:where_record_lands",),
    "ex13_needs_retraining": ("mia_course.playground:training_key",),
    "ex14_confidence_gradient": ("mia_course.inversion:confidence_gradient",),
    "ex14_projected_update": ("mia_course.inversion:projected_step",),
    "ex15_exposure": ("mia_course.language_attacks:exposure", "mia_course.language_attacks:canary_exposures"),
    "ex15_min_k": ("mia_course.language_attacks:min_k_scores",),
}
_allowed = [False]  # see allowed()


def resolve(spec):
    """The function named by ``"package.module:Name.attr"``."""
    module, _, qualname = spec.partition(":")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def reference_codes(exercise):
    """``{code object: "module.name"}`` of the references of ``exercise`` (an ``Exercise``)."""
    specs = tuple(REFERENCES.get(exercise.name, ())) + tuple(getattr(exercise, "references", ()) or ())
    return {resolve(spec).__code__: spec.replace(":", ".") for spec in specs}


@contextmanager
def allowed():
    """Switch the tripwire off inside the block. For the package's own tests of the judges,
    which pass the reference itself (or a deliberate mistake built on it) as the learner's
    function; graded checks never use it."""
    before, _allowed[0] = _allowed[0], True
    try:
        yield
    finally:
        _allowed[0] = before


def watching(fn, codes, hits):
    """``fn`` wrapped so that a call to one of ``codes`` while it runs (in its thread) appends
    the reference's name to ``hits``. Uses ``sys.settrace`` for 'call' events only (no line
    tracing), chained to a tracer already installed (a debugger, coverage)."""
    if not codes or _allowed[0]:
        return fn

    def traced(*args, **kwargs):
        previous = sys.gettrace()

        def tracer(frame, event, arg):
            if event == "call" and frame.f_code in codes:
                hits.append(codes[frame.f_code])
            return previous(frame, event, arg) if previous is not None else None
        sys.settrace(tracer)
        try:
            return fn(*args, **kwargs)
        finally:
            sys.settrace(previous)
    return traced
