"""Package conventions: small modules, and every public function names its lesson."""
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import mia_course

ROOT = Path(__file__).resolve().parents[1]
MODULES = [m.name for m in pkgutil.walk_packages(mia_course.__path__, prefix="mia_course.")
           if not m.name.split(".")[-1].startswith("_")]


@pytest.mark.parametrize("path", sorted((ROOT / "mia_course").rglob("*.py")), ids=lambda p: p.name)
def test_modules_stay_readable_in_one_sitting(path):
    n = len(path.read_text().splitlines())
    assert n <= 300, f"{path.name} has {n} lines; split it (modules stay under about 250)"


def public_objects():
    for name in MODULES:
        module = importlib.import_module(name)
        for attr, obj in vars(module).items():
            if attr.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj) or inspect.isclass(obj):
                yield f"{name[len('mia_course.'):]}.{attr}", obj


@pytest.mark.parametrize("name,obj", list(public_objects()), ids=lambda x: x if isinstance(x, str) else "")
def test_public_objects_name_the_lesson_that_introduces_them(name, obj):
    doc = inspect.getdoc(obj) or ""
    module_doc = inspect.getmodule(obj).__doc__ or ""
    assert doc, f"{name} needs a docstring"
    assert "Introduced in" in doc or "Introduced in" in module_doc, \
        f"{name}: its docstring (or its module's) should name the lesson that introduces it"
