"""Numbers quoted in the docs are the ones the committed results hold.

Every result number of README.md and the book's pages (docs/*.md) is a *claim* in `CLAIMS`, one line each:
the file that quotes it, a pattern anchored on its sentence, the function that reads the value(s) from the
committed results, and the decimals the prose rounds to. The sources are the tables in `results/` (CSV,
Markdown), the executed notebooks' outputs and papermill metadata in `results/notebooks/`, the benchmark
suite's `benchmarks/results.json` (the speed-ups of docs/performance.md, the explorer's latencies) and, for the
learning curves, the shipped runs' `checkpoints/**/log.csv`. A claim fails when either side changes: the prose
(its pattern no longer matches once, or its number differs) or the results (the number they round to
differs). Nothing is trained or evaluated here.

Pattern syntax: the prose itself (whitespace-normalised: line breaks count as spaces), with `#` for a
number (`1,020`, `9 900`, `−30.6`, `+12.4`), `@` for a number written as a word (`three`, `an`) and `…` for
any text in between. Each pattern must match exactly once in its file.

Not checked, for want of a committed source: README's quick-mode notebook times (04-09 record none) and
"about 50 minutes" for `make reproduce`; in docs/training.md the per-step CPU times (1.25-1.5 s, 1.5-1.8 s,
5-10x, 1.0 -> 8.9 s), the GPU sessions' throughputs and wall times (7.3 and 90 steps/s, 82 steps/s, 99 %,
11 and 13 minutes; only their steps are checked, and that they add up), the end-to-end ensemble times (1.4 h,
1.1 h, 1.3x: docs/performance.md, not benchmarks/results.json), the regenerated data's 2.4e-7 and 1.5e-7,
and the loosely worded spans ("near chance for the first 2,000-3,700 steps", "2,000-3,000 steps past").
In docs/performance.md, the measurements that benchmarks/results.json does not hold: the earlier machines' and
code's ratios, the separate-process GPU rate (82 steps/s, 2.6 h), the end-to-end and `torch.compile` times, the
CUDA profile and FLOP counts, the layer-by-layer layout timings, the repeated GPU timings, the CPU ensemble
ratios and validations, the bfloat16 changes on a CPU, the 440-step LSDs, the argument checks' 0.1 vs 3.6 ms and
the 2-thread training-step paragraph (3.19-3.54x, its per-part gains, 1.25-1.5 s per step, 0.34 s, 42 GFLOP).
docs/method.md's measured facts about the reference code and docs/choices.md's 1.5 % and 3e-4 (both in
method.md too) were measured by hand and are not recorded; docs/package.md's FreePats counts are in
`sot_utils/study/freepats.py` only. Derived constants (the CQT's bins and kernels, the encoder's 46,012
parameters, tested in tests/training/test_train.py) are settings, not results.
"""

import json
import math
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pytest
from scipy import stats

from sot_utils.study.chapters.centroid_stage import STAGE_SLOPE
from sot_utils.study.chapters.results_table import LEARNED_RPA

REPO = Path(__file__).parents[2]
RESULTS = REPO / "results"
CHECKPOINTS = REPO / "checkpoints"
README, INDEX, TRAINING, FINDINGS = "README.md", "docs/index.md", "docs/training.md", "docs/findings.md"
PERFORMANCE, METHOD, EXPLORER = "docs/performance.md", "docs/method.md", "docs/explorer.md"
PACKAGE, REPRODUCING, PLAN = "docs/package.md", "docs/reproducing.md", "docs/evidence_plan.md"

SMOOTHING = 3  # evaluate.plateau_step's running median (validations), the rule docs/training.md states


def test_the_reproducing_page_quotes_the_executed_notebooks_times():
    """docs/reproducing.md quotes the time papermill recorded in each executed notebook, and their sum (read from
    the notebooks' metadata: nothing is timed here)."""
    docs = " ".join((REPO / "docs" / "reproducing.md").read_text().split())  # line breaks as spaces
    recorded = {
        path.name: json.loads(path.read_text())["metadata"]["papermill"]["duration"]
        for path in sorted((REPO / "results" / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    }
    assert len(recorded) == 10
    for name, seconds in recorded.items():
        assert f"{round(seconds):,} s" in docs, f"docs/reproducing.md does not quote {name}'s {seconds:.0f} s"
    assert f"sum to {round(sum(recorded.values())):,} s" in docs


# ---------------------------------------------------------------------------------------------------------------
# Reading the results (each file once).


@cache
def csv(name: str) -> pd.DataFrame:
    return pd.read_csv(RESULTS / name)


@cache
def notebook_text(number: str) -> str:
    """The text outputs of an executed notebook, results/notebooks/<number>_*.ipynb, joined."""
    (path,) = (RESULTS / "notebooks").glob(f"{number}_*.ipynb")
    texts = []
    for cell in json.loads(path.read_text())["cells"]:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            texts.append("".join(output.get("text") or data.get("text/markdown") or data.get("text/plain") or ""))
    return "\n".join(texts)


def notebook_numbers(number: str, pattern: str) -> tuple[float, ...]:
    """The groups of the one match of `pattern` in a notebook's outputs, as numbers."""
    matches = re.findall(pattern, notebook_text(number))
    assert len(matches) == 1, f"notebook {number}'s outputs match {pattern!r} {len(matches)} times, not once"
    found = matches[0] if isinstance(matches[0], tuple) else (matches[0],)
    return tuple(float(value.replace(",", "")) for value in found)


def notebook_number(number: str, pattern: str) -> float:
    (value,) = notebook_numbers(number, pattern)
    return value


def papermill_seconds(number: str) -> float:
    (path,) = (RESULTS / "notebooks").glob(f"{number}_*.ipynb")
    return json.loads(path.read_text())["metadata"]["papermill"]["duration"]


@cache
def log(group: str, seed: int, remedy: str | None = None) -> pd.DataFrame:
    """A run's training log indexed by step: a shipped run, or checkpoints/remedies/<remedy>/<group>/<seed>."""
    folder = (
        CHECKPOINTS / group / str(seed) if remedy is None else CHECKPOINTS / "remedies" / remedy / group / str(seed)
    )
    return pd.read_csv(folder / "log.csv").set_index("step")


def learned_rpa() -> float:
    """The study's rule: a run learns pitch when its test RPA is at least this (%)."""
    return float(LEARNED_RPA)


def same(*values: float, decimals: int) -> float:
    """One number quoted for several values: the first if they all round alike, else NaN."""
    return values[0] if len({round(value, decimals) for value in values}) == 1 else math.nan


# ---------------------------------------------------------------------------------------------------------------
# Notebook 05: the shipped runs (results_per_run.csv, results_table.csv, paired_statistics.csv).


def budget() -> float:
    return notebook_number("05", r"budget the curves call for: (\d+)")


@cache
def table() -> pd.DataFrame:
    return pd.read_csv(RESULTS / "results_table.csv", header=[0, 1], index_col=0)


def seeds_per_group() -> float:
    (n,) = set(table()[("seeds", "n")])
    return n


def table_budget() -> tuple[float, int]:
    return budget(), n_test_tones()


def budget_and_seeds() -> tuple[float, float]:
    return budget(), seeds_per_group()


def campaign_size() -> tuple[float, float, int]:
    return budget(), seeds_per_group(), len(csv("results_per_run.csv"))


def rpa_stats(stat: str) -> tuple[float, float]:
    """MSS-Lin's and SOT-2048's test RPA over seeds (results_table.csv)."""
    return table().loc["MSS-Lin", ("RPA", stat)], table().loc["SOT-2048", ("RPA", stat)]


def group_rpas(group: str) -> pd.Series:
    runs = csv("results_per_run.csv")
    return runs[runs["group"] == group].set_index("seed")["rpa"]


def learned(group: str) -> tuple[int, int]:
    """(seeds that learn pitch, seeds) of a shipped group."""
    return int((group_rpas(group) >= learned_rpa()).sum()), len(group_rpas(group))


def mss_lin_learns() -> tuple[float, ...]:
    return learned_rpa(), *learned("MSS-Lin"), group_rpas("MSS-Lin")[123]


def n_test_tones() -> int:
    """The test split's size: the tones every shipped run is scored on in notebook 06."""
    rows = csv("peers_synthetic.csv")
    (n,) = set(rows[rows["estimator"].str.contains(r"\(seed \d+\)")]["n_tones"])
    return n


def best_rpa_if(group: str, seed: int) -> float:
    """The best shipped run's test RPA if it is `group` seed `seed`, else NaN ("the best run is ...")."""
    runs = csv("results_per_run.csv")
    best = runs.loc[runs["rpa"].idxmax()]
    return best["rpa"] if (best["group"], best["seed"]) == (group, seed) else math.nan


def best_run() -> float:
    return best_rpa_if("MSS-Lin", 456)


def best_sot() -> tuple[float, float]:
    """The best SOT run, if SOT-512-LogF seed 123: its test RPA, and how many octaves low it reads pure tones."""
    runs = csv("results_per_run.csv")
    sot = runs[runs["group"].str.startswith("SOT")]
    best = sot.loc[sot["rpa"].idxmax()]
    octaves_low = -notebook_number("05", r"SOT-512-LogF seed 123, 9,900 steps\s+(-?[\d.]+)")  # 1-partial offset
    return best["rpa"] if (best["group"], best["seed"]) == ("SOT-512-LogF", 123) else math.nan, octaves_low


def mss_sot(column: str) -> float:
    """paired_statistics.csv, MSS-Lin minus SOT-2048."""
    pairs = csv("paired_statistics.csv")
    return pairs[(pairs["group_a"] == "MSS-Lin") & (pairs["group_b"] == "SOT-2048")][column].item()


def sign_flip() -> tuple[float, float]:
    return mss_sot("min_sign_flip_p"), mss_sot("sign_flip_p")


def paired_differences() -> tuple[float, ...]:
    return mss_sot("mean"), *(group_rpas("MSS-Lin") - group_rpas("SOT-2048")).loc[[42, 123, 456]]


def paired_sd() -> tuple[float, float]:
    return mss_sot("std"), mss_sot("n")


def sign_flip_floor() -> tuple[float, int]:
    """The smallest reachable p, if no pair of groups comes below it, and the number of pairs."""
    pairs = csv("paired_statistics.csv")
    (floor,) = set(pairs["min_sign_flip_p"])
    return floor if (pairs["sign_flip_p"] >= floor).all() else math.nan, len(pairs)


def sd_range(level: float = 0.95) -> tuple[float, float]:
    """The chi-square interval of the standard deviation of the MSS-Lin minus SOT-2048 differences (n - 1 dof)."""
    dof = int(mss_sot("n")) - 1
    high_q, low_q = stats.chi2.ppf([(1 + level) / 2, (1 - level) / 2], dof)
    return mss_sot("std") * math.sqrt(dof / high_q), mss_sot("std") * math.sqrt(dof / low_q)


def pure_tones_octaves_low(run: str) -> float:
    return -notebook_number("05", re.escape(run) + r"\s+(-?[\d.]+)")


# ---------------------------------------------------------------------------------------------------------------
# Notebook 09: the remedies (training_remedies.csv, remedy_real_notes.csv, peers_real_notes.csv).


def remedy(name: str, group: str, seed: int, step: int | None = None, column: str = "test_rpa") -> float:
    """A run of training_remedies.csv (remedy "none": the shipped run) at `step`, or at its last step."""
    runs = csv("training_remedies.csv")
    run = runs[(runs["remedy"] == name) & (runs["group"] == group) & (runs["seed"] == seed)]
    return run[run["step"] == (run["step"].max() if step is None else step)][column].item()


def last_step(*names: str) -> int:
    """The last step every run of these remedies reached (one value)."""
    runs = csv("training_remedies.csv")
    (step,) = set(runs[runs["remedy"].isin(names)].groupby(["remedy", "group", "seed"])["step"].max())
    return step


def recipe_step() -> int:
    return last_step("recipe")


def recipe_runs(group: str) -> pd.DataFrame:
    """The recipe's runs of a group at their last step, indexed by seed."""
    runs = csv("training_remedies.csv")
    runs = runs[(runs["remedy"] == "recipe") & (runs["group"] == group)]
    return runs[runs["step"] == runs.groupby("seed")["step"].transform("max")].set_index("seed")


def recipe_learns() -> tuple[int, int]:
    runs = recipe_runs("MSS-Lin")
    return int((runs["test_rpa"] >= learned_rpa()).sum()), len(runs)


def recipe_goal() -> float:
    goal = r"The goal \(test RPA of at least (\d+) %, pure tones included, on every seed\) under recipe for MSS-Lin"
    return notebook_number("09", goal)


def recipe_meets_goal() -> tuple[float, ...]:
    runs = recipe_runs("MSS-Lin")
    met = (runs["test_rpa"] >= recipe_goal()) & (runs["pure_tone_rpa"] >= recipe_goal())
    return int(met.sum()), len(runs), recipe_goal()


def recipe_range() -> tuple[float, float, int]:
    rpas = recipe_runs("MSS-Lin")["test_rpa"]
    return rpas.min(), rpas.max(), recipe_step()


def recipe_rpas() -> tuple[float, ...]:
    return tuple(recipe_runs("MSS-Lin").loc[[42, 123, 456], "test_rpa"])


def recipe_validation_floor() -> int:
    """The lowest validation RPA of the recipe's MSS-Lin runs from 2,200 steps on, to the integer below."""
    return math.floor(min(log("MSS-Lin", seed, "recipe").loc[2200:, "val_rpa"].min() for seed in (42, 123, 456)))


def shipped_mss_lin() -> tuple[float, float]:
    return remedy("none", "MSS-Lin", 42, recipe_step()), remedy("none", "MSS-Lin", 123, recipe_step())


def real_notes(estimator: str) -> float:
    """Real-note RPA of a peer (peers_real_notes.csv) or of a run (remedy_real_notes.csv)."""
    for name in ("remedy_real_notes.csv", "peers_real_notes.csv"):
        rows = csv(name)
        row = rows[(rows["estimator"] == estimator) & (rows["group"] == "all")]
        if len(row):
            return row["rpa"].item()
    raise AssertionError(f"no real-note score for {estimator!r}")


def real_notes_of(group: str, seed: int, name: str) -> float:
    return real_notes(f"{group} seed {seed}, {name}, {recipe_step()} steps")


def real_notes_count() -> int:
    (n,) = set(csv("remedy_real_notes.csv").query("group == 'all'")["n_tones"])
    return n


def tones_and_notes() -> tuple[int, int]:
    return n_test_tones(), real_notes_count()


def recipe_real_range() -> tuple[float, float, float]:
    scores = [real_notes_of("MSS-Lin", seed, "recipe") for seed in recipe_runs("MSS-Lin").index]
    return min(scores), max(scores), real_notes("pesto")


def peers_real_notes() -> tuple[float, ...]:
    return *recipe_real_range(), *(real_notes(peer) for peer in ("crepe-tiny", "pyin", "yin"))


def recipe_row(group: str, seed: int) -> tuple[float, ...]:
    """README's recipe table: shipped RPA, recipe RPA, recipe pure tones, real notes shipped and recipe."""
    step = recipe_step()
    return (
        remedy("none", group, seed, step),
        remedy("recipe", group, seed, step),
        remedy("recipe", group, seed, step, "pure_tone_rpa"),
        real_notes_of(group, seed, "none"),
        real_notes_of(group, seed, "recipe"),
    )


def sot_pure_tones() -> tuple[float, float]:
    """The best pure-tone RPA of the recipe's SOT-2048 runs, and recipe-floor's."""
    return recipe_runs("SOT-2048")["pure_tone_rpa"].max(), remedy(
        "recipe-floor", "SOT-2048", 42, column="pure_tone_rpa"
    )


def zero_head() -> tuple[float, ...]:
    step = last_step("zero-head", "prior-only")
    runs = [("zero-head", 42), ("zero-head", 123), ("recipe", 123), ("none", 123)]
    return tuple(remedy(name, "SOT-2048", seed, step) for name, seed in runs)


def floor_alone() -> tuple[float, ...]:
    return start_hz(42), remedy("fundamental-floor", "SOT-2048", 42), last_step("fundamental-floor")


def recipe_floor() -> tuple[float, float]:
    return remedy("recipe-floor", "SOT-2048", 42), stage("recipe-floor", "SOT-2048", 42)["centroid_slope"]


# ---------------------------------------------------------------------------------------------------------------
# Notebook 07: the traps (its outputs, real_notes_fundamental_ratio.csv).


def start_hz(seed: int, head: str = "random") -> float:
    """An untrained model's median f0 on the test tones (notebook 07, the seeds' starting points)."""
    return notebook_number("07", rf"\b{seed}\s+{head}\s+([\d.]+)")


def starts_42() -> tuple[float, float]:
    """Seed 42's start with the zero-initialised f0 head (every seed's), and with the paper's random head."""
    return start_hz(42, "zero"), start_hz(42)


def two_f0_dip() -> float:
    return notebook_number("07", r"the loss there is a median ([\d.]+) times the loss at f0")


def floor_landscapes() -> tuple[float, ...]:
    return notebook_numbers("07", r"in (\d+) of (\d+) \(loss, target\) pairs \(the loss at f0/k is a median ([\d.]+)")


def weak_fundamentals() -> float:
    """% of the real notes whose fundamental is below the floor."""
    rows = csv("real_notes_fundamental_ratio.csv")
    return 100 * (rows["notes"] * rows["below 0.3 (%)"] / 100).sum() / rows["notes"].sum()


# ---------------------------------------------------------------------------------------------------------------
# Notebook 08: the centroid stage (centroid_stage.csv, centroid_stage_by_group.csv, centroid_pull.csv).

BY_GROUP = {
    "in": "in the stage",
    "of": "checkpoints",
    "r": "median r there",
    "residual": "median residual there (octaves)",
    "stuck": "runs in the stage at the last budget",
    "runs": "runs",
    "first": "median slope, first budget",
    "last": "median slope, last budget",
}


def by_group(group: str, *keys: str) -> tuple[float, ...]:
    row = csv("centroid_stage_by_group.csv").set_index("Unnamed: 0").loc[group]
    return tuple(row[BY_GROUP[key]] for key in keys)


def stage(name: str, group: str, seed: int, step: int | None = None) -> pd.Series:
    rows = csv("centroid_stage.csv")
    run = rows[(rows["remedy"] == name) & (rows["group"] == group) & (rows["seed"] == seed)]
    return run[run["step"] == (run["step"].max() if step is None else step)].iloc[0]


def recipe_in_stage() -> tuple[int, int]:
    slopes = [stage("recipe", "SOT-2048", seed)["centroid_slope"] for seed in recipe_runs("SOT-2048").index]
    return sum(slope >= STAGE_SLOPE for slope in slopes), len(slopes)


def m_range() -> tuple[float, float]:
    """Lowest and highest power-weighted mean harmonic index M of notebook 08's targets (pure tone, 8 equal)."""
    return csv("centroid_pull.csv")["M"].min(), csv("centroid_pull.csv")["M"].max()


def stuck_recipe() -> list[pd.Series]:
    return [stage("recipe", "SOT-2048", seed) for seed in (123, 456)]


def stuck_fit() -> tuple[float, ...]:
    """M̂ (one number for both seeds) and the slopes of the recipe's SOT-2048 seeds 123 and 456."""
    runs = stuck_recipe()
    return same(*(run["decoder_centroid"] for run in runs), decimals=1), *(run["centroid_slope"] for run in runs)


def stuck_high() -> tuple[float, float]:
    """M of the 8-equal-partial tones and the error the centroid puts there (one number for both seeds)."""
    m_high = m_range()[1]
    return m_high, same(*(math.log2(m_high / run["decoder_centroid"]) for run in stuck_recipe()), decimals=1)


def stuck_pure() -> float:
    return max(run["pure_tone_rpa"] for run in stuck_recipe())


def collapsed_seed() -> tuple[float, float, float]:
    """Shipped SOT-2048 seed 42 at its last budget: M̂, and the centroid's error (octaves low) for the highest and
    the lowest M."""
    m_decoder = stage("none", "SOT-2048", 42)["decoder_centroid"]
    m_low, m_high = m_range()
    return m_decoder, -math.log2(m_high / m_decoder), -math.log2(m_low / m_decoder)


def logf_slopes() -> tuple[float, ...]:
    steps = csv("centroid_stage.csv").query("group == 'SOT-512-LogF'")["step"]
    first, last = by_group("SOT-512-LogF", "first", "last")
    return first, steps.min(), last, steps.max()


def mss_lin_centroid_r() -> tuple[float, int]:
    mss = csv("centroid_stage.csv").query("group == 'MSS-Lin'")
    return mss["r_centroid"].median(), len(mss)


# ---------------------------------------------------------------------------------------------------------------
# docs/training.md: the campaign (training_compute.csv, notebook 05's outputs, the shipped runs' logs).


def compute() -> pd.DataFrame:
    return csv("training_compute.csv").set_index(["group", "seed"])


def steps_row(group: str) -> tuple[float, ...]:
    return tuple(compute().loc[(group, seed), "steps"] for seed in (42, 123, 456))


def groups_at_budget() -> tuple[int, int]:
    """(groups whose every seed reached the budget, seeds per such group)."""
    runs = compute().reset_index().groupby("group")
    counts = [len(group) for _, group in runs if len(group) > 1 and (group["steps"] >= budget()).all()]
    (seeds,) = set(counts)
    return len(counts), seeds


def extension_steps() -> float:
    return compute().loc[("SOT-2048-complete-frames", 42), "steps"]


def steps_on(kind: str) -> float:
    """Steps the runs trained on `kind` ("cpu" or "cuda") up to the step training_compute.csv records, from the
    logs' `device` column (rows without one ran on the CPU)."""
    total = 0.0
    for (group, seed), row in compute().iterrows():
        run = log(group, seed).loc[: row["steps"]]
        device = run["device"].fillna("cpu") if "device" in run else pd.Series("cpu", index=run.index)
        steps = pd.Series(run.index, index=run.index).diff().fillna(run.index[0])
        total += steps[device.str.startswith(kind).to_numpy()].sum()
    return total


def cpu_compute() -> tuple[float, float, float]:
    return compute()["steps"].sum(), steps_on("cpu"), compute()["cpu_hours"].sum()


def plateau(seed: int) -> float:
    return notebook_number("05", rf"SOT-2048 seed {seed}: trained to \d+, RPA levels off at (\d+)")


def smoothed(group: str, seed: int, until: int | None = None) -> pd.Series:
    """Validation RPA smoothed as evaluate.plateau_step smooths it (centred running median), from the log as it
    stood at `until`."""
    curve = log(group, seed)["val_rpa"].loc[:until]
    return curve.rolling(SMOOTHING, center=True, min_periods=1).median()


def plateau_row(seed: int) -> tuple[float, ...]:
    """A SOT-2048 seed's plateau, its smoothed validation RPA from there on (lowest, highest), its last step."""
    curve = smoothed("SOT-2048", seed).loc[plateau(seed) :]
    last = notebook_number("05", rf"SOT-2048 seed {seed}: trained to (\d+)")
    return plateau(seed), curve.min(), curve.max(), last


def plateau_123() -> tuple[float, ...]:
    return plateau_row(123)


FOOLED_AT = 8140  # the step docs/training.md tells of: the rule, run on the logs as they stood then


def fooled_plateau() -> tuple[float, ...]:
    from sot_utils.training.evaluate import plateau_step

    curve = log("SOT-2048", 123).loc[:FOOLED_AT, "val_rpa"]
    start = plateau_step(curve.index, curve.to_numpy())
    then = smoothed("SOT-2048", 123, FOOLED_AT).loc[start:]
    return start, then.min(), then.max()


def fooled_high() -> float:
    return smoothed("SOT-2048", 123).loc[FOOLED_AT:].max()


def val(group: str, seed: int, column: str, *steps: int) -> tuple[float, ...]:
    return tuple(log(group, seed).loc[step, column] for step in steps)


def lsd(group: str, seed: int, last: int) -> tuple[float, ...]:
    """Validation LSD at 2,200, 4,400 and 8,800 steps and at `last`."""
    return val(group, seed, "val_lsd", 2200, 4400, 8800, last)


def sot_2048_123_lsd() -> tuple[float, ...]:
    return lsd("SOT-2048", 123, 12100)


def rising(group: str, seed: int) -> tuple[float, float]:
    """Validation RPA gained over the 1,100 steps before the budget, and the RPA at the budget."""
    now, before = val(group, seed, "val_rpa", int(budget()), int(budget()) - 1100)
    return now - before, now


def logf_123_rising() -> tuple[float, float]:
    return rising("SOT-512-LogF", 123)


@cache
def validation_table() -> dict[tuple[str, int], list[float]]:
    """Notebook 05's validation RPA every 1,100 steps (`metric_at_steps`), as printed: {(group, seed): values}."""
    text = notebook_text("05")
    rows, group = {}, None
    for line in text[re.search(r"^step\s+1100\s+2200", text, re.M).start() :].splitlines()[2:]:
        if not re.match(r"\S+\s+\d+\s+[\d.]+|\s+\d+\s+[\d.]+", line):
            break
        tokens = line.split()
        if not line.startswith(" "):
            group, tokens = tokens[0], tokens[1:]
        rows[(group, int(tokens[0]))] = [float(value) for value in tokens[1:]]
    return rows


# ---------------------------------------------------------------------------------------------------------------
# benchmarks/results.json: the speed-ups (docs/performance.md) and the explorer's latencies (docs/explorer.md).

W_P, SOT_AUDIO, MSS = (
    "W_p fwd+bwd, 1024 rows",
    "SOT loss fwd+bwd, audio [64, 4096]",
    "MSS loss fwd+bwd, audio [64, 4096]",
)
CPU_STEP, GPU_STEP = "one Adam step", "train step, batch 64 (runs per hour: 22,000 steps, one run alone)"
SORT, POT, GENERAL, MERGE, COMPILED = "sot-loss", "POT", "ours_general", "ours_shared_support", "ours_compiled"
CUT_GROUPS = ("SOT-512", "SOT-512-LogF", "SOT-2048", "SOT-2048-SS")  # the groups with the frequency cutoff
UNCUT_GROUPS = ("MSS-Lin", "MSS-LogLin", "SOT-NoCut")
GPU_WINDOW_S = 15 * 60  # the windows in which a GPU is lent to this project's development (docs/performance.md)


@cache
def benchmarks() -> dict:
    return json.loads((REPO / "benchmarks" / "results.json").read_text())


def wp(bins: int, p: int, mode: str) -> str:
    """A W_p case (table W_P) of the `wasserstein` and `gpu` sections."""
    return f"rows=1024 bins={bins} p={p} {mode}"


def wp_cases(p: int) -> list[str]:
    return [wp(bins, p, mode) for bins in (257, 1025) for mode in ("cut", "balanced")]


def cell(case: dict, column: str) -> float:
    """A column "<candidate> <field>" of a benchmark table's case: a candidate's ms, s (ms / 1000), speedup or
    rel_diff, or a field the case holds per candidate (runs_per_hour)."""
    candidate, field = column.rsplit(" ", 1)
    if field == "s":
        return cell(case, f"{candidate} ms") / 1000
    return case[field][candidate] if field in case else case["candidates"][candidate][field]


def bench(section: str, table: str, case: str, *columns: str) -> tuple[float, ...]:
    """Columns of one case of a table of benchmarks/results.json."""
    return tuple(cell(benchmarks()[section]["tables"][table][case], column) for column in columns)


def spread(section: str, table: str, *columns: str, cases: list[str] | None = None) -> tuple[float, ...]:
    """Lowest and highest value of each column over the table's cases (all of them, or `cases`)."""
    rows = benchmarks()[section]["tables"][table]
    values = [[cell(rows[case], column) for case in cases or rows] for column in columns]
    return tuple(bound for column in values for bound in (min(column), max(column)))


def w_row(section: str, case: str, *candidates: str) -> tuple[float, ...]:
    """A W_p case: the times (ms) of those candidates that ran it, then the last one's speed-up over `sot-loss`."""
    ran = [c for c in candidates if c in benchmarks()[section]["tables"][W_P][case]["candidates"]]
    return bench(section, W_P, case, *(f"{c} ms" for c in ran), f"{ran[-1]} speedup")


def w1_speedups() -> tuple[float, ...]:
    return tuple(bench("wasserstein", W_P, wp(1025, 1, mode), f"{MERGE} speedup")[0] for mode in ("cut", "balanced"))


def mss_row(section: str) -> tuple[float, ...]:
    """MSS-Lin / MSS-LogLin: the plain formulation's times, ours, our speed-ups."""
    columns = ("plain torch.stft ms", "ours ms", "ours speedup")
    return tuple(bench(section, MSS, group, column)[0] for column in columns for group in ("MSS-Lin", "MSS-LogLin"))


def sot_from_audio() -> tuple[float, ...]:
    return bench("wasserstein", SOT_AUDIO, "SOT-2048", "sot-loss W ms", "ours ms", "ours speedup")


def cpu_steps() -> tuple[float, ...]:
    return spread("train_step", CPU_STEP, "reference layout s", "ours s", "ours speedup")


def step_speedups() -> tuple[float, ...]:
    """Our training step's speed-up per group, in the results table's order."""
    return tuple(bench("train_step", CPU_STEP, group, "ours speedup")[0] for group in table().index)


def loss_agreement(section: str, table: str, cut_unit: float) -> tuple[float, float]:
    """The largest relative difference between our loss value and the reference layout's: the groups without the
    cutoff (in 1e-9), those with it (in `cut_unit`)."""
    uncut, cut = (spread(section, table, "ours rel_diff", cases=groups)[1] for groups in (UNCUT_GROUPS, CUT_GROUPS))
    return uncut / 1e-9, cut / cut_unit


def cpu_agreement() -> tuple[float, float]:
    return loss_agreement("train_step", CPU_STEP, 1e-3)


def gpu_agreement() -> tuple[float, float]:
    return loss_agreement("gpu", GPU_STEP, 1e-4)


def batch_slopes() -> tuple[float, float]:
    """The lowest and highest log-log slope of a cost against the batch size."""
    series = [s for s in benchmarks()["scaling"]["series"].values() if s["x_name"] == "batch"]
    slopes = [slope for s in series for slope in s["exponent"].values()]
    return min(slopes), max(slopes)


def n_fft_series() -> dict:
    return benchmarks()["scaling"]["series"]["SOT loss fwd+bwd vs n_fft"]


def n_fft_slopes() -> tuple[float, float]:
    return n_fft_series()["exponent"]["ours"], n_fft_series()["exponent"]["sot-loss W"]


def n_fft_gaps() -> tuple[float, float]:
    """How many times faster our SOT loss is than the sort-based one at the smallest and the largest FFT size."""
    ms = n_fft_series()["ms"]
    return ms["sot-loss W"][0] / ms["ours"][0], ms["sot-loss W"][-1] / ms["ours"][-1]


def gpu_w1() -> tuple[float, ...]:
    return spread("gpu", W_P, "sot-loss ms", f"{MERGE} ms", f"{MERGE} speedup", cases=wp_cases(1))


def gpu_w2() -> tuple[float, ...]:
    columns = ("sot-loss ms", f"{GENERAL} ms", f"{MERGE} ms", f"{GENERAL} speedup", f"{MERGE} speedup")
    return spread("gpu", W_P, *columns, cases=wp_cases(2))


def gpu_w_paths() -> tuple[float, float]:
    """The fastest and the slowest W_p path on the GPU (ms), over every case."""
    bounds = spread("gpu", W_P, "sot-loss ms", f"{GENERAL} ms", f"{MERGE} ms")
    return min(bounds), max(bounds)


def gpu_sot_from_audio() -> tuple[float, ...]:
    return spread("gpu", SOT_AUDIO, "sot-loss W ms", "ours ms", "ours speedup")


def gpu_steps() -> tuple[float, ...]:
    return spread("gpu", GPU_STEP, "reference layout ms", "ours ms", "ours speedup")


def gpu_runs_per_hour() -> tuple[float, ...]:
    return spread("gpu", GPU_STEP, "ours speedup", "ours runs_per_hour", "reference layout runs_per_hour")


def ensemble_row(members: int) -> tuple[float, ...]:
    """The ensemble table: E steps in turn and one ensemble step (ms), the ratio, ms per run-step, peak GiB."""
    case = benchmarks()["ensemble"]["tables"]["one step of E runs"][f"E={members}"]
    separate, together, speedup = (cell(case, c) for c in ("separate ms", "ensemble ms", "ensemble speedup"))
    return separate, together, speedup, together / members, case["peak_memory_gib"]


def protocol(field: str) -> float:
    return benchmarks()["ensemble"]["protocol"][field]


def protocol_rate() -> tuple[float, float]:
    """Hours of the protocol's run-steps at the 35-run rate, and that rate (run-steps per second)."""
    return protocol("hours_at_best_rate"), 1000 / protocol("best_ms_per_run_step")


def protocol_hours() -> tuple[float, float]:
    """Hours of the protocol's validations, and of the whole protocol."""
    return protocol("validation_hours"), protocol("total_hours")


def in_turn_hours() -> float:
    """The protocol with the 35 runs stepped in turn in one process (the ensemble table's rate)."""
    return ensemble_row(35)[0] * protocol("steps") / 3.6e6


def window_rate() -> tuple[float, float]:
    """The run-steps per second that would fit the protocol in one GPU window, and that over the float32 rate."""
    needed = protocol("runs") * protocol("steps") / GPU_WINDOW_S
    return needed, needed * protocol("best_ms_per_run_step") / 1000


def profile(*parts: str) -> tuple[float, ...]:
    return tuple(benchmarks()["ensemble"]["profile_E=35_ms"][part] for part in parts)


def forward_profile() -> tuple[float, ...]:
    return profile("encoder forward", "synth forward", "losses forward (7 calls)")


def step_profile() -> tuple[float, ...]:
    return profile("forward + backward", "Adam update")


def ensemble_case(table: str) -> dict:
    (case,) = benchmarks()["ensemble"]["tables"][table].values()
    return case


def validation_35() -> tuple[float, ...]:
    """One validation of the 35 runs member by member and together (s), the ratio, ms per run."""
    case = ensemble_case("one validation of E=35 runs")
    return *(cell(case, c) for c in ("separate s", "ensemble s", "ensemble speedup")), protocol("ms_per_run_validation")


def validation_hours() -> tuple[float, float]:
    """The protocol's validations (h): the ensemble's, and member by member at the separate rate."""
    from sot_utils.training.config import TrainConfig

    per_run = protocol("steps") // TrainConfig.validate_every
    return protocol("validation_hours"), cell(
        ensemble_case("one validation of E=35 runs"), "separate s"
    ) * per_run / 3600


def reduced_precision(*columns: str) -> tuple[float, ...]:
    return tuple(cell(ensemble_case("one step of E=35 runs, reduced precision"), column) for column in columns)


def bfloat16_step() -> tuple[float, ...]:
    return reduced_precision("bfloat16 trunk speedup", "bfloat16 trunk ms", "float32 ms")


def loss_moves() -> tuple[float, ...]:
    """How much the members' losses move (%) with a bfloat16 trunk and with TF32 matrix products."""
    return tuple(100 * value for value in reduced_precision("bfloat16 trunk rel_diff", "TF32 matmul rel_diff"))


def w_1d() -> tuple[float, float]:
    """bench_wasserstein.py run alone (`wasserstein_1d`): W_2 at SOT-2048's shapes (ms), ours compiled and sot-loss."""
    case = benchmarks()["wasserstein_1d"]["cases"][wp(1025, 2, "cut")]
    return case[COMPILED]["ms"], case[SORT]["ms"]


def latency(view: str, stat: str = "p50") -> float:
    """The explorer pages' latency (ms) of one update of a view."""
    return benchmarks()["explorer"]["latency"]["one update of each view (ms)"][view][stat]


def explorer_latencies() -> tuple[float, ...]:
    curves = "landscape: curves of 3 losses, target moved one slider step"
    return latency(curves), latency(curves, "p95"), latency("estimator: new sound, two models")


# ---------------------------------------------------------------------------------------------------------------
# The other pages: the budget, the real notes, notebook 02's landscape.


def seeds_past_budget() -> int:
    """SOT-2048 seeds trained past the budget (to confirm their plateaus)."""
    return sum(steps > budget() for steps in steps_row("SOT-2048"))


def real_note_set() -> tuple[int, int]:
    """The real notes' instruments and General MIDI families."""
    families = set(csv("peers_real_notes.csv")["group"]) - {"all"}
    return len(csv("real_notes_fundamental_ratio.csv")), len(families)


def notes_and_instruments() -> tuple[int, int]:
    return real_notes_count(), real_note_set()[0]


def landscape_gradients() -> tuple[float, float]:
    """Notebook 02: % of the sweep's candidates where the gradient points toward the target, reference-framed SOT
    and SOT on complete frames."""
    row = r"\n{}\s+(\d+)\s+\d+\n"
    return notebook_number("02", row.format("SOT W2")), notebook_number("02", row.format("SOT W2, complete frames"))


def recipe_at_2200() -> tuple[int, int]:
    """The recipe's MSS-Lin runs, and their lowest validation RPA at 2,200 steps, to the integer below."""
    seeds = recipe_runs("MSS-Lin").index
    return len(seeds), math.floor(min(log("MSS-Lin", seed, "recipe").loc[2200, "val_rpa"] for seed in seeds))


# ---------------------------------------------------------------------------------------------------------------
# The claims: (file, pattern, source, decimals), one per line.


# Notebook 10 and the evidence files (results/real_audio_training.csv, results/evidence/).


def real_audio(model: str, test_set: str = "freepats") -> pd.Series:
    rows = csv("real_audio_training.csv")
    return rows[(rows["model"] == model) & (rows["test_set"] == test_set)]


def freepats_recipe() -> tuple[float, ...]:
    rpa = real_audio("recipe MSS-Lin (synthetic)")["rpa"]
    return (float(real_audio("pesto")["n_notes"].iloc[0]), rpa.min(), rpa.max())


def freepats_peers() -> tuple[float, ...]:
    return tuple(float(real_audio(peer)["rpa"].iloc[0]) for peer in ("pesto", "crepe-tiny", "yin", "pyin"))


def freepats_misses() -> tuple[float, ...]:
    scores = pd.read_csv(RESULTS / "real_audio_scores.csv")
    ours = scores[(scores["model"] == "recipe MSS-Lin (synthetic)") & (scores["test_set"] == "freepats")]
    families = ours[ours["by"] == "family"].groupby("group")["rpa"].mean()
    octaves = ours[ours["by"] == "octave"].groupby("group")["rpa"].mean()
    return (ours[ours["by"] == "all"]["misses_above"].mean(), families["ethnic"], octaves["C1-B1"])


def stage_control() -> tuple[float, ...]:
    by = csv("centroid_stage_by_group.csv").set_index(csv("centroid_stage_by_group.csv").columns[0])
    constant = notebook_numbers("08", r"constant (\d+) Hz for every tone\) has a centroid slope of ([\d.]+)")
    return (*constant, by.loc["MSS-Lin", "in the stage"], by.loc["MSS-Lin", "checkpoints"])


def partial_slope_counts() -> tuple[float, ...]:
    by = csv("centroid_stage_by_group.csv").set_index(csv("centroid_stage_by_group.csv").columns[0])
    return (
        by.loc["SOT-2048", "b_M >= 0.5"],
        by.loc["SOT-2048", "checkpoints"],
        by.loc["MSS-Lin", "b_M >= 0.5"],
        by.loc["MSS-Lin", "checkpoints"],
    )


def validity_exception() -> tuple[float, ...]:
    rows = pd.read_csv(RESULTS / "evidence" / "centroid_cause_validity.csv")
    passing = rows[rows["in_stage"]]
    (seed,), (step,), (b_m,) = passing["seed"], passing["step"], passing["b_m"]
    return (seed, step, b_m)


def oracle_rows() -> tuple[float, ...]:
    rows = pd.read_csv(RESULTS / "evidence" / "centroid_cause.csv").set_index(["arm", "group", "seed"])
    verdict = pd.read_csv(RESULTS / "evidence" / "centroid_cause_verdict.csv")
    assert list(verdict["label"]) == ["contradicted"] and list(verdict["oracle_learned"]) == [1], "the prose says so"
    seeds = (42, 123, 456)
    oracle = [rows.loc[("oracle", "SOT-2048", seed), "test_rpa"] for seed in seeds]
    shipped = [rows.loc[("shipped", "SOT-2048", seed), "test_rpa"] for seed in seeds]
    b_m = max(rows.loc[("oracle", "SOT-2048", seed), "b_m"] for seed in seeds)
    return (*oracle, *shipped, b_m, rows.loc[("oracle", "MSS-Lin", 42), "test_rpa"])


def fresh_seed_rows() -> tuple[float, ...]:
    rows = pd.read_csv(RESULTS / "evidence" / "fresh_seeds.csv").set_index(["remedy", "seed"])["test_rpa"]
    recipe = [rows["recipe", seed] for seed in (789, 101112, 2024, 31337, 271828, 1618)]
    rates = pd.read_csv(RESULTS / "evidence" / "fresh_seeds_rates.csv").set_index("remedy")
    return (
        *recipe,
        rates.loc["recipe", "goal"],
        rates.loc["recipe", "runs"],
        *rates.loc["recipe", ["goal_low", "goal_high"]],
    )


def fresh_seed_comparison() -> tuple[float, ...]:
    runs = pd.read_csv(RESULTS / "evidence" / "fresh_seeds.csv").set_index(["remedy", "seed"])["test_rpa"]
    verdicts = pd.read_csv(RESULTS / "evidence" / "fresh_seeds_verdicts.csv").set_index("claim")
    better = verdicts.loc["the recipe reads pitch better than the shipped MSS-Lin configuration"]
    p = float(re.search(r"sign-flip p = ([0-9.e-]+)", better["statistic"]).group(1))
    shipped_learned = (runs["shipped"] >= 50.0).sum()
    assert shipped_learned == 0 and set(verdicts["label"]) == {"inconclusive"}, "the prose says: none, inconclusive"
    return (
        runs["shipped"].max(),
        better["value"],
        better["low"],
        better["high"],
        p,
        runs["recipe", 271828],
        runs["shipped", 271828],
    )


class Claim(NamedTuple):
    file: str
    pattern: str
    expected: Callable[[], float | tuple]
    decimals: int | tuple[int, ...] = 1


def notebook_time(number: str, name: str) -> Claim:
    """README's notebook table: the full-mode time is the one papermill recorded in the executed notebook."""
    return Claim(README, f"(notebooks/{name}.ipynb) | … / # s", lambda: papermill_seconds(number), 0)


def w_claims(rows: dict[str, str], *candidates: str) -> list[Claim]:
    """docs/performance.md's tables of W_p cases ({row's pattern: case}, `wasserstein` section): the times of the
    candidates that ran the case, in whole ms but the last (our fastest path), quoted with its speed-up."""
    claims = []
    for pattern, case in rows.items():
        decimals = (0,) * (pattern.count("#") - 2) + (1, 1)
        claims.append(Claim(PERFORMANCE, pattern, lambda c=case: w_row("wasserstein", c, *candidates), decimals))
    return claims


def steps_table() -> list[Claim]:
    """docs/training.md's steps reached by the shipped runs, one row per paper group."""
    return [Claim(TRAINING, f"| {g} | # | # | # |", lambda g=g: steps_row(g), 0) for g in table().index]


def validation_rpa_table() -> list[Claim]:
    """docs/training.md's validation RPA every 1,100 steps, one row per shipped run of the paper groups."""
    claims = []
    for (group, seed), values in validation_table().items():
        if group in table().index:
            cells = " | ".join("–" if math.isnan(value) else "#" for value in values)
            present = tuple(value for value in values if not math.isnan(value))
            claims.append(Claim(TRAINING, f"| {group}, seed {seed} | {cells} |", lambda p=present: p))
    return claims


STEP_SPEEDUPS = ", ".join(f"{group} #×" for group in table().index)  # docs/performance.md: "MSS-Lin 4.14×, ..."
# docs/performance.md's tables of W_p cases ({row's pattern: case}): the first table's W_2 rows (`sot-loss`, POT
# where it ran, our compiled merge and its speed-up), and the table of every path.
CPU_W_ROWS = {
    "1025 bins, cut (SOT-2048) | `sot-loss` # ms | # ms | **#×** |": wp(1025, 2, "cut"),
    "1025 bins, balanced (SOT-NoCut) | `sot-loss` # ms (POT # ms) | # ms | **#×** |": wp(1025, 2, "balanced"),
    "257 bins, cut (SOT-512) | `sot-loss` # ms | # ms | **#×** |": wp(257, 2, "cut"),
}
W_TABLE_ROWS = {
    "| 1025, p=2, cut (SOT-2048) | # ms | — (no cutoff) | # ms | # ms | **# ms (#×)** |": wp(1025, 2, "cut"),
    "| 1025, p=2, balanced (SOT-NoCut) | # ms | # ms | # ms | # ms | **# ms (#×)** |": wp(1025, 2, "balanced"),
    "| 257, p=2, cut (SOT-512) | # ms | — | # ms | # ms | **# ms (#×)** |": wp(257, 2, "cut"),
    "| 1025, p=1, cut | # ms | — | # ms | **# ms (#×)** | — |": wp(1025, 1, "cut"),
    "| 1025, p=1, balanced | # ms | # ms | # ms | **# ms (#×)** | — |": wp(1025, 1, "balanced"),
}

ROW = (1, 1, 0, 1, 1)  # README's recipe table: shipped %, recipe %, pure tones %, real notes shipped → recipe %

CLAIMS = [
    # README: the answer in one paragraph
    Claim(README, "could afford (# steps, @ seeds per group, # runs)", campaign_size, 0),
    Claim(README, "MSS-Lin averages # % test RPA against # % for SOT-2048", lambda: rpa_stats("mean")),
    Claim(README, "(standard deviations of # and # points) is larger", lambda: rpa_stats("std"), 0),
    Claim(README, "the exact sign-flip test cannot go below p = # (it gives #)", sign_flip, (2, 1)),
    Claim(README, "The best run of all is an MSS-Lin run (# % RPA)", best_run, 0),
    Claim(README, "a recipe that learns pitch with MSS-Lin on @ of @ seeds tried", recipe_learns, 0),
    Claim(README, "makes **MSS-Lin learn pitch on @ of @ seeds tried**", recipe_learns, 0),
    Claim(README, "#–# % test RPA on seeds 42, 123 and 456 at # steps, pure tones included", recipe_range, (1, 1, 0)),
    Claim(README, "and #–# % on real instrument notes, next to PESTO's # %", recipe_real_range),
    Claim(README, "which stays in the centroid stage on @ seeds of @ (notebook 09)", recipe_in_stage, 0),
    # README: the notebooks' full-mode times
    notebook_time("01", "01_transport_vs_vertical"),
    notebook_time("02", "02_loss_landscapes"),
    notebook_time("03", "03_gradient_descent"),
    notebook_time("04", "04_train_autoencoder"),
    notebook_time("05", "05_results_table"),
    Claim(README, "s for # runs (more beside training processes)", lambda: len(compute()), 0),
    notebook_time("06", "06_peers_and_real_sounds"),
    notebook_time("07", "07_autoencoder_traps"),
    notebook_time("08", "08_centroid_stage"),
    notebook_time("09", "09_remedies_trained"),
    # README: headline results (the table itself: test_the_readme_quotes_the_results_table)
    Claim(README, "The paper's table at our budget (# steps; … on the # test tones", table_budget, 0),
    Claim(FINDINGS, "minus SOT-2048 averages # points over differences of #, # and # points", paired_differences),
    Claim(
        FINDINGS, "bootstrap interval, # to #, is only the smallest", lambda: (mss_sot("ci_low"), mss_sot("ci_high"))
    ),
    Claim(FINDINGS, "of these three), with an exact sign-flip p of #.", lambda: mss_sot("sign_flip_p")),
    Claim(FINDINGS, "can reach is #, and none of the # pairs of groups comes below it", sign_flip_floor, (2, 0)),
    Claim(FINDINGS, "the seeds a paired t-test would need at # (5 % level", lambda: mss_sot("seeds_needed"), 0),
    Claim(FINDINGS, "paired differences (# points) estimated from @ values", paired_sd, (1, 0)),
    Claim(FINDINGS, "whose 95 % range runs from # to # points", sd_range, 0),
    # README: the recipe
    Claim(FINDINGS, "predicts # Hz (seed 42's predicts about # Hz", starts_42, (0, -1)),
    Claim(FINDINGS, "seeds 123 and 456 about # and # Hz)", lambda: (start_hz(123), start_hz(456)), -1),
    Claim(FINDINGS, "At # steps, against the shipped run", recipe_step, 0),
    Claim(FINDINGS, "at the same step (# test tones; # real instrument notes", tones_and_notes, 0),
    Claim(FINDINGS, "| MSS-Lin | 42 | # % | **# %** | # % | # → # % |", lambda: recipe_row("MSS-Lin", 42), ROW),
    Claim(FINDINGS, "| MSS-Lin | 123 | # % | **# %** | # % | # → # % |", lambda: recipe_row("MSS-Lin", 123), ROW),
    Claim(FINDINGS, "| MSS-Lin | 456 | # % | **# %** | # % | # → # % |", lambda: recipe_row("MSS-Lin", 456), ROW),
    Claim(FINDINGS, "| SOT-2048 | 42 | # % | # % | # % | # → # % |", lambda: recipe_row("SOT-2048", 42), ROW),
    Claim(FINDINGS, "| SOT-2048 | 123 | # % | # % | # % | # → # % |", lambda: recipe_row("SOT-2048", 123), ROW),
    Claim(FINDINGS, "| SOT-2048 | 456 | # % | # % | # % | # → # % |", lambda: recipe_row("SOT-2048", 456), ROW),
    Claim(FINDINGS, "**meets the goal on @ of @ seeds tried** (test RPA of at least # %,", recipe_meets_goal, 0),
    Claim(FINDINGS, ": #, # and # % on seeds 42, 123 and 456, every pure tone right", recipe_rpas),
    Claim(FINDINGS, "a validation RPA above # % from 2,200 steps on", recipe_validation_floor, 0),
    Claim(FINDINGS, "The shipped runs of seeds 42 and 123 read # and # % at the same step", shipped_mss_lin),
    Claim(FINDINGS, "runs score #–# %, next to PESTO # %, CREPE tiny # %, pYIN # % and YIN # %", peers_real_notes),
    Claim(FINDINGS, "reads pure tones (# % on every seed; `recipe-floor`, below, reads # %)", sot_pure_tones, 0),
    Claim(FINDINGS, "Two ablations on # steps", lambda: last_step("zero-head", "prior-only"), 0),
    Claim(FINDINGS, "reaches # % on seed 42 and # % on seed 123 (recipe # %, shipped # %)", zero_head),
    Claim(FINDINGS, "(`prior-only`) leaves seed 42 collapsed (# %)", lambda: remedy("prior-only", "SOT-2048", 42)),
    # README: the centroid stage
    Claim(FINDINGS, "In # of # SOT-2048 checkpoints", lambda: by_group("SOT-2048", "in", "of"), 0),
    Claim(FINDINGS, "median correlation of # (residual # octave)", lambda: by_group("SOT-2048", "r", "residual"), 2),
    Claim(
        FINDINGS, "# of # runs are still there at their last budget", lambda: by_group("SOT-2048", "stuck", "runs"), 0
    ),
    Claim(FINDINGS, "the recipe's seeds 123 and 456 (M̂ #, slope # and #:", stuck_fit, (1, 2, 2)),
    Claim(FINDINGS, "the tones with 8 equal partials, M = #, # octaves high;", stuck_high),
    Claim(FINDINGS, "are all missed, # % within 50 cents", stuck_pure, 0),
    Claim(FINDINGS, "with M̂ ≈ # (the centroid puts every tone # to # octaves low)", collapsed_seed, (0, 1, 1)),
    Claim(FINDINGS, "(the recipe on seed 42, slope #)", lambda: stage("recipe", "SOT-2048", 42)["centroid_slope"], 2),
    Claim(FINDINGS, "leaves it (median slope # at # steps, # at #)", logf_slopes, (2, 0, 2, 0)),
    Claim(FINDINGS, "the centroid (median r # over its # checkpoints)", mss_lin_centroid_r, (2, 0)),
    Claim(FINDINGS, "every tone read at # Hz, has a slope of #, because", lambda: stage_control()[:2], (0, 2)),
    Claim(FINDINGS, "and # of # MSS-Lin checkpoints pass it", lambda: stage_control()[2:], 0),
    Claim(
        FINDINGS,
        "the constant then scores #, and",
        lambda: notebook_number("08", r"the constant scores (-?[\d.]+);"),
        2,
    ),
    Claim(FINDINGS, "# of # SOT-2048 checkpoints against # of # MSS-Lin ones have b_M", partial_slope_counts, 0),
    Claim(
        FINDINGS, "the shipped MSS-Lin seed # at # steps, just before it learned", lambda: validity_exception()[:2], 0
    ),
    Claim(FINDINGS, "pitch, scores b_M = # (", lambda: validity_exception()[2], 2),
    # notebook 10 and the fresh seeds
    Claim(FINDINGS, "On the # FreePats notes, which nothing", lambda: freepats_recipe()[0], 0),
    Claim(FINDINGS, "trained on the synthetic tones, read #–# %, below every peer", lambda: freepats_recipe()[1:]),
    Claim(
        FINDINGS,
        "PESTO # %, CREPE tiny # %, YIN # %, pYIN # %. #",
        lambda: freepats_peers() + (freepats_misses()[0],),
        (1, 1, 1, 1, 0),
    ),
    Claim(
        FINDINGS,
        "weakest on the ethnic family (# %) and on the lowest octave, C1–B1 (# %)",
        lambda: freepats_misses()[1:],
        0,
    ),
    Claim(
        FINDINGS,
        "With oracle amplitudes SOT-2048 reads # %, # % and # % on the fresh test split at 2,200 steps (seeds 42, "
        "123 and 456; `results/evidence/centroid_cause.csv`), where its shipped runs read # %, # % and # %, and none "
        "of its checkpoints is in the stage (b_M at most #). It learns pitch on one seed of three",
        lambda: oracle_rows()[:7],
        (1, 1, 1, 1, 1, 1, 2),
    ),
    Claim(FINDINGS, "MSS-Lin with oracle amplitudes, reads # % on seed 42", lambda: oracle_rows()[7]),
    Claim(
        FINDINGS,
        "the recipe reads # % on seed 789, # % on seed 101112, # % on seed 2024, # % on seed 31337, # % on seed "
        "271828 and # % on seed 1618: it meets its goal of 90 % on # of # seeds it never saw (95 % Clopper-Pearson "
        "interval #–# %)",
        fresh_seed_rows,
        (1, 1, 1, 1, 1, 1, 0, 0, 1, 1),
    ),
    Claim(
        FINDINGS,
        "learns pitch on none of the six (at most # %). Paired by seed, the recipe is ahead by # points on average "
        "(t interval # to #), and the exact sign-flip test gives p = #, because on seed 271828 the recipe's # % is "
        "below the shipped run's # %",
        fresh_seed_comparison,
        (1, 1, 1, 1, 4, 1, 1),
    ),
    # README: the traps and the floor
    Claim(FINDINGS, "(never exact: a median # times the loss at f0)", two_f0_dip, 0),
    Claim(FINDINGS, "(# of # curves; f0/k costs a median # times the truth)", floor_landscapes, (0, 0, 1)),
    Claim(FINDINGS, "42's own # Hz start it stays collapsed (# % test RPA at # steps)", floor_alone, (-1, 1, 0)),
    Claim(FINDINGS, "the first SOT run to read pure tones (# %)", lambda: sot_pure_tones()[1], 0),
    Claim(FINDINGS, "stay in the centroid stage (# % test RPA, slope #)", recipe_floor, (1, 2)),
    Claim(FINDINGS, "# % of the real notes (most trombone and trumpet notes)", weak_fundamentals, 0),
    # README: train and estimate
    Claim(README, "is the best shipped estimator (# % RPA on the test tones)", best_run, 0),
    Claim(README, "the best SOT one (# %; it reads pure tones @ octave low)", best_sot, 0),
    # docs/index.md: what we find
    Claim(INDEX, "(# steps, @ seeds per group), **the test of the paper's claim", budget_and_seeds, 0),
    Claim(INDEX, "(a test RPA of at least # %) on @ seed of @, seed 123 stopping at # %", mss_lin_learns, (0, 0, 0, 1)),
    Claim(INDEX, "and SOT-2048 on @ of @;", lambda: learned("SOT-2048"), 0),
    Claim(INDEX, "the exact sign-flip test cannot go below p = # (it gives #)", sign_flip, (2, 1)),
    Claim(INDEX, "a recipe that learns pitch with MSS-Lin on @ of @ seeds tried", recipe_learns, 0),
    Claim(INDEX, "Most SOT-2048 checkpoints (# of #) pass through", lambda: by_group("SOT-2048", "in", "of"), 0),
    Claim(INDEX, "follow it with a median correlation of #)", lambda: by_group("SOT-2048", "r"), 2),
    Claim(INDEX, "makes MSS-Lin learn pitch on @ of @ seeds tried", recipe_learns, 0),
    Claim(INDEX, "#–# % test RPA on seeds 42, 123 and 456 at # steps, pure tones included", recipe_range, (1, 1, 0)),
    Claim(INDEX, "and #–# % on real instrument notes, next to PESTO's # %", recipe_real_range),
    Claim(INDEX, "which stays in the centroid stage on @ seeds of @ (notebook 09)", recipe_in_stage, 0),
    # docs/training.md: the estimators
    Claim(TRAINING, "`checkpoints/MSS-Lin/456/best.pt` (# % RPA on the test tones", best_run, 0),
    Claim(TRAINING, "`checkpoints/SOT-512-LogF/123/best.pt` (# %; it reads pure tones @ octave low)", best_sot, 0),
    # docs/training.md: the campaign
    *steps_table(),
    Claim(TRAINING, "All @ groups have @ seeds at the budget", groups_at_budget, 0),
    Claim(TRAINING, "seed 42, stood at # steps at the last run of notebook 05", extension_steps, 0),
    Claim(TRAINING, "that run: **# steps**. # of them ran on the CPU, in # hours of one core", cpu_compute, (0, 0, 1)),
    Claim(TRAINING, "# ran on one GPU in three sessions", lambda: steps_on("cuda"), 0),
    Claim(TRAINING, "The plateaus: seed 42 at # (", lambda: plateau(42), 0),
    Claim(TRAINING, "seed 123 at # (its smoothed validation RPA #–# % from there to # steps)", plateau_123, 0),
    Claim(TRAINING, "seed 456 at # (#–# % from there to #).", lambda: plateau_row(456), 0),
    Claim(TRAINING, "So `constants.CPU_BUDGET_STEPS` = **#**", budget, 0),
    Claim(TRAINING, "123's plateau at # (smoothed, #–# % for 2,200 steps)", fooled_plateau, 0),
    Claim(TRAINING, "then the seed climbed again to # %", fooled_high, 0),
    *validation_rpa_table(),
    Claim(TRAINING, "seed 123: # dB² at 2,200, # at 4,400, # at 8,800, # at 12,100;", sot_2048_123_lsd, 0),
    Claim(TRAINING, "seed 456: #, #, #, # at 12,100;", lambda: lsd("SOT-2048", 456, 12100), 0),
    Claim(TRAINING, "MSS-Lin seed 123: #, #, #, # at 9,900)", lambda: lsd("MSS-Lin", 123, 9900), 0),
    Claim(TRAINING, "is still rising at the budget** (+# points", lambda: rising("MSS-Lin", 123)[0]),
    Claim(TRAINING, "seed 123's (+# points over its last 1,100 steps, # % at 9,900)", logf_123_rising),
    # docs/performance.md: the CPU table (`wasserstein`, `mss`, `train_step`)
    Claim(PERFORMANCE, "W_1: #× cut and #× balanced at 1025 bins", w1_speedups, 0),
    *w_claims(CPU_W_ROWS, SORT, POT, COMPILED),
    Claim(PERFORMANCE, "authors' W # ms | # ms | #× (the shared STFT dominates)", sot_from_audio, (0, 0, 1)),
    Claim(PERFORMANCE, "formulation # / # ms | # / # ms | #× / #× |", lambda: mss_row("mss"), (0, 0, 0, 0, 2, 2)),
    Claim(PERFORMANCE, "reference layout #–# s | #–# s | **#–#×** |", cpu_steps, (1, 1, 2, 2, 2, 2)),
    Claim(PERFORMANCE, STEP_SPEEDUPS, step_speedups, 2),
    Claim(PERFORMANCE, "within #e-9 for MSS-Lin, MSS-LogLin and SOT-NoCut, within #e-3 for", cpu_agreement, (0, 1)),
    Claim(PERFORMANCE, "with the batch (log-log slopes #–#: no fixed overhead", batch_slopes, 2),
    Claim(PERFORMANCE, "grows as n_fft^# for ours and n_fft^# for the sort-based W", n_fft_slopes, 2),
    Claim(PERFORMANCE, "(#× at 256, #× at 4096, STFT included)", n_fft_gaps),
    # docs/performance.md: the GPU table (`gpu`)
    Claim(PERFORMANCE, "p = 1 | `sot-loss` #–# ms | tensor merge #–# ms | #–#× |", gpu_w1, 2),
    Claim(PERFORMANCE, "`sot-loss` #–# ms | sort-based #–# ms; tensor merge #–# ms | #–#×; #–#× |", gpu_w2, 2),
    Claim(PERFORMANCE, "SOT-NoCut) | authors' W #–# ms | #–# ms | #–#× |", gpu_sot_from_audio, (1, 1, 1, 1, 2, 2)),
    Claim(PERFORMANCE, "`torch.stft` # / # ms | # / # ms | #× / #×", lambda: mss_row("gpu"), (1, 1, 1, 1, 2, 2)),
    Claim(PERFORMANCE, "reference layout #–# ms | #–# ms | **#–#×** |", gpu_steps, (0, 0, 0, 0, 2, 2)),
    Claim(PERFORMANCE, "every W path takes #–# ms", gpu_w_paths, 0),
    Claim(PERFORMANCE, "these differences are about 2 % of the #–# ms", lambda: gpu_steps()[2:4], 0),
    Claim(PERFORMANCE, "step is #–#× faster … #–# runs of 22,000 steps per hour … against #–#", gpu_runs_per_hour),
    Claim(PERFORMANCE, "agree to #e-9 for MSS-Lin, … within #e-4", gpu_agreement, (0, 1)),
    # docs/performance.md: ensemble training (`ensemble`)
    Claim(PERFORMANCE, "| 1 | # ms | # ms | #× | # ms | # GiB |", lambda: ensemble_row(1), (0, 0, 2, 1, 1)),
    Claim(PERFORMANCE, "| 7 | # ms | # ms | #× | # ms | # GiB |", lambda: ensemble_row(7), (0, 0, 2, 1, 1)),
    Claim(PERFORMANCE, "| 14 | # ms | # ms | #× | # ms | # GiB |", lambda: ensemble_row(14), (0, 0, 2, 1, 1)),
    Claim(PERFORMANCE, "| 35 | # ms | # ms | **#×** | **# ms** | # GiB |", lambda: ensemble_row(35), (0, 0, 1, 1, 1)),
    Claim(PERFORMANCE, "take **# h** at the 35-run rate (# run-steps/s)", protocol_rate, (2, 0)),
    Claim(PERFORMANCE, "validations # h more (`protocol` in the results: # h in all)", protocol_hours, 2),
    Claim(PERFORMANCE, "the 35 runs stepped in turn in one process would take # h", in_turn_hours),
    Claim(PERFORMANCE, "that needs about # run-steps/s, #× the float32 rate", window_rate, (0, 1)),
    Claim(PERFORMANCE, "encoder forward # ms, synth forward # ms, the 7 loss calls forward # ms", forward_profile, 0),
    Claim(PERFORMANCE, "forward + backward # ms, Adam # ms.", step_profile, (0, 1)),
    Claim(PERFORMANCE, "takes # s member by member and # s together (#×), # ms per run", validation_35, (1, 1, 1, 0)),
    Claim(PERFORMANCE, "take # h (`validation_hours`), against # h member by member", validation_hours, (2, 1)),
    Claim(PERFORMANCE, "is **#× faster** (# ms against # ms in that comparison)", bfloat16_step, (2, 0, 0)),
    Claim(PERFORMANCE, "TF32 matrix products instead give #×", lambda: reduced_precision("TF32 matmul speedup"), 2),
    Claim(PERFORMANCE, "the member losses move by up to # % (TF32: # %)", loss_moves, (1, 2)),
    # docs/performance.md: how the speed is obtained (`wasserstein`, `wasserstein_1d`)
    *w_claims(W_TABLE_ROWS, SORT, POT, GENERAL, MERGE, COMPILED),
    Claim(PERFORMANCE, "the compiled SOT merge (# ms instead of `sot-loss`'s # ms at SOT-2048's shapes)", w_1d, 0),
    # docs/method.md
    Claim(METHOD, "| shipped runs | **# steps** (`CPU_BUDGET_STEPS`)", budget, 0),
    Claim(METHOD, "The shipped runs stop at # steps, a number chosen by a fixed rule", budget, 0),
    Claim(METHOD, "(@ SOT-2048 seeds were trained past it to confirm their plateaus)", seeds_past_budget, 0),
    Claim(METHOD, "(22 000 in the paper configs; # for the shipped runs)", budget, 0),
    Claim(METHOD, "points toward the target only # % of the time; on complete frames, # %", landscape_gradients, 0),
    # docs/explorer.md
    Claim(EXPLORER, "update in # ms (p50, # ms p95 …), the estimator page in # ms", explorer_latencies, 0),
    # docs/package.md
    Claim(PACKAGE, "`steps` in `base.yaml` (#)", budget, 0),
    Claim(PACKAGE, "single notes of # General MIDI instruments (# families)", real_note_set, 0),
    # docs/reproducing.md (its notebook times: test_the_reproducing_page_quotes_the_executed_notebooks_times)
    Claim(REPRODUCING, "(`make real-notes`, # notes in about 20 s)", real_notes_count, 0),
    Claim(REPRODUCING, "# single notes of # General MIDI instruments", notes_and_instruments, 0),
    # docs/evidence_plan.md: a rule-setting page, but for the recipe's earlier runs
    Claim(PLAN, "At 2,200 steps the recipe's @ earlier runs had passed # % validation RPA", recipe_at_2200, 0),
]


# ---------------------------------------------------------------------------------------------------------------
# The tests.

WORDS = {"an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9}
NUMBER = r"([-−+]?\d[\d,]*(?: \d{3}(?!\d))*(?:\.\d+)?)"  # thousands grouped by commas or (docs/method.md) spaces
WORD = r"\b(" + "|".join(WORDS) + r")\b"


@cache
def prose(file: str) -> str:
    return " ".join((REPO / file).read_text().split())


def compile_pattern(pattern: str) -> re.Pattern:
    parts = re.split(r"(#|@|…)", " ".join(pattern.split()))
    return re.compile("".join({"#": NUMBER, "@": WORD, "…": ".*?"}.get(part, re.escape(part)) for part in parts))


def parse(text: str) -> float:
    return float(WORDS.get(text.lower(), text.replace(",", "").replace(" ", "").replace("−", "-")))


def rounded(value: float, decimals: int) -> float:
    """`value` as the prose writes it (format() rounds as the notebooks' f-strings do; < 0: to tens...)."""
    return float(f"{value:.{decimals}f}") if decimals >= 0 else float(round(value, decimals))


def claim_id(claim: Claim) -> str:
    return f"{Path(claim.file).stem}: {' '.join(claim.pattern.split()[:9])}"


@pytest.mark.parametrize("claim", CLAIMS, ids=[claim_id(claim) for claim in CLAIMS])
def test_the_docs_quote_the_results(claim):
    """The number(s) the sentence quotes are the ones its source holds, rounded as the prose rounds them."""
    matches = list(compile_pattern(claim.pattern).finditer(prose(claim.file)))
    assert len(matches) == 1, f"{claim.file}: {claim.pattern!r} is found {len(matches)} times, not once"
    quoted = [parse(text) for text in matches[0].groups()]
    expected = claim.expected()
    expected = list(expected) if isinstance(expected, tuple | list) else [expected]
    decimals = claim.decimals if isinstance(claim.decimals, tuple) else (claim.decimals,) * len(expected)
    assert len(quoted) == len(expected) == len(decimals), "a claim's numbers, values and decimals must pair up"
    assert quoted == [rounded(float(v), d) for v, d in zip(expected, decimals)], (
        f"{claim.file}: {matches[0].group(0)!r} quotes {quoted}; the results hold {expected}"
    )


def test_the_readme_quotes_the_results_table():
    """The README's copy of the paper's table is results/results_table.md, row for row."""
    readme = (REPO / README).read_text().splitlines()
    for row in (RESULTS / "results_table.md").read_text().splitlines():
        assert row in readme, f"README.md lacks the results table's row {row!r}"


def test_the_gpu_sessions_add_up_to_the_steps_the_logs_ran_on_a_gpu():
    """docs/training.md splits the GPU steps between its sessions (the split is not in the results): the parts
    add up to the steps the logs record on a GPU."""
    pattern = compile_pattern("ran on one GPU in three sessions: # on an NVIDIA H200 … and # on an NVIDIA H100")
    (match,) = pattern.finditer(prose(TRAINING))
    assert sum(parse(text) for text in match.groups()) == steps_on("cuda")


def test_the_findings_say_which_remedies_are_trained_as_the_checkpoints_do():
    """A remedy docs/findings.md calls "configured and not trained yet" has a config and no run folder."""
    readme = " ".join((REPO / FINDINGS).read_text().split())
    untrained = re.findall(r"`([\w-]+)` \([^`]*?\) is configured and not trained yet", readme)
    assert untrained, "docs/findings.md no longer names an untrained remedy: drop or adapt this test"
    for remedy in untrained:
        assert (REPO / "sot_utils" / "configs" / "remedies" / remedy).is_dir()
        assert not list((REPO / "checkpoints" / "remedies" / remedy).glob("*/*/last.pt")), f"{remedy} has runs now"
