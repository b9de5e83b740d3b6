"""Build the course website (Jupyter Book 1) from the repository, offline.

    python docs/site/build.py --executed build/executed --out build/site   # `make site` does this
    python docs/site/build.py --references                                # append missing References cells
    python docs/site/build.py --quizzes      # refresh each lesson's quiz cells and time line (quizzes.py)

The pages are staged in ``build/site-src/``: a landing page from the README (story and lesson
map), every lesson (``notebooks/*.ipynb``) with the outputs of its tested run (the executed
copies that ``pytest --nbval-lax notebooks --executed-dir=build/executed`` writes: each lesson
is executed once, by its test), every student exercise as handed out (``exercises/``, not
executed; ``solutions/`` is never read), the instructors' guide, the glossary, the pages of ``DOC_PAGES``
(``docs/reading_results.md``: what a result means), an API reference from the
docstrings, and the bibliography (``references.bib``). The table of contents is written from the
folders, so a new lesson or exercise is on the site without an edit here. A lesson whose executed
copy is missing or older than the lesson stops the build. MathJax is vendored from the npm
registry (``npm pack``, once, into ``build/vendor/``): the pages load nothing from a CDN.

The site is written straight into ``--out`` (``build/site/``, the one path the README names;
Sphinx's doctrees stay in ``build/site-work/``). A lesson that ran over the 60 s budget (the
``run_times.json`` that the test run writes next to the executed copies) does not stop the build:
the landing page notes which lessons ran over, and so does the build's last line. Progress bars
show their last state: each printed output keeps, per line, what the last carriage return left
(the text a terminal or JupyterLab shows). The site links to the course's repository when
CITATION.cff (``repository-code``) or pyproject.toml (``[project.urls]``) names it.
"""
import argparse
import json
import pkgutil
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))  # quizzes.py, next to this file
ROOT = HERE.parents[1]
MATHJAX = "mathjax@3.2.2"
REFERENCES_TAG = "references"
# pages of docs/ published beside the lessons, at the same path (docs/NAME.md), so that links between
# them and the lessons (../notebooks/NN_x.ipynb, ../docs/NAME.md) work in the repository and on the site
DOC_PAGES = ("reading_results",)
# the papers each lesson cites; used only to append a lesson's References cell (--references),
# after which the cell's metadata is the record. A new lesson needs its line here.
LESSON_CITES = {
    "00_start_here": ["shokri2017membership", "yeom2018privacy", "carlini2022membership"],
    "01_alice_and_the_ad_model": ["shokri2017membership", "yeom2018privacy"],
    "02_threshold_attacks_and_metrics": ["yeom2018privacy", "carlini2022membership"],
    "03_shadow_models": ["shokri2017membership"],
    "04_lira_and_rmia": ["carlini2022membership", "zarifzadeh2024low"],
    "05_label_only_attacks": ["choquettechoo2021label", "li2021membership", "carlini2022membership"],
    "06_who_is_exposed": ["carlini2022membership", "yeom2018privacy"],
    "07_audit_your_own_model": ["shokri2017membership", "carlini2022membership", "zarifzadeh2024low",
                                "edpb2024opinion28", "hayes2025inexact", "carlini2022privacy", "feldman2020does",
                                "carlini2019secret"],
    "08_regularization_and_data": ["shokri2017membership", "yeom2018privacy"],
    "09_differential_privacy": ["abadi2016deep", "jagielski2020auditing", "nasr2021adversary"],
    "10_output_perturbation": ["carlini2022membership", "choquettechoo2021label", "li2021membership"],
    "11_defense_scorecard": ["abadi2016deep", "jagielski2020auditing", "nasr2021adversary", "steinke2023privacy"],
    "12_auditing_with_canaries": ["carlini2019secret", "jagielski2020auditing", "nasr2021adversary",
                                  "steinke2023privacy", "balle2018improving", "gopi2021numerical",
                                  "keinan2025how", "mahloujifar2025auditing", "nasr2023tight",
                                  "dong2022gaussian", "chua2024private"],
    "13_playground": ["carlini2022membership", "zarifzadeh2024low", "abadi2016deep"],
    "14_model_inversion": ["fredrikson2015model"],
    "15_language_models": ["carlini2019secret", "shi2024detecting", "kandpal2022deduplicating",
                           "das2024blind", "duan2024membership", "carlini2021extracting",
                           "hayes2025strong", "panda2025privacy", "maini2024llm", "zhang2025membership",
                           "nasr2023scalable", "carlini2023quantifying", "lee2022deduplicating"],
}


def lessons(root=ROOT):
    return sorted((root / "notebooks").glob("*.ipynb"))


def exercises(root=ROOT):
    return sorted((root / "exercises").glob("*.ipynb"))


# ---------------------------------------------------------------- references
def load_bib(path=HERE / "references.bib"):
    from pybtex.database import parse_file
    return parse_file(str(path))


def _latex(text):
    from pybtex.richtext import Text
    return Text.from_latex(text).render_as("text").replace("{", "").replace("}", "")


def render_reference(entry):
    """One entry as a line of Markdown: authors (year). *Title*. Venue."""
    people = []
    for person in entry.persons["author"]:
        initials = " ".join(_latex(n)[0] + "." for n in person.first_names + person.middle_names)
        people.append(f"{_latex(' '.join(person.last_names))}, {initials}".strip(", "))
    authors = people[0] if len(people) == 1 else ", ".join(people[:-1]) + ", & " + people[-1]
    fields = entry.fields
    venue = _latex(fields.get("booktitle", fields.get("howpublished", fields.get("journal", ""))))
    doi = f" https://doi.org/{fields['doi']}" if "doi" in fields else ""
    return f"{authors} ({fields['year']}). *{_latex(fields['title'])}*. {venue}.{doi}"


def references_source(keys, bib):
    lines = "\n".join(f"- {render_reference(bib.entries[k])}" for k in keys)
    return f"## References\n\nPapers this lesson draws on:\n\n{lines}\n"


def references_cell(keys, bib):
    cell = nbformat.v4.new_markdown_cell(references_source(keys, bib))
    cell.metadata = {"tags": [REFERENCES_TAG], "mia_course": {"cite": list(keys)}}
    return cell


def cited_keys(nb):
    """The keys of a notebook's References cell (its last cell), or None if it has none."""
    last = nb.cells[-1] if nb.cells else None
    if last is None or REFERENCES_TAG not in last.metadata.get("tags", []):
        return None
    return list(last.metadata.get("mia_course", {}).get("cite", []))


def add_references(root=ROOT, bib=None):
    """Append a References cell to every lesson that lacks one; returns the lessons changed."""
    bib = bib or load_bib()
    changed = []
    for path in lessons(root):
        nb = nbformat.read(path, as_version=4)
        if cited_keys(nb) is not None:
            continue
        if path.stem not in LESSON_CITES:
            raise SystemExit(f"{path.name}: no References cell and no entry in LESSON_CITES ({__file__})")
        nb.cells.append(references_cell(LESSON_CITES[path.stem], bib))
        nbformat.write(nb, path)
        changed.append(path)
    return changed


# ---------------------------------------------------------------- staging
def title_of(nb, fallback):
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#\s+(.+)$", cell.source, re.M)
            if match:
                return match.group(1).strip()
    return fallback


def code_sources(nb):
    return [c.source for c in nb.cells if c.cell_type == "code"]


def executed_lesson(path, executed_dir):
    """The tested run of lesson ``path``; stops the build if it is missing or stale."""
    copy = Path(executed_dir) / "notebooks" / path.name
    hint = f"run its test first: `make site` (or pytest --nbval-lax notebooks --executed-dir={executed_dir})"
    if not copy.exists():
        raise SystemExit(f"{path.name}: no executed copy in {executed_dir}/notebooks; {hint}")
    lesson, run = nbformat.read(path, as_version=4), nbformat.read(copy, as_version=4)
    if [c.source for c in lesson.cells] != [c.source for c in run.cells]:
        raise SystemExit(f"{path.name}: the executed copy in {executed_dir} is of an older version; {hint}")
    if any(o.get("output_type") == "error" for c in run.cells if c.cell_type == "code" for o in c.outputs):
        raise SystemExit(f"{path.name}: the executed copy shows an error")
    return run


def final_stream_text(text):
    """What a terminal shows of ``text``: on each line, what follows its last carriage return
    (a text progress bar rewrites its line with ``\\r``; its last state is what is left)."""
    lines = text.split("\n")
    return "\n".join(line.rstrip("\r").rsplit("\r", 1)[-1] for line in lines)


def final_progress(nb):
    """Every printed output of ``nb`` as it ended: consecutive outputs of one stream joined
    (a bar's updates arrive as many), then ``final_stream_text``; empty ones dropped."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        joined = []
        for out in cell.outputs:
            if (out.get("output_type") == "stream" and joined and joined[-1].get("output_type") == "stream"
                    and joined[-1].name == out.name):
                joined[-1].text += out.text
            else:
                joined.append(out)
        kept = []
        for out in joined:
            if out.get("output_type") == "stream":
                out.text = final_stream_text(out.text)
                if not out.text.strip():
                    continue  # a bar that cleared itself (leave=False) leaves nothing
            kept.append(out)
        cell.outputs = kept
    return nb


def over_budget(executed_dir, lesson_paths):
    """{lesson stem: seconds} of the lessons whose tested run took longer than the budget,
    from ``executed_dir/run_times.json`` (none if the file is missing); and the budget."""
    path = Path(executed_dir) / "run_times.json"
    if not path.exists():
        return {}, None
    record = json.loads(path.read_text())
    budget, seconds = record["budget_s"], record["seconds"]
    slow = {}
    for lesson in lesson_paths:
        t = seconds.get(f"notebooks/{lesson.name}")
        if t is not None and t > budget:
            slow[lesson.stem] = t
    return slow, budget


def over_budget_note(slow, budget):
    """The landing page's note on the lessons that ran over the budget ('' if none did)."""
    if not slow:
        return ""
    items = "\n".join(f"- [{stem}](notebooks/{stem}.ipynb): {t:.0f} s" for stem, t in slow.items())
    return (f"\n```{{note}}\nOn the machine that built this site, {len(slow)} lesson(s) took longer than "
            f"the course's {budget:.0f} s budget (a busy or slow computer; `make test` fails them, "
            f"`make site` only notes them):\n\n{items}\n```\n")


def repository_url(root=ROOT):
    """The course's repository, from CITATION.cff (``repository-code``) or pyproject.toml
    (``[project.urls]``: Repository, Source or Homepage); None if neither names one."""
    cff = root / "CITATION.cff"
    if cff.exists():
        match = re.search(r"^repository-code:\s*[\"']?([^\"'\s]+)", cff.read_text(), re.M)
        if match:
            return match.group(1)
    import tomllib
    urls = tomllib.loads((root / "pyproject.toml").read_text()).get("project", {}).get("urls", {})
    for key in ("Repository", "Source", "Source Code", "Homepage"):
        if key in urls:
            return urls[key]
    return None


def site_config(root=ROOT):
    """_config.yml, with the repository button when the repository's address is known."""
    text = (HERE / "_config.yml").read_text()
    url = repository_url(root)
    if url:
        text = text.replace("  use_repository_button: false", "  use_repository_button: true")
        text += f"\nrepository:\n  url: {url}\n  branch: main\n"
    return text


def site_glossary_links(nb):
    """Lessons link the glossary as ``../docs/glossary.md`` (right in JupyterLab); on the site it is
    ``glossary.md`` at the top, one folder up from the lessons' pages."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = cell.source.replace("](../docs/glossary.md", "](../glossary.md")
    return nb


def site_references(nb, bib):
    """The References cell, on the site: each paper cited into the bibliography (references.bib)."""
    keys = cited_keys(nb)
    if keys:
        lines = "\n".join(f"- {{cite:p}}`{k}` {render_reference(bib.entries[k])}" for k in keys)
        nb.cells[-1].source = (f"## References\n\nPapers this lesson draws on:\n\n{lines}\n\n"
                               "Every paper the course cites: [the bibliography](../bibliography.md).\n")
    return nb


def landing_page(root=ROOT, note=""):
    """The README's story, audience and lesson map, with the lessons linked to their pages
    (``note``: the lessons over budget, from ``over_budget_note``), and the repository's link."""
    text = (root / "README.md").read_text()
    sections = re.split(r"(?m)^## ", text)
    keep = [sections[0]] + [f"## {s}" for s in sections[1:] if s.startswith(("Who it is for", "Lesson map"))]
    page = "\n".join(keep).replace("docs/roc_shadow_models.png", "roc_shadow_models.png")
    page = page.replace("docs/instructors.md", "instructors.md")
    import quizzes  # docs/site/quizzes.py: each lesson's time
    for path in lessons(root):
        minutes = quizzes.minutes(path.name[:2], nbformat.read(path, as_version=4))[0]
        page = page.replace(f"| `{path.stem}` |", f"| [{path.stem}](notebooks/{path.name}) ({minutes} min) |")
    url = repository_url(root)
    source = f"\nThe course's repository: <{url}>\n" if url else ""
    return page + note + source + ("\n## What a defense can promise\nDifferential privacy (lesson 09) bounds every attack, "
                   "whatever its method: at any false positive rate, "
                   "$\\mathrm{TPR} \\le e^{\\varepsilon}\\,\\mathrm{FPR} + \\delta$.\n"
                   "\n## Run it yourself\n`pip install` the course, then `mia-course lab` copies the lessons "
                   "and exercises into a folder of your own and opens them in JupyterLab; the widgets "
                   "(lessons 01, 04, 09 and the playground) need that running notebook: here they show "
                   "their first state as a picture.\n")


def api_page():
    import mia_course
    names = sorted(m.name for m in pkgutil.walk_packages(mia_course.__path__, prefix="mia_course.")
                   if not any(part.startswith("_") for part in m.name.split("."))
                   and ".checks" not in m.name)
    blocks = "\n".join(f"## `{n}`\n\n```{{eval-rst}}\n.. automodule:: {n}\n   :members:\n```\n" for n in names)
    return ("# API reference\n\nGenerated from the docstrings of the public modules of `mia_course` "
            f"(the exercises' graders are left out).\n\n{blocks}")


def vendor_mathjax(vendor_dir):
    """MathJax's browser files, from the npm registry once (``npm pack``), kept in ``vendor_dir``."""
    target = Path(vendor_dir) / "mathjax"
    if (target / "tex-mml-chtml.js").exists():
        return target
    tmp = Path(vendor_dir) / "npm"
    tmp.mkdir(parents=True, exist_ok=True)
    if shutil.which("npm") is None:
        raise SystemExit("npm is needed once to vendor MathJax (apt-get install npm)")
    tarball = subprocess.run(["npm", "pack", MATHJAX, "--silent"], cwd=tmp, check=True,
                             capture_output=True, text=True).stdout.strip().splitlines()[-1]
    shutil.unpack_archive(tmp / tarball, tmp)
    shutil.copytree(tmp / "package" / "es5", target,
                    ignore=shutil.ignore_patterns("*svg*", "mml-*", "tex-*-full*"))
    return target


def toc(lesson_paths, exercise_paths):
    chapters = lambda paths, folder: "\n".join(f"      - file: {folder}/{p.stem}" for p in paths)  # noqa: E731
    return (f"format: jb-book\nroot: intro\nparts:\n  - caption: Lessons\n    chapters:\n"
            f"{chapters(lesson_paths, 'notebooks')}\n"
            f"  - caption: Exercises (as handed out; solutions are not published)\n    chapters:\n"
            f"{chapters(exercise_paths, 'exercises')}\n"
            "  - caption: Reference\n    chapters:\n"
            + "".join(f"      - file: docs/{name}\n" for name in DOC_PAGES)
            + "      - file: instructors\n      - file: glossary\n      - file: api\n"
            "      - file: bibliography\n")


def stage(executed_dir, src, root=ROOT, vendor_dir=None):
    """Write the book's sources into ``src`` (replaced); returns the lesson and exercise pages."""
    if src.exists():
        shutil.rmtree(src)
    (src / "notebooks").mkdir(parents=True)
    (src / "exercises").mkdir()
    shutil.copy2(HERE / "references.bib", src / "references.bib")
    (src / "_config.yml").write_text(site_config(root))
    lesson_paths, exercise_paths, bib = lessons(root), exercises(root), load_bib()
    for path in lesson_paths:
        run = final_progress(executed_lesson(path, executed_dir))
        nbformat.write(site_glossary_links(site_references(run, bib)), src / "notebooks" / path.name)
    for path in exercise_paths:
        shutil.copy2(path, src / "exercises" / path.name)
    (src / "intro.md").write_text(landing_page(root, over_budget_note(*over_budget(executed_dir, lesson_paths))))
    shutil.copy2(root / "docs" / "roc_shadow_models.png", src / "roc_shadow_models.png")
    shutil.copy2(root / "docs" / "instructors.md", src / "instructors.md")
    (src / "docs").mkdir()
    for name in DOC_PAGES:
        shutil.copy2(root / "docs" / f"{name}.md", src / "docs" / f"{name}.md")
    shutil.copy2(root / "docs" / "glossary.md", src / "glossary.md")
    (src / "api.md").write_text(api_page())
    (src / "bibliography.md").write_text("# Bibliography\n\nEvery paper the lessons cite.\n\n"
                                         "```{bibliography}\n:all:\n```\n")
    (src / "_toc.yml").write_text(toc(lesson_paths, exercise_paths))
    shutil.copytree(vendor_mathjax(vendor_dir or root / "build" / "vendor"), src / "_vendor" / "mathjax")
    shutil.copytree(HERE / "_ext", src / "_ext", ignore=shutil.ignore_patterns("__pycache__"))
    return lesson_paths, exercise_paths


# Jupyter Book's own build (``jupyter-book build``) with the HTML written straight into ``out``
SPHINX = """\
import sys
from jupyter_book.sphinx import build_sphinx
src, out, doctrees = sys.argv[1:4]
result = build_sphinx(src, out, noconfig=True, path_config=src + "/_config.yml", doctreedir=doctrees,
                      confoverrides={"external_toc_path": src + "/_toc.yml", "latex_individualpages": False},
                      keep_going=True)
if isinstance(result, Exception):
    raise result
sys.exit(result)
"""


def build(executed_dir, out, root=ROOT):
    src, work, out = root / "build" / "site-src", root / "build" / "site-work", Path(out)
    stage(Path(executed_dir), src, root)
    if out.exists():
        shutil.rmtree(out)
    subprocess.run([sys.executable, "-c", SPHINX, str(src), str(out), str(work / "doctrees")], check=True)
    slow, budget = over_budget(executed_dir, lessons(root))
    if slow:
        print(f"note: {len(slow)} lesson(s) ran over the {budget:.0f} s budget (noted on the site): "
              + ", ".join(f"{stem} {t:.0f} s" for stem, t in slow.items()))
    print(f"the website: {out / 'index.html'}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executed", default=str(ROOT / "build" / "executed"))
    parser.add_argument("--out", default=str(ROOT / "build" / "site"))
    parser.add_argument("--references", action="store_true", help="append missing References cells and stop")
    parser.add_argument("--quizzes", action="store_true",
                        help="insert/refresh each lesson's quiz cells and time line (docs/site/quizzes.py) and stop")
    args = parser.parse_args(argv)
    if args.quizzes:
        import quizzes
        return quizzes.main([])
    if args.references:
        for path in add_references():
            print(f"References cell appended: {path}")
        return
    build(args.executed, args.out)


if __name__ == "__main__":
    main()
