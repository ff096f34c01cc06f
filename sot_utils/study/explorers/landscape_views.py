"""What the loss-landscape explorer's views other than the curves show, computed.

Shown in `notebooks/explorer.ipynb` and notebook 02's explorer.

- the tones the audio players play (:func:`listening_tone`);
- the candidate view (:func:`transport_view`): the target's and a candidate's spectra as SOT sees
  them, the transport plan between them, their CDFs and quantile functions;
- a gradient-descent run from the candidate (:func:`descent_path`, Adam on ``log2 f0``, as
  :func:`sot_utils.study.landscape.fit_f0`), drawn as its path on the curves;
- the heat map (:func:`heat_map`): a loss over candidate f0 and a second synthesizer parameter
  (number of harmonics, or spectral tilt).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ...constants import DATA_MAX_HARMONICS, N_FRAMES, SAMPLE_RATE
from ...spectral import bin_positions, rfft_frequencies
from ...transport import spectral_ot, transport_plan_1d
from ...validation import check_choice, check_positive_number
from ..landscape import cdf_quantile_curves, fit_f0, harmonic_tones, surface
from .landscape_curves import SPAN_OCTAVES, LossOptions, build_explorer_loss, tilt_amplitudes

__all__ = [
    "DESCENT_LEARNING_RATE",
    "DESCENT_STEPS",
    "HEAT_N_F0",
    "HEAT_PARAMETERS",
    "HEAT_TILTS_DB",
    "LISTEN_SECONDS",
    "DescentPath",
    "TransportView",
    "descent_path",
    "heat_map",
    "listening_tone",
    "transport_view",
]

LISTEN_SECONDS = 1.0
"""Length of the tones the audio players play (the losses compare 4096-sample, 0.256 s excerpts)."""

DESCENT_STEPS, DESCENT_LEARNING_RATE = 200, 0.03
"""The gradient-descent run: :func:`sot_utils.study.landscape.fit_f0`'s defaults."""

HEAT_PARAMETERS = ("number of harmonics", "spectral tilt")
HEAT_TILTS_DB = tuple(float(t) for t in np.arange(0.0, -12.5, -1.5))  # 0 to -12 dB/octave
HEAT_N_F0 = 49  # heat-map columns: 24 per octave over two octaves


# --------------------------------------------------------------------------------------------
# Tones to listen to


def listening_tone(f0_hz: float, amplitudes: torch.Tensor, seconds: float = LISTEN_SECONDS) -> np.ndarray:
    """A stationary tone to listen to, ``[seconds * 16000]``: peak 0.5, 10 ms fade in and out (no clicks)."""
    n_samples = int(round(seconds * SAMPLE_RATE / N_FRAMES)) * N_FRAMES
    audio = harmonic_tones(torch.tensor([float(f0_hz)]), amplitudes, n_samples=n_samples)[0].double().numpy()
    fade = min(int(0.01 * SAMPLE_RATE), n_samples // 2)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)
    audio[:fade] *= ramp
    audio[n_samples - fade :] *= ramp[::-1]
    return (0.5 * audio / max(np.abs(audio).max(), 1e-12)).astype(np.float32)


# --------------------------------------------------------------------------------------------
# The candidate view: spectra, transport plan, CDFs and quantiles


@dataclass
class TransportView:
    """Frame-averaged spectra of target and candidate, unit mass, and their optimal transport.

    Attributes:
        frequencies_hz: bin frequencies ``[n_bins]``, Hz.
        target, candidate: ``[n_bins]``, each summing to 1.
        plan: ``[n_bins, n_bins]`` monotone coupling (:func:`sot_utils.transport.transport_plan_1d`).
        curves: :func:`sot_utils.study.landscape.cdf_quantile_curves` on the bin frequencies (Hz).
        target_top_hz: frequency below which the target holds 99.5 % of its mass.
        cost: SOT with ``options`` (p, root, cutoff, frequency scale) between the two mean spectra.
    """

    frequencies_hz: np.ndarray
    target: np.ndarray
    candidate: np.ndarray
    plan: np.ndarray
    curves: dict[str, np.ndarray]
    target_top_hz: float
    cost: float


def transport_view(options: LossOptions, target_audio: torch.Tensor, candidate_audio: torch.Tensor) -> TransportView:
    """What SOT with ``options`` compares between two tones ``[1, n_samples]``: spectra and transport.

    The spectra are SOT's (its window, power, FFT size and framing), averaged over frames and
    normalised to unit mass; the plan and the CDFs are those of the balanced problem (with the
    cutoff, SOT scales the candidate by the target's mass instead, see docs/method.md). ``cost`` is
    SOT itself, with every option, between the two frame-mean spectra.
    """
    loss = build_explorer_loss("SOT", options)
    with torch.no_grad():
        spectra = [loss.spectra(audio, 0).mean(dim=1)[0].double() for audio in (target_audio, candidate_audio)]
        positions = bin_positions(options.n_fft, loss.sample_rate, scale=options.frequency_scale)
        cost = spectral_ot(spectra[0], spectra[1], positions, options.p, options.root, options.mode)
    target, candidate = (s / s.sum().clamp(min=1e-30) for s in spectra)
    frequencies = rfft_frequencies(options.n_fft, loss.sample_rate)
    plan = transport_plan_1d(frequencies, target, candidate)
    curves = cdf_quantile_curves(frequencies, target, candidate)
    reach = min(int(np.searchsorted(curves["u_cdf"], 0.995)), len(frequencies) - 1)
    return TransportView(
        frequencies.numpy(),
        target.numpy(),
        candidate.numpy(),
        plan.numpy(),
        curves,
        float(frequencies[reach]),
        float(cost),
    )


# --------------------------------------------------------------------------------------------
# Gradient descent and the heat map


@dataclass
class DescentPath:
    """A gradient-descent run on f0: ``f0_hz [steps + 1]`` (start first) and ``loss [steps + 1]``."""

    f0_hz: np.ndarray
    loss: np.ndarray

    @property
    def final_hz(self) -> float:
        return float(self.f0_hz[-1])


def descent_path(
    loss: nn.Module,
    target_f0_hz: float,
    start_f0_hz: float,
    amplitudes: torch.Tensor,
    steps: int = DESCENT_STEPS,
    learning_rate: float = DESCENT_LEARNING_RATE,
) -> DescentPath:
    """Fit a candidate's f0 to the target by gradient descent, recording its path.

    The run is :func:`~sot_utils.study.landscape.fit_f0`'s (Adam on ``log2 f0``, learning rate decaying
    linearly to 0); the path holds the iterates, the final f0 last.
    """
    target_f0_hz = check_positive_number("target_f0_hz", target_f0_hz)
    start_f0_hz = check_positive_number("start_f0_hz", start_f0_hz)
    visited, values = [], []

    def record(_step: int, f0_hz: torch.Tensor, loss_values: torch.Tensor) -> None:
        visited.append(float(f0_hz[0]))
        values.append(float(loss_values[0]))

    fit = fit_f0(
        loss,
        torch.tensor([target_f0_hz]),
        torch.tensor([math.log2(start_f0_hz / target_f0_hz)]),
        amplitudes,
        steps=steps,
        learning_rate=learning_rate,
        on_step=record,
    )
    final = float(fit["final_f0_hz"].iloc[0])
    target = harmonic_tones(torch.tensor([target_f0_hz]), amplitudes)
    with torch.no_grad():
        final_value = float(loss(target, harmonic_tones(torch.tensor([final]), amplitudes))[0])
    return DescentPath(np.array([*visited, final]), np.array([*values, final_value]))


def heat_map(
    loss: nn.Module, target_f0_hz: float, n_harmonics: int, tilt_db: float, parameter: str, n_f0: int = HEAT_N_F0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The loss over candidate f0 and a second synthesizer parameter (:func:`~sot_utils.study.landscape.surface`).

    Args:
        loss: per-example loss.
        target_f0_hz, n_harmonics, tilt_db: the target tone.
        parameter: ``"number of harmonics"`` (1 to 8, the target's tilt) or ``"spectral tilt"``
            (0 to -12 dB/octave, the target's harmonics).
        n_f0: candidate f0 values, log-spaced over ``target * 2^[-1, 1]``.

    Returns:
        ``(f0_hz [n_f0], values_y [Y], grid [Y, n_f0], target_y)``.
    """
    check_choice("parameter", parameter, HEAT_PARAMETERS)
    f0 = target_f0_hz * 2.0 ** torch.linspace(-SPAN_OCTAVES, SPAN_OCTAVES, n_f0, dtype=torch.float64)
    target = harmonic_tones(torch.tensor([float(target_f0_hz)]), tilt_amplitudes(n_harmonics, tilt_db))
    if parameter == "number of harmonics":
        values_y = torch.arange(1, DATA_MAX_HARMONICS + 1, dtype=torch.float64)
        full = tilt_amplitudes(DATA_MAX_HARMONICS, tilt_db)

        def render(x, y):
            on = torch.arange(1, DATA_MAX_HARMONICS + 1) <= y[:, None]
            return harmonic_tones(x.float(), full * on)

        target_y = float(n_harmonics)
    else:
        values_y = torch.tensor(HEAT_TILTS_DB, dtype=torch.float64)

        def render(x, y):
            return harmonic_tones(x.float(), torch.stack([tilt_amplitudes(n_harmonics, float(t)) for t in y]))

        target_y = float(tilt_db)
    grid = surface(loss, target, render, f0, values_y)
    return f0.numpy(), values_y.numpy(), grid.astype(np.float64), target_y
