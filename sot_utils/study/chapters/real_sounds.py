"""Chapter of notebooks/10_real_sounds.ipynb: learning pitch from real sounds, without labels.

Every model of notebooks 04-09 learns from the paper's synthetic tones. This chapter sets up and
scores the alternative: models trained on an unlabeled corpus of real instrument notes
(:mod:`sot_utils.study.real_corpus`) or on synthetic tones closer to real ones
(:mod:`sot_utils.study.rich_tones`), judged with the peers on three test sets: the synthetic test
split, the TimGM6mb notes of the instruments held out of the corpus, and the FreePats notes (another
sample set, never used to choose anything).

- :func:`listening_examples`: a few excerpts of each kind of data, to hear;
- :func:`model_runs`: the models scored: the synthetic-trained recipe and every real-sounds run;
- :func:`test_sets` / :func:`synthetic_notes`: the three test sets as note sets;
- :func:`compute_scores`: every model and peer on every set, per note, then per family and octave
  (``results/real_audio_training.csv``: one row per model, seed and test set);
- :func:`findings`: the "What this shows" text, every number read from the tables;
- :func:`plot_family_accuracy`, :func:`plot_octave_accuracy`: the figures.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from ...training.data import DEFAULT_PATH as DATA_PATH
from ...training.data import load_split
from ...validation import check_bool
from .. import freepats, real_notes
from ..real_audio import PEERS, RECIPE_RUNS, model_table, note_predictions, summarize_predictions
from ..real_corpus import generate_real_corpus
from ..rich_tones import generate_rich_dataset
from ..robustness import baseline_estimators, checkpoint_estimators

__all__ = [
    "QUICK_FREEPATS_STRIDE",
    "QUICK_TONES",
    "REAL_SOUNDS_ROOT",
    "SYNTHETIC_MODEL",
    "TEST_SET_NAMES",
    "compute_scores",
    "findings",
    "listening_examples",
    "model_runs",
    "plot_family_accuracy",
    "plot_octave_accuracy",
    "synthetic_notes",
    "test_sets",
]

REAL_SOUNDS_ROOT = "checkpoints/real-sounds"
"""Runs trained on real sounds: ``<root>/<training data>/<configuration>/<seed>/best.pt``."""
SYNTHETIC_MODEL = "recipe MSS-Lin (synthetic)"
"""The model every real-trained one is compared with: notebook 09's recipe, trained on the paper's tones."""
TEST_SET_NAMES = ("synthetic", "timgm6mb", "freepats")
"""The test sets, in the tables' order."""
QUICK_TONES = 64
"""Quick mode: synthetic test tones scored (full mode: the whole test split)."""
QUICK_FREEPATS_STRIDE = 3
"""Quick mode: every third note of the FreePats quick set (the two ends of 66 programs' ranges)."""


def listening_examples(seed: int = 0) -> dict[str, torch.Tensor]:
    """A few 16 kHz excerpts to hear: title -> audio ``[4096]`` (notebook 10, section 1).

    Renders in memory the first two notes of the quick corpus (each from note-on and from its
    sustain) and four rich tones.
    """
    corpus = generate_real_corpus(quick=True, seed=seed, progress=False)["examples"]
    examples = {}
    for i in range(4):
        where = "from note-on" if corpus["offset_s"][i] == 0 else f"from {float(corpus['offset_s'][i]):.2f} s"
        title = f"corpus: program {int(corpus['program'][i])}, MIDI {int(corpus['midi_note'][i])}, {where}"
        examples[title] = corpus["audio"][i]
    rich = generate_rich_dataset(4, seed=seed, progress=False)["examples"]
    for i in range(4):
        examples[f"rich tone: {float(rich['f0_hz'][i]):.0f} Hz, {int(rich['n_harmonics'][i])} partials"] = rich[
            "audio"
        ][i]
    return examples


def model_runs(root: str | Path, checkpoints_root: str | Path = REAL_SOUNDS_ROOT) -> pd.DataFrame:
    """The models scored (notebook 10): the synthetic-trained recipe's runs, then every real-sounds run.

    Args:
        root: the repository root (``".."`` from ``notebooks/``).
        checkpoints_root: the real-sounds runs, relative to ``root``.

    Returns:
        columns ``model``, ``seed``, ``path`` (a ``best.pt`` that exists), one row per run.
    """
    root = Path(root)
    rows = [
        {"model": SYNTHETIC_MODEL, "seed": seed, "path": root / path}
        for seed, path in RECIPE_RUNS.items()
        if (root / path).is_file()
    ]
    for best in sorted((root / checkpoints_root).glob("*/*/*/best.pt")):
        seed_dir = best.parent
        rows.append(
            {
                "model": f"{seed_dir.parent.name} ({seed_dir.parent.parent.name})",
                "seed": int(seed_dir.name),
                "path": best,
            }
        )
    return pd.DataFrame(rows, columns=["model", "seed", "path"])


def synthetic_notes(data: str | Path, limit: int | None = None) -> dict:
    """The synthetic test split as a note set (:func:`~sot_utils.study.real_audio.note_predictions`'s layout):
    family ``"synthetic"``, each tone's MIDI note the nearest to its f0."""
    test = load_split(data, "test")
    f0 = test.f0_hz[:limit]
    midi = torch.round(69 + 12 * torch.log2(f0.double() / 440)).to(torch.int64)
    n = len(f0)
    return {
        "audio": test.audio[:limit],
        "f0_hz": f0,
        "midi_note": midi,
        "family_name": ["synthetic"] * n,
        "instrument": ["harmonic tone"] * n,
    }


def test_sets(root: str | Path, quick: bool) -> dict[str, dict]:
    """The three test sets of notebook 10: name -> note set (rendered if missing).

    Args:
        root: the repository root.
        quick: the quick real-note sets (the two ends of each instrument's range; of FreePats', every
            :data:`QUICK_FREEPATS_STRIDE`-th note) and :data:`QUICK_TONES` synthetic tones.
    """
    root = Path(root)
    quick = check_bool("quick", quick)
    timgm6mb = root / (real_notes.QUICK_PATH if quick else real_notes.DEFAULT_PATH)
    if not timgm6mb.exists():
        real_notes.save_real_notes(real_notes.generate_real_notes(quick=quick), timgm6mb)
    freepats_path = root / (freepats.QUICK_PATH if quick else freepats.DEFAULT_PATH)
    if not freepats_path.exists():
        real_notes.save_real_notes(freepats.generate_freepats_notes(quick=quick), freepats_path)
    return {
        "synthetic": synthetic_notes(root / DATA_PATH, QUICK_TONES if quick else None),
        "timgm6mb": real_notes.load_real_notes(timgm6mb),
        "freepats": _every(freepats.load_freepats_notes(freepats_path), QUICK_FREEPATS_STRIDE if quick else 1),
    }


def _every(notes: dict, stride: int) -> dict:
    """Every ``stride``-th note of a note set (its tensors and lists; the rest as is)."""
    return {key: value[::stride] if isinstance(value, (torch.Tensor, list)) else value for key, value in notes.items()}


def compute_scores(runs: pd.DataFrame, sets: dict[str, dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every model of ``runs`` and every peer on every test set (notebook 10, section 2).

    Returns:
        ``(table, scores)``: :func:`~sot_utils.study.real_audio.model_table` (one row per model, seed
        and test set; ``results/real_audio_training.csv``) and
        :func:`~sot_utils.study.real_audio.summarize_predictions` (overall, per family, per octave;
        ``results/real_audio_scores.csv``).
    """
    names = {f"{run.model} (seed {run.seed})": (run.model, run.seed) for run in runs.itertuples()}
    estimators = checkpoint_estimators({name: run.path for name, run in zip(names, runs.itertuples())})
    estimators.update(baseline_estimators(PEERS))
    names.update({peer: (peer, None) for peer in PEERS})
    predictions = pd.concat(
        [note_predictions(estimators, notes, name, progress=False) for name, notes in sets.items()], ignore_index=True
    )
    scores = summarize_predictions(predictions)
    scores.insert(1, "model", [names[e][0] for e in scores["estimator"]])
    return model_table(scores.drop(columns="model"), names), scores


def _range(values) -> str:
    low, high = float(np.min(values)), float(np.max(values))
    return f"{low:.1f} %" if round(low, 1) == round(high, 1) else f"{low:.1f}-{high:.1f} %"


def findings(table: pd.DataFrame, scores: pd.DataFrame) -> str:
    """The "What this shows" text of notebook 10, every number read from the tables.

    Args:
        table: :func:`compute_scores`'s per-(model, seed, test set) table.
        scores: its per-family and per-octave scores.
    """
    lines = []
    for test_set in TEST_SET_NAMES:
        rows = table[table["test_set"] == test_set]
        if not len(rows):
            continue
        peers = rows[rows["seed"].isna()].set_index("model")["rpa"]
        ours = rows[rows["model"] == SYNTHETIC_MODEL]
        peer_text = ", ".join(f"{name} {rpa:.1f} %" for name, rpa in peers.items())
        lines.append(
            f"- **{test_set}** ({int(rows['n_notes'].iloc[0])} notes): the synthetic-trained recipe reads "
            f"{_range(ours['rpa']) if len(ours) else 'nothing (not trained)'} over its {len(ours)} seeds; "
            f"the peers {peer_text}."
        )
    ours = scores[(scores["model"] == SYNTHETIC_MODEL) & (scores["test_set"] == "freepats")]
    if len(ours):
        overall = ours[ours["by"] == "all"]
        family = ours[ours["by"] == "family"].groupby("group")["rpa"].mean().sort_values()
        octave = ours[ours["by"] == "octave"].groupby("group")["rpa"].mean().sort_values()
        lines.append(
            f"- **Where the recipe misses on FreePats**: {overall['misses_above'].mean():.0f} % of its misses read "
            f"above the truth (mean over seeds); its weakest families are "
            + ", ".join(f"{name} ({rpa:.0f} %)" for name, rpa in family.head(3).items())
            + f", its weakest octave {octave.index[0]} ({octave.iloc[0]:.0f} %)."
        )
    real = table[(table["seed"].notna()) & (table["model"] != SYNTHETIC_MODEL)]
    if not len(real):
        lines.append(
            "- **No model trained on real sounds yet**: runs with the overlays of "
            "`sot_utils/configs/experiments/real-sounds/` (the recipe on the real-note corpus and on the rich tones, "
            "three seeds each, in `checkpoints/real-sounds/`) appear here once trained."
        )
    else:
        freepats_rows = table[table["test_set"] == "freepats"]
        pesto = freepats_rows.loc[freepats_rows["model"] == "pesto", "rpa"]
        recipe = freepats_rows.loc[freepats_rows["model"] == SYNTHETIC_MODEL, "rpa"]
        for model, frame in real[real["test_set"] == "freepats"].groupby("model", sort=False):
            met = (
                len(pesto)
                and len(recipe)
                and (frame["rpa"] >= pesto.max()).all()
                and (frame["rpa"] > recipe.max()).all()
            )
            lines.append(
                f"- **{model}** on FreePats: {_range(frame['rpa'])} over {len(frame)} seeds; the goal (every seed "
                f"at or above PESTO and above the synthetic-trained recipe) is {'met' if met else 'not met'}."
            )
    return "\n".join(lines)


def plot_family_accuracy(scores: pd.DataFrame, test_sets=("timgm6mb", "freepats")):
    """RPA per instrument family (rows: estimators, mean over seeds), one panel per real-note set (notebook 10)."""
    fig, axes = plt.subplots(1, len(test_sets), figsize=(6 * len(test_sets), 4.5), squeeze=False, layout="constrained")
    for k, (ax, test_set) in enumerate(zip(axes[0], test_sets)):
        part = scores[(scores["test_set"] == test_set) & (scores["by"] == "family")]
        grid = part.groupby(["model", "group"], sort=False)["rpa"].mean().unstack("group")
        image = ax.imshow(grid.to_numpy(), vmin=0, vmax=100, cmap="viridis", aspect="auto")
        ax.set_xticks(range(grid.shape[1]), grid.columns, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(grid.shape[0]), grid.index if k == 0 else [], fontsize=8)  # the same rows in every panel
        ax.set_title(f"{test_set}: RPA per family (%)")
        for (i, j), value in np.ndenumerate(grid.to_numpy()):
            if np.isfinite(value):
                ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=7, color="w" if value < 60 else "k")
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8)
    return fig


def plot_octave_accuracy(scores: pd.DataFrame, test_sets=("timgm6mb", "freepats")):
    """RPA per octave of the true pitch, one line per model (mean over seeds), one panel per set (notebook 10)."""
    fig, axes = plt.subplots(
        1, len(test_sets), figsize=(6 * len(test_sets), 3.8), squeeze=False, sharey=True, layout="constrained"
    )
    for ax, test_set in zip(axes[0], test_sets):
        part = scores[(scores["test_set"] == test_set) & (scores["by"] == "octave")]
        for model, frame in part.groupby("model", sort=False):
            line = frame.groupby("group")["rpa"].mean()
            ax.plot(line.index, line.to_numpy(), marker="o", label=model)
        ax.set_title(test_set)
        ax.set_xlabel("octave of the true pitch")
        ax.tick_params(axis="x", rotation=45)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("RPA (%)")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    return fig
