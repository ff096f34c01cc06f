"""Notebook 01's chapter: spectra as distributions, the transport plan's cost, the shift sweep and the
"What this shows" text, checked against distances known by hand."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from sot_utils.constants import SAMPLE_RATE
from sot_utils.study import landscape
from sot_utils.study.chapters import transport_vs_vertical as chapter


@pytest.fixture
def diracs():
    """Unit masses at 0.0 and 0.2 on a grid of step 0.1: W_1 = 0.2 and W_2^2 = 0.04."""
    frequency = torch.tensor([0.0, 0.1, 0.2, 0.3], dtype=torch.float64)
    alpha = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=torch.float64)
    beta = torch.tensor([0.0, 0.0, 1.0, 0.0], dtype=torch.float64)
    return frequency, alpha, beta


def test_a_normalised_spectrum_is_a_distribution_peaking_at_the_fundamental():
    spectrum = chapter.normalised_spectrum(1000.0, [1.0])
    assert spectrum.shape == (chapter.N_FFT // 2 + 1,) and spectrum.dtype == torch.float64
    assert float(spectrum.min()) >= 0 and math.isclose(float(spectrum.sum()), 1.0, rel_tol=1e-12)
    bin_width_hz = SAMPLE_RATE / chapter.N_FFT
    assert int(spectrum.argmax()) == round(1000.0 / bin_width_hz)


def test_the_frequency_axis_runs_from_zero_to_half_the_sample_rate():
    frequency = chapter.frequency_axis()
    assert frequency.shape == (chapter.N_FFT // 2 + 1,)
    assert float(frequency[0]) == 0.0 and float(frequency[-1]) == 0.5


def test_the_example_spectra_are_alpha_and_beta():
    frequency, alpha, beta = chapter.example_spectra()
    bin_width = 1.0 / chapter.N_FFT  # in normalised frequency
    assert math.isclose(float(frequency[alpha.argmax()]), chapter.ALPHA[0] / SAMPLE_RATE, abs_tol=bin_width / 2)
    assert math.isclose(float(frequency[beta.argmax()]), chapter.BETA[0] / SAMPLE_RATE, abs_tol=bin_width / 2)


def test_transport_costs_of_two_diracs_are_their_distance_to_the_power_p(diracs):
    plan, costs = chapter.transport_costs(*diracs)
    assert float(plan[0, 2]) == 1.0 and float(plan.sum()) == 1.0
    assert list(costs.index) == [1, 2]
    assert np.allclose(costs["closed form"], [0.2, 0.04]) and np.allclose(costs["plan cost"], [0.2, 0.04])


def test_transport_costs_refuse_bad_arguments(diracs):
    with pytest.raises(ValueError, match="powers"):
        chapter.transport_costs(*diracs, powers=())
    with pytest.raises(ValueError, match="`p` must be >= 1"):
        chapter.transport_costs(*diracs, powers=(0,))
    with pytest.raises(ValueError, match="frequency"):
        chapter.transport_costs(diracs[0][None], *diracs[1:])


def test_the_areas_between_cdfs_and_between_quantile_functions_are_w1(diracs):
    areas = chapter.w1_areas(landscape.cdf_quantile_curves(*diracs))
    assert np.allclose(areas.to_numpy(), [0.2, 0.2])
    with pytest.raises(ValueError, match="cdf_quantile_curves"):
        chapter.w1_areas({"positions": np.zeros(3)})


def test_the_shift_sweep_is_zero_at_zero_shift_and_w1_grows_away_from_it():
    sweep = chapter.compute_shift_sweep(quick=True)
    assert len(sweep) == chapter.SHIFT_POINTS[True]
    assert sweep["shift_hz"].min() == -chapter.SHIFT_RANGE_HZ and sweep["shift_hz"].max() == chapter.SHIFT_RANGE_HZ
    centre = sweep.loc[sweep["shift_hz"].abs().idxmin()]
    assert centre["shift_hz"] == 0 and centre["w1"] == 0 and centre["l1"] == 0
    right = sweep[sweep["shift_hz"] >= 0]
    assert (np.diff(right["w1"]) > 0).all()
    # two disjoint unit masses are 2 apart in L1, and never further
    assert sweep["l1"].max() <= 2.0 + 1e-12
    with pytest.raises(ValueError, match="quick"):
        chapter.compute_shift_sweep("no")
    fig = chapter.plot_shift_sweep(sweep)
    assert len(fig.axes[0].lines) == 2
    plt.close(fig)


def made_up_tables(w1_at_edge=0.3):
    """Costs, areas and a 7-point sweep whose L1 reaches its maximum (2) from 200 Hz on and whose
    W_1 is |shift| / 1000 (``w1_at_edge`` at ±300 Hz)."""
    costs = pd.DataFrame({"closed form": [0.12345, 0.01], "plan cost": [0.12345, 0.01]}, index=pd.Index([1, 2]))
    areas = pd.Series({"between CDFs": 0.12346, "between quantile functions": 0.12347})
    shift = np.array([-300, -200, -100, 0, 100, 200, 300], dtype=np.float32)
    w1 = np.abs(shift) / 1000.0
    w1[[0, -1]] = w1_at_edge
    sweep = pd.DataFrame({"shift_hz": shift, "w1": w1, "l1": [2.0, 2.0, 1.0, 0.0, 1.0, 2.0, 2.0]})
    return costs, areas, sweep


def test_findings_read_their_numbers_from_the_tables():
    text = chapter.findings(*made_up_tables())
    assert "= 0.12345 (normalised frequency)" in text
    assert "between the CDFs (0.12346)" in text and "quantile\n  functions (0.12347)" in text
    assert "95 % of its maximum from a shift of 200 Hz on" in text
    assert "grows at 100 % of the sweep's steps" in text and "is 1.5× larger at 300 Hz than at 200 Hz" in text
    assert "three-partial 1000 Hz tone" in text


def test_findings_follow_a_change_in_the_tables():
    costs, areas, sweep = made_up_tables(w1_at_edge=0.4)
    assert "is 2.0× larger at 300 Hz than at 200 Hz" in chapter.findings(costs, areas, sweep)
    sweep.loc[6, "w1"] = 0.1  # W_1 falls on the last step away from zero: 5 of 6 steps grow outwards
    assert "grows at 83 % of the sweep's steps" in chapter.findings(costs, areas, sweep)
    # a lower saturation threshold is reached closer to zero shift
    assert "50 % of its maximum from a shift of 100 Hz on" in chapter.findings(costs, areas, sweep, saturation=0.5)


def test_findings_refuse_incomplete_tables():
    costs, areas, sweep = made_up_tables()
    with pytest.raises(ValueError, match="p = 1"):
        chapter.findings(costs.drop(index=1), areas, sweep)
    with pytest.raises(ValueError, match="two shifts"):
        chapter.findings(costs, areas, sweep.iloc[:1])
    with pytest.raises(ValueError, match="saturation"):
        chapter.findings(costs, areas, sweep, saturation=1.5)
