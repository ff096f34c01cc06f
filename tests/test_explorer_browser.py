"""End to end: ``notebooks/explorer.ipynb`` served by Voila and driven in a real headless Chromium.

The page must render the explorer's controls and plot, and the plot must be redrawn when the
target f0 is typed into the slider's readout and when another loss is picked in the dropdown.
Screenshots go to ``test-artifacts/explorer/`` (git-ignored), with Voila's log.

Needs the ``web`` extra (voila, playwright) and Debian's ``chromium``; ``make test`` installs
both. Missing either is a failure, not a skip: CI must run this test.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import psutil
import pytest
from matplotlib.image import imread

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "explorer.ipynb"
ARTIFACTS = REPO / "test-artifacts" / "explorer"
PLOT = ".widget-output img"  # the explorer's Output widget shows the figure as a PNG image
START_TIMEOUT_S = 60  # Voila listening
RENDER_TIMEOUT_MS = 60_000  # first page: kernel start, torch import, first curve
UPDATE_TIMEOUT_MS = 30_000  # one recomputed curve (0.2 s unloaded)


@pytest.fixture(scope="module")
def chromium() -> str:
    """The system Chromium; fails (never skips) when it or Playwright is missing."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.fail(
            "Playwright is not installed: run `make test` (installs the `web` extra) "
            "or `.venv/bin/pip install -e '.[web]'`",
            pytrace=False,
        )
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(
            "`chromium` is not on PATH: run `make test` (installs it) or `apt-get install -y chromium`", pytrace=False
        )
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).close()  # any HTTP status counts: the server is up
        return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def voila(chromium):
    """Serve the explorer notebook with Voila on a free local port; yield (url, server process);
    stop the server and its kernels after."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):  # a failed run must not leave an earlier run's screenshots
        old.unlink()
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    # The kernelspec's argv is `python`, which jupyter_client replaces by sys.executable: the
    # kernel runs in this interpreter's environment. One thread each: the machine is shared.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "voila",
        str(NOTEBOOK),
        f"--port={port}",
        "--no-browser",
        "--Voila.ip=127.0.0.1",
        "--Voila.port_retries=0",
    ]
    log_path = ARTIFACTS / "voila.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while not _answers(url + "voila/static/"):
                if server.poll() is not None:
                    pytest.fail(f"voila exited with {server.returncode}:\n{log_path.read_text()}", pytrace=False)
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"voila did not answer within {START_TIMEOUT_S} s:\n{log_path.read_text()}", pytrace=False
                    )
                time.sleep(0.25)
            yield url, server
        finally:
            _stop(server)


def _stop(server: subprocess.Popen) -> None:
    """SIGTERM makes Voila shut its kernels down; kill whatever of ours survives."""
    try:
        kernels = psutil.Process(server.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        kernels = []
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    _, alive = psutil.wait_procs(kernels, timeout=10)
    for process in alive:
        process.kill()
    psutil.wait_procs(alive, timeout=10)


def _local_only(route):
    """Abort requests that leave the machine (the template's icon font from a CDN): no network in CI."""
    if urlparse(route.request.url).hostname == "127.0.0.1":
        route.continue_()
    else:
        route.abort()


def _plot_src(page) -> str:
    return page.get_attribute(PLOT, "src")


def _wait_for_redraw(page, old_src: str, action: str) -> None:
    """Wait until the plot's image is replaced by a new one (its data URL changes)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            f"old => {{ const img = document.querySelector('{PLOT}'); return img !== null && img.src !== old; }}",
            arg=old_src,
            timeout=UPDATE_TIMEOUT_MS,
        )
        page.wait_for_selector(PLOT, state="visible", timeout=UPDATE_TIMEOUT_MS)
    except PlaywrightTimeout:
        page.screenshot(path=ARTIFACTS / "failure.png", full_page=True)
        pytest.fail(
            f"the plot was not redrawn within {UPDATE_TIMEOUT_MS / 1000:.0f} s after {action} "
            f"(screenshots and voila.log in {ARTIFACTS.relative_to(REPO)})",
            pytrace=False,
        )


def _snapshot(page, name: str) -> np.ndarray:
    """Save the page's and the plot's screenshots; return the plot's pixels."""
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)
    plot = page.locator(PLOT).screenshot(path=ARTIFACTS / f"{name}-plot.png")
    return imread(io.BytesIO(plot), format="png")


def _fraction_changed(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        return 1.0
    return float(np.mean(np.any(np.abs(a - b) > 1e-3, axis=-1)))


def _kernel_pythons(server: subprocess.Popen) -> list[str]:
    return [
        process.cmdline()[0]
        for process in psutil.Process(server.pid).children(recursive=True)
        if "ipykernel_launcher" in process.cmdline()
    ]


def test_explorer_page_redraws_the_plot_when_the_widgets_change(voila, chromium):
    from playwright.sync_api import sync_playwright

    voila_url, server = voila

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"], headless=True)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.route("**/*", _local_only)
            page.goto(voila_url, timeout=RENDER_TIMEOUT_MS)
            page.wait_for_selector(PLOT, state="visible", timeout=RENDER_TIMEOUT_MS)
            assert "Loss-landscape explorer" in page.locator("h1").first.inner_text()
            assert _kernel_pythons(server) == [sys.executable], "the page's kernel is not this environment's python"
            slider = page.locator(".widget-slider", has_text="target f0")
            loss = page.locator(".widget-dropdown", has_text="loss").locator("select")
            readout = slider.locator(".widget-readout")
            assert float(readout.inner_text()) == pytest.approx(440.0)
            assert loss.input_value() == "SOT"
            before_src, before = _plot_src(page), _snapshot(page, "1-initial")

            # type a new target f0 into the slider's readout (as a user would), then Enter
            readout.click()
            page.keyboard.press("Control+A")
            page.keyboard.type("1600")
            page.keyboard.press("Enter")
            _wait_for_redraw(page, before_src, "typing a target f0")
            assert float(readout.inner_text()) == pytest.approx(1600.0, rel=0.01)
            f0_src, after_f0 = _plot_src(page), _snapshot(page, "2-target-f0-1600")
            changed = _fraction_changed(before, after_f0)
            assert changed > 0.005, f"the plot barely changed with the target f0 ({changed:.2%} of pixels)"

            loss.select_option("MSS (lin)")
            _wait_for_redraw(page, f0_src, "picking the loss MSS (lin)")
            assert loss.input_value() == "MSS (lin)"
            after_loss = _snapshot(page, "3-loss-mss-lin")
            changed = _fraction_changed(after_f0, after_loss)
            assert changed > 0.005, f"the plot barely changed with the loss ({changed:.2%} of pixels)"
        finally:
            browser.close()
