"""The playground's controls: thin ipywidgets front ends over ``mia_course.playground``.

Introduced in notebooks/13_playground.ipynb (small versions in lessons 01, 04 and 09).

All the work happens in plain functions that tests call directly: ``Playground.update``
computes, ``playground_figure`` draws, ``summary_html`` writes the table. A widget only
reads its controls, calls them, and shows what they return.

The figure never goes through pyplot: ``playground_figure`` builds a bare ``Figure`` that no
backend knows, so the notebook's inline backend can never show it by itself (in a widget's
callback, such an output lands in JupyterLab's Log Console instead of the widget). Updates are
serialized: a change that arrives while one is drawn is drawn next, with the latest settings.
"""
import html
import io
import threading
import time
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
import traitlets
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from numpy.typing import ArrayLike

from mia_course.playground import OUTPUTS, Playground, PlaygroundResult
from mia_course.playground_attacks import ATTACKS
from mia_course.plots import plot_roc_curves, plot_score_histograms
from mia_course.queries import PROBABILITY_FLOOR

# control name -> (label, options); epsilon "off" (no DP) is None in the settings
OFF = float("inf")  # and inf on its slider (a slider cannot hold None)
CONTROLS = {
    "n_members": ("training set", (250, 500, 1000, 2000)),
    "hidden_units": ("width", (16, 32, 64, 128, 256, 512)),
    "epochs": ("epochs", (5, 10, 20, 30, 50, 100)),
    "l2": ("L2", (0.0, 1e-4, 1e-3, 1e-2, 1e-1)),
    "dropout": ("dropout", (0.0, 0.25, 0.5, 0.75)),
    # each step right is a bit more privacy: off (no DP), then a smaller and smaller epsilon
    "epsilon": ("DP epsilon", (OFF, 16.0, 8.0, 4.0, 2.0, 1.0, 0.5)),
    "output": ("API returns", OUTPUTS),
    "noise_scale": ("noise", (0.01, 0.05, 0.1, 0.2, 0.5)),
    "decimals": ("decimals", (0, 1, 2, 3)),
    "n_shadows": ("shadows", (2, 4, 8, 16, 32, 64)),
    "attacks": ("attacks", ATTACKS),
}


class AttackToggles(widgets.HBox):
    """One toggle button per attack, each marked with a tick when chosen (``value``: the tuple of
    chosen attacks, as a ``SelectMultiple``'s), so the choice is visible at a glance.

    Introduced in notebooks/13_playground.ipynb."""

    value = traitlets.Tuple()

    def __init__(self, options: Sequence[str], value: Sequence[str], description: str = "attacks") -> None:
        self.options, self._syncing = tuple(options), False
        self.buttons = {a: widgets.ToggleButton(description=a, value=a in value, tooltip=f"attack: {a}",
                                                layout=widgets.Layout(width="auto"))
                        for a in self.options}
        label = widgets.Label(description, layout=widgets.Layout(width="90px"))
        super().__init__([label, *self.buttons.values()],
                         layout=widgets.Layout(flex_flow="row wrap", grid_column="1 / -1"))
        self.add_class("mia-attacks")
        self.value = tuple(a for a in self.options if a in value)
        self._restyle()
        for button in self.buttons.values():
            button.observe(self._clicked, names="value")

    def _clicked(self, change: Any) -> None:
        if not self._syncing:  # a click, not the buttons following a new value
            self.value = tuple(a for a, b in self.buttons.items() if b.value)

    @traitlets.observe("value")
    def _sync(self, change: Any) -> None:
        self._syncing = True
        try:
            for a, button in self.buttons.items():
                button.value = a in change["new"]
        finally:
            self._syncing = False
        self._restyle()

    def _restyle(self) -> None:
        for a, button in self.buttons.items():
            button.icon, button.button_style = ("check", "success") if a in self.value else ("", "")


def make_control(name: str, value: Any) -> widgets.DOMWidget:
    """The ipywidget for one setting, starting at ``value`` (it must be one of the options):
    a slider, a dropdown, or for the attacks one toggle button each (``AttackToggles``).

    Introduced in notebooks/13_playground.ipynb."""
    if name not in CONTROLS:
        raise ValueError(f"name: expected one of {sorted(CONTROLS)}, got {name!r}")
    label, options = CONTROLS[name]
    style = {"description_width": "90px"}
    fit = widgets.Layout(width="100%", min_width="0")  # shrinks with its grid cell: fits the column
    if name == "attacks":
        if isinstance(value, str) or not all(v in options for v in value):
            raise ValueError(f"attacks: expected names from {options}, got {value!r}")
        return AttackToggles(options, value, description=label)
    value = OFF if value is None else value
    if value not in options:
        raise ValueError(f"{name}: the control offers {options}, got {value!r}")
    if name == "output":
        return widgets.Dropdown(options=options, value=value, description=label, style=style, layout=fit)
    pairs = [("off" if v == OFF else f"{v:g}", v) for v in options]
    return widgets.SelectionSlider(options=pairs, value=value, description=label,
                                   continuous_update=False, style=style, layout=fit)


def summary_html(result: PlaygroundResult) -> str:
    """The result as an HTML table: accuracy, epsilon, Alice, and one row per attack.

    Introduced in notebooks/13_playground.ipynb."""
    eps = "no DP" if np.isinf(result.epsilon) else f"&epsilon; = {result.epsilon:.2f} (Opacus RDP accountant)"
    with_site, without = result.alice_click
    head = (f"<p><b>test accuracy {result.test_accuracy:.1%}</b> (train {result.train_accuracy:.1%}), {eps}. "
            f"The API's click confidence for Alice: <b>{with_site:.1%}</b> with her rare-disease visit, "
            f"{without:.1%} without it.</p>")
    pad = 'style="padding: 2px 12px; text-align: left"'
    fpr, n_out = result.fpr, int(np.sum(~np.asarray(result.is_member, bool)))
    cells = "".join(
        f"<tr><td {pad}>{r['attack']}</td><td {pad}>{r['AUC']:.3f}</td><td {pad}>{r['TPR']:.1%}</td>"
        f"<td {pad}>{r['Alice beats']:.0%} of non-members"
        f"{' &mdash; <b>flagged</b>' if r['Alice flagged'] else ''}</td></tr>" for r in result.attack_rows())
    heads = "".join(f"<th {pad}>{h}</th>" for h in ("attack", "AUC", f"TPR @ {fpr:.0%} FPR",
                                                    "Alice scores above"))
    note = (f"<p><small>TPR at {fpr:.0%} FPR: the lowest rate {n_out:,} non-members resolve, "
            f"{fpr * n_out:.0f} false positives (a rate needs about 10; at 0.1% FPR "
            f"they would give {0.001 * n_out:g}). Alice is flagged if she passes the threshold that "
            f"flags {fpr:.0%} of non-members.</small></p>")
    return f"{head}<table><tr>{heads}</tr>{cells}</table>{note}"


def playground_figure(result: PlaygroundResult) -> Figure:
    """Log-log ROC of the chosen attacks (left) and member vs non-member score histograms,
    one per attack, with Alice marked (right).

    Introduced in notebooks/13_playground.ipynb."""
    names = list(result.scores)
    height = max(4.0, 1.9 * len(names))
    fig = Figure(figsize=(10, height))  # not pyplot's: no backend can show it by itself
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(len(names), 2, width_ratios=(1.1, 1))
    roc_ax = plot_roc_curves({n: (result.is_member, s) for n, s in result.scores.items()},
                             ax=fig.add_subplot(grid[:, 0]))
    roc_ax.minorticks_off()  # plain tick labels, no minor ticks: much faster to draw, and
    for axis in (roc_ax.xaxis, roc_ax.yaxis):  # 0.001 reads as easily as 10^-3
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    for i, name in enumerate(names):
        ax = fig.add_subplot(grid[i, 1])
        scores, xlabel = histogram_scores(name, result.scores[name], result.alice_index)
        plot_score_histograms(result.is_member, scores, ax=ax, bins=30, title="", xlabel=xlabel)
        ax.axvline(scores[result.alice_index], color="k", ls="--", lw=1.2, label="Alice")
        ax.xaxis.label.set_fontsize(9)
        ax.yaxis.label.set_fontsize(9)
        if i == 0:
            ax.legend(fontsize=7, loc="upper left")
        else:
            ax.get_legend().remove()
    # margins in inches: tick labels and an axis label need about 0.65 in below each plot
    bottom, top, gap = 0.65, 0.3, 0.75
    panel = (height - bottom - top - (len(names) - 1) * gap) / len(names)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=bottom / height, top=1 - top / height, wspace=0.25,
                        hspace=gap / panel)
    return fig


LOSS_FLOOR = float(np.log(PROBABILITY_FLOOR))  # a loss score below: "sure it is the wrong class"


def histogram_scores(name: str, scores: ArrayLike, alice_index: int) -> tuple[np.ndarray, str]:
    """The scores as the histogram shows them, and its axis label: long low tails clipped to the
    lowest 1% (or Alice, if lower). A loss score below ``log(PROBABILITY_FLOOR)`` (an API that
    rounds answers 0 for the true class of some records: the loss of a 0 stretches the axis to
    -700 and squeezes every other record into one bar) is drawn in a left bar of its own, one
    nat below the lowest 1% of the other records.

    Introduced in notebooks/13_playground.ipynb."""
    scores = np.asarray(scores, float)
    low = min(np.quantile(scores, 0.01), scores[alice_index])
    xlabel = f"{name} score (higher: more likely a member)"
    if name == "loss" and low < LOSS_FLOOR:
        real = scores[scores > LOSS_FLOOR]
        low = (float(np.quantile(real, 0.01)) if len(real) else LOSS_FLOOR) - 1.0
        xlabel = f"loss score, log p(true class) (left bar: {low:.1f} or less)"
    return np.clip(scores, low, None), xlabel


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()


def static_html(widget: "PlaygroundWidget") -> str:
    """What a page without a kernel shows in place of the widget: a note, its table and its plot
    as they first appeared.

    Introduced in notebooks/13_playground.ipynb."""
    import base64
    png = base64.b64encode(widget.image.value).decode("ascii")
    note = ("<p><i>Interactive in a running notebook only: open this lesson in JupyterLab "
            "(<code>mia-course lab</code>) to move the knobs. Below, its first state.</i></p>")
    return (f'<div class="mia-static">{note}{widget.table.value}'
            f'<img src="data:image/png;base64,{png}" alt="the playground\'s plots at its first settings"/></div>')


class PlaygroundWidget:
    """Controls for ``controls`` (names from ``CONTROLS``), a status line, the table and the
    plot. ``settings`` set the rest (e.g. ``attacks=("loss",)``); ``update_times`` records
    how long each update took, from control change to new picture.

    Introduced in notebooks/13_playground.ipynb."""

    def __init__(self, controls: Sequence[str] = tuple(CONTROLS), playground: Playground | None = None,
                 **settings: Any):
        unknown = [c for c in controls if c not in CONTROLS]
        if unknown or isinstance(controls, str):
            raise ValueError(f"controls: expected names from {sorted(CONTROLS)}, got {controls!r}")
        self.playground = playground if playground is not None else Playground(**settings)
        self.controls = {c: make_control(c, self.playground.settings[c]) for c in controls}
        self.status = widgets.HTML()
        self.table = widgets.HTML()
        # the picture scales down with the notebook column, never wider than it
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%", height="auto"))
        self.progress = widgets.Output()  # tqdm bars of long trainings appear here
        self.update_times = []
        self._lock, self._pending = threading.Lock(), False
        for control in self.controls.values():
            control.observe(self._changed, names="value")
        # as many columns of controls as fit (at least 250 px each): they wrap in a narrow column
        grid = widgets.GridBox(list(self.controls.values()), layout=widgets.Layout(
            grid_template_columns="repeat(auto-fill, minmax(250px, 1fr))", grid_gap="2px 12px", width="100%"))
        self.box = widgets.VBox([grid, self.status, self.progress, self.table,
                                 widgets.Box([self.image]).add_class("mia-plot")]).add_class("mia-playground")
        self.refresh()

    def _repr_mimebundle_(self, **kwargs):
        """The live widget for JupyterLab, and for a page with no kernel (the course website,
        a notebook viewer) its first state as a picture, with a note that the knobs need a
        running notebook."""
        bundle = self.box._repr_mimebundle_(**kwargs)
        bundle["text/html"] = static_html(self)
        return bundle

    def _changed(self, change):
        self.refresh()

    def refresh(self) -> None:
        """Recompute (from the cache where possible) and redraw, one update at a time: a call
        that comes while another is drawing leaves it to that one, which then draws again with
        the controls' latest values."""
        self._pending = True
        if not self._lock.acquire(blocking=False):
            return  # the running update sees _pending and draws the latest settings
        try:
            while self._pending:
                self._pending = False
                self._refresh()
        finally:
            self._lock.release()

    def settings(self) -> dict[str, Any]:
        """The controls' current values, as ``Playground.update`` takes them."""
        return {name: None if control.value == OFF else control.value
                for name, control in self.controls.items()}

    def _refresh(self) -> None:
        start = time.perf_counter()
        settings = self.settings()
        try:
            needs_training = self.playground.needs_training(**settings)  # validates the settings
        except (TypeError, ValueError) as err:  # e.g. no attack selected: say so, keep the last result
            self.status.value = f"<b style='color: #b00'>{html.escape(str(err))}</b>"
            return
        if needs_training:
            which = self.playground.models_to_train(**settings)
            n = {**self.playground.settings, **settings}["n_shadows"]
            what = " and ".join({"target": "the target", "shadows": f"{n} shadow models"}[w] for w in which)
            self.status.value = f"<i>&#8987; training {what}&hellip;</i>"
        with self.progress:
            self.result = self.playground.update(**settings)
        self.progress.clear_output()
        self.table.value = summary_html(self.result)
        self.image.value = figure_png(playground_figure(self.result))
        for name, output in (("noise_scale", "noise"), ("decimals", "rounding")):  # only when they apply
            if name in self.controls:
                self.controls[name].disabled = self.result.settings["output"] != output
        self.update_times.append(time.perf_counter() - start)
        self.status.value = f"<small>updated in {self.update_times[-1]:.2f} s</small>"
