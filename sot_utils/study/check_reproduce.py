"""Do the committed results match the code? Rerun the main job in a clean clone and compare.

``make check-reproduce`` (on demand, about an hour; not part of ``make test``):

1. clones the current commit into a scratch folder (``build/check-reproduce/clone/``); uncommitted
   changes are not part of the check;
2. keeps a copy of the committed results (:data:`RESULT_PATTERNS`: ``results/*.csv``,
   ``results/*.md``, ``figures/*.png``);
3. runs the main job there (``make reproduce``; ``--only`` passes notebook numbers on, ``--venv``
   reuses a virtual environment instead of building a fresh one);
4. compares (:func:`compare_results`): text files by their text (and a CSV of the same shape by its
   largest numeric difference), PNG figures by their pixels, so a figure whose file bytes changed
   but whose pixels did not counts as the same;
5. prints the report, writes it to ``report.md`` beside the clone, and exits with 1 when any
   committed result differs.

Usage::

    python -m sot_utils.study.check_reproduce [--quick] [--only 01 02] [--venv .venv] [--scratch DIR]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..validation import check_bool

REPO = Path(__file__).resolve().parents[2]
RESULT_PATTERNS = ("results/*.csv", "results/*.md", "figures/*.png")
DEFAULT_SCRATCH = REPO / "build" / "check-reproduce"
STATUSES = ("differs", "new", "not regenerated", "same")  # the report's order


@dataclass(frozen=True)
class Comparison:
    """One result file: ``status`` is one of :data:`STATUSES`; ``detail`` says how it differs."""

    path: str
    status: str
    detail: str = ""


def result_files(root: Path, patterns: tuple[str, ...] = RESULT_PATTERNS) -> dict[str, Path]:
    """The result files under ``root``, by their path relative to it (``"figures/spectra.png"``)."""
    return {str(path.relative_to(root)): path for pattern in patterns for path in sorted(root.glob(pattern))}


def compare_results(
    committed: Path, regenerated: Path, since: float | None = None, patterns: tuple[str, ...] = RESULT_PATTERNS
) -> list[Comparison]:
    """Compare the committed result files with the regenerated ones.

    Args:
        committed: a folder holding the committed results (``results/``, ``figures/``).
        regenerated: the folder the job ran in.
        since: the time (``time.time()``) the job started: a regenerated file last modified before
            it was not rewritten by the job (``"not regenerated"``). None: every file counts.

    Returns:
        one :class:`Comparison` per file of either folder, sorted by status (as in
        :data:`STATUSES`), then path.
    """
    before, after = result_files(committed, patterns), result_files(regenerated, patterns)
    comparisons = []
    for path in sorted(set(before) | set(after)):
        if path not in before:
            comparisons.append(Comparison(path, "new", "written by the job, not committed"))
        elif path not in after:
            comparisons.append(Comparison(path, "differs", "committed, missing after the job"))
        elif since is not None and after[path].stat().st_mtime < since:
            comparisons.append(Comparison(path, "not regenerated"))
        else:
            detail = compare_file(before[path], after[path])
            comparisons.append(Comparison(path, "same") if detail is None else Comparison(path, "differs", detail))
    return sorted(comparisons, key=lambda c: (STATUSES.index(c.status), c.path))


def compare_file(committed: Path, regenerated: Path) -> str | None:
    """None when the two files hold the same result, else how they differ (PNG by pixels, others by text)."""
    if committed.suffix == ".png":
        return _compare_png(committed, regenerated)
    return _compare_text(committed, regenerated)


def _compare_png(committed: Path, regenerated: Path) -> str | None:
    from PIL import Image

    a, b = (np.asarray(Image.open(path).convert("RGBA")) for path in (committed, regenerated))
    if a.shape != b.shape:
        return f"image size {a.shape[1]}x{a.shape[0]} -> {b.shape[1]}x{b.shape[0]}"
    changed = np.any(a != b, axis=-1)
    return None if not changed.any() else f"{changed.mean():.2%} of the pixels differ"


def _compare_text(committed: Path, regenerated: Path) -> str | None:
    old, new = committed.read_text().splitlines(), regenerated.read_text().splitlines()
    if old == new:
        return None
    differing = sum(a != b for a, b in zip(old, new)) + abs(len(old) - len(new))
    detail = f"{differing} of {max(len(old), len(new))} lines differ"
    if committed.suffix == ".csv":
        numeric = _largest_numeric_difference(committed, regenerated)
        detail += f"; {numeric}" if numeric else ""
    return detail


def _largest_numeric_difference(committed: Path, regenerated: Path) -> str | None:
    """The largest absolute difference between the numeric cells of two CSVs of the same shape."""
    import pandas as pd

    try:
        old, new = pd.read_csv(committed), pd.read_csv(regenerated)
    except (ValueError, pd.errors.ParserError):
        return None
    if old.shape != new.shape or list(old.columns) != list(new.columns):
        return f"table shape {old.shape} -> {new.shape}"
    old_numbers, new_numbers = old.select_dtypes("number"), new.select_dtypes("number")
    if old_numbers.empty or list(old_numbers.columns) != list(new_numbers.columns):
        return None
    return f"largest numeric difference {np.nanmax(np.abs(old_numbers.to_numpy() - new_numbers.to_numpy())):.4g}"


def format_report(comparisons: list[Comparison], commit: str) -> str:
    """The report as markdown: counts per status, then every file that is not the same."""
    counts = {status: sum(c.status == status for c in comparisons) for status in STATUSES}
    lines = [
        f"# Reproduction check of commit {commit}",
        "",
        ", ".join(f"{counts[status]} {status}" for status in STATUSES) + f" (of {len(comparisons)} result files)",
        "",
    ]
    for c in comparisons:
        if c.status != "same":
            lines.append(f"- {c.status}: `{c.path}`" + (f" ({c.detail})" if c.detail else ""))
    return "\n".join(lines) + "\n"


def clone_commit(repo: Path, destination: Path, commit: str) -> Path:
    """A fresh clone of ``repo`` at ``commit`` in ``destination`` (removed first if it exists)."""
    if destination.exists():
        shutil.rmtree(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    _git(repo, "clone", "--quiet", "--no-checkout", str(repo), str(destination))
    _git(destination, "checkout", "--quiet", "--detach", commit)
    return destination


def copy_results(root: Path, destination: Path, patterns: tuple[str, ...] = RESULT_PATTERNS) -> int:
    """Copy the result files of ``root`` into ``destination`` (same relative paths); return how many."""
    files = result_files(root, patterns)
    for relative, path in files.items():
        (destination / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination / relative)
    return len(files)


def job_command(only: list[str] | None, reuse_venv: bool) -> list[str]:
    """The ``make`` command line of the main job in the clone."""
    check_bool("reuse_venv", reuse_venv)
    command = ["make", "reproduce"]
    if reuse_venv:
        command += ["-o", ".venv/.installed"]  # the linked environment is used as it is, never reinstalled
    if only:
        command.append("NOTEBOOK_ARGS=--only " + " ".join(only))
    return command


def link_venv(clone: Path, venv: Path) -> dict[str, str]:
    """Use the environment ``venv`` in ``clone``; return the job's environment variables.

    The environment's editable install points at another checkout, so the clone goes first on
    ``PYTHONPATH``; this checks that ``import sot_utils`` then loads the clone's package.
    """
    venv = venv.resolve()
    if not (venv / "bin" / "python").exists():
        raise FileNotFoundError(f"--venv {venv}: no bin/python there; build one with `make venv`")
    (clone / ".venv").symlink_to(venv)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(clone), os.environ.get("PYTHONPATH")]))}
    found = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sot_utils; print(sot_utils.__file__)"],
        cwd=clone / "notebooks",
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(found).resolve().is_relative_to(clone.resolve()):
        raise RuntimeError(f"with --venv {venv}, `import sot_utils` loads {found}, not the clone's package")
    return env


def run_job(clone: Path, command: list[str], env: dict[str, str] | None, log_path: Path) -> int:
    """Run ``command`` in ``clone``, echoing its output and keeping it in ``log_path``; return its status."""
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for line in io.TextIOWrapper(process.stdout, errors="replace"):
            sys.stdout.write(line)
            log.write(line)
        return process.wait()


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"`git {' '.join(args)}` failed in {repo}: {result.stderr.strip()}")
    return result.stdout.strip()


def check(
    repo: Path = REPO, scratch: Path = DEFAULT_SCRATCH, only: list[str] | None = None, venv: Path | None = None
) -> tuple[list[Comparison], str]:
    """Clone the current commit, run the main job, compare; return the comparisons and the commit."""
    commit = _git(repo, "rev-parse", "HEAD")
    if _git(repo, "status", "--porcelain"):
        print(f"note: the work tree has uncommitted changes; the check runs commit {commit[:12]} without them")
    clone = clone_commit(repo, scratch / "clone", commit)
    committed = scratch / "committed"
    shutil.rmtree(committed, ignore_errors=True)
    print(f"kept {copy_results(clone, committed)} committed result files in {committed}")
    start = time.time()
    for path in result_files(clone).values():  # as checked out: an hour old, so the job's writes stand out
        os.utime(path, (start - 3600, start - 3600))
    env = link_venv(clone, venv) if venv is not None else None
    command = job_command(only, reuse_venv=venv is not None)
    print(f"running `{' '.join(command)}` in {clone}")
    status = run_job(clone, command, env, scratch / "job.log")
    if status != 0:
        raise RuntimeError(f"`{' '.join(command)}` failed with status {status}; its output: {scratch / 'job.log'}")
    return compare_results(committed, clone, since=start - 2), commit  # some file systems keep 2 s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Rerun the main job on a clean clone of the current commit and list the committed results "
        "(results/*.csv, results/*.md, figures/*.png) that differ."
    )
    parser.add_argument("--only", nargs="+", metavar="NN", help="run only these notebooks, e.g. 01 02")
    parser.add_argument("--venv", type=Path, help="reuse this virtual environment instead of building a fresh one")
    parser.add_argument("--quick", action="store_true", help="smoke run: --only 01 --venv .venv")
    parser.add_argument("--scratch", type=Path, default=DEFAULT_SCRATCH, help="working folder (emptied first)")
    args = parser.parse_args(argv)
    if args.quick:
        args.only, args.venv = args.only or ["01"], args.venv or REPO / ".venv"
    try:
        comparisons, commit = check(REPO, args.scratch.resolve(), args.only, args.venv)
    except (RuntimeError, FileNotFoundError, subprocess.CalledProcessError) as error:
        print(f"check-reproduce: {error}", file=sys.stderr)
        return 2
    report = format_report(comparisons, commit)
    (args.scratch / "report.md").write_text(report)
    print(report + f"(also in {args.scratch / 'report.md'})")
    return int(any(c.status == "differs" for c in comparisons))


if __name__ == "__main__":
    sys.exit(main())
