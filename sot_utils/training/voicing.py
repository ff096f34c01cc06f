"""The voicing decision: is a signal a pitched tone the models were trained for?

Model-independent cues from the signal alone, so that :func:`sot_utils.training.estimate.estimate_f0`
reports silence, noise and out-of-range tones as unvoiced, with the reason, instead of the f0 a
model gives for anything.

**How noise is told from tones: the tonal share.** A pitched tone puts its power into narrow
spectral peaks; noise spreads it over every bin. Each frame's power spectrum (Hann, 2048 samples:
7.8 Hz bins, which resolve the partials of a 40 Hz tone) is averaged over 3 neighbouring frames; a
bin belongs to a peak if it stands :data:`~sot_utils.constants.VOICING_PEAK_DB` (10 dB) above its
local floor, the larger of the geometric means of the bins 2 to 24 below it and 2 to 24 above it
(the larger side, so that the steep low end of pink and brown noise is no peak). The **tonal
share** is the fraction of the power in :data:`~sot_utils.constants.VOICING_BAND_HZ` that lies in
peaks: about ``SNR / (1 + SNR)`` for a tone in noise (0.9 at 10 dB, 0.5 at 0 dB), 0.16 at most
in any frame of white, pink or brown noise measured. An example's tonal share is the median over
its frames; it is noise below :data:`~sot_utils.constants.VOICING_MIN_TONAL_SHARE` (0.5: most of the
power in peaks), which keeps 99.9-100 % of synthetic tones, sawtooths and real notes voiced at
10 dB SNR in white or pink noise and every noise example unvoiced (notebook 06).

The earlier criterion, spectral flatness above 0.01, was never measured against the SNR: a tone in
white noise has a flatness of about ``0.56 / (1 + SNR)``, so tones below about 17 dB SNR were
called noise, and a plain (aliased) sawtooth too, while brown noise (flatness 0.02) sat near the
threshold. No flatness threshold separates tones at 10 dB SNR (flatness about 0.05) from brown
noise; the tonal share does, at any level, since it is a ratio of powers. Measured on synthetic
tones, sawtooths, real notes and noise: :mod:`sot_utils.study.voicing_snr` (notebook 06).

Frames lie wholly inside the signal (no padding); :func:`voiced_frames` maps them onto the CQT's
centred frames. A 2048-sample frame is long: a frame is voiced while a loud enough part of its
128 ms holds the tone, so a tone's end is blurred by up to 4 frames (64 ms).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from ..constants import (
    CQT_HOP_LENGTH,
    SAMPLE_RATE,
    VOICING_BAND_HZ,
    VOICING_MAX_LEVEL_DROP_DB,
    VOICING_MIN_LEVEL_DB,
    VOICING_MIN_TONAL_SHARE,
    VOICING_PEAK_DB,
    VOICING_RANGE_HZ,
)
from ..validation import check_tensor

__all__ = [
    "VOICING_N_FFT",
    "FrameStatistics",
    "Voicing",
    "frame_statistics",
    "rms_level_db",
    "voiced_frames",
    "voiced_from_frames",
    "voicing",
    "voicing_from_frames",
]

VOICING_N_FFT = 2048  # 128 ms Hann frames: 7.8 Hz bins, 5 bins between the partials of a 40 Hz tone
FLOOR_BINS = 24  # a bin's floor on each side: bins 2-24 away (16-190 Hz), reaching past a low tone's next partials
MAIN_LOBE_BINS = 2  # a Hann peak's main lobe spans 2 bins on each side: not part of its own floor
SMOOTH_FRAMES = 3  # power averaged over 3 frames (hop 256): noise bins fluctuate less, a tone's do not
MAX_SHARE_BELOW = 0.5  # more than half the peak power below the trained range: "below"
MIN_SHARE_IN_RANGE = 0.01  # less than 1 % of it below the range's top: "above"
CHUNK_FRAMES = 1024  # frames analysed at once: bounds memory on long files
_EPS = 1e-20  # power floor before the logarithm: digital silence has no peaks


class Voicing(NamedTuple):
    """:func:`voicing`'s result, a 4-tuple ``(voiced, reasons, level_db, tonal_share)``.

    Attributes:
        voiced: ``[batch]`` bool.
        reasons: per example, ``""`` when voiced, else ``"silent"``, ``"noise"``,
            ``"below the trained range"`` or ``"above the trained range"``.
        level_db: ``[batch]`` RMS level of the 16 kHz signal, dB re full scale (DC removed).
        tonal_share: ``[batch]`` in ``[0, 1]``, median over frames of the share of power in
            spectral peaks (about 1: clean tones; noise below
            :data:`~sot_utils.constants.VOICING_MIN_TONAL_SHARE`, 0.5; noise alone measured at 0.02
            at most; 0: digital silence).
    """

    voiced: torch.Tensor
    reasons: list[str]
    level_db: torch.Tensor
    tonal_share: torch.Tensor


class FrameStatistics(NamedTuple):
    """Per-frame cues, each ``[batch, n_frames]``, of the frames that lie wholly inside the signal:
    frame ``j`` spans samples ``256 j`` to ``256 j + 2047`` (centred at ``1024 + 256 j``), and
    ``n_frames = 1 + (n_samples - 2048) // 256``.

    Attributes:
        level_db: RMS level of the Hann-windowed frame, dB re full scale.
        tonal_share: share of the band's power in spectral peaks, in ``[0, 1]``.
        peak_power: power at the peaks' maxima (a tone's power, up to the window's gain).
        peak_power_low: the part of ``peak_power`` at peaks below the trained range's low end.
        peak_power_in_range: the part of ``peak_power`` at peaks below its high end.
    """

    level_db: torch.Tensor
    tonal_share: torch.Tensor
    peak_power: torch.Tensor
    peak_power_low: torch.Tensor
    peak_power_in_range: torch.Tensor


def rms_level_db(audio: torch.Tensor) -> torch.Tensor:
    """RMS level of ``audio [batch, n_samples]`` (any sample rate), DC removed, dB re full scale ``[batch]``.

    The level :func:`voicing` compares with ``input_level_db``: compute that one with this function
    too, before resampling, so that a DC offset counts in neither.
    """
    centred = audio - audio.mean(dim=-1, keepdim=True)  # DC is not a tone
    return 10 * torch.log10(centred.pow(2).mean(dim=-1).clamp(min=1e-30))


def frame_power(audio: torch.Tensor) -> torch.Tensor:
    """Power spectra ``[batch, n_frames, 1025]`` of the Hann frames of 2048 samples, every 256, that
    lie wholly inside the signal (mean removed): ``n_frames = 1 + (n_samples - 2048) // 256``.

    No frame reaches past the ends: zero padding would cut a tone off inside the window and smear
    it over every bin, and a reflected end reverses a sawtooth's waveform, splitting each partial.
    """
    centred = audio - audio.mean(dim=-1, keepdim=True)
    window = torch.hann_window(VOICING_N_FFT, dtype=audio.dtype, device=audio.device)
    spectrum = torch.stft(centred, VOICING_N_FFT, CQT_HOP_LENGTH, window=window, center=False, return_complex=True)
    return spectrum.abs().pow(2).transpose(-1, -2)


def frame_level_db(power: torch.Tensor) -> torch.Tensor:
    """RMS level of each Hann-windowed frame, dB, from its one-sided power spectrum ``[..., 1025]``
    (Parseval), less its 2 lowest bins (below 16 Hz): a frame's own DC offset or drift is no sound."""
    weights = torch.full((power.shape[-1],), 2.0, dtype=power.dtype, device=power.device)
    weights[:MAIN_LOBE_BINS] = 0.0  # where a Hann window puts a constant (bins 0 and 1, nowhere else)
    weights[-1] = 1.0  # Nyquist appears once in the full spectrum
    window_energy = torch.hann_window(VOICING_N_FFT, dtype=power.dtype, device=power.device).pow(2).sum()
    mean_square = (power * weights).sum(dim=-1) / (VOICING_N_FFT * window_energy)
    return 10 * torch.log10(mean_square.clamp(min=1e-30))


def smooth_frames(power: torch.Tensor) -> torch.Tensor:
    """``power [batch, n_frames, n_bins]`` averaged over :data:`SMOOTH_FRAMES` neighbouring frames."""
    batch, n_frames, n_bins = power.shape
    flat = power.transpose(1, 2).reshape(batch * n_bins, 1, n_frames)
    pad = SMOOTH_FRAMES // 2
    smooth = torch.nn.functional.avg_pool1d(flat, SMOOTH_FRAMES, 1, pad, count_include_pad=False)
    return smooth.reshape(batch, n_bins, n_frames).transpose(1, 2)


def _side_mean(values: torch.Tensor, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of ``values [..., n]`` over bins ``k + start .. k + stop`` (clipped to the spectrum), and
    whether that range holds any bin; a cumulative sum, so the cost does not grow with the width."""
    n = values.shape[-1]
    cumulative = torch.nn.functional.pad(values.cumsum(dim=-1), (1, 0))
    k = torch.arange(n, device=values.device)
    lower, upper = (k + start).clamp(0, n), (k + stop + 1).clamp(0, n)
    count = (upper - lower).clamp(min=0)
    total = cumulative[..., upper] - cumulative[..., lower]
    return total / count.clamp(min=1), count > 0


def peak_bins(power: torch.Tensor) -> torch.Tensor:
    """``[..., n_bins]`` bool: the bins of ``power [..., n_bins]`` that stand :data:`VOICING_PEAK_DB` above their floor.

    The floor is the larger of the two sides' geometric means (bins 2 to 24 below, 2 to 24 above):
    on a falling noise spectrum (pink, brown) the lower side is the higher one, so a bin must
    stand out from both sides to count. A bin with no bins on one side is no peak.
    """
    log_power = (power + _EPS).log()
    below, has_below = _side_mean(log_power, -FLOOR_BINS, -MAIN_LOBE_BINS)
    above, has_above = _side_mean(log_power, MAIN_LOBE_BINS, FLOOR_BINS)
    floor = torch.maximum(below, above)
    return (log_power > floor + VOICING_PEAK_DB * math.log(10) / 10) & has_below & has_above


def peak_frequencies(power: torch.Tensor) -> torch.Tensor:
    """Frequency of each bin of ``power [..., n_bins]`` refined by a parabola through the log power
    of it and its two neighbours, Hz ``[..., n_bins]`` (meaningful at local maxima): a bin is 7.8 Hz
    wide, too coarse to place a tone against the trained range's low end (37.75 Hz)."""
    log_power = (power + _EPS).log()
    left = torch.cat([log_power[..., :1], log_power[..., :-1]], dim=-1)  # the edges are their own neighbours
    right = torch.cat([log_power[..., 1:], log_power[..., -1:]], dim=-1)
    curvature = left - 2 * log_power + right
    offset = torch.where(curvature < 0, 0.5 * (left - right) / curvature.clamp(max=-1e-12), 0.0).clamp(-0.5, 0.5)
    bins = torch.arange(power.shape[-1], device=power.device)
    return (bins + offset) * SAMPLE_RATE / VOICING_N_FFT


def _chunk_statistics(power: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Tonal share and peak powers of smoothed spectra ``[batch, n_frames, n_bins]``, each ``[batch, n_frames]``."""
    frequencies = torch.arange(power.shape[-1], device=power.device) * SAMPLE_RATE / VOICING_N_FFT
    band = (frequencies >= VOICING_BAND_HZ[0]) & (frequencies <= VOICING_BAND_HZ[1])
    in_peak = peak_bins(power)
    tonal_share = (power * (in_peak & band)).sum(dim=-1) / (power * band).sum(dim=-1).clamp(min=1e-30)
    # a peak's maximum stands for the whole peak (one tone, one frequency), wherever it lies: a
    # 25 Hz tone has its maximum below the band and only its main lobe's edge in it
    neighbours = torch.nn.functional.pad(power, (1, 1))
    maxima = in_peak & (power >= neighbours[..., :-2]) & (power > neighbours[..., 2:])
    peak_hz = peak_frequencies(power)
    peak_power = power * maxima
    low = (peak_power * (peak_hz < VOICING_RANGE_HZ[0])).sum(dim=-1)
    in_range = (peak_power * (peak_hz < VOICING_RANGE_HZ[1])).sum(dim=-1)
    return tonal_share, peak_power.sum(dim=-1), low, in_range


def frame_statistics(audio: torch.Tensor) -> FrameStatistics:
    """Per-frame voicing cues of ``audio [batch, n_samples]`` at 16 kHz (at least 2048 samples).

    Returns:
        :class:`FrameStatistics`, each ``[batch, 1 + (n_samples - 2048) // 256]``.
    """
    check_tensor("audio", audio, ndim=2, layout="[batch, n_samples]")
    if audio.shape[-1] < VOICING_N_FFT:
        raise ValueError(f"`audio` has {audio.shape[-1]} samples; voicing needs at least {VOICING_N_FFT}")
    power = frame_power(audio.float())
    smooth = smooth_frames(power)
    chunks = [_chunk_statistics(chunk) for chunk in smooth.split(CHUNK_FRAMES, dim=1)]
    share, peak, low, in_range = (torch.cat(parts, dim=1) for parts in zip(*chunks, strict=True))
    return FrameStatistics(frame_level_db(power), share, peak, low, in_range)


def _reason(level_db: float, input_level_db: float, tonal_share: float, low: float, in_range: float) -> str:
    """Why a signal is unvoiced, ``""`` if it is not; ``low`` and ``in_range`` are shares of the
    peak power below the trained range's low and high ends."""
    if input_level_db < VOICING_MIN_LEVEL_DB:
        return "silent"
    if input_level_db - level_db > VOICING_MAX_LEVEL_DROP_DB:
        return "above the trained range"  # resampling to 16 kHz removed almost all the power
    if level_db < VOICING_MIN_LEVEL_DB:
        return "silent"
    if tonal_share < VOICING_MIN_TONAL_SHARE:
        return "noise"
    if low > MAX_SHARE_BELOW:
        return "below the trained range"
    if in_range < MIN_SHARE_IN_RANGE:
        return "above the trained range"
    return ""


def voicing(audio: torch.Tensor, input_level_db: torch.Tensor | None = None) -> Voicing:
    """Is each example a pitched tone the models were trained for? Model-independent cues.

    Args:
        audio: ``[batch, n_samples]`` at 16 kHz, as given (not normalised), at least 2048
            samples (``estimate_f0`` gives at least 4096).
        input_level_db: optional ``[batch]`` dB re full scale, the RMS level of each example
            before it was resampled to 16 kHz, from :func:`rms_level_db`. A signal that lost more
            than :data:`~sot_utils.constants.VOICING_MAX_LEVEL_DROP_DB` (20 dB: 99 % of its power)
            in resampling lies above 8 kHz: "above the trained range", not "silent" (unless the
            input itself was below :data:`~sot_utils.constants.VOICING_MIN_LEVEL_DB`).

    Returns:
        :class:`Voicing` ``(voiced [batch] bool, reasons, level_db [batch], tonal_share [batch])``.
        An example is unvoiced if it is silent (RMS below
        :data:`~sot_utils.constants.VOICING_MIN_LEVEL_DB`), noise (median tonal share over frames
        below :data:`~sot_utils.constants.VOICING_MIN_TONAL_SHARE`), or its spectral peaks lie
        outside the trained range (:data:`~sot_utils.constants.VOICING_RANGE_HZ`: more than half
        their power below its low end, or less than 1 % below its high end).
    """
    return voicing_from_frames(frame_statistics(audio), rms_level_db(audio.float()), input_level_db)


def voicing_from_frames(
    frames: FrameStatistics, level_db: torch.Tensor, input_level_db: torch.Tensor | None = None
) -> Voicing:
    """:func:`voicing` from its parts: :func:`frame_statistics` and :func:`rms_level_db` of the 16 kHz
    audio (``[batch]`` dB), for callers that also want :func:`voiced_from_frames` from one analysis."""
    if input_level_db is None:
        input_level_db = level_db  # no resampling: nothing lost
    input_level_db = torch.as_tensor(input_level_db, dtype=level_db.dtype).reshape(level_db.shape)
    tonal_share = frames.tonal_share.median(dim=-1).values
    peak = frames.peak_power.sum(dim=-1).clamp(min=1e-30)
    low, in_range = frames.peak_power_low.sum(dim=-1) / peak, frames.peak_power_in_range.sum(dim=-1) / peak
    cues = zip(
        level_db.tolist(), input_level_db.tolist(), tonal_share.tolist(), low.tolist(), in_range.tolist(), strict=True
    )
    reasons = [_reason(*values) for values in cues]
    voiced = torch.tensor([not reason for reason in reasons], dtype=torch.bool)
    return Voicing(voiced, reasons, level_db, tonal_share)


def voiced_frames(audio: torch.Tensor) -> torch.Tensor:
    """Frame-by-frame voicing of ``audio [batch, n_samples]`` at 16 kHz (at least 2048 samples).

    Frame ``t`` is centred at ``t * 256`` samples, the CQT's frames (``1 + n_samples // 256`` of
    them, as :class:`sot_utils.spectral.CQT` gives), for a per-frame track. A frame is voiced by
    :func:`voicing`'s rules applied to the 2048 samples (128 ms) around its centre alone: their
    level (Hann-windowed RMS), tonal share and peaks' range. The 4 frames at each end, whose
    windows would reach past the signal, take the decision of the nearest frame inside it.

    Returns:
        ``[batch, 1 + n_samples // 256]`` bool.
    """
    return voiced_from_frames(frame_statistics(audio))


def voiced_from_frames(frames: FrameStatistics) -> torch.Tensor:
    """:func:`voiced_frames` from :func:`frame_statistics`: ``[batch, n_frames + 8]`` bool, one per CQT frame."""
    peak = frames.peak_power.clamp(min=1e-30)
    loud = frames.level_db >= VOICING_MIN_LEVEL_DB
    tonal = frames.tonal_share >= VOICING_MIN_TONAL_SHARE
    in_range = (frames.peak_power_low / peak <= MAX_SHARE_BELOW) & (
        frames.peak_power_in_range / peak >= MIN_SHARE_IN_RANGE
    )
    inside = loud & tonal & in_range
    # CQT frame t is centred at 256 t; the inside frame j at 1024 + 256 j: j = t - 4, clamped at the ends
    half = VOICING_N_FFT // CQT_HOP_LENGTH // 2
    nearest = (torch.arange(inside.shape[-1] + 2 * half, device=inside.device) - half).clamp(0, inside.shape[-1] - 1)
    return inside[:, nearest]
