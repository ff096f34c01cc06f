"""Evaluate trained checkpoints: the paper's metrics and results table (docs/method.md#method-metrics,
#method-results-table).

- :func:`plateau_step` / :func:`choose_budget`: where a learning curve levels off, hence the training budget.
- :func:`training_progress` / :func:`training_compute` / :func:`metric_at_steps`: a campaign's steps,
  hours and learning curves, read off the shipped checkpoints and logs.
- :func:`evaluate_checkpoint`: LSD, RPA, RCA, OD, MSS, MSE of one checkpoint on a split.
- :func:`f0_predictions` / :func:`harmonic_shares` / :func:`accuracy_by_partials`: how a run
  misses, per tone: its f0 estimates, the partials that carry its energy, its accuracy by the
  number of partials a tone has.
- :func:`find_runs` / :func:`evaluate_runs` / :func:`results_table`: every shipped run of
  ``checkpoints/<group>/<seed>/`` on the test split, then mean (std) and median over seeds per
  group, as ``eval_paper.py`` does; :func:`results_markdown` bolds the best and italicises the
  second best (LSD lowest, RPA and RCA highest).

CLI: ``python -m sot_utils.training.evaluate CHECKPOINT [--data FILE] [--split test]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..autoencoder import predict
from ..constants import BUDGET_STEP, EVALUATION_CACHE_ENV, SAMPLE_RATE
from ..metrics import (
    compute_metrics,
    harmonic_energy_share,
    harmonic_usage,
    pitch_tracking,
    raw_chroma_accuracy,
    raw_pitch_accuracy,
)
from ..synth import remove_above_nyquist
from ..validation import check_bool, check_int
from .checkpoint import checkpoint_step, load_model
from .data import _file_identity, cached_features
from .loss_config import PAPER_GROUPS
from .train import check_device

__all__ = [
    "TABLE_METRICS",
    "accuracy_by_partials",
    "audible_amplitudes",
    "budget_checkpoint",
    "choose_budget",
    "evaluate_budgets",
    "evaluate_checkpoint",
    "evaluate_runs",
    "f0_predictions",
    "find_runs",
    "harmonic_shares",
    "load_logs",
    "main",
    "metric_at_steps",
    "pitch_accuracy_by_partials",
    "plateau_step",
    "results_markdown",
    "results_table",
    "training_compute",
    "training_progress",
]

TABLE_METRICS = {"lsd": "LSD", "rpa": "RPA", "rca": "RCA", "octave_difference": "OD"}
"""The paper table's columns (metric key -> column name); MSS and MSE are computed but not shown."""
# OD is not highlighted (docs/method.md#method-results-table)
_HIGHER_IS_BETTER = {"lsd": False, "rpa": True, "rca": True}
_PAPER_METRICS = ("lsd", "rpa", "rca", "octave_difference", "mss", "mse")  # compute_metrics's keys


def _group_order(group: str) -> tuple[int, str]:
    """Sort key: the paper's groups in the paper's order, then other folders (extensions) by name."""
    return (PAPER_GROUPS.index(group) if group in PAPER_GROUPS else len(PAPER_GROUPS), group)


def check_eval_device(device, name: str = "`device`") -> torch.device:
    """:func:`~sot_utils.training.train.check_device` for evaluation: ``'cpu'``, ``'cuda'`` or
    ``'cuda:<index>'``, a GPU this machine has; anything else a one-line ValueError naming ``name``
    (``"--device"`` on the command line) and what is expected."""
    text = str(device)
    kind, colon, index = text.partition(":")
    if kind not in ("cpu", "cuda") or (colon and not index.isdigit()):
        raise ValueError(f"{name} must be 'cpu', 'cuda' or 'cuda:<index>', got {text!r}")
    try:
        return check_device(text)
    except (ValueError, RuntimeError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(
            message.replace("`device`", name, 1) if "`device`" in message else f"{name}: {message}"
        ) from None


_MEMORY: dict[str, dict] = {}
_MEMORY_SIZE = 512  # entries of about 0.6 MB (f0 and amplitudes of a 400-tone split)


def _outputs_key(path, data, split, device, limit) -> str | None:
    """What a checkpoint's outputs on a split depend on: the checkpoint file and the dataset file (path,
    size, modification time: a rewritten file is another), the split, the examples and the device.
    None when the checkpoint cannot be found (nothing is shared; loading it says why)."""
    checkpoint = _file_identity(Path(path))
    if checkpoint is None:
        return None
    data_file = "run's data" if data is None else _file_identity(Path(data))
    return hashlib.sha256(repr((checkpoint, data_file, split, str(device), limit)).encode()).hexdigest()[:32]


def _stored_outputs(key: str) -> dict:
    if key in _MEMORY:
        return _MEMORY[key]
    folder = os.environ.get(EVALUATION_CACHE_ENV)
    if folder and (Path(folder) / f"{key}.pt").is_file():
        try:
            return torch.load(Path(folder) / f"{key}.pt", weights_only=True)
        except (RuntimeError, EOFError, OSError, pickle.UnpicklingError):
            return {}  # a damaged entry is computed again
    return {}


def _store_outputs(key: str | None, entry: dict) -> None:
    if key is None:
        return
    while len(_MEMORY) >= _MEMORY_SIZE:
        _MEMORY.pop(next(iter(_MEMORY)))
    _MEMORY[key] = entry
    folder = os.environ.get(EVALUATION_CACHE_ENV)
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        partial = Path(folder) / f".{key}.{os.getpid()}.tmp"  # two notebooks may write one entry at once
        torch.save(entry, partial)
        os.replace(partial, Path(folder) / f"{key}.pt")


def _predict_split(path, data, split, device, progress, limit):
    """(target audio, labels, :class:`~sot_utils.autoencoder.Prediction`) of a checkpoint on the
    first ``limit`` examples of a split (None: all)."""
    if limit is not None:
        check_int("limit", limit, minimum=1)
    check_eval_device(device)
    model, config = load_model(path, device)
    audio, cqt, labels = cached_features(data or config.data, split, progress)
    oracle = labels["played_amplitudes"][:limit] if config.model.oracle_amplitudes else None
    return (
        audio[:limit],
        {key: value[:limit] for key, value in labels.items()},
        predict(model, cqt[:limit], device=device, oracle_amplitudes=oracle),
    )


def _cached_outputs(path, data, split, device, limit) -> tuple[str | None, dict]:
    """The arguments checked, then the key of a checkpoint's outputs on a split and what is stored
    under it (empty when nothing is)."""
    if limit is not None:
        check_int("limit", limit, minimum=1)
    check_eval_device(device)
    key = _outputs_key(path, data, split, device, limit)
    return key, ({} if key is None else _stored_outputs(key))


def _labels_and_controls(path, data, split, device, limit) -> tuple[dict, torch.Tensor, torch.Tensor]:
    """(labels, f0 ``[N, n_frames]`` Hz, amplitudes ``[N, n_frames, n_harmonics]``) of a checkpoint on a
    split: predicted once per checkpoint file, then shared (:data:`EVALUATION_CACHE_ENV`)."""
    key, entry = _cached_outputs(path, data, split, device, limit)
    if "f0_hz" not in entry:
        _, labels, prediction = _predict_split(path, data, split, device, False, limit)
        entry = {**entry, "f0_hz": prediction.f0_hz, "amplitudes": prediction.amplitudes}
        _store_outputs(key, entry)
        return labels, prediction.f0_hz, prediction.amplitudes
    if data is None:
        data = load_model(path, "cpu")[1].data
    _, _, labels = cached_features(data, split, False)
    return {name: value[:limit] for name, value in labels.items()}, entry["f0_hz"], entry["amplitudes"]


def evaluate_checkpoint(
    path: str | Path,
    data: str | Path | None = None,
    split: str = "test",
    device: str = "cpu",
    progress: bool = False,
    limit: int | None = None,
    tracking: bool = False,
) -> dict[str, float]:
    """LSD (dB²), RPA and RCA (%), octave difference, MSS and MSE of a checkpoint on a split.

    Args:
        path: checkpoint file.
        data: dataset file (default: the one the run trained on).
        split: ``"train"``, ``"val"`` or ``"test"``.
        limit: evaluate only the first ``limit`` examples of the split (None: all).
        tracking: add :func:`~sot_utils.metrics.pitch_tracking`'s offset and log-f0 correlation
            and :func:`~sot_utils.metrics.harmonic_usage`'s dominant harmonic (of the partials the
            synth renders, :func:`audible_amplitudes`).
    """
    check_bool("progress", progress)
    check_bool("tracking", tracking)
    key, entry = _cached_outputs(path, data, split, device, limit)
    if "metrics" not in entry:
        audio, labels, prediction = _predict_split(path, data, split, device, progress, limit)
        f0_hz = labels["f0_hz"]
        metrics = {
            **compute_metrics(audio, prediction.audio, f0_hz, prediction.f0_hz),
            **pitch_tracking(f0_hz, prediction.f0_hz),
            **harmonic_usage(audible_amplitudes(prediction.f0_hz, prediction.amplitudes)),
        }
        entry = {"f0_hz": prediction.f0_hz, "amplitudes": prediction.amplitudes, "metrics": metrics}
        _store_outputs(key, entry)
    metrics = dict(entry["metrics"])
    return metrics if tracking else {name: metrics[name] for name in _PAPER_METRICS}


def audible_amplitudes(f0_hz: torch.Tensor, amplitudes: torch.Tensor, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """The harmonic amplitudes the synth renders: partials at or above Nyquist set to 0, as it mutes them.

    Args:
        f0_hz: per-frame f0, ``[batch, n_frames]`` Hz.
        amplitudes: ``[batch, n_frames, n_harmonics]``, linear.
        sample_rate: Hz.

    Returns:
        ``[batch, n_frames, n_harmonics]``.
    """
    harmonics = torch.arange(1, amplitudes.shape[-1] + 1, dtype=f0_hz.dtype, device=f0_hz.device)
    return remove_above_nyquist(f0_hz[..., None] * harmonics, amplitudes, sample_rate)


def f0_predictions(
    path: str | Path, data: str | Path | None = None, split: str = "test", device: str = "cpu", limit: int | None = None
) -> pd.DataFrame:
    """A checkpoint's f0 estimate for every example of a split, next to the truth.

    Args: as :func:`evaluate_checkpoint`.

    Returns:
        columns ``f0_true_hz`` and ``f0_estimate_hz`` (median over the example's frames, the lower
        middle value for an even count, as :func:`sot_utils.training.estimate.estimate_f0`), Hz.
    """
    labels, f0_hz, _ = _labels_and_controls(path, data, split, device, limit)
    return pd.DataFrame({"f0_true_hz": labels["f0_hz"].numpy(), "f0_estimate_hz": f0_hz.median(dim=1).values.numpy()})


def harmonic_shares(
    path: str | Path, data: str | Path | None = None, split: str = "test", device: str = "cpu", limit: int | None = None
) -> np.ndarray:
    """Share of each harmonic in a checkpoint's synthesized energy, per example of a split.

    Args: as :func:`evaluate_checkpoint`.

    Returns:
        :func:`~sot_utils.metrics.harmonic_energy_share` of the rendered partials
        (:func:`audible_amplitudes`: an amplitude above Nyquist makes no sound),
        ``[n_examples, n_harmonics]``, rows summing to 1.
    """
    _, f0_hz, amplitudes = _labels_and_controls(path, data, split, device, limit)
    return harmonic_energy_share(audible_amplitudes(f0_hz, amplitudes))


def pitch_accuracy_by_partials(f0_true_hz, f0_est_hz, n_partials) -> pd.DataFrame:
    """RPA and RCA (%) over the tones with each number of partials: which tones an estimator misses.

    A pure tone does not fix its f0 for an autoencoder that only has to rebuild its spectrum (the
    same sinusoid is partial *k* of a tone at f0 / *k*); the more partials, the fewer such readings.
    Same frame-level metrics as :func:`~sot_utils.metrics.raw_pitch_accuracy` and
    :func:`~sot_utils.metrics.raw_chroma_accuracy`, restricted to each count's tones.

    Args:
        f0_true_hz: ``[batch]`` Hz, one f0 per tone.
        f0_est_hz: ``[batch]`` or ``[batch, n_frames]`` Hz.
        n_partials: ``[batch]`` int >= 1, the tone's audible partials (the dataset's
            ``n_audible_harmonics``).

    Returns:
        one row per partial count present, ascending: ``partials``, ``tones``, ``rpa``, ``rca`` and
        ``offset_octaves`` (median over the frames of log2(estimate / truth), as
        :func:`~sot_utils.metrics.pitch_tracking`: -log2 3 for a tone read as the 3rd partial).
    """
    n_partials = np.asarray(n_partials.numpy() if isinstance(n_partials, torch.Tensor) else n_partials)
    f0_true = np.asarray(f0_true_hz.numpy() if isinstance(f0_true_hz, torch.Tensor) else f0_true_hz, dtype=np.float64)
    f0_est = np.asarray(
        f0_est_hz.detach().cpu().numpy() if isinstance(f0_est_hz, torch.Tensor) else f0_est_hz, dtype=np.float64
    )
    if f0_true.ndim != 1 or n_partials.shape != f0_true.shape or f0_est.shape[:1] != f0_true.shape:
        raise ValueError(
            f"`f0_true_hz` and `n_partials` must be [batch] and `f0_est_hz` [batch] or [batch, n_frames], "
            f"got {f0_true.shape}, {n_partials.shape} and {f0_est.shape}"
        )
    if not np.issubdtype(n_partials.dtype, np.integer) or (n_partials < 1).any():
        raise ValueError(f"`n_partials` must hold integers >= 1, got {n_partials.dtype} values from {n_partials.min()}")
    rows = []
    for count in np.unique(n_partials):
        tones = n_partials == count
        rows.append(
            {
                "partials": int(count),
                "tones": int(tones.sum()),
                "rpa": raw_pitch_accuracy(f0_true[tones], f0_est[tones]),
                "rca": raw_chroma_accuracy(f0_true[tones], f0_est[tones]),
                "offset_octaves": pitch_tracking(f0_true[tones], f0_est[tones])["offset_octaves"],
            }
        )
    return pd.DataFrame(rows, columns=["partials", "tones", "rpa", "rca", "offset_octaves"])


def accuracy_by_partials(
    path: str | Path, data: str | Path | None = None, split: str = "test", device: str = "cpu", limit: int | None = None
) -> pd.DataFrame:
    """:func:`pitch_accuracy_by_partials` of a checkpoint's per-frame f0 on a split.

    Args: as :func:`evaluate_checkpoint`.
    """
    labels, f0_hz, _ = _labels_and_controls(path, data, split, device, limit)
    return pitch_accuracy_by_partials(labels["f0_hz"], f0_hz, labels["n_audible_harmonics"])


def budget_checkpoint(run_dir: str | Path, budget: int | None = None) -> Path | None:
    """The checkpoint of a run that the paper's criterion picks for a training budget.

    Args:
        run_dir: a run's folder (``best.pt``, ``last.pt``, optional ``best-upto-<step>.pt``).
        budget: training steps (None: the whole run, ``best.pt``).

    Returns:
        ``best-upto-<budget>.pt`` if kept; else ``best.pt`` if the run stopped exactly at the
        budget; else None (the run has not reached the budget, or went past it without keeping
        its best checkpoint at the budget).
    """
    run_dir = Path(run_dir)
    if budget is None:
        return run_dir / "best.pt" if (run_dir / "best.pt").exists() else None
    kept = run_dir / f"best-upto-{budget}.pt"
    if kept.exists():
        return kept
    last = run_dir / "last.pt"
    if last.exists() and (run_dir / "best.pt").exists() and checkpoint_step(last) == budget:
        return run_dir / "best.pt"
    return None


def find_runs(root: str | Path = "checkpoints", budget: int | None = None) -> pd.DataFrame:
    """The runs under ``root/<group>/<seed>/`` with a checkpoint for ``budget`` (:func:`budget_checkpoint`).

    Returns:
        one row per run, columns ``group`` (paper groups first, in the paper's order), ``seed``
        (int), ``path`` (the checkpoint file); an empty frame if there are none. Runs that have
        not reached the budget are left out.
    """
    rows = []
    for run_dir in Path(root).glob("*/*"):
        path = budget_checkpoint(run_dir, budget) if run_dir.name.isdigit() else None
        if path is not None:
            rows.append({"group": run_dir.parent.name, "seed": int(run_dir.name), "path": str(path)})
    rows.sort(key=lambda row: (_group_order(row["group"]), row["seed"]))
    return pd.DataFrame(rows, columns=["group", "seed", "path"])


def evaluate_runs(
    runs: pd.DataFrame,
    data: str | Path | None = None,
    split: str = "test",
    device: str = "cpu",
    progress: bool = True,
    limit: int | None = None,
) -> pd.DataFrame:
    """:func:`evaluate_checkpoint` (same arguments) for every row of :func:`find_runs`'s frame.

    Returns:
        ``runs`` with the checkpoint's training ``step`` and the metric columns ``lsd`` (dB²),
        ``rpa``, ``rca`` (%), ``octave_difference``, ``mss``, ``mse`` and the pitch-tracking
        diagnostics ``offset_octaves``, ``offset_iqr_octaves``, ``log_f0_correlation`` and
        ``dominant_harmonic``, ``dominant_share``, ``effective_harmonics`` added.
    """
    check_bool("progress", progress)
    if not len(runs):
        raise ValueError("`runs` is empty: no checkpoint found (train with `python -m sot_utils.training.train`)")
    rows = []
    for run in tqdm(runs.itertuples(index=False), total=len(runs), disable=not progress, desc=f"evaluate ({split})"):
        step = checkpoint_step(run.path)
        rows.append(
            {
                **run._asdict(),
                "step": step,
                **evaluate_checkpoint(run.path, data, split, device, limit=limit, tracking=True),
            }
        )
    return pd.DataFrame(rows)


def evaluate_budgets(
    root: str | Path,
    budgets,
    data: str | Path | None = None,
    split: str = "test",
    device: str = "cpu",
    progress: bool = True,
    limit: int | None = None,
    pairs: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """:func:`evaluate_runs` at several training budgets: every group compared at the same budget.

    Args:
        root: checkpoint folder (``<group>/<seed>/``).
        budgets: training steps; each picks, per run, the best checkpoint up to it
            (:func:`budget_checkpoint`). Runs that have not reached a budget are left out of it.
        data, split, device, progress, limit: as :func:`evaluate_runs`.
        pairs: only the runs whose ``group`` and ``seed`` are a row of this frame (None: every run).

    Returns:
        :func:`evaluate_runs`'s columns plus ``budget``, one row per (budget, run); empty if no run
        reached any budget.
    """
    check_bool("progress", progress)
    budgets = [check_int("budgets", b, minimum=1) for b in budgets]
    if pairs is not None and not {"group", "seed"} <= set(pairs.columns):
        raise ValueError(f"`pairs` must have the columns 'group' and 'seed', got {list(pairs.columns)}")
    frames = []
    for budget in budgets:
        runs = find_runs(root, budget)
        if pairs is not None:
            runs = runs.merge(pairs[["group", "seed"]].drop_duplicates(), on=["group", "seed"])
        if len(runs):
            frames.append(evaluate_runs(runs, data, split, device, progress, limit).assign(budget=budget))
    return (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["group", "seed", "path", "step", "budget"])
    )


def results_table(per_run: pd.DataFrame, metrics: dict[str, str] = TABLE_METRICS) -> pd.DataFrame:
    """Mean, sample std (ddof 1) and median over seeds per group, as ``eval_paper.py``.

    Args:
        per_run: :func:`evaluate_runs`'s frame (columns ``group``, ``seed`` and the metric keys).
        metrics: metric key -> column name.

    Returns:
        index ``group`` (in the order of ``per_run``), columns ``(name, "mean" | "std" | "median")``
        plus ``("seeds", "n")``. The std of a single seed is NaN.
    """
    missing = [k for k in metrics if k not in per_run]
    if missing:
        raise ValueError(f"`per_run` lacks the metric columns {missing}")
    groups = list(dict.fromkeys(per_run["group"]))
    grouped = per_run.groupby("group", sort=False)
    table = pd.concat({name: grouped[key].agg(["mean", "std", "median"]) for key, name in metrics.items()}, axis=1)
    table[("seeds", "n")] = grouped["seed"].count()
    return table.loc[groups]


def results_markdown(table: pd.DataFrame, decimals: int = 1) -> str:
    """The table as markdown, "mean (std)" and median per metric, rounded as the paper (1 decimal).

    Best group in **bold**, second in *italics*, by mean: LSD lowest, RPA and RCA highest.
    """
    names = [n for n in dict.fromkeys(table.columns.get_level_values(0)) if n != "seeds"]
    keys = {v: k for k, v in TABLE_METRICS.items()}
    header = ["group", "seeds"] + [f"{n} {part}" for n in names for part in ("mean (std)", "median")]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    ranks = {}
    for name in names:
        higher = _HIGHER_IS_BETTER.get(keys.get(name, ""))
        if higher is not None:
            ranks[name] = table[(name, "mean")].rank(ascending=not higher, method="min")
    for group, row in table.iterrows():
        cells = [str(group), str(int(row[("seeds", "n")]))]
        for name in names:
            mean, std, median = (round(float(row[(name, s)]), decimals) for s in ("mean", "std", "median"))
            text = f"{mean:.{decimals}f} ({std:.{decimals}f})" if np.isfinite(std) else f"{mean:.{decimals}f}"
            rank = ranks[name][group] if name in ranks else None
            text = f"**{text}**" if rank == 1 else f"*{text}*" if rank == 2 else text
            cells += [text, f"{median:.{decimals}f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def training_progress(root: str | Path = "checkpoints") -> pd.DataFrame:
    """Steps reached by every run under ``root/<group>/<seed>/`` (its ``last.pt``): a campaign's state.

    Returns:
        a frame indexed by group (paper groups first, in the paper's order), one column per seed,
        values the step of ``last.pt`` (missing runs: NA); empty if there are none.
    """
    rows = [
        {"group": last.parent.parent.name, "seed": int(last.parent.name), "step": checkpoint_step(last)}
        for last in Path(root).glob("*/*/last.pt")
        if last.parent.name.isdigit()
    ]
    if not rows:
        return pd.DataFrame()
    table = pd.DataFrame(rows).pivot(index="group", columns="seed", values="step").astype("Int64")
    return table.loc[sorted(table.index, key=_group_order)]


def plateau_step(steps, values, tolerance: float = 2.0, window: int = 3, patience: int = 2200) -> int | None:
    r"""The validation step from which a learning curve has levelled off; None if it has not (yet).

    The curve :math:`v(s)` is first smoothed by a centred running median over ``window``
    validations (validation RPA moves by a few points from one validation to the
    next), giving :math:`\tilde v`. The plateau starts at the earliest validation step
    :math:`s^*` after which the smoothed curve never gains more than ``tolerance``:

    .. math:: s^* = \min \{ s : \max_{t > s} \tilde v(t) \le \tilde v(s) + \text{tolerance} \},

    and only if the curve has been observed for ``patience`` steps past it
    (:math:`s_\text{last} - s^* \ge` patience); a curve that gains more than ``tolerance`` near
    its end, or that was not run long enough to tell, has no plateau yet.

    Args:
        steps: validation steps, ``[n]``, strictly increasing.
        values: the metric at those steps, ``[n]`` (e.g. validation RPA in %; higher is better).
        tolerance: largest later gain still counted as level, in the metric's units (> 0).
        window: number of validations in the running median (odd, >= 1).
        patience: steps the curve must have stayed level after :math:`s^*` (>= 0).

    Returns:
        :math:`s^*` as an int, or None.
    """
    steps = np.asarray(steps, dtype=float)
    values = np.asarray(values, dtype=float)
    if steps.ndim != 1 or values.shape != steps.shape or steps.size == 0:
        raise ValueError(
            f"steps and values must be 1-D of the same non-zero length, got shapes {steps.shape} and {values.shape}"
        )
    if np.any(np.diff(steps) <= 0):
        raise ValueError("steps must be strictly increasing")
    if not np.all(np.isfinite(values)):
        raise ValueError("values must be finite")
    if not tolerance > 0:
        raise ValueError(f"tolerance must be > 0, got {tolerance}")
    window = check_int("window", window, minimum=1)
    if window % 2 == 0:
        raise ValueError(f"window must be odd (a centred median), got {window}")
    patience = check_int("patience", patience, minimum=0)
    smooth = pd.Series(values).rolling(window, center=True, min_periods=1).median().to_numpy()
    later_max = np.append(np.maximum.accumulate(smooth[::-1])[::-1][1:], -np.inf)  # max over t > s
    start = steps[np.argmax(later_max <= smooth + tolerance)]  # the first True (the last step always is)
    return int(start) if steps[-1] - start >= patience else None


def choose_budget(
    logs: pd.DataFrame,
    group: str = "SOT-2048",
    metric: str = "val_rpa",
    minimum: int = 2000,
    multiple: int = BUDGET_STEP,
    **plateau_kwargs,
) -> int | None:
    """The training budget the learning curves call for: every seed of ``group`` has levelled off.

    Args:
        logs: stacked training logs (:func:`load_logs`): columns ``group``, ``seed``, ``step``, ``metric``.
        group: the group whose curves decide (the issue's rule: SOT-2048's validation RPA).
        metric: the log column to watch (higher is better).
        minimum: the smallest budget allowed, in steps.
        multiple: the budget is rounded up to a multiple of this (the runs keep ``best-upto-<k*multiple>.pt``).
        **plateau_kwargs: ``tolerance``, ``window``, ``patience`` of :func:`plateau_step`.

    Returns:
        ``ceil(max(minimum, latest plateau over seeds) / multiple) * multiple``, or None when a
        seed has no plateau yet (or the group has no logs).
    """
    curves = logs[(logs["group"] == group) & logs[metric].notna()]
    if curves.empty:
        return None
    plateaus = [
        plateau_step(curve["step"], curve[metric], **plateau_kwargs)
        for _, curve in curves.sort_values("step").groupby("seed")
    ]
    if any(p is None for p in plateaus):
        return None
    return int(-(-max(minimum, *plateaus) // multiple) * multiple)


def load_logs(runs: pd.DataFrame) -> pd.DataFrame:
    """The ``log.csv`` of every run (next to its checkpoint), stacked with ``group`` and ``seed`` columns."""
    frames = []
    for run in runs.itertuples(index=False):
        log_path = Path(run.path).parent / "log.csv"
        if log_path.exists():
            frames.append(pd.read_csv(log_path).assign(group=run.group, seed=run.seed))
    if not frames:
        raise ValueError("no log.csv found next to the runs' checkpoints")
    return pd.concat(frames, ignore_index=True)


def training_compute(logs: pd.DataFrame) -> pd.DataFrame:
    """Steps trained and wall-clock hours spent per run, read off the ``elapsed_s`` column of the logs.

    ``elapsed_s`` counts seconds since the training process started, so it drops wherever a run
    was resumed (and a change of the ``device`` column also starts a new process): the run's time
    is the sum, over those segments, of each segment's last value. Work lost to an interruption
    (the steps after the last validation of a killed process) is not counted, so the hours are a
    lower bound. Rows without a ``device`` (logs older than the column) ran on the CPU.

    Args:
        logs: stacked training logs (:func:`load_logs`): columns ``group``, ``seed``, ``step``,
            ``elapsed_s`` and optionally ``device``.

    Returns:
        one row per run, in the paper's group order: ``group``, ``seed``, ``steps`` (last logged
        step), ``segments`` (processes that trained it), ``hours`` (all of them), ``cpu_hours``
        and ``gpu_hours`` (the part spent on each kind of device).
    """
    rows = []
    for (group, seed), log in logs.groupby(["group", "seed"], sort=False):
        log = log.sort_values("step")
        elapsed = log["elapsed_s"].to_numpy(dtype=float)
        if elapsed.size == 0 or not np.all(np.isfinite(elapsed)):
            raise ValueError(f"{group} seed {seed}: `elapsed_s` is missing or not finite")
        device = log.get("device", pd.Series(index=log.index, dtype=object)).fillna("cpu").to_numpy(dtype=str)
        # the last row of each process: the clock restarts, or the next row ran elsewhere
        ends = np.append((elapsed[1:] < elapsed[:-1]) | (device[1:] != device[:-1]), True)
        on_gpu = np.char.startswith(device, "cuda")
        rows.append(
            {
                "group": group,
                "seed": int(seed),
                "steps": int(log["step"].max()),
                "segments": int(ends.sum()),
                "hours": float(elapsed[ends].sum()) / 3600,
                "cpu_hours": float(elapsed[ends & ~on_gpu].sum()) / 3600,
                "gpu_hours": float(elapsed[ends & on_gpu].sum()) / 3600,
            }
        )
    rows.sort(key=lambda row: (_group_order(row["group"]), row["seed"]))
    return pd.DataFrame(rows, columns=["group", "seed", "steps", "segments", "hours", "cpu_hours", "gpu_hours"])


def metric_at_steps(logs: pd.DataFrame, steps, metric: str = "val_rpa") -> pd.DataFrame:
    """A logged metric of every run at chosen steps: the learning curves as a table.

    Args:
        logs: stacked training logs (:func:`load_logs`).
        steps: validation steps to show (columns); a run not trained that far has NaN there.
        metric: a column of the logs (``val_rpa``, ``val_lsd``, ...).

    Returns:
        index ``(group, seed)`` in the paper's group order, one column per step.
    """
    if metric not in logs:
        raise ValueError(f"`metric` must be a column of the logs, one of {sorted(logs.columns)}; got {metric!r}")
    steps = [check_int("steps", s, minimum=1) for s in steps]
    table = logs.pivot_table(index=["group", "seed"], columns="step", values=metric).reindex(columns=steps)
    order = sorted(table.index, key=lambda run: (_group_order(run[0]), run[1]))
    return table.loc[order]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Evaluate a checkpoint: the paper's metrics as JSON.")
    parser.add_argument("checkpoint")
    parser.add_argument("--data", help="dataset file (default: the run's)")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--device", default="cpu", help="'cpu' (default), 'cuda' or 'cuda:<index>'")
    args = parser.parse_args(argv)
    try:
        check_eval_device(args.device, "--device")
        metrics = evaluate_checkpoint(args.checkpoint, args.data, args.split, args.device, progress=True)
    except (OSError, ValueError) as error:  # a missing or foreign checkpoint or data file, a device it lacks
        parser.error(str(error).splitlines()[0] if str(error) else type(error).__name__)
    print(json.dumps({"checkpoint": args.checkpoint, "split": args.split, **metrics}, indent=2))


if __name__ == "__main__":
    main()
