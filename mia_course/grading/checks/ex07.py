"""The checks of solutions/ex07_audit.ipynb: RMIA's fraction of the population beaten, and the
audit's ranking.

Introduced in solutions/ex07_audit.ipynb. Like ``checks.ex01``: small random cases, the
package's reference (``mia_course.rmia``, ``mia_course.metrics``), the answer judged in words,
never with the expected values.
"""
import numpy as np

from mia_course.grading.engine import Exercise, register
from mia_course.grading.kit import as_numbers, first_match, membership, plural
from mia_course.metrics import most_exposed
from mia_course.rmia import rmia_scores


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
    return (f"{plural(nx, 'record')}, {plural(nz, 'population record')}, gamma = {gamma:g}{what}",
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
    return first_match(arr, [
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
    m, given, kind = membership(rng, n_in, n_out, as_int)
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
    return first_match(np.asarray(flagged, dtype=float), [
        (picked >= np.quantile(rest, 1 - fpr, method="higher"), "flagged means strictly above the threshold (>)"),
        (picked > np.quantile(s, 1 - fpr, method="higher"), "take the threshold from the non-members' scores only"),
        (picked > np.quantile(rest, 1 - fpr), "use the threshold np.quantile(non-member scores, 1 - fpr, "
                                             "method=\"higher\"), which flags at most fpr of the non-members"),
    ]) or ("flagged: whether the member's score is strictly above the threshold that flags at most fpr of "
           "the non-members")


# every graded cell of solutions/ runs hidden tests as well
register(Exercise("ex07_fraction_beaten", "fraction_beaten", _case_fraction, _judge_fraction,
                  [dict(gamma=1.0), dict(gamma=2.0), dict(ties=True)], hidden_tests=True, references=(rmia_scores,)))
register(Exercise("ex07_most_exposed", "most_exposed_members", _case_ranking, _judge_ranking,
                  [{}, dict(ties=True), dict(fpr=0.1)], hidden_tests=True, references=(most_exposed,)))
