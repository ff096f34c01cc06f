"""Tests for ``sot_utils.study.plots``: every figure function draws small synthetic inputs into a Figure,
and :func:`save_figure` writes valid PNG and PDF files."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.collections import LineCollection, QuadMesh  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from sot_utils.study import plots  # noqa: E402
from sot_utils.study.landscape import cdf_quantile_curves, success_rate  # noqa: E402
from sot_utils.transport import transport_plan_1d  # noqa: E402

N_BINS = 24


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def spectra():
    """Two unit-mass bumps on normalised frequencies, as torch float64 tensors."""
    positions = torch.linspace(0, 1, N_BINS, dtype=torch.float64)
    u = torch.exp(-0.5 * ((positions - 0.3) / 0.05) ** 2)
    v = torch.exp(-0.5 * ((positions - 0.6) / 0.08) ** 2)
    return positions, u / u.sum(), v / v.sum()


def _check_saved(fig, name, tmp_path):
    out = tmp_path / "figures" / "nested"  # save_figure creates missing folders
    paths = plots.save_figure(fig, name, out)
    assert [p.name for p in paths] == [f"{name}.png", f"{name}.pdf"]
    png, pdf = (p.read_bytes() for p in paths)
    assert len(png) > 1000 and png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(pdf) > 1000 and pdf.startswith(b"%PDF") and b"%%EOF" in pdf[-64:]
    plt.close(fig)


def _check_figure(fig, n_axes_at_least=1):
    assert isinstance(fig, Figure)
    assert len(fig.axes) >= n_axes_at_least
    fig.canvas.draw()  # the whole figure renders without error


def test_plot_spectra(spectra, tmp_path):
    positions, u, v = (t.numpy() for t in spectra)
    fig = plots.plot_spectra(positions, u, v, title="two bumps")
    _check_figure(fig)
    ax = fig.axes[0]
    assert ax.get_title() == "two bumps"
    assert len(ax.get_lines()) == 2
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), u)
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), v)
    _check_saved(fig, "spectra", tmp_path)


def test_plot_vertical_comparison(spectra, tmp_path):
    positions, u, v = (t.numpy() for t in spectra)
    fig = plots.plot_vertical_comparison(positions, u, v)
    _check_figure(fig)
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 2
    links = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(links) == 1 and len(links[0].get_segments()) == N_BINS
    _check_saved(fig, "vertical", tmp_path)


def test_plot_transport_lines(spectra, tmp_path):
    positions, u, v = spectra
    plan = transport_plan_1d(positions, u, v).numpy()
    np.testing.assert_allclose(plan.sum(axis=1), u.numpy(), atol=1e-12)
    np.testing.assert_allclose(plan.sum(axis=0), v.numpy(), atol=1e-12)
    fig = plots.plot_transport_lines(positions.numpy(), u.numpy(), v.numpy(), plan)
    _check_figure(fig)
    n_arcs = int(np.count_nonzero(plan > 1e-3 * plan.max()))
    assert n_arcs > 0
    assert len(fig.axes[0].get_lines()) == 2 + n_arcs  # the two spectra and one line per arc
    _check_saved(fig, "transport", tmp_path)


def test_plot_cdfs_and_quantiles(spectra, tmp_path):
    curves = cdf_quantile_curves(*spectra)
    fig = plots.plot_cdfs_and_quantiles(curves)
    _check_figure(fig, n_axes_at_least=2)
    assert [ax.get_title() for ax in fig.axes] == ["CDF", "Quantile function"]
    for ax in fig.axes:
        assert len(ax.get_lines()) == 2
        assert len(ax.collections) >= 1  # the hatched area between the curves
    _check_saved(fig, "cdfs", tmp_path)


def test_plot_loss_curves(tmp_path):
    x = np.linspace(-2500, 2500, 21)
    panels = [
        {"SOT W2": np.abs(x) / 2500, "L1 SS": np.minimum(1.0, np.abs(x) / 100)},
        {
            "SOT W2, complete frames": np.abs(x) / 2500,
            "L2 MSS (lin)": np.sqrt(np.abs(x) / 2500),
            "L1 MSS (log)": np.cos(x) ** 2,
        },
    ]
    fig = plots.plot_loss_curves(x, panels, titles=["sine", "harmonic"])
    _check_figure(fig, n_axes_at_least=2)
    assert [ax.get_title() for ax in fig.axes] == ["sine", "harmonic"]
    assert [len(ax.get_lines()) for ax in fig.axes] == [2, 3]
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_xdata(), x * 1e-3)
    assert fig.axes[0].get_lines()[0].get_linestyle() == "--"  # SOT curves are dashed
    _check_saved(fig, "loss_curves", tmp_path)

    single = plots.plot_loss_curves(x, panels[:1])  # one panel, default titles
    _check_figure(single)
    assert len(single.axes) == 1
    plt.close(single)


def test_plot_surfaces(tmp_path):
    values_x = np.geomspace(100, 1000, 9)
    values_y = np.linspace(0.0, 1.0, 5)
    xx, yy = np.meshgrid(np.log(values_x / 300), values_y - 0.5)
    grids = {
        "SOT": xx**2 + yy**2 + 1e-3,
        "MSS": np.abs(xx) * np.abs(yy),  # exact zeros: the log colour scale must cope
    }
    assert (grids["MSS"] == 0).any()
    fig = plots.plot_surfaces(values_x, values_y, grids, "f0 (Hz)", "amplitude", truth=(300.0, 0.5))
    _check_figure(fig, n_axes_at_least=2)
    panels = [ax for ax in fig.axes if ax.get_title() in grids]
    assert [ax.get_title() for ax in panels] == ["SOT", "MSS"]
    for ax, grid in zip(panels, grids.values()):
        assert ax.get_xscale() == "log"
        assert any(isinstance(c, QuadMesh) for c in ax.collections)
        row_minima = ax.get_lines()[0]
        np.testing.assert_allclose(row_minima.get_xdata(), values_x[grid.argmin(axis=1)])
    assert len(fig.axes) == 4  # two panels and their colour bars
    _check_saved(fig, "surfaces", tmp_path)

    linear = plots.plot_surfaces(values_x, values_y, {"one": grids["SOT"]}, "x", "y", log_x=False)
    _check_figure(linear)
    assert linear.axes[0].get_xscale() == "linear"
    plt.close(linear)


def _fits(success_by_detuning):
    rows = [
        {"target_f0_hz": f0, "initial_detuning_octaves": d, "success": s}
        for d, flags in success_by_detuning.items()
        for f0, s in zip((200.0, 400.0, 800.0, 1600.0), flags)
    ]
    return pd.DataFrame(rows)


def test_plot_success_rate(tmp_path):
    rates = success_rate(
        {
            "SOT W2": _fits({-1.0: [True] * 4, 0.0: [True] * 4, 1.0: [True, True, False, True]}),
            "L1 MSS (lin)": _fits({-1.0: [False] * 4, 0.0: [True] * 4, 1.0: [False, True, False, False]}),
        }
    )
    assert list(rates.index) == [-1.0, 0.0, 1.0]
    np.testing.assert_allclose(rates["SOT W2"], [100, 100, 75])
    np.testing.assert_allclose(rates["L1 MSS (lin)"], [0, 100, 25])
    fig = plots.plot_success_rate(rates, title="fits")
    _check_figure(fig)
    ax = fig.axes[0]
    assert ax.get_title() == "fits"
    assert len(ax.get_lines()) == 2
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), [0, 100, 25])
    _check_saved(fig, "success_rate", tmp_path)


def test_plot_rank_accuracy(tmp_path):
    table = pd.DataFrame(
        {"rank accuracy": [0.97, 0.55, 0.62, 0.41]}, index=["SOT W2", "L1 SS", "L1 MSS (lin)", "L1 MSS (log)"]
    )
    fig = plots.plot_rank_accuracy(table)
    _check_figure(fig)
    ax = fig.axes[0]
    bars = ax.patches
    assert len(bars) == 4
    np.testing.assert_allclose(sorted(b.get_width() for b in bars), sorted(table["rank accuracy"]))
    assert ax.get_xlim() == (0.0, 1.0)
    _check_saved(fig, "rank_accuracy", tmp_path)


def test_training_figures(tmp_path):
    steps = np.arange(1, 6) * 100
    log = pd.DataFrame(
        {"step": steps, "train_loss": 1.0 / steps, "val_lsd": 50.0 / np.sqrt(steps), "val_rpa": np.linspace(5, 80, 5)}
    )
    fig = plots.plot_training_curves({"SOT-2048": log, "MSS-Lin": log.assign(val_rpa=5.0)})
    _check_figure(fig, 3)
    assert [len(ax.get_lines()) for ax in fig.axes] == [2, 2, 2]
    np.testing.assert_allclose(fig.axes[2].get_lines()[0].get_ydata(), log["val_rpa"])
    _check_saved(fig, "training", tmp_path)

    fig = plots.plot_f0_scatter(np.array([100.0, 200.0, 400.0]), np.array([100.0, 400.0, 200.0]))
    _check_figure(fig)
    assert fig.axes[0].get_xscale() == "log" and len(fig.axes[0].collections) == 1
    _check_saved(fig, "scatter", tmp_path)

    freqs = np.linspace(0, 8000, 65)
    spectra = np.abs(np.random.default_rng(0).normal(size=(2, 65)))
    fig = plots.plot_reconstructions(freqs, spectra, spectra * 0.5, ["a", "b"])
    _check_figure(fig, 2)
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"]
    _check_saved(fig, "reconstructions", tmp_path)


def test_results_figures(tmp_path):
    steps = np.arange(1, 4) * 220
    logs = pd.concat(
        [
            pd.DataFrame(
                {
                    "step": steps,
                    "val_rpa": np.linspace(0, 60, 3) + seed,
                    "val_lsd": 100.0 - seed,
                    "group": group,
                    "seed": seed,
                }
            )
            for group in ("SOT-2048", "MSS-Lin")
            for seed in (42, 123)
        ]
    )
    fig = plots.plot_learning_curves(logs, budget=440)
    _check_figure(fig, 2)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 5  # 2 groups x 2 seeds + the budget line
    assert lines[0].get_color() == lines[1].get_color() != lines[2].get_color()  # one colour per group
    np.testing.assert_allclose(lines[1].get_ydata(), np.linspace(0, 60, 3) + 123)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["SOT-2048", "MSS-Lin", "budget (440 steps)"]
    _check_saved(fig, "learning_curves", tmp_path)

    fig = plots.plot_learning_curves(logs, plateaus={("SOT-2048", 123): 440})
    rings = fig.axes[0].collections
    assert len(rings) == 1 and rings[0].get_offsets().tolist() == [[440.0, 30.0 + 123]]
    assert fig.axes[1].collections[0].get_offsets().tolist() == [[440.0, 100.0 - 123]]
    assert "levels off" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    plt.close(fig)
    with pytest.raises(ValueError, match="plateaus: no SOT-2048 seed 123 log row at step 500"):
        plots.plot_learning_curves(logs, plateaus={("SOT-2048", 123): 500})

    per_run = pd.DataFrame(
        {"group": ["MSS-Lin"] * 2 + ["SOT-2048"] * 3, "seed": [1, 2, 1, 2, 3], "rpa": [1.0, 3.0, 70.0, 80.0, 90.0]}
    )
    fig = plots.plot_metric_per_group(per_run)
    _check_figure(fig)
    ax = fig.axes[0]
    np.testing.assert_allclose([b.get_height() for b in ax.patches], [2.0, 80.0])
    np.testing.assert_allclose(ax.collections[1].get_offsets()[:, 1], [70.0, 80.0, 90.0])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["MSS-Lin", "SOT-2048"]
    _check_saved(fig, "rpa_per_group", tmp_path)


def test_plot_metric_against_budget_draws_group_means_and_seed_dots(tmp_path):
    per_budget = pd.DataFrame(
        {
            "group": ["SOT-2048"] * 6 + ["MSS-Lin"] * 4,
            "seed": [1, 2, 3, 1, 2, 3, 1, 2, 1, 2],
            "budget": [2200] * 3 + [4400] * 3 + [2200] * 2 + [4400] * 2,
            "rpa": [0.0, 7.0, 2.0, 60.0, 10.0, 5.0, 1.0, 0.0, 1.0, 2.0],
        }
    ).iloc[:-1]  # MSS-Lin seed 2 has not reached 4,400 steps
    fig = plots.plot_metric_against_budget(per_budget)
    _check_figure(fig)
    ax = fig.axes[0]
    sot, mss = ax.get_lines()
    np.testing.assert_allclose(sot.get_ydata(), [3.0, 25.0])
    np.testing.assert_allclose(mss.get_ydata(), [0.5, 1.0])
    assert sot.get_xdata()[0] < 2200 < mss.get_xdata()[0]  # groups side by side at each budget
    assert [len(c.get_offsets()) for c in ax.collections] == [6, 3]
    assert [t.get_text() for t in ax.texts] == ["1"]  # one MSS-Lin seed behind the 4,400 mean
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["SOT-2048", "MSS-Lin"]
    _check_saved(fig, "rpa_against_budget", tmp_path)


def test_plot_f0_scatters_draws_one_panel_per_run(tmp_path):
    truth = np.array([100.0, 200.0, 400.0])
    panels = {
        "SOT-2048 seed 1": (truth, truth),
        "SOT-2048 seed 2": (truth, truth / 2),
        "MSS-Lin seed 1": (truth, truth * 0 + 50.0),
        "MSS-Lin seed 2": (truth, truth),
    }
    fig = plots.plot_f0_scatters(panels, columns=3)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(fig.axes) == 6 and len(visible) == 4
    assert [ax.get_title() for ax in visible] == list(panels)
    np.testing.assert_allclose(visible[1].collections[0].get_offsets()[:, 1], truth / 2)
    _check_saved(fig, "f0_scatters", tmp_path)
    with pytest.raises(ValueError, match="panels"):
        plots.plot_f0_scatters({})


def test_plot_harmonic_share_draws_the_mean_share_per_harmonic():
    one = np.zeros((4, 20))
    one[:, 7] = 1.0
    fig = plots.plot_harmonic_share({"collapsed": one, "flat": np.full((3, 20), 0.05)})
    ax = fig.axes[0]
    heights = [patch.get_height() for patch in ax.patches]
    assert len(heights) == 40 and heights[7] == pytest.approx(1.0) and heights[20:] == pytest.approx([0.05] * 20)
    plt.close(fig)


def test_plot_harmonic_share_map_draws_one_row_of_mean_shares_per_run():
    one = np.zeros((4, 20))
    one[:, 7] = 1.0
    flat = np.full((3, 20), 0.05)
    fig = plots.plot_harmonic_share_map({"collapsed": one, "flat": flat})
    image = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(image, np.stack([one.mean(axis=0), flat.mean(axis=0)]))
    assert [label.get_text() for label in fig.axes[0].get_yticklabels()] == ["collapsed", "flat"]
    plt.close(fig)
    with pytest.raises(ValueError, match="shares"):
        plots.plot_harmonic_share_map({})
    with pytest.raises(ValueError, match="same n_harmonics"):
        plots.plot_harmonic_share_map({"a": one, "b": np.full((3, 10), 0.1)})


def test_plot_accuracy_by_partials_draws_one_row_per_run_and_one_column_per_count():
    low = pd.DataFrame(
        {"partials": [1, 2, 3], "tones": [4, 5, 6], "rpa": [0.0, 20.0, 100.0], "rca": [0.0, 40.0, 100.0]}
    )
    high = pd.DataFrame(
        {"partials": [2, 3, 4], "tones": [5, 6, 7], "rpa": [90.0, 95.0, 100.0], "rca": [90.0, 95.0, 100.0]}
    )
    fig = plots.plot_accuracy_by_partials({"run a": low, "run b": high})
    image = np.ma.filled(fig.axes[0].images[0].get_array(), np.nan)
    np.testing.assert_allclose(image, [[0.0, 20.0, 100.0, np.nan], [np.nan, 90.0, 95.0, 100.0]])
    assert [label.get_text() for label in fig.axes[0].get_xticklabels()] == ["1\n(4)", "2\n(5)", "3\n(6)", "4\n(7)"]
    assert [label.get_text() for label in fig.axes[0].get_yticklabels()] == ["run a", "run b"]
    plt.close(fig)
    fig = plots.plot_accuracy_by_partials({"run a": low}, column="rca", title="chroma")
    np.testing.assert_allclose(np.ma.filled(fig.axes[0].images[0].get_array(), np.nan), [[0.0, 40.0, 100.0]])
    assert fig.axes[0].get_title() == "chroma"
    plt.close(fig)
    with pytest.raises(ValueError, match="tables"):
        plots.plot_accuracy_by_partials({})
    with pytest.raises(ValueError, match="rca"):
        plots.plot_accuracy_by_partials({"a": low.drop(columns="rca")}, column="rca")


def test_plot_robustness_draws_one_panel_per_perturbation_and_averages_seeds(tmp_path):
    rows = []
    for estimator in ("SOT-2048", "MSS-Lin", "pesto"):
        for seed in (1, 2):
            for perturbation, levels in {
                "white noise": (40.0, 10.0, 0.0),
                "vibrato": (0.0, 100.0),
                "inharmonicity": (0.0, 1e-3),
            }.items():
                rows += [
                    {"estimator": estimator, "perturbation": perturbation, "level": level, "rpa": 10.0 * seed}
                    for level in levels
                ]
    fig = plots.plot_robustness(pd.DataFrame(rows), {"white noise": "SNR (dB)"})
    axes = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_title() for ax in axes] == ["white noise", "vibrato", "inharmonicity"]
    assert len(axes[0].lines) == 3 and np.allclose(axes[0].lines[0].get_ydata(), 15.0)  # mean of the two seeds
    assert axes[0].xaxis_inverted() and axes[0].get_xlabel() == "SNR (dB)"
    _check_saved(fig, "robustness", tmp_path)


def test_plot_noise_remedy_puts_clean_first(tmp_path):
    results = pd.DataFrame(
        [
            {"loss": loss, "color": color, "snr_db": snr, "success_rate": rate}
            for loss, rate in (("SOT", 50.0), ("SOT + floor", 75.0))
            for color in ("white", "pink")
            for snr in (float("inf"), 10.0, 0.0)
        ]
    )
    fig = plots.plot_noise_remedy(results)
    assert len(fig.axes) == 2 and all(len(ax.lines) == 2 for ax in fig.axes)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels[0] == "clean" and set(labels) == {"clean", "10", "0"}
    _check_saved(fig, "noise_remedy", tmp_path)


def test_plot_score_grid_keeps_the_order_and_writes_each_score(tmp_path):
    table = pd.DataFrame(
        [
            {"estimator": e, "group": g, "n_tones": n, "rpa": r}
            for e, scores in (("ours", (80.0, 50.0)), ("pesto", (100.0, 90.0)))
            for (g, n), r in zip((("all", 20), ("Piano", 5)), scores)
        ]
    )
    fig = plots.plot_score_grid(table, title="RPA")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["ours", "pesto"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["all\n(20)", "Piano\n(5)"]
    assert sorted(t.get_text() for t in ax.texts) == ["100", "50", "80", "90"]
    _check_saved(fig, "score_grid", tmp_path)
    with pytest.raises(ValueError, match="empty"):
        plots.plot_score_grid(table.iloc[:0])


def test_plot_trap_landscapes_marks_the_sub_harmonics_and_the_octave_above_when_reached():
    f0 = 400.0
    ratios = np.array([1 / 4, 1 / 3, 1 / 2, 0.8, 1.0, 1.5, 2.0, 2.2])
    landscapes = pd.DataFrame(
        [
            {"group": group, "n_partials": count, "candidate_hz": f0 * r, "loss": abs(np.log2(r)) + i}
            for i, group in enumerate(["SOT-2048", "MSS-Lin"])
            for count in (1, 8)
            for r in ratios
        ]
    )
    fig = plots.plot_trap_landscapes(landscapes, f0)
    pure, eight = fig.axes
    labels = [tick.get_text() for tick in pure.get_xticklabels()]
    assert labels == ["f0", "f0/2", "f0/3", "f0/4", "2 f0"]
    assert len(pure.get_lines()) == 2 + 3 + 1 + 1  # two curves, f0/2..f0/4, the truth, 2 f0
    assert len(eight.get_lines()) == 2 + 1 + 1 + 1  # 8 partials: only f0/2 is exact
    below_only = plots.plot_trap_landscapes(landscapes[landscapes["candidate_hz"] < 1.9 * f0], f0)
    assert "2 f0" not in [tick.get_text() for tick in below_only.axes[0].get_xticklabels()]
