"""f0 estimation with a trained encoder, for users' audio.

The encoder looks at one CQT frame at a time, so any signal of at least 4096 samples (16 kHz) is
analysed frame by frame (hop 256 samples, 16 ms); the example's f0 is the median over frames.

Every example also gets a **voicing decision** (:func:`voicing`), from the signal alone: silence
(RMS below -60 dBFS), noise (spectral flatness above 0.01) and tones outside the trained range
(40-1950 Hz, a semitone of margin) are reported as unvoiced with the reason, instead of an f0 the
model would give for anything. The encoder's own **confidence** (its probability mass within a
semitone of its peak) is reported beside it. Notebook 06 measures both on the synthetic test
tones, the real instrument notes and noise.

API: ``estimate_f0(checkpoint, audio, sample_rate)``; CLI:
``python -m sot_utils.training.estimate CHECKPOINT file.wav [file2.wav ...]`` (files read with
soundfile, multi-channel files mixed to mono; an unvoiced file, silent ones included, gets
"unvoiced (reason)"; a file that cannot be analysed (unreadable, too short, an implausible sample
rate) gets an error row, the others are still analysed, and the exit status is 1).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import torch
import torchaudio

from ..constants import (
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    N_SAMPLES,
    PEAK_LEVEL,
    SAMPLE_RATE,
)
from ..spectral import CQT
from ..validation import check_int, check_tensor
from .audio_file import MAX_SECONDS
from .checkpoint import load_model
from .voicing import voicing

MIN_SAMPLES = N_SAMPLES  # the training examples' length, at 16 kHz


@dataclass
class F0Estimate:
    """f0 of each example, its per-frame track, and whether the example is a pitched tone.

    Attributes:
        f0_hz: median over frames, ``[batch]`` Hz: the model's estimate, meaningful only where
            ``voiced`` is true.
        f0_frames_hz: per-frame estimates, ``[batch, n_frames]`` Hz (frame ``t`` centred at
            ``t * 256`` samples of the 16 kHz signal).
        voiced: ``[batch]`` bool, the voicing decision of :func:`voicing`.
        reason: per example, ``""`` when voiced, else why not (``"silent"``, ``"noise"``,
            ``"below the trained range"``, ``"above the trained range"``).
        confidence: ``[batch]`` in ``[0, 1]``: the encoder's f0 probability mass within a
            semitone of its peak, averaged over frames (1: one sharp peak; near 0: no preference).
            It describes the model, not the signal: a collapsed model is confident too.
        level_db: ``[batch]`` RMS level, dB re full scale, of the signal as given (DC removed).
        flatness: ``[batch]`` median spectral flatness (0: pure tones, about 0.56: white noise).
    """

    f0_hz: torch.Tensor
    f0_frames_hz: torch.Tensor
    voiced: torch.Tensor
    reason: list[str]
    confidence: torch.Tensor
    level_db: torch.Tensor
    flatness: torch.Tensor


def _check_audio(audio, sample_rate) -> torch.Tensor:
    if not isinstance(audio, torch.Tensor):
        raise ValueError(
            f"`audio` must be a torch.Tensor [batch, n_samples] or [n_samples], got {type(audio).__name__}"
        )
    if audio.ndim == 1:
        audio = audio[None]
    if audio.ndim != 2:
        raise ValueError(
            f"`audio` must be mono, [batch, n_samples] or [n_samples]; got shape {tuple(audio.shape)} "
            "(mix multi-channel audio to mono first, e.g. audio.mean(dim=channel_axis))"
        )
    if audio.shape[-1] <= 8 < audio.shape[0]:
        raise ValueError(
            f"`audio` has shape {tuple(audio.shape)}: this looks like [n_samples, channels] (soundfile's layout); "
            "pass audio.mean(dim=1) for mono, or audio.T for one example per channel"
        )
    check_tensor("audio", audio, ndim=2, layout="[batch, n_samples]")
    check_int("sample_rate", sample_rate, minimum=1)
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise ValueError(
            f"`sample_rate` must be in [{MIN_SAMPLE_RATE}, {MAX_SAMPLE_RATE}] Hz, got {sample_rate} "
            "(a file header with a wrong rate?)"
        )
    if audio.shape[-1] / sample_rate > MAX_SECONDS:
        raise ValueError(
            f"`audio` is {audio.shape[-1] / sample_rate:.0f} s long; at most {MAX_SECONDS:.0f} s is analysed at once: "
            "cut it into excerpts"
        )
    return audio.float()


def resample_to_model_rate(audio, sample_rate: int) -> torch.Tensor:
    """Checked ``audio`` ``[batch, n_samples]`` (or ``[n_samples]``) at 16 kHz, not normalised."""
    audio = _check_audio(audio, sample_rate)
    if sample_rate != SAMPLE_RATE:
        audio = torchaudio.functional.resample(audio, sample_rate, SAMPLE_RATE)
    if audio.shape[-1] < MIN_SAMPLES:
        raise ValueError(
            f"`audio` is too short: {audio.shape[-1]} samples at 16 kHz, at least {MIN_SAMPLES} "
            f"({MIN_SAMPLES / SAMPLE_RATE:.3f} s) are needed"
        )
    return audio


def prepare_audio(audio, sample_rate: int) -> torch.Tensor:
    """Validate, resample to 16 kHz and peak-normalise ``audio`` ``[batch, n_samples]`` or ``[n_samples]``."""
    audio = resample_to_model_rate(audio, sample_rate)
    peak = audio.abs().amax(dim=-1, keepdim=True)
    if bool((peak == 0).any()):
        silent = torch.nonzero(peak[:, 0] == 0).flatten().tolist()
        raise ValueError(f"`audio` examples {silent} are silent: no f0 to estimate")
    return audio / peak * PEAK_LEVEL


def peak_confidence(logits: torch.Tensor, temperature: float, half_width: int = 3) -> torch.Tensor:
    """Mean over frames of the softmax mass within ``half_width`` bins of each frame's peak.

    Args:
        logits: ``[batch, n_frames, n_bins]``; temperature: the encoder's soft-argmax temperature.

    Returns:
        ``[batch]`` in ``[0, 1]``.
    """
    probabilities = torch.softmax(logits / temperature, dim=-1)
    peak = probabilities.argmax(dim=-1, keepdim=True)
    bins = torch.arange(logits.shape[-1], device=logits.device)
    near = (bins - peak).abs() <= half_width
    return (probabilities * near).sum(dim=-1).mean(dim=-1)


@torch.no_grad()
def estimate_f0(checkpoint, audio, sample_rate: int) -> F0Estimate:
    """Estimate f0 with a trained encoder, with a voicing decision.

    Args:
        checkpoint: path of a checkpoint written by :mod:`sot_utils.training.train`, or a
            ``(model, config)`` pair from :func:`sot_utils.training.checkpoint.load_model`.
        audio: ``[batch, n_samples]`` or ``[n_samples]``, mono, any sample rate in
            [4 kHz, 768 kHz] (resampled to 16 kHz with torchaudio), at least 4096 samples after
            resampling, at most 10 minutes.
        sample_rate: of ``audio``, Hz.

    Returns:
        :class:`F0Estimate`. Silence (exact or near), noise and out-of-range tones come back with
        ``voiced`` false and a reason; their ``f0_hz`` is whatever the model says and means nothing.
    """
    model, _ = load_model(checkpoint) if isinstance(checkpoint, (str, Path)) else checkpoint
    raw = resample_to_model_rate(audio, sample_rate)
    return estimate_from_cqt(model, voicing(raw), CQT()(normalise_peak(raw)))


def normalise_peak(audio: torch.Tensor) -> torch.Tensor:
    """``audio [batch, n_samples]`` scaled to a peak of :data:`~sot_utils.constants.PEAK_LEVEL`, as the
    training examples are; an all-zero example stays zero."""
    peak = audio.abs().amax(dim=-1, keepdim=True)
    return audio / torch.where(peak > 0, peak, torch.ones_like(peak)) * PEAK_LEVEL


@torch.no_grad()
def estimate_from_cqt(model, voicing_result: tuple, cqt: torch.Tensor) -> F0Estimate:
    """:func:`estimate_f0`'s result from its parts: :func:`voicing` of the 16 kHz audio and the CQT
    ``[batch, n_frames, n_bins]`` of the peak-normalised audio (:func:`normalise_peak`). For
    callers that reuse one CQT for several models (the estimator page)."""
    voiced, reasons, level_db, flatness = voicing_result
    out = model.encoder(cqt)
    return F0Estimate(
        f0_hz=out.f0_hz.median(dim=-1).values,
        f0_frames_hz=out.f0_hz,
        voiced=voiced,
        reason=reasons,
        confidence=peak_confidence(out.logits, model.encoder.temperature),
        level_db=level_db,
        flatness=flatness,
    )


def main(argv: list[str] | None = None) -> None:
    import soundfile

    parser = argparse.ArgumentParser(
        prog="python -m sot_utils.training.estimate",
        description="Estimate f0 of audio files with a trained checkpoint.",
    )
    parser.add_argument("checkpoint")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    try:
        model = load_model(args.checkpoint)
    except (OSError, ValueError) as error:
        parser.error(str(error))
    print(
        f"{'file':40s} {'f0 (Hz)':>10s} {'confidence':>10s} {'level dB':>8s} {'frames':>6s} "
        f"{'min-max over frames (Hz)':>26s}"
    )
    failed = []
    for name in args.files:  # a file that cannot be analysed gets an error row; the others go on
        try:
            data, rate = soundfile.read(name, dtype="float32", always_2d=True)  # [n_samples, channels]
            estimate = estimate_f0(model, torch.from_numpy(data.mean(axis=1)), rate)
        except (OSError, RuntimeError, ValueError) as error:  # soundfile's errors are RuntimeErrors
            failed.append(name)
            print(f"{name:40s} error: {error}")
            continue
        track, level, confidence = estimate.f0_frames_hz[0], float(estimate.level_db[0]), float(estimate.confidence[0])
        if not bool(estimate.voiced[0]):
            print(
                f"{name:40s} {'unvoiced':>10s} {confidence:10.2f} {level:8.1f} {track.numel():6d} "
                f"({estimate.reason[0]})"
            )
            continue
        low, high = float(track.min()), float(track.max())
        print(
            f"{name:40s} {float(estimate.f0_hz[0]):10.1f} {confidence:10.2f} {level:8.1f} {track.numel():6d} "
            f"{low:12.1f} - {high:<12.1f}"
        )
    if failed:
        parser.exit(1, f"{len(failed)} of {len(args.files)} files could not be analysed: {', '.join(failed)}\n")


if __name__ == "__main__":
    main()
