"""Write the student notebooks (exercises/) from the solution notebooks (solutions/).

Introduced in docs/instructors.md. Run ``python -m mia_course.grading.release`` (``make exercises``)
after editing solutions/. It does what ``nbgrader generate_assignment`` does to the cells,
without needing nbgrader or a course directory:

- a solution region (``### BEGIN SOLUTION`` ... ``### END SOLUTION``) becomes
  ``# YOUR CODE HERE`` + ``raise NotImplementedError()`` (indented like the marker); in a
  markdown cell it becomes ``YOUR ANSWER HERE``; a solution cell without markers is
  replaced entirely (the written questions: model answer in solutions/ only);
- hidden tests (``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS``) are removed;
- outputs and execution counts are stripped; grade, solution and read-only cells are made
  undeletable (and graded or read-only cells uneditable), as nbgrader does;
- a code cell whose stub raises at top level, and every graded code cell (it fails until
  the exercise is solved), gets the ``raises-exception`` tag, so that
  ``pytest --nbval-lax exercises`` accepts the notebooks as shipped.

The output is deterministic: rerunning on unchanged sources rewrites identical files.
"""
import argparse
import copy
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import nbformat

CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"
BEGIN_SOLUTION, END_SOLUTION = "BEGIN SOLUTION", "END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
RAISES_TAG = "raises-exception"


class ReleaseError(ValueError):
    """A solution notebook whose markers or nbgrader metadata are inconsistent."""


def _nbgrader(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def is_solution(cell: Mapping[str, Any]) -> bool:
    """True for a cell marked ``solution`` in its nbgrader metadata."""
    return bool(_nbgrader(cell).get("solution", False))


def is_grade(cell: Mapping[str, Any]) -> bool:
    """True for a cell marked ``grade`` in its nbgrader metadata."""
    return bool(_nbgrader(cell).get("grade", False))


def is_locked(cell: Mapping[str, Any]) -> bool:
    """True for a read-only cell: locked, or graded without being a solution (tests)."""
    return bool(_nbgrader(cell).get("locked", False)) or (is_grade(cell) and not is_solution(cell))


def split_regions(source: str, begin: str, end: str, where: str = "cell") -> list[tuple[bool, str]]:
    """``[(inside, line), ...]`` for the lines of ``source`` (marker lines included,
    counted as inside). Raises ReleaseError for nested or unterminated regions."""
    out, inside = [], False
    for line in source.split("\n"):
        if begin in line:
            if inside:
                raise ReleaseError(f"{where}: nested '{begin}' markers")
            inside = True
            out.append((True, line))
        elif end in line:
            if not inside:
                raise ReleaseError(f"{where}: '{end}' without '{begin}'")
            inside = False
            out.append((True, line))
        else:
            out.append((inside, line))
    if inside:
        raise ReleaseError(f"{where}: '{begin}' without '{end}'")
    return out


def _replace_solutions(cell, where):
    """Stub the solution regions of ``cell``; returns the indents of the stubs written."""
    stub = (CODE_STUB if cell.cell_type == "code" else TEXT_STUB).split("\n")
    lines, indents = [], []
    for inside, line in split_regions(cell.source, BEGIN_SOLUTION, END_SOLUTION, where):
        if BEGIN_SOLUTION in line:
            indent = re.match(r"\s*", line).group(0)
            lines += [indent + s for s in stub]
            indents.append(indent)
        elif not inside:
            lines.append(line)
    if indents and not is_solution(cell):
        raise ReleaseError(f"{where}: solution region in a cell not marked as a solution cell")
    if is_solution(cell) and not indents:  # the whole cell is the solution
        lines, indents = stub, [""]
    cell.source = "\n".join(lines)
    return indents


def _remove_hidden_tests(cell, where):
    regions = split_regions(cell.source, BEGIN_HIDDEN, END_HIDDEN, where)
    if any(inside for inside, _ in regions) and not is_grade(cell):
        raise ReleaseError(f"{where}: hidden tests in a cell not marked as a graded cell")
    cell.source = "\n".join(line for inside, line in regions if not inside)


def _add_tag(cell, tag):
    tags = list(cell.metadata.get("tags", []))
    if tag not in tags:
        cell.metadata["tags"] = tags + [tag]


def release_notebook(nb: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """The student version of the solution notebook ``nb`` (``nb`` is left unchanged)."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("celltoolbar", None)
    for i, cell in enumerate(nb.cells):
        where = f"{name}, cell {i}"
        indents = _replace_solutions(cell, where)
        _remove_hidden_tests(cell, where)
        if is_solution(cell) or is_grade(cell):
            cell.metadata["deletable"] = False
        if is_locked(cell):
            cell.metadata["editable"] = False
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        for key in ("collapsed", "scrolled"):
            cell.metadata.pop(key, None)
        if "" in indents or (is_grade(cell) and not is_solution(cell)):
            _add_tag(cell, RAISES_TAG)
    return nb


def release(source: str | os.PathLike[str] = "solutions", dest: str | os.PathLike[str] = "exercises") -> list[Path]:
    """Write ``dest/<name>.ipynb`` for every ``source/<name>.ipynb``; delete notebooks in
    ``dest`` without a source. Returns the written paths."""
    source, dest = Path(source), Path(dest)
    sources = sorted(source.glob("*.ipynb"))
    if not sources:
        raise ReleaseError(f"no notebooks in {source}")
    dest.mkdir(parents=True, exist_ok=True)
    for stale in sorted(set(dest.glob("*.ipynb")) - {dest / p.name for p in sources}):
        stale.unlink()
    written = []
    for path in sources:
        nb = nbformat.read(path, as_version=4)
        out = dest / path.name
        nbformat.write(release_notebook(nb, path.name), out)
        written.append(out)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mia_course.grading.release [--source solutions] [--dest exercises]``."""
    parser = argparse.ArgumentParser(prog="python -m mia_course.grading.release", description=__doc__.split("\n")[0])
    parser.add_argument("--source", default="solutions", help="solution notebooks (default: solutions)")
    parser.add_argument("--dest", default="exercises", help="student notebooks (default: exercises)")
    args = parser.parse_args(argv)
    try:
        written = release(args.source, args.dest)
    except ReleaseError as err:
        print(f"release: {err}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
