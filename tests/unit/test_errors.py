"""Every bad input gets a clear SdnetError whose one-line message is pinned here."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sdnet.errors import (
    InvalidValueError,
    MissingParameterError,
    ModelNotFoundError,
    ModelParseError,
    NotAParameterError,
    OutOfRangeError,
    PushScheduleError,
    SdnetError,
    UnknownPresetError,
    UnknownVariableError,
)
from sdnet.model import Model, load_model
from sdnet.numerics import NumericalWarning
from sdnet.policy import Push
from sdnet.results import State

BASE_PUSH = Push(amount=300_000, start=2, duration=3.5)  # flexnet's card's base push

DATA = Path(__file__).resolve().parent.parent / "data"


def test_unknown_variable_with_close_matches(bathtub: Model) -> None:
    with pytest.raises(UnknownVariableError) as caught:
        bathtub.run(variables=["Watr in Tub"])
    assert str(caught.value) == (
        "unknown variable 'Watr in Tub' of bathtub.mdl; did you mean 'Water in Tub'?"
    )
    assert caught.value.matches == ["Water in Tub"]
    assert isinstance(caught.value, KeyError)


def test_unknown_subscript_element(network: Model) -> None:
    with pytest.raises(UnknownVariableError) as caught:
        network.run(variables=["Members[Mikro]"])
    assert str(caught.value) == (
        "unknown variable element 'Members[Mikro]' of tiny_network.mdl; did you mean "
        "'Members[Micro]'?"
    )


def test_unknown_parameter_with_close_matches(bathtub: Model) -> None:
    with pytest.raises(UnknownVariableError) as caught:
        bathtub.run({"faucet_flw": 3.0})
    assert str(caught.value) == (
        "unknown parameter 'faucet_flw' of bathtub.mdl; did you mean 'faucet_flow'?"
    )


def test_value_outside_declared_range(bathtub: Model) -> None:
    with pytest.raises(OutOfRangeError) as caught:
        bathtub.run({"Faucet Flow": 50})
    assert str(caught.value) == (
        "value 50.0 for 'faucet_flow' is outside its declared range [0, 20] "
        "(pass check_ranges=False to run extreme conditions on purpose)"
    )
    assert (caught.value.lower, caught.value.upper) == (0.0, 20.0)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "invalid value for 'faucet_flow': 'abc' (expected a finite number)"),
        (float("nan"), "invalid value for 'faucet_flow': nan (expected a finite number)"),
        (float("inf"), "invalid value for 'faucet_flow': inf (expected a finite number)"),
        (None, "invalid value for 'faucet_flow': None (expected a finite number)"),
    ],
)
def test_non_numeric_and_non_finite_values(bathtub: Model, value: object, message: str) -> None:
    with pytest.raises(InvalidValueError) as caught:
        bathtub.run({"faucet_flow": value})
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


def test_missing_model_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.mdl"
    with pytest.raises(ModelNotFoundError) as caught:
        load_model(path)
    assert str(caught.value) == (
        f"model file not found: {path} (give the path of a Vensim .mdl file)"
    )
    assert isinstance(caught.value, FileNotFoundError)


def test_malformed_model_names_file_and_line(tmp_path: Path, cache: Path) -> None:
    source = tmp_path / "malformed.mdl"
    shutil.copyfile(DATA / "malformed.mdl", source)
    bad_line = 1 + next(
        i for i, line in enumerate(source.read_text().splitlines()) if "/ /" in line
    )
    with pytest.raises(ModelParseError) as caught:
        load_model(source)
    assert caught.value.line == bad_line
    assert str(caught.value) == (
        f"cannot read model {source}, line {bad_line}: PySD cannot parse the equation "
        "'Water in Tub / / Drain Time' at '/ / Drain Time'"
    )
    assert caught.value.__cause__ is not None  # PySD's own error is chained
    assert sorted(p.name for p in tmp_path.iterdir()) == ["malformed.mdl"]


def test_undefined_name_in_an_equation(cache: Path) -> None:
    source = DATA / "undefined_name.mdl"
    use_line = 1 + next(
        i for i, line in enumerate(source.read_text().splitlines()) if "Drainage Time" in line
    )
    with pytest.raises(ModelParseError) as caught:
        load_model(source)
    assert str(caught.value) == (
        f"cannot read model {source}, line {use_line}: 'drainage_time' is used in an equation "
        "but never defined"
    )


def test_empty_model_file(tmp_path: Path, cache: Path) -> None:
    source = tmp_path / "empty.mdl"
    source.write_text("{UTF-8}\n")
    with pytest.raises(ModelParseError) as caught:
        load_model(source)
    assert str(caught.value) == f"cannot read model {source}: the file holds no model equations"


def test_unknown_region_preset(network: Model) -> None:
    with pytest.raises(UnknownPresetError) as caught:
        network.run(region="mountain")
    assert str(caught.value) == (
        "unknown region preset 'mountain'; valid presets: embedded_prone, "
        "externally_networked, typical"
    )


def test_region_and_push_on_a_model_without_a_card(bathtub: Model) -> None:
    # presets and push schedules come from a model's card; bathtub has none
    with pytest.raises(UnknownPresetError) as caught:
        bathtub.run(region="typical")
    assert str(caught.value) == (
        "unknown preset 'typical'; valid presets: none (the model's card defines no "
        "[[presets]])"
    )
    with pytest.raises(PushScheduleError) as caught_push:
        bathtub.run(push=BASE_PUSH)
    assert str(caught_push.value) == (
        "a push needs a push schedule, and it has no model card, so no [[schedules]] entry "
        'of kind "push" naming the constants a push sets (model bathtub.mdl)'
    )


def test_a_card_naming_constants_the_model_lacks(bathtub: Model, tmp_path: Path) -> None:
    card = tmp_path / "card.toml"
    card.write_text('[[schedules]]\nname = "push"\nparameters = { amount = "Push Amount", '
                    'start = "Push Start", duration = "Push Duration" }\n'
                    '[[presets]]\nname = "full"\nvalues = { "Faucet Flow" = 5, "Rain" = 1 }\n',
                    encoding="utf-8")
    model = load_model(bathtub.path, card=card)
    with pytest.raises(MissingParameterError) as caught:
        model.run(region="full")
    assert str(caught.value) == (
        "preset 'full' needs parameters that model bathtub.mdl does not have: rain")
    with pytest.raises(MissingParameterError) as caught_push:
        model.run(push=BASE_PUSH)
    assert str(caught_push.value) == (
        "a push schedule needs parameters that model bathtub.mdl does not have: "
        "push_amount, push_start, push_duration")


def test_push_with_negative_duration() -> None:
    with pytest.raises(PushScheduleError) as caught:
        Push(amount=300_000, start=2, duration=-1)
    assert str(caught.value) == "push duration must not be negative (got -1)"


def test_push_starting_after_the_horizon(network: Model) -> None:
    with pytest.raises(PushScheduleError) as caught:
        network.run(push=Push(amount=300_000, start=12, duration=3), final_time=10)
    assert str(caught.value) == "push start 12 is after the end of the run (final time 10)"
    assert caught.value.field == "start"


def test_push_must_be_a_push(network: Model) -> None:
    with pytest.raises(PushScheduleError) as caught:
        network.run(push={"amount": 1})  # type: ignore[arg-type]
    assert str(caught.value) == "push must be a sdnet.Push, not dict"


def test_stock_in_params_is_refused(bathtub: Model, network: Model) -> None:
    with pytest.raises(NotAParameterError) as caught:
        bathtub.run({"Water in Tub": 10.0})
    assert str(caught.value) == (
        "'Water in Tub' is a stock of the model, not a parameter; to start from other stock "
        "values pass initial_state= (e.g. result.state_at(10))"
    )
    with pytest.raises(NotAParameterError):
        network.run({"members": 3.0})


def test_computed_variable_in_params_is_refused(bathtub: Model) -> None:
    with pytest.raises(NotAParameterError) as caught:
        bathtub.run({"outflow": 1.0})
    assert str(caught.value) == (
        "'outflow' is a flow of the model, not a parameter; it is computed from other variables"
    )


def test_params_must_be_a_mapping(bathtub: Model) -> None:
    with pytest.raises(InvalidValueError) as caught:
        bathtub.run([("faucet_flow", 1.0)])  # type: ignore[arg-type]
    assert str(caught.value) == (
        "invalid value for 'params': [('faucet_flow', 1.0)] (expected a mapping of names to "
        "numbers)"
    )


def test_incomplete_or_foreign_initial_state(bathtub: Model) -> None:
    with pytest.raises(InvalidValueError) as caught:
        bathtub.run(initial_state=State(time=3, values={"Water in Tub": 10.0}))
    assert str(caught.value) == (
        "invalid value for 'initial_state': '<State at time 3>' (expected a value for every "
        "stock; missing: Smoothed Level)"
    )
    with pytest.raises(NotAParameterError) as caught_kind:
        bathtub.run(initial_state=State(time=3, values={"Outflow": 1.0}))
    assert str(caught_kind.value) == (
        "'Outflow' is a flow of the model, not a parameter; an initial state holds stocks only"
    )
    with pytest.raises(InvalidValueError) as caught_type:
        bathtub.run(initial_state={"Water in Tub": 1.0})  # type: ignore[arg-type]
    assert str(caught_type.value) == (
        "invalid value for 'initial_state': {'Water in Tub': 1.0} (expected a State, e.g. "
        "result.state_at(10))"
    )


def test_initial_state_outside_a_stocks_range(network: Model) -> None:
    state = network.run(final_time=2).state_at(1.0)
    values = {**state.values, "Trust": 1.5}
    with pytest.raises(OutOfRangeError) as caught:
        network.run(initial_state=State(time=1.0, values=values))
    assert str(caught.value) == (
        "value 1.5 for 'Trust' is outside its declared range [0, 1] (pass check_ranges=False "
        "to run extreme conditions on purpose)"
    )
    members = dict(state.values["Members"])
    members["Micro"] = -1.0
    with pytest.raises(OutOfRangeError) as caught_element:
        network.run(initial_state=State(time=1.0, values={**state.values, "Members": members}))
    assert str(caught_element.value).startswith("value -1.0 for 'Members[Micro]' is outside")
    # on purpose, but the numerical guard still says the stock is outside its range
    with pytest.warns(NumericalWarning, match=r"Trust reaches 1.5, above its declared maximum 1"):
        extreme = network.run(
            initial_state=State(time=1.0, values=values), check_ranges=False, final_time=2
        )
    assert extreme["Trust"].iloc[0] == 1.5
    assert extreme.flags[0].startswith("Trust reaches 1.5, above its declared maximum 1")


def test_nan_in_initial_state(bathtub: Model) -> None:
    with pytest.raises(InvalidValueError) as caught:
        bathtub.run(
            initial_state=State(time=3, values={"Water in Tub": float("nan"),
                                                "Smoothed Level": 1.0})
        )
    assert str(caught.value) == "invalid value for 'Water in Tub': nan (expected a finite number)"


def test_bad_time_controls(bathtub: Model) -> None:
    with pytest.raises(InvalidValueError) as caught:
        bathtub.run(time_step=0)
    assert str(caught.value) == "invalid value for 'time_step': 0.0 (expected a positive number)"
    with pytest.raises(InvalidValueError) as caught_final:
        bathtub.run(final_time=-1)
    assert str(caught_final.value) == (
        "invalid value for 'final_time': -1.0 (expected a time after the start of the run (0))"
    )
    with pytest.raises(InvalidValueError) as caught_nan:
        bathtub.run(saveper=float("nan"))
    assert str(caught_nan.value) == "invalid value for 'saveper': nan (expected a finite number)"


@pytest.mark.parametrize(("time_step", "saveper"), [(0.5, 0.25), (0.25, 0.3)])
def test_saveper_must_be_a_multiple_of_the_time_step(
    bathtub: Model, time_step: float, saveper: float
) -> None:
    with pytest.raises(InvalidValueError) as caught:
        bathtub.run(time_step=time_step, saveper=saveper)
    assert str(caught.value) == (
        f"invalid value for 'saveper': {saveper!r} (expected a whole multiple of the time step "
        f"({time_step:g}))"
    )


def test_every_error_is_an_sdnet_error() -> None:
    for error in (
        InvalidValueError, MissingParameterError, ModelNotFoundError, ModelParseError,
        NotAParameterError, OutOfRangeError, PushScheduleError, UnknownPresetError,
        UnknownVariableError,
    ):
        assert issubclass(error, SdnetError)


def test_untranslatable_constant_names_the_line_and_the_variable(
    tmp_path: Path, cache: Path
) -> None:
    lines = (DATA / "bathtub.mdl").read_text().splitlines()
    value_line = 1 + next(i for i, line in enumerate(lines) if line.startswith("Faucet Flow="))
    lines[value_line] = "\t5 5"  # two numbers where one constant is expected
    source = tmp_path / "two_numbers.mdl"
    source.write_text("\n".join(lines) + "\n")
    with pytest.raises(ModelParseError) as caught:
        load_model(source)
    assert caught.value.line == value_line + 1
    assert str(caught.value).startswith(
        f"cannot read model {source}, line {value_line + 1}: PySD cannot translate '5 5' in "
        "the equation of 'Faucet Flow' ("
    )


def test_unknown_function_is_refused_at_load_with_line_and_variable(
    tmp_path: Path, cache: Path
) -> None:
    lines = (DATA / "bathtub.mdl").read_text().splitlines()
    value_line = 1 + next(i for i, line in enumerate(lines) if line.startswith("Faucet Flow="))
    lines[value_line] = "\tFOOBAR(5)"
    source = tmp_path / "unknown_function.mdl"
    source.write_text("\n".join(lines) + "\n")
    with pytest.raises(ModelParseError) as caught:
        load_model(source)
    assert str(caught.value) == (
        f"cannot read model {source}, line {value_line + 1}: PySD does not implement the "
        "function FOOBAR in the equation of 'Faucet Flow'"
    )
