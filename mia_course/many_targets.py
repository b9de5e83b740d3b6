"""Many targets at once: headline numbers as a mean over targets, with their spread.

Introduced in notebooks/02_threshold_attacks_and_metrics.ipynb.

One trained target is one draw: its AUC and its TPR at low FPR change with the seed. Carlini
et al. (2022) evaluate by training many models on random halves of one pool of records,
each in turn the target (the others can be its shadows), and report the spread. Here all
targets train together as one batched model (``mia_course.shadows.train_shadow_models``), so
eight targets cost about as much as one. Records outside the pool (``n_held_out``) are in no
target's training set: non-members cost no training, and 10,000 of them let a rate at 0.1%
FPR rest on at least 10 false positives.
"""
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm
from scipy.stats import t as t_dist
from sklearn.utils import check_random_state

from mia_course._validation import check_int, check_labels, check_matrix, check_real
from mia_course.experiments import draw_users
from mia_course.hints import ArrayLike, Estimator, ProbabilisticModel, RandomStateLike
from mia_course.metrics import attack_summary, resolvable_fpr
from mia_course.models import TorchMLPClassifier
from mia_course.shadows import random_halves
from mia_course.training.registry import train_shadow_models


@dataclass
class TargetFamily:
    """``n_targets`` trained targets over the records ``X, y``; ``masks[k]`` marks target
    ``k``'s members (its training set); every other row is one of its non-members."""
    X: np.ndarray
    y: np.ndarray
    masks: np.ndarray
    models: object  # ShadowModels: model(k), predict_proba -> [n_targets, n_rows, n_classes]

    def __len__(self) -> int:
        return len(self.masks)

    def model(self, k: int) -> ProbabilisticModel:
        """Target ``k`` (anything with ``predict_proba``)."""
        return self.models.model(k)

    def n_non_members(self) -> int:
        """The smallest number of non-members any target is evaluated on."""
        return int((~self.masks).sum(1).min())


def train_targets_on(estimator: Estimator, X: ArrayLike, y: ArrayLike, n_targets: int = 8, *,
                     pool: ArrayLike | None = None, random_state: RandomStateLike = 0) -> TargetFamily:
    """Train ``n_targets`` clones of ``estimator`` on random halves of the ``pool`` rows of
    ``X, y`` (default: all rows) in complementary pairs, so each pool record is a member of
    half the targets (Carlini et al.'s design); rows outside the pool are non-members of all.

    Introduced in notebooks/02_threshold_attacks_and_metrics.ipynb."""
    X = check_matrix(X, "X")
    y = check_labels(y, "y", n=X.shape[0])
    n_targets = check_int(n_targets, "n_targets", minimum=2)
    pool = np.ones(len(y), bool) if pool is None else np.asarray(pool)
    if pool.dtype != bool or pool.shape != (len(y),):
        raise ValueError(f"pool: expected a boolean mask of length {len(y)}")
    if pool.sum() < 2:
        raise ValueError("pool: need at least 2 pool rows to split in halves")
    rng = check_random_state(random_state)
    masks = np.zeros((n_targets, len(y)), bool)
    masks[:, pool] = random_halves(n_targets, int(pool.sum()), rng)
    models = train_shadow_models(estimator, X, y, masks, random_state=rng)
    # the rows each target trained on: early stopping's validation rows count as non-members
    return TargetFamily(X=X, y=y, masks=np.asarray(models.masks_, bool), models=models)


def train_targets(n_targets: int = 8, n_members: int = 1000, n_held_out: int = 10_000, *,
                  model: Estimator | None = None, segments: Sequence[int] | None = None,
                  random_state: RandomStateLike = 0) -> TargetFamily:
    """``n_targets`` ad-click targets (default model: the course's MLP), each trained on
    ``n_members`` users: a pool of ``2 * n_members`` users split in random halves, plus
    ``n_held_out`` users in no training set. Each target has ``n_members + n_held_out``
    non-members. ``segments``: draw users only from these interest segments.
    Introduced in notebooks/02_threshold_attacks_and_metrics.ipynb."""
    n_members = check_int(n_members, "n_members", minimum=1)
    n_held_out = check_int(n_held_out, "n_held_out", minimum=0)
    n_targets = check_int(n_targets, "n_targets", minimum=2)
    rng = check_random_state(random_state)
    data = draw_users(2 * n_members + n_held_out, segments, rng)
    pool = np.arange(len(data)) < 2 * n_members
    estimator = model if model is not None else TorchMLPClassifier()
    return train_targets_on(estimator, data.X, data.y, n_targets, pool=pool, random_state=rng)


def evaluate_targets(family: TargetFamily, score_fn: Callable[[ProbabilisticModel, int], ArrayLike], *,
                     fprs: Sequence[float] = (0.001, 0.01),
                     min_false_positives: int = 10) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Run an attack on every target of ``family``: ``score_fn(model, k)`` returns scores
    for all rows of ``family.X``. Returns ``(table, scores)``: ``table`` maps each column of
    ``metrics.attack_summary`` to an array with one value per target, ``scores`` is
    ``[n_targets, n_rows]``. A TPR is only computed at an FPR that leaves at least
    ``min_false_positives`` false positives (ValueError otherwise).
    Introduced in notebooks/02_threshold_attacks_and_metrics.ipynb."""
    if not callable(score_fn):
        raise TypeError(f"score_fn: expected a function (model, k) -> scores, got {type(score_fn).__name__}")
    lowest = resolvable_fpr(family.n_non_members(), min_false_positives)
    for f in fprs:
        if check_real(f, "fprs", minimum=0.0, maximum=1.0) < lowest - 1e-12:
            raise ValueError(f"fprs: {f:g} leaves fewer than {min_false_positives} false positives "
                             f"among {family.n_non_members()} non-members (lowest: {lowest:.2g})")
    scores = np.stack([np.asarray(score_fn(family.model(k), k), float) for k in range(len(family))])
    if scores.shape[1] != len(family.y):
        raise ValueError(f"score_fn: returned {scores.shape[1]} scores for {len(family.y)} rows")
    rows = [attack_summary(family.masks[k], scores[k], fprs) for k in range(len(family))]
    return {key: np.array([r[key] for r in rows]) for key in rows[0]}, scores


def mean_sd(values: ArrayLike) -> tuple[float, float]:
    """``(mean, standard deviation over targets)`` of one column of ``evaluate_targets``.

    Introduced in notebooks/02_threshold_attacks_and_metrics.ipynb."""
    values = np.asarray(values, float)
    if values.ndim != 1 or len(values) < 2:
        raise ValueError("values: expected one value per target, at least 2")
    return float(values.mean()), float(values.std(ddof=1))


def format_table(tables: dict[str, dict[str, ArrayLike]],
                 columns: Sequence[str] = ("AUC", "TPR@0.1% FPR", "TPR@1.0% FPR")) -> str:
    """Text table of ``{attack name: table}``: each cell 'mean ± sd' over the targets.

    Introduced in notebooks/02_threshold_attacks_and_metrics.ipynb."""
    width = max(len(n) for n in tables) + 2
    lines = [f"{'(mean ± sd over targets)':{width}s}" + "".join(f"{c:>18s}" for c in columns)]
    for name, table in tables.items():
        cells = []
        for c in columns:
            m, s = mean_sd(table[c])
            cells.append(f"{m:.3f} ± {s:.3f}" if c == "AUC" else f"{m:6.1%} ± {s:.1%}")
        lines.append(f"{name:{width}s}" + "".join(f"{c:>18s}" for c in cells))
    return "\n".join(lines)


def precision(tpr: ArrayLike, fpr: ArrayLike, base_rate: float) -> np.ndarray:
    """Share of flagged people who are members when a fraction ``base_rate`` of the people
    queried are members: ``tpr * b / (tpr * b + fpr * (1 - b))`` (Bayes' rule).

    Introduced in notebooks/02_threshold_attacks_and_metrics.ipynb."""
    b = check_real(base_rate, "base_rate", minimum=0.0, maximum=1.0, strict_min=True)
    tpr, fpr = np.asarray(tpr, float), np.asarray(fpr, float)
    if np.any((tpr < 0) | (tpr > 1)) or np.any((fpr < 0) | (fpr > 1)):
        raise ValueError("tpr, fpr: rates must lie in [0, 1]")
    flagged = tpr * b + fpr * (1 - b)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(flagged > 0, tpr * b / np.where(flagged > 0, flagged, 1), np.nan)


def out_z_scores(target: ArrayLike, phi: ArrayLike, is_in: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """``(z, count)``: how many standard deviations of the OUT shadows' ``phi``
    (``[n_shadows, n_rows]``; ``is_in`` marks the shadows that trained on the record) the
    target's ``target`` lies above their mean, and how many OUT shadows each record has.
    ``z`` ranks records exactly like offline LiRA's ``log P(OUT <= target)`` with per-record
    variance, without saturating at 0 for very confident targets.
    Introduced in notebooks/06_who_is_exposed.ipynb."""
    target = np.asarray(target, float)
    phi, is_in = np.asarray(phi, float), np.asarray(is_in, bool)
    if phi.shape != is_in.shape or phi.ndim != 2 or phi.shape[1] != len(target):
        raise ValueError("phi, is_in: expected matching [n_shadows, n_rows] arrays")
    out = ~is_in
    count = out.sum(0)
    if (count < 2).any():
        raise ValueError("is_in: every record needs at least 2 OUT shadows")
    mu = np.where(out, phi, 0).sum(0) / count
    sd = np.maximum(np.sqrt(np.where(out, (phi - mu) ** 2, 0).sum(0) / (count - 1)), 1e-3)
    return (target - mu) / sd, count


def out_p_values(target: ArrayLike, phi: ArrayLike, is_in: ArrayLike, *, student: bool = True) -> np.ndarray:
    """For each record, how likely an OUT shadow is to be at least as confident as the
    target, from the OUT shadows' ``phi`` (see ``out_z_scores``). Flagging records with
    p-value < alpha should flag about alpha of the non-members, without knowing who they
    are (offline LiRA read as a test). With ``c`` OUT shadows the mean and spread are
    estimates, so the default uses the predictive Student-t (``c - 1`` degrees of freedom,
    scale ``sd * sqrt(1 + 1/c)``); ``student=False`` plugs the estimates into a Gaussian,
    which flags too many at small alpha when ``c`` is small.
    Introduced in notebooks/06_who_is_exposed.ipynb."""
    z, count = out_z_scores(target, phi, is_in)
    if not student:
        return norm.sf(z)
    return t_dist.sf(z / np.sqrt(1 + 1 / count), count - 1)
