"""Tests for ``sot_utils.spectral`` against independent oracles (scipy, numpy, librosa, nnAudio).

References (docs/method.md): #method-cqt (CQT front end), #method-stft (shared STFT magnitude),
#method-sot (bin positions).
"""

from __future__ import annotations

import math

import librosa
import numpy as np
import pytest
import scipy.signal
import torch

from sot_utils import spectral
from sot_utils.spectral import (
    CQT,
    bin_positions,
    complex_stft,
    cqt_frequencies,
    cqt_n_bins,
    get_window,
    hz_to_midi,
    hz_to_unit,
    midi_to_hz,
    n_stft_frames,
    rfft_frequencies,
    stft_magnitude,
    unit_to_hz,
)

SR = 16000
CQT_SETTINGS = dict(
    sr=16000,
    hop_length=256,
    fmin=32.7,
    n_bins=285,
    bins_per_octave=36,
    center=True,
    pad_mode="constant",
    output_format="Magnitude",
    verbose=False,
)


# --------------------------------------------------------------------------------------------
# Oracles


def stft_oracle(x: np.ndarray, n_fft: int, hop: int, window: np.ndarray) -> np.ndarray:
    """Reference STFT magnitude, written from docs/method.md#method-stft with numpy only.

    End padding so that frames = ceil(N / hop), frames start at t * hop (not centred),
    |rfft(frame * window)| / sqrt(n_fft).  Returns [batch, frames, bins].
    """
    n = x.shape[-1]
    frames = math.ceil(n / hop)
    pad = n_fft + hop * (frames - 1) - n
    assert pad >= 0
    xp = np.concatenate([x, np.zeros((x.shape[0], pad), dtype=x.dtype)], axis=-1)
    out = np.empty((x.shape[0], frames, n_fft // 2 + 1))
    for t in range(frames):
        seg = xp[:, t * hop : t * hop + n_fft]
        out[:, t] = np.abs(np.fft.rfft(seg * window, axis=-1)) / math.sqrt(n_fft)
    return out


def cqt_lengths(freqs: np.ndarray, bins_per_octave: int = 36, sr: int = SR) -> np.ndarray:
    """Kernel lengths l_k = ceil(Q sr / f_k), Q = 1 / (2^(1/bpo) - 1) (docs/method.md#method-cqt)."""
    q = 1.0 / (2.0 ** (1.0 / bins_per_octave) - 1.0)
    return np.ceil(q * sr / freqs)


@pytest.fixture(scope="module")
def cqt() -> CQT:
    return CQT()


@pytest.fixture(scope="module")
def nnaudio_cqt():
    from nnAudio.features.cqt import CQT1992v2

    return CQT1992v2(**CQT_SETTINGS)


# --------------------------------------------------------------------------------------------
# Windows


@pytest.mark.parametrize("name", ["flattop", "hann"])
@pytest.mark.parametrize("n", [512, 2048, 511, 1025, 64, 7])
def test_window_matches_scipy_periodic(name, n):
    ours = get_window(name, n, dtype=torch.float64)
    ref = scipy.signal.get_window(name, n)  # fftbins=True: periodic
    assert ours.shape == (n,)
    assert ours.dtype == torch.float64
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["flattop", "hann"])
def test_window_float32_and_periodicity(name):
    n = 512
    w32 = get_window(name, n)
    assert w32.dtype == torch.float32
    np.testing.assert_allclose(w32.numpy(), scipy.signal.get_window(name, n), rtol=0, atol=1e-6)
    # periodic (DFT-even) window = first n samples of the symmetric window of length n + 1
    sym = scipy.signal.get_window(name, n + 1, fftbins=False)
    np.testing.assert_allclose(get_window(name, n, dtype=torch.float64).numpy(), sym[:-1], atol=1e-12)


def test_window_bad_arguments():
    with pytest.raises(ValueError, match="`window`"):
        get_window("hamming", 512)
    with pytest.raises(ValueError, match="`n_fft`"):
        get_window("hann", 1)
    with pytest.raises(ValueError, match="`n_fft`"):
        get_window("hann", 0)
    with pytest.raises(ValueError, match="`n_fft`"):
        get_window("hann", 512.0)


# --------------------------------------------------------------------------------------------
# STFT


@pytest.mark.parametrize(
    "n_fft,hop,n_samples,window",
    [
        (512, 256, 4096, "flattop"),  # SOT-512
        (2048, 256, 4096, "flattop"),  # SOT-2048
        (512, 256, 4096, "hann"),
        (2048, 512, 4096, "hann"),  # MSS scales: hop = n_fft / 4
        (64, 16, 4096, "hann"),
        (1024, 256, 4096, "hann"),
        (512, 256, 4000, "flattop"),  # N not a multiple of hop
        (300, 100, 1001, "hann"),  # odd sizes
    ],
)
def test_stft_magnitude_matches_numpy_oracle(n_fft, hop, n_samples, window):
    rng = np.random.default_rng(n_fft + hop + n_samples)
    x = rng.standard_normal((3, n_samples))
    ours = stft_magnitude(torch.from_numpy(x), n_fft, hop, window=window)
    ref = stft_oracle(x, n_fft, hop, scipy.signal.get_window(window, n_fft))
    assert ours.shape == ref.shape == (3, math.ceil(n_samples / hop), n_fft // 2 + 1)
    assert ours.dtype == torch.float64
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-9, atol=1e-10)

    ours32 = stft_magnitude(torch.from_numpy(x).float(), n_fft, hop, window=window)
    assert ours32.dtype == torch.float32
    np.testing.assert_allclose(ours32.numpy(), ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("n_fft,expected_pad", [(512, 256), (2048, 1792)])
def test_stft_sot_shapes_and_padding(n_fft, expected_pad):
    """Spec §5.3: 16 frames for 4096 samples at hop 256; pads 256 (512) and 1792 (2048)."""
    n_samples, hop = 4096, 256
    frames = n_stft_frames(n_samples, hop)
    assert frames == 16
    assert n_fft + hop * (frames - 1) - n_samples == expected_pad
    x = torch.randn(2, n_samples)
    spec = stft_magnitude(x, n_fft, hop, window="flattop")
    assert spec.shape == (2, 16, n_fft // 2 + 1)

    # Padding is at the END: a signal that is zero in its last part has an all-zero last frame
    # only if frames are not centred and padding is appended (not prepended).
    y = torch.zeros(1, n_samples, dtype=torch.float64)
    y[0, : 15 * hop] = 1.0  # last frame starts at 15 * hop
    last = stft_magnitude(y, n_fft, hop)[0, -1]
    assert float(last.abs().max()) == 0.0
    # ... and the first frame starts at sample 0: an impulse there is seen by frame 0 with window[0]
    # (= 0 for Hann), an impulse at sample n_fft / 2 gives |X| = window[n_fft/2] / sqrt(n_fft).
    imp = torch.zeros(1, n_samples, dtype=torch.float64)
    imp[0, n_fft // 2] = 1.0
    frame0 = stft_magnitude(imp, n_fft, hop)[0, 0]
    np.testing.assert_allclose(frame0.numpy(), np.full(n_fft // 2 + 1, 1.0 / math.sqrt(n_fft)), atol=1e-12)


def test_stft_normalisation_parseval():
    """normalized=True: a sinusoid at an exact bin with a periodic Hann peaks at A n_fft / 4 / sqrt(n_fft)."""
    n_fft, hop = 512, 256
    k = 40
    n = np.arange(4096)
    x = np.cos(2 * np.pi * k * n / n_fft)
    spec = stft_magnitude(torch.from_numpy(x)[None], n_fft, hop, window="hann")[0]
    # interior frames (the last one is partially zero padding)
    np.testing.assert_allclose(spec[:-1, k].numpy(), n_fft / 4 / math.sqrt(n_fft), rtol=1e-10)
    assert int(spec[3].argmax()) == k


@pytest.mark.parametrize(
    "bad",
    [
        torch.randn(4096),  # 1-D
        torch.randn(2, 1, 4096),  # 3-D
    ],
)
def test_stft_rejects_wrong_rank(bad):
    with pytest.raises(ValueError, match="`audio`"):
        stft_magnitude(bad, 512, 256)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_stft_rejects_non_finite(value):
    x = torch.randn(2, 4096)
    x[1, 100] = value
    with pytest.raises(ValueError, match="`audio`"):
        stft_magnitude(x, 512, 256)


def test_stft_rejects_other_bad_input():
    with pytest.raises(ValueError, match="`audio`"):
        stft_magnitude(np.zeros((2, 4096)), 512, 256)
    with pytest.raises(ValueError, match="`audio`"):
        stft_magnitude([[0.0] * 4096], 512, 256)
    with pytest.raises(ValueError, match="`audio`"):
        stft_magnitude(torch.zeros(2, 4096, dtype=torch.int64), 512, 256)
    with pytest.raises(ValueError, match="`window`"):
        stft_magnitude(torch.randn(2, 4096), 512, 256, window="blackman")
    with pytest.raises(ValueError, match="`n_fft`"):
        stft_magnitude(torch.randn(2, 4096), 1, 256)
    with pytest.raises(ValueError, match="`hop_length`"):
        stft_magnitude(torch.randn(2, 4096), 512, 0)


# --------------------------------------------------------------------------------------------
# Frequencies and bin positions


@pytest.mark.parametrize("n_fft", [512, 2048, 1024, 7])
def test_rfft_frequencies(n_fft):
    f = rfft_frequencies(n_fft)
    assert f.dtype == torch.float64
    np.testing.assert_allclose(f.numpy(), np.fft.rfftfreq(n_fft, 1 / SR), rtol=0, atol=1e-9)
    np.testing.assert_allclose(rfft_frequencies(n_fft, 22050).numpy(), np.fft.rfftfreq(n_fft, 1 / 22050), atol=1e-9)


@pytest.mark.parametrize("n_fft", [512, 2048])
def test_bin_positions_linear(n_fft):
    pos = bin_positions(n_fft, scale="linear")
    ref = np.fft.rfftfreq(n_fft, 1 / SR) / 8000.0
    np.testing.assert_allclose(pos.numpy(), ref, atol=1e-12)
    assert float(pos[0]) == 0.0
    assert float(pos[-1]) == pytest.approx(1.0, abs=1e-12)
    # default scale is linear
    np.testing.assert_array_equal(bin_positions(n_fft).numpy(), pos.numpy())
    with pytest.raises(ValueError):
        bin_positions(n_fft, scale="linear", fmin_hz=40.0)


@pytest.mark.parametrize("n_fft", [512, 2048])
def test_bin_positions_log(n_fft):
    pos = bin_positions(n_fft, scale="log").numpy()
    freqs = np.fft.rfftfreq(n_fft, 1 / SR)
    # independent closed form: MIDI-linear between the first and last CQT bins
    lo = librosa.hz_to_midi(32.7)
    hi = librosa.hz_to_midi(32.7 * 2 ** (284 / 36))
    midi = np.zeros_like(freqs)
    midi[1:] = np.maximum(librosa.hz_to_midi(freqs[1:]), 0.0)  # below MIDI 0 -> MIDI 0, like DC
    np.testing.assert_allclose(pos, (midi - lo) / (hi - lo), atol=1e-10)
    # docs/method.md#method-sot values
    assert pos[0] == pytest.approx(-0.2535, abs=1e-4)
    assert pos[-1] == pytest.approx(1.0058, abs=1e-4)
    if n_fft == 512:
        assert pos[1] == pytest.approx(-0.0083, abs=1e-4)  # 31.25 Hz
    if n_fft == 512:
        assert np.all(np.diff(pos) > 0)
    else:
        # At n_fft 2048 the first non-DC bin, 7.8125 Hz, lies below MIDI 0 (-0.78); it is clamped
        # to MIDI 0 like DC so the grid stays sorted (the reference would put it below DC).
        assert pos[1] == pos[0] < pos[2]
        assert np.all(np.diff(pos[1:]) > 0)


def test_bin_positions_bad_scale():
    with pytest.raises(ValueError, match="`scale`"):
        bin_positions(512, scale="mel")


# --------------------------------------------------------------------------------------------
# Pitch units


def test_hz_to_midi_matches_librosa():
    f = np.array([8.0, 32.7, 55.0, 261.6255653, 440.0, 1000.0, 7750.68, 8000.0])
    ours = hz_to_midi(torch.from_numpy(f)).numpy()
    np.testing.assert_allclose(ours, librosa.hz_to_midi(f), atol=1e-10)
    assert float(hz_to_midi(torch.tensor(440.0))) == pytest.approx(69.0)
    # 0 Hz maps to MIDI 0 (DDSP convention), with a finite gradient
    z = torch.tensor([0.0, 440.0], dtype=torch.float64, requires_grad=True)
    m = hz_to_midi(z)
    assert m[0].item() == 0.0
    m.sum().backward()
    assert torch.isfinite(z.grad).all()


def test_midi_to_hz_matches_librosa_and_round_trip():
    midi = np.array([0.0, 24.0, 33.5, 60.0, 69.0, 100.25, 118.66])
    ours = midi_to_hz(torch.from_numpy(midi)).numpy()
    np.testing.assert_allclose(ours, librosa.midi_to_hz(midi), rtol=1e-12)
    f = torch.from_numpy(np.geomspace(20.0, 8000.0, 50))
    np.testing.assert_allclose(midi_to_hz(hz_to_midi(f)).numpy(), f.numpy(), rtol=1e-12)


def test_hz_unit_closed_form_and_round_trip():
    fmin, fmax = 32.7, 7750.68
    f = np.geomspace(20.0, 8000.0, 40)
    lo, hi = 12 * np.log2(fmin / 440) + 69, 12 * np.log2(fmax / 440) + 69
    u = hz_to_unit(torch.from_numpy(f), fmin, fmax).numpy()
    np.testing.assert_allclose(u, (12 * np.log2(f / 440) + 69 - lo) / (hi - lo), atol=1e-12)
    np.testing.assert_allclose(unit_to_hz(torch.from_numpy(u), fmin, fmax).numpy(), f, rtol=1e-12)
    assert float(hz_to_unit(torch.tensor(fmin, dtype=torch.float64), fmin, fmax)) == pytest.approx(0.0, abs=1e-12)
    assert float(hz_to_unit(torch.tensor(fmax, dtype=torch.float64), fmin, fmax)) == pytest.approx(1.0, abs=1e-12)
    assert float(unit_to_hz(torch.tensor(0.5, dtype=torch.float64), fmin, fmax)) == pytest.approx(
        math.sqrt(fmin * fmax), rel=1e-12
    )
    # docs/method.md#method-encoder: MIDI range 24.00 .. 118.66
    assert lo == pytest.approx(24.0, abs=5e-3) and hi == pytest.approx(118.66, abs=1e-2)
    with pytest.raises(ValueError):
        hz_to_unit(torch.tensor(100.0), 0.0, 8000.0)


# --------------------------------------------------------------------------------------------
# CQT


def test_cqt_bins_and_frequencies():
    assert cqt_n_bins() == 285
    assert cqt_n_bins() == 3 * math.floor(12 * math.log2(8000 / 32.7))
    f = cqt_frequencies()
    assert f.shape == (285,) and f.dtype == torch.float64
    assert float(f[0]) == pytest.approx(32.70, abs=1e-9)
    assert float(f[-1]) == pytest.approx(7750.68, abs=5e-3)
    np.testing.assert_allclose(f.numpy(), librosa.cqt_frequencies(285, fmin=32.7, bins_per_octave=36), rtol=1e-12)
    assert float(f[-1]) < 8000.0


def test_cqt_frequencies_match_nnaudio(cqt, nnaudio_cqt):
    np.testing.assert_allclose(cqt.frequencies.numpy(), np.asarray(nnaudio_cqt.frequencies), rtol=1e-12)
    # kernel lengths as docs/method.md#method-cqt: 25169 samples at 32.7 Hz, 107 at the top bin
    lengths = cqt_lengths(cqt.frequencies.numpy())
    assert lengths[0] == 25169 and lengths[-1] == 107
    np.testing.assert_allclose(nnaudio_cqt.lenghts.numpy(), lengths)
    assert nnaudio_cqt.kernel_width == 32768


def test_cqt_shape(cqt):
    x = torch.randn(2, 4096)
    out = cqt(x[:, :-1])  # the paper's framing trick: 4095 samples
    assert out.shape == (2, 16, 285)
    assert cqt.n_frames(4095) == 16
    assert cqt.n_frames(4096) == 17
    assert cqt(x).shape == (2, 17, 285)
    assert torch.isfinite(out).all() and bool((out >= 0).all())


def test_cqt_equals_nnaudio_direct(cqt, nnaudio_cqt):
    torch.manual_seed(0)
    x = torch.randn(3, 4095)
    ours = cqt(x, sample_rate=16000)
    ref = nnaudio_cqt(x).transpose(-1, -2)
    assert ours.shape == ref.shape == (3, 16, 285)
    # float32 sums of up to 25,169 taps in another order: rounding of order sqrt(25169) ulp (the
    # float64 test below shows the sums themselves are the same)
    torch.testing.assert_close(ours, ref, rtol=2e-5, atol=2e-5 * float(ref.abs().max()))


def test_cqt_octave_products_are_nnaudios_sums_in_float64_at_any_length(nnaudio_cqt):
    """The octave-by-octave matrix products compute nnAudio's strided convolution exactly (up to
    the order of the sums): float64 agrees to 1e-12, for signals shorter and longer than a hop."""
    torch.manual_seed(1)
    ours, ref = CQT().double(), nnaudio_cqt.double()
    for n_samples in (1, 255, 4095, 9000):
        x = torch.randn(2, n_samples, dtype=torch.float64)
        expected = ref(x).transpose(-1, -2)
        got = ours(x)
        assert got.shape == expected.shape == (2, 1 + n_samples // 256, 285)
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12 * float(expected.abs().max()))


def test_cqt_440_peaks_at_bin_135(cqt):
    n = torch.arange(4095, dtype=torch.float32)
    x = torch.sin(2 * math.pi * 440.0 * n / SR)[None]
    out = cqt(x)
    assert out.shape == (1, 16, 285)
    for t in range(4, 12):  # interior frames
        assert int(out[0, t].argmax()) == 135
    assert float(cqt_frequencies()[135]) == pytest.approx(440.0, abs=0.1)


def test_cqt_tone_at_bin_frequency_peaks_at_that_bin(cqt):
    bins = [30, 90, 135, 200, 250, 284]
    freqs = cqt_frequencies()[bins]
    n = torch.arange(16384, dtype=torch.float64)
    x = torch.sin(2 * math.pi * freqs[:, None] * n / SR).float()
    out = cqt(x)  # [6, 65, 285]
    mid = out.shape[1] // 2  # frame centred on sample 32 * 256 = 8192: kernels fully inside
    assert list(out[:, mid].argmax(dim=-1)) == bins


def test_cqt_tone_magnitude_closed_form(cqt):
    """Hann kernel / sum(window), x sqrt(l_k) (librosa scaling): a unit sine at f_k gives sqrt(l_k) / 2."""
    k = 150
    f = float(cqt_frequencies()[k])
    n = torch.arange(4095, dtype=torch.float64)
    x = torch.sin(2 * math.pi * f * n / SR).float()[None]
    out = cqt(x)[0, 8]  # frame centred at sample 2048; l_150 = 1554 fits inside the signal
    l_k = cqt_lengths(np.array([f]))[0]
    assert float(out[k]) == pytest.approx(0.5 * math.sqrt(l_k), rel=2e-3)


def test_cqt_bad_input(cqt):
    with pytest.raises(ValueError, match="`audio`"):
        cqt(torch.randn(4095))
    with pytest.raises(ValueError, match="`audio`"):
        cqt(torch.randn(1, 1, 4095))
    bad = torch.randn(1, 4095)
    bad[0, 7] = float("nan")
    with pytest.raises(ValueError, match="`audio`"):
        cqt(bad)
    with pytest.raises(ValueError, match="`audio`"):
        cqt(np.zeros((1, 4095), dtype=np.float32))
    with pytest.raises(ValueError, match="`sample_rate`"):
        cqt(torch.randn(1, 4095), sample_rate=22050)


@pytest.mark.parametrize("n_bins", [287, 300])
def test_cqt_too_many_bins(n_bins):
    # bin 286 is at 32.7 * 2^(286/36) = 8007 Hz >= Nyquist
    assert 32.7 * 2 ** ((n_bins - 1) / 36) >= 8000
    with pytest.raises(ValueError, match="`n_bins`"):
        CQT(n_bins=n_bins)


def test_cqt_bad_constructor_arguments():
    with pytest.raises(ValueError, match="`sample_rate`"):
        CQT(sample_rate=16000.5)
    with pytest.raises(ValueError, match="`hop_length`"):
        CQT(hop_length=0)
    with pytest.raises(ValueError, match="`fmin_hz`"):
        CQT(fmin_hz=-1.0)
    with pytest.raises(ValueError, match="`n_bins`"):
        CQT(n_bins=0)


def test_module_constants():
    assert spectral.SAMPLE_RATE == 16000
    assert spectral.CQT_HOP_LENGTH == 256


def test_subtract_noise_floor_closed_form_and_checks():
    spectra = torch.tensor([[0.0, 1.0, 2.0, 3.0, 10.0], [5.0, 5.0, 5.0, 5.0, 5.0]])
    out = spectral.subtract_noise_floor(spectra, 1.5)
    medians = np.median(spectra.numpy(), axis=-1, keepdims=True)  # numpy oracle (odd bin count)
    np.testing.assert_allclose(out.numpy(), np.maximum(spectra.numpy() - 1.5 * medians, 0.0))
    assert float(out[1].sum()) == 0.0  # a flat frame is all floor
    with pytest.raises(ValueError, match="factor"):
        spectral.subtract_noise_floor(spectra, 0.0)
    with pytest.raises(ValueError, match="spectra"):
        spectral.subtract_noise_floor(-spectra, 1.0)


# ---- stft_magnitude's written-out backward pass, against autograd through complex_stft().abs() ----


@pytest.mark.parametrize(
    ("n_fft", "hop_length", "window", "pad_end", "n_samples"),
    [
        (2048, 512, "hann", True, 4096),
        (2048, 512, "flattop", True, 1000),  # shorter than one frame: padding only
        (512, 128, "hann", False, 4096),  # complete frames: the tail gets no gradient
        (64, 16, "hann", True, 4096),
        (100, 30, "flattop", True, 777),  # the hop does not divide n_fft: the fold path
        (256, 256, "hann", False, 1000),
        (255, 64, "hann", True, 1000),  # odd n_fft: no Nyquist bin
    ],
)
def test_stft_magnitude_gradient_matches_autograd(n_fft, hop_length, window, pad_end, n_samples):
    torch.manual_seed(n_fft + hop_length)
    audio = torch.randn(3, n_samples, dtype=torch.float64, requires_grad=True)
    reference = complex_stft(audio, n_fft, hop_length, window, pad_end).abs()
    weights = torch.randn_like(reference)
    (expected,) = torch.autograd.grad((reference * weights).sum(), audio)
    magnitude = stft_magnitude(audio, n_fft, hop_length, window, pad_end)
    (got,) = torch.autograd.grad((magnitude * weights).sum(), audio)
    assert torch.equal(magnitude, reference)  # the forward pass is untouched
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_stft_magnitude_gradcheck_and_zero_bins():
    audio = torch.randn(2, 300, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: stft_magnitude(x, 64, 16), (audio,))
    # a silent example has |X| = 0 everywhere: its gradient is 0 (torch.sgn(0) = 0), not NaN
    silent = torch.zeros(1, 512, requires_grad=True)
    (grad,) = torch.autograd.grad(stft_magnitude(silent, 128, 32).sum(), silent)
    assert torch.equal(grad, torch.zeros_like(grad))


def test_stft_magnitude_float32_values_and_gradients():
    """float32: the same values bit for bit (hypot is complex64's abs), gradients to float rounding."""
    torch.manual_seed(0)
    audio = torch.randn(4, 4096, requires_grad=True)
    reference = complex_stft(audio, 1024, 256).abs()
    (expected,) = torch.autograd.grad(reference.sum(), audio)
    magnitude = stft_magnitude(audio, 1024, 256)
    (got,) = torch.autograd.grad(magnitude.sum(), audio)
    assert torch.equal(magnitude, reference)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5 * float(expected.abs().max()))
    with torch.no_grad():
        assert torch.equal(stft_magnitude(audio, 1024, 256), reference)
