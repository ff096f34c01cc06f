"""Train many runs in one process: a batched ensemble of autoencoders.

No notebook runs it: it trains the paper's protocol on a GPU (docs/training.md).

The paper's protocol is 7 groups x 5 seeds = 35 runs of one architecture. Trained apart, every
step of every run launches the same few hundred small kernels, which leave a GPU mostly waiting
(one run alone: about 23 steps/s on an H100; 8 processes side by side: about 82 in all). An
ensemble stacks the parameters of E runs along a leading member dimension and steps them together:

- the encoder's activations laid out ``[members, frames, bins, channels]``; its 1x1 and
  one-channel convolutions and its two heads as batched matrix products over members, its
  wide 40-channel convolution as one grouped convolution (``groups = E``) on a GPU, member by
  member on a CPU;
- the synthesizer on all ``E x batch`` examples at once;
- each member's own loss (its group) on its slice of the output; the sum of the member losses has,
  with respect to each member's parameters, that member's gradient (members share no parameter);
- one Adam over the stacked tensors: Adam is element-wise, so it is E separate Adams;
- validation of all members in one pass over the validation split (:func:`evaluate_ensemble`).

Each member keeps its own random stream for dropout, drawn in the same order and shapes as when
it trains alone, so a member follows the trajectory of its separate run, up to the rounding of
the batched products (tested in float64). Checkpoints, logs and validation are written per member
exactly as :func:`sot_utils.training.train.train` writes them: any member can be resumed alone, and
separate runs that stand at a common step can be resumed as an ensemble.

CLI: ``python -m sot_utils.training.ensemble --seeds 42 123 456 789 101112 [--groups ...] [--steps N]
[--device cuda] [--members 35] [--time-limit MINUTES] [--trunk-dtype bfloat16]``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from ..autoencoder import HarmonicAutoencoder, RollOffFilter
from ..encoder import FRAMES_PER_BLOCK, EncoderOutput, conv1d_channels_last, f0_from_logits, trunk_layers
from ..losses import WeightedLossSum
from ..metrics import compute_metrics
from ..synth import exp_sigmoid, harmonic_synth
from ..validation import check_audio_pair, check_bool, check_int, check_tensor
from .checkpoint import RunFolder, RunLock, load_checkpoint, on_cpu, rng_state
from .config import TrainConfig, resolve_config
from .data import cached_features
from .train import CPU_MICRO_BATCH, add_run_selection, batch_indices, build_loss, check_device, micro_batched_step

__all__ = [
    "SHARED_KEYS",
    "TRUNK_DTYPES",
    "EnsembleAutoencoder",
    "ensemble_train_step",
    "evaluate_ensemble",
    "loss_groups",
    "main",
    "member_losses",
    "train_ensemble",
]

SHARED_KEYS = (
    "steps",
    "batch_size",
    "learning_rate",
    "weight_decay",
    "validate_every",
    "micro_batch_size",
    "keep_best_every",
    "data",
    "device",
)
"""Config keys every member of an ensemble must share (they set the common loop); the others
(group, seed, shuffle, the loss and the roll-off) may differ from member to member. The members'
architectures must match (:class:`EnsembleAutoencoder` checks)."""


TRUNK_DTYPES = (None, torch.bfloat16, torch.float16)


def _checked_trunk_dtype(trunk_dtype: torch.dtype | None) -> torch.dtype | None:
    if trunk_dtype not in TRUNK_DTYPES:
        raise ValueError(f"`trunk_dtype` must be one of {TRUNK_DTYPES}, got {trunk_dtype!r}")
    return trunk_dtype


class EnsembleAutoencoder(nn.Module):
    """E :class:`~sot_utils.autoencoder.HarmonicAutoencoder` of one architecture, run as one module.

    Args:
        models: the members (their current weights are copied; they may differ in ``roll_off``).
        generators: one ``torch.Generator`` per member, on the members' device, that its dropout
            masks are drawn from (``None``: the global generator, as a lone model would use).
        trunk_dtype: ``None`` (default): every layer in the members' own precision, as lone runs
            compute it. ``torch.bfloat16`` or ``torch.float16``: the encoder's trunk (its
            convolutions, 97 % of the model's multiply-adds) runs under autocast at that precision,
            for GPUs whose tensor cores compute it; the layer norm, the dropout draws, the heads,
            f0 decoding, synth and losses keep the members' precision. Not the paper's precision.
            Measured: bfloat16 makes a 35-run step 1.36x faster on an H100, 6.5x slower on a
            CPU without bfloat16 units (benchmarks, ensemble section).

    Attribute ``params[i]`` stacks the members' ``i``-th parameter (``names[i]``, in the order of
    ``HarmonicAutoencoder.named_parameters()``) along a new leading dimension ``[E, ...]``.
    """

    def __init__(
        self,
        models: Sequence[HarmonicAutoencoder],
        generators: Sequence[torch.Generator] | None = None,
        trunk_dtype: torch.dtype | None = None,
    ):
        super().__init__()
        self.trunk_dtype = _checked_trunk_dtype(trunk_dtype)
        if len(models) < 1:
            raise ValueError("`models` needs at least one member")
        first = models[0]
        self.names = [name for name, _ in first.named_parameters()]
        shapes = [tuple(p.shape) for _, p in first.named_parameters()]
        for k, model in enumerate(models):
            if not isinstance(model, HarmonicAutoencoder):
                raise TypeError(f"`models[{k}]` must be a HarmonicAutoencoder, got {type(model).__name__}")
            mine = [(name, tuple(p.shape)) for name, p in model.named_parameters()]
            if mine != list(zip(self.names, shapes)) or (model.n_samples, model.sample_rate) != (
                first.n_samples,
                first.sample_rate,
            ):
                raise ValueError(
                    f"`models[{k}]` has another architecture than `models[0]`: an ensemble stacks identical layers"
                )
            e0, ek = first.encoder, model.encoder
            if ek.fundamental_floor:
                raise ValueError(f"`models[{k}]` floors its fundamental; the ensemble does not (train it alone)")
            if model.oracle_amplitudes:
                raise ValueError(f"`models[{k}]` plays oracle amplitudes; the ensemble does not (train it alone)")
            if (ek.temperature, ek.fmin_hz, ek.fmax_hz) != (e0.temperature, e0.fmin_hz, e0.fmax_hz):
                raise ValueError(
                    f"`models[{k}]` decodes f0 with another temperature or frequency range than `models[0]`"
                )
        if generators is not None and len(generators) != len(models):
            raise ValueError(f"`generators` must hold one generator per member ({len(models)}), got {len(generators)}")
        self.n_members = len(models)
        self.params = nn.ParameterList(
            nn.Parameter(torch.stack([dict(m.named_parameters())[name].detach() for m in models]).clone())
            for name in self.names
        )
        self.generators = list(generators) if generators is not None else None
        # the layer structure (kernel sizes, paddings, slopes, dropout), kept outside the module tree
        self._template = [copy.deepcopy(first.encoder).to("meta")]
        self.register_buffer("toeplitz_index", first.encoder.f0_head.toeplitz_index.clone(), persistent=False)
        self.n_samples, self.sample_rate = first.n_samples, first.sample_rate
        self.roll_off_members = [k for k, m in enumerate(models) if m.roll_off is not None]
        self.roll_off = RollOffFilter(sample_rate=first.sample_rate) if self.roll_off_members else None

    def param(self, name: str) -> torch.Tensor:
        """The stacked parameter ``[E, ...]`` of the members' parameter ``name``."""
        return self.params[self.names.index(name)]

    def member_state_dict(self, member: int) -> dict[str, torch.Tensor]:
        """Member ``member``'s weights as a ``HarmonicAutoencoder.state_dict()`` (detached copies)."""
        check_int("member", member, minimum=0)
        if member >= self.n_members:
            raise ValueError(f"`member` must be < {self.n_members}, got {member}")
        return {name: p[member].detach().clone() for name, p in zip(self.names, self.params)}

    def _layers(self, sequence: nn.Sequential, prefix: str, x: torch.Tensor) -> torch.Tensor:
        """Apply a member-stacked copy of ``sequence`` to ``x [E, N, n_bins, channels]``."""
        e, n, length = x.shape[:3]
        for child_name, layer in sequence.named_children():
            if isinstance(layer, nn.Conv1d):
                weight = self.param(f"{prefix}.{child_name}.weight")  # [E, out, in, k]
                bias = self.param(f"{prefix}.{child_name}.bias")  # [E, out]
                _, c_out, c_in, k = weight.shape
                if k == 1 or c_in == 1:
                    # a batched GEMM over members: a 1x1 conv is one, and so is a one-channel conv
                    # on the k shifted copies of the signal (4x faster than a grouped conv on an H100)
                    if k == 1:
                        inputs, kernel = x.reshape(e, n * length, c_in), weight[..., 0]  # kernel [E, out, in]
                    else:
                        pad = layer.padding[0]
                        windows = nn.functional.pad(x[..., 0], (pad, pad)).unfold(2, k, 1)  # [E, N, L, k]
                        inputs, kernel = windows.reshape(e, n * length, k), weight[:, :, 0, :]  # kernel [E, out, k]
                    x = torch.baddbmm(bias[:, None], inputs, kernel.transpose(1, 2)).reshape(e, n, length, c_out)
                elif x.device.type == "cpu":
                    # on a CPU, member by member as a lone encoder computes it (channels-last
                    # conv2d): 1.7x faster than the grouped conv below, and a loop costs no launches
                    x = torch.stack(
                        [conv1d_channels_last(x[m], weight[m], bias[m], layer.padding[0]) for m in range(e)]
                    )
                else:
                    # a grouped conv over members, channels-first [N, E * in, L]: cuDNN's fastest
                    # layout for it (channels-last: 1.3x slower, a GEMM on unfolded windows: 2x)
                    inputs = x.permute(1, 0, 3, 2).reshape(n, e * c_in, length)
                    y = nn.functional.conv1d(
                        inputs, weight.reshape(e * c_out, c_in, k), bias.reshape(-1), padding=layer.padding[0], groups=e
                    )
                    x = y.reshape(n, e, c_out, length).permute(1, 0, 3, 2)
            elif isinstance(layer, nn.Dropout):
                if self.training and layer.p > 0:
                    keep = self._dropout_draws(x) >= layer.p
                    x = torch.where(keep, x * (1.0 / (1.0 - layer.p)), 0.0)
            elif isinstance(layer, nn.LeakyReLU):
                x = nn.functional.leaky_relu(x, layer.negative_slope)
            else:
                raise TypeError(f"{prefix}.{child_name}: no ensemble version of {type(layer).__name__}")
        return x

    def _dropout_draws(self, x: torch.Tensor) -> torch.Tensor:
        """Uniform draws ``[E, N, L, C]``: member e's block drawn from its own generator, in the
        shape ``[N, L, C]`` a lone model draws (``torch.rand_like`` of its activations)."""
        e, n, length, c = x.shape
        shape, dtype = (n, length, c), self.params[0].dtype  # the members' dtype, under autocast too
        if self.generators is None:
            draws = [torch.rand(shape, dtype=dtype, device=x.device) for _ in range(e)]
        else:
            draws = [torch.rand(shape, dtype=dtype, device=x.device, generator=g) for g in self.generators]
        return torch.stack(draws)

    def _trunk(self, frames: torch.Tensor) -> torch.Tensor:
        """Frames ``[N, n_bins]`` (shared) or ``[E, N, n_bins]`` -> features ``[E, N, channels[-1] * n_bins]``."""
        encoder = self._template[0]
        xhat = nn.functional.layer_norm(frames, frames.shape[-1:], eps=encoder.norm.eps)  # [N, L] or [E, N, L]
        weight, bias = self.param("encoder.norm.weight")[:, 0], self.param("encoder.norm.bias")[:, 0]  # [E, L]
        x = (xhat * weight[:, None] + bias[:, None])[..., None]  # [E, N, L, 1]
        x = trunk_layers(encoder, x, self._layers)  # [E, N, L, C]
        e, n, length, c = x.shape
        return x.transpose(2, 3).reshape(e, n, c * length)  # channel-major per member, as a lone encoder

    def encode(self, cqt: torch.Tensor) -> EncoderOutput:
        """CQT ``[batch, n_frames, n_bins]`` (the same for every member) or ``[E, batch, n_frames, n_bins]``
        -> :class:`EncoderOutput` with a leading member dimension: ``f0_hz [E, batch, n_frames]`` (Hz),
        ``amplitudes [E, batch, n_frames, n_harmonics]``, ``logits [E, batch, n_frames, n_bins]``."""
        encoder = self._template[0]
        check_tensor("cqt", cqt, min_ndim=3, layout="[batch, n_frames, n_bins] or [E, batch, n_frames, n_bins]")
        if cqt.ndim == 4 and cqt.shape[0] != self.n_members:
            raise ValueError(
                f"`cqt` [E, batch, n_frames, n_bins] must have E = {self.n_members} members, got {tuple(cqt.shape)}"
            )
        if cqt.ndim not in (3, 4) or cqt.shape[-1] != encoder.n_bins:
            raise ValueError(
                f"`cqt` must be [batch, n_frames, {encoder.n_bins}] or [E, batch, n_frames, {encoder.n_bins}], "
                f"got {tuple(cqt.shape)}"
            )
        batch, n_frames, n_bins = cqt.shape[-3:]
        frames = cqt.reshape(*cqt.shape[:-3], batch * n_frames, n_bins)
        # blocks of frames as a lone encoder runs them: the same cache blocking, the same dropout draws
        with torch.autocast(
            frames.device.type, dtype=self.trunk_dtype or torch.bfloat16, enabled=self.trunk_dtype is not None
        ):
            features = torch.cat([self._trunk(block) for block in frames.split(FRAMES_PER_BLOCK, dim=-2)], dim=1)
        features = features.to(self.params[0].dtype)
        toeplitz = self.param("encoder.f0_head.weight")[:, 0, 0][:, self.toeplitz_index]
        logits = torch.bmm(features, toeplitz).reshape(self.n_members, batch, n_frames, n_bins)
        amplitude_weight, amplitude_bias = (
            self.param("encoder.amplitude_head.weight"),
            self.param("encoder.amplitude_head.bias"),
        )
        amplitudes = exp_sigmoid(torch.baddbmm(amplitude_bias[:, None], features, amplitude_weight.transpose(1, 2)))
        amplitudes = amplitudes.reshape(self.n_members, batch, n_frames, encoder.n_harmonics)
        f0_hz = f0_from_logits(logits, encoder.temperature, encoder.fmin_hz, encoder.fmax_hz)
        return EncoderOutput(f0_hz=f0_hz, amplitudes=amplitudes, logits=logits)

    def forward(self, cqt: torch.Tensor) -> tuple[torch.Tensor, EncoderOutput]:
        """CQT (see :meth:`encode`) -> (audio ``[E, batch, n_samples]``, encoder outputs)."""
        out = self.encode(cqt)
        e, batch, n_frames = out.f0_hz.shape
        audio = harmonic_synth(
            out.f0_hz.reshape(e * batch, n_frames),
            out.amplitudes.reshape(e * batch, n_frames, -1),
            self.n_samples,
            self.sample_rate,
        ).reshape(e, batch, self.n_samples)
        if self.roll_off is not None:
            filtered = [self.roll_off(audio[k]) if k in self.roll_off_members else audio[k] for k in range(e)]
            audio = torch.stack(filtered)
        return audio, out


@torch.no_grad()
def evaluate_ensemble(
    ensemble: EnsembleAutoencoder, audio: torch.Tensor, cqt: torch.Tensor, f0_hz: torch.Tensor, batch_size: int = 64
) -> list[dict[str, float]]:
    """Each member's metrics on one set of examples, as :func:`sot_utils.training.train.evaluate_model` gives them.

    The members run together on the ensemble's device (eval mode, then the mode is restored) and
    their audio metrics are computed there: on a GPU one validation of 35 members is one pass
    over the set instead of 35 passes and 35 metric computations on the CPU.

    Args:
        ensemble: the members.
        audio: target examples ``[N, n_samples]`` (any device).
        cqt: their encoder inputs ``[N, n_frames, n_bins]`` (any device).
        f0_hz: their f0 labels ``[N]`` or ``[N, n_frames]``, Hz.
        batch_size: examples per forward pass.

    Returns:
        one :func:`sot_utils.metrics.compute_metrics` dict per member.
    """
    check_tensor("audio", audio, ndim=2, layout="[N, n_samples]")
    check_tensor("cqt", cqt, ndim=3, layout="[N, n_frames, n_bins]")
    if len(audio) != len(cqt):
        raise ValueError(f"`audio` and `cqt` must hold the same examples, got {len(audio)} and {len(cqt)}")
    check_int("batch_size", batch_size, minimum=1)
    device = ensemble.params[0].device
    was_training = ensemble.training
    ensemble.eval()
    estimates, f0_estimates = [], []
    for chunk in cqt.split(batch_size):
        estimate, out = ensemble(chunk.to(device))
        estimates.append(estimate)
        f0_estimates.append(out.f0_hz)
    ensemble.train(was_training)
    estimates, f0_estimates = torch.cat(estimates, dim=1), torch.cat(f0_estimates, dim=1).cpu()
    audio = audio.to(device)
    return [compute_metrics(audio, estimates[k], f0_hz, f0_estimates[k]) for k in range(ensemble.n_members)]


def loss_groups(loss_fns: Sequence[nn.Module]) -> list[list[int]]:
    """The members that share one loss module (the same object), in order of first appearance.

    Members that share a module are evaluated in one call on their concatenated batches (see
    :func:`member_losses`); give members of one group and options the same module to get this.
    """
    groups: dict[int, list[int]] = {}
    for k, loss_fn in enumerate(loss_fns):
        groups.setdefault(id(loss_fn), []).append(k)
    return list(groups.values())


def per_example_loss(loss_fn: nn.Module, target: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor | None:
    """``loss_fn``'s value for each example, ``[batch]``, such that ``loss_fn(target, estimate)``
    is its mean; ``None`` for a loss that is not such a mean (it is then called member by member).

    The paper's losses are: SOT and MSS average per-example distances (``reduction="mean"``), and
    a :class:`~sot_utils.losses.WeightedLossSum` of such losses is the mean of the weighted sums.
    """
    if isinstance(loss_fn, WeightedLossSum):
        parts = [per_example_loss(term, target, estimate) for term in loss_fn.terms.values()]
        if any(part is None for part in parts):
            return None
        return sum(loss_fn.weights[name] * part for name, part in zip(loss_fn.terms, parts))
    if hasattr(loss_fn, "per_example") and getattr(loss_fn, "reduction", None) == "mean":
        check_audio_pair(target, estimate)  # what the module's forward checks first
        return loss_fn.per_example(target, estimate)
    return None


def member_losses(
    loss_fns: Sequence[nn.Module], groups: Sequence[Sequence[int]], target: torch.Tensor, estimate: torch.Tensor
) -> torch.Tensor:
    """Each member's loss, ``[E]``: member k's is ``loss_fns[k](target_k, estimate[k])``.

    Args:
        loss_fns: one loss module per member.
        groups: the members that share a module (:func:`loss_groups`); each group's examples go
            through its loss in one call (on a GPU, one call instead of one per member: the loss
            launches as many kernels for 5 members' batches as for one), then are averaged per member.
        target: audio ``[batch, n_samples]`` (shared) or ``[E, batch, n_samples]``.
        estimate: audio ``[E, batch, n_samples]``.
    """
    losses: list[torch.Tensor | None] = [None] * len(loss_fns)
    for members in groups:
        loss_fn = loss_fns[members[0]]
        targets = target[members] if target.ndim == 3 else target.expand(len(members), *target.shape)
        per_example = None
        if len(members) > 1:
            per_example = per_example_loss(loss_fn, targets.flatten(0, 1), estimate[members].flatten(0, 1))
        if per_example is None:
            for k in members:
                losses[k] = loss_fn(target[k] if target.ndim == 3 else target, estimate[k])
        else:
            for k, value in zip(members, per_example.reshape(len(members), -1).mean(dim=1)):
                losses[k] = value
    return torch.stack(losses)


def ensemble_train_step(
    ensemble: EnsembleAutoencoder,
    loss_fns: Sequence[nn.Module],
    optimizer: torch.optim.Optimizer,
    audio: torch.Tensor,
    cqt: torch.Tensor,
    micro_batch_size: int,
) -> list[float]:
    """One optimiser step of every member; returns each member's batch loss.

    The ensemble counterpart of :func:`sot_utils.training.train.train_step`: ``audio`` (targets, ``[batch,
    n_samples]`` shared or ``[E, batch, n_samples]``) and ``cqt`` (``[batch, n_frames, n_bins]`` or
    ``[E, batch, n_frames, n_bins]``) go through in micro-batches of ``micro_batch_size`` examples,
    each member's loss weighted by the micro-batch's share of the batch.
    """
    if len(loss_fns) != ensemble.n_members:
        raise ValueError(f"`loss_fns` must hold one loss per member ({ensemble.n_members}), got {len(loss_fns)}")
    groups = loss_groups(loss_fns)

    def batch_losses(target: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        estimate, _ = ensemble(features)
        return member_losses(loss_fns, groups, target, estimate)

    member_dim = int(audio.ndim == 3)
    return micro_batched_step(optimizer, audio, cqt, micro_batch_size, batch_losses, member_dim).tolist()


def _loss_key(config: TrainConfig) -> str:
    """What :func:`sot_utils.training.train.build_loss` reads of a config: equal keys, equal losses."""
    return json.dumps(config.loss.terms, sort_keys=True)


def _check_members(configs: Sequence[TrainConfig]) -> None:
    if not configs:
        raise ValueError("`configs` needs at least one run")
    for key in SHARED_KEYS:
        values = {str(getattr(c, key)) for c in configs}
        if len(values) > 1:
            raise ValueError(f"the members of an ensemble must share `{key}`; got {sorted(values)}")
    for c in configs:
        if c.model.oracle_amplitudes:
            raise ValueError(
                f"{c.group} seed {c.seed}: the ensemble does not play oracle amplitudes; train runs with "
                "`model.oracle_amplitudes: true` with python -m sot_utils.training.train or .sweep"
            )
        if c.model.fundamental_floor:
            raise ValueError(
                f"{c.group} seed {c.seed}: the ensemble does not floor the fundamental; train runs with "
                "`model.fundamental_floor` > 0 with python -m sot_utils.training.train or .sweep"
            )
        if c.loss.harmonic_prior_weight:
            raise ValueError(
                f"{c.group} seed {c.seed}: the ensemble does not add the harmonic prior; train runs with "
                "`loss.harmonic_prior_weight` > 0 with python -m sot_utils.training.train or .sweep"
            )
    out_dirs = [str(Path(c.out_dir).resolve()) for c in configs]
    if len(set(out_dirs)) != len(out_dirs):
        raise ValueError("every member needs its own `out_dir`; two configs share one")


def _member_optimizer_state(
    optimizer: torch.optim.Optimizer, member_model: nn.Module, member: int, config: TrainConfig
) -> dict:
    """Member ``member``'s slice of the ensemble's Adam state, as a lone run's ``optimizer.state_dict()``."""
    lone = torch.optim.Adam(member_model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    stacked = optimizer.state_dict()
    state = {
        i: {key: (value.clone() if key == "step" else value[member].clone()) for key, value in entry.items()}
        for i, entry in stacked["state"].items()
    }
    return {"state": state, "param_groups": lone.state_dict()["param_groups"]}


def _stacked_optimizer_state(optimizer: torch.optim.Optimizer, member_states: Sequence[dict]) -> dict:
    """The ensemble's Adam state from the members' saved ``optimizer.state_dict()`` (all at one step)."""
    state = {}
    for i in member_states[0]["state"]:
        entries = [s["state"][i] for s in member_states]
        state[i] = {
            key: (entries[0][key].clone() if key == "step" else torch.stack([e[key] for e in entries]))
            for key in entries[0]
        }
    return {"state": state, "param_groups": optimizer.state_dict()["param_groups"]}


def train_ensemble(
    configs: Sequence[TrainConfig],
    progress: bool = True,
    time_limit_s: float | None = None,
    trunk_dtype: torch.dtype | None = None,
) -> list[Path]:
    """Train (or resume) the runs ``configs`` together as one ensemble; return their output folders.

    ``time_limit_s`` (seconds, None: no limit) ends training early at the first step that ends
    after it: that step is validated and checkpointed as a last step is (as if the configs asked
    for that many steps), so that calling again resumes from it. It fits a long protocol into
    sessions of bounded length, each writing its checkpoints before its time is up.

    ``trunk_dtype`` (one of :data:`TRUNK_DTYPES`; None: float32, the paper's precision) runs the
    encoder's convolutions at reduced precision (see :class:`EnsembleAutoencoder`), in training
    and validation; the weights, optimiser state and checkpoints stay float32. A checkpoint
    written so records it under ``trunk_dtype`` (absent: float32). Precision may change between
    sessions of one run.

    Every member writes what :func:`sot_utils.training.train.train` writes (``last.pt``, ``best.pt``,
    ``best-upto-<step>.pt``, ``log.csv``, ``config.yaml``), in the same format. The members must
    share the keys in :data:`SHARED_KEYS` and stand at the same step (all new, or all resumed
    from checkpoints of one step); members that differ in ``shuffle`` or seed with shuffling get
    their own batches.
    """
    check_bool("progress", progress)
    call_start = time.perf_counter()  # the limit counts loading and set-up too
    _check_members(configs)
    _checked_trunk_dtype(trunk_dtype)  # before the data and checkpoints are loaded
    if time_limit_s is not None and not (isinstance(time_limit_s, (int, float)) and time_limit_s >= 0):
        raise ValueError(f"`time_limit_s` must be a number of seconds >= 0 or None, got {time_limit_s!r}")
    device = check_device(configs[0].device)
    folders = [RunFolder(config.out_dir) for config in configs]
    created = []
    try:
        with contextlib.ExitStack() as locks:
            for folder in folders:
                if folder.create():
                    created.append(folder)
                locks.enter_context(RunLock(folder.path))
            return _train_ensemble_locked(configs, folders, device, progress, call_start, time_limit_s, trunk_dtype)
    except BaseException:
        for folder in created:
            folder.remove_if_empty()
        raise


def _train_ensemble_locked(configs, folders, device, progress, call_start, time_limit_s, trunk_dtype) -> list[Path]:
    config0 = configs[0]
    train_audio, train_cqt, _ = cached_features(config0.data, "train", progress)
    val_audio, val_cqt, val_labels = cached_features(config0.data, "val", progress)

    models, rng_states, starts, best_lsds, optimizer_states = [], [], [], [], []
    for config, folder in zip(configs, folders):
        torch.manual_seed(config.seed)  # as a lone run: the seed fixes the initial weights, then dropout
        model = config.model.build()
        rng, step, best, opt_state = rng_state(device), 0, float("inf"), None
        checkpoint = folder.resume(config)
        if checkpoint is not None:
            model.load_state_dict(checkpoint["model"])
            rng, step, best, opt_state = (
                checkpoint["rng"],
                checkpoint["step"],
                checkpoint["best_lsd"],
                checkpoint["optimizer"],
            )
        models.append(model)
        rng_states.append(rng)
        starts.append(step)
        best_lsds.append(best)
        optimizer_states.append(opt_state)
    if len(set(starts)) > 1:
        listing = ", ".join(f"{c.group} seed {c.seed}: {s}" for c, s in zip(configs, starts))
        raise ValueError(
            f"the members stand at different steps ({listing}); train them to a common step first "
            "(python -m sot_utils.training.train --steps N) or run them separately"
        )
    start = starts[0]
    out_dirs = [folder.path for folder in folders]
    if start >= config0.steps:
        return out_dirs

    generators = []
    for rng in rng_states:
        generator = torch.Generator(device=device)
        generator.set_state(rng["cuda"] if device.type == "cuda" else rng["cpu"])
        generators.append(generator)
    ensemble = EnsembleAutoencoder(models, generators, trunk_dtype=trunk_dtype).to(device)
    optimizer = torch.optim.Adam(ensemble.parameters(), lr=config0.learning_rate, weight_decay=config0.weight_decay)
    if start > 0:
        optimizer.load_state_dict(_stacked_optimizer_state(optimizer, optimizer_states))
    shared_losses: dict[tuple, nn.Module] = {}  # members with one loss share its module: one call for them all
    for config in configs:
        if _loss_key(config) not in shared_losses:
            shared_losses[_loss_key(config)] = build_loss(config).to(device)
    loss_fns = [shared_losses[_loss_key(c)] for c in configs]
    for config, folder in zip(configs, folders):
        folder.start(config, start)

    train_audio, train_cqt = train_audio.to(device), train_cqt.to(device)
    ensemble.train()
    micro_batch = config0.micro_batch_size or (CPU_MICRO_BATCH if device.type == "cpu" else config0.batch_size)
    n_train = len(train_audio)
    per_epoch = -(-n_train // config0.batch_size)
    running, count, start_time = torch.zeros(len(configs), dtype=torch.float64), 0, time.perf_counter()
    precision = None if trunk_dtype is None else str(trunk_dtype).removeprefix("torch.")
    bar = tqdm(
        initial=start,
        total=config0.steps,
        disable=not progress,
        desc=f"ensemble of {len(configs)}" + ("" if precision is None else f", {precision} trunk"),
    )
    for step in range(start, config0.steps):
        indices = [batch_indices(step, n_train, c.batch_size, c.shuffle, c.seed) for c in configs]
        if all(torch.equal(indices[0], idx) for idx in indices[1:]):  # the paper's protocol: one batch for all
            idx = indices[0].to(device)
            audio, cqt = train_audio[idx], train_cqt[idx]
        else:
            idx = torch.stack(indices).to(device)
            audio, cqt = train_audio[idx], train_cqt[idx]
        try:
            losses = ensemble_train_step(ensemble, loss_fns, optimizer, audio, cqt, micro_batch)
        except FloatingPointError as error:
            raise FloatingPointError(f"step {step}: {error}") from None
        running += torch.tensor(losses, dtype=torch.float64)
        count += 1
        done = step + 1
        bar.update()
        out_of_time = time_limit_s is not None and time.perf_counter() - call_start >= time_limit_s
        if done % config0.validate_every == 0 or done == config0.steps or out_of_time:
            elapsed = round(time.perf_counter() - start_time, 2)
            all_metrics = evaluate_ensemble(ensemble, val_audio, val_cqt, val_labels["f0_hz"], config0.batch_size)
            for k, (config, folder, metrics) in enumerate(zip(configs, folders, all_metrics)):
                member = config.model.build()
                member.load_state_dict(ensemble.member_state_dict(k))
                rng = dict(rng_states[k])
                rng["cuda" if device.type == "cuda" else "cpu"] = generators[k].get_state()
                resume = {"optimizer": on_cpu(_member_optimizer_state(optimizer, member, k, config)), "rng": rng}
                if precision is not None:
                    resume["trunk_dtype"] = precision
                best_lsds[k] = folder.record(
                    config,
                    done,
                    epoch=round(done / per_epoch, 3),
                    train_loss=float(running[k]) / count,
                    metrics=metrics,
                    elapsed_s=elapsed,
                    device=device.type,
                    weights=on_cpu(member.state_dict()),
                    resume_state=resume,
                    best_lsd=best_lsds[k],
                )
            bar.set_postfix(loss=f"{float(running.mean()) / count:.4g}")
            running, count = torch.zeros(len(configs), dtype=torch.float64), 0
        if out_of_time:
            break
    bar.close()
    return out_dirs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sot_utils.training.ensemble",
        description="Train many runs of the paper's autoencoder together, as one batched ensemble.",
    )
    add_run_selection(parser, "42 123 456 789 101112")
    parser.add_argument(
        "--members",
        type=int,
        help="runs per ensemble (default: all); more runs than this train as "
        "consecutive ensembles, in the order given, to bound memory",
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        metavar="MINUTES",
        help="stop after this many minutes (all ensembles together), validating and checkpointing "
        "the step reached; the same command then resumes. Leave a margin for that last "
        "validation and the checkpoints",
    )
    parser.add_argument(
        "--trunk-dtype",
        choices=("float32", "bfloat16"),
        default="float32",
        help="precision of the encoder's convolutions (default float32, the paper's). bfloat16 runs "
        "them under autocast, the rest stays float32: 1.36x faster per step on an H100, losses "
        "within about 1.4%% (benchmarks, ensemble section). Not the paper's precision",
    )
    args = parser.parse_args(argv)
    if args.members is not None and args.members < 1:
        parser.error(f"--members must be >= 1, got {args.members}")
    if args.time_limit is not None and not args.time_limit > 0:
        parser.error(f"--time-limit must be > 0 minutes, got {args.time_limit}")
    deadline = None if args.time_limit is None else time.perf_counter() + 60 * args.time_limit
    try:
        configs = [
            resolve_config(group, seed, remedy=args.remedy, overlays=args.config, steps=args.steps, device=args.device)
            for group in args.groups
            for seed in args.seeds
        ]
        check_device(configs[0].device)
    except (OSError, ValueError) as error:
        parser.error(str(error))
    size = args.members or len(configs)
    if torch.device(configs[0].device).type == "cpu" and len(configs) > 1:
        # measured on one thread: 0.94x for one run down to 0.65x for 7 (benchmarks, ensemble section)
        print(
            "note: on a CPU an ensemble is slower than separate runs; python -m sot_utils.training.sweep trains them "
            "as separate processes",
            flush=True,
        )
    for first in range(0, len(configs), size):
        chunk = configs[first : first + size]
        remaining = None if deadline is None else deadline - time.perf_counter()
        if remaining is not None and remaining <= 0:
            print(f"time limit reached; not started: {', '.join(c.out_dir for c in configs[first:])}", flush=True)
            break
        try:
            out_dirs = train_ensemble(
                chunk, time_limit_s=remaining, trunk_dtype=None if args.trunk_dtype == "float32" else torch.bfloat16
            )
        except (OSError, ValueError, RuntimeError) as error:
            sys.exit(f"error: {error}")
        step = load_checkpoint(out_dirs[0] / "last.pt", kind="last")["step"]
        status = "trained to step" if step >= chunk[0].steps else f"time limit: stopped at step {step} of"
        print(f"{status} {chunk[0].steps}: {', '.join(c.out_dir for c in chunk)}", flush=True)


if __name__ == "__main__":
    main()
