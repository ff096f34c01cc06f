"""A run's configuration: composed from the shipped config files, checked strictly, saved resolved.

A run is named by its group and seed (and optionally a remedy); its settings come from, in order:

1. ``sot_utils/configs/base.yaml`` — what every run shares (optimiser, budget, architecture);
2. ``sot_utils/configs/groups/<group>.yaml`` — the group's loss;
3. ``sot_utils/configs/remedies/<remedy>/<group>.yaml`` — a remedy's changes (notebook 09);
4. overlay files given by the user (``--config my.yaml``), later files winning;
5. explicit overrides (``--steps``, ``--device``, ``--out-dir``).

``base.yaml`` is the one place a default is written: the schema below takes every field's default
from it (a :class:`TrainConfig` built directly gets the same values as a composed one), and so do
the constructors of :class:`sot_utils.encoder.PitchEncoder` and
:class:`sot_utils.autoencoder.HarmonicAutoencoder` and :data:`sot_utils.constants.CPU_BUDGET_STEPS`.

Mappings merge key by key (a nested ``model`` or ``loss`` entry changes only the keys it names);
the result is checked against the schema below (pydantic dataclasses in strict mode), with strict
types: a boolean must be a YAML boolean (``"false"`` in quotes is refused, not read as true), an
integer an integer (not a boolean), a number a number (an integer is accepted where a float is
declared, as YAML writes ``1``), an unknown key is an error named by its key path. The *resolved*
configuration — every option spelled out, loss terms included — is what a run saves in
``config.yaml`` and in every checkpoint. Checkpoints written before this schema (a flat mapping with
``sot_root``, ``reference_logf``, ``sot_pad_end``, ``roll_off``) are read by :func:`upgrade_config`.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, ConfigDict, ValidationError, model_validator
from pydantic.dataclasses import dataclass
from pydantic_core import ArgsKwargs

from .. import configs
from ..autoencoder import HarmonicAutoencoder
from ..encoder import F0_HEAD_INITS
from ..validation import check_choice, check_int, check_positive_number, check_unit_interval, quote
from .loss_config import resolve_loss_terms

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

# --------------------------------------------------------------------------------------------
# The schema's building blocks

_SCHEMA = ConfigDict(strict=True, extra="forbid", validate_default=True)
"""Strict types (no ``"false"`` for a boolean, no ``True`` for an integer), unknown keys refused,
the defaults read from base.yaml checked like any other value."""

_BASE = configs.read_config("base")
"""``sot_utils/configs/base.yaml``, read once: the defaults of every field below."""


def _default(*path: str):
    """A dataclass field whose default is the value at ``path`` in base.yaml (a list or mapping is
    copied for every instance)."""
    value = _BASE
    for key in path:
        if not isinstance(value, dict) or key not in value:
            raise KeyError(f"sot_utils/configs/base.yaml has no `{'.'.join(path)}` (every default is written there)")
        value = value[key]
    if isinstance(value, (list, dict)):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(value))
    return dataclasses.field(default=value)


def _int_as_float(value):
    """An integer (not a boolean) as a float, as YAML writes ``1`` for 1.0. Pydantic 2's strict mode
    converts an int for a float too (in Python input, not in JSON); this says so here, whatever the
    version, and the tests check it."""
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _tuple_as_list(value):
    """A tuple as a list (a Python caller may write ``channels=(40, 30, 3)``; YAML writes lists)."""
    return list(value) if isinstance(value, tuple) else value


_Number = Annotated[float, BeforeValidator(_int_as_float)]
"""A float setting: a float or an int (converted), never a bool or a string."""

_IntList = Annotated[list[int], BeforeValidator(_tuple_as_list)]
"""A list of integers (a tuple is accepted and stored as a list)."""


def _section(cls):
    """A nested section (``model``, ``loss``): an instance of ``cls``, or a mapping of its settings
    (strict mode alone accepts only an instance). The section's errors keep their key path."""

    def build(value, info):
        if not isinstance(value, dict):
            return value  # an instance passes; anything else is refused as "must be a mapping"
        unknown = _unknown_keys(cls, value, info.field_name)
        if unknown:
            raise ValueError(unknown)
        return cls(**value)

    return BeforeValidator(build)


def _unknown_keys(cls, values: dict, section: str = "") -> str | None:
    """``unknown keys ['model.x']; known keys in model are [...]`` for the keys of ``values`` that
    are not fields of ``cls`` (at ``section``), or None. Checked before pydantic sees the keys, so
    that no key can clash with a keyword of the constructor."""
    names = {field.name for field in dataclasses.fields(cls)}
    unknown = [key for key in values if not isinstance(key, str) or key not in names]
    if not unknown:
        return None
    paths = [f"{section}.{key}" if section and isinstance(key, str) else key for key in unknown]
    in_section = f" in {section}" if section else ""
    return f"unknown keys {quote(paths)}; known keys{in_section} are {sorted(names)}"


# --------------------------------------------------------------------------------------------
# The schema


@dataclass(config=_SCHEMA)
class ModelConfig:
    """The autoencoder's architecture (:class:`sot_utils.encoder.PitchEncoder` + synth); every
    default is the ``model`` section of ``sot_utils/configs/base.yaml`` (the paper's architecture).

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
        oracle_amplitudes: the decoder plays each tone's true harmonic amplitudes (the data's
            ``played_amplitudes``) and only f0 is learned: the causal test of the centroid stage
            (docs/evidence_plan.md); not in the paper.
    """

    n_harmonics: int = _default("model", "n_harmonics")
    channels: _IntList = _default("model", "channels")
    kernel_size: int = _default("model", "kernel_size")
    n_residual_prefilters: int = _default("model", "n_residual_prefilters")
    leaky_slope: _Number = _default("model", "leaky_slope")
    dropout: _Number = _default("model", "dropout")
    temperature: _Number = _default("model", "temperature")
    f0_head_init: str = _default("model", "f0_head_init")
    fundamental_floor: _Number = _default("model", "fundamental_floor")
    roll_off: bool = _default("model", "roll_off")
    oracle_amplitudes: bool = _default("model", "oracle_amplitudes")

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
            oracle_amplitudes=self.oracle_amplitudes,
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


@dataclass(config=_SCHEMA)
class LossConfig:
    """The training objective; the defaults are the ``loss`` section of ``sot_utils/configs/base.yaml``
    (whose ``terms`` are empty: a group's file names them, and a :class:`TrainConfig` built without
    a ``loss`` takes its group's).

    Attributes:
        terms: ``{name: {"type": "spectral_ot" | "multi_scale_spectral", "weight": w, **options}}``,
            summed with their weights (:func:`sot_utils.training.loss_config.build_loss`); resolved, every
            option is spelled out.
        harmonic_prior_weight: weight of :func:`sot_utils.losses.harmonic_index_prior` added to
            the loss (0: off, the paper).
        harmonic_prior_decay_steps: the prior's weight falls linearly to 0 over this many steps
            (0: constant).
    """

    terms: dict = _default("loss", "terms")
    harmonic_prior_weight: _Number = _default("loss", "harmonic_prior_weight")
    harmonic_prior_decay_steps: int = _default("loss", "harmonic_prior_decay_steps")

    def __post_init__(self):
        self.terms = resolve_loss_terms(self.terms)
        if not 0 <= self.harmonic_prior_weight < float("inf"):  # inf would pass here and fail at step 0
            raise ValueError(
                f"`loss.harmonic_prior_weight` must be a finite number >= 0, got {quote(self.harmonic_prior_weight)}"
            )
        check_int("loss.harmonic_prior_decay_steps", self.harmonic_prior_decay_steps, minimum=0)


@dataclass(config=_SCHEMA)
class TrainConfig:
    """Every setting of a run, resolved (see the module docstring for where each comes from).

    Built directly (``TrainConfig(group="SOT-2048", seed=42)``, as tests and checkpoint upgrades
    do), every setting not given is base.yaml's and the ``loss``, if not given, is the group's
    (``groups/<group>.yaml``); a remedy's settings are applied only by :func:`resolve_config`.
    Built directly, a bad value raises pydantic's ``ValidationError`` (a ``ValueError``);
    :meth:`from_dict` and :func:`resolve_config` raise a ``ValueError`` with one short message.

    Attributes:
        group: experiment group, one with a file in ``sot_utils/configs/groups/``.
        seed: seeds the initial weights, dropout and (if enabled) the shuffling.
        steps: optimisation steps (base.yaml: the shipped budget; the paper: 22,000).
        remedy: the remedy applied (``sot_utils/configs/remedies/``), or None.
        batch_size: examples per step.
        learning_rate: Adam's learning rate.
        weight_decay: L2 penalty added to the gradient, as ``torch.optim.Adam``.
        validate_every: steps between validations and checkpoints.
        keep_best_every: every this many steps (a multiple of ``validate_every``), keep the best
            checkpoint so far as ``best-upto-<step>.pt`` (0: off).
        shuffle: reshuffle the training set every epoch (the reference does not).
        micro_batch_size: examples per forward/backward pass; a step sums the micro-batches'
            gradients, the full-batch gradient up to rounding (None: 16 on a CPU, 1.2x faster per
            step, the whole batch on a GPU).
        data: dataset file (``python -m sot_utils.training.data``).
        out_dir: where checkpoints and logs go (:func:`resolve_config`: :func:`default_out_dir`).
        device: ``"cpu"`` or ``"cuda"`` (``"cuda:1"``...).
        model: :class:`ModelConfig`.
        loss: :class:`LossConfig`.
    """

    group: str
    seed: int
    steps: int = _default("steps")
    remedy: str | None = None
    batch_size: int = _default("batch_size")
    learning_rate: _Number = _default("learning_rate")
    weight_decay: _Number = _default("weight_decay")
    validate_every: int = _default("validate_every")
    keep_best_every: int = _default("keep_best_every")
    shuffle: bool = _default("shuffle")
    micro_batch_size: int | None = _default("micro_batch_size")
    data: str = _default("data")
    out_dir: str = "checkpoints/run"
    device: str = _default("device")
    model: Annotated[ModelConfig, _section(ModelConfig)] = dataclasses.field(default_factory=ModelConfig)
    loss: Annotated[LossConfig, _section(LossConfig)] = dataclasses.field(kw_only=True)

    @model_validator(mode="before")
    @classmethod
    def _group_loss(cls, values):
        """Without a ``loss``, the group's (base.yaml's ``loss`` updated by the group's file)."""
        if not isinstance(values, ArgsKwargs):
            return values
        kwargs = dict(values.kwargs or {})
        if "loss" in kwargs:
            return values
        if "group" not in kwargs and not values.args:
            raise ValueError("`group` is missing")
        group = kwargs.get("group", values.args[0] if values.args else None)
        check_choice("group", group, configs.group_names())
        kwargs["loss"] = _merge(copy.deepcopy(_BASE["loss"]), configs.read_config("groups", group).get("loss", {}))
        return ArgsKwargs(values.args, kwargs)

    def __post_init__(self):
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
        """A config from a mapping, with strict types; unknown keys are an error. Raises a
        ``ValueError`` whose message names the first bad setting by its key path (``model.dropout``)."""
        return _construct(cls, values, where)

    def to_dict(self) -> dict:
        """The resolved config as plain data (what ``config.yaml`` and checkpoints hold)."""
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------------------------
# Errors: pydantic's, as one short message naming the key path


_EXPECTED = {
    "bool": "must be true or false (a YAML boolean, unquoted)",
    "int": "must be an integer",
    "float": "must be a number",
    "string": "must be a string",
    "list": "must be a list",
    "dict": "must be a mapping",
}
"""What a setting must be, by the first word of pydantic's error type (``int_type``, ``bool_type``...)."""


def _construct(cls, values, where: str):
    """``cls(**values)``, with pydantic's ``ValidationError`` turned into a ``ValueError`` whose
    message names the key path and what was expected, and quotes the value abbreviated."""
    if not isinstance(values, dict):
        raise ValueError(f"`{where}` must be a mapping of settings, got {type(values).__name__}: {quote(values)}")
    unknown = _unknown_keys(cls, values)
    if unknown:
        raise ValueError(f"{where}: {unknown}")
    try:
        return cls(**values)
    except ValidationError as error:
        problems = error.errors(include_url=False)
        message = _problem(problems[0], where)
        others = dict.fromkeys(_key_path(problem["loc"]) or where for problem in problems[1:])
        raise ValueError(f"{message} (also wrong: {', '.join(others)})" if others else message) from None


def _key_path(loc) -> str:
    """``("model", "channels", 1)`` -> ``model.channels[1]``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _problem(problem: dict, where: str) -> str:
    """One pydantic error as the project's message: ``model.dropout`` must be ..., got ..."""
    name, value = _key_path(problem["loc"]) or where, problem.get("input")
    if problem["type"] == "value_error":  # a range check (__post_init__), a section's keys: the message as is
        message = str(problem["ctx"]["error"])
        if message.startswith("unknown keys"):
            return f"{where}: {message}"
        return message if problem["loc"] == () or message.startswith("`") else f"`{name}`: {message}"
    if problem["type"].startswith("missing"):
        return f"{where}: `{name}` is missing"
    if problem["type"].startswith("dataclass"):
        return f"`{name}` must be a mapping of settings, got {type(value).__name__}: {quote(value)}"
    expected = _EXPECTED.get(problem["type"].split("_")[0])
    if expected is None:
        return f"`{name}`: {problem['msg']}, got {quote(value)}"
    return f"`{name}` {expected}, got {quote(value)}"


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
    if isinstance(seed, int):  # otherwise the seed is refused below
        values.setdefault("out_dir", default_out_dir(group, seed, remedy))
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
                keys = {str(key): key for key in node} if isinstance(node, dict) else {}
                node = node[keys[part]] if part in keys else _MISSING
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
