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
    assert found["results/table.csv"].detail == (
        "1 of 3 lines changed, the first beyond tolerance at line 2; 1 of 2 numbers beyond (50.0%); largest difference "
        "0.25 absolute, 0.167 relative"
    )
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
    assert (
        found["results/table.csv"]
        == "1 of 3 lines changed, the first beyond tolerance at line 3; table shape (2, 2) -> (1, 2)"
    )


def test_report_counts_every_status_and_lists_what_is_not_the_same():
    report = cr.format_report(
        [cr.Comparison("a.csv", "differs", "1 of 2 lines differ"), cr.Comparison("b.png", "same")], "abc123"
    )
    assert "1 differs, 0 new, 0 not regenerated, 0 within tolerance, 1 same (of 2 result files)" in report
    assert "- differs: `a.csv` (1 of 2 lines differ)" in report
    assert "b.png" not in report


DEFAULT = cr.tolerance_for("results/table.csv")  # relative 1e-4, absolute 1e-9, one unit of a decimal's last digit


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("a,12.35\n", "a,12.34\n"),  # the last printed digit flips
        ("12.3\n", "12.35\n"),  # one unit of the coarser of the two printed precisions
        ("-0.01\n", "0.00\n"),
        ("1.5e-3\n", "1.6e-3\n"),
        ("1234.5678\n", "1234.580146\n"),  # relative 1e-5
        ("1.5\n", "1.50\n"),
    ],
)
def test_numbers_that_moved_within_the_tolerance(old, new):
    assert cr.compare_text(old, new, DEFAULT)[0] == "within tolerance"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("1234.5678\n", "1235.8024\n"),  # relative 1e-3
        ("12.35\n", "12.33\n"),  # two units of the last digit
        ("| 7 | x |\n", "| 8 | x |\n"),  # integers are counts, not rounded values
        ("a,1.5\n", "b,1.5\n"),  # the text outside the numbers changed
        ("1.5,2.5\n", "1.5\n"),  # the count of numbers changed
        ("1.5\n", "1.5\n2.5\n"),  # the count of lines changed
        ("0.5\n", "nan\n"),  # nan and inf are text
        ("SOT-2048,1.0\n", "SOT-2049,1.0\n"),  # identifiers and dates are text, not numbers one digit apart
        ("SOT-512-LogF\n", "SOT-513-LogF\n"),
        ("run of 2026-12-07\n", "run of 2026-12-08\n"),
        ("at 12:30\n", "at 12:31\n"),
        ("v1.2.3\n", "v1.2.4\n"),
        ("f0 error\n", "f1 error\n"),
    ],
)
def test_changes_beyond_the_tolerance(old, new):
    assert cr.compare_text(old, new, DEFAULT)[0] == "differs"


def test_numbers_are_told_from_labels():
    line = "SOT-2048 at 2026-12-07 12:30, v1.2.3, f0 of 1/k: -3.5 (1e-3), *56.9*, +4, .5, nan, 1.5."
    assert cr.split_numbers(line)[1::2] == ["-3.5", "1e-3", "56.9", "+4", ".5", "1.5"]


def test_the_detail_names_the_largest_difference_and_the_first_line_beyond():
    old, new = "x,y\n1.0,0.10\n3.0,4.0\n50.0,6.0\n", "x,y\n1.0,0.11\n3.0,4.0\n50.1,6.0\n"  # last digits flip
    assert cr.compare_text(old, new, DEFAULT) == (
        "within tolerance",
        "2 of 4 lines changed; largest difference 0.1 absolute, 0.1 relative",
    )
    assert cr.compare_text(old, new.replace("50.1", "50.3"), DEFAULT) == (
        "differs",
        "2 of 4 lines changed, the first beyond tolerance at line 4; 1 of 6 numbers beyond (16.7%); largest difference "
        "0.3 absolute, 0.1 relative",
    )
    exact = cr.Tolerance(last_digit=False, reason="exact")
    assert cr.compare_text("1.0\n", "1.1\n", exact)[0] == "differs"
    assert cr.compare_text("1.0\n", "1.0\n", exact) == ("same", "")


def test_figures_may_change_a_small_share_of_their_pixels(tmp_path):
    committed, regenerated = tmp_path / "committed", tmp_path / "clone"
    _results(committed)
    _results(regenerated, pixels=((0, 0), (0, 254)))  # 1 of 4 pixels
    _png(committed / "figures" / "large.png", np.zeros((100, 100)))
    moved = np.zeros((100, 100))
    moved[50, 50] = 255  # 1 of 10,000 pixels
    _png(regenerated / "figures" / "large.png", moved)
    found = {c.path: c for c in cr.compare_results(committed, regenerated)}
    assert found["figures/plot.png"] == cr.Comparison("figures/plot.png", "differs", "25.00% of the pixels differ")
    assert found["figures/large.png"] == cr.Comparison(
        "figures/large.png", "within tolerance", "0.01% of the pixels differ"
    )


def test_the_first_matching_pattern_wins(tmp_path, monkeypatch):
    loose = cr.Tolerance(relative=0.5, reason="a noisy table")
    strict = cr.Tolerance(last_digit=False, reason="exact tables")
    monkeypatch.setattr(cr, "TOLERANCES", (("results/noisy.csv", loose), ("results/*", strict), ("*", loose)))
    assert cr.tolerance_for("results/noisy.csv") is loose
    assert cr.tolerance_for("results/table.csv") is strict
    assert cr.tolerance_for("figures/plot.png") is loose
    monkeypatch.setattr(cr, "TOLERANCES", ())
    assert cr.tolerance_for("results/table.csv") == cr.EXACT
    monkeypatch.setattr(cr, "TOLERANCES", (("results/noisy.csv", loose), ("results/*", strict)))
    committed, regenerated = tmp_path / "committed", tmp_path / "clone"
    for root, value in ((committed, "1.0"), (regenerated, "1.2")):
        _write(root / "results" / "noisy.csv", f"x\n{value}\n")
        _write(root / "results" / "table.csv", f"x\n{value}\n")
    found = {c.path: c.status for c in cr.compare_results(committed, regenerated)}
    assert found == {"results/noisy.csv": "within tolerance", "results/table.csv": "differs"}


def test_the_default_tolerances():
    assert cr.tolerance_for("figures/spectra.png").pixels == 0.03
    assert cr.tolerance_for("results/results_table.md") == DEFAULT
    assert (DEFAULT.relative, DEFAULT.absolute, DEFAULT.last_digit) == (1e-4, 1e-6, True)
    assert all(tolerance.reason for _, tolerance in cr.TOLERANCES)
    with pytest.raises(ValueError, match="relative"):
        cr.Tolerance(relative=-1e-4, reason="negative")
    with pytest.raises(ValueError, match="pixels"):
        cr.Tolerance(pixels=3, reason="a percentage, not a share")
    with pytest.raises(TypeError):
        cr.Tolerance(relative=1e-4)  # no reason given


def test_files_within_tolerance_are_reported_with_their_reason_and_do_not_fail(tmp_path, monkeypatch):
    comparisons = [
        cr.Comparison("results/a.csv", "within tolerance", "1 of 2 lines changed; largest difference 1e-06 ..."),
        cr.Comparison("figures/b.png", "within tolerance", "0.01% of the pixels differ"),
        cr.Comparison("results/c.csv", "same"),
    ]
    report = cr.format_report(comparisons, "abc123")
    assert "0 differs, 0 new, 0 not regenerated, 2 within tolerance, 1 same (of 3 result files)" in report
    assert (
        "- within tolerance: `results/a.csv` (1 of 2 lines changed; largest difference 1e-06 ...); tolerance "
        "relative 0.0001, absolute 1e-06, one unit of the last printed digit: float32 sums in another order"
    ) in report
    assert "- within tolerance: `figures/b.png` (0.01% of the pixels differ); tolerance 3.00% of the pixels: " in report
    monkeypatch.setattr(cr, "check", lambda *args: (comparisons, "abc123"))
    assert cr.main(["--scratch", str(tmp_path)]) == 0
    monkeypatch.setattr(cr, "check", lambda *args: (comparisons + [cr.Comparison("x.csv", "differs")], "abc123"))
    assert cr.main(["--scratch", str(tmp_path)]) == 1


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


def test_the_docs_list_every_stated_tolerance():
    from pathlib import Path

    docs = (Path(__file__).parents[2] / "docs" / "reproducing.md").read_text()
    for pattern, _ in cr.TOLERANCES:
        assert f"`{pattern}`" in docs, f"docs/reproducing.md does not list the tolerance of {pattern}"


def test_outliers_allow_a_share_of_numbers_beyond_and_ignored_columns_are_not_compared(tmp_path):
    loose = cr.Tolerance(relative=0.05, outliers=0.25, reason="chaotic fits")
    old = "a,1.0\nb,2.0\nc,3.0\nd,4.0\n"
    assert cr.compare_text(old, "a,1.0\nb,2.0\nc,3.0\nd,9.0\n", loose)[0] == "within tolerance"  # 1 of 4
    status, detail = cr.compare_text(old, "a,1.0\nb,2.0\nc,7.0\nd,9.0\n", loose)  # 2 of 4
    assert status == "differs" and "2 of 4 numbers beyond (50.0%)" in detail
    assert cr.compare_text(old, "a,1.0\nb,2.0\nc,3.0\ne,4.0\n", loose)[0] == "differs"  # text never passes
    timed = cr.Tolerance(ignore_columns=("seconds",), reason="wall clock")
    (tmp_path / "a.csv").write_text('name,"x, y",seconds\n"p, q",1.5,0.31\n')
    (tmp_path / "b.csv").write_text('name,"x, y",seconds\n"p, q",1.5,0.52\n')
    assert cr.compare_file(tmp_path / "a.csv", tmp_path / "b.csv", timed)[0] == "same"
    assert cr.compare_file(tmp_path / "a.csv", tmp_path / "b.csv")[0] == "differs"
    assert cr.drop_columns('name,"x, y",seconds\n"p, q",1.5,0.31\n', ("seconds",)) == 'name,"x, y"\n"p, q",1.5\n'
    with pytest.raises(ValueError, match="outliers"):
        cr.Tolerance(outliers=2.0, reason="x")
    with pytest.raises(ValueError, match="ignore_columns"):
        cr.Tolerance(ignore_columns="seconds", reason="x")
