"""Run the numbered notebooks headless with papermill (the main job's notebook step).

Full mode (default) writes figures to ``figures/``, tables to ``results/`` and the executed
notebooks to ``results/notebooks/``; ``--quick`` writes to the ``quick/`` sub-folders instead (the
same folders the committed notebooks use by default, so CI never touches the full results).
``--quick --store`` then copies the executed cells' outputs back into ``notebooks/`` (how the
committed outputs, which nbval checks, are refreshed after a change to the package).

Every executed notebook records what produced it (:func:`provenance`): the commit (``git rev-parse
HEAD``, with ``+dirty`` when the work tree had uncommitted changes) and the UTC time the run
started, in its metadata (``sot_study``) and in a markdown cell under its title, which the book
shows on each notebook page. ``--store`` copies that metadata into ``notebooks/`` too.

Usage::

    python -m sot_utils.study.run_notebooks [--quick [--store]] [--only 01 03] [--jobs 2]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from tqdm.auto import tqdm

from ..constants import EVALUATION_CACHE_ENV
from ..validation import check_bool, check_int

__all__ = [
    "DEPENDENCIES",
    "OUTPUT_DIRS",
    "THREAD_VARIABLES",
    "DirtyTreeError",
    "executed_notebooks_dir",
    "main",
    "notebook_paths",
    "provenance",
    "record_provenance",
    "run",
    "schedule_order",
    "store_outputs",
]

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
PROVENANCE_TAG = "provenance"  # the tag of the markdown cell run() writes under a notebook's title
OUTPUT_DIRS = ("results/", "figures/")
"""What the notebooks write: changes there do not make a tree dirty (the notebooks read no earlier
run's results), so one notebook's fresh outputs do not block the next one's run."""


class DirtyTreeError(RuntimeError):
    """Full-mode outputs asked for from a tree with uncommitted changes."""


def notebook_paths(only: list[str] | None = None) -> list[Path]:
    """The numbered notebooks ``notebooks/NN_*.ipynb``, optionally filtered by their number."""
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if only:
        unknown = sorted(set(only) - {p.name[:2] for p in paths})
        if unknown:
            raise ValueError(f"`only` {unknown} matched no notebook; the numbers are {[p.name[:2] for p in paths]}")
        paths = [p for p in paths if p.name[:2] in only]
    return paths


def parameters(quick: bool) -> dict:
    """Papermill parameters, relative to ``notebooks/`` (the kernel's working directory)."""
    check_bool("quick", quick)
    suffix = "/quick" if quick else ""
    return {"quick": quick, "output_dir": f"../figures{suffix}", "results_dir": f"../results{suffix}"}


def executed_notebooks_dir(quick: bool) -> Path:
    """Where :func:`run` writes the executed notebooks."""
    check_bool("quick", quick)
    return REPO / "results" / ("quick/notebooks" if quick else "notebooks")


DEPENDENCIES = {"09": ("06",)}
"""Notebooks that read what another writes in the same run: 09 compares the remedied runs with the
peers' scores on the real notes that 06 writes (``peers_real_notes.csv``)."""
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
"""Set to 1 for each notebook's kernel when notebooks run side by side: two kernels of two threads
each on two cores slow each other several times over."""


def run(quick: bool = False, only: list[str] | None = None, jobs: int = 1) -> dict[str, float]:
    """Execute the notebooks; return the wall time of each, seconds.

    The notebooks share one fresh folder of checkpoint outputs for the run
    (:data:`sot_utils.constants.EVALUATION_CACHE_ENV`), removed when the run ends. With
    ``jobs > 1``, that many notebooks run at a time, one thread each, the longest chain first (by the
    durations the last executed notebooks recorded), a notebook of :data:`DEPENDENCIES` after
    those it reads.
    """
    check_bool("quick", quick)
    check_int("jobs", jobs, minimum=1)
    record = {**provenance(), "mode": "quick" if quick else "full"}
    if not quick and not _is_commit(record["commit"]):
        raise DirtyTreeError(
            f"full-mode results are stored only from a committed tree, so that the commit they name holds "
            f"the code and inputs that produced them; this tree is {record['commit']}: commit (or stash) the "
            "changes `git status` lists, or run with --quick"
        )
    executed_dir = executed_notebooks_dir(quick)
    executed_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sot-evaluations-") as cache, _environment(EVALUATION_CACHE_ENV, cache):
        if jobs == 1:
            return _execute(notebook_paths(only), quick, executed_dir, record)
        return _execute_side_by_side(notebook_paths(only), quick, executed_dir, record, jobs)


@contextlib.contextmanager
def _environment(name: str, value: str):
    """``os.environ[name] = value`` inside the block (the notebooks' kernels inherit it), restored after."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _execute(paths: list[Path], quick: bool, executed_dir: Path, record: dict) -> dict[str, float]:
    times = {}
    for path in tqdm(paths, desc="notebooks", unit="nb"):
        times[path.name] = _execute_one(path, quick, executed_dir, record)
        tqdm.write(f"{path.name}: {times[path.name]:.0f} s")
    return times


def _execute_one(path: Path, quick: bool, executed_dir: Path, record: dict) -> float:
    """Execute one notebook with papermill, store it with its provenance; return its wall time, seconds."""
    import papermill

    params = parameters(quick)
    declared = _declared_parameters(path)
    start = time.perf_counter()
    papermill.execute_notebook(
        str(path),
        str(executed_dir / path.name),
        parameters={k: v for k, v in params.items() if k in declared},
        cwd=str(NOTEBOOKS),
        kernel_name="python3",
        progress_bar=False,
    )
    seconds = time.perf_counter() - start
    _relative_paths(executed_dir / path.name)
    record_provenance(executed_dir / path.name, record)
    return seconds


def _one_thread() -> None:
    os.environ.update({name: "1" for name in THREAD_VARIABLES})  # inherited by the kernels this process starts


def _execute_side_by_side(
    paths: list[Path], quick: bool, executed_dir: Path, record: dict, jobs: int
) -> dict[str, float]:
    """:func:`_execute_one` for ``jobs`` notebooks at a time, each in its own process (papermill's
    kernels are driven by an event loop per process), in :func:`schedule_order`."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    pending = schedule_order(paths, _last_durations(executed_dir))
    selected = {path.name[:2] for path in paths}
    done, times, running = set(), {}, {}
    context = multiprocessing.get_context("spawn")
    with (
        ProcessPoolExecutor(jobs, mp_context=context, initializer=_one_thread) as pool,
        tqdm(total=len(paths), desc="notebooks", unit="nb") as bar,
    ):
        while pending or running:
            for path in [p for p in pending if _ready(p, done, selected)][: jobs - len(running)]:
                pending.remove(path)
                running[pool.submit(_execute_one, path, quick, executed_dir, record)] = path
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                path = running.pop(future)
                times[path.name] = future.result()  # a failed notebook stops the run, as it does alone
                done.add(path.name[:2])
                bar.update()
                tqdm.write(f"{path.name}: {times[path.name]:.0f} s")
    return {path.name: times[path.name] for path in paths}


def _ready(path: Path, done: set[str], selected: set[str]) -> bool:
    return all(number in done or number not in selected for number in DEPENDENCIES.get(path.name[:2], ()))


def schedule_order(paths: list[Path], durations: dict[str, float]) -> list[Path]:
    """Longest chain first: each notebook ranked by its duration plus those of the notebooks that
    wait for it (:data:`DEPENDENCIES`), by ``durations`` (name -> seconds; unknown: 0), ties in
    number order. With two at a time, the long notebooks and chains overlap instead of one
    finishing alone at the end."""
    seconds = {path.name[:2]: durations.get(path.name, 0.0) for path in paths}

    def chain(number: str) -> float:
        waiting = [other for other, needs in DEPENDENCIES.items() if number in needs and other in seconds]
        return seconds[number] + max((chain(other) for other in waiting), default=0.0)

    return sorted(paths, key=lambda path: (-chain(path.name[:2]), path.name))


def _last_durations(executed_dir: Path) -> dict[str, float]:
    """Papermill's recorded duration of each executed notebook in ``executed_dir`` (seconds)."""
    import json

    durations = {}
    for path in executed_dir.glob("[0-9][0-9]_*.ipynb"):
        try:
            seconds = json.loads(path.read_text())["metadata"]["papermill"]["duration"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(seconds, (int, float)):
            durations[path.name] = float(seconds)
    return durations


def provenance(repo: Path = REPO) -> dict[str, str]:
    """What a run starts from: ``{"commit": ..., "date_utc": ...}``.

    ``commit`` is ``git rev-parse HEAD``, followed by ``+dirty`` when ``git status`` lists any
    change outside :data:`OUTPUT_DIRS` (untracked files included: they may be imported), or
    ``"unknown (not a git work tree)"``.
    """
    date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        commit = _git(repo, "rev-parse", "HEAD")
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout  # not stripped: each line is "XY path"
        changed = [line[3:] for line in status.splitlines()]
        dirty = any(not path.strip('"').startswith(OUTPUT_DIRS) for path in changed)
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown (not a git work tree)", "date_utc": date}
    return {"commit": commit + ("+dirty" if dirty else ""), "date_utc": date}


def _is_commit(commit: str) -> bool:
    """Whether a provenance ``commit`` names a commit alone (not ``+dirty``, not unknown)."""
    return all(c in "0123456789abcdef" for c in commit) and len(commit) >= 7


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


def provenance_text(record: dict[str, str]) -> str:
    """The markdown line shown under an executed notebook's title."""
    return (
        f"> **Provenance.** Executed in {record['mode']} mode by `python -m sot_utils.study.run_notebooks`, "
        f"run started {record['date_utc']}, from commit `{record['commit']}`."
    )


def record_provenance(path: Path, record: dict[str, str]) -> None:
    """Write ``record`` into an executed notebook: metadata ``sot_study`` and a markdown cell under its title.

    A provenance cell from an earlier run is replaced, so the notebook holds exactly one.
    """
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    notebook.metadata["sot_study"] = dict(record)
    cells = [cell for cell in notebook.cells if PROVENANCE_TAG not in cell.get("metadata", {}).get("tags", [])]
    position = 1 if cells and cells[0].cell_type == "markdown" else 0  # under the title cell
    cells.insert(position, nbformat.v4.new_markdown_cell(provenance_text(record), metadata={"tags": [PROVENANCE_TAG]}))
    notebook.cells = cells
    nbformat.write(notebook, path)


def store_outputs(executed: Path, source: Path) -> int:
    """Copy the outputs of the executed notebook into ``source``, cell by cell; return cells updated.

    Cells are matched by their source text, so papermill's injected-parameters cell is left out
    and the notebook keeps its own parameters cell. A source cell with no executed twin (edited
    since the run) raises: its outputs would be stale. The run's provenance metadata comes along.
    """
    import nbformat

    executed_notebook = nbformat.read(executed, as_version=4)
    ran = {cell.source: cell for cell in executed_notebook.cells if cell.cell_type == "code"}
    notebook = nbformat.read(source, as_version=4)
    if "sot_study" in executed_notebook.metadata:
        notebook.metadata["sot_study"] = executed_notebook.metadata["sot_study"]
    updated = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        if cell.source not in ran:
            raise ValueError(f"{source.name}: a cell changed since {executed} was executed:\n{cell.source[:200]}")
        cell.outputs, cell.execution_count = ran[cell.source].outputs, ran[cell.source].execution_count
        updated += 1
    nbformat.write(notebook, source)
    return updated


def _relative_paths(path: Path) -> None:
    """Record papermill's input/output paths relative to the repository (no machine paths)."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    meta = notebook.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):
        if key in meta:
            meta[key] = str(Path(meta[key]).resolve().relative_to(REPO))
    nbformat.write(notebook, path)


def _declared_parameters(path: Path) -> set[str]:
    """Names assigned in the notebook's cell tagged ``parameters``."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            return {
                line.split("=")[0].strip()
                for line in cell.source.splitlines()
                if "=" in line and not line.startswith("#")
            }
    raise ValueError(f"{path.name} has no cell tagged 'parameters'")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the study's notebooks headless with papermill.")
    parser.add_argument("--quick", action="store_true", help="coarse grids, few targets (CI)")
    parser.add_argument("--only", nargs="*", help="notebook numbers to run, e.g. 01 03")
    parser.add_argument("--store", action="store_true", help="with --quick: copy the outputs into notebooks/")
    parser.add_argument("--jobs", type=int, default=1, help="notebooks run at a time, one thread each (default 1)")
    args = parser.parse_args(argv)
    if args.store and not args.quick:
        parser.error("--store needs --quick: the committed notebooks carry the quick outputs nbval checks")
    try:
        notebook_paths(args.only)  # an unknown number fails before anything runs
    except ValueError as error:
        parser.error(str(error))
    try:
        if args.jobs < 1:
            parser.error(f"--jobs must be at least 1, got {args.jobs}")
        times = run(quick=args.quick, only=args.only, jobs=args.jobs)
    except DirtyTreeError as error:
        raise SystemExit(f"error: {error}") from None
    print(f"ran {len(times)} notebooks in {sum(times.values()):.0f} s")
    if args.store:
        for name in times:
            store_outputs(executed_notebooks_dir(quick=True) / name, NOTEBOOKS / name)
        print(f"stored the outputs of {len(times)} notebooks in {NOTEBOOKS.relative_to(REPO)}/")


if __name__ == "__main__":
    main()
