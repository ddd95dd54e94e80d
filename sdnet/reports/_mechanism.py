"""The policy comparison's "What keeps ... alive" part: what a package's successes live on.

A package's success rate can come from an artefact (issue 13: networks kept alive by the fees
of members who lose money on membership). With the model card's ``[mechanism]``, a package
study writes ``analyses/mechanisms.csv`` (:mod:`sdnet.mechanism`); this part shows the shares
of the whole (flexnet: the network's income by source) and the states over the worlds where
each package succeeds, and says the card's cautions that hold on their medians.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from sdnet.plotting import plot_income_shares
from sdnet.reports._context import ReportContext, _new_figure
from sdnet.reports._document import Block, Caution, Heading, Paragraph, TableBlock, figure_block
from sdnet.reports._findings import Finding


def _value(value: float, units: str) -> str:
    """A state's value in its units' style: money as $1,234, else three significant digits."""
    if not math.isfinite(value):
        return "-"
    if units.startswith("$"):
        return f"-${-value:,.0f}" if value < 0 else f"${value:,.0f}"
    return f"{value:.3g}"


def _cell(row: pd.Series) -> str:
    """A share or state over the successes: median (10th-90th percentile)."""
    if int(row["runs"]) == 0:
        return "-"
    if row["kind"] == "share":
        return (f"{100 * row['median']:.0f}% ({100 * row['low']:.0f}-"
                f"{100 * row['high']:.0f}%)")
    units = str(row["units"]) if isinstance(row["units"], str) else ""
    return (f"{_value(row['median'], units)} ({_value(row['low'], units)} to "
            f"{_value(row['high'], units)})")


def mechanism_table(mechanisms: pd.DataFrame, preset: str) -> pd.DataFrame:
    """One row per region and package with a success: how many, then each share and state
    as median (10th-90th percentile) over the successes (the region column left out when
    there is none)."""
    rows = []
    for (region, package), part in mechanisms.groupby(["region", "package"], sort=False):
        successes = int(part["successes"].iloc[0])
        if successes == 0:
            continue
        entry: dict[str, Any] = {preset: region, "package": package, "successes": successes}
        for _, row in part.iterrows():
            entry[str(row["name"])] = _cell(row)
        rows.append(entry)
    table = pd.DataFrame(rows)
    if not table.empty and set(mechanisms["region"].astype(str)) == {"default"}:
        table = table.drop(columns=[preset])
    return table


def _duration(value: float, unit: str) -> str:
    """``10 years`` for 10 and "Year" (a unit that is a word), else ``10 Year``."""
    if unit.isalpha():
        word = unit.lower()
        return f"{value:g} {word}{'' if value == 1 or word.endswith('s') else 's'}"
    return f"{value:g} {unit or 'time units'}"


def _where(region: str, preset: str) -> str:
    return ("Over all worlds" if region == "default"
            else f"In the {region.replace('_', ' ')} {preset}")


def _caution_text(record: dict[str, Any], preset: str,
                  labels: dict[str, str] | None = None) -> str:
    medians = ", ".join(
        f"{m['name']} {100 * float(m['median']):.0f}%" if m.get("kind") == "share"
        else f"{m['name']} {_value(float(m['median']), str(m.get('units') or ''))}"
        for m in record["medians"])
    package = (labels or {}).get(str(record["package"]), str(record["package"]))
    return (f"{_where(str(record['region']), preset)}, the successes of {package} look "
            f"like {record['plain']} (medians: {medians}; the card's condition: "
            f"{' and '.join(record['conditions'])}).")


def _labels(packages: pd.DataFrame) -> dict[str, str]:
    """Package name -> the package in plain words: its label in quotes, else its name."""
    labels = {}
    for _, row in packages.iterrows():
        label = row.get("label")
        text = str(label) if isinstance(label, str) and label.strip() else str(row["package"])
        labels[str(row["package"])] = f"\u201c{text}\u201d"
    return labels


def _answer(packages: pd.DataFrame) -> set[tuple[str, str]]:
    """(region, package) of the packages that succeed most often in their region (ties
    included): those the answer names."""
    named = set()
    for region, part in packages.groupby(packages["region"].astype(str), sort=False):
        rates = part["success_rate"].astype(float)
        named |= {(str(region), str(p)) for p in part.loc[rates == rates.max(), "package"]}
    return named


def _findings(mechanisms: pd.DataFrame, packages: pd.DataFrame, shares: list[str],
              whole: str, preset: str) -> list[Finding]:
    """Per region: what the successes of the package that succeeds most often (the cheapest
    per success among ties) live on."""
    found = []
    labels = _labels(packages)
    for region in dict.fromkeys(packages["region"].astype(str)):
        part = packages[packages["region"].astype(str) == region]
        rates = part["success_rate"].astype(float)
        top = part[rates == rates.max()]
        costs = pd.to_numeric(top.get("cost_per_success"), errors="coerce")
        best = top.loc[costs.idxmin()] if costs is not None and costs.notna().any() \
            else top.iloc[0]  # among ties, the cheapest per success
        rows = mechanisms[(mechanisms["region"].astype(str) == region)
                          & (mechanisms["package"] == best["package"])
                          & (mechanisms["kind"] == "share")]
        if rows.empty or int(rows["successes"].iloc[0]) == 0:
            continue
        ordered = [r for _, r in rows.sort_values("mean", ascending=False).iterrows()
                   if r["name"] in shares]
        split = ", ".join([f"{100 * float(ordered[0]['mean']):.0f}% of {whole} from "
                           f"{ordered[0]['name']}"]
                          + [f"{100 * float(r['mean']):.0f}% from {r['name']}"
                             for r in ordered[1:]])
        found.append(Finding(
            f"{_where(region, preset)}, the {int(rows['successes'].iloc[0])} successes of the "
            f"package that succeeds most often, {labels[str(best['package'])]}, get on "
            f"average "
            f"{split}."))
    return found


def mechanism_blocks(ctx: ReportContext, packages: pd.DataFrame, *,
                     topic: str) -> list[Block]:
    """The heading, paragraph, figure, table and cautions of what keeps the successes
    alive; nothing when the study wrote no ``analyses/mechanisms.csv``."""
    mechanisms = ctx.results.analyses.get("mechanisms")
    record = ctx.results.summary.get("mechanism")
    if mechanisms is None or mechanisms.empty or not record:
        return []
    preset = ctx.word("preset")
    system = ctx.word("system")
    whole = str(record.get("plain") or "the whole")
    shares = [str(s) for s in record.get("shares", [])]
    states = [str(s) for s in record.get("states", [])]
    after = float(record.get("after_push", 0.0))
    success = ctx.outcome_label(str(record.get("success", "")))
    schedule = ctx.word("schedule")
    blocks: list[Block] = [
        Heading(f"What keeps {system} alive in the successful worlds"),
        Paragraph(
            f"In the worlds where a package succeeds ({success}), "
            f"{_duration(after, ctx.time_unit)} after {schedule} ends: the shares of {whole} "
            f"({', '.join(shares)})" + (f" and {', '.join(states)}" if states else "")
            + ", as the median with the 10th to 90th percentile over those worlds. The figure "
            "shows the mean shares (they add up to 100%). A success that lives on one "
            "suspicious source is an artefact to check before trusting its rate."),
    ]
    figure = _new_figure(height=max(2.6, 0.22 * len(mechanisms.groupby(
        ["region", "package"])) + 1.6))
    plot_income_shares(mechanisms, whole=whole, preset=preset, ax=figure.add_subplot())
    blocks.append(figure_block(
        "mechanism_shares", figure,
        caption=f"Mean share of {whole} by source in the worlds where each package "
        f"succeeds, {_duration(after, ctx.time_unit)} after {schedule} ends, per "
        f"{preset} (shares of 1).",
        alt=f"Stacked horizontal bars, one per {preset} and package, split into "
        f"{', '.join(shares)}."))
    table = mechanism_table(mechanisms, preset)
    if table.empty:
        blocks.append(Paragraph("No package succeeds in any world, so there is nothing to "
                                "show."))
        return blocks
    blocks.append(TableBlock("mechanisms", table, "analyses/mechanisms.csv in words: median "
                             "(10th-90th percentile) over the worlds where the package "
                             "succeeds."))
    records = list(record.get("cautions") or [])
    cautions = [_caution_text(c, preset, _labels(packages)) for c in records]
    blocks.extend(Caution(text) for text in cautions)
    answer = _answer(packages)
    for caution, text in zip(records, cautions, strict=True):
        # a caution on a package the answer names is what the answer rests on (the brief's
        # caveats say it); one on another package stays with the evidence
        named = (str(caution["region"]), str(caution["package"])) in answer
        ctx.add([Finding(text, caveat=named, headline=named)], topic=topic)
    if not records and mechanisms["successes"].astype(int).gt(0).any():
        blocks.append(Paragraph("None of the model card's cautions about what the successes "
                                "live on holds on these medians."))
    ctx.add(_findings(mechanisms, packages, shares, whole, preset), topic=topic)
    return blocks
