"""The report's opening sections: the question, the study, the model diagram, factors and
design, uncertainty over time."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import partial

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sdnet.errors import SdnetError
from sdnet.plotting._style import A4_TEXT_WIDTH
from sdnet.plotting.diagram import diagram_figsize, plot_diagram
from sdnet.plotting.uncertainty import plot_fan
from sdnet.reports._context import (
    ReportContext,
    _new_figure,
    _reproduce_command,
    _section,
)
from sdnet.reports._document import (
    Block,
    Caution,
    Code,
    Note,
    Paragraph,
    Section,
    TableBlock,
    figure_block,
    fmt,
)
from sdnet.sketch import read_sketch


def _study(ctx: ReportContext) -> Section:
    results = ctx.results
    prov = results.provenance
    versions = prov.get("versions", {}) if isinstance(prov.get("versions"), Mapping) else {}
    rows = [
        ("study", results.name),
        ("model file", ctx.model_label),
        ("model SHA-256", str(prov.get("model_sha256") or "not recorded")),
        ("sdnet version", str(versions.get("sdnet", "not recorded"))),
        ("study run on", str(prov.get("created") or "not recorded")),
        ("report written on", datetime.now(UTC).isoformat(timespec="seconds")),
        ("git commit", str(prov.get("git_commit") or "not recorded")),
        ("seed", "not recorded" if results.seed is None else str(results.seed)),
    ]
    blocks: list[Block] = [TableBlock(
        "study", pd.DataFrame(rows, columns=["item", "value"]), "The study at a glance."
    )]
    if ctx.model_text is not None and prov.get("model_sha256") and \
            ctx.model_text.sha256 != prov.get("model_sha256"):
        blocks.append(Caution(
            f"the model file {ctx.model_file.name} has changed since the study ran (its SHA-256 is "
            f"now {ctx.model_text.sha256[:12]}..., the study recorded "
            f"{str(prov.get('model_sha256'))[:12]}...): the diagram below is of the current "
            "file."
        ))
    blocks.append(Paragraph("To reproduce the study and this report:"))
    blocks.append(Code(_reproduce_command(results, ctx.model_file)))
    return _section("Model, version and how to reproduce", blocks)


def _diagram(ctx: ReportContext) -> Section:
    title = "The model's stock-and-flow structure"
    if ctx.model_file is None:
        return _section(title, [Note(
            f"the model file {ctx.model_label} was not found, so its diagram cannot be drawn."
        )])
    try:
        sketch = read_sketch(ctx.model_file)
    except SdnetError as error:
        return _section(title, [Note(f"the diagram cannot be drawn: {error}")])
    # the legend promises link polarities only when the model's sketch stores some
    signed = any(a.polarity for view in sketch.views for a in view.arrows if not a.is_pipe)
    blocks: list[Block] = [Paragraph(
        f"Drawn from the sketch stored in {ctx.model_file.name} ({len(sketch.views)} "
        f"view{'s' if len(sketch.views) != 1 else ''}). Boxes are stocks (accumulations), "
        "thick arrows with a valve are flows into and out of them, clouds are sources and "
        "sinks outside the model, thin blue arrows are causal links"
        + (" (+: same direction, −: opposite)" if signed else
           " (the model's sketch marks no link polarity)")
        + ", and names in <angle brackets> are shadows of variables defined in another view."
    )]
    for i, view in enumerate(sketch.views, start=1):
        if not view.objects():
            blocks.append(Note(f"view {i} ({view.name}) of the model's diagram is empty."))
            continue
        figure = Figure(figsize=diagram_figsize(view), layout="constrained")
        plot_diagram(view, ax=figure.add_subplot())
        stocks = ", ".join(s.name for s in view.stocks) or "none"
        blocks.append(figure_block(
            f"diagram-{i}", figure, caption=f"View {i}: {view.name}. Stocks: {stocks}.",
            alt=f"Stock-and-flow diagram, view {view.name}", wide=True,
        ))
    return _section(title, blocks)


def _factors(ctx: ReportContext) -> Section:
    results = ctx.results
    blocks: list[Block] = []
    if ctx.factor_table.empty:
        blocks.append(Note("the study recorded no factors (no design.json, spec factors or "
                           "factors.csv)."))
    else:
        table = ctx.factor_table
        table = table.assign(factor=table["factor"].map(ctx.factor_label),
                             **{"in the study file": table["factor"]})
        blocks.append(TableBlock("factors", table,
                                 "Factors varied by the study, with their ranges (the model's "
                                 "name, and the name a study file may also use).",
                                 display_rows=80))
    design = results.design
    method = design.get("method") or results.spec.get("design", {}).get("method")
    n = design.get("n") or results.spec.get("design", {}).get("n")
    runs = None if results.factors is None else len(results.factors)
    ok = results.ok_mask()
    screen = design.get("screen")
    rows = []
    if isinstance(screen, Mapping):
        rows += [
            ("screening stage: method", str(screen.get("method", "not recorded"))),
            ("screening stage: n", fmt(screen.get("n")) if screen.get("n") is not None
             else "not recorded"),
            ("screening stage: runs", fmt(screen.get("n_runs")) if screen.get("n_runs")
             is not None else "not recorded"),
            ("screening stage: factors", fmt(len(screen.get("factors", [])))),
        ]
    rows += [
        ("method", str(method or "not recorded")),
        ("N (base samples)", "not recorded" if n is None else fmt(n)),
        ("runs", "not recorded" if runs is None else fmt(runs)),
        ("runs failed", "not recorded" if ok is None else fmt(int((~ok).sum()))),
        ("seed of the study", "not recorded" if results.seed is None else str(results.seed)),
    ]
    if design.get("seed") is not None and design.get("seed") != results.seed:
        rows.append(("seed of this design (derived)", str(design["seed"])))
    settings = design.get("settings")
    if isinstance(settings, Mapping):
        rows += [(f"setting: {k}", json.dumps(v) if not isinstance(v, str) else v)
                 for k, v in settings.items()]
    blocks.append(TableBlock("design", pd.DataFrame(rows, columns=["item", "value"]),
                             "The sampling design."))
    return _section("Factors and design", blocks)


def _stack_panels(figure: Figure, axes: list[Axes], *, pad: float = 0.06) -> None:
    """Lay out a column of panels as sharing both axes: the same limits on every panel, time
    labelled on the bottom one only, margins fitted to the labels.

    Matplotlib's shared axes and its constrained layout would do the same, but both work
    panel by panel (each limit change visits every sibling; the layout measures every
    panel twice per save), which cost a study's 36-panel fan chart tens of seconds. Here
    the limits are set once and the margins measured on the first and last panel, the
    others being alike. ``pad`` is in inches.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    boxes = [ax.dataLim for ax in axes if np.isfinite(ax.dataLim.intervaly).all()]
    if boxes:
        low = min(b.y0 for b in boxes)
        high = max(b.y1 for b in boxes)
        margin = 0.05 * (high - low) if high > low else max(abs(low), 1.0) * 0.05
        for ax in axes:
            ax.set_ylim(low - margin, high + margin)
    for ax in axes[:-1]:
        ax.set_xlabel("")
        ax.tick_params(labelbottom=False)
    width, height = figure.get_size_inches()
    renderer = FigureCanvasAgg(figure).get_renderer()
    dpi = figure.dpi

    def overhang(ax: Axes) -> tuple[float, float, float, float]:
        """How far the labels reach beyond the panel (inches: left, bottom, right, top)."""
        outer, inner = ax.get_tightbbox(renderer), ax.get_window_extent(renderer)
        return (max(inner.x0 - outer.x0, 0) / dpi, max(inner.y0 - outer.y0, 0) / dpi,
                max(outer.x1 - inner.x1, 0) / dpi, max(outer.y1 - inner.y1, 0) / dpi)

    first, last = overhang(axes[0]), overhang(axes[-1])
    left = max(first[0], last[0]) + pad
    right = max(first[2], last[2]) + pad
    top, bottom = first[3] + pad, last[1] + pad
    gap = first[3] + 2 * pad  # room for the next panel's title
    panel = (height - top - bottom - gap * (len(axes) - 1)) / len(axes)
    figure.subplots_adjust(left=left / width, right=1 - right / width, top=1 - top / height,
                           bottom=bottom / height, hspace=gap / panel)


def _fan_figure(times: np.ndarray, values: np.ndarray,
                panels: list[tuple[str, np.ndarray, tuple[float, float] | None]],
                labels: np.ndarray | None, *, name: str, units: str | None, time_units: str,
                push_label: str) -> Figure:
    """A fan chart of one output: one panel per (title, runs, push window) of ``panels``,
    stacked."""
    if len(panels) == 1:
        figure = _new_figure(height=3.2)
        axes = [figure.add_subplot()]
    else:
        figure = Figure(figsize=(A4_TEXT_WIDTH, 0.6 + 2.6 * len(panels)))
        axes = list(figure.subplots(len(panels), 1, squeeze=False)[:, 0])
    for ax, (title, keep, push) in zip(axes, panels, strict=True):
        plot_fan(times, values[keep], regime=None if labels is None else labels[keep],
                 push=push, name=name, units=units, time_units=time_units,
                 push_label=push_label, ax=ax)
        if title:  # a fixed title height: matplotlib places a free one panel by panel
            ax.set_title(title, loc="left", fontsize=9, y=1.0)
    if len(axes) > 1:
        # a legend the same as the first panel's says nothing new (and its placement and
        # drawing took a quarter of the rendering); panels whose counts differ keep theirs
        first = _legend_texts(axes[0])
        for ax in axes[1:]:
            legend = ax.get_legend()
            if legend is not None and _legend_texts(ax) == first:
                legend.remove()
        _stack_panels(figure, axes)
    return figure


def _legend_texts(ax: Axes) -> list[str]:
    legend = ax.get_legend()
    return [] if legend is None else [t.get_text() for t in legend.get_texts()]


def _uncertainty(ctx: ReportContext) -> Section:
    title = "Uncertainty over time"
    ensemble = ctx.results.ensemble
    if ensemble is None:
        return _section(title, [Note("the study saved no trajectories (ensemble.nc), so no "
                                     "fan charts can be drawn.")])
    regime = ctx.results.regime()
    main = ctx.results.main_mask()
    n_runs = ensemble.dataset.sizes["run"]
    labels = None
    if regime is not None and main is not None and int(main.sum()) == n_runs:
        labels = regime[main]
    ok = ensemble.ok
    system, schedule = ctx.word("system"), ctx.word("schedule")
    blocks: list[Block] = [Paragraph(
        "Each chart shows the median run (line) and the bands holding the middle 50% and 90% "
        "of runs" + (f", separately for runs in which {system} was sustained ten years "
                     f"after {schedule} ended and runs in which it was not" if labels is not None
                     else "") + "." + ((f" The grey span is {schedule}" + (
                         " (median timing; the timing varies between runs)"
                         if ctx.push_varies() else "") + ".") if ctx.push is not None else "")
    )]
    if labels is None:
        blocks.append(Note("the study has no 'sustained' metric, so runs are not split by "
                           "regime."))
    # one panel per case (region preset x policy) when the study has several: their futures
    # differ too much to share a band
    metrics = ctx.results.metrics
    cases: list[tuple[str, np.ndarray]] = [("", np.ones(n_runs, dtype=bool))]
    if metrics is not None and "case" in metrics.columns and main is not None and \
            int(main.sum()) == n_runs:
        names = metrics.loc[main, "case"].astype(str).to_numpy()
        if len(set(names)) > 1:
            cases = [(c, names == c) for c in dict.fromkeys(names)]
    times = ensemble.dataset["time"].to_numpy()
    # the same panels (title, runs, push window) for every output
    panels = [(ctx.case_label(case) if case else "", rows & ok,
               ctx.case_push(case) if case else ctx.push) for case, rows in cases]
    missing = []
    for i, name in enumerate(ctx.fan_outputs(list(ensemble.variables)), start=1):
        if name not in ensemble.variables:
            missing.append(name)
            continue
        values = ensemble.outputs(name).to_numpy()
        units = str(ensemble.dataset["units"].sel(variable=name).item()) \
            if "units" in ensemble.dataset.coords else None
        # drawn where it is rendered (a worker process): 36 panels take seconds to draw
        figure = partial(_fan_figure, times, values, panels, labels, name=name,
                         units=units or None, time_units=ctx.time_unit,
                         push_label=ctx.word("schedule"))
        blocks.append(figure_block(
            f"fan-{i}", figure,
            caption=f"{name}: median and 50%/90% bands over time"
            + (" by regime" if labels is not None else "")
            + (", one panel per case (a legend the same as the first panel's is shown "
               "once)." if len(cases) > 1 else "."),
            alt=f"Fan chart of {name} over time",
        ))
    if missing:
        blocks.append(Note(f"the saved trajectories lack {', '.join(missing)}."))
    return _section(title, blocks)
