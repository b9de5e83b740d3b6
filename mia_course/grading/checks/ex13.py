"""The exercise checks of lesson 13: where a record lands, and what a control change retrains.

Introduced in solutions/ex13_playground.ipynb. Registered like those of
``mia_course.grading.checks.ex01``; the references are the playground's own
``where_record_lands`` and ``training_key``.
"""
import numpy as np

from mia_course.grading.engine import Exercise, register
from mia_course.grading.kit import as_numbers
from mia_course.playground import OUTPUT_KEYS, training_key, where_record_lands
from mia_course.widgets import CONTROLS, OFF


# ---- ex13 question 1: where does a record land? -------------------------------------------
def _case_lands(rng, n=None, fpr=None, ties=False, at_threshold=False, as_int=False):
    n = n or int(rng.integers(20, 60))
    fpr = fpr if fpr is not None else float(rng.choice([0.05, 0.1, 0.2]))
    scores = rng.normal(size=n)
    scores = np.round(scores, 1) if ties else scores
    members = rng.random(n) < 0.5
    members[:2], members[-2:] = True, False  # both groups are there
    index = int(rng.choice(np.flatnonzero(members)))
    outside = scores[~members]
    if at_threshold:  # exactly on the flagging threshold: "strictly above" matters
        scores[index] = np.quantile(outside, 1 - fpr, method="higher")
    elif ties:  # exactly a non-member's score: "strictly below" matters
        scores[index] = outside[int(rng.integers(len(outside)))]
    is_member = members.astype(int) if as_int else members
    ref = where_record_lands(members, scores, index, fpr)
    ctx = dict(ref=ref, scores=scores, members=members, index=index, fpr=fpr)
    about = (f"{n} records ({int(members.sum())} members), record {index}, fpr {fpr:g}"
             f"{', tied scores' if ties or at_threshold else ''}")
    return about, (is_member, scores.copy(), index, fpr), ctx


def _judge_lands(ctx, out):
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        return "return a pair: (share, flagged)"
    (share, flagged), (ref_share, ref_flagged) = out, ctx["ref"]
    arr, msg = as_numbers(share, "share as one number", ())
    if msg:
        return "share: " + msg
    share = float(arr)
    if not isinstance(flagged, (bool, np.bool_)):
        return f"flagged: return True or False, not {type(flagged).__name__}"
    s, m, i, fpr = ctx["scores"], ctx["members"], ctx["index"], ctx["fpr"]
    outside = s[~m]
    if not np.isclose(share, ref_share):
        for wrong, words in [
            (np.mean(s < s[i]), "count non-members only: the share of non-members whose score is below"),
            (np.mean(outside <= s[i]), "strictly below: a non-member with exactly the record's score does not count"),
            (100 * ref_share, "share: a fraction between 0 and 1, not a percentage"),
            (np.mean(outside > s[i]), "the share of non-members *below* the record (a higher score is more member-like)"),
        ]:
            if np.isclose(share, wrong):
                return words
        return "share: not the share of non-members whose score is strictly below the record's"
    if bool(flagged) == ref_flagged:
        return None
    if flagged and s[i] == np.quantile(outside, 1 - fpr, method="higher"):
        return "flagged: the score must be strictly above the threshold (a tie is not flagged)"
    for threshold, words in [
        (np.quantile(outside, 1 - fpr), "use np.quantile(non_member_scores, 1 - fpr, method=\"higher\")"),
        (np.quantile(s, 1 - fpr, method="higher"), "the threshold comes from the non-members' scores only"),
        (np.quantile(outside, fpr, method="higher"), "the threshold is the 1 - fpr quantile (it flags at most fpr of the non-members)"),
    ]:
        if bool(s[i] > threshold) == bool(flagged):
            return words
    return "flagged: the score must be strictly above the threshold (a tie is not flagged)"


# ---- ex13 question 2: does a control change need new models? ------------------------------
def _random_settings(rng):
    settings = {}
    for name, (_, options) in CONTROLS.items():
        if name == "attacks":
            chosen = [a for a in options if rng.random() < 0.6] or [options[0]]
            settings[name] = tuple(chosen)
        else:
            value = options[int(rng.integers(len(options)))]
            settings[name] = None if value == OFF else value
    return settings


def _case_retrain(rng, key=None):
    key = key or str(rng.choice(list(CONTROLS)))
    old = _random_settings(rng)
    new = dict(old)
    while new[key] == old[key]:
        new[key] = _random_settings(rng)[key]
    ref = training_key(old) != training_key(new)
    return (f"changing {key} from {old[key]!r} to {new[key]!r}", (dict(old), dict(new)),
            dict(ref=ref, key=key))


def _judge_retrain(ctx, out):
    if not isinstance(out, (bool, np.bool_)):
        return f"return True or False, not {type(out).__name__}"
    if bool(out) == ctx["ref"]:
        return None
    key = ctx["key"]
    if key in OUTPUT_KEYS:
        return f"{key} changes what the API answers, not the models: reuse them"
    if key == "attacks":
        return "choosing which attacks to draw needs no new models"
    if key == "n_shadows":
        return "the shadows are trained models too: another number of shadows needs training"
    return f"{key} changes how (or on what) the models are trained: they must be trained again"


# every graded cell of solutions/ runs hidden tests as well
register(Exercise("ex13_where_record_lands", "where_record_lands", _case_lands, _judge_lands,
                  [{}, dict(ties=True), dict(at_threshold=True)], hidden_tests=True,
                  references=(where_record_lands,)))
register(Exercise("ex13_needs_retraining", "needs_retraining", _case_retrain, _judge_retrain,
                  [dict(key="output"), dict(key="epochs"), dict(key="n_shadows")], hidden_tests=True,
                  references=(training_key,)))
