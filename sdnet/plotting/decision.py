"""Robust optimisation: the Pareto front of public cost against success rate, per region.

Every package the optimiser evaluated is a faint dot; the non-dominated ones (no other package
is both cheaper and more successful) are joined by a step line, and the cheapest package that
reaches each required success rate is a star on it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, PercentFormatter

from sdnet.plotting._style import cycle_color, new_axes
from sdnet.plotting.indices import require_columns

__all__ = ["plot_pareto_front"]


def plot_pareto_front(
    front: pd.DataFrame,
    *,
    evaluated: pd.DataFrame | None = None,
    optima: pd.DataFrame | None = None,
    cost_units: str = "$",
    ax: Axes | None = None,
) -> Axes:
    """Public cost against success rate: the Pareto front of each region.

    Parameters
    ----------
    front : DataFrame
        Columns ``region``, ``success_rate`` (0-1) and ``cost``: the non-dominated packages.
    evaluated : DataFrame, optional
        The same columns for every package evaluated (drawn as faint dots).
    optima : DataFrame, optional
        Columns ``region``, ``required_rate``, ``found``, ``success_rate``, ``cost``: the
        cheapest package per required rate (stars; rates no package reached are not drawn).
    cost_units : str
        Units of the cost (axis label).
    ax : Axes, optional

    Returns
    -------
    Axes
        One step line per region, labelled with the region's name: at a required rate ``r``
        on the x axis it reads the cost of the cheapest package on the front reaching ``r``.
    """
    require_columns(front, ["region", "success_rate", "cost"], what="plot_pareto_front")
    ax = new_axes(ax)
    for i, (region, rows) in enumerate(front.groupby("region", sort=False)):
        color = cycle_color(i)
        if evaluated is not None:
            cloud = evaluated[evaluated["region"] == region]
            ax.scatter(cloud["success_rate"], cloud["cost"], s=6, color=color, alpha=0.15,
                       lw=0, rasterized=len(cloud) > 2000)
        rows = rows.sort_values("cost")
        ax.step(rows["success_rate"], rows["cost"], where="pre", marker="o", ms=3.5, lw=1.4,
                color=color, label=str(region))
        if optima is not None:
            found = optima[(optima["region"] == region) & optima["found"].astype(bool)]
            ax.scatter(found["success_rate"], found["cost"], marker="*", s=140, color=color,
                       edgecolor="black", lw=0.6, zorder=5)
            for rate in np.unique(optima.loc[optima["region"] == region, "required_rate"]):
                ax.axvline(float(rate), color="0.6", lw=0.8, ls="--", zorder=0)
    ax.set_xlim(-0.02, 1.02)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_xlabel("success rate (share of worlds)")
    ax.set_ylabel(f"public cost ({cost_units})")
    if optima is not None:
        ax.scatter([], [], marker="*", s=80, color="white", edgecolor="black",
                   label="cheapest at a required rate (dashed)")
    ax.legend(frameon=False, fontsize="small")
    return ax
