"""Equal-budget packages schedule the same public money, and flexnet spends it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sdnet.decision import Package, equal_budget_packages, evaluate_packages
from sdnet.errors import InvalidValueError
from sdnet.model import Model, load_model
from sdnet.policy import Push

FLEXNET = Path(__file__).resolve().parents[3] / "models" / "flexnet" / "flexnet.mdl"
#: The model file's step is also the study's (Year).
STEP = 0.03125


@pytest.fixture(scope="module")
def flexnet() -> Model:
    return load_model(FLEXNET)


def test_every_package_schedules_the_budget() -> None:
    packages = equal_budget_packages(2_000_000, start=2, durations=(2, 5, 10), taper=4,
                                     match=0.5, params={"broker_share": 0.4})
    names = [p.name for p in packages]
    assert names == ["budget_short_strong", "budget_medium", "budget_long_weak",
                     "budget_tapered", "budget_matched"]
    for package in packages:
        assert package.nominal_cost == pytest.approx(2_000_000, rel=1e-12)
        assert package.push is not None and package.push.start == 2
        assert dict(package.params) == {"broker_share": 0.4}
    short, medium, long, tapered, matched = (p.push for p in packages)
    assert (short.amount, short.duration) == (1_000_000, 2)
    assert (long.amount, long.duration) == (200_000, 10)
    assert (tapered.duration, tapered.taper) == (2.5, 4)
    assert matched.match == 0.5 and matched.amount == medium.amount
    assert packages[0].label == "short and strong: $1,000,000/yr for 2 yr"
    assert "tapering to zero over 4 yr" in packages[3].label
    assert "50% of it matched locally" in packages[4].label


def test_no_taper_and_no_match_leave_those_packages_out() -> None:
    packages = equal_budget_packages(1e6, taper=0, match=0, prefix="b")
    assert [p.name for p in packages] == ["b_short_strong", "b_medium", "b_long_weak"]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"total": 0}, "budget total"), ({"total": -1}, "budget total"),
    ({"total": float("nan")}, "budget total"), ({"total": "1e6"}, "budget total"),
    ({"total": 1e6, "durations": (5, 2, 10)}, "increasing"),
    ({"total": 1e6, "durations": (2, 5)}, "three durations"),
    ({"total": 1e6, "durations": (0, 5, 10)}, "budget durations"),
    ({"total": 1e6, "taper": -1}, "budget taper"),
    ({"total": 1e6, "match": 1.5}, "budget match"),
    ({"total": 1e6, "start": -2}, "budget start"),
])
def test_bad_budgets_are_refused(kwargs: dict, match: str) -> None:
    total = kwargs.pop("total")
    with pytest.raises(InvalidValueError, match=match):
        equal_budget_packages(total, **kwargs)


def test_flexnet_spends_the_budget(flexnet: Model) -> None:
    # Cumulative Public Spending integrates the grant with Euler steps of STEP years: a
    # full-strength period whose ends fall on the time grid is paid exactly; a taper is a
    # left Riemann sum of a falling ramp, which pays amount * STEP / 2 more. So each
    # unmatched package spends the budget within one step of its full grant, amount * STEP
    # (at most 31,250 $ here, 1.6% of the budget for the short, strong push).
    budget = 2_000_000.0
    packages = equal_budget_packages(budget, start=2, durations=(2, 5, 10), taper=4,
                                     match=0.5)
    worlds = pd.DataFrame({"community_entrepreneur_density": [0.2, 0.8]})
    table = evaluate_packages(flexnet, packages, worlds, outcomes=["public_money"],
                              final_time=20, time_step=STEP, saveper=0.5)
    assert (table["status"] == "ok").all()
    spent = table.set_index(["package", "world"])["public_money"]
    for package in packages:
        assert package.push is not None
        paid = spent.loc[package.name].to_numpy()
        tolerance = package.push.amount * STEP
        if package.push.match:
            # the matched share is paid only against local sponsors' money: at most the
            # budget, less where sponsors fall short
            assert (paid <= budget + tolerance).all()
            assert (paid >= budget * (1 - package.push.match) - tolerance).all()
        else:
            np.testing.assert_allclose(paid, budget, atol=tolerance)
    tapered = spent.loc["budget_tapered"].to_numpy()
    amount = packages[3].push.amount  # type: ignore[union-attr]
    np.testing.assert_allclose(tapered, budget + amount * STEP / 2, rtol=1e-9)


def test_a_package_spends_nothing_without_a_push(flexnet: Model) -> None:
    worlds = pd.DataFrame({"trust_propensity": [1.0]})
    table = evaluate_packages(flexnet, [Package("none", Push(0, 2, 0)), Package(
        "base", Push(300_000, 2, 3.5))], worlds, outcomes=["public_money"],
        final_time=10, time_step=STEP, saveper=0.5)
    assert table["public_money"].tolist() == pytest.approx([0.0, 1_050_000.0])
