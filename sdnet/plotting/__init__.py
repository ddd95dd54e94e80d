"""Pure plot functions: data in, ``ax=None`` in, the Axes out; they never save or show.

Only :mod:`sdnet.reports` writes figures to files.
"""

from __future__ import annotations

from sdnet.plotting.decision import plot_pareto_front
from sdnet.plotting.diagram import diagram_figsize, plot_diagram
from sdnet.plotting.discovery import (
    plot_outcome_map,
    plot_scenario_scatter,
    plot_threshold_map,
)
from sdnet.plotting.indices import (
    plot_convergence,
    plot_morris,
    plot_sobol,
    plot_time_resolved,
)
from sdnet.plotting.packages import plot_income_shares, plot_package_comparison
from sdnet.plotting.runs import plot_run
from sdnet.plotting.uncertainty import plot_fan, shade_push

__all__ = [
    "diagram_figsize",
    "plot_convergence",
    "plot_diagram",
    "plot_fan",
    "plot_income_shares",
    "plot_morris",
    "plot_outcome_map",
    "plot_package_comparison",
    "plot_pareto_front",
    "plot_run",
    "plot_scenario_scatter",
    "plot_sobol",
    "plot_threshold_map",
    "plot_time_resolved",
    "shade_push",
]
