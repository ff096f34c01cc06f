"""Loss landscapes: how a loss responds to a synthesizer parameter, and whether it can be descended.

Taught in notebooks 02 (landscapes) and 03 (gradient descent); used by notebooks 07 and 08.

- :func:`harmonic_tones` renders stationary tones (the paper's data model).
- :func:`sweep` evaluates a loss (and optionally its gradient) between one target and a family
  of candidates indexed by a parameter; :func:`surface` does it over two parameters.
  :func:`tone_family` builds the candidate families: f0 of a tone, one harmonic's amplitude, the
  number of harmonics.
- :func:`rank_accuracy` is Turian & Henry's (2020) test of a distance for pitch: over all pairs
  of candidates, how often does the loss order them like their true pitch distance to the target?
- :func:`fit_f0` fits a synthesizer's f0 to a target by gradient descent from many initial
  detunings; :func:`success_rate` summarises where each loss converges (final error < 50 cents).

Every loss passed in takes ``(target, estimate)`` audio ``[batch, n_samples]`` and returns one
value per example ``[batch]`` (build it with ``reduction="none"``; :func:`landscape_losses` does).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from ..constants import N_FRAMES, N_SAMPLES, SAMPLE_RATE, SUCCESS_CENTS
from ..losses import MultiScaleSpectralLoss, SpectralOTLoss, WeightedLossSum
from ..spectral import stft_magnitude
from ..synth import harmonic_synth
from ..validation import check_bool, check_choice, check_int, check_positive_number, check_tensor

__all__ = [
    "cdf_quantile_curves",
    "decaying_amplitudes",
    "fit_f0",
    "harmonic_tones",
    "loss_to_target",
    "landscape_losses",
    "local_minima",
    "minmax_normalize",
    "per_example_loss",
    "rank_accuracy",
    "sot_variants",
    "success_rate",
    "surface",
    "sweep",
    "tone_family",
]

# --------------------------------------------------------------------------------------------
# Tones and loss catalogue


def harmonic_tones(
    f0_hz: torch.Tensor,
    amplitudes: torch.Tensor,
    n_samples: int = N_SAMPLES,
    sample_rate: int = SAMPLE_RATE,
    n_frames: int = N_FRAMES,
) -> torch.Tensor:
    """Stationary harmonic tones from constant controls.

    Args:
        f0_hz: ``[K]`` Hz.
        amplitudes: ``[K, n_harmonics]`` or ``[n_harmonics]`` (shared), linear.

    Returns:
        audio ``[K, n_samples]``.
    """
    check_tensor("f0_hz", f0_hz, ndim=1, layout="[K]", positive=True)
    check_tensor("amplitudes", amplitudes, min_ndim=1, layout="[K, n_harmonics] or [n_harmonics]", nonnegative=True)
    amplitudes = amplitudes.to(f0_hz.dtype).expand(f0_hz.shape[0], -1)
    f0_frames = f0_hz[:, None].expand(-1, n_frames)
    amp_frames = amplitudes[:, None, :].expand(-1, n_frames, -1)
    return harmonic_synth(f0_frames, amp_frames, n_samples, sample_rate)


def decaying_amplitudes(n_harmonics: int, decay: float = 1.0) -> torch.Tensor:
    """Amplitudes ``1 / k^decay`` for harmonics k = 1..n_harmonics, ``[n_harmonics]``."""
    check_int("n_harmonics", n_harmonics, minimum=1)
    return 1.0 / torch.arange(1, n_harmonics + 1, dtype=torch.float32) ** decay


def landscape_losses(n_fft: int = 2048) -> dict[str, nn.Module]:
    """The losses of the paper's landscape figure (docs/method.md#method-figures), per-example (``reduction="none"``).

    - ``"SOT W2"``: spectral OT, power spectra, flat-top window, linear frequency, W_2 with the
      root (the paper draws a linear V) and balanced masses (a pure-shape comparison, so the
      figure shows the transport geometry alone; :func:`sot_variants` has the cut versions);
    - ``"L1 SS"``, ``"L2 SS"``: single-scale linear-magnitude spectral loss at ``n_fft``;
    - ``"L1 MSS (lin)"``, ``"L2 MSS (lin)"``: six scales 2048…64, linear magnitude;
    - ``"L1 MSS (log)"``: six scales, log magnitude;
    - ``"SOT W2, complete frames"``: as ``"SOT W2"`` without the zero-padded last frames, whose
      leakage makes the reference framing jagged at the scale of a few Hz.
    """
    none = dict(reduction="none")
    return {
        "SOT W2": SpectralOTLoss(n_fft=n_fft, root=True, mode="balanced", **none),
        "SOT W2, complete frames": SpectralOTLoss(n_fft=n_fft, root=True, mode="balanced", pad_end=False, **none),
        "L1 SS": MultiScaleSpectralLoss(fft_sizes=(n_fft,), norm="l1", **none),
        "L2 SS": MultiScaleSpectralLoss(fft_sizes=(n_fft,), norm="l2", **none),
        "L1 MSS (lin)": MultiScaleSpectralLoss(norm="l1", **none),
        "L2 MSS (lin)": MultiScaleSpectralLoss(norm="l2", **none),
        "L1 MSS (log)": MultiScaleSpectralLoss(lin_weight=0.0, log_weight=1.0, norm="l1", **none),
    }


def sot_variants() -> dict[str, nn.Module]:
    """SOT with one option changed at a time from SOT-2048 (cut, W_2^2, linear, power, padded end).

    "complete frames" drops the zero-padded last frames (``pad_end=False``), whose leakage from the
    hard end of the signal makes the reference loss jagged in f0.
    """
    base = dict(n_fft=2048, p=2, root=False, mode="cut", frequency_scale="linear", reduction="none")
    changes = {
        "SOT-2048 (cut, W2²)": {},
        "n_fft 512": dict(n_fft=512),
        "balanced (NoCut)": dict(mode="balanced"),
        "p = 1": dict(p=1),
        "root (W2)": dict(root=True),
        "log frequency": dict(frequency_scale="log"),
        "complete frames": dict(pad_end=False),
        "complete frames, log frequency": dict(pad_end=False, frequency_scale="log"),
    }
    return {name: SpectralOTLoss(**{**base, **change}) for name, change in changes.items()}


# --------------------------------------------------------------------------------------------
# Sweeps


def per_example_loss(loss: Callable, target: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
    """``loss(target, estimate)`` with ``target [1 or B, n_samples]`` broadcast to the estimates, checked to
    give one value per example ``[B]`` (a loss built with ``reduction="none"``)."""
    values = loss(target.expand(estimate.shape[0], -1), estimate)
    if values.shape != (estimate.shape[0],):
        raise ValueError(
            f"`loss` must return one value per example (shape [{estimate.shape[0]}]), got "
            f"{tuple(values.shape)}: build it with reduction='none'"
        )
    return values


def _per_example_from_magnitudes(loss: Callable) -> bool:
    """Whether ``loss(target, estimate)`` is ``loss.from_magnitudes`` of the STFTs of
    ``loss.stft_settings()``: an audio loss with ``reduction="none"``, or a weighted sum of them."""
    if isinstance(loss, WeightedLossSum):
        return all(_per_example_from_magnitudes(term) for term in loss.terms.values())
    return isinstance(loss, SpectralOTLoss | MultiScaleSpectralLoss) and loss.reduction == "none"


def loss_to_target(loss: Callable, target: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """``estimate [B, n_samples] -> [B]``: :func:`per_example_loss` ``(loss, target, estimate)`` for a
    target that stays fixed while the estimates change (a descent, a sweep).

    The target's STFT magnitudes are taken once, here, instead of at every call: the same values
    and gradients (the same STFT of the same tensor), and a step of :func:`fit_f0` 10-17 % faster
    (measured on one CPU thread, 104 tones). A loss that is not built from STFT magnitudes (any
    other callable) is called through :func:`per_example_loss`.

    Args:
        loss: per-example loss (``reduction="none"``).
        target: ``[B, n_samples]`` audio, one row per estimate of each later call.
    """
    check_tensor("target", target, ndim=2, layout="[B, n_samples]")
    if not _per_example_from_magnitudes(loss):
        return lambda estimate: per_example_loss(loss, target, estimate)
    settings = loss.stft_settings()
    with torch.no_grad():
        target_magnitudes = [stft_magnitude(target, *setting) for setting in settings]

    def values(estimate: torch.Tensor) -> torch.Tensor:
        if estimate.shape != target.shape:
            raise ValueError(
                f"`estimate` must have the target's shape {tuple(target.shape)}, got {tuple(estimate.shape)}"
            )
        return loss.from_magnitudes(target_magnitudes, [stft_magnitude(estimate, *setting) for setting in settings])

    return values


def sweep(
    loss: Callable,
    target: torch.Tensor,
    make_audio: Callable[[torch.Tensor], torch.Tensor],
    values: torch.Tensor,
    gradient: bool = False,
    batch_size: int = 128,
) -> pd.DataFrame:
    """Loss between a target and candidates ``make_audio(values)``, and optionally d loss / d value.

    Args:
        loss: per-example loss, ``(target [B, N], estimate [B, N]) -> [B]``.
        target: ``[1, N]`` or ``[N]`` audio.
        make_audio: maps parameter values ``[k]`` to audio ``[k, N]`` (differentiably if
            ``gradient``).
        values: ``[K]`` parameter values.
        gradient: also return the derivative of the loss w.r.t. each value.
        batch_size: candidates per loss call.

    Returns:
        DataFrame with columns ``value``, ``loss`` (and ``gradient``), one row per value.
    """
    check_tensor("values", values, ndim=1, layout="[K]")
    target = target.reshape(1, -1)
    losses, grads = [], []
    for chunk in torch.split(values, batch_size):
        chunk = chunk.detach().clone().requires_grad_(check_bool("gradient", gradient))
        with torch.set_grad_enabled(gradient):
            out = per_example_loss(loss, target, make_audio(chunk))
            if gradient:
                (grad,) = torch.autograd.grad(out.sum(), chunk)
                grads.append(grad.detach())
        losses.append(out.detach())
    frame = pd.DataFrame({"value": values.detach().numpy(), "loss": torch.cat(losses).numpy()})
    if gradient:
        frame["gradient"] = torch.cat(grads).numpy()
    return frame


def surface(
    loss: Callable,
    target: torch.Tensor,
    make_audio: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    values_x: torch.Tensor,
    values_y: torch.Tensor,
    batch_size: int = 128,
) -> np.ndarray:
    """Loss over a grid of two parameters: ``[len(values_y), len(values_x)]``.

    ``make_audio(x [k], y [k]) -> [k, N]`` renders the candidates at paired values.
    """
    check_tensor("values_x", values_x, ndim=1, layout="[Kx]")
    check_tensor("values_y", values_y, ndim=1, layout="[Ky]")
    grid_y, grid_x = torch.meshgrid(values_y, values_x, indexing="ij")
    flat_x, flat_y = grid_x.reshape(-1), grid_y.reshape(-1)
    target = target.reshape(1, -1)
    with torch.no_grad():
        out = [
            per_example_loss(loss, target, make_audio(x, y))
            for x, y in zip(torch.split(flat_x, batch_size), torch.split(flat_y, batch_size))
        ]
    return torch.cat(out).reshape(grid_x.shape).numpy()


TONE_PARAMETERS = ("f0", "amplitude", "n_harmonics")


def tone_family(
    parameter: str,
    f0_hz: float,
    amplitudes: torch.Tensor,
    harmonic: int = 1,
    n_samples: int = N_SAMPLES,
    sample_rate: int = SAMPLE_RATE,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Candidates that vary one parameter of a harmonic tone, for :func:`sweep`.

    Args:
        parameter: ``"f0"`` (values in Hz), ``"amplitude"`` (linear amplitude of harmonic
            ``harmonic``) or ``"n_harmonics"`` (how many of ``amplitudes`` are on; values are
            rounded to integers, so no gradient).
        f0_hz: fundamental of the family, Hz (ignored for ``"f0"``).
        amplitudes: ``[n_harmonics]`` base amplitudes.
        harmonic: 1-based harmonic index for ``"amplitude"``.

    Returns:
        ``make_audio(values [k]) -> [k, n_samples]``.
    """
    check_choice("parameter", parameter, TONE_PARAMETERS)
    check_positive_number("f0_hz", f0_hz)
    check_tensor("amplitudes", amplitudes, ndim=1, layout="[n_harmonics]", nonnegative=True)
    n_harmonics = amplitudes.shape[0]
    check_int("harmonic", harmonic, minimum=1)
    if harmonic > n_harmonics:
        raise ValueError(f"`harmonic` is {harmonic} but `amplitudes` has {n_harmonics} harmonics")

    def render(f0: torch.Tensor, amps: torch.Tensor) -> torch.Tensor:
        return harmonic_tones(f0, amps, n_samples, sample_rate)

    if parameter == "f0":
        return lambda values: render(values, amplitudes)
    if parameter == "amplitude":
        one_hot = torch.nn.functional.one_hot(torch.tensor(harmonic - 1), n_harmonics).to(amplitudes.dtype)

        def vary_amplitude(values: torch.Tensor) -> torch.Tensor:
            amps = amplitudes * (1 - one_hot) + values[:, None] * one_hot
            return render(torch.full_like(values, f0_hz), amps)

        return vary_amplitude

    def vary_count(values: torch.Tensor) -> torch.Tensor:
        on = torch.arange(1, n_harmonics + 1) <= torch.round(values.detach())[:, None]
        return render(torch.full(values.shape, f0_hz, dtype=amplitudes.dtype), amplitudes * on)

    return vary_count


def minmax_normalize(values) -> np.ndarray:
    """Scale to [0, 1] (the paper's "normalized loss"); a constant curve maps to 0."""
    values = np.asarray(values, dtype=np.float64)
    span = values.max() - values.min()
    return (values - values.min()) / span if span > 0 else np.zeros_like(values)


def local_minima(values) -> np.ndarray:
    """Indices of strict interior local minima of a 1-D curve."""
    v = np.asarray(values, dtype=np.float64)
    return np.flatnonzero((v[1:-1] < v[:-2]) & (v[1:-1] < v[2:])) + 1


def cdf_quantile_curves(
    positions: torch.Tensor, u_weights: torch.Tensor, v_weights: torch.Tensor
) -> dict[str, np.ndarray]:
    """CDFs on the bins and both quantile functions on the merged levels (for the OT pictures).

    Returns ``{"positions" [n], "u_cdf" [n], "v_cdf" [n], "levels" [2n], "u_quantile" [2n],
    "v_quantile" [2n]}``; between ``levels[j-1]`` and ``levels[j]`` the quantile functions equal
    ``u_quantile[j]`` and ``v_quantile[j]``.
    """
    u_cdf, v_cdf = torch.cumsum(u_weights, 0), torch.cumsum(v_weights, 0)
    levels, _ = torch.sort(torch.cat([u_cdf, v_cdf]))
    n = positions.shape[0]
    u_q = positions[torch.searchsorted(u_cdf, levels).clamp(max=n - 1)]
    v_q = positions[torch.searchsorted(v_cdf, levels).clamp(max=n - 1)]
    as_np = lambda t: t.detach().double().numpy()  # noqa: E731
    return {
        "positions": as_np(positions),
        "u_cdf": as_np(u_cdf),
        "v_cdf": as_np(v_cdf),
        "levels": as_np(levels),
        "u_quantile": as_np(u_q),
        "v_quantile": as_np(v_q),
    }


# --------------------------------------------------------------------------------------------
# Rank accuracy (Turian & Henry, 2020)


def rank_accuracy(
    loss: Callable,
    target_f0_hz: torch.Tensor,
    candidate_cents: torch.Tensor,
    amplitudes: torch.Tensor,
    batch_size: int = 128,
) -> float:
    """How often a loss orders candidate pitches like their true distance to the target.

    For each target f0, candidates at ``target * 2^(cents / 1200)`` are rendered with the same
    ``amplitudes``; over every pair of candidates with different ``|cents|``, the pair counts as
    correct when the loss is smaller for the candidate closer in pitch (a tie in loss counts
    half). Turian & Henry (2020), "I'm sorry for your loss: spectrally-based audio distances are
    bad at pitch".

    Args:
        loss: per-example loss.
        target_f0_hz: ``[T]`` Hz.
        candidate_cents: ``[C]`` offsets from the target, cents.
        amplitudes: ``[n_harmonics]``.

    Returns:
        accuracy in [0, 1] (0.5 is chance).
    """
    check_tensor("target_f0_hz", target_f0_hz, ndim=1, layout="[T]", positive=True)
    check_tensor("candidate_cents", candidate_cents, ndim=1, layout="[C]")
    distance = candidate_cents.abs()
    closer = distance[:, None] < distance[None, :]  # [C, C]: i closer than j
    correct, total = 0.0, 0
    for f0 in target_f0_hz:
        target = harmonic_tones(f0[None], amplitudes)
        candidates = f0 * 2.0 ** (candidate_cents / 1200)
        with torch.no_grad():
            values = torch.cat(
                [
                    per_example_loss(loss, target, harmonic_tones(c, amplitudes))
                    for c in torch.split(candidates, batch_size)
                ]
            )
        smaller = values[:, None] < values[None, :]
        tie = values[:, None] == values[None, :]
        correct += float((smaller & closer).sum()) + 0.5 * float((tie & closer).sum())
        total += int(closer.sum())
    return correct / total


# --------------------------------------------------------------------------------------------
# Direct gradient-descent fitting of f0


FIT_CHUNK = 26
"""Fits per forward and backward pass of :func:`fit_f0`. Measured on one CPU thread (Intel Xeon),
notebook 03's 104 harmonic fits: all at once L1 MSS 317 ms per step, SOT-2048 277 ms; 26 at a time
260 ms and 136 ms."""


def fit_f0(
    loss: Callable,
    target_f0_hz: torch.Tensor,
    initial_detuning_octaves: torch.Tensor,
    amplitudes: torch.Tensor,
    steps: int = 200,
    learning_rate: float = 0.03,
    progress: bool = False,
    perturb_target: Callable[[torch.Tensor], torch.Tensor] | None = None,
    on_step: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None,
) -> pd.DataFrame:
    """Fit a synthesizer's f0 to each target from several initial detunings, by gradient descent.

    The estimate has the target's amplitudes; only f0 is learned, parametrised as ``log2 f0`` and
    optimised with Adam (a step of about ``learning_rate`` octaves), the learning rate decaying
    linearly to 0 so that fits settle instead of wandering on noise-level gradients at the
    optimum. All (target, detuning) pairs are optimised together as one batch of independent
    problems.

    Args:
        loss: per-example loss.
        target_f0_hz: ``[T]`` Hz.
        initial_detuning_octaves: ``[D]``; the start is ``target * 2^detuning``.
        amplitudes: ``[n_harmonics]``.
        steps: optimisation steps.
        learning_rate: Adam learning rate on ``log2 f0``.
        perturb_target: applied once to the rendered targets ``[T * D, n_samples]`` (e.g. noise
            from :func:`sot_utils.study.perturb.add_noise`); the estimate stays clean.
        on_step: called at every step with ``(step, f0_hz [T * D], loss [T * D])``, the iterate
            and its loss before the update (the explorer draws the descent's path with it).

    Returns:
        DataFrame, one row per (target, detuning): ``target_f0_hz``, ``initial_detuning_octaves``,
        ``final_f0_hz``, ``error_cents`` (signed), ``success`` (``|error| < 50`` cents).
    """
    check_bool("progress", progress)
    check_tensor("target_f0_hz", target_f0_hz, ndim=1, layout="[T]", positive=True)
    check_tensor("initial_detuning_octaves", initial_detuning_octaves, ndim=1, layout="[D]")
    check_int("steps", steps, minimum=1)
    check_positive_number("learning_rate", learning_rate)
    true_f0 = target_f0_hz.repeat_interleave(len(initial_detuning_octaves))
    detuning = initial_detuning_octaves.repeat(len(target_f0_hz))
    targets = harmonic_tones(true_f0, amplitudes)
    if perturb_target is not None:
        targets = perturb_target(targets)
        if not isinstance(targets, torch.Tensor) or targets.shape != (len(true_f0), targets.shape[-1]):
            raise ValueError("`perturb_target` must return audio [T * D, n_samples] like its input")
    # Each fit's loss depends on its own f0 alone, so each step runs forward and backward over
    # FIT_CHUNK fits at a time: the same gradients (to float32 rounding), a working set in cache
    chunks = [slice(start, start + FIT_CHUNK) for start in range(0, len(true_f0), FIT_CHUNK)]
    loss_of_chunk = [loss_to_target(loss, targets[chunk]) for chunk in chunks]
    log2_f0 = (torch.log2(true_f0) + detuning).clone().requires_grad_()
    optimizer = torch.optim.Adam([log2_f0], lr=learning_rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / steps)
    for step in tqdm(range(steps), desc="fit f0", disable=not progress, leave=False):
        optimizer.zero_grad()
        iterates, values = [], []
        for chunk, loss_to_targets in zip(chunks, loss_of_chunk):
            # clamp keeps every partial's f0 in the audible band without stopping the gradient inside it
            f0 = 2.0 ** log2_f0[chunk].clamp(min=np.log2(20.0), max=np.log2(7900.0))
            chunk_values = loss_to_targets(harmonic_tones(f0, amplitudes))
            chunk_values.sum().backward()
            iterates.append(f0.detach())
            values.append(chunk_values.detach())
        if on_step is not None:
            on_step(step, torch.cat(iterates), torch.cat(values))
        optimizer.step()
        schedule.step()
    final = 2.0 ** log2_f0.detach().clamp(min=np.log2(20.0), max=np.log2(7900.0))
    error = 1200 * torch.log2(final / true_f0)
    return pd.DataFrame(
        {
            "target_f0_hz": true_f0.numpy(),
            "initial_detuning_octaves": detuning.numpy(),
            "final_f0_hz": final.numpy(),
            "error_cents": error.numpy(),
            "success": (error.abs() < SUCCESS_CENTS).numpy(),
        }
    )


def success_rate(fits: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Success rate (%) per loss (columns) and initial detuning (rows) from :func:`fit_f0` results."""
    return pd.DataFrame(
        {name: 100.0 * frame.groupby("initial_detuning_octaves")["success"].mean() for name, frame in fits.items()}
    )
