"""Pictures of attacks: log-log ROC curves and member vs non-member score histograms.

Introduced in notebooks/02_threshold_attacks_and_metrics.ipynb.
"""
import matplotlib.pyplot as plt
import numpy as np

from mia_course._validation import check_membership, check_vector
from mia_course.metrics import roc, roc_auc, tpr_at_fpr

# Okabe & Ito's colour-blind-safe palette (setup_notebook makes it matplotlib's colour cycle):
# C0 blue, C1 orange, C2 bluish green, C3 vermillion, C4 reddish purple, C5 sky blue, C6 yellow
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
MEMBER_COLOR, NON_MEMBER_COLOR = PALETTE[3], PALETTE[0]  # vermillion vs blue: never red vs green


def plot_roc_curves(results, *, ax=None, title="Membership inference ROC (log-log)"):
    """One log-log ROC per attack. ``results`` maps a name to ``(is_member, scores)``.

    The diagonal is random guessing; what matters is the low-FPR corner on the left.
    Introduced in notebooks/02_threshold_attacks_and_metrics.ipynb.
    """
    if not isinstance(results, dict) or not results:
        raise TypeError("results: expected a non-empty dict {name: (is_member, scores)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 5))
    floor = 1.0
    for name, pair in results.items():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"results[{name!r}]: expected a pair (is_member, scores)")
        is_member, scores = pair
        fpr, tpr, _ = roc(is_member, scores)
        n_out = int(np.sum(~np.asarray(is_member, dtype=bool)))
        floor = min(floor, 1.0 / max(n_out, 1))
        label = (f"{name}  AUC {roc_auc(is_member, scores):.2f}, "
                 f"TPR@1% {tpr_at_fpr(is_member, scores, 0.01):.1%}")
        ax.plot(np.maximum(fpr, floor / 2), np.maximum(tpr, floor / 2), label=label, lw=1.8)
    grid = np.geomspace(floor / 2, 1, 100)
    ax.plot(grid, grid, ls="--", color="grey", lw=1, label="random guess")
    ax.set(xscale="log", yscale="log", xlim=(floor / 2, 1), ylim=(floor / 2, 1.05),
           xlabel="false positive rate (non-members flagged)",
           ylabel="true positive rate (members found)", title=title)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(True, which="major", alpha=0.3)
    return ax


def plot_score_histograms(is_member, scores, *, ax=None, bins=40, title="Attack scores",
                          xlabel="score"):
    """Overlaid histograms of the scores of members (vermillion, hatched) and of non-members (blue).

    Introduced in notebooks/01_alice_and_the_ad_model.ipynb.
    """
    scores = check_vector(scores, "scores")
    is_member = check_membership(is_member, "is_member", n=len(scores))
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    edges = np.histogram_bin_edges(scores, bins=bins)
    for rows, label, color, hatch in ((is_member, "members", MEMBER_COLOR, "//"),
                                      (~is_member, "non-members", NON_MEMBER_COLOR, None)):
        density, _ = np.histogram(scores[rows], bins=edges, density=True)  # one artist each, fast;
        ax.stairs(density, edges, fill=True, alpha=0.55, label=label, color=color, hatch=hatch,
                  hatchcolor="white")  # members hatched: told apart by more than colour
    ax.set(xlabel=xlabel, ylabel="density", title=title)
    ax.legend()
    return ax


def plot_privacy_utility(x, rows, *, xlabel, ax=None, attack="RMIA", xscale="linear", title=None):
    """A defense's knob on the x axis: the attack's TPR at 1% FPR (left axis, vermillion, circles)
    and the model's test accuracy (right axis, blue, squares), from ``privacy_utility`` rows.

    Introduced in notebooks/08_regularization_and_data.ipynb."""
    if len(x) != len(rows) or not rows:
        raise ValueError(f"rows: expected one row per x value, got {len(rows)} rows for {len(x)} values")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    tpr = [r[f"{attack} TPR@1.0% FPR"] for r in rows]
    ax.plot(x, tpr, "o-", color=MEMBER_COLOR)
    ax.set(xlabel=xlabel, xscale=xscale, title=title or xlabel)
    ax.set_ylabel(f"{attack} TPR at 1% FPR", color=MEMBER_COLOR)
    twin = ax.twinx()
    twin.plot(x, [r["test accuracy"] for r in rows], "s--", color=NON_MEMBER_COLOR)
    twin.set_ylabel("test accuracy", color=NON_MEMBER_COLOR)
    twin.spines["right"].set_visible(True)
    return ax
