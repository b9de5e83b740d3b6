"""Every public signature of the package carries type hints (issue 13); read with ``ast``, no import.

Public: a function or method whose name does not start with ``_``, plus ``__init__``, at module level or in
a public class (classes nested in classes included). Functions defined inside functions are skipped. Each
parameter except a method's ``self``/``cls`` needs an annotation (``*args``/``**kwargs`` too), and so does the
return, except for ``__init__``. That the package ships ``py.typed`` is tests/test_public_api.py's check.
"""
import ast
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mia_course"


def _is_public(name):
    return not name.startswith("_") or name == "__init__"


def _missing(func, in_class):
    """The names of ``func``'s unannotated parts ("return" for the return)."""
    a = func.args
    positional = a.posonlyargs + a.args
    if in_class and positional and not any(
            isinstance(d, ast.Name) and d.id == "staticmethod" for d in func.decorator_list):
        positional = positional[1:]  # self / cls
    params = positional + a.kwonlyargs
    params += [p for p in (a.vararg, a.kwarg) if p is not None]
    missing = [p.arg for p in params if p.annotation is None]
    if func.returns is None and func.name != "__init__":
        missing.append("return")
    return missing


def _walk(body, in_class):
    """The public functions of a module or class body (through if/try/with blocks, not into functions)."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if _is_public(node.name):
                yield node, in_class
        elif isinstance(node, ast.ClassDef):
            if not node.name.startswith("_"):
                yield from _walk(node.body, True)
        else:
            for field in ("body", "orelse", "finalbody", "handlers"):
                yield from _walk(getattr(node, field, []) or [], in_class)


def unannotated(source, filename="<string>"):
    """``file:line: function lacks annotations for ...`` for each public function missing a hint."""
    problems = []
    for func, in_class in _walk(ast.parse(source, filename).body, False):
        missing = _missing(func, in_class)
        if missing:
            problems.append(f"{filename}:{func.lineno}: {func.name} lacks annotations for {', '.join(missing)}")
    return problems


def test_every_public_signature_of_the_package_is_annotated():
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        problems += unannotated(path.read_text(), str(path.relative_to(ROOT)))
    assert not problems, f"{len(problems)} public signatures lack type hints:\n" + "\n".join(problems)


def test_the_checker_reports_what_is_missing_and_nothing_else():
    source = textwrap.dedent('''
        import numpy as np

        def annotated(x: int, *args: int, k: str = "a", **kw: float) -> int:
            def nested(y):  # inside a function: not public API
                return y
            return x

        def half(x: int, y) -> int:
            return x

        def no_return(x: int):
            return x

        def _private(x):
            return x

        class Model:
            def __init__(self, alpha: float = 1.0):
                self.alpha = alpha

            def fit(self, X, y: np.ndarray) -> "Model":
                return self

            @classmethod
            def make(cls) -> "Model":
                return cls()

            @staticmethod
            def helper(z) -> int:
                return z

            def _hidden(self, q):
                return q

            class Inner:
                def run(self, *args):
                    pass

        class _PrivateClass:
            def fit(self, X):
                return self

        if True:
            def conditional(a):
                return a
    ''')
    assert unannotated(source, "m.py") == [
        "m.py:9: half lacks annotations for y",
        "m.py:12: no_return lacks annotations for return",
        "m.py:22: fit lacks annotations for X",
        "m.py:30: helper lacks annotations for z",
        "m.py:37: run lacks annotations for args, return",
        "m.py:45: conditional lacks annotations for a, return",
    ]


def test_an_unannotated_init_parameter_is_reported():
    source = "class A:\n    def __init__(self, alpha=1.0):\n        self.alpha = alpha\n"
    assert unannotated(source, "a.py") == ["a.py:2: __init__ lacks annotations for alpha"]
