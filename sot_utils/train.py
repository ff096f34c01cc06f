"""Train the harmonic autoencoder (spec §7): config → run → checkpoints, CSV log; resumable.

- The CQT of the dataset is computed once and cached next to it (``<data>.cqt.pt``).
- Adam (lr 1e-4, weight decay 1e-4, L2-coupled as the reference), batch 64, no shuffling (the
  reference's DataLoader), validation every ``validate_every`` steps on the validation split.
- ``<out_dir>/last.pt`` holds everything needed to resume (model, optimiser, step, RNG state,
  best validation LSD); ``<out_dir>/best.pt`` the weights with the lowest validation LSD (the
  paper's checkpoint criterion); ``<out_dir>/log.csv`` the training loss and validation metrics;
  ``<out_dir>/config.yaml`` the config. A run interrupted at any point restarts from the last
  checkpoint and gives the same parameters as an uninterrupted run (bit for bit with a fixed
  thread count on an idle machine; multi-threaded oneDNN gradient reductions can differ in the
  last ulp under load).

CLI: ``python -m sot_utils.train --config experiments/<group>/seed<k>.yaml [--steps N] [--device cuda]``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import math
import os
import shutil
import time
import warnings
from pathlib import Path

import torch
import yaml
from tqdm.auto import tqdm

from .autoencoder import HarmonicAutoencoder, cqt_features, predict
from .data import DEFAULT_PATH, load_split
from .encoder import F0_HEAD_INITS
from .losses import PAPER_GROUPS, WeightedLossSum, harmonic_index_prior, paper_loss
from .metrics import compute_metrics
from .validation import check_choice, check_int, check_positive_number

CPU_BUDGET_STEPS = 9900
"""Training steps of the shipped CPU runs (the paper: 22,000), read off SOT-2048's validation RPA
by :func:`sot_utils.evaluate.choose_budget`: its seeds level off at 220 (seed 42, collapsed),
8,580 (seed 123) and 9,020 steps (seed 456), rounded up to a multiple of 1,100 (README,
"Training the estimators")."""

LOG_FIELDS = ("step", "epoch", "train_loss", "val_lsd", "val_rpa", "val_rca", "val_octave_difference", "val_mss", "val_mse", "elapsed_s", "device")
"""Columns of ``log.csv``; ``device`` (``cpu`` or ``cuda``) says where the steps up to that row ran
(logs written before the column existed have it empty: those runs trained on the CPU)."""


@dataclasses.dataclass
class TrainConfig:
    """Every option of a run. YAML files under ``experiments/`` set these keys and no others.

    Attributes:
        group: the paper's experiment group (loss), one of ``PAPER_GROUPS``.
        seed: seeds the model initialisation, dropout and (if enabled) the shuffling.
        steps: number of optimisation steps (the paper: 25,000 at most, 22,000 reached).
        batch_size: examples per step (64).
        learning_rate: Adam learning rate (1e-4).
        weight_decay: L2 penalty added to the gradient, as ``torch.optim.Adam`` (1e-4).
        validate_every: steps between validations and checkpoints (paper: every 5 epochs = 220).
        shuffle: reshuffle the training set every epoch (the reference does not).
        sot_root: SOT returns W_2 instead of W_2^2 (spec §11.1).
        reference_logf: SOT-512-LogF trains with linear positions, as the reference's bug did.
        sot_pad_end: the SOT STFT zero-pads the end (reference) or keeps complete frames only.
        roll_off: the decoder's -6 dB/octave roll-off (repo A's MSS-LogLin; later turned off).
        n_harmonics: harmonics of the decoder (the paper: 20; the data has at most 8).
        f0_head_init: ``"random"`` (the paper) or ``"zero"``: the untrained model then predicts
            503 Hz for every tone and seed (:class:`sot_utils.encoder.PitchEncoder`).
        harmonic_prior_weight: weight of :func:`sot_utils.losses.harmonic_index_prior` added to
            the loss (0: off, the paper). It breaks the tie between f0 and its sub-harmonics.
        harmonic_prior_decay_steps: the prior's weight falls linearly to 0 over this many steps
            and stays 0 after (0: constant weight).
        micro_batch_size: examples per forward/backward pass; a step sums the gradients of its
            micro-batches (each loss weighted by its share of the batch), the full-batch gradient up
            to float rounding, since every loss is a mean of per-example values. Blocks of 16
            keep a pass's activations in cache: 1.2x faster per step on CPU. ``None``: 16 on CPU,
            the whole batch on a GPU.
        keep_best_every: every this many steps (a multiple of ``validate_every``), keep a copy of
            the best checkpoint so far as ``best-upto-<step>.pt``, so that a shorter budget chosen
            after the run is evaluated with the paper's criterion without retraining (0: off).
        data: dataset file (``python -m sot_utils.data``).
        out_dir: where checkpoints and logs go.
        device: ``"cpu"`` or ``"cuda"``.
    """

    group: str
    seed: int
    steps: int = 22000
    batch_size: int = 64
    learning_rate: float = 1e-4
    weight_decay: float = 1e-4
    validate_every: int = 220
    shuffle: bool = False
    sot_root: bool = False
    reference_logf: bool = False
    sot_pad_end: bool = True
    roll_off: bool = False
    n_harmonics: int = 20
    f0_head_init: str = "random"
    harmonic_prior_weight: float = 0.0
    harmonic_prior_decay_steps: int = 0
    micro_batch_size: int | None = None
    keep_best_every: int = 0
    data: str = DEFAULT_PATH
    out_dir: str = "checkpoints/run"
    device: str = "cpu"

    def __post_init__(self):
        check_choice("group", self.group, PAPER_GROUPS)
        for name in ("seed", "steps", "batch_size", "validate_every"):
            check_int(name, getattr(self, name), minimum=0 if name == "seed" else 1)
        check_int("keep_best_every", self.keep_best_every, minimum=0)
        check_int("n_harmonics", self.n_harmonics, minimum=1)
        check_choice("f0_head_init", self.f0_head_init, F0_HEAD_INITS)
        if isinstance(self.harmonic_prior_weight, bool) or not isinstance(self.harmonic_prior_weight, (int, float)) \
                or not self.harmonic_prior_weight >= 0:
            raise ValueError(f"`harmonic_prior_weight` must be a number >= 0, got {self.harmonic_prior_weight!r}")
        check_int("harmonic_prior_decay_steps", self.harmonic_prior_decay_steps, minimum=0)
        if self.micro_batch_size is not None:
            check_int("micro_batch_size", self.micro_batch_size, minimum=1)
        if self.keep_best_every % self.validate_every:
            raise ValueError(f"`keep_best_every` ({self.keep_best_every}) must be a multiple of `validate_every` ({self.validate_every})")
        check_positive_number("learning_rate", self.learning_rate)
        if self.weight_decay < 0:
            raise ValueError(f"`weight_decay` must be >= 0, got {self.weight_decay}")
        check_choice("device", self.device.split(":")[0], ("cpu", "cuda"))

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides) -> "TrainConfig":
        """Read a YAML config; unknown keys are an error (a key that does nothing is a bug)."""
        values = yaml.safe_load(Path(path).read_text()) or {}
        values.update({k: v for k, v in overrides.items() if v is not None})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{path}: unknown config keys {unknown}; known keys are {sorted(known)}")
        return cls(**values)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def build_loss(config: TrainConfig) -> torch.nn.Module:
    """The run's loss: the paper group's, with the config's SOT options."""
    loss = paper_loss(config.group, root=config.sot_root, reference_logf=config.reference_logf)
    if isinstance(loss, WeightedLossSum) and not config.sot_pad_end:
        loss.terms["sot"].pad_end = False
    return loss


def build_model(config: TrainConfig) -> HarmonicAutoencoder:
    """The run's autoencoder, initialised from the global RNG (seed it first)."""
    return HarmonicAutoencoder(roll_off=config.roll_off, n_harmonics=config.n_harmonics, f0_head_init=config.f0_head_init)


def prior_weight(config: TrainConfig, step: int) -> float:
    """Weight of the harmonic-index prior at ``step`` (0-based): constant, or falling linearly to 0."""
    if not config.harmonic_prior_decay_steps:
        return float(config.harmonic_prior_weight)
    return float(config.harmonic_prior_weight) * max(0.0, 1.0 - step / config.harmonic_prior_decay_steps)


def cached_features(data_path: str | Path, split: str, progress: bool = True) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """(audio ``[N, 4096]`` peak-normalised, CQT ``[N, 16, 285]``, labels) of one split.

    The CQT of every split is cached in ``<data>.cqt.pt``, tagged with the data file's SHA-256 so
    that a regenerated dataset invalidates it.
    """
    data_path = Path(data_path)
    digest = hashlib.sha256(data_path.read_bytes()).hexdigest()
    cache_path = data_path.with_suffix(".cqt.pt")
    cache = torch.load(cache_path, weights_only=True) if cache_path.exists() else {}
    dataset = load_split(data_path, split)
    if cache.get("sha256") != digest or split not in cache:
        if cache.get("sha256") != digest:
            cache = {"sha256": digest}
        cache[split] = cqt_features(dataset.audio, progress=progress)
        _atomic_save(cache, cache_path)  # parallel runs may build the cache at the same time
    labels = {"f0_hz": dataset.f0_hz, "amplitudes": dataset.amplitudes, "n_harmonics": dataset.n_harmonics,
              "n_audible_harmonics": dataset.n_audible_harmonics}
    return dataset.audio, cache[split], labels


def _atomic_save(obj, path: Path) -> None:
    """``torch.save`` to a temporary file, then rename: a run killed mid-write leaves the old file."""
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    torch.save(obj, partial)
    os.replace(partial, path)


def batch_indices(step: int, n_examples: int, batch_size: int, shuffle: bool, seed: int) -> torch.Tensor:
    """Indices of the training batch at ``step`` (a pure function of the step: resumable).

    Epochs hold ``ceil(n_examples / batch_size)`` batches, the last one smaller (no drop_last).
    """
    per_epoch = -(-n_examples // batch_size)
    epoch, position = divmod(step, per_epoch)
    if shuffle:
        order = torch.randperm(n_examples, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
    else:
        order = torch.arange(n_examples)
    return order[position * batch_size : (position + 1) * batch_size]


CPU_MICRO_BATCH = 16
"""Default micro-batch on CPU (see ``TrainConfig.micro_batch_size``)."""


def train_step(model: HarmonicAutoencoder, loss_fn: torch.nn.Module, optimizer: torch.optim.Optimizer,
               audio: torch.Tensor, cqt: torch.Tensor, micro_batch_size: int, harmonic_prior: float = 0.0) -> float:
    """One optimiser step on a batch; returns the batch loss.

    ``audio [batch, n_samples]`` (targets) and ``cqt [batch, n_frames, n_bins]`` are run through
    the model and loss in micro-batches of ``micro_batch_size`` examples; each micro-batch loss
    is weighted by its share of the batch before ``backward``, so the summed gradient is the
    gradient of the batch mean (every loss here is a mean of per-example values).
    ``harmonic_prior`` weights :func:`~sot_utils.losses.harmonic_index_prior`, added to the loss.
    """
    optimizer.zero_grad(set_to_none=True)
    total = 0.0
    for target, features in zip(audio.split(micro_batch_size), cqt.split(micro_batch_size)):
        estimate, out = model(features)
        loss = loss_fn(target, estimate)
        if harmonic_prior:
            loss = loss + harmonic_prior * harmonic_index_prior(out.f0_hz, out.amplitudes, model.sample_rate).mean()
        loss = loss * (len(target) / len(audio))
        loss.backward()
        total += float(loss.detach())
    if not math.isfinite(total):
        raise FloatingPointError(f"non-finite training loss: {total}")
    optimizer.step()
    return total


def evaluate_model(model: HarmonicAutoencoder, audio: torch.Tensor, cqt: torch.Tensor, f0_hz: torch.Tensor,
                   batch_size: int = 64, device: str = "cpu") -> dict[str, float]:
    """The paper's metrics of ``model`` on a set of examples (eval mode; restores the mode)."""
    estimates, f0_estimates, _ = predict(model, cqt, batch_size, device)
    return compute_metrics(audio, estimates, f0_hz, f0_estimates)


def _on_cpu(obj):
    """``obj`` (nested dicts/lists of tensors) with every tensor copied to the CPU: checkpoints
    written on a GPU load on a machine without one."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {key: _on_cpu(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_on_cpu(value) for value in obj)
    return obj


def _rng_state(device: torch.device) -> dict:
    """The random state dropout draws from (CPU, and the GPU's when training there)."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _prepare_log(log_path: Path, step: int, validate_every: int) -> Path:
    """Start ``log.csv`` (step 0) or trim it to the rows of steps <= ``step`` (resuming).

    A run killed between writing a validation row and saving ``last.pt`` resumes from the earlier
    step and validates that step again: trimming keeps one row per step. Rows missing before
    ``step`` (a log replaced while training wrote to it) cannot be recovered: warn.
    """
    rows = []
    if step > 0 and log_path.exists():
        with open(log_path, newline="") as f:
            rows = [row for row in csv.DictReader(f) if int(row["step"]) <= step]
        expected = step // validate_every
        if len(rows) < expected:
            warnings.warn(f"{log_path} holds {len(rows)} validation rows up to step {step}, expected {expected}: "
                          "rows were lost; retrain from step 0 for a complete log", stacklevel=3)
    with open(log_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=LOG_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return log_path


def _append_log_row(log_path: Path, row: dict) -> None:
    """Append one row, opening the file for just this write (safe if the file is replaced meanwhile)."""
    with open(log_path, "a", newline="") as f:
        csv.DictWriter(f, fieldnames=LOG_FIELDS).writerow(row)


def train(config: TrainConfig, progress: bool = True, position: int | None = None) -> Path:
    """Train (or resume) the run described by ``config``; return its output folder.

    ``progress`` shows a step bar (tqdm) on terminal row ``position`` (None: the next free row;
    a bar below row 0 is cleared when the run ends).
    """
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device(config.device)
    train_audio, train_cqt, _ = cached_features(config.data, "train", progress)
    val_audio, val_cqt, val_labels = cached_features(config.data, "val", progress)

    torch.manual_seed(config.seed)
    model = build_model(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    loss_fn = build_loss(config).to(device)
    state = {"step": 0, "best_lsd": float("inf"), "rng": _rng_state(device)}
    last_path = out_dir / "last.pt"
    if last_path.exists():
        checkpoint = torch.load(last_path, map_location="cpu", weights_only=False)
        if checkpoint["config"]["group"] != config.group or checkpoint["config"]["seed"] != config.seed:
            raise ValueError(f"{last_path} belongs to another run ({checkpoint['config']['group']}, seed {checkpoint['config']['seed']})")
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])  # moves the moments to the parameters' device
        state = {k: checkpoint[k] for k in ("step", "best_lsd", "rng")}
    _set_rng_state(state["rng"], device)
    if state["step"] >= config.steps:  # already trained this far: leave the run untouched
        return out_dir
    (out_dir / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))

    log_path = _prepare_log(out_dir / "log.csv", state["step"], config.validate_every)
    # the training split stays on the device: a step then indexes it there, with no host copy
    train_audio, train_cqt = train_audio.to(device), train_cqt.to(device)
    model.train()
    micro_batch = config.micro_batch_size or (CPU_MICRO_BATCH if device.type == "cpu" else config.batch_size)
    running, count, start_time = 0.0, 0, time.perf_counter()
    bar = tqdm(range(state["step"], config.steps), initial=state["step"], total=config.steps, disable=not progress, desc=f"{config.group} seed {config.seed}", position=position, leave=None)
    for step in bar:
        idx = batch_indices(step, len(train_audio), config.batch_size, config.shuffle, config.seed).to(device)
        try:
            loss = train_step(model, loss_fn, optimizer, train_audio[idx], train_cqt[idx], micro_batch,
                              harmonic_prior=prior_weight(config, step))
        except FloatingPointError as error:
            raise FloatingPointError(f"step {step}: {error}") from None
        running, count = running + loss, count + 1
        done = step + 1
        if done % config.validate_every == 0 or done == config.steps:
            metrics = evaluate_model(model, val_audio, val_cqt, val_labels["f0_hz"], config.batch_size, device)
            _append_log_row(log_path, {"step": done, "epoch": round(done / -(-len(train_audio) // config.batch_size), 3),
                                       "train_loss": running / count, **{f"val_{k}": v for k, v in metrics.items()},
                                       "elapsed_s": round(time.perf_counter() - start_time, 2), "device": device.type})
            bar.set_postfix(loss=f"{running / count:.4g}", val_lsd=f"{metrics['lsd']:.2f}", val_rpa=f"{metrics['rpa']:.1f}")
            running, count = 0.0, 0
            if metrics["lsd"] < state["best_lsd"]:
                state["best_lsd"] = metrics["lsd"]
                _atomic_save({"model": _on_cpu(model.state_dict()), "config": config.to_dict(), "step": done, "val_metrics": metrics}, out_dir / "best.pt")
            if config.keep_best_every and done % config.keep_best_every == 0:
                shutil.copyfile(out_dir / "best.pt", out_dir / f"best-upto-{done}.pt")
            _atomic_save({"model": _on_cpu(model.state_dict()), "optimizer": _on_cpu(optimizer.state_dict()), "config": config.to_dict(),
                          "step": done, "best_lsd": state["best_lsd"], "rng": _rng_state(device)}, last_path)
    return out_dir


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the harmonic autoencoder of the paper.")
    parser.add_argument("--config", required=True, help="YAML file with TrainConfig keys")
    parser.add_argument("--steps", type=int, help="override the number of steps")
    parser.add_argument("--device", help="cpu or cuda")
    parser.add_argument("--out-dir", dest="out_dir", help="override the output folder")
    args = parser.parse_args(argv)
    try:
        config = TrainConfig.from_yaml(args.config, steps=args.steps, device=args.device, out_dir=args.out_dir)
    except (OSError, ValueError) as error:  # a missing file, an unknown key, a value out of range
        parser.error(str(error))
    print(f"trained to step {config.steps}: {train(config)}")


if __name__ == "__main__":
    main()
