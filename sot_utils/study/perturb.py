"""Perturbations of harmonic test tones, for robustness sweeps (notebook 06).

Two kinds:

- **on the audio**: additive noise at a given signal-to-noise ratio, white (flat power spectrum)
  or pink (power ``∝ 1/f``, as much energy per octave as white noise has per hertz);
- **on the tone itself**, re-rendered from its labels (f0, harmonic amplitudes) with an
  oscillator bank: inharmonicity (stretched partials of a stiff string, Fletcher 1964:
  ``f_k = k f0 sqrt(1 + B k^2)``), vibrato (a sinusoidal f0 modulation in cents) and random
  initial phases of the partials.

With every tone perturbation at zero, :func:`render_perturbed_tones` gives the decoder's own
stationary tones (:func:`sot_utils.training.data.render_stationary`) up to rounding, so a sweep starts from
the clean test split. Every random draw comes from a ``torch.Generator`` passed in, never from the
global RNG.

Units: Hz, samples, cents, dB; audio ``[batch, n_samples]``.
"""

from __future__ import annotations

import math

import torch

from ..synth import oscillator_bank, remove_above_nyquist
from ..validation import check_bool, check_choice, check_int, check_positive_number, check_tensor

__all__ = [
    "add_noise",
    "colored_noise",
    "frame_f0",
    "render_perturbed_tones",
    "stretched_partials",
    "vibrato_f0",
]

NOISE_COLORS = ("white", "pink")


def colored_noise(shape: tuple[int, int], color: str, generator: torch.Generator) -> torch.Tensor:
    """Gaussian noise ``[batch, n_samples]`` with unit power per example, white or pink.

    Pink noise is white noise shaped in the frequency domain by ``1/sqrt(f)`` (power ``1/f``);
    the DC bin is set to 0 so that the noise has zero mean.

    Args:
        shape: ``(batch, n_samples)``.
        color: ``"white"`` or ``"pink"``.
        generator: source of randomness.
    """
    check_choice("color", color, NOISE_COLORS)
    if len(shape) != 2:
        raise ValueError(f"`shape` must be (batch, n_samples), got {shape}")
    batch, n_samples = (check_int("shape", v, minimum=1) for v in shape)
    noise = torch.randn(batch, n_samples, generator=generator, dtype=torch.float64)
    if color == "pink":
        spectrum = torch.fft.rfft(noise, dim=-1)
        k = torch.arange(spectrum.shape[-1], dtype=torch.float64)
        gain = torch.zeros_like(k)
        gain[1:] = k[1:].rsqrt()
        noise = torch.fft.irfft(spectrum * gain, n=n_samples, dim=-1)
    noise = noise - noise.mean(dim=-1, keepdim=True)
    return (noise / noise.pow(2).mean(dim=-1, keepdim=True).sqrt()).float()


def add_noise(audio: torch.Tensor, snr_db: float, color: str, generator: torch.Generator) -> torch.Tensor:
    """Add white or pink Gaussian noise at a signal-to-noise ratio, per example.

    ``SNR = 10 log10(P_signal / P_noise)`` with ``P`` the mean square over the example, so every
    example gets its own noise level.

    Args:
        audio: ``[batch, n_samples]``, not silent.
        snr_db: dB (any real; 0 dB = as much noise power as signal power).
        color: ``"white"`` or ``"pink"``.
        generator: source of randomness.

    Returns:
        noisy audio ``[batch, n_samples]``.
    """
    check_tensor("audio", audio, ndim=2, layout="[batch, n_samples]")
    if not isinstance(snr_db, (int, float)) or not math.isfinite(snr_db):
        raise ValueError(f"`snr_db` must be a finite number (dB), got {snr_db!r}")
    power = audio.double().pow(2).mean(dim=-1, keepdim=True)
    if bool((power <= 0).any()):
        raise ValueError("`audio` has a silent example: a signal-to-noise ratio needs signal power > 0")
    noise = colored_noise(tuple(audio.shape), color, generator).double()
    scale = (power / 10 ** (snr_db / 10)).sqrt()
    return (audio.double() + scale * noise).to(audio.dtype)


def stretched_partials(n_harmonics: int, inharmonicity: float) -> torch.Tensor:
    """Frequency ratios ``f_k / f0 = k sqrt(1 + B k^2)`` of a stiff string, ``[n_harmonics]``.

    ``B = 0`` gives the harmonic series ``1, 2, 3, ...``. Typical pianos: ``B`` from about 1e-4
    (bass) to 1e-2 (top octave).
    """
    check_int("n_harmonics", n_harmonics, minimum=1)
    if not isinstance(inharmonicity, (int, float)) or not 0 <= inharmonicity < 1:
        raise ValueError(f"`inharmonicity` (B) must be a number in [0, 1), got {inharmonicity!r}")
    k = torch.arange(1, n_harmonics + 1, dtype=torch.float64)
    return k * torch.sqrt(1 + inharmonicity * k**2)


def vibrato_f0(
    f0_hz: torch.Tensor,
    n_samples: int,
    sample_rate: float,
    depth_cents: float,
    rate_hz: float,
    phase: torch.Tensor,
) -> torch.Tensor:
    """Instantaneous f0 with a sinusoidal vibrato, ``[batch, n_samples]`` Hz.

    ``f0(t) = f0 * 2^(depth / 1200 * sin(2 pi rate t + phase))``: the pitch swings ``depth`` cents
    either side of ``f0``.

    Args:
        f0_hz: centre frequencies ``[batch]``, Hz.
        n_samples: samples.
        sample_rate: Hz.
        depth_cents: peak deviation, cents, >= 0.
        rate_hz: modulation rate, Hz (> 0).
        phase: modulation phase per example ``[batch]``, radians.
    """
    check_tensor("f0_hz", f0_hz, ndim=1, layout="[batch]", positive=True)
    check_tensor("phase", phase, ndim=1, layout="[batch]")
    check_int("n_samples", n_samples, minimum=1)
    check_positive_number("sample_rate", sample_rate)
    check_positive_number("rate_hz", rate_hz)
    if not isinstance(depth_cents, (int, float)) or not 0 <= depth_cents <= 1200:
        raise ValueError(f"`depth_cents` must be a number in [0, 1200] cents, got {depth_cents!r}")
    t = torch.arange(n_samples, dtype=torch.float64) / sample_rate
    swing = torch.sin(2 * math.pi * rate_hz * t[None, :] + phase.double()[:, None])
    return f0_hz.double()[:, None] * 2.0 ** (depth_cents / 1200 * swing)


def frame_f0(f0_track_hz: torch.Tensor, n_frames: int) -> torch.Tensor:
    """The pitch of each of ``n_frames`` equal blocks of an f0 track: geometric mean, ``[batch, n_frames]`` Hz.

    The reference pitch of a frame of a tone with vibrato (the geometric mean is the mean in cents).

    Args:
        f0_track_hz: ``[batch, n_samples]`` Hz, ``n_samples`` a multiple of ``n_frames``.
        n_frames: blocks.
    """
    check_tensor("f0_track_hz", f0_track_hz, ndim=2, layout="[batch, n_samples]", positive=True)
    check_int("n_frames", n_frames, minimum=1)
    batch, n_samples = f0_track_hz.shape
    if n_samples % n_frames:
        raise ValueError(f"`f0_track_hz` has {n_samples} samples, not a multiple of `n_frames` = {n_frames}")
    blocks = f0_track_hz.double().log2().reshape(batch, n_frames, -1)
    return (2.0 ** blocks.mean(dim=-1)).to(f0_track_hz.dtype)


def render_perturbed_tones(
    f0_hz: torch.Tensor,
    amplitudes: torch.Tensor,
    n_samples: int,
    sample_rate: float,
    generator: torch.Generator,
    inharmonicity: float = 0.0,
    vibrato_cents: float = 0.0,
    vibrato_rate_hz: float = 5.5,
    random_phase: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Render stationary tones from their labels, with the tone perturbations.

    Partials at or above Nyquist (after stretching, at any instant of the vibrato) are silent,
    as in the decoder's synthesizer. With no perturbation the phase starts like the decoder's
    (``phi[0] = 2 pi f / sr``), so the clean tones equal the dataset's.

    Args:
        f0_hz: ``[batch]`` Hz (the vibrato's centre).
        amplitudes: ``[batch, n_harmonics]``, linear; column ``k - 1`` drives partial ``k``.
        n_samples: samples per tone.
        sample_rate: Hz.
        generator: draws the vibrato phases (uniform on [0, 2 pi), one per tone) and, with
            ``random_phase``, the partials' initial phases (uniform, one per partial).
        inharmonicity: stiffness ``B`` of :func:`stretched_partials`, 0 = harmonic.
        vibrato_cents: peak f0 deviation, cents; 0 = none.
        vibrato_rate_hz: vibrato rate, Hz.
        random_phase: start every partial at a random phase instead of the decoder's 0.

    Returns:
        ``(audio [batch, n_samples], f0 track [batch, n_samples] Hz)``: the f0 track is the
        reference pitch for frame-wise scores (:func:`frame_f0`).
    """
    check_tensor("f0_hz", f0_hz, ndim=1, layout="[batch]", positive=True)
    check_tensor("amplitudes", amplitudes, ndim=2, layout="[batch, n_harmonics]", nonnegative=True)
    if amplitudes.shape[0] != f0_hz.shape[0]:
        raise ValueError(f"`amplitudes` {tuple(amplitudes.shape)} and `f0_hz` {tuple(f0_hz.shape)} need the same batch")
    batch, n_harmonics = amplitudes.shape
    # drawn even when unused, so that a condition's randomness does not depend on the others
    vibrato_phase = 2 * math.pi * torch.rand(batch, generator=generator, dtype=torch.float64)
    partial_phase = 2 * math.pi * torch.rand(batch, n_harmonics, generator=generator, dtype=torch.float64)
    track = vibrato_f0(f0_hz, n_samples, sample_rate, vibrato_cents, vibrato_rate_hz, vibrato_phase)
    ratios = stretched_partials(n_harmonics, inharmonicity)
    frequencies = track[..., None] * ratios  # [B, N, H], float64
    amps = amplitudes.double()[:, None, :].expand(-1, n_samples, -1)
    peak = frequencies.amax(dim=1, keepdim=True)  # a partial crossing Nyquist is off for the whole tone
    amps = remove_above_nyquist(peak, amps, sample_rate)
    audio = oscillator_bank(
        frequencies, amps, sample_rate, partial_phase if check_bool("random_phase", random_phase) else None
    )
    return audio.to(amplitudes.dtype), track.to(f0_hz.dtype)
