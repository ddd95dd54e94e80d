"""What keeps a package's successes alive: the card's [mechanism], its pure summaries, and a
package study's mechanisms.csv, summary.json and report part."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sdnet.card import parse_card
from sdnet.errors import CardError
from sdnet.experiment import parse_experiment, run_experiment
from sdnet.mechanism import mechanism_cautions, mechanism_values, summarise_mechanism
from sdnet.metrics import Trajectories
from sdnet.reports._context import ReportContext
from sdnet.reports._document import Caution, Heading, TableBlock
from sdnet.reports._mechanism import _caution_text
from sdnet.reports._packages import _packages
from sdnet.reports._results import load_results

FLEXNET = Path(__file__).resolve().parents[2] / "models" / "flexnet" / "flexnet.mdl"
CARD = Path("/cards/m.toml")


def _mechanism(**extra: Any) -> dict[str, Any]:
    table = {
        "plain": "the income",
        "after_push": 1,
        "shares": [{"name": "fees", "variables": ["Fee"]},
                   {"name": "gifts", "variables": ["Gift A", "Gift B"]}],
        "states": [{"name": "trust", "variable": "Trust"},
                   {"name": "value", "variable": "mean(V1, V2)", "units": "$/Year"}],
        "cautions": [{"plain": "a fee pump", "when": ["fees > 0.8", "value < 0"]}],
    }
    table.update(extra)
    return table


def _card(**extra: Any):
    return parse_card({"mechanism": _mechanism(**extra)}, path=CARD).mechanism


def test_values_are_read_after_the_push_and_shares_split_the_whole() -> None:
    mechanism = _card()
    times = np.array([0.0, 1.0, 2.0])
    # push ends at 0.5, 1 and 0: read at 1.5 (halfway between the last two), 2 and 1
    data = Trajectories(times, {
        "Fee": np.array([[0, 2, 4], [9, 9, 6], [0, 0, 0]], dtype=float),
        "Gift A": np.array([[0, 1, 3], [0, 0, 2], [0, 0, 0]], dtype=float),
        "Gift B": np.array([[0, 1, 1], [0, 0, 0], [0, 0, 0]], dtype=float),
        "Trust": np.array([[0, 0.2, 0.4], [0, 0, 0.5], [0, 0.7, 0]], dtype=float),
        "V1": np.array([[0, 10, 20], [0, 0, -4], [0, 1, 0]], dtype=float),
        "V2": np.array([[0, 0, 0], [0, 0, -2], [0, 3, 0]], dtype=float),
    }, push_end=np.array([0.5, 1.0, 0.0]))
    values = mechanism_values(mechanism, data)
    # run 0 at 1.5: fee 3, gifts 2 + 1 = 3 -> 1/2 each; run 1 at 2: fee 6, gifts 2 -> 3/4, 1/4
    np.testing.assert_allclose(values["fees"][:2], [0.5, 0.75])
    np.testing.assert_allclose(values["gifts"][:2], [0.5, 0.25])
    assert np.isnan(values["fees"][2]) and np.isnan(values["gifts"][2])  # no income at all
    np.testing.assert_allclose(values["trust"], [0.3, 0.5, 0.7])
    np.testing.assert_allclose(values["value"], [7.5, -3.0, 2.0])  # mean of V1 and V2


def test_a_change_over_state_is_the_relative_change_until_then() -> None:
    """A success still shrinking when it is read is a slow death: change_over reads the state
    N time units later over its value now, minus 1; NaN past the horizon or from zero."""
    mechanism = _card(states=[{"name": "members", "variable": "M"},
                              {"name": "change", "variable": "M", "change_over": 2}],
                      cautions=[{"plain": "a slow decline", "when": ["change < -0.05"]}])
    times = np.arange(0.0, 6.0)
    data = Trajectories(times, {
        "Fee": np.ones((4, 6)), "Gift A": np.ones((4, 6)), "Gift B": np.ones((4, 6)),
        # read at push end + 1: runs 0-2 at 2 (then 4), run 3 at 4 (then 6, past the horizon)
        "M": np.array([[9, 9, 10, 9, 8, 7], [1, 2, 4, 5, 6, 7], [0, 0, 0, 0, 3, 3],
                       [5, 5, 5, 5, 5, 5]], dtype=float),
    }, push_end=np.array([1.0, 1.0, 1.0, 3.0]))
    values = mechanism_values(mechanism, data)
    np.testing.assert_allclose(values["members"], [10, 4, 0, 5])
    np.testing.assert_allclose(values["change"][:2], [8 / 10 - 1, 6 / 4 - 1])
    assert np.isnan(values["change"][2]) and np.isnan(values["change"][3])
    runs = pd.DataFrame({"region": "r", "package": ["a", "b", "a", "a"], "success": 1,
                         "fees": 0.5, "gifts": 0.5, **values})
    found = mechanism_cautions(mechanism, summarise_mechanism(mechanism, runs))
    # a: -0.2 (the NaN runs are left out of the median); b: +0.5
    assert [(f["package"], f["medians"][0]["median"]) for f in found] == [
        ("a", pytest.approx(-0.2))]


def _runs() -> pd.DataFrame:
    return pd.DataFrame({
        "region": ["r"] * 6 + ["s"] * 2,
        "package": ["a"] * 5 + ["b"] + ["a"] * 2,
        "success": [1, 1, 1, 0, 1, 1, 0, np.nan],
        "fees": [0.9, 0.7, 1.0, 0.0, np.nan, 0.2, 0.5, 0.5],
        "gifts": [0.1, 0.3, 0.0, 1.0, np.nan, 0.8, 0.5, 0.5],
        "trust": [0.2, 0.4, 0.0, 9.0, 0.6, 0.1, 0.3, 0.3],
        "value": [-1.0, -3.0, -2.0, 5.0, -4.0, 8.0, 1.0, 1.0],
    })


def test_the_summary_is_over_the_successes_of_each_region_and_package() -> None:
    summary = summarise_mechanism(_card(), _runs())
    row = summary.set_index(["region", "package", "name"])
    # r/a: successes are rows 0, 1, 2, 4; row 4 has no income (shares left out, states kept)
    fees = row.loc[("r", "a", "fees")]
    assert (fees["successes"], fees["runs"], fees["kind"]) == (4, 3, "share")
    assert fees["median"] == pytest.approx(0.9)
    assert fees["mean"] == pytest.approx((0.9 + 0.7 + 1.0) / 3)
    # 10th and 90th percentiles of 0.7, 0.9, 1.0 (linear): 0.74 and 0.98
    assert (fees["low"], fees["high"]) == (pytest.approx(0.74), pytest.approx(0.98))
    gifts = row.loc[("r", "a", "gifts")]
    assert fees["mean"] + gifts["mean"] == pytest.approx(1.0)
    trust = row.loc[("r", "a", "trust")]
    assert (trust["runs"], trust["median"], trust["kind"]) == (4, pytest.approx(0.3), "state")
    assert row.loc[("r", "a", "value"), "units"] == "$/Year"
    assert row.loc[("r", "a", "value"), "median"] == pytest.approx(-2.5)
    assert row.loc[("r", "b", "fees"), "median"] == pytest.approx(0.2)
    # s/a: no success (0 and NaN): rows with runs 0 and no values
    empty = summary[(summary["region"] == "s")]
    assert len(empty) == 4 and (empty["successes"] == 0).all() and empty["median"].isna().all()
    assert list(summary["name"][:4]) == ["fees", "gifts", "trust", "value"]


def test_cautions_hold_on_the_medians_only() -> None:
    summary = summarise_mechanism(_card(), _runs())
    found = mechanism_cautions(_card(), summary)
    # r/a: fees 0.9 > 0.8 and value -2.5 < 0; r/b: fees 0.2; s/a: no success
    assert [(f["region"], f["package"]) for f in found] == [("r", "a")]
    assert found[0]["plain"] == "a fee pump"
    assert found[0]["conditions"] == ["fees > 0.8", "value < 0"]
    assert [m["median"] for m in found[0]["medians"]] == [pytest.approx(0.9),
                                                         pytest.approx(-2.5)]
    assert [m["kind"] for m in found[0]["medians"]] == ["share", "state"]


@pytest.mark.parametrize(("change", "key", "words"), [
    ({"after_push": -1}, "mechanism.after_push", "must be >= 0"),
    ({"shares": [{"name": "fees", "variables": ["Fee"]}]}, "mechanism.shares",
     "at least two"),
    ({"shares": [{"name": "fees", "variables": []}, {"name": "g", "variables": ["G"]}]},
     "mechanism.shares[0].variables", "at least one variable"),
    ({"shares": [{"name": "fees", "variables": ["F"]}, {"name": "fees", "variables": ["G"]}]},
     "mechanism.shares[1].name", "defined twice"),
    ({"states": [{"name": "fees", "variable": "Trust"}]}, "mechanism.states[0].name",
     "defined twice"),
    ({"states": [{"name": "t", "variable": "median(A, B)"}]}, "mechanism.states[0]",
     "'mean(A, B)'"),
    ({"states": [{"name": "t", "variable": "Trust", "colour": "red"}]},
     "mechanism.states[0]", "colour"),
    ({"states": [{"name": "t", "variable": "Trust", "change_over": -1}]},
     "mechanism.states[0].change_over", "must be >= 0"),
    ({"cautions": [{"when": ["fess > 0.8"]}]}, "mechanism.cautions[0].when[0]",
     "did you mean 'fees'"),
    ({"cautions": [{"when": ["fees > lots"]}]}, "mechanism.cautions[0].when[0]",
     "neither a number"),
    ({"cautions": [{"when": []}]}, "mechanism.cautions[0].when", "non-empty list"),
    ({"weights": 1}, "mechanism", "weights"),
])
def test_bad_mechanism_tables_are_named(change: dict[str, Any], key: str, words: str) -> None:
    with pytest.raises(CardError) as info:
        _card(**change)
    text = str(info.value)
    assert str(CARD) in text and key in text and words in text, text


def test_a_card_without_mechanism_has_none() -> None:
    assert parse_card({}, path=CARD).mechanism is None


def test_a_flexnet_package_study_shows_what_its_successes_live_on(tmp_path: Path) -> None:
    """48 runs: 12 non-implausible worlds x 2 regions x 2 packages; flexnet's card with one
    more caution, which every success meets (so the report's caution path runs too)."""
    card = tmp_path / "flexnet.toml"
    card.write_text(FLEXNET.with_suffix(".toml").read_text(encoding="utf-8").replace(
        'file = "flexnet.mdl"', f"file = {json.dumps(str(FLEXNET))}") + """
[[mechanism.cautions]]
plain = "a network with members"
when = ["members > 0"]
""", encoding="utf-8")
    spec = {
        "experiment": {"name": "mechanism", "model": str(FLEXNET), "seed": 11,
                       "card": str(card)},
        "run": {"final_time": 30, "time_step": 0.0625, "saveper": 0.5},
        "region": {"presets": ["typical", "embedded_prone"]},
        "policies": [{"name": "no_push", "amount": 0, "duration": 0},
                     {"name": "cultivate", "params": {"sponsor_cultivation_share": 0.3}}],
        "design": {"method": "sets", "file": str(FLEXNET.parent / "nonimplausible.csv"),
                   "n": 12},
        "metrics": [{"name": "survived_10"}, {"name": "public_money"}],
        "analysis": {"packages": {"success": "survived_10"}, "integration_check": False},
    }
    out = tmp_path / "out"
    result = run_experiment(parse_experiment(spec, path=tmp_path / "study.toml"), out=out,
                            progress=False)
    mechanisms = pd.read_csv(out / "analyses" / "mechanisms.csv")
    shares = mechanisms[mechanisms["kind"] == "share"]
    won = shares[shares["successes"] > 0]
    assert not won.empty, "no package succeeded in 12 worlds: pick other worlds"
    assert set(shares[shares["package"] == "no_push"]["successes"]) == {0}
    for _, part in won.groupby(["region", "package"]):
        assert part["mean"].sum() == pytest.approx(1.0)
    # the same numbers straight from the saved trajectories (push ends at 2 + 3.5 = 5.5)
    ensemble = result.ensemble
    times = ensemble.dataset["time"].to_numpy()
    at = int(np.flatnonzero(np.isclose(times, 15.5))[0])

    def read(name: str) -> np.ndarray:
        return ensemble.outputs(name).to_numpy()[:, at]

    parts = {"member fees": read("Fee Revenue"),
             "local institutions": read("Institution Contributions"),
             "community entrepreneurs": read("Community Entrepreneur Contributions"),
             "public money": read("Public Push Grant")}
    total = sum(parts.values())
    metrics = result.metrics
    for (region, package), part in won.groupby(["region", "package"]):
        runs = ((metrics["case"] == f"{region}_{package}") & (metrics["survived_10"] == 1)
                ).to_numpy()
        assert part["successes"].iloc[0] == runs.sum()
        for name, flow in parts.items():
            row = part[part["name"] == name].iloc[0]
            direct = flow[runs] / total[runs]
            assert row["median"] == pytest.approx(np.median(direct))
            assert row["mean"] == pytest.approx(direct.mean())
        # members' change over the next 10 years: members at 25.5 over members at 15.5, - 1
        later = int(np.flatnonzero(np.isclose(times, 25.5))[0])
        members = ensemble.outputs("Total Members").to_numpy()
        change = members[runs, later] / members[runs, at] - 1
        row = mechanisms[(mechanisms["region"] == region) & (mechanisms["package"] == package)
                         & (mechanisms["name"] == "members' change over the next 10 years")]
        assert row["median"].iloc[0] == pytest.approx(np.median(change))
        trust = mechanisms[(mechanisms["region"] == region) & (mechanisms["package"] == package)
                           & (mechanisms["name"] == "trust")].iloc[0]
        assert trust["median"] == pytest.approx(np.median(read("Trust")[runs]))
    record = json.loads((out / "summary.json").read_text())["mechanism"]
    assert record["shares"] == list(parts) and record["after_push"] == 10
    # the report's part: heading, table in the card's words, a caution only if one holds
    ctx = ReportContext(load_results(out))
    section = _packages(ctx)
    assert section is not None
    said = [f.text for f in ctx.findings if "of the network's income from" in f.text]
    assert said and all("successes of the package that succeeds most often, \u201c" in t
                        and "\u201d, get on average" in t for t in said)
    headings = [b.text for b in section.blocks if isinstance(b, Heading)]
    assert "What keeps the network alive in the successful worlds" in headings
    table = next(b.frame for b in section.blocks
                 if isinstance(b, TableBlock) and b.name == "mechanisms")
    assert {"member fees", "trust", "members' perceived net value"} <= set(table.columns)
    assert "Fee Revenue" not in " ".join(map(str, table.columns))
    # the added caution holds exactly where a package succeeds
    succeeded = won[["region", "package"]].drop_duplicates()
    assert [(c["region"], c["package"]) for c in record["cautions"]
            if c["plain"] == "a network with members"] == list(
        succeeded.itertuples(index=False, name=None))
    cautions = [b.text for b in section.blocks if isinstance(b, Caution)]
    assert len(cautions) == len(record["cautions"])
    assert sum("look like a network with members (medians: members " in c
               for c in cautions) == len(succeeded)
    # the brief's caveats: the cautions on packages the answer names (each region's best)
    best = {(str(r), str(p)) for r, part in pd.read_csv(out / "analyses" / "packages.csv")
            .groupby("region") for p in part.loc[part["success_rate"]
                                                  == part["success_rate"].max(), "package"]}
    briefed = [f.text for f in ctx.findings if "a network with members" in f.text
               and f.caveat and f.headline]
    assert len(briefed) == len(best & set(succeeded.itertuples(index=False, name=None))) > 0
    # each fan-chart panel shades its own case's push: none without one, the base push else
    pushes = json.loads((out / "summary.json").read_text())["case_push"]
    assert pushes["typical_no_push"] is None and pushes["typical_cultivate"] == [2.0, 5.5]
    assert ctx.case_push("embedded_prone_no_push") is None
    assert ctx.case_push("embedded_prone_cultivate") == (2.0, 5.5)


def test_a_caution_says_where_and_the_medians_in_plain_words() -> None:
    summary = summarise_mechanism(_card(), _runs())
    text = _caution_text(mechanism_cautions(_card(), summary)[0], "region",
                         {"a": "\u201cpackage A\u201d"})
    assert text == ("In the r region, the successes of \u201cpackage A\u201d look like a fee pump "
                    "(medians: fees 90%, value -$2; the card's condition: fees > 0.8 and "
                    "value < 0).")


def test_the_share_bars_stack_the_mean_shares_of_groups_with_successes() -> None:
    import matplotlib

    matplotlib.use("Agg")
    from sdnet.plotting import plot_income_shares

    summary = summarise_mechanism(_card(), _runs())
    ax = plot_income_shares(summary, whole="the income")
    widths = sorted(round(p.get_width(), 6) for p in ax.patches)
    # r/a: fees 0.8667, gifts 0.1333; r/b: 0.2, 0.8; s/a has no success and is not drawn
    assert widths == sorted(round(w, 6) for w in (2.6 / 3, 0.4 / 3, 0.2, 0.8))
    assert ax.get_xlabel().endswith("\nno success (not drawn): a (s)")
    # one region drawn: bars named by package, the first on top
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert list(ax.get_yticks()) == [1, 0]
