"""The paper's harmonic autoencoder: CQT frames → encoder → DDSP synth → audio (docs/method.md#method-overview).

Taught in notebook 04 (training it) and used by notebooks 05-09.

The CQT does not depend on the model, so it is computed once per dataset
(:func:`cqt_features`) and the autoencoder starts from CQT frames. The reference feeds the
encoder ``x[:, :-1]`` (4095 samples) so that a 4096-sample example gives 16 CQT frames, one per
synthesizer control frame; :func:`cqt_features` does the same.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from tqdm.auto import tqdm

from .constants import N_SAMPLES, SAMPLE_RATE
from .encoder import ARCHITECTURE, EncoderOutput, PitchEncoder
from .spectral import CQT
from .synth import harmonic_synth
from .validation import check_bool, check_int, check_tensor

__all__ = [
    "HarmonicAutoencoder",
    "Prediction",
    "RollOffFilter",
    "cqt_features",
    "n_parameters",
    "predict",
    "roll_off_response",
]


def cqt_features(audio: torch.Tensor, batch_size: int = 64, progress: bool = True) -> torch.Tensor:
    """Encoder inputs for a set of examples: the CQT of ``audio[:, :-1]``.

    Args:
        audio: peak-normalised examples ``[N, n_samples]`` at 16 kHz.
        batch_size: examples per CQT call.
        progress: show a progress bar.

    Returns:
        ``[N, n_frames, n_bins]`` (``[N, 16, 285]`` for 4096-sample examples), float32.
    """
    check_bool("progress", progress)
    check_tensor("audio", audio, ndim=2, layout="[N, n_samples]")
    cqt = CQT()
    chunks = torch.split(audio[:, :-1], batch_size)
    with torch.no_grad():
        return torch.cat([cqt(chunk) for chunk in tqdm(chunks, desc="CQT", disable=not progress, leave=False)])


def roll_off_response(n_magnitudes: int = 65, corner_hz: float = 500.0, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Magnitude response ``[n_magnitudes]`` from 0 Hz to Nyquist: flat below ``corner_hz``,
    then -6 dB per octave (amplitude ``corner / f``), the decoder roll-off of repo A's MSS-LogLin."""
    frequencies = torch.linspace(0, sample_rate / 2, n_magnitudes, dtype=torch.float64)
    return torch.clamp(corner_hz / frequencies.clamp(min=1e-9), max=1.0)


class RollOffFilter(nn.Module):
    """Zero-phase FIR filter with the :func:`roll_off_response` (DDSP ``frequency_filter`` style):
    the inverse real FFT of the magnitudes, centred and Hann-windowed, applied with 'same' padding.
    """

    def __init__(self, n_magnitudes: int = 65, corner_hz: float = 500.0, sample_rate: int = SAMPLE_RATE):
        super().__init__()
        check_int("n_magnitudes", n_magnitudes, minimum=2)
        impulse = torch.fft.irfft(roll_off_response(n_magnitudes, corner_hz, sample_rate))  # [2 (n - 1)]
        impulse = torch.roll(impulse, impulse.shape[0] // 2) * torch.hann_window(
            impulse.shape[0], periodic=True, dtype=torch.float64
        )
        self.register_buffer("impulse", impulse.float().flip(0)[None, None], persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """``audio [batch, n_samples]`` → filtered ``[batch, n_samples]`` (zero delay)."""
        size = self.impulse.shape[-1]
        padded = nn.functional.pad(audio[:, None], (size // 2, size - size // 2 - 1))
        return nn.functional.conv1d(padded, self.impulse.to(audio.dtype))[:, 0]


class HarmonicAutoencoder(nn.Module):
    """Encoder (trained) + harmonic synthesizer (fixed) (+ optional roll-off filter).

    Args:
        n_samples: output length (4096).
        sample_rate: Hz.
        roll_off: filter the synthesizer output with :class:`RollOffFilter` (repo A's
            MSS-LogLin decoder; the authors later turned it off).
        oracle_amplitudes: the decoder plays each tone's true harmonic amplitudes, passed to
            :meth:`forward`, instead of the encoder's (not in the paper: the causal test of the
            centroid stage, docs/evidence_plan.md). Only the f0 head then shapes the loss; the
            amplitude head is left untrained, and the fundamental floor does not apply.
        encoder: keyword arguments of :class:`sot_utils.encoder.PitchEncoder`.

    ``roll_off`` and the encoder's defaults are the ``model`` section of ``sot_utils/configs/base.yaml``
    (:data:`sot_utils.encoder.ARCHITECTURE`): ``HarmonicAutoencoder()`` is
    ``sot_utils.training.config.ModelConfig().build()``.
    """

    def __init__(
        self,
        n_samples: int = N_SAMPLES,
        sample_rate: int = SAMPLE_RATE,
        roll_off: bool = ARCHITECTURE["roll_off"],
        oracle_amplitudes: bool = ARCHITECTURE["oracle_amplitudes"],
        **encoder,
    ):
        super().__init__()
        self.n_samples = check_int("n_samples", n_samples, minimum=1)
        self.sample_rate = check_int("sample_rate", sample_rate, minimum=1)
        self.encoder = PitchEncoder(**encoder)
        self.roll_off = RollOffFilter(sample_rate=sample_rate) if check_bool("roll_off", roll_off) else None
        self.oracle_amplitudes = check_bool("oracle_amplitudes", oracle_amplitudes)

    def forward(self, cqt: torch.Tensor, amplitudes: torch.Tensor | None = None) -> tuple[torch.Tensor, EncoderOutput]:
        """``cqt [batch, n_frames, n_bins]`` → (audio ``[batch, n_samples]``, encoder outputs).

        ``amplitudes [batch, K]`` (``K <= n_harmonics``; harmonics above K silent), only for an
        oracle-amplitude autoencoder, and required there: what the decoder plays in every frame,
        returned in place of the encoder's amplitudes.
        """
        out = self.encoder(cqt)
        if self.oracle_amplitudes:
            out.amplitudes = self._oracle_frames(amplitudes, out.amplitudes)
        elif amplitudes is not None:
            raise ValueError("`amplitudes` is only for an autoencoder built with oracle_amplitudes=True")
        audio = harmonic_synth(out.f0_hz, out.amplitudes, self.n_samples, self.sample_rate)
        if self.roll_off is not None:
            audio = self.roll_off(audio)
        return audio, out

    def _oracle_frames(self, amplitudes: torch.Tensor | None, predicted: torch.Tensor) -> torch.Tensor:
        """The oracle ``amplitudes [batch, K]`` as frames ``[batch, n_frames, n_harmonics]``, checked."""
        batch, n_frames, n_harmonics = predicted.shape
        if amplitudes is None:
            raise ValueError(
                "this autoencoder plays oracle amplitudes: pass `amplitudes` [batch, K], the tones' true "
                "harmonic amplitudes (a dataset's `played_amplitudes`)"
            )
        check_tensor("amplitudes", amplitudes, ndim=2, layout="[batch, K]", nonnegative=True)
        if amplitudes.shape[0] != batch or amplitudes.shape[1] > n_harmonics:
            raise ValueError(
                f"`amplitudes` must be [{batch}, K] with K <= {n_harmonics} (one row per tone, at most the "
                f"decoder's harmonics), got {list(amplitudes.shape)}"
            )
        padded = nn.functional.pad(amplitudes.to(predicted), (0, n_harmonics - amplitudes.shape[1]))
        return padded[:, None, :].expand(batch, n_frames, n_harmonics)


def n_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


class Prediction(NamedTuple):
    """What :func:`predict` returns, on the CPU."""

    audio: torch.Tensor  #: reconstructions ``[N, n_samples]``
    f0_hz: torch.Tensor  #: per-frame f0, Hz, ``[N, n_frames]``
    amplitudes: torch.Tensor  #: per-frame harmonic amplitudes ``[N, n_frames, n_harmonics]``


@torch.no_grad()
def predict(
    model: HarmonicAutoencoder,
    cqt: torch.Tensor,
    batch_size: int = 64,
    device: str = "cpu",
    oracle_amplitudes: torch.Tensor | None = None,
) -> Prediction:
    """Run ``model`` (eval mode, then restored) on CQT frames ``[N, n_frames, n_bins]`` in batches;
    an oracle-amplitude model plays ``oracle_amplitudes [N, K]`` (see :class:`HarmonicAutoencoder`)."""
    if oracle_amplitudes is not None and len(oracle_amplitudes) != len(cqt):
        raise ValueError(f"`oracle_amplitudes` needs one row per example ({len(cqt)}), got {len(oracle_amplitudes)}")
    was_training = model.training
    model.eval()
    audio, f0, amplitudes = [], [], []
    for start in range(0, len(cqt), batch_size):
        oracle = None if oracle_amplitudes is None else oracle_amplitudes[start : start + batch_size].to(device)
        estimate, out = model(cqt[start : start + batch_size].to(device), oracle)
        audio.append(estimate.cpu())
        f0.append(out.f0_hz.cpu())
        amplitudes.append(out.amplitudes.cpu())
    model.train(was_training)
    return Prediction(torch.cat(audio), torch.cat(f0), torch.cat(amplitudes))
