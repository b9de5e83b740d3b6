"""How fast do 64 shadow models train? Batched vs a loop, against the machine's own matmul speed.

    python benchmarks/bench_shadow_training.py        (about a minute on 2 cores)

Times, in one run: 64 shadow models of the course's default architecture on the default data
(each trained on a random half of a 2,000-user pool) trained as one batched model, and the
same 64 trained one by one; checks that their accuracies agree; counts the training's
floating-point work; measures this machine's fp32 matrix-multiply throughput; and writes the
numbers to benchmarks/RESULTS.md. Targets on a 2-core CPU: batched in at most 15 s, at least
40% of the measured matmul throughput, and at least 5x faster than the loop.
"""
import argparse
import datetime
import os
import platform
import time

import numpy as np
import torch

from mia_course.data import make_ad_clicks
from mia_course.models import TorchMLPClassifier
from mia_course.shadows import random_halves
from mia_course.training.registry import train_shadow_models
from results import write_section  # benchmarks/results.py


def training_flops(n_features, hidden_sizes, n_classes, n_rows_seen):
    """Matrix-multiply floating-point operations of training an MLP on ``n_rows_seen`` rows
    (epochs x rows): forward ``2 a b`` per row and layer of shape ``a x b``, the weight
    gradient the same again, and the input gradient for every layer but the first."""
    widths = [n_features, *hidden_sizes, n_classes]
    per_row = 0
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        per_row += 2 * a * b * (2 if i == 0 else 3)
    return per_row * n_rows_seen


def matmul_gflops(n=1024, repeats=20, threads=None):
    """Best-of-3 fp32 GFLOP/s of an n x n matrix product (``threads``: None = torch's default)."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _matmul_gflops(n, repeats)
    finally:
        torch.set_num_threads(before)


def _matmul_gflops(n, repeats):
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = max(best, 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9)
    return best


def accuracies(proba, y, masks):
    """Mean train and test accuracy over models (each on its own rows / the rest)."""
    right = proba.argmax(-1) == y[None]
    return (float(np.mean([r[m].mean() for r, m in zip(right, masks)])),
            float(np.mean([r[~m].mean() for r, m in zip(right, masks)])))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-models", type=int, default=64)
    parser.add_argument("--pool", type=int, default=2000)
    args = parser.parse_args()
    data = make_ad_clicks(args.pool, random_state=0)
    masks = random_halves(args.n_models, args.pool, np.random.RandomState(0))
    est = TorchMLPClassifier()

    peak = matmul_gflops()  # the machine: all cores
    peak_1 = matmul_gflops(threads=1)  # one core
    train_shadow_models(est, data.X, data.y, masks[:2], random_state=0)  # warm-up
    start = time.perf_counter()
    batched = train_shadow_models(est, data.X, data.y, masks, random_state=1)
    t_batched = time.perf_counter() - start
    start = time.perf_counter()
    loop = [TorchMLPClassifier(random_state=k).fit(data.X[m], data.y[m]) for k, m in enumerate(masks)]
    t_loop = time.perf_counter() - start

    acc_b = accuracies(batched.predict_proba(data.X), data.y, masks)
    acc_l = accuracies(np.stack([m.predict_proba(data.X) for m in loop]), data.y, masks)
    flops = training_flops(data.X.shape[1], est.hidden_sizes, 2, est.epochs * int(masks.sum()))
    achieved = flops / t_batched / 1e9
    start = time.perf_counter()
    train_shadow_models(est, data.X, data.y, masks, random_state=1, n_threads=1)
    t_batched_1 = time.perf_counter() - start
    # Is the time spent in per-step overhead or in moving data? The same work with larger
    # batches (fewer, bigger steps): if throughput stays flat, memory traffic is the limit.
    sweep = {}
    for batch in (128, 256):
        start = time.perf_counter()
        train_shadow_models(TorchMLPClassifier(batch_size=batch), data.X, data.y, masks, random_state=1)
        sweep[batch] = flops / (time.perf_counter() - start) / 1e9
    checks = {
        "batched time <= 15 s": t_batched <= 15,
        "batched >= 40% of the machine's matmul throughput": achieved >= 0.4 * peak,
        "batched on one thread >= 40% of one core's matmul throughput": flops / t_batched_1 / 1e9 >= 0.4 * peak_1,
        "batched >= 5x faster than the loop": t_loop >= 5 * t_batched,
        "accuracies agree within 2 points": max(abs(acc_b[0] - acc_l[0]), abs(acc_b[1] - acc_l[1])) <= 0.02,
    }
    body = f"""## Shadow training: {args.n_models} models, batched vs loop
Measured {datetime.date.today()} on {platform.processor() or platform.machine()}, {os.cpu_count()} cores,
torch {torch.__version__}. Default architecture
{est.hidden_sizes} hidden units, {est.epochs} epochs, batch {est.batch_size}; each model trains on
{int(masks[0].sum())} of {args.pool} users.

| | value |
|---|---|
| batched: {args.n_models} models (all {os.cpu_count()} cores, the default) | {t_batched:.2f} s |
| batched on one thread | {t_batched_1:.2f} s |
| loop of single fits (one thread each, their fastest) | {t_loop:.2f} s |
| speed-up | {t_loop / t_batched:.1f}x |
| training work (matmul FLOPs) | {flops / 1e9:.1f} GFLOP |
| batched throughput | {achieved:.1f} GFLOP/s |
| machine fp32 matmul (1024x1024, {os.cpu_count()} threads) | {peak:.1f} GFLOP/s |
| one core fp32 matmul (1024x1024) | {peak_1:.1f} GFLOP/s |
| batched / machine | {achieved / peak:.0%} |
| batched on one thread / one core | {flops / t_batched_1 / 1e9 / peak_1:.0%} |
| batched throughput at batch 128 / 256 (same work, fewer steps) | {sweep[128]:.1f} / {sweep[256]:.1f} GFLOP/s |
| train / test accuracy, batched | {acc_b[0]:.3f} / {acc_b[1]:.3f} |
| train / test accuracy, loop | {acc_l[0]:.3f} / {acc_l[1]:.3f} |

""" + "\n".join(f"- [{'x' if ok else ' '}] {name}" for name, ok in checks.items())
    write_section("shadow-training", body)
    print(body)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
