"""Tests for the estimator explorer (``sot_utils.study.explorers.estimator``), in process;
``tests/study/test_explorer_browser.py`` drives the page in a browser.

Oracles: :func:`sot_utils.training.estimate.estimate_f0` (the page's numbers must be its numbers),
the encoder's soft-argmax written out in numpy, the synthesizer called on the predicted controls,
soundfile (for the audio players), files written with known defects.
"""

from __future__ import annotations

import datetime
import io
import json
import math
import os
import shlex
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from sot_utils.constants import N_SAMPLES, SAMPLE_RATE
from sot_utils.study.explorers import estimator
from sot_utils.study.explorers.estimator import (
    MAX_UPLOAD_BYTES,
    NO_CHECKPOINT,
    STAND_IN_DATA_PATH,
    EstimatorExplorer,
    UploadError,
    analyse,
    estimate_from_features,
    excerpt_features,
    loudest_excerpt_start,
    midi_note_name,
    read_upload,
)
from sot_utils.study.landscape import harmonic_tones
from sot_utils.study.real_notes import DEFAULT_PATH as REAL_NOTES_PATH
from sot_utils.study.real_notes import FORMAT_VERSION as REAL_NOTES_VERSION
from sot_utils.study.real_notes import save_real_notes
from sot_utils.synth import harmonic_synth
from sot_utils.training.audio_file import BLOCK_SAMPLES
from sot_utils.training.checkpoint import load_model
from sot_utils.training.estimate import estimate_f0

REPO = Path(__file__).resolve().parents[2]
RUNS = ("SOT-2048/123", "MSS-Lin/123")  # shipped checkpoints the page's tests use

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _wav(audio: np.ndarray, rate: int, subtype: str = "PCM_16", format: str = "WAV") -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, rate, format=format, subtype=subtype)
    return buffer.getvalue()


def _tone(f0: float, seconds: float, rate: int, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * (np.sin(2 * np.pi * f0 * t) + 0.5 * np.sin(4 * np.pi * f0 * t))).astype(np.float32)


@pytest.fixture(scope="module")
def model():
    return load_model(REPO / "checkpoints" / RUNS[0] / "best.pt")


@pytest.fixture(scope="module")
def cqt():
    from sot_utils.spectral import CQT

    return CQT()


# ------------------------------------------------------------------------------------------------
# Uploads


def test_read_upload_takes_mono_and_mixes_channels():
    audio, rate, notes = read_upload(_wav(_tone(220.0, 0.5, 16000), 16000), "a.wav")
    assert rate == 16000 and audio.shape == (8000,) and notes == []
    stereo = np.stack([_tone(220.0, 0.5, 44100), np.zeros(22050, np.float32)], axis=1)
    audio, rate, notes = read_upload(_wav(stereo, 44100, format="FLAC"), "b.flac")
    assert rate == 44100 and audio.shape == (22050,)
    np.testing.assert_allclose(audio, stereo.mean(axis=1), atol=2 / 2**15)  # 16-bit rounding
    assert notes == ["b.flac has 2 channels: they were mixed to mono"]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"RIFF this is not audio at all", "could not be read as audio .*: upload a WAV or FLAC file"),
        (_wav(np.zeros(16000, np.float32), 16000), "is silent"),
        (_wav(_tone(220.0, 0.1, 16000), 16000), "too short: 0.100 s"),
        (_wav(_tone(220.0, 2.0, 1000), 1000), "x.wav says its sample rate is 1000 Hz; expected 4000 to"),
        (_wav(np.full(8000, np.nan, np.float32), 16000, subtype="FLOAT"), "NaN or infinite"),
        (_wav(_tone(220.0, 61.0, 4000), 4000), "x.wav is 61 s long; at most 60 s"),
        (_wav(np.zeros((0,), np.float32), 16000), "holds no audio samples"),
    ],
    ids=["not-audio", "silent", "too-short", "sample-rate", "nan", "too-long", "empty"],
)
def test_read_upload_refuses_bad_files_with_a_message(content, message):
    with pytest.raises(UploadError, match=message):
        read_upload(content, "x.wav")


def test_read_upload_refuses_too_many_bytes_before_reading_them(monkeypatch):
    monkeypatch.setattr(estimator, "read_audio", lambda *args, **kwargs: pytest.fail("decoded"))
    with pytest.raises(UploadError, match="^big.wav is 50 MB; the page takes files up to 50 MB$"):
        read_upload(memoryview(bytes(MAX_UPLOAD_BYTES + 1)), "big.wav")


def _constant_flac(path: Path, seconds: int, rate: int = 48000, block_s: int = 60) -> Path:
    """A FLAC of a constant, written a block at a time (an hour at 48 kHz: 0.55 MB; 0.69 GB as float32)."""
    with soundfile.SoundFile(path, "w", rate, 1, format="FLAC", subtype="PCM_16") as file:
        block = np.full(rate * block_s, 0.25, np.float32)
        for _ in range(seconds // block_s):
            file.write(block)
    return path


# The upload's peak memory and time, measured in a fresh interpreter (ru_maxrss: KiB on Linux)
_MEASURE = """
import json, resource, sys, time
from sot_utils.study.explorers.estimator import UploadError, read_upload

content = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    read_upload(content, sys.argv[2])
    message = None
except UploadError as error:
    message = str(error)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"message": message, "seconds": seconds, "before_mib": before / 1024, "peak_mib": peak / 1024}))
"""


def test_a_one_hour_flac_is_refused_from_its_header_with_little_memory(tmp_path):
    """Half a megabyte of FLAC holding an hour at 48 kHz: decoding it whole, as the page once did, took
    0.8 GB more (0.69 GB of float32 samples and a mask) and 4 s; the header alone refuses it now."""
    path = _constant_flac(tmp_path / "hour.flac", 3600)
    assert path.stat().st_size < 2**20 and soundfile.info(str(path)).frames == 3600 * 48000  # one hour of audio
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path), "hour.flac"], capture_output=True, text=True, cwd=REPO, check=True
    )
    measured = json.loads(result.stdout.splitlines()[-1])
    assert measured["message"] == (
        "hour.flac is 3600 s long; at most 60 s is analysed at once: cut it into excerpts"
    ), measured
    assert measured["seconds"] < 30, measured  # a hang bound; the memory bound tells the old decoder apart
    assert measured["peak_mib"] - measured["before_mib"] < 32, measured  # far below the 660 MiB of the samples


def test_a_header_that_understates_the_length_is_stopped_at_the_limit(monkeypatch):
    """libsndfile stops at the frame count of a WAV, FLAC or MP3 header, and soundfile at that of a
    seekable file's, so the lie is told by soundfile here, for a stream (not seekable): the header
    says 1 s, the file holds 600 s. Decoding stops one block past the limit, not at the file's end."""
    rate = 4000
    content = _wav(_tone(220.0, 600.0, rate), rate)
    decoded = []
    read = soundfile.SoundFile.read

    def counted_read(self, *args, **kwargs):
        decoded.append(len(block := read(self, *args, **kwargs)))
        return block

    monkeypatch.setattr(soundfile.SoundFile, "frames", property(lambda self: self.samplerate))
    monkeypatch.setattr(soundfile.SoundFile, "seekable", lambda self: False)
    monkeypatch.setattr(soundfile.SoundFile, "read", counted_read)
    with pytest.raises(UploadError, match=r"^liar.wav holds more than 60 s of audio \(its header said 1 s\)"):
        read_upload(content, "liar.wav")
    assert sum(decoded) <= 60 * rate + BLOCK_SAMPLES < 600 * rate


def test_a_flac_of_unknown_length_is_refused_with_the_limit(tmp_path):
    """A FLAC header may leave the length unknown (total samples 0: an encoder fed from a pipe);
    libsndfile then reports the largest count it can and soundfile cannot decode it: refused, saying why."""
    content = bytearray(_wav(_tone(220.0, 70.0, 4000), 4000, format="FLAC"))
    assert content[:4] == b"fLaC" and content[4] & 0x7F == 0  # STREAMINFO comes first
    # STREAMINFO (from byte 8): the total samples are the low 36 bits of its bytes 10-17
    (fields,) = struct.unpack(">Q", content[18:26])
    content[18:26] = struct.pack(">Q", fields & ~(2**36 - 1))
    with pytest.raises(UploadError, match=r"^unknown\.flac: its header leaves the length open"):
        read_upload(bytes(content), "unknown.flac")


def test_running_out_of_memory_while_decoding_is_a_message_not_a_crash(monkeypatch):
    def out_of_memory(self, *args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(soundfile.SoundFile, "read", out_of_memory)
    with pytest.raises(UploadError, match="^a.wav: this machine ran out of memory decoding it; upload a shorter"):
        read_upload(_wav(_tone(220.0, 0.5, 16000), 16000), "a.wav")


def test_loudest_excerpt_start_finds_the_burst():
    audio = torch.zeros(20000)
    audio[9000:13000] = 1.0
    start = loudest_excerpt_start(audio)
    assert start % 256 == 0 and start <= 9000 and start + N_SAMPLES >= 13000


def test_midi_note_names():
    assert [midi_note_name(m) for m in (69, 60, 61, 28, 94)] == ["A4", "C4", "C#4", "E1", "A#6"]


# ------------------------------------------------------------------------------------------------
# The analysis, against estimate_f0 and the model's own maths


def _sounds():
    generator = torch.Generator().manual_seed(0)
    tone = harmonic_tones(torch.tensor([311.0]), torch.tensor([1.0, 0.5, 0.25]))[0]
    return {
        "tone": tone / tone.abs().max() * 0.9,
        "quiet tone": tone * 1e-4,
        "noise": torch.randn(N_SAMPLES, generator=generator) * 0.1,
        "low": harmonic_tones(torch.tensor([25.0]), torch.ones(1))[0],
        "silence": torch.zeros(N_SAMPLES),
    }


@pytest.mark.parametrize("name", ["tone", "quiet tone", "noise", "low", "silence"])
def test_the_pages_estimate_is_estimate_f0s(model, cqt, name):
    audio = _sounds()[name]
    page = estimate_from_features(model[0], excerpt_features(cqt, audio[None]))
    reference = estimate_f0(model, audio, SAMPLE_RATE)
    for field in ("f0_hz", "f0_frames_hz", "voiced", "confidence", "level_db", "tonal_share"):
        torch.testing.assert_close(getattr(page, field), getattr(reference, field), rtol=0, atol=0, msg=field)
    assert page.reason == reference.reason
    expected = {"tone": "", "quiet tone": "silent", "noise": "noise", "low": "below the trained range"}
    expected["silence"] = "silent"
    expected = expected[name]
    assert page.reason == [expected]


def test_analysis_is_the_models_soft_argmax_and_synth(model, cqt):
    audio = _sounds()["tone"]
    features = excerpt_features(cqt, audio[None])
    analysis = analyse(model[0], features)
    encoder = model[0].encoder
    p = analysis.probabilities.double().numpy()
    assert p.shape == (16, encoder.n_bins)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
    # f0 = fmin (fmax / fmin)^u, u the expected bin position on [0, 1] (docs/method.md, soft-argmax)
    u = p @ np.linspace(0.0, 1.0, encoder.n_bins)
    f0 = encoder.fmin_hz * (encoder.fmax_hz / encoder.fmin_hz) ** u
    np.testing.assert_allclose(analysis.f0_frames_hz.double().numpy(), f0, rtol=1e-4)
    synth = harmonic_synth(analysis.f0_frames_hz[None], analysis.amplitudes[None], N_SAMPLES, SAMPLE_RATE)[0]
    torch.testing.assert_close(analysis.reconstruction, synth, rtol=1e-5, atol=1e-6)
    assert analysis.cqt.shape == (16, encoder.n_bins)
    assert analysis.bin_hz[0].item() == pytest.approx(32.7, abs=0.01)


# ------------------------------------------------------------------------------------------------
# The page


def _fake_real_notes(path: Path) -> None:
    """Two notes in the real-notes file format (rendered by the synthesizer, not FluidSynth)."""
    f0 = torch.tensor([220.0, 440.0])
    audio = harmonic_tones(f0, torch.tensor([1.0, 0.6, 0.3])) * 0.2
    notes = {
        "meta": {"format_version": REAL_NOTES_VERSION, "sample_rate": SAMPLE_RATE},
        "examples": {
            "audio": audio,
            "f0_hz": f0,
            "midi_note": torch.tensor([57, 69]),
            "program": torch.tensor([0, 40]),
            "family": torch.tensor([0, 5]),
            "family_name": ["piano", "strings"],
            "instrument": ["Acoustic Grand Piano", "Violin"],
        },
    }
    save_real_notes(notes, path)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A repository-like folder: two shipped runs, no dataset, no real notes."""
    root = tmp_path_factory.mktemp("root")
    for run in RUNS:
        (root / "checkpoints" / run).parent.mkdir(parents=True, exist_ok=True)
        (root / "checkpoints" / run).symlink_to(REPO / "checkpoints" / run, target_is_directory=True)
    return root


@pytest.fixture(scope="module")
def page(root):
    return EstimatorExplorer(root)


def _snapshot(page):
    return {
        "figure": bytes(page.images["figure"].value),
        "table": page.table.value,
        "message": page.message.value,
        "audio": {name: bytes(player.value) for name, player in page.audio.items()},
        "updates": page.n_updates,
    }


def _show_tone(page, index=0):
    page.controls["source"].value = "synthetic test tone"
    page.controls["checkpoint_a"].value = "SOT-2048 · seed 123"
    page.controls["checkpoint_b"].value = "MSS-Lin · seed 123"
    page.controls["tone"].value = index


def test_without_the_dataset_a_small_stand_in_set_is_made(page, root):
    assert (root / STAND_IN_DATA_PATH).is_file() and len(page.tones) == 40
    assert "make data" in page.message.value and "stand-in" in page.message.value
    assert not (root / "data" / "harmonic_sr16000_n4000_seed0.pt").exists()  # `make data` still builds it


def test_the_first_view_compares_two_models_on_a_test_tone(page):
    _show_tone(page)
    assert list(page.checkpoints) == ["MSS-Lin · seed 123", "SOT-2048 · seed 123"]  # the paper's order
    assert list(page.analyses) == ["SOT-2048 · seed 123", "MSS-Lin · seed 123"]
    table = page.table.value
    f0 = float(page.tones.f0_hz[0])
    for label, analysis in page.analyses.items():
        assert label in table and f"<b>{_hz(analysis.estimate.f0_hz[0])}</b>" in table
    assert f"<td>{_hz(f0)}</td>" in table and "voiced" in table and ("within" in table or "beyond" in table)
    assert bytes(page.images["figure"].value).startswith(b"\x89PNG")
    for name, player in page.audio.items():
        data, rate = soundfile.read(io.BytesIO(bytes(player.value)))
        assert rate == SAMPLE_RATE and data.shape == (N_SAMPLES,) and np.abs(data).max() > 0.5, name


def _hz(value) -> str:
    from sot_utils.study.explorers.widgets import format_hz

    return format_hz(float(value))


@pytest.mark.parametrize(
    "name, value",
    [
        ("checkpoint_a", "MSS-Lin · seed 123"),
        ("tone", 7),
    ],
)
def test_model_and_tone_controls_change_the_analysis(page, name, value):
    _show_tone(page, 3)
    before = _snapshot(page)
    page.controls[name].value = value
    after = _snapshot(page)
    assert after["updates"] > before["updates"]
    assert after["figure"] != before["figure"] and after["table"] != before["table"]


def test_the_second_model_can_be_left_out(page):
    _show_tone(page, 2)
    page.controls["checkpoint_b"].value = NO_CHECKPOINT
    assert list(page.analyses) == ["SOT-2048 · seed 123"]
    assert "MSS-Lin" not in page.table.value
    assert page.players["reconstruction_b"].layout.display == "none"
    page.controls["checkpoint_b"].value = "MSS-Lin · seed 123"
    assert page.players["reconstruction_b"].layout.display == ""


def test_the_frame_slider_redraws_without_recomputing(page):
    _show_tone(page, 5)
    before = _snapshot(page)
    page.controls["frame"].value = 2 if page.controls["frame"].value != 2 else 3
    after = _snapshot(page)
    assert after["updates"] == before["updates"] and after["figure"] != before["figure"]
    assert f"f0 in CQT frame {page.controls['frame'].value}" in after["table"]


def test_real_notes_missing_then_present(page, root):
    _show_tone(page)
    page.controls["source"].value = "real note"
    assert "make real-notes" in page.message.value and page.table.value == ""
    assert page.images["figure"].layout.display == "none"
    assert all(box.layout.display == "none" for box in page.players.values())
    _fake_real_notes(root / REAL_NOTES_PATH)
    page.controls["source"].value = "synthetic test tone"
    page.controls["source"].value = "real note"
    assert [label for label, _ in page.controls["note"].options] == [
        "Acoustic Grand Piano A3 (220.0 Hz)",
        "Violin A4 (440.0 Hz)",
    ]
    assert "Acoustic Grand Piano, A3" in page.table.value and "<td>220.0 Hz</td>" in page.table.value
    assert page.images["figure"].layout.display == "" and page.players["sound"].layout.display == ""
    before = _snapshot(page)
    page.controls["note"].value = 1
    after = _snapshot(page)
    assert "Violin, A4" in after["table"] and after["figure"] != before["figure"]


def test_an_upload_is_analysed_and_its_excerpt_can_move(page):
    _show_tone(page)
    long_tone = np.concatenate([np.zeros(22050, np.float32), _tone(330.0, 1.0, 44100)])
    page.load_upload(_wav(np.stack([long_tone, long_tone], 1), 44100), "mine.wav")
    assert page.controls["source"].value == "upload"
    assert "mine.wav" in page.table.value and "mixed to mono" in page.message.value
    assert "resampled from 44100 Hz" in page.message.value
    assert page.controls["excerpt_s"].value >= 0.45  # the loudest excerpt: after the silent half second
    before = _snapshot(page)
    page.controls["excerpt_s"].value = 0.0  # the silent start
    after = _snapshot(page)
    assert "from 0.00 s" in after["message"] and after["table"] != before["table"]
    assert "<b>unvoiced</b> (silent)" in after["table"]  # as estimate_f0 reports exact silence
    page.controls["excerpt_s"].value = 0.4  # straddles the start of the tone
    assert "from 0.40 s" in page.message.value and "mine.wav" in page.table.value


@pytest.mark.parametrize(
    "content, message",
    [
        (b"not a sound file", "could not be read as audio"),
        (_wav(np.zeros(16000, np.float32), 16000), "is silent"),
        (_wav(_tone(220.0, 0.05, 16000), 16000), "too short"),
        (_wav(_tone(220.0, 2.0, 2000), 2000), "sample rate is 2000 Hz"),
    ],
    ids=["not-audio", "silent", "too-short", "sample-rate"],
)
def test_a_bad_upload_gets_a_message_and_clears_the_outputs(page, content, message):
    _show_tone(page)
    page.load_upload(content, "bad.wav")
    assert message in page.message.value and "bad.wav" in page.message.value
    assert "Traceback" not in page.message.value
    page.controls["source"].value = "upload"
    assert page.table.value == "" and page.images["figure"].layout.display == "none"
    assert "Upload a WAV or FLAC file" in page.message.value


@pytest.mark.parametrize("where", ["decoding", "resampling"])
def test_running_out_of_memory_during_an_upload_gets_a_message(page, monkeypatch, where):
    def out_of_memory(*args, **kwargs):
        raise MemoryError

    if where == "decoding":
        monkeypatch.setattr(soundfile.SoundFile, "read", out_of_memory)
    else:
        monkeypatch.setattr(estimator, "resample_to_model_rate", out_of_memory)
    _show_tone(page)
    page.load_upload(_wav(_tone(220.0, 0.5, 44100), 44100), "big.wav")
    assert "big.wav: this machine ran out of memory" in page.message.value
    assert page.table.value == "" and page.images["figure"].layout.display == "none"


def test_upload_widget_feeds_the_page(page):
    _show_tone(page)
    content = _wav(_tone(250.0, 0.5, 22050), 22050)
    page.controls["upload"].value = (
        {
            "name": "widget.wav",
            "type": "audio/wav",
            "size": len(content),
            "content": memoryview(content),
            "last_modified": datetime.datetime.now(datetime.UTC),
        },
    )
    assert "widget.wav" in page.table.value


def test_a_root_without_checkpoints_says_how_to_train_one(tmp_path):
    page = EstimatorExplorer(tmp_path)
    assert page.checkpoints == {} and page.analyses == {}
    assert "python -m sot_utils.training.train" in page.message.value
    data, rate = soundfile.read(io.BytesIO(bytes(page.audio["sound"].value)))
    assert rate == SAMPLE_RATE and math.isclose(np.abs(data).max(), 0.9, abs_tol=1e-3)


# ------------------------------------------------------------------------------------------------
# The server's limits


_SERVER_SETTINGS = """
import json, sys
from voila.app import Voila

app = Voila()
app.initialize(sys.argv[1:])
print(json.dumps(app.tornado_settings))
"""


def test_the_server_caps_websocket_messages_a_little_above_the_upload_limit():
    """Voila configured as `make estimator` starts it (the command `make -n` prints): tornado's
    websocket_max_message_size (10 MiB by default) is a little above the page's upload limit, so that
    an upload the page accepts gets through and a client bypassing the page cannot push much more.
    tests/study/test_explorer_browser.py checks the live server."""
    make = ["make", "-s", "-n", "-o", ".venv/.installed", "estimator"]  # -o: the venv as it is
    command = subprocess.run(make, capture_output=True, text=True, cwd=REPO, check=True).stdout.strip()
    words = shlex.split(command)
    env = dict(word.split("=", 1) for word in words if "=" in word and not word.startswith("-"))
    arguments = words[words.index("voila") + 1 :]
    assert words[words.index("voila") - 1] == "-m" and set(env) >= {"JUPYTER_PATH", "JUPYTER_CONFIG_PATH"}
    result = subprocess.run(
        [sys.executable, "-c", _SERVER_SETTINGS, *arguments],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **env},
        check=True,
    )
    settings = json.loads(result.stdout.splitlines()[-1])
    assert MAX_UPLOAD_BYTES < settings["websocket_max_message_size"] <= MAX_UPLOAD_BYTES + 2**21


def test_the_page_offers_the_recipe_and_the_real_sound_runs(tmp_path):
    """Shipped runs, then notebook 09's recipe runs, then notebook 10's runs trained on real sounds."""
    from sot_utils.study.explorers.estimator import list_checkpoints

    for run in ("MSS-Lin/42", "remedies/recipe/MSS-Lin/123", "real-sounds/real-corpus/MSS-Lin-recipe/7"):
        (tmp_path / "checkpoints" / run).mkdir(parents=True)
        (tmp_path / "checkpoints" / run / "best.pt").write_bytes(b"")
    (tmp_path / "checkpoints" / "real-sounds" / "real-corpus" / "MSS-Lin-recipe" / "notes").mkdir()  # not a seed
    labels = list_checkpoints(tmp_path)
    assert list(labels) == ["MSS-Lin · seed 42", "recipe MSS-Lin · seed 123", "MSS-Lin-recipe (real-corpus) · seed 7"]
    assert labels["MSS-Lin-recipe (real-corpus) · seed 7"].endswith("real-corpus/MSS-Lin-recipe/7/best.pt")
