"""The one-page brief at the top of a report: the answer in plain words, the decisive figure,
the public cost per success and what the answer depends on.

Every section may offer the brief :class:`BriefItem` objects while it is built
(``ctx.offer(BriefItem(...))``); :func:`brief_section` collects them, best rank first, with
the items this module reads from the study's numbers itself (how often each yes/no outcome
happened, which factors matter most, the card's cost ratios, the findings' cautions). A
section that answers the question better (a policy comparison) offers its headline with a low
``rank`` and its figure as ``kind="figure"``: it then leads the brief.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sdnet.errors import InvalidValueError
from sdnet.reports._document import (
    Block,
    Bullets,
    FigureBlock,
    Heading,
    Note,
    Paragraph,
    Section,
    fmt,
)
from sdnet.reports._results import ratio_entries

if TYPE_CHECKING:
    from sdnet.reports._context import ReportContext

__all__ = ["KINDS", "BriefItem", "brief_section"]

#: What a brief item can be: the answer (sentences), the decisive figure, a public cost per
#: success, or something the answer depends on (a caution).
KINDS = ("answer", "figure", "cost", "caveat")

#: How many items of each kind the brief shows (it must fit one page).
_SHOWN = {"answer": 6, "cost": 4, "caveat": 5}


@dataclass(frozen=True, eq=False)
class BriefItem:
    """What a section offers the brief at the top of the report.

    Attributes
    ----------
    kind : str
        ``"answer"`` (a sentence answering the study's question), ``"figure"`` (a candidate
        for the decisive figure: ``figure`` is its block, ``text`` says what it shows),
        ``"cost"`` (public money per success) or ``"caveat"`` (what the answer depends on).
    text : str
        Plain words, with the card's plain names and the model's own names of factors, never
        Python names.
    rank : int
        Lower comes first; the figure with the lowest rank is the brief's figure. sdnet's own
        items use 10-60; a policy comparison's headline should use 0-9 to lead.
    figure : FigureBlock or None
        The figure (``kind="figure"`` only); the brief shows it again under another name.
    section : str
        The title of the section holding the evidence ("see ...").
    """

    kind: str
    text: str
    rank: int = 50
    figure: FigureBlock | None = None
    section: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidValueError("kind", self.kind, expected=f"one of {', '.join(KINDS)}")
        if (self.kind == "figure") != (self.figure is not None):
            raise InvalidValueError("figure", self.figure, expected="a FigureBlock exactly "
                                    "when kind is 'figure'")


#: Above this many cases, a brief item gives the lowest and the highest value only.
_CASES_SHOWN = 4


def _across(parts: list[tuple[float | None, str]], *, none: str) -> str:
    """Values per case (value, "13% of 500 runs (typical)") in one phrase: every case when
    there are few, else the lowest and the highest (and how many have no value: ``none``)."""
    if len(parts) <= _CASES_SHOWN:
        return "; ".join(text for _, text in parts)
    valued = [(v, t) for v, t in parts if v is not None]
    missing = len(parts) - len(valued)
    if not valued:
        return f"{none} in all {len(parts)} cases"
    low, high = min(valued, key=lambda p: p[0]), max(valued, key=lambda p: p[0])
    text = f"from {low[1]} to {high[1]} over {len(parts)} cases"
    return text + (f"; {none} in {missing}" if missing else "")


def _pct(share: float) -> str:
    return f"{100 * share:.0f}%" if share >= 0.01 or share == 0 else f"{100 * share:.1f}%"


def _yes_no_columns(ctx: ReportContext) -> list[str]:
    """Metrics of the main stage that are 0 or 1 in every finished run (yes/no outcomes)."""
    metrics, main = ctx.results.metrics, ctx.results.main_mask()
    if metrics is None or main is None:
        return []
    found = []
    bookkeeping = {"run", "case", "stage", "status", "row"}
    for column in metrics.columns:
        if column in bookkeeping or not pd.api.types.is_numeric_dtype(metrics[column]):
            continue
        values = metrics.loc[main, column].to_numpy(float)
        values = values[np.isfinite(values)]
        if values.size and np.isin(values, (0.0, 1.0)).all():
            found.append(str(column))
    return found


def _outcome_answers(ctx: ReportContext) -> list[BriefItem]:
    """How often each yes/no outcome happened in each case (the card's outcomes first)."""
    metrics, main = ctx.results.metrics, ctx.results.main_mask()
    columns = _yes_no_columns(ctx)
    if metrics is None or main is None or not columns:
        return []
    card = [name for name in ctx.card.outcomes if name in columns]
    ordered = card + [c for c in columns if c not in card]
    cases = (metrics.loc[main, "case"].astype(str) if "case" in metrics.columns
             else pd.Series("", index=metrics.index[main]))
    items = []
    for position, column in enumerate(ordered):
        parts: list[tuple[float | None, str]] = []
        for case in dict.fromkeys(cases):
            values = metrics.loc[main, column][cases == case].to_numpy(float)
            values = values[np.isfinite(values)]
            if values.size:
                where = f" ({ctx.case_label(case)})" if case and cases.nunique() > 1 else ""
                share = float(values.mean())
                parts.append((share, f"{_pct(share)} of {len(values):,} runs{where}"))
        if not parts:
            continue
        label = ctx.outcome_label(column)
        label = label[0].upper() + label[1:]
        items.append(BriefItem("answer", f"{label}: {_across(parts, none='no runs')}.",
                               rank=10 + position, section="Findings"))
    return items


def _ranked_metric(ctx: ReportContext) -> str | None:
    """The metric the study ranks levers on: the one its sample grew for, else its screen's,
    else the first with Sobol' indices."""
    summary = ctx.results.summary
    for key in ("growth", "screen_stability"):
        entry = summary.get(key)
        if isinstance(entry, Mapping) and entry.get("metric"):
            return str(entry["metric"])
    analysis = ctx.results.spec.get("analysis")
    for key in ("grow", "screen"):
        entry = analysis.get(key) if isinstance(analysis, Mapping) else None
        if isinstance(entry, Mapping) and entry.get("metric"):
            return str(entry["metric"])
    sobol = ctx.results.analyses_of("sobol")
    return next(iter(sobol), None)


def _lever_answers(ctx: ReportContext) -> list[BriefItem]:
    """Which factors explain most of the ranked metric's variance, per case (reliable total
    indices only; it says when the first two cannot be told apart)."""
    metric = _ranked_metric(ctx)
    if metric is None:
        return []
    metric = metric.partition("__")[0]
    tables = {key: frame for key, frame in ctx.results.analyses_of("sobol").items()
              if key.partition("__")[0] == metric}
    items = []
    for key, frame in tables.items():
        case = key.partition("__")[2]
        if not {"factor", "ST"} <= set(frame.columns):
            continue
        usable = frame.dropna(subset=["ST"])
        if "reliable" in usable.columns:
            usable = usable[usable["reliable"].astype(str).str.lower().isin(("true", "1"))]
        usable = usable.sort_values("ST", ascending=False).head(3)
        where = f" ({ctx.case_label(case)})" if case else ""
        label = ctx.outcome_label(metric)
        if usable.empty:
            items.append(BriefItem("caveat", f"No factor can be ranked for {label}{where}: "
                                   "its variance-based indices are unreliable.", rank=15,
                                   section="Which levers matter"))
            continue
        conf = usable["ST_conf"] if "ST_conf" in usable.columns else \
            pd.Series(np.nan, index=usable.index)
        parts = [f"{ctx.factor_label(str(f))} ({_pct(max(0.0, float(st)))}"
                 + (f" ± {100 * float(c):.0f} points" if np.isfinite(c) else "") + ")"
                 for f, st, c in zip(usable["factor"], usable["ST"], conf, strict=True)]
        text = (f"What matters most for {label}{where}: {', '.join(parts)} of its variance "
                "(total Sobol' indices, interactions included)")
        if len(usable) > 1 and np.isfinite(conf.iloc[:2]).all() and \
                usable["ST"].iloc[0] - conf.iloc[0] <= usable["ST"].iloc[1] + conf.iloc[1]:
            text += "; the first two cannot be told apart"
        items.append(BriefItem("answer", text + ".", rank=20, section="Which levers matter"))
    return items


def _cost_items(ctx: ReportContext) -> list[BriefItem]:
    """The card's cost ratios (totals over each case's runs), one item per ratio."""
    entries = ratio_entries(ctx.results.summary.get("ratios"))
    by_ratio: dict[str, list[tuple[float | None, str]]] = {}
    several = len({case for case, _, _ in entries}) > 1
    for case, name, entry in entries:
        value, units = entry.get("value"), str(entry.get("units", ""))
        shown = "nothing survived" if value is None else f"{fmt(float(value))} {units}"
        where = f" ({ctx.case_label(case)})" if several else ""
        label = str(entry.get("plain") or name)
        by_ratio.setdefault(label, []).append(
            (None if value is None else float(value), shown.strip() + where))
    return [BriefItem("cost", f"{label[0].upper() + label[1:]}: "
                      f"{_across(parts, none='nothing survived')}.", rank=10,
                      section="Findings") for label, parts in by_ratio.items()]


def _caveat_items(ctx: ReportContext) -> list[BriefItem]:
    """The findings' cautions: headline ones first."""
    return [BriefItem("caveat", f.text, rank=10 if f.headline else 30,
                      section=f.topic or "Findings")
            for f in ctx.findings if f.caveat]


def _figure_items(sections: list[Section]) -> list[BriefItem]:
    """sdnet's candidates for the decisive figure: the map of outcomes over the push, else
    the indices of the ranked metric, else the first fan chart."""
    found = []
    for section in sections:
        for block in section.blocks:
            if not isinstance(block, FigureBlock):
                continue
            if block.name == "outcome-map":
                rank = 10
            elif block.name.startswith(("sobol-", "fast-")):
                rank = 30
            elif block.name.startswith("fan-"):
                rank = 50
            else:
                continue
            found.append(BriefItem("figure", block.caption, rank=rank, figure=block,
                                   section=section.title))
    return found


def _best(items: list[BriefItem], kind: str) -> list[BriefItem]:
    chosen = sorted((i for i in items if i.kind == kind), key=lambda i: i.rank)
    return list({i.text: i for i in chosen}.values())  # each sentence once


def brief_section(ctx: ReportContext, sections: list[Section],
                  offered: list[BriefItem]) -> Section:
    """The brief: the question, the answer, the decisive figure, the public cost per success
    and what the answer depends on, from the items ``offered`` by the sections and the
    study's own numbers."""
    items = [*offered, *_outcome_answers(ctx), *_lever_answers(ctx), *_cost_items(ctx),
             *_caveat_items(ctx), *_figure_items(sections)]
    blocks: list[Block] = []
    question = ctx.results.question
    blocks.append(Paragraph(f"Question: {question}") if question else Note(
        "the study's spec states no question ([experiment] question)."))
    answers = _best(items, "answer")
    if answers:
        blocks += [Heading("The answer"),
                   Bullets(tuple(i.text for i in answers[:_SHOWN["answer"]]))]
    else:
        blocks.append(Note("the study produced no numbers to answer from (no yes/no "
                           "outcome and no variance-based indices)."))
    figures = _best(items, "figure")
    if figures:
        chosen = figures[0]
        block = chosen.figure
        assert block is not None  # BriefItem checks it
        blocks += [Heading("The decisive figure"), replace(
            block, name=f"brief-{block.name}",
            caption=chosen.text + (f" (Section \u201c{chosen.section}\u201d.)"
                                   if chosen.section else ""))]
    costs = _best(items, "cost")
    if costs:
        blocks += [Heading("Public cost per success"),
                   Bullets(tuple(i.text for i in costs[:_SHOWN["cost"]]))]
    caveats = _best(items, "caveat")
    depends = [i.text for i in caveats[:_SHOWN["caveat"]]]
    if len(caveats) > _SHOWN["caveat"]:
        depends.append(f"{len(caveats) - _SHOWN['caveat']} further cautions are in the "
                       "findings.")
    depends.append("The model's structure and the ranges of its factors: every number here "
                   "holds within them (the appendix lists both).")
    blocks += [Heading("What the answer depends on"), Bullets(tuple(depends))]
    return Section(title="The answer in brief", anchor="the-answer-in-brief",
                   blocks=tuple(blocks))
