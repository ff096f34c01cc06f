"""DDSP harmonic synthesizer (Engel et al., 2020), as used by the paper's decoder (docs/method.md#method-synth).

Small pure functions on tensors; :class:`HarmonicSynth` is a thin module wrapper.

Pipeline of :func:`harmonic_synth`:

1. harmonic frequencies ``f_k = k f0`` (k = 1..H) at frame rate; partials at or above Nyquist
   get amplitude 0;
2. amplitudes upsampled to audio rate by Hann-window overlap-add (frame ``t`` centred at sample
   ``t * n_samples / n_frames``, matching the centred CQT frames);
3. f0 upsampled by linear interpolation (``align_corners=False``; so frame ``t`` of f0 sits at
   sample ``(t + 0.5) * hop - 0.5``, half a hop after its amplitude frame: a quirk of the
   reference that only matters for time-varying f0);
4. Nyquist mask again at audio rate, then an oscillator bank with cumulative phase
   ``phi[n] = sum_{m <= n} 2 pi f[m] / sr`` (so ``phi[0] = omega[0]``, not 0).

Units: frequencies in Hz, sample rates in Hz, amplitudes linear.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .constants import N_SAMPLES, SAMPLE_RATE
from .validation import check_int, check_positive_number, check_tensor, check_unit_interval

__all__ = [
    "HarmonicSynth",
    "audible_harmonics",
    "below_nyquist",
    "exp_sigmoid",
    "floor_fundamental",
    "harmonic_synth",
    "oscillator_bank",
    "remove_above_nyquist",
    "resample_linear",
    "upsample_with_windows",
]


def exp_sigmoid(
    x: torch.Tensor, exponent: float = 10.0, max_value: float = 2.0, threshold: float = 1e-7
) -> torch.Tensor:
    """Exponentiated sigmoid ``max_value * sigmoid(x) ** ln(exponent) + threshold``.

    Maps any real input into ``(threshold, max_value + threshold)``; with the defaults the output
    changes by a factor of ``exponent`` per unit of ``x`` in the saturated-low regime (DDSP).
    """
    return max_value * torch.sigmoid(x) ** math.log(exponent) + threshold


def floor_fundamental(amplitudes: torch.Tensor, ratio: float) -> torch.Tensor:
    """Keep the fundamental audible: ``a_1 <- max(a_1, ratio * max_k a_k)``; the other partials unchanged.

    Rendering a K-partial tone at ``f0 / k`` (k >= 2) needs ``a_1 = 0``: the sub-harmonic renders
    that make every spectral loss zero there (notebook 07) need a silent fundamental. With a floor,
    the fundamental is never more than ``-20 log10(ratio)`` dB below the strongest partial, so
    those renders leave energy where the target has none and stop being exact minima. A target
    whose own fundamental is at least that loud (the synthetic tones': amplitudes 0.4-1.0, so
    ``ratio <= 0.4``) is still rendered exactly at its true f0.

    Args:
        amplitudes: ``[..., n_harmonics]`` linear, column ``k - 1`` drives partial ``k``.
        ratio: the floor, as a fraction of the strongest amplitude, in ``[0, 1]`` (0: unchanged).

    Returns:
        ``[..., n_harmonics]``; gradients reach the strongest partial where the floor binds.
    """
    check_tensor("amplitudes", amplitudes, min_ndim=1, layout="[..., n_harmonics]", nonnegative=True)
    if not check_unit_interval("ratio", ratio):
        return amplitudes
    fundamental = torch.maximum(amplitudes[..., :1], ratio * amplitudes.amax(dim=-1, keepdim=True))
    return torch.cat([fundamental, amplitudes[..., 1:]], dim=-1)


def upsample_with_windows(envelopes: torch.Tensor, n_samples: int) -> torch.Tensor:
    """Upsample frame-rate envelopes by overlap-adding periodic Hann windows.

    The last frame is repeated (``add_endpoint``), giving ``n_frames`` intervals of
    ``hop = n_samples // n_frames`` samples; each frame is weighted by a Hann window of length
    ``2 hop`` centred on sample ``t * hop``. Neighbouring windows sum to one, so a constant
    envelope stays constant.

    Args:
        envelopes: ``[batch, n_frames, n_channels]``.
        n_samples: output length; must be a multiple of ``n_frames``.

    Returns:
        ``[batch, n_samples, n_channels]``.
    """
    n_frames = envelopes.shape[1]
    if n_samples % n_frames:
        raise ValueError(f"`n_samples` ({n_samples}) must be a multiple of the number of frames ({n_frames})")
    hop = n_samples // n_frames
    weights = _window_interpolation_matrix(n_frames, hop, envelopes.dtype, envelopes.device)  # [N, T + 1]
    x = torch.cat([envelopes, envelopes[:, -1:]], dim=1)  # [B, T + 1, C]
    # overlap-adding windowed frames is linear in the frames: one small matrix product
    return torch.matmul(weights, x)


_INTERPOLATION_MATRICES: dict = {}


def _window_interpolation_matrix(n_frames: int, hop: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``W [n_frames * hop, n_frames + 1]``: ``W[n, t]`` is frame ``t``'s Hann weight at sample ``n``.

    Frame ``t``'s window (periodic Hann, ``2 hop`` long) is centred on sample ``t hop``, so
    ``W[n, t] = hann[n - t hop + hop]`` where that index lies in ``[0, 2 hop)``, else 0.
    """
    key = (n_frames, hop, dtype, str(device))
    if key not in _INTERPOLATION_MATRICES:
        window = torch.hann_window(2 * hop, periodic=True, dtype=torch.float64)
        offsets = torch.arange(n_frames * hop)[:, None] - torch.arange(n_frames + 1)[None, :] * hop + hop
        inside = (offsets >= 0) & (offsets < 2 * hop)
        matrix = torch.where(inside, window[offsets.clamp(0, 2 * hop - 1)], torch.zeros((), dtype=torch.float64))
        _INTERPOLATION_MATRICES[key] = matrix.to(dtype=dtype, device=device)
    return _INTERPOLATION_MATRICES[key]


def resample_linear(envelopes: torch.Tensor, n_samples: int) -> torch.Tensor:
    """Linear interpolation of ``[batch, n_frames, n_channels]`` to ``[batch, n_samples, n_channels]``.

    ``align_corners=False`` as in the reference.
    """
    out = nn.functional.interpolate(envelopes.transpose(1, 2), size=n_samples, mode="linear", align_corners=False)
    return out.transpose(1, 2)


def below_nyquist(frequencies_hz: torch.Tensor, sample_rate: float) -> torch.Tensor:
    """The synth's Nyquist mask: whether each frequency (Hz, any shape) is strictly below ``sample_rate / 2``.

    A partial at or above Nyquist is muted (it would alias); every rule of the package that asks
    which partials sound (the synth, the data's audible harmonic counts, the harmonic prior, the
    study's tools) asks it here.
    """
    return frequencies_hz < sample_rate / 2


def audible_harmonics(f0_hz: torch.Tensor, n_harmonics: int, sample_rate: float = SAMPLE_RATE) -> torch.Tensor:
    """Which harmonics ``k f0`` (k = 1..n_harmonics) sound: ``f0_hz [...]`` (Hz) -> bool ``[..., n_harmonics]``
    (:func:`below_nyquist`; the products are taken in ``f0_hz``'s dtype)."""
    harmonic_number = torch.arange(1, n_harmonics + 1, dtype=f0_hz.dtype, device=f0_hz.device)
    return below_nyquist(f0_hz[..., None] * harmonic_number, sample_rate)


def remove_above_nyquist(frequencies_hz: torch.Tensor, amplitudes: torch.Tensor, sample_rate: float) -> torch.Tensor:
    """Zero the amplitudes of partials at or above Nyquist (same shapes in and out)."""
    return amplitudes * below_nyquist(frequencies_hz, sample_rate).to(amplitudes.dtype)


def oscillator_bank(
    frequencies_hz: torch.Tensor,
    amplitudes: torch.Tensor,
    sample_rate: float,
    initial_phase: torch.Tensor | None = None,
) -> torch.Tensor:
    """Sum of sinusoids with cumulative phase.

    ``y[n] = sum_k A_k[n] sin(phi_k[n])``,
    ``phi_k[n] = theta_k + sum_{m<=n} 2 pi f_k[m] / sample_rate``.
    The phase is accumulated in float64 and wrapped to [0, 2 pi) before the sine, so long or
    high-frequency signals do not drift as a float32 running sum would.

    Args:
        frequencies_hz: ``[batch, n_samples, n_partials]``, Hz.
        amplitudes: ``[batch, n_samples, n_partials]``, linear.
        sample_rate: Hz.
        initial_phase: phase offsets ``theta`` ``[batch, n_partials]``, radians, or None (0, the
            decoder's synthesizer).

    Returns:
        audio ``[batch, n_samples]``.
    """
    omega = (2 * math.pi / sample_rate) * frequencies_hz.double()
    phase = torch.cumsum(omega, dim=1)
    if initial_phase is not None:
        check_tensor("initial_phase", initial_phase, ndim=2, layout="[batch, n_partials]")
        if initial_phase.shape != (frequencies_hz.shape[0], frequencies_hz.shape[-1]):
            raise ValueError(
                f"`initial_phase` {tuple(initial_phase.shape)} must be [batch, n_partials] = "
                f"{(frequencies_hz.shape[0], frequencies_hz.shape[-1])}"
            )
        phase = phase + initial_phase.double()[:, None, :]
    phase = torch.remainder(phase, 2 * math.pi).to(amplitudes.dtype)
    return torch.sum(amplitudes * torch.sin(phase), dim=-1)


def harmonic_synth(f0_hz: torch.Tensor, amplitudes: torch.Tensor, n_samples: int, sample_rate: float) -> torch.Tensor:
    """Render harmonic tones from frame-rate f0 and harmonic amplitudes.

    Args:
        f0_hz: fundamental frequency ``[batch, n_frames]``, Hz, > 0.
        amplitudes: harmonic amplitudes ``[batch, n_frames, n_harmonics]``, linear, >= 0;
            column ``k - 1`` drives harmonic ``k f0``.
        n_samples: output length, a multiple of ``n_frames`` (4096 in the paper, 16 frames).
        sample_rate: Hz (16000 in the paper).

    Returns:
        audio ``[batch, n_samples]`` (no output normalisation).
    """
    check_tensor("f0_hz", f0_hz, ndim=2, layout="[batch, n_frames]", positive=True)
    check_tensor("amplitudes", amplitudes, ndim=3, layout="[batch, n_frames, n_harmonics]", nonnegative=True)
    check_int("n_samples", n_samples, minimum=1)
    check_positive_number("sample_rate", sample_rate)
    if amplitudes.shape[:2] != f0_hz.shape:
        raise ValueError(
            f"`amplitudes` {tuple(amplitudes.shape)} must be [batch, n_frames, n_harmonics] with "
            f"batch and n_frames matching `f0_hz` {tuple(f0_hz.shape)}"
        )
    n_harmonics = amplitudes.shape[-1]
    ratios = torch.arange(1, n_harmonics + 1, dtype=f0_hz.dtype, device=f0_hz.device)
    amplitudes = remove_above_nyquist(f0_hz[..., None] * ratios, amplitudes, sample_rate)
    amp_env = upsample_with_windows(amplitudes, n_samples)  # [B, N, H]
    f0_env = resample_linear(f0_hz[..., None], n_samples)  # [B, N, 1]
    freq_env = f0_env * ratios  # [B, N, H]
    amp_env = remove_above_nyquist(freq_env, amp_env, sample_rate)
    # harmonic k's cumulative phase is k times the fundamental's: one cumsum instead of H (the
    # same sum as oscillator_bank(freq_env, amp_env, sample_rate), up to rounding). The
    # fundamental's phase is accumulated and wrapped to [0, 2 pi) in float64; k times the wrapped
    # phase is the same angle modulo 2 pi and stays below 2 pi H, small enough for float32.
    fundamental = torch.cumsum((2 * math.pi / sample_rate) * f0_env.double(), dim=1)  # [B, N, 1]
    fundamental = torch.remainder(fundamental, 2 * math.pi).to(amp_env.dtype)
    return torch.sum(amp_env * torch.sin(fundamental * ratios.to(amp_env.dtype)), dim=-1)


class HarmonicSynth(nn.Module):
    """Module wrapper around :func:`harmonic_synth` with fixed output length and sample rate."""

    def __init__(self, n_samples: int = N_SAMPLES, sample_rate: int = SAMPLE_RATE):
        super().__init__()
        self.n_samples = check_int("n_samples", n_samples, minimum=1)
        self.sample_rate = check_int("sample_rate", sample_rate, minimum=1)

    def forward(self, f0_hz: torch.Tensor, amplitudes: torch.Tensor) -> torch.Tensor:
        """``f0_hz [batch, n_frames]`` Hz, ``amplitudes [batch, n_frames, n_harmonics]`` → ``[batch, n_samples]``."""
        return harmonic_synth(f0_hz, amplitudes, self.n_samples, self.sample_rate)
