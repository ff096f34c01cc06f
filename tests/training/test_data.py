"""Synthetic harmonic dataset (docs/method.md#method-data): determinism, splits, labels, audio, loading, CLI."""

from __future__ import annotations

import math
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from sot_utils.training.data import (
    DEFAULT_PATH,
    HarmonicDataset,
    cached_features,
    dataset_bytes,
    default_split_sizes,
    draw_parameters,
    ensure_dataset,
    generate_harmonic_dataset,
    load_split,
    read_dataset,
    save_dataset,
    split_examples,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SIZE, SPLIT_SIZES = 40, (28, 8, 4)
SAMPLE_RATE, N_SAMPLES = 16000, 4096


@pytest.fixture(scope="module")
def small_dataset():
    return generate_harmonic_dataset(seed=0, size=SIZE, split_sizes=SPLIT_SIZES, progress=False)


@pytest.fixture(scope="module")
def small_file(small_dataset, tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "small.pt"
    save_dataset(small_dataset, path)
    return path


# --------------------------------------------------------------------------------------------
# Determinism


def test_same_seed_gives_identical_bytes_whatever_the_file_name(small_file, tmp_path):
    again = generate_harmonic_dataset(seed=0, size=SIZE, split_sizes=SPLIT_SIZES, progress=False)
    other_path = tmp_path / "elsewhere" / "another_name.pt"
    save_dataset(again, other_path)
    assert other_path.read_bytes() == small_file.read_bytes()


def test_different_seed_gives_different_data(small_dataset, small_file, tmp_path):
    other = generate_harmonic_dataset(seed=1, size=SIZE, split_sizes=SPLIT_SIZES, progress=False)
    save_dataset(other, tmp_path / "seed1.pt")
    assert (tmp_path / "seed1.pt").read_bytes() != small_file.read_bytes()
    assert not torch.equal(other["examples"]["f0_hz"], small_dataset["examples"]["f0_hz"])


def test_generation_does_not_touch_the_global_rng():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    generate_harmonic_dataset(seed=0, size=4, split_sizes=(2, 1, 1), progress=False)
    assert torch.equal(torch.rand(3), expected)


# --------------------------------------------------------------------------------------------
# Splits


def test_splits_are_disjoint_cover_the_set_and_have_the_requested_sizes(small_dataset):
    splits = small_dataset["splits"]
    assert tuple(len(splits[name]) for name in ("train", "val", "test")) == SPLIT_SIZES
    union = torch.cat([splits["train"], splits["val"], splits["test"]])
    assert sorted(union.tolist()) == list(range(SIZE))
    assert small_dataset["meta"]["split_sizes"] == SPLIT_SIZES


def test_default_split_sizes_are_70_20_10():
    assert default_split_sizes(4000) == (2800, 800, 400)
    assert default_split_sizes(40) == (28, 8, 4)
    assert sum(default_split_sizes(37)) == 37


def test_default_split_is_applied_when_none_given():
    dataset = generate_harmonic_dataset(seed=0, size=10, progress=False)
    assert dataset["meta"]["split_sizes"] == (7, 2, 1)


def test_bad_split_sizes_are_rejected():
    with pytest.raises(ValueError, match="split_sizes"):
        generate_harmonic_dataset(size=10, split_sizes=(5, 2, 2), progress=False)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"f0_range_hz": (40, 8000)}, "f0_range_hz"),
        ({"f0_range_hz": (0, 100)}, "f0_range_hz"),
        ({"amplitude_range": (1.0, 0.4)}, "amplitude_range"),
        ({"min_harmonics": 9}, "min_harmonics"),
        ({"n_frames": 15}, "n_frames"),
        ({"size": 0}, "size"),
    ],
)
def test_bad_generator_parameters_are_rejected(kwargs, name):
    with pytest.raises(ValueError, match=name):
        generate_harmonic_dataset(progress=False, **kwargs)


# --------------------------------------------------------------------------------------------
# Labels


def test_drawn_labels_follow_the_reference_distributions():
    labels = draw_parameters(torch.Generator().manual_seed(0), 20000, (40.0, 1950.0), (0.4, 1.0), 8, 1)
    f0 = labels["f0_hz"].numpy()
    assert f0.min() >= 40 and f0.max() <= 1950
    assert f0.min() < 45 and f0.max() > 1945  # uniform in Hz reaches both ends
    assert abs(np.median(f0) - 995) < 30  # uniform in Hz, not log-uniform (median ~280 Hz)
    k = labels["n_harmonics"].numpy()
    assert set(np.unique(k).tolist()) == set(range(1, 9))
    counts = np.bincount(k, minlength=9)[1:]
    assert counts.min() > 0.8 * 20000 / 8


def test_stored_labels(small_dataset):
    ex = small_dataset["examples"]
    f0 = ex["f0_hz"].numpy().astype(np.float64)
    amplitudes = ex["amplitudes"].numpy()
    k = ex["n_harmonics"].numpy()
    assert ex["n_harmonics"].dtype == torch.int64 and ex["n_audible_harmonics"].dtype == torch.int64
    assert amplitudes.shape == (SIZE, 8)
    assert ((f0 >= 40) & (f0 <= 1950)).all()
    assert ((k >= 1) & (k <= 8)).all()
    harmonic = np.arange(1, 9)
    active = harmonic[None, :] <= k[:, None]
    assert (amplitudes[~active] == 0).all()  # inactive harmonics exactly zero
    assert ((amplitudes[active] >= 0.4) & (amplitudes[active] <= 1.0)).all()
    audible = ((harmonic[None, :] * f0[:, None] < SAMPLE_RATE / 2) & active).sum(axis=1)
    np.testing.assert_array_equal(ex["n_audible_harmonics"].numpy(), audible)
    assert small_dataset["meta"]["seed"] == 0 and "format_version" in small_dataset["meta"]


def test_audio_matches_an_independent_sum_of_sines(small_dataset):
    ex = small_dataset["examples"]
    assert ex["audio"].shape == (SIZE, N_SAMPLES) and ex["audio"].dtype == torch.float32
    n = np.arange(1, N_SAMPLES + 1)  # the synthesizer's phase starts at omega
    for f0, amplitudes, audio in zip(ex["f0_hz"].double().numpy(), ex["amplitudes"].numpy(), ex["audio"].numpy()):
        expected = np.zeros(N_SAMPLES)
        for k, a in enumerate(amplitudes.astype(np.float64), start=1):
            if k * f0 < SAMPLE_RATE / 2:
                expected += a * np.sin(2 * np.pi * k * f0 * n / SAMPLE_RATE)
        np.testing.assert_allclose(audio, expected, atol=1e-3, rtol=0)


# --------------------------------------------------------------------------------------------
# Loading


def test_load_split_peak_normalises_and_keeps_labels(small_dataset, small_file):
    test = load_split(small_file, "test")
    assert isinstance(test, HarmonicDataset) and len(test) == SPLIT_SIZES[2]
    raw = small_dataset["examples"]["audio"][small_dataset["splits"]["test"]].numpy().astype(np.float64)
    expected = raw / (np.abs(raw).max(axis=1, keepdims=True) + 1e-7) * 0.9
    np.testing.assert_allclose(test.audio.numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(test.audio.abs().amax(dim=1).numpy(), 0.9, atol=1e-5)
    item = test[1]
    assert set(item) == {"audio", "f0_hz", "amplitudes", "n_harmonics", "n_audible_harmonics"}
    assert item["audio"].shape == (N_SAMPLES,)
    index = int(small_dataset["splits"]["test"][1])
    assert item["f0_hz"] == small_dataset["examples"]["f0_hz"][index]
    assert torch.equal(item["amplitudes"], small_dataset["examples"]["amplitudes"][index])
    assert test.sample_rate == SAMPLE_RATE


def test_load_split_matches_split_examples(small_dataset, small_file):
    train = load_split(small_file, "train")
    labels = split_examples(small_dataset, "train")
    assert torch.equal(train.f0_hz, labels["f0_hz"])
    assert torch.equal(train.n_audible_harmonics, labels["n_audible_harmonics"])


def test_bad_split_name_is_rejected(small_file):
    with pytest.raises(ValueError, match="split"):
        load_split(small_file, "validation")


def test_missing_file_says_how_to_make_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="make data"):
        load_split(tmp_path / "absent.pt", "train")


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _one_line_naming(error: pytest.ExceptionInfo, path) -> str:
    message = str(error.value)
    assert "\n" not in message and str(path) in message, message
    return message


def test_empty_split_names_the_split_and_the_file(tmp_path):
    path = tmp_path / "no_test.pt"
    save_dataset(generate_harmonic_dataset(seed=0, size=10, split_sizes=(8, 2, 0), progress=False), path)
    assert len(load_split(path, "val")) == 2
    with pytest.raises(ValueError, match="'test' split") as error:
        load_split(path, "test")
    message = _one_line_naming(error, path)
    assert "train 8 / val 2 / test 0" in message and "`audio`" not in message


def _tone_wav(path):
    t = np.arange(4000) / 16000
    soundfile.write(path, np.sin(2 * math.pi * 300 * t), 16000)
    return path


@pytest.mark.parametrize("what", ["wav", "folder", "device", "notes", "old_version", "not_a_mapping"])
def test_fix_it_hints_never_suggest_overwriting_what_exists(what, tmp_path):
    """A file (or device) that is not a dataset: say so, leave it alone, suggest a new path."""
    path = {
        "wav": lambda: _tone_wav(tmp_path / "tone.wav"),
        "folder": lambda: tmp_path,
        "device": lambda: Path("/dev/zero"),
    }.get(what, lambda: tmp_path / f"{what}.pt")()
    contents = {
        "notes": {"meta": {"format_version": 1}, "examples": {}},
        "old_version": {"meta": {"format_version": 0}, "examples": {}, "splits": {}},
        "not_a_mapping": [1, 2, 3],
    }
    if what in contents:
        torch.save(contents[what], path)
    before = path.read_bytes() if path.is_file() else None
    with pytest.raises(ValueError) as error:
        load_split(path, "test")
    message = _one_line_naming(error, path)
    assert f"--out {path}" not in message and "--out NEW_DATASET.pt" in message
    assert "not a regular file" in message if what == "device" else "dataset" in message
    if before is not None:
        assert path.read_bytes() == before


def test_missing_file_suggests_writing_it_there(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        read_dataset(tmp_path / "absent.pt")
    assert f"--out {tmp_path / 'absent.pt'}" in _one_line_naming(error, tmp_path / "absent.pt")


def test_malicious_dataset_is_refused_without_running_code_or_relaying_torch_advice(tmp_path):
    path, marker = tmp_path / "evil.pt", tmp_path / "pwned"
    torch.save({"meta": {"format_version": 1}, "examples": {}, "splits": {"train": _Payload(str(marker))}}, path)
    with pytest.raises(ValueError, match="could run code") as error:
        read_dataset(path)
    message = _one_line_naming(error, path)
    assert "objects other than tensors and plain data" in message and "weights_only" not in message
    assert not marker.exists()


def test_compressed_archive_is_refused_before_it_is_expanded(small_file, tmp_path):
    """torch.save never compresses; a deflated record could expand a small file to gigabytes."""
    path = tmp_path / "deflated.pt"
    with zipfile.ZipFile(small_file) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for record in source.infolist():
            out.writestr(record.filename, source.read(record))
    with pytest.raises(ValueError, match="compressed") as error:
        read_dataset(path)
    _one_line_naming(error, path)


def _edited(dataset: dict, section: str, key: str, value) -> dict:
    edited = {name: dict(part) for name, part in dataset.items()}
    if value is None:
        del edited[section][key]
    else:
        edited[section][key] = value
    return edited


@pytest.mark.parametrize(
    "section, key, value, expected",
    [
        ("examples", "audio", None, "`examples.audio`"),
        ("examples", "f0_hz", torch.zeros(3), "`examples.f0_hz` has 3 rows"),
        ("examples", "audio", torch.full((SIZE, 16), float("nan")), "NaN"),
        ("examples", "audio", torch.zeros(SIZE, 16, dtype=torch.int64), "floating-point"),
        ("splits", "test", torch.tensor([0, SIZE]), "indexes outside"),
        ("splits", "test", torch.tensor([-1]), "indexes outside"),
        ("splits", "val", torch.tensor([0.0, 1.0]), "int64"),
        ("splits", "train", [0, 1], "int64"),
        ("meta", "sample_rate", None, "`meta.sample_rate`"),
        ("meta", "sample_rate", "16000", "`meta.sample_rate`"),
    ],
)
def test_dataset_with_a_broken_layout_is_refused(small_dataset, tmp_path, section, key, value, expected):
    path = tmp_path / "broken.pt"
    torch.save(_edited(small_dataset, section, key, value), path)
    with pytest.raises(ValueError, match="not a valid dataset file") as error:
        load_split(path, "test")
    message = _one_line_naming(error, path)
    assert expected in message and f"--out {path}" not in message


def test_a_foreign_feature_cache_is_rebuilt(small_dataset, tmp_path):
    path = tmp_path / "tiny.pt"
    save_dataset(generate_harmonic_dataset(seed=0, size=10, progress=False), path)
    audio, cqt, _ = cached_features(path, "test", progress=False)
    cache_path = path.with_suffix(".cqt.pt")
    cache = torch.load(cache_path, weights_only=True)
    torch.save({**cache, "test": torch.zeros(5)}, cache_path)  # right digest, wrong features
    again, rebuilt, _ = cached_features(path, "test", progress=False)
    assert torch.equal(rebuilt, cqt) and torch.equal(again, audio)


def test_default_path_is_the_makefile_path():
    assert DEFAULT_PATH == "data/harmonic_sr16000_n4000_seed0.pt"
    assert f"DATA := {DEFAULT_PATH}" in (REPO_ROOT / "Makefile").read_text()


# --------------------------------------------------------------------------------------------
# CLI


def test_cli_writes_the_same_file_as_the_api(tmp_path):
    out = tmp_path / "cli.pt"
    result = subprocess.run(
        [sys.executable, "-m", "sot_utils.training.data", "--seed", "2", "--size", str(SIZE), "--out", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "train 28 / val 8 / test 4" in result.stdout
    api = tmp_path / "api.pt"
    save_dataset(generate_harmonic_dataset(seed=2, size=SIZE, progress=False), api)
    assert out.read_bytes() == api.read_bytes()  # also: byte-identical across processes
    assert len(load_split(out, "val")) == 8


def test_ensure_dataset_generates_once(tmp_path):
    path = tmp_path / "sub" / "tiny.pt"
    assert ensure_dataset(path, seed=3, size=20) == path
    first = path.read_bytes()
    assert first == dataset_bytes(generate_harmonic_dataset(seed=3, size=20, progress=False))
    ensure_dataset(path, seed=4, size=20)  # exists: left alone
    assert path.read_bytes() == first
