"""The voicing decision: is a signal a pitched tone the models were trained for?

Model-independent cues from the signal alone, so that :func:`sot_utils.training.estimate.estimate_f0`
reports silence, noise and out-of-range tones as unvoiced, with the reason, instead of the f0 a
model gives for anything. Notebook 06 measures the decision on tones, real notes and noise.
"""

from __future__ import annotations

import torch

from ..constants import (
    CQT_FMIN_HZ,
    CQT_HOP_LENGTH,
    SAMPLE_RATE,
    VOICING_MAX_FLATNESS,
    VOICING_MIN_LEVEL_DB,
    VOICING_RANGE_HZ,
)
from ..spectral import stft_magnitude

__all__ = ["VOICING_N_FFT", "voicing"]

VOICING_N_FFT = 1024  # 64 ms frames: 15.6 Hz bins


def voicing(audio: torch.Tensor) -> tuple[torch.Tensor, list[str], torch.Tensor, torch.Tensor]:
    """Is each example a pitched tone the models were trained for? Model-independent cues.

    Args:
        audio: ``[batch, n_samples]`` at 16 kHz, as given (not normalised), at least 4096 samples.

    Returns:
        ``(voiced [batch] bool, reasons, level_db [batch], flatness [batch])``. An example is
        unvoiced if it is silent (RMS below :data:`~sot_utils.constants.VOICING_MIN_LEVEL_DB`),
        noise (median spectral flatness above :data:`~sot_utils.constants.VOICING_MAX_FLATNESS`),
        or outside the trained range (:data:`~sot_utils.constants.VOICING_RANGE_HZ`). The
        thresholds and what they give on tones, real notes and noise: notebook 06.
    """
    centred = audio - audio.mean(dim=-1, keepdim=True)  # DC is not a tone
    level_db = 10 * torch.log10(centred.pow(2).mean(dim=-1).clamp(min=1e-30))
    power = stft_magnitude(centred, VOICING_N_FFT, CQT_HOP_LENGTH, "hann", pad_end=False) ** 2  # [B, T, F]
    frequencies = torch.linspace(0, SAMPLE_RATE / 2, power.shape[-1])
    band = power[..., (frequencies >= CQT_FMIN_HZ) & (frequencies <= 7750.0)] + 1e-20
    flatness = (band.log().mean(dim=-1).exp() / band.mean(dim=-1)).median(dim=-1).values
    total = power.sum(dim=(-2, -1)).clamp(min=1e-30)
    below_low = power[..., frequencies < VOICING_RANGE_HZ[0]].sum(dim=(-2, -1)) / total
    below_high = power[..., frequencies < VOICING_RANGE_HZ[1]].sum(dim=(-2, -1)) / total
    reasons = []
    for k in range(audio.shape[0]):
        if level_db[k] < VOICING_MIN_LEVEL_DB:
            reasons.append("silent")
        elif flatness[k] > VOICING_MAX_FLATNESS:
            reasons.append("noise")
        elif below_low[k] > 0.5:
            reasons.append("below the trained range")
        elif below_high[k] < 0.01:
            reasons.append("above the trained range")
        else:
            reasons.append("")
    voiced = torch.tensor([not reason for reason in reasons])
    return voiced, reasons, level_db, flatness
