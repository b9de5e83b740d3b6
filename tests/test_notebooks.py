"""The lessons' structure: committed without outputs, numbered, and they tell and check a story."""
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for d in ("notebooks", "solutions", "exercises")
                   for p in (ROOT / d).glob("*.ipynb"))
LESSONS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def cells(path):
    return json.loads(path.read_text())["cells"]


def test_there_are_lessons():
    names = [p.stem for p in LESSONS]
    for expected in ("00_start_here", "01_alice_and_the_ad_model",
                     "02_threshold_attacks_and_metrics", "03_shadow_models"):
        assert expected in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    for c in cells(path):
        if c["cell_type"] == "code":
            assert not c.get("outputs"), f"{path.name}: a code cell has outputs; clear them before committing"
            assert c.get("execution_count") is None, f"{path.name}: a code cell has an execution count"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_lesson_has_title_goals_and_summary(path):
    text = "\n".join("".join(c["source"]) for c in cells(path) if c["cell_type"] == "markdown")
    assert text.lstrip().startswith("# "), f"{path.name}: starts with a title"
    if path.stem != "00_start_here":
        for heading in ("Learning goals", "## Summary", "## Try changing"):
            assert heading in text, f"{path.name}: missing {heading!r}"


@pytest.mark.parametrize("path", [p for p in LESSONS if p.stem != "00_start_here"], ids=lambda p: p.name)
def test_lesson_asserts_its_claims_and_shows_plots(path):
    code = "\n".join("".join(c["source"]) for c in cells(path) if c["cell_type"] == "code")
    assert "assert " in code, f"{path.name}: key claims must be asserted in a cell"
    assert "plt.show()" in code, f"{path.name}: plot cells end with plt.show()"
    assert "random_state" in code or "SEED" in code, f"{path.name}: randomness takes a seed"
