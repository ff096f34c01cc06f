"""Chapter of notebooks/04_train_autoencoder.ipynb: training one run of the harmonic autoencoder
(a group and a seed) and looking at what it learned.

- :func:`run_config`: the run's config and dataset (quick: a short run on a tiny dataset under the
  notebook's results folder; full: the shipped run at its budget), and :func:`run_name`: its label;
- :func:`train_run`: train or resume it; :func:`read_log`: its log up to the budget;
- :func:`test_table`: the test metrics of the checkpoint the paper's criterion picks;
- :func:`predict_tones`: the model's f0 per test tone (median of its frames) and its reconstructions;
- :func:`reconstruction_picks` and :func:`average_spectra`: three test tones (low, middle, high f0)
  and the average spectra of their targets and reconstructions;
- :func:`findings`: the "What this shows" text, its numbers read from the test table and the tones.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ...autoencoder import HarmonicAutoencoder, predict
from ...constants import SAMPLE_RATE, SUCCESS_CENTS
from ...spectral import rfft_frequencies, stft_magnitude
from ...training.checkpoint import checkpoint_step
from ...training.config import TrainConfig, resolve_config
from ...training.data import cached_features, ensure_dataset
from ...training.evaluate import evaluate_checkpoint
from ...training.train import train
from ...validation import check_bool, check_int, check_tensor

__all__ = [
    "LOG_COLUMNS",
    "QUICK_DATA",
    "QUICK_RUN",
    "SPECTRUM_HOP",
    "SPECTRUM_N_FFT",
    "average_spectra",
    "findings",
    "predict_tones",
    "read_log",
    "reconstruction_picks",
    "run_config",
    "run_name",
    "test_table",
    "train_run",
]

QUICK_DATA = {"folder": "train_demo", "file": "tiny.pt", "seed": 1, "size": 200}
"""Quick mode's dataset: ``size`` tones (140 / 40 / 20 in the train / val / test splits) drawn with
``seed``, written to ``<results_dir>/<folder>/<file>``."""

QUICK_RUN = {"steps": 40, "batch_size": 16, "validate_every": 20, "keep_best_every": 0}
"""Quick mode's training settings (the rest is the group's config): enough to check the pipeline end to end."""

LOG_COLUMNS = ("step", "train_loss", "val_lsd", "val_rpa", "val_rca", "val_octave_difference")
"""The columns of the training log the notebook prints."""

SPECTRUM_N_FFT = 1024
"""STFT size (Hann window) of the target and reconstruction spectra."""

SPECTRUM_HOP = 256
"""STFT hop of the target and reconstruction spectra, samples."""

_QUICK_CAVEAT = (
    f"Quick mode: {QUICK_RUN['steps']} steps on a tiny dataset, so these numbers check the pipeline and mean nothing. "
)


def run_config(
    quick: bool, group: str, seed: int, budget: int | None, results_dir: str | Path, repo: str | Path
) -> tuple[TrainConfig, Path]:
    """The run notebook 04 trains and the dataset it reads.

    Args:
        quick: a :data:`QUICK_RUN` run on the :data:`QUICK_DATA` dataset, both under
            ``results_dir/train_demo`` (``budget`` is ignored); else the shipped run folder and the
            paper's dataset (generated if absent).
        group: experiment group (``sot_utils/configs/groups/``).
        seed: the run's seed.
        budget: training steps in full mode (None: the base config's budget).
        results_dir: the notebook's tables folder.
        repo: the repository root (the full-mode config's paths are relative to it).

    Returns:
        ``(config, data)``: the resolved config and the dataset file's path.
    """
    check_bool("quick", quick)
    check_int("seed", seed)
    if quick:
        work = Path(results_dir).resolve() / QUICK_DATA["folder"]
        data = ensure_dataset(work / QUICK_DATA["file"], seed=QUICK_DATA["seed"], size=QUICK_DATA["size"])
        config = resolve_config(group, seed, **QUICK_RUN, data=str(data), out_dir=str(work / f"{group}-seed{seed}"))
        return config, data
    config = resolve_config(group, seed, steps=budget)
    return config, ensure_dataset(Path(repo) / config.data)


def run_name(config: TrainConfig) -> str:
    """A run's label in notebook 04's tables and figures: ``"<group>, seed <seed>"``."""
    return f"{config.group}, seed {config.seed}"


def train_run(config: TrainConfig, repo: str | Path) -> Path:
    """Train (or resume) the run of ``config`` from the repository root ``repo`` (its paths are relative to
    it) with :func:`sot_utils.training.train.train`; return the run's folder as an absolute path (notebook 04)."""
    repo = Path(repo).resolve()
    with contextlib.chdir(repo):
        return repo / train(config)


def read_log(run_dir: str | Path, steps: int) -> pd.DataFrame:
    """A run's ``log.csv`` up to ``steps`` (a run trained further keeps its later rows there), notebook 04."""
    check_int("steps", steps, minimum=1)
    log = pd.read_csv(Path(run_dir) / "log.csv")
    return log[log["step"] <= steps]


def test_table(checkpoint: str | Path, data: str | Path, name: str) -> pd.DataFrame:
    """Notebook 04's ``train_<group>_seed<seed>_test.csv``: one row, the run's ``name``, the checkpoint's step and
    :func:`sot_utils.training.evaluate.evaluate_checkpoint` on the test split (with the tracking diagnostics).

    Args:
        checkpoint: the checkpoint file (:func:`sot_utils.training.evaluate.budget_checkpoint`).
        data: the dataset file.
        name: the run's label (:func:`run_name`).
    """
    if checkpoint is None:
        raise ValueError("`checkpoint` is None: the run has no checkpoint at its budget (budget_checkpoint)")
    metrics = evaluate_checkpoint(checkpoint, data, "test", tracking=True)
    return pd.DataFrame([{"run": name, "checkpoint step": checkpoint_step(checkpoint), **metrics}])


def predict_tones(model: HarmonicAutoencoder, data: str | Path) -> tuple[torch.Tensor, torch.Tensor, pd.DataFrame]:
    """The model on the test split (notebook 04).

    Returns:
        ``(audio [N, n_samples], reconstructions [N, n_samples], tones)``: the test tones, the model's
        renderings of them, and per tone ``f0_hz`` (the truth), ``estimate_hz`` (the median of the model's
        frame estimates) and ``cents`` (``1200 log2(estimate / truth)``).
    """
    audio, cqt, labels = cached_features(data, "test", progress=False)
    reconstructions, f0_frames, _ = predict(model, cqt)
    estimates = f0_frames.median(dim=1).values
    cents = 1200 * torch.log2(estimates / labels["f0_hz"])
    tones = pd.DataFrame({"f0_hz": labels["f0_hz"].numpy(), "estimate_hz": estimates.numpy(), "cents": cents.numpy()})
    return audio, reconstructions, tones


def reconstruction_picks(tones: pd.DataFrame) -> list[int]:
    """Rows of ``tones`` (:func:`predict_tones`) with the lowest, the middle and the highest true f0."""
    if len(tones) == 0:
        raise ValueError("`tones` is empty")
    order = torch.tensor(tones["f0_hz"].to_numpy()).argsort()
    return [int(i) for i in order[torch.tensor([0, len(order) // 2, len(order) - 1])]]


def average_spectra(target: torch.Tensor, estimate: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Magnitude spectra (``SPECTRUM_N_FFT``-point Hann STFT, hop ``SPECTRUM_HOP``) averaged over frames.

    Args:
        target: ``[K, n_samples]`` audio at ``SAMPLE_RATE``.
        estimate: ``[K, n_samples]`` audio (the reconstructions of ``target``).

    Returns:
        ``(frequencies_hz [F], target_spectra [K, F], estimate_spectra [K, F])``, notebook 04.
    """
    check_tensor("target", target, ndim=2, layout="[K, n_samples]")
    check_tensor("estimate", estimate, ndim=2, layout="[K, n_samples]")
    frequencies = rfft_frequencies(SPECTRUM_N_FFT, SAMPLE_RATE).numpy()
    spectra = [stft_magnitude(x, SPECTRUM_N_FFT, SPECTRUM_HOP, "hann").mean(dim=1).numpy() for x in (target, estimate)]
    return frequencies, *spectra


def findings(test: pd.DataFrame, tones: pd.DataFrame, steps: int, quick: bool) -> str:
    """Notebook 04's "What this shows" (Markdown), every number read from the tables.

    Args:
        test: :func:`test_table` (one row).
        tones: :func:`predict_tones`'s per-tone table (``cents`` is read).
        steps: the training budget the checkpoint was picked under.
        quick: prefix the caveat that a quick run's numbers mean nothing.
    """
    check_int("steps", steps, minimum=1)
    quick = check_bool("quick", quick)
    if len(test) != 1:
        raise ValueError(f"`test` must have one row (test_table), got {len(test)}")
    if len(tones) == 0:
        raise ValueError("`tones` is empty")
    metrics = test.iloc[0]
    cents = tones["cents"].to_numpy()
    hits = 100 * float(np.mean(np.abs(cents) < SUCCESS_CENTS))
    octave_off = 100 * float(np.mean(np.abs(np.abs(cents) - 1200) < SUCCESS_CENTS))
    caveat = _QUICK_CAVEAT if quick else ""
    tolerance = SUCCESS_CENTS
    dominant, dominant_share = int(metrics["dominant_harmonic"]), 100 * metrics["dominant_share"]
    step = int(metrics["checkpoint step"])
    return f"""{caveat}**{metrics["run"]}**, checkpoint of step {step:,} (lowest validation LSD up to
{steps:,} steps), on the {len(tones)} test tones:

- it tracks pitch on {metrics["rpa"]:.1f} % of the frames (RPA) and {metrics["rca"]:.1f} % folding octaves (RCA),
  with an LSD of {metrics["lsd"]:.1f} dB² and a mean octave error of {metrics["octave_difference"]:+.2f};
- per tone (median of its frames), {hits:.0f} % of the estimates are within {tolerance:.0f} cents and {octave_off:.0f} %
  exactly an octave off (`f0_scatter`); the median offset is {metrics["offset_octaves"]:+.2f} octave and the
  correlation of log f0 with the truth {metrics["log_f0_correlation"]:.2f};
- partial {dominant} carries the most energy ({dominant_share:.0f} % of the rendered energy on average,
  `harmonic_share`): a run that renders a tone with one high partial of a too-low f0 would show it here,
  where RPA alone cannot.

Notebook 05 puts this run next to every other shipped run."""
