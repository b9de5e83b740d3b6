"""The ``mia-course`` command: lessons copied side by side, a learner's changes kept unless
``--force``, and JupyterLab opened in the workspace with nbgrader's tools hidden."""
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from mia_course import cli

ROOT = Path(__file__).resolve().parents[1]


def names(folder):
    return sorted(p.name for p in Path(folder).glob("*.ipynb"))


def test_lessons_copies_notebooks_and_exercises_never_solutions(tmp_path, capsys):
    assert cli.main(["lessons", str(tmp_path / "work")]) == 0
    work = tmp_path / "work"
    assert names(work / "notebooks") == names(ROOT / "notebooks")
    assert names(work / "exercises") == names(ROOT / "exercises")
    assert not (work / "solutions").exists()
    for folder in cli.FOLDERS:
        for path in (work / folder).glob("*.ipynb"):
            assert path.read_bytes() == (ROOT / folder / path.name).read_bytes()
    assert "copied" in capsys.readouterr().out


def test_a_learners_changed_copy_is_kept_unless_forced(tmp_path, capsys):
    work = tmp_path / "work"
    cli.main(["lessons", str(work)])
    edited = work / "notebooks" / "01_alice_and_the_ad_model.ipynb"
    edited.write_text(edited.read_text().replace('"outputs": []', '"outputs": [ ]', 1))
    assert cli.main(["lessons", str(work)]) == 1  # refused, and says how to force
    out = capsys.readouterr().out
    assert "notebooks/01_alice_and_the_ad_model.ipynb" in out and "--force" in out
    assert edited.read_text() != (ROOT / "notebooks" / edited.name).read_text()
    assert cli.main(["lessons", str(work), "--force"]) == 0
    assert edited.read_bytes() == (ROOT / "notebooks" / edited.name).read_bytes()


def test_an_untouched_copy_of_an_older_version_is_updated(tmp_path):
    source = tmp_path / "course"
    for folder in cli.FOLDERS:
        (source / folder).mkdir(parents=True)
    lesson = source / "notebooks" / "01_x.ipynb"
    lesson.write_text("version 1")
    (source / "exercises" / "ex01_x.ipynb").write_text("exercise")
    work = tmp_path / "work"
    assert cli.copy_lessons(work, source=source)["copied"] == ["notebooks/01_x.ipynb", "exercises/ex01_x.ipynb"]
    lesson.write_text("version 2")
    report = cli.copy_lessons(work, source=source)
    assert report["updated"] == ["notebooks/01_x.ipynb"] and not report["kept"]
    assert (work / "notebooks" / "01_x.ipynb").read_text() == "version 2"


def test_lessons_refuses_a_file_as_its_folder(tmp_path):
    target = tmp_path / "a_file"
    target.write_text("")
    with pytest.raises(ValueError, match="dest"):
        cli.copy_lessons(target)


def test_help_explains_both_commands():
    done = subprocess.run([sys.executable, "-m", "mia_course.cli", "--help"], capture_output=True, text=True,
                          check=True)
    assert "lessons" in done.stdout and "lab" in done.stdout
    for command in ("lessons", "lab"):
        sub = subprocess.run([sys.executable, "-m", "mia_course.cli", command, "--help"], capture_output=True,
                             text=True, check=True).stdout
        assert "DIR" in sub
    assert "--force" in subprocess.run([sys.executable, "-m", "mia_course.cli", "lessons", "--help"],
                                       capture_output=True, text=True, check=True).stdout


def test_lab_command_opens_the_first_lesson_in_the_workspace(tmp_path):
    cmd, env = cli.lab_command(tmp_path, ["--no-browser"])
    assert f"--ServerApp.root_dir={tmp_path.resolve()}" in cmd
    # the URL JupyterLab opens and prints is the first lesson's (not the Launcher's /lab)
    assert f"--LabApp.default_url=/lab/tree/{cli.FIRST_LESSON}" in cmd
    assert env["OMP_WAIT_POLICY"] == os.environ.get("OMP_WAIT_POLICY", "PASSIVE")
    assert ("--allow-root" in cmd) == (os.geteuid() == 0)  # only as root
    assert env["JUPYTER_CONFIG_PATH"].split(os.pathsep)[0] == str(tmp_path.resolve() / cli.CONFIG_DIR)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_mia_course_lab_serves_the_workspace_without_nbgrader(tmp_path):
    """Starts the real server (a few seconds): the page config hides nbgrader's lab extension,
    its server extensions are off, and both folders are served side by side."""
    port, token = free_port(), secrets.token_hex(8)
    env = {k: v for k, v in os.environ.items() if k != "JUPYTER_CONFIG_PATH"}
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")
    log = tmp_path / "lab.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "mia_course.cli", "lab", str(tmp_path / "work"),
                                 "--no-browser", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
                                 f"--IdentityProvider.token={token}"], stdout=out, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        page = None
        deadline = time.monotonic() + 90
        while page is None and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{base}/lab?token={token}", timeout=3) as r:
                    page = r.read().decode()
            except OSError:
                time.sleep(0.5)
        assert page is not None, f"JupyterLab did not answer:\n{log.read_text()[-3000:]}"
        config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                                      page, re.S).group(1))
        assert cli.NBGRADER_LAB_EXTENSION in config["disabledExtensions"]
        with urllib.request.urlopen(f"{base}/api/contents?token={token}", timeout=5) as r:
            listed = {item["name"] for item in json.load(r)["content"]}
        assert {"notebooks", "exercises"} <= listed and "solutions" not in listed
        with urllib.request.urlopen(f"{base}/api/contents/notebooks?token={token}", timeout=5) as r:
            assert cli.FIRST_LESSON.split("/")[1] in {item["name"] for item in json.load(r)["content"]}
        try:  # the formgrader (an instructor's page) is not served
            urllib.request.urlopen(f"{base}/formgrader?token={token}", timeout=5)
            formgrader = True
        except urllib.error.HTTPError:
            formgrader = False
        assert not formgrader, "nbgrader's formgrader is served in the learner's workspace"
        # `/` and the URL the server prints lead to lesson 00, not to the Launcher
        with urllib.request.urlopen(f"{base}/?token={token}", timeout=5) as r:
            assert r.geturl().split("?")[0] == f"{base}{cli.FIRST_URL}", r.geturl()
        assert f"{cli.FIRST_URL}?token=" in log.read_text(), log.read_text()[-3000:]
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):  # the server's process group, kernels included
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=15)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
