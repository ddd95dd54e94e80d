"""Experiment specs: TOML -> validated frozen objects; every error names file, key and value."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest

from sdnet.designs import Factor
from sdnet.errors import ExperimentError
from sdnet.experiment import load_experiment, parse_experiment, to_toml
from sdnet.model import Model, load_model
from sdnet.policy import Push

BASE_PUSH = Push(amount=300_000, start=2, duration=3.5)  # flexnet's card's base push

TINY = Path(__file__).resolve().parents[1] / "data" / "tiny_network.mdl"


@pytest.fixture(scope="module")
def tiny() -> Model:
    return load_model(TINY)


def _spec(**tables: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "experiment": {"name": "t", "model": str(TINY), "seed": 3},
        "factors": [{"name": "push_duration", "bounds": [0, 8]}],
        "design": {"method": "lhs", "n": 10},
        "metrics": [{"name": "persistence_after_push"}],
    }
    spec.update(tables)
    return spec


def _error(tiny: Model, spec: dict[str, Any]) -> str:
    with pytest.raises(ExperimentError) as info:
        parse_experiment(spec, path="study.toml", model=tiny)
    return str(info.value)


def test_a_valid_spec_is_resolved(tiny: Model) -> None:
    spec = _spec(region={"preset": "embedded-prone"},
                 factors=[{"name": "Push Duration", "bounds": [0, 8]},
                          {"name": "word_of_mouth"}])
    experiment = parse_experiment(spec, model=tiny)
    assert experiment.factors == (Factor("push_duration", 0.0, 8.0),
                                  Factor("word_of_mouth", 0.1, 0.6))
    assert experiment.design_settings == {}
    case = experiment.cases[0]
    assert case.name == "embedded_prone"
    assert case.push == BASE_PUSH
    assert case.values["community_entrepreneur_density"] == 0.8
    assert case.values["push_amount"] == BASE_PUSH.amount
    assert experiment.analysis.integration_n == 32


def test_kind_expands_to_every_parameter_of_that_kind(tiny: Model) -> None:
    spec = _spec(factors=[{"name": "grant_effect", "bounds": [0.5, 1.0]}, {"kind": "uncertain"}])
    experiment = parse_experiment(spec, model=tiny)
    uncertain = [n for n, p in tiny.parameters.items() if p.kind == "uncertain"]
    assert [f.name for f in experiment.factors] == ["grant_effect",
                                                    *[n for n in uncertain if n != "grant_effect"]]
    assert experiment.factors[0].lower == 0.5


def test_policies_and_presets_make_cases(tiny: Model) -> None:
    spec = _spec(region={"presets": ["typical", "embedded_prone"]},
                 policies=[{"name": "short", "duration": 2.0, "taper": 2.0, "match": 0.5},
                           {"name": "long", "duration": 6.0}],
                 analysis={"compare": {"metric": "persistence_after_push"}})
    experiment = parse_experiment(spec, model=tiny)
    assert [c.name for c in experiment.cases] == ["typical_short", "typical_long",
                                                  "embedded_prone_short", "embedded_prone_long"]
    assert experiment.cases[0].push.match == 0.5
    assert experiment.cases[1].push.amount == BASE_PUSH.amount


def test_model_path_is_relative_to_the_file(tmp_path: Path) -> None:
    shutil.copy(TINY, tmp_path / "tiny_network.mdl")
    shutil.copy(TINY.with_suffix(".toml"), tmp_path / "tiny_network.toml")  # its model card
    spec = _spec()
    spec["experiment"]["model"] = "tiny_network.mdl"
    (tmp_path / "study.toml").write_text(to_toml(spec), encoding="utf-8")
    experiment = load_experiment(tmp_path / "study.toml")
    assert experiment.model_path == (tmp_path / "tiny_network.mdl").resolve()


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"region": {"presets": ["typical", "embedded_prone"], "values": {"micro_share": 0.5}},
         "policies": [{"name": "short", "duration": 2.0, "match": 0.5},
                      {"name": "long", "duration": 6.0, "params": {"word_of_mouth": 0.2}}],
         "params": {"number_of_firms": 300},
         "metrics": [{"name": "members_share"},
                     {"name": "m", "variable": "Trust", "reducer": "mean", "start": 5,
                      "units": "dmnl"}],
         "analysis": {"compare": {"metric": "members_share"}, "hysteresis": True,
                      "thresholds": {"amounts": [1e5]}, "integration_check": False}},
    ],
)
def test_resolved_spec_round_trips_through_toml(tiny: Model, extra: dict[str, Any]) -> None:
    experiment = parse_experiment(_spec(**extra), model=tiny)
    data = tomllib.loads(to_toml(experiment.to_dict()))
    assert data == experiment.to_dict()
    again = parse_experiment(data, model=tiny)
    assert again.to_dict() == experiment.to_dict()
    assert again.cases == experiment.cases
    assert again.analysis == experiment.analysis


def test_with_options_overrides_n_and_seed(tiny: Model) -> None:
    experiment = parse_experiment(_spec(), model=tiny).with_options(n=5, seed=9)
    assert (experiment.design_n, experiment.seed) == (5, 9)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"experiment": {"name": "t", "model": str(TINY), "seed": -1}},
         "study.toml: [experiment.seed] must be an integer >= 0, not -1"),
        ({"experiment": {"name": "my study", "model": str(TINY)}},
         "study.toml: [experiment.name] must be a Python identifier (letters, digits, _), not "
         "'my study'"),
        ({"experiment": {"name": "t", "model": "nowhere.mdl"}},
         "study.toml: [experiment.model] model file not found: 'nowhere.mdl' (looked beside "
         "the experiment file and in the current directory)"),
        ({"factors": [{"name": "push_duraton"}]},
         "study.toml: [factors[0].name] unknown parameter 'push_duraton' of tiny_network.mdl; "
         "did you mean 'push_duration', 'push_amount'?"),
        ({"factors": [{"name": "push_duration", "bounds": [0, 40]}]},
         "study.toml: [factors[0].bounds] bounds [0, 40] leave the declared range of "
         "'push_duration' [0, 30]"),
        ({"factors": [{"name": "push_duration", "distribution": "triangular"}]},
         "study.toml: [factors[0].mode] missing (a triangular distribution needs mode)"),
        ({"factors": [{"name": "push_duration", "bound": [0, 1]}]},
         "study.toml: [factors[0].bound] unknown key 'bound'; did you mean 'bounds'? (valid: "
         "name, bounds, distribution, mode, mean, sd)"),
        ({"factors": [{"name": "final_time"}]},
         "study.toml: [factors[0].name] 'final_time' is a simulation control; set it in [run]"),
        ({"design": {"method": "sobl", "n": 8}},
         "study.toml: [design.method] unknown design method 'sobl'; did you mean 'sobol'? "
         "(valid: lhs, sobol, morris, efast, grid, sets)"),
        ({"design": {"method": "sobol", "n": 100}},
         "study.toml: [design.n] must be a power of 2 for a sobol design, not 100 (e.g. 64 or "
         "128)"),
        ({"design": {"method": "lhs", "n": 10, "num_levels": 4}},
         "study.toml: [design.num_levels] is not a setting of a lhs design (its settings: "
         "none)"),
        ({"metrics": [{"name": "persistance_after_push"}]},
         "study.toml: [metrics[0].name] unknown metric 'persistance_after_push'; did you mean "
         "'persistence_after_push', 'alive_after_push'? (the outcomes of card "
         "tiny_network.toml: persistence_after_push, sustained, members_share, embeddedness, "
         "alive_after_push, time_to_collapse, cost_per_member_year; or give variable and "
         "reducer)"),
        ({"metrics": [{"name": "m", "variable": "Trust", "reducer": "max"}]},
         "study.toml: [metrics[0].reducer] unknown reducer 'max' (valid: final, mean, peak, "
         "time_of_peak, time_to_threshold, value_at, integral)"),
        ({"region": {"preset": "tipical"}},
         "study.toml: [region.preset] unknown region preset 'tipical'; did you mean 'typical'? "
         "(valid: typical, embedded_prone, externally_networked)"),
        ({"push": {"amount": -5}},
         "study.toml: [push.amount] push amount must not be negative (got -5)"),
        ({"analysis": {"screen": {"top": 3}}},
         "study.toml: [analysis.screen] screening needs a morris design, not 'lhs'"),
        ({"analysis": {"prim": {"metric": "sustained"}}},
         "study.toml: [analysis.prim.metric] 'sustained' is not one of the study's metrics "
         "(metrics: persistence_after_push)"),
        ({"analysis": {"compare": {}}},
         "study.toml: [analysis.compare] comparing needs exactly two [[policies]], not 1"),
        # QA F16: range errors name the key that gave the value (a TOML file cannot pass
        # check_ranges=False, so the message does not suggest it)
        ({"params": {"number_of_firms": 99999}},
         "study.toml: [params.number_of_firms] value 99999.0 for 'number_of_firms' is outside "
         "its declared range [1, 10000]"),
        ({"policies": [{"name": "p1", "start": 40}]},
         "study.toml: [policies[0].start] value 40.0 for 'push_start' is outside its declared "
         "range [0, 30]"),
        ({"region": {"values": {"micro_share": 2}}},
         "study.toml: [region.values.micro_share] value 2.0 for 'micro_share' is outside its "
         "declared range [0, 1]"),
        ({"params": {"Trust": 0.5}},
         "study.toml: [params.Trust] 'Trust' is a stock of the model, not a parameter; a study "
         "can set constants only (a stock starts from the initial value its equation gives)"),
        ({"metrics": [{"name": "persistence_after_push"},
                      {"name": "m", "variable": "Trst", "reducer": "peak"}]},
         "study.toml: [metrics[1].variable] unknown variable 'Trst' of tiny_network.mdl; did "
         "you mean 'Trust'?"),
        ({"metrics": [{"name": "m", "variable": "Trust", "reducer": "time_to_threshold"}]},
         "study.toml: [metrics[0].threshold] missing (reducer 'time_to_threshold' needs "
         "threshold: the level the output must reach, in the output's units)"),
        ({"metrics": [{"name": "m", "variable": "Trust", "reducer": "value_at", "time": 99}]},
         "study.toml: [metrics[0].time] 99 is outside the simulated time: must be within "
         "[0, 30] (Year; the run ends at final_time 30)"),
        ({"analysis": {"thresholds": {"duration": [15, 0]}}},
         "study.toml: [analysis.thresholds.duration] must be [lower, upper] with lower < upper, "
         "not [15, 0] (the wrong way round: did you mean [0, 15]?)"),
        ({"design": {"method": "efast", "n": 10}},
         "study.toml: [design.n] must be at least 65 for an efast design with M = 4 "
         "(n > 4 M^2), not 10"),
        ({"design": {"method": "morris", "n": 10, "num_levels": 1}},
         "study.toml: [design.num_levels] must be an even integer >= 2 (levels of the Morris "
         "grid), not 1"),
        ({"runs": {}},
         "study.toml: [runs] unknown key 'runs'; did you mean 'run'? (valid: experiment, run, "
         "region, push, params, policies, budget, factors, design, metrics, analysis, "
         "optimize)"),
    ],
)
def test_errors_name_file_key_value_and_what_is_valid(
    tiny: Model, change: dict[str, Any], message: str
) -> None:
    assert _error(tiny, _spec(**change)) == message


_MORRIS = {"method": "morris", "n": 4}
_SOBOL = {"method": "sobol", "n": 16}
_THREE = [{"name": "push_duration", "bounds": [0, 8]}, {"name": "word_of_mouth"},
          {"name": "attrition_rate"}]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"analysis": {"screen": {"top": 2, "seeds": 0}}},
         "study.toml: [analysis.screen.seeds] must be an integer >= 1, not 0"),
        ({"analysis": {"screen": {"top": 2, "seeds": 1.5}}},
         "study.toml: [analysis.screen.seeds] must be an integer >= 1, not 1.5"),
        ({"analysis": {"screen": {"top": 2, "seed": 3}}},
         "study.toml: [analysis.screen.seed] unknown key 'seed'; did you mean 'seeds'? (valid: "
         "top, n, metric, calc_second_order, seeds, keep)"),
        ({"analysis": {"screen": {"top": 2, "keep": "push_duration"}}},
         "study.toml: [analysis.screen.keep] must be a list of factor names such as "
         "[\"push_amount\", \"push_duration\"]"),
        ({"analysis": {"screen": {"top": 2, "keep": ["push_durration"]}}},
         "study.toml: [analysis.screen.keep] 'push_durration' is not a factor of the study; "
         "did you mean 'push_duration'? (a kept factor must be one of the [[factors]] the "
         "screen varies)"),
        ({"analysis": {"screen": {"top": 2, "keep": ["push_amount"]}}},
         "study.toml: [analysis.screen.keep] 'push_amount' is not a factor of the study (a "
         "kept factor must be one of the [[factors]] the screen varies)"),
        ({"analysis": {"screen": {"top": 2, "keep": ["push_duration", "Push Duration"]}}},
         "study.toml: [analysis.screen.keep] 'Push Duration' is given twice"),
        ({"analysis": {"screen": {"top": 1, "keep": ["push_duration", "word_of_mouth"]}}},
         "study.toml: [analysis.screen.keep] keeps 2 factors, more than screen.top = 1 (the "
         "Sobol' stage varies top factors, the kept ones among them)"),
        ({"analysis": {"screen": {"top": 2, "n": 32}, "grow": {"max_n": 16}}},
         "study.toml: [analysis.grow.max_n] must be at least the Sobol' stage's N = 32 (it "
         "grows from there), not 16"),
        ({"design": {"method": "lhs", "n": 8}, "analysis": {"grow": {"max_n": 64}}},
         "study.toml: [analysis.grow] growing the sample needs a sobol design (or a morris "
         "screen), not 'lhs'"),
        ({"design": _SOBOL, "analysis": {"grow": 8}},
         "study.toml: [analysis.grow] must be a table, not 8"),
        ({"design": _SOBOL, "analysis": {"grow": {}}},
         "study.toml: [analysis.grow.max_n] missing (the largest base size N to grow to, a "
         "power of 2)"),
        ({"design": _SOBOL, "analysis": {"grow": {"max_n": 100}}},
         "study.toml: [analysis.grow.max_n] must be a power of 2 for a sobol design, not 100 "
         "(e.g. 64 or 128)"),
        ({"design": _SOBOL, "analysis": {"grow": {"max_n": 8}}},
         "study.toml: [analysis.grow.max_n] must be at least the Sobol' stage's N = 16 (it "
         "grows from there), not 8"),
        ({"design": _SOBOL, "analysis": {"grow": {"max_n": 64, "top": 3}}},
         "study.toml: [analysis.grow.top] must be smaller than the 3 factors the Sobol' stage "
         "varies (the top 3 are told apart from the others), not 3"),
        ({"design": _SOBOL, "analysis": {"grow": {"max_n": 64, "top": 0}}},
         "study.toml: [analysis.grow.top] must be an integer >= 1, not 0"),
        ({"design": _SOBOL, "analysis": {"grow": {"max_n": 64, "metric": "sustained"}}},
         "study.toml: [analysis.grow.metric] 'sustained' is not one of the study's metrics "
         "(metrics: persistence_after_push)"),
        ({"design": _SOBOL, "analysis": {"grow": {"max_n": 64, "cap": 3}}},
         "study.toml: [analysis.grow.cap] unknown key 'cap' (valid: max_n, top, metric)"),
    ],
)
def test_screen_and_growth_errors_name_the_key(
    tiny: Model, change: dict[str, Any], message: str
) -> None:
    spec = _spec(**{"design": _MORRIS, "factors": _THREE, **change})
    assert _error(tiny, spec) == message


def test_screen_defaults_to_three_seeds_and_keeps_named_factors(tiny: Model) -> None:
    spec = _spec(design=_MORRIS, factors=_THREE,
                 analysis={"screen": {"top": 2, "keep": ["Push Duration"]},
                           "grow": {"max_n": 1024}})
    analysis = parse_experiment(spec, model=tiny).analysis
    assert analysis.screen_seeds == 3
    assert analysis.screen_keep == ("push_duration",)
    assert (analysis.grow_max_n, analysis.grow_top) == (1024, 1)
    assert analysis.grow_metric == "persistence_after_push"
    # the resolved spec reads back the same
    again = parse_experiment(tomllib.loads(to_toml(parse_experiment(spec, model=tiny)
                                                    .to_dict())), model=tiny).analysis
    assert again == analysis


def test_value_at_within_the_run_s_own_final_time_is_accepted(tiny: Model) -> None:
    metric = {"name": "m", "variable": "Trust", "reducer": "value_at", "time": 12}
    assert _error(tiny, _spec(run={"final_time": 10}, metrics=[metric])) == (
        "study.toml: [metrics[0].time] 12 is outside the simulated time: must be within "
        "[0, 10] (Year; the run ends at final_time 10)")
    experiment = parse_experiment(_spec(metrics=[metric]), model=tiny)
    assert experiment.metrics[0].options["time"] == 12


@pytest.mark.parametrize(
    ("options", "message"),
    [
        # QA F16: command-line options are blamed, not the file key they replace
        ({"n": 0}, "--n must be an integer >= 1, not 0 (it replaces [design.n] in study.toml)"),
        ({"seed": -2}, "--seed must be a non-negative integer, not -2 (it replaces "
                       "[experiment.seed])"),
        ({"screen_n": 16}, "--screen-n 16: the study has no screening stage ([analysis.screen] "
                           "in study.toml)"),
    ],
)
def test_option_errors_name_the_option(
    tiny: Model, options: dict[str, int], message: str
) -> None:
    experiment = parse_experiment(_spec(), path="study.toml", model=tiny)
    with pytest.raises(ExperimentError) as info:
        experiment.with_options(**options)
    assert str(info.value) == message


def test_screen_n_error_names_the_option(tiny: Model) -> None:
    spec = _spec(design={"method": "morris", "n": 4}, analysis={"screen": {"top": 2}})
    experiment = parse_experiment(spec, path="study.toml", model=tiny)
    with pytest.raises(ExperimentError) as info:
        experiment.with_options(screen_n=10)
    assert str(info.value) == ("--screen-n must be a power of 2 for a sobol design, not 10 "
                               "(e.g. 8 or 16) (it replaces [analysis.screen.n] in study.toml)")


def test_error_carries_context(tiny: Model) -> None:
    with pytest.raises(ExperimentError) as info:
        parse_experiment(_spec(design={"method": "lhs", "n": 0}), path="s.toml", model=tiny)
    assert (info.value.key, info.value.value, info.value.path) == ("design.n", 0, Path("s.toml"))


def test_a_folder_is_not_an_experiment_file(tmp_path: Path) -> None:
    with pytest.raises(ExperimentError, match=r": is a folder, not an experiment file \(give "
                       r"the path of a \.toml file\)$"):
        load_experiment(tmp_path)
    (tmp_path / "b.toml").write_text("", encoding="utf-8")
    (tmp_path / "a.toml").write_text("", encoding="utf-8")
    with pytest.raises(ExperimentError, match=r"\(give the path of a \.toml file; this folder "
                       r"has a\.toml, b\.toml\)$"):
        load_experiment(tmp_path)


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    file = tmp_path / "bad.toml"
    file.write_text("[experiment\nname = 1\n", encoding="utf-8")
    with pytest.raises(ExperimentError, match=r"bad.toml: not valid TOML: "):
        load_experiment(file)


# --------------------------------------------------------------------------- issue 11 (#5, #8, #11)
_USER_METRIC = {"name": "m", "variable": "Total Members", "reducer": "final"}


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        ({"params": 5}, r"\[params\] must be a table of parameter values such as "
         r"\{ push_amount = 300000 \}, not 5"),
        ({"params": "abc"}, r"\[params\] must be a table of parameter values .*, not 'abc'"),
        ({"policies": [{"name": "a", "params": 5}]},
         r"\[policies\[0\].params\] must be a table of parameter values"),
        ({"analysis": {"prim": {"metric": "persistence_after_push", "alpha": 5}}},
         r"\[analysis.prim.alpha\] must be a number in \(0, 0.5\) \(the share of runs peeled "
         r"per step\), not 5"),
        ({"analysis": {"prim": {"metric": "persistence_after_push", "min_coverage": 7}}},
         r"\[analysis.prim.min_coverage\] must be a number in \(0, 1\]"),
        ({"analysis": {"time_resolved": {"variables": ["Total Members"]}}},
         r"\[analysis.time_resolved\] time-resolved indices need a sobol or efast design \(or "
         r"a morris screen\), not 'lhs'"),
        ({"analysis": {"thresholds": {"tol": 1e9}}},
         r"\[analysis.thresholds.tol\] must be smaller than the searched range \(15 Year\)"),
        ({"analysis": {"thresholds": {"amount_tol": 5e6}}},
         r"\[analysis.thresholds.amount_tol\] must be smaller than the searched range"),
        ({"metrics": [{**_USER_METRIC, "units": {"a": 1}}]},
         r"\[metrics\[0\].units\] must be a units string such as \"widget\", not \{'a': 1\}"),
        ({"metrics": [{**_USER_METRIC, "reducer": "time_to_threshold", "threshold": 5,
                       "direction": "sideways"}]},
         r"\[metrics\[0\].direction\] must be 'above' or 'below', not 'sideways'"),
        ({"metrics": [{**_USER_METRIC, "reducer": "mean", "start": 20, "end": 10}]},
         r"\[metrics\[0\].start\] start 20 must come before end 10"),
        ({"run": {"time_step": 0.3, "saveper": 1}},
         r"\[run.saveper\] invalid value for 'saveper': 1.0 \(expected a whole multiple of the "
         r"time step \(0.3\)\)"),
        ({"run": {"time_step": 2}}, r"\[run.time_step\] 2 does not divide the model file's save "
         r"step SAVEPER = 0.25; set \[run\] saveper to a whole multiple of 2 too"),
        ({"run": {"final_time": 0.1, "time_step": 0.5, "saveper": 0.5}},
         r"\[run.time_step\]"),
    ],
)
def test_bad_values_are_refused_at_load_naming_the_key(
    tiny: Model, tables: dict[str, Any], message: str
) -> None:
    text = _error(tiny, _spec(**tables))
    assert text.startswith("study.toml: [")
    assert __import__("re").search(message, text), text


def test_a_non_utf8_or_bom_study_file(tmp_path: Path) -> None:
    lines = (f'[experiment]\nname = "t"\nmodel = "{TINY.as_posix()}"\n\n[[factors]]\n'
             'name = "push_duration"\n\n[design]\nmethod = "lhs"\nn = 4\n')
    path = tmp_path / "study.toml"
    path.write_bytes(b"\xef\xbb\xbf" + lines.encode())
    assert load_experiment(path).name == "t"
    path.write_bytes(lines.encode() + b"# caf\xe9\n")
    with pytest.raises(ExperimentError, match=r"study.toml: is not UTF-8 text \(byte \d+: "
                       r"b'\\xe9'\); save it as UTF-8"):
        load_experiment(path)


def test_a_study_summary_carries_the_numerical_guards_flags(tiny: Model) -> None:
    """Issue 11, #7: a study run at an unstable time step says so in summary.json."""
    from sdnet.experiment import run_experiment
    from sdnet.numerics import NumericalWarning

    spec = _spec(run={"final_time": 30, "time_step": 6, "saveper": 6},
                 design={"method": "lhs", "n": 4},
                 metrics=[{"name": "m", "variable": "Total Members", "reducer": "final"}],
                 analysis={"integration_check": False})
    with pytest.warns(NumericalWarning):
        result = run_experiment(parse_experiment(spec, model=tiny), progress=False)
    flags = result.summary["numerical_flags"]
    assert flags["n_runs"] == 4
    assert flags["n_flagged"] == int(result.ensemble.flagged.sum()) > 0
    assert flags["flags"] == list(result.ensemble.flags)
    assert any(note.startswith(f"the numerical guard flagged {flags['n_flagged']} of 4 runs: ")
               for note in result.summary["notes"])
