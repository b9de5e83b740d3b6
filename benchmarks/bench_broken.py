"""Broken DP-SGDs caught by audits: per variant and seed, the claimed, exact and audited epsilon.

Each deliberately broken trainer of ``mia_course.broken_dp`` claims epsilon = 2 (delta = 1e-5)
and is audited on seeds 0-4 in the configuration its audit chooses; the correct trainer is
audited the same way. "seconds": the whole audit call (training, scores, bound; 2 torch
threads). Writes the "broken-dp" section of benchmarks/RESULTS.md.

    python benchmarks/bench_broken.py [--seeds 0 1 2 3 4] [--no-write]
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

from mia_course.broken_audits import realised_batch_audit, shuffling_audit  # noqa: E402
from mia_course.canaries import audit_dp_sgd  # noqa: E402
from mia_course.data import make_ad_clicks  # noqa: E402

DELTA, CLAIM = 1e-5, 2.0
VARIANTS = {  # name: (configuration and score, estimator, audit(broken, seed, users))
    "noise": ("lesson 12's full batch, 8 runs x 2,000 Dirac canaries, every-step score", "Steinke one run",
              lambda b, s, u: audit_dp_sgd(CLAIM, u.X, u.y, delta=DELTA, broken=b, estimator="steinke",
                                           random_state=s)),
    "batch_clipping": ("the same, canary gradients 1,000 C before clipping", "Steinke one run",
                       lambda b, s, u: audit_dp_sgd(CLAIM, u.X, u.y, delta=DELTA, broken=b, canary_gradient=1e3,
                                                    estimator="steinke", random_state=s)),
    "shuffling": ("4,000 runs of 199 Dirac records (-C) + the canary (+C), 100 steps of 2, 1 epoch; "
                  "likelihood-ratio score", "many runs, Clopper-Pearson + Bonferroni",
                  lambda b, s, u: shuffling_audit(CLAIM, delta=DELTA, broken=b, random_state=s)),
    "realised_batch": ("1,000 runs of 3 users + the canary, batches of 2 (rate 1/2), 10 epochs; "
                       "largest batch read from the update's spread", "many runs, Clopper-Pearson + Bonferroni",
                       lambda b, s, u: realised_batch_audit(CLAIM, u.X, u.y, delta=DELTA, broken=b, random_state=s)),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    lines = ["| variant | trainer | claimed ε | exact ε | " + " | ".join(f"seed {s}" for s in args.seeds)
             + " | seconds (max) |", "|---" * (5 + len(args.seeds)) + "|"]
    caught, never_above, details = True, True, []
    for name, (config, estimator, audit) in VARIANTS.items():
        details.append(f"- `{name}`: {config}; {estimator}.")
        for broken in (name, False):
            found, secs = [], []
            for seed in args.seeds:
                users = make_ad_clicks(250, random_state=seed)
                start = time.perf_counter()
                r = audit(broken, seed, users)
                secs.append(time.perf_counter() - start)
                found.append(r["epsilon"])
            if broken:
                caught &= min(found) > r["accountant"]
            else:
                never_above &= max(found) <= r["exact"]
            lines.append(f"| {name} | {'broken' if broken else 'correct'} | {r['accountant']:.2f} | {r['exact']:.2f} | "
                         + " | ".join(f"{v:.2f}" for v in found) + f" | {max(secs):.1f} |")
    checks = [f"- [{'x' if caught else ' '}] every broken variant proven above its claimed ε on every seed",
              f"- [{'x' if never_above else ' '}] the correct trainer never above its exact ε"]
    body = (f"## Broken DP-SGDs caught by audits (claimed ε = {CLAIM:g}, δ = 1e-5)\n"
            f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {torch.get_num_threads()} torch threads, "
            f"torch {torch.__version__}, on a machine shared with other work. Each variant of "
            f"`mia_course.broken_dp` (\"broken\") and the correct trainer in the same configuration (\"correct\"), "
            f"audited on lesson 12's data (`make_ad_clicks(250, random_state=seed)`) where the audit uses data; "
            f"the audited ε per seed; \"seconds\": the slowest seed's whole call.\n\n"
            + "\n".join(details) + "\n\n" + "\n".join(lines) + "\n\n" + "\n".join(checks) + "\n")
    print(body)
    if not args.no_write:
        write_section("broken-dp", body)


if __name__ == "__main__":
    main()
