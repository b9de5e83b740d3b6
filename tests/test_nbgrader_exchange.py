"""nbgrader's exchange, as docs/instructors.md's "A class on JupyterHub" runs it, offline (issue 22).

The blocks marked ``<!-- run: exchange instructor -->`` and ``<!-- run: exchange student -->``
run in order, the instructor's in a home with the course folder (the guide's configuration, an
assignment of one notebook: ex01), the student's in a home of their own with a
``~/.jupyter/nbgrader_config.py`` naming the same exchange folder (on a hub,
``/etc/jupyter/nbgrader_config.py``). Between fetching and submitting, the student answers.
Both run as the test's own OS user (nbgrader files a submission under the OS user name, or
``JUPYTERHUB_USER`` in a hub's ``jovyan`` container). What the hub itself adds (logins, the
Assignments tab) is not tested here.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "instructors.md"
ANSWER = "def true_class_confidence(proba, y):\n    return proba[np.arange(len(y)), y]"
pytestmark = pytest.mark.slow


def blocks(marker):
    """``[(who, bash)]`` of the guide's blocks marked ``<!-- run: MARKER ... -->``, in order."""
    return re.findall(rf"<!-- run: {marker} ?(\w*) -->\n```bash\n(.*?)```", GUIDE.read_text(), re.S)


def run(script, home, tmp_path):
    env = dict(os.environ, HOME=str(home), COURSE=str(tmp_path / "course"),
               REPO=str(ROOT), PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run(["bash", "-c", "set -e\n" + script], cwd=home, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_release_fetch_submit_collect_through_the_exchange(tmp_path):
    pytest.importorskip("nbgrader", reason="nbgrader is not installed (pip install -e '.[dev]')")
    teacher, student = tmp_path / "teacher", tmp_path / "student"
    for home in (teacher, student):
        home.mkdir()
    config = [b for who, b in blocks("classroom") if "cat > nbgrader_config.py" in b]
    assert len(config) == 1
    exchange = tmp_path / "course" / "exchange"
    run(config[0] + '\nmkdir -p source/mia_exercises\ncp "$REPO"/solutions/ex01_*.ipynb source/mia_exercises/\n'
        "nbgrader generate_assignment mia_exercises\n", teacher, tmp_path)
    (student / ".jupyter").mkdir()
    (student / ".jupyter" / "nbgrader_config.py").write_text(f"c = get_config()\nc.Exchange.root = {str(exchange)!r}\n")
    steps = blocks("exchange")
    assert [who for who, _ in steps] == ["instructor", "student", "student", "instructor"]
    log = ""
    for i, (who, script) in enumerate(steps):
        if who == "student" and "submit" in script:  # the student answers question 1
            path = student / "mia_exercises" / "ex01_confidence.ipynb"
            nb = nbformat.read(path, as_version=4)
            cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "ex01_q1_code")
            cell.source = ANSWER
            nbformat.write(nb, path)
        log += run(script, teacher if who == "instructor" else student, tmp_path)
    assert "mia-course mia_exercises" in log  # nbgrader list showed the release
    released = nbformat.read(tmp_path / "course" / "release" / "mia_exercises" / "ex01_confidence.ipynb", as_version=4)
    from nbgrader.utils import get_username
    folder = tmp_path / "course" / "submitted" / get_username() / "mia_exercises"
    collected = nbformat.read(folder / "ex01_confidence.ipynb", as_version=4)
    answer = [c.source for c in collected.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "ex01_q1_code"]
    assert answer == [ANSWER]
    assert ([c.source for c in collected.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "ex01_q1_code"]
            == [c.source for c in released.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "ex01_q1_code"])
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", (folder / "timestamp.txt").read_text())
