"""An unlabeled training corpus of real instrument notes, split by instrument.

The study's models learn pitch from synthetic tones. This corpus lets them learn from recordings
instead: notes of every pitched General MIDI program of the TimGM6mb soundfont (families 0-13;
the percussive and sound-effect families have no stable pitch), each at many pitches and
velocities, and each cut at two positions: from note-on (the attack) and from a drawn point of the
sustain. It is stored in the layout of the synthetic dataset (:mod:`sot_utils.training.data`), so
a run trains on it with ``data: <this file>``:

- ``audio``: the 4096-sample excerpts at 16 kHz, un-normalised (peak-normalised at load);
- ``f0_hz``: the notes' equal-tempered pitch, **for evaluation only**: no loss reads it;
- ``amplitudes`` are unknown (NaN) and ``n_harmonics``, ``n_audible_harmonics`` are -1;
- ``program``, ``midi_note``, ``velocity``, ``offset_s``: what was rendered.

**Split by instrument.** The test split holds the twelve programs of the study's TimGM6mb
real-note set (:data:`sot_utils.study.real_notes.DEFAULT_INSTRUMENTS`), so no test instrument is
heard in training; the validation split holds one program per family drawn among the rest
(:func:`validation_programs`); training gets every other program. The FreePats notes
(:mod:`sot_utils.study.freepats`) come from another sample set altogether.

``python -m sot_utils.study.real_corpus [--seed 0] [--out PATH] [--quick]``
(``make real-corpus``) writes :data:`DEFAULT_PATH`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torchaudio.functional as AF
from tqdm.auto import tqdm

from ..constants import DATA_MAX_HARMONICS, N_SAMPLES, PEAK_LEVEL, SAMPLE_RATE
from ..training.data import FORMAT_VERSION, SPLITS, save_dataset
from ..validation import check_bool, check_int
from . import real_notes
from .real_notes import (
    DEFAULT_INSTRUMENTS,
    DEFAULT_SOUNDFONT,
    GM_FAMILY_NAMES,
    RENDER_SAMPLE_RATE,
    RESAMPLE_MARGIN_S,
    SILENCE_DB,
    check_soundfont,
    file_sha256,
    gm_family,
    import_fluidsynth,
    midi_to_hz,
)

__all__ = [
    "DEFAULT_PATH",
    "FAMILY_RANGES",
    "NOTES_PER_PROGRAM",
    "QUICK_PATH",
    "SUSTAIN_OFFSET_S",
    "TEST_PROGRAMS",
    "VELOCITY_RANGE",
    "corpus_plan",
    "generate_real_corpus",
    "main",
    "validation_programs",
]

DEFAULT_PATH = "data/real_corpus_timgm6mb_sr16000_seed0.pt"
"""The corpus file ``make real-corpus`` writes (seed 0)."""
QUICK_PATH = "data/real_corpus_timgm6mb_sr16000_seed0_quick.pt"
"""A few programs and notes, for tests."""

FAMILY_RANGES = {
    0: (28, 94),  # piano
    1: (53, 94),  # chromatic percussion
    2: (36, 94),  # organ
    3: (40, 84),  # guitar
    4: (28, 67),  # bass
    5: (36, 94),  # strings
    6: (40, 88),  # ensemble
    7: (40, 82),  # brass
    8: (46, 91),  # reed
    9: (55, 94),  # pipe
    10: (36, 76),  # synth lead: above E5 TimGM6mb's square folds back into the band (real_notes)
    11: (36, 84),  # synth pad
    12: (40, 84),  # synth effects
    13: (48, 88),  # ethnic
}
"""MIDI range drawn for each pitched General MIDI family (typical sounding ranges, inside the
study's 28..94, E1 to A#6)."""
TEST_PROGRAMS = tuple(instrument.program for instrument in DEFAULT_INSTRUMENTS)
"""The test split's programs: those of the study's TimGM6mb real-note set."""
NOTES_PER_PROGRAM = 24
"""Notes drawn per program (pitch and velocity), each cut at two positions."""
VELOCITY_RANGE = (40, 127)
"""MIDI velocities drawn uniformly, both ends included."""
SUSTAIN_OFFSET_S = (0.1, 0.6)
"""The sustain excerpt starts this long after note-on, drawn uniformly (s); the onset excerpt at 0."""


def validation_programs(seed: int = 0) -> tuple[int, ...]:
    """One program per pitched family, drawn among the programs not in the test split (sorted)."""
    generator = torch.Generator().manual_seed(check_int("seed", seed, minimum=0))
    chosen = []
    for family in FAMILY_RANGES:
        candidates = [p for p in range(8 * family, 8 * family + 8) if p not in TEST_PROGRAMS]
        chosen.append(candidates[int(torch.randint(len(candidates), (1,), generator=generator))])
    return tuple(sorted(chosen))


def corpus_plan(seed: int = 0, quick: bool = False) -> dict[str, torch.Tensor]:
    """What to render: per program, :data:`NOTES_PER_PROGRAM` drawn (pitch, velocity, sustain offset).

    Args:
        seed: seeds the validation programs and every draw (a ``torch.Generator``, never the global RNG).
        quick: two programs per split and three notes each (tests).

    Returns:
        ``{"program", "midi_note", "velocity", "sustain_offset_s", "split"}``, one entry per note
        ([N] tensors; ``split`` indexes :data:`~sot_utils.training.data.SPLITS`).
    """
    check_bool("quick", quick)
    validation = validation_programs(seed)
    pitched = [p for family in FAMILY_RANGES for p in range(8 * family, 8 * family + 8)]
    by_split = {
        "train": [p for p in pitched if p not in TEST_PROGRAMS and p not in validation],
        "val": list(validation),
        "test": list(TEST_PROGRAMS),
    }
    per_program = 3 if quick else NOTES_PER_PROGRAM
    if quick:
        by_split = {name: programs[:2] for name, programs in by_split.items()}
    generator = torch.Generator().manual_seed(seed + 1)
    plan = {key: [] for key in ("program", "midi_note", "velocity", "sustain_offset_s", "split")}
    for split_index, name in enumerate(SPLITS):
        for program in by_split[name]:
            low, high = FAMILY_RANGES[gm_family(program)]
            plan["program"] += [program] * per_program
            plan["midi_note"] += torch.randint(low, high + 1, (per_program,), generator=generator).tolist()
            plan["velocity"] += torch.randint(
                VELOCITY_RANGE[0], VELOCITY_RANGE[1] + 1, (per_program,), generator=generator
            ).tolist()
            lo, hi = SUSTAIN_OFFSET_S
            plan["sustain_offset_s"] += (
                lo + (hi - lo) * torch.rand(per_program, generator=generator, dtype=torch.float64)
            ).tolist()
            plan["split"] += [split_index] * per_program
    dtypes = {"sustain_offset_s": torch.float64}
    return {key: torch.tensor(values, dtype=dtypes.get(key, torch.int64)) for key, values in plan.items()}


def _excerpts(audio: torch.Tensor, offsets_s: tuple[float, float]) -> tuple[torch.Tensor, torch.Tensor]:
    """The excerpts of one rendered note at 16 kHz starting at ``offsets_s``, and which are audible."""
    starts = [round(offset * SAMPLE_RATE) for offset in offsets_s]
    excerpts = torch.stack([audio[start : start + N_SAMPLES] for start in starts])
    peaks = excerpts.abs().amax(dim=-1)
    keep = (peaks > 0) & (peaks >= audio.abs().max() * 10 ** (-SILENCE_DB / 20))
    return excerpts, keep


def generate_real_corpus(
    soundfont: str | Path = DEFAULT_SOUNDFONT, seed: int = 0, quick: bool = False, progress: bool = True
) -> dict:
    """Render the corpus (layout in the module docstring); the same seed gives the same data.

    Args:
        soundfont: ``.sf2`` file (default: Debian's TimGM6mb).
        seed: :func:`corpus_plan`'s seed.
        quick: :func:`corpus_plan`'s quick plan.
        progress: a progress bar while rendering.

    Returns:
        ``{"meta", "examples", "splits"}`` for :func:`sot_utils.training.data.save_dataset`; an
        excerpt more than :data:`~sot_utils.study.real_notes.SILENCE_DB` below its note's peak is
        dropped (a decayed note), and ``meta["dropped"]`` counts them.
    """
    check_bool("progress", progress)
    path = check_soundfont(soundfont)
    import_fluidsynth()  # fail before the plan, with the install hint
    plan = corpus_plan(seed, quick)
    factor = RENDER_SAMPLE_RATE // SAMPLE_RATE
    n_render = round((SUSTAIN_OFFSET_S[1] + RESAMPLE_MARGIN_S) * SAMPLE_RATE + N_SAMPLES) * factor
    rows = {key: [] for key in ("audio", "program", "midi_note", "velocity", "offset_s", "split")}
    dropped = 0
    notes = tqdm(range(len(plan["program"])), desc="rendering corpus", unit="note", disable=not progress)
    for i in notes:
        program, midi_note, velocity = (int(plan[key][i]) for key in ("program", "midi_note", "velocity"))
        rendered = real_notes.render_note(path, program, midi_note, n_render, velocity=velocity)
        audio = AF.resample(rendered, RENDER_SAMPLE_RATE, SAMPLE_RATE)
        offsets = (0.0, float(plan["sustain_offset_s"][i]))
        excerpts, keep = _excerpts(audio, offsets)
        dropped += int((~keep).sum())
        for excerpt, offset in zip(excerpts[keep], [o for o, k in zip(offsets, keep.tolist()) if k]):
            rows["audio"].append(excerpt)
            rows["program"].append(program)
            rows["midi_note"].append(midi_note)
            rows["velocity"].append(velocity)
            rows["offset_s"].append(offset)
            rows["split"].append(int(plan["split"][i]))
    n = len(rows["audio"])
    midi = torch.tensor(rows["midi_note"], dtype=torch.int64)
    split = torch.tensor(rows["split"], dtype=torch.int64)
    examples = {
        "audio": torch.stack(rows["audio"]).to(torch.float32).contiguous(),
        "f0_hz": midi_to_hz(midi),
        "amplitudes": torch.full((n, DATA_MAX_HARMONICS), float("nan")),
        "n_harmonics": torch.full((n,), -1, dtype=torch.int64),
        "n_audible_harmonics": torch.full((n,), -1, dtype=torch.int64),
        "program": torch.tensor(rows["program"], dtype=torch.int64),
        "midi_note": midi,
        "velocity": torch.tensor(rows["velocity"], dtype=torch.int64),
        "offset_s": torch.tensor(rows["offset_s"], dtype=torch.float64),
    }
    splits = {name: torch.nonzero(split == k).flatten() for k, name in enumerate(SPLITS)}
    programs = {name: sorted(set(examples["program"][index].tolist())) for name, index in splits.items()}
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": "real corpus",
        "labels": "f0_hz only, from the MIDI pitch, for evaluation; amplitudes unknown (NaN)",
        "soundfont": str(soundfont),
        "soundfont_sha256": file_sha256(path),
        "seed": seed,
        "quick": quick,
        "size": n,
        "n_samples": N_SAMPLES,
        "sample_rate": SAMPLE_RATE,
        "render_sample_rate": RENDER_SAMPLE_RATE,
        "notes_per_program": 3 if quick else NOTES_PER_PROGRAM,
        "velocity_range": VELOCITY_RANGE,
        "sustain_offset_s": SUSTAIN_OFFSET_S,
        "family_ranges": {GM_FAMILY_NAMES[f]: r for f, r in FAMILY_RANGES.items()},
        "programs": programs,
        "dropped": dropped,
        "peak_normalisation_at_load": PEAK_LEVEL,
    }
    return {"meta": meta, "examples": examples, "splits": splits}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sot_utils.study.real_corpus",
        description="Render the real-note training corpus (TimGM6mb, split by instrument).",
    )
    parser.add_argument("--seed", type=int, default=0, help="the plan's seed (default 0)")
    parser.add_argument("--out", help=f"output file (default {DEFAULT_PATH}, or {QUICK_PATH} with --quick)")
    parser.add_argument("--quick", action="store_true", help="two programs per split, three notes each")
    args = parser.parse_args(argv)
    out = args.out or (QUICK_PATH if args.quick else DEFAULT_PATH)
    try:
        corpus = generate_real_corpus(seed=args.seed, quick=args.quick)
    except (OSError, ValueError) as error:
        parser.error(str(error))
    digest = save_dataset(corpus, out)
    sizes = ", ".join(f"{name} {len(index)}" for name, index in corpus["splits"].items())
    meta = corpus["meta"]
    print(f"{out}: {meta['size']} excerpts ({sizes}; {meta['dropped']} dropped as silent), sha256 {digest}")


if __name__ == "__main__":
    main()
