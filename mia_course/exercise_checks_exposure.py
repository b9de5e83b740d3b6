"""The exercise checks of lessons 06 and 07: online LiRA, who is exposed, RMIA, the audit report.

Introduced in solutions/ex06_who_is_exposed.ipynb (and used by solutions/ex07_audit.ipynb).
Registered like those of ``mia_course.exercise_checks``: each check draws small random cases,
runs the package's reference (``mia_course.lira``, ``mia_course.rmia``, ``mia_course.metrics``,
or lesson 06's exposure rule, ``reference_exposed_members``) and judges the learner's answer
in words, never with the expected values.
"""
import numpy as np
from scipy.stats import norm

from mia_course.exercise_checks import _plural
from mia_course.exercise_checks_strong import _first_match
from mia_course.grading import Exercise, as_numbers, register
from mia_course.lira import lira_scores
from mia_course.metrics import most_exposed, threshold_at_fpr
from mia_course.rmia import rmia_scores


def _membership(rng, n_in, n_out, as_int=False):
    m = rng.permutation(np.arange(n_in + n_out) < n_in)
    return m, (m.astype(int) if as_int else m), (", is_member as 0/1 numbers" if as_int else "")


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
    return (f"{_plural(k, 'shadow')}, {_plural(n, 'record')}{what}", (phi, is_in, target),
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
        return _first_match(arr, [
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


def reference_exposed_members(scores, is_member, fpr):
    """Lesson 06's exposure: for each member (in order), whether its score is above the
    threshold that flags at most ``fpr`` of the non-members (``metrics.threshold_at_fpr``).

    Introduced in solutions/ex06_who_is_exposed.ipynb."""
    scores, m = np.asarray(scores, dtype=float), np.asarray(is_member).astype(bool)
    return scores[m] > threshold_at_fpr(scores[~m], fpr)


def _case_exposed(rng, fpr=None, ties=False, as_int=False):
    n_in, n_out = (int(v) for v in rng.integers(10, 60, size=2))
    m, given, kind = _membership(rng, n_in, n_out, as_int)
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
    return _first_match(arr, [
        (s[m] > np.quantile(s, 1 - fpr, method="higher"), "take the threshold from the non-members' scores only"),
        (s[m] >= np.quantile(rest, 1 - fpr, method="higher"), "a member exactly at the threshold is not exposed: "
                                                              "use > (strictly above)"),
        (s[m] > np.quantile(rest, fpr, method="higher"), "the threshold is the (1 - fpr) quantile of the "
                                                         "non-members' scores, not the fpr quantile"),
        (s[m] > np.quantile(rest, 1 - fpr), "use np.quantile(..., method=\"higher\") (a score of the sample, "
                                            "no interpolation): it flags at most fpr of the non-members"),
    ]) or (f"{int(np.sum(arr != ref))} of {len(ref)} members are wrongly called exposed or not: a member "
           "is exposed when its score is above the (1 - fpr) quantile of the non-members' scores" + extra)


# ---- ex07: RMIA's fraction of the population beaten, and the audit's ranking --------------
def _case_fraction(rng, gamma=None, ties=False, n_population=None):
    nx, nz = int(rng.integers(5, 20)), n_population or int(rng.integers(10, 40))
    gamma = float(rng.choice([1.0, 2.0]) if gamma is None else gamma)
    if ties:  # powers of two: ratio_x / ratio_z equals gamma exactly for some pairs
        grid = 2.0 ** np.arange(-3, 4)
        z, x = rng.choice(grid, nz), rng.choice(grid, nx)
        x[0] = z[0] * gamma
    else:
        z, x = rng.lognormal(0.0, 1.0, nz), rng.lognormal(0.3, 1.0, nx)
    ref = np.floor(rmia_scores(x, z, gamma) * nz + 1e-9) / nz  # without the package's tie-break
    what = ", exact ties" if ties else ""
    return (f"{_plural(nx, 'record')}, {_plural(nz, 'population record')}, gamma = {gamma:g}{what}",
            (x, z, gamma), dict(x=x, z=z, gamma=gamma, ref=ref))


def _judge_fraction(ctx, out):
    x, z, gamma, ref = ctx["x"], ctx["z"], ctx["gamma"], ctx["ref"]
    arr, msg = as_numbers(out, "one fraction per record (entry of ratio_x)", ref.shape)
    if msg:
        if np.shape(out) == (len(x), len(z)):
            return "you returned every comparison: average over the population (axis 1), one fraction per record"
        return msg
    q = x[:, None] / z[None, :]
    if np.allclose(arr, ref, atol=1e-12) or np.allclose(arr, np.mean(q > gamma, axis=1), atol=1e-12):
        return None
    return _first_match(arr, [
        (np.mean(q >= gamma, axis=1), "a population record tied exactly at the factor gamma is not beaten: "
                                      "use > (strictly greater)"),
        (np.mean(1 / q > gamma, axis=1), "you counted the population records that beat x: count those "
                                         "that x beats, ratio_x / ratio_z > gamma"),
        (np.mean(q > 1 / gamma, axis=1), "beating z by a factor gamma means ratio_x / ratio_z > gamma "
                                         "(divide by gamma, don't multiply)"),
        (np.mean(q > 1, axis=1) if gamma != 1 else np.nan, "compare with the factor gamma, not with 1"),
        (ref * len(z), "these look like counts: divide by the number of population records"),
        (rmia_scores(x, z, gamma), "return exactly the fraction beaten, a multiple of 1/len(ratio_z), "
                                   "without the package's tie-break"),
    ], atol=1e-12) or (f"{int(np.sum(~np.isclose(arr, ref)))} of {len(x)} fractions differ from the share "
                       "of population ratios that each record's ratio beats by the factor gamma")


def _case_ranking(rng, top=None, fpr=None, ties=False, as_int=False):
    n_in, n_out = (int(v) for v in rng.integers(8, 30, size=2))
    m, given, kind = _membership(rng, n_in, n_out, as_int)
    scores = rng.normal(0.0, 1.0, len(m)) + m
    top = int((n_in if ties else rng.integers(3, 8)) if top is None else top)
    fpr = float(rng.choice([0.05, 0.1, 0.2]) if fpr is None else fpr)
    if ties:  # rounded; two members tied, one exactly at the threshold
        members, scores = np.flatnonzero(m), np.round(scores * 2) / 2
        scores[members[1]] = scores[members[0]]
        scores[members[-1]] = np.quantile(scores[~m], 1 - fpr, method="higher")
    kind += ", tied scores" if ties else ""
    return (f"{n_in} members, {n_out} non-members (mixed order), top = {top}, fpr = {fpr:g}{kind}",
            (given, scores, top, fpr), dict(m=m, s=scores, top=top, fpr=fpr,
                                            ref=most_exposed(m, scores, top=top, fpr=fpr)))


def _judge_ranking(ctx, out):
    m, s, top, fpr, ref = ctx["m"], ctx["s"], ctx["top"], ctx["fpr"], ctx["ref"]
    members = np.flatnonzero(m)
    if not isinstance(out, (list, tuple)) or not all(np.ndim(r) == 1 and len(r) == 3 for r in out):
        return "return a list of rows (index, score, flagged), one per member in the ranking"
    if len(out) != len(ref):
        if len(ref) < top:
            return "there are fewer members than top: return every member once, and no non-member"
        return f"returned {len(out)} rows, expected the top {top} members"
    index, score, flagged = ([r[i] for r in out] for i in range(3))
    index = [int(i) for i in index]
    if index != [i for i, _, _ in ref]:
        if any(not (0 <= i < len(m)) or not m[i] for i in index):
            if all(0 <= i < len(members) for i in index) and [members[i] for i in index] == [i for i, _, _ in ref]:
                return "index: the record's position in scores and is_member, not its rank among the members"
            return "rank the members only: a row holds the index of a non-member"
        if index == [int(i) for i in members[np.argsort(s[members], kind="stable")][:top]]:
            return "rank from the highest score down (the most exposed first)"
        if sorted(s[index]) == sorted(s[[i for i, _, _ in ref]]):
            return "ties: among equal scores, the member with the lower index comes first (a stable sort)"
        return f"these are not the {top} highest-scoring members, highest first"
    if not np.allclose(np.asarray(score, dtype=float), s[index]):
        return "the second value of each row is that member's score, scores[index]"
    flagged = [bool(f) for f in flagged]
    if flagged == [f for _, _, f in ref]:
        return None
    rest, picked = s[~m], s[index]
    return _first_match(np.asarray(flagged, dtype=float), [
        (picked >= np.quantile(rest, 1 - fpr, method="higher"), "flagged means strictly above the threshold (>)"),
        (picked > np.quantile(s, 1 - fpr, method="higher"), "take the threshold from the non-members' scores only"),
        (picked > np.quantile(rest, 1 - fpr), "use the threshold np.quantile(non-member scores, 1 - fpr, "
                                             "method=\"higher\"), which flags at most fpr of the non-members"),
    ]) or ("flagged: whether the member's score is strictly above the threshold that flags at most fpr of "
           "the non-members")


for _name, _function, _case, _judge, _defaults in [
    ("ex06_online_lira", "online_lira_scores", _case_online, _judge_online,
     [{}, dict(uneven=True, n_shadows=10), dict(n_shadows=4)]),
    ("ex06_exposed_members", "exposed_members", _case_exposed, _judge_exposed,
     [dict(fpr=0.05), {}, dict(ties=True)]),
    ("ex07_fraction_beaten", "fraction_beaten", _case_fraction, _judge_fraction,
     [dict(gamma=1.0), dict(gamma=2.0), dict(ties=True)]),
    ("ex07_most_exposed", "most_exposed_members", _case_ranking, _judge_ranking,
     [{}, dict(ties=True), dict(fpr=0.1)]),
]:  # every graded cell of solutions/ runs hidden tests as well
    register(Exercise(_name, _function, _case, _judge, _defaults, hidden_tests=True))
