"""The students x questions table over three autograde runs (issue 22); not part of `make test`.

Run 1 is the round trip's own: ``tests/test_nbgrader_roundtrip.py`` grades its simulated class
through the instructors' guide (``nbgrader autograde`` with ``IsolatedGrading``) in a course folder
under pytest's ``--basetemp``. Runs 2 and 3 autograde the same submissions again in that folder
(``nbgrader autograde --force``: fresh cases, fresh workers) and export the grades per question
after each run. ``table`` writes, for every student and every graded code cell of the notebooks
they handed in, the points of runs 1, 2 and 3, and whether that is what the student deserves (0 on
every run for a function attacked or bugged, full points on every run otherwise). Each step is one
command (each a few minutes on 2 cores; split a run with ``--students``, nbgrader's id pattern)::

    MIA_ROUNDTRIP_QUICK=1 pytest -q -s tests/test_nbgrader_roundtrip.py --basetemp=/tmp/rt   # run 1
    python benchmarks/classroom_table.py regrade /tmp/rt/home0 --run 2 --students 1002 --students '11*'
    python benchmarks/classroom_table.py regrade /tmp/rt/home0 --run 3 --students 1002 --students '11*'
    python benchmarks/classroom_table.py table /tmp/rt/home0 --students 1002 --students '11*'

(``MIA_ROUNDTRIP_CASES=START:STOP`` splits the round trip's attack and bug students over several
runs, each with its own ``--basetemp``; ``table`` takes several folders.)
"""
import argparse
import csv
import fnmatch
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from grading_cases import hand_ins, prepare_home  # noqa: E402

ASSIGNMENT = "mia_exercises"
KINDS = {"1001": "untouched", "1002": "correct", "1003": "buggy", "1004": "delegating", "1005": "cheating"}
ZERO = {"1003": {"ex02_q2_tests", "ex09_q2_tests"}, "1004": {"ex02_q1_tests", "ex02_q2_tests", "ex09_q1_tests",
                                                               "ex09_q2_tests"}}  # the round trip's BUGS, DELEGATED


def cases():
    """``{student id: (case names, {graded cell that must score 0})}`` as the round trip numbers them."""
    return {str(1101 + k): (names, zeros) for k, (names, _, _, zeros) in enumerate(hand_ins())}


def regrade(home, run, students):
    course = home / "mia-grading"
    if not (course / "run1.csv").exists():
        shutil.copy(course / "grades_per_question.csv", course / "run1.csv")  # the round trip's run
    env = dict(os.environ, HOME=str(home), PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    helper = prepare_home(home)  # the attacks' files, and the helper a kernel left behind
    try:
        for pattern in students:
            subprocess.run(["nbgrader", "autograde", "--force", ASSIGNMENT, f"--student={pattern}"], cwd=course,
                           env=env, check=True, capture_output=True, text=True)
    finally:
        helper.set()
    subprocess.run(["nbgrader", "export", f"--to=run{run}.csv"], cwd=course, env=env, check=True,
                   capture_output=True)


def rows(home, students):
    course, known = home / "mia-grading", cases()
    runs = []
    for run in (1, 2, 3):
        with open(course / f"run{run}.csv", newline="") as fh:  # (regrade writes runs 1 to 3)
            runs.append({row["student_id"]: row for row in csv.DictReader(fh) if row["assignment"] == ASSIGNMENT})
    for sid in sorted(runs[0]):
        handed = {p.stem for p in (course / "submitted" / sid / ASSIGNMENT).glob("*.ipynb")}
        if not handed or not (sid in KINDS or sid in known) or not any(fnmatch.fnmatch(sid, p) for p in students):
            continue
        who = KINDS.get(sid) or " + ".join(known[sid][0])
        zeros = ZERO.get(sid, set()) | (known[sid][1] if sid in known else set())
        for column in runs[0][sid]:
            if "/" not in column or "_tests" not in column or column.split("/")[0] not in handed:
                continue
            gid, points = column.split("/")[1].split(" ")[0], column.split("[")[1].rstrip("]")
            got = [r[sid][column] for r in runs]
            if KINDS.get(sid) in ("cheating", "untouched"):
                want = "0"
            else:
                want = "0" if gid in zeros else points
            yield sid, who, gid, points, got, all(g == want for g in got)


def table(homes, out, students):
    lines = ["| student | case | question [points] | run 1 | run 2 | run 3 | as deserved |",
             "|---|---|---|---|---|---|---|"]
    bad = 0
    for home in homes:
        for sid, who, gid, points, got, ok in rows(home, students):
            bad += not ok
            lines.append(f"| {sid} | {who} | {gid} [{points}] | " + " | ".join(got) + f" | {'yes' if ok else 'NO'} |")
    text = "\n".join(lines) + f"\n\n{len(lines) - 2} rows, {bad} not as deserved.\n"
    Path(out).write_text(text)
    print(text)
    return bad


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    r = sub.add_parser("regrade")
    r.add_argument("home", type=Path)
    r.add_argument("--run", type=int, required=True, choices=(2, 3))
    r.add_argument("--students", action="append", default=None)
    t = sub.add_parser("table")
    t.add_argument("homes", type=Path, nargs="+")
    t.add_argument("--out", default="benchmarks/classroom_table.md")
    t.add_argument("--students", action="append", default=None, help="the students regraded (default: all)")
    args = parser.parse_args()
    if args.step == "regrade":
        regrade(args.home, args.run, args.students or ["*"])
        return 0
    return int(table(args.homes, args.out, args.students or ["*"]) > 0)


if __name__ == "__main__":
    sys.exit(main())
