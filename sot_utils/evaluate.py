"""Evaluate a trained checkpoint on a dataset split: the paper's metrics as JSON (spec §8).

CLI: ``python -m sot_utils.evaluate CHECKPOINT [--data FILE] [--split test]``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from .autoencoder import HarmonicAutoencoder
from .train import cached_features, evaluate_model


def load_checkpoint(path: str | Path, device: str = "cpu") -> tuple[HarmonicAutoencoder, dict]:
    """The model (eval mode) and the config stored in a ``best.pt`` / ``last.pt`` checkpoint."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist (train one with `python -m sot_utils.train`)")
    checkpoint = torch.load(path, map_location=device, weights_only=False)
    if "model" not in checkpoint or "config" not in checkpoint:
        raise ValueError(f"{path} is not a checkpoint of sot_utils.train (keys: {sorted(checkpoint)})")
    model = HarmonicAutoencoder(roll_off=checkpoint["config"].get("roll_off", False)).to(device)
    model.load_state_dict(checkpoint["model"])
    return model.eval(), checkpoint["config"]


def evaluate_checkpoint(path: str | Path, data: str | Path | None = None, split: str = "test",
                        device: str = "cpu", progress: bool = False) -> dict[str, float]:
    """LSD (dB²), RPA and RCA (%), octave difference, MSS and MSE of a checkpoint on a split.

    Args:
        path: checkpoint file.
        data: dataset file (default: the one the run trained on).
        split: ``"train"``, ``"val"`` or ``"test"``.
    """
    model, config = load_checkpoint(path, device)
    audio, cqt, labels = cached_features(data or config["data"], split, progress)
    return evaluate_model(model, audio, cqt, labels["f0_hz"], device=device)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Evaluate a checkpoint: the paper's metrics as JSON.")
    parser.add_argument("checkpoint")
    parser.add_argument("--data", help="dataset file (default: the run's)")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    metrics = evaluate_checkpoint(args.checkpoint, args.data, args.split, args.device, progress=True)
    print(json.dumps({"checkpoint": args.checkpoint, "split": args.split, **metrics}, indent=2))


if __name__ == "__main__":
    main()
