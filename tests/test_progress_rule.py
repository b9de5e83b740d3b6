"""The rule conftest.py reports on the lessons: a cell slower than 3 s shows a progress bar."""
import importlib.util
import io
from pathlib import Path

from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
conftest = importlib.util.module_from_spec(_spec)  # the project's conftest.py (tests/ has its own)
_spec.loader.exec_module(conftest)


def text_bar_output():
    """What tqdm's text bar leaves in a cell's stdout (as the kernels nbval starts print it)."""
    buffer = io.StringIO()
    for _ in tqdm(range(40), file=buffer, ascii=True, desc="shadow models"):
        pass
    return {"output_type": "stream", "name": "stdout", "text": buffer.getvalue()}


def test_a_tqdm_bar_counts_as_progress_and_a_print_does_not():
    assert conftest.shows_progress([text_bar_output()])
    widget = {"output_type": "display_data", "data": {"application/vnd.jupyter.widget-view+json": {}}}
    assert conftest.shows_progress([widget])
    assert not conftest.shows_progress([{"output_type": "stream", "name": "stdout", "text": "TPR 12.5%\n"}])
    assert not conftest.shows_progress([])


def test_a_slow_lesson_cell_without_a_bar_is_listed(monkeypatch):
    lesson = str(ROOT / "notebooks" / "99_x.ipynb")
    exercise = str(ROOT / "solutions" / "ex99_x.ipynb")
    monkeypatch.setattr(conftest, "_cells", {lesson: {1: [], 2: [text_bar_output()], 3: [], 4: None},
                                             exercise: {1: []}})
    monkeypatch.setattr(conftest, "_cell_seconds", {lesson: {1: 5.0, 2: 9.0, 3: 1.0, 4: 8.0}, exercise: {1: 9.0}})
    # cell 1: slow and silent; 2: slow with a bar; 3: fast; 4: failed (reported as a failure instead);
    # the exercise is not a lesson
    assert conftest.silent_slow_cells(ROOT) == {"notebooks/99_x.ipynb cell 1": 5.0}
