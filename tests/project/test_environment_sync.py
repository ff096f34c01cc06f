"""environment.yml (for conda users) must install exactly what pyproject.toml declares."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def load():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    return project, env


def pip_section(env):
    (section,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    return section


def test_python_version_matches_requires_python():
    project, env = load()
    (python,) = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert python == "python=3.11"
    assert project["requires-python"] == ">=3.11,<3.12"


def test_environment_installs_the_package_with_every_extra():
    project, env = load()
    (editable,) = [line for line in pip_section(env) if line.startswith("-e")]
    extras = set(re.fullmatch(r"-e \.\[(.*)\]", editable).group(1).split(","))
    assert extras == set(project["optional-dependencies"])


def test_pinned_torch_pair_is_identical_in_both_files():
    project, env = load()
    pins = {line for line in pip_section(env) if "==" in line}
    declared = {dep for dep in project["dependencies"] if "==" in dep}
    assert pins == declared == {"torch==2.14.1", "torchaudio==2.11.0"}
