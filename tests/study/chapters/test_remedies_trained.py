"""The chapter of notebook 09 (sot_utils.study.chapters.remedies_trained): which remedies have runs,
their learning curves and budgets, the test-split and real-note tables, and the findings text."""

import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from sot_utils.configs import remedy_names
from sot_utils.constants import BUDGET_STEP
from sot_utils.study.chapters import remedies_trained as chapter


def _run(root, *parts, steps=(1100, 2200)):
    """A run folder with an (empty) best.pt and a log.csv logging ``steps``."""
    folder = root.joinpath(*parts)
    folder.mkdir(parents=True)
    (folder / "best.pt").write_bytes(b"")
    pd.DataFrame({"step": list(steps), "val_rpa": np.linspace(10.0, 50.0, len(steps))}).to_csv(
        folder / "log.csv", index=False
    )
    return folder


# --------------------------------------------------------------------------------------------
# The remedies and their learning curves


def test_remedy_status_reads_the_configured_remedies_and_their_runs(tmp_path):
    _run(tmp_path, "recipe", "SOT-2048", "42", steps=(1100, 2200))
    _run(tmp_path, "recipe", "MSS-Lin", "123", steps=(1100,))
    _run(tmp_path, "unlisted", "SOT-2048", "7")  # runs of a remedy without a config are listed too
    status = chapter.remedy_status(tmp_path).set_index("remedy")
    assert status.index.tolist() == [*remedy_names(), "unlisted"]
    assert status.loc["recipe", "configured for"] == "MSS-Lin, SOT-2048"  # configs/remedies/recipe/*.yaml
    assert status.loc["recipe", "runs"] == 2
    # the paper's group order, as find_runs lists runs
    assert status.loc["recipe", "trained"] == "MSS-Lin seed 123 (1,100 steps), SOT-2048 seed 42 (2,200 steps)"
    assert status.loc["recipe-mss", "runs"] == 0 and status.loc["recipe-mss", "trained"] == "not trained yet"
    assert status.loc["unlisted", "configured for"] == ""
    text = chapter.status_text(status.reset_index())
    assert "Trained: `recipe`, `unlisted`." in text and "`recipe-mss`" in text.split("not trained yet:")[1]


def test_status_text_follows_the_runs_on_disk(tmp_path):
    assert "every" not in chapter.status_text(chapter.remedy_status(tmp_path / "missing")).lower()
    for remedy in remedy_names():
        _run(tmp_path, remedy, "SOT-2048", "42")
    text = chapter.status_text(chapter.remedy_status(tmp_path))
    assert "not trained yet" not in text and text.endswith("Every remedy has runs.")
    with pytest.raises(ValueError, match="runs"):
        chapter.status_text(pd.DataFrame({"remedy": ["recipe"]}))


def test_remedy_logs_and_learning_curves_pair_each_remedied_run_with_its_shipped_run(tmp_path):
    _run(tmp_path, "remedies", "recipe", "SOT-2048", "42", steps=(1100, 2200))
    _run(tmp_path, "shipped", "SOT-2048", "42", steps=(1100, 2200, 3300))
    _run(tmp_path, "shipped", "SOT-2048", "123", steps=(1100,))  # no remedied run of this seed
    logs = chapter.load_remedy_logs(tmp_path / "remedies")
    assert logs[["remedy", "group", "seed", "step"]].values.tolist() == [
        ["recipe", "SOT-2048", 42, 1100],
        ["recipe", "SOT-2048", 42, 2200],
    ]
    curves = chapter.learning_curves(logs, tmp_path / "shipped")
    assert curves[["remedy", "seed", "step"]].values.tolist() == [
        ["none (shipped)", 42, 1100],
        ["none (shipped)", 42, 2200],  # not past the remedied run's last step
        ["recipe", 42, 1100],
        ["recipe", 42, 2200],
    ]
    assert chapter.load_remedy_logs(tmp_path / "missing").empty
    with pytest.raises(ValueError, match="empty"):
        chapter.learning_curves(pd.DataFrame(), tmp_path / "shipped")


def test_evaluation_budgets_are_the_multiples_of_the_budget_step_the_runs_reached():
    logs = pd.DataFrame(
        {
            "remedy": ["recipe"] * 5 + ["zero-head"] * 3 + ["prior-only"],
            "group": "SOT-2048",
            "seed": [42] * 5 + [42] * 3 + [42],
            "step": [550, 1100, 1650, 2200, 2750, 550, 1100, 1650, 550],
        }
    )
    assert chapter.evaluation_budgets(logs, quick=False) == [BUDGET_STEP, 2 * BUDGET_STEP]
    # each run's last budget: 2750 -> 2200, 1650 -> 1100; prior-only has not reached one
    assert chapter.evaluation_budgets(logs, quick=True) == [BUDGET_STEP, 2 * BUDGET_STEP]
    assert chapter.evaluation_budgets(logs[logs["remedy"] == "recipe"].iloc[2:], quick=True) == [2 * BUDGET_STEP]
    assert chapter.evaluation_budgets(logs[logs["step"] == 550], quick=True) == []
    assert chapter.evaluation_budgets(pd.DataFrame(), quick=False) == []
    with pytest.raises(ValueError, match="quick"):
        chapter.evaluation_budgets(logs, quick="no")


# --------------------------------------------------------------------------------------------
# On the test split and the real notes (a 2-step run, copied as a shipped and a remedied run)


@pytest.fixture(scope="module")
def run_tree(tiny_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("tree")
    shutil.copytree(tiny_run, root / "shipped" / "MSS-Lin" / "3")
    shutil.copytree(tiny_run, root / "remedies" / "recipe" / "MSS-Lin" / "3")
    (root / "remedies" / "recipe-mss").mkdir()  # a remedy folder without runs
    return root


def _cents(estimate, truth):
    return 1200 * np.log2(np.asarray(estimate, dtype=float) / np.asarray(truth, dtype=float))


def test_compute_remedies_evaluates_each_remedied_run_and_its_shipped_run(run_tree, tiny_data):
    from sot_utils.autoencoder import predict
    from sot_utils.training.checkpoint import load_model
    from sot_utils.training.train import cached_features

    remedies = chapter.compute_remedies(tiny_data, run_tree / "shipped", run_tree / "remedies", [2], quick=True)
    assert list(remedies.columns) == [
        "remedy",
        "group",
        "seed",
        "step",
        "test_rpa",
        "test_rca",
        "pure_tone_rpa",
        "strongest_partial",
        "test_lsd",
        "path",
    ]
    assert remedies[["remedy", "group", "seed", "step"]].values.tolist() == [
        ["none", "MSS-Lin", 3, 2],
        ["recipe", "MSS-Lin", 3, 2],
    ]
    assert remedies["test_rpa"].nunique() == 1  # the same weights
    # independent: frame-level RPA (within 50 cents) of the model's f0 on the test tones
    _, cqt, labels = cached_features(tiny_data, "test", progress=False)
    f0 = predict(load_model(remedies["path"].iloc[0])[0], cqt).f0_hz.numpy()
    cents = _cents(f0, labels["f0_hz"].numpy()[:, None])
    assert remedies["test_rpa"].iloc[0] == pytest.approx(100 * np.mean(np.abs(cents) < 50))
    pure = labels["n_audible_harmonics"].numpy() == 1
    expected = 100 * np.mean(np.abs(cents[pure]) < 50) if pure.any() else np.nan
    np.testing.assert_allclose(remedies["pure_tone_rpa"], expected)
    assert chapter.compute_remedies(tiny_data, run_tree / "shipped", run_tree / "remedies", [], quick=True).empty


def test_last_budget_and_error_direction_of_each_run(run_tree, tiny_data):
    from sot_utils.training.evaluate import f0_predictions

    remedies = chapter.compute_remedies(tiny_data, run_tree / "shipped", run_tree / "remedies", [2], quick=False)
    last = chapter.last_budget(remedies)
    assert sorted(last["remedy"]) == ["none", "recipe"]
    errors, panels = chapter.compute_error_direction(last, tiny_data, quick=False)
    predicted = f0_predictions(last["path"].iloc[0], tiny_data)
    cents = _cents(predicted["f0_estimate_hz"], predicted["f0_true_hz"])
    for row in errors.itertuples(index=False):
        assert row[4:7] == pytest.approx(
            (100 * np.mean(cents <= -50), 100 * np.mean(np.abs(cents) < 50), 100 * np.mean(cents >= 50))
        )
    assert list(panels) == ["none, seed 3, 2 steps", "recipe, seed 3, 2 steps"]
    assert chapter.compute_error_direction(last.iloc[:0], tiny_data, quick=False)[0].empty


def test_compute_real_notes_adds_the_peers_of_the_first_results_folder_that_has_them(run_tree, tmp_path):
    from sot_utils.study.landscape import harmonic_tones

    path = str(run_tree / "remedies" / "recipe" / "MSS-Lin" / "3" / "best.pt")
    last = pd.DataFrame({"remedy": ["recipe"], "group": ["MSS-Lin"], "seed": [3], "step": [2], "path": [path]})
    f0 = torch.tensor([220.0, 440.0])
    notes = {"audio": harmonic_tones(f0, torch.tensor([0.5, 0.3])).float(), "f0_hz": f0}
    peers = pd.DataFrame(
        {
            "estimator": ["yin", "yin", "MSS-Lin seed 42"],
            "group": ["all", "strings", "all"],
            "n_tones": [2, 1, 2],
            "rpa": [100.0, 100.0, 0.0],
            "rca": [100.0, 100.0, 0.0],
        }
    )
    (tmp_path / "later").mkdir()
    peers.to_csv(tmp_path / "later" / chapter.PEERS_FILE, index=False)
    rows = chapter.compute_real_notes(last, notes, [tmp_path / "first", tmp_path / "later"])
    assert rows["estimator"].tolist() == ["MSS-Lin seed 3, recipe, 2 steps", "yin"]
    assert rows["n_tones"].tolist() == [2, 2] and "group" in rows.columns
    assert chapter.compute_real_notes(last, notes, [tmp_path / "first"])["estimator"].tolist() == [
        "MSS-Lin seed 3, recipe, 2 steps"
    ]
    assert chapter.compute_real_notes(last.iloc[:0], notes, [tmp_path / "later"]).empty


# --------------------------------------------------------------------------------------------
# What this shows


def _tables(recipe_pure: float = 100.0, recipe_on: float = 95.0):
    remedies = pd.DataFrame(
        {
            "remedy": ["none", "recipe", "zero-head", "none", "recipe"],
            "group": "SOT-2048",
            "seed": 42,
            "step": [4400, 4400, 4400, 5500, 5500],
            "test_rpa": [10.0, 60.0, 20.5, 12.0, 93.25],
            "pure_tone_rpa": [0.0, 0.0, 0.0, 0.0, recipe_pure],
        }
    )
    last = chapter.last_budget(remedies)
    errors = pd.DataFrame(
        {
            "remedy": ["none", "recipe", "zero-head"],
            "seed": 42,
            "step": [5500, 5500, 4400],
            "below (% tones)": [100.0, 5.0, 30.0],
            "on (% tones)": [0.0, recipe_on, 10.0],
            "above (% tones)": [0.0, 0.0, 60.0],
        }
    )
    real_rows = pd.DataFrame(
        {
            "estimator": [
                "SOT-2048 seed 42, recipe, 5500 steps",
                "SOT-2048 seed 42, none, 5500 steps",
                "yin",
                "crepe-full",
            ],
            "n_tones": [24, 24, 24, 3],
            "rpa": [70.5, 99.0, 95.8, 100.0],
        }
    )
    return remedies, last, errors, real_rows


def test_last_budget_pairs_each_remedied_runs_last_step_with_the_shipped_run_there():
    remedies, last, _, _ = _tables()
    assert sorted(map(tuple, last[["remedy", "step"]].values.tolist())) == [
        ("none", 4400),
        ("none", 5500),
        ("recipe", 5500),
        ("zero-head", 4400),
    ]
    assert chapter.last_budget(remedies.iloc[:0]).empty


def test_findings_read_every_number_from_the_tables():
    text = chapter.findings(*_tables())
    lines = text.splitlines()
    assert lines[0] == (
        "- SOT-2048 seed 42 at 4400 steps, test RPA: recipe 60.0 % (pure tones 0 %), zero-head 20.5 % "
        "(pure tones 0 %); shipped 10.0 % (pure tones 0 %)."
    )
    assert lines[1].startswith("- SOT-2048 seed 42 at 5500 steps, test RPA: recipe 93.2 % (pure tones 100 %);")
    assert "zero-head seed 42 at 4400 steps 30 / 60." in text  # recipe reads 95 % on: not listed
    assert "recipe seed 42 at 5500" not in lines[2]
    assert "under recipe for SOT-2048: met by 1 of 1 runs** (best 93.2 %, worst 93.2 %)" in text
    assert "under zero-head for SOT-2048: met by 0 of 1 runs** (best 20.5 %, worst 20.5 %)" in text
    # the shipped run on the notes is not a remedied run, and crepe-full was scored on 3 notes only
    assert text.endswith(
        "the best remedied run (SOT-2048 seed 42, recipe, 5500 steps) scores 70.5 % RPA, against 95.8 % for the "
        "best peer (yin)."
    )


def test_findings_change_with_the_tables():
    text = chapter.findings(*_tables(recipe_pure=80.0, recipe_on=chapter.ON_TONES - 1))
    assert "under recipe for SOT-2048: met by 0 of 1 runs" in text  # pure tones under the goal
    assert "recipe seed 42 at 5500 steps 5 / 0" in text
    remedies, last, errors, real_rows = _tables()
    everyone_on = errors.assign(**{"on (% tones)": 100.0})
    text = chapter.findings(remedies, last, everyone_on, real_rows)
    assert "Every remedied run reads at least 90 % of the test tones within 50 cents." in text
    assert chapter.findings(*(frame.iloc[:0] for frame in _tables())) == ""


def test_plot_remedy_curves_draws_every_remedy_in_its_own_colour_however_many():
    remedies = ["none", "a", "b", "c", "d", "e"]  # more remedies than the notebook had when this was written
    logs = pd.DataFrame(
        [
            {"remedy": remedy, "group": "SOT-2048", "seed": seed, "step": step, "val_rpa": i + step / 1000}
            for i, remedy in enumerate(remedies)
            for seed in (42, 123)
            for step in (220, 440)
        ]
    )
    fig = chapter.plot_remedy_curves(logs)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 2
    lines = panels[0].get_lines()
    assert [line.get_label() for line in lines] == remedies
    assert len({line.get_color() for line in lines}) == len(remedies)
    assert lines[0].get_color() == "0.55"  # the shipped runs in grey


def test_plot_remedy_outcomes_draws_each_runs_last_budget_with_its_pure_tones():
    rows = [
        {"remedy": "none", "group": "MSS-Lin", "seed": 42, "step": 5500, "test_rpa": 0.0, "pure_tone_rpa": 0.0},
        {"remedy": "recipe", "group": "MSS-Lin", "seed": 42, "step": 4400, "test_rpa": 50.0, "pure_tone_rpa": 10.0},
        {"remedy": "recipe", "group": "MSS-Lin", "seed": 42, "step": 5500, "test_rpa": 99.0, "pure_tone_rpa": 95.0},
        {"remedy": "recipe", "group": "MSS-Lin", "seed": 123, "step": 5500, "test_rpa": 97.0, "pure_tone_rpa": np.nan},
        {"remedy": "none", "group": "SOT-2048", "seed": 42, "step": 5500, "test_rpa": 5.0, "pure_tone_rpa": 0.0},
    ]
    fig = chapter.plot_remedy_outcomes(pd.DataFrame(rows))
    mss, sot = fig.axes
    assert [t.get_text() for t in mss.get_xticklabels()] == ["seed 42", "seed 123"]
    heights = [bar.get_height() for bar in mss.patches]
    assert heights[0] == 0.0 and np.isnan(heights[1])  # shipped: seed 42 only
    assert heights[2:] == [99.0, 97.0]  # the recipe at its last budget, not at 4,400 steps
    dots = [line for line in mss.get_lines() if line.get_linestyle() == "None"]
    np.testing.assert_allclose(dots[1].get_ydata(), [95.0, np.nan])
    assert mss.get_legend_handles_labels()[1] == ["shipped", "recipe"] and len(sot.patches) == 1
