"""Robustness sweeps: f0 estimators on perturbed synthetic test tones (notebook 06).

Each perturbation of :mod:`sot_utils.study.perturb` is applied at several levels to one split of the
synthetic dataset, and every estimator is scored on the result with RPA, RCA (50 cents,
``mir_eval`` through :mod:`sot_utils.metrics`) and the octave difference:

- **noise** (white or pink, SNR in dB) is added to the stored tones, as loaded (peak 0.9);
- **inharmonicity** (stiffness ``B``), **vibrato** (depth in cents, 5.5 Hz) and **random
  phases** re-render each tone from its labels (f0, amplitudes), then peak-normalise it.

Scores are per example: an estimator returns one f0 per tone (the median over its frames, as
:func:`sot_utils.estimate_f0` and :mod:`sot_utils.study.baselines` do), compared with the tone's
reference pitch: its f0, or with vibrato the geometric mean of its f0 track. Level 0 of every tone
perturbation re-renders the clean tones (equal to the stored ones up to rounding).

Estimators are plain callables ``audio [batch, n_samples] at 16 kHz -> f0 [batch] Hz``, so our
checkpoints (:func:`checkpoint_estimators`) and peer trackers run through the same code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pandas as pd
import torch
from tqdm.auto import tqdm

from ..constants import DATA_F0_RANGE_HZ, SAMPLE_RATE
from ..metrics import octave_difference, raw_chroma_accuracy, raw_pitch_accuracy
from ..training.data import load_split, peak_normalize
from ..validation import check_bool, check_int
from .perturb import add_noise, frame_f0, render_perturbed_tones

__all__ = [
    "PERTURBATIONS",
    "Estimator",
    "baseline_estimators",
    "best_validation_runs",
    "checkpoint_estimators",
    "evaluate_estimators",
    "noise_floor_remedy",
    "perturbed_split",
    "robustness_sweep",
]

# perturbation -> (level name, default levels); the first level of the tone perturbations is "none"
PERTURBATIONS: dict[str, tuple[str, tuple[float, ...]]] = {
    "white noise": ("SNR (dB)", (40.0, 30.0, 20.0, 10.0, 5.0, 0.0)),
    "pink noise": ("SNR (dB)", (40.0, 30.0, 20.0, 10.0, 5.0, 0.0)),
    "inharmonicity": ("B", (0.0, 1e-4, 1e-3, 3e-3, 1e-2)),
    "vibrato": ("depth (cents)", (0.0, 25.0, 50.0, 100.0, 200.0)),
    "random phase": ("random phases", (0.0, 1.0)),
}
VIBRATO_RATE_HZ = 5.5  # a typical singing / string vibrato

Estimator = Callable[[torch.Tensor], torch.Tensor]


def perturbed_split(
    data_path, split: str, perturbation: str, level: float, seed: int = 0, limit: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """One split of the synthetic dataset under one perturbation.

    Args:
        data_path: dataset file (:func:`sot_utils.training.data.save_dataset`).
        split: ``"train"``, ``"val"`` or ``"test"``.
        perturbation: a key of :data:`PERTURBATIONS`.
        level: SNR in dB, ``B``, vibrato depth in cents, or 0/1 for random phases.
        seed: seeds the noise, vibrato phases and partial phases (the same for every estimator).
        limit: keep the first ``limit`` tones (None: all).

    Returns:
        ``(audio [n, n_samples] peak 0.9, reference f0 [n] Hz)``.
    """
    if perturbation not in PERTURBATIONS:
        raise ValueError(f"`perturbation` must be one of {list(PERTURBATIONS)}, got {perturbation!r}")
    data = load_split(data_path, split)
    n = len(data) if limit is None else min(check_int("limit", limit, minimum=1), len(data))
    audio, f0_hz, amplitudes = data.audio[:n], data.f0_hz[:n], data.amplitudes[:n]
    generator = torch.Generator().manual_seed(seed)
    if perturbation.endswith("noise"):
        return add_noise(audio, float(level), perturbation.split()[0], generator), f0_hz
    options = {
        "inharmonicity": dict(inharmonicity=float(level)),
        "vibrato": dict(vibrato_cents=float(level), vibrato_rate_hz=VIBRATO_RATE_HZ),
        "random phase": dict(random_phase=bool(level)),
    }[perturbation]
    tones, track = render_perturbed_tones(f0_hz, amplitudes, audio.shape[-1], data.sample_rate, generator, **options)
    return peak_normalize(tones), frame_f0(track, 1)[:, 0]


def checkpoint_estimators(checkpoints: Mapping[str, object]) -> dict[str, Estimator]:
    """Trained encoders as :data:`Estimator` s (median f0 over their 16 frames).

    The CQT does not depend on the model, so the estimators share it: each computes it only for
    audio it has not seen last (the same tensor, unmodified), and a sweep pays for one CQT per
    condition instead of one per checkpoint.

    Args:
        checkpoints: name -> checkpoint path, or a ``(model, config)`` pair from
            :func:`sot_utils.training.checkpoint.load_model`.
    """
    from ..spectral import CQT
    from ..training.checkpoint import load_model
    from ..training.estimate import prepare_audio  # the encoder stack, only when used

    transform, cache = CQT(), {}

    def features(audio: torch.Tensor) -> torch.Tensor:
        key = (audio.data_ptr(), tuple(audio.shape), audio._version)
        if cache.get("key") != key:
            cache.update(key=key, cqt=transform(prepare_audio(audio, SAMPLE_RATE)))
        return cache["cqt"]

    def estimator(model) -> Estimator:
        @torch.no_grad()
        def f0(audio: torch.Tensor) -> torch.Tensor:
            return model.encoder(features(audio)).f0_hz.median(dim=-1).values

        return f0

    models = {name: (path if isinstance(path, tuple) else load_model(path))[0] for name, path in checkpoints.items()}
    return {name: estimator(model) for name, model in models.items()}


def score(f0_true_hz: torch.Tensor, f0_est_hz: torch.Tensor) -> dict[str, float]:
    """RPA and RCA (%, 50 cents) and octave difference of per-example estimates ``[n]`` Hz."""
    return {
        "rpa": raw_pitch_accuracy(f0_true_hz, f0_est_hz),
        "rca": raw_chroma_accuracy(f0_true_hz, f0_est_hz),
        "octave_difference": octave_difference(f0_true_hz, f0_est_hz),
    }


def robustness_sweep(
    estimators: Mapping[str, Estimator],
    data_path,
    split: str = "test",
    perturbations: Mapping[str, tuple[float, ...]] | None = None,
    seed: int = 0,
    limit: int | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Score every estimator on every perturbation level.

    Args:
        estimators: name -> callable ``audio [batch, n_samples] (16 kHz) -> f0 [batch] Hz``.
        data_path: dataset file.
        split: which split to perturb.
        perturbations: perturbation -> levels (default: :data:`PERTURBATIONS`' levels).
        seed: seeds the perturbations; every estimator sees the same perturbed audio.
        limit: first ``limit`` tones of the split (None: all).
        progress: tqdm bar over the conditions.

    Returns:
        DataFrame, one row per (estimator, perturbation, level): ``estimator``, ``perturbation``,
        ``level``, ``rpa``, ``rca`` (%), ``octave_difference``, ``n_tones``.
    """
    check_bool("progress", progress)
    if not estimators:
        raise ValueError("`estimators` is empty: give at least one name -> callable")
    chosen = (
        {name: levels for name, (_, levels) in PERTURBATIONS.items()} if perturbations is None else dict(perturbations)
    )
    conditions = [(name, level) for name, levels in chosen.items() for level in levels]
    rows = []
    for perturbation, level in tqdm(conditions, desc="perturbations", disable=not progress):
        audio, reference = perturbed_split(data_path, split, perturbation, level, seed, limit)
        for name, estimator in estimators.items():
            estimate = torch.as_tensor(estimator(audio), dtype=torch.float32).flatten()
            if estimate.shape != reference.shape:
                raise ValueError(
                    f"estimator {name!r} returned {tuple(estimate.shape)}, "
                    f"expected one f0 per tone {tuple(reference.shape)}"
                )
            rows.append(
                {
                    "estimator": name,
                    "perturbation": perturbation,
                    "level": float(level),
                    **score(reference, estimate),
                    "n_tones": len(reference),
                }
            )
    return pd.DataFrame(rows)


def evaluate_estimators(
    estimators: Mapping[str, Estimator],
    audio: torch.Tensor,
    reference_f0_hz: torch.Tensor,
    groups: Mapping[str, torch.Tensor] | None = None,
) -> pd.DataFrame:
    """Score estimators on one set of tones, overall and per group of tones, with their time per tone.

    Every estimator runs once on all the tones; the groups (e.g. instrument families) only split
    the scoring.

    Args:
        estimators: name -> callable ``audio [batch, n_samples] (16 kHz) -> f0 [batch] Hz``.
        audio: ``[n, n_samples]`` at 16 kHz.
        reference_f0_hz: ``[n]`` Hz.
        groups: group name -> indices ``[n_group]`` into the tones, or None.

    Returns:
        DataFrame, one row per estimator and group (group ``"all"`` first): ``estimator``,
        ``group``, ``n_tones``, ``rpa``, ``rca``, ``octave_difference``, ``seconds_per_example``
        (wall clock on this machine over all the tones, including any feature computation).
    """
    import time

    subsets = {"all": torch.arange(len(reference_f0_hz)), **(groups or {})}
    rows = []
    for name, estimator in estimators.items():
        start = time.perf_counter()
        estimate = torch.as_tensor(estimator(audio), dtype=torch.float32).flatten()
        seconds = (time.perf_counter() - start) / audio.shape[0]
        if estimate.shape != reference_f0_hz.shape:
            raise ValueError(
                f"estimator {name!r} returned {tuple(estimate.shape)}, "
                f"expected one f0 per tone {tuple(reference_f0_hz.shape)}"
            )
        for group, index in subsets.items():
            rows.append(
                {
                    "estimator": name,
                    "group": group,
                    "n_tones": len(index),
                    **score(reference_f0_hz[index], estimate[index]),
                    "seconds_per_example": seconds,
                }
            )
    return pd.DataFrame(rows)


def noise_floor_remedy(
    losses: Mapping[str, torch.nn.Module],
    snrs_db: tuple[float, ...],
    colors: tuple[str, ...] = ("white", "pink"),
    target_f0_hz: torch.Tensor | None = None,
    initial_detuning_octaves: torch.Tensor | None = None,
    n_harmonics: int = 8,
    steps: int = 150,
    seed: int = 0,
    progress: bool = True,
) -> pd.DataFrame:
    """Does a loss still find f0 when the target is noisy? Gradient-descent f0 fits on noisy targets.

    For each noise colour and SNR, the targets (harmonic tones, amplitudes ``1/k``) get additive
    noise; :func:`sot_utils.study.landscape.fit_f0` fits a clean synthesizer's f0 from several initial
    detunings. Comparing a loss with and without ``noise_floor``
    (:class:`sot_utils.losses.SpectralOTLoss`) measures the remedy.

    Args:
        losses: name -> per-example loss (``reduction="none"``).
        snrs_db: SNRs, dB; ``math.inf`` = clean targets.
        colors: noise colours.
        target_f0_hz: ``[T]`` Hz (default 110, 220, 440, 880).
        initial_detuning_octaves: ``[D]`` (default ±1, ±0.5, ±0.25).
        n_harmonics: partials of the tones.
        steps: gradient steps per fit.
        seed: seeds the noise (the same noisy targets for every loss).
        progress: tqdm bar.

    Returns:
        DataFrame: ``loss``, ``color``, ``snr_db``, ``success_rate`` (%, fits ending within 50
        cents), ``n_fits``.
    """
    check_bool("progress", progress)
    from .landscape import decaying_amplitudes, fit_f0

    targets = torch.tensor([110.0, 220.0, 440.0, 880.0]) if target_f0_hz is None else target_f0_hz
    detunings = (
        torch.tensor([-1.0, -0.5, -0.25, 0.25, 0.5, 1.0])
        if initial_detuning_octaves is None
        else initial_detuning_octaves
    )
    amplitudes = decaying_amplitudes(n_harmonics)
    conditions = [(color, snr) for color in colors for snr in snrs_db]
    rows = []
    for color, snr in tqdm(conditions, desc="noisy fits", disable=not progress):
        for name, loss in losses.items():
            noise = None
            if snr != float("inf"):
                noise_generator = torch.Generator().manual_seed(seed)
                noise = lambda audio, g=noise_generator, s=float(snr), c=color: add_noise(audio, s, c, g)  # noqa: E731
            fits = fit_f0(loss, targets, detunings, amplitudes, steps=steps, perturb_target=noise)
            rows.append(
                {
                    "loss": name,
                    "color": color,
                    "snr_db": float(snr),
                    "success_rate": 100.0 * float(fits.success.mean()),
                    "n_fits": len(fits),
                }
            )
    return pd.DataFrame(rows)


def best_validation_runs(root, budget: int) -> pd.DataFrame:
    """Per group, the seed with the lowest validation LSD up to ``budget`` (the paper's criterion).

    Picks one run to stand for its group without looking at the test split.

    Args:
        root: ``<group>/<seed>/`` run folders.
        budget: training steps.

    Returns:
        one row per group: ``group``, ``seed``, ``path`` (its checkpoint for the budget),
        ``val_lsd`` (dB²).
    """
    from ..training.evaluate import find_runs, load_logs

    runs = find_runs(root, budget=budget)
    if runs.empty:
        raise ValueError(f"no run under {root} reached the budget of {budget} steps")
    logs = load_logs(runs)
    best = logs[logs["step"] <= budget].groupby(["group", "seed"])["val_lsd"].min().rename("val_lsd").reset_index()
    table = runs.merge(best, on=["group", "seed"])
    picked = table.loc[table.groupby("group", sort=False)["val_lsd"].idxmin()]
    return picked.reset_index(drop=True)[["group", "seed", "path", "val_lsd"]]


def baseline_estimators(
    names, fmin_hz: float = DATA_F0_RANGE_HZ[0], fmax_hz: float = DATA_F0_RANGE_HZ[1]
) -> dict[str, Estimator]:
    """Peer trackers of :mod:`sot_utils.study.baselines` as :data:`Estimator` s (16 kHz audio, median f0)."""
    from .baselines import baseline_f0

    def estimator(name: str) -> Estimator:
        return lambda audio: baseline_f0(name, audio, SAMPLE_RATE, fmin_hz=fmin_hz, fmax_hz=fmax_hz).f0_hz

    return {name: estimator(name) for name in names}
