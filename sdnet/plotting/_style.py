"""Shared look of sdnet's figures: a colour-blind-safe palette and sizes for A4 pages.

The palette is Okabe and Ito's (2008, "Color Universal Design"), distinguishable under the
common forms of colour blindness and in grey print. Figures are sized for an A4 page with
2.5 cm margins (16 cm = 6.3 in of text width), with fonts no smaller than 7 pt at that size.
"""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = [
    "A4_TEXT_WIDTH",
    "OKABE_ITO",
    "REGIME_COLORS",
    "cycle_color",
    "new_axes",
]

A4_TEXT_WIDTH: float = 6.3
"""Width of the text block of an A4 page with 2.5 cm margins (inches)."""

OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "grey": "#999999",
}

REGIME_COLORS: dict[str, str] = {
    "sustained": OKABE_ITO["bluish_green"],
    "collapsed": OKABE_ITO["vermillion"],
    "not sustained": OKABE_ITO["vermillion"],
    "all runs": OKABE_ITO["blue"],
}

_CYCLE = (
    "blue",
    "orange",
    "bluish_green",
    "vermillion",
    "reddish_purple",
    "sky_blue",
    "yellow",
    "black",
)


def cycle_color(index: int) -> str:
    """The ``index``-th colour of the palette's cycle (wraps around)."""
    return OKABE_ITO[_CYCLE[index % len(_CYCLE)]]


def new_axes(ax: Axes | None, *, figsize: tuple[float, float] = (A4_TEXT_WIDTH, 3.6)) -> Axes:
    """Return ``ax``, or the Axes of a new :class:`~matplotlib.figure.Figure`.

    The new figure is made without :mod:`matplotlib.pyplot`, so plotting never touches global
    state and a figure is freed when it is no longer referenced.

    Parameters
    ----------
    ax : Axes or None
        Axes to draw on; ``None`` makes a new figure.
    figsize : (float, float)
        Size of a new figure (inches).
    """
    if ax is not None:
        return ax
    figure = Figure(figsize=figsize, layout="constrained")
    return figure.add_subplot()
