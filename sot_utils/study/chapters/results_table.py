"""Chapter of notebooks/05_results_table.ipynb: every shipped run on the test split, and what the seeds allow to say.

The notebook evaluates the runs trained to the budget (:func:`sot_utils.training.evaluate.evaluate_runs`), tables
them per group as the paper does, compares the groups seed by seed (:mod:`sot_utils.study.campaign`) and at
several budgets, and looks at how the runs miss (which partials carry their energy, which tones they miss).

- :func:`training_budget`, :func:`tone_limit`: the budget and the number of test tones of a run of the notebook;
- :func:`seeds_per_group`, :func:`sot_plateaus`, :func:`plateau_report`, :func:`learning_curve_table`,
  :func:`compute_summary`: the training campaign as it stands (runs, learning curves, compute spent);
- :func:`compute_per_run`, :func:`compute_per_budget`: the test-split evaluations (``results_per_run.csv``,
  ``rpa_against_budget.csv``); :func:`claim_summary`, :func:`budget_summary`: their headline numbers;
- :func:`latest_runs`, :func:`run_label`, :func:`f0_panels`, :func:`harmonic_share_maps`,
  :func:`partial_accuracies`, :func:`sparse_offsets`: how each run at its largest budget misses;
- :func:`findings`: the notebook's "What this shows", with its thresholds :data:`LEARNED_RPA`, :data:`NEVER_RPA`,
  :data:`COLLAPSE_SHARE`, :data:`COLLAPSE_MIN_PARTIAL`, :data:`COLLAPSE_MAX_RPA` and :data:`SIGNIFICANCE`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ...constants import BUDGET_STEP, CPU_BUDGET_STEPS
from ...training.evaluate import (
    accuracy_by_partials,
    choose_budget,
    evaluate_budgets,
    evaluate_runs,
    f0_predictions,
    harmonic_shares,
    metric_at_steps,
    plateau_step,
)
from ...validation import check_bool, check_int
from ..campaign import seeds_needed_range, verdict

__all__ = [
    "CLAIM",
    "COLLAPSE_MAX_RPA",
    "COLLAPSE_MIN_PARTIAL",
    "COLLAPSE_SHARE",
    "LEARNED_RPA",
    "NEVER_RPA",
    "PAIR_COLUMNS",
    "PAIRS_SHOWN",
    "PLATEAU_GROUP",
    "QUICK_TEST_TONES",
    "RUN_COLUMNS",
    "SCATTER_GROUPS",
    "SIGNIFICANCE",
    "SPARSE_PARTIALS",
    "budget_summary",
    "claim_summary",
    "compute_per_budget",
    "compute_per_run",
    "compute_summary",
    "f0_panels",
    "findings",
    "harmonic_share_maps",
    "latest_runs",
    "learning_curve_table",
    "partial_accuracies",
    "plateau_report",
    "run_label",
    "seeds_per_group",
    "sot_plateaus",
    "sparse_offsets",
    "tone_limit",
    "training_budget",
]

LEARNED_RPA = 50.0
"""A run "learned pitch" if its test RPA is at least this (%)."""

NEVER_RPA = 15.0
"""A group "does not learn pitch" if no seed reaches this test RPA (%)."""

COLLAPSE_SHARE = 0.5
"""A run "collapsed onto one partial" if one partial k >= :data:`COLLAPSE_MIN_PARTIAL` carries at least this
share of its rendered energy while its RPA stays under :data:`COLLAPSE_MAX_RPA`."""

COLLAPSE_MIN_PARTIAL = 4
"""The lowest partial whose dominance counts as a collapse (partials 2 and 3 are octave and twelfth errors)."""

COLLAPSE_MAX_RPA = 5.0
"""A collapsed run's test RPA stays under this (%)."""

SIGNIFICANCE = 0.05
"""The level of the exact sign-flip test under which a difference between groups counts as shown."""

CLAIM = ("SOT-2048", "MSS-Lin")
"""The paper's claim: (the loss said to learn pitch, the loss said to fail)."""

QUICK_TEST_TONES = 64
"""Quick mode (CI) evaluates only the first this many test tones."""

PLATEAU_GROUP = "SOT-2048"
"""The group whose validation RPA decides the budget (:func:`sot_utils.training.evaluate.choose_budget`)."""

RUN_COLUMNS = (
    "group",
    "seed",
    "step",
    "lsd",
    "rpa",
    "rca",
    "octave_difference",
    "offset_octaves",
    "log_f0_correlation",
    "dominant_harmonic",
    "dominant_share",
)
"""The columns of the per-run evaluation the notebook prints."""

PAIR_COLUMNS = (
    "group_a",
    "group_b",
    "n",
    "mean",
    "ci_low",
    "ci_high",
    "sign_flip_p",
    "wilcoxon_p",
    "t_test_p",
    "seeds_needed",
)
"""The columns of the paired statistics the notebook shows."""

PAIRS_SHOWN = (("SOT-2048", "MSS-Lin"), ("SOT-512-LogF", "MSS-Lin"), ("SOT-512", "SOT-2048"), ("SOT-2048", "SOT-NoCut"))
"""The pairs of groups drawn seed by seed (:func:`sot_utils.study.plots.plot_paired_differences`)."""

SCATTER_GROUPS = ("SOT-2048", "MSS-Lin")
"""The groups whose runs get a predicted-against-true f0 panel."""

SPARSE_PARTIALS = (1, 2, 3)
"""The partial counts whose median offsets the notebook prints (the tones an autoencoder may read as f0 / k)."""


def training_budget(budget: int | None) -> int:
    """The training budget of the notebook's evaluation, in steps (notebook 05's ``budget`` parameter).

    Args:
        budget: training steps, or None for :data:`sot_utils.constants.CPU_BUDGET_STEPS`.
    """
    return CPU_BUDGET_STEPS if budget is None else check_int("budget", budget, minimum=1)


def tone_limit(quick: bool) -> int | None:
    """How many test tones an evaluation of notebook 05 reads: :data:`QUICK_TEST_TONES` in quick mode, None (all)
    otherwise."""
    return QUICK_TEST_TONES if check_bool("quick", quick) else None


def seeds_per_group(runs: pd.DataFrame) -> pd.Series:
    """The seeds of each group, as text (notebook 05).

    Args:
        runs: :func:`sot_utils.training.evaluate.find_runs`'s frame (``group``, ``seed``).

    Returns:
        group (in the frame's order) -> ``"42, 123, 456"``.
    """
    return runs.groupby("group", sort=False)["seed"].apply(lambda seeds: ", ".join(map(str, seeds)))


def sot_plateaus(logs: pd.DataFrame, group: str = PLATEAU_GROUP) -> dict[tuple[str, int], int | None]:
    """Where each seed of ``group`` levels off in validation RPA (notebook 05).

    The rule is :func:`sot_utils.training.evaluate.plateau_step`'s.

    Args:
        logs: stacked training logs (:func:`sot_utils.training.evaluate.load_logs`).
        group: the group whose curves are read.

    Returns:
        ``(group, seed)`` -> plateau step, None where the seed has not levelled off.
    """
    return {
        (group, seed): plateau_step(curve["step"], curve["val_rpa"])
        for seed, curve in logs[logs["group"] == group].groupby("seed")
    }


def plateau_report(logs: pd.DataFrame, plateaus: dict[tuple[str, int], int | None]) -> str:
    """Each seed's last step and plateau, and the budget the curves call for (notebook 05), as printed text.

    Args:
        logs: stacked training logs.
        plateaus: :func:`sot_plateaus`'s dict.
    """
    lines = [
        f"{group} seed {seed}: trained to {logs.loc[logs['seed'].eq(seed) & logs['group'].eq(group), 'step'].max()}, "
        f"RPA levels off at {step}"
        for (group, seed), step in plateaus.items()
    ]
    lines.append(f"budget the curves call for: {choose_budget(logs)} (None: some seed has not levelled off yet)")
    return "\n".join(lines)


def learning_curve_table(logs: pd.DataFrame) -> pd.DataFrame:
    """Validation RPA (%) of every run every :data:`~sot_utils.constants.BUDGET_STEP` steps (notebook 05).

    Args:
        logs: stacked training logs (:func:`sot_utils.training.evaluate.load_logs`).

    Returns:
        index ``(group, seed)``, one column per step; NaN where a run was not trained that far.
    """
    return metric_at_steps(logs, range(BUDGET_STEP, int(logs["step"].max()) + 1, BUDGET_STEP))


def compute_summary(compute: pd.DataFrame) -> str:
    """One line: steps and hours over all runs (notebook 05).

    Args:
        compute: :func:`sot_utils.training.evaluate.training_compute`'s frame (``steps``, ``hours``).
    """
    steps, hours = compute["steps"].sum(), compute["hours"].sum()
    if not steps > 0:
        raise ValueError("`compute` logs no training step: nothing to sum")
    return f"total: {steps:,} steps, {hours:.1f} hours ({hours / steps * 3600:.2f} s per step)"


def compute_per_run(runs: pd.DataFrame, data: str | Path, quick: bool) -> pd.DataFrame:
    """Every run on the test split (notebook 05's ``results_per_run.csv``, with the checkpoint ``path``).

    Args:
        runs: :func:`sot_utils.training.evaluate.find_runs` at the budget.
        data: the dataset file.
        quick: the first :data:`QUICK_TEST_TONES` test tones only.

    Returns:
        :func:`sot_utils.training.evaluate.evaluate_runs`'s frame, one row per run.
    """
    return evaluate_runs(runs, data, limit=tone_limit(quick), progress=False)


def claim_summary(per_run: pd.DataFrame, claim: tuple[str, str] = CLAIM) -> str:
    """The test RPA of the paper's two groups side by side (notebook 05), as printed text.

    Args:
        per_run: :func:`compute_per_run`'s frame (``group``, ``rpa``).
        claim: (the loss said to learn pitch, the loss said to fail).
    """
    a, b = claim
    if not {a, b} <= set(per_run["group"]):
        return f"{a} and {b} are not both trained to this budget yet"
    rpa = per_run.groupby("group")["rpa"]
    labels = {group: f"test RPA, {group}:" for group in claim}
    width = max(map(len, labels.values()))
    lines = [
        f"{labels[group]:<{width}} {rpa.get_group(group).mean():.1f} % "
        f"(seeds {', '.join(f'{v:.1f}' for v in rpa.get_group(group))})"
        for group in claim
    ]
    runs_a, runs_b = rpa.get_group(a), rpa.get_group(b)
    lines.append(
        f"difference {runs_a.mean() - runs_b.mean():+.1f} points; "
        f"every {a} seed above every {b} seed: {runs_a.min() > runs_b.max()}"
    )
    return "\n".join(lines)


def compute_per_budget(checkpoints_dir: str | Path, budgets, data: str | Path, quick: bool) -> pd.DataFrame:
    """Every run at each budget it reached, on the test split (notebook 05's ``rpa_against_budget.csv``).

    Args:
        checkpoints_dir: ``<group>/<seed>/`` run folders.
        budgets: training steps (ints); each run is taken with its best checkpoint up to each.
        data: the dataset file.
        quick: the first :data:`QUICK_TEST_TONES` test tones only.

    Returns:
        :func:`sot_utils.training.evaluate.evaluate_budgets`'s frame, one row per (budget, run).
    """
    return evaluate_budgets(checkpoints_dir, budgets, data, limit=tone_limit(quick), progress=False)


def budget_summary(per_budget: pd.DataFrame) -> pd.DataFrame:
    """Mean test RPA and number of seeds per group (rows) and budget (columns) (notebook 05), rounded to 0.1."""
    table = per_budget.pivot_table(index="group", columns="budget", values="rpa", aggfunc=["mean", "count"], sort=False)
    return table.round(1)


def latest_runs(per_budget: pd.DataFrame) -> pd.DataFrame:
    """Each run at the largest budget it reached (notebook 05), groups in reverse alphabetical order, seeds rising.

    Args:
        per_budget: :func:`compute_per_budget`'s frame (``group``, ``seed``, ``budget``, ``path``, ``rpa``).
    """
    latest = per_budget.sort_values("budget").groupby(["group", "seed"], sort=False).tail(1)
    return latest.sort_values(["group", "seed"], ascending=[False, True])


def run_label(run) -> str:
    """``"<group> seed <seed>, <budget> steps"``: a run's name in notebook 05's figures and in :func:`findings`.

    Args:
        run: a row of :func:`latest_runs` (attributes ``group``, ``seed``, ``budget``).
    """
    return f"{run.group} seed {run.seed}, {run.budget:,} steps"


def f0_panels(latest: pd.DataFrame, data: str | Path, quick: bool, groups=SCATTER_GROUPS) -> dict:
    """Predicted against true f0 of the runs of ``groups`` on the test split (notebook 05).

    Args:
        latest: :func:`latest_runs`'s frame.
        data: the dataset file.
        quick: the first :data:`QUICK_TEST_TONES` test tones only.
        groups: the groups drawn.

    Returns:
        panel title -> ``(f0_true_hz [N], f0_estimate_hz [N])`` (Hz), for
        :func:`sot_utils.study.plots.plot_f0_scatters`.
    """
    panels = {}
    for run in latest[latest["group"].isin(list(groups))].itertuples():
        f0 = f0_predictions(run.path, data, limit=tone_limit(quick))
        panels[f"{run_label(run)}\n(test RPA {run.rpa:.0f} %)"] = (f0["f0_true_hz"], f0["f0_estimate_hz"])
    return panels


def harmonic_share_maps(latest: pd.DataFrame, data: str | Path, quick: bool) -> dict[str, np.ndarray]:
    """Each run's share of every harmonic in its synthesized energy, per test tone (notebook 05).

    Returns:
        :func:`run_label` -> ``[n_tones, n_harmonics]`` (:func:`sot_utils.training.evaluate.harmonic_shares`).
    """
    return {run_label(run): harmonic_shares(run.path, data, limit=tone_limit(quick)) for run in latest.itertuples()}


def partial_accuracies(latest: pd.DataFrame, data: str | Path, quick: bool) -> dict[str, pd.DataFrame]:
    """Each run's test RPA by the number of audible partials of the tone (notebook 05).

    Returns:
        :func:`run_label` -> :func:`sot_utils.training.evaluate.accuracy_by_partials`'s table.
    """
    return {
        run_label(run): accuracy_by_partials(run.path, data, limit=tone_limit(quick)) for run in latest.itertuples()
    }


def sparse_offsets(by_partials: dict[str, pd.DataFrame], partials=SPARSE_PARTIALS) -> pd.DataFrame:
    """Median offset (octaves, log2 of estimate / truth) of the tones with few partials, one row per run (notebook 05).

    Args:
        by_partials: :func:`partial_accuracies`'s dict.
        partials: the partial counts (columns).
    """
    return pd.DataFrame(
        {
            run: table.set_index("partials")["offset_octaves"].reindex(list(partials))
            for run, table in by_partials.items()
        }
    ).T


def _seeds(frame: pd.DataFrame, column: str = "rpa") -> str:
    return ", ".join(f"{value:.1f}" for value in frame.sort_values("seed")[column])


def _claim_line(per_run: pd.DataFrame, pairs: pd.DataFrame, claim: tuple[str, str]) -> str | None:
    """The verdict on the paper's claim, or None if either group or their pair is missing."""
    a, b = claim
    runs_a, runs_b = per_run[per_run["group"] == a], per_run[per_run["group"] == b]
    row = pairs[(pairs["group_a"] == a) & (pairs["group_b"] == b)] if len(pairs) else pairs
    sign = 1.0
    if row.empty and len(pairs):
        row, sign = pairs[(pairs["group_a"] == b) & (pairs["group_b"] == a)], -1.0
    if not (len(runs_a) and len(runs_b) and not row.empty):
        return None
    stats = row.iloc[0]
    mean = sign * stats["mean"]
    label = verdict(float(stats["sign_flip_p"]), float(mean), SIGNIFICANCE)
    rule = (
        f"by the rule fixed before the data: supported if the exact sign-flip p is at most {SIGNIFICANCE:g} with "
        f"{a} ahead, contradicted if at most {SIGNIFICANCE:g} with {b} ahead, else inconclusive"
    )
    if "t_low" in stats:
        low, high = sorted((sign * stats["t_low"], sign * stats["t_high"]))
        interval = f"95 % t interval {low:+.1f} to {high:+.1f}"
    else:  # a table from before the t interval
        low, high = sorted((sign * stats["ci_low"], sign * stats["ci_high"]))
        interval = f"bootstrap interval {low:+.1f} to {high:+.1f}"
    needed = ""
    if not np.isnan(stats["seeds_needed"]):
        fewest, _, most = seeds_needed_range(abs(float(mean)), float(stats["std"]), int(stats["n"]))
        needed = (
            f"; a paired t-test would need **{int(stats['seeds_needed'])} seeds** to detect a difference this size at "
            f"80 % power, anywhere from {fewest:,} to {most:,} over the 95 % interval of a standard deviation "
            f"measured on {int(stats['n'])} seeds"
        )
    return (
        f"- **The paper's claim** ({a} learns pitch where {b} fails): **{label}** ({rule}). Test RPA {a} "
        f"{runs_a['rpa'].mean():.1f} % (seeds {_seeds(runs_a)}), {b} {runs_b['rpa'].mean():.1f} % (seeds "
        f"{_seeds(runs_b)}). Seed by seed, {a} minus {b} is {mean:+.1f} points on average ({interval}); "
        f"exact sign-flip p = {stats['sign_flip_p']:.2f} (with {int(stats['n'])} seeds it cannot go below "
        f"{stats['min_sign_flip_p']:.2f}){needed}."
    )


def _collapse_line(per_run: pd.DataFrame) -> str | None:
    collapsed = per_run[
        (per_run["dominant_harmonic"] >= COLLAPSE_MIN_PARTIAL)
        & (per_run["dominant_share"] >= COLLAPSE_SHARE)
        & (per_run["rpa"] < COLLAPSE_MAX_RPA)
    ]
    if not len(collapsed):
        return None
    by_seed = collapsed.groupby("seed")["group"].apply(list)
    parts = [f"seed {seed} in {len(groups)} of {per_run['group'].nunique()} groups" for seed, groups in by_seed.items()]
    partials = ", ".join(sorted({str(int(k)) for k in collapsed["dominant_harmonic"]}, key=int))
    return (
        f"- **Collapse onto one high partial** (partial {partials} carrying at least "
        f"{COLLAPSE_SHARE:.0%} of the energy, RPA under {COLLAPSE_MAX_RPA:g} %): {'; '.join(parts)}."
    )


def _pure_tone_line(per_run: pd.DataFrame, by_partials: dict[str, pd.DataFrame]) -> str | None:
    learned = []
    for label, table in by_partials.items():
        group = label.split(" seed ")[0]
        seed = int(label.split(" seed ")[1].split(",")[0])
        pure = table.loc[table["partials"] == 1, "rpa"]
        overall = per_run.loc[per_run["group"].eq(group) & per_run["seed"].eq(seed), "rpa"]
        if len(pure) and len(overall) and float(overall.iloc[0]) >= LEARNED_RPA:
            learned.append((group, float(pure.iloc[0])))
    if not learned:
        return None
    sot_pure = [p for g, p in learned if g.startswith("SOT")]
    mss_pure = [p for g, p in learned if not g.startswith("SOT")]
    return (
        f"- **Pure tones**: of the runs that learned pitch (RPA >= {LEARNED_RPA:.0f} %), the SOT runs hit "
        f"{', '.join(f'{p:.0f}' for p in sot_pure) or 'none'} % of the one-partial tones, the MSS runs "
        f"{', '.join(f'{p:.0f}' for p in mss_pure) or 'none'} %."
    )


def findings(
    per_run: pd.DataFrame,
    pairs: pd.DataFrame,
    by_partials: dict[str, pd.DataFrame],
    claim: tuple[str, str] = CLAIM,
) -> str:
    """Notebook 05's "What this shows": Markdown bullets, every number read from the tables.

    Args:
        per_run: :func:`compute_per_run` at the budget (``group``, ``seed``, ``rpa``, ``rca``, ``lsd``,
            ``dominant_harmonic``, ``dominant_share``).
        pairs: :func:`sot_utils.study.campaign.pairwise_table` of ``per_run``'s RPA.
        by_partials: :func:`run_label` (``"<group> seed <seed>, ..."``) -> accuracy by partial count
            (:func:`partial_accuracies`).
        claim: the paper's claim, (the loss said to learn, the loss said to fail).

    Returns:
        one bullet per line: the claim's verdict with the seed statistics, the best groups and runs,
        collapses, the groups that never learn, the pure tones, the share of pairs that differ.
    """
    missing = {"group", "seed", "rpa", "lsd", "dominant_harmonic", "dominant_share"} - set(per_run.columns)
    if missing:
        raise ValueError(f"`per_run` lacks the columns {sorted(missing)}")
    if not len(per_run):
        raise ValueError("`per_run` is empty: no run to describe")
    lines = [_claim_line(per_run, pairs, claim)]
    means = per_run.groupby("group")["rpa"].agg(["mean", "median", "max"])
    lines.append(
        f"- **Best group by mean test RPA: {means['mean'].idxmax()}** ({means['mean'].max():.1f} %), by "
        f"median {means['median'].idxmax()} ({means['median'].max():.1f} %); the means span "
        f"{means['mean'].min():.1f}-{means['mean'].max():.1f} %."
    )
    best = per_run.loc[per_run["rpa"].idxmax()]
    sot = per_run[per_run["group"].str.startswith("SOT")]
    line = f"- **Best run: {best['group']} seed {best['seed']}**, {best['rpa']:.1f} % RPA, LSD {best['lsd']:.1f} dB²"
    if len(sot):
        best_sot = sot.loc[sot["rpa"].idxmax()]
        line += f"; best SOT run {best_sot['group']} seed {best_sot['seed']}, {best_sot['rpa']:.1f} %"
    lines.append(line + ".")
    lines.append(_collapse_line(per_run))
    never = means[means["max"] < NEVER_RPA].index.tolist()
    if never:
        lines.append(
            f"- **No seed learns pitch** (test RPA under {NEVER_RPA:.0f} % on every seed) with: {', '.join(never)}."
        )
    lines.append(_pure_tone_line(per_run, by_partials))
    if len(pairs):
        significant = int((pairs["sign_flip_p"] < SIGNIFICANCE).sum())
        needed = pairs["seeds_needed"].dropna()
        median = f"; the median pair would need {needed.median():.0f} seeds" if len(needed) else ""
        lines.append(
            f"- **Statistics**: {significant} of {len(pairs)} pairs of groups differ at p < {SIGNIFICANCE:g} by the "
            f"exact sign-flip test{median}."
        )
    return "\n".join(line for line in lines if line is not None)
