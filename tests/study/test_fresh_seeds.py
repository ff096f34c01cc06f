"""The fresh-seed evaluation of the recipe: the plan's rules on hand-made tables, and scoring real (tiny) runs."""

import shutil

import pandas as pd
import pytest

from sot_utils.study import fresh_seeds
from sot_utils.training.evaluate import evaluate_checkpoint


def runs_table(recipe, shipped):
    seeds = fresh_seeds.FRESH_SEEDS[: len(recipe)]
    return pd.DataFrame(
        {
            "remedy": ["recipe"] * len(recipe) + ["shipped"] * len(shipped),
            "seed": list(seeds) + list(seeds[: len(shipped)]),
            "test_rpa": list(recipe) + list(shipped),
        }
    )


def test_six_of_six_at_the_goal_supports_both_claims_by_the_plans_rules():
    result = fresh_seeds.fresh_seed_verdicts(
        runs_table([99.0, 98.5, 97.0, 99.9, 95.0, 96.0], [0.0, 31.0, 89.0, 45.0, 10.0, 88.0])
    )
    rates = result["rates"].set_index("remedy")
    assert rates.loc["recipe", "goal"] == 6 and rates.loc["recipe", "goal_low"] == pytest.approx(100 * 0.025 ** (1 / 6))
    assert rates.loc["shipped", "learned"] == 2 and rates.loc["shipped", "goal"] == 0
    assert result["paired"]["sign_flip_p"] == pytest.approx(2 / 64)  # every seed better: the smallest p of 6 pairs
    assert result["better"] == "supported" and result["not_a_lottery"] == "supported"


def test_one_miss_in_six_leaves_the_lottery_claim_inconclusive_and_a_tie_the_comparison():
    result = fresh_seeds.fresh_seed_verdicts(
        runs_table([99.0, 40.0, 97.0, 99.9, 95.0, 96.0], [99.0, 99.0, 99.0, 99.0, 99.0, 10.0])
    )
    rates = result["rates"].set_index("remedy")
    assert rates.loc["recipe", "goal"] == 5 and rates.loc["recipe", "goal_low"] < 50  # 5 of 6: lower bound 36 %
    assert result["not_a_lottery"] == "inconclusive"
    assert result["better"] == "inconclusive"
    few = fresh_seeds.fresh_seed_verdicts(runs_table([10.0, 20.0, 5.0], [99.0, 98.0, 97.0]))
    assert few["not_a_lottery"] == "inconclusive"  # 0 of 3: the upper bound is 71 %
    none = fresh_seeds.fresh_seed_verdicts(runs_table([10.0, 20.0, 5.0, 1.0, 2.0, 3.0], [99.0] * 6))
    assert none["not_a_lottery"] == "contradicted" and none["better"] == "contradicted"  # 0 of 6: below 46 %
    with pytest.raises(ValueError, match="test_rpa"):
        fresh_seeds.fresh_seed_verdicts(pd.DataFrame({"remedy": [], "seed": []}))


def test_evaluate_fresh_seeds_scores_each_finished_run_on_both_splits(tiny_run, tiny_data, tmp_path):
    root = tmp_path / "fresh"
    for configuration in fresh_seeds.CONFIGURATIONS:
        shutil.copytree(tiny_run, fresh_seeds.fresh_run_dir(configuration, 789, root=root))
    table = fresh_seeds.evaluate_fresh_seeds(root, tiny_data, tiny_data, seeds=(789, 101112), steps=2)
    assert list(table["remedy"]) == ["recipe", "shipped"] and list(table["seed"]) == [789, 789]  # 101112: no run
    expected = evaluate_checkpoint(tiny_run / "best.pt", tiny_data, "test")["rpa"]
    assert table["test_rpa"].tolist() == [expected, expected] and table["step"].tolist() == [2, 2]
    assert table["test_rpa_seed0"].tolist() == [expected, expected]
    with pytest.raises(ValueError, match="`configuration`"):
        fresh_seeds.fresh_run_dir("other", 1)


def test_verdict_table_states_each_label_with_its_rule_and_numbers():
    verdicts = fresh_seeds.fresh_seed_verdicts(
        runs_table([99.0, 40.0, 97.0, 99.9, 95.0, 96.0], [0.0, 31.0, 89.0, 45.0, 10.0, 88.0])
    )
    table = fresh_seeds.verdict_table(verdicts).set_index("claim")
    better = table.loc["the recipe reads pitch better than the shipped MSS-Lin configuration"]
    assert better["label"] == verdicts["better"] == "supported"
    assert better["value"] == pytest.approx(verdicts["paired"]["mean"])
    assert better["low"] == pytest.approx(verdicts["paired"]["t_low"])
    assert "sign-flip p = 0.03125" in better["statistic"]
    lottery = table.loc["the recipe is not a seed lottery"]
    assert lottery["label"] == "inconclusive" and lottery["value"] == pytest.approx(100 * 5 / 6)
    assert "5 of 6" in lottery["statistic"] and lottery["low"] < 50 < lottery["high"]
