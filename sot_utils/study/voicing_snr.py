"""The voicing decision against the signal-to-noise ratio and the level (notebook 06).

:func:`sot_utils.training.voicing.voicing` calls a signal noise when less than half the power of
its frames lies in spectral peaks (:data:`~sot_utils.constants.VOICING_MIN_TONAL_SHARE`). This
module measures what that gives on pitched sounds in noise, and on noise alone:

- **sources** (:func:`voicing_sources`): synthetic tones from
  :func:`sot_utils.training.data.generate_harmonic_dataset` (1 to 8 partials, 40-1950 Hz), plain
  sawtooths (``scipy.signal.sawtooth``: naive, so aliased, as users make them) at a few pitches,
  and real instrument notes (:mod:`sot_utils.study.real_notes`, ``make real-notes``);
- **SNR rows**: each source plus white or pink noise at each SNR (per example, mean squares over
  the example), several noise seeds, the mix scaled to :data:`SNR_LEVEL_DB` and stored as 16-bit
  samples, as a file would hold it;
- **level rows**: each clean source at RMS levels from -70 to -3 dBFS, 16-bit (the silence
  threshold is -60 dBFS; quantisation noise sits near -101 dBFS);
- **noise rows**: white, pink and brown noise alone at several levels, with the reasons given.

Every row gives the share of examples voiced (``voiced_pct``), the share of their frames that
:func:`~sot_utils.training.voicing.voiced_frames` marks voiced (``frames_voiced_pct``), and the
tonal share's minimum, median and maximum over the examples. Units: dB, Hz, samples at 16 kHz;
audio ``[batch, n_samples]``.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from ..constants import N_SAMPLES, SAMPLE_RATE, VOICING_MIN_LEVEL_DB, VOICING_MIN_TONAL_SHARE
from ..training.data import generate_harmonic_dataset
from ..training.voicing import frame_statistics, rms_level_db, voiced_from_frames, voicing_from_frames
from ..validation import check_bool, check_choice, check_int
from .real_notes import INSTALL_HINT, load_real_notes

__all__ = [
    "LEVELS_DB",
    "NOISE_EXPONENTS",
    "NOISE_LEVELS_DB",
    "SAWTOOTH_HZ",
    "SNRS_DB",
    "SNR_LEVEL_DB",
    "coloured_noise",
    "lowest_voiced_snr",
    "plot_voicing_snr",
    "sawtooths",
    "snr_findings",
    "to_level",
    "voicing_row",
    "voicing_snr_table",
    "voicing_sources",
]

NOISE_EXPONENTS = {"white": 0.0, "pink": 1.0, "brown": 2.0}
"""Noise colour -> exponent of its power spectrum, ``power ∝ 1 / f ** exponent``."""
SNRS_DB = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0)
"""Signal-to-noise ratios of the SNR rows, dB."""
SNR_LEVEL_DB = -20.0
"""RMS level of the SNR rows' mixes, dBFS (the decision does not depend on it above the silence threshold)."""
LEVELS_DB = (-70.0, -65.0, -55.0, -50.0, -40.0, -30.0, -20.0, -10.0, -3.0)
"""RMS levels of the level rows, dBFS (-3 dBFS: a full-scale sine)."""
NOISE_LEVELS_DB = (-50.0, -30.0, -10.0)
"""RMS levels of the noise rows, dBFS."""
SAWTOOTH_HZ = (55.0, 110.0, 220.0, 440.0, 880.0)
"""Pitches of the sawtooths, Hz."""


def coloured_noise(colour: str, shape: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
    """Gaussian noise ``[batch, n_samples]`` with unit mean square per example, power ``∝ 1/f ** exponent``.

    White, pink (1/f) or brown (1/f², the integral of white noise): white noise shaped in the
    frequency domain, with the DC bin at 0 (:data:`NOISE_EXPONENTS`).
    """
    check_choice("colour", colour, NOISE_EXPONENTS)
    spectrum = torch.fft.rfft(torch.randn(*shape, generator=generator, dtype=torch.float64), dim=-1)
    k = torch.arange(spectrum.shape[-1], dtype=torch.float64)
    gain = torch.where(k > 0, k.clamp(min=1) ** (-NOISE_EXPONENTS[colour] / 2), 0.0)
    noise = torch.fft.irfft(spectrum * gain, n=shape[-1], dim=-1)
    return (noise / noise.pow(2).mean(dim=-1, keepdim=True).sqrt()).float()


def to_level(audio: torch.Tensor, level_db: float) -> torch.Tensor:
    """``audio [batch, n_samples]`` scaled to an RMS of ``level_db`` dBFS (DC removed) and stored as
    16-bit samples (rounded, clipped to full scale), as a file holds it."""
    scaled = audio * 10 ** ((level_db - rms_level_db(audio)[:, None]) / 20)
    return (scaled * 32768).round().clamp(-32768, 32767) / 32768


def sawtooths(frequencies_hz=SAWTOOTH_HZ, n_samples: int = N_SAMPLES) -> torch.Tensor:
    """Plain sawtooths ``[len(frequencies_hz), n_samples]`` at 16 kHz, peak 1: ``scipy.signal.sawtooth``
    sampled naively, so their partials above 8 kHz fold back (aliasing), as users' test signals do."""
    from scipy.signal import sawtooth

    seconds = np.arange(n_samples) / SAMPLE_RATE
    waves = [sawtooth(2 * np.pi * f * seconds) for f in frequencies_hz]
    return torch.tensor(np.stack(waves), dtype=torch.float32)


def voicing_sources(
    n_tones: int = 400, notes_path: str | Path | None = None, require_notes: bool = True, seed: int = 1
) -> dict[str, torch.Tensor]:
    """The pitched sources of the study, ``{name: audio [n, 4096]}`` at 16 kHz.

    Args:
        n_tones: synthetic tones drawn by :func:`~sot_utils.training.data.generate_harmonic_dataset`.
        notes_path: a real-note file (``make real-notes``); None: no real notes.
        require_notes: raise if ``notes_path`` is missing (full runs); else warn and go on without
            (quick runs on a machine without the soundfont).
        seed: of the synthetic tones (the shipped dataset uses seed 0).
    """
    check_bool("require_notes", require_notes)
    check_int("n_tones", n_tones, minimum=1)
    tones = generate_harmonic_dataset(seed=seed, size=n_tones, split_sizes=(n_tones, 0, 0), progress=False)
    sources = {"synthetic tones": tones["examples"]["audio"], "sawtooth": sawtooths()}
    if notes_path is not None and Path(notes_path).exists():
        sources["real notes"] = load_real_notes(notes_path)["audio"]
    elif notes_path is not None and require_notes:
        raise FileNotFoundError(f"no real-note file at {notes_path}: render it with `make real-notes`. {INSTALL_HINT}")
    elif notes_path is not None:
        warnings.warn(f"no real-note file at {notes_path}: the voicing study goes on without real notes", stacklevel=2)
    return sources


def voicing_row(audio: torch.Tensor) -> dict:
    """The voicing decisions on ``audio [n, n_samples]`` (16 kHz), summarised.

    Returns:
        ``{"voiced_pct", "frames_voiced_pct" (%), "tonal_share_min", "tonal_share_median",
        "tonal_share_max" (of the examples' tonal shares, medians over frames),
        "frame_tonal_share_max" (over every frame), "n", "reasons" (e.g. "noise: 12, silent: 3",
        "" when all are voiced)}``.
    """
    frames = frame_statistics(audio)
    decision = voicing_from_frames(frames, rms_level_db(audio))
    share = decision.tonal_share
    reasons = Counter(reason for reason in decision.reasons if reason)
    return {
        "voiced_pct": 100 * float(decision.voiced.float().mean()),
        "frames_voiced_pct": 100 * float(voiced_from_frames(frames).float().mean()),
        "tonal_share_min": float(share.min()),
        "tonal_share_median": float(share.median()),
        "tonal_share_max": float(share.max()),
        "frame_tonal_share_max": float(frames.tonal_share.max()),
        "n": len(audio),
        "reasons": ", ".join(f"{reason}: {count}" for reason, count in reasons.most_common()),
    }


def _mix(audio: torch.Tensor, colour: str, snr_db: float, seed: int) -> torch.Tensor:
    """``audio`` plus noise at ``snr_db`` per example; the noise draw depends on the seed and colour only."""
    generator = torch.Generator().manual_seed(1000 * seed + list(NOISE_EXPONENTS).index(colour))
    noise = coloured_noise(colour, tuple(audio.shape), generator)
    signal_power = audio.pow(2).mean(dim=-1, keepdim=True)
    return audio + noise * (signal_power / 10 ** (snr_db / 10)).sqrt()


def voicing_snr_table(
    sources: dict[str, torch.Tensor],
    snrs_db=SNRS_DB,
    colours=("white", "pink"),
    seeds=(0, 1, 2),
    levels_db=LEVELS_DB,
    noise_levels_db=NOISE_LEVELS_DB,
    n_noise: int = 64,
) -> pd.DataFrame:
    """The voiced decision against SNR and level, per source, and on noise alone.

    Args:
        sources: ``{name: audio [n, n_samples]}`` at 16 kHz (:func:`voicing_sources`).
        snrs_db: SNRs of the SNR rows, dB; each source is also scored clean (``snr_db`` inf).
        colours: noise colours of the SNR rows (keys of :data:`NOISE_EXPONENTS`).
        seeds: noise seeds; an SNR row pools them (``n`` = examples x seeds).
        levels_db: RMS levels of the clean sources' level rows, dBFS.
        noise_levels_db: RMS levels of the noise rows (white, pink and brown), dBFS.
        n_noise: noise examples per colour, level and seed, each as long as the first source's.

    Returns:
        one row per (sweep, source, noise, snr_db, level_db): ``sweep`` ("snr": a source in noise,
        or clean, at :data:`SNR_LEVEL_DB`; "level": a clean source at a level; "noise": noise
        alone, source "noise only"), ``source``, ``noise`` (colour, or "none"), ``snr_db`` (inf:
        clean; NaN: noise alone), ``level_db`` (dBFS), then :func:`voicing_row`'s columns.
    """
    check_int("n_noise", n_noise, minimum=1)
    rows = []
    for name, audio in sources.items():
        rows.append(_row("snr", name, "none", math.inf, SNR_LEVEL_DB, to_level(audio, SNR_LEVEL_DB)))
        for colour in colours:
            for snr in snrs_db:
                mixes = torch.cat([to_level(_mix(audio, colour, float(snr), seed), SNR_LEVEL_DB) for seed in seeds])
                rows.append(_row("snr", name, colour, float(snr), SNR_LEVEL_DB, mixes))
    for name, audio in sources.items():
        for level in levels_db:
            rows.append(_row("level", name, "none", math.inf, float(level), to_level(audio, float(level))))
    length = next(iter(sources.values())).shape[-1]
    for colour in NOISE_EXPONENTS:
        for level in noise_levels_db:
            draws = [coloured_noise(colour, (n_noise, length), torch.Generator().manual_seed(seed)) for seed in seeds]
            rows.append(_row("noise", "noise only", colour, math.nan, float(level), to_level(torch.cat(draws), level)))
    return pd.DataFrame(rows)


def _row(sweep: str, source: str, noise: str, snr_db: float, level_db: float, audio: torch.Tensor) -> dict:
    return {
        "sweep": sweep,
        "source": source,
        "noise": noise,
        "snr_db": snr_db,
        "level_db": level_db,
        **voicing_row(audio),
    }


def lowest_voiced_snr(table: pd.DataFrame, min_pct: float = 95.0) -> pd.DataFrame:
    """Per source and noise colour, the lowest SNR from which every SNR row of ``table``
    (:func:`voicing_snr_table`) up has at least ``min_pct`` % of its examples voiced.

    Returns:
        columns ``source``, ``noise``, ``lowest_snr_db`` (inf if not even the highest SNR reaches
        ``min_pct``), ``voiced_pct_there`` and ``voiced_pct_at_0_db`` (NaN without a 0 dB row).
    """
    snr_rows = table[(table["sweep"] == "snr") & np.isfinite(table["snr_db"])]
    rows = []
    for (source, colour), group in snr_rows.groupby(["source", "noise"], sort=False):
        group = group.sort_values("snr_db", ascending=False)
        passing = (group["voiced_pct"] >= min_pct).cummin()  # from the highest SNR down, until the first miss
        lowest = group.loc[passing, "snr_db"].min() if passing.any() else math.inf
        at_lowest = group.loc[group["snr_db"] == lowest, "voiced_pct"]
        at_zero = group.loc[group["snr_db"] == 0.0, "voiced_pct"]
        rows.append(
            {
                "source": source,
                "noise": colour,
                "lowest_snr_db": lowest,
                "voiced_pct_there": float(at_lowest.iloc[0]) if len(at_lowest) else math.nan,
                "voiced_pct_at_0_db": float(at_zero.iloc[0]) if len(at_zero) else math.nan,
            }
        )
    return pd.DataFrame(rows)


def snr_findings(table: pd.DataFrame, min_pct: float = 95.0) -> str:
    """A markdown paragraph of the table's key numbers (notebook 06's "What this shows")."""
    lowest = lowest_voiced_snr(table, min_pct)
    per_source = "; ".join(
        f"{row.source} in {row.noise} noise from {row.lowest_snr_db:g} dB ({row.voiced_pct_at_0_db:.0f} % at 0 dB)"
        for row in lowest.itertuples()
    )
    noise = table[table["sweep"] == "noise"]
    clean = table[(table["sweep"] == "snr") & (table["snr_db"] == math.inf)]
    levels = table[table["sweep"] == "level"]
    quiet = levels[levels["level_db"] < VOICING_MIN_LEVEL_DB]
    loud = levels[levels["level_db"] >= VOICING_MIN_LEVEL_DB]
    quiet_max = quiet["voiced_pct"].max() if len(quiet) else math.nan
    return (
        f"**What this shows.** With a tonal-share threshold of {VOICING_MIN_TONAL_SHARE:g}, at least {min_pct:g} % "
        f"of the examples are voiced at every SNR from: {per_source}. Noise alone (white, pink and brown, "
        f"{len(noise)} rows, {int(noise['n'].sum())} examples) is voiced in {noise['voiced_pct'].max():.1f} % of "
        f"examples at most and {noise['frames_voiced_pct'].max():.1f} % of frames; its highest tonal share is "
        f"{noise['tonal_share_max'].max():.2f} (median over an example's frames; "
        f"{noise['frame_tonal_share_max'].max():.2f} in any one frame), against a lowest of "
        f"{clean['tonal_share_min'].min():.2f} for the clean sources. Clean sources from "
        f"{loud['level_db'].min():g} dBFS up are voiced in {loud['voiced_pct'].min():.1f} % of examples at least; "
        f"below {VOICING_MIN_LEVEL_DB:g} dBFS in {quiet_max:.1f} % at most (silent)."
    )


def plot_voicing_snr(table: pd.DataFrame):
    """Voiced % against SNR per source and noise colour, the tonal share against the threshold, and
    voiced % against level (from :func:`voicing_snr_table`).

    Four panels: voiced % against SNR in white and in pink noise (one line per source, the clean
    source at the right, "clean"), the median tonal share against SNR with the threshold
    (:data:`~sot_utils.constants.VOICING_MIN_TONAL_SHARE`) and the highest share of noise alone,
    and voiced % of the clean sources against their level, with the silence threshold.
    """
    fig, axes = plt.subplots(2, 2, figsize=(10.0, 7.0))
    snr_rows = table[(table["sweep"] == "snr") & (table["noise"] != "none")]
    clean = table[(table["sweep"] == "snr") & (table["noise"] == "none")].set_index("source")
    sources = list(dict.fromkeys(table.loc[table["sweep"] != "noise", "source"]))
    colours = dict(zip(sources, ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown"), strict=False))
    snrs = sorted(snr_rows["snr_db"].unique())
    clean_x = max(snrs) + 8 if snrs else 0.0  # where the clean sources are drawn
    for ax, colour in zip(axes[0], ("white", "pink"), strict=True):
        for source in sources:
            rows = snr_rows[(snr_rows["source"] == source) & (snr_rows["noise"] == colour)].sort_values("snr_db")
            x = [*rows["snr_db"], clean_x]
            y = [*rows["voiced_pct"], clean.loc[source, "voiced_pct"]]
            ax.plot(x, y, marker="o", markersize=3, color=colours[source], label=source)
        _snr_axis(ax, snrs, clean_x)
        ax.set_ylim(-3, 103)
        ax.set_ylabel("voiced (%)")
        ax.set_title(f"tones in {colour} noise")
    axes[0, 0].legend(fontsize=8, loc="lower right")
    _plot_share(axes[1, 0], table, sources, colours, snrs, clean_x)
    _plot_levels(axes[1, 1], table, sources, colours)
    fig.tight_layout()
    return fig


def _snr_axis(ax, snrs, clean_x) -> None:
    ax.set_xticks([*snrs, clean_x], [f"{s:g}" for s in snrs] + ["clean"], fontsize=8)
    ax.set_xlabel("SNR (dB)")
    ax.grid(alpha=0.3)


def _plot_share(ax, table, sources, colours, snrs, clean_x) -> None:
    """Median tonal share against SNR (white: solid, pink: dashed), the threshold, and noise alone."""
    for source in sources:
        for colour, style in (("white", "-"), ("pink", "--")):
            rows = table[(table["sweep"] == "snr") & (table["source"] == source) & (table["noise"] == colour)]
            rows = rows.sort_values("snr_db")
            ax.plot(rows["snr_db"], rows["tonal_share_median"], style, color=colours[source], marker="o", markersize=3)
    noise_max = table.loc[table["sweep"] == "noise", "tonal_share_max"].max()
    frame_max = table.loc[table["sweep"] == "noise", "frame_tonal_share_max"].max()
    ax.axhline(frame_max, color="tab:red", linestyle=":", label=f"noise alone, any frame: up to {frame_max:.2f}")
    ax.axhline(VOICING_MIN_TONAL_SHARE, color="black", linewidth=1.2, label=f"threshold {VOICING_MIN_TONAL_SHARE:g}")
    ax.axhspan(0, noise_max, color="tab:red", alpha=0.15, label=f"noise alone, examples: up to {noise_max:.2f}")
    ax.axvline(0, color="gray", linewidth=0.5)
    _snr_axis(ax, snrs, clean_x)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("tonal share (median)")
    ax.set_title("tonal share (white: solid, pink: dashed)")
    ax.legend(fontsize=8, loc="lower right")


def _plot_levels(ax, table, sources, colours) -> None:
    """Voiced % of the clean sources against level, with the silence threshold."""
    levels = table[table["sweep"] == "level"]
    for source in sources:
        rows = levels[levels["source"] == source].sort_values("level_db")
        ax.plot(rows["level_db"], rows["voiced_pct"], marker="o", markersize=3, color=colours[source], label=source)
    ax.axvline(VOICING_MIN_LEVEL_DB, color="black", linewidth=1.2, label=f"silent below {VOICING_MIN_LEVEL_DB:g} dBFS")
    ax.set_ylim(-3, 103)
    ax.set_xlabel("RMS level (dBFS), clean, 16-bit")
    ax.set_ylabel("voiced (%)")
    ax.set_title("clean sources against level")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center right")
