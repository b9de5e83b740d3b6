"""Canaries: records built to be caught, and the audits of DP-SGD that use them.

Introduced in notebooks/12_auditing_with_canaries.ipynb.

A natural record moves a DP model very little, so an audit built on natural records proves a
small epsilon. A **canary** is a record made to be as visible as possible: here, a user who
visited only a site that nobody else visits (a column of its own, visited ``strength`` times
as hard as a real visit). The first-layer weights of that site move only through the canary
and through the DP noise, so every step that samples the canary pushes them by a clipped step
that nothing else blurs. Each canary is inserted with probability 1/2, independently, in each
training run; the score says how much the canary's own weights lowered its loss, and the audit
turns correct in/out guesses into a lower bound on epsilon (``mia_course.audit``).

Threat model: white-box. The auditor sees the final weights and the initial ones (the
trainer's seed); DP promises the same bound for anything computed from the output, so the
audit is valid. ``BrokenDPMLP`` is a deliberately wrong DP-SGD for the lesson only.
``audit_dp_sgd`` runs either kind: these input-space canaries, or (its default) the Dirac
canaries of ``mia_course.gradient_canaries``, whose auditor also chooses each canary's gradient
and sees every noisy update (the adversary DP-SGD's proof is written for).
"""
from typing import Any

import numpy as np
import torch
from sklearn.utils import check_random_state

from mia_course._validation import check_int, check_labels, check_matrix, check_real
from mia_course.accounting import exact_epsilon
from mia_course.broken_dp import broken_trainer
from mia_course.audit import one_run_epsilon
from mia_course.defenses.dp_models import DPMLPClassifier
from mia_course.training.dp_stacked import BatchedDPMLP
from mia_course.nets import seed_from
from mia_course.training.mlp import BatchedMLP
from mia_course.training.registry import model_seeds, ShadowModels, check_masks, train_shadow_models
from mia_course.training.stacked import initial_stacked_params, stacked_forward
from mia_course.hints import ArrayLike, Estimator, RandomStateLike


def add_canaries(X: ArrayLike, y: ArrayLike, n_canaries: int, *, strength: float = 10.0,
                 random_state: RandomStateLike = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(X_all, y_all, canary_rows, canary_columns)``: ``X`` with ``n_canaries`` new columns
    (canary sites that no real user visits), then ``n_canaries`` canary rows, each visiting
    only its own site (value ``strength``), each with a random label drawn from ``y``'s classes.

    Introduced in notebooks/12_auditing_with_canaries.ipynb."""
    X = check_matrix(X, "X")
    y = check_labels(y, "y", n=X.shape[0])
    n_canaries = check_int(n_canaries, "n_canaries", minimum=1)
    strength = check_real(strength, "strength", minimum=0.0, strict_min=True)
    rng = check_random_state(random_state)
    n, f = X.shape
    X_all = np.zeros((n + n_canaries, f + n_canaries), dtype=np.float32)
    X_all[:n, :f] = X
    X_all[n:, f:] = strength * np.eye(n_canaries, dtype=np.float32)
    y_all = np.concatenate([y, rng.choice(np.unique(y), size=n_canaries)])
    return X_all, y_all, np.arange(n, n + n_canaries), np.arange(f, f + n_canaries)


def canary_masks(n_models: int, n_real: int, n_canaries: int, *,
                 random_state: RandomStateLike = None) -> tuple[np.ndarray, np.ndarray]:
    """``(masks, is_in)``: every real row trains every model; each canary is in each model
    independently with probability 1/2 (``is_in``: ``[n_models, n_canaries]``).

    Introduced in notebooks/12_auditing_with_canaries.ipynb."""
    n_models = check_int(n_models, "n_models", minimum=1)
    n_real = check_int(n_real, "n_real", minimum=1)
    n_canaries = check_int(n_canaries, "n_canaries", minimum=1)
    is_in = check_random_state(random_state).random_sample((n_models, n_canaries)) < 0.5
    masks = np.concatenate([np.ones((n_models, n_real), dtype=bool), is_in], axis=1)
    return masks, is_in


def train_with_canaries(estimator: Estimator, X_all: ArrayLike, y_all: ArrayLike, masks: ArrayLike, *,
                        broken: bool | str = False, random_state: RandomStateLike = None) -> ShadowModels:
    """The models of ``train_shadow_models(estimator, X_all, y_all, masks)`` (batched); with
    ``broken`` a ``DPMLPClassifier`` is trained by one of the deliberately broken trainers of
    ``mia_course.broken_dp`` instead (True: ``BrokenDPMLP``; or a name of ``broken_dp.BROKEN``).

    Introduced in notebooks/12_auditing_with_canaries.ipynb."""
    bug = broken_trainer(broken)
    if bug is None:
        return train_shadow_models(estimator, X_all, y_all, masks, random_state=random_state, n_threads=1)
    if not isinstance(estimator, DPMLPClassifier):
        raise TypeError(f"estimator: broken=True needs a DPMLPClassifier, got {type(estimator).__name__}")
    X_all, y_all = check_matrix(X_all, "X_all"), check_labels(y_all, "y_all", n=len(X_all))
    masks = check_masks(masks, len(y_all))
    seeds = model_seeds(random_state, len(masks))
    return bug(estimator, seeds, n_threads=1).fit(X_all, y_all, masks)


def canary_scores(models: BatchedMLP, X_all: ArrayLike, y_all: ArrayLike, canary_rows: ArrayLike,
                  canary_columns: ArrayLike) -> np.ndarray:
    """White-box scores ``[n_models, n_canaries]``: the loss each canary would have if the
    first-layer weights of its own site had stayed at their initial values, minus its loss in
    the trained model. Members pushed those weights towards their label: high scores.

    Introduced in notebooks/12_auditing_with_canaries.ipynb."""
    if not isinstance(models, BatchedMLP):
        raise TypeError(f"models: expected batched models from train_with_canaries, got {type(models).__name__}")
    X_all = check_matrix(X_all, "X_all")
    y_all = check_labels(y_all, "y_all", n=len(X_all))
    rows, cols = np.asarray(canary_rows), np.asarray(canary_columns)
    if rows.shape != cols.shape or rows.ndim != 1:
        raise ValueError("canary_columns: expected one column per canary row")
    Xc = torch.from_numpy(np.ascontiguousarray(X_all[rows]))
    strength = Xc[np.arange(len(rows)), cols]  # [m]
    sizes = [W.shape[2] for W, _ in models.params_[:-1]]
    init = initial_stacked_params(X_all.shape[1], sizes, len(models.classes_),
                                  [seed_from(s) for s in models.seeds])
    (W1, b1), rest = models.params_[0], models.params_[1:]
    labels = np.searchsorted(models.classes_, y_all[rows])
    losses = []
    with torch.no_grad():
        first = torch.baddbmm(b1, Xc.expand(len(W1), *Xc.shape), W1)  # [n_models, m, hidden]
        moved = (W1[:, cols, :] - init[0][0][:, cols, :]) * strength[None, :, None]
        for pre in (first - moved, first):  # the site's weights reset to their start; trained
            h = torch.relu(pre)
            logits = stacked_forward(rest, h) if rest else h
            logp = torch.log_softmax(logits.double(), dim=-1).numpy()
            losses.append(-logp[:, np.arange(len(rows)), labels])
    return losses[0] - losses[1]


def one_run_guesses(scores: ArrayLike, is_in: ArrayLike, n_guesses: int) -> tuple[int, int]:
    """``(guesses, correct)`` of the one-run rule: in each run (row), guess "in" for the
    ``n_guesses // 2`` highest scores, "out" for as many lowest, abstain on the rest.

    Introduced in notebooks/12_auditing_with_canaries.ipynb."""
    scores, is_in = np.atleast_2d(np.asarray(scores, float)), np.atleast_2d(np.asarray(is_in, bool))
    if scores.shape != is_in.shape:
        raise ValueError(f"is_in: expected shape {scores.shape} like scores, got {is_in.shape}")
    half = check_int(n_guesses, "n_guesses", minimum=2, maximum=scores.shape[1]) // 2
    order = np.argsort(-scores, axis=1, kind="stable")
    top = np.take_along_axis(is_in, order[:, :half], axis=1)
    bottom = np.take_along_axis(is_in, order[:, -half:], axis=1)
    return 2 * half * len(scores), int(top.sum() + (~bottom).sum())


def one_run_audit(scores: ArrayLike, is_in: ArrayLike, n_guesses: int, *, delta: float,
                  confidence: float = 0.95) -> tuple[float, int, int]:
    """``(epsilon, guesses, correct)``: the one-run bound on the guesses of
    ``one_run_guesses``, with all the canaries of all runs counted for delta's term (runs are
    independent, so their guesses add up).

    Introduced in notebooks/12_auditing_with_canaries.ipynb."""
    guesses, correct = one_run_guesses(scores, is_in, n_guesses)
    n_all = int(np.asarray(is_in).size)
    return one_run_epsilon(guesses, correct, delta=delta, confidence=confidence, n_canaries=n_all), guesses, correct


KINDS = {"input": dict(n_runs=16, n_canaries=500, n_guesses=20),
         "gradient": dict(n_runs=8, n_canaries=2000, n_guesses=100)}


def audit_dp_sgd(target_epsilon: float, X: ArrayLike, y: ArrayLike, *, delta: float, canaries: str = "gradient",
                 n_runs: int | None = None, n_canaries: int | None = None, n_guesses: int | None = None,
                 score: str = "steps", estimator: str = "gdp", broken: bool | str = False,
                 canary_gradient: float = 1.0, random_state: RandomStateLike = None,
                 **training: Any) -> dict[str, Any]:
    """The canary audit of DP-SGD at ``target_epsilon``, from start to end: ``n_runs`` DP models
    trained as one batch on ``X, y`` plus ``n_canaries`` canaries each (every canary in with
    probability 1/2), white-box scores, ``n_guesses`` guesses per run (half "in" for the highest
    scores, half "out" for the lowest) and the one-run bounds.

    ``canaries``: ``"gradient"`` (Dirac canaries, ``mia_course.gradient_canaries``; ``score``
    ``"steps"``: the auditor sees every noisy update, ``"final"``: the trained weights only) or
    ``"input"`` (records with a site of their own, ``add_canaries``; the trained weights only).
    Defaults per kind: ``KINDS`` (fixed in advance on simulated ideal canaries). ``estimator``
    names the bound returned as ``epsilon``: ``"gdp"`` (``audit_fdp.fdp_one_run_epsilon``, a
    bound among Gaussian curves) or ``"steinke"`` (``audit.one_run_epsilon``, any curve); both
    are returned too. ``broken``: train with a deliberately broken DP-SGD of
    ``mia_course.broken_dp`` (True: ``BrokenDPMLP``; or a name of ``broken_dp.BROKEN``).
    ``training``: ``DPMLPClassifier`` settings (default: full-batch DP-SGD,
    ``lr=1e-3``, where one canary moves its weights the most).
    Returns a dict: epsilon, epsilon_steinke, epsilon_gdp, mu (the mu-GDP rejected), guesses,
    correct, scores, is_in, accountant (the epsilon Opacus's RDP accountant claims), exact (the
    exact epsilon of the same noise, sampling rate and steps, ``accounting.exact_epsilon``: the
    most any audit of this configuration may prove, up to its 5% error), seconds (training and
    scoring), the configuration's noise_multiplier, sample_rate and steps, and the trained models
    (e.g. for ``gradient_canary_scores(r["models"], "final")`` on the same run).

    Introduced in notebooks/12_auditing_with_canaries.ipynb."""
    import time

    from mia_course.audit_fdp import fdp_one_run_mu, gdp_epsilon
    from mia_course.gradient_canaries import add_gradient_canaries, gradient_canary_scores, train_with_gradient_canaries
    if canaries not in KINDS:
        raise ValueError(f"canaries: expected one of {sorted(KINDS)}, got {canaries!r}")
    if estimator not in ("gdp", "steinke"):
        raise ValueError(f"estimator: expected 'gdp' or 'steinke', got {estimator!r}")
    if score not in ("steps", "final", "epochs"):
        raise ValueError(f"score: expected 'steps', 'final' or 'epochs', got {score!r}")
    broken_trainer(broken)  # a ValueError naming broken, before any work
    n_runs, n_canaries, n_guesses = (KINDS[canaries][k] if v is None else v for k, v in
                                     (("n_runs", n_runs), ("n_canaries", n_canaries), ("n_guesses", n_guesses)))
    rng = check_random_state(random_state)
    settings = {"batch_size": len(y) + n_canaries, "lr": 1e-3, **training}
    model = DPMLPClassifier(target_epsilon=target_epsilon, delta=delta, **settings)
    start = time.perf_counter()
    if canaries == "input":
        X_all, y_all, rows, cols = add_canaries(X, y, n_canaries, random_state=rng)
        masks, is_in = canary_masks(n_runs, len(y), n_canaries, random_state=rng)
        models = train_with_canaries(model, X_all, y_all, masks, broken=broken, random_state=rng)
        scores = canary_scores(models, X_all, y_all, rows, cols)
    else:
        X_all, y_all, *coords = add_gradient_canaries(X, y, n_canaries, int(np.atleast_1d(model.hidden_sizes)[0]))
        masks, is_in = canary_masks(n_runs, len(y), n_canaries, random_state=rng)
        models = train_with_gradient_canaries(model, X_all, y_all, masks, tuple(coords), broken=broken,
                                              canary_gradient=canary_gradient, random_state=rng)
        scores = gradient_canary_scores(models, score)
    seconds = time.perf_counter() - start
    steinke, guesses, correct = one_run_audit(scores, is_in, n_guesses, delta=delta)
    mu = fdp_one_run_mu(guesses, correct, int(is_in.size))
    gdp = float("inf") if np.isinf(mu) else gdp_epsilon(mu, delta)
    exact = exact_epsilon(models.noise_multiplier_, models.sample_rate_, models.steps_, delta)
    return dict(epsilon=gdp if estimator == "gdp" else steinke, epsilon_steinke=steinke, epsilon_gdp=gdp, mu=mu,
                guesses=guesses, correct=correct, scores=scores, is_in=is_in, accountant=float(models.epsilon_),
                exact=exact, seconds=seconds, noise_multiplier=float(models.noise_multiplier_),
                sample_rate=float(models.sample_rate_), steps=int(models.steps_), models=models)


def natural_audit(estimator: Estimator, X: ArrayLike, y: ArrayLike, *, delta: float, n_models: int = 4,
                  random_state: RandomStateLike = None) -> float:
    """Lesson 11's audit with natural records, batched: ``n_models`` models trained on random
    halves of ``X, y``, every record scored by its log-probability of its own label in every
    model, and ``empirical_epsilon`` on all (model, record) pairs.

    Introduced in notebooks/12_auditing_with_canaries.ipynb."""
    from mia_course.audit import empirical_epsilon
    from mia_course.shadows import random_halves
    rng = check_random_state(random_state)
    X, y = check_matrix(X, "X"), check_labels(y, "y", n=len(X))
    masks = random_halves(check_int(n_models, "n_models", minimum=2), len(y), rng)
    models = train_shadow_models(estimator, X, y, masks, random_state=rng, n_threads=1)
    proba = models.predict_proba(X)[:, np.arange(len(y)), np.searchsorted(models.classes_, y)]
    return empirical_epsilon(masks.ravel(), np.log(proba + 1e-12).ravel(), delta)
