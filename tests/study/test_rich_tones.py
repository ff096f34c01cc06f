"""Synthetic tones closer to real notes: the draws, the rendering, and the dataset layout."""

import math

import numpy as np
import pytest
import torch

from sot_utils.study.rich_tones import (
    MAX_PARTIALS,
    draw_rich_parameters,
    generate_rich_dataset,
    render_rich_tone,
)
from sot_utils.training.data import cached_features, load_split, save_dataset


def _clean(f0, amplitudes, **changes):
    """Parameters of one tone with every perturbation off unless changed."""
    parameters = {
        "f0_hz": torch.tensor([f0], dtype=torch.float64),
        "amplitudes": torch.tensor([amplitudes + [0.0] * (MAX_PARTIALS - len(amplitudes))], dtype=torch.float64),
        "n_harmonics": torch.tensor([len(amplitudes)]),
        "inharmonicity": torch.zeros(1, dtype=torch.float64),
        "vibrato_cents": torch.zeros(1, dtype=torch.float64),
        "vibrato_rate_hz": torch.full((1,), 5.0, dtype=torch.float64),
        "attack": torch.tensor([False]),
        "envelope_s": torch.full((1,), 1e9, dtype=torch.float64),  # no decay to speak of
        "noise_snr_db": torch.full((1,), math.inf, dtype=torch.float64),
        "pink": torch.tensor([False]),
    }
    parameters.update({key: torch.tensor([value]) for key, value in changes.items()})
    return parameters


def _peak_hz(audio):
    spectrum = np.abs(np.fft.rfft(audio.numpy() * np.hanning(len(audio)), n=8 * len(audio)))
    return np.argmax(spectrum) * 16000 / (8 * len(audio))


def test_a_missing_fundamental_leaves_its_partials_and_stretched_partials_move_up():
    generator = torch.Generator().manual_seed(0)
    missing = render_rich_tone(_clean(200.0, [0.0, 1.0]), 0, generator)
    assert _peak_hz(missing) == pytest.approx(400, abs=3)  # only the second partial sounds
    stiff = render_rich_tone(
        _clean(200.0, [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0], inharmonicity=1e-3), 0, generator
    )
    assert _peak_hz(stiff) == pytest.approx(2000 * math.sqrt(1 + 1e-3 * 100), abs=4)  # 10 f0 sqrt(1 + B 100)


def test_an_attack_rises_a_decay_falls_and_noise_meets_its_snr():
    generator = torch.Generator().manual_seed(1)
    attack = render_rich_tone(_clean(300.0, [1.0], attack=True, envelope_s=0.05), 0, generator)
    assert attack[:400].abs().max() < 0.5 * attack[-400:].abs().max()
    decay = render_rich_tone(_clean(300.0, [1.0], envelope_s=0.05), 0, generator)
    assert decay[:400].abs().max() > 5 * decay[-400:].abs().max()
    clean = render_rich_tone(_clean(300.0, [1.0]), 0, torch.Generator().manual_seed(2))
    noisy = render_rich_tone(_clean(300.0, [1.0], noise_snr_db=20.0), 0, torch.Generator().manual_seed(2))
    snr = 10 * torch.log10(clean.pow(2).mean() / (noisy - clean).pow(2).mean())
    assert float(snr) == pytest.approx(20.0, abs=0.01)


def test_draws_cover_the_intended_ranges():
    parameters = draw_rich_parameters(3000, torch.Generator().manual_seed(0))
    f0 = parameters["f0_hz"]
    assert 41.2 <= float(f0.min()) and float(f0.max()) <= 1864.7
    pure = parameters["n_harmonics"] == 1
    assert (parameters["amplitudes"][pure, 0] > 0).all()  # a pure tone keeps its fundamental
    several = ~pure
    silent_fundamental = (parameters["amplitudes"][several, 0] == 0).float().mean()
    assert 0.05 < float(silent_fundamental) < 0.15
    assert 0.25 < float((parameters["inharmonicity"] > 0).float().mean()) < 0.35
    assert 0.45 < float(torch.isfinite(parameters["noise_snr_db"]).float().mean()) < 0.55


def test_the_dataset_repeats_with_its_seed_and_loads_for_training(tmp_path):
    dataset = generate_rich_dataset(30, seed=3, progress=False)
    again = generate_rich_dataset(30, seed=3, progress=False)
    assert torch.equal(dataset["examples"]["audio"], again["examples"]["audio"])
    assert not torch.equal(
        dataset["examples"]["audio"], generate_rich_dataset(30, seed=4, progress=False)["examples"]["audio"]
    )
    path = tmp_path / "rich.pt"
    save_dataset(dataset, path)
    assert load_split(path, "train").amplitudes.shape == (21, MAX_PARTIALS)
    audio, cqt, labels = cached_features(path, "val", progress=False)
    assert cqt.shape == (len(audio), 16, 285) and torch.isfinite(cqt).all()
    assert (labels["n_audible_harmonics"] >= 1).all()


def test_a_bad_size_or_seed_is_named():
    with pytest.raises(ValueError, match="size"):
        generate_rich_dataset(0, progress=False)
    with pytest.raises(ValueError, match="seed"):
        generate_rich_dataset(10, seed=-1, progress=False)
