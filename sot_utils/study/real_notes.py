"""Real instrument notes with known pitch, rendered from a General MIDI soundfont.

Taught in notebook 06 (the real notes, per family); used by notebooks 07 and 09.

The synthetic set (:mod:`sot_utils.training.data`) holds ideal harmonic tones; this module gives f0
estimators sampled instruments to be judged on: single notes of 12 General MIDI programs from
10 instrument families, with the MIDI pitch as label. The default soundfont is Debian's
``timgm6mb-soundfont`` (``/usr/share/sounds/sf2/TimGM6mb.sf2``), played by FluidSynth through its
Python binding ``pyfluidsynth`` (``make soundfont`` installs the Debian packages); any ``.sf2``
file can be given instead.

How a note is rendered (:func:`render_note`):

- a fresh synthesizer per note, so that no state from one note reaches the next (with
  FluidSynth 2.3, a synthesizer reused after a reset still carried the previous note into the
  next render),
  reverb and chorus off (their tails and modulation would blur the pitch), fixed velocity
  :data:`VELOCITY`, channel 0, bank 0, the note held through the whole excerpt;
- rendered at :data:`RENDER_SAMPLE_RATE` (48 kHz), left and right averaged to mono, then
  resampled to 16 kHz with ``torchaudio.functional.resample`` (windowed sinc, exact ratio 3).
  FluidSynth transposes its samples by interpolation without band-limiting, so rendering at
  16 kHz directly folds partials above 8 kHz back into the band: measured on TimGM6mb's square
  lead at C4, the spectral energy off the harmonics of f0 falls from 1.4 % (rendered at 16 kHz)
  to 0.5 % (rendered at 48 kHz and resampled);
- the excerpt is :data:`N_SAMPLES` samples (0.256 s) starting :data:`EXCERPT_OFFSET_S` (0.3 s)
  after note-on: the attack (hammer, pluck, breath or bow noise, pitch scoops) is over and the
  note is in its sustain or early decay, the closest real counterpart of the stationary tones
  of the synthetic set; plucked and struck notes are still loud there (TimGM6mb's piano at
  A#6 is 26 dB below its attack peak, the deepest decay among the default notes);
- an excerpt whose peak is more than :data:`SILENCE_DB` (60 dB) below the peak of the whole
  rendered note, or a note that renders as silence (no sample of the preset covers the key),
  is dropped and listed in ``meta["dropped"]``.

Labels are nominal: ``f0_hz`` is the equal-tempered frequency of the MIDI note (A4 = 440 Hz).
A soundfont's samples carry their own small tuning errors: in the default TimGM6mb set the peak
of the fundamental lies within 15 cents of the label for every note (median deviation per
instrument between -1.3 and +5.8 cents). The drawbar, percussive, rock and church organs of
General MIDI are left out: TimGM6mb's presets for them sound a sub-octave (a 16-foot stop), so
the waveform's period is twice the labelled one; the reed organ is used instead.

File layout (one ``torch.save`` archive, loaded with ``weights_only=True``)::

    {"meta": {"format_version", "soundfont" (path as given), "soundfont_sha256",
              "sample_rate", "render_sample_rate", "n_samples", "excerpt_offset_s",
              "velocity", "silence_db", "quick", "instruments" (list of dicts: program,
              name, family, lowest_midi, highest_midi), "family_names" (the 16 General MIDI
              family names, indexed by family id), "dropped" (list of (program, midi_note)),
              "peak_normalisation_at_load"},
     "examples": {"audio": [N, n_samples] float32 (as rendered, un-normalised),
                  "f0_hz": [N] float32 Hz, "midi_note": [N] int64, "program": [N] int64
                  (General MIDI, 0-based), "family": [N] int64 (program // 8),
                  "family_name": list of N str, "instrument": list of N str}}

:func:`load_real_notes` returns the examples with the audio peak-normalised to 0.9, as the
synthetic set is when loaded, and :func:`family_indices` groups them per family for evaluation.

CLI: ``python -m sot_utils.study.real_notes [--soundfont PATH] [--out PATH] [--quick]``
(``make real-notes``).
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import os
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torchaudio.functional as AF
from tqdm.auto import tqdm

from ..constants import N_SAMPLES, SAMPLE_RATE
from ..training.data import PEAK_LEVEL, check_out_file, peak_normalize, read_archive, write_archive
from ..validation import check_bool, check_int

__all__ = [
    "DEFAULT_INSTRUMENTS",
    "DEFAULT_PATH",
    "DEFAULT_SOUNDFONT",
    "EXCERPT_OFFSET_S",
    "FORMAT_VERSION",
    "GM_FAMILY_NAMES",
    "HIGHEST_MIDI",
    "LOWEST_MIDI",
    "INSTALL_HINT",
    "QUICK_PATH",
    "RENDER_SAMPLE_RATE",
    "RESAMPLE_MARGIN_S",
    "SILENCE_DB",
    "VELOCITY",
    "Instrument",
    "audible",
    "check_instruments",
    "check_soundfont",
    "excerpt_window",
    "family_indices",
    "file_sha256",
    "generate_real_notes",
    "gm_family",
    "import_fluidsynth",
    "load_real_notes",
    "main",
    "midi_to_hz",
    "note_plan",
    "note_set",
    "read_real_notes",
    "render_excerpts",
    "render_note",
    "save_real_notes",
]

FORMAT_VERSION = 1
DEFAULT_SOUNDFONT = "/usr/share/sounds/sf2/TimGM6mb.sf2"
DEFAULT_PATH = "data/real_notes_sr16000.pt"
QUICK_PATH = "data/real_notes_sr16000_quick.pt"
RENDER_SAMPLE_RATE = 48000  # Hz; 3 x SAMPLE_RATE, resampled down (see the module docstring)
EXCERPT_OFFSET_S = 0.3  # excerpt start after note-on, s: past the attack
# Rendered past the excerpt's end so that the resampling filter (a few dozen samples wide) never
# reaches the end of the rendered audio inside the excerpt.
RESAMPLE_MARGIN_S = 0.01
VELOCITY = 100  # MIDI velocity, 1-127
SILENCE_DB = 60.0  # an excerpt this far below its note's peak counts as decayed
# FluidSynth's output level; the float output never clips and the audio is peak-normalised when
# loaded, so the value only fixes the stored level (independent of the binding's default).
SYNTH_GAIN = 0.2
LOWEST_MIDI, HIGHEST_MIDI = 28, 94  # E1 (41.2 Hz) to A#6 (1864.7 Hz): inside 40-1950 Hz
INSTALL_HINT = (
    "install FluidSynth and the soundfont with `make soundfont` (Debian: `apt-get install -y "
    "fluidsynth timgm6mb-soundfont`) and the Python binding with "
    "`pip install -e '.[baselines]'` (pyfluidsynth)"
)

GM_FAMILY_NAMES = (
    "piano",
    "chromatic percussion",
    "organ",
    "guitar",
    "bass",
    "strings",
    "ensemble",
    "brass",
    "reed",
    "pipe",
    "synth lead",
    "synth pad",
    "synth effects",
    "ethnic",
    "percussive",
    "sound effects",
)


class Instrument(NamedTuple):
    """A General MIDI program and the range of MIDI notes rendered for it (both ends included)."""

    program: int  # General MIDI program, 0-based (0 = Acoustic Grand Piano)
    name: str
    lowest_midi: int
    highest_midi: int


# Sounding ranges of the real instruments, clipped to LOWEST_MIDI..HIGHEST_MIDI. The synth lead has
# no natural range: C2 to E5, because above E5 TimGM6mb's square wave folds back into the band
# (1.4 % of the excerpt's energy off the harmonics of f0 at F5, 20 % at G5).
DEFAULT_INSTRUMENTS = (
    Instrument(0, "Acoustic Grand Piano", 28, 94),
    Instrument(11, "Vibraphone", 53, 89),
    Instrument(20, "Reed Organ", 36, 94),
    Instrument(24, "Acoustic Guitar (nylon)", 40, 83),
    Instrument(33, "Electric Bass (finger)", 28, 67),
    Instrument(40, "Violin", 55, 94),
    Instrument(42, "Cello", 36, 76),
    Instrument(56, "Trumpet", 52, 82),
    Instrument(57, "Trombone", 40, 72),
    Instrument(71, "Clarinet", 50, 91),
    Instrument(73, "Flute", 60, 94),
    Instrument(80, "Lead 1 (square)", 36, 76),
)


# --------------------------------------------------------------------------------------------
# Pitch and plan


def midi_to_hz(midi_note: torch.Tensor) -> torch.Tensor:
    """Equal-tempered frequency of MIDI notes, A4 (69) = 440 Hz: ``440 * 2 ** ((m - 69) / 12)``.

    Args:
        midi_note: ``[N]`` MIDI note numbers (any real or integer dtype).

    Returns:
        ``[N]`` float32, Hz (computed in float64, then rounded once).
    """
    if not isinstance(midi_note, torch.Tensor):
        raise ValueError(f"`midi_note` must be a torch.Tensor [N], got {type(midi_note).__name__}")
    return (440.0 * 2.0 ** ((midi_note.to(torch.float64) - 69.0) / 12.0)).to(torch.float32)


def gm_family(program: int) -> int:
    """General MIDI family of a 0-based program: eight programs per family, ``program // 8``."""
    check_int("program", program, minimum=0)
    if program > 127:
        raise ValueError(f"`program` must be a General MIDI program in 0..127, got {program}")
    return program // 8


def check_instruments(instruments) -> tuple[Instrument, ...]:
    """Require a non-empty sequence of :class:`Instrument` with ranges inside 28..94 (MIDI)."""
    instruments = tuple(instruments)
    if not instruments or not all(isinstance(i, Instrument) for i in instruments):
        raise ValueError("`instruments` must be a non-empty sequence of Instrument")
    for instrument in instruments:
        gm_family(instrument.program)  # checks the program number
        lo, hi = instrument.lowest_midi, instrument.highest_midi
        if not (LOWEST_MIDI <= lo <= hi <= HIGHEST_MIDI):
            raise ValueError(
                f"`instruments`: {instrument.name!r} has MIDI range {lo}..{hi}; it must lie in "
                f"{LOWEST_MIDI}..{HIGHEST_MIDI} (f0 from 41.2 to 1864.7 Hz)"
            )
    return instruments


def note_plan(instruments, quick: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The notes to render: every semitone of each instrument's range, or only its two ends.

    Args:
        instruments: sequence of :class:`Instrument`.
        quick: only the lowest and highest note of each instrument (a few notes, for CI).

    Returns:
        ``(program [N] int64, midi_note [N] int64)``, instrument by instrument, notes rising.
    """
    programs, notes = [], []
    for instrument in check_instruments(instruments):
        lo, hi = instrument.lowest_midi, instrument.highest_midi
        keys = sorted({lo, hi}) if check_bool("quick", quick) else range(lo, hi + 1)
        programs += [instrument.program] * len(keys)
        notes += keys
    return torch.tensor(programs, dtype=torch.int64), torch.tensor(notes, dtype=torch.int64)


# --------------------------------------------------------------------------------------------
# Soundfont and synthesizer


def check_soundfont(soundfont: str | os.PathLike) -> Path:
    """Require an existing SoundFont 2 file: a ``.sf2`` name and a RIFF ``sfbk`` header.

    Raises:
        FileNotFoundError: no file at ``soundfont``.
        ValueError: the file is not a SoundFont 2 file.
    """
    path = Path(soundfont)
    if not path.is_file():
        hint = INSTALL_HINT if str(path) == DEFAULT_SOUNDFONT else "give the path of a .sf2 file"
        raise FileNotFoundError(f"`soundfont` {str(path)!r} does not exist; {hint}")
    if path.suffix.lower() != ".sf2":
        raise ValueError(f"`soundfont` must be a SoundFont 2 file (.sf2), got {str(path)!r}")
    with path.open("rb") as file:
        header = file.read(12)
    # RIFF container: "RIFF", 4-byte size, then the form type, "sfbk" for SoundFont 2
    if header[:4] != b"RIFF" or header[8:12] != b"sfbk":
        raise ValueError(f"`soundfont` {str(path)!r} is not a SoundFont 2 file (no RIFF sfbk header)")
    return path


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file, hex (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def import_fluidsynth():
    """The ``fluidsynth`` module of pyfluidsynth, with a clear error when it or the library is missing.

    Imported here, not at module level, so that the rest of the module (labels, plans, loading a
    saved file) works without FluidSynth.
    """
    try:
        import fluidsynth  # raises ImportError when libfluidsynth itself is not found
    except ImportError as error:
        raise RuntimeError(f"FluidSynth is not available ({error}); {INSTALL_HINT}") from None
    return fluidsynth


def _float_writer(fluidsynth):
    """``fluid_synth_write_float`` of libfluidsynth through ctypes.

    The binding's ``get_samples`` returns dithered 16-bit samples; the library's float output is
    exact and has no dither noise.
    """
    c_int, c_void_p = ctypes.c_int, ctypes.c_void_p
    write = fluidsynth.cfunc(
        "fluid_synth_write_float",
        c_int,
        ("synth", c_void_p, 1),
        ("len", c_int, 1),
        ("lout", c_void_p, 1),
        ("loff", c_int, 1),
        ("lincr", c_int, 1),
        ("rout", c_void_p, 1),
        ("roff", c_int, 1),
        ("rincr", c_int, 1),
    )
    if write is None:
        raise RuntimeError(f"this libfluidsynth lacks fluid_synth_write_float; {INSTALL_HINT}")
    return write


def render_note(
    soundfont: str | os.PathLike, program: int, midi_note: int, n_samples: int, velocity: int = VELOCITY
) -> torch.Tensor:
    """Render one note held from note-on, with a fresh synthesizer.

    Args:
        soundfont: ``.sf2`` file.
        program: General MIDI program, 0-based (bank 0).
        midi_note: MIDI note number, 0..127.
        n_samples: samples to render at :data:`RENDER_SAMPLE_RATE` (48 kHz).
        velocity: MIDI velocity, 1..127 (default :data:`VELOCITY`).

    Returns:
        ``[n_samples]`` float32 at 48 kHz, the mean of the left and right outputs.
    """
    path = check_soundfont(soundfont)
    gm_family(program)
    check_int("midi_note", midi_note, minimum=0)
    if midi_note > 127:
        raise ValueError(f"`midi_note` must be in 0..127, got {midi_note}")
    check_int("n_samples", n_samples, minimum=1)
    check_int("velocity", velocity, minimum=1)
    if velocity > 127:
        raise ValueError(f"`velocity` must be a MIDI velocity in 1..127, got {velocity}")
    fluidsynth = import_fluidsynth()
    write_float = _float_writer(fluidsynth)
    synth = fluidsynth.Synth(
        gain=SYNTH_GAIN,
        samplerate=RENDER_SAMPLE_RATE,
        **{
            "synth.reverb.active": 0,
            "synth.chorus.active": 0,
            # reads only the samples of the selected preset: loading a large soundfont whole for
            # every note would dominate the rendering time (same audio, measured bitwise)
            "synth.dynamic-sample-loading": 1,
        },
    )
    try:
        soundfont_id = synth.sfload(str(path))
        if soundfont_id < 0:
            raise ValueError(f"FluidSynth could not load `soundfont` {str(path)!r}")
        if synth.program_select(0, soundfont_id, 0, program) < 0:
            raise ValueError(f"`soundfont` {str(path)!r} has no preset for program {program} in bank 0")
        synth.noteon(0, midi_note, velocity)
        stereo = np.zeros((n_samples, 2), dtype=np.float32)  # interleaved left, right
        write_float(synth.synth, n_samples, stereo.ctypes.data, 0, 2, stereo.ctypes.data, 1, 2)
    finally:
        synth.delete()
    return torch.from_numpy(stereo.mean(axis=1))


def excerpt_window() -> tuple[int, int]:
    """First and one-past-last sample of the excerpt at 16 kHz, counted from note-on."""
    start = round(EXCERPT_OFFSET_S * SAMPLE_RATE)
    return start, start + N_SAMPLES


def render_excerpts(
    soundfont: str | os.PathLike,
    programs: torch.Tensor,
    midi_notes: torch.Tensor,
    progress: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Render each note, resample it to 16 kHz and cut its sustain excerpt.

    Args:
        soundfont: ``.sf2`` file.
        programs: ``[N]`` int64, General MIDI programs.
        midi_notes: ``[N]`` int64, MIDI note numbers.
        progress: show a tqdm progress bar.

    Returns:
        ``(excerpts [N, N_SAMPLES] float32 at 16 kHz, un-normalised;
        note_peaks [N] float32, max |x| over the whole rendered note from note-on, 16 kHz)``.
    """
    check_bool("progress", progress)
    if programs.shape != midi_notes.shape or programs.ndim != 1:
        raise ValueError(
            f"`programs` {tuple(programs.shape)} and `midi_notes` {tuple(midi_notes.shape)} "
            "must be [N] tensors of the same shape"
        )
    start, stop = excerpt_window()
    factor = RENDER_SAMPLE_RATE // SAMPLE_RATE
    n_render = (stop + round(RESAMPLE_MARGIN_S * SAMPLE_RATE)) * factor
    excerpts, peaks = [], []
    pairs = tqdm(
        zip(programs.tolist(), midi_notes.tolist()),
        total=len(programs),
        desc="rendering notes",
        unit="note",
        disable=not progress,
    )
    for program, midi_note in pairs:
        rendered = render_note(soundfont, program, midi_note, n_render)
        audio = AF.resample(rendered, RENDER_SAMPLE_RATE, SAMPLE_RATE)
        excerpts.append(audio[start:stop])
        peaks.append(audio.abs().max())
    return torch.stack(excerpts), torch.stack(peaks)


def audible(excerpts: torch.Tensor, note_peaks: torch.Tensor) -> torch.Tensor:
    """Which excerpts still sound: not all zeros, and peak within :data:`SILENCE_DB` of their note's.

    Args:
        excerpts: ``[N, n_samples]``.
        note_peaks: ``[N]``, max |x| of each whole rendered note (same scale as ``excerpts``).

    Returns:
        ``[N]`` bool.
    """
    if excerpts.ndim != 2 or note_peaks.shape != excerpts.shape[:1]:
        raise ValueError(
            f"`excerpts` must be [N, n_samples] and `note_peaks` [N], got "
            f"{tuple(excerpts.shape)} and {tuple(note_peaks.shape)}"
        )
    excerpt_peaks = excerpts.abs().amax(dim=-1)
    return (excerpt_peaks > 0) & (excerpt_peaks >= note_peaks * 10 ** (-SILENCE_DB / 20))


# --------------------------------------------------------------------------------------------
# Data set


def generate_real_notes(
    soundfont: str | os.PathLike = DEFAULT_SOUNDFONT,
    instruments=DEFAULT_INSTRUMENTS,
    quick: bool = False,
    progress: bool = True,
) -> dict:
    """Render the real-note set (layout in the module docstring); the same input gives the same data.

    Args:
        soundfont: ``.sf2`` file (default: Debian's TimGM6mb).
        instruments: sequence of :class:`Instrument` (default :data:`DEFAULT_INSTRUMENTS`).
        quick: only the two ends of each instrument's range (:func:`note_plan`).
        progress: show a progress bar while rendering.

    Returns:
        ``{"meta": dict, "examples": dict}``; ``examples["audio"]`` is ``[N, 4096]`` float32 at
        16 kHz, un-normalised, N the planned notes minus those dropped as silent.
    """
    check_bool("quick", quick)
    check_bool("progress", progress)
    path = check_soundfont(soundfont)
    instruments = check_instruments(instruments)
    import_fluidsynth()  # fail before the plan, with the install hint
    programs, midi_notes = note_plan(instruments, quick)
    excerpts, note_peaks = render_excerpts(path, programs, midi_notes, progress=progress)
    keep = audible(excerpts, note_peaks)
    if not keep.any():
        raise ValueError(f"no note rendered from `soundfont` {str(soundfont)!r} is audible")
    source = {"soundfont": str(soundfont), "soundfont_sha256": file_sha256(path)}
    return note_set(excerpts, keep, programs, midi_notes, instruments, source, quick)


def note_set(
    excerpts: torch.Tensor,
    keep: torch.Tensor,
    programs: torch.Tensor,
    midi_notes: torch.Tensor,
    instruments: tuple[Instrument, ...],
    source: dict,
    quick: bool,
) -> dict:
    """A rendered note set in the layout :func:`save_real_notes` writes and :func:`load_real_notes` reads.

    Args:
        excerpts: ``[N, 4096]`` rendered excerpts at 16 kHz, one per planned note.
        keep: ``[N]`` bool, the audible notes (:func:`audible`); the others are listed in
            ``meta["dropped"]`` as ``(program, MIDI note)``.
        programs, midi_notes: ``[N]`` int64, the plan (:func:`note_plan`).
        instruments: the instruments planned.
        source: what rendered them, added to ``meta`` (at least ``soundfont`` and ``soundfont_sha256``;
            the FreePats set adds its renderer and patches).
        quick: whether the plan was the quick one.
    """
    dropped = [(int(p), int(m)) for p, m in zip(programs[~keep], midi_notes[~keep])]
    programs, midi_notes = programs[keep], midi_notes[keep]
    names = {instrument.program: instrument.name for instrument in instruments}
    families = torch.tensor([gm_family(p) for p in programs.tolist()], dtype=torch.int64)
    examples = {
        "audio": excerpts[keep].contiguous(),
        "f0_hz": midi_to_hz(midi_notes),
        "midi_note": midi_notes,
        "program": programs,
        "family": families,
        "family_name": [GM_FAMILY_NAMES[f] for f in families.tolist()],
        "instrument": [names[p] for p in programs.tolist()],
    }
    meta = {
        "format_version": FORMAT_VERSION,
        "soundfont": source["soundfont"],
        "soundfont_sha256": source["soundfont_sha256"],
        "sample_rate": SAMPLE_RATE,
        "render_sample_rate": RENDER_SAMPLE_RATE,
        "n_samples": N_SAMPLES,
        "excerpt_offset_s": EXCERPT_OFFSET_S,
        "velocity": VELOCITY,
        "silence_db": SILENCE_DB,
        "quick": quick,
        "instruments": [
            {
                "program": i.program,
                "name": i.name,
                "family": GM_FAMILY_NAMES[gm_family(i.program)],
                "lowest_midi": i.lowest_midi,
                "highest_midi": i.highest_midi,
            }
            for i in instruments
        ],
        "family_names": list(GM_FAMILY_NAMES),
        "dropped": dropped,
        "peak_normalisation_at_load": PEAK_LEVEL,
    }
    meta |= {key: value for key, value in source.items() if key not in meta}
    return {"meta": meta, "examples": examples}


def save_real_notes(notes: dict, path: str | os.PathLike) -> str:
    """Write ``notes`` (from :func:`generate_real_notes`) to ``path`` atomically; return its SHA-256.

    The same notes give the same bytes, whatever the file name (:func:`sot_utils.training.data.dataset_bytes`).
    """
    if not isinstance(notes, dict) or not {"meta", "examples"} <= notes.keys():
        raise ValueError("`notes` must be the dict returned by generate_real_notes")
    return write_archive(notes, path)


def read_real_notes(path: str | os.PathLike) -> dict:
    """Load a file written by :func:`save_real_notes` as stored (audio un-normalised)."""
    return read_archive(
        path, "real-notes", FORMAT_VERSION, f"make real-notes` or `python -m sot_utils.study.real_notes --out {path}"
    )


def load_real_notes(path: str | os.PathLike = DEFAULT_PATH) -> dict:
    """The examples of a saved real-note set, audio peak-normalised to 0.9 (as the synthetic set).

    Returns:
        ``{"audio": [N, 4096] float32, peak-normalised; "f0_hz": [N] Hz; "midi_note",
        "program", "family": [N] int64; "family_name", "instrument": lists of N str;
        "sample_rate": int, Hz; "meta": dict}``.
    """
    notes = read_real_notes(path)
    examples = dict(notes["examples"])
    examples["audio"] = peak_normalize(examples["audio"])
    examples["sample_rate"] = notes["meta"]["sample_rate"]
    examples["meta"] = notes["meta"]
    return examples


def family_indices(family_name: list[str]) -> dict[str, torch.Tensor]:
    """Indices of the examples of each family, in General MIDI family order.

    Args:
        family_name: the ``N`` per-example family names (``load_real_notes(...)["family_name"]``).

    Returns:
        ``{family: [n_family] int64 indices into the examples}``, only the families present.
    """
    order = {name: rank for rank, name in enumerate(GM_FAMILY_NAMES)}
    unknown = sorted(set(family_name) - order.keys())
    if unknown:
        raise ValueError(f"`family_name` holds names that are not General MIDI families: {unknown}")
    present = sorted(set(family_name), key=order.__getitem__)
    return {
        name: torch.tensor([i for i, f in enumerate(family_name) if f == name], dtype=torch.int64) for name in present
    }


# --------------------------------------------------------------------------------------------
# CLI


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sot_utils.study.real_notes",
        description="Render single instrument notes of known MIDI pitch from a General MIDI soundfont.",
    )
    parser.add_argument(
        "--soundfont", default=DEFAULT_SOUNDFONT, help=f"SoundFont 2 file (default {DEFAULT_SOUNDFONT})"
    )
    parser.add_argument("--out", help=f"output file (default {DEFAULT_PATH}, or {QUICK_PATH} with --quick)")
    parser.add_argument(
        "--quick", action="store_true", help="render only the lowest and highest note of each instrument"
    )
    args = parser.parse_args(argv)
    out = args.out or (QUICK_PATH if args.quick else DEFAULT_PATH)
    try:
        check_out_file(out, Path(DEFAULT_PATH).name)
    except ValueError as error:
        parser.error(str(error))
    began = time.perf_counter()
    try:
        notes = generate_real_notes(args.soundfont, quick=args.quick, progress=True)
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        parser.error(str(error))
    digest = save_real_notes(notes, out)
    examples, meta = notes["examples"], notes["meta"]
    print(
        f"wrote {out}: {len(examples['f0_hz'])} notes of {len(meta['instruments'])} instruments "
        f"({len(set(examples['family_name']))} families), {len(meta['dropped'])} dropped as "
        f"silent, {time.perf_counter() - began:.1f} s, sha256 {digest[:16]}"
    )


if __name__ == "__main__":
    main()
