"""Paired statistics of the campaign, against scipy and simulation."""

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from sot_utils.study.campaign import paired_differences, paired_statistics, pairwise_table, seeds_needed


def per_run_frame():
    return pd.DataFrame(
        {
            "group": ["A", "A", "A", "B", "B", "B", "C", "C"],
            "seed": [1, 2, 3, 1, 2, 3, 1, 2],
            "rpa": [80.0, 40.0, 10.0, 70.0, 45.0, 0.0, 5.0, 6.0],
        }
    )


def test_paired_differences_match_seeds():
    differences = paired_differences(per_run_frame(), "rpa", "A", "B")
    assert differences.to_dict() == {1: 10.0, 2: -5.0, 3: 10.0}
    assert paired_differences(per_run_frame(), "rpa", "A", "C").index.tolist() == [1, 2]  # seeds both have
    with pytest.raises(ValueError, match="no runs of group 'D'"):
        paired_differences(per_run_frame(), "rpa", "A", "D")


def test_the_sign_flip_test_is_scipys_exact_permutation_test():
    rng = np.random.default_rng(3)
    for n in (3, 5, 8):
        a, b = rng.normal(1.0, 2.0, n), rng.normal(0.0, 2.0, n)
        ours = paired_statistics(a - b)
        oracle = scipy.stats.permutation_test(
            (a, b), lambda x, y: np.mean(x - y), permutation_type="samples", n_resamples=np.inf, alternative="two-sided"
        )
        assert ours["sign_flip_p"] == pytest.approx(oracle.pvalue)
        assert ours["t_test_p"] == pytest.approx(scipy.stats.ttest_rel(a, b).pvalue)
        assert ours["wilcoxon_p"] == pytest.approx(scipy.stats.wilcoxon(a, b).pvalue)
    three = paired_statistics([10.0, 20.0, 30.0])  # all three seeds on one side: the smallest p of 3 seeds
    assert three["sign_flip_p"] == three["min_sign_flip_p"] == 0.25
    assert three["ci_low"] >= 10.0 and three["ci_high"] <= 30.0 and three["a_better"] == 3


def test_seeds_needed_gives_the_power_asked_for_in_simulation():
    effect, alpha, power = 0.8, 0.05, 0.8
    n = seeds_needed(effect, 1.0, alpha, power)
    normal = ((scipy.stats.norm.ppf(1 - alpha / 2) + scipy.stats.norm.ppf(power)) / effect) ** 2
    assert normal <= n <= normal + 3  # the t-test needs a little more than the z-test
    rng = np.random.default_rng(0)

    def simulated_power(size, trials=20_000):
        draws = rng.normal(effect, 1.0, (trials, size))
        return float(np.mean(scipy.stats.ttest_1samp(draws, 0.0, axis=1).pvalue < alpha))

    assert simulated_power(n) >= power - 0.015 and simulated_power(n - 1) < power + 0.015
    assert seeds_needed(-effect, 1.0) == n  # the sign does not matter
    for bad in ((0.0, 1.0), (1.0, 0.0), (1.0, float("nan"))):
        with pytest.raises(ValueError):
            seeds_needed(*bad)


def test_pairwise_table_covers_every_pair_with_two_shared_seeds():
    table = pairwise_table(per_run_frame(), "rpa")
    assert [(row.group_a, row.group_b) for row in table.itertuples()] == [("A", "B"), ("A", "C"), ("B", "C")]
    assert table.loc[0, "mean"] == pytest.approx(5.0) and table.loc[0, "n"] == 3


def test_clopper_pearson_matches_its_closed_forms_at_the_edges():
    from sot_utils.study.campaign import clopper_pearson

    # k = n: the lower bound solves p^n = (1 - c) / 2; k = 0: the upper bound solves (1 - p)^n = (1 - c) / 2
    for n in (3, 6, 9):
        low, high = clopper_pearson(n, n)
        assert high == 1.0 and low == pytest.approx(0.025 ** (1 / n), rel=1e-9)
        low, high = clopper_pearson(0, n)
        assert low == 0.0 and high == pytest.approx(1 - 0.025 ** (1 / n), rel=1e-9)
    low, high = clopper_pearson(5, 10)
    assert low < 0.5 < high and low == pytest.approx(1 - high, rel=1e-9)  # symmetric at k = n / 2
    with pytest.raises(ValueError, match="`successes`"):
        clopper_pearson(4, 3)


def test_verdict_follows_the_stated_rule():
    from sot_utils.study.campaign import VERDICTS, verdict

    assert verdict(0.031, 4.2) == "supported"
    assert verdict(0.031, -4.2) == "contradicted"
    assert verdict(0.25, 40.0) == "inconclusive"  # three seeds: the design cannot reach 0.05
    assert verdict(0.05, 1.0) == "supported" and verdict(0.0501, 1.0) == "inconclusive"
    assert {verdict(p, e) for p in (0.01, 0.5) for e in (-1.0, 1.0)} <= set(VERDICTS)
    with pytest.raises(ValueError, match="`p_value`"):
        verdict(1.5, 1.0)


def test_t_interval_and_seeds_needed_range():
    from sot_utils.study.campaign import paired_statistics, seeds_needed, seeds_needed_range

    values = np.array([-30.6, 67.8, 0.0])
    stats = paired_statistics(values)
    half = scipy.stats.t.ppf(0.975, 2) * values.std(ddof=1) / np.sqrt(3)
    assert stats["t_low"] == pytest.approx(values.mean() - half) and stats["t_high"] == pytest.approx(
        values.mean() + half
    )
    assert (stats["ci_low"], stats["ci_high"]) == pytest.approx((values.min(), values.max()))  # the bootstrap's limit
    low, measured, high = seeds_needed_range(12.4, 50.4, 3)
    assert measured == seeds_needed(12.4, 50.4) and low < measured < high
    assert high / low > 100  # a standard deviation from three seeds says little
