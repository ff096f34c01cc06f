"""Train the harmonic autoencoder: config -> run folder (checkpoints, log); resumable.

- The CQT of the dataset is computed once and cached next to it (``<data>.cqt.pt``).
- Adam (lr 1e-4, weight decay 1e-4, L2-coupled as the reference), batch 64, no shuffling (the
  reference's DataLoader), validation every ``validate_every`` steps on the validation split
  (docs/method.md#method-training).
- The run folder (:mod:`sot_utils.training.checkpoint`): ``last.pt`` to resume, ``best.pt`` (lowest
  validation LSD, the paper's criterion), ``log.csv``, the resolved ``config.yaml``; one process
  at a time owns it (a lock file). A run interrupted at any point restarts from the last checkpoint
  and gives the same parameters as an uninterrupted run (bit for bit with a fixed thread count on
  an idle machine; multi-threaded oneDNN gradient reductions can differ in the last ulp under
  load). Resuming with a config that differs from the run's in anything but the budget, device,
  output folder or micro-batch is refused, with the differences listed (``allow_config_change``).

CLI: ``python -m sot_utils.training.train --group SOT-2048 --seed 42 [--steps N] [--remedy NAME]
[--config overlay.yaml] [--device cuda] [--out-dir DIR] [--allow-config-change]``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .. import configs
from ..autoencoder import HarmonicAutoencoder, predict
from ..losses import harmonic_index_prior
from ..metrics import compute_metrics
from ..validation import check_bool, check_int
from .checkpoint import RunFolder, RunLock, checkpoint_step, on_cpu, rng_state, set_rng_state
from .config import LossConfig, TrainConfig, resolve_config
from .data import cached_features
from .loss_config import PAPER_GROUPS
from .loss_config import build_loss as build_loss_from_terms

__all__ = [
    "CPU_MICRO_BATCH",
    "TrainingDiverged",
    "add_run_selection",
    "batch_indices",
    "build_loss",
    "check_device",
    "evaluate_model",
    "main",
    "micro_batched_step",
    "prior_weight",
    "train",
    "train_step",
]


class TrainingDiverged(FloatingPointError):
    """The loss or the weights became NaN or infinite; the message names the step."""


CPU_MICRO_BATCH = 16
"""Default micro-batch on CPU (see ``TrainConfig.micro_batch_size``)."""


def build_loss(config: TrainConfig) -> torch.nn.Module:
    """The run's loss (its ``loss.terms``, :func:`sot_utils.training.loss_config.build_loss`)."""
    return build_loss_from_terms(config.loss.terms)


def prior_weight(loss: LossConfig, step: int) -> float:
    """Weight of the harmonic-index prior at ``step`` (0-based): constant, or falling linearly to 0."""
    if not loss.harmonic_prior_decay_steps:
        return float(loss.harmonic_prior_weight)
    return float(loss.harmonic_prior_weight) * max(0.0, 1.0 - step / loss.harmonic_prior_decay_steps)


def batch_indices(step: int, n_examples: int, batch_size: int, shuffle: bool, seed: int) -> torch.Tensor:
    """Indices of the training batch at ``step`` (a pure function of the step: resumable).

    Epochs hold ``ceil(n_examples / batch_size)`` batches, the last one smaller (no drop_last).
    """
    check_bool("shuffle", shuffle)
    per_epoch = -(-n_examples // batch_size)
    epoch, position = divmod(step, per_epoch)
    if shuffle:
        order = torch.randperm(n_examples, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
    else:
        order = torch.arange(n_examples)
    return order[position * batch_size : (position + 1) * batch_size]


def micro_batched_step(
    optimizer: torch.optim.Optimizer,
    audio: torch.Tensor,
    cqt: torch.Tensor,
    micro_batch_size: int,
    batch_losses,
    batch_dim: int = 0,
    extras: tuple[torch.Tensor, ...] = (),
) -> torch.Tensor:
    """One optimiser step on a batch, in micro-batches: the step of both trainers.

    ``audio`` (targets), ``cqt`` and each of ``extras`` (per-example inputs such as oracle
    amplitudes) are split along ``batch_dim`` into micro-batches of ``micro_batch_size`` examples;
    ``batch_losses(target, features, *extras)`` returns the loss of a
    micro-batch (a scalar, or one per ensemble member ``[E]``), each a mean over its examples. Each
    is weighted by its micro-batch's share of the batch before ``backward``, so the summed gradient
    is the gradient of the batch mean. Returns the batch loss(es), float64 on the CPU; a
    non-finite one raises FloatingPointError before the optimiser steps.
    """
    check_int("micro_batch_size", micro_batch_size, minimum=1)
    optimizer.zero_grad(set_to_none=True)
    batch = audio.shape[batch_dim]
    total = torch.zeros((), dtype=torch.float64)
    chunks = [tensor.split(micro_batch_size, batch_dim) for tensor in (audio, cqt, *extras)]
    for target, features, *extra in zip(*chunks, strict=True):
        losses = batch_losses(target, features, *extra) * (target.shape[batch_dim] / batch)
        losses.sum().backward()
        total = total + losses.detach().double().cpu()
    if total.ndim == 0 and not math.isfinite(total):
        raise FloatingPointError(f"non-finite training loss: {float(total)}")
    bad = [k for k, value in enumerate(total.reshape(-1).tolist()) if not math.isfinite(value)]
    if bad:
        raise FloatingPointError(f"non-finite training loss of member(s) {bad}: {[total[k].item() for k in bad]}")
    optimizer.step()
    return total


def train_step(
    model: HarmonicAutoencoder,
    loss_fn: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    audio: torch.Tensor,
    cqt: torch.Tensor,
    micro_batch_size: int,
    harmonic_prior: float = 0.0,
    oracle_amplitudes: torch.Tensor | None = None,
) -> float:
    """One optimiser step of a lone model on a batch (:func:`micro_batched_step`); returns the batch loss.

    ``audio [batch, n_samples]`` (targets) and ``cqt [batch, n_frames, n_bins]`` go through the
    model and loss in micro-batches of ``micro_batch_size`` examples. ``harmonic_prior`` weights
    :func:`~sot_utils.losses.harmonic_index_prior`, added to the loss. ``oracle_amplitudes
    [batch, K]``: what an oracle-amplitude model plays (and only for one).
    """

    def batch_loss(target: torch.Tensor, features: torch.Tensor, *oracle: torch.Tensor) -> torch.Tensor:
        estimate, out = model(features, *oracle)
        loss = loss_fn(target, estimate)
        if harmonic_prior:
            loss = loss + harmonic_prior * harmonic_index_prior(out.f0_hz, out.amplitudes, model.sample_rate).mean()
        return loss

    extras = () if oracle_amplitudes is None else (oracle_amplitudes,)
    return float(micro_batched_step(optimizer, audio, cqt, micro_batch_size, batch_loss, extras=extras))


def evaluate_model(
    model: HarmonicAutoencoder,
    audio: torch.Tensor,
    cqt: torch.Tensor,
    f0_hz: torch.Tensor,
    batch_size: int = 64,
    device: str = "cpu",
    oracle_amplitudes: torch.Tensor | None = None,
) -> dict[str, float]:
    """The paper's metrics of ``model`` on a set of examples (eval mode; restores the mode); an
    oracle-amplitude model plays ``oracle_amplitudes [N, K]``."""
    estimates, f0_estimates, _ = predict(model, cqt, batch_size, device, oracle_amplitudes)
    return compute_metrics(audio, estimates, f0_hz, f0_estimates)


def check_device(device: str) -> torch.device:
    """``torch.device(device)``, refusing a CUDA device this machine does not have."""
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"`device` is {str(device)!r} but this machine has no CUDA GPU (torch {torch.__version__}); use 'cpu'"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(
                f"`device` is {str(device)!r} but this machine has {torch.cuda.device_count()} CUDA GPU(s)"
            )
    return device


def train(
    config: TrainConfig, progress: bool = True, position: int | None = None, allow_config_change: bool = False
) -> Path:
    """Train (or resume) the run described by ``config``; return its output folder.

    ``progress`` shows a step bar (tqdm) on terminal row ``position`` (None: the next free row;
    a bar below row 0 is cleared when the run ends). ``allow_config_change`` resumes a run whose
    stored config differs from ``config`` (the new config is then recorded).
    """
    check_bool("progress", progress)
    check_bool("allow_config_change", allow_config_change)
    if not isinstance(config, TrainConfig):
        raise TypeError(f"`config` must be a TrainConfig (see resolve_config), got {type(config).__name__}")
    device = check_device(config.device)
    train_audio, train_cqt, train_labels = cached_features(config.data, "train", progress)
    # an oracle-amplitude decoder plays the tones' true amplitudes (the causal test of the centroid stage)
    train_oracle = train_labels["played_amplitudes"] if config.model.oracle_amplitudes else None
    val_audio, val_cqt, val_labels = cached_features(config.data, "val", progress)
    folder = RunFolder(config.out_dir)
    created = folder.create()
    try:
        with RunLock(folder.path):
            try:
                return _train_locked(
                    config,
                    device,
                    folder,
                    (train_audio, train_cqt, train_oracle),
                    (val_audio, val_cqt, val_labels),
                    progress,
                    position,
                    allow_config_change,
                )
            except BaseException:  # under the lock: these files are this process's own
                folder.discard_unstarted()
                raise
    except BaseException:
        if created:
            folder.remove_if_empty()  # leave no empty folder behind a run that never started
        raise


def _train_locked(config, device, folder, train_split, val_split, progress, position, allow_config_change) -> Path:
    train_audio, train_cqt, train_oracle = train_split
    val_audio, val_cqt, val_labels = val_split
    val_oracle = val_labels["played_amplitudes"] if train_oracle is not None else None
    torch.manual_seed(config.seed)
    model = config.model.build().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    loss_fn = build_loss(config).to(device)
    state = {"step": 0, "best_lsd": float("inf"), "rng": rng_state(device)}
    checkpoint = folder.resume(config, allow_config_change)
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])  # moves the moments to the parameters' device
        if allow_config_change:  # the new rate and decay apply from now on (the stored state holds the old)
            for group in optimizer.param_groups:
                group.update(lr=config.learning_rate, weight_decay=config.weight_decay)
        state = {k: checkpoint[k] for k in ("step", "best_lsd", "rng")}
    set_rng_state(state["rng"], device)
    state["step_saved"] = state["step"]
    if state["step"] >= config.steps:  # already trained this far: leave the run untouched
        return folder.path
    folder.start(config, state["step"])
    # the training split stays on the device: a step then indexes it there, with no host copy
    train_audio, train_cqt = train_audio.to(device), train_cqt.to(device)
    train_oracle = None if train_oracle is None else train_oracle.to(device)
    model.train()
    micro_batch = config.micro_batch_size or (CPU_MICRO_BATCH if device.type == "cpu" else config.batch_size)
    running, count, start_time = 0.0, 0, time.perf_counter()
    bar = tqdm(
        range(state["step"], config.steps),
        initial=state["step"],
        total=config.steps,
        disable=not progress,
        desc=f"{config.group} seed {config.seed}",
        position=position,
        leave=None,
    )
    for step in bar:
        idx = batch_indices(step, len(train_audio), config.batch_size, config.shuffle, config.seed).to(device)
        try:
            loss = train_step(
                model,
                loss_fn,
                optimizer,
                train_audio[idx],
                train_cqt[idx],
                micro_batch,
                harmonic_prior=prior_weight(config.loss, step),
                oracle_amplitudes=None if train_oracle is None else train_oracle[idx],
            )
        except (FloatingPointError, ValueError) as error:
            if isinstance(error, ValueError) and "NaN" not in str(error):  # not a NaN met inside the model
                raise
            raise TrainingDiverged(
                f"training diverged at step {step}: {error}; {_kept(state['step_saved'])}; "
                f"lower `learning_rate` ({config.learning_rate:g}) or the loss weights"
            ) from None
        if not _parameters_finite(model):
            raise TrainingDiverged(
                f"training diverged at step {step}: the weights became NaN or infinite after the update; "
                f"{_kept(state['step_saved'])}; lower `learning_rate` ({config.learning_rate:g})"
            )
        running, count = running + loss, count + 1
        done = step + 1
        if done % config.validate_every == 0 or done == config.steps:
            metrics = evaluate_model(
                model, val_audio, val_cqt, val_labels["f0_hz"], config.batch_size, device, val_oracle
            )
            state["best_lsd"] = folder.record(
                config,
                done,
                epoch=round(done / -(-len(train_audio) // config.batch_size), 3),
                train_loss=running / count,
                metrics=metrics,
                elapsed_s=round(time.perf_counter() - start_time, 2),
                device=device.type,
                weights=on_cpu(model.state_dict()),
                resume_state={"optimizer": on_cpu(optimizer.state_dict()), "rng": rng_state(device)},
                best_lsd=state["best_lsd"],
            )
            bar.set_postfix(
                loss=f"{running / count:.4g}", val_lsd=f"{metrics['lsd']:.2f}", val_rpa=f"{metrics['rpa']:.1f}"
            )
            running, count = 0.0, 0
            state["step_saved"] = done
    return folder.path


def _kept(step_saved: int) -> str:
    if step_saved:
        return f"the run folder keeps its last good checkpoint (step {step_saved})"
    return "no checkpoint was saved"


def _parameters_finite(model: torch.nn.Module) -> bool:
    """Whether every weight is finite (one reduction per tensor: negligible beside a step)."""
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def add_run_selection(parser: argparse.ArgumentParser, seeds_example: str) -> None:
    """``--groups`` (default: the paper's seven) and ``--seeds``: the runs of a sweep or an ensemble."""
    parser.add_argument(
        "--groups",
        nargs="+",
        default=list(PAPER_GROUPS),
        choices=configs.group_names(),
        help="experiment groups (default: the paper's seven)",
    )
    parser.add_argument("--seeds", nargs="+", type=int, required=True, help=f"seeds, e.g. {seeds_example}")
    add_run_arguments(parser)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that compose a run's config (shared by train, sweep and ensemble)."""
    parser.add_argument("--remedy", choices=configs.remedy_names(), help="apply a remedy's settings (notebook 09)")
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="YAML",
        help="overlay file(s) merged on top of the group's config, in order",
    )
    parser.add_argument(
        "--steps", type=int, help="training steps (default: the base config's budget, 9,900; the paper: 22000)"
    )
    parser.add_argument("--device", help="cpu, cuda or cuda:<index>")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sot_utils.training.train", description="Train (or resume) one run of the harmonic autoencoder."
    )
    parser.add_argument("--group", required=True, choices=configs.group_names(), help="experiment group")
    parser.add_argument("--seed", required=True, type=int, help="the run's seed")
    add_run_arguments(parser)
    parser.add_argument("--out-dir", dest="out_dir", help="run folder (default checkpoints/<group>/<seed>)")
    parser.add_argument("--allow-config-change", action="store_true", help="resume a run whose stored config differs")
    args = parser.parse_args(argv)
    try:
        config = resolve_config(
            args.group,
            args.seed,
            remedy=args.remedy,
            overlays=args.config,
            steps=args.steps,
            device=args.device,
            out_dir=args.out_dir,
        )
        check_device(config.device)
    except (OSError, ValueError) as error:  # a missing file, an unknown key, a value out of range
        parser.error(str(error))
    last_path = Path(config.out_dir) / "last.pt"
    try:
        out_dir = train(config, allow_config_change=args.allow_config_change)
    except KeyboardInterrupt:
        saved = _saved_step(last_path)
        where = f"the run resumes from step {saved}" if saved else "nothing was saved yet"
        sys.stderr.write(f"\nerror: interrupted; {where}: run the same command to continue ({last_path.parent})\n")
        sys.exit(130)
    except (OSError, ValueError, RuntimeError, FloatingPointError) as error:  # missing data, a locked run folder
        sys.exit(f"error: {error}")
    step = _saved_step(last_path)
    if step is not None and step > config.steps:
        print(f"already trained to step {step} (more than --steps {config.steps}): nothing changed in {out_dir}")
    else:
        print(f"trained to step {step if step is not None else config.steps}: {out_dir}")


def _saved_step(last_path: Path) -> int | None:
    """The step of ``last.pt``, or None if there is none (or it cannot be read)."""
    try:
        return checkpoint_step(last_path)
    except (OSError, ValueError):
        return None


if __name__ == "__main__":
    main()
