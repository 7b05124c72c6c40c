"""Notebook 00 in JupyterLab, as a user sees it: headless Chromium (Debian's ``chromium``,
driven by Playwright for Python, no browser download) opens the quickstart, runs all cells and
checks the rendered page: no error output, the panel's widgets, the strength slider (auto off)
changing the shown strength and image, and a bad upload hiding the old image behind an error
that names the file. Then it saves the notebook (Ctrl+S) and checks that ``git status
--porcelain`` is empty: stepping through a notebook changes nothing git tracks.

JupyterLab serves a fresh git clone of the notebooks as they are in this working tree
(``.gitattributes``, ``.gitignore``, ``notebooks/`` with ``jupytext.toml`` and notebook 00's
pair), with the git filter and JupyterLab save hook ``make install`` sets up (``s2e notebooks
setup``): the checkout the user has, without touching this one. The kernel is the ``python3``
of the ``.venv`` that runs JupyterLab, and outputs go to a temporary folder.

Run with ``make test-browser`` (sets ``S2E_BROWSER_TEST=1``; elsewhere the test is skipped).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests._git_checkout import git, notebook_checkout

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "00_quickstart.ipynb"
NOTEBOOK_PATH = f"notebooks/{NOTEBOOK.name}"  # in the served checkout
CHROMIUM = Path(os.environ.get("S2E_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Running every cell of notebook 00 takes about 40 s on a quiet 2-core machine.
RUN_ALL_TIMEOUT_S = 480
PANEL_TIMEOUT_S = 120

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("S2E_BROWSER_TEST") != "1", reason="browser test: run it with `make test-browser`"
    ),
]

#: JupyterLab user settings for the test: every cell stays in the DOM (no windowing), no
#: autosave, no news or update checks (nothing leaves the machine).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "checkForUpdates": False,
        "fetchNews": "false",
    },
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_server(url: str, process: subprocess.Popen, log: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"jupyter lab did not answer {url} within {timeout_s} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 with a token, serving a git checkout of notebook 00;
    yields ``(base_url, token, root_dir)``."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM}: chromium not found; install it with `apt-get install -y chromium`")
    if shutil.which("git") is None:
        pytest.fail("git not found: the test checks `git status` after saving")
    from s2e_lib.workbook import jupyter_save_hook, strip_before_save

    if jupyter_save_hook() is not strip_before_save:
        pytest.fail("JupyterLab's save hook is not set up: run `make install` (s2e notebooks setup)")
    base = tmp_path_factory.mktemp("lab")
    root = notebook_checkout(base, [NOTEBOOK.stem])
    settings = base / "settings"
    for name, values in LAB_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values), encoding="utf-8")
    env = {
        **os.environ,
        "S2E_OUTPUTS": str(base / "outputs"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "MPLBACKEND": "Agg",
    }
    port, token = _free_port(), secrets.token_hex(16)
    jupyter = Path(sys.executable).parent / "jupyter"  # the .venv's: its python3 kernel is the .venv
    log = base / "jupyter.log"
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            [
                str(jupyter),
                "lab",
                "--no-browser",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={port}",
                "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={root}",
                "--LabApp.news_url=",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                "--LabApp.extension_manager=readonly",
                "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: is the kernel connected?
                *(["--allow-root"] if os.geteuid() == 0 else []),  # CI containers run as root
            ],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=root,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_server(f"{url}/api/status?token={token}", process, log)
        yield url, token, root
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture()
def page(lab, request, tmp_path):
    """A Chromium page on notebook 00 in JupyterLab; a failing test leaves a screenshot of it
    (its path is printed)."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    url, token, _ = lab
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{url}/lab/tree/{NOTEBOOK_PATH}?token={token}")
        try:
            yield page
            report = getattr(request.node, "report_call", None)
            if report is not None and report.failed:
                shot = tmp_path / "failure.png"
                page.screenshot(path=str(shot), full_page=True)
                print(f"\nscreenshot of the failed page: {shot}")
        finally:
            context.close()
            browser.close()


def _stderr_texts(page) -> list[str]:
    selector = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
    return [text.strip() for text in page.locator(selector).all_inner_texts()]


def _texts(locator) -> list[str]:
    """The inner texts, with the non-breaking spaces the widgets render as plain spaces."""
    return [text.replace("\xa0", " ") for text in locator.all_inner_texts()]


def _image_bytes(page, selector: str) -> bytes:
    """The bytes of the image the page shows (the widget's blob URL, fetched in the page)."""
    values = page.eval_on_selector(
        selector,
        "async img => Array.from(new Uint8Array(await (await fetch(img.src)).arrayBuffer()))",
    )
    return bytes(values)


def test_quickstart_runs_in_jupyterlab_and_its_panel_tells_the_truth(page, lab, tmp_path):
    started = time.monotonic()
    # Run All before the kernel's websocket is connected silently runs nothing: wait for it
    page.wait_for_function(
        """() => {
            const kernel = window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel;
            return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
        }""",
        timeout=120_000,
    )
    code_cells = page.locator(".jp-Notebook .jp-CodeCell").count()
    assert code_cells >= 5

    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()
    # done when every code cell has an execution count ("[7]:"), none running ("[*]:") or
    # pending ("[ ]:"); a traceback stops Run All, so it ends the wait too
    outcome = page.wait_for_function(
        """() => {
            const stderr = Array.from(document.querySelectorAll(
                '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'));
            if (stderr.some(o => o.textContent.includes('Traceback'))) return 'traceback';
            const prompts = Array.from(document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt'));
            return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent)) && 'done';
        }""",
        timeout=RUN_ALL_TIMEOUT_S * 1000,
    ).json_value()
    assert outcome == "done", f"a cell failed: {_stderr_texts(page)}"
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']")
    run_all_s = time.monotonic() - started

    # no error output: nothing on stderr looks like an error or a traceback
    errors = [text for text in _stderr_texts(page) if "Traceback" in text or "Error" in text]
    assert not errors, f"error output in the notebook: {errors}"

    # the panel and its widgets; the notebook's panel.show() put a first result in it
    panel = page.locator(".s2e-panel")
    panel.wait_for()
    for css in (
        "s2e-audio",
        "s2e-face",
        "s2e-audio-upload",
        "s2e-face-upload",
        "s2e-editor",
        "s2e-emotion",
        "s2e-auto",
        "s2e-strength",
        "s2e-run",
        "s2e-status",
    ):
        assert panel.locator(f".{css}").count() == 1, f"panel widget .{css} missing"
    editors = _texts(panel.locator(".s2e-editor select option"))
    note = _texts(panel.locator(".s2e-editor-note"))[0]
    assert "warp" in editors
    for editor in ("pix2pixHD", "IALS"):  # offered, or shown unavailable with the reason
        assert editor in editors or f"{editor} — unavailable: needs" in note
    emotions = _texts(panel.locator(".s2e-emotion select option"))
    assert emotions[0] == "from the voice" and "happy" in emotions
    status = panel.locator(".s2e-status")
    image = panel.locator("img.s2e-result")
    image.wait_for(state="visible")
    assert "(auto)" in status.inner_text()

    # auto strength: the slider is disabled and shows the strength used
    slider = panel.locator(".s2e-strength")
    readout = slider.locator(".widget-readout")
    auto_strength = float(readout.inner_text())
    assert f"strength {auto_strength:.2f} (auto)" in status.inner_text()
    track = slider.locator(".noUi-target")
    assert track.get_attribute("disabled") == "true"

    # auto off, then drag the slider to about a fifth of its range: a new edit at that strength
    before_image = _image_bytes(page, ".s2e-panel img.s2e-result")
    panel.locator(".s2e-auto input[type='checkbox']").uncheck()
    page.wait_for_function(
        "() => !document.querySelector('.s2e-panel .s2e-strength .noUi-target[disabled=\"true\"]')"
    )
    handle = slider.locator(".noUi-handle")
    handle_box, track_box = handle.bounding_box(), track.bounding_box()
    page.mouse.move(handle_box["x"] + handle_box["width"] / 2, handle_box["y"] + handle_box["height"] / 2)
    page.mouse.down()
    target_x = track_box["x"] + 0.2 * track_box["width"]
    page.mouse.move(target_x, handle_box["y"] + handle_box["height"] / 2, steps=8)
    page.mouse.up()
    moved = float(readout.inner_text())
    assert abs(moved - 0.3) <= 0.1 and abs(moved - auto_strength) > 0.05
    page.wait_for_function(
        "text => document.querySelector('.s2e-panel .s2e-status').textContent.includes(text)",
        arg=f"strength {moved:.2f} (fixed)",
        timeout=PANEL_TIMEOUT_S * 1000,
    )
    image.wait_for(state="visible")
    after_image = _image_bytes(page, ".s2e-panel img.s2e-result")
    assert after_image[:8] == b"\x89PNG\r\n\x1a\n" and after_image != before_image

    # a bad upload: the error names the picked file and the old image is hidden
    with page.expect_file_chooser() as chooser:
        panel.locator(".s2e-face-upload").click()
    chooser.value.set_files(
        files=[{"name": "my notes.txt", "mimeType": "text/plain", "buffer": b"this is not a photo\n"}]
    )
    page.wait_for_function(
        "() => document.querySelector('.s2e-panel .s2e-status').textContent.includes('error: my notes.txt')",
        timeout=PANEL_TIMEOUT_S * 1000,
    )
    image.wait_for(state="hidden")
    assert "s2e_upload_" not in status.inner_text()  # the name the user picked, not the stored path

    # save (Ctrl+S) after stepping through: nothing git tracks has changed
    root = lab[2]
    notebook_file = root / NOTEBOOK_PATH
    before = notebook_file.stat().st_mtime_ns
    page.locator(".jp-Notebook").first.click()
    page.keyboard.press("Control+s")
    page.wait_for_function(
        "() => { const w = window.jupyterapp.shell.currentWidget; return w && !w.context.model.dirty; }"
    )
    deadline = time.monotonic() + 30
    while notebook_file.stat().st_mtime_ns == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert notebook_file.stat().st_mtime_ns != before, "JupyterLab did not write the notebook"
    status_lines = git(root, "status", "--porcelain")
    assert status_lines == "", f"saving changed tracked files:\n{status_lines}{git(root, 'diff')[:3000]}"
    print(f"\nrun all cells: {run_all_s:.1f} s; whole browser check: {time.monotonic() - started:.1f} s")
