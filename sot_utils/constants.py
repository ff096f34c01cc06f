"""The study's fixed numbers, defined once: signal format, CQT front end, dataset, training budget.

Every module imports these from here; a number that a reader may want to change per run (loss
settings, architecture, steps) lives in the configs instead (:mod:`sot_utils.configs`).
"""

from .configs import read_config as _read_config

__all__ = [
    "BUDGET_STEP",
    "CPU_BUDGET_STEPS",
    "CQT_BINS_PER_SEMITONE",
    "CQT_FMIN_HZ",
    "CQT_HOP_LENGTH",
    "DATA_F0_RANGE_HZ",
    "DATA_MAX_HARMONICS",
    "EVALUATION_CACHE_ENV",
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "N_FRAMES",
    "N_SAMPLES",
    "PAPER_STEPS",
    "PEAK_LEVEL",
    "SAMPLE_RATE",
    "SUCCESS_CENTS",
    "VOICING_BAND_HZ",
    "VOICING_MAX_LEVEL_DROP_DB",
    "VOICING_MIN_LEVEL_DB",
    "VOICING_MIN_TONAL_SHARE",
    "VOICING_PEAK_DB",
    "VOICING_RANGE_HZ",
]

SAMPLE_RATE = 16000
"""Hz, of the synthetic tones, the real notes and the models' input and output."""

N_SAMPLES = 4096
"""Samples per example (0.256 s at 16 kHz)."""

N_FRAMES = 16
"""Synthesizer control frames (and CQT frames) per example: one every ``N_SAMPLES // N_FRAMES``
= 256 samples."""

CQT_FMIN_HZ = 32.7
"""Frequency of the first CQT bin, Hz (C1)."""

CQT_BINS_PER_SEMITONE = 3
"""CQT resolution: 36 bins per octave."""

CQT_HOP_LENGTH = 256
"""CQT hop, samples."""

PEAK_LEVEL = 0.9
"""Examples are peak-normalised to this level when loaded (the reference's ``x / (max|x| + 1e-7) * 0.9``)."""

DATA_F0_RANGE_HZ = (40.0, 1950.0)
"""f0 range of the synthetic dataset, Hz (uniform in Hz)."""

DATA_MAX_HARMONICS = 8
"""Most partials a synthetic tone has (the decoder renders 20)."""

BUDGET_STEP = _read_config("base")["keep_best_every"]
"""Training budgets are multiples of this many steps (1,100): the runs keep the best checkpoint so far every
``keep_best_every`` steps of ``configs/base.yaml`` (``best-upto-<step>.pt``; read from there), so a run
can be evaluated at any multiple of it, and :func:`sot_utils.training.evaluate.choose_budget` rounds up to one."""

CPU_BUDGET_STEPS = _read_config("base")["steps"]
"""Training steps of the shipped runs (the paper: 22,000): the ``steps`` of ``sot_utils/configs/base.yaml``,
read from there, the one place the budget is written. It was read off SOT-2048's validation RPA by
:func:`sot_utils.training.evaluate.choose_budget`: its seeds level off at 220 (seed 42, collapsed),
8,580 (seed 123) and 9,020 steps (seed 456), rounded up to a multiple of 1,100."""

PAPER_STEPS = 22000
"""Training steps of the paper's runs."""

SUCCESS_CENTS = 50.0
"""An f0 estimate within this many cents of the truth counts as correct (RPA's tolerance)."""

VOICING_MIN_LEVEL_DB = -60.0
"""Voicing: a signal whose RMS (DC removed) is below this many dB re full scale (1.0) is silent
(16-bit quantisation noise sits near -100 dB; the quietest synthetic test tone near -11 dB)."""

VOICING_MIN_TONAL_SHARE = 0.5
"""Voicing: a signal is noise, not a pitched tone, if less than half the power of its frames
(median over frames, 30 Hz-7.75 kHz) lies in spectral peaks (:mod:`sot_utils.training.voicing`).
The share is about ``SNR / (1 + SNR)`` for a tone in noise: 0.5 is a tone as strong as the noise
around it. Measured (:mod:`sot_utils.study.voicing_snr`, notebook 06, 1,728 noise examples): noise
alone reaches 0.02 at most (an example's median; 0.16 in any single frame), clean synthetic tones,
sawtooths and real notes 0.91 at least; at 10 dB SNR in white or pink noise 99.9-100 % of them are
voiced, at 5 dB 93-100 %, at 0 dB 0-96 %."""

VOICING_PEAK_DB = 10.0
"""Voicing: a spectral bin belongs to a peak if its power stands this many dB above its local
floor (the larger of the geometric means of the bins 2 to 24 below and above it, 7.8 Hz bins). In
one frame of white noise (exponentially distributed bin powers, geometric mean 0.56 of the mean),
about 1 bin in 270 stands this high; averaged over 3 frames, far fewer."""

VOICING_BAND_HZ = (30.0, 7750.0)
"""Voicing: the band whose power the tonal share counts, Hz. Its low end leaves out the 4 lowest
bins (0-23 Hz), where the rumble of brown noise and the frame's own DC make false peaks: a sine
below 22 Hz is called noise rather than below the trained range."""

VOICING_MAX_LEVEL_DROP_DB = 20.0
"""Voicing: a signal whose RMS level fell by more than this many dB when it was resampled to 16 kHz
had more than 99 % of its power above 8 kHz: it is above the trained range, not silent."""

VOICING_RANGE_HZ = (37.75, 2066.0)
"""Voicing: the trained f0 range (40-1950 Hz) widened by a semitone each way. A signal with more
than half the power of its spectral peaks below the low end, or less than 1 % below the high end,
has no f0 the models were trained to find."""

MIN_SAMPLE_RATE = 4000
"""Hz, the lowest sample rate of users' audio: below it, Nyquist falls under the trained f0 range's top."""

MAX_SAMPLE_RATE = 768_000
"""Hz, the highest sample rate of users' audio accepted (a larger header value is taken for a wrong one)."""

EVALUATION_CACHE_ENV = "SOT_EVALUATION_CACHE"
"""Environment variable naming a folder where checkpoints' outputs on a split are kept and shared
between processes (:mod:`sot_utils.training.evaluate`). The notebook runner sets it to a fresh
folder for one run and removes the folder after: notebooks 05, 08 and 09 evaluate each checkpoint
once per run, and no run reads another's outputs."""
