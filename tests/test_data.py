"""Synthetic harmonic dataset (docs/method.md#method-data): determinism, splits, labels, audio, loading, CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sot_utils.training.data import (
    DEFAULT_PATH,
    HarmonicDataset,
    dataset_bytes,
    default_split_sizes,
    draw_parameters,
    ensure_dataset,
    generate_harmonic_dataset,
    load_split,
    save_dataset,
    split_examples,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
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
