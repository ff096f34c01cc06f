"""Pitch on real instrument notes: every estimator on both real-note sets, per note, family and octave.

The study's models learn from synthetic tones. Two sets of real notes test them, rendered from two
independent sample sets: TimGM6mb (:mod:`sot_utils.study.real_notes`, the soundfont the study was
developed against) and FreePats (:mod:`sot_utils.study.freepats`, never used to choose anything).
This module scores estimators (our checkpoints and the peers) on both, note by note, and says
where they miss: per instrument family, per octave of the true pitch, and on which side of the
truth.

- :func:`note_predictions`: one row per (estimator, note), with the error in cents;
- :func:`summarize_predictions`: RPA, RCA and the misses' side, overall, per family and per octave;
- :func:`model_table`: one row per (model, seed, test set), the layout of the real-audio results.

``python -m sot_utils.study.real_audio`` scores the peers and the recipe's MSS-Lin runs on both
sets and writes ``results/evidence/real_notes_predictions.csv`` and ``real_notes_scores.csv``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..metrics import raw_chroma_accuracy, raw_pitch_accuracy
from ..validation import check_tensor
from . import freepats, real_notes
from .robustness import Estimator, baseline_estimators, checkpoint_estimators

__all__ = [
    "CENTS_CORRECT",
    "PEERS",
    "RECIPE_RUNS",
    "TEST_SETS",
    "main",
    "model_table",
    "note_predictions",
    "octave_name",
    "summarize_predictions",
]

TEST_SETS = {"timgm6mb": real_notes.DEFAULT_PATH, "freepats": freepats.DEFAULT_PATH}
"""Test set name -> its notes file (``make real-notes``, ``make real-notes-freepats``)."""
PEERS = ("pesto", "crepe-tiny", "yin", "pyin")
"""The peer trackers every real-note table holds (:mod:`sot_utils.study.baselines`)."""
CENTS_CORRECT = 50.0
"""A note is read correctly within this many cents of its pitch (RPA's threshold)."""
RECIPE_RUNS = {seed: f"checkpoints/remedies/recipe/MSS-Lin/{seed}/best.pt" for seed in (42, 123, 456)}
"""The synthetic-trained recipe's MSS-Lin runs (notebook 09), by seed."""


def octave_name(midi_note) -> np.ndarray:
    """Scientific octave of each MIDI note: ``"C2-B2"`` for notes 36-47 (middle C, 60, is C4)."""
    octave = np.asarray(midi_note, dtype=int) // 12 - 1
    return np.array([f"C{o}-B{o}" for o in octave])


def note_predictions(
    estimators: Mapping[str, Estimator], notes: dict, test_set: str, progress: bool = True
) -> pd.DataFrame:
    """Every estimator on every note of a real-note set.

    Args:
        estimators: name -> callable ``audio [batch, n_samples] (16 kHz) -> f0 [batch] Hz``
            (:func:`~sot_utils.study.robustness.baseline_estimators`,
            :func:`~sot_utils.study.robustness.checkpoint_estimators`).
        notes: a real-note set (:func:`~sot_utils.study.real_notes.load_real_notes`): ``audio [N, n_samples]``,
            ``f0_hz [N]``, ``midi_note [N]``, ``family_name`` and ``instrument`` (N names).
        test_set: the set's name, written in every row.

    Returns:
        one row per (estimator, note): ``estimator``, ``test_set``, ``note`` (index), ``instrument``,
        ``family``, ``midi_note``, ``octave``, ``f0_true_hz``, ``f0_estimate_hz``, ``error_cents``
        (``1200 log2(estimate / truth)``), ``seconds_per_note`` (the estimator's wall clock over the set).
    """
    missing = [key for key in ("audio", "f0_hz", "midi_note", "family_name", "instrument") if key not in notes]
    if missing:
        raise ValueError(f"`notes` lacks {missing}: pass a real-note set (load_real_notes)")
    audio, f0_true = notes["audio"], notes["f0_hz"]
    check_tensor("notes['audio']", audio, ndim=2, layout="[N, n_samples]")
    if not estimators:
        raise ValueError("`estimators` is empty: give at least one name -> callable")
    frames = []
    for name, estimator in tqdm(estimators.items(), desc=test_set, disable=not progress, leave=False):
        start = time.perf_counter()
        estimate = torch.as_tensor(estimator(audio), dtype=torch.float64).flatten()
        seconds = (time.perf_counter() - start) / len(audio)
        if estimate.shape != f0_true.shape:
            raise ValueError(
                f"estimator {name!r} returned {tuple(estimate.shape)}, expected one f0 per note {tuple(f0_true.shape)}"
            )
        frames.append(
            pd.DataFrame(
                {
                    "estimator": name,
                    "test_set": test_set,
                    "note": np.arange(len(audio)),
                    "instrument": list(notes["instrument"]),
                    "family": list(notes["family_name"]),
                    "midi_note": notes["midi_note"].numpy(),
                    "octave": octave_name(notes["midi_note"].numpy()),
                    "f0_true_hz": f0_true.double().numpy(),
                    "f0_estimate_hz": estimate.numpy(),
                    "error_cents": 1200 * np.log2(estimate.numpy() / f0_true.double().numpy()),
                    "seconds_per_note": seconds,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _scores(frame: pd.DataFrame) -> dict[str, float]:
    truth = torch.tensor(frame["f0_true_hz"].to_numpy(dtype=float))
    estimate = torch.tensor(frame["f0_estimate_hz"].to_numpy(dtype=float))
    missed = frame[frame["error_cents"].abs() > CENTS_CORRECT]
    return {
        "n_notes": len(frame),
        "rpa": raw_pitch_accuracy(truth, estimate),
        "rca": raw_chroma_accuracy(truth, estimate),
        "misses_above": float((missed["error_cents"] > 0).mean() * 100) if len(missed) else np.nan,
        "median_miss_cents": float(missed["error_cents"].median()) if len(missed) else np.nan,
    }


def summarize_predictions(predictions: pd.DataFrame) -> pd.DataFrame:
    """RPA and RCA (%) and the side of the misses, per estimator and test set: overall, per family, per octave.

    Args:
        predictions: :func:`note_predictions` (one or more sets).

    Returns:
        one row per (``estimator``, ``test_set``, ``by``, ``group``), ``by`` being ``"all"``,
        ``"family"`` or ``"octave"``: ``n_notes``, ``rpa``, ``rca``, ``misses_above`` (% of the
        misses, beyond 50 cents, that read above the truth; NaN without misses), ``median_miss_cents``.
    """
    rows = []
    for (estimator, test_set), frame in predictions.groupby(["estimator", "test_set"], sort=False):
        rows.append({"estimator": estimator, "test_set": test_set, "by": "all", "group": "all", **_scores(frame)})
        for by in ("family", "octave"):
            for group, part in frame.groupby(by, sort=True):
                rows.append({"estimator": estimator, "test_set": test_set, "by": by, "group": group, **_scores(part)})
    return pd.DataFrame(rows)


def model_table(scores: pd.DataFrame, seeds: Mapping[str, tuple[str, int | None]]) -> pd.DataFrame:
    """One row per (model, seed, test set): the overall rows of :func:`summarize_predictions`.

    Args:
        scores: :func:`summarize_predictions`.
        seeds: estimator name -> (model, seed); a peer's seed is None (an empty cell).

    Returns:
        columns ``model``, ``seed`` (nullable integer), ``test_set``, ``rpa``, ``rca``, ``misses_above``, ``n_notes``.
    """
    overall = scores[scores["by"] == "all"]
    unknown = sorted(set(overall["estimator"]) - set(seeds))
    if unknown:
        raise ValueError(f"`seeds` has no (model, seed) for {unknown}")
    table = pd.DataFrame(
        {
            "model": [seeds[e][0] for e in overall["estimator"]],
            "seed": pd.array([seeds[e][1] for e in overall["estimator"]], dtype="Int64"),
            "test_set": overall["test_set"].to_numpy(),
            "rpa": overall["rpa"].to_numpy(),
            "rca": overall["rca"].to_numpy(),
            "misses_above": overall["misses_above"].to_numpy(),
            "n_notes": overall["n_notes"].to_numpy(),
        }
    )
    return table


def _write(table: pd.DataFrame, path: Path) -> None:
    partial = path.with_name(f".{path.name}.tmp")
    table.to_csv(partial, index=False, float_format="%.6g")
    partial.replace(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sot_utils.study.real_audio",
        description="Score the peers and the recipe's MSS-Lin runs on both real-note sets (TimGM6mb, FreePats).",
    )
    parser.add_argument("--results-dir", default="results/evidence", help="where the CSV files go")
    parser.add_argument("--quick", action="store_true", help="the quick note sets (a smoke test)")
    args = parser.parse_args(argv)
    paths = {"timgm6mb": real_notes.QUICK_PATH, "freepats": freepats.QUICK_PATH} if args.quick else TEST_SETS
    ours = {f"recipe MSS-Lin (seed {seed})": path for seed, path in RECIPE_RUNS.items()}
    estimators = {**checkpoint_estimators(ours), **baseline_estimators(PEERS)}
    seeds = {f"recipe MSS-Lin (seed {seed})": ("recipe MSS-Lin (synthetic)", seed) for seed in RECIPE_RUNS}
    seeds.update({peer: (peer, None) for peer in PEERS})
    try:
        sets = {name: real_notes.load_real_notes(path) for name, path in paths.items()}
    except (OSError, ValueError) as error:  # a missing or foreign notes file: the message says how to make it
        parser.error(str(error))
    predictions = pd.concat(
        [note_predictions(estimators, notes, name) for name, notes in sets.items()], ignore_index=True
    )
    scores = summarize_predictions(predictions)
    out = Path(args.results_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write(predictions, out / "real_notes_predictions.csv")
    _write(scores, out / "real_notes_scores.csv")
    print(model_table(scores, seeds).to_string(index=False))


if __name__ == "__main__":
    main()
