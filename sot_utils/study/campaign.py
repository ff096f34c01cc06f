"""Honest statistics of a training campaign: groups compared seed by seed (notebook 05).

The runs of one seed share their initial weights across groups (the seed alone fixes them), so
two groups are *paired* samples: the difference between groups is measured within each seed,
and the spread between seeds (the seed lottery) cancels out of it. With few seeds, no test can be
significant whatever the effect: a two-sided exact sign-flip test on ``n`` paired differences
cannot go below ``2 / 2**n`` (0.25 for three seeds). :func:`seeds_needed` turns a measured effect
into the number of seeds a protocol needs to detect it.

- :func:`paired_differences`: per-seed differences of a metric between two groups;
- :func:`paired_statistics`: mean difference, its t interval (and the bootstrap interval, which
  with three seeds is no more than their minimum and maximum), the exact sign-flip
  (permutation) test, the Wilcoxon signed-rank test and the paired t-test (scipy);
- :func:`seeds_needed`: seeds for a paired t-test to detect a mean difference at a given power
  (noncentral t, exact); :func:`seeds_needed_range` the same over the confidence interval of a
  standard deviation estimated from few seeds;
- :func:`pairwise_table`: every pair of groups;
- :func:`verdict`: a claim's label by a rule stated before the data: supported, contradicted or
  inconclusive;
- :func:`clopper_pearson`: the exact confidence interval of a success rate (k runs of n).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import scipy.stats

from ..validation import check_int, check_positive_number

__all__ = [
    "VERDICTS",
    "clopper_pearson",
    "paired_differences",
    "paired_statistics",
    "pairwise_table",
    "seeds_needed",
    "seeds_needed_range",
    "verdict",
]

VERDICTS = ("supported", "contradicted", "inconclusive")
"""The labels a claim can get (:func:`verdict`)."""


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
        ``{"n", "mean", "std", "ci_low", "ci_high", "t_low", "t_high", "sign_flip_p",
        "min_sign_flip_p", "wilcoxon_p", "t_test_p", "a_better", "b_better"}``: the sign-flip test
        is exact (``2**n`` flips); ``min_sign_flip_p`` is the smallest p it could give with ``n``
        seeds; ``t_low``/``t_high`` the t interval of the mean at ``confidence`` (Student, ``n - 1``
        degrees of freedom: wide at n = 3, as it should be); ``ci_low``/``ci_high`` the percentile
        bootstrap interval over resampled seeds, which cannot leave the range of the differences
        (with three seeds it is their minimum and maximum: optimistic, not an interval to quote);
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
    std = float(values.std(ddof=1))
    if std > 0:
        t_low, t_high = scipy.stats.t.interval(confidence, n - 1, loc=values.mean(), scale=std / math.sqrt(n))
    else:
        t_low = t_high = float(values[0])
    nonzero = values[values != 0]  # Wilcoxon's signed ranks drop ties at zero
    wilcoxon_p = float(scipy.stats.wilcoxon(nonzero).pvalue) if len(nonzero) else 1.0
    t_test_p = float(scipy.stats.ttest_1samp(values, 0.0).pvalue) if std > 0 else (1.0 if values[0] == 0 else 0.0)
    return {
        "n": n,
        "mean": float(values.mean()),
        "std": std,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "t_low": float(t_low),
        "t_high": float(t_high),
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


def seeds_needed_range(
    mean_difference: float, std_difference: float, n_seeds: int, confidence: float = 0.95, **kwargs
) -> tuple[int, int, int]:
    """:func:`seeds_needed` at the measured standard deviation and at the ends of its confidence interval.

    A standard deviation ``s`` estimated from ``n_seeds`` paired differences has the interval
    ``s sqrt((n - 1) / chi2_{(1 + c)/2, n - 1})`` to ``s sqrt((n - 1) / chi2_{(1 - c)/2, n - 1})``
    (normal differences); with three seeds it spans a factor of about 12, so the seeds needed span
    a factor of about 150. Returns ``(low, measured, high)``; ``kwargs`` go to :func:`seeds_needed`
    (``alpha``, ``power``, ``max_seeds``: a bound that the high end reaches is returned as it is).
    """
    check_int("n_seeds", n_seeds, minimum=2)
    check_positive_number("std_difference", std_difference)
    if not 0 < confidence < 1:
        raise ValueError(f"`confidence` must be in (0, 1), got {confidence!r}")
    df = n_seeds - 1
    std_low = std_difference * math.sqrt(df / scipy.stats.chi2.ppf((1 + confidence) / 2, df))
    std_high = std_difference * math.sqrt(df / scipy.stats.chi2.ppf((1 - confidence) / 2, df))
    max_seeds = kwargs.get("max_seeds", 100_000)

    def needed(std: float) -> int:
        try:
            return seeds_needed(mean_difference, std, **kwargs)
        except ValueError:  # beyond max_seeds
            return max_seeds

    return needed(std_low), needed(std_difference), needed(std_high)


def verdict(p_value: float, effect: float, alpha: float = 0.05) -> str:
    """The label of a claim that an effect is positive, by a rule fixed before the data.

    ``"supported"`` if ``p_value <= alpha`` and ``effect > 0``; ``"contradicted"`` if
    ``p_value <= alpha`` and ``effect < 0``; ``"inconclusive"`` otherwise (including every test
    whose design cannot reach ``alpha``: three paired seeds give a sign-flip p of at least 0.25).

    Args:
        p_value: two-sided p of the test stated in advance (e.g. ``sign_flip_p``).
        effect: the estimated effect, signed so that positive is what the claim says.
        alpha: the level stated in advance.
    """
    if not (isinstance(p_value, (int, float)) and 0 <= p_value <= 1):
        raise ValueError(f"`p_value` must be a probability in [0, 1], got {p_value!r}")
    if not (isinstance(effect, (int, float)) and math.isfinite(effect)):
        raise ValueError(f"`effect` must be a finite number, got {effect!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"`alpha` must be in (0, 1), got {alpha!r}")
    if p_value <= alpha and effect != 0:
        return "supported" if effect > 0 else "contradicted"
    return "inconclusive"


def clopper_pearson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval of a success rate, ``successes`` of ``n``, as fractions.

    The interval's ends are the Beta quantiles ``B((1 - c)/2; k, n - k + 1)`` and
    ``B((1 + c)/2; k + 1, n - k)`` (0 and 1 at the edges); it covers the true rate with probability
    at least ``c`` for every rate (scipy's ``binomtest(...).proportion_ci(method="exact")``). Three
    successes of three give a 95 % lower bound of 29 %; six of six, 54 %.
    """
    check_int("n", n, minimum=1)
    check_int("successes", successes, minimum=0)
    if successes > n:
        raise ValueError(f"`successes` ({successes}) cannot exceed `n` ({n})")
    if not 0 < confidence < 1:
        raise ValueError(f"`confidence` must be in (0, 1), got {confidence!r}")
    interval = scipy.stats.binomtest(successes, n).proportion_ci(confidence_level=confidence, method="exact")
    return float(interval.low), float(interval.high)
