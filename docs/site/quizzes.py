"""Insert or refresh each lesson's quiz cells and its time / prerequisites / terms line.

    python docs/site/quizzes.py            # rewrite the managed cells of lessons 01-15
    python docs/site/quizzes.py --check    # exit 1 (listing them) if a lesson is not up to date
    python docs/site/build.py --quizzes    # the same as the first line

Idempotent, and it touches only what it manages, so it can be rerun after any merge:

- two cells just before the lesson's last cell (References): a Markdown cell "## Check your
  understanding" (tag ``quiz-heading``) and a code cell calling ``mia_course.quiz.quiz`` (tag
  ``quiz``), with fixed cell ids; the quiz's questions live in ``mia_course/quizzes/NN.yaml``;
- one line of the lesson's first cell, marked by ``<!-- lesson-info -->``: the time the lesson
  takes (measured run time, ``RUN_S``, plus reading time from the lesson's word count at
  ``WORDS_PER_MIN``, plus ``QUIZ_MIN`` for the quiz), what to have done before (``BEFORE``), and
  links to the glossary (``docs/glossary.md``) for the terms the lesson introduces (``TERMS``).

The start page's line (lesson 00) gives the whole path with times.
"""
from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MARK = "<!-- lesson-info -->"
GLOSSARY = "../docs/glossary.md"  # from notebooks/; docs/site/build.py points it at the site's page
WORDS_PER_MIN = 150  # technical text at a learner's pace (code and prose)
QUIZ_MIN = 3
# run time of each lesson (s), measured: the sum of each lesson's cell times in one `make test` run on an idle 2-core machine,
# rounded up to 5 s (a busy laptop takes up to twice as long)
RUN_S = {"00": 5, "01": 15, "02": 10, "03": 15, "04": 20, "05": 10, "06": 10, "07": 10, "08": 25,
         "09": 20, "10": 20, "11": 20, "12": 20, "13": 10, "14": 10, "15": 25}
BEFORE = {
    "00": "some Python and a first machine-learning course",
    "01": "lesson 00 (start here)", "02": "lesson 01", "03": "lesson 02", "04": "lessons 02 and 03",
    "05": "lesson 04", "06": "lesson 04", "07": "lessons 02, 04 and 06", "08": "lessons 02 and 04",
    "09": "lessons 02 and 04", "10": "lessons 04, 05 and 09", "11": "lessons 08, 09 and 10",
    "12": "lessons 09 and 11", "13": "lessons 01-10", "14": "lessons 09 and 10",
    "15": "lessons 02, 04 and 09",
}
# the glossary terms (its headings) each lesson introduces: linked from its first cell
TERMS = {
    "01": ["membership inference", "attribute inference", "member and non-member", "memorization",
           "train-test gap", "threat model"],
    "02": ["loss threshold attack", "confidence threshold attack", "shadow model", "roc curve", "auc",
           "membership advantage", "tpr at fpr", "base rate and precision", "several targets"],
    "03": ["attack model", "model-based synthesis"],
    "04": ["lira", "online and offline attack", "rmia", "reference model", "per-record calibration"],
    "05": ["label-only attack"],
    "06": ["exposed member", "p-value threshold"],
    "07": ["privacy audit"],
    "08": ["regularization"],
    "09": ["differential privacy", "epsilon and delta", "dp-sgd", "privacy accountant", "group privacy"],
    "10": ["output perturbation", "adaptive attacker"],
    "11": ["clopper-pearson interval"],
    "12": ["canary", "one-run audit", "dirac canary", "gaussian differential privacy"],
    "13": [],
    "14": ["model inversion"],
    "15": ["exposure", "min-k percent and zlib attacks", "blind baseline", "deduplication"],
}
DISPLAY = {"roc curve": "ROC curve", "auc": "AUC", "tpr at fpr": "TPR at FPR", "lira": "LiRA", "rmia": "RMIA",
           "dp-sgd": "DP-SGD", "epsilon and delta": "ε and δ", "clopper-pearson interval": "Clopper-Pearson interval",
           "dirac canary": "Dirac canary", "gaussian differential privacy": "Gaussian DP",
           "min-k percent and zlib attacks": "Min-K% and zlib"}
# numbers from the lesson's own run that its quiz's questions show (names of the lesson's variables)
QUIZ_ARGS = {"02": "auc=loss_auc, tpr=loss_low"}
HEADING_SOURCE = ("## Check your understanding\n\n"
                  "A few questions for yourself (not graded, not part of the exercises): pick an answer to "
                  "see why it is right or wrong. Each question links back to the section that teaches it.")


def lesson_paths(root: Path = ROOT) -> list[Path]:
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def words(nb) -> int:
    """Words in the lesson's cells, the managed ones (quiz, References, the info line) left out."""
    text = "\n".join(c.source for c in nb.cells
                     if not {"quiz", "quiz-heading", "references"} & set(c.metadata.get("tags", [])))
    return len(re.findall(r"\w+", "\n".join(l for l in text.split("\n") if MARK not in l)))


def minutes(number: str, nb) -> tuple[int, float, int]:
    """(total minutes rounded up to 5, run seconds, reading minutes)."""
    reading = math.ceil(words(nb) / WORDS_PER_MIN)
    run = RUN_S[number]
    quiz = QUIZ_MIN if number != "00" else 0
    return 5 * math.ceil((reading + run / 60 + quiz) / 5), run, reading


def term_link(term: str) -> str:
    return f"[{DISPLAY.get(term, term)}]({GLOSSARY}#{term.replace(' ', '-')})"


def info_line(number: str, nb, path_line: str = "") -> str:
    total, run, reading = minutes(number, nb)
    quiz = f", quiz {QUIZ_MIN} min" if number != "00" else ""
    line = (f"*About {total} min: running it takes about {run} s, reading {reading} min{quiz}. "
            f"Before this: {BEFORE[number]}.*")
    terms = TERMS.get(number, [])
    if terms:
        line += f" New terms ([glossary]({GLOSSARY})): " + ", ".join(term_link(t) for t in terms) + "."
    return f"{line}{path_line} {MARK}"


def path_line(root: Path = ROOT) -> str:
    """For lesson 00: the whole path, each lesson with its time."""
    parts, total = [], 0
    for path in lesson_paths(root)[1:]:
        t = minutes(path.name[:2], nbformat.read(path, as_version=4))[0]
        parts.append(f"{path.name[:2]} ({t} min)")
        total += t
    return f" The whole path: {', '.join(parts)}; about {total // 60} h {total % 60:02d} min in all."


def set_info(cell, line: str) -> None:
    lines = cell.source.split("\n")
    hits = [i for i, l in enumerate(lines) if MARK in l]
    if hits:
        lines[hits[0]] = line
    else:
        title = next((i for i, l in enumerate(lines) if l.startswith("# ")), 0)
        lines[title + 1:title + 1] = ["", line]
    cell.source = "\n".join(lines)


def quiz_cells(number: str):
    heading = nbformat.v4.new_markdown_cell(HEADING_SOURCE)
    heading.id, heading.metadata = f"quiz-heading-{number}", {"tags": ["quiz-heading"]}
    args = f", {QUIZ_ARGS[number]}" if number in QUIZ_ARGS else ""
    code = nbformat.v4.new_code_cell(f"from mia_course.quiz import quiz\n\nquiz(\"{number}\"{args})")
    code.id, code.metadata = f"quiz-{number}", {"tags": ["quiz"]}
    return [heading, code]


def refresh(path: Path, root: Path = ROOT) -> bool:
    """Bring one lesson up to date; True if it changed (the file is written only then)."""
    nb = nbformat.read(path, as_version=4)
    before = nbformat.writes(nb)
    number = path.name[:2]
    set_info(nb.cells[0], info_line(number, nb, path_line(root) if number == "00" else ""))
    if number != "00":
        nb.cells = [c for c in nb.cells if not {"quiz", "quiz-heading"} & set(c.metadata.get("tags", []))]
        last = len(nb.cells) - 1 if "references" in nb.cells[-1].metadata.get("tags", []) else len(nb.cells)
        nb.cells[last:last] = quiz_cells(number)
    after = nbformat.writes(nb)
    if after != before:
        path.write_text(after + ("\n" if not after.endswith("\n") else ""), encoding="utf-8")
        return True
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a lesson is out of date")
    args = parser.parse_args(argv)
    if args.check:
        stale = [p.name for p in lesson_paths() if _would_change(p)]
        print("\n".join(f"out of date: {n}" for n in stale) or "every lesson is up to date")
        return 1 if stale else 0
    for path in lesson_paths():
        if refresh(path):
            print(f"updated {path.relative_to(ROOT)}")
    return 0


def _would_change(path: Path) -> bool:
    import shutil
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "notebooks").mkdir()
        for p in lesson_paths():
            shutil.copy2(p, Path(tmp) / "notebooks" / p.name)
        return refresh(Path(tmp) / "notebooks" / path.name, Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
