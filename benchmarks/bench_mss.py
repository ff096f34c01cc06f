"""Time the multi-scale spectral loss (MSS-Lin, MSS-LogLin), forward + backward, against a plain
DDSP-style formulation written out here.

- ours: ``sot_utils.losses.MultiScaleSpectralLoss`` as ``paper_loss`` builds it (FFT sizes 2048 ...
  64, hop N/4, Hann, frames not centred, end padding, normalised STFT; L1 of the linear and, for
  MSS-LogLin, of the log magnitudes);
- plain: :func:`plain_mss`, one ``torch.stft`` per scale and the L1 terms written directly, as
  DDSP's ``SpectralLoss`` computes them (``tf.signal.stft(..., pad_end=True)``,
  ``safe_log(x) = log(max(x, 1e-5))``, means over batch, frames and bins).

Both compute the same quantity, so the values must agree to float32 rounding; the ratio says
whether our module adds overhead to the plain computation. Inputs: tones of the synthetic set
(targets) against other tones (estimates), ``[batch, 4096]``; the gradient is taken with respect
to the estimate, as in training.

Run as a section of the suite: ``python -m benchmarks.run_all --only mss``.
"""

from __future__ import annotations

import torch

from benchmarks import comparison, describe, forward_backward, harmonic_audio, log, section_meta, time_interleaved
from sot_utils.losses import LOG_EPS, MultiScaleSpectralLoss
from sot_utils.training.loss_config import paper_loss

MSS_GROUPS = ("MSS-Lin", "MSS-LogLin")
RTOL = 1e-4
"""The two formulations run the same float32 operations up to their order."""


def plain_mss(
    target: torch.Tensor,
    estimate: torch.Tensor,
    fft_sizes=(2048, 1024, 512, 256, 128, 64),
    lin_weight: float = 1.0,
    log_weight: float = 0.0,
) -> torch.Tensor:
    """DDSP's multi-scale spectral loss, written plainly: audio ``[batch, n_samples]`` → scalar."""
    n_samples = target.shape[-1]
    total = target.new_zeros(())
    for n_fft in fft_sizes:
        hop = n_fft // 4
        n_frames = -(-n_samples // hop)  # pad_end: ceil(n_samples / hop) frames
        pad = n_fft + hop * (n_frames - 1) - n_samples
        window = torch.hann_window(n_fft, dtype=target.dtype, device=target.device)

        def magnitude(audio):
            audio = torch.nn.functional.pad(audio, (0, pad))
            return torch.stft(
                audio, n_fft, hop, window=window, center=False, normalized=True, return_complex=True
            ).abs()

        s_target, s_estimate = magnitude(target), magnitude(estimate)
        if lin_weight:
            total = total + lin_weight * torch.mean(torch.abs(s_target - s_estimate))
        if log_weight:
            log_target = torch.log(torch.clamp(s_target, min=LOG_EPS))
            log_estimate = torch.log(torch.clamp(s_estimate, min=LOG_EPS))
            total = total + log_weight * torch.mean(torch.abs(log_target - log_estimate))
    return total


def plain_counterpart(loss: MultiScaleSpectralLoss):
    """The plain formulation with the settings of one of our MSS modules."""
    if loss.norm != "l1" or any(h != n // 4 for n, h in zip(loss.fft_sizes, loss.hop_lengths)):
        raise ValueError("plain_mss covers the paper's settings: L1, hop N/4")
    return lambda target, estimate: plain_mss(target, estimate, loss.fft_sizes, loss.lin_weight, loss.log_weight)


def compare_mss(group: str, batch: int, repeats: int, device: str = "cpu") -> dict:
    """One comparison record: plain formulation (baseline) against ours, forward + backward."""
    ours = paper_loss(group).to(device)
    target, estimate = harmonic_audio(batch, seed=0, device=device), harmonic_audio(batch, seed=1, device=device)
    fns = {
        "plain torch.stft": forward_backward(plain_counterpart(ours), target, estimate),
        "ours": forward_backward(ours, target, estimate),
    }
    values = {name: float(fn()) for name, fn in fns.items()}
    seconds = time_interleaved(fns, repeats, device=device)
    return comparison(seconds, "plain torch.stft", RTOL, values=values)


def run(quick: bool = False, repeats: int | None = None, device: str = "cpu", section: str = "mss") -> dict:
    """The ``mss`` section: both MSS groups on ``[64, 4096]`` audio (``[4, 4096]`` when ``quick``)."""
    repeats = repeats or (2 if quick else 11)
    batch = 4 if quick else 64
    table = {}
    for group in MSS_GROUPS:
        table[group] = compare_mss(group, batch, repeats, device)
        log(section, f"{group}, audio [{batch}, 4096]: {describe(table[group])}")
    return {
        "what": f"multi-scale spectral loss, forward + backward, audio [{batch}, 4096], {device}; "
        "baseline: DDSP's formulation written plainly (torch.stft per scale)",
        "meta": section_meta(device, repeats, quick, batch_size=batch),
        "tables": {f"MSS loss fwd+bwd, audio [{batch}, 4096]": table},
    }
