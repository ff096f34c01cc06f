"""Sweeps: local worker processes and submitit (its local executor stands in for SLURM)."""

import os
import signal
import subprocess
import sys
import time
from multiprocessing import get_context
from pathlib import Path

import pytest
import yaml

from sot_utils.training.checkpoint import load_checkpoint
from sot_utils.training.config import resolve_config
from sot_utils.training.data import generate_harmonic_dataset, save_dataset
from sot_utils.training.sweep import _stop_workers_on, main, run_processes, run_submitit

TINY = {"batch_size": 8, "validate_every": 2, "keep_best_every": 0}


def step_of(out_dir) -> int:
    return load_checkpoint(Path(out_dir) / "last.pt", kind="last")["step"]


@pytest.fixture(scope="module")
def tiny_configs(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    data = root / "tiny.pt"
    save_dataset(generate_harmonic_dataset(seed=3, size=40, progress=False), data)

    def configs(steps):
        return [
            resolve_config(
                group, seed, steps=steps, data=str(data), out_dir=str(root / "runs" / group / str(seed)), **TINY
            )
            for group, seed in (("MSS-Lin", 1), ("SOT-512", 2))
        ]

    return root, configs


def test_local_processes_run_every_config(tiny_configs, capfd):
    root, configs = tiny_configs
    outputs = run_processes(configs(2), jobs=2)
    shown = capfd.readouterr().err  # the workers' bars, written by the child processes
    assert "MSS-Lin seed 1" in shown and "SOT-512 seed 2" in shown
    assert sorted(outputs) == sorted(str(root / "runs" / g / s) for g, s in (("MSS-Lin", "1"), ("SOT-512", "2")))
    for out in outputs:
        assert step_of(out) == 2


def test_submitit_local_executor_runs_and_resumes(tiny_configs):
    root, configs = tiny_configs
    outputs = run_submitit(configs(4), backend="submitit-local", log_dir=str(root / "submitit"))
    for out in outputs:  # continued from the processes' step-2 checkpoints
        assert step_of(out) == 4


def test_a_failing_run_is_reported_and_the_others_finish(tiny_configs, tmp_path):
    root, configs = tiny_configs
    broken = resolve_config("MSS-Lin", 5, steps=2, data=str(tmp_path / "missing.pt"), out_dir=str(tmp_path / "broken"))
    with pytest.raises(RuntimeError, match="1 of 2 runs failed"):
        run_processes([broken, configs(5)[0]], jobs=2)
    assert step_of(root / "runs/MSS-Lin/1") == 5  # after the other tests' 4


def test_runs_that_share_an_output_folder_are_refused_before_anything_starts(tiny_configs, tmp_path, capsys):
    root, configs = tiny_configs
    a, b = configs(2)
    b.out_dir = a.out_dir
    with pytest.raises(ValueError, match="share the output folder"):
        run_processes([a, b], jobs=2)
    overlay = tmp_path / "shared.yaml"
    overlay.write_text(yaml.safe_dump({"out_dir": str(tmp_path / "one"), "steps": 1}))
    with pytest.raises(SystemExit):
        main(["--groups", "MSS-Lin", "SOT-512", "--seeds", "1", "--config", str(overlay)])
    assert "share the output folder" in capsys.readouterr().err and not (tmp_path / "one").exists()


def test_cli_rejects_bad_options(capsys):
    with pytest.raises(SystemExit):
        main(["--seeds", "1", "--config", "no/such/config.yaml"])
    assert "cannot read config" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--seeds", "1", "--jobs", "0"])
    assert "--jobs must be >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--seeds", "1", "--groups", "SOT-4096"])
    assert "invalid choice" in capsys.readouterr().err


def _state(pid: int) -> str | None:
    """A process's state letter from /proc (None: gone; "Z": ended, not yet reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads child processes from Linux /proc")
def test_terminating_the_sweep_ends_its_workers_and_a_rerun_resumes(tiny_configs, tmp_path):
    root, configs = tiny_configs
    data = configs(1)[0].data
    overlay = tmp_path / "long.yaml"  # the tiny runs, made long, in their default folders under tmp_path
    overlay.write_text(yaml.safe_dump({**TINY, "steps": 100_000, "validate_every": 1, "data": data}))
    runs = [tmp_path / "checkpoints" / group / "1" for group in ("MSS-Lin", "SOT-512")]
    command = ["--groups", "MSS-Lin", "SOT-512", "--seeds", "1", "--config", str(overlay), "--jobs", "2"]
    stderr = open(tmp_path / "stderr.txt", "w")  # a file, not a pipe: the workers' bars cannot fill it and block
    sweep = subprocess.Popen(
        [sys.executable, "-m", "sot_utils.training.sweep", *command],
        cwd=tmp_path,
        stderr=stderr,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    deadline = time.monotonic() + 120
    while not all((run / "last.pt").exists() for run in runs):  # both workers are training
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
    # a worker killed by SIGTERM leaves its lock file: stale (no such process), the rerun takes it over
    stopped = [step_of(run) for run in runs]
    logged = [(run / "log.csv").read_text().splitlines()[: stopped[i] + 1] for i, run in enumerate(runs)]
    resumed = [
        resolve_config(group, 1, overlays=[overlay], steps=max(stopped) + 1, out_dir=str(run))
        for group, run in zip(("MSS-Lin", "SOT-512"), runs)
    ]
    outputs = run_processes(resumed, jobs=2)
    assert [step_of(out) for out in sorted(outputs)] == [max(stopped) + 1] * 2
    for i, run in enumerate(
        runs
    ):  # resumed, not restarted: the rows up to the stop are kept as they were (elapsed times included)
        assert (run / "log.csv").read_text().splitlines()[: stopped[i] + 1] == logged[i]


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
