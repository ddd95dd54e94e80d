"""The report's "Robust optimisation" section: the cheapest package per region and required
success rate, and the Pareto front of public cost against success rate (``[optimize]``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd

from sdnet.plotting.decision import plot_pareto_front
from sdnet.reports._brief import BriefItem
from sdnet.reports._context import ReportContext, _new_figure, _section
from sdnet.reports._document import Block, Caution, Paragraph, Section, TableBlock, figure_block
from sdnet.reports._findings import Finding

TITLE = "Robust optimisation"
#: The analyses/ tables this section shows (the "Other analyses" section leaves them out).
TABLES = ("optimize_optima", "optimize_front", "optimize_evaluated", "optimize_near")


def _money(value: Any) -> str:
    number = float(value)
    return f"${number:,.0f}" if math.isfinite(number) else "unknown"


def _package_words(row: pd.Series, variables: list[str], units: dict[str, str],
                   label: Callable[[str], str] = str) -> str:
    parts = []
    for name in variables:
        unit = units.get(name, "")
        value = float(row[name])
        text = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
        unit = "" if unit == "dmnl" else unit
        parts.append(f"{label(name)} {text}{' ' + unit if unit else ''}")
    return ", ".join(parts)


def optimum_findings(optima: pd.DataFrame, *, variables: list[str], units: dict[str, str],
                     n_worlds: int | None, label: Callable[[str], str] = str,
                     system: str = "the system") -> list[Finding]:
    """One sentence per region and required rate: the cheapest package, or that none of those
    evaluated reached the rate (and the best rate reached); ``system`` is the card's word."""
    worlds = f" of {n_worlds} worlds" if n_worlds else " of the worlds"
    found: list[Finding] = []
    for _, row in optima.iterrows():
        rate = float(row["required_rate"])
        where = str(row["region"]).replace("_", " ")
        if bool(row["found"]):
            text = (f"{where}: the cheapest package found that sustains {system} in "
                    f"at least {rate:.0%}{worlds} costs {_money(row['cost'])} of public money "
                    f"on average ({_package_words(row, variables, units, label)}); it succeeds "
                    f"in "
                    f"{float(row['success_rate']):.0%}.")
            found.append(Finding(text, headline=True))
            flagged = {c.removeprefix("flagged_"): int(row[c]) for c in row.index
                       if str(c).startswith("flagged_") and row[c] > 0}
            if flagged:
                counts = ", ".join(f"{n} by {name}" for name, n in flagged.items())
                found.append(Finding(
                    f"{where}, {rate:.0%}: of the worlds where that package succeeds, "
                    f"the model card's sanity checks flag {counts} (a success for the wrong "
                    "reason; see Sanity checks).", caveat=True))
        else:
            text = (f"{where}: no package evaluated sustains {system} in {rate:.0%}"
                    f"{worlds}; the best reached {float(row['success_rate']):.0%} (at "
                    f"{_money(row['cost'])}). Widen the bounds or run more generations, or the "
                    "rate is out of reach in this region.")
            found.append(Finding(text, caveat=True, headline=True))
    return found


def near_optimal_findings(near: pd.DataFrame, *, label: Callable[[str], str] = str
                          ) -> list[Finding]:
    """One caveat per optimum with other packages about as cheap: the ranges of the variables
    over them (read the optimum's cost, not the exact values of a wide variable)."""
    found = []
    for (region, rate), rows in near.groupby(["region", "required_rate"], sort=False):
        spread = [f"{label(str(r.variable))} {_short(r.lower)}-{_short(r.upper)}"
                  for r in rows.itertuples() if r.upper > r.lower]
        count = int(rows["packages"].iloc[0])
        if count > 1 and spread:
            found.append(Finding(
                f"{str(region).replace('_', ' ')}, {float(rate):.0%}: {count} packages "
                f"evaluated reach the rate within 5% of the optimum's cost, with "
                f"{', '.join(spread)}: the cost is better determined than the package.",
                caveat=True))
    return found


def _short(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.2g}"


def _optimisation(ctx: ReportContext) -> Section | None:
    analyses = ctx.results.analyses
    optima = analyses.get("optimize_optima")
    front = analyses.get("optimize_front")
    if optima is None or front is None:
        return None  # the study has no [optimize] table
    evaluated = analyses.get("optimize_evaluated")
    summary = ctx.results.summary.get("optimize", {}) if ctx.results.summary else {}
    spec = summary.get("spec", {})
    n_worlds = summary.get("n_worlds")
    variables = [c for c in front.columns if c not in ("region", "success_rate", "cost")]
    units = {name: ctx.units.get(name, "") for name in variables}
    outcome = spec.get("outcome", "the outcome")
    description = ctx.metric_description(outcome) if spec else ""
    found = optimum_findings(optima, variables=variables, units=units, n_worlds=n_worlds,
                             label=ctx.factor_label, system=ctx.word("system"))
    ctx.add(found, topic=TITLE)
    for finding in found:  # the optimum answers "at what public cost": the brief shows it
        ctx.offer(BriefItem("caveat" if finding.caveat else "answer", finding.text, rank=2,
                            section=TITLE))
    figure = _new_figure(height=3.8)
    plot_pareto_front(front, evaluated=evaluated, optima=optima,
                      ax=figure.add_subplot())
    blocks: list[Block] = [
        Paragraph(
            f"For each region, differential evolution searched the packages within the bounds "
            f"of [optimize] for the cheapest one that succeeds ({outcome}"
            + (f": {description}" if description else "")
            + f") in at least the required share of the same {n_worlds or ''} worlds; the "
            "public cost is the mean over the worlds of "
            f"{spec.get('cost', 'the cost outcome')}. Every package is run in the same worlds, "
            "so the differences between packages are not sampling noise; the success rate "
            "moves in steps of one world."),
        *[Paragraph(f.text) if not f.caveat else Caution(f.text) for f in found],
        figure_block("optimize_front", figure,
                     caption="Public cost against success rate: every package evaluated "
                     "(dots), the Pareto front (no package is both cheaper and more "
                     "successful; step line) and the cheapest package per required rate "
                     "(stars), one colour per region.",
                     alt="Pareto front of public cost against success rate per region"),
        TableBlock("optimize_optima", optima,
                   "The cheapest package per region and required success rate "
                   "(found = False: no package evaluated reached the rate; the row is the "
                   "package with the best rate)."),
        TableBlock("optimize_front", front, "The Pareto front per region, by increasing cost."),
    ]
    near = analyses.get("optimize_near")
    if near is not None and len(near):
        sharpness = near_optimal_findings(near, label=ctx.factor_label)
        ctx.add(sharpness, topic=TITLE)
        blocks += [*[Caution(f.text) for f in sharpness],
                   TableBlock("optimize_near", near,
                              "How sharp each optimum is: the range of each variable over "
                              "the packages evaluated that reach the same rate within 5% of "
                              "the optimum's cost.")]
    if summary.get("seconds") is not None and evaluated is not None:
        blocks.append(Paragraph(f"{len(evaluated)} packages evaluated in "
                                f"{float(summary['seconds']):.0f} s (all of them in "
                                "analyses/optimize_evaluated.csv)."))
    return _section(TITLE, blocks)
