"""Sanity checks of a model card: parsing, flags on a planted ensemble, the study summary."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sdnet.card import SanityCheck, load_card, parse_card
from sdnet.errors import CardError
from sdnet.metrics import Trajectories
from sdnet.sanity import flag_runs, flags_by_check, sanity_summary

ROOT = Path(__file__).resolve().parents[2]
CARD = ROOT / "models" / "flexnet" / "flexnet.toml"

TREADMILL = {"name": "treadmill", "plain": "alive with near-zero trust and embeddedness",
             "after_push": 10,
             "when": ["Total Members >= formed(Number of Firms)", "Trust < 0.05",
                      "Embeddedness < 0.01"]}
NEGATIVE = {"name": "negative_value_survivor", "after_push": 10,
            "when": ["Total Members >= formed(Number of Firms)",
                     "mean(Micro Perceived Value, Established Perceived Value) < 0"]}


def _checks(*raw: dict[str, Any]) -> tuple[SanityCheck, ...]:
    return parse_card({"sanity": list(raw)}, path=Path("card.toml")).sanity


def _planted() -> Trajectories:
    """Seven runs over 40 years whose flags are known by construction.

    0 healthy: alive, trust 0.6, embeddedness 0.4
    1 treadmill: alive (20 of 200 firms), trust 0.001, embeddedness 1e-5
    2 treadmill in a larger region: 30 members of 400 firms (formed size 20)
    3 dead: 2 members (below 3), trust and embeddedness near zero: not flagged
    4 negative value survivor: alive, mean perceived value (-500 + 200) / 2 < 0
    5 alive with one segment negative but a positive mean: not flagged
    6 trust collapses at year 20: push ends at 12, so read at 22 -> treadmill; run 7
      is the same with a push ending at 5, read at 15 -> not flagged
    """
    times = np.linspace(0.0, 40.0, 81)
    n = 8
    ones = np.ones((n, times.size))
    members = ones * np.array([40, 20, 30, 2, 25, 25, 40, 40])[:, None]
    trust = ones * np.array([0.6, 0.001, 0.002, 0.0, 0.5, 0.5, 0.6, 0.6])[:, None]
    embedded = ones * np.array([0.4, 1e-5, 1e-5, 0.0, 0.3, 0.3, 0.4, 0.4])[:, None]
    late = times >= 20
    trust[6:, late] = 0.001
    embedded[6:, late] = 1e-4
    micro = ones * np.array([900, 900, 900, 900, -500, -500, 900, 900])[:, None]
    established = ones * np.array([900, 900, 900, 900, 200, 600, 900, 900])[:, None]
    outputs = {"Total Members": members, "Trust": trust, "Embeddedness": embedded,
               "Micro Perceived Value": micro, "Established Perceived Value": established}
    push_end = np.array([5.5, 5.5, 5.5, 5.5, 5.5, 5.5, 12.0, 5.0])
    firms = np.array([200, 200, 400, 200, 200, 200, 200, 200], dtype=float)
    return Trajectories(times, outputs, push_end, {"number_of_firms": firms})


def test_planted_treadmill_and_negative_value_runs_are_flagged() -> None:
    treadmill, negative = _checks(TREADMILL, NEGATIVE)
    data = _planted()
    assert np.flatnonzero(flag_runs(treadmill, data)).tolist() == [1, 2, 6]
    assert np.flatnonzero(flag_runs(negative, data)).tolist() == [4]


def test_failed_runs_are_never_flagged() -> None:
    checks = _checks(TREADMILL)
    ok = np.ones(8, dtype=bool)
    ok[2] = False
    flags = flags_by_check(checks, _planted(), ok=ok)
    assert np.flatnonzero(flags["treadmill"]).tolist() == [1, 6]


def test_a_time_past_the_horizon_is_read_at_the_horizon() -> None:
    check = _checks({**TREADMILL, "after_push": 100})[0]
    # at year 40 runs 6 and 7 have both collapsed into the treadmill
    assert np.flatnonzero(flag_runs(check, _planted())).tolist() == [1, 2, 6, 7]


def test_the_summary_counts_per_case_and_names_where_the_flagged_runs_are() -> None:
    checks = _checks(TREADMILL)
    flags = flags_by_check(checks, _planted())
    cases = np.array(["typical"] * 4 + ["embedded_prone"] * 4)
    # the flagged runs 1, 2, 6 have fee 9,000-10,000 of 0-20,000 (5th-95th percentiles
    # 9,050-9,950) and span most of the match
    factors = pd.DataFrame({"membership_fee": [0, 9000, 10000, 20000, 0, 5000, 9500, 15000],
                            "match": [0, 0, 1, 0.5, 0.5, 0.5, 0.9, 0.2]})
    summary = sanity_summary(checks, flags, cases=cases, ok=np.ones(8, bool), factors=factors)
    entry = summary["treadmill"]
    assert entry["flagged"] == 3 and entry["runs"] == 8
    assert entry["by_case"] == {"typical": {"flagged": 2, "runs": 4},
                                "embedded_prone": {"flagged": 1, "runs": 4}}
    assert entry["where"] == [{"factor": "membership_fee", "low": pytest.approx(9050.0),
                               "high": pytest.approx(9950.0), "all_low": 0.0,
                               "all_high": 20000.0, "share": pytest.approx(0.045)}]
    assert entry["conditions"] == TREADMILL["when"]
    assert entry["plain"] == TREADMILL["plain"]


def test_the_flexnet_card_declares_the_treadmill_and_negative_value_checks() -> None:
    card = load_card(CARD)
    names = [check.name for check in card.sanity]
    assert names == ["negative_value_survivor", "treadmill"]
    treadmill = card.sanity[1]
    assert treadmill.variables == ("Total Members", "Trust", "Embeddedness")
    assert treadmill.constants == ("number_of_firms",)
    assert treadmill.after_push == 10.0


def test_a_plain_text_defaults_to_the_conditions() -> None:
    check = _checks({"name": "low", "when": ["Trust < 0.1", "max(A, B) >= 2"]})[0]
    assert check.plain == "Trust < 0.1 and max(A, B) >= 2"
    assert check.when[1].combine == "max" and check.when[1].variables == ("A", "B")
    assert check.after_push == 0.0


@pytest.mark.parametrize(("raw", "message"), [
    ({"name": "x", "when": ["Trust ~ 0.1"]},
     "card.toml: [sanity[0].when[0]] cannot read the condition 'Trust ~ 0.1'; write "
     "'VARIABLE OP NUMBER', 'mean(A, B) OP NUMBER' (or min, max) or 'VARIABLE OP "
     "formed(CONSTANT)', with OP one of <, <=, >, >="),
    ({"name": "x", "when": ["median(A, B) < 1"]},
     "card.toml: [sanity[0].when[0]] unknown combination 'median' in 'median(A, B) < 1'; "
     "valid: mean, min, max"),
    ({"name": "x", "when": ["Trust < low"]},
     "card.toml: [sanity[0].when[0]] 'low' in 'Trust < low' is neither a number nor "
     "formed(CONSTANT)"),
    ({"name": "x", "when": []},
     "card.toml: [sanity[0].when] must be a non-empty list of conditions, all of which flag "
     "a run, not []"),
    ({"name": "x", "after_push": -1, "when": ["Trust < 1"]},
     "card.toml: [sanity[0].after_push] must be >= 0 (time after the push ends), not -1"),
    ({"name": "x", "after": 10, "when": ["Trust < 1"]},
     "card.toml: [sanity[0].after] unknown key 'after' (did you mean 'after_push'?); valid "
     "keys: name, plain, after_push, when"),
])
def test_bad_sanity_entries_name_the_file_and_key(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(CardError) as caught:
        parse_card({"sanity": [raw]}, path=Path("card.toml"))
    assert str(caught.value).startswith(message), str(caught.value)


def test_two_checks_of_one_name_are_refused() -> None:
    with pytest.raises(CardError, match=re.escape("[sanity[1].name] 'x' is defined twice")):
        parse_card({"sanity": [{"name": "x", "when": ["A < 1"]},
                               {"name": "x", "when": ["A < 2"]}]}, path=Path("card.toml"))
