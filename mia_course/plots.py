"""Pictures of attacks: log-log ROC curves with their uncertainty, member vs non-member
score histograms, privacy-utility curves.

Introduced in notebooks/02_threshold_attacks_and_metrics.ipynb.
"""
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from mia_course._validation import check_int, check_membership, check_vector
from mia_course.audit import clopper_pearson
from mia_course.hints import ArrayLike
from mia_course.metrics import resolvable_fpr, roc_auc, tpr_at_fpr, tpr_curves

# Okabe & Ito's colour-blind-safe palette (setup_notebook makes it matplotlib's colour cycle):
# C0 blue, C1 orange, C2 bluish green, C3 vermillion, C4 reddish purple, C5 sky blue, C6 yellow
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
MEMBER_COLOR, NON_MEMBER_COLOR = PALETTE[3], PALETTE[0]  # vermillion vs blue: never red vs green


def plot_roc_curves(results: dict[str, tuple[ArrayLike, ArrayLike]], *, ax: Axes | None = None,
                    title: str = "Membership inference ROC (log-log)", min_false_positives: int = 10) -> Axes:
    """One log-log ROC per attack, with a 95% Clopper-Pearson band on its TPR. ``results``
    maps a name to ``(is_member, scores)`` (shaded: the band). Each curve starts at the lowest FPR that leaves
    ``min_false_positives`` false positives: below it the sample cannot resolve a rate.

    The diagonal is random guessing; what matters is the low-FPR corner on the left.
    Introduced in notebooks/02_threshold_attacks_and_metrics.ipynb.
    """
    if not isinstance(results, dict) or not results:
        raise TypeError("results: expected a non-empty dict {name: (is_member, scores)}")
    check_int(min_false_positives, "min_false_positives", minimum=1)
    pairs = {}
    for name, pair in results.items():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"results[{name!r}]: expected a pair (is_member, scores)")
        scores = check_vector(pair[1], "scores")
        pairs[name] = (check_membership(pair[0], "is_member", n=len(scores)), scores)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 5))
    floor = 1.0
    for name, (is_member, scores) in pairs.items():
        label = (f"{name}  AUC {roc_auc(is_member, scores):.2f}, "
                 f"TPR@1% {tpr_at_fpr(is_member, scores, 0.01):.1%}")
        grid, _ = plot_roc_cp(ax, is_member, scores, label=label, min_false_positives=min_false_positives,
                              diagonal=False)
        floor = min(floor, grid[0])
    diagonal = np.geomspace(floor, 1, 100)
    ax.plot(diagonal, diagonal, ls="--", color="grey", lw=1, label="random guess")
    ax.set(xscale="log", yscale="log", xlim=(floor, 1), ylim=(max(floor / 10, 1e-4), 1.05),
           xlabel="false positive rate (non-members flagged)", ylabel="true positive rate (members found)",
           title=title)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(True, which="major", alpha=0.3)
    return ax


def plot_score_histograms(is_member: ArrayLike, scores: ArrayLike, *, ax: Axes | None = None, bins: int = 40,
                          title: str = "Attack scores", xlabel: str = "score") -> Axes:
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


def plot_privacy_utility(x: Sequence[float], rows: Sequence[dict], *, xlabel: str, ax: Axes | None = None,
                         attack: str = "RMIA", xscale: str = "linear", title: str | None = None) -> Axes:
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


def roc_clopper_pearson(is_member: ArrayLike, scores: ArrayLike, grid: ArrayLike,
                        confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(tpr, low, high)`` at each FPR of ``grid`` for one target: the TPR (``tpr_at_fpr``'s
    rule) and a two-sided Clopper-Pearson interval over the members.
    Introduced in notebooks/02_threshold_attacks_and_metrics.ipynb."""
    is_member = np.asarray(is_member, bool)
    tpr = tpr_curves(is_member[None], np.asarray(scores, float)[None], grid)[0]
    n_in = int(is_member.sum())
    low, high = clopper_pearson(np.round(tpr * n_in), n_in, confidence)
    return tpr, low, high


def plot_roc_cp(ax: Axes, is_member: ArrayLike, scores: ArrayLike, *, label: str, color: str | None = None,
                min_false_positives: int = 10, diagonal: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Log-log ROC of one target with a 95% Clopper-Pearson band on the TPR, drawn only where
    at least ``min_false_positives`` false positives are possible (and the guessing diagonal
    unless ``diagonal=False``). Returns ``(fpr grid, tpr)``.
    Introduced in notebooks/02_threshold_attacks_and_metrics.ipynb."""
    n_out = int((~np.asarray(is_member, bool)).sum())
    grid = np.geomspace(min(resolvable_fpr(max(n_out, 1), min_false_positives), 0.5), 1, 100)
    tpr, low, high = roc_clopper_pearson(is_member, scores, grid)
    line, = ax.plot(grid, np.maximum(tpr, 1e-4), label=label, color=color, lw=1.8)
    ax.fill_between(grid, np.maximum(low, 1e-4), high, color=line.get_color(), alpha=0.2, lw=0)
    if diagonal:
        ax.plot(grid, grid, "--", color="grey", lw=1)
    ax.set(xscale="log", yscale="log", xlabel="false positive rate", ylabel="true positive rate")
    return grid, tpr


def plot_roc_band(ax: Axes, masks: ArrayLike, scores: ArrayLike, *, label: str, color: str | None = None,
                  min_false_positives: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Log-log ROC over several targets: the mean TPR and a band from the lowest to the
    highest target, drawn only where each target has at least ``min_false_positives`` false
    positives. Returns ``(fpr grid, [n_targets, len(grid)] TPRs)``.
    Introduced in notebooks/02_threshold_attacks_and_metrics.ipynb."""
    n_out = int((~np.asarray(masks, bool)).sum(1).min())
    grid = np.geomspace(resolvable_fpr(n_out, min_false_positives), 1, 100)
    curves = tpr_curves(masks, scores, grid)
    line, = ax.plot(grid, curves.mean(0), label=label, color=color)
    ax.fill_between(grid, curves.min(0), curves.max(0), color=line.get_color(), alpha=0.2, lw=0)
    ax.plot(grid, grid, "--", color="grey", lw=1)
    ax.set(xscale="log", yscale="log", xlabel="false positive rate", ylabel="true positive rate")
    return grid, curves
