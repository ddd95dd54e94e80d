"""The report's closing sections: findings, numerical checks, other tables, provenance."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import replace

import pandas as pd

from sdnet.reports._context import ReportContext, _section, _without_local_paths
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
)
from sdnet.reports._findings import (
    Finding,
    comparison_findings,
    hysteresis_findings,
    regime_findings,
)
from sdnet.reports._results import ratio_entries


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
            named = "; ".join(ctx.outcome_label(m) for m in bad)
            text = (f"these outcomes change by more than the tolerance when the time step is "
                    f"halved or RK4 is used, so integration error may affect them: {named}.")
            blocks.append(Caution(text))
            ctx.add([Finding(text[0].upper() + text[1:], caveat=True)],
                    topic="Numerical checks")
        else:
            blocks.append(Paragraph("Every metric is stable under half the time step and RK4."))
    return _section("Numerical checks", blocks)


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _where_text(where: object, limit: int = 3, *,
                label: Callable[[str], str] = str) -> str:
    """``"Broker Share 0.61-0.8 (of 0-1)"`` for the narrowest factor ranges of flagged runs
    (``label`` gives a factor's name for readers)."""
    if not isinstance(where, list | tuple):
        return ""
    parts = [f"{label(str(w['factor']))} {_number(w['low'])}-{_number(w['high'])} (of "
             f"{_number(w['all_low'])}-{_number(w['all_high'])})"
             for w in where[:limit] if isinstance(w, Mapping)]
    return ", ".join(parts)


def _sanity(ctx: ReportContext) -> Section | None:
    """The model card's sanity checks: how many runs each flags, in which cases, where."""
    checks = ctx.results.summary.get("sanity")
    if not isinstance(checks, Mapping) or not checks:
        return None
    rows = []
    found: list[Finding] = []
    for name, entry in checks.items():
        if not isinstance(entry, Mapping):
            continue
        flagged, runs = int(entry.get("flagged", 0)), int(entry.get("runs", 0))
        by_case = entry.get("by_case") if isinstance(entry.get("by_case"), Mapping) else {}
        cases = "; ".join(f"{ctx.case_label(str(case))}: {v.get('flagged', 0)} of "
                          f"{v.get('runs', 0)}"
                          for case, v in by_case.items() if isinstance(v, Mapping))
        where = _where_text(entry.get("where"), label=ctx.factor_label)
        rows.append({"check": str(name).replace("_", " "), "flagged runs": flagged,
                     "of runs": runs,
                     "per case": cases, "where (factor ranges of flagged runs)": where,
                     "what it flags": str(entry.get("plain", ""))})
        if flagged:
            share = f" ({100 * flagged / runs:.1f}%)" if runs else ""
            check = str(name).replace("_", " ")
            text = (f"Sanity check {check}: {flagged} of {runs} runs{share} are "
                    f"{entry.get('plain', name)}; per case {cases}")
            text += f"; they lie at {where}." if where else "."
            found.append(Finding(text, caveat=True, headline=True))
    if not rows:
        return None
    clean = [str(r["check"]) for r in rows if not r["flagged runs"]]
    if clean:
        found.append(Finding(f"No run is flagged by the sanity check"
                             f"{'s' if len(clean) > 1 else ''} {', '.join(clean)}."))
    ctx.add(found, topic="Sanity checks")
    blocks: list[Block] = [
        Paragraph("The model card's sanity checks flag runs that reach an outcome for the "
                  "wrong reason; a flagged run counts as sustained in the metrics above, so "
                  "read those numbers with these counts in mind."),
        TableBlock("sanity", pd.DataFrame(rows), "Runs each sanity check of the model card "
                   "flags, per case, and the factor ranges the flagged runs come from (factors "
                   "whose flagged runs' 5th-95th percentiles span at most half their range)."),
    ]
    return _section("Sanity checks", blocks)


_SHOWN_KINDS = ("morris_", "sobol_", "fast_", "time_resolved_", "convergence_", "prim_")


_SHOWN_NAMES = ("thresholds", "thresholds_amount", "integration_check", "screen_stability",
                "optimize_optima", "optimize_front", "optimize_evaluated", "optimize_near",
                "packages", "package_worlds", "expectations", "mechanisms")


def _other_tables(ctx: ReportContext) -> Section | None:
    """Analysis tables the sections above do not draw (e.g. hysteresis, comparisons)."""
    others = {
        stem: frame for stem, frame in ctx.results.analyses.items()
        if not stem.startswith(_SHOWN_KINDS) and stem not in _SHOWN_NAMES
    }
    if not others:
        return None
    blocks: list[Block] = [Paragraph("Further tables the study wrote, shown as they are.")]
    def in_words(frame: pd.DataFrame) -> pd.DataFrame:
        columns = {}
        if "region" in frame.columns:
            columns["region"] = frame["region"].map(lambda r: ctx.case_label(str(r)))
        if "metric" in frame.columns:
            columns["metric"] = frame["metric"].map(lambda m: ctx.outcome_label(str(m)))
        return frame.assign(**columns)

    if "hysteresis" in others:
        ctx.add(hysteresis_findings(in_words(others["hysteresis"]), system=ctx.word("system"),
                                    members=ctx.word("members")),
                topic="Tipping point and memory")
    if "comparison" in others:
        ctx.add(comparison_findings(in_words(others["comparison"])),
                topic="Which push works better")
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
        return regime_findings(regime[main], None if ok is None else ok[main],
                               words=ctx.card.words)
    found: list[Finding] = []
    for case in dict.fromkeys(cases[main]):
        rows = main & (cases == case).to_numpy()
        for finding in regime_findings(regime[rows], None if ok is None else ok[rows],
                                       words=ctx.card.words):
            found.append(replace(finding, text=f"{ctx.case_label(str(case))}: {finding.text}"))
    return found


def _ratio_table(ratios: object, *, label: Callable[[str], str] = str,
                 outcome: Callable[[str], str] = str) -> pd.DataFrame | None:
    """summary.json's ``ratios`` as a table: case, ratio, both totals and the value."""
    rows = []
    for case, name, entry in ratio_entries(ratios):
        value = entry.get("value")
        units = entry.get("units", "")
        rows.append({
            "case": label(case), "ratio": str(entry.get("plain") or name),
            "numerator (total)": f"{_number(float(entry.get('numerator', 0.0)))} "
                                 f"({outcome(str(entry.get('numerator_outcome', '')))})",
            "denominator (total)": f"{_number(float(entry.get('denominator', 0.0)))} "
                                   f"({outcome(str(entry.get('denominator_outcome', '')))})",
            "value": "none survived" if value is None
            else f"{_number(float(value))} {units}".strip()})
    return pd.DataFrame(rows) if rows else None


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
        outcomes = list(dict.fromkeys(str(k) for values in means.values() for k in values))
        frame = pd.DataFrame([{"outcome": ctx.outcome_label(name),
                               "units": ctx.metric_units(name) or "",
                               **{ctx.case_label(str(case)): values.get(name)
                                  for case, values in means.items()}}
                              for name in outcomes])
        blocks.append(TableBlock("metric_means", frame,
                                 "Mean of each outcome over the runs of each case (a yes/no "
                                 "outcome's mean is the share of runs in which it happened)."))
    ratios = _ratio_table(summary.get("ratios"), label=ctx.case_label,
                          outcome=ctx.outcome_label)
    if ratios is not None:
        blocks.append(TableBlock("ratios", ratios, "Totals of two outcomes over each case's runs "
                                 "and their ratio (the model card's [[ratios]]); 'none "
                                 "survived' where the denominator's total is zero."))
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
