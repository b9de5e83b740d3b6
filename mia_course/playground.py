"""The playground's engine: every knob of the course behind one call, with a cache.

Introduced in notebooks/13_playground.ipynb.

``Playground().update(epochs=50)`` changes settings and returns everything the playground
shows: each attack's scores, test accuracy, TPR at low FPR and where Alice lands. Work is
cached by what it depends on, so a control change redoes only what it must:

- the users (members, non-members, the attacker's population) depend on ``n_members``;
- the target depends on the model's knobs (``n_members``, ``hidden_units``, ``epochs``, ``l2``,
  ``dropout``, ``epsilon``) only: the attacker's knobs (``n_shadows``, the attacks) never
  retrain it, so "2 vs 64 shadows" attacks the very same model;
- the shadows depend on the model's knobs and ``n_shadows``: they train as one batched model,
  each on a random half of members + non-members (the online LiRA setting);
- what the target's API answers depends on the output defense;
- each attack's scores depend on all of that; choosing which attacks to show costs nothing.
"""
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from mia_course._validation import check_int, check_real
from mia_course.data import RARE_DISEASE_SITE, alice, make_ad_clicks, without_site
from mia_course.defenses.dp_models import DPMLPClassifier
from mia_course.metrics import resolvable_fpr, roc_auc, threshold_at_fpr, tpr_at_fpr
from mia_course.models import TorchMLPClassifier
from mia_course.nets import seed_from
from mia_course.playground_attacks import ATTACKS, attack_scores, model_api
from mia_course.shadows import random_halves
from mia_course.training.registry import ShadowModels, train_shadow_models

OUTPUTS = ("probabilities", "noise", "rounding", "label only")
DEFAULTS = {"n_members": 500, "hidden_units": 256, "epochs": 30, "l2": 0.0, "dropout": 0.0,
            "epsilon": None, "output": "probabilities", "noise_scale": 0.1, "decimals": 1,
            "n_shadows": 16, "attacks": ("loss", "LiRA", "RMIA", "label-only")}
TARGET_KEYS = ("n_members", "hidden_units", "epochs", "l2", "dropout", "epsilon")
TRAINING_KEYS = TARGET_KEYS + ("n_shadows",)
OUTPUT_KEYS = ("output", "noise_scale", "decimals")


def check_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A complete, validated copy of ``settings`` (names from ``DEFAULTS``).

    ``epsilon=None`` trains without differential privacy.
    Introduced in notebooks/13_playground.ipynb."""
    unknown = sorted(set(settings) - set(DEFAULTS))
    if unknown:
        raise TypeError(f"{unknown[0]}: not a playground setting; expected one of {sorted(DEFAULTS)}")
    s = {**DEFAULTS, **settings}
    for name, low in (("n_members", 10), ("hidden_units", 1), ("epochs", 1), ("n_shadows", 2),
                      ("decimals", 0)):
        s[name] = check_int(s[name], name, minimum=low)
    s["l2"] = check_real(s["l2"], "l2", minimum=0.0)
    s["noise_scale"] = check_real(s["noise_scale"], "noise_scale", minimum=0.0)
    s["dropout"] = check_real(s["dropout"], "dropout", minimum=0.0, maximum=1.0, strict_max=True)
    if s["epsilon"] is not None:
        s["epsilon"] = check_real(s["epsilon"], "epsilon", minimum=0.0, strict_min=True)
    if s["output"] not in OUTPUTS:
        raise ValueError(f"output: expected one of {OUTPUTS}, got {s['output']!r}")
    attacks = s["attacks"]
    if isinstance(attacks, str) or not all(a in ATTACKS for a in attacks) or not attacks:
        raise ValueError(f"attacks: expected a non-empty list from {ATTACKS}, got {attacks!r}")
    s["attacks"] = tuple(a for a in ATTACKS if a in attacks)  # always in the same order
    return s


def training_key(settings: Mapping[str, Any]) -> tuple[Any, ...]:
    """What the trained models depend on: two settings with the same key share the target
    and its shadows (the output defense and the attack choice are not in it; the target's
    own key is the first ``len(TARGET_KEYS)`` entries, without ``n_shadows``).

    Introduced in notebooks/13_playground.ipynb."""
    return tuple(check_settings(settings)[k] for k in TRAINING_KEYS)


def where_record_lands(is_member: ArrayLike, scores: ArrayLike, index: int, fpr: float = 0.01) -> tuple[float, bool]:
    """``(share, flagged)`` for record ``index``: the share of non-members whose score is
    strictly below its score, and whether its score is strictly above the threshold that
    flags at most ``fpr`` of the non-members (``metrics.threshold_at_fpr``: their ``1 - fpr``
    quantile, ``method="higher"``).

    Introduced in notebooks/13_playground.ipynb."""
    outside = np.asarray(scores, float)[~np.asarray(is_member, bool)]
    score = float(np.asarray(scores, float)[index])
    threshold = threshold_at_fpr(outside, fpr)
    return float(np.mean(outside < score)), bool(score > threshold)


def resolved_fpr(n_non_members: int, lowest: float = 0.01) -> float:
    """``max(lowest, metrics.resolvable_fpr(n_non_members))``: the lowest FPR, no lower than
    ``lowest``, at which the non-members give 10 false positives. The playground's 500 resolve 2%;
    1,000 or more 1%. (Its online LiRA trains each shadow on half of the members + non-members,
    as many records as the target: non-members cannot outnumber members without changing them.)

    Introduced in notebooks/13_playground.ipynb."""
    lowest = check_real(lowest, "lowest", minimum=0.0, maximum=1.0, strict_min=True)
    return float(max(lowest, resolvable_fpr(n_non_members)))


@dataclass
class PlaygroundData:
    """Members then non-members (Alice is the last member), and the attacker's population."""
    X: np.ndarray
    y: np.ndarray
    is_member: np.ndarray
    X_population: np.ndarray
    y_population: np.ndarray
    alice_index: int


def make_playground_data(n_members: int, n_population: int = 1000,
                         random_state: int | np.random.RandomState | None = 0) -> PlaygroundData:
    """``n_members`` members (Alice among them), as many non-members, and ``n_population``
    other users that the attacker can draw on (RMIA's comparison records).

    Introduced in notebooks/13_playground.ipynb."""
    n = check_int(n_members, "n_members", minimum=2)
    n_population = check_int(n_population, "n_population", minimum=1)
    users = make_ad_clicks(2 * n + n_population, random_state=seed_from(random_state))
    X, y = users.X[:2 * n].copy(), users.y[:2 * n].copy()
    X[n - 1], y[n - 1] = alice()  # Alice takes the last member's place
    return PlaygroundData(X=X, y=y, is_member=np.arange(2 * n) < n, X_population=users.X[2 * n:],
                          y_population=users.y[2 * n:], alice_index=n - 1)


def model_for(settings: Mapping[str, Any], random_state: int | np.random.RandomState | None = 0) -> TorchMLPClassifier:
    """The estimator the settings describe: the course's MLP, or its DP-SGD twin.

    Introduced in notebooks/13_playground.ipynb."""
    knobs = dict(hidden_sizes=(settings["hidden_units"],), epochs=settings["epochs"],
                 weight_decay=settings["l2"], dropout=settings["dropout"], random_state=random_state)
    if settings["epsilon"] is None:
        return TorchMLPClassifier(**knobs)
    return DPMLPClassifier(target_epsilon=settings["epsilon"], **knobs)


@dataclass
class Trained:
    """The target (``target_stack``: one model), the shadows (``stack``) and their masks, the
    shadows' probabilities on members, non-members and population (in that order), and the
    accountant's epsilon of the target's training."""
    target_stack: ShadowModels
    stack: ShadowModels
    shadow_masks: np.ndarray
    shadow_proba: np.ndarray
    epsilon: float

    @property
    def target(self) -> Any:
        return self.target_stack.model(0)


def train_target(data: PlaygroundData, settings: Mapping[str, Any],
                 random_state: int | np.random.RandomState | None = 0) -> tuple[ShadowModels, float]:
    """The target on the members, seeded by ``random_state`` alone (never by the attacker's
    settings); returns it (a stack of one model) and Opacus's RDP epsilon (inf: no DP).

    Introduced in notebooks/13_playground.ipynb."""
    estimator = model_for(settings)
    target = train_shadow_models(estimator, data.X, data.y, data.is_member[None],
                                 random_state=np.random.RandomState(seed_from(random_state)))
    # the batched DP trainer's own reading of Opacus's RDP accountant (accounting.epsilon_spent)
    epsilon = float("inf") if settings["epsilon"] is None else float(target.epsilon_)
    return target, epsilon


def train_shadows(data: PlaygroundData, settings: Mapping[str, Any],
                  random_state: int | np.random.RandomState | None = 0) -> tuple[ShadowModels, np.ndarray, np.ndarray]:
    """``n_shadows`` shadows on random halves of members + non-members, trained as one batched
    model like the target; returns them, their masks and their probabilities on members,
    non-members and population.

    Introduced in notebooks/13_playground.ipynb."""
    rng = np.random.RandomState(seed_from(random_state))
    # halves of the distinct records: a duplicated row is IN (or OUT) for a shadow in all its places
    _, record = np.unique(np.c_[data.X, data.y], axis=0, return_inverse=True)
    masks = random_halves(settings["n_shadows"], int(record.max()) + 1, rng)[:, record.ravel()]
    stack = train_shadow_models(model_for(settings), data.X, data.y, masks, random_state=rng)
    return stack, masks, stack.predict_proba(np.vstack([data.X, data.X_population]))


def train_target_and_shadows(data: PlaygroundData, settings: Mapping[str, Any],
                             random_state: int | np.random.RandomState | None = 0) -> Trained:
    """``train_target`` and ``train_shadows`` (the shadows from their own stream of randomness:
    the target is the same whatever ``n_shadows``).

    Introduced in notebooks/13_playground.ipynb."""
    seed = seed_from(random_state)
    target, epsilon = train_target(data, settings, seed)
    stack, masks, proba = train_shadows(data, settings, seed + 1)
    return Trained(target_stack=target, stack=stack, shadow_masks=masks, shadow_proba=proba, epsilon=epsilon)


@dataclass
class PlaygroundResult:
    """Everything one playground update shows."""
    settings: dict[str, Any]
    is_member: np.ndarray
    scores: dict[str, np.ndarray]  # attack -> scores of members then non-members
    train_accuracy: float
    test_accuracy: float
    epsilon: float  # the accountant's epsilon (inf: no DP)
    alice_index: int
    alice_click: tuple[float, float]  # the API's click probability for Alice, with and without the rare site
    retrained: bool

    @property
    def fpr(self) -> float:
        """The false positive rate the table reports at: ``resolved_fpr`` of the non-members."""
        return resolved_fpr(int(np.sum(~np.asarray(self.is_member, bool))))

    def attack_rows(self) -> list[dict[str, Any]]:
        """Per attack: AUC, the FPR reported (``fpr``), TPR at that FPR, and where Alice lands
        (the share of non-members she outscores; flagged = she passes the threshold that
        flags at most that FPR of the non-members)."""
        rows = []
        for name, s in self.scores.items():
            share, flagged = where_record_lands(self.is_member, s, self.alice_index, fpr=self.fpr)
            rows.append({"attack": name, "AUC": roc_auc(self.is_member, s), "FPR": self.fpr,
                         "TPR": tpr_at_fpr(self.is_member, s, self.fpr),
                         "Alice beats": share, "Alice flagged": flagged})
        return rows


class Playground:
    """Cached experiments: ``update(**changes)`` returns a ``PlaygroundResult``.

    Introduced in notebooks/13_playground.ipynb."""

    def __init__(self, random_state: int = 0, n_population: int = 1000, cache_size: int = 64, **settings: Any):
        self.random_state = check_int(random_state, "random_state", minimum=0)
        self.n_population = check_int(n_population, "n_population", minimum=1)
        self.cache_size = check_int(cache_size, "cache_size", minimum=4)
        self.settings = check_settings(settings)
        self._cache = OrderedDict()

    def _keys(self, s):
        train = training_key(s)
        return train, train + tuple(s[k] for k in OUTPUT_KEYS)

    def needs_training(self, **changes: Any) -> bool:
        """Whether ``update(**changes)`` has to train models (so a front end can say so)."""
        return bool(self.models_to_train(**changes))

    def models_to_train(self, **changes: Any) -> tuple[str, ...]:
        """Which models ``update(**changes)`` has to train: ("target", "shadows"), one or none."""
        train = self._keys(check_settings({**self.settings, **changes}))[0]
        return tuple(name for name, key in (("target", ("target", train[:len(TARGET_KEYS)])),
                                            ("shadows", ("shadows", train)))
                     if key not in self._cache)

    def _cached(self, key, compute):
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        value = self._cache[key] = compute()
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return value

    def update(self, **changes: Any) -> PlaygroundResult:
        """Apply ``changes`` to the settings and return the result (validated first)."""
        s = check_settings({**self.settings, **changes})
        self.settings = s
        train_key, api_key = self._keys(s)
        retrained = bool(self.models_to_train())
        seed = self.random_state
        data = self._cached(("data", s["n_members"]), lambda: make_playground_data(
            s["n_members"], self.n_population, seed))
        # the target's seed is the playground's; the shadows' the next one (as train_target_and_shadows)
        target, epsilon = self._cached(("target", train_key[:len(TARGET_KEYS)]),
                                       lambda: train_target(data, s, seed_from(seed)))
        shadows = self._cached(("shadows", train_key), lambda: train_shadows(data, s, seed_from(seed) + 1))
        trained = Trained(target, *shadows, epsilon=epsilon)
        def api():  # a fresh one per use: the same noise whatever else was asked before
            return model_api(trained.target, s["output"], noise_scale=s["noise_scale"],
                             decimals=s["decimals"], random_state=seed)
        def defense(model):  # the same output defense, for the adaptive attacker's shadows
            return model_api(model, s["output"], noise_scale=s["noise_scale"], decimals=s["decimals"],
                             random_state=seed + 1)
        scores = {a: self._cached(("scores", api_key, a), lambda a=a: attack_scores(
            a, api(), trained, data, seed, output_defense=defense)) for a in s["attacks"]}
        right = trained.target.predict(data.X) == data.y
        x = data.X[data.alice_index]
        clicks = api().predict_proba(np.vstack([x, without_site(x, RARE_DISEASE_SITE)]))[:, 1]
        return PlaygroundResult(
            settings=s, is_member=data.is_member, scores=scores,
            train_accuracy=float(right[data.is_member].mean()),
            test_accuracy=float(right[~data.is_member].mean()), epsilon=trained.epsilon,
            alice_index=data.alice_index, alice_click=(float(clicks[0]), float(clicks[1])),
            retrained=retrained)
