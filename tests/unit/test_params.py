"""The parameter table: kinds from comments, names as PySD spells them, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdnet.errors import InvalidValueError, OutOfRangeError, UnknownVariableError
from sdnet.model import Model, load_model
from sdnet.params import Parameter, ParameterTable, kind_from_comment, python_name

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Model:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SDNET_CACHE_DIR", str(tmp_path_factory.mktemp("sdnet-cache")))
        yield load_model(DATA / "tiny_network.mdl")


def test_python_name_matches_pysd_for_every_variable(network: Model) -> None:
    variables = network.variables
    for name, vensim in variables["vensim_name"].items():
        assert python_name(vensim) == name


@pytest.mark.parametrize(
    ("comment", "expected"),
    [
        ("[lever] Public grant per year.", ("lever", "Public grant per year.")),
        ("  [Region]   Firms in the region.", ("region", "Firms in the region.")),
        ("[uncertain] Word of mouth.", ("uncertain", "Word of mouth.")),
        ("Tagged late [lever].", ("constant", "Tagged late [lever].")),
        (None, ("constant", "")),
    ],
)
def test_kind_from_comment(comment: str | None, expected: tuple[str, str]) -> None:
    assert kind_from_comment(comment) == expected


def test_kinds_of_the_test_model(network: Model) -> None:
    table = network.parameters
    assert set(table.of_kind("lever")) == {
        "push_amount", "push_start", "push_duration", "push_taper", "local_match_requirement",
    }
    assert set(table.of_kind("region")) == {
        "number_of_firms", "micro_share", "community_entrepreneur_density", "external_networking",
    }
    assert table["trust_erosion_rate"].kind == "constant"
    assert table["final_time"].kind == "control"
    frame = table.to_frame()
    assert list(frame.columns) == [
        "vensim_name", "kind", "units", "lower", "upper", "default", "description",
    ]
    assert frame.loc["push_amount", "upper"] == table["push_amount"].upper


def test_resolve_accepts_either_spelling_and_checks(network: Model) -> None:
    table = network.parameters
    resolved = table.resolve({"Push Amount": 1000, "micro_share": 0.5})
    assert resolved == {"push_amount": 1000.0, "micro_share": 0.5}
    upper = table["micro_share"].upper
    with pytest.raises(OutOfRangeError):
        table.resolve({"micro_share": upper + 0.5})
    assert table.resolve({"micro_share": upper + 0.5}, check_ranges=False) == {
        "micro_share": upper + 0.5
    }
    with pytest.raises(InvalidValueError):
        table.resolve({"micro_share": True})
    with pytest.raises(UnknownVariableError) as caught:
        table["Micro Shares"]
    assert str(caught.value) == (
        "unknown parameter 'Micro Shares' of tiny_network.mdl; did you mean 'Micro Share'?"
    )


def test_defaults_are_the_files_values(network: Model) -> None:
    defaults = network.parameters.defaults()
    run = network.run(variables="all", final_time=1)
    for name, value in defaults.items():
        if network.parameters[name].kind == "control":
            continue
        assert run[name].iloc[0] == value


def test_parameter_is_frozen_and_bounded() -> None:
    parameter = Parameter("x", "X", "dmnl", 0.0, None, 0.5, "", "constant")
    assert not parameter.bounded
    with pytest.raises(AttributeError):
        parameter.default = 1.0  # type: ignore[misc]
    assert ParameterTable([parameter])["X"] is parameter
