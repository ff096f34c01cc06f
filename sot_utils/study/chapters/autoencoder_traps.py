"""Chapter of notebooks/07_autoencoder_traps.ipynb: the autoencoder's traps, a cheap proxy of training
and the seeds' starting points.

The generic tools live in :mod:`sot_utils.study.traps`; this module fixes the chapter's grids and
composes them into the notebook's tables:

- :func:`grid`: the quick and full settings (:data:`QUICK_GRID`, :data:`FULL_GRID`) and
  :func:`candidate_f0s`, the landscapes' candidates;
- :func:`exact_minima`, :func:`compute_landscapes` and :func:`floor_preference`: section 1, the
  exact sub-harmonic minima with and without the remedy's floor under the fundamental
  (:func:`remedy_floor`); :func:`load_notes`, :func:`fundamental_ratios` and
  :func:`notes_below_floor`: where real notes break the floor's assumption;
- :func:`proxy_starts` (from :func:`compute_starting_points` and :func:`zero_head_f0`),
  :func:`recipe_prior_weights`, :func:`proxy_fits` / :func:`compute_proxy` and
  :func:`proxy_summary`: section 2, f0 and amplitudes fitted together per tone from the seeds'
  starting points;
- :func:`compute_starting_points` and :func:`starts_and_outcomes`: section 3, what each untrained
  model predicts next to what its shipped runs became;
- :func:`findings`: the "What this shows" text, every number read from the tables.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ...constants import DATA_MAX_HARMONICS, SUCCESS_CENTS
from ...training.config import resolve_config
from ...training.loss_config import PAPER_GROUPS, paper_loss
from ...validation import check_bool, check_int, check_positive_number, check_tensor, check_unit_interval
from ..landscape import harmonic_tones
from ..parallel import map_in_processes
from ..real_notes import DEFAULT_PATH as NOTES_PATH
from ..real_notes import QUICK_PATH as NOTES_QUICK_PATH
from ..real_notes import generate_real_notes, load_real_notes, save_real_notes
from ..traps import (
    DIP_OCTAVES,
    PREFERENCE_MARGIN,
    fit_f0_and_amplitudes,
    fundamental_ratio,
    sub_harmonic_preference,
    subharmonic_ratios,
    trap_landscapes,
    untrained_f0,
)

__all__ = [
    "CANDIDATE_RANGE",
    "FLOOR_REMEDY",
    "FULL_GRID",
    "Grid",
    "MARKED_SUB_HARMONICS",
    "PARTIAL_AMPLITUDE",
    "PRIOR_REMEDY",
    "PROXY_SEEDS",
    "QUICK_GRID",
    "SEEDS",
    "START_GROUP",
    "TRAINED_GROUPS",
    "candidate_f0s",
    "compute_landscapes",
    "compute_proxy",
    "compute_starting_points",
    "exact_minima",
    "findings",
    "floor_preference",
    "fundamental_ratios",
    "grid",
    "load_notes",
    "n_test_tones",
    "notes_below_floor",
    "proxy_fits",
    "proxy_starts",
    "proxy_summary",
    "recipe_prior_weights",
    "remedy_floor",
    "starts_and_outcomes",
    "zero_head_f0",
]

TRAINED_GROUPS = ("SOT-2048", "MSS-Lin")
"""The losses the remedies train with (notebook 09): the floored landscapes and the proxy use them."""

SEEDS = (42, 123, 456, 789, 101112)
"""The shipped runs' seeds, whose starting points section 3 shows."""

PROXY_SEEDS = (42, 456, 123)
"""The seeds whose untrained starting f0 the proxy starts from (one collapses, two learn; notebook 05)."""

START_GROUP = "SOT-2048"
"""The group whose config builds the untrained models (every group shares the architecture)."""

FLOOR_REMEDY = "fundamental-floor"
"""The remedy whose ``model.fundamental_floor`` the floored landscapes and proxy fits use."""

PRIOR_REMEDY = "recipe"
"""The remedy whose ``loss.harmonic_prior_weight`` (per group) the proxy's prior fits use."""

PARTIAL_AMPLITUDE = 0.7
"""The amplitude of every partial of the landscape and proxy targets."""

CANDIDATE_RANGE = (1 / 6.5, 2.3)
"""The landscapes' log-spaced candidates run from ``f0 / 6.5`` to ``2.3 f0``."""

MARKED_SUB_HARMONICS = 6
"""The candidates also hold ``f0 / k`` exactly for ``k = 1 .. 6``, and ``2 f0``."""


@dataclasses.dataclass(frozen=True)
class Grid:
    """The chapter's settings for one mode (notebook 07).

    Attributes:
        groups: the paper groups whose landscapes section 1 draws.
        partial_counts: the targets' partial counts K.
        steps: Adam steps of every landscape point and every proxy fit.
        n_log_candidates: log-spaced candidates of the landscapes (before the exact marks).
        proxy_targets_hz: the proxy's target f0 values, Hz.
        n_tones: test tones of section 3 (None: all).
    """

    groups: tuple[str, ...]
    partial_counts: tuple[int, ...]
    steps: int
    n_log_candidates: int
    proxy_targets_hz: tuple[float, ...]
    n_tones: int | None


QUICK_GRID = Grid(
    groups=TRAINED_GROUPS,
    partial_counts=(1, 8),
    steps=30,
    n_log_candidates=14,
    proxy_targets_hz=(150.0, 300.0, 600.0, 1200.0),
    n_tones=64,
)
"""Quick mode (CI): a smoke test, few candidates, steps and tones."""

FULL_GRID = Grid(
    groups=PAPER_GROUPS,
    partial_counts=(1, 2, 8),
    steps=300,
    n_log_candidates=100,
    proxy_targets_hz=(110.0, 165.0, 250.0, 370.0, 550.0, 820.0, 1230.0, 1850.0),
    n_tones=None,
)
"""Full mode: every paper loss, 300 Adam steps, all test tones."""


def grid(quick: bool) -> Grid:
    """:data:`QUICK_GRID` or :data:`FULL_GRID` (notebook 07)."""
    return QUICK_GRID if check_bool("quick", quick) else FULL_GRID


def n_test_tones(quick: bool, n_available: int) -> int:
    """How many of the ``n_available`` test tones section 3 of notebook 07 uses."""
    check_int("n_available", n_available, minimum=1)
    n_tones = grid(quick).n_tones
    return n_available if n_tones is None else min(n_tones, n_available)


def _require_columns(name: str, table: pd.DataFrame, columns) -> None:
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"`{name}` must be a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"`{name}` lacks the columns {missing} (has {list(table.columns)})")


# --------------------------------------------------------------------------------------------
# Section 1: exact sub-harmonic minima, and the floor under the fundamental


def exact_minima(max_partials: int = DATA_MAX_HARMONICS) -> pd.DataFrame:
    """For K = 1 .. ``max_partials`` partials, the k whose ``f0 / k`` renders the tone exactly
    (:func:`sot_utils.study.traps.subharmonic_ratios`; notebook 07).

    Returns:
        one row per K: ``partials K``, ``exact minima at f0/k for k =`` (a list).
    """
    check_int("max_partials", max_partials, minimum=1)
    counts = range(1, max_partials + 1)
    return pd.DataFrame({"partials K": counts, "exact minima at f0/k for k =": [subharmonic_ratios(k) for k in counts]})


def candidate_f0s(target_f0_hz: float, n_log_candidates: int) -> torch.Tensor:
    """The landscapes' candidate f0 values (notebook 07): ``n_log_candidates`` log-spaced over
    :data:`CANDIDATE_RANGE` times the target's f0, plus ``f0 / k`` for ``k = 1 ..``
    :data:`MARKED_SUB_HARMONICS` and ``2 f0`` exactly.

    Args:
        target_f0_hz: Hz.
        n_log_candidates: >= 2.

    Returns:
        ``[C]`` Hz, float32, ascending, without repeats.
    """
    check_positive_number("target_f0_hz", target_f0_hz)
    check_int("n_log_candidates", n_log_candidates, minimum=2)
    low, high = CANDIDATE_RANGE
    ratios = np.logspace(np.log10(low), np.log10(high), n_log_candidates)
    marks = [1 / k for k in range(1, MARKED_SUB_HARMONICS + 1)] + [2]
    return torch.tensor(target_f0_hz * np.union1d(ratios, marks), dtype=torch.float32)


def compute_landscapes(target_f0_hz: float, quick: bool, fundamental_floor: float = 0.0, groups=None) -> pd.DataFrame:
    """Amplitude-optimal landscapes around K-partial targets on the chapter's grid (notebook 07,
    section 1): :func:`sot_utils.study.traps.trap_landscapes` over :func:`candidate_f0s`.

    Args:
        target_f0_hz: the targets' f0, Hz.
        quick: :data:`QUICK_GRID` or :data:`FULL_GRID`.
        fundamental_floor: the decoder's floor on the fundamental, in ``[0, 1]`` (0: the paper's).
        groups: paper groups (None: the grid's).

    Returns:
        :func:`~sot_utils.study.traps.trap_landscapes`'s rows (the file ``trap_landscapes*.csv``).
    """
    settings = grid(quick)
    check_unit_interval("fundamental_floor", fundamental_floor)
    groups = settings.groups if groups is None else tuple(groups)
    candidates = candidate_f0s(target_f0_hz, settings.n_log_candidates)
    return trap_landscapes(
        list(groups),
        list(settings.partial_counts),
        target_f0_hz,
        candidates,
        steps=settings.steps,
        fundamental_floor=fundamental_floor,
    )


def remedy_floor(remedy: str = FLOOR_REMEDY, group: str = START_GROUP) -> float:
    """The fundamental floor a remedy trains with: its config's ``model.fundamental_floor`` (notebook 07)."""
    return resolve_config(group, SEEDS[0], remedy=remedy).model.fundamental_floor


def floor_preference(floored: pd.DataFrame, target_f0_hz: float) -> pd.DataFrame:
    """:func:`sot_utils.study.traps.sub_harmonic_preference` of the floored landscapes, plus
    ``sub-harmonic / truth``: the loss at the best f0/k over the loss at f0 (notebook 07).

    Args:
        floored: :func:`compute_landscapes`'s rows with a floor.
        target_f0_hz: Hz.
    """
    _require_columns("floored", floored, ["candidate_hz", "loss", "group", "n_partials"])
    table = sub_harmonic_preference(floored, target_f0_hz)
    table["sub-harmonic / truth"] = table["loss there"] / table["loss at f0"]
    return table


def load_notes(quick: bool, root: str | Path) -> dict:
    """The real-note set of notebook 06 (its quick set in quick mode), rendered and saved first if
    missing (notebook 07).

    Args:
        quick: the quick set (two notes per instrument).
        root: the repository root (the notes lie under ``data/``).

    Returns:
        :func:`sot_utils.study.real_notes.load_real_notes`'s dict.
    """
    path = Path(root) / (NOTES_QUICK_PATH if check_bool("quick", quick) else NOTES_PATH)
    if not path.exists():
        save_real_notes(generate_real_notes(quick=quick), path)
    return load_real_notes(path)


def fundamental_ratios(notes: dict) -> pd.DataFrame:
    """Each real note's fundamental over its strongest partial (notebook 07).

    Args:
        notes: ``{"instrument": [N] str, "audio": [N, n_samples], "f0_hz": [N] Hz, ...}``
            (:func:`load_notes`).

    Returns:
        one row per note: ``instrument``, ``fundamental / strongest``
        (:func:`sot_utils.study.traps.fundamental_ratio`).
    """
    missing = [key for key in ("instrument", "audio", "f0_hz") if key not in notes]
    if missing:
        raise ValueError(f"`notes` lacks the keys {missing}")
    return pd.DataFrame(
        {
            "instrument": notes["instrument"],
            "fundamental / strongest": fundamental_ratio(notes["audio"], notes["f0_hz"]),
        }
    )


def _below_column(floor: float) -> str:
    return f"below {floor:g} (%)"


def notes_below_floor(note_ratios: pd.DataFrame, floor: float) -> pd.DataFrame:
    """Per instrument, the share of notes whose fundamental is below ``floor`` of their strongest
    partial (notebook 07; the file ``real_notes_fundamental_ratio.csv``).

    Args:
        note_ratios: :func:`fundamental_ratios`'s rows.
        floor: the decoder's floor, in ``[0, 1]``.

    Returns:
        indexed by instrument, most affected first: ``notes``, ``below <floor> (%)``, ``median``
        (of the ratio).
    """
    _require_columns("note_ratios", note_ratios, ["instrument", "fundamental / strongest"])
    floor = check_unit_interval("floor", floor)
    below = _below_column(floor)
    return (
        note_ratios.assign(below=note_ratios["fundamental / strongest"] < floor)
        .groupby("instrument")
        .agg(
            notes=("below", "size"),
            **{below: ("below", lambda b: 100 * b.mean())},
            median=("fundamental / strongest", "median"),
        )
        .sort_values(below, ascending=False)
    )


# --------------------------------------------------------------------------------------------
# Sections 2 and 3: the seeds' starting points and the proxy of training


def compute_starting_points(cqt: torch.Tensor, f0_hz: torch.Tensor, seeds=SEEDS) -> pd.DataFrame:
    """What each seed's untrained model predicts, with the paper's random f0 head and with the zero
    one (notebook 07, section 3; :func:`sot_utils.study.traps.untrained_f0`).

    Seeds the global RNG with each seed in turn (as training does).

    Args:
        cqt: ``[N, n_frames, n_bins]`` encoder inputs of the tones.
        f0_hz: ``[N]`` their true f0, Hz.
        seeds: the runs' seeds.

    Returns:
        one row per (seed, head): ``seed``, ``f0 head``, ``median start (Hz)`` (median over the
        tones of each tone's median over frames), ``tones started below their f0 (%)``.
    """
    check_tensor("cqt", cqt, ndim=3, layout="[N, n_frames, n_bins]")
    check_tensor("f0_hz", f0_hz, ndim=1, layout="[N]", positive=True)
    if len(f0_hz) != len(cqt):
        raise ValueError(f"`f0_hz` needs one value per tone ({len(cqt)}), got {len(f0_hz)}")
    seeds = [check_int("seeds", seed, minimum=0) for seed in seeds]
    rows = []
    for seed in seeds:
        for head in ("random", "zero"):
            config = resolve_config(START_GROUP, seed, model={"f0_head_init": head})
            f0 = untrained_f0(config.model, seed, cqt)
            rows.append(
                {
                    "seed": seed,
                    "f0 head": head,
                    "median start (Hz)": float(np.median(f0)),
                    "tones started below their f0 (%)": 100 * float(np.mean(f0 < f0_hz.numpy())),
                }
            )
    return pd.DataFrame(rows)


def zero_head_f0(model_config=None) -> float:
    """Where a zero-initialised f0 head starts, for every input and seed: the centre of the encoder's
    logit grid, ``sqrt(fmin_hz * fmax_hz)`` Hz (notebook 07).

    Args:
        model_config: a :class:`sot_utils.training.config.ModelConfig` (None: the
            :data:`PRIOR_REMEDY` model of :data:`START_GROUP`, whose head starts at zero); built on
            the meta device, so the global RNG is left as it is.
    """
    if model_config is None:
        model_config = resolve_config(START_GROUP, SEEDS[0], remedy=PRIOR_REMEDY).model
    with torch.device("meta"):
        encoder = model_config.build().encoder
    return math.sqrt(encoder.fmin_hz * encoder.fmax_hz)


def proxy_starts(starting_points: pd.DataFrame, zero_head_hz: float, seeds=PROXY_SEEDS) -> dict[str, float]:
    """The proxy's starts, lowest first: each of ``seeds``' median untrained f0 with the random head,
    and the zero head's (notebook 07).

    Args:
        starting_points: :func:`compute_starting_points`'s rows (with those seeds).
        zero_head_hz: :func:`zero_head_f0`, Hz.
        seeds: the seeds to start from.

    Returns:
        ``{label: Hz}``, labels such as ``"seed 42 (119 Hz)"`` and ``"zero head (503 Hz)"``.
    """
    _require_columns("starting_points", starting_points, ["seed", "f0 head", "median start (Hz)"])
    check_positive_number("zero_head_hz", zero_head_hz)
    random_head = starting_points[starting_points["f0 head"] == "random"].set_index("seed")["median start (Hz)"]
    missing = [seed for seed in seeds if seed not in random_head.index]
    if missing:
        raise ValueError(f"`starting_points` has no random-head start for the seeds {missing}")
    starts = [(f"seed {seed}", float(random_head[seed])) for seed in seeds] + [("zero head", float(zero_head_hz))]
    return {f"{name} ({hz:.0f} Hz)": hz for name, hz in sorted(starts, key=lambda start: start[1])}


def recipe_prior_weights(groups=TRAINED_GROUPS, remedy: str = PRIOR_REMEDY) -> dict[str, float]:
    """``{group: loss.harmonic_prior_weight}`` of a remedy's configs (notebook 07)."""
    return {group: resolve_config(group, SEEDS[0], remedy=remedy).loss.harmonic_prior_weight for group in groups}


def proxy_fits(
    starts: dict[str, float],
    prior_weights: dict[str, float],
    floor: float,
    targets_hz,
    partial_counts,
    steps: int,
) -> pd.DataFrame:
    """f0 and amplitudes fitted together per tone from each start (notebook 07, section 2;
    :func:`sot_utils.study.traps.fit_f0_and_amplitudes`).

    For each K in ``partial_counts`` (targets: their first K partials at :data:`PARTIAL_AMPLITUDE`),
    each group of ``prior_weights`` and each start, three fits: as the paper's autoencoder, with the
    group's harmonic prior, and with the fundamental floor.

    Args:
        starts: ``{label: Hz}`` (:func:`proxy_starts`).
        prior_weights: ``{group: weight}`` (:func:`recipe_prior_weights`).
        floor: the decoder's floor on the fundamental, in ``[0, 1]``.
        targets_hz: the target f0 values, Hz.
        partial_counts: K, 1 to :data:`sot_utils.constants.DATA_MAX_HARMONICS`.
        steps: Adam steps.

    Returns:
        one row per fit: :func:`~sot_utils.study.traps.fit_f0_and_amplitudes`'s columns, ``group``,
        ``partials``, ``start``, ``prior`` (the prior's weight, in place of the fit's own ``prior``),
        ``floor``, ``true_hz``, ``true_over_final``, ``outcome``
        (``"f0"``, ``"f0/k"`` or ``"elsewhere"``, within :data:`sot_utils.constants.SUCCESS_CENTS`) and
        ``moved (octaves)`` (the file ``trap_proxy.csv``).
    """
    if not starts or not prior_weights:
        raise ValueError("`starts` and `prior_weights` must be non-empty dicts")
    for label, hz in starts.items():
        check_positive_number(f"starts[{label!r}]", hz)
    floor = check_unit_interval("floor", floor)
    targets = torch.tensor([check_positive_number("targets_hz", hz) for hz in targets_hz])
    if not len(targets):
        raise ValueError("`targets_hz` must not be empty")
    counts = [check_int("partial_counts", k, minimum=1) for k in partial_counts]
    if max(counts, default=0) > DATA_MAX_HARMONICS:
        raise ValueError(f"`partial_counts` must be at most {DATA_MAX_HARMONICS}, got {counts}")
    check_int("steps", steps, minimum=1)
    jobs, labels = [], []
    for count in counts:
        amplitudes = torch.zeros(DATA_MAX_HARMONICS)
        amplitudes[:count] = PARTIAL_AMPLITUDE
        tones = harmonic_tones(targets, amplitudes)
        for group, prior_weight in prior_weights.items():
            loss = paper_loss(group, reduction="none")
            for start_name, start in starts.items():
                for prior, fundamental_floor in ((0.0, 0.0), (prior_weight, 0.0), (0.0, floor)):
                    options = {"steps": steps, "prior_weight": prior, "fundamental_floor": fundamental_floor}
                    jobs.append(((loss, tones, torch.full_like(targets, start)), options))
                    label = {"group": group, "partials": count, "start": start_name, "prior": prior}
                    labels.append({**label, "floor": fundamental_floor})
    # the fits are independent and small: one per core at a time (sot_utils.study.parallel)
    fits = map_in_processes(fit_f0_and_amplitudes, jobs, desc="proxy fits")
    rows = [
        fit.assign(**label, true_hz=targets.numpy(), true_over_final=targets.numpy() / fit["final_hz"].to_numpy())
        for fit, label in zip(fits, labels)
    ]
    proxy = pd.concat(rows, ignore_index=True)
    cents = 1200 * np.log2(proxy["true_over_final"])
    sub_cents = cents - 1200 * np.log2(np.round(proxy["true_over_final"]).clip(lower=1))
    proxy["outcome"] = np.select(
        [cents.abs() < SUCCESS_CENTS, sub_cents.abs() < SUCCESS_CENTS], ["f0", "f0/k"], "elsewhere"
    )
    proxy["moved (octaves)"] = np.log2(proxy["final_hz"] / proxy["start_hz"]).abs()
    return proxy


def compute_proxy(starts: dict[str, float], prior_weights: dict[str, float], floor: float, quick: bool) -> pd.DataFrame:
    """:func:`proxy_fits` on the chapter's grid: the partial counts, target f0 values and steps of
    :func:`grid` (notebook 07, section 2)."""
    settings = grid(quick)
    return proxy_fits(starts, prior_weights, floor, settings.proxy_targets_hz, settings.partial_counts, settings.steps)


def proxy_summary(proxy: pd.DataFrame) -> pd.DataFrame:
    """Per (group, start, prior, floor, partials) of :func:`proxy_fits`: the share of fits that end
    on f0 and on an f0/k (%), and the median distance moved (octaves) and strongest partial
    (notebook 07).

    Returns:
        columns ``group``, ``start``, ``prior``, ``floor``, ``partials``, ``f0``, ``subharmonic``,
        ``moved``, ``strongest_partial``, in the order of first appearance.
    """
    keys = ["group", "start", "prior", "floor", "partials"]
    _require_columns("proxy", proxy, [*keys, "outcome", "moved (octaves)", "strongest_partial"])
    return (
        proxy.groupby(keys, sort=False)
        .agg(
            f0=("outcome", lambda o: 100 * (o == "f0").mean()),
            subharmonic=("outcome", lambda o: 100 * (o == "f0/k").mean()),
            moved=("moved (octaves)", "median"),
            strongest_partial=("strongest_partial", "median"),
        )
        .reset_index()
    )


def starts_and_outcomes(starting_points: pd.DataFrame, shipped: pd.DataFrame) -> pd.DataFrame:
    """Each seed's starting points next to its shipped runs' test RPA per group (notebook 07,
    section 3), rounded to 0.1.

    Args:
        starting_points: :func:`compute_starting_points`'s rows.
        shipped: :func:`sot_utils.training.evaluate.evaluate_budgets`'s rows at one budget
            (``seed``, ``group``, ``rpa``).
    """
    _require_columns("starting_points", starting_points, ["seed"])
    _require_columns("shipped", shipped, ["seed", "group", "rpa"])
    outcome = shipped.pivot_table(index="seed", columns="group", values="rpa")
    return starting_points.merge(outcome, left_on="seed", right_index=True, how="left").round(1)


# --------------------------------------------------------------------------------------------
# What this shows


def _exact_minima_line(preference: pd.DataFrame) -> str:
    zeroish = preference[preference["best sub-harmonic"] != "-"]
    preferred = zeroish[zeroish["truth lower"]]
    if len(preferred):
        named = ", ".join(f"{row.group} ({row.partials} partials)" for row in preferred.itertuples())
        sot = preferred["group"].str.startswith("SOT").any()
        verdict = "the truth is clearly lower only for " + named + (", none of them an SOT loss." if not sot else ".")
    else:
        verdict = "no loss clearly prefers the truth."
    return (
        f"- **Every loss has exact sub-harmonic minima.** In {int((~zeroish['truth lower']).sum())} of "
        f"{len(zeroish)} (loss, target) pairs with an exact sub-harmonic, the amplitude-optimal loss at the best "
        f"f0/k is lower than at the true f0 or within {PREFERENCE_MARGIN:.0%} of the curve's range of it (a tie: "
        f"the optimised minima are that precise; median loss at f0/k over the curve's range: "
        f"{np.median(zeroish['loss there'] / zeroish['highest loss']):.3f}); " + verdict
    )


def _octave_line(preference: pd.DataFrame) -> str:
    dips = preference[preference["2 f0 a dip"]]
    octave_ratio = np.median(preference["loss at 2 f0"] / preference["loss at f0"])
    head = (
        "- **The octave above is a second trap, on the other side.** "
        if len(dips)
        else "- **The octave above is no local minimum here.** "
    )
    if len(dips):
        tail = (
            f"yet lower than the candidates {DIP_OCTAVES:g} octave or more either side in "
            f"{len(dips)} of {len(preference)} (loss, target) curves ("
            + ", ".join(f"{row.group} with {row.partials} partials" for row in dips.itertuples())
            + "): a dip that small steps on f0 do not leave."
        )
    else:
        tail = f"and no lower than the candidates {DIP_OCTAVES:g} octave either side."
    return (
        head + f"At 2 f0 the candidate can play only the target's even partials: the loss there is a median "
        f"{octave_ratio:.0f} times the loss at f0, " + tail
    )


def _floor_line(preference: pd.DataFrame, floor_table: pd.DataFrame, floor: float) -> str:
    zeroish = preference[preference["best sub-harmonic"] != "-"]
    floor_subs = floor_table[floor_table["best sub-harmonic"] != "-"]
    head = (
        "- **A floor under the fundamental makes every loss prefer the truth.** "
        if bool(floor_subs["truth lower"].all())
        else "- **A floor under the fundamental does not make every loss prefer the truth here.** "
    )
    return (
        head + f"With the decoder's fundamental kept at {floor:g} of its strongest amplitude, the truth is clearly "
        f"lower than the best f0/k in "
        f"{int(floor_subs['truth lower'].sum())} of {len(floor_subs)} (loss, target) pairs (the loss at f0/k is a "
        f"median {np.median(floor_subs['loss there'] / floor_subs['loss at f0']):.1f} times the loss at f0; "
        f"without the floor {np.median(zeroish['loss there'] / zeroish['loss at f0']):.1f})."
    )


def _notes_line(note_ratios: pd.DataFrame, floor: float) -> str:
    ratios = note_ratios["fundamental / strongest"]
    below = ratios < floor
    column = _below_column(floor)
    weak = notes_below_floor(note_ratios, floor)
    worst = weak[weak[column] > 0].head(3)
    most = (
        ", most often " + ", ".join(f"{name} ({row[column]:.0f} % of its notes)" for name, row in worst.iterrows())
        if len(worst)
        else ""
    )
    return (
        f"- **The floor's assumption on real notes:** {int(below.sum())} of {len(below)} notes "
        f"({100 * below.mean():.1f} %) have a fundamental below {floor:g} of their strongest partial"
        + most
        + f"; the weakest fundamental found is {ratios.min():.2f} of the strongest."
    )


def _proxy_line(proxy: pd.DataFrame) -> str:
    summary = proxy_summary(proxy)
    lowest_hz = float(proxy["start_hz"].min())
    lowest = proxy.loc[proxy["start_hz"] == lowest_hz, "start"].iloc[0]
    low = summary[(summary["start"] == lowest) & (summary["floor"] == 0)]
    return (
        f"- **The proxy reproduces the collapse from a low start, not the learning from a high one.** From "
        f"{lowest_hz:.0f} Hz, fits end on the target's f0 in {low['f0'].mean():.0f} % of cases (median strongest "
        f"partial {low['strongest_partial'].median():.0f}); from any start f0 moves a median "
        f"{summary['moved'].median():.2f} octave: the amplitudes adapt first and pin f0 where it started. "
        "Training learns what this per-tone proxy cannot (the encoder is shared by all tones), so the remedies "
        "were screened by training, not by the proxy."
    )


def findings(
    preference: pd.DataFrame,
    floor_table: pd.DataFrame,
    note_ratios: pd.DataFrame,
    proxy: pd.DataFrame,
    floor: float,
) -> str:
    """The "What this shows" text of notebook 07 (Markdown), every number read from the tables.

    Args:
        preference: :func:`sot_utils.study.traps.sub_harmonic_preference` of the plain landscapes.
        floor_table: the same of the floored landscapes (:func:`floor_preference`).
        note_ratios: :func:`fundamental_ratios`'s rows.
        proxy: :func:`proxy_fits`'s rows (its lowest start is the collapsing seed's).
        floor: the floor the floored landscapes used, in ``[0, 1]``.

    Returns:
        five Markdown bullets: the exact minima, the octave above, the floor, the floor's assumption
        on real notes, the proxy.
    """
    columns = ["group", "partials", "loss at f0", "best sub-harmonic", "loss there", "highest loss", "truth lower"]
    _require_columns("preference", preference, [*columns, "loss at 2 f0", "2 f0 a dip"])
    _require_columns("floor_table", floor_table, columns)
    _require_columns("note_ratios", note_ratios, ["instrument", "fundamental / strongest"])
    _require_columns("proxy", proxy, ["start", "start_hz", "floor", "outcome", "moved (octaves)", "strongest_partial"])
    floor = check_unit_interval("floor", floor)
    for name, table in (("preference", preference), ("note_ratios", note_ratios), ("proxy", proxy)):
        if table.empty:
            raise ValueError(f"`{name}` must not be empty")
    lines = [
        _exact_minima_line(preference),
        _octave_line(preference),
        _floor_line(preference, floor_table, floor),
        _notes_line(note_ratios, floor),
        _proxy_line(proxy),
    ]
    return "\n".join(lines)
