"""Studies of policy packages: worlds from a table ([design] method = "sets"), [budget]
packages and [analysis] packages; every new key refuses bad input naming itself."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sdnet.decision import Package, compare_packages, evaluate_packages, sample_worlds
from sdnet.errors import ExperimentError
from sdnet.experiment import parse_experiment, run_experiment, to_toml
from sdnet.model import Model, load_model
from sdnet.policy import Push

DATA = Path(__file__).resolve().parents[1] / "data"
TINY = DATA / "tiny_network.mdl"
FLEXNET = Path(__file__).resolve().parents[2] / "models" / "flexnet" / "flexnet.mdl"
_GRANT = {"name": "grant_total", "variable": "Public Push Grant", "reducer": "integral"}


@pytest.fixture(scope="module")
def tiny() -> Model:
    return load_model(TINY)


@pytest.fixture
def worlds_file(tmp_path: Path) -> Path:
    path = tmp_path / "worlds.csv"
    rng = np.random.default_rng(0)
    pd.DataFrame({"attrition_rate": rng.uniform(0.05, 0.6, 12),
                  "Grant Effect": rng.uniform(0, 2, 12)}).to_csv(path, index=False)
    return path


def _spec(worlds: Path, **tables: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "experiment": {"name": "t", "model": str(TINY), "seed": 3},
        "region": {"presets": ["typical", "embedded_prone"]},
        "policies": [{"name": "none", "amount": 0, "label": "no push"},
                     {"name": "long", "amount": 200_000, "duration": 8}],
        "design": {"method": "sets", "file": worlds.name, "n": 5},
        "metrics": [{"name": "alive_after_push"}, _GRANT],
        "analysis": {"packages": {"success": "alive_after_push", "cost": "grant_total"},
                     "integration_check": False},
    }
    spec.update(tables)
    return spec


def _error(tiny: Model, spec: dict[str, Any], folder: Path) -> str:
    with pytest.raises(ExperimentError) as info:
        parse_experiment(spec, path=folder / "study.toml", model=tiny)
    text = str(info.value)
    assert text.startswith(f"{folder / 'study.toml'}: ["), text
    return text


def test_a_sets_study_takes_its_factors_and_rows_from_the_file(
        tiny: Model, worlds_file: Path) -> None:
    spec = _spec(worlds_file, budget={"total": 1_000_000, "durations": [1, 2, 4]})
    experiment = parse_experiment(spec, path=worlds_file.parent / "study.toml", model=tiny)
    assert [f.name for f in experiment.factors] == ["attrition_rate", "grant_effect"]
    # factors span the declared ranges, not the sample's
    assert (experiment.factors[0].lower, experiment.factors[0].upper) == (0.05, 0.6)
    assert experiment.design_method == "sets" and experiment.design_n == 5
    policies = list(dict.fromkeys(c.policy for c in experiment.cases))
    assert policies == ["none", "long", "budget_short_strong", "budget_medium",
                        "budget_long_weak", "budget_tapered", "budget_matched"]
    assert len(experiment.cases) == 14
    short = next(c for c in experiment.cases if c.policy == "budget_short_strong")
    assert short.push is not None and short.push.amount == 1_000_000
    assert short.label.startswith("short and strong: $1,000,000/yr for 1 yr")
    assert experiment.analysis.packages_cost == "grant_total"
    # the resolved spec round-trips (the budget stays a [budget], not seven policies)
    data = experiment.to_dict()
    assert "factors" not in data and data["budget"]["total"] == 1_000_000
    assert [p["name"] for p in data["policies"]] == ["none", "long"]
    again = parse_experiment(tomllib.loads(to_toml(data)), path=worlds_file.parent / "s.toml",
                             model=tiny)
    assert again.to_dict() == data
    # --n replaces n, within the file's rows
    assert experiment.with_options(n=12).design_n == 12
    with pytest.raises(ExperimentError, match=r"--n 13 asks for more worlds than the worlds "
                       r"file worlds.csv has \(12 rows; it replaces \[design.n\] in "
                       r"study.toml\)"):
        experiment.with_options(n=13)
    # n left out: every row
    spec["design"] = {"method": "sets", "file": str(worlds_file)}
    assert parse_experiment(spec, model=tiny).design_n == 12


@pytest.mark.parametrize(("change", "message"), [
    ({"design": {"method": "sets", "n": 5}},
     r"\[design.file\] missing \(a sets design runs the rows of a CSV"),
    ({"design": {"method": "sets", "file": "nope.csv"}},
     r"\[design.file\] worlds file .*nope.csv: not found"),
    ({"design": {"method": "sets", "file": "worlds.csv", "n": 13}},
     r"\[design.n\] asks for 13 worlds but the worlds table has only 12 rows"),
    ({"design": {"method": "sets", "file": "worlds.csv", "n": 0}},
     r"\[design.n\] must be an integer >= 1, not 0"),
    ({"design": {"method": "sets", "file": "worlds.csv", "num_levels": 4}},
     r"\[design.num_levels\] is not a setting of a sets design \(its settings: file, n, "
     r"targets\)"),
    ({"design": {"method": "lhs", "n": 4, "file": "worlds.csv"}},
     r"\[design.file\] is a setting of a sets design .* not of a lhs design"),
    ({"factors": [{"name": "attrition_rate"}]},
     r"\[factors\] a sets design takes its factors from the columns of design.file"),
    ({"policies": [{"name": "p", "label": 3}]},
     r"\[policies\[0\].label\] must be a string \(the package in plain words\), not 3"),
    ({"budget": {"totl": 1e6}}, r"\[budget.totl\] unknown key 'totl'; did you mean 'total'"),
    ({"budget": {"start": 1}}, r"\[budget.total\] missing \(the public budget"),
    ({"budget": {"total": -5}}, r"\[budget.total\] must be a positive number, not -5"),
    ({"budget": {"total": 1e7}},
     r"\[budget.total\] the short and strong package \(budget_short_strong\) is out of range: "
     r"\[budget.amount\]|\[budget.total\] the short and strong package"),
    ({"budget": {"total": 1e6, "durations": [2, 5]}},
     r"\[budget.durations\] must be three durations \[short, medium, long\]"),
    ({"budget": {"total": 1e6, "durations": [5, 2, 10]}},
     r"\[budget.durations\] .*increasing durations: short < medium < long"),
    ({"budget": {"total": 1e6, "match": 2}}, r"\[budget.match\] .*a share in \[0, 1\]"),
    ({"budget": {"total": 1e6, "start": -1}}, r"\[budget.start\] must be at least 0, not -1"),
    ({"budget": {"total": 1e6, "taper": "long"}},
     r"\[budget.taper\] must be a number, not 'long'"),
    ({"budget": {"total": 1e6, "durations": [2, "five", 10]}},
     r"\[budget.durations\] must be a number, not 'five'"),
    ({"analysis": {"packages": {"success": "alive_after_push", "at_least": "half"}}},
     r"\[analysis.packages.at_least\] must be a number, not 'half'"),
    ({"budget": {"total": 1e6, "params": {"brokr": 1}}},
     r"\[budget.params.brokr\] unknown parameter 'brokr'"),
    ({"budget": {"total": 1e6}, "policies": [{"name": "budget_medium"}]},
     r"\[policies\] policy names must be unique \(budget_medium twice"),
    ({"policies": [{"name": "only"}]},
     r"\[analysis.packages\] comparing packages needs at least two \[\[policies\]\]"),
    ({"analysis": {"packages": {"cost": "grant_total"}}},
     r"\[analysis.packages.success\] missing \(the outcome that decides success"),
    ({"analysis": {"packages": {"success": "alive"}}},
     r"\[analysis.packages.success\] 'alive' is not one of the study's metrics"),
    ({"analysis": {"packages": {"success": "alive_after_push", "cost": "money"}}},
     r"\[analysis.packages.cost\] 'money' is not one of the study's metrics"),
    ({"analysis": {"packages": {"success": "alive_after_push", "satisfice": ["x = 1"]}}},
     r"\[analysis.packages.satisfice\[0\]\] 'x = 1': expected 'outcome op number'"),
    ({"analysis": {"packages": {"success": "alive_after_push", "satisfice": "x > 1"}}},
     r"\[analysis.packages.satisfice\] must be a list of conditions"),
    ({"analysis": {"packages": {"success": "alive_after_push",
                                "satisfice": ["members > 1"]}}},
     r"\[analysis.packages.satisfice\[0\]\] 'members' is not one of the study's metrics"),
    ({"analysis": {"packages": {"success": "alive_after_push", "confidence": 95}}},
     r"\[analysis.packages.confidence\] must be a number in \(0, 1\), not 95"),
    ({"analysis": {"packages": {"success": "alive_after_push", "min_successes": 0}}},
     r"\[analysis.packages.min_successes\] must be an integer >= 1, not 0"),
    ({"analysis": {"packages": {"success": "alive_after_push", "at_leat": 1}}},
     r"\[analysis.packages.at_leat\] unknown key 'at_leat'; did you mean 'at_least'"),
])
def test_bad_package_study_keys_are_named(tiny: Model, worlds_file: Path,
                                          change: dict[str, Any], message: str) -> None:
    text = _error(tiny, _spec(worlds_file, **change), worlds_file.parent)
    assert re.search(message, text), text


@pytest.mark.parametrize(("text", "message"), [
    ("attrition_rat,grant_effect\n0.1,1\n",
     r"\[design.file\] worlds file .*worlds.csv: column 'attrition_rat' is not a constant of "
     r"tiny_network.mdl; did you mean 'attrition_rate'"),
    ("attrition_rate\n0.9\n", r"\[design.file\] worlds file .*worlds.csv: column "
     r"'attrition_rate': value 0.9 for 'attrition_rate' is outside its declared range"),
    ("community_entrepreneur_density\n0.5\n", r"\[design.file\] worlds file .*: column "
     r"'community_entrepreneur_density' is also set by the study \(a region preset"),
])
def test_bad_worlds_files_name_the_column_and_the_file(tiny: Model, tmp_path: Path,
                                                        text: str, message: str) -> None:
    path = tmp_path / "worlds.csv"
    path.write_text(text, encoding="utf-8")
    assert re.search(message, _error(tiny, _spec(path), tmp_path))


def test_a_world_may_not_vary_what_a_policy_sets(tiny: Model, worlds_file: Path) -> None:
    spec = _spec(worlds_file, policies=[{"name": "none", "amount": 0},
                                        {"name": "sticky", "params": {"grant_effect": 1.0}}])
    text = _error(tiny, spec, worlds_file.parent)
    assert re.search(r"\[design.file\] worlds file .*worlds.csv: column 'grant_effect' is "
                     r"also set by the study \(a region preset, the push, \[params\] or a "
                     r"policy's params\)", text), text


def test_a_budget_needs_a_push_schedule(tmp_path: Path) -> None:
    worlds = tmp_path / "w.csv"
    worlds.write_text("imitation_coefficient\n0.1\n0.5\n", encoding="utf-8")
    spec = {"experiment": {"name": "b", "model": str(DATA / "bass_diffusion.mdl")},
            "design": {"method": "sets", "file": str(worlds)},
            "budget": {"total": 1e6},
            "metrics": [{"name": "a", "variable": "Adopters", "reducer": "final"}]}
    with pytest.raises(ExperimentError, match=r"\[budget\] equal-budget packages are pushes, "
                       r"and bass_diffusion.mdl has no model card"):
        parse_experiment(spec, model=load_model(DATA / "bass_diffusion.mdl"))


def test_a_flexnet_package_study_agrees_with_evaluate_packages(tmp_path: Path) -> None:
    """A few hundred runs: 12 non-implausible worlds x 2 regions x 7 packages."""
    worlds_csv = FLEXNET.parent / "nonimplausible.csv"
    spec = {
        "experiment": {"name": "packages", "model": str(FLEXNET), "seed": 11},
        "run": {"final_time": 30, "time_step": 0.0625, "saveper": 0.5},
        "region": {"presets": ["typical", "embedded_prone"]},
        "policies": [{"name": "no_push", "amount": 0, "duration": 0},
                     {"name": "base", "label": "the base push"}],
        "budget": {"total": 2_000_000, "durations": [2, 5, 8], "taper": 4},
        "design": {"method": "sets", "file": str(worlds_csv), "n": 12,
                   "targets": str(FLEXNET.parent / "targets.toml")},
        "metrics": [{"name": "survived_10"}, {"name": "surviving_members_10"},
                    {"name": "public_money"}],
        "analysis": {"packages": {"success": "survived_10",
                                  "satisfice": ["surviving_members_10 >= 20"]},
                     "integration_check": False},
    }
    experiment = parse_experiment(spec, path=tmp_path / "study.toml")
    out = tmp_path / "out"
    result = run_experiment(experiment, out=out, progress=False)
    assert len(result.metrics) == 12 * 2 * 7
    summary = pd.read_csv(out / "analyses" / "packages.csv")
    per_world = pd.read_csv(out / "analyses" / "package_worlds.csv")
    assert len(summary) == 14 and len(per_world) == 168
    written = json.loads((out / "summary.json").read_text())["packages"]
    assert written["cost"] == "public_money"
    # the base push is the scenario of flexnet's history-matching targets in both regions:
    # the worlds were selected on it (sdnet.experiment.selection)
    selected = {(r["region"], r["package"]): r["targets"]
                for r in written["selected_by_targets"]}
    assert selected == {
        ("typical", "base"): ["danish_uptake_18_months", "us_network_size",
                              "norway_survival_first_year"],
        ("embedded_prone", "base"): ["tecmen_members_1997", "tecmen_members_2021",
                                     "sponsor_money_per_member", "fee_share_of_budget"]}
    # the same worlds through the API give the same table
    model = load_model(FLEXNET)
    from sdnet.decision import read_worlds

    worlds = sample_worlds(read_worlds(worlds_csv, model), 12, seed=11)
    assert sorted(set(per_world["world"])) == list(worlds.index)
    packages = [Package("no_push", Push(0, 2, 0)), Package("base", Push(300_000, 2, 3.5)),
                *[Package(c.policy, c.push, label=c.label) for c in experiment.cases
                  if c.region == "typical" and c.policy.startswith("budget_")]]
    tables = [evaluate_packages(model, packages, worlds, region=region,
                                outcomes=["survived_10", "surviving_members_10"],
                                final_time=30, time_step=0.0625, saveper=0.5)
              for region in ("typical", "embedded_prone")]
    expected, _ = compare_packages(pd.concat(tables), success="survived_10",
                                   cost="public_money",
                                   satisfice=["surviving_members_10 >= 20"])
    columns = ["successes", "success_rate", "success_low", "public_cost_total",
               "regret_success_mean", "satisficing"]
    pd.testing.assert_frame_equal(summary[columns], expected[columns], check_dtype=False)
    embedded = summary[summary["region"] == "embedded_prone"].set_index("package")
    typical = summary[summary["region"] == "typical"].set_index("package")
    assert embedded.loc["no_push", "successes"] == 0  # nothing forms without a push
    assert "no success in 12 worlds" in embedded.loc["no_push", "cost_per_success_note"]
    assert embedded.loc["base", "success_rate"] > typical.loc["base", "success_rate"]
    assert typical.loc["base", "label"] == "the base push"
    assert typical.loc["budget_long_weak", "public_cost_mean"] == pytest.approx(2e6, rel=0.02)
    # the card's ratios per package: public money per member firm alive 10 years on
    metrics = pd.read_csv(out / "metrics.csv")
    for case, region, package in (("embedded_prone_base", "embedded_prone", "base"),
                                  ("typical_budget_long_weak", "typical", "budget_long_weak")):
        runs = metrics[metrics["case"] == case]
        per_member = runs["public_money"].sum() / runs["surviving_members_10"].sum()
        by = summary.set_index(["region", "package"])
        assert by.loc[(region, package), "public_cost_per_surviving_member"] == pytest.approx(
            per_member)
    assert pd.isna(embedded.loc["no_push", "public_cost_per_surviving_member"])
