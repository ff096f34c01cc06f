"""Notebook 04's chapter: the run's config, training and reading it back, the test table, the
per-tone estimates and reconstructions, and the "What this shows" text."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from sot_utils.constants import N_SAMPLES, SAMPLE_RATE
from sot_utils.study.chapters import train_autoencoder as chapter
from sot_utils.training.checkpoint import load_model
from sot_utils.training.config import resolve_config


def test_the_quick_run_is_a_short_run_on_a_tiny_dataset_under_the_results_folder(tmp_path):
    config, data = chapter.run_config(True, "MSS-Lin", 5, budget=999, results_dir=tmp_path, repo=tmp_path)
    work = tmp_path / "train_demo"
    assert data == work / "tiny.pt" and data.exists() and config.data == str(data)
    assert (config.steps, config.batch_size, config.validate_every) == (40, 16, 20)  # the budget is ignored
    assert config.out_dir == str(work / "MSS-Lin-seed5") and chapter.run_name(config) == "MSS-Lin, seed 5"


def test_the_full_run_is_the_shipped_run_at_its_budget(tmp_path):
    shipped = resolve_config("SOT-2048", 123)
    (tmp_path / shipped.data).parent.mkdir(parents=True)
    (tmp_path / shipped.data).touch()  # present: nothing is generated
    config, data = chapter.run_config(False, "SOT-2048", 123, budget=None, results_dir=tmp_path, repo=tmp_path)
    assert config == shipped and data == tmp_path / shipped.data
    config, _ = chapter.run_config(False, "SOT-2048", 123, budget=1100, results_dir=tmp_path, repo=tmp_path)
    assert config.steps == 1100 and config.out_dir == shipped.out_dir


def test_run_config_refuses_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="quick"):
        chapter.run_config("yes", "MSS-Lin", 5, None, tmp_path, tmp_path)
    with pytest.raises(ValueError, match="seed"):
        chapter.run_config(True, "MSS-Lin", 5.0, None, tmp_path, tmp_path)


def test_read_log_keeps_the_rows_up_to_the_budget(tmp_path):
    pd.DataFrame({"step": [20, 40, 60], "train_loss": [3.0, 2.0, 1.0]}).to_csv(tmp_path / "log.csv", index=False)
    assert chapter.read_log(tmp_path, 40)["step"].tolist() == [20, 40]
    with pytest.raises(ValueError, match="steps"):
        chapter.read_log(tmp_path, 0)


def test_a_trained_run_gives_one_test_row_and_per_tone_estimates(tiny_data, tmp_path, one_torch_thread):
    config = resolve_config(
        "MSS-Lin",
        3,
        steps=2,
        batch_size=8,
        validate_every=2,
        keep_best_every=0,
        data=str(tiny_data),
        out_dir=str(tmp_path / "run"),
    )
    run_dir = chapter.train_run(config, tmp_path)
    assert run_dir == tmp_path / "run" and (run_dir / "best.pt").exists()
    assert chapter.read_log(run_dir, 2)["step"].tolist() == [2]
    table = chapter.test_table(run_dir / "best.pt", tiny_data, "MSS-Lin, seed 3")
    assert len(table) == 1 and table.loc[0, "run"] == "MSS-Lin, seed 3" and table.loc[0, "checkpoint step"] == 2
    assert 0.0 <= table.loc[0, "rpa"] <= table.loc[0, "rca"] <= 100.0
    model, _ = load_model(run_dir / "best.pt")
    audio, reconstructions, tones = chapter.predict_tones(model, tiny_data)
    assert audio.shape == reconstructions.shape == (len(tones), N_SAMPLES)
    expected = 1200 * np.log2(tones["estimate_hz"].to_numpy(np.float64) / tones["f0_hz"].to_numpy(np.float64))
    assert np.allclose(tones["cents"], expected, atol=1e-2)
    with pytest.raises(ValueError, match="None"):
        chapter.test_table(None, tiny_data, "x")


def test_the_picks_are_the_lowest_middle_and_highest_f0():
    tones = pd.DataFrame({"f0_hz": [300.0, 100.0, 200.0, 400.0]})
    assert chapter.reconstruction_picks(tones) == [1, 0, 3]
    with pytest.raises(ValueError, match="empty"):
        chapter.reconstruction_picks(tones.iloc[:0])


def test_the_average_spectrum_of_a_sine_peaks_at_its_frequency():
    time = torch.arange(N_SAMPLES) / SAMPLE_RATE
    sines = torch.stack([torch.sin(2 * math.pi * f0 * time) for f0 in (500.0, 2000.0)])
    frequencies, target, estimate = chapter.average_spectra(sines, sines.flip(0))
    assert frequencies.shape == (chapter.SPECTRUM_N_FFT // 2 + 1,) and target.shape == (2, len(frequencies))
    assert frequencies[target.argmax(axis=1)].tolist() == [500.0, 2000.0]
    assert frequencies[estimate.argmax(axis=1)].tolist() == [2000.0, 500.0]
    with pytest.raises(ValueError, match="target"):
        chapter.average_spectra(sines[0], sines)


def made_up(cents, **metrics):
    test = pd.DataFrame(
        [
            {
                "run": "SOT-2048, seed 123",
                "checkpoint step": 4400,
                "lsd": 31.25,
                "rpa": 87.54,
                "rca": 90.06,
                "octave_difference": -0.123,
                "offset_octaves": 0.004,
                "log_f0_correlation": 0.987,
                "dominant_harmonic": 2,
                "dominant_share": 0.414,
                **metrics,
            }
        ]
    )
    return test, pd.DataFrame({"cents": cents})


def test_findings_read_their_numbers_from_the_tables():
    test, tones = made_up([0.0, 49.0, 1200.0, -1190.0, 600.0])
    text = chapter.findings(test, tones, steps=9900, quick=False)
    assert text.startswith("**SOT-2048, seed 123**, checkpoint of step 4,400 (lowest validation LSD up to\n9,900 steps")
    assert "on the 5 test tones" in text
    assert "on 87.5 % of the frames (RPA) and 90.1 % folding octaves (RCA)" in text
    assert "LSD of 31.2 dB² and a mean octave error of -0.12" in text
    assert "40 % of the estimates are within 50 cents and 40 %\n  exactly an octave off" in text
    assert "median offset is +0.00 octave" in text and "truth 0.99" in text
    assert "partial 2 carries the most energy (41 % of the rendered energy" in text
    assert "Quick mode" not in text


def test_findings_follow_a_change_in_the_tables():
    test, tones = made_up([0.0, 0.0, 0.0, 300.0], dominant_harmonic=8, dominant_share=0.9)
    text = chapter.findings(test, tones, steps=40, quick=True)
    assert text.startswith("Quick mode: 40 steps on a tiny dataset")
    assert "75 % of the estimates are within 50 cents and 0 %" in text and "on the 4 test tones" in text
    assert "partial 8 carries the most energy (90 %" in text


def test_findings_refuse_bad_tables():
    test, tones = made_up([0.0])
    with pytest.raises(ValueError, match="one row"):
        chapter.findings(pd.concat([test, test]), tones, 40, True)
    with pytest.raises(ValueError, match="empty"):
        chapter.findings(test, tones.iloc[:0], 40, True)
    with pytest.raises(ValueError, match="quick"):
        chapter.findings(test, tones, 40, "false")
