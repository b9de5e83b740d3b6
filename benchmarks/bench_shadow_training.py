"""How fast do 64 shadow models train, on an idle machine and next to a busy process?

    python benchmarks/bench_shadow_training.py        (a few minutes on 2 cores; run it idle)
    python benchmarks/bench_shadow_training.py --n-models 8 --pool 400 --no-write   (a quick try)

Each timing runs in a fresh Python process (OpenMP reads its wait policy once, when torch
loads): 64 shadow models of the course's default architecture on the default data (each
trained on a random half of a 2,000-user pool) trained as one batched model, with

- the package's defaults (``OMP_WAIT_POLICY=PASSIVE``, set by ``import mia_course``; torch's
  default number of threads), on one thread, and with spinning OpenMP threads
  (``OMP_WAIT_POLICY=ACTIVE``, torch's own default before the package set it);
- each of them idle and again while a second process spins on one core (a learner's
  browser), and, once, the same 64 models trained one by one in a loop.

It checks that the batched and the looped models' accuracies agree, reports the training's
floating-point work and throughput (the workload is memory-bound: no target on it), and
writes the numbers to benchmarks/RESULTS.md. Targets on a 2-core CPU: batched in at most
15 s, at least 5x faster than the loop, and, next to the busy process, within 1.2x of the
one-thread idle time.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SETTINGS = {  # name: (OMP_WAIT_POLICY, torch threads; None = torch's default)
    "package default": ("PASSIVE", None),
    "one thread": ("PASSIVE", 1),
    "spinning threads (ACTIVE)": ("ACTIVE", None),
}


def training_flops(n_features, hidden_sizes, n_classes, n_rows_seen):
    """Matrix-multiply floating-point operations of training an MLP on ``n_rows_seen`` rows
    (epochs x rows): forward ``2 a b`` per row and layer of shape ``a x b``, the weight
    gradient the same again, and the input gradient for every layer but the first."""
    widths = [n_features, *hidden_sizes, n_classes]
    per_row = 0
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        per_row += 2 * a * b * (2 if i == 0 else 3)
    return per_row * n_rows_seen


def accuracies(proba, y, masks):
    """Mean train and test accuracy over models (each on its own rows / the rest)."""
    right = proba.argmax(-1) == y[None]
    return (float(np.mean([r[m].mean() for r, m in zip(right, masks)])),
            float(np.mean([r[~m].mean() for r, m in zip(right, masks)])))


def worker(args):
    """One timing in this (fresh) process; prints a JSON line."""
    from mia_course.data import make_ad_clicks
    from mia_course.models import TorchMLPClassifier
    from mia_course.shadows import random_halves
    from mia_course.training.registry import train_shadow_models

    data = make_ad_clicks(args.pool, random_state=0)
    masks = random_halves(args.n_models, args.pool, np.random.RandomState(0))
    threads = None if args.threads == 0 else args.threads
    result = {"torch_threads": None}
    if args.loop:
        start = time.perf_counter()
        models = [TorchMLPClassifier(random_state=k).fit(data.X[m], data.y[m]) for k, m in enumerate(masks)]
        result["seconds"] = time.perf_counter() - start
        proba = np.stack([m.predict_proba(data.X) for m in models])
    else:
        import torch
        result["torch_threads"] = threads or torch.get_num_threads()
        train_shadow_models(TorchMLPClassifier(), data.X, data.y, masks[:2], random_state=0, n_threads=threads)
        start = time.perf_counter()
        shadows = train_shadow_models(TorchMLPClassifier(), data.X, data.y, masks, random_state=1, n_threads=threads)
        result["seconds"] = time.perf_counter() - start
        proba = shadows.predict_proba(data.X)
    result["accuracy"] = accuracies(proba, data.y, masks)
    print(json.dumps(result))


def timed(args, policy, threads, *, busy, loop=False):
    """Run one ``worker`` in a fresh process (with a second process spinning if ``busy``)."""
    env = {**os.environ, "OMP_WAIT_POLICY": policy, "PYTHONPATH": os.pathsep.join(
        [str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        if spinner:
            time.sleep(0.5)  # let it take its core
        cmd = [sys.executable, __file__, "--worker", "--n-models", str(args.n_models), "--pool",
               str(args.pool), "--threads", str(threads or 0)] + (["--loop"] if loop else [])
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    finally:
        if spinner:
            spinner.kill()
            spinner.wait()
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-models", type=int, default=64)
    parser.add_argument("--pool", type=int, default=2000)
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--loop", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    runs = {}
    for busy in (False, True):
        for name, (policy, threads) in SETTINGS.items():
            runs[name, busy] = timed(args, policy, threads, busy=busy)
            print(f"{name:28s} {'busy' if busy else 'idle'}: {runs[name, busy]['seconds']:.2f} s", flush=True)
    loop = timed(args, "PASSIVE", 1, busy=False, loop=True)
    print(f"loop of single fits, idle: {loop['seconds']:.2f} s")

    from mia_course.data import make_ad_clicks
    from mia_course.models import TorchMLPClassifier
    from mia_course.shadows import random_halves
    est, data = TorchMLPClassifier(), make_ad_clicks(args.pool, random_state=0)
    masks = random_halves(args.n_models, args.pool, np.random.RandomState(0))  # as the workers
    flops = training_flops(data.X.shape[1], est.hidden_sizes, 2, est.epochs * int(masks.sum()))
    default, one = runs["package default", False], runs["one thread", False]
    busy_default = runs["package default", True]
    acc_b, acc_l = default["accuracy"], loop["accuracy"]
    checks = {
        "batched time <= 15 s (idle, package default)": default["seconds"] <= 15,
        "batched >= 5x faster than the loop": loop["seconds"] >= 5 * default["seconds"],
        "next to a busy process: within 1.2x of the one-thread idle time": busy_default["seconds"] <= 1.2 * one["seconds"],
        "accuracies agree within 2 points": max(abs(acc_b[0] - acc_l[0]), abs(acc_b[1] - acc_l[1])) <= 0.02,
    }
    rows = "\n".join(
        f"| {name} ({'torch default: ' if threads is None else ''}{runs[name, False]['torch_threads']} "
        f"thread{'s' if runs[name, False]['torch_threads'] != 1 else ''}, {policy}) "
        f"| {runs[name, False]['seconds']:.2f} s | {runs[name, True]['seconds']:.2f} s "
        f"| {flops / runs[name, False]['seconds'] / 1e9:.1f} GFLOP/s |"
        for name, (policy, threads) in SETTINGS.items())
    import torch
    body = f"""## Shadow training: {args.n_models} models, idle and next to a busy process
Measured {datetime.date.today()} on {platform.processor() or platform.machine()}, {os.cpu_count()} cores,
torch {torch.__version__}. Default architecture {est.hidden_sizes} hidden units, {est.epochs} epochs,
batch {est.batch_size}; each model trains on {args.pool // 2} of {args.pool} users. "Busy": a second
process spins on one core while the models train. Each timing in a fresh process.

| batched, {args.n_models} models | idle | busy | throughput (idle) |
|---|---|---|---|
{rows}

| | value |
|---|---|
| loop of single fits (one thread each, their fastest), idle | {loop['seconds']:.2f} s |
| speed-up of the batched default over the loop | {loop['seconds'] / default['seconds']:.1f}x |
| busy / one-thread idle (package default) | {busy_default['seconds'] / one['seconds']:.2f}x |
| training work (matmul FLOPs) | {flops / 1e9:.1f} GFLOP |
| train / test accuracy, batched | {acc_b[0]:.3f} / {acc_b[1]:.3f} |
| train / test accuracy, loop | {acc_l[0]:.3f} / {acc_l[1]:.3f} |

""" + "\n".join(f"- [{'x' if ok else ' '}] {name}" for name, ok in checks.items())
    if not args.no_write:
        sys.path.insert(0, str(HERE))
        from results import write_section  # benchmarks/results.py
        write_section("shadow-training", body)
    print(body)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
