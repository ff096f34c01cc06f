"""Does the centroid stage cause SOT-2048's misses? An intervention, planned before its runs
(docs/evidence_plan.md, "The causal test of the centroid stage").

Notebook 08 shows SOT-2048 reading tones at the f0 where the decoder's power centroid meets the
target's (:func:`sot_utils.study.traps.centroid_f0`). Here the cause of that stage, the mismatch
between the decoder's harmonic balance and the target's, is removed: an *oracle-amplitude*
decoder plays each tone's true amplitudes (``model.oracle_amplitudes``) and only f0 is learned.
The oracle runs are compared, seed by seed and at the same budget, with the shipped runs that
start from the same weights, and with SOT-NoCut (SOT-2048 in ``balanced`` mode).

- :func:`cause_run_dir`: where a run of the test lives;
- :func:`stage_statistic`: accuracy and the stage statistic ``b_M``
  (:func:`~sot_utils.study.traps.centroid_partial_slope`) of one checkpoint's predictions;
- :func:`statistic_validity`: ``b_M`` of a constant predictor and of every shipped MSS-Lin
  checkpoint, which must stay below notebook 08's threshold
  (:data:`~sot_utils.study.chapters.centroid_stage.STAGE_SLOPE`) for the statistic to be specific;
- :func:`evaluate_arms`: one row per (arm, group, seed) at the budget;
- :func:`causal_verdict`: the plan's label.

``python -m sot_utils.study.centroid_cause`` writes ``results/evidence/centroid_cause.csv``,
``centroid_cause_validity.csv`` and ``centroid_cause_verdict.csv`` (the label, the numbers it rests
on and :data:`VERDICT_RULE`; outside the notebooks' results) and prints the verdict.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.stats

from ..metrics import raw_pitch_accuracy
from ..training.checkpoint import load_checkpoint
from ..training.data import DEFAULT_PATH, ensure_dataset
from ..training.evaluate import budget_checkpoint
from ..validation import check_int
from .chapters.centroid_stage import STAGE_SLOPE, centroid_predictions, constant_predictions, stage_row
from .fresh_seeds import FRESH_DATA_PATH, FRESH_DATA_SEED, LEARNED_RPA

__all__ = [
    "ARMS",
    "CAUSE_ROOT",
    "CAUSE_SEEDS",
    "CAUSE_STEPS",
    "ORACLE_OVERLAY",
    "VERDICT_RULE",
    "causal_verdict",
    "cause_run_dir",
    "evaluate_arms",
    "main",
    "stage_statistic",
    "statistic_validity",
]

CAUSE_SEEDS = (42, 123, 456)
"""The shipped runs' seeds: every oracle run starts from its shipped run's initial weights."""
CAUSE_STEPS = 2200
"""The budget every arm is compared at (best validation-LSD checkpoint up to it)."""
CAUSE_ROOT = "checkpoints/centroid-cause"
"""Oracle run folders: ``<root>/oracle/<group>/<seed>``."""
ORACLE_OVERLAY = "sot_utils/configs/experiments/centroid-cause/oracle-amplitudes.yaml"
"""The overlay of the oracle runs (``--config``)."""
ARMS = (
    ("oracle", "SOT-2048"),
    ("oracle", "MSS-Lin"),
    ("shipped", "SOT-2048"),
    ("shipped", "MSS-Lin"),
    ("shipped", "SOT-NoCut"),
)
"""(arm, group) pairs: the oracle runs, and the shipped runs they are compared with (SOT-NoCut is
SOT-2048 in ``balanced`` mode)."""


def cause_run_dir(
    arm: str, group: str, seed: int, checkpoints_dir: str | Path = "checkpoints", root: str | Path = CAUSE_ROOT
) -> Path:
    """The run folder of one arm: ``<root>/oracle/<group>/<seed>``, or the shipped run's
    ``<checkpoints_dir>/<group>/<seed>``."""
    if (arm, group) not in ARMS:
        raise ValueError(f"`(arm, group)` must be one of {list(ARMS)}, got {(arm, group)!r}")
    check_int("seed", seed, minimum=0)
    return Path(root) / arm / group / str(seed) if arm == "oracle" else Path(checkpoints_dir) / group / str(seed)


def stage_statistic(predictions: pd.DataFrame) -> dict[str, float]:
    """RPA (%, all tones) and ``b_M`` with its standard error (tones of two or more audible partials),
    as notebook 08 computes them (:func:`~sot_utils.study.chapters.centroid_stage.stage_row`).

    Args:
        predictions: :func:`~sot_utils.study.chapters.centroid_stage.centroid_predictions`'s columns.

    Returns:
        ``{"rpa", "b_m", "b_m_se", "in_stage"}`` (``in_stage``: ``b_m >= STAGE_SLOPE``).
    """
    row = stage_row(predictions)
    return {"rpa": row["rpa"], "b_m": row["b_m"], "b_m_se": row["b_m_se"], "in_stage": bool(row["b_m"] >= STAGE_SLOPE)}


def statistic_validity(
    checkpoints_dir: str | Path = "checkpoints",
    data: str | Path = FRESH_DATA_PATH,
    reference: str | Path = DEFAULT_PATH,
    seeds=CAUSE_SEEDS,
) -> pd.DataFrame:
    """``b_M`` of the predictors that must not pass the stage statistic (the plan's validity check).

    Returns:
        one row per predictor: ``predictor`` (``"constant"`` or ``"MSS-Lin"``), ``seed``, ``step``
        (NaN for the constant), ``rpa``, ``b_m``, ``b_m_se``, ``in_stage``: the constant predictor
        (every tone at the median f0 of the training split of ``reference``) and every kept
        ``best-upto-<step>.pt`` of the shipped MSS-Lin runs.
    """
    rows = [
        {
            "predictor": "constant",
            "seed": np.nan,
            "step": np.nan,
            **stage_statistic(constant_predictions(data, reference=reference)),
        }
    ]
    for seed in seeds:
        run = cause_run_dir("shipped", "MSS-Lin", seed, checkpoints_dir)
        kept = sorted(run.glob("best-upto-*.pt"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
        for checkpoint in kept:
            statistic = stage_statistic(centroid_predictions(checkpoint, data, "test"))
            rows.append(
                {"predictor": "MSS-Lin", "seed": seed, "step": int(checkpoint.stem.rsplit("-", 1)[1]), **statistic}
            )
    return pd.DataFrame(rows)


def evaluate_arms(
    checkpoints_dir: str | Path = "checkpoints",
    root: str | Path = CAUSE_ROOT,
    data: str | Path = FRESH_DATA_PATH,
    reference_data: str | Path | None = DEFAULT_PATH,
    seeds=CAUSE_SEEDS,
    steps: int = CAUSE_STEPS,
) -> pd.DataFrame:
    """Every arm's checkpoint at the budget, scored on the fresh test split; runs short of it are left out.

    Returns:
        columns ``arm``, ``group``, ``seed``, ``step`` (of the checkpoint, chosen by validation LSD),
        ``test_rpa`` (fresh split, %), ``b_m``, ``b_m_se``, ``in_stage``, and ``test_rpa_seed0``
        (the test split of ``reference_data``, when given).
    """
    check_int("steps", steps, minimum=1)
    rows = []
    for arm, group in ARMS:
        for seed in seeds:
            checkpoint = budget_checkpoint(cause_run_dir(arm, group, seed, checkpoints_dir, root), steps)
            if checkpoint is None:
                continue
            statistic = stage_statistic(centroid_predictions(checkpoint, data, "test"))
            row = {
                "arm": arm,
                "group": group,
                "seed": seed,
                "step": int(load_checkpoint(checkpoint)["step"]),
                "test_rpa": statistic.pop("rpa"),
                **statistic,
            }
            if reference_data is not None:
                reference = centroid_predictions(checkpoint, reference_data, "test")
                row["test_rpa_seed0"] = raw_pitch_accuracy(reference["f0_true_hz"], reference["f0_estimate_hz"])
            rows.append(row)
    columns = ["arm", "group", "seed", "step", "test_rpa", "b_m", "b_m_se", "in_stage"]
    columns += ["test_rpa_seed0"] if reference_data is not None else []
    return pd.DataFrame(rows, columns=columns)


VERDICT_RULE = (
    "supported if oracle SOT-2048 learns pitch (fresh-split test RPA >= 50 %) on all three seeds, shipped "
    "SOT-2048 at the same budget on none, and no oracle SOT-2048 checkpoint is in the stage (b_M >= 0.5; "
    "ignored if the statistic is not specific); contradicted if oracle SOT-2048 learns pitch on at most "
    "one seed; else inconclusive"
)
"""The plan's rule (docs/evidence_plan.md), written beside the label in ``centroid_cause_verdict.csv``."""


def causal_verdict(arms: pd.DataFrame, validity: pd.DataFrame, n_seeds: int = len(CAUSE_SEEDS)) -> dict:
    """The plan's label on "the centroid stage causes SOT-2048's misses".

    Args:
        arms: :func:`evaluate_arms`.
        validity: :func:`statistic_validity`.
        n_seeds: the seeds of the plan; with fewer oracle SOT-2048 runs scored the label waits.

    Returns:
        ``{"label", "statistic_specific", "oracle_learned", "shipped_learned", "oracle_in_stage",
        "fisher_p", "n"}``: ``label`` is ``"supported"``, ``"contradicted"``, ``"inconclusive"``
        or ``"pending"`` (not every oracle SOT-2048 run scored yet); ``fisher_p`` is the one-sided
        exact p of oracle against shipped SOT-2048 learning pitch.
    """
    for column in ("arm", "group", "seed", "test_rpa", "in_stage"):
        if column not in arms:
            raise ValueError(f"`arms` needs a column {column!r}; it has {sorted(arms.columns)}")
    if "in_stage" not in validity:
        raise ValueError(f"`validity` needs a column 'in_stage'; it has {sorted(validity.columns)}")
    oracle = arms[(arms["arm"] == "oracle") & (arms["group"] == "SOT-2048")]
    shipped = arms[(arms["arm"] == "shipped") & (arms["group"] == "SOT-2048")]
    specific = not bool(validity["in_stage"].any())
    oracle_learned = int((oracle["test_rpa"] >= LEARNED_RPA).sum())
    shipped_learned = int((shipped["test_rpa"] >= LEARNED_RPA).sum())
    oracle_in_stage = int(oracle["in_stage"].sum())
    n = len(oracle)
    fisher_p = (
        float(
            scipy.stats.fisher_exact(
                [[oracle_learned, n - oracle_learned], [shipped_learned, len(shipped) - shipped_learned]],
                alternative="greater",
            )[1]
        )
        if n and len(shipped)
        else float("nan")
    )
    if n < n_seeds:
        label = "pending"
    elif oracle_learned <= 1:
        label = "contradicted"
    elif oracle_learned == n and shipped_learned == 0 and len(shipped) == n and (oracle_in_stage == 0 or not specific):
        label = "supported"
    else:
        label = "inconclusive"
    return {
        "label": label,
        "statistic_specific": specific,
        "oracle_learned": oracle_learned,
        "shipped_learned": shipped_learned,
        "oracle_in_stage": oracle_in_stage,
        "fisher_p": fisher_p,
        "n": n,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sot_utils.study.centroid_cause",
        description="Score the causal test of the centroid stage (docs/evidence_plan.md) and print its verdict.",
    )
    parser.add_argument(
        "--results-dir", default="results/evidence", help="where the two CSV files go (default: results/evidence)"
    )
    args = parser.parse_args(argv)
    ensure_dataset(FRESH_DATA_PATH, seed=FRESH_DATA_SEED)
    validity = statistic_validity()
    arms = evaluate_arms()
    out = Path(args.results_dir)
    out.mkdir(parents=True, exist_ok=True)
    verdict = causal_verdict(arms, validity)
    label = pd.DataFrame([{"claim": "the centroid stage causes SOT-2048's misses", **verdict, "rule": VERDICT_RULE}])
    tables = (("centroid_cause.csv", arms), ("centroid_cause_validity.csv", validity))
    for name, table in (*tables, ("centroid_cause_verdict.csv", label)):
        partial = out / f".{name}.tmp"  # never a half-written table
        table.to_csv(partial, index=False, float_format="%.6g")
        partial.replace(out / name)
    print(arms.to_string(index=False))
    print(verdict)


if __name__ == "__main__":
    main()
