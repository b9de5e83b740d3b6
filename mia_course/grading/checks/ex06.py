"""The checks of solutions/ex06_who_is_exposed.ipynb: online LiRA's likelihood ratio, and
which members are exposed.

Introduced in solutions/ex06_who_is_exposed.ipynb. Like ``checks.ex01``: each check draws small
random cases, runs the package's reference (``mia_course.lira``, or lesson 06's exposure rule,
``reference_exposed_members``) and judges the learner's answer in words, never with the
expected values.
"""
import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm

from mia_course.grading.engine import Exercise, register
from mia_course.grading.kit import as_numbers, first_match, membership, plural
from mia_course.lira import lira_scores
from mia_course.metrics import threshold_at_fpr


# ---- ex06: online LiRA's likelihood ratio, and which members are exposed -------------------
def _case_online(rng, n_shadows=None, n_records=None, uneven=False, constant=False, single=False):
    k, n = n_shadows or 2 * int(rng.integers(2, 9)), n_records or int(rng.integers(5, 25))
    counts = rng.integers(2, k - 1, size=n) if uneven else np.full(n, k // 2)
    if single:  # as for a record duplicated in the pool: a single IN (or OUT) shadow
        counts[rng.choice(n, size=max(1, n // 4), replace=False)] = rng.choice([1, k - 1])
    is_in = np.zeros((k, n), dtype=bool)
    for j, c in enumerate(counts):
        is_in[rng.choice(k, size=c, replace=False), j] = True
    mu, gap, member = rng.normal(0.0, 3.0, n), rng.uniform(1.0, 5.0, n), rng.random(n) < 0.5
    phi = mu + gap * is_in + rng.uniform(0.5, 2.0, n) * rng.normal(size=(k, n))
    target = mu + gap * member + rng.normal(0.0, 1.0, n)
    rows = rng.choice(n, size=max(1, n // 4), replace=False) if constant else np.array([], dtype=int)
    phi[:, rows] = np.where(is_in[:, rows], 1.0, 0.0) + np.round(mu[rows])  # all IN agree, all OUT too
    target[rows] = np.round(mu[rows]) + rng.uniform(0.998, 1.002, len(rows))
    ref = lira_scores(target, phi, is_in, online=True, fixed_variance=False)
    what = "".join([", uneven IN/OUT counts" if uneven else "", ", some records on which the shadows agree"
                    if constant else "", ", some records with a single IN or OUT shadow" if single else ""])
    return (f"{plural(k, 'shadow')}, {plural(n, 'record')}{what}", (phi, is_in, target),
            dict(phi=phi, is_in=is_in, target=target, ref=ref))


def _gaussian(phi, sel, ddof=1):
    count = sel.sum(0)
    mu = np.where(sel, phi, 0.0).sum(0) / count
    var = np.where(sel, (phi - mu) ** 2, 0.0).sum(0) / np.maximum(count - ddof, 1)
    return mu, np.maximum(np.sqrt(var), 1e-3)


def _judge_online(ctx, out):
    phi, is_in, t, ref = ctx["phi"], ctx["is_in"], ctx["target"], ctx["ref"]
    arr, msg = as_numbers(out, "one score per record (column of phi)", ref.shape)
    if msg or np.allclose(arr, ref, rtol=1e-6, atol=1e-8):
        return msg
    if not np.all(np.isfinite(arr)):
        return ("infinite or NaN scores: floor each standard deviation at 1e-3 (it is 0 when all IN, or "
                "all OUT, shadows agree on a record, and counts as 0 for a group of one shadow), and use "
                "norm.logpdf rather than the log of norm.pdf (it underflows far from a narrow Gaussian)")
    if np.allclose(arr, 0.0):
        return ("all your scores are 0: the IN Gaussian of a record uses only the shadows with is_in True "
                "in its column, the OUT Gaussian the others")
    (mi, si), (mo, so) = _gaussian(phi, is_in, 0), _gaussian(phi, ~is_in, 0)
    with np.errstate(all="ignore"):
        return first_match(arr, [
            (-ref, "your scores are higher where the target's phi looks like an OUT model's: the score "
                   "is log N(phi; IN) - log N(phi; OUT), positive when IN explains phi better"),
            (np.exp(ref), "return the log of the likelihood ratio (a difference of norm.logpdf), "
                          "not the ratio itself"),
            (norm.logpdf(t, mi, si) - norm.logpdf(t, mo, so),
             "use the sample standard deviation of each group (ddof=1)"),
            (lira_scores(t, phi, is_in, online=True, fixed_variance=True),
             "use each record's own standard deviations (per column), not one spread for all records"),
        ], rtol=1e-6, atol=1e-8) or (f"{int(np.sum(~np.isclose(arr, ref, rtol=1e-6)))} of {len(t)} scores "
                                     "differ from the log likelihood ratio of each record's IN and OUT "
                                     "Gaussians")


def reference_exposed_members(scores: ArrayLike, is_member: ArrayLike, fpr: float) -> np.ndarray:
    """Lesson 06's exposure: for each member (in order), whether its score is above the
    threshold that flags at most ``fpr`` of the non-members (``metrics.threshold_at_fpr``).

    Introduced in solutions/ex06_who_is_exposed.ipynb."""
    scores, m = np.asarray(scores, dtype=float), np.asarray(is_member).astype(bool)
    return scores[m] > threshold_at_fpr(scores[~m], fpr)


def _case_exposed(rng, fpr=None, ties=False, as_int=False):
    n_in, n_out = (int(v) for v in rng.integers(10, 60, size=2))
    m, given, kind = membership(rng, n_in, n_out, as_int)
    scores = np.where(m, rng.normal(1.0, 1.5, len(m)), rng.normal(0.0, 1.0, len(m)))
    fpr = float(rng.choice([0.01, 0.05, 0.1, 0.2]) if fpr is None else fpr)
    if ties:  # rounded scores, and a member exactly at the threshold
        scores = np.round(scores * 2) / 2
        scores[np.flatnonzero(m)[0]] = threshold_at_fpr(scores[~m], fpr)
    else:  # a member between the interpolated quantile and the rule's (a sample score): not exposed
        linear, rule = np.quantile(scores[~m], 1 - fpr), threshold_at_fpr(scores[~m], fpr)
        if rule > linear:
            scores[np.flatnonzero(m)[0]] = (linear + rule) / 2
    kind += ", tied scores" if ties else ""
    return (f"{n_in} members, {n_out} non-members (mixed order), fpr = {fpr:g}{kind}", (scores, given, fpr),
            dict(s=scores, m=m, fpr=fpr, as_int=as_int, ref=reference_exposed_members(scores, m, fpr)))


def _judge_exposed(ctx, out):
    s, m, fpr, ref = ctx["s"], ctx["m"], ctx["fpr"], ctx["ref"]
    extra = " (is_member may hold 0/1 numbers: make it a boolean mask first)" if ctx["as_int"] else ""
    if (np.asarray(out).dtype.kind in "iu" and np.ndim(out) == 1 and len(out) == ref.sum() < len(ref)
            and np.isin(out, np.arange(len(s))).all()):
        return "return one True/False per member (a boolean mask), not the indices of the exposed ones"
    arr, msg = as_numbers(out, "one True/False per member", ref.shape)
    if msg:
        if np.shape(out) == s.shape:
            return ("return one value per member (in the order they appear in scores), not one per "
                    "record: select the members' scores first" + extra)
        return msg + extra
    if not np.isin(arr, (0, 1)).all():
        return "return booleans: True for an exposed member, False for the others"
    if np.array_equal(arr, ref):
        return None
    rest = s[~m]
    return first_match(arr, [
        (s[m] > np.quantile(s, 1 - fpr, method="higher"), "take the threshold from the non-members' scores only"),
        (s[m] >= np.quantile(rest, 1 - fpr, method="higher"), "a member exactly at the threshold is not exposed: "
                                                              "use > (strictly above)"),
        (s[m] > np.quantile(rest, fpr, method="higher"), "the threshold is the (1 - fpr) quantile of the "
                                                         "non-members' scores, not the fpr quantile"),
        (s[m] > np.quantile(rest, 1 - fpr), "use np.quantile(..., method=\"higher\") (a score of the sample, "
                                            "no interpolation): it flags at most fpr of the non-members"),
    ]) or (f"{int(np.sum(arr != ref))} of {len(ref)} members are wrongly called exposed or not: a member "
           "is exposed when its score is above the (1 - fpr) quantile of the non-members' scores" + extra)


# every graded cell of solutions/ runs hidden tests as well
register(Exercise("ex06_online_lira", "online_lira_scores", _case_online, _judge_online,
                  [{}, dict(uneven=True, n_shadows=10), dict(n_shadows=4)], hidden_tests=True,
                  references=(lira_scores,)))
register(Exercise("ex06_exposed_members", "exposed_members", _case_exposed, _judge_exposed,
                  [dict(fpr=0.05), {}, dict(ties=True)], hidden_tests=True, references=(reference_exposed_members,)))
