"""Run many training runs: parallel local processes (default) or a SLURM cluster via submitit.

Every run is resumable (:mod:`sot_utils.training.train`), so a sweep that is stopped can simply be
started again: finished runs return at once, interrupted ones continue from their last checkpoint.
Runs are named by group and seed (:func:`sot_utils.training.config.resolve_config`); two runs that
would share an output folder are refused before anything starts.

CLI::

    python -m sot_utils.training.sweep --seeds 42 123 456 [--groups MSS-Lin SOT-2048] [--steps N] [--jobs 2]
    python -m sot_utils.training.sweep --seeds 42 --remedy recipe --groups SOT-2048 MSS-Lin --jobs 2
    python -m sot_utils.training.sweep --seeds 42 123 --backend slurm --partition gpu --device cuda --time 720
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import os
import signal
import sys
import threading
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..validation import check_bool, check_choice, check_int
from .config import TrainConfig, resolve_config
from .train import add_run_selection, check_device, train

__all__ = [
    "main",
    "run_processes",
    "run_submitit",
]

BACKENDS = ("processes", "submitit-local", "slurm")

_worker_row: int | None = None  # this worker process's terminal row for its runs' progress bars


def _take_row(rows) -> None:
    """Worker initializer: claim a terminal row, so that parallel runs' bars do not overwrite each other."""
    global _worker_row
    _worker_row = rows.get()


def run_one(config: TrainConfig, threads: int | None = None, progress: bool = False) -> str:
    """Train (or resume) one run in this process; return its output folder. Picklable for submitit.

    ``progress``: show the run's step bar (on the worker's own row when run by :func:`run_processes`).
    """
    check_bool("progress", progress)
    if threads:
        torch.set_num_threads(threads)
    return str(train(config, progress=progress, position=_worker_row))


def check_distinct_out_dirs(configs: list[TrainConfig]) -> None:
    """Refuse runs that would write into one folder (they would overwrite each other's checkpoints)."""
    seen: dict[str, TrainConfig] = {}
    for config in configs:
        key = str(Path(config.out_dir).resolve())
        if key in seen:
            other = seen[key]
            raise ValueError(
                f"{other.group} seed {other.seed} and {config.group} seed {config.seed} share the output "
                f"folder {config.out_dir}: every run needs its own"
            )
        seen[key] = config


def _stop_workers_on(others: set, signum: int, _frame) -> None:
    """Signal handler of the sweep: end its worker processes, then exit.

    Without it, ``kill <sweep>`` would leave the workers training in the background. A worker ended
    mid-run keeps its last checkpoint (saved atomically), so rerunning the sweep resumes it.
    ``others``: child processes that existed before the sweep (e.g. a notebook's own), left alone.
    """
    children = [child for child in multiprocessing.active_children() if child not in others]
    for child in children:
        child.terminate()
    for child in children:
        child.join(timeout=10)
    print(
        f"sweep stopped by signal {signum}: ended {len(children)} worker(s); rerun the same command to resume "
        "every run from its last checkpoint",
        file=sys.stderr,
        flush=True,
    )
    if signum == signal.SIGINT:
        raise KeyboardInterrupt  # a notebook's "interrupt" stops the sweep, not the kernel
    raise SystemExit(128 + signum)


def run_processes(configs: list[TrainConfig], jobs: int = 1) -> list[str]:
    """Run configs in ``jobs`` parallel worker processes, splitting the CPU cores between them.

    The sweep's bar counts finished runs; below it, each worker shows the steps of its current run.
    SIGTERM or SIGINT to the sweep ends its workers too (see :func:`_stop_workers_on`).
    """
    check_int("jobs", jobs, minimum=1)
    check_distinct_out_dirs(configs)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    context = get_context("spawn")
    rows = context.Queue()
    for row in range(1, jobs + 1):  # row 0 is the sweep's own bar
        rows.put(row)
    outputs, failures = [], {}
    in_main_thread = threading.current_thread() is threading.main_thread()  # where signal handlers may be set
    handler = functools.partial(_stop_workers_on, set(multiprocessing.active_children()))
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)} if in_main_thread else {}
    try:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_take_row, initargs=(rows,)) as pool:
            futures = {
                pool.submit(run_one, config, threads, True): f"{config.group} seed {config.seed}" for config in configs
            }
            for future in tqdm(as_completed(futures), total=len(futures), desc="runs", unit="run"):
                path = futures[future]
                try:
                    outputs.append(future.result())
                except Exception as error:  # report at once, let the other runs finish
                    failures[path] = error
                    tqdm.write(f"FAILED: {path}: {type(error).__name__}: {error}")
                    continue
                tqdm.write(f"done: {path} -> {outputs[-1]}")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if failures:
        raise RuntimeError(f"{len(failures)} of {len(configs)} runs failed (rerun to resume them): {sorted(failures)}")
    return outputs


def run_submitit(
    configs: list[TrainConfig], backend: str = "slurm", log_dir: str = "checkpoints/_submitit", **slurm
) -> list[str]:
    """Submit one job per config with submitit (``"slurm"``, or ``"submitit-local"`` to test locally).

    ``slurm`` keyword arguments go to ``executor.update_parameters`` (e.g. ``slurm_partition``,
    ``timeout_min``, ``gpus_per_node``).
    """
    import submitit

    check_choice("backend", backend, BACKENDS[1:])
    check_distinct_out_dirs(configs)
    executor = (
        submitit.LocalExecutor(folder=log_dir)
        if backend == "submitit-local"
        else submitit.AutoExecutor(folder=log_dir, cluster="slurm")
    )
    if slurm:
        executor.update_parameters(**slurm)
    jobs = executor.map_array(run_one, configs)
    return [job.result() for job in tqdm(jobs, desc="runs", unit="run")]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sot_utils.training.sweep", description="Train (or resume) many runs: groups x seeds."
    )
    add_run_selection(parser, "42 123 456")
    parser.add_argument("--backend", default="processes", choices=BACKENDS)
    parser.add_argument("--jobs", type=int, default=1, help="parallel local processes (backend 'processes')")
    parser.add_argument("--partition", help="SLURM partition")
    parser.add_argument("--time", type=int, default=720, help="SLURM time limit per job, minutes")
    parser.add_argument("--gpus", type=int, default=0, help="GPUs per SLURM job")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")
    try:
        configs = [
            resolve_config(group, seed, remedy=args.remedy, overlays=args.config, steps=args.steps, device=args.device)
            for group in args.groups
            for seed in args.seeds
        ]
        check_distinct_out_dirs(configs)
        if args.backend == "processes":
            check_device(configs[0].device)
    except (OSError, ValueError) as error:
        parser.error(str(error))
    try:
        if args.backend == "processes":
            outputs = run_processes(configs, args.jobs)
        else:
            slurm = {"timeout_min": args.time, "gpus_per_node": args.gpus}
            if args.partition:
                slurm["slurm_partition"] = args.partition
            outputs = run_submitit(configs, args.backend, **(slurm if args.backend == "slurm" else {}))
    except (OSError, ValueError, RuntimeError) as error:
        sys.exit(f"error: {error}")
    print(f"{len(outputs)} runs finished")


if __name__ == "__main__":
    main()
