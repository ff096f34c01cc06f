"""End to end: the two explorer pages served by Voila (as ``make explorer`` and ``make estimator``
serve them) and driven in a real headless Chromium.

Every control must change the output it should (the image of a figure is replaced, an audio
player gets a new sound), the audio players must hold non-silent audio, an uploaded file must be
analysed and a bad one refused with a message, an upload over the page's limit refused in the
browser before it is sent (and a websocket message over the server's cap refused by the server),
and the pages must log no console error and request nothing beyond their own server.
Screenshots go to ``test-artifacts/explorer/`` (git-ignored), with Voila's logs.

Needs the ``web`` extra (voila, playwright) and Debian's ``chromium``; ``make test`` installs
both. Missing either is a failure, not a skip: CI must run this test.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
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
import soundfile

from sot_utils.study.explorers.estimator import MAX_UPLOAD_BYTES

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
TEMPLATES = NOTEBOOKS / "jupyter"  # the `offline` Voila template and voila.json (the Makefile's VOILA)
ARTIFACTS = REPO / "test-artifacts" / "explorer"
START_TIMEOUT_S = 60  # Voila listening
RENDER_TIMEOUT_MS = 120_000  # first page: kernel start, torch import, first figures
UPDATE_TIMEOUT_MS = 60_000  # one update (0.1-1 s unloaded), on a machine shared with training runs
VIEWPORT = {"width": 1100, "height": 2400}  # tall enough for a whole page in one screenshot


@pytest.fixture(scope="module", autouse=True)
def artifacts():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):  # a failed run must not leave an earlier run's screenshots
        old.unlink()
    return ARTIFACTS


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


def _serve(notebook: str):
    """Serve one notebook with Voila as the Makefile does; yield (url, server); stop it and its kernels."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    # The kernelspec's argv is `python`, which jupyter_client replaces by sys.executable: the
    # kernel runs in this interpreter's environment. One thread each: the machine is shared.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env |= {"JUPYTER_PATH": str(TEMPLATES), "JUPYTER_CONFIG_PATH": str(TEMPLATES)}
    command = [
        sys.executable,
        "-m",
        "voila",
        "--template=offline",
        "--no-browser",
        str(NOTEBOOKS / notebook),
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--Voila.port_retries=0",
    ]
    log_path = ARTIFACTS / f"voila-{Path(notebook).stem}.log"
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


@pytest.fixture(scope="module")
def landscape_server(chromium):
    yield from _serve("explorer.ipynb")


@pytest.fixture(scope="module")
def estimator_server(chromium):
    yield from _serve("estimator_explorer.ipynb")


class Browser:
    """One page in headless Chromium, with its console errors and the requests that left the machine."""

    def __init__(self, playwright, chromium: str, url: str, name: str):
        self.name = name
        self.browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"], headless=True)
        self.page = self.browser.new_page(viewport=VIEWPORT)
        self.errors: list[str] = []
        self.external: list[str] = []
        self.sockets = []  # the page's websockets (to the kernel)
        self.page.on("websocket", lambda socket: self.sockets.append(socket))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.route("**/*", self._local_only)
        self.page.goto(url, timeout=RENDER_TIMEOUT_MS)

    def _local_only(self, route):
        """Nothing may leave the machine: record and abort any such request."""
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            self.external.append(route.request.url)
            route.abort()

    def close(self):
        self.browser.close()

    # ---- finding widgets

    def dropdown(self, label: str):
        name = self.page.locator("label.widget-label", has_text=re.compile(f"^{re.escape(label)}$"))
        return self.page.locator(".widget-dropdown").filter(has=name).locator("select")

    def checkbox(self, text: str):
        return (
            self.page.locator(".widget-checkbox")
            .filter(has=self.page.locator(f'span[title="{text}"]'))
            .locator("input")
        )

    def slider_readout(self, label: str):
        name = self.page.locator("label.widget-label", has_text=re.compile(f"^{re.escape(label)}$"))
        return self.page.locator(".widget-slider").filter(has=name).locator(".widget-readout")

    def type_into(self, readout, text: str) -> None:
        """Type a value into a slider's readout, as a user would, then Enter."""
        readout.click()
        self.page.keyboard.press("Control+A")
        self.page.keyboard.type(text)
        self.page.keyboard.press("Enter")

    # ---- outputs

    def src(self, selector: str) -> str:
        return self.page.get_attribute(selector, "src") or ""

    def sources(self, selectors) -> dict[str, str]:
        return {selector: self.src(selector) for selector in selectors}

    def wait_for_new(self, before: dict[str, str], action: str) -> None:
        """Wait until every element of ``before`` shows a new image or sound (its blob URL changes)."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        for selector, old in before.items():
            try:
                self.page.wait_for_function(
                    "([sel, old]) => { const el = document.querySelector(sel); "
                    "return el !== null && !!el.getAttribute('src') && el.getAttribute('src') !== old; }",
                    arg=[selector, old],
                    timeout=UPDATE_TIMEOUT_MS,
                )
            except PlaywrightTimeout:
                self.snapshot("failure")
                pytest.fail(
                    f"{self.name}: {selector} did not change within {UPDATE_TIMEOUT_MS / 1000:.0f} s after {action} "
                    f"(screenshots and voila logs in {ARTIFACTS.relative_to(REPO)})",
                    pytrace=False,
                )

    def change(self, action: str, do, selectors) -> None:
        """Do something to the page and check that each of ``selectors`` shows a new image or sound."""
        before = self.sources(selectors)
        do()
        self.wait_for_new(before, action)

    def audio(self, selector: str) -> tuple[np.ndarray, int]:
        """The samples an audio player holds (its blob fetched in the page, decoded here)."""
        encoded = self.page.evaluate(
            """async sel => {
                const el = document.querySelector(sel);
                const bytes = new Uint8Array(await (await fetch(el.src)).arrayBuffer());
                let text = '';
                for (let i = 0; i < bytes.length; i += 8192) {
                    text += String.fromCharCode(...bytes.subarray(i, i + 8192));
                }
                return btoa(text);
            }""",
            selector,
        )
        data, rate = soundfile.read(io.BytesIO(base64.b64decode(encoded)))
        return data, rate

    def assert_sound(self, selector: str, seconds: float) -> None:
        data, rate = self.audio(selector)
        assert rate == 16000 and data.ndim == 1, selector
        assert data.shape[0] == pytest.approx(seconds * rate, abs=1), selector
        assert np.sqrt(np.mean(data**2)) > 0.05, f"{selector} holds (near) silence"

    def snapshot(self, name: str) -> None:
        self.page.screenshot(path=ARTIFACTS / f"{self.name}-{name}.png", full_page=True)

    def assert_clean(self) -> None:
        assert not self.external, f"{self.name} requested resources beyond its server: {self.external}"
        assert not self.errors, f"{self.name} logged console errors: {self.errors}"


def _kernel_pythons(server: subprocess.Popen) -> list[str]:
    return [
        process.cmdline()[0]
        for process in psutil.Process(server.pid).children(recursive=True)
        if "ipykernel_launcher" in process.cmdline()
    ]


# ------------------------------------------------------------------------------------------------
# The landscape page

CURVE, CANDIDATE, HEAT = "img.explorer-curve", "img.explorer-candidate", "img.explorer-heat"
TARGET_AUDIO, CANDIDATE_AUDIO = "audio.explorer-audio-target", "audio.explorer-audio-candidate"


def test_landscape_page_every_control_redraws_what_it_should(landscape_server, chromium):
    from playwright.sync_api import sync_playwright

    url, server = landscape_server
    with sync_playwright() as p:
        b = Browser(p, chromium, url, "landscape")
        try:
            page = b.page
            page.wait_for_selector(CURVE, state="visible", timeout=RENDER_TIMEOUT_MS)
            page.wait_for_selector(CANDIDATE, state="visible", timeout=RENDER_TIMEOUT_MS)
            assert "Loss-landscape explorer" in page.locator("h1").first.inner_text()
            assert _kernel_pythons(server) == [sys.executable], "the page's kernel is not this environment's python"
            for player in (TARGET_AUDIO, CANDIDATE_AUDIO):
                b.assert_sound(player, 1.0)
            b.snapshot("1-initial")

            target = b.slider_readout("target f0 (Hz, the dataset's range)")
            assert float(target.inner_text()) == pytest.approx(440.0)
            b.change(
                "typing a target f0",
                lambda: b.type_into(target, "1600"),
                [CURVE, CANDIDATE, TARGET_AUDIO, CANDIDATE_AUDIO],
            )
            assert target.inner_text() == "1600.0"  # Hz with a readable precision, not 1.6e+03
            assert "1600 Hz" in page.locator(".explorer-readout").inner_text()
            b.change("typing 4 harmonics", lambda: b.type_into(b.slider_readout("harmonics"), "4"), [CURVE, CANDIDATE])
            b.change("typing a tilt", lambda: b.type_into(b.slider_readout("tilt (dB/octave)"), "-12"), [CURVE])

            # with p = 1, W_p and W_p^p are the same: the root is unticked first
            b.change("unticking the root", lambda: b.checkbox("SOT root (W_p, not W_p^p)").uncheck(), [CURVE])
            for label, value, changed in [
                ("n_fft (SOT, single-scale)", "1024", [CURVE, CANDIDATE]),
                ("SOT p", "1", [CURVE, CANDIDATE]),
                ("SOT mode", "balanced", [CURVE, CANDIDATE]),
                ("SOT frequency", "log", [CURVE, CANDIDATE]),
                ("SOT framing", "complete frames", [CURVE, CANDIDATE]),
                ("MSS norm", "l2", [CURVE]),
                ("selected loss", "group SOT-2048", [CURVE]),
            ]:
                b.change(f"picking {label} = {value}", lambda: b.dropdown(label).select_option(label=value), changed)
            b.change("ticking a group's curve", lambda: b.checkbox("group MSS-Lin").check(), [CURVE])
            b.change("unticking a curve", lambda: b.checkbox("MSS (log)").uncheck(), [CURVE])

            target_sound = b.src(TARGET_AUDIO)
            b.change(
                "typing a candidate",
                lambda: b.type_into(b.slider_readout("candidate (cents from the target)"), "-500"),
                [CURVE, CANDIDATE, CANDIDATE_AUDIO],
            )
            assert b.src(TARGET_AUDIO) == target_sound, "moving the candidate changed the target's sound"
            b.assert_sound(CANDIDATE_AUDIO, 1.0)
            b.change(
                "clicking descend",
                lambda: page.locator("button", has_text="descend from the candidate").click(),
                [CURVE],
            )
            assert "Adam steps from" in page.locator(".explorer-descent").inner_text()
            b.snapshot("2-controls-and-descent")

            page.locator(".jupyter-widget-Collapse-header", has_text="heat map").click()
            page.wait_for_function(
                f"() => !!document.querySelector('{HEAT}') && !!document.querySelector('{HEAT}').getAttribute('src')",
                timeout=UPDATE_TIMEOUT_MS,
            )
            b.change(
                "picking the tilt as the heat map's parameter",
                lambda: b.dropdown("second parameter").select_option(label="spectral tilt"),
                [HEAT],
            )
            b.snapshot("3-heat-map")
            b.assert_clean()
        finally:
            b.close()


# ------------------------------------------------------------------------------------------------
# The estimator page

FIGURE = "img.estimator-figure"
SOUND, RECONSTRUCTION_A, RECONSTRUCTION_B = (
    "audio.estimator-audio-sound",
    "audio.estimator-audio-reconstruction-a",
    "audio.estimator-audio-reconstruction-b",
)


def _wav_file(path: Path, seconds: float, rate: int, channels: int) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 330.0 * t) + 0.15 * np.sin(2 * np.pi * 660.0 * t)
    soundfile.write(path, np.stack([tone] * channels, axis=1), rate)
    return path


def test_estimator_page_every_control_and_the_upload(estimator_server, chromium, tmp_path):
    from playwright.sync_api import sync_playwright

    url, _server = estimator_server
    with sync_playwright() as p:
        b = Browser(p, chromium, url, "estimator")
        try:
            page = b.page
            table = page.locator(".estimator-table")
            message = page.locator(".estimator-message")
            page.wait_for_selector(FIGURE, state="visible", timeout=RENDER_TIMEOUT_MS)
            assert "Estimator explorer" in page.locator("h1").first.inner_text()
            text = table.inner_text()
            assert "SOT-2048 · seed 123" in text and "MSS-Lin · seed 123" in text and "label" in text
            assert "voicing decision" in text and "voiced" in text
            for player in (SOUND, RECONSTRUCTION_A, RECONSTRUCTION_B):
                b.assert_sound(player, 4096 / 16000)
            b.snapshot("1-initial")

            model_a, model_b = b.dropdown("model A"), b.dropdown("model B")
            b.change("picking model A", lambda: model_a.select_option(label="SOT-512 · seed 123"), [FIGURE])
            page.wait_for_function("() => document.querySelector('.estimator-table').innerText.includes('SOT-512')")
            b.change("leaving model B out", lambda: model_b.select_option(label="(none)"), [FIGURE])
            page.wait_for_function("() => !document.querySelector('.estimator-table').innerText.includes('MSS-Lin')")
            assert not page.locator(RECONSTRUCTION_B).is_visible()
            b.change("picking model B", lambda: model_b.select_option(label="MSS-Lin · seed 123"), [FIGURE])
            b.change("typing a test tone", lambda: b.type_into(b.slider_readout("test tone"), "17"), [FIGURE, SOUND])
            page.wait_for_function(
                "() => document.querySelector('.estimator-table').innerText.includes('test tone 17')"
            )
            b.change("typing a CQT frame", lambda: b.type_into(b.slider_readout("CQT frame"), "3"), [FIGURE])
            page.wait_for_function(
                "() => document.querySelector('.estimator-table').innerText.includes('f0 in CQT frame 3')"
            )

            sources = page.locator(".widget-toggle-button")
            if (REPO / "data" / "real_notes_sr16000.pt").exists():
                b.change("showing real notes", lambda: sources.filter(has_text="real note").click(), [FIGURE, SOUND])
                note = b.dropdown("real note")
                b.change("picking a note", lambda: note.select_option(index=5), [FIGURE, SOUND])
                assert "label" in table.inner_text()
            else:
                sources.filter(has_text="real note").click()
                page.wait_for_function(
                    "() => document.querySelector('.estimator-message').innerText.includes('make real-notes')"
                )

            sources.filter(has_text="upload").click()
            page.wait_for_function("() => document.querySelector('.estimator-message').innerText.includes('Upload a')")
            upload = page.locator(".widget-upload")
            good = _wav_file(tmp_path / "mine.wav", 1.5, 44100, channels=2)

            def upload_file(path: Path):
                with page.expect_file_chooser() as chooser:
                    upload.click()
                chooser.value.set_files(str(path))

            b.change("uploading a stereo WAV", lambda: upload_file(good), [FIGURE, SOUND, RECONSTRUCTION_A])
            page.wait_for_function("() => document.querySelector('.estimator-table').innerText.includes('mine.wav')")
            assert "mixed to mono" in message.inner_text() and "resampled from 44100 Hz" in message.inner_text()
            b.assert_sound(SOUND, 4096 / 16000)
            b.change("moving the excerpt", lambda: b.type_into(b.slider_readout("excerpt from (s)"), "0.5"), [FIGURE])
            assert "from 0.50 s" in message.inner_text()
            b.snapshot("2-upload")

            bad = tmp_path / "bad.wav"
            bad.write_text("this is not a sound file")
            upload_file(bad)
            page.wait_for_function(
                "() => document.querySelector('.estimator-message').innerText.includes('could not be read as audio')"
            )
            assert "bad.wav" in message.inner_text() and "WAV or FLAC" in message.inner_text()
            assert "Traceback" not in page.locator("body").inner_text()
            b.snapshot("3-bad-upload")

            # Over the page's limit: refused in the browser, no bytes sent (the kernel would answer
            # "big.wav is 50 MB", the server's cap being a little higher)
            big = tmp_path / "big.wav"
            with open(big, "wb") as file:
                file.truncate(MAX_UPLOAD_BYTES + 2**16)  # sparse: never read
            sent: list[int] = []
            record = lambda payload: sent.append(len(payload))  # noqa: E731
            for socket_ in b.sockets:
                socket_.on("framesent", record)
            upload_file(big)
            refusal = page.locator(".upload-refused")
            refusal.wait_for(state="visible", timeout=UPDATE_TIMEOUT_MS)
            assert refusal.inner_text() == "big.wav is 50.1 MB: the page takes files up to 50 MB (nothing was sent)"
            page.wait_for_function("() => document.querySelector('.widget-upload').innerText.includes('(0)')")
            for socket_ in b.sockets:
                socket_.remove_listener("framesent", record)
            assert max(sent, default=0) < 2**16, f"the page sent {max(sent)} bytes at once"
            assert "big.wav" not in message.inner_text()
            b.snapshot("4-too-big-upload")

            # A client bypassing the page: the server closes a websocket whose message is over its cap
            cap = json.loads((TEMPLATES / "voila.json").read_text())["Voila"]["tornado_settings"]
            cap = cap["websocket_max_message_size"]
            assert MAX_UPLOAD_BYTES < cap <= MAX_UPLOAD_BYTES + 2**21
            code = page.evaluate(
                """async size => {
                    const config = JSON.parse(document.getElementById('jupyter-config-data').textContent);
                    const url = `ws://${location.host}${config.baseUrl}api/kernels/${config.kernelId}/channels`;
                    const socket = new WebSocket(url);
                    await new Promise((resolve, reject) => { socket.onopen = resolve; socket.onerror = reject; });
                    const closed = new Promise(resolve => { socket.onclose = event => resolve(event.code); });
                    socket.send(new Uint8Array(size));
                    return await closed;
                }""",
                cap + 1,
            )
            assert code == 1009, f"the server did not refuse a {cap + 1}-byte message (close code {code})"

            # Just under the page's limit: sent, through the server's cap, and refused by the kernel
            # from the header, before decoding (the page's connection outlived the refused socket)
            near = tmp_path / "long.wav"
            soundfile.write(near, np.zeros((MAX_UPLOAD_BYTES - 2**16) // 2, np.int16), 16000)
            upload_file(near)
            page.wait_for_function(
                "() => document.querySelector('.estimator-message').innerText.includes('long.wav is 1636 s long')",
                timeout=UPDATE_TIMEOUT_MS,
            )
            assert "at most 60 s" in message.inner_text() and not refusal.is_visible()
            b.snapshot("5-long-upload")
            b.assert_clean()
        finally:
            b.close()
