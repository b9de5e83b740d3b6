"""The course website (docs/site/build.py, `make site`): what goes on it, and the built site in
a real browser.

The first tests need no build: every lesson ends with its References cell written from the one
BibTeX file, the table of contents takes every lesson and exercise from the folders (never
``solutions/``), and a lesson whose tested run is missing or stale stops the build.

The browser test opens the built site (``build/site``; `make test` builds it before running
this file, `make site` builds it alone) in Debian's headless chromium with Playwright, served
on localhost: the landing page and every page of the table of contents load without console
errors and without a request that leaves the site (any is blocked and reported), every image
loads, every internal link resolves, the widget lessons show their static picture, MathJax
(vendored) renders, and no page comes from ``solutions/``.
"""
import contextlib
import functools
import http.server
import importlib.util
import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import urljoin, urlparse

import nbformat
import pytest

from helpers import require_browser, skip_or_fail

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("MIA_SITE_DIR", ROOT / "build" / "site"))
WIDGET_LESSONS = ("01_alice_and_the_ad_model", "04_lira_and_rmia", "09_differential_privacy", "13_playground")
HOW_TO_BUILD = "build it with `make site` (`make test` builds it before this test)"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions"]


def load_build():
    spec = importlib.util.spec_from_file_location("site_build", ROOT / "docs" / "site" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = load_build()
LESSONS = build.lessons()


# ---------------------------------------------------------------- no build needed
@pytest.fixture(scope="module")
def bib():
    pytest.importorskip("pybtex", reason="the site's packages are missing: pip install -e '.[dev]'")
    return build.load_bib()


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_each_lesson_ends_with_references_written_from_the_bibliography(path, bib):
    nb = nbformat.read(path, as_version=4)
    keys = build.cited_keys(nb)
    assert keys is not None, (f"{path.name} has no References cell: add its papers to LESSON_CITES in "
                              "docs/site/build.py and run `python docs/site/build.py --references`")
    assert keys and set(keys) <= set(bib.entries), f"{path.name} cites keys not in references.bib"
    assert nb.cells[-1].source == build.references_source(keys, bib), \
        f"{path.name}: its References cell differs from references.bib's entries (rewrite it from the bib)"


def test_every_paper_in_the_bibliography_is_cited_by_a_lesson(bib):
    cited = {k for keys in build.LESSON_CITES.values() for k in keys}
    assert set(bib.entries) == cited


def test_the_table_of_contents_takes_every_lesson_and_exercise_and_no_solution():
    toc = build.toc(build.lessons(), build.exercises())
    for path in build.lessons() + build.exercises():
        assert f"- file: {path.parent.name}/{path.stem}\n" in toc
    assert "file: solutions" not in toc


def test_the_pages_of_docs_are_in_the_table_of_contents_and_cite_only_the_bibliography(bib):
    toc = build.toc(build.lessons(), build.exercises())
    for name in build.DOC_PAGES:
        text = (ROOT / "docs" / f"{name}.md").read_text()
        assert f"- file: docs/{name}\n" in toc
        keys = set(re.findall(r"\{cite:p\}`([^`]+)`", text))
        assert keys and keys <= set(bib.entries), f"docs/{name}.md cites keys not in references.bib"
        # its links to lessons are relative, as the site stages it (docs/NAME.md beside notebooks/)
        for target in re.findall(r"\]\((\.\./notebooks/[^)#]+)", text):
            assert (ROOT / "docs" / target).resolve().exists(), f"docs/{name}.md links to a missing {target}"
        assert f"(docs/{name}.md)" in build.landing_page(), f"the README does not link docs/{name}.md"


def test_the_landing_page_links_every_lesson():
    page = build.landing_page()
    for path in LESSONS:
        assert f"[{path.stem}](notebooks/{path.name})" in page, f"the README's lesson map lacks {path.stem}"


def test_a_missing_stale_or_failed_run_stops_the_build(tmp_path):
    lesson = LESSONS[1]
    with pytest.raises(SystemExit, match="no executed copy"):
        build.executed_lesson(lesson, tmp_path)
    run = nbformat.read(lesson, as_version=4)
    (tmp_path / "notebooks").mkdir()
    run.cells[0].source += "\nan edit made after the run"
    nbformat.write(run, tmp_path / "notebooks" / lesson.name)
    with pytest.raises(SystemExit, match="older version"):
        build.executed_lesson(lesson, tmp_path)
    run = nbformat.read(lesson, as_version=4)
    code = next(c for c in run.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="", traceback=[])]
    nbformat.write(run, tmp_path / "notebooks" / lesson.name)
    with pytest.raises(SystemExit, match="error"):
        build.executed_lesson(lesson, tmp_path)
    shutil.copy2(lesson, tmp_path / "notebooks" / lesson.name)
    assert build.executed_lesson(lesson, tmp_path).cells


# ---------------------------------------------------------------- the built site
@pytest.fixture(scope="module")
def site():
    if not (SITE / "index.html").exists():
        skip_or_fail(f"the site is not built in {SITE}; {HOW_TO_BUILD}")
    return SITE


def page_paths(site):
    pages = [site / "intro.html"] + [site / "notebooks" / f"{p.stem}.html" for p in LESSONS]
    pages += [site / "exercises" / f"{p.stem}.html" for p in build.exercises()]
    pages += [site / "docs" / f"{name}.html" for name in build.DOC_PAGES]
    return pages + [site / name for name in ("instructors.html", "glossary.html", "api.html", "bibliography.html")]


def test_every_lesson_is_on_the_site_executed_and_no_solution_is(site):
    for path in page_paths(site):
        assert path.exists(), f"{path.relative_to(site)} is not on the site"
    for lesson in LESSONS:
        html = (site / "notebooks" / f"{lesson.stem}.html").read_text()
        assert "cell_output" in html, f"{lesson.stem}: the page shows no outputs (not executed)"
    assert not [p for p in site.rglob("*") if "solution" in p.name.lower() or "solutions" in p.parts]
    for exercise in build.exercises():
        html = (site / "exercises" / f"{exercise.stem}.html").read_text()
        assert "BEGIN SOLUTION" not in html and "BEGIN HIDDEN TESTS" not in html


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def quiz_problems(page, url):
    """A lesson's quiz (its saved output) works without a kernel: its script ran, and a wrong and
    the right option of its first question show their explanations (tests/test_quiz_browser.py
    tests one quiz in depth, on a page built alone and in JupyterLab)."""
    box = page.locator(".mia-quiz[data-ready]")
    if box.count() != 1:
        return [f"{url}: no working quiz (.mia-quiz whose script ran): {box.count()}"]
    first = box.locator('.mia-q[data-kind="choice"]').first
    found = []
    for correct, verdict in (("0", "Not quite."), ("1", "Right.")):
        first.locator(f'.mia-opt[data-correct="{correct}"]').first.click()
        text = first.locator(".mia-feedback").inner_text()
        if not text.startswith(verdict) or len(text) < len(verdict) + 20:
            found.append(f"{url}: answering the quiz {'right' if correct == '1' else 'wrong'} shows {text!r}")
    return found


def test_the_site_in_a_browser(site, server):
    chromium = require_browser()
    from playwright import sync_api
    problems, seen_links = [], set()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(30_000)
        current = {"url": None}

        def outside(route):  # the site must work offline: nothing may come from elsewhere
            problems.append(f"{current['url']}: asked for {route.request.url} from outside the site")
            route.abort()

        page.route(re.compile(r"^(?!http://127\.0\.0\.1:\d+/|data:|blob:|about:).*"), outside)
        page.on("console", lambda m: m.type == "error" and problems.append(f"{current['url']}: console: {m.text}"))
        page.on("pageerror", lambda e: problems.append(f"{current['url']}: page error: {e}"))
        # the browser's own favicon.ico probe is not the site's (the site names no icon)
        page.on("requestfailed", lambda r: not r.url.endswith("/favicon.ico")
                and problems.append(f"{current['url']}: failed request {r.url}"))
        page.on("response", lambda r: r.status >= 400 and not r.url.endswith("/favicon.ico")
                and problems.append(f"{current['url']}: {r.status} {r.url}"))
        for path in page_paths(site):
            url = f"{server}/{path.relative_to(site).as_posix()}"
            current["url"] = url
            page.goto(url, wait_until="load")
            with contextlib.suppress(sync_api.TimeoutError):
                page.wait_for_load_state("networkidle", timeout=10_000)
            broken = page.eval_on_selector_all(
                "img", "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 120))")
            problems += [f"{url}: image does not load: {src}" for src in broken]
            for href in page.eval_on_selector_all("a[href]", "as => as.map(a => a.href)"):
                parsed = urlparse(urljoin(url, href))
                if parsed.scheme in ("http", "https") and parsed.netloc == urlparse(server).netloc:
                    seen_links.add((url, parsed.path))
            if path.stem in WIDGET_LESSONS:
                pictures = page.locator(".mia-static img")
                if pictures.count() == 0:
                    problems.append(f"{url}: the widget's static picture is missing")
                elif "running notebook" not in page.locator(".mia-static").first.inner_text():
                    problems.append(f"{url}: the widget's note that the knobs need a running notebook is missing")
            if path.parent.name == "notebooks" and not path.stem.startswith("00"):
                problems += quiz_problems(page, url)
            if path.name == "intro.html" and page.locator("mjx-container").count() == 0:
                problems.append(f"{url}: MathJax did not render the landing page's formula")
        browser.close()
    for source, target in sorted(seen_links):
        if "solutions/" in target:
            problems.append(f"{source}: links to {target} (solutions are never published)")
        local = site / target.lstrip("/")
        if not (local.is_file() or (local / "index.html").is_file()):
            problems.append(f"{source}: internal link to {target} does not resolve")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:40])


# ---------------------------------------------------------------- issue 23: the site always builds
def test_a_progress_bar_shows_its_last_state():
    bar = "training:   0%|          | 0/432\rtraining:  50%|#####     | 216/432\rtraining: 100%|##########| 432/432\n"
    assert build.final_stream_text(bar) == "training: 100%|##########| 432/432\n"
    assert build.final_stream_text("a\nb\rc\n") == "a\nc\n"
    nb = nbformat.v4.new_notebook()
    cleared = nbformat.v4.new_output("stream", name="stdout", text="steps:  10%|#\rsteps: 100%|#|\r          \r")
    kept = nbformat.v4.new_output("stream", name="stdout", text="accuracy 0.75\n")
    nb.cells = [nbformat.v4.new_code_cell("x", outputs=[cleared, kept])]
    assert [o.text for o in build.final_progress(nb).cells[0].outputs] == ["accuracy 0.75\n"]
    parts = ["fit:   0%|  | 0/4\r", "fit:  50%|# | 2/4\r", "fit: 100%|##| 4/4\n"]  # one update per message
    nb.cells = [nbformat.v4.new_code_cell("x", outputs=[nbformat.v4.new_output("stream", name="stdout", text=t)
                                                        for t in parts])]
    assert [o.text for o in build.final_progress(nb).cells[0].outputs] == ["fit: 100%|##| 4/4\n"]


def test_the_kernels_of_a_notebook_run_print_text_progress_bars(tmp_path):
    """The IPython startup file of the nbval kernels replaces tqdm.auto's widget by the text bar."""
    import subprocess
    import sys
    spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
    root_conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(root_conftest)
    ipythondir = root_conftest.text_progress_ipythondir(tmp_path)
    code = ("from tqdm.auto import tqdm, trange\n"
            "bar = tqdm(range(3), desc='steps')\nlist(bar)\nbar.close()\n"
            "print('final', bar.n, type(bar).__name__, type(trange(2)).__name__)\n")
    out = subprocess.run([sys.executable, "-m", "IPython", "--no-banner", "-c", code],
                         capture_output=True, text=True, check=True, env=dict(os.environ, IPYTHONDIR=ipythondir))
    assert "final 3 _TextProgress _TextProgress" in out.stdout, out.stdout + out.stderr
    assert "steps: 100%" in out.stdout and "final 3" in out.stdout


def test_a_lesson_over_budget_is_noted_not_fatal(tmp_path):
    import json
    lesson = LESSONS[1]
    (tmp_path / "run_times.json").write_text(json.dumps(
        {"budget_s": 60.0, "seconds": {f"notebooks/{lesson.name}": 95.2, f"notebooks/{LESSONS[0].name}": 3.0}}))
    slow, budget = build.over_budget(tmp_path, LESSONS)
    assert slow == {lesson.stem: 95.2} and budget == 60.0
    note = build.over_budget_note(slow, budget)
    assert f"[{lesson.stem}](notebooks/{lesson.name})" in note and "95 s" in note and "60 s" in note
    assert build.over_budget_note({}, 60.0) == "" and build.over_budget(tmp_path / "none", LESSONS) == ({}, None)
    assert note in build.landing_page(note=note)


def test_make_site_notes_and_make_test_fails_a_slow_lesson():
    makefile = (ROOT / "Makefile").read_text()
    site = makefile.split("\nsite:", 1)[1].split("\n\n")[0]
    test = makefile.split("\ntest:", 1)[1].split("\n\n")[0]
    assert "--over-budget=note" in site and "--over-budget" not in test


def test_the_repository_link_comes_from_citation_cff(tmp_path):
    (tmp_path / "CITATION.cff").write_text("cff-version: 1.2.0\nrepository-code: \"https://example.org/mia-course\"\n")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert build.repository_url(tmp_path) == "https://example.org/mia-course"
    config = build.site_config(tmp_path)
    assert "use_repository_button: true" in config and "url: https://example.org/mia-course" in config
    (tmp_path / "CITATION.cff").write_text("cff-version: 1.2.0\n")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n[project.urls]\nRepository = 'https://example.org/r'\n")
    assert build.repository_url(tmp_path) == "https://example.org/r"
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert build.repository_url(tmp_path) is None and "use_repository_button: false" in build.site_config(tmp_path)


def load_site_fixes():
    spec = importlib.util.spec_from_file_location("site_fixes", ROOT / "docs" / "site" / "_ext" / "site_fixes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_signatures_name_the_type_aliases_and_lessons_are_links():
    sphinx_typing = pytest.importorskip("sphinx.util.typing")
    from numpy.typing import ArrayLike
    fixes = load_site_fixes()
    expanded = sphinx_typing.stringify_annotation(ArrayLike | None, "smart")
    assert "_SupportsArray" in expanded  # what autodoc would show
    signature = f"(X: {expanded}, random_state: int | ~numpy.random.mtrand.RandomState | None = None)"
    assert fixes.name_aliases(signature, fixes.alias_expansions()) == \
        "(X: ArrayLike | None, random_state: RandomStateLike = None)"
    lines = fixes.link_lessons(["Introduced in notebooks/03_shadow_models.ipynb.", "see notebooks/04_x.ipynb"])
    assert lines == ["Introduced in :doc:`03_shadow_models </notebooks/03_shadow_models>`.",
                     "see notebooks/04_x.ipynb"]


def test_the_built_site_is_readable(site):
    api = (site / "api.html").read_text()
    assert "_SupportsArray" not in api and "ArrayLike" in api, "the API reference expands numpy's ArrayLike"
    assert re.search(r'Introduced in <a [^>]*href="notebooks/\d\d_\w+\.html', api), \
        "'Introduced in' is not a link to the lesson"
    for lesson in LESSONS:
        html = (site / "notebooks" / f"{lesson.stem}.html").read_text()
        frozen = re.findall(r"\b0%\|[^<\n]*\| 0/\d+", html)
        assert not frozen, f"{lesson.stem}: a progress bar is shown frozen at its first state: {frozen[:2]}"
    if build.repository_url():
        assert build.repository_url() in (site / "intro.html").read_text()
