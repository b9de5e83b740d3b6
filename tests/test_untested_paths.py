"""Paths that had no test, each against an independent computation: the calibrated
label-only attack, early stopping (TorchMLPClassifier and DPMLPClassifier), the shared
target setting, privacy_utility, determinism of the batched DP shadows, and duplicate
records in the playground."""
from collections import Counter

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from checks import slow_tpr_at_fpr
from mia_course.data import alice, make_ad_clicks
from mia_course.accounting import noise_multiplier_for
from mia_course.defenses.dp_models import DPMLPClassifier
from mia_course.experiments import privacy_utility
from mia_course.experiments import make_target_setting
from mia_course.label_only import LabelOnlyAttack, perturb
from mia_course.models import TorchMLPClassifier
from mia_course.nets import build_mlp, seed_from
from mia_course.playground import check_settings, make_playground_data, train_target_and_shadows
from mia_course.playground_attacks import attack_scores, model_api
from mia_course.rmia import RMIA
from mia_course.shadows import distinct_records, random_halves
from mia_course.training.registry import train_shadow_models

TINY = TorchMLPClassifier(hidden_sizes=(16,), epochs=5, random_state=0)


# ---- the calibrated label-only attack ---------------------------------------------------
@pytest.fixture(scope="module")
def label_only_case():
    d = make_ad_clicks(600, random_state=3)
    target = TorchMLPClassifier(hidden_sizes=(32,), epochs=15, random_state=0).fit(d.X[:200], d.y[:200])
    X, y = np.vstack([d.X[:20], d.X[200:220]]), np.r_[d.y[:20], d.y[200:220]]
    return target, X, y, d.X[300:], d.y[300:]


def test_label_only_fit_trains_references_on_complementary_halves(label_only_case):
    _, _, _, Xp, yp = label_only_case
    attack = LabelOnlyAttack(n_references=4, reference_model=TINY, random_state=0)
    assert attack.fit(Xp, yp) is attack
    refs = attack.references_
    assert len(refs) == 4
    masks = refs.masks_
    assert masks.shape == (4, len(yp))
    first, inverse = distinct_records(Xp, yp)  # copies of a record are IN or OUT together
    assert (masks == masks[:, first][:, inverse]).all()
    halves = masks[:, first].sum(axis=1)  # complementary pairs of the distinct records
    assert set(halves) <= {len(first) // 2, len(first) - len(first) // 2}
    assert (masks[0] ^ masks[1]).all() and (masks[2] ^ masks[3]).all()
    with pytest.raises(ValueError, match="n_references"):
        LabelOnlyAttack(n_references=0).fit(Xp, yp)


def test_calibrated_label_only_scores_equal_a_slow_reference(label_only_case):
    target, X, y, Xp, yp = label_only_case
    attack = LabelOnlyAttack(n_perturbations=6, n_references=2, reference_model=TINY, random_state=0)
    scores = attack.fit(Xp, yp).score_samples(target, X, y)
    copies = perturb(X, 6, np.random.RandomState(0), n_flips=1)  # the attack's copies, same seed
    references = [attack.references_.model(k) for k in range(len(attack.references_))]
    for i in range(len(y)):
        versions = [X[i]] + [copies[c, i] for c in range(6)]
        target_right = np.mean([target.predict(v[None])[0] == y[i] for v in versions])
        ref_right = np.mean([r.predict(v[None])[0] == y[i] for r in references for v in versions])
        assert scores[i] == pytest.approx(target_right - ref_right, abs=1e-12)


def test_calibrated_label_only_attack_is_deterministic(label_only_case):
    target, X, y, Xp, yp = label_only_case

    def scores(seed):
        attack = LabelOnlyAttack(n_perturbations=6, n_references=2, reference_model=TINY, random_state=seed)
        return attack.fit(Xp, yp).score_samples(target, X, y)
    first = scores(0)
    assert np.array_equal(first, scores(0))
    assert not np.array_equal(first, scores(1))


# ---- early stopping ---------------------------------------------------------------------
def slow_early_stopping(X, y, *, hidden, epochs, lr, batch_size, validation_fraction, patience, random_state):
    """Train every epoch, then apply the rule afterwards: stop after ``patience`` epochs in a
    row without a new lowest validation loss and keep the best epoch's weights.
    Returns ``(net, n_epochs)``."""
    seed = seed_from(random_state)
    torch.manual_seed(seed)
    net = build_mlp(X.shape[1], hidden, 2)
    gen = torch.Generator().manual_seed(seed)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    perm = torch.randperm(len(X), generator=gen)
    n_val = max(1, round(validation_fraction * len(X)))
    val, train = perm[:n_val], perm[n_val:]
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    states, losses = [], []
    for _ in range(epochs):
        for idx in torch.randperm(len(train), generator=gen).split(batch_size):
            rows = train[idx]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(Xt[rows]), yt[rows]).backward()
            opt.step()
        with torch.no_grad():
            losses.append(float(torch.nn.functional.cross_entropy(net(Xt[val]), yt[val])))
        states.append({k: v.clone() for k, v in net.state_dict().items()})
    stop = epochs
    for e in range(epochs):
        if e >= patience and all(losses[j] >= min(losses[:j]) for j in range(e - patience + 1, e + 1)):
            stop = e + 1
            break
    best = int(np.argmin(losses[:stop]))
    net.load_state_dict(states[best])
    return net, stop


def test_early_stopping_keeps_the_best_epoch_and_stops_after_patience():
    d = make_ad_clicks(300, random_state=5)
    knobs = dict(epochs=40, lr=1e-2, batch_size=32, validation_fraction=0.2, patience=2, random_state=0)
    model = TorchMLPClassifier(hidden_sizes=(64,), early_stopping=True, **knobs).fit(d.X, d.y)
    net, stop = slow_early_stopping(d.X, d.y, hidden=(64,), **knobs)
    assert stop < 40, "the overfitting model should stop early here"
    assert model.n_epochs_ == stop
    with torch.no_grad():
        ref = torch.softmax(net(torch.from_numpy(d.X)).double(), dim=1).numpy()
    np.testing.assert_allclose(model.predict_proba(d.X), ref, atol=1e-6)
    # without early stopping: all the epochs, on all the rows
    plain = TorchMLPClassifier(hidden_sizes=(64,), **knobs).fit(d.X, d.y)
    assert plain.n_epochs_ == 40


def test_dp_model_keeps_its_early_stopping_parameters():
    model = DPMLPClassifier()
    params = model.get_params()
    assert {"early_stopping", "validation_fraction", "patience"} <= set(params)
    model.set_params(early_stopping=True, validation_fraction=0.25, patience=1)
    assert clone(model).get_params()["validation_fraction"] == 0.25


def test_dp_early_stopping_holds_out_rows_and_stops():
    d = make_ad_clicks(400, random_state=0)
    knobs = dict(target_epsilon=4.0, epochs=12, hidden_sizes=(16,), batch_size=32, random_state=0)
    model = DPMLPClassifier(early_stopping=True, validation_fraction=0.25, patience=1, **knobs).fit(d.X, d.y)
    plain = DPMLPClassifier(**knobs).fit(d.X, d.y)
    # the noise is calibrated on the 300 training rows only: sampling rate 1 / ceil(300 / 32)
    n_batches = int(np.ceil(300 / 32))
    assert model.noise_multiplier_ == pytest.approx(
        noise_multiplier_for(4.0, 1e-5, 1 / n_batches, 12 * n_batches), rel=0.02)
    assert plain.n_epochs_ == 12
    assert 1 <= model.n_epochs_ < 12  # patience 1 under DP noise: stops at the first rise
    # a data-dependent stop cannot claim back the steps it skipped: the planned budget
    assert model.epsilon_ == pytest.approx(4.0, abs=0.02)
    assert len(model.validation_rows_) == 100  # held out, never trained on
    assert not np.allclose(model.predict_proba(d.X), plain.predict_proba(d.X))
    # shadows of an early-stopping DP model are fitted one by one (the batched trainer has no stopping)
    shadows = train_shadow_models(DPMLPClassifier(early_stopping=True, patience=1, **knobs),
                                  d.X, d.y, random_halves(2, 400, np.random.RandomState(0)), random_state=0)
    assert all(m.n_epochs_ <= 12 and hasattr(m, "epsilon_") for m in shadows.models_)


# ---- the shared target setting ----------------------------------------------------------
def rows(X, y):
    return Counter(x.tobytes() + bytes([int(t)]) for x, t in zip(X, y))


@pytest.mark.parametrize("include_alice", [True, False])
def test_make_target_setting_properties(include_alice):
    model = LogisticRegression(C=0.1, max_iter=500)
    s = make_target_setting(60, 90, include_alice=include_alice, model=model, random_state=4)
    assert s.X_train.shape[0] == len(s.y_train) == 60 and s.X_test.shape[0] == len(s.y_test) == 90
    np.testing.assert_array_equal(s.X_eval, np.vstack([s.X_train, s.X_test]))
    np.testing.assert_array_equal(s.y_eval, np.r_[s.y_train, s.y_test])
    np.testing.assert_array_equal(s.is_member, np.r_[np.ones(60, bool), np.zeros(90, bool)])
    drawn = rows(s.data.X, s.data.y)
    if include_alice:
        x, t = alice()
        assert s.alice_index == 59
        np.testing.assert_array_equal(s.X_train[59], x)
        assert s.y_train[59] == t
        used = rows(s.X_train[:59], s.y_train[:59]) + rows(s.X_test, s.y_test)
    else:
        assert s.alice_index is None
        used = rows(s.X_eval, s.y_eval)
    assert not used - drawn, "members and non-members are distinct users of the drawn data"
    # the target is the given model, fitted (a clone) on the members only
    assert not hasattr(model, "coef_")
    np.testing.assert_allclose(s.model.coef_, clone(model).fit(s.X_train, s.y_train).coef_)
    train_acc, test_acc = s.accuracies()
    assert train_acc == np.mean(s.model.predict(s.X_train) == s.y_train)
    assert test_acc == np.mean(s.model.predict(s.X_test) == s.y_test)


def test_make_target_setting_is_reproducible_and_takes_segments():
    model = LogisticRegression(C=0.1, max_iter=500)
    a, b = (make_target_setting(30, 30, model=model, random_state=1) for _ in range(2))
    np.testing.assert_array_equal(a.X_eval, b.X_eval)
    assert not np.array_equal(a.X_eval, make_target_setting(30, 30, model=model, random_state=2).X_eval)
    s = make_target_setting(30, 30, model=model, segments=[0, 2], include_alice=False, random_state=0)
    assert set(np.unique(s.data.segment)) <= {0, 2}
    assert len(s.data.y) >= 60


# ---- privacy_utility --------------------------------------------------------------------
def test_privacy_utility_row_equals_an_independent_computation():
    model = LogisticRegression(C=0.1, max_iter=500)
    setting = make_target_setting(80, 80, model=model, random_state=0)
    row, same = privacy_utility(model, n_references=2, random_state=3, setting=setting)
    assert same is setting
    assert row["train accuracy"] == np.mean(setting.model.predict(setting.X_train) == setting.y_train)
    assert row["test accuracy"] == np.mean(setting.model.predict(setting.X_test) == setting.y_test)
    P = setting.model.predict_proba(setting.X_eval)
    loss = -np.log(P[np.arange(len(P)), setting.y_eval.astype(int)])
    m = setting.is_member
    assert row["loss AUC"] == pytest.approx(roc_auc_score(m, -loss))
    for f in (0.001, 0.01):
        assert row[f"loss TPR@{f:.1%} FPR"] == slow_tpr_at_fpr(m, -loss, f)
    population = make_ad_clicks(2000, random_state=10_003)  # the attacker's other people
    rmia = RMIA(reference_model=clone(model), n_references=2, random_state=3).fit(population.X, population.y)
    rmia_scores = rmia.score_samples(setting.model, setting.X_eval, setting.y_eval)
    assert row["RMIA AUC"] == pytest.approx(roc_auc_score(m, rmia_scores))
    assert row["RMIA TPR@1.0% FPR"] == slow_tpr_at_fpr(m, rmia_scores, 0.01)


# ---- determinism of the batched DP shadows ----------------------------------------------
def test_batched_dp_shadows_are_deterministic():
    d = make_ad_clicks(400, random_state=0)
    masks = random_halves(4, 400, np.random.RandomState(0))
    est = DPMLPClassifier(target_epsilon=2.0, epochs=4, hidden_sizes=(8,), batch_size=25, dropout=0.1)

    def proba(seed):
        return train_shadow_models(est, d.X, d.y, masks, random_state=seed).predict_proba(d.X)
    first = proba(0)
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    assert np.array_equal(first, proba(0))
    assert torch.equal(torch.rand(3), expected), "torch's global generator is left as it was"
    assert not np.allclose(first, proba(1))


# ---- duplicate records in the playground ------------------------------------------------
@pytest.fixture(scope="module")
def playground_with_duplicates():
    data = make_playground_data(500, 1000, random_state=0)  # the playground's default data
    settings = check_settings({"hidden_units": 8, "epochs": 2, "n_shadows": 6})
    return data, settings, train_target_and_shadows(data, settings, random_state=0)


def duplicate_groups(X, y):
    _, record, counts = np.unique(np.c_[X, y], axis=0, return_inverse=True, return_counts=True)
    record = record.ravel()
    return [np.flatnonzero(record == r) for r in np.flatnonzero(counts > 1)]


def test_default_playground_data_has_duplicates_across_members_and_non_members():
    data = make_playground_data(500, 1000, random_state=0)
    groups = duplicate_groups(data.X, data.y)
    assert len(groups) >= 2, "the tests below need duplicated records"
    assert any(data.is_member[g].any() and not data.is_member[g].all() for g in groups)


def test_playground_shadows_split_records_not_positions(playground_with_duplicates):
    """A shadow that trained on one copy of a record trained on the record: every copy of
    it counts as IN for that shadow, and each distinct record is IN for half the shadows."""
    data, settings, trained = playground_with_duplicates
    masks = trained.shadow_masks
    for g in duplicate_groups(data.X, data.y):
        assert (masks[:, g] == masks[:, g[:1]]).all(), f"rows {g} are one record, IN for different shadows"
    assert (masks.sum(axis=0) == settings["n_shadows"] // 2).all()


@pytest.mark.parametrize("attack", ["loss", "LiRA", "RMIA"])
def test_playground_scores_copies_of_a_record_alike(playground_with_duplicates, attack):
    """No attack can tell two copies of one record apart (whatever their membership)."""
    data, settings, trained = playground_with_duplicates
    scores = attack_scores(attack, model_api(trained.target, "probabilities"), trained, data)
    for g in duplicate_groups(data.X, data.y):
        # RMIA orders equal ratios by position, a tie-break below one step (1 / population size)
        atol = 1e-4 if attack == "RMIA" else 0.0
        np.testing.assert_allclose(scores[g], scores[g[0]], rtol=1e-9, atol=atol, err_msg=f"rows {g}")
