"""The study's configuration files, shipped with the package (one place for every setting).

- ``base.yaml``: what every run shares (optimiser, budget, validation, architecture);
- ``groups/<group>.yaml``: one file per experiment group, holding that group's loss (and only
  what differs from the base): the paper's seven groups, and extensions;
- ``remedies/<remedy>/<group>.yaml``: changes a remedy makes to a group's run (notebook 09).

This module only finds and reads the files; :mod:`sot_utils.training.config` composes them into a
checked, resolved run configuration, and :func:`sot_utils.losses.paper_loss` builds a group's loss.
"""

from __future__ import annotations

from importlib import resources

import yaml

__all__ = ["group_names", "read_config", "remedy_names"]


def _root():
    return resources.files(__name__)


def group_names() -> tuple[str, ...]:
    """Every group with a config file, sorted."""
    return tuple(
        sorted(p.name.removesuffix(".yaml") for p in (_root() / "groups").iterdir() if p.name.endswith(".yaml"))
    )


def remedy_names() -> tuple[str, ...]:
    """Every remedy with a config folder, sorted."""
    return tuple(sorted(p.name for p in (_root() / "remedies").iterdir() if p.is_dir() and not p.name.startswith("_")))


def read_config(*parts: str) -> dict:
    """The mapping in ``base.yaml``, ``groups/<group>.yaml`` or ``remedies/<remedy>/<group>.yaml``
    (``read_config("groups", "SOT-2048")``); an empty file is an empty mapping."""
    path = _root().joinpath(*parts[:-1], parts[-1] + ".yaml")
    if not path.is_file():
        raise FileNotFoundError(f"no config file {'/'.join(parts)}.yaml in sot_utils/configs")
    values = yaml.safe_load(path.read_text()) or {}
    if not isinstance(values, dict):
        raise ValueError(f"sot_utils/configs/{'/'.join(parts)}.yaml must hold a mapping, got {type(values).__name__}")
    return values
