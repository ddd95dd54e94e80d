"""The policy-comparison figure: success rate against public cost per success, per package
and region, each with its interval (issue 13: the decisive figure of a package study)."""

from __future__ import annotations

import math
import textwrap

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, PercentFormatter

from sdnet.plotting._style import cycle_color, new_axes
from sdnet.plotting.indices import require_columns

__all__ = ["plot_income_shares", "plot_package_comparison"]

_MARKERS = ("o", "s", "D", "^", "v", "P", "X", "<", ">", "h", "*", "p")


def _money(value: float, _position: object = None) -> str:
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def plot_package_comparison(
    summary: pd.DataFrame, *, money: str = "$", ax: Axes | None = None,
) -> Axes:
    """Success rate (with its interval) against public cost per success (with its interval),
    one marker per package, one colour per region.

    Parameters
    ----------
    summary : DataFrame
        ``analyses/packages.csv``: ``region``, ``package``, ``success_rate``,
        ``success_low``, ``success_high`` and, when the study measured public money,
        ``cost_per_success`` (with ``_low`` and ``_high``). Without cost columns the
        packages are spread along the x axis instead.
    money : str, default "$"
        The money units for the x axis label.
    ax : Axes, optional
        Where to draw (a new figure when omitted).

    Returns
    -------
    Axes
        Packages whose cost per success is undefined (no or too few successes) are named in
        a note under the plot, not placed at an invented cost.
    """
    require_columns(summary, ["region", "package", "success_rate", "success_low",
                              "success_high"], what="the package comparison")
    ax = new_axes(ax, figsize=(6.3, 4.2))
    regions = list(dict.fromkeys(summary["region"].astype(str)))
    packages = list(dict.fromkeys(summary["package"].astype(str)))
    has_cost = "cost_per_success" in summary.columns
    left_out: list[str] = []
    for r, region in enumerate(regions):
        color = cycle_color(r)
        part = summary[summary["region"].astype(str) == region]
        for _, row in part.iterrows():
            p = packages.index(str(row["package"]))
            rate = float(row["success_rate"])
            yerr = [[rate - float(row["success_low"])], [float(row["success_high"]) - rate]]
            if has_cost:
                x = _finite(row.get("cost_per_success"))
                if x is None:
                    left_out.append(f"{row['package']} ({region}: {int(row.get('successes', 0))}"
                                    f" of {int(row.get('worlds', 0))})")
                    continue
                low = _finite(row.get("cost_per_success_low"))
                high = _finite(row.get("cost_per_success_high"))
                xerr = [[x - low if low is not None else 0.0],
                        [high - x if high is not None else 0.0]]
            else:
                x = p + (r - (len(regions) - 1) / 2) * 0.15
                xerr = None
            ax.errorbar([x], [rate], yerr=yerr, xerr=xerr, fmt=_MARKERS[p % len(_MARKERS)],
                        color=color, ecolor=color, elinewidth=0.9, capsize=2, markersize=6,
                        markerfacecolor="white" if r % 2 else color, linestyle="none")
    ax.set_ylim(-0.03, 1.03)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("share of worlds where it succeeds")
    if has_cost:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(_money))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _p: ""))
        ax.set_xlabel(f"public cost per success ({money}; log scale)")
    else:
        ax.set_xticks(range(len(packages)), packages, rotation=20, ha="right")
        ax.set_xlabel("package")
    ax.grid(True, which="major", alpha=0.3)
    for r, region in enumerate(regions):
        ax.plot([], [], "o", color=cycle_color(r), label=region,
                markerfacecolor="white" if r % 2 else cycle_color(r))
    for p, package in enumerate(packages):
        ax.plot([], [], _MARKERS[p % len(_MARKERS)], color="0.3", label=package,
                markerfacecolor="white")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    if left_out:
        ax.text(0.0, -0.2, "no cost per success (too few successes): " + "; ".join(left_out),
                transform=ax.transAxes, fontsize=7, va="top", wrap=True)
    return ax


def plot_income_shares(
    mechanisms: pd.DataFrame, *, whole: str = "the whole", preset: str = "region",
    ax: Axes | None = None,
) -> Axes:
    """What the successes live on: per region and package, one horizontal bar split into
    the mean share of each part (over the worlds where the package succeeds).

    Parameters
    ----------
    mechanisms : DataFrame
        ``analyses/mechanisms.csv``: ``region``, ``package``, ``successes``, ``kind``,
        ``name`` and ``mean`` (the rows of kind ``"share"`` are drawn).
    whole : str
        What the shares are shares of (the card's ``[mechanism] plain``), for the axis label.
    preset : str
        What a region is called (the card's word), for the note on packages without success.
    ax : Axes, optional
        Where to draw (a new figure when omitted).

    Returns
    -------
    Axes
        Bars grouped by region (labelled "region: package"); a package without a success is
        named under the x axis's label, not drawn.
    """
    require_columns(mechanisms, ["region", "package", "successes", "kind", "name", "mean"],
                    what="the shares of what keeps the successes alive")
    shares = mechanisms[mechanisms["kind"] == "share"]
    names = list(dict.fromkeys(shares["name"].astype(str)))
    groups = list(dict.fromkeys(zip(shares["region"].astype(str),
                                    shares["package"].astype(str), strict=True)))
    drawn = []
    left_out = []
    for region, package in groups:
        part = shares[(shares["region"].astype(str) == region)
                      & (shares["package"].astype(str) == package)]
        values = dict(zip(part["name"].astype(str), part["mean"].astype(float), strict=True))
        if int(part["successes"].iloc[0]) == 0 or not all(
                math.isfinite(values.get(n, math.nan)) for n in names):
            left_out.append(package if set(shares["region"]) == {"default"}
                            else f"{package} ({region})")
            continue
        drawn.append((region, package, values))
    ax = new_axes(ax, figsize=(6.3, 0.3 * max(len(drawn), 3) + 1.4))
    several = len({region for region, _, _ in drawn}) > 1
    labels = [f"{region}: {package}" if several else package for region, package, _ in drawn]
    y = list(range(len(drawn)))[::-1]
    left = [0.0] * len(drawn)
    for k, name in enumerate(names):
        widths = [values[name] for _, _, values in drawn]
        ax.barh(y, widths, left=left, color=cycle_color(k), label=name, height=0.7,
                edgecolor="white", linewidth=0.5)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    ax.set_yticks(y, labels, fontsize=7)
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    note = ("\n" + textwrap.fill(f"no success (not drawn): {', '.join(left_out)}", 60)
            if left_out else "")
    ax.set_xlabel(f"mean share of {whole}\n(worlds where the package succeeds){note}")
    ax.legend(fontsize=7, loc="lower left", bbox_to_anchor=(0.0, 1.0), frameon=False,
              ncol=min(len(names), 2))
    return ax


def _finite(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


