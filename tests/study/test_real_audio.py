"""Scoring estimators on real-note sets: per-note errors, summaries per family and octave, the model table."""

import numpy as np
import pandas as pd
import pytest
import torch

from sot_utils.study.real_audio import (
    PEERS,
    model_table,
    note_predictions,
    octave_name,
    summarize_predictions,
)


def _notes():
    midi = torch.tensor([36, 48, 60, 72, 40, 52])
    return {
        "audio": torch.zeros(6, 4096),
        "f0_hz": 440.0 * 2 ** ((midi.double() - 69) / 12),
        "midi_note": midi,
        "family_name": ["Brass", "Brass", "Organ", "Organ", "Brass", "Organ"],
        "instrument": ["trombone"] * 2 + ["church organ"] * 2 + ["tuba", "reed organ"],
    }


def test_octave_names_follow_scientific_pitch_notation():
    assert octave_name([60, 59, 36, 21]).tolist() == ["C4-B4", "C3-B3", "C2-B2", "C0-B0"]


def test_note_predictions_measure_each_error_in_cents():
    notes = _notes()
    truth = notes["f0_hz"]

    def octave_up_on_brass(audio):
        return truth * torch.tensor([2.0, 2.0, 1.0, 1.0, 2.0, 1.0])

    predictions = note_predictions(
        {"exact": lambda audio: truth, "up": octave_up_on_brass}, notes, "set", progress=False
    )
    assert len(predictions) == 12
    exact, up = predictions[predictions.estimator == "exact"], predictions[predictions.estimator == "up"]
    assert np.allclose(exact["error_cents"], 0)
    assert np.allclose(up["error_cents"].to_numpy(), [1200, 1200, 0, 0, 1200, 0])
    assert set(predictions["test_set"]) == {"set"} and predictions["octave"].iloc[0] == "C2-B2"


def test_summaries_split_by_family_and_octave_and_tell_the_side_of_the_misses():
    notes = _notes()
    truth = notes["f0_hz"]
    factor = torch.tensor([2.0, 0.5, 1.0, 1.0, 2.0, 1.0])  # brass misses: two above, one below
    predictions = note_predictions({"e": lambda audio: truth * factor}, notes, "set", progress=False)
    scores = summarize_predictions(predictions).set_index(["by", "group"])
    assert scores.loc[("all", "all"), "rpa"] == pytest.approx(50.0)
    assert scores.loc[("family", "Organ"), "rpa"] == 100 and np.isnan(scores.loc[("family", "Organ"), "misses_above"])
    assert scores.loc[("family", "Brass"), "rpa"] == 0
    assert scores.loc[("family", "Brass"), "misses_above"] == pytest.approx(200 / 3)
    assert scores.loc[("family", "Brass"), "rca"] == 100  # octave errors keep the chroma
    assert scores.loc[("octave", "C2-B2"), "n_notes"] == 2


def test_the_model_table_has_a_row_per_model_seed_and_set_with_empty_seeds_for_peers():
    notes = _notes()
    truth = notes["f0_hz"]
    predictions = pd.concat(
        [
            note_predictions({"ours (seed 1)": lambda a: truth, "yin": lambda a: truth}, notes, s, progress=False)
            for s in ("a", "b")
        ]
    )
    table = model_table(summarize_predictions(predictions), {"ours (seed 1)": ("ours", 1), "yin": ("yin", None)})
    assert table.columns.tolist()[:5] == ["model", "seed", "test_set", "rpa", "rca"]
    assert len(table) == 4 and table["seed"].isna().sum() == 2
    with pytest.raises(ValueError, match="no \\(model, seed\\)"):
        model_table(summarize_predictions(predictions), {"yin": ("yin", None)})


def test_bad_inputs_are_named():
    notes = _notes()
    with pytest.raises(ValueError, match="lacks \\['instrument'\\]"):
        note_predictions({"e": lambda a: notes["f0_hz"]}, {k: v for k, v in notes.items() if k != "instrument"}, "s")
    with pytest.raises(ValueError, match="one f0 per note"):
        note_predictions({"e": lambda a: notes["f0_hz"][:3]}, notes, "s", progress=False)
    with pytest.raises(ValueError, match="empty"):
        note_predictions({}, notes, "s")


def test_the_four_peers():
    assert PEERS == ("pesto", "crepe-tiny", "yin", "pyin")
