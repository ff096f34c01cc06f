"""Latency of the explorer pages (``make explorer``, ``make estimator``): one update of each view.

Each view is driven as a user drives it, by setting a widget's value (the page's handler runs in
the kernel; the time is what it takes until the new images and sounds are sent), on the default
page: three losses on the landscape page, two models on the estimator page. Every repeat moves to
a new value, so that the pages' caches help only as they do for a user:

- ``curves``: the landscape's curves after the target f0 moves by one slider step (their image is
  sent before the candidate view is redrawn; ``timings["curves"]``); ``curves, new target``: after
  a jump to an f0 not seen before; ``curves, 11 losses``: every loss ticked;
- ``whole page, target moved``: curves, candidate view, audio and the numbers;
- ``candidate``: the candidate slider (its marker, spectra, transport plan, CDFs, audio);
- ``descent`` (200 Adam steps) and ``heat map`` (8 x 49 candidates) of the selected loss;
- ``estimator: new sound``: a test tone analysed by two models (CQT, encoders, synthesizers,
  figure, audio); ``new frame``: another CQT frame; ``upload``: a 1.5 s stereo 44.1 kHz WAV.

Records p50 and p95 (numpy's linear percentiles) and the largest time per view, in ms, and whether
p95 meets the issue's targets (300 ms for the curves of three losses, 1 s for the estimator page).
"""

from __future__ import annotations

import io
import time

import numpy as np
import soundfile

from benchmarks import log, section_meta

TARGETS_MS = {
    "landscape: curves of 3 losses, target moved one slider step": 300.0,
    "landscape: curves of 3 losses, new target f0": 300.0,
    "estimator: new sound, two models": 1000.0,
    "estimator: new CQT frame": 1000.0,
    "estimator: upload (1.5 s stereo WAV at 44.1 kHz)": 1000.0,
}
TABLE = "one update of each view (ms)"


def percentiles(seconds: list[float], target_ms: float | None = None) -> dict:
    """``{"n", "p50", "p95", "max"}`` in ms of a list of durations (s), and the target where there is one."""
    ms = 1e3 * np.asarray(seconds, dtype=np.float64)
    row = {
        "n": int(ms.size),
        "p50": round(float(np.percentile(ms, 50)), 1),
        "p95": round(float(np.percentile(ms, 95)), 1),
        "max": round(float(ms.max()), 1),
    }
    if target_ms is not None:
        row["target_p95"] = target_ms
        row["meets_target"] = bool(row["p95"] < target_ms)
    return row


def _timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def landscape_views(repeats: int, quick: bool) -> dict[str, list[float]]:
    """Durations (s) of each landscape view's updates."""
    from sot_utils.study.explorers.landscape import LossExplorer

    page = LossExplorer(descent_steps=20 if quick else 200)
    c = page.controls
    times: dict[str, list[float]] = {}

    def record(name: str, seconds: float) -> None:
        times.setdefault(name, []).append(seconds)

    rng = np.random.default_rng(0)
    low, high = c["target_f0_hz"].min, c["target_f0_hz"].max  # a log slider's range: exponents of 10
    # moving the target by slider steps (0.001 in log10: 0.23 %), starting from a warm page
    for _ in range(repeats):
        record("landscape: whole page, target moved one slider step", _timed(lambda: _step(c["target_f0_hz"])))
        record("landscape: curves of 3 losses, target moved one slider step", page.timings["curves"])
    for _ in range(repeats):
        updates = page.n_updates
        c["target_f0_hz"].value = 10 ** rng.uniform(low, high)
        assert page.n_updates == updates + 1, "the target did not move"
        record("landscape: curves of 3 losses, new target f0", page.timings["curves"])
    for _ in range(repeats):
        cents = int(rng.integers(-240, 240)) * 5
        if cents == c["candidate_cents"].value:
            cents += 5
        record("landscape: candidate moved", _timed(lambda: setattr(c["candidate_cents"], "value", cents)))
    for _ in range(min(repeats, 5)):
        record(f"landscape: descent ({page.descent_steps} steps)", _timed(page.run_descent))
    page.heat_box.selected_index = 0
    for n in range(min(repeats, 5)):
        parameter = c["heat_parameter"].options[(n + 1) % 2]
        record(
            "landscape: heat map (8 x 49 candidates)", _timed(lambda: setattr(c["heat_parameter"], "value", parameter))
        )
    page.heat_box.selected_index = None
    for toggle in page.toggles.values():
        toggle.value = True
    for _ in range(max(2, repeats // 2)):
        _step(c["target_f0_hz"])
        record("landscape: curves of all 11 losses, target moved one slider step", page.timings["curves"])
    return times


def _step(slider) -> None:
    """Move a log slider one step up (down at the top of its range)."""
    value = np.log10(slider.value) + slider.step
    slider.value = 10 ** (value if value <= slider.max else np.log10(slider.value) - 2 * slider.step)


def estimator_views(repeats: int) -> dict[str, list[float]]:
    """Durations (s) of each estimator view's updates."""
    from sot_utils.study.explorers.estimator import EstimatorExplorer

    page = EstimatorExplorer()
    c = page.controls
    times: dict[str, list[float]] = {}
    for _ in range(repeats):
        c["tone"].value = (c["tone"].value + 7) % (c["tone"].max + 1)
        times.setdefault("estimator: new sound, two models", []).append(page.timings["update"])
    for _ in range(repeats):
        c["frame"].value = (c["frame"].value + 5) % 16
        times.setdefault("estimator: new CQT frame", []).append(page.timings["draw"])
    t = np.arange(int(1.5 * 44100)) / 44100
    for i in range(min(repeats, 10)):
        tone = 0.3 * np.sin(2 * np.pi * (200.0 + 10 * i) * t)
        buffer = io.BytesIO()
        soundfile.write(buffer, np.stack([tone, tone], 1), 44100, format="WAV")
        name = "estimator: upload (1.5 s stereo WAV at 44.1 kHz)"
        times.setdefault(name, []).append(_timed(lambda: page.load_upload(buffer.getvalue(), f"tone{i}.wav")))
    return times


def run(quick: bool, repeats: int) -> dict:
    """The ``explorer`` section of ``benchmarks/results.json``."""
    times = {}
    start = time.perf_counter()
    times.update(landscape_views(repeats, quick))
    log("explorer", f"landscape page: {time.perf_counter() - start:.0f} s")
    start = time.perf_counter()
    times.update(estimator_views(repeats))
    log("explorer", f"estimator page: {time.perf_counter() - start:.0f} s")
    table = {name: percentiles(seconds, TARGETS_MS.get(name)) for name, seconds in times.items()}
    for name, row in table.items():
        log("explorer", f"{name}: p50 {row['p50']} ms, p95 {row['p95']} ms")
    return {
        "what": "one update of each view of the explorer pages, driven through their widgets in process (the "
        "kernel's side of a page served by Voila: until its new images and sounds are sent), default pages "
        "(3 losses; 2 models), each handler on one torch thread as the pages run them; p50 / p95 / max over the "
        "repeats, ms; targets on p95 from issue 28",
        "meta": section_meta("cpu", repeats, quick),
        "latency": {TABLE: table},
    }
