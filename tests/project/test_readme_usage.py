"""The README's `estimate` example is what the command gives on the files it describes."""

import csv
import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile

REPO = Path(__file__).resolve().parents[2]


def _write_example_folder(root: Path) -> None:
    """The README's folder: a 220 Hz tone, a 659.26 Hz tone at 10 dB SNR (white), white noise, a text file."""
    rate = 44100
    t = np.arange(rate) / rate

    def tone(f0: float) -> np.ndarray:
        return sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 7))

    a3 = 0.3 * tone(220.0)
    rng = np.random.default_rng(0)
    e5 = 0.3 * tone(659.26)
    noise = rng.normal(size=t.size)
    noise *= np.sqrt((e5**2).mean() / 10) / noise.std()
    (root / "my_notes" / "take2").mkdir(parents=True)
    soundfile.write(root / "my_notes" / "a3.wav", a3 / (np.abs(a3).max() * 2), rate)
    soundfile.write(root / "my_notes" / "take2" / "e5_noisy.flac", e5 + noise, rate)
    soundfile.write(root / "my_notes" / "hiss.wav", 0.1 * rng.normal(size=t.size), rate)
    (root / "my_notes" / "broken.wav").write_text("not audio")


def _readme_block() -> tuple[str, str]:
    readme = (REPO / "README.md").read_text()
    command = re.search(r"```bash\n(.*estimate .*my_notes.*)\n```", readme).group(1)
    table = readme[readme.index("```text\nfile,f0_hz") + len("```text\n") :].split("```")[0]
    return command, table


def test_the_readme_estimate_csv_is_what_the_command_writes(tmp_path):
    _write_example_folder(tmp_path)
    command, expected = _readme_block()
    args = command.split()[3:]  # after `.venv/bin/python -m sot_utils.training.estimate`
    args[0] = str(REPO / args[0])  # the checkpoint
    result = subprocess.run(
        [sys.executable, "-m", "sot_utils.training.estimate", *args], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 1 and "1 failed: my_notes/broken.wav" in result.stderr, result.stderr
    written = list(csv.DictReader(io.StringIO((tmp_path / "f0.csv").read_text())))
    shown = list(csv.DictReader(io.StringIO(expected)))
    assert [row["file"] for row in written] == [row["file"] for row in shown]
    for got, want in zip(written, shown):
        for key, value in want.items():
            if value and key in ("f0_hz", "f0_min_hz", "f0_max_hz"):
                assert abs(float(got[key]) - float(value)) < 0.05, (got["file"], key)
            elif value and key in ("confidence", "level_db"):
                assert abs(float(got[key]) - float(value)) < 0.02, (got["file"], key)
            else:
                assert got[key] == value, (got["file"], key)
