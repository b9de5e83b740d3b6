"""The lessons' check-your-understanding quizzes (mia_course.quiz, mia_course/quizzes/NN.yaml),
the script that puts them into the lessons (docs/site/quizzes.py), and the glossary.

The quizzes in a browser (JupyterLab and a built page): tests/test_quiz_browser.py.
"""
import importlib.util
import re
import shutil
from pathlib import Path

import nbformat
import pytest
import yaml

from mia_course.quiz import QUIZ_DIR, load_quiz, quiz, validate_quiz

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
QUIZ_LESSONS = [p for p in LESSONS if p.name[:2] != "00"]


def load_script():
    spec = importlib.util.spec_from_file_location("lesson_quizzes", ROOT / "docs" / "site" / "quizzes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


script = load_script()


def headings(nb):
    return {re.sub(r"^#+\s*", "", line).strip() for c in nb.cells if c.cell_type == "markdown"
            for line in c.source.splitlines() if re.match(r"^#{1,6}\s", line)}


def dummy_values(data):
    fields = set()
    for q in data["questions"]:
        fields |= {m for m in re.findall(r"\{(\w+)(?::[^}]*)?\}", q["question"])}
    return {f: 0.5 for f in fields}


# ---------------------------------------------------------------- the quiz files
def test_every_lesson_from_01_has_a_quiz_and_no_other_file_is_there():
    assert sorted(p.stem for p in QUIZ_DIR.glob("*.yaml")) == [p.name[:2] for p in QUIZ_LESSONS]


@pytest.mark.parametrize("path", QUIZ_LESSONS, ids=lambda p: p.stem)
def test_each_quiz_is_well_formed_and_links_to_a_heading_of_its_lesson(path):
    data = yaml.safe_load((QUIZ_DIR / f"{path.name[:2]}.yaml").read_text())
    questions = data["questions"]
    assert 3 <= len(questions) <= 6
    for q in questions:
        assert q["targets"].strip(), "each question names the misconception or idea it targets"
        if q["kind"] == "choice":
            assert sum(bool(o.get("correct")) for o in q["options"]) == 1
            assert all(o["why"].strip() for o in q["options"]), "every option explains itself"
        else:
            assert q["kind"] == "number" and q["tolerance"] > 0 and q["why"].strip() and q["otherwise"].strip()
            assert all(abs(w["value"] - q["answer"]) > q["tolerance"] for w in q.get("wrong", []))
    nb = nbformat.read(path, as_version=4)
    missing = {q["see"] for q in questions} - headings(nb)
    assert not missing, f"{path.name}: the quiz links to headings the lesson does not have: {missing}"
    validate_quiz(data)


def test_a_broken_quiz_is_rejected_naming_what_is_wrong():
    good = load_quiz("05")
    cases = {
        "exactly one option must be correct": lambda d: d["questions"][0]["options"][1].update(correct=True),
        "needs a 'text' and a 'why'": lambda d: d["questions"][0]["options"][2].pop("why"),
        "3 to 6": lambda d: d.update(questions=d["questions"][:2]),
        "within the answer's tolerance": lambda d: d["questions"][1]["wrong"][0].update(value=0.651),
        "positive 'tolerance'": lambda d: d["questions"][1].update(tolerance=0),
        "'see' must be": lambda d: d["questions"][2].pop("see"),
    }
    for message, breakage in cases.items():
        data = yaml.safe_load(yaml.safe_dump(good))
        breakage(data)
        with pytest.raises(ValueError, match=re.escape(message)):
            validate_quiz(data)


# ---------------------------------------------------------------- the rendered quiz
@pytest.mark.parametrize("path", QUIZ_LESSONS, ids=lambda p: p.stem)
def test_the_rendered_quiz_holds_every_explanation_and_loads_nothing_from_outside(path):
    data = load_quiz(path.name[:2])
    page = quiz(path.name[:2], **dummy_values(data)).data
    assert page.count('class="mia-q"') == len(data["questions"])
    for q in data["questions"]:
        for o in q.get("options", []):
            assert o["why"].split()[0] in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "nothing may come from outside"
    assert "<script>" in page and "<style>" in page and "@import" not in page


def test_quiz_checks_its_arguments_before_any_work():
    with pytest.raises(ValueError, match="lesson"):
        quiz("5")
    with pytest.raises(ValueError, match="no quiz"):
        quiz("99")
    with pytest.raises(ValueError, match="missing \\['auc', 'tpr'\\]"):
        quiz("02")
    with pytest.raises(ValueError, match="unexpected \\['x'\\]"):
        quiz("01", x=1.0)
    with pytest.raises(TypeError, match="tpr must be a number"):
        quiz("02", auc=0.6, tpr="high")


def test_run_values_fill_the_question_text():
    page = quiz("02", auc=0.6789, tpr=0.0012).data
    assert "0.68" in page and "0.12%" in page


# ---------------------------------------------------------------- the lessons' cells
@pytest.mark.parametrize("path", QUIZ_LESSONS, ids=lambda p: p.stem)
def test_each_lesson_ends_with_its_quiz_before_the_references(path):
    nb = nbformat.read(path, as_version=4)
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert "references" in tags[-1] and "quiz" in tags[-2] and "quiz-heading" in tags[-3]
    assert sum("quiz" in t for t in tags) == 1
    code = nb.cells[-2].source
    assert f'quiz("{path.name[:2]}"' in code
    # the values the quiz cell passes are the lesson's own variables, assigned in an earlier cell
    for name in re.findall(r"=\s*(\w+)", code):
        assert any(re.search(rf"^\s*(\w+\s*,\s*)*{name}\b[^=\n]*=", c.source, re.M)
                   for c in nb.cells[:-2] if c.cell_type == "code"), f"{path.name}: {name} is not assigned"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_each_lesson_states_its_time_and_what_to_do_before(path):
    first = nbformat.read(path, as_version=4).cells[0].source
    line = next(line for line in first.splitlines() if script.MARK in line)
    assert re.search(r"About \d+ min: running it takes about \d+ s, reading \d+ min", line)
    assert "Before this:" in line


def test_the_script_is_idempotent_and_touches_only_its_cells(tmp_path):
    copy = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", copy)
    for path in sorted(copy.glob("[0-9][0-9]_*.ipynb")):
        assert not script.refresh(path, tmp_path), f"{path.name} is not up to date: run docs/site/quizzes.py"
    # undo what the script manages in one lesson, then let it redo it
    path = copy / QUIZ_LESSONS[3].name
    nb = nbformat.read(path, as_version=4)
    original = nbformat.writes(nb)
    nb.cells = [c for c in nb.cells if not {"quiz", "quiz-heading"} & set(c.metadata.get("tags", []))]
    nb.cells[0].source = "\n".join(l for l in nb.cells[0].source.split("\n") if script.MARK not in l)
    nb.cells.insert(3, nbformat.v4.new_markdown_cell("## A section another developer added"))
    nb.cells[3].id = "added-by-someone"
    nbformat.write(nb, path)
    untouched = [c.source for c in nb.cells[1:]]
    assert script.refresh(path, tmp_path)
    again = nbformat.read(path, as_version=4)
    managed = lambda c: {"quiz", "quiz-heading"} & set(c.metadata.get("tags", []))  # noqa: E731
    assert [c.source for c in again.cells[1:] if not managed(c)] == untouched
    assert not script.refresh(path, tmp_path)
    assert nbformat.writes(again) != original and again.cells[-3].id == f"quiz-heading-{path.name[:2]}"


def test_the_start_page_gives_the_whole_path_with_times():
    first = nbformat.read(LESSONS[0], as_version=4).cells[0].source
    for path in QUIZ_LESSONS:
        assert re.search(rf"\b{path.name[:2]} \(\d+ min\)", first), f"lesson 00 lacks {path.name[:2]}'s time"
    assert re.search(r"about \d+ h \d\d min in all", first)


# ---------------------------------------------------------------- the glossary
GLOSSARY = (ROOT / "docs" / "glossary.md").read_text()
GLOSSARY_TERMS = re.findall(r"^### (.+)$", GLOSSARY, re.M)


def test_every_glossary_term_has_an_anchor_that_jupyterlab_and_the_website_share():
    for term in GLOSSARY_TERMS:
        # JupyterLab: the heading's text with spaces as '-'; MyST: lower-case slug; equal for these
        assert re.fullmatch(r"[a-z0-9 -]+", term), f"glossary heading {term!r}: use lower-case words only"


def test_every_glossary_term_is_linked_from_the_lesson_that_introduces_it_and_every_link_resolves():
    linked = set()
    for path in LESSONS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            for anchor in re.findall(r"\]\(\.\./docs/glossary\.md#([^)]+)\)", cell.source):
                assert anchor.replace("-", " ") in GLOSSARY_TERMS or anchor in [t.replace(" ", "-") for t in
                                                                                GLOSSARY_TERMS], anchor
                linked.add(anchor)
    assert {t.replace(" ", "-") for t in GLOSSARY_TERMS} <= linked, "a glossary term no lesson links to"


def test_the_learners_workspace_gets_the_glossary_the_lessons_link_to(tmp_path):
    from mia_course import cli
    report = cli.copy_lessons(tmp_path)
    assert "docs/glossary.md" in report["copied"]
    assert (tmp_path / "notebooks" / ".." / "docs" / "glossary.md").read_text() == GLOSSARY


def test_the_learners_workspace_gets_every_page_a_lesson_links_to(tmp_path):
    """Every ``../docs/NAME.md`` link of a lesson resolves in a `mia-course lessons` workspace."""
    from mia_course import cli
    cli.copy_lessons(tmp_path)
    linked = set()
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        linked |= set(re.findall(r"\]\(\.\./(docs/[a-z_]+\.md)", path.read_text()))
    assert "docs/reading_results.md" in linked
    for rel in sorted(linked):
        assert (tmp_path / rel).read_text() == (ROOT / rel).read_text(), rel
