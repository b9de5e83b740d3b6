"""How fast does the playground answer? Median and 95th percentile update times.

    python benchmarks/bench_playground.py        (about a minute on 2 cores)

Builds the full playground widget (headless: no browser; the callbacks run exactly as in
JupyterLab, including drawing the PNG the browser shows), then plays a scripted session:
every control is moved at least once, and some are moved back, as a learner comparing two
settings would. Each update is timed from the control change to the new picture. Writes the
median, the 95th percentile, and both split by whether the update had to train models, to
benchmarks/RESULTS.md. Target on a 2-core CPU: median under 1 s.
"""
import datetime
import os
import platform
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from mia_course.playground_attacks import ATTACKS  # noqa: E402
from mia_course.widgets import OFF, PlaygroundWidget  # noqa: E402
from results import write_section  # noqa: E402  (benchmarks/results.py)

SESSION = [  # (control, new value)
    ("epochs", 50), ("epochs", 30), ("l2", 1e-3), ("l2", 1e-2), ("l2", 0.0),
    ("dropout", 0.5), ("dropout", 0.0), ("hidden_units", 64), ("hidden_units", 256),
    ("output", "noise"), ("noise_scale", 0.2), ("output", "rounding"), ("decimals", 0),
    ("output", "label only"), ("output", "probabilities"), ("attacks", ("loss", "LiRA")),
    ("attacks", ATTACKS), ("n_shadows", 32), ("n_shadows", 16), ("epsilon", 4.0),
    ("epsilon", 1.0), ("epsilon", OFF), ("n_members", 1000), ("n_members", 500),
]


def play_session(widget, session=SESSION):
    """Move the widget's controls as scripted; ``(control, value, seconds, trained)`` rows."""
    rows = []
    for name, value in session:
        widget.controls[name].value = value  # runs the callback, as a browser's change would
        rows.append((name, value, widget.update_times[-1], widget.result.retrained))
    return rows


def main():
    warnings.filterwarnings("ignore")
    widget = PlaygroundWidget(random_state=0)
    first = widget.update_times[0]
    rows = play_session(widget)
    times = np.array([r[2] for r in rows])
    retrained = np.array([r[3] for r in rows])
    median, p95 = np.median(times), np.percentile(times, 95)
    checks = {"median update under 1 s": median < 1.0}
    table = "\n".join(f"| {n} = {v if v != OFF else 'off'} | {t:.2f} s | {'yes' if r else 'no'} |"
                      for n, v, t, r in rows)
    body = f"""## Playground: update latency
Measured {datetime.date.today()} on {platform.processor() or platform.machine()}, {os.cpu_count()} cores,
torch {torch.__version__}. Full playground (all controls, four attacks, 16 shadows,
500 members), headless; each update timed from the control change to the new PNG.

| | value |
|---|---|
| first render | {first:.2f} s |
| median update ({len(times)} changes) | {median:.2f} s |
| 95th percentile | {p95:.2f} s |
| median / p95 of the {int(retrained.sum())} updates that train models | {np.median(times[retrained]):.2f} s / {np.percentile(times[retrained], 95):.2f} s |
| median / p95 of the {int((~retrained).sum())} that reuse them | {np.median(times[~retrained]):.2f} s / {np.percentile(times[~retrained], 95):.2f} s |

<details><summary>the scripted session</summary>

| change | time | trained models |
|---|---|---|
{table}
</details>

""" + "\n".join(f"- [{'x' if ok else ' '}] {name}" for name, ok in checks.items())
    write_section("playground", body)
    print(body)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
