"""Honest statistics of a training campaign: groups compared seed by seed (notebook 05).

The runs of one seed share their initial weights across groups (the seed alone fixes them), so
two groups are *paired* samples: the difference between groups is measured within each seed,
and the spread between seeds (the seed lottery) cancels out of it. With few seeds, no test can be
significant whatever the effect: a two-sided exact sign-flip test on ``n`` paired differences
cannot go below ``2 / 2**n`` (0.25 for three seeds). :func:`seeds_needed` turns a measured effect
into the number of seeds a protocol needs to detect it.

- :func:`paired_differences`: per-seed differences of a metric between two groups;
- :func:`paired_statistics`: mean difference, a bootstrap interval, the exact sign-flip
  (permutation) test, the Wilcoxon signed-rank test and the paired t-test (scipy);
- :func:`seeds_needed`: seeds for a paired t-test to detect a mean difference at a given power
  (noncentral t, exact);
- :func:`pairwise_table`: every pair of groups.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import scipy.stats

from ..validation import check_int, check_positive_number

__all__ = ["paired_differences", "paired_statistics", "pairwise_table", "seeds_needed"]


def paired_differences(per_run: pd.DataFrame, metric: str, group_a: str, group_b: str) -> pd.Series:
    """``metric`` of ``group_a`` minus ``group_b``, per seed both groups have, indexed by seed.

    Args:
        per_run: one row per run with columns ``group``, ``seed`` and ``metric``
            (:func:`sot_utils.training.evaluate.evaluate_runs`).
    """
    for column in ("group", "seed", metric):
        if column not in per_run:
            raise ValueError(f"`per_run` needs a column {column!r}; it has {sorted(per_run.columns)}")
    table = per_run.pivot_table(index="seed", columns="group", values=metric)
    for group in (group_a, group_b):
        if group not in table:
            raise ValueError(f"no runs of group {group!r} in `per_run` (groups: {sorted(table.columns)})")
    both = table[[group_a, group_b]].dropna()
    return (both[group_a] - both[group_b]).rename(f"{group_a} - {group_b}")


def _sign_flip_p_value(differences: np.ndarray) -> float:
    """Exact two-sided p-value of the mean under random sign flips (all ``2**n`` of them)."""
    n = len(differences)
    observed = abs(differences.mean())
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
    flipped = np.abs((signs * differences).mean(axis=1))
    return float(np.mean(flipped >= observed - 1e-12))


def paired_statistics(differences, confidence: float = 0.95, n_resamples: int = 10_000, seed: int = 0) -> dict:
    """Summary and tests of paired differences (one per seed).

    Args:
        differences: ``[n]`` per-seed differences (``n >= 2``).
        confidence: level of the bootstrap interval of the mean.
        n_resamples: bootstrap resamples; seed: their random generator's seed.

    Returns:
        ``{"n", "mean", "std", "ci_low", "ci_high", "sign_flip_p", "min_sign_flip_p", "wilcoxon_p",
        "t_test_p", "a_better", "b_better"}``: the sign-flip test is exact (``2**n`` flips);
        ``min_sign_flip_p`` is the smallest p it could give with ``n`` seeds; the bootstrap
        interval is a percentile interval over resampled seeds (wide and optimistic for tiny n);
        ``a_better`` / ``b_better`` count the seeds on each side.
    """
    values = np.asarray(differences, dtype=float)
    if values.ndim != 1 or len(values) < 2 or not np.all(np.isfinite(values)):
        raise ValueError(f"`differences` must be at least 2 finite numbers, got {differences!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"`confidence` must be in (0, 1), got {confidence!r}")
    n = len(values)
    if np.ptp(values) == 0:
        ci_low = ci_high = float(values[0])
    else:
        interval = scipy.stats.bootstrap(
            (values,),
            np.mean,
            confidence_level=confidence,
            n_resamples=n_resamples,
            method="percentile",
            random_state=np.random.default_rng(seed),
        ).confidence_interval
        ci_low, ci_high = float(interval.low), float(interval.high)
    nonzero = values[values != 0]  # Wilcoxon's signed ranks drop ties at zero
    wilcoxon_p = float(scipy.stats.wilcoxon(nonzero).pvalue) if len(nonzero) else 1.0
    std = float(values.std(ddof=1))
    t_test_p = float(scipy.stats.ttest_1samp(values, 0.0).pvalue) if std > 0 else (1.0 if values[0] == 0 else 0.0)
    return {
        "n": n,
        "mean": float(values.mean()),
        "std": std,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "sign_flip_p": _sign_flip_p_value(values),
        "min_sign_flip_p": 2.0 / 2**n,
        "wilcoxon_p": wilcoxon_p,
        "t_test_p": t_test_p,
        "a_better": int((values > 0).sum()),
        "b_better": int((values < 0).sum()),
    }


def seeds_needed(
    mean_difference: float, std_difference: float, alpha: float = 0.05, power: float = 0.8, max_seeds: int = 100_000
) -> int:
    """Seeds (paired runs) for a two-sided paired t-test to detect ``mean_difference`` with ``power``.

    The power of the test with ``n`` pairs is ``P(|T| > t_{1-alpha/2, n-1})`` for ``T`` noncentral t
    with ``n - 1`` degrees of freedom and noncentrality ``sqrt(n) d``, ``d = mean / std`` (Cohen's
    effect size of paired differences); the smallest such ``n`` is returned (at least 2). For
    large ``n`` it approaches the normal approximation ``((z_{1-alpha/2} + z_power) / d)^2``.
    """
    check_positive_number("std_difference", std_difference)
    check_int("max_seeds", max_seeds, minimum=2)
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValueError(f"`alpha` and `power` must be in (0, 1), got {alpha!r} and {power!r}")
    effect = abs(mean_difference) / std_difference
    if effect == 0:
        raise ValueError("`mean_difference` is 0: no number of seeds detects no effect")

    def achieved(n: int) -> float:
        df = n - 1
        critical = scipy.stats.t.ppf(1 - alpha / 2, df)
        shift = math.sqrt(n) * effect
        return float(scipy.stats.nct.sf(critical, df, shift) + scipy.stats.nct.cdf(-critical, df, shift))

    approx = max(2, int(((scipy.stats.norm.ppf(1 - alpha / 2) + scipy.stats.norm.ppf(power)) / effect) ** 2))
    n = max(2, approx - 5)
    while n <= max_seeds and achieved(n) < power:
        n += 1
    if n > max_seeds:
        raise ValueError(f"more than {max_seeds} seeds would be needed (effect size {effect:.3g})")
    while n > 2 and achieved(n - 1) >= power:  # the normal start may overshoot for small n
        n -= 1
    return n


def pairwise_table(per_run: pd.DataFrame, metric: str = "rpa", groups=None, **kwargs) -> pd.DataFrame:
    """:func:`paired_statistics` and :func:`seeds_needed` for every pair of groups (a before b).

    Returns one row per pair: ``group_a``, ``group_b``, the statistics, and ``seeds_needed``
    (NaN where the differences are all equal, so the effect size is undefined).
    """
    groups = list(groups) if groups is not None else list(dict.fromkeys(per_run["group"]))
    rows = []
    for a, b in itertools.combinations(groups, 2):
        differences = paired_differences(per_run, metric, a, b)
        if len(differences) < 2:
            continue
        stats = paired_statistics(differences.to_numpy(), **kwargs)
        needed = seeds_needed(stats["mean"], stats["std"]) if stats["std"] > 0 and stats["mean"] != 0 else math.nan
        rows.append({"group_a": a, "group_b": b, **stats, "seeds_needed": needed})
    return pd.DataFrame(rows)
