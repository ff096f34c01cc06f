"""Every file loader, fed random bytes, damaged copies of valid files and crafted bombs, refuses with
its documented exception and a one-line message that names the file: never another exception, a
hang, or memory that grows with what a small file claims to hold.

Loaders and their documented exceptions:

- audio: :func:`~sot_utils.training.audio_file.read_audio`, from a path or from bytes (``AudioFileError``);
- checkpoint: :func:`~sot_utils.training.checkpoint.load_checkpoint` and ``load_model``
  (``CheckpointError``, ``FileNotFoundError``);
- dataset: :func:`~sot_utils.training.data.read_dataset` and ``load_split`` (``ValueError``,
  ``FileNotFoundError``);
- config overlay: :func:`~sot_utils.training.config.resolve_config` (``ValueError``).

Hypothesis runs derandomized (the same examples on every run, nothing stored between runs) under
the ``sot-fuzz-loaders`` profile: a modest number of examples per loader (60; the environment
variable ``SOT_FUZZ_EXAMPLES`` changes it) and a per-example deadline.
Memory is measured in subprocesses (peak RSS growth, under a generous address-space limit).
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sot_utils.training.audio_file import AudioFileError, read_audio
from sot_utils.training.checkpoint import CheckpointError, load_checkpoint, load_model
from sot_utils.training.config import LossConfig, ModelConfig, TrainConfig, resolve_config
from sot_utils.training.data import SPLITS, HarmonicDataset, load_split, read_dataset

settings.register_profile(
    "sot-fuzz-loaders",
    max_examples=int(os.environ.get("SOT_FUZZ_EXAMPLES", 60)),  # per loader; raise it for a longer local hunt
    deadline=timedelta(seconds=5),  # a loaded 2-core machine; a pathological input takes far longer
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ = settings(settings.get_profile("sot-fuzz-loaders"))
MAX_MESSAGE = 1000  # characters: a refusal is a sentence, never a dump of what the file holds

AUDIO_ERRORS = (AudioFileError,)
CHECKPOINT_ERRORS = (CheckpointError, FileNotFoundError)
DATASET_ERRORS = (ValueError, FileNotFoundError)
CONFIG_ERRORS = (ValueError,)


# --------------------------------------------------------------------------------------------
# Oracles and strategies


def attempt(load, documented: tuple[type[BaseException], ...], name: str):
    """``load()``'s result, or None when it raised one of ``documented`` with a one-line message
    naming ``name`` (any other exception propagates: the fuzz case fails with it)."""
    try:
        return load()
    except documented as error:
        check_message(error, name)
        return None


def check_message(error: BaseException, name: str | None) -> str:
    message = str(error)
    assert message.strip(), f"{type(error).__name__} without a message"
    assert "\n" not in message.strip(), f"a message of several lines: {message[:600]!r}"
    assert len(message) <= MAX_MESSAGE, f"a message of {len(message)} characters: {message[:300]!r}..."
    assert "Traceback" not in message and "weights_only=False" not in message, message
    if name is not None:
        assert name in message, f"the message does not name {name!r}: {message!r}"
    return message


def _flip(data: bytes, flips) -> bytes:
    out = bytearray(data)
    for position, bit in flips:
        out[position] ^= 1 << bit
    return bytes(out)


def damaged(valid: bytes, hot: int = 4096):
    """Copies of a valid file: truncated prefixes, bit flips and spliced random bytes (at any
    position, biased towards the headers at both ends: a zip's directory is at its end), and
    plain random bytes."""
    n = len(valid)
    position = st.one_of(st.integers(0, min(n, hot) - 1), st.integers(max(0, n - hot), n - 1), st.integers(0, n - 1))
    truncated = st.integers(0, n - 1).map(lambda k: valid[:k])
    flipped = st.lists(st.tuples(position, st.integers(0, 7)), min_size=1, max_size=12).map(
        lambda flips: _flip(valid, flips)
    )
    spliced = st.tuples(position, st.binary(min_size=1, max_size=64)).map(
        lambda pb: valid[: pb[0]] + pb[1] + valid[pb[0] + len(pb[1]) :]
    )
    return st.one_of(truncated, flipped, spliced, st.binary(max_size=2048))


def tone_bytes(fmt: str, seconds: float = 0.25, rate: int = 16000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    buffer = io.BytesIO()
    soundfile.write(buffer, 0.5 * np.sin(2 * math.pi * 440 * t), rate, format=fmt, subtype="PCM_16")
    return buffer.getvalue()


def unknown_length_flac(data: bytes) -> bytes:
    """``data`` (a FLAC file) with STREAMINFO's total-samples field set to 0: "unknown", as a
    streaming encoder writes it (FLAC format, METADATA_BLOCK_STREAMINFO)."""
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # the first metadata block is STREAMINFO
    fields = int.from_bytes(data[18:26], "big") & ~((1 << 36) - 1)
    return data[:18] + fields.to_bytes(8, "big") + data[26:]


WAV, FLAC = tone_bytes("WAV"), tone_bytes("FLAC")
OVERLAY = yaml.safe_dump({"steps": 3, "batch_size": 4, "shuffle": False, "model": {"dropout": 0.25}}).encode()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def run(tiny_run, one_torch_thread):
    """A tiny 2-step run: its ``best.pt`` and ``last.pt``."""
    return tiny_run


# --------------------------------------------------------------------------------------------
# Audio


def check_audio(result):
    audio, rate = result
    assert isinstance(audio, np.ndarray) and audio.dtype == np.float32 and audio.ndim == 1 and audio.size
    assert np.isfinite(audio).all() and isinstance(rate, int) and rate > 0


@pytest.mark.parametrize("fmt", ["wav", "flac"])
def test_audio_damaged_files_and_uploads_are_refused_cleanly(fmt, workdir):
    valid = WAV if fmt == "wav" else FLAC
    path = workdir / f"fuzzed.{fmt}"

    @FUZZ
    @given(blob=damaged(valid))
    def check(blob):
        path.write_bytes(blob)
        for result in (
            attempt(lambda: read_audio(path, max_seconds=30), AUDIO_ERRORS, str(path)),
            attempt(lambda: read_audio(blob, name=f"upload.{fmt}", max_seconds=30), AUDIO_ERRORS, f"upload.{fmt}"),
        ):
            if result is not None:
                check_audio(result)

    check()


def test_audio_valid_files_load():
    for valid in (WAV, FLAC):
        audio, rate = read_audio(valid, name="tone")
        assert rate == 16000 and audio.shape == (4000,) and 0.45 < np.abs(audio).max() <= 0.5


def test_audio_flac_of_unknown_length_is_refused_with_its_reason():
    """libsndfile reports SF_COUNT_MAX frames for it and soundfile cannot read it (its first read
    seeks); the message says why instead of "576460752303424 s long"."""
    with pytest.raises(AudioFileError, match="tone.flac: its header leaves the length open"):
        read_audio(unknown_length_flac(FLAC), name="tone.flac")


# --------------------------------------------------------------------------------------------
# Checkpoints


def test_checkpoint_damaged_copies_are_refused_cleanly(run, workdir):
    best, last = (run / "best.pt").read_bytes(), (run / "last.pt").read_bytes()
    path = workdir / "fuzzed_ckpt.pt"

    @FUZZ
    @given(blob=st.one_of(damaged(best), damaged(last)))
    def check(blob):
        path.write_bytes(blob)
        for kind in ("best", "last"):
            contents = attempt(lambda: load_checkpoint(path, kind), CHECKPOINT_ERRORS, str(path))
            assert contents is None or isinstance(contents["config"], TrainConfig)
        loaded = attempt(lambda: load_model(path), CHECKPOINT_ERRORS, str(path))
        assert loaded is None or isinstance(loaded[1], TrainConfig)

    check()


def _edits(keys):
    """(key, replacement) edits of a mapping: a value of another kind, or the key removed (None)."""
    junk = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=True),
        st.text(max_size=20),
        st.lists(st.integers(-5, 5), max_size=4),
        st.dictionaries(st.text(max_size=6), st.integers(0, 3), max_size=3),
        st.sampled_from([torch.zeros(0), torch.full((3,), float("nan")), torch.arange(4), torch.ones(2, 2)]),
    )
    return st.lists(st.tuples(st.sampled_from(keys), st.one_of(st.just(None), st.tuples(junk))), max_size=3)


def _apply(mapping: dict, edits) -> dict:
    out = dict(mapping)
    for key, replacement in edits:
        if replacement is None:
            out.pop(key, None)
        else:
            out[key] = replacement[0]
    return out


def test_checkpoint_archives_with_wrong_contents_are_refused_cleanly(run, workdir):
    """Well-formed torch archives holding the wrong things: keys missing or of another kind,
    weights renamed, reshaped, non-finite or not tensors, a config edited to nonsense."""
    base = torch.load(run / "last.pt", weights_only=True)
    weight_names = sorted(base["model"])
    config_keys = sorted(base["config"]) + ["model", "loss"]
    path = workdir / "edited_ckpt.pt"

    @FUZZ
    @given(
        top=_edits(sorted(base)),
        weights=_edits(weight_names + ["extra.weight"]),
        config=_edits(config_keys),
    )
    def check(top, weights, config):
        contents = _apply(base, top)
        if isinstance(contents.get("model"), dict):
            contents["model"] = _apply(contents["model"], weights)
        if isinstance(contents.get("config"), dict):
            contents["config"] = _apply(contents["config"], config)
        torch.save(contents, path)
        for kind in ("best", "last"):
            attempt(lambda: load_checkpoint(path, kind), CHECKPOINT_ERRORS, str(path))
        attempt(lambda: load_model(path), CHECKPOINT_ERRORS, str(path))

    check()


# --------------------------------------------------------------------------------------------
# Datasets


def check_split(result, split):
    assert result is None or (isinstance(result, HarmonicDataset) and len(result) > 0), split


def test_dataset_damaged_copies_are_refused_cleanly(tiny_data, workdir):
    valid = Path(tiny_data).read_bytes()
    path = workdir / "fuzzed_data.pt"

    @FUZZ
    @given(blob=damaged(valid))
    def check(blob):
        path.write_bytes(blob)
        attempt(lambda: read_dataset(path), DATASET_ERRORS, str(path))
        for split in SPLITS:
            check_split(attempt(lambda: load_split(path, split), DATASET_ERRORS, str(path)), split)

    check()


def test_dataset_archives_with_wrong_contents_are_refused_cleanly(tiny_data, workdir):
    """Well-formed torch archives with the dataset's layout broken: a key missing or of another
    kind, tensors of the wrong rank, dtype or length, split indices out of range, NaN audio."""
    base = torch.load(tiny_data, weights_only=True)
    n = base["examples"]["audio"].shape[0]
    tensors = st.sampled_from(
        [
            torch.zeros(0, dtype=torch.int64),
            torch.tensor([0, n], dtype=torch.int64),
            torch.tensor([-1, 2], dtype=torch.int64),
            torch.tensor([0.0, 1.0]),
            torch.tensor([True, False]),
            torch.zeros(3, 2, dtype=torch.int64),
            torch.zeros(n, 0),
            torch.zeros(n - 1, 16),
            torch.full((n, 16), float("nan")),
            torch.zeros(n, dtype=torch.int64),
            torch.zeros(n, 8),
        ]
    )
    path = workdir / "edited_data.pt"
    sections = {"meta": sorted(base["meta"]), "examples": sorted(base["examples"]), "splits": list(SPLITS)}

    @FUZZ
    @given(
        top=_edits(["meta", "examples", "splits", "extra"]),
        inner=st.lists(st.sampled_from(sorted(sections)), max_size=3),
        swaps=st.lists(st.tuples(st.sampled_from(["examples", "splits"]), st.integers(0, 4), tensors), max_size=3),
        data=st.data(),
    )
    def check(top, inner, swaps, data):
        contents = {key: dict(value) for key, value in base.items()}
        for section in inner:
            contents[section] = _apply(contents[section], data.draw(_edits(sections[section])))
        for section, index, tensor in swaps:
            keys = sections[section]
            contents[section][keys[index % len(keys)]] = tensor
        contents = _apply(contents, top)
        torch.save(contents, path)
        attempt(lambda: read_dataset(path), DATASET_ERRORS, str(path))
        for split in SPLITS:
            check_split(attempt(lambda: load_split(path, split), DATASET_ERRORS, str(path)), split)

    check()


# --------------------------------------------------------------------------------------------
# Config overlays

CONFIG_KEYS = sorted(f.name for f in dataclasses.fields(TrainConfig))
NESTED_KEYS = {
    "model": sorted(f.name for f in dataclasses.fields(ModelConfig)),
    "loss": sorted(f.name for f in dataclasses.fields(LossConfig)),
}
_YAML_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=True),
        st.text(max_size=12),
    ),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def overlays(draw):
    """A mapping of settings as a user might write it: known keys (nested ones too) and a few
    unknown ones, holding values of any YAML kind."""
    values = draw(st.dictionaries(st.sampled_from(CONFIG_KEYS) | st.text(max_size=10), _YAML_VALUES, max_size=5))
    for section, keys in NESTED_KEYS.items():
        if draw(st.booleans()):
            values[section] = draw(
                st.dictionaries(st.sampled_from(keys) | st.text(max_size=6), _YAML_VALUES, max_size=4)
            )
    return values


def _refused_by_the_yaml_parser(blob: bytes) -> bool:
    """Whether the YAML parser itself refuses ``blob`` (not UTF-8, not YAML, not a mapping): then the
    message must name the file. A valid mapping may be refused by the schema, naming the setting."""
    try:
        return not isinstance(yaml.safe_load(blob.decode("utf-8")), dict)
    except Exception:  # YAMLError, UnicodeDecodeError, RecursionError
        return True


def test_config_damaged_overlays_are_refused_cleanly(workdir):
    path = workdir / "fuzzed.yaml"

    @FUZZ
    @given(blob=st.one_of(damaged(OVERLAY, hot=len(OVERLAY)), st.text(max_size=300).map(str.encode)))
    def check(blob):
        path.write_bytes(blob)
        name = str(path) if _refused_by_the_yaml_parser(blob) else None
        try:
            config = resolve_config("MSS-Lin", 0, overlays=[path])
        except CONFIG_ERRORS as error:
            check_message(error, name)
        else:
            assert isinstance(config, TrainConfig)

    check()


def test_config_overlays_of_any_values_are_refused_cleanly(workdir):
    path = workdir / "values.yaml"

    @FUZZ
    @given(values=overlays())
    def check(values):
        path.write_text(yaml.safe_dump(values))
        try:
            config = resolve_config("MSS-Lin", 0, overlays=[path])
        except CONFIG_ERRORS as error:
            check_message(error, None)
        else:
            assert isinstance(config, TrainConfig)

    check()


ALIAS_BOMB = (
    "shuffle: [&a [lol,lol,lol,lol,lol,lol,lol,lol,lol], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a], "
    "&c [*b,*b,*b,*b,*b,*b,*b,*b,*b], &d [*c,*c,*c,*c,*c,*c,*c,*c,*c], &e [*d,*d,*d,*d,*d,*d,*d,*d,*d], "
    "&f [*e,*e,*e,*e,*e,*e,*e,*e,*e], &g [*f,*f,*f,*f,*f,*f,*f,*f,*f], &h [*g,*g,*g,*g,*g,*g,*g,*g,*g], "
    "[*h,*h,*h,*h,*h,*h,*h,*h,*h]]  # 9**9 strings\n"
)
"""A single ``shuffle:`` of 329 bytes holding nested aliases: its last entry expands to 9**9
(387 million) strings, and a message quoting it in full would never end."""

CHAINED_ALIAS_BOMB = "".join(
    [f"a: &a [{','.join(['lol'] * 9)}]\n"]
    + [f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefg", "bcdefgh")]
    + [f"shuffle: [{','.join(['*h'] * 9)}]\n"]
)
"""The same bomb as a chain of top-level keys (unknown keys too: a message listing them must stay short)."""


def _resolve_with_timeout(path, seconds: float = 20.0):
    """``resolve_config`` with ``path`` as overlay in a daemon thread: (seconds taken, error or None)."""
    outcome = {}

    def target():
        start = time.perf_counter()
        try:
            resolve_config("MSS-Lin", 0, overlays=[path])
        except Exception as error:  # reported below
            outcome["error"] = error
        outcome["seconds"] = time.perf_counter() - start

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{path.name}: still resolving after {seconds} s"
    return outcome["seconds"], outcome.get("error")


@pytest.mark.parametrize("bomb", ["one-shuffle", "chained"])
def test_config_alias_bombs_are_refused_quickly_with_a_short_message(bomb, workdir):
    """In a subprocess with a memory limit (the probes below): an alias bomb must not expand."""
    text = ALIAS_BOMB if bomb == "one-shuffle" else CHAINED_ALIAS_BOMB
    assert bomb != "one-shuffle" or len(text.encode()) == 329
    path = workdir / f"{bomb}.yaml"
    path.write_text(text)
    result = _probe(CONFIG_PROBE, workdir, path=path, timeout=60)
    assert result["error_type"] == "ValueError", json.dumps(result)
    assert result["seconds"] < 30 and result["grew_mb"] < 100, json.dumps(result)  # a hang bound
    assert len(result["message"]) < 1000 and "\n" not in result["message"], json.dumps(result)
    assert result["path"] in result["message"], json.dumps(result)


def test_config_duplicate_keys_are_refused(workdir):
    path = workdir / "duplicate.yaml"
    path.write_text("steps: 3\nsteps: 5\n")
    with pytest.raises(ValueError) as caught:
        resolve_config("MSS-Lin", 0, overlays=[path])
    message = check_message(caught.value, str(path))
    assert "steps" in message and "duplicate" in message


def test_config_deep_nesting_is_refused_with_a_value_error(workdir):
    path = workdir / "deep.yaml"
    path.write_text("steps: " + "[" * 3000 + "]" * 3000 + "\n")
    seconds, error = _resolve_with_timeout(path)
    assert isinstance(error, ValueError), repr(error)
    check_message(error, str(path))


def test_config_schema_error_names_the_overlay(workdir):
    path = workdir / "bad_steps.yaml"
    path.write_text("steps: abc\n")
    with pytest.raises(ValueError) as caught:
        resolve_config("MSS-Lin", 0, overlays=[path])
    check_message(caught.value, str(path))


def test_config_not_utf8_names_the_file(workdir):
    path = workdir / "latin1.yaml"
    path.write_bytes("steps: 3 # d\xe9j\xe0\n".encode("latin-1"))
    with pytest.raises(ValueError) as caught:
        resolve_config("MSS-Lin", 0, overlays=[path])
    check_message(caught.value, str(path))


# --------------------------------------------------------------------------------------------
# Every loader: no such file, a folder, a device, a pipe (refused before any read: no hang)

LOADERS = {
    "audio": (lambda p: read_audio(p), AUDIO_ERRORS),
    "checkpoint": (lambda p: load_checkpoint(p), CHECKPOINT_ERRORS),
    "model": (lambda p: load_model(p), CHECKPOINT_ERRORS),
    "dataset": (lambda p: read_dataset(p), DATASET_ERRORS),
    "split": (lambda p: load_split(p, "test"), DATASET_ERRORS),
    "config": (lambda p: resolve_config("MSS-Lin", 0, overlays=[p]), CONFIG_ERRORS),
}


@pytest.mark.parametrize("loader", sorted(LOADERS))
@pytest.mark.parametrize("what", ["missing", "folder", "device", "pipe"])
def test_loaders_refuse_what_is_not_a_regular_file_without_reading_it(loader, what, tmp_path):
    path = {"missing": tmp_path / "absent.bin", "folder": tmp_path, "device": Path("/dev/zero")}.get(what)
    if what == "pipe":
        path = tmp_path / "pipe"
        os.mkfifo(path)
    load, documented = LOADERS[loader]
    outcome = {}

    def target():
        try:
            outcome["result"] = load(path)
        except BaseException as error:  # checked below
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(30)
    if thread.is_alive():  # unblock a reader stuck on the pipe before failing
        if what == "pipe":
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail(f"{loader} is still reading {path} after 30 s")
    error = outcome.get("error")
    assert isinstance(error, documented), repr(error) if error else f"loaded: {outcome.get('result')!r}"
    check_message(error, path.name)


# --------------------------------------------------------------------------------------------
# Bounded memory: bombs, each loaded in a subprocess (peak RSS growth, under an address-space limit)

PROBE = textwrap.dedent(
    """
    import json, resource, sys, time

    {imports}


    def status(field):  # kB; VmHWM is this process's peak RSS (ru_maxrss would include the parent's before exec)
        with open("/proc/self/status") as lines:
            return next(int(line.split()[1]) for line in lines if line.startswith(field + ":"))


    path = sys.argv[1]
    headroom = 3 * 2**30  # address space beyond what the interpreter holds: a runaway allocation fails
    resource.setrlimit(resource.RLIMIT_AS, (status("VmSize") * 1024 + headroom, resource.RLIM_INFINITY))
    before = status("VmHWM")
    start = time.perf_counter()
    result = {{"path": path, "error_type": None, "message": ""}}
    try:
        {call}
    except BaseException as error:
        result.update(error_type=type(error).__name__, message=str(error)[:4000])
    result["seconds"] = time.perf_counter() - start
    result["grew_mb"] = (status("VmHWM") - before) / 1024
    print(json.dumps(result))
    """
)
AUDIO_PROBE = ("from sot_utils.training.audio_file import read_audio", "read_audio(path, max_seconds={max_seconds})")
CONFIG_PROBE = ("from sot_utils.training.config import resolve_config", "resolve_config('MSS-Lin', 0, overlays=[path])")
DATASET_PROBE = ("from sot_utils.training.data import read_dataset", "read_dataset(path)")
CHECKPOINT_PROBE = ("from sot_utils.training.checkpoint import load_checkpoint", "load_checkpoint(path)")
MODEL_PROBE = ("from sot_utils.training.checkpoint import load_model", "load_model(path)")


def _probe(probe, workdir: Path, *, path: Path, timeout: float = 120, **fmt) -> dict:
    """Run ``probe``'s call on ``path`` in a fresh interpreter: its exception, time and peak RSS growth."""
    imports, call = probe
    source = PROBE.format(imports=imports, call=call.format(**fmt))
    try:
        done = subprocess.run(
            [sys.executable, "-c", source, str(path)], capture_output=True, text=True, timeout=timeout, cwd=workdir
        )
    except subprocess.TimeoutExpired:
        return {"path": str(path), "error_type": "timeout", "message": "", "seconds": math.inf, "grew_mb": math.nan}
    assert done.returncode == 0 and done.stdout.strip(), done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _deflated_archive(contents: dict, path: Path, scratch: Path) -> Path:
    """``torch.save(contents)`` with its records recompressed (deflate): a few hundred KB that
    expand to the size of ``contents``' tensors. torch's reader accepts it."""
    torch.save(contents, scratch)
    with zipfile.ZipFile(scratch) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for record in source.infolist():
            with source.open(record) as src, out.open(record.filename, "w") as dst:
                while chunk := src.read(2**22):
                    dst.write(chunk)
    scratch.unlink()
    return path


BOMB_MB = 256


@pytest.fixture(scope="module")
def bombs(workdir, run):
    """Small files that claim (or hold, compressed) far more than their size."""
    bombs = {}
    hour = workdir / "hour.flac"
    block = np.full(48000 * 60, 0.25, dtype=np.float32)
    with soundfile.SoundFile(hour, "w", 48000, 1, format="FLAC", subtype="PCM_16") as f:
        for _ in range(60):
            f.write(block)
    assert hour.stat().st_size < 600_000 and soundfile.info(str(hour)).frames == 3600 * 48000  # one hour of audio
    bombs["hour.flac"] = hour
    (workdir / "hour_unknown_length.flac").write_bytes(unknown_length_flac(hour.read_bytes()))
    bombs["hour_unknown_length.flac"] = workdir / "hour_unknown_length.flac"
    big = torch.empty(BOMB_MB * 2**18)  # untouched pages: no memory used here
    bombs["deflated_data.pt"] = _deflated_archive(
        {"meta": {"format_version": 1, "sample_rate": 16000}, "splits": {}, "examples": {"audio": big}},
        workdir / "deflated_data.pt",
        workdir / "scratch.pt",
    )
    last = torch.load(run / "best.pt", weights_only=True)
    bombs["deflated_ckpt.pt"] = _deflated_archive(
        {**last, "padding": big}, workdir / "deflated_ckpt.pt", workdir / "scratch.pt"
    )
    del big
    huge = dict(last)
    huge["config"] = dict(last["config"].to_dict() if hasattr(last["config"], "to_dict") else last["config"])
    huge["config"]["model"] = {**huge["config"]["model"], "channels": [40, 40000, 40000, 3]}
    torch.save(huge, workdir / "huge_model.pt")
    bombs["huge_model.pt"] = workdir / "huge_model.pt"
    for name, path in bombs.items():
        assert path.stat().st_size < 1_000_000, name
    return bombs


def test_audio_an_hour_of_flac_is_refused_from_its_header(bombs, workdir):
    result = _probe(AUDIO_PROBE, workdir, path=bombs["hour.flac"], max_seconds=600)
    assert result["error_type"] == "AudioFileError" and "3600 s" in result["message"], json.dumps(result)
    assert result["seconds"] < 2 and result["grew_mb"] < 50, json.dumps(result)


def test_audio_an_hour_of_unknown_length_stops_at_the_limit(bombs, workdir):
    result = _probe(AUDIO_PROBE, workdir, path=bombs["hour_unknown_length.flac"], max_seconds=60)
    assert result["error_type"] == "AudioFileError" and result["path"] in result["message"], json.dumps(result)
    assert result["seconds"] < 30 and result["grew_mb"] < 200, json.dumps(result)


def test_dataset_compressed_archive_is_refused_without_expanding(bombs, workdir):
    result = _probe(DATASET_PROBE, workdir, path=bombs["deflated_data.pt"])
    assert result["error_type"] == "ValueError" and "compressed" in result["message"], json.dumps(result)
    assert result["path"] in result["message"] and result["grew_mb"] < BOMB_MB / 4, json.dumps(result)


def test_checkpoint_compressed_archive_is_refused_without_expanding(bombs, workdir):
    result = _probe(CHECKPOINT_PROBE, workdir, path=bombs["deflated_ckpt.pt"])
    assert result["error_type"] == "CheckpointError" and result["path"] in result["message"], json.dumps(result)
    assert result["grew_mb"] < BOMB_MB / 4, json.dumps(result)


def test_checkpoint_config_asking_for_a_huge_model_is_refused_before_building_it(bombs, workdir):
    result = _probe(MODEL_PROBE, workdir, path=bombs["huge_model.pt"])
    assert result["error_type"] == "CheckpointError" and result["path"] in result["message"], json.dumps(result)
    assert result["grew_mb"] < 200, json.dumps(result)
