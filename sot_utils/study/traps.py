"""The autoencoder's traps: exact sub-harmonic minima, and where a run starts (notebook 07).

The decoder renders 20 harmonics; a synthetic tone has ``K <= 8``. A target with partials at
``f0, 2 f0, ..., K f0`` is then rendered *exactly* by the candidate ``f0 / k`` with only the
partials ``k, 2k, ..., Kk`` switched on, whenever ``K k <= 20``: every spectral loss is zero there
too. Which of these minima training reaches depends on where it starts.

- :func:`subharmonic_ratios`: the ``k`` for which ``f0 / k`` reproduces a K-partial tone exactly;
- :func:`amplitude_optimal_landscapes`: for candidate f0 values, the loss after the candidate's
  amplitudes are optimised (the landscape the encoder's f0 head sees once the amplitude head has
  adapted), for several losses and targets in one batch (:func:`amplitude_optimal_landscape`:
  one of each);
- :func:`trap_landscapes`: those landscapes for the paper's losses around K-partial targets, and
  :func:`sub_harmonic_preference`: whether each prefers the truth to its best exact f0/k;
- :func:`fit_f0_and_amplitudes`: f0 and amplitudes fitted together by gradient descent, per tone
  (the autoencoder's problem without the encoder): a cheap proxy of training;
- :func:`untrained_f0`: what a freshly initialised model predicts, per seed (its starting point);
- :func:`fundamental_ratio`: a recorded tone's fundamental amplitude over its strongest partial's
  (whether a decoder with a floored fundamental can render it);
- :func:`wasserstein2_mean_split`: ``W_2^2`` as a centroid term plus a shape term (notebook 08);
- :func:`centroid_f0`: the f0 at which a decoder's power centroid sits on the target's, the f0
  the centroid term pulls the f0 head to (notebook 08);
- :func:`centroid_partial_slope`: the same with the true f0 held fixed, which a constant predictor
  does not pass (the causal test, docs/evidence_plan.md);
- :func:`centroid_slope`: how much a run's pitch errors follow its targets' spectral centroids,
  1 in the "centroid stage" of training, 0 once pitch is learned (notebook 08).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import scipy.signal
import scipy.stats
import torch
from tqdm.auto import tqdm

from ..constants import N_FRAMES, N_SAMPLES, SAMPLE_RATE
from ..losses import harmonic_index_prior
from ..spectral import complex_stft, stft_magnitude
from ..synth import audible_harmonics, exp_sigmoid, floor_fundamental, harmonic_synth
from ..training.loss_config import paper_loss
from ..transport import wasserstein_1d
from ..validation import (
    check_bool,
    check_int,
    check_positive_number,
    check_same_shape,
    check_tensor,
    check_unit_interval,
)
from .landscape import harmonic_tones, loss_to_target

__all__ = [
    "DIP_OCTAVES",
    "amplitude_optimal_landscape",
    "amplitude_optimal_landscapes",
    "centroid_f0",
    "centroid_partial_slope",
    "centroid_slope",
    "fit_f0_and_amplitudes",
    "fundamental_ratio",
    "PREFERENCE_MARGIN",
    "sub_harmonic_preference",
    "subharmonic_ratios",
    "trap_landscapes",
    "untrained_f0",
    "wasserstein2_mean_split",
]


def subharmonic_ratios(n_partials: int, n_harmonics: int = 20) -> list[int]:
    """The ``k`` such that ``f0 / k`` with partials ``k, 2k, ..., K k`` reproduces a K-partial tone:
    ``k = 1 .. floor(n_harmonics / K)``."""
    check_int("n_partials", n_partials, minimum=1)
    check_int("n_harmonics", n_harmonics, minimum=1)
    return list(range(1, n_harmonics // n_partials + 1))


def _render(f0_hz: torch.Tensor, amplitudes: torch.Tensor) -> torch.Tensor:
    """Stationary tones ``[B, N_SAMPLES]`` from ``f0_hz [B]`` and ``amplitudes [B, H]``."""
    frames_f0 = f0_hz[:, None].expand(-1, N_FRAMES)
    frames_amplitudes = amplitudes[:, None, :].expand(-1, N_FRAMES, -1)
    return harmonic_synth(frames_f0, frames_amplitudes, N_SAMPLES, SAMPLE_RATE)


def _harmonic_spectra(candidates_hz: torch.Tensor, n_harmonics: int, settings) -> dict:
    """Complex STFT of each candidate's harmonics played alone at amplitude 1, per setting:
    ``{setting: (real, imaginary)}``, each ``[C, n_harmonics, n_frames n_bins]``.

    The synth and the STFT are linear in the amplitudes, so a candidate's spectrum for any
    amplitudes is these spectra mixed by the amplitudes: two small matrix products per step
    instead of a render and an STFT (equal up to float32 rounding; tested)."""
    n_candidates = len(candidates_hz)
    each_alone = torch.eye(n_harmonics).repeat(n_candidates, 1)  # [C H, H]
    audio = _render(candidates_hz.repeat_interleave(n_harmonics), each_alone)  # [C H, N_SAMPLES]
    spectra = {}
    for setting in settings:
        spectrum = complex_stft(audio, *setting).reshape(n_candidates, n_harmonics, -1)
        spectra[setting] = (spectrum.real.contiguous(), spectrum.imag.contiguous())
    return spectra


class _Modulus(torch.autograd.Function):
    """``sqrt(re^2 + im^2)`` with the gradient of a complex ``abs`` (0 where the modulus is 0),
    in real arithmetic: several times faster than ``abs`` of a complex tensor and its backward."""

    @staticmethod
    def forward(ctx, real: torch.Tensor, imaginary: torch.Tensor) -> torch.Tensor:
        modulus = torch.hypot(real, imaginary)
        ctx.save_for_backward(real, imaginary, modulus)
        return modulus

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        real, imaginary, modulus = ctx.saved_tensors
        scale = grad / modulus.clamp_min(torch.finfo(modulus.dtype).tiny)  # where 0, so are real and imaginary
        return scale * real, scale * imaginary


def _strongest_audible_partial(f0_hz: torch.Tensor, amplitudes: torch.Tensor) -> torch.Tensor:
    """The number (1-based) of the strongest partial below Nyquist: ``f0_hz [C]``, ``amplitudes [..., C, H]``
    -> ``[..., C]`` (a partial the synth mutes does not count, however large its amplitude)."""
    audible = audible_harmonics(f0_hz, amplitudes.shape[-1])  # [C, H]
    return (amplitudes.pow(2) * audible).argmax(dim=-1) + 1


def _spectral_loss(name: str, loss) -> None:
    if not (hasattr(loss, "stft_settings") and hasattr(loss, "from_magnitudes")):
        raise TypeError(
            f"`losses[{name!r}]` must be a spectral loss of sot_utils.losses (with stft_settings() and "
            f"from_magnitudes()), got {type(loss).__name__}"
        )


def amplitude_optimal_landscapes(
    losses: dict[str, Callable],
    targets: torch.Tensor,
    candidates_hz: torch.Tensor,
    n_harmonics: int = 20,
    steps: int = 200,
    learning_rate: float = 0.1,
    fundamental_floor: float = 0.0,
    progress: bool = False,
) -> pd.DataFrame:
    """The loss at each candidate f0 after the candidate's harmonic amplitudes are optimised, for
    several losses and targets at once (notebook 07).

    For each (loss, target, candidate), the candidate's ``n_harmonics`` amplitudes are
    parametrised as the decoder's (``exp_sigmoid`` of logits, starting from logits 0: amplitude
    0.41, as an untrained head gives about) and optimised with Adam for ``steps`` steps. Adam acts
    on each logit alone, so optimising every (loss, target, candidate) in one batch is the same as
    optimising each by itself. A candidate ``f0 / k`` of a K-partial target reaches about 0 when
    ``K k <= n_harmonics``, unless ``fundamental_floor`` (the decoder's,
    :func:`sot_utils.synth.floor_fundamental`) keeps its fundamental audible.

    The candidates' spectra are mixed from those of their single harmonics
    (:func:`_harmonic_spectra`), computed once and shared by the losses that take the same STFT.

    Args:
        losses: ``{name: loss}``, each a spectral loss of :mod:`sot_utils.losses` (e.g.
            :func:`~sot_utils.training.loss_config.paper_loss`): a :class:`~sot_utils.losses.SpectralOTLoss`,
            :class:`~sot_utils.losses.MultiScaleSpectralLoss` or a weighted sum of them.
        targets: tones ``[T, n_samples]`` (or one tone ``[n_samples]``).
        candidates_hz: ``[C]`` candidate f0 values, Hz.
        n_harmonics: the candidates' harmonics (the decoder's 20).
        steps, learning_rate: Adam's.
        fundamental_floor: the decoder's floor on the fundamental, in ``[0, 1]`` (0: the paper's).

    Returns:
        one row per (loss, target, candidate): ``loss_name``, ``target`` (row of ``targets``),
        ``candidate_hz``, ``loss`` (the smallest value reached), ``strongest_partial`` (of the
        audible partials at the end).
    """
    check_bool("progress", progress)
    if not isinstance(losses, dict) or not losses:
        raise ValueError("`losses` must be a non-empty dict {name: loss}")
    for name, loss in losses.items():
        _spectral_loss(name, loss)
    targets = targets.reshape(1, -1) if targets.ndim == 1 else targets
    check_tensor("targets", targets, ndim=2, layout="[T, n_samples]")
    if targets.shape[-1] != N_SAMPLES:
        raise ValueError(f"`targets` must have the synth's {N_SAMPLES} samples, got {targets.shape[-1]}")
    check_tensor("candidates_hz", candidates_hz, ndim=1, layout="[C]", positive=True)
    check_int("n_harmonics", n_harmonics, minimum=1)
    check_int("steps", steps, minimum=1)
    check_positive_number("learning_rate", learning_rate)
    names = list(losses)
    settings_of = {name: losses[name].stft_settings() for name in names}
    settings = list(dict.fromkeys(s for name in names for s in settings_of[name]))
    users = {s: [i for i, name in enumerate(names) if s in settings_of[name]] for s in settings}
    spectra = _harmonic_spectra(candidates_hz, n_harmonics, settings)
    target_magnitudes = {s: stft_magnitude(targets, *s) for s in settings}  # [T, frames, bins]
    n_losses, n_targets, n_candidates = len(names), len(targets), len(candidates_hz)
    logits = torch.zeros(n_losses, n_targets, n_candidates, n_harmonics, requires_grad=True)
    optimizer = torch.optim.Adam([logits], lr=learning_rate)
    best = torch.full((n_losses, n_targets, n_candidates), math.inf)
    # A candidate's losses depend on its own amplitudes alone, so each step runs forward and backward
    # over a few candidates at a time: the same gradients (to float32 rounding: matrix products of
    # another batch size round differently), with a working set that stays in the CPU's caches
    # instead of streaming the whole batch's spectra through memory at every operation
    chunks = [slice(start, start + CANDIDATE_CHUNK) for start in range(0, n_candidates, CANDIDATE_CHUNK)]
    for _ in tqdm(range(steps), desc="amplitudes", disable=not progress, leave=False):
        optimizer.zero_grad()
        for chunk in chunks:
            values = _landscape_values(
                losses, names, settings_of, users, spectra, target_magnitudes, logits, chunk, fundamental_floor
            )
            best[:, :, chunk] = torch.minimum(best[:, :, chunk], values.detach())
            values.sum().backward()
        optimizer.step()
    amplitudes = floor_fundamental(exp_sigmoid(logits.detach()), fundamental_floor)
    strongest = _strongest_audible_partial(candidates_hz, amplitudes)
    index = pd.MultiIndex.from_product([names, range(n_targets), range(n_candidates)])
    return pd.DataFrame(
        {
            "loss_name": index.get_level_values(0),
            "target": index.get_level_values(1),
            "candidate_hz": np.tile(candidates_hz.numpy(), n_losses * n_targets),
            "loss": best.reshape(-1).numpy(),
            "strongest_partial": strongest.reshape(-1).numpy(),
        }
    )


CANDIDATE_CHUNK = 8
"""Candidates per forward and backward pass of :func:`amplitude_optimal_landscapes`. Measured on one
CPU thread (Intel Xeon), notebook 07's full grid (7 losses, 3 targets, 107 candidates): all at once
4.37 s per step, 16 at a time 2.91 s, 8 at a time 2.71 s, 4 at a time 3.14 s."""


def _landscape_values(losses, names, settings_of, users, spectra, target_magnitudes, logits, chunk, floor):
    """The losses ``[L, T, c]`` of the candidates ``chunk`` (a slice) of :func:`amplitude_optimal_landscapes`."""
    amplitudes = floor_fundamental(exp_sigmoid(logits[:, :, chunk]), floor)  # [L, T, c, H]
    n_losses, n_targets, n_candidates, n_harmonics = amplitudes.shape
    magnitudes = {}
    for s in target_magnitudes:
        # [c, L_s T, H] x [c, H, frames bins]: the losses reduce over the last two dimensions
        # only, so the magnitudes stay in this order ([c, L_s, T, frames, bins]), uncopied
        mixed = amplitudes[users[s]].permute(2, 0, 1, 3).reshape(n_candidates, -1, n_harmonics)
        real, imaginary = (torch.bmm(mixed, part[chunk]) for part in spectra[s])
        shape = (n_candidates, len(users[s]), n_targets, *target_magnitudes[s].shape[-2:])
        # one view per loss; unbind's backward stacks their gradients once (indexing would fill a
        # zero tensor of the whole batch for each loss)
        magnitudes[s] = _Modulus.apply(real, imaginary).reshape(shape).unbind(1)
    return torch.stack(
        [
            losses[name].from_magnitudes(
                [target_magnitudes[s].expand(n_candidates, -1, -1, -1) for s in settings_of[name]],
                [magnitudes[s][users[s].index(i)] for s in settings_of[name]],
            )
            for i, name in enumerate(names)
        ]
    ).transpose(1, 2)  # [L, c, T] -> [L, T, c]


def amplitude_optimal_landscape(
    loss: Callable,
    target: torch.Tensor,
    candidates_hz: torch.Tensor,
    n_harmonics: int = 20,
    steps: int = 200,
    learning_rate: float = 0.1,
    fundamental_floor: float = 0.0,
    progress: bool = False,
) -> pd.DataFrame:
    """:func:`amplitude_optimal_landscapes` for one loss and one target (same arguments).

    Args:
        loss: a spectral loss of :mod:`sot_utils.losses`.
        target: one tone ``[n_samples]`` or ``[1, n_samples]``.

    Returns:
        one row per candidate: ``candidate_hz``, ``loss`` (the smallest value reached),
        ``strongest_partial`` (of the audible partials at the end).
    """
    target = target.reshape(1, -1)
    check_tensor("target", target, ndim=2, layout="[1, n_samples]")
    frame = amplitude_optimal_landscapes(
        {"loss": loss}, target, candidates_hz, n_harmonics, steps, learning_rate, fundamental_floor, progress
    )
    return frame[["candidate_hz", "loss", "strongest_partial"]]


def trap_landscapes(
    groups,
    partial_counts,
    target_f0_hz: float,
    candidates_hz: torch.Tensor,
    steps: int = 300,
    fundamental_floor: float = 0.0,
    amplitude: float = 0.7,
    progress: bool = False,
) -> pd.DataFrame:
    """Amplitude-optimal landscapes of the paper's losses around K-partial targets (notebook 07).

    Each target has f0 ``target_f0_hz`` and its first K partials at ``amplitude``, one target per
    K in ``partial_counts``; every group's loss (:func:`sot_utils.training.loss_config.paper_loss`) is optimised
    over the candidates' amplitudes by :func:`amplitude_optimal_landscapes`, all in one optimisation.

    Args:
        groups: paper groups, e.g. :data:`sot_utils.training.loss_config.PAPER_GROUPS`.
        partial_counts: the K of the targets (1 to 8).
        target_f0_hz: Hz.
        candidates_hz: ``[C]`` candidate f0 values, Hz.
        steps, fundamental_floor, progress: as :func:`amplitude_optimal_landscapes`.
        amplitude: the targets' partial amplitude.

    Returns:
        one row per (K, group, candidate), in that order: ``candidate_hz``, ``loss``,
        ``strongest_partial``, ``group``, ``n_partials``.
    """
    groups, partial_counts = list(groups), [check_int("partial_counts", k, minimum=1) for k in partial_counts]
    check_positive_number("target_f0_hz", target_f0_hz)
    check_positive_number("amplitude", amplitude)
    amplitudes = torch.zeros(len(partial_counts), max(partial_counts))
    for row, count in enumerate(partial_counts):
        amplitudes[row, :count] = amplitude
    targets = harmonic_tones(torch.full((len(partial_counts),), float(target_f0_hz)), amplitudes)
    losses = {group: paper_loss(group, reduction="none") for group in groups}
    frame = amplitude_optimal_landscapes(
        losses, targets, candidates_hz, steps=steps, fundamental_floor=fundamental_floor, progress=progress
    )
    frame = frame.assign(
        group=frame["loss_name"],
        n_partials=np.asarray(partial_counts)[frame["target"]],
        group_order=frame["loss_name"].map({group: i for i, group in enumerate(groups)}),
    )
    frame = frame.sort_values(["target", "group_order"], kind="stable", ignore_index=True)
    return frame[["candidate_hz", "loss", "strongest_partial", "group", "n_partials"]]


DIP_OCTAVES = 0.03
"""The dip at 2 f0: candidates closer than this (octaves) to 2 f0 lie inside it, and 2 f0 is a dip when
its loss is below that of the nearest candidates beyond it on both sides."""
PREFERENCE_MARGIN = 0.02
"""How much lower than the best exact sub-harmonic f0/k the loss at the truth must be, as a share of
the curve's highest loss, for a landscape to prefer the truth (:func:`sub_harmonic_preference`).
The minima are found by 300 Adam steps, not exactly: the same landscapes computed on two CPUs moved
these differences by up to 0.013 of the curve's range, so a smaller gap is a tie."""


def _nearest(frame: pd.DataFrame, hz: float) -> pd.Series:
    return frame.iloc[(np.log(frame["candidate_hz"]) - np.log(hz)).abs().argmin()]


def sub_harmonic_preference(
    landscapes: pd.DataFrame, target_f0_hz: float, margin: float = PREFERENCE_MARGIN
) -> pd.DataFrame:
    """Per loss and target of :func:`trap_landscapes`: does the landscape prefer the truth? (notebook 07)

    Args:
        landscapes: :func:`trap_landscapes`'s rows.
        target_f0_hz: the targets' f0, Hz.
        margin: the gap, as a share of the curve's highest loss, that counts as a preference
            (:data:`PREFERENCE_MARGIN`).

    Returns:
        one row per (group, partials): ``loss at f0``, ``best sub-harmonic`` (``"f0/k"`` of the
        lowest exact sub-harmonic, ``"-"`` when K > 10 leaves none), ``loss there``, ``highest
        loss``, ``loss at 2 f0``, ``2 f0 a dip`` (lower than the nearest candidates at least :data:`DIP_OCTAVES`
        octave away on either side) and ``truth lower`` (the loss at f0 is lower than at the best
        f0/k by more than ``margin`` of the highest loss).
    """
    check_positive_number("target_f0_hz", target_f0_hz)
    check_unit_interval("margin", margin)
    rows = []
    for (group, count), frame in landscapes.groupby(["group", "n_partials"], sort=False):
        subs = [_nearest(frame, target_f0_hz / k) for k in subharmonic_ratios(int(count))[1:]]
        best_sub = min(subs, key=lambda row: row["loss"]) if subs else None
        octave = _nearest(frame, 2 * target_f0_hz)
        # grid points closer than DIP_OCTAVES to 2 f0 lie inside its dip: compare with the nearest beyond
        frame = frame.sort_values("candidate_hz", ignore_index=True)
        offset = np.log2(frame["candidate_hz"] / (2 * target_f0_hz))
        beside = min(
            frame.loc[offset <= -DIP_OCTAVES, "loss"].iloc[-1], frame.loc[offset >= DIP_OCTAVES, "loss"].iloc[0]
        )
        rows.append(
            {
                "group": group,
                "partials": int(count),
                "loss at f0": _nearest(frame, target_f0_hz)["loss"],
                "best sub-harmonic": f"f0/{round(target_f0_hz / best_sub['candidate_hz'])}" if subs else "-",
                "loss there": best_sub["loss"] if subs else np.nan,
                "highest loss": frame["loss"].max(),
                "loss at 2 f0": octave["loss"],
                "2 f0 a dip": bool(octave["loss"] < beside),
            }
        )
    table = pd.DataFrame(rows)
    table["truth lower"] = table["loss there"] - table["loss at f0"] > margin * table["highest loss"]
    return table


def fit_f0_and_amplitudes(
    loss: Callable,
    targets: torch.Tensor,
    start_hz: torch.Tensor,
    n_harmonics: int = 20,
    steps: int = 300,
    f0_learning_rate: float = 0.02,
    amplitude_learning_rate: float = 0.05,
    prior_weight: float = 0.0,
    fundamental_floor: float = 0.0,
    progress: bool = False,
) -> pd.DataFrame:
    """Fit each target's f0 and amplitudes together by gradient descent (no encoder).

    f0 is parametrised as ``log2 f0`` (Adam steps of about ``f0_learning_rate`` octaves), the
    amplitudes as the decoder's (``exp_sigmoid`` of logits starting at 0). ``prior_weight`` adds
    :func:`sot_utils.losses.harmonic_index_prior`, as the ``harmonic_prior_weight`` remedy does in
    training, and ``fundamental_floor`` the decoder's floor on the fundamental
    (:func:`sot_utils.synth.floor_fundamental`), as the ``fundamental_floor`` remedy does.

    Args:
        loss: per-example loss (``reduction="none"``).
        targets: ``[T, n_samples]`` tones.
        start_hz: ``[T]`` initial f0 of each fit, Hz.

    Returns:
        one row per target: ``start_hz``, ``final_hz``, ``loss``, ``strongest_partial`` (audible,
        at the end), ``prior`` (the energy-weighted harmonic index minus 1 at the end).
    """
    check_bool("progress", progress)
    check_tensor("targets", targets, ndim=2, layout="[T, n_samples]")
    check_tensor("start_hz", start_hz, ndim=1, layout="[T]", positive=True)
    if len(start_hz) != len(targets):
        raise ValueError(f"`start_hz` needs one value per target ({len(targets)}), got {len(start_hz)}")
    check_int("steps", steps, minimum=1)
    loss_to_targets = loss_to_target(loss, targets)
    log2_f0 = torch.log2(start_hz).clone().requires_grad_()
    logits = torch.zeros(len(targets), n_harmonics, requires_grad=True)
    optimizer = torch.optim.Adam(
        [{"params": [log2_f0], "lr": f0_learning_rate}, {"params": [logits], "lr": amplitude_learning_rate}]
    )
    for _ in tqdm(range(steps), desc="fit", disable=not progress, leave=False):
        optimizer.zero_grad()
        f0 = 2.0 ** log2_f0.clamp(min=math.log2(20.0), max=math.log2(7900.0))
        amplitudes = floor_fundamental(exp_sigmoid(logits), fundamental_floor)
        values = loss_to_targets(_render(f0, amplitudes))
        if prior_weight:
            values = values + prior_weight * harmonic_index_prior(
                f0[:, None].expand(-1, N_FRAMES), amplitudes[:, None].expand(-1, N_FRAMES, -1)
            )
        values.sum().backward()
        optimizer.step()
    with torch.no_grad():
        f0 = 2.0 ** log2_f0.clamp(min=math.log2(20.0), max=math.log2(7900.0))
        amplitudes = floor_fundamental(exp_sigmoid(logits), fundamental_floor)
        final = loss_to_targets(_render(f0, amplitudes))
        frames = (f0[:, None].expand(-1, N_FRAMES), amplitudes[:, None].expand(-1, N_FRAMES, -1))
        prior = harmonic_index_prior(*frames)
    strongest = _strongest_audible_partial(f0, amplitudes)
    return pd.DataFrame(
        {
            "start_hz": start_hz.numpy(),
            "final_hz": f0.numpy(),
            "loss": final.numpy(),
            "strongest_partial": strongest.numpy(),
            "prior": prior.numpy(),
        }
    )


@torch.no_grad()
def untrained_f0(model_config, seed: int, cqt: torch.Tensor) -> np.ndarray:
    """Median f0 over frames, per tone, that a freshly initialised model of ``seed`` predicts.

    Args:
        model_config: a :class:`sot_utils.training.config.ModelConfig` (its ``build()``).
        seed: the run's seed (it fixes the initial weights, as in training).
        cqt: ``[N, n_frames, n_bins]`` encoder inputs.

    Returns:
        ``[N]`` Hz (eval mode: no dropout).
    """
    torch.manual_seed(seed)
    model = model_config.build().eval()
    return model.encoder(cqt).f0_hz.median(dim=-1).values.numpy()


def fundamental_ratio(
    audio: torch.Tensor, f0_hz: torch.Tensor, n_partials: int = 8, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """Amplitude of each tone's fundamental over that of its strongest partial (of the first ``n_partials``).

    A decoder whose fundamental is floored at ``r`` (:func:`sot_utils.synth.floor_fundamental`)
    renders a tone exactly only if this ratio is at least ``r``. Amplitudes are the peaks of a
    flat-top-windowed spectrum of the whole excerpt (flat top: the peak reads the amplitude within
    0.01 dB wherever the partial falls between bins), searched within a quarter of f0 around each
    ``k f0``; partials at or above Nyquist are left out.

    Args:
        audio: ``[N, n_samples]`` tones.
        f0_hz: ``[N]`` their f0, Hz.
        n_partials: partials compared (the synthetic tones have at most 8).
        sample_rate: Hz.

    Returns:
        ``[N]`` in ``[0, 1]``.
    """
    check_tensor("audio", audio, ndim=2, layout="[N, n_samples]")
    check_tensor("f0_hz", f0_hz, ndim=1, layout="[N]", positive=True)
    if len(f0_hz) != len(audio):
        raise ValueError(f"`f0_hz` needs one value per tone ({len(audio)}), got {len(f0_hz)}")
    check_int("n_partials", n_partials, minimum=1)
    if (f0_hz >= sample_rate / 2).any():
        raise ValueError(f"`f0_hz` must be below Nyquist ({sample_rate / 2} Hz), got up to {float(f0_hz.max())} Hz")
    n_samples = audio.shape[-1]
    window = scipy.signal.windows.flattop(n_samples, sym=False)
    spectrum = np.abs(np.fft.rfft(audio.double().numpy() * window, axis=-1))
    bin_hz = sample_rate / n_samples
    ratios = np.empty(len(audio))
    for i, f0 in enumerate(f0_hz.double().numpy()):
        peaks = []
        for k in range(1, n_partials + 1):
            if k * f0 >= sample_rate / 2:
                break
            lo, hi = int(np.floor((k - 0.25) * f0 / bin_hz)), int(np.ceil((k + 0.25) * f0 / bin_hz))
            peaks.append(spectrum[i, max(lo, 0) : min(hi, spectrum.shape[-1] - 1) + 1].max())
        ratios[i] = peaks[0] / max(peaks) if max(peaks) > 0 else np.nan
    return ratios


def wasserstein2_mean_split(
    positions: torch.Tensor, u_weights: torch.Tensor, v_weights: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``W_2^2(u, v)`` split into a centroid term and a shape term (notebook 08).

    For probability measures on the line with means ``mu_u``, ``mu_v``,

        ``W_2^2(u, v) = (mu_u - mu_v)^2 + W_2^2(u - mu_u, v - mu_v)``,

    where ``u - mu_u`` is ``u`` translated to zero mean. Proof: in 1-D, ``W_2^2 = int_0^1
    (F_u^{-1}(q) - F_v^{-1}(q))^2 dq``; write each quantile function as its mean plus a centred part
    whose integral over ``q`` is zero, and the cross term vanishes (e.g. Peyré & Cuturi,
    *Computational Optimal Transport*, 2019, remark 2.19 for the general bias-variance form).

    For spectral OT (p = 2, balanced, or ``mode="cut"`` with equal masses) this means a candidate
    f0 is pulled towards the f0 at which the estimate's power centroid equals the target's, whatever
    the shape term says: see :func:`centroid_f0`.

    Args:
        positions: shared support, e.g. bin frequencies in Hz, ``[n_bins]`` (any order).
        u_weights, v_weights: non-negative masses ``[..., n_bins]``, each normalised here to unit
            mass (not all zero).

    Returns:
        ``(centroid_term, shape_term)``, each ``[...]``, in squared units of ``positions``; their
        sum is ``W_2^2(u, v)``.
    """
    check_tensor("positions", positions, ndim=1, layout="[n_bins]")
    check_tensor("u_weights", u_weights, min_ndim=1, layout="[..., n_bins]", nonnegative=True)
    check_tensor("v_weights", v_weights, min_ndim=1, layout="[..., n_bins]", nonnegative=True)
    check_same_shape("u_weights", u_weights, "v_weights", v_weights)
    if u_weights.shape[-1] != len(positions):
        raise ValueError(f"`u_weights` needs one mass per position ({len(positions)}), got {u_weights.shape[-1]}")
    for name, weights in (("u_weights", u_weights), ("v_weights", v_weights)):
        if bool((weights.sum(dim=-1) == 0).any()):
            raise ValueError(f"`{name}` must not be all zero in any measure")
    u = u_weights / u_weights.sum(dim=-1, keepdim=True)
    v = v_weights / v_weights.sum(dim=-1, keepdim=True)
    mean_u, mean_v = (u * positions).sum(dim=-1), (v * positions).sum(dim=-1)
    shape = wasserstein_1d(positions - mean_u[..., None], positions - mean_v[..., None], u, v, p=2)
    return (mean_u - mean_v).square(), shape


def centroid_f0(f0_hz, target_centroid, decoder_centroid) -> np.ndarray:
    """The f0 at which a decoder's power centroid sits on the target's (notebook 08).

    A tone of f0 ``F`` whose power-weighted mean harmonic index is ``M``
    (:func:`sot_utils.metrics.harmonic_centroid`) has its power centroid at ``M F``. A decoder that
    spreads its energy over its harmonics with mean index ``M_dec`` matches the centroid of a target
    (f0 ``F``, mean index ``M``) at ``F M / M_dec``: there the centroid term of ``W_2^2``
    (:func:`wasserstein2_mean_split`) is zero. The pitch error of that f0 is
    ``log2(M / M_dec)`` octaves: the truth only when the decoder's harmonic balance is the target's.

    Args:
        f0_hz: true f0, Hz, > 0 (array-like).
        target_centroid: the target's mean harmonic index ``M`` (>= 1), broadcastable to ``f0_hz``.
        decoder_centroid: the decoder's mean harmonic index ``M_dec`` (>= 1), broadcastable.

    Returns:
        Hz, the broadcast shape.
    """
    f0, target, decoder = (np.asarray(x, dtype=float) for x in (f0_hz, target_centroid, decoder_centroid))
    if not (np.isfinite(f0).all() and (f0 > 0).all()):
        raise ValueError("`f0_hz` must be finite and > 0 Hz")
    for name, value in (("target_centroid", target), ("decoder_centroid", decoder)):
        if not (np.isfinite(value).all() and (value >= 1).all()):
            raise ValueError(f"`{name}` must be a mean harmonic index, finite and >= 1")
    return f0 * target / decoder


def _per_tone(f0_true_hz, f0_est_hz, target_centroid, minimum: int, needs: str) -> dict[str, np.ndarray]:
    """The per-tone arguments of the centroid slopes as float arrays, checked: one value per tone,
    finite, f0 > 0, mean harmonic index >= 1, and at least ``minimum`` tones (for ``needs``)."""
    arrays = {
        name: np.asarray(value, dtype=float).ravel()
        for name, value in (("f0_true_hz", f0_true_hz), ("f0_est_hz", f0_est_hz), ("target_centroid", target_centroid))
    }
    n = len(arrays["f0_true_hz"])
    for name, value in arrays.items():
        if len(value) != n:
            raise ValueError(f"`{name}` needs one value per tone ({n}), got {len(value)}")
        if not np.isfinite(value).all():
            raise ValueError(f"`{name}` must be finite")
    if n < minimum:
        raise ValueError(f"`f0_true_hz` needs at least {minimum} tones for {needs}, got {n}")
    if (arrays["f0_true_hz"] <= 0).any() or (arrays["f0_est_hz"] <= 0).any():
        raise ValueError("`f0_true_hz` and `f0_est_hz` must be > 0 Hz")
    if (arrays["target_centroid"] < 1).any():
        raise ValueError("`target_centroid` must be a mean harmonic index, >= 1")
    return arrays


def centroid_slope(f0_true_hz, f0_est_hz, target_centroid) -> dict[str, float]:
    """How much a run's pitch errors follow its targets' spectral centroids (notebook 08).

    The least-squares line of the pitch error ``log2(f0_est / f0_true)`` (octaves) against
    ``log2 M`` (``M``: each target's mean harmonic index, :func:`sot_utils.metrics.harmonic_centroid`),
    by :func:`scipy.stats.linregress`. A model whose decoder uses about the same harmonic balance
    ``M_dec`` for every tone, and whose f0 the centroid term sets (:func:`centroid_f0`), errs by
    ``log2 M - log2 M_dec``: slope 1, intercept ``-log2 M_dec``. A model that has learned pitch errs
    by nothing whatever the spectrum: slope 0.

    Args:
        f0_true_hz, f0_est_hz: ``[N]`` Hz, > 0, one f0 per tone.
        target_centroid: ``[N]``, >= 1, not all equal (the slope needs spectra of several shapes).

    Returns:
        ``{"slope", "intercept", "residual_octaves", "n_tones"}``: ``-intercept`` is ``log2`` of the
        decoder's typical mean harmonic index when the slope is near 1; ``residual_octaves`` is the
        RMS distance of the errors from the line (0 when the line explains every error).
    """
    arrays = _per_tone(f0_true_hz, f0_est_hz, target_centroid, minimum=3, needs="a slope")
    if np.ptp(arrays["target_centroid"]) == 0:
        raise ValueError("`target_centroid` must not be all equal: the slope needs spectra of several shapes")
    x = np.log2(arrays["target_centroid"])
    errors = np.log2(arrays["f0_est_hz"] / arrays["f0_true_hz"])
    fit = scipy.stats.linregress(x, errors)
    residual = float(np.sqrt(np.mean((errors - fit.intercept - fit.slope * x) ** 2)))
    return {
        "slope": float(fit.slope),
        "intercept": float(fit.intercept),
        "residual_octaves": residual,
        "n_tones": len(x),
    }


def centroid_partial_slope(f0_true_hz, f0_est_hz, target_centroid) -> dict[str, float]:
    """How much a model's pitch errors follow its targets' spectral centroids at a fixed true f0
    (the stage statistic of the causal test, docs/evidence_plan.md).

    Least squares of the pitch error ``e = log2(f0_est / f0_true)`` (octaves) on both
    ``x = log2 M`` (each target's mean harmonic index, :func:`sot_utils.metrics.harmonic_centroid`)
    and ``z = log2 f0_true``: ``e ~ a + b_M x + b_F z``. :func:`centroid_slope` regresses on ``x``
    alone, and any error that depends on the true f0 leaks into it where ``M`` and f0 are correlated
    (on this data high tones have fewer audible partials): a constant predictor, ``e = c - z``,
    scores about 0.4 there. Here it scores ``b_M = 0`` exactly (``b_F = -1``); a model that
    has learned pitch scores 0 (``e = 0``); a model in the centroid stage (:func:`centroid_f0`,
    ``e = x - log2 M_dec``) scores ``b_M = 1``, ``b_F = 0``.

    Args:
        f0_true_hz, f0_est_hz: ``[N]`` Hz, > 0, one f0 per tone.
        target_centroid: ``[N]``, >= 1; ``x`` and ``z`` must not be collinear (tones of several
            shapes at several f0).

    Returns:
        ``{"partial_slope", "f0_slope", "intercept", "partial_slope_se", "residual_octaves", "n_tones"}``:
        ``partial_slope`` is ``b_M`` with its standard error (ordinary least squares), ``f0_slope``
        is ``b_F``; ``residual_octaves`` is the RMS residual.
    """
    arrays = _per_tone(f0_true_hz, f0_est_hz, target_centroid, minimum=4, needs="two slopes and an intercept")
    n = len(arrays["f0_true_hz"])
    design = np.column_stack([np.ones(n), np.log2(arrays["target_centroid"]), np.log2(arrays["f0_true_hz"])])
    if np.linalg.matrix_rank(design) < 3:
        raise ValueError(
            "`target_centroid` and `f0_true_hz` must vary independently (tones of several shapes at several f0): "
            "log2 of one is constant or a linear function of the other"
        )
    errors = np.log2(arrays["f0_est_hz"] / arrays["f0_true_hz"])
    coefficients, *_ = np.linalg.lstsq(design, errors, rcond=None)
    residuals = errors - design @ coefficients
    dof = max(n - 3, 1)
    covariance = np.linalg.inv(design.T @ design) * (residuals @ residuals) / dof
    return {
        "partial_slope": float(coefficients[1]),
        "f0_slope": float(coefficients[2]),
        "intercept": float(coefficients[0]),
        "partial_slope_se": float(np.sqrt(covariance[1, 1])),
        "residual_octaves": float(np.sqrt(np.mean(residuals**2))),
        "n_tones": n,
    }
