"""A checkpoint's outputs on a split are computed once and shared (training/evaluate.py).

Oracle: the same functions with the cache emptied, recomputing from the checkpoint."""

import os
import shutil

import pandas as pd
import pytest
import torch

from sot_utils.training import evaluate
from sot_utils.training.evaluate import (
    EVALUATION_CACHE_ENV,
    accuracy_by_partials,
    evaluate_checkpoint,
    f0_predictions,
    harmonic_shares,
)


@pytest.fixture
def fresh_memory(monkeypatch):
    monkeypatch.setattr(evaluate, "_MEMORY", {})
    monkeypatch.delenv(EVALUATION_CACHE_ENV, raising=False)


def _refuse_to_predict(*args, **kwargs):
    raise AssertionError("predicted again: the outputs were not shared")


def test_every_view_of_a_checkpoint_predicts_it_once(tiny_run, tiny_data, fresh_memory, monkeypatch):
    path = tiny_run / "best.pt"
    metrics = evaluate_checkpoint(path, tiny_data, tracking=True)
    computed = f0_predictions(path, tiny_data), harmonic_shares(path, tiny_data), accuracy_by_partials(path, tiny_data)
    monkeypatch.setattr(evaluate, "_MEMORY", {})
    monkeypatch.setattr(evaluate, "_predict_split", _refuse_to_predict)
    with pytest.raises(AssertionError, match="predicted again"):
        f0_predictions(path, tiny_data)  # nothing kept: computed again
    monkeypatch.undo()
    monkeypatch.setattr(evaluate, "_MEMORY", {})
    monkeypatch.delenv(EVALUATION_CACHE_ENV, raising=False)
    evaluate_checkpoint(path, tiny_data, tracking=True)
    monkeypatch.setattr(evaluate, "_predict_split", _refuse_to_predict)
    assert evaluate_checkpoint(path, tiny_data, tracking=True) == metrics
    assert set(evaluate_checkpoint(path, tiny_data)) == {"lsd", "rpa", "rca", "octave_difference", "mss", "mse"}
    pd.testing.assert_frame_equal(f0_predictions(path, tiny_data), computed[0])
    torch.testing.assert_close(harmonic_shares(path, tiny_data), computed[1])
    pd.testing.assert_frame_equal(accuracy_by_partials(path, tiny_data), computed[2])


def test_the_run_folder_shares_outputs_between_processes(tiny_run, tiny_data, fresh_memory, monkeypatch, tmp_path):
    monkeypatch.setenv(EVALUATION_CACHE_ENV, str(tmp_path / "cache"))
    path = tiny_run / "best.pt"
    metrics = evaluate_checkpoint(path, tiny_data, tracking=True)
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 1
    monkeypatch.setattr(evaluate, "_MEMORY", {})  # another process: only the folder is shared
    monkeypatch.setattr(evaluate, "_predict_split", _refuse_to_predict)
    assert evaluate_checkpoint(path, tiny_data, tracking=True) == metrics
    assert len(f0_predictions(path, tiny_data)) == 4  # the test split of the 40 examples


def test_a_changed_checkpoint_or_another_limit_is_predicted_again(tiny_run, tiny_data, fresh_memory, tmp_path):
    first = evaluate_checkpoint(tiny_run / "best.pt", tiny_data, tracking=True)
    copy = tmp_path / "copy.pt"
    shutil.copy(tiny_run / "last.pt", copy)
    calls = []
    original = evaluate._predict_split

    def counted(*args, **kwargs):
        calls.append(args[0])
        return original(*args, **kwargs)

    evaluate._predict_split, saved = counted, evaluate._predict_split
    try:
        evaluate_checkpoint(copy, tiny_data, tracking=True)
        evaluate_checkpoint(tiny_run / "best.pt", tiny_data, tracking=True, limit=3)
        assert len(calls) == 2
        assert evaluate_checkpoint(tiny_run / "best.pt", tiny_data, tracking=True) == first
        assert len(calls) == 2
        shutil.copy(tiny_run / "best.pt", copy)  # the same path, rewritten: another checkpoint
        os.utime(copy, ns=(10**18, 10**18))
        assert evaluate_checkpoint(copy, tiny_data, tracking=True) == first
        assert len(calls) == 3
        with pytest.raises(FileNotFoundError):  # nothing to share: loading says why
            evaluate_checkpoint(tmp_path / "nope.pt", tiny_data)
    finally:
        evaluate._predict_split = saved
