"""Canary audits of DP-SGD: audited epsilon per estimator and canary kind, per seed, and time.

Lesson 12's data (250 users, ``make_ad_clicks(250, random_state=seed)``) and its full-batch
configuration, for accountant epsilon in {1, 2, 4, 8} and seeds 0-4. Each audit is one call
of ``mia_course.canaries.audit_dp_sgd`` (one batched training); "seconds" is the whole call
(2 torch threads). Ideal canaries: the GDP estimator on scores N(mu, 1) in, N(0, 1) out (mu of
the configuration) with the same numbers of canaries and guesses, median of 21 simulated
audits; the sample's ceiling: the GDP bound with every guess right. Writes the
"canary-audit" section of benchmarks/RESULTS.md.

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
from mia_course.canaries import KINDS, audit_dp_sgd, one_run_guesses  # noqa: E402
from mia_course.data import make_ad_clicks  # noqa: E402
from mia_course.gradient_canaries import gradient_canary_scores  # noqa: E402

DELTA = 1e-5
AUDITS = ["input canaries, final weights, Steinke", "input canaries, final weights, GDP",
          "Dirac, final weights, GDP", "Dirac, every step, Steinke", "Dirac, every step, GDP (the default)"]


def ideal_canaries(mu, n_runs, n_canaries, n_guesses, seed=0, repeats=21):
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
    d = KINDS["gradient"]
    found, seconds, exact, accountant = {}, {}, {}, {}
    for eps in args.epsilons:
        for seed in args.seeds:
            users = make_ad_clicks(250, random_state=seed)
            for kind in ("input", "gradient"):
                start = time.perf_counter()
                r = audit_dp_sgd(eps, users.X, users.y, delta=DELTA, canaries=kind, random_state=seed)
                seconds[(eps, seed, kind)] = time.perf_counter() - start
                exact[eps], accountant[eps] = r["exact"], r["accountant"]
                if kind == "input":
                    found[(eps, seed, AUDITS[0])] = r["epsilon_steinke"]
                    found[(eps, seed, AUDITS[1])] = r["epsilon_gdp"]
                    continue
                guesses, correct = one_run_guesses(gradient_canary_scores(r["models"], "final"), r["is_in"],
                                                   d["n_guesses"])  # the same run, final weights only
                found[(eps, seed, AUDITS[2])] = fdp_one_run_epsilon(guesses, correct, r["is_in"].size, delta=DELTA)
                found[(eps, seed, AUDITS[3])] = r["epsilon_steinke"]
                found[(eps, seed, AUDITS[4])] = r["epsilon_gdp"]
    k_all = d["n_runs"] * d["n_guesses"]
    ceiling = fdp_one_run_epsilon(k_all, k_all, d["n_runs"] * d["n_canaries"], delta=DELTA)
    lines = ["| accountant ε | exact ε | ideal canaries | audit | " + " | ".join(f"seed {s}" for s in args.seeds)
             + " | median | seconds (max) |", "|---" * (6 + len(args.seeds)) + "|"]
    medians, never_above = {}, True
    for eps in args.epsilons:
        mu = np.sqrt(30) / noise_multiplier_for(eps, DELTA, 1.0, 30)  # full batch, 30 steps
        assert abs(gdp_epsilon(mu, DELTA) - exact[eps]) < 0.02
        ideal = ideal_canaries(mu, d["n_runs"], d["n_canaries"], d["n_guesses"])
        for name in AUDITS:
            values = [found[(eps, s, name)] for s in args.seeds]
            kind = "input" if name.startswith("input") else "gradient"
            secs = max(seconds[(eps, s, kind)] for s in args.seeds)
            medians[(eps, name)] = float(np.median(values))
            never_above &= max(values) <= exact[eps]
            lines.append(f"| {accountant[eps]:.2f} | {exact[eps]:.2f} | {ideal:.2f} | {name} | "
                         + " | ".join(f"{v:.2f}" for v in values) + f" | {np.median(values):.2f} | {secs:.1f} |")
    default = AUDITS[4]
    checks = [f"- [{'x' if medians.get((8.0, default), 0) >= 4 else ' '}] default audit at accountant ε = 8: median ≥ 4",
              f"- [{'x' if medians.get((4.0, default), 0) >= 2 else ' '}] default audit at accountant ε = 4: median ≥ 2",
              f"- [{'x' if never_above else ' '}] no audit above the exact ε on any seed",
              f"- [{'x' if max(seconds.values()) <= 60 else ' '}] every audit (one batched training) within 60 s"]
    body = (f"## Canary audits of DP-SGD (lesson 12's data and full-batch configuration)\n"
            f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {torch.get_num_threads()} torch threads, "
            f"torch {torch.__version__}, on a machine shared with other work. Each seed: "
            f"`audit_dp_sgd(eps, X, y, delta=1e-5, canaries=kind, random_state=seed)` for the two canary kinds "
            f"(one batched training each; defaults per kind `KINDS` = {KINDS}); the Dirac lines are one training "
            f"read three ways. \"seconds\": the slowest seed's whole call (training, scores, bounds). GDP: "
            f"`fdp_one_run_epsilon` (a bound among Gaussian trade-off curves); Steinke: `one_run_epsilon` "
            f"(any curve). Exact ε: `exact_epsilon` (PRV). Ideal canaries: the GDP bound on scores N(μ, 1) in, "
            f"N(0, 1) out with the Dirac defaults' numbers of canaries and guesses (median of 21). "
            f"The sample's ceiling (every one of the {k_all} guesses right, GDP): ε ≥ {ceiling:.2f}.\n\n"
            + "\n".join(lines) + "\n\n" + "\n".join(checks) + "\n")
    print(body)
    if not args.no_write:
        write_section("canary-audit", body)


if __name__ == "__main__":
    main()
