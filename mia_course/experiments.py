"""The course's standard experiment: a population, a target model, members and non-members.

Introduced in notebooks/01_alice_and_the_ad_model.ipynb. Every lesson that attacks the
ad model starts from ``make_target_setting`` so that all lessons talk about the same
model, the same members and the same Alice. ``privacy_utility`` is the one yardstick for
every defense: attack success and test accuracy of one target, on the same task.
"""
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import clone

from mia_course._validation import check_int
from mia_course.attacks import LossThresholdAttack
from mia_course.data import SEGMENTS, AdClicks, alice, make_ad_clicks, split_members
from mia_course.metrics import attack_summary
from mia_course.models import TorchMLPClassifier
from mia_course.nets import seed_from
from mia_course.rmia import RMIA
from mia_course.training.registry import seeded_clone
from mia_course.hints import Estimator, RandomStateLike


def draw_users(n: int, segments: Iterable[int] | None, rng: np.random.RandomState) -> AdClicks:
    """``n`` users, optionally only from the given ``segments`` (indices into
    ``mia_course.data.SEGMENTS``; drawn until there are enough).

    Introduced in notebooks/08_regularization_and_data.ipynb."""
    if segments is None:
        return make_ad_clicks(n, random_state=rng)
    if isinstance(segments, (str, bytes)) or not hasattr(segments, "__iter__"):
        raise TypeError(f"segments: expected a list of segment indices, got {segments!r}")
    segments = sorted({check_int(s, "segments", minimum=0, maximum=len(SEGMENTS) - 1) for s in segments})
    parts, have = [], 0
    while have < n:
        batch = make_ad_clicks(2 * n, random_state=rng)
        keep = np.isin(batch.segment, segments)
        parts.append(batch)
        have += int(keep.sum())
    X = np.vstack([p.X[np.isin(p.segment, segments)] for p in parts])[:n]
    y = np.concatenate([p.y[np.isin(p.segment, segments)] for p in parts])[:n]
    seg = np.concatenate([p.segment[np.isin(p.segment, segments)] for p in parts])[:n]
    return AdClicks(X=X, y=y, site_names=parts[0].site_names, segment=seg)


@dataclass
class TargetSetting:
    """What the experimenter knows: the data, who is a member, and the trained target.

    ``X_eval``/``y_eval``/``is_member`` hold the members followed by the non-members
    (Alice, when included, is the last member, at ``alice_index``).
    """
    data: AdClicks
    model: Any  # the fitted target (predict, predict_proba)
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    X_eval: np.ndarray
    y_eval: np.ndarray
    is_member: np.ndarray
    alice_index: int | None  # None when Alice is not in the training set

    def accuracies(self) -> tuple[float, float]:
        """``(train accuracy, test accuracy)`` of the target model, on its members and on its
        non-members as the evaluation scores them (``is_member``): early stopping's validation
        rows, which it never trained on, count with the test rows. So the gap attack ("correctly
        labelled -> member") has TPR = train accuracy and FPR = test accuracy."""
        predicted = self.model.predict(self.X_eval) == self.y_eval
        return (float(np.mean(predicted[self.is_member])), float(np.mean(predicted[~self.is_member])))


def make_target_setting(n_members: int = 1000, n_non_members: int = 10_000, *, include_alice: bool = True,
                        model: Estimator | None = None, segments: Iterable[int] | None = None,
                        random_state: RandomStateLike = 0) -> TargetSetting:
    """Draw a population, train ``model`` (default: the course's MLP) on the members.

    Non-members cost no training, so there are 10,000 of them by default: a TPR at 0.1%
    FPR then rests on at least 10 false positives.

    ``segments``: draw users only from these interest segments (indices into
    ``mia_course.data.SEGMENTS``), for the lesson on diverse training data.
    Introduced in notebooks/01_alice_and_the_ad_model.ipynb.
    """
    n_members = check_int(n_members, "n_members", minimum=2)
    n_non_members = check_int(n_non_members, "n_non_members", minimum=1)
    if not isinstance(include_alice, (bool, np.bool_)):
        raise TypeError(f"include_alice: expected True or False, got {include_alice!r}")
    rng = np.random.RandomState(seed_from(random_state))
    data = draw_users(n_members + n_non_members, segments, rng)
    split = split_members(len(data), n_members, n_non_members, random_state=rng)
    X_train, y_train = data.X[split.members], data.y[split.members]
    if include_alice:
        x_alice, y_alice = alice()
        X_train = np.vstack([X_train[:-1], x_alice[None]])  # Alice takes one member's place
        y_train = np.append(y_train[:-1], y_alice)
    X_test, y_test = data.X[split.non_members], data.y[split.non_members]
    model = seeded_clone(model if model is not None else TorchMLPClassifier(), rng)
    model.fit(X_train, y_train)
    trained = np.ones(len(y_train), bool)  # early stopping's validation rows are not members
    trained[np.asarray(getattr(model, "validation_rows_", []), dtype=np.int64)] = False
    return TargetSetting(
        data=data, model=model, X_train=X_train, y_train=y_train, X_test=X_test,
        y_test=y_test, X_eval=np.vstack([X_train, X_test]), y_eval=np.r_[y_train, y_test],
        is_member=np.r_[trained, np.zeros(len(y_test), bool)],
        alice_index=len(y_train) - 1 if include_alice else None)


def privacy_utility(model: Estimator, *, n_members: int = 1000, n_references: int = 2, random_state: int = 0,
                    setting: TargetSetting | None = None) -> tuple[dict[str, float], TargetSetting]:
    """Train ``model`` as the ad-click target and measure it: train and test accuracy, and
    the loss-threshold and RMIA attacks (references trained like the target, on population
    data) as AUC and TPR at 0.1% / 1% FPR. Returns ``(row, setting)``.

    Introduced in notebooks/08_regularization_and_data.ipynb."""
    check_int(n_members, "n_members", minimum=2)
    check_int(n_references, "n_references", minimum=1)
    if setting is None:
        setting = make_target_setting(n_members, 1000, model=model, random_state=random_state)
    population = make_ad_clicks(2000, random_state=10_000 + random_state)  # same world, other people
    X, y, m = setting.X_eval, setting.y_eval, setting.is_member
    train_acc, test_acc = setting.accuracies()
    row = {"train accuracy": train_acc, "test accuracy": test_acc}
    rmia = RMIA(reference_model=clone(model), n_references=n_references, random_state=random_state)
    scores = {"loss": LossThresholdAttack().score_samples(setting.model, X, y),
              "RMIA": rmia.fit(population.X, population.y).score_samples(setting.model, X, y)}
    for name, s in scores.items():
        for key, value in attack_summary(m, s).items():
            row[f"{name} {key}"] = value
    return row, setting
