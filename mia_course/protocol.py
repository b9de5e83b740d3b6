"""Carlini et al.'s evaluation protocol: many targets from one batched training run.

Introduced in notebooks/10_output_perturbation.ipynb.

Train N models on random halves of one pool (``shadows.train_on_random_halves``: one
batched model). Each model in turn is the target; its members are its half of the pool,
its non-members the other half, and the other N - 1 models are its shadows. A headline
number is then a mean over targets with its spread, not one lucky draw, at the cost of a
single training run.
"""
from collections.abc import Iterable

import numpy as np

from mia_course._validation import check_int
from mia_course.lira import lira_scores, logit_confidence, resolve_fixed_variance
from mia_course.attacks import true_columns
from mia_course.metrics import attack_summary, tpr_at_fpr
from mia_course.queries import own_noise, query_proba, shadow_answers
from mia_course.training.registry import ShadowModels
from mia_course.hints import ArrayLike, FixedVariance, OutputDefense

TargetResults = Iterable[tuple[ArrayLike, ArrayLike]]  # (is_member, scores) of each target


def target_phis(models: ShadowModels, X: ArrayLike, y: ArrayLike, n_targets: int,
                output_defense: OutputDefense | None = None, n_queries: int = 1) -> np.ndarray:
    """``[n_targets, n_rows]``: the logit confidences each of the first ``n_targets`` models
    gives through its API (``output_defense``; ``n_queries`` answers averaged; model ``t``
    with noise of its own, ``queries.own_noise``, the same stream it has as a shadow).

    Introduced in notebooks/10_output_perturbation.ipynb."""
    n_targets = check_int(n_targets, "n_targets", minimum=1, maximum=len(models))
    col = true_columns(models.classes_, y)
    api = (lambda m: m) if output_defense is None else output_defense
    return np.stack([logit_confidence(query_proba(own_noise(api(models.model(t)), t), X, n_queries), col)
                     for t in range(n_targets)])


def lira_each_target(models: ShadowModels, masks: np.ndarray, X: ArrayLike, y: ArrayLike, n_targets: int, *,
                     output_defense: OutputDefense | None = None, n_queries: int = 1, adaptive: bool = True,
                     fixed_variance: FixedVariance = "auto") -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(is_member, scores), ...]``, one per target: online LiRA with the other models as
    shadows. The target answers through ``output_defense``; ``adaptive`` reads the shadows
    through it too (else they answer raw, as for an attacker who ignores the defense).
    ``fixed_variance``: as in ``LiRA``; ``"auto"`` fits one global variance when there are
    fewer than 64 shadows (``len(models) - 1``), as Carlini et al. advise.

    Introduced in notebooks/10_output_perturbation.ipynb."""
    fixed_variance = resolve_fixed_variance(fixed_variance, max(len(models) - 1, 1))
    col = true_columns(models.classes_, y)
    target = target_phis(models, X, y, n_targets, output_defense, n_queries)
    phi = logit_confidence(shadow_answers(models, X, output_defense if adaptive else None, n_queries), col)
    out = []
    for t in range(len(target)):
        others = np.arange(len(models)) != t
        out.append((masks[t], lira_scores(target[t], phi[others], masks[others], online=True,
                                          fixed_variance=fixed_variance)))
    return out


def summary_over_targets(results: TargetResults, fprs: Iterable[float] = (0.01,)) -> dict[str, tuple[float, float]]:
    """``{metric: (mean, standard deviation over targets)}`` of ``attack_summary`` over the
    ``(is_member, scores)`` pairs of ``results`` (AUC, advantage, TPR at each FPR).

    Introduced in notebooks/10_output_perturbation.ipynb."""
    rows = [attack_summary(m, s, fprs=fprs) for m, s in results]
    return {k: (float(np.mean([r[k] for r in rows])), float(np.std([r[k] for r in rows], ddof=1)))
            for k in rows[0]}


def roc_band(results: TargetResults, fpr_grid: Iterable[float]) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, sd)`` over targets of the TPR at each FPR of ``fpr_grid`` (``tpr_at_fpr``, no
    interpolation): a ROC curve with its spread over targets, for plots at low FPR.

    Introduced in notebooks/04_lira_and_rmia.ipynb."""
    tprs = np.array([[tpr_at_fpr(m, s, f) for f in fpr_grid] for m, s in results])
    return tprs.mean(axis=0), tprs.std(axis=0, ddof=1)
