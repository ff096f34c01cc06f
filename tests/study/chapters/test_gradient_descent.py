"""Notebook 03's chapter: the grid, the targets, the success rates and their summary, and the
"What this shows" text, on tiny fits and made-up tables with known answers."""

import numpy as np
import pandas as pd
import pytest
import torch

from sot_utils.study.chapters import gradient_descent as chapter


def test_the_grids_span_one_octave_either_way():
    quick, full = chapter.fit_grid(True), chapter.fit_grid(False)
    assert (quick.steps, len(quick.detunings), quick.n_targets) == (150, 9, 3)
    assert (full.steps, len(full.detunings), full.n_targets) == (300, 13, 8)
    for grid in (quick, full):
        assert float(grid.detunings[0]) == -1.0 and float(grid.detunings[-1]) == 1.0
        assert np.allclose(np.diff(grid.detunings.numpy()), 2.0 / (len(grid.detunings) - 1))
    with pytest.raises(ValueError, match="quick"):
        chapter.fit_grid(1)


def test_targets_lie_in_their_ranges_and_follow_the_seed():
    targets = chapter.draw_targets(50)
    assert list(targets) == list(chapter.TONES)
    for tone, (low, high) in chapter.TARGET_RANGES_HZ.items():
        assert targets[tone].shape == (50,) and low <= float(targets[tone].min()) and float(targets[tone].max()) <= high
    again, other = chapter.draw_targets(50), chapter.draw_targets(50, seed=1)
    assert all(torch.equal(targets[tone], again[tone]) for tone in chapter.TONES)
    assert not torch.equal(targets["sine"], other["sine"])
    # one generator, seeded once: the sines take its first draws, the harmonic tones the next ones
    generator = torch.Generator().manual_seed(chapter.SEED)
    uniform = torch.rand(100, generator=generator)
    assert torch.allclose(targets["sine"], 200.0 + 800.0 * uniform[:50])
    assert torch.allclose(targets["harmonic"], 100.0 + 400.0 * uniform[50:])
    with pytest.raises(ValueError, match="n_targets"):
        chapter.draw_targets(0)


def test_tone_amplitudes():
    assert torch.equal(chapter.tone_amplitudes("sine"), torch.tensor([1.0]))
    harmonic = chapter.tone_amplitudes("harmonic")
    assert harmonic.shape == (chapter.N_HARMONICS,) and torch.allclose(harmonic * torch.arange(1, 7), torch.ones(6))
    with pytest.raises(ValueError, match="tone"):
        chapter.tone_amplitudes("square")


def test_the_compared_losses_include_the_vertical_and_reference_ones():
    names = list(chapter.compared_losses())
    assert len(names) == 10 and len(set(names)) == 10
    assert set(chapter.VERTICAL_LOSSES) <= set(names) and set(chapter.REFERENCE_LOSSES) <= set(names)


def squared_error(target, estimate):
    return ((target - estimate) ** 2).mean(dim=-1)


def test_a_fit_that_starts_on_the_target_succeeds_and_one_an_octave_off_fails():
    """One Adam step moves ``log2 f0`` by at most the learning rate (0.03 octave, 36 cents): a start on the
    target (zero gradient) stays there, a start one octave away cannot arrive."""
    grid = chapter.FitGrid(steps=1, detunings=torch.tensor([0.0, 1.0]), n_targets=2)
    targets = torch.tensor([220.0, 330.0])
    rates = chapter.compute_success_rates("harmonic", targets, grid, {"squared error": squared_error})
    assert list(rates.columns) == ["squared error"]
    assert rates.index.tolist() == [0.0, 1.0] and rates["squared error"].tolist() == [100.0, 0.0]
    with pytest.raises(ValueError, match="FitGrid"):
        chapter.compute_success_rates("sine", targets, {"steps": 1}, {"squared error": squared_error})
    with pytest.raises(ValueError, match="empty"):
        chapter.compute_success_rates("sine", targets, grid, {})


def rates(values):
    """Success rates over the detunings -1, -0.5, 0, 0.5, 1 octave: loss name -> five rates (%)."""
    return pd.DataFrame(values, index=pd.Index([-1.0, -0.5, 0.0, 0.5, 1.0], name="initial_detuning_octaves"))


def test_summary_averages_all_starts_and_far_starts():
    table = chapter.summary(rates({"A": [0.0, 50.0, 100.0, 50.0, 0.0]}))
    assert table.loc["A", "all starts (%)"] == 40.0 and table.loc["A", "|detuning| >= 0.5 oct (%)"] == 25.0
    assert chapter.summary(rates({"A": [0.0, 50.0, 100.0, 50.0, 0.0]}), far_octaves=1.0).iloc[0, 1] == 0.0
    with pytest.raises(ValueError, match="at least 2"):
        chapter.summary(rates({"A": [0.0] * 5}), far_octaves=2)


def test_summary_table_puts_the_tones_side_by_side_rounded():
    table = chapter.summary_table(
        {"sine": rates({"A": [0.0, 0.0, 100.0, 100.0, 100.0]}), "harmonic": rates({"A": [0.0] * 4 + [100.0 / 3]})}
    )
    assert list(table.columns.get_level_values(0).unique()) == ["sine", f"harmonic ({chapter.N_HARMONICS})"]
    assert table.loc["A", ("sine", "all starts (%)")] == 60.0
    assert table.loc["A", ("harmonic (6)", "all starts (%)")] == 6.7  # 100 / 15, rounded to 0.1
    with pytest.raises(ValueError, match="tone kinds"):
        chapter.summary_table({"square": rates({"A": [0.0] * 5})})


def summary_of(far_sine, far_harmonic, all_starts=None):
    """A summary table in which loss ``name`` has far-start rates ``far_sine[name]`` and ``far_harmonic[name]``."""
    names = list(chapter.compared_losses())
    all_starts = all_starts or {}
    columns = {
        ("sine", "all starts (%)"): [all_starts.get(n, 0.0) for n in names],
        ("sine", "|detuning| >= 0.5 oct (%)"): [far_sine.get(n, 0.0) for n in names],
        ("harmonic (6)", "all starts (%)"): [all_starts.get(n, 0.0) for n in names],
        ("harmonic (6)", "|detuning| >= 0.5 oct (%)"): [far_harmonic.get(n, 0.0) for n in names],
    }
    return pd.DataFrame(columns, index=names)


def test_findings_read_their_numbers_from_the_table():
    table = summary_of(
        {"SOT-2048, complete frames": 97.0, "L2 MSS (lin)": 72.0, "L1 MSS (lin)": 11.0},
        {"SOT-2048, complete frames": 89.0, "L2 MSS (lin)": 33.0, "SOT W2, complete frames": 64.0},
        all_starts={"SOT-2048 (cut, W2²)": 4.0, "SOT W2": 2.0},
    )
    text = chapter.findings(table, n_targets=3, n_detunings=9, steps=150)
    assert "(3 targets × 9 detunings,\n  150 Adam steps)" in text
    assert "SOT on complete frames fits 97 % of the sines and\n  89 % of the harmonic tones" in text
    assert "W₂ on complete frames 0 % and 64 %" in text
    assert "The best of them on sines, L2 MSS (lin),\n  fits 72 % of the sines but 33 % of the harmonic tones" in text
    assert "L1 MSS 11 % and 0 %" in text
    assert "SOT converges in at most\n  4 % of the fits" in text


def test_findings_follow_a_change_in_the_table():
    table = summary_of({"L2 MSS (lin)": 72.0, "L1 SS": 80.0}, {"L1 SS": 5.0}, all_starts={"SOT W2": 30.0})
    text = chapter.findings(table, n_targets=8, n_detunings=13, steps=300)
    assert "The best of them on sines, L1 SS,\n  fits 80 % of the sines but 5 % of the harmonic tones" in text
    assert "at most\n  30 % of the fits" in text and "(8 targets × 13 detunings,\n  300 Adam steps)" in text


def test_findings_refuse_incomplete_tables():
    table = summary_of({}, {})
    with pytest.raises(ValueError, match="L1 SS"):
        chapter.findings(table.drop(index="L1 SS"), 3, 9, 150)
    with pytest.raises(ValueError, match="columns"):
        chapter.findings(table.drop(columns="harmonic (6)", level=0), 3, 9, 150)
    with pytest.raises(ValueError, match="steps"):
        chapter.findings(table, 3, 9, 0)
