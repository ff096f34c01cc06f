"""Every command-line tool fails with a one-line message and a non-zero status, never a traceback."""

import concurrent.futures
import math
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import torch
import yaml

from sot_utils.training.data import generate_harmonic_dataset, save_dataset


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def files(tiny_data, tiny_run, tmp_path_factory):
    """A tiny trained run and a gallery of bad inputs."""
    root = tmp_path_factory.mktemp("cli")
    run = tiny_run
    (root / "truncated.pt").write_bytes((run / "best.pt").read_bytes()[:3000])
    torch.save({"model": {}, "config": {}, "step": 1, "x": _Payload(str(root / "pwned"))}, root / "evil.pt")
    torch.save({"meta": {"format_version": 1}, "examples": {}}, root / "notes_like.pt")
    torch.save(
        {"meta": {"format_version": 1}, "examples": {}, "splits": {"train": _Payload(str(root / "pwned"))}},
        root / "evil_data.pt",
    )
    save_dataset(generate_harmonic_dataset(seed=2, size=10, split_sizes=(8, 2, 0), progress=False), root / "no_test.pt")
    t = np.arange(8000) / 16000
    soundfile.write(root / "tone.wav", np.sin(2 * math.pi * 300 * t), 16000)
    soundfile.write(root / "one_hz.wav", np.sin(2 * math.pi * 0.1 * np.arange(100)), 1)
    soundfile.write(root / "noise.wav", np.random.default_rng(0).normal(0, 0.1, 8000), 16000)
    (root / "a_file").write_text("")
    overlays = {
        "quoted_bool": {"shuffle": "no"},
        "bad_number": {"weight_decay": "abc"},
        "device_int": {"device": 5},
        "missing_data": {"data": str(root / "missing.pt")},
        "tiny": {"steps": 1, "batch_size": 4, "validate_every": 1, "keep_best_every": 0, "data": str(tiny_data)},
    }
    for name, values in overlays.items():
        (root / f"{name}.yaml").write_text(yaml.safe_dump(values))
    (root / "list.yaml").write_text("- steps: 1\n")
    (root / "empty.yaml").write_text("")
    (root / "truncated_last").mkdir()
    (root / "truncated_last" / "last.pt").write_bytes((run / "last.pt").read_bytes()[:5000])
    return root, run


def cases(root, run):
    """name -> (command, text the output must hold[, text it must not hold])."""
    train = ["sot_utils.training.train", "--group", "MSS-Lin", "--seed", "3"]
    tiny = ["--config", str(root / "tiny.yaml")]
    evaluate = ["sot_utils.training.evaluate", str(run / "best.pt")]
    absent_gpu = "cuda" if not torch.cuda.is_available() else f"cuda:{torch.cuda.device_count()}"
    return {
        "train: unknown group": (["sot_utils.training.train", "--group", "SOT-4096", "--seed", "1"], "invalid choice"),
        "train: missing overlay": (train + ["--config", str(root / "nope.yaml")], "cannot read config"),
        "train: quoted boolean": (
            train + ["--config", str(root / "quoted_bool.yaml")],
            "`shuffle` must be true or false",
        ),
        "train: string number": (
            train + ["--config", str(root / "bad_number.yaml")],
            "`weight_decay` must be a number",
        ),
        "train: integer device": (train + ["--config", str(root / "device_int.yaml")], "`device` must be a string"),
        "train: list yaml": (train + ["--config", str(root / "list.yaml")], "must hold a mapping"),
        "train: empty yaml": (train + ["--config", str(root / "empty.yaml")], "is empty"),
        "train: missing data": (train + ["--config", str(root / "missing_data.yaml")], "make data"),
        "train: out_dir under a file": (train + tiny + ["--out-dir", str(root / "a_file" / "run")], "is a file"),
        "train: truncated last.pt": (
            train + tiny + ["--out-dir", str(root / "truncated_last")],
            "not a readable checkpoint",
        ),
        "sweep: shared out_dir": (
            [
                "sot_utils.training.sweep",
                "--groups",
                "MSS-Lin",
                "SOT-512",
                "--seeds",
                "1",
                "--config",
                str(root / "tiny.yaml"),
                "--config",
                str(root / "shared.yaml"),
            ],
            "share the output folder",
        ),
        "sweep: no seeds": (["sot_utils.training.sweep"], "--seeds"),
        "ensemble: bad members": (["sot_utils.training.ensemble", "--seeds", "1", "--members", "0"], "--members"),
        "evaluate: missing checkpoint": (["sot_utils.training.evaluate", str(root / "nope.pt")], "does not exist"),
        "evaluate: truncated checkpoint": (["sot_utils.training.evaluate", str(root / "truncated.pt")], "truncated.pt"),
        "evaluate: a WAV as checkpoint": (["sot_utils.training.evaluate", str(root / "tone.wav")], "tone.wav"),
        "evaluate: malicious checkpoint": (
            ["sot_utils.training.evaluate", str(root / "evil.pt")],
            "could run code",
            "weights_only",
        ),
        "evaluate: notes archive as data": (
            ["sot_utils.training.evaluate", str(run / "best.pt"), "--data", str(root / "notes_like.pt")],
            "not a synthetic dataset",
        ),
        "evaluate: a WAV as data": (
            evaluate + ["--data", str(root / "tone.wav")],
            "not a dataset file",
            f"--out {root / 'tone.wav'}",  # the fix-it hint must not overwrite the user's WAV
        ),
        "evaluate: a device as data": (evaluate + ["--data", "/dev/zero"], "not a regular file", "--out /dev/zero"),
        "evaluate: malicious dataset": (
            evaluate + ["--data", str(root / "evil_data.pt")],
            "could run code",
            "weights_only",
        ),
        "evaluate: empty test split": (
            evaluate + ["--data", str(root / "no_test.pt")],
            f"the 'test' split of dataset {str(root / 'no_test.pt')!r} is empty",
        ),
        "evaluate: a GPU the machine lacks": (evaluate + ["--device", absent_gpu], f"--device is {absent_gpu!r}"),
        "evaluate: a bare number as device": (
            evaluate + ["--device", "5"],
            "--device must be 'cpu', 'cuda' or 'cuda:<index>', got '5'",
        ),
        "estimate: malicious checkpoint": (
            ["sot_utils.training.estimate", str(root / "evil.pt"), str(root / "tone.wav")],
            "could run code",
            "weights_only",
        ),
        "estimate: 1 Hz header": (
            ["sot_utils.training.estimate", str(run / "best.pt"), str(root / "one_hz.wav")],
            "sample rate is 1 Hz",
        ),
        "data: out is a folder": (["sot_utils.training.data", "--out", str(root), "--size", "20"], "is a folder"),
        "data: too few examples": (["sot_utils.training.data", "--out", str(root / "d.pt"), "--size", "3"], "--size"),
        "data: huge seed": (
            ["sot_utils.training.data", "--out", str(root / "d.pt"), "--size", "20", "--seed", str(2**70)],
            "seed",
        ),
        "real notes: out is a folder": (["sot_utils.study.real_notes", "--out", str(root)], "is a folder"),
        "notebooks: unknown number": (["sot_utils.study.run_notebooks", "--only", "99"], "99"),
    }


def test_every_cli_failure_is_one_line_without_a_traceback(files):
    root, run = files
    (root / "shared.yaml").write_text(yaml.safe_dump({"out_dir": str(root / "shared")}))
    wav = (root / "tone.wav").read_bytes()
    failures = []

    def attempt(command):
        try:
            return subprocess.run(
                [sys.executable, "-m", *command], capture_output=True, text=True, cwd=root, timeout=300
            )
        except subprocess.TimeoutExpired:
            return None

    # two at a time: each case is mostly a fresh interpreter importing torch, and the cases fail
    # before they write anything they could share
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(cases(root, run), pool.map(attempt, [c[0] for c in cases(root, run).values()])))
    for name, (_command, expected, *forbidden) in cases(root, run).items():
        result = results[name]
        if result is None:
            failures.append(f"{name}: still running after 300 s")
            continue
        output = result.stderr + result.stdout
        message = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else result.stdout
        if result.returncode == 0 or "Traceback" in result.stderr or expected not in output:
            failures.append(f"{name}: exit {result.returncode}, stderr {result.stderr[-600:]!r}")
        elif "error" not in message.lower() and "error" not in result.stdout.lower():
            failures.append(f"{name}: no error message: {message!r}")
        elif any(text in output for text in forbidden):
            failures.append(f"{name}: the output holds {forbidden}: {message!r}")
    assert not failures, "\n".join(failures)
    assert not (root / "pwned").exists(), "a checkpoint or dataset ran code"
    assert (root / "tone.wav").read_bytes() == wav
    assert not (root / "shared").exists() and not (root / "a_file.partial").exists()


def test_estimate_marks_noise_unvoiced_and_a_tone_voiced(files):
    root, run = files
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sot_utils.training.estimate",
            str(run / "best.pt"),
            str(root / "tone.wav"),
            str(root / "noise.wav"),
        ],
        capture_output=True,
        text=True,
    )
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert result.returncode == 0, result.stderr
    noise = rows[str(root / "noise.wav")]
    assert "unvoiced" not in rows[str(root / "tone.wav")] and "unvoiced" in noise and noise.endswith("(noise)")
