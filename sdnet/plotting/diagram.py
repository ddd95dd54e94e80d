"""Draw one view of a model's stock-and-flow diagram from the sketch stored in its ``.mdl``.

Stocks are boxes, flows thick pipes with a valve (a bow tie) and clouds where they leave or
enter the model, causal links thin arrows (curved where Vensim curves them) with their
polarity, and every name at the place the modeller put it. Coordinates are Vensim's screen
pixels, drawn with equal aspect and ``y`` pointing down, so the drawing looks like Vensim's.
"""

from __future__ import annotations

import math
import textwrap

import numpy as np
from matplotlib.axes import Axes
from matplotlib.patches import Circle, FancyArrowPatch, Polygon, Rectangle
from matplotlib.path import Path as MplPath

from sdnet.plotting._style import OKABE_ITO, new_axes
from sdnet.sketch import (
    SketchArrow,
    SketchCloud,
    SketchComment,
    SketchValve,
    SketchVariable,
    SketchView,
)

__all__ = ["diagram_figsize", "plot_diagram"]

_STOCK_FILL = "#DCEEFB"  # a light tint of Okabe-Ito sky blue
_PIPE_COLOR = "#333333"
_LINK_COLOR = OKABE_ITO["blue"]
_GHOST_COLOR = "#777777"
_MARGIN = 20.0  # pixels around the drawing
_TEXT_PX = 12.0  # height of Vensim's default text on screen (pixels)
_PX_PER_INCH = 110.0  # sketch pixels per inch of figure
_TITLE_IN = 0.4  # room for the view's title (inches)


def diagram_figsize(
    view: SketchView,
    *,
    max_width: float = 14.0,
    max_height: float = 14.0,
    min_width: float | None = None,
) -> tuple[float, float]:
    """Figure size (inches) that keeps the view's proportions at one common scale.

    Every view is drawn at the same scale (110 sketch pixels to the inch, about the size
    Vensim shows it at), so names have the same size in every view; only views larger than
    ``max_width`` x ``max_height`` are shrunk to fit.

    Parameters
    ----------
    view : SketchView
    max_width, max_height : float
        Largest figure size (inches).
    min_width : float, optional
        As in :func:`plot_diagram`: the least width drawn (pixels).
    """
    xmin, ymin, xmax, ymax = view.bounds()
    if min_width is not None and xmax - xmin < min_width:
        xmax = xmin + min_width
    span_x = max(xmax - xmin, 1.0) + 2 * _MARGIN
    span_y = max(ymax - ymin, 1.0) + 2 * _MARGIN
    shrink = min(1.0, max_width / (span_x / _PX_PER_INCH),
                 (max_height - _TITLE_IN) / (span_y / _PX_PER_INCH))
    width = max(span_x / _PX_PER_INCH * shrink, 2.0)
    return (width, width * span_y / span_x + _TITLE_IN)


def plot_diagram(
    view: SketchView,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    min_width: float | None = None,
) -> Axes:
    """Draw one view of a model's diagram.

    Parameters
    ----------
    view : SketchView
        A view from :func:`sdnet.sketch.read_sketch`.
    ax : Axes, optional
        Where to draw; a new figure sized by :func:`diagram_figsize` when omitted.
    title : str, optional
        Axes title; the view's name when omitted (pass ``""`` for none).
    min_width : float, optional
        Draw at least this many pixels across (the view is left-aligned), so that several
        views stacked in one figure share one scale.

    Returns
    -------
    Axes
        The Axes drawn on. Stocks are :class:`~matplotlib.patches.Rectangle` patches with the
        ``gid`` ``"stock:<name>"``, valves ``"valve:<id>"``, clouds ``"cloud:<id>"``, pipes
        ``"pipe:<id>"`` and causal links ``"link:<id>"``, so tests and readers can find them.
    """
    ax = new_axes(ax, figsize=diagram_figsize(view))
    xmin, ymin, xmax, ymax = view.bounds()
    if min_width is not None and xmax - xmin < min_width:
        xmax = xmin + min_width
    ax.set_xlim(xmin - _MARGIN, xmax + _MARGIN)
    ax.set_ylim(ymax + _MARGIN, ymin - _MARGIN)  # y grows downwards, as on screen
    ax.set_aspect("equal", adjustable="box")
    ax.set_axis_off()
    ax.set_title(view.name if title is None else title, loc="left", fontsize=10)
    scale = _points_per_pixel(ax, xmax - xmin + 2 * _MARGIN, ymax - ymin + 2 * _MARGIN)
    # Vensim's proportions: text about 11 pixels high, whatever the drawing's size
    fontsize = float(np.clip(_TEXT_PX * scale, 3.0, 12.0))

    objects = view.objects()
    boxes = {oid: _box(obj) for oid, obj in objects.items()}
    pipe_direction: dict[int, tuple[float, float]] = {}
    for arrow in view.pipes:
        _draw_pipe(ax, arrow, objects, boxes, scale, pipe_direction)
    for valve in view.valves:
        _draw_valve(ax, valve, pipe_direction.get(valve.id, (1.0, 0.0)))
    for cloud in view.clouds:
        _draw_cloud(ax, cloud)
    for variable in view.variables:
        _draw_variable(ax, variable, fontsize, view.valves)
    for comment in view.comments:
        _draw_comment(ax, comment, fontsize)
    for arrow in view.links:
        _draw_link(ax, arrow, objects, boxes, scale, fontsize)
    return ax


def _points_per_pixel(ax: Axes, span_x: float, span_y: float) -> float:
    figure = ax.get_figure()
    width_in, height_in = figure.get_size_inches() if figure is not None else (6.0, 4.0)
    position = ax.get_position()
    ax_w = position.width * width_in * 72.0
    ax_h = position.height * height_in * 72.0
    return max(min(ax_w / span_x, ax_h / span_y), 0.05)


def _box(obj: object) -> tuple[float, float, float, float]:
    """(x, y, half width, half height) of what an arrow must stop at."""
    x = float(getattr(obj, "x", 0.0))
    y = float(getattr(obj, "y", 0.0))
    return (x, y, float(getattr(obj, "width", 4.0)), float(getattr(obj, "height", 4.0)))


def _wrap(name: str, half_width: float, fontsize: float, scale: float) -> str:
    # Average glyph width is about 0.55 em; half_width is in pixels, fontsize in points.
    char_px = max(0.55 * fontsize / max(scale, 1e-6), 1.0)
    width = max(int(2.0 * half_width / char_px), 8)
    # never split a word: a long word overflows its box rather than being cut in two
    lines = textwrap.wrap(name, width=width, break_long_words=False, break_on_hyphens=False)
    return "\n".join(lines) or name


def _draw_variable(
    ax: Axes, variable: SketchVariable, fontsize: float, valves: tuple[SketchValve, ...]
) -> None:
    scale = fontsize / _TEXT_PX
    name = f"<{variable.name}>" if variable.is_ghost else variable.name
    color = _GHOST_COLOR if variable.is_ghost else "black"
    if variable.is_stock:
        ax.add_patch(
            Rectangle(
                (variable.x - variable.width, variable.y - variable.height),
                2 * variable.width,
                2 * variable.height,
                facecolor="#F2F2F2" if variable.is_ghost else _STOCK_FILL,
                edgecolor=color,
                linewidth=1.2,
                zorder=3,
                gid=f"stock:{variable.name}",
            )
        )
        label = _wrap(name, variable.width, fontsize, scale)
    else:
        label = _wrap(name, max(variable.width, 30.0), fontsize, scale)
    # A flow's name sits beside its valve: anchor the edge facing the valve so that, however
    # many lines it wraps to, it never covers the valve.
    hang = variable.is_flow and not variable.is_stock
    below = True
    if hang and valves:
        valve = min(valves, key=lambda v: math.hypot(v.x - variable.x, v.y - variable.y))
        below = variable.y >= valve.y
    if not hang:
        y, va = variable.y, "center"
    elif below:
        y, va = variable.y - variable.height, "top"
    else:
        y, va = variable.y + variable.height, "bottom"
    ax.text(
        variable.x,
        y,
        label,
        ha="center",
        va=va,
        fontsize=fontsize,
        color=color,
        zorder=5,
        linespacing=1.0,
        gid=f"name:{variable.name}",
        # a light backing keeps links from crossing the names of auxiliaries
        bbox=None if variable.is_stock or hang else {
            "facecolor": "white", "edgecolor": "none", "pad": 0.5, "alpha": 0.8},
    )


def _draw_comment(ax: Axes, comment: SketchComment, fontsize: float) -> None:
    scale = fontsize / _TEXT_PX
    ax.text(
        comment.x,
        comment.y,
        _wrap(comment.text, comment.width, fontsize * 0.9, scale),
        ha="center",
        va="center",
        fontsize=fontsize * 0.9,
        style="italic",
        color="#555555",
        zorder=5,
    )


def _draw_valve(ax: Axes, valve: SketchValve, direction: tuple[float, float]) -> None:
    dx, dy = direction
    half = max(valve.width, valve.height, 6.0)
    # a bow tie whose two triangles meet at the centre, pointing along the pipe
    ux, uy = dx, dy
    px, py = -uy, ux
    cx, cy = valve.x, valve.y
    left = [
        (cx - ux * half + px * half, cy - uy * half + py * half),
        (cx - ux * half - px * half, cy - uy * half - py * half),
        (cx, cy),
    ]
    right = [
        (cx + ux * half + px * half, cy + uy * half + py * half),
        (cx + ux * half - px * half, cy + uy * half - py * half),
        (cx, cy),
    ]
    for points in (left, right):
        ax.add_patch(
            Polygon(
                points,
                closed=True,
                facecolor="white",
                edgecolor=_PIPE_COLOR,
                linewidth=1.0,
                zorder=4,
                gid=f"valve:{valve.id}",
            )
        )


def _draw_cloud(ax: Axes, cloud: SketchCloud) -> None:
    r = max(cloud.width, cloud.height, 6.0) * 0.55
    for ox, oy, f in ((-0.9, 0.2, 0.8), (0.0, -0.35, 1.0), (0.9, 0.2, 0.8), (0.0, 0.45, 0.8)):
        ax.add_patch(
            Circle(
                (cloud.x + ox * r, cloud.y + oy * r),
                r * f,
                facecolor="#EEEEEE",
                edgecolor="#666666",
                linewidth=0.8,
                zorder=3,
                gid=f"cloud:{cloud.id}",
            )
        )


def _draw_pipe(
    ax: Axes,
    arrow: SketchArrow,
    objects: dict[int, object],
    boxes: dict[int, tuple[float, float, float, float]],
    scale: float,
    pipe_direction: dict[int, tuple[float, float]],
) -> None:
    start = objects.get(arrow.start)
    end = objects.get(arrow.end)
    if start is None or end is None:
        return
    valve_first = isinstance(start, SketchValve)
    valve = start if valve_first else end
    if not isinstance(valve, SketchValve):
        return
    other_id = arrow.end if valve_first else arrow.start
    vx, vy = valve.x, valve.y
    ox, oy, ohw, ohh = boxes[other_id]
    # Vensim pipes run horizontally or vertically from the valve into the side of the box.
    if abs(ox - vx) >= abs(oy - vy):
        edge_x = ox - math.copysign(ohw, ox - vx)
        end_point = (edge_x, min(max(vy, oy - ohh), oy + ohh))
        direction = (1.0, 0.0)
    else:
        edge_y = oy - math.copysign(ohh, oy - vy)
        end_point = (min(max(vx, ox - ohw), ox + ohw), edge_y)
        direction = (0.0, 1.0)
    pipe_direction.setdefault(valve.id, direction)
    points = [(vx, vy), end_point] if valve_first else [end_point, (vx, vy)]
    head = arrow.has_head
    lw = max(2.5, 6.0 * scale)
    patch = FancyArrowPatch(
        path=MplPath(points),
        arrowstyle="-|>" if head else "-",
        mutation_scale=max(10.0, 22.0 * scale),
        linewidth=lw,
        color=_PIPE_COLOR,
        zorder=2,
        gid=f"pipe:{arrow.id}",
        capstyle="butt",
    )
    ax.add_patch(patch)


def _draw_link(
    ax: Axes,
    arrow: SketchArrow,
    objects: dict[int, object],
    boxes: dict[int, tuple[float, float, float, float]],
    scale: float,
    fontsize: float,
) -> None:
    if arrow.start not in boxes or arrow.end not in boxes:
        return
    sx, sy, _, _ = boxes[arrow.start]
    ex, ey, _, _ = boxes[arrow.end]
    if arrow.is_curved:
        mx, my = arrow.points[0]
        # quadratic Bezier through (mx, my) at t = 1/2
        cx, cy = 2 * mx - (sx + ex) / 2, 2 * my - (sy + ey) / 2
        t = np.linspace(0.0, 1.0, 121)
        xs = (1 - t) ** 2 * sx + 2 * (1 - t) * t * cx + t**2 * ex
        ys = (1 - t) ** 2 * sy + 2 * (1 - t) * t * cy + t**2 * ey
    else:
        t = np.linspace(0.0, 1.0, 41)
        xs = sx + (ex - sx) * t
        ys = sy + (ey - sy) * t
    keep = np.array([], dtype=int)
    # clip at the two objects' boxes; when the boxes touch (names laid side by side), clip at
    # smaller boxes so that a short arrow still shows the link
    for shrink in (1.0, 0.6, 0.3):
        outside = ~_inside(_scaled(boxes[arrow.start], shrink), xs, ys) & ~_inside(
            _scaled(boxes[arrow.end], shrink), xs, ys)
        keep = np.flatnonzero(outside)
        if keep.size >= 2:
            break
    if keep.size < 2:
        return
    xs = xs[keep[0] : keep[-1] + 1]
    ys = ys[keep[0] : keep[-1] + 1]
    patch = FancyArrowPatch(
        path=MplPath(np.column_stack([xs, ys])),
        arrowstyle="-|>" if arrow.has_head else "-",
        mutation_scale=max(6.0, 12.0 * scale),
        linewidth=max(0.6, 1.2 * scale),
        color=_LINK_COLOR,
        zorder=1,
        gid=f"link:{arrow.id}",
    )
    ax.add_patch(patch)
    if arrow.polarity:
        # next to the head, offset to the left of the direction of travel
        k = max(len(xs) - 8, 0)
        dx, dy = xs[-1] - xs[k], ys[-1] - ys[k]
        norm = math.hypot(dx, dy) or 1.0
        ax.text(
            xs[k] - dy / norm * 8.0,
            ys[k] + dx / norm * 8.0,
            arrow.polarity,
            fontsize=fontsize,
            color=_LINK_COLOR,
            ha="center",
            va="center",
            fontweight="bold",
            zorder=5,
        )


def _scaled(
    box: tuple[float, float, float, float], factor: float
) -> tuple[float, float, float, float]:
    x, y, hw, hh = box
    return (x, y, hw * factor, hh * factor)


def _inside(box: tuple[float, float, float, float], xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    x, y, hw, hh = box
    pad = 2.0
    return (np.abs(xs - x) <= hw + pad) & (np.abs(ys - y) <= hh + pad)
