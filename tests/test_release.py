"""solutions/ -> exercises/: up to date, no leaked solution, valid nbgrader markup, nbval-ready."""
import re
from pathlib import Path

import nbformat
import pytest

from mia_course.grading import REGISTRY, exercise_names
from mia_course.grading.release import (BEGIN_HIDDEN, BEGIN_SOLUTION, CODE_STUB, END_HIDDEN, END_SOLUTION,
                                RAISES_TAG, TEXT_STUB, ReleaseError, is_grade, is_solution, main,
                                release, release_notebook, split_regions)

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
EXERCISES = ROOT / "exercises"
MARKERS = (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN)
CALL = re.compile(r'assert_passes\(\s*"(\w+)",\s*(\w+)')


def read(path):
    return nbformat.read(path, as_version=4)


def graded_code(nb):
    return [c for c in nb.cells if c.cell_type == "code" and is_grade(c) and not is_solution(c)]


def test_lessons_01_to_11_have_exercises():
    prefixes = {p.stem[:4] for p in SOLUTIONS}
    assert {f"ex{n:02d}" for n in range(1, 12)} <= prefixes
    assert all(re.fullmatch(r"ex\d\d_\w+", p.stem) for p in SOLUTIONS)


def test_exercises_are_regenerated_from_solutions(tmp_path):
    release(ROOT / "solutions", tmp_path)
    fresh = sorted(p.name for p in tmp_path.glob("*.ipynb"))
    assert fresh == sorted(p.name for p in EXERCISES.glob("*.ipynb")), \
        "exercises/ has other notebooks than solutions/: run `make exercises`"
    for name in fresh:
        assert (tmp_path / name).read_text() == (EXERCISES / name).read_text(), \
            f"exercises/{name} is out of date: run `make exercises` (python -m mia_course.grading.release)"


def test_release_is_deterministic_and_removes_stale_notebooks(tmp_path):
    (tmp_path / "ex99_stale.ipynb").write_text("{}")
    (tmp_path / "notes.txt").write_text("kept")
    assert main(["--source", str(ROOT / "solutions"), "--dest", str(tmp_path)]) == 0
    first = {p.name: p.read_text() for p in tmp_path.glob("*.ipynb")}
    release(ROOT / "solutions", tmp_path)
    assert first == {p.name: p.read_text() for p in tmp_path.glob("*.ipynb")}
    assert "ex99_stale.ipynb" not in first and (tmp_path / "notes.txt").exists()


def _protected_lines(nb):
    """Lines of solution regions and hidden tests (the first two kinds of secret)."""
    secret = []
    for cell in nb.cells:
        if is_solution(cell) and BEGIN_SOLUTION not in cell.source:
            secret += cell.source.split("\n")  # the whole cell is the solution
            continue
        for begin, end in ((BEGIN_SOLUTION, END_SOLUTION), (BEGIN_HIDDEN, END_HIDDEN)):
            secret += [line for inside, line in split_regions(cell.source, begin, end) if inside]
    return [s.strip() for s in secret]


def test_no_solution_or_hidden_test_line_leaks_into_exercises():
    shipped = "\n".join(c.source for p in EXERCISES.glob("*.ipynb") for c in read(p).cells)
    for path in SOLUTIONS:
        lines = [s for s in _protected_lines(read(path))
                 if s and not s.startswith("#") and len(s) >= 20 and not any(m in s for m in MARKERS)]
        assert lines, f"{path.name}: no solution lines found"
        leaked = [s for s in lines if s in shipped]
        assert not leaked, f"{path.name}: solution lines appear in exercises/: {leaked}"


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_solution_markup_is_valid_nbgrader(path):
    nb = read(path)
    nbformat.validate(nb)
    nbgraderformat = pytest.importorskip("nbgrader.nbgraderformat")
    nbgraderformat.MetadataValidator().validate_nb(nb)  # what generate_assignment checks
    ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
    assert len(ids) == len(set(ids)), f"{path.name}: duplicate grade_id"
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if meta:
            assert meta["schema_version"] == 3 and meta["task"] is False
            assert meta["grade_id"].startswith(path.stem[:4] + "_"), meta["grade_id"]
            assert not meta["grade"] or meta["points"] > 0
        if BEGIN_SOLUTION in cell.source:
            assert is_solution(cell), f"{path.name}: solution region outside a solution cell"
            assert cell.source.count(BEGIN_SOLUTION) == cell.source.count(END_SOLUTION)
        if BEGIN_HIDDEN in cell.source:
            assert is_grade(cell), f"{path.name}: hidden tests outside a graded cell"
        assert RAISES_TAG not in cell.metadata.get("tags", []), "solutions run cleanly: no raises-exception"
        assert not cell.get("outputs") and cell.get("execution_count") is None


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_each_exercise_has_graded_checks_hidden_tests_and_a_written_question(path):
    nb = read(path)
    first = nb.cells[0].source
    assert first.startswith(f"# Exercise {path.stem[2:4]}"), f"{path.name}: title"
    link = re.search(r"\(\.\./(notebooks/\d\d_\w+\.ipynb)\)", first)
    assert link and (ROOT / link.group(1)).exists(), f"{path.name}: must link its lesson"
    tests = graded_code(nb)
    assert len(tests) >= 2, f"{path.name}: at least two graded questions"
    defined = "\n".join(c.source for c in nb.cells if is_solution(c))
    for cell in tests:
        calls = CALL.findall(cell.source)
        assert calls and BEGIN_HIDDEN in cell.source, f"{path.name}: graded cell without check or hidden tests"
        name, function = calls[0]
        assert all(c == (name, function) for c in calls), "one exercise per graded cell"
        assert name in exercise_names() and REGISTRY[name].function_name == function
        assert REGISTRY[name].hidden_tests, f"{name}: has hidden tests, so check must say 'public checks'"
        assert f"def {function}(" in defined, f"{path.name}: {function} is not defined in a solution cell"
        assert 'kind="hidden"' in cell.source.split(BEGIN_HIDDEN)[1]
    written = [c for c in nb.cells if c.cell_type == "markdown" and is_grade(c)]
    assert written and all(is_solution(c) and c.source.strip() != TEXT_STUB for c in written), \
        f"{path.name}: a written question with a model answer"


def test_every_registered_check_is_used_by_exactly_one_graded_cell():
    used = [CALL.findall(c.source)[0][0] for p in SOLUTIONS for c in graded_code(read(p))]
    assert sorted(used) == exercise_names()


@pytest.mark.parametrize("path", sorted(EXERCISES.glob("*.ipynb")), ids=lambda p: p.name)
def test_shipped_exercise_is_stubbed_and_tagged_for_nbval(path):
    nb = read(path)
    assert nb.cells, path.name
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        assert not any(m in cell.source for m in MARKERS), f"{path.name}: markers left in a student notebook"
        if cell.cell_type == "markdown" and is_solution(cell):
            assert cell.source == TEXT_STUB
        if cell.cell_type != "code":
            continue
        assert not cell.outputs and cell.execution_count is None
        top_level_raise = "\nraise NotImplementedError()" in "\n" + cell.source
        if top_level_raise or (is_grade(cell) and not is_solution(cell)):
            assert RAISES_TAG in tags, f"{path.name}: cell {cell.id} will fail and needs {RAISES_TAG!r}"
        else:
            assert RAISES_TAG not in tags, f"{path.name}: cell {cell.id} should run cleanly"
        if is_solution(cell):
            assert CODE_STUB.split("\n")[1] in cell.source


def _nb(*cells):
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {
        "display_name": "Python 3", "language": "python", "name": "python3"}})
    nb.cells = cells
    return nb


def _meta(grade, solution, points=None, locked=False):
    m = {"grade": grade, "solution": solution, "locked": locked, "grade_id": f"c{grade}{solution}",
         "schema_version": 3, "task": False}
    return {"nbgrader": dict(m, points=points) if points is not None else m}


def test_release_notebook_stubs_regions_like_nbgrader():
    code = nbformat.v4.new_code_cell(
        "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n", metadata=_meta(False, True))
    top = nbformat.v4.new_code_cell("### BEGIN SOLUTION\ny = 1\n### END SOLUTION", metadata=_meta(False, True))
    test = nbformat.v4.new_code_cell("assert f(1) == 1\n### BEGIN HIDDEN TESTS\nassert f(2) == 2\n"
                                     "### END HIDDEN TESTS", metadata=_meta(True, False, 1, locked=True))
    answer = nbformat.v4.new_markdown_cell("the model answer", metadata=_meta(True, True, 2))
    code.outputs = [nbformat.v4.new_output("stream", text="hi")]
    out = release_notebook(_nb(code, top, test, answer))
    assert out.cells[0].source == "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
    assert out.cells[0].outputs == [] and RAISES_TAG not in out.cells[0].metadata.get("tags", [])
    assert out.cells[1].source == CODE_STUB and RAISES_TAG in out.cells[1].metadata["tags"]
    assert out.cells[2].source == "assert f(1) == 1" and RAISES_TAG in out.cells[2].metadata["tags"]
    assert out.cells[2].metadata["editable"] is False and out.cells[2].metadata["deletable"] is False
    assert out.cells[3].source == TEXT_STUB and "editable" not in out.cells[3].metadata
    assert code.outputs, "the input notebook is left unchanged"


@pytest.mark.parametrize("source,meta,match", [
    ("### BEGIN SOLUTION\nx = 1", _meta(False, True), "without"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", _meta(False, True), "nested"),
    ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", {}, "not marked as a solution"),
    ("### BEGIN HIDDEN TESTS\nx = 1\n### END HIDDEN TESTS", {}, "not marked as a graded"),
])
def test_release_rejects_broken_markup(source, meta, match):
    with pytest.raises(ReleaseError, match=match):
        release_notebook(_nb(nbformat.v4.new_code_cell(source, metadata=meta)))


def test_cli_reports_errors_without_a_traceback(tmp_path, capsys):
    assert main(["--source", str(tmp_path / "missing"), "--dest", str(tmp_path / "out")]) == 1
    assert "no notebooks" in capsys.readouterr().err


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_release_matches_nbgraders_own_preprocessors(path):
    """nbgrader's ClearSolutions/ClearHiddenTests/LockCells give the same cells (tags aside)."""
    pre = pytest.importorskip("nbgrader.preprocessors")
    theirs, resources = read(path), {}
    for step in (pre.LockCells(), pre.ClearSolutions(), pre.ClearOutput(), pre.ClearHiddenTests()):
        theirs, resources = step.preprocess(theirs, resources)
    ours = read(EXERCISES / path.name)
    assert [c.source for c in ours.cells] == [c.source for c in theirs.cells]
    for a, b in zip(ours.cells, theirs.cells):
        strip = {"tags"}
        assert {k: v for k, v in a.metadata.items() if k not in strip} == dict(b.metadata)


RUBRIC = "**Rubric ("
CRITERION = re.compile(r"^- \*\*([\d.]+) points?\*\*: \S", re.M)


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_each_written_answer_has_a_rubric_beside_its_model_answer_and_students_never_see_it(path):
    """Issue 22: criteria and points beside each model answer, inside the answer cell that the
    release replaces by ``YOUR ANSWER HERE`` (so exercises/ never shows it)."""
    nb = read(path)
    written = [c for c in nb.cells if c.cell_type == "markdown" and is_grade(c)]
    for cell in written:
        points = cell.metadata["nbgrader"]["points"]
        assert cell.source.count(RUBRIC) == 1, f"{path.name}: a rubric in the model answer"
        rubric = cell.source.split(RUBRIC)[1]
        assert rubric.startswith(f"{points:g} points"), f"{path.name}: the rubric's total is the question's points"
        criteria = [float(x) for x in CRITERION.findall(rubric)]
        assert len(criteria) >= 2 and sum(criteria) == points, (path.name, criteria, points)
    shipped = (EXERCISES / path.name).read_text()
    assert "Rubric" not in shipped and "for the grader" not in shipped, f"{path.name}: the rubric leaked"
