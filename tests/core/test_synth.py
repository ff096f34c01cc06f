"""Tests for ``sot_utils.synth`` against closed forms and independent numpy oracles (docs/method.md#method-synth)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
import torch

from sot_utils.synth import (
    HarmonicSynth,
    exp_sigmoid,
    floor_fundamental,
    harmonic_synth,
    oscillator_bank,
    remove_above_nyquist,
    resample_linear,
    upsample_with_windows,
)

SR = 16000
N_SAMPLES = 4096
N_FRAMES = 16


# --------------------------------------------------------------------------------------------
# Oracles (numpy only, written from docs/method.md#method-synth)


def ola_oracle(env: np.ndarray, n_samples: int) -> np.ndarray:
    """Window upsampling: repeat last frame, periodic Hann of 2 hop, overlap-add, trim hop at both ends."""
    batch, n_frames, n_ch = env.shape
    hop = n_samples // n_frames
    x = np.concatenate([env, env[:, -1:]], axis=1)
    w = scipy.signal.get_window("hann", 2 * hop)  # periodic
    out = np.zeros((batch, (n_frames + 2) * hop, n_ch))
    for t in range(n_frames + 1):
        out[:, t * hop : t * hop + 2 * hop] += x[:, t, None, :] * w[None, :, None]
    return out[:, hop : hop + n_samples]


def interp_oracle(env: np.ndarray, n_samples: int) -> np.ndarray:
    """Linear interpolation with align_corners=False positions (i + 0.5) T / N - 0.5, clamped."""
    batch, n_frames, n_ch = env.shape
    pos = (np.arange(n_samples) + 0.5) * n_frames / n_samples - 0.5
    pos = np.clip(pos, 0, n_frames - 1)
    out = np.empty((batch, n_samples, n_ch))
    for b in range(batch):
        for c in range(n_ch):
            out[b, :, c] = np.interp(pos, np.arange(n_frames), env[b, :, c])
    return out


def synth_oracle(f0: np.ndarray, amps: np.ndarray, n_samples: int, sr: float) -> np.ndarray:
    """Full DDSP harmonic synth in float64 numpy (docs/method.md#method-synth steps 1-4)."""
    n_harm = amps.shape[-1]
    k = np.arange(1, n_harm + 1)
    amps = amps * (f0[..., None] * k < sr / 2)
    amp_env = ola_oracle(amps, n_samples)
    freq_env = interp_oracle(f0[..., None], n_samples) * k
    amp_env = amp_env * (freq_env < sr / 2)
    phase = np.cumsum(2 * np.pi * freq_env / sr, axis=1)
    return np.sum(amp_env * np.sin(phase), axis=-1)


def constant_controls(f0_hz: float, amps, batch: int = 1, dtype=torch.float32):
    f0 = torch.full((batch, N_FRAMES), f0_hz, dtype=dtype)
    a = torch.tensor(amps, dtype=dtype).expand(batch, N_FRAMES, len(amps)).contiguous()
    return f0, a


# --------------------------------------------------------------------------------------------
# Analytic sines


@pytest.mark.parametrize("f", [55.0, 440.0, 1000.0, 3000.0, 7000.0])
def test_single_harmonic_is_analytic_sine(f):
    f0, a = constant_controls(f, [1.0])
    y = harmonic_synth(f0, a, N_SAMPLES, SR)
    assert y.shape == (1, N_SAMPLES) and y.dtype == torch.float32
    n = np.arange(N_SAMPLES)
    ref = np.sin(2 * np.pi * f * (n + 1) / SR)  # cumsum phase: phi[0] = omega
    np.testing.assert_allclose(y[0].numpy(), ref, rtol=0, atol=1e-4)
    # first sample is sin(omega), not sin(0)
    assert float(y[0, 0]) == pytest.approx(math.sin(2 * math.pi * f / SR), abs=1e-6)


@pytest.mark.parametrize("f", [55.0, 220.0, 900.0, 1950.0])
def test_several_harmonics_sum_of_sines(f):
    amps = [0.5, 0.3, 0.2, 0.1]
    f0, a = constant_controls(f, amps, batch=2)
    y = harmonic_synth(f0, a, N_SAMPLES, SR)
    n = np.arange(N_SAMPLES)
    ref = sum(ak * np.sin(2 * np.pi * k * f * (n + 1) / SR) for k, ak in enumerate(amps, start=1))
    for b in range(2):
        np.testing.assert_allclose(y[b].numpy(), ref, rtol=0, atol=1e-4)


def test_float64_analytic_sine_is_tight():
    f0, a = constant_controls(440.0, [0.7, 0.0, 0.3], dtype=torch.float64)
    y = harmonic_synth(f0, a, N_SAMPLES, SR)
    assert y.dtype == torch.float64
    n = np.arange(N_SAMPLES)
    ref = 0.7 * np.sin(2 * np.pi * 440 * (n + 1) / SR) + 0.3 * np.sin(2 * np.pi * 1320 * (n + 1) / SR)
    np.testing.assert_allclose(y[0].numpy(), ref, atol=1e-10)


def test_time_varying_controls_match_numpy_oracle():
    rng = np.random.default_rng(0)
    f0 = rng.uniform(100.0, 3000.0, (3, N_FRAMES))  # some upper partials cross Nyquist
    amps = rng.uniform(0.0, 1.0, (3, N_FRAMES, 6))
    y = harmonic_synth(torch.from_numpy(f0), torch.from_numpy(amps), N_SAMPLES, SR)
    np.testing.assert_allclose(y.numpy(), synth_oracle(f0, amps, N_SAMPLES, SR), atol=1e-8)


# --------------------------------------------------------------------------------------------
# Nyquist


def test_partials_above_nyquist_are_silent():
    f0, a3 = constant_controls(3000.0, [1.0, 0.5, 0.8])  # 9000 Hz >= 8000
    _, a2 = constant_controls(3000.0, [1.0, 0.5])
    y3 = harmonic_synth(f0, a3, N_SAMPLES, SR)
    y2 = harmonic_synth(f0, a2, N_SAMPLES, SR)
    torch.testing.assert_close(y3, y2, rtol=0, atol=0)


@pytest.mark.parametrize("f0_hz,n_harm", [(4000.0, 2), (2000.0, 4)])
def test_harmonic_exactly_at_nyquist_is_silent(f0_hz, n_harm):
    f0, a_full = constant_controls(f0_hz, [1.0] * n_harm)
    _, a_cut = constant_controls(f0_hz, [1.0] * (n_harm - 1))
    torch.testing.assert_close(
        harmonic_synth(f0, a_full, N_SAMPLES, SR), harmonic_synth(f0, a_cut, N_SAMPLES, SR), rtol=0, atol=0
    )
    # a lone partial exactly at Nyquist renders silence
    f0_ny, a1 = constant_controls(8000.0, [1.0])
    assert float(harmonic_synth(f0_ny, a1, N_SAMPLES, SR).abs().max()) == 0.0


def test_remove_above_nyquist_closed_form():
    freqs = torch.tensor([100.0, 7999.0, 8000.0, 9000.0])
    amps = torch.tensor([1.0, 2.0, 3.0, 4.0])
    torch.testing.assert_close(remove_above_nyquist(freqs, amps, SR), torch.tensor([1.0, 2.0, 0.0, 0.0]))


def test_nyquist_mask_at_sample_rate_for_time_varying_f0():
    """f0 ramps so that harmonic 2 crosses Nyquist between frames: matches the two-stage-mask oracle."""
    f0 = np.linspace(3500.0, 4500.0, N_FRAMES)[None]
    amps = np.ones((1, N_FRAMES, 2))
    y = harmonic_synth(torch.from_numpy(f0), torch.from_numpy(amps), N_SAMPLES, SR)
    np.testing.assert_allclose(y.numpy(), synth_oracle(f0, amps, N_SAMPLES, SR), atol=1e-8)


# --------------------------------------------------------------------------------------------
# Lengths and frame alignment


@pytest.mark.parametrize("n_frames,n_samples", [(16, 4096), (4, 64), (10, 1000), (1, 32)])
def test_output_length(n_frames, n_samples):
    f0 = torch.full((2, n_frames), 220.0)
    a = torch.rand(2, n_frames, 3)
    assert harmonic_synth(f0, a, n_samples, SR).shape == (2, n_samples)


def test_n_samples_not_multiple_of_frames():
    f0, a = constant_controls(220.0, [1.0])
    with pytest.raises(ValueError, match="`n_samples`"):
        harmonic_synth(f0, a, 4100, SR)  # 4100 / 16 frames is not an integer
    with pytest.raises(ValueError, match="`n_samples`"):
        harmonic_synth(f0, a, 0, SR)
    with pytest.raises(ValueError, match="`n_samples`"):
        harmonic_synth(f0, a, 4096.0, SR)
    with pytest.raises(ValueError, match="`n_samples`"):
        upsample_with_windows(torch.ones(1, 16, 1), 4095)


@pytest.mark.parametrize("t", [1, 5, 8, 14])
def test_one_hot_envelope_is_hann_bump_centred_on_frame(t):
    hop = N_SAMPLES // N_FRAMES
    env = torch.zeros(1, N_FRAMES, 1, dtype=torch.float64)
    env[0, t, 0] = 1.0
    out = upsample_with_windows(env, N_SAMPLES)[0, :, 0].numpy()
    assert out.shape == (N_SAMPLES,)
    assert int(np.argmax(out)) == t * hop
    assert out[t * hop] == pytest.approx(1.0, abs=1e-12)
    expected = np.zeros(N_SAMPLES)
    expected[t * hop - hop : t * hop + hop] = scipy.signal.get_window("hann", 2 * hop)
    np.testing.assert_allclose(out, expected, atol=1e-12)
    # support is the open interval (t - 1) hop .. (t + 1) hop
    nz = np.nonzero(out > 1e-12)[0]
    assert nz[0] == t * hop - hop + 1 and nz[-1] == t * hop + hop - 1


def test_edge_frames():
    hop = N_SAMPLES // N_FRAMES
    w = scipy.signal.get_window("hann", 2 * hop)
    env = torch.zeros(1, N_FRAMES, 1, dtype=torch.float64)
    env[0, 0, 0] = 1.0
    out = upsample_with_windows(env, N_SAMPLES)[0, :, 0].numpy()
    np.testing.assert_allclose(out[:hop], w[hop:], atol=1e-12)  # falling half, peak at sample 0
    assert np.all(out[hop:] == 0)
    # the last frame is repeated (add_endpoint): it holds from its centre to the end
    env = torch.zeros(1, N_FRAMES, 1, dtype=torch.float64)
    env[0, -1, 0] = 1.0
    out = upsample_with_windows(env, N_SAMPLES)[0, :, 0].numpy()
    last = (N_FRAMES - 1) * hop
    np.testing.assert_allclose(out[last:], 1.0, atol=1e-12)
    np.testing.assert_allclose(out[last - hop : last], w[:hop], atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_constant_envelope_stays_constant(dtype):
    env = torch.full((2, N_FRAMES, 3), 0.37, dtype=dtype)
    out = upsample_with_windows(env, N_SAMPLES)
    tol = 1e-6 if dtype == torch.float32 else 1e-14
    torch.testing.assert_close(out, torch.full((2, N_SAMPLES, 3), 0.37, dtype=dtype), rtol=0, atol=tol)


@pytest.mark.parametrize("n_frames,n_samples", [(16, 4096), (5, 40), (3, 300), (1, 8)])
def test_upsample_with_windows_matches_ola_oracle(n_frames, n_samples):
    rng = np.random.default_rng(n_frames * n_samples)
    env = rng.uniform(0, 2, (2, n_frames, 4))
    out = upsample_with_windows(torch.from_numpy(env), n_samples)
    assert out.shape == (2, n_samples, 4)
    np.testing.assert_allclose(out.numpy(), ola_oracle(env, n_samples), atol=1e-12)


@pytest.mark.parametrize("n_frames,n_samples", [(16, 4096), (5, 40), (3, 301), (7, 7)])
def test_resample_linear_matches_np_interp(n_frames, n_samples):
    rng = np.random.default_rng(n_frames + n_samples)
    env = rng.standard_normal((2, n_frames, 3))
    out = resample_linear(torch.from_numpy(env), n_samples)
    assert out.shape == (2, n_samples, 3)
    np.testing.assert_allclose(out.numpy(), interp_oracle(env, n_samples), atol=1e-12)


def test_resample_linear_frame_positions():
    """f0 frame t sits at sample (t + 0.5) hop - 0.5 (docs/method.md#method-synth step 3 / align_corners=False)."""
    hop = N_SAMPLES // N_FRAMES
    env = torch.arange(N_FRAMES, dtype=torch.float64)[None, :, None]
    out = resample_linear(env, N_SAMPLES)[0, :, 0].numpy()
    pos = np.clip((np.arange(N_SAMPLES) + 0.5) / hop - 0.5, 0, N_FRAMES - 1)
    np.testing.assert_allclose(out, pos, atol=1e-12)
    # between hop/2 - 0.5 and the end, the ramp is exactly linear with slope 1 / hop
    assert out[hop // 2 + hop] - out[hop // 2] == pytest.approx(1.0, abs=1e-12)


def test_oscillator_bank_cumsum_oracle():
    rng = np.random.default_rng(3)
    freqs = rng.uniform(50, 7000, (2, 500, 3))
    amps = rng.uniform(0, 1, (2, 500, 3))
    y = oscillator_bank(torch.from_numpy(freqs), torch.from_numpy(amps), SR)
    ref = np.sum(amps * np.sin(np.cumsum(2 * np.pi * freqs / SR, axis=1)), axis=-1)
    np.testing.assert_allclose(y.numpy(), ref, atol=1e-10)


# --------------------------------------------------------------------------------------------
# exp_sigmoid


def test_exp_sigmoid_closed_form():
    x = np.linspace(-30, 30, 601)
    ref = 2.0 * (1.0 / (1.0 + np.exp(-x))) ** np.log(10.0) + 1e-7
    np.testing.assert_allclose(exp_sigmoid(torch.from_numpy(x)).numpy(), ref, rtol=1e-12, atol=0)
    assert float(exp_sigmoid(torch.tensor(0.0, dtype=torch.float64))) == pytest.approx(
        2 * 0.5 ** math.log(10) + 1e-7, rel=1e-12
    )


def test_exp_sigmoid_range_and_slope():
    x = torch.linspace(-100, 100, 2001, dtype=torch.float64)
    y = exp_sigmoid(x)
    assert bool((y >= 1e-7).all()) and bool((y <= 2.0 + 1e-7).all())
    assert float(y[0]) == pytest.approx(1e-7, rel=1e-9)
    assert float(y[-1]) == pytest.approx(2.0 + 1e-7, rel=1e-12)
    assert bool((torch.diff(y) >= 0).all())
    # saturated-low regime: a factor ~ exponent per unit of x (threshold removed)
    z = exp_sigmoid(torch.tensor([-11.0, -10.0], dtype=torch.float64), threshold=0.0)
    assert float(z[1] / z[0]) == pytest.approx(10.0, rel=1e-3)
    # custom parameters
    xs = torch.tensor([-1.0, 0.5, 2.0], dtype=torch.float64)
    ref = 3.0 * torch.sigmoid(xs) ** math.log(4.0) + 1e-3
    torch.testing.assert_close(exp_sigmoid(xs, exponent=4.0, max_value=3.0, threshold=1e-3), ref)


# --------------------------------------------------------------------------------------------
# Gradients


def test_gradcheck_harmonic_synth():
    torch.manual_seed(0)
    f0 = torch.tensor([[200.0, 230.0, 215.0, 260.0]], dtype=torch.float64, requires_grad=True)
    amps = (0.2 + 0.8 * torch.rand(1, 4, 3, dtype=torch.float64)).requires_grad_()
    assert float(f0.detach().max()) * 3 < SR / 2
    assert torch.autograd.gradcheck(lambda f, a: harmonic_synth(f, a, 64, SR), (f0, amps), eps=1e-6, atol=1e-5)


def test_gradients_finite_and_nonzero():
    f0, a = constant_controls(440.0, [1.0, 0.5, 0.25])
    f0.requires_grad_()
    a.requires_grad_()
    y = harmonic_synth(f0, a, N_SAMPLES, SR)
    (y**2).mean().backward()
    assert torch.isfinite(f0.grad).all() and torch.isfinite(a.grad).all()
    assert float(a.grad.abs().sum()) > 0 and float(f0.grad.abs().sum()) > 0


# --------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize("bad_value", [0.0, -100.0])
def test_rejects_non_positive_f0(bad_value):
    f0, a = constant_controls(220.0, [1.0])
    f0[0, 3] = bad_value
    with pytest.raises(ValueError, match="`f0_hz`"):
        harmonic_synth(f0, a, N_SAMPLES, SR)


@pytest.mark.parametrize("bad_value", [float("nan"), float("inf")])
def test_rejects_non_finite_f0(bad_value):
    f0, a = constant_controls(220.0, [1.0])
    f0[0, 3] = bad_value
    with pytest.raises(ValueError, match="`f0_hz`"):
        harmonic_synth(f0, a, N_SAMPLES, SR)


def test_rejects_bad_amplitudes():
    f0, a = constant_controls(220.0, [1.0, 0.5])
    a = a.clone()
    a[0, 2, 1] = -0.1
    with pytest.raises(ValueError, match="`amplitudes`"):
        harmonic_synth(f0, a, N_SAMPLES, SR)
    a[0, 2, 1] = float("nan")
    with pytest.raises(ValueError, match="`amplitudes`"):
        harmonic_synth(f0, a, N_SAMPLES, SR)


def test_rejects_mismatched_shapes():
    f0 = torch.full((2, N_FRAMES), 220.0)
    with pytest.raises(ValueError, match="`amplitudes`"):
        harmonic_synth(f0, torch.rand(3, N_FRAMES, 2), N_SAMPLES, SR)  # batch
    with pytest.raises(ValueError, match="`amplitudes`"):
        harmonic_synth(f0, torch.rand(2, 8, 2), N_SAMPLES, SR)  # frames


def test_rejects_wrong_ndim():
    with pytest.raises(ValueError, match="`f0_hz`"):
        harmonic_synth(torch.full((N_FRAMES,), 220.0), torch.rand(1, N_FRAMES, 2), N_SAMPLES, SR)
    with pytest.raises(ValueError, match="`f0_hz`"):
        harmonic_synth(torch.full((1, N_FRAMES, 1), 220.0), torch.rand(1, N_FRAMES, 2), N_SAMPLES, SR)
    with pytest.raises(ValueError, match="`amplitudes`"):
        harmonic_synth(torch.full((1, N_FRAMES), 220.0), torch.rand(1, N_FRAMES), N_SAMPLES, SR)
    with pytest.raises(ValueError, match="`f0_hz`"):
        harmonic_synth(np.full((1, N_FRAMES), 220.0), torch.rand(1, N_FRAMES, 2), N_SAMPLES, SR)


@pytest.mark.parametrize("sr", [0, -16000, float("nan"), float("inf")])
def test_rejects_bad_sample_rate(sr):
    f0, a = constant_controls(220.0, [1.0])
    with pytest.raises(ValueError, match="`sample_rate`"):
        harmonic_synth(f0, a, N_SAMPLES, sr)


def test_module_bad_arguments():
    with pytest.raises(ValueError, match="`sample_rate`"):
        HarmonicSynth(sample_rate=0)
    with pytest.raises(ValueError, match="`n_samples`"):
        HarmonicSynth(n_samples=0)


# --------------------------------------------------------------------------------------------
# Module wrapper


def test_module_equals_function():
    torch.manual_seed(1)
    f0 = 100 + 900 * torch.rand(3, N_FRAMES)
    a = torch.rand(3, N_FRAMES, 20)
    synth = HarmonicSynth()
    assert synth.n_samples == 4096 and synth.sample_rate == 16000
    torch.testing.assert_close(synth(f0, a), harmonic_synth(f0, a, 4096, 16000), rtol=0, atol=0)
    small = HarmonicSynth(n_samples=640, sample_rate=8000)
    torch.testing.assert_close(small(f0, a), harmonic_synth(f0, a, 640, 8000), rtol=0, atol=0)
    assert len(list(synth.parameters())) == 0


def test_harmonic_synth_equals_the_general_oscillator_bank():
    """The shared-fundamental phase shortcut gives the oscillator bank's output."""
    from sot_utils.synth import oscillator_bank, remove_above_nyquist, resample_linear, upsample_with_windows

    g = torch.Generator().manual_seed(4)
    f0 = 100 + 900 * torch.rand(2, 8, generator=g, dtype=torch.float64)
    amps = torch.rand(2, 8, 12, generator=g, dtype=torch.float64)
    ratios = torch.arange(1, 13, dtype=torch.float64)
    amp_env = upsample_with_windows(remove_above_nyquist(f0[..., None] * ratios, amps, 16000), 1024)
    freq_env = resample_linear(f0[..., None], 1024) * ratios
    expected = oscillator_bank(freq_env, remove_above_nyquist(freq_env, amp_env, 16000), 16000)
    torch.testing.assert_close(harmonic_synth(f0, amps, 1024, 16000), expected, rtol=1e-9, atol=1e-9)


# --------------------------------------------------------------------------------------------
# The fundamental floor (remedy ``fundamental-floor``, notebook 07)


def test_floor_fundamental_matches_a_numpy_oracle_and_leaves_the_other_partials_alone():
    rng = np.random.default_rng(0)
    amplitudes = rng.uniform(0, 1, size=(3, 16, 20))
    amplitudes[0, :, 0] = 0.0  # a silent fundamental: the sub-harmonic renders' signature
    amplitudes[1, :, 0] = 1.5  # a fundamental above the floor stays as it is
    for ratio in (0.1, 0.3, 1.0):
        expected = amplitudes.copy()
        expected[..., 0] = np.maximum(amplitudes[..., 0], ratio * amplitudes.max(axis=-1))
        got = floor_fundamental(torch.tensor(amplitudes), ratio)
        np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=0)
        assert (got[..., 0] >= ratio * got.amax(dim=-1)).all()
    plain = torch.tensor(amplitudes)
    assert floor_fundamental(plain, 0.0) is plain  # off: the paper's decoder, untouched


def test_a_floored_fundamental_passes_its_gradient_to_the_strongest_partial():
    amplitudes = torch.tensor([[0.0, 0.2, 1.0, 0.5]], requires_grad=True)
    floor_fundamental(amplitudes, 0.3)[..., 0].sum().backward()
    torch.testing.assert_close(amplitudes.grad, torch.tensor([[0.0, 0.0, 0.3, 0.0]]))


def test_a_floored_sub_harmonic_render_sounds_its_fundamental():
    """f0/2 with only partial 2 on reproduces a pure tone at f0 exactly; floored, it also sounds f0/2,
    at the floor's amplitude (checked on the rendered signal's spectrum)."""
    f0 = 500.0
    amplitudes = torch.zeros(1, 16, 20)
    amplitudes[..., 1] = 1.0
    frames_f0 = torch.full((1, 16), f0 / 2)
    audio = harmonic_synth(frames_f0, floor_fundamental(amplitudes, 0.3), N_SAMPLES, SR)[0].numpy()
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(N_SAMPLES)))
    bin_hz = SR / N_SAMPLES
    peak = lambda hz: spectrum[int(round(hz / bin_hz)) - 2 : int(round(hz / bin_hz)) + 3].max()  # noqa: E731
    assert peak(f0 / 2) / peak(f0) == pytest.approx(0.3, rel=0.02)


@pytest.mark.parametrize("ratio", [-0.1, 1.5, float("nan"), True, "0.3"])
def test_floor_fundamental_refuses_a_ratio_outside_0_1(ratio):
    with pytest.raises(ValueError, match="`ratio` must be a number in \\[0, 1\\]"):
        floor_fundamental(torch.rand(2, 20), ratio)
    with pytest.raises(ValueError, match="`amplitudes`"):
        floor_fundamental(-torch.rand(2, 20), 0.3)


def test_audible_harmonics_is_the_synths_nyquist_mask():
    from sot_utils.synth import audible_harmonics, below_nyquist

    f0 = torch.tensor([[100.0, 2000.0], [7999.0, 8000.0]])
    mask = audible_harmonics(f0, 5, sample_rate=16000)
    assert mask.shape == (2, 2, 5) and mask.dtype == torch.bool
    for index in np.ndindex(2, 2):
        expected = [k * float(f0[index]) < 8000 for k in range(1, 6)]
        assert mask[index].tolist() == expected
    assert below_nyquist(torch.tensor([7999.9, 8000.0]), 16000).tolist() == [True, False]
    # the synth mutes exactly the partials the mask calls inaudible: a tone whose second harmonic sits at Nyquist
    f0_frames = torch.full((1, 4), 4000.0)
    amplitudes = torch.ones(1, 4, 2)
    audio = harmonic_synth(f0_frames, amplitudes, 1024, 16000)
    alone = harmonic_synth(f0_frames, amplitudes * torch.tensor([1.0, 0.0]), 1024, 16000)
    assert audible_harmonics(torch.tensor(4000.0), 2, 16000).tolist() == [True, False]
    torch.testing.assert_close(audio, alone)
