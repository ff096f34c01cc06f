"""Chapter of notebooks/02_loss_landscapes.ipynb: how the losses respond to a detuned estimate.

Sweeps of the paper's losses and of SOT's variants (:mod:`sot_utils.study.landscape` does the
sweeping), the cost of each STFT frame of the reference framing, the loss over f0 and the number of
harmonics, Turian & Henry's rank accuracy, and the "What this shows" text read from these tables.

- Tables: :func:`sine_sweeps` (the paper's figure, with gradients) and :func:`descent_table` (its
  numbers), :func:`harmonic_sweeps`, :func:`variant_sweeps`; :func:`frame_costs` and
  :func:`frame_cost_summary` (the padded last frames); :func:`surfaces` and :func:`best_f0` (f0 x
  harmonic count); :func:`rank_accuracy_table` (``results/rank_accuracy.csv``). The building blocks
  :func:`detuning_sweeps` and :func:`ratio_sweeps` take their grids as arguments; the chapter's
  quick and full grids are :data:`QUICK_GRID` and :data:`FULL_GRID` (:func:`grid`).
- Figures: :func:`plot_losses_sine`, :func:`plot_gradients_sine`, :func:`plot_detuning_sweep`,
  :func:`plot_ratio_sweep`, :func:`plot_surface_f0_harmonics`.
- Text: :func:`findings`.

Sweep tables are long, one row per (loss, candidate): ``loss`` (the loss's name), the swept quantity
(``offset_hz`` or ``ratio``), ``f0_hz`` (the candidate's f0), ``value`` (the loss) and ``normalized``
(the loss min-max normalised per loss, as the figures draw it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from scipy.signal import find_peaks

from ...constants import SAMPLE_RATE, SUCCESS_CENTS
from ...transport import spectral_ot
from ...validation import check_bool, check_positive_number, check_tensor
from .. import landscape, plots

__all__ = [
    "FULL_GRID",
    "GRADIENT_COLUMN",
    "HARMONIC_PARTIALS",
    "HARMONIC_TARGET_HZ",
    "MINIMA_COLUMN",
    "MINIMUM_PROMINENCE",
    "NEAR_MAXIMUM",
    "QUICK_GRID",
    "RANK_HARMONIC_F0_RANGE_HZ",
    "RANK_SEED",
    "RANK_SINE_F0_RANGE_HZ",
    "RANK_SPAN_CENTS",
    "RATIO_RANGE",
    "SINE_PANELS",
    "SINE_SPAN_HZ",
    "SMALL_DETUNINGS_HZ",
    "SURFACE_AMPLITUDES",
    "SURFACE_LOSSES",
    "SURFACE_TARGET_HARMONICS",
    "SURFACE_TARGET_HZ",
    "VERTICAL_LOSSES",
    "ZOOM_SPAN_HZ",
    "Grid",
    "best_f0",
    "descent_table",
    "detuning_sweeps",
    "findings",
    "frame_cost_summary",
    "frame_costs",
    "grid",
    "harmonic_sweeps",
    "plot_detuning_sweep",
    "plot_gradients_sine",
    "plot_losses_sine",
    "plot_ratio_sweep",
    "plot_surface_f0_harmonics",
    "rank_accuracy_table",
    "ratio_sweeps",
    "sine_sweeps",
    "surfaces",
    "variant_sweeps",
]

# --------------------------------------------------------------------------------------------
# Parameters


@dataclass(frozen=True)
class Grid:
    """How finely notebook 02 samples its sweeps.

    Attributes:
        sweep_points: candidates of the paper's sweeps (the SOT variants' sine sweep has half as many + 1).
        zoom_points: candidates of the ±:data:`ZOOM_SPAN_HZ` zoom on the framing.
        surface_f0_points: f0 values of the f0 x harmonic-count surfaces.
        rank_targets: targets per tone type in the rank accuracy.
        rank_candidates: candidates per target in the rank accuracy, evenly spaced in cents.
    """

    sweep_points: int
    zoom_points: int
    surface_f0_points: int
    rank_targets: int
    rank_candidates: int


QUICK_GRID = Grid(sweep_points=251, zoom_points=101, surface_f0_points=41, rank_targets=4, rank_candidates=25)
"""The grids of a quick run (the committed notebook, CI)."""

FULL_GRID = Grid(sweep_points=1001, zoom_points=401, surface_f0_points=121, rank_targets=16, rank_candidates=97)
"""The grids of a full run (``results/``, ``figures/``)."""

SINE_SPAN_HZ = 2500.0
"""The sine sweeps detune the estimate by up to this many Hz either way (the paper's figure's axis)."""

ZOOM_SPAN_HZ = 100.0
"""The zoom on the framing detunes by up to this many Hz either way."""

SINE_PANELS = {
    "L1 losses": ("SOT W2", "L1 SS", "L1 MSS (lin)"),
    "L2 and log losses": ("SOT W2", "L2 SS", "L2 MSS (lin)", "L1 MSS (log)"),
}
"""The panels of the paper's figure (``losses_sine``): title -> the losses it draws."""

HARMONIC_TARGET_HZ = 220.0
"""f0 of the harmonic target of the octave sweeps, Hz."""

HARMONIC_PARTIALS = 6
"""Partials of the harmonic tones of the octave sweeps and the rank accuracy (amplitudes 1/k)."""

RATIO_RANGE = (0.5, 2.0)
"""The octave sweeps and the surfaces span estimate f0 / target f0 over this range (log-spaced)."""

SMALL_DETUNINGS_HZ = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
"""Detunings from the sine target at which :func:`frame_costs` splits the reference SOT into frames, Hz."""

SURFACE_AMPLITUDES = (1.0, 0.8, 0.6, 0.5, 0.4, 0.35, 0.3, 0.25)
"""Amplitudes of the surfaces' tones; a tone with n harmonics has the first n on."""

SURFACE_TARGET_HZ = 220.0
"""f0 of the surfaces' target, Hz."""

SURFACE_TARGET_HARMONICS = 4
"""Active harmonics of the surfaces' target."""

SURFACE_LOSSES = {
    "SOT-2048 (cut, W2²)": ("variants", "SOT-2048 (cut, W2²)"),
    "SOT balanced (NoCut)": ("variants", "balanced (NoCut)"),
    "L1 MSS (lin)": ("paper", "L1 MSS (lin)"),
}
"""The surfaces' losses: name -> (``"paper"``: :func:`~sot_utils.study.landscape.landscape_losses` or
``"variants"``: :func:`~sot_utils.study.landscape.sot_variants`, the loss's name there)."""

RANK_SEED = 0
"""Seed of the rank accuracy's random targets."""

RANK_SINE_F0_RANGE_HZ = (300.0, 2300.0)
"""Sine targets of the rank accuracy are uniform in this range, Hz (a partial stays under Nyquist at +1 octave)."""

RANK_HARMONIC_F0_RANGE_HZ = (100.0, 500.0)
"""Harmonic targets of the rank accuracy are uniform in this range, Hz."""

RANK_SPAN_CENTS = 1200.0
"""The rank accuracy's candidates span this many cents either way of the target."""

MINIMUM_PROMINENCE = 0.05
"""A local minimum of a normalised curve counts if its prominence is at least this (a share of the curve's range)."""

NEAR_MAXIMUM = 0.9
"""A normalised curve above this level is "near its maximum": flat, far from the target's notch."""

VERTICAL_LOSSES = ("L1 SS", "L2 SS", "L1 MSS (lin)", "L2 MSS (lin)", "L1 MSS (log)")
"""The bin-wise ("vertical") losses among the paper's."""

GRADIENT_COLUMN = "gradient points to target (%)"
""":func:`descent_table`'s column: share of the candidates where d loss / d f0 has the sign of the detuning."""

MINIMA_COLUMN = "local minima"
""":func:`descent_table`'s column: local minima with a prominence of at least :data:`MINIMUM_PROMINENCE`."""

_COMPLETE_FRAMES = "SOT W2, complete frames"
_REFERENCE_SOT = "SOT-2048 (cut, W2²)"


def grid(quick: bool) -> Grid:
    """The chapter's grids: :data:`QUICK_GRID` if ``quick``, else :data:`FULL_GRID` (notebook 02)."""
    return QUICK_GRID if check_bool("quick", quick) else FULL_GRID


def _sine() -> torch.Tensor:
    return torch.tensor([1.0])


def _check_losses(losses) -> dict:
    if not isinstance(losses, dict) or not losses:
        raise ValueError(f"`losses` must be a non-empty dict name -> per-example loss, got {type(losses).__name__}")
    return losses


def _check_sine_target(sine_target_hz, span_hz: float) -> float:
    """The sine target, checked so that every candidate within ``span_hz`` lies between 0 and Nyquist."""
    sine_target_hz = check_positive_number("sine_target_hz", sine_target_hz)
    if not span_hz < sine_target_hz < SAMPLE_RATE / 2 - span_hz:
        raise ValueError(
            f"`sine_target_hz` must lie between {span_hz:g} and {SAMPLE_RATE / 2 - span_hz:g} Hz so that the "
            f"candidates within ±{span_hz:g} Hz stay between 0 and Nyquist, got {sine_target_hz:g}"
        )
    return sine_target_hz


# --------------------------------------------------------------------------------------------
# Sweeps


def _sweep_rows(name: str, frame: pd.DataFrame, gradient: bool) -> dict:
    rows = {"loss": name, "f0_hz": frame["value"].to_numpy(), "value": frame["loss"].to_numpy()}
    if gradient:
        rows["gradient"] = frame["gradient"].to_numpy()
    rows["normalized"] = landscape.minmax_normalize(frame["loss"])
    return rows


def detuning_sweeps(
    losses: dict[str, Callable],
    target_hz: float,
    offsets_hz: torch.Tensor,
    amplitudes: torch.Tensor,
    gradient: bool = False,
) -> pd.DataFrame:
    """Each loss between a tone at ``target_hz`` and the same tone detuned by ``offsets_hz`` (notebook 02).

    Args:
        losses: name -> per-example loss (``reduction="none"``).
        target_hz: the target's f0, Hz.
        offsets_hz: ``[K]`` detunings of the candidates, Hz (each candidate's f0 is ``target_hz + offset``).
        amplitudes: ``[n_harmonics]`` amplitudes of target and candidates.
        gradient: also the derivative of the loss with respect to the candidate's f0.

    Returns:
        one row per (loss, candidate), losses in the dict's order: ``loss``, ``offset_hz``, ``f0_hz``,
        ``detuning_hz`` (``f0_hz - target_hz``), ``value``, (``gradient``, per Hz), ``normalized``.
    """
    _check_losses(losses)
    target_hz = check_positive_number("target_hz", target_hz)
    check_tensor("offsets_hz", offsets_hz, ndim=1, layout="[K]")
    check_bool("gradient", gradient)
    target = landscape.harmonic_tones(torch.tensor([target_hz]), amplitudes)
    family = landscape.tone_family("f0", target_hz, amplitudes)
    frames = []
    for name, loss in losses.items():
        frame = landscape.sweep(loss, target, family, target_hz + offsets_hz, gradient=gradient)
        rows = _sweep_rows(name, frame, gradient)
        rows = {"offset_hz": offsets_hz.numpy(), "detuning_hz": frame["value"].to_numpy() - target_hz, **rows}
        frames.append(pd.DataFrame(rows))
    columns = ["loss", "offset_hz", "f0_hz", "detuning_hz", "value"] + ["gradient"] * gradient + ["normalized"]
    return pd.concat(frames, ignore_index=True)[columns]


def ratio_sweeps(
    losses: dict[str, Callable], target_hz: float, ratios: torch.Tensor, amplitudes: torch.Tensor
) -> pd.DataFrame:
    """Each loss between a tone at ``target_hz`` and the same tone at ``target_hz * ratios`` (notebook 02).

    Args:
        losses: name -> per-example loss (``reduction="none"``).
        target_hz: the target's f0, Hz.
        ratios: ``[K]`` candidate f0 / target f0, positive.
        amplitudes: ``[n_harmonics]`` amplitudes of target and candidates.

    Returns:
        one row per (loss, candidate): ``loss``, ``ratio``, ``f0_hz``, ``value``, ``normalized``.
    """
    _check_losses(losses)
    target_hz = check_positive_number("target_hz", target_hz)
    check_tensor("ratios", ratios, ndim=1, layout="[K]", positive=True)
    target = landscape.harmonic_tones(torch.tensor([target_hz]), amplitudes)
    family = landscape.tone_family("f0", target_hz, amplitudes)
    frames = []
    for name, loss in losses.items():
        frame = landscape.sweep(loss, target, family, target_hz * ratios)
        frames.append(pd.DataFrame({"ratio": ratios.numpy(), **_sweep_rows(name, frame, False)}))
    return pd.concat(frames, ignore_index=True)[["loss", "ratio", "f0_hz", "value", "normalized"]]


def _ratios(n_points: int) -> torch.Tensor:
    low, high = RATIO_RANGE
    return torch.logspace(np.log10(low), np.log10(high), n_points)


def sine_sweeps(sine_target_hz: float, quick: bool) -> pd.DataFrame:
    """The paper's landscape: the losses of :func:`~sot_utils.study.landscape.landscape_losses` between a sine
    at ``sine_target_hz`` and sines detuned by up to ±:data:`SINE_SPAN_HZ`, with gradients (notebook 02).

    Args:
        sine_target_hz: the target sine's frequency, Hz.
        quick: the quick grid (:data:`QUICK_GRID`) or the full one.

    Returns:
        :func:`detuning_sweeps` with gradients, ``grid(quick).sweep_points`` candidates per loss.
    """
    sine_target_hz = _check_sine_target(sine_target_hz, SINE_SPAN_HZ)
    offsets = torch.linspace(-SINE_SPAN_HZ, SINE_SPAN_HZ, grid(quick).sweep_points)
    return detuning_sweeps(landscape.landscape_losses(n_fft=2048), sine_target_hz, offsets, _sine(), gradient=True)


def harmonic_sweeps(quick: bool) -> pd.DataFrame:
    """The paper's losses between a :data:`HARMONIC_TARGET_HZ` tone of :data:`HARMONIC_PARTIALS` partials
    (amplitudes 1/k) and the same tone with f0 over :data:`RATIO_RANGE` of the target's (notebook 02).

    Returns:
        :func:`ratio_sweeps`, ``grid(quick).sweep_points`` candidates per loss, log-spaced.
    """
    ratios = _ratios(grid(quick).sweep_points)
    amplitudes = landscape.decaying_amplitudes(HARMONIC_PARTIALS)
    return ratio_sweeps(landscape.landscape_losses(n_fft=2048), HARMONIC_TARGET_HZ, ratios, amplitudes)


def variant_sweeps(sine_target_hz: float, quick: bool) -> dict[str, pd.DataFrame]:
    """SOT's variants (:func:`~sot_utils.study.landscape.sot_variants`) swept three ways (notebook 02).

    Args:
        sine_target_hz: the target sine's frequency, Hz.
        quick: the quick grid (:data:`QUICK_GRID`) or the full one.

    Returns:
        ``"sine"``: every variant, sine detuned by up to ±:data:`SINE_SPAN_HZ` (``sweep_points // 2 + 1``
        candidates, :func:`detuning_sweeps`); ``"zoom"``: the reference and complete frames, detuned by up to
        ±:data:`ZOOM_SPAN_HZ` (``zoom_points``); ``"harmonic"``: every variant on :func:`harmonic_sweeps`'
        tones (:func:`ratio_sweeps`).
    """
    sine_target_hz = _check_sine_target(sine_target_hz, SINE_SPAN_HZ)
    chosen = grid(quick)
    variants = landscape.sot_variants()
    offsets = torch.linspace(-SINE_SPAN_HZ, SINE_SPAN_HZ, chosen.sweep_points // 2 + 1)
    zoom_offsets = torch.linspace(-ZOOM_SPAN_HZ, ZOOM_SPAN_HZ, chosen.zoom_points)
    zoom_losses = {name: variants[name] for name in (_REFERENCE_SOT, "complete frames")}
    amplitudes = landscape.decaying_amplitudes(HARMONIC_PARTIALS)
    return {
        "sine": detuning_sweeps(variants, sine_target_hz, offsets, _sine()),
        "zoom": detuning_sweeps(zoom_losses, sine_target_hz, zoom_offsets, _sine()),
        "harmonic": ratio_sweeps(variants, HARMONIC_TARGET_HZ, _ratios(chosen.sweep_points), amplitudes),
    }


def descent_table(sweeps: pd.DataFrame) -> pd.DataFrame:
    """Whether each curve of a detuning sweep can be descended (notebook 02).

    Args:
        sweeps: :func:`detuning_sweeps` with gradients (:func:`sine_sweeps`).

    Returns:
        one row per loss (the sweep's order): :data:`GRADIENT_COLUMN` (rounded to an integer %; candidates at
        zero detuning left out) and :data:`MINIMA_COLUMN`.
    """
    if "gradient" not in sweeps.columns:
        raise ValueError("`sweeps` has no gradient column: sweep with gradient=True (sine_sweeps does)")
    rows = {}
    for name, frame in sweeps.groupby("loss", sort=False):
        delta = frame["detuning_hz"].to_numpy()
        away = np.abs(delta) > 0
        toward = np.sign(frame["gradient"].to_numpy()[away]) == np.sign(delta[away])
        minima, _ = find_peaks(-frame["normalized"].to_numpy(), prominence=MINIMUM_PROMINENCE)
        rows[name] = {GRADIENT_COLUMN: round(100 * toward.mean()), MINIMA_COLUMN: len(minima)}
    return pd.DataFrame(rows).T


# --------------------------------------------------------------------------------------------
# The reference framing, frame by frame


def frame_costs(sine_target_hz: float, detunings_hz=SMALL_DETUNINGS_HZ) -> pd.DataFrame:
    """The reference SOT (SOT-2048, cut, W_2^2) frame by frame, in float64, between a sine at
    ``sine_target_hz`` and sines detuned by ``detunings_hz`` (notebook 02).

    Args:
        sine_target_hz: the target sine's frequency, Hz.
        detunings_hz: detunings, Hz (sequence of numbers).

    Returns:
        one row per (detuning, frame): ``detuning_hz``, ``frame`` (0-based), ``complete`` (whether the frame
        lies inside the signal; the later ones run into the zero padding), ``cost``.
    """
    detunings = check_tensor("detunings_hz", torch.tensor([float(d) for d in detunings_hz]), ndim=1, layout="[D]")
    sine_target_hz = _check_sine_target(sine_target_hz, float(detunings.abs().max()))
    reference = landscape.sot_variants()[_REFERENCE_SOT]
    target = landscape.harmonic_tones(torch.tensor([sine_target_hz]), _sine())
    detuned = landscape.harmonic_tones(sine_target_hz + detunings, _sine())
    per_frame = spectral_ot(
        reference.spectra(target.expand(len(detuned), -1)).double(),
        reference.spectra(detuned).double(),
        reference.positions_0.double(),
        reference.p,
        reference.root,
        reference.mode,
    ).numpy()  # [detunings, frames]
    n_complete = 1 + (target.shape[-1] - reference.n_ffts[0]) // reference.hop_lengths[0]
    n_detunings, n_frames = per_frame.shape
    frames = np.arange(n_frames)
    return pd.DataFrame(
        {
            "detuning_hz": np.repeat(detunings.numpy(), n_frames),
            "frame": np.tile(frames, n_detunings),
            "complete": np.tile(frames < n_complete, n_detunings),
            "cost": per_frame.reshape(-1),
        }
    )


def frame_cost_summary(costs: pd.DataFrame) -> pd.DataFrame:
    """Per detuning, what the padded last frames weigh in the loss (notebook 02).

    Args:
        costs: :func:`frame_costs`.

    Returns:
        indexed by ``detuning_hz``: ``complete frames``, ``padded frames`` (counts), ``padded / complete``
        (a padded frame's mean cost over a complete one's), ``padded share`` (of the summed cost, 0-1).
    """
    rows = {}
    for detuning, frame in costs.groupby("detuning_hz", sort=False):
        complete, padded = frame.loc[frame["complete"], "cost"], frame.loc[~frame["complete"], "cost"]
        rows[detuning] = {
            "complete frames": len(complete),
            "padded frames": len(padded),
            "padded / complete": padded.mean() / complete.mean(),
            "padded share": padded.sum() / frame["cost"].sum(),
        }
    summary = pd.DataFrame.from_dict(rows, orient="index")
    summary.index.name = "detuning_hz"
    return summary


# --------------------------------------------------------------------------------------------
# f0 x number of harmonics


def _render_surface(f0: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Tones ``[k, n_samples]`` at ``f0 [k]`` Hz with the first ``count [k]`` of :data:`SURFACE_AMPLITUDES` on."""
    amplitudes = torch.tensor(SURFACE_AMPLITUDES)
    on = torch.arange(1, len(SURFACE_AMPLITUDES) + 1) <= count[:, None]
    return landscape.harmonic_tones(f0, amplitudes * on)


def surfaces(quick: bool) -> pd.DataFrame:
    """The :data:`SURFACE_LOSSES` over f0 (:data:`RATIO_RANGE` of the target's, log-spaced) and the number
    of active harmonics (1 to ``len(SURFACE_AMPLITUDES)``), against a :data:`SURFACE_TARGET_HZ` tone with
    :data:`SURFACE_TARGET_HARMONICS` harmonics (notebook 02).

    Returns:
        one row per (loss, harmonic count, f0): ``loss``, ``n_harmonics``, ``f0_hz``, ``value``.
    """
    n_f0 = grid(quick).surface_f0_points
    amplitudes = torch.tensor(SURFACE_AMPLITUDES)
    n_harmonics = len(SURFACE_AMPLITUDES)
    target_on = torch.arange(1, n_harmonics + 1) <= SURFACE_TARGET_HARMONICS
    target = landscape.harmonic_tones(torch.tensor([SURFACE_TARGET_HZ]), amplitudes * target_on)
    f0_grid = SURFACE_TARGET_HZ * _ratios(n_f0)
    count_grid = torch.arange(1, n_harmonics + 1, dtype=torch.float32)
    catalogues = {"paper": landscape.landscape_losses(n_fft=2048), "variants": landscape.sot_variants()}
    frames = []
    for name, (catalogue, key) in SURFACE_LOSSES.items():
        values = landscape.surface(catalogues[catalogue][key], target, _render_surface, f0_grid, count_grid)
        frames.append(
            pd.DataFrame(
                {
                    "loss": name,
                    "n_harmonics": np.repeat(count_grid.numpy().astype(int), n_f0),
                    "f0_hz": np.tile(f0_grid.numpy(), n_harmonics),
                    "value": values.reshape(-1),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _surface_grids(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """``(f0 [Kx], counts [Ky], {loss: values [Ky, Kx]})`` of a :func:`surfaces` table, losses in its order."""
    grids = {}
    for name, frame in table.groupby("loss", sort=False):
        wide = frame.pivot(index="n_harmonics", columns="f0_hz", values="value")
        grids[name] = wide.to_numpy()
    return wide.columns.to_numpy(), wide.index.to_numpy(), grids


def best_f0(table: pd.DataFrame) -> pd.DataFrame:
    """The f0 of each loss's minimum per number of harmonics (notebook 02's white dots).

    Args:
        table: :func:`surfaces`.

    Returns:
        indexed by ``n_harmonics``, one column per loss: the f0 (Hz) of the row's smallest loss.
    """
    f0, counts, grids = _surface_grids(table)
    best = pd.DataFrame(
        {name: f0[np.argmin(values, axis=1)].astype(np.float64) for name, values in grids.items()}, index=counts
    )
    best.index.name = "n_harmonics"
    return best


# --------------------------------------------------------------------------------------------
# Rank accuracy


def rank_accuracy_table(quick: bool) -> pd.DataFrame:
    """Turian & Henry's rank accuracy (:func:`~sot_utils.study.landscape.rank_accuracy`) of the paper's losses
    and SOT's variants, for sines and :data:`HARMONIC_PARTIALS`-partial tones (notebook 02).

    ``grid(quick).rank_targets`` targets of each kind are drawn uniformly (sines in
    :data:`RANK_SINE_F0_RANGE_HZ`, then harmonic tones in :data:`RANK_HARMONIC_F0_RANGE_HZ`, from one generator
    seeded with :data:`RANK_SEED`); each has ``grid(quick).rank_candidates`` candidates evenly spaced over
    ±:data:`RANK_SPAN_CENTS`.

    Returns:
        indexed by ``loss`` (the paper's names, then ``"SOT · <variant>"``): columns ``sine`` and
        ``harmonic (6)``, accuracies in [0, 1] (0.5 is chance). Written as ``results/rank_accuracy.csv``.
    """
    chosen = grid(quick)
    generator = torch.Generator().manual_seed(RANK_SEED)
    (sine_low, sine_high), (harmonic_low, harmonic_high) = RANK_SINE_F0_RANGE_HZ, RANK_HARMONIC_F0_RANGE_HZ
    sine_targets = sine_low + (sine_high - sine_low) * torch.rand(chosen.rank_targets, generator=generator)
    harmonic_targets = harmonic_low + (harmonic_high - harmonic_low) * torch.rand(
        chosen.rank_targets, generator=generator
    )
    cents = torch.linspace(-RANK_SPAN_CENTS, RANK_SPAN_CENTS, chosen.rank_candidates)
    harmonic_amplitudes = landscape.decaying_amplitudes(HARMONIC_PARTIALS)
    losses = {
        **landscape.landscape_losses(n_fft=2048),
        **{f"SOT · {k}": v for k, v in landscape.sot_variants().items()},
    }
    rank = pd.DataFrame(
        {
            "sine": {
                name: landscape.rank_accuracy(loss, sine_targets, cents, _sine()) for name, loss in losses.items()
            },
            f"harmonic ({HARMONIC_PARTIALS})": {
                name: landscape.rank_accuracy(loss, harmonic_targets, cents, harmonic_amplitudes)
                for name, loss in losses.items()
            },
        }
    )
    rank.index.name = "loss"
    return rank


# --------------------------------------------------------------------------------------------
# Figures


def _curves(table: pd.DataFrame, names=None) -> dict[str, np.ndarray]:
    """``{loss: normalized curve}`` of a sweep table, in its order (or in ``names``' order)."""
    by_loss = {name: frame["normalized"].to_numpy() for name, frame in table.groupby("loss", sort=False)}
    return by_loss if names is None else {name: by_loss[name] for name in names}


def _axis(table: pd.DataFrame, column: str) -> np.ndarray:
    """The swept quantity of the table's first loss (every loss has the same)."""
    return table.loc[table["loss"] == table["loss"].iloc[0], column].to_numpy()


def plot_losses_sine(sweeps: pd.DataFrame) -> plt.Figure:
    """The paper's ``losses_sine`` figure: one panel per :data:`SINE_PANELS` entry (notebook 02).

    Args:
        sweeps: :func:`sine_sweeps`.
    """
    panels = [_curves(sweeps, names) for names in SINE_PANELS.values()]
    return plots.plot_loss_curves(_axis(sweeps, "offset_hz"), panels, titles=list(SINE_PANELS))


def plot_gradients_sine(sweeps: pd.DataFrame) -> plt.Figure:
    """d loss / d f0 along a detuning sweep, each loss scaled by its largest magnitude (notebook 02).

    Args:
        sweeps: :func:`detuning_sweeps` with gradients (:func:`sine_sweeps`).
    """
    fig, ax = plt.subplots(figsize=(9, 3.4))
    for name, frame in sweeps.groupby("loss", sort=False):
        g = frame["gradient"].to_numpy()
        transport = name.startswith("SOT")
        ax.plot(
            frame["offset_hz"].to_numpy() / 1000,
            g / np.abs(g).max(),
            label=name,
            linewidth=2.2 if transport else 1,
            linestyle="--" if transport else "-",
        )
    ax.set(xlabel="Frequency difference (kHz)", ylabel="d loss / d f0 (scaled)", title="Gradient along the sine sweep")
    ax.legend(fontsize=8, ncol=3)
    ax.grid(alpha=0.3)
    return fig


def plot_detuning_sweep(sweeps: pd.DataFrame, title: str, in_hz: bool = False) -> plt.Figure:
    """Every normalised curve of a :func:`detuning_sweeps` table in one panel, against the detuning in kHz
    (or Hz if ``in_hz``) (notebook 02)."""
    axis = dict(xlabel="Frequency difference (Hz)", x_scale=1.0) if check_bool("in_hz", in_hz) else {}
    return plots.plot_loss_curves(_axis(sweeps, "offset_hz"), [_curves(sweeps)], titles=[title], **axis)


def plot_ratio_sweep(sweeps: pd.DataFrame, title: str) -> plt.Figure:
    """Every normalised curve of a :func:`ratio_sweeps` table in one panel, against the ratio in octaves
    (notebook 02)."""
    return plots.plot_loss_curves(
        np.log2(_axis(sweeps, "ratio")),
        [_curves(sweeps)],
        xlabel="estimate f0 / target f0 (octaves)",
        x_scale=1.0,
        titles=[title],
    )


def plot_surface_f0_harmonics(table: pd.DataFrame) -> plt.Figure:
    """Heat maps of :func:`surfaces`, one per loss, with each row's minimum and the target (notebook 02)."""
    f0, counts, grids = _surface_grids(table)
    return plots.plot_surfaces(
        f0, counts, grids, "estimate f0 (Hz)", "active harmonics", truth=(SURFACE_TARGET_HZ, SURFACE_TARGET_HARMONICS)
    )


# --------------------------------------------------------------------------------------------
# What this shows


def _span(low: float, high: float, fmt: str = ".0f") -> str:
    """``"low–high"``, or one number when both print the same."""
    low, high = format(low, fmt), format(high, fmt)
    return low if low == high else f"{low}–{high}"


def _minima(count: int) -> str:
    return f"{count} local minimum" if count == 1 else f"{count} local minima"


def findings(
    sweeps: pd.DataFrame,
    descent: pd.DataFrame,
    frame_summary: pd.DataFrame,
    best: pd.DataFrame,
    rank: pd.DataFrame,
    quick: bool,
) -> str:
    """Notebook 02's "What this shows" (Markdown bullets), every number read from its tables.

    Args:
        sweeps: :func:`sine_sweeps`.
        descent: :func:`descent_table` of ``sweeps``.
        frame_summary: :func:`frame_cost_summary`.
        best: :func:`best_f0` of :func:`surfaces`.
        rank: :func:`rank_accuracy_table`.
        quick: the grid the rank accuracy was computed on (its target and candidate counts).
    """
    chosen = grid(quick)
    paper = sweeps[sweeps["loss"] != _COMPLETE_FRAMES]
    near_max = {
        name: 100 * np.mean(frame["normalized"].to_numpy() > NEAR_MAXIMUM) for name, frame in paper.groupby("loss")
    }
    single, multi = (
        sorted(near_max[k] for k in pair) for pair in (("L1 SS", "L2 SS"), ("L1 MSS (lin)", "L2 MSS (lin)"))
    )
    sot = sweeps[sweeps["loss"] == "SOT W2"]
    sine_target_hz = float((sot["f0_hz"] - sot["detuning_hz"]).median())
    span_khz = np.abs(sot["offset_hz"]).max() / 1000
    minima, toward = descent[MINIMA_COLUMN], descent[GRADIENT_COLUMN]
    shape = "is a V with" if minima["SOT W2"] == 1 else "is no clean V: it has"

    share, ratio = frame_summary["padded share"], frame_summary["padded / complete"]
    detunings = frame_summary.index.to_numpy()

    counts = best.index.to_numpy()
    cut_cents = 1200 * np.abs(np.log2(best["SOT-2048 (cut, W2²)"].to_numpy() / SURFACE_TARGET_HZ))
    cut_right = counts[cut_cents < SUCCESS_CENTS]
    balanced = best["SOT balanced (NoCut)"]

    def pct(loss: str, column: str) -> str:
        return f"{100 * rank.loc[f'SOT · {loss}', column]:.0f} %"

    harmonic = f"harmonic ({HARMONIC_PARTIALS})"
    vertical = rank.loc[list(VERTICAL_LOSSES), harmonic]
    bullets = [
        f"- **The paper's landscape, reproduced** (`losses_sine`). For a {sine_target_hz / 1000:g} kHz sine detuned "
        f"by ±{span_khz:g} kHz, SOT (W₂) {shape} {_minima(minima['SOT W2'])}, within "
        f"{100 * (1 - NEAR_MAXIMUM):.0f} % of its maximum over only {near_max['SOT W2']:.0f} % of the sweep (its two "
        f"ends); the single-scale losses stay that high over {_span(*single)} % of it and the linear MSS over "
        f"{_span(*multi)} %: a notch at the target, flat beyond it; the log-magnitude MSS has "
        f"{_minima(minima['L1 MSS (log)'])}.",
        f"- **But the reference framing makes SOT jagged at a fine scale** (`sot_framing_zoom`). For estimates "
        f"detuned by {_span(detunings.min(), detunings.max())} Hz, the padded last frames carry "
        f"{_span(100 * share.min(), 100 * share.max())} % of the loss, and a padded frame costs from "
        f"{ratio.min():.0f} to {ratio.max():,.0f} times a complete one as the phase at the cut changes: along the "
        f"sweep, the reference SOT's gradient points toward the target at {toward['SOT W2']} % of {len(sot)} points "
        f"(chance: 50 %), on complete frames only (`SpectralOTLoss(pad_end=False)`) at "
        f"{toward[_COMPLETE_FRAMES]} % (any rest: subgradients at exact whole-bin shifts, right in float64).",
        f"- **Cut or balanced** (`surface_f0_harmonics`). With the frequency cutoff, SOT's best f0 is the target's "
        f"({SURFACE_TARGET_HZ:g} Hz, within {SUCCESS_CENTS:g} cents) for {len(cut_right)} of {len(counts)} harmonic "
        f"counts ({', '.join(map(str, cut_right))}); balanced SOT trades pitch against the number of harmonics: its "
        f"best f0 is {balanced.iloc[0]:.0f} Hz with {counts[0]} harmonic{'' if counts[0] == 1 else 's'} and "
        f"{balanced.iloc[-1]:.0f} Hz with {counts[-1]}, for a {SURFACE_TARGET_HZ:g} Hz, "
        f"{SURFACE_TARGET_HARMONICS}-harmonic target. Hence the paper's vertical MSS term.",
        f"- **Rank accuracy** (Turian & Henry 2020; `rank_accuracy.csv`, {chosen.rank_targets} targets, "
        f"{chosen.rank_candidates} candidates over ±{RANK_SPAN_CENTS / 1200:g} octave; chance is 50 %). "
        f"Log-frequency SOT on complete frames ranks {pct('complete frames, log frequency', 'sine')} of pairs "
        f"correctly for sines and {pct('complete frames, log frequency', harmonic)} for harmonic tones; "
        f"linear-frequency SOT on complete frames, which measures Hz rather than cents, "
        f"{pct('complete frames', 'sine')} and {pct('complete frames', harmonic)}; the training loss SOT-2048 with "
        f"the reference framing {pct(_REFERENCE_SOT, 'sine')} and {pct(_REFERENCE_SOT, harmonic)}; the vertical "
        f"losses {_span(100 * vertical.min(), 100 * vertical.max())} % on harmonic tones.",
    ]
    return "\n".join(bullets)
