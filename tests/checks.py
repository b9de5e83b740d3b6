"""Checks of attacks, metrics and the audit that a broken implementation fails.

Each ``check_*`` function raises AssertionError when the behaviour it guards is wrong;
tests/test_checks.py runs them on the package as it is, and tests/test_breakages.py runs
the same functions under deliberate breakages (monkeypatch) to show that they fail. They
use public functions only (looked up at call time, so a monkeypatched module attribute is
what they test). Imported by the tests as ``from checks import ...``.
"""
import numpy as np
from scipy.stats import binom, kendalltau
from sklearn.metrics import roc_auc_score

import mia_course.audit
import mia_course.metrics
from mia_course.data import make_ad_clicks
from mia_course.lira import LiRA
from mia_course.models import TorchMLPClassifier
from mia_course.rmia import RMIA

SMALL_MLP = TorchMLPClassifier(hidden_sizes=(64,), epochs=20, random_state=0)


def leaky_setting(n=400, random_state=0):
    """``(X, y, is_member, target)``: ``n`` users, a random half of them the members of an
    overfit MLP."""
    d = make_ad_clicks(n, random_state=random_state)
    is_member = np.random.RandomState(random_state).permutation(n) < n // 2
    target = TorchMLPClassifier(hidden_sizes=(64,), epochs=20, random_state=random_state)
    return d.X, d.y, is_member, target.fit(d.X[is_member], d.y[is_member])


# ---- LiRA ------------------------------------------------------------------------------
def check_lira_finds_members(setting, n_shadows=8):
    """Online LiRA on an overfit target ranks members above non-members (AUC well above
    0.5): a LiRA that confuses IN and OUT ranks them below."""
    X, y, is_member, target = setting
    attack = LiRA(shadow_model=SMALL_MLP, n_shadows=n_shadows, random_state=0).fit(X, y)
    auc = roc_auc_score(is_member, attack.score_samples(target, X, y))
    assert auc > 0.65, f"online LiRA AUC {auc:.3f} on an overfit target"


# ---- RMIA ------------------------------------------------------------------------------
def rmia_reference_ratio(attack, model, X, y):
    """Offline RMIA's likelihood ratio, written out from the paper:
    ``p(x | model) / p(x)`` with ``p(x) = ((1 + a) p_out(x) + (1 - a)) / 2`` and ``p_out``
    the reference models' mean probability of the true label."""
    a = getattr(attack, "a_", attack.offline_a)  # fitted a, where the attack fits it
    classes = list(attack.references_.classes_)
    col = np.array([classes.index(t) for t in y])
    P_ref = attack.references_.predict_proba(X)  # [models, rows, classes]
    p_out = np.array([P_ref[:, i, c].mean() for i, c in enumerate(col)])
    p_x = ((1 + a) * p_out + (1 - a)) / 2
    P = model.predict_proba(X)
    model_classes = list(model.classes_)
    return np.array([P[i, model_classes.index(t)] for i, t in enumerate(y)]) / p_x


def check_rmia_offline(setting, offline_a=0.3):
    """For a fixed population, offline RMIA's scores rank records exactly as the paper's
    ratio ``p(x|model) / p(x)`` (with the ``a`` correction) does."""
    X, y, is_member, target = setting
    population = make_ad_clicks(600, random_state=123)
    attack = RMIA(reference_model=SMALL_MLP, n_references=2, offline_a=offline_a,
                  random_state=0).fit(population.X, population.y)
    scores = attack.score_samples(target, X, y)
    ref = rmia_reference_ratio(attack, target, X, y)
    tau = kendalltau(scores, ref).statistic
    assert tau > 0.999, f"RMIA's ranking differs from p(x|model) / p(x) (Kendall tau {tau:.4f})"


# ---- the audit -------------------------------------------------------------------------
def check_audit_is_a_lower_bound(n=100, repetitions=400, confidence=0.95, random_state=0):
    """``empirical_epsilon`` at 95% claims epsilon > 0 for an attack that knows nothing
    (scores independent of membership: the true epsilon is 0) in at most 5% of the runs,
    up to simulation error (one-sided binomial test at p = 0.001)."""
    rng = np.random.default_rng(random_state)
    is_member = np.r_[np.ones(n, bool), np.zeros(n, bool)]
    claims = sum(mia_course.audit.empirical_epsilon(is_member, rng.normal(size=2 * n), 1e-5,
                                                    confidence=confidence) > 0
                 for _ in range(repetitions))
    p = binom.sf(claims - 1, repetitions, 1 - confidence)
    assert p >= 1e-3, f"false claims in {claims} of {repetitions} runs at {confidence:.0%} confidence"


# ---- TPR at a fixed FPR ----------------------------------------------------------------
def slow_tpr_at_fpr(is_member, scores, fpr):
    """The largest TPR of any threshold "score >= t" whose FPR is at most ``fpr``: every
    threshold tried, one at a time (t above every score flags nobody: TPR = FPR = 0)."""
    is_member = np.asarray(is_member, bool)
    scores = np.asarray(scores, float)
    best = 0.0
    for t in np.unique(scores):
        flagged = scores >= t
        if flagged[~is_member].mean() <= fpr:
            best = max(best, flagged[is_member].mean())
    return best


def tpr_cases(seed):
    """Random cases with ties and FPRs on and between the ROC's steps."""
    rng = np.random.default_rng(seed)
    n_in, n_out = rng.integers(5, 60, size=2)
    is_member = rng.permutation(np.r_[np.ones(n_in, bool), np.zeros(n_out, bool)])
    scores = rng.normal(size=n_in + n_out) + is_member
    if seed % 2:
        scores = np.round(scores, 1)  # ties
    fprs = [0.0, 1.0, 1 / n_out, 2 / n_out, 1.5 / n_out, 0.01, 0.1, float(rng.uniform())]
    return is_member, scores, fprs


def check_tpr_at_fpr(n_cases=60):
    """``metrics.tpr_at_fpr`` equals the slow reference on random cases (no interpolation)."""
    for seed in range(n_cases):
        is_member, scores, fprs = tpr_cases(seed)
        for f in fprs:
            got = mia_course.metrics.tpr_at_fpr(is_member, scores, f)
            want = slow_tpr_at_fpr(is_member, scores, f)
            assert got == want, f"case {seed}, fpr {f:.4g}: tpr_at_fpr {got}, reference {want}"
