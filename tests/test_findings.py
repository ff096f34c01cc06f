"""The notebooks' "What this shows" sentences follow their tables (fabricated tables with known answers)."""

import pandas as pd

from sot_utils.study.campaign import pairwise_table
from sot_utils.study.findings import peer_findings, results_findings


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


def test_the_claim_verdict_follows_the_numbers():
    lower = per_run([10.0, 20.0, 30.0], [50.0, 60.0, 70.0])
    assert "**not reproduced**" in results_findings(lower, pairwise_table(lower), {})[0]
    noisy = per_run([90.0, 0.0, 60.0], [10.0, 50.0, 40.0])
    assert "**not shown**" in results_findings(noisy, pairwise_table(noisy), {})[0]
    many = pd.concat(
        [per_run([90.0, 80.0, 70.0], [10.0, 20.0, 30.0]).assign(seed=lambda f: f["seed"] + 10 * k) for k in range(3)],
        ignore_index=True,
    )
    first = results_findings(many, pairwise_table(many), {})[0]
    assert "**supported**" in first and "+60.0 points" in first


def test_collapses_and_groups_that_never_learn_are_named():
    frame = per_run([0.0, 80.0, 70.0], [1.0, 2.0, 3.0])
    frame.loc[0, ["dominant_harmonic", "dominant_share"]] = (13, 0.9)
    text = "\n".join(results_findings(frame, pairwise_table(frame), {}))
    assert "seed 1 in 1 of 2 groups" in text and "partial 13" in text
    assert "No seed learns pitch** (test RPA under 15 % on every seed) with: MSS-Lin" in text


def test_peer_findings_name_the_best_and_the_fastest():
    synthetic = pd.DataFrame(
        {"estimator": ["SOT-2048 (seed 1)", "yin"], "rpa": [70.0, 80.0], "seconds_per_example": [0.02, 0.01]}
    )
    real = pd.DataFrame(
        {
            "estimator": ["SOT-2048 (seed 1)", "yin", "SOT-2048 (seed 1)", "SOT-2048 (seed 1)"],
            "group": ["all", "all", "piano", "bass"],
            "rpa": [40.0, 99.0, 10.0, 90.0],
        }
    )
    text = "\n".join(peer_findings(synthetic, real))
    assert "the best peer, yin, scores 99.0 %" in text and "SOT runs 40.0-40.0 %" in text
    assert "piano (10 % on average)" in text and "yin 10 ms" in text
