"""Compiled 1-D Wasserstein kernel for two measures on the same sorted bins (used by ``losses``).

The two CDFs ``U = cumsum(a)`` and ``V = cumsum(b)`` are already sorted, so their levels are
merged in one linear pass per row. Walking the merge with pointers ``i`` (into ``U``) and ``k``
(into ``V``), the next level is ``U_i`` if ``U_i <= V_k`` (ties go to ``u``, as a stable sort
of the concatenated levels does) and ``V_k`` otherwise; in both cases the segment ending there
transports ``x_i`` against ``x_k`` (a pointer past the end stays on the last bin). With merged
levels ``r_j`` clipped at the cutoff ``c`` and segment costs ``C_j = |x_{i_j} - x_{k_j}|^p``:

    W_p^p = Σ_j (min(r_j, c) - min(r_{j-1}, c)) C_j = Σ_j min(r_j, c) (C_j - C_{j+1}),

with ``C_{J+1} = 0``. Hence ``∂W/∂r_j = (C_j - C_{j+1}) [r_j <= c]``; ``C_{j+1}`` is the cost at
the pointers just after level ``j`` is emitted, so one pass gives the value and the gradient.
Since ``U_i = a_0 + ... + a_i``, ``∂W/∂a_i = Σ_{i' >= i} ∂W/∂U_{i'}`` (a reverse cumulative
sum); likewise for ``b``. The walk stops after the first level above the cutoff: later
segments have zero width and zero gradient. Sums run in float64 whatever the input dtype.

Speed: the merge is a serial chain (the next comparison needs the last one's pointer), so
each thread merges ``LANES`` rows side by side to overlap their chains, and the choice of
pointer is arithmetic rather than a branch (which the CPU would mispredict half the time).
Blocks of rows are spread over threads with ``numba.prange``.
"""

from __future__ import annotations

import os

import numba
import numpy as np

if "NUMBA_THREADING_LAYER" not in os.environ:
    # numba's OpenMP layer, its default here, sets OpenMP's thread count (which torch shares) to
    # numba's own (every core) when it starts, so a process limited to one thread would then run
    # torch on all of them. numba's own thread pool leaves it alone.
    numba.config.THREADING_LAYER = "workqueue"

LANES = 4  # rows merged side by side, written out below (measured: 2x over one row at a time; 8 gains nothing)
_CACHE = True  # compiled code is cached in __pycache__, so only the first run compiles


@numba.njit(inline="always")
def _power(d: float, p: float) -> float:
    if p == 2.0:  # p = 1 never gets here: the losses use its O(n) closed form
        return d * d
    return abs(d) ** p


@numba.njit(inline="always")
def _levels(weights: np.ndarray, out: np.ndarray) -> None:
    """``out[:n] = cumsum(weights)`` in float64 and ``out[n] = inf``, a sentinel never taken."""
    running = 0.0
    for j in range(weights.shape[0]):
        running += weights[j]
        out[j] = running
    out[weights.shape[0]] = np.inf


@numba.njit(inline="always")
def _padded(x: np.ndarray) -> np.ndarray:
    """``x`` with its last bin repeated: a pointer past the end transports from the last bin."""
    n = x.shape[0]
    out = np.empty(n + 1, dtype=np.float64)
    out[:n] = x
    out[n] = x[n - 1]
    return out


@numba.njit(inline="always")
def _step(u, v, xp, i, k, previous, total, cost, d, p, cutoff, with_gradient):
    """Emit one merged level; returns the updated ``(i, k, previous, total, cost, level)``."""
    u_level = u[i]
    v_level = v[k]
    take_u = u_level <= v_level
    level = min(u_level, v_level)
    clipped = min(level, cutoff)
    total += (clipped - previous) * cost
    next_i = i + take_u
    next_k = k + 1 - take_u
    next_cost = _power(xp[next_i] - xp[next_k], p)
    if with_gradient:  # ∂W/∂r_j = (C_j - C_{j+1}) [r_j <= c] into U_i's slot (d[i]) or V_k's (d[n + 1 + k])
        slot = i if take_u else u.shape[0] + k
        d[slot] = (cost - next_cost) * (level <= cutoff)
    return next_i, next_k, clipped, total, next_cost, level


@numba.njit(inline="always")
def _merge_rows(x_padded, a, b, start, stop, p, cutoff, total_out, grad_a, grad_b, with_gradient):
    """Merge rows ``start .. stop - 1``, ``LANES`` side by side (a short last block repeats its last row)."""
    n = a.shape[1]
    u = np.empty((LANES, n + 1), dtype=np.float64)
    v = np.empty((LANES, n + 1), dtype=np.float64)
    d = np.empty((LANES, 2 * (n + 1)), dtype=np.float64)  # ∂W/∂U_i at [i], ∂W/∂V_k at [n + 1 + k]
    d_u = d[:, : n + 1]
    d_v = d[:, n + 1 :]
    u0, u1, u2, u3 = u[0], u[1], u[2], u[3]
    v0, v1, v2, v3 = v[0], v[1], v[2], v[3]
    d0, d1, d2, d3 = d[0], d[1], d[2], d[3]
    for first in range(start, stop, LANES):
        for lane in range(LANES):
            row = min(first + lane, stop - 1)
            _levels(a[row], u[lane])
            _levels(b[row], v[lane])
        i0 = i1 = i2 = i3 = 0
        k0 = k1 = k2 = k3 = 0
        prev0 = prev1 = prev2 = prev3 = 0.0
        tot0 = tot1 = tot2 = tot3 = 0.0
        c0 = c1 = c2 = c3 = 0.0  # the first segment's cost, |x_0 - x_0|^p
        for _ in range(2 * n):  # every step emits one level per row
            i0, k0, prev0, tot0, c0, l0 = _step(u0, v0, x_padded, i0, k0, prev0, tot0, c0, d0, p, cutoff, with_gradient)
            i1, k1, prev1, tot1, c1, l1 = _step(u1, v1, x_padded, i1, k1, prev1, tot1, c1, d1, p, cutoff, with_gradient)
            i2, k2, prev2, tot2, c2, l2 = _step(u2, v2, x_padded, i2, k2, prev2, tot2, c2, d2, p, cutoff, with_gradient)
            i3, k3, prev3, tot3, c3, l3 = _step(u3, v3, x_padded, i3, k3, prev3, tot3, c3, d3, p, cutoff, with_gradient)
            if min(min(l0, l1), min(l2, l3)) > cutoff:  # every row is past the cutoff
                break
        totals = (tot0, tot1, tot2, tot3)
        last_i = (i0, i1, i2, i3)
        last_k = (k0, k1, k2, k3)
        for lane in range(LANES - 1, -1, -1):  # backwards, so a repeated row never overwrites
            total_out[min(first + lane, stop - 1)] = totals[lane]
        if with_gradient:
            for lane in range(LANES):
                d_u[lane, last_i[lane]:] = 0.0  # levels never emitted (the walk stopped first)
                d_v[lane, last_k[lane]:] = 0.0
            _reverse_cumsums(d_u, d_v, grad_a, grad_b, first, stop)


@numba.njit(inline="always")
def _reverse_cumsums(d_u, d_v, grad_a, grad_b, first, stop):
    """``grad_a[first + lane, i] = Σ_{i' >= i} d_u[lane, i']`` (∂/∂a from ∂/∂U), likewise for ``b``.

    The eight running sums are interleaved; a repeated row (short last block) is written
    several times with the same values.
    """
    n = grad_a.shape[1]
    r0, r1, r2, r3 = first, min(first + 1, stop - 1), min(first + 2, stop - 1), min(first + 3, stop - 1)
    a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = 0.0
    for j in range(n - 1, -1, -1):
        a0 += d_u[0, j]
        a1 += d_u[1, j]
        a2 += d_u[2, j]
        a3 += d_u[3, j]
        b0 += d_v[0, j]
        b1 += d_v[1, j]
        b2 += d_v[2, j]
        b3 += d_v[3, j]
        grad_a[r0, j] = a0
        grad_a[r1, j] = a1
        grad_a[r2, j] = a2
        grad_a[r3, j] = a3
        grad_b[r0, j] = b0
        grad_b[r1, j] = b1
        grad_b[r2, j] = b2
        grad_b[r3, j] = b3


@numba.njit(inline="always")
def _merge_all(x, a, b, p, cutoff, threads, total, grad_a, grad_b, with_gradient):
    """Split the rows into one contiguous chunk per thread."""
    rows = a.shape[0]
    x_padded = _padded(x)
    chunks = max(1, min(threads, (rows + LANES - 1) // LANES))
    per_chunk = -(-rows // (chunks * LANES)) * LANES
    for chunk in numba.prange(chunks):
        start = chunk * per_chunk
        stop = min(start + per_chunk, rows)
        if start >= stop:
            continue
        if p == 2.0:  # the paper's order gets its own code: the power is a multiply in the loop
            _merge_rows(x_padded, a, b, start, stop, 2.0, cutoff, total, grad_a, grad_b, with_gradient)
        else:
            _merge_rows(x_padded, a, b, start, stop, p, cutoff, total, grad_a, grad_b, with_gradient)


@numba.njit(parallel=True, cache=_CACHE)
def wasserstein_rows(x: np.ndarray, a: np.ndarray, b: np.ndarray, p: float, cutoff: float, threads: int) -> np.ndarray:
    """``W_p^p`` per row ``[rows]`` (float64).

    Args:
        x: sorted bin positions ``[n]``, float64.
        a, b: masses ``[rows, n]`` (float32 or float64), >= 0.
        p: order, >= 1.
        cutoff: quantile cutoff (``inf`` for none).
        threads: how many chunks of rows to run in parallel (at most numba's thread count).
    """
    total = np.empty(a.shape[0], dtype=np.float64)
    unused = np.empty((0, 0), dtype=a.dtype)
    _merge_all(x, a, b, p, cutoff, threads, total, unused, unused, False)
    return total


@numba.njit(parallel=True, cache=_CACHE)
def wasserstein_rows_with_gradient(
    x: np.ndarray, a: np.ndarray, b: np.ndarray, p: float, cutoff: float, threads: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``W_p^p`` per row ``[rows]`` (float64) and its gradients ``∂/∂a``, ``∂/∂b`` ``[rows, n]`` (dtype of ``a``).

    Same arguments as :func:`wasserstein_rows`; one merge pass gives all three.
    """
    total = np.empty(a.shape[0], dtype=np.float64)
    grad_a = np.empty_like(a)
    grad_b = np.empty_like(b)
    _merge_all(x, a, b, p, cutoff, threads, total, grad_a, grad_b, True)
    return total, grad_a, grad_b
