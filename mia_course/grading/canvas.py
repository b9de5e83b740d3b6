"""Canvas files for an nbgrader class: the roster in, the grades out.

Introduced in docs/instructors.md ("Load the roster" and "Grades to Canvas"). Both commands
start from the gradebook CSV that Canvas exports (*Grades -> Export -> CSV File*), whose first
columns are :data:`CANVAS_COLUMNS`; its ``ID`` (Canvas's user id) is also the number in the
file names of Canvas's bulk download, so it is the nbgrader student id throughout.

- ``python -m mia_course.grading.canvas roster EXPORT.csv -o roster.csv`` writes the CSV that
  ``nbgrader db student import roster.csv`` reads (``id``, ``first_name``, ``last_name``,
  ``email``, ``lms_user_id``).
- ``python -m mia_course.grading.canvas grades ASSIGNMENT EXPORT.csv -o canvas_grades.csv``
  (in the course folder, next to ``gradebook.db``) writes the CSV that Canvas's gradebook import
  reads: :data:`CANVAS_COLUMNS`, then one column for the assignment (``--column``, the name of a
  Canvas assignment, or a new one), a ``Points Possible`` row, and per student nbgrader's total
  less its late penalty. A student with written answers still to grade, or without a submission,
  gets an empty cell (Canvas then keeps what it has) and is listed on stderr.
"""
import argparse
import csv
import os
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["CANVAS_COLUMNS", "canvas_grade_rows", "main", "read_canvas_export", "roster_rows"]
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
ROSTER_COLUMNS = ("id", "first_name", "last_name", "email", "lms_user_id")


def read_canvas_export(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """The student rows of a Canvas gradebook export (its ``Points Possible`` row and rows
    without an ``ID`` left out). Raises ValueError naming ``path`` when a column is missing."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in CANVAS_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"path: {path} is not a Canvas gradebook export (no column {', '.join(missing)})")
        rows = list(reader)
    return [{c: (row[c] or "").strip() for c in CANVAS_COLUMNS} for row in rows
            if (row["ID"] or "").strip() and "Points Possible" not in (row["Student"] or "")]


def roster_rows(export: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    """nbgrader's roster (``ROSTER_COLUMNS``) from Canvas's rows: ``"Last, First"`` split, the
    SIS login as e-mail where it is one."""
    out = []
    for row in export:
        last, _, first = row["Student"].partition(", ")
        login = row["SIS Login ID"]
        out.append(dict(id=row["ID"], first_name=first.strip(), last_name=last.strip(),
                        email=login if "@" in login else "", lms_user_id=row["ID"]))
    return out


def canvas_grade_rows(gradebook: Any, assignment: str, export: Sequence[dict[str, str]]
                      ) -> tuple[float, list[list[str]], list[str]]:
    """``(points possible, rows, problems)``: for each student of ``export``, Canvas's columns
    and the grade of ``assignment`` in the nbgrader ``gradebook`` (``nbgrader.api.Gradebook``):
    the total less the late penalty, or ``""`` with a line in ``problems``."""
    from nbgrader.api import MissingEntry
    possible = gradebook.find_assignment(assignment).max_score
    rows, problems = [], []
    for row in export:
        try:
            submission = gradebook.find_submission(assignment, row["ID"])
        except MissingEntry:
            grade = ""
            problems.append(f"{row['Student']} ({row['ID']}): no submission")
        else:
            waiting = [g for nb in submission.notebooks for g in nb.grades
                       if g.needs_manual_grade and g.manual_score is None]  # as PerQuestionCsv's "ungraded"
            if waiting:
                grade = ""
                problems.append(f"{row['Student']} ({row['ID']}): written answers still to grade")
            else:
                penalty = submission.late_submission_penalty or 0.0
                grade = f"{max(0.0, submission.score - penalty):g}"
        rows.append([row[c] for c in CANVAS_COLUMNS] + [grade])
    return possible, rows, problems


def main(argv: Sequence[str] | None = None) -> int:
    """The two commands of the module docstring; exit status 0, or 2 for bad arguments."""
    parser = argparse.ArgumentParser(prog="python -m mia_course.grading.canvas", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    roster = sub.add_parser("roster", help="Canvas's gradebook export -> nbgrader's roster CSV")
    roster.add_argument("export")
    roster.add_argument("-o", "--output", default="roster.csv")
    grades = sub.add_parser("grades", help="nbgrader's gradebook -> a CSV for Canvas's gradebook import")
    grades.add_argument("assignment")
    grades.add_argument("export")
    grades.add_argument("-o", "--output", default="canvas_grades.csv")
    grades.add_argument("--column", help="the Canvas assignment's column (default: the assignment's name)")
    grades.add_argument("--db", default="gradebook.db", help="nbgrader's gradebook (default: ./gradebook.db)")
    grades.add_argument("--course-id", default="mia-course", help="nbgrader's CourseDirectory.course_id")
    args = parser.parse_args(argv)
    try:
        export = read_canvas_export(args.export)
    except (OSError, ValueError) as err:
        parser.error(str(err))
    if args.command == "roster":
        with open(args.output, "w", newline="") as fh:
            writer = csv.DictWriter(fh, ROSTER_COLUMNS)
            writer.writeheader()
            writer.writerows(roster_rows(export))
        print(f"{len(export)} students written to {args.output}: nbgrader db student import {args.output}")
        return 0
    if not os.path.exists(args.db):
        parser.error(f"--db: no gradebook at {args.db} (run this in the course folder)")
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{os.path.abspath(args.db)}", course_id=args.course_id) as gradebook:
        possible, rows, problems = canvas_grade_rows(gradebook, args.assignment, export)
    with open(args.output, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(list(CANVAS_COLUMNS) + [args.column or args.assignment])
        writer.writerow(["    Points Possible", "", "", "", "", f"{possible:g}"])
        writer.writerows(rows)
    for line in problems:
        print(f"left empty: {line}", file=sys.stderr)
    print(f"{len(rows) - len(problems)} of {len(rows)} grades written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
