"""The loss-landscape explorer: an instrument for teaching transport losses (``make explorer``).

A harmonic target tone (f0, number of harmonics, spectral tilt) is compared with candidates that
share its harmonics at other f0, from an octave below to an octave above. The page shows:

- several losses at once against candidate f0, each min-max normalised and toggleable: SOT with
  its options, MSS on linear or log magnitudes, a single-scale loss, and the paper's seven group
  losses (:func:`sot_utils.losses.paper_loss`);
- under the curves, the sign of each loss's derivative with respect to the candidate's f0 (green:
  gradient descent moves toward the target; red: away from it);
- a chosen candidate: the target's and its spectra, the transport plan between them (arcs), their
  CDFs and quantile functions, and both tones as audio players;
- a gradient-descent run from the candidate under the selected loss (Adam on ``log2 f0``, as
  :func:`sot_utils.study.landscape.fit_f0`), drawn as its path on the curve;
- a heat map of the selected loss over candidate f0 and a second synthesizer parameter (number of
  harmonics, or spectral tilt).

Speed comes from precomputation. Candidates sit on one fixed logarithmic grid of f0
(:func:`candidate_grid`), whatever the target, so their spectra can be kept: a
:class:`CandidateSpectra` cache holds, per spectral analysis (FFT size, hop, window, framing),
each candidate's spectra and their derivative with respect to f0 (forward-mode autodiff through
the synthesizer and the STFT). A loss is then evaluated from spectra alone, and its derivative
with respect to each candidate's f0 is the inner product of its gradient with respect to the
candidate's spectra with that stored derivative (the chain rule, exactly what autograd through
the whole loss gives; ``tests/test_explorer.py`` checks both against the loss modules). Moving the
target or changing a loss option only recomputes the comparison of spectra.

Display it in a notebook with ``LossExplorer().widget()``; ``notebooks/explorer.ipynb`` is the page.
"""

from __future__ import annotations

import functools
import io
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import ipywidgets as widgets
import numpy as np
import soundfile
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.colors import ListedColormap, LogNorm
from matplotlib.figure import Figure
from matplotlib.image import imsave
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator
from torch import nn

from ..constants import DATA_F0_RANGE_HZ, DATA_MAX_HARMONICS, N_FRAMES, SAMPLE_RATE, SUCCESS_CENTS
from ..losses import (
    LOG_EPS,
    PAPER_GROUPS,
    MultiScaleSpectralLoss,
    SpectralOTLoss,
    WeightedLossSum,
    paper_loss,
    spectral_ot,
    transport_plan_1d,
)
from ..spectral import bin_positions, rfft_frequencies, stft_magnitude
from ..validation import check_bool, check_choice, check_int, check_positive_number, check_tensor
from .landscape import cdf_quantile_curves, fit_f0, harmonic_tones, minmax_normalize, surface

__all__ = [
    "AWAY",
    "DB_PER_OCTAVE_PER_DECAY",
    "DESCENT_LEARNING_RATE",
    "DESCENT_STEPS",
    "FLAT",
    "GRID_RANGE_HZ",
    "GRID_STEPS_PER_OCTAVE",
    "GROUP_LOSSES",
    "HEAT_N_F0",
    "HEAT_TILTS_DB",
    "LISTEN_SECONDS",
    "LOSS_KINDS",
    "LOSS_NAMES",
    "SPAN_OCTAVES",
    "TOWARD",
    "CandidateSpectra",
    "Curve",
    "DescentPath",
    "LossExplorer",
    "LossOptions",
    "SpectralStage",
    "TransportView",
    "build_explorer_loss",
    "candidate_grid",
    "canvas_png",
    "cents_between",
    "descent_direction",
    "descent_path",
    "evaluate_from_spectra",
    "format_cents",
    "format_hz",
    "heat_map",
    "hz_axis",
    "listening_tone",
    "loss_curve",
    "new_figure",
    "single_threaded",
    "spectral_stages",
    "tilt_amplitudes",
    "transport_view",
    "wav_bytes",
]

LOSS_KINDS = ("SOT", "MSS (lin)", "MSS (log)", "single-scale (lin)")
"""The losses whose options the page sets (SOT's options; the norm of the others; ``n_fft`` for
SOT and the single-scale loss)."""

GROUP_LOSSES = tuple(f"group {group}" for group in PAPER_GROUPS)
"""The paper's seven training losses, as the page names them."""

LOSS_NAMES = LOSS_KINDS + GROUP_LOSSES
DEFAULT_ENABLED = ("SOT", "MSS (lin)", "MSS (log)")

SPAN_OCTAVES = 1.0
"""Candidates span ``target * 2^[-1, +1]``."""

GRID_STEPS_PER_OCTAVE = 40
"""Candidate f0 grid: 40 points per octave (30 cents apart)."""

GRID_RANGE_HZ = (DATA_F0_RANGE_HZ[0] / 2**SPAN_OCTAVES, DATA_F0_RANGE_HZ[1] * 2**SPAN_OCTAVES)
"""The grid covers every candidate of every target in the dataset's f0 range (40-1950 Hz)."""

DB_PER_OCTAVE_PER_DECAY = 20 * math.log10(2)
"""Amplitudes ``k^-d`` fall by ``6.02 d`` dB per octave of harmonic number."""

LISTEN_SECONDS = 1.0
"""Length of the tones the audio players play (the losses compare 4096-sample, 0.256 s excerpts)."""

DESCENT_STEPS, DESCENT_LEARNING_RATE = 200, 0.03
"""The gradient-descent run: :func:`sot_utils.study.landscape.fit_f0`'s defaults."""

HEAT_PARAMETERS = ("number of harmonics", "spectral tilt")
HEAT_TILTS_DB = tuple(float(t) for t in np.arange(0.0, -12.5, -1.5))  # 0 to -12 dB/octave
HEAT_N_F0 = 49  # heat-map columns: 24 per octave over two octaves

HZ_TICK_SUBS = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0)  # Hz ticks on a short log axis

TOWARD, FLAT, AWAY = 1, 0, -1
SIGN_COLORS = ListedColormap(["#d62728", "#dddddd", "#2ca02c"])  # away, flat, toward
LOSS_COLORS = dict(
    zip(
        LOSS_NAMES,
        (
            "tab:green",
            "tab:red",
            "black",
            "tab:blue",
            "tab:orange",
            "tab:purple",
            "darkgreen",
            "tab:cyan",
            "tab:olive",
            "tab:brown",
            "tab:pink",
        ),
    )
)


# --------------------------------------------------------------------------------------------
# Threads


def single_threaded(method):
    """Run a page's handler with one torch thread, then restore the setting.

    An update is many small tensor operations: a second thread only adds synchronisation, and on a
    machine whose cores are busy with other work (training runs) it waits for them: measured ten
    times slower with two threads than with one on two busy cores (``benchmarks/bench_explorer.py``).
    """

    @functools.wraps(method)
    def run(*args, **kwargs):
        threads = torch.get_num_threads()
        if threads != 1:
            torch.set_num_threads(1)
        try:
            return method(*args, **kwargs)
        finally:
            if threads != 1:
                torch.set_num_threads(threads)

    return run


# --------------------------------------------------------------------------------------------
# Readable numbers


def format_hz(frequency_hz: float) -> str:
    """A frequency with four significant digits and no exponent: ``"440.0 Hz"``, ``"1600 Hz"``, ``"43.65 Hz"``."""
    frequency_hz = float(frequency_hz)
    if not math.isfinite(frequency_hz):
        raise ValueError(f"`frequency_hz` must be finite, got {frequency_hz!r}")
    if frequency_hz == 0:
        return "0 Hz"
    decimals = max(0, 3 - math.floor(math.log10(abs(frequency_hz))))
    return f"{frequency_hz:.{decimals}f} Hz"


def format_cents(cents: float) -> str:
    """A signed pitch interval: ``"+100 cents"``, ``"-4.7 cents"``, ``"0 cents"``."""
    cents = float(cents)
    if abs(cents) < 0.05:
        return "0 cents"
    return f"{cents:+.1f} cents" if abs(cents) < 10 else f"{cents:+.0f} cents"


def cents_between(frequency_hz, reference_hz):
    """``1200 log2(frequency / reference)``: how far ``frequency`` is above ``reference``, cents."""
    return 1200.0 * np.log2(np.asarray(frequency_hz, dtype=np.float64) / np.asarray(reference_hz, dtype=np.float64))


# --------------------------------------------------------------------------------------------
# Tones


def tilt_amplitudes(n_harmonics: int, tilt_db_per_octave: float) -> torch.Tensor:
    """Harmonic amplitudes ``[n_harmonics]`` falling by ``tilt_db_per_octave`` (<= 0) per octave.

    Harmonic ``k`` has amplitude ``10^(tilt log2(k) / 20) = k^(tilt / 6.02)``: 0 dB/octave is a flat
    spectrum, -6 dB/octave the ``1 / k`` decay of a sawtooth.
    """
    check_int("n_harmonics", n_harmonics, minimum=1)
    tilt = float(tilt_db_per_octave)
    if not math.isfinite(tilt) or tilt > 0:
        raise ValueError(f"`tilt_db_per_octave` must be a number <= 0, got {tilt_db_per_octave!r}")
    k = torch.arange(1, n_harmonics + 1, dtype=torch.float64)
    return (10.0 ** (tilt * torch.log2(k) / 20)).float()


def candidate_grid(target_f0_hz: float, steps_per_octave: int = GRID_STEPS_PER_OCTAVE) -> np.ndarray:
    """Candidate f0 around a target, Hz ``[C]``, increasing: the points of a fixed grid within an octave.

    The grid, ``GRID_RANGE_HZ[0] * 2^(i / steps_per_octave)``, does not move with the target, so
    the spectra of its points can be computed once (:class:`CandidateSpectra`); :func:`loss_curve`
    adds the target itself, so that the minimum and the narrow notches of bin-wise losses show.
    """
    target_f0_hz = check_positive_number("target_f0_hz", target_f0_hz)
    check_int("steps_per_octave", steps_per_octave, minimum=1)
    low = math.log2(target_f0_hz) - SPAN_OCTAVES - math.log2(GRID_RANGE_HZ[0])
    first = math.ceil(low * steps_per_octave - 1e-9)
    last = math.floor((low + 2 * SPAN_OCTAVES) * steps_per_octave + 1e-9)
    return GRID_RANGE_HZ[0] * 2.0 ** (np.arange(first, last + 1) / steps_per_octave)


def wav_bytes(audio, sample_rate: int = SAMPLE_RATE) -> bytes:
    """A mono waveform ``[n_samples]`` (float, within [-1, 1]) as 16-bit WAV file bytes."""
    audio = np.asarray(audio.detach() if isinstance(audio, torch.Tensor) else audio, dtype=np.float32)
    if audio.ndim != 1 or audio.size == 0:
        raise ValueError(f"`audio` must be a non-empty mono waveform [n_samples], got shape {audio.shape}")
    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(audio, -1.0, 1.0), int(sample_rate), format="WAV", subtype="PCM_16")
    return buffer.getvalue()


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
# Losses from spectra


@dataclass(frozen=True)
class LossOptions:
    """The options the page sets: SOT's, the bin-wise losses' norm, the FFT size of SOT and the single-scale loss."""

    n_fft: int = 2048
    p: int = 2
    root: bool = True
    mode: str = "cut"
    frequency_scale: str = "linear"
    pad_end: bool = True
    norm: str = "l1"


def build_explorer_loss(name: str, options: LossOptions = LossOptions()) -> nn.Module:
    """The per-example loss (``reduction="none"``) the page calls ``name`` (one of :data:`LOSS_NAMES`)."""
    check_choice("name", name, LOSS_NAMES)
    if name in GROUP_LOSSES:
        return paper_loss(name.removeprefix("group "), reduction="none")
    if name == "SOT":
        return SpectralOTLoss(
            n_fft=options.n_fft,
            p=options.p,
            root=options.root,
            mode=options.mode,
            frequency_scale=options.frequency_scale,
            pad_end=options.pad_end,
            reduction="none",
        )
    if name == "single-scale (lin)":
        return MultiScaleSpectralLoss(fft_sizes=(options.n_fft,), norm=options.norm, reduction="none")
    log = name == "MSS (log)"
    return MultiScaleSpectralLoss(
        lin_weight=0.0 if log else 1.0, log_weight=1.0 if log else 0.0, norm=options.norm, reduction="none"
    )


@dataclass(frozen=True)
class SpectralStage:
    """One resolution of one term of a loss: how it analyses audio and compares the spectra.

    Attributes:
        key: identifies the analysis (equal keys give equal spectra, which are then shared).
        analyse: audio ``[B, n_samples]`` -> spectra ``[B, n_frames, n_bins]``.
        compare: (target spectra ``[1, n_frames, n_bins]``, candidate spectra ``[B, ...]``) ->
            (values ``[B]``, their gradient with respect to the candidate spectra ``[B, ...]``).
        weight: the term's weight in the loss.
        base, post: for an analysis that transforms another one's spectra elementwise (log
            magnitudes), that analysis and the transform: ``analyse(audio) = post(base.analyse(audio))``,
            so that its spectra are derived from the base's stored ones.
    """

    key: tuple
    analyse: Callable[[torch.Tensor], torch.Tensor]
    compare: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
    weight: float
    base: SpectralStage | None = None
    post: Callable[[torch.Tensor], torch.Tensor] | None = None


def _sot_compare(term: SpectralOTLoss, n_fft: int, target: torch.Tensor, estimate: torch.Tensor):
    """SOT's comparison of spectra (as ``SpectralOTLoss.per_example``) and its gradient (autograd)."""
    positions = bin_positions(n_fft, term.sample_rate, scale=term.frequency_scale).to(estimate.dtype)
    target = target.expand_as(estimate).contiguous()
    estimate = estimate.detach().requires_grad_()
    with torch.enable_grad():
        values = spectral_ot(target, estimate, positions, term.p, term.root, term.mode).mean(dim=-1)
        (gradient,) = torch.autograd.grad(values.sum(), estimate)
    return values.detach(), gradient


def _distance_compare(norm: str, target: torch.Tensor, estimate: torch.Tensor):
    """MSS's bin-wise distance ``mean |b - a|`` or ``mean (b - a)^2`` over frames and bins, and its gradient.

    The gradient is written out: ``sign(b - a) / n`` (autograd's convention: 0 where equal) or
    ``2 (b - a) / n`` with ``n`` frames times bins.
    """
    difference = estimate - target
    n = difference.shape[-2] * difference.shape[-1]
    if norm == "l1":
        return difference.abs().mean(dim=(-2, -1)), torch.sign(difference) / n
    return difference.square().mean(dim=(-2, -1)), difference * (2.0 / n)


def _safe_log(magnitude: torch.Tensor) -> torch.Tensor:
    """MSS's log magnitudes, ``log(max(S, 1e-5))`` (the reference's ``safe_log``)."""
    return torch.log(torch.clamp(magnitude, min=LOG_EPS))


def _log_magnitude(analyse: Callable, audio: torch.Tensor) -> torch.Tensor:
    return _safe_log(analyse(audio))


def spectral_stages(loss: nn.Module) -> list[SpectralStage]:
    """A loss module as a sum of weighted comparisons of spectra (what :func:`evaluate_from_spectra` runs).

    Accepts :class:`~sot_utils.losses.SpectralOTLoss`, :class:`~sot_utils.losses.MultiScaleSpectralLoss`
    and a :class:`~sot_utils.losses.WeightedLossSum` of them; the stages reproduce each module's
    ``per_example`` (``tests/test_explorer.py`` checks them against the modules). An MSS term gives a
    stage per FFT size and magnitude kind (linear, log), so log magnitudes are kept with the spectra.
    """
    if isinstance(loss, WeightedLossSum):
        terms = [(loss.weights[name], term) for name, term in loss.terms.items()]
    elif isinstance(loss, (SpectralOTLoss, MultiScaleSpectralLoss)):
        terms = [(1.0, loss)]
    else:
        raise ValueError(
            f"`loss` must be a SpectralOTLoss, a MultiScaleSpectralLoss or a WeightedLossSum of them, "
            f"got {type(loss).__name__}"
        )
    stages = []
    for weight, term in terms:
        if isinstance(term, SpectralOTLoss):
            for i, (n_fft, hop) in enumerate(zip(term.n_ffts, term.hop_lengths)):
                key = ("sot", n_fft, hop, term.window, term.power, term.pad_end, term.noise_floor, term.sample_rate)
                stages.append(
                    SpectralStage(key, partial(term.spectra, resolution=i), partial(_sot_compare, term, n_fft), weight)
                )
        elif isinstance(term, MultiScaleSpectralLoss):
            compare = partial(_distance_compare, term.norm)
            for n_fft, hop in zip(term.fft_sizes, term.hop_lengths):
                magnitude = partial(stft_magnitude, n_fft=n_fft, hop_length=hop, window="hann")
                linear = SpectralStage(("stft", n_fft, hop), magnitude, compare, weight * term.lin_weight)
                if term.lin_weight:
                    stages.append(linear)
                if term.log_weight:
                    log = partial(_log_magnitude, magnitude)
                    key = ("log-stft", n_fft, hop)
                    stages.append(SpectralStage(key, log, compare, weight * term.log_weight, linear, _safe_log))
        else:
            raise ValueError(f"`loss` has a term of type {type(term).__name__}, which has no spectral stages")
    return stages


class CandidateSpectra:
    """Spectra of a family of tones and their derivative with respect to f0, kept per analysis and f0.

    The tones are ``harmonic_tones(f0, amplitudes)`` (the target and its candidates). For each
    analysis (a :class:`SpectralStage` ``key``) and f0, :meth:`rows` returns the spectra and
    ``d spectra / d f0`` (forward-mode autodiff through the synthesizer and the analysis, one pass
    for all the missing f0); values already computed are reused.

    Args:
        amplitudes: the tones' harmonic amplitudes ``[n_harmonics]``.
        max_rows: rows kept per analysis before the oldest are dropped.
    """

    def __init__(self, amplitudes: torch.Tensor, max_rows: int = 2048):
        check_tensor("amplitudes", amplitudes, ndim=1, layout="[n_harmonics]", nonnegative=True)
        self.amplitudes = amplitudes
        self.max_rows = check_int("max_rows", max_rows, minimum=1)
        self._tones: dict[float, tuple[torch.Tensor, torch.Tensor]] = {}
        self._rows: dict[tuple, dict[float, tuple[torch.Tensor, torch.Tensor]]] = {}
        self._stacked: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}  # by (analysis, f0 tuple)
        self._single: dict[tuple, torch.Tensor] = {}  # the targets' spectra, by (analysis, f0)

    def spectra(self, stage: SpectralStage, f0_hz: float) -> torch.Tensor:
        """The spectra of one tone, ``[1, n_frames, n_bins]`` (no derivative; kept for the last targets)."""
        key = (stage.key, float(f0_hz))
        if key not in self._single:
            if len(self._single) >= 64:
                self._single.pop(next(iter(self._single)))
            with torch.no_grad():
                self._single[key] = stage.analyse(harmonic_tones(torch.tensor([float(f0_hz)]), self.amplitudes))
        return self._single[key]

    @staticmethod
    def _keys(f0_hz) -> tuple[float, ...]:
        return tuple(float(f) for f in np.asarray(f0_hz, dtype=np.float64).reshape(-1))

    def _keep(self, store: dict, keys: list[float], rows) -> None:
        if len(store) + len(keys) > self.max_rows:
            store.clear()
        store.update(zip(keys, zip(*rows)))

    def tones(self, f0_hz) -> tuple[torch.Tensor, torch.Tensor]:
        """The tones and their derivative with respect to f0 (per Hz), both ``[C, n_samples]``."""
        keys = self._keys(f0_hz)
        missing = list(dict.fromkeys(f for f in keys if f not in self._tones))
        if missing:
            f0 = torch.tensor(missing, dtype=torch.float32)
            render = lambda x: harmonic_tones(x, self.amplitudes)  # noqa: E731
            self._keep(self._tones, missing, torch.func.jvp(render, (f0,), (torch.ones_like(f0),)))
        return torch.stack([self._tones[f][0] for f in keys]), torch.stack([self._tones[f][1] for f in keys])

    def rows(self, stage: SpectralStage, f0_hz) -> tuple[torch.Tensor, torch.Tensor]:
        """Spectra and their derivative with respect to f0 (per Hz), both ``[C, n_frames, n_bins]``.

        Args:
            stage: the analysis.
            f0_hz: f0, Hz, ``[C]`` (a sequence of floats).

        Returns:
            tensors shared with later calls: do not modify them in place.
        """
        keys = self._keys(f0_hz)
        if (stage.key, keys) in self._stacked:
            return self._stacked[stage.key, keys]
        store = self._rows.setdefault(stage.key, {})
        missing = list(dict.fromkeys(f for f in keys if f not in store))
        if missing and stage.base is not None:  # derived elementwise from the base analysis's rows
            base, base_tangents = self.rows(stage.base, missing)
            self._keep(store, missing, torch.func.jvp(stage.post, (base,), (base_tangents,)))
        elif missing:
            audio, audio_tangent = self.tones(missing)
            self._keep(store, missing, torch.func.jvp(stage.analyse, (audio,), (audio_tangent,)))
        stacked = torch.stack([store[f][0] for f in keys]), torch.stack([store[f][1] for f in keys])
        if len(self._stacked) >= 32:  # the stacks of the last candidate sets (every analysis of a few losses)
            self._stacked.pop(next(iter(self._stacked)))
        self._stacked[stage.key, keys] = stacked
        return stacked


def evaluate_from_spectra(
    loss: nn.Module, target_f0_hz: float, cache: CandidateSpectra, f0_hz
) -> tuple[np.ndarray, np.ndarray]:
    """A loss between a target and candidates of one family, and its derivative with respect to each candidate's f0.

    Args:
        loss: per-example loss (see :func:`spectral_stages`).
        target_f0_hz: the target, ``harmonic_tones([target_f0_hz], cache.amplitudes)``.
        cache: the family's spectra (its amplitudes define the target and the candidates).
        f0_hz: candidate f0 ``[C]``, Hz.

    Returns:
        ``(values [C], d loss / d f0 [C] per Hz)``, float64: equal to ``loss(target, candidates)``
        and to what autograd through ``loss`` and the synthesizer gives.
    """
    target_f0_hz = check_positive_number("target_f0_hz", target_f0_hz)
    values, derivative = 0.0, 0.0
    for stage in spectral_stages(loss):
        spectra, tangents = cache.rows(stage, f0_hz)
        target = cache.spectra(stage, target_f0_hz)
        stage_values, gradient = stage.compare(target, spectra)
        values = values + stage.weight * stage_values.double()
        chain = torch.linalg.vecdot(gradient.flatten(1), tangents.flatten(1))  # d stage / d f0, per candidate
        derivative = derivative + stage.weight * chain.double()
    return values.numpy(), derivative.numpy()


def descent_direction(candidates_hz, target_f0_hz: float, derivative, flat: float = 1e-9) -> np.ndarray:
    """Where a gradient step goes from each candidate: :data:`TOWARD` the target, :data:`AWAY` or :data:`FLAT`.

    A step moves f0 against the derivative; it approaches the target when the candidate is above
    it and the derivative positive, or below it and the derivative negative. ``|derivative|`` up to
    ``flat`` times the largest, and the target itself, count as flat.

    Args:
        candidates_hz, derivative: ``[C]``; target_f0_hz: Hz.

    Returns:
        ``[C]`` int8 in {-1, 0, 1}.
    """
    candidates_hz = np.asarray(candidates_hz, dtype=np.float64)
    derivative = np.asarray(derivative, dtype=np.float64)
    if candidates_hz.shape != derivative.shape:
        raise ValueError(f"`candidates_hz` {candidates_hz.shape} and `derivative` {derivative.shape} must match")
    side = np.sign(candidates_hz - float(target_f0_hz))
    scale = np.abs(derivative).max(initial=0.0)
    direction = np.where(side * derivative > 0, TOWARD, AWAY)
    direction[(np.abs(derivative) <= flat * scale) | (side == 0)] = FLAT
    return direction.astype(np.int8)


@dataclass
class Curve:
    """One loss against candidate f0, as drawn.

    Attributes:
        candidates_hz, values, derivative: ``[C]`` (Hz; loss; d loss / d f0 per Hz).
        normalised: values min-max normalised to [0, 1].
        direction: ``[C]`` :func:`descent_direction`.
        toward: share of the candidates (target excluded) from which a step goes toward the target.
    """

    candidates_hz: np.ndarray
    values: np.ndarray
    derivative: np.ndarray
    normalised: np.ndarray
    direction: np.ndarray
    toward: float


def loss_curve(loss: nn.Module, target_f0_hz: float, cache: CandidateSpectra, candidates_hz=None) -> Curve:
    """A loss and the direction of its gradient against candidate f0 around a target (the page's curve).

    Args:
        loss: per-example loss (see :func:`spectral_stages`).
        target_f0_hz: Hz; the target is ``harmonic_tones([target_f0_hz], cache.amplitudes)``.
        cache: the family's spectra.
        candidates_hz: ``[C]`` Hz (default: :func:`candidate_grid`). The target itself is added,
            with the loss between the target and itself and a derivative of 0 (a flat direction).
    """
    target_f0_hz = check_positive_number("target_f0_hz", target_f0_hz)
    grid = candidate_grid(target_f0_hz) if candidates_hz is None else np.asarray(candidates_hz, dtype=np.float64)
    grid = grid[grid != target_f0_hz]
    values, derivative = evaluate_from_spectra(loss, target_f0_hz, cache, grid)
    at_target = 0.0
    for stage in spectral_stages(loss):
        target = cache.spectra(stage, target_f0_hz)
        at_target += stage.weight * float(stage.compare(target, target)[0][0])
    index = int(np.searchsorted(grid, target_f0_hz))
    candidates_hz = np.insert(grid, index, target_f0_hz)
    values, derivative = np.insert(values, index, at_target), np.insert(derivative, index, 0.0)
    direction = descent_direction(candidates_hz, target_f0_hz, derivative)
    toward = float(np.mean(np.delete(direction, index) == TOWARD)) if len(grid) else float("nan")
    return Curve(candidates_hz, values, derivative, minmax_normalize(values), direction, toward)


# --------------------------------------------------------------------------------------------
# The candidate view: spectra, transport plan, CDFs and quantiles


@dataclass
class TransportView:
    """Frame-averaged spectra of target and candidate, unit mass, and their optimal transport.

    Attributes:
        frequencies_hz: bin frequencies ``[n_bins]``, Hz.
        target, candidate: ``[n_bins]``, each summing to 1.
        plan: ``[n_bins, n_bins]`` monotone coupling (:func:`sot_utils.losses.transport_plan_1d`).
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


# --------------------------------------------------------------------------------------------
# Drawing


def new_figure(width_inches: float, height_inches: float, dpi: int = 100) -> Figure:
    """A figure with its own Agg canvas (no pyplot: nothing global, nothing to close)."""
    figure = Figure(figsize=(width_inches, height_inches), dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def canvas_png(figure: Figure) -> bytes:
    """What the figure's Agg canvas holds now, as PNG bytes (fast compression: the page redraws often)."""
    buffer = io.BytesIO()
    pixels = np.asarray(figure.canvas.buffer_rgba())
    imsave(buffer, pixels, format="png", pil_kwargs={"compress_level": 1})
    return buffer.getvalue()


def figure_png(figure: Figure) -> bytes:
    """A figure drawn on its Agg canvas, as PNG bytes (see :func:`new_figure`)."""
    figure.canvas.draw()
    return canvas_png(figure)


def hz_axis(ax, low_hz: float, high_hz: float) -> None:
    """A logarithmic frequency axis between two frequencies, ticks labelled in plain Hz, no minor ticks."""
    ax.set_xscale("log")
    ax.set_xlim(low_hz, high_hz)
    decades = math.log10(high_hz / low_hz)
    subs = (1.0, 2.0, 5.0) if decades > 1.5 else (1.0, 2.0, 3.0, 5.0) if decades > 0.8 else tuple(HZ_TICK_SUBS)
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())


# --------------------------------------------------------------------------------------------
# The page


class LossExplorer:
    """The loss-landscape page: widgets, figures and their updates (see the module docstring).

    Args:
        steps_per_octave: density of the candidate grid (:func:`candidate_grid`).
        descent_steps: steps of a gradient-descent run.

    Attributes:
        controls: widgets by name: ``target_f0_hz``, ``n_harmonics``, ``tilt_db`` (the target);
            ``loss`` (the selected loss: the thick curve, the descent's and the heat map's loss);
            ``n_fft``, ``p``, ``root``, ``mode``, ``frequency_scale``, ``framing`` (SOT), ``norm``
            (MSS and single-scale); ``candidate_cents``; ``heat_parameter``.
        toggles: a checkbox per loss name: is its curve drawn.
        descend: the button that runs gradient descent from the candidate.
        images: ``curve``, ``candidate`` and ``heat`` figures as image widgets (PNG).
        audio: ``target`` and ``candidate`` audio players.
        readout: the numbers of the current state (HTML).
        curves: the drawn curves by loss name (:class:`Curve`); ``lines``: their matplotlib lines.
        path: the last :class:`DescentPath` (None when there is none for the current curves).
        n_updates: how many times the curves have been recomputed.
        timings: seconds the last updates took, by view (``curves``, ``update``, ``candidate``).
    """

    @single_threaded
    def __init__(self, steps_per_octave: int = GRID_STEPS_PER_OCTAVE, descent_steps: int = DESCENT_STEPS):
        self.steps_per_octave = check_int("steps_per_octave", steps_per_octave, minimum=1)
        self.descent_steps = check_int("descent_steps", descent_steps, minimum=1)
        self.controls = self._make_controls()
        self.toggles = {
            name: widgets.Checkbox(value=name in DEFAULT_ENABLED, description=name, indent=False) for name in LOSS_NAMES
        }
        for checkbox in self.toggles.values():
            checkbox.layout = widgets.Layout(width="auto", margin="0 12px 0 0")
        self.descend = widgets.Button(description="descend from the candidate", button_style="info")
        self.descend.layout = widgets.Layout(width="auto")
        self.images = {
            name: widgets.Image(format="png", layout=widgets.Layout(max_width="100%", height="auto"))
            for name in ("curve", "candidate", "heat")
        }
        for name, image in self.images.items():
            image.add_class(f"explorer-{name}")
        self.audio = {
            name: widgets.Audio(format="wav", autoplay=False, loop=False, controls=True)
            for name in ("target", "candidate")
        }
        for name, player in self.audio.items():
            player.add_class(f"explorer-audio-{name}")
        self.readout = widgets.HTML().add_class("explorer-readout")
        self.descent_readout = widgets.HTML().add_class("explorer-descent")
        self.heat_box = widgets.Accordion(
            children=[widgets.VBox([self.controls["heat_parameter"], self.images["heat"]])], selected_index=None
        )
        self.heat_box.set_title(0, "heat map: the selected loss over f0 and a second synth parameter")
        self._losses: dict[tuple, nn.Module] = {}
        self._caches: dict[tuple, CandidateSpectra] = {}
        self.curves: dict[str, Curve] = {}
        self.path: DescentPath | None = None
        self.n_updates = 0
        self.timings: dict[str, float] = {}
        self._build_figures()
        self._observe()
        self.update()

    # ---- widgets

    def _make_controls(self) -> dict[str, widgets.Widget]:
        style = {"description_width": "initial"}
        low, high = DATA_F0_RANGE_HZ
        dropdown = partial(widgets.Dropdown, style=style, layout=widgets.Layout(width="auto"))
        return {
            "target_f0_hz": widgets.FloatLogSlider(
                value=440.0,
                base=10,
                min=math.log10(low),
                max=math.log10(high),
                step=0.001,
                readout_format=".1f",
                description="target f0 (Hz, the dataset's range)",
                continuous_update=False,
                style=style,
                layout=widgets.Layout(width="480px"),
            ),
            "n_harmonics": widgets.IntSlider(
                value=1, min=1, max=DATA_MAX_HARMONICS, description="harmonics", continuous_update=False, style=style
            ),
            "tilt_db": widgets.FloatSlider(
                value=-6.0,
                min=-12.0,
                max=0.0,
                step=1.5,
                readout_format=".1f",
                description="tilt (dB/octave)",
                continuous_update=False,
                style=style,
            ),
            "loss": dropdown(options=LOSS_NAMES, value="SOT", description="selected loss"),
            "n_fft": dropdown(options=[512, 1024, 2048], value=2048, description="n_fft (SOT, single-scale)"),
            "p": dropdown(options=[1, 2], value=2, description="SOT p"),
            "root": widgets.Checkbox(value=True, description="SOT root (W_p, not W_p^p)", indent=False),
            "mode": dropdown(options=["cut", "balanced"], value="cut", description="SOT mode"),
            "frequency_scale": dropdown(options=["linear", "log"], value="linear", description="SOT frequency"),
            "framing": dropdown(
                options=[("reference (padded end)", True), ("complete frames", False)],
                value=True,
                description="SOT framing",
            ),
            "norm": dropdown(options=["l1", "l2"], value="l1", description="MSS norm"),
            "candidate_cents": widgets.IntSlider(
                value=700,
                min=-1200,
                max=1200,
                step=5,
                readout_format="+d",
                description="candidate (cents from the target)",
                continuous_update=True,
                style=style,
                layout=widgets.Layout(width="480px"),
            ),
            "heat_parameter": dropdown(
                options=HEAT_PARAMETERS, value=HEAT_PARAMETERS[0], description="second parameter"
            ),
        }

    def _observe(self) -> None:
        for name in ("target_f0_hz", "n_harmonics", "tilt_db"):
            self.controls[name].observe(lambda _change: self.update(), names="value")
        for name in ("n_fft", "p", "root", "mode", "frequency_scale", "framing", "norm"):
            self.controls[name].observe(lambda _change: self.update(candidate_view=True), names="value")
        self.controls["loss"].observe(self._on_selected, names="value")
        for name, checkbox in self.toggles.items():
            checkbox.observe(partial(self._on_toggle, name), names="value")
        self.controls["candidate_cents"].observe(lambda _change: self.update_candidate(), names="value")
        self.controls["heat_parameter"].observe(lambda _change: self.update_heat_map(), names="value")
        self.heat_box.observe(lambda _change: self.update_heat_map(), names="selected_index")
        self.descend.on_click(lambda _button: self.run_descent())

    def _on_selected(self, change) -> None:
        if not self.toggles[change["new"]].value:
            self.toggles[change["new"]].value = True  # observed: updates
        else:
            self.update(candidate_view=False)

    def _on_toggle(self, name: str, change) -> None:
        if name == self.controls["loss"].value and not change["new"]:
            self.toggles[name].value = True  # the selected loss is always drawn
            return
        self.update(candidate_view=False)

    # ---- state

    @property
    def options(self) -> LossOptions:
        c = self.controls
        return LossOptions(
            n_fft=c["n_fft"].value,
            p=c["p"].value,
            root=c["root"].value,
            mode=c["mode"].value,
            frequency_scale=c["frequency_scale"].value,
            pad_end=c["framing"].value,
            norm=c["norm"].value,
        )

    @property
    def target_f0_hz(self) -> float:
        return float(self.controls["target_f0_hz"].value)

    @property
    def candidate_f0_hz(self) -> float:
        return self.target_f0_hz * 2.0 ** (self.controls["candidate_cents"].value / 1200)

    @property
    def amplitudes(self) -> torch.Tensor:
        return tilt_amplitudes(self.controls["n_harmonics"].value, self.controls["tilt_db"].value)

    @property
    def line(self):
        """The selected loss's curve (matplotlib line)."""
        return self.lines[self.controls["loss"].value]

    def enabled_losses(self) -> list[str]:
        """The losses whose curves are drawn, in :data:`LOSS_NAMES` order (the selected one always)."""
        selected = self.controls["loss"].value
        return [name for name in LOSS_NAMES if self.toggles[name].value or name == selected]

    def loss(self, name: str) -> nn.Module:
        """The loss module ``name`` with the current options (kept: modules are cheap to reuse)."""
        options = self.options
        relevant = () if name in GROUP_LOSSES else (options.norm,) if name.startswith("MSS") else options
        key = (name, relevant)
        if key not in self._losses:
            self._losses[key] = build_explorer_loss(name, options)
        return self._losses[key]

    def _cache(self) -> CandidateSpectra:
        key = (self.controls["n_harmonics"].value, self.controls["tilt_db"].value)
        if key not in self._caches:
            if len(self._caches) >= 2:  # the last two tones' spectra are kept
                self._caches.pop(next(iter(self._caches)))
            self._caches[key] = CandidateSpectra(self.amplitudes)
        return self._caches[key]

    # ---- updates

    @single_threaded
    def update(self, candidate_view: bool = True) -> None:
        """Recompute the curves of the enabled losses and redraw; also the candidate view when asked.

        ``timings["curves"]`` is how long the curves took until their image was sent, seconds;
        ``timings["update"]`` the whole update.
        """
        check_bool("candidate_view", candidate_view)
        start = time.perf_counter()
        cache = self._cache()
        candidates = candidate_grid(self.target_f0_hz, self.steps_per_octave)
        self.curves = {
            name: loss_curve(self.loss(name), self.target_f0_hz, cache, candidates) for name in self.enabled_losses()
        }
        self.path = None
        self.descent_readout.value = ""
        self.n_updates += 1
        self._draw_curves()
        self.timings["curves"] = time.perf_counter() - start
        if candidate_view:
            self._update_transport(full=True)
        self._write_readout()
        if self.heat_box.selected_index == 0:
            self.update_heat_map()
        self.timings["update"] = time.perf_counter() - start

    @single_threaded
    def update_candidate(self) -> None:
        """Redraw what depends on the candidate: its marker on the curves, the transport view, its audio
        (``timings["candidate"]``, seconds)."""
        start = time.perf_counter()
        self._render_curves(full=False)
        self._update_transport(full=False)
        self._write_readout()
        self.timings["candidate"] = time.perf_counter() - start

    def _update_transport(self, full: bool) -> None:
        """The transport view and the audio; ``full``: the target changed too (its audio is new)."""
        target = harmonic_tones(torch.tensor([self.target_f0_hz]), self.amplitudes)
        candidate = harmonic_tones(torch.tensor([self.candidate_f0_hz]), self.amplitudes)
        self.transport = transport_view(self.options, target, candidate)
        self._draw_transport()
        if full:
            self.audio["target"].value = wav_bytes(listening_tone(self.target_f0_hz, self.amplitudes))
        self.audio["candidate"].value = wav_bytes(listening_tone(self.candidate_f0_hz, self.amplitudes))

    @single_threaded
    def run_descent(self) -> DescentPath:
        """Gradient descent on f0 from the candidate under the selected loss; draw its path."""
        name = self.controls["loss"].value
        self.descent_readout.value = f"descending under {name}…"
        self.path = descent_path(
            self.loss(name), self.target_f0_hz, self.candidate_f0_hz, self.amplitudes, steps=self.descent_steps
        )
        error = float(cents_between(self.path.final_hz, self.target_f0_hz))
        verdict = "reaches the target" if abs(error) < SUCCESS_CENTS else "misses the target"
        self.descent_readout.value = (
            f"<b>{name}</b>: {self.descent_steps} Adam steps from {format_hz(self.path.f0_hz[0])} end at "
            f"<b>{format_hz(self.path.final_hz)}</b> ({format_cents(error)} from the target): {verdict} "
            f"(within {SUCCESS_CENTS:.0f} cents)."
        )
        self._render_curves(full=False)
        return self.path

    @single_threaded
    def update_heat_map(self) -> None:
        """Recompute the heat map of the selected loss (only while its section is open)."""
        if self.heat_box.selected_index != 0:
            return
        name = self.controls["loss"].value
        parameter = self.controls["heat_parameter"].value
        f0, values_y, grid, target_y = heat_map(
            self.loss(name),
            self.target_f0_hz,
            self.controls["n_harmonics"].value,
            self.controls["tilt_db"].value,
            parameter,
        )
        self.heat = {"f0_hz": f0, "values_y": values_y, "grid": grid, "target_y": target_y}
        self._draw_heat_map(name, parameter)

    # ---- figures

    def _build_figures(self) -> None:
        # The curves' axes are fixed (detuning in cents, normalised loss): their frame, ticks and
        # labels are drawn once and stored; every update draws only the data over them (blitting).
        self.curve_figure = new_figure(9.4, 4.7)
        grid = self.curve_figure.add_gridspec(2, 1, height_ratios=(4.2, 1.3), hspace=0.06)
        self.ax = self.curve_figure.add_subplot(grid[0])
        self.sign_ax = self.curve_figure.add_subplot(grid[1], sharex=self.ax)
        self.curve_figure.subplots_adjust(left=0.15, right=0.98, top=0.88, bottom=0.1)
        span = 1200 * SPAN_OCTAVES
        ticks = np.arange(-span, span + 1, 300)
        self.ax.set(xlim=(-span, span), ylim=(-0.04, 1.08), ylabel="normalised loss", xticks=ticks)
        self.ax.set_title("candidate f0 (Hz)", fontsize=9, pad=16)
        self.ax.grid(alpha=0.3)
        self.ax.tick_params(labelbottom=False)
        self.sign_ax.set_xlabel("candidate's detuning from the target (cents)", fontsize=9)
        self.ax.axvline(0.0, color="black", linestyle=":", linewidth=1.2)
        self.sign_ax.axvline(0.0, color="black", linestyle=":", linewidth=1.2)
        animated = dict(animated=True)
        self.lines = {}
        for name in LOSS_NAMES:
            style = dict(linestyle="--") if "SOT" in name else {}
            (self.lines[name],) = self.ax.plot([], [], color=LOSS_COLORS[name], label=name, **style, **animated)
        self.hz_labels = [
            self.ax.text(c, 1.01, "", transform=self.ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=9)
            for c in ticks
        ]
        self.outside = [self.ax.axvspan(0, 0, color="0.88", zorder=0, **animated) for _ in range(2)]
        self.candidate_marker = self.ax.axvline(0.0, color="0.45", linewidth=1.0, **animated)
        (self.candidate_dot,) = self.ax.plot([], [], "o", color="0.2", markersize=6, **animated)
        (self.path_line,) = self.ax.plot([], [], "-", color="black", linewidth=1.0, **animated)
        (self.path_end,) = self.ax.plot([], [], "X", color="black", markersize=9, **animated)
        for label in self.hz_labels:
            label.set_animated(True)
        self._sign_mesh = None
        self._curve_background = None
        self._curve_layout = None  # what the stored background shows: (enabled losses, selected loss)

        self.transport_figure = new_figure(9.4, 3.0)
        spectra_ax, cdf_ax, quantile_ax = self.transport_figure.subplots(
            1, 3, gridspec_kw=dict(width_ratios=(1.6, 1, 1))
        )
        self.transport_axes = spectra_ax, cdf_ax, quantile_ax
        self.transport_figure.subplots_adjust(left=0.075, right=0.985, top=0.88, bottom=0.17, wspace=0.32)
        # all the data is drawn over stored axes (blitting, see _draw_transport)
        target_style = dict(color="tab:blue", linestyle="--", linewidth=1.2, animated=True)
        candidate_style = dict(color="tab:orange", linewidth=1.2, animated=True)
        self.transport_artists = {
            "target": spectra_ax.plot([], [], label="target", **target_style)[0],
            "candidate": spectra_ax.plot([], [], label="candidate", **candidate_style)[0],
            "arcs": spectra_ax.add_collection(LineCollection([], colors="tab:green", alpha=0.55, animated=True)),
            "u_cdf": cdf_ax.plot([], [], drawstyle="steps-post", **target_style)[0],
            "v_cdf": cdf_ax.plot([], [], drawstyle="steps-post", **candidate_style)[0],
            "u_quantile": quantile_ax.plot([], [], drawstyle="steps-pre", **target_style)[0],
            "v_quantile": quantile_ax.plot([], [], drawstyle="steps-pre", **candidate_style)[0],
        }
        self._transport_fills = []
        self._transport_background = self._transport_layout = None
        self.transport_cost = quantile_ax.text(
            0.03, 0.97, "", transform=quantile_ax.transAxes, ha="left", va="top", fontsize=8, animated=True
        )
        spectra_ax.legend(fontsize=8, loc="upper right")
        spectra_ax.set(xlabel="frequency (Hz)", ylabel="energy share")
        spectra_ax.set_title("spectra and transport plan (arcs)", fontsize=9)
        cdf_ax.set(xlabel="frequency (Hz)", ylim=(0, 1.02))
        cdf_ax.set_title("CDFs (area between: W1)", fontsize=9)
        quantile_ax.set(xlabel="quantile level", ylabel="frequency (Hz)", xlim=(0, 1))
        quantile_ax.set_title("quantile functions", fontsize=9)

        self.heat_figure = new_figure(9.4, 3.4)

    def _draw_curves(self) -> None:
        """Draw new curves: the data over the stored axes (drawn again only when the set of curves changes)."""
        self._render_curves(full=False)

    def _selected_normalised(self, cents) -> np.ndarray:
        """The selected loss's normalised value at any detuning (its curve interpolated in cents)."""
        curve = self.curves[self.controls["loss"].value]
        return np.interp(cents, cents_between(curve.candidates_hz, self.target_f0_hz), curve.normalised)

    def _render_curves(self, full: bool) -> None:
        """Render the curves' figure: the stored axes (drawn again if ``full`` or the legend changed), then the data."""
        canvas, ax = self.curve_figure.canvas, self.ax
        selected, enabled = self.controls["loss"].value, list(self.curves)
        for name in enabled:
            self.lines[name].set_linewidth(3.0 if name == selected else 1.3)  # before the legend copies them
        if full or self._curve_background is None or self._curve_layout != (enabled, selected):
            ax.legend(
                handles=[self.lines[name] for name in enabled],
                loc="upper center",
                ncol=min(4, len(enabled)),
                fontsize=8,
                framealpha=0.9,
            )
            self.sign_ax.set_ylim(len(enabled), 0)
            self.sign_ax.set_yticks(np.arange(len(enabled)) + 0.5, enabled, fontsize=8)
            canvas.draw()  # animated artists are left out
            self._curve_background = canvas.copy_from_bbox(self.curve_figure.bbox)
            self._curve_layout = (enabled, selected)
        else:
            canvas.restore_region(self._curve_background)
        target = self.target_f0_hz
        for label, cents in zip(self.hz_labels, range(-1200, 1201, 300)):
            label.set_text(f"{target * 2 ** (cents / 1200):.{1 if target < 200 else 0}f}")
        low, high = (float(cents_between(edge, target)) for edge in DATA_F0_RANGE_HZ)  # the dataset's f0 range
        beyond = 1200 * SPAN_OCTAVES + 100  # shading outside the range runs off the axes
        self.outside[0].set_x(-beyond)
        self.outside[0].set_width(max(0.0, low + beyond))
        self.outside[1].set_x(high)
        self.outside[1].set_width(max(0.0, beyond - high))
        for name in enabled:
            curve, line = self.curves[name], self.lines[name]
            line.set_data(cents_between(curve.candidates_hz, target), curve.normalised)
        x = cents_between(next(iter(self.curves.values())).candidates_hz, target)
        edges = np.concatenate([[-1200 * SPAN_OCTAVES], (x[1:] + x[:-1]) / 2, [1200 * SPAN_OCTAVES]])
        if self._sign_mesh is not None:
            self._sign_mesh.remove()
        signs = np.stack([self.curves[name].direction for name in enabled])
        self._sign_mesh = self.sign_ax.pcolormesh(
            edges, np.arange(len(enabled) + 1), signs, cmap=SIGN_COLORS, vmin=-1.5, vmax=1.5, animated=True
        )
        cents = float(self.controls["candidate_cents"].value)
        self.candidate_marker.set_xdata([cents, cents])
        self.candidate_dot.set_data([cents], self._selected_normalised([cents]))
        if self.path is None:
            self.path_line.set_data([], [])
            self.path_end.set_data([], [])
        else:
            curve = self.curves[selected]
            span = curve.values.max() - curve.values.min()
            normalised = (self.path.loss - curve.values.min()) / span if span > 0 else np.zeros_like(self.path.loss)
            path_cents = cents_between(self.path.f0_hz, target)
            self.path_line.set_data(path_cents, np.clip(normalised, -0.04, 1.08))
            self.path_end.set_data([path_cents[-1]], [np.clip(normalised[-1], -0.04, 1.08)])
        self.sign_ax.draw_artist(self._sign_mesh)
        for artist in (*self.outside, *[self.lines[n] for n in enabled if n != selected], self.lines[selected]):
            ax.draw_artist(artist)
        for artist in (*self.hz_labels, self.candidate_marker, self.candidate_dot, self.path_line, self.path_end):
            ax.draw_artist(artist)
        self.images["curve"].value = canvas_png(self.curve_figure)

    def _draw_transport(self) -> None:
        """Render the transport view: the axes are stored and drawn again only when their limits change
        (they move in octave steps), the spectra and curves of target and candidate are drawn over them."""
        view, options = self.transport, self.options
        spectra_ax, cdf_ax, quantile_ax = self.transport_axes
        artists, canvas = self.transport_artists, self.transport_figure.canvas
        log = options.frequency_scale == "log"
        f, curves = view.frequencies_hz, view.curves
        # every candidate is at most an octave above the target: twice the target's reach is enough;
        # the limits snap to powers of two so that they rarely change
        low = 20.0 if log else 0.0
        high = float(min(2 ** math.ceil(math.log2(2.2 * view.target_top_hz)), SAMPLE_RATE / 2))
        shown = (f >= low) & (f <= high)
        peak = max(view.target[shown].max(), view.candidate[shown].max())
        top = float(2 ** math.ceil(math.log2(1.1 * peak)))
        layout = (options, high, top)
        if self._transport_background is None or self._transport_layout != layout:
            scale = "log" if log else "linear"
            for ax in (spectra_ax, cdf_ax):
                if ax.get_xscale() != scale:
                    ax.set_xscale(scale)
                ax.set_xlim(max(low, f[shown][0]), high)
            if quantile_ax.get_yscale() != scale:
                quantile_ax.set_yscale(scale)
            quantile_ax.set_ylim(max(low, f[shown][0]), high)
            spectra_ax.set_ylim(0, top)
            spectra_ax.set_title(f"SOT's spectra (n_fft {options.n_fft}) and transport plan", fontsize=9)
            canvas.draw()  # the animated artists (all the data) are left out
            self._transport_background = canvas.copy_from_bbox(self.transport_figure.bbox)
            self._transport_layout = layout
        else:
            canvas.restore_region(self._transport_background)
        levels = np.concatenate([[0.0], curves["levels"]])
        u_q = np.concatenate([curves["u_quantile"][:1], curves["u_quantile"]])
        v_q = np.concatenate([curves["v_quantile"][:1], curves["v_quantile"]])
        artists["target"].set_data(f[shown], view.target[shown])
        artists["u_cdf"].set_data(f[shown], curves["u_cdf"][shown])
        artists["u_quantile"].set_data(levels, u_q)
        artists["candidate"].set_data(f[shown], view.candidate[shown])
        rows, cols = np.nonzero(view.plan > 1e-3 * view.plan.max())
        keep = shown[rows] & shown[cols]
        rows, cols = rows[keep], cols[keep]
        segments = np.stack(
            [np.stack([f[rows], view.target[rows]], -1), np.stack([f[cols], view.candidate[cols]], -1)], 1
        )
        artists["arcs"].set_segments(segments)
        artists["arcs"].set_linewidths(0.4 + 2.5 * view.plan[rows, cols] / view.plan.max())
        artists["v_cdf"].set_data(f[shown], curves["v_cdf"][shown])
        artists["v_quantile"].set_data(levels, v_q)
        for fill in self._transport_fills:
            fill.remove()
        fill = dict(color="tab:green", alpha=0.25, animated=True)
        self._transport_fills = [
            cdf_ax.fill_between(f[shown], curves["u_cdf"][shown], curves["v_cdf"][shown], step="post", **fill),
            quantile_ax.fill_between(levels, u_q, v_q, step="pre", **fill),
        ]
        for name in ("arcs", "target", "candidate"):
            spectra_ax.draw_artist(artists[name])
        for ax, fill, lines in zip(
            (cdf_ax, quantile_ax), self._transport_fills, (("u_cdf", "v_cdf"), ("u_quantile", "v_quantile"))
        ):
            ax.draw_artist(fill)
            for name in lines:
                ax.draw_artist(artists[name])
        o = options
        kind = f"W{o.p}" if o.root else f"W{o.p}^{o.p}"
        self.transport_cost.set_text(
            f"SOT ({kind}, {o.mode}, {o.frequency_scale}) of\nthe mean spectra: {view.cost:.3g}"
        )
        quantile_ax.draw_artist(self.transport_cost)
        self.images["candidate"].value = canvas_png(self.transport_figure)

    def _draw_heat_map(self, name: str, parameter: str) -> None:
        heat, figure = self.heat, self.heat_figure
        grid = heat["grid"]
        positive = grid[grid > 0]
        vmax = positive.max() if positive.size else 1.0
        norm = LogNorm(vmin=max(positive.min() if positive.size else 1e-12, vmax * 1e-4), vmax=vmax)
        figure.clear()
        ax = figure.subplots()
        figure.subplots_adjust(left=0.1, right=1.0, top=0.88, bottom=0.15)
        mesh = ax.pcolormesh(
            heat["f0_hz"], heat["values_y"], np.maximum(grid, norm.vmin), shading="nearest", cmap="viridis", norm=norm
        )
        figure.colorbar(mesh, ax=ax, label="loss (log scale)", pad=0.01)
        minima = heat["f0_hz"][grid.argmin(axis=1)]
        ax.plot(minima, heat["values_y"], "o", color="white", markersize=4, label="best f0 per row")
        ax.plot([self.target_f0_hz], [heat["target_y"]], "*", color="red", markersize=14, markeredgecolor="black")
        hz_axis(ax, heat["f0_hz"][0], heat["f0_hz"][-1])
        ylabel = "harmonics" if parameter == "number of harmonics" else "tilt (dB/octave)"
        ax.set(xlabel="candidate f0 (Hz)", ylabel=ylabel)
        ax.set_title(f"{name} over candidate f0 and {parameter} (star: the target)", fontsize=10)
        ax.legend(loc="upper right", fontsize=8)
        self.images["heat"].value = figure_png(figure)

    def _write_readout(self) -> None:
        target, candidate = self.target_f0_hz, self.candidate_f0_hz
        rows = "".join(
            f"<tr><td>{name}</td><td>{100 * curve.toward:.0f} %</td><td>{self._value_at_candidate(curve):.3g}</td></tr>"
            for name, curve in self.curves.items()
        )
        self.readout.value = (
            f"<p>target <b>{format_hz(target)}</b> · candidate <b>{format_hz(candidate)}</b> "
            f"({format_cents(cents_between(candidate, target))}) · the dataset's f0: "
            f"{format_hz(DATA_F0_RANGE_HZ[0])} to {format_hz(DATA_F0_RANGE_HZ[1])}</p>"
            "<table><tr><th>loss</th><th>gradient steps toward the target</th>"
            "<th>normalised loss at the candidate</th></tr>" + rows + "</table>"
        )

    def _value_at_candidate(self, curve: Curve) -> float:
        return float(np.interp(np.log(self.candidate_f0_hz), np.log(curve.candidates_hz), curve.normalised))

    # ---- layout

    def widget(self) -> widgets.Widget:
        """The whole page as one widget."""
        c = self.controls
        row = lambda *items: widgets.HBox(list(items), layout=widgets.Layout(flex_flow="row wrap"))  # noqa: E731
        toggles = widgets.HBox(list(self.toggles.values()), layout=widgets.Layout(flex_flow="row wrap"))
        return widgets.VBox(
            [
                row(c["target_f0_hz"], c["n_harmonics"], c["tilt_db"]),
                widgets.HTML("<b>curves</b> (each normalised to [0, 1]):"),
                toggles,
                row(c["loss"], c["n_fft"], c["p"], c["root"]),
                row(c["mode"], c["frequency_scale"], c["framing"], c["norm"]),
                self.images["curve"],
                row(c["candidate_cents"], self.descend),
                self.descent_readout,
                row(
                    widgets.HTML("target"),
                    self.audio["target"],
                    widgets.HTML("candidate"),
                    self.audio["candidate"],
                ),
                self.images["candidate"],
                self.readout,
                self.heat_box,
            ]
        )

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget())
