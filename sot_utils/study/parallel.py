"""Independent jobs spread over the CPU's cores, one process and one thread each.

Used by notebook 07's proxy fits (:func:`sot_utils.study.chapters.autoencoder_traps.proxy_fits`): 72
small fits of 8 tones each, which a second thread in one process barely speeds up (their tensors are
too small to split), while two processes run two fits at once. Each job computes exactly what it
computes alone on one thread, so the results do not depend on the number of workers.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor

from tqdm.auto import tqdm

from ..validation import check_bool, check_int
from .run_notebooks import THREAD_VARIABLES

__all__ = ["available_cores", "map_in_processes"]


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity; ``os.cpu_count()`` where that is unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _one_thread() -> None:
    """Worker start-up: one thread for torch, OpenMP and numba (set before the job's module imports torch)."""
    os.environ.update({name: "1" for name in THREAD_VARIABLES})
    import torch

    torch.set_num_threads(1)


def _call(function: Callable, arguments: tuple, keywords: dict):
    import torch

    torch.set_num_threads(1)  # a job run in this process, too, computes as it would in a worker
    return function(*arguments, **keywords)


def map_in_processes(
    function: Callable,
    jobs: Sequence[tuple[tuple, dict]],
    workers: int | None = None,
    desc: str = "jobs",
    progress: bool = False,
) -> list:
    """``[function(*args, **kwargs) for args, kwargs in jobs]``, the jobs spread over worker processes.

    Args:
        function: a module-level function (the workers import it by name); its arguments and result
            must pickle (tensors, modules, data frames do).
        jobs: ``(args, kwargs)`` per call.
        workers: processes (default :func:`available_cores`); with 1, or a single job, everything runs
            in this process, on one thread like a worker.
        desc, progress: the progress bar's label, and whether to show it.

    Returns:
        the results, in the order of ``jobs``.
    """
    check_bool("progress", progress)
    workers = available_cores() if workers is None else check_int("workers", workers, minimum=1)
    jobs = list(jobs)
    for index, job in enumerate(jobs):
        if not (isinstance(job, tuple) and len(job) == 2 and isinstance(job[0], tuple) and isinstance(job[1], dict)):
            raise ValueError(f"`jobs[{index}]` must be (args tuple, kwargs dict), got {type(job).__name__}")
    bar = tqdm(total=len(jobs), desc=desc, disable=not progress, leave=False)
    if workers == 1 or len(jobs) <= 1:
        import torch

        threads = torch.get_num_threads()
        try:
            results = []
            for args, kwargs in jobs:
                results.append(_call(function, args, kwargs))
                bar.update()
        finally:
            torch.set_num_threads(threads)
            bar.close()
        return results
    context = multiprocessing.get_context("spawn")  # no inherited thread pools (fork after torch is unsafe)
    with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=context, initializer=_one_thread) as pool:
        futures = [pool.submit(_call, function, args, kwargs) for args, kwargs in jobs]
        for future in futures:
            future.add_done_callback(lambda _: bar.update())
        try:
            return [future.result() for future in futures]
        finally:
            bar.close()
