"""The slow test (about four minutes): a full nbgrader round trip in a temporary course directory.

``generate_assignment`` on all of solutions/ (its release must equal exercises/), then
``autograde`` of two submissions: the solutions (full marks on every auto-graded cell) and the
untouched student release (zero on every graded cell, the written answers included).
Autograding runs every notebook twice (about four minutes for all exercises on a 2-core
machine); ``make test`` and CI grade all of them. For a quick local run, set
``MIA_ROUNDTRIP_QUICK=1`` to grade a representative subset: one early exercise (02, threshold
attacks) and one later one (04: LiRA and the torch forward pass). Run only this file with
``pytest tests/test_nbgrader_roundtrip.py``; deselect it with ``-m "not slow"``.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "mia_exercises"
TIMEOUT_S = 900  # per nbgrader command; the whole test takes about four minutes
SOLUTIONS = sorted(p.stem for p in (ROOT / "solutions").glob("*.ipynb"))
AUTOGRADED = ["ex02_threshold_attacks", "ex04_lira_and_rmia"] if os.environ.get("MIA_ROUNDTRIP_QUICK") else SOLUTIONS
pytestmark = pytest.mark.slow  # the slow one: register "slow" in pyproject's pytest markers


def nbgrader(course, *args):
    """Run ``python -m nbgrader ARGS`` in ``course``; nbgrader finds its ``alembic`` tool on
    PATH, so the interpreter's bin folder goes first (as in an activated environment)."""
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args, "--force"], cwd=course, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, f"nbgrader {args[0]} failed:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    pytest.importorskip("nbgrader", reason="nbgrader is not installed (pip install -e '.[dev]')")
    root = tmp_path_factory.mktemp("course")
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(root)!r}\n"
        "c.CourseDirectory.course_id = 'mia-course'\n"
        "c.ExecutePreprocessor.timeout = 120\n")
    shutil.copytree(ROOT / "solutions", root / "source" / ASSIGNMENT)
    nbgrader(root, "generate_assignment", ASSIGNMENT)
    for student, source in (("untouched", root / "release" / ASSIGNMENT), ("perfect", ROOT / "solutions")):
        submitted = root / "submitted" / student / ASSIGNMENT
        submitted.mkdir(parents=True)
        for name in AUTOGRADED:
            shutil.copy(source / f"{name}.ipynb", submitted)
    nbgrader(root, "autograde", ASSIGNMENT)
    return root


def grades(course, student):
    """``{(notebook, grade_id): (auto_score, max_score, cell_type)}`` of the autograded
    notebooks, from the gradebook."""
    from nbgrader.api import Gradebook
    out = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert sorted(nb.name for nb in gb.find_assignment(ASSIGNMENT).notebooks) == SOLUTIONS
        for name in AUTOGRADED:
            for g in gb.find_submission_notebook(name, ASSIGNMENT, student).grades:
                out[name, g.name] = (g.auto_score, g.max_score, g.cell.cell_type)
    return out


def test_nbgrader_release_equals_exercises_folder(course):
    """generate_assignment and `make exercises` write the same cells (nbgrader adds checksums,
    our release adds the raises-exception tags for nbval)."""
    for path in sorted((ROOT / "exercises").glob("*.ipynb")):
        ours = nbformat.read(path, as_version=4)
        theirs = nbformat.read(course / "release" / ASSIGNMENT / path.name, as_version=4)
        assert [c.source for c in ours.cells] == [c.source for c in theirs.cells], path.name
        for a, b in zip(ours.cells, theirs.cells):
            meta_b = dict(b.metadata)
            if "nbgrader" in meta_b:
                meta_b["nbgrader"] = {k: v for k, v in b.metadata.nbgrader.items() if k not in ("checksum", "cell_type")}
            assert {k: v for k, v in a.metadata.items() if k != "tags"} == meta_b, (path.name, a.id)


def test_autograde_gives_full_marks_to_the_solutions(course):
    scores = grades(course, "perfect")
    notebooks = {nb for nb, _ in scores}
    assert notebooks == set(AUTOGRADED)
    code = {k: v for k, v in scores.items() if v[2] == "code"}
    assert len(code) >= 2 * len(notebooks)
    assert all(auto == top for auto, top, _ in code.values()), code
    written = {k: v for k, v in scores.items() if v[2] == "markdown"}
    assert written and all(auto is None for auto, _, _ in written.values()), "written answers: graded by hand"


def test_autograde_gives_zero_to_the_untouched_release(course):
    scores = grades(course, "untouched")
    assert scores and len(scores) == len(grades(course, "perfect"))
    assert all(auto == 0 for auto, _, _ in scores.values()), scores
