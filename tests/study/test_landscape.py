"""The shapes the paper claims, numerically; and the landscape tools against closed forms and POT."""

import numpy as np
import ot
import pandas as pd
import pytest
import torch
from scipy.signal import find_peaks

from sot_utils.losses import MultiScaleSpectralLoss, SpectralOTLoss
from sot_utils.study import landscape
from sot_utils.transport import transport_plan_1d, wasserstein_1d

SINE = torch.tensor([1.0])
TARGET_HZ = 4000.0


@pytest.fixture(scope="module")
def sine_sweeps():
    """The paper's figure setting: a 4 kHz sine, estimates detuned by up to ±2.5 kHz."""
    offsets = torch.linspace(-2500, 2500, 201)
    target = landscape.harmonic_tones(torch.tensor([TARGET_HZ]), SINE)
    family = landscape.tone_family("f0", TARGET_HZ, SINE)
    frames = {
        name: landscape.sweep(loss, target, family, TARGET_HZ + offsets, gradient=True)
        for name, loss in landscape.landscape_losses().items()
    }
    return offsets.numpy(), frames


def test_sot_sine_sweep_is_monotone_on_each_side_with_single_minimum_at_zero(sine_sweeps):
    offsets, frames = sine_sweeps
    for name in ("SOT W2", "SOT W2, complete frames"):
        values = frames[name]["loss"].to_numpy()
        centre = int(np.argmin(values))
        assert offsets[centre] == 0.0, name
        assert np.all(np.diff(values[: centre + 1]) < 0), name  # strictly decreasing up to the target
        assert np.all(np.diff(values[centre:]) > 0), name  # strictly increasing after it
        assert len(landscape.local_minima(values)) == 1, name
    # the V is linear in |Δf|: W_2 of a pure shift is |Δf| / Nyquist (complete frames: no leakage term)
    clean = frames["SOT W2, complete frames"]["loss"].to_numpy()
    np.testing.assert_allclose(clean[offsets != 0], np.abs(offsets[offsets != 0]) / 8000, rtol=0.1)


def test_mss_curves_have_flat_plateaus_beyond_a_bandwidth(sine_sweeps):
    offsets, frames = sine_sweeps
    far = np.abs(offsets) >= 1000
    for name in ("L1 SS", "L2 SS", "L1 MSS (lin)", "L2 MSS (lin)"):
        values, grads = frames[name]["loss"].to_numpy(), frames[name]["gradient"].to_numpy()
        normalised = landscape.minmax_normalize(values)
        # the loss barely changes across the plateau, compared with the depth of the notch
        assert np.ptp(normalised[far]) < 0.1, name
        # and its gradient carries no direction there: it points to the target only about half the time
        toward = np.mean(np.sign(grads[far]) == np.sign(offsets[far]))
        assert 0.3 < toward < 0.7, (name, toward)
    # SOT on complete frames: every gradient points to the target. Checked in float64: at whole-bin
    # shifts (multiples of 125 Hz here) the two CDFs tie exactly, W has a kink, and float32 rounding
    # of the tied levels can flip the subgradient (the reference's sort-based path shares this).
    sine64 = SINE.double()
    target = landscape.harmonic_tones(torch.tensor([TARGET_HZ], dtype=torch.float64), sine64)
    family = landscape.tone_family("f0", TARGET_HZ, sine64)
    sot = landscape.sweep(
        landscape.landscape_losses()["SOT W2, complete frames"],
        target,
        family,
        torch.tensor(TARGET_HZ + offsets[far], dtype=torch.float64),
        gradient=True,
    )
    assert np.all(np.sign(sot["gradient"].to_numpy()) == np.sign(offsets[far]))


def test_log_mss_curve_has_several_local_minima(sine_sweeps):
    _, frames = sine_sweeps
    normalised = landscape.minmax_normalize(frames["L1 MSS (log)"]["loss"])
    prominent, _ = find_peaks(-normalised, prominence=0.2)
    assert len(prominent) >= 5
    sot, _ = find_peaks(-landscape.minmax_normalize(frames["SOT W2"]["loss"]), prominence=0.2)
    assert list(sot) == [100]  # its only prominent minimum is the global one, at zero detuning


def test_sweep_gradient_matches_finite_differences():
    loss = SpectralOTLoss(n_fft=512, pad_end=False, reduction="none")
    amps = torch.tensor([1.0, 0.5], dtype=torch.float64)
    target = landscape.harmonic_tones(torch.tensor([440.0], dtype=torch.float64), amps)
    family = landscape.tone_family("f0", 440.0, amps)
    values = torch.tensor([300.0, 520.0], dtype=torch.float64)
    frame = landscape.sweep(loss, target, family, values, gradient=True)
    h = 1e-3
    numeric = (
        landscape.sweep(loss, target, family, values + h)["loss"]
        - landscape.sweep(loss, target, family, values - h)["loss"]
    ) / (2 * h)
    np.testing.assert_allclose(frame["gradient"], numeric, rtol=1e-4)


def test_tone_families_render_what_they_say():
    amps = torch.tensor([1.0, 0.5, 0.25])
    f0 = landscape.tone_family("f0", 100.0, amps)(torch.tensor([220.0]))
    torch.testing.assert_close(f0, landscape.harmonic_tones(torch.tensor([220.0]), amps))
    amp = landscape.tone_family("amplitude", 220.0, amps, harmonic=2)(torch.tensor([0.9]))
    torch.testing.assert_close(amp, landscape.harmonic_tones(torch.tensor([220.0]), torch.tensor([1.0, 0.9, 0.25])))
    count = landscape.tone_family("n_harmonics", 220.0, amps)(torch.tensor([2.0]))
    torch.testing.assert_close(count, landscape.harmonic_tones(torch.tensor([220.0]), torch.tensor([1.0, 0.5, 0.0])))
    with pytest.raises(ValueError, match="parameter"):
        landscape.tone_family("phase", 220.0, amps)
    with pytest.raises(ValueError, match="harmonic"):
        landscape.tone_family("amplitude", 220.0, amps, harmonic=4)


def test_surface_matches_pointwise_sweeps():
    amps = torch.tensor([1.0, 0.5, 0.3])
    loss = SpectralOTLoss(n_fft=512, reduction="none")
    target = landscape.harmonic_tones(torch.tensor([300.0]), amps)

    def render(f0, count):
        return landscape.harmonic_tones(f0, amps * (torch.arange(1, 4) <= count[:, None]))

    xs, ys = torch.tensor([250.0, 300.0, 350.0]), torch.tensor([1.0, 3.0])
    grid = landscape.surface(loss, target, render, xs, ys)
    assert grid.shape == (2, 3)
    for i, count in enumerate(ys):
        row = landscape.sweep(loss, target, lambda f: render(f, count.expand(len(f))), xs)["loss"].to_numpy()
        np.testing.assert_allclose(grid[i], row, rtol=1e-6)
    assert grid.argmin() == 4  # f0 300 Hz with all 3 harmonics


def test_rank_accuracy_counts_concordant_pairs():
    cents = torch.tensor([-300.0, -100.0, 100.0, 200.0])

    class PitchDistance:  # an oracle loss that knows the true pitch distance: perfect ranking
        def __call__(self, target, estimate):
            return torch.arange(estimate.shape[0], dtype=torch.float32)

    class Constant:
        def __call__(self, target, estimate):
            return torch.zeros(estimate.shape[0])

    # candidates are rendered in the given order; an increasing loss ranks them by index
    order = torch.tensor([-100.0, 100.0, 200.0, -300.0])
    assert landscape.rank_accuracy(PitchDistance(), torch.tensor([300.0]), order, SINE) == 1.0
    assert landscape.rank_accuracy(Constant(), torch.tensor([300.0]), cents, SINE) == 0.5
    reverse = torch.tensor([-300.0, 200.0, 100.0, -100.0])
    # |cents| ordering of reverse: 300 > 200 > 100 = 100 -> 5 comparable pairs, all inverted
    assert landscape.rank_accuracy(PitchDistance(), torch.tensor([300.0]), reverse, SINE) == 0.0


def test_fit_f0_converges_from_a_detuning_with_complete_frame_sot_and_reports_success():
    loss = SpectralOTLoss(n_fft=2048, pad_end=False, frequency_scale="log", reduction="none")
    fits = landscape.fit_f0(loss, torch.tensor([300.0, 700.0]), torch.tensor([-0.5, 0.0, 0.5]), SINE, steps=120)
    assert list(fits.columns) == ["target_f0_hz", "initial_detuning_octaves", "final_f0_hz", "error_cents", "success"]
    assert len(fits) == 6 and bool(fits["success"].all())
    np.testing.assert_allclose(
        fits["error_cents"], 1200 * np.log2(fits["final_f0_hz"] / fits["target_f0_hz"]), atol=1e-3
    )
    rates = landscape.success_rate({"sot": fits, "half": fits.assign(success=fits["initial_detuning_octaves"] == 0)})
    assert rates.loc[0.5, "sot"] == 100.0 and rates.loc[0.5, "half"] == 0.0 and rates.loc[0.0, "half"] == 100.0


def test_transport_plan_is_the_optimal_coupling():
    g = torch.Generator().manual_seed(0)
    x = torch.linspace(0, 1, 12, dtype=torch.float64)
    a = torch.rand(12, generator=g, dtype=torch.float64) + 0.05
    b = torch.rand(12, generator=g, dtype=torch.float64) + 0.05
    a, b = a / a.sum(), b / b.sum()
    plan = transport_plan_1d(x, a, b)
    torch.testing.assert_close(plan.sum(1), a)
    torch.testing.assert_close(plan.sum(0), b)
    cost = (x[:, None] - x[None, :]) ** 2
    assert float((plan * cost).sum()) == pytest.approx(float(wasserstein_1d(x, x, a, b, p=2)), abs=1e-12)
    exact = ot.emd(a.numpy(), b.numpy(), cost.numpy())  # network simplex, an independent solver
    np.testing.assert_allclose(plan.numpy(), exact, atol=1e-9)


def test_cdf_quantile_curves_areas_equal_w1():
    g = torch.Generator().manual_seed(1)
    x = torch.linspace(0, 0.5, 20, dtype=torch.float64)
    a, b = torch.rand(20, generator=g, dtype=torch.float64), torch.rand(20, generator=g, dtype=torch.float64)
    a, b = a / a.sum(), b / b.sum()
    c = landscape.cdf_quantile_curves(x, a, b)
    area_cdf = np.sum(np.abs(c["u_cdf"] - c["v_cdf"])[:-1] * np.diff(c["positions"]))
    area_q = np.sum(np.diff(c["levels"], prepend=0.0) * np.abs(c["u_quantile"] - c["v_quantile"]))
    w1 = float(wasserstein_1d(x, x, a, b, p=1))
    assert area_cdf == pytest.approx(w1) and area_q == pytest.approx(w1)


def test_helpers_and_bad_input():
    assert list(landscape.local_minima([3, 1, 2, 0.5, 4])) == [1, 3]
    np.testing.assert_allclose(landscape.minmax_normalize([2.0, 4.0, 3.0]), [0.0, 1.0, 0.5])
    assert not landscape.minmax_normalize([1.0, 1.0]).any()
    torch.testing.assert_close(landscape.decaying_amplitudes(3), torch.tensor([1.0, 0.5, 1 / 3]))
    per_batch = SpectralOTLoss(n_fft=512)  # reduction="mean": not per example
    target = landscape.harmonic_tones(torch.tensor([440.0]), SINE)
    with pytest.raises(ValueError, match="reduction='none'"):
        landscape.sweep(per_batch, target, landscape.tone_family("f0", 440.0, SINE), torch.tensor([400.0, 500.0]))
    with pytest.raises(ValueError, match="f0_hz"):
        landscape.harmonic_tones(torch.tensor([-1.0]), SINE)
    with pytest.raises(ValueError, match="steps"):
        landscape.fit_f0(per_batch, torch.tensor([440.0]), torch.tensor([0.0]), SINE, steps=0)
    assert isinstance(
        landscape.success_rate({"a": pd.DataFrame({"initial_detuning_octaves": [0.0], "success": [True]})}),
        pd.DataFrame,
    )


def test_fit_f0_perturb_target_reaches_the_targets_only():
    loss = SpectralOTLoss(n_fft=2048, pad_end=False, frequency_scale="log", reduction="none")
    args = (loss, torch.tensor([440.0]), torch.tensor([0.25]), landscape.decaying_amplitudes(4))
    plain = landscape.fit_f0(*args, steps=20)
    same = landscape.fit_f0(*args, steps=20, perturb_target=lambda x: x)
    pd.testing.assert_frame_equal(plain, same)
    seen = []
    landscape.fit_f0(*args, steps=2, perturb_target=lambda x: seen.append(x.shape) or x * 0.5)
    assert seen == [(1, 4096)]  # applied once, to the [T * D, n_samples] targets
    with pytest.raises(ValueError, match="perturb_target"):
        landscape.fit_f0(*args, steps=2, perturb_target=lambda x: x[0])


def test_loss_to_target_gives_the_loss_values_and_gradients_with_the_target_transformed_once():
    from sot_utils.training.loss_config import paper_loss

    targets = landscape.harmonic_tones(torch.tensor([220.0, 330.0, 500.0]), landscape.decaying_amplitudes(4))
    f0 = torch.tensor([230.0, 300.0, 520.0], requires_grad=True)
    losses = {
        **landscape.landscape_losses(n_fft=512),
        "SOT-2048": paper_loss("SOT-2048", reduction="none"),  # a weighted sum: SOT + MSS
        "plain callable": lambda target, estimate: (target - estimate).pow(2).mean(-1),
    }
    for name, loss in losses.items():
        render = lambda: landscape.harmonic_tones(f0, landscape.decaying_amplitudes(4))  # noqa: E731
        expected = landscape.per_example_loss(loss, targets, render())
        (expected_grad,) = torch.autograd.grad(expected.sum(), f0)
        values = landscape.loss_to_target(loss, targets)(render())
        (grad,) = torch.autograd.grad(values.sum(), f0)
        torch.testing.assert_close(values, expected, rtol=0, atol=0, msg=name)
        torch.testing.assert_close(grad, expected_grad, rtol=0, atol=0, msg=name)
    with pytest.raises(ValueError, match="`estimate` must have the target's shape"):
        landscape.loss_to_target(losses["SOT W2"], targets)(targets[:2])
    with pytest.raises(ValueError, match="`target`"):
        landscape.loss_to_target(losses["SOT W2"], targets[0])


def test_fit_f0_in_passes_of_a_few_fits_equals_one_batch(monkeypatch):
    """The fits run forward and backward FIT_CHUNK at a time: the same descent as all at once (to
    float32 rounding), uneven last pass included, and on_step sees every fit."""
    loss = MultiScaleSpectralLoss(reduction="none")
    targets, detunings, amplitudes = torch.tensor([150.0, 420.0]), torch.tensor([-0.3, 0.0, 0.2, 0.5]), torch.ones(3)
    results, seen = {}, {}
    for chunk in (1000, 3):
        monkeypatch.setattr(landscape, "FIT_CHUNK", chunk)
        steps = []
        results[chunk] = landscape.fit_f0(
            loss, targets, detunings, amplitudes, steps=6, on_step=lambda step, f0, values: steps.append(f0.shape)
        )
        seen[chunk] = steps
    np.testing.assert_allclose(results[3]["final_f0_hz"], results[1000]["final_f0_hz"], rtol=1e-5)
    assert seen[3] == seen[1000] == [torch.Size([8])] * 6
