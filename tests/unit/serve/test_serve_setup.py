"""The simulator's setup, worlds and game: numbers from the model, restarts that are exact."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from sdnet.engine import CompiledModel
from sdnet.errors import CardError, ExperimentError, UnknownVariableError
from sdnet.serve.game import Game, play, reference_policies, score_policies
from sdnet.serve.runs import run_fan, run_once
from sdnet.serve.setup import nice_step, setup_for, step_through
from sdnet.serve.worlds import NONIMPLAUSIBLE_FILE, load_worlds

FLEXNET = Path(__file__).resolve().parents[3] / "models" / "flexnet" / "flexnet.mdl"


@pytest.fixture(scope="module")
def setup(flexnet: CompiledModel):  # type: ignore[no-untyped-def]
    return setup_for(flexnet.parameters, model_path=FLEXNET, outputs=flexnet.outputs,
                     game_period=5.0)


def test_a_slider_per_lever_and_region_descriptor_with_the_declared_range(
        flexnet: CompiledModel, setup) -> None:  # type: ignore[no-untyped-def]
    expected = [*flexnet.parameters.of_kind("lever").values(),
                *flexnet.parameters.of_kind("region").values()]
    assert [s.name for s in setup.sliders] == [p.name for p in expected]
    for slider, parameter in zip(setup.sliders, expected, strict=True):
        assert (slider.lower, slider.upper, slider.units) == (
            parameter.lower, parameter.upper, parameter.units)
        assert slider.lower <= slider.start <= slider.upper
    # opens on the base push in the first region preset (typical), not flexnet's no-push default
    starts = setup.start_values()
    assert starts["push_amount"] == 300_000 and starts["push_duration"] == 3.5
    assert starts["community_entrepreneur_density"] == 0.2
    assert set(setup.presets) == {"typical", "embedded_prone", "externally_networked"}
    assert [o.variable for o in setup.outcomes][:2] == ["Total Members", "Embeddedness"]


@pytest.mark.parametrize(("span", "step"), [(2_000_000, 20_000), (1, 0.01), (0.5, 0.005),
                                            (30, 0.5), (990, 10), (0, 1)])
def test_nice_step(span: float, step: float) -> None:
    assert nice_step(span) == step


def test_every_start_value_lies_on_its_slider_grid(setup) -> None:  # type: ignore[no-untyped-def]
    """A browser snaps a range input to its step grid: a start value off the grid would be
    changed silently (flexnet's fee of 500 became 600 with a step of 200)."""
    for slider in setup.sliders:
        units = (slider.start - slider.lower) / slider.step
        assert units == pytest.approx(round(units), abs=1e-9), slider.name
    fee = next(s for s in setup.sliders if s.name == "membership_fee")
    assert (fee.start, fee.step) == (500.0, 100.0)


@pytest.mark.parametrize(("start", "lower", "upper", "step"), [
    (500.0, 0.0, 20_000.0, 100.0), (300_000.0, 0.0, 2_000_000.0, 20_000.0),
    (0.15, 0.0, 0.5, 0.005), (150.0, 10.0, 1_000.0, 10.0), (1 / 3, 0.0, 1.0, 0.01),
])
def test_the_step_goes_down_to_a_round_step_through_the_start(
        start: float, lower: float, upper: float, step: float) -> None:
    assert step_through(start, lower, upper) == step


def test_one_run_is_the_engine_run(flexnet: CompiledModel, setup) -> None:  # type: ignore[no-untyped-def]
    values = setup.start_values() | {"push_amount": 500_000}
    run = run_once(flexnet, setup, values)
    direct = flexnet.simulate(values, n_runs=1, final_time=30, time_step=0.125,
                              variables=["Total Members"])
    assert run.ok
    np.testing.assert_array_equal(run.series["Total Members"], direct.outputs["Total Members"][0])
    assert setup.push_period(values) == (2.0, 5.5, 5.5)
    assert setup.push_period(values | {"push_amount": 0}) is None


def test_fan_quantiles_are_ordered_and_bracket_the_median(flexnet: CompiledModel,
                                                          setup) -> None:  # type: ignore[no-untyped-def]
    worlds = load_worlds(FLEXNET, flexnet.parameters, n=20, seed=1)
    # flexnet ships its history-matched sets beside the model: the fan is drawn over them
    assert worlds.n == 20 and "non-implausible parameter sets from nonimplausible.csv" in (
        worlds.source)
    fan = run_fan(flexnet, setup, setup.start_values(), worlds)
    bands = fan.bands["Total Members"]
    assert bands.shape == (5, len(fan.times))
    assert (np.diff(bands, axis=0) >= 0).all()
    assert bands[4, -1] > bands[0, -1]  # the worlds differ: the fan has a width


def test_nonimplausible_csv_beside_the_model_gives_the_worlds(tmp_path: Path,
                                                              flexnet: CompiledModel) -> None:
    model = tmp_path / "flexnet.mdl"
    shutil.copy(FLEXNET, model)
    (tmp_path / NONIMPLAUSIBLE_FILE).write_text(
        "run,Word of Mouth Rate,trust_build_rate\n0,0.2,0.3\n1,0.5,0.4\n2,0.3,0.25\n",
        encoding="utf-8")
    worlds = load_worlds(model, flexnet.parameters, n=2, seed=1)
    assert worlds.source == "2 non-implausible parameter sets from nonimplausible.csv"
    np.testing.assert_array_equal(worlds.values["word_of_mouth_rate"], [0.2, 0.3])
    np.testing.assert_array_equal(worlds.values["trust_build_rate"], [0.3, 0.25])
    (tmp_path / NONIMPLAUSIBLE_FILE).write_text("word_of_mouth_rate\n0.2\n0.9\n",
                                                encoding="utf-8")
    with pytest.raises(ExperimentError, match=r"nonimplausible.csv: line 3: value 0.9 for "
                       r"'word_of_mouth_rate' is outside its declared range \[0.1, 0.6\]"):
        load_worlds(model, flexnet.parameters, n=10, seed=1)
    (tmp_path / NONIMPLAUSIBLE_FILE).write_text("word_of_mouth_rate\nlots\n", encoding="utf-8")
    with pytest.raises(ExperimentError, match="line 2, column 'word_of_mouth_rate': 'lots' is "
                       "not a number"):
        load_worlds(model, flexnet.parameters, n=10, seed=1)


def test_a_game_of_constant_decisions_equals_one_continuous_run(
        flexnet: CompiledModel, setup) -> None:  # type: ignore[no-untyped-def]
    """Restarting from the state at every decision point changes nothing (every stock is an
    INTEG): a grant in the first two periods equals one push from year 0 for 10 years."""
    base = setup.start_values()
    game = Game(flexnet, setup, base)
    assert setup.game.decision_times == (0.0, 5.0, 10.0, 15.0)
    for amount in (400_000, 400_000, 0, 0):
        game.step({"push_amount": amount})
    assert game.finished and game.year == 30
    continuous = run_once(flexnet, setup, base | {"push_amount": 400_000, "push_start": 0,
                                                  "push_duration": 10, "push_taper": 0})
    np.testing.assert_array_equal(game.times, continuous.times)
    for name in ("Total Members", "Public Push Grant", "Cumulative Public Spending"):
        np.testing.assert_allclose(game.series[name], continuous.series[name], rtol=1e-12,
                                   atol=1e-9, err_msg=name)
    assert game.series["Cumulative Public Spending"][-1] == pytest.approx(4_000_000)
    with pytest.raises(ValueError, match="the game is over"):
        game.step({"push_amount": 0})


def test_scores_follow_the_rules_in_the_same_worlds(flexnet: CompiledModel,
                                                    setup) -> None:  # type: ignore[no-untyped-def]
    worlds = load_worlds(FLEXNET, flexnet.parameters, n=12, seed=3)
    base = setup.start_values() | {"community_entrepreneur_density": 0.8}
    rules = setup.game
    start = {k: base[k] for k in rules.levers}
    policies = reference_policies(rules, start)
    assert "none" in policies and len(policies) == 1 + 5 * 3  # 1, 2 or all 4 periods
    chosen = {name: policies[name] for name in ("none", "$300k/Year for 10 Year")}
    results = score_policies(flexnet, setup, {k: v for k, v in base.items()
                                              if k not in rules.levers}, chosen, worlds)
    # recompute the pushed policy's numbers from its own runs, world by world
    values = {**base, **{k: np.asarray(v) for k, v in worlds.values.items()}}
    _times, outputs = play(flexnet, setup, values, [chosen["$300k/Year for 10 Year"][1]],
                           n_runs_each=worlds.n, variables=["Total Members",
                                                            "Cumulative Public Spending"])
    members = outputs["Total Members"][:, -1]
    sustained = float(np.mean(members >= 0.05 * 150))
    pushed = results[1]
    assert pushed.sustained == pytest.approx(sustained)
    assert pushed.cost == pytest.approx(3_000_000)
    assert pushed.score == pytest.approx(100 * sustained - 5 * 3.0)
    assert pushed.outcome == pytest.approx(members.mean())
    assert results[0].cost == 0 and results[0].score == 100 * results[0].sustained


def test_a_card_names_title_outcomes_and_presets(tmp_path: Path,
                                                 flexnet: CompiledModel) -> None:
    card = tmp_path / "card.toml"
    card.write_text("""
[model]
title = "Networks of small firms"
charts = ["Total Members"]
[[presets]]
name = "Embedded Prone"
values = { community_entrepreneur_density = 0.8 }
""", encoding="utf-8")
    setup = setup_for(flexnet.parameters, model_path=FLEXNET, outputs=flexnet.outputs,
                      card=card)
    assert setup.title == "Networks of small firms: flight simulator"
    assert [(o.variable, o.label, o.units) for o in setup.outcomes] == [
        ("Total Members", "Total Members", "firm")]
    assert dict(setup.presets) == {"embedded_prone": {"community_entrepreneur_density": 0.8}}
    # no push schedule and no [game] on this card: no game, no push period
    assert setup.game is None and setup.push_period({"push_amount": 1.0}) is None
    card.write_text('[model]\ncharts = ["Total Membrs"]\n', encoding="utf-8")
    with pytest.raises(UnknownVariableError, match=r"'Total Membrs' of .*card\.toml; did you "
                       r"mean 'Total Members'"):
        setup_for(flexnet.parameters, model_path=FLEXNET, outputs=flexnet.outputs, card=card)
    with pytest.raises(CardError, match="model card not found"):
        setup_for(flexnet.parameters, model_path=FLEXNET, outputs=flexnet.outputs,
                  card=tmp_path / "missing.toml")
    card.write_text("[model\n", encoding="utf-8")
    with pytest.raises(CardError, match=r"card\.toml.*not valid TOML"):
        setup_for(flexnet.parameters, model_path=FLEXNET, outputs=flexnet.outputs, card=card)


def test_the_game_charts_and_words_come_from_the_card(
        tmp_path: Path, flexnet: CompiledModel, setup) -> None:  # type: ignore[no-untyped-def]
    """flexnet's card names what its game charts (the grant included) and its words; a card
    whose [game] charts name a variable the model lacks is refused, naming file and key."""
    assert [c.variable for c in setup.game.charts] == [
        "Total Members", "Embeddedness", "Public Push Grant", "Cumulative Public Spending"]
    page = setup.to_dict()
    assert page["words"]["preset"] == "region" and page["time_unit"] == "Year"
    assert page["game"]["charts"][2] == {"variable": "Public Push Grant",
                                         "label": "Public Push Grant", "units": "$/Year"}
    card = tmp_path / "flexnet.toml"
    text = (FLEXNET.with_suffix(".toml")).read_text(encoding="utf-8")
    line = 'charts = ["Total Members", "Embeddedness", "Public Push Grant", "Cumulative'
    assert text.count(line) == 1  # the [game] charts
    card.write_text(text.replace(line, line.replace("Push ", "")), encoding="utf-8")
    with pytest.raises(CardError) as caught:
        setup_for(flexnet.parameters, model_path=FLEXNET, outputs=flexnet.outputs, card=card)
    assert str(caught.value).startswith(f"{card}: [game.charts] the model has no output "
                                        "'Public Grant' to chart in the game")
    card.write_text(text.replace(line, line.replace('"Total Members"', "3")), encoding="utf-8")
    with pytest.raises(CardError, match=r"\[game\.charts\] must be a list of variable names"):
        setup_for(flexnet.parameters, model_path=FLEXNET, outputs=flexnet.outputs, card=card)
