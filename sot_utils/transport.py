"""1-D optimal transport: the Wasserstein distance between measures on a line, and between spectra.

Taught in notebook 01 (transport against bin-wise comparison) and notebook 02 (its landscapes).

The 1-D Wasserstein distance has a closed form through quantile functions
[Santambrogio 2015, Prop. 2.17; Peyré & Cuturi 2019, Remark 2.30]:

    W_p(u, v)^p = ∫_0^1 |F_u^{-1}(r) - F_v^{-1}(r)|^p dr,

with ``F^{-1}(r) = x_{min{i : F(x_i) >= r}}`` the (left-continuous) quantile function of a
discrete measure. Between the sorted union of the two CDFs' levels both quantile functions are
constant, so the integral is a finite sum (as in POT's ``ot.wasserstein_1d``).

Two paths compute it here:

- :func:`wasserstein_1d` — general supports, sort based (POT's algorithm, batched over ``[..., n]``).
- :func:`wasserstein_1d_shared_support` — both measures on the *same* sorted bins (the spectral
  case). It never sorts: for ``p = 1`` it uses ``W_1 = Σ_i |F_u(x_i) - F_v(x_i)| (x_{i+1} - x_i)``,
  and for other ``p`` it merges the two (already sorted) CDFs: on CPU in compiled code
  (``_wasserstein_kernel``: the value from a forward merge that records its choices, the
  hand-derived gradient by replaying them), elsewhere with two ``searchsorted`` calls in tensor
  operations. It gives the same values and gradients as the general path.

Unequal masses follow the reference semantics: levels run up to the larger total mass, and a
quantile beyond a measure's mass is its last support point (so a mass deficit is treated as
sitting at the top bin). ``quantile_cutoff`` drops the transport of levels above it — the
paper's "frequency cutoff" (docs/method.md#method-sot) with a cutoff of 1. Segments are clipped at the cutoff
(``width = min(r_j, c) - min(r_{j-1}, c)``). The reference instead zeroes every segment whose upper
level exceeds ``c``; with a unit-mass target the two agree in exact arithmetic (1 is always a
level), but the reference's rule drops a whole segment when rounding puts the target's total a
few ulp above 1, which moved per-frame costs by up to 1.5 % in our tests.

Spectra are ``[..., n_bins]`` non-negative. The loss modules built on these are in
:mod:`sot_utils.losses`.
"""

from __future__ import annotations

import math
import os
import warnings

import numba
import numpy as np
import torch

from . import _wasserstein_kernel
from .validation import (
    check_bool,
    check_choice,
    check_same_shape,
    check_tensor,
)

__all__ = [
    "MAX_P",
    "OT_MODES",
    "check_order",
    "spectral_ot",
    "transport_plan_1d",
    "wasserstein_1d",
    "wasserstein_1d_shared_support",
]

SAFE_DIVIDE_EPS = 1e-7  # reference `safe_divide`: denominators <= eps are replaced by eps
OT_MODES = ("cut", "balanced")
"""How :func:`spectral_ot` normalises the estimate: ``"cut"`` by the target's mass, with the
quantile cutoff at 1 (the paper's frequency cutoff), or ``"balanced"`` by its own mass."""
SHARED_SUPPORT_IMPLEMENTATIONS = ("auto", "compiled", "torch")


# --------------------------------------------------------------------------------------------
# 1-D Wasserstein distance


MAX_P = 10
"""Largest order accepted: the costs ``|x - y|^p`` of positions in ``[0, 1]`` underflow float32 beyond
it (``0.001^16`` is 0), which would make every nearby shift cost nothing."""


def check_order(p) -> float:
    """``p`` if it is an order of the Wasserstein distance this module computes: a number in ``[1, MAX_P]``."""
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 1 <= p <= MAX_P:
        raise ValueError(f"`p` must be a number in [1, {MAX_P}], got {p!r} (larger orders underflow float32 costs)")
    return p


def _check_cutoff(quantile_cutoff) -> float | None:
    if quantile_cutoff is None:
        return None
    if (
        isinstance(quantile_cutoff, bool)
        or not isinstance(quantile_cutoff, (int, float))
        or not quantile_cutoff >= 0
        or not math.isfinite(quantile_cutoff)
    ):
        raise ValueError(f"`quantile_cutoff` must be a finite number >= 0 or None, got {quantile_cutoff!r}")
    return float(quantile_cutoff)


def _batch_shape(**tensors: torch.Tensor) -> torch.Size:
    """The broadcast batch shape (all but the last axis) of named tensors, or a ValueError naming them."""
    try:
        return torch.broadcast_shapes(*(t.shape[:-1] for t in tensors.values()))
    except RuntimeError:
        listing = ", ".join(f"`{name}` {tuple(t.shape)}" for name, t in tensors.items())
        raise ValueError(f"the batch shapes (all but the last axis) of {listing} do not broadcast together") from None


def _warn_unequal_masses(u_weights: torch.Tensor, v_weights: torch.Tensor) -> None:
    """Without a cutoff, unequal total masses are transported by a convention (the deficit sits at
    the last support point): say so, since POT and the textbook definition assume equal masses."""
    u_mass, v_mass = u_weights.detach().sum(dim=-1), v_weights.detach().sum(dim=-1)
    gap = float(((u_mass - v_mass).abs() / torch.maximum(u_mass, v_mass).clamp(min=1e-30)).max())
    if gap > 1e-4:
        warnings.warn(
            f"the two measures' total masses differ (by up to {100 * gap:.2g} %): the deficit is transported "
            "to the last support point. Normalise the weights, or pass quantile_cutoff to ignore levels "
            "above it",
            UserWarning,
            stacklevel=3,
        )


def _root(cost: torch.Tensor, p: float) -> torch.Tensor:
    """``cost ** (1/p)`` with a zero (not infinite) gradient where ``cost == 0``."""
    if p == 1:
        return cost
    positive = cost > 0
    safe = torch.where(positive, cost, torch.ones_like(cost))
    return torch.where(positive, safe ** (1.0 / p), torch.zeros_like(cost))


def _powered_distance(a: torch.Tensor, b: torch.Tensor, p: float) -> torch.Tensor:
    d = torch.abs(a - b)
    return d if p == 1 else d**p


def _check_weights(name: str, weights: torch.Tensor, n: int) -> None:
    check_tensor(name, weights, min_ndim=1, layout="[..., n]", nonnegative=True)
    if weights.shape[-1] != n:
        raise ValueError(f"`{name}` has {weights.shape[-1]} entries on its last axis, expected {n}")


def wasserstein_1d(
    u_values: torch.Tensor,
    v_values: torch.Tensor,
    u_weights: torch.Tensor | None = None,
    v_weights: torch.Tensor | None = None,
    p: float = 1,
    root: bool = False,
    *,
    quantile_cutoff: float | None = None,
) -> torch.Tensor:
    """Batched 1-D Wasserstein distance between discrete measures, general supports.

    ``W_p^p = Σ_j (r_j - r_{j-1}) |x_{u}(r_j) - x_{v}(r_j)|^p`` where ``r`` are the sorted
    levels of both CDFs (``r_0 = 0``) and ``x_u(r)`` is ``u``'s quantile function (POT's
    algorithm; Flamary et al., JMLR 2021).

    Args:
        u_values: support of ``u`` ``[..., n]`` (any order; sorted internally).
        v_values: support of ``v`` ``[..., m]``.
        u_weights: masses ``[..., n]`` (>= 0); uniform ``1/n`` if None.
        v_weights: masses ``[..., m]`` (>= 0); uniform ``1/m`` if None.
        p: order, >= 1.
        root: return ``W_p`` instead of ``W_p^p``.
        quantile_cutoff: if set, quantile levels above it transport nothing (used with
            unnormalised estimates: the "frequency cutoff"); segments are clipped at it.

    Batch dimensions ``...`` of all four tensors must broadcast together.

    Returns:
        ``[...]``: ``W_p^p`` (or ``W_p`` with ``root=True``).
    """
    p = check_order(p)
    root = check_bool("root", root)
    quantile_cutoff = _check_cutoff(quantile_cutoff)
    check_tensor("u_values", u_values, min_ndim=1, layout="[..., n]")
    check_tensor("v_values", v_values, min_ndim=1, layout="[..., m]")
    n, m = u_values.shape[-1], v_values.shape[-1]
    if u_weights is None:
        u_weights = torch.full_like(u_values, 1.0 / n)
    if v_weights is None:
        v_weights = torch.full_like(v_values, 1.0 / m)
    _check_weights("u_weights", u_weights, n)
    _check_weights("v_weights", v_weights, m)
    batch = _batch_shape(u_values=u_values, v_values=v_values, u_weights=u_weights, v_weights=v_weights)
    if quantile_cutoff is None:
        _warn_unequal_masses(u_weights, v_weights)
    u_values, u_weights = u_values.expand(*batch, n), u_weights.expand(*batch, n)
    v_values, v_weights = v_values.expand(*batch, m), v_weights.expand(*batch, m)

    u_values, u_order = torch.sort(u_values, dim=-1)
    v_values, v_order = torch.sort(v_values, dim=-1)
    u_cdf = torch.cumsum(torch.take_along_dim(u_weights, u_order, dim=-1), dim=-1)
    v_cdf = torch.cumsum(torch.take_along_dim(v_weights, v_order, dim=-1), dim=-1)

    levels, _ = torch.sort(torch.cat([u_cdf, v_cdf], dim=-1), dim=-1)
    u_index = torch.searchsorted(u_cdf.contiguous(), levels).clamp_(max=n - 1)
    v_index = torch.searchsorted(v_cdf.contiguous(), levels).clamp_(max=m - 1)
    u_quantiles = torch.take_along_dim(u_values, u_index, dim=-1)
    v_quantiles = torch.take_along_dim(v_values, v_index, dim=-1)

    if quantile_cutoff is not None:
        levels = levels.clamp(max=quantile_cutoff)
    widths = torch.diff(levels, dim=-1, prepend=torch.zeros_like(levels[..., :1]))
    cost = torch.sum(widths * _powered_distance(u_quantiles, v_quantiles, p), dim=-1)
    return _root(cost, p) if root else cost


def wasserstein_1d_shared_support(
    positions: torch.Tensor,
    u_weights: torch.Tensor,
    v_weights: torch.Tensor,
    p: float = 1,
    root: bool = False,
    *,
    quantile_cutoff: float | None = None,
    implementation: str = "auto",
) -> torch.Tensor:
    """1-D Wasserstein distance between two measures on the same sorted support, without sorting.

    Same definition and conventions as :func:`wasserstein_1d` (``u_values = v_values =
    positions``), computed in O(n) for ``p = 1`` and O(n log n) otherwise:

    - ``p = 1``: ``W_1 = Σ_{i<n-1} |min(U_i, c) - min(V_i, c)| (x_{i+1} - x_i)`` with ``U, V``
      the CDFs and ``c`` the cutoff (∞ without one) — the area between the CDFs.
    - ``p != 1``: the merged level sequence is formed implicitly. The segment ending at level
      ``U_i`` starts at ``max(U_{i-1}, V_{s_i - 1})`` with ``s_i = #{k : V_k < U_i}``, and
      transports ``x_i`` against ``x_{s_i}``; the segment ending at ``V_k`` starts at
      ``max(V_{k-1}, U_{t_k - 1})`` with ``t_k = #{j : U_j <= V_k}`` (ties go to ``u`` first,
      as in a stable sort of the concatenated levels) and transports ``x_{t_k}`` against ``x_k``.

    The ``"compiled"`` implementation walks the merge of the two sorted CDFs once per row in
    compiled code (numba), stopping after the cutoff, and records which CDF each step took (one
    bit); its backward pass replays those steps from the last to the first and computes the
    gradient by hand (``∂W/∂r_j = C_j - C_{j+1}`` for merged levels ``r_j`` with segment costs
    ``C_j``, summed in reverse onto the weights; derivation in ``sot_utils/_wasserstein_kernel.py``).
    It is first-order differentiable only.

    Args:
        positions: the shared support, sorted (non-decreasing), ``[n]`` or ``[..., n]``.
        u_weights: masses of ``u`` ``[..., n]``, >= 0.
        v_weights: masses of ``v`` ``[..., n]``, >= 0.
        p, root, quantile_cutoff: as in :func:`wasserstein_1d`.
        implementation: ``"compiled"`` (``p != 1``, CPU tensors, float32/float64, 1-D ``positions``),
            ``"torch"`` (tensor operations on any device, twice differentiable), or ``"auto"``:
            compiled where it applies, torch otherwise.

    Returns:
        ``[...]``.
    """
    cost = _shared_support(positions, u_weights, v_weights, p, root, quantile_cutoff, implementation)
    if quantile_cutoff is None:  # the weights passed the checks above
        _warn_unequal_masses(u_weights, v_weights)
    return cost


def _shared_support(positions, u_weights, v_weights, p, root, quantile_cutoff, implementation) -> torch.Tensor:
    """:func:`wasserstein_1d_shared_support` without the unequal-mass warning (:func:`spectral_ot`
    states its own mass convention)."""
    p = check_order(p)
    root = check_bool("root", root)
    quantile_cutoff = _check_cutoff(quantile_cutoff)
    check_tensor("positions", positions, min_ndim=1, layout="[n] or [..., n]")
    n = positions.shape[-1]
    if implementation in ("auto", "compiled") and _compiled_applies(p, positions, u_weights, v_weights):
        return _compiled_shared_support(positions, u_weights, v_weights, p, root, quantile_cutoff)
    _check_weights("u_weights", u_weights, n)
    _check_weights("v_weights", v_weights, n)
    if n > 1 and not bool((torch.diff(positions, dim=-1) >= 0).all()):
        raise ValueError(_UNSORTED_POSITIONS)

    check_choice("implementation", implementation, SHARED_SUPPORT_IMPLEMENTATIONS)
    if implementation == "compiled":  # it applies only where the call above returned
        raise ValueError(
            "implementation='compiled' needs p != 1, CPU tensors, 1-D `positions` [n] and float32/float64 "
            f"weights of one dtype; got p={p}, positions {tuple(positions.shape)} on {positions.device}, weights "
            f"{u_weights.dtype}/{v_weights.dtype} on {u_weights.device}/{v_weights.device}"
        )

    batch = _batch_shape(u_weights=u_weights, v_weights=v_weights, positions=positions)
    u_cdf = torch.cumsum(u_weights, dim=-1).expand(*batch, n)
    v_cdf = torch.cumsum(v_weights, dim=-1).expand(*batch, n)
    positions = positions.to(u_cdf.dtype)

    if p == 1:
        if quantile_cutoff is not None:
            u_cdf, v_cdf = u_cdf.clamp(max=quantile_cutoff), v_cdf.clamp(max=quantile_cutoff)
        area = torch.abs(u_cdf - v_cdf)
        cost = torch.sum(area[..., :-1] * torch.diff(positions, dim=-1), dim=-1)
        return cost

    u_cdf, v_cdf = u_cdf.contiguous(), v_cdf.contiguous()
    pad = torch.zeros_like(u_cdf[..., :1])
    u_prev = torch.cat([pad, u_cdf], dim=-1)  # u_prev[..., i] = U_{i-1}, with U_{-1} = 0
    v_prev = torch.cat([pad, v_cdf], dim=-1)
    s = torch.searchsorted(v_cdf, u_cdf, right=False)  # #{k : V_k < U_i}
    t = torch.searchsorted(u_cdf, v_cdf, right=True)  # #{j : U_j <= V_k}
    u_start = torch.maximum(u_prev[..., :-1], torch.take_along_dim(v_prev, s, dim=-1))
    v_start = torch.maximum(v_prev[..., :-1], torch.take_along_dim(u_prev, t, dim=-1))
    u_end, v_end = u_cdf, v_cdf
    if quantile_cutoff is not None:  # clip each segment at the cutoff
        u_start, v_start = u_start.clamp(max=quantile_cutoff), v_start.clamp(max=quantile_cutoff)
        u_end, v_end = u_end.clamp(max=quantile_cutoff), v_end.clamp(max=quantile_cutoff)
    u_width, v_width = u_end - u_start, v_end - v_start

    x = positions.expand(*batch, n)
    u_cost = _powered_distance(x, torch.take_along_dim(x, s.clamp(max=n - 1), dim=-1), p)
    v_cost = _powered_distance(torch.take_along_dim(x, t.clamp(max=n - 1), dim=-1), x, p)
    cost = torch.sum(u_width * u_cost, dim=-1) + torch.sum(v_width * v_cost, dim=-1)
    return _root(cost, p) if root else cost


_UNSORTED_POSITIONS = "`positions` must be sorted (non-decreasing) along the last axis"


def _compiled_applies(p, positions, u_weights, v_weights) -> bool:
    """Whether the compiled kernel can take these arguments (``positions`` already checked)."""
    return (  # p = 1 has an O(n) closed form in tensor operations, as fast
        p != 1
        and positions.ndim == 1
        and isinstance(u_weights, torch.Tensor)
        and isinstance(v_weights, torch.Tensor)
        and all(t.device.type == "cpu" for t in (positions, u_weights, v_weights))
        and u_weights.dtype in (torch.float32, torch.float64)
        and u_weights.dtype == v_weights.dtype
    )


class _InvalidWeights(Exception):
    """The kernel met a mass that is not finite and >= 0 (it flags, and does not merge, those rows)."""


def _compiled_shared_support(positions, u_weights, v_weights, p, root, quantile_cutoff) -> torch.Tensor:
    """The compiled path of :func:`wasserstein_1d_shared_support`, with the same checks in the same order.

    The weights' values are checked by the kernel as it reads them (a pass over both tensors
    fewer); only when it flags one do the tensor checks run, to raise the error they raise.
    """
    n = positions.shape[-1]
    if any(w.ndim < 1 or w.numel() == 0 or w.shape[-1] != n for w in (u_weights, v_weights)):
        _check_weights("u_weights", u_weights, n)  # raises the first error, in the usual order
        _check_weights("v_weights", v_weights, n)
    if u_weights.shape == v_weights.shape:
        batch = u_weights.shape[:-1]
    else:
        batch = _batch_shape(u_weights=u_weights, v_weights=v_weights)
    x = positions.detach().to(torch.float64).contiguous().numpy()
    try:
        cost = _CompiledSharedSupportW.apply(
            positions,
            x,
            u_weights.expand(*batch, n).reshape(-1, n),
            v_weights.expand(*batch, n).reshape(-1, n),
            float(p),
            math.inf if quantile_cutoff is None else float(quantile_cutoff),
        ).reshape(batch)
    except _InvalidWeights:
        _check_weights("u_weights", u_weights, n)
        _check_weights("v_weights", v_weights, n)
        raise ValueError("the total mass of `u_weights` or `v_weights` overflows float64") from None
    if n > 1 and (x[1:] < x[:-1]).any():
        raise ValueError(_UNSORTED_POSITIONS)
    return _root(cost, p) if root else cost


class _CompiledSharedSupportW(torch.autograd.Function):
    """Autograd wrapper of the compiled merge kernel: ``[rows, n]`` weights → ``[rows]`` ``W_p^p``.

    When a gradient will be needed, the forward pass records the merge (one bit per step); the
    backward pass replays it and writes the gradients, already scaled by the incoming gradient.
    Neither pass allocates more than its outputs and a per-thread table.
    """

    @staticmethod
    def forward(ctx, positions, x, u_weights, v_weights, p, cutoff):
        """``x``: ``positions`` as a float64 numpy array ``[n]`` (they get no gradient)."""
        a = u_weights.detach().contiguous().numpy()
        b = v_weights.detach().contiguous().numpy()
        record = ctx.needs_input_grad[2] or ctx.needs_input_grad[3]
        cost, words, ends = _wasserstein_kernel.wasserstein_rows(x, a, b, p, cutoff, _numba_threads(), record)
        if not np.isfinite(cost).all():  # rows with masses not finite and >= 0, not merged
            raise _InvalidWeights
        if record:  # numpy arrays, not tensors of the graph: kept on ctx
            ctx.merge = (x, words, ends, p, a.shape, u_weights.dtype)
        return torch.from_numpy(cost).to(u_weights.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_cost):
        if not hasattr(ctx, "merge"):  # only the positions need a gradient, and they get none
            return None, None, None, None, None, None
        x, words, ends, p, shape, dtype = ctx.merge
        scale = grad_cost.detach().to(torch.float64).contiguous().numpy()
        grad_u = torch.empty(shape, dtype=dtype)
        grad_v = torch.empty(shape, dtype=dtype)
        _wasserstein_kernel.wasserstein_rows_backward(
            x, words, ends, scale, p, _numba_threads(), grad_u.numpy(), grad_v.numpy()
        )
        return None, None, grad_u, grad_v, None, None


_numba_started = False  # whether _numba_threads started numba's threading layer
_forked = False  # whether this process is a fork (of a process whose OpenMP may be running)


def _note_fork() -> None:
    global _forked
    _forked = True


os.register_at_fork(after_in_child=_note_fork)


def _numba_threads() -> int:
    """As many threads as torch uses, and no more than numba has (1: numba's threads not used).

    The first time more than one is asked for, numba starts its threading layer; its OpenMP
    layer (``_wasserstein_kernel`` prefers it) then sets OpenMP's thread count, which torch
    shares, to numba's, so torch's is put back. A forked process gets 1: GNU OpenMP is not
    fork-safe (a parallel region there can hang, and numba's OpenMP layer refuses to run).
    """
    global _numba_started
    torch_threads = torch.get_num_threads()
    threads = max(1, min(torch_threads, numba.config.NUMBA_NUM_THREADS))
    if threads == 1 or _forked:
        return 1
    numba.set_num_threads(threads)  # starts numba's threading layer the first time
    if not _numba_started:
        _numba_started = True
        if torch.get_num_threads() != torch_threads:
            torch.set_num_threads(torch_threads)
    return threads


def transport_plan_1d(positions: torch.Tensor, u_weights: torch.Tensor, v_weights: torch.Tensor) -> torch.Tensor:
    """The optimal (monotone, "north-west corner") coupling of two measures on shared bins.

    For any convex cost on the line the monotone coupling is optimal; it pairs equal quantile
    levels: mass ``r_j - r_{j-1}`` moves from ``x_u(r_j)`` to ``x_v(r_j)``. Its cost
    ``Σ_ij P_ij |x_i - x_j|^p`` is the :func:`wasserstein_1d` value.

    Args:
        positions: shared support ``[n]``, sorted.
        u_weights: ``[n]``, >= 0, unit mass.
        v_weights: ``[n]``, >= 0, same mass.

    Returns:
        plan ``[n, n]``: ``P[i, j]`` is the mass moved from bin ``i`` of ``u`` to bin ``j`` of ``v``.
    """
    check_tensor("positions", positions, ndim=1, layout="[n]")
    n = positions.shape[0]
    for name, w in (("u_weights", u_weights), ("v_weights", v_weights)):
        check_tensor(name, w, ndim=1, layout="[n]", nonnegative=True)
        if w.shape[0] != n:
            raise ValueError(f"`{name}` has {w.shape[0]} entries, expected {n}")
    u_cdf, v_cdf = torch.cumsum(u_weights, 0), torch.cumsum(v_weights, 0)
    levels, _ = torch.sort(torch.cat([u_cdf, v_cdf]))
    widths = torch.diff(levels, prepend=levels.new_zeros(1))
    rows = torch.searchsorted(u_cdf, levels).clamp(max=n - 1)
    cols = torch.searchsorted(v_cdf, levels).clamp(max=n - 1)
    plan = u_weights.new_zeros(n, n)
    return plan.index_put_((rows, cols), widths, accumulate=True)


def _safe_divide(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """Reference ``safe_divide``: denominators ``<= 1e-7`` are replaced by ``1e-7``."""
    eps = torch.full_like(denominator, SAFE_DIVIDE_EPS)
    return numerator / torch.where(denominator <= SAFE_DIVIDE_EPS, eps, denominator)


def spectral_ot(
    target: torch.Tensor,
    estimate: torch.Tensor,
    positions: torch.Tensor,
    p: float = 2,
    root: bool = False,
    mode: str = "cut",
) -> torch.Tensor:
    """Per-frame transport cost between a target and an estimated spectrum (docs/method.md#method-sot).

    The target is normalised to unit mass, ``a = X / ΣX``. The estimate is

    - ``mode="cut"`` (the paper's "frequency cutoff"): ``b = Y / ΣX``, scaled by the *target's*
      mass, and levels above 1 transport nothing. Excess estimate energy above the target's total
      is ignored (an implicit low-pass); an energy deficit is transported to the top bin, so too
      little energy is penalised.
    - ``mode="balanced"``: ``b = Y / ΣY``; only the spectral shape is compared.

    Sums use the reference's ``safe_divide`` (denominators <= 1e-7 become 1e-7), so silent
    frames give finite costs and gradients.

    Args:
        target: non-negative spectra ``[..., n_bins]`` (power or magnitude).
        estimate: non-negative spectra ``[..., n_bins]``, same shape.
        positions: bin positions ``[n_bins]``, sorted (see
            :func:`sot_utils.spectral.bin_positions`).
        p: order of the distance; root: return ``W_p`` instead of ``W_p^p``.
        mode: ``"cut"`` or ``"balanced"``.

    Returns:
        ``[...]`` one cost per frame.
    """
    check_choice("mode", mode, OT_MODES)
    check_tensor("target", target, min_ndim=1, layout="[..., n_bins]", nonnegative=True)
    check_tensor("estimate", estimate, min_ndim=1, layout="[..., n_bins]", nonnegative=True)
    check_same_shape("target", target, "estimate", estimate)
    target_mass = target.sum(dim=-1, keepdim=True)
    a = _safe_divide(target, target_mass)
    if mode == "cut":
        b = _safe_divide(estimate, target_mass)
        cutoff = 1.0
    else:
        b = _safe_divide(estimate, estimate.sum(dim=-1, keepdim=True))
        cutoff = None
    return _shared_support(positions, a, b, p, root, cutoff, "auto")
