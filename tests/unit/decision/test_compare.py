"""Success intervals, cost per success, regret and satisficing on hand-made tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from sdnet.decision import (
    Condition,
    compare_packages,
    cost_per_success,
    cost_regret,
    parse_condition,
    regret,
    satisficing,
    success_interval,
)
from sdnet.errors import InvalidValueError


def _wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson's (1927) score interval written out, to check scipy's is the one we use."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (10, 10), (29, 500), (499, 500),
                                    (0, 1), (1, 1), (7, 2556)])
def test_success_interval_is_wilsons(k: int, n: int) -> None:
    low, high = success_interval(k, n)
    ci = binomtest(k, n).proportion_ci(method="wilson")
    assert (low, high) == pytest.approx((ci.low, ci.high), abs=1e-12)
    for level in (0.8, 0.99):
        ci = binomtest(k, n).proportion_ci(confidence_level=level, method="wilson")
        assert success_interval(k, n, confidence=level) == pytest.approx((ci.low, ci.high),
                                                                          abs=1e-12)
    assert (low, high) == pytest.approx(_wilson(k, n), abs=1e-9)
    assert low <= k / n <= high


def test_success_interval_narrows_with_lower_confidence() -> None:
    wide = success_interval(30, 100, confidence=0.99)
    narrow = success_interval(30, 100, confidence=0.8)
    assert wide[0] < narrow[0] < 0.3 < narrow[1] < wide[1]


@pytest.mark.parametrize(("args", "kwargs"), [
    ((11, 10), {}), ((-1, 10), {}), ((0, 0), {}), ((1.5, 10), {}), ((True, 10), {}),
    ((1, 10), {"confidence": 1.0}), ((1, 10), {"confidence": 0})])
def test_success_interval_refuses_bad_counts(args: tuple, kwargs: dict) -> None:
    with pytest.raises(InvalidValueError):
        success_interval(*args, **kwargs)


def test_cost_per_success_total_over_successes_with_interval() -> None:
    result = cost_per_success(1_000_000.0, 20, 100)
    assert result["value"] == pytest.approx(50_000.0)
    low, high = success_interval(20, 100)
    assert result["low"] == pytest.approx(1_000_000 / (100 * high))
    assert result["high"] == pytest.approx(1_000_000 / (100 * low))
    assert result["low"] < result["value"] < result["high"]
    assert result["note"] == ""


def test_cost_per_success_is_undefined_without_success_and_withheld_below_the_minimum() -> None:
    none = cost_per_success(1_000_000.0, 0, 100)
    assert none["value"] is None and none["high"] is None
    assert "no success in 100 worlds" in none["note"]
    few = cost_per_success(1_000_000.0, 2, 100, min_successes=5)
    assert few["value"] is None
    assert few["low"] is not None and few["high"] is not None
    assert "only 2 successes in 100 worlds (fewer than 5)" in few["note"]
    assert cost_per_success(1_000_000.0, 2, 100, min_successes=2)["value"] == 500_000.0
    with pytest.raises(InvalidValueError, match="min_successes"):
        cost_per_success(1.0, 1, 2, min_successes=0)


def test_regret_against_the_best_in_each_world() -> None:
    values = np.array([[1.0, 0.0, 1.0],
                       [0.0, 0.0, 0.0],
                       [0.2, 0.9, 0.5],
                       [1.0, np.nan, 0.0]])
    higher = regret(values, good="higher")
    np.testing.assert_allclose(higher[:3], [[0, 1, 0], [0, 0, 0], [0.7, 0, 0.4]], atol=1e-12)
    assert np.isnan(higher[3]).all()  # a failed run: the best of that world is unknown
    lower = regret(values[:3], good="lower")
    np.testing.assert_allclose(lower, [[1, 0, 1], [0, 0, 0], [0, 0.7, 0.3]], atol=1e-12)
    with pytest.raises(InvalidValueError, match="good"):
        regret(values, good="more")
    with pytest.raises(InvalidValueError, match="worlds, packages"):
        regret(np.ones(3))


def test_cost_regret_counts_only_worlds_where_the_package_succeeds() -> None:
    costs = np.array([[0.0, 100.0, 200.0], [0.0, 100.0, 200.0], [0.0, 100.0, 200.0]])
    wins = np.array([[0, 1, 1], [0, 0, 1], [0, 0, 0]])
    extra = cost_regret(costs, wins)
    assert np.isnan(extra[:, 0]).all()  # never succeeds: success regret, not cost regret
    assert extra[0, 1:].tolist() == [0.0, 100.0]
    assert np.isnan(extra[1, 1]) and extra[1, 2] == 0.0
    assert np.isnan(extra[2]).all()
    with pytest.raises(InvalidValueError, match="shaped like"):
        cost_regret(costs, wins[:2])


def test_conditions_parse_and_hold() -> None:
    condition = parse_condition("surviving_members_10 >= 10")
    assert condition == Condition("surviving_members_10", ">=", 10.0)
    assert str(condition) == "surviving_members_10 >= 10"
    assert condition.holds(np.array([9.0, 10.0, np.nan])).tolist() == [False, True, False]
    assert parse_condition("cost<2e6").holds(np.array([1e6, 3e6])).tolist() == [True, False]
    for bad in ("members = 3", "members >= many", ">= 3", "", None, "a >= inf"):
        with pytest.raises(InvalidValueError, match="outcome op number"):
            parse_condition(bad)  # type: ignore[arg-type]
    table = pd.DataFrame({"a": [1.0, 5.0, 5.0], "b": [0.0, 0.0, 9.0]})
    assert satisficing(table, [parse_condition("a > 2"), parse_condition("b <= 1")]
                       ).tolist() == [False, True, False]
    with pytest.raises(InvalidValueError, match="an outcome of the table: a, b"):
        satisficing(table, [parse_condition("c > 1")])


def _table() -> pd.DataFrame:
    """Two regions, three packages, four worlds, by hand: A always costs 0 and fails in
    r1; B costs 100 and succeeds in worlds 0-2 of r1; C costs 300 and succeeds everywhere
    except world 3 of r1, where its run failed."""
    rows = []
    for region in ("r1", "r2"):
        for package, cost in (("A", 0.0), ("B", 100.0), ("C", 300.0)):
            for world in range(4):
                ok = not (region == "r1" and package == "C" and world == 3)
                won = {"A": region == "r2", "B": world < 3, "C": True}[package]
                rows.append({"region": region, "package": package, "world": world,
                             "status": "ok" if ok else "failed",
                             "ok_flag": float(won) if ok else np.nan,
                             "money": cost if ok else np.nan,
                             "members": 10.0 * world if ok else np.nan})
    return pd.DataFrame(rows)


def test_compare_packages_on_a_hand_made_table() -> None:
    summary, worlds = compare_packages(_table(), success="ok_flag", cost="money",
                                       satisfice=["members >= 10"], min_successes=2,
                                       labels={"B": "the B package"})
    r1 = summary[summary["region"] == "r1"].set_index("package")
    assert r1.loc["A", "successes"] == 0 and r1.loc["A", "success_rate"] == 0.0
    assert r1.loc["B", "successes"] == 3 and r1.loc["B", "success_rate"] == 0.75
    assert r1.loc["B", "label"] == "the B package" and r1.loc["A", "label"] == "A"
    assert (r1.loc["C", "worlds"], r1.loc["C", "failed"]) == (3, 1)
    assert r1.loc["C", "success_rate"] == 1.0
    assert (r1.loc["B", "success_low"], r1.loc["B", "success_high"]) == pytest.approx(
        success_interval(3, 4))
    # cost per success: totals over the package's worlds / successes
    assert r1.loc["B", "cost_per_success"] == pytest.approx(400.0 / 3)
    assert r1.loc["C", "cost_per_success"] == pytest.approx(300.0)
    assert pd.isna(r1.loc["A", "cost_per_success"])  # undefined, and said so:
    assert "no success" in r1.loc["A", "cost_per_success_note"]
    # success regret: world 3 is unknown (C failed there); A misses in worlds 0-2
    assert r1.loc["A", "regret_success_mean"] == 1.0
    assert r1.loc["B", "regret_success_mean"] == 0.0
    # cost regret, where the package succeeds: B is the cheapest success in worlds 0-2,
    # C costs 200 more there
    assert r1.loc["B", "regret_cost_mean"] == 0.0
    assert r1.loc["C", "regret_cost_mean"] == 200.0
    assert math.isnan(r1.loc["A", "regret_cost_mean"])
    r2 = summary[summary["region"] == "r2"].set_index("package")
    assert r2.loc["A", "success_rate"] == 1.0 and r2.loc["A", "cost_per_success"] == 0.0
    assert r2.loc["B", "regret_cost_mean"] == pytest.approx((100 * 3) / 3)
    assert r2.loc["B", "regret_success_mean"] == 0.25
    # satisficing: members >= 10 in worlds 1-3 of every package that ran
    assert r2.loc["A", "satisficing"] == 0.75
    assert r1.loc["C", "satisficing"] == pytest.approx(2 / 3)
    assert set(worlds.columns) >= {"success", "satisficed", "regret_success", "regret_cost"}
    assert len(worlds) == 24


def test_compare_packages_without_cost_or_conditions() -> None:
    summary, _ = compare_packages(_table(), success="members", at_least=20)
    assert "cost_per_success" not in summary.columns
    row = summary.set_index(["region", "package"]).loc[("r2", "A")]
    assert row["success_rate"] == 0.5 and row["satisficing"] == 0.5


def test_compare_packages_refuses_missing_columns_and_uneven_worlds() -> None:
    with pytest.raises(InvalidValueError, match="columns region, package"):
        compare_packages(_table(), success="nothing")
    uneven = _table().iloc[1:]
    with pytest.raises(InvalidValueError, match="every package in the same 4 worlds"):
        compare_packages(uneven, success="ok_flag")
