"""Shared fixtures."""

import shutil
from pathlib import Path

import pytest
import torch

from sot_utils.training.data import generate_harmonic_dataset, save_dataset


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run with one intra-op thread, then restore the setting.

    Small torch ops on a loaded 2-core machine spin against the other load (much slower), and
    bitwise reproducibility needs a fixed reduction order (multi-threaded oneDNN weight gradients
    may differ in the last ulp under load).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """A 40-example synthetic dataset file (the training tests' data)."""
    path = tmp_path_factory.mktemp("data") / "tiny.pt"
    save_dataset(generate_harmonic_dataset(seed=1, size=40, progress=False), path)
    return path


@pytest.fixture(scope="module")
def tiny_run(tiny_data, tmp_path_factory):
    """A 2-step MSS-Lin run (seed 3) on :func:`tiny_data`: its folder, with ``best.pt`` and ``last.pt``."""
    from sot_utils.training.config import resolve_config
    from sot_utils.training.train import train

    config = resolve_config(
        "MSS-Lin",
        3,
        steps=2,
        batch_size=8,
        validate_every=2,
        keep_best_every=0,
        data=str(tiny_data),
        out_dir=str(tmp_path_factory.mktemp("tiny_run") / "run"),
    )
    return train(config, progress=False)


@pytest.fixture(scope="module")
def chromium() -> str:
    """The system Chromium that Playwright drives in the browser tests; fails (never skips) when it
    or Playwright is missing: CI must run those tests."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.fail(
            "Playwright is not installed: run `make test` (installs the `web` extra) "
            "or `.venv/bin/pip install -e '.[web]'`",
            pytrace=False,
        )
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(
            "`chromium` is not on PATH: run `make test` (installs it) or `apt-get install -y chromium`", pytrace=False
        )
    return path


@pytest.fixture(scope="session")
def timgm6mb() -> str:
    """The TimGM6mb soundfont's path, for tests that render notes with FluidSynth; skips with the
    reason (and the command that installs it) where either is missing."""
    from sot_utils.study.real_notes import DEFAULT_SOUNDFONT, import_fluidsynth

    if not Path(DEFAULT_SOUNDFONT).is_file():
        pytest.skip(f"soundfont {DEFAULT_SOUNDFONT} missing; run `make soundfont`")
    try:
        import_fluidsynth()
    except RuntimeError as error:
        pytest.skip(str(error))
    return DEFAULT_SOUNDFONT
