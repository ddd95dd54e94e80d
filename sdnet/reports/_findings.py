"""Findings in plain language, written from the study's numbers.

Every sentence here is assembled from values read from the results folder (indices and their
confidence intervals, regime counts, PRIM boxes, thresholds); none is fixed text about the
model. Where the numbers are uncertain the sentence says so, and a caveat is added.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sdnet.plotting.indices import CAUTION_HALF_WIDTH, reliability
from sdnet.reports._document import fmt

__all__ = [
    "Finding",
    "amount_threshold_findings",
    "box_stats",
    "comparison_findings",
    "convergence_findings",
    "hysteresis_findings",
    "morris_findings",
    "prim_findings",
    "regime_findings",
    "sobol_findings",
    "threshold_findings",
    "time_resolved_findings",
    "unreliable_findings",
]


@dataclass(frozen=True)
class Finding:
    """One sentence for readers; ``caveat`` marks a warning about how sure it is, ``topic``
    groups findings (the metric they are about), ``headline`` puts it in the summary."""

    text: str
    caveat: bool = False
    topic: str = ""
    headline: bool = False


def _pct(x: float) -> str:
    if x < -0.005:
        return "about 0%"  # a negative share of variance is estimation noise
    if x > 1.005:
        return "about 100%"  # so is a share above the whole (within its interval)
    return f"{100 * x:.0f}%"


def _pm(x: float) -> str:
    return f"± {100 * x:.0f} points" if np.isfinite(x) else "no interval"


def regime_findings(regime: np.ndarray | None, ok: np.ndarray | None, *,
                    words: Mapping[str, str] | None = None) -> list[Finding]:
    """How many runs were sustained (for flexnet: sustained the network), and how many failed.

    ``words`` are the model card's (:data:`sdnet.card.NEUTRAL_WORDS` keys); neutral when
    omitted."""
    from sdnet.card import NEUTRAL_WORDS

    w = {**NEUTRAL_WORDS, **(words or {})}
    if regime is None:
        return []
    labels = np.asarray(regime).astype(str)
    usable = labels != "failed" if ok is None else (np.asarray(ok) & (labels != "failed"))
    n = int(usable.sum())
    found: list[Finding] = []
    if n:
        k = int(((labels == "sustained") & usable).sum())
        sustained = w["sustained"] if w["sustained"] != "sustained" else (
            f"sustained {w['system']}")
        found.append(Finding(
            f"Of the {n} runs that finished, {k} ({_pct(k / n)}) {sustained} ten "
            f"years after {w['schedule']} ended (persistence >= 0.6, i.e. it kept at least 60% "
            f"of its {w['members'].removeprefix('the ')}, and at least max(3, 5% of "
            f"{w['population'].removeprefix('the ')}) {w['members'].removeprefix('the ')}); "
            f"{n - k} ({_pct((n - k) / n)}) were not sustained (it shrank by more than 40% or "
            "fell below that size: not necessarily a collapse).",
            headline=True,
        ))
    failed = len(labels) - n
    if failed:
        found.append(Finding(
            f"{failed} of {len(labels)} runs failed (a value became non-finite) and are left "
            "out of every figure and index.", caveat=True,
        ))
    return found


def sobol_findings(
    metric: str, frame: pd.DataFrame, *, description: str | None = None,
    caution: float = CAUTION_HALF_WIDTH,
) -> list[Finding]:
    """What explains the variance of one metric (Sobol S1 and ST with their intervals)."""
    if frame.empty or not {"factor", "S1", "ST"} <= set(frame.columns):
        return []
    flags, problems = reliability(frame)
    found = unreliable_findings(metric, frame.assign(_problem=problems)[~flags])
    data = frame[flags].sort_values("ST", ascending=False).reset_index(drop=True)
    if data.empty:
        return found
    partial = not flags.all()  # shares of the unreliable factors are unknown
    conf_s1 = data["S1_conf"] if "S1_conf" in data.columns else pd.Series(np.nan, data.index)
    conf_st = data["ST_conf"] if "ST_conf" in data.columns else pd.Series(np.nan, data.index)
    what = f"{metric} ({description})" if description else metric
    top = data.iloc[0]
    found += [Finding(
        f"{top['factor']} explains {_pct(top['S1'])} ({_pm(conf_s1.iloc[0])}) of the variance "
        f"in {what} on its own, and {_pct(top['ST'])} ({_pm(conf_st.iloc[0])}) including its "
        "interactions with other factors.", headline=True,
    )]
    inverted = [str(r.factor) for r in data.itertuples()
                if r.S1 > r.ST + 0.05]
    if inverted:
        found.append(Finding(
            f"For {metric}, the first-order index of {', '.join(inverted)} exceeds the total "
            "index, which cannot hold for the true values: the sample is too small for these "
            "estimates.", caveat=True,
        ))
    if len(data) > 1:
        second = data.iloc[1]
        overlap = (
            np.isfinite(conf_st.iloc[0]) and np.isfinite(conf_st.iloc[1])
            and top["ST"] - conf_st.iloc[0] <= second["ST"] + conf_st.iloc[1]
        )
        found.append(Finding(
            f"Next comes {second['factor']}: {_pct(second['S1'])} ({_pm(conf_s1.iloc[1])}) "
            f"alone, {_pct(second['ST'])} ({_pm(conf_st.iloc[1])}) with interactions."
        ))
        if overlap:
            found.append(Finding(
                f"For {metric}, the total-effect intervals of {top['factor']} and "
                f"{second['factor']} overlap, so the study cannot say which matters more.",
                caveat=True,
            ))
    s1_sum = float(np.nansum(data["S1"].clip(lower=0)))
    if partial:
        pass  # a sum without the unreliable factors' shares would mislead
    elif s1_sum < 0.85:
        found.append(Finding(
            f"First-order effects add up to {_pct(s1_sum)} of the variance of {metric}: about "
            f"{_pct(max(0.0, 1 - s1_sum))} comes from factors acting together (interactions), "
            "so levers should be judged in combination, not one at a time."
        ))
    else:
        found.append(Finding(
            f"First-order effects add up to {_pct(min(s1_sum, 1.0))} of the variance of "
            f"{metric}: the factors act mostly on their own."
        ))
    negligible = [str(f) for f, st in zip(data["factor"], data["ST"], strict=True)
                  if st < 0.01]
    if negligible:
        found.append(Finding(
            f"{', '.join(negligible)} explain{'s' if len(negligible) == 1 else ''} less than "
            f"1% of the variance of {metric} even with interactions: "
            "they can be fixed at any value in their range."
        ))
    wide = [str(f) for f, c in zip(data["factor"].head(3), conf_st.head(3), strict=True)
            if np.isfinite(c) and c > caution]
    if wide:
        found.append(Finding(
            f"For {metric}, the intervals of {', '.join(wide)} are wider than "
            f"± {100 * caution:.0f} points: treat their ranking as provisional and rerun with "
            "a larger N.", caveat=True,
        ))
    return found


def unreliable_findings(metric: str, rows: pd.DataFrame) -> list[Finding]:
    """One caution naming the factors whose indices cannot be trusted, and why (column
    ``_problem``); their shares are neither quoted nor ranked."""
    if rows.empty:
        return []
    reasons = list(dict.fromkeys(str(p) for p in rows["_problem"]))
    names = ", ".join(str(f) for f in rows["factor"])
    if len(reasons) == 1:
        return [Finding(
            f"Unreliable: the variance-based indices of {names} for {metric} cannot be "
            f"trusted ({reasons[0]}); they are not ranked and no share of variance is quoted "
            "for them.", caveat=True,
        )]
    detail = "; ".join(f"{f}: {p}" for f, p in zip(rows["factor"], rows["_problem"],
                                                   strict=True))
    return [Finding(
        f"Unreliable: the variance-based indices of {names} for {metric} cannot be trusted "
        f"({detail}); they are not ranked and no share of variance is quoted for them.",
        caveat=True,
    )]


def morris_findings(metric: str, frame: pd.DataFrame, *, units: str | None) -> list[Finding]:
    """Morris screening: the most influential factors and which act non-linearly."""
    if frame.empty or not {"factor", "mu_star", "sigma"} <= set(frame.columns):
        return []
    data = frame.sort_values("mu_star", ascending=False).reset_index(drop=True)
    unit = f" {units}" if units and units != "dmnl" else ""
    ranked = ", ".join(
        f"{r.factor} (μ* = {fmt(r.mu_star)}{unit})" for r in data.head(3).itertuples()
    )
    found = [Finding(f"Screening (Morris) ranks the factors for {metric} as: {ranked}.")]
    nonlinear = [str(r.factor) for r in data.head(5).itertuples()
                 if r.mu_star > 0 and r.sigma > r.mu_star]
    if nonlinear:
        found.append(Finding(
            f"{', '.join(nonlinear)} {'has' if len(nonlinear) == 1 else 'have'} effects on "
            f"{metric} that vary more than their mean size (σ > μ*): "
            "non-linear, or dependent on other factors (for example a tipping threshold)."
        ))
    return found


def time_resolved_findings(
    metric: str, frame: pd.DataFrame, *, push: tuple[float, float] | None, index: str = "ST"
) -> list[Finding]:
    """Which factor dominates during the push and which after it."""
    if frame.empty or not {"time", "factor", index} <= set(frame.columns):
        return []
    table = frame.pivot_table(index="time", columns="factor", values=index, aggfunc="mean")
    if table.empty:
        return []
    leaders = table.idxmax(axis=1)
    if push is not None:
        during = table.loc[(table.index >= push[0]) & (table.index <= push[1])]
        after = table.loc[table.index > push[1]]
        parts = []
        if not during.empty:
            lead = during.mean().idxmax()
            parts.append(f"while the push runs, {lead} explains most of the variance of "
                         f"{metric} ({index} {_pct(during.mean().max())} on average)")
        if not after.empty:
            lead = after.mean().idxmax()
            parts.append(f"after it ends, {lead} does ({_pct(after.mean().max())})")
        if parts:
            return [Finding("Over time: " + "; ".join(parts) + ".")]
    changes = leaders[leaders != leaders.shift()]
    story = ", then ".join(f"{f} from year {fmt(t)}" for t, f in changes.items())
    return [Finding(f"The factor explaining most of the variance of {metric} changes over time: "
                    f"{story}.")]


def convergence_findings(
    metric: str, frame: pd.DataFrame, *, index: str = "ST", caution: float = CAUTION_HALF_WIDTH
) -> list[Finding]:
    """Whether the indices have settled at the study's largest N."""
    conf = f"{index}_conf"
    if frame.empty or not {"n", "factor", index, conf} <= set(frame.columns):
        return []
    n_max = frame["n"].max()
    last = frame[frame["n"] == n_max]
    flags, problems = reliability(last)
    if not flags.any():
        reasons = "; ".join(dict.fromkeys(problems))
        return [Finding(
            f"At N = {fmt(n_max)} the indices of {metric} are unreliable ({reasons}), so "
            "whether they have settled is not judged.", caveat=True,
        )]
    last = last[flags]
    widest = last.loc[last[conf].idxmax()]
    if widest[conf] > caution:
        return [Finding(
            f"At N = {fmt(n_max)} the {index} interval of {widest['factor']} for {metric} is "
            f"still ± {100 * widest[conf]:.0f} points (more than ± {100 * caution:.0f}): the "
            "indices have not converged; a larger N is needed before relying on the ranking.",
            caveat=True,
        )]
    return [Finding(
        f"At N = {fmt(n_max)} every {index} interval for {metric} is within "
        f"± {100 * float(last[conf].max()):.0f} points: the ranking has settled."
    )]


def _describe_range(
    factor: str, lower: float, upper: float, bounds: Mapping[str, tuple[float, float]],
    units: Mapping[str, str],
) -> str:
    unit = units.get(factor)
    u = f" {unit}" if unit and unit != "dmnl" else ""
    lo_bound, hi_bound = bounds.get(factor, (np.nan, np.nan))
    span = hi_bound - lo_bound if np.isfinite(hi_bound - lo_bound) else np.nan
    tol = 1e-6 * span if np.isfinite(span) and span > 0 else 0.0
    at_low = np.isfinite(lo_bound) and lower <= lo_bound + tol
    at_high = np.isfinite(hi_bound) and upper >= hi_bound - tol
    if at_low and not at_high:
        return f"{factor} at most {fmt(upper)}{u}"
    if at_high and not at_low:
        return f"{factor} at least {fmt(lower)}{u}"
    return f"{factor} between {fmt(lower)} and {fmt(upper)}{u}"


def prim_findings(
    name: str, box: pd.DataFrame, stats: Mapping[str, float] | None, *,
    bounds: Mapping[str, tuple[float, float]], units: Mapping[str, str],
    outcome: str = "sustained",
) -> list[Finding]:
    """The PRIM box in words, with its own density and coverage (see :func:`box_stats`).

    ``outcome`` is the case of interest as a verb phrase ("sustained the network", "met
    alive_after_push")."""
    if box.empty or not {"factor", "lower", "upper"} <= set(box.columns):
        return [Finding(f"Scenario discovery ({name}) found no box that restricts any factor.")]
    ranges = "; ".join(
        _describe_range(str(r.factor), float(r.lower), float(r.upper), bounds, units)
        for r in box.itertuples()
    )
    if stats is None:
        return [Finding(f"Scenario discovery ({name}): runs with {ranges} most often "
                        f"{outcome} (the study did not record the box's coverage and "
                        "density).")]
    return [Finding(
        f"Scenario discovery ({name}): {_pct(stats['density'])} of the runs with {ranges} "
        f"{outcome} (density); they hold {_pct(stats['coverage'])} of all runs that did "
        "(coverage).", headline=True,
    )]


def box_stats(
    name: str, box: pd.DataFrame, *, summary: Mapping[str, object],
    trajectory: pd.DataFrame | None,
) -> dict[str, float] | None:
    """Coverage, density (and mass) of the PRIM box ``prim_<name>.csv``, or None.

    The box's own numbers are in summary.json (``prim`` -> ``"prim/<metric>/<name>"``): the
    same the command line prints. The reported box is the chosen step of the peeling
    trajectory with the restrictions that barely matter dropped, so the chosen step's numbers
    (the trajectory's ``chosen`` row) are the box's only when nothing was dropped, i.e. when
    the step restricts as many factors as the box; otherwise there is nothing to quote.
    """
    entries = summary.get("prim") if isinstance(summary, Mapping) else None
    if isinstance(entries, Mapping):
        for key, entry in entries.items():
            if str(key).split("/")[-1] == name and isinstance(entry, Mapping) and \
                    entry.get("coverage") is not None and entry.get("density") is not None:
                found = {"coverage": float(entry["coverage"]),  # type: ignore[arg-type]
                         "density": float(entry["density"])}  # type: ignore[arg-type]
                if entry.get("mass") is not None:
                    found["mass"] = float(entry["mass"])  # type: ignore[arg-type]
                return found
    if trajectory is None or not {"coverage", "density", "chosen", "n_restricted"} <= set(
            trajectory.columns):
        return None
    chosen = trajectory[trajectory["chosen"].astype(str).str.lower().isin(("true", "1"))]
    if len(chosen) != 1 or int(chosen["n_restricted"].iloc[0]) != len(box):
        return None
    row = chosen.iloc[0]
    found = {"coverage": float(row["coverage"]), "density": float(row["density"])}
    if "mass" in row.index:
        found["mass"] = float(row["mass"])
    return found


def threshold_findings(
    frame: pd.DataFrame, *, amount_units: str = "$/Year", goal: str = "reach the outcome"
) -> list[Finding]:
    """For each region, how long a push must last at each amount to reach ``goal``."""
    if frame.empty or not {"region", "push_amount", "min_duration"} <= set(frame.columns):
        return []
    found = []
    for region, rows in frame.groupby("region", sort=False):
        rows = rows.sort_values("push_amount")
        finite = rows[np.isfinite(rows["min_duration"].to_numpy(float))]
        never = rows[~np.isfinite(rows["min_duration"].to_numpy(float))]
        parts = [
            f"{fmt(r.min_duration)} years at {fmt(r.push_amount)} {amount_units}"
            for r in finite.itertuples()
        ]
        text = (
            f"In the {region} region, to {goal}, the push must last at least "
            + ", ".join(parts)
            if parts else
            f"In the {region} region no push in the searched range was enough to {goal}"
        )
        if parts and not never.empty:
            text += (f"; at {', '.join(fmt(a) for a in never['push_amount'])} {amount_units} "
                     "no duration in the searched range sufficed")
        found.append(Finding(text + ".", headline=True))
    return found


def amount_threshold_findings(
    frame: pd.DataFrame, *, amount_units: str = "$/Year", goal: str = "reach the outcome"
) -> list[Finding]:
    """For each region, how large a push of each duration must be to reach ``goal``."""
    if frame.empty or not {"region", "push_duration", "min_amount"} <= set(frame.columns):
        return []
    found = []
    for region, rows in frame.groupby("region", sort=False):
        rows = rows.sort_values("push_duration")
        values = rows["min_amount"].to_numpy(float)
        parts = [f"{fmt(a)} {amount_units} for {fmt(d)} years"
                 for d, a in zip(rows["push_duration"], values, strict=True) if np.isfinite(a)]
        never = [fmt(d) for d, a in zip(rows["push_duration"], values, strict=True)
                 if not np.isfinite(a)]
        if parts:
            text = (f"In the {region} region, to {goal}, the push must be at least "
                    + ", ".join(parts))
            if never:
                text += (f"; lasting {', '.join(never)} years, no amount in the searched range "
                         "sufficed")
        else:
            text = (f"In the {region} region no push amount in the searched range was enough "
                    f"to {goal}")
        found.append(Finding(text + "."))
    return found


_STARTS = {
    "working": "from the full state of a working {system}",
    "early": "from an early, small state",
}


def hysteresis_findings(frame: pd.DataFrame, *, system: str = "the system",
                        members: str = "the main outcome") -> list[Finding]:
    """Whether a region keeps a working ``system`` without push, and loses one started early
    (``system``, ``members``: the card's words)."""
    bare = re.sub(r"^(the|a|an) ", "", system)
    needed = {"region", "start", "persists"}
    if frame.empty or not needed <= set(frame.columns):
        return []
    found = []
    for region, rows in frame.groupby("region", sort=False):
        parts = []
        for row in rows.itertuples():
            persists = str(row.persists).strip().lower() in ("true", "1", "1.0", "yes")
            ratio = getattr(row, "ratio", np.nan)
            detail = f" ({members} after 10 years: {_pct(float(ratio))} of the start)" \
                if np.isfinite(float(ratio)) else ""
            origin = _STARTS.get(str(row.start), f"from the {row.start} state").format(
                system=bare)
            parts.append(f"started {origin} "
                         f"{'persists' if persists else 'does not persist'} without push{detail}")
        found.append(Finding(f"In the {region} region, a {bare} " + "; ".join(parts) + "."))
    return found


def comparison_findings(frame: pd.DataFrame) -> list[Finding]:
    """Head-to-head wins of policies (same worlds, same cost) per region and metric."""
    wins = [c for c in frame.columns if str(c).endswith("_wins")]
    if frame.empty or len(wins) < 2 or not {"region", "metric"} <= set(frame.columns):
        return []
    found = []
    for row in frame.itertuples(index=False):
        data = row._asdict()
        counts = {str(c)[: -len("_wins")]: int(data[c]) for c in wins}
        ties = int(data.get("ties", 0) or 0)
        total = sum(counts.values()) + ties
        if total == 0:
            continue
        best = max(counts, key=counts.__getitem__)
        ranked = ", ".join(f"{p} in {n} ({_pct(n / total)})" for p, n in counts.items())
        found.append(Finding(
            f"In the {data['region']} region, on {data['metric']}, {best} does better most "
            f"often: wins {ranked}" + (f", ties {ties}" if ties else "") + f" of {total} worlds."
        ))
    return found
