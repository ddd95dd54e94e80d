"""Where the network survives: scenario-discovery scatter with its PRIM box, threshold maps.

Scenario discovery (Bryant and Lempert 2010) looks for a box of lever and uncertainty ranges
inside which most runs end in the regime of interest. The scatter shows the runs over the two
factors that matter most, coloured by regime, with the box drawn over them. A threshold map
shows, for each region type, the shortest push that sustains the network at each push amount.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter

from sdnet.errors import PlotInputError
from sdnet.plotting._style import OKABE_ITO, REGIME_COLORS, cycle_color, new_axes
from sdnet.plotting.indices import require_columns

__all__ = ["plot_outcome_map", "plot_scenario_scatter", "plot_threshold_map"]

_RASTER_ABOVE = 2000  # runs in a scatter beyond which the dots are rasterized


def _axis_label(name: str, units: Mapping[str, str] | None) -> str:
    unit = None if units is None else units.get(name)
    return f"{name} ({unit})" if unit else name


def _outcome_color(label: str) -> str:
    """Regime colours; any other outcome: its misses like 'collapsed', its hits like
    'sustained'."""
    if label in REGIME_COLORS:
        return REGIME_COLORS[label]
    if label == "failed":
        return OKABE_ITO["grey"]
    if label.startswith("not "):
        return REGIME_COLORS["collapsed"]
    return REGIME_COLORS["sustained"]


def plot_scenario_scatter(
    factors: pd.DataFrame,
    regime: Sequence[str] | np.ndarray,
    *,
    x: str,
    y: str,
    box: pd.DataFrame | None = None,
    units: Mapping[str, str] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Runs over two factors, coloured by regime, with a PRIM box drawn over them.

    Parameters
    ----------
    factors : DataFrame
        One row per run, one column per factor (must include ``x`` and ``y``).
    regime : array of str of shape (n_runs,)
        Regime of each run, e.g. ``"sustained"`` / ``"collapsed"``.
    x, y : str
        The factors on the axes.
    box : DataFrame, optional
        The PRIM box: columns ``factor``, ``lower``, ``upper``; a factor on an axis that the
        box does not restrict spans the whole axis.
    units : mapping of str to str, optional
        Units of the factors (axis labels).
    ax : Axes, optional

    Returns
    -------
    Axes
        One ``PathCollection`` per regime and, when ``box`` is given, a ``Rectangle`` with the
        ``gid`` ``"prim-box"``.
    """
    for name in (x, y):
        if name not in factors.columns:
            raise PlotInputError(
                f"plot_scenario_scatter: no factor {name!r} among "
                f"{', '.join(map(str, factors.columns))}"
            )
    labels = np.asarray(regime).astype(str)
    if labels.shape[0] != len(factors):
        raise PlotInputError(
            f"plot_scenario_scatter: regime has {labels.shape[0]} entries but factors has "
            f"{len(factors)} runs"
        )
    ax = new_axes(ax, figsize=(5.2, 4.2))
    xs = factors[x].to_numpy(float)
    ys = factors[y].to_numpy(float)
    # runs that missed the outcome first, so the (usually rarer) hits are drawn on top
    present = set(labels)
    misses = sorted(r for r in present if r == "collapsed" or r.startswith("not "))
    order = [*misses, *sorted(present - set(misses) - {"failed"}),
             *(["failed"] if "failed" in present else [])]
    for label in order:
        mask = labels == label
        ax.scatter(
            xs[mask], ys[mask], s=9 if xs.size <= 5000 else 4, alpha=0.6, lw=0,
            color=_outcome_color(label),
            label=f"{label} ({int(mask.sum())} runs)",
            # thousands of vector dots make a figure slow and heavy: draw them as an image
            rasterized=xs.size > _RASTER_ABOVE,
        )
    if box is not None:
        require_columns(box, ["factor", "lower", "upper"], what="plot_scenario_scatter box")
        limits = {str(r.factor): (float(r.lower), float(r.upper)) for r in box.itertuples()}
        x0, x1 = limits.get(x, (float(np.nanmin(xs)), float(np.nanmax(xs))))
        y0, y1 = limits.get(y, (float(np.nanmin(ys)), float(np.nanmax(ys))))
        ax.add_patch(
            Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, lw=1.8, ls="--",
                      edgecolor=OKABE_ITO["black"], gid="prim-box", label="PRIM box", zorder=4)
        )
    ax.set_xlabel(_axis_label(x, units))
    ax.set_ylabel(_axis_label(y, units))
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def plot_threshold_map(
    frame: pd.DataFrame,
    *,
    amount_units: str = "$/Year",
    duration_units: str = "Year",
    system: str = "the system",
    ax: Axes | None = None,
) -> Axes:
    """The shortest push that sustains ``system`` (the card's word), against the push amount,
    per region.

    Parameters
    ----------
    frame : DataFrame
        Columns ``region``, ``push_amount``, ``min_duration`` and optionally
        ``duration_lower`` / ``duration_upper`` (the bracket the search narrowed the threshold
        to). A non-finite ``min_duration`` means no push within the searched range sustained
        the network; it is drawn as an open triangle at the top of the axes.
    amount_units, duration_units : str
        Units of the push amount and duration (axis labels).
    ax : Axes, optional

    Returns
    -------
    Axes
        One line per region, labelled with the region's name; above a line the network is
        sustained, below it collapses.
    """
    require_columns(frame, ["region", "push_amount", "min_duration"], what="plot_threshold_map")
    ax = new_axes(ax)
    finite_all = frame["min_duration"].to_numpy(float)
    finite_all = finite_all[np.isfinite(finite_all)]
    top = float(finite_all.max()) * 1.15 if finite_all.size else 1.0
    if "duration_upper" in frame.columns:
        uppers = frame["duration_upper"].to_numpy(float)
        uppers = uppers[np.isfinite(uppers)]
        if uppers.size:
            top = max(top, float(uppers.max()) * 1.05)
    never = False
    for i, (region, rows) in enumerate(frame.groupby("region", sort=False)):
        rows = rows.sort_values("push_amount")
        color = cycle_color(i)
        amount = rows["push_amount"].to_numpy(float)
        duration = rows["min_duration"].to_numpy(float)
        ok = np.isfinite(duration)
        ax.plot(amount[ok], duration[ok], marker="o", ms=4, lw=1.6, color=color,
                label=str(region))
        if {"duration_lower", "duration_upper"} <= set(rows.columns):
            lower = rows["duration_lower"].to_numpy(float)[ok]
            upper = rows["duration_upper"].to_numpy(float)[ok]
            ax.fill_between(amount[ok], lower, upper, color=color, alpha=0.15, lw=0)
        if (~ok).any():
            ax.plot(amount[~ok], np.full((~ok).sum(), top * 0.97), ls="none", marker="^",
                    ms=7, mfc="none", mec=color)
            never = True
    ax.set_ylim(0, top)
    ax.set_xlabel(f"push amount ({amount_units})")
    ax.set_ylabel(f"shortest sustaining push duration ({duration_units})")
    ax.text(0.01, 0.02, f"above a line: {system} is sustained", transform=ax.transAxes,
            fontsize=7, va="bottom", color="#444444")
    handles, labels = ax.get_legend_handles_labels()
    if never:
        handles.append(Line2D([], [], ls="none", marker="^", ms=7, mfc="none", mec="black"))
        labels.append("no push in range sustains it (top)")
    ax.legend(handles, labels, fontsize=7, frameon=False, loc="upper left",
              bbox_to_anchor=(1.01, 1.0))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.grid(True, lw=0.3, alpha=0.5)
    return ax


def _edges(centres: np.ndarray) -> np.ndarray:
    if centres.size == 1:
        return np.array([centres[0] - 0.5, centres[0] + 0.5])
    mids = (centres[1:] + centres[:-1]) / 2
    return np.concatenate([[2 * centres[0] - mids[0]], mids, [2 * centres[-1] - mids[-1]]])


#: A factor with more distinct values than this is binned by :func:`plot_outcome_map`.
MAX_GRID_VALUES = 50


def _on_grid(values: np.ndarray, bins: int) -> np.ndarray:
    """The values themselves when they form a grid, else the centre of their equal-width bin."""
    if np.unique(values).size <= MAX_GRID_VALUES:
        return values
    edges = np.linspace(values.min(), values.max(), bins + 1)
    index = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, bins - 1)
    return (edges[index] + edges[index + 1]) / 2


def plot_outcome_map(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    outcome: Sequence[float] | np.ndarray,
    *,
    x_name: str = "push_amount",
    y_name: str = "push_duration",
    outcome_name: str = "sustained",
    units: Mapping[str, str] | None = None,
    threshold: pd.DataFrame | None = None,
    colorbar: bool = True,
    bins: int = 20,
    ax: Axes | None = None,
) -> Axes:
    """A map of the share of runs with an outcome over a grid of two factors.

    For a grid study of push amount x push duration this is the threshold map itself: where
    the network is sustained, with the bisected threshold drawn over it. Sampled (not gridded)
    factors are binned first: one cell per distinct value of 35,000 Sobol' samples would be a
    35,000 x 35,000 mesh (it exhausted 24 GB of memory).

    Parameters
    ----------
    x, y : array of shape (n_runs,)
        The two factors of each run (a grid: values repeat).
    outcome : array of shape (n_runs,)
        1 where the run had the outcome, 0 where not; NaN (failed runs) are left out.
    x_name, y_name, outcome_name : str
        Names for the axes and the colour bar.
    units : mapping of str to str, optional
        Units of the factors (axis labels).
    threshold : DataFrame, optional
        Columns ``x_name`` and ``min_duration`` (or ``y_name``): the threshold curve, drawn
        as a black line with markers labelled ``"threshold (bisection)"`` (no legend: say it in
        the caption).
    colorbar : bool
        Draw a colour bar beside the axes.
    bins : int
        A factor with more than :data:`MAX_GRID_VALUES` distinct values is cut into this many
        equal-width bins, each cell the share over the runs in it.
    ax : Axes, optional

    Returns
    -------
    Axes
        A ``QuadMesh`` of the share (colour map ``cividis``, 0 to 1), one cell per grid point
        (or per pair of bins).
    """
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    values = np.asarray(outcome, dtype=float)
    if not xs.shape == ys.shape == values.shape:
        raise PlotInputError(
            f"plot_outcome_map: x, y and outcome must have one value per run, not shapes "
            f"{xs.shape}, {ys.shape}, {values.shape}"
        )
    ax = new_axes(ax, figsize=(5.2, 3.8))
    frame = pd.DataFrame({"x": xs, "y": ys, "v": values}).dropna()
    frame["x"] = _on_grid(frame["x"].to_numpy(float), bins)
    frame["y"] = _on_grid(frame["y"].to_numpy(float), bins)
    table = frame.pivot_table(index="y", columns="x", values="v", aggfunc="mean")
    mesh = ax.pcolormesh(
        _edges(table.columns.to_numpy(float)), _edges(table.index.to_numpy(float)),
        table.to_numpy(float), cmap="cividis", vmin=0.0, vmax=1.0, shading="flat",
    )
    if threshold is not None:
        y_column = "min_duration" if "min_duration" in threshold.columns else y_name
        require_columns(threshold, [x_name, y_column], what="plot_outcome_map threshold")
        curve = threshold.sort_values(x_name)
        ax.plot(curve[x_name].to_numpy(float), curve[y_column].to_numpy(float), color="white",
                lw=3.0, zorder=3)
        ax.plot(curve[x_name].to_numpy(float), curve[y_column].to_numpy(float), color="black",
                marker="o", ms=3.5, lw=1.4, zorder=4, label="threshold (bisection)")
    figure = ax.get_figure()
    if colorbar and figure is not None:
        bar = figure.colorbar(mesh, ax=ax, pad=0.02)
        bar.set_label(f"share of runs {outcome_name}", fontsize=8)
    ax.set_xlabel(_axis_label(x_name, units))
    ax.set_ylabel(_axis_label(y_name, units))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    return ax
