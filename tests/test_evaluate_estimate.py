"""Smoke: every group trains 20 steps on a tiny dataset; evaluate and estimate_f0 load the result."""

import json
import math
import subprocess
import sys

import pytest
import soundfile
import torch

import sot_utils
from sot_utils.data import generate_harmonic_dataset, save_dataset
from sot_utils.evaluate import evaluate_checkpoint, load_checkpoint
from sot_utils.estimate import estimate_f0
from sot_utils.losses import PAPER_GROUPS
from sot_utils.train import TrainConfig, train


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    data = root / "tiny.pt"
    save_dataset(generate_harmonic_dataset(seed=2, size=40, progress=False), data)
    runs = {}
    for group in PAPER_GROUPS:
        config = TrainConfig(group=group, seed=0, steps=20, batch_size=8, validate_every=20, data=str(data), out_dir=str(root / group))
        runs[group] = train(config, progress=False)
    return data, runs


@pytest.mark.parametrize("group", PAPER_GROUPS)
def test_twenty_steps_per_group_write_checkpoints_that_load(tiny_runs, group):
    data, runs = tiny_runs
    out = runs[group]
    for name in ("best.pt", "last.pt", "log.csv", "config.yaml"):
        assert (out / name).exists(), name
    metrics = evaluate_checkpoint(out / "best.pt", data, "test")
    assert set(metrics) == {"lsd", "rpa", "rca", "octave_difference", "mss", "mse"}
    assert all(math.isfinite(v) for v in metrics.values())
    tone = torch.sin(2 * math.pi * 440.0 * torch.arange(8000) / 16000)
    estimate = estimate_f0(out / "best.pt", tone, 16000)
    assert estimate.f0_hz.shape == (1,) and estimate.f0_frames_hz.shape == (1, 1 + 8000 // 256)
    assert 32.0 < float(estimate.f0_hz) < 7800.0


def test_evaluate_cli_prints_json(tiny_runs):
    data, runs = tiny_runs
    result = subprocess.run([sys.executable, "-m", "sot_utils.evaluate", str(runs["SOT-2048"] / "best.pt"), "--data", str(data)],
                            capture_output=True, text=True, check=True)
    report = json.loads(result.stdout)
    assert report["split"] == "test" and math.isfinite(report["lsd"])


def test_estimate_handles_rates_and_the_cli_reads_files(tiny_runs, tmp_path):
    _, runs = tiny_runs
    checkpoint = runs["MSS-Lin"] / "best.pt"
    model = load_checkpoint(checkpoint)
    n = torch.arange(22050)
    tone = torch.sin(2 * math.pi * 300.0 * n / 44100)
    at_44k = estimate_f0(model, tone, 44100)  # resampled to 16 kHz: 8000 samples
    assert at_44k.f0_frames_hz.shape == (1, 1 + 8000 // 256)
    assert sot_utils.estimate_f0 is estimate_f0
    stereo = torch.stack([tone, tone], dim=1).numpy()
    soundfile.write(tmp_path / "note.wav", stereo, 44100)
    result = subprocess.run([sys.executable, "-m", "sot_utils.estimate", str(checkpoint), str(tmp_path / "note.wav")],
                            capture_output=True, text=True, check=True)
    assert "note.wav" in result.stdout


def test_estimate_rejects_bad_audio_clearly(tiny_runs):
    _, runs = tiny_runs
    model = load_checkpoint(runs["MSS-Lin"] / "best.pt")
    cases = [
        (torch.zeros(2, 5000), "silent"),
        (torch.randn(1, 3000), "too short"),
        (torch.randn(1, 2, 5000), "mono"),
        (torch.randn(5000).numpy(), "torch.Tensor"),
        (torch.full((1, 5000), float("nan")), "NaN"),
    ]
    for audio, message in cases:
        with pytest.raises(ValueError, match=message):
            estimate_f0(model, audio, 16000)
    with pytest.raises(ValueError, match="sample_rate"):
        estimate_f0(model, torch.randn(1, 5000), 0)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint("no/such/checkpoint.pt")
