"""Build the course website (Jupyter Book 1) from the repository, offline.

    python docs/site/build.py --executed build/executed --out build/site   # `make site` does this
    python docs/site/build.py --references                                # append missing References cells

The pages are staged in ``build/site-src/``: a landing page from the README (story and lesson
map), every lesson (``notebooks/*.ipynb``) with the outputs of its tested run (the executed
copies that ``pytest --nbval-lax notebooks --executed-dir=build/executed`` writes: each lesson
is executed once, by its test), every student exercise as handed out (``exercises/``, not
executed; ``solutions/`` is never read), the instructors' guide, an API reference from the
docstrings, and the bibliography (``references.bib``). The table of contents is written from the
folders, so a new lesson or exercise is on the site without an edit here. A lesson whose executed
copy is missing or older than the lesson stops the build. MathJax is vendored from the npm
registry (``npm pack``, once, into ``build/vendor/``): the pages load nothing from a CDN.
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
ROOT = HERE.parents[1]
MATHJAX = "mathjax@3.2.2"
REFERENCES_TAG = "references"
# the papers each lesson cites; used only to append a lesson's References cell (--references),
# after which the cell's metadata is the record. A new lesson needs its line here.
LESSON_CITES = {
    "00_start_here": ["shokri2017membership", "yeom2018privacy", "carlini2022membership"],
    "01_alice_and_the_ad_model": ["shokri2017membership", "yeom2018privacy"],
    "02_threshold_attacks_and_metrics": ["yeom2018privacy", "carlini2022membership"],
    "03_shadow_models": ["shokri2017membership"],
    "04_lira_and_rmia": ["carlini2022membership", "zarifzadeh2024low"],
    "05_label_only_attacks": ["choquettechoo2021label", "li2021membership"],
    "06_who_is_exposed": ["carlini2022membership", "yeom2018privacy"],
    "07_audit_your_own_model": ["shokri2017membership", "carlini2022membership", "zarifzadeh2024low"],
    "08_regularization_and_data": ["shokri2017membership", "yeom2018privacy"],
    "09_differential_privacy": ["abadi2016deep", "jagielski2020auditing", "nasr2021adversary"],
    "10_output_perturbation": ["carlini2022membership", "choquettechoo2021label", "li2021membership"],
    "11_defense_scorecard": ["abadi2016deep", "jagielski2020auditing", "nasr2021adversary", "steinke2023privacy"],
    "12_auditing_with_canaries": ["carlini2019secret", "jagielski2020auditing", "nasr2021adversary",
                                  "steinke2023privacy"],
    "13_playground": ["carlini2022membership", "zarifzadeh2024low", "abadi2016deep"],
    "14_model_inversion": ["fredrikson2015model"],
    "15_language_models": ["carlini2019secret", "shi2024detecting", "kandpal2022deduplicating",
                           "das2024blind", "duan2024membership"],
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


def site_references(nb, bib):
    """The References cell, on the site: each paper cited into the bibliography (references.bib)."""
    keys = cited_keys(nb)
    if keys:
        lines = "\n".join(f"- {{cite:p}}`{k}` {render_reference(bib.entries[k])}" for k in keys)
        nb.cells[-1].source = (f"## References\n\nPapers this lesson draws on:\n\n{lines}\n\n"
                               "Every paper the course cites: [the bibliography](../bibliography.md).\n")
    return nb


def landing_page(root=ROOT):
    """The README's story, audience and lesson map, with the lessons linked to their pages."""
    text = (root / "README.md").read_text()
    sections = re.split(r"(?m)^## ", text)
    keep = [sections[0]] + [f"## {s}" for s in sections[1:] if s.startswith(("Who it is for", "Lesson map"))]
    page = "\n".join(keep).replace("docs/roc_shadow_models.png", "roc_shadow_models.png")
    page = page.replace("docs/instructors.md", "instructors.md")
    for path in lessons(root):
        page = page.replace(f"| `{path.stem}` |", f"| [{path.stem}](notebooks/{path.name}) |")
    return page + ("\n## What a defense can promise\nDifferential privacy (lesson 09) bounds every attack, "
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
            "  - caption: Reference\n    chapters:\n      - file: instructors\n      - file: api\n"
            "      - file: bibliography\n")


def stage(executed_dir, src, root=ROOT, vendor_dir=None):
    """Write the book's sources into ``src`` (replaced); returns the lesson and exercise pages."""
    if src.exists():
        shutil.rmtree(src)
    (src / "notebooks").mkdir(parents=True)
    (src / "exercises").mkdir()
    for name in ("_config.yml", "references.bib"):
        shutil.copy2(HERE / name, src / name)
    lesson_paths, exercise_paths, bib = lessons(root), exercises(root), load_bib()
    for path in lesson_paths:
        nbformat.write(site_references(executed_lesson(path, executed_dir), bib), src / "notebooks" / path.name)
    for path in exercise_paths:
        shutil.copy2(path, src / "exercises" / path.name)
    (src / "intro.md").write_text(landing_page(root))
    shutil.copy2(root / "docs" / "roc_shadow_models.png", src / "roc_shadow_models.png")
    shutil.copy2(root / "docs" / "instructors.md", src / "instructors.md")
    (src / "api.md").write_text(api_page())
    (src / "bibliography.md").write_text("# Bibliography\n\nEvery paper the lessons cite.\n\n"
                                         "```{bibliography}\n:all:\n```\n")
    (src / "_toc.yml").write_text(toc(lesson_paths, exercise_paths))
    shutil.copytree(vendor_mathjax(vendor_dir or root / "build" / "vendor"), src / "_vendor" / "mathjax")
    shutil.copytree(HERE / "_ext", src / "_ext", ignore=shutil.ignore_patterns("__pycache__"))
    return lesson_paths, exercise_paths


def build(executed_dir, out, root=ROOT):
    src, work = root / "build" / "site-src", root / "build" / "site-work"
    stage(Path(executed_dir), src, root)
    cmd = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()",
           "build", str(src), "--path-output", str(work), "--keep-going"]
    subprocess.run(cmd, check=True)
    html = work / "_build" / "html"
    if Path(out).exists():
        shutil.rmtree(out)
    shutil.copytree(html, out)
    print(f"site: {Path(out) / 'index.html'}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executed", default=str(ROOT / "build" / "executed"))
    parser.add_argument("--out", default=str(ROOT / "build" / "site"))
    parser.add_argument("--references", action="store_true", help="append missing References cells and stop")
    args = parser.parse_args(argv)
    if args.references:
        for path in add_references():
            print(f"References cell appended: {path}")
        return
    build(args.executed, args.out)


if __name__ == "__main__":
    main()
