"""The "Policy comparison" section: packages compared in the same worlds (issue 13, s. 2)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from sdnet.plotting import plot_package_comparison
from sdnet.reports._brief import BriefItem
from sdnet.reports._context import ReportContext, _new_figure, _section
from sdnet.reports._document import (
    Block,
    Caution,
    FigureBlock,
    Paragraph,
    Section,
    TableBlock,
    figure_block,
)
from sdnet.reports._findings import Finding
from sdnet.reports._mechanism import mechanism_blocks

TITLE = "Policy comparison"


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _money(value: Any) -> str:
    number = _number(value)
    return "undefined" if number is None else f"${number:,.0f}"


def _share(value: Any) -> str:
    number = _number(value)
    return "-" if number is None else f"{100 * number:.1f}%"


def _table(summary: pd.DataFrame, preset: str,
           ratios: dict[str, str] | None = None) -> pd.DataFrame:
    """The comparison in words and rounded numbers, one row per preset (region) and
    package (the preset column left out when there is none)."""
    rows = []
    ratios = ratios or {}
    has_cost = "cost_per_success" in summary.columns
    for _, row in summary.iterrows():
        entry = {
            preset: row["region"], "package": row["package"],
            "what it does": row.get("label", row["package"]),
            "success": f"{_share(row['success_rate'])} ({_share(row['success_low'])}-"
                       f"{_share(row['success_high'])})",
            "successes / worlds": f"{int(row['successes'])} / {int(row['worlds'])}",
        }
        if has_cost:
            value = _number(row["cost_per_success"])
            low, high = _money(row["cost_per_success_low"]), _money(
                row["cost_per_success_high"])
            if value is None and int(row["successes"]) == 0:
                entry["public cost per success"] = f"undefined: no success in " \
                    f"{int(row['worlds'])} worlds"
            elif value is None:
                entry["public cost per success"] = (
                    f"too few successes for a value ({low} to "
                    f"{'unbounded' if high == 'undefined' else high})")
            else:
                entry["public cost per success"] = f"{_money(value)} ({low}-{high})"
            entry["public money per world"] = _money(row["public_cost_mean"])
            entry["extra cost over the cheapest success"] = _money(row["regret_cost_mean"])
        for name, header in ratios.items():
            entry[header] = _money(row.get(name))
        entry["success regret"] = _share(row["regret_success_mean"])
        entry["satisficing"] = _share(row["satisficing"])
        rows.append(entry)
    table = pd.DataFrame(rows)
    if set(summary["region"]) == {"default"}:
        table = table.drop(columns=[preset])
    return table


def _label(row: pd.Series) -> str:
    """A package in plain words: its label, else its name."""
    label = row.get("label")
    text = str(label) if isinstance(label, str) and label.strip() else str(row["package"])
    return f"\u201c{text}\u201d"


def _listed(labels: list[str], most: int = 3) -> str:
    """At most ``most`` labels, then how many more."""
    shown = "; ".join(labels[:most])
    return shown + (f"; and {len(labels) - most} more" if len(labels) > most else "")


def _findings(summary: pd.DataFrame, preset: str) -> list[Finding]:
    """Per preset (region): the packages that succeed most often, against the base package
    when there is one, and the cheapest per success, in the packages' plain labels."""
    found = []
    for region in dict.fromkeys(summary["region"]):
        part = summary[summary["region"] == region]
        where = ("Over all worlds" if region == "default"
                 else f"In the {str(region).replace('_', ' ')} {preset}")
        top = part[part["success_rate"] == part["success_rate"].max()]
        best = top.iloc[0]
        rate = (f"{_share(best['success_rate'])} of the worlds "
                f"({_share(best['success_low'])}-{_share(best['success_high'])}, "
                f"{int(best['successes'])} of {int(best['worlds'])})")
        if len(top) == 1:
            text = f"{where}, {_label(best)} succeeds most often: in {rate}"
        else:
            text = (f"{where}, {len(top)} packages succeed equally often, in {rate}: "
                    f"{_listed([_label(r) for _, r in top.iterrows()])}")
        base = part[part["package"] == "base"]
        if not base.empty and "base" not in set(top["package"]):
            text += (f" (against {_share(base.iloc[0]['success_rate'])} with "
                     f"{_label(base.iloc[0])})")
        if "cost_per_success" in part.columns:
            costs = pd.to_numeric(part["cost_per_success"], errors="coerce")
            if costs.notna().any():
                cheap = part.loc[costs.idxmin()]
                text += (f". The lowest public cost per success is "
                         f"{_money(cheap['cost_per_success'])} "
                         f"({_money(cheap['cost_per_success_low'])}-"
                         f"{_money(cheap['cost_per_success_high'])}), with "
                         f"{_label(cheap)}, which succeeds in "
                         f"{_share(cheap['success_rate'])}")
            else:
                text += "; no package succeeds often enough for a cost per success"
        found.append(Finding(text + ".", headline=True))
    return found


def _packages(ctx: ReportContext) -> Section | None:
    """Success rate and public cost per success of every package in every region."""
    summary = ctx.results.analyses.get("packages")
    if summary is None or summary.empty:
        return None
    settings = ctx.results.summary.get("packages", {}) or {}
    success = str(settings.get("success", "success"))
    plain = ctx.metric_description(success) or ""
    at_least = settings.get("at_least", 0.5)
    if at_least == 0.5 and plain.startswith("1 if "):  # a 0/1 outcome of the card
        success_words = f"{success} = 1: {plain[5:]}"
    else:
        success_words = f"{success} >= {at_least:g}" + (f" ({plain})" if plain else "")
    design = ctx.results.design or {}
    worlds = int(summary["worlds"].max() + summary["failed"].max())
    source = (design.get("settings") or {}).get("source") if design.get("method") == "sets" \
        else None
    where = (f"{worlds} worlds drawn from {source} (seed {design.get('seed')})" if source
             else f"the same {worlds} design rows")
    confidence = settings.get("confidence", 0.95)
    preset = ctx.word("preset")
    several = summary["region"].nunique() > 1
    blocks: list[Block] = [Paragraph(
        f"Every package ran in {where}" + (f", in every {preset}" if several else "")
        + f", so the packages differ only by what they do. Success: {success_words}. The "
        f"intervals are {100 * confidence:.0f}% Wilson intervals of the share of worlds; "
        "public cost per success is the public money a "
        "package spent over all worlds divided by its successes, with an interval from the "
        "success rate's (undefined when a package succeeds fewer than "
        f"{settings.get('min_successes', 5)} times). Success regret is the share of worlds "
        "where another package succeeds and this one does not; the extra cost is, in the "
        "worlds where the package succeeds, the public money it spends beyond the cheapest "
        "package that also succeeds there. Satisficing: the share of worlds where the package "
        "meets " + (", ".join(settings.get("satisfice") or []) or "the success criterion")
        + ".")]
    figure = _new_figure(height=4.2)
    plot_package_comparison(summary, ax=figure.add_subplot())
    blocks.append(figure_block(
        "package_comparison", figure,
        caption="Share of worlds where each package succeeds (with its interval) against its "
        f"public cost per success (with its interval), per {preset}.",
        alt="Scatter of success rate against public cost per success, one marker per "
        f"package, one colour per {preset}."))
    failed = int(summary["failed"].sum())
    if failed:
        blocks.append(Caution(f"{failed} runs failed and are left out of the shares above."))
    # the card's money ratios other than cost per success (flexnet: per surviving member)
    ratios = {r.name: r.plain.split(" (")[0] for r in (ctx.card.ratios if ctx.card else ())
              if r.name in summary.columns and "$" in r.units
              and r.denominator != settings.get("success")}
    blocks.append(TableBlock("packages", _table(summary, preset, ratios),
                             "analyses/packages.csv in words; per world: "
                             "analyses/package_worlds.csv."))
    checks = ctx.results.analyses.get("expectations")
    expected: list[Finding] = []
    if checks is not None and not checks.empty:
        blocks.extend(_expectation_blocks(checks, preset))
        expected = _expectation_findings(checks)
        ctx.add(expected, topic=TITLE)
    selected = _selected_cautions(settings.get("selected_by_targets") or [], preset)
    blocks.extend(Caution(text) for text in selected)
    found = _findings(summary, preset)
    ctx.add(found, topic=TITLE)
    # the worlds were chosen on these cases: what the answer rests on comes first
    for text in selected:
        ctx.offer(BriefItem("caveat", text, rank=0, section=TITLE))
    # the comparison answers the study's question: it leads the brief at the top, with
    # whether the answer agrees with the literature right after it
    for finding in found:
        ctx.offer(BriefItem("caveat" if finding.caveat else "answer", finding.text,
                            rank=0, section=TITLE))
    if checks is not None and not checks.empty:  # one line: the brief stays one page
        ctx.offer(BriefItem("answer", _agreement_line(checks), rank=1, section=TITLE))
    comparison = next(b for b in blocks if isinstance(b, FigureBlock))
    blocks.extend(mechanism_blocks(ctx, summary, topic=TITLE))
    ctx.offer(BriefItem("figure", comparison.caption, rank=0, figure=comparison,
                        section=TITLE))
    return _section(TITLE, blocks)


def _selected_cautions(records: list[Any], preset: str) -> list[str]:
    """One caution per package and region that is the scenario of history-matching targets
    (summary.json ``packages.selected_by_targets``): the worlds were kept because the package's
    runs there reproduce those targets, so its success rate there is partly an input."""
    texts = []
    for record in records:
        if not isinstance(record, dict) or not record.get("targets"):
            continue  # an older or hand-edited summary
        names = [str(n) for n in record["targets"]]
        where = (f"In the {str(record['region']).replace('_', ' ')} {preset}, "
                 if record.get("region") else "")
        package = record.get("label") or record.get("package")
        outputs = ", ".join(str(o) for o in record.get("outputs") or [])
        text = (f"{where}the package '{package}' is the scenario of the history-matching "
                f"target{'s' if len(names) > 1 else ''} {_and(names)}"
                + (f" (on {outputs})" if outputs else "")
                + ": the worlds were kept because this package's runs there reproduce "
                f"{'them' if len(names) > 1 else 'it'}, so its success rate there is partly an "
                "input of the calibration, not a finding")
        claims = [str(c).split(":")[0] for c in record.get("claims") or []]
        if claims:
            text += f", and so are the claims that use it ({', '.join(claims)})"
        texts.append(text[0].upper() + text[1:] + ".")
    return texts


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _rate_words(rate: float, low: float, high: float) -> str:
    if low == high:
        return f"{rate:.0%}"
    return f"{rate:.1%} ({low:.1%}-{high:.1%})"


def _expectation_rows(checks: pd.DataFrame) -> pd.DataFrame:
    """The claims in words: per finding and region, both sides' rates and the verdict."""
    rows = []
    for _, row in checks.iterrows():
        verdict = ("holds, intervals apart" if row["apart"] else "holds within noise"
                   if row["holds"] else "does not hold")
        rows.append({"finding": row["finding"], "claim": row["claim"],
                     "where": row["region"] or "as stated",
                     "left side": f"{row['left']}: " + _rate_words(
                         row["left_rate"], row["left_low"], row["left_high"]),
                     "right side": f"{row['right']}: " + _rate_words(
                         row["right_rate"], row["right_low"], row["right_high"]),
                     "verdict": verdict})
    return pd.DataFrame(rows)


def _expectation_blocks(checks: pd.DataFrame, preset: str) -> list[Block]:
    """Does the answer agree with the literature? Each claim per region, with the numbers."""
    return [Paragraph(
        "Does the answer agree with the literature? The study states findings of the "
        "literature as claims on success rates, checked in every "
        f"{preset} they apply to; 'within noise' means the point rates satisfy the claim but "
        "their intervals overlap."),
        TableBlock("expectations", _expectation_rows(checks),
                   "analyses/expectations.csv in words (success rates with their intervals).")]


def _agreement_line(checks: pd.DataFrame) -> str:
    """The literature check in one sentence: each finding's verdict."""
    parts = []
    for (finding, _claim), part in checks.groupby(["finding", "claim"], sort=False):
        name = str(finding).split(":")[0]
        if not part["holds"].astype(bool).all():
            parts.append(f"{name} does not")
        elif part["apart"].astype(bool).all():
            parts.append(f"{name} agrees")
        else:
            parts.append(f"{name} agrees within noise")
    agree = sum(p.endswith("agrees") for p in parts)
    return (f"Against the literature, {agree} of {len(parts)} findings agree beyond the "
            f"noise of the worlds: {'; '.join(parts)} (claims and rates in the policy "
            "comparison).")


def _expectation_findings(checks: pd.DataFrame) -> list[Finding]:
    """One finding per claim: agrees, agrees within noise, or where it fails and by how much."""
    found = []
    for (finding, claim), part in checks.groupby(["finding", "claim"], sort=False):
        failed = part[~part["holds"].astype(bool)]
        if failed.empty:
            how = "agrees" if bool(part["apart"].all()) else "agrees within noise"
            found.append(Finding(f"{finding}: the study {how} ({claim}).", headline=True))
            continue
        cases = "; ".join(
            f"{r['region'] or 'as stated'}: {r['left']} {r['left_rate']:.1%} vs "
            f"{r['right']} {r['right_rate']:.1%}" for _, r in failed.iterrows())
        found.append(Finding(f"{finding}: the study does not agree ({claim} fails in "
                             f"{cases}).", headline=True))
    return found
