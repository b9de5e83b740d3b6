"""``mia-course audit MODEL_FILE TRAIN_CSV HELDOUT_CSV --label COLUMN --out DIR``.

Introduced in notebooks/07_audit_your_own_model.ipynb and the README ("Audit your own model").
``mia_course.cli`` adds the subcommand with ``add_audit_parser`` and runs it with ``run_audit``.
"""
import argparse
import sys
from pathlib import Path

DESCRIPTION = (
    "A privacy risk report for a fitted classifier: the course's membership inference attacks (loss "
    "threshold, online LiRA and RMIA with reference models cloned from your estimator, label-only) "
    "on its training rows and rows it never saw. Writes DIR/report.html (self-contained), "
    "DIR/report.md and DIR/report.json. A joblib/pickle MODEL_FILE runs code when loaded: only load "
    "files you trust; a .skops file is loaded safely (types it does not trust must be named with --trust).")


def add_audit_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``audit`` subcommand to the ``mia-course`` parser's subparsers ``sub``.

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    p = sub.add_parser("audit", help="a privacy risk report (HTML, Markdown, JSON) for a fitted model",
                       description=DESCRIPTION)
    p.add_argument("model_file", metavar="MODEL_FILE", type=Path, help="the fitted model (.joblib/.pkl or .skops)")
    p.add_argument("train_csv", metavar="TRAIN_CSV", type=Path, help="the rows the model was trained on (CSV with a header)")
    p.add_argument("heldout_csv", metavar="HELDOUT_CSV", type=Path,
                   help="rows the model never saw, same columns (at least 100; 1,000 resolve 1%% FPR)")
    p.add_argument("--label", required=True, metavar="COLUMN", help="the label column (numbers or strings)")
    p.add_argument("--out", required=True, metavar="DIR", type=Path, help="the folder for the report (created if needed)")
    p.add_argument("--attacker", choices=("black-box", "label-only"), default="black-box",
                   help="what the attacker sees: probabilities (default) or labels only")
    p.add_argument("--prior", type=float, default=0.5,
                   help="the share of members among the people the attacker queries (default 0.5)")
    p.add_argument("--population", type=int, default=None, help="how many people the attacker queries")
    p.add_argument("--references", type=int, default=16,
                   help="reference models for LiRA and RMIA (default 16; 0: loss threshold only)")
    p.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="fewer references when all would take longer than this")
    p.add_argument("--seed", type=int, default=0, help="random seed of the reference models (default 0)")
    p.add_argument("--top", type=int, default=10, help="how many of the most exposed records to list")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="send the reference fits to a Dask cluster (e.g. tcp://10.0.0.5:8786; pip install 'mia-course[dask]')")
    p.add_argument("--trust", action="append", default=[], metavar="TYPE",
                   help="a type a .skops file may hold that skops does not trust by default (repeat for each)")
    return p


def run_audit(args: argparse.Namespace) -> int:
    """Run the audit the parsed ``args`` describe, write the report, print where; returns 0
    (2, with the problem on stderr, for bad input).

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    from mia_course.report.core import audit_files
    try:
        report = audit_files(args.model_file, args.train_csv, args.heldout_csv, args.label, trusted=args.trust,
                             attacker=args.attacker, prior=args.prior, population=args.population,
                             n_references=args.references, random_state=args.seed, scheduler=args.scheduler,
                             time_budget=args.time_budget, top=args.top)
        paths = report.write(args.out)
    except (ValueError, TypeError, FileNotFoundError, ImportError) as err:  # the input's fault: say it plainly
        print(f"mia-course audit: error: {err}", file=sys.stderr)
        return 2
    r = report.numbers
    op = str(r["operating_fpr"])
    rate = r["tpr_at_fpr"][op]
    print(f"{r['strongest_attack']}: AUC {r['auc']:.3f}, TPR at {float(op):.1%} FPR {rate['tpr']:.1%} "
          f"[{rate['ci95'][0]:.1%}, {rate['ci95'][1]:.1%}] ({r['seconds']['total']:.1f} s)")
    print("Wrote " + ", ".join(str(paths[n]) for n in ("report.html", "report.md", "report.json")))
    sys.stdout.flush()
    return 0
