"""The sparse Viterbi decoder against librosa's dense one: the same states and log probabilities,
bit for bit, on banded and random sparse matrices (ties included), and the same pYIN tracks."""

import librosa
import numpy as np
import pytest
import torch

from sot_utils.study.baselines import baseline_f0
from sot_utils.study.sparse_viterbi import librosa_viterbi_replaced, sparse_transition_viterbi


def _pyin_transition(n_bins: int, width: int, switch_prob: float = 0.01) -> np.ndarray:
    """pYIN's layout: a triangular local transition, within and across the two voicing blocks."""
    local = librosa.sequence.transition_local(n_bins, width, window="triangle", wrap=False)
    return np.kron(librosa.sequence.transition_loop(2, 1 - switch_prob), local)


def _random_sparse_transition(rng, n_states: int) -> np.ndarray:
    """Rows with a random pattern of zeros (at least one non-zero), normalised to 1."""
    matrix = rng.random((n_states, n_states)) * (rng.random((n_states, n_states)) < 0.3)
    matrix[np.arange(n_states), rng.integers(0, n_states, n_states)] += 0.5
    return matrix / matrix.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("case", range(24))
def test_same_states_and_logp_as_librosa(case):
    rng = np.random.default_rng(case)
    n_steps = int(rng.integers(1, 12))
    n_bins = int(rng.integers(2, 40))
    width = int(rng.integers(1, min(n_bins, 12) + 1))  # librosa's limit: at most n_bins
    if case % 3 == 0:
        transition = _pyin_transition(n_bins, width)
    elif case % 3 == 1:
        transition = librosa.sequence.transition_local(n_bins, width)
    else:
        transition = _random_sparse_transition(rng, int(rng.integers(2, 40)))
    n_states = len(transition)
    prob = rng.random((2, 3, n_states, n_steps))
    prob[prob < 0.5] = 0.0  # many states at the log floor: ties between floored candidates
    if case % 2:
        prob = np.round(prob, 1)  # ties between predecessors too
    p_init = None if case % 4 else rng.dirichlet(np.ones(n_states))
    expected = librosa.sequence.viterbi(prob, transition, p_init=p_init, return_logp=True)
    got = sparse_transition_viterbi(prob, transition, p_init=p_init, return_logp=True)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    assert got[0].dtype == expected[0].dtype and got[1].shape == expected[1].shape
    # one channel: librosa returns logp of shape [1]
    expected = librosa.sequence.viterbi(prob[0, 0], transition, p_init=p_init, return_logp=True)
    got = sparse_transition_viterbi(prob[0, 0], transition, p_init=p_init, return_logp=True)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    assert got[1].shape == expected[1].shape


def test_dense_matrix_and_uniform_observations():
    """No zeros at all (every candidate is a predecessor), and every state tied at every step."""
    rng = np.random.default_rng(1)
    transition = rng.dirichlet(np.ones(7), size=7)
    for prob in (rng.random((7, 5)), np.full((7, 5), 0.5), np.zeros((7, 5))):
        np.testing.assert_array_equal(
            sparse_transition_viterbi(prob, transition), librosa.sequence.viterbi(prob, transition)
        )


def test_pyin_tracks_identical():
    """librosa.pyin with the sparse decoder: the same f0, voicing flags and voicing probabilities."""
    rng = np.random.default_rng(0)
    t = np.arange(4096) / 16000
    audio = np.stack(
        [
            *(np.sin(2 * np.pi * f0 * t) * (1 + 0.3 * np.sin(6 * np.pi * t)) for f0 in (41.0, 110.0, 523.0, 1900.0)),
            sum(np.sin(2 * np.pi * 98.0 * k * t) / k for k in range(1, 9)),
            rng.standard_normal(4096),  # no pitch
            np.zeros(4096),  # silence
            np.sin(2 * np.pi * 220.0 * t) + 0.5 * rng.standard_normal(4096),
        ]
    )
    options = dict(fmin=40.0, fmax=1950.0, sr=16000, frame_length=1024, hop_length=160, center=False, fill_na=None)
    expected = librosa.pyin(audio, **options)
    with librosa_viterbi_replaced():
        got = librosa.pyin(audio, **options)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


def test_replacement_is_restored_and_used_by_the_baseline(monkeypatch):
    original = librosa.sequence.viterbi
    with pytest.raises(RuntimeError), librosa_viterbi_replaced():
        assert librosa.sequence.viterbi is sparse_transition_viterbi
        raise RuntimeError
    assert librosa.sequence.viterbi is original
    calls = []

    def spy(*args, **kwargs):
        calls.append(1)
        return sparse_transition_viterbi(*args, **kwargs)

    monkeypatch.setattr("sot_utils.study.sparse_viterbi.sparse_transition_viterbi", spy)
    tone = torch.sin(2 * torch.pi * 220.0 * torch.arange(4096) / 16000)
    estimate = baseline_f0("pyin", tone, 16000)
    assert calls and abs(1200 * np.log2(float(estimate.f0_hz[0]) / 220.0)) < 20


@pytest.mark.parametrize(
    ("prob", "transition", "message"),
    [
        (np.zeros(3), np.eye(3), "prob"),
        (np.zeros((3, 2)), np.eye(2), r"\[n_states, n_states\]"),
        (np.zeros((2, 2)), np.array([[0.5, 0.6], [0.5, 0.5]]), "rows summing to 1"),
        (np.full((2, 2), 2.0), np.eye(2), r"\[0, 1\]"),
    ],
)
def test_bad_input_names_the_argument(prob, transition, message):
    with pytest.raises(ValueError, match=message):
        sparse_transition_viterbi(prob, transition)
