"""The policy-comparison figure: one marker per package and region, at its numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sdnet.errors import PlotInputError
from sdnet.plotting import plot_package_comparison


def _summary(cost: bool = True) -> pd.DataFrame:
    frame = pd.DataFrame({
        "region": ["a", "a", "b", "b"], "package": ["none", "push", "none", "push"],
        "worlds": [100] * 4, "successes": [0, 20, 0, 90],
        "success_rate": [0.0, 0.2, 0.0, 0.9], "success_low": [0.0, 0.13, 0.0, 0.83],
        "success_high": [0.04, 0.29, 0.04, 0.95]})
    if cost:
        frame["cost_per_success"] = [np.nan, 5e6, np.nan, 1.1e6]
        frame["cost_per_success_low"] = [0.0, 3.4e6, 0.0, 1.05e6]
        frame["cost_per_success_high"] = [np.nan, 7.7e6, np.nan, 1.2e6]
    return frame


def _points(ax: Axes) -> list[tuple[float, float]]:
    """(x, y) of every plotted marker that carries data (legend proxies are empty)."""
    found = []
    for line in ax.get_lines():
        x, y = line.get_xdata(), line.get_ydata()
        if len(x) == 1 and line.get_marker() not in ("None", "", None, "|", "_"):
            found.append((float(x[0]), float(y[0])))
    return found


def test_markers_sit_at_cost_per_success_and_rate_and_undefined_costs_are_named() -> None:
    ax = plot_package_comparison(_summary())
    assert isinstance(ax, Axes)
    assert sorted(_points(ax)) == [(1.1e6, 0.9), (5e6, 0.2)]
    assert ax.get_xscale() == "log"
    assert "public cost per success ($" in ax.get_xlabel()
    notes = " ".join(t.get_text() for t in ax.texts)
    assert "none (a: 0 of 100)" in notes and "none (b: 0 of 100)" in notes
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["a", "b", "none", "push"]


def test_without_cost_the_packages_spread_along_x_on_a_given_axes() -> None:
    ax = Figure().add_subplot()
    assert plot_package_comparison(_summary(cost=False), ax=ax) is ax
    assert len(_points(ax)) == 4
    assert [t.get_text() for t in ax.get_xticklabels()] == ["none", "push"]
    assert not ax.texts


def test_missing_columns_are_named() -> None:
    with pytest.raises(PlotInputError, match="success_low"):
        plot_package_comparison(_summary().drop(columns=["success_low"]))
