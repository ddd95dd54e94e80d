"""A small document model (sections of paragraphs, tables, figures) and its two renderings.

The report is built once as a list of :class:`Section` objects and rendered twice: as one
self-contained HTML file (figures inline as base64 SVG ``data:`` images, styles inline, no
script, nothing fetched from any address) and as Markdown whose figures are SVG files in
``figures/``. Tables are also written as CSV files in ``tables/``.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = [
    "Bullets",
    "Caution",
    "Code",
    "FigureBlock",
    "Heading",
    "Note",
    "Paragraph",
    "Section",
    "TableBlock",
    "anchor_for",
    "figure_block",
    "fmt",
    "render_figures",
    "render_html",
    "render_markdown",
    "svg_bytes",
    "write_assets",
]


@dataclass(frozen=True)
class Paragraph:
    """Plain text (no markup)."""

    text: str


@dataclass(frozen=True)
class Bullets:
    """A bulleted list of plain-text items."""

    items: tuple[str, ...]


@dataclass(frozen=True)
class Note:
    """A part of the report the study did not produce, and why."""

    text: str


@dataclass(frozen=True)
class Caution:
    """A warning the reader must see (wide intervals, failed runs, integration error)."""

    text: str


@dataclass(frozen=True)
class Code:
    """Preformatted text: a command, a spec."""

    text: str


@dataclass(frozen=True, eq=False)
class TableBlock:
    """A table, also written as ``tables/<name>.csv``."""

    name: str
    frame: pd.DataFrame
    caption: str
    display_rows: int | None = None

    def shown(self) -> tuple[pd.DataFrame, str]:
        """The rows shown in the report and the caption (which says when rows are left out)."""
        if self.display_rows is None or len(self.frame) <= self.display_rows:
            return self.frame, self.caption
        return self.frame.head(self.display_rows), (
            f"{self.caption} First {self.display_rows} of {len(self.frame)} rows; all in "
            f"tables/{self.name}.csv."
        )


@dataclass(frozen=True, eq=False)
class FigureBlock:
    """A figure as SVG, written as ``figures/<name>.svg`` and inlined in the HTML.

    ``figure`` holds the matplotlib figure, or a function that draws it, until
    :func:`render_figures` turns it into ``svg`` (all figures of a report at once, in
    parallel where the system allows; a function is called in the worker, so drawing a heavy
    figure runs in parallel too).
    """

    name: str
    svg: bytes
    caption: str
    alt: str
    wide: bool = False
    figure: Figure | Callable[[], Figure] | None = field(default=None, repr=False)

    def rendered(self) -> bytes:
        """The SVG, rendering the figure now if :func:`render_figures` has not."""
        return self.svg if self.svg or self.figure is None else svg_bytes(_drawn(self.figure))


@dataclass(frozen=True)
class Heading:
    """A sub-heading inside a section (``level`` 3, or 4 under a level-3 heading)."""

    text: str
    level: int = 3


Block = Paragraph | Bullets | Note | Caution | Code | TableBlock | FigureBlock | Heading


def figure_block(
    name: str, figure: Figure | Callable[[], Figure], *, caption: str, alt: str,
    wide: bool = False,
) -> FigureBlock:
    """Wrap ``figure`` as a block; :func:`render_figures` renders every block's figure to SVG
    once the report's sections are built (so figures render in parallel).

    ``figure`` may be a function without arguments that draws the figure: it is then called
    where the figure is rendered (in a worker process when they render in parallel). Pass
    one for a figure that takes long to draw, with its data checked beforehand: an error it
    raises stops the report instead of becoming a caution in its section.

    A ``wide`` figure (a model diagram) spreads beyond the text column up to the width of
    the window, at its natural size when that fits and scaled down to the window when not,
    so that its small print stays as large as the window allows and nothing is cut off.
    """
    return FigureBlock(name=name, svg=b"", caption=caption, alt=alt, wide=wide,
                       figure=figure)


#: The figures a forked worker of :func:`render_figures` renders, by index (set in the
#: parent just before the fork, so the workers inherit them instead of unpickling them).
_PENDING: list[Figure | Callable[[], Figure]] = []


def _render_pending(index: int) -> tuple[int, bytes]:
    return index, svg_bytes(_drawn(_PENDING[index]))


def _drawn(figure: Figure | Callable[[], Figure]) -> Figure:
    """The figure, drawing it first when it is given as a function."""
    return figure if isinstance(figure, Figure) else figure()


def _weight(figure: Figure | Callable[[], Figure] | None) -> float:
    """About how long a figure takes to render: its artists (a 36-panel fan chart has over
    a thousand, a bar chart a few dozen); a figure still to draw counts as heaviest."""
    if figure is None:
        return 0
    if not isinstance(figure, Figure):
        return math.inf
    return sum(len(ax.get_children()) for ax in figure.axes)


def _can_fork() -> bool:
    """Forking is safe here: the system has it and this process runs no other thread (a
    fork copies only the calling thread, and a lock another thread held stays locked)."""
    import multiprocessing
    import threading

    return "fork" in multiprocessing.get_all_start_methods() and \
        threading.active_count() == 1


def render_figures(
    sections: Sequence[Section], *, workers: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Section]:
    """The sections with every figure rendered to SVG.

    Figures render in ``workers`` forked processes (default: one per CPU, at most 4) when
    the system can fork safely (:func:`_can_fork`), else one after the other; ``progress``
    is told after each figure (``"figure 3 of 24 (sobol-sustained)"``).
    """
    import os

    pending: list[FigureBlock] = []  # one block per figure (the brief repeats one)
    for section in sections:
        for b in section.blocks:
            if isinstance(b, FigureBlock) and not b.svg and b.figure is not None and \
                    all(b.figure is not p.figure for p in pending):
                pending.append(b)
    done: dict[int, bytes] = {}

    def tell(index: int) -> None:
        if progress is not None:
            progress(f"figure {len(done)} of {len(pending)} ({pending[index].name})")

    count = workers if workers is not None else min(4, os.cpu_count() or 1)
    if count > 1 and len(pending) > 1 and _can_fork():
        import multiprocessing

        global _PENDING
        _PENDING = [b.figure for b in pending]  # type: ignore[misc]
        try:
            # the heaviest figures first, so that no worker is left with one at the end
            order = sorted(range(len(pending)), key=lambda i: -_weight(pending[i].figure))
            with multiprocessing.get_context("fork").Pool(min(count, len(pending))) as pool:
                for index, svg in pool.imap_unordered(_render_pending, order):
                    done[index] = svg
                    tell(index)
        finally:
            _PENDING = []
    else:
        for index, block in enumerate(pending):
            done[index] = svg_bytes(_drawn(block.figure))  # type: ignore[arg-type]
            tell(index)
    by_figure = {id(b.figure): done[i] for i, b in enumerate(pending)}
    return [replace(s, blocks=tuple(
        replace(b, svg=by_figure[id(b.figure)], figure=None)
        if isinstance(b, FigureBlock) and id(b.figure) in by_figure else b
        for b in s.blocks)) for s in sections]


@dataclass(frozen=True)
class Section:
    """A titled section; ``anchor`` is its id in the HTML."""

    title: str
    anchor: str
    blocks: tuple[Block, ...] = field(default_factory=tuple)


def fmt(value: object, *, digits: int = 3) -> str:
    """A number with ``digits`` significant digits (integers as integers); text unchanged."""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))  # counts, seeds and ids: no separators
    if isinstance(value, float | np.floating):
        x = float(value)
        if math.isnan(x):
            return "–"
        if math.isinf(x):
            return "∞" if x > 0 else "−∞"
        if x == 0:
            return "0"
        if abs(x) >= 1e12:
            return f"{x:.{digits - 1}e}"
        if abs(x) >= 1e6:
            return f"{x / 1e6:.{digits}g} million"
        if abs(x) >= 1e3:
            return f"{float(f'{x:.{digits}g}'):,.0f}"  # 52,501 -> 52,500
        if x.is_integer():
            return str(int(x))
        if abs(x) >= 1e-3:
            return f"{x:.{digits}g}"
        return f"{x:.{digits - 1}e}"
    return str(value)


def svg_bytes(figure: Figure) -> bytes:
    """The figure as SVG with text as paths (no font needed) and stable ids."""
    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "sdnet"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None}, dpi=150)
    return buffer.getvalue()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


# ---- HTML ---------------------------------------------------------------------------------

_CSS = """
body { font-family: Georgia, 'Times New Roman', serif; max-width: 50em; margin: 2em auto;
       padding: 0 1.2em; color: #1a1a1a; line-height: 1.5; background: #ffffff; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; }
h2 { font-size: 1.3em; border-bottom: 1px solid #cccccc; margin-top: 2em; }
h4 { font-size: 1em; margin-bottom: 0.3em; }
nav ol { columns: 2; font-size: 0.92em; }
figure { margin: 1.2em 0; }
figure img { width: 100%; height: auto; border: 1px solid #eeeeee; box-sizing: border-box; }
figure.wide { margin-left: calc(50% - 50vw + 1.5em); margin-right: calc(50% - 50vw + 1.5em); }
figure.wide div { overflow-x: auto; text-align: center; }
figure.wide img { width: auto; max-width: 100%; }
figure.wide figcaption { max-width: 50em; margin: 0.3em auto 0; }
figcaption { font-size: 0.9em; color: #444444; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.8em 0; }
th, td { border: 1px solid #cccccc; padding: 0.25em 0.6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f2f2f2; }
.table-caption { font-size: 0.9em; color: #444444; margin-bottom: 0.2em; }
pre { background: #f6f6f6; padding: 0.7em; overflow-x: auto; font-size: 0.85em; }
.note { background: #f4f4f4; border-left: 4px solid #999999; padding: 0.5em 0.8em; }
.caution { background: #fff4e5; border-left: 4px solid #d55e00; padding: 0.5em 0.8em; }
.meta { color: #555555; }
@media print {
  body { max-width: none; margin: 0; font-size: 10pt; }
  nav { display: none; }
  figure, table, pre, .caution, .note { break-inside: avoid; }
  h2, h3 { break-after: avoid; }
  figure.wide div { overflow: visible; }
  figure.wide img { width: 100%; max-width: 100%; }
  pre { white-space: pre-wrap; }
}
"""


def _html_table(block: TableBlock) -> str:
    frame, caption = block.shown()
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for _, row in frame.iterrows():
        cells = "".join(
            f'<td class="num">{html.escape(fmt(v))}</td>' if _is_number(v)
            else f"<td>{html.escape(fmt(v))}</td>"
            for v in row.tolist()
        )
        rows.append(f"<tr>{cells}</tr>")
    return (
        f'<p class="table-caption">{html.escape(caption)}</p>'
        f'<table id="table-{html.escape(block.name)}">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _html_block(block: Block) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{html.escape(block.text)}</p>"
    if isinstance(block, Bullets):
        items = "".join(f"<li>{html.escape(item)}</li>" for item in block.items)
        return f"<ul>{items}</ul>"
    if isinstance(block, Note):
        return f'<p class="note">{html.escape(block.text)}</p>'
    if isinstance(block, Caution):
        return f'<p class="caution"><strong>Caution:</strong> {html.escape(block.text)}</p>'
    if isinstance(block, Code):
        return f"<pre><code>{html.escape(block.text)}</code></pre>"
    if isinstance(block, TableBlock):
        return _html_table(block)
    if isinstance(block, Heading):
        level = 4 if block.level >= 4 else 3
        return f"<h{level}>{html.escape(block.text)}</h{level}>"
    data = base64.b64encode(block.rendered()).decode("ascii")
    image = (f'<img src="data:image/svg+xml;base64,{data}" '
             f'alt="{html.escape(block.alt, quote=True)}">')
    if block.wide:
        return (
            f'<figure class="wide" id="figure-{html.escape(block.name)}"><div>{image}</div>'
            f"<figcaption>{html.escape(block.caption)}</figcaption></figure>"
        )
    return (
        f'<figure id="figure-{html.escape(block.name)}">{image}'
        f"<figcaption>{html.escape(block.caption)}</figcaption></figure>"
    )


def render_html(title: str, subtitle: str, sections: list[Section]) -> str:
    """One self-contained HTML page: no script, no external resource of any kind."""
    toc = "".join(
        f'<li><a href="#{html.escape(s.anchor)}">{html.escape(s.title)}</a></li>'
        for s in sections
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # Forbid every fetch: the page is self-contained by design, so a regression that
        # adds an external resource is blocked (and visible in the browser's console).
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'\">",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>{html.escape(title)}</h1>"
        f'<p class="meta">{html.escape(subtitle)}</p></header>',
        f"<nav><h2>Contents</h2><ol>{toc}</ol></nav>",
    ]
    for section in sections:
        body = "".join(_html_block(b) for b in section.blocks)
        parts.append(
            f'<section id="{html.escape(section.anchor)}"><h2>{html.escape(section.title)}</h2>'
            f"{body}</section>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


# ---- Markdown -----------------------------------------------------------------------------


def _md_escape(text: str) -> str:
    # "$" too: GitHub renders $...$ as mathematics
    return re.sub(r"([\\`*_\[\]|<>$])", r"\\\1", text)


def _md_table(block: TableBlock) -> str:
    frame, caption = block.shown()
    header = "| " + " | ".join(_md_escape(str(c)) for c in frame.columns) + " |"
    rule = "|" + "|".join(
        " --- " if i == 0 else " ---: " for i in range(len(frame.columns))
    ) + "|"
    rows = [
        "| " + " | ".join(_md_escape(fmt(v)) for v in row.tolist()) + " |"
        for _, row in frame.iterrows()
    ]
    return "\n".join([f"*{_md_escape(caption)}*", "", header, rule, *rows,
                      "", f"(CSV: `tables/{block.name}.csv`)"])


def _md_block(block: Block) -> str:
    if isinstance(block, Paragraph):
        return _md_escape(block.text)
    if isinstance(block, Bullets):
        return "\n".join(f"- {_md_escape(item)}" for item in block.items)
    if isinstance(block, Note):
        return f"> *Not in this study:* {_md_escape(block.text)}"
    if isinstance(block, Caution):
        return f"> **Caution:** {_md_escape(block.text)}"
    if isinstance(block, Code):
        return f"```\n{block.text}\n```"
    if isinstance(block, TableBlock):
        return _md_table(block)
    if isinstance(block, Heading):
        return f"{'#' * (4 if block.level >= 4 else 3)} {_md_escape(block.text)}"
    return (
        f"![{_md_escape(block.alt)}](figures/{block.name}.svg)\n\n"
        f"*{_md_escape(block.caption)}*"
    )


def render_markdown(title: str, subtitle: str, sections: list[Section]) -> str:
    """The same report as Markdown; figures are referenced as ``figures/<name>.svg``."""
    parts = [f"# {_md_escape(title)}", "", _md_escape(subtitle), ""]
    for section in sections:
        parts += [f"## {_md_escape(section.title)}", ""]
        for block in section.blocks:
            parts += [_md_block(block), ""]
    return "\n".join(parts).rstrip() + "\n"


def write_assets(sections: list[Section], out: Path) -> tuple[list[Path], list[Path]]:
    """Write every figure as ``figures/<name>.svg`` and every table as ``tables/<name>.csv``."""
    figures: list[Path] = []
    tables: list[Path] = []
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    for section in sections:
        for block in section.blocks:
            if isinstance(block, FigureBlock):
                path = out / "figures" / f"{block.name}.svg"
                path.write_bytes(block.rendered())
                figures.append(path)
            elif isinstance(block, TableBlock):
                path = out / "tables" / f"{block.name}.csv"
                block.frame.to_csv(path, index=False)
                tables.append(path)
    return figures, tables


def anchor_for(title: str) -> str:
    """The HTML id of a section title."""
    return _slug(title)
