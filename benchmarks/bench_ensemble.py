"""Ensemble training against separate runs: one step of E runs, and what it means for the protocol.

For E runs (the paper's groups in turn, one seed each, batch 64, the same batch for all as in
the paper's unshuffled protocol), one training step of all E is timed two ways, in turn:
- ``separate``: E models stepped one after the other with :func:`sot_utils.training.train.train_step`
  (what E runs cost in one process; E processes side by side share the same cores or GPU);
- ``ensemble``: one :func:`sot_utils.training.ensemble.ensemble_train_step` of the E stacked models.

The members of a group share one loss module, as in :func:`sot_utils.training.ensemble.train_ensemble`
(the ensemble evaluates each group's members in one call). The member losses at the initial
weights (dropout off, TF32 off) are checked equal. ``profile_stages`` splits the step of the
largest ensemble into its stages. ``time_validation`` times one validation of the largest
ensemble (the paper's validation split, 800 examples): each member alone with
:func:`sot_utils.training.train.evaluate_model`, as the ensemble validated before, against
:func:`sot_utils.training.ensemble.evaluate_ensemble`; the members' metrics are checked equal. Runs per
hour assume the paper's 22,000 steps; ``protocol`` gives the time of the full protocol (7 groups
x 5 seeds x 22,000 steps, a validation every 220) at the fastest step rate measured, with the
validations at the batched rate.

``run(quick, device)`` is the ``ensemble`` section of ``python -m benchmarks.run_all``.
"""

from __future__ import annotations

import copy
import functools

import torch

from benchmarks import comparison, describe, full_float32, harmonic_audio, log, section_meta, time_interleaved
from sot_utils.autoencoder import HarmonicAutoencoder, cqt_features
from sot_utils.synth import harmonic_synth
from sot_utils.training.config import TrainConfig, resolve_config
from sot_utils.training.data import generate_harmonic_dataset, peak_normalize
from sot_utils.training.ensemble import (
    EnsembleAutoencoder,
    ensemble_train_step,
    evaluate_ensemble,
    loss_groups,
    member_losses,
)
from sot_utils.training.loss_config import PAPER_GROUPS
from sot_utils.training.train import CPU_MICRO_BATCH, build_loss, evaluate_model, train_step

PROTOCOL_STEPS = 22_000
PROTOCOL_RUNS = 35  # 7 groups x 5 seeds
VALIDATE_EVERY = TrainConfig.validate_every  # the default: 220 steps, 5 epochs of 44
VALIDATION_EXAMPLES = 800  # the validation split of the paper's 4,000 examples


def _members(n_members: int, device: torch.device):
    groups = [PAPER_GROUPS[k % len(PAPER_GROUPS)] for k in range(n_members)]
    # one loss module per group, shared by its members, as train_ensemble builds them
    modules = {group: build_loss(resolve_config(group, 0)).to(device) for group in set(groups)}
    models = []
    for seed in range(n_members):
        torch.manual_seed(seed)
        models.append(HarmonicAutoencoder().to(device).train())
    return groups, models, [modules[group] for group in groups]


def time_members(
    n_members: int, audio: torch.Tensor, cqt: torch.Tensor, micro_batch: int, repeats: int, device: torch.device
) -> dict:
    """The comparison record of one step of ``n_members`` runs, separate against ensemble."""
    groups, models, losses = _members(n_members, device)
    lone_optimizers = [torch.optim.Adam(m.parameters(), lr=1e-4, weight_decay=1e-4) for m in models]
    ensemble = EnsembleAutoencoder([copy.deepcopy(m) for m in models]).to(device).train()
    optimizer = torch.optim.Adam(ensemble.parameters(), lr=1e-4, weight_decay=1e-4)

    def separate():
        return [
            train_step(m, loss, opt, audio, cqt, micro_batch) for m, loss, opt in zip(models, losses, lone_optimizers)
        ]

    def together():
        return ensemble_train_step(ensemble, losses, optimizer, audio, cqt, micro_batch)

    rel = _loss_rel_diff(n_members, audio, cqt, device)
    seconds = time_interleaved({"separate": separate, "ensemble": together}, repeats=repeats, warmup=1, device=device)
    record = comparison(seconds, "separate", rtol=1e-4, rel_diffs={"ensemble": rel}, groups=groups)
    record["runs_per_hour"] = {name: round(n_members * 3600 / (s * PROTOCOL_STEPS), 3) for name, s in seconds.items()}
    return record


def _loss_rel_diff(n_members: int, audio, cqt, device: torch.device) -> float:
    """Largest relative difference of the member losses, separate against ensemble, at the initial
    weights with dropout off (the timed steps draw their dropout masks from one shared stream, in
    another order; tests/training/test_ensemble.py checks whole trajectories with per-member streams)."""
    _, models, losses = _members(n_members, device)
    ensemble = EnsembleAutoencoder(models).to(device).eval()
    with torch.no_grad(), full_float32():
        together = [float(loss(audio, estimate)) for loss, estimate in zip(losses, ensemble(cqt)[0])]
        separate = [float(loss(audio, m.eval()(cqt)[0])) for m, loss in zip(models, losses)]
    return max(abs(a - b) / max(abs(b), 1e-30) for a, b in zip(together, separate))


def _tf32_matmul(fn):
    """``fn`` run with TF32 CUDA matrix products (cuDNN's convolutions use TF32 by default already)."""

    def run():
        saved = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = True
        try:
            return fn()
        finally:
            torch.backends.cuda.matmul.allow_tf32 = saved

    return run


def time_precisions(
    n_members: int, audio: torch.Tensor, cqt: torch.Tensor, micro_batch: int, repeats: int, device: torch.device
) -> dict:
    """The comparison record of one step of ``n_members`` runs at reduced precision: the float32
    ensemble against TF32 matrix products (CUDA only) and a bfloat16 trunk
    (``EnsembleAutoencoder(trunk_dtype=torch.bfloat16)``). The values compared are the member
    losses at the initial weights, dropout off, against float32 without TF32; they differ by the
    rounding of the reduced precision (the record's ``rtol`` is that of bfloat16, not equality)."""
    _, models, losses = _members(n_members, device)
    variants = {"float32": (None, False), "bfloat16 trunk": (torch.bfloat16, False)}
    if device.type == "cuda":
        variants["TF32 matmul"] = (None, True)
    steps, values = {}, {}
    for name, (dtype, tf32) in variants.items():
        ensemble = EnsembleAutoencoder([copy.deepcopy(m) for m in models], trunk_dtype=dtype).to(device).train()
        optimizer = torch.optim.Adam(ensemble.parameters(), lr=1e-4, weight_decay=1e-4)
        step = functools.partial(ensemble_train_step, ensemble, losses, optimizer, audio, cqt, micro_batch)
        steps[name] = _tf32_matmul(step) if tf32 else step
        evaluate = EnsembleAutoencoder(models, trunk_dtype=dtype).to(device).eval()
        with torch.no_grad(), full_float32():
            torch.backends.cuda.matmul.allow_tf32 = tf32
            values[name] = [float(loss(audio, estimate)) for loss, estimate in zip(losses, evaluate(cqt)[0])]
    seconds = time_interleaved(steps, repeats=repeats, warmup=1, device=device)
    rel = {
        name: max(abs(a - b) / max(abs(b), 1e-30) for a, b in zip(v, values["float32"])) for name, v in values.items()
    }
    return comparison(seconds, "float32", rtol=5e-2, rel_diffs=rel, members=n_members)


def time_validation(n_members: int, n_examples: int, repeats: int, device: torch.device) -> dict:
    """The comparison record of one validation of ``n_members`` runs on ``n_examples`` examples:
    each member alone (``evaluate_model``) against the ensemble (``evaluate_ensemble``)."""
    examples = generate_harmonic_dataset(seed=1, size=n_examples, progress=False)["examples"]
    audio, f0_hz = peak_normalize(examples["audio"]), examples["f0_hz"]
    cqt = cqt_features(audio, progress=False)
    _, models, _ = _members(n_members, device)
    ensemble = EnsembleAutoencoder(models).to(device)
    results = {}

    def separate():
        results["separate"] = [evaluate_model(m, audio, cqt, f0_hz, 64, device) for m in models]

    def together():
        results["ensemble"] = evaluate_ensemble(ensemble, audio, cqt, f0_hz, 64)

    with full_float32():  # the values are compared: no TF32 on either side
        seconds = time_interleaved(
            {"separate": separate, "ensemble": together}, repeats=repeats, warmup=0, device=device
        )
    rel = max(
        abs(a[key] - b[key]) / max(abs(b[key]), 1e-30)
        for a, b in zip(results["ensemble"], results["separate"])
        for key in ("lsd", "mss", "mse")
    )
    return comparison(seconds, "separate", rtol=1e-4, rel_diffs={"ensemble": rel}, examples=n_examples)


def profile_stages(
    n_members: int, audio: torch.Tensor, cqt: torch.Tensor, micro_batch: int, repeats: int, device: torch.device
) -> dict:
    """Where one ensemble step of ``n_members`` runs spends its time, ms (medians; each stage
    timed on its own, so the stages need not add up to the whole step)."""
    _, models, losses = _members(n_members, device)
    ensemble = EnsembleAutoencoder(models).to(device).train()
    optimizer = torch.optim.Adam(ensemble.parameters(), lr=1e-4, weight_decay=1e-4)
    groups = loss_groups(losses)
    out = ensemble.encode(cqt)
    e, batch, n_frames = out.f0_hz.shape
    estimate, _ = ensemble(cqt)

    def forward_backward():
        member_losses(losses, groups, audio, ensemble(cqt)[0]).sum().backward()

    stages = {
        "encoder forward": lambda: ensemble.encode(cqt),
        "synth forward": lambda: harmonic_synth(
            out.f0_hz.reshape(e * batch, n_frames),
            out.amplitudes.reshape(e * batch, n_frames, -1),
            ensemble.n_samples,
            ensemble.sample_rate,
        ),
        f"losses forward ({len(groups)} calls)": lambda: member_losses(losses, groups, audio, estimate.detach()),
        "forward + backward": forward_backward,
        "Adam update": optimizer.step,
        f"whole step (micro-batches of {micro_batch})": lambda: ensemble_train_step(
            ensemble, losses, optimizer, audio, cqt, micro_batch
        ),
    }
    forward_backward()  # gradients for the Adam update
    return {
        name: round(time_interleaved({name: fn}, repeats, warmup=1, device=device)[name] * 1e3, 2)
        for name, fn in stages.items()
    }


def run(quick: bool = False, device: str = "cpu") -> dict:
    device = torch.device(device)
    cuda = device.type == "cuda"
    sizes = (1, 2) if quick else ((1, 7, 14, 35) if cuda else (1, 2, 4, 7))
    batch = 8 if quick else 64
    repeats = 1 if quick else (5 if cuda else 3)
    micro_batch = batch if cuda else CPU_MICRO_BATCH
    audio = harmonic_audio(batch, device="cpu")
    cqt = cqt_features(audio, progress=False).to(device)
    audio = audio.to(device)
    cases = {}
    for n_members in sizes:
        log("ensemble", f"{n_members} run(s), batch {batch}, {device.type}")
        cases[f"E={n_members}"] = time_members(n_members, audio, cqt, micro_batch, repeats, device)
        if cuda:
            cases[f"E={n_members}"]["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
            torch.cuda.reset_peak_memory_stats(device)
        log("ensemble", describe(cases[f"E={n_members}"]))
    largest = max(sizes)
    profile = profile_stages(largest, audio, cqt, micro_batch, repeats, device)
    log("ensemble", f"profile of one step of {largest} runs (ms): {profile}")
    precisions = time_precisions(largest, audio, cqt, micro_batch, repeats, device)
    log("ensemble", f"one step of {largest} runs at reduced precision: {describe(precisions)}")
    n_val = 64 if quick else VALIDATION_EXAMPLES
    validation = time_validation(largest, n_val, 1 if quick else 3, device)
    log("ensemble", f"one validation of {largest} runs, {n_val} examples: {describe(validation)}")
    best = min(cases.values(), key=lambda r: min(c["ms"] / len(r["groups"]) for c in r["candidates"].values()))
    best_ms = min(c["ms"] for c in best["candidates"].values()) / len(best["groups"])
    return {
        "what": f"one training step of E runs (batch {batch}, groups in turn), E lone steps in one process against "
        f"one ensemble step; runs/h at {PROTOCOL_STEPS:,} steps",
        "meta": section_meta(str(device), repeats, quick, micro_batch=micro_batch),
        "tables": {
            "one step of E runs": cases,
            f"one step of E={largest} runs, reduced precision": {f"E={largest}": precisions},
            f"one validation of E={largest} runs": {f"{n_val} examples": validation},
        },
        f"profile_E={largest}_ms": profile,
        "protocol": _protocol(
            best_ms, validation["candidates"]["ensemble"]["ms"] / largest * VALIDATION_EXAMPLES / n_val
        ),
    }


def _protocol(ms_per_run_step: float, ms_per_run_validation: float) -> dict:
    """Hours of the full protocol: its run-steps at ``ms_per_run_step`` and its validations (one
    per run every 220 steps, 800 examples) at ``ms_per_run_validation``."""
    validations = PROTOCOL_RUNS * (PROTOCOL_STEPS // VALIDATE_EVERY)
    steps_h = PROTOCOL_RUNS * PROTOCOL_STEPS * ms_per_run_step / 1e3 / 3600
    validation_h = validations * ms_per_run_validation / 1e3 / 3600
    return {
        "runs": PROTOCOL_RUNS,
        "steps": PROTOCOL_STEPS,
        "best_ms_per_run_step": round(ms_per_run_step, 2),
        "hours_at_best_rate": round(steps_h, 2),
        "ms_per_run_validation": round(ms_per_run_validation, 2),
        "validation_hours": round(validation_h, 2),
        "total_hours": round(steps_h + validation_h, 2),
    }
