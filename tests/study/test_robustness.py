"""Robustness sweeps: perturbed splits, scoring with oracle estimators, shared-CQT checkpoints."""

import math

import numpy as np
import pytest
import torch

from sot_utils.study.robustness import (
    PERTURBATIONS,
    baseline_estimators,
    best_validation_runs,
    checkpoint_estimators,
    evaluate_estimators,
    noise_floor_remedy,
    perturbed_split,
    robustness_sweep,
)
from sot_utils.training.data import generate_harmonic_dataset, load_split, save_dataset
from sot_utils.training.estimate import estimate_f0

CHECKPOINT = "checkpoints/MSS-Lin/456/best.pt"  # shipped, tracks pitch on the test split


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    path = tmp_path_factory.mktemp("robustness") / "tiny.pt"
    save_dataset(generate_harmonic_dataset(seed=3, size=60, progress=False), path)
    return path


@pytest.mark.parametrize("perturbation", ["inharmonicity", "vibrato", "random phase"])
def test_level_zero_of_a_tone_perturbation_is_the_clean_split(tiny_data, perturbation):
    clean = load_split(tiny_data, "test")
    audio, reference = perturbed_split(tiny_data, "test", perturbation, 0.0)
    torch.testing.assert_close(audio, clean.audio, atol=1e-4, rtol=0)
    torch.testing.assert_close(reference, clean.f0_hz)


def test_noise_conditions_keep_the_labels_and_set_the_snr(tiny_data):
    clean = load_split(tiny_data, "test")
    audio, reference = perturbed_split(tiny_data, "test", "pink noise", 5.0, limit=4)
    assert audio.shape == (4, clean.audio.shape[-1])
    torch.testing.assert_close(reference, clean.f0_hz[:4])
    snr = 10 * torch.log10(clean.audio[:4].pow(2).mean(-1) / (audio - clean.audio[:4]).pow(2).mean(-1))
    np.testing.assert_allclose(snr.numpy(), 5.0, atol=1e-3)


def test_vibrato_reference_is_the_geometric_mean_pitch(tiny_data):
    clean = load_split(tiny_data, "test")
    _, reference = perturbed_split(tiny_data, "test", "vibrato", 200.0)
    cents = 1200 * torch.log2(reference / clean.f0_hz)
    assert (
        float(cents.abs().max()) < 200 and float(cents.abs().max()) > 1
    )  # 0.26 s is not a whole number of 5.5 Hz cycles


def test_unknown_perturbation_is_named():
    with pytest.raises(ValueError, match="perturbation"):
        perturbed_split("unused.pt", "test", "reverb", 1.0)


def test_sweep_scores_an_oracle_at_100_and_a_constant_at_0(tiny_data):
    def truth(audio):  # reads the reference back: one f0 per tone, in the order given
        return truth.reference[: audio.shape[0]]

    truth.reference = load_split(tiny_data, "test").f0_hz
    estimators = {"truth": truth, "constant": lambda audio: torch.full((audio.shape[0],), 1234.5)}
    table = robustness_sweep(
        estimators, tiny_data, perturbations={"white noise": (10.0,), "random phase": (1.0,)}, progress=False
    )
    assert list(table.columns) == ["estimator", "perturbation", "level", "rpa", "rca", "octave_difference", "n_tones"]
    assert len(table) == 4
    assert (table[table.estimator == "truth"].rpa == 100.0).all()
    assert (table[table.estimator == "constant"].rpa < 20.0).all()


def test_sweep_rejects_an_estimator_with_the_wrong_output_shape(tiny_data):
    with pytest.raises(ValueError, match="one f0 per tone"):
        robustness_sweep(
            {"frames": lambda audio: torch.ones(audio.shape[0], 16)},
            tiny_data,
            perturbations={"white noise": (10.0,)},
            progress=False,
        )
    with pytest.raises(ValueError, match="estimators"):
        robustness_sweep({}, tiny_data, progress=False)


def test_default_levels_cover_each_perturbation():
    assert set(PERTURBATIONS) == {"white noise", "pink noise", "inharmonicity", "vibrato", "random phase"}
    for name, (_, levels) in PERTURBATIONS.items():
        assert len(levels) >= 2, name


def test_checkpoint_estimators_share_the_cqt_and_match_estimate_f0(tiny_data):
    audio = load_split(tiny_data, "test").audio[:6]
    estimators = checkpoint_estimators({"a": CHECKPOINT, "b": CHECKPOINT})
    expected = estimate_f0(CHECKPOINT, audio, 16000).f0_hz
    torch.testing.assert_close(estimators["a"](audio), expected)
    torch.testing.assert_close(estimators["b"](audio), expected)
    other = audio.flip(0)  # new audio: the cache must not serve the old CQT
    torch.testing.assert_close(estimators["a"](other), expected.flip(0))
    assert math.isfinite(float(expected.sum()))


def test_evaluate_estimators_scores_and_times_each_estimator():
    reference = torch.tensor([100.0, 200.0, 400.0, 800.0])
    audio = torch.randn(4, 4096)
    table = evaluate_estimators({"truth": lambda a: reference, "octave up": lambda a: 2 * reference}, audio, reference)
    assert list(table.estimator) == ["truth", "octave up"] and set(table.group) == {"all"}
    assert table.rpa.tolist() == [100.0, 0.0] and table.rca.tolist() == [100.0, 100.0]
    assert table.octave_difference.tolist() == pytest.approx([0.0, 1.0])
    assert (table.seconds_per_example >= 0).all()
    calls = []
    half_right = lambda a: calls.append(1) or torch.cat([reference[:2], 3 * reference[2:]])  # noqa: E731
    by_group = evaluate_estimators(
        {"half": half_right}, audio, reference, groups={"low": torch.tensor([0, 1]), "high": torch.tensor([2, 3])}
    )
    assert calls == [1]  # one run, scored per group
    assert by_group.group.tolist() == ["all", "low", "high"] and by_group.n_tones.tolist() == [4, 2, 2]
    assert by_group.rpa.tolist() == [50.0, 100.0, 0.0]


class FlatLoss(torch.nn.Module):
    """A loss with zero gradient: every fit stays where it starts."""

    def forward(self, target, estimate):
        return 0.0 * estimate.sum(dim=-1)


def test_noise_floor_remedy_reports_success_per_condition():
    common = dict(target_f0_hz=torch.tensor([440.0]), n_harmonics=3, steps=3, progress=False)
    near = noise_floor_remedy(
        {"flat": FlatLoss()},
        (math.inf, 0.0),
        ("white",),
        initial_detuning_octaves=torch.tensor([-0.01, 0.01]),
        **common,
    )
    far = noise_floor_remedy(
        {"flat": FlatLoss()}, (10.0,), ("white", "pink"), initial_detuning_octaves=torch.tensor([-0.5, 0.5]), **common
    )
    assert list(near.columns) == ["loss", "color", "snr_db", "success_rate", "n_fits"]
    assert near.success_rate.tolist() == [100.0, 100.0] and near.snr_db.tolist() == [math.inf, 0.0]
    assert far.success_rate.tolist() == [0.0, 0.0] and far.color.tolist() == ["white", "pink"]
    assert (far.n_fits == 2).all()


def test_best_validation_runs_pick_the_lowest_validation_lsd_up_to_the_budget():
    from pathlib import Path

    import pandas as pd

    picked = best_validation_runs("checkpoints", 9900)
    assert len(picked) == len(set(picked.group)) == 7
    for row in picked.itertuples():
        lowest = {}
        for run_dir in Path("checkpoints", row.group).iterdir():
            log = pd.read_csv(run_dir / "log.csv")
            lowest[int(run_dir.name)] = log.loc[log.step <= 9900, "val_lsd"].min()
        assert row.seed == min(lowest, key=lowest.get) and row.val_lsd == pytest.approx(lowest[row.seed])
        assert Path(row.path).exists()
    with pytest.raises(ValueError, match="budget"):
        best_validation_runs("checkpoints", 10**7)


def test_baseline_estimators_return_one_f0_per_tone():
    t = torch.arange(4096) / 16000
    audio = torch.stack([torch.sin(2 * math.pi * f * t) for f in (220.0, 440.0)])
    f0 = baseline_estimators(["yin"])["yin"](audio)
    assert f0.shape == (2,)
    np.testing.assert_allclose(1200 * np.log2(f0.numpy() / [220.0, 440.0]), 0.0, atol=25)
