"""The figures a learner looks at: labels inside the picture, axis labels that say what is
plotted, a colour-blind-safe palette, DP's slider in privacy order, and the widgets' static
picture for pages without a kernel."""
import base64
import re
from types import SimpleNamespace

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

import mia_course
from mia_course.plots import MEMBER_COLOR, NON_MEMBER_COLOR, PALETTE
from mia_course.widgets import CONTROLS, OFF, figure_png, playground_figure, static_html

# Machado, Oliveira & Fernandes (2009) colour-vision-deficiency matrices (severity 1), linear RGB
CVD = {"protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
       "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]],
       "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]]}


def seen_apart(a, b):
    """Smallest sRGB distance between two colours as people with each kind of dichromacy see them."""
    def lin(c):
        c = np.asarray(matplotlib.colors.to_rgb(c))
        return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    def srgb(c):
        c = np.clip(c, 0, 1)
        return np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)
    return min(np.linalg.norm(srgb(np.array(m) @ lin(a)) - srgb(np.array(m) @ lin(b))) for m in CVD.values())


def fake_result(names, n=400, seed=0):
    rng = np.random.default_rng(seed)
    is_member = np.arange(n) < n // 2
    return SimpleNamespace(scores={name: rng.normal(is_member * 1.0, 1.0) for name in names},
                           is_member=is_member, alice_index=0)


def test_members_and_non_members_stay_apart_for_colour_blind_readers():
    assert seen_apart(MEMBER_COLOR, NON_MEMBER_COLOR) > 0.25
    assert seen_apart("tab:red", "tab:green") < 0.25  # the check can fail: red vs green does


def test_setup_notebook_sets_the_palette():
    mia_course.setup_notebook()
    try:
        cycle = [c["color"] for c in plt.rcParams["axes.prop_cycle"]]
        assert [c.lower() for c in cycle] == [c.lower() for c in PALETTE]
        assert (cycle[0], cycle[3]) == (NON_MEMBER_COLOR, MEMBER_COLOR)  # lessons use C0 / C3
    finally:
        matplotlib.rcdefaults()
        matplotlib.use("Agg")


@pytest.mark.parametrize("names", [("loss",), ("loss", "LiRA", "RMIA")])
def test_playground_figure_labels_fit_and_say_what_is_plotted(names):
    fig = playground_figure(fake_result(names))
    fig.canvas.draw()
    box = fig.bbox
    roc, *hists = fig.axes
    for ax in fig.axes:
        for label in (ax.xaxis.label, ax.yaxis.label):
            extent = label.get_window_extent()
            assert label.get_text(), "every axis has a label"
            assert extent.x0 >= box.x0 and extent.y0 >= box.y0 and extent.x1 <= box.x1 and extent.y1 <= box.y1, \
                f"the label {label.get_text()!r} is cut off"
    assert "false positive rate" in roc.get_xlabel()
    for name, ax in zip(names, hists):
        assert name in ax.get_xlabel() and "score" in ax.get_xlabel()
        assert ax.get_ylabel() == "density"
    plt.close(fig)


def test_each_step_of_the_epsilon_slider_means_more_privacy():
    options = CONTROLS["epsilon"][1]
    assert options[0] == OFF
    assert all(a > b for a, b in zip(options, options[1:])), f"epsilon goes {options}: each step right is smaller"


def test_static_html_shows_the_first_state_and_says_the_knobs_need_a_notebook():
    fig = playground_figure(fake_result(("loss",)))
    png = figure_png(fig)
    widget = SimpleNamespace(image=SimpleNamespace(value=png), table=SimpleNamespace(value="<table>t</table>"))
    page = static_html(widget)
    assert "running notebook" in page and "<table>t</table>" in page
    encoded = re.search(r'src="data:image/png;base64,([^"]+)"', page).group(1)
    assert base64.b64decode(encoded) == png


def test_the_widget_carries_its_static_picture_next_to_the_live_view():
    from mia_course.widgets import PlaygroundWidget
    widget = PlaygroundWidget(controls=("epochs", "epsilon"), n_members=250, hidden_units=16, epochs=5,
                              n_shadows=2, attacks=("loss",))
    bundle = widget._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle  # JupyterLab shows the live widget
    assert bundle["text/html"] == static_html(widget)              # a static page, its first state
