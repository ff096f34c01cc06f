"""Chapter of notebooks/01_transport_vs_vertical.ipynb: a bin-wise ("vertical") comparison of two
spectra against the 1-D optimal transport ("horizontal") one.

- :func:`normalised_spectrum`: a harmonic tone's average magnitude spectrum as a distribution over
  frequency (unit mass), and :func:`frequency_axis`: its bins in normalised frequency;
- :func:`example_spectra`: the chapter's two spectra, α (the target) and β (another pitch);
- :func:`transport_costs`: the monotone transport plan and its cost against the closed form;
- :func:`w1_areas`: ``W_1`` as the area between the CDFs and between the quantile functions;
- :func:`compute_shift_sweep`: ``W_1`` and the L1 distance between bins as a tone moves away from a
  copy of itself, drawn by :func:`plot_shift_sweep`;
- :func:`findings`: the "What this shows" text, its numbers read from those tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from ...constants import SAMPLE_RATE
from ...spectral import rfft_frequencies, stft_magnitude
from ...transport import transport_plan_1d, wasserstein_1d_shared_support
from ...validation import check_bool, check_int, check_positive_number, check_tensor, check_unit_interval
from .. import landscape

__all__ = [
    "ALPHA",
    "BETA",
    "N_FFT",
    "PLAN_TOLERANCE",
    "SATURATION",
    "SHIFT_POINTS",
    "SHIFT_RANGE_HZ",
    "SHIFT_TONE",
    "TRANSPORT_LINE_MIN_MASS",
    "compute_shift_sweep",
    "example_spectra",
    "findings",
    "frequency_axis",
    "normalised_spectrum",
    "plot_shift_sweep",
    "transport_costs",
    "w1_areas",
]

N_FFT = 128
"""STFT size (Hann window, hop ``N_FFT``) of the chapter's spectra: 65 bins, coarse enough to see each one."""

ALPHA = (1360.0, (1.0, 0.8, 0.6, 0.4))
"""The target α: (f0 in Hz, amplitudes of its harmonics)."""

BETA = (2400.0, (1.0, 0.7, 0.5))
"""The estimate β: (f0 in Hz, amplitudes of its harmonics)."""

SHIFT_TONE = (1000.0, (1.0, 0.7, 0.5))
"""The tone of the shift sweep: (f0 in Hz, amplitudes of its harmonics)."""

SHIFT_RANGE_HZ = 500.0
"""The sweep shifts the tone by ``-SHIFT_RANGE_HZ ... +SHIFT_RANGE_HZ`` (all partials stay below Nyquist)."""

SHIFT_POINTS = {True: 41, False: 201}
"""Shifts in the sweep, quick (True) and full (False) mode."""

SATURATION = 0.95
"""The L1 distance "saturates" from the smallest shift at which it reaches this fraction of its maximum."""

PLAN_TOLERANCE = 1e-9
"""Largest difference allowed between the transport plan's cost and the closed form (float64)."""

TRANSPORT_LINE_MIN_MASS = 0.02
"""The transport-plan figure draws only the arcs that move at least this mass."""


def normalised_spectrum(f0_hz: float, amplitudes: Sequence[float], n_fft: int = N_FFT) -> torch.Tensor:
    """A stationary harmonic tone's magnitude spectrum, averaged over frames and scaled to unit mass.

    The tone is rendered by the DDSP synthesizer (:func:`sot_utils.study.landscape.harmonic_tones`)
    and analysed with an ``n_fft``-point Hann STFT, hop ``n_fft`` (notebook 01).

    Args:
        f0_hz: fundamental, Hz.
        amplitudes: ``[n_harmonics]`` linear amplitudes of harmonics 1, 2, ...
        n_fft: STFT size.

    Returns:
        ``[n_fft // 2 + 1]`` float64, non-negative, summing to 1.
    """
    check_positive_number("f0_hz", f0_hz)
    check_int("n_fft", n_fft, minimum=2)
    audio = landscape.harmonic_tones(torch.tensor([f0_hz]), torch.tensor(amplitudes))
    spectrum = stft_magnitude(audio, n_fft, n_fft, "hann").mean(dim=1)[0].double()
    return spectrum / spectrum.sum()


def frequency_axis(n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """The bins of :func:`normalised_spectrum` in normalised frequency (``Hz / sample_rate``, 0 ... 0.5),
    ``[n_fft // 2 + 1]`` float64 (notebook 01)."""
    return rfft_frequencies(n_fft, sample_rate) / sample_rate


def example_spectra() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Notebook 01's two spectra: ``(frequency, alpha, beta)``, each ``[N_FFT // 2 + 1]`` float64.

    ``frequency`` is :func:`frequency_axis`; α and β are :func:`normalised_spectrum` of
    :data:`ALPHA` and :data:`BETA`.
    """
    alpha = normalised_spectrum(*ALPHA)
    beta = normalised_spectrum(*BETA)
    return frequency_axis(), alpha, beta


def transport_costs(
    frequency: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor, powers: Sequence[int] = (1, 2)
) -> tuple[torch.Tensor, pd.DataFrame]:
    """The optimal transport plan between two spectra and its cost ``W_p^p`` for each ``p``, checked
    against the closed form :func:`sot_utils.transport.wasserstein_1d_shared_support` (notebook 01).

    Args:
        frequency: ``[n]`` shared, sorted support (normalised frequency).
        alpha: ``[n]`` unit-mass weights (the target).
        beta: ``[n]`` unit-mass weights (the estimate).
        powers: the exponents ``p`` of the cost ``|x - y|^p``.

    Returns:
        ``(plan [n, n], table)``: ``plan[i, j]`` is the mass moved from bin ``i`` of α to bin ``j`` of β;
        ``table`` has one row per ``p`` (index ``p``), columns ``closed form`` and ``plan cost``.

    Raises:
        ValueError: if the plan's cost differs from the closed form by more than :data:`PLAN_TOLERANCE`.
    """
    check_tensor("frequency", frequency, ndim=1, layout="[n]")
    if not powers:
        raise ValueError("`powers` must name at least one exponent p")
    plan = transport_plan_1d(frequency, alpha, beta)
    distance = (frequency[:, None] - frequency[None, :]).abs()
    rows = {}
    for p in powers:
        check_int("p", p, minimum=1)
        plan_cost = float((plan * distance**p).sum())
        closed_form = float(wasserstein_1d_shared_support(frequency, alpha, beta, p=p))
        if abs(plan_cost - closed_form) >= PLAN_TOLERANCE:
            raise ValueError(f"the plan costs W_{p}^{p} = {plan_cost:.9g}, the closed form gives {closed_form:.9g}")
        rows[p] = {"closed form": closed_form, "plan cost": plan_cost}
    return plan, pd.DataFrame.from_dict(rows, orient="index").rename_axis("p")


def w1_areas(curves: dict[str, np.ndarray]) -> pd.Series:
    """``W_1`` two more ways: the area between the CDFs and the area between the quantile functions.

    Args:
        curves: :func:`sot_utils.study.landscape.cdf_quantile_curves` of the two spectra.

    Returns:
        Series with index ``"between CDFs"`` and ``"between quantile functions"`` (notebook 01).
    """
    missing = {"positions", "u_cdf", "v_cdf", "levels", "u_quantile", "v_quantile"} - set(curves)
    if missing:
        raise ValueError(f"`curves` lacks {sorted(missing)}: pass landscape.cdf_quantile_curves(...)")
    area_cdfs = float(np.sum(np.abs(curves["u_cdf"] - curves["v_cdf"])[:-1] * np.diff(curves["positions"])))
    area_quantiles = float(
        np.sum(np.diff(curves["levels"], prepend=0.0) * np.abs(curves["u_quantile"] - curves["v_quantile"]))
    )
    return pd.Series({"between CDFs": area_cdfs, "between quantile functions": area_quantiles})


def compute_shift_sweep(quick: bool, frequency: torch.Tensor | None = None) -> pd.DataFrame:
    """Distances between :data:`SHIFT_TONE` and its copy shifted in f0 (notebook 01).

    Args:
        quick: :data:`SHIFT_POINTS` ``[True]`` shifts instead of ``[False]``, evenly spaced over
            ``±SHIFT_RANGE_HZ``.
        frequency: ``[N_FFT // 2 + 1]`` support of the spectra (default :func:`frequency_axis`).

    Returns:
        one row per shift: ``shift_hz`` (float32), ``w1`` (``W_1`` in normalised frequency) and ``l1``
        (sum of the absolute differences between bins).
    """
    shifts_hz = torch.linspace(-SHIFT_RANGE_HZ, SHIFT_RANGE_HZ, SHIFT_POINTS[check_bool("quick", quick)])
    frequency = frequency_axis() if frequency is None else frequency
    f0_hz, amplitudes = SHIFT_TONE
    reference = normalised_spectrum(f0_hz, amplitudes)
    w1, l1 = [], []
    for shift in shifts_hz:
        moved = normalised_spectrum(f0_hz + float(shift), amplitudes)
        w1.append(float(wasserstein_1d_shared_support(frequency, reference, moved, p=1)))
        l1.append(float((reference - moved).abs().sum()))
    return pd.DataFrame({"shift_hz": shifts_hz.numpy(), "w1": w1, "l1": l1})


def plot_shift_sweep(sweep: pd.DataFrame) -> plt.Figure:
    """Both distances of :func:`compute_shift_sweep` against the shift, each scaled to [0, 1] (notebook 01)."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    shift = sweep["shift_hz"].to_numpy()
    w1, l1 = landscape.minmax_normalize(sweep["w1"]), landscape.minmax_normalize(sweep["l1"])
    ax.plot(shift, w1, "--", color="tab:green", linewidth=2.2, label="horizontal: $W_1$")
    ax.plot(shift, l1, color="tab:red", label="vertical: L1 between bins")
    ax.set(xlabel="shift of β (Hz)", ylabel="normalised distance", title="Distance between a tone and its shifted copy")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


_NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


def _saturation_shift(sweep: pd.DataFrame, saturation: float) -> float:
    """The smallest |shift| (Hz) at which the L1 distance reaches ``saturation`` of its maximum."""
    shift, l1 = np.abs(sweep["shift_hz"].to_numpy()), sweep["l1"].to_numpy()
    return shift[l1 >= saturation * l1.max()].min()


def findings(costs: pd.DataFrame, areas: pd.Series, sweep: pd.DataFrame, saturation: float = SATURATION) -> str:
    """Notebook 01's "What this shows" (Markdown), every number read from the tables.

    Args:
        costs: :func:`transport_costs`'s table (its row ``p = 1`` gives ``W_1(α, β)``).
        areas: :func:`w1_areas`.
        sweep: :func:`compute_shift_sweep`, at least two shifts.
        saturation: fraction of its maximum from which the L1 distance counts as saturated.
    """
    check_unit_interval("saturation", saturation)
    if 1 not in costs.index:
        raise ValueError("`costs` has no row p = 1 (W_1): pass transport_costs(..., powers=(1, ...))")
    if len(sweep) < 2:
        raise ValueError(f"`sweep` needs at least two shifts, got {len(sweep)}")
    w1_ab = costs.loc[1, "closed form"]
    shift, w1_values = sweep["shift_hz"].to_numpy(), sweep["w1"].to_numpy()
    saturated_hz = _saturation_shift(sweep, saturation)
    outward = np.mean(np.sign(np.diff(w1_values)) == np.sign(shift[1:] + shift[:-1]))  # W1 grows away from 0 shift
    at_saturation, at_edge = np.interp([saturated_hz, shift.max()], shift, w1_values)
    f0_hz, amplitudes = SHIFT_TONE
    partials = _NUMBER_WORDS.get(len(amplitudes), str(len(amplitudes)))
    cdfs, quantiles = areas["between CDFs"], areas["between quantile functions"]
    percent, onset = 100 * saturation, saturated_hz
    # the text starts on the line after the quotes, so that its lines keep their width here
    text = rf"""
- **One distance, three pictures.** $W_1(\alpha, \beta)$ = {w1_ab:.5f} (normalised frequency) is the cost of
  the monotone transport plan, the area between the CDFs ({cdfs:.5f}) and the area between the quantile
  functions ({quantiles:.5f}).
- **A bin-wise distance saturates.** Between a {partials}-partial {f0_hz:.0f} Hz tone and its shifted copy, the L1
  distance between bins reaches {percent:.0f} % of its maximum from a shift of {onset:.0f} Hz on: beyond, it no
  longer says how far apart the partials are.
- **The transport distance keeps growing.** $W_1$ grows at {100 * outward:.0f} % of the sweep's steps away from zero
  shift, and is {at_edge / at_saturation:.1f}× larger at {shift.max():.0f} Hz than at {saturated_hz:.0f} Hz: its
  slope points to the target from any start, which is what a gradient-based estimator needs."""
    return text.removeprefix("\n")
