"""The recipe on seeds it never saw, scored on a test split nobody looked at (docs/evidence_plan.md).

The recipe of notebook 09 was designed on seeds 42, 123 and 456 and the test split of data seed 0.
The plan fixed before these runs (docs/evidence_plan.md) trains it and the shipped MSS-Lin
configuration on six new seeds (:data:`FRESH_SEEDS`) for :data:`FRESH_STEPS` steps, scores each
run's best checkpoint (lowest validation LSD) on the test split of a new data seed
(:data:`FRESH_DATA_SEED`), and labels two claims by rules stated there:

1. "the recipe reads pitch better than the shipped configuration": the exact sign-flip test of the
   paired differences of test RPA (:func:`sot_utils.study.campaign.verdict`);
2. "the recipe is not a seed lottery": the Clopper-Pearson interval of its rate of runs at or above
   :data:`GOAL_RPA` (supported if its lower bound is at least one half, contradicted if its upper
   bound is below one half).

- :func:`fresh_run_dir`: where a run of the plan lives;
- :func:`evaluate_fresh_seeds`: one row per run (configuration, group, seed, step, test RPA on
  the fresh split and on the split of data seed 0);
- :func:`fresh_seed_verdicts`: success rates with their intervals, the paired test, the labels.

``python -m sot_utils.study.fresh_seeds`` writes ``results/evidence/fresh_seeds.csv`` (the runs
finished so far); once all six seeds of both configurations are scored, also the success rates
(``fresh_seeds_rates.csv``) and the labels with their rules (``fresh_seeds_verdicts.csv``,
:func:`verdict_table`), and prints them; until then the labels are ``pending``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from ..training.checkpoint import load_checkpoint
from ..training.data import DEFAULT_PATH, ensure_dataset
from ..training.evaluate import budget_checkpoint, evaluate_checkpoint
from ..validation import check_int
from .campaign import clopper_pearson, paired_statistics, verdict

__all__ = [
    "CONFIGURATIONS",
    "FRESH_DATA_PATH",
    "FRESH_DATA_SEED",
    "FRESH_ROOT",
    "FRESH_SEEDS",
    "FRESH_STEPS",
    "GOAL_RPA",
    "LEARNED_RPA",
    "evaluate_fresh_seeds",
    "fresh_run_dir",
    "fresh_seed_verdicts",
    "main",
    "verdict_table",
]

FRESH_SEEDS = (789, 101112, 2024, 31337, 271828, 1618)
"""Seeds never trained with either configuration before the plan (docs/evidence_plan.md)."""
FRESH_STEPS = 2200
"""Steps of every run of the plan (the recipe's earlier runs had passed 97 % validation RPA there)."""
FRESH_DATA_SEED = 20261207
"""The data seed of the fresh test split."""
FRESH_DATA_PATH = f"data/harmonic_sr16000_n4000_seed{FRESH_DATA_SEED}.pt"
"""Its file (``python -m sot_utils.training.data --seed 20261207 --out <this>``)."""
FRESH_ROOT = "checkpoints/fresh-seeds"
"""Run folders: ``<root>/<configuration>/<group>/<seed>``."""
CONFIGURATIONS = {"recipe": "recipe", "shipped": None}
"""Configuration name -> the remedy it applies to group MSS-Lin (None: the group as shipped)."""
LEARNED_RPA = 50.0
"""A run learns pitch at or above this test RPA (%), the study's rule."""
GOAL_RPA = 90.0
"""The recipe's goal: test RPA (%) of every run."""


def fresh_run_dir(configuration: str, seed: int, group: str = "MSS-Lin", root: str | Path = FRESH_ROOT) -> Path:
    """``<root>/<configuration>/<group>/<seed>``: the run folder of one run of the plan."""
    if configuration not in CONFIGURATIONS:
        raise ValueError(f"`configuration` must be one of {sorted(CONFIGURATIONS)}, got {configuration!r}")
    check_int("seed", seed, minimum=0)
    return Path(root) / configuration / group / str(seed)


def evaluate_fresh_seeds(
    root: str | Path = FRESH_ROOT,
    data: str | Path = FRESH_DATA_PATH,
    reference_data: str | Path | None = DEFAULT_PATH,
    seeds=FRESH_SEEDS,
    steps: int = FRESH_STEPS,
    group: str = "MSS-Lin",
    device: str = "cpu",
) -> pd.DataFrame:
    """Score every finished run of the plan: one row per (configuration, seed).

    Args:
        root: the runs' root folder (:func:`fresh_run_dir`).
        data: the fresh dataset file; its test split is scored.
        reference_data: the dataset of the earlier runs (data seed 0), scored too for comparison
            (None: skipped).
        seeds: the seeds to score; a run that has not reached ``steps`` is left out.
        steps: the budget: each run's best checkpoint up to this step.

    Returns:
        columns ``remedy`` (the configuration), ``group``, ``seed``, ``step`` (of the checkpoint
        scored, chosen by validation LSD), ``test_rpa`` (fresh split, %), ``test_rca``,
        ``test_rpa_seed0`` (the earlier test split, when ``reference_data`` is given).
    """
    check_int("steps", steps, minimum=1)
    rows = []
    for configuration in CONFIGURATIONS:
        for seed in seeds:
            checkpoint = budget_checkpoint(fresh_run_dir(configuration, seed, group, root), steps)
            if checkpoint is None:
                continue
            metrics = evaluate_checkpoint(checkpoint, data, "test", device)
            row = {
                "remedy": configuration,
                "group": group,
                "seed": seed,
                "step": int(load_checkpoint(checkpoint)["step"]),
                "test_rpa": metrics["rpa"],
                "test_rca": metrics["rca"],
            }
            if reference_data is not None:
                row["test_rpa_seed0"] = evaluate_checkpoint(checkpoint, reference_data, "test", device)["rpa"]
            rows.append(row)
    columns = ["remedy", "group", "seed", "step", "test_rpa", "test_rca"]
    columns += ["test_rpa_seed0"] if reference_data is not None else []
    return pd.DataFrame(rows, columns=columns)


def fresh_seed_verdicts(runs: pd.DataFrame, confidence: float = 0.95, alpha: float = 0.05) -> dict:
    """Success rates with their intervals, the paired comparison and the two labels of the plan.

    Args:
        runs: :func:`evaluate_fresh_seeds`.

    Returns:
        ``{"rates": DataFrame, "paired": dict, "better": str, "not_a_lottery": str}``: ``rates``
        has one row per configuration (``runs``, ``learned``, ``goal``, and the Clopper-Pearson
        bounds ``goal_low``, ``goal_high`` and ``learned_low``, ``learned_high`` as %); ``paired``
        is :func:`sot_utils.study.campaign.paired_statistics` of recipe minus shipped test RPA
        over the seeds both have (None with fewer than two); the labels follow the plan's rules.
    """
    for column in ("remedy", "seed", "test_rpa"):
        if column not in runs:
            raise ValueError(f"`runs` needs a column {column!r}; it has {sorted(runs.columns)}")
    rates = []
    for configuration, frame in runs.groupby("remedy", sort=False):
        n = len(frame)
        learned = int((frame["test_rpa"] >= LEARNED_RPA).sum())
        goal = int((frame["test_rpa"] >= GOAL_RPA).sum())
        learned_low, learned_high = clopper_pearson(learned, n, confidence)
        goal_low, goal_high = clopper_pearson(goal, n, confidence)
        rates.append(
            {
                "remedy": configuration,
                "runs": n,
                "learned": learned,
                "learned_low": 100 * learned_low,
                "learned_high": 100 * learned_high,
                "goal": goal,
                "goal_low": 100 * goal_low,
                "goal_high": 100 * goal_high,
            }
        )
    rates = pd.DataFrame(rates)
    table = runs.pivot_table(index="seed", columns="remedy", values="test_rpa")
    paired, better = None, "inconclusive"
    if {"recipe", "shipped"} <= set(table.columns):
        differences = (table["recipe"] - table["shipped"]).dropna()
        if len(differences) >= 2:
            paired = paired_statistics(differences.to_numpy(), confidence=confidence)
            better = verdict(paired["sign_flip_p"], paired["mean"], alpha)
    not_a_lottery = "inconclusive"
    recipe = rates[rates["remedy"] == "recipe"]
    if len(recipe):
        low, high = float(recipe["goal_low"].iloc[0]), float(recipe["goal_high"].iloc[0])
        if low >= 50.0:
            not_a_lottery = "supported"
        elif high < 50.0:
            not_a_lottery = "contradicted"
    return {"rates": rates, "paired": paired, "better": better, "not_a_lottery": not_a_lottery}


def verdict_table(verdicts: dict) -> pd.DataFrame:
    """The plan's two claims with their labels and the numbers each rule reads (``results/evidence/
    fresh_seeds_verdicts.csv``).

    Args:
        verdicts: :func:`fresh_seed_verdicts`.

    Returns:
        one row per claim: ``claim``, ``label``, ``rule``, ``statistic``, ``value``, ``low``, ``high``
        (the sign-flip p with the mean paired difference and its t interval, in points of test RPA;
        the recipe's runs at the goal with their Clopper-Pearson interval, in %).
    """
    paired = verdicts["paired"] or {}
    recipe = verdicts["rates"].set_index("remedy").loc["recipe"]
    return pd.DataFrame(
        [
            {
                "claim": "the recipe reads pitch better than the shipped MSS-Lin configuration",
                "label": verdicts["better"],
                "rule": "supported if the exact sign-flip p <= 0.05 and the mean difference > 0; "
                "contradicted if p <= 0.05 and it is < 0; else inconclusive",
                "statistic": f"sign-flip p = {paired.get('sign_flip_p', float('nan')):.4g}; mean recipe - shipped",
                "value": paired.get("mean", float("nan")),
                "low": paired.get("t_low", float("nan")),
                "high": paired.get("t_high", float("nan")),
            },
            {
                "claim": "the recipe is not a seed lottery",
                "label": verdicts["not_a_lottery"],
                "rule": f"supported if the Clopper-Pearson lower bound of the rate of runs at {GOAL_RPA:g} % or more "
                "is >= 50 %; contradicted if its upper bound is < 50 %; else inconclusive",
                "statistic": f"runs at the goal: {int(recipe['goal'])} of {int(recipe['runs'])} (%)",
                "value": 100 * recipe["goal"] / recipe["runs"],
                "low": recipe["goal_low"],
                "high": recipe["goal_high"],
            },
        ]
    )


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    partial = path.with_name(f".{path.name}.tmp")  # never a half-written table
    frame.to_csv(partial, index=False, float_format="%.6g")
    partial.replace(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sot_utils.study.fresh_seeds",
        description="Score the fresh-seed runs (docs/evidence_plan.md) on the fresh test split and print the labels.",
    )
    parser.add_argument("--results-dir", default="results/evidence", help="where fresh_seeds.csv goes")
    args = parser.parse_args(argv)
    ensure_dataset(FRESH_DATA_PATH, seed=FRESH_DATA_SEED)
    runs = evaluate_fresh_seeds()
    out = Path(args.results_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(runs, out / "fresh_seeds.csv")
    print(runs.to_string(index=False))
    complete = all((runs["remedy"] == name).sum() == len(FRESH_SEEDS) for name in CONFIGURATIONS)
    if not complete:
        print(f"labels pending: {len(runs)} of {len(FRESH_SEEDS) * len(CONFIGURATIONS)} runs scored")
        return
    verdicts = fresh_seed_verdicts(runs)
    _write_csv(verdicts["rates"], out / "fresh_seeds_rates.csv")
    _write_csv(verdict_table(verdicts), out / "fresh_seeds_verdicts.csv")
    print(verdicts["rates"].to_string(index=False))
    print(f"better: {verdicts['better']}; not a seed lottery: {verdicts['not_a_lottery']}")


if __name__ == "__main__":
    main()
