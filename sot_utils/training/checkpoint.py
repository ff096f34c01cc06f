"""Run folders on disk: checkpoints, the training log, and who owns the folder.

Notebook 04 reads a run folder; notebooks 05-09 load their checkpoints through it.

A run folder (``checkpoints/<group>/<seed>/``) holds

- ``last.pt``: everything needed to resume (model, optimiser, step, random state, best LSD);
- ``best.pt``: the weights with the lowest validation LSD (the paper's criterion), and
  ``best-upto-<step>.pt`` copies of it every ``keep_best_every`` steps;
- ``log.csv``: one row per validation (:data:`LOG_FIELDS`);
- ``config.yaml``: the resolved config (:mod:`sot_utils.training.config`);
- ``.lock`` while a process trains it (:class:`RunLock`).

:class:`RunFolder` is the one writer of this format: the lone trainer
(:func:`sot_utils.training.train.train`) and the batched ensemble
(:func:`sot_utils.training.ensemble.train_ensemble`) both create, resume and record their runs
through it, so a run trained one way can be resumed the other way.

**Loading is safe**: checkpoints are read with ``torch.load(weights_only=True)``, which unpickles
only tensors, numbers, strings, lists and dicts. A ``.pt`` file from someone else cannot run code
when it is opened; one that holds anything else is refused with a message naming the file.
Writes go to a temporary file renamed into place, so a process killed mid-write leaves the old
file whole.
"""

from __future__ import annotations

import csv
import io
import os
import pickle
import shutil
import socket
import warnings
from pathlib import Path

import torch
import yaml

from ..autoencoder import HarmonicAutoencoder
from ..validation import check_bool
from .config import TrainConfig, config_differences, upgrade_config
from .data import check_torch_zip, unpickling_reason

__all__ = [
    "LOG_FIELDS",
    "CheckpointError",
    "RunFolder",
    "RunLock",
    "RunLockedError",
    "append_log_row",
    "atomic_save",
    "check_state_dict",
    "checkpoint_step",
    "load_checkpoint",
    "load_model",
    "on_cpu",
    "prepare_log",
    "rng_state",
    "set_rng_state",
]

LOG_FIELDS = (
    "step",
    "epoch",
    "train_loss",
    "val_lsd",
    "val_rpa",
    "val_rca",
    "val_octave_difference",
    "val_mss",
    "val_mse",
    "elapsed_s",
    "device",
)
"""Columns of ``log.csv``; ``device`` (``cpu`` or ``cuda``) says where the steps up to that row ran
(logs written before the column existed have it empty: those runs trained on the CPU)."""

CHECKPOINT_KEYS = {
    "best": ("model", "config", "step"),
    "last": ("model", "optimizer", "config", "step", "best_lsd", "rng"),
}


class CheckpointError(ValueError):
    """A file that is not a readable checkpoint of this package (the message names it and why)."""


class RunLockedError(RuntimeError):
    """Another live process trains in the run folder."""


# --------------------------------------------------------------------------------------------
# Writing


def atomic_save(obj, path: str | Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename over it: a process killed
    mid-write leaves the previous file whole, and no half-written file under the final name.

    The archive is built in memory and written with plain file I/O, so a full disk or a file-size
    limit raises an ``OSError`` that says so (torch's own writer reports "unexpected pos ...").
    """
    path = Path(path)
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(partial, "wb") as f:
            f.write(buffer.getbuffer())
        os.replace(partial, path)
    except OSError as error:
        raise OSError(error.errno, f"could not write {path}: {error.strerror or error}") from None
    finally:
        partial.unlink(missing_ok=True)


def on_cpu(obj):
    """``obj`` (nested dicts/lists of tensors) with every tensor copied to the CPU: checkpoints
    written on a GPU load on a machine without one."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {key: on_cpu(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(on_cpu(value) for value in obj)
    return obj


def rng_state(device: torch.device) -> dict:
    """The random state dropout draws from (the CPU's, and the GPU's when training there)."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    """Restore a state saved by :func:`rng_state`."""
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


# --------------------------------------------------------------------------------------------
# Reading


def load_checkpoint(path: str | Path, kind: str = "best") -> dict:
    """The contents of a checkpoint file, checked; ``config`` upgraded to a :class:`TrainConfig`.

    Args:
        path: a ``best.pt`` / ``best-upto-<step>.pt`` (``kind="best"``) or ``last.pt``
            (``kind="last"``) written by :mod:`sot_utils.training.train` or ``.ensemble``.
        kind: which keys the file must hold (:data:`CHECKPOINT_KEYS`).

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: the file is truncated, not a torch archive, holds objects other than
            tensors and plain data (refused without running them), or lacks keys.
    """
    path = Path(path)
    contents = _read(path)
    if not isinstance(contents, dict):
        raise CheckpointError(
            f"{path} holds a {type(contents).__name__}, not a checkpoint of this package "
            f"(a mapping with {list(CHECKPOINT_KEYS[kind])})"
        )
    missing = [key for key in CHECKPOINT_KEYS[kind] if key not in contents]
    if missing:
        raise CheckpointError(
            f"{path} is not a {kind} checkpoint of this package: it lacks {missing} (keys: {sorted(contents)})"
        )
    try:
        contents["config"] = upgrade_config(contents["config"])
    except ValueError as error:
        raise CheckpointError(f"{path}: its config is not valid: {error}") from None
    if not isinstance(contents["model"], dict):
        raise CheckpointError(f"{path}: `model` must hold a state dict, got {type(contents['model']).__name__}")
    return contents


def _read(path: Path):
    """``torch.load(path, weights_only=True)`` with one-line errors that name the file."""
    if not path.exists():
        raise FileNotFoundError(
            f"checkpoint {path} does not exist (train one with `python -m sot_utils.training.train`)"
        )
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file (try {path / 'best.pt'})")
    if not path.is_file():  # /dev/zero, a pipe: torch would read forever
        raise CheckpointError(f"{path} is not a regular file (a device or a pipe), not a checkpoint")
    try:  # compressed records could expand a small file to gigabytes: refused before loading
        check_torch_zip(path, f"{path} is not a readable checkpoint", "train one with sot_utils.training.train")
    except ValueError as error:
        raise CheckpointError(str(error)) from None
    try:
        contents = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(f"{path} is not a checkpoint of this package: {unpickling_reason(error)}") from None
    except Exception as error:  # torch raises many kinds (RuntimeError, EOFError, IndexError...) for a foreign file
        message = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise CheckpointError(
            f"{path} is not a readable checkpoint (truncated or not a torch file: {message})"
        ) from None
    return contents


def checkpoint_step(path: str | Path) -> int:
    """The training step a checkpoint file was written at (read safely, as :func:`load_checkpoint`)."""
    contents = _read(Path(path))
    step = contents.get("step") if isinstance(contents, dict) else None
    if isinstance(step, bool) or not isinstance(step, int):
        raise CheckpointError(f"{path} is not a checkpoint of this package: it has no integer `step`")
    return step


def load_model(path: str | Path, device: str = "cpu") -> tuple[HarmonicAutoencoder, TrainConfig]:
    """The trained autoencoder (eval mode) and its config, from a checkpoint file.

    The architecture is built from the checkpoint's own config (decoder harmonics, roll-off,
    encoder layers): a config edited after training cannot load the weights into another model.
    Weights that are missing, unexpected, of the wrong shape or not finite (a diverged run) are
    refused with their names.
    """
    contents = load_checkpoint(path)
    config = contents["config"]
    with torch.device("meta"):  # shapes only: a config asking for a huge model allocates nothing here
        skeleton = config.model.build()
    check_state_dict(path, contents["model"], skeleton.state_dict())
    model = config.model.build()
    model.load_state_dict(contents["model"])
    return model.to(device).eval(), config


def check_state_dict(path, stored: dict, expected: dict) -> None:
    """Refuse stored weights that would not load into, or not run in, the model ``expected`` describes.

    Raises:
        CheckpointError: naming the missing, unexpected, misshapen or non-finite tensors (a few).
    """

    def names(keys) -> str:
        keys = sorted(map(str, keys))
        return ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")

    missing, unexpected = expected.keys() - stored.keys(), stored.keys() - expected.keys()
    if missing or unexpected:
        parts = [
            f"missing {names(missing)}" if missing else "",
            f"unexpected {names(unexpected)}" if unexpected else "",
        ]
        raise CheckpointError(
            f"{path}: its weights do not fit the architecture its config names: {'; '.join(p for p in parts if p)}"
        )
    wrong = [
        f"{key} {tuple(value.shape)} (expected {tuple(expected[key].shape)})"
        if isinstance(value, torch.Tensor)
        else f"{key} (a {type(value).__name__}, not a tensor)"
        for key, value in stored.items()
        if not isinstance(value, torch.Tensor) or value.shape != expected[key].shape
    ]
    if wrong:
        raise CheckpointError(f"{path}: weights of the wrong shape: {names(wrong)}")
    not_finite = [key for key, value in stored.items() if value.is_floating_point() and not torch.isfinite(value).all()]
    if not_finite:
        raise CheckpointError(
            f"{path}: its weights hold NaN or infinite values ({names(not_finite)}): the run diverged; "
            "use an earlier checkpoint"
        )


# --------------------------------------------------------------------------------------------
# The training log


def prepare_log(log_path: Path, step: int, validate_every: int) -> Path:
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
            warnings.warn(
                f"{log_path} holds {len(rows)} validation rows up to step {step}, expected {expected}: "
                "rows were lost; retrain from step 0 for a complete log",
                stacklevel=3,
            )
    partial = log_path.with_name(f".{log_path.name}.{os.getpid()}.tmp")
    with open(partial, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=LOG_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(partial, log_path)
    return log_path


def append_log_row(log_path: Path, row: dict) -> None:
    """Append one row, opening the file for just this write (safe if the file is replaced meanwhile)."""
    with open(log_path, "a", newline="") as f:
        csv.DictWriter(f, fieldnames=LOG_FIELDS).writerow(row)


# --------------------------------------------------------------------------------------------
# One process per run folder


class RunLock:
    """Exclusive ownership of a run folder: ``<out_dir>/.lock`` holds the owner's host and pid.

    Taken atomically (``O_CREAT | O_EXCL``). A lock whose process is gone (same host, no such pid)
    is stale and taken over; a live owner raises :class:`RunLockedError` naming it. Use as a
    context manager; the lock file is removed on exit.
    """

    def __init__(self, out_dir: str | Path):
        self.path = Path(out_dir) / ".lock"
        self.held = False

    def _owner(self) -> tuple[str, int] | None:
        try:
            host, pid = self.path.read_text().split()
            return host, int(pid)
        except (OSError, ValueError):
            return None

    @staticmethod
    def _alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def acquire(self) -> RunLock:
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner is not None and (owner[0] != socket.gethostname() or self._alive(owner[1])):
                    raise RunLockedError(
                        f"{self.path.parent} is being trained by process {owner[1]} on {owner[0]} "
                        f"(lock file {self.path}); wait for it, or stop it, before training this run"
                    ) from None
                self.path.unlink(missing_ok=True)  # stale: its process is gone
                continue
            with os.fdopen(fd, "w") as f:
                f.write(f"{socket.gethostname()} {os.getpid()}\n")
            self.held = True
            return self
        raise RunLockedError(f"could not take the lock {self.path}: other processes keep taking it")

    def release(self) -> None:
        if self.held:
            owner = self._owner()
            if owner == (socket.gethostname(), os.getpid()):
                self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


# --------------------------------------------------------------------------------------------
# The run folder, as a trainer writes it


class RunFolder:
    """One run's folder (the format in this module's docstring), as the trainers write it.

    Args:
        path: the folder (``config.out_dir``).

    Use :meth:`create` before taking its :class:`RunLock`, then :meth:`resume` (the state of
    ``last.pt``), :meth:`start` (``config.yaml`` and ``log.csv`` for the steps to come) and, after
    each validation, :meth:`record`.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def last(self) -> Path:
        return self.path / "last.pt"

    @property
    def best(self) -> Path:
        return self.path / "best.pt"

    @property
    def log(self) -> Path:
        return self.path / "log.csv"

    def best_upto(self, step: int) -> Path:
        """``best-upto-<step>.pt``: the best checkpoint among the validations up to ``step``."""
        return self.path / f"best-upto-{step}.pt"

    def create(self) -> bool:
        """Create the folder (and its parents); return whether it was created now.

        A path under a regular file, a regular file in its place, or a dangling symbolic link on
        the way is a clear error (ValueError naming ``out_dir``).
        """
        for parent in (self.path, *self.path.parents):
            if parent.is_symlink() and not parent.exists():  # dangling, or a loop of links
                try:
                    target = os.readlink(parent)
                except OSError:
                    target = "?"
                raise ValueError(
                    f"`out_dir` {str(self.path)!r}: {str(parent)!r} is a symbolic link to {target!r}, which does "
                    "not resolve to a folder (missing, or a loop of links)"
                )
            if parent.exists() and not parent.is_dir():
                raise ValueError(f"`out_dir` {str(self.path)!r}: {str(parent)!r} is a file, not a folder")
        created = not self.path.exists()
        self.path.mkdir(parents=True, exist_ok=True)
        return created

    def remove_if_empty(self) -> None:
        """Remove the folder if nothing is in it (a run that never started leaves nothing behind)."""
        if self.path.exists() and not any(self.path.iterdir()):
            self.path.rmdir()

    def resume(self, config: TrainConfig, allow_config_change: bool = False) -> dict | None:
        """The contents of ``last.pt`` if it belongs to this run (None if there is none).

        Raises ValueError if it belongs to another run, or if its config differs from ``config``
        in anything but the keys a resumed run may change, unless ``allow_config_change``.
        """
        check_bool("allow_config_change", allow_config_change)
        if not self.last.exists():
            return None
        checkpoint = load_checkpoint(self.last, kind="last")
        stored = checkpoint["config"]
        if (stored.group, stored.seed) != (config.group, config.seed):
            raise ValueError(
                f"{self.last} belongs to another run ({stored.group}, seed {stored.seed}), "
                f"not {config.group} seed {config.seed}"
            )
        differences = config_differences(stored.to_dict(), config.to_dict())
        if differences and not allow_config_change:
            raise ValueError(
                f"{self.last} was trained with another config; resuming would record settings that were not used. "
                f"Differences (stored -> now): {'; '.join(differences)}. Restore them, train into another "
                "--out-dir, or pass --allow-config-change"
            )
        return checkpoint

    def start(self, config: TrainConfig, step: int) -> None:
        """Write ``config.yaml`` (atomically) and start or trim ``log.csv`` for training from ``step``."""
        partial = self.path / ".config.yaml.tmp"
        partial.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
        partial.replace(self.path / "config.yaml")
        prepare_log(self.log, step, config.validate_every)

    def discard_unstarted(self) -> None:
        """Remove ``config.yaml`` and ``log.csv`` if no ``last.pt`` was saved (a run that failed
        before its first checkpoint leaves no config or empty log behind). Call under the lock."""
        if not self.last.exists():
            for name in ("config.yaml", "log.csv"):
                (self.path / name).unlink(missing_ok=True)

    def record(
        self,
        config: TrainConfig,
        step: int,
        *,
        epoch: float,
        train_loss: float,
        metrics: dict[str, float],
        elapsed_s: float,
        device: str,
        weights: dict,
        resume_state: dict,
        best_lsd: float,
    ) -> float:
        """Record the validation after ``step`` steps; return the best validation LSD so far.

        Appends the row of ``log.csv`` (:data:`LOG_FIELDS`: ``epoch``, the mean ``train_loss`` since
        the last row, the validation ``metrics`` of :func:`sot_utils.metrics.compute_metrics`,
        ``elapsed_s``, the ``device`` type); saves ``best.pt`` if ``metrics["lsd"]`` is below
        ``best_lsd``; keeps ``best-upto-<step>.pt`` at multiples of ``config.keep_best_every``; then
        saves ``last.pt`` from ``weights`` (a CPU state dict) and ``resume_state`` (``optimizer``,
        ``rng`` and any extra entries), last, so that a run killed at any point resumes from a
        whole state.
        """
        row = {"step": step, "epoch": epoch, "train_loss": train_loss}
        row |= {f"val_{key}": value for key, value in metrics.items()}
        append_log_row(self.log, row | {"elapsed_s": elapsed_s, "device": device})
        if metrics["lsd"] < best_lsd:
            best_lsd = metrics["lsd"]
            atomic_save({"model": weights, "config": config.to_dict(), "step": step, "val_metrics": metrics}, self.best)
        if config.keep_best_every and step % config.keep_best_every == 0:
            partial = self.path / f".best-upto-{step}.pt.tmp"
            shutil.copyfile(self.best, partial)
            partial.replace(self.best_upto(step))
        atomic_save(
            {"model": weights, "config": config.to_dict(), "step": step, "best_lsd": best_lsd, **resume_state},
            self.last,
        )
        return best_lsd
