"""Chapter of notebooks/08_centroid_stage.ipynb: the centroid stage, why SOT training is a seed lottery.

``W_2^2`` of two unit-mass spectra is a centroid term plus a shape term; the centroid term pulls an
f0 head to the f0 at which the decoder's power centroid sits on the target's. This module computes
the notebook's tables:

- :func:`compute_identity`: the split on two real spectra, checked against POT;
- :func:`compute_pull`: where a one-partial estimate's loss is lowest, under the transport term
  alone and under the paper's SOT-2048 loss (``results/centroid_pull.csv``);
- :func:`compute_stage`: every trained run at every budget, how much its pitch errors follow the
  tones' harmonic balance (``results/centroid_stage.csv``), from :func:`centroid_predictions` per
  checkpoint and :func:`stage_row` per table; :func:`run_dirs` finds the runs;
- :func:`run_summary` (each run's last and peak checkpoint) and :func:`summarize_groups`
  (``results/centroid_stage_by_group.csv``, :func:`group_summary` per loss);
- :func:`error_panels`: the checkpoints whose tone-by-tone errors the notebook draws;
- :func:`findings`: the "What this shows" text, every number read from those tables.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from ...constants import BUDGET_STEP, CPU_BUDGET_STEPS, DATA_MAX_HARMONICS, SAMPLE_RATE
from ...metrics import harmonic_centroid, raw_chroma_accuracy, raw_pitch_accuracy
from ...spectral import stft_magnitude
from ...training.data import load_split
from ...training.evaluate import _labels_and_controls, audible_amplitudes, budget_checkpoint
from ...training.loss_config import build_loss, group_loss_terms, paper_loss
from ...validation import check_bool, check_positive_number
from ..landscape import harmonic_tones
from ..traps import centroid_partial_slope, centroid_slope, wasserstein2_mean_split

__all__ = [
    "plot_centroid_errors",
    "plot_centroid_pull",
    "plot_centroid_stage",
    "BUDGETS",
    "ERROR_PANELS",
    "F0_HZ",
    "GROUPS",
    "IDENTITY_RATIO",
    "LEARNED_RPA",
    "PULL_POINTS",
    "PULL_RANGE_HZ",
    "QUICK_BUDGETS",
    "QUICK_PULL_POINTS",
    "QUICK_RUNS",
    "QUICK_TONES",
    "STAGE_SLOPE",
    "TONE_M_RANGE",
    "centroid_predictions",
    "compute_identity",
    "compute_pull",
    "compute_stage",
    "error_panels",
    "compute_constant_control",
    "constant_predictions",
    "findings",
    "group_summary",
    "power_frame",
    "pull_targets",
    "run_dirs",
    "run_summary",
    "stage_line",
    "stage_row",
    "summarize_groups",
]

F0_HZ = 200.0
"""f0 of section 1's targets, Hz."""

IDENTITY_RATIO = 1.3
"""Section 1's estimate plays the target tone at this many times its f0."""

PULL_RANGE_HZ = (100.0, 2400.0)
"""Frequencies of the one-partial estimates of :func:`compute_pull`, Hz (log-spaced)."""

PULL_POINTS = 300
"""One-partial estimates per target in full mode."""

QUICK_PULL_POINTS = 60
"""One-partial estimates per target in quick mode."""

STAGE_SLOPE = 0.5
"""A checkpoint is in the centroid stage when its centroid slope (:func:`~sot_utils.study.traps.centroid_slope`)
is at least this: its errors follow the tones' harmonic balance more than they ignore it."""

LEARNED_RPA = 80.0
"""A checkpoint with a test RPA of at least this (%) has learned pitch (the findings' "leaving the stage")."""

TONE_M_RANGE = (1.0, (DATA_MAX_HARMONICS + 1) / 2)
"""The span of the test tones' mean harmonic index M quoted in the findings: a pure tone (1) to a tone of
``DATA_MAX_HARMONICS`` equal partials (4.5)."""

GROUPS = ("SOT-2048", "SOT-512-LogF", "MSS-Lin")
"""The losses whose runs are examined, in the tables' order: SOT on a linear and on a log-frequency axis,
and the vertical MSS-Lin as a control."""

BUDGETS = tuple(range(BUDGET_STEP, CPU_BUDGET_STEPS + 1, BUDGET_STEP))
"""Full mode: every kept checkpoint budget up to the shipped runs' training steps (1,100 to 9,900)."""

QUICK_BUDGETS = (2 * BUDGET_STEP, 5 * BUDGET_STEP)
"""Quick mode: two budgets (2,200 and 5,500 steps)."""

QUICK_TONES = 64
"""Quick mode: test tones per checkpoint (full mode: every test tone)."""

QUICK_RUNS = frozenset(
    {
        ("recipe", "SOT-2048", 42),  # a run that learns pitch
        ("recipe", "SOT-2048", 123),  # a run still in the stage
        ("none", "SOT-512-LogF", 42),  # log-frequency transport
        ("none", "MSS-Lin", 456),  # the vertical-loss control
    }
)
"""Quick mode: the ``(remedy, group, seed)`` runs kept (``"none"``: a shipped run)."""

ERROR_PANELS = (
    ("recipe", "SOT-2048", 42, 2 * BUDGET_STEP),
    ("recipe", "SOT-2048", 42, 5 * BUDGET_STEP),
    ("recipe", "SOT-2048", 123, 5 * BUDGET_STEP),
    ("none", "SOT-2048", 456, 5 * BUDGET_STEP),
    ("none", "MSS-Lin", 456, 2 * BUDGET_STEP),
    ("none", "MSS-Lin", 123, 5 * BUDGET_STEP),
)
"""The ``(remedy, group, seed, step)`` checkpoints whose tone-by-tone errors the notebook draws (those evaluated)."""

_STAGE_KEYS = ["remedy", "group", "seed"]


# --------------------------------------------------------------------------------------------
# Section 1: the centroid term


def _sot_terms() -> dict:
    """SOT-2048's transport-term settings (``n_fft``, ``hop_length``, ``window``, ...), without type and weight."""
    return {k: v for k, v in group_loss_terms("SOT-2048")["sot"].items() if k not in ("type", "weight")}


def power_frame(f0s, amplitudes: torch.Tensor) -> torch.Tensor:
    """The first (complete) frame of each tone's power spectrum under SOT-2048's STFT (notebook 08).

    Args:
        f0s: the tones' f0, Hz, a sequence of ``K`` numbers (each > 0).
        amplitudes: ``[n_harmonics]`` (shared) or ``[K, n_harmonics]``, linear.

    Returns:
        ``[K, n_fft // 2 + 1]`` float64, squared STFT magnitudes on the bins ``rfftfreq(n_fft, 1 / SAMPLE_RATE)``.
    """
    terms = _sot_terms()
    audio = harmonic_tones(torch.tensor(f0s), amplitudes)
    power = stft_magnitude(audio, terms["n_fft"], terms["hop_length"], window=terms["window"]).square()
    return power[:, 0].double()


def compute_identity(f0_hz: float = F0_HZ, ratio: float = IDENTITY_RATIO) -> pd.DataFrame:
    """``W_2^2 = centroid term + shape term`` on real spectra, against POT's 1-D Wasserstein distance (notebook 08).

    An 8-partial tone (equal amplitudes) at ``f0_hz`` against the same tone at ``ratio * f0_hz``, each
    :func:`power_frame` a measure on the bin frequencies, split by
    :func:`~sot_utils.study.traps.wasserstein2_mean_split`. POT (the ``test`` extra) is the independent check.

    Args:
        f0_hz: the target's f0, Hz, > 0.
        ratio: the estimate's f0 over the target's, > 0.

    Returns:
        one row: ``centroid term (Hz²)``, ``shape term (Hz²)``, ``sum (Hz²)``, ``POT W2² (Hz²)`` and
        ``centroids (Hz)`` (text: the target's and the estimate's power centroid).
    """
    import ot

    f0_hz = check_positive_number("f0_hz", f0_hz)
    ratio = check_positive_number("ratio", ratio)
    positions = torch.fft.rfftfreq(_sot_terms()["n_fft"], 1 / SAMPLE_RATE).double()
    target, estimate = power_frame([f0_hz, ratio * f0_hz], torch.full((8,), 0.7))
    centroid_term, shape_term = wasserstein2_mean_split(positions, target, estimate)
    a, b = (target / target.sum()).numpy(), (estimate / estimate.sum()).numpy()
    return pd.DataFrame(
        {
            "centroid term (Hz²)": [float(centroid_term)],
            "shape term (Hz²)": [float(shape_term)],
            "sum (Hz²)": [float(centroid_term + shape_term)],
            "POT W2² (Hz²)": [ot.wasserstein_1d(positions.numpy(), positions.numpy(), a, b, p=2)],
            "centroids (Hz)": [f"{a @ positions.numpy():.0f} -> {b @ positions.numpy():.0f}"],
        }
    )


def pull_targets() -> dict[str, torch.Tensor]:
    """The targets of :func:`compute_pull`: name -> harmonic amplitudes ``[n_partials]`` (notebook 08)."""
    return {
        "pure tone": torch.tensor([0.7]),
        "2 partials": torch.tensor([0.7, 0.7]),
        "8 partials, equal": torch.full((8,), 0.7),
        "8 partials, 1/k": 1 / torch.arange(1.0, 9.0),
    }


def compute_pull(quick: bool, f0_hz: float = F0_HZ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Where the loss of a one-partial estimate is lowest, for targets of 1, 2 and 8 partials (notebook 08).

    Each target of :func:`pull_targets` at ``f0_hz`` against sinusoids as loud as it, log-spaced over
    :data:`PULL_RANGE_HZ`, under SOT-2048's transport term alone (``mode="balanced"``: the centroid identity
    holds exactly) and under the paper's SOT-2048 loss (which adds 0.05 x MSS-Lin).

    Args:
        quick: :data:`QUICK_PULL_POINTS` sinusoids per target (else :data:`PULL_POINTS`).
        f0_hz: the targets' f0, Hz, > 0.

    Returns:
        ``(pull, curves)``: ``pull`` one row per target (``target``, ``M``, ``centroid M F (Hz)``,
        ``lowest, transport term (balanced) (Hz)``, ``lowest, SOT-2048 (paper) (Hz)``); ``curves`` the
        transport term's loss per sinusoid (``target``, ``frequency_hz``, ``loss``, ``centroid_hz``,
        ``partials_hz``), as :func:`sot_utils.study.plot_centroid_pull` draws it.
    """
    quick = check_bool("quick", quick)
    f0_hz = check_positive_number("f0_hz", f0_hz)
    balanced = build_loss({"sot": {"type": "spectral_ot", **_sot_terms(), "mode": "balanced"}}, reduction="none")
    paper = paper_loss("SOT-2048", reduction="none")
    points = QUICK_PULL_POINTS if quick else PULL_POINTS
    frequencies = torch.tensor(np.geomspace(*PULL_RANGE_HZ, points), dtype=torch.float32)
    rows, curves = [], []
    for name, amplitudes in pull_targets().items():
        tone = harmonic_tones(torch.tensor([f0_hz]), amplitudes)
        sinusoids = harmonic_tones(frequencies, amplitudes.square().sum().sqrt()[None])  # as loud as the target
        centroid_hz = float(harmonic_centroid(amplitudes)) * f0_hz
        partials = tuple(f0_hz * k for k in range(1, len(amplitudes) + 1))
        lowest = {}
        for loss_name, loss in (("transport term (balanced)", balanced), ("SOT-2048 (paper)", paper)):
            values = loss(tone.expand_as(sinusoids), sinusoids).detach().numpy()
            lowest[loss_name] = float(frequencies[values.argmin()])
            if loss_name.startswith("transport"):
                curves += [
                    {
                        "target": name,
                        "frequency_hz": float(f),
                        "loss": float(v),
                        "centroid_hz": centroid_hz,
                        "partials_hz": partials,
                    }
                    for f, v in zip(frequencies, values)
                ]
        rows.append(
            {
                "target": name,
                "M": float(harmonic_centroid(amplitudes)),
                "centroid M F (Hz)": centroid_hz,
                **{f"lowest, {k} (Hz)": v for k, v in lowest.items()},
            }
        )
    return pd.DataFrame(rows), pd.DataFrame(curves)


# --------------------------------------------------------------------------------------------
# Section 2: trained runs


def centroid_predictions(
    path: str | Path, data: str | Path | None = None, split: str = "test", device: str = "cpu", limit: int | None = None
) -> pd.DataFrame:
    """A checkpoint's f0 estimates next to the harmonic balance of the target and of its decoder (notebook 08).

    Args: as :func:`sot_utils.training.evaluate.evaluate_checkpoint` (checkpoint file, dataset file,
        split, device, first ``limit`` examples).

    Returns:
        one row per example: ``f0_true_hz``, ``f0_estimate_hz`` (as
        :func:`~sot_utils.training.evaluate.f0_predictions`), ``n_audible_partials`` (the target's
        partials below Nyquist), ``target_centroid`` and ``decoder_centroid``:
        :func:`~sot_utils.metrics.harmonic_centroid` of the target's audible amplitudes and of the
        decoder's (:func:`~sot_utils.training.evaluate.audible_amplitudes`, median over frames).
    """
    labels, f0_hz, amplitudes = _labels_and_controls(path, data, split, device, limit)
    target = harmonic_centroid(audible_amplitudes(labels["f0_hz"], labels["amplitudes"]))
    decoder = harmonic_centroid(audible_amplitudes(f0_hz, amplitudes))
    return pd.DataFrame(
        {
            "f0_true_hz": labels["f0_hz"].numpy(),
            "f0_estimate_hz": f0_hz.median(dim=1).values.numpy(),
            "n_audible_partials": labels["n_audible_harmonics"].numpy(),
            "target_centroid": target.numpy(),
            "decoder_centroid": decoder.median(dim=1).values.numpy(),
        }
    )


def run_dirs(
    checkpoints_dir: str | Path, remedies_dir: str | Path, quick: bool, groups=GROUPS
) -> list[tuple[str, str, int, Path]]:
    """The runs of the chapter: ``(remedy, group, seed, folder)``, per group the shipped runs first (notebook 08).

    Args:
        checkpoints_dir: shipped runs, ``<group>/<seed>/``.
        remedies_dir: remedied runs, ``<remedy>/<group>/<seed>/`` (may not exist).
        quick: keep only :data:`QUICK_RUNS`.
        groups: the groups, in order.

    Returns:
        shipped runs (remedy ``"none"``) by seed, then remedied runs by folder, per group.
    """
    quick = check_bool("quick", quick)
    found = []
    for group in groups:
        for folder in sorted(Path(checkpoints_dir, group).glob("*"), key=lambda p: int(p.name)):
            found.append(("none", group, int(folder.name), folder))
        for folder in sorted(Path(remedies_dir).glob(f"*/{group}/*")):
            found.append((folder.parent.parent.name, group, int(folder.name), folder))
    return [f for f in found if f[:3] in QUICK_RUNS] if quick else found


def stage_row(table: pd.DataFrame) -> dict[str, float]:
    """The stage metrics of one checkpoint: accuracy and how far its errors follow the tones' centroids (notebook 08).

    Args:
        table: a :func:`centroid_predictions` frame (``f0_true_hz``, ``f0_estimate_hz`` Hz,
            ``n_audible_partials``, ``target_centroid``, ``decoder_centroid``), with at least 3 tones of
            two or more audible partials whose ``target_centroid`` differ.

    Returns:
        ``rpa``, ``rca`` (%, all tones), ``pure_tone_rpa`` (%, tones of one audible partial; NaN without
        any), ``centroid_slope``, ``intercept``, ``residual_octaves`` (:func:`~sot_utils.study.traps.centroid_slope`
        over the tones of two or more partials), ``decoder_centroid`` (median ``M_dec``), ``r_centroid``
        (correlation over all tones of the pitch error with ``log2(M / M_dec)``; NaN where ``M_dec`` is
        not known, as for :func:`constant_predictions`), and ``b_m``, ``b_m_se``: the partial slope of
        :func:`~sot_utils.study.traps.centroid_partial_slope` (the true f0 in the same fit) and its
        standard error, over the same tones as the slope.
    """
    missing = {"f0_true_hz", "f0_estimate_hz", "n_audible_partials", "target_centroid", "decoder_centroid"}
    missing -= set(table.columns)
    if missing:
        raise ValueError(f"`table` needs the columns of centroid_predictions, missing {sorted(missing)}")
    errors = np.log2(table["f0_estimate_hz"] / table["f0_true_hz"])
    predicted = np.log2(table["target_centroid"] / table["decoder_centroid"])
    several, pure = table[table["n_audible_partials"] >= 2], table[table["n_audible_partials"] == 1]
    fit = centroid_slope(several["f0_true_hz"], several["f0_estimate_hz"], several["target_centroid"])
    try:
        partial = centroid_partial_slope(several["f0_true_hz"], several["f0_estimate_hz"], several["target_centroid"])
    except ValueError:  # one f0, or M a function of f0 (hand-made tables): the arguments passed centroid_slope
        partial = {"partial_slope": np.nan, "partial_slope_se": np.nan}
    known = np.isfinite(predicted)
    return {
        "rpa": raw_pitch_accuracy(table["f0_true_hz"], table["f0_estimate_hz"]),
        "rca": raw_chroma_accuracy(table["f0_true_hz"], table["f0_estimate_hz"]),
        "pure_tone_rpa": raw_pitch_accuracy(pure["f0_true_hz"], pure["f0_estimate_hz"]) if len(pure) else np.nan,
        "centroid_slope": fit["slope"],
        "intercept": fit["intercept"],
        "residual_octaves": fit["residual_octaves"],
        "decoder_centroid": float(np.median(table["decoder_centroid"])),
        "r_centroid": float(np.corrcoef(errors[known], predicted[known])[0, 1]) if known.all() else np.nan,
        "b_m": partial["partial_slope"],
        "b_m_se": partial["partial_slope_se"],
    }


def constant_predictions(
    data: str | Path, limit: int | None = None, reference: str | Path | None = None
) -> pd.DataFrame:
    """The test tones read by a constant predictor: every tone at the median f0 of a training split (notebook 08).

    The control a stage statistic must not flag: its errors, ``log2(c / F)``, depend on the true
    f0 alone.

    Args:
        data: the dataset file (its first ``limit`` test tones; None: all).
        reference: the dataset whose training split gives the constant (default: ``data``).

    Returns:
        :func:`centroid_predictions`'s columns, ``decoder_centroid`` NaN (no decoder).
    """
    test = load_split(data, "test")
    constant = float(load_split(reference or data, "train").f0_hz.median())
    f0 = test.f0_hz[:limit]
    return pd.DataFrame(
        {
            "f0_true_hz": f0.numpy(),
            "f0_estimate_hz": np.full(len(f0), constant),
            "n_audible_partials": test.n_audible_harmonics[:limit].numpy(),
            "target_centroid": harmonic_centroid(audible_amplitudes(f0, test.amplitudes[:limit])).numpy(),
            "decoder_centroid": np.full(len(f0), np.nan),
        }
    )


def compute_constant_control(data: str | Path, quick: bool) -> pd.DataFrame:
    """:func:`stage_row` of :func:`constant_predictions` on the stage's test tones: one row (notebook 08)."""
    limit = QUICK_TONES if check_bool("quick", quick) else None
    table = constant_predictions(data, limit)
    return pd.DataFrame([{"predictor": f"constant {table['f0_estimate_hz'].iloc[0]:.0f} Hz", **stage_row(table)}])


def compute_stage(
    data: str | Path, checkpoints_dir: str | Path, remedies_dir: str | Path, quick: bool
) -> tuple[pd.DataFrame, dict[tuple, pd.DataFrame]]:
    """Every run of :func:`run_dirs` at every budget: :func:`stage_row` of its checkpoint (notebook 08).

    The checkpoint of a budget is the best validation-LSD one up to it
    (:func:`~sot_utils.training.evaluate.budget_checkpoint`); budgets a run has not reached are left out.

    Args:
        data: the dataset file (its test split).
        checkpoints_dir, remedies_dir: as :func:`run_dirs`.
        quick: :data:`QUICK_RUNS` at :data:`QUICK_BUDGETS` on :data:`QUICK_TONES` test tones (else every
            run at :data:`BUDGETS` on every test tone).

    Returns:
        ``(stage, predictions)``: ``stage`` one row per checkpoint (``remedy``, ``group``, ``seed``,
        ``step``, :func:`stage_row`'s columns, and ``run``: a label such as ``"recipe, seed 42"``, not
        part of ``results/centroid_stage.csv``); ``predictions`` maps ``(remedy, group, seed, step)``
        to the checkpoint's :func:`centroid_predictions` frame.
    """
    quick = check_bool("quick", quick)
    budgets = QUICK_BUDGETS if quick else BUDGETS
    limit = QUICK_TONES if quick else None
    rows, predictions = [], {}
    for remedy, group, seed, folder in run_dirs(checkpoints_dir, remedies_dir, quick):
        for budget in budgets:
            path = budget_checkpoint(folder, budget)
            if path is None:
                continue
            table = centroid_predictions(path, data, limit=limit)
            predictions[(remedy, group, seed, budget)] = table
            rows.append({"remedy": remedy, "group": group, "seed": seed, "step": budget, **stage_row(table)})
    if not rows:
        raise ValueError(f"no checkpoint of {', '.join(GROUPS)} under {checkpoints_dir} or {remedies_dir}")
    stage = pd.DataFrame(rows)
    stage["run"] = stage["remedy"].where(stage["remedy"] != "none", "shipped") + ", seed " + stage["seed"].astype(str)
    return stage, predictions


def run_summary(stage: pd.DataFrame) -> pd.DataFrame:
    """Each run's last checkpoint next to the checkpoint where its centroid slope peaked (notebook 08).

    Args:
        stage: :func:`compute_stage`'s table.

    Returns:
        one row per run, sorted by group, remedy, seed: the last checkpoint's ``step``, ``rpa``,
        ``rca``, ``pure_tone_rpa``, ``centroid_slope``, ``r_centroid``, ``decoder_centroid``, and
        ``step at peak``, ``centroid_slope at peak``, ``r_centroid at peak``.
    """
    last = stage.sort_values("step").groupby(_STAGE_KEYS, sort=False).tail(1)
    peak = stage.loc[stage.groupby(_STAGE_KEYS, sort=False)["centroid_slope"].idxmax()]
    summary = last.merge(
        peak[[*_STAGE_KEYS, "step", "centroid_slope", "r_centroid"]], on=_STAGE_KEYS, suffixes=("", " at peak")
    )
    columns = [
        "group",
        "remedy",
        "seed",
        "step",
        "rpa",
        "rca",
        "pure_tone_rpa",
        "centroid_slope",
        "r_centroid",
        "decoder_centroid",
        "step at peak",
        "centroid_slope at peak",
        "r_centroid at peak",
    ]
    return summary[columns].sort_values(["group", "remedy", "seed"], ignore_index=True)


def group_summary(frame: pd.DataFrame) -> pd.Series:
    """One loss's runs: how many checkpoints are in the stage, how well the centroid explains them (notebook 08).

    Args:
        frame: :func:`compute_stage`'s rows of one group (``remedy``, ``seed``, ``step``,
            ``centroid_slope``, ``r_centroid``, ``residual_octaves``).

    Returns:
        ``runs``, ``checkpoints``, ``in the stage`` (slope >= :data:`STAGE_SLOPE`), ``median r there``,
        ``median residual there (octaves)``, ``median slope, first budget`` and ``median slope, last
        budget`` (over runs, each at its first / last budget), ``runs in the stage at the last budget``,
        and ``b_M >= 0.5``: the checkpoints whose partial slope ``b_m`` is at least :data:`STAGE_SLOPE`.
    """
    in_stage = frame[frame["centroid_slope"] >= STAGE_SLOPE]
    first = frame.sort_values("step").groupby(["remedy", "seed"]).head(1)
    final = frame.sort_values("step").groupby(["remedy", "seed"]).tail(1)
    return pd.Series(
        {
            "runs": len(final),
            "checkpoints": len(frame),
            "in the stage": len(in_stage),
            "median r there": in_stage["r_centroid"].median(),
            "median residual there (octaves)": in_stage["residual_octaves"].median(),
            "median slope, first budget": first["centroid_slope"].median(),
            "median slope, last budget": final["centroid_slope"].median(),
            "runs in the stage at the last budget": int((final["centroid_slope"] >= STAGE_SLOPE).sum()),
            "b_M >= 0.5": int((frame["b_m"] >= STAGE_SLOPE).sum()),
        }
    )


def summarize_groups(stage: pd.DataFrame) -> pd.DataFrame:
    """:func:`group_summary` per group, one row each in the stage table's order (notebook 08;
    ``results/centroid_stage_by_group.csv``, the group as index)."""
    return pd.DataFrame({group: group_summary(frame) for group, frame in stage.groupby("group", sort=False)}).T


def error_panels(predictions: dict[tuple, pd.DataFrame], chosen=ERROR_PANELS) -> dict[str, pd.DataFrame]:
    """The tone-by-tone panels of :func:`sot_utils.study.plot_centroid_errors` (notebook 08).

    Args:
        predictions: :func:`compute_stage`'s ``(remedy, group, seed, step) -> frame``.
        chosen: the checkpoints to draw, in order; those not evaluated are left out.

    Returns:
        title (e.g. ``"shipped SOT-2048, seed 456, 5500 steps"``) -> :func:`centroid_predictions` frame.
    """
    return {
        f"{'shipped' if r == 'none' else r} {g}, seed {s}, {b} steps": predictions[(r, g, s, b)]
        for r, g, s, b in chosen
        if (r, g, s, b) in predictions
    }


# --------------------------------------------------------------------------------------------
# What this shows


def stage_line(by_group: pd.DataFrame, group: str, lead: str) -> str | None:
    """The findings' bullet on one loss's centroid stage, from :func:`summarize_groups`'s row (notebook 08).

    Args:
        by_group: :func:`summarize_groups`'s table.
        group: its row to read.
        lead: the bullet's bold opening sentence.

    Returns:
        Markdown, or None when ``group`` has no row.
    """
    if group not in by_group.index:
        return None
    row = by_group.loc[group]
    return (
        f"- **{lead}** {int(row['in the stage'])} of {int(row['checkpoints'])} {group} checkpoints have a centroid "
        f"slope >= {STAGE_SLOPE}"
        + (
            f", where the decoder's own harmonic balance predicts each tone's error with a median r = "
            f"{row['median r there']:.2f} (residual {row['median residual there (octaves)']:.2f} octave)"
            if row["in the stage"]
            else ""
        )
        + f"; the median slope is {row['median slope, first budget']:.2f} at each run's first budget and "
        f"{row['median slope, last budget']:.2f} at its last, where {int(row['runs in the stage at the last budget'])} "
        f"of {int(row['runs'])} runs are still in the stage."
    )


def _identity_line(identity: pd.DataFrame, pull: pd.DataFrame) -> str:
    """The findings' bullet on section 1: the identity's accuracy and where each loss puts one partial."""
    gap = abs(identity["sum (Hz²)"][0] / identity["POT W2² (Hz²)"][0] - 1)
    off = np.max(np.abs(pull["lowest, transport term (balanced) (Hz)"] / pull["centroid M F (Hz)"] - 1))
    return (
        f"- **W2² is a centroid term plus a shape term.** On two 8-partial spectra the split adds up to POT's "
        f"W2² within {gap:.1e} (relative). For a one-partial estimate the transport term alone is lowest within "
        f"{100 * off:.0f} % of the target's power centroid for all {len(pull)} targets; the paper's loss, with its "
        f"0.05 x MSS-Lin, puts it on a partial instead ("
        + ", ".join(f"{t}: {hz:.0f} Hz" for t, hz in zip(pull["target"], pull["lowest, SOT-2048 (paper) (Hz)"]))
        + ")."
    )


def _learned_line(sot: pd.DataFrame) -> str | None:
    """The findings' bullet on the SOT-2048 checkpoints that learned pitch (None without any)."""
    learned = sot[sot["rpa"] >= LEARNED_RPA]
    if not len(learned):
        return None
    many = len(learned) != 1
    return (
        f"- **Learning pitch is leaving it.** The {len(learned)} SOT-2048 checkpoint{'s' if many else ''}"
        f" with RPA >= {LEARNED_RPA:.0f} % {'have' if many else 'has'} a median slope of "
        f"{learned['centroid_slope'].median():.2f}. Which seed leaves the stage, and when, is the lottery: the escape "
        "needs the amplitude head to learn each tone's harmonic balance while the centroid term holds the f0 head "
        "at the centroid ratio."
    )


def _stuck_line(sot: pd.DataFrame) -> str | None:
    """The findings' bullet on the SOT-2048 runs still in the stage at their last budget (None without any)."""
    final = sot.sort_values("step").groupby(["remedy", "seed"]).tail(1)
    stuck = final[final["centroid_slope"] >= STAGE_SLOPE].sort_values("decoder_centroid")
    if not len(stuck):
        return None
    low, high = TONE_M_RANGE
    return (
        "- **The runs that miss are still in it**, each held by its decoder's harmonic balance: "
        + ", ".join(
            f"{row.run} at {row.step} steps (M_dec {row.decoder_centroid:.1f}: tones with M from {low:g} to {high:g} "
            f"read {np.log2(low / row.decoder_centroid):+.1f} to {np.log2(high / row.decoder_centroid):+.1f} octaves "
            f"off; RPA {row.rpa:.1f} %)"
            for row in stuck.itertuples()
        )
        + "."
    )


def _control_line(stage: pd.DataFrame, by_group: pd.DataFrame) -> str | None:
    """The findings' bullet on MSS-Lin, the vertical-loss control (None without its runs)."""
    if "MSS-Lin" not in by_group.index:
        return None
    mss = stage[stage["group"] == "MSS-Lin"]
    sot = stage[stage["group"] == "SOT-2048"]
    return (
        f"- **MSS-Lin, a vertical loss, does not follow the centroid.** Over its "
        f"{int(by_group.loc['MSS-Lin', 'checkpoints'])} checkpoints the median r is {mss['r_centroid'].median():.2f} "
        f"and the median residual {mss['residual_octaves'].median():.2f} octave, against "
        f"{sot['residual_octaves'].median():.2f} for SOT-2048: it fails differently (notebook 05's collapse onto one "
        "partial) and, when it learns, learns all at once."
    )


def _specificity_line(stage: pd.DataFrame, constant: pd.DataFrame) -> str | None:
    """The findings' bullet on which statistic marks the stage: the constant predictor and MSS-Lin
    under the slope and under the partial slope (None without MSS-Lin's runs)."""
    mss, sot = stage[stage["group"] == "MSS-Lin"], stage[stage["group"] == "SOT-2048"]
    if not len(mss) or not len(constant):
        return None
    row = constant.iloc[0]

    def count(frame, column):
        return f"{int((frame[column] >= STAGE_SLOPE).sum())} of {len(frame)}"

    return (
        f"- **Which statistic marks the stage.** A constant predictor ({row['predictor']} for every tone) has a "
        f"centroid slope of {row['centroid_slope']:.2f}: where high tones have fewer audible partials, an error that "
        f"depends on f0 alone leaks into the slope, and {count(mss, 'centroid_slope')} MSS-Lin checkpoints pass it. "
        f"With the true f0 in the same fit (the partial slope b_M, `traps.centroid_partial_slope`) the constant "
        f"scores {row['b_m']:.2f}; by b_M >= {STAGE_SLOPE}, {count(sot, 'b_m')} SOT-2048 and "
        f"{count(mss, 'b_m')} MSS-Lin checkpoints are in the stage. Either way this describes the misses; whether the "
        "stage causes them is the oracle-amplitude test of docs/evidence_plan.md."
    )


def findings(
    identity: pd.DataFrame,
    pull: pd.DataFrame,
    stage: pd.DataFrame,
    by_group: pd.DataFrame,
    constant: pd.DataFrame | None = None,
) -> str:
    """The "What this shows" text of notebook 08, every number read from its tables.

    Args:
        identity: :func:`compute_identity`'s table.
        pull: :func:`compute_pull`'s ``pull`` table.
        stage: :func:`compute_stage`'s table (with its ``run`` column).
        by_group: :func:`summarize_groups`'s table.
        constant: :func:`compute_constant_control`'s row (None: its bullet is left out).

    Returns:
        Markdown bullets: the identity, the stage of SOT-2048 (and of SOT-512-LogF, and MSS-Lin as the
        control, when their runs are there), its learned and its stuck runs.
    """
    missing = {"group", "run", "step", "rpa", "centroid_slope", "decoder_centroid", "residual_octaves"}
    missing -= set(stage.columns)
    if missing:
        raise ValueError(f"`stage` needs the columns of compute_stage, missing {sorted(missing)}")
    sot = stage[stage["group"] == "SOT-2048"]
    lines = [
        _identity_line(identity, pull),
        stage_line(by_group, "SOT-2048", "SOT-2048 runs pass through a centroid stage."),
        _learned_line(sot),
        _stuck_line(sot),
        stage_line(by_group, "SOT-512-LogF", "Log-frequency transport is not exempt."),
        _control_line(stage, by_group),
        _specificity_line(stage, constant) if constant is not None and "b_m" in stage else None,
    ]
    return "\n".join(line for line in lines if line)


def plot_centroid_pull(curves: pd.DataFrame):
    """Loss of a one-partial estimate against its frequency, one panel per target (notebook 08).

    Args:
        curves: rows with ``target`` (a panel title), ``frequency_hz`` (the estimate's partial),
            ``loss``, ``centroid_hz`` (the target's power centroid: a solid line) and
            ``partials_hz`` (a tuple of the target's partials: dotted lines).
    """
    targets = list(dict.fromkeys(curves["target"]))
    fig, axes = plt.subplots(1, len(targets), figsize=(4.4 * len(targets), 3.2), squeeze=False, sharey=True)
    for ax, target in zip(axes[0], targets):
        curve = curves[curves["target"] == target].sort_values("frequency_hz")
        values = curve["loss"].to_numpy()
        span = values.max() - values.min()
        ax.plot(curve["frequency_hz"], (values - values.min()) / span if span > 0 else values * 0, color="tab:green")
        for partial in curve["partials_hz"].iloc[0]:
            ax.axvline(partial, color="0.6", linestyle=":", linewidth=0.8)
        ax.axvline(curve["centroid_hz"].iloc[0], color="black", linewidth=1.0, label="power centroid")
        lowest = curve.loc[curve["loss"].idxmin(), "frequency_hz"]
        ax.plot([lowest], [0.0], marker="v", color="tab:red", linestyle="none", label="lowest loss")
        ax.set_xscale("log")
        ax.set_xlabel("frequency of the estimate's one partial (Hz)")
        ax.set_title(target, fontsize=9)
    axes[0, 0].set_ylabel("loss (min-max normalised)")
    axes[0, -1].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig


def plot_centroid_stage(stage: pd.DataFrame):
    """Centroid slope, intercept, residual and test RPA against training step, one line per run, one
    row per group (notebook 08).

    Args:
        stage: rows with ``group``, ``run`` (a line label), ``step``, ``centroid_slope``,
            ``intercept``, ``residual_octaves`` and ``rpa``.
    """
    groups = list(dict.fromkeys(stage["group"]))
    panels = (
        ("centroid_slope", "centroid slope", "slope of the pitch error against log2 M"),
        ("intercept", "intercept (octaves)", "its intercept (-log2 M_dec in the stage)"),
        ("residual_octaves", "residual (octaves)", "RMS distance of the errors from the line"),
        ("rpa", "test RPA (%)", "test RPA"),
    )
    fig, axes = plt.subplots(len(groups), 4, figsize=(17.0, 3.0 * len(groups)), squeeze=False, sharex=True)
    palette = plt.get_cmap("tab10").colors
    for row, group in zip(axes, groups):
        runs = stage[stage["group"] == group]
        for i, (run, curve) in enumerate(runs.groupby("run", sort=False)):
            curve = curve.sort_values("step")
            # past ten runs the colours repeat, so the line style changes with each round of them
            linestyle = ("-", "--", ":")[(i // len(palette)) % 3]
            style = dict(color=palette[i % len(palette)], linestyle=linestyle, marker="o", markersize=3, label=run)
            for ax, (column, _, _) in zip(row, panels):
                ax.plot(curve["step"], curve[column], **style)
        row[0].axhline(1.0, color="0.6", linestyle=":", linewidth=0.8)
        row[0].axhline(0.0, color="0.6", linewidth=0.8)
        for ax, (_, label, _) in zip(row, panels):
            ax.set_ylabel(f"{group}\n{label}" if ax is row[0] else label)
        row[1].axhline(0.0, color="0.6", linewidth=0.8)
        row[2].set_ylim(bottom=0)
        row[3].set_ylim(-3, 103)
        row[3].legend(fontsize=6, loc="upper left", ncol=2)
    for ax in axes[-1]:
        ax.set_xlabel("step")
    for ax, (_, _, title) in zip(axes[0], panels):
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_centroid_errors(panels: dict, columns: int = 3):
    """Each tone's pitch error against its mean harmonic index M, one panel per checkpoint (notebook 08).

    Args:
        panels: title -> a :func:`sot_utils.study.chapters.centroid_stage.centroid_predictions` frame. Points
            are coloured by the tone's audible partials; the dashed line is the centroid's
            prediction for a decoder with the checkpoint's median harmonic balance ``M_dec``,
            ``log2 M - log2 M_dec``.
    """
    columns = min(columns, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(4.4 * columns, 3.4 * rows), squeeze=False, sharey=True, layout="constrained"
    )
    for ax, (title, table) in zip(axes.flat, panels.items()):
        errors = np.log2(table["f0_estimate_hz"] / table["f0_true_hz"])
        points = ax.scatter(
            table["target_centroid"], errors, c=table["n_audible_partials"], cmap="viridis", s=8, vmin=1, vmax=8
        )
        grid = np.linspace(1.0, table["target_centroid"].max(), 50)
        decoder = float(np.median(table["decoder_centroid"]))
        ax.plot(
            grid, np.log2(grid / decoder), color="tab:red", linestyle="--", label=f"centroid, M_dec = {decoder:.2f}"
        )
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("target's mean harmonic index M")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("pitch error (octaves)")
    fig.colorbar(points, ax=axes, label="audible partials", shrink=0.8)
    return fig
