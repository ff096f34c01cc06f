"""The estimator explorer: a window into the trained estimators (``make estimator``).

Pick a trained model (:func:`list_checkpoints`: the shipped runs, the recipe's runs of notebook 09
and the runs trained on real sounds of notebook 10), a second one to compare with, and a sound: a
synthetic test tone (the dataset's test split), a rendered real instrument note (``make
real-notes``) or an uploaded WAV/FLAC file. The page shows, for one 4096-sample
(0.256 s) excerpt:

- the sound and each model's reconstruction, as audio players;
- a CQT frame (the encoder's input, :class:`sot_utils.spectral.CQT`), the encoder's distribution
  over the f0 bins for that frame (``softmax(logits / temperature)``), the predicted f0 against the
  label where there is one, the predicted harmonic amplitudes, and the spectrum of the sound
  against the reconstructions';
- what :func:`sot_utils.training.estimate.estimate_f0` reports for the excerpt: the f0 (median
  over frames), the voicing decision and its reason, the encoder's confidence, the level and the
  tonal share (the share of the power in spectral peaks: the voicing's noise measure).

``estimate_f0`` builds a CQT (about 0.3 s of kernel set-up) at every call; the page builds one
and reuses it for every model, through ``estimate_f0``'s own parts
(:func:`~sot_utils.training.estimate.voicing`, :func:`~sot_utils.training.estimate.normalise_peak`,
:func:`~sot_utils.training.estimate.estimate_from_cqt`); ``tests/study/test_estimator_explorer.py``
checks that the page's numbers equal ``estimate_f0``'s.

A bad upload (not audio, silent, too short, an implausible sample rate, too long) gets a message
on the page, never a traceback; a multi-channel file is mixed to mono, as the CLI does, and the
page says so. ``notebooks/estimator_explorer.ipynb`` is the page.

An upload costs the server nothing beyond :data:`MAX_UPLOAD_BYTES`, whatever the client sends:

- the browser refuses a bigger file before sending anything (a script of the ``offline`` Voila
  template, ``notebooks/jupyter/``, reads the limit from the upload button's class
  ``upload-max-bytes-<N>``);
- the server closes a websocket whose message is larger than that plus 1 MB (Voila's
  ``websocket_max_message_size``, ``notebooks/jupyter/voila.json``): a client bypassing the page
  cannot push more into the server or the kernel;
- :func:`read_upload` reads the header before decoding (a compressed file can hold an hour of audio
  in half a megabyte) and decodes at most :data:`MAX_UPLOAD_SECONDS`.
"""

from __future__ import annotations

import io
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import ipywidgets as widgets
import numpy as np
import soundfile
import torch
from matplotlib.collections import LineCollection
from torch import nn

from ...constants import N_SAMPLES, PEAK_LEVEL, SAMPLE_RATE, SUCCESS_CENTS
from ...spectral import CQT, rfft_frequencies, stft_magnitude
from ...synth import audible_harmonics
from ...training.audio_file import AudioFileError, read_audio
from ...training.checkpoint import load_model
from ...training.data import DEFAULT_PATH as FULL_DATA_PATH
from ...training.data import ensure_dataset, load_split
from ...training.estimate import (
    F0Estimate,
    estimate_from_cqt,
    normalise_peak,
    resample_to_model_rate,
    voicing,
)
from ...training.evaluate import find_runs
from ..chapters.real_sounds import REAL_SOUNDS_ROOT
from ..real_notes import DEFAULT_PATH as REAL_NOTES_PATH
from ..real_notes import load_real_notes
from .widgets import (
    audio_player,
    canvas_png,
    cents_between,
    format_cents,
    format_hz,
    hz_axis,
    new_figure,
    png_image,
    single_threaded,
    wav_bytes,
    wrapping_row,
)

__all__ = [
    "MAX_UPLOAD_BYTES",
    "MAX_UPLOAD_SECONDS",
    "MODEL_COLORS",
    "NOTE_NAMES",
    "NO_CHECKPOINT",
    "REPO",
    "SOURCES",
    "SPECTRUM_N_FFT",
    "STAND_IN_DATA_PATH",
    "STAND_IN_SIZE",
    "Analysis",
    "EstimatorExplorer",
    "Features",
    "Sound",
    "UploadError",
    "analyse",
    "default_checkpoints",
    "estimate_from_features",
    "excerpt_features",
    "list_checkpoints",
    "loudest_excerpt_start",
    "mean_spectrum_db",
    "midi_note_name",
    "read_upload",
    "upload_sound",
]

REPO = Path(__file__).resolve().parents[3]
"""The repository (the default root of the checkpoints and data files)."""

STAND_IN_DATA_PATH = "data/harmonic_sr16000_n400_seed0.pt"
STAND_IN_SIZE = 400
"""Without the dataset (``make data``), a small one (seed 0, 400 tones, 40 in the test split) is
generated under its own name, so that ``make data`` still builds the full one."""

SOURCES = ("synthetic test tone", "real note", "upload")
NO_CHECKPOINT = "(none)"
MAX_UPLOAD_BYTES = 50 * 2**20
"""Largest upload, bytes: the browser refuses a bigger file, :func:`read_upload` too."""
MAX_UPLOAD_SECONDS = 60.0
"""Longest upload decoded, seconds (a longer file is refused from its header)."""
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
MODEL_COLORS = ("tab:blue", "tab:orange")
SPECTRUM_N_FFT = 2048


class UploadError(ValueError):
    """An uploaded file the page cannot analyse; the message says why and what to do."""


# --------------------------------------------------------------------------------------------
# Sounds


@dataclass
class Sound:
    """One excerpt to analyse.

    Attributes:
        name: what it is, for the page.
        audio: ``[4096]`` at 16 kHz, as given (the estimator's steps normalise it).
        f0_hz: the label, Hz, or None.
        amplitudes: the label's harmonic amplitudes ``[n_harmonics]`` (synthetic tones), or None.
        notes: remarks for the page (a file mixed to mono, an excerpt).
    """

    name: str
    audio: torch.Tensor
    f0_hz: float | None = None
    amplitudes: torch.Tensor | None = None
    notes: list[str] = field(default_factory=list)


def midi_note_name(midi_note: int) -> str:
    """``69 -> "A4"``, ``60 -> "C4"``, ``61 -> "C#4"``."""
    midi_note = int(midi_note)
    return f"{NOTE_NAMES[midi_note % 12]}{midi_note // 12 - 1}"


def read_upload(content: bytes, name: str) -> tuple[np.ndarray, int, list[str]]:
    """Decode an uploaded audio file (any format soundfile reads: WAV, FLAC, OGG...) with bounded memory.

    The size of a compressed file says nothing about what decoding it costs (an hour of FLAC can
    be half a megabyte): :func:`~sot_utils.training.audio_file.read_audio` checks the header before
    decoding anything and decodes block by block, stopping at :data:`MAX_UPLOAD_SECONDS`.

    Args:
        content: the file's bytes.
        name: its name, for the messages.

    Returns:
        ``(audio [n_samples] float32 mono, sample_rate Hz, notes)``.

    Raises:
        UploadError: the file is too big, is not audio, holds no samples or non-finite ones, has an
            implausible sample rate, is too long, too short or exactly silent, or decoding it ran
            out of memory.
    """
    size = memoryview(content).nbytes
    if size > MAX_UPLOAD_BYTES:
        raise UploadError(f"{name} is {size / 2**20:.0f} MB; the page takes files up to {MAX_UPLOAD_BYTES // 2**20} MB")
    content = bytes(content)  # one copy, shared by the readers below (io.BytesIO does not copy bytes)
    try:
        audio, rate = read_audio(content, name=name, max_seconds=MAX_UPLOAD_SECONDS)
        channels = soundfile.info(io.BytesIO(content)).channels  # the header only: read_audio has opened it
    except AudioFileError as error:
        text = str(error)
        hint = ": upload a WAV or FLAC file" if "could not be read as audio" in text else ""
        raise UploadError(text + hint) from None
    except MemoryError:
        raise UploadError(f"{name}: this machine ran out of memory decoding it; upload a shorter excerpt") from None
    notes = [f"{name} has {channels} channels: they were mixed to mono"] if channels > 1 else []
    seconds = audio.shape[0] / rate
    if math.ceil(audio.shape[0] * SAMPLE_RATE / rate) < N_SAMPLES:
        raise UploadError(
            f"{name} is too short: {seconds:.3f} s; the models analyse {N_SAMPLES / SAMPLE_RATE:.3f} s "
            f"({N_SAMPLES} samples at {SAMPLE_RATE} Hz)"
        )
    if not np.any(audio):
        raise UploadError(f"{name} is silent (every sample is 0): there is no f0 to estimate")
    return audio, int(rate), notes


def loudest_excerpt_start(audio: torch.Tensor, hop: int = 256) -> int:
    """Start (samples) of the ``N_SAMPLES``-long excerpt of ``audio [n]`` with the most energy, on a ``hop`` grid."""
    energy = torch.cumsum(torch.nn.functional.pad(audio.double() ** 2, (1, 0)), 0)
    starts = torch.arange(0, audio.shape[0] - N_SAMPLES + 1, hop)
    return int(starts[torch.argmax(energy[starts + N_SAMPLES] - energy[starts])])


def upload_sound(audio_16k: torch.Tensor, name: str, start: int, notes: list[str]) -> Sound:
    """The excerpt of an upload (at 16 kHz) starting at sample ``start``."""
    start = min(max(int(start), 0), audio_16k.shape[0] - N_SAMPLES)
    excerpt_notes = list(notes)
    if audio_16k.shape[0] > N_SAMPLES:
        excerpt_notes.append(
            f"analysing {N_SAMPLES / SAMPLE_RATE:.3f} s from {start / SAMPLE_RATE:.2f} s "
            f"of {audio_16k.shape[0] / SAMPLE_RATE:.2f} s"
        )
    return Sound(name, audio_16k[start : start + N_SAMPLES], notes=excerpt_notes)


# --------------------------------------------------------------------------------------------
# Analysis


@dataclass
class Features:
    """What the page computes once per excerpt, whatever the model.

    Attributes:
        voicing: :func:`~sot_utils.training.voicing.voicing`'s ``(voiced, reasons, level_db, tonal_share)``.
        estimator_cqt: ``[1, 17, n_bins]``, the CQT of the whole peak-normalised excerpt, as
            :func:`~sot_utils.training.estimate.estimate_f0` computes it.
        frames: ``[1, 16, n_bins]``, the CQT of its first 4095 samples, as in training (16 frames:
            one per synthesizer control frame).
        bin_hz: the CQT bins' frequencies ``[n_bins]``, Hz.
    """

    voicing: tuple
    estimator_cqt: torch.Tensor
    frames: torch.Tensor
    bin_hz: torch.Tensor


@torch.no_grad()
def excerpt_features(cqt: CQT, audio: torch.Tensor) -> Features:
    """:class:`Features` of 16 kHz ``audio [batch, n_samples]`` (checked as ``estimate_f0`` checks it)."""
    raw = resample_to_model_rate(audio, SAMPLE_RATE)
    prepared = normalise_peak(raw)  # as estimate_f0 does (silence stays 0)
    return Features(voicing(raw), cqt(prepared), cqt(prepared[:, :-1]), cqt.frequencies.float())


def estimate_from_features(model: nn.Module, features: Features) -> F0Estimate:
    """:func:`~sot_utils.training.estimate.estimate_f0`'s result, from :func:`excerpt_features`."""
    return estimate_from_cqt(model, features.voicing, features.estimator_cqt)


@dataclass
class Analysis:
    """What one model makes of one excerpt.

    Attributes:
        estimate: as :func:`~sot_utils.training.estimate.estimate_f0` returns it (batch of 1).
        cqt: the encoder's input frames ``[16, n_bins]`` (:attr:`Features.frames`).
        probabilities: ``softmax(logits / temperature)`` per frame ``[16, n_bins]``.
        f0_frames_hz: the f0 per frame ``[16]``, Hz.
        amplitudes: harmonic amplitudes per frame ``[16, n_harmonics]``.
        reconstruction: the autoencoder's output ``[4096]``.
        bin_hz: the f0 bins' frequencies ``[n_bins]``, Hz.
    """

    estimate: F0Estimate
    cqt: torch.Tensor
    probabilities: torch.Tensor
    f0_frames_hz: torch.Tensor
    amplitudes: torch.Tensor
    reconstruction: torch.Tensor
    bin_hz: torch.Tensor


@torch.no_grad()
def analyse(model: nn.Module, features: Features) -> Analysis:
    """What ``model`` makes of one excerpt (batch of 1): its estimate, its frames, its reconstruction."""
    reconstruction, out = model(features.frames)
    return Analysis(
        estimate=estimate_from_features(model, features),
        cqt=features.frames[0],
        probabilities=torch.softmax(out.logits[0] / model.encoder.temperature, dim=-1),
        f0_frames_hz=out.f0_hz[0],
        amplitudes=out.amplitudes[0],
        reconstruction=reconstruction[0],
        bin_hz=features.bin_hz,
    )


def mean_spectrum_db(audio: torch.Tensor, n_fft: int = SPECTRUM_N_FFT) -> np.ndarray:
    """Magnitude spectrum of ``audio [n]`` averaged over complete Hann frames, dB re its peak ``[n_fft // 2 + 1]``."""
    magnitude = stft_magnitude(audio[None].float(), n_fft, n_fft // 4, "hann", pad_end=False)[0].mean(dim=0)
    return (20 * torch.log10(magnitude / magnitude.max().clamp(min=1e-12) + 1e-6)).numpy()


def list_checkpoints(root: str | os.PathLike) -> dict[str, str]:
    """The trained models' ``best.pt`` under ``root/checkpoints``, by label: the shipped runs
    (``"SOT-2048 · seed 123"``), then the recipe's runs of notebook 09 (``"recipe MSS-Lin · seed 42"``),
    then the runs trained on real sounds of notebook 10 (``"MSS-Lin-recipe (real-corpus) · seed 42"``,
    from ``checkpoints/real-sounds/<training data>/<configuration>/<seed>``)."""
    checkpoints = Path(root) / "checkpoints"
    labels = {f"{row.group} · seed {row.seed}": row.path for row in find_runs(checkpoints).itertuples()}
    for row in find_runs(checkpoints / "remedies" / "recipe").itertuples():
        labels[f"recipe {row.group} · seed {row.seed}"] = row.path
    for best in sorted((Path(root) / REAL_SOUNDS_ROOT).glob("*/*/*/best.pt")):
        if best.parent.name.isdigit():
            data, configuration = best.parent.parent.parent.name, best.parent.parent.name
            labels[f"{configuration} ({data}) · seed {int(best.parent.name)}"] = str(best)
    return labels


def default_checkpoints(labels: list[str]) -> tuple[str, str]:
    """The checkpoints shown first: SOT-2048 (seed 123) against MSS-Lin (seed 123) where shipped."""
    first = next((label for label in labels if label == "SOT-2048 · seed 123"), labels[0] if labels else NO_CHECKPOINT)
    second = next((label for label in labels if label == "MSS-Lin · seed 123"), NO_CHECKPOINT)
    return first, second


# --------------------------------------------------------------------------------------------
# The page


class EstimatorExplorer:
    """The estimator page: widgets, the analysis of the chosen sound by one or two models, figures.

    Args:
        root: where ``checkpoints/`` and ``data/`` are (default: the repository).

    Attributes:
        controls: widgets by name: ``checkpoint_a``, ``checkpoint_b`` (or ``(none)``), ``source``,
            ``tone`` (synthetic test tone index), ``note`` (real note index), ``upload``,
            ``excerpt_s`` (start of an upload's excerpt), ``frame`` (CQT frame shown).
        images: ``figure``: the four panels as an image widget (PNG).
        audio: ``sound``, ``reconstruction_a``, ``reconstruction_b`` audio players; ``players``: each
            with its title (hidden when it has nothing to play).
        table: the estimates (HTML); ``message``: errors and remarks (HTML).
        sound: the current :class:`Sound`; ``analyses``: the current :class:`Analysis` per model label.
        n_updates: how many times the analysis has been recomputed.
        timings: seconds the last updates took (``update``: a new sound or model; ``draw``: a new frame).
    """

    @single_threaded
    def __init__(self, root: str | os.PathLike = REPO):
        self.root = Path(root)
        self.cqt = CQT()
        self.checkpoints = list_checkpoints(self.root)
        self._models: dict[str, nn.Module] = {}
        self.messages: list[str] = []
        self.tones = self._load_tones()
        self.real_notes = None
        self._upload: tuple[str, torch.Tensor, list[str]] | None = None
        self.controls = self._make_controls()
        self.images = {"figure": png_image()}
        self.images["figure"].add_class("estimator-figure")
        self.audio = {name: audio_player() for name in ("sound", "reconstruction_a", "reconstruction_b")}
        for name, player in self.audio.items():
            player.add_class(f"estimator-audio-{name.replace('_', '-')}")
        titles = {"sound": "sound (the analysed 0.256 s)", "reconstruction_a": "reconstruction, model A"}
        titles["reconstruction_b"] = "reconstruction, model B"
        self.players = {name: widgets.VBox([widgets.HTML(titles[name]), self.audio[name]]) for name in self.audio}
        self.table = widgets.HTML().add_class("estimator-table")
        self.message = widgets.HTML().add_class("estimator-message")
        self.sound: Sound | None = None
        self.analyses: dict[str, Analysis] = {}
        self.n_updates = 0
        self.timings: dict[str, float] = {}
        self._build_figure()
        self._observe()
        self.update()

    # ---- sources

    def _load_tones(self):
        path = self.root / FULL_DATA_PATH
        if not path.exists():
            path = ensure_dataset(self.root / STAND_IN_DATA_PATH, seed=0, size=STAND_IN_SIZE)
            self.messages.append(
                f"The dataset ({FULL_DATA_PATH}) is missing: showing the test split of a small stand-in set "
                f"({STAND_IN_SIZE} tones, {path.name}); `make data` builds the full one."
            )
        return load_split(path, "test")

    def _load_real_notes(self) -> str | None:
        """Load the real notes once; the message to show when there are none."""
        path = self.root / REAL_NOTES_PATH
        if self.real_notes is None and path.exists():
            self.real_notes = load_real_notes(path)
            labels = [
                (f"{inst} {midi_note_name(m)} ({format_hz(f)})", i)
                for i, (inst, m, f) in enumerate(
                    zip(self.real_notes["instrument"], self.real_notes["midi_note"].tolist(), self.real_notes["f0_hz"])
                )
            ]
            with self.controls["note"].hold_trait_notifications():
                self.controls["note"].options = labels
                self.controls["note"].value = 0
        if self.real_notes is None:
            return (
                f"No real notes yet ({REAL_NOTES_PATH}): render them with `make real-notes` "
                "(about 20 s; FluidSynth and the General MIDI soundfont come with `make soundfont`)."
            )
        return None

    def current_sound(self) -> tuple[Sound | None, str | None]:
        """The sound the controls select, or None and the message that says why there is none."""
        source = self.controls["source"].value
        if source == "synthetic test tone":
            i = self.controls["tone"].value
            n = int(self.tones.n_harmonics[i])
            audible = int(self.tones.n_audible_harmonics[i])
            f0 = float(self.tones.f0_hz[i])
            name = f"test tone {i}: {format_hz(f0)}, {n} harmonics ({audible} below Nyquist)"
            return Sound(name, self.tones.audio[i], f0, self.tones.amplitudes[i, :n].clone()), None
        if source == "real note":
            missing = self._load_real_notes()
            if missing:
                return None, missing
            i = self.controls["note"].value
            f0 = float(self.real_notes["f0_hz"][i])
            name = f"{self.real_notes['instrument'][i]}, {midi_note_name(int(self.real_notes['midi_note'][i]))}"
            return Sound(f"{name} ({format_hz(f0)})", self.real_notes["audio"][i], f0), None
        if self._upload is None:
            return None, "Upload a WAV or FLAC file (mono or stereo, at least 0.256 s, any sample rate from 4 kHz)."
        name, audio, notes = self._upload
        start = int(round(self.controls["excerpt_s"].value * SAMPLE_RATE))
        return upload_sound(audio, name, start, notes), None

    @single_threaded
    def load_upload(self, content: bytes, name: str) -> None:
        """Decode an uploaded file and analyse it (a bad file gets a message; the page goes on)."""
        try:
            audio, rate, notes = read_upload(content, name)
            audio_16k = resample_to_model_rate(torch.from_numpy(audio), rate)[0]
        except (UploadError, ValueError, MemoryError) as error:
            # read_upload turns its own MemoryError into an UploadError; this one comes from resampling
            # (a minute at a high rate, on a busy machine)
            if isinstance(error, MemoryError):
                error = f"{name}: this machine ran out of memory reading it; upload a shorter excerpt"
            self._upload, self.sound, self.analyses = None, None, {}
            self._clear_outputs()
            self._show_error(str(error))
            return
        if rate != SAMPLE_RATE:
            notes.append(f"resampled from {rate} Hz to {SAMPLE_RATE} Hz")
        self._upload = (name, audio_16k, notes)
        excerpt = self.controls["excerpt_s"]
        top = max((audio_16k.shape[0] - N_SAMPLES) / SAMPLE_RATE, 0.0)
        with excerpt.hold_trait_notifications():
            excerpt.max = max(top, 1e-3)
            excerpt.value = loudest_excerpt_start(audio_16k) / SAMPLE_RATE
            excerpt.disabled = top == 0
        if self.controls["source"].value != "upload":
            self.controls["source"].value = "upload"  # observed: updates
        else:
            self.update()

    # ---- models

    def model(self, label: str) -> nn.Module:
        if label not in self._models:
            self._models[label] = load_model(self.checkpoints[label])[0]
        return self._models[label]

    def chosen_models(self) -> list[str]:
        labels = [self.controls["checkpoint_a"].value, self.controls["checkpoint_b"].value]
        return [label for label in dict.fromkeys(labels) if label in self.checkpoints]

    # ---- widgets

    def _make_controls(self) -> dict[str, widgets.Widget]:
        style = {"description_width": "initial"}
        labels = list(self.checkpoints)
        first, second = default_checkpoints(labels)
        wide = widgets.Layout(width="420px")
        return {
            "checkpoint_a": widgets.Dropdown(
                options=labels or [NO_CHECKPOINT], value=first, description="model A", style=style, layout=wide
            ),
            "checkpoint_b": widgets.Dropdown(
                options=[NO_CHECKPOINT, *labels], value=second, description="model B", style=style, layout=wide
            ),
            "source": widgets.ToggleButtons(options=SOURCES, value=SOURCES[0], description="sound", style=style),
            "tone": widgets.IntSlider(
                value=0,
                min=0,
                max=len(self.tones) - 1,
                description="test tone",
                continuous_update=False,
                style=style,
                layout=wide,
            ),
            "note": widgets.Dropdown(options=[("(none)", 0)], value=0, description="real note", style=style),
            # the class carries the limit to the template's script, which refuses a bigger file in the browser
            "upload": widgets.FileUpload(
                accept=".wav,.flac,.ogg,audio/*", multiple=False, description="upload"
            ).add_class(f"upload-max-bytes-{MAX_UPLOAD_BYTES}"),
            "excerpt_s": widgets.FloatSlider(
                value=0.0,
                min=0.0,
                max=1e-3,
                step=0.016,
                readout_format=".3f",
                description="excerpt from (s)",
                continuous_update=False,
                disabled=True,
                style=style,
            ),
            "frame": widgets.IntSlider(
                value=8, min=0, max=15, description="CQT frame", continuous_update=True, style=style
            ),
        }

    def _observe(self) -> None:
        c = self.controls
        for name in ("checkpoint_a", "checkpoint_b", "source", "tone", "note", "excerpt_s"):
            c[name].observe(lambda _change: self.update(), names="value")
        c["frame"].observe(lambda _change: self.draw(), names="value")
        c["upload"].observe(self._on_upload, names="value")

    def _on_upload(self, change) -> None:
        files = change["new"]
        if not files:
            return
        upload = files[0]
        self.load_upload(upload["content"], upload["name"])

    # ---- updates

    def _show_error(self, text: str) -> None:
        self.message.value = f'<p style="color:#b00020"><b>{_html(text)}</b></p>'

    @single_threaded
    def update(self) -> None:
        """Analyse the chosen sound with the chosen models and redraw (messages instead of tracebacks);
        ``timings["update"]``: how long it took, seconds."""
        start = time.perf_counter()
        try:
            self._update()
        finally:
            self.timings["update"] = time.perf_counter() - start

    def _update(self) -> None:
        self.n_updates += 1
        c = self.controls
        c["tone"].layout.display = "" if c["source"].value == SOURCES[0] else "none"
        c["note"].layout.display = "" if c["source"].value == SOURCES[1] else "none"
        for name in ("upload", "excerpt_s"):
            c[name].layout.display = "" if c["source"].value == SOURCES[2] else "none"
        try:
            sound, missing = self.current_sound()
            self.sound = sound
            if sound is None:
                self.analyses = {}
                if c["source"].value == "upload":
                    self._show_note(missing)
                else:
                    self._show_error(missing)
                self._clear_outputs()
                return
            features = excerpt_features(self.cqt, sound.audio[None])
            self.analyses = {label: analyse(self.model(label), features) for label in self.chosen_models()}
        except Exception as error:  # the page shows any failure as a message, never a traceback
            self.analyses = {}
            self._show_error(f"could not analyse the sound: {error}")
            self._clear_outputs()
            return
        notes = list(self.messages) + list(sound.notes)
        if not self.checkpoints:
            notes.append("No checkpoints under checkpoints/: train one with `python -m sot_utils.training.train`.")
        self._show_note("; ".join(notes))
        self.audio["sound"].value = wav_bytes(sound.audio / max(float(sound.audio.abs().max()), 1e-12) * PEAK_LEVEL)
        self._show("sound", True)
        for key, label in zip(("reconstruction_a", "reconstruction_b"), self._labels()):
            analysis = self.analyses.get(label)
            if analysis is not None:
                audio = analysis.reconstruction
                self.audio[key].value = wav_bytes(audio / max(float(audio.abs().max()), 1e-12) * PEAK_LEVEL)
            self._show(key, analysis is not None)
        self.images["figure"].layout.display = ""
        self._write_table()
        self.draw()

    def _labels(self) -> list[str]:
        return [self.controls["checkpoint_a"].value, self.controls["checkpoint_b"].value]

    def _show_note(self, text: str) -> None:
        self.message.value = f"<p>{_html(text)}</p>" if text else ""

    def _clear_outputs(self) -> None:
        """Hide the figure and the players (an emptied player would make the browser log a failed load)."""
        self.table.value = ""
        self.images["figure"].layout.display = "none"
        for box in self.players.values():
            box.layout.display = "none"

    def _show(self, name: str, visible: bool) -> None:
        self.players[name].layout.display = "" if visible else "none"

    def _write_table(self) -> None:
        sound = self.sound
        header = "<tr><th></th>" + "".join(f"<th>{_escape(label)}</th>" for label in self.analyses) + "</tr>"
        rows = []

        def row(title: str, cells) -> None:
            rows.append(f"<tr><td>{title}</td>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")

        estimates = [a.estimate for a in self.analyses.values()]
        row("f0 (estimate_f0: median over frames)", [f"<b>{format_hz(e.f0_hz[0])}</b>" for e in estimates])
        if sound.f0_hz is not None:
            errors = [float(cents_between(float(e.f0_hz[0]), sound.f0_hz)) for e in estimates]
            row("label", [format_hz(sound.f0_hz)] * len(estimates))
            row(
                "error",
                [
                    f"{format_cents(err)} ({'within' if abs(err) < SUCCESS_CENTS else 'beyond'} 50 cents)"
                    for err in errors
                ],
            )
        row(
            "voicing decision",
            ["voiced" if bool(e.voiced[0]) else f"<b>unvoiced</b> ({e.reason[0]})" for e in estimates],
        )
        row("confidence (mass within a semitone of the peak)", [f"{float(e.confidence[0]):.2f}" for e in estimates])
        row("level", [f"{float(e.level_db[0]):.1f} dBFS" for e in estimates])
        row("tonal share (noise below 0.5)", [f"{float(e.tonal_share[0]):.2f}" for e in estimates])
        frame = self.controls["frame"].value
        row(f"f0 in CQT frame {frame}", [format_hz(a.f0_frames_hz[frame]) for a in self.analyses.values()])
        self.table.value = (
            f"<p><b>{_escape(sound.name)}</b></p><table>{header}{''.join(rows)}</table>" if self.analyses else ""
        )

    # ---- figure

    def _build_figure(self) -> None:
        """Four panels with fixed axes, drawn once and stored; each update draws the data over them."""
        self.figure = new_figure(9.6, 6.4)
        self.axes = self.figure.subplots(2, 2)
        self.figure.subplots_adjust(left=0.08, right=0.98, top=0.92, bottom=0.08, hspace=0.4, wspace=0.22)
        (cqt_ax, probability_ax), (amplitude_ax, spectrum_ax) = self.axes
        for ax in (cqt_ax, probability_ax, spectrum_ax):
            hz_axis(ax, 30, 8000)
            ax.set_xlabel("frequency (Hz)")
            ax.grid(alpha=0.3)
        cqt_ax.set(ylabel="dB re the frame's peak", ylim=(-80, 5), title="CQT frame (the encoder's input)")
        probability_ax.set(ylabel="probability", ylim=(0, 1.05), title="f0 distribution: softmax(logits / T)")
        amplitude_ax.set(xlabel="harmonic", ylabel="amplitude / largest", xlim=(0.4, 20.6), ylim=(0, 1.1))
        amplitude_ax.set_title("harmonic amplitudes (of the frame)")
        amplitude_ax.set_xticks(range(1, 21, 2))
        spectrum_ax.set(ylabel="dB re peak", ylim=(-90, 5), title="spectrum: sound and reconstructions")
        for ax in self.axes.flat:
            ax.title.set_fontsize(9)
        animated = dict(animated=True)
        self.artists = {
            "cqt": cqt_ax.plot([], [], color="0.25", lw=1.0, **animated)[0],
            "sound_spectrum": spectrum_ax.plot([], [], color="black", lw=1.4, label="sound", **animated)[0],
            "label_f0": [ax.axvline(1.0, color="black", lw=1.2, linestyle=":", **animated) for ax in self.axes[0]],
            "label_amplitudes": amplitude_ax.plot([], [], "k_", markersize=12, mew=2, label="label", **animated)[0],
            "title": self.figure.suptitle("", fontsize=10),
        }
        self.artists["title"].set_animated(True)
        for slot, color in enumerate(MODEL_COLORS):
            self.artists[slot] = {
                "probability": probability_ax.plot([], [], color=color, lw=1.3, **animated)[0],
                "f0": [ax.axvline(1.0, color=color, lw=1.2, linestyle="--", **animated) for ax in self.axes[0]],
                "amplitudes": amplitude_ax.add_collection(LineCollection([], colors=color, linewidths=5, **animated)),
                "spectrum": spectrum_ax.plot([], [], color=color, lw=1.0, **animated)[0],
            }
        self._background = self._layout = None

    @single_threaded
    def draw(self) -> None:
        """Render the four panels for the current sound, models and frame (``timings["draw"]``, seconds)."""
        if self.sound is None:
            return
        start = time.perf_counter()
        frame, sound = self.controls["frame"].value, self.sound
        canvas, artists = self.figure.canvas, self.artists
        (cqt_ax, probability_ax), (amplitude_ax, spectrum_ax) = self.axes
        analyses = list(self.analyses.items())
        layout = (tuple(self.analyses), sound.amplitudes is not None)
        if self._background is None or self._layout != layout:
            for slot, (label, _) in enumerate(analyses):
                artists[slot]["probability"].set_label(label)
                artists[slot]["spectrum"].set_label(f"reconstruction, {label}")
            handles = [artists[slot]["probability"] for slot in range(len(analyses))]
            if handles:
                probability_ax.legend(handles=handles, fontsize=7, loc="upper right")
            spectrum_handles = [
                artists["sound_spectrum"],
                *[artists[slot]["spectrum"] for slot in range(len(analyses))],
            ]
            spectrum_ax.legend(handles=spectrum_handles, fontsize=7, loc="lower left")
            canvas.draw()  # the animated artists (all the data) are left out
            self._background = canvas.copy_from_bbox(self.figure.bbox)
            self._layout = layout
        else:
            canvas.restore_region(self._background)
        drawn = []
        frequencies = rfft_frequencies(SPECTRUM_N_FFT).numpy()
        artists["sound_spectrum"].set_data(frequencies, mean_spectrum_db(sound.audio))
        drawn += [(spectrum_ax, artists["sound_spectrum"])]
        if analyses:
            first = analyses[0][1]
            magnitude = first.cqt[frame].numpy()
            artists["cqt"].set_data(first.bin_hz.numpy(), 20 * np.log10(magnitude / max(magnitude.max(), 1e-12) + 1e-6))
            drawn.append((cqt_ax, artists["cqt"]))
        width = 0.8 / (len(analyses) + 1)
        for slot, (_, analysis) in enumerate(analyses):
            slot_artists = artists[slot]
            f0 = float(analysis.f0_frames_hz[frame])
            slot_artists["probability"].set_data(analysis.bin_hz.numpy(), analysis.probabilities[frame].numpy())
            for line in slot_artists["f0"]:
                line.set_xdata([f0, f0])
            amplitudes = analysis.amplitudes[frame].numpy()
            k = np.arange(1, len(amplitudes) + 1)
            shown = audible_harmonics(torch.tensor(f0, dtype=torch.float64), len(amplitudes)).numpy() & (k <= 20)
            heights = amplitudes / max(float(amplitudes[shown].max(initial=0.0)), 1e-12)
            x = k[shown] + (slot - len(analyses) / 2 + 0.5) * width - width / 2
            slot_artists["amplitudes"].set_segments([[(xi, 0.0), (xi, hi)] for xi, hi in zip(x, heights[shown])])
            slot_artists["spectrum"].set_data(frequencies, mean_spectrum_db(analysis.reconstruction))
            drawn += [(probability_ax, slot_artists["probability"]), (amplitude_ax, slot_artists["amplitudes"])]
            drawn += list(zip(self.axes[0], slot_artists["f0"])) + [(spectrum_ax, slot_artists["spectrum"])]
        if sound.f0_hz is not None:
            for line in artists["label_f0"]:
                line.set_xdata([sound.f0_hz, sound.f0_hz])
            drawn += list(zip(self.axes[0], artists["label_f0"]))
        if sound.amplitudes is not None:
            amplitudes = sound.amplitudes.numpy()
            k = np.arange(1, len(amplitudes) + 1)
            audible = audible_harmonics(torch.tensor(float(sound.f0_hz), dtype=torch.float64), len(amplitudes)).numpy()
            artists["label_amplitudes"].set_data(
                k[audible], amplitudes[audible] / max(amplitudes[audible].max(), 1e-12)
            )
            drawn.append((amplitude_ax, artists["label_amplitudes"]))
        for ax, artist in drawn:
            ax.draw_artist(artist)
        artists["title"].set_text(
            _short(f"{sound.name} · CQT frame {frame} of 16 (dashed: each model's f0, dotted: the label)")
        )
        self.figure.draw_artist(artists["title"])
        self.images["figure"].value = canvas_png(self.figure)
        if self.analyses:
            self._write_table()
        self.timings["draw"] = time.perf_counter() - start

    # ---- layout

    def widget(self) -> widgets.Widget:
        """The whole page as one widget."""
        c = self.controls
        players = wrapping_row(*self.players.values())
        return widgets.VBox(
            [
                wrapping_row(c["checkpoint_a"], c["checkpoint_b"]),
                c["source"],
                wrapping_row(c["tone"], c["note"], c["upload"], c["excerpt_s"]),
                self.message,
                players,
                c["frame"],
                self.images["figure"],
                self.table,
            ]
        )

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget())


def _escape(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _html(text: str) -> str:
    """Escaped text, with `backquoted` spans as code."""
    parts = _escape(text).split("`")
    return "".join(f"<code>{part}</code>" if i % 2 else part for i, part in enumerate(parts))


def _short(text: str, length: int = 130) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"
