"""Trajectories of one run: how the saved variables move over time.

:func:`plot_run` draws some variables of a :class:`~sdnet.results.RunResult` on one Axes (all
elements of a subscripted variable, e.g. both firm segments of ``Members``), labels the y axis
with their units, and shades the years of the public push when the run had one. It never saves
or shows a figure; :mod:`sdnet.commands.run` and :mod:`sdnet.reports` do that.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes

from sdnet.errors import PlotInputError
from sdnet.plotting._style import cycle_color, new_axes
from sdnet.plotting.uncertainty import shade_push
from sdnet.results import RunResult, split_column

__all__ = ["group_by_units", "plot_run", "push_span"]

#: More lines than this get no legend (a subscripted variable can have hundreds of elements).
_MAX_LEGEND = 12


def push_span(result: RunResult) -> tuple[float, float] | None:
    """Start and end (model time) of the run's push, or None when the run had no push.

    Read from the push the run was given (its provenance's spec, written by ``Model.run``:
    the push schedule of the model's card); the push ends when the taper reaches zero.
    """
    spec = result.provenance.spec if result.provenance is not None else {}
    push = spec.get("push") if isinstance(spec, dict) else None
    if not isinstance(push, dict) or float(push.get("amount", 0.0)) <= 0:
        return None
    start = float(push.get("start", 0.0))
    end = start + float(push.get("duration", 0.0)) + float(push.get("taper", 0.0))
    return (start, end) if end > start else None


def group_by_units(result: RunResult, variables: Sequence[str]) -> list[list[str]]:
    """Split variables into groups that share units (one panel each), keeping their order."""
    groups: dict[str, list[str]] = {}
    for name in variables:
        groups.setdefault(result.units_of(name), []).append(name)
    return list(groups.values())


def plot_run(
    result: RunResult,
    variables: Sequence[str] | str,
    *,
    ax: Axes | None = None,
) -> Axes:
    """Plot variables of one run over time on one Axes.

    Parameters
    ----------
    result : RunResult
        The run.
    variables : str or sequence of str
        Names in either spelling; a subscripted variable's bare name (``"Members"``) draws one
        line per element. Variables should share units: the y axis is labelled with them.
    ax : Axes, optional
        Where to draw; a new figure's Axes when None.

    Returns
    -------
    Axes

    Raises
    ------
    PlotInputError
        If no variable is given.
    UnknownVariableError
        If a name is not saved in the result (with close matches).
    """
    names = [variables] if isinstance(variables, str) else list(variables)
    if not names:
        raise PlotInputError("plot_run needs at least one variable to draw")
    columns: list[str] = []
    for name in names:
        columns.extend(c for c in result.columns_of(name) if c not in columns)
    ax = new_axes(ax)
    time = result.time
    for index, column in enumerate(columns):
        base, element = split_column(column)
        values = result.frame[column].to_numpy(dtype=float)
        ax.plot(time, values, color=cycle_color(index), lw=1.6,
                label=f"{base} ({element})" if element else base)
    shade_push(ax, push_span(result))
    units = {result.units_of(c) for c in columns}
    if len(units) == 1:
        ax.set_ylabel(units.pop() or "value")
    time_units = result.units.get("Time", "")
    ax.set_xlabel(f"time ({time_units})" if time_units else "time")
    ax.set_xlim(float(np.min(time)), float(np.max(time)))
    if len(columns) <= _MAX_LEGEND:
        ax.legend(fontsize="small", frameon=False)
    else:  # hundreds of subscript elements: a legend would bury the axes
        ax.set_title(f"{', '.join(names)}: {len(columns)} lines, one per element",
                     fontsize="small", loc="left")
    ax.grid(True, lw=0.4, alpha=0.5)
    return ax
