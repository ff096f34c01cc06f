"""The benchmark suite (``benchmarks/run_all.py``, ``make bench``) in quick mode: it runs, its
results file has every section with the expected structure, the compared values agree, the ratios
are positive finite numbers, and ``report.py`` renders every section. Nothing here asserts on speed.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `benchmarks` is a package at the repository root
    sys.path.insert(0, str(ROOT))

from benchmarks import report, run_all  # noqa: E402
from benchmarks.bench_train_step import PAPER_STEPS, previous_groups  # noqa: E402


def positive_finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory, one_torch_thread):
    """One quick run of every section into a temporary folder."""
    out = tmp_path_factory.mktemp("bench") / "results.json"
    # a key written by another tool (bench_wasserstein.py's own) must survive the merge
    out.write_text(
        json.dumps(
            {
                "wasserstein_1d": {
                    "what": "legacy",
                    "cases": {
                        "rows=1024 bins=257 p=2 cut": {
                            "sot-loss": {"ms": 30.0, "max_abs_diff_vs_sot_loss": 0.0, "speedup_vs_sot_loss": 1.0},
                            "ours_compiled": {"ms": 3.0, "max_abs_diff_vs_sot_loss": 1e-6, "speedup_vs_sot_loss": 10.0},
                        }
                    },
                }
            }
        )
    )
    returned = run_all.main(["--quick", "--out", str(out)])
    return {"out": out, "returned": returned, "results": json.loads(out.read_text())}


def comparison_records(section: dict):
    for title, cases in section.get("tables", {}).items():
        for case, record in cases.items():
            yield f"{title} / {case}", record


def check_record(name: str, record: dict) -> None:
    assert record["baseline"] in record["candidates"], name
    assert record["agree"] is True, f"{name}: values disagree: {record}"
    assert len(record["candidates"]) >= 2, name
    for candidate, entry in record["candidates"].items():
        assert positive_finite(entry["ms"]), (name, candidate, entry)
        assert positive_finite(entry["speedup"]), (name, candidate, entry)
        assert math.isfinite(entry["rel_diff"]) and 0 <= entry["rel_diff"] <= record["rtol"], (name, candidate, entry)
    assert record["candidates"][record["baseline"]]["speedup"] == pytest.approx(1.0)


def test_every_section_is_recorded(quick_run):
    results = quick_run["results"]
    assert results == quick_run["returned"]
    assert set(run_all.SECTIONS) <= set(results)
    assert "wasserstein_1d" in results, "a key no section writes was dropped"
    for name in ("wasserstein", "mss", "train_step", "scaling"):
        meta = results[name]["meta"]
        assert meta["quick"] is True and meta["repeats"] >= 1 and meta["timestamp"]
        machine = meta["machine"]
        assert machine["cpu_threads"] == 1 and machine["torch"] == torch.__version__ and machine["device_name"]
    if torch.cuda.is_available():
        assert results["gpu"]["tables"]
    else:
        assert results["gpu"]["skipped"] == "no CUDA device"
    ensemble = results["ensemble"]
    assert ensemble["meta"]["machine"]["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    assert set(ensemble["tables"]["one step of E runs"]) == {"E=1", "E=2"}
    protocol = ensemble["protocol"]
    assert all(positive_finite(protocol[key]) for key in ("hours_at_best_rate", "validation_hours", "total_hours"))
    assert protocol["total_hours"] == pytest.approx(
        protocol["hours_at_best_rate"] + protocol["validation_hours"], abs=0.011
    )
    # 35 runs x 100 validations at the ensemble's per-run rate, scaled from 64 to 800 examples
    validation = ensemble["tables"]["one validation of E=2 runs"]["64 examples"]
    per_run_ms = validation["candidates"]["ensemble"]["ms"] / 2 * 800 / 64
    assert protocol["validation_hours"] == pytest.approx(3500 * per_run_ms / 3.6e6, rel=0.02, abs=0.006)


def test_comparisons_agree_and_ratios_are_positive(quick_run):
    results = quick_run["results"]
    expected_tables = {"wasserstein": 2, "mss": 1, "train_step": 1, "ensemble": 3}
    for name, n_tables in expected_tables.items():
        assert len(results[name]["tables"]) == n_tables, name
        records = list(comparison_records(results[name]))
        assert records, name
        for record_name, record in records:
            check_record(f"{name}: {record_name}", record)
    w_cases = next(iter(results["wasserstein"]["tables"].values()))
    assert len(w_cases) == 4  # p 1 and 2, with and without the cutoff
    assert any("POT" in r["candidates"] for r in w_cases.values())
    assert set(results["mss"]["tables"][next(iter(results["mss"]["tables"]))]) == {"MSS-Lin", "MSS-LogLin"}
    steps = results["train_step"]["tables"]["one Adam step"]
    assert set(steps) == set(run_all.QUICK_GROUPS)
    for record in steps.values():
        for candidate, entry in record["candidates"].items():
            assert record["runs_per_hour"][candidate] == pytest.approx(3600e3 / (entry["ms"] * PAPER_STEPS), rel=1e-2)
    stages = results["ensemble"]["profile_E=2_ms"]
    assert len(stages) == 6 and all(positive_finite(v) for v in stages.values())
    profile = results["train_step"]["profile_ours_SOT-2048_ms"]
    assert profile and all(positive_finite(v) for v in profile.values())


def test_explorer_latency_section(quick_run):
    from benchmarks.bench_explorer import TABLE, TARGETS_MS

    rows = quick_run["results"]["explorer"]["latency"][TABLE]
    assert set(TARGETS_MS) <= set(rows)
    assert any(view.startswith("landscape: candidate") for view in rows)
    for view, row in rows.items():
        assert row["n"] >= 1 and 0 < row["p50"] <= row["p95"] <= row["max"], (view, row)
        if view in TARGETS_MS:
            assert row["target_p95"] == TARGETS_MS[view] and row["meets_target"] == (row["p95"] < row["target_p95"])
    assert "| view | repeats | p50 (ms) | p95 (ms) |" in quick_run["out"].with_suffix(".md").read_text()


def test_latency_percentiles_worked_example():
    from benchmarks.bench_explorer import percentiles

    row = percentiles([s / 1e3 for s in range(1, 21)], target_ms=19.0)  # 1..20 ms
    # numpy's linear percentiles: rank (n - 1) q, between the sorted values
    assert row == {"n": 20, "p50": 10.5, "p95": 19.1, "max": 20.0, "target_p95": 19.0, "meets_target": False}


def test_scaling_series_and_plot(quick_run):
    scaling = quick_run["results"]["scaling"]
    assert set(scaling["series"]) == {"SOT loss fwd+bwd vs batch", "SOT loss fwd+bwd vs n_fft", "train step vs batch"}
    for title, s in scaling["series"].items():
        assert len(s["x"]) >= 2, title
        for candidate, ms in s["ms"].items():
            assert len(ms) == len(s["x"]) and all(positive_finite(v) for v in ms), (title, candidate)
            assert math.isfinite(s["exponent"][candidate]), (title, candidate)
        if "agree" in s:
            assert s["agree"] is True, title
    for name in scaling["plots"]:
        assert (quick_run["out"].parent / name).stat().st_size > 0, name
    assert {"scaling.png", "scaling.pdf"} == set(scaling["plots"])


def test_report_renders_every_section(quick_run, tmp_path):
    markdown = quick_run["out"].with_suffix(".md").read_text()
    for name in [*run_all.SECTIONS, "wasserstein_1d"]:
        assert f"(`{name}`)" in markdown, name
    assert markdown.count("|---|") >= 7  # W, SOT loss, MSS, train step, profile, 3 scaling series
    assert "speed-up" in markdown and "values agree" in markdown
    # every comparison agrees; a latency target missed on a loaded machine is a timing, not a failure
    from benchmarks.bench_explorer import TARGETS_MS

    latency_rows = tuple(f"| {view} |" for view in TARGETS_MS)
    disagreeing = [line for line in markdown.splitlines() if "**NO**" in line and not line.startswith(latency_rows)]
    assert not disagreeing, disagreeing
    assert "no CUDA device" in markdown or torch.cuda.is_available()
    # report.py alone gives the same document
    out = tmp_path / "again.md"
    report.main(["--results", str(quick_run["out"]), "--out", str(out)])
    assert out.read_text() == markdown


def test_sections_not_run_keep_their_values(quick_run, tmp_path, one_torch_thread):
    out = tmp_path / "results.json"
    out.write_text(quick_run["out"].read_text())
    before = json.loads(out.read_text())
    after = run_all.main(["--quick", "--only", "gpu", "--device", "cpu", "--out", str(out)])
    assert after["gpu"]["skipped"] in ("no CUDA device", "--device cpu")
    for name in ("wasserstein", "mss", "train_step", "scaling", "ensemble", "wasserstein_1d"):
        assert after[name] == before[name], name
    assert json.loads(out.read_text()) == after


def test_gpu_tables_code_path_on_cpu(one_torch_thread):
    """The gpu section's comparisons on whatever device there is (the CPU here)."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tables = run_all.device_tables(run_all.Context(quick=True, repeats=1, groups=("MSS-Lin",)), device)
    assert len(tables) == 4
    for title, cases in tables.items():
        assert cases, title
        for case, record in cases.items():
            check_record(f"{title} / {case}", record)
    steps = next(cases for title, cases in tables.items() if title.startswith("train step"))
    assert all(positive_finite(v) for v in steps["MSS-Lin"]["runs_per_hour"].values())


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--only", "bogus"], "invalid choice: 'bogus'"),
        (["--device", "tpu"], "invalid choice: 'tpu'"),
        (["--repeats", "0"], "positive integer"),
        (["--groups", "SOT-9999"], "invalid choice: 'SOT-9999'"),
    ],
)
def test_bad_arguments_are_argparse_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_all.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is available")
def test_cuda_without_a_device_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_all.main(["--device", "cuda", "--only", "gpu"])
    assert exit_info.value.code == 2
    assert "no CUDA device" in capsys.readouterr().err


def test_runs_as_a_script_from_the_repository_root():
    """``python benchmarks/run_all.py`` finds the ``benchmarks`` package (it gets as far as argparse)."""
    done = subprocess.run(
        [sys.executable, "benchmarks/run_all.py", "--only", "nothing"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "invalid choice: 'nothing'" in done.stderr


def test_train_step_results_of_the_earlier_layout_are_kept():
    legacy = {
        "groups": {
            "MSS-Lin": {
                "reference_layout_s": 2.4,
                "ours_s": 0.8,
                "speedup": 3.0,
                "loss_ours": 2.57,
                "loss_reference_layout": 2.5701,
            }
        }
    }
    groups = previous_groups(legacy, 64, "cpu")
    check_record("legacy MSS-Lin", groups["MSS-Lin"])
    assert groups["MSS-Lin"]["candidates"]["ours"]["ms"] == pytest.approx(800)
    assert previous_groups(legacy, 8, "cpu") == {}
