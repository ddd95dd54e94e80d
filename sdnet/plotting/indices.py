"""Which levers matter: plots of Morris screening and Sobol variance-based indices.

Inputs are the analysis tables of a study's results folder (see ``docs/architecture.md``):
plain :class:`pandas.DataFrame` objects with the columns named below, so these functions do
not depend on the analysis objects that produced them.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.ticker import MaxNLocator

from sdnet.errors import PlotInputError
from sdnet.plotting._style import A4_TEXT_WIDTH, OKABE_ITO, cycle_color, new_axes

__all__ = [
    "CAUTION_HALF_WIDTH",
    "convergence_ylim",
    "plot_convergence",
    "plot_morris",
    "plot_sobol",
    "plot_time_resolved",
    "reliability",
    "require_columns",
]

CAUTION_HALF_WIDTH: float = 0.1
"""Half-width of a confidence interval (share of variance) beyond which an index is flagged."""


def require_columns(frame: pd.DataFrame, columns: Iterable[str], *, what: str) -> None:
    """Raise :class:`~sdnet.errors.PlotInputError` naming the columns ``frame`` lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise PlotInputError(
            f"{what} needs columns {', '.join(missing)}; "
            f"the table has {', '.join(map(str, frame.columns))}"
        )


def fmt_count(n: float) -> str:
    """An integer count with thousands separators (``1,024``)."""
    return f"{round(n):,}"


def _label(metric: str | None, units: str | None) -> str:
    name = metric or "the metric"
    return f"{name} ({units})" if units else name


def plot_morris(
    frame: pd.DataFrame,
    *,
    metric: str | None = None,
    units: str | None = None,
    label_top: int = 10,
    ax: Axes | None = None,
) -> Axes:
    """Morris screening: mean absolute elementary effect (mu*) against its spread (sigma).

    Factors far to the right matter most; factors high above the 1:1 line act non-linearly
    or through interactions (Campolongo, Cariboni and Saltelli 2007).

    Parameters
    ----------
    frame : DataFrame
        Columns ``factor``, ``mu_star``, ``sigma`` and optionally ``mu_star_conf`` (half-width
        of the bootstrap confidence interval of mu*).
    metric, units : str, optional
        The metric analysed and its units (axis labels).
    label_top : int
        Only the factors with the ``label_top`` largest mu* (and at least 5% of the largest)
        are labelled: screening studies have dozens of factors, most of them near the origin.
    ax : Axes, optional

    Returns
    -------
    Axes
        A scatter (``PathCollection``), a text label per labelled factor, error bars when
        ``mu_star_conf`` is given (their lower ends cut at 0), and the dashed line
        sigma = mu*.
    """
    require_columns(frame, ["factor", "mu_star", "sigma"], what="plot_morris")
    ax = new_axes(ax, figsize=(A4_TEXT_WIDTH, 4.2))
    mu = frame["mu_star"].to_numpy(float)
    sigma = frame["sigma"].to_numpy(float)
    if "mu_star_conf" in frame.columns:
        # mu* is a mean of absolute values: its interval is cut at 0, not drawn off the axis
        conf = frame["mu_star_conf"].to_numpy(float)
        ax.errorbar(
            mu, sigma, xerr=np.vstack([np.minimum(conf, np.maximum(mu, 0.0)), conf]),
            fmt="none", ecolor="#999999", elinewidth=0.8, capsize=2, zorder=1,
        )
    ax.scatter(mu, sigma, s=28, color=OKABE_ITO["blue"], zorder=3, label="factor")
    top = max(float(np.nanmax(mu)) if mu.size else 1.0, float(np.nanmax(sigma)) if sigma.size
              else 1.0, 1e-12) * 1.1
    ax.plot([0, top], [0, top], ls="--", lw=0.8, color="#777777", label="σ = μ*")
    placed: list[tuple[float, float]] = []
    ranked = np.argsort(-np.nan_to_num(mu, nan=-np.inf), kind="stable")[:label_top]
    # factors huddled at the origin stay unlabelled: their labels would only overprint
    ranked = [k for k in ranked if mu[k] >= 0.05 * np.nanmax(mu)]
    for k in sorted(ranked, key=lambda i: -sigma[i]):
        name, x, y = frame["factor"].iloc[k], mu[k], sigma[k]
        # the first vertical offset (points) whose label would not sit on one already placed
        # and stays inside the axes
        dy = 3.0
        for offset in (3.0, -11.0, 14.0, -22.0, 25.0, -33.0):
            label_y = y + offset / 300 * top
            if not 0 <= label_y <= top:
                continue
            if all(abs(px - x) >= 0.25 * top or abs(py - label_y) >= 0.035 * top
                   for px, py in placed):
                dy = offset
                break
        placed.append((x, y + dy / 300 * top))
        label = ax.annotate(str(name), (x, y), xytext=(4, dy), textcoords="offset points",
                            fontsize=7, annotation_clip=True)
        label.set_in_layout(False)
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MaxNLocator(5))
    ax.ticklabel_format(style="sci", scilimits=(-3, 4), useMathText=True)
    ax.set_xlabel(f"μ*: mean |elementary effect| on {_label(metric, units)}")
    ax.set_ylabel(f"σ: spread of elementary effects ({units})" if units else "σ")
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    ax.grid(True, lw=0.3, alpha=0.5)
    return ax


def reliability(frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Which rows of an index table can be ranked, and why the others cannot.

    Read from the table's ``reliable`` and ``problem`` columns (written by sdnet since the
    check existed); an older table is checked here with
    :func:`sdnet.sensitivity.sobol.index_problems` (the output-level check needs the runs).
    """
    if "reliable" in frame.columns:
        flags = frame["reliable"].astype(str).str.strip().str.lower().isin(("true", "1", "1.0"))
        problems = ["" if pd.isna(p) else str(p) for p in frame["problem"]] \
            if "problem" in frame.columns else [""] * len(frame)
        return flags.to_numpy(bool), problems
    from sdnet.sensitivity.sobol import index_problems

    def column(name: str) -> np.ndarray:
        if name in frame.columns:
            return frame[name].to_numpy(float)
        return np.full(len(frame), np.nan if not name.endswith("_conf") else 0.0)

    problems = list(index_problems(column("S1"), column("S1_conf"), column("ST"),
                                   column("ST_conf")))
    return np.array([not p for p in problems], dtype=bool), problems


#: How far beyond 0-1 the axis of :func:`plot_sobol` may extend for reliable estimates.
_SOBOL_AXIS = (-0.25, 1.25)


def plot_sobol(
    frame: pd.DataFrame,
    *,
    metric: str | None = None,
    ax: Axes | None = None,
    caution: float = CAUTION_HALF_WIDTH,
) -> Axes:
    """Sobol first-order (S1) and total (ST) indices as bars with confidence intervals.

    Parameters
    ----------
    frame : DataFrame
        Columns ``factor``, ``S1``, ``ST`` and optionally ``S1_conf``, ``ST_conf`` (half-widths
        of the confidence intervals) and ``reliable``/``problem`` (see :func:`reliability`).
    metric : str, optional
        The metric analysed (axis label).
    ax : Axes, optional
    caution : float
        Bars whose interval half-width exceeds this are hatched and marked "wide CI".

    Returns
    -------
    Axes
        Two ``BarContainer`` objects (labels ``"S1 (first order)"`` and ``"ST (total)"``),
        reliable factors sorted by ST with the largest at the top; unreliable factors (not
        ranked) at the bottom as grey cross-hatched bars without intervals, labelled
        "unreliable", their bars cut at the axis (which spans at most -0.25 to 1.25).
    """
    require_columns(frame, ["factor", "S1", "ST"], what="plot_sobol")
    flags, _ = reliability(frame)
    data = frame.assign(_reliable=flags).sort_values(
        ["_reliable", "ST"], ascending=[True, True], kind="stable").reset_index(drop=True)
    good = data["_reliable"].to_numpy(bool)
    ax = new_axes(ax, figsize=(A4_TEXT_WIDTH, 0.9 + 0.32 * len(data)))
    y = np.arange(len(data), dtype=float)
    h = 0.38
    wide_any = False
    lo_axis, hi_axis = _SOBOL_AXIS
    for offset, column, color, label in (
        (h / 2, "ST", OKABE_ITO["blue"], "ST (total)"),
        (-h / 2, "S1", OKABE_ITO["orange"], "S1 (first order)"),
    ):
        conf = data.get(f"{column}_conf")
        xerr = None if conf is None else np.where(good, conf.to_numpy(float), np.nan)
        values = data[column].to_numpy(float)
        shown = np.where(good, values, np.clip(values, lo_axis, hi_axis))
        bars = ax.barh(
            y + offset, shown, height=h, color=color, label=label,
            xerr=xerr, error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "#333333"},
        )
        for k, bar in enumerate(bars):
            if not good[k]:
                bar.set_facecolor("#dddddd")
                bar.set_hatch("xx")
                bar.set_edgecolor("#777777")
            elif xerr is not None and np.isfinite(xerr[k]) and xerr[k] > caution:
                bar.set_hatch("///")
                bar.set_edgecolor("#333333")
                wide_any = True
    names = [str(f) + ("" if ok else "\n(unreliable)") for f, ok in
             zip(data["factor"], good, strict=True)]
    ax.set_yticks(y, names, fontsize=8)
    ax.axvline(0, color="black", lw=0.6)
    ax.set_xlabel(f"share of the variance of {metric or 'the metric'} (dmnl)")
    reliable_values = data.loc[good, ["S1", "ST"]].to_numpy(float)
    finite = reliable_values[np.isfinite(reliable_values)]
    low = min(0.0, float(finite.min()) - 0.05) if finite.size else 0.0
    high = max(1.0, float(finite.max()) + 0.05) if finite.size else 1.0
    ax.set_xlim(max(low, lo_axis), min(high, hi_axis))
    from matplotlib.patches import Patch

    # drawn, not taken from the bars: the first bar may be an unreliable (grey) one
    handles: list[Patch] = [Patch(facecolor=OKABE_ITO["blue"]),
                            Patch(facecolor=OKABE_ITO["orange"])]
    labels = ["ST (total)", "S1 (first order)"]
    if wide_any:
        handles.append(Patch(facecolor="white", edgecolor="#333333", hatch="///"))
        labels.append(f"wide CI (± > {caution:g}): caution")
    if not good.all():
        handles.append(Patch(facecolor="#dddddd", edgecolor="#777777", hatch="xx"))
        labels.append("unreliable estimate: not ranked")
    ax.legend(handles, labels, fontsize=7, frameon=False, loc="lower right")
    ax.grid(True, axis="x", lw=0.3, alpha=0.5)
    return ax


def plot_time_resolved(
    frame: pd.DataFrame,
    *,
    index: str = "ST",
    metric: str | None = None,
    push: tuple[float, float] | None = None,
    time_units: str = "Year",
    ax: Axes | None = None,
) -> Axes:
    """Sensitivity indices computed at each time, as a heat map (factors x time).

    Parameters
    ----------
    frame : DataFrame
        Columns ``time``, ``factor`` and the ``index`` column (``"S1"`` or ``"ST"``).
    index : str
        Which index to show.
    metric : str, optional
        The output analysed (title of the colour bar).
    push : (float, float), optional
        Start and end of the push (``time_units``), marked by dashed lines.
    time_units : str
    ax : Axes, optional

    Returns
    -------
    Axes
        A ``QuadMesh`` (the heat map, colour map ``cividis``) with a colour bar; factors are
        ordered by their largest index, the most important at the top.
    """
    require_columns(frame, ["time", "factor", index], what="plot_time_resolved")
    table = frame.pivot_table(index="factor", columns="time", values=index, aggfunc="mean")
    table = table.loc[table.max(axis=1).sort_values(ascending=True).index]
    ax = new_axes(ax, figsize=(A4_TEXT_WIDTH, 1.2 + 0.3 * len(table)))
    times = table.columns.to_numpy(float)
    if times.size > 1:
        mids = (times[1:] + times[:-1]) / 2
        edges = np.concatenate([[times[0] - (mids[0] - times[0])], mids,
                                [times[-1] + (times[-1] - mids[-1])]])
    else:
        edges = np.array([times[0] - 0.5, times[0] + 0.5]) if times.size else np.array([0, 1])
    mesh = ax.pcolormesh(
        edges, np.arange(len(table) + 1) - 0.5, table.to_numpy(float), cmap="cividis",
        norm=Normalize(vmin=0.0, vmax=max(1e-9, min(1.0, float(np.nanmax(table.to_numpy()))))),
        shading="flat",
    )
    ax.set_yticks(np.arange(len(table)), [str(f) for f in table.index], fontsize=8)
    figure = ax.get_figure()
    if figure is not None:
        bar = figure.colorbar(mesh, ax=ax, pad=0.02)
        bar.set_label(f"{index} (share of variance)", fontsize=8)
    if push is not None:
        for x in push:
            ax.axvline(x, color="white", ls="--", lw=1.0)
        ax.text(push[0], len(table) - 0.5, " push", color="white", fontsize=7, va="top")
    ax.set_xlabel(f"time ({time_units})")
    if metric:
        ax.set_title(f"{index} of {metric} over time", loc="left", fontsize=9)
    return ax


def convergence_ylim(frame: pd.DataFrame, *, index: str = "ST") -> tuple[float, float]:
    """Y limits of a convergence plot that show the indices where they settle.

    The limits hold every value and confidence band at the larger half of the sample sizes
    (the tiny-N bands can be hundreds of times wider and would flatten everything else),
    always 0, and never more than 0.25 beyond 0-1 (an index is a share of variance).
    """
    ns = np.unique(frame["n"].to_numpy(float))
    upper = frame[frame["n"] >= ns[len(ns) // 2]] if ns.size else frame
    values = upper[index].to_numpy(float)
    conf_col = f"{index}_conf"
    half = np.nan_to_num(upper[conf_col].to_numpy(float)) if conf_col in upper.columns \
        else np.zeros_like(values)
    reach = np.concatenate([values - half, values + half])
    reach = reach[np.isfinite(reach)]
    if reach.size == 0:
        return (-0.05, 1.05)
    low, high = min(0.0, float(reach.min())), max(float(reach.max()), 0.05)
    pad = 0.05 * (high - low)
    return (max(low - pad, _SOBOL_AXIS[0]), min(high + pad, _SOBOL_AXIS[1]))


def plot_convergence(
    frame: pd.DataFrame,
    *,
    index: str = "ST",
    metric: str | None = None,
    factors: Iterable[str] | None = None,
    caution: float = CAUTION_HALF_WIDTH,
    ax: Axes | None = None,
) -> Axes:
    """How the indices settle as the number of base samples N grows.

    Each factor is a line of its index against N with its confidence band; a point whose
    interval half-width exceeds ``caution`` is marked with a hollow black triangle, so a reader
    sees at once where the ranking is not yet to be trusted.

    Parameters
    ----------
    frame : DataFrame
        Columns ``n``, ``factor``, the ``index`` column and optionally ``<index>_conf``.
    index : str
        ``"S1"`` or ``"ST"``.
    metric : str, optional
    factors : iterable of str, optional
        Factors to show (default: the five with the largest index at the largest N, reliable
        ones first).
    caution : float
        Interval half-width (share of variance) above which a point is flagged.
    ax : Axes, optional

    Returns
    -------
    Axes
        One line per factor; the caution markers are a ``Line2D`` labelled
        ``"CI half-width > <caution>: caution"`` (present only when some point is flagged).
        The y axis spans :func:`convergence_ylim`: what lies beyond it at small N is cut,
        and the x label says so. The legend sits below the axes.
    """
    require_columns(frame, ["n", "factor", index], what="plot_convergence")
    ax = new_axes(ax)
    conf_col = f"{index}_conf"
    if factors is None:
        last = frame[frame["n"] == frame["n"].max()]
        flags, _ = reliability(last)
        ranked = last.assign(_reliable=flags).sort_values(
            ["_reliable", index], ascending=[False, False], kind="stable")
        factors = list(ranked["factor"].head(5))
    factors = list(factors)
    flagged_x: list[float] = []
    flagged_y: list[float] = []
    for i, factor in enumerate(factors):
        rows = frame[frame["factor"] == factor].sort_values("n")
        n = rows["n"].to_numpy(float)
        value = rows[index].to_numpy(float)
        color = cycle_color(i)
        ax.plot(n, value, marker="o", ms=3, lw=1.4, color=color, label=str(factor))
        if conf_col in rows.columns:
            half = rows[conf_col].to_numpy(float)
            ax.fill_between(n, value - half, value + half, color=color, alpha=0.15, lw=0)
            wide = half > caution
            flagged_x += list(n[wide])
            flagged_y += list(value[wide])
    if flagged_x:
        ax.plot(flagged_x, flagged_y, ls="none", marker="^", ms=10, mfc="none",
                mec=OKABE_ITO["black"], mew=1.3,
                label=f"CI half-width > {caution:g}: caution")
    ax.set_xscale("log", base=2)
    ns = np.unique(frame["n"].to_numpy(float))
    low, high = convergence_ylim(frame[frame["factor"].isin(factors)], index=index)
    ax.set_ylim(low, high)
    shown = frame[frame["factor"].isin(factors)]
    reach = shown[index].to_numpy(float)
    if conf_col in shown.columns:
        half = np.nan_to_num(shown[conf_col].to_numpy(float))
        reach = np.concatenate([reach - half, reach + half])
    cut = bool(np.any(reach[np.isfinite(reach)] < low) or
               np.any(reach[np.isfinite(reach)] > high))
    ax.set_xticks(ns, [fmt_count(n) for n in ns])
    ax.minorticks_off()
    ax.set_xlabel("N (base samples)" + ("; values and bands beyond the axis (small N) are cut"
                                        if cut else ""))
    ax.set_ylabel(f"{index} of {metric or 'the metric'}\n(share of variance)")
    # below the axes: inside, it would hide lines and caution markers; beside, it would
    # crowd the N labels
    ax.legend(fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.24),
              ncol=3)
    ax.grid(True, lw=0.3, alpha=0.5)
    return ax
