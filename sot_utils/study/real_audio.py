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

Notebook 10 (:mod:`sot_utils.study.chapters.real_sounds`) runs them on every model and test set.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..metrics import raw_chroma_accuracy, raw_pitch_accuracy
from ..validation import check_tensor
from .robustness import Estimator

__all__ = [
    "CENTS_CORRECT",
    "PEERS",
    "RECIPE_RUNS",
    "model_table",
    "note_predictions",
    "octave_name",
    "summarize_predictions",
]

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
