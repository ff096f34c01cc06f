"""The harmonic autoencoder: CQT features, the decoder as the synth, the roll-off response, batched prediction."""

import math

import numpy as np
import pytest
import torch

from sot_utils.autoencoder import (
    HarmonicAutoencoder,
    RollOffFilter,
    cqt_features,
    n_parameters,
    predict,
    roll_off_response,
)
from sot_utils.spectral import CQT
from sot_utils.synth import harmonic_synth

SR = 16000


def test_cqt_features_are_the_cqt_of_all_but_the_last_sample():
    torch.manual_seed(0)
    audio = torch.randn(5, 4096)
    features = cqt_features(audio, batch_size=2, progress=False)
    assert features.shape == (5, 16, 285)  # one CQT frame per synthesizer control frame
    torch.testing.assert_close(features, CQT()(audio[:, :-1]), rtol=0, atol=0)


def test_the_decoder_is_the_harmonic_synth_of_the_encoders_controls():
    torch.manual_seed(0)
    model = HarmonicAutoencoder().eval()
    cqt = torch.rand(3, 16, 285)
    with torch.no_grad():
        audio, out = model(cqt)
        expected = harmonic_synth(out.f0_hz, out.amplitudes, 4096, SR)
    assert audio.shape == (3, 4096) and out.f0_hz.shape == (3, 16) and out.amplitudes.shape == (3, 16, 20)
    torch.testing.assert_close(audio, expected, rtol=0, atol=0)
    assert n_parameters(model) == sum(p.numel() for p in model.encoder.parameters()) == 46_012


def test_roll_off_is_flat_below_the_corner_and_falls_6_db_per_octave_above():
    response = roll_off_response(n_magnitudes=65, corner_hz=500.0, sample_rate=SR)
    frequencies = np.linspace(0, SR / 2, 65)
    below, above = frequencies <= 500.0, frequencies > 500.0
    assert np.all(response.numpy()[below] == 1.0)
    np.testing.assert_allclose(response.numpy()[above], 500.0 / frequencies[above], rtol=1e-12)
    # the FIR filter realises it: a sine at 2 kHz (two octaves up) comes out at about a quarter of its amplitude
    n = torch.arange(8192, dtype=torch.float32)
    for hz, gain in ((250.0, 1.0), (2000.0, 0.25)):
        sine = torch.sin(2 * math.pi * hz * n / SR)[None]
        out = RollOffFilter()(sine)[0, 2048:-2048]  # away from the edges
        assert float(out.abs().max()) == pytest.approx(gain, rel=0.05)


def test_predict_in_batches_equals_one_eval_pass_and_restores_the_mode():
    torch.manual_seed(1)
    model = HarmonicAutoencoder().train()
    cqt = torch.rand(5, 16, 285)
    prediction = predict(model, cqt, batch_size=2)
    assert model.training  # restored
    model.eval()
    with torch.no_grad():
        audio, out = model(cqt)
    torch.testing.assert_close(prediction.audio, audio)
    torch.testing.assert_close(prediction.f0_hz, out.f0_hz)
    torch.testing.assert_close(prediction.amplitudes, out.amplitudes)


def test_an_oracle_amplitude_decoder_plays_the_given_amplitudes_in_every_frame():
    torch.manual_seed(0)
    model = HarmonicAutoencoder(oracle_amplitudes=True).eval()
    cqt = torch.rand(3, 16, 285)
    oracle = torch.tensor([[1.0, 0.5], [0.2, 0.0], [0.7, 0.7]])
    with torch.no_grad():
        audio, out = model(cqt, oracle)
        expected_amplitudes = torch.zeros(3, 16, 20)
        expected_amplitudes[..., :2] = oracle[:, None, :]
        expected = harmonic_synth(out.f0_hz, expected_amplitudes, 4096, SR)
    torch.testing.assert_close(out.amplitudes, expected_amplitudes, rtol=0, atol=0)
    torch.testing.assert_close(audio, expected, rtol=0, atol=0)
    prediction = predict(model, cqt, batch_size=2, oracle_amplitudes=oracle)  # batched, in order
    torch.testing.assert_close(prediction.audio, audio)


def test_oracle_amplitudes_are_required_exactly_where_the_decoder_plays_them():
    cqt = torch.rand(2, 16, 285)
    with pytest.raises(ValueError, match="plays oracle amplitudes: pass `amplitudes`"):
        HarmonicAutoencoder(oracle_amplitudes=True)(cqt)
    with pytest.raises(ValueError, match=r"`amplitudes` must be \[2, K\] with K <= 20"):
        HarmonicAutoencoder(oracle_amplitudes=True)(cqt, torch.ones(2, 21))
    with pytest.raises(ValueError, match=r"`amplitudes` must be \[2, K\]"):
        HarmonicAutoencoder(oracle_amplitudes=True)(cqt, torch.ones(3, 4))
    with pytest.raises(ValueError, match="amplitudes"):
        HarmonicAutoencoder(oracle_amplitudes=True)(cqt, -torch.ones(2, 4))
    with pytest.raises(ValueError, match="only for an autoencoder built with oracle_amplitudes=True"):
        HarmonicAutoencoder()(cqt, torch.ones(2, 4))
    with pytest.raises(ValueError, match="one row per example"):
        predict(HarmonicAutoencoder(oracle_amplitudes=True), cqt, oracle_amplitudes=torch.ones(3, 4))
