"""The playground's engine: settings, caching, the attacks it reuses, and the story it tells."""
import numpy as np
import pytest

from mia_course.defenses.outputs import LabelOnlyOutputs, NoisyOutputs, RoundedOutputs
from mia_course.metrics import tpr_at_fpr
from mia_course.playground import (DEFAULTS, Playground, check_settings, make_playground_data,
                                   resolved_fpr, train_target_and_shadows)
from mia_course.playground_attacks import attack_scores, model_api

# AUC's standard error with 500 members and 500 non-members is about 0.015 near 0.5-0.8;
# "never weaker by more than noise" allows two of them.
AUC_NOISE = 0.03


@pytest.fixture(scope="module")
def default_models():
    """The default settings' data and models, built with the public functions."""
    data = make_playground_data(DEFAULTS["n_members"], random_state=0)
    return data, train_target_and_shadows(data, check_settings({}), random_state=0)


@pytest.fixture(scope="module")
def playground():
    pg = Playground()
    pg.update()
    return pg


@pytest.mark.parametrize("changes, error, words", [
    ({"width": 3}, TypeError, "width: not a playground setting"),
    ({"n_members": 5}, ValueError, "n_members"),
    ({"hidden_units": 1.5}, TypeError, "hidden_units"),
    ({"epochs": 0}, ValueError, "epochs"),
    ({"l2": -0.1}, ValueError, "l2"),
    ({"dropout": 1.0}, ValueError, "dropout"),
    ({"epsilon": 0.0}, ValueError, "epsilon"),
    ({"epsilon": "off"}, TypeError, "epsilon"),
    ({"output": "blur"}, ValueError, "output"),
    ({"noise_scale": -1.0}, ValueError, "noise_scale"),
    ({"decimals": -1}, ValueError, "decimals"),
    ({"n_shadows": 1}, ValueError, "n_shadows"),
    ({"attacks": ()}, ValueError, "attacks"),
    ({"attacks": "loss"}, ValueError, "attacks"),
    ({"attacks": ("loss", "magic")}, ValueError, "attacks"),
])
def test_bad_settings_are_refused_before_any_work(changes, error, words):
    with pytest.raises(error, match=words):
        check_settings(changes)
    pg = Playground()
    with pytest.raises(error, match=words):
        pg.update(**changes)
    assert pg.settings == check_settings({}) and not pg._cache  # nothing changed, nothing trained


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="random_state"):
        Playground(random_state=-1)
    with pytest.raises(TypeError, match="n_population"):
        Playground(n_population=2.5)
    with pytest.raises(ValueError, match="output"):
        Playground(output="none")


def test_settings_are_completed_and_attacks_ordered():
    s = check_settings({"attacks": ["RMIA", "loss"]})
    assert s["attacks"] == ("loss", "RMIA") and s["epochs"] == DEFAULTS["epochs"]


def test_data_has_members_then_non_members_and_alice_is_a_member():
    data = make_playground_data(50, n_population=30, random_state=0)
    assert data.is_member.sum() == 50 and len(data.y) == 100 and data.is_member[:50].all()
    assert data.alice_index == 49 and data.y[49] == 1 and len(data.y_population) == 30
    same = make_playground_data(50, n_population=30, random_state=0)
    np.testing.assert_array_equal(data.X, same.X)


def test_same_seed_same_numbers_and_cache_reuses_training(playground):
    first = playground.update(epochs=30, output="noise")
    again = Playground().update(output="noise")
    for name in first.scores:
        np.testing.assert_array_equal(first.scores[name], again.scores[name])
    assert not playground.needs_training(output="rounding")  # only the API changes
    assert playground.needs_training(epochs=10)
    repeat = playground.update(output="noise")
    assert not repeat.retrained
    np.testing.assert_array_equal(repeat.scores["LiRA"], first.scores["LiRA"])


def test_the_attackers_knobs_never_retrain_the_target(playground):
    """Moving "shadows" (or the attacks) keeps the very same target: its accuracy, its answers
    and the loss attack's scores do not move; only the shadows train again."""
    base = playground.update(n_shadows=16, attacks=("loss", "LiRA"))
    assert playground.models_to_train(n_shadows=64) == ("shadows",)
    assert playground.models_to_train(attacks=("loss",)) == ()
    assert playground.models_to_train(epochs=10) == ("target", "shadows")
    for n in (2, 64):
        moved = playground.update(n_shadows=n, attacks=("loss", "LiRA"))
        assert moved.retrained and moved.test_accuracy == base.test_accuracy
        assert moved.alice_click == base.alice_click
        np.testing.assert_array_equal(moved.scores["loss"], base.scores["loss"])
        assert not np.array_equal(moved.scores["LiRA"], base.scores["LiRA"])  # the shadows did change
    playground.update(n_shadows=DEFAULTS["n_shadows"], attacks=DEFAULTS["attacks"])


def test_model_api_wraps_the_chosen_output_defense(default_models):
    model = default_models[1].target
    assert model_api(model, "probabilities") is model
    assert isinstance(model_api(model, "noise", noise_scale=0.2), NoisyOutputs)
    assert isinstance(model_api(model, "rounding", decimals=2), RoundedOutputs)
    assert isinstance(model_api(model, "label only"), LabelOnlyOutputs)


def test_rmia_in_the_playground_matches_a_slow_reference(default_models):
    """Offline RMIA from the shadows that did not train on each record, recomputed in loops."""
    data, trained = default_models
    scores = attack_scores("RMIA", trained.target, trained, data)
    X_all = np.vstack([data.X, data.X_population])
    y_all = np.r_[data.y, data.y_population]
    p_target = trained.target.predict_proba(X_all)[np.arange(len(y_all)), y_all]
    ratios = []
    for i in range(len(y_all)):
        outs = [trained.shadow_proba[k, i, y_all[i]] for k in range(len(trained.shadow_proba))
                if i >= len(data.y) or not trained.shadow_masks[k, i]]
        p_out = sum(outs) / len(outs)
        ratios.append(p_target[i] / ((1.3 * p_out + 0.7) / 2))
    ratio_x, ratio_z = np.array(ratios[:len(data.y)]), np.array(ratios[len(data.y):])
    beaten = np.array([np.sum(ratio_z < r) for r in ratio_x])
    np.testing.assert_array_equal(np.floor(scores * len(ratio_z) + 1e-9), beaten)


def test_attack_scores_refuses_an_unknown_attack(default_models):
    data, trained = default_models
    with pytest.raises(ValueError, match="attack"):
        attack_scores("rmia", trained.target, trained, data)


def test_label_only_outputs_leave_the_label_only_attack_unchanged(playground):
    base = playground.update(output="probabilities").scores["label-only"]
    for output in ("label only", "rounding", "noise"):
        np.testing.assert_array_equal(playground.update(output=output).scores["label-only"], base)
    hidden = playground.update(output="label only")
    assert hidden.attack_rows()[3]["AUC"] > 0.6  # hiding confidences does not stop it


def auc(result, attack):
    return next(r["AUC"] for r in result.attack_rows() if r["attack"] == attack)


def test_less_l2_never_makes_the_attacks_weaker_beyond_noise(playground):
    results = [playground.update(output="probabilities", l2=l2) for l2 in (1e-1, 1e-2, 1e-3, 0.0)]
    for attack in ("loss", "LiRA", "RMIA", "label-only"):
        aucs = [auc(r, attack) for r in results]
        assert all(b >= a - AUC_NOISE for a, b in zip(aucs, aucs[1:])), (attack, aucs)
    assert auc(results[-1], "LiRA") > auc(results[0], "LiRA") + 0.1  # and over the range it matters
    playground.update(l2=0.0)


def test_more_epsilon_never_makes_the_attacks_weaker_beyond_noise(playground):
    results = [playground.update(epsilon=e) for e in (0.5, 2.0, 8.0, None)]
    assert [r.epsilon for r in results[:3]] == pytest.approx([0.5, 2.0, 8.0], rel=0.02)  # accountant
    for attack in ("loss", "LiRA", "RMIA", "label-only"):
        aucs = [auc(r, attack) for r in results]
        assert all(b >= a - AUC_NOISE for a, b in zip(aucs, aucs[1:])), (attack, aucs)
    assert auc(results[0], "RMIA") < 0.56 < 0.75 < auc(results[-1], "RMIA")
    playground.update(epsilon=None)


def test_alice_is_exposed_by_default_and_protected_by_dp(playground):
    exposed = playground.update(epsilon=None, output="probabilities")
    with_site, without = exposed.alice_click
    assert with_site > 0.9 and with_site - without > 0.5  # the story's confidence gap
    assert {r["attack"]: r["Alice flagged"] for r in exposed.attack_rows()}["LiRA"]
    private = playground.update(epsilon=1.0)
    assert abs(private.alice_click[0] - private.alice_click[1]) < 0.1
    assert not any(r["Alice flagged"] for r in private.attack_rows())
    playground.update(epsilon=None)


@pytest.mark.parametrize("n_non_members, fpr", [(250, 0.04), (500, 0.02), (1000, 0.01), (2000, 0.01), (10**5, 0.01)])
def test_resolved_fpr_is_the_lowest_rate_with_ten_false_positives(n_non_members, fpr):
    assert resolved_fpr(n_non_members) == pytest.approx(fpr)
    assert resolved_fpr(n_non_members) * n_non_members >= 10 - 1e-9
    assert resolved_fpr(10**5, lowest=0.001) == pytest.approx(0.001)


@pytest.mark.parametrize("args, error", [((0,), ValueError), ((1.5,), TypeError), ((500, 0.0), ValueError)])
def test_resolved_fpr_refuses_bad_input(args, error):
    with pytest.raises(error, match="n_non_members" if len(args) == 1 else "lowest"):
        resolved_fpr(*args)


def test_the_table_reports_only_rates_its_non_members_resolve(playground):
    """500 non-members: TPR at 2% FPR (10 false positives), nothing at 1% (5) or 0.1% (0.5)."""
    result = playground.update(output="probabilities", epsilon=None)
    n_out = int((~result.is_member).sum())
    assert n_out == 500 and result.fpr == pytest.approx(0.02)
    for row in result.attack_rows():
        assert set(row) == {"attack", "AUC", "FPR", "TPR", "Alice beats", "Alice flagged"}
        assert row["FPR"] * n_out >= 10 - 1e-9
        assert row["TPR"] == tpr_at_fpr(result.is_member, result.scores[row["attack"]], 0.02)
