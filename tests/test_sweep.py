"""Sweeps: local worker processes and submitit (its local executor stands in for SLURM)."""

import pytest
import torch
import yaml

from sot_utils.data import generate_harmonic_dataset, save_dataset
from sot_utils.sweep import main, run_processes, run_submitit


@pytest.fixture(scope="module")
def tiny_configs(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    data = root / "tiny.pt"
    save_dataset(generate_harmonic_dataset(seed=3, size=40, progress=False), data)
    paths = []
    for group, seed in (("MSS-Lin", 1), ("SOT-512", 2)):
        path = root / f"{group}-{seed}.yaml"
        path.write_text(yaml.safe_dump({"group": group, "seed": seed, "steps": 2, "batch_size": 8, "validate_every": 2,
                                        "data": str(data), "out_dir": str(root / "runs" / group / str(seed))}))
        paths.append(str(path))
    return root, paths


def test_local_processes_run_every_config(tiny_configs, capfd):
    root, paths = tiny_configs
    outputs = run_processes(paths, jobs=2)
    shown = capfd.readouterr().err  # the workers' bars, written by the child processes
    assert "MSS-Lin seed 1" in shown and "SOT-512 seed 2" in shown
    assert sorted(outputs) == sorted(str(root / "runs" / g / s) for g, s in (("MSS-Lin", "1"), ("SOT-512", "2")))
    for out in outputs:
        assert torch.load(f"{out}/last.pt", weights_only=False)["step"] == 2


def test_submitit_local_executor_runs_and_resumes(tiny_configs):
    root, paths = tiny_configs
    outputs = run_submitit(paths, steps=4, backend="submitit-local", log_dir=str(root / "submitit"))
    for out in outputs:  # continued from the processes' step-2 checkpoints
        assert torch.load(f"{out}/last.pt", weights_only=False)["step"] == 4


def test_a_failing_run_is_reported_and_the_others_finish(tiny_configs, tmp_path):
    root, paths = tiny_configs
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump({"group": "MSS-Lin", "seed": 5, "steps": 2, "data": str(tmp_path / "missing.pt"),
                                      "out_dir": str(tmp_path / "broken")}))
    with pytest.raises(RuntimeError, match="1 of 2 runs failed"):
        run_processes([str(broken), paths[0]], steps=5, jobs=2)
    assert torch.load(f"{root}/runs/MSS-Lin/1/last.pt", weights_only=False)["step"] == 5  # after the other tests' 4


def test_cli_rejects_missing_configs(capsys):
    with pytest.raises(SystemExit):
        main(["no/such/config.yaml"])
    assert "not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["tests/test_sweep.py", "--jobs", "0"])  # an existing file: the jobs check must fire first
    assert "--jobs must be >= 1" in capsys.readouterr().err
