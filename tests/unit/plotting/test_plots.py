"""Each plot function returns an Axes carrying the artists and labels its data call for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PathCollection, PolyCollection, QuadMesh
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from sdnet.errors import PlotInputError
from sdnet.plotting import (
    diagram_figsize,
    plot_convergence,
    plot_diagram,
    plot_fan,
    plot_morris,
    plot_outcome_map,
    plot_pareto_front,
    plot_scenario_scatter,
    plot_sobol,
    plot_threshold_map,
    plot_time_resolved,
)
from sdnet.sketch import read_sketch

DATA = Path(__file__).resolve().parents[2] / "data"


def _gids(ax: Axes, prefix: str) -> list[str]:
    return [p.get_gid() for p in ax.patches if str(p.get_gid()).startswith(prefix)]


# ---- diagram ------------------------------------------------------------------------------


def test_diagram_draws_every_object_of_the_view() -> None:
    view = read_sketch(DATA / "two_views.mdl").view("Stocks and flows")
    ax = plot_diagram(view)
    assert isinstance(ax, Axes)
    assert sorted(_gids(ax, "stock:")) == sorted(f"stock:{s.name}" for s in view.stocks)
    stock = next(p for p in ax.patches if p.get_gid() == "stock:Stock A")
    assert isinstance(stock, Rectangle)
    assert stock.get_xy() == (300.0 - 40.0, 200.0 - 20.0)
    assert (stock.get_width(), stock.get_height()) == (80.0, 40.0)
    assert len(_gids(ax, "valve:")) == 2 * len(view.valves)  # a bow tie of two triangles
    assert len(set(_gids(ax, "cloud:"))) == len(view.clouds)
    assert sorted(_gids(ax, "pipe:")) == sorted(f"pipe:{a.id}" for a in view.pipes)
    assert sorted(_gids(ax, "link:")) == sorted(f"link:{a.id}" for a in view.links)
    texts = [t.get_text().replace("\n", " ") for t in ax.texts]
    for variable in view.variables:
        assert variable.name in texts
    assert "Widgets arrive from outside and pass from A to B." in texts
    assert texts.count("+") == 2 and texts.count("-") == 1  # link polarities
    assert ax.get_title(loc="left") == "Stocks and flows"
    assert ax.yaxis_inverted()  # screen coordinates: y grows downwards


def test_diagram_marks_shadow_variables() -> None:
    view = read_sketch(DATA / "two_views.mdl").view("Signals")
    ax = plot_diagram(view, title="")
    assert "<Stock B>" in [t.get_text() for t in ax.texts]
    assert ax.get_title(loc="left") == ""


def test_diagram_figsize_keeps_proportions_and_scale() -> None:
    sketch = read_sketch(DATA / "two_views.mdl")
    big, small = sketch.views
    w_big, h_big = diagram_figsize(big)
    w_small, _ = diagram_figsize(small)
    xmin, ymin, xmax, ymax = big.bounds()
    # one scale for all views: width in proportion to the view's width in pixels
    assert w_big / w_small == pytest.approx(
        (xmax - xmin + 40) / (small.bounds()[2] - small.bounds()[0] + 40))
    assert h_big == pytest.approx(w_big * (ymax - ymin + 40) / (xmax - xmin + 40) + 0.4)
    w_capped, h_capped = diagram_figsize(big, max_width=2.5)
    assert w_capped == pytest.approx(2.5)
    assert h_capped == pytest.approx(2.5 * (ymax - ymin + 40) / (xmax - xmin + 40) + 0.4)


# ---- fan chart ----------------------------------------------------------------------------


def _fan_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    times = np.linspace(0, 10, 21)
    values = rng.normal(size=(60, 1)) + times[None, :] * rng.uniform(0.5, 1.5, size=(60, 1))
    regime = np.where(values[:, -1] > np.median(values[:, -1]), "sustained", "collapsed")
    return times, values, regime


def test_fan_chart_median_and_bands_per_regime() -> None:
    times, values, regime = _fan_data()
    ax = plot_fan(times, values, regime=regime, push=(2.0, 5.5), name="Total Members",
                  units="firm")
    lines = {line.get_label(): line for line in ax.get_lines()}
    n_sustained = int((regime == "sustained").sum())
    line = lines[f"sustained: median ({n_sustained} runs)"]
    np.testing.assert_allclose(line.get_ydata(),
                               np.quantile(values[regime == "sustained"], 0.5, axis=0))
    assert f"collapsed: median ({len(regime) - n_sustained} runs)" in lines
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 4  # 50% and 90% per regime
    push = [a for a in [*ax.patches, *ax.collections] if a.get_gid() == "push"]
    assert len(push) == 1
    assert ax.get_ylabel() == "Total Members (firm)"
    assert ax.get_xlabel() == "time (Year)"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "public push" in legend and "50% of runs" in legend and "90% of runs" in legend


def test_fan_chart_leaves_out_failed_runs() -> None:
    times, values, _ = _fan_data()
    values[0, 5:] = np.nan
    ax = plot_fan(times, values)
    assert [line.get_label() for line in ax.get_lines()] == [f"all runs: median ({59} runs)"]


def test_fan_chart_shape_errors_are_pinned() -> None:
    times, values, regime = _fan_data()
    with pytest.raises(PlotInputError, match=r"^values must have shape \(n_runs, 21\) to match "
                       r"times, not \(60, 20\)$"):
        plot_fan(times, values[:, :-1])
    with pytest.raises(PlotInputError, match=r"^regime has 59 entries but values has 60 runs$"):
        plot_fan(times, values, regime=regime[:-1])


# ---- indices ------------------------------------------------------------------------------

SOBOL = pd.DataFrame({
    "factor": ["push_duration", "broker_share", "sponsor_cultivation_share"],
    "S1": [0.30, 0.05, 0.40], "S1_conf": [0.04, 0.02, 0.15],
    "ST": [0.45, 0.06, 0.55], "ST_conf": [0.05, 0.03, 0.12],
})


def test_sobol_bars_sorted_with_intervals_and_caution() -> None:
    ax = plot_sobol(SOBOL, metric="persistence_after_push")
    order = SOBOL.sort_values("ST")
    assert [t.get_text() for t in ax.get_yticklabels()] == list(order["factor"])
    containers = {c.get_label(): c for c in ax.containers if hasattr(c, "patches")}
    st_widths = [p.get_width() for p in containers["ST (total)"].patches]
    s1_widths = [p.get_width() for p in containers["S1 (first order)"].patches]
    np.testing.assert_allclose(st_widths, order["ST"])
    np.testing.assert_allclose(s1_widths, order["S1"])
    hatched = [p.get_hatch() for p in containers["ST (total)"].patches]
    assert hatched == [None, None, "///"]  # only sponsor_cultivation_share's CI is wide
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "wide CI (± > 0.1): caution" in legend
    assert ax.get_xlabel() == "share of the variance of persistence_after_push (dmnl)"


def test_sobol_without_wide_intervals_has_no_caution() -> None:
    frame = SOBOL.assign(S1_conf=0.01, ST_conf=0.01)
    ax = plot_sobol(frame)
    assert all("caution" not in t.get_text() for t in ax.get_legend().get_texts())


def test_sobol_unreliable_factors_are_not_ranked_and_do_not_stretch_the_axis() -> None:
    # the flagship's embeddedness row: ST 93.59 ± 172.51 would squash the other bars
    frame = pd.concat([SOBOL, pd.DataFrame({
        "factor": ["local_match_requirement"], "S1": [-0.034], "S1_conf": [0.127],
        "ST": [93.59], "ST_conf": [172.51]})], ignore_index=True)
    ax = plot_sobol(frame, metric="embeddedness")
    labels = [t.get_text() for t in ax.get_yticklabels()]
    # the unreliable factor at the bottom, the others ranked by ST above it
    assert labels == ["local_match_requirement\n(unreliable)",
                      *SOBOL.sort_values("ST")["factor"]]
    # the axis spans 0-1 and the reliable estimates (plus a margin), not 93.59
    low, high = ax.get_xlim()
    reliable_max = float(SOBOL[["ST", "S1"]].to_numpy().max())
    assert (low, high) == (0.0, max(1.0, reliable_max + 0.05))
    containers = {c.get_label(): c for c in ax.containers if hasattr(c, "patches")}
    bottom = containers["ST (total)"].patches[0]
    assert bottom.get_hatch() == "xx" and high <= bottom.get_width() < 93.59  # cut
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [
        "ST (total)", "S1 (first order)", "wide CI (± > 0.1): caution",
        "unreliable estimate: not ranked"]
    # the legend's ST and S1 keys have the bars' colours, not the unreliable grey
    keys = legend.get_patches()
    assert keys[0].get_facecolor() == containers["ST (total)"].patches[-1].get_facecolor()
    assert keys[1].get_facecolor() == containers["S1 (first order)"].patches[-1].get_facecolor()
    # the table's own flags are used when present
    flagged = SOBOL.assign(reliable=[True, False, True], problem=["", "wide", ""])
    ax = plot_sobol(flagged)
    assert next(t.get_text() for t in ax.get_yticklabels()) == \
        f"{SOBOL['factor'][1]}\n(unreliable)"


def test_missing_columns_are_named() -> None:
    with pytest.raises(PlotInputError, match=r"^plot_sobol needs columns ST; the table has "
                       r"factor, S1$"):
        plot_sobol(pd.DataFrame({"factor": ["a"], "S1": [0.1]}))


def test_morris_scatter_with_labels_and_units() -> None:
    frame = pd.DataFrame({"factor": ["a", "b", "c"], "mu": [0.5, -0.1, 0.2],
                          "mu_star": [0.5, 0.12, 0.2], "sigma": [0.1, 0.3, 0.21],
                          "mu_star_conf": [0.05, 0.02, 0.03]})
    ax = plot_morris(frame, metric="time_to_collapse", units="Year")
    scatter = next(c for c in ax.collections if isinstance(c, PathCollection))
    np.testing.assert_allclose(scatter.get_offsets(), frame[["mu_star", "sigma"]].to_numpy())
    assert sorted(t.get_text() for t in ax.texts) == ["a", "b", "c"]
    assert ax.get_xlabel() == "μ*: mean |elementary effect| on time_to_collapse (Year)"
    assert ax.get_ylabel() == "σ: spread of elementary effects (Year)"
    assert "σ = μ*" in [line.get_label() for line in ax.get_lines()]


def test_time_resolved_heat_map() -> None:
    times = [1.0, 2.0, 3.0]
    rows = [{"time": t, "factor": f, "ST": st, "S1": st / 2}
            for t in times for f, st in (("a", 0.1 * t), ("b", 0.5))]
    frame = pd.DataFrame(rows)
    ax = plot_time_resolved(frame, metric="Total Members", push=(1.5, 2.5))
    mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
    # rows (bottom to top) ordered by the largest index, so b (0.5) is on top of a (0.3)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(2, 3),
                               [[0.1, 0.2, 0.3], [0.5, 0.5, 0.5]])
    assert ax.get_xlabel() == "time (Year)"
    colorbar_axes = [a for a in ax.get_figure().axes if a is not ax]
    assert colorbar_axes and colorbar_axes[0].get_ylabel() == "ST (share of variance)"


def _convergence(conf_last: float) -> pd.DataFrame:
    rows = []
    for n, conf in ((64, 0.3), (128, 0.2), (256, conf_last)):
        rows += [{"n": n, "factor": "a", "ST": 0.6, "ST_conf": conf},
                 {"n": n, "factor": "b", "ST": 0.2, "ST_conf": conf / 2}]
    return pd.DataFrame(rows)


def test_convergence_marks_wide_intervals() -> None:
    ax = plot_convergence(_convergence(0.05), metric="sustained")
    lines = {line.get_label(): line for line in ax.get_lines()}
    caution = lines["CI half-width > 0.1: caution"]
    # flagged: a at n=64 and 128 (0.3, 0.2), b at n=64 (0.15)
    assert sorted(zip(caution.get_xdata(), caution.get_ydata(), strict=True)) == [
        (64, 0.2), (64, 0.6), (128, 0.6)]
    assert {"a", "b"} <= set(lines)
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["64", "128", "256"]


def test_convergence_axis_shows_where_the_indices_settle() -> None:
    # like the flagship's ST of members_share: bands of ± 300 at N = 16, ± 0.05 at N = 4096
    rows = []
    for n, conf in ((16, 300.0), (64, 40.0), (256, 2.0), (1024, 0.2), (4096, 0.05)):
        rows += [{"n": n, "factor": "a", "ST": 0.7 + conf / 1000, "ST_conf": conf},
                 {"n": n, "factor": "b", "ST": 0.1, "ST_conf": conf / 2}]
    frame = pd.DataFrame(rows)
    ax = plot_convergence(frame, metric="members_share")
    low, high = ax.get_ylim()
    upper = frame[frame["n"] >= 256]  # the larger half of the sizes
    assert high >= float((upper["ST"] + upper["ST_conf"]).max()) or high == 1.25
    assert low <= 0.0 and low >= -0.25 and high <= 1.25
    settled = frame[frame["n"] >= 1024]
    assert low <= float((settled["ST"] - settled["ST_conf"]).min())
    assert high >= float((settled["ST"] + settled["ST_conf"]).max())
    assert ax.get_xlabel() == ("N (base samples); values and bands beyond the axis (small N) "
                               "are cut")
    # settled data from the start: no note, the band is all in view
    calm = frame.assign(ST_conf=0.01, ST=np.where(frame["factor"] == "a", 0.7, 0.1))
    ax = plot_convergence(calm)
    assert ax.get_xlabel() == "N (base samples)"
    assert ax.get_ylim()[1] >= float((calm["ST"] + calm["ST_conf"]).max())


def test_morris_error_bars_stop_at_zero() -> None:
    frame = pd.DataFrame({"factor": ["a", "b"], "mu": [0.01, 0.5], "mu_star": [0.03, 0.5],
                          "sigma": [0.05, 0.2], "mu_star_conf": [0.05, 0.1]})
    ax = plot_morris(frame, metric="embeddedness")
    bars = next(c for c in ax.collections if isinstance(c, LineCollection))
    lows = sorted(float(np.min(seg[:, 0])) for seg in bars.get_segments())
    highs = sorted(float(np.max(seg[:, 0])) for seg in bars.get_segments())
    expected_low = np.maximum(frame["mu_star"] - frame["mu_star_conf"], 0.0)
    np.testing.assert_allclose(lows, sorted(expected_low))
    np.testing.assert_allclose(highs, sorted(frame["mu_star"] + frame["mu_star_conf"]))
    assert min(lows) == 0.0


def test_convergence_without_wide_intervals_has_no_marker() -> None:
    frame = _convergence(0.05)
    frame["ST_conf"] = 0.01
    ax = plot_convergence(frame)
    assert all("caution" not in line.get_label() for line in ax.get_lines())


# ---- scenario discovery and thresholds ----------------------------------------------------


def test_scenario_scatter_colours_regimes_and_draws_the_box() -> None:
    rng = np.random.default_rng(1)
    factors = pd.DataFrame({"x": rng.uniform(0, 1, 200), "y": rng.uniform(0, 5, 200)})
    regime = np.where((factors["x"] > 0.5) & (factors["y"] > 2), "sustained", "collapsed")
    box = pd.DataFrame({"factor": ["x"], "lower": [0.5], "upper": [1.0]})
    ax = plot_scenario_scatter(factors, regime, x="x", y="y", box=box,
                               units={"x": "dmnl", "y": "Year"})
    labels = sorted(c.get_label() for c in ax.collections)
    n_sus = int((regime == "sustained").sum())
    assert labels == [f"collapsed ({200 - n_sus} runs)", f"sustained ({n_sus} runs)"]
    rect = next(p for p in ax.patches if p.get_gid() == "prim-box")
    # y is not restricted by the box: it spans the data's range
    assert rect.get_x() == 0.5 and rect.get_width() == 0.5
    assert rect.get_y() == pytest.approx(factors["y"].min())
    assert rect.get_y() + rect.get_height() == pytest.approx(factors["y"].max())
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x (dmnl)", "y (Year)")


def test_scenario_scatter_unknown_factor() -> None:
    frame = pd.DataFrame({"x": [1.0], "y": [2.0]})
    with pytest.raises(PlotInputError, match=r"^plot_scenario_scatter: no factor 'z' among x, y$"):
        plot_scenario_scatter(frame, ["sustained"], x="x", y="z")


def test_threshold_map_one_line_per_region() -> None:
    frame = pd.DataFrame({
        "region": ["typical"] * 3 + ["embedded-prone"] * 3,
        "push_amount": [1e5, 2e5, 3e5] * 2,
        "min_duration": [np.nan, 6.0, 4.0, 5.0, 2.5, 1.7],
    })
    ax = plot_threshold_map(frame)
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["typical"].get_xydata(), [[2e5, 6.0], [3e5, 4.0]])
    np.testing.assert_allclose(lines["embedded-prone"].get_ydata(), [5.0, 2.5, 1.7])
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "no push in range sustains it (top)" in legend
    assert ax.get_xlabel() == "push amount ($/Year)"
    assert ax.get_ylabel() == "shortest sustaining push duration (Year)"


def test_plots_draw_on_a_given_axes() -> None:
    figure = Figure()
    ax = figure.add_subplot()
    assert plot_sobol(SOBOL, ax=ax) is ax


def test_outcome_map_shares_on_the_grid_with_the_threshold() -> None:
    amounts = np.repeat([1e5, 2e5, 3e5], 4)
    durations = np.tile([0.0, 2.0, 4.0, 6.0], 3)
    outcome = (amounts * durations >= 6e5).astype(float)
    outcome = np.concatenate([outcome, [np.nan]])  # a failed run is left out
    amounts = np.concatenate([amounts, [1e5]])
    durations = np.concatenate([durations, [0.0]])
    curve = pd.DataFrame({"push_amount": [1e5, 2e5, 3e5], "min_duration": [6.0, 3.0, 2.0]})
    ax = plot_outcome_map(amounts, durations, outcome, threshold=curve,
                          units={"push_amount": "$/Year", "push_duration": "Year"})
    mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
    expected = (np.outer([0.0, 2.0, 4.0, 6.0], [1e5, 2e5, 3e5]) >= 6e5).astype(float)
    np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(4, 3), expected)
    line = next(x for x in ax.get_lines() if x.get_label() == "threshold (bisection)")
    np.testing.assert_allclose(line.get_xydata(), curve.to_numpy())
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("push_amount ($/Year)", "push_duration (Year)")


def test_outcome_map_bins_sampled_factors() -> None:
    """35,000 distinct sampled values would be a 35,000 x 35,000 mesh; they are binned."""
    rng = np.random.default_rng(3)
    amounts = rng.uniform(0.0, 1e6, 20_000)
    durations = rng.uniform(0.0, 10.0, 20_000)
    edges = np.linspace(amounts.min(), amounts.max(), 11)
    outcome = (amounts >= edges[5]).astype(float)  # a bin edge splits the map exactly
    ax = plot_outcome_map(amounts, durations, outcome, bins=10)
    mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
    shares = np.asarray(mesh.get_array()).reshape(10, 10)
    left = np.arange(10) < 5
    np.testing.assert_allclose(shares[:, left], 0.0)
    np.testing.assert_allclose(shares[:, ~left], 1.0)


def test_outcome_map_shape_error() -> None:
    with pytest.raises(PlotInputError, match=r"^plot_outcome_map: x, y and outcome must have one "
                       r"value per run, not shapes \(2,\), \(2,\), \(3,\)$"):
        plot_outcome_map([1, 2], [1, 2], [0, 1, 1])


def test_every_view_of_flexnet_draws() -> None:
    sketch = read_sketch(Path(__file__).resolve().parents[3] / "models" / "flexnet" /
                         "flexnet.mdl")
    for view in sketch:
        ax = plot_diagram(view)
        assert len(_gids(ax, "stock:")) == len([v for v in view.variables if v.is_stock])
        assert len(_gids(ax, "pipe:")) == len(view.pipes)
        assert len(_gids(ax, "valve:")) == 2 * len(view.valves)
        ids = set(view.objects())
        assert sorted(_gids(ax, "link:")) == sorted(
            f"link:{a.id}" for a in view.links if a.start in ids and a.end in ids)


def test_the_package_exports_every_plot_function() -> None:
    import sdnet.plotting
    from sdnet.plotting import runs

    assert sdnet.plotting.plot_run is runs.plot_run
    public = {name for name in dir(sdnet.plotting) if name.startswith("plot_")}
    assert public <= set(sdnet.plotting.__all__)
    assert "plot_run" in public


def test_pareto_front_one_step_line_per_region_and_stars_at_the_optima() -> None:
    front = pd.DataFrame({"region": ["typical"] * 2 + ["embedded_prone"] * 3,
                          "success_rate": [0.1, 0.6, 0.2, 0.5, 0.9],
                          "cost": [5e5, 2e6, 1e5, 3e5, 6e5]})
    evaluated = pd.concat([front, front.assign(cost=front["cost"] * 2)], ignore_index=True)
    optima = pd.DataFrame({"region": ["typical", "typical", "embedded_prone"],
                           "required_rate": [0.5, 0.8, 0.5], "found": [True, False, True],
                           "success_rate": [0.6, 0.6, 0.5], "cost": [2e6, 2e6, 3e5]})
    ax = plot_pareto_front(front, evaluated=evaluated, optima=optima)
    lines = {line.get_label(): line for line in ax.get_lines() if not
             line.get_label().startswith("_")}
    np.testing.assert_allclose(lines["embedded_prone"].get_xydata(),
                               [[0.2, 1e5], [0.5, 3e5], [0.9, 6e5]])
    np.testing.assert_allclose(lines["typical"].get_ydata(), [5e5, 2e6])
    stars = [c for c in ax.collections if c.get_offsets().shape[0] and
             c.get_paths() and len(c.get_offsets()) == 1 and c.get_sizes()[0] == 140]
    # the not-found rate 0.8 of the typical region draws no star; the two found ones do
    assert sorted(tuple(s.get_offsets()[0]) for s in stars) == [(0.5, 3e5), (0.6, 2e6)]
    assert ax.get_ylabel() == "public cost ($)"
    assert ax.get_xlabel() == "success rate (share of worlds)"
    figure = Figure()
    given = figure.add_subplot()
    assert plot_pareto_front(front, ax=given) is given
