"""Spectral front ends: windows, STFT magnitudes, bin positions, pitch-unit maps and the CQT.

Conventions follow the reference implementation (docs/method.md#method-cqt, #method-stft):

- STFT frames are **not centred**; the signal is zero-padded at the end so that
  ``n_frames = ceil(n_samples / hop_length)`` (TensorFlow's ``pad_end=True``); ``torch.stft``
  is called with ``normalized=True`` so magnitudes are scaled by ``n_fft ** -0.5``.
- Windows are periodic (DFT-even), as ``scipy.signal.get_window`` returns them.
- Frequencies map to MIDI with 0 Hz sent to MIDI 0, and to a "unit" position that is linear in
  MIDI between ``fmin`` and ``fmax`` (the encoder's log-frequency grid).
- The CQT is nnAudio's ``CQT1992v2`` (time-domain, Hann kernels, L1 norm, librosa scaling),
  centred with zero padding, 3 bins per semitone from 32.7 Hz: 285 bins at 16 kHz.

Layouts: audio ``[batch, n_samples]``; spectrograms ``[batch, n_frames, n_bins]``.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import torch
from torch import nn
from torch.autograd import forward_ad

from .constants import CQT_BINS_PER_SEMITONE, CQT_FMIN_HZ, CQT_HOP_LENGTH, SAMPLE_RATE
from .validation import check_bool, check_choice, check_int, check_positive_number, check_sample_rate, check_tensor

__all__ = [
    "CQT",
    "CQT_IMPLEMENTATION",
    "StftSetting",
    "bin_positions",
    "complex_stft",
    "cqt_frequencies",
    "cqt_n_bins",
    "get_window",
    "hz_to_midi",
    "hz_to_unit",
    "midi_to_hz",
    "n_stft_frames",
    "rfft_frequencies",
    "stft_magnitude",
    "subtract_noise_floor",
    "unit_to_hz",
]

# Coefficients of the 5-term flat-top window (D'Antona & Ferrero), as in scipy.signal.windows.flattop.
_FLATTOP_COEFFICIENTS = (0.21557895, 0.41663158, 0.277263158, 0.083578947, 0.006947368)
WINDOWS = ("hann", "flattop")


# --------------------------------------------------------------------------------------------
# Windows and STFT


@functools.lru_cache(maxsize=64)
def _window(name: str, n_fft: int, dtype: torch.dtype, device: str) -> torch.Tensor:
    if name == "hann":
        return torch.hann_window(n_fft, periodic=True, dtype=dtype, device=device)
    # periodic generalised cosine window: sum_k (-1)^k a_k cos(2 pi k n / N)
    n = torch.arange(n_fft, dtype=torch.float64)
    w = torch.zeros(n_fft, dtype=torch.float64)
    for k, a in enumerate(_FLATTOP_COEFFICIENTS):
        w += (-1) ** k * a * torch.cos(2 * math.pi * k * n / n_fft)
    return w.to(dtype=dtype, device=device)


def get_window(name: str, n_fft: int, dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """Periodic analysis window ``[n_fft]``: ``"hann"`` or ``"flattop"`` (5-term, as scipy)."""
    check_choice("window", name, WINDOWS)
    check_int("n_fft", n_fft, minimum=2)
    return _window(name, n_fft, dtype, str(device or "cpu")).clone()  # callers may modify it


def n_stft_frames(n_samples: int, hop_length: int) -> int:
    """Number of frames with end padding: ``ceil(n_samples / hop_length)``."""
    return -(-n_samples // hop_length)


class StftSetting(NamedTuple):
    """One STFT as the losses take it (:func:`complex_stft`): FFT size, hop, window, end padding."""

    n_fft: int
    hop_length: int
    window: str = "hann"
    pad_end: bool = True


def _padded_for_stft(audio: torch.Tensor, n_fft: int, hop_length: int, window: str, pad_end: bool) -> torch.Tensor:
    """:func:`complex_stft`'s arguments checked, and ``audio`` zero-padded at the end when ``pad_end``."""
    check_tensor("audio", audio, ndim=2, layout="[batch, n_samples]")
    check_int("n_fft", n_fft, minimum=2)
    check_int("hop_length", hop_length, minimum=1)
    check_choice("window", window, WINDOWS)
    check_bool("pad_end", pad_end)
    n_samples = audio.shape[-1]
    if not pad_end and n_samples < n_fft:
        raise ValueError(f"`audio` has {n_samples} samples, fewer than n_fft={n_fft}: no complete frame")
    n_frames = n_stft_frames(n_samples, hop_length)
    pad = max(0, n_fft + hop_length * (n_frames - 1) - n_samples) if pad_end else 0
    return nn.functional.pad(audio, (0, pad)) if pad else audio


def _stft(audio: torch.Tensor, n_fft: int, hop_length: int, window: torch.Tensor) -> torch.Tensor:
    """``torch.stft`` as the reference takes it (not centred, normalised): ``[batch, n_bins, n_frames]``."""
    return torch.stft(
        audio,
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=n_fft,
        window=window,
        center=False,
        normalized=True,
        return_complex=True,
    )


def complex_stft(
    audio: torch.Tensor, n_fft: int, hop_length: int, window: str = "hann", pad_end: bool = True
) -> torch.Tensor:
    """Normalised complex STFT as the reference computes it; :func:`stft_magnitude` is its modulus.

    With ``pad_end`` (the reference), the signal is zero-padded at the end by
    ``n_fft + hop_length * (n_frames - 1) - n_samples`` samples with
    ``n_frames = ceil(n_samples / hop_length)``: the last frames straddle the end of the signal,
    whose hard cut leaks energy across the whole spectrum. Without it, only complete frames are
    kept: ``n_frames = 1 + (n_samples - n_fft) // hop_length``. Frames are not centred; the DFT
    is scaled by ``n_fft ** -0.5`` (``normalized=True``). The transform is linear in ``audio``:
    the amplitude-optimal landscapes of notebook 07 (:mod:`sot_utils.study.traps`) mix the
    transforms of single harmonics instead of transforming each mixture.

    Args:
        audio: waveforms ``[batch, n_samples]``.
        n_fft: FFT size (= window length), samples.
        hop_length: hop between frames, samples.
        window: ``"hann"`` or ``"flattop"`` (periodic).
        pad_end: zero-pad the end (reference) or keep complete frames only.

    Returns:
        complex ``[batch, n_frames, n_fft // 2 + 1]``.
    """
    audio = _padded_for_stft(audio, n_fft, hop_length, window, pad_end)
    return _stft(audio, n_fft, hop_length, _window(window, n_fft, audio.dtype, str(audio.device))).transpose(-1, -2)


def _modulus(spectrum: torch.Tensor) -> torch.Tensor:
    """``spectrum.abs()``; for complex64 as ``hypot(re, im)``, bit for bit the same values and about 2x
    faster on a CPU (for complex128 the two differ in the last bit, so ``abs`` stays). Not for
    autodiff: hypot's derivative at 0 is NaN where abs's is 0."""
    if spectrum.dtype == torch.complex64:
        return torch.hypot(spectrum.real, spectrum.imag)
    return spectrum.abs()


class _StftMagnitude(torch.autograd.Function):
    """``|STFT|`` with a backward pass written out: the same values as autograd through
    ``torch.stft(...).abs()`` (to float rounding), about 1.6x faster forward + backward for the six
    scales of the MSS loss (104 tones of 4096 samples, one thread).

    For ``X_k = c sum_n y_n e^{-2 pi i k n / N}`` (``c = N^-1/2``, ``y`` a windowed frame) and an
    incoming gradient ``g_k`` on ``|X_k|``, ``G_k = g_k X_k / |X_k|`` (0 where ``X_k = 0``, as
    ``torch.sgn``) and ``dL/dy_n = c Re sum_{k=0}^{N/2} G_k e^{2 pi i k n / N}``: one inverse real FFT
    of ``G`` with its first and Nyquist bins doubled, scaled by ``c / 2`` and unnormalised. The frames'
    gradients are multiplied by the window and overlap-added (by hop-sized blocks when the hop
    divides ``N``), instead of autograd's complex FFT, ``sgn`` and scatter-add passes.
    """

    @staticmethod
    def forward(ctx, audio, n_fft, hop_length, window):
        spectrum = _stft(audio, n_fft, hop_length, window)
        magnitude = _modulus(spectrum)
        ctx.save_for_backward(spectrum, magnitude, window)
        ctx.n_samples, ctx.n_fft, ctx.hop_length = audio.shape[-1], n_fft, hop_length
        return magnitude.transpose(-1, -2)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        spectrum, magnitude, window = ctx.saved_tensors
        n_fft, hop = ctx.n_fft, ctx.hop_length
        weights = torch.where(magnitude > 0, grad.transpose(-1, -2) / magnitude, 0.0) * spectrum
        weights[:, 0] *= 2
        if n_fft % 2 == 0:
            weights[:, -1] *= 2
        frames = torch.fft.irfft(weights, n=n_fft, dim=1, norm="forward").transpose(1, 2)  # [B, F, N]
        frames = frames * (window * (0.5 / math.sqrt(n_fft)))
        batch, n_frames, _ = frames.shape
        if n_fft % hop == 0:
            blocks = n_fft // hop
            parts = frames.reshape(batch, n_frames, blocks, hop)
            audio = frames.new_zeros(batch, n_frames + blocks - 1, hop)
            for block in range(blocks):
                audio[:, block : block + n_frames] += parts[:, :, block]
            audio = audio.reshape(batch, -1)
        else:
            length = (n_frames - 1) * hop + n_fft
            audio = nn.functional.fold(frames.transpose(1, 2), (1, length), (1, n_fft), stride=(1, hop))
            audio = audio.reshape(batch, length)
        return nn.functional.pad(audio, (0, ctx.n_samples - audio.shape[-1])), None, None, None


def stft_magnitude(
    audio: torch.Tensor, n_fft: int, hop_length: int, window: str = "hann", pad_end: bool = True
) -> torch.Tensor:
    """Normalised STFT magnitude as the reference computes it: ``|complex_stft(...)|`` (same arguments).

    When a gradient is recorded (``audio.requires_grad``), the backward pass is
    :class:`_StftMagnitude`'s (the same gradient, faster); under forward-mode autodiff (a tangent on
    ``audio``) autograd's through ``abs``; with no derivative at all, :func:`_modulus`. The values are
    the same in every case.

    Returns:
        magnitudes ``[batch, n_frames, n_fft // 2 + 1]``.
    """
    if not (isinstance(audio, torch.Tensor) and audio.requires_grad and torch.is_grad_enabled()):
        spectrum = complex_stft(audio, n_fft, hop_length, window, pad_end)
        if forward_ad.unpack_dual(audio).tangent is not None:
            # forward-mode autodiff (the explorers' curves): abs's derivative is 0 at 0, hypot's NaN
            return spectrum.abs()
        return _modulus(spectrum)
    audio = _padded_for_stft(audio, n_fft, hop_length, window, pad_end)
    window_tensor = _window(window, n_fft, audio.dtype, str(audio.device))
    return _StftMagnitude.apply(audio, n_fft, hop_length, window_tensor)


def subtract_noise_floor(spectra: torch.Tensor, factor: float) -> torch.Tensor:
    """Soft-threshold spectra at a multiple of each frame's median bin (spectral subtraction).

    ``max(S - factor * median_k S, 0)`` per frame. A harmonic tone occupies few bins, so the
    median bin of a noisy frame estimates the level of a flat (white) noise floor; subtracting a
    few times that level removes most of the floor's mass, which a transport cost would otherwise
    have to move, and leaves the partials (a remedy the reference code's README suggests for
    SOT's sensitivity to noise). A coloured floor (pink noise) is only partly removed.

    Args:
        spectra: non-negative spectra ``[..., n_bins]`` (power or magnitude).
        factor: multiple of the median subtracted, > 0.

    Returns:
        ``[..., n_bins]``, non-negative.
    """
    check_tensor("spectra", spectra, min_ndim=1, layout="[..., n_bins]", nonnegative=True)
    check_positive_number("factor", factor)
    floor = spectra.median(dim=-1, keepdim=True).values  # lower middle value for an even bin count
    return torch.clamp(spectra - factor * floor, min=0.0)


def rfft_frequencies(n_fft: int, sample_rate: float = SAMPLE_RATE) -> torch.Tensor:
    """Centre frequencies of the ``n_fft // 2 + 1`` STFT bins, Hz (float64)."""
    check_int("n_fft", n_fft, minimum=2)
    check_positive_number("sample_rate", sample_rate)
    return torch.fft.rfftfreq(n_fft, d=1.0 / sample_rate, dtype=torch.float64)


# --------------------------------------------------------------------------------------------
# Frequency scales


def hz_to_midi(frequency_hz: torch.Tensor) -> torch.Tensor:
    """MIDI note number ``12 log2(f / 440) + 69``; 0 Hz (and below) maps to MIDI 0 as in DDSP."""
    f = torch.as_tensor(frequency_hz)
    safe = torch.where(f > 0, f, torch.ones_like(f))
    return torch.where(f > 0, 12.0 * torch.log2(safe / 440.0) + 69.0, torch.zeros_like(f))


def midi_to_hz(midi: torch.Tensor) -> torch.Tensor:
    """Frequency in Hz of a (fractional) MIDI note number."""
    return 440.0 * 2.0 ** ((torch.as_tensor(midi) - 69.0) / 12.0)


def hz_to_unit(frequency_hz: torch.Tensor, fmin_hz: float, fmax_hz: float) -> torch.Tensor:
    """Position on the log-frequency grid: 0 at ``fmin_hz``, 1 at ``fmax_hz``, linear in MIDI.

    Not clipped: 0 Hz maps to MIDI 0, i.e. below 0 (≈ -0.2535 for the default CQT range).
    """
    lo, hi = _midi_float(fmin_hz), _midi_float(fmax_hz)
    return (hz_to_midi(frequency_hz) - lo) / (hi - lo)


def unit_to_hz(unit: torch.Tensor, fmin_hz: float, fmax_hz: float) -> torch.Tensor:
    """Inverse of :func:`hz_to_unit`: Hz for a position that is linear in MIDI."""
    lo, hi = _midi_float(fmin_hz), _midi_float(fmax_hz)
    return midi_to_hz(lo + torch.as_tensor(unit) * (hi - lo))


def _midi_float(frequency_hz: float) -> float:
    check_positive_number("frequency_hz", frequency_hz)
    return 12.0 * math.log2(frequency_hz / 440.0) + 69.0


FREQUENCY_SCALES = ("linear", "log")


def bin_positions(
    n_fft: int,
    sample_rate: float = SAMPLE_RATE,
    scale: str = "linear",
    fmin_hz: float | None = None,
    fmax_hz: float | None = None,
) -> torch.Tensor:
    """Positions of the STFT bins used as the ground metric of the transport loss, ``[n_bins]``.

    - ``"linear"``: ``f / (sample_rate / 2)``, i.e. DC at 0 and Nyquist at 1.
    - ``"log"``: :func:`hz_to_unit` between ``fmin_hz`` and ``fmax_hz`` (default: the CQT bin
      range, 32.70-7750.68 Hz, the same grid as the f0 decoder). DC maps to MIDI 0 as in the
      reference; bins between 0 and 8.18 Hz (MIDI < 0, only for ``n_fft`` > 1956 at 16 kHz) are
      also clamped to MIDI 0, so that the grid stays non-decreasing (the reference would place
      them below DC). No paper group hits this case: SOT-512-LogF's first bin is 31.25 Hz.

    Returned in float64; cast to the spectrum's dtype where used.
    """
    check_choice("scale", scale, FREQUENCY_SCALES)
    freqs = rfft_frequencies(n_fft, sample_rate)
    if scale == "linear":
        if fmin_hz is not None or fmax_hz is not None:
            raise ValueError("`fmin_hz`/`fmax_hz` only apply to scale='log'")
        return freqs / (sample_rate / 2)
    cqt_f = cqt_frequencies()
    lo = float(cqt_f[0]) if fmin_hz is None else fmin_hz
    hi = float(cqt_f[-1]) if fmax_hz is None else fmax_hz
    midi = torch.clamp(hz_to_midi(freqs), min=0.0)
    return (midi - _midi_float(lo)) / (_midi_float(hi) - _midi_float(lo))


# --------------------------------------------------------------------------------------------
# CQT


def cqt_n_bins(
    sample_rate: float = SAMPLE_RATE,
    fmin_hz: float = CQT_FMIN_HZ,
    bins_per_semitone: int = CQT_BINS_PER_SEMITONE,
) -> int:
    """Bins up to Nyquist in whole semitones: ``bps * floor(12 log2((sr/2) / fmin))`` (285)."""
    return bins_per_semitone * int(math.floor(12 * math.log2(sample_rate / 2 / fmin_hz)))


def cqt_frequencies(
    n_bins: int | None = None,
    fmin_hz: float = CQT_FMIN_HZ,
    bins_per_semitone: int = CQT_BINS_PER_SEMITONE,
) -> torch.Tensor:
    """Centre frequencies of the CQT bins, Hz ``[n_bins]`` (float64): ``fmin 2^(k / (12 bps))``."""
    n_bins = cqt_n_bins(fmin_hz=fmin_hz, bins_per_semitone=bins_per_semitone) if n_bins is None else n_bins
    k = torch.arange(n_bins, dtype=torch.float64)
    return fmin_hz * 2.0 ** (k / (12 * bins_per_semitone))


CQT_IMPLEMENTATION = "octave-matmul"
"""How :class:`CQT` computes its sums (its outputs differ from another order's in float rounding):
feature caches record it and are rebuilt when it changes."""


class CQT(nn.Module):
    """Linear-magnitude constant-Q transform, the encoder's input (docs/method.md#method-cqt).

    nnAudio's ``CQT1992v2`` with the paper's settings (its kernels: Hann, ``filter_scale`` 1, L1
    kernel norm, librosa output scaling; centred frames with zero padding, hop 256), computed
    faster: nnAudio convolves the signal with every bin's 32768-tap window, most of whose taps
    are zero (a bin's kernel spans about ``Q sr / f`` samples: 25,169 at 32.7 Hz, 111 at 7.75 kHz).
    Here each octave of bins multiplies the frames by its kernels over the taps they cover, one
    matrix product per octave: the same sums in another order (equal to nnAudio's output up to
    float rounding, tested), 11.9x faster on one CPU thread for 64 tones (``benchmarks/bench_cqt.py``).
    ``transform`` is the nnAudio module itself.
    The training code still computes it once per dataset and caches it.

    Args:
        sample_rate: Hz.
        n_bins: number of bins; default fills the range up to Nyquist (285 at 16 kHz).
        fmin_hz: lowest bin, Hz.
        bins_per_semitone: 3 in the paper (36 per octave).
        hop_length: samples between frames.
    """

    def __init__(
        self,
        sample_rate: int = SAMPLE_RATE,
        n_bins: int | None = None,
        fmin_hz: float = CQT_FMIN_HZ,
        bins_per_semitone: int = CQT_BINS_PER_SEMITONE,
        hop_length: int = CQT_HOP_LENGTH,
    ):
        super().__init__()
        from nnAudio.features.cqt import CQT1992v2  # heavy import, deferred

        check_int("sample_rate", sample_rate, minimum=1)
        check_int("bins_per_semitone", bins_per_semitone, minimum=1)
        check_int("hop_length", hop_length, minimum=1)
        check_positive_number("fmin_hz", fmin_hz)
        self.sample_rate = sample_rate
        self.n_bins = cqt_n_bins(sample_rate, fmin_hz, bins_per_semitone) if n_bins is None else n_bins
        check_int("n_bins", self.n_bins, minimum=1)
        self.hop_length = hop_length
        self.register_buffer("frequencies", cqt_frequencies(self.n_bins, fmin_hz, bins_per_semitone), persistent=False)
        if float(self.frequencies[-1]) >= sample_rate / 2:
            raise ValueError(
                f"`n_bins`={self.n_bins} puts the top CQT bin at {float(self.frequencies[-1]):.1f} Hz, "
                f"at or above Nyquist ({sample_rate / 2} Hz)"
            )
        self.transform = CQT1992v2(
            sr=sample_rate,
            hop_length=hop_length,
            fmin=fmin_hz,
            n_bins=self.n_bins,
            bins_per_octave=12 * bins_per_semitone,
            center=True,
            pad_mode="constant",
            output_format="Magnitude",
            verbose=False,
        )
        # Each bin's kernel fills only the middle of the 32768-sample window (a bin of frequency f:
        # about Q sr / f samples). Bins are taken an octave at a time, each octave over the span of
        # taps its kernels cover: the same sums as nnAudio's strided convolution, as matrix products.
        real, imaginary = self.transform.cqt_kernels_real[:, 0], self.transform.cqt_kernels_imag[:, 0]
        taps = torch.arange(real.shape[-1])
        nonzero = (real != 0) | (imaginary != 0)
        first = torch.where(nonzero, taps, real.shape[-1]).min(dim=-1).values
        last = torch.where(nonzero, taps, -1).max(dim=-1).values
        self._octaves = []
        per_octave = 12 * bins_per_semitone
        for k, start in enumerate(range(0, self.n_bins, per_octave)):
            bins = slice(start, min(start + per_octave, self.n_bins))
            lo, hi = int(first[bins].min()), int(last[bins].max()) + 1
            kernel = torch.cat([real[bins, lo:hi], -imaginary[bins, lo:hi]])
            self.register_buffer(f"_kernel_{k}", kernel.T.contiguous(), persistent=False)  # [taps, 2 * bins]
            self._octaves.append((lo, hi))

    def n_frames(self, n_samples: int) -> int:
        """Frames for a signal of ``n_samples``: ``1 + n_samples // hop_length`` (centred)."""
        return 1 + n_samples // self.hop_length

    def forward(self, audio: torch.Tensor, sample_rate: int | None = None) -> torch.Tensor:
        """CQT magnitudes.

        Args:
            audio: waveforms ``[batch, n_samples]`` at ``self.sample_rate``. The paper feeds
                ``x[:, :-1]`` (4095 samples) so that a 4096-sample example gives 16 frames,
                one per synthesizer control frame.
            sample_rate: optional, checked against ``self.sample_rate``.

        Returns:
            ``[batch, n_frames, n_bins]`` with ``n_frames = 1 + n_samples // hop_length``.
        """
        check_tensor("audio", audio, ndim=2, layout="[batch, n_samples]")
        check_sample_rate("sample_rate", sample_rate, self.sample_rate)
        half = self.transform.kernel_width // 2
        padded = nn.functional.pad(audio, (half, half))  # centred frames, zero padding
        n_frames = self.n_frames(audio.shape[-1])
        magnitudes = []
        for k, (lo, hi) in enumerate(self._octaves):
            kernel = getattr(self, f"_kernel_{k}").to(audio.dtype)
            # frame t covers padded[t * hop + lo : t * hop + hi]
            frames = padded[:, lo:].unfold(-1, hi - lo, self.hop_length)[:, :n_frames]  # [batch, n_frames, taps]
            parts = frames @ kernel  # [batch, n_frames, 2 * bins]: real parts, then imaginary parts
            real, imaginary = parts.chunk(2, dim=-1)
            magnitudes.append(torch.sqrt(real.pow(2) + imaginary.pow(2)))
        # nnAudio's "librosa" output scaling, sqrt of each kernel's length
        return torch.cat(magnitudes, dim=-1) * torch.sqrt(self.transform.lenghts).to(audio.dtype)
