"""Compiled 1-D Wasserstein kernel for two measures on the same sorted bins (used by ``losses``).

Maths. The CDFs ``U = cumsum(a)`` and ``V = cumsum(b)`` are already sorted, so their levels are
merged in one linear pass per row. Walking the merge with pointers ``i`` (into ``U``) and ``k``
(into ``V``), step ``j`` (``i + k = j``) emits ``U_i`` if ``U_i <= V_k`` (ties go to ``u``, as a
stable sort of the concatenated levels does) and ``V_k`` otherwise; the segment ending there
transports ``x_i`` against ``x_k`` (a pointer past the end stays on the last bin). With merged
levels ``r_j`` clipped at the cutoff ``c`` and segment costs ``C_j = |x_{i_j} - x_{k_j}|^p``:

    W_p^p = Σ_j (min(r_j, c) - min(r_{j-1}, c)) C_j = Σ_j min(r_j, c) (C_j - C_{j+1}),

with ``C_{2n} = 0``. Hence ``∂W/∂r_j = g_j = (C_j - C_{j+1}) [r_j <= c]``, and since
``U_i = a_0 + ... + a_i``, ``∂W/∂a_i = Σ_{i' >= i} ∂W/∂U_{i'}`` (a reverse cumulative sum over
the steps that emitted ``u``'s levels); likewise for ``b``. Only the first ``jcut + 1`` steps
matter, ``jcut = #{U_i <= c} + #{V_k <= c}`` (the levels are sorted): later ones have zero
width and zero gradient.

Two passes, so that the backward pass reads nothing but what the forward pass recorded:

- forward (:func:`wasserstein_rows`): the merge, accumulating ``W_p^p``; when a gradient will be
  needed it also records each step's choice (1 bit: did it emit ``u``'s level?) and per row the
  step count, ``jcut`` and the final ``i``;
- backward (:func:`wasserstein_rows_backward`): replays the recorded choices from the last step
  to the first (no levels, no comparisons: ``i -= bit``, ``k = j - i``), summing ``g_j`` into
  one running sum for ``u`` and one for ``v``. The running sum for ``u`` at step ``j`` is
  exactly ``∂W/∂a_{i_j}`` (the reverse cumulative sum, its additions in the same order), so it
  is stored there directly, then multiplied by the incoming gradient as it is copied out.

Sums run in float64 whatever the input dtype; float32 inputs are widened as the CDFs are
formed, and float32 gradients are rounded once, when stored. While forming the CDFs the forward
pass also checks the masses (finite, >= 0; ``losses`` relies on it instead of a pass of its
own over both tensors); rows with a bad mass are not merged and get a NaN total.

Speed: why each trick helps. The merge is a serial chain (the next comparison needs the pointer
that the last one moved), and at about 20 instructions per merged level the loop is bound by
instruction throughput once a few chains overlap:

- each thread merges ``LANES = 3`` rows side by side; 3 keep every value in registers (4 to 6
  spill to the stack and ran slower; with 2 the forward merge took 15% longer);
- the choice is arithmetic (``i_row += take * WIDTH``), never a branch or a select on loaded
  data: LLVM turns those into branches, which the CPU mispredicts half the time (a select
  variant ran 3x slower);
- the three rows' CDFs live in one float64 table, one 64-byte row (a cache line) per index:
  ``U_i`` of each lane, ``V_{n-i}`` of each lane (``V`` reversed, so ``V_{j-i}`` is at
  ``(n - j) * WIDTH + i * WIDTH``, a base that moves once per step plus ``u``'s offset), then
  ``x_i`` and ``x_{n-i}`` for the segment costs; ``WIDTH = 8`` makes ``take * WIDTH`` a shift,
  and unsigned indices spare numba's negative-index wraparound code;
- levels are compared as int64 bit patterns, which order non-negative doubles (and the ``+inf``
  sentinel past each CDF's end) as the doubles do: an integer load and compare is a few cycles
  shorter on the chain than a floating-point one;
- ``p = 2`` and general ``p`` are separate compiled specialisations (``square`` is a literal,
  ``numba.literally``): the ``p = 2`` loops multiply, with no ``pow`` call and no branch (one
  compiled loop for both spilled registers around the call);
- the step count is known before merging (``jcut``, two binary searches per row), so there is
  no per-step test for the end, and the steps before every lane's ``jcut`` skip the clipping;
- the gradient needs no ``[rows, 2n]`` scratch and no reverse-cumsum pass over it: the forward
  pass stores 2n bits per row, and the backward pass writes each gradient once (its multiply
  by the incoming gradient included, so the autograd wrapper does no pass of its own);
- with more than one thread, blocks of rows go to threads with ``numba.prange`` (one thread:
  plain compiled loops, numba's thread pool unused). Blocks are the same whatever the thread
  count, so a backward pass may run on another count than its forward pass;
- numba's OpenMP threading layer is preferred (see below): it runs on the OpenMP runtime that
  torch loaded, so the kernel's threads are torch's own, already awake. With numba's own pool
  its threads shared the cores with torch's OpenMP thread, which spins for milliseconds after
  every torch operation, and the kernels took about twice as long inside a training step.

``fastmath`` is not used: it would let LLVM reassociate the sums and turn the arithmetic
choice back into selects.
"""

from __future__ import annotations

import os

import numba
import numpy as np

if "NUMBA_THREADING_LAYER" not in os.environ:
    # numba's OpenMP layer first: on Linux it runs on the OpenMP runtime that torch loaded, so
    # its parallel regions use torch's own thread team. With numba's workqueue pool instead, its
    # two threads share the two cores with torch's OpenMP thread, which spins for milliseconds
    # after every torch operation: the kernels ran about twice as long inside a training step as
    # alone. The OpenMP layer sets OpenMP's thread count (torch's) to numba's when it starts:
    # ``transport._numba_threads`` puts torch's back, and never starts it for one thread.
    numba.config.THREADING_LAYER = "default"
    numba.config.THREADING_LAYER_PRIORITY = ["omp", "workqueue", "tbb"]

LANES = 3  # rows merged side by side, written out below (measured: 3 beats 2, and 4-6 spill registers)
WIDTH = 8  # table row: U of each lane, V (reversed) of each lane, x_i, x_(n-i): 64 bytes; 8 = a shift
V_COL = LANES
X_COL = 2 * LANES
XR_COL = 2 * LANES + 1
WORD = 64  # steps per recorded word
_CACHE = True  # compiled code is cached in __pycache__, so only the first run compiles


@numba.njit(cache=_CACHE)
def _power(d: float, p: float, square: bool) -> float:
    """``|d|^p``; ``square`` (``p = 2``) is a compile-time constant in the callers below."""
    if square:
        return d * d
    return abs(d) ** p


@numba.njit(cache=_CACHE)
def _padded(x: np.ndarray) -> np.ndarray:
    """``x`` with its last bin repeated: a pointer past the end transports from the last bin."""
    n = x.shape[0]
    out = np.empty(n + 1, dtype=np.float64)
    out[:n] = x
    out[n] = x[n - 1]
    return out


@numba.njit(cache=_CACHE)
def _table(n: int) -> np.ndarray:
    """An ``(n + 1) x WIDTH`` table, flat."""
    return np.empty((n + 1) * WIDTH, dtype=np.float64)


@numba.njit(cache=_CACHE)
def _fill_positions(x_padded, table):
    """Row ``r`` gets ``x_r`` and ``x_{n-r}`` (the same for every block of rows)."""
    n = x_padded.shape[0] - 1
    for r in range(n + 1):
        table[r * WIDTH + X_COL] = x_padded[r]
        table[(n - r) * WIDTH + XR_COL] = x_padded[r]


@numba.njit(cache=_CACHE)
def _negatives(row):
    """How many entries of ``row`` are < 0 (a count, so that LLVM vectorises the loop)."""
    count = 0
    for i in range(row.shape[0]):
        count += row[i] < 0
    return count


@numba.njit(cache=_CACHE)
def _fill_levels(a, b, r0, r1, r2, table):
    """Row ``i`` gets ``U_i`` of rows ``r0, r1, r2``; row ``n - k`` gets their ``V_k``; ``U_n = V_n = inf``.

    Returns whether every mass read is finite and >= 0 (only then may the caller merge these rows).
    """
    n = a.shape[1]
    u0 = u1 = u2 = 0.0
    v0 = v1 = v2 = 0.0
    for i in range(n):
        u0 += a[r0, i]
        u1 += a[r1, i]
        u2 += a[r2, i]
        v0 += b[r0, i]
        v1 += b[r1, i]
        v2 += b[r2, i]
        row = i * WIDTH
        table[row] = u0
        table[row + 1] = u1
        table[row + 2] = u2
        row = (n - i) * WIDTH + V_COL
        table[row] = v0
        table[row + 1] = v1
        table[row + 2] = v2
    for lane in range(LANES):
        table[n * WIDTH + lane] = np.inf
        table[V_COL + lane] = np.inf
    # a NaN or an infinity among the masses makes the sum of the totals NaN or infinite
    if not u0 + u1 + u2 + v0 + v1 + v2 < np.inf:
        return False
    negatives = _negatives(a[r0]) + _negatives(a[r1]) + _negatives(a[r2])
    return negatives + _negatives(b[r0]) + _negatives(b[r1]) + _negatives(b[r2]) == 0


@numba.njit(cache=_CACHE)
def _levels_at_most(table, n, lane, cutoff):
    """``#{i < n : U_i <= c} + #{k < n : V_k <= c}`` for one lane (binary searches)."""
    low, high = 0, n
    while low < high:
        mid = (low + high) >> 1
        if table[mid * WIDTH + lane] <= cutoff:
            low = mid + 1
        else:
            high = mid
    count = low
    low, high = 0, n
    while low < high:  # V_k sits in row n - k
        mid = (low + high) >> 1
        if table[(n - mid) * WIDTH + V_COL + lane] <= cutoff:
            low = mid + 1
        else:
            high = mid
    return count + low


@numba.njit(cache=_CACHE)
def _merge_step(table, table_bits, lane, v_row, i_row, previous, total, cost, word, p, square, cutoff, clip):
    """Step ``j`` of one lane: emit the next level; returns ``(i_row, level, total, cost, word)``.

    ``i_row = i * WIDTH``; ``v_row = (n - j) * WIDTH``, so ``V_k`` (``k = j - i``) is at
    ``v_row + i_row + V_COL + lane`` (row ``n - k``).
    """
    u_at = np.uint64(i_row + lane)  # unsigned indices: no negative-index wraparound code
    v_at = np.uint64(v_row + i_row + V_COL + lane)
    take_u = table_bits[u_at] <= table_bits[v_at]  # the order of non-negative doubles; ties to u
    level = min(table[u_at], table[v_at])
    if clip:
        level = min(level, cutoff)
    total += (level - previous) * cost
    i_row = i_row + take_u * WIDTH
    # the next segment's cost: x_i (row i) against x_k, k = j + 1 - i (row n - k, reversed column)
    cost = _power(table[np.uint64(i_row + X_COL)] - table[np.uint64(v_row - WIDTH + i_row + XR_COL)], p, square)
    word = word + word + take_u  # the newest step in the lowest bit
    return i_row, level, total, cost, word


@numba.njit(cache=_CACHE)
def _merge_rows(x_padded, a, b, start, stop, p, square, cutoff, totals, words, ends, record):
    """Merge rows ``start .. stop - 1``, ``LANES`` side by side (a short last block repeats its last row)."""
    numba.literally(square)  # one specialisation per value: no pow call in the p = 2 loop
    n = a.shape[1]
    table = _table(n)
    table_bits = table.view(np.int64)
    _fill_positions(x_padded, table)
    for first in range(start, stop, LANES):
        r0 = first
        r1 = min(first + 1, stop - 1)
        r2 = min(first + 2, stop - 1)
        if not _fill_levels(a, b, r0, r1, r2, table):  # not merged (the pointers could overrun): flagged
            totals[r2] = totals[r1] = totals[r0] = np.nan
            continue
        cut0 = _levels_at_most(table, n, 0, cutoff)
        cut1 = _levels_at_most(table, n, 1, cutoff)
        cut2 = _levels_at_most(table, n, 2, cutoff)
        below = min(cut0, cut1, cut2)  # steps where no lane's level exceeds the cutoff
        steps = min(2 * n, max(cut0, cut1, cut2) + 1)  # up to every lane's first level above it
        i0 = i1 = i2 = 0
        q0 = q1 = q2 = 0.0
        t0 = t1 = t2 = 0.0
        c0 = c1 = c2 = 0.0  # the first segment's cost, |x_0 - x_0|^p
        for w in range((steps + WORD - 1) // WORD):
            lo = w * WORD
            hi = min(lo + WORD, steps)
            mid = min(max(below, lo), hi)
            w0 = w1 = w2 = 0
            v_row = (n - lo) * WIDTH
            for _ in range(lo, mid):
                i0, q0, t0, c0, w0 = _merge_step(
                    table, table_bits, 0, v_row, i0, q0, t0, c0, w0, p, square, cutoff, False
                )
                i1, q1, t1, c1, w1 = _merge_step(
                    table, table_bits, 1, v_row, i1, q1, t1, c1, w1, p, square, cutoff, False
                )
                i2, q2, t2, c2, w2 = _merge_step(
                    table, table_bits, 2, v_row, i2, q2, t2, c2, w2, p, square, cutoff, False
                )
                v_row -= WIDTH
            for _ in range(mid, hi):
                i0, q0, t0, c0, w0 = _merge_step(
                    table, table_bits, 0, v_row, i0, q0, t0, c0, w0, p, square, cutoff, True
                )
                i1, q1, t1, c1, w1 = _merge_step(
                    table, table_bits, 1, v_row, i1, q1, t1, c1, w1, p, square, cutoff, True
                )
                i2, q2, t2, c2, w2 = _merge_step(
                    table, table_bits, 2, v_row, i2, q2, t2, c2, w2, p, square, cutoff, True
                )
                v_row -= WIDTH
            if record:  # backwards, so that a repeated row ends with lane 0's (equal) values
                words[r2, w] = w2
                words[r1, w] = w1
                words[r0, w] = w0
        totals[r2] = t2
        totals[r1] = t1
        totals[r0] = t0
        if record:
            for r, cut, i_row in ((r2, cut2, i2), (r1, cut1, i1), (r0, cut0, i0)):
                ends[r, 0] = steps
                ends[r, 1] = cut
                ends[r, 2] = i_row // WIDTH


@numba.njit(cache=_CACHE)
def _unmerge_step(table, lane, word, j, v_row, i_row, cut, later_cost, sum_u, sum_v, p, square, masked):
    """Undo step ``j`` of one lane; returns ``(word, i_row, cost, sum_u, sum_v)``. ``v_row = (n - j) * WIDTH``."""
    took_u = word & 1
    word = word >> 1
    i_row = i_row - took_u * WIDTH
    cost = _power(table[np.uint64(i_row + X_COL)] - table[np.uint64(v_row + i_row + XR_COL)], p, square)
    g = cost - later_cost  # ∂W/∂r_j
    if masked:
        g = g if j < cut else 0.0
    g_u = g * np.float64(took_u)  # a product, not a select (LLVM would branch on took_u)
    sum_u += g_u
    sum_v += g - g_u
    # Σ over u's levels >= U_i is ∂W/∂a_i, also at v's steps (nothing was added to it since), so
    # both are stored every step: slot n of either (a pointer past the end) is a spare row
    table[np.uint64(i_row + lane)] = sum_u
    table[np.uint64(v_row + i_row + V_COL + lane)] = sum_v
    return word, i_row, cost, sum_u, sum_v


@numba.njit(cache=_CACHE)
def _zero_unreached(table, n, lane, steps, end):
    """Zero gradient for the levels never emitted: ``U_i``, ``i >= end``, and ``V_k``, ``k >= steps - end``."""
    for i in range(end, n + 1):
        table[i * WIDTH + lane] = 0.0
    for row in range(n - (steps - end) + 1):  # V_k sits in row n - k
        table[row * WIDTH + V_COL + lane] = 0.0


@numba.njit(cache=_CACHE)
def _unmerge_rows(x_padded, words, ends, scale, start, stop, p, square, grad_a, grad_b):
    """Gradients of rows ``start .. stop - 1`` from their recorded steps, ``LANES`` side by side."""
    numba.literally(square)
    n = grad_a.shape[1]
    table = _table(n)  # row i: ∂/∂a_i of each lane; row n - k: ∂/∂b_k of each lane; x_i, x_(n-i)
    _fill_positions(x_padded, table)
    for first in range(start, stop, LANES):
        r0 = first
        r1 = min(first + 1, stop - 1)
        r2 = min(first + 2, stop - 1)
        steps = ends[r0, 0]  # the same for the block's rows
        cut0, cut1, cut2 = ends[r0, 1], ends[r1, 1], ends[r2, 1]
        e0, e1, e2 = ends[r0, 2], ends[r1, 2], ends[r2, 2]
        below = min(cut0, cut1, cut2)
        _zero_unreached(table, n, 0, steps, e0)
        _zero_unreached(table, n, 1, steps, e1)
        _zero_unreached(table, n, 2, steps, e2)
        c0 = _power(x_padded[e0] - x_padded[steps - e0], p, square)  # the cost after the last step
        c1 = _power(x_padded[e1] - x_padded[steps - e1], p, square)
        c2 = _power(x_padded[e2] - x_padded[steps - e2], p, square)
        i0, i1, i2 = e0 * WIDTH, e1 * WIDTH, e2 * WIDTH
        su0 = su1 = su2 = 0.0
        sv0 = sv1 = sv2 = 0.0
        for w in range((steps + WORD - 1) // WORD - 1, -1, -1):
            lo = w * WORD
            hi = min(lo + WORD, steps)
            mid = min(max(below, lo), hi)
            w0, w1, w2 = words[r0, w], words[r1, w], words[r2, w]
            v_row = (n - hi + 1) * WIDTH
            for j in range(hi - 1, mid - 1, -1):  # where some lane may be past its cutoff
                w0, i0, c0, su0, sv0 = _unmerge_step(table, 0, w0, j, v_row, i0, cut0, c0, su0, sv0, p, square, True)
                w1, i1, c1, su1, sv1 = _unmerge_step(table, 1, w1, j, v_row, i1, cut1, c1, su1, sv1, p, square, True)
                w2, i2, c2, su2, sv2 = _unmerge_step(table, 2, w2, j, v_row, i2, cut2, c2, su2, sv2, p, square, True)
                v_row += WIDTH
            for j in range(mid - 1, lo - 1, -1):
                w0, i0, c0, su0, sv0 = _unmerge_step(table, 0, w0, j, v_row, i0, cut0, c0, su0, sv0, p, square, False)
                w1, i1, c1, su1, sv1 = _unmerge_step(table, 1, w1, j, v_row, i1, cut1, c1, su1, sv1, p, square, False)
                w2, i2, c2, su2, sv2 = _unmerge_step(table, 2, w2, j, v_row, i2, cut2, c2, su2, sv2, p, square, False)
                v_row += WIDTH
        s0, s1, s2 = scale[r0], scale[r1], scale[r2]
        for i in range(n):
            row = i * WIDTH
            grad_a[r2, i] = table[row + 2] * s2
            grad_a[r1, i] = table[row + 1] * s1
            grad_a[r0, i] = table[row] * s0
            row = (n - i) * WIDTH + V_COL
            grad_b[r2, i] = table[row + 2] * s2
            grad_b[r1, i] = table[row + 1] * s1
            grad_b[r0, i] = table[row] * s0


@numba.njit(cache=_CACHE)
def _chunks(rows, threads):
    """One contiguous chunk of whole ``LANES``-row blocks per thread: ``(chunks, rows per chunk)``."""
    chunks = max(1, min(threads, (rows + LANES - 1) // LANES))
    per_chunk = -(-rows // (chunks * LANES)) * LANES
    return chunks, per_chunk


@numba.njit(cache=_CACHE)
def _record(rows, n, record):
    """Empty ``(totals, words, ends)``: see :func:`wasserstein_rows`."""
    recorded = rows if record else 0
    totals = np.empty(rows, dtype=np.float64)
    words = np.empty((recorded, (2 * n + WORD - 1) // WORD), dtype=np.int64)
    ends = np.empty((recorded, 3), dtype=np.int64)
    return totals, words, ends


@numba.njit(parallel=True, cache=_CACHE)
def _forward_parallel(x, a, b, p, cutoff, threads, record):
    rows, n = a.shape
    x_padded = _padded(x)
    totals, words, ends = _record(rows, n, record)
    chunks, per_chunk = _chunks(rows, threads)
    for chunk in numba.prange(chunks):
        start = chunk * per_chunk
        stop = min(start + per_chunk, rows)
        if start < stop:
            if p == 2.0:  # the paper's order gets its own code: the power is a multiply
                _merge_rows(x_padded, a, b, start, stop, p, True, cutoff, totals, words, ends, record)
            else:
                _merge_rows(x_padded, a, b, start, stop, p, False, cutoff, totals, words, ends, record)
    return totals, words, ends


@numba.njit(cache=_CACHE)
def _forward_serial(x, a, b, p, cutoff, record):
    rows, n = a.shape
    x_padded = _padded(x)
    totals, words, ends = _record(rows, n, record)
    if p == 2.0:
        _merge_rows(x_padded, a, b, 0, rows, p, True, cutoff, totals, words, ends, record)
    else:
        _merge_rows(x_padded, a, b, 0, rows, p, False, cutoff, totals, words, ends, record)
    return totals, words, ends


@numba.njit(parallel=True, cache=_CACHE)
def _backward_parallel(x, words, ends, scale, p, threads, grad_a, grad_b):
    rows = grad_a.shape[0]
    x_padded = _padded(x)
    chunks, per_chunk = _chunks(rows, threads)
    for chunk in numba.prange(chunks):
        start = chunk * per_chunk
        stop = min(start + per_chunk, rows)
        if start < stop:
            if p == 2.0:
                _unmerge_rows(x_padded, words, ends, scale, start, stop, p, True, grad_a, grad_b)
            else:
                _unmerge_rows(x_padded, words, ends, scale, start, stop, p, False, grad_a, grad_b)


@numba.njit(cache=_CACHE)
def _backward_serial(x, words, ends, scale, p, grad_a, grad_b):
    rows = grad_a.shape[0]
    x_padded = _padded(x)
    if p == 2.0:
        _unmerge_rows(x_padded, words, ends, scale, 0, rows, p, True, grad_a, grad_b)
    else:
        _unmerge_rows(x_padded, words, ends, scale, 0, rows, p, False, grad_a, grad_b)


def wasserstein_rows(
    x: np.ndarray, a: np.ndarray, b: np.ndarray, p: float, cutoff: float, threads: int, record: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``W_p^p`` per row ``[rows]`` (float64), and the record that :func:`wasserstein_rows_backward` needs.

    Args:
        x: sorted bin positions ``[n]``, float64.
        a, b: masses ``[rows, n]`` (float32 or float64; C-contiguous), >= 0 and finite.
        p: order, >= 1.
        cutoff: quantile cutoff (``inf`` for none).
        threads: how many chunks of rows to run in parallel (at most numba's thread count); with
            1, numba's thread pool is not used (nor started).
        record: whether to record the merge (else the two record arrays are empty).

    Returns:
        ``(totals [rows], words [rows, ceil(2n / 64)] int64, ends [rows, 3] int64)``:
        ``words[r, w]`` holds steps ``64 w`` to ``64 w + 63`` (or to the last step), one bit each
        (1: the step emitted ``u``'s level), the latest step in the lowest bit;
        ``ends[r] = (steps taken, steps at or below the cutoff, final i)``.
    """
    if threads > 1:
        return _forward_parallel(x, a, b, p, cutoff, threads, record)
    return _forward_serial(x, a, b, p, cutoff, record)


def wasserstein_rows_backward(
    x: np.ndarray,
    words: np.ndarray,
    ends: np.ndarray,
    scale: np.ndarray,
    p: float,
    threads: int,
    grad_a: np.ndarray,
    grad_b: np.ndarray,
) -> None:
    """Write ``scale[r] * ∂W_p^p[r]/∂a[r]`` into ``grad_a`` ``[rows, n]``, likewise ``grad_b``.

    ``x``, ``p`` as given to :func:`wasserstein_rows`, whose ``words`` and ``ends`` (recorded)
    this replays; ``scale`` ``[rows]`` float64; ``grad_a``, ``grad_b`` C-contiguous, of the
    weights' dtype. ``threads`` as in :func:`wasserstein_rows`, and need not be the forward pass's.
    """
    if threads > 1:
        _backward_parallel(x, words, ends, scale, p, threads, grad_a, grad_b)
    else:
        _backward_serial(x, words, ends, scale, p, grad_a, grad_b)
