"""Users' audio files read with bounded memory: the header is checked before any sample is decoded.

Used by `estimate` on audio files (docs/explorer.md); no notebook teaches it.

A compressed file can hold hours of audio in a few hundred kilobytes (one hour of a constant is
0.55 MB of FLAC), so a file's size says nothing about what decoding it costs. :func:`read_audio`
reads the header first (sample rate, channels, frames), refuses what is too long or implausible,
then decodes block by block, mixing to mono as it goes, and stops at the limit even where the
header lies about its length. Memory stays below ``max_seconds * sample_rate`` mono float32
samples plus one block.

Used by ``python -m sot_utils.training.estimate`` and the estimator page's uploads.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import soundfile

from ..constants import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE

__all__ = ["AudioFileError", "BLOCK_SAMPLES", "MAX_CHANNELS", "MAX_SECONDS", "read_audio"]

MAX_SECONDS = 600.0
"""Longest file analysed at once, seconds: longer files are refused (cut them into excerpts)."""

MAX_CHANNELS = 64
"""Most channels a file may declare (a header claiming more is refused before decoding)."""

UNKNOWN_FRAMES = 2**63 - 1
"""The frame count libsndfile reports when a header leaves the length open (a stream's FLAC)."""

BLOCK_SAMPLES = 2**20
"""Samples (all channels together) decoded per block."""


class AudioFileError(ValueError):
    """An audio file that cannot be analysed; the message names the file and says why."""


def _describe(error: Exception) -> str:
    """libsndfile's reason without soundfile's prefix ("Error opening ...: Format not recognised")."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text.rsplit(": ", 1)[-1].rstrip(".")


def _open(source, name: str) -> soundfile.SoundFile:
    if isinstance(source, (bytes, bytearray, memoryview)):
        try:
            return soundfile.SoundFile(io.BytesIO(bytes(source)))
        except (RuntimeError, ValueError, TypeError, soundfile.LibsndfileError) as error:
            raise AudioFileError(f"{name} could not be read as audio ({_describe(error)})") from None
    path = Path(source)
    if str(source) == "-":
        raise AudioFileError("reading audio from standard input (`-`) is not supported; give a file path")
    if not os.path.lexists(path):
        raise AudioFileError(f"{name}: no such file")
    if path.is_dir():
        raise AudioFileError(f"{name} is a folder, not an audio file")
    if not path.is_file():
        raise AudioFileError(f"{name} is not a regular file (a device, a pipe or a broken link)")
    try:
        return soundfile.SoundFile(path)
    except (RuntimeError, ValueError, TypeError, soundfile.LibsndfileError) as error:
        raise AudioFileError(f"{name} could not be read as audio ({_describe(error)})") from None
    except OSError as error:
        raise AudioFileError(f"{name} could not be opened ({error.strerror or error})") from None


def read_audio(source, *, name: str | None = None, max_seconds: float = MAX_SECONDS) -> tuple[np.ndarray, int]:
    """Decode an audio file to mono, refusing from its header what would cost too much.

    Args:
        source: a path, or the file's bytes (an upload).
        name: how messages name the file (default: the path, or ``"the upload"``).
        max_seconds: longest audio accepted, seconds.

    Returns:
        ``(audio [n_samples] float32 mono, sample_rate Hz)``; several channels are averaged.

    Raises:
        AudioFileError: no such file, a folder, not audio, an implausible sample rate or channel
            count, longer than ``max_seconds``, no samples, or NaN/infinite samples.
    """
    if name is None:
        name = "the upload" if isinstance(source, (bytes, bytearray, memoryview)) else str(source)
    with _open(source, name) as file:
        rate, channels, frames = int(file.samplerate), int(file.channels), int(file.frames)
        if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
            raise AudioFileError(
                f"{name} says its sample rate is {rate} Hz; expected {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz "
                "(a wrong header?)"
            )
        if not 1 <= channels <= MAX_CHANNELS:
            raise AudioFileError(f"{name} declares {channels} channels; expected 1 to {MAX_CHANNELS}")
        limit = int(max_seconds * rate)
        if frames >= UNKNOWN_FRAMES:  # soundfile then fails at its first read ("psf_fseek() failed")
            raise AudioFileError(
                f"{name}: its header leaves the length open (written from a stream), which cannot be decoded "
                "here; re-encode it (e.g. `sox in.flac out.flac`)"
            )
        if frames > limit:
            raise AudioFileError(
                f"{name} is {frames / rate:.0f} s long; at most {max_seconds:.0f} s is analysed at once: "
                "cut it into excerpts"
            )
        # a header may under-state the length (streams, damaged files): decoding stops at the limit
        blocks, decoded = [], 0
        block = max(1, BLOCK_SAMPLES // channels)
        try:
            while True:
                data = file.read(block, dtype="float32", always_2d=True)
                if not len(data):
                    break
                decoded += len(data)
                if decoded > limit:
                    raise AudioFileError(
                        f"{name} holds more than {max_seconds:.0f} s of audio (its header said {frames / rate:.0f} s); "
                        "cut it into excerpts"
                    )
                blocks.append(data.mean(axis=1, dtype=np.float32) if channels > 1 else data[:, 0].copy())
        except (RuntimeError, soundfile.LibsndfileError) as error:
            raise AudioFileError(f"{name} is damaged: decoding failed ({_describe(error)})") from None
    if not decoded:
        raise AudioFileError(f"{name} holds no audio samples")
    audio = np.concatenate(blocks)
    if not np.isfinite(audio).all():
        raise AudioFileError(f"{name} holds NaN or infinite samples")
    return audio, rate
