"""Perturbations of test tones, against closed forms, scipy and the dataset's own renderer."""

import math

import numpy as np
import pytest
import scipy.signal
import scipy.stats
import torch

from sot_utils.study.perturb import (
    add_noise,
    colored_noise,
    frame_f0,
    render_perturbed_tones,
    stretched_partials,
    vibrato_f0,
)
from sot_utils.synth import oscillator_bank
from sot_utils.training.data import render_stationary

SR = 16000


def generator(seed=0):
    return torch.Generator().manual_seed(seed)


def welch_slope(noise: torch.Tensor) -> float:
    """Slope of log power against log frequency, scipy's Welch estimate averaged over examples."""
    freqs, power = scipy.signal.welch(noise.numpy(), fs=SR, nperseg=1024, axis=-1)
    keep = (freqs > 50) & (freqs < 7000)
    return float(np.polyfit(np.log(freqs[keep]), np.log(power.mean(axis=0)[keep]), 1)[0])


@pytest.mark.parametrize("color, slope", [("white", 0.0), ("pink", -1.0)])
def test_colored_noise_has_unit_power_and_the_expected_spectral_slope(color, slope):
    noise = colored_noise((64, 8192), color, generator())
    assert noise.shape == (64, 8192) and noise.dtype == torch.float32
    np.testing.assert_allclose(noise.pow(2).mean(dim=-1).numpy(), 1.0, rtol=1e-5)
    np.testing.assert_allclose(noise.mean(dim=-1).numpy(), 0.0, atol=1e-5)
    assert abs(welch_slope(noise) - slope) < 0.08


@pytest.mark.parametrize("color", ["white", "pink"])
@pytest.mark.parametrize("snr_db", [40.0, 10.0, 0.0, -5.0])
def test_add_noise_gives_the_requested_snr_per_example(color, snr_db):
    audio = torch.sin(2 * math.pi * torch.tensor([[220.0], [1000.0]]) * torch.arange(4096) / SR) * torch.tensor(
        [[1.0], [0.1]]
    )
    noisy = add_noise(audio, snr_db, color, generator(1))
    noise = (noisy - audio).double()
    measured = 10 * torch.log10(audio.double().pow(2).mean(-1) / noise.pow(2).mean(-1))
    np.testing.assert_allclose(measured.numpy(), snr_db, atol=1e-4)


def test_add_noise_is_seeded_and_rejects_bad_input():
    audio = torch.randn(2, 4096, generator=generator(3))
    assert torch.equal(add_noise(audio, 10.0, "white", generator(5)), add_noise(audio, 10.0, "white", generator(5)))
    assert not torch.equal(add_noise(audio, 10.0, "white", generator(5)), add_noise(audio, 10.0, "white", generator(6)))
    with pytest.raises(ValueError, match="silent"):
        add_noise(torch.zeros(1, 4096), 10.0, "white", generator())
    with pytest.raises(ValueError, match="snr_db"):
        add_noise(audio, float("nan"), "white", generator())
    with pytest.raises(ValueError, match="color"):
        add_noise(audio, 10.0, "brown", generator())
    with pytest.raises(ValueError, match="audio"):
        add_noise(torch.randn(4096), 10.0, "white", generator())


def test_stretched_partials_closed_form():
    np.testing.assert_array_equal(stretched_partials(5, 0.0).numpy(), [1, 2, 3, 4, 5])
    k = np.arange(1, 9)
    np.testing.assert_allclose(stretched_partials(8, 1e-2).numpy(), k * np.sqrt(1 + 1e-2 * k**2), rtol=1e-12)
    for bad in (-1e-3, 1.0, float("nan")):
        with pytest.raises(ValueError, match="inharmonicity"):
            stretched_partials(8, bad)


def test_vibrato_swings_depth_cents_at_the_rate():
    f0 = torch.tensor([440.0, 100.0])
    track = vibrato_f0(f0, 32000, SR, depth_cents=50.0, rate_hz=5.5, phase=torch.tensor([0.0, 1.0]))
    cents = 1200 * torch.log2(track / f0[:, None].double())
    np.testing.assert_allclose(cents.amax(-1).numpy(), 50.0, atol=1e-3)
    np.testing.assert_allclose(cents.amin(-1).numpy(), -50.0, atol=1e-3)
    spectrum = np.abs(np.fft.rfft(cents[0].numpy()))
    assert np.fft.rfftfreq(32000, 1 / SR)[spectrum.argmax()] == pytest.approx(5.5, abs=0.5)
    flat = vibrato_f0(f0, 4096, SR, depth_cents=0.0, rate_hz=5.5, phase=torch.zeros(2))
    torch.testing.assert_close(flat, f0[:, None].double().expand(-1, 4096))
    with pytest.raises(ValueError, match="depth_cents"):
        vibrato_f0(f0, 4096, SR, depth_cents=-1.0, rate_hz=5.5, phase=torch.zeros(2))


def test_frame_f0_is_the_geometric_mean_of_each_block():
    track = torch.rand(3, 4096, generator=generator(2), dtype=torch.float64) * 1000 + 50
    expected = scipy.stats.gmean(track.numpy().reshape(3, 16, 256), axis=-1)
    np.testing.assert_allclose(frame_f0(track, 16).numpy(), expected, rtol=1e-12)
    with pytest.raises(ValueError, match="multiple"):
        frame_f0(track, 7)


def test_oscillator_bank_initial_phase_closed_form():
    n = torch.arange(1, 513, dtype=torch.float64)  # the bank's phase at sample i is omega * (i + 1)
    freqs = torch.full((1, 512, 1), 300.0, dtype=torch.float64)
    amps = torch.ones(1, 512, 1, dtype=torch.float64)
    out = oscillator_bank(freqs, amps, SR, initial_phase=torch.tensor([[math.pi / 2]], dtype=torch.float64))
    np.testing.assert_allclose(out[0].numpy(), np.cos(2 * np.pi * 300.0 * n.numpy() / SR), atol=1e-9)
    with pytest.raises(ValueError, match="initial_phase"):
        oscillator_bank(freqs, amps, SR, initial_phase=torch.zeros(1, 2, dtype=torch.float64))


def test_unperturbed_tones_are_the_dataset_tones():
    f0 = torch.tensor([45.0, 440.0, 1900.0])
    amplitudes = torch.rand(3, 8, generator=generator(4)) * 0.6 + 0.4
    amplitudes[0, 5:] = 0
    audio, track = render_perturbed_tones(f0, amplitudes, 4096, SR, generator())
    reference = render_stationary(f0, amplitudes, 4096, SR, 16, progress=False)
    torch.testing.assert_close(audio, reference, atol=1e-4 * float(reference.abs().max()), rtol=0)
    torch.testing.assert_close(track, f0[:, None].expand(-1, 4096))


def peak_frequency(audio: np.ndarray) -> float:
    """Frequency of the largest peak, from a 16x zero-padded Hann spectrum (Hz)."""
    n = 16 * len(audio)
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio)), n=n))
    return float(np.fft.rfftfreq(n, 1 / SR)[spectrum.argmax()])


def test_inharmonicity_moves_partial_k_to_k_f0_sqrt_1_plus_b_k2():
    f0, b = 200.0, 3e-3
    amplitudes = torch.zeros(1, 8)
    amplitudes[0, 5] = 1.0  # partial 6 only
    audio, _ = render_perturbed_tones(torch.tensor([f0]), amplitudes, 8192, SR, generator(), inharmonicity=b)
    assert peak_frequency(audio[0].double().numpy()) == pytest.approx(6 * f0 * math.sqrt(1 + b * 36), abs=1.0)


def test_partials_stretched_past_nyquist_are_silent():
    amplitudes = torch.zeros(1, 8)
    amplitudes[0, 7] = 1.0  # partial 8 of 950 Hz: 7,600 Hz harmonic, above 8 kHz when stretched
    silent, _ = render_perturbed_tones(torch.tensor([950.0]), amplitudes, 4096, SR, generator(), inharmonicity=1e-2)
    audible, _ = render_perturbed_tones(torch.tensor([950.0]), amplitudes, 4096, SR, generator())
    assert float(silent.abs().max()) == 0.0 and float(audible.abs().max()) > 0.9


def test_random_phases_change_the_waveform_not_the_magnitude_of_each_partial():
    amplitudes = torch.tensor([[1.0, 0.7, 0.5, 0.0]])
    f0 = torch.tensor([250.0])  # partials on exact DFT bins of a 4096-sample frame at 16 kHz
    clean, _ = render_perturbed_tones(f0, amplitudes, 4096, SR, generator(7))
    shifted, _ = render_perturbed_tones(f0, amplitudes, 4096, SR, generator(7), random_phase=True)
    assert float((clean - shifted).abs().max()) > 0.1
    bins = [64, 128, 192]
    np.testing.assert_allclose(
        np.abs(np.fft.rfft(shifted[0].numpy()))[bins], np.abs(np.fft.rfft(clean[0].numpy()))[bins], rtol=1e-3
    )


def test_render_perturbed_tones_rejects_mismatched_labels():
    with pytest.raises(ValueError, match="batch"):
        render_perturbed_tones(torch.tensor([200.0, 300.0]), torch.ones(3, 8), 4096, SR, generator())
    with pytest.raises(ValueError, match="f0_hz"):
        render_perturbed_tones(torch.tensor([-1.0]), torch.ones(1, 8), 4096, SR, generator())
