"""Two nbgrader plugins for a classroom: feedback without hidden tests, grades per question.

Introduced in docs/instructors.md (its ``nbgrader_config.py`` sets both). Needs nbgrader.

- :class:`FeedbackWithoutHiddenTests`, a preprocessor for ``nbgrader generate_feedback``.
  nbgrader's ``autograde`` puts the hidden tests back into each graded cell (the cell is
  restored from the source, which is why it reports "Attribute 'checksum' ... has changed")
  and ``generate_feedback`` renders that autograded notebook as it is: every student would
  see the hidden test code and its cases, and tracebacks with the instructor's file paths.
  This preprocessor keeps the printed reports (which hidden checks passed or failed, and why),
  replaces each hidden region by one comment line, shortens a graded cell's traceback to its
  last line, and strips the folders of absolute paths everywhere.
- :class:`PerQuestionCsv`, an export plugin for ``nbgrader export``: one row per student and
  assignment, one column per graded cell (``notebook/grade_id [points]``), a written answer
  that waits for the formgrader shown as ``ungraded`` (a notebook not handed in scores 0, as
  nbgrader's autograde gives it); then the total and the count of answers still to grade.
- :class:`IsolatedGrading`, an autograde preprocessor placed after :class:`ExecuteToTheEnd`:
  it grades every ``assert_passes`` call of each graded cell again, in nbgrader's own process
  with a worker process for the learner's code (``mia_course.grading.isolation``), and replaces
  that cell's outputs by the isolated reports (and an error when a check fails). What the
  student's kernel printed or raised in that cell (an input transformer, a patched ``check``,
  debug output on stderr) no longer decides the grade. A cell that passed in the kernel and fails
  here says so, in the report and in autograde's log (a warning naming the student): the mark of
  an attack on the checks in the kernel.
- :class:`ExecuteToTheEnd`, nbgrader's ``Execute`` that survives a kernel that dies: the cell
  that killed it gets an error saying so, the cells after it are marked "not run", and the
  autograde goes on (the graded functions are still graded in isolation) instead of stopping
  the whole ``nbgrader autograde`` with exit status 1.
"""
import csv
import re
from typing import Any

from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import ExportPlugin
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Float, Unicode

from mia_course.grading.isolation import GRADING_TIMEOUT, Program, grade_cell, graded_calls

HIDDEN_NOTE = "# (hidden tests: not shown; their report is in the output below)"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_FOLDERS = re.compile(r"(?<![\w:/.~-])~?/(?:[^\s/'\"<>]+/)+")  # "/a/b/" of "/a/b/c.py", not URLs


def strip_paths(text: str) -> str:
    """``text`` with the folders of absolute paths replaced by ``.../`` (file names kept)."""
    return _FOLDERS.sub(".../", _ANSI.sub("", text))


def without_hidden_tests(source: str, begin: str = "BEGIN HIDDEN TESTS", end: str = "END HIDDEN TESTS") -> str:
    """``source`` with each hidden-test region (markers included) replaced by :data:`HIDDEN_NOTE`."""
    lines, inside = [], False
    for line in source.split("\n"):
        if begin in line:
            inside = True
            lines.append(line[: len(line) - len(line.lstrip())] + HIDDEN_NOTE)
        elif end in line:
            inside = False
        elif not inside:
            lines.append(line)
    return "\n".join(lines)


class FeedbackWithoutHiddenTests(NbGraderPreprocessor):
    """Feedback that shows the hidden checks' reports, not their code, cases or paths."""

    begin_hidden_tests_delimiter = Unicode("BEGIN HIDDEN TESTS").tag(config=True)
    end_hidden_tests_delimiter = Unicode("END HIDDEN TESTS").tag(config=True)

    def preprocess_cell(self, cell: NotebookNode, resources: dict[str, Any],
                        index: int) -> tuple[NotebookNode, dict[str, Any]]:
        meta = cell.metadata.get("nbgrader", {})
        test_cell = cell.cell_type == "code" and meta.get("grade") and not meta.get("solution")
        if test_cell:
            cell.source = without_hidden_tests(cell.source, self.begin_hidden_tests_delimiter,
                                               self.end_hidden_tests_delimiter)
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                out.traceback = ([f"{out.ename}: {strip_paths(out.evalue)}"] if test_cell
                                 else [strip_paths(line) for line in out.traceback])
                out.evalue = strip_paths(out.evalue)
            elif out.output_type == "stream":
                out.text = strip_paths(out.text)
            elif "text/plain" in out.get("data", {}):
                out.data["text/plain"] = strip_paths(out.data["text/plain"])
        return cell, resources


def _cell_value(grade):
    if grade.needs_manual_grade and grade.manual_score is None:
        return "ungraded"
    return f"{grade.score:g}"


class PerQuestionCsv(ExportPlugin):
    """``nbgrader export`` to a CSV (``--to``, default ``grades_per_question.csv``) with one
    column per graded cell; a written answer not graded yet reads ``ungraded``."""

    def export(self, gradebook: Gradebook) -> None:
        dest = self.to or "grades_per_question.csv"
        wanted, students = {str(a) for a in self.assignment}, {str(s) for s in self.student}
        assignments = [a for a in gradebook.assignments if not wanted or a.name in wanted]
        columns = {}  # (notebook, grade_id) -> points, in notebook and question order
        for assignment in assignments:
            for nb in sorted(assignment.notebooks, key=lambda n: n.name):
                for cell in sorted(nb.grade_cells, key=lambda c: c.name):
                    columns[nb.name, cell.name] = cell.max_score
        rows = [["assignment", "student_id", "last_name", "first_name", "email"]
                + [f"{nb}/{cell} [{points:g}]" for (nb, cell), points in columns.items()]
                + ["score", "max_score", "ungraded"]]
        for assignment in assignments:
            mine = {(nb.name, cell.name) for nb in assignment.notebooks for cell in nb.grade_cells}
            for student in gradebook.students:
                if students and student.id not in students:
                    continue
                row = [assignment.name, student.id, student.last_name or "", student.first_name or "",
                       student.email or ""]
                try:
                    submission = gradebook.find_submission(assignment.name, student.id)
                except MissingEntry:
                    values, score = {}, 0.0
                else:
                    values = {(nb.name, g.name): _cell_value(g) for nb in submission.notebooks for g in nb.grades}
                    score = submission.score
                answers = [values.get(key, "not submitted") if key in mine else "" for key in columns]
                # (autograde scores each notebook missing from a submission 0: "not submitted"
                # appears only for a student without any submission of the assignment)
                rows.append(row + answers + [f"{score:g}", f"{assignment.max_score:g}",
                                             str(answers.count("ungraded"))])
        self.log.info("Exporting grades per question to %s", dest)
        with open(dest, "w", newline="") as fh:
            csv.writer(fh).writerows(rows)


KERNEL_PASSED = ("the checks in your notebook's kernel passed, the grader's did not: the grade is the grader's "
                 "(code that changes the checks in the kernel, or a function that behaves differently outside it)")


def _error(ename: str, evalue: str) -> NotebookNode:
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class IsolatedGrading(NbGraderPreprocessor):
    """The grade of each graded code cell, computed outside the student's kernel (see above)."""

    timeout = Float(GRADING_TIMEOUT, help="seconds per case of a learner's function").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict[str, Any]]:
        program = Program.from_notebook(nb)
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
                continue
            try:
                calls = graded_calls(cell.source)
            except (SyntaxError, ValueError):
                calls = []
            if not calls:
                continue
            kernel_passed = bool(cell.get("outputs")) and not any(o.output_type == "error" for o in cell.outputs)
            reports = grade_cell(program, calls, timeout=self.timeout)
            passed = len(reports) == len(calls) and all(r.passed for r in reports)
            text = "\n".join(str(r) for r in reports)
            if kernel_passed and not passed:  # the kernel's checks said pass: tampered with, or code
                text += "\n" + KERNEL_PASSED  # that behaves differently outside the student's kernel
                self.log.warning("%s of student %s: %s", meta.get("grade_id"),
                                 resources.get("nbgrader", {}).get("student", "?"), KERNEL_PASSED)
            skipped = [options.get("kind", "public") for _, options in calls[len(reports):]]
            if skipped:  # as in the kernel, the cell stops at its first failed check
                text += f"\n(not run until the checks above pass: the {', '.join(skipped)} checks)"
            cell.outputs = [new_output("stream", name="stdout", text=f"(graded in a separate process)\n{text}\n")]
            if not passed:
                failed = ", ".join(f"{r.exercise} ({r.kind})" for r in reports if not r.passed)
                cell.outputs.append(_error("AssertionError", f"{failed}: checks failed (see the report above)"))
            self.log.info("isolated grading of %s: %s", meta.get("grade_id"), "passed" if passed else "failed")
        return nb, resources


class ExecuteToTheEnd(Execute):
    """nbgrader's ``Execute``, except that a kernel that dies fails its cell, not the autograde."""

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any] | None = None,
                   km: Any = None) -> tuple[NotebookNode, dict[str, Any]]:
        self._died_in = None
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell: NotebookNode, resources: dict[str, Any],
                        index: int) -> tuple[NotebookNode, dict[str, Any]]:
        if self._died_in is not None:
            if cell.cell_type == "code":
                cell.outputs = [_error("KernelDied", f"not run: the kernel died in code cell {self._died_in}")]
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._died_in = index
            self.log.warning("the kernel died in cell %d; the cells after it are not run", index)
            cell.outputs.append(_error("KernelDied", "the kernel died while running this cell (it crashed, "
                                       "ran out of memory or was ended by the code); the cells after it "
                                       "were not run"))
            return cell, resources
