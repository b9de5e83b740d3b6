"""The playground's attacks: what the attacker queries, and each attack's scores.

Introduced in notebooks/13_playground.ipynb. The engine (``mia_course.playground``) trains the
target and its shadows once; these functions turn its stored answers into membership scores.
"""
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from mia_course.attacks import LossThresholdAttack, true_class_probs, true_columns
from mia_course.defenses.outputs import LabelOnlyOutputs, NoisyOutputs, RoundedOutputs
from mia_course.label_only import LabelOnlyAttack
from mia_course.lira import lira_scores, logit_confidence
from mia_course.queries import PROBABILITY_FLOOR, own_noise
from mia_course.rmia import offline_probability, rmia_scores

ATTACKS = ("loss", "LiRA", "LiRA adaptive", "RMIA", "label-only")


def model_api(model: Any, output: str, *, noise_scale: float = 0.1, decimals: int = 1,
              random_state: int | np.random.RandomState | None = 0) -> Any:
    """What the attacker can query: the model behind the chosen output defense.

    Introduced in notebooks/13_playground.ipynb."""
    if output == "noise":
        return NoisyOutputs(model, noise_scale, random_state=random_state)
    if output == "rounding":
        return RoundedOutputs(model, decimals)
    if output == "label only":
        return LabelOnlyOutputs(model)
    return model


class StoredAnswers:
    """A shadow's stored probabilities on ``X`` (members, non-members, population), as a
    model an output defense can wrap.

    Introduced in notebooks/13_playground.ipynb."""

    def __init__(self, P: np.ndarray, classes: ArrayLike):
        self.P, self.classes_ = P, classes

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        if len(X) != len(self.P):
            raise ValueError(f"X: the stored answers cover {len(self.P)} rows, got {len(X)}")
        return self.P


def attack_scores(attack: str, api: Any, trained: Any, data: Any, random_state: int | np.random.RandomState | None = 0,
                  output_defense: Callable[[Any], Any] | None = None) -> np.ndarray:
    """One attack's membership scores for members then non-members (``data.X``).

    LiRA (online; one global variance below 64 shadows, as ``LiRA`` by default) and RMIA
    (offline: only the shadows that did not train on a record count as its references) reuse
    the target's shadows. "LiRA adaptive" reads the shadows through ``output_defense`` (the
    target's, as an attacker who knows it; each shadow with noise of its own,
    ``queries.own_noise``).
    Introduced in notebooks/13_playground.ipynb."""
    if attack not in ATTACKS:
        raise ValueError(f"attack: expected one of {ATTACKS}, got {attack!r}")
    X, y = data.X, data.y
    if attack == "loss":
        return LossThresholdAttack().score_samples(api, X, y)
    if attack == "label-only":
        return LabelOnlyAttack(n_perturbations=32, random_state=random_state).score_samples(api, X, y)
    shadows = trained.shadow_proba
    P = np.asarray(api.predict_proba(np.vstack([X, data.X_population])), float)
    y_all = np.r_[y, data.y_population]
    col = true_columns(trained.stack.classes_, y_all)
    if attack in ("LiRA", "LiRA adaptive"):
        if attack == "LiRA adaptive" and output_defense is not None:
            X_all = np.vstack([X, data.X_population])
            shadows = np.stack([np.asarray(own_noise(output_defense(StoredAnswers(S, trained.stack.classes_)), k)
                                           .predict_proba(X_all), float) for k, S in enumerate(shadows)])
        return lira_scores(logit_confidence(P, col)[:len(y)], logit_confidence(shadows, col)[:, :len(y)],
                           trained.shadow_masks, online=True, fixed_variance="auto")
    out = np.c_[~trained.shadow_masks, np.ones((len(shadows), len(data.y_population)), bool)]
    p_out = (true_class_probs(shadows, col) * out).sum(0) / np.maximum(out.sum(0), 1)
    ratio = np.clip(true_class_probs(P, col), PROBABILITY_FLOOR, None) / offline_probability(p_out)
    return rmia_scores(ratio[:len(y)], ratio[len(y):])
