"""Issue 13's outcomes: formation, survival of a formed network, member-years, public money,
and costs per survivor as totals (never a ratio with a tiny denominator)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sdnet.card import load_card, parse_card
from sdnet.errors import CardError
from sdnet.metrics import (
    Trajectories,
    card_metrics,
    formed_by_end,
    integral,
    ratio_totals,
    survived_after,
    survivors_after,
)

ROOT = Path(__file__).resolve().parents[2]
CARD = ROOT / "models" / "flexnet" / "flexnet.toml"


def _runs() -> Trajectories:
    """Four runs of 200 firms (formed size 10), push ending in year 5.

    0 forms by year 4 (12 members) and keeps 15 to the end
    1 forms (12 at year 4) and collapses to 2 by year 10
    2 never forms during the push (8), grows to 30 after it: not a survival of the push
    3 forms, alive 10 years after (11) but not 20 (4 at year 25)
    """
    times = np.linspace(0.0, 30.0, 61)
    members = np.zeros((4, times.size))
    members[0] = np.where(times < 4, 3 * times, np.where(times < 5, 12, 15))
    members[1] = np.where(times < 4, 3 * times, np.where(times < 10, 12, 2))
    members[2] = np.where(times <= 5, 8, 30)
    members[3] = np.where(times < 4, 3 * times, np.where(times < 20, 11, 4))
    return Trajectories(times, {"Total Members": members}, np.full(4, 5.0),
                        {"number_of_firms": np.full(4, 200.0)})


def test_formation_and_survival_of_a_formed_network() -> None:
    data = _runs()
    args = {"population": "Number of Firms"}
    assert formed_by_end(data, "Total Members", **args).tolist() == [1, 1, 0, 1]
    assert survived_after(data, "Total Members", **args, lag=10).tolist() == [1, 0, 0, 1]
    assert survived_after(data, "Total Members", **args, lag=20).tolist() == [1, 0, 0, 0]
    assert survivors_after(data, "Total Members", **args, lag=10).tolist() == [15, 0, 0, 11]


def test_member_years_integrate_members_over_the_run() -> None:
    times = np.linspace(0.0, 10.0, 11)
    values = np.vstack([np.full(11, 4.0), times])  # 4 firms for 10 years; a ramp to 10
    assert integral(values, times).tolist() == [40.0, 50.0]


def test_costs_per_survivor_are_totals_and_none_when_nothing_survived() -> None:
    spent = np.array([1e6, 1e6, 2e6, np.nan])
    survivors = np.array([15.0, 0.0, 5.0, 40.0])
    assert ratio_totals(spent, survivors) == {"numerator": 4e6, "denominator": 20.0,
                                              "value": 2e5}
    nothing = ratio_totals(spent, np.zeros(4))
    assert nothing["value"] is None and nothing["numerator"] == 4e6


def test_the_flexnet_card_defines_the_outcomes_once_with_units_and_plain_names() -> None:
    card = load_card(CARD)
    metrics = card_metrics(card)
    expected = {"formed": "dmnl", "survived_10": "dmnl", "survived_20": "dmnl",
                "surviving_members_10": "firm", "member_years": "firm*Year",
                "public_money": "$"}
    for name, units in expected.items():
        assert metrics[name].units == units
        assert card.outcomes[name].plain
    assert metrics["survived_20"].options["lag"] == 20
    ratios = {r.name: (r.numerator, r.denominator, r.units) for r in card.ratios}
    assert ratios == {
        "public_cost_per_surviving_member": ("public_money", "surviving_members_10", "$/firm"),
        "public_cost_per_surviving_network": ("public_money", "survived_10", "$/network")}


def test_a_ratio_of_an_unknown_outcome_names_the_file_and_key() -> None:
    data = {"outcomes": [{"name": "spent", "variable": "Cost"}],
            "ratios": [{"name": "per", "numerator": "spent", "denominator": "spend"}]}
    with pytest.raises(CardError) as caught:
        parse_card(data, path=Path("card.toml"))
    assert str(caught.value).startswith(
        "card.toml: [ratios[0].denominator] unknown outcome 'spend' (did you mean 'spent'?); "
        "the card's outcomes: spent")
