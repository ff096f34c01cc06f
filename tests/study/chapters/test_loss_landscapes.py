"""Notebook 02's chapter: its tables on tiny grids, and its "What this shows" text from hand-made tables."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from sot_utils.losses import MultiScaleSpectralLoss, SpectralOTLoss
from sot_utils.study.chapters import loss_landscapes as chapter

SINE = torch.tensor([1.0])
TINY = chapter.Grid(sweep_points=5, zoom_points=3, surface_f0_points=3, rank_targets=1, rank_candidates=5)
_COMPLETE = "SOT W2, complete frames"
PAPER = ("SOT W2", _COMPLETE, "L1 SS", "L2 SS", "L1 MSS (lin)", "L2 MSS (lin)", "L1 MSS (log)")


@pytest.fixture
def tiny_grid(monkeypatch):
    """The quick grid shrunk to a few points, so that the chapter's computations run in seconds."""
    monkeypatch.setattr(chapter, "QUICK_GRID", TINY)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# ------------------------------------------------------------------------------------------------
# Hand-made tables


def sweep_table(curves: dict[str, np.ndarray], target_hz: float = 3000.0, span_hz: float = 500.0) -> pd.DataFrame:
    """A :func:`sine_sweeps`-like table with the given normalised curves, the gradient pointing to the target."""
    frames = []
    for name, curve in curves.items():
        offsets = np.linspace(-span_hz, span_hz, len(curve)).astype(np.float32)
        frames.append(
            pd.DataFrame(
                {
                    "loss": name,
                    "offset_hz": offsets,
                    "f0_hz": target_hz + offsets,
                    "detuning_hz": offsets,
                    "value": curve,
                    "gradient": np.sign(offsets),
                    "normalized": curve,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def paper_sweeps() -> pd.DataFrame:
    """11 points: SOT is a V (2 of 11 points above 0.9), the single-scale losses a notch (L1: 10 of 11
    above, L2: 8 of 11), the linear MSS a wider notch (6 of 11), the log MSS L2's notch."""
    v = np.abs(np.linspace(-1.0, 1.0, 11))
    notch = np.where(np.abs(np.arange(11) - 5) <= 1, 0.0, 1.0)
    wide = np.where(np.abs(np.arange(11) - 5) <= 2, 0.0, 1.0)
    curves = {name: notch for name in PAPER}
    curves.update({"SOT W2": v, "SOT W2, complete frames": v, "L1 MSS (lin)": wide, "L2 MSS (lin)": wide})
    curves["L1 SS"] = np.where(np.arange(11) == 5, 0.0, 1.0)  # 10 of 11
    return sweep_table(curves)


def descent(toward: dict[str, int] | None = None, minima: dict[str, int] | None = None) -> pd.DataFrame:
    toward = {**{name: 50 for name in PAPER}, "SOT W2": 61, "SOT W2, complete frames": 97, **(toward or {})}
    minima = {**{name: 1 for name in PAPER}, "L1 MSS (log)": 37, **(minima or {})}
    return pd.DataFrame({chapter.GRADIENT_COLUMN: toward, chapter.MINIMA_COLUMN: minima}).loc[list(PAPER)]


def frame_summary() -> pd.DataFrame:
    summary = pd.DataFrame(
        {
            "complete frames": [9, 9],
            "padded frames": [7, 7],
            "padded / complete": [3.2, 1234.0],
            "padded share": [0.41, 0.87],
        },
        index=pd.Index([3.0, 30.0], name="detuning_hz"),
    )
    return summary


def best() -> pd.DataFrame:
    counts = pd.Index([1, 2, 3], name="n_harmonics")
    return pd.DataFrame(
        {
            "SOT-2048 (cut, W2²)": [180.0, 220.0, 221.0],
            "SOT balanced (NoCut)": [301.0, 250.0, 170.0],
            "L1 MSS (lin)": [220.0, 220.0, 220.0],
        },
        index=counts,
    )


def rank() -> pd.DataFrame:
    names = list(PAPER) + [
        f"SOT · {k}" for k in ("SOT-2048 (cut, W2²)", "complete frames", "complete frames, log frequency")
    ]
    sine = dict(zip(names, np.linspace(0.6, 0.95, len(names))))
    harmonic = {**dict.fromkeys(names, 0.7), "L1 SS": 0.52, "L1 MSS (log)": 0.77}
    harmonic.update({"SOT · SOT-2048 (cut, W2²)": 0.66, "SOT · complete frames": 0.81})
    harmonic["SOT · complete frames, log frequency"] = 0.99
    table = pd.DataFrame({"sine": sine, "harmonic (6)": harmonic})
    table.index.name = "loss"
    return table


def text(**changes) -> str:
    tables = dict(
        sweeps=paper_sweeps(), descent=descent(), frame_summary=frame_summary(), best=best(), rank=rank(), quick=True
    )
    return chapter.findings(**{**tables, **changes})


# ------------------------------------------------------------------------------------------------
# findings


def test_findings_read_the_landscape_from_the_sweeps():
    shown = text()
    assert "For a 3 kHz sine detuned by ±0.5 kHz, SOT (W₂) is a V with 1 local minimum" in shown
    assert "within 10 % of its maximum over only 18 % of the sweep" in shown  # 2 of 11
    assert "single-scale losses stay that high over 73–91 % of it" in shown  # 8 and 10 of 11
    assert "linear MSS over 55 %" in shown  # 6 of 11, both
    assert "the log-magnitude MSS has 37 local minima" in shown


def test_findings_say_when_sot_is_no_v():
    shown = text(descent=descent(minima={"SOT W2": 3}))
    assert "SOT (W₂) is no clean V: it has 3 local minima" in shown and "is a V" not in shown


def test_findings_read_the_framing_from_the_frame_costs_and_the_descent_table():
    shown = text()
    assert "detuned by 3–30 Hz, the padded last frames carry 41–87 % of the loss" in shown
    assert "costs from 3 to 1,234 times a complete one" in shown
    assert "gradient points toward the target at 61 % of 11 points" in shown
    assert "(`SpectralOTLoss(pad_end=False)`) at 97 % (any rest: subgradients at exact whole-bin shifts" in shown
    assert "(`SpectralOTLoss(pad_end=False)`) at 100 %" in text(descent=descent(toward={_COMPLETE: 100}))


def test_findings_read_the_best_f0_per_harmonic_count():
    shown = text()
    # 220 and 221 Hz are within 50 cents of 220 Hz (8 cents), 180 Hz is not (347 cents)
    assert "for 2 of 3 harmonic counts (2, 3)" in shown
    assert "its best f0 is 301 Hz with 1 harmonic and 170 Hz with 3" in shown
    moved = best()
    moved.loc[3, "SOT-2048 (cut, W2²)"] = 240.0  # 151 cents off
    assert "for 1 of 3 harmonic counts (2)" in text(best=moved)


def test_findings_read_the_rank_accuracy():
    shown = text()
    table = rank()
    assert "4 targets, 25 candidates over ±1 octave" in shown
    assert "Log-frequency SOT on complete frames ranks 95 % of pairs correctly for sines and 99 %" in shown
    assert f"{100 * table.loc['SOT · complete frames', 'sine']:.0f} % and 81 %" in shown
    assert f"reference framing {100 * table.loc['SOT · SOT-2048 (cut, W2²)', 'sine']:.0f} % and 66 %" in shown
    assert "the vertical losses 52–77 % on harmonic tones" in shown
    assert "16 targets, 97 candidates" in text(quick=False)
    table.loc["L1 SS", "harmonic (6)"] = 0.61
    assert "the vertical losses 61–77 %" in text(rank=table)


# ------------------------------------------------------------------------------------------------
# Tables from hand-made inputs


def test_descent_table_counts_gradients_toward_the_target_and_prominent_minima():
    detuning = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    sweeps = pd.DataFrame(
        {
            "loss": "a",
            "offset_hz": detuning,
            "f0_hz": 100 + detuning,
            "detuning_hz": detuning,
            "value": 0.0,
            "gradient": [-1.0, -3.0, 7.0, 2.0, -1.0],  # the last points away; the one at 0 does not count
            "normalized": [1.0, 0.5, 0.0, 0.5, 1.0],
        }
    )
    bumpy = sweeps.assign(loss="b", normalized=[0.0, 1.0, 0.5, 1.0, 0.02])  # minima at 0.5 (prominent), edges
    table = chapter.descent_table(pd.concat([sweeps, bumpy], ignore_index=True))
    assert list(table.index) == ["a", "b"]
    assert table.loc["a", chapter.GRADIENT_COLUMN] == 75 and table.loc["a", chapter.MINIMA_COLUMN] == 1
    assert table.loc["b", chapter.MINIMA_COLUMN] == 1  # interior minima only (find_peaks): the one at index 2


def test_frame_cost_summary_splits_complete_and_padded_frames():
    costs = pd.DataFrame(
        {
            "detuning_hz": [1.0] * 4 + [2.0] * 4,
            "frame": [0, 1, 2, 3] * 2,
            "complete": [True, True, False, False] * 2,
            "cost": [1.0, 3.0, 10.0, 30.0, 2.0, 2.0, 2.0, 6.0],
        }
    )
    summary = chapter.frame_cost_summary(costs)
    assert list(summary.index) == [1.0, 2.0]
    assert summary.loc[1.0, "padded / complete"] == pytest.approx(10.0)
    assert summary.loc[1.0, "padded share"] == pytest.approx(40 / 44)
    assert summary.loc[2.0, "padded / complete"] == pytest.approx(2.0)
    assert summary.loc[2.0, "padded share"] == pytest.approx(8 / 12)
    assert (summary["complete frames"] == 2).all() and (summary["padded frames"] == 2).all()


def test_best_f0_takes_each_rows_minimum():
    table = pd.DataFrame(
        {
            "loss": "a",
            "n_harmonics": [1, 1, 1, 2, 2, 2],
            "f0_hz": [100.0, 200.0, 400.0] * 2,
            "value": [3.0, 1.0, 2.0, 0.5, 4.0, 5.0],
        }
    )
    assert chapter.best_f0(table)["a"].to_dict() == {1: 200.0, 2: 100.0}


# ------------------------------------------------------------------------------------------------
# Sweeps and the chapter's computations on tiny grids


def test_detuning_sweeps_find_the_target_and_its_direction():
    """SOT on complete frames is a V: zero at the target, slope of the detuning's sign beside it."""
    losses = {
        "sot": SpectralOTLoss(n_fft=2048, root=True, mode="balanced", pad_end=False, reduction="none"),
        "mss": MultiScaleSpectralLoss(reduction="none"),
    }
    offsets = torch.tensor([-1000.0, -500.0, 0.0, 500.0, 1000.0])
    table = chapter.detuning_sweeps(losses, 4000.0, offsets, SINE, gradient=True)
    assert list(table.columns) == ["loss", "offset_hz", "f0_hz", "detuning_hz", "value", "gradient", "normalized"]
    assert list(table["loss"].unique()) == ["sot", "mss"]
    np.testing.assert_array_equal(table["f0_hz"], 4000.0 + np.tile(offsets.numpy(), 2))
    np.testing.assert_array_equal(table["detuning_hz"], np.tile(offsets.numpy(), 2))
    for _, frame in table.groupby("loss"):
        assert frame["offset_hz"].to_numpy()[frame["value"].to_numpy().argmin()] == 0.0  # the same tone: loss 0
        assert frame["normalized"].min() == 0.0 and frame["normalized"].max() == 1.0
    sot = table[table["loss"] == "sot"]
    away = sot["offset_hz"] != 0
    np.testing.assert_array_equal(np.sign(sot.loc[away, "gradient"]), np.sign(sot.loc[away, "offset_hz"]))
    assert "gradient" not in chapter.detuning_sweeps(losses, 4000.0, offsets, SINE).columns


def test_ratio_sweeps_find_the_target():
    losses = {"mss": MultiScaleSpectralLoss(reduction="none")}
    ratios = torch.tensor([0.5, 1.0, 2.0])
    table = chapter.ratio_sweeps(losses, 220.0, ratios, torch.tensor([1.0, 0.5]))
    assert list(table.columns) == ["loss", "ratio", "f0_hz", "value", "normalized"]
    np.testing.assert_allclose(table["f0_hz"], [110.0, 220.0, 440.0])
    assert table["value"].to_numpy().argmin() == 1


def test_chapter_sweeps_on_a_tiny_grid(tiny_grid):
    sine = chapter.sine_sweeps(4000.0, quick=True)
    assert list(sine["loss"].unique()) == list(PAPER)
    assert len(sine) == len(PAPER) * TINY.sweep_points
    np.testing.assert_array_equal(sine["offset_hz"].unique(), [-2500.0, -1250.0, 0.0, 1250.0, 2500.0])
    table = chapter.descent_table(sine)
    assert list(table.index) == list(PAPER) and table[chapter.GRADIENT_COLUMN].between(0, 100).all()

    harmonic = chapter.harmonic_sweeps(quick=True)
    assert len(harmonic) == len(PAPER) * TINY.sweep_points
    np.testing.assert_allclose(harmonic["ratio"].unique(), [0.5, 2**-0.5, 1.0, 2**0.5, 2.0], rtol=1e-6)

    variants = chapter.variant_sweeps(4000.0, quick=True)
    assert set(variants) == {"sine", "zoom", "harmonic"}
    assert len(variants["sine"]["offset_hz"].unique()) == TINY.sweep_points // 2 + 1
    np.testing.assert_array_equal(variants["zoom"]["offset_hz"].unique(), [-100.0, 0.0, 100.0])
    assert list(variants["zoom"]["loss"].unique()) == ["SOT-2048 (cut, W2²)", "complete frames"]
    # a detuned sine costs more than the target itself, whatever the variant
    for _, frame in variants["sine"].groupby("loss"):
        assert frame["offset_hz"].to_numpy()[frame["value"].to_numpy().argmin()] == 0.0

    for fig in (
        chapter.plot_losses_sine(sine),
        chapter.plot_gradients_sine(sine),
        chapter.plot_ratio_sweep(harmonic, "h"),
        chapter.plot_detuning_sweep(variants["zoom"], "z", in_hz=True),
    ):
        assert all(ax.lines for ax in fig.axes if ax.get_label() != "<colorbar>")
    panels = chapter.plot_losses_sine(sine).axes
    assert [len(ax.get_lines()) for ax in panels] == [len(names) for names in chapter.SINE_PANELS.values()]


def test_surfaces_find_the_target_at_its_harmonic_count(tiny_grid):
    """At the target's harmonic count, the candidate at the target's f0 is the target itself: loss 0."""
    table = chapter.surfaces(quick=True)
    assert list(table["loss"].unique()) == list(chapter.SURFACE_LOSSES)
    assert len(table) == len(chapter.SURFACE_LOSSES) * len(chapter.SURFACE_AMPLITUDES) * TINY.surface_f0_points
    found = chapter.best_f0(table)
    assert list(found.index) == list(range(1, len(chapter.SURFACE_AMPLITUDES) + 1))
    np.testing.assert_allclose(found.loc[chapter.SURFACE_TARGET_HARMONICS], chapter.SURFACE_TARGET_HZ, rtol=1e-6)
    assert len(chapter.plot_surface_f0_harmonics(table).axes) == 2 * len(chapter.SURFACE_LOSSES)  # with colour bars


def test_frame_costs_split_the_reference_framing():
    """4096 samples in frames of 2048 every 256: 16 frames (end padding), 1 + (4096 - 2048) / 256 = 9 complete."""
    costs = chapter.frame_costs(4000.0, detunings_hz=(5.0, 50.0))
    assert list(costs.columns) == ["detuning_hz", "frame", "complete", "cost"]
    assert len(costs) == 2 * 16 and costs.groupby("detuning_hz")["complete"].sum().tolist() == [9, 9]
    assert (costs["cost"] >= 0).all() and costs["cost"].dtype == np.float64
    summary = chapter.frame_cost_summary(costs)
    assert list(summary.index) == [5.0, 50.0] and summary["padded share"].between(0, 1).all()


def test_rank_accuracy_table_on_a_tiny_grid(tiny_grid):
    table = chapter.rank_accuracy_table(quick=True)
    assert table.index.name == "loss" and list(table.columns) == ["sine", "harmonic (6)"]
    assert list(table.index[: len(PAPER)]) == list(PAPER)
    assert table.index[len(PAPER)] == "SOT · SOT-2048 (cut, W2²)"
    assert table.to_numpy().min() >= 0 and table.to_numpy().max() <= 1


# ------------------------------------------------------------------------------------------------
# Bad arguments


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="quick"):
        chapter.grid("yes")
    with pytest.raises(ValueError, match="sine_target_hz"):
        chapter.sine_sweeps(7000.0, quick=True)  # +2.5 kHz would pass Nyquist
    with pytest.raises(ValueError, match="sine_target_hz"):
        chapter.variant_sweeps(-4000.0, quick=True)
    with pytest.raises(ValueError, match="losses"):
        chapter.detuning_sweeps({}, 4000.0, torch.tensor([0.0]), SINE)
    with pytest.raises(ValueError, match="offsets_hz"):
        chapter.detuning_sweeps({"a": MultiScaleSpectralLoss(reduction="none")}, 4000.0, torch.zeros(2, 2), SINE)
    with pytest.raises(ValueError, match="ratios"):
        chapter.ratio_sweeps({"a": MultiScaleSpectralLoss(reduction="none")}, 220.0, torch.tensor([-1.0]), SINE)
    with pytest.raises(ValueError, match="detunings_hz"):
        chapter.frame_costs(4000.0, detunings_hz=())
    with pytest.raises(ValueError, match="gradient"):
        chapter.descent_table(paper_sweeps().drop(columns="gradient"))
    with pytest.raises(ValueError, match="quick"):
        text(quick="no")
