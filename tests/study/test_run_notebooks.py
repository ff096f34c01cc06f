"""The notebook runner: parameter discovery, notebook selection, storing executed outputs, provenance."""

import subprocess
from datetime import datetime

import nbformat
import pytest

from sot_utils.study import run_notebooks


def _notebook(path, cells):
    notebook = nbformat.v4.new_notebook()
    for source, tags, outputs in cells:
        cell = nbformat.v4.new_code_cell(source, metadata={"tags": tags} if tags else {})
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text) for text in outputs]
        notebook.cells.append(cell)
    notebook.cells.append(nbformat.v4.new_markdown_cell("# text"))
    nbformat.write(notebook, path)
    return path


def test_store_outputs_copies_by_source_and_leaves_out_the_injected_cell(tmp_path):
    source = _notebook(tmp_path / "a.ipynb", [("quick = True", ["parameters"], []), ("print(1)", [], ["old\n"])])
    executed = _notebook(
        tmp_path / "b.ipynb",
        [
            ("quick = True", ["parameters"], []),
            ("quick = False", ["injected-parameters"], []),
            ("print(1)", [], ["new\n"]),
        ],
    )
    assert run_notebooks.store_outputs(executed, source) == 2
    cells = nbformat.read(source, as_version=4).cells
    assert [c.source for c in cells if c.cell_type == "code"] == ["quick = True", "print(1)"]
    assert cells[1].outputs[0]["text"] == "new\n"


def test_store_outputs_refuses_a_cell_edited_since_the_run(tmp_path):
    source = _notebook(tmp_path / "a.ipynb", [("print(2)", [], [])])
    executed = _notebook(tmp_path / "b.ipynb", [("print(1)", [], ["1\n"])])
    with pytest.raises(ValueError, match="changed since"):
        run_notebooks.store_outputs(executed, source)


def test_declared_parameters_and_selection(tmp_path):
    path = _notebook(
        tmp_path / "a.ipynb", [("quick = True   # comment\n# note = 1\noutput_dir = 'x'", ["parameters"], [])]
    )
    assert run_notebooks._declared_parameters(path) == {"quick", "output_dir"}
    assert [p.name[:2] for p in run_notebooks.notebook_paths(["02"])] == ["02"]
    with pytest.raises(ValueError, match="only"):
        run_notebooks.notebook_paths(["99"])


def test_store_needs_quick():
    with pytest.raises(SystemExit):
        run_notebooks.main(["--store"])


def test_cli_rejects_an_unknown_notebook_before_running_any(capsys, monkeypatch):
    monkeypatch.setattr(run_notebooks, "run", lambda **kwargs: pytest.fail("ran notebooks"))
    with pytest.raises(SystemExit):
        run_notebooks.main(["--quick", "--only", "01", "99"])
    assert "matched no notebook" in capsys.readouterr().err


def _git(repo, *args):
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True, capture_output=True
    )


def test_provenance_names_the_commit_and_marks_a_dirty_tree(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("1")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "commit", "-q", "-m", "one")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    clean = run_notebooks.provenance(tmp_path)
    assert clean["commit"] == head
    assert datetime.strptime(clean["date_utc"], "%Y-%m-%dT%H:%M:%SZ")
    (tmp_path / "a.txt").write_text("2")
    assert run_notebooks.provenance(tmp_path)["commit"] == head + "+dirty"
    (tmp_path / "a.txt").write_text("1")
    (tmp_path / "new.py").write_text("")  # an untracked file may be imported: dirty too
    assert run_notebooks.provenance(tmp_path)["commit"] == head + "+dirty"


def test_outputs_do_not_make_a_tree_dirty_and_full_mode_refuses_a_dirty_one(tmp_path, monkeypatch):
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("1")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "commit", "-q", "-m", "one")
    (tmp_path / "results" / "notebooks").mkdir(parents=True)
    (tmp_path / "results" / "notebooks" / "01.ipynb").write_text("{}")  # a notebook's fresh output
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "x.png").write_text("")
    assert not run_notebooks.provenance(tmp_path)["commit"].endswith("+dirty")
    (tmp_path / "a.txt").write_text("2")
    original = run_notebooks.provenance
    monkeypatch.setattr(run_notebooks, "provenance", lambda: original(tmp_path))
    monkeypatch.setattr(run_notebooks, "notebook_paths", lambda only=None: pytest.fail("ran notebooks"))
    with pytest.raises(run_notebooks.DirtyTreeError, match=r"only from a committed tree.*\+dirty"):
        run_notebooks.run(quick=False)


def test_provenance_outside_a_git_work_tree(tmp_path):
    assert run_notebooks.provenance(tmp_path)["commit"] == "unknown (not a git work tree)"


def test_record_provenance_writes_metadata_and_one_cell_under_the_title(tmp_path):
    path = tmp_path / "a.ipynb"
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("# 01 · Title"), nbformat.v4.new_code_cell("print(1)")]
    nbformat.write(notebook, path)
    record = {"commit": "abc123+dirty", "date_utc": "2026-01-02T03:04:05Z", "mode": "full"}
    run_notebooks.record_provenance(path, record)
    run_notebooks.record_provenance(path, {**record, "commit": "def456"})  # a second run replaces the first
    notebook = nbformat.read(path, as_version=4)
    assert notebook.metadata["sot_study"] == {**record, "commit": "def456"}
    assert [c.source[:12] for c in notebook.cells] == ["# 01 · Title", "> **Provenan", "print(1)"]
    assert "`def456`" in notebook.cells[1].source and "2026-01-02T03:04:05Z" in notebook.cells[1].source
    assert "full mode" in notebook.cells[1].source


def test_store_outputs_copies_the_provenance_metadata(tmp_path):
    source = _notebook(tmp_path / "a.ipynb", [("print(1)", [], [])])
    executed = _notebook(tmp_path / "b.ipynb", [("print(1)", [], ["1\n"])])
    record = {"commit": "abc", "date_utc": "2026-01-02T03:04:05Z", "mode": "quick"}
    run_notebooks.record_provenance(executed, record)
    run_notebooks.store_outputs(executed, source)
    stored = nbformat.read(source, as_version=4)
    assert stored.metadata["sot_study"] == record
    assert not any("provenance" in c.get("metadata", {}).get("tags", []) for c in stored.cells)


def test_a_run_shares_one_fresh_evaluation_folder_and_removes_it(tmp_path, monkeypatch):
    """The notebooks' kernels inherit the folder (the environment); nothing of it outlives the run."""
    import os

    from sot_utils.constants import EVALUATION_CACHE_ENV

    monkeypatch.delenv(EVALUATION_CACHE_ENV, raising=False)
    seen = []

    def execute(paths, quick, executed_dir, record):
        folder = os.environ[EVALUATION_CACHE_ENV]
        assert os.path.isdir(folder) and not os.listdir(folder)
        seen.append(folder)
        return {}

    monkeypatch.setattr(run_notebooks, "_execute", execute)
    monkeypatch.setattr(run_notebooks, "executed_notebooks_dir", lambda quick: tmp_path / "executed")
    run_notebooks.run(quick=True)
    run_notebooks.run(quick=True)
    assert len(set(seen)) == 2  # a fresh folder per run
    assert not any(os.path.exists(folder) for folder in seen)
    assert EVALUATION_CACHE_ENV not in os.environ


def test_side_by_side_runs_the_longest_first_and_a_reader_after_what_it_reads(tmp_path):
    from pathlib import Path

    paths = [Path(f"{n}_x.ipynb") for n in ("01", "06", "07", "09")]
    order = run_notebooks.schedule_order(paths, {"07_x.ipynb": 500.0, "09_x.ipynb": 90.0, "06_x.ipynb": 80.0})
    assert [p.name[:2] for p in order] == ["07", "06", "09", "01"]  # 06 holds 09 back: 80 + 90 s
    order = run_notebooks.schedule_order(paths, {"07_x.ipynb": 150.0, "09_x.ipynb": 90.0, "06_x.ipynb": 80.0})
    assert [p.name[:2] for p in order] == ["06", "07", "09", "01"]
    selected = {"01", "06", "07", "09"}
    assert not run_notebooks._ready(Path("09_x.ipynb"), set(), selected)  # 06 writes what 09 reads
    assert run_notebooks._ready(Path("09_x.ipynb"), {"06"}, selected)
    assert run_notebooks._ready(Path("09_x.ipynb"), set(), {"09"})  # 06 not in this run: its committed file
    executed = tmp_path / "executed"
    executed.mkdir()
    nbformat.write(nbformat.v4.new_notebook(metadata={"papermill": {"duration": 12.5}}), executed / "03_a.ipynb")
    (executed / "04_b.ipynb").write_text("not json")
    recorded = run_notebooks._last_durations(executed)  # read from the metadata, not timed
    assert recorded == {"03_a.ipynb": 12.5}


def test_jobs_must_be_positive(capsys):
    with pytest.raises(SystemExit):
        run_notebooks.main(["--quick", "--jobs", "0"])
    assert "--jobs must be at least 1" in capsys.readouterr().err
