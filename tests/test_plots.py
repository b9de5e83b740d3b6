import matplotlib.pyplot as plt
import numpy as np
import pytest

from mia_course.plots import plot_roc_curves, plot_score_histograms

RNG = np.random.default_rng(0)
MEMBER = np.r_[np.ones(50, bool), np.zeros(50, bool)]
SCORES = RNG.normal(size=100) + MEMBER


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_plot_roc_curves_log_log_one_line_per_attack():
    results = {"loss": (MEMBER, SCORES), "random": (MEMBER, RNG.normal(size=100))}
    ax = plot_roc_curves(results)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert len(ax.lines) == 3  # two attacks and the random-guess diagonal
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("loss  AUC") and labels[1].startswith("random  AUC")
    assert labels[2] == "random guess"
    gx, gy = ax.lines[2].get_data()
    np.testing.assert_allclose(gx, gy)  # the diagonal
    x, y = ax.lines[0].get_data()
    assert np.all(x > 0) and np.all(y > 0)  # clipped above 0 for the log axes
    # 50 non-members: 10 false positives need FPR >= 0.2; nothing is drawn below it
    assert x.min() == pytest.approx(10 / 50) and ax.get_xlim()[0] == pytest.approx(10 / 50)
    assert len(ax.collections) == 2  # one uncertainty band per attack


def test_plot_roc_curves_band_is_clopper_pearson_around_the_curve():
    from mia_course.audit import clopper_pearson
    from mia_course.metrics import tpr_at_fpr
    rng = np.random.default_rng(1)
    member = np.r_[np.ones(300, bool), np.zeros(3000, bool)]
    scores = rng.normal(size=3300) + member
    ax = plot_roc_curves({"a": (member, scores)}, min_false_positives=30)
    x, y = ax.lines[0].get_data()
    assert x.min() == pytest.approx(30 / 3000)
    k = np.searchsorted(x, 0.05)
    assert y[k] == pytest.approx(tpr_at_fpr(member, scores, x[k]))
    low, high = clopper_pearson(round(y[k] * 300), 300)
    band = ax.collections[0].get_paths()[0].vertices  # the band's outline: x values and TPR limits
    at = band[np.isclose(band[:, 0], x[k])][:, 1]
    assert at.min() == pytest.approx(max(low, 1e-4)) and at.max() == pytest.approx(high)
    assert low < y[k] < high
    with pytest.raises(ValueError, match="min_false_positives"):
        plot_roc_curves({"a": (member, scores)}, min_false_positives=0)


def test_plot_roc_curves_uses_given_axes():
    _, ax = plt.subplots()
    assert plot_roc_curves({"a": (MEMBER, SCORES)}, ax=ax, title="T") is ax
    assert ax.get_title() == "T" and len(ax.lines) == 2


def test_plot_score_histograms():
    ax = plot_score_histograms(MEMBER, SCORES, bins=10)
    assert len(ax.patches) == 2  # one filled step outline per group (fast to draw)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["members", "non-members"]
    for patch, rows in zip(ax.patches, (MEMBER, ~MEMBER)):
        values, edges = patch.get_data().values, patch.get_data().edges
        assert len(values) == 10
        np.testing.assert_allclose((values * np.diff(edges)).sum(), 1.0)  # a density
        np.testing.assert_allclose(values, np.histogram(SCORES[rows], bins=edges, density=True)[0])


@pytest.mark.parametrize("results, match", [
    ({}, "results"),
    ([(MEMBER, SCORES)], "results"),
    (None, "results"),
    ({"a": SCORES}, r"results\['a'\]"),
    ({"a": (MEMBER, SCORES, SCORES)}, r"results\['a'\]"),
])
def test_plot_roc_curves_bad_results(results, match):
    with pytest.raises(TypeError, match=match):
        plot_roc_curves(results)


@pytest.mark.parametrize("member, scores, err, match", [
    (MEMBER, np.r_[SCORES[:-1], np.nan], ValueError, "scores"),
    (MEMBER[:10], SCORES, ValueError, "is_member"),
    (np.ones(100, bool), SCORES, ValueError, "is_member"),
    (np.full(100, 2), SCORES, ValueError, "is_member"),
    ([], [], ValueError, "scores"),
    (MEMBER, None, TypeError, "scores"),
])
def test_bad_member_scores_inputs(member, scores, err, match):
    with pytest.raises(err, match=match):
        plot_score_histograms(member, scores)
    with pytest.raises(err, match=match):
        plot_roc_curves({"a": (member, scores)})
