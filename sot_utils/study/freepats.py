"""A second real-note set, from the FreePats patches: held out from the training soundfont.

The second real-note set of the real-sounds work; no notebook reads it yet.

:mod:`sot_utils.study.real_notes` renders its notes from TimGM6mb, the soundfont the study is
developed against. This module renders the same kind of notes from another, independent sample
set: Debian's ``freepats`` package (Gravis UltraSound ``.pat`` patches, 2004-2006), played by
TiMidity++ (Debian's ``timidity``); ``make freepats`` installs both, without timidity's
recommended soundfont, which the project does not use. The result has the layout of the TimGM6mb
file, so :func:`sot_utils.study.real_notes.load_real_notes` reads it and every evaluation of the
real notes runs on it unchanged. It is evaluation data only: nothing is trained on it.

**Which programs.** Every General MIDI program that the config of the freepats package
(:data:`FREEPATS_CONFIG`) maps in bank 0 to a patch file, except the unpitched ones
(:data:`UNPITCHED_PROGRAMS`: wood block and three sound effects, which have no f0 to label) and
two whose waveform repeats at twice the labelled period (:data:`SUB_OCTAVE_PROGRAMS`: church organ
and timpani, left out as the TimGM6mb set leaves out its sub-octave organs).
Programs without a FreePats patch are skipped: timidity never gets a note for them, so it can
substitute nothing. The drum set (percussion channel) is not used.

**Which notes.** Every semitone of a program's range, which is the intersection of

- its sounding range as an instrument (:data:`GM_RANGES`): the ranges of
  :data:`~sot_utils.study.real_notes.DEFAULT_INSTRUMENTS` for the programs the TimGM6mb set has,
  usual ranges of the instruments for the others, and for synthesizer programs, which have no
  natural range, the range the TimGM6mb set gives its synth lead (C2 to E5);
- the key range of its patch: the union of the frequency ranges of the patch's samples, read from
  the ``.pat`` file (:func:`read_patch_samples`); the config gives no key ranges;
- MIDI 28..94, the notes whose f0 lies in the study's range
  :data:`~sot_utils.constants.DATA_F0_RANGE_HZ` (40-1950 Hz).

One range is cut for the sound of the patch: the string ensemble starts at C#2, because its
lowest sample (played up to C2) sounds the fifth above the note as well.

With Debian's freepats 20060219-4: 66 programs in 15 General MIDI families (all but sound
effects), 2753 notes planned, 2750 kept (three high xylophone notes have decayed by 0.3 s).

**How a note is rendered** (:func:`render_notes`), following :mod:`~sot_utils.study.real_notes`:
one Standard MIDI File per note (program change, note-on at velocity
:data:`~sot_utils.study.real_notes.VELOCITY` on channel 0 at time 0, note-off after the excerpt),
rendered by timidity at 48 kHz, 24-bit stereo, reverb, chorus and delay off, the initial silence
kept; the two channels are averaged, resampled to 16 kHz and the 4096-sample excerpt starting 0.3 s
after note-on is cut, and an excerpt more than 60 dB below its note's peak is dropped (the same
code as the TimGM6mb set). timidity waits one second after reading its configuration here (its
system-wide config names a file that is not installed), so one process renders a batch of notes:
one MIDI file each, one WAV file each, and with ``-U`` the patch is loaded again for every file;
a note renders to the same samples alone or after another (tested).

**Only FreePats.** timidity is always given the freepats config explicitly (``-c``). TiMidity++
2.14 has no option that skips its default configuration (the system-wide one, always read
before the command line, which Debian points at a soundfont this project does not install), so the
origin of every note is checked from timidity's verbose log instead (:func:`check_render_log`):
for each note, the log must map exactly the rendered program to the patch the freepats config
names, the file opened must be that patch under :data:`FREEPATS_PATCH_DIR`, and the samples timidity
loaded (rate and low, high and root frequencies) must be exactly those of that ``.pat`` file.
Anything else stops the rendering. The config must exist, name no other file (no ``source``, no
soundfont) and point at :data:`FREEPATS_PATCH_DIR`; without it the renderer refuses to run, and
it never falls back on another config. timidity also runs with an empty ``HOME``, so that no
user config (``.timidity.cfg`` in the home folder) is read.

**Labels** are nominal, as in the TimGM6mb set (equal temperament, A4 = 440 Hz). Measured on
the 2750 notes, the peak of the fundamental lies within 25 cents of the label for 97.6 % of them
and within 50 cents for 99.5 % (median deviation per program between -20 and +13 cents; the
blown bottle is the flattest); the project's YIN baseline reads 95.8 % of them within 50 cents.

File layout: that of :mod:`sot_utils.study.real_notes` (format version 1), with ``meta["soundfont"]``
the freepats config and ``meta["soundfont_sha256"]`` its SHA-256, plus ``meta["renderer"]``
(timidity's version line), ``meta["patch_set"]`` (``"freepats"``), ``meta["patches"]`` (per
rendered program: the patch path and its SHA-256) and ``meta["skipped_programs"]`` (program,
reason: no patch, unpitched, or no note in range).

CLI: ``python -m sot_utils.study.freepats [--out PATH] [--quick]`` (``make real-notes-freepats``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import tempfile
import time
import wave
from pathlib import Path

import numpy as np
import torch
import torchaudio.functional as AF
from tqdm.auto import tqdm

from ..constants import DATA_F0_RANGE_HZ, SAMPLE_RATE
from ..training.data import check_out_file
from ..validation import check_bool, check_int
from .freepats_patches import (
    FREEPATS_CONFIG,
    INSTALL_HINT,
    FreePatsConfig,
    PatchSample,
    patch_key_range,
    read_freepats_config,
    read_patch_samples,
)
from .real_notes import (
    DEFAULT_INSTRUMENTS,
    RENDER_SAMPLE_RATE,
    RESAMPLE_MARGIN_S,
    VELOCITY,
    Instrument,
    audible,
    check_instruments,
    excerpt_window,
    file_sha256,
    gm_family,
    load_real_notes,
    note_plan,
    note_set,
    save_real_notes,
)

__all__ = [
    "DEFAULT_PATH",
    "GM_RANGES",
    "QUICK_PATH",
    "SUB_OCTAVE_PROGRAMS",
    "UNPITCHED_PROGRAMS",
    "check_render_log",
    "freepats_instruments",
    "generate_freepats_notes",
    "load_freepats_notes",
    "main",
    "midi_file_bytes",
    "render_excerpts",
    "render_note",
    "render_notes",
    "timidity_command",
]

DEFAULT_PATH = "data/real_notes_freepats_sr16000.pt"
QUICK_PATH = "data/real_notes_freepats_sr16000_quick.pt"
TIMIDITY = "timidity"
BATCH_SIZE = 128  # notes per timidity process (each waits about 1 s at start; about 100 MB of WAV files)
TICKS_PER_QUARTER = 480
TEMPO_US_PER_QUARTER = 500_000  # 120 beats per minute: 960 ticks per second
TIMIDITY_TIMEOUT_S = 600.0  # for one batch; a batch takes a few seconds
FULL_SCALE_24_BIT = 2**23

# General MIDI programs (0-based) that FreePats holds but that have no pitch to label.
UNPITCHED_PROGRAMS = {
    115: "unpitched (wood block)",
    120: "unpitched (sound effect: guitar fret noise)",
    122: "unpitched (sound effect: seashore)",
    125: "unpitched (sound effect: helicopter)",
}

# Pitched FreePats programs whose waveform repeats at twice the labelled period, so that the label
# would not be the f0 of the audio (as the TimGM6mb set leaves out its sub-octave organs); measured
# on every note of their ranges, the energy off the harmonics of the label is 20-60 % but falls
# below 25 % for harmonics of half the label, and YIN reads most notes an octave low.
SUB_OCTAVE_PROGRAMS = {
    19: "sounds a sub-octave (church organ: a 16-foot stop under the labelled pitch)",
    47: "sounds a sub-octave (timpani: a partial at 1.5 times the labelled f0, nearly as loud as it)",
}

# Synthesizer programs have no natural range: they get the range of the TimGM6mb set's synth lead.
_SYNTH_RANGE = next((i.lowest_midi, i.highest_midi) for i in DEFAULT_INSTRUMENTS if i.program == 80)

# General MIDI name and sounding range (MIDI notes, both ends included, before clipping to 28..94)
# of every pitched program FreePats holds. The programs of the TimGM6mb set keep its ranges;
# the others have usual ranges of the instruments (sounding pitch; a section or ensemble spans
# its lowest to its highest member).
GM_RANGES: dict[int, tuple[str, int, int]] = {
    **{i.program: (i.name, i.lowest_midi, i.highest_midi) for i in DEFAULT_INSTRUMENTS},
    1: ("Bright Acoustic Piano", 21, 108),
    2: ("Electric Grand Piano", 21, 108),
    4: ("Electric Piano 1", 28, 100),
    5: ("Electric Piano 2", 28, 100),
    6: ("Harpsichord", 29, 89),
    7: ("Clavi", 29, 88),
    8: ("Celesta", 60, 108),
    9: ("Glockenspiel", 79, 108),
    13: ("Xylophone", 65, 108),
    14: ("Tubular Bells", 60, 77),
    15: ("Dulcimer", 50, 86),
    16: ("Drawbar Organ", 36, 96),
    19: ("Church Organ", 36, 96),
    21: ("Accordion", 53, 93),
    23: ("Tango Accordion", 36, 93),
    25: ("Acoustic Guitar (steel)", 40, 84),
    26: ("Electric Guitar (jazz)", 40, 86),
    27: ("Electric Guitar (clean)", 40, 86),
    28: ("Electric Guitar (muted)", 40, 86),
    29: ("Overdriven Guitar", 40, 86),
    30: ("Distortion Guitar", 40, 86),
    32: ("Acoustic Bass", 28, 60),
    34: ("Electric Bass (pick)", 28, 67),
    35: ("Fretless Bass", 28, 67),
    36: ("Slap Bass 1", 28, 67),
    37: ("Slap Bass 2", 28, 67),
    38: ("Synth Bass 1", 28, 67),
    44: ("Tremolo Strings", 28, 96),
    45: ("Pizzicato Strings", 28, 96),
    46: ("Orchestral Harp", 24, 103),
    47: ("Timpani", 36, 60),
    # from C#2: the patch's lowest sample (played for MIDI 0-36) sounds a fifth above the note too,
    # so that the waveform's period is twice the labelled one there
    48: ("String Ensemble 1", 37, 96),
    53: ("Voice Oohs", 40, 84),
    58: ("Tuba", 26, 65),
    59: ("Muted Trumpet", 52, 82),
    60: ("French Horn", 35, 77),
    61: ("Brass Section", 40, 82),
    64: ("Soprano Sax", 56, 88),
    65: ("Alto Sax", 49, 80),
    66: ("Tenor Sax", 44, 76),
    67: ("Baritone Sax", 37, 68),
    68: ("Oboe", 58, 91),
    69: ("English Horn", 52, 84),
    70: ("Bassoon", 34, 76),
    72: ("Piccolo", 74, 108),
    74: ("Recorder", 72, 98),
    75: ("Pan Flute", 67, 96),
    76: ("Blown Bottle", 48, 84),
    79: ("Ocarina", 69, 89),
    84: ("Lead 5 (charang)", *_SYNTH_RANGE),
    88: ("Pad 1 (new age)", *_SYNTH_RANGE),
    94: ("Pad 7 (halo)", *_SYNTH_RANGE),
    95: ("Pad 8 (sweep)", *_SYNTH_RANGE),
    98: ("FX 3 (crystal)", *_SYNTH_RANGE),
    101: ("FX 6 (goblins)", *_SYNTH_RANGE),
    102: ("FX 7 (echoes)", *_SYNTH_RANGE),
    104: ("Sitar", 48, 84),
    114: ("Steel Drums", 60, 88),
}

# The notes whose equal-tempered f0 lies inside the study's f0 range (MIDI 28..94).
_LOWEST_MIDI = int(np.ceil(69 + 12 * np.log2(DATA_F0_RANGE_HZ[0] / 440.0)))
_HIGHEST_MIDI = int(np.floor(69 + 12 * np.log2(DATA_F0_RANGE_HZ[1] / 440.0)))


# --------------------------------------------------------------------------------------------
# The FreePats instruments


def freepats_instruments(
    config: str | os.PathLike = FREEPATS_CONFIG,
) -> tuple[tuple[Instrument, ...], list[tuple[int, str]]]:
    """The programs to render and their note ranges (module docstring), and the programs skipped.

    Returns:
        ``(instruments, skipped)``: :class:`~sot_utils.study.real_notes.Instrument` in program
        order; ``skipped`` the ``(program, reason)`` of every other General MIDI program 0..127.
    """
    freepats = read_freepats_config(config)
    instruments, skipped = [], []
    for program in range(128):
        if program not in freepats.patches:
            skipped.append((program, "no FreePats patch"))
        elif program in UNPITCHED_PROGRAMS or program in SUB_OCTAVE_PROGRAMS:
            skipped.append((program, {**UNPITCHED_PROGRAMS, **SUB_OCTAVE_PROGRAMS}[program]))
        elif program not in GM_RANGES:
            skipped.append((program, "no sounding range known (add it to GM_RANGES)"))
        else:
            name, lo, hi = GM_RANGES[program]
            patch_lo, patch_hi = patch_key_range(read_patch_samples(freepats.patch_path(program)))
            lo, hi = max(lo, patch_lo, _LOWEST_MIDI), min(hi, patch_hi, _HIGHEST_MIDI)
            if lo > hi:
                skipped.append((program, "no note of its range inside the patch's keys and the f0 range"))
            else:
                instruments.append(Instrument(program, name, lo, hi))
    return check_instruments(instruments), skipped


# --------------------------------------------------------------------------------------------
# Rendering with timidity


def _variable_length(value: int) -> bytes:
    """A MIDI variable-length quantity: 7 bits per byte, most significant first."""
    groups = [value & 0x7F]
    value >>= 7
    while value:
        groups.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(groups))


def midi_file_bytes(program: int, midi_note: int, duration_s: float) -> bytes:
    """A format-0 Standard MIDI File with one note on channel 0, held ``duration_s`` from time 0.

    Tempo 120 beats per minute, 480 ticks per beat (960 ticks per second); velocity
    :data:`~sot_utils.study.real_notes.VELOCITY`; the note-off is rounded up to a whole tick.
    """
    gm_family(program)
    check_int("midi_note", midi_note, minimum=0)
    if midi_note > 127:
        raise ValueError(f"`midi_note` must be in 0..127, got {midi_note}")
    if not duration_s > 0:
        raise ValueError(f"`duration_s` must be > 0, got {duration_s}")
    ticks_per_second = TICKS_PER_QUARTER * 1_000_000 / TEMPO_US_PER_QUARTER
    note_off = int(np.ceil(duration_s * ticks_per_second))
    track = b"".join(
        [
            _variable_length(0) + b"\xff\x51\x03" + TEMPO_US_PER_QUARTER.to_bytes(3, "big"),
            _variable_length(0) + bytes([0xC0, program]),
            _variable_length(0) + bytes([0x90, midi_note, VELOCITY]),
            _variable_length(note_off) + bytes([0x80, midi_note, 0]),
            _variable_length(0) + b"\xff\x2f\x00",
        ]
    )
    header = b"MThd" + (6).to_bytes(4, "big") + (0).to_bytes(2, "big") + (1).to_bytes(2, "big")
    header += TICKS_PER_QUARTER.to_bytes(2, "big")
    return header + b"MTrk" + len(track).to_bytes(4, "big") + track


def timidity_command(config: str | os.PathLike, midi_files: list[str]) -> list[str]:
    """The timidity command line that renders each MIDI file to a WAV file of the same name.

    The freepats config is given explicitly; verbose log (``-idvv``) for :func:`check_render_log`;
    every option that changes the audio is set, so that an ``opt`` line of timidity's default
    config cannot change it: 48 kHz, 24-bit signed linear stereo WAV, reverb, chorus and delay
    off, Gauss-like interpolation (timidity's default), no anti-aliasing pass, volume 70 %
    (timidity's default), no fast decay, no volume compensation, initial silence kept, and every
    patch loaded again for each file (``-U``).
    """
    return [
        TIMIDITY,
        "-c",
        str(config),
        "-idvv",
        "-U",
        "--preserve-silence",
        "-EFreverb=d",
        "-EFchorus=d",
        "-EFdelay=d",
        "-EFresamp=g",
        "--no-anti-alias",
        "--no-fast-decay",
        "--no-volume-compensation",
        "--volume=70",
        f"--sampling-freq={RENDER_SAMPLE_RATE}",
        "-Ow2slS",
        *midi_files,
    ]


_PLAYING = re.compile(r"^Playing (.+)$")
_TONEBANK = re.compile(r"^(Tonebank|Drumset) (\d+) (\d+): (.*)$")
_OPENING = re.compile(r"^Trying to open (.+)$")
_SAMPLE = re.compile(r"^Rate/Low/Hi/Root = (\d+)/(\d+)/(\d+)/(\d+)$")


def check_render_log(log: str, freepats: FreePatsConfig, notes: list[tuple[str, int]]) -> None:
    """Check from timidity's verbose log that each note was played from its FreePats patch alone.

    For each MIDI file, the log must show exactly one instrument mapping, bank 0 and the note's
    program to the patch name of the freepats config; the last file opened for it must be that
    patch under :data:`FREEPATS_PATCH_DIR` (earlier attempts: the name as written, or other paths
    in that folder); and the samples loaded must be exactly those of the ``.pat`` file (rate, low,
    high and root frequency, in order).

    Args:
        log: timidity's standard output with ``-idvv``.
        freepats: from :func:`read_freepats_config`.
        notes: ``(MIDI file name as passed to timidity, program)`` of each rendered note, in order.

    Raises:
        RuntimeError: the log does not show that, naming the note and what was found.
    """
    segments: dict[str, list[str]] = {}
    current = None
    for line in log.splitlines():
        match = _PLAYING.match(line.strip())
        if match:
            current = match.group(1)
            segments[current] = []
        elif current is not None:
            segments[current].append(line.strip())
    patch_samples: dict[int, list[PatchSample]] = {}
    for midi_file, program in notes:
        lines = segments.get(midi_file)
        where = f"timidity's log for program {program} ({midi_file})"
        if lines is None:
            raise RuntimeError(f"{where} is missing: timidity did not play the file")
        mappings = [m.groups() for m in map(_TONEBANK.match, lines) if m]
        expected_name = freepats.patches[program]
        if mappings != [("Tonebank", "0", str(program), expected_name)]:
            raise RuntimeError(
                f"{where}: expected the single mapping `Tonebank 0 {program}: {expected_name}` of the "
                f"freepats config, got {mappings}; refusing a render that may not come from FreePats"
            )
        opened = [m.group(1) for m in map(_OPENING.match, lines) if m]
        opened = [path for path in opened if path != midi_file]
        expected_path = str(freepats.patch_path(program))
        outside = [
            p
            for p in opened
            if p not in (expected_name, expected_name + ".pat") and Path(p).parent != Path(expected_path).parent
        ]
        if not opened or opened[-1] != expected_path or outside:
            raise RuntimeError(
                f"{where}: expected the patch {expected_path!r} to be the file loaded, got the attempts "
                f"{opened}; refusing a render that may not come from FreePats"
            )
        loaded = [PatchSample(*map(int, m.groups())) for m in map(_SAMPLE.match, lines) if m]
        if program not in patch_samples:
            patch_samples[program] = read_patch_samples(expected_path)
        if loaded != patch_samples[program]:
            raise RuntimeError(
                f"{where}: the samples timidity loaded ({len(loaded)}) are not those of {expected_path!r}; "
                "refusing a render that may not come from FreePats"
            )


def _read_wav_24bit(path: Path, n_samples: int) -> np.ndarray:
    """The first ``n_samples`` frames of a 24-bit stereo WAV from timidity, mono, full scale 1.0."""
    with wave.open(str(path), "rb") as file:
        if (file.getnchannels(), file.getsampwidth(), file.getframerate()) != (2, 3, RENDER_SAMPLE_RATE):
            raise RuntimeError(f"timidity wrote {path.name} in an unexpected format: {file.getparams()}")
        frames = file.readframes(n_samples)
    raw = np.frombuffer(frames, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
    values = raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)
    values = np.where(values >= FULL_SCALE_24_BIT, values - 2 * FULL_SCALE_24_BIT, values)
    stereo = values.reshape(-1, 2)
    if len(stereo) < n_samples:
        raise RuntimeError(f"timidity rendered {len(stereo)} samples for {path.name}, fewer than {n_samples}")
    if np.abs(stereo).max() >= FULL_SCALE_24_BIT - 1:
        raise RuntimeError(f"timidity's output for {path.name} reaches full scale: the note is clipped")
    return stereo.astype(np.float64).mean(axis=1).astype(np.float32) / FULL_SCALE_24_BIT


def _timidity_path() -> str:
    path = shutil.which(TIMIDITY)
    if path is None:
        raise RuntimeError(f"timidity is not installed; {INSTALL_HINT}")
    return path


def render_notes(
    programs: list[int], midi_notes: list[int], n_samples: int, config: str | os.PathLike = FREEPATS_CONFIG
) -> torch.Tensor:
    """Render notes with one timidity process (module docstring), checking that each came from FreePats.

    Args:
        programs: ``N`` General MIDI programs, 0-based, each with a FreePats patch.
        midi_notes: ``N`` MIDI note numbers, 0..127.
        n_samples: samples to keep per note from note-on, at :data:`RENDER_SAMPLE_RATE` (48 kHz).
        config: the freepats package's timidity config.

    Returns:
        ``[N, n_samples]`` float32 at 48 kHz, the mean of the left and right outputs (24-bit full
        scale = 1).

    Raises:
        FileNotFoundError: the config is missing.
        ValueError: bad arguments, or a program without a FreePats patch.
        RuntimeError: timidity is missing or fails, or a note does not come from FreePats.
    """
    freepats = read_freepats_config(config)
    programs, midi_notes = list(programs), list(midi_notes)
    if len(programs) != len(midi_notes) or not programs:
        raise ValueError(
            f"`programs` ({len(programs)}) and `midi_notes` ({len(midi_notes)}) must be non-empty, of the same length"
        )
    check_int("n_samples", n_samples, minimum=1)
    missing = sorted({p for p in programs if p not in freepats.patches})
    if missing:
        raise ValueError(
            f"`programs` {missing} have no FreePats patch in {str(freepats.path)!r}; they cannot be rendered"
        )
    timidity = _timidity_path()
    # held until the last kept sample, plus one tick
    duration_s = n_samples / RENDER_SAMPLE_RATE + TEMPO_US_PER_QUARTER / TICKS_PER_QUARTER / 1e6
    with tempfile.TemporaryDirectory(prefix="freepats_") as folder:
        folder = Path(folder)
        names = [f"note_{i:05d}.mid" for i in range(len(programs))]
        for name, program, midi_note in zip(names, programs, midi_notes):
            (folder / name).write_bytes(midi_file_bytes(program, midi_note, duration_s))
        command = timidity_command(freepats.path.resolve(), names)
        command[0] = timidity
        # an empty HOME: no user config is read; the folder as working directory: no patch name
        # resolves there, so each patch is opened from the FreePats folder
        env = {**os.environ, "HOME": str(folder), "LC_ALL": "C"}
        result = subprocess.run(
            command, cwd=folder, env=env, capture_output=True, text=True, errors="replace", timeout=TIMIDITY_TIMEOUT_S
        )
        if result.returncode != 0:
            raise RuntimeError(f"timidity failed (exit status {result.returncode}): {result.stderr.strip()[-500:]}")
        check_render_log(result.stdout, freepats, list(zip(names, programs)))
        audio = [_read_wav_24bit(folder / Path(name).with_suffix(".wav"), n_samples) for name in names]
    return torch.from_numpy(np.stack(audio))


def render_note(
    program: int, midi_note: int, n_samples: int, config: str | os.PathLike = FREEPATS_CONFIG
) -> torch.Tensor:
    """Render one note (:func:`render_notes` with a single note): ``[n_samples]`` float32 at 48 kHz."""
    return render_notes([program], [midi_note], n_samples, config)[0]


def render_excerpts(
    programs: torch.Tensor,
    midi_notes: torch.Tensor,
    config: str | os.PathLike = FREEPATS_CONFIG,
    progress: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Render each note, resample it to 16 kHz and cut its sustain excerpt (as the TimGM6mb set).

    Args:
        programs: ``[N]`` int64, General MIDI programs.
        midi_notes: ``[N]`` int64, MIDI note numbers.
        config: the freepats package's timidity config.
        progress: show a tqdm progress bar.

    Returns:
        ``(excerpts [N, N_SAMPLES] float32 at 16 kHz, un-normalised;
        note_peaks [N] float32, max |x| over the whole rendered note from note-on, 16 kHz)``.
    """
    check_bool("progress", progress)
    if not isinstance(programs, torch.Tensor) or not isinstance(midi_notes, torch.Tensor):
        raise ValueError("`programs` and `midi_notes` must be [N] torch tensors")
    if programs.shape != midi_notes.shape or programs.ndim != 1 or len(programs) == 0:
        raise ValueError(
            f"`programs` {tuple(programs.shape)} and `midi_notes` {tuple(midi_notes.shape)} "
            "must be non-empty [N] tensors of the same shape"
        )
    start, stop = excerpt_window()
    factor = RENDER_SAMPLE_RATE // SAMPLE_RATE
    n_render = (stop + round(RESAMPLE_MARGIN_S * SAMPLE_RATE)) * factor
    excerpts, peaks = [], []
    with tqdm(total=len(programs), desc="rendering FreePats notes", unit="note", disable=not progress) as bar:
        for first in range(0, len(programs), BATCH_SIZE):
            batch = slice(first, first + BATCH_SIZE)
            rendered = render_notes(programs[batch].tolist(), midi_notes[batch].tolist(), n_render, config)
            audio = AF.resample(rendered, RENDER_SAMPLE_RATE, SAMPLE_RATE)
            excerpts.append(audio[:, start:stop])
            peaks.append(audio.abs().amax(dim=-1))
            bar.update(len(rendered))
    return torch.cat(excerpts), torch.cat(peaks)


def _timidity_version() -> str:
    result = subprocess.run([_timidity_path(), "--version"], capture_output=True, text=True, errors="replace")
    lines = [line.strip() for line in result.stdout.splitlines() if "version" in line.lower()]
    return lines[0] if lines else "timidity (version unknown)"


# --------------------------------------------------------------------------------------------
# Data set


def generate_freepats_notes(
    config: str | os.PathLike = FREEPATS_CONFIG, quick: bool = False, progress: bool = True, instruments=None
) -> dict:
    """Render the FreePats real-note set, in the layout of :mod:`sot_utils.study.real_notes`.

    Args:
        config: the freepats package's timidity config (:data:`FREEPATS_CONFIG`).
        quick: only the two ends of each program's range.
        progress: show a progress bar while rendering.
        instruments: a subset to render (sequence of
            :class:`~sot_utils.study.real_notes.Instrument`, each a program of
            :func:`freepats_instruments` with a range inside its range); default all of them.

    Returns:
        ``{"meta": dict, "examples": dict}``; ``examples["audio"]`` is ``[N, 4096]`` float32 at
        16 kHz, un-normalised.
    """
    check_bool("quick", quick)
    check_bool("progress", progress)
    freepats = read_freepats_config(config)
    available, skipped = freepats_instruments(config)
    if instruments is None:
        instruments = available
    else:
        instruments = check_instruments(instruments)
        ranges = {i.program: i for i in available}
        for instrument in instruments:
            allowed = ranges.get(instrument.program)
            if allowed is None or not (
                allowed.lowest_midi <= instrument.lowest_midi and instrument.highest_midi <= allowed.highest_midi
            ):
                raise ValueError(
                    f"`instruments`: {instrument.name!r} (program {instrument.program}, MIDI "
                    f"{instrument.lowest_midi}..{instrument.highest_midi}) is not inside a FreePats program's "
                    f"range; available: {[(i.program, i.lowest_midi, i.highest_midi) for i in available]}"
                )
    _timidity_path()  # fail before the plan, with the install hint
    programs, midi_notes = note_plan(instruments, quick)
    excerpts, note_peaks = render_excerpts(programs, midi_notes, config, progress=progress)
    keep = audible(excerpts, note_peaks)
    if not keep.any():
        raise ValueError("no FreePats note rendered is audible")
    source = {
        "soundfont": str(config),
        "soundfont_sha256": file_sha256(freepats.path),
        "renderer": _timidity_version(),
        "patch_set": "freepats",
        "patches": [
            {
                "program": i.program,
                "patch": str(freepats.patch_path(i.program)),
                "sha256": file_sha256(freepats.patch_path(i.program)),
            }
            for i in instruments
        ],
        "skipped_programs": [list(item) for item in skipped],
    }
    return note_set(excerpts, keep, programs, midi_notes, instruments, source, quick)


def load_freepats_notes(path: str | os.PathLike = DEFAULT_PATH) -> dict:
    """:func:`~sot_utils.study.real_notes.load_real_notes` of a FreePats file (audio peak-normalised
    to 0.9), with the command that makes it when it is missing."""
    if not os.path.lexists(path):
        raise FileNotFoundError(
            f"FreePats real-notes file {str(path)!r} not found; create it with `make real-notes-freepats` "
            f"or `python -m sot_utils.study.freepats --out {path}`"
        )
    return load_real_notes(path)


# --------------------------------------------------------------------------------------------
# CLI


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sot_utils.study.freepats",
        description=(
            "Render single instrument notes of known MIDI pitch from the FreePats patches with timidity "
            f"(config {FREEPATS_CONFIG}): a real-note set independent of the training soundfont."
        ),
    )
    parser.add_argument("--out", help=f"output file (default {DEFAULT_PATH}, or {QUICK_PATH} with --quick)")
    parser.add_argument("--quick", action="store_true", help="render only the lowest and highest note of each program")
    args = parser.parse_args(argv)
    out = args.out or (QUICK_PATH if args.quick else DEFAULT_PATH)
    try:
        check_out_file(out, Path(DEFAULT_PATH).name)
    except ValueError as error:
        parser.error(str(error))
    began = time.perf_counter()
    try:
        notes = generate_freepats_notes(quick=args.quick, progress=True)
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        parser.error(str(error))
    digest = save_real_notes(notes, out)
    examples, meta = notes["examples"], notes["meta"]
    print(
        f"wrote {out}: {len(examples['f0_hz'])} notes of {len(meta['instruments'])} FreePats programs "
        f"({len(set(examples['family_name']))} families), {len(meta['dropped'])} dropped as "
        f"silent, {time.perf_counter() - began:.1f} s, sha256 {digest[:16]}"
    )


if __name__ == "__main__":
    main()
