"""Viterbi decoding that skips a sparse transition matrix's zeros, with librosa's exact results.

Used by :mod:`sot_utils.study.baselines` for pYIN (notebooks 06 and 10 score it on thousands of
notes). No notebook teaches it.

**Why.** ``librosa.pyin`` decodes its pitch track with ``librosa.sequence.viterbi`` over
``S = 2 * n_pitch_bins`` states (1,348 for 40-1950 Hz at 0.1 semitone), which forms every
``S x S`` candidate at every frame. pYIN's transition matrix is banded: a pitch moves at most
``transition_width // 2`` bins per frame (20 here, either voicing), so each state has at most
``2 * transition_width`` predecessors with a non-zero probability. On 20-frame notes the dense
decoding took 95 % of pYIN's time (about 0.2 s per note on one core).

**Maths, and why the results are exactly librosa's.** librosa works in log space with a floor,
``log_trans = log(transition + eps)`` (``eps`` the smallest normal float of ``prob``'s dtype), and at
each step sets, for every state ``j``,

    ptr[t, j] = argmax_k (V[t-1, k] + log_trans[k, j]),    V[t, j] = log_prob[t, j] + V[t-1, ptr] + log_trans[ptr, j],

with numpy's argmax (the first index among equal maxima). Split the candidates ``k`` into the
predecessors ``N_j = {k : transition[k, j] > 0}`` and the rest, whose log-transition is the same
constant ``L = log(eps)``. The best of the rest is the first ``k`` outside ``N_j`` in the order of
``V[t-1] + L`` descending, ties by index ascending (one stable sort per step serves every ``j``,
and the walk down it skips at most ``|N_j|`` entries). The best of ``N_j`` is a scan in ascending
``k``. The larger of the two wins, the smaller index on a tie: the same sums in the same floating
point operations, so the same argmax and the same values. Cost per step: ``O(S log S + sum_j |N_j|)``
instead of ``O(S^2)``.

Reference: A. Viterbi, "Error bounds for convolutional codes and an asymptotically optimum decoding
algorithm", IEEE Trans. Inf. Theory 13(2), 1967. Checked against ``librosa.sequence.viterbi`` and
``librosa.pyin`` in ``tests/study/test_sparse_viterbi.py``.
"""

from __future__ import annotations

import contextlib

import numba
import numpy as np

__all__ = ["sparse_transition_viterbi", "librosa_viterbi_replaced"]


@numba.njit(cache=True)
def _decode(log_prob, predecessors, predecessor_log_trans, starts, log_floor, log_p_init):  # pragma: no cover
    """One channel: ``log_prob [T, S]``; column ``j``'s predecessors are
    ``predecessors[starts[j]:starts[j + 1]]`` (ascending) with their log-transitions; every other
    transition is ``log_floor``. Returns ``(states [T] uint16, log probability of the path)``."""
    n_steps, n_states = log_prob.shape
    value = np.empty((n_steps, n_states))
    ptr = np.zeros((n_steps, n_states), dtype=np.uint16)
    value[0] = log_prob[0] + log_p_init
    is_predecessor = np.zeros(n_states, dtype=np.bool_)
    for t in range(1, n_steps):
        previous = value[t - 1]
        floored = previous + log_floor
        order = np.argsort(-floored, kind="mergesort")  # descending, ties by index ascending
        for j in range(n_states):
            start, stop = starts[j], starts[j + 1]
            best_k = -1
            best = 0.0
            for q in range(start, stop):
                k = predecessors[q]
                is_predecessor[k] = True
                candidate = previous[k] + predecessor_log_trans[q]
                if best_k == -1 or candidate > best:
                    best_k = k
                    best = candidate
            for r in range(n_states):
                k = order[r]
                if not is_predecessor[k]:
                    if best_k == -1 or floored[k] > best or (floored[k] == best and k < best_k):
                        best_k = k
                        best = floored[k]
                    break
            for q in range(start, stop):
                is_predecessor[predecessors[q]] = False
            ptr[t, j] = best_k
            value[t, j] = log_prob[t, j] + best
    states = np.zeros(n_steps, dtype=np.uint16)
    states[-1] = np.argmax(value[-1])
    for t in range(n_steps - 2, -1, -1):
        states[t] = ptr[t + 1, states[t + 1]]
    return states, value[-1, states[-1]]


def sparse_transition_viterbi(
    prob: np.ndarray, transition: np.ndarray, *, p_init: np.ndarray | None = None, return_logp: bool = False
):
    """``librosa.sequence.viterbi``'s decoding, the same states and log probabilities, faster for a
    transition matrix with many zeros (module docstring).

    Args:
        prob: ``[..., n_states, n_steps]``, observation likelihoods in [0, 1].
        transition: ``[n_states, n_states]``, rows summing to 1, non-negative; ``transition[i, j]``
            is the probability of moving from state ``i`` to ``j``.
        p_init: ``[n_states]``, the initial distribution (uniform if None).
        return_logp: also return the path's log probability ``[...]``.

    Returns:
        ``states [..., n_steps]`` (uint16), or ``(states, logp)``.
    """
    from librosa.util import tiny

    prob = np.asarray(prob)
    transition = np.asarray(transition)
    if prob.ndim < 2:
        raise ValueError(f"`prob` must be [..., n_states, n_steps], got shape {prob.shape}")
    n_states, n_steps = prob.shape[-2:]
    if transition.shape != (n_states, n_states):
        raise ValueError(f"`transition` must be [n_states, n_states] = {(n_states, n_states)}, got {transition.shape}")
    if np.any(transition < 0) or not np.allclose(transition.sum(axis=1), 1):
        raise ValueError("`transition` must be non-negative with rows summing to 1")
    if np.any(prob < 0) or np.any(prob > 1):
        raise ValueError("`prob` must lie in [0, 1]")
    if n_states > np.iinfo(np.uint16).max + 1:
        raise ValueError(f"at most 65,536 states (uint16 paths, as librosa's), got {n_states}")
    epsilon = tiny(prob)  # librosa's floor, so that the logs are its logs
    if p_init is None:
        p_init = np.full(n_states, 1.0 / n_states)
    else:
        p_init = np.asarray(p_init)
        if p_init.shape != (n_states,) or np.any(p_init < 0) or not np.allclose(p_init.sum(), 1):
            raise ValueError(f"`p_init` must be a distribution over the {n_states} states")
    log_trans = np.log(transition + epsilon)
    log_prob = np.log(prob + epsilon)
    log_p_init = np.log(p_init + epsilon)
    log_floor = float(np.log(np.zeros((), dtype=transition.dtype) + epsilon))
    rows, columns = np.nonzero(transition.T)  # row j of transition.T: the predecessors of state j
    starts = np.zeros(n_states + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_states), out=starts[1:])
    predecessors = columns.astype(np.int64)
    predecessor_log_trans = np.ascontiguousarray(log_trans[predecessors, rows], dtype=np.float64)

    flat = log_prob.reshape(-1, n_states, n_steps)
    states = np.empty((flat.shape[0], n_steps), dtype=np.uint16)
    logp = np.empty(flat.shape[0])
    for channel in range(flat.shape[0]):
        states[channel], logp[channel] = _decode(
            np.ascontiguousarray(flat[channel].T, dtype=np.float64),
            predecessors,
            predecessor_log_trans,
            starts,
            log_floor,
            np.ascontiguousarray(log_p_init, dtype=np.float64),
        )
    states = states.reshape(*prob.shape[:-2], n_steps)
    if return_logp:
        return states, logp.reshape(prob.shape[:-2]) if prob.ndim > 2 else logp  # [1], as librosa's
    return states


@contextlib.contextmanager
def librosa_viterbi_replaced():
    """Inside the block, ``librosa.sequence.viterbi`` is :func:`sparse_transition_viterbi` (so that
    ``librosa.pyin`` decodes with it); restored after, also on error."""
    from librosa import sequence

    original = sequence.viterbi
    sequence.viterbi = sparse_transition_viterbi
    try:
        yield
    finally:
        sequence.viterbi = original
