"""Build step that pyproject.toml cannot say: ship the lessons inside the package.

The lessons (``notebooks/``) and the student exercises (``exercises/``) stay at the top of the
repository; a built wheel carries copies of them in ``mia_course/lessons/`` so that
``mia-course lessons DIR`` works after ``pip install``. ``solutions/`` is never shipped.
Everything else is in pyproject.toml.
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
LESSON_FOLDERS = ("notebooks", "exercises")


class BuildPyWithLessons(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the lessons from the repository itself
        for folder in LESSON_FOLDERS:
            notebooks = sorted((HERE / folder).glob("*.ipynb"))
            if not notebooks:
                raise RuntimeError(f"no notebooks in {HERE / folder}: the wheel would ship no lessons")
            target = Path(self.build_lib) / "mia_course" / "lessons" / folder
            if target.exists():
                shutil.rmtree(target)  # no stale lesson from an earlier build
            target.mkdir(parents=True)
            for notebook in notebooks:
                shutil.copyfile(notebook, target / notebook.name)
        # the pages the lessons link to (../docs/glossary.md, ../docs/reading_results.md);
        # `mia-course lessons` copies them too
        (Path(self.build_lib) / "mia_course" / "lessons" / "docs").mkdir(exist_ok=True)
        for page in ("glossary.md", "reading_results.md"):
            shutil.copyfile(HERE / "docs" / page, Path(self.build_lib) / "mia_course" / "lessons" / "docs" / page)


setup(cmdclass={"build_py": BuildPyWithLessons})
