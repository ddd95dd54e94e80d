"""Calibration figures: simulated distributions against targets, and point fits.

:func:`plot_target_fit` shows, for one target, the distribution of the simulated quantity over
every set run (grey) and over the non-implausible sets (colour) against the observed value, its
± one standard deviation and the ± cutoff band of the implausibility (observation and
discrepancy together). :func:`plot_series_fit` draws an observed series and the fitted run.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes

from sdnet.errors import PlotInputError
from sdnet.plotting._style import OKABE_ITO, new_axes

__all__ = ["plot_series_fit", "plot_target_fit"]


def plot_target_fit(
    simulated: np.ndarray,
    kept: np.ndarray,
    *,
    observed: float,
    sd: float,
    total_sd: float,
    cutoff: float,
    title: str = "",
    units: str = "",
    ax: Axes | None = None,
) -> Axes:
    """Histogram of one target's simulated values, all sets and non-implausible sets.

    Both histograms are densities (each integrates to 1), so the shape of the few kept sets
    shows beside the many sets run.

    Parameters
    ----------
    simulated : numpy.ndarray
        ``(n_sets,)`` the target's quantity in every set run (NaN for failed runs: left out).
    kept : numpy.ndarray
        ``(n_sets,)`` True for the non-implausible sets.
    observed, sd : float
        The observed value and its standard deviation (target units).
    total_sd : float
        ``sqrt(sd**2 + discrepancy**2)``: the implausibility's scale.
    cutoff : float
        The implausibility cutoff; the shaded band is ``observed ± cutoff * total_sd``.
    title, units : str
        Axes title and x-axis label.
    ax : Axes, optional
        Axes to draw on (a new figure when None).
    """
    simulated = np.asarray(simulated, dtype=float)
    kept = np.asarray(kept, dtype=bool)
    if simulated.shape != kept.shape:
        raise PlotInputError(
            f"simulated has shape {simulated.shape} but kept has {kept.shape}; give one "
            "value and one flag per set"
        )
    ax = new_axes(ax, figsize=(3.2, 2.4))
    finite = np.isfinite(simulated)
    values = simulated[finite]
    low, high = observed - cutoff * total_sd, observed + cutoff * total_sd
    if values.size:
        low, high = min(low, float(values.min())), max(high, float(values.max()))
    if not high > low:
        low, high = observed - 1.0, observed + 1.0
    bins = np.linspace(low, high, 31)
    ax.axvspan(observed - cutoff * total_sd, observed + cutoff * total_sd,
               color=OKABE_ITO["sky_blue"], alpha=0.18, lw=0,
               label=f"±{cutoff:g} total sd (not ruled out)")
    ax.axvspan(observed - sd, observed + sd, color=OKABE_ITO["sky_blue"], alpha=0.45, lw=0,
               label="observed ± sd")
    if values.size:
        ax.hist(values, bins=bins, color=OKABE_ITO["grey"], alpha=0.6, density=True,
                label="all sets run")
    chosen = simulated[finite & kept]
    if chosen.size:
        ax.hist(chosen, bins=bins, color=OKABE_ITO["blue"], alpha=0.7, density=True,
                label="non-implausible sets")
    ax.axvline(observed, color=OKABE_ITO["black"], lw=1.2, label="observed")
    ax.set_xlim(low, high)
    ax.set_ylabel("density")
    if units:
        ax.set_xlabel(units)
    if title:
        ax.set_title(title, fontsize=8)
    ax.tick_params(labelsize=7)
    return ax


def plot_series_fit(
    times: np.ndarray,
    observed: np.ndarray,
    fitted: np.ndarray,
    *,
    label: str = "",
    ax: Axes | None = None,
) -> Axes:
    """An observed series (points) and the fitted run at the same times (line)."""
    times = np.asarray(times, dtype=float)
    observed = np.asarray(observed, dtype=float)
    fitted = np.asarray(fitted, dtype=float)
    if not times.shape == observed.shape == fitted.shape:
        raise PlotInputError(
            f"times {times.shape}, observed {observed.shape} and fitted {fitted.shape} must "
            "have the same shape"
        )
    ax = new_axes(ax, figsize=(4.0, 2.6))
    ax.plot(times, fitted, color=OKABE_ITO["blue"], lw=1.5, label="fitted run")
    mask = np.isfinite(observed)
    ax.plot(times[mask], observed[mask], "o", color=OKABE_ITO["black"], ms=3,
            label="observed")
    ax.set_xlabel("time")
    if label:
        ax.set_title(label, fontsize=8)
    ax.legend(fontsize=7, frameon=False)
    return ax
