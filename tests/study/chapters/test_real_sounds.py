"""The chapter of notebook 10 (sot_utils.study.chapters.real_sounds): the models found, the test sets,
the findings read from small hand-made tables, and the figures."""

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

from sot_utils.study.chapters import real_sounds as chapter

matplotlib.use("Agg")


def test_model_runs_lists_the_recipe_then_every_real_sounds_run(tmp_path):
    for folder in ("checkpoints/remedies/recipe/MSS-Lin/42", "checkpoints/real-sounds/real-corpus/MSS-Lin-recipe/7"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "best.pt").write_bytes(b"")
    runs = chapter.model_runs(tmp_path)
    assert runs["model"].tolist() == [chapter.SYNTHETIC_MODEL, "MSS-Lin-recipe (real-corpus)"]
    assert runs["seed"].tolist() == [42, 7]
    assert runs["path"].iloc[1] == tmp_path / "checkpoints/real-sounds/real-corpus/MSS-Lin-recipe/7/best.pt"


def test_synthetic_notes_are_the_test_split_with_the_nearest_midi_note(tiny_data):
    notes = chapter.synthetic_notes(tiny_data, limit=3)
    assert notes["audio"].shape == (3, 4096) and notes["family_name"] == ["synthetic"] * 3
    expected = np.round(69 + 12 * np.log2(notes["f0_hz"].double().numpy() / 440))
    assert notes["midi_note"].tolist() == expected.astype(int).tolist()


def test_listening_examples_are_short_excerpts_of_the_corpus_and_the_rich_tones(timgm6mb):
    examples = chapter.listening_examples()
    assert len(examples) == 8 and all(audio.shape == (4096,) for audio in examples.values())
    titles = list(examples)
    assert titles[0].startswith("corpus:") and "from note-on" in titles[0]
    assert titles[-1].startswith("rich tone:")


def _tables(real_rpa=None):
    rows = []
    for test_set, n in (("synthetic", 64), ("freepats", 132)):
        rows += [
            {"model": chapter.SYNTHETIC_MODEL, "seed": s, "test_set": test_set, "rpa": r, "rca": r, "n_notes": n}
            for s, r in ((42, 83.0), (123, 84.5))
        ]
        rows += [
            {"model": p, "seed": None, "test_set": test_set, "rpa": r, "rca": r, "n_notes": n}
            for p, r in (("pesto", 76.5), ("pyin", 93.9))
        ]
        for seed, rpa in (real_rpa or {}).items():
            rows.append(
                {
                    "model": "MSS-Lin-recipe (real-corpus)",
                    "seed": seed,
                    "test_set": test_set,
                    "rpa": rpa,
                    "rca": rpa,
                    "n_notes": n,
                }
            )
    table = pd.DataFrame(rows)
    table["seed"] = pd.array(table["seed"], dtype="Int64")
    scores = pd.DataFrame(
        [
            {
                "model": chapter.SYNTHETIC_MODEL,
                "test_set": "freepats",
                "by": "all",
                "group": "all",
                "rpa": 83.0,
                "misses_above": 90.0,
            },
            {
                "model": chapter.SYNTHETIC_MODEL,
                "test_set": "freepats",
                "by": "family",
                "group": "brass",
                "rpa": 60.0,
                "misses_above": 90.0,
            },
            {
                "model": chapter.SYNTHETIC_MODEL,
                "test_set": "freepats",
                "by": "family",
                "group": "organ",
                "rpa": 70.0,
                "misses_above": 90.0,
            },
            {
                "model": chapter.SYNTHETIC_MODEL,
                "test_set": "freepats",
                "by": "octave",
                "group": "C2-B2",
                "rpa": 55.0,
                "misses_above": 90.0,
            },
            {
                "model": chapter.SYNTHETIC_MODEL,
                "test_set": "freepats",
                "by": "octave",
                "group": "C4-B4",
                "rpa": 99.0,
                "misses_above": 90.0,
            },
        ]
    )
    return table, scores


def test_findings_read_every_number_from_the_tables():
    table, scores = _tables()
    text = chapter.findings(table, scores)
    assert "**freepats** (132 notes): the synthetic-trained recipe reads 83.0-84.5 % over its 2 seeds" in text
    assert "the peers pesto 76.5 %, pyin 93.9 %" in text
    assert "90 % of its misses read above the truth" in text
    assert "its weakest families are brass (60 %), organ (70 %), its weakest octave C2-B2 (55 %)" in text
    assert "No model trained on real sounds yet" in text


def test_findings_judge_the_goal_for_real_trained_runs():
    met = chapter.findings(*_tables({1: 95.0, 2: 94.0}))
    assert "**MSS-Lin-recipe (real-corpus)** on FreePats: 94.0-95.0 % over 2 seeds" in met and "is met" in met
    missed = chapter.findings(*_tables({1: 95.0, 2: 80.0}))
    assert "is not met" in missed and "No model trained" not in missed


def test_figures_draw_one_panel_per_real_note_set():
    scores = pd.DataFrame(
        [
            {"model": m, "test_set": t, "by": by, "group": g, "rpa": float(r)}
            for m in ("ours", "pesto")
            for t in ("timgm6mb", "freepats")
            for by, g, r in (
                ("family", "brass", 50),
                ("family", "organ", 90),
                ("octave", "C2-B2", 40),
                ("octave", "C3-B3", 95),
            )
        ]
    )
    families = chapter.plot_family_accuracy(scores)
    assert [ax.get_title() for ax in families.axes[:2]] == [
        "timgm6mb: RPA per family (%)",
        "freepats: RPA per family (%)",
    ]
    octaves = chapter.plot_octave_accuracy(scores)
    assert len(octaves.axes[0].get_lines()) == 2  # one line per model
    assert octaves.axes[0].get_lines()[0].get_ydata().tolist() == [40.0, 95.0]


def test_test_sets_refuse_a_bad_mode(tmp_path):
    with pytest.raises(ValueError, match="quick"):
        chapter.test_sets(tmp_path, quick="yes")


def test_quick_mode_keeps_every_third_freepats_note():
    notes = {"audio": torch.zeros(7, 4), "family_name": list("abcdefg"), "sample_rate": 16000, "meta": {}}
    kept = chapter._every(notes, chapter.QUICK_FREEPATS_STRIDE)
    assert kept["audio"].shape == (3, 4) and kept["family_name"] == ["a", "d", "g"] and kept["sample_rate"] == 16000
