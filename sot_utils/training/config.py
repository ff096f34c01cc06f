"""A run's configuration: composed from the shipped config files, checked strictly, saved resolved.

A run is named by its group and seed (and optionally a remedy); its settings come from, in order:

1. ``sot_utils/configs/base.yaml`` — what every run shares (optimiser, budget, architecture);
2. ``sot_utils/configs/groups/<group>.yaml`` — the group's loss;
3. ``sot_utils/configs/remedies/<remedy>/<group>.yaml`` — a remedy's changes (notebook 09);
4. overlay files given by the user (``--config my.yaml``), later files winning;
5. explicit overrides (``--steps``, ``--device``, ``--out-dir``).

Mappings merge key by key (a nested ``model`` or ``loss`` entry changes only the keys it names);
the result is checked against the schema below, with strict types: a boolean must be a YAML
boolean (``"false"`` in quotes is refused, not read as true), a number a number, an unknown key is
an error. The *resolved* configuration — every option spelled out, loss terms included — is what a
run saves in ``config.yaml`` and in every checkpoint. Checkpoints written before this schema (a
flat mapping with ``sot_root``, ``reference_logf``, ``sot_pad_end``, ``roll_off``) are read by
:func:`upgrade_config`.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from pathlib import Path

from .. import configs
from ..autoencoder import HarmonicAutoencoder
from ..constants import CPU_BUDGET_STEPS
from ..encoder import F0_HEAD_INITS
from ..losses import resolve_loss_terms
from ..validation import check_choice, check_int, check_positive_number, check_unit_interval, quote

__all__ = [
    "LossConfig",
    "ModelConfig",
    "TrainConfig",
    "config_differences",
    "default_out_dir",
    "resolve_config",
    "upgrade_config",
    "RESUME_MAY_CHANGE",
]

RESUME_MAY_CHANGE = ("steps", "device", "out_dir", "micro_batch_size", "remedy")
"""Keys a resumed run may change: the budget, where it runs and writes, how a batch is split
(micro-batches sum to the same gradient), and the remedy's name (a label: every setting a remedy
changes is compared on its own). Anything else changes the experiment: refused unless
``allow_config_change``."""


@dataclasses.dataclass
class ModelConfig:
    """The autoencoder's architecture (:class:`sot_utils.encoder.PitchEncoder` + synth).

    Attributes:
        n_harmonics: harmonics of the decoder (the paper: 20; the data has at most 8).
        channels: ``(prefilter, 1x1 hidden..., output)`` channels of the encoder's trunk.
        kernel_size: width of the prefilter convolutions, in CQT bins (odd).
        n_residual_prefilters: residual prefilter convolutions after the first.
        leaky_slope: negative slope of the LeakyReLUs.
        dropout: dropout probability before the last 1x1 convolution.
        temperature: soft-argmax temperature of the f0 decoding.
        f0_head_init: ``"random"`` (the paper) or ``"zero"`` (every seed starts at 503 Hz).
        fundamental_floor: the rendered fundamental stays at least this fraction of the strongest
            harmonic amplitude (0: off, the paper; in ``[0, 1]``).
        roll_off: filter the synth output at -6 dB/octave above 500 Hz (an early MSS-LogLin decoder).
    """

    n_harmonics: int = 20
    channels: list[int] = dataclasses.field(default_factory=lambda: [40, 30, 30, 10, 3])
    kernel_size: int = 15
    n_residual_prefilters: int = 1
    leaky_slope: float = 0.3
    dropout: float = 0.5
    temperature: float = 0.1
    f0_head_init: str = "random"
    fundamental_floor: float = 0.0
    roll_off: bool = False

    def __post_init__(self):
        check_int("model.n_harmonics", self.n_harmonics, minimum=1)
        if not self.channels or len(self.channels) < 2:
            raise ValueError(f"`model.channels` needs at least 2 entries, got {quote(self.channels)}")
        for c in self.channels:
            check_int("model.channels", c, minimum=1)
        check_int("model.kernel_size", self.kernel_size, minimum=1)
        if self.kernel_size % 2 == 0:
            raise ValueError(f"`model.kernel_size` must be odd, got {self.kernel_size}")
        check_int("model.n_residual_prefilters", self.n_residual_prefilters, minimum=0)
        check_positive_number("model.leaky_slope", self.leaky_slope)
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"`model.dropout` must be in [0, 1), got {quote(self.dropout)}")
        check_positive_number("model.temperature", self.temperature)
        check_choice("model.f0_head_init", self.f0_head_init, F0_HEAD_INITS)
        check_unit_interval("model.fundamental_floor", self.fundamental_floor)

    def build(self) -> HarmonicAutoencoder:
        """The autoencoder this config describes, initialised from the global RNG (seed it first).
        The one place a run's model is constructed (training, ensembles, loading checkpoints)."""
        return HarmonicAutoencoder(
            roll_off=self.roll_off,
            n_harmonics=self.n_harmonics,
            channels=tuple(self.channels),
            kernel_size=self.kernel_size,
            n_residual_prefilters=self.n_residual_prefilters,
            leaky_slope=self.leaky_slope,
            dropout=self.dropout,
            temperature=self.temperature,
            f0_head_init=self.f0_head_init,
            fundamental_floor=self.fundamental_floor,
        )


@dataclasses.dataclass
class LossConfig:
    """The training objective.

    Attributes:
        terms: ``{name: {"type": "spectral_ot" | "multi_scale_spectral", "weight": w, **options}}``,
            summed with their weights (:func:`sot_utils.losses.build_loss`); resolved, every
            option is spelled out.
        harmonic_prior_weight: weight of :func:`sot_utils.losses.harmonic_index_prior` added to
            the loss (0: off, the paper).
        harmonic_prior_decay_steps: the prior's weight falls linearly to 0 over this many steps
            (0: constant).
    """

    terms: dict = dataclasses.field(default_factory=dict)
    harmonic_prior_weight: float = 0.0
    harmonic_prior_decay_steps: int = 0

    def __post_init__(self):
        self.terms = resolve_loss_terms(self.terms)
        if not 0 <= self.harmonic_prior_weight < float("inf"):  # inf would pass here and fail at step 0
            raise ValueError(
                f"`loss.harmonic_prior_weight` must be a finite number >= 0, got {quote(self.harmonic_prior_weight)}"
            )
        check_int("loss.harmonic_prior_decay_steps", self.harmonic_prior_decay_steps, minimum=0)


@dataclasses.dataclass
class TrainConfig:
    """Every setting of a run, resolved (see the module docstring for where each comes from).

    Attributes:
        group: experiment group, one with a file in ``sot_utils/configs/groups/``.
        seed: seeds the initial weights, dropout and (if enabled) the shuffling.
        steps: optimisation steps (the shipped budget: 9,900; the paper: 22,000).
        remedy: the remedy applied (``sot_utils/configs/remedies/``), or None.
        batch_size: examples per step (64).
        learning_rate: Adam's learning rate (1e-4).
        weight_decay: L2 penalty added to the gradient, as ``torch.optim.Adam`` (1e-4).
        validate_every: steps between validations and checkpoints (220).
        keep_best_every: every this many steps (a multiple of ``validate_every``), keep the best
            checkpoint so far as ``best-upto-<step>.pt`` (0: off).
        shuffle: reshuffle the training set every epoch (the reference does not).
        micro_batch_size: examples per forward/backward pass; a step sums the micro-batches'
            gradients, the full-batch gradient up to rounding (None: 16 on a CPU, 1.2x faster per
            step, the whole batch on a GPU).
        data: dataset file (``python -m sot_utils.training.data``).
        out_dir: where checkpoints and logs go.
        device: ``"cpu"`` or ``"cuda"`` (``"cuda:1"``...).
        model: :class:`ModelConfig`.
        loss: :class:`LossConfig`.
    """

    group: str
    seed: int
    steps: int = CPU_BUDGET_STEPS
    remedy: str | None = None
    batch_size: int = 64
    learning_rate: float = 1e-4
    weight_decay: float = 1e-4
    validate_every: int = 220
    keep_best_every: int = 0
    shuffle: bool = False
    micro_batch_size: int | None = None
    data: str = "data/harmonic_sr16000_n4000_seed0.pt"
    out_dir: str = "checkpoints/run"
    device: str = "cpu"
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)

    def __post_init__(self):
        if isinstance(self.model, dict):
            self.model = _build(ModelConfig, self.model, "model", "model.")
        if isinstance(self.loss, dict):
            self.loss = _build(LossConfig, self.loss, "loss", "loss.")
        check_choice("group", self.group, configs.group_names())
        if self.remedy is not None:
            check_choice("remedy", self.remedy, configs.remedy_names())
        check_int("seed", self.seed, minimum=0)
        if self.seed >= 2**63:
            raise ValueError(f"`seed` must be < 2**63 (torch.manual_seed's range), got {self.seed}")
        for name in ("steps", "batch_size", "validate_every"):
            check_int(name, getattr(self, name), minimum=1)
        check_int("keep_best_every", self.keep_best_every, minimum=0)
        if self.micro_batch_size is not None:
            check_int("micro_batch_size", self.micro_batch_size, minimum=1)
        if self.keep_best_every % self.validate_every:
            raise ValueError(
                f"`keep_best_every` ({self.keep_best_every}) must be a multiple of "
                f"`validate_every` ({self.validate_every})"
            )
        check_positive_number("learning_rate", self.learning_rate)
        if not 0 <= self.weight_decay < float("inf"):
            raise ValueError(f"`weight_decay` must be a finite number >= 0, got {quote(self.weight_decay)}")
        device_type, _, index = self.device.partition(":")
        check_choice("device", device_type, ("cpu", "cuda"))
        if index and not index.isdigit():
            raise ValueError(f"`device` must be 'cpu', 'cuda' or 'cuda:<index>', got {quote(self.device)}")

    @classmethod
    def from_dict(cls, values: dict, where: str = "config") -> TrainConfig:
        """A config from a mapping, with strict types; unknown keys are an error."""
        return _build(cls, values, where)

    def to_dict(self) -> dict:
        """The resolved config as plain data (what ``config.yaml`` and checkpoints hold)."""
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------------------------
# Strict parsing


def _check_type(name: str, value, annotation):
    """``value`` if it has the declared type (``bool`` is not an ``int``; ``int`` is a ``float``)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _check_type(name, value, inner)
    if annotation is bool:
        if not isinstance(value, bool):
            raise ValueError(f"`{name}` must be true or false (a YAML boolean, unquoted), got {quote(value)}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"`{name}` must be an integer, got {quote(value)}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"`{name}` must be a number, got {quote(value)}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ValueError(f"`{name}` must be a string, got {quote(value)}")
        return value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"`{name}` must be a list, got {quote(value)}")
        return [_check_type(f"{name}[{i}]", v, args[0]) for i, v in enumerate(value)]
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            raise ValueError(f"`{name}` must be a mapping, got {quote(value)}")
        return value
    if dataclasses.is_dataclass(annotation):
        if isinstance(value, annotation):
            return value
        return _build(annotation, value, name, prefix=f"{name}.")
    raise TypeError(f"no check for {annotation!r}")


def _build(cls, values, where: str, prefix: str = ""):
    """``cls(**values)`` after checking every value's type (nested names get ``prefix``)."""
    if not isinstance(values, dict):
        raise ValueError(f"`{where}` must be a mapping of settings, got {type(values).__name__}: {quote(values)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - fields, key=str)
    if unknown:
        raise ValueError(f"{where}: unknown keys {quote(unknown)}; known keys are {sorted(fields)}")
    checked = {key: _check_type(prefix + key, value, hints[key]) for key, value in values.items()}
    return cls(**checked)


# --------------------------------------------------------------------------------------------
# Composition


def _merge(base: dict, change: dict) -> dict:
    """``base`` updated by ``change``, mapping by mapping (``loss.terms`` merged term by term)."""
    merged = dict(base)
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_overlay(path: str | Path) -> dict:
    path = Path(path)
    try:
        if path.is_file() and path.stat().st_size > configs.MAX_CONFIG_BYTES:
            raise ValueError(
                f"{path} is {path.stat().st_size:,} bytes; a config file may hold at most {configs.MAX_CONFIG_BYTES:,}"
            )
        if path.exists() and not path.is_file():
            raise ValueError(f"cannot read config {path}: not a regular file")
        text = path.read_text()
    except OSError as error:
        raise ValueError(f"cannot read config {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a text file (not UTF-8): a config file must be YAML") from None
    values = configs.load_yaml(text, str(path))
    if values is None:
        raise ValueError(f"{path} is empty: a config file must hold a mapping of settings")
    if not isinstance(values, dict):
        raise ValueError(f"{path} must hold a mapping of settings, got a {type(values).__name__}")
    for key in ("group", "seed", "remedy"):
        if key in values:
            raise ValueError(f"{path}: `{key}` is set on the command line (--{key}), not in an overlay")
    return values


def default_out_dir(group: str, seed: int, remedy: str | None = None) -> str:
    """``checkpoints/<group>/<seed>``, or ``checkpoints/remedies/<remedy>/<group>/<seed>``."""
    return f"checkpoints/{group}/{seed}" if remedy is None else f"checkpoints/remedies/{remedy}/{group}/{seed}"


def resolve_config(group: str, seed: int, *, remedy: str | None = None, overlays=(), **overrides) -> TrainConfig:
    """The resolved config of a run (see the module docstring for the order of the sources).

    Args:
        group: experiment group (a file in ``sot_utils/configs/groups/``).
        seed: the run's seed.
        remedy: a remedy folder in ``sot_utils/configs/remedies/`` (it must have a file for the group).
        overlays: paths of YAML files merged on top, in order.
        overrides: top-level keys (``steps``, ``device``, ``out_dir``, ...); ``None`` values are ignored.
    """
    check_choice("group", group, configs.group_names())
    values = _merge(configs.read_config("base"), configs.read_config("groups", group))
    if remedy is not None:
        check_choice("remedy", remedy, configs.remedy_names())
        try:
            values = _merge(values, configs.read_config("remedies", remedy, group))
        except FileNotFoundError:
            raise ValueError(
                f"remedy {remedy!r} has no settings for group {group!r} "
                f"(sot_utils/configs/remedies/{remedy}/{group}.yaml)"
            ) from None
    read = [(path, _read_overlay(path)) for path in overlays]
    for _, overlay in read:
        values = _merge(values, overlay)
    values = _merge(values, {k: v for k, v in overrides.items() if v is not None})
    values.update(group=group, seed=seed, remedy=remedy)
    values.setdefault("out_dir", default_out_dir(group, seed, remedy) if isinstance(seed, int) else "checkpoints/run")
    try:
        return TrainConfig.from_dict(values)
    except ValueError as error:
        source = _overlay_setting(str(error), read)
        if source is None:
            raise
        raise ValueError(f"{source}: {error}") from None


def _overlay_setting(message: str, overlays: list[tuple]) -> str | None:
    """The last overlay file that sets a key named in ``message`` (`` `model.dropout` `` or
    ``unknown keys ['x']``), or None: so that an error names the file the bad value came from."""
    names = re.findall(r"`([A-Za-z_][\w.]*)(?:\[\d+\])?`", message)
    names += re.findall(r"'([^']+)'", message.partition("unknown keys")[2].partition("]")[0])
    for path, overlay in reversed(overlays):
        for name in names:
            node = overlay
            for part in name.split("."):
                node = node.get(part, _MISSING) if isinstance(node, dict) else _MISSING
            if node is not _MISSING:
                return str(path)
            if "unknown keys" in message and _has_key(overlay, name):
                return str(path)
    return None


_MISSING = object()


def _has_key(mapping, name: str) -> bool:
    """Whether ``name`` is a key anywhere in the nested ``mapping``."""
    if not isinstance(mapping, dict):
        return False
    return name in map(str, mapping) or any(_has_key(value, name) for value in mapping.values())


# --------------------------------------------------------------------------------------------
# Checkpoints of earlier versions; resuming


_FLAT_KEYS = (
    "sot_root",
    "reference_logf",
    "sot_pad_end",
    "roll_off",
    "n_harmonics",
    "f0_head_init",
    "harmonic_prior_weight",
    "harmonic_prior_decay_steps",
)


def upgrade_config(values: dict) -> TrainConfig:
    """A :class:`TrainConfig` from a stored config: the current schema, or the flat one that
    checkpoints written before it hold (``group``, ``seed``, ..., ``sot_root``, ``reference_logf``,
    ``sot_pad_end``, ``roll_off``). A flat SOT-2048 run with ``sot_pad_end: false`` is the
    ``SOT-2048-complete-frames`` extension group."""
    if not isinstance(values, dict):
        raise ValueError(f"a stored config must be a mapping, got {type(values).__name__}: {quote(values)}")
    if "model" in values or "loss" in values:
        return TrainConfig.from_dict(values)
    flat = dict(values)
    for key in ("group", "seed"):
        if key not in flat:
            raise ValueError(f"the stored config has no `{key}` (keys: {sorted(flat)})")
    group = flat.pop("group")
    check_choice("group", group, configs.group_names())  # a stored group this version does not know
    switches = {key: flat.pop(key) for key in _FLAT_KEYS if key in flat}
    if group == "SOT-2048" and switches.get("sot_pad_end") is False:
        group, switches["sot_pad_end"] = "SOT-2048-complete-frames", True
    base = _merge(configs.read_config("base"), configs.read_config("groups", group))
    for key in ("model", "loss"):
        base.pop(key, None)
    model = configs.read_config("base")["model"] | {
        k: switches[k] for k in ("roll_off", "n_harmonics", "f0_head_init") if k in switches
    }
    terms = resolve_loss_terms(configs.read_config("groups", group)["loss"]["terms"])
    for term in terms.values():
        if term["type"] == "spectral_ot":
            term["root"] = switches.get("sot_root", False)
            term["pad_end"] = switches.get("sot_pad_end", True) and term["pad_end"]
            if switches.get("reference_logf", False):
                term["frequency_scale"] = "linear"
    loss = {
        "terms": terms,
        **{k: switches[k] for k in ("harmonic_prior_weight", "harmonic_prior_decay_steps") if k in switches},
    }
    return TrainConfig.from_dict(base | flat | {"group": group, "model": model, "loss": loss})


def config_differences(stored: dict, current: dict, ignore=RESUME_MAY_CHANGE) -> list[str]:
    """``key: stored -> current`` for every setting (nested keys dotted) that differs, but ``ignore``."""
    differences = []

    def walk(a, b, prefix):
        for key in sorted(set(a) | set(b)):
            name = f"{prefix}{key}"
            if name in ignore:
                continue
            va, vb = a.get(key, "<missing>"), b.get(key, "<missing>")
            if isinstance(va, dict) and isinstance(vb, dict):
                walk(va, vb, name + ".")
            elif va != vb:
                differences.append(f"{name}: {quote(va)} -> {quote(vb)}")

    walk(stored, current, "")
    return differences
