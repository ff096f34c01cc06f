"""Render the benchmark results (``results.json``) as markdown tables (``results.md``).

One heading per section, one table per comparison (times in ms, speed-ups over the baseline,
largest relative difference of the values, whether they agree), one per scaling series (times and
log-log slopes), and a key/value table for anything else (profiles, sections of other shapes).

Usage: ``python -m benchmarks.report [--results benchmarks/results.json] [--out benchmarks/results.md]``
(``run_all`` calls :func:`render` itself after every run).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

SECTION_ORDER = ("wasserstein", "mss", "train_step", "scaling", "gpu", "ensemble", "explorer")
TITLES = {
    "wasserstein": "W_p and the SOT loss",
    "mss": "Multi-scale spectral loss",
    "train_step": "Training step",
    "scaling": "Scaling",
    "gpu": "GPU",
    "ensemble": "Ensemble",
    "explorer": "Explorer pages: latency",
    "wasserstein_1d": "W_p (bench_wasserstein.py run alone)",
}
DASH = "–"


def fmt_ms(x) -> str:
    if not isinstance(x, (int, float)) or not math.isfinite(x):
        return DASH
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}" if x >= 0.1 else f"{x:.3g}"


def fmt_num(x) -> str:
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        return f"{x:.4g}" if math.isfinite(x) else str(x)
    return DASH if x is None else str(x).replace("|", "\\|").replace("\n", " ")


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def comparison_table(title: str, cases: dict) -> str:
    """Rows: cases; columns: the baseline's ms, each other candidate's ms and speed-up over the
    baseline, runs per hour where recorded, the largest relative (and absolute, where recorded)
    difference of the values, and whether they agree."""
    records = {name: r for name, r in cases.items() if isinstance(r, dict) and "candidates" in r}
    if not records:
        return f"**{title}**: no cases\n"
    baseline = next(iter(records.values()))["baseline"]
    names = [baseline]
    for r in records.values():
        names += [n for n in r["candidates"] if n not in names]
    others = [n for n in names if n != baseline]
    has_rel = any("rel_diff" in c for r in records.values() for c in r["candidates"].values())
    has_abs = any("max_abs_diff" in c for r in records.values() for c in r["candidates"].values())
    has_agree = any("agree" in r for r in records.values())
    runs = [n for n in names if any(n in r.get("runs_per_hour", {}) for r in records.values())]
    header = ["case", f"{baseline} (ms)"]
    for n in others:
        header += [f"{n} (ms)", f"{n} speed-up"]
    header += [f"{n} runs/h" for n in runs]
    header += ["max rel. diff"] * has_rel + ["max abs. diff"] * has_abs + ["values agree"] * has_agree
    rows = []
    for case, r in records.items():
        c = r["candidates"]
        row = [case, fmt_ms(c[baseline]["ms"]) if baseline in c else DASH]
        for n in others:
            row.append(fmt_ms(c[n]["ms"]) if n in c else DASH)
            speedup = c.get(n, {}).get("speedup")
            row.append(f"×{speedup:.2f}" if isinstance(speedup, (int, float)) else DASH)
        row += [fmt_num(r.get("runs_per_hour", {}).get(n)) for n in runs]
        if has_rel:
            rel = [x["rel_diff"] for x in c.values() if "rel_diff" in x]
            row.append(f"{max(rel):.1e}" if rel else DASH)
        if has_abs:
            ab = [x["max_abs_diff"] for x in c.values() if "max_abs_diff" in x]
            row.append(f"{max(ab):.1e}" if ab else DASH)
        if has_agree:
            row.append(
                DASH if "agree" not in r else f"{'yes' if r['agree'] else '**NO**'} (rtol {r.get('rtol', DASH)})"
            )
        rows.append(row)
    return f"**{title}** (baseline: {baseline})\n\n" + table(header, rows)


def series_table(title: str, s: dict) -> str:
    """Rows: sizes; columns: each candidate's ms and the others' speed-up over the first; last row: slopes."""
    names = list(s["ms"])
    header = [s.get("x_name", "x"), f"{names[0]} (ms)"]
    for n in names[1:]:
        header += [f"{n} (ms)", f"{n} speed-up"]
    rows = []
    for i, x in enumerate(s["x"]):
        row = [fmt_num(x), fmt_ms(s["ms"][names[0]][i])]
        for n in names[1:]:
            row += [fmt_ms(s["ms"][n][i]), f"×{s['ms'][names[0]][i] / s['ms'][n][i]:.2f}" if s["ms"][n][i] else DASH]
        rows.append(row)
    slopes = ["log-log slope", fmt_num(s.get("exponent", {}).get(names[0]))]
    for n in names[1:]:
        slopes += [fmt_num(s.get("exponent", {}).get(n)), ""]
    rows.append(slopes)
    note = f" ({s['fixed']})" if s.get("fixed") else ""
    if "agree" in s:
        agree = "yes" if s["agree"] else "**NO**"
        note += f"; values agree: {agree} (max rel. diff {s.get('max_rel_diff', float('nan')):.1e})"
    return f"**{title}**{note}\n\n" + table(header, rows)


def flatten(value, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        items = []
        for k, v in value.items():
            items += flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return items
    if isinstance(value, list) and len(value) > 8:
        return [(prefix, f"[{len(value)} values]")]
    return [(prefix, fmt_num(value) if not isinstance(value, list) else ", ".join(fmt_num(v) for v in value))]


def kv_table(title: str, mapping: dict) -> str:
    rows = [[k, v] for k, v in flatten(mapping)]
    return f"**{title}**\n\n" + table(["key", "value"], rows or [[DASH, DASH]])


def meta_line(meta: dict) -> str:
    if not meta:
        return ""
    m = meta.get("machine", {})
    parts = [
        f"measured {meta['timestamp']}" if meta.get("timestamp") else None,
        f"{m.get('cpu_threads')} CPU threads of {m.get('cpu_count')} ({m.get('cpu')})" if m else None,
        f"device {m.get('device_name')}" if m.get("device", "cpu") != "cpu" else None,
        f"load average {m.get('load_average_1min')}" if m.get("load_average_1min") is not None else None,
        f"torch {m.get('torch')}" if m else None,
        f"repeats {meta.get('repeats')}" if meta.get("repeats") else None,
        f"section took {meta.get('section_seconds')} s" if meta.get("section_seconds") is not None else None,
        "**quick mode: tiny shapes, the numbers mean nothing**" if meta.get("quick") else None,
    ]
    return "_" + "; ".join(p for p in parts if p) + "_\n"


def legacy_wasserstein(data: dict) -> dict:
    """``bench_wasserstein.py``'s own key (``wasserstein_1d``): cases as comparison records."""
    cases = {}
    for case, entries in data.get("cases", {}).items():
        candidates = {}
        for name, e in entries.items():
            c = {"ms": e.get("ms"), "speedup": e.get("speedup_vs_sot_loss")}
            diff = next((v for k, v in e.items() if k.startswith("max_abs_diff")), None)
            if diff is not None:
                c["max_abs_diff"] = diff
            candidates[name] = c
        cases[case] = {"baseline": "sot-loss", "candidates": candidates}
    return cases


def legacy_train_step(data: dict) -> dict:
    """``train_step`` as the earlier ``bench_train_step.py`` stored it (``groups`` in seconds):
    as comparison records (the losses of the two layouts checked with the same 1 % tolerance)."""
    cases = {}
    for group, e in data.get("groups", {}).items():
        ref, ours = e.get("loss_reference_layout"), e.get("loss_ours")
        rel = (
            abs(ours - ref) / max(abs(ref), 1e-30)
            if isinstance(ref, (int, float)) and isinstance(ours, (int, float))
            else None
        )
        candidates = {
            "reference layout": {"ms": e["reference_layout_s"] * 1e3, "speedup": 1.0},
            "ours": {"ms": e["ours_s"] * 1e3, "speedup": e["reference_layout_s"] / e["ours_s"]},
        }
        record = {"baseline": "reference layout", "candidates": candidates}
        if rel is not None:
            candidates["reference layout"]["rel_diff"], candidates["ours"]["rel_diff"] = 0.0, rel
            record.update(rtol=1e-2, agree=rel <= 1e-2)
        cases[group] = record
    return cases


def latency_table(title: str, rows: dict) -> str:
    """Rows: views; columns: repeats, p50, p95 and the largest time (ms), the p95 target and whether it is met."""
    header = ["view", "repeats", "p50 (ms)", "p95 (ms)", "max (ms)", "p95 target (ms)", "meets it"]
    body = []
    for view, r in rows.items():
        meets = DASH if "meets_target" not in r else ("yes" if r["meets_target"] else "**NO**")
        body.append(
            [view, fmt_num(r.get("n")), fmt_ms(r.get("p50")), fmt_ms(r.get("p95")), fmt_ms(r.get("max"))]
            + [fmt_ms(r.get("target_p95")) if "target_p95" in r else DASH, meets]
        )
    return f"**{title}**\n\n" + table(header, body)


def render_section(name: str, data) -> str:
    out = [f"## {TITLES.get(name, name)} (`{name}`)\n"]
    if not isinstance(data, dict):
        return out[0] + "\n" + fmt_num(data) + "\n"
    if "skipped" in data:
        out.append(f"Skipped: {data['skipped']}.\n")
        return "\n".join(out)
    if data.get("what"):
        out.append(data["what"] + "\n")
    if data.get("meta"):
        out.append(meta_line(data["meta"]))
    if name == "wasserstein_1d":
        out.append(comparison_table(data.get("what", "W_p"), legacy_wasserstein(data)))
        return "\n".join(out)
    if name == "train_step" and "groups" in data and "tables" not in data:  # the earlier layout
        data = {**data, "tables": {"one Adam step": legacy_train_step(data)}}
        data.pop("groups")
    rest = {k: v for k, v in data.items() if k not in ("what", "meta", "tables", "series", "plots", "latency")}
    for title, cases in data.get("tables", {}).items():
        out.append(comparison_table(title, cases))
    for title, s in data.get("series", {}).items():
        out.append(series_table(title, s))
    for title, rows in data.get("latency", {}).items():
        out.append(latency_table(title, rows))
    if data.get("plots"):
        out.append("Plot: " + ", ".join(f"[{p}]({p})" for p in data["plots"]) + "\n")
    scalars = {k: v for k, v in rest.items() if not isinstance(v, dict)}
    if scalars:
        out.append(kv_table("details", scalars))
    for key, value in rest.items():
        if isinstance(value, dict):
            out.append(kv_table(key, value))
    return "\n".join(out)


def render(results: dict) -> str:
    """The whole markdown document: the suite's sections in order, then any other keys."""
    names = [s for s in SECTION_ORDER if s in results] + [k for k in results if k not in SECTION_ORDER]
    parts = [
        "# Benchmarks\n",
        "Written by `benchmarks/report.py` from `results.json` (`make bench`, or `python -m benchmarks.run_all`). "
        "Times are medians in ms; a speed-up is the baseline's time over the candidate's; the values of every "
        "comparison are checked against the baseline's (relative difference, tolerance `rtol`).\n",
    ]
    parts += [render_section(name, results[name]) for name in names]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> None:
    default = Path(__file__).resolve().with_name("results.json")
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=default, help="results JSON (default: benchmarks/results.json)")
    parser.add_argument("--out", type=Path, help="markdown file (default: the results file with .md)")
    args = parser.parse_args(argv)
    if not args.results.exists():
        parser.error(f"{args.results} does not exist; run `make bench` (python -m benchmarks.run_all) first")
    try:
        results = json.loads(args.results.read_text())
    except json.JSONDecodeError as error:
        parser.error(f"{args.results} is not valid JSON: {error}")
    out = args.out or args.results.with_suffix(".md")
    out.write_text(render(results))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
