"""The report's scenario-discovery sections: PRIM boxes, outcome maps and threshold maps."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from sdnet.plotting.discovery import plot_outcome_map, plot_scenario_scatter, plot_threshold_map
from sdnet.plotting.indices import reliability
from sdnet.reports._context import ReportContext, _new_figure, _section, varied_columns
from sdnet.reports._document import (
    Block,
    Heading,
    Note,
    Paragraph,
    Section,
    TableBlock,
    figure_block,
)
from sdnet.reports._findings import (
    amount_threshold_findings,
    box_stats,
    prim_findings,
    threshold_findings,
)
from sdnet.reports._results import StudyResults


def _top_factors(ctx: ReportContext, box: pd.DataFrame, case: str | None) -> list[str]:
    """The two factors to plot: highest ST for 'sustained' (or any metric), else the box's."""
    sobol = ctx.results.analyses_of("sobol")
    factors = ctx.main_factors()
    available = set(varied_columns(factors)) if factors is not None else set()
    suffix = f"__{case}" if case else ""
    for key in (f"sustained{suffix}", f"persistence_after_push{suffix}", "sustained",
                "persistence_after_push", *sobol):
        if key in sobol and "ST" in sobol[key].columns:
            flags, _ = reliability(sobol[key])
            ranked = sobol[key][flags].sort_values("ST", ascending=False)["factor"]
            top = [str(f) for f in ranked if f in available][:2]
            if len(top) == 2:
                return top
    from_box = [str(f) for f in box.get("factor", []) if f in available]
    others = [c for c in sorted(available) if c not in from_box]
    return (from_box + others)[:2]


def _prim_metric(results: StudyResults) -> str:
    """The metric whose cases PRIM looked for.

    The spec's [analysis] prim.metric, by default "sustained"; a comparison of policies looks
    for where the first one wins, which only summary.json's keys name
    (``prim/<policy>_wins/<case>``).
    """
    analysis = results.spec.get("analysis", {})
    prim = analysis.get("prim") if isinstance(analysis, Mapping) else None
    if isinstance(prim, Mapping) and prim.get("metric"):
        return str(prim["metric"])
    prim_summary = results.summary.get("prim") if isinstance(results.summary, Mapping) else None
    if isinstance(prim_summary, Mapping):
        for key in prim_summary:
            parts = str(key).split("/")
            if len(parts) >= 3 and parts[1].endswith("_wins"):
                return parts[1]
    return "sustained"


def _outcome_labels(results: StudyResults, metric: str) -> np.ndarray | None:
    """Per row of metrics: the regime for 'sustained', else '<metric>' / 'not <metric>'."""
    if metric == "sustained" or results.metrics is None or metric not in results.metrics:
        return results.regime()
    values = pd.to_numeric(results.metrics[metric], errors="coerce").to_numpy(float)
    labels = np.where(values >= 0.5, metric, f"not {metric}")
    labels = np.where(np.isfinite(values), labels, "failed")
    ok = results.ok_mask()
    return labels if ok is None else np.where(ok, labels, "failed")


def _discovery(ctx: ReportContext) -> Section:
    title = (f"Where {ctx.word('system')} survives (scenario discovery)"
             if ctx.card.push is not None else "Scenario discovery")
    topic = title.removesuffix(" (scenario discovery)")
    results = ctx.results
    boxes = results.analyses_of("prim")
    if not boxes:
        return _section(title, [Note("the study ran no scenario discovery (no prim_ tables in "
                                     "analyses/).")])
    metric = _prim_metric(results)
    if metric == "sustained":
        outcome, short = f"sustained {ctx.word('system')}", f"sustain {ctx.word('system')}"
    elif metric.endswith("_wins"):
        policy = metric.removesuffix("_wins")
        outcome, short = f"saw the {policy} policy win", f"see the {policy} policy win"
        title = f"Where the {policy} policy wins (scenario discovery)"
    else:
        label = ctx.outcome_label(metric)
        outcome, short = f"met {label}", f"meet {label}"
    blocks: list[Block] = [Paragraph(
        f"PRIM searches for ranges of the factors inside which most runs {short}"
        + ". Density is the share of runs inside the box that do; coverage is the share of all "
        "runs that do which lie inside the box."
    )]
    regime = _outcome_labels(results, metric)
    main = results.main_mask()
    label = ctx.factor_label
    bounds = {label(k): v for k, v in ctx.bounds.items()}
    units = {label(k): v for k, v in ctx.units.items()}
    for name, box in boxes.items():
        trajectory = results.analyses.get(f"prim_{name}_trajectory")
        case_words = ctx.case_label(name)
        blocks.append(Heading(f"Box: {case_words}"))
        blocks.append(TableBlock(f"prim_{name}", ctx.labelled(box),
                                 f"PRIM box ({case_words}): factor ranges."))
        stats = box_stats(name, box, summary=results.summary, trajectory=trajectory)
        if stats is not None:
            blocks.append(TableBlock(
                f"prim_{name}_stats",
                pd.DataFrame([{**stats, "factors restricted": len(box)}]),
                f"Coverage, density and mass (share of all runs inside) of the box "
                f"({case_words}).",
            ))
        else:
            blocks.append(Note(f"the study did not record the coverage and density of the box "
                               f"({case_words}) (summary.json has no prim entry for it)."))
        ctx.add(prim_findings(case_words, ctx.labelled(box), stats, bounds=bounds,
                              units=units, outcome=outcome),
                topic=topic)
        if regime is None or main is None or results.metrics is None:
            blocks.append(Note("the runs' factors or regimes are missing, so no scatter."))
            continue
        if metric != "sustained" and metric not in results.metrics.columns:
            # colouring by another outcome than the box's would mislead
            blocks.append(Note(f"the per-run outcome '{metric}' is not in metrics.csv, so no "
                               "scatter."))
            continue
        rows = main & (regime != "failed")
        case = None
        if "case" in results.metrics.columns and \
                name in set(results.metrics["case"].astype(str)):
            case = name
            rows &= (results.metrics["case"].astype(str) == name).to_numpy()
        factors = results.factor_rows(rows)
        top = _top_factors(ctx, box, case)
        if factors is None or len(top) < 2 or not set(top) <= set(factors.columns):
            blocks.append(Note("fewer than two varied factors can be matched to the runs, so "
                               "no scatter."))
            continue
        figure = _new_figure(width=5.6, height=4.2)
        top = [label(t) for t in top]
        plot_scenario_scatter(factors.rename(columns=label), regime[rows], x=top[0], y=top[1],
                              box=ctx.labelled(box), units=units, ax=figure.add_subplot())
        blocks.append(figure_block(
            f"prim-{name}", figure,
            caption=f"Runs over the two most important factors ({top[0]}, {top[1]}), coloured "
            f"by {'regime' if metric == 'sustained' else ctx.short_label(metric)}, with the "
            f"PRIM box ({case_words}) dashed.",
            alt=f"Scatter of {top[0]} against {top[1]} coloured by regime with the PRIM box",
        ))
    return _section(title, blocks)


def _goal(ctx: ReportContext, metric: str) -> str:
    """What a threshold search's flag asks, with its definition (so a reader can tell a "keep
    alive" duration from a "sustain" one; QA F18), in the card's words."""
    system = ctx.word("system")
    members = ctx.word("members").removeprefix("the ")
    population = ctx.word("population").removeprefix("the ")
    schedule = ctx.word("schedule")
    alive = (f"at least max(3, 5% of {population}) {members} ten years after {schedule} ends")
    if metric == "sustained":
        return f"sustain {system} (persistence >= 0.6 and {alive})"
    if metric == "alive_after_push":
        return f"keep {system} alive ({alive})"
    return f"meet {metric}"


def _threshold_metric(results: StudyResults) -> str:
    """The metric the threshold search used (spec [analysis] thresholds.metric)."""
    analysis = results.spec.get("analysis", {})
    search = analysis.get("thresholds") if isinstance(analysis, Mapping) else None
    if isinstance(search, Mapping) and search.get("metric"):
        return str(search["metric"])
    return "alive_after_push"


def _push_columns(ctx: ReportContext) -> tuple[str, str]:
    """The constants the card's push amount and duration set (``("", "")`` without one)."""
    push = ctx.card.push
    if push is None:
        return "", ""
    return push.parameters["amount"], push.parameters["duration"]


def _outcome_maps(ctx: ReportContext, thresholds: pd.DataFrame | None) -> list[Block]:
    """Maps of the share of sustained runs over push amount x duration, one panel per case,
    when the study varied exactly those two on a grid."""
    results = ctx.results
    main = results.main_mask()
    if results.factors is None or results.metrics is None or main is None:
        return []
    plotted = results.factor_rows(main)
    # only the rows drawn count: a screened study varies the push in its Morris stage, not
    # in the Sobol' stage the map would show
    amount, duration = _push_columns(ctx)
    if plotted is None or not amount or not {amount, duration} <= set(varied_columns(plotted)):
        return []
    metric = _threshold_metric(results)
    if metric not in results.metrics:
        metric = next((m for m in ("sustained", "alive_after_push") if m in results.metrics),
                      "")
    if not metric:
        return []
    ok = results.ok_mask()
    rows_all = main if ok is None else main & ok
    cases = [("", rows_all)]
    if "case" in results.metrics.columns:
        names = results.metrics["case"].astype(str).to_numpy()
        found_cases = list(dict.fromkeys(names[rows_all]))
        if len(found_cases) > 1:
            cases = [(c, rows_all & (names == c)) for c in found_cases]
    ncols = min(3, len(cases))
    nrows = -(-len(cases) // ncols)
    figure = _new_figure(height=0.6 + 2.6 * nrows)
    axes = figure.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True).ravel()
    for ax, (case, rows) in zip(axes, cases, strict=False):
        factors = results.factor_rows(rows)
        if factors is None:
            return []
        outcome = pd.to_numeric(results.metrics.loc[rows, metric], errors="coerce")
        curve = None
        if thresholds is not None and "region" in thresholds.columns:
            match = thresholds[thresholds["region"].astype(str).str.replace("-", "_")
                               == case.replace("-", "_")]
            curve = match if not match.empty else None
        plot_outcome_map(factors[amount], factors[duration],
                         outcome.to_numpy(float), outcome_name=metric, units=ctx.units,
                         threshold=curve, colorbar=False, ax=ax)
        if case:
            ax.set_title(ctx.case_label(case), loc="left", fontsize=9)
    for ax in axes[len(cases):]:
        ax.set_visible(False)
    for i, ax in enumerate(axes[: len(cases)]):
        if i % ncols:
            ax.set_ylabel("")
        if i < len(cases) - ncols:
            ax.set_xlabel("")
    mesh = axes[0].collections[0]
    bar = figure.colorbar(mesh, ax=list(axes[: len(cases)]), pad=0.02)
    bar.set_label(f"share of runs {metric}", fontsize=8)
    return [figure_block(
        "outcome-map", figure,
        caption=f"Share of runs {metric} for each push amount and duration"
        + (", one panel per case" if len(cases) > 1 else "")
        + "; the black line is the bisected threshold where the study searched one.",
        alt=f"Map of the share of runs {metric} over push amount and push duration",
    )]


def _in_words(ctx: ReportContext, frame: pd.DataFrame) -> pd.DataFrame:
    """A threshold table with its regions in words ("embedded prone")."""
    if "region" not in frame.columns:
        return frame
    return frame.assign(region=frame["region"].map(lambda r: ctx.case_label(str(r))))


def _thresholds(ctx: ReportContext) -> Section | None:
    if ctx.card.push is None:
        return None  # a model without a push schedule has no push thresholds
    title = "How long a push must last (threshold maps)"
    frame = ctx.results.analyses.get("thresholds")
    if frame is not None:
        frame = frame.rename(columns={"bracket_low": "duration_lower",
                                      "bracket_high": "duration_upper"})
    maps = _outcome_maps(ctx, frame)
    if frame is None and not maps:
        return _section(title, [Note("the study searched no thresholds (no thresholds.csv in "
                                     "analyses/) and did not vary push amount and duration "
                                     "together.")])
    amount, duration = _push_columns(ctx)
    # a study folder without the model's units keeps the push's usual ones
    amount_units = ctx.units.get(amount, "$/Year")
    duration_units = ctx.units.get(duration, ctx.card.time_unit or "Year")
    metric = _threshold_metric(ctx.results)
    goal = _goal(ctx, metric)
    description = ctx.metric_description(metric)
    blocks: list[Block] = []
    if frame is not None:
        figure = _new_figure(height=3.6)
        plot_threshold_map(frame, amount_units=amount_units, duration_units=duration_units,
                           system=ctx.word("system"), ax=figure.add_subplot())
        found = threshold_findings(_in_words(ctx, frame), amount_units=amount_units,
                                   goal=goal)
        ctx.add(found, topic="How long a push must last")
        blocks += [
            Paragraph(f"For each region type and push amount, the shortest push duration that "
                      f"is enough to {goal} (found by bisection on {metric}"
                      + (f": {description}" if description else "") + ")."),
            figure_block("thresholds", figure,
                         caption="Threshold map: shortest sustaining push duration against "
                         "push amount, one line per region.",
                         alt="Threshold map of push duration against push amount per region"),
            TableBlock("thresholds", frame, "Thresholds per region and push amount."),
            *[Paragraph(f.text) for f in found],
        ]
    blocks += maps
    by_amount = ctx.results.analyses.get("thresholds_amount")
    if by_amount is not None:
        blocks.append(TableBlock("thresholds_amount", by_amount,
                                 "Smallest sustaining push amount per region and duration."))
        amount_found = amount_threshold_findings(_in_words(ctx, by_amount),
                                                 amount_units=amount_units,
                                                 goal=goal)
        ctx.add(amount_found, topic="How long a push must last")
        blocks += [Paragraph(f.text) for f in amount_found]
    return _section(title, blocks)
