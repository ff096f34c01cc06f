"""f0 estimation with a trained encoder, for users' audio.

The encoder looks at one CQT frame at a time, so any signal of at least 4096 samples (16 kHz) is
analysed frame by frame (hop 256 samples, 16 ms); the example's f0 is the median over frames.

API: ``estimate_f0(checkpoint, audio, sample_rate)``; CLI:
``python -m sot_utils.estimate CHECKPOINT file.wav [file2.wav ...]`` (files read with soundfile,
multi-channel files mixed to mono; a file that cannot be analysed, silent or too short, gets an
error row, the others are still analysed, and the exit status is 1).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import torch
import torchaudio

from .evaluate import load_checkpoint
from .spectral import CQT, SAMPLE_RATE
from .validation import check_int, check_tensor

MIN_SAMPLES = 4096  # the training examples' length, at 16 kHz
PEAK_LEVEL = 0.9


@dataclass
class F0Estimate:
    """f0 of each example and its per-frame track.

    Attributes:
        f0_hz: median over frames, ``[batch]`` Hz.
        f0_frames_hz: per-frame estimates, ``[batch, n_frames]`` Hz (frame ``t`` centred at
            ``t * 256`` samples of the 16 kHz signal).
    """

    f0_hz: torch.Tensor
    f0_frames_hz: torch.Tensor


def prepare_audio(audio, sample_rate: int) -> torch.Tensor:
    """Validate, resample to 16 kHz and peak-normalise ``audio`` ``[batch, n_samples]`` or ``[n_samples]``."""
    if not isinstance(audio, torch.Tensor):
        raise ValueError(f"`audio` must be a torch.Tensor [batch, n_samples] or [n_samples], got {type(audio).__name__}")
    if audio.ndim == 1:
        audio = audio[None]
    if audio.ndim != 2:
        raise ValueError(f"`audio` must be mono, [batch, n_samples] or [n_samples]; got shape {tuple(audio.shape)} "
                         "(mix multi-channel audio to mono first, e.g. audio.mean(dim=channel_axis))")
    check_tensor("audio", audio, ndim=2, layout="[batch, n_samples]")
    check_int("sample_rate", sample_rate, minimum=1)
    audio = audio.float()
    if sample_rate != SAMPLE_RATE:
        audio = torchaudio.functional.resample(audio, sample_rate, SAMPLE_RATE)
    if audio.shape[-1] < MIN_SAMPLES:
        raise ValueError(f"`audio` is too short: {audio.shape[-1]} samples at 16 kHz, at least {MIN_SAMPLES} "
                         f"({MIN_SAMPLES / SAMPLE_RATE:.3f} s) are needed")
    peak = audio.abs().amax(dim=-1, keepdim=True)
    if bool((peak == 0).any()):
        silent = torch.nonzero(peak[:, 0] == 0).flatten().tolist()
        raise ValueError(f"`audio` examples {silent} are silent: no f0 to estimate")
    return audio / peak * PEAK_LEVEL


@torch.no_grad()
def estimate_f0(checkpoint, audio, sample_rate: int) -> F0Estimate:
    """Estimate f0 with a trained encoder.

    Args:
        checkpoint: path of a checkpoint written by :mod:`sot_utils.train`, or a
            ``(model, config)`` pair from :func:`sot_utils.evaluate.load_checkpoint`.
        audio: ``[batch, n_samples]`` or ``[n_samples]``, mono, any sample rate
            (resampled to 16 kHz with torchaudio), at least 4096 samples after resampling.
        sample_rate: of ``audio``, Hz.

    Returns:
        :class:`F0Estimate`.
    """
    model, _ = load_checkpoint(checkpoint) if isinstance(checkpoint, (str, Path)) else checkpoint
    audio = prepare_audio(audio, sample_rate)
    frames = model.encoder(CQT()(audio)).f0_hz  # [batch, n_frames]
    return F0Estimate(f0_hz=frames.median(dim=-1).values, f0_frames_hz=frames)


def main(argv: list[str] | None = None) -> None:
    import soundfile

    parser = argparse.ArgumentParser(description="Estimate f0 of audio files with a trained checkpoint.")
    parser.add_argument("checkpoint")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    try:
        model = load_checkpoint(args.checkpoint)
    except (OSError, ValueError) as error:
        parser.error(str(error))
    print(f"{'file':40s} {'f0 (Hz)':>10s} {'frames':>7s} {'min-max over frames (Hz)':>26s}")
    failed = []
    for name in args.files:  # a file that cannot be analysed gets an error row; the others go on
        try:
            data, rate = soundfile.read(name, dtype="float32", always_2d=True)  # [n_samples, channels]
            estimate = estimate_f0(model, torch.from_numpy(data.mean(axis=1)), rate)
        except (OSError, RuntimeError, ValueError) as error:  # soundfile's errors are RuntimeErrors
            failed.append(name)
            print(f"{name:40s} error: {error}")
            continue
        track = estimate.f0_frames_hz[0]
        print(f"{name:40s} {float(estimate.f0_hz[0]):10.1f} {track.numel():7d} {float(track.min()):12.1f} - {float(track.max()):<12.1f}")
    if failed:
        parser.exit(1, f"{len(failed)} of {len(args.files)} files could not be analysed: {', '.join(failed)}\n")


if __name__ == "__main__":
    main()
