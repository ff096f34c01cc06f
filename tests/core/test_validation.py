"""validation: strict booleans and capped quotes, and every public flag refusing truthy strings."""

import numpy as np
import pytest
import torch

from sot_utils.autoencoder import HarmonicAutoencoder
from sot_utils.losses import SpectralOTLoss
from sot_utils.spectral import stft_magnitude
from sot_utils.study.landscape import sweep
from sot_utils.study.perturb import render_perturbed_tones
from sot_utils.study.real_notes import Instrument, note_plan
from sot_utils.training.loss_config import paper_loss
from sot_utils.transport import spectral_ot, wasserstein_1d
from sot_utils.validation import check_bool, quote


@pytest.mark.parametrize("value", [True, False, np.bool_(True), np.bool_(False), torch.tensor(True)])
def test_check_bool_takes_booleans(value):
    assert check_bool("flag", value) is bool(value)


@pytest.mark.parametrize("value", ["false", "False", "no", "", 0, 1, 0.0, None, [False], torch.tensor([True, False])])
def test_check_bool_refuses_what_is_only_truthy_or_falsy(value):
    with pytest.raises(ValueError, match="`flag` must be True or False"):
        check_bool("flag", value)


def test_quote_never_grows_with_the_value():
    assert quote("abc") == "'abc'"
    assert len(quote("x" * 10**6)) <= 120
    nested = [[[[[["a" * 1000] * 1000] * 10] * 10] * 10]]
    assert len(quote(nested)) <= 120


def _audio():
    return torch.sin(2 * torch.pi * 440 * torch.arange(4096) / 16000)[None]


FLAG_CALLS = {
    "SpectralOTLoss(pad_end=)": lambda v: SpectralOTLoss(pad_end=v),
    "SpectralOTLoss(root=)": lambda v: SpectralOTLoss(root=v),
    "SpectralOTLoss(power=)": lambda v: SpectralOTLoss(power=v),
    "HarmonicAutoencoder(roll_off=)": lambda v: HarmonicAutoencoder(roll_off=v),
    "paper_loss(root=)": lambda v: paper_loss("SOT-2048", root=v),
    "paper_loss(reference_logf=)": lambda v: paper_loss("SOT-2048", reference_logf=v),
    "wasserstein_1d(root=)": lambda v: wasserstein_1d(torch.rand(3), torch.rand(3), root=v),
    "spectral_ot(root=)": lambda v: spectral_ot(torch.rand(5), torch.rand(5), torch.arange(5.0), root=v),
    "stft_magnitude(pad_end=)": lambda v: stft_magnitude(_audio(), 1024, 256, pad_end=v),
    "render_perturbed_tones(random_phase=)": lambda v: render_perturbed_tones(
        torch.tensor([440.0]), torch.ones(1, 3), 4096, 16000, torch.Generator().manual_seed(0), random_phase=v
    ),
    "sweep(gradient=)": lambda v: sweep(
        lambda t, e: (t - e).pow(2).mean(-1), _audio(), lambda x: x[:, None] * _audio(), torch.ones(2), gradient=v
    ),
    "note_plan(quick=)": lambda v: note_plan([Instrument(0, "piano", 60, 62)], quick=v),
}


@pytest.mark.parametrize("name", sorted(FLAG_CALLS))
@pytest.mark.parametrize("value", ["false", "False", "no"])
def test_public_flags_refuse_strings_that_python_reads_as_true(name, value):
    flag = name.split("(")[1].rstrip("=)")
    with pytest.raises(ValueError, match=f"`{flag}` must be True or False"):
        FLAG_CALLS[name](value)
