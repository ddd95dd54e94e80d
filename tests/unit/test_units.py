import pytest

from sdnet.errors import SdnetError
from sdnet.units import DIMENSIONLESS, UnitsError, parse_units


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("$/firm/Year", "$/(firm*Year)"),
        ("firm/Year", "firm*Year^-1"),
        ("1/Year", "Year^-1"),
        ("Dmnl", ""),
        ("dmnl", "1"),
        ("Degrees Fahrenheit/Minute", "degrees  fahrenheit / minute"),
    ],
)
def test_equal_spellings_parse_to_equal_units(left: str, right: str) -> None:
    assert parse_units(left) == parse_units(right)


def test_flow_units_are_stock_units_per_time() -> None:
    stock = parse_units("$")
    flow = parse_units("$/Year")
    assert flow * parse_units("Year") == stock
    assert stock / parse_units("Year") == flow
    assert parse_units("firm/Year") != flow


def test_dimensionless_and_str() -> None:
    assert parse_units("Dmnl") == DIMENSIONLESS
    assert str(parse_units("$/(firm*Year)")) == "$/(firm*year)"
    assert str(DIMENSIONLESS) == "dmnl"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("firm/(Year", "cannot read units 'firm/(Year': missing ')'"),
        ("2*firm", "cannot read units '2*firm': a number other than 1 (2) is not a unit"),
        ("firm^x", "cannot read units 'firm^x': an exponent must be an integer"),
        ("firm/", "cannot read units 'firm/': expression ends too early"),
    ],
)
def test_bad_units_raise_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(UnitsError) as caught:
        parse_units(text)
    assert str(caught.value) == message
    assert isinstance(caught.value, SdnetError)
    assert isinstance(caught.value, ValueError)
