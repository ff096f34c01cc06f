"""Synthetic harmonic dataset of the paper (docs/method.md#method-data): generation, storage and loading.

Taught in notebook 04 (the data the autoencoder learns from).

Each example is a stationary harmonic tone of ``n_samples`` samples rendered by the decoder's
DDSP synthesizer (:func:`sot_utils.synth.harmonic_synth`) from 16 identical control frames:

- f0 uniform **in Hz** on ``f0_range_hz`` (40-1950 Hz);
- ``max_harmonics`` (8) amplitudes, each i.i.d. uniform on ``amplitude_range`` (0.4-1.0);
- the number of active harmonics K uniform on ``{min_harmonics, ..., max_harmonics}``; the mask
  is sequential (harmonics 1..K on, the others exactly 0);
- partials at or above Nyquist are silent in the audio (the synthesizer zeroes them) but keep
  their drawn amplitude in the labels, as in the reference; ``n_audible_harmonics`` counts the
  active harmonics strictly below Nyquist;
- no noise, no roll-off, no normalisation at generation: audio is stored as rendered and
  peak-normalised to 0.9 when loaded, ``x / (max|x| + 1e-7) * 0.9``, as the reference does.

Everything is drawn from one ``torch.Generator`` seeded with ``seed`` (never the global RNG), in a
fixed order: f0, amplitudes, K, then the split permutation. The same seed gives a file with the
same bytes (:func:`save_dataset`).

**Split.** A seeded permutation of the examples gives disjoint train/val/test sets (2800/800/400
for 4000 examples). The reference's ``save_dataset`` stores ``self.train.dataset.tensors``, which
for a ``random_split`` subset is the *whole* 4000-example set, so its file may hold the full set
as train, val *and* test (docs/method.md#method-data, #ambiguity-data-split). We do not reproduce
that: the splits here are clean.

File layout (one ``torch.save`` archive, loaded with ``weights_only=True``)::

    {"meta": {...every generator parameter, seed, format_version...},
     "examples": {"audio": [N, n_samples] float32, "f0_hz": [N] float32,
                  "amplitudes": [N, max_harmonics] float32, "n_harmonics": [N] int64,
                  "n_audible_harmonics": [N] int64},
     "splits": {"train": [n_train] int64, "val": [n_val] int64, "test": [n_test] int64}}

The split entries index into ``examples``, in permutation order.

CLI: ``python -m sot_utils.training.data [--seed 0] [--out PATH] [--size 4000]`` (``make data``).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import math
import os
import pickle
import zipfile
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..constants import DATA_F0_RANGE_HZ, DATA_MAX_HARMONICS, N_SAMPLES, PEAK_LEVEL, SAMPLE_RATE
from ..spectral import CQT_IMPLEMENTATION
from ..synth import audible_harmonics, harmonic_synth
from ..validation import check_bool, check_choice, check_int, check_positive_number, check_tensor, quote

__all__ = [
    "DEFAULT_PATH",
    "FORMAT_VERSION",
    "SPLITS",
    "HarmonicDataset",
    "cached_features",
    "check_out_file",
    "check_torch_zip",
    "dataset_bytes",
    "default_split_sizes",
    "draw_parameters",
    "ensure_dataset",
    "generate_harmonic_dataset",
    "load_split",
    "main",
    "new_file_hint",
    "peak_normalize",
    "read_archive",
    "read_dataset",
    "render_stationary",
    "save_dataset",
    "split_examples",
    "unpickling_reason",
    "write_archive",
]

FORMAT_VERSION = 1
DEFAULT_PATH = "data/harmonic_sr16000_n4000_seed0.pt"
SPLITS = ("train", "val", "test")
EXAMPLE_KEYS = ("audio", "f0_hz", "amplitudes", "n_harmonics", "n_audible_harmonics")
PEAK_EPS = 1e-7
VAL_FRACTION, TEST_FRACTION = 0.2, 0.1  # reference eval_split, test_split
RENDER_CHUNK_SIZE = 256  # examples rendered per synthesizer call


# --------------------------------------------------------------------------------------------
# Generation


def default_split_sizes(size: int) -> tuple[int, int, int]:
    """Train/val/test sizes for ``size`` examples: 20 % val and 10 % test (rounded down), the
    rest train, so the three cover the set. 4000 → (2800, 800, 400); 40 → (28, 8, 4).
    """
    check_int("size", size, minimum=1)
    n_val = math.floor(VAL_FRACTION * size)
    n_test = math.floor(TEST_FRACTION * size)
    return size - n_val - n_test, n_val, n_test


def draw_parameters(
    generator: torch.Generator,
    size: int,
    f0_range_hz: tuple[float, float],
    amplitude_range: tuple[float, float],
    max_harmonics: int,
    min_harmonics: int,
) -> dict[str, torch.Tensor]:
    """Draw the labels of ``size`` examples (float32 / int64, CPU).

    Returns:
        ``{"f0_hz": [size] Hz, uniform on f0_range_hz;
        "amplitudes": [size, max_harmonics], i.i.d. uniform on amplitude_range for harmonics
        1..K, exactly 0 above K; "n_harmonics": [size] K, uniform on {min..max}}``.
    """
    f0_lo, f0_hi = f0_range_hz
    amp_lo, amp_hi = amplitude_range
    f0_hz = torch.rand(size, generator=generator) * (f0_hi - f0_lo) + f0_lo
    amplitudes = torch.rand(size, max_harmonics, generator=generator) * (amp_hi - amp_lo) + amp_lo
    n_harmonics = torch.randint(min_harmonics, max_harmonics + 1, (size,), generator=generator)
    harmonic_number = torch.arange(1, max_harmonics + 1)
    active = harmonic_number <= n_harmonics[:, None]  # sequential mask
    return {"f0_hz": f0_hz, "amplitudes": amplitudes * active, "n_harmonics": n_harmonics}


def count_audible_harmonics(f0_hz: torch.Tensor, n_harmonics: torch.Tensor, sample_rate: float) -> torch.Tensor:
    """Number of active harmonics strictly below Nyquist: ``#{k <= K : k f0 < sr / 2}``.

    Args:
        f0_hz: ``[N]`` Hz.
        n_harmonics: ``[N]`` int, active harmonics K.
        sample_rate: Hz.

    Returns:
        ``[N]`` int64. Computed in ``f0_hz``'s dtype, as the synthesizer's Nyquist mask.
    """
    check_tensor("f0_hz", f0_hz, ndim=1, layout="[N]", positive=True)
    check_positive_number("sample_rate", sample_rate)
    if n_harmonics.shape != f0_hz.shape:
        raise ValueError(f"`n_harmonics` {tuple(n_harmonics.shape)} must match `f0_hz` {tuple(f0_hz.shape)}")
    audible = audible_harmonics(f0_hz, int(n_harmonics.max()), sample_rate)
    active = torch.arange(1, audible.shape[-1] + 1) <= n_harmonics[:, None]
    return (audible & active).sum(dim=-1)


def render_stationary(
    f0_hz: torch.Tensor,
    amplitudes: torch.Tensor,
    n_samples: int,
    sample_rate: float,
    n_frames: int,
    progress: bool = True,
) -> torch.Tensor:
    """Render stationary tones with :func:`harmonic_synth`, in chunks of 256 examples.

    Args:
        f0_hz: ``[N]`` Hz.
        amplitudes: ``[N, n_harmonics]`` linear; column ``k - 1`` drives harmonic ``k f0``.
        n_samples: samples per example.
        sample_rate: Hz.
        n_frames: identical control frames per example (16 in the reference).
        progress: show a tqdm progress bar.

    Returns:
        audio ``[N, n_samples]`` (un-normalised).
    """
    check_bool("progress", progress)
    check_tensor("f0_hz", f0_hz, ndim=1, layout="[N]", positive=True)
    check_tensor("amplitudes", amplitudes, ndim=2, layout="[N, n_harmonics]", nonnegative=True)
    check_int("n_frames", n_frames, minimum=1)
    chunks = []
    starts = range(0, f0_hz.shape[0], RENDER_CHUNK_SIZE)
    for start in tqdm(starts, desc="rendering tones", unit="chunk", disable=not progress):
        f0 = f0_hz[start : start + RENDER_CHUNK_SIZE]
        amps = amplitudes[start : start + RENDER_CHUNK_SIZE]
        chunks.append(
            harmonic_synth(
                f0[:, None].expand(-1, n_frames),
                amps[:, None, :].expand(-1, n_frames, -1),
                n_samples,
                sample_rate,
            )
        )
    return torch.cat(chunks)


def _check_range(name: str, value, *, lower: float, upper: float | None = None) -> tuple[float, float]:
    """A pair ``(lo, hi)`` of numbers with ``lower <= lo <= hi`` (and ``hi < upper``)."""
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a pair (low, high) of numbers, got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lower <= lo <= hi):
        raise ValueError(f"`{name}` must satisfy {lower} <= low <= high, got {value!r}")
    if upper is not None and hi >= upper:
        raise ValueError(f"`{name}` must stay below {upper}, got {value!r}")
    return lo, hi


def generate_harmonic_dataset(
    seed: int = 0,
    size: int = 4000,
    n_samples: int = N_SAMPLES,
    sample_rate: int = SAMPLE_RATE,
    f0_range_hz: tuple[float, float] = DATA_F0_RANGE_HZ,
    amplitude_range: tuple[float, float] = (0.4, 1.0),
    max_harmonics: int = DATA_MAX_HARMONICS,
    min_harmonics: int = 1,
    n_frames: int = 16,
    split_sizes: tuple[int, int, int] | None = None,
    progress: bool = True,
) -> dict:
    """Generate the synthetic harmonic dataset (docs/method.md#method-data), deterministically from ``seed``.

    Args:
        seed: seed of the ``torch.Generator`` that draws everything.
        size: number of examples N.
        n_samples: samples per example (4096 = 0.256 s at 16 kHz).
        sample_rate: Hz.
        f0_range_hz: (low, high) of the uniform f0 distribution, Hz; high < Nyquist.
        amplitude_range: (low, high) of the uniform harmonic amplitudes, linear.
        max_harmonics: harmonics per example (columns of ``amplitudes``).
        min_harmonics: smallest number of active harmonics K.
        n_frames: identical control frames given to the synthesizer; divides ``n_samples``.
        split_sizes: (train, val, test), summing to ``size``; default
            :func:`default_split_sizes` (2800, 800, 400 for 4000 examples).
        progress: show a progress bar while rendering.

    Returns:
        ``{"meta": dict, "examples": dict of [N, ...] tensors, "splits": dict of index tensors}``
        (layout in the module docstring).
    """
    check_bool("progress", progress)
    check_int("seed", seed, minimum=0)
    if seed >= 2**63:
        raise ValueError(f"`seed` must be < 2**63 (a torch.Generator seed), got {seed}")
    check_int("size", size, minimum=1)
    check_int("n_samples", n_samples, minimum=1)
    check_int("sample_rate", sample_rate, minimum=1)
    f0_range_hz = _check_range("f0_range_hz", f0_range_hz, lower=0.0, upper=sample_rate / 2)
    if f0_range_hz[0] <= 0:
        raise ValueError(f"`f0_range_hz` must be strictly positive, got {f0_range_hz!r}")
    amplitude_range = _check_range("amplitude_range", amplitude_range, lower=0.0)
    check_int("max_harmonics", max_harmonics, minimum=1)
    check_int("min_harmonics", min_harmonics, minimum=1)
    if min_harmonics > max_harmonics:
        raise ValueError(f"`min_harmonics` ({min_harmonics}) must be <= `max_harmonics` ({max_harmonics})")
    check_int("n_frames", n_frames, minimum=1)
    if n_samples % n_frames:
        raise ValueError(f"`n_frames` ({n_frames}) must divide `n_samples` ({n_samples})")
    split_sizes = default_split_sizes(size) if split_sizes is None else tuple(split_sizes)
    if len(split_sizes) != len(SPLITS):
        raise ValueError(f"`split_sizes` must be (train, val, test), got {split_sizes!r}")
    for n in split_sizes:
        check_int("split_sizes", n, minimum=0)
    if sum(split_sizes) != size:
        raise ValueError(f"`split_sizes` {split_sizes} must sum to `size` ({size})")

    generator = torch.Generator().manual_seed(seed)
    labels = draw_parameters(generator, size, f0_range_hz, amplitude_range, max_harmonics, min_harmonics)
    permutation = torch.randperm(size, generator=generator)
    audio = render_stationary(
        labels["f0_hz"], labels["amplitudes"], n_samples, sample_rate, n_frames, progress=progress
    )
    examples = {
        "audio": audio.to(torch.float32).contiguous(),
        "f0_hz": labels["f0_hz"],
        "amplitudes": labels["amplitudes"],
        "n_harmonics": labels["n_harmonics"],
        "n_audible_harmonics": count_audible_harmonics(labels["f0_hz"], labels["n_harmonics"], sample_rate),
    }
    bounds = torch.tensor((0,) + split_sizes).cumsum(0).tolist()
    splits = {name: permutation[lo:hi].clone() for name, lo, hi in zip(SPLITS, bounds[:-1], bounds[1:])}
    meta = {
        "format_version": FORMAT_VERSION,
        "seed": seed,
        "size": size,
        "n_samples": n_samples,
        "sample_rate": sample_rate,
        "f0_range_hz": f0_range_hz,
        "f0_distribution": "uniform_hz",
        "amplitude_range": amplitude_range,
        "max_harmonics": max_harmonics,
        "min_harmonics": min_harmonics,
        "n_frames": n_frames,
        "split_sizes": split_sizes,
        "peak_normalisation_at_load": PEAK_LEVEL,
    }
    return {"meta": meta, "examples": examples, "splits": splits}


# --------------------------------------------------------------------------------------------
# Storage


def dataset_bytes(dataset: dict) -> bytes:
    """The serialised dataset: a ``torch.save`` archive written to memory.

    ``torch.save`` writes fixed zip timestamps and a content-derived serialisation id, and the
    archive's root folder is named after the file; writing to memory names it ``archive`` for
    every destination, so the same dataset gives the same bytes whatever the file name.
    """
    buffer = io.BytesIO()
    torch.save(dataset, buffer)
    return buffer.getvalue()


def save_dataset(dataset: dict, path: str | os.PathLike) -> str:
    """Write ``dataset`` to ``path`` atomically (parent folders created).

    The same dataset (hence the same seed and parameters) always gives the same bytes.

    Returns:
        the SHA-256 of the file, hex.
    """
    if not isinstance(dataset, dict) or not {"meta", "examples", "splits"} <= dataset.keys():
        raise ValueError("`dataset` must be the dict returned by generate_harmonic_dataset")
    return write_archive(dataset, path)


def check_out_file(path: str, example_name: str) -> Path:
    """An output file path a CLI may write: not a folder, not under a regular file."""
    out = Path(path)
    if out.is_dir() or str(path).endswith(("/", os.sep)):
        raise ValueError(f"--out {str(path)!r} is a folder; give a file name, e.g. {out / example_name}")
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise ValueError(f"--out {str(path)!r}: {str(parent)!r} is a file, not a folder")
    return out


def write_archive(archive: dict, path: str | os.PathLike) -> str:
    """Write a ``{"meta", "examples", ...}`` archive atomically, as :func:`dataset_bytes`; return its SHA-256.

    The file appears whole or not at all (written beside it, then renamed); parent folders are
    created.
    """
    data = dataset_bytes(archive)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.stem + ".partial" + path.suffix)
    try:
        partial.write_bytes(data)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return hashlib.sha256(data).hexdigest()


def new_file_hint(remedy: str, path: str | os.PathLike, kind: str) -> str:
    """``remedy`` with ``path`` replaced by a new file name (``NEW_DATASET.pt``): the command a
    message may suggest about a file that exists, which must never write over it."""
    return remedy.replace(str(path), f"NEW_{kind.upper().replace('-', '_')}.pt")


def _first_line(error: BaseException) -> str:
    return str(error).splitlines()[0][:200] if str(error).strip() else type(error).__name__


def unpickling_reason(error: pickle.UnpicklingError) -> str:
    """Why ``torch.load(weights_only=True)`` refused a file, in our words: torch's own message
    advises re-running with ``weights_only=False``, which would run the file's code."""
    if any(word in str(error) for word in ("Unsupported global", "GLOBAL", "Unsupported operand")):
        return "it holds objects other than tensors and plain data, which are not loaded (they could run code)"
    return "its pickle data is damaged"


def check_torch_zip(path: Path, not_ours: str, hint: str) -> None:
    """Refuse, before ``torch.load`` reads it, a file that is not a ``torch.save`` zip archive as
    this package writes it, with every record stored uncompressed: loading then takes no more
    memory than the file's size (a compressed record can expand a small file to gigabytes)."""
    try:
        with zipfile.ZipFile(path) as archive:
            records = archive.infolist()
    except OSError as error:
        raise ValueError(f"cannot read {str(path)!r}: {error.strerror or error}") from None
    except Exception:  # zipfile raises BadZipFile, EOFError, ValueError, struct.error... for a foreign file
        raise ValueError(f"{not_ours}: not a torch archive; {hint}") from None
    expanded, size = sum(r.file_size for r in records), path.stat().st_size
    if any(r.compress_type != zipfile.ZIP_STORED for r in records) or expanded > size:
        raise ValueError(
            f"{not_ours}: its zip records are compressed ({expanded:,} bytes in a {size:,}-byte file; torch.save "
            f"never compresses), and are not expanded; {hint}"
        )


def read_archive(
    path: str | os.PathLike, kind: str, version: int, remedy: str, *, new_remedy: str | None = None
) -> dict:
    """Load an archive written by :func:`write_archive`, checking that it exists and its format version.

    A path that exists is only read if it is a regular file (a device such as ``/dev/zero``, a
    pipe or a folder is refused before any read) and a ``torch.save`` zip archive with
    uncompressed records (memory bounded by the file's size); ``torch.load(weights_only=True)``
    then refuses pickled objects that could run code, without running them. Messages fit on one
    line and name the file; a hint about a file that exists never writes over it.

    Args:
        path: the file.
        kind: what it holds, for the messages (``"dataset"``, ``"real-notes"``).
        version: the format version expected in ``meta["format_version"]``.
        remedy: how to create it where it is missing, e.g. ``"make data"``.
        new_remedy: how to create one at another path, suggested about a file that exists but is
            not such an archive (default: :func:`new_file_hint` of ``remedy``).

    Raises:
        FileNotFoundError: no such file.
        ValueError: anything else (a folder, a device, not a torch archive, objects other than
            tensors and plain data, another format version).
    """
    path = Path(path)
    if not os.path.lexists(path):
        raise FileNotFoundError(
            f"{kind} file {str(path)!r} not found (resolved to {str(path.resolve())!r}); create it with `{remedy}`"
        )
    new_remedy = new_file_hint(remedy, path, kind) if new_remedy is None else new_remedy
    hint = f"it is left as is: create a {kind} file at a new path with `{new_remedy}`"
    if path.is_dir():
        raise ValueError(
            f"{str(path)!r} is a folder, not a {kind} file: give the file's path, or create one with `{new_remedy}`"
        )
    if not path.is_file():
        raise ValueError(
            f"{str(path)!r} is not a regular file (a device, a pipe or a broken link), so not a {kind} file, "
            f"and was not read: give a {kind} file, or create one with `{new_remedy}`"
        )
    not_ours = f"{str(path)!r} is not a {kind} file of this package"
    check_torch_zip(path, not_ours, hint)
    try:
        archive = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ValueError(f"{not_ours}: {unpickling_reason(error)}; {hint}") from None
    except OSError as error:
        raise ValueError(f"cannot read {kind} file {str(path)!r}: {error.strerror or error}") from None
    except Exception as error:  # torch raises many kinds for a file that is not its archive
        raise ValueError(f"{not_ours}: not a readable torch archive ({_first_line(error)}); {hint}") from None
    meta = archive.get("meta") if isinstance(archive, dict) else None
    found = meta.get("format_version") if isinstance(meta, dict) else None
    if found is None:
        raise ValueError(f"{not_ours}: it has no `meta.format_version`; {hint}")
    if found != version:
        raise ValueError(
            f"{str(path)!r} has {kind} format version {quote(found)}, expected {version} (written by another "
            f"version of this package); {hint}"
        )
    return archive


def _check_dataset_contents(archive: dict, path, hint: str) -> None:
    """The structure :func:`split_examples` and :class:`HarmonicDataset` rely on: every example key a
    tensor with one row per example, finite audio, integer split indices within range."""

    def refuse(problem: str):
        raise ValueError(f"{str(path)!r} is not a valid dataset file: {problem}; {hint}")

    examples, splits, meta = archive.get("examples"), archive["splits"], archive["meta"]
    if not isinstance(examples, dict):
        refuse(f"`examples` must be a mapping of tensors, got {type(examples).__name__}")
    ranks = {"audio": 2, "f0_hz": 1, "amplitudes": 2, "n_harmonics": 1, "n_audible_harmonics": 1}
    for key, ndim in ranks.items():
        value = examples.get(key)
        if not isinstance(value, torch.Tensor) or value.ndim != ndim:
            got = f"shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
            refuse(f"`examples.{key}` must be a {ndim}-D tensor, got {got}")
        if value.shape[0] != examples["audio"].shape[0]:
            refuse(f"`examples.{key}` has {value.shape[0]} rows, `examples.audio` {examples['audio'].shape[0]}")
    audio = examples["audio"]
    if not audio.is_floating_point() or audio.shape[1] == 0:
        refuse(f"`examples.audio` must hold floating-point samples, got {audio.dtype} of shape {tuple(audio.shape)}")
    if audio.numel() and not torch.isfinite(audio).all():
        refuse("`examples.audio` holds NaN or infinite samples")
    for name in SPLITS:
        index = splits[name]
        if not isinstance(index, torch.Tensor) or index.ndim != 1 or index.dtype != torch.int64:
            got = (
                f"{index.dtype} of shape {tuple(index.shape)}"
                if isinstance(index, torch.Tensor)
                else type(index).__name__
            )
            refuse(f"`splits.{name}` must be a 1-D int64 tensor of example indices, got {got}")
        if index.numel() and not (0 <= int(index.min()) and int(index.max()) < audio.shape[0]):
            refuse(f"`splits.{name}` indexes outside the {audio.shape[0]} examples")
    rate = meta.get("sample_rate")
    if isinstance(rate, bool) or not isinstance(rate, int) or rate <= 0:
        refuse(f"`meta.sample_rate` must be a positive integer, got {quote(rate)}")


def read_dataset(path: str | os.PathLike) -> dict:
    """Load a file written by :func:`save_dataset` (checks that it exists, its format, version and structure).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a file that is not a dataset of this package (see :func:`read_archive`), or one
            whose contents do not have the dataset's layout; the message names the file.
    """
    command = "python -m sot_utils.training.data --out"
    new_remedy = f"{command} NEW_DATASET.pt"
    if Path(path).resolve() != Path(DEFAULT_PATH).resolve():  # `make data` writes the default file
        new_remedy = f"make data` or `{new_remedy}"
    archive = read_archive(path, "dataset", FORMAT_VERSION, f"make data` or `{command} {path}", new_remedy=new_remedy)
    hint = f"it is left as is: create a dataset at a new path with `{new_remedy}`"
    if not isinstance(archive.get("splits"), dict) or not set(SPLITS) <= set(archive["splits"]):
        raise ValueError(
            f"{str(path)!r} is not a synthetic dataset with train/val/test splits (a real-notes archive?); {hint}"
        )
    _check_dataset_contents(archive, path, hint)
    return archive


def split_examples(dataset: dict, split: str) -> dict[str, torch.Tensor]:
    """One split's examples, un-normalised: ``{key: [n_split, ...]}`` for the keys of ``examples``."""
    check_choice("split", split, SPLITS)
    index = dataset["splits"][split]
    return {key: dataset["examples"][key][index] for key in EXAMPLE_KEYS}


# --------------------------------------------------------------------------------------------
# Loading


def peak_normalize(audio: torch.Tensor, peak: float = PEAK_LEVEL) -> torch.Tensor:
    """Scale each waveform to a peak of ``peak``: ``x / (max|x| + 1e-7) * peak`` (reference).

    Args:
        audio: ``[batch, n_samples]``.
        peak: target peak amplitude, linear.

    Returns:
        ``[batch, n_samples]``.
    """
    check_tensor("audio", audio, ndim=2, layout="[batch, n_samples]")
    check_positive_number("peak", peak)
    return audio / (audio.abs().amax(dim=-1, keepdim=True) + PEAK_EPS) * peak


class HarmonicDataset(torch.utils.data.Dataset):
    """One split of the synthetic harmonic dataset, audio peak-normalised to 0.9 once at load.

    The full tensors are attributes, for batched use without a DataLoader:

    - ``audio`` ``[N, n_samples]`` float32, peak-normalised;
    - ``f0_hz`` ``[N]`` Hz; ``amplitudes`` ``[N, max_harmonics]`` (drawn, un-normalised: they
      describe the stored audio before peak normalisation);
    - ``played_amplitudes`` ``[N, max_harmonics]``: the amplitudes that render the normalised
      audio (``amplitudes`` times each tone's normalisation gain; the synth is linear in them), what
      an oracle-amplitude decoder plays (:class:`sot_utils.autoencoder.HarmonicAutoencoder`);
    - ``n_harmonics`` ``[N]`` int64 (K); ``n_audible_harmonics`` ``[N]`` int64 (below Nyquist);
    - ``meta``: the generator parameters; ``sample_rate`` Hz.

    Items are dicts with the same keys, one example each (``audio`` ``[n_samples]``).
    """

    def __init__(self, examples: dict[str, torch.Tensor], meta: dict):
        missing = [key for key in EXAMPLE_KEYS if key not in examples]
        if missing:
            raise ValueError(f"`examples` lacks {missing}")
        self.audio = peak_normalize(examples["audio"])
        self.f0_hz = examples["f0_hz"]
        self.amplitudes = examples["amplitudes"]
        gain = PEAK_LEVEL / (examples["audio"].abs().amax(dim=-1, keepdim=True) + PEAK_EPS)
        self.played_amplitudes = examples["amplitudes"] * gain
        self.n_harmonics = examples["n_harmonics"]
        self.n_audible_harmonics = examples["n_audible_harmonics"]
        self.meta = dict(meta)
        self.sample_rate = meta["sample_rate"]

    def __len__(self) -> int:
        return self.audio.shape[0]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {key: getattr(self, key)[index] for key in EXAMPLE_KEYS}


def load_split(path: str | os.PathLike, split: str) -> HarmonicDataset:
    """Load one split (``"train"``, ``"val"`` or ``"test"``) of a saved dataset.

    Args:
        path: file written by :func:`save_dataset` (default location :data:`DEFAULT_PATH`,
            relative to the repository root).
        split: ``"train"``, ``"val"`` or ``"test"``.

    Returns:
        a :class:`HarmonicDataset` with audio ``[n_split, n_samples]`` peak-normalised to 0.9.
    """
    check_choice("split", split, SPLITS)
    dataset = read_dataset(path)
    examples = split_examples(dataset, split)
    if not len(examples["audio"]):
        sizes = " / ".join(f"{name} {len(dataset['splits'][name])}" for name in SPLITS)
        raise ValueError(
            f"the {split!r} split of dataset {str(path)!r} is empty (its splits hold {sizes} examples); "
            f"choose another split, or create a dataset of at least 10 examples at a new path with "
            f"`python -m sot_utils.training.data --out NEW_DATASET.pt`"
        )
    return HarmonicDataset(examples, dataset["meta"])


def ensure_dataset(path: str | os.PathLike = DEFAULT_PATH, seed: int = 0, size: int = 4000) -> Path:
    """Generate the dataset into ``path`` unless the file exists; return the path.

    The default is the paper's dataset (seed 0, 4000 tones), as ``make data`` writes it.
    """
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        save_dataset(generate_harmonic_dataset(seed=seed, size=size, progress=True), path)
    return path


def cached_features(
    data_path: str | os.PathLike, split: str, progress: bool = True
) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """(audio ``[N, 4096]`` peak-normalised, CQT ``[N, 16, 285]``, labels) of one split.

    The CQT of every split is cached in ``<data>.cqt.pt``, tagged with the data file's SHA-256 and
    the CQT's implementation (:data:`sot_utils.spectral.CQT_IMPLEMENTATION`), so that a regenerated
    dataset or a changed transform invalidates it. Calls on unchanged files return the same tensors as
    the last few calls did (read-only: callers index them, never write into them).
    """
    check_bool("progress", progress)
    from ..autoencoder import cqt_features  # the CQT stack (nnAudio), only when features are needed

    data_path = Path(data_path)
    cache_path = data_path.with_suffix(".cqt.pt")
    memo_key = (_file_identity(data_path), _file_identity(cache_path), split)
    if memo_key in _FEATURES_MEMO and None not in memo_key[:2]:
        return _FEATURES_MEMO[memo_key]
    dataset = load_split(data_path, split)  # checks that the file exists and is a dataset
    digest = hashlib.sha256(data_path.read_bytes()).hexdigest()
    cache = {}
    if cache_path.exists():
        try:
            cache = torch.load(cache_path, weights_only=True)
        except (RuntimeError, EOFError, OSError, pickle.UnpicklingError):
            cache = {}  # a damaged cache is rebuilt
        cache = cache if isinstance(cache, dict) else {}
    cached = cache.get(split)
    if not (isinstance(cached, torch.Tensor) and cached.ndim == 3 and cached.shape[0] == len(dataset)):
        cache.pop(split, None)  # not the features of this split (a damaged or foreign cache): rebuilt
    if cache.get("sha256") != digest or cache.get("cqt") != CQT_IMPLEMENTATION or split not in cache:
        if cache.get("sha256") != digest or cache.get("cqt") != CQT_IMPLEMENTATION:
            cache = {"sha256": digest, "cqt": CQT_IMPLEMENTATION}
        cache[split] = cqt_features(dataset.audio, progress=progress)
        partial = cache_path.with_name(f".{cache_path.name}.{os.getpid()}.tmp")  # parallel runs may build it at once
        torch.save(cache, partial)
        os.replace(partial, cache_path)
    labels = {
        "f0_hz": dataset.f0_hz,
        "amplitudes": dataset.amplitudes,
        "played_amplitudes": dataset.played_amplitudes,
        "n_harmonics": dataset.n_harmonics,
        "n_audible_harmonics": dataset.n_audible_harmonics,
    }
    features = dataset.audio, cache[split], labels
    while len(_FEATURES_MEMO) >= _FEATURES_MEMO_SIZE:
        _FEATURES_MEMO.pop(next(iter(_FEATURES_MEMO)))
    _FEATURES_MEMO[(_file_identity(data_path), _file_identity(cache_path), split)] = features
    return features


_FEATURES_MEMO: dict = {}
"""The features :func:`cached_features` returned last, by (data file, CQT cache file, split): an
evaluation of many checkpoints reads them once (each read costs about 0.4 s). A file whose size or
modification time changes is read again."""
_FEATURES_MEMO_SIZE = 4


def _file_identity(path: Path) -> tuple | None:
    """(resolved path, size, modification time in ns) of a file, or None when it does not exist."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


# --------------------------------------------------------------------------------------------
# CLI


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sot_utils.training.data",
        description="Generate the synthetic harmonic dataset (docs/method.md, the data) into one file.",
    )
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument("--out", default=DEFAULT_PATH, help=f"output file (default {DEFAULT_PATH})")
    parser.add_argument(
        "--size",
        type=int,
        default=4000,
        help="number of examples (default 4000); split 70/20/10 %% train/val/test",
    )
    args = parser.parse_args(argv)
    try:
        check_out_file(args.out, Path(DEFAULT_PATH).name)
    except ValueError as error:
        parser.error(str(error))
    if args.size < 10:
        parser.error(f"--size must be >= 10 so that the validation and test splits are not empty, got {args.size}")
    try:
        dataset = generate_harmonic_dataset(seed=args.seed, size=args.size, progress=True)
    except ValueError as error:
        parser.error(str(error))
    try:
        digest = save_dataset(dataset, args.out)
    except OSError as error:
        parser.exit(1, f"error: cannot write {args.out}: {error.strerror or error}\n")
    n_train, n_val, n_test = dataset["meta"]["split_sizes"]
    print(
        f"wrote {args.out}: {args.size} tones (train {n_train} / val {n_val} / test {n_test}), "
        f"seed {args.seed}, {Path(args.out).stat().st_size / 2**20:.1f} MiB, sha256 {digest[:16]}"
    )


if __name__ == "__main__":
    main()
