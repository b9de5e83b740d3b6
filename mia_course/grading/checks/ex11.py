"""The checks of solutions/ex11_audit.ipynb: the DP bound on the ROC, and the epsilon an
attack proves.

Introduced in solutions/ex11_audit.ipynb. Like ``checks.ex01``: small random cases, the
package's reference (``mia_course.audit``), the answer judged in words, never with the
expected values."""
import numpy as np
from scipy.stats import beta

from mia_course.audit import clopper_pearson, dp_bound_tpr, empirical_epsilon, epsilon_from_counts
from mia_course.grading.engine import Exercise, register
from mia_course.grading.kit import as_numbers, first_match


# ---- ex11: the DP bound on the ROC, and the epsilon an attack proves ----------------------
def _case_bound(rng, epsilon=None, delta=None, scalar=False, as_list=False):
    epsilon = float(rng.choice([0.5, 1.0, 2.0, 4.0]) if epsilon is None else epsilon)
    delta = float(rng.choice([1e-5, 1e-3, 0.05]) if delta is None else delta)
    fpr = float(rng.uniform(0.2, 0.9)) if scalar else np.r_[0.0, np.sort(rng.uniform(0, 1, 12)), 1.0]
    what = "one fpr (a number)" if scalar else f"{np.size(fpr)} fpr values{' as a list' if as_list else ''}"
    return (f"{what}, epsilon = {epsilon:g}, delta = {delta:g}", (fpr.tolist() if as_list else fpr, epsilon, delta),
            dict(fpr=np.asarray(fpr), eps=epsilon, delta=delta, ref=dp_bound_tpr(fpr, epsilon, delta)))


def _judge_bound(ctx, out):
    f, e, dl, ref = ctx["fpr"], ctx["eps"], ctx["delta"], ctx["ref"]
    arr, msg = as_numbers(out, "one TPR per fpr value" if f.ndim else "one number", ref.shape)
    if msg or np.allclose(arr, ref, atol=1e-9):
        return msg
    if np.any(arr > 1 + 1e-9) or np.any(arr < -1e-9):
        return "a TPR lies between 0 and 1: clip the bound to [0, 1]"
    return first_match(arr, [
        (np.clip(np.exp(e) * f + dl, 0, 1), "the second inequality, 1 - FPR <= e^eps (1 - TPR) + delta, bounds "
                                             "the TPR too (the tighter one at a high FPR): take the smaller"),
        (np.clip(np.minimum(np.exp(e) * f + dl, 1 - np.exp(-e) * (1 - f)), 0, 1),
         "the second inequality has delta too: 1 - FPR <= e^eps (1 - TPR) + delta"),
        (np.clip(np.minimum(np.exp(e) * f, 1 - np.exp(-e) * (1 - dl - f)), 0, 1),
         "the first inequality has delta too: TPR <= e^eps FPR + delta"),
        (np.clip(np.minimum(np.exp(-e) * f + dl, 1 - np.exp(e) * (1 - dl - f)), 0, 1),
         "the bound grows with epsilon: e^eps, not e^-eps"),
    ], atol=1e-9) or (f"{int(np.sum(~np.isclose(arr, ref, atol=1e-9)))} of {ref.size} values differ from the "
                      "highest TPR both inequalities allow")


def _case_audit(rng, kind="first", n=None, delta=1e-5, confidence=0.95):
    n_in, n_out = (n, n) if n else (int(v) for v in rng.integers(100, 2000, size=2))
    fpr = {"first": rng.uniform(0.002, 0.05), "second": rng.uniform(0.2, 0.5), "none": rng.uniform(0.1, 0.5),
           "no_false": 0.0, "all_true": rng.uniform(0.3, 0.6), "zero": rng.uniform(0.05, 0.3)}[kind]
    tpr = {"first": min(0.9, fpr * rng.uniform(8, 30)), "second": 1 - rng.uniform(0.001, 0.01), "zero": 0.0,
           "none": fpr * rng.uniform(0.9, 1.1), "no_false": rng.uniform(0.05, 0.3), "all_true": 1.0}[kind]
    tp, fp = int(np.clip(round(tpr * n_in), 0, n_in)), int(np.clip(round(fpr * n_out), 0, n_out))
    ref = epsilon_from_counts(tp, n_in, fp, n_out, delta, confidence)  # one threshold: this ROC point
    return (f"{tp} of {n_in} members and {fp} of {n_out} non-members flagged, delta = {delta:g}, confidence "
            f"{confidence:g}", (tp, n_in, fp, n_out, delta, confidence),
            dict(k=(tp, n_in, fp, n_out), delta=delta, conf=confidence, ref=ref))


def _eps(tpr, fpr, delta, second=True, log=np.log):
    tpr, fpr = np.float64(tpr), np.float64(fpr)
    with np.errstate(all="ignore"):
        c = [log((tpr - delta) / fpr)] + ([log((1 - fpr - delta) / (1 - tpr))] if second else [])
    c = [v for v in c if np.isfinite(v)]
    return max(c + [0.0])


def _judge_audit(ctx, out):
    (tp, n_in, fp, n_out), dl, conf, ref = ctx["k"], ctx["delta"], ctx["conf"], ctx["ref"]
    if out is not None and np.ndim(out) == 0 and np.isnan(float(out)):
        return ("NaN: at k = 0 the Clopper-Pearson lower bound is 0, at k = n the upper bound is 1 (beta.ppf "
                "is undefined there); and skip a candidate whose log is undefined")
    arr, msg = as_numbers(out, "one number, the epsilon proven", ())
    if msg or np.isclose(arr, ref, rtol=1e-6, atol=1e-9):
        return msg
    if not np.isfinite(arr):
        return "infinite: use the Clopper-Pearson bounds (the FPR's upper bound is > 0 even with no false alarm)"
    if arr < 0:
        return "an audit that proves nothing returns 0: keep the largest candidate, and at least 0"

    def cp(k, n, a):
        return (beta.ppf(a, k, n - k + 1) if k > 0 else 0.0), (beta.ppf(1 - a, k + 1, n - k) if k < n else 1.0)
    a = (1 - conf) / 2
    (tl, th), (fl, fh) = cp(tp, n_in, a), cp(fp, n_out, a)
    (tl1, _), (_, fh1) = cp(tp, n_in, 2 * a), cp(fp, n_out, 2 * a)
    return first_match(arr, [
        (_eps(tl, fh, dl, second=False), "the second inequality, 1 - FPR <= e^eps (1 - TPR) + delta, proves "
                                         "an epsilon too: keep the larger of the two"),
        (_eps(tp / n_in, fp / n_out, dl), "the observed rates claim too much: use the lower Clopper-Pearson "
                                          "bound of the TPR and the upper one of the FPR"),
        (_eps(th, fl, dl), "use the *lower* bound of the TPR and the *upper* bound of the FPR (cautious sides)"),
        (_eps(tl1, fh1, dl), "a two-sided interval at this confidence leaves (1 - confidence) / 2 on each side"),
        (_eps(tl, fh, dl, log=np.log10), "use the natural logarithm: the bound is e^eps"),
    ], rtol=1e-6, atol=1e-9) or "not the largest epsilon both inequalities prove at the Clopper-Pearson bounds"


# every graded cell of solutions/ runs hidden tests as well
register(Exercise("ex11_dp_bound", "dp_bound", _case_bound, _judge_bound, [dict(epsilon=1.0), {}, dict(delta=0.05)],
                  hidden_tests=True, references=(dp_bound_tpr,)))
register(Exercise("ex11_epsilon_lower_bound", "epsilon_lower_bound", _case_audit, _judge_audit,
                  [dict(kind="first"), dict(kind="second"), dict(kind="none")], hidden_tests=True,
                  references=(epsilon_from_counts, empirical_epsilon, clopper_pearson)))
