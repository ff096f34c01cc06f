"""Evaluation metrics (docs/method.md#method-metrics) against hand-made cases and independent numpy oracles."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sot_utils.metrics import (
    compute_metrics,
    harmonic_centroid,
    harmonic_energy_share,
    harmonic_usage,
    log_spectral_distance,
    log_spectral_distance_rms_db,
    mss_distance,
    octave_difference,
    pitch_error_direction,
    pitch_tracking,
    raw_chroma_accuracy,
    raw_pitch_accuracy,
    waveform_mse,
)


def cents_above(f0_hz, cents):
    return np.asarray(f0_hz, dtype=np.float64) * 2.0 ** (np.asarray(cents, dtype=np.float64) / 1200.0)


# --------------------------------------------------------------------------------------------
# Numpy oracles


def numpy_stft_magnitude(audio: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Normalised STFT magnitude, periodic Hann, not centred, end padding: [batch, frames, bins]."""
    n_samples = audio.shape[-1]
    n_frames = -(-n_samples // hop)
    padded = np.pad(audio, ((0, 0), (0, max(0, n_fft + hop * (n_frames - 1) - n_samples))))
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    frames = np.stack([padded[:, t * hop : t * hop + n_fft] for t in range(n_frames)], axis=1)
    return np.abs(np.fft.rfft(frames * window, axis=-1)) / np.sqrt(n_fft)


def numpy_lsd(target: np.ndarray, estimate: np.ndarray) -> float:
    def power_db(x):
        return 10 * np.log10(np.maximum(numpy_stft_magnitude(x, 1024, 256) ** 2, 1e-5))

    return float(np.mean((power_db(target) - power_db(estimate)) ** 2))


def numpy_mss(target: np.ndarray, estimate: np.ndarray) -> float:
    total = 0.0
    for n_fft in (2048, 1024, 512, 256, 128, 64):
        s, s_hat = numpy_stft_magnitude(target, n_fft, n_fft // 4), numpy_stft_magnitude(estimate, n_fft, n_fft // 4)
        total += np.mean(np.abs(s - s_hat))
        total += np.mean(np.abs(np.log(np.maximum(s, 1e-5)) - np.log(np.maximum(s_hat, 1e-5))))
    return total


@pytest.fixture
def random_pairs():
    """Targets and estimates with varied levels, including silence (so some bins hit the floor)."""
    rng = np.random.default_rng(0)
    n = np.arange(4096)
    target = np.stack(
        [
            0.9 * np.sin(2 * np.pi * 440 * n / 16000),
            rng.normal(0, 0.3, 4096),
            1e-4 * rng.normal(0, 1, 4096),
        ]
    )
    estimate = np.stack(
        [
            0.5 * np.sin(2 * np.pi * 452 * n / 16000) + 0.01 * rng.normal(0, 1, 4096),
            np.zeros(4096),
            rng.normal(0, 0.1, 4096),
        ]
    )
    return target, estimate


# --------------------------------------------------------------------------------------------
# Log-spectral distance


def test_lsd_of_identical_signals_is_zero():
    x = torch.randn(2, 4096)
    assert float(log_spectral_distance(x, x)) == 0.0
    assert float(log_spectral_distance_rms_db(x, x)) == 0.0


def test_lsd_of_a_tenfold_amplitude_is_400_db2_and_20_db_rms():
    quiet = 10.0 * torch.randn(2, 4096, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    # precondition: every bin of the quieter signal lies above the -50 dB power floor
    assert numpy_stft_magnitude(quiet.numpy(), 1024, 256).min() ** 2 > 1e-5
    loud = 10.0 * quiet  # power ratio 100 = 20 dB in every bin
    assert float(log_spectral_distance(quiet, loud)) == pytest.approx(400.0, rel=1e-9)
    assert float(log_spectral_distance_rms_db(quiet, loud)) == pytest.approx(20.0, rel=1e-9)
    assert log_spectral_distance(loud, quiet, reduction="none").shape == (2,)


def test_lsd_matches_a_numpy_stft_oracle(random_pairs):
    target, estimate = random_pairs
    expected = numpy_lsd(target, estimate)
    got64 = log_spectral_distance(torch.from_numpy(target), torch.from_numpy(estimate))
    assert float(got64) == pytest.approx(expected, rel=1e-9)
    got32 = log_spectral_distance(torch.from_numpy(target).float(), torch.from_numpy(estimate).float())
    assert float(got32) == pytest.approx(expected, rel=1e-4)
    per_example = log_spectral_distance(torch.from_numpy(target), torch.from_numpy(estimate), reduction="none")
    for i in range(len(target)):
        assert float(per_example[i]) == pytest.approx(numpy_lsd(target[i : i + 1], estimate[i : i + 1]), rel=1e-9)


def test_lsd_of_silence_against_silence_is_zero_thanks_to_the_floor():
    silence = torch.zeros(1, 4096)
    assert float(log_spectral_distance(silence, silence)) == 0.0


def test_rms_lsd_roots_per_frame_then_averages():
    rng = np.random.default_rng(1)
    target, estimate = rng.normal(0, 1, (2, 4096)), rng.normal(0, 0.2, (2, 4096))
    p_t = 10 * np.log10(np.maximum(numpy_stft_magnitude(target, 1024, 256) ** 2, 1e-5))
    p_e = 10 * np.log10(np.maximum(numpy_stft_magnitude(estimate, 1024, 256) ** 2, 1e-5))
    expected = np.mean(np.sqrt(np.mean((p_t - p_e) ** 2, axis=-1)))
    got = log_spectral_distance_rms_db(torch.from_numpy(target), torch.from_numpy(estimate))
    assert float(got) == pytest.approx(expected, rel=1e-9)


# --------------------------------------------------------------------------------------------
# MSS and MSE


def test_mss_distance_matches_a_numpy_oracle(random_pairs):
    target, estimate = random_pairs
    got = mss_distance(torch.from_numpy(target), torch.from_numpy(estimate))
    assert float(got) == pytest.approx(numpy_mss(target, estimate), rel=1e-9)


def test_mss_distance_is_zero_for_identical_inputs_and_positive_otherwise():
    x = torch.randn(2, 4096)
    assert float(mss_distance(x, x)) == 0.0
    assert float(mss_distance(x, 0.5 * x)) > 0.0


def test_waveform_mse():
    target = torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0]])
    estimate = torch.tensor([[1.0, 2.0, 3.0, 2.0], [1.0, -1.0, 0.0, 0.0]])
    assert float(waveform_mse(target, estimate)) == pytest.approx((4 + 1 + 1) / 8)


# --------------------------------------------------------------------------------------------
# Pitch accuracy


def test_rpa_tolerance_is_50_cents():
    ref = np.array([100.0, 250.0, 1000.0, 1500.0])
    assert raw_pitch_accuracy(ref, cents_above(ref, [49, -49, 49, -49])) == 100.0
    assert raw_pitch_accuracy(ref, cents_above(ref, [51, -51, 51, -51])) == 0.0
    assert raw_pitch_accuracy(ref, cents_above(ref, [49, 51, -49, -51])) == 50.0
    assert raw_chroma_accuracy(ref, cents_above(ref, [49, 51, -49, -51])) == 50.0


def test_octave_errors():
    ref = np.array([55.0, 220.0, 880.0])
    assert raw_pitch_accuracy(ref, 2 * ref) == 0.0
    assert raw_chroma_accuracy(ref, 2 * ref) == 100.0
    assert raw_chroma_accuracy(ref, ref / 2) == 100.0
    assert raw_chroma_accuracy(ref, cents_above(ref, 1200 + 60)) == 0.0
    assert octave_difference(ref, 2 * ref) == pytest.approx(1.0)  # above the truth: positive
    assert octave_difference(ref, ref / 2) == pytest.approx(-1.0)  # sub-octave: negative
    assert octave_difference(ref, 4 * ref) == pytest.approx(2.0)
    assert octave_difference(ref, ref) == 0.0


def test_octave_difference_of_a_mixture():
    ref = np.full(4, 100.0)
    est = np.array([200.0, 50.0, 100.0, 400.0])  # +1, -1, 0, +2 octaves
    assert octave_difference(ref, est) == pytest.approx((1 - 1 + 0 + 2) / 4)


def test_octave_difference_counts_from_1150_cents():
    ref = np.array([300.0, 300.0])
    assert octave_difference(ref, cents_above(ref, [1150.001, -1150.001])) == pytest.approx(0.0)  # +1 - 1
    assert octave_difference(ref[:1], cents_above(ref[:1], 1150.001)) == pytest.approx(1.0)
    assert octave_difference(ref[:1], cents_above(ref[:1], -1150.001)) == pytest.approx(-1.0)
    assert octave_difference(ref[:1], cents_above(ref[:1], 1149.999)) == 0.0
    assert octave_difference(ref[:1], cents_above(ref[:1], 2349.999)) == pytest.approx(1.0)
    assert octave_difference(ref[:1], cents_above(ref[:1], 2350.001)) == pytest.approx(2.0)


def test_rpa_and_rca_match_a_direct_cent_computation():
    rng = np.random.default_rng(0)
    ref = rng.uniform(40, 1950, size=500)
    cents = rng.uniform(-150, 150, size=500) + 1200 * rng.integers(-2, 3, size=500)
    est = cents_above(ref, cents)
    deviation = 1200 * np.log2(est / ref)
    expected_rpa = 100 * np.mean(np.abs(deviation) < 50)
    expected_rca = 100 * np.mean(np.abs(deviation - 1200 * np.round(deviation / 1200)) < 50)
    assert raw_pitch_accuracy(ref, est) == pytest.approx(expected_rpa)
    assert raw_chroma_accuracy(ref, est) == pytest.approx(expected_rca)
    assert 0 < expected_rpa < expected_rca < 100


def test_one_f0_per_example_is_broadcast_over_frames_and_tensors_are_accepted():
    ref = torch.tensor([100.0, 200.0])
    est = torch.tensor([[100.0, 100.0, 200.0], [200.0, 200.0, 200.0]])
    assert raw_pitch_accuracy(ref, est) == pytest.approx(100 * 5 / 6)
    assert raw_chroma_accuracy(ref, est) == 100.0
    assert octave_difference(ref, est) == pytest.approx(1 / 6)
    assert raw_pitch_accuracy(ref.numpy(), est.numpy().tolist()) == pytest.approx(100 * 5 / 6)


# --------------------------------------------------------------------------------------------
# All metrics


def test_compute_metrics_on_a_perfect_reconstruction():
    audio = torch.randn(3, 4096)
    f0 = torch.tensor([110.0, 440.0, 1500.0])
    metrics = compute_metrics(audio, audio.clone(), f0, f0[:, None].expand(3, 16))
    assert metrics == {"lsd": 0.0, "rpa": 100.0, "rca": 100.0, "octave_difference": 0.0, "mss": 0.0, "mse": 0.0}
    assert all(type(v) is float for v in metrics.values())


def test_compute_metrics_values_agree_with_the_single_metrics(random_pairs):
    target, estimate = (torch.from_numpy(a) for a in random_pairs)
    f0 = torch.tensor([100.0, 200.0, 300.0])
    f0_est = torch.stack([f0, 2 * f0, f0 / 2, f0], dim=1)
    metrics = compute_metrics(target, estimate, f0, f0_est)
    assert metrics["lsd"] == pytest.approx(numpy_lsd(*random_pairs), rel=1e-9)
    assert metrics["rpa"] == pytest.approx(50.0)
    assert metrics["rca"] == pytest.approx(100.0)
    assert metrics["octave_difference"] == pytest.approx(0.0)
    assert metrics["mse"] == pytest.approx(float(np.mean((random_pairs[0] - random_pairs[1]) ** 2)))


# --------------------------------------------------------------------------------------------
# Input validation


@pytest.mark.parametrize("metric", [log_spectral_distance, log_spectral_distance_rms_db, mss_distance, waveform_mse])
def test_audio_metrics_reject_bad_input(metric):
    x = torch.randn(2, 4096)
    with pytest.raises(ValueError, match="target"):
        metric(x[0], x)  # [n_samples] instead of [batch, n_samples]
    with pytest.raises(ValueError, match="estimate"):
        metric(x, x[:1])
    bad = x.clone()
    bad[1, 7] = float("nan")
    with pytest.raises(ValueError, match="estimate"):
        metric(x, bad)
    bad[1, 7] = float("inf")
    with pytest.raises(ValueError, match="target"):
        metric(bad, x)


def test_lsd_rejects_an_unknown_reduction():
    x = torch.randn(1, 4096)
    with pytest.raises(ValueError, match="reduction"):
        log_spectral_distance(x, x, reduction="sum")


@pytest.mark.parametrize("metric", [raw_pitch_accuracy, raw_chroma_accuracy, octave_difference])
def test_pitch_metrics_reject_bad_input(metric):
    ref = np.array([100.0, 200.0])
    with pytest.raises(ValueError, match="f0_est_hz"):
        metric(ref, np.array([100.0, 0.0]))
    with pytest.raises(ValueError, match="f0_est_hz"):
        metric(ref, np.array([100.0, -200.0]))
    with pytest.raises(ValueError, match="f0_true_hz"):
        metric(np.array([100.0, np.nan]), ref)
    with pytest.raises(ValueError, match="f0_true_hz"):
        metric(np.array([100.0, 200.0, 300.0]), np.ones((2, 16)) * 100)  # batch mismatch
    with pytest.raises(ValueError, match="f0_est_hz"):
        metric(ref, np.ones((2, 4, 4)))
    with pytest.raises(ValueError, match="f0_true_hz"):
        metric(["a", "b"], ref)


def test_pitch_tracking_tells_a_constant_interval_from_no_tracking():
    rng = np.random.default_rng(0)
    truth = 100.0 * 2 ** rng.uniform(0, 4, size=50)
    tracked = pitch_tracking(truth, truth / 6.0)  # follows pitch, log2(6) = 2.585 octaves low
    assert tracked["offset_octaves"] == pytest.approx(-np.log2(6.0))
    assert tracked["offset_iqr_octaves"] == pytest.approx(0.0, abs=1e-9)
    assert tracked["log_f0_correlation"] == pytest.approx(1.0)
    noisy = truth * 2 ** rng.normal(0.0, 0.5, size=50)
    expected = np.corrcoef(np.log(truth), np.log(noisy))[0, 1]  # independent oracle: numpy on log Hz
    assert pitch_tracking(truth, noisy)["log_f0_correlation"] == pytest.approx(expected)
    assert np.isnan(pitch_tracking(truth, np.full(50, 74.0))["log_f0_correlation"])  # a collapsed estimator
    frames = pitch_tracking(truth, np.stack([truth * 2.0] * 4, axis=1))  # [batch] truth against [batch, frames]
    assert frames["offset_octaves"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="f0_est_hz"):
        pitch_tracking(truth, -truth)


def test_harmonic_usage_of_one_partial_and_of_equal_partials():
    one = torch.zeros(3, 4, 20)
    one[..., 7] = torch.rand(3, 4) + 0.1  # only harmonic 8 sounds
    usage = harmonic_usage(one)
    assert usage == {
        "dominant_harmonic": 8,
        "dominant_share": pytest.approx(1.0),
        "effective_harmonics": pytest.approx(1.0),
    }
    equal = torch.full((2, 4, 20), 0.3)
    usage = harmonic_usage(equal)
    assert usage["dominant_share"] == pytest.approx(1 / 20) and usage["effective_harmonics"] == pytest.approx(20.0)
    # energies add: amplitudes 2 and 1 on two partials give shares 0.8 and 0.2
    two = torch.zeros(1, 1, 5)
    two[0, 0, :2] = torch.tensor([2.0, 1.0])
    np.testing.assert_allclose(harmonic_energy_share(two), [[0.8, 0.2, 0.0, 0.0, 0.0]])
    assert harmonic_usage(two)["effective_harmonics"] == pytest.approx(
        math.exp(-(0.8 * math.log(0.8) + 0.2 * math.log(0.2)))
    )


def test_harmonic_usage_rejects_bad_amplitudes():
    with pytest.raises(ValueError, match="amplitudes"):
        harmonic_usage(torch.rand(4, 20))
    with pytest.raises(ValueError, match="amplitudes"):
        harmonic_usage(-torch.rand(2, 3, 20))
    with pytest.raises(ValueError, match="all zero"):
        harmonic_usage(torch.zeros(2, 3, 20))


def test_pitch_error_direction_counts_each_side_and_agrees_with_mir_eval():
    rng = np.random.default_rng(1)
    truth = 100.0 * 2 ** rng.uniform(0, 4, size=40)
    # 10 tones an octave low, 5 read as their 3rd partial (above), 25 within 20 cents
    estimate = np.concatenate([truth[:10] / 2.0, truth[10:15] * 3.0, cents_above(truth[15:], rng.uniform(-20, 20, 25))])
    direction = pitch_error_direction(truth, estimate)
    assert direction == pytest.approx({"below": 25.0, "on": 62.5, "above": 12.5})
    assert direction["on"] == pytest.approx(raw_pitch_accuracy(truth, estimate))  # mir_eval's RPA
    edge = pitch_error_direction([100.0, 100.0], cents_above([100.0, 100.0], [-50.01, 49.99]))
    assert edge == pytest.approx({"below": 50.0, "on": 50.0, "above": 0.0})
    missed = np.concatenate([truth[:39] / 4.0, truth[39:] * 2.0])  # 39 below, 1 above, none on
    assert pitch_error_direction(truth, missed)["on"] == 0.0  # exactly: 100 - 97.5 - 2.5 leaves a residue
    frames = pitch_error_direction(truth[:4], np.stack([truth[:4] * 2.0, truth[:4]], axis=1))
    assert frames == pytest.approx({"below": 0.0, "on": 50.0, "above": 50.0})
    with pytest.raises(ValueError, match="cent_tolerance"):
        pitch_error_direction(truth, truth, cent_tolerance=0)
    with pytest.raises(ValueError, match="f0_est_hz"):
        pitch_error_direction(truth, truth[:3])


def test_harmonic_centroid_is_the_power_weighted_mean_harmonic_index():
    single = torch.zeros(20)
    single[4] = 0.3  # harmonic 5 alone
    equal = torch.cat([torch.full((8,), 0.7), torch.zeros(12)])
    uneven = torch.tensor([1.0, 0.0, 2.0])  # powers 1 and 4 on harmonics 1 and 3
    np.testing.assert_allclose(harmonic_centroid(torch.stack([single, equal])), [5.0, 4.5], rtol=1e-6)
    assert float(harmonic_centroid(uneven)) == pytest.approx((1 * 1 + 3 * 4) / 5)
    frames = torch.rand(2, 16, 20)
    assert harmonic_centroid(frames).shape == (2, 16)


def test_harmonic_centroid_rejects_bad_amplitudes():
    with pytest.raises(ValueError, match="all zero"):
        harmonic_centroid(torch.zeros(3, 20))
    with pytest.raises(ValueError, match="amplitudes"):
        harmonic_centroid(-torch.rand(20))
