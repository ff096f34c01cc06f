"""Chapter of notebooks/09_remedies_trained.ipynb: a recipe against the seed lottery, trained seed by seed.

The remedies are config options, off by default (``sot_utils/configs/remedies/<remedy>/<group>.yaml``);
their runs live under ``checkpoints/remedies/<remedy>/<group>/<seed>/`` and are compared with the
shipped run of the same group and seed at the same steps. This module computes the notebook's tables:

- :func:`remedy_status`: every configured remedy and the runs it has (:func:`status_text`: which are
  not trained yet, in words);
- :func:`load_remedy_logs` / :func:`learning_curves`: the training logs of the remedied runs next to
  the shipped runs' (the learning-curve figure);
- :func:`evaluation_budgets` / :func:`compute_remedies`: the test split at every budget both runs
  reached (``results/training_remedies.csv``); :func:`last_budget`: each remedied run at its last;
- :func:`compute_error_direction`: which side of the truth the misses fall on
  (``results/remedy_error_direction.csv``);
- :func:`load_notes` / :func:`compute_real_notes`: the real instrument notes of notebook 06, with
  the peers as notebook 06 scored them (``results/remedy_real_notes.csv``);
- :func:`findings`: the "What this shows" text, every number read from those tables.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ...configs import group_names, read_config, remedy_names
from ...constants import BUDGET_STEP, SUCCESS_CENTS
from ...metrics import pitch_error_direction, pitch_tracking
from ...training.evaluate import accuracy_by_partials, evaluate_budgets, f0_predictions, find_runs, load_logs
from ...validation import check_bool
from ..real_notes import DEFAULT_PATH as NOTES_PATH
from ..real_notes import QUICK_PATH as NOTES_QUICK_PATH
from ..real_notes import generate_real_notes, load_real_notes, save_real_notes
from ..robustness import checkpoint_estimators, evaluate_estimators

__all__ = [
    "plot_remedy_curves",
    "plot_remedy_outcomes",
    "GOAL_RPA",
    "ON_TONES",
    "PEERS_FILE",
    "QUICK_TONES",
    "compute_error_direction",
    "compute_real_notes",
    "compute_remedies",
    "evaluation_budgets",
    "findings",
    "last_budget",
    "learning_curves",
    "load_notes",
    "load_remedy_logs",
    "remedy_status",
    "status_text",
]

GOAL_RPA = 90.0
"""The goal, %: a remedy meets it on a seed when both the test RPA and the RPA on pure tones reach it."""

ON_TONES = 90.0
"""% of test tones read within :data:`~sot_utils.constants.SUCCESS_CENTS` of the truth below which the
findings list where a remedied run misses."""

QUICK_TONES = 64
"""Quick mode: test tones per checkpoint (full mode: every test tone)."""

PEERS_FILE = "peers_real_notes.csv"
"""Notebook 06's table of the peers on the real notes, read from a results folder."""

_TABLE_COLUMNS = {
    "remedy": "remedy",
    "group": "group",
    "seed": "seed",
    "budget": "step",
    "rpa": "test_rpa",
    "rca": "test_rca",
    "pure_tone_rpa": "pure_tone_rpa",
    "dominant_harmonic": "strongest_partial",
    "lsd": "test_lsd",
    "path": "path",
}
# evaluate_budgets's columns -> results/training_remedies.csv's (``path`` is dropped from the file)


def _limit(quick: bool) -> int | None:
    """Test tones per checkpoint: :data:`QUICK_TONES` in quick mode, every one (None) in full mode."""
    return QUICK_TONES if check_bool("quick", quick) else None


# --------------------------------------------------------------------------------------------
# The remedies and their learning curves


def remedy_status(remedies_dir: str | Path) -> pd.DataFrame:
    """Every configured remedy, the groups it is configured for and the runs it has (notebook 09).

    Args:
        remedies_dir: remedied runs, ``<remedy>/<group>/<seed>/`` (may not exist).

    Returns:
        one row per remedy of :func:`sot_utils.configs.remedy_names`, then any folder of runs without a
        config: ``remedy``, ``configured for`` (groups, comma-separated), ``runs`` (count of runs with a
        checkpoint), ``trained`` (``"<group> seed <seed> (<last logged step> steps)"``, or ``"not trained
        yet"``).
    """
    present = sorted(p.name for p in Path(remedies_dir).glob("*") if p.is_dir()) if Path(remedies_dir).exists() else []
    rows = []
    for remedy in list(remedy_names()) + [r for r in present if r not in remedy_names()]:
        configured = [g for g in group_names() if _configured(remedy, g)]
        runs = find_runs(Path(remedies_dir, remedy))  # none when the folder does not exist
        trained = []
        for run in runs.itertuples(index=False):
            log = Path(run.path).parent / "log.csv"
            steps = f" ({int(pd.read_csv(log)['step'].max()):,} steps)" if log.exists() else ""
            trained.append(f"{run.group} seed {run.seed}{steps}")
        rows.append(
            {
                "remedy": remedy,
                "configured for": ", ".join(configured),
                "runs": len(runs),
                "trained": ", ".join(trained) if trained else "not trained yet",
            }
        )
    return pd.DataFrame(rows, columns=["remedy", "configured for", "runs", "trained"])


def _configured(remedy: str, group: str) -> bool:
    """Whether ``remedies/<remedy>/<group>.yaml`` exists in the package's configs."""
    try:
        read_config("remedies", remedy, group)
    except FileNotFoundError:
        return False
    return True


def status_text(status: pd.DataFrame) -> str:
    """Which remedies have runs and which do not, in words (Markdown), from :func:`remedy_status` (notebook 09)."""
    if not {"remedy", "runs"} <= set(status.columns):
        raise ValueError(f"`status` needs the columns 'remedy' and 'runs', got {list(status.columns)}")
    trained = [f"`{r}`" for r, n in zip(status["remedy"], status["runs"]) if n > 0]
    untrained = [f"`{r}`" for r, n in zip(status["remedy"], status["runs"]) if n == 0]
    parts = []
    if trained:
        parts.append(f"Trained: {', '.join(trained)}.")
    parts.append(f"Configured, not trained yet: {', '.join(untrained)}." if untrained else "Every remedy has runs.")
    return " ".join(parts)


def load_remedy_logs(remedies_dir: str | Path) -> pd.DataFrame:
    """The training logs of every remedied run, stacked (notebook 09).

    Args:
        remedies_dir: remedied runs, ``<remedy>/<group>/<seed>/`` (may not exist).

    Returns:
        :func:`~sot_utils.training.evaluate.load_logs`'s columns plus ``remedy``; an empty frame when
        there is no run.
    """
    frames = []
    for remedy_dir in sorted(Path(remedies_dir).glob("*")) if Path(remedies_dir).exists() else []:
        runs = find_runs(remedy_dir)
        if len(runs):
            frames.append(load_logs(runs).assign(remedy=remedy_dir.name))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def learning_curves(remedy_logs: pd.DataFrame, checkpoints_dir: str | Path) -> pd.DataFrame:
    """The remedied runs' logs next to the shipped run of each of their group and seed (notebook 09).

    Args:
        remedy_logs: :func:`load_remedy_logs`'s table (not empty).
        checkpoints_dir: shipped runs, ``<group>/<seed>/``.

    Returns:
        the logs of both, the shipped runs (``remedy`` ``"none (shipped)"``) up to the remedied runs'
        last step, sorted by group, seed, remedy, step; as :func:`sot_utils.study.plot_remedy_curves`
        draws them.
    """
    if not len(remedy_logs):
        raise ValueError("`remedy_logs` is empty: there is no remedied run to compare")
    pairs = remedy_logs[["group", "seed"]].drop_duplicates()
    shipped = load_logs(find_runs(checkpoints_dir)).merge(pairs).assign(remedy="none (shipped)")
    shipped = shipped[shipped["step"] <= remedy_logs["step"].max()]
    return pd.concat([shipped, remedy_logs], ignore_index=True).sort_values(["group", "seed", "remedy", "step"])


# --------------------------------------------------------------------------------------------
# On the test split


def evaluation_budgets(remedy_logs: pd.DataFrame, quick: bool) -> list[int]:
    """The budgets (steps, multiples of :data:`~sot_utils.constants.BUDGET_STEP`) the remedied runs are evaluated at.

    Args:
        remedy_logs: :func:`load_remedy_logs`'s table (may be empty).
        quick: each run's last budget only (else every budget any run logged).

    Returns:
        ascending; empty when no run has reached :data:`~sot_utils.constants.BUDGET_STEP` steps.
    """
    quick = check_bool("quick", quick)
    if not len(remedy_logs):
        return []
    budgets = sorted({int(s) for s in remedy_logs["step"] if s % BUDGET_STEP == 0})
    if budgets and quick:
        reached = remedy_logs.groupby(["remedy", "group", "seed"])["step"].max() // BUDGET_STEP * BUDGET_STEP
        budgets = sorted({int(s) for s in reached if s > 0})
    return budgets


def compute_remedies(
    data: str | Path, checkpoints_dir: str | Path, remedies_dir: str | Path, budgets, quick: bool
) -> pd.DataFrame:
    """Every remedied run and the shipped run of its group and seed on the test split, per budget (notebook 09).

    Each run at a budget is its best validation-LSD checkpoint up to it
    (:func:`~sot_utils.training.evaluate.evaluate_budgets`); budgets a run has not reached are left out.

    Args:
        data: the dataset file (its test split).
        checkpoints_dir: shipped runs, ``<group>/<seed>/``.
        remedies_dir: remedied runs, ``<remedy>/<group>/<seed>/``.
        budgets: training steps (:func:`evaluation_budgets`).
        quick: the first :data:`QUICK_TONES` test tones (else every one).

    Returns:
        one row per (remedy, run, budget), sorted by group, seed, step, remedy (the shipped runs as
        remedy ``"none"``): ``remedy``, ``group``, ``seed``, ``step``, ``test_rpa``, ``test_rca``,
        ``pure_tone_rpa`` (%; NaN without pure tones), ``strongest_partial``, ``test_lsd`` (dB²) and
        ``path`` (the checkpoint); an empty frame without budgets.
    """
    limit = _limit(quick)
    budgets = list(budgets)
    if not budgets:
        return pd.DataFrame(columns=list(_TABLE_COLUMNS.values()))
    rows = []
    for remedy_dir in sorted(Path(remedies_dir).glob("*")):
        per_budget = evaluate_budgets(remedy_dir, budgets, data, progress=False, limit=limit)
        rows.append(per_budget.assign(remedy=remedy_dir.name))
    pairs = pd.concat(rows)[["group", "seed"]].drop_duplicates()
    reference = evaluate_budgets(checkpoints_dir, budgets, data, progress=False, limit=limit, pairs=pairs)
    rows.append(reference.assign(remedy="none"))
    remedies = pd.concat(rows, ignore_index=True)
    pure = []
    for row in remedies.itertuples():
        by_partials = accuracy_by_partials(row.path, data, limit=limit)
        pure.append(
            float(by_partials.loc[by_partials["partials"] == 1, "rpa"].iloc[0])
            if (by_partials["partials"] == 1).any()
            else np.nan
        )
    remedies["pure_tone_rpa"] = pure
    return (
        remedies[list(_TABLE_COLUMNS)].rename(columns=_TABLE_COLUMNS).sort_values(["group", "seed", "step", "remedy"])
    )


def last_budget(remedies: pd.DataFrame) -> pd.DataFrame:
    """Each remedied run at its last budget, and the shipped run of its group and seed at that budget (notebook 09).

    Args:
        remedies: :func:`compute_remedies`'s table (may be empty).

    Returns:
        the rows of ``remedies`` for those (remedy, group, seed, step); empty when ``remedies`` is.
    """
    if not len(remedies):
        return remedies.copy()
    run_last = remedies[remedies["remedy"] != "none"].groupby(["remedy", "group", "seed"])["step"].max().reset_index()
    return remedies.merge(pd.concat([run_last, run_last.assign(remedy="none")]).drop_duplicates())


def compute_error_direction(last: pd.DataFrame, data: str | Path, quick: bool) -> tuple[pd.DataFrame, dict]:
    """Which side of the truth each run of :func:`last_budget` misses on, per test tone (notebook 09).

    Per tone the median f0 over its frames (:func:`~sot_utils.training.evaluate.f0_predictions`),
    classified by :func:`~sot_utils.metrics.pitch_error_direction`.

    Args:
        last: :func:`last_budget`'s table (``remedy``, ``group``, ``seed``, ``step``, ``path``).
        data: the dataset file (its test split).
        quick: the first :data:`QUICK_TONES` test tones (else every one).

    Returns:
        ``(errors, panels)``: ``errors`` one row per run, sorted by group, seed, step, remedy:
        ``below (% tones)``, ``on (% tones)``, ``above (% tones)`` and ``median offset (octaves)``;
        ``panels`` title -> ``(f0_true_hz, f0_estimate_hz)`` for
        :func:`sot_utils.study.plots.plot_f0_scatters`. Both empty when ``last`` is.
    """
    limit = _limit(quick)
    if not len(last):
        return pd.DataFrame(), {}
    rows, panels = [], {}
    for r in last.itertuples():
        predicted = f0_predictions(r.path, data, limit=limit)
        truth, estimate = predicted["f0_true_hz"], predicted["f0_estimate_hz"]
        direction = pitch_error_direction(truth, estimate)
        rows.append(
            {
                "remedy": r.remedy,
                "group": r.group,
                "seed": r.seed,
                "step": r.step,
                "below (% tones)": direction["below"],
                "on (% tones)": direction["on"],
                "above (% tones)": direction["above"],
                "median offset (octaves)": pitch_tracking(truth, estimate)["offset_octaves"],
            }
        )
        panels[f"{r.remedy}, seed {r.seed}, {r.step} steps"] = (truth, estimate)
    return pd.DataFrame(rows).sort_values(["group", "seed", "step", "remedy"], ignore_index=True), panels


# --------------------------------------------------------------------------------------------
# On real instrument notes


def load_notes(quick: bool, repo_root: str | Path = "..") -> dict:
    """Notebook 06's real instrument notes (rendered and saved first if the file is missing) (notebook 09).

    Args:
        quick: the quick set (``data/real_notes_sr16000_quick.pt``), else the full one.
        repo_root: the repository's root (the notebooks run in ``notebooks/``).

    Returns:
        :func:`sot_utils.study.real_notes.load_real_notes`'s examples (``audio``, ``f0_hz``, ...).
    """
    quick = check_bool("quick", quick)
    path = Path(repo_root) / (NOTES_QUICK_PATH if quick else NOTES_PATH)
    if not path.exists():
        save_real_notes(generate_real_notes(quick=quick), path)
    return load_real_notes(path)


def compute_real_notes(last: pd.DataFrame, notes: dict, results_dirs) -> pd.DataFrame:
    """The runs of :func:`last_budget` on the real notes, next to the peers as notebook 06 scored them (notebook 09).

    One f0 per note (the median over frames), RPA and RCA per note
    (:func:`~sot_utils.study.robustness.evaluate_estimators`).

    Args:
        last: :func:`last_budget`'s table (``remedy``, ``group``, ``seed``, ``step``, ``path``).
        notes: :func:`load_notes`'s examples (``audio`` ``[N, n_samples]`` at 16 kHz, ``f0_hz`` ``[N]``).
        results_dirs: folders searched in order for notebook 06's :data:`PEERS_FILE`; the peers (its
            rows over all notes, named without "seed") are added from the first found, none if none is.

    Returns:
        :func:`~sot_utils.study.robustness.evaluate_estimators`'s columns (``estimator`` named
        ``"<group> seed <seed>, <remedy>, <step> steps"``, ``n_tones``, ``rpa``, ``rca``, ...), then the
        peers' rows; an empty frame when ``last`` is.
    """
    if not len(last):
        return pd.DataFrame()
    paths = {f"{r.group} seed {r.seed}, {r.remedy}, {r.step} steps": r.path for r in last.itertuples()}
    rows = evaluate_estimators(checkpoint_estimators(paths), notes["audio"], notes["f0_hz"])
    peers_file = next((Path(d) / PEERS_FILE for d in results_dirs if (Path(d) / PEERS_FILE).exists()), None)
    if peers_file is not None:
        peers = pd.read_csv(peers_file)
        peers = peers[(peers["group"] == "all") & ~peers["estimator"].str.contains("seed")].drop(columns="group")
        rows = pd.concat([rows, peers], ignore_index=True)
    return rows


# --------------------------------------------------------------------------------------------
# What this shows


def _seed_lines(remedies: pd.DataFrame, last: pd.DataFrame) -> list[str]:
    """Per group, seed and step where a remedied run ended: every remedy evaluated there against the shipped run."""
    lines = []
    # every remedy evaluated where a remedied run ended (an ablation's end meets the recipe's curve there)
    for (group, seed, step), _ in last.groupby(["group", "seed", "step"]):
        by = remedies[(remedies["group"] == group) & (remedies["seed"] == seed) & (remedies["step"] == step)]
        by = by.set_index("remedy")
        if "none" in by.index:
            runs = ", ".join(
                f"{remedy} {by.loc[remedy, 'test_rpa']:.1f} % (pure tones {by.loc[remedy, 'pure_tone_rpa']:.0f} %)"
                for remedy in by.index
                if remedy != "none"
            )
            lines.append(
                f"- {group} seed {seed} at {int(step)} steps, test RPA: {runs}; "
                f"shipped {by.loc['none', 'test_rpa']:.1f} % (pure tones {by.loc['none', 'pure_tone_rpa']:.0f} %)."
            )
    return lines


def _miss_line(errors: pd.DataFrame) -> str:
    """Where the remedied runs that read fewer than :data:`ON_TONES` % of the tones on the truth miss."""
    missed = errors[(errors["remedy"] != "none") & (errors["on (% tones)"] < ON_TONES)]
    if not len(missed):
        return (
            f"- **Every remedied run reads at least {ON_TONES:.0f} % of the test tones within "
            f"{SUCCESS_CENTS:.0f} cents.**"
        )
    return (
        "- **Where the remedied runs miss** (% of test tones below / above the truth): "
        + "; ".join(
            f"{remedy} seed {seed} at {step} steps {below:.0f} / {above:.0f}"
            for remedy, seed, step, below, above in missed[
                ["remedy", "seed", "step", "below (% tones)", "above (% tones)"]
            ].itertuples(index=False)
        )
        + "."
    )


def _goal_lines(last: pd.DataFrame) -> list[str]:
    """Per remedy and group: how many of its runs meet the goal at their last budget."""
    lines = []
    for (remedy, group), runs in last[last["remedy"] != "none"].groupby(["remedy", "group"]):
        met = (runs["test_rpa"] >= GOAL_RPA) & (runs["pure_tone_rpa"] >= GOAL_RPA)
        lines.append(
            f"- **The goal (test RPA of at least {GOAL_RPA:.0f} %, pure tones included, on every seed) under {remedy} "
            f"for {group}: met by {int(met.sum())} of {len(runs)} runs** (best {runs['test_rpa'].max():.1f} %, worst "
            f"{runs['test_rpa'].min():.1f} %)."
        )
    return lines


def _real_notes_line(real_rows: pd.DataFrame) -> str | None:
    """The best remedied run on the real notes against the best peer scored on every note (None without both)."""
    ours = real_rows[real_rows["estimator"].str.contains("seed") & ~real_rows["estimator"].str.contains(", none,")]
    theirs = real_rows[~real_rows["estimator"].str.contains("seed")]
    theirs = theirs[theirs["n_tones"] == ours["n_tones"].max()]  # peers scored on every note
    if not (len(ours) and len(theirs)):
        return None
    best, peer = ours.loc[ours["rpa"].idxmax()], theirs.loc[theirs["rpa"].idxmax()]
    return (
        f"- On the real instrument notes the best remedied run ({best['estimator']}) scores "
        f"{best['rpa']:.1f} % RPA, against {peer['rpa']:.1f} % for the best peer ({peer['estimator']})."
    )


def findings(remedies: pd.DataFrame, last: pd.DataFrame, errors: pd.DataFrame, real_rows: pd.DataFrame) -> str:
    """The "What this shows" text of notebook 09, every number read from its tables.

    Args:
        remedies: :func:`compute_remedies`'s table.
        last: :func:`last_budget`'s table.
        errors: :func:`compute_error_direction`'s table.
        real_rows: :func:`compute_real_notes`'s table.
        Each may be empty (no remedied run yet): its bullets are then left out.

    Returns:
        Markdown bullets: each seed's test RPA per remedy against the shipped run, where the remedied
        runs miss, whether each remedy meets the goal (:data:`GOAL_RPA`), the best remedied run on the
        real notes against the best peer.
    """
    lines = []
    if len(remedies):
        lines += _seed_lines(remedies, last)
    if len(errors):
        lines.append(_miss_line(errors))
    if len(remedies):
        lines += _goal_lines(last)
    if len(real_rows):
        line = _real_notes_line(real_rows)
        lines += [line] if line else []
    return "\n".join(lines)


def _remedy_colours(remedies: list[str]) -> dict[str, str]:
    """The first remedy (the shipped runs, as the notebooks order them) grey, then tab10 colours, cycled."""
    palette = ("tab:green", "tab:purple", "tab:orange", "tab:blue", "tab:red", "tab:brown", "tab:pink", "tab:olive")
    return {remedy: "0.55" if i == 0 else palette[(i - 1) % len(palette)] for i, remedy in enumerate(remedies)}


def plot_remedy_curves(logs: pd.DataFrame, metric: str = "val_rpa", label: str = "validation RPA (%)"):
    """Validation curves of remedied runs against the shipped runs, one panel per group and seed.

    Args:
        logs: training logs with columns ``remedy`` (``"none"`` for the shipped runs), ``group``,
            ``seed``, ``step`` and ``metric``.
    """
    panels = list(dict.fromkeys(zip(logs["group"], logs["seed"])))
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.4 * columns, 3.0 * rows), squeeze=False, sharey=True)
    colours = _remedy_colours(list(dict.fromkeys(logs["remedy"])))
    for ax, (group, seed) in zip(axes.flat, panels):
        run = logs[(logs["group"] == group) & (logs["seed"] == seed)]
        for remedy, curve in run.groupby("remedy", sort=False):
            ax.plot(curve["step"], curve[metric], color=colours[remedy], label=remedy)
        ax.set_title(f"{group}, seed {seed}")
        ax.set_xlabel("step")
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel(label)
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_remedy_outcomes(table: pd.DataFrame, goal: float = 90.0):
    """Each run's test RPA at its last budget, seed by seed, one panel per group (notebook 09).

    A bar per remedy and seed (the shipped runs, remedy ``"none"``, in grey and first) at the
    remedied run's last budget; a black dot on each bar marks the RPA on pure tones, and a dashed
    line the goal: a remedy meets it on a seed when both the bar and its dot reach the line.

    Args:
        table: rows with ``remedy``, ``group``, ``seed``, ``step``, ``test_rpa`` and ``pure_tone_rpa``
            (%, NaN when no pure tone was scored); of several steps per (remedy, group, seed) the
            last is drawn.
        goal: the target RPA (%), drawn as a dashed line.
    """
    last = table.sort_values("step").groupby(["remedy", "group", "seed"], sort=False).tail(1)
    remedies = ["none"] + sorted(set(last["remedy"]) - {"none"})
    colours = _remedy_colours(remedies)
    groups = list(dict.fromkeys(table["group"]))
    fig, axes = plt.subplots(1, len(groups), figsize=(4.8 * len(groups), 4.0), squeeze=False, sharey=True)
    for ax, group in zip(axes[0], groups):
        runs = last[last["group"] == group]
        seeds = sorted(set(runs["seed"]))
        present = [r for r in remedies if r in set(runs["remedy"])]
        width = 0.8 / len(present)
        for i, remedy in enumerate(present):
            rows = runs[runs["remedy"] == remedy].set_index("seed").reindex(seeds)
            x = np.arange(len(seeds)) - 0.4 + width * (i + 0.5)
            label = "shipped" if remedy == "none" else remedy
            ax.bar(x, rows["test_rpa"], width=width, color=colours[remedy], label=label)
            ax.plot(x, rows["pure_tone_rpa"], "o", color="black", markersize=3.5)
        ax.axhline(goal, color="black", linestyle="--", linewidth=0.8)
        ax.set_xticks(np.arange(len(seeds)), [f"seed {seed}" for seed in seeds])
        ax.set_title(f"{group}, at each remedied run's last budget")
        ax.set_ylim(0, 105)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, frameon=False)
    axes[0, 0].set_ylabel("test RPA (%); dots: pure tones")
    fig.tight_layout()
    return fig
