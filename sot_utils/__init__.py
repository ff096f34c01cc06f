"""Spectral Optimal Transport for unsupervised harmonic parameter estimation: a reproducible study.

The package has three floors, each importing only the ones below it:

- the core, here: ``constants``, ``validation``, ``spectral`` (STFT, CQT, bin positions),
  ``synth`` (the DDSP harmonic synthesizer), ``transport`` (1-D Wasserstein distances, spectral
  OT), ``losses`` (SOT, MSS, their sum, the harmonic prior), ``encoder``, ``autoencoder``,
  ``metrics``, and the shipped ``configs``;
- :mod:`sot_utils.training`: the dataset, run configs and the groups' losses built from them,
  checkpoints, training, evaluation, estimation;
- :mod:`sot_utils.study`: landscapes, plots, the explorers, robustness, peers, real notes, traps.

The names below are the public API, re-exported from the modules that define them (each lists
them in its own ``__all__``) so that they are importable from ``sot_utils`` directly; they load
their module on first use (``import sot_utils`` itself imports no torch).
"""

from importlib import import_module

_EXPORTS = {
    # signal format
    "SAMPLE_RATE": "constants",
    "N_SAMPLES": "constants",
    "N_FRAMES": "constants",
    # transport and losses
    "wasserstein_1d": "transport",
    "wasserstein_1d_shared_support": "transport",
    "transport_plan_1d": "transport",
    "spectral_ot": "transport",
    "SpectralOTLoss": "losses",
    "MultiScaleSpectralLoss": "losses",
    "WeightedLossSum": "losses",
    "paper_loss": "training.loss_config",
    "build_loss": "training.loss_config",
    "PAPER_GROUPS": "training.loss_config",
    "harmonic_index_prior": "losses",
    # signal chain
    "stft_magnitude": "spectral",
    "bin_positions": "spectral",
    "CQT": "spectral",
    "harmonic_synth": "synth",
    "PitchEncoder": "encoder",
    "HarmonicAutoencoder": "autoencoder",
    # metrics
    "compute_metrics": "metrics",
    "raw_pitch_accuracy": "metrics",
    "raw_chroma_accuracy": "metrics",
    # trained models
    "load_model": "training.checkpoint",
    "estimate_f0": "training.estimate",
    "resolve_config": "training.config",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'sot_utils' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
