"""The real-note training corpus: a plan split by instrument, drawn reproducibly, stored as a dataset."""

import math

import pytest
import torch

from sot_utils.study.real_corpus import (
    FAMILY_RANGES,
    NOTES_PER_PROGRAM,
    SUSTAIN_OFFSET_S,
    TEST_PROGRAMS,
    VELOCITY_RANGE,
    corpus_plan,
    generate_real_corpus,
    validation_programs,
)
from sot_utils.study.real_notes import DEFAULT_INSTRUMENTS, gm_family
from sot_utils.training.data import SPLITS, cached_features, load_split, save_dataset


def test_no_instrument_is_in_two_splits_and_the_test_split_is_the_real_note_set():
    plan = corpus_plan(seed=0)
    programs = {name: set(plan["program"][plan["split"] == k].tolist()) for k, name in enumerate(SPLITS)}
    assert programs["test"] == {i.program for i in DEFAULT_INSTRUMENTS} == set(TEST_PROGRAMS)
    assert not programs["train"] & programs["val"] and not programs["train"] & programs["test"]
    assert not programs["val"] & programs["test"]
    assert sorted(programs["val"]) == list(validation_programs(0))
    assert sorted(gm_family(p) for p in programs["val"]) == sorted(FAMILY_RANGES)  # one per pitched family
    assert programs["train"] | programs["val"] | programs["test"] == set(range(112))  # every pitched program
    assert len(plan["program"]) == 112 * NOTES_PER_PROGRAM


def test_draws_stay_in_their_ranges_and_repeat_with_the_seed():
    plan = corpus_plan(seed=3)
    for program, midi in zip(plan["program"].tolist(), plan["midi_note"].tolist()):
        low, high = FAMILY_RANGES[gm_family(program)]
        assert low <= midi <= high
    assert VELOCITY_RANGE[0] <= int(plan["velocity"].min()) and int(plan["velocity"].max()) <= VELOCITY_RANGE[1]
    assert (
        SUSTAIN_OFFSET_S[0]
        <= float(plan["sustain_offset_s"].min())
        <= float(plan["sustain_offset_s"].max())
        <= SUSTAIN_OFFSET_S[1]
    )
    again = corpus_plan(seed=3)
    assert all(torch.equal(plan[key], again[key]) for key in plan)
    assert not torch.equal(plan["midi_note"], corpus_plan(seed=4)["midi_note"])
    assert validation_programs(0) != validation_programs(1) or validation_programs(0) != validation_programs(2)


def test_the_quick_corpus_trains_like_a_dataset_with_pitch_labels_only(tmp_path, timgm6mb):
    corpus = generate_real_corpus(timgm6mb, quick=True, progress=False)
    examples, meta = corpus["examples"], corpus["meta"]
    assert meta["kind"] == "real corpus" and meta["dropped"] + meta["size"] == 2 * 3 * 2 * len(SPLITS)
    assert torch.isnan(examples["amplitudes"]).all() and (examples["n_harmonics"] == -1).all()
    assert set(examples["offset_s"][::2].tolist()) == {0.0}  # each note's onset excerpt first
    midi = examples["midi_note"].double()
    assert torch.allclose(examples["f0_hz"].double(), 440 * 2 ** ((midi - 69) / 12), rtol=1e-6)
    path = tmp_path / "corpus.pt"
    save_dataset(corpus, path)
    split = load_split(path, "test")
    assert split.audio.shape[1] == 4096 and math.isclose(float(split.audio.abs().max()), 0.9, rel_tol=1e-5)
    audio, cqt, labels = cached_features(path, "train", progress=False)
    assert cqt.shape == (len(audio), 16, 285) and torch.isfinite(cqt).all()
    assert set(labels) >= {"f0_hz", "amplitudes"}
    same = generate_real_corpus(timgm6mb, quick=True, progress=False)
    assert torch.equal(same["examples"]["audio"], examples["audio"])  # the same seed renders the same corpus


def test_a_bad_seed_is_named():
    with pytest.raises(ValueError, match="seed"):
        validation_programs(-1)


def test_render_note_plays_the_velocity_it_is_given(timgm6mb):
    from sot_utils.study.real_notes import render_note

    soft, loud = (render_note(timgm6mb, 73, 72, 4800, velocity=v).abs().max() for v in (40, 127))
    assert loud > 1.5 * soft
    with pytest.raises(ValueError, match="velocity"):
        render_note(timgm6mb, 73, 72, 4800, velocity=128)
