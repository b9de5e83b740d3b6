"""The playground in a real browser: JupyterLab + Debian's chromium, driven by Playwright.

nbval runs notebooks in a bare kernel, so it cannot tell whether a widget *displays*. Here a
JupyterLab server is started from this venv, chromium opens ``notebooks/13_playground.ipynb``,
runs all cells, and checks that the ``mia-playground`` box renders without widget errors or
tracebacks, and that moving the ``epochs`` slider redraws the ``mia-plot`` image.

Needs chromium (``apt-get install chromium`` as root; ``make test`` does this when it can;
``playwright install`` cannot download browsers here) and ``pip install playwright`` (in the
dev extra); the test skips without them, saying how to enable it, except where ``make test``
could install chromium (root with apt-get, as in CI: MIA_REQUIRE_BROWSER=1), where it fails. It takes about 35 s on a 2-core machine (most of it
Run All Cells), longer when the machine is busy. The notebook file is never
written: autosave is off in the server's throw-away settings and the test checks the bytes.
To try another copy of the course (a folder with ``notebooks/13_playground.ipynb``), set
``MIA_BROWSER_ROOT=/that/folder``. Screenshots go to pytest's ``tmp_path`` (paths printed; see
them with ``-s``).
"""
import contextlib
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

from helpers import require_browser

ROOT = Path(os.environ.get("MIA_BROWSER_ROOT", Path(__file__).resolve().parents[1]))
NOTEBOOK = "notebooks/13_playground.ipynb"  # relative to ROOT, as JupyterLab's URL wants it
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
SERVER_START_S = 60   # JupyterLab answering /api/status
PLAYGROUND_S = 300    # each wait of Run All Cells: the widget box visible, then every cell run
REDRAW_S = 180        # slider moved until the plot's image changes (the playground retrains)
# the server's own settings: no autosave (the committed notebook stays output-free), all
# cells in the DOM, no "Select Kernel" dialog (should the notebook lack a kernelspec), no news
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none", "autoStartDefaultKernel": True},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}
# what ipywidgets 8 shows in place of a widget that cannot be displayed: this text, or (when
# the widget's JavaScript fails, e.g. a kernel/front-end version mismatch) this error box
WIDGET_ERROR_TEXT, WIDGET_ERROR_BOX = "Error displaying widget", ".jupyter-widgets-error-widget"
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_lab_settings(folder):
    for plugin, values in LAB_SETTINGS.items():
        path = folder / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def wait_for_status(url, proc, log):
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"JupyterLab exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass  # not listening yet
        time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer {url} within {SERVER_START_S} s:\n{log.read_text()[-3000:]}")


def stop(proc):
    """Terminate the server's process group (its kernels included); kill it if it lingers."""
    for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=wait_s)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def running_lab(root_dir, tmp_path, chromium, env):
    """Run JupyterLab on ``root_dir`` (a free port, a random token, settings and checkpoints in
    ``tmp_path``, never in ``root_dir``); yields its base URL and token, and stops it after."""
    port, token, home = free_port(), secrets.token_hex(16), tmp_path / "lab"
    write_lab_settings(home / "settings")
    log = tmp_path / "jupyterlab.log"
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--ServerApp.port={port}",
           "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root_dir}", f"--LabApp.user_settings_dir={home / 'settings'}",
           f"--LabApp.workspaces_dir={home / 'workspaces'}",
           f"--FileCheckpoints.checkpoint_dir={home / 'checkpoints'}",  # no .ipynb_checkpoints/ there
           ] + (["--allow-root"] if IS_ROOT else [])
    env = dict(env, JUPYTER_RUNTIME_DIR=str(home / "runtime"))
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_status(f"{base}/api/status?token={token}", proc, log)
        yield {"base": base, "token": token, "chromium": chromium, "log": log}
    finally:
        stop(proc)


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on a free port with a random token; yields its base URL and token."""
    chromium = require_browser()
    if not (ROOT / NOTEBOOK).exists():
        pytest.skip(f"{ROOT / NOTEBOOK} does not exist yet")
    env = dict(os.environ)
    if "mia-ipython-" in env.get("IPYTHONDIR", ""):  # conftest's text progress bars: nbval's kernels only
        del env["IPYTHONDIR"]
    yield from running_lab(ROOT, tmp_path, chromium, env)


@contextlib.contextmanager
def notebook_page(p, lab, tmp_path, width):
    """A chromium page on ``lab`` (closed after); on a failure, a screenshot and the server's log."""
    browser = p.chromium.launch(executable_path=lab["chromium"], headless=True,
                                args=["--no-sandbox"] if IS_ROOT else [])
    page = browser.new_page(viewport={"width": width, "height": 1000})
    page.set_default_timeout(PLAYGROUND_S * 1000)
    try:
        yield page
    except Exception:
        with contextlib.suppress(Exception):  # never hide the real failure
            screenshot(page, tmp_path / "failure.png")
        print(f"JupyterLab log: {lab['log']}")
        raise
    finally:
        browser.close()


def open_notebook(page, lab):
    """Open NOTEBOOK and wait until its kernel is idle (the status bar's "... | Idle")."""
    from playwright.sync_api import expect
    page.goto(f"{lab['base']}/lab/tree/{NOTEBOOK}?token={lab['token']}")
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(state="visible")
    idle = page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"\| Idle$")).first
    expect(idle, "the notebook's kernel never became idle").to_be_visible(timeout=PLAYGROUND_S * 1000)


def run_all_cells(page):
    """JupyterLab 4's menu Run > Run All Cells; returns the playground once every cell has run."""
    from playwright.sync_api import expect
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-item", has_text=re.compile(r"^Run All Cells")).click()
    playground = page.locator(".mia-playground").first
    expect(playground, "the .mia-playground widget box never appeared").to_be_visible(timeout=PLAYGROUND_S * 1000)
    running = page.locator(".jp-InputPrompt", has_text="*")  # a "[*]:" prompt: queued or running
    expect(running, "cells still running").to_have_count(0, timeout=PLAYGROUND_S * 1000)
    return playground


def move_slider(playground, label):
    """One step of the slider described ``label`` by keyboard (right, or left at its end)."""
    from playwright.sync_api import expect
    slider = playground.locator(".widget-slider", has=playground.page.locator(
        ".widget-label", has_text=re.compile(f"^{re.escape(label)}$")))
    expect(slider, f"no slider labelled {label!r} in the playground").to_have_count(1)
    handle = slider.locator(".noUi-handle")
    at_end = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
    handle.focus()
    handle.press("ArrowLeft" if at_end else "ArrowRight")


def assert_no_errors(page, when):
    for broken in (page.get_by_text(WIDGET_ERROR_TEXT), page.locator(WIDGET_ERROR_BOX)):
        assert broken.count() == 0, f"{when}: a widget failed to display: {broken.first.inner_text()[:300]!r}"
    stderr = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]:visible',
                          has_text="Traceback")
    assert stderr.count() == 0, f"{when}: a cell shows a traceback:\n{stderr.first.inner_text()[:3000]}"


def plot_src(playground):
    img = playground.locator(".mia-plot img").last
    img.wait_for(state="visible", timeout=PLAYGROUND_S * 1000)
    return img.get_attribute("src")


def wait_for_new_plot(page, playground, before):
    """The plot's new ``src`` once it differs from ``before`` (fails after REDRAW_S seconds)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    try:
        page.wait_for_function("([el, old]) => { const img = el.querySelector('.mia-plot img');"
                               " return img !== null && img.getAttribute('src') !== old; }",
                               arg=[playground.element_handle(), before], timeout=REDRAW_S * 1000)
    except PlaywrightTimeout:
        changed = False
    else:
        changed = True
    assert changed, f"the .mia-plot image did not change within {REDRAW_S} s of moving the epochs slider"
    return plot_src(playground)


def screenshot(page, path, show=None):
    """JupyterLab does not scroll the page itself, so "full page" is the window: show ``show``."""
    if show is not None:
        show.scroll_into_view_if_needed()
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def test_playground_renders_and_the_epochs_slider_redraws_the_plot(lab, tmp_path):
    from playwright.sync_api import sync_playwright

    notebook_bytes, t0 = (ROOT / NOTEBOOK).read_bytes(), time.monotonic()
    with sync_playwright() as p, notebook_page(p, lab, tmp_path, width=1400) as page:
        open_notebook(page, lab)
        print(f"{time.monotonic() - t0:6.1f} s  notebook open, kernel idle")
        playground = run_all_cells(page)
        print(f"{time.monotonic() - t0:6.1f} s  all cells run")
        before = plot_src(playground)
        screenshot(page, tmp_path / "playground.png", playground)
        assert_no_errors(page, "after Run All Cells")
        # a SelectionSlider(continuous_update=False) sends its new value on the slider's change event
        move_slider(playground, "epochs")
        wait_for_new_plot(page, playground, before)
        print(f"{time.monotonic() - t0:6.1f} s  plot redrawn")
        screenshot(page, tmp_path / "playground_after.png", playground)
        assert_no_errors(page, "after moving the epochs slider")
    assert (ROOT / NOTEBOOK).read_bytes() == notebook_bytes, f"{NOTEBOOK} was modified by the test"


def stated_test_accuracy(playground):
    """The target's test accuracy as the playground's table states it."""
    match = re.search(r"test accuracy (\d+\.\d)%", playground.inner_text())
    assert match, "the playground's table states no test accuracy"
    return float(match.group(1))


def images_outside(page):
    """How many images the page shows outside the playground (a figure that left the widget)."""
    return page.evaluate("() => [...document.querySelectorAll('.jp-OutputArea-output img')]"
                         ".filter(i => !i.closest('.mia-playground')).length")


def test_playground_moves_stay_in_the_widget_and_keep_the_target(lab, tmp_path):
    """Issue 23's moves: the controls fit the notebook column, the chosen attacks are ticked,
    moving "shadows" redraws without changing the target (its test accuracy), a click on an
    attack redraws, and no figure ever appears outside the widget (over several moves)."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p, notebook_page(p, lab, tmp_path, width=1100) as page:
        open_notebook(page, lab)
        playground = run_all_cells(page)
        before, stray = plot_src(playground), images_outside(page)
        overflow = playground.evaluate("el => el.scrollWidth - el.clientWidth")
        assert overflow <= 1, f"the playground is {overflow} px wider than the notebook column"
        expect(playground.locator(".mia-attacks button.mod-success")).to_have_count(4)
        accuracy = stated_test_accuracy(playground)
        for _ in range(3):  # right, right, then back: each retrains the shadows only
            move_slider(playground, "shadows")
            before = wait_for_new_plot(page, playground, before)
            assert stated_test_accuracy(playground) == accuracy, "moving the shadows changed the target"
        playground.locator(".mia-attacks button", has_text=re.compile(r"^\s*LiRA\s*$")).click()
        before = wait_for_new_plot(page, playground, before)
        expect(playground.locator(".mia-attacks button.mod-success")).to_have_count(3)
        move_slider(playground, "epochs")
        wait_for_new_plot(page, playground, before)
        assert images_outside(page) == stray, "a figure appeared outside the playground widget"
        assert_no_errors(page, "after the moves")
        screenshot(page, tmp_path / "playground_moves.png", playground)
