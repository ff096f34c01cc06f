"""Time the CQT front end (the encoder's input), ours against nnAudio's strided convolution.

- nnAudio: ``CQT1992v2`` as the reference computes it, a strided ``conv1d`` of the zero-padded
  signal with every bin's 32768-tap kernel (most taps zero);
- ours: :class:`sot_utils.spectral.CQT`, the same kernels, each octave of bins a matrix product over
  the taps its kernels cover.

Both compute the same sums in another order, so the magnitudes must agree to float32 rounding
(the largest difference relative to the largest magnitude). The CQT is computed once per dataset
for training, but at every call for users' audio (``sot_utils.training.estimate``), the peers'
tables, the robustness sweeps and the real notes (notebooks 06 and 09).

Run as a section of the suite: ``python -m benchmarks.run_all --only cqt``.
"""

from __future__ import annotations

import torch

from benchmarks import comparison, describe, harmonic_audio, log, section_meta, time_interleaved
from sot_utils.spectral import CQT

RTOL = 2e-5
"""float32 sums of up to 25,169 taps in another order (tests/core/test_spectral.py: float64 agrees to 1e-12)."""


def compare_cqt(batch: int, repeats: int) -> dict:
    """One comparison record: nnAudio's convolution (baseline) against ours, on ``[batch, 4095]`` tones."""
    cqt = CQT()
    audio = harmonic_audio(batch, seed=0)[:, :-1]
    fns = {
        "nnAudio conv1d": lambda: cqt.transform(audio).transpose(-1, -2),
        "ours": lambda: cqt(audio),
    }
    with torch.no_grad():
        reference = fns["nnAudio conv1d"]()
        difference = float((fns["ours"]() - reference).abs().max() / reference.abs().max())
        seconds = time_interleaved(fns, repeats)
    return comparison(seconds, "nnAudio conv1d", RTOL, rel_diffs={"ours": difference})


def run(quick: bool = False, repeats: int | None = None, section: str = "cqt") -> dict:
    """The ``cqt`` section: 64 tones of 4095 samples (16 frames each; 4 when ``quick``), CPU."""
    repeats = repeats or (2 if quick else 7)
    batch = 4 if quick else 64
    record = compare_cqt(batch, repeats)
    log(section, f"CQT of [{batch}, 4095]: {describe(record)}")
    return {
        "what": f"CQT magnitudes of [{batch}, 4095] tones (285 bins, 16 frames each), cpu; baseline: nnAudio's "
        "CQT1992v2 (strided conv1d with the 32768-tap kernels)",
        "meta": section_meta("cpu", repeats, quick, batch_size=batch, threads=torch.get_num_threads()),
        "tables": {f"CQT, audio [{batch}, 4095]": {"CQT": record}},
    }
