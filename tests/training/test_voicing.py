"""The voicing decision of estimate_f0: tones are voiced, silence, DC, noise and out-of-range tones are not."""

import math
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest
import scipy.signal
import torch

from sot_utils.spectral import CQT
from sot_utils.study.voicing_snr import (
    coloured_noise,
    lowest_voiced_snr,
    plot_voicing_snr,
    snr_findings,
    voicing_snr_table,
    voicing_sources,
)
from sot_utils.training.data import generate_harmonic_dataset, peak_normalize
from sot_utils.training.estimate import peak_confidence, resample_to_model_rate
from sot_utils.training.voicing import rms_level_db, voiced_frames, voicing

N = 8192
T = torch.arange(N) / 16000


def with_noise(audio: torch.Tensor, snr_db: float, colour: str, seed: int) -> torch.Tensor:
    noise = coloured_noise(colour, tuple(audio.shape), torch.Generator().manual_seed(seed))
    return audio + noise * audio.pow(2).mean(dim=-1, keepdim=True).sqrt() * 10 ** (-snr_db / 20)


def test_every_synthetic_tone_is_voiced():
    dataset = generate_harmonic_dataset(seed=5, size=300, progress=False)
    audio = peak_normalize(dataset["examples"]["audio"])
    voiced, reasons, level_db, tonal_share = voicing(audio)
    assert bool(voiced.all()), [r for r in reasons if r]
    assert float(tonal_share.min()) > 0.9 and float(level_db.min()) > -20
    quiet = voicing(audio * 10 ** (-40 / 20))[0]  # 40 dB quieter: still a tone
    assert bool(quiet.all())


def test_a_440_hz_tone_at_17_db_snr_in_white_noise_is_voiced():
    """Reported: called noise by the flatness threshold (0.56 / (1 + SNR) > 0.01 below about 17.5 dB)."""
    tone = torch.sin(2 * math.pi * 440 * T).expand(8, N)
    voiced, reasons, _, tonal_share = voicing(with_noise(tone, 17.0, "white", seed=0))
    assert bool(voiced.all()), reasons
    assert float(tonal_share.min()) > 0.9  # about SNR / (1 + SNR) = 0.98


@pytest.mark.parametrize("f0_hz", [220.0, 440.0])
def test_a_plain_sawtooth_is_voiced(f0_hz):
    """Reported: scipy's naive (aliased) sawtooth was called noise."""
    saw = torch.tensor(scipy.signal.sawtooth(2 * np.pi * f0_hz * T.numpy()), dtype=torch.float32)[None]
    voiced, reasons, _, tonal_share = voicing(saw)
    assert bool(voiced[0]), reasons
    assert float(tonal_share[0]) > 0.9


@pytest.mark.parametrize("colour", ["white", "pink"])
def test_harmonic_tones_at_10_db_snr_are_voiced(colour):
    audio = peak_normalize(generate_harmonic_dataset(seed=9, size=64, progress=False)["examples"]["audio"])
    for seed in (0, 1):
        voiced, reasons, _, _ = voicing(with_noise(audio, 10.0, colour, seed))
        assert bool(voiced.all()), [r for r in reasons if r]


def noise_of(colour: str, seed: int) -> torch.Tensor:
    noise = coloured_noise(colour, (8, N), torch.Generator().manual_seed(seed))
    return 0.3 * noise / noise.abs().amax(dim=-1, keepdim=True)


@pytest.mark.parametrize(
    "name, audio, reason",
    [
        (
            "silence with one LSB of noise",
            torch.randint(-1, 2, (4, N), generator=torch.Generator().manual_seed(0)) / 32768,
            "silent",
        ),
        ("digital silence", torch.zeros(2, N), "silent"),
        ("DC", torch.full((2, N), 0.5), "silent"),
        (
            "two channels that cancel",
            (torch.sin(2 * math.pi * 440 * T) - torch.sin(2 * math.pi * 440 * T) + 1e-12)[None],
            "silent",
        ),
        ("white noise", noise_of("white", 1), "noise"),
        ("pink noise", noise_of("pink", 2), "noise"),
        ("brown noise", noise_of("brown", 3), "noise"),
        ("quiet brown noise (about -53 dBFS)", noise_of("brown", 4) * 0.02, "noise"),
        ("a 30 Hz tone", torch.sin(2 * math.pi * 30 * T)[None], "below the trained range"),
        ("a 3 kHz tone", torch.sin(2 * math.pi * 3000 * T)[None], "above the trained range"),
        (
            "a 3 kHz tone in white noise",
            with_noise(torch.sin(2 * math.pi * 3000 * T)[None], 10.0, "white", 5),
            "above the trained range",
        ),
    ],
)
def test_what_is_not_a_trained_tone_is_unvoiced_with_its_reason(name, audio, reason):
    voiced, reasons, _, _ = voicing(audio)
    assert not bool(voiced.any()), name
    assert set(reasons) == {reason}, (name, reasons)


def test_a_15_khz_tone_in_a_48_khz_file_is_above_the_trained_range():
    """Reported: called silent, since resampling to 16 kHz removes it; the input's level tells."""
    t = torch.arange(3 * N) / 48000
    audio = (10 ** (-9 / 20) * math.sqrt(2) * torch.sin(2 * math.pi * 15000 * t))[None]  # -9 dBFS RMS
    input_level_db = rms_level_db(audio)
    assert float(input_level_db[0]) == pytest.approx(-9.0, abs=0.01)
    resampled = resample_to_model_rate(audio, 48000)
    voiced, reasons, level_db, _ = voicing(resampled, input_level_db=input_level_db)
    assert not bool(voiced[0]) and reasons == ["above the trained range"]
    assert float(level_db[0]) < -50  # the resampler's residue
    assert voicing(resampled).reasons == ["silent"]  # without the input's level, silence is all it can say
    quiet = audio * 10 ** (-60 / 20)  # -69 dBFS before resampling: silent, wherever its power lies
    assert voicing(resample_to_model_rate(quiet, 48000), input_level_db=rms_level_db(quiet)).reasons == ["silent"]


def test_the_input_level_changes_nothing_for_a_tone_inside_the_band():
    t = torch.arange(3 * N) / 48000
    audio = 0.5 * torch.sin(2 * math.pi * 440 * t)[None] + 0.2  # with a DC offset, which rms_level_db ignores
    resampled = resample_to_model_rate(audio, 48000)
    assert voicing(resampled, input_level_db=rms_level_db(audio)).reasons == [""]
    silent = torch.zeros(1, 3 * N)
    assert voicing(resample_to_model_rate(silent, 48000), input_level_db=rms_level_db(silent)).reasons == ["silent"]


def test_voiced_frames_match_the_cqt_frames_and_follow_a_tone_into_silence():
    tone = 0.5 * torch.sin(2 * math.pi * 440 * torch.arange(8192) / 16000)
    audio = torch.stack([torch.cat([tone, torch.zeros(8192)]), torch.zeros(16384)])
    frames = voiced_frames(audio)
    assert frames.shape == (2, 65) and frames.dtype == torch.bool
    assert CQT()(audio).shape[1] == frames.shape[1]  # frame t centred at t * 256 samples, as the encoder's
    assert bool(frames[0, :29].all())  # windows (2048 samples) wholly in the tone: frame 28 spans 6144-8191
    assert not bool(frames[0, 36:].any())  # wholly in the silence: frame 36 spans 8192-10239
    assert not bool(frames[1].any())
    odd = voiced_frames(torch.sin(2 * math.pi * 220 * torch.arange(4095) / 16000)[None])
    assert odd.shape == (1, 16) and bool(odd.all())  # the encoder's 4095-sample input: 16 frames


def test_voiced_frames_mark_noise_unvoiced():
    noisy = torch.cat([noise_of(colour, seed) for seed, colour in enumerate(("white", "pink", "brown"))])
    assert float(voiced_frames(noisy).float().mean()) < 0.01


def test_too_short_audio_is_refused():
    with pytest.raises(ValueError, match="at least 2048"):
        voicing(torch.zeros(1, 2047))


def test_the_voicing_snr_study_on_a_tiny_configuration(tmp_path):
    with pytest.raises(FileNotFoundError, match="make real-notes"):
        voicing_sources(n_tones=4, notes_path=tmp_path / "missing.pt")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sources = voicing_sources(n_tones=4, notes_path=tmp_path / "missing.pt", require_notes=False)
    assert set(sources) == {"synthetic tones", "sawtooth"} and "real notes" in str(caught[0].message)
    table = voicing_snr_table(
        sources,
        snrs_db=(0.0, 20.0),
        colours=("white",),
        seeds=(0,),
        levels_db=(-70.0, -20.0),
        noise_levels_db=(-20.0,),
        n_noise=4,
    )
    assert list(table.columns[:6]) == ["sweep", "source", "noise", "snr_db", "level_db", "voiced_pct"]
    assert len(table) == 2 * 3 + 2 * 2 + 3  # per source: clean + 2 SNRs, 2 levels; 3 noise colours
    snr20 = table[(table["sweep"] == "snr") & (table["snr_db"] == 20.0)]
    assert (snr20["voiced_pct"] == 100).all() and (snr20["n"] == [4, 5]).all()
    noise = table[table["sweep"] == "noise"]
    assert (noise["voiced_pct"] == 0).all() and set(noise["reasons"]) == {"noise: 4"}
    assert set(table.loc[table["level_db"] == -70.0, "reasons"]) == {"silent: 4", "silent: 5"}
    lowest = lowest_voiced_snr(table)
    assert list(lowest["source"]) == ["synthetic tones", "sawtooth"] and (lowest["lowest_snr_db"] <= 20).all()
    assert "What this shows" in snr_findings(table)
    plt.close(plot_voicing_snr(table))


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
