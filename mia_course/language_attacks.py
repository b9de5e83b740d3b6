"""Membership inference on a language model: exposure of secrets and sequence-level attacks.

Introduced in notebooks/15_language_models.ipynb.

``exposure`` (Carlini et al. 2019, the Secret Sharer) ranks an inserted secret among all
candidate secrets of its format. The sequence-level scores (higher = more likely a member) are
the loss attack (mean log-probability per token), a variant of the zlib ratio (Carlini et al.
2021: total log-likelihood over zlib bits), Min-K%
probability (Shi et al. 2024) and the reference-model attack (target minus reference
log-likelihood). ``blind_scores`` never queries a model: a bag-of-words classifier that sees only
the texts (Das et al. 2024; Duan et al. 2024), the sanity check of a membership benchmark.
``deduplicate`` is the defense of Kandpal et al. (2022).
"""
import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline

from mia_course._validation import check_int, check_membership, check_real, check_vector
from mia_course.language import CharLanguageModel, encode
from mia_course.hints import ArrayLike, RandomStateLike


def _texts(texts, name="texts"):
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise TypeError(f"{name}: expected a list of strings")
    if len(texts) == 0:
        raise ValueError(f"{name}: expected at least one text")
    return list(texts)


def _model(model, name="model"):
    if not callable(getattr(model, "log_likelihood", None)):
        raise TypeError(f"{name}: expected a fitted language model with log_likelihood(), "
                        f"got {type(model).__name__}")
    return model


def patient_numbers() -> list[str]:
    """All 10,000 candidate secrets of the canaries' format "NN-NN", in order.

    Introduced in notebooks/15_language_models.ipynb."""
    return [f"{a:02d}-{b:02d}" for a in range(100) for b in range(100)]


def exposure(rank: ArrayLike, n_candidates: int) -> float | np.ndarray:
    """log2(n_candidates) - log2(rank): 0 bits for the least likely candidate, the maximum
    log2(n_candidates) when the secret is the model's favourite (rank 1). Works on arrays.

    Introduced in notebooks/15_language_models.ipynb."""
    n_candidates = check_int(n_candidates, "n_candidates", minimum=1)
    rank = np.asarray(rank)
    if rank.dtype.kind not in "iuf" or rank.size == 0:
        raise TypeError(f"rank: expected integer ranks, got {rank!r}")
    if np.any(rank != np.round(rank)) or np.any(rank < 1) or np.any(rank > n_candidates):
        raise ValueError(f"rank: expected whole numbers from 1 to n_candidates = {n_candidates}")
    out = math.log2(n_candidates) - np.log2(rank.astype(np.float64))
    return float(out) if out.ndim == 0 else out


def secret_rank(scores: ArrayLike, secret_index: int) -> int:
    """The rank of candidate ``secret_index`` by score (1 = highest; ties count against it:
    1 + the number of candidates scoring at least as high, other than itself).

    Introduced in notebooks/15_language_models.ipynb."""
    scores = check_vector(scores, "scores")
    secret_index = check_int(secret_index, "secret_index", minimum=0, maximum=len(scores) - 1)
    return int(np.sum(scores >= scores[secret_index]))


def canary_exposures(model: CharLanguageModel, canaries: Iterable[Mapping[str, Any]],
                     candidates: Sequence[str] | None = None) -> np.ndarray:
    """The exposure of each canary (a dict with prefix and secret, see ``make_canaries``) among
    ``candidates`` (default: all 10,000 patient numbers). Each candidate is scored by the
    model's log-probability of its characters after the canary's prefix (the Secret Sharer's
    log-perplexity of the secret; the format's closing "." and the end of the message are left
    out), all canaries in one batched pass (``continuation_log_likelihood(..., end=False)``).

    Introduced in notebooks/15_language_models.ipynb."""
    _model(model)
    candidates = patient_numbers() if candidates is None else _texts(candidates, "candidates")
    index = {c: i for i, c in enumerate(candidates)}
    canaries = list(canaries)
    if not canaries:
        raise ValueError("canaries: expected at least one canary")
    for canary in canaries:
        if canary.get("secret") not in index:
            raise ValueError(f"canaries: secret {canary.get('secret')!r} is not among the candidates")
    scores = np.atleast_2d(model.continuation_log_likelihood([c["prefix"] for c in canaries], candidates,
                                                             end=False))
    return np.array([exposure(secret_rank(row, index[c["secret"]]), len(candidates))
                     for row, c in zip(scores, canaries)])


def loss_scores(model: CharLanguageModel, texts: Sequence[str]) -> np.ndarray:
    """The loss attack: the mean log-probability per predicted token (minus the log of the
    perplexity). Introduced in notebooks/15_language_models.ipynb."""
    texts = _texts(texts)
    return _model(model).log_likelihood(texts) / encode(texts)[1]


def zlib_bits(texts: Sequence[str]) -> np.ndarray:
    """The size of each text compressed by zlib, in bits: a model-free measure of how much
    information it holds. Introduced in notebooks/15_language_models.ipynb."""
    return np.array([8 * len(zlib.compress(t.encode("utf-8"))) for t in _texts(texts)])


def zlib_scores(model: CharLanguageModel, texts: Sequence[str]) -> np.ndarray:
    """A zlib ratio: the total log-likelihood (nats) divided by the zlib-compressed size (bits), so
    that texts that are simply easy to predict (repetitive, short) are not taken for members. A
    variant of Carlini et al. 2021's ratio, which divides the log-perplexity (the mean negative
    log-likelihood per token) by the zlib entropy; dividing the total ranks texts of different
    lengths differently. Introduced in notebooks/15_language_models.ipynb."""
    return _model(model).log_likelihood(_texts(texts)) / zlib_bits(texts)


def min_k_scores(token_log_probs: Iterable[ArrayLike], k: float = 0.2) -> np.ndarray:
    """Min-K% probability: the mean of the lowest ``k`` fraction (rounded up, at least one) of
    each text's token log-probabilities (``CharLanguageModel.token_log_probs``).

    Introduced in notebooks/15_language_models.ipynb."""
    k = check_real(k, "k", minimum=0.0, maximum=1.0, strict_min=True)
    if isinstance(token_log_probs, np.ndarray) and token_log_probs.ndim == 1:
        raise TypeError("token_log_probs: expected one array of log-probabilities per text")
    rows = [check_vector(lp, "token_log_probs") for lp in token_log_probs]
    if not rows:
        raise ValueError("token_log_probs: expected at least one text")
    return np.array([np.sort(lp)[:max(1, math.ceil(k * len(lp)))].mean() for lp in rows])


def reference_scores(target: CharLanguageModel, reference: CharLanguageModel, texts: Sequence[str]) -> np.ndarray:
    """The reference-model attack: the target's log-likelihood minus that of a reference model
    trained on other text of the same kind (high when the target likes a text more than
    text like it deserves). Introduced in notebooks/15_language_models.ipynb."""
    texts = _texts(texts)
    target, reference = _model(target, "target"), _model(reference, "reference")
    return target.log_likelihood(texts) - reference.log_likelihood(texts)


def sequence_attacks(target: CharLanguageModel, reference: CharLanguageModel, texts: Sequence[str],
                     k: float = 0.2) -> dict[str, np.ndarray]:
    """The four attacks' scores at once, from one pass of each model over ``texts`` (the two
    models score side by side, in two threads): a dict
    {"loss", "zlib", "Min-K% (k=...)", "reference"} of arrays, equal to ``loss_scores``,
    ``zlib_scores``, ``min_k_scores`` and ``reference_scores``.

    Introduced in notebooks/15_language_models.ipynb."""
    texts = _texts(texts)
    _model(reference, "reference")
    _model(target, "target")
    with ThreadPoolExecutor(2) as pool:  # the two models side by side (torch leaves Python's lock)
        reference_ll = pool.submit(reference.log_likelihood, texts)
        log_probs = target.token_log_probs(texts)
        ll = np.array([lp.sum() for lp in log_probs])
        reference_ll = reference_ll.result()
    return {"loss": ll / np.array([len(lp) for lp in log_probs]), "zlib": ll / zlib_bits(texts),
            f"Min-K% (k={k:g})": min_k_scores(log_probs, k), "reference": ll - reference_ll}


def blind_scores(texts: Sequence[str], is_member: ArrayLike, *, n_splits: int = 5,
                 random_state: RandomStateLike = None) -> np.ndarray:
    """A blind membership classifier that never queries the model: a bag-of-words logistic
    regression, trained on the labels of the other folds and scoring each held-out text.

    Introduced in notebooks/15_language_models.ipynb."""
    texts = _texts(texts)
    is_member = check_membership(is_member, "is_member", n=len(texts))
    n_splits = check_int(n_splits, "n_splits", minimum=2)
    clf = make_pipeline(CountVectorizer(token_pattern=r"[a-z]+", binary=True),
                        LogisticRegression(C=1.0, max_iter=1000))
    folds = StratifiedKFold(n_splits, shuffle=True, random_state=random_state)
    return cross_val_predict(clf, np.array(texts, dtype=object), is_member, cv=folds,
                             method="predict_proba")[:, 1]


def deduplicate(texts: Sequence[str]) -> list[str]:
    """Exact deduplication (Kandpal et al. 2022): each distinct text once, in first-seen order.

    Introduced in notebooks/15_language_models.ipynb."""
    return list(dict.fromkeys(_texts(texts)))
