"""Canary audits of DP-SGD: audited epsilon per estimator and canary kind, per seed, and time.

Lesson 12's data (250 users, ``make_ad_clicks(250, random_state=seed)``) and its full-batch
configuration, for accountant epsilon in {1, 2, 4, 8} and seeds 0-4. Each audit is one call
of ``mia_course.canaries.audit_dp_sgd`` (one batched training); "seconds" is its training
time (2 torch threads). The ceiling: the GDP estimator on ideal canaries (scores N(mu, 1) in,
N(0, 1) out, mu of the configuration) with the same numbers of canaries and guesses, median of
21 simulated audits. Writes the "canary-audit" section of benchmarks/RESULTS.md.

    python benchmarks/bench_audit.py [--seeds 0 1 2 3 4] [--no-write]
"""
import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import write_section  # noqa: E402  (benchmarks/results.py)

from mia_course.accounting import noise_multiplier_for  # noqa: E402
from mia_course.audit_fdp import fdp_one_run_epsilon, gdp_epsilon  # noqa: E402
from mia_course.canaries import KINDS, audit_dp_sgd  # noqa: E402
from mia_course.data import make_ad_clicks  # noqa: E402

DELTA = 1e-5
AUDITS = {  # name: (audit_dp_sgd settings, which bound)
    "input, final weights, Steinke": (dict(canaries="input"), "epsilon_steinke"),
    "input, final weights, GDP": (dict(canaries="input"), "epsilon_gdp"),
    "Dirac, final weights, GDP": (dict(score="final"), "epsilon_gdp"),
    "Dirac, every step, Steinke": (dict(), "epsilon_steinke"),
    "Dirac, every step, GDP (default)": (dict(), "epsilon_gdp"),
}


def ideal_ceiling(mu, n_runs, n_canaries, n_guesses, seed=0, repeats=21):
    rng, found = np.random.default_rng(seed), []
    for _ in range(repeats):
        inside = rng.random((n_runs, n_canaries)) < 0.5
        order = np.argsort(-(rng.normal(size=inside.shape) + mu * inside), axis=1)
        h = n_guesses // 2
        correct = np.take_along_axis(inside, order[:, :h], 1).sum() + (~np.take_along_axis(inside, order[:, -h:], 1)).sum()
        found.append(fdp_one_run_epsilon(n_runs * 2 * h, int(correct), inside.size, delta=DELTA))
    return float(np.median(found))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epsilons", type=float, nargs="+", default=[8.0, 4.0, 2.0, 1.0])
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows, runs = [], {}
    for eps in args.epsilons:
        for seed in args.seeds:
            users = make_ad_clicks(250, random_state=seed)
            for kind_settings in ({"canaries": "input"}, {}, {"score": "final"}):
                key = (eps, seed, tuple(sorted(kind_settings.items())))
                start = time.perf_counter()
                runs[key] = audit_dp_sgd(eps, users.X, users.y, delta=DELTA, random_state=seed, **kind_settings)
                runs[key]["wall"] = time.perf_counter() - start
    lines = ["| accountant ε | exact ε | ceiling (ideal canaries, GDP) | audit | " +
             " | ".join(f"seed {s}" for s in args.seeds) + " | median | seconds (max) |",
             "|---" * (6 + len(args.seeds)) + "|"]
    for eps in args.epsilons:
        first = runs[(eps, args.seeds[0], ())]
        mu = np.sqrt(30) / noise_multiplier_for(eps, DELTA, 1.0, 30)  # full batch, 30 steps
        d = KINDS["gradient"]
        ceiling = ideal_ceiling(mu, d["n_runs"], d["n_canaries"], d["n_guesses"])
        for name, (settings, bound) in AUDITS.items():
            key = tuple(sorted(settings.items()))
            values = [runs[(eps, s, key)][bound] for s in args.seeds]
            secs = max(runs[(eps, s, key)]["wall"] for s in args.seeds)
            rows.append((eps, name, values))
            lines.append(f"| {first['accountant']:.2f} | {first['exact']:.2f} | {ceiling:.2f} | {name} | "
                         + " | ".join(f"{v:.2f}" for v in values) + f" | {np.median(values):.2f} | {secs:.1f} |")
        assert gdp_epsilon(mu, DELTA) <= first["exact"] + 0.02
    never_above = all(max(v) <= runs[(eps, args.seeds[0], ())]["exact"] for eps, _, v in rows)
    default = {eps: np.median(v) for eps, name, v in rows if name.endswith("(default)")}
    checks = [f"- [{'x' if default.get(8.0, 0) >= 4 else ' '}] default audit at accountant ε = 8: median ≥ 4",
              f"- [{'x' if default.get(4.0, 0) >= 2 else ' '}] default audit at accountant ε = 4: median ≥ 2",
              f"- [{'x' if never_above else ' '}] no audit above the exact ε on any seed"]
    body = (f"## Canary audits of DP-SGD (lesson 12's data and full-batch configuration)\n"
            f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {torch.get_num_threads()} torch threads, "
            f"torch {torch.__version__}. Each cell: one `audit_dp_sgd(eps, X, y, delta=1e-5, random_state=seed, ...)`, "
            f"i.e. one batched training (defaults per canary kind: `KINDS` = {KINDS}). \"seconds\": the slowest "
            f"seed's whole call (training and bounds), on a machine shared with other work. GDP: "
            f"`fdp_one_run_epsilon` (a bound among Gaussian trade-off curves); Steinke: `one_run_epsilon` "
            f"(any curve). Exact ε: `exact_epsilon` (PRV). Ceiling: the GDP bound on ideal canaries "
            f"(N(μ, 1) in, N(0, 1) out) with the default numbers of canaries and guesses, median of 21.\n\n"
            + "\n".join(lines) + "\n\n" + "\n".join(checks) + "\n")
    print(body)
    if not args.no_write:
        write_section("canary-audit", body)


if __name__ == "__main__":
    main()
