"""Tests for the loss-landscape explorer (``sot_utils.study.explorers.landscape`` and its
``landscape_curves``, ``landscape_views``, the kit in ``widgets``), in process and in a real
Jupyter kernel (nbclient); ``tests/study/test_explorer_browser.py`` drives the page in a browser.

Oracles: the loss modules themselves and autograd through them and the synthesizer (for the
curves computed from stored spectra), the marginals of a transport plan, numpy's FFT (for the
audio), :func:`sot_utils.study.landscape.fit_f0` (for the descent's path), hand-worked cases.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import ipywidgets as widgets
import numpy as np
import pytest
import soundfile
import torch

from sot_utils.constants import DATA_F0_RANGE_HZ, SAMPLE_RATE
from sot_utils.losses import MultiScaleSpectralLoss, SpectralOTLoss, WeightedLossSum
from sot_utils.study.explorers.landscape import LossExplorer
from sot_utils.study.explorers.landscape_curves import (
    AWAY,
    FLAT,
    GRID_RANGE_HZ,
    GRID_STEPS_PER_OCTAVE,
    LOSS_KINDS,
    LOSS_NAMES,
    TOWARD,
    CandidateSpectra,
    LossOptions,
    build_explorer_loss,
    candidate_grid,
    descent_direction,
    evaluate_from_spectra,
    loss_curve,
    spectral_stages,
    tilt_amplitudes,
)
from sot_utils.study.explorers.landscape_views import (
    HEAT_N_F0,
    HEAT_TILTS_DB,
    descent_path,
    heat_map,
    listening_tone,
    transport_view,
)
from sot_utils.study.explorers.widgets import format_cents, format_hz, wav_bytes
from sot_utils.study.landscape import fit_f0, harmonic_tones

REPO_ROOT = Path(__file__).resolve().parents[2]
STEPS_PER_OCTAVE = 16  # a coarse grid keeps the page's updates quick in tests

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ------------------------------------------------------------------------------------------------
# Readable numbers and tones


@pytest.mark.parametrize(
    "hz, text",
    [
        (440.0, "440.0 Hz"),
        (1600.0, "1600 Hz"),
        (43.654, "43.65 Hz"),
        (1950.4, "1950 Hz"),
        (0.0, "0 Hz"),
        (7.5, "7.500 Hz"),
    ],
)
def test_format_hz_has_four_significant_digits_and_no_exponent(hz, text):
    assert format_hz(hz) == text


def test_format_cents():
    assert [format_cents(c) for c in (100.2, -4.74, 0.01, -1200)] == [
        "+100 cents",
        "-4.7 cents",
        "0 cents",
        "-1200 cents",
    ]


def test_format_hz_rejects_non_finite():
    with pytest.raises(ValueError, match="frequency_hz"):
        format_hz(float("nan"))


def test_tilt_amplitudes_fall_by_the_tilt_per_octave():
    np.testing.assert_allclose(tilt_amplitudes(8, 0.0), np.ones(8))
    a = tilt_amplitudes(8, -9.0).double().numpy()
    # each doubling of the harmonic number is one octave: 9 dB lower
    for k in (1, 2, 4):
        assert 20 * math.log10(a[2 * k - 1] / a[k - 1]) == pytest.approx(-9.0, abs=1e-4)
    # -6.02 dB/octave is the 1/k decay
    np.testing.assert_allclose(tilt_amplitudes(5, -20 * math.log10(2)), 1 / np.arange(1, 6), rtol=1e-6)
    with pytest.raises(ValueError, match="tilt_db_per_octave"):
        tilt_amplitudes(3, 3.0)


def test_candidate_grid_is_fixed_and_spans_an_octave_each_way():
    a, b = candidate_grid(440.0), candidate_grid(441.3)
    for grid, target in ((a, 440.0), (b, 441.3)):
        assert np.all(np.diff(grid) > 0)
        assert grid[0] >= target / 2 * (1 - 1e-9) and grid[-1] <= target * 2 * (1 + 1e-9)
        steps = np.log2(grid / GRID_RANGE_HZ[0]) * GRID_STEPS_PER_OCTAVE
        np.testing.assert_allclose(steps, np.round(steps), atol=1e-6)  # points of one fixed grid
        assert len(grid) in (2 * GRID_STEPS_PER_OCTAVE, 2 * GRID_STEPS_PER_OCTAVE + 1)
    assert len(np.intersect1d(a, b)) >= len(a) - 1  # a nearby target reuses the same candidates
    # every target of the dataset has its candidates inside the grid's range
    low, high = DATA_F0_RANGE_HZ
    assert candidate_grid(low)[0] >= GRID_RANGE_HZ[0] * (1 - 1e-9)
    assert candidate_grid(high)[-1] <= GRID_RANGE_HZ[1] * (1 + 1e-9)


def test_wav_bytes_and_listening_tone_hold_the_tone():
    f0 = 440.0
    data, rate = soundfile.read(io.BytesIO(wav_bytes(listening_tone(f0, tilt_amplitudes(1, 0.0)))))
    assert rate == SAMPLE_RATE and data.ndim == 1 and data.shape[0] == SAMPLE_RATE
    assert np.abs(data).max() == pytest.approx(0.5, abs=1e-3)
    assert data[0] == pytest.approx(0.0, abs=1e-3) and data[-1] == pytest.approx(0.0, abs=1e-3)  # faded
    spectrum = np.abs(np.fft.rfft(data))
    assert np.fft.rfftfreq(data.shape[0], 1 / rate)[np.argmax(spectrum)] == pytest.approx(f0, abs=1.0)
    with pytest.raises(ValueError, match="mono"):
        wav_bytes(np.zeros((2, 10)))


# ------------------------------------------------------------------------------------------------
# Curves from stored spectra, against the loss modules and autograd


def _autograd_curve(loss, target_f0, f0, amplitudes):
    """The oracle: the loss module on rendered audio, and autograd through it and the synthesizer."""
    leaf = torch.tensor(f0, dtype=torch.float32, requires_grad=True)
    target = harmonic_tones(torch.tensor([target_f0]), amplitudes).expand(len(f0), -1)
    values = loss(target, harmonic_tones(leaf, amplitudes))
    (derivative,) = torch.autograd.grad(values.sum(), leaf)
    return values.detach().double().numpy(), derivative.double().numpy()


OPTIONS = LossOptions(n_fft=1024, p=1, root=False, mode="balanced", frequency_scale="log", pad_end=False, norm="l2")


CASES = [(name, LossOptions()) for name in LOSS_NAMES] + [(name, OPTIONS) for name in LOSS_KINDS]


@pytest.mark.parametrize(
    "name, options", CASES, ids=[f"{n}-{'defaults' if o == LossOptions() else 'options'}" for n, o in CASES]
)
def test_curves_from_spectra_equal_the_loss_modules_and_autograd(name, options):
    amplitudes = tilt_amplitudes(3, -4.5)
    target_f0 = 331.0
    f0 = [190.0, 250.5, 320.0, 345.2, 410.0, 600.7]
    loss = build_explorer_loss(name, options)
    values, derivative = evaluate_from_spectra(loss, target_f0, CandidateSpectra(amplitudes), f0)
    expected_values, expected_derivative = _autograd_curve(loss, target_f0, f0, amplitudes)
    np.testing.assert_allclose(values, expected_values, rtol=2e-5, atol=1e-9 * np.abs(expected_values).max())
    scale = np.abs(expected_derivative).max()
    np.testing.assert_allclose(derivative, expected_derivative, rtol=0, atol=2e-3 * scale)
    clear = np.abs(expected_derivative) > 0.01 * scale
    np.testing.assert_array_equal(np.sign(derivative[clear]), np.sign(expected_derivative[clear]))


def test_build_explorer_loss_follows_the_options():
    sot = build_explorer_loss("SOT", OPTIONS)
    assert isinstance(sot, SpectralOTLoss) and sot.reduction == "none"
    assert (sot.n_ffts, sot.p, sot.root, sot.mode, sot.frequency_scale, sot.pad_end) == (
        (1024,),
        1,
        False,
        "balanced",
        "log",
        False,
    )
    single = build_explorer_loss("single-scale (lin)", OPTIONS)
    assert single.fft_sizes == (1024,) and (single.norm, single.lin_weight, single.log_weight) == ("l2", 1.0, 0.0)
    log = build_explorer_loss("MSS (log)", OPTIONS)
    assert log.fft_sizes == (2048, 1024, 512, 256, 128, 64) and (log.lin_weight, log.log_weight) == (0.0, 1.0)
    group = build_explorer_loss("group SOT-2048", OPTIONS)
    assert isinstance(group, WeightedLossSum) and set(group.weights) == {"sot", "mss"}
    with pytest.raises(ValueError, match="name"):
        build_explorer_loss("L3", OPTIONS)


def test_spectral_stages_refuse_other_losses():
    with pytest.raises(ValueError, match="SpectralOTLoss, a MultiScaleSpectralLoss"):
        spectral_stages(torch.nn.MSELoss())
    stages = spectral_stages(MultiScaleSpectralLoss(lin_weight=1.0, log_weight=2.0, fft_sizes=(256, 64)))
    assert [(s.key[0], s.weight) for s in stages] == [
        ("stft", 1.0),
        ("log-stft", 2.0),
        ("stft", 1.0),
        ("log-stft", 2.0),
    ]


def test_descent_direction_worked_example():
    # a step moves f0 against the derivative: below the target a negative derivative raises f0
    candidates = np.array([100.0, 150.0, 200.0, 250.0, 300.0])
    derivative = np.array([-2.0, 1.0, 5.0, 3.0, -1e-12])
    np.testing.assert_array_equal(descent_direction(candidates, 200.0, derivative), [TOWARD, AWAY, FLAT, TOWARD, FLAT])
    with pytest.raises(ValueError, match="must match"):
        descent_direction(candidates, 200.0, derivative[:3])


def test_complete_frame_log_frequency_sot_points_to_the_target_and_log_mss_does_not():
    """The study's findings (README, notebook 02): complete-frame SOT's gradient points to the target;
    log-magnitude MSS is full of local minima."""
    cache = CandidateSpectra(tilt_amplitudes(1, 0.0))
    sot = build_explorer_loss("SOT", LossOptions(pad_end=False, frequency_scale="log"))
    curve = loss_curve(sot, 523.0, cache)
    assert curve.toward >= 0.95
    assert int(np.argmin(curve.values)) == int(np.flatnonzero(curve.candidates_hz == 523.0)[0])
    log_mss = loss_curve(build_explorer_loss("MSS (log)"), 523.0, CandidateSpectra(tilt_amplitudes(4, -6.0)))
    assert log_mss.toward < 0.85


def test_loss_curve_is_normalised_and_holds_the_target():
    curve = loss_curve(build_explorer_loss("MSS (lin)"), 700.0, CandidateSpectra(tilt_amplitudes(2, 0.0)))
    assert curve.candidates_hz.shape == curve.values.shape == curve.normalised.shape == curve.direction.shape
    assert 700.0 in curve.candidates_hz and np.all(np.diff(curve.candidates_hz) > 0)
    assert curve.normalised.min() == 0.0 and curve.normalised.max() == pytest.approx(1.0)
    np.testing.assert_allclose(
        curve.normalised, (curve.values - curve.values.min()) / (curve.values.max() - curve.values.min())
    )
    assert curve.values[curve.candidates_hz == 700.0][0] == pytest.approx(0.0, abs=1e-12)


def test_transport_view_plan_has_the_spectra_as_marginals():
    amplitudes = tilt_amplitudes(3, -6.0)
    target, candidate = (harmonic_tones(torch.tensor([f]), amplitudes) for f in (300.0, 410.0))
    view = transport_view(LossOptions(n_fft=1024, p=1, root=True, mode="balanced"), target, candidate)
    assert view.target.sum() == pytest.approx(1.0) and view.candidate.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(view.plan.sum(axis=1), view.target, atol=1e-9)
    np.testing.assert_allclose(view.plan.sum(axis=0), view.candidate, atol=1e-9)
    # W1 is the area between the CDFs, on positions f / Nyquist
    positions = view.frequencies_hz / (SAMPLE_RATE / 2)
    area = np.sum(np.abs(np.cumsum(view.target) - np.cumsum(view.candidate))[:-1] * np.diff(positions))
    assert view.cost == pytest.approx(area, rel=1e-4)
    # the target's energy sits at its harmonics: its reach is past the third, below the fourth
    assert 900.0 < view.target_top_hz < 1200.0
    # bin frequencies of a 1024-point FFT at 16 kHz
    np.testing.assert_allclose(view.frequencies_hz[:3], [0.0, 15.625, 31.25])


# ------------------------------------------------------------------------------------------------
# Gradient descent and the heat map


def test_descent_path_is_fit_f0s_run():
    loss = build_explorer_loss("SOT", LossOptions(pad_end=False, frequency_scale="log"))
    amplitudes = tilt_amplitudes(2, -6.0)
    path = descent_path(loss, 400.0, 520.0, amplitudes, steps=40)
    assert path.f0_hz.shape == path.loss.shape == (41,)
    assert path.f0_hz[0] == pytest.approx(520.0, rel=1e-5)
    fit = fit_f0(loss, torch.tensor([400.0]), torch.tensor([math.log2(520.0 / 400.0)]), amplitudes, steps=40)
    assert path.final_hz == pytest.approx(float(fit["final_f0_hz"].iloc[0]), rel=1e-6)
    for step in (0, 17, 40):  # each recorded loss is the loss at that f0
        target = harmonic_tones(torch.tensor([400.0]), amplitudes)
        with torch.no_grad():
            candidate = harmonic_tones(torch.tensor([path.f0_hz[step]], dtype=torch.float32), amplitudes)
            value = float(loss(target, candidate)[0])
        assert path.loss[step] == pytest.approx(value, rel=1e-4, abs=1e-9)
    assert abs(1200 * math.log2(path.final_hz / 400.0)) < 50  # the documented success of this loss
    with pytest.raises(ValueError, match="start_f0_hz"):
        descent_path(loss, 400.0, -1.0, amplitudes)


def test_heat_map_of_cut_sot_finds_the_target_f0_with_enough_harmonics():
    """docs and notebook 02: with the cutoff, SOT finds the right f0 whenever the estimate has at least
    the target's harmonics."""
    loss = build_explorer_loss("SOT", LossOptions(pad_end=False))
    f0, harmonics, grid, target_y = heat_map(loss, 300.0, 3, -6.0, "number of harmonics", n_f0=25)
    assert grid.shape == (8, 25) and target_y == 3.0
    np.testing.assert_allclose(harmonics, np.arange(1, 9))
    target_column = int(np.argmin(np.abs(f0 - 300.0)))
    assert f0[target_column] == pytest.approx(300.0)
    assert np.all(grid[2:].argmin(axis=1) == target_column)
    f0, tilts, grid, target_y = heat_map(loss, 300.0, 3, -6.0, "spectral tilt", n_f0=25)
    assert grid.shape == (len(HEAT_TILTS_DB), 25) and target_y == -6.0
    np.testing.assert_allclose(tilts, HEAT_TILTS_DB)
    assert grid[list(tilts).index(-6.0), target_column] == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="parameter"):
        heat_map(loss, 300.0, 3, -6.0, "phase")


# ------------------------------------------------------------------------------------------------
# The page


@pytest.fixture
def page():
    return LossExplorer(steps_per_octave=STEPS_PER_OCTAVE, descent_steps=30)


def _state(page):
    return {
        "curves": {name: curve.values.copy() for name, curve in page.curves.items()},
        "images": {name: bytes(image.value) for name, image in page.images.items()},
        "audio": {name: bytes(player.value) for name, player in page.audio.items()},
        "updates": page.n_updates,
    }


def _changed_curves(before, after):
    names = set(before["curves"]) | set(after["curves"])
    return {
        name
        for name in names
        if name not in before["curves"]
        or name not in after["curves"]
        or before["curves"][name].shape != after["curves"][name].shape
        or not np.allclose(before["curves"][name], after["curves"][name], rtol=1e-7, atol=0)
    }


def test_initial_page_shows_three_curves_the_candidate_and_the_audio(page):
    assert list(page.curves) == ["SOT", "MSS (lin)", "MSS (log)"]
    assert page.n_updates == 1
    for name in ("curve", "candidate"):
        assert bytes(page.images[name].value).startswith(b"\x89PNG\r\n\x1a\n")
    for player in page.audio.values():
        data, rate = soundfile.read(io.BytesIO(bytes(player.value)))
        assert rate == SAMPLE_RATE and np.abs(data).max() > 0.1
    assert bytes(page.images["heat"].value) == b""  # computed when its section opens
    assert "440.0 Hz" in page.readout.value and "40.00 Hz to 1950 Hz" in page.readout.value
    line = page.line
    assert line is page.lines["SOT"] and line.get_linewidth() == 3.0


def test_the_candidate_slider_updates_the_candidate_not_the_curves(page):
    before = _state(page)
    page.controls["candidate_cents"].value = -500
    after = _state(page)
    assert after["updates"] == before["updates"] and not _changed_curves(before, after)
    assert after["images"]["curve"] != before["images"]["curve"]  # the marker moved
    assert after["images"]["candidate"] != before["images"]["candidate"]
    assert after["audio"]["candidate"] != before["audio"]["candidate"]
    assert after["audio"]["target"] == before["audio"]["target"]
    assert page.candidate_f0_hz == pytest.approx(440.0 * 2 ** (-500 / 1200))
    assert format_hz(page.candidate_f0_hz) in page.readout.value and "-500 cents" in page.readout.value
    assert page.controls["candidate_cents"].continuous_update is True


@pytest.mark.parametrize(
    "name, value, changed",
    [
        ("target_f0_hz", 1600.0, {"SOT", "MSS (lin)", "MSS (log)"}),
        ("n_harmonics", 4, {"SOT", "MSS (lin)", "MSS (log)"}),
        ("n_fft", 1024, {"SOT"}),
        ("p", 1, {"SOT"}),
        ("root", False, {"SOT"}),
        ("mode", "balanced", {"SOT"}),
        ("frequency_scale", "log", {"SOT"}),
        ("framing", False, {"SOT"}),
        ("norm", "l2", {"MSS (lin)", "MSS (log)"}),
    ],
)
def test_each_control_changes_the_curves_it_should(page, name, value, changed):
    before = _state(page)
    assert page.controls[name].value != value
    page.controls[name].value = value
    after = _state(page)
    assert after["updates"] == before["updates"] + 1, f"{name} did not recompute the curves"
    assert _changed_curves(before, after) == changed, name
    assert after["images"]["curve"] != before["images"]["curve"]
    if name != "norm":  # the candidate view shows SOT's spectra, plan and cost: the MSS norm is not in it
        assert after["images"]["candidate"] != before["images"]["candidate"], name
    else:
        assert after["images"]["candidate"] == before["images"]["candidate"]


def test_tilt_changes_a_harmonic_tone_and_its_audio(page):
    page.controls["n_harmonics"].value = 5
    before = _state(page)
    page.controls["tilt_db"].value = -12.0
    after = _state(page)
    assert _changed_curves(before, after) == {"SOT", "MSS (lin)", "MSS (log)"}
    assert after["audio"]["target"] != before["audio"]["target"]
    assert after["images"]["candidate"] != before["images"]["candidate"]


def test_toggles_add_and_remove_curves_and_the_selected_loss_stays(page):
    page.toggles["group SOT-2048"].value = True
    assert list(page.curves) == ["SOT", "MSS (lin)", "MSS (log)", "group SOT-2048"]
    page.toggles["MSS (log)"].value = False
    assert list(page.curves) == ["SOT", "MSS (lin)", "group SOT-2048"]
    page.toggles["SOT"].value = False  # the selected loss is always drawn
    assert page.toggles["SOT"].value is True and "SOT" in page.curves


def test_selecting_a_loss_draws_it_thick_and_enables_it(page):
    before = _state(page)
    page.controls["loss"].value = "group MSS-LogLin"
    assert page.toggles["group MSS-LogLin"].value is True
    assert "group MSS-LogLin" in page.curves and page.line is page.lines["group MSS-LogLin"]
    assert page.line.get_linewidth() == 3.0 and page.lines["SOT"].get_linewidth() == 1.3
    assert bytes(page.images["curve"].value) != before["images"]["curve"]


def test_descent_draws_its_path_and_says_where_it_ends(page):
    page.controls["frequency_scale"].value = "log"
    page.controls["framing"].value = False
    page.controls["candidate_cents"].value = 400
    before = bytes(page.images["curve"].value)
    path = page.run_descent()
    assert path.f0_hz[0] == pytest.approx(page.candidate_f0_hz, rel=1e-5)
    x, y = page.path_line.get_data()
    assert len(x) == 31 and np.all(np.isfinite(y))
    assert bytes(page.images["curve"].value) != before
    assert format_hz(path.final_hz) in page.descent_readout.value
    page.controls["target_f0_hz"].value = 500.0  # new curves: the old path is gone
    assert page.path is None and page.descent_readout.value == ""


def test_heat_map_opens_and_follows_its_parameter(page):
    page.heat_box.selected_index = 0
    first = bytes(page.images["heat"].value)
    assert first.startswith(b"\x89PNG") and page.heat["grid"].shape == (8, HEAT_N_F0)
    page.controls["heat_parameter"].value = "spectral tilt"
    assert bytes(page.images["heat"].value) != first and page.heat["grid"].shape[0] == len(HEAT_TILTS_DB)
    again = bytes(page.images["heat"].value)
    page.controls["loss"].value = "MSS (lin)"  # the heat map shows the selected loss
    assert bytes(page.images["heat"].value) != again


def _descendants(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _descendants(child)


def test_widget_holds_every_control_image_and_player(page):
    inside = list(_descendants(page.widget()))
    expected = [
        *page.controls.values(),
        *page.toggles.values(),
        page.descend,
        *page.images.values(),
        *page.audio.values(),
        page.readout,
        page.descent_readout,
    ]
    for item in expected:
        assert any(w is item for w in inside), item
    assert isinstance(page.images["curve"], widgets.Image)


def test_notebook_02_usage_still_works():
    """Notebook 02 builds the explorer with defaults and changes the target and the loss."""
    explorer = LossExplorer(steps_per_octave=STEPS_PER_OCTAVE)
    before = explorer.line.get_ydata().copy()
    explorer.controls["target_f0_hz"].value = 300.0
    explorer.controls["loss"].value = "MSS (lin)"
    assert explorer.n_updates >= 3 and not np.allclose(before, explorer.line.get_ydata())


# ------------------------------------------------------------------------------------------------
# In a real kernel


KERNEL_CELLS = [
    "import torch\n"
    "torch.set_num_threads(1)\n"
    "from sot_utils.study.explorers.landscape import LossExplorer\n"
    f"explorer = LossExplorer(steps_per_octave={STEPS_PER_OCTAVE})\n"
    "explorer.widget()",
    "import json\n"
    "curve = explorer.images['curve'].value\n"
    "explorer.controls['target_f0_hz'].value = 300.0\n"
    "explorer.controls['loss'].value = 'MSS (log)'\n"
    "print('RESULT ' + json.dumps({\n"
    "    'n_updates': explorer.n_updates,\n"
    "    'curves': list(explorer.curves),\n"
    "    'redrawn': explorer.images['curve'].value != curve,\n"
    "}))",
]


def test_explorer_in_a_real_kernel():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in KERNEL_CELLS]
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(REPO_ROOT)}}
    )
    client.execute()
    display_cell, action_cell = nb.cells
    for cell in nb.cells:
        assert not [o for o in cell.outputs if o.get("output_type") == "error"]
    views = [
        o
        for o in display_cell.outputs
        if o.get("output_type") in ("display_data", "execute_result")
        and "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert views, display_cell.outputs
    text = "".join(o.get("text", "") for o in action_cell.outputs if o.get("output_type") == "stream")
    result = json.loads(next(line for line in text.splitlines() if line.startswith("RESULT "))[len("RESULT ") :])
    assert result["n_updates"] >= 3 and result["redrawn"]
    assert result["curves"] == ["SOT", "MSS (lin)", "MSS (log)"]
