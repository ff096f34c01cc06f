"""Run the benchmark suite and write ``results.json`` and ``results.md`` (``make bench``).

Sections (``--only`` picks some; the others keep their last numbers in the results file):

- ``wasserstein``: W_p forward + backward at the paper's shapes (64 x 16 frames = 1024 rows; 257
  and 1025 bins; p = 1, 2; with and without the cutoff), ours against the authors' ``sot-loss``
  and POT's torch backend (``bench_wasserstein.bench``), and the whole SOT loss of SOT-512,
  SOT-2048 and SOT-NoCut from audio ``[64, 4096]`` (STFT, normalisation, W) against the same with
  the authors' W;
- ``mss``: the MSS-Lin and MSS-LogLin losses on ``[64, 4096]`` against a plain DDSP-style
  formulation (``bench_mss``);
- ``cqt``: ``benchmarks/bench_cqt.py``: the CQT front end, ours against nnAudio's strided convolution;
- ``train_step``: one Adam step per group, batch 64, ours against the reference layout
  (``bench_train_step``);
- ``scaling``: cost against batch and FFT size, log-log slopes, ``scaling.png`` / ``.pdf``
  (``bench_scaling``);
- ``gpu``: the W, SOT-loss, MSS and training-step comparisons on a CUDA device, with runs per hour
  (22,000 steps, one run alone); ``{"skipped": "no CUDA device"}`` without one;
- ``ensemble``: ``benchmarks/bench_ensemble.py``: one training step of E runs, separate against one ensemble.
- ``explorer``: ``benchmarks/bench_explorer.py``: one update of each view of the explorer pages (p50/p95, ms).

The first five sections time the CPU (where the study's runs train); ``--device`` picks the device
of the ``gpu`` and ``ensemble`` sections (``auto``: CUDA when available). Candidates are timed in
turn, medians over the repeats after warm-ups (except ``bench_wasserstein.bench``, which times
each path in a block: 2 warm-ups, mean of the repeats); every comparison also checks that the
candidates' values agree (``agree`` in the records; tolerances in each module).

Usage, from the repository root::

    python -m benchmarks.run_all [--only SECTION ...] [--quick] [--device auto|cpu|cuda]
                                 [--out benchmarks/results.json] [--repeats N] [--groups GROUP ...]

``--quick`` (tiny shapes, 1-2 repeats, two groups) checks that everything runs; its numbers mean
nothing, and it writes to ``test-artifacts/bench-quick/`` unless ``--out`` says otherwise.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from benchmarks import NO_CUDA, comparison, describe, log, section_meta, time_interleaved, timestamp

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("wasserstein", "mss", "cqt", "train_step", "scaling", "gpu", "ensemble", "explorer")
DEVICES = ("auto", "cpu", "cuda")
DEFAULT_OUT = Path(__file__).resolve().with_name("results.json")
QUICK_OUT = ROOT / "test-artifacts" / "bench-quick" / "results.json"
QUICK_GROUPS = ("MSS-Lin", "SOT-2048")
W_RTOL = {"cut": 2e-2, "balanced": 1e-4}
"""Tolerance on W_p, relative to the largest value over the rows. With the cutoff the reference
drops a whole segment when rounding puts the target's mass a few ulp above 1 (ours clips it at 1),
which moves single rows by up to 1.5 % (``sot_utils.losses``)."""
SOT_LOSS_GROUPS = ("SOT-512", "SOT-2048", "SOT-NoCut")


@dataclasses.dataclass
class Context:
    """What every section gets: the options of the run, resolved."""

    quick: bool = False
    device: str = "cpu"  # the accelerator of the gpu/ensemble sections: "cpu" or "cuda"
    repeats: int | None = None  # None: each section's default
    groups: tuple[str, ...] | None = None  # training-step groups; None: all (QUICK_GROUPS when quick)
    out_dir: Path = DEFAULT_OUT.parent

    def reps(self, full: int, quick: int = 2) -> int:
        return self.repeats or (quick if self.quick else full)

    def train_groups(self) -> tuple[str, ...]:
        from sot_utils.training.loss_config import PAPER_GROUPS

        return tuple(self.groups or (QUICK_GROUPS if self.quick else PAPER_GROUPS))


# --------------------------------------------------------------------------------------------
# W_p


def w_shapes(quick: bool):
    """``(n_bins, p, cut)`` of the W cases and the number of rows."""
    bins = (257,) if quick else (257, 1025)
    return [(n, p, cut) for n in bins for p in (1, 2) for cut in (True, False)], 64 if quick else 64 * 16


def w_case_name(rows: int, n_bins: int, p: int, cut: bool) -> str:
    return f"rows={rows} bins={n_bins} p={p} {'cut' if cut else 'balanced'}"


def w_scale(n_bins: int, p: int, cut: bool, rows: int) -> float:
    """The largest authors' W_p^p over the rows of a case, the scale of its differences."""
    from sot.losses import wasserstein_1d as authors

    from benchmarks.bench_wasserstein import inputs

    x, u, v = inputs(n_bins, cut, rows)
    xb = x.expand(rows, n_bins)
    return float(authors(xb, xb, u, v, p=p, limit_quantile_range=cut).abs().max())


def from_bench(raw: dict, n_bins: int, p: int, cut: bool, rows: int) -> dict:
    """``bench_wasserstein.bench``'s numbers for one case as a comparison record."""
    scale = max(w_scale(n_bins, p, cut, rows), 1e-30)
    seconds, abs_diffs = {}, {}
    for name, entry in raw.items():
        seconds[name] = entry["ms"] / 1e3
        abs_diffs[name] = next((float(v) for k, v in entry.items() if k.startswith("max_abs_diff")), 0.0)
    record = comparison(
        seconds,
        "sot-loss",
        W_RTOL["cut" if cut else "balanced"],
        rel_diffs={name: d / scale for name, d in abs_diffs.items()},
    )
    for name, d in abs_diffs.items():
        record["candidates"][name]["max_abs_diff"] = d
    return record


def compare_wasserstein(n_bins: int, p: int, cut: bool, repeats: int, rows: int, device: str) -> dict:
    """W_p forward + backward on any device, interleaved: the authors' ``sot-loss`` (baseline),
    POT (balanced only), our sort-based general path and our sort-free shared-support path in
    tensor operations (what runs on a GPU)."""
    import ot
    from sot.losses import wasserstein_1d as authors

    from benchmarks.bench_wasserstein import inputs
    from sot_utils.transport import wasserstein_1d, wasserstein_1d_shared_support

    x, u, v = inputs(n_bins, cut, rows, device)
    xb, cutoff = x.expand(rows, n_bins), (1.0 if cut else None)
    paths = {
        "sot-loss": lambda a, b: authors(xb, xb, a, b, p=p, limit_quantile_range=cut),
        "ours_general": lambda a, b: wasserstein_1d(x, x, a, b, p=p, quantile_cutoff=cutoff),
        "ours_shared_support": lambda a, b: wasserstein_1d_shared_support(
            x, a, b, p=p, quantile_cutoff=cutoff, implementation="torch"
        ),
    }
    if not cut:  # POT has no cutoff
        paths["POT"] = lambda a, b: ot.wasserstein_1d(xb.T, xb.T, a.T, b.T, p=p)
    with torch.no_grad():
        reference = paths["sot-loss"](u, v)
        scale = max(float(reference.abs().max()), 1e-30)
        rel = {name: float((fn(u, v) - reference).abs().max()) / scale for name, fn in paths.items()}
    leaves = u.clone().requires_grad_(), v.clone().requires_grad_()

    def fwd_bwd(fn):
        def run():
            for leaf in leaves:
                leaf.grad = None
            fn(*leaves).sum().backward()

        return run

    seconds = time_interleaved({name: fwd_bwd(fn) for name, fn in paths.items()}, repeats, warmup=2, device=device)
    return comparison(seconds, "sot-loss", W_RTOL["cut" if cut else "balanced"], rel_diffs=rel)


def section_wasserstein(ctx: Context, section: str = "wasserstein") -> dict:
    from benchmarks.bench_scaling import compare_sot_loss, paper_sot_loss
    from benchmarks.bench_wasserstein import bench

    repeats, loss_repeats = ctx.reps(10), ctx.reps(11)
    shapes, rows = w_shapes(ctx.quick)
    takes_rows = "rows" in inspect.signature(bench).parameters
    w_table = {}
    for n_bins, p, cut in shapes:
        raw = bench(n_bins, p, cut, repeats, rows=rows) if takes_rows else bench(n_bins, p, cut, repeats)
        name = w_case_name(rows if takes_rows else 64 * 16, n_bins, p, cut)
        w_table[name] = from_bench(raw, n_bins, p, cut, rows if takes_rows else 64 * 16)
        log(section, f"W_p {name}: {describe(w_table[name])}")
    batch = 4 if ctx.quick else 64
    loss_table = {}
    for group in ("SOT-2048",) if ctx.quick else SOT_LOSS_GROUPS:
        loss_table[group] = compare_sot_loss(paper_sot_loss(group), batch, loss_repeats)
        log(section, f"SOT loss {group}, audio [{batch}, 4096]: {describe(loss_table[group])}")
    return {
        "what": "forward + backward, float32, CPU. W_p: masses [rows, bins] (bench_wasserstein.bench: each path "
        "timed in a block, mean of the repeats). SOT loss: audio [batch, 4096] -> STFT -> normalisation "
        "-> W, gradient w.r.t. the estimate (interleaved, medians); baseline: the authors' W",
        "meta": section_meta("cpu", repeats, ctx.quick, loss_repeats=loss_repeats, batch_size=batch),
        "tables": {f"W_p fwd+bwd, {rows} rows": w_table, f"SOT loss fwd+bwd, audio [{batch}, 4096]": loss_table},
    }


# --------------------------------------------------------------------------------------------
# Sections in their own modules


def section_mss(ctx: Context) -> dict:
    from benchmarks import bench_mss

    return bench_mss.run(ctx.quick, ctx.reps(11), "cpu")


def section_cqt(ctx: Context) -> dict:
    """``benchmarks/bench_cqt.py``: the CQT front end, ours against nnAudio's convolution, on the CPU."""
    from benchmarks import bench_cqt

    return bench_cqt.run(ctx.quick, ctx.reps(7))


def section_train_step(ctx: Context) -> dict:
    from benchmarks import bench_train_step

    return bench_train_step.run(
        ctx.train_groups(), ctx.reps(11), 4 if ctx.quick else 64, "cpu", profile=True, quick=ctx.quick
    )


def section_scaling(ctx: Context) -> dict:
    from benchmarks import bench_scaling

    return bench_scaling.run(ctx.quick, ctx.reps(7, 1), "cpu", ctx.out_dir)


# --------------------------------------------------------------------------------------------
# GPU


def device_tables(ctx: Context, device: str, section: str = "gpu") -> dict:
    """The W, SOT-loss, MSS and training-step comparisons on ``device`` (the ``gpu`` section's
    tables; any device works, which the tests use on the CPU)."""
    from benchmarks import bench_mss, bench_scaling, bench_train_step

    repeats = ctx.reps(21)
    shapes, rows = w_shapes(ctx.quick)
    batch = 4 if ctx.quick else 64
    w_table, loss_table, mss_table = {}, {}, {}
    for n_bins, p, cut in shapes:
        name = w_case_name(rows, n_bins, p, cut)
        w_table[name] = compare_wasserstein(n_bins, p, cut, repeats, rows, device)
        log(section, f"W_p {name}: {describe(w_table[name])}")
    for group in ("SOT-2048",) if ctx.quick else SOT_LOSS_GROUPS:
        loss_table[group] = bench_scaling.compare_sot_loss(bench_scaling.paper_sot_loss(group), batch, repeats, device)
        log(section, f"SOT loss {group}: {describe(loss_table[group])}")
    for group in bench_mss.MSS_GROUPS:
        mss_table[group] = bench_mss.compare_mss(group, batch, repeats, device)
        log(section, f"MSS {group}: {describe(mss_table[group])}")
    steps = bench_train_step.run(
        ctx.train_groups(),
        ctx.reps(11),
        4 if ctx.quick else 64,
        device,
        profile=False,
        quick=ctx.quick,
        section=section,
    )
    return {
        f"W_p fwd+bwd, {rows} rows": w_table,
        f"SOT loss fwd+bwd, audio [{batch}, 4096]": loss_table,
        f"MSS loss fwd+bwd, audio [{batch}, 4096]": mss_table,
        f"train step, batch {steps['meta']['batch_size']} (runs per hour: 22,000 steps, one run alone)": steps[
            "tables"
        ][bench_train_step.TABLE],
    }


def section_gpu(ctx: Context) -> dict:
    if torch.device(ctx.device).type != "cuda":
        reason = NO_CUDA if not torch.cuda.is_available() else "--device cpu"
        log("gpu", f"skipped: {reason}")
        return {"skipped": reason, "meta": {"timestamp": timestamp(), "quick": ctx.quick}}
    return {
        "what": f"the CPU sections' comparisons on {torch.cuda.get_device_name(torch.device(ctx.device))}, "
        "torch.cuda.synchronize around every timed call; sort-based paths (sot-loss, ours_general) against "
        "our sort-free shared-support path in tensor operations",
        "meta": section_meta(ctx.device, ctx.reps(21), ctx.quick),
        "tables": device_tables(ctx, ctx.device),
    }


def section_ensemble(ctx: Context) -> dict:
    """``benchmarks/bench_ensemble.py``: one step of E runs, separate against one ensemble."""
    from benchmarks import bench_ensemble

    return bench_ensemble.run(quick=ctx.quick, device=ctx.device)


def section_explorer(ctx: Context) -> dict:
    """``benchmarks/bench_explorer.py``: one update of each view of the explorer pages, on the CPU."""
    from benchmarks import bench_explorer

    return bench_explorer.run(quick=ctx.quick, repeats=ctx.reps(20))


SECTION_FUNCTIONS = {
    "wasserstein": section_wasserstein,
    "mss": section_mss,
    "cqt": section_cqt,
    "train_step": section_train_step,
    "scaling": section_scaling,
    "gpu": section_gpu,
    "ensemble": section_ensemble,
    "explorer": section_explorer,
}
assert tuple(SECTION_FUNCTIONS) == SECTIONS


# --------------------------------------------------------------------------------------------
# CLI


def read_results(path: Path) -> dict:
    """The results file's sections ({} if it does not exist)."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise SystemExit(f"{path} is not valid JSON ({error}); move it away or pass another --out") from None
    return data if isinstance(data, dict) else {}


def write_json(data: dict, path: Path) -> None:
    """Write through a temporary file and rename: an interrupted run leaves the last complete file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(partial, path)


def resolve_device(parser: argparse.ArgumentParser, device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available (use --device auto to skip the gpu section)")
    return device


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from sot_utils.training.loss_config import PAPER_GROUPS

    parser = argparse.ArgumentParser(prog="python -m benchmarks.run_all", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        nargs="+",
        choices=SECTIONS,
        metavar="SECTION",
        help=f"sections to run (default: all): {', '.join(SECTIONS)}",
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny shapes and repeats: checks that it runs, times nothing"
    )
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="device of the gpu and ensemble sections (default: auto, CUDA when available)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help=f"results JSON (default: {DEFAULT_OUT.relative_to(ROOT)}; with --quick "
        f"{QUICK_OUT.relative_to(ROOT)}); results.md and the scaling plot go next to it",
    )
    parser.add_argument("--repeats", type=positive_int, help="timed repeats of every comparison (default: per section)")
    parser.add_argument(
        "--threads",
        type=positive_int,
        help="torch (and numba) CPU threads (default: torch's, one per core); 1 avoids waiting on "
        "a thread that shares its core with another process",
    )
    parser.add_argument(
        "--groups",
        nargs="+",
        choices=PAPER_GROUPS,
        metavar="GROUP",
        help=f"groups of the training-step timings (default: all; {', '.join(QUICK_GROUPS)} with --quick)",
    )
    return parser


def main(argv: list[str] | None = None) -> dict:
    """Run the chosen sections, merge them into the results file, render the markdown; returns the results."""
    from benchmarks import report

    parser = build_parser()
    args = parser.parse_args(argv)
    device = resolve_device(parser, args.device)
    if args.threads:
        torch.set_num_threads(args.threads)  # the compiled W kernel follows torch's thread count
    out = (args.out or (QUICK_OUT if args.quick else DEFAULT_OUT)).resolve()
    sections = [s for s in SECTIONS if s in (args.only or SECTIONS)]
    ctx = Context(
        quick=args.quick,
        device=device,
        repeats=args.repeats,
        groups=tuple(args.groups) if args.groups else None,
        out_dir=out.parent,
    )
    results = read_results(out)
    print(
        f"benchmarks: {', '.join(sections)}{' (quick)' if args.quick else ''}; gpu/ensemble device: {device}; "
        f"{torch.get_num_threads()} CPU threads; results -> {out}",
        flush=True,
    )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if torch.get_num_threads() > 1 and load > 0.5:
        print(
            f"note: the machine is busy (load average {load:.2f}); torch ops on {torch.get_num_threads()} threads wait "
            "for a thread that shares its core with other work, which distorts timings; --threads 1 avoids it",
            flush=True,
        )
    start = time.perf_counter()
    for name in sections:
        log(name, "start")
        t0 = time.perf_counter()
        result = SECTION_FUNCTIONS[name](ctx)
        result.setdefault("meta", {})["section_seconds"] = round(time.perf_counter() - t0, 1)
        results[name] = result  # sections not run keep their last values
        write_json(results, out)
        log(name, f"done in {time.perf_counter() - t0:.1f} s")
    markdown = out.with_suffix(".md")
    markdown.write_text(report.render(results))
    print(f"wrote {out} and {markdown} in {time.perf_counter() - start:.1f} s", flush=True)
    return results


if __name__ == "__main__":
    main()
