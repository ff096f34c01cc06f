"""How the cost grows: the SOT loss (forward + backward) with batch size and FFT size, and our
training step with batch size; log-log plot ``scaling.png`` / ``scaling.pdf``.

- SOT loss: the SOT-2048 term (flat-top window, power spectra, hop 256, W_2^2 with the frequency
  cutoff) on audio ``[batch, 4096]``, ours (``sot_utils.losses.SpectralOTLoss``) against the same
  spectra with the authors' sort-based ``sot.losses.wasserstein_1d`` (``SortBasedSOT`` of
  ``bench_train_step``): batch 8 ... 128 at n_fft 2048, then n_fft 256 ... 4096 at batch 64.
- training step: ``sot_utils.training.train.train_step`` of SOT-2048 (the paper fixes each group's n_fft,
  so only the batch varies), batch 8 ... 128.

Each series records the median times, whether the candidates' values agree at every point, and
the log-log slope (cost ~ size^exponent, least squares over the points).

Also :func:`compare_sot_loss`, the SOT loss of a paper group ours against the authors' W, which
the ``wasserstein`` and ``gpu`` sections of the suite use.

Run as a section of the suite: ``python -m benchmarks.run_all --only scaling``.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from benchmarks import comparison, forward_backward, harmonic_audio, log, section_meta, time_interleaved
from benchmarks.bench_train_step import SortBasedSOT, default_micro_batch, load_batch
from sot_utils.autoencoder import HarmonicAutoencoder
from sot_utils.losses import SpectralOTLoss
from sot_utils.training.loss_config import paper_loss
from sot_utils.training.train import train_step

BATCHES = (8, 16, 32, 64, 128)
N_FFTS = (256, 512, 1024, 2048, 4096)
QUICK_BATCHES = (2, 4)
QUICK_N_FFTS = (256, 512)
RTOL = {"cut": 1e-2, "balanced": 1e-3}
"""Tolerance on the SOT loss, ours against the authors' W. With the cutoff the reference drops a
whole segment when rounding puts the target's mass a few ulp above 1 (ours clips it at 1;
``sot_utils.losses``), which moves single frames by up to 1.5 %; balanced transport has no such
difference."""
PLOT_NAMES = ("scaling.png", "scaling.pdf")


def sot_loss_pair(loss: SpectralOTLoss) -> dict:
    """``{"sot-loss W": ..., "ours": ...}``: the same SOT loss with the authors' W and with ours."""
    return {"sot-loss W": SortBasedSOT(loss), "ours": loss}


def compare_sot_loss(loss: SpectralOTLoss, batch: int, repeats: int, device: str = "cpu") -> dict:
    """Comparison record of one SOT loss (STFT, normalisation, W) on audio ``[batch, 4096]``,
    forward + backward with respect to the estimate; baseline: the authors' W."""
    loss = loss.to(device)
    target, estimate = harmonic_audio(batch, seed=0, device=device), harmonic_audio(batch, seed=1, device=device)
    fns = {name: forward_backward(module, target, estimate) for name, module in sot_loss_pair(loss).items()}
    values = {name: float(fn()) for name, fn in fns.items()}
    seconds = time_interleaved(fns, repeats, device=device)
    return comparison(seconds, "sot-loss W", RTOL[loss.mode], values=values)


def paper_sot_loss(group: str) -> SpectralOTLoss:
    """The SOT term of one of the paper's SOT groups."""
    return paper_loss(group).terms["sot"]


def sot_loss_at(n_fft: int) -> SpectralOTLoss:
    """The SOT-2048 term at another FFT size."""
    return SpectralOTLoss(n_fft=n_fft, hop_length=256, window="flattop", power=True, p=2, mode="cut")


def exponent(sizes, times) -> float | None:
    """Least-squares slope of log(time) against log(size): cost ~ size^exponent."""
    points = [(math.log(s), math.log(t)) for s, t in zip(sizes, times) if s > 0 and t > 0]
    if len(points) < 2:
        return None
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return round(sum((x - mx) * (y - my) for x, y in points) / sxx, 3) if sxx else None


def loss_series(x_name: str, xs, make, repeats: int, device: str, section: str, fixed: str) -> dict:
    """Time ``make(x) -> (loss, batch)`` at every ``x``: ours and the authors' W."""
    ms, diffs, agree = {"sot-loss W": [], "ours": []}, [], True
    for x in xs:
        loss, batch = make(x)
        record = compare_sot_loss(loss, batch, repeats, device)
        for name in ms:
            ms[name].append(record["candidates"][name]["ms"])
        diffs.append(record["candidates"]["ours"]["rel_diff"])
        agree = agree and record["agree"]
        log(section, f"SOT loss, {x_name} {x} ({fixed}): " + ", ".join(f"{n} {v[-1]:.4g} ms" for n, v in ms.items()))
    return {
        "x_name": x_name,
        "x": list(xs),
        "fixed": fixed,
        "ms": ms,
        "agree": agree,
        "max_rel_diff": max(diffs),
        "rtol": RTOL["cut"],
        "exponent": {name: exponent(xs, v) for name, v in ms.items()},
    }


def train_step_series(batches, repeats: int, device: str, section: str) -> dict:
    """Our SOT-2048 training step at every batch size (micro-batches as ``sot_utils.training.train``)."""
    ms = []
    for batch in batches:
        audio, cqt = load_batch(batch, device)
        torch.manual_seed(0)
        model = HarmonicAutoencoder().to(device)
        loss_fn = paper_loss("SOT-2048").to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, weight_decay=1e-4)
        micro = default_micro_batch(batch, device)
        seconds = time_interleaved(
            {"ours": lambda: train_step(model, loss_fn, optimizer, audio, cqt, micro)}, repeats, device=device
        )["ours"]
        ms.append(round(seconds * 1e3, 3))
        log(section, f"train step SOT-2048, batch {batch}: {ms[-1]:.4g} ms")
    return {
        "x_name": "batch",
        "x": list(batches),
        "fixed": f"SOT-2048, micro-batches of {default_micro_batch(max(batches), device)} on CPU",
        "ms": {"ours": ms},
        "exponent": {"ours": exponent(batches, ms)},
    }


def plot(series: dict, out_dir: Path) -> list[str]:
    """One log-log panel per series; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(series), figsize=(4.2 * len(series), 3.6), squeeze=False)
    for ax, (title, s) in zip(axes[0], series.items()):
        for name, ms in s["ms"].items():
            slope = s["exponent"].get(name)
            ax.loglog(s["x"], ms, "o-", label=name + ("" if slope is None else f" (slope {slope:.2f})"))
        first = next(iter(s["ms"].values()))  # guide: cost proportional to the size, through the first point
        ax.loglog(s["x"], [first[0] * x / s["x"][0] for x in s["x"]], ":", color="0.5", label="slope 1")
        ax.set_xscale("log", base=2)
        ax.set_xticks(s["x"], [str(x) for x in s["x"]])
        ax.minorticks_off()
        ax.set_xlabel(s["x_name"])
        ax.set_ylabel("ms (median)")
        ax.set_title(f"{title}\n({s['fixed']})", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in PLOT_NAMES:
        fig.savefig(out_dir / name, dpi=150)
        written.append(name)
    plt.close(fig)
    return written


def run(
    quick: bool = False,
    repeats: int | None = None,
    device: str = "cpu",
    out_dir: Path | None = None,
    section: str = "scaling",
) -> dict:
    """The ``scaling`` section; the plot goes to ``out_dir`` (default: next to this file)."""
    repeats = repeats or (1 if quick else 7)
    batches, n_ffts = (QUICK_BATCHES, QUICK_N_FFTS) if quick else (BATCHES, N_FFTS)
    fixed_batch = max(batches) // 2 if quick else 64
    series = {
        "SOT loss fwd+bwd vs batch": loss_series(
            "batch",
            batches,
            lambda b: (sot_loss_at(2048), b),
            repeats,
            device,
            section,
            "n_fft 2048, audio [batch, 4096]",
        ),
        "SOT loss fwd+bwd vs n_fft": loss_series(
            "n_fft",
            n_ffts,
            lambda n: (sot_loss_at(n), fixed_batch),
            repeats,
            device,
            section,
            f"batch {fixed_batch}, audio [{fixed_batch}, 4096]",
        ),
        "train step vs batch": train_step_series(batches, repeats, device, section),
    }
    plots = plot(series, Path(out_dir) if out_dir else Path(__file__).parent)
    log(section, "exponents: " + "; ".join(f"{t}: {s['exponent']}" for t, s in series.items()))
    return {
        "what": f"growth of the cost with the batch and FFT size (log-log slopes), {device}",
        "meta": section_meta(device, repeats, quick),
        "series": series,
        "plots": plots,
    }
