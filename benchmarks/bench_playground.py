"""How fast does the playground answer? Median and 95th percentile update times.

    python benchmarks/bench_playground.py        (a few minutes on 2 cores)
    python benchmarks/bench_playground.py --single-knob --no-write    (only the single-knob moves)

Builds the full playground widget (headless: no browser; the callbacks run exactly as in
JupyterLab, including drawing the PNG the browser shows), then plays a scripted session:
every control is moved at least once, and some are moved back, as a learner comparing two
settings would. Each update is timed from the control change to the new picture. Writes the
median, the 95th percentile, and both split by whether the update had to train models, to
benchmarks/RESULTS.md. Target on a 2-core CPU: median under 1 s.

Then every single-knob move from the default state (each option of each control, from the
defaults, retraining included; back to the defaults in between, untimed), idle and again while
a second process spins on one core (issue 23's targets: 95th percentile at most 1 s idle,
median at most 1 s busy), each in a fresh process with a fresh playground.
"""
import argparse
import json
import subprocess
import sys
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


def single_knob_moves(widget):
    """Each option of each control, moved to from the defaults (back to them in between);
    ``(control, value, seconds, trained)`` rows."""
    from mia_course.widgets import CONTROLS
    defaults = {name: control.value for name, control in widget.controls.items()}
    rows = []
    for name, (_, options) in CONTROLS.items():
        if name in ("noise_scale", "decimals"):
            continue  # off (greyed out) in the default state: they apply to noise / rounding only
        moves = [tuple(a for a in ATTACKS if a != drop) for drop in ATTACKS] if name == "attacks" else options
        for value in moves:
            if value == defaults[name]:
                continue
            widget.controls[name].value = value
            rows.append((name, value, widget.update_times[-1], widget.result.retrained))
            widget.controls[name].value = defaults[name]  # cached: the defaults' models
    return rows


def _single_knob_worker():
    warnings.filterwarnings("ignore")
    rows = single_knob_moves(PlaygroundWidget(random_state=0))
    print(json.dumps([(n, v if v != OFF else "off", t, bool(r)) for n, v, t, r in rows]))


def single_knob(busy):
    """single_knob_moves in a fresh process, with a second process spinning if ``busy``."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        out = subprocess.run([sys.executable, __file__, "--worker"], stdout=subprocess.PIPE, text=True, check=True)
    finally:
        if spinner:
            spinner.kill()
            spinner.wait()
    return json.loads(out.stdout.strip().splitlines()[-1])


def single_knob_section():
    idle, busy = single_knob(False), single_knob(True)
    t_idle, t_busy = np.array([r[2] for r in idle]), np.array([r[2] for r in busy])
    checks = {"idle: 95th percentile at most 1 s": np.percentile(t_idle, 95) <= 1.0,
              "one core busy: median at most 1 s": np.median(t_busy) <= 1.0}
    table = "\n".join(f"| {n} = {v} | {a:.2f} s | {b:.2f} s | {'yes' if r else 'no'} |"
                      for (n, v, a, r), (_, _, b, _) in zip(idle, busy))
    body = f"""## Playground: every single-knob move from the default state
Measured {datetime.date.today()} on {platform.processor() or platform.machine()}, {os.cpu_count()} cores,
torch {torch.__version__}. Full playground, headless, fresh for each column; each option of
each control moved to from the defaults (retraining included), timed from the control change
to the new PNG. "Busy": a second process spins on one core.

| | idle | one core busy |
|---|---|---|
| moves | {len(t_idle)} | {len(t_busy)} |
| median | {np.median(t_idle):.2f} s | {np.median(t_busy):.2f} s |
| 95th percentile | {np.percentile(t_idle, 95):.2f} s | {np.percentile(t_busy, 95):.2f} s |
| slowest | {t_idle.max():.2f} s | {t_busy.max():.2f} s |

<details><summary>every move</summary>

| move | idle | busy | trained models |
|---|---|---|---|
{table}
</details>

""" + "\n".join(f"- [{'x' if ok else ' '}] {name}" for name, ok in checks.items())
    return body, checks


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single-knob", action="store_true", help="only the single-knob moves")
    parser.add_argument("--no-write", action="store_true", help="print, do not write RESULTS.md")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return _single_knob_worker()
    body, checks = single_knob_section()
    print(body)
    if not args.no_write:
        write_section("playground-single-knob", body)
    if args.single_knob:
        return 0 if all(checks.values()) else 1
    return session(args.no_write)


def session(no_write=False):
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
    if not no_write:
        write_section("playground", body)
    print(body)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
