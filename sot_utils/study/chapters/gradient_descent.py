"""Chapter of notebooks/03_gradient_descent.ipynb: fitting a synthesizer's f0 by gradient descent
under each loss, from initial detunings of -1 ... +1 octave.

- :func:`fit_grid`: the steps, detunings and number of targets of a quick or full run;
- :func:`draw_targets`: the target f0 values of both tone kinds, drawn from one seeded generator;
- :func:`compared_losses`: the losses compared (the landscape losses and three SOT-2048 framings);
- :func:`compute_success_rates`: success rate per loss and detuning for one tone kind
  (:func:`sot_utils.study.landscape.fit_f0` and :func:`~sot_utils.study.landscape.success_rate`);
- :func:`summary` and :func:`summary_table`: mean success over all starts and over far starts;
- :func:`findings`: the "What this shows" text, its numbers read from the summary table.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from ...validation import check_bool, check_choice, check_int, check_positive_number
from .. import landscape

__all__ = [
    "FAR_OCTAVES",
    "FitGrid",
    "N_FFT",
    "N_HARMONICS",
    "REFERENCE_LOSSES",
    "SEED",
    "TARGET_RANGES_HZ",
    "TONES",
    "VERTICAL_LOSSES",
    "compared_losses",
    "compute_success_rates",
    "draw_targets",
    "findings",
    "fit_grid",
    "summary",
    "summary_table",
    "tone_amplitudes",
]

N_FFT = 2048
"""STFT size of the single-scale losses and of SOT (SOT-2048's)."""

SEED = 0
"""Seed of the generator that draws the target f0 values (sines first, then harmonic tones)."""

TONES = ("sine", "harmonic")
"""The tone kinds fitted, in the order their targets are drawn."""

TARGET_RANGES_HZ = {"sine": (200.0, 1000.0), "harmonic": (100.0, 500.0)}
"""Target f0 values are uniform in these ranges, Hz (a start one octave up stays below Nyquist)."""

N_HARMONICS = 6
"""Harmonics of the harmonic tones (amplitude ``1 / k``)."""

FAR_OCTAVES = 0.5
"""A start is "far" when its detuning is at least this many octaves (either way)."""

VERTICAL_LOSSES = ("L1 SS", "L2 SS", "L1 MSS (lin)", "L2 MSS (lin)", "L1 MSS (log)")
"""The bin-wise ("vertical") losses among :func:`compared_losses`."""

REFERENCE_LOSSES = ("SOT W2", "SOT-2048 (cut, W2²)")
"""The SOT losses with the reference framing (zero-padded last frames) among :func:`compared_losses`."""

_SUMMARY_NAMES = {"sine": "sine", "harmonic": f"harmonic ({N_HARMONICS})"}
_ALL = "all starts (%)"
_FAR = f"|detuning| >= {FAR_OCTAVES} oct (%)"


@dataclass(frozen=True)
class FitGrid:
    """What a run of notebook 03 fits: ``n_targets`` target f0 values per tone kind, each from every
    initial detuning (``detunings [D]``, octaves), for ``steps`` Adam steps."""

    steps: int
    detunings: torch.Tensor
    n_targets: int


def fit_grid(quick: bool) -> FitGrid:
    """Notebook 03's grid: quick 150 steps, 9 detunings, 3 targets; full 300 steps, 13 detunings, 8 targets.

    The detunings are evenly spaced over -1 ... +1 octave.
    """
    quick = check_bool("quick", quick)
    return FitGrid(
        steps=150 if quick else 300,
        detunings=torch.linspace(-1.0, 1.0, 9 if quick else 13),
        n_targets=3 if quick else 8,
    )


def draw_targets(n_targets: int, seed: int = SEED) -> dict[str, torch.Tensor]:
    """Target f0 values ``[n_targets]`` (Hz) per tone kind, uniform in :data:`TARGET_RANGES_HZ`.

    One generator seeded with ``seed`` draws every kind, in the order of :data:`TONES` (notebook 03):
    a kind's targets are the same whichever kinds a caller then fits.
    """
    check_int("n_targets", n_targets, minimum=1)
    check_int("seed", seed)
    generator = torch.Generator().manual_seed(seed)
    targets = {}
    for tone in TONES:
        low, high = TARGET_RANGES_HZ[tone]
        targets[tone] = low + (high - low) * torch.rand(n_targets, generator=generator)
    return targets


def tone_amplitudes(tone: str) -> torch.Tensor:
    """Harmonic amplitudes ``[n_harmonics]`` of a tone kind: ``[1.0]`` for ``"sine"``,
    ``1 / k`` for k = 1 .. :data:`N_HARMONICS` for ``"harmonic"`` (notebook 03)."""
    check_choice("tone", tone, TONES)
    return torch.tensor([1.0]) if tone == "sine" else landscape.decaying_amplitudes(N_HARMONICS)


def compared_losses() -> dict[str, nn.Module]:
    """The per-example losses notebook 03 compares, in the order of its tables' columns.

    :func:`~sot_utils.study.landscape.landscape_losses` at :data:`N_FFT`, then SOT-2048 with the
    reference framing (``"SOT-2048 (cut, W2²)"``), on complete frames (``"SOT-2048, complete
    frames"``) and on complete frames with log-frequency positions (``"SOT-2048, complete frames, log f"``),
    from :func:`~sot_utils.study.landscape.sot_variants`.
    """
    variants = landscape.sot_variants()
    return {
        **landscape.landscape_losses(n_fft=N_FFT),
        "SOT-2048 (cut, W2²)": variants["SOT-2048 (cut, W2²)"],
        "SOT-2048, complete frames": variants["complete frames"],
        "SOT-2048, complete frames, log f": variants["complete frames, log frequency"],
    }


def compute_success_rates(
    tone: str, targets: torch.Tensor, grid: FitGrid, losses: dict[str, nn.Module] | None = None
) -> pd.DataFrame:
    """Success rate (%) of fitting each target's f0 from each detuning, per loss (notebook 03).

    Args:
        tone: ``"sine"`` or ``"harmonic"`` (the estimate has the target's :func:`tone_amplitudes`).
        targets: ``[T]`` target f0 values, Hz (:func:`draw_targets`).
        grid: the detunings and steps (:func:`fit_grid`).
        losses: name -> per-example loss (default :func:`compared_losses`), fitted in this order.

    Returns:
        rates ``[D detunings, n_losses]``, index ``initial_detuning_octaves``: the share of the targets
        that end within ``SUCCESS_CENTS`` of the truth.
    """
    amplitudes = tone_amplitudes(tone)
    if not isinstance(grid, FitGrid):
        raise ValueError(f"`grid` must be a FitGrid (see fit_grid), got {type(grid).__name__}")
    losses = compared_losses() if losses is None else losses
    if not losses:
        raise ValueError("`losses` is empty: pass at least one loss")
    fits = {
        name: landscape.fit_f0(loss, targets, grid.detunings, amplitudes, steps=grid.steps)
        for name, loss in losses.items()
    }
    return landscape.success_rate(fits)


def summary(rates: pd.DataFrame, far_octaves: float = FAR_OCTAVES) -> pd.DataFrame:
    """Mean success rate per loss over all starts, and over starts at least ``far_octaves`` away.

    Args:
        rates: :func:`compute_success_rates` (index: initial detuning in octaves; one column per loss).
        far_octaves: the least ``|detuning|`` of a far start, octaves.

    Returns:
        one row per loss; columns ``"all starts (%)"`` and ``"|detuning| >= <far_octaves> oct (%)"``.
    """
    check_positive_number("far_octaves", far_octaves)
    far = rates.index.to_series().abs() >= far_octaves
    if not far.any():
        raise ValueError(f"no start in `rates` is at least {far_octaves} octave away: {list(rates.index)}")
    return pd.DataFrame({_ALL: rates.mean(), f"|detuning| >= {far_octaves} oct (%)": rates[far].mean()})


def summary_table(rates: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Notebook 03's ``gd_success_summary.csv``: :func:`summary` of each tone kind side by side, rounded to
    0.1 %.

    Args:
        rates: tone kind (``"sine"``, ``"harmonic"``) -> :func:`compute_success_rates`.

    Returns:
        one row per loss; columns ``(tone label, statistic)`` with tone labels ``"sine"`` and
        ``"harmonic (6)"``.
    """
    unknown = set(rates) - set(TONES)
    if unknown or not rates:
        raise ValueError(f"`rates` must map tone kinds from {TONES} to success rates, got {sorted(rates)}")
    return pd.concat({_SUMMARY_NAMES[tone]: summary(rates[tone]) for tone in TONES if tone in rates}, axis=1).round(1)


def findings(table: pd.DataFrame, n_targets: int, n_detunings: int, steps: int) -> str:
    """Notebook 03's "What this shows" (Markdown), every number read from ``table``.

    Args:
        table: :func:`summary_table` of both tone kinds, with the rows of :func:`compared_losses`
            (at least :data:`VERTICAL_LOSSES`, :data:`REFERENCE_LOSSES` and the complete-frame SOT losses).
        n_targets: targets per tone kind (quoted in the text).
        n_detunings: initial detunings per target (quoted).
        steps: Adam steps per fit (quoted).
    """
    for name, value in (("n_targets", n_targets), ("n_detunings", n_detunings), ("steps", steps)):
        check_int(name, value, minimum=1)
    quoted = ("SOT-2048, complete frames", "SOT W2, complete frames", "SOT-2048, complete frames, log f")
    missing = [loss for loss in (*VERTICAL_LOSSES, *REFERENCE_LOSSES, *quoted) if loss not in table.index]
    if missing:
        raise ValueError(f"`table` lacks the losses {missing}: pass summary_table(...) of compared_losses()")
    sine, harmonic = _SUMMARY_NAMES["sine"], _SUMMARY_NAMES["harmonic"]
    absent = [column for column in ((t, c) for t in (sine, harmonic) for c in (_ALL, _FAR)) if column not in table]
    if absent:
        raise ValueError(f"`table` lacks the columns {absent}: pass summary_table(...) of both tone kinds")

    def rate(tones: str, loss: str) -> str:
        return f"{table.loc[loss, (tones, _FAR)]:.0f} %"

    best_vertical = table.loc[list(VERTICAL_LOSSES), (sine, _FAR)].idxmax()
    worst_reference = table.loc[list(REFERENCE_LOSSES), [(sine, _ALL), (harmonic, _ALL)]].to_numpy().max()
    return f"""- **From starts at least {FAR_OCTAVES:g} octave away** ({n_targets} targets × {n_detunings} detunings,
  {steps} Adam steps), SOT on complete frames fits {rate(sine, "SOT-2048, complete frames")} of the sines and
  {rate(harmonic, "SOT-2048, complete frames")} of the harmonic tones (SOT-2048's settings); the single-scale
  W₂ on complete frames {rate(sine, "SOT W2, complete frames")} and {rate(harmonic, "SOT W2, complete frames")};
  with log-frequency positions {rate(sine, "SOT-2048, complete frames, log f")} and
  {rate(harmonic, "SOT-2048, complete frames, log f")}.
- **The vertical losses fail from afar, on harmonic tones most.** The best of them on sines, {best_vertical},
  fits {rate(sine, best_vertical)} of the sines but {rate(harmonic, best_vertical)} of the harmonic tones;
  L1 MSS {rate(sine, "L1 MSS (lin)")} and {rate(harmonic, "L1 MSS (lin)")}; log-magnitude MSS
  {rate(sine, "L1 MSS (log)")} and {rate(harmonic, "L1 MSS (log)")}. This agrees with Hayes et al. (2023).
- **The framing decides.** With the reference's padded last frames, SOT converges in at most
  {worst_reference:.0f} % of the fits from any start: the transport loss's advantage depends on dropping those
  frames (`gd_success_summary.csv`)."""
