"""The training subpackage: the trainer registry, the package's import graph, and outputs
identical to those before the move (same seeds, same models)."""
import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from mia_course.data import make_ad_clicks
from mia_course.defenses.dp_models import DPMLPClassifier
from mia_course.models import TorchMLPClassifier
from mia_course.shadows import random_halves, train_on_random_halves
from mia_course.training.dp_stacked import BatchedDPMLP
from mia_course.training.mlp import BatchedMLP
from mia_course.training.registry import (TRAINERS, ShadowModels, fit_clone, register_trainer,
                                          train_shadow_models, trainer_for)

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mia_course"


def module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def type_checking_only(tree, _cache={}):
    """The ids of the nodes under ``if TYPE_CHECKING:`` in ``tree``: imports for annotations only,
    never run, so no import cycle at run time."""
    if _cache.get("tree") is not tree:  # the tree itself, not its id: a freed tree's id is reused
        inside = set()
        for node in ast.walk(tree):
            test = getattr(node, "test", None)
            if isinstance(node, ast.If) and (getattr(test, "id", None) == "TYPE_CHECKING"
                                             or getattr(test, "attr", None) == "TYPE_CHECKING"):
                inside |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
        _cache.update(tree=tree, inside=inside)  # holding the tree keeps its nodes' ids unique
    return _cache["inside"]


def import_graph():
    """``{module: set of mia_course modules it imports}``, from every import statement
    (also those inside functions, not those under ``if TYPE_CHECKING:``), ``from a import b``
    counting ``a.b`` when it is a module."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        edges = set()
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import) and id(node) in type_checking_only(tree):
                continue
            if isinstance(node, ast.ImportFrom) and id(node) in type_checking_only(tree):
                continue
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative import
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[:len(anchor) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def find_cycle(graph):
    """One import cycle as a list of modules, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_import_graph_sees_the_imports_it_should():
    graph = import_graph()
    # an import for annotations only (under ``if TYPE_CHECKING:``) is no edge; one that runs is
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import a\nimport b\n")
    skipped = type_checking_only(tree)
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import)]
    assert {n.names[0].name: id(n) in skipped for n in imports} == {"a": True, "b": False}
    assert "mia_course.grading.isolation" not in graph["mia_course.grading.channel"]
    assert "mia_course.grading.channel" in graph["mia_course.grading.isolation"]
    assert "mia_course.training.registry" in graph["mia_course.shadows"]
    assert "mia_course.training.dp_stacked" in graph["mia_course.defenses.dp_models"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_package_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_trainers_import_no_model_and_no_defense():
    graph = import_graph()
    for name, edges in graph.items():
        if name.startswith("mia_course.training"):
            bad = {e for e in edges if e.startswith("mia_course.defenses") or e == "mia_course.models"}
            assert not bad, f"{name} imports {bad}"


def run_fresh(code):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_every_module_imports_in_a_fresh_interpreter():
    names = sorted(module_name(p) for p in PACKAGE.rglob("*.py"))
    print(run_fresh(f"import importlib\nfor n in {names!r}: importlib.import_module(n)"))


def test_importing_a_model_module_alone_registers_its_fast_trainer():
    """Only ``dp_models`` imported: ``train_shadow_models`` still takes the batched DP path."""
    run_fresh("""
import sys
import numpy as np
from mia_course.defenses.dp_models import DPMLPClassifier
from mia_course.training.registry import train_shadow_models
X = np.random.RandomState(0).rand(40, 3).astype(np.float32); y = np.arange(40) % 2
s = train_shadow_models(DPMLPClassifier(epochs=1, hidden_sizes=(4,)), X, y, np.ones((2, 40), bool),
                        random_state=0)
assert type(s).__name__ == "BatchedDPMLP", type(s)
assert "mia_course.shadows" not in sys.modules
""")
    run_fresh("""
import sys
import mia_course.training.registry, mia_course.training.mlp, mia_course.training.dp_stacked
assert not [m for m in sys.modules if m.startswith("mia_course.defenses")], "the trainers import a defense"
""")


def test_the_registry_is_keyed_by_exact_type():
    assert TRAINERS[TorchMLPClassifier] is BatchedMLP and TRAINERS[DPMLPClassifier] is BatchedDPMLP
    assert trainer_for(TorchMLPClassifier()) is BatchedMLP
    assert trainer_for(DPMLPClassifier()) is BatchedDPMLP
    assert trainer_for(TorchMLPClassifier(early_stopping=True)) is None  # declined: one by one
    assert trainer_for(LogisticRegression()) is None

    class Subclass(TorchMLPClassifier):
        pass
    assert trainer_for(Subclass()) is None  # a subclass may change fit: it is looped


def test_register_trainer_routes_train_shadow_models(ad):
    class Tiny(LogisticRegression):
        pass

    @register_trainer(Tiny)
    class Loop(ShadowModels):
        def __init__(self, estimator, seeds, n_threads):
            self.estimator, self.seeds = estimator, seeds

        def fit(self, X, y, masks):
            super().__init__([fit_clone(self.estimator, s, X[m], y[m]) for s, m in zip(self.seeds, masks)], masks)
            return self
    try:
        masks = random_halves(2, 100, np.random.RandomState(0))
        shadows = train_shadow_models(Tiny(), ad.X[:100], ad.y[:100], masks, random_state=0)
        assert type(shadows) is Loop and shadows.seeds == [int(s) for s in np.random.RandomState(0).randint(2**31 - 1, size=2)]
    finally:
        del TRAINERS[Tiny]
    with pytest.raises(TypeError, match="estimator_type"):
        register_trainer(Tiny())


def test_outputs_are_identical_to_those_before_the_training_package():
    """The same calls as before the move (saved then in tests/data) give the same models."""
    ref = np.load(ROOT / "tests" / "data" / "shadows_before_training_package.npz")
    d = make_ad_clicks(300, random_state=0)
    X, y = d.X, d.y
    masks = random_halves(6, len(y), np.random.RandomState(3))
    np.testing.assert_array_equal(masks, ref["masks"])
    s = train_shadow_models(TorchMLPClassifier(epochs=3, hidden_sizes=(16,)), X, y, masks, random_state=4)
    np.testing.assert_allclose(s.predict_proba(X[:40]), ref["mlp"], rtol=0, atol=1e-6)
    s = train_shadow_models(DPMLPClassifier(epochs=2, hidden_sizes=(8,)), X, y, masks, random_state=5)
    assert type(s) is BatchedDPMLP
    np.testing.assert_allclose(s.predict_proba(X[:40]), ref["dp"], rtol=0, atol=1e-6)
    s = train_shadow_models(LogisticRegression(max_iter=50), X, y, masks, random_state=6)
    assert type(s) is ShadowModels
    # scikit-learn fits float32 data in float32: its probabilities (at most 1) carry float32's
    # rounding, 1.2e-7 per unit in the last place, and another BLAS may differ by a few units
    # (1.8e-7 measured); 8 units of float32 is still far below any change a real bug makes
    assert ref["lr"].dtype == np.float32
    np.testing.assert_allclose(s.predict_proba(X[:40]), ref["lr"], rtol=0, atol=8 * np.finfo(np.float32).eps)
    m, s = train_on_random_halves(TorchMLPClassifier(epochs=2, hidden_sizes=(8,)), X, y, 4, np.random.RandomState(7))
    np.testing.assert_array_equal(m, ref["halves_masks"])
    np.testing.assert_allclose(s.predict_proba(X[:40]), ref["halves"], rtol=0, atol=1e-6)
    again = train_shadow_models(TorchMLPClassifier(epochs=3, hidden_sizes=(16,)), X, y, masks, random_state=4)
    np.testing.assert_array_equal(again.predict_proba(X[:40]),
                                  train_shadow_models(TorchMLPClassifier(epochs=3, hidden_sizes=(16,)), X, y,
                                                      masks, random_state=4).predict_proba(X[:40]))
