"""Evaluation metrics of the paper (docs/method.md#method-metrics): LSD, RPA, RCA, octave difference, MSS, MSE.

Audio metrics take the peak-normalised target ``x`` and the reconstruction ``ŝ`` as
``[batch, n_samples]`` tensors and return tensors (differentiable, on the input's device).
Pitch metrics take f0 in Hz (tensors, arrays or lists), go through ``mir_eval`` and return
Python floats.

The reference computes each metric on one test batch (8 examples) and averages over batches; with
equal-size batches that is the global mean these functions return when given the whole set.

- **LSD** (:func:`log_spectral_distance`) is the reference's: the mean *squared* dB difference of
  floored power spectra, in **dB², without a square root** (docs/method.md#ambiguity-lsd-root). The paper's table uses
  this value. :func:`log_spectral_distance_rms_db` is the conventional rooted LSD, in dB.
- **RPA / RCA**: every frame counts and is voiced; f0 in cents relative to 10 Hz
  (``mir_eval.melody.hz2cents``); correct within 50 cents (RCA: modulo octaves); in percent.
- **Octave difference**: the mean signed octave count, reported with the sign flip of
  ``eval_paper.py``: positive when estimates lie above the truth (e.g. the 2nd harmonic), negative
  for sub-octave estimates.
"""

from __future__ import annotations

import mir_eval.melody
import numpy as np
import scipy.special
import torch

from .losses import MultiScaleSpectralLoss
from .spectral import stft_magnitude
from .validation import check_audio_pair, check_choice, check_positive_number, check_tensor

__all__ = [
    "compute_metrics",
    "harmonic_centroid",
    "harmonic_energy_share",
    "harmonic_usage",
    "log_power_spectrogram_db",
    "log_spectral_distance",
    "log_spectral_distance_rms_db",
    "mss_distance",
    "octave_difference",
    "pitch_error_direction",
    "pitch_tracking",
    "raw_chroma_accuracy",
    "raw_pitch_accuracy",
    "waveform_mse",
]

LSD_N_FFT = 1024
LSD_HOP_LENGTH = 256
POWER_FLOOR = 1e-5  # power floor of the LSD spectra: -50 dB
PITCH_BASE_FREQUENCY_HZ = 10.0  # mir_eval's cent reference
REDUCTIONS = ("mean", "none")


# --------------------------------------------------------------------------------------------
# Audio metrics


def log_power_spectrogram_db(audio: torch.Tensor) -> torch.Tensor:
    """Floored power spectrogram of the LSD, ``10 log10(max(|X|², 1e-5))`` in dB (floor -50 dB).

    STFT: n_fft 1024, hop 256, periodic Hann, not centred, end padding, normalised
    (:func:`sot_utils.spectral.stft_magnitude`).

    Args:
        audio: ``[batch, n_samples]``.

    Returns:
        ``[batch, n_frames, 513]`` dB, ``n_frames = ceil(n_samples / 256)``.
    """
    magnitude = stft_magnitude(audio, LSD_N_FFT, LSD_HOP_LENGTH, "hann")
    return 10.0 * torch.log10(torch.clamp(magnitude**2, min=POWER_FLOOR))


def log_spectral_distance(target: torch.Tensor, estimate: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Log-spectral distance as the reference computes it: mean squared dB difference, **dB²**.

    ``LSD = mean_{frames, bins} (P_x - P_ŝ)²`` with ``P = 10 log10(max(|X|², 1e-5))`` from
    :func:`log_power_spectrogram_db`. No square root (unlike the textbook LSD; see
    :func:`log_spectral_distance_rms_db`). This is the paper's table value and checkpoint criterion.

    Args:
        target: ``[batch, n_samples]``.
        estimate: ``[batch, n_samples]``.
        reduction: ``"mean"`` (scalar, also over the batch) or ``"none"`` (``[batch]``).

    Returns:
        dB², scalar or ``[batch]``.
    """
    check_choice("reduction", reduction, REDUCTIONS)
    check_audio_pair(target, estimate)
    squared = (log_power_spectrogram_db(target) - log_power_spectrogram_db(estimate)) ** 2
    per_example = squared.mean(dim=(-2, -1))
    return per_example.mean() if reduction == "mean" else per_example


def log_spectral_distance_rms_db(target: torch.Tensor, estimate: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Conventional (rooted) log-spectral distance, in **dB**.

    Per frame ``sqrt(mean_bins (P_x - P_ŝ)²)``, then the mean over frames (and batch), with the
    same spectra as :func:`log_spectral_distance`. Not the paper's value: its table reports the
    dB² version.

    Args:
        target: ``[batch, n_samples]``.
        estimate: ``[batch, n_samples]``.
        reduction: ``"mean"`` (scalar) or ``"none"`` (``[batch]``).

    Returns:
        dB, scalar or ``[batch]``.
    """
    check_choice("reduction", reduction, REDUCTIONS)
    check_audio_pair(target, estimate)
    squared = (log_power_spectrogram_db(target) - log_power_spectrogram_db(estimate)) ** 2
    per_example = torch.sqrt(squared.mean(dim=-1)).mean(dim=-1)
    return per_example.mean() if reduction == "mean" else per_example


def mss_distance(target: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
    """Multi-scale spectral distance (the reference's "MSS" metric).

    ``Σ_N mean|S - Ŝ| + mean|log S - log Ŝ|`` over FFT sizes N = 2048 … 64 (hop N/4, Hann,
    normalised STFT), ``log`` of ``max(S, 1e-5)``: :class:`sot_utils.losses.MultiScaleSpectralLoss`
    with both weights 1.

    Args:
        target: ``[batch, n_samples]``.
        estimate: ``[batch, n_samples]``.

    Returns:
        scalar (sum over scales of mean absolute differences of magnitudes and log-magnitudes).
    """
    check_audio_pair(target, estimate)
    return MultiScaleSpectralLoss(lin_weight=1.0, log_weight=1.0)(target, estimate)


def waveform_mse(target: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
    """Mean squared waveform error over batch and samples.

    Args:
        target: ``[batch, n_samples]``.
        estimate: ``[batch, n_samples]``.

    Returns:
        scalar, squared linear amplitude.
    """
    check_audio_pair(target, estimate)
    return torch.mean((target - estimate) ** 2)


# --------------------------------------------------------------------------------------------
# Pitch metrics


def _as_f0_array(name: str, value) -> np.ndarray:
    """``value`` (tensor, array or list) as a float64 numpy array, checked: 1-D or 2-D, finite, > 0."""
    if isinstance(value, torch.Tensor):
        tensor = value.detach().to(device="cpu", dtype=torch.float64)
    else:
        try:
            tensor = torch.from_numpy(np.asarray(value, dtype=np.float64))
        except (TypeError, ValueError):
            raise ValueError(f"`{name}` must be a numeric tensor or array of f0 values in Hz") from None
    if tensor.ndim not in (1, 2):
        raise ValueError(f"`{name}` must be [batch] or [batch, n_frames] (Hz), got shape {tuple(tensor.shape)}")
    check_tensor(name, tensor, positive=True)
    return tensor.numpy()


def _f0_cents(f0_true_hz, f0_est_hz) -> tuple[np.ndarray, np.ndarray]:
    """Flattened reference and estimate f0 in cents (re 10 Hz), the truth broadcast per frame.

    ``f0_true_hz`` may be ``[batch]`` (one f0 per example) against ``f0_est_hz``
    ``[batch, n_frames]``, or have the estimate's shape.
    """
    true = _as_f0_array("f0_true_hz", f0_true_hz)
    est = _as_f0_array("f0_est_hz", f0_est_hz)
    if true.ndim == 1 and est.ndim == 2:
        true = true[:, None]
    try:
        true = np.broadcast_to(true, est.shape)
    except ValueError:
        raise ValueError(
            f"`f0_true_hz` {np.shape(f0_true_hz)} does not match `f0_est_hz` {tuple(est.shape)}: "
            "expected [batch] or the estimate's shape"
        ) from None
    base = PITCH_BASE_FREQUENCY_HZ
    return (
        mir_eval.melody.hz2cents(true.ravel(), base_frequency=base),
        mir_eval.melody.hz2cents(est.ravel(), base_frequency=base),
    )


def _all_voiced_accuracy(mir_eval_metric, f0_true_hz, f0_est_hz, cent_tolerance) -> float:
    """A mir_eval melody accuracy in percent, every frame voiced."""
    ref_cents, est_cents = _f0_cents(f0_true_hz, f0_est_hz)
    voicing = np.ones_like(ref_cents)
    return 100.0 * float(mir_eval_metric(voicing, ref_cents, voicing, est_cents, cent_tolerance))


def raw_pitch_accuracy(f0_true_hz, f0_est_hz, cent_tolerance: float = 50) -> float:
    """Raw pitch accuracy: percent of frames with ``|est - ref| < cent_tolerance`` cents.

    All frames are flattened and treated as voiced; ``mir_eval.melody.raw_pitch_accuracy``.

    Args:
        f0_true_hz: ``[batch]`` or ``[batch, n_frames]``, Hz, > 0.
        f0_est_hz: ``[batch]`` or ``[batch, n_frames]``, Hz, > 0.
        cent_tolerance: cents (strict inequality, as mir_eval).

    Returns:
        percent, in [0, 100].
    """
    return _all_voiced_accuracy(mir_eval.melody.raw_pitch_accuracy, f0_true_hz, f0_est_hz, cent_tolerance)


def raw_chroma_accuracy(f0_true_hz, f0_est_hz, cent_tolerance: float = 50) -> float:
    """Raw chroma accuracy: as :func:`raw_pitch_accuracy` with octave errors folded.

    ``mir_eval.melody.raw_chroma_accuracy``: correct when the distance to the nearest whole
    number of octaves is below ``cent_tolerance`` cents.

    Args:
        f0_true_hz: ``[batch]`` or ``[batch, n_frames]``, Hz, > 0.
        f0_est_hz: ``[batch]`` or ``[batch, n_frames]``, Hz, > 0.
        cent_tolerance: cents.

    Returns:
        percent, in [0, 100].
    """
    return _all_voiced_accuracy(mir_eval.melody.raw_chroma_accuracy, f0_true_hz, f0_est_hz, cent_tolerance)


def octave_difference(f0_true_hz, f0_est_hz) -> float:
    """Mean signed octave error, in the **reported** sign convention (docs/method.md#method-metrics).

    Per frame, ``d = ref_cents - est_cents``, ``n_oct = floor((|d| + 50) / 1200)`` (an error of
    1150 cents or more counts as one octave), ``OD_raw = mean(sign(d) n_oct)``; the reference's
    ``eval_paper.py`` reports ``OD = -OD_raw``, returned here. **Positive**: estimates above the
    truth (``est = 2 ref`` gives +1, e.g. locking on the 2nd harmonic); **negative**: sub-octave
    estimates (``est = ref / 2`` gives -1). Not rounded (the paper rounds to 2 decimals).

    Args:
        f0_true_hz: ``[batch]`` or ``[batch, n_frames]``, Hz, > 0.
        f0_est_hz: ``[batch]`` or ``[batch, n_frames]``, Hz, > 0.

    Returns:
        octaves (mean over all frames).
    """
    ref_cents, est_cents = _f0_cents(f0_true_hz, f0_est_hz)
    # mir_eval marks 0 cents (exactly 10 Hz) as unvoiced; the reference skips those frames too
    both_voiced = (ref_cents != 0) & (est_cents != 0)
    d = (ref_cents - est_cents)[both_voiced]
    sign = np.sign(d)
    n_octaves = np.floor(np.abs(d + 50.0 * sign) / 1200.0)
    od_raw = np.sum(sign * n_octaves) / ref_cents.size
    return float(0.0 - od_raw)  # not -od_raw: no negative zero


def pitch_tracking(f0_true_hz, f0_est_hz) -> dict[str, float]:
    """How the estimates follow the truth when they miss it: offset and correlation in log f0.

    RPA is 0 both for an estimator that ignores its input and for one that tracks pitch at a
    constant wrong interval; these two numbers tell them apart. Per frame,
    ``r = log2(f0_est / f0_true)``.

    Args:
        f0_true_hz: ``[batch]`` or ``[batch, n_frames]``, Hz, > 0.
        f0_est_hz: ``[batch]`` or ``[batch, n_frames]``, Hz, > 0.

    Returns:
        ``{"offset_octaves": median of r, "offset_iqr_octaves": interquartile range of r,
        "log_f0_correlation": Pearson correlation of log f0_true and log f0_est}`` (the
        correlation is NaN if either side is constant).
    """
    ref_cents, est_cents = _f0_cents(f0_true_hz, f0_est_hz)
    ratio = (est_cents - ref_cents) / 1200.0  # log2(est / true)
    q1, median, q3 = np.quantile(ratio, [0.25, 0.5, 0.75])
    if np.ptp(ref_cents) == 0 or np.ptp(est_cents) == 0:
        correlation = float("nan")
    else:
        correlation = float(np.corrcoef(ref_cents, est_cents)[0, 1])
    return {"offset_octaves": float(median), "offset_iqr_octaves": float(q3 - q1), "log_f0_correlation": correlation}


def pitch_error_direction(f0_true_hz, f0_est_hz, cent_tolerance: float = 50) -> dict[str, float]:
    """Which side of the truth the estimates miss on: percent of frames below, on and above it.

    The autoencoder's traps point both ways: a sub-harmonic reading (f0 / k, the decoder's partial
    k on the tone's fundamental) lies below the truth, and a reading of a higher partial as the
    fundamental (what a too-strong harmonic-index prior favours) lies above it. Notebook 07 uses it
    to tell the remedies' failures apart. "on" is :func:`raw_pitch_accuracy`.

    Args:
        f0_true_hz: ``[batch]`` or ``[batch, n_frames]``, Hz, > 0.
        f0_est_hz: ``[batch]`` or ``[batch, n_frames]``, Hz, > 0.
        cent_tolerance: cents; a frame is "on" when ``|est - ref| < cent_tolerance`` (strict, as
            mir_eval), "below" when ``est - ref <= -cent_tolerance``, "above" when
            ``est - ref >= cent_tolerance``.

    Returns:
        ``{"below": %, "on": %, "above": %}``, summing to 100.
    """
    check_positive_number("cent_tolerance", cent_tolerance)
    ref_cents, est_cents = _f0_cents(f0_true_hz, f0_est_hz)
    difference = est_cents - ref_cents
    # each side counted on its own (not 100 - the others): no -0.0 from rounding
    return {
        "below": 100.0 * float(np.mean(difference <= -cent_tolerance)),
        "on": 100.0 * float(np.mean(np.abs(difference) < cent_tolerance)),
        "above": 100.0 * float(np.mean(difference >= cent_tolerance)),
    }


def harmonic_energy_share(amplitudes: torch.Tensor) -> np.ndarray:
    """Share of each harmonic in the energy of every example: ``[batch, n_harmonics]``, rows sum to 1.

    ``share[b, k] = sum_t A[b, t, k]^2 / sum_{t, j} A[b, t, j]^2`` (the synth's partials are
    sinusoids, so their energies add).

    Args:
        amplitudes: linear harmonic amplitudes ``[batch, n_frames, n_harmonics]``, >= 0, not all
            zero in any example.
    """
    check_tensor("amplitudes", amplitudes, ndim=3, layout="[batch, n_frames, n_harmonics]", nonnegative=True)
    energy = amplitudes.detach().double().square().sum(dim=1)
    total = energy.sum(dim=-1, keepdim=True)
    if bool((total == 0).any()):
        raise ValueError("`amplitudes` must not be all zero in an example: its energy share is undefined")
    return (energy / total).cpu().numpy()


def harmonic_centroid(amplitudes: torch.Tensor) -> torch.Tensor:
    """Power-weighted mean harmonic index of a harmonic spectrum (notebook 08).

    ``M = sum_k k a_k^2 / sum_k a_k^2`` for harmonics ``k = 1 .. n_harmonics``: the spectral
    centroid of the tone's power spectrum in units of its f0 (a tone of f0 ``F`` has its power
    centroid at ``M F``). 1 for a pure tone, ``(K + 1) / 2`` for K equal partials.

    Args:
        amplitudes: linear harmonic amplitudes ``[..., n_harmonics]``, >= 0, not all zero in any
            spectrum (pass :func:`sot_utils.training.evaluate.audible_amplitudes` to leave out
            partials above Nyquist).

    Returns:
        ``[...]``, in ``[1, n_harmonics]``.
    """
    check_tensor("amplitudes", amplitudes, min_ndim=1, layout="[..., n_harmonics]", nonnegative=True)
    power = amplitudes.square()
    total = power.sum(dim=-1)
    if bool((total == 0).any()):
        raise ValueError("`amplitudes` must not be all zero in any spectrum: its centroid is undefined")
    index = torch.arange(1, amplitudes.shape[-1] + 1, dtype=power.dtype, device=power.device)
    return (power * index).sum(dim=-1) / total


def harmonic_usage(amplitudes: torch.Tensor) -> dict[str, float]:
    """Which harmonics an estimator uses: a collapse onto one partial shows here, not in RPA.

    An autoencoder can reconstruct a tone of f0 with partial k of a fundamental near f0 / k and
    the other partials silent; then f0 is off by log2(k) octaves while the audio matches.

    Args:
        amplitudes: ``[batch, n_frames, n_harmonics]``, linear (see :func:`harmonic_energy_share`).

    Returns:
        ``{"dominant_harmonic": the most frequent strongest harmonic (1 = fundamental),
        "dominant_share": mean over examples of the strongest harmonic's energy share (1/H to 1),
        "effective_harmonics": mean over examples of exp(entropy of the shares) (1 to H)}``.
    """
    share = harmonic_energy_share(amplitudes)
    strongest = share.argmax(axis=-1)
    entropy = scipy.special.entr(share).sum(axis=-1)  # -sum p log p, with 0 log 0 = 0
    return {
        "dominant_harmonic": int(np.bincount(strongest).argmax()) + 1,
        "dominant_share": float(share.max(axis=-1).mean()),
        "effective_harmonics": float(np.exp(entropy).mean()),
    }


# --------------------------------------------------------------------------------------------
# All at once


def compute_metrics(
    target_audio: torch.Tensor,
    estimate_audio: torch.Tensor,
    f0_true_hz,
    f0_est_hz,
) -> dict[str, float]:
    """The paper's evaluation metrics for a set of examples (docs/method.md#method-metrics).

    Args:
        target_audio: peak-normalised targets ``[batch, n_samples]``.
        estimate_audio: reconstructions ``[batch, n_samples]``.
        f0_true_hz: ``[batch]`` (or ``[batch, n_frames]``), Hz.
        f0_est_hz: per-frame estimates ``[batch, n_frames]`` (or ``[batch]``), Hz.

    Returns:
        ``{"lsd": dB², "rpa": %, "rca": %, "octave_difference": octaves (reported sign),
        "mss": sum over 6 scales, "mse": linear amplitude²}``.
    """
    with torch.no_grad():
        return {
            "lsd": float(log_spectral_distance(target_audio, estimate_audio)),
            "rpa": raw_pitch_accuracy(f0_true_hz, f0_est_hz),
            "rca": raw_chroma_accuracy(f0_true_hz, f0_est_hz),
            "octave_difference": octave_difference(f0_true_hz, f0_est_hz),
            "mss": float(mss_distance(target_audio, estimate_audio)),
            "mse": float(waveform_mse(target_audio, estimate_audio)),
        }
