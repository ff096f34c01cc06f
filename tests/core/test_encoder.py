"""Tests for the PESTO-like encoder (docs/method.md#method-encoder)."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from sot_utils import spectral
from sot_utils.encoder import EncoderOutput, PitchEncoder, ToeplitzLinear, f0_from_logits, soft_argmax_unit

N_BINS = 285
FMIN_HZ, FMAX_HZ = 32.70, 7750.68


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def cents(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return 1200.0 * torch.log2(a.double() / b.double()).abs()


@pytest.fixture(scope="module")
def encoder() -> PitchEncoder:
    torch.manual_seed(0)
    return PitchEncoder().eval()


# --------------------------------------------------------------------------------------------
# Architecture


def test_parameter_count_and_breakdown(encoder):
    assert n_params(encoder) == 46_012
    assert n_params(encoder.norm) == 570
    assert n_params(encoder.conv_in) == 640
    assert [n_params(layer) for layer in encoder.prefilters] == [24_040]
    pointwise_convs = [m for m in encoder.pointwise if isinstance(m, nn.Conv1d)]
    assert [n_params(m) for m in pointwise_convs] == [1_230, 930, 310, 33]
    assert n_params(encoder.f0_head) == 1_139
    assert n_params(encoder.amplitude_head) == 17_120


def test_constructor_arguments_change_the_architecture():
    assert n_params(PitchEncoder(n_residual_prefilters=2)) == 46_012 + 24_040
    assert n_params(PitchEncoder(n_residual_prefilters=0)) == 46_012 - 24_040
    assert n_params(PitchEncoder(n_harmonics=8)) == 46_012 - 12 * (3 * N_BINS + 1)
    small = PitchEncoder(n_bins=72, channels=(8, 4, 2), kernel_size=5, n_harmonics=4)
    out = small(torch.rand(3, 5, 72))
    assert out.logits.shape == (3, 5, 72) and out.amplitudes.shape == (3, 5, 4)
    assert abs(small.fmax_hz - float(spectral.cqt_frequencies(72)[-1])) < 1e-9


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"kernel_size": 14}, "kernel_size"),
        ({"channels": (40,)}, "channels"),
        ({"dropout": 1.0}, "dropout"),
        ({"temperature": 0.0}, "temperature"),
        ({"fmin_hz": 100.0, "fmax_hz": 50.0}, "fmax_hz"),
        ({"n_residual_prefilters": -1}, "n_residual_prefilters"),
    ],
)
def test_bad_constructor_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        PitchEncoder(**kwargs)


# --------------------------------------------------------------------------------------------
# ToeplitzLinear


def toeplitz_matrix(kernel: np.ndarray, in_features: int, out_features: int) -> np.ndarray:
    """Oracle: M[j, i] = kernel[i - j + out_features - 1] (cross-correlation with padding)."""
    matrix = np.zeros((out_features, in_features))
    for j in range(out_features):
        for i in range(in_features):
            matrix[j, i] = kernel[i - j + out_features - 1]
    return matrix


@pytest.mark.parametrize("in_features, out_features", [(855, 285), (7, 11), (12, 12)])
def test_toeplitz_linear_matches_explicit_matrix(in_features, out_features):
    torch.manual_seed(1)
    layer = ToeplitzLinear(in_features, out_features).double()
    x = torch.randn(4, in_features, dtype=torch.float64)
    kernel = layer.weight.detach().numpy()[0, 0]
    expected = x.numpy() @ toeplitz_matrix(kernel, in_features, out_features).T
    np.testing.assert_allclose(layer(x).detach().numpy(), expected, rtol=1e-10, atol=1e-10)


def test_toeplitz_linear_is_translation_equivariant():
    torch.manual_seed(2)
    layer = ToeplitzLinear(40, 40).double()
    x = torch.zeros(3, 40, dtype=torch.float64)
    x[:, 5:30] = torch.randn(3, 25, dtype=torch.float64)
    shifted = torch.roll(x, 1, dims=-1)  # zeros at both ends, so nothing wraps around
    torch.testing.assert_close(layer(shifted)[:, 1:], layer(x)[:, :-1])


def test_toeplitz_linear_rejects_wrong_width():
    with pytest.raises(ValueError, match="`x`"):
        ToeplitzLinear(10, 5)(torch.zeros(2, 9))


# --------------------------------------------------------------------------------------------
# f0 decoding


@pytest.mark.parametrize("i", [0, 1, 37, 142, 200, 283, 284])
def test_peaked_logits_decode_to_cqt_bin(i):
    bin_hz = spectral.cqt_frequencies()
    logits = torch.zeros(N_BINS)
    logits[i] = 100.0
    f0 = f0_from_logits(logits, 0.1, float(bin_hz[0]), float(bin_hz[-1]))
    assert cents(f0, bin_hz[i]) < 0.01


def test_encoder_decodes_with_cqt_range(encoder):
    bin_hz = spectral.cqt_frequencies()
    assert encoder.fmin_hz == pytest.approx(FMIN_HZ, abs=5e-3)
    assert encoder.fmax_hz == pytest.approx(FMAX_HZ, abs=5e-3)
    logits = torch.zeros(2, 3, N_BINS)
    logits[..., 100] = 100.0
    f0 = f0_from_logits(logits, encoder.temperature, encoder.fmin_hz, encoder.fmax_hz)
    assert f0.shape == (2, 3)
    assert float(cents(f0, bin_hz[100]).max()) < 0.01


def test_expectation_is_taken_in_midi_not_hz():
    # equal mass on bins 90 and 96 decodes to bin 93 (geometric mean), not the arithmetic mean in Hz
    bin_hz = spectral.cqt_frequencies()
    logits = torch.zeros(N_BINS, dtype=torch.float64)
    logits[[90, 96]] = 100.0
    f0 = f0_from_logits(logits, 0.1, float(bin_hz[0]), float(bin_hz[-1]))
    assert cents(f0, bin_hz[93]) < 1e-6


def test_soft_argmax_unit_uniform_and_temperature():
    assert float(soft_argmax_unit(torch.zeros(11), 0.1)) == pytest.approx(0.5)
    logits = torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0])
    hot = float(soft_argmax_unit(logits, 1e-3))
    warm = float(soft_argmax_unit(logits, 10.0))
    assert hot == pytest.approx(0.25) and warm == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("temperature", [0.0, -0.1, float("nan"), float("inf")])
def test_soft_argmax_rejects_bad_temperature(temperature):
    with pytest.raises(ValueError, match="temperature"):
        soft_argmax_unit(torch.zeros(5), temperature)


# --------------------------------------------------------------------------------------------
# Forward pass


def test_output_shapes_and_ranges(encoder):
    torch.manual_seed(3)
    out = encoder(10.0 * torch.rand(2, 16, N_BINS))
    assert isinstance(out, EncoderOutput)
    assert out.f0_hz.shape == (2, 16)
    assert out.amplitudes.shape == (2, 16, 20)
    assert out.logits.shape == (2, 16, N_BINS)
    assert bool((out.amplitudes > 1e-7).all()) and bool((out.amplitudes <= 2 + 1e-7).all())
    assert bool((out.f0_hz >= FMIN_HZ - 0.01).all()) and bool((out.f0_hz <= FMAX_HZ + 0.01).all())


def test_frames_are_encoded_independently(encoder):
    torch.manual_seed(4)
    cqt = torch.rand(2, 16, N_BINS)
    full = encoder(cqt)
    single = encoder(cqt[1:, 7:8])
    torch.testing.assert_close(single.logits[0, 0], full.logits[1, 7], rtol=1e-5, atol=1e-5)


def test_end_to_end_with_real_cqt(encoder):
    t = torch.arange(4096) / spectral.SAMPLE_RATE
    audio = 0.9 * torch.sin(2 * math.pi * 440.0 * t).unsqueeze(0).repeat(2, 1)
    cqt = spectral.CQT()(audio[:, :-1])  # the paper feeds 4095 samples -> 16 frames
    assert cqt.shape == (2, 16, N_BINS)
    out = encoder(cqt)
    assert out.f0_hz.shape == (2, 16) and bool(torch.isfinite(out.f0_hz).all())


def test_eval_is_deterministic_and_train_uses_dropout():
    torch.manual_seed(5)
    model = PitchEncoder()
    cqt = torch.rand(2, 4, N_BINS)
    model.eval()
    torch.testing.assert_close(model(cqt).logits, model(cqt).logits, rtol=0, atol=0)
    model.train()
    torch.manual_seed(6)
    first = model(cqt)
    torch.manual_seed(7)
    second = model(cqt)
    assert not torch.equal(first.logits, second.logits)
    assert not torch.equal(first.amplitudes, second.amplitudes)


@pytest.mark.parametrize(
    "cqt",
    [
        torch.zeros(16, N_BINS),  # missing batch dimension
        torch.zeros(2, 16, N_BINS - 1),  # wrong number of bins
        torch.full((2, 16, N_BINS), float("nan")),
        torch.zeros(2, 16, N_BINS, dtype=torch.int64),
        np.zeros((2, 16, N_BINS), dtype=np.float32),
    ],
    ids=["ndim", "n_bins", "nan", "int", "numpy"],
)
def test_bad_input_names_cqt(encoder, cqt):
    with pytest.raises(ValueError, match="`cqt`"):
        encoder(cqt)


def test_gradients_reach_every_parameter():
    torch.manual_seed(8)
    model = PitchEncoder().train()
    out = model(torch.rand(2, 4, N_BINS))
    (out.f0_hz.sum() + out.amplitudes.sum()).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert bool(torch.isfinite(param.grad).all()), name


def test_channels_last_forward_equals_the_plain_conv1d_stack():
    """The fast channels-last forward computes exactly the reference layer stack (conv1d layout)."""
    torch.manual_seed(3)
    enc = PitchEncoder().eval()
    cqt = torch.rand(2, 5, 285)
    with torch.no_grad():
        x = enc.conv_in(enc.norm(cqt.reshape(10, 1, 285)))
        for prefilter in enc.prefilters:
            x = x + prefilter(x)
        features = enc.pointwise(x).flatten(1)
        expected = enc.f0_head(features).reshape(2, 5, 285)
        torch.testing.assert_close(enc(cqt).logits, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("frames_per_block", [1, 3, 7, 256])
def test_blocked_trunk_gives_the_conv1d_stack_outputs_and_gradients(monkeypatch, frames_per_block):
    """Running the trunk on blocks of frames (for cache locality) changes neither the outputs nor
    the parameter gradients of the plain conv1d stack over all frames at once."""
    import sot_utils.encoder as encoder_module
    from sot_utils.synth import exp_sigmoid

    monkeypatch.setattr(encoder_module, "FRAMES_PER_BLOCK", frames_per_block)
    torch.manual_seed(4)
    enc = PitchEncoder(dropout=0.0)
    cqt = torch.rand(2, 5, 285)

    def plain_forward():
        x = enc.conv_in(enc.norm(cqt.reshape(10, 1, 285)))
        for prefilter in enc.prefilters:
            x = x + prefilter(x)
        features = enc.pointwise(x).flatten(1)
        return enc.f0_head(features).reshape(2, 5, 285), exp_sigmoid(enc.amplitude_head(features)).reshape(2, 5, 20)

    def gradients(logits, amplitudes):
        enc.zero_grad()
        (logits.square().sum() + amplitudes.square().sum()).backward()
        return {name: p.grad.clone() for name, p in enc.named_parameters()}

    logits, amplitudes = plain_forward()
    expected = gradients(logits, amplitudes)
    out = enc(cqt)
    torch.testing.assert_close(out.logits, logits.detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.amplitudes, amplitudes.detach(), rtol=1e-5, atol=1e-7)
    got = gradients(out.logits, out.amplitudes)
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-4, atol=1e-5, msg=name)


@pytest.mark.parametrize("p", [0.0, 0.3, 0.5])
def test_channels_last_dropout_has_the_distribution_of_nn_dropout(p):
    """Training mode: each activation is kept with probability 1 - p (a binomial count within 5
    standard deviations) and the kept ones are scaled by 1 / (1 - p), gradient included; eval
    mode is the identity."""
    from sot_utils.encoder import _apply_channels_last

    layers = nn.Sequential(nn.Dropout(p))
    x = torch.full((20, 285, 10), 3.0, requires_grad=True)
    torch.manual_seed(8)
    y = _apply_channels_last(layers.train(), x)
    kept = y != 0
    n = x.numel()
    assert abs(int(kept.sum()) - n * (1 - p)) <= 5 * math.sqrt(n * p * (1 - p)) + 1e-9
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 3.0 / (1 - p)))
    y.sum().backward()
    torch.testing.assert_close(x.grad, kept.float() / (1 - p))
    assert torch.equal(_apply_channels_last(layers.eval(), x), x)


def test_a_zero_f0_head_starts_every_seed_at_the_centre_of_the_grid():
    from sot_utils.encoder import PitchEncoder

    cqt = torch.rand(2, 16, 285)
    for seed in (42, 123, 456):
        torch.manual_seed(seed)
        zero = PitchEncoder(f0_head_init="zero").eval()
        torch.manual_seed(seed)
        random = PitchEncoder().eval()
        centre = math.sqrt(zero.fmin_hz * zero.fmax_hz)  # 503 Hz
        torch.testing.assert_close(zero(cqt).f0_hz, torch.full((2, 16), centre), rtol=1e-5, atol=0)
        # everything but the f0 head is the seed's own initialisation
        for (name, a), (_, b) in zip(zero.named_parameters(), random.named_parameters()):
            assert torch.equal(a, b) == (name != "f0_head.weight"), name
    with pytest.raises(ValueError, match="f0_head_init"):
        PitchEncoder(f0_head_init="centre")


@pytest.mark.parametrize("floor", [0.3, 1.0])
def test_a_fundamental_floor_changes_only_the_first_amplitude_where_it_binds(floor):
    from sot_utils.encoder import PitchEncoder

    cqt = torch.rand(2, 16, 285)
    torch.manual_seed(0)
    floored = PitchEncoder(fundamental_floor=floor).eval()
    torch.manual_seed(0)
    plain = PitchEncoder().eval()
    got, paper = floored(cqt), plain(cqt)
    torch.testing.assert_close(got.f0_hz, paper.f0_hz, rtol=0, atol=0)  # the same weights, the same f0
    torch.testing.assert_close(got.amplitudes[..., 1:], paper.amplitudes[..., 1:], rtol=0, atol=0)
    expected = torch.maximum(paper.amplitudes[..., 0], floor * paper.amplitudes.amax(dim=-1))
    torch.testing.assert_close(got.amplitudes[..., 0], expected, rtol=0, atol=0)
    # an untrained head gives every partial about 0.43: a floor of 0.3 waits for training to bind
    assert (got.amplitudes[..., 0] > paper.amplitudes[..., 0]).any() == (floor == 1.0)
    for bad in (-0.5, 2.0, "0.3", True):
        with pytest.raises(ValueError, match="`fundamental_floor` must be a number in \\[0, 1\\]"):
            PitchEncoder(fundamental_floor=bad)


def test_the_encoder_parts_list_names_every_module_in_order():
    """ENCODER_PARTS is what the ensemble mirrors: a module added to the encoder and not to this
    list (and to trunk_layers or the heads) fails here."""
    from sot_utils.encoder import ENCODER_PARTS, PitchEncoder

    assert tuple(name for name, _ in PitchEncoder().named_children()) == ENCODER_PARTS
