"""The autoencoder's traps (notebook 07): exact sub-harmonic minima, and what the fundamental floor does to them.

Oracles: the closed form of the sub-harmonic renders (f0/k with partials k, 2k, ... on is the
target's partial set), checked on the signals themselves; and the floor's definition."""

import numpy as np
import pandas as pd
import pytest
import torch

from sot_utils.losses import MultiScaleSpectralLoss
from sot_utils.study.landscape import harmonic_tones
from sot_utils.study.traps import (
    amplitude_optimal_landscape,
    centroid_f0,
    centroid_partial_slope,
    centroid_slope,
    fit_f0_and_amplitudes,
    subharmonic_ratios,
    wasserstein2_mean_split,
)


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
    from sot_utils.training.loss_config import paper_loss

    f0 = 400.0
    tone = harmonic_tones(torch.tensor([f0]), torch.full((8,), 0.7))
    candidates = torch.tensor([f0, 2 * f0 * 2**-0.05, 2 * f0, 2 * f0 * 2**0.05])
    at_f0, below, at_octave, above = amplitude_optimal_landscape(
        paper_loss("SOT-2048", reduction="none"), tone, candidates, steps=150
    )["loss"]
    assert at_octave < min(below, above)  # a local minimum
    assert at_octave > 10 * at_f0  # far above the truth


def test_the_w2_split_adds_up_to_pot_and_its_shape_term_ignores_translation():
    """Oracle: POT's 1-D Wasserstein distance (p = 2 returns W_2^2) of the whole measures and of
    the measures translated to zero mean."""
    import ot

    rng = np.random.default_rng(0)
    positions = np.sort(rng.uniform(0, 8000, 64))
    u, v = rng.random((2, 3, 64)) ** 4  # peaky, unnormalised
    centroid, shape = wasserstein2_mean_split(torch.tensor(positions), torch.tensor(u), torch.tensor(v))
    for i in range(3):
        a, b = u[i] / u[i].sum(), v[i] / v[i].sum()
        mean_a, mean_b = a @ positions, b @ positions
        assert float(centroid[i]) == pytest.approx((mean_a - mean_b) ** 2, rel=1e-9)
        whole = ot.wasserstein_1d(positions, positions, a, b, p=2)
        assert float(centroid[i] + shape[i]) == pytest.approx(whole, rel=1e-7)
        assert float(shape[i]) == pytest.approx(ot.wasserstein_1d(positions - mean_a, positions - mean_b, a, b, p=2))


def test_a_single_partial_minimises_spectral_ot_at_the_targets_power_centroid():
    """The centroid term at work: a one-partial estimate (a decoder that plays one harmonic) costs
    least, under the paper's spectral OT (W_2^2), where the target's power centroid is, not on any
    of its partials."""
    from sot_utils.transport import spectral_ot

    positions = torch.arange(0.0, 2000.0, 10.0)
    target = torch.zeros(len(positions))
    target[[20, 40, 60, 80]] = torch.tensor([1.0, 0.6, 0.3, 0.1])  # powers at 200, 400, 600, 800 Hz
    # one estimate per position, as loud as the target (an amplitude head matches the loudness)
    diracs = 2.0 * torch.eye(len(positions))
    costs = spectral_ot(target.expand_as(diracs), diracs, positions, p=2, mode="cut")
    centroid = float((target * positions).sum() / target.sum())
    assert centroid == pytest.approx(350.0)
    assert float(positions[int(costs.argmin())]) == pytest.approx(centroid)


def test_wasserstein2_mean_split_rejects_bad_measures():
    positions = torch.arange(4.0)
    with pytest.raises(ValueError, match="all zero"):
        wasserstein2_mean_split(positions, torch.zeros(4), torch.ones(4))
    with pytest.raises(ValueError, match="one mass per position"):
        wasserstein2_mean_split(positions, torch.ones(5), torch.ones(5))
    with pytest.raises(ValueError, match="v_weights"):
        wasserstein2_mean_split(positions, torch.ones(4), -torch.ones(4))


def test_centroid_f0_puts_the_decoders_centroid_on_the_targets():
    # an 8-partial tone (M = 4.5) rendered by a decoder playing harmonic 2 alone: read at 2.25 f0
    np.testing.assert_allclose(centroid_f0([200.0, 400.0], 4.5, [2.0, 4.5]), [450.0, 400.0])
    with pytest.raises(ValueError, match="decoder_centroid"):
        centroid_f0(200.0, 4.5, 0.5)
    with pytest.raises(ValueError, match="f0_hz"):
        centroid_f0(-1.0, 4.5, 2.0)


def test_centroid_slope_is_one_in_the_centroid_stage_and_zero_once_pitch_is_learned():
    rng = np.random.default_rng(1)
    f0 = rng.uniform(50, 1900, 200)
    centroid = rng.uniform(1, 4.5, 200)
    stage = centroid_slope(f0, centroid_f0(f0, centroid, 2.0), centroid)  # every tone read by harmonic balance 2
    assert stage["slope"] == pytest.approx(1.0) and stage["intercept"] == pytest.approx(-1.0)
    assert stage["residual_octaves"] == pytest.approx(0.0, abs=1e-9) and stage["n_tones"] == 200
    learned = centroid_slope(f0, f0 * 2 ** rng.normal(0, 0.01, 200), centroid)
    assert abs(learned["slope"]) < 0.02 and learned["residual_octaves"] < 0.02
    with pytest.raises(ValueError, match="not be all equal"):
        centroid_slope(f0, f0, np.full(200, 2.0))
    with pytest.raises(ValueError, match="one value per tone"):
        centroid_slope(f0, f0[:5], centroid)
    with pytest.raises(ValueError, match="target_centroid"):
        centroid_slope(f0, f0, centroid - 1)


def _landscape_by_rendering(loss, target, candidates, steps, floor):
    """Oracle: each candidate rendered by the synth at every step and its loss taken from the audio."""
    import math

    from sot_utils.constants import N_FRAMES, N_SAMPLES, SAMPLE_RATE
    from sot_utils.synth import exp_sigmoid, floor_fundamental, harmonic_synth

    logits = torch.zeros(len(candidates), 20, requires_grad=True)
    optimizer = torch.optim.Adam([logits], lr=0.1)
    best = torch.full((len(candidates),), math.inf)
    for _ in range(steps):
        optimizer.zero_grad()
        amplitudes = floor_fundamental(exp_sigmoid(logits), floor)
        audio = harmonic_synth(
            candidates[:, None].expand(-1, N_FRAMES),
            amplitudes[:, None].expand(-1, N_FRAMES, -1),
            N_SAMPLES,
            SAMPLE_RATE,
        )
        values = loss(target.expand(len(candidates), -1), audio)
        best = torch.minimum(best, values.detach())
        values.sum().backward()
        optimizer.step()
    return best.numpy()


@pytest.mark.parametrize(("floor", "chunk"), [(0.0, 8), (0.3, 8), (0.0, 4)])
def test_batched_landscapes_equal_the_synth_rendered_candidate_by_candidate(floor, chunk, monkeypatch):
    """Mixing single-harmonic spectra (one batch for every loss and target, a few candidates per pass)
    gives what rendering each candidate and taking its STFT gives, within float32 rounding."""
    from sot_utils.study import traps
    from sot_utils.study.traps import amplitude_optimal_landscapes
    from sot_utils.training.loss_config import paper_loss

    monkeypatch.setattr(traps, "CANDIDATE_CHUNK", chunk)  # 4: passes of 4 and 2 candidates

    candidates = torch.tensor([100.0, 133.3, 200.0, 395.0, 400.0, 810.0])
    amplitudes = torch.zeros(2, 8)
    amplitudes[0, :1], amplitudes[1, :3] = 0.7, 0.5
    targets = harmonic_tones(torch.tensor([400.0, 400.0]), amplitudes)
    losses = {group: paper_loss(group, reduction="none") for group in ("MSS-Lin", "SOT-2048", "SOT-512-LogF")}
    batched = amplitude_optimal_landscapes(losses, targets, candidates, steps=4, fundamental_floor=floor)
    assert len(batched) == 3 * 2 * 6
    for name, loss in losses.items():
        for row in range(2):
            expected = _landscape_by_rendering(loss, targets[row : row + 1], candidates, 4, floor)
            got = batched[(batched["loss_name"] == name) & (batched["target"] == row)]
            np.testing.assert_allclose(got["candidate_hz"], candidates.numpy())
            np.testing.assert_allclose(got["loss"], expected, rtol=1e-4, atol=1e-6 * expected.max())


def test_batched_landscapes_refuse_a_loss_without_spectra():
    from sot_utils.study.traps import amplitude_optimal_landscapes

    with pytest.raises(TypeError, match=r"`losses\['mse'\]` must be a spectral loss"):
        amplitude_optimal_landscapes({"mse": torch.nn.MSELoss()}, torch.zeros(1, 4096), torch.tensor([100.0]))
    with pytest.raises(ValueError, match="`targets` must have the synth's 4096 samples"):
        amplitude_optimal_landscapes(
            {"mss": MultiScaleSpectralLoss(reduction="none")}, torch.zeros(1, 4000), torch.tensor([100.0])
        )


def test_the_real_modulus_has_the_gradient_of_the_complex_abs():
    from sot_utils.study.traps import _Modulus

    z = torch.tensor([3 + 4j, -1 + 0.5j, 0j], dtype=torch.complex64, requires_grad=True)
    z.abs().sum().backward()
    real = z.detach().real.clone().requires_grad_()
    imaginary = z.detach().imag.clone().requires_grad_()
    modulus = _Modulus.apply(real, imaginary)
    modulus.sum().backward()
    np.testing.assert_allclose(modulus.detach(), z.detach().abs(), rtol=1e-6)
    np.testing.assert_allclose(real.grad, z.grad.real, rtol=1e-6)
    np.testing.assert_allclose(imaginary.grad, z.grad.imag, rtol=1e-6)
    assert real.grad[-1] == 0 and imaginary.grad[-1] == 0


def test_a_preference_for_the_truth_needs_a_gap_beyond_the_margin():
    """Hand-made landscapes: a gap of 1 % of the curve's range is a tie, 5 % a preference; the octave
    above is a dip when lower than the candidates 0.03 octave either side."""
    from sot_utils.study.traps import sub_harmonic_preference

    hz = np.array([100.0, 200.0, 380.0, 400.0, 760.0, 800.0, 840.0])
    rows = []
    for group, at_sub in (("tie", 0.11), ("prefers", 0.15)):
        loss = np.array([at_sub, 0.5, 1.0, 0.10, 0.9, 0.4, 0.8])
        rows.append(pd.DataFrame({"candidate_hz": hz, "loss": loss, "strongest_partial": 1, "group": group}))
    landscapes = pd.concat(rows, ignore_index=True).assign(n_partials=4)
    table = sub_harmonic_preference(landscapes, 400.0).set_index("group")
    assert table.loc["tie", "best sub-harmonic"] == "f0/4" and not table.loc["tie", "truth lower"]
    assert table.loc["prefers", "truth lower"]
    assert table["2 f0 a dip"].all() and (table["highest loss"] == 1.0).all()
    assert sub_harmonic_preference(landscapes, 400.0, margin=0.0).set_index("group").loc["tie", "truth lower"]


def _centroid_data(n=300, seed=2):
    rng = np.random.default_rng(seed)
    f0 = rng.uniform(50, 1900, n)
    # high tones have fewer audible partials, so the centroid falls with f0 (as on the synthetic data)
    centroid = 1 + rng.uniform(0, 3.5, n) * np.clip(1.2 - f0 / 1900, 0.1, 1)
    return f0, centroid


def test_centroid_partial_slope_tells_the_stage_from_a_constant_predictor():
    f0, centroid = _centroid_data()
    stage = centroid_partial_slope(f0, f0 * centroid / 2.5, centroid)  # centroid stage, M_dec = 2.5
    assert stage["partial_slope"] == pytest.approx(1, abs=1e-9)
    assert stage["f0_slope"] == pytest.approx(0, abs=1e-9)
    assert stage["intercept"] == pytest.approx(-np.log2(2.5), abs=1e-9)
    constant = centroid_partial_slope(f0, np.full_like(f0, 300.0), centroid)
    assert constant["partial_slope"] == pytest.approx(0, abs=1e-9)
    assert constant["f0_slope"] == pytest.approx(-1, abs=1e-9)
    # the one-variable slope is fooled by the constant predictor where M and f0 are correlated
    assert centroid_slope(f0, np.full_like(f0, 300.0), centroid)["slope"] > 0.3
    learned = centroid_partial_slope(f0, f0, centroid)
    assert learned["partial_slope"] == pytest.approx(0, abs=1e-12)
    assert learned["residual_octaves"] == pytest.approx(0, abs=1e-12)


def test_centroid_partial_slope_agrees_with_scipy_by_frisch_waugh_lovell():
    """The coefficient of log2 M in the two-variable fit equals the slope of the residuals of the
    error and of log2 M, each regressed on log2 f0 (scipy.stats.linregress)."""
    import scipy.stats

    f0, centroid = _centroid_data(seed=5)
    rng = np.random.default_rng(6)
    estimate = f0 * centroid**0.6 * 2 ** rng.normal(0, 0.3, len(f0))
    fit = centroid_partial_slope(f0, estimate, centroid)
    z, x, e = np.log2(f0), np.log2(centroid), np.log2(estimate / f0)

    def residual(y):
        line = scipy.stats.linregress(z, y)
        return y - line.intercept - line.slope * z

    reference = scipy.stats.linregress(residual(x), residual(e))
    assert fit["partial_slope"] == pytest.approx(reference.slope, rel=1e-9)
    n = len(f0)  # linregress counts n - 2 degrees of freedom, the full fit n - 3
    assert fit["partial_slope_se"] == pytest.approx(reference.stderr * np.sqrt((n - 2) / (n - 3)), rel=1e-9)


def test_centroid_partial_slope_refuses_collinear_or_bad_inputs():
    f0, centroid = _centroid_data(n=20)
    with pytest.raises(ValueError, match="vary independently"):
        centroid_partial_slope(f0, f0, np.full_like(f0, 2.0))
    with pytest.raises(ValueError, match="at least 4 tones"):
        centroid_partial_slope(f0[:3], f0[:3], centroid[:3])
    with pytest.raises(ValueError, match="one value per tone"):
        centroid_partial_slope(f0, f0[:-1], centroid)
    with pytest.raises(ValueError, match="> 0 Hz"):
        centroid_partial_slope(f0, -f0, centroid)
    with pytest.raises(ValueError, match=">= 1"):
        centroid_partial_slope(f0, f0, centroid * 0.1)
