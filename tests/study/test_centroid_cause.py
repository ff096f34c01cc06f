"""The causal test's scoring: the stage statistic, the run folders and the plan's verdict rules."""

import numpy as np
import pandas as pd
import pytest

from sot_utils.study.centroid_cause import (
    ARMS,
    causal_verdict,
    cause_run_dir,
    stage_statistic,
)
from sot_utils.study.chapters.centroid_stage import STAGE_SLOPE


def _predictions(estimate, seed=0, n=200):
    rng = np.random.default_rng(seed)
    f0 = rng.uniform(60, 1500, n)
    centroid = 1 + rng.uniform(0, 3, n)
    partials = rng.integers(1, 9, n)
    centroid[partials == 1] = 1.0
    return pd.DataFrame(
        {
            "f0_true_hz": f0,
            "f0_estimate_hz": estimate(f0, centroid),
            "n_audible_partials": partials,
            "target_centroid": centroid,
            "decoder_centroid": np.full(n, 2.0),
        }
    )


def test_the_stage_statistic_flags_the_centroid_stage_and_not_a_learned_or_constant_reading():
    stage = stage_statistic(_predictions(lambda f0, m: f0 * m / 2.0))
    assert stage["b_m"] == pytest.approx(1.0, abs=1e-9) and stage["in_stage"]
    learned = stage_statistic(_predictions(lambda f0, m: f0))
    assert learned["rpa"] == 100 and learned["b_m"] == pytest.approx(0, abs=1e-12) and not learned["in_stage"]
    constant = stage_statistic(_predictions(lambda f0, m: np.full_like(f0, 250.0)))
    assert abs(constant["b_m"]) < 1e-9 and not constant["in_stage"]
    assert STAGE_SLOPE == 0.5


def test_the_stage_statistic_needs_the_prediction_columns():
    with pytest.raises(ValueError, match="missing"):
        stage_statistic(_predictions(lambda f0, m: f0).drop(columns="target_centroid"))


def test_run_folders_of_the_arms(tmp_path):
    assert cause_run_dir("oracle", "SOT-2048", 42, root=tmp_path) == tmp_path / "oracle" / "SOT-2048" / "42"
    assert str(cause_run_dir("shipped", "SOT-NoCut", 123, "ckpt")) == "ckpt/SOT-NoCut/123"
    with pytest.raises(ValueError, match=r"\(arm, group\)"):
        cause_run_dir("oracle", "SOT-NoCut", 42)
    assert ("oracle", "SOT-2048") in ARMS and ("shipped", "SOT-NoCut") in ARMS


def _arms(oracle_rpa, shipped_rpa, oracle_stage=(False, False, False)):
    rows = [
        {"arm": "oracle", "group": "SOT-2048", "seed": s, "test_rpa": r, "in_stage": st}
        for s, r, st in zip((42, 123, 456), oracle_rpa, oracle_stage)
    ]
    rows += [
        {"arm": "shipped", "group": "SOT-2048", "seed": s, "test_rpa": r, "in_stage": True}
        for s, r in zip((42, 123, 456), shipped_rpa)
    ]
    return pd.DataFrame(rows)


SPECIFIC = pd.DataFrame({"in_stage": [False, False]})
NOT_SPECIFIC = pd.DataFrame({"in_stage": [False, True]})


@pytest.mark.parametrize(
    "oracle, shipped, stage, validity, label",
    [
        ((95, 80, 60), (0, 7, 2), (False,) * 3, SPECIFIC, "supported"),
        ((95, 80, 60), (0, 7, 2), (False, True, False), SPECIFIC, "inconclusive"),  # an oracle run in the stage
        ((95, 80, 60), (0, 7, 2), (False, True, False), NOT_SPECIFIC, "supported"),  # then RPA alone decides
        ((95, 80, 60), (0, 70, 2), (False,) * 3, SPECIFIC, "inconclusive"),  # a shipped run learned too
        ((95, 80, 10), (0, 7, 2), (False,) * 3, SPECIFIC, "inconclusive"),
        ((95, 10, 10), (0, 7, 2), (False,) * 3, SPECIFIC, "contradicted"),
        ((5, 10, 10), (0, 7, 2), (False,) * 3, SPECIFIC, "contradicted"),
    ],
)
def test_the_verdict_follows_the_plans_rules(oracle, shipped, stage, validity, label):
    result = causal_verdict(_arms(oracle, shipped, stage), validity)
    assert result["label"] == label
    assert result["statistic_specific"] is not bool(validity["in_stage"].any())


def test_three_of_three_against_none_is_fishers_smallest_p_and_missing_runs_wait():
    result = causal_verdict(_arms((95, 80, 60), (0, 7, 2)), SPECIFIC)
    assert result["fisher_p"] == pytest.approx(0.05)
    assert (result["oracle_learned"], result["shipped_learned"], result["n"]) == (3, 0, 3)
    pending = causal_verdict(_arms((95, 80, 60), (0, 7, 2)).iloc[1:], SPECIFIC)
    assert pending["label"] == "pending"
    with pytest.raises(ValueError, match="test_rpa"):
        causal_verdict(_arms((95, 80, 60), (0, 7, 2)).drop(columns="test_rpa"), SPECIFIC)


def test_the_written_rule_states_the_thresholds_the_verdict_uses():
    from sot_utils.study.centroid_cause import VERDICT_RULE
    from sot_utils.study.chapters.centroid_stage import STAGE_SLOPE
    from sot_utils.study.fresh_seeds import LEARNED_RPA

    assert f">= {LEARNED_RPA:g} %" in VERDICT_RULE and f"b_M >= {STAGE_SLOPE:g}" in VERDICT_RULE
    assert "at most one seed" in VERDICT_RULE and "on all three seeds" in VERDICT_RULE
