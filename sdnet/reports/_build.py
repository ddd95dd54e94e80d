"""Assemble the report's sections from a study's results."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sdnet.errors import SdnetError
from sdnet.metrics import BUILTIN
from sdnet.plotting._style import A4_TEXT_WIDTH
from sdnet.plotting.diagram import diagram_figsize, plot_diagram
from sdnet.plotting.discovery import (
    plot_outcome_map,
    plot_scenario_scatter,
    plot_threshold_map,
)
from sdnet.plotting.indices import (
    CAUTION_HALF_WIDTH,
    plot_convergence,
    plot_morris,
    plot_sobol,
    plot_time_resolved,
    reliability,
)
from sdnet.plotting.uncertainty import plot_fan
from sdnet.reports._document import (
    Block,
    Bullets,
    Caution,
    Code,
    Heading,
    Note,
    Paragraph,
    Section,
    TableBlock,
    anchor_for,
    figure_block,
    fmt,
)
from sdnet.reports._findings import (
    Finding,
    amount_threshold_findings,
    box_stats,
    comparison_findings,
    convergence_findings,
    hysteresis_findings,
    morris_findings,
    prim_findings,
    regime_findings,
    sobol_findings,
    threshold_findings,
    time_resolved_findings,
)
from sdnet.reports._model_text import ModelText, read_model_text
from sdnet.reports._results import StudyResults
from sdnet.sensitivity.sobol import output_problem
from sdnet.sketch import read_sketch

__all__ = ["ReportContext", "build_sections"]

logger = logging.getLogger(__name__)

#: The outputs shown as fan charts (Vensim names), in the order of the issue.
FAN_OUTPUTS: tuple[str, ...] = ("Total Members", "Trust", "Collective Knowledge", "Embeddedness")


class ReportContext:
    """What several sections share: the results, the model's text, units, bounds, push."""

    def __init__(self, results: StudyResults) -> None:
        self.results = results
        self.model_file = _find_model(results)
        self.model_label = _model_label(results)
        self.model_text: ModelText | None = None
        if self.model_file is not None:
            self.model_text = read_model_text(self.model_file)
        self.units = self._factor_units()
        self.factor_table = self._factor_table()
        self.bounds = {
            str(r["factor"]): (float(r["lower"]), float(r["upper"]))
            for _, r in self.factor_table.iterrows()
        }
        self.push = self._push_window()
        self.findings: list[Finding] = []

    def add(self, found: list[Finding], *, topic: str) -> None:
        """Keep findings for the Findings section, grouped under ``topic``."""
        self.findings += [replace(f, topic=topic) for f in found]

    # ---- factors ----------------------------------------------------------------------

    def _factor_units(self) -> dict[str, str]:
        units = dict(self.model_text.units) if self.model_text else {}
        for entry in _factor_entries(self.results):
            if entry.get("units"):
                units[str(entry["name"])] = str(entry["units"])
        return units

    def _factor_table(self) -> pd.DataFrame:
        rows = []
        seen = set()
        observed = self.results.factors
        for entry in _factor_entries(self.results):
            name = str(entry["name"])
            if name in seen:
                continue
            seen.add(name)
            lower, upper = _entry_bounds(entry)
            source = "study design"
            if (lower is None or upper is None) and observed is not None and name in \
                    varied_columns(observed):
                lower = float(observed[name].min())
                upper = float(observed[name].max())
                source = "observed in runs"
            rows.append({
                "factor": name,
                "units": self.units.get(name, ""),
                "lower": np.nan if lower is None else lower,
                "upper": np.nan if upper is None else upper,
                "distribution": str(entry.get("distribution") or entry.get("dist") or "uniform"),
                "range from": source,
                "stage": str(entry.get("stage", "")),
            })
        if observed is not None and not rows:
            for name in varied_columns(observed):
                rows.append({
                    "factor": str(name),
                    "units": self.units.get(str(name), ""),
                    "lower": float(observed[name].min()),
                    "upper": float(observed[name].max()),
                    "distribution": "not recorded",
                    "range from": "observed in runs",
                })
        table = pd.DataFrame(rows, columns=["factor", "units", "lower", "upper",
                                            "distribution", "range from", "stage"])
        if not (table["stage"] != "").any():
            table = table.drop(columns="stage")
        return table

    # ---- push -------------------------------------------------------------------------

    def _push_window(self) -> tuple[float, float] | None:
        """Start and end (years) of the push: spec, else median of factors, else model."""
        spec_push = self.results.spec.get("push", {})
        values: dict[str, float] = {}
        constants = self.model_text.constants if self.model_text else {}
        fixed = self.results.spec.get("params", {}) if isinstance(
            self.results.spec.get("params"), dict) else {}
        for key in ("start", "duration", "taper"):
            name = f"push_{key}"
            if isinstance(spec_push, dict) and key in spec_push:
                values[key] = float(spec_push[key])
            elif self.results.factors is not None and name in self.results.factors and \
                    pd.api.types.is_numeric_dtype(self.results.factors[name]):
                values[key] = float(self.results.factors[name].median())
            elif name in fixed:
                values[key] = float(fixed[name])
            elif name in constants:
                values[key] = constants[name]
        if "start" not in values or "duration" not in values:
            return None
        start = values["start"]
        return (start, start + values["duration"] + values.get("taper", 0.0))

    def main_factors(self) -> pd.DataFrame | None:
        """The factor values of the main stage's runs (the runs the figures draw)."""
        main = self.results.main_mask()
        if main is None:
            return self.results.factors
        return self.results.factor_rows(main)

    def push_varies(self) -> bool:
        factors = self.main_factors()
        return factors is not None and any(
            f"push_{k}" in varied_columns(factors) for k in ("start", "duration", "taper")
        )

    def metric_units(self, key: str) -> str | None:
        builtin = BUILTIN.get(split_key(key)[0])
        return builtin.units if builtin is not None else None

    def metric_description(self, key: str) -> str | None:
        builtin = BUILTIN.get(split_key(key)[0])
        return builtin.description if builtin is not None else None


_BOOKKEEPING = ("run", "case", "stage", "row", "status")


def varied_columns(frame: pd.DataFrame) -> list[str]:
    """Numeric columns of a run table that vary between runs (the factors actually varied)."""
    found = []
    for column in frame.columns:
        if str(column) in _BOOKKEEPING or not pd.api.types.is_numeric_dtype(frame[column]):
            continue
        if frame[column].nunique(dropna=True) > 1:
            found.append(str(column))
    return found


def split_key(key: str) -> tuple[str, str | None]:
    """``"metric__case"`` -> ``("metric", "case")``; a key without a case -> ``(key, None)``."""
    metric, sep, case = key.partition("__")
    return (metric, case) if sep else (key, None)


def display(key: str) -> str:
    """A metric key for readers: ``"persistence_after_push (typical)"``."""
    metric, case = split_key(key)
    return f"{metric} ({case})" if case else metric


def _factor_entries(results: StudyResults) -> list[dict[str, Any]]:
    """Factor descriptions from design.json (preferred; a screened study's screening stage
    too) and the spec's [[factors]]."""
    entries: list[dict[str, Any]] = []
    screen = results.design.get("screen")
    main_names: set[str] = set()
    if isinstance(results.design.get("factors"), list):
        main_names = {str(e.get("name")) for e in results.design["factors"]
                      if isinstance(e, Mapping)}
    if isinstance(screen, Mapping) and isinstance(screen.get("factors"), list):
        entries += [
            {**e, "stage": "screening and main" if str(e.get("name")) in main_names
             else "screening"}
            for e in screen["factors"] if isinstance(e, Mapping)
        ]
    design_factors = results.design.get("factors")
    if isinstance(design_factors, Mapping):
        entries += [{"name": k, **(v if isinstance(v, Mapping) else {"bounds": v})}
                    for k, v in design_factors.items()]
    elif isinstance(design_factors, list):
        entries += [e if isinstance(e, Mapping) else {"name": str(e)} for e in design_factors]
    spec_factors = results.spec.get("factors", [])
    if isinstance(spec_factors, list):
        entries += [dict(e) for e in spec_factors if isinstance(e, Mapping) and "name" in e]
    return [dict(e) for e in entries if "name" in e]


def _entry_bounds(entry: Mapping[str, Any]) -> tuple[float | None, float | None]:
    bounds = entry.get("bounds") or entry.get("range")
    if isinstance(bounds, list | tuple) and len(bounds) == 2:
        return float(bounds[0]), float(bounds[1])
    lower = entry.get("lower", entry.get("min"))
    upper = entry.get("upper", entry.get("max"))
    return (None if lower is None else float(lower), None if upper is None else float(upper))


def _spec_model(results: StudyResults) -> str | None:
    experiment = results.spec.get("experiment", {})
    model = experiment.get("model") if isinstance(experiment, Mapping) else None
    return str(model) if model else None


def _find_model(results: StudyResults) -> Path | None:
    """The model file the study ran: spec.toml's path (relative to the results folder, as
    `sdnet experiment` writes it), then provenance's, then either beside the results."""
    given = [g for g in dict.fromkeys([_spec_model(results), results.model_path]) if g]
    candidates = []
    for name in given:
        if Path(name).is_absolute():
            candidates.append(Path(name))
        else:
            candidates += [parent / name for parent in [results.path, *results.path.parents]]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


def _model_label(results: StudyResults) -> str:
    """The model file for readers, without the absolute path of the machine the study ran
    on: its name, and where it lies relative to the results folder when spec.toml says."""
    given = _spec_model(results) or results.model_path
    if not given:
        return "not recorded"
    name = Path(given).name
    if Path(given).is_absolute() or Path(given).as_posix() == name:
        return name
    # the relative path says where the model lies only within one repository; beyond it,
    # it spells out this machine's folders
    root = _repository_root(results.path.resolve())
    if root is None or not (results.path / given).resolve().is_relative_to(root):
        return name
    return f"{name} ({Path(given).as_posix()} from the results folder)"


def _repository_root(path: Path) -> Path | None:
    """The nearest folder at or above ``path`` holding a ``.git``."""
    for parent in [path, *path.parents]:
        if (parent / ".git").exists():
            return parent
    return None


def _reproduce_command(results: StudyResults, model_file: Path | None) -> str:
    """Commands that rerun the resolved spec and rewrite this report, with no path of the
    machine the study ran on: from the repository root when the results folder (and the
    model) lie in one, else from inside the results folder."""
    folder = results.path.resolve()
    root = _repository_root(folder)
    model_inside = model_file is None or (
        root is not None and model_file.resolve().is_relative_to(root))
    if root is not None and model_inside and folder != root:
        rel = folder.relative_to(root).as_posix()
        return (f"# from the repository root\n"
                f"sdnet experiment {rel}/spec.toml --out {rel}   # same spec, same seed\n"
                f"sdnet report {rel}   # this report alone")
    return ("# from inside the results folder (spec.toml names the model relative to it)\n"
            "sdnet experiment spec.toml --out .   # same spec, same seed\n"
            "sdnet report .   # this report alone")


def _without_local_paths(text: str, results: StudyResults) -> str:
    """``text`` with the absolute model path of an older results folder replaced by the
    reader's label of the model."""
    for given in (_spec_model(results), results.model_path):
        if given and Path(given).is_absolute():
            text = text.replace(given, Path(given).name)
    return text


def _new_figure(width: float = A4_TEXT_WIDTH, height: float = 3.6) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


# ---- sections -------------------------------------------------------------------------


def _section(title: str, blocks: list[Block]) -> Section:
    return Section(title=title, anchor=anchor_for(title), blocks=tuple(blocks))


def _question(ctx: ReportContext) -> Section:
    results = ctx.results
    blocks: list[Block] = []
    if results.question:
        blocks.append(Paragraph(results.question))
    else:
        blocks.append(Note("the study's spec states no question ([experiment] question)."))
    blocks.append(Paragraph(
        "This report was written by sdnet from the study's results folder. It shows which "
        "public-policy levers and uncertain conditions decide whether a network of small "
        "firms takes root in its region and survives after public funding ends."
    ))
    return _section("The question", blocks)


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
        blocks.append(TableBlock("factors", ctx.factor_table,
                                 "Factors varied by the study, with their ranges.",
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
    blocks: list[Block] = [Paragraph(
        "Each chart shows the median run (line) and the bands holding the middle 50% and 90% "
        "of runs" + (", separately for runs in which the network was sustained ten years "
                     "after the push ended and runs in which it was not" if labels is not None
                     else "") + ". The grey span is the public push" +
        (" (median timing; the timing varies between runs)" if ctx.push_varies() else "") + "."
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
    missing = []
    for i, name in enumerate(FAN_OUTPUTS, start=1):
        if name not in ensemble.variables:
            missing.append(name)
            continue
        values = ensemble.outputs(name).to_numpy()
        units = str(ensemble.dataset["units"].sel(variable=name).item()) \
            if "units" in ensemble.dataset.coords else None
        figure = _new_figure(height=3.2 if len(cases) == 1 else 0.6 + 2.6 * len(cases))
        axes = figure.subplots(len(cases), 1, sharex=True, sharey=True, squeeze=False)[:, 0]
        for ax, (case, rows) in zip(axes, cases, strict=True):
            keep = rows & ok
            plot_fan(times, values[keep], regime=None if labels is None else labels[keep],
                     push=ctx.push, name=name, units=units or None, ax=ax)
            if case:
                ax.set_title(case, loc="left", fontsize=9)
        for ax in axes[:-1]:
            ax.set_xlabel("")
        blocks.append(figure_block(
            f"fan-{i}", figure,
            caption=f"{name}: median and 50%/90% bands over time"
            + (" by regime" if labels is not None else "")
            + (", one panel per case." if len(cases) > 1 else "."),
            alt=f"Fan chart of {name} over time",
        ))
    if missing:
        blocks.append(Note(f"the saved trajectories lack {', '.join(missing)}."))
    return _section(title, blocks)


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
    blocks: list[Block] = []
    for key in metrics:
        metric = display(key)
        units = ctx.metric_units(key)
        description = ctx.metric_description(key)
        blocks.append(Heading(display(metric) + (f": {description}" if description else "")))
        if key in morris:
            frame = _usable(morris[key], ["mu_star", "sigma"])
        if key in morris and frame.empty:
            blocks.append(Note(f"the Morris indices of {metric} could not be computed (every "
                               "value is missing)."))
        elif key in morris:
            figure = _new_figure(height=4.2)
            plot_morris(frame, metric=metric, units=units, ax=figure.add_subplot())
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
            frame = _flag_output(ctx, key, _usable(tables[key], ["S1", "ST"]))
            label = "Sobol" if kind == "sobol" else "FAST"
            if frame.empty:
                blocks.append(Note(f"the {label} indices of {metric} could not be computed "
                                   "(every value is missing)."))
                continue
            figure = _new_figure(height=min(9.0, 1.0 + 0.34 * len(frame)))
            plot_sobol(frame, metric=metric, ax=figure.add_subplot())
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
                ctx.add(sobol_findings(metric, frame, description=description), topic=metric)
            wide = _wide(frame[flags])
            if wide:
                blocks.append(Caution(
                    f"the intervals of {', '.join(wide)} for {metric} are wider than "
                    f"± {CAUTION_HALF_WIDTH:g}; their indices are uncertain."
                ))
        if key in time_resolved:
            index = "ST" if "ST" in time_resolved[key].columns else "S1"
            frame = _usable(time_resolved[key], [index])
        if key in time_resolved and frame.empty:
            blocks.append(Note(f"the time-resolved indices of {metric} could not be computed "
                               "(every value is missing)."))
        elif key in time_resolved:
            n_factors = frame["factor"].nunique() if "factor" in frame.columns else 5
            figure = _new_figure(height=min(9.0, 1.3 + 0.3 * n_factors))
            plot_time_resolved(frame, index=index, metric=metric, push=ctx.push,
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
    if not tables:
        return _section(title, [Note("the study did not check convergence (no convergence_ "
                                     "tables in analyses/).")])
    blocks: list[Block] = [Paragraph(
        f"Indices recomputed with growing numbers of base samples N. A hollow black triangle "
        f"marks an index whose confidence interval is wider than ± {CAUTION_HALF_WIDTH:g}: "
        "there the ranking should not be relied on."
    )]
    for key, raw in tables.items():
        metric = display(key)
        index = "ST" if "ST" in raw.columns else "S1"
        frame = _flag_output(ctx, key, _usable(raw, [index]))
        if frame.empty:
            blocks.append(Note(f"the convergence of {metric}'s indices could not be computed "
                               "(every value is missing)."))
            continue
        figure = _new_figure(height=3.8)  # the legend sits below the axes
        plot_convergence(frame, index=index, metric=metric, ax=figure.add_subplot())
        blocks.append(figure_block(
            f"convergence-{key}", figure,
            caption=f"Convergence of {index} of {metric} with N.",
            alt=f"Convergence of {index} for {metric} with sample size",
        ))
        found = convergence_findings(metric, frame, index=index)
        ctx.add(found, topic=metric)
        blocks += [Caution(f.text) if f.caveat else Paragraph(f.text) for f in found]
    return _section(title, blocks)


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
    title = "Where the network survives (scenario discovery)"
    results = ctx.results
    boxes = results.analyses_of("prim")
    if not boxes:
        return _section(title, [Note("the study ran no scenario discovery (no prim_ tables in "
                                     "analyses/).")])
    metric = _prim_metric(results)
    if metric == "sustained":
        outcome, short = "sustained the network", "sustain the network"
    elif metric.endswith("_wins"):
        policy = metric.removesuffix("_wins")
        outcome, short = f"saw the {policy} policy win", f"see the {policy} policy win"
        title = f"Where the {policy} policy wins (scenario discovery)"
    else:
        outcome, short = f"met {metric}", f"meet {metric}"
    description = ctx.metric_description(metric)
    blocks: list[Block] = [Paragraph(
        f"PRIM searches for ranges of the factors inside which most runs {short}"
        + (f" ({metric}: {description})" if description and metric != "sustained" else "")
        + ". Density is the share of runs inside the box that do; coverage is the share of all "
        "runs that do which lie inside the box."
    )]
    regime = _outcome_labels(results, metric)
    main = results.main_mask()
    for name, box in boxes.items():
        trajectory = results.analyses.get(f"prim_{name}_trajectory")
        blocks.append(Heading(f"Box: {name}"))
        blocks.append(TableBlock(f"prim_{name}", box, f"PRIM box ({name}): factor ranges."))
        stats = box_stats(name, box, summary=results.summary, trajectory=trajectory)
        if stats is not None:
            blocks.append(TableBlock(
                f"prim_{name}_stats",
                pd.DataFrame([{**stats, "factors restricted": len(box)}]),
                f"Coverage, density and mass (share of all runs inside) of the box ({name}).",
            ))
        else:
            blocks.append(Note(f"the study did not record the coverage and density of the box "
                               f"({name}) (summary.json has no prim entry for it)."))
        ctx.add(prim_findings(name, box, stats, bounds=ctx.bounds, units=ctx.units,
                              outcome=outcome),
                topic="Where the network survives")
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
        plot_scenario_scatter(factors, regime[rows], x=top[0], y=top[1], box=box,
                              units=ctx.units, ax=figure.add_subplot())
        blocks.append(figure_block(
            f"prim-{name}", figure,
            caption=f"Runs over the two most important factors ({top[0]}, {top[1]}), coloured "
            f"by {'regime' if metric == 'sustained' else metric}, with the PRIM box ({name}) "
            "dashed.",
            alt=f"Scatter of {top[0]} against {top[1]} coloured by regime with the PRIM box",
        ))
    return _section(title, blocks)


#: What a threshold search's flag asks, with its definition (so a reader can tell a "keep
#: alive" duration from a "sustain" one; QA F18)
_GOALS = {"sustained": "sustain the network (persistence >= 0.6 and at least max(3, 5% of "
                       "firms) members ten years after the push ends)",
          "alive_after_push": "keep the network alive (at least max(3, 5% of firms) members "
                              "ten years after the push ends)"}


def _threshold_metric(results: StudyResults) -> str:
    """The metric the threshold search used (spec [analysis] thresholds.metric)."""
    analysis = results.spec.get("analysis", {})
    search = analysis.get("thresholds") if isinstance(analysis, Mapping) else None
    if isinstance(search, Mapping) and search.get("metric"):
        return str(search["metric"])
    return "alive_after_push"


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
    if plotted is None or not {"push_amount", "push_duration"} <= set(varied_columns(plotted)):
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
        plot_outcome_map(factors["push_amount"], factors["push_duration"],
                         outcome.to_numpy(float), outcome_name=metric, units=ctx.units,
                         threshold=curve, colorbar=False, ax=ax)
        if case:
            ax.set_title(case, loc="left", fontsize=9)
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


def _thresholds(ctx: ReportContext) -> Section:
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
    amount_units = ctx.units.get("push_amount", "$/Year")
    duration_units = ctx.units.get("push_duration", "Year")
    metric = _threshold_metric(ctx.results)
    goal = _GOALS.get(metric, f"meet {metric}")
    description = ctx.metric_description(metric)
    blocks: list[Block] = []
    if frame is not None:
        figure = _new_figure(height=3.6)
        plot_threshold_map(frame, amount_units=amount_units, duration_units=duration_units,
                           ax=figure.add_subplot())
        found = threshold_findings(frame, amount_units=amount_units, goal=goal)
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
        amount_found = amount_threshold_findings(by_amount, amount_units=amount_units,
                                                 goal=goal)
        ctx.add(amount_found, topic="How long a push must last")
        blocks += [Paragraph(f.text) for f in amount_found]
    return _section(title, blocks)


def _checks(ctx: ReportContext) -> Section | None:
    frame = ctx.results.analyses.get("integration_check")
    if frame is None:
        return None
    blocks: list[Block] = [TableBlock("integration_check", frame,
                                      "Change of each metric at half the time step and with "
                                      "RK4 integration.")]
    if "ok" in frame.columns:
        bad = [str(m) for m, ok in zip(frame.get("metric", frame.index), frame["ok"],
                                       strict=True) if not _truthy(ok)]
        if bad:
            text = (f"the metrics {', '.join(bad)} change by more than the tolerance when the "
                    "time step is halved or RK4 is used: integration error may affect them.")
            blocks.append(Caution(text))
            ctx.add([Finding(text[0].upper() + text[1:], caveat=True)],
                    topic="Numerical checks")
        else:
            blocks.append(Paragraph("Every metric is stable under half the time step and RK4."))
    return _section("Numerical checks", blocks)


_SHOWN_KINDS = ("morris_", "sobol_", "fast_", "time_resolved_", "convergence_", "prim_")
_SHOWN_NAMES = ("thresholds", "thresholds_amount", "integration_check")


def _other_tables(ctx: ReportContext) -> Section | None:
    """Analysis tables the sections above do not draw (e.g. hysteresis, comparisons)."""
    others = {
        stem: frame for stem, frame in ctx.results.analyses.items()
        if not stem.startswith(_SHOWN_KINDS) and stem not in _SHOWN_NAMES
    }
    if not others:
        return None
    blocks: list[Block] = [Paragraph("Further tables the study wrote, shown as they are.")]
    if "hysteresis" in others:
        ctx.add(hysteresis_findings(others["hysteresis"]), topic="Tipping point and memory")
    if "comparison" in others:
        ctx.add(comparison_findings(others["comparison"]), topic="Which push works better")
    for stem, frame in others.items():
        blocks.append(TableBlock(stem, frame.head(60), f"analyses/{stem}.csv"
                                 + (" (first 60 rows)" if len(frame) > 60 else "") + "."))
    return _section("Other analyses", blocks)


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "ok")
    return bool(value)


def _regime_summary(ctx: ReportContext) -> list[Finding]:
    results = ctx.results
    regime = results.regime()
    main = results.main_mask()
    if regime is None or main is None or results.metrics is None:
        return []
    ok = results.ok_mask()
    cases = results.metrics["case"].astype(str) if "case" in results.metrics.columns else None
    if cases is None or cases[main].nunique() <= 1:
        return regime_findings(regime[main], None if ok is None else ok[main])
    found: list[Finding] = []
    for case in dict.fromkeys(cases[main]):
        rows = main & (cases == case).to_numpy()
        for finding in regime_findings(regime[rows], None if ok is None else ok[rows]):
            found.append(replace(finding, text=f"{case}: {finding.text}"))
    return found


def _findings_section(ctx: ReportContext) -> Section:
    found = _regime_summary(ctx) + ctx.findings
    summary = ctx.results.summary
    blocks: list[Block] = []
    if not found:
        blocks.append(Note("the study produced no numbers to draw findings from."))
    headlines = [f.text for f in found if f.headline and not f.caveat]
    cautions = sum(f.caveat for f in found)
    if headlines:
        blocks += [Heading("In brief"), Bullets(tuple(headlines))]
    if cautions:
        several = cautions > 1
        blocks.append(Caution(
            f"{cautions} finding{'s' if several else ''} below come{'' if several else 's'} "
            "with a caution (wide intervals, unreliable estimates, failed runs or integration "
            "error): read "
            f"{'them' if several else 'it'} before relying on the numbers above."
        ))
    # the rest grouped by topic (in order of first appearance), each caveat right after the
    # finding it qualifies; headlines without a topic were said in brief already
    found = [f for f in found if f.topic or not f.headline]
    topics = list(dict.fromkeys(f.topic for f in found))
    found = [f for topic in topics for f in found if f.topic == topic]
    if found and headlines:
        blocks.append(Heading("In detail"))
    pending: list[str] = []
    current = ""
    for finding in found:
        if finding.topic != current:
            if pending:
                blocks.append(Bullets(tuple(pending)))
                pending = []
            current = finding.topic
            if current:
                blocks.append(Heading(current, level=4 if headlines else 3))
        if finding.caveat:
            if pending:
                blocks.append(Bullets(tuple(pending)))
                pending = []
            blocks.append(Caution(finding.text))
        else:
            pending.append(finding.text)
    if pending:
        blocks.append(Bullets(tuple(pending)))
    means = summary.get("metric_means")
    if isinstance(means, Mapping) and means and all(isinstance(v, Mapping)
                                                    for v in means.values()):
        frame = pd.DataFrame(
            [{"case": str(case), **{str(k): v for k, v in values.items()}}
             for case, values in means.items()]
        )
        blocks.append(TableBlock("metric_means", frame,
                                 "Mean of each metric over the runs of each case."))
    notes = summary.get("notes")
    if isinstance(notes, list | tuple) and notes:
        blocks.append(Heading("Notes on the metrics"))
        blocks.append(Bullets(tuple(str(item) for item in notes)))
    skipped = summary.get("skipped")
    if isinstance(skipped, list | tuple) and skipped:
        blocks.append(Heading("Analyses not run"))
        blocks.append(Bullets(tuple(str(item) for item in skipped)))
    return _section("Findings", blocks)


def _provenance(ctx: ReportContext) -> Section:
    prov = ctx.results.provenance
    blocks: list[Block] = []
    versions = prov.get("versions")
    if isinstance(versions, Mapping) and versions:
        blocks.append(TableBlock(
            "versions", pd.DataFrame(sorted(versions.items()), columns=["package", "version"]),
            "Package versions the study ran with.",
        ))
    else:
        blocks.append(Note("the study recorded no package versions (provenance.json)."))
    blocks.append(Paragraph(
        f"Seed: {'not recorded' if ctx.results.seed is None else ctx.results.seed}. "
        f"Git commit: {prov.get('git_commit') or 'not recorded'}."
    ))
    if ctx.results.spec_text:
        blocks.append(Paragraph("The resolved experiment spec (spec.toml):"))
        blocks.append(Code(_without_local_paths(ctx.results.spec_text.rstrip(), ctx.results)))
    elif prov.get("spec"):
        blocks.append(Paragraph("The experiment spec as recorded in provenance.json:"))
        blocks.append(Code(_without_local_paths(json.dumps(prov["spec"], indent=2, default=str),
                                                ctx.results)))
    else:
        blocks.append(Note("the study's spec was not saved."))
    return _section("Provenance", blocks)


_TITLES = {
    "_diagram": "The model's stock-and-flow structure",
    "_factors": "Factors and design",
    "_uncertainty": "Uncertainty over time",
    "_levers": "Which levers matter",
    "_convergence": "Are the indices settled?",
    "_discovery": "Where the network survives (scenario discovery)",
    "_thresholds": "How long a push must last (threshold maps)",
    "_checks": "Numerical checks",
    "_other_tables": "Other analyses",
}


def _guarded(build: Callable[[ReportContext], Section | None],
             ctx: ReportContext) -> Section | None:
    """Build a section; a malformed table of the study becomes a caution in that section
    instead of stopping the whole report."""
    try:
        return build(ctx)
    except (SdnetError, KeyError, ValueError, TypeError) as error:
        title = _TITLES.get(build.__name__, build.__name__.strip("_"))
        logger.warning("report section %r could not be written: %s", title, error)
        return _section(title, [Caution(
            f"this section could not be written from the study's files: {error}"
        )])


def build_sections(results: StudyResults) -> tuple[str, str, list[Section]]:
    """The report's title, subtitle and sections, in reading order.

    Findings are collected while the analysis sections are built, then placed right after
    the question, where readers look first.
    """
    ctx = ReportContext(results)
    question = _question(ctx)
    study = _study(ctx)
    built = [_guarded(build, ctx) for build in (
        _diagram, _factors, _uncertainty, _levers, _convergence, _discovery, _thresholds,
    )]
    checks = _guarded(_checks, ctx)
    other = _guarded(_other_tables, ctx)
    findings = _findings_section(ctx)
    provenance = _provenance(ctx)
    sections = [question, findings, study, *[s for s in built if s is not None]]
    sections += [s for s in (other, checks) if s is not None]
    sections.append(provenance)
    created = results.provenance.get("created")
    subtitle = f"sdnet study report · model {_model_label(results)}" + (
        f" · study run {created}" if created else "")
    return f"Study report: {results.name}", subtitle, sections
