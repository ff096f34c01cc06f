"""The chapter of notebook 08 (sot_utils.study.chapters.centroid_stage): the centroid identity, the
pull on a one-partial estimate, the stage metrics of a checkpoint, their summaries and the findings text."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from sot_utils.configs import read_config
from sot_utils.constants import BUDGET_STEP, CPU_BUDGET_STEPS
from sot_utils.study.chapters import centroid_stage as chapter

# --------------------------------------------------------------------------------------------
# Section 1: the centroid term


def test_identity_adds_up_to_pots_w2_and_puts_the_centroids_at_m_times_f0():
    identity = chapter.compute_identity()
    row = identity.iloc[0]
    assert row["sum (Hz²)"] == pytest.approx(row["POT W2² (Hz²)"], rel=1e-9)
    assert row["centroid term (Hz²)"] > 0 and row["shape term (Hz²)"] > 0
    # 8 equal partials of 200 Hz: power centroid at (8 + 1) / 2 x 200 = 900 Hz; the estimate at 1.3 x that
    assert row["centroids (Hz)"] == "900 -> 1170"
    assert row["centroid term (Hz²)"] == pytest.approx(270.0**2, rel=1e-3)


def test_identity_and_pull_reject_bad_arguments():
    with pytest.raises(ValueError, match="f0_hz"):
        chapter.compute_identity(f0_hz=-200.0)
    with pytest.raises(ValueError, match="ratio"):
        chapter.compute_identity(ratio=0.0)
    with pytest.raises(ValueError, match="quick"):
        chapter.compute_pull("yes")


def test_power_frame_is_one_power_spectrum_per_tone_peaking_at_the_partial():
    frames = chapter.power_frame([250.0, 500.0], torch.tensor([1.0]))
    n_fft = 2048  # SOT-2048
    assert frames.shape == (2, n_fft // 2 + 1) and frames.dtype == torch.float64
    bin_hz = 16000 / n_fft
    assert frames.argmax(dim=1).tolist() == [round(250.0 / bin_hz), round(500.0 / bin_hz)]


def test_pull_tables_hold_each_targets_centroid_and_the_lowest_loss_of_its_curve():
    pull, curves = chapter.compute_pull(quick=True)
    assert pull["target"].tolist() == list(chapter.pull_targets())
    for target, amplitudes in chapter.pull_targets().items():
        power = amplitudes.double().square()
        m = float((power * torch.arange(1, len(power) + 1)).sum() / power.sum())  # mean harmonic index, by hand
        row = pull.set_index("target").loc[target]
        assert row["M"] == pytest.approx(m, rel=1e-6)
        assert row["centroid M F (Hz)"] == pytest.approx(m * chapter.F0_HZ, rel=1e-6)
        curve = curves[curves["target"] == target]
        assert len(curve) == chapter.QUICK_PULL_POINTS
        assert row["lowest, transport term (balanced) (Hz)"] == curve.loc[curve["loss"].idxmin(), "frequency_hz"]
        assert curve["partials_hz"].iloc[0] == tuple(chapter.F0_HZ * k for k in range(1, len(amplitudes) + 1))
    assert pull.loc[pull["target"] == "8 partials, equal", "M"].item() == pytest.approx(4.5)
    low, high = chapter.PULL_RANGE_HZ
    assert curves["frequency_hz"].min() == pytest.approx(low) and curves["frequency_hz"].max() == pytest.approx(high)


# --------------------------------------------------------------------------------------------
# Section 2: trained runs


def test_centroid_predictions_hold_each_tones_and_each_decoders_harmonic_balance(tiny_run, tiny_data):
    from sot_utils.autoencoder import predict
    from sot_utils.metrics import harmonic_centroid
    from sot_utils.training.checkpoint import load_model
    from sot_utils.training.evaluate import f0_predictions
    from sot_utils.training.train import cached_features

    path = tiny_run / "best.pt"
    _, cqt, labels = cached_features(tiny_data, "test", progress=False)
    table = chapter.centroid_predictions(path, tiny_data, limit=3)
    assert list(table.columns) == [
        "f0_true_hz",
        "f0_estimate_hz",
        "n_audible_partials",
        "target_centroid",
        "decoder_centroid",
    ]
    pd.testing.assert_frame_equal(table[["f0_true_hz", "f0_estimate_hz"]], f0_predictions(path, tiny_data, limit=3))
    # independent: the label amplitudes of partials below Nyquist, weighted by power
    k = torch.arange(1, labels["amplitudes"].shape[1] + 1)
    power = (labels["amplitudes"][:3] * (labels["f0_hz"][:3, None] * k < 8000)).square()
    np.testing.assert_allclose(table["target_centroid"], ((power * k).sum(1) / power.sum(1)).numpy(), rtol=1e-5)
    prediction = predict(load_model(path)[0], cqt[:3])
    k = torch.arange(1, 21)
    audible = prediction.amplitudes * (prediction.f0_hz[..., None] * k < 8000)
    frames = np.sort(harmonic_centroid(audible).numpy(), axis=1)
    np.testing.assert_allclose(table["decoder_centroid"], frames[:, (frames.shape[1] - 1) // 2], rtol=1e-5)
    assert (table["n_audible_partials"] == labels["n_audible_harmonics"][:3].numpy()).all()


def _predictions(centroids, partials, decoder, follow: bool) -> pd.DataFrame:
    """A hand-made centroid_predictions frame at 220 Hz: every tone read at its centroid ratio
    ``M / decoder`` (a run in the stage) or exactly (a run that learned pitch)."""
    centroids = np.asarray(centroids, dtype=float)
    truth = np.full(len(centroids), 220.0)
    return pd.DataFrame(
        {
            "f0_true_hz": truth,
            "f0_estimate_hz": truth * centroids / decoder if follow else truth,
            "n_audible_partials": partials,
            "target_centroid": centroids,
            "decoder_centroid": np.full(len(centroids), decoder),
        }
    )


def test_stage_row_of_a_run_at_its_centroid_ratio_has_slope_one_and_reads_only_the_matching_tones():
    table = _predictions([1.0, 1.5, 2.0, 3.0, 4.5], [1, 2, 3, 5, 8], decoder=2.0, follow=True)
    row = chapter.stage_row(table)
    assert row["centroid_slope"] == pytest.approx(1.0)
    assert row["intercept"] == pytest.approx(-1.0)  # -log2 of the decoder's M
    assert row["residual_octaves"] == pytest.approx(0.0, abs=1e-12)
    assert row["r_centroid"] == pytest.approx(1.0)
    assert row["decoder_centroid"] == 2.0
    assert row["rpa"] == pytest.approx(20.0) and row["rca"] == pytest.approx(40.0)  # M = 2 on, M = 1 an octave low
    assert row["pure_tone_rpa"] == 0.0
    assert math.isnan(row["b_m"])  # one true f0: no partial slope


def test_stage_row_partial_slope_is_one_in_the_stage_and_zero_for_a_constant_predictor():
    centroids = np.array([1.5, 2.0, 3.0, 4.5, 2.5, 3.5])
    truth = np.array([110.0, 220.0, 330.0, 440.0, 550.0, 660.0])
    table = pd.DataFrame(
        {
            "f0_true_hz": truth,
            "f0_estimate_hz": truth * centroids / 2.0,
            "n_audible_partials": [2, 3, 5, 8, 4, 6],
            "target_centroid": centroids,
            "decoder_centroid": np.full(6, 2.0),
        }
    )
    assert chapter.stage_row(table)["b_m"] == pytest.approx(1.0)
    constant = table.assign(f0_estimate_hz=300.0, decoder_centroid=np.nan)
    row = chapter.stage_row(constant)
    assert row["b_m"] == pytest.approx(0.0, abs=1e-9) and math.isnan(row["r_centroid"])


def test_constant_control_reads_every_test_tone_at_the_training_median(tiny_data):
    from sot_utils.training.data import load_split

    table = chapter.constant_predictions(tiny_data, limit=3)
    median = float(load_split(tiny_data, "train").f0_hz.median())
    assert len(table) == 3 and np.allclose(table["f0_estimate_hz"], median)
    assert table["decoder_centroid"].isna().all()
    control = chapter.compute_constant_control(tiny_data, quick=False)
    assert control["predictor"].item() == f"constant {median:.0f} Hz"
    assert {"centroid_slope", "b_m", "rpa"} <= set(control.columns)  # 4 test tones here: too few for b_M


def test_stage_row_of_a_run_that_learned_pitch_has_slope_zero_and_full_accuracy():
    with np.errstate(invalid="ignore"):  # every error is 0: no correlation to speak of
        row = chapter.stage_row(_predictions([1.5, 2.0, 3.0, 4.5], [2, 3, 5, 8], decoder=2.0, follow=False))
    assert row["centroid_slope"] == pytest.approx(0.0, abs=1e-12) and row["rpa"] == 100.0
    assert math.isnan(row["r_centroid"])
    assert math.isnan(row["pure_tone_rpa"])  # no pure tone
    with pytest.raises(ValueError, match="decoder_centroid"):
        chapter.stage_row(_predictions([1.5, 2.0, 3.0], [2, 3, 5], 2.0, True).drop(columns="decoder_centroid"))


def _stage(slopes, rpas=None, group="SOT-2048", remedy="recipe") -> pd.DataFrame:
    """A hand-made stage table: one row per (seed, step) in ``slopes`` = {seed: [slope per step]}."""
    rows = []
    for seed, values in slopes.items():
        for i, slope in enumerate(values):
            rows.append(
                {
                    "remedy": remedy,
                    "group": group,
                    "seed": seed,
                    "step": BUDGET_STEP * (i + 1),
                    "rpa": (rpas or {}).get(seed, [10.0] * len(values))[i],
                    "rca": 50.0,
                    "pure_tone_rpa": 0.0,
                    "centroid_slope": slope,
                    "intercept": -1.0,
                    "residual_octaves": 0.1 + 0.1 * i,
                    "decoder_centroid": 2.0 + seed / 100,
                    "r_centroid": 0.9 - 0.1 * i,
                    "b_m": slope - 0.3,
                }
            )
    stage = pd.DataFrame(rows)
    stage["run"] = remedy + ", seed " + stage["seed"].astype(str)
    return stage


def test_group_summary_counts_the_checkpoints_at_or_above_the_stage_slope():
    stage = _stage({1: [0.9, chapter.STAGE_SLOPE, 0.1], 2: [0.8, 0.7, 0.6]})
    summary = chapter.group_summary(stage)
    assert summary["runs"] == 2 and summary["checkpoints"] == 6
    assert summary["in the stage"] == 5  # the threshold itself counts
    assert summary["median slope, first budget"] == pytest.approx(0.85)
    assert summary["median slope, last budget"] == pytest.approx(0.35)
    assert summary["runs in the stage at the last budget"] == 1
    assert summary["b_M >= 0.5"] == 2  # b_m is the slope less 0.3 here: 0.9 and 0.8 pass
    assert summary["median r there"] == pytest.approx(np.median([0.9, 0.8, 0.9, 0.8, 0.7]))
    by_group = chapter.summarize_groups(pd.concat([stage, _stage({3: [0.0, 0.0]}, group="MSS-Lin", remedy="none")]))
    assert by_group.index.tolist() == ["SOT-2048", "MSS-Lin"] and by_group.loc["MSS-Lin", "in the stage"] == 0


def test_run_summary_holds_each_runs_last_and_peak_checkpoint():
    summary = chapter.run_summary(_stage({1: [0.4, 0.9, 0.2], 2: [0.8, 0.7]}))
    assert summary["seed"].tolist() == [1, 2]
    assert summary["step"].tolist() == [3 * BUDGET_STEP, 2 * BUDGET_STEP]
    assert summary["centroid_slope"].tolist() == [0.2, 0.7]
    assert summary["step at peak"].tolist() == [2 * BUDGET_STEP, BUDGET_STEP]
    assert summary["centroid_slope at peak"].tolist() == [0.9, 0.8]


def test_run_dirs_lists_shipped_runs_by_seed_then_remedied_runs_and_quick_keeps_the_chosen(tmp_path):
    for folder in ("shipped/SOT-2048/456", "shipped/SOT-2048/42", "shipped/MSS-Lin/456", "shipped/SOT-512/42"):
        (tmp_path / folder).mkdir(parents=True)
    for folder in ("remedies/recipe/SOT-2048/123", "remedies/recipe/SOT-2048/42", "remedies/zero-head/SOT-2048/42"):
        (tmp_path / folder).mkdir(parents=True)
    found = chapter.run_dirs(tmp_path / "shipped", tmp_path / "remedies", quick=False)
    assert [f[:3] for f in found] == [
        ("none", "SOT-2048", 42),
        ("none", "SOT-2048", 456),
        ("recipe", "SOT-2048", 123),
        ("recipe", "SOT-2048", 42),
        ("zero-head", "SOT-2048", 42),
        ("none", "MSS-Lin", 456),
    ]  # SOT-512 is not a group of the chapter
    assert found[0][3] == tmp_path / "shipped/SOT-2048/42"
    quick = chapter.run_dirs(tmp_path / "shipped", tmp_path / "remedies", quick=True)
    assert [f[:3] for f in quick] == [("recipe", "SOT-2048", 123), ("recipe", "SOT-2048", 42), ("none", "MSS-Lin", 456)]


def test_compute_stage_without_checkpoints_says_so(tmp_path, tiny_data):
    (tmp_path / "SOT-2048" / "42").mkdir(parents=True)  # a run folder with no checkpoint
    with pytest.raises(ValueError, match="no checkpoint"):
        chapter.compute_stage(tiny_data, tmp_path, tmp_path / "remedies", quick=False)
    with pytest.raises(ValueError, match="quick"):
        chapter.compute_stage(tiny_data, tmp_path, tmp_path / "remedies", quick=1)


def test_error_panels_are_titled_by_run_and_skip_checkpoints_not_evaluated():
    table = _predictions([1.5, 2.0, 3.0], [2, 3, 5], 2.0, True)
    predictions = {("none", "SOT-2048", 456, 5500): table, ("recipe", "SOT-2048", 42, 2200): table}
    panels = chapter.error_panels(predictions)
    assert list(panels) == ["recipe SOT-2048, seed 42, 2200 steps", "shipped SOT-2048, seed 456, 5500 steps"]


def test_budget_grids_are_the_kept_checkpoints():
    assert BUDGET_STEP == read_config("base")["keep_best_every"]  # the runs keep best-upto-<k x BUDGET_STEP>.pt
    assert chapter.BUDGETS[0] == BUDGET_STEP and chapter.BUDGETS[-1] == CPU_BUDGET_STEPS
    assert all(b % BUDGET_STEP == 0 for b in chapter.BUDGETS + chapter.QUICK_BUDGETS)
    assert set(chapter.QUICK_BUDGETS) <= set(chapter.BUDGETS)


# --------------------------------------------------------------------------------------------
# What this shows


def _tables(last_slope: float = 0.9, learned_rpa: float = 95.0):
    identity = pd.DataFrame({"sum (Hz²)": [100.0 * (1 + 3e-12)], "POT W2² (Hz²)": [100.0]})
    pull = pd.DataFrame(
        {
            "target": ["pure tone", "2 partials"],
            "centroid M F (Hz)": [200.0, 300.0],
            "lowest, transport term (balanced) (Hz)": [190.0, 324.0],
            "lowest, SOT-2048 (paper) (Hz)": [201.0, 199.0],
        }
    )
    stage = pd.concat(
        [
            _stage({42: [0.9, 0.0], 123: [0.8, last_slope]}, rpas={42: [5.0, learned_rpa], 123: [4.0, 12.5]}),
            _stage({456: [0.05, 0.02]}, group="MSS-Lin", remedy="none"),
        ],
        ignore_index=True,
    )
    return identity, pull, stage, chapter.summarize_groups(stage)


CONSTANT = pd.DataFrame([{"predictor": "constant 530 Hz", "centroid_slope": 0.41, "b_m": 0.0}])


def test_findings_read_every_number_from_the_tables():
    identity, pull, stage, by_group = _tables()
    text = chapter.findings(identity, pull, stage, by_group)
    assert "within 3.0e-12 (relative)" in text
    assert "lowest within 8 % of the target's power centroid for all 2 targets" in text  # 324 / 300
    assert "(pure tone: 201 Hz, 2 partials: 199 Hz)" in text
    assert f"3 of 4 SOT-2048 checkpoints have a centroid slope >= {chapter.STAGE_SLOPE}" in text
    assert "median r = 0.90 (residual 0.10 octave)" in text  # r of 0.9, 0.9, 0.8 (seed 123 stays)
    assert "The 1 SOT-2048 checkpoint with RPA >= 80 % has a median slope of 0.00" in text
    # seed 123 stays in the stage: M_dec 3.23, tones with M from 1 to 4.5 read log2(1 / 3.23) to log2(4.5 / 3.23)
    assert "recipe, seed 123 at 2200 steps (M_dec 3.2: tones with M from 1 to 4.5 read -1.7 to +0.5 octaves" in text
    assert "RPA 12.5 %" in text
    assert "Over its 2 checkpoints the median r is 0.85 and the median residual 0.15 octave" in text
    assert "SOT-512-LogF" not in text  # no run of it: no bullet
    assert "Which statistic marks the stage" not in text  # no constant control given
    text = chapter.findings(identity, pull, stage, by_group, CONSTANT)
    assert "A constant predictor (constant 530 Hz for every tone) has a centroid slope of 0.41" in text
    assert "0 of 2 MSS-Lin checkpoints pass it" in text and "the constant scores 0.00" in text
    assert "by b_M >= 0.5, 3 of 4 SOT-2048 and 0 of 2 MSS-Lin checkpoints are in the stage" in text


def test_findings_change_with_the_tables():
    text = chapter.findings(*_tables(last_slope=0.1, learned_rpa=50.0))
    assert "The runs that miss are still in it" not in text  # seed 123 left the stage
    assert "Learning pitch is leaving it" not in text  # no checkpoint reaches 80 % RPA
    assert "2 of 4 SOT-2048 checkpoints" in text and "where 0 of 2 runs are still in the stage" in text
    identity, pull, stage, by_group = _tables()
    with pytest.raises(ValueError, match="run"):
        chapter.findings(identity, pull, stage.drop(columns="run"), by_group)


def test_plot_centroid_pull_marks_the_centroid_the_partials_and_the_lowest_point():
    curves = pd.DataFrame(
        [
            {
                "target": name,
                "frequency_hz": f,
                "loss": (f - centroid) ** 2,
                "centroid_hz": centroid,
                "partials_hz": partials,
            }
            for name, centroid, partials in [("pure", 200.0, (200.0,)), ("two", 280.0, (200.0, 400.0))]
            for f in np.linspace(100.0, 800.0, 15)
        ]
    )
    fig = chapter.plot_centroid_pull(curves)
    pure, two = fig.axes
    assert len(pure.get_lines()) == 1 + 1 + 1 + 1  # curve, one partial, centroid, lowest point
    assert len(two.get_lines()) == 1 + 2 + 1 + 1
    lowest = two.get_lines()[-1]
    assert lowest.get_xdata()[0] == pytest.approx(curves["frequency_hz"][15 + int(np.argmin(curves["loss"][15:]))])


def test_plot_centroid_stage_draws_one_row_per_group_and_one_line_per_run():
    stage = pd.DataFrame(
        [
            {
                "group": group,
                "run": f"{group} {seed}",
                "step": step,
                "centroid_slope": 1 - step / 5500,
                "intercept": -1.0,
                "residual_octaves": 0.1,
                "rpa": step / 55,
            }
            for group in ("SOT-2048", "MSS-Lin")
            for seed in (42, 123, 456)
            for step in (1100, 2200, 5500)
        ]
    )
    fig = chapter.plot_centroid_stage(stage)
    assert len(fig.axes) == 8
    slope_panel, intercept_panel, _, rpa_panel = fig.axes[:4]
    assert [line.get_label() for line in slope_panel.get_lines()[:3]] == ["SOT-2048 42", "SOT-2048 123", "SOT-2048 456"]
    np.testing.assert_allclose(slope_panel.get_lines()[0].get_ydata(), [0.8, 0.6, 0.0])
    np.testing.assert_allclose(rpa_panel.get_lines()[0].get_ydata(), [20.0, 40.0, 100.0])
    np.testing.assert_allclose(intercept_panel.get_lines()[0].get_ydata(), [-1.0, -1.0, -1.0])
    # eleven runs in one group: the eleventh shares the first one's colour, not its line style
    many = pd.concat([stage[stage["group"] == "SOT-2048"].assign(run=f"run {k}") for k in range(11)])
    first, eleventh = chapter.plot_centroid_stage(many).axes[0].get_lines()[0:11:10]
    assert first.get_color() == eleventh.get_color() and first.get_linestyle() != eleventh.get_linestyle()


def test_plot_centroid_errors_draws_the_centroid_prediction_of_each_checkpoint():
    table = pd.DataFrame(
        {
            "f0_true_hz": [100.0, 200.0, 300.0],
            "f0_estimate_hz": [50.0, 200.0, 450.0],
            "n_audible_partials": [1, 3, 6],
            "target_centroid": [1.0, 2.0, 3.0],
            "decoder_centroid": [2.0, 2.0, 2.5],
        }
    )
    fig = chapter.plot_centroid_errors({"a": table, "b": table}, columns=3)
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]
    assert len(panels) == 2
    line = panels[0].get_lines()[0]
    np.testing.assert_allclose(line.get_ydata()[0], np.log2(1.0 / 2.0))  # median decoder centroid 2.0
    np.testing.assert_allclose(panels[0].collections[0].get_offsets()[:, 1], [-1.0, 0.0, np.log2(1.5)])
