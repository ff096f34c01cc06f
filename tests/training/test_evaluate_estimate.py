"""Smoke: every group trains 20 steps on a tiny dataset; evaluate and estimate_f0 load the result;
the results table over runs."""

import csv
import io
import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
import torch

import sot_utils
from sot_utils.training.checkpoint import load_model
from sot_utils.training.config import resolve_config
from sot_utils.training.data import generate_harmonic_dataset, save_dataset
from sot_utils.training.estimate import estimate_f0
from sot_utils.training.evaluate import (
    accuracy_by_partials,
    budget_checkpoint,
    choose_budget,
    evaluate_budgets,
    evaluate_checkpoint,
    evaluate_runs,
    f0_predictions,
    find_runs,
    harmonic_shares,
    load_logs,
    metric_at_steps,
    pitch_accuracy_by_partials,
    plateau_step,
    results_markdown,
    results_table,
    training_compute,
    training_progress,
)
from sot_utils.training.loss_config import PAPER_GROUPS
from sot_utils.training.train import train


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    data = root / "tiny.pt"
    save_dataset(generate_harmonic_dataset(seed=2, size=40, progress=False), data)
    runs = {}
    for group in PAPER_GROUPS:
        config = resolve_config(
            group,
            0,
            steps=20,
            batch_size=8,
            validate_every=20,
            keep_best_every=0,
            data=str(data),
            out_dir=str(root / group / "0"),
        )
        runs[group] = train(config, progress=False)
    return data, runs


@pytest.mark.parametrize("group", PAPER_GROUPS)
def test_twenty_steps_per_group_write_checkpoints_that_load(tiny_runs, group):
    data, runs = tiny_runs
    out = runs[group]
    for name in ("best.pt", "last.pt", "log.csv", "config.yaml"):
        assert (out / name).exists(), name
    metrics = evaluate_checkpoint(out / "best.pt", data, "test")
    assert set(metrics) == {"lsd", "rpa", "rca", "octave_difference", "mss", "mse"}
    assert all(math.isfinite(v) for v in metrics.values())
    tone = torch.sin(2 * math.pi * 440.0 * torch.arange(8000) / 16000)
    estimate = estimate_f0(out / "best.pt", tone, 16000)
    assert estimate.f0_hz.shape == (1,) and estimate.f0_frames_hz.shape == (1, 1 + 8000 // 256)
    assert 32.0 < float(estimate.f0_hz) < 7800.0


def test_evaluate_cli_prints_json(tiny_runs):
    data, runs = tiny_runs
    result = subprocess.run(
        [sys.executable, "-m", "sot_utils.training.evaluate", str(runs["SOT-2048"] / "best.pt"), "--data", str(data)],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(result.stdout)
    assert report["split"] == "test" and math.isfinite(report["lsd"])


def test_estimate_handles_rates_and_the_cli_reads_files(tiny_runs, tmp_path):
    _, runs = tiny_runs
    checkpoint = runs["MSS-Lin"] / "best.pt"
    model = load_model(checkpoint)
    n = torch.arange(22050)
    tone = torch.sin(2 * math.pi * 300.0 * n / 44100)
    at_44k = estimate_f0(model, tone, 44100)  # resampled to 16 kHz: 8000 samples
    assert at_44k.f0_frames_hz.shape == (1, 1 + 8000 // 256)
    assert sot_utils.estimate_f0 is estimate_f0
    stereo = torch.stack([tone, tone], dim=1).numpy()
    soundfile.write(tmp_path / "note.wav", stereo, 44100)
    result = subprocess.run(
        [sys.executable, "-m", "sot_utils.training.estimate", str(checkpoint), str(tmp_path / "note.wav")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "note.wav" in result.stdout


def test_estimate_rejects_bad_audio_clearly(tiny_runs):
    _, runs = tiny_runs
    model = load_model(runs["MSS-Lin"] / "best.pt")
    silent = estimate_f0(model, torch.zeros(2, 5000), 16000)  # exact silence: an answer, not an error
    assert not silent.voiced.any() and silent.reason == ["silent", "silent"]
    assert torch.isfinite(silent.f0_hz).all()
    cases = [
        (torch.randn(1, 3000), "too short"),
        (torch.randn(1, 2, 5000), "mono"),
        (torch.randn(5000).numpy(), "torch.Tensor"),
        (torch.full((1, 5000), float("nan")), "NaN"),
    ]
    for audio, message in cases:
        with pytest.raises(ValueError, match=message):
            estimate_f0(model, audio, 16000)
    with pytest.raises(ValueError, match="sample_rate"):
        estimate_f0(model, torch.randn(1, 5000), 0)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model("no/such/checkpoint.pt")


def test_the_clis_report_bad_input_without_a_traceback(tiny_runs, tmp_path):
    data, runs = tiny_runs
    checkpoint = str(runs["MSS-Lin"] / "best.pt")
    n = torch.arange(8000)
    soundfile.write(tmp_path / "tone.wav", torch.sin(2 * math.pi * 300.0 * n / 16000).numpy(), 16000)
    soundfile.write(tmp_path / "silent.wav", np.zeros(8000), 16000)
    soundfile.write(tmp_path / "short.wav", np.ones(1000), 16000)
    files = [str(tmp_path / name) for name in ("tone.wav", "silent.wav", "short.wav", "missing.wav")]
    result = subprocess.run(
        [sys.executable, "-m", "sot_utils.training.estimate", checkpoint, *files], capture_output=True, text=True
    )
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "error" not in rows[files[0]]  # the good file is still analysed
    assert rows[files[1]].endswith("(silent)") and "too short" in rows[files[2]] and "error" in rows[files[3]]
    assert "4 file(s): 1 voiced, 1 unvoiced, 2 failed" in result.stderr
    commands = [
        ["sot_utils.training.estimate", "no/such.pt", files[0]],
        ["sot_utils.training.evaluate", "no/such.pt"],
        ["sot_utils.training.evaluate", checkpoint, "--data", "no/such/data.pt"],
        ["sot_utils.training.train", "--group", "SOT-2048", "--seed", "1", "--config", "no/such.yaml"],
    ]
    bad_config = tmp_path / "bad.yaml"
    bad_config.write_text("learning_rat: 0.1\n")
    commands.append(["sot_utils.training.train", "--group", "SOT-2048", "--seed", "1", "--config", str(bad_config)])
    for command in commands:
        result = subprocess.run([sys.executable, "-m", *command], capture_output=True, text=True)
        assert result.returncode == 2 and "Traceback" not in result.stderr, (command, result.stderr)
        assert "error:" in result.stderr
    assert "learning_rat" in result.stderr


def test_runs_are_found_in_paper_order_and_evaluated(tiny_runs, tmp_path):
    data, runs = tiny_runs
    root = runs["MSS-Lin"].parent.parent
    found = find_runs(root)
    assert list(found["group"]) == list(PAPER_GROUPS) and set(found["seed"]) == {0}
    per_run = evaluate_runs(found.iloc[:2], data, progress=False)
    assert list(per_run["step"]) == [20, 20]
    assert per_run.loc[0, "rpa"] == evaluate_checkpoint(found.loc[0, "path"], data)["rpa"]
    assert per_run["dominant_harmonic"].between(1, 20).all() and per_run["effective_harmonics"].between(1, 20).all()
    assert set(load_logs(found)["group"]) == set(PAPER_GROUPS)
    # a budget picks the best checkpoint up to it: best.pt of runs that stopped there, else none
    assert list(find_runs(root, budget=20)["path"]) == list(found["path"])
    assert find_runs(root, budget=40).empty and find_runs(root, budget=10).empty
    limited = evaluate_runs(found.iloc[:1], data, progress=False, limit=3)
    assert limited.loc[0, "lsd"] != per_run.loc[0, "lsd"]
    assert find_runs(tmp_path).empty
    progress = training_progress(root)
    assert list(progress.index) == list(PAPER_GROUPS) and list(progress.columns) == [0] and (progress[0] == 20).all()
    assert training_progress(tmp_path).empty
    with pytest.raises(ValueError, match="runs"):
        evaluate_runs(find_runs(tmp_path))


def test_results_table_statistics_and_markdown_highlights():
    per_run = pd.DataFrame(
        {
            "group": ["MSS-Lin"] * 3 + ["SOT-2048"] * 3 + ["SOT-512"],
            "seed": [42, 123, 456] * 2 + [42],
            "lsd": [10.0, 12.0, 20.0, 5.0, 6.0, 9.0, 7.0],
            "rpa": [1.0, 2.0, 9.0, 80.0, 90.0, 40.0, 50.0],
            "rca": [30.0, 20.0, 10.0, 90.0, 95.0, 70.0, 60.0],
            "octave_difference": [-1.0, -2.0, -1.5, 0.0, 0.1, -0.2, 0.0],
        }
    )
    table = results_table(per_run)
    assert list(table.index) == ["MSS-Lin", "SOT-2048", "SOT-512"]
    sot = per_run[per_run["group"] == "SOT-2048"]["rpa"].tolist()
    assert table.loc["SOT-2048", ("RPA", "mean")] == pytest.approx(statistics.mean(sot))
    assert table.loc["SOT-2048", ("RPA", "std")] == pytest.approx(statistics.stdev(sot))  # sample std, as pandas ddof=1
    assert table.loc["SOT-2048", ("RPA", "median")] == statistics.median(sot)
    assert table.loc["SOT-512", ("seeds", "n")] == 1 and math.isnan(table.loc["SOT-512", ("LSD", "std")])
    markdown = results_markdown(table).splitlines()
    assert markdown[0].startswith("| group | seeds | LSD mean (std) | LSD median | RPA")
    mss, sot2048, sot512 = markdown[2:]
    assert "**70.0 (26.5)**" in sot2048 and "*50.0*" in sot512  # RPA: best bold, second italic
    assert "**6.7 (2.1)**" in sot2048 and "*7.0*" in sot512  # LSD: lowest is best
    assert "-1.5 (0.5)" in mss and "*-1.5" not in mss  # OD is not highlighted
    with pytest.raises(ValueError, match="lsd"):
        results_table(per_run.drop(columns="lsd"))


def test_budget_checkpoint_prefers_the_kept_best_and_never_a_later_one(tmp_path):
    run = tmp_path / "SOT-2048" / "42"
    run.mkdir(parents=True)
    assert budget_checkpoint(run) is None
    torch.save({"step": 660}, run / "last.pt")
    torch.save({"step": 440}, run / "best.pt")
    assert budget_checkpoint(run) == run / "best.pt"
    assert budget_checkpoint(run, 660) == run / "best.pt"
    assert budget_checkpoint(run, 440) is None  # the run went past 440 without keeping its best there
    torch.save({"step": 440}, run / "best-upto-440.pt")
    assert budget_checkpoint(run, 440) == run / "best-upto-440.pt"
    assert budget_checkpoint(run, 880) is None


def _saturating(steps, ceiling, rate):
    """1 - exp(-rate * step), scaled: within `tol` of the ceiling from step ln(ceiling / tol) / rate."""
    return ceiling * (1 - np.exp(-rate * np.asarray(steps, dtype=float)))


def test_plateau_step_finds_where_a_saturating_curve_stops_gaining():
    steps = np.arange(220, 8801, 220)
    values = _saturating(steps, ceiling=40.0, rate=1 / 1000)
    # Closed form: the remaining gain 40 exp(-s/1000) drops to 2 at s = 1000 ln 20 = 2996.
    expected = steps[np.argmax(40 * np.exp(-steps / 1000) <= 2.0)]
    assert plateau_step(steps, values, tolerance=2.0, window=1, patience=1100) == expected == 3080
    # Median smoothing of a monotone curve changes nothing in the interior.
    assert plateau_step(steps, values, tolerance=2.0, window=3, patience=1100) == 3080


def test_plateau_step_is_none_while_still_rising_or_too_recent():
    steps = np.arange(220, 3081, 220)
    assert plateau_step(steps, 0.01 * steps, tolerance=2.0) is None  # linear growth: always gaining
    values = _saturating(steps, ceiling=40.0, rate=1 / 1000)  # levels off at 3080, the last validation
    assert plateau_step(steps, values, tolerance=2.0, patience=1100) is None
    # Without patience a cut-off curve looks level too early: the gain observed after 2420
    # (up to 3080 only) is under 2, though the curve gains 3.6 more later on.
    observed_gain = values[-1] - values
    assert plateau_step(steps, values, tolerance=2.0, patience=0) == steps[np.argmax(observed_gain <= 2.0)] == 2420


def test_plateau_step_ignores_single_validation_spikes():
    steps = np.arange(220, 6601, 220)
    values = np.full(steps.shape, 5.0)
    values[10] = 30.0  # one outlier validation
    assert plateau_step(steps, values, window=1) == steps[10]  # raw curve: gains until the spike
    assert plateau_step(steps, values, window=3) == 220  # median of 3 removes it: flat from the start


def test_plateau_step_rejects_bad_curves():
    with pytest.raises(ValueError, match="same non-zero length"):
        plateau_step([1, 2, 3], [1.0, 2.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        plateau_step([1, 3, 2], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="finite"):
        plateau_step([1, 2, 3], [1.0, float("nan"), 3.0])
    with pytest.raises(ValueError, match="window must be odd"):
        plateau_step([1, 2, 3], [1.0, 2.0, 3.0], window=2)
    with pytest.raises(ValueError, match="tolerance"):
        plateau_step([1, 2, 3], [1.0, 2.0, 3.0], tolerance=0)


def test_choose_budget_waits_for_every_seed_and_rounds_up():
    steps = np.arange(220, 8801, 220)
    early = _saturating(steps, 10.0, 1 / 300)  # remaining gain 10 exp(-s/300) <= 2 from s = 483 -> 660
    late = _saturating(steps, 40.0, 1 / 1000)  # levels off at 3080 (see above)
    logs = pd.concat(
        [
            pd.DataFrame({"step": steps, "val_rpa": early, "seed": 42}),
            pd.DataFrame({"step": steps, "val_rpa": late, "seed": 123}),
            pd.DataFrame({"step": steps, "val_rpa": 0.01 * steps, "seed": 7, "group": "MSS-Lin"}),
        ]
    ).fillna({"group": "SOT-2048"})
    assert choose_budget(logs, window=1) == 3300  # the later seed decides; 3080 rounded up to 3 x 1100
    assert choose_budget(logs[logs["seed"] == 42], window=1) == 2200  # never below the 2,000-step floor
    rising = logs.assign(group="SOT-2048")  # the MSS-Lin curve, still rising, now counts
    assert choose_budget(rising, window=1) is None
    assert choose_budget(logs, group="SOT-512") is None  # no logs


def test_training_compute_sums_the_time_of_every_process_that_trained_a_run():
    # SOT-2048 seed 1: one process to step 660 (300 s), resumed twice (200 s to 1100, 90 s to 1320);
    # MSS-Lin seed 2 (listed second, sorted first): one process, 440 steps in 100 s
    logs = pd.DataFrame(
        {
            "group": ["SOT-2048"] * 6 + ["MSS-Lin"] * 2,
            "seed": [1] * 6 + [2] * 2,
            "step": [220, 440, 660, 880, 1100, 1320, 220, 440],
            "elapsed_s": [100.0, 200.0, 300.0, 150.0, 200.0, 90.0, 50.0, 100.0],
        }
    )
    compute = training_compute(logs)
    assert compute[["group", "seed", "steps", "segments"]].values.tolist() == [
        ["MSS-Lin", 2, 440, 1],
        ["SOT-2048", 1, 1320, 3],
    ]
    assert np.allclose(compute["hours"], [100 / 3600, (300 + 200 + 90) / 3600])
    assert np.allclose(compute["cpu_hours"], compute["hours"]) and np.allclose(
        compute["gpu_hours"], 0.0
    )  # no device column: CPU
    with pytest.raises(ValueError, match="elapsed_s"):
        training_compute(logs.assign(elapsed_s=np.nan))
    # SOT-2048 resumed on a GPU at step 1100, whose process happens to log a later clock than the
    # CPU process before it (100 s to 880, then 250 s to 1100 and 30 s to 1320): still two segments
    moved = logs.assign(
        device=[np.nan] * 4 + ["cuda", "cuda", "cpu", "cpu"],
        elapsed_s=[100.0, 200.0, 300.0, 400.0, 250.0, 280.0, 50.0, 100.0],
    )
    compute = training_compute(moved)
    assert compute["segments"].tolist() == [1, 2]
    assert np.allclose(compute["cpu_hours"], [100 / 3600, 400 / 3600]) and np.allclose(
        compute["gpu_hours"], [0.0, 280 / 3600]
    )
    assert np.allclose(compute["hours"], compute["cpu_hours"] + compute["gpu_hours"])


def test_metric_at_steps_tabulates_the_curves_and_leaves_untrained_steps_empty():
    logs = pd.DataFrame(
        {
            "group": ["SOT-2048", "SOT-2048", "MSS-Lin"],
            "seed": [1, 1, 2],
            "step": [1100, 2200, 1100],
            "val_rpa": [5.0, 30.0, 1.0],
            "val_lsd": [9.0, 8.0, 7.0],
        }
    )
    table = metric_at_steps(logs, [1100, 2200])
    assert list(table.index) == [("MSS-Lin", 2), ("SOT-2048", 1)]
    assert table.loc[("SOT-2048", 1)].tolist() == [5.0, 30.0] and table.loc[("MSS-Lin", 2), 1100] == 1.0
    assert np.isnan(table.loc[("MSS-Lin", 2), 2200])
    assert metric_at_steps(logs, [2200], "val_lsd").loc[("SOT-2048", 1), 2200] == 8.0
    with pytest.raises(ValueError, match="metric"):
        metric_at_steps(logs, [1100], "val_nope")


def test_the_cpu_budget_is_what_the_rule_reads_off_the_shipped_curves():
    from pathlib import Path

    from sot_utils.constants import CPU_BUDGET_STEPS

    shipped = load_logs(find_runs(Path(__file__).parents[2] / "checkpoints"))
    assert choose_budget(shipped) == CPU_BUDGET_STEPS


def test_evaluate_budgets_compares_the_runs_that_reached_each_budget(tiny_runs):
    data, runs = tiny_runs
    root = runs["MSS-Lin"].parent.parent
    per_budget = evaluate_budgets(root, [10, 20, 40], data, progress=False, limit=3)
    assert set(per_budget["budget"]) == {20}  # the tiny runs stopped at 20 and kept no earlier best
    assert list(per_budget["group"]) == list(PAPER_GROUPS) and (per_budget["step"] == 20).all()
    same = evaluate_runs(find_runs(root, 20), data, progress=False, limit=3)
    np.testing.assert_allclose(per_budget["rpa"], same["rpa"])
    assert evaluate_budgets(root, [40], data, progress=False).empty
    with pytest.raises(ValueError, match="budgets"):
        evaluate_budgets(root, [0], data)
    seeds = per_budget[["group", "seed"]].iloc[[0, 2]]
    chosen = evaluate_budgets(root, [20], data, progress=False, limit=3, pairs=seeds)
    assert list(chosen["group"]) == list(seeds["group"]) and list(chosen["seed"]) == list(seeds["seed"])
    with pytest.raises(ValueError, match="`pairs` must have the columns 'group' and 'seed'"):
        evaluate_budgets(root, [20], data, pairs=seeds[["group"]])


def test_f0_predictions_are_the_median_over_frames_of_the_model_output(tiny_runs):
    from sot_utils.autoencoder import predict
    from sot_utils.training.train import cached_features

    data, runs = tiny_runs
    path = runs["SOT-2048"] / "best.pt"
    _, cqt, labels = cached_features(data, "test", progress=False)
    assert len(f0_predictions(path, data)) == len(cqt)
    table = f0_predictions(path, data, limit=3)
    assert list(table.columns) == ["f0_true_hz", "f0_estimate_hz"] and len(table) == 3
    frames = np.sort(predict(load_model(path)[0], cqt[:3]).f0_hz.numpy(), axis=1)
    # 16 frames: the lower of the two middle values, as estimate_f0 reports
    np.testing.assert_allclose(table["f0_estimate_hz"], frames[:, (frames.shape[1] - 1) // 2], rtol=1e-6)
    np.testing.assert_allclose(table["f0_true_hz"], labels["f0_hz"][:3].numpy())
    with pytest.raises(ValueError, match="limit"):
        f0_predictions(path, data, limit=0)


def test_harmonic_shares_are_the_energy_share_of_the_predicted_amplitudes(tiny_runs):
    from sot_utils.autoencoder import predict
    from sot_utils.training.train import cached_features

    data, runs = tiny_runs
    path = runs["MSS-Lin"] / "best.pt"
    _, cqt, _ = cached_features(data, "test", progress=False)
    shares = harmonic_shares(path, data, limit=3)
    prediction = predict(load_model(path)[0], cqt[:3])
    k = torch.arange(1, 21)
    audible = prediction.amplitudes * (prediction.f0_hz[..., None] * k < 8000)  # the synth mutes k f0 >= Nyquist
    energy = audible.double().square().sum(dim=1)  # the partials are sinusoids: energies add
    np.testing.assert_allclose(shares, (energy / energy.sum(dim=-1, keepdim=True)).numpy(), rtol=1e-6)
    assert shares.shape == (3, 20) and harmonic_shares(path, data).shape == (len(cqt), 20)


def test_pitch_accuracy_by_partials_splits_rpa_and_rca_by_the_tones_partial_count():
    import mir_eval.melody

    f0 = np.array([220.0, 330.0, 440.0, 550.0, 660.0, 770.0])
    partials = np.array([1, 1, 2, 2, 5, 5])
    frames = np.repeat(f0[:, None], 4, axis=1)
    frames[0] /= 3  # a pure tone read as the 3rd partial of a twelfth lower: neither pitch nor chroma
    frames[2] *= 2  # an octave error: chroma only
    frames[3, :2] *= 1.02  # 34 cents off: still within 50
    frames[4, 0] *= 1.05  # 84 cents off in one frame of four
    table = pitch_accuracy_by_partials(torch.tensor(f0), torch.tensor(frames), torch.tensor(partials))
    assert table["partials"].tolist() == [1, 2, 5] and table["tones"].tolist() == [2, 2, 2]
    np.testing.assert_allclose(table["rpa"], [50.0, 50.0, 87.5])
    np.testing.assert_allclose(table["rca"], [50.0, 100.0, 87.5])
    # medians of 8 frames' log2(estimate / truth): the mean of the 4th and 5th smallest
    np.testing.assert_allclose(table["offset_octaves"], [-np.log2(3) / 2, (np.log2(1.02) + 1) / 2, 0.0], atol=1e-12)
    # the independent oracle: mir_eval on the count-5 tones' frames, every frame voiced
    ref = mir_eval.melody.hz2cents(np.repeat(f0[4:, None], 4, axis=1).ravel())
    est = mir_eval.melody.hz2cents(frames[4:].ravel())
    voiced = np.ones_like(ref)
    assert table["rpa"].iloc[2] == pytest.approx(100 * mir_eval.melody.raw_pitch_accuracy(voiced, ref, voiced, est))
    with pytest.raises(ValueError, match="n_partials"):
        pitch_accuracy_by_partials(f0, frames, partials[:5])
    with pytest.raises(ValueError, match="n_partials"):
        pitch_accuracy_by_partials(f0, frames, partials - 1)
    with pytest.raises(ValueError, match="n_partials"):
        pitch_accuracy_by_partials(f0, frames, partials.astype(float))


def test_accuracy_by_partials_of_a_checkpoint_adds_up_to_its_rpa(tiny_runs):
    from sot_utils.training.data import load_split

    data, runs = tiny_runs
    path = runs["SOT-2048"] / "best.pt"
    table = accuracy_by_partials(path, data)
    test = load_split(data, "test")
    counts = torch.bincount(test.n_audible_harmonics)
    assert table["partials"].tolist() == torch.nonzero(counts).ravel().tolist()
    assert table["tones"].tolist() == counts[counts > 0].tolist()
    # every tone has the same number of frames: the overall RPA is the tone-weighted mean
    overall = evaluate_checkpoint(path, data)
    assert (table["rpa"] * table["tones"]).sum() / table["tones"].sum() == pytest.approx(overall["rpa"])
    assert (table["rca"] * table["tones"]).sum() / table["tones"].sum() == pytest.approx(overall["rca"])
    assert accuracy_by_partials(path, data, limit=3)["tones"].sum() == 3


def test_audible_amplitudes_mute_the_partials_the_synth_does_not_render():
    from sot_utils.synth import harmonic_synth
    from sot_utils.training.evaluate import audible_amplitudes

    f0 = torch.tensor([[1000.0, 1000.0], [3000.0, 3000.0]])  # partials 1-7 and 1-2 below 8 kHz
    amplitudes = torch.ones(2, 2, 20)
    audible = audible_amplitudes(f0, amplitudes)
    assert audible[0, :, :7].eq(1).all() and audible[0, :, 7:].eq(0).all()
    assert audible[1, :, :2].eq(1).all() and audible[1, :, 2:].eq(0).all()
    # the synth renders the same audio from both: what is muted makes no sound
    np.testing.assert_allclose(
        harmonic_synth(f0, audible, 1024, 16000), harmonic_synth(f0, amplitudes, 1024, 16000), atol=1e-6
    )


@pytest.mark.parametrize("group, seed", [("MSS-Lin", 456), ("SOT-2048", 123)])
def test_shipped_checkpoints_evaluate_to_the_committed_metrics(tmp_path_factory, group, seed):
    """After the move to subpackages and the new config schema, a shipped checkpoint (an old flat
    config inside) loads and scores on the paper's regenerated test split what the committed
    results table says (results/results_per_run.csv, written by notebook 05)."""
    from pathlib import Path

    from sot_utils.constants import CPU_BUDGET_STEPS
    from sot_utils.training.data import ensure_dataset

    repo = Path(__file__).resolve().parents[2]
    data = ensure_dataset(tmp_path_factory.getbasetemp() / "paper" / "harmonic_sr16000_n4000_seed0.pt")
    committed = pd.read_csv(repo / "results" / "results_per_run.csv").set_index(["group", "seed"]).loc[(group, seed)]
    checkpoint = budget_checkpoint(repo / "checkpoints" / group / str(seed), CPU_BUDGET_STEPS)
    metrics = evaluate_checkpoint(checkpoint, data, "test")
    for name in ("lsd", "rpa", "rca", "octave_difference", "mss"):
        assert metrics[name] == pytest.approx(committed[name], rel=1e-4, abs=1e-3), name


# --------------------------------------------------------------------------------------------
# estimate as a batch tool


def _estimate_cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "sot_utils.training.estimate", *map(str, args)], capture_output=True, text=True, cwd=cwd
    )


@pytest.fixture(scope="module")
def audio_folder(tmp_path_factory):
    """tones at 220 / 330 / 440 Hz (one in a subfolder, one FLAC), a text file and an empty folder."""
    root = tmp_path_factory.mktemp("audio")
    (root / "sub").mkdir()
    (root / "empty").mkdir()
    t = np.arange(12000) / 16000
    for path, f0 in ((root / "a220.wav", 220), (root / "b330.flac", 330), (root / "sub" / "c440.wav", 440)):
        soundfile.write(path, 0.5 * np.sin(2 * math.pi * f0 * t), 16000)
    (root / "notes.txt").write_text("not audio")
    return root


def test_estimate_on_a_folder_writes_one_csv_row_per_file(tiny_runs, audio_folder, tmp_path):
    checkpoint = tiny_runs[1]["MSS-Lin"] / "best.pt"
    result = _estimate_cli(checkpoint, audio_folder, "--output", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(pd.read_csv(io.StringIO(result.stdout)).itertuples())
    assert [Path(r.file).name for r in rows] == ["a220.wav", "b330.flac"]  # audio files only, sorted
    assert all(r.voiced and r.n_frames == 1 + 12000 // 256 and r.f0_min_hz <= r.f0_hz <= r.f0_max_hz for r in rows)
    assert "2 file(s): 2 voiced, 0 unvoiced, 0 failed" in result.stderr
    recursive = _estimate_cli(checkpoint, audio_folder, "--recursive", "--output", "json", "--out", tmp_path / "r.json")
    assert recursive.returncode == 0 and recursive.stdout == ""
    records = json.loads((tmp_path / "r.json").read_text())
    assert [Path(r["file"]).name for r in records] == ["a220.wav", "b330.flac", "c440.wav"]
    assert set(records[0]) == {"file", "f0_hz", "voiced", "reason", "confidence", "level_db", "n_frames",
                               "f0_min_hz", "f0_max_hz", "error"}  # fmt: skip
    pattern = _estimate_cli(checkpoint, "**/*.wav", "-r", "--output", "csv", cwd=audio_folder)
    assert [line.split(",")[0] for line in pattern.stdout.splitlines()[1:]] == ["a220.wav", "sub/c440.wav"]


def test_estimate_frames_gives_time_f0_confidence_voiced_per_frame(tiny_runs, audio_folder):
    model = load_model(tiny_runs[1]["MSS-Lin"] / "best.pt")
    audio, rate = soundfile.read(audio_folder / "a220.wav", dtype="float32")
    expected = estimate_f0(model, torch.from_numpy(audio), rate)
    result = _estimate_cli(tiny_runs[1]["MSS-Lin"] / "best.pt", audio_folder / "a220.wav", "--frames")
    frames = pd.read_csv(io.StringIO(result.stdout))
    assert list(frames.columns) == ["file", "time_s", "f0_hz", "confidence", "voiced"]
    assert len(frames) == expected.f0_frames_hz.shape[-1] and frames["time_s"].iloc[1] == 0.016
    assert np.allclose(frames["f0_hz"], expected.f0_frames_hz[0].numpy(), atol=1e-3)
    assert np.allclose(frames["confidence"], expected.confidence_frames[0].numpy(), atol=1e-4)
    assert (
        _estimate_cli(tiny_runs[1]["MSS-Lin"] / "best.pt", audio_folder, "--frames", "--output", "table").returncode
        == 2
    )


def test_estimate_names_what_failed_and_exits_non_zero(tiny_runs, audio_folder, tmp_path):
    checkpoint = tiny_runs[1]["MSS-Lin"] / "best.pt"
    paths = [audio_folder / "a220.wav", audio_folder / "empty", audio_folder / "missing.wav", "-"]
    paths += [audio_folder / "notes.txt", tmp_path / "*.nothing", "/dev/zero"]
    result = _estimate_cli(checkpoint, *paths, "--output", "csv")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = {row["file"]: row["error"] for row in csv.DictReader(io.StringIO(result.stdout))}
    assert errors[str(audio_folder / "a220.wav")] == ""
    assert "folder holds no audio files" in errors[str(audio_folder / "empty")]
    assert errors[str(audio_folder / "missing.wav")] == "no such file"
    assert "standard input (`-`) is not supported" in errors["-"]
    assert "could not be read as audio" in errors[str(audio_folder / "notes.txt")]
    assert "no audio file matches" in errors[str(tmp_path / "*.nothing")]
    assert "not a regular file" in errors["/dev/zero"]
    assert "7 file(s): 1 voiced, 0 unvoiced, 6 failed" in result.stderr.strip().splitlines()[-1]
    refused = _estimate_cli(checkpoint, audio_folder / "a220.wav", "--out", audio_folder / "a220.wav")
    assert refused.returncode == 2 and "would be overwritten" in refused.stderr


def test_estimate_refuses_an_hour_long_flac_from_its_header(tiny_runs, tmp_path):
    """0.55 MB of FLAC holding one hour of a constant: refused before decoding (it peaked at 1.9 GB)."""
    path = tmp_path / "hour.flac"
    with soundfile.SoundFile(path, "w", samplerate=48000, channels=1, format="FLAC") as file:
        block = np.full(48000 * 60, 0.25, dtype=np.float32)
        for _ in range(60):
            file.write(block)
    assert path.stat().st_size < 2_000_000
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child would report pytest's peak
    script = (
        "import sys\n"
        "from sot_utils.training.estimate import main\n"
        "try:\n    main(sys.argv[1:])\n"
        "except SystemExit:\n    pass\n"
        "status = open('/proc/self/status').read()\n"
        "print(int(status.split('VmHWM:')[1].split()[0]) // 1024)\n"
    )
    checkpoint = tiny_runs[1]["MSS-Lin"] / "best.pt"
    result = subprocess.run([sys.executable, "-c", script, str(checkpoint), str(path)], capture_output=True, text=True)
    assert "3600 s long; at most 600 s" in result.stdout, result.stdout + result.stderr
    assert int(result.stdout.strip().splitlines()[-1]) < 1200  # MB: the process with torch loaded, no decode


def test_a_checkpoint_with_nan_weights_is_blamed_not_the_audio(tiny_runs, audio_folder, tmp_path):
    contents = torch.load(tiny_runs[1]["MSS-Lin"] / "best.pt", weights_only=True)
    contents["model"] = {k: v * float("nan") if v.is_floating_point() else v for k, v in contents["model"].items()}
    torch.save(contents, tmp_path / "nan.pt")
    result = _estimate_cli(tmp_path / "nan.pt", audio_folder / "a220.wav")
    assert result.returncode == 2 and "nan.pt: its weights hold NaN or infinite values" in result.stderr
    assert "a220.wav" not in result.stderr


def test_long_signals_are_encoded_in_chunks_equal_to_one_pass(tiny_runs):
    from sot_utils.spectral import CQT
    from sot_utils.training.estimate import encode_in_chunks, frame_confidence, normalise_peak

    model, _ = load_model(tiny_runs[1]["MSS-Lin"] / "best.pt")
    t = torch.arange(24000) / 16000
    audio = normalise_peak(torch.stack([torch.sin(2 * math.pi * 97 * t), torch.randn(24000)]))
    with torch.no_grad():
        whole = model.encoder(CQT()(audio))
    for chunk in (7, 40, 10_000):  # chunks of 7 frames: 14 CQT passes, each with its context
        f0, confidence = encode_in_chunks(model, audio, chunk)
        assert torch.allclose(f0, whole.f0_hz, rtol=1e-5, atol=1e-3), chunk
        assert torch.allclose(confidence, frame_confidence(whole.logits, model.encoder.temperature), atol=1e-5)


def test_estimate_gives_the_true_reason_for_a_15_khz_tone_and_voices_a_tone_at_17_db_snr(tiny_runs):
    model = load_model(tiny_runs[1]["MSS-Lin"] / "best.pt")
    t = torch.arange(48000) / 48000
    high = 10 ** (-9 / 20) * math.sqrt(2) * torch.sin(2 * math.pi * 15000 * t)  # -9 dBFS RMS, 48 kHz
    estimate = estimate_f0(model, high, 48000)
    assert estimate.reason == ["above the trained range"]  # was "silent": resampling removed it
    t = torch.arange(16000) / 16000
    tone = math.sqrt(2) * 0.1 * torch.sin(2 * math.pi * 440 * t)
    noise = torch.randn(16000, generator=torch.Generator().manual_seed(0))
    noise *= 0.1 * 10 ** (-17 / 20) / noise.pow(2).mean().sqrt()  # 17 dB SNR, white
    noisy = estimate_f0(model, tone + noise, 16000)
    assert bool(noisy.voiced[0]) and noisy.reason == [""]  # was "noise"
    assert noisy.voiced_frames.shape == noisy.f0_frames_hz.shape and bool(noisy.voiced_frames[0, 5:-5].all())
