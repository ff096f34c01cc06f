"""Time the 1-D Wasserstein paths at the paper's training shapes (forward + backward).

Compares, on identical inputs (values checked equal first):
- the authors' `sot-loss` package (`sot.losses.wasserstein_1d`, sort + two searchsorted);
- POT's torch backend (`ot.wasserstein_1d`, the same algorithm along axis 0);
- ours, general path (`wasserstein_1d`, sort based);
- ours, shared-support path in tensor operations (`wasserstein_1d_shared_support(...,
  implementation="torch")`: no sort, two searchsorted);
- ours, shared-support path compiled (`implementation="compiled"`: one linear merge per row that
  records its steps, 2n bits, and a backward pass that replays them into the gradients; p = 1 is
  not offered there, its O(n) closed form needs no merge).

Usage: python benchmarks/bench_wasserstein.py [--repeats 10] [--out benchmarks/results.json]
Writes its numbers under the key "wasserstein_1d" of the results file (other keys are kept).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import ot
import torch
from sot.losses import wasserstein_1d as authors_wasserstein_1d

from sot_utils.transport import wasserstein_1d, wasserstein_1d_shared_support


def time_forward_backward(fn, u, v, repeats):
    u, v = u.clone().requires_grad_(), v.clone().requires_grad_()
    for _ in range(2):  # warm-up
        fn(u, v).sum().backward()
    start = time.perf_counter()
    for _ in range(repeats):
        fn(u, v).sum().backward()
    return (time.perf_counter() - start) / repeats * 1e3


def inputs(n_bins, cut, rows=64 * 16, device="cpu"):
    """Positions ``[n_bins]`` and masses ``[rows, n_bins]`` (seed 0); with ``cut`` the estimate is
    normalised by the target's mass, as the SOT loss does."""
    g = torch.Generator().manual_seed(0)
    x = torch.linspace(0, 1, n_bins)
    target = torch.rand(rows, n_bins, generator=g) ** 4
    estimate = torch.rand(rows, n_bins, generator=g) ** 4
    u = target / target.sum(-1, keepdim=True)
    v = estimate / (target if cut else estimate).sum(-1, keepdim=True)
    return x.to(device), u.to(device), v.to(device)


def bench(n_bins, p, cut, repeats, rows=64 * 16):
    x, u, v = inputs(n_bins, cut, rows)
    cutoff = 1.0 if cut else None
    xb = x.expand(rows, n_bins)
    candidates = {
        "sot-loss": lambda a, b: authors_wasserstein_1d(xb, xb, a, b, p=p, limit_quantile_range=cut),
        "ours_general": lambda a, b: wasserstein_1d(x, x, a, b, p=p, quantile_cutoff=cutoff),
        "ours_shared_support": lambda a, b: wasserstein_1d_shared_support(
            x, a, b, p=p, quantile_cutoff=cutoff, implementation="torch"
        ),
    }
    if p != 1:
        candidates["ours_compiled"] = lambda a, b: wasserstein_1d_shared_support(
            x, a, b, p=p, quantile_cutoff=cutoff, implementation="compiled"
        )
    if not cut:  # POT has no cutoff
        candidates["POT"] = lambda a, b: ot.wasserstein_1d(xb.T, xb.T, a.T, b.T, p=p)
    reference = candidates["sot-loss"](u, v)
    result = {}
    for name, fn in candidates.items():
        err = float((fn(u, v) - reference).abs().max())
        result[name] = {"ms": round(time_forward_backward(fn, u, v, repeats), 2), "max_abs_diff_vs_sot_loss": err}
    base = result["sot-loss"]["ms"]
    for name in result:
        result[name]["speedup_vs_sot_loss"] = round(base / result[name]["ms"], 2)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results.json"))
    args = parser.parse_args()
    torch.manual_seed(0)
    cases = {}
    for n_bins in (257, 1025):
        for p in (1, 2):
            for cut in (True, False):
                key = f"rows=1024 bins={n_bins} p={p} {'cut' if cut else 'balanced'}"
                cases[key] = bench(n_bins, p, cut, args.repeats)
                line = ", ".join(f"{k} {v['ms']} ms (x{v['speedup_vs_sot_loss']})" for k, v in cases[key].items())
                print(f"{key}: {line}", flush=True)
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    results["wasserstein_1d"] = {
        "what": "forward+backward, float32, 64 x 16 frames, CPU",
        "machine": {
            "cpu_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "cases": cases,
    }
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
