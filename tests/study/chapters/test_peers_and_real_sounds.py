"""Notebook 06's chapter: its "What this shows" follows its tables (fabricated tables with known answers), its
grids, estimators and voicing sets."""

import math

import pandas as pd
import pytest
import torch

from sot_utils.constants import SAMPLE_RATE, SUCCESS_CENTS
from sot_utils.study.baselines import BASELINES
from sot_utils.study.chapters import peers_and_real_sounds as chapter
from sot_utils.training.data import load_split


def peer_tables():
    synthetic = pd.DataFrame(
        {"estimator": ["SOT-2048 (seed 1)", "yin"], "rpa": [70.0, 80.0], "seconds_per_example": [0.02, 0.01]}
    )
    real = pd.DataFrame(
        {
            "estimator": ["SOT-2048 (seed 1)", "yin", "SOT-2048 (seed 1)", "SOT-2048 (seed 1)"],
            "group": ["all", "all", "piano", "bass"],
            "rpa": [40.0, 99.0, 10.0, 90.0],
        }
    )
    return synthetic, real


# --------------------------------------------------------------------------------------------
# findings


def test_peer_findings_name_the_best_and_the_fastest():
    synthetic, real = peer_tables()
    text = chapter.findings(synthetic, real)
    assert "the best peer, yin, scores 99.0 %" in text and "SOT runs 40.0-40.0 %" in text
    assert "piano (10 % on average)" in text and "yin 10 ms" in text


def test_a_change_in_the_tables_changes_the_text():
    synthetic, real = peer_tables()
    real.loc[1, "rpa"] = 30.0  # yin now below our run
    text = chapter.findings(synthetic, real)
    assert "the best peer, yin, scores 30.0 %" in text and "our best estimator, SOT-2048 (seed 1), 40.0 %" in text
    real.loc[2, "rpa"] = 95.0  # piano is now the best family
    assert "bass (90 % on average), piano (95 %); best on piano (95 %)" in chapter.findings(synthetic, real)


def test_the_loudest_white_noise_is_reported():
    synthetic, real = peer_tables()
    sweep = pd.DataFrame(
        {
            "estimator": ["a", "b", "a", "b", "a"],
            "perturbation": ["white noise"] * 4 + ["vibrato"],
            "level": [40.0, 40.0, 0.0, 0.0, 100.0],
            "rpa": [100.0, 100.0, 12.0, 34.0, 0.0],
        }
    )
    assert "- **White noise at 0 dB SNR**: b 34 %, a 12 %." in chapter.findings(synthetic, real, sweep)


def test_remedy_lines_only_where_the_floor_changes_the_fits():
    synthetic, real = peer_tables()
    remedy = pd.DataFrame(
        {
            "loss": ["SOT", "SOT + floor", "MSS"] * 3,
            "color": ["white"] * 9,
            "snr_db": [math.inf] * 3 + [10.0] * 3 + [0.0] * 3,
            "success_rate": [100.0, 50.0, 100.0, 80.0, 80.0, 90.0, 25.0, 75.0, 50.0],
        }
    )
    text = chapter.findings(synthetic, real, remedy=remedy)
    assert f"white noise at 0 dB: SOT fits within {SUCCESS_CENTS:g} cents 25 % -> 75 % with the remedy." in text
    assert "at 10 dB" not in text and "at inf" not in text  # no change at 10 dB; clean targets left out
    with pytest.raises(ValueError, match="first two losses"):
        chapter.findings(synthetic, real, remedy=remedy[remedy["loss"] == "SOT"])


def test_the_voicing_line_reads_the_voicing_table():
    synthetic, real = peer_tables()
    table = pd.DataFrame(
        {
            "set": ["synthetic test tones", "real instrument notes", "white noise", "DC offset"],
            "kind": ["tones", "tones", "not tones", "not tones"],
            "voiced (%)": [100.0, 97.5, 0.0, 25.0],
        }
    )
    text = chapter.findings(synthetic, real, voicing_table=table)
    assert "**Voicing**: 2.5 % of the tones marked unvoiced (synthetic and real); 25.0 % of silence" in text
    errors = chapter.voicing_errors(table).splitlines()
    assert errors[0] == "voiced tones marked unvoiced (false negatives): synthetic 0.0 %, real notes 2.5 %"
    assert errors[1] == (
        "sounds that are not trained tones marked voiced (false positives): 25.0 % at most (white noise, DC offset)"
    )


def test_findings_refuse_tables_it_cannot_read():
    synthetic, real = peer_tables()
    with pytest.raises(ValueError, match="`real` lacks the columns"):
        chapter.findings(synthetic, real.drop(columns="group"))


# --------------------------------------------------------------------------------------------
# grids and small helpers


def test_the_grids():
    assert chapter.grid(True) is chapter.QUICK and chapter.grid(False) is chapter.FULL
    assert chapter.FULL.n_tones is None and chapter.FULL.sweep_levels is None  # the whole split, every level
    assert chapter.QUICK.n_slow < chapter.FULL.n_slow
    with pytest.raises(ValueError, match="quick"):
        chapter.grid(1)


def test_estimator_names_mark_our_runs():
    assert chapter.estimator_name("SOT-2048", 42) == "SOT-2048 (seed 42)"


def test_notes_summary():
    notes = {"f0_hz": torch.tensor([55.0, 440.4, 1000.0]), "family_name": ["piano", "bass", "piano"]}
    assert chapter.notes_summary(notes) == "3 notes, 2 families, f0 55-1000 Hz"


def test_remedy_losses():
    losses = chapter.remedy_losses(3.0)
    assert list(losses) == ["SOT (log f, complete frames)", "SOT + noise floor (3 x median)", "MSS (linear, L1)"]
    with pytest.raises(ValueError, match="noise_floor"):
        chapter.remedy_losses(0.0)


def test_representative_runs_budget_is_checked(tmp_path):
    with pytest.raises(ValueError, match="budget"):
        chapter.representative_runs(tmp_path, 0)


# --------------------------------------------------------------------------------------------
# the tables, with made-up estimators


def oracle(reference: torch.Tensor):
    """Reads the reference back for the first tones given."""
    return lambda audio: reference[: audio.shape[0]]


def test_peers_on_the_synthetic_split_run_the_slow_peers_on_fewer_tones(tiny_data):
    test = load_split(tiny_data, "test")
    estimators = {
        "ours (seed 1)": oracle(test.f0_hz),
        "crepe-full": oracle(test.f0_hz),
        "deaf": lambda a: 1.0 + 0 * a[:, 0],
    }
    table = chapter.compute_peers_synthetic(estimators, test, quick=True)
    assert list(table["estimator"]) == ["ours (seed 1)", "deaf", "crepe-full"]  # the slow peers last
    assert list(table["n_tones"]) == [min(len(test), chapter.QUICK.n_tones)] * 2 + [chapter.QUICK.n_slow]
    assert list(table["rpa"]) == [100.0, 0.0, 100.0] and "group" not in table


def test_peers_on_real_notes_per_family():
    f0 = torch.tensor([100.0, 200.0, 300.0, 400.0, 500.0, 600.0])
    notes = {"audio": torch.zeros(6, 4096), "f0_hz": f0, "family_name": ["piano", "bass"] * 3}

    def half_right(audio):  # right on the even notes, an octave high on the odd ones
        return torch.where(torch.arange(len(audio)) % 2 == 0, f0, 2 * f0)

    table = chapter.compute_peers_real({"ours (seed 1)": half_right, "crepe-full": oracle(f0[::2])}, notes, True)
    ours = table[table["estimator"] == "ours (seed 1)"].set_index("group")["rpa"]
    assert ours.to_dict() == {"all": 50.0, "piano": 100.0, "bass": 0.0}
    slow = table[table["estimator"] == "crepe-full"]
    assert list(slow["group"]) == ["all"] and slow["n_tones"].item() == 3  # every 2nd note


def test_robustness_needs_the_sweep_peers(tiny_data):
    with pytest.raises(ValueError, match="lacks the peers"):
        chapter.compute_robustness({}, {"pesto": None}, tiny_data, quick=True)


def test_voicing_sets_and_their_decision():
    tones = torch.sin(2 * math.pi * 220.0 * torch.arange(4096) / SAMPLE_RATE).repeat(3, 1)
    sets = chapter.voicing_sets(tones, 0.5 * tones, quick=True)
    again = chapter.voicing_sets(tones, 0.5 * tones, quick=True)
    assert all(torch.equal(sets[key], again[key]) for key in sets)  # one seeded generator
    assert [kind for kind, _ in sets] == ["tones"] * 2 + ["not tones"] * 7
    names = [name for _, name in sets]
    assert "sines below 37.8 Hz (25-35 Hz)" in names and "sines above 2.07 kHz (2.5-7 kHz)" in names
    silence = sets[("not tones", "silence: 1 LSB of noise")] * 32768
    assert silence.shape == (chapter.QUICK.voicing_examples, chapter.VOICING_SAMPLES)
    assert set(silence.unique().tolist()) <= {-1.0, 0.0, 1.0}
    table = chapter.compute_voicing(sets).set_index("set")
    assert table.loc["synthetic test tones", "voiced (%)"] == 100.0 and table.loc["white noise", "voiced (%)"] == 0.0
    assert table.loc["DC offset", "voiced (%)"] == 0.0 and table.loc["synthetic test tones", "unvoiced because"] == "-"
    assert table.loc["synthetic test tones", "examples"] == 3
    with pytest.raises(ValueError, match="empty"):
        chapter.compute_voicing({})


def test_estimators_and_confidence_of_a_tiny_run(tiny_run, one_torch_thread):
    runs = pd.DataFrame({"group": ["MSS-Lin"], "seed": [3], "path": [str(tiny_run / "best.pt")]})
    timed = chapter.timed_estimators(runs)
    slow = [name for name in BASELINES if name in chapter.SLOW_PEERS]
    assert list(timed) == ["MSS-Lin (seed 3)"] + [n for n in BASELINES if n not in slow] + slow
    ours = chapter.sweep_estimators(runs)
    audio = torch.randn(2, 4096, generator=torch.Generator().manual_seed(0))
    assert torch.equal(ours["MSS-Lin (seed 3)"](audio), timed["MSS-Lin (seed 3)"](audio))
    confidence = chapter.compute_confidence(runs, audio, audio)
    assert list(confidence["run"]) == ["MSS-Lin (seed 3)"]
    assert 0.0 <= confidence.loc[0, "confidence on tones (median)"] <= 1.0
