"""Write a calibration's results folder: tables, the fits figure and a short report.

History matching (:func:`write_history_match`) writes into ``DIR``::

    nonimplausible.csv   the non-implausible sets: one column per varied parameter (Python
                         names, 8 significant digits), what ``sdnet check --robust --sets FILE``
                         reads
    runs.csv             every set run: wave, kept, measure, parameters, sim_<target>,
                         I_<target>
    waves.csv            per wave: sets, failed, kept, kept_share, ruled_out_<target> (sets the
                         target rules out) and only_<target> (sets it alone rules out)
    margins.csv          per parameter: declared and kept range, kept share of the range, median
    boxes.csv            the box each wave sampled
    targets.csv          the targets (what is read, scenario, observed, sd, discrepancy, source)
    fits.png             per target: simulated distribution vs observed ± uncertainty
    report.md, report.html, figures/, tables/   the report (HTML self-contained)
    provenance.json      model file and SHA-256, seed, targets file and SHA-256, settings

A point fit (:func:`write_point_fit`) writes ``point_fit.csv`` (parameter, value, start, lower,
upper, at_bound), ``point_fit_series.csv`` (observed and fitted), ``point_fit.png``,
``report.md``/``report.html`` and ``provenance.json``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from sdnet.plotting._style import A4_TEXT_WIDTH
from sdnet.plotting.calibration import plot_series_fit, plot_target_fit
from sdnet.reports._document import (
    Caution,
    Code,
    Paragraph,
    Section,
    TableBlock,
    anchor_for,
    figure_block,
    fmt,
    render_html,
    render_markdown,
    write_assets,
)

if TYPE_CHECKING:
    from sdnet.calibration import HistoryMatch, PointFit

__all__ = ["fits_figure", "write_history_match", "write_point_fit"]


def fits_figure(result: HistoryMatch) -> Figure:
    """One panel per target: every set run (grey) and the non-implausible sets (blue)."""
    targets = result.targets.targets
    ncols = min(3, len(targets))
    nrows = math.ceil(len(targets) / ncols)
    figure = Figure(figsize=(A4_TEXT_WIDTH, 2.0 * nrows + 0.4), layout="constrained")
    simulated = np.vstack([w.simulated for w in result.waves])
    kept = np.concatenate([w.kept for w in result.waves])
    axes = figure.subplots(nrows, ncols, squeeze=False)
    for i, target in enumerate(targets):
        ax = axes[i // ncols][i % ncols]
        plot_target_fit(
            simulated[:, i], kept, observed=target.observed, sd=target.sd,
            total_sd=math.sqrt(target.variance), cutoff=result.cutoff,
            title=f"{target.name}\n{target.describe()}", ax=ax,
        )
    for j in range(len(targets), nrows * ncols):
        axes[j // ncols][j % ncols].set_visible(False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=7,
                  frameon=False)
    return figure


def write_history_match(result: HistoryMatch, out: str | Path, *, report: bool = True
                        ) -> Path:
    """Write a history match's results folder (see the module docstring).

    Files of an earlier call are replaced, others in ``out`` kept (the command line writes
    through :func:`sdnet.outputs.output_folder`). With ``report=False`` only the tables and
    ``provenance.json`` are written. Returns the path of ``report.html`` (written only with
    ``report=True``).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # 8 significant digits: half the file, and no value rounds past a declared bound
    result.nonimplausible().to_csv(out / "nonimplausible.csv", index=False, float_format="%.8g")
    result.runs().to_csv(out / "runs.csv", index=False)
    summary = result.summary()
    summary.to_csv(out / "waves.csv", index=False)
    margins = result.margins()
    margins.to_csv(out / "margins.csv", index=False)
    result.boxes().to_csv(out / "boxes.csv", index=False)
    targets = result.targets.to_frame()
    targets.to_csv(out / "targets.csv", index=False)
    (out / "provenance.json").write_text(
        json.dumps(result.provenance.to_dict(), indent=2), encoding="utf-8")
    html_path = out / "report.html"
    if not report:
        return html_path
    figure = fits_figure(result)
    figure.savefig(out / "fits.png", dpi=110)

    kept = len(result.nonimplausible())
    total = sum(w.n_sets for w in result.waves)
    spec = result.provenance.spec
    title = f"History matching of {Path(result.provenance.model_path).name}"
    subtitle = (f"targets {result.targets.path.name if result.targets.path else '(in memory)'}"
                f"; {len(result.waves)} of {result.waves_asked} waves of "
                f"{spec.get('samples_per_wave')} sets; seed {result.seed}; cutoff "
                f"{result.cutoff:g} on the {result.measure.replace('_', '-')} implausibility")
    overview = [
        Paragraph(
            f"{total} parameter sets of {len(result.factors)} parameters were run in "
            f"{len(result.scenario_names)} scenario(s); {kept} are non-implausible (every "
            f"target's implausibility |simulated - observed| / sqrt(sd^2 + discrepancy^2) "
            f"within {result.cutoff:g} for the {result.measure.replace('_', '-')} measure). "
            "nonimplausible.csv holds them, one column per parameter."
        ),
    ]
    if not result.complete:
        overview.append(Caution(
            f"history matching stopped after wave {len(result.waves)} of "
            f"{result.waves_asked}: the last wave kept no set"
            if result.waves and result.waves[-1].n_kept == 0 else
            f"only {len(result.waves)} of {result.waves_asked} waves finished"))
    if kept == 0:
        overview.append(Caution("no parameter set reproduces every target within the cutoff: "
                                "the model, its ranges or the targets' uncertainties need "
                                "another look"))
    sections = [
        Section("Summary", anchor_for("Summary"), tuple(overview)),
        Section("Targets", anchor_for("Targets"), (
            TableBlock("targets", targets, "Each target, what is read from a run, its scenario, "
                       "the observed value with its standard deviation and model discrepancy, "
                       "and its source."),
        )),
        Section("Waves", anchor_for("Waves"), (
            TableBlock("waves", summary, "Per wave: sets run, failed runs, sets kept; "
                       "ruled_out_<target> counts the sets whose implausibility for that "
                       "target exceeds the cutoff, only_<target> those it alone rules out."),
        )),
        Section("Fits", anchor_for("Fits"), (
            figure_block("fits", figure, caption="Simulated value of each target over every "
                         "set run (grey) and over the non-implausible sets (blue), each as a "
                         "density; the dark "
                         "band is the observation ± one sd, the light band ± cutoff times the "
                         "total sd.", alt="histograms of each target's simulated values"),
        )),
        Section("Parameter margins", anchor_for("Parameter margins"), (
            TableBlock("margins", margins.round(6), "The range each parameter keeps among the "
                       "non-implausible sets, against its declared range."),
        )),
        Section("Provenance", anchor_for("Provenance"), (
            Code(json.dumps(result.provenance.to_dict(), indent=2)),
        )),
    ]
    write_assets(sections, out)
    (out / "report.md").write_text(render_markdown(title, subtitle, sections), encoding="utf-8")
    html_path.write_text(render_html(title, subtitle, sections), encoding="utf-8")
    return html_path


def write_point_fit(fit: PointFit, out: str | Path) -> Path:
    """Write a point fit's results folder (see the module docstring); returns
    ``report.html``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = fit.to_frame()
    table.to_csv(out / "point_fit.csv", index=False)
    series = fit.series_frame()
    series.to_csv(out / "point_fit_series.csv", index=False)
    (out / "provenance.json").write_text(json.dumps(fit.provenance.to_dict(), indent=2),
                                         encoding="utf-8")
    n = len(fit.series.columns)
    ncols = min(2, n)
    nrows = math.ceil(n / ncols)
    figure = Figure(figsize=(A4_TEXT_WIDTH, 2.4 * nrows), layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=False)
    for k, column in enumerate(fit.series.columns):
        plot_series_fit(fit.series.times, fit.series.values[:, k], fit.fitted[:, k],
                        label=f"{column} (rmse {fmt(fit.rmse[column])})",
                        ax=axes[k // ncols][k % ncols])
    for j in range(n, nrows * ncols):
        axes[j // ncols][j % ncols].set_visible(False)
    figure.savefig(out / "point_fit.png", dpi=110)
    title = f"Point fit of {Path(fit.provenance.model_path).name}"
    source = fit.series.path.name if fit.series.path else "(in memory)"
    subtitle = f"series {source}; method {fit.method}; {fit.evaluations} runs"
    blocks = [Paragraph(f"The optimiser reports: {fit.message} (cost {fmt(fit.cost)}, half the "
                        "sum of squared scaled residuals).")]
    if not fit.success:
        blocks.append(Caution("the optimiser did not report success; the values may not be the "
                              "best fit"))
    if table["at_bound"].any():
        names = ", ".join(table.loc[table["at_bound"], "parameter"])
        blocks.append(Caution(f"at the edge of its declared range: {names}; the best fit may "
                              "lie outside the range, or the parameter is not identified"))
    sections = [
        Section("Fit", anchor_for("Fit"), tuple(blocks)),
        Section("Parameters", anchor_for("Parameters"), (
            TableBlock("point_fit", table, "Best-fitting values, where the search started and "
                       "the declared range."),
        )),
        Section("Series", anchor_for("Series"), (
            figure_block("point_fit", figure, caption="Observed values (points) and the "
                         "fitted run (line).", alt="observed and fitted series"),
        )),
        Section("Provenance", anchor_for("Provenance"), (
            Code(json.dumps(fit.provenance.to_dict(), indent=2)),
        )),
    ]
    write_assets(sections, out)
    (out / "report.md").write_text(render_markdown(title, subtitle, sections), encoding="utf-8")
    html_path = out / "report.html"
    html_path.write_text(render_html(title, subtitle, sections), encoding="utf-8")
    return html_path
