"""The chapter of notebook 07 (sot_utils.study.chapters.autoencoder_traps): its grids, the proxy's starts and
prior weights, the proxy's outcomes and the "What this shows" text.

Oracles: the shipped config files read as plain YAML; the encoder's own prediction with a zero f0 head;
Adam's first step (exactly its learning rate, whatever the gradient's size); hand-made tables whose
numbers the text must repeat."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

import sot_utils
from sot_utils.constants import DATA_F0_RANGE_HZ, DATA_MAX_HARMONICS
from sot_utils.spectral import cqt_n_bins
from sot_utils.study.chapters import autoencoder_traps as chapter
from sot_utils.training.loss_config import PAPER_GROUPS

CONFIGS = Path(sot_utils.__file__).parent / "configs"


def _yaml(*parts: str) -> dict:
    return yaml.safe_load((CONFIGS.joinpath(*parts)).read_text())


# --------------------------------------------------------------------------------------------
# Grids and inputs


def test_the_grids_stay_within_the_paper_groups_and_the_data():
    assert chapter.grid(False).groups == PAPER_GROUPS
    assert set(chapter.grid(True).groups) <= set(PAPER_GROUPS)
    for quick in (True, False):
        settings = chapter.grid(quick)
        assert max(settings.partial_counts) <= DATA_MAX_HARMONICS
        low, high = DATA_F0_RANGE_HZ
        assert all(low <= hz <= high for hz in settings.proxy_targets_hz)
    assert chapter.grid(True).steps < chapter.grid(False).steps
    assert chapter.n_test_tones(True, 400) == chapter.QUICK_GRID.n_tones
    assert chapter.n_test_tones(True, 10) == 10
    assert chapter.n_test_tones(False, 400) == 400


def test_the_candidates_hold_the_exact_sub_harmonics_and_the_octave_above():
    f0 = 400.0
    candidates = chapter.candidate_f0s(f0, 14)
    assert candidates.dtype == torch.float32
    assert bool((candidates.diff() > 0).all())
    marks = np.float32(f0 * np.array([1 / k for k in range(1, 7)] + [2]))
    assert np.isin(marks, candidates.numpy()).all()
    assert candidates[0].item() == pytest.approx(f0 / 6.5, rel=1e-6)
    assert candidates[-1].item() == pytest.approx(2.3 * f0, rel=1e-6)
    assert len(candidates) == 14 + 7  # no log-spaced point falls on a mark


def test_the_exact_minima_are_the_k_with_k_times_K_within_20_harmonics():
    table = chapter.exact_minima()
    assert list(table["partials K"]) == list(range(1, DATA_MAX_HARMONICS + 1))
    by_count = dict(zip(table["partials K"], table["exact minima at f0/k for k ="]))
    assert by_count[1] == list(range(1, 21))
    assert by_count[3] == [1, 2, 3, 4, 5, 6]  # 3 * 6 = 18 <= 20 < 21
    assert by_count[8] == [1, 2]


def test_the_prior_weights_and_the_floor_are_the_remedy_files():
    weights = chapter.recipe_prior_weights()
    assert set(weights) == set(chapter.TRAINED_GROUPS)
    for group, weight in weights.items():
        assert weight == _yaml("remedies", "recipe", f"{group}.yaml")["loss"]["harmonic_prior_weight"]
    assert weights["SOT-2048"] != weights["MSS-Lin"]
    assert (
        chapter.remedy_floor() == _yaml("remedies", "fundamental-floor", "SOT-2048.yaml")["model"]["fundamental_floor"]
    )


def test_the_zero_head_start_is_where_an_untrained_zero_head_predicts_and_draws_nothing():
    state = torch.random.get_rng_state()
    hz = chapter.zero_head_f0()
    assert torch.equal(state, torch.random.get_rng_state())
    assert hz == pytest.approx(np.sqrt(32.70 * 7750.68), rel=1e-4)  # the CQT's first and last bins
    cqt = torch.rand(3, 4, cqt_n_bins())
    points = chapter.compute_starting_points(cqt, torch.full((3,), 7000.0), seeds=[7])
    assert list(points["f0 head"]) == ["random", "zero"]
    zero = points[points["f0 head"] == "zero"].iloc[0]
    assert zero["median start (Hz)"] == pytest.approx(hz, rel=1e-5)
    assert zero["tones started below their f0 (%)"] == 100.0
    none_below = chapter.compute_starting_points(cqt, torch.full((3,), 1.0), seeds=[7])
    assert (none_below["tones started below their f0 (%)"] == 0.0).all()


def _starting_points(starts: dict) -> pd.DataFrame:
    rows = []
    for seed, hz in starts.items():
        rows += [
            {"seed": seed, "f0 head": "random", "median start (Hz)": hz},
            {"seed": seed, "f0 head": "zero", "median start (Hz)": 503.4},
        ]
    return pd.DataFrame(rows)


def test_the_proxy_starts_are_the_computed_ones_lowest_first_and_labelled_with_them():
    points = _starting_points({42: 119.3, 123: 1084.3, 456: 868.7, 789: 556.1})
    starts = chapter.proxy_starts(points, 503.44)
    assert starts == {
        "seed 42 (119 Hz)": 119.3,
        "zero head (503 Hz)": 503.44,
        "seed 456 (869 Hz)": 868.7,
        "seed 123 (1084 Hz)": 1084.3,
    }
    moved = chapter.proxy_starts(_starting_points({42: 700.0, 123: 1084.3, 456: 868.7}), 503.44)
    assert list(moved) == ["zero head (503 Hz)", "seed 42 (700 Hz)", "seed 456 (869 Hz)", "seed 123 (1084 Hz)"]


# --------------------------------------------------------------------------------------------
# The proxy


def test_one_adam_step_leaves_each_fit_in_the_basin_it_started_in():
    """Adam's first step moves log2 f0 by its learning rate (0.02 octave = 24 cents) whatever the
    gradient, so a fit that starts on f0 ends on f0, one that starts on f0/3 ends on f0/k, one at
    1.5 f0 elsewhere."""
    f0 = 300.0
    starts = {"on f0": f0, "on f0/3": f0 / 3, "at 1.5 f0": 1.5 * f0}
    proxy = chapter.proxy_fits(starts, {"SOT-2048": 0.005}, 0.3, [f0], [1], steps=1)
    assert len(proxy) == len(starts) * 3
    assert list(proxy["outcome"][::3]) == ["f0", "f0/k", "elsewhere"]
    assert (proxy.groupby("start", sort=False)["outcome"].nunique() == 1).all()
    assert proxy["moved (octaves)"].max() <= 0.02 + 1e-5
    assert list(proxy["prior"][:3]) == [0.0, 0.005, 0.0]
    assert list(proxy["floor"][:3]) == [0.0, 0.0, 0.3]
    assert (proxy["start_hz"].to_numpy() == np.repeat(np.float32(list(starts.values())), 3)).all()
    assert proxy["true_over_final"].to_numpy() == pytest.approx(f0 / proxy["final_hz"].to_numpy())


def test_the_summary_counts_outcomes_per_fit_setting():
    proxy = pd.DataFrame(
        {
            "group": ["SOT-2048"] * 4,
            "start": ["low"] * 4,
            "prior": [0.0] * 4,
            "floor": [0.0] * 4,
            "partials": [1] * 4,
            "outcome": ["f0", "f0/k", "f0/k", "elsewhere"],
            "moved (octaves)": [0.1, 0.2, 0.3, 0.4],
            "strongest_partial": [1, 2, 3, 4],
        }
    )
    summary = chapter.proxy_summary(proxy)
    assert len(summary) == 1
    row = summary.iloc[0]
    assert (row["f0"], row["subharmonic"], row["moved"], row["strongest_partial"]) == (25.0, 50.0, 0.25, 2.5)


def test_notes_below_the_floor_are_counted_per_instrument_most_affected_first():
    ratios = pd.DataFrame({"instrument": ["A", "A", "B", "B"], "fundamental / strongest": [0.1, 0.9, 0.5, 0.6]})
    weak = chapter.notes_below_floor(ratios, 0.3)
    assert list(weak.index) == ["A", "B"]
    assert list(weak["below 0.3 (%)"]) == [50.0, 0.0]
    assert list(weak["notes"]) == [2, 2]
    assert list(weak["median"]) == pytest.approx([0.5, 0.55])


def test_starts_and_outcomes_put_each_seeds_rpa_beside_its_start():
    points = _starting_points({42: 119.34, 123: 1084.3})
    shipped = pd.DataFrame({"seed": [42, 42], "group": ["SOT-2048", "MSS-Lin"], "rpa": [0.04, 2.26]})
    table = chapter.starts_and_outcomes(points, shipped)
    assert list(table.loc[table["seed"] == 42, "MSS-Lin"]) == [2.3, 2.3]
    assert table.loc[table["seed"] == 123, "SOT-2048"].isna().all()
    assert table["median start (Hz)"].iloc[0] == 119.3


# --------------------------------------------------------------------------------------------
# What this shows


def _tables():
    preference = pd.DataFrame(
        [
            {
                "group": "SOT-2048",
                "partials": 1,
                "loss at f0": 0.01,
                "best sub-harmonic": "f0/3",
                "loss there": 0.002,
                "highest loss": 0.04,
                "loss at 2 f0": 0.05,
                "2 f0 a dip": False,
                "truth lower": False,
            },
            {
                "group": "MSS-Lin",
                "partials": 8,
                "loss at f0": 0.1,
                "best sub-harmonic": "f0/2",
                "loss there": 0.3,
                "highest loss": 1.0,
                "loss at 2 f0": 0.7,
                "2 f0 a dip": True,
                "truth lower": True,
            },
        ]
    )
    floor_table = preference.assign(**{"loss there": [0.03, 0.4], "truth lower": [True, True]})
    note_ratios = pd.DataFrame({"instrument": ["A", "A", "B", "B"], "fundamental / strongest": [0.1, 0.9, 0.5, 0.6]})
    proxy = pd.DataFrame(
        {
            "group": ["SOT-2048"] * 6,
            "start": ["seed 42 (100 Hz)"] * 4 + ["seed 123 (900 Hz)"] * 2,
            "start_hz": [100.0] * 4 + [900.0] * 2,
            "prior": [0.0] * 6,
            "floor": [0.0, 0.0, 0.3, 0.3, 0.0, 0.0],
            "partials": [1] * 6,
            "outcome": ["f0", "elsewhere", "f0", "f0", "f0", "f0"],
            "moved (octaves)": [0.1, 0.1, 0.2, 0.2, 0.5, 0.5],
            "strongest_partial": [3, 5, 1, 1, 1, 1],
        }
    )
    return preference, floor_table, note_ratios, proxy


def test_findings_repeat_the_tables_numbers():
    preference, floor_table, note_ratios, proxy = _tables()
    text = chapter.findings(preference, floor_table, note_ratios, proxy, 0.3)
    assert text.count("\n- ") == 4 and text.startswith("- ")
    assert "In 1 of 2 (loss, target) pairs" in text
    assert "over the curve's range: 0.175" in text  # median of 0.002 / 0.04 and 0.3 / 1.0
    assert "only for MSS-Lin (8 partials), none of them an SOT loss." in text
    assert "a median 6 times the loss at f0" in text  # median of 5 and 7
    assert "in 1 of 2 (loss, target) curves (MSS-Lin with 8 partials)" in text
    assert "makes every loss prefer the truth" in text and "kept at 0.3 of its strongest" in text
    assert "in 2 of 2 (loss, target) pairs" in text
    assert "1 of 4 notes (25.0 %)" in text and "most often A (50 % of its notes)" in text
    assert "the weakest fundamental found is 0.10" in text
    assert "From 100 Hz, fits end on the target's f0 in 50 % of cases (median strongest partial 4)" in text
    assert "f0 moves a median 0.20 octave" in text  # median over the three fit settings 0.1, 0.2, 0.5


def test_findings_follow_the_tables_verdicts():
    preference, floor_table, note_ratios, proxy = _tables()
    no_preference = preference.assign(**{"truth lower": False, "2 f0 a dip": False})
    text = chapter.findings(
        no_preference, floor_table.assign(**{"truth lower": [True, False]}), note_ratios, proxy, 0.3
    )
    assert "no loss clearly prefers the truth." in text
    assert "The octave above is no local minimum here." in text
    assert "does not make every loss prefer the truth here" in text
    assert "in 1 of 2 (loss, target) pairs (the loss at f0/k" in text
    sot = preference.assign(**{"truth lower": [True, False]})
    assert "only for SOT-2048 (1 partials)." in chapter.findings(sot, floor_table, note_ratios, proxy, 0.3)
    strong = note_ratios.assign(**{"fundamental / strongest": [0.5, 0.9, 0.5, 0.6]})
    text = chapter.findings(preference, floor_table, strong, proxy, 0.3)
    assert "0 of 4 notes (0.0 %) have a fundamental below 0.3 of their strongest partial; the weakest" in text
    lower = proxy.assign(start_hz=proxy["start_hz"].replace({900.0: 50.0}))
    assert "From 50 Hz, fits end on the target's f0 in 100 %" in chapter.findings(
        preference, floor_table, note_ratios, lower, 0.3
    )


# --------------------------------------------------------------------------------------------
# Bad arguments


def test_bad_arguments_are_refused_with_their_names():
    preference, floor_table, note_ratios, proxy = _tables()
    with pytest.raises(ValueError, match="`quick`"):
        chapter.grid("yes")
    with pytest.raises(ValueError, match="`n_available`"):
        chapter.n_test_tones(True, 0)
    with pytest.raises(ValueError, match="`target_f0_hz`"):
        chapter.candidate_f0s(0.0, 10)
    with pytest.raises(ValueError, match="`n_log_candidates`"):
        chapter.candidate_f0s(400.0, 1)
    with pytest.raises(ValueError, match="`fundamental_floor`"):
        chapter.compute_landscapes(400.0, True, fundamental_floor=1.5)
    with pytest.raises(ValueError, match="no random-head start for the seeds \\[456\\]"):
        chapter.proxy_starts(_starting_points({42: 119.3, 123: 1084.3}), 503.4)
    with pytest.raises(ValueError, match="`zero_head_hz`"):
        chapter.proxy_starts(_starting_points({42: 1.0, 123: 1.0, 456: 1.0}), -1.0)
    with pytest.raises(ValueError, match="at most 8"):
        chapter.proxy_fits({"a": 100.0}, {"SOT-2048": 0.0}, 0.3, [300.0], [9], steps=1)
    with pytest.raises(ValueError, match="non-empty"):
        chapter.proxy_fits({}, {"SOT-2048": 0.0}, 0.3, [300.0], [1], steps=1)
    with pytest.raises(ValueError, match="`targets_hz` must not be empty"):
        chapter.proxy_fits({"a": 100.0}, {"SOT-2048": 0.0}, 0.3, [], [1], steps=1)
    with pytest.raises(ValueError, match="one value per tone"):
        chapter.compute_starting_points(torch.rand(3, 4, cqt_n_bins()), torch.full((2,), 100.0))
    with pytest.raises(ValueError, match="`floor`"):
        chapter.notes_below_floor(note_ratios, 2.0)
    with pytest.raises(ValueError, match="lacks the keys"):
        chapter.fundamental_ratios({"audio": torch.zeros(1, 10)})
    with pytest.raises(ValueError, match="`proxy` lacks the columns \\['start_hz'\\]"):
        chapter.findings(preference, floor_table, note_ratios, proxy.drop(columns="start_hz"), 0.3)
    with pytest.raises(TypeError, match="`preference` must be a pandas DataFrame"):
        chapter.findings({}, floor_table, note_ratios, proxy, 0.3)
    with pytest.raises(ValueError, match="`note_ratios` must not be empty"):
        chapter.findings(preference, floor_table, note_ratios.iloc[:0], proxy, 0.3)
