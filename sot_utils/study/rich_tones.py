"""Synthetic tones closer to real notes: the comparison corpus of the real-sounds work.

The paper's tones (:mod:`sot_utils.training.data`) are stationary sums of at most 8 partials of
amplitude 0.4-1.0, a clean harmonic template. Real notes differ in ways the study measured
(notebook 06; the real-note sets of :mod:`sot_utils.study.real_notes` and
:mod:`sot_utils.study.freepats`): many partials with a falling spectrum, a weak or missing
fundamental, stretched partials, vibrato, an attack or a decay, noise. Each tone here draws all of
these (every draw from one seeded ``torch.Generator``):

- f0 log-uniform on MIDI 28-94 (41.2-1864.7 Hz), the real-note sets' range;
- up to 20 partials (``K`` uniform on 1..20), amplitude ``u_k k^-tilt`` with ``u_k`` uniform on
  0.5-1 and the tilt uniform on 0-2 (0: flat, 2: -12 dB per octave);
- with probability :data:`WEAK_FUNDAMENTAL_P` the fundamental scaled by a factor uniform on 0-0.2,
  and with probability :data:`MISSING_FUNDAMENTAL_P` silent;
- with probability :data:`INHARMONIC_P` a stiffness ``B`` log-uniform on 1e-5-1e-3
  (:func:`sot_utils.study.perturb.stretched_partials`);
- with probability :data:`VIBRATO_P` a vibrato of 5-40 cents at 4-7 Hz;
- with probability :data:`ATTACK_P` an attack ``1 - exp(-t / tau)``, tau 5-60 ms, else a decay
  ``exp(-t / T)``, T 0.3-3 s;
- random initial phases; with probability :data:`NOISE_P` white or pink noise at 10-40 dB SNR.

Stored in the layout of the synthetic dataset (``amplitudes`` has 20 columns: the drawn
amplitudes after the fundamental's scaling, before the envelope), so a run trains on it with
``data: <file>``. ``python -m sot_utils.study.rich_tones [--seed 0] [--size 4000] [--out PATH]``.
"""

from __future__ import annotations

import argparse
import math

import torch
from tqdm.auto import tqdm

from ..constants import N_SAMPLES, PEAK_LEVEL, SAMPLE_RATE
from ..synth import oscillator_bank, remove_above_nyquist
from ..training.data import FORMAT_VERSION, SPLITS, default_split_sizes, save_dataset
from ..validation import check_bool, check_int
from .perturb import add_noise, stretched_partials, vibrato_f0
from .real_notes import HIGHEST_MIDI, LOWEST_MIDI, midi_to_hz

__all__ = [
    "ATTACK_P",
    "DEFAULT_PATH",
    "INHARMONIC_P",
    "MAX_PARTIALS",
    "MISSING_FUNDAMENTAL_P",
    "NOISE_P",
    "VIBRATO_P",
    "WEAK_FUNDAMENTAL_P",
    "draw_rich_parameters",
    "generate_rich_dataset",
    "main",
    "render_rich_tone",
]

DEFAULT_PATH = "data/rich_tones_sr16000_n4000_seed0.pt"
MAX_PARTIALS = 20
"""Partials per tone at most (the decoder's harmonics)."""
WEAK_FUNDAMENTAL_P = 0.25
MISSING_FUNDAMENTAL_P = 0.1
INHARMONIC_P = 0.3
VIBRATO_P = 0.3
ATTACK_P = 0.3
NOISE_P = 0.5


def _uniform(generator, low, high, size=None, dtype=torch.float64):
    shape = () if size is None else (size,)
    return low + (high - low) * torch.rand(shape, generator=generator, dtype=dtype)


def draw_rich_parameters(size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Every tone's parameters ([size] tensors, float64 unless said), drawn in a fixed order.

    Returns:
        ``f0_hz``, ``amplitudes [size, 20]``, ``n_harmonics`` (int64), ``inharmonicity`` (B),
        ``vibrato_cents``, ``vibrato_rate_hz``, ``attack`` (bool), ``envelope_s`` (tau or T),
        ``noise_snr_db`` (inf: no noise), ``pink`` (bool).
    """
    check_int("size", size, minimum=1)
    midi = _uniform(generator, LOWEST_MIDI, HIGHEST_MIDI, size)
    f0 = midi_to_hz(midi).double()
    n_harmonics = torch.randint(1, MAX_PARTIALS + 1, (size,), generator=generator)
    tilt = _uniform(generator, 0.0, 2.0, size)
    k = torch.arange(1, MAX_PARTIALS + 1, dtype=torch.float64)
    amplitudes = _uniform(generator, 0.5, 1.0, size * MAX_PARTIALS).reshape(size, MAX_PARTIALS) * k ** -tilt[:, None]
    amplitudes = amplitudes * (k <= n_harmonics[:, None])
    weak = torch.rand(size, generator=generator, dtype=torch.float64) < WEAK_FUNDAMENTAL_P
    missing = torch.rand(size, generator=generator, dtype=torch.float64) < MISSING_FUNDAMENTAL_P
    weak_scale = _uniform(generator, 0.0, 0.2, size)
    fundamental_scale = torch.where(missing, 0.0, torch.where(weak, weak_scale, 1.0))
    amplitudes[:, 0] = amplitudes[:, 0] * torch.where(n_harmonics > 1, fundamental_scale, 1.0)  # a pure tone keeps it
    inharmonic = torch.rand(size, generator=generator, dtype=torch.float64) < INHARMONIC_P
    stiffness = 10 ** _uniform(generator, -5.0, -3.0, size)
    vibrato = torch.rand(size, generator=generator, dtype=torch.float64) < VIBRATO_P
    depth, rate = _uniform(generator, 5.0, 40.0, size), _uniform(generator, 4.0, 7.0, size)
    attack = torch.rand(size, generator=generator, dtype=torch.float64) < ATTACK_P
    tau, decay = _uniform(generator, 0.005, 0.06, size), _uniform(generator, 0.3, 3.0, size)
    noisy = torch.rand(size, generator=generator, dtype=torch.float64) < NOISE_P
    snr = _uniform(generator, 10.0, 40.0, size)
    pink = torch.rand(size, generator=generator, dtype=torch.float64) < 0.5
    return {
        "f0_hz": f0,
        "amplitudes": amplitudes,
        "n_harmonics": n_harmonics,
        "inharmonicity": torch.where(inharmonic, stiffness, 0.0),
        "vibrato_cents": torch.where(vibrato, depth, 0.0),
        "vibrato_rate_hz": rate,
        "attack": attack,
        "envelope_s": torch.where(attack, tau, decay),
        "noise_snr_db": torch.where(noisy, snr, math.inf),
        "pink": pink,
    }


def render_rich_tone(parameters: dict[str, torch.Tensor], index: int, generator: torch.Generator) -> torch.Tensor:
    """Tone ``index`` of :func:`draw_rich_parameters`, ``[N_SAMPLES]`` float64 (its random phases,
    vibrato phase and noise drawn from ``generator``)."""
    f0 = parameters["f0_hz"][index : index + 1]
    amplitudes = parameters["amplitudes"][index : index + 1]
    vibrato_phase = 2 * math.pi * torch.rand(1, generator=generator, dtype=torch.float64)
    track = vibrato_f0(
        f0,
        N_SAMPLES,
        SAMPLE_RATE,
        float(parameters["vibrato_cents"][index]),
        float(parameters["vibrato_rate_hz"][index]),
        vibrato_phase,
    )
    frequencies = track[..., None] * stretched_partials(MAX_PARTIALS, float(parameters["inharmonicity"][index]))
    t = torch.arange(N_SAMPLES, dtype=torch.float64) / SAMPLE_RATE
    time_scale = float(parameters["envelope_s"][index])
    envelope = 1 - torch.exp(-t / time_scale) if bool(parameters["attack"][index]) else torch.exp(-t / time_scale)
    amps = amplitudes[:, None, :] * envelope[None, :, None]
    amps = remove_above_nyquist(frequencies.amax(dim=1, keepdim=True), amps, SAMPLE_RATE)
    phases = 2 * math.pi * torch.rand(1, MAX_PARTIALS, generator=generator, dtype=torch.float64)
    audio = oscillator_bank(frequencies, amps, SAMPLE_RATE, phases)
    snr = float(parameters["noise_snr_db"][index])
    if math.isfinite(snr) and audio.abs().max() > 0:
        audio = add_noise(audio, snr, "pink" if bool(parameters["pink"][index]) else "white", generator)
    return audio[0]


def generate_rich_dataset(size: int = 4000, seed: int = 0, progress: bool = True) -> dict:
    """The rich-tone dataset (layout of :mod:`sot_utils.training.data`; the same seed gives the same data).

    Every tone sounds: f0 stays below 1,865 Hz, so its fundamental is below Nyquist, and only a
    tone of two or more partials may lose its fundamental.
    """
    check_bool("progress", progress)
    generator = torch.Generator().manual_seed(check_int("seed", seed, minimum=0))
    parameters = draw_rich_parameters(size, generator)
    audio = torch.stack(
        [
            render_rich_tone(parameters, i, generator)
            for i in tqdm(range(size), desc="rendering rich tones", disable=not progress)
        ]
    )
    sizes = default_split_sizes(size)
    permutation = torch.randperm(size, generator=generator)
    bounds = torch.tensor((0,) + sizes).cumsum(0).tolist()
    splits = {name: permutation[lo:hi].clone() for name, lo, hi in zip(SPLITS, bounds[:-1], bounds[1:])}
    below = parameters["f0_hz"][:, None] * torch.arange(1, MAX_PARTIALS + 1) < SAMPLE_RATE / 2
    active = torch.arange(1, MAX_PARTIALS + 1) <= parameters["n_harmonics"][:, None]
    examples = {
        "audio": audio.to(torch.float32).contiguous(),
        "f0_hz": parameters["f0_hz"].to(torch.float32),
        "amplitudes": parameters["amplitudes"].to(torch.float32),
        "n_harmonics": parameters["n_harmonics"],
        "n_audible_harmonics": (below & active).sum(dim=-1),
        **{key: parameters[key] for key in ("inharmonicity", "vibrato_cents", "attack", "envelope_s", "noise_snr_db")},
    }
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": "rich synthetic tones",
        "seed": seed,
        "size": size,
        "n_samples": N_SAMPLES,
        "sample_rate": SAMPLE_RATE,
        "midi_range": (LOWEST_MIDI, HIGHEST_MIDI),
        "max_partials": MAX_PARTIALS,
        "probabilities": {
            "weak_fundamental": WEAK_FUNDAMENTAL_P,
            "missing_fundamental": MISSING_FUNDAMENTAL_P,
            "inharmonic": INHARMONIC_P,
            "vibrato": VIBRATO_P,
            "attack": ATTACK_P,
            "noise": NOISE_P,
        },
        "split_sizes": sizes,
        "peak_normalisation_at_load": PEAK_LEVEL,
    }
    return {"meta": meta, "examples": examples, "splits": splits}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sot_utils.study.rich_tones", description="Generate synthetic tones closer to real notes."
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=4000)
    parser.add_argument("--out", default=DEFAULT_PATH)
    args = parser.parse_args(argv)
    try:
        dataset = generate_rich_dataset(args.size, args.seed)
    except ValueError as error:
        parser.error(str(error))
    digest = save_dataset(dataset, args.out)
    print(f"{args.out}: {args.size} tones, sha256 {digest}")


if __name__ == "__main__":
    main()
