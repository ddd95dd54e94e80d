"""Fan charts: how uncertain an output is over time, split by the regime each run ended in.

A fan chart shows the median of an ensemble at each time and the bands that hold the middle
50% and 90% of runs. Splitting runs by regime (the network sustained or collapsed after the
push) keeps two very different futures from blurring into one wide band.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.patches import Patch

from sdnet.errors import PlotInputError
from sdnet.plotting._style import REGIME_COLORS, cycle_color, new_axes

__all__ = ["plot_fan", "shade_push"]


def shade_push(ax: Axes, push: tuple[float, float] | None, *, label: str = "public push") -> Axes:
    """Shade the years of the public push on a time axis.

    Parameters
    ----------
    ax : Axes
    push : (float, float) or None
        Start and end of the push (years); nothing is drawn when ``None``.
    label : str
        Legend label of the shaded span.
    """
    if push is not None:
        start, end = push
        if np.isfinite(start) and np.isfinite(end) and end > start:
            ax.axvspan(start, end, color="#BBBBBB", alpha=0.3, lw=0, zorder=0, label=label,
                       gid="push")
    return ax


def plot_fan(
    times: Sequence[float] | np.ndarray,
    values: np.ndarray,
    *,
    regime: Sequence[str] | np.ndarray | None = None,
    push: tuple[float, float] | None = None,
    name: str = "output",
    units: str | None = None,
    time_units: str = "Year",
    push_label: str = "public push",
    ax: Axes | None = None,
) -> Axes:
    """Draw the median and the 50% and 90% bands of an ensemble output over time.

    Parameters
    ----------
    times : array of shape (n_time,)
        Times of the columns of ``values`` (``time_units``).
    values : array of shape (n_runs, n_time)
        One row per run; rows with non-finite values (failed runs) are left out.
    regime : array of str of shape (n_runs,), optional
        Regime of each run (e.g. ``"sustained"`` / ``"collapsed"``); one fan per regime. All
        runs form one fan when omitted.
    push : (float, float), optional
        Start and end of the push schedule (``time_units``), shaded.
    push_label : str
        What the legend calls the shaded span (the model card's word for its schedule).
    name, units : str
        The output's name and units, for the y label.
    time_units : str
        Units of ``times``.
    ax : Axes, optional
        Where to draw; a new figure when omitted.

    Returns
    -------
    Axes
        One ``Line2D`` per regime (the median, labelled ``"<regime>: median (n runs)"``) and
        two ``PolyCollection`` bands per regime.
    """
    ax = new_axes(ax)
    times = np.asarray(times, dtype=float)
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.shape[1] != times.size:
        raise PlotInputError(
            f"values must have shape (n_runs, {times.size}) to match times, not {values.shape}"
        )
    finite = np.all(np.isfinite(values), axis=1)
    groups: list[tuple[str, np.ndarray]]
    if regime is None:
        groups = [("all runs", finite)]
    else:
        labels = np.asarray(regime).astype(str)
        if labels.shape[0] != values.shape[0]:
            raise PlotInputError(
                f"regime has {labels.shape[0]} entries but values has {values.shape[0]} runs"
            )
        order = [r for r in ("sustained", "not sustained", "collapsed") if r in set(labels)]
        order += sorted(set(labels) - set(order))
        groups = [(r, finite & (labels == r)) for r in order]
    shade_push(ax, push, label=push_label)
    handles = []
    for i, (label, mask) in enumerate(groups):
        if not mask.any():
            continue
        color = REGIME_COLORS.get(label, cycle_color(i))
        q05, q25, q50, q75, q95 = np.quantile(values[mask], [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
        ax.fill_between(times, q05, q95, color=color, alpha=0.18, lw=0)
        ax.fill_between(times, q25, q75, color=color, alpha=0.38, lw=0)
        (line,) = ax.plot(
            times, q50, color=color, lw=1.8, label=f"{label}: median ({int(mask.sum())} runs)"
        )
        handles.append(line)
    handles.append(Patch(facecolor="#777777", alpha=0.38, label="50% of runs"))
    handles.append(Patch(facecolor="#777777", alpha=0.18, label="90% of runs"))
    if push is not None:
        handles.append(Patch(facecolor="#BBBBBB", alpha=0.3, label=push_label))
    ax.legend(handles=handles, fontsize=7, loc="best", frameon=False)
    ax.set_xlabel(f"time ({time_units})")
    ax.set_ylabel(f"{name} ({units})" if units else name)
    ax.set_xlim(times[0], times[-1])
    ax.grid(True, lw=0.3, alpha=0.5)
    return ax
