"""The Pareto filter of robust optimisation (sdnet.decision.optimize.pareto_front) on
hand-made tables: lower cost and higher success rate are better."""

from __future__ import annotations

import math

import pandas as pd

from sdnet.decision.optimize import pareto_front


def test_front_keeps_exactly_the_non_dominated_rows_by_increasing_cost() -> None:
    table = pd.DataFrame({
        "name": ["a", "b", "c", "d", "e", "f", "g"],
        "cost": [100.0, 50.0, 50.0, 200.0, 120.0, 10.0, 300.0],
        "success_rate": [0.6, 0.6, 0.4, 0.9, 0.5, 0.0, 0.9],
    })
    front = pareto_front(table)
    # b dominates a (same rate, cheaper) and c (same cost, higher rate); a dominates e;
    # d dominates g (same rate, cheaper); f is the cheapest of all
    assert list(front["name"]) == ["f", "b", "d"]
    assert list(front["cost"]) == [10.0, 50.0, 200.0]
    assert front["success_rate"].is_monotonic_increasing


def test_ties_keep_the_first_and_non_finite_rows_are_left_out() -> None:
    table = pd.DataFrame({"p": [1, 2, 3, 4], "price": [5.0, 5.0, math.nan, 1.0],
                          "rate": [0.7, 0.7, 1.0, math.inf]})
    front = pareto_front(table, cost="price", success="rate")
    assert list(front["p"]) == [1]


def test_a_single_row_and_an_all_dominated_chain() -> None:
    one = pd.DataFrame({"cost": [3.0], "success_rate": [0.2]})
    assert len(pareto_front(one)) == 1
    chain = pd.DataFrame({"cost": [1.0, 2.0, 3.0], "success_rate": [0.9, 0.8, 0.7]})
    assert pareto_front(chain)["cost"].tolist() == [1.0]
