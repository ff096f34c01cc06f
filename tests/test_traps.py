"""The autoencoder's traps (notebook 07): exact sub-harmonic minima, and what the fundamental floor does to them.

Oracles: the closed form of the sub-harmonic renders (f0/k with partials k, 2k, ... on is the
target's partial set), checked on the signals themselves; and the floor's definition."""

import numpy as np
import pytest
import torch

from sot_utils.losses import MultiScaleSpectralLoss
from sot_utils.study.landscape import harmonic_tones
from sot_utils.study.traps import amplitude_optimal_landscape, fit_f0_and_amplitudes, subharmonic_ratios


def test_subharmonic_ratios_are_the_k_with_k_times_K_within_the_decoder():
    assert subharmonic_ratios(1) == list(range(1, 21))
    assert subharmonic_ratios(8) == [1, 2]
    assert subharmonic_ratios(3, n_harmonics=10) == [1, 2, 3]
    assert subharmonic_ratios(21) == []


def test_the_floor_makes_the_octave_below_a_pure_tone_costlier_than_the_truth():
    """Without a floor, f0/2 with partial 2 alone is the pure tone exactly (as good as f0); with the
    decoder's fundamental floored, f0/2 must also sound f0/2 and loses to f0."""
    f0 = 440.0
    tone = harmonic_tones(torch.tensor([f0]), torch.tensor([0.7]))
    loss = MultiScaleSpectralLoss(reduction="none")
    candidates = torch.tensor([f0, f0 / 2])
    plain = amplitude_optimal_landscape(loss, tone, candidates, steps=150)
    floored = amplitude_optimal_landscape(loss, tone, candidates, steps=150, fundamental_floor=0.3)
    assert list(plain["strongest_partial"]) == [1, 2]
    at_f0, at_octave = floored["loss"]
    assert at_octave > 2 * at_f0  # the truth wins, clearly
    assert plain["loss"].iloc[1] < at_octave  # the floor is what costs the octave below
    assert floored["loss"].iloc[0] == pytest.approx(plain["loss"].iloc[0], rel=0.2)  # and not the truth


def test_fit_applies_the_floor_and_refuses_mismatched_starts():
    tones = harmonic_tones(torch.tensor([300.0, 600.0]), torch.tensor([0.7, 0.7]))
    fit = fit_f0_and_amplitudes(
        MultiScaleSpectralLoss(reduction="none"), tones, torch.tensor([300.0, 300.0]), steps=3, fundamental_floor=0.3
    )
    assert list(fit.columns) == ["start_hz", "final_hz", "loss", "strongest_partial", "prior"]
    assert np.isfinite(fit["loss"]).all()
    with pytest.raises(ValueError, match="one value per target"):
        fit_f0_and_amplitudes(MultiScaleSpectralLoss(reduction="none"), tones, torch.tensor([300.0]), steps=1)


def test_fundamental_ratio_reads_the_amplitudes_a_tone_was_made_with():
    from sot_utils.study.traps import fundamental_ratio

    f0 = torch.tensor([97.3, 440.0, 1500.0, 3000.0])
    amplitudes = torch.tensor(
        [[0.5, 1.0, 0.2, 0.0], [1.0, 0.3, 0.3, 0.3], [0.2, 1.0, 0.0, 0.0], [0.4, 0.0, 0.0, 1.0]]
    )  # the last tone's 4th partial (12 kHz) is above Nyquist: silent, and not compared
    ratios = fundamental_ratio(harmonic_tones(f0, amplitudes), f0)
    np.testing.assert_allclose(ratios, [0.5, 1.0, 0.2, 1.0], atol=2e-3)
    with pytest.raises(ValueError, match="one value per tone"):
        fundamental_ratio(harmonic_tones(f0, amplitudes), f0[:2])
    with pytest.raises(ValueError, match="`f0_hz` must be below Nyquist"):
        fundamental_ratio(harmonic_tones(f0[:1], amplitudes[:1]), torch.tensor([9000.0]))


def test_the_octave_above_is_a_local_minimum_of_sot_but_never_as_low_as_the_truth():
    """At 2 f0 the candidate's partials sit on the target's even partials (the odd ones are missing):
    not exact, so costlier than the truth, but a dip: 0.05 octave either side matches nothing."""
    from sot_utils.losses import paper_loss

    f0 = 400.0
    tone = harmonic_tones(torch.tensor([f0]), torch.full((8,), 0.7))
    candidates = torch.tensor([f0, 2 * f0 * 2**-0.05, 2 * f0, 2 * f0 * 2**0.05])
    at_f0, below, at_octave, above = amplitude_optimal_landscape(
        paper_loss("SOT-2048", reduction="none"), tone, candidates, steps=150
    )["loss"]
    assert at_octave < min(below, above)  # a local minimum
    assert at_octave > 10 * at_f0  # far above the truth
