"""The voicing decision of estimate_f0: tones are voiced, silence, DC, noise and out-of-range tones are not."""

import math

import pytest
import torch

from sot_utils.training.data import generate_harmonic_dataset, peak_normalize
from sot_utils.training.estimate import peak_confidence, resample_to_model_rate, voicing

N = 8192
T = torch.arange(N) / 16000


def test_every_synthetic_tone_is_voiced():
    dataset = generate_harmonic_dataset(seed=5, size=300, progress=False)
    audio = peak_normalize(dataset["examples"]["audio"])
    voiced, reasons, level_db, flatness = voicing(audio)
    assert bool(voiced.all()), [r for r in reasons if r]
    assert float(flatness.max()) < 1e-4 and float(level_db.min()) > -20
    quiet = voicing(audio * 10 ** (-40 / 20))[0]  # 40 dB quieter: still a tone
    assert bool(quiet.all())


def colored_noise(exponent: float, seed: int) -> torch.Tensor:
    spectrum = torch.fft.rfft(torch.randn(8, N, generator=torch.Generator().manual_seed(seed)))
    f = torch.arange(spectrum.shape[-1]).clamp(min=1).float()
    noise = torch.fft.irfft(spectrum / f ** (exponent / 2), N)
    return 0.3 * noise / noise.abs().amax(dim=-1, keepdim=True)


@pytest.mark.parametrize(
    "name, audio, reason",
    [
        (
            "silence with one LSB of noise",
            torch.randint(-1, 2, (4, N), generator=torch.Generator().manual_seed(0)) / 32768,
            "silent",
        ),
        ("DC", torch.full((2, N), 0.5), "silent"),
        (
            "two channels that cancel",
            (torch.sin(2 * math.pi * 440 * T) - torch.sin(2 * math.pi * 440 * T) + 1e-12)[None],
            "silent",
        ),
        ("white noise", colored_noise(0.0, 1), "noise"),
        ("pink noise", colored_noise(1.0, 2), "noise"),
        ("brown noise", colored_noise(2.0, 3), "noise"),
        ("a 30 Hz tone", torch.sin(2 * math.pi * 30 * T)[None], "below the trained range"),
        ("a 3 kHz tone", torch.sin(2 * math.pi * 3000 * T)[None], "above the trained range"),
    ],
)
def test_what_is_not_a_trained_tone_is_unvoiced_with_its_reason(name, audio, reason):
    voiced, reasons, _, _ = voicing(audio)
    assert not bool(voiced.any()), name
    assert set(reasons) == {reason}, (name, reasons)


def test_a_15_khz_tone_in_a_48_khz_file_leaves_only_residue_at_16_khz():
    t = torch.arange(3 * N) / 48000
    audio = resample_to_model_rate(torch.sin(2 * math.pi * 15000 * t), 48000)
    voiced, reasons, level_db, _ = voicing(audio)
    assert (
        not bool(voiced[0]) and reasons[0] in ("silent", "noise") and float(level_db[0]) < -50
    )  # the resampler's residue


def test_peak_confidence_closed_forms():
    logits = torch.full((1, 2, 285), -1e4)
    logits[0, 0, 100] = 0.0  # all the mass on one bin
    logits[0, 1] = 0.0  # uniform: the peak is bin 0, and bins 0-3 are within 3 of it
    confidence = peak_confidence(logits, temperature=0.1)
    assert float(confidence) == pytest.approx((1.0 + 4 / 285) / 2)


def test_bad_layouts_and_rates_are_refused():
    with pytest.raises(ValueError, match="n_samples, channels"):
        resample_to_model_rate(torch.randn(8000, 2), 16000)
    with pytest.raises(ValueError, match="`sample_rate` must be in"):
        resample_to_model_rate(torch.randn(100), 1)
    with pytest.raises(ValueError, match="at most 600 s"):
        resample_to_model_rate(torch.zeros(601 * 4000), 4000)
