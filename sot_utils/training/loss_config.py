"""Losses from configuration: the experiment groups' loss terms (docs/method.md#method-groups).

Taught in notebook 04 (a group's loss); used by notebooks 07 and 08.

A run's config names its loss as terms, ``{name: {"type", "weight", **options}}`` (the group files
``sot_utils/configs/groups/<group>.yaml``); this module resolves them (every option spelled out,
checked by type) and builds the loss modules of :mod:`sot_utils.losses` from them.
"""

from __future__ import annotations

import inspect

from torch import nn

from .. import configs
from ..losses import REDUCTIONS, MultiScaleSpectralLoss, SpectralOTLoss, WeightedLossSum
from ..validation import (
    check_bool,
    check_choice,
    check_positive_number,
    quote,
)

__all__ = [
    "LOSS_TYPES",
    "PAPER_GROUPS",
    "build_loss",
    "group_loss_terms",
    "loss_term_defaults",
    "paper_loss",
    "resolve_loss_terms",
]

# --------------------------------------------------------------------------------------------
# Losses from configuration: the experiment groups (docs/method.md#method-groups)

PAPER_GROUPS = ("MSS-Lin", "MSS-LogLin", "SOT-512", "SOT-512-LogF", "SOT-2048", "SOT-2048-SS", "SOT-NoCut")
"""The paper's seven experiment groups, in the paper's order; each has a config file
``sot_utils/configs/groups/<group>.yaml`` holding its loss."""

LOSS_TYPES = {"spectral_ot": SpectralOTLoss, "multi_scale_spectral": MultiScaleSpectralLoss}
"""The loss classes a config's ``loss.terms`` can name, by their ``type`` key."""

_NOT_CONFIGURABLE = ("self", "reduction", "sample_rate")


def loss_term_defaults(loss_type: str) -> dict:
    """The options of a loss type that a config term may set, with their defaults (the paper's)."""
    check_choice("type", loss_type, LOSS_TYPES)
    parameters = inspect.signature(LOSS_TYPES[loss_type].__init__).parameters
    return {name: p.default for name, p in parameters.items() if name not in _NOT_CONFIGURABLE}


def resolve_loss_terms(terms: dict) -> dict:
    """Every option of every term spelled out: ``{name: {"type", "weight", **options}}``.

    A term is ``{"type": <one of LOSS_TYPES>, "weight": <number > 0, default 1>, **options}``; an
    option it does not set takes the loss class's default. Unknown types or options are errors;
    values are checked by type (a boolean must be a boolean: ``"false"`` is refused) and then by
    the loss class itself when it is built. Tuples become lists (as YAML writes them).
    """
    if not isinstance(terms, dict) or not terms:
        raise ValueError(f"`loss.terms` must map term names to term settings and name at least one, got {terms!r}")
    resolved = {}
    for name, term in terms.items():
        where = f"loss.terms.{name}"
        if not isinstance(term, dict) or "type" not in term:
            raise ValueError(f"`{where}` must be a mapping with a `type` ({sorted(LOSS_TYPES)}), got {term!r}")
        check_choice(f"{where}.type", term["type"], LOSS_TYPES)
        defaults = loss_term_defaults(term["type"])
        unknown = sorted(set(term) - set(defaults) - {"type", "weight"})
        if unknown:
            raise ValueError(
                f"`{where}`: unknown options {unknown}; a {term['type']} term takes {sorted(defaults)} and `weight`"
            )
        weight = term.get("weight", 1.0)
        check_positive_number(f"{where}.weight", weight)
        options = {}
        for key, default in defaults.items():
            value = term.get(key, default)
            options[key] = _checked_option(f"{where}.{key}", value, default)
        try:  # the loss class checks the values (ranges, choices)
            LOSS_TYPES[term["type"]](**{k: tuple(v) if isinstance(v, list) else v for k, v in options.items()})
        except ValueError as error:
            raise ValueError(f"`{where}`: {error}") from None
        resolved[name] = {"type": term["type"], "weight": float(weight), **options}
    return resolved


def _checked_option(name: str, value, default):
    """``value`` if it has the kind of ``default`` (bool, number, string, int or list of ints)."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"`{name}` must be true or false (a YAML boolean, unquoted), got {quote(value)}")
        return value
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ValueError(f"`{name}` must be a string, got {quote(value)}")
        return value
    if default is None or isinstance(default, float):
        if value is None and default is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"`{name}` must be a number, got {quote(value)}")
        return float(value) if isinstance(default, float) or isinstance(value, float) else value
    if isinstance(default, (int, tuple, list)):
        if isinstance(value, (tuple, list)):
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                raise ValueError(f"`{name}` must be an int or a list of ints, got {quote(value)}")
            return list(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"`{name}` must be a number or a list of ints, got {quote(value)}")
        return value
    return value


def build_loss(terms: dict, reduction: str = "mean") -> nn.Module:
    """The loss module of a config's ``loss.terms`` (see :func:`resolve_loss_terms`).

    One term of weight 1 is returned as it is; otherwise a :class:`WeightedLossSum` of the terms.
    """
    check_choice("reduction", reduction, REDUCTIONS)
    modules = {}
    for name, term in resolve_loss_terms(terms).items():
        options = {k: tuple(v) if isinstance(v, list) else v for k, v in term.items() if k not in ("type", "weight")}
        modules[name] = (term["weight"], LOSS_TYPES[term["type"]](**options, reduction=reduction))
    if len(modules) == 1 and next(iter(modules.values()))[0] == 1.0:
        return next(iter(modules.values()))[1]
    return WeightedLossSum(modules)


def group_loss_terms(group: str) -> dict:
    """The loss terms of an experiment group, from its config file, resolved."""
    groups = configs.group_names()
    check_choice("group", group, groups)
    return resolve_loss_terms(configs.read_config("groups", group).get("loss", {}).get("terms", {}))


def paper_loss(group: str, *, root: bool = False, reference_logf: bool = False, reduction: str = "mean") -> nn.Module:
    """The training loss of an experiment group (``sot_utils/configs/groups/<group>.yaml``).

    Args:
        group: one of :data:`PAPER_GROUPS` (or an extension group with a config file).
        root: SOT returns ``W_2`` instead of ``W_2^2``. The reference's code (and, as far as can be
            told, its trained models) returns ``W_2^2``; the paper's landscape figure is drawn with
            the root (docs/method.md#ambiguity-w2-root).
        reference_logf: reproduce the reference's bug for SOT-512-LogF, whose log-frequency flag
            never reached the loss, so it trained with linear positions
            (docs/method.md#ambiguity-logf). Default: the intended log-frequency positions.
        reduction: ``"mean"`` or ``"none"``.
    """
    check_bool("root", root)
    check_bool("reference_logf", reference_logf)
    terms = group_loss_terms(group)
    for term in terms.values():
        if term["type"] == "spectral_ot":
            term["root"] = term["root"] or root
            if reference_logf:
                term["frequency_scale"] = "linear"
    return build_loss(terms, reduction)
