"""The report's sensitivity sections: which levers matter, and whether the indices are
settled."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from sdnet.plotting.indices import (
    CAUTION_HALF_WIDTH,
    plot_convergence,
    plot_morris,
    plot_sobol,
    plot_time_resolved,
    reliability,
)
from sdnet.reports._context import ReportContext, _new_figure, _section, split_key
from sdnet.reports._document import (
    Block,
    Caution,
    Heading,
    Note,
    Paragraph,
    Section,
    TableBlock,
    figure_block,
)
from sdnet.reports._findings import (
    Finding,
    convergence_findings,
    morris_findings,
    sobol_findings,
    time_resolved_findings,
)
from sdnet.sensitivity.sobol import output_problem


def _levers(ctx: ReportContext) -> Section:
    title = "Which levers matter"
    results = ctx.results
    morris = results.analyses_of("morris")
    sobol = results.analyses_of("sobol")
    fast = results.analyses_of("fast")
    time_resolved = results.analyses_of("time_resolved")
    metrics = list(dict.fromkeys([*sobol, *morris, *fast, *time_resolved]))
    if not metrics:
        return _section(title, [Note("the study ran no sensitivity analysis (no morris_, "
                                     "sobol_, fast_ or time_resolved_ tables in analyses/).")])
    blocks: list[Block] = _screen_blocks(ctx)
    for key in metrics:
        metric = ctx.outcome_label(key)  # the card's plain name, in the text
        short = ctx.short_label(key)  # on the axes
        units = ctx.metric_units(key)
        blocks.append(Heading(metric[0].upper() + metric[1:]))
        if key in morris:
            frame = ctx.labelled(_usable(morris[key], ["mu_star", "sigma"]))
        if key in morris and frame.empty:
            blocks.append(Note(f"the Morris indices of {metric} could not be computed (every "
                               "value is missing)."))
        elif key in morris:
            figure = _new_figure(height=4.2)
            plot_morris(frame, metric=short, units=units, ax=figure.add_subplot())
            blocks.append(figure_block(
                f"morris-{key}", figure,
                caption=f"Morris screening of {metric}: factors to the right matter most; "
                "above the dashed line their effect is non-linear or interacts.",
                alt=f"Morris mu-star against sigma for {metric}",
            ))
            blocks.append(TableBlock(
                f"morris_{key}", frame.sort_values("mu_star", ascending=False),
                f"Morris indices of {metric}, largest μ* first.", display_rows=15,
            ))
            ctx.add(morris_findings(metric, frame, units=units), topic=metric)
        for kind, tables in (("sobol", sobol), ("fast", fast)):
            if key not in tables:
                continue
            frame = ctx.labelled(_flag_output(ctx, key, _usable(tables[key], ["S1", "ST"])))
            label = "Sobol" if kind == "sobol" else "FAST"
            if frame.empty:
                blocks.append(Note(f"the {label} indices of {metric} could not be computed "
                                   "(every value is missing)."))
                continue
            figure = _new_figure(height=min(9.0, 1.0 + 0.34 * len(frame)))
            plot_sobol(frame, metric=short, ax=figure.add_subplot())
            blocks.append(figure_block(
                f"{kind}-{key}", figure,
                caption=f"{label} indices of {metric} with confidence intervals: S1 is the "
                "share of variance a factor explains alone, ST including its interactions.",
                alt=f"{label} S1 and ST bars for {metric}",
            ))
            flags, problems = reliability(frame)
            ranked = frame.assign(_reliable=flags).sort_values(
                ["_reliable", "ST"], ascending=[False, False]).drop(columns="_reliable")
            blocks.append(TableBlock(
                f"{kind}_{key}", ranked,
                f"{label} indices of {metric}, largest ST first"
                + ("" if flags.all() else "; unreliable estimates last, not ranked") + ".",
                display_rows=15,
            ))
            if not flags.all():
                bad = [f"{f} ({p})" for f, p, ok in zip(frame["factor"], problems, flags,
                                                        strict=True) if not ok]
                reasons = list(dict.fromkeys(p for p, ok in zip(problems, flags,
                                                                strict=True) if not ok))
                blocks.append(Caution(
                    f"unreliable: the {label} indices of {metric} for "
                    + (", ".join(frame["factor"][~flags].astype(str)) + f" ({reasons[0]})"
                       if len(reasons) == 1 else "; ".join(bad))
                    + ". They are not ranked, and no share of variance is quoted for them."
                ))
            if kind == "sobol" or key not in sobol:
                ctx.add(sobol_findings(metric, frame), topic=metric)
            wide = _wide(frame[flags])
            if wide:
                blocks.append(Caution(
                    f"the intervals of {', '.join(wide)} for {metric} are wider than "
                    f"± {CAUTION_HALF_WIDTH:g}; their indices are uncertain."
                ))
        if key in time_resolved:
            index = "ST" if "ST" in time_resolved[key].columns else "S1"
            frame = ctx.labelled(_usable(time_resolved[key], [index]))
        if key in time_resolved and frame.empty:
            blocks.append(Note(f"the time-resolved indices of {metric} could not be computed "
                               "(every value is missing)."))
        elif key in time_resolved:
            n_factors = frame["factor"].nunique() if "factor" in frame.columns else 5
            figure = _new_figure(height=min(9.0, 1.3 + 0.3 * n_factors))
            plot_time_resolved(frame, index=index, metric=short, push=ctx.push,
                               ax=figure.add_subplot())
            blocks.append(figure_block(
                f"time-resolved-{key}", figure,
                caption=f"{index} of {metric} computed at each time: which factor explains "
                "the spread of runs at each moment.",
                alt=f"Heat map of time-resolved {index} for {metric}",
            ))
            ctx.add(time_resolved_findings(metric, frame, push=ctx.push, index=index),
                    topic=metric)
    return _section(title, blocks)


def _factors(count: object) -> str:
    """ "3 factors", "1 factor"."""
    return f"{count} factor{'' if count == 1 else 's'}"


def _names(ctx: ReportContext, names: object) -> str:
    """Factors for readers, joined: "Push Amount, Push Duration"."""
    if not isinstance(names, list | tuple) or not names:
        return "none"
    return ", ".join(ctx.factor_label(str(n)) for n in names)


def _screen_blocks(ctx: ReportContext) -> list[Block]:
    """Whether the Morris screens drawn with several seeds agree on their top factors
    (summary.json ``screen_stability``), in words and as a table; an unstable screen is a
    caution and a headline finding."""
    found = ctx.results.summary.get("screen_stability")
    if not isinstance(found, Mapping) or not isinstance(found.get("sets"), list):
        return []
    seeds, sets = list(found.get("seeds") or []), list(found["sets"])
    top, metric = found.get("top"), ctx.outcome_label(str(found.get("metric", "")))
    chosen = _names(ctx, found.get("chosen"))
    kept = found.get("kept") or []
    stage = (f"The Sobol' stage varies {chosen}"
             + (f" ({_names(ctx, kept)} whatever their rank)" if kept else "") + ".")
    blocks: list[Block] = [Heading("Is the screen stable?")]
    if len(sets) < 2:
        blocks.append(Note(f"the Morris screen was drawn with one seed only, so whether its "
                           f"top factors hold with another seed was not checked ([analysis] "
                           f"screen.seeds). {stage}"))
        return blocks
    if found.get("stable"):
        text = (f"The Morris screen was drawn with {len(sets)} seeds; every one names the same "
                f"top {_factors(top)} of {metric}: {_names(ctx, found.get('always'))}. {stage}")
        blocks.append(Paragraph(text))
        ctx.add([Finding(text)], topic="Is the screen stable?")
    else:
        text = (f"The screen is unstable: drawn with {len(sets)} seeds, the Morris screen "
                f"names different top {_factors(top)} of {metric}. Only "
                f"{_names(ctx, found.get('always'))} "
                f"{'is' if len(found.get('always') or []) == 1 else 'are'} in the top of "
                f"every seed; {_names(ctx, found.get('moved'))} move in and out. Do not rely "
                f"on the screen's order; more trajectories ([design] n) would settle it. "
                f"{stage}")
        blocks.append(Caution(text))
        ctx.add([Finding(text, caveat=True, headline=True)], topic="Is the screen stable?")
    rows = [{"seed": int(seed), f"top {top} factors": _names(ctx, names)}
            for seed, names in zip(seeds, sets, strict=False)]
    blocks.append(TableBlock("screen_stability_sets", pd.DataFrame(rows),
                             f"The top {_factors(top)} of the Morris screen of {metric} with "
                             "each seed (pooled over the cases), largest first."))
    return blocks


def _growth_blocks(ctx: ReportContext) -> list[Block]:
    """How far the Sobol' sample grew, and whether its top factors separated (summary.json
    ``growth``)."""
    record = ctx.results.summary.get("growth")
    if not isinstance(record, Mapping) or not record.get("sizes"):
        return []
    sizes = [int(n) for n in record["sizes"]]
    top, metric = record.get("top"), ctx.outcome_label(str(record.get("metric", "")))
    grew = (f"The Sobol' sample grew from N = {sizes[0]} to N = {sizes[-1]}"
            if len(sizes) > 1 else f"The Sobol' sample stayed at N = {sizes[0]}")
    if record.get("separated"):
        text = (f"{grew}: there the total-index intervals of the top {_factors(top)} of {metric} "
                "lie apart from the others' in every case.")
        ctx.add([Finding(text)], topic="Are the indices settled?")
        return [Paragraph(text)]
    by_case = record.get("by_case") if isinstance(record.get("by_case"), Mapping) else {}
    cases = [ctx.case_label(str(c)) for c, ok in by_case.items() if not ok]
    text = (f"{grew} (the cap, [analysis] grow.max_n = {record.get('max_n')}), and still the "
            f"total-index intervals of the top {_factors(top)} of {metric} overlap with other "
            f"factors' intervals" + (f" in {', '.join(cases)}" if cases else "")
            + f": the study cannot separate its top {top} levers; their order is not "
            "established.")
    ctx.add([Finding(text, caveat=True, headline=True)], topic="Are the indices settled?")
    return [Caution(text)]


def _flag_output(ctx: ReportContext, key: str, frame: pd.DataFrame) -> pd.DataFrame:
    """An index table written before sdnet checked reliability (no ``reliable`` column),
    with the output-level check run here on the metric's values in metrics.csv (main stage,
    the table's case): a metric whose variance comes from a handful of runs gives indices
    that cannot be ranked, whatever their intervals."""
    results = ctx.results
    metric, case = split_key(key)
    main = results.main_mask()
    if "reliable" in frame.columns or frame.empty or results.metrics is None or \
            main is None or metric not in results.metrics.columns:
        return frame
    rows = main.copy()
    if case is not None and "case" in results.metrics.columns:
        rows &= (results.metrics["case"].astype(str) == case).to_numpy()
    values = pd.to_numeric(results.metrics.loc[rows, metric], errors="coerce").to_numpy(float)
    problem = output_problem(values[np.isfinite(values)])
    if not problem:
        return frame
    return frame.assign(reliable=False, problem=problem)


def _usable(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Rows with every value in ``columns`` (an index that could not be estimated is NaN);
    a table lacking a column is returned whole, for the plot to name what is missing."""
    if not set(columns) <= set(frame.columns):
        return frame
    return frame.dropna(subset=columns).reset_index(drop=True)


def _wide(frame: pd.DataFrame) -> list[str]:
    wide = []
    for column in ("S1_conf", "ST_conf"):
        if column in frame.columns:
            wide += [str(f) for f, c in zip(frame["factor"], frame[column], strict=True)
                     if np.isfinite(c) and c > CAUTION_HALF_WIDTH]
    return list(dict.fromkeys(wide))


def _convergence(ctx: ReportContext) -> Section:
    title = "Are the indices settled?"
    tables = ctx.results.analyses_of("convergence")
    growth = _growth_blocks(ctx)
    if not tables:
        return _section(title, growth or [Note("the study did not check convergence (no "
                                               "convergence_ tables in analyses/).")])
    blocks: list[Block] = [*growth, Paragraph(
        f"Indices recomputed with growing numbers of base samples N. A hollow black triangle "
        f"marks an index whose confidence interval is wider than ± {CAUTION_HALF_WIDTH:g}: "
        "there the ranking should not be relied on."
    )]
    for key, raw in tables.items():
        metric = ctx.outcome_label(key)
        index = "ST" if "ST" in raw.columns else "S1"
        frame = ctx.labelled(_flag_output(ctx, key, _usable(raw, [index])))
        if frame.empty:
            blocks.append(Note(f"the convergence of {metric}'s indices could not be computed "
                               "(every value is missing)."))
            continue
        figure = _new_figure(height=3.8)  # the legend sits below the axes
        plot_convergence(frame, index=index, metric=ctx.short_label(key),
                         ax=figure.add_subplot())
        blocks.append(figure_block(
            f"convergence-{key}", figure,
            caption=f"Convergence of {index} of {metric} with N.",
            alt=f"Convergence of {index} for {metric} with sample size",
        ))
        found = convergence_findings(metric, frame, index=index)
        ctx.add(found, topic=metric)
        blocks += [Caution(f.text) if f.caveat else Paragraph(f.text) for f in found]
    return _section(title, blocks)
