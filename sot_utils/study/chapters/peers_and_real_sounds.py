"""Chapter of notebooks/06_peers_and_real_sounds.ipynb: our encoders against peer trackers, on real notes and noise.

One run per loss group (the seed with the lowest validation LSD at the budget) stands for its group. The
notebook scores them with the peer trackers of :mod:`sot_utils.study.baselines` on the synthetic test split and
on real instrument notes (:mod:`sot_utils.study.real_notes`), under perturbations
(:mod:`sot_utils.study.robustness`), tries the noise-floor remedy on gradient-descent f0 fits, and measures the
voicing decision (:mod:`sot_utils.training.voicing`, :mod:`sot_utils.study.voicing_snr`).

- :class:`Grid`, :data:`QUICK`, :data:`FULL`, :func:`grid`: how much of each experiment a run does;
- :func:`ensure_real_notes`, :func:`representative_runs`, :func:`sweep_estimators`, :func:`timed_estimators`:
  the notes and the estimators;
- :func:`compute_peers_synthetic`, :func:`compute_peers_real`, :func:`compute_robustness`,
  :func:`compute_noise_floor_remedy`, :func:`compute_voicing`, :func:`compute_voicing_snr`: the tables the
  notebook writes (``peers_synthetic.csv``, ``peers_real_notes.csv``, ``robustness.csv``,
  ``noise_floor_remedy.csv``, ``voicing.csv``, ``voicing_snr.csv``); :func:`compute_confidence`: the models' own
  confidence on tones and noise;
- :func:`notes_summary`, :func:`remedy_table`, :func:`synthetic_tones`, :func:`voicing_sets`,
  :func:`voicing_errors`: the inputs and views between them;
- :func:`findings`: the notebook's "What this shows".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from ...constants import CPU_BUDGET_STEPS, SAMPLE_RATE, SUCCESS_CENTS, VOICING_RANGE_HZ
from ...losses import MultiScaleSpectralLoss, SpectralOTLoss
from ...training.checkpoint import load_model
from ...training.data import HarmonicDataset
from ...training.estimate import estimate_f0
from ...training.voicing import voicing
from ...validation import check_bool, check_int, check_positive_number, check_tensor
from ..baselines import BASELINES
from ..real_notes import DEFAULT_PATH as NOTES_PATH
from ..real_notes import QUICK_PATH as NOTES_QUICK_PATH
from ..real_notes import family_indices, generate_real_notes, save_real_notes
from ..robustness import (
    PERTURBATIONS,
    Estimator,
    baseline_estimators,
    best_validation_runs,
    checkpoint_estimators,
    evaluate_estimators,
    noise_floor_remedy,
    robustness_sweep,
)
from ..voicing_snr import coloured_noise, to_level, voicing_snr_table, voicing_sources

__all__ = [
    "CONFIDENCE_TONES",
    "DC_OFFSET",
    "FULL",
    "HIGH_SINES_HZ",
    "LOW_SINES_HZ",
    "NOISE_COLOURS",
    "NOISE_LEVEL_DB",
    "PERTURBATION_AXES",
    "QUICK",
    "SLOW_PEERS",
    "SOT_OPTIONS",
    "SWEEP_PEERS",
    "VOICING_SAMPLES",
    "VOICING_SEED",
    "Grid",
    "compute_confidence",
    "compute_noise_floor_remedy",
    "compute_peers_real",
    "compute_peers_synthetic",
    "compute_robustness",
    "compute_voicing",
    "compute_voicing_snr",
    "ensure_real_notes",
    "estimator_name",
    "findings",
    "grid",
    "notes_summary",
    "remedy_losses",
    "remedy_table",
    "representative_runs",
    "sweep_estimators",
    "synthetic_tones",
    "timed_estimators",
    "voicing_errors",
    "voicing_sets",
]


@dataclass(frozen=True)
class Grid:
    """How much of each experiment a run of notebook 06 does (:data:`QUICK` for CI, :data:`FULL` for the study).

    Attributes:
        n_tones: synthetic test tones of the peer table and of the voicing sets (None: the whole split).
        n_slow: tones the slow peers (:data:`SLOW_PEERS`) run on: the first ones of the synthetic split, and
            about as many real notes, every k-th.
        sweep_levels: perturbation -> levels of the robustness sweep (None: every level of
            :data:`~sot_utils.study.robustness.PERTURBATIONS`).
        sweep_tones: synthetic test tones of the robustness sweep.
        remedy_snrs_db: SNRs of the noise-floor remedy's noisy targets, dB (``math.inf``: clean).
        remedy_colors: noise colours of the remedy.
        remedy_targets_hz: target f0 values of the remedy's fits, Hz (None: the function's default).
        remedy_detunings: initial detunings of the remedy's fits, octaves (None: the function's default).
        remedy_steps: gradient steps per remedy fit (None: the function's default).
        voicing_examples: examples of each made-up set of the voicing table (noise, silence, sines).
        snr_tones: synthetic tones of the voicing-against-SNR table.
        snr_seeds: noise seeds of that table.
        snr_noise: examples of noise alone per colour and level in that table.
    """

    n_tones: int | None
    n_slow: int
    sweep_levels: tuple[tuple[str, tuple[float, ...]], ...] | None
    sweep_tones: int
    remedy_snrs_db: tuple[float, ...]
    remedy_colors: tuple[str, ...]
    remedy_targets_hz: tuple[float, ...] | None
    remedy_detunings: tuple[float, ...] | None
    remedy_steps: int | None
    voicing_examples: int
    snr_tones: int
    snr_seeds: tuple[int, ...]
    snr_noise: int


QUICK = Grid(
    n_tones=24,
    n_slow=3,
    sweep_levels=(("white noise", (40.0, 0.0)), ("vibrato", (0.0, 100.0))),
    sweep_tones=12,
    remedy_snrs_db=(math.inf, 0.0),
    remedy_colors=("white",),
    remedy_targets_hz=(440.0,),
    remedy_detunings=(-0.25, 0.25),
    remedy_steps=20,
    voicing_examples=4,
    snr_tones=24,
    snr_seeds=(0,),
    snr_noise=8,
)
"""The quick grid (CI): a handful of tones, notes and conditions."""

FULL = Grid(
    n_tones=None,
    n_slow=60,
    sweep_levels=None,
    sweep_tones=120,
    remedy_snrs_db=(math.inf, 20.0, 10.0, 5.0, 0.0),
    remedy_colors=("white", "pink"),
    remedy_targets_hz=None,
    remedy_detunings=None,
    remedy_steps=None,
    voicing_examples=64,
    snr_tones=400,
    snr_seeds=(0, 1, 2),
    snr_noise=64,
)
"""The study's grid."""

SLOW_PEERS = ("crepe-full",)
"""Peers that cost seconds per example on a CPU: they run on :attr:`Grid.n_slow` tones only."""

SWEEP_PEERS = ("pesto", "crepe-tiny", "yin")
"""The peers of the robustness sweep."""

PERTURBATION_AXES = {name: axis for name, (axis, _) in PERTURBATIONS.items()}
"""Perturbation -> the name of its level (the x axis of the robustness figure)."""

SOT_OPTIONS = {"n_fft": 2048, "pad_end": False, "frequency_scale": "log", "reduction": "none"}
"""The SOT of the noise-floor remedy: the variant that fits f0 from every start on clean tones (notebook 03)."""

VOICING_SEED = 0
"""Seeds the made-up sets of the voicing table (noise, then the silence's 1-LSB noise)."""

VOICING_SAMPLES = 8192
"""Samples of each made-up example of the voicing table (0.512 s at 16 kHz)."""

NOISE_LEVEL_DB = -20.0
"""RMS level of the noise sets of the voicing table, dBFS."""

NOISE_COLOURS = ("white", "pink", "brown")
"""Noise colours of the voicing table."""

DC_OFFSET = 0.25
"""The constant of the voicing table's DC set (full scale 1)."""

LOW_SINES_HZ = (25.0, 35.0)
"""Range of the sines below the trained range (below :data:`~sot_utils.constants.VOICING_RANGE_HZ`'s low end), Hz."""

HIGH_SINES_HZ = (2500.0, 7000.0)
"""Range of the sines above the trained range (above :data:`~sot_utils.constants.VOICING_RANGE_HZ`'s high end), Hz."""

CONFIDENCE_TONES = 64
"""Synthetic tones on which each model's own confidence is measured."""


def grid(quick: bool) -> Grid:
    """:data:`QUICK` or :data:`FULL` (notebook 06's ``quick`` parameter)."""
    return QUICK if check_bool("quick", quick) else FULL


def ensure_real_notes(root: str | Path, soundfont: str | Path, quick: bool) -> Path:
    """The real-note file of a run of notebook 06, rendered from ``soundfont`` if it is missing.

    Args:
        root: the repository root (the notebook runs in ``notebooks/``: ``".."``).
        soundfont: a General MIDI ``.sf2`` file (only read if the notes must be rendered).
        quick: the quick note set (:data:`~sot_utils.study.real_notes.QUICK_PATH`) or the full one.

    Returns:
        the file's path.
    """
    path = Path(root) / (NOTES_QUICK_PATH if check_bool("quick", quick) else NOTES_PATH)
    if not path.exists():
        save_real_notes(generate_real_notes(soundfont, quick=quick), path)
    return path


def representative_runs(checkpoints_dir: str | Path, budget: int | None) -> pd.DataFrame:
    """One run per group: the seed with the lowest validation LSD at the budget (notebook 06).

    Args:
        checkpoints_dir: ``<group>/<seed>/`` run folders.
        budget: training steps; None: :data:`~sot_utils.constants.CPU_BUDGET_STEPS`.

    Returns:
        :func:`sot_utils.study.robustness.best_validation_runs`'s frame (``group``, ``seed``, ``path``, ``val_lsd``).
    """
    steps = CPU_BUDGET_STEPS if budget is None else check_int("budget", budget, minimum=1)
    return best_validation_runs(checkpoints_dir, steps)


def estimator_name(group: str, seed: int) -> str:
    """``"<group> (seed <seed>)"``: how a run is named in notebook 06's tables (:func:`findings` tells ours by it)."""
    return f"{group} (seed {seed})"


def _checkpoints(runs: pd.DataFrame) -> dict[str, str]:
    return {estimator_name(run.group, run.seed): run.path for run in runs.itertuples()}


def sweep_estimators(runs: pd.DataFrame) -> dict[str, Estimator]:
    """Our runs as estimators sharing one CQT per audio: for the robustness sweep (notebook 06).

    Args:
        runs: :func:`representative_runs`'s frame.

    Returns:
        :func:`estimator_name` -> callable ``audio [batch, n_samples] (16 kHz) -> f0 [batch] Hz``.
    """
    return checkpoint_estimators(_checkpoints(runs))


def timed_estimators(runs: pd.DataFrame) -> dict[str, Estimator]:
    """Our runs, each computing its own CQT (so that each time is complete), then every peer (notebook 06).

    Args:
        runs: :func:`representative_runs`'s frame.

    Returns:
        :func:`estimator_name` -> estimator for our runs, then the peers of
        :data:`~sot_utils.study.baselines.BASELINES` in that order (the slow ones, :data:`SLOW_PEERS`, last).
    """
    timed = {name: checkpoint_estimators({name: path})[name] for name, path in _checkpoints(runs).items()}
    peers = baseline_estimators(BASELINES)
    timed.update({name: peers[name] for name in BASELINES if name not in SLOW_PEERS})
    timed.update({name: peers[name] for name in BASELINES if name in SLOW_PEERS})
    return timed


def _split_slow(estimators: dict[str, Estimator]) -> tuple[dict[str, Estimator], dict[str, Estimator]]:
    if not estimators:
        raise ValueError("`estimators` is empty: give at least one name -> callable")
    fast = {name: f for name, f in estimators.items() if name not in SLOW_PEERS}
    slow = {name: f for name, f in estimators.items() if name in SLOW_PEERS}
    return fast, slow


def compute_peers_synthetic(estimators: dict[str, Estimator], test: HarmonicDataset, quick: bool) -> pd.DataFrame:
    """Every estimator on the synthetic test split (notebook 06's ``peers_synthetic.csv``).

    Args:
        estimators: :func:`timed_estimators`'s dict; the slow peers run on the first :attr:`Grid.n_slow` tones.
        test: the test split (:func:`sot_utils.training.data.load_split`).
        quick: :data:`QUICK`'s grid, else :data:`FULL`'s.

    Returns:
        one row per estimator: ``estimator``, ``n_tones``, ``rpa``, ``rca`` (%), ``octave_difference``,
        ``seconds_per_example`` (:func:`sot_utils.study.robustness.evaluate_estimators`).
    """
    fast, slow = _split_slow(estimators)
    chosen = grid(quick)
    frames = [evaluate_estimators(fast, test.audio[: chosen.n_tones], test.f0_hz[: chosen.n_tones])] if fast else []
    if slow:
        frames.append(evaluate_estimators(slow, test.audio[: chosen.n_slow], test.f0_hz[: chosen.n_slow]))
    return pd.concat(frames, ignore_index=True).drop(columns="group")


def notes_summary(notes: dict) -> str:
    """One line: how many real notes, families and what f0 range (notebook 06).

    Args:
        notes: :func:`sot_utils.study.real_notes.load_real_notes`'s dict (``f0_hz``, ``family_name``).
    """
    f0_hz = notes["f0_hz"]
    return (
        f"{len(f0_hz)} notes, {len(family_indices(notes['family_name']))} families, "
        f"f0 {float(f0_hz.min()):.0f}-{float(f0_hz.max()):.0f} Hz"
    )


def compute_peers_real(estimators: dict[str, Estimator], notes: dict, quick: bool) -> pd.DataFrame:
    """Every estimator on the real notes, overall and per instrument family (notebook 06's ``peers_real_notes.csv``).

    Args:
        estimators: :func:`timed_estimators`'s dict; the slow peers run on every k-th note (about
            :attr:`Grid.n_slow` notes) and are scored overall only.
        notes: :func:`sot_utils.study.real_notes.load_real_notes`'s dict (``audio [N, 4096]``, ``f0_hz [N]``,
            ``family_name``).
        quick: :data:`QUICK`'s grid, else :data:`FULL`'s.

    Returns:
        one row per estimator and group (``"all"`` or a family): ``estimator``, ``group``, ``n_tones``, ``rpa``,
        ``rca``, ``octave_difference``, ``seconds_per_example``.
    """
    fast, slow = _split_slow(estimators)
    audio, f0_hz = notes["audio"], notes["f0_hz"]
    every = max(1, len(f0_hz) // grid(quick).n_slow)
    frames = [evaluate_estimators(fast, audio, f0_hz, groups=family_indices(notes["family_name"]))] if fast else []
    if slow:
        frames.append(evaluate_estimators(slow, audio[::every], f0_hz[::every]))
    return pd.concat(frames, ignore_index=True)


def compute_robustness(
    ours: dict[str, Estimator], estimators: dict[str, Estimator], data: str | Path, quick: bool
) -> pd.DataFrame:
    """Our runs and :data:`SWEEP_PEERS` under every perturbation level (notebook 06's ``robustness.csv``).

    Args:
        ours: :func:`sweep_estimators`'s dict.
        estimators: a dict holding the peers :data:`SWEEP_PEERS` (:func:`timed_estimators`'s).
        data: the dataset file.
        quick: :data:`QUICK`'s grid, else :data:`FULL`'s.

    Returns:
        :func:`sot_utils.study.robustness.robustness_sweep`'s frame.
    """
    missing = [name for name in SWEEP_PEERS if name not in estimators]
    if missing:
        raise ValueError(f"`estimators` lacks the peers {missing} of the sweep")
    chosen = grid(quick)
    levels = None if chosen.sweep_levels is None else dict(chosen.sweep_levels)
    trackers = {**ours, **{name: estimators[name] for name in SWEEP_PEERS}}
    return robustness_sweep(trackers, data, perturbations=levels, limit=chosen.sweep_tones)


def remedy_losses(noise_floor: float) -> dict[str, torch.nn.Module]:
    """The losses of the noise-floor remedy: SOT (:data:`SOT_OPTIONS`) without and with the floor, and MSS.

    Args:
        noise_floor: the multiple of each frame's median bin subtracted (notebook 06's ``noise_floor``).
    """
    noise_floor = check_positive_number("noise_floor", noise_floor)
    return {
        "SOT (log f, complete frames)": SpectralOTLoss(**SOT_OPTIONS),
        f"SOT + noise floor ({noise_floor:g} x median)": SpectralOTLoss(**SOT_OPTIONS, noise_floor=noise_floor),
        "MSS (linear, L1)": MultiScaleSpectralLoss(reduction="none"),
    }


def compute_noise_floor_remedy(noise_floor: float, quick: bool) -> pd.DataFrame:
    """Gradient-descent f0 fits to noisy targets with :func:`remedy_losses` (notebook 06's ``noise_floor_remedy.csv``).

    Args:
        noise_floor: the remedy's multiple of each frame's median bin.
        quick: :data:`QUICK`'s grid, else :data:`FULL`'s.

    Returns:
        :func:`sot_utils.study.robustness.noise_floor_remedy`'s frame (``loss``, ``color``, ``snr_db``,
        ``success_rate`` in %, ``n_fits``).
    """
    chosen = grid(quick)
    options = {}
    if chosen.remedy_targets_hz is not None:
        options["target_f0_hz"] = torch.tensor(chosen.remedy_targets_hz)
    if chosen.remedy_detunings is not None:
        options["initial_detuning_octaves"] = torch.tensor(chosen.remedy_detunings)
    if chosen.remedy_steps is not None:
        options["steps"] = chosen.remedy_steps
    return noise_floor_remedy(
        remedy_losses(noise_floor), snrs_db=chosen.remedy_snrs_db, colors=chosen.remedy_colors, **options
    )


def remedy_table(remedy: pd.DataFrame) -> pd.DataFrame:
    """Success rate (%) per noise colour and SNR (rows) and loss (columns, in the remedy's order) (notebook 06)."""
    return remedy.pivot_table(index=["color", "snr_db"], columns="loss", values="success_rate", sort=False)


def synthetic_tones(test: HarmonicDataset, quick: bool) -> torch.Tensor:
    """The synthetic test tones of notebook 06's voicing table: the first :attr:`Grid.n_tones`, ``[n, 4096]``."""
    return test.audio[: grid(quick).n_tones]


def voicing_sets(tones: torch.Tensor, notes_audio: torch.Tensor, quick: bool) -> dict[tuple[str, str], torch.Tensor]:
    """The sets of the voicing table: tones that should be voiced, and sounds that should not (notebook 06).

    The made-up sets (:attr:`Grid.voicing_examples` examples of :data:`VOICING_SAMPLES` samples each) are drawn
    from one generator seeded with :data:`VOICING_SEED`: the noises (:data:`NOISE_COLOURS`, at
    :data:`NOISE_LEVEL_DB`), then the silence's 1-LSB noise.

    Args:
        tones: synthetic test tones ``[n, n_samples]`` (:func:`synthetic_tones`).
        notes_audio: real notes ``[m, n_samples]``.
        quick: :data:`QUICK`'s grid, else :data:`FULL`'s.

    Returns:
        ``(kind, name)`` -> audio ``[batch, n_samples]`` at 16 kHz; ``kind`` is ``"tones"`` or ``"not tones"``.
    """
    check_tensor("tones", tones, ndim=2, layout="[n, n_samples]")
    check_tensor("notes_audio", notes_audio, ndim=2, layout="[n, n_samples]")
    generator = torch.Generator().manual_seed(VOICING_SEED)
    count, length = grid(quick).voicing_examples, VOICING_SAMPLES
    seconds = torch.arange(length) / SAMPLE_RATE
    noise = {c: to_level(coloured_noise(c, (count, length), generator), NOISE_LEVEL_DB) for c in NOISE_COLOURS}
    low_hz, high_hz = torch.linspace(*LOW_SINES_HZ, count)[:, None], torch.linspace(*HIGH_SINES_HZ, count)[:, None]
    low_name = f"sines below {VOICING_RANGE_HZ[0]:.1f} Hz ({LOW_SINES_HZ[0]:g}-{LOW_SINES_HZ[1]:g} Hz)"
    high_name = (
        f"sines above {VOICING_RANGE_HZ[1] / 1000:.2f} kHz "
        f"({HIGH_SINES_HZ[0] / 1000:g}-{HIGH_SINES_HZ[1] / 1000:g} kHz)"
    )
    return {
        ("tones", "synthetic test tones"): tones,
        ("tones", "real instrument notes"): notes_audio,
        ("not tones", "silence: 1 LSB of noise"): torch.randint(-1, 2, (count, length), generator=generator) / 32768,
        ("not tones", "DC offset"): torch.full((count, length), DC_OFFSET),
        **{("not tones", f"{c} noise"): noise[c] for c in NOISE_COLOURS},
        ("not tones", low_name): torch.sin(2 * math.pi * low_hz * seconds),
        ("not tones", high_name): torch.sin(2 * math.pi * high_hz * seconds),
    }


def compute_voicing(sets: dict[tuple[str, str], torch.Tensor]) -> pd.DataFrame:
    """The voicing decision on each set (notebook 06's ``voicing.csv``).

    Args:
        sets: ``(kind, name)`` -> audio ``[batch, n_samples]`` at 16 kHz (:func:`voicing_sets`).

    Returns:
        one row per set: ``set``, ``kind``, ``examples``, ``voiced (%)``, ``unvoiced because`` (reasons with
        counts, ``"-"`` if none), ``median level (dBFS)``, ``median tonal share``.
    """
    if not sets:
        raise ValueError("`sets` is empty: give at least one (kind, name) -> audio")
    rows = []
    for (kind, name), audio in sets.items():
        voiced, reasons, level_db, tonal_share = voicing(audio)
        why = pd.Series([r for r in reasons if r]).value_counts()
        rows.append(
            {
                "set": name,
                "kind": kind,
                "examples": len(audio),
                "voiced (%)": 100 * float(voiced.float().mean()),
                "unvoiced because": ", ".join(f"{r} ({n})" for r, n in why.items()) or "-",
                "median level (dBFS)": float(level_db.median()),
                "median tonal share": float(tonal_share.median()),
            }
        )
    return pd.DataFrame(rows)


def compute_confidence(runs: pd.DataFrame, tones: torch.Tensor, noise: torch.Tensor) -> pd.DataFrame:
    """Each model's own confidence (median) on the first :data:`CONFIDENCE_TONES` tones and on noise (notebook 06).

    Args:
        runs: :func:`representative_runs`'s frame.
        tones: synthetic tones ``[n, n_samples]`` at 16 kHz.
        noise: white noise ``[m, n_samples]`` at 16 kHz.

    Returns:
        one row per run: ``run``, ``confidence on tones (median)``, ``on white noise (median)``
        (:attr:`sot_utils.training.estimate.F0Estimate.confidence`, in [0, 1]).
    """
    rows = []
    for run in runs.itertuples():
        model = load_model(run.path)
        on_tones = estimate_f0(model, tones[:CONFIDENCE_TONES], SAMPLE_RATE).confidence
        on_noise = estimate_f0(model, noise, SAMPLE_RATE).confidence
        rows.append(
            {
                "run": estimator_name(run.group, run.seed),
                "confidence on tones (median)": float(on_tones.median()),
                "on white noise (median)": float(on_noise.median()),
            }
        )
    return pd.DataFrame(rows)


def _tones_voiced(voicing_table: pd.DataFrame) -> pd.Series:
    return voicing_table[voicing_table["kind"] == "tones"].set_index("set")["voiced (%)"]


def voicing_errors(voicing_table: pd.DataFrame) -> str:
    """The voicing decision's false negatives and false positives (notebook 06), as printed text.

    Args:
        voicing_table: :func:`compute_voicing`'s frame (with the sets ``"synthetic test tones"`` and
            ``"real instrument notes"``).
    """
    tones = _tones_voiced(voicing_table)
    others = voicing_table[voicing_table["kind"] == "not tones"]
    return (
        f"voiced tones marked unvoiced (false negatives): synthetic {100 - tones['synthetic test tones']:.1f} %, "
        f"real notes {100 - tones['real instrument notes']:.1f} %\n"
        f"sounds that are not trained tones marked voiced (false positives): {others['voiced (%)'].max():.1f} % at "
        f"most ({', '.join(others['set'])})"
    )


def compute_voicing_snr(notes_path: str | Path, quick: bool) -> pd.DataFrame:
    """The voicing decision against SNR and level (notebook 06's ``voicing_snr.csv``).

    Args:
        notes_path: the real-note file (required in full mode; quick mode goes on without it).
        quick: :data:`QUICK`'s grid, else :data:`FULL`'s.

    Returns:
        :func:`sot_utils.study.voicing_snr.voicing_snr_table`'s frame.
    """
    chosen = grid(quick)
    sources = voicing_sources(n_tones=chosen.snr_tones, notes_path=notes_path, require_notes=not quick)
    return voicing_snr_table(sources, seeds=chosen.snr_seeds, n_noise=chosen.snr_noise)


def _peer_lines(synthetic: pd.DataFrame, real: pd.DataFrame, robustness: pd.DataFrame | None) -> list[str]:
    lines = []
    overall = real[real["group"] == "all"].set_index("estimator")
    ours = [name for name in overall.index if "(seed" in name]
    peers = [name for name in overall.index if name not in ours]
    ours_sot = [name for name in ours if name.startswith("SOT")]
    if ours and peers:
        best_peer = overall.loc[peers, "rpa"].idxmax()
        best_ours = overall.loc[ours, "rpa"].idxmax()
        sot_range = (
            f"; the SOT runs {overall.loc[ours_sot, 'rpa'].min():.1f}-{overall.loc[ours_sot, 'rpa'].max():.1f} %"
            if ours_sot
            else ""
        )
        lines.append(
            f"- **Real notes**: the best peer, {best_peer}, scores {overall.loc[best_peer, 'rpa']:.1f} % RPA; "
            f"our best estimator, {best_ours}, {overall.loc[best_ours, 'rpa']:.1f} %{sot_range}."
        )
        families = real[(real["group"] != "all") & real["estimator"].isin(ours_sot)]
        if len(families):
            worst = families.groupby("group")["rpa"].mean().sort_values()
            second = f"{worst.index[1]} ({worst.iloc[1]:.0f} %)" if len(worst) > 1 else ""
            lines.append(
                f"- **Where the SOT runs fail on real notes**: {worst.index[0]} ({worst.iloc[0]:.0f} % on average), "
                f"{second}; best on {worst.index[-1]} ({worst.iloc[-1]:.0f} %)."
            )
    synth = synthetic.set_index("estimator")
    if len(synth) and ours:
        fastest = synth.loc[[n for n in synth.index if n in ours], "seconds_per_example"].median()
        peer_times = synth.loc[[n for n in synth.index if n not in ours], "seconds_per_example"]
        lines.append(
            f"- **Speed**: our encoders take {1000 * fastest:.0f} ms per example with the CQT; the peers "
            + ", ".join(f"{name} {1000 * t:.0f} ms" for name, t in peer_times.items())
            + "."
        )
    if robustness is not None and len(robustness):
        white = robustness[(robustness["perturbation"] == "white noise")]
        if len(white):
            lowest = white["level"].min()
            at = white[white["level"] == lowest].set_index("estimator")["rpa"].sort_values(ascending=False)
            lines.append(
                f"- **White noise at {lowest:g} dB SNR**: " + ", ".join(f"{n} {v:.0f} %" for n, v in at.items()) + "."
            )
    return lines


def _remedy_lines(remedy: pd.DataFrame) -> list[str]:
    pivot = remedy_table(remedy)
    if len(pivot.columns) < 2:
        raise ValueError("`remedy` must hold SOT without and with the noise floor, its first two losses")
    sot_plain, sot_floor = pivot.columns[0], pivot.columns[1]
    return [
        f"- Noise floor remedy, {color} noise at {snr:g} dB: SOT fits within {SUCCESS_CENTS:g} cents "
        f"{row[sot_plain]:.0f} % -> {row[sot_floor]:.0f} % with the remedy."
        for (color, snr), row in pivot.iterrows()
        if snr != math.inf and row[sot_floor] != row[sot_plain]
    ]


def findings(
    synthetic: pd.DataFrame,
    real: pd.DataFrame,
    robustness: pd.DataFrame | None = None,
    remedy: pd.DataFrame | None = None,
    voicing_table: pd.DataFrame | None = None,
) -> str:
    """Notebook 06's "What this shows": Markdown bullets, every number read from the tables.

    Our runs are the estimators whose name holds ``"(seed"`` (:func:`estimator_name`); the others are peers.

    Args:
        synthetic: :func:`compute_peers_synthetic`'s frame (``estimator``, ``rpa``, ``seconds_per_example``).
        real: :func:`compute_peers_real`'s frame (``estimator``, ``group``, ``rpa``).
        robustness: :func:`compute_robustness`'s frame, or None.
        remedy: :func:`compute_noise_floor_remedy`'s frame (SOT without then with the floor first), or None.
        voicing_table: :func:`compute_voicing`'s frame, or None.

    Returns:
        one bullet per line: the best peer and our best runs on real notes, the families where SOT fails,
        the speed, the scores in the loudest white noise, the SNRs where the remedy changes the fits, the
        voicing decision's errors.
    """
    for name, frame, columns in (
        ("synthetic", synthetic, {"estimator", "seconds_per_example"}),
        ("real", real, {"estimator", "group", "rpa"}),
    ):
        missing = columns - set(frame.columns)
        if missing:
            raise ValueError(f"`{name}` lacks the columns {sorted(missing)}")
    lines = _peer_lines(synthetic, real, robustness)
    if remedy is not None and len(remedy):
        lines += _remedy_lines(remedy)
    if voicing_table is not None and len(voicing_table):
        tones = _tones_voiced(voicing_table)
        lines.append(
            f"- **Voicing**: {100 - tones.min():.1f} % of the tones marked unvoiced (synthetic and real); "
            f"{voicing_table.loc[voicing_table['kind'] == 'not tones', 'voiced (%)'].max():.1f} % of silence, "
            "DC, noise and out-of-range tones marked voiced."
        )
    return "\n".join(lines)
