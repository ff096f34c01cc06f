"""The reproduction check, on fabricated folders and a fabricated repository (never the real job)."""

import os
import subprocess

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from sot_utils.study import check_reproduce as cr


def _png(path, pixels, note="a"):
    path.parent.mkdir(parents=True, exist_ok=True)
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", note)  # different bytes, same pixels
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(path, pnginfo=info)


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _results(root, csv_value="1.5", pixels=((0, 0), (0, 255))):
    _write(root / "results" / "table.csv", f"name,value\na,{csv_value}\nb,2.0\n")
    _write(root / "results" / "table.md", "| a | b |\n")
    _png(root / "figures" / "plot.png", pixels, note=str(root))
    _png(root / "figures" / "same.png", ((1, 2), (3, 4)), note=str(root))
    _write(root / "figures" / "plot.pdf", "not compared")


def test_compare_results_reads_text_numbers_and_pixels(tmp_path):
    committed, regenerated = tmp_path / "committed", tmp_path / "clone"
    _results(committed)
    _results(regenerated, csv_value="1.75", pixels=((0, 0), (0, 254)))
    _write(regenerated / "results" / "extra.csv", "x\n1\n")
    found = {c.path: c for c in cr.compare_results(committed, regenerated)}
    assert set(found) == {
        "results/table.csv",
        "results/table.md",
        "results/extra.csv",
        "figures/plot.png",
        "figures/same.png",
    }
    assert found["results/table.csv"].status == "differs"
    assert found["results/table.csv"].detail == "1 of 3 lines differ; largest numeric difference 0.25"
    assert found["figures/plot.png"] == cr.Comparison("figures/plot.png", "differs", "25.00% of the pixels differ")
    assert (committed / "figures" / "same.png").read_bytes() != (regenerated / "figures" / "same.png").read_bytes()
    assert found["figures/same.png"].status == "same"  # only the file's metadata changed
    assert found["results/table.md"].status == "same"
    assert found["results/extra.csv"].status == "new"
    assert [c.status for c in cr.compare_results(committed, regenerated)] == ["differs"] * 2 + ["new"] + ["same"] * 2


def test_files_the_job_did_not_rewrite_are_listed_apart(tmp_path):
    committed, regenerated = tmp_path / "committed", tmp_path / "clone"
    _results(committed)
    _results(regenerated, csv_value="9")
    old = regenerated / "results" / "table.csv"
    os.utime(old, (1_000_000, 1_000_000))
    found = {c.path: c.status for c in cr.compare_results(committed, regenerated, since=2_000_000)}
    assert found["results/table.csv"] == "not regenerated"
    assert found["figures/plot.png"] == "same"


def test_image_size_and_table_shape_changes_are_named(tmp_path):
    committed, regenerated = tmp_path / "committed", tmp_path / "clone"
    _results(committed)
    _results(regenerated, pixels=((0, 0, 0), (0, 0, 0)))
    _write(regenerated / "results" / "table.csv", "name,value\na,1.5\n")
    found = {c.path: c.detail for c in cr.compare_results(committed, regenerated)}
    assert found["figures/plot.png"] == "image size 2x2 -> 3x2"
    assert found["results/table.csv"] == "1 of 3 lines differ; table shape (2, 2) -> (1, 2)"


def test_report_counts_every_status_and_lists_what_is_not_the_same():
    report = cr.format_report(
        [cr.Comparison("a.csv", "differs", "1 of 2 lines differ"), cr.Comparison("b.png", "same")], "abc123"
    )
    assert "1 differs, 0 new, 0 not regenerated, 1 same (of 2 result files)" in report
    assert "- differs: `a.csv` (1 of 2 lines differ)" in report
    assert "b.png" not in report


def test_job_command():
    assert cr.job_command(None, reuse_venv=False) == ["make", "reproduce"]
    assert cr.job_command(["01", "02"], reuse_venv=True) == [
        "make",
        "reproduce",
        "-o",
        ".venv/.installed",
        "NOTEBOOK_ARGS=--only 01 02",
    ]


def _git(repo, *args):
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True, capture_output=True
    )


def test_check_clones_the_commit_runs_its_job_and_compares(tmp_path, capsys):
    """A fabricated repository whose `make reproduce` rewrites one table and one figure."""
    repo = tmp_path / "repo"
    _results(repo)
    (repo / "Makefile").write_text(
        "reproduce:\n\tprintf 'name,value\\na,1.5\\nb,3.0\\n' > results/table.csv\n\ttouch figures/same.png\n"
    )
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "results")
    _write(repo / "results" / "table.md", "uncommitted\n")  # not part of the check
    comparisons, commit = cr.check(repo, tmp_path / "scratch")
    found = {c.path: c.status for c in comparisons}
    assert found == {
        "results/table.csv": "differs",
        "figures/same.png": "same",
        "results/table.md": "not regenerated",
        "figures/plot.png": "not regenerated",
    }
    assert len(commit) == 40
    assert "uncommitted changes" in capsys.readouterr().out
    assert (tmp_path / "scratch" / "job.log").exists()


def test_a_failing_job_is_an_error(tmp_path):
    repo = tmp_path / "repo"
    _results(repo)
    (repo / "Makefile").write_text("reproduce:\n\texit 3\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "results")
    with pytest.raises(RuntimeError, match="failed with status 2"):
        cr.check(repo, tmp_path / "scratch")
