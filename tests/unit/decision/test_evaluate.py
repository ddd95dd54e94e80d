"""evaluate_packages: every package in the same worlds, one tidy row per package and world."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sdnet.decision import Package, compare_packages, evaluate_packages
from sdnet.errors import InvalidValueError, SdnetError
from sdnet.metrics import user_metric
from sdnet.model import Model, load_model
from sdnet.policy import Push

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def flexnet() -> Model:
    return load_model(ROOT / "models" / "flexnet" / "flexnet.mdl")


@pytest.fixture(scope="module")
def bass() -> Model:
    return load_model(ROOT / "tests" / "data" / "bass_diffusion.mdl")


def test_packages_share_worlds_and_match_single_runs(flexnet: Model) -> None:
    worlds = pd.read_csv(ROOT / "models" / "flexnet" / "nonimplausible.csv").iloc[[4, 9]]
    worlds.index.name = "world"
    packages = [Package("none", Push(0, 2, 0)),
                Package("long", Push(300_000, 2, 8), {"broker_share": 0.5})]
    table = evaluate_packages(flexnet, packages, worlds, region="embedded_prone",
                              outcomes=["survived_10", "surviving_members_10"],
                              final_time=30, time_step=0.0625, saveper=0.5)
    assert list(table.columns) == ["region", "package", "world", "status", "survived_10",
                                   "surviving_members_10", "public_money", "public_cost"]
    assert table["world"].tolist() == [4, 9, 4, 9]
    assert table["package"].tolist() == ["none", "none", "long", "long"]
    assert (table["region"] == "embedded_prone").all()
    assert table["public_cost"].tolist() == pytest.approx([0, 0, 2.4e6, 2.4e6])
    # the same numbers as one run of the model in world 9 under the long package
    run = flexnet.run(region="embedded_prone", push=packages[1].push,
                      params={**worlds.loc[9].to_dict(), "broker_share": 0.5},
                      final_time=30, time_step=0.0625, saveper=0.5)
    members = run["Total Members"]
    row = table[(table["package"] == "long") & (table["world"] == 9)].iloc[0]
    assert row["survived_10"] == 1.0  # world 9 keeps a network under the long push
    assert row["surviving_members_10"] == pytest.approx(members.loc[20.0], rel=1e-9)
    assert table["survived_10"].tolist() == [0.0, 0.0, 1.0, 1.0]


def test_a_model_without_a_card_compares_with_user_metrics(bass: Model) -> None:
    worlds = pd.DataFrame({"imitation_coefficient": [0.05, 0.3, 0.9]})
    worlds.index.name = "world"
    adopted = user_metric("adopted", variable="Adopters", reducer="final")
    packages = [Package("quiet", params={"innovation_coefficient": 0.001}),
                Package("loud", params={"Innovation Coefficient": 0.05})]
    table = evaluate_packages(bass, packages, worlds, outcomes=[adopted], final_time=10)
    assert "public_cost" not in table.columns
    assert (table["region"] == "default").all()
    quiet = table[table["package"] == "quiet"]["adopted"].to_numpy()
    loud = table[table["package"] == "loud"]["adopted"].to_numpy()
    assert (loud > quiet).all()  # more innovators adopt sooner in every world
    summary, per_world = compare_packages(table, success="adopted", at_least=500.0)
    rates = summary.set_index("package")["success_rate"]
    # half the market by year 10: the quiet product only with the strongest imitation, the
    # loud one with all but the weakest
    assert rates["quiet"] == pytest.approx(1 / 3)
    assert rates["loud"] == pytest.approx(2 / 3)
    regret_quiet = per_world[per_world["package"] == "quiet"]["regret_success"].tolist()
    assert regret_quiet == [0.0, 1.0, 0.0]


def test_bad_inputs_are_named(flexnet: Model, bass: Model) -> None:
    worlds = pd.DataFrame({"trust_propensity": [1.0]})
    base = Package("base", Push(300_000, 2, 3.5))
    with pytest.raises(InvalidValueError, match="did you mean 'survived_10'"):
        evaluate_packages(flexnet, [base], worlds, outcomes=["survived10"])
    with pytest.raises(InvalidValueError, match="the model has no card"):
        evaluate_packages(bass, [Package("a")], pd.DataFrame({"market_size": [200.0]}),
                          outcomes=["survived_10"])
    with pytest.raises(InvalidValueError, match="unique package names"):
        evaluate_packages(flexnet, [base, base], worlds, outcomes=["formed"])
    with pytest.raises(InvalidValueError, match="at least one Package"):
        evaluate_packages(flexnet, [], worlds, outcomes=["formed"])
    with pytest.raises(InvalidValueError, match="at least one world"):
        evaluate_packages(flexnet, [base], worlds.iloc[:0], outcomes=["formed"])
    with pytest.raises(InvalidValueError, match="a unique index"):
        evaluate_packages(flexnet, [base], pd.DataFrame({"trust_propensity": [1.0, 1.5]},
                                                        index=[3, 3]), outcomes=["formed"])
    clash = pd.DataFrame({"community_entrepreneur_density": [0.5]})
    with pytest.raises(InvalidValueError, match="community_entrepreneur_density is set by "
                       "both"):
        evaluate_packages(flexnet, [base], clash, region="typical", outcomes=["formed"])
    with pytest.raises(SdnetError, match="typicl"):
        evaluate_packages(flexnet, [base], worlds, region="typicl", outcomes=["formed"])
    with pytest.raises(InvalidValueError, match="identifier"):
        Package("two words")
    with pytest.raises(InvalidValueError, match="finite number"):
        Package("p", params={"broker_share": float("nan")})
    with pytest.raises(InvalidValueError, match=r"sdnet\.Push"):
        Package("p", push={"amount": 1})  # type: ignore[arg-type]
    assert np.isfinite(evaluate_packages(flexnet, [base], worlds, outcomes=["formed"],
                                         final_time=10)["formed"]).all()
