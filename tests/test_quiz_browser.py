"""The lessons' quizzes in a real browser (Debian's chromium, driven by Playwright): answered
wrong and right, on a page built by Jupyter Book without a kernel and in JupyterLab.

- **On a built page**: a small Jupyter Book (lesson 05's headings and its quiz cell, with the
  output the cell gives, saved as the website saves it) is built into ``tmp_path`` (about 30 s);
  the page must load nothing from outside, and the quiz must answer: a wrong option shows "Not
  quite." and that option's explanation, the right one "Right." and its explanation, a numeric
  answer is checked with its tolerance, a known wrong number gets its own explanation, and the
  "where this is taught" link scrolls to its heading. ``tests/test_site.py`` checks every lesson's
  quiz on the full site the same way.
- **In JupyterLab**: a server (as in tests/test_browser.py) opens a small notebook with the same
  cells, runs the quiz cell, and the same answers give the same explanations.

Skips without chromium or Playwright (fails where ``make test`` could install chromium), as the
other browser tests do.
"""
import contextlib
import importlib.util
import os
import re
import secrets
import shutil
import subprocess
import sys

import nbformat
import pytest

from helpers import require_browser
from test_browser import IS_ROOT, running_lab

from mia_course.quiz import load_quiz, quiz

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
LESSON = "05"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]


def small_lesson(executed):
    """Lesson 05's Markdown cells (its headings, for the links) and its quiz cell."""
    path = next((ROOT / "notebooks").glob(f"{LESSON}_*.ipynb"))
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "markdown"]
    code = next(c for c in nb.cells if "quiz" in c.metadata.get("tags", []))
    if executed:
        code.outputs = [nbformat.v4.new_output("execute_result", execution_count=1, data={
            "text/html": quiz(LESSON).data, "text/plain": "<IPython.core.display.HTML object>"})]
        code.execution_count = 1
    cells.insert(len(cells) - 1, code)
    nb.cells = cells
    return nb


def answer_the_quiz(page, problems):
    """Answer lesson 05's first question wrong then right and its numeric question wrong, wrong
    with a known mistake, and right; follow a 'where this is taught' link."""
    from playwright.sync_api import expect
    data = load_quiz(LESSON)
    quiz_box = page.locator(".mia-quiz").first
    expect(quiz_box).to_be_visible(timeout=60_000)
    questions = quiz_box.locator(".mia-q")
    expect(questions).to_have_count(len(data["questions"]))
    first, spec = questions.nth(0), data["questions"][0]
    feedback = first.locator(".mia-feedback")
    expect(feedback).to_be_hidden()
    wrong = next(i for i, o in enumerate(spec["options"]) if not o.get("correct"))
    right = next(i for i, o in enumerate(spec["options"]) if o.get("correct"))
    first.locator(".mia-opt").nth(wrong).click()
    expect(feedback).to_be_visible()
    expect(feedback).to_contain_text("Not quite.")
    expect(feedback).to_contain_text(" ".join(spec["options"][wrong]["why"].split()[:6]))
    expect(first.locator(".mia-opt.mia-wrong")).to_have_count(1)
    first.locator(".mia-opt").nth(right).click()
    expect(feedback).to_contain_text("Right.")
    expect(feedback).to_contain_text(" ".join(spec["options"][right]["why"].split()[:6]))
    expect(first.locator(".mia-opt.mia-right")).to_have_count(1)
    expect(first.locator(".mia-opt.mia-wrong")).to_have_count(0)

    k = next(i for i, q in enumerate(data["questions"]) if q["kind"] == "number")
    number, spec = questions.nth(k), data["questions"][k]
    box, feedback = number.locator("input"), number.locator(".mia-feedback")
    for value, verdict, why in ((spec["answer"] + 10 * spec["tolerance"] + 7, "Not quite.", spec["otherwise"]),
                                (spec["wrong"][0]["value"], "Not quite.", spec["wrong"][0]["why"]),
                                (spec["answer"], "Right.", spec["why"])):
        box.fill(str(value))
        number.locator(".mia-check").click()
        expect(feedback).to_contain_text(verdict)
        expect(feedback).to_contain_text(" ".join(why.split()[:5]))
    # every explanation is also in the closed "All answers, explained" box (works without JavaScript)
    expect(first.locator("details.mia-all li")).to_have_count(len(data["questions"][0]["options"]))

    link = questions.nth(0).locator(".mia-see a")
    heading_text = data["questions"][0]["see"]
    link.click()
    heading = page.locator("h1, h2, h3", has_text=heading_text).first
    expect(heading).to_be_in_viewport(timeout=10_000)
    if problems:
        raise AssertionError("\n".join(problems))


# ---------------------------------------------------------------- a built page, no kernel
def load_site_build():
    spec = importlib.util.spec_from_file_location("site_build", ROOT / "docs" / "site" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MINI_CONFIG = """title: quiz test
only_build_toc_files: true
execute:
  execute_notebooks: "off"
launch_buttons:
  thebe: false
sphinx:
  local_extensions:
    site_fixes: _ext  # as the course's site: each script once per page (docs/site/_ext/site_fixes.py)
  config:
    myst_heading_anchors: 3
    html_show_sourcelink: false
    suppress_warnings: ["myst.header", "mystnb.unknown_mime_type"]
"""


@pytest.fixture(scope="module")
def built_page(tmp_path_factory):
    require_browser()
    src = tmp_path_factory.mktemp("book")
    (src / "_config.yml").write_text(MINI_CONFIG)
    (src / "_toc.yml").write_text("format: jb-book\nroot: notebooks/lesson\nchapters:\n  - file: glossary\n")
    shutil.copy2(ROOT / "docs" / "glossary.md", src / "glossary.md")
    shutil.copytree(ROOT / "docs" / "site" / "_ext", src / "_ext", ignore=shutil.ignore_patterns("__pycache__"))
    (src / "notebooks").mkdir()  # as on the site: the lessons one folder below the glossary
    nbformat.write(load_site_build().site_glossary_links(small_lesson(executed=True)),
                   src / "notebooks" / "lesson.ipynb")
    cmd = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build", str(src),
           "--path-output", str(src / "out")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return src / "out" / "_build" / "html" / "notebooks" / "lesson.html"


def test_the_quiz_on_a_built_page_answers_right_and_wrong_and_explains(built_page):
    from playwright.sync_api import sync_playwright
    problems = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=require_browser(), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.route(re.compile(r"^(?!file:|data:|blob:|about:).*"),
                   lambda route: problems.append(f"asked for {route.request.url}") or route.abort())
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.goto(built_page.as_uri(), wait_until="load")
        try:
            answer_the_quiz(page, problems)
            # the first cell's glossary links lead to the glossary page's entries
            hrefs = page.eval_on_selector_all('a[href*="glossary"]', "as => as.map(a => a.href)")
            entries = [h for h in hrefs if "#" in h]
            assert entries, "the lesson links no glossary entry"
            for href in entries:
                page.goto(href, wait_until="load")
                anchor = href.split("#", 1)[1]
                assert page.locator(f"[id='{anchor}']").count() == 1, f"{href}: no such entry in the glossary"
        finally:
            browser.close()


# ---------------------------------------------------------------- JupyterLab
@pytest.fixture
def lab_with_quiz(tmp_path):
    chromium = require_browser()
    folder = tmp_path / "course"
    folder.mkdir()
    nbformat.write(small_lesson(executed=False), folder / "quiz.ipynb")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    yield from running_lab(folder, tmp_path, chromium, env)


def test_the_quiz_in_jupyterlab_answers_right_and_wrong_and_explains(lab_with_quiz, tmp_path):
    from playwright.sync_api import expect, sync_playwright
    lab = lab_with_quiz
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=lab["chromium"], headless=True,
                                    args=["--no-sandbox"] if IS_ROOT else [])
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.set_default_timeout(120_000)
        try:
            page.goto(f"{lab['base']}/lab/tree/quiz.ipynb?token={lab['token']}")
            idle = page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"\| Idle$")).first
            expect(idle).to_be_visible(timeout=120_000)
            page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
            page.locator(".lm-Menu-item", has_text=re.compile(r"^Run All Cells")).click()
            answer_the_quiz(page, [])
        except Exception:
            with contextlib.suppress(Exception):
                page.screenshot(path=str(tmp_path / "failure.png"))
                print(f"screenshot: {tmp_path / 'failure.png'}; JupyterLab log: {lab['log']}")
            raise
        finally:
            browser.close()
