"""Tests for the ``pad_end`` option of ``stft_magnitude`` and ``SpectralOTLoss``: complete frames
only, against an independent numpy/scipy oracle, and the smooth f0 landscape it gives."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch

from sot_utils.losses import SpectralOTLoss
from sot_utils.spectral import bin_positions, n_stft_frames, stft_magnitude
from sot_utils.study.landscape import harmonic_tones, local_minima
from sot_utils.transport import spectral_ot

N_SAMPLES = 4096
HOP = 256


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def audio():
    generator = torch.Generator().manual_seed(0)
    return torch.randn(3, N_SAMPLES, generator=generator, dtype=torch.float64)


def oracle_stft(audio: np.ndarray, n_fft: int, hop: int, window: str) -> np.ndarray:
    """Complete frames only: ``|rfft(x[i hop : i hop + n_fft] * w)| / sqrt(n_fft)``."""
    w = scipy.signal.get_window(window, n_fft, fftbins=True)  # periodic
    n_frames = 1 + (audio.shape[-1] - n_fft) // hop
    frames = np.stack([audio[:, i * hop : i * hop + n_fft] for i in range(n_frames)], axis=1)
    return np.abs(np.fft.rfft(frames * w, axis=-1)) / np.sqrt(n_fft)


@pytest.mark.parametrize("n_fft, expected_frames", [(2048, 9), (512, 15), (4096, 1)])
def test_complete_frame_count(audio, n_fft, expected_frames):
    assert 1 + (N_SAMPLES - n_fft) // HOP == expected_frames
    complete = stft_magnitude(audio, n_fft, HOP, "hann", pad_end=False)
    assert complete.shape == (3, expected_frames, n_fft // 2 + 1)
    padded = stft_magnitude(audio, n_fft, HOP, "hann")  # default: pad_end=True
    assert padded.shape == (3, n_stft_frames(N_SAMPLES, HOP), n_fft // 2 + 1) == (3, 16, n_fft // 2 + 1)


@pytest.mark.parametrize("n_fft", [2048, 512])
@pytest.mark.parametrize("window", ["hann", "flattop"])
def test_complete_frames_are_the_first_padded_frames(audio, n_fft, window):
    complete = stft_magnitude(audio, n_fft, HOP, window, pad_end=False)
    padded = stft_magnitude(audio, n_fft, HOP, window, pad_end=True)
    n = complete.shape[1]
    torch.testing.assert_close(complete, padded[:, :n], rtol=0, atol=0)
    # the padded version goes on with frames that straddle the end: the signal then zeros
    assert padded.shape[1] == n_stft_frames(N_SAMPLES, HOP) > n
    pad = n_fft + HOP * (padded.shape[1] - 1) - N_SAMPLES
    zero_padded = np.pad(audio.numpy(), ((0, 0), (0, pad)))
    np.testing.assert_allclose(padded.numpy(), oracle_stft(zero_padded, n_fft, HOP, window), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("n_fft", [2048, 512])
@pytest.mark.parametrize("window", ["hann", "flattop"])
def test_complete_frames_match_numpy_oracle(audio, n_fft, window):
    expected = oracle_stft(audio.numpy(), n_fft, HOP, window)
    got = stft_magnitude(audio, n_fft, HOP, window, pad_end=False).numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)


def test_too_short_audio_without_padding_is_rejected():
    short = torch.zeros(2, 1000)
    with pytest.raises(ValueError, match="audio"):
        stft_magnitude(short, 2048, HOP, pad_end=False)
    assert stft_magnitude(short, 2048, HOP).shape == (2, 4, 1025)  # padding still covers it
    loss = SpectralOTLoss(n_fft=2048, pad_end=False)
    with pytest.raises(ValueError, match="audio"):
        loss(short, short)


@pytest.mark.parametrize("n_fft", [2048, 512])
@pytest.mark.parametrize("options", [dict(), dict(mode="balanced", root=True), dict(p=1, power=False)])
def test_loss_without_padding_is_spectral_ot_on_complete_frames(audio, n_fft, options):
    target, estimate = audio[:2], audio[1:]
    loss = SpectralOTLoss(n_fft=n_fft, pad_end=False, reduction="none", **options)
    power = options.get("power", True)
    # the complete frames, as stft_magnitude(pad_end=False) gives them (checked against the numpy
    # oracle above). Not the oracle's own spectra: "cut" costs are not continuous at the ulp level
    # (a target CDF ending at 1 + 1e-16 drops its last transport segment), so spectra that differ
    # by rounding alone can give costs that differ by ~1e-3 relative.
    spectra = [stft_magnitude(x, n_fft, HOP, "flattop", pad_end=False) for x in (target, estimate)]
    if power:
        spectra = [s**2 for s in spectra]
    per_frame = spectral_ot(
        spectra[0],
        spectra[1],
        bin_positions(n_fft),
        p=options.get("p", 2),
        root=options.get("root", False),
        mode=options.get("mode", "cut"),
    )
    assert per_frame.shape == (2, 1 + (N_SAMPLES - n_fft) // HOP)
    torch.testing.assert_close(loss(target, estimate), per_frame.mean(dim=-1), rtol=1e-6, atol=1e-9)
    mean_loss = SpectralOTLoss(n_fft=n_fft, pad_end=False, **options)(target, estimate)
    torch.testing.assert_close(mean_loss, per_frame.mean(), rtol=1e-6, atol=1e-9)

    default = SpectralOTLoss(n_fft=n_fft, reduction="none", **options)(target, estimate)
    assert default.shape == (2,)
    assert not torch.allclose(default, loss(target, estimate), rtol=1e-3)


def test_pad_end_is_stored_and_used_by_spectra(audio):
    assert SpectralOTLoss().pad_end is True
    loss = SpectralOTLoss(n_fft=2048, pad_end=False)
    assert loss.pad_end is False
    assert loss.spectra(audio).shape == (3, 9, 1025)
    assert SpectralOTLoss(n_fft=2048).spectra(audio).shape == (3, 16, 1025)


# ------------------------------------------------------------------------------------------------
# The motivating property: complete frames make the sine landscape unimodal


def _sine_landscape(step_hz: float, pad_end: bool):
    target = harmonic_tones(torch.tensor([500.0]), torch.tensor([1.0]))
    f0 = torch.arange(400.0, 600.0 + step_hz / 2, step_hz)
    estimates = harmonic_tones(f0, torch.tensor([1.0]))
    loss = SpectralOTLoss(n_fft=2048, pad_end=pad_end, mode="cut", reduction="none")
    with torch.no_grad():
        values = loss(target.expand(len(f0), -1), estimates)
    return f0.numpy(), values.double().numpy()


@pytest.fixture(scope="module")
def landscapes_2hz():
    return {pad_end: _sine_landscape(2.0, pad_end) for pad_end in (False, True)}


def test_complete_frames_give_a_single_minimum_at_the_target(landscapes_2hz):
    f0, values = landscapes_2hz[False]
    i = int(np.argmin(values))
    assert f0[i] == 500.0
    d = np.diff(values)
    assert np.all(d[:i] < 0), "not strictly decreasing below 500 Hz"
    assert np.all(d[i:] > 0), "not strictly increasing above 500 Hz"
    np.testing.assert_array_equal(local_minima(values), [i])


def test_padded_frames_are_jagged_on_both_sides(landscapes_2hz):
    f0, values = landscapes_2hz[True]
    i = int(np.argmin(values))
    assert f0[i] == 500.0  # the global minimum is still right
    d = np.diff(values)
    assert np.any(d[:i] > 0), "padded curve unexpectedly monotone below 500 Hz"
    assert np.any(d[i:] < 0), "padded curve unexpectedly monotone above 500 Hz"
    # On a 2 Hz grid the ripple (period ≈ 1.95 Hz, half of 1 / 0.256 s) is nearly aliased away, so
    # few local minima survive; on a 1 Hz grid (below) they are many.
    spurious = [m for m in local_minima(values) if f0[m] != 500.0]
    assert len(spurious) >= 1


def test_padded_frames_have_many_local_minima_on_a_fine_grid():
    f0, padded = _sine_landscape(1.0, pad_end=True)
    assert len(local_minima(padded)) >= 5
    _, complete = _sine_landscape(1.0, pad_end=False)
    np.testing.assert_array_equal(local_minima(complete), [int(np.argmin(np.abs(f0 - 500.0)))])
