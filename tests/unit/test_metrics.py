"""Tests of sdnet.metrics on trajectories with known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sdnet.card import load_card
from sdnet.errors import InvalidValueError, UnknownVariableError
from sdnet.metrics import (
    Trajectories,
    card_metrics,
    final,
    mean_over,
    peak,
    time_of_peak,
    time_to_threshold,
    user_metric,
    value_at,
)

TIMES = np.linspace(0.0, 30.0, 121)  # saveper 0.25 Year
ROOT = Path(__file__).resolve().parents[2]
#: flexnet's outcomes, from its model card (the schedule reducers with flexnet's names)
BUILTIN = card_metrics(load_card(ROOT / "models" / "flexnet" / "flexnet.toml"))


def _data(members: np.ndarray, *, push_end: float = 5.5, firms: float = 200.0,
          embeddedness: np.ndarray | None = None, spending: np.ndarray | None = None,
          ) -> Trajectories:
    members = np.atleast_2d(members)
    n = members.shape[0]
    outputs = {
        "Total Members": members,
        "Embeddedness": np.zeros_like(members) if embeddedness is None else embeddedness,
        "Cumulative Public Spending": (np.zeros_like(members) if spending is None
                                       else spending),
    }
    return Trajectories(TIMES, outputs, np.full(n, push_end),
                        {"number_of_firms": np.full(n, firms)})


def test_reducers_on_a_ramp() -> None:
    ramp = np.vstack([TIMES * 2.0, 60.0 - TIMES * 2.0])
    np.testing.assert_allclose(final(ramp, TIMES), [60.0, 0.0])
    np.testing.assert_allclose(peak(ramp, TIMES), [60.0, 60.0])
    np.testing.assert_allclose(time_of_peak(ramp, TIMES), [30.0, 0.0])
    # mean of 2t over [10, 20] is 30; of 60 - 2t it is 30 too
    np.testing.assert_allclose(mean_over(ramp, TIMES, start=10.0, end=20.0), [30.0, 30.0])
    # off-grid window ends are interpolated: mean of 2t over [1.1, 2.3] is 3.4
    np.testing.assert_allclose(mean_over(ramp[:1], TIMES, start=1.1, end=2.3), [3.4])
    np.testing.assert_allclose(value_at(ramp, TIMES, time=np.array([3.3, 100.0])), [6.6, 0.0])
    np.testing.assert_allclose(time_to_threshold(ramp, TIMES, threshold=7.0), [3.5, 0.0])
    np.testing.assert_allclose(time_to_threshold(ramp, TIMES, threshold=99.0), [np.nan] * 2)
    np.testing.assert_allclose(
        time_to_threshold(ramp, TIMES, threshold=7.0, direction="below"), [0.0, 26.5]
    )


def test_persistence_sustained_and_collapse_on_known_trajectories() -> None:
    # run 0: plateau at 50 after the push -> persists; run 1: exponential decline, rate 0.3/yr
    # -> exp(-3) = 0.0498 ten years on; run 2: never formed.
    after = np.clip(TIMES - 5.5, 0.0, None)
    grow = np.minimum(TIMES, 5.5) * 10.0
    runs = np.vstack([grow, grow * np.exp(-0.3 * after), np.zeros_like(TIMES)])
    data = _data(runs)
    persistence = BUILTIN["persistence_after_push"](data)
    np.testing.assert_allclose(persistence[[0, 2]], [1.0, 0.0])
    # piecewise-linear interpolation of exp on a 0.25-year grid, close to exp(-3)
    np.testing.assert_allclose(persistence[1], np.exp(-3.0), rtol=1e-2)
    np.testing.assert_array_equal(BUILTIN["sustained"](data), [1.0, 0.0, 0.0])
    # run 1 ten years on: 55 exp(-3) = 2.7 members, below max(3, 10)
    np.testing.assert_array_equal(BUILTIN["alive_after_push"](data), [1.0, 0.0, 0.0])
    # members of run 1 fall below max(3, 10) = 10 when 55 exp(-0.3 t) = 10: t = ln(5.5)/0.3,
    # read at the first saved time at or after it
    expected = np.ceil(np.log(5.5) / 0.3 * 4) / 4
    np.testing.assert_allclose(BUILTIN["time_to_collapse"](data), [24.5, expected, 0.0])
    np.testing.assert_allclose(BUILTIN["members_share"](data), [55 / 200, runs[1, -1] / 200, 0])


def test_sustained_needs_members_above_the_formed_threshold() -> None:
    # 8 members throughout in a region of 200 firms: below the formed size max(3, 10) = 10,
    # which is the denominator, so persistence is 8 / 10
    data = _data(np.full(TIMES.size, 8.0))
    np.testing.assert_array_equal(BUILTIN["persistence_after_push"](data), [0.8])
    np.testing.assert_array_equal(BUILTIN["sustained"](data), [0.0])
    np.testing.assert_array_equal(BUILTIN["alive_after_push"](data), [0.0])


def test_alive_does_not_penalise_a_push_that_overshoots() -> None:
    # 100 members when the push ends, settling at 40 (of 150 firms): alive, not sustained
    after = np.clip(TIMES - 5.5, 0.0, None)
    members = np.where(TIMES < 5.5, TIMES / 5.5 * 100, 40 + 60 * np.exp(-after))
    data = _data(members[None], firms=150.0)
    np.testing.assert_array_equal(BUILTIN["alive_after_push"](data), [1.0])
    np.testing.assert_array_equal(BUILTIN["sustained"](data), [0.0])
    # with 40 firms the threshold is max(3, 2) = 3
    data = _data(np.full(TIMES.size, 8.0), firms=40.0)
    np.testing.assert_array_equal(BUILTIN["sustained"](data), [1.0])


def test_cost_per_member_year() -> None:
    members = np.full((2, TIMES.size), 20.0)
    members[1] = 0.0
    spending = np.full((2, TIMES.size), 1.5e6)
    data = _data(members, spending=spending, push_end=10.0)
    # 20 firms for 20 years after the push = 400 member-years
    np.testing.assert_allclose(BUILTIN["cost_per_member_year"](data), [1.5e6 / 400, np.inf])


def test_embeddedness_at_horizon() -> None:
    emb = np.vstack([TIMES / 30.0])
    np.testing.assert_allclose(BUILTIN["embeddedness"](_data(TIMES[None], embeddedness=emb)),
                               [1.0])


def test_user_metric_applies_named_reducer() -> None:
    metric = user_metric("members_y20", variable="Total Members", reducer="value_at", time=20)
    data = _data(TIMES[None] * 2.0)
    np.testing.assert_allclose(metric(data), [40.0])
    assert metric.variables == ("Total Members",)
    assert metric.options == {"variable": "Total Members", "reducer": "value_at", "time": 20}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reducer": "median"}, "invalid value for 'reducer': 'median' (expected one of final, "
         "mean, peak, time_of_peak, time_to_threshold, value_at, integral)"),
        ({"reducer": "peak", "time": 3}, "invalid value for 'options': ['time'] (expected "
         "options of 'peak': none)"),
        ({"reducer": "value_at"}, "invalid value for 'options': [] (expected 'value_at' needs "
         "time)"),
    ],
)
def test_user_metric_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidValueError) as info:
        user_metric("m", variable="Trust", **kwargs)
    assert str(info.value) == message


def test_unknown_output_names_close_matches() -> None:
    metric = user_metric("m", variable="Total Member", reducer="final")
    with pytest.raises(UnknownVariableError, match="did you mean 'Total Members'"):
        metric(_data(TIMES[None]))


def test_window_outside_times_is_an_error() -> None:
    with pytest.raises(InvalidValueError, match=r"within the saved times \[0, 30\]"):
        mean_over(TIMES[None], TIMES, start=10.0, end=40.0)


def test_cost_per_member_year_integrates_from_an_off_grid_push_end() -> None:
    # members = t (firm) from t = 0; after a push ending at 10.1 the integral of t up to 30 is
    # (30^2 - 10.1^2) / 2 member-years (trapezoids are exact for a linear trajectory)
    spending = np.full((1, TIMES.size), 1e6)
    data = _data(TIMES[None], spending=spending, push_end=10.1)
    np.testing.assert_allclose(BUILTIN["cost_per_member_year"](data),
                               [1e6 / ((30**2 - 10.1**2) / 2)])
