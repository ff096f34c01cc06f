"""Sweeps: local worker processes and submitit (its local executor stands in for SLURM)."""

import os
import signal
import subprocess
import sys
import time
from multiprocessing import get_context
from pathlib import Path

import pytest
import torch
import yaml

from sot_utils.data import generate_harmonic_dataset, save_dataset
from sot_utils.sweep import _stop_workers_on, main, run_processes, run_submitit


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


def _state(pid: int) -> str | None:
    """A process's state letter from /proc (None: gone; "Z": ended, not yet reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads child processes from Linux /proc")
def test_terminating_the_sweep_ends_its_workers_and_a_rerun_resumes(tiny_configs, tmp_path):
    root, paths = tiny_configs
    long = []
    for i, path in enumerate(paths):  # the tiny configs, made long and sent to their own folders
        config = yaml.safe_load(Path(path).read_text())
        config.update(steps=100_000, validate_every=1, out_dir=str(tmp_path / f"run{i}"))
        long.append(tmp_path / f"long{i}.yaml")
        long[-1].write_text(yaml.safe_dump(config))
    stderr = open(tmp_path / "stderr.txt", "w")  # a file, not a pipe: the workers' bars cannot fill it and block
    sweep = subprocess.Popen([sys.executable, "-m", "sot_utils.sweep", *map(str, long), "--jobs", "2"],
                             stderr=stderr, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"run{i}" / "last.pt").exists() for i in range(2)):  # both workers are training
        assert sweep.poll() is None and time.monotonic() < deadline, "the sweep did not start its runs"
        time.sleep(0.5)
    workers = [int(pid) for pid in Path(f"/proc/{sweep.pid}/task/{sweep.pid}/children").read_text().split()]
    sweep.send_signal(signal.SIGTERM)
    assert sweep.wait(timeout=60) == 128 + signal.SIGTERM
    stderr.close()
    err = (tmp_path / "stderr.txt").read_text()
    assert "ended 2 worker(s)" in err and "rerun the same command to resume" in err
    deadline = time.monotonic() + 20
    while any(_state(pid) not in (None, "Z") for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert all(_state(pid) in (None, "Z") for pid in workers), "a worker outlived the sweep"
    stopped = [torch.load(tmp_path / f"run{i}" / "last.pt", weights_only=False)["step"] for i in range(2)]
    logged = [(tmp_path / f"run{i}" / "log.csv").read_text().splitlines()[:stopped[i] + 1] for i in range(2)]
    outputs = run_processes(list(map(str, long)), steps=max(stopped) + 1, jobs=2)
    assert [torch.load(f"{out}/last.pt", weights_only=False)["step"] for out in sorted(outputs)] == [max(stopped) + 1] * 2
    for i in range(2):  # resumed, not restarted: the rows up to the stop are kept as they were (elapsed times included)
        assert (tmp_path / f"run{i}" / "log.csv").read_text().splitlines()[:stopped[i] + 1] == logged[i]


def test_the_stop_handler_spares_children_that_predate_the_sweep():
    context = get_context("spawn")
    other, worker = (context.Process(target=time.sleep, args=(60,)) for _ in range(2))
    other.start()
    worker.start()
    try:
        with pytest.raises(SystemExit) as stopped:
            _stop_workers_on({other}, signal.SIGTERM, None)
        assert stopped.value.code == 128 + signal.SIGTERM
        assert not worker.is_alive() and other.is_alive()
    finally:
        for process in (other, worker):
            process.kill()
            process.join()
