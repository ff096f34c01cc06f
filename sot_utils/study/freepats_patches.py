"""The FreePats patch set as Debian's ``freepats`` package installs it: its timidity config and the GUS
patch headers (the real notes of :mod:`sot_utils.study.freepats`, notebook 06's second note set).

Only the package's own files are read: the config at :data:`FREEPATS_CONFIG`, which must name
nothing but patches under :data:`FREEPATS_PATCH_DIR`, and the headers of those patches (each sample's
rate and key range), from which the renderer checks that what timidity played is FreePats.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from .real_notes import midi_to_hz

__all__ = [
    "FREEPATS_CONFIG",
    "FREEPATS_PATCH_DIR",
    "INSTALL_HINT",
    "FreePatsConfig",
    "PatchSample",
    "patch_key_range",
    "read_freepats_config",
    "read_patch_samples",
]

FREEPATS_CONFIG = "/etc/timidity/freepats.cfg"  # installed by Debian's freepats package
FREEPATS_PATCH_DIR = "/usr/share/midi/freepats"  # where that package puts its patches
INSTALL_HINT = (
    "install TiMidity++ and the FreePats patches with `make freepats` (Debian: `apt-get install -y "
    "--no-install-recommends timidity freepats`)"
)


class FreePatsConfig(NamedTuple):
    """The bank-0 patches of a timidity config for FreePats.

    Attributes:
        path: the config file.
        patch_dir: the folder its ``dir`` line names, where its patch names are resolved.
        patches: ``{program (0-based): patch name as written in the config}``, bank 0 only.
    """

    path: Path
    patch_dir: Path
    patches: dict[int, str]

    def patch_path(self, program: int) -> Path:
        """The file timidity loads for ``program``: the patch name under :attr:`patch_dir`, ``.pat`` added."""
        name = self.patches[program]
        return self.patch_dir / (name if name.endswith(".pat") else name + ".pat")


class PatchSample(NamedTuple):
    """One sample of a GUS patch, as its header gives it (frequencies in milli-hertz)."""

    sample_rate: int  # Hz
    low_mhz: int
    high_mhz: int
    root_mhz: int


def read_freepats_config(config: str | os.PathLike = FREEPATS_CONFIG) -> FreePatsConfig:
    """Read the bank-0 patches of the freepats package's timidity config.

    The config must be self-contained and hold only GUS patches under :data:`FREEPATS_PATCH_DIR`:
    a single ``dir`` line naming that folder, ``bank``/``drumset`` sections and
    ``program patch [options]`` lines; a ``source``, ``soundfont``, ``map`` or ``%font`` line (which
    could bring in instruments from elsewhere) is refused.

    Raises:
        FileNotFoundError: no file at ``config`` (the message says how to install it).
        ValueError: the file is not such a config.
    """
    path = Path(config)
    if not path.is_file():
        raise FileNotFoundError(
            f"`config` {str(path)!r} does not exist; the FreePats notes are rendered only with the "
            f"freepats package's config, never with timidity's default; {INSTALL_HINT}"
        )
    dirs, patches, section = [], {}, None
    for number, raw in enumerate(path.read_text(encoding="latin-1").splitlines(), start=1):
        tokens = raw.split("#", 1)[0].split()
        if not tokens:
            continue
        where = f"`config` {str(path)!r}, line {number}"
        keyword = tokens[0]
        if keyword == "dir" and len(tokens) == 2:
            dirs.append(tokens[1])
        elif keyword in ("bank", "drumset") and len(tokens) == 2 and tokens[1].isdigit():
            section = (keyword, int(tokens[1]))
        elif keyword.isdigit():
            if section is None:
                raise ValueError(f"{where}: program {keyword} outside a bank or drumset section")
            if len(tokens) < 2 or tokens[1].startswith("%"):
                raise ValueError(f"{where}: expected `program patch-file [options]`, got {raw.strip()!r}")
            if section == ("bank", 0):
                program = int(keyword)
                if program > 127:
                    raise ValueError(f"{where}: program {program} is not a General MIDI program (0..127)")
                patches[program] = tokens[1]
        else:
            raise ValueError(
                f"{where}: {keyword!r} lines are not accepted (only dir, bank, drumset and patch lines: "
                "the FreePats notes must come from FreePats patches alone)"
            )
    if dirs != [FREEPATS_PATCH_DIR]:
        raise ValueError(
            f"`config` {str(path)!r} must name the FreePats patch folder {FREEPATS_PATCH_DIR!r} in a single "
            f"`dir` line, got {dirs}; {INSTALL_HINT}"
        )
    if not patches:
        raise ValueError(f"`config` {str(path)!r} maps no program of bank 0 to a patch")
    return FreePatsConfig(path=path, patch_dir=Path(FREEPATS_PATCH_DIR), patches=patches)


def read_patch_samples(patch: str | os.PathLike) -> list[PatchSample]:
    """The samples of a GUS patch file (``.pat``, format GF1PATCH110 or GF1PATCH100), from its headers.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a single-instrument, single-layer GUS patch, or a truncated one.
    """
    path = Path(patch)
    if not path.is_file():
        raise FileNotFoundError(f"patch file {str(path)!r} does not exist; {INSTALL_HINT}")
    data = path.read_bytes()
    # header (129 bytes), instrument header (63 bytes), layer header (47 bytes), then the samples,
    # each a 96-byte header followed by its data
    if data[:12] not in (b"GF1PATCH110\0", b"GF1PATCH100\0") or len(data) < 239:
        raise ValueError(f"{str(path)!r} is not a GUS patch file (no GF1PATCH header)")
    if data[82] != 1 or data[151] != 1:
        raise ValueError(f"{str(path)!r}: only single-instrument, single-layer patches are read")
    samples, offset = [], 239
    for _ in range(data[198]):
        header = data[offset : offset + 96]
        if len(header) < 96:
            raise ValueError(f"{str(path)!r} is truncated")
        length = int.from_bytes(header[8:12], "little")
        rate = int.from_bytes(header[20:22], "little")
        low, high, root = (int.from_bytes(header[i : i + 4], "little") for i in (22, 26, 30))
        samples.append(PatchSample(rate, low, high, root))
        offset += 96 + length
    if not samples or offset != len(data):
        raise ValueError(f"{str(path)!r}: the sample headers do not add up to the file's size")
    return samples


def patch_key_range(samples: list[PatchSample]) -> tuple[int, int]:
    """The MIDI notes a patch's samples cover: the lowest and highest whose f0 lies in a sample's range.

    Args:
        samples: from :func:`read_patch_samples`.

    Returns:
        ``(lowest, highest)`` MIDI notes, both included; ``lowest > highest`` if none.
    """
    f0_mhz = midi_to_hz(torch.arange(128)).double().numpy() * 1000
    covered = np.zeros(128, dtype=bool)
    for sample in samples:
        covered |= (f0_mhz >= sample.low_mhz) & (f0_mhz <= sample.high_mhz)
    keys = np.flatnonzero(covered)
    return (int(keys[0]), int(keys[-1])) if len(keys) else (1, 0)
