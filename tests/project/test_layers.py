"""The package's floors: core <- training <- study, no upward import; a lazy, declared public API."""

import ast
import subprocess
import sys
from pathlib import Path

import sot_utils

PACKAGE = Path(sot_utils.__file__).parent
FLOORS = {"core": 0, "training": 1, "study": 2}


def floor_of(module: str) -> int:
    """``sot_utils.training.train`` -> 1; core modules (``sot_utils.losses``, ``sot_utils.configs``) -> 0."""
    parts = module.split(".")
    return FLOORS.get(parts[1], 0) if len(parts) > 1 and parts[0] == "sot_utils" else -1


def imports_of(path: Path, package_dir: Path = PACKAGE) -> list[tuple[str, int]]:
    """Every ``sot_utils`` module a file imports (absolute or relative, at any depth), with its line."""
    module = ".".join(path.relative_to(package_dir.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [target] if node.module else [f"{target}.{alias.name}" for alias in node.names]
            found += [(name, node.lineno) for name in names if name.startswith("sot_utils")]
        elif isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names if alias.name.startswith("sot_utils")]
    return found


def test_no_module_imports_a_higher_floor():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 20
    upward = []
    for path in files:
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if module == "sot_utils":  # the public API's lazy table names every floor on purpose
            continue
        for target, line in imports_of(path):
            if floor_of(target) > floor_of(module):
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}")
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_the_layer_check_catches_an_upward_import(tmp_path):
    """The oracle above is not vacuous: core and training files importing higher floors are flagged."""
    (tmp_path / "sot_utils" / "training").mkdir(parents=True)
    core, training = tmp_path / "sot_utils" / "probe.py", tmp_path / "sot_utils" / "training" / "probe.py"
    core.write_text("from .training.train import train\nfrom . import losses\n")
    training.write_text("from ..study import plots\nimport sot_utils.study.landscape\nfrom .data import load_split\n")
    assert [floor_of(t) for t, _ in imports_of(core, tmp_path / "sot_utils")] == [1, 0]
    assert [floor_of(t) for t, _ in imports_of(training, tmp_path / "sot_utils")] == [2, 2, 1]


def test_the_public_api_is_declared_lazy_and_resolves():
    names = sot_utils.__all__
    for required in (
        "SpectralOTLoss",
        "MultiScaleSpectralLoss",
        "paper_loss",
        "wasserstein_1d",
        "wasserstein_1d_shared_support",
        "harmonic_synth",
        "estimate_f0",
        "load_model",
    ):
        assert required in names
    script = (
        "import sys, sot_utils; assert 'torch' not in sys.modules, 'import sot_utils loaded torch'; "
        "values = [getattr(sot_utils, name) for name in sot_utils.__all__]; print(len(values))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == len(names)
