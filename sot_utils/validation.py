"""Argument checks shared by the public functions.

Every notebook's inputs pass through these checks; none teaches them.

Every check raises a ``ValueError`` that names the offending argument and says what was
expected, so that bad input never ends in a bare traceback from deep inside torch and no NaN
reaches a loss silently. This module imports nothing else from ``sot_utils``.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Iterable

import numpy as np
import torch

__all__ = [
    "check_audio_pair",
    "check_bool",
    "check_choice",
    "check_int",
    "check_positive_number",
    "check_same_shape",
    "check_sample_rate",
    "check_tensor",
    "check_unit_interval",
    "quote",
]

_QUOTE = reprlib.Repr()
_QUOTE.maxlevel, _QUOTE.maxstring, _QUOTE.maxother = 3, 60, 60
_QUOTE.maxdict = _QUOTE.maxlist = _QUOTE.maxtuple = _QUOTE.maxset = 6


def quote(value, limit: int = 120) -> str:
    """``repr(value)`` for an error message, abbreviated (nested containers and long strings cut
    with ``...``) and at most ``limit`` characters: a message never grows with the input."""
    text = _QUOTE.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_tensor(
    name: str,
    x,
    *,
    ndim: int | None = None,
    min_ndim: int | None = None,
    layout: str = "",
    nonnegative: bool = False,
    positive: bool = False,
) -> torch.Tensor:
    """Check that ``x`` is a finite floating-point tensor of the expected rank and sign.

    Args:
        name: argument name, quoted in the error message.
        x: the value to check.
        ndim: exact number of dimensions required, or None.
        min_ndim: minimum number of dimensions required, or None.
        layout: human-readable layout, e.g. ``"[batch, n_samples]"``, quoted in errors.
        nonnegative: require every entry ``>= 0`` (spectra, amplitudes).
        positive: require every entry ``> 0`` (frequencies in Hz).

    Returns:
        ``x`` unchanged.
    """
    where = f" {layout}" if layout else ""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"`{name}` must be a torch.Tensor{where}, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"`{name}` must be a floating-point tensor{where}, got dtype {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"`{name}` must have {ndim} dimension(s){where}, got shape {tuple(x.shape)}")
    if min_ndim is not None and x.ndim < min_ndim:
        raise ValueError(f"`{name}` must have at least {min_ndim} dimension(s){where}, got shape {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"`{name}` is empty (shape {tuple(x.shape)}){where}")
    # One reduction decides everything: min and max propagate NaN, and every entry is finite
    # exactly when both extremes are (20x cheaper than isfinite(x).all() on large tensors).
    low, high = (float(v) for v in torch.aminmax(x.detach()))
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"`{name}` contains NaN or inf values")
    if positive and low <= 0:
        raise ValueError(f"`{name}` must be strictly positive; its minimum is {low:.6g}")
    if nonnegative and low < 0:
        raise ValueError(f"`{name}` must be non-negative; its minimum is {low:.6g}")
    return x


def check_same_shape(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    """Require two tensors to have identical shapes."""
    if a.shape != b.shape:
        raise ValueError(
            f"`{name_a}` and `{name_b}` must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )


def check_audio_pair(target, estimate) -> None:
    """Require two finite waveform batches ``[batch, n_samples]`` of the same shape."""
    check_tensor("target", target, ndim=2, layout="[batch, n_samples]")
    check_tensor("estimate", estimate, ndim=2, layout="[batch, n_samples]")
    check_same_shape("target", target, "estimate", estimate)
    for name, x in (("target", target), ("estimate", estimate)):
        if x.dtype not in (torch.float32, torch.float64):
            raise ValueError(
                f"`{name}` must be float32 or float64 audio (the FFTs need it), got {x.dtype}: convert it with .float()"
            )
    if target.dtype != estimate.dtype:
        raise ValueError(f"`target` ({target.dtype}) and `estimate` ({estimate.dtype}) must have the same dtype")


def check_int(name: str, value, *, minimum: int | None = None) -> int:
    """Require a Python integer (not bool), optionally ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"`{name}` must be an int, got {quote(value)}")
    if minimum is not None and value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {value}")
    return value


def check_bool(name: str, value) -> bool:
    """Require ``True`` or ``False`` (a numpy bool or a one-element torch bool tensor is accepted;
    the strings ``"false"`` and ``"no"``, which are truthy, and the numbers 0 and 1 are refused)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, torch.Tensor) and value.dtype == torch.bool and value.numel() == 1:
        return bool(value)
    raise ValueError(f"`{name}` must be True or False, got {quote(value)}")


def check_positive_number(name: str, value) -> float:
    """Require a finite real number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"`{name}` must be a positive number, got {quote(value)}")
    if not (value > 0 and value < float("inf")):
        raise ValueError(f"`{name}` must be a positive finite number, got {quote(value)}")
    return float(value)


def check_unit_interval(name: str, value) -> float:
    """A real number in ``[0, 1]`` (a fraction), as a float; a bool or a string is refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"`{name}` must be a number in [0, 1], got {quote(value)}")
    return float(value)


def check_choice(name: str, value, choices: Iterable) -> None:
    """Require ``value`` to be one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {choices}, got {quote(value)}")


def check_sample_rate(name: str, given, expected: int) -> None:
    """Require a sample rate passed at call time to match the one an object was built for."""
    if given is not None and given != expected:
        raise ValueError(
            f"`{name}` is {given} Hz but this object was built for {expected} Hz; "
            f"resample the audio or build a new object with sample_rate={given}"
        )
