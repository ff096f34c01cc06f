"""The study's configuration files, shipped with the package (one place for every setting).

- ``base.yaml``: what every run shares (optimiser, budget, validation, architecture);
- ``groups/<group>.yaml``: one file per experiment group, holding that group's loss (and only
  what differs from the base): the paper's seven groups, and extensions;
- ``remedies/<remedy>/<group>.yaml``: changes a remedy makes to a group's run (notebook 09).

Every YAML file, shipped or a user's overlay, is parsed by :func:`load_yaml`: a safe loader that
also refuses anchors and aliases (a few hundred bytes of nested aliases expand to gigabytes) and
duplicate keys (YAML would keep the last one silently).

This module only finds and reads the files; :mod:`sot_utils.training.config` composes them into a
checked, resolved run configuration, and :func:`sot_utils.training.loss_config.paper_loss` builds a group's loss.
"""

from __future__ import annotations

import re
from importlib import resources

import yaml

__all__ = ["MAX_CONFIG_BYTES", "group_names", "load_yaml", "read_config", "remedy_names"]

MAX_CONFIG_BYTES = 1_000_000
"""Largest config file read, bytes (the shipped ones are under 2 KB)."""


class _Refused(yaml.MarkedYAMLError):
    """Valid YAML that a config may not use (anchors, aliases, duplicate keys)."""


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` without anchors/aliases and without duplicate keys."""

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Refused(
                None, None, "anchors and aliases (&name, *name) are not allowed in a config", event.start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) or key is None:
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"duplicate key {str(key)[:80]!r}: each setting may appear once",
                        key_node.start_mark,
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


# YAML 1.1 (PyYAML) reads `1e-4` and `1.0e10` as strings; YAML 1.2 and every user read numbers
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def load_yaml(text: str, where: str):
    """Parse YAML ``text`` safely: no code, no anchors or aliases, no duplicate keys; exponents
    without a dot or a sign (``1e-4``, ``1.0e10``) are numbers, as in YAML 1.2.

    Args:
        text: the document.
        where: the file's name, for the messages.

    Raises:
        ValueError: not valid YAML, an alias or anchor, a duplicate key, or over
            :data:`MAX_CONFIG_BYTES`; the message names ``where`` and the line.
    """
    if len(text) > MAX_CONFIG_BYTES:
        raise ValueError(f"{where} is {len(text):,} bytes; a config file may hold at most {MAX_CONFIG_BYTES:,}")
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except RecursionError:  # PyYAML composes nested collections recursively
        raise ValueError(f"{where} is not a valid config: its lists or mappings are nested too deeply") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where_in = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        kind = "is not a valid config" if isinstance(error, _Refused) else "is not valid YAML"
        raise ValueError(f"{where} {kind}{where_in}: {str(problem)[:200]}") from None


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
    values = load_yaml(path.read_text(), f"sot_utils/configs/{'/'.join(parts)}.yaml") or {}
    if not isinstance(values, dict):
        raise ValueError(f"sot_utils/configs/{'/'.join(parts)}.yaml must hold a mapping, got {type(values).__name__}")
    return values
