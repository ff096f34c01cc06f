"""The "What this shows" sections of notebooks 05 and 06, written from their computed tables.

Each function turns a notebook's own results into markdown bullets, so that the conclusions a
reader sees are always those of the numbers above them (they cannot drift from the data when the
notebook is rerun). The thresholds that name a behaviour are module constants.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["COLLAPSE_SHARE", "LEARNED_RPA", "peer_findings", "results_findings"]

LEARNED_RPA = 50.0
"""A run "learned pitch" if its test RPA is at least this (%)."""

NEVER_RPA = 15.0
"""A group "does not learn pitch" if no seed reaches this test RPA (%)."""

COLLAPSE_SHARE = 0.5
"""A run "collapsed onto one partial" if one partial k >= 4 carries at least this share of its
rendered energy while its RPA stays under 5 %."""


def _seeds(frame: pd.DataFrame, column: str = "rpa") -> str:
    return ", ".join(f"{value:.1f}" for value in frame.sort_values("seed")[column])


def results_findings(
    per_run: pd.DataFrame,
    pairs: pd.DataFrame,
    by_partials: dict[str, pd.DataFrame],
    claim: tuple[str, str] = ("SOT-2048", "MSS-Lin"),
) -> list[str]:
    """Notebook 05's conclusions.

    Args:
        per_run: :func:`sot_utils.training.evaluate.evaluate_runs` at the budget (``group``,
            ``seed``, ``rpa``, ``rca``, ``lsd``, ``dominant_harmonic``, ``dominant_share``).
        pairs: :func:`sot_utils.study.campaign.pairwise_table` of ``per_run``'s RPA.
        by_partials: run label (``"<group> seed <seed>, ..."``) -> accuracy by partial count.
        claim: the paper's claim, (the loss said to learn, the loss said to fail).
    """
    lines = []
    a, b = claim
    runs_a, runs_b = per_run[per_run["group"] == a], per_run[per_run["group"] == b]
    row = pairs[(pairs["group_a"] == a) & (pairs["group_b"] == b)]
    sign = 1.0
    if row.empty:
        row, sign = pairs[(pairs["group_a"] == b) & (pairs["group_b"] == a)], -1.0
    if len(runs_a) and len(runs_b) and not row.empty:
        stats = row.iloc[0]
        mean = sign * stats["mean"]
        low, high = sorted((sign * stats["ci_low"], sign * stats["ci_high"]))
        if runs_a["rpa"].mean() > runs_b["rpa"].mean() and stats["sign_flip_p"] < 0.05:
            verdict = "**supported**"
        elif runs_a["rpa"].mean() <= runs_b["rpa"].mean():
            verdict = f"**not reproduced** ({b} has the higher mean)"
        else:
            verdict = "**not shown** (the difference is within the seed lottery)"
        needed = (
            ""
            if np.isnan(stats["seeds_needed"])
            else (
                f"; a paired t-test would need **{int(stats['seeds_needed'])} seeds** to detect a difference this "
                "size at 80 % power"
            )
        )
        lines.append(
            f"- **The paper's claim** ({a} learns pitch where {b} fails): {verdict}. Test RPA {a} "
            f"{runs_a['rpa'].mean():.1f} % (seeds {_seeds(runs_a)}), {b} {runs_b['rpa'].mean():.1f} % (seeds "
            f"{_seeds(runs_b)}). Seed by seed, {a} minus {b} is {mean:+.1f} points on average (bootstrap interval "
            f"{low:+.1f} to {high:+.1f}); exact sign-flip p = {stats['sign_flip_p']:.2f} (with {int(stats['n'])} "
            f"seeds it cannot go below {stats['min_sign_flip_p']:.2f}){needed}."
        )
    means = per_run.groupby("group")["rpa"].agg(["mean", "median", "max"])
    lines.append(
        f"- **Best group by mean test RPA: {means['mean'].idxmax()}** ({means['mean'].max():.1f} %), by "
        f"median {means['median'].idxmax()} ({means['median'].max():.1f} %); the means span "
        f"{means['mean'].min():.1f}-{means['mean'].max():.1f} %."
    )
    best = per_run.loc[per_run["rpa"].idxmax()]
    sot = per_run[per_run["group"].str.startswith("SOT")]
    line = f"- **Best run: {best['group']} seed {best['seed']}**, {best['rpa']:.1f} % RPA, LSD {best['lsd']:.1f} dB²"
    if len(sot):
        best_sot = sot.loc[sot["rpa"].idxmax()]
        line += f"; best SOT run {best_sot['group']} seed {best_sot['seed']}, {best_sot['rpa']:.1f} %"
    lines.append(line + ".")
    collapsed = per_run[
        (per_run["dominant_harmonic"] >= 4) & (per_run["dominant_share"] >= COLLAPSE_SHARE) & (per_run["rpa"] < 5)
    ]
    if len(collapsed):
        by_seed = collapsed.groupby("seed")["group"].apply(list)
        parts = [
            f"seed {seed} in {len(groups)} of {per_run['group'].nunique()} groups" for seed, groups in by_seed.items()
        ]
        partials = ", ".join(sorted({str(int(k)) for k in collapsed["dominant_harmonic"]}, key=int))
        lines.append(
            f"- **Collapse onto one high partial** (partial {partials} carrying at least "
            f"{COLLAPSE_SHARE:.0%} of the energy, RPA under 5 %): {'; '.join(parts)}."
        )
    never = means[means["max"] < NEVER_RPA].index.tolist()
    if never:
        lines.append(
            f"- **No seed learns pitch** (test RPA under {NEVER_RPA:.0f} % on every seed) with: {', '.join(never)}."
        )
    learned = []
    for label, table in by_partials.items():
        group = label.split(" seed ")[0]
        pure = table.loc[table["partials"] == 1, "rpa"]
        overall = per_run.loc[
            per_run["group"].eq(group) & per_run["seed"].eq(int(label.split(" seed ")[1].split(",")[0])), "rpa"
        ]
        if len(pure) and len(overall) and float(overall.iloc[0]) >= LEARNED_RPA:
            learned.append((group, label, float(pure.iloc[0])))
    if learned:
        sot_pure = [p for g, _, p in learned if g.startswith("SOT")]
        mss_pure = [p for g, _, p in learned if not g.startswith("SOT")]
        lines.append(
            f"- **Pure tones**: of the runs that learned pitch (RPA >= {LEARNED_RPA:.0f} %), the SOT runs hit "
            f"{', '.join(f'{p:.0f}' for p in sot_pure) or 'none'} % of the one-partial tones, the MSS runs "
            f"{', '.join(f'{p:.0f}' for p in mss_pure) or 'none'} %."
        )
    if len(pairs):
        significant = int((pairs["sign_flip_p"] < 0.05).sum())
        needed = pairs["seeds_needed"].dropna()
        median = f"; the median pair would need {needed.median():.0f} seeds" if len(needed) else ""
        lines.append(
            f"- **Statistics**: {significant} of {len(pairs)} pairs of groups differ at p < 0.05 by the exact "
            f"sign-flip test{median}."
        )
    return lines


def peer_findings(synthetic: pd.DataFrame, real: pd.DataFrame, robustness: pd.DataFrame | None = None) -> list[str]:
    """Notebook 06's conclusions on peers and real notes.

    Args:
        synthetic: :func:`sot_utils.study.robustness.evaluate_estimators` on the synthetic test split.
        real: the same on the real notes, with ``group`` (``"all"`` or a family).
        robustness: :func:`sot_utils.study.robustness.robustness_sweep`'s frame, or None.
    """
    lines = []
    overall = real[real["group"] == "all"].set_index("estimator")
    ours = [name for name in overall.index if "(seed" in name]
    peers = [name for name in overall.index if name not in ours]
    ours_sot = [name for name in ours if name.startswith("SOT")]
    if ours and peers:
        best_peer = overall.loc[peers, "rpa"].idxmax()
        best_ours = overall.loc[ours, "rpa"].idxmax()
        lines.append(
            f"- **Real notes**: the best peer, {best_peer}, scores {overall.loc[best_peer, 'rpa']:.1f} % RPA; "
            f"our best estimator, {best_ours}, {overall.loc[best_ours, 'rpa']:.1f} %"
            + (
                f"; the SOT runs {overall.loc[ours_sot, 'rpa'].min():.1f}-{overall.loc[ours_sot, 'rpa'].max():.1f} %"
                if ours_sot
                else ""
            )
            + "."
        )
        families = real[(real["group"] != "all") & real["estimator"].isin(ours_sot)]
        if len(families):
            worst = families.groupby("group")["rpa"].mean().sort_values()
            lines.append(
                f"- **Where the SOT runs fail on real notes**: {worst.index[0]} ({worst.iloc[0]:.0f} % on average), "
                f"{worst.index[1] if len(worst) > 1 else ''}"
                + (f" ({worst.iloc[1]:.0f} %)" if len(worst) > 1 else "")
                + f"; best on {worst.index[-1]} ({worst.iloc[-1]:.0f} %)."
            )
    synth = synthetic.set_index("estimator")
    if len(synth) and ours:
        fastest = synth.loc[[n for n in synth.index if n in ours], "seconds_per_example"].median()
        peer_times = synth.loc[[n for n in synth.index if n not in ours], "seconds_per_example"]
        lines.append(
            f"- **Speed**: our encoders take {1000 * fastest:.0f} ms per example with the CQT; the peers "
            + ", ".join(f"{name} {1000 * t:.0f} ms" for name, t in peer_times.items())
            + "."
        )
    if robustness is not None and len(robustness):
        white = robustness[(robustness["perturbation"] == "white noise")]
        if len(white):
            lowest = white["level"].min()
            at = white[white["level"] == lowest].set_index("estimator")["rpa"].sort_values(ascending=False)
            lines.append(
                f"- **White noise at {lowest:g} dB SNR**: " + ", ".join(f"{n} {v:.0f} %" for n, v in at.items()) + "."
            )
    return lines
