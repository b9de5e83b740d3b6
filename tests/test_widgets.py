"""The playground's widgets, driven headless: set control values, the callbacks run, the
outputs change the right way."""
import ipywidgets as widgets
import numpy as np
import pytest

from mia_course.playground import Playground
from mia_course.widgets import (CONTROLS, LOSS_FLOOR, OFF, AttackToggles, PlaygroundWidget, histogram_scores,
                                make_control, playground_figure, summary_html)


@pytest.fixture(scope="module")
def widget():
    return PlaygroundWidget()


def test_every_setting_has_a_control_showing_the_default(widget):
    assert set(widget.controls) == set(CONTROLS)
    assert widget.controls["epochs"].value == 30 and widget.controls["epsilon"].value == OFF
    assert widget.settings()["epsilon"] is None  # "off" is no DP
    assert "mia-playground" in widget.box._dom_classes
    assert widget.image.value[:4] == b"\x89PNG" and "AUC" in widget.table.value


def test_moving_a_slider_updates_every_output(widget):
    before_png, before_table, n = widget.image.value, widget.table.value, len(widget.update_times)
    statuses = []
    widget.status.observe(lambda change: statuses.append(change["new"]), names="value")
    widget.controls["epochs"].value = 10
    assert widget.result.settings["epochs"] == 10 and len(widget.update_times) == n + 1
    assert widget.image.value != before_png and widget.table.value != before_table
    assert any("training" in s for s in statuses)  # the progress note came before the result
    assert "updated in" in widget.status.value
    widget.controls["epochs"].value = 30
    assert widget.image.value == before_png  # back to the cached result, same picture


def test_label_only_output_keeps_the_label_only_numbers(widget):
    def label_only_row():
        return next(r for r in widget.result.attack_rows() if r["attack"] == "label-only")
    base = label_only_row()
    widget.controls["output"].value = "label only"
    assert label_only_row() == base
    loss_rows = [r for r in widget.result.attack_rows() if r["attack"] == "loss"]
    widget.controls["output"].value = "probabilities"
    assert loss_rows[0] != next(r for r in widget.result.attack_rows() if r["attack"] == "loss")


def test_epsilon_slider_weakens_the_attacks(widget):
    open_auc = {r["attack"]: r["AUC"] for r in widget.result.attack_rows()}
    widget.controls["epsilon"].value = 1.0
    assert widget.result.epsilon == pytest.approx(1.0, rel=0.02)
    private_auc = {r["attack"]: r["AUC"] for r in widget.result.attack_rows()}
    assert all(private_auc[a] < open_auc[a] - 0.05 for a in ("LiRA", "RMIA"))
    assert "accountant" in widget.table.value
    widget.controls["epsilon"].value = OFF
    assert widget.result.epsilon == np.inf


def test_choosing_attacks_redraws_without_retraining(widget):
    widget.controls["attacks"].value = ("loss", "LiRA")
    assert list(widget.result.scores) == ["loss", "LiRA"] and not widget.result.retrained
    assert len(playground_figure(widget.result).axes) == 3  # ROC + one histogram per attack
    widget.controls["attacks"].value = tuple(CONTROLS["attacks"][1])


def test_an_impossible_choice_is_explained_and_the_last_result_kept(widget):
    before, n = widget.result, len(widget.update_times)
    widget.controls["attacks"].value = ()
    assert "attacks" in widget.status.value and "non-empty" in widget.status.value
    assert widget.result is before and len(widget.update_times) == n
    widget.controls["attacks"].value = ("loss",)
    assert list(widget.result.scores) == ["loss"] and "updated in" in widget.status.value
    widget.controls["attacks"].value = tuple(CONTROLS["attacks"][1])


def test_a_small_widget_shows_only_its_controls():
    small = PlaygroundWidget(controls=("n_shadows",), attacks=("loss", "LiRA"), n_shadows=8)
    assert list(small.controls) == ["n_shadows"] and small.controls["n_shadows"].value == 8
    assert set(small.result.scores) == {"loss", "LiRA"}
    small.controls["n_shadows"].value = 4
    assert small.playground.settings["n_shadows"] == 4


def test_a_given_playground_is_used_as_is():
    pg = Playground(epochs=5)
    assert PlaygroundWidget(controls=("l2",), playground=pg).playground is pg


def test_summary_names_every_attack_and_alice(widget):
    html = summary_html(widget.result)
    assert all(a in html for a in widget.result.scores) and "Alice" in html and "<table>" in html


def test_summary_reports_tpr_only_where_the_non_members_resolve_it(widget):
    """500 non-members: one TPR column, at 2% FPR (10 false positives), and the table says why."""
    html = summary_html(widget.result)
    assert "TPR @ 2% FPR" in html and "TPR @ 1% FPR" not in html and "TPR @ 0.1% FPR" not in html
    assert "500 non-members" in html and "10 false positives" in html


@pytest.mark.parametrize("name, value, error", [
    ("colour", 1, "name"), ("epochs", 31, "epochs"), ("output", "blur", "output")])
def test_make_control_refuses_bad_input(name, value, error):
    with pytest.raises(ValueError, match=error):
        make_control(name, value)


def test_controls_are_the_right_kind():
    assert isinstance(make_control("epochs", 30), widgets.SelectionSlider)
    assert not make_control("epochs", 30).continuous_update  # retrain on release, not per pixel
    assert isinstance(make_control("output", "noise"), widgets.Dropdown)
    assert isinstance(make_control("attacks", ("loss",)), AttackToggles)
    assert make_control("epsilon", None).value == OFF


def test_bad_controls_are_refused():
    with pytest.raises(ValueError, match="controls"):
        PlaygroundWidget(controls=("epochs", "colour"))
    with pytest.raises(ValueError, match="controls"):
        PlaygroundWidget(controls="epochs")


@pytest.mark.timed
def test_the_scripted_session_answers_in_under_a_second_at_the_median():
    """The latency target of benchmarks/bench_playground.py, on a fresh playground: every
    control moved at least once, some moved back (the benchmark writes the full numbers)."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_playground import play_session
    rows = play_session(PlaygroundWidget(random_state=0))
    times = [seconds for _, _, seconds, _ in rows]
    assert sum(trained for *_, trained in rows) >= 8  # the session does retrain, often
    assert np.median(times) < 1.0, f"median update {np.median(times):.2f} s: {rows}"


def test_the_chosen_attacks_are_visible_at_a_glance():
    control = make_control("attacks", ("loss", "RMIA"))
    ticked = {a for a, b in control.buttons.items() if b.value and b.icon == "check" and b.button_style}
    assert ticked == {"loss", "RMIA"} and control.value == ("loss", "RMIA")
    assert all(not b.icon and not b.button_style for a, b in control.buttons.items() if a not in ticked)
    control.buttons["LiRA"].value = True  # a click on "LiRA"
    assert control.value == ("loss", "LiRA", "RMIA") and control.buttons["LiRA"].icon == "check"
    control.value = ("label-only",)  # set from code: the buttons follow
    assert [a for a, b in control.buttons.items() if b.value] == ["label-only"]
    assert control.buttons["loss"].icon == ""
    with pytest.raises(ValueError, match="attacks"):
        make_control("attacks", ("loss", "magic"))


def test_the_redraw_never_goes_through_pyplot(widget, monkeypatch):
    """A figure pyplot knows can be shown by the notebook's inline backend outside the widget
    (JupyterLab's Log Console, an empty picture in the widget): the redraw makes none."""
    import matplotlib.pyplot as plt

    def refuse(*args, **kwargs):
        raise AssertionError("the playground's redraw used pyplot")
    for name in ("figure", "subplots", "gcf", "gca", "show", "close"):
        monkeypatch.setattr(plt, name, refuse)
    before, shown = plt.get_fignums(), len(widget.update_times)
    widget.controls["output"].value = "rounding"
    widget.controls["output"].value = "probabilities"
    assert len(widget.update_times) == shown + 2 and "updated in" in widget.status.value
    monkeypatch.undo()
    assert plt.get_fignums() == before


def test_updates_are_serialized_and_the_last_change_wins(widget):
    """A change that arrives while an update is drawing is drawn next, with the latest values."""
    import threading
    started, release = threading.Event(), threading.Event()
    real = widget._refresh
    calls = []

    def slow_refresh():
        calls.append(widget.settings()["output"])
        if len(calls) == 1:
            started.set()
            release.wait(10)
        real()
    widget._refresh = slow_refresh
    try:
        first = threading.Thread(target=widget.refresh)
        first.start()
        started.wait(10)
        widget.controls["output"].unobserve(widget._changed, names="value")
        widget.controls["output"].value = "noise"
        widget.controls["output"].observe(widget._changed, names="value")
        widget.refresh()  # comes while the first draws: returns at once, left to the first
        assert calls == ["probabilities"]
        release.set()
        first.join(30)
        assert calls == ["probabilities", "noise"] and widget.result.settings["output"] == "noise"
    finally:
        del widget._refresh
        widget.controls["output"].value = "probabilities"


def test_the_loss_histogram_under_rounded_outputs_is_readable(widget):
    widget.controls["output"].value = "rounding"
    widget.controls["decimals"].value = 1
    raw = widget.result.scores["loss"]
    assert raw.min() < -100  # a rounded 0 for the true class: log(0) floored far below
    shown, xlabel = histogram_scores("loss", raw, widget.result.alice_index)
    assert shown.min() >= LOSS_FLOOR and "left bar" in xlabel
    assert shown.max() - shown.min() < 10, "the axis spans the records, not a log(0)"
    counts, _ = np.histogram(shown, bins=30)
    assert (counts > 0).sum() >= 4, "the records fall in more than one or two bars"
    np.testing.assert_array_equal(shown[raw > LOSS_FLOOR], raw[raw > LOSS_FLOOR])  # only the tail moves
    widget.controls["output"].value = "probabilities"


def test_the_controls_and_the_picture_fit_the_notebook_column(widget):
    grid = widget.box.children[0]
    assert "auto-fill" in grid.layout.grid_template_columns  # as many columns as fit, then wrap
    assert all(c.layout.width == "100%" for n, c in widget.controls.items() if n != "attacks")
    assert widget.image.layout.max_width == "100%"
