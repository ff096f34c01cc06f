"""The autoencoder's traps: exact sub-harmonic minima, and where a run starts (notebook 07).

The decoder renders 20 harmonics; a synthetic tone has ``K <= 8``. A target with partials at
``f0, 2 f0, ..., K f0`` is then rendered *exactly* by the candidate ``f0 / k`` with only the
partials ``k, 2k, ..., Kk`` switched on, whenever ``K k <= 20``: every spectral loss is zero there
too. Which of these minima training reaches depends on where it starts.

- :func:`subharmonic_ratios`: the ``k`` for which ``f0 / k`` reproduces a K-partial tone exactly;
- :func:`amplitude_optimal_landscape`: for candidate f0 values, the loss after the candidate's
  amplitudes are optimised (the landscape the encoder's f0 head sees once the amplitude head has
  adapted);
- :func:`fit_f0_and_amplitudes`: f0 and amplitudes fitted together by gradient descent, per tone
  (the autoencoder's problem without the encoder): a cheap proxy of training;
- :func:`untrained_f0`: what a freshly initialised model predicts, per seed (its starting point);
- :func:`fundamental_ratio`: a recorded tone's fundamental amplitude over its strongest partial's
  (whether a decoder with a floored fundamental can render it).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import scipy.signal
import torch
from tqdm.auto import tqdm

from ..constants import N_FRAMES, N_SAMPLES, SAMPLE_RATE
from ..losses import harmonic_index_prior
from ..synth import exp_sigmoid, floor_fundamental, harmonic_synth
from ..validation import check_int, check_positive_number, check_tensor
from .landscape import per_example_loss

__all__ = [
    "amplitude_optimal_landscape",
    "fit_f0_and_amplitudes",
    "fundamental_ratio",
    "subharmonic_ratios",
    "untrained_f0",
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
    """The loss at each candidate f0 after the candidate's harmonic amplitudes are optimised.

    Each candidate's ``n_harmonics`` amplitudes are parametrised as the decoder's
    (``exp_sigmoid`` of logits, starting from logits 0: amplitude 0.41, as an untrained head
    gives about) and optimised with Adam for ``steps`` steps, all candidates as one batch. A
    candidate ``f0 / k`` of a K-partial target reaches about 0 when ``K k <= n_harmonics``, unless
    ``fundamental_floor`` (the decoder's, :func:`sot_utils.synth.floor_fundamental`) keeps its
    fundamental audible.

    Args:
        loss: per-example loss ``(target, estimate) -> [batch]`` (``reduction="none"``).
        target: one tone ``[n_samples]`` or ``[1, n_samples]``.
        candidates_hz: ``[C]`` candidate f0 values, Hz.
        fundamental_floor: the decoder's floor on the fundamental, in ``[0, 1]`` (0: the paper's).

    Returns:
        one row per candidate: ``candidate_hz``, ``loss`` (the smallest value reached),
        ``strongest_partial`` (of the audible partials at the end).
    """
    target = target.reshape(1, -1)
    check_tensor("target", target, ndim=2, layout="[1, n_samples]")
    check_tensor("candidates_hz", candidates_hz, ndim=1, layout="[C]", positive=True)
    check_int("n_harmonics", n_harmonics, minimum=1)
    check_int("steps", steps, minimum=1)
    check_positive_number("learning_rate", learning_rate)
    targets = target.expand(len(candidates_hz), -1)
    logits = torch.zeros(len(candidates_hz), n_harmonics, requires_grad=True)
    optimizer = torch.optim.Adam([logits], lr=learning_rate)
    best = torch.full((len(candidates_hz),), math.inf)
    for _ in tqdm(range(steps), desc="amplitudes", disable=not progress, leave=False):
        optimizer.zero_grad()
        amplitudes = floor_fundamental(exp_sigmoid(logits), fundamental_floor)
        values = per_example_loss(loss, targets, _render(candidates_hz, amplitudes))
        best = torch.minimum(best, values.detach())
        values.sum().backward()
        optimizer.step()
    amplitudes = floor_fundamental(exp_sigmoid(logits.detach()), fundamental_floor)
    ratios = torch.arange(1, n_harmonics + 1)
    audible = candidates_hz[:, None] * ratios < SAMPLE_RATE / 2
    strongest = (amplitudes.pow(2) * audible).argmax(dim=-1) + 1
    return pd.DataFrame(
        {"candidate_hz": candidates_hz.numpy(), "loss": best.numpy(), "strongest_partial": strongest.numpy()}
    )


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
    check_tensor("targets", targets, ndim=2, layout="[T, n_samples]")
    check_tensor("start_hz", start_hz, ndim=1, layout="[T]", positive=True)
    if len(start_hz) != len(targets):
        raise ValueError(f"`start_hz` needs one value per target ({len(targets)}), got {len(start_hz)}")
    check_int("steps", steps, minimum=1)
    log2_f0 = torch.log2(start_hz).clone().requires_grad_()
    logits = torch.zeros(len(targets), n_harmonics, requires_grad=True)
    optimizer = torch.optim.Adam(
        [{"params": [log2_f0], "lr": f0_learning_rate}, {"params": [logits], "lr": amplitude_learning_rate}]
    )
    for _ in tqdm(range(steps), desc="fit", disable=not progress, leave=False):
        optimizer.zero_grad()
        f0 = 2.0 ** log2_f0.clamp(min=math.log2(20.0), max=math.log2(7900.0))
        amplitudes = floor_fundamental(exp_sigmoid(logits), fundamental_floor)
        values = per_example_loss(loss, targets, _render(f0, amplitudes))
        if prior_weight:
            values = values + prior_weight * harmonic_index_prior(
                f0[:, None].expand(-1, N_FRAMES), amplitudes[:, None].expand(-1, N_FRAMES, -1)
            )
        values.sum().backward()
        optimizer.step()
    with torch.no_grad():
        f0 = 2.0 ** log2_f0.clamp(min=math.log2(20.0), max=math.log2(7900.0))
        amplitudes = floor_fundamental(exp_sigmoid(logits), fundamental_floor)
        final = per_example_loss(loss, targets, _render(f0, amplitudes))
        frames = (f0[:, None].expand(-1, N_FRAMES), amplitudes[:, None].expand(-1, N_FRAMES, -1))
        prior = harmonic_index_prior(*frames)
    audible = f0[:, None] * torch.arange(1, n_harmonics + 1) < SAMPLE_RATE / 2
    strongest = (amplitudes.pow(2) * audible).argmax(dim=-1) + 1
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
