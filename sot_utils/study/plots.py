"""Figure functions for the notebooks. They draw what other modules computed; each figure is saved
as PNG and PDF by :func:`save_figure`.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = [
    "plot_accuracy_by_partials",
    "plot_cdfs_and_quantiles",
    "plot_f0_scatter",
    "plot_f0_scatters",
    "plot_harmonic_share",
    "plot_harmonic_share_map",
    "plot_learning_curves",
    "plot_loss_curves",
    "plot_metric_against_budget",
    "plot_metric_per_group",
    "plot_noise_remedy",
    "plot_paired_differences",
    "plot_rank_accuracy",
    "plot_reconstructions",
    "plot_robustness",
    "plot_score_grid",
    "plot_spectra",
    "plot_success_rate",
    "plot_surfaces",
    "plot_training_curves",
    "plot_transport_lines",
    "plot_trap_landscapes",
    "plot_vertical_comparison",
    "plot_voicing",
    "save_figure",
]

U_STYLE = dict(color="tab:blue", linestyle="--", marker="o", markersize=3, label=r"$\alpha$ (target)")
V_STYLE = dict(color="tab:orange", linestyle="-", marker="o", markersize=3, label=r"$\beta$ (estimate)")
LINK_COLOR = "tab:green"
# transport (SOT) curves: dashed, in greens; vertical losses: solid, in a palette without green
SOT_COLORS = ("tab:green", "tab:cyan", "tab:olive", "darkgreen", "lightseagreen", "yellowgreen", "seagreen", "teal")
OTHER_COLORS = ("tab:red", "black", "tab:blue", "tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:gray")


def _curve_styles(names) -> dict[str, dict]:
    """A distinct style per curve; names starting with "SOT" are the transport losses."""
    sot = [n for n in names if n.startswith("SOT")]
    other = [n for n in names if not n.startswith("SOT")]
    styles = {n: dict(color=SOT_COLORS[i % len(SOT_COLORS)], linestyle="--", linewidth=2.2) for i, n in enumerate(sot)}
    styles.update({n: dict(color=OTHER_COLORS[i % len(OTHER_COLORS)], linewidth=1.2) for i, n in enumerate(other)})
    return styles


def save_figure(fig: plt.Figure, name: str, output_dir: str | Path) -> list[Path]:
    """Save ``fig`` as ``<output_dir>/<name>.png`` (150 dpi) and ``.pdf``; return both paths."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = [output_dir / f"{name}.png", output_dir / f"{name}.pdf"]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight", metadata={"CreationDate": None})  # same bytes on every run
    return paths


def _spectra_axes(ax, frequencies, u, v, title):
    ax.plot(frequencies, u, **U_STYLE)
    ax.plot(frequencies, v, **V_STYLE)
    ax.set(xlabel="Normalized frequency (f / sample rate)", ylabel="Amplitude", title=title)
    ax.legend(loc="upper right")


def plot_spectra(frequencies, u, v, title="Normalized spectra"):
    """Two spectra on a common axis. ``frequencies``, ``u``, ``v``: ``[n_bins]``."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    _spectra_axes(ax, frequencies, u, v, title)
    return fig


def plot_vertical_comparison(frequencies, u, v):
    """Bin-wise ("vertical") differences, what spectral losses such as MSS compare."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    _spectra_axes(ax, frequencies, u, v, "Vertical comparison: bin-wise differences")
    ax.vlines(frequencies, np.minimum(u, v), np.maximum(u, v), color=LINK_COLOR, linewidth=1.5)
    return fig


def plot_transport_lines(frequencies, u, v, plan, min_mass=1e-3):
    """Horizontal comparison: the optimal transport plan ``plan [n, n]`` as arcs between bins.

    An arc goes from ``(f_i, u_i)`` to ``(f_j, v_j)``; its width grows with the mass moved.
    """
    fig, ax = plt.subplots(figsize=(7, 3.2))
    _spectra_axes(ax, frequencies, u, v, "Horizontal comparison: optimal transport plan")
    rows, cols = np.nonzero(plan > min_mass * plan.max())
    for i, j in zip(rows, cols):
        ax.plot(
            [frequencies[i], frequencies[j]],
            [u[i], v[j]],
            color=LINK_COLOR,
            alpha=0.6,
            linewidth=0.5 + 3 * plan[i, j] / plan.max(),
        )
    return fig


def plot_cdfs_and_quantiles(curves: dict[str, np.ndarray]):
    """CDFs with the area between them (left) and quantile functions with theirs (right).

    ``curves`` as returned by :func:`sot_utils.study.landscape.cdf_quantile_curves`. For p = 1 both
    areas equal W_1; the right panel is the integral ``∫ |F_α^{-1} - F_β^{-1}|^p dr``.
    """
    x = curves["positions"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    left.step(x, curves["u_cdf"], where="post", color="tab:blue", linestyle="--", label=r"$F_\alpha$")
    left.step(x, curves["v_cdf"], where="post", color="tab:orange", label=r"$F_\beta$")
    left.fill_between(
        x, curves["u_cdf"], curves["v_cdf"], step="post", hatch="---", facecolor="none", edgecolor="grey", linewidth=0
    )
    left.set(title="CDF", xlabel="Normalized frequency", ylabel="Cumulative mass")
    left.legend()
    levels = np.concatenate([[0.0], curves["levels"]])
    u_q = np.concatenate([curves["u_quantile"][:1], curves["u_quantile"]])
    v_q = np.concatenate([curves["v_quantile"][:1], curves["v_quantile"]])
    right.step(levels, u_q, where="pre", color="tab:blue", linestyle="--", label=r"$F_\alpha^{-1}$")
    right.step(levels, v_q, where="pre", color="tab:orange", label=r"$F_\beta^{-1}$")
    right.fill_between(levels, u_q, v_q, step="pre", hatch="|||", facecolor="none", edgecolor="grey", linewidth=0)
    right.set(title="Quantile function", xlabel="Quantile level r", ylabel="Normalized frequency")
    right.legend()
    fig.tight_layout()
    return fig


def plot_loss_curves(
    x,
    panels: list[dict[str, np.ndarray]],
    xlabel="Frequency difference (kHz)",
    ylabel="Normalized loss [0-1]",
    titles=None,
    x_scale=1e-3,
):
    """One panel per dict of ``name -> curve`` against ``x`` (plotted as ``x * x_scale``)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.6), sharey=True, squeeze=False)
    styles = _curve_styles(list(dict.fromkeys(name for curves in panels for name in curves)))
    for k, (ax, curves) in enumerate(zip(axes[0], panels)):
        for name, values in curves.items():
            ax.plot(np.asarray(x) * x_scale, values, label=name, **styles[name])
        ax.set(xlabel=xlabel, title=None if titles is None else titles[k])
        ax.legend(fontsize=8, loc="lower right")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(ylabel)
    fig.tight_layout()
    return fig


def plot_surfaces(values_x, values_y, grids: dict[str, np.ndarray], xlabel, ylabel, truth=None, log_x=True):
    """Heat maps of losses over two parameters, one panel per ``name -> grid [len(y), len(x)]``.

    Colours are logarithmic (each panel its own range); white dots mark each row's minimum and a
    star marks ``truth=(x, y)``.
    """
    from matplotlib.colors import LogNorm

    fig, axes = plt.subplots(1, len(grids), figsize=(4.6 * len(grids), 3.8), squeeze=False)
    for ax, (name, grid) in zip(axes[0], grids.items()):
        positive = grid[grid > 0]
        norm = LogNorm(vmin=max(positive.min(), positive.max() * 1e-4), vmax=positive.max())
        mesh = ax.pcolormesh(values_x, values_y, np.maximum(grid, norm.vmin), shading="auto", cmap="viridis", norm=norm)
        fig.colorbar(mesh, ax=ax, label="loss (log scale)")
        ax.plot(
            np.asarray(values_x)[grid.argmin(axis=1)], values_y, "o", color="white", markersize=4, label="row minimum"
        )
        if truth is not None:
            ax.plot(
                *truth,
                marker="*",
                color="red",
                markersize=14,
                markeredgecolor="black",
                linestyle="none",
                label="target",
            )
        ax.set(xlabel=xlabel, ylabel=ylabel, title=name, xscale="log" if log_x else "linear")
    axes[0][0].legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_success_rate(rates: pd.DataFrame, title="Direct f0 fitting by gradient descent"):
    """Success rate (%) against initial detuning (octaves), one line per loss."""
    fig, ax = plt.subplots(figsize=(7, 3.8))
    styles = _curve_styles(list(rates.columns))
    for name in rates.columns:
        ax.plot(rates.index, rates[name], marker="o", markersize=4, label=name, **styles[name])
    ax.set(
        xlabel="Initial detuning (octaves)",
        ylabel="Success rate (%) — final error < 50 cents",
        title=title,
        ylim=(-3, 103),
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_rank_accuracy(table: pd.DataFrame, column="rank accuracy"):
    """Horizontal bar chart of rank accuracy per loss; chance (0.5) is marked."""
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(table) + 1.2))
    ordered = table.sort_values(column)
    ax.barh(
        ordered.index,
        ordered[column],
        color=["tab:green" if n.startswith("SOT") else "tab:grey" for n in ordered.index],
    )
    ax.axvline(0.5, color="black", linestyle=":", label="chance")
    ax.set(xlim=(0, 1), xlabel="Rank accuracy (Turian & Henry, 2020)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def plot_training_curves(logs: dict[str, pd.DataFrame]):
    """Training loss and validation LSD / RPA against step, one line per run (``log.csv`` frames)."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    for name, log in logs.items():
        axes[0].plot(log["step"], log["train_loss"], label=name)
        axes[1].plot(log["step"], log["val_lsd"], label=name)
        axes[2].plot(log["step"], log["val_rpa"], label=name)
    axes[0].set(xlabel="step", ylabel="training loss", yscale="log", title="Training loss")
    axes[1].set(xlabel="step", ylabel="LSD (dB²)", title="Validation LSD")
    axes[2].set(xlabel="step", ylabel="RPA (%)", title="Validation raw pitch accuracy", ylim=(-2, 102))
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    return fig


def _f0_scatter_axes(ax, f0_true_hz, f0_est_hz, title):
    lo, hi = 30.0, 8000.0
    for ratio, style in ((1.0, "-"), (2.0, ":"), (0.5, ":")):
        ax.plot([lo, hi], [lo * ratio, hi * ratio], color="grey", linestyle=style, linewidth=1)
    ax.scatter(f0_true_hz, f0_est_hz, s=8, alpha=0.6, color="tab:green")
    ax.set(
        xscale="log",
        yscale="log",
        xlim=(lo, hi),
        ylim=(lo, hi),
        xlabel="true f0 (Hz)",
        ylabel="predicted f0 (Hz)",
        title=title,
    )
    ax.grid(alpha=0.3, which="both")


def plot_f0_scatter(f0_true_hz, f0_est_hz, title="Predicted against true f0"):
    """Per-example predicted f0 (median over frames) against the truth, log axes, octave lines."""
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    _f0_scatter_axes(ax, f0_true_hz, f0_est_hz, title)
    return fig


def plot_f0_scatters(panels: dict, columns: int = 3):
    """:func:`plot_f0_scatter` for several runs side by side.

    Args:
        panels: ``{title: (f0_true_hz, f0_est_hz)}``, one panel each (arrays ``[N]``, Hz).
        columns: panels per row.
    """
    if not panels:
        raise ValueError("`panels` is empty: nothing to draw")
    columns = min(columns, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 3.5 * rows), squeeze=False)
    for ax, (title, (f0_true_hz, f0_est_hz)) in zip(axes.flat, panels.items()):
        _f0_scatter_axes(ax, f0_true_hz, f0_est_hz, title)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def plot_reconstructions(frequencies_hz, target_spectra, estimate_spectra, titles):
    """Target against reconstructed magnitude spectra (dB), one panel per example."""
    n = len(titles)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.2), squeeze=False, sharey=True)
    for ax, target, estimate, title in zip(axes[0], target_spectra, estimate_spectra, titles):
        ax.plot(
            frequencies_hz, 20 * np.log10(np.maximum(target, 1e-5)), color="tab:blue", linestyle="--", label="target"
        )
        ax.plot(frequencies_hz, 20 * np.log10(np.maximum(estimate, 1e-5)), color="tab:orange", label="reconstruction")
        ax.set(xlabel="frequency (Hz)", title=title, xlim=(0, frequencies_hz[-1]))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("magnitude (dB)")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_learning_curves(
    logs: pd.DataFrame,
    metrics=(("val_rpa", "validation RPA (%)"), ("val_lsd", "validation LSD (dB²)")),
    budget=None,
    plateaus=None,
):
    """Validation metrics against step for many runs: one colour per group, one thin line per seed.

    Args:
        logs: stacked ``log.csv`` frames with ``group`` and ``seed`` columns.
        metrics: (column, axis label) pairs, one panel each.
        budget: step of the chosen training budget, drawn as a vertical line (None: none).
        plateaus: ``{(group, seed): step}``, where a run's curve levels off
            (:func:`~sot_utils.training.evaluate.plateau_step`), drawn as a ring on its curve in every panel.
    """
    fig, axes = plt.subplots(1, len(metrics), figsize=(6.2 * len(metrics), 3.8), squeeze=False)
    colours = dict(zip(dict.fromkeys(logs["group"]), plt.rcParams["axes.prop_cycle"].by_key()["color"] * 3))
    for ax, (column, label) in zip(axes[0], metrics):
        for (group, seed), log in logs.groupby(["group", "seed"], sort=False):
            ax.plot(
                log["step"],
                log[column],
                color=colours[group],
                linewidth=1,
                alpha=0.8,
                label=group if seed == logs.loc[logs["group"] == group, "seed"].iloc[0] else None,
            )
        for (group, seed), step in (plateaus or {}).items():
            at = logs[(logs["group"] == group) & (logs["seed"] == seed) & (logs["step"] == step)]
            if at.empty:
                raise ValueError(f"plateaus: no {group} seed {seed} log row at step {step}")
            ax.scatter(
                [step],
                at[column].iloc[:1],
                s=45,
                facecolors="none",
                edgecolors=colours[group],
                linewidths=1.5,
                zorder=3,
                label="levels off" if (group, seed) == next(iter(plateaus)) else None,
            )
        if budget is not None:
            ax.axvline(budget, color="grey", linestyle=":", label=f"budget ({budget} steps)")
        ax.set(xlabel="step", ylabel=label)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_metric_per_group(per_run: pd.DataFrame, column="rpa", label="test RPA (%)"):
    """One metric per group: every seed as a dot, the mean as a bar."""
    groups = list(dict.fromkeys(per_run["group"]))
    fig, ax = plt.subplots(figsize=(1.1 * len(groups) + 2, 3.6))
    for i, group in enumerate(groups):
        values = per_run.loc[per_run["group"] == group, column].to_numpy()
        ax.bar(i, values.mean(), color="tab:green" if group.startswith("SOT") else "tab:grey", alpha=0.35, width=0.6)
        jitter = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else np.zeros(1)
        ax.scatter(i + jitter, values, color="black", s=14, zorder=3)
    ax.set_xticks(range(len(groups)), groups, rotation=30, ha="right")
    ax.set(ylabel=label)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def plot_metric_against_budget(per_budget: pd.DataFrame, column="rpa", label="test RPA (%)"):
    """One metric against the training budget, every group at the same budgets.

    Args:
        per_budget: :func:`~sot_utils.training.evaluate.evaluate_budgets`'s frame (``group``, ``seed``,
            ``budget`` and ``column``).

    Each seed is a dot (groups side by side at each budget), each group's mean over its seeds a
    line; the number of seeds behind each mean is written next to it when seeds are missing.
    """
    groups = list(dict.fromkeys(per_budget["group"]))
    styles = _curve_styles(groups)
    budgets = sorted(per_budget["budget"].unique())
    spacing = np.diff(budgets).min() if len(budgets) > 1 else max(budgets[0], 1)
    offsets = (np.arange(len(groups)) - (len(groups) - 1) / 2) * 0.08 * spacing
    full = per_budget.groupby("group")["seed"].nunique()
    fig, ax = plt.subplots(figsize=(7.0, 3.8))
    for group, offset in zip(groups, offsets):
        rows = per_budget[per_budget["group"] == group]
        mean = rows.groupby("budget")[column].agg(["mean", "count"])
        ax.plot(mean.index + offset, mean["mean"], marker="o", markersize=4, label=group, **styles[group])
        ax.scatter(rows["budget"] + offset, rows[column], color=styles[group]["color"], s=12, alpha=0.6, zorder=3)
        for budget, (value, count) in mean.iterrows():
            if count < full[group]:
                ax.annotate(
                    f"{int(count)}",
                    (budget + offset, value),
                    textcoords="offset points",
                    xytext=(4, 4),
                    fontsize=7,
                    color=styles[group]["color"],
                )
    ax.set_xticks(budgets, [f"{int(b):,}" for b in budgets])
    ax.set(xlabel="training budget (steps): the best checkpoint up to it", ylabel=label)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_harmonic_share(shares: dict[str, np.ndarray], title: str | None = None):
    """Mean energy share of each harmonic (1 = fundamental), one bar series per estimator.

    Args:
        shares: label -> ``[n_examples, n_harmonics]`` rows of
            :func:`~sot_utils.metrics.harmonic_energy_share`.
    """
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    width = 0.8 / len(shares)
    for i, (label, share) in enumerate(shares.items()):
        share = np.asarray(share)
        harmonics = np.arange(1, share.shape[-1] + 1)
        ax.bar(harmonics + (i - (len(shares) - 1) / 2) * width, share.mean(axis=0), width=width, label=label)
    ax.set(xlabel="harmonic k (partial at k · predicted f0)", ylabel="mean energy share", title=title)
    ax.set_xticks(harmonics)
    ax.grid(alpha=0.3, axis="y")
    if len(shares) > 1:
        ax.legend()
    fig.tight_layout()
    return fig


def plot_harmonic_share_map(shares: dict[str, np.ndarray], title: str | None = None):
    """Mean energy share of each harmonic for several runs: one row per run, colour = share.

    A run collapsed onto partial *k* is a single bright cell in column *k* (its f0 sits log2 *k*
    octaves low); a run that tracks pitch puts its energy in the first few columns.

    Args:
        shares: label -> ``[n_examples, n_harmonics]`` rows of
            :func:`~sot_utils.metrics.harmonic_energy_share` (the same ``n_harmonics`` for all).
    """
    if not shares:
        raise ValueError("`shares` is empty: nothing to draw")
    means = [np.asarray(share).mean(axis=0) for share in shares.values()]
    if len({m.shape for m in means}) != 1 or means[0].ndim != 1:
        raise ValueError(
            "every entry of `shares` must be [n_examples, n_harmonics] with the same n_harmonics, "
            f"got {[np.shape(s) for s in shares.values()]}"
        )
    means = np.stack(means)
    fig, ax = plt.subplots(figsize=(10.5, 1.2 + 0.42 * len(means)))
    image = ax.imshow(means, aspect="auto", cmap="magma", vmin=0.0, vmax=1.0)
    for (row, column), value in np.ndenumerate(means):
        if value >= 0.1:  # label the partials that matter
            ax.text(
                column,
                row,
                f"{value:.2f}",
                ha="center",
                va="center",
                fontsize=6.5,
                color="black" if value > 0.6 else "white",
            )
    ax.set_xticks(range(means.shape[1]), labels=[str(k) for k in range(1, means.shape[1] + 1)])
    ax.set_yticks(range(len(means)), labels=list(shares))
    ax.set(xlabel="harmonic k (partial at k · predicted f0)", title=title)
    fig.colorbar(image, ax=ax, label="mean energy share", pad=0.01)
    fig.tight_layout()
    return fig


def plot_accuracy_by_partials(
    tables: dict[str, pd.DataFrame], column: str = "rpa", label: str = "test RPA (%)", title: str | None = None
):
    """Accuracy by the number of partials a tone has: one row per run, one column per count.

    A run that reads pure tones as an upper partial of a lower f0 has a dark first column and
    bright ones to the right.

    Args:
        tables: run label -> :func:`~sot_utils.training.evaluate.pitch_accuracy_by_partials` table
            (columns ``partials``, ``tones`` and ``column``).
        column: the accuracy to colour by (``"rpa"`` or ``"rca"``), percent.
        label: colour-bar label.
        title: axes title.
    """
    if not tables:
        raise ValueError("`tables` is empty: nothing to draw")
    missing = [name for name, table in tables.items() if not {"partials", "tones", column} <= set(table.columns)]
    if missing:
        raise ValueError(f"`tables` entries {missing} lack the columns partials, tones and {column!r}")
    counts = sorted({int(c) for table in tables.values() for c in table["partials"]})
    grid = np.full((len(tables), len(counts)), np.nan)
    tones = dict.fromkeys(counts, 0)
    for row, table in enumerate(tables.values()):
        for entry in table.itertuples():
            grid[row, counts.index(int(entry.partials))] = getattr(entry, column)
            tones[int(entry.partials)] = max(tones[int(entry.partials)], int(entry.tones))
    fig, ax = plt.subplots(figsize=(1.6 + 0.75 * len(counts) + 2.5, 1.2 + 0.42 * len(tables)))
    image = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=0.0, vmax=100.0)
    for (row, col), value in np.ndenumerate(grid):
        if np.isfinite(value):
            ax.text(
                col, row, f"{value:.0f}", ha="center", va="center", fontsize=7, color="black" if value > 60 else "white"
            )
    ax.set_xticks(range(len(counts)), labels=[f"{c}\n({tones[c]})" for c in counts])
    ax.set_yticks(range(len(tables)), labels=list(tables))
    ax.set(xlabel="audible partials of the tone (number of tones)", title=title)
    fig.colorbar(image, ax=ax, label=label, pad=0.01)
    fig.tight_layout()
    return fig


def plot_robustness(
    sweep: pd.DataFrame, level_names: dict[str, str], column: str = "rpa", label: str = "RPA (%)", columns: int = 3
):
    """One panel per perturbation: a score against the level, one curve per estimator.

    ``sweep``: rows ``estimator``, ``perturbation``, ``level`` and ``column`` (several rows per
    estimator and condition, e.g. seeds, are averaged); ``level_names``: perturbation -> axis label.
    Estimators starting with "SOT" are dashed greens, as in the loss figures; SNR axes run from
    clean to noisy.
    """
    perturbations = list(dict.fromkeys(sweep["perturbation"]))
    rows = -(-len(perturbations) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    styles = _curve_styles(list(dict.fromkeys(sweep["estimator"])))
    for ax, name in zip(axes.flat, perturbations):
        part = sweep[sweep["perturbation"] == name].groupby(["estimator", "level"], sort=False)[column].mean()
        for estimator in dict.fromkeys(sweep["estimator"]):
            if estimator in part.index.get_level_values(0):
                curve = part.loc[estimator].sort_index()
                ax.plot(curve.index, curve.values, marker="o", markersize=3, label=estimator, **styles[estimator])
        ax.set(title=name, xlabel=level_names.get(name, "level"), ylabel=label, ylim=(-3, 103))
        levels = sorted(set(part.index.get_level_values(1)))
        if "noise" in name:
            ax.invert_xaxis()
        elif name == "inharmonicity" and levels[-1] > 0:
            ax.set_xscale("symlog", linthresh=min(v for v in levels if v > 0))  # B spans decades, from 0
            ax.set_xlim(left=0)
        elif levels == [0.0, 1.0]:  # an on/off perturbation
            ax.set_xticks([0.0, 1.0], ["off", "on"])
            ax.set_xlim(-0.3, 1.3)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(perturbations) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="lower center",
        ncol=min(len(labels), 6),
        fontsize=8,
        bbox_to_anchor=(0.5, -0.02 - 0.03 * (len(labels) // 6)),
    )
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def plot_noise_remedy(results: pd.DataFrame):
    """Success rate of gradient-descent f0 fits against SNR, one panel per noise colour.

    ``results``: rows ``loss``, ``color``, ``snr_db``, ``success_rate`` (clean = ``inf``, drawn
    at the left edge as "clean").
    """
    colors = list(dict.fromkeys(results["color"]))
    fig, axes = plt.subplots(1, len(colors), figsize=(5 * len(colors), 3.4), squeeze=False, sharey=True)
    styles = _curve_styles(list(dict.fromkeys(results["loss"])))
    finite = results.loc[np.isfinite(results["snr_db"]), "snr_db"]
    clean_at = finite.max() + 10 if len(finite) else 0.0
    for ax, color in zip(axes[0], colors):
        part = results[results["color"] == color]
        for name in dict.fromkeys(part["loss"]):
            rows = part[part["loss"] == name]
            x = np.where(np.isfinite(rows["snr_db"]), rows["snr_db"], clean_at)
            order = np.argsort(-x)
            ax.plot(
                x[order], rows["success_rate"].to_numpy()[order], marker="o", markersize=3, label=name, **styles[name]
            )
        ticks = sorted(set(finite.tolist()) | {clean_at}, reverse=True)
        ax.set_xticks(ticks, ["clean" if t == clean_at else f"{t:g}" for t in ticks])
        ax.invert_xaxis()
        ax.set(
            title=f"{color} noise on the target", xlabel="SNR (dB)", ylabel="fits within 50 cents (%)", ylim=(-3, 103)
        )
        ax.grid(alpha=0.3)
    axes[0, -1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_score_grid(table: pd.DataFrame, column: str = "rpa", label: str = "RPA (%)", title: str | None = None):
    """A score per estimator (rows) and group of tones (columns), e.g. instrument families.

    ``table``: rows ``estimator``, ``group``, ``n_tones`` and ``column`` (percent), as
    :func:`sot_utils.study.robustness.evaluate_estimators` returns; columns keep the table's order.
    """
    if table.empty:
        raise ValueError("`table` is empty: nothing to draw")
    grid = table.pivot(index="estimator", columns="group", values=column)
    grid = grid.loc[list(dict.fromkeys(table["estimator"])), list(dict.fromkeys(table["group"]))]
    tones = table.groupby("group")["n_tones"].max()
    fig, ax = plt.subplots(figsize=(2.2 + 0.85 * grid.shape[1], 1.2 + 0.42 * grid.shape[0]))
    image = ax.imshow(grid.to_numpy(dtype=float), aspect="auto", cmap="viridis", vmin=0.0, vmax=100.0)
    for (row, col), value in np.ndenumerate(grid.to_numpy(dtype=float)):
        if np.isfinite(value):
            ax.text(
                col, row, f"{value:.0f}", ha="center", va="center", fontsize=7, color="black" if value > 60 else "white"
            )
    ax.set_xticks(range(grid.shape[1]), labels=[f"{g}\n({tones[g]})" for g in grid.columns], rotation=30, ha="right")
    ax.set_yticks(range(grid.shape[0]), labels=list(grid.index))
    ax.set(title=title)
    fig.colorbar(image, ax=ax, label=label, pad=0.01)
    fig.tight_layout()
    return fig


def plot_trap_landscapes(landscapes: pd.DataFrame, f0_hz: float, n_harmonics: int = 20):
    """Amplitude-optimal loss against candidate f0 (notebook 07), one panel per partial count.

    Args:
        landscapes: rows of :func:`sot_utils.study.traps.trap_landscapes` with columns
            ``group``, ``n_partials``, ``candidate_hz``, ``loss``.
        f0_hz: the targets' f0; vertical lines mark its exact sub-harmonics ``f0 / k``
            (``k <= n_harmonics / K``: dotted), the truth (solid) and, when the candidates reach
            it, the octave above ``2 f0`` (dash-dot).
    """
    counts = sorted(landscapes["n_partials"].unique())
    fig, axes = plt.subplots(1, len(counts), figsize=(4.6 * len(counts), 3.4), squeeze=False, sharey=True)
    styles = _curve_styles(list(dict.fromkeys(landscapes["group"])))
    for ax, count in zip(axes[0], counts):
        panel = landscapes[landscapes["n_partials"] == count]
        for group, curve in panel.groupby("group", sort=False):
            values = curve["loss"].to_numpy()
            span = values.max() - values.min()
            normalised = (values - values.min()) / span if span > 0 else values * 0
            ax.plot(curve["candidate_hz"] / f0_hz, normalised, label=group, **styles[group])
        lowest = panel["candidate_hz"].min() / f0_hz
        ratios = [k for k in range(1, n_harmonics // count + 1) if 1 / k >= lowest]
        for k in ratios[1:]:
            ax.axvline(1 / k, color="0.6", linestyle=":", linewidth=0.8)
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_xscale("log")
        ticks = [1 / k for k in range(1, 7) if 1 / k >= lowest]
        labels = ["f0"] + [f"f0/{k}" for k in range(2, len(ticks) + 1)]
        if panel["candidate_hz"].max() >= 2 * f0_hz:  # the octave above: the even partials only
            ax.axvline(2.0, color="0.6", linestyle="-.", linewidth=0.8)
            ticks, labels = [*ticks, 2.0], [*labels, "2 f0"]
        ax.xaxis.set_major_locator(mpl.ticker.FixedLocator(ticks))
        ax.xaxis.set_major_formatter(mpl.ticker.FixedFormatter(labels))
        ax.xaxis.set_minor_locator(mpl.ticker.NullLocator())
        ax.set_xlabel("candidate f0")
        ax.set_title(f"{count} partial{'s' if count > 1 else ''}: exact minima at f0/k, k <= {n_harmonics // count}")
    axes[0, 0].set_ylabel("loss after fitting the amplitudes\n(min-max normalised)")
    axes[0, -1].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def plot_voicing(table: pd.DataFrame):
    """Share of each set of sounds that the voicing decision marks voiced (notebook 06).

    Args:
        table: one row per set with columns ``set``, ``kind`` (``"tones"`` or ``"not tones"``)
            and ``voiced (%)``.
    """
    fig, ax = plt.subplots(figsize=(6.4, 0.32 * len(table) + 1.0))
    colours = ["tab:green" if kind == "tones" else "tab:red" for kind in table["kind"]]
    ax.barh(table["set"], table["voiced (%)"], color=colours)
    for y, value in enumerate(table["voiced (%)"]):
        ax.text(min(value + 1, 92), y, f"{value:.1f} %", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("marked voiced (%): tones should be 100, the rest 0")
    fig.tight_layout()
    return fig


def plot_paired_differences(per_run: pd.DataFrame, pairs, metric: str = "rpa", label: str = "test RPA (%)"):
    """One panel per pair of groups: each seed's value in both groups, joined by a line (notebook 05).

    Args:
        per_run: rows with ``group``, ``seed`` and ``metric``.
        pairs: ``[(group_a, group_b), ...]``.
    """
    fig, axes = plt.subplots(1, len(pairs), figsize=(2.6 * len(pairs), 3.2), squeeze=False, sharey=True)
    for ax, (a, b) in zip(axes[0], pairs):
        table = per_run.pivot_table(index="seed", columns="group", values=metric)[[a, b]].dropna()
        for seed, row in table.iterrows():
            ax.plot([0, 1], [row[a], row[b]], marker="o", color="0.4")
            ax.annotate(str(seed), (1.05, row[b]), fontsize=7, va="center")
        ax.set_xticks([0, 1], [a, b], rotation=20, fontsize=8)
        ax.set_xlim(-0.3, 1.45)
        mean = (table[a] - table[b]).mean()
        ax.set_title(f"mean difference {mean:+.1f}", fontsize=9)
    axes[0, 0].set_ylabel(label)
    fig.tight_layout()
    return fig
