"""f0 estimation with a trained encoder, for users' audio: a function and a batch tool.

The encoder looks at one CQT frame at a time, so any signal of at least 4096 samples (16 kHz) is
analysed frame by frame (hop 256 samples, 16 ms); the example's f0 is the median over frames.
Long signals are analysed in chunks of :data:`CHUNK_FRAMES` frames with the CQT kernel's
half-length as context on each side, which gives the same frames as one pass with bounded memory.

Every example also gets a **voicing decision** (:mod:`sot_utils.training.voicing`), from the
signal alone: silence, noise and tones outside the trained range (40-1950 Hz, a semitone of
margin) are reported as unvoiced with the reason, instead of an f0 the model would give for
anything. The encoder's own **confidence** (its probability mass within a semitone of its peak)
is reported beside it. Notebook 06 measures both on the synthetic test tones, the real instrument
notes and noise. This module re-exports :func:`~sot_utils.training.voicing.voicing`, one of
:func:`estimate_f0`'s parts (the estimator page imports it from here).

API: ``estimate_f0(checkpoint, audio, sample_rate)``. CLI (files, folders, glob patterns)::

    python -m sot_utils.training.estimate CHECKPOINT PATH [PATH ...] [--recursive]
        [--output table|csv|json] [--frames] [--out FILE]

Files are read with :func:`sot_utils.training.audio_file.read_audio` (the header is checked
before decoding; at most 10 minutes; several channels mixed to mono). ``--output csv`` or
``json`` writes one row per file (file, f0_hz, voiced, reason, confidence, level_db, n_frames,
f0_min_hz, f0_max_hz, error); ``--frames`` one row per frame instead (file, time_s, f0_hz,
confidence, voiced), like CREPE's CSV. A file that cannot be analysed gets an error row, the
others are still analysed, a summary goes to stderr, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import csv
import glob
import io
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torchaudio

from ..constants import (
    CQT_HOP_LENGTH,
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    N_SAMPLES,
    PEAK_LEVEL,
    SAMPLE_RATE,
)
from ..spectral import CQT
from ..validation import check_bool, check_int, check_tensor
from .audio_file import MAX_SECONDS, read_audio
from .checkpoint import load_model
from .voicing import frame_statistics, rms_level_db, voiced_from_frames, voicing, voicing_from_frames

__all__ = [
    "CHUNK_FRAMES",
    "F0Estimate",
    "analyse_file",
    "encode_in_chunks",
    "estimate_f0",
    "estimate_from_cqt",
    "expand_paths",
    "frame_confidence",
    "main",
    "normalise_peak",
    "peak_confidence",
    "prepare_audio",
    "resample_to_model_rate",
    "voicing",
]

MIN_SAMPLES = N_SAMPLES  # the training examples' length, at 16 kHz

CHUNK_FRAMES = 2048
"""Frames per chunk of a long signal's CQT and encoder pass (33 s; about 200 MB at the peak)."""

CQT_CONTEXT = 16384
"""Samples each side of a frame's centre that its CQT reads (half the 32768-sample lowest kernel)."""

FILE_FIELDS = (
    "file",
    "f0_hz",
    "voiced",
    "reason",
    "confidence",
    "level_db",
    "n_frames",
    "f0_min_hz",
    "f0_max_hz",
    "error",
)
"""Columns of the CLI's per-file CSV/JSON rows."""

FRAME_FIELDS = ("file", "time_s", "f0_hz", "confidence", "voiced")
"""Columns of the CLI's per-frame rows (``--frames``)."""


@dataclass
class F0Estimate:
    """f0 of each example, its per-frame track, and whether the example is a pitched tone.

    Attributes:
        f0_hz: median over frames, ``[batch]`` Hz: the model's estimate, meaningful only where
            ``voiced`` is true.
        f0_frames_hz: per-frame estimates, ``[batch, n_frames]`` Hz (frame ``t`` centred at
            ``t * 256`` samples of the 16 kHz signal).
        voiced: ``[batch]`` bool, the voicing decision of :func:`~sot_utils.training.voicing.voicing`.
        reason: per example, ``""`` when voiced, else why not (``"silent"``, ``"noise"``,
            ``"below the trained range"``, ``"above the trained range"``).
        confidence: ``[batch]`` in ``[0, 1]``: the encoder's f0 probability mass within a
            semitone of its peak, averaged over frames (1: one sharp peak; near 0: no preference).
            It describes the model, not the signal: a collapsed model is confident too.
        level_db: ``[batch]`` RMS level, dB re full scale, of the signal as given (DC removed).
        tonal_share: ``[batch]`` median over frames of the share of power in spectral peaks
            (30 Hz-7.75 kHz); noise below 0.5 (:func:`~sot_utils.training.voicing.voicing`).
        confidence_frames: ``[batch, n_frames]``, the confidence of each frame.
        voiced_frames: ``[batch, n_frames]`` bool, the voicing decision of each frame
            (:func:`~sot_utils.training.voicing.voiced_frames`), never voiced in an unvoiced example.
    """

    f0_hz: torch.Tensor
    f0_frames_hz: torch.Tensor
    voiced: torch.Tensor
    reason: list[str]
    confidence: torch.Tensor
    level_db: torch.Tensor
    tonal_share: torch.Tensor
    confidence_frames: torch.Tensor
    voiced_frames: torch.Tensor


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


def frame_confidence(logits: torch.Tensor, temperature: float, half_width: int = 3) -> torch.Tensor:
    """The softmax mass within ``half_width`` bins of each frame's peak.

    Args:
        logits: ``[batch, n_frames, n_bins]``; temperature: the encoder's soft-argmax temperature.

    Returns:
        ``[batch, n_frames]`` in ``[0, 1]``.
    """
    probabilities = torch.softmax(logits / temperature, dim=-1)
    peak = probabilities.argmax(dim=-1, keepdim=True)
    bins = torch.arange(logits.shape[-1], device=logits.device)
    near = (bins - peak).abs() <= half_width
    return (probabilities * near).sum(dim=-1)


def peak_confidence(logits: torch.Tensor, temperature: float, half_width: int = 3) -> torch.Tensor:
    """:func:`frame_confidence` averaged over frames: ``[batch]`` in ``[0, 1]``."""
    return frame_confidence(logits, temperature, half_width).mean(dim=-1)


@torch.no_grad()
def encode_in_chunks(model, audio: torch.Tensor, chunk_frames: int = CHUNK_FRAMES) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame f0 and confidence of peak-normalised 16 kHz ``audio`` ``[batch, n_samples]``.

    The CQT and the encoder run on chunks of ``chunk_frames`` frames, each read with
    :data:`CQT_CONTEXT` samples of context either side (the centred CQT's own reach), so the frames
    equal one pass over the whole signal while memory stays that of one chunk.

    Returns:
        ``(f0_hz [batch, n_frames], confidence [batch, n_frames])``.
    """
    check_int("chunk_frames", chunk_frames, minimum=1)
    cqt, hop = CQT(), CQT_HOP_LENGTH
    n_samples = audio.shape[-1]
    n_frames = cqt.n_frames(n_samples)
    f0, confidence = [], []
    for first in range(0, n_frames, chunk_frames):
        last = min(first + chunk_frames, n_frames)  # frames [first, last)
        start = max(0, first * hop - CQT_CONTEXT)  # a multiple of the hop: frame j of the piece is global start/hop + j
        stop = min(n_samples, (last - 1) * hop + CQT_CONTEXT)
        piece = cqt(audio[:, start:stop])
        offset = first - start // hop
        out = model.encoder(piece[:, offset : offset + last - first])
        f0.append(out.f0_hz)
        confidence.append(frame_confidence(out.logits, model.encoder.temperature))
    return torch.cat(f0, dim=-1), torch.cat(confidence, dim=-1)


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
    checked = _check_audio(audio, sample_rate)
    input_level_db = rms_level_db(checked)  # before resampling: a 15 kHz tone is gone at 16 kHz, not silent
    raw = resample_to_model_rate(checked, sample_rate)
    frames = frame_statistics(raw)  # one analysis feeds the example's and the frames' decisions
    voicing_result = voicing_from_frames(frames, rms_level_db(raw), input_level_db)
    f0_frames, confidence_frames = encode_in_chunks(model, normalise_peak(raw))
    return _assemble(voicing_result, f0_frames, confidence_frames, voiced_from_frames(frames))


def _assemble(voicing_result: tuple, f0_frames, confidence_frames, frames_voiced=None) -> F0Estimate:
    """An :class:`F0Estimate` from the voicing and the frames' f0 and confidence ``[batch, n_frames]``;
    a frame is voiced only in a voiced example (``frames_voiced`` None: every frame takes its example's)."""
    voiced, reasons, level_db, tonal_share = voicing_result
    frames_voiced = voiced[:, None] if frames_voiced is None else frames_voiced[..., : f0_frames.shape[-1]]
    return F0Estimate(
        f0_hz=f0_frames.median(dim=-1).values,
        f0_frames_hz=f0_frames,
        voiced=voiced,
        reason=reasons,
        confidence=confidence_frames.mean(dim=-1),
        level_db=level_db,
        tonal_share=tonal_share,
        confidence_frames=confidence_frames,
        voiced_frames=(frames_voiced & voiced[:, None]).expand_as(f0_frames),
    )


def normalise_peak(audio: torch.Tensor) -> torch.Tensor:
    """``audio [batch, n_samples]`` scaled to a peak of :data:`~sot_utils.constants.PEAK_LEVEL`, as the
    training examples are; an all-zero example stays zero."""
    peak = audio.abs().amax(dim=-1, keepdim=True)
    return audio / torch.where(peak > 0, peak, torch.ones_like(peak)) * PEAK_LEVEL


@torch.no_grad()
def estimate_from_cqt(
    model, voicing_result: tuple, cqt: torch.Tensor, frames_voiced: torch.Tensor | None = None
) -> F0Estimate:
    """:func:`estimate_f0`'s result from its parts: :func:`~sot_utils.training.voicing.voicing` of the
    16 kHz audio and the CQT ``[batch, n_frames, n_bins]`` of the peak-normalised audio
    (:func:`normalise_peak`). For callers that reuse one CQT for several models (the estimator
    page). ``frames_voiced`` ``[batch, n_frames]`` (default: every frame takes the example's decision)."""
    out = model.encoder(cqt)
    return _assemble(voicing_result, out.f0_hz, frame_confidence(out.logits, model.encoder.temperature), frames_voiced)


# --------------------------------------------------------------------------------------------
# The batch tool


def audio_extensions() -> frozenset[str]:
    """File extensions (lower case, no dot) of the formats this soundfile build reads."""
    import soundfile

    return frozenset(name.lower() for name in soundfile.available_formats()) | {"aif", "oga", "opus"}


def expand_paths(paths: list[str], recursive: bool = False) -> list[tuple[str, str]]:
    """The audio files that ``paths`` name, each as ``(file, "")``, or ``(path, error)`` where a
    folder holds no audio file or a pattern matches nothing.

    A path is a file (kept, audio or not: reading it says what is wrong), a folder (its files with an
    audio extension, sorted; with ``recursive``, its subfolders' too) or a glob pattern (``*.wav``,
    ``**/*.flac`` with ``recursive``).
    """
    check_bool("recursive", recursive)
    extensions = audio_extensions()

    def folder_files(folder: str) -> list[str]:
        pattern = os.path.join(glob.escape(folder), "**", "*") if recursive else os.path.join(glob.escape(folder), "*")
        found = glob.glob(pattern, recursive=recursive)
        return sorted(f for f in found if os.path.isfile(f) and f.rsplit(".", 1)[-1].lower() in extensions)

    expanded = []
    for path in paths:
        if os.path.isdir(path):
            files = folder_files(path)
            expanded += [(f, "") for f in files] or [
                (
                    path,
                    f"folder holds no audio files ({', '.join(sorted(extensions)[:6])}, ...)"
                    + ("" if recursive else "; --recursive looks in its subfolders"),
                )
            ]
        elif glob.has_magic(path) and not os.path.lexists(path):
            matches = sorted(glob.glob(path, recursive=recursive))
            files = [m for m in matches if os.path.isfile(m)]
            for folder in (m for m in matches if os.path.isdir(m)):
                files += folder_files(folder)
            expanded += [(f, "") for f in files] or [(path, "no audio file matches this pattern")]
        else:
            expanded.append((path, ""))
    return expanded


def analyse_file(model, path: str) -> F0Estimate:
    """:func:`estimate_f0` of one audio file (read with bounded memory, mixed to mono).

    Raises:
        ValueError: the file cannot be analysed (the message names it and says why).
    """
    audio, rate = read_audio(path)
    try:
        return estimate_f0(model, torch.from_numpy(audio), rate)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    except MemoryError:
        raise ValueError(f"{path}: not enough memory to analyse it; cut it into shorter excerpts") from None


def file_row(name: str, estimate: F0Estimate | None, error: str = "") -> dict:
    """One per-file row (:data:`FILE_FIELDS`); the f0 and its range are empty when unvoiced."""
    row = dict.fromkeys(FILE_FIELDS, "")
    row.update(file=name, error=error)
    if estimate is None:
        return row
    track, voiced = estimate.f0_frames_hz[0], bool(estimate.voiced[0])
    row.update(
        voiced=voiced,
        reason=estimate.reason[0],
        confidence=round(float(estimate.confidence[0]), 4),
        level_db=round(float(estimate.level_db[0]), 2),
        n_frames=track.numel(),
    )
    if voiced:
        row.update(
            f0_hz=round(float(estimate.f0_hz[0]), 3),
            f0_min_hz=round(float(track.min()), 3),
            f0_max_hz=round(float(track.max()), 3),
        )
    return row


def frame_rows(name: str, estimate: F0Estimate) -> list[dict]:
    """Per-frame rows (:data:`FRAME_FIELDS`): frame ``t`` at ``t * 256 / 16000`` s."""
    f0, confidence, voiced = estimate.f0_frames_hz[0], estimate.confidence_frames[0], estimate.voiced_frames[0]
    return [
        {
            "file": name,
            "time_s": round(t * CQT_HOP_LENGTH / SAMPLE_RATE, 4),
            "f0_hz": round(float(f0[t]), 3),
            "confidence": round(float(confidence[t]), 4),
            "voiced": bool(voiced[t]),
        }
        for t in range(f0.numel())
    ]


def table_line(row: dict) -> str:
    """A per-file row as a line of the human-readable table."""
    if row["error"]:
        return f"{row['file']:40s} error: {row['error']}"
    fixed = f"{row['confidence']:10.2f} {row['level_db']:8.1f} {row['n_frames']:6d}"
    if not row["voiced"]:
        return f"{row['file']:40s} {'unvoiced':>10s} {fixed} ({row['reason']})"
    return f"{row['file']:40s} {row['f0_hz']:10.1f} {fixed} {row['f0_min_hz']:12.1f} - {row['f0_max_hz']:<12.1f}"


TABLE_HEADER = (
    f"{'file':40s} {'f0 (Hz)':>10s} {'confidence':>10s} {'level dB':>8s} {'frames':>6s} "
    f"{'min-max over frames (Hz)':>26s}"
)


def write_output(text: str, out: str | None) -> None:
    """``text`` to stdout, or to the file ``out`` written whole (a temporary file renamed into place)."""
    if out is None:
        sys.stdout.write(text)
        return
    path = Path(out)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        partial.write_text(text)
        os.replace(partial, path)
    except OSError as error:
        raise OSError(error.errno, f"could not write --out {out}: {error.strerror or error}") from None
    finally:
        partial.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    from tqdm.auto import tqdm

    parser = argparse.ArgumentParser(
        prog="python -m sot_utils.training.estimate",
        description="Estimate f0 of audio files with a trained checkpoint: files, folders or glob patterns.",
    )
    parser.add_argument("checkpoint", help="a best.pt / last.pt of a run")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="audio files, folders or glob patterns ('*.wav')")
    parser.add_argument("-r", "--recursive", action="store_true", help="look in subfolders; '**' in patterns")
    parser.add_argument(
        "--output",
        choices=("table", "csv", "json"),
        help="table (for people; the default), csv or json (one row per file, or per frame with --frames)",
    )
    parser.add_argument(
        "--frames", action="store_true", help="one row per frame: file, time_s, f0_hz, confidence, voiced"
    )
    parser.add_argument("--out", help="write the rows to this file instead of stdout")
    args = parser.parse_args(argv)
    output = args.output or ("csv" if args.frames else "table")
    if args.frames and output == "table":
        parser.error("--frames writes rows for machines: use --output csv or --output json")
    if args.out is not None and (os.path.isdir(args.out) or not os.path.isdir(os.path.dirname(args.out) or ".")):
        parser.error(f"--out {args.out!r} must be a file in an existing folder")
    try:
        model = load_model(args.checkpoint)
    except (OSError, ValueError) as error:
        parser.error(str(error))
    files = expand_paths(args.paths, args.recursive)
    if args.out is not None and any(os.path.abspath(args.out) == os.path.abspath(f) for f, _ in files):
        parser.error(f"--out {args.out!r} is one of the input files: it would be overwritten")

    rows, frames, failed = [], [], []
    stream = output == "table" and args.out is None  # a table line appears as soon as its file is done
    if stream:
        print(TABLE_HEADER, flush=True)
    for name, problem in tqdm(files, desc="files", unit="file", disable=len(files) < 2, file=sys.stderr, leave=False):
        estimate = None
        if not problem:
            try:
                estimate = analyse_file(model, name)
            except (OSError, ValueError) as error:  # AudioFileError is a ValueError
                problem = str(error).removeprefix(f"{name}: ").removeprefix(f"{name} ")
        if problem:
            failed.append(name)
        rows.append(file_row(name, estimate, problem))
        if args.frames and estimate is not None:
            frames += frame_rows(name, estimate)
        if stream:
            tqdm.write(table_line(rows[-1]), file=sys.stdout)

    records, fields = (frames, FRAME_FIELDS) if args.frames else (rows, FILE_FIELDS)
    if output == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        text = buffer.getvalue()
    elif output == "json":
        text = json.dumps(records, indent=1) + "\n"
    else:
        text = "" if stream else "\n".join([TABLE_HEADER, *map(table_line, rows)]) + "\n"
    try:
        write_output(text, args.out)
    except OSError as error:
        sys.exit(f"error: {error}")
    voiced = sum(1 for row in rows if row["voiced"] is True)
    summary = f"{len(rows)} file(s): {voiced} voiced, {len(rows) - voiced - len(failed)} unvoiced, {len(failed)} failed"
    if failed:
        sys.exit(f"{summary}: {', '.join(failed[:10])}{' ...' if len(failed) > 10 else ''}")
    if len(rows) > 1 or output != "table":
        print(summary, file=sys.stderr)


if __name__ == "__main__":
    main()
