"""The loss-landscape explorer's curves: losses against candidate f0, computed from stored spectra.

Shown in `notebooks/explorer.ipynb` and notebook 02's explorer.

A harmonic target tone (f0, number of harmonics, spectral tilt, :func:`tilt_amplitudes`) is compared
with candidates that share its harmonics at other f0, from an octave below to an octave above
(:func:`candidate_grid`); a loss the page names (:data:`LOSS_NAMES`, :func:`build_explorer_loss`)
gives a :class:`Curve`: its values, its derivative with respect to the candidate's f0 and the
direction a gradient step takes from each candidate (:func:`loss_curve`).

Speed comes from precomputation. Candidates sit on one fixed logarithmic grid of f0
(:func:`candidate_grid`), whatever the target, so their spectra can be kept: a
:class:`CandidateSpectra` cache holds, per spectral analysis (FFT size, hop, window, framing),
each candidate's spectra and their derivative with respect to f0 (forward-mode autodiff through
the synthesizer and the STFT). A loss is then evaluated from spectra alone, and its derivative
with respect to each candidate's f0 is the inner product of its gradient with respect to the
candidate's spectra with that stored derivative (the chain rule, exactly what autograd through
the whole loss gives; ``tests/study/test_explorer.py`` checks both against the loss modules). Moving the
target or changing a loss option only recomputes the comparison of spectra.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from torch import nn

from ...constants import DATA_F0_RANGE_HZ
from ...losses import LOG_EPS, MultiScaleSpectralLoss, SpectralOTLoss, WeightedLossSum
from ...spectral import bin_positions, stft_magnitude
from ...training.loss_config import PAPER_GROUPS, paper_loss
from ...transport import spectral_ot
from ...validation import check_choice, check_int, check_positive_number, check_tensor
from ..landscape import harmonic_tones, minmax_normalize

__all__ = [
    "AWAY",
    "DB_PER_OCTAVE_PER_DECAY",
    "FLAT",
    "GRID_RANGE_HZ",
    "GRID_STEPS_PER_OCTAVE",
    "GROUP_LOSSES",
    "LOSS_KINDS",
    "LOSS_NAMES",
    "SPAN_OCTAVES",
    "TOWARD",
    "CandidateSpectra",
    "Curve",
    "LossOptions",
    "SpectralStage",
    "build_explorer_loss",
    "candidate_grid",
    "descent_direction",
    "evaluate_from_spectra",
    "loss_curve",
    "spectral_stages",
    "tilt_amplitudes",
]

LOSS_KINDS = ("SOT", "MSS (lin)", "MSS (log)", "single-scale (lin)")
"""The losses whose options the page sets (SOT's options; the norm of the others; ``n_fft`` for
SOT and the single-scale loss)."""

GROUP_LOSSES = tuple(f"group {group}" for group in PAPER_GROUPS)
"""The paper's seven training losses, as the page names them."""

LOSS_NAMES = LOSS_KINDS + GROUP_LOSSES

SPAN_OCTAVES = 1.0
"""Candidates span ``target * 2^[-1, +1]``."""

GRID_STEPS_PER_OCTAVE = 40
"""Candidate f0 grid: 40 points per octave (30 cents apart)."""

GRID_RANGE_HZ = (DATA_F0_RANGE_HZ[0] / 2**SPAN_OCTAVES, DATA_F0_RANGE_HZ[1] * 2**SPAN_OCTAVES)
"""The grid covers every candidate of every target in the dataset's f0 range (40-1950 Hz)."""

DB_PER_OCTAVE_PER_DECAY = 20 * math.log10(2)
"""Amplitudes ``k^-d`` fall by ``6.02 d`` dB per octave of harmonic number."""

TOWARD, FLAT, AWAY = 1, 0, -1


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
    ``per_example`` (``tests/study/test_explorer.py`` checks them against the modules). An MSS term gives a
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
