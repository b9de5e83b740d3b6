"""How long does every lesson take, on an idle machine and next to a busy process?

    python benchmarks/bench_lessons.py                   (every lesson idle and busy; ~15 min on 2 cores)
    python benchmarks/bench_lessons.py --lessons 09 03 --no-write   (a quick look at two lessons)

Each lesson runs in a fresh Jupyter kernel (nbclient), from ``notebooks/``, twice: once on an
idle machine and once while a second process spins on one core (``while True: pass``: a
learner's browser, video call or indexer). A lesson's time is the sum of its cells' times
(what ``make test`` budgets; the kernel's start is left out). The table goes into
benchmarks/RESULTS.md with the targets of issue 23: every lesson in at most 20 s idle, all
sixteen in at most 3 minutes, and busy in at most 2x the idle time.
"""
import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from datetime import datetime as dt
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LESSON_LIMIT_S, TOTAL_LIMIT_S, BUSY_RATIO = 20.0, 180.0, 2.0


def each_cell_seconds(nb):
    """Each code cell's run time, from nbclient's timing metadata."""
    times = []
    for cell in nb.cells:
        timing = cell.get("metadata", {}).get("execution", {})
        start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
        if cell.cell_type == "code" and start and end:
            times.append((dt.fromisoformat(end.replace("Z", "+00:00"))
                          - dt.fromisoformat(start.replace("Z", "+00:00"))).total_seconds())
    return times


def cell_seconds(nb):
    """Sum of the code cells' run times."""
    return sum(each_cell_seconds(nb))


def run_lesson(path, busy, timeout):
    """Run one lesson in a fresh kernel (with a spinning process beside it if ``busy``);
    returns (sum of cell times, wall time) in seconds. A failing cell raises."""
    import nbclient
    import nbformat

    nb = nbformat.read(path, as_version=4)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                         record_timing=True,
                                         resources={"metadata": {"path": str(path.parent)}})
        start = time.perf_counter()
        with _env(env):  # the kernel imports this checkout's mia_course
            client.execute()
        wall = time.perf_counter() - start
    finally:
        if spinner:
            spinner.kill()
            spinner.wait()
    return each_cell_seconds(nb), wall


class _env:
    """Set environment variables for the kernel this process starts, then restore them."""

    def __init__(self, env):
        self.env, self.saved = env, None

    def __enter__(self):
        self.saved = dict(os.environ)
        os.environ.update(self.env)

    def __exit__(self, *exc):
        os.environ.clear()
        os.environ.update(self.saved)


def table(rows):
    lines = ["| lesson | idle | busy (one core spinning) | busy / idle |", "|---|---|---|---|"]
    for name, idle, busy in rows:
        ratio = f"{busy / idle:.2f}x" if busy is not None and idle > 0 else "-"
        busy_s = f"{busy:.1f} s" if busy is not None else "-"
        lines.append(f"| `{name}` | {idle:.1f} s | {busy_s} | {ratio} |")
    total_idle = sum(r[1] for r in rows)
    busies = [r[2] for r in rows if r[2] is not None]
    lines.append(f"| **all {len(rows)}** | {total_idle:.1f} s | "
                 f"{sum(busies):.1f} s | |" if busies else f"| **all {len(rows)}** | {total_idle:.1f} s | - | |")
    return "\n".join(lines), total_idle


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lessons", nargs="*", default=None,
                        help="lesson numbers or file names (default: every lesson in notebooks/)")
    parser.add_argument("--no-busy", action="store_true", help="only the idle runs")
    parser.add_argument("--no-write", action="store_true", help="print, do not write RESULTS.md")
    parser.add_argument("--cells", action="store_true", help="also print each code cell's times")
    parser.add_argument("--timeout", type=float, default=600, help="per-cell timeout in seconds")
    args = parser.parse_args(argv)

    lessons = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if args.lessons:
        lessons = [p for p in lessons if any(p.name.startswith(k) for k in args.lessons)]
        if not lessons:
            parser.error(f"--lessons {args.lessons}: no such lesson in notebooks/")
    rows = []
    for path in lessons:
        idle_cells, _ = run_lesson(path, busy=False, timeout=args.timeout)
        busy_cells = None if args.no_busy else run_lesson(path, busy=True, timeout=args.timeout)[0]
        idle, busy = sum(idle_cells), None if busy_cells is None else sum(busy_cells)
        if args.cells:
            for i, t in enumerate(idle_cells):
                print(f"  cell {i + 1:2d}: idle {t:6.2f} s" + (f"  busy {busy_cells[i]:6.2f} s" if busy_cells else ""))
        rows.append((path.stem, idle, busy))
        ratio = f"  busy {busy:6.1f} s  ({busy / idle:.2f}x)" if busy is not None else ""
        print(f"{path.stem:40s} idle {idle:6.1f} s{ratio}", flush=True)

    body, total_idle = table(rows)
    import torch

    checks = [f"- [{'x' if all(r[1] <= LESSON_LIMIT_S for r in rows) else ' '}] every lesson "
              f"<= {LESSON_LIMIT_S:.0f} s idle",
              f"- [{'x' if total_idle <= TOTAL_LIMIT_S else ' '}] all together <= {TOTAL_LIMIT_S:.0f} s idle"]
    if not args.no_busy:
        checks.append(f"- [{'x' if all(r[2] <= BUSY_RATIO * r[1] for r in rows) else ' '}] busy "
                      f"<= {BUSY_RATIO:.0f}x idle for every lesson")
    text = (f"## Lessons: run time idle and next to a busy process\n"
            f"Measured {datetime.date.today()} on {platform.machine()}, {os.cpu_count()} cores, "
            f"torch {torch.__version__}, by `python benchmarks/bench_lessons.py`. Each lesson in a "
            f"fresh kernel; its time is the sum of its cells' times. \"Busy\": a second process "
            f"spins on one core (`while True: pass`) while the lesson runs.\n\n{body}\n\n"
            + "\n".join(checks))
    print("\n" + text)
    if not args.no_write and not args.lessons:
        sys.path.insert(0, str(HERE))
        from results import write_section

        write_section("lessons", text)
        print("\nwritten to benchmarks/RESULTS.md")
    elif not args.no_write:
        print("\n(only some lessons: RESULTS.md is written by a full run)")


if __name__ == "__main__":
    main()
