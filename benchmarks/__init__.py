"""Benchmark suite of ``sot_utils``: ``make bench`` (``python -m benchmarks.run_all``).

This module holds the helpers the sections share: interleaved timing with medians, the
comparison record (times, speed-ups, values checked against a baseline), machine information and
the synthetic audio the losses are timed on.

A comparison record (one row of a table in ``results.md``)::

    {"baseline": "sot-loss", "rtol": 0.01, "agree": true,
     "candidates": {"sot-loss": {"ms": 31.2, "value": 0.217, "speedup": 1.0, "rel_diff": 0.0},
                    "ours": {"ms": 3.1, "value": 0.217, "speedup": 10.1, "rel_diff": 4e-4}}}

``speedup`` is the baseline's time over the candidate's; ``rel_diff`` is the candidate's value's
distance to the baseline's, relative to the baseline's magnitude; ``agree`` says whether every
candidate is within ``rtol``.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping

import torch

NO_CUDA = "no CUDA device"

# POT (an oracle of the W section) imports every array library it finds; JAX, once imported,
# takes 75 % of the GPU's memory for itself, which left the ensemble section without memory on an
# H100. The benchmarks compare torch tensors only.
for _backend in ("JAX", "TENSORFLOW", "CUPY"):
    os.environ.setdefault(f"POT_BACKEND_DISABLE_{_backend}", "1")


@contextlib.contextmanager
def full_float32():
    """Turn TF32 off for cuDNN convolutions and CUDA matrix products inside the block.

    cuDNN convolutions run in TF32 by default on Ampere and later GPUs (10-bit mantissa): timings
    keep that default, what users get, but values are compared at float32 precision, or the
    layouts being compared would differ by the TF32 rounding of their convolutions.
    """
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def log(section: str, message: str) -> None:
    """Progress line, flushed at once (the suite runs for minutes)."""
    print(f"[{section}] {message}", flush=True)


def timestamp() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: str = "cpu") -> dict:
    """Where the numbers were measured: threads, versions, device name and the load at the time."""
    info = {
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "cpu_threads": torch.get_num_threads(),
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": device,
        "device_name": _cpu_name(),
    }
    if torch.device(device).type == "cuda":
        info["device_name"] = torch.cuda.get_device_name(torch.device(device))
        info["cuda"] = torch.version.cuda
    return info


def section_meta(device: str, repeats: int, quick: bool, **extra) -> dict:
    return {"timestamp": timestamp(), "machine": machine_info(device), "repeats": repeats, "quick": quick, **extra}


def synchronizer(device: str | torch.device) -> Callable[[], None]:
    """``torch.cuda.synchronize`` on a GPU (kernels run asynchronously), nothing on the CPU."""
    device = torch.device(device)
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def time_interleaved(
    fns: Mapping[str, Callable[[], object]], repeats: int, warmup: int = 1, device: str | torch.device = "cpu"
) -> dict[str, float]:
    """Median seconds of each function, the candidates run in turn ``repeats`` times.

    Interleaving puts a slow patch of a shared machine on every candidate alike; the order
    rotates every round so that no candidate always runs right after the same other; medians
    ignore the odd interrupted run. ``warmup`` untimed rounds come first (allocator, caches,
    compiled kernels).
    """
    if repeats < 1:
        raise ValueError(f"`repeats` must be >= 1, got {repeats}")
    sync = synchronizer(device)
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    sync()
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(repeats):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            fns[name]()
            sync()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(times[name]) for name in names}


def _relative(value: float, reference: float) -> float:
    return abs(value - reference) / max(abs(reference), 1e-30)


def comparison(
    seconds: Mapping[str, float],
    baseline: str,
    rtol: float,
    values: Mapping[str, float] | None = None,
    rel_diffs: Mapping[str, float] | None = None,
    **extra,
) -> dict:
    """A comparison record (see the module docstring) from median times and values.

    Either ``values`` (a scalar per candidate, compared with the baseline's) or ``rel_diffs``
    (relative distances already computed, e.g. the largest over rows) checks the candidates.
    """
    if baseline not in seconds:
        raise ValueError(f"baseline {baseline!r} is not among the candidates {list(seconds)}")
    candidates = {}
    for name, s in seconds.items():
        entry = {"ms": round(s * 1e3, 3), "speedup": round(seconds[baseline] / s, 3)}
        if values is not None:
            entry["value"] = float(values[name])
            entry["rel_diff"] = _relative(float(values[name]), float(values[baseline]))
        elif rel_diffs is not None:
            entry["rel_diff"] = float(rel_diffs.get(name, 0.0))
        candidates[name] = entry
    diffs = [c["rel_diff"] for c in candidates.values() if "rel_diff" in c]
    agree = bool(diffs) and all(math.isfinite(d) and d <= rtol for d in diffs)
    return {"baseline": baseline, "rtol": rtol, "agree": agree, "candidates": candidates, **extra}


def describe(record: dict) -> str:
    """One progress line for a comparison record."""
    base = record["baseline"]
    parts = [
        f"{name} {c['ms']:.4g} ms" + ("" if name == base else f" (x{c['speedup']:.3g})")
        for name, c in record["candidates"].items()
    ]
    worst = max((c.get("rel_diff", 0.0) for c in record["candidates"].values()), default=0.0)
    return ", ".join(parts) + f"; max rel. diff {worst:.2g} ({'agree' if record['agree'] else 'DISAGREE'})"


@functools.lru_cache(maxsize=8)
def _harmonic_audio(size: int, seed: int) -> torch.Tensor:
    from sot_utils.training.data import generate_harmonic_dataset, peak_normalize

    dataset = generate_harmonic_dataset(seed=seed, size=size, progress=False)
    return peak_normalize(dataset["examples"]["audio"])


def harmonic_audio(size: int, seed: int = 0, device: str | torch.device = "cpu") -> torch.Tensor:
    """``size`` peak-normalised tones of the paper's synthetic set ``[size, 4096]`` (a fresh copy)."""
    return _harmonic_audio(size, seed).to(device, copy=True)


def forward_backward(loss: Callable, target: torch.Tensor, estimate: torch.Tensor) -> Callable[[], torch.Tensor]:
    """``loss(target, estimate)`` and its gradient with respect to ``estimate`` (a fresh leaf)."""
    leaf = estimate.detach().clone().requires_grad_()

    def run():
        leaf.grad = None
        value = loss(target, leaf)
        value.backward()
        return value.detach()

    return run
