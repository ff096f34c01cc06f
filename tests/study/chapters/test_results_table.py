"""Notebook 05's chapter: its "What this shows" follows its tables (fabricated tables with known answers), and
the helpers that compute and summarise the runs."""

import numpy as np
import pandas as pd
import pytest

from sot_utils.constants import BUDGET_STEP, CPU_BUDGET_STEPS
from sot_utils.study.campaign import pairwise_table
from sot_utils.study.chapters import results_table as chapter


def per_run(rpa_sot, rpa_mss):
    rows = []
    for seed, (s, m) in zip((1, 2, 3), zip(rpa_sot, rpa_mss)):
        rows.append(
            {
                "group": "SOT-2048",
                "seed": seed,
                "rpa": s,
                "rca": s,
                "lsd": 50.0,
                "dominant_harmonic": 2,
                "dominant_share": 0.4,
            }
        )
        rows.append(
            {
                "group": "MSS-Lin",
                "seed": seed,
                "rpa": m,
                "rca": m,
                "lsd": 60.0,
                "dominant_harmonic": 1,
                "dominant_share": 0.4,
            }
        )
    return pd.DataFrame(rows)


def by_partials_table(pure_rpa: float) -> pd.DataFrame:
    return pd.DataFrame({"partials": [1, 2, 3], "tones": [10, 10, 10], "rpa": [pure_rpa, 90.0, 95.0]})


# --------------------------------------------------------------------------------------------
# findings


def test_the_claim_verdict_follows_the_rule_stated_before_the_data():
    lower = per_run([10.0, 20.0, 30.0], [50.0, 60.0, 70.0])
    first = chapter.findings(lower, pairwise_table(lower), {}).splitlines()[0]
    assert "**inconclusive**" in first  # three seeds: p >= 0.25 whichever way the means lean
    assert "cannot go below 0.25" in first
    noisy = per_run([90.0, 0.0, 60.0], [10.0, 50.0, 40.0])
    assert "**inconclusive**" in chapter.findings(noisy, pairwise_table(noisy), {}).splitlines()[0]
    worse = pd.concat(
        [per_run([10.0, 20.0, 30.0], [50.0, 60.0, 75.0]).assign(seed=lambda f: f["seed"] + 10 * k) for k in range(3)],
        ignore_index=True,
    )
    assert "**contradicted**" in chapter.findings(worse, pairwise_table(worse), {}).splitlines()[0]
    many = pd.concat(
        [per_run([90.0, 80.0, 70.0], [10.0, 20.0, 30.0]).assign(seed=lambda f: f["seed"] + 10 * k) for k in range(3)],
        ignore_index=True,
    )
    first = chapter.findings(many, pairwise_table(many), {}).splitlines()[0]
    assert "**supported**" in first and "+60.0 points" in first


def test_collapses_and_groups_that_never_learn_are_named():
    frame = per_run([0.0, 80.0, 70.0], [1.0, 2.0, 3.0])
    frame.loc[0, ["dominant_harmonic", "dominant_share"]] = (13, 0.9)
    text = chapter.findings(frame, pairwise_table(frame), {})
    assert "seed 1 in 1 of 2 groups" in text and "partial 13" in text
    assert "No seed learns pitch** (test RPA under 15 % on every seed) with: MSS-Lin" in text


def test_a_dominant_low_partial_or_a_decent_rpa_is_no_collapse():
    frame = per_run([0.0, 80.0, 70.0], [1.0, 2.0, 3.0])
    frame.loc[0, ["dominant_harmonic", "dominant_share"]] = (chapter.COLLAPSE_MIN_PARTIAL - 1, 0.9)
    assert "Collapse" not in chapter.findings(frame, pairwise_table(frame), {})
    frame.loc[0, ["dominant_harmonic", "rpa"]] = (13, chapter.COLLAPSE_MAX_RPA)
    assert "Collapse" not in chapter.findings(frame, pairwise_table(frame), {})


def test_the_claim_reads_the_pair_either_way_round():
    """The pair (MSS-Lin, SOT-2048) gives the same verdict with the signs turned."""
    frame = per_run([90.0, 80.0, 70.0], [10.0, 50.0, 40.0])
    forward = chapter.findings(frame, pairwise_table(frame, groups=["SOT-2048", "MSS-Lin"]), {}).splitlines()[0]
    backward = chapter.findings(frame, pairwise_table(frame, groups=["MSS-Lin", "SOT-2048"]), {}).splitlines()[0]
    assert forward == backward
    assert "SOT-2048 minus MSS-Lin is +46.7 points" in forward  # (80 + 30 + 30) / 3


def test_the_best_group_and_run_are_read_from_the_table():
    frame = per_run([10.0, 20.0, 90.0], [50.0, 60.0, 70.0])
    text = chapter.findings(frame, pairwise_table(frame), {})
    assert "Best group by mean test RPA: MSS-Lin** (60.0 %), by median MSS-Lin (60.0 %)" in text
    assert "the means span 40.0-60.0 %" in text
    assert "Best run: SOT-2048 seed 3**, 90.0 % RPA, LSD 50.0 dB²" in text
    frame.loc[(frame["group"] == "MSS-Lin") & (frame["seed"] == 2), "rpa"] = 95.0
    assert "Best run: MSS-Lin seed 2**, 95.0 % RPA" in chapter.findings(frame, pairwise_table(frame), {})


def test_pure_tones_count_only_the_runs_that_learned_pitch():
    frame = per_run([80.0, 10.0, 20.0], [70.0, 60.0, 30.0])
    tables = {
        "SOT-2048 seed 1, 9,900 steps": by_partials_table(12.0),
        "SOT-2048 seed 2, 9,900 steps": by_partials_table(99.0),  # RPA 10 %: did not learn pitch
        "MSS-Lin seed 1, 9,900 steps": by_partials_table(88.0),
        "MSS-Lin seed 2, 9,900 steps": by_partials_table(77.0),
    }
    text = chapter.findings(frame, pairwise_table(frame), tables)
    assert "the SOT runs hit 12 % of the one-partial tones, the MSS runs 88, 77 %" in text
    assert f"RPA >= {chapter.LEARNED_RPA:.0f} %" in text
    frame.loc[(frame["group"] == "SOT-2048") & (frame["seed"] == 2), "rpa"] = chapter.LEARNED_RPA
    assert "the SOT runs hit 12, 99 %" in chapter.findings(frame, pairwise_table(frame), tables)


def test_the_statistics_line_counts_the_significant_pairs():
    frame = per_run([90.0, 80.0, 70.0], [10.0, 20.0, 30.0])
    pairs = pairwise_table(frame)
    text = chapter.findings(frame, pairs, {})
    assert "0 of 1 pairs of groups differ at p < 0.05" in text  # three seeds: p >= 0.25
    pairs.loc[0, "sign_flip_p"] = 0.01
    assert "1 of 1 pairs of groups differ" in chapter.findings(frame, pairs, {})


def test_findings_without_pairs_or_the_claims_groups_still_describe_the_runs():
    frame = per_run([90.0, 80.0, 70.0], [10.0, 20.0, 30.0])
    text = chapter.findings(frame, pd.DataFrame(), {})
    assert "paper's claim" not in text and "Statistics" not in text
    assert text.splitlines()[0].startswith("- **Best group by mean test RPA: SOT-2048**")


def test_findings_refuse_tables_it_cannot_read():
    with pytest.raises(ValueError, match="lacks the columns"):
        chapter.findings(pd.DataFrame({"group": ["a"], "rpa": [1.0]}), pd.DataFrame(), {})
    with pytest.raises(ValueError, match="empty"):
        chapter.findings(per_run([1.0] * 3, [2.0] * 3).iloc[:0], pd.DataFrame(), {})


# --------------------------------------------------------------------------------------------
# the campaign's state and summaries


def test_budget_and_tone_limit():
    assert chapter.training_budget(None) == CPU_BUDGET_STEPS and chapter.training_budget(2200) == 2200
    assert chapter.tone_limit(True) == chapter.QUICK_TEST_TONES and chapter.tone_limit(False) is None
    with pytest.raises(ValueError, match="budget"):
        chapter.training_budget(0)
    with pytest.raises(ValueError, match="quick"):
        chapter.tone_limit("no")


def test_claim_summary_lines_up_the_two_groups():
    lines = chapter.claim_summary(per_run([10.0, 20.0, 30.0], [50.0, 60.0, 70.0])).splitlines()
    assert lines[0] == "test RPA, SOT-2048: 20.0 % (seeds 10.0, 20.0, 30.0)"
    assert lines[1] == "test RPA, MSS-Lin:  60.0 % (seeds 50.0, 60.0, 70.0)"
    assert lines[2] == "difference -40.0 points; every SOT-2048 seed above every MSS-Lin seed: False"
    only_sot = per_run([1.0] * 3, [2.0] * 3).query("group == 'SOT-2048'")
    assert chapter.claim_summary(only_sot) == "SOT-2048 and MSS-Lin are not both trained to this budget yet"


def test_seeds_per_group_keep_the_frames_order():
    runs = pd.DataFrame({"group": ["SOT-2048", "SOT-2048", "MSS-Lin"], "seed": [42, 123, 7], "path": ["a", "b", "c"]})
    assert chapter.seeds_per_group(runs).to_dict() == {"SOT-2048": "42, 123", "MSS-Lin": "7"}


def _logs(curves: dict[tuple[str, int], list[float]], every: int = 220) -> pd.DataFrame:
    frames = [
        pd.DataFrame({"step": every * np.arange(1, len(values) + 1), "val_rpa": values, "group": group, "seed": seed})
        for (group, seed), values in curves.items()
    ]
    return pd.concat(frames, ignore_index=True)


def test_plateaus_and_their_report():
    """A curve that climbs until step 1,100 and stays flat for 2,200 more steps levels off at 1,100."""
    rising = [10.0, 20.0, 30.0, 40.0, 50.0] + [50.0] * 10
    still_rising = list(np.linspace(0.0, 90.0, 15))
    logs = _logs({("SOT-2048", 1): rising, ("SOT-2048", 2): still_rising, ("MSS-Lin", 1): still_rising})
    plateaus = chapter.sot_plateaus(logs)
    assert plateaus == {("SOT-2048", 1): 1100, ("SOT-2048", 2): None}
    report = chapter.plateau_report(logs, plateaus).splitlines()
    assert report[0] == "SOT-2048 seed 1: trained to 3300, RPA levels off at 1100"
    assert report[1] == "SOT-2048 seed 2: trained to 3300, RPA levels off at None"
    assert report[2].startswith("budget the curves call for: None")
    flat = _logs({("SOT-2048", 1): rising})
    assert "budget the curves call for: 2200" in chapter.plateau_report(flat, chapter.sot_plateaus(flat))


def test_learning_curve_table_has_a_column_every_budget_step():
    logs = _logs({("SOT-2048", 1): list(np.arange(15.0))})  # steps 220 .. 3,300
    table = chapter.learning_curve_table(logs)
    assert list(table.columns) == [BUDGET_STEP, 2 * BUDGET_STEP, 3 * BUDGET_STEP]
    assert table.loc[("SOT-2048", 1), BUDGET_STEP] == 4.0  # the 5th validation, at step 1,100


def test_compute_summary_adds_up_the_runs():
    compute = pd.DataFrame({"steps": [1000, 3000], "hours": [1.0, 1.0]})
    assert chapter.compute_summary(compute) == "total: 4,000 steps, 2.0 hours (1.80 s per step)"
    with pytest.raises(ValueError, match="no training step"):
        chapter.compute_summary(compute.iloc[:0])


def test_budget_summary_means_and_counts():
    per_budget = pd.DataFrame(
        {
            "group": ["A", "A", "A", "B"],
            "seed": [1, 2, 1, 1],
            "budget": [1100, 1100, 2200, 1100],
            "rpa": [10, 20, 50, 7],
        }
    )
    table = chapter.budget_summary(per_budget)
    assert table.loc["A", ("mean", 1100)] == 15.0 and table.loc["A", ("count", 1100)] == 2
    assert table.loc["A", ("mean", 2200)] == 50.0 and np.isnan(table.loc["B", ("mean", 2200)])


def test_latest_runs_take_each_runs_largest_budget_in_the_figures_order():
    per_budget = pd.DataFrame(
        {
            "group": ["MSS-Lin", "SOT-2048", "SOT-2048", "SOT-2048", "MSS-Lin"],
            "seed": [1, 2, 1, 1, 1],
            "budget": [2200, 1100, 1100, 3300, 1100],
            "path": list("abcde"),
            "rpa": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    latest = chapter.latest_runs(per_budget)
    assert list(zip(latest["group"], latest["seed"], latest["budget"])) == [
        ("SOT-2048", 1, 3300),
        ("SOT-2048", 2, 1100),
        ("MSS-Lin", 1, 2200),
    ]
    assert [chapter.run_label(run) for run in latest.itertuples()][0] == "SOT-2048 seed 1, 3,300 steps"


def test_sparse_offsets_pick_the_few_partial_tones():
    tables = {
        "run a": pd.DataFrame({"partials": [1, 2, 3, 4], "offset_octaves": [-1.58, -1.0, 0.0, 0.0]}),
        "run b": pd.DataFrame({"partials": [2, 5], "offset_octaves": [0.1, 0.2]}),
    }
    offsets = chapter.sparse_offsets(tables)
    assert list(offsets.columns) == list(chapter.SPARSE_PARTIALS) and list(offsets.index) == ["run a", "run b"]
    assert offsets.loc["run a", 1] == -1.58 and np.isnan(offsets.loc["run b", 1]) and offsets.loc["run b", 2] == 0.1


# --------------------------------------------------------------------------------------------
# the evaluations, on a two-step run


def test_the_evaluations_of_a_tiny_run(tiny_run, tiny_data, one_torch_thread):
    from sot_utils.training.data import load_split

    n_test = len(load_split(tiny_data, "test"))
    runs = pd.DataFrame({"group": ["MSS-Lin"], "seed": [3], "path": [str(tiny_run / "best.pt")]})
    per_run = chapter.compute_per_run(runs, tiny_data, quick=True)
    assert per_run.loc[0, "group"] == "MSS-Lin" and 0.0 <= per_run.loc[0, "rpa"] <= 100.0
    latest = per_run.assign(budget=2)
    panels = chapter.f0_panels(latest, tiny_data, quick=True)
    ((title, (f0_true, f0_estimate)),) = panels.items()
    assert title.startswith("MSS-Lin seed 3, 2 steps\n(test RPA ") and len(f0_true) == len(f0_estimate) == n_test
    assert chapter.f0_panels(latest, tiny_data, quick=True, groups=("SOT-2048",)) == {}
    shares = chapter.harmonic_share_maps(latest, tiny_data, quick=True)["MSS-Lin seed 3, 2 steps"]
    assert shares.shape[0] == n_test and np.allclose(shares.sum(axis=1), 1.0, atol=1e-5)
    accuracy = chapter.partial_accuracies(latest, tiny_data, quick=True)["MSS-Lin seed 3, 2 steps"]
    assert accuracy["tones"].sum() == n_test
