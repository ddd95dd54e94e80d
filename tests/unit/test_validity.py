"""The validity battery: it passes on flexnet and catches each defect it is meant to catch."""

from __future__ import annotations

from pathlib import Path

import pytest

import sdnet
from sdnet.cli import main
from sdnet.validity import CHECKS, check_model

ROOT = Path(__file__).resolve().parents[2]
FLEXNET = ROOT / "models" / "flexnet" / "flexnet.mdl"

_CONTROL = (
    "FINAL TIME = 10\n\t~\tYear\n\t~\t\n\t|\n\n"
    "INITIAL TIME = 0\n\t~\tYear\n\t~\t\n\t|\n\n"
    "SAVEPER = 1\n\t~\tYear [0,?]\n\t~\t\n\t|\n\n"
    "TIME STEP = 0.25\n\t~\tYear [0,?]\n\t~\t\n\t|\n\n"
)


def _write(tmp_path: Path, name: str, equations: str) -> sdnet.Model:
    path = tmp_path / f"{name}.mdl"
    path.write_text("{UTF-8}\n" + equations + _CONTROL)
    return sdnet.load_model(path)


def _bathtub(*, flow_units: str = "litre/Year", rate_default: str = "0.1",
             stock_units: str = "litre [0,?]") -> str:
    return (
        f"Water= INTEG (Inflow - Outflow, 100)\n\t~\t{stock_units}\n\t~\tWater in the tub.\n\t|\n\n"
        f"Inflow= 5\n\t~\t{flow_units}\n\t~\tTap.\n\t|\n\n"
        f"Outflow= Water * Drain Rate\n\t~\tlitre/Year\n\t~\tDrain.\n\t|\n\n"
        f"Drain Rate= {rate_default}\n\t~\t1/Year [0,1]\n\t~\t"
        "[uncertain] Share drained a year.\n\t|\n\n"
    )


@pytest.fixture(scope="module")
def flexnet_report() -> sdnet.validity.ValidityReport:
    return check_model(sdnet.load_model(FLEXNET))


def test_flexnet_passes_every_check(flexnet_report: sdnet.validity.ValidityReport) -> None:
    failed = {c.name: c.detail for c in flexnet_report.checks if c.passed is not True}
    assert failed == {}
    assert [c.name for c in flexnet_report.checks] == list(CHECKS)


def test_flexnet_integration_and_knockout_details_carry_numbers(
    flexnet_report: sdnet.validity.ValidityReport,
) -> None:
    assert "Total Members" in flexnet_report["integration_error"].detail
    assert "with Sponsor Recruitment Rate = 0" in flexnet_report["loop_knockout"].detail


def test_a_well_formed_bathtub_passes_and_flexnet_checks_say_not_applicable(
    tmp_path: Path,
) -> None:
    report = check_model(_write(tmp_path, "tub", _bathtub()))
    statuses = report.to_frame()["status"].to_dict()
    assert statuses == {
        "units_declared": "pass",
        "flow_units": "pass",
        "defaults_in_range": "pass",
        "finite_and_bounded": "pass",
        "conserved": "n/a",
        "extreme_conditions": "n/a",
        "integration_error": "pass",
        "loop_knockout": "n/a",
    }
    assert report.passed


def test_a_flow_in_the_wrong_units_fails_the_units_check(tmp_path: Path) -> None:
    model = _write(tmp_path, "tub", _bathtub(flow_units="litre"))
    report = check_model(model, checks=["flow_units"])
    check = report["flow_units"]
    assert check.passed is False
    assert check.detail == "Inflow is in litre, but Water needs litre/year"


def test_a_default_outside_its_range_fails(tmp_path: Path) -> None:
    report = check_model(
        _write(tmp_path, "tub", _bathtub(rate_default="1.5")), checks=["defaults_in_range"]
    )
    assert report["defaults_in_range"].passed is False
    assert report["defaults_in_range"].detail == "Drain Rate=1.5 not in [0.0, 1.0]"
    assert not report.passed


def test_a_stock_leaving_its_bounds_fails(tmp_path: Path) -> None:
    report = check_model(
        _write(tmp_path, "tub", _bathtub(stock_units="litre [0,50]")), checks=["finite_and_bounded"]
    )
    assert report["finite_and_bounded"].passed is False
    assert report["finite_and_bounded"].detail.startswith("default: Water rises to 100 above 50")


def test_a_coarse_time_step_fails_the_integration_check(tmp_path: Path) -> None:
    equations = _bathtub(rate_default="0.9").replace("0.25\n", "1\n")
    model = _write(tmp_path, "tub", equations)
    report = check_model(model, checks=["integration_error"])
    assert report["integration_error"].passed is False


def test_sdnet_check_prints_a_table_and_sets_the_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.mdl"
    good.write_text("{UTF-8}\n" + _bathtub() + _CONTROL)
    assert main(["check", str(good)]) == 0
    out = capsys.readouterr().out
    assert "  pass  flow_units" in out
    assert "  n/a   loop_knockout" in out
    assert out.rstrip().endswith("all applicable checks pass")
    bad = tmp_path / "bad.mdl"
    bad.write_text("{UTF-8}\n" + _bathtub(flow_units="litre") + _CONTROL)
    assert main(["check", str(bad), "--only", "flow_units"]) == 1
    assert capsys.readouterr().out.rstrip().endswith("FAILED: flow_units")


def test_sdnet_check_unknown_check_name_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.mdl"
    good.write_text("{UTF-8}\n" + _bathtub() + _CONTROL)
    assert main(["check", str(good), "--only", "flow_unit"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "sdnet check: error: unknown check 'flow_unit'; did you mean 'flow_units'?\n"
    )



def test_robust_check_needs_the_cards_robust_table(network: sdnet.Model,
                                                   tmp_path: Path) -> None:
    """The robust check reads what the card's [robust] names: without one it says so, and a
    role naming an output the model lacks is named by card file and key, before any run."""
    import dataclasses

    import pandas as pd

    from sdnet.card import load_card
    from sdnet.errors import CardError
    from sdnet.robustness import robust_check

    with pytest.raises(CardError) as caught:
        robust_check(network, pd.DataFrame(index=range(2)))
    assert str(caught.value).startswith(f"{network.card.path}: [robust] sdnet check --robust "
                                        "runs the behaviour tests a model card's [robust] "
                                        "table names, and its card tiny_network.toml has no")
    flexnet = load_card(Path(__file__).resolve().parents[2] / "models" / "flexnet"
                        / "flexnet.toml")
    network.card = dataclasses.replace(network.card, robust=flexnet.robust)
    try:
        with pytest.raises(CardError, match=r"\[robust\.variables\.value_a\] the model has "
                           r"no output 'Perceived Value\[Micro\]'"):
            robust_check(network, pd.DataFrame(index=range(2)))
    finally:
        network.card = dataclasses.replace(network.card, robust=None)


# ------------------------------------------------------------- the card's own checks

_TUB_CARD = """
[[presets]]
name = "fast"
values = { "Drain Rate" = 0.5 }

[[outcomes]]
name = "water_at_end"
variable = "Water"
reducer = "final"

[checks]
invariants = ["Water >= 0", "Water <= Capacity"]

[[checks.conserved]]
name = "water"
parts = ["Water"]
total = "Capacity"

[[checks.extreme]]
name = "no drain"
preset = "fast"
set = { "Drain Rate" = 0 }

[[checks.extreme]]
name = "huge drain"
set = { "Drain Rate" = "1 * upper" }
expect = ["Water <= 100"]

[[checks.knockout]]
name = "drain"
plain = "without the drain the tub stays full"
set = { "Drain Rate" = 0 }
outcome = "water_at_end"
threshold = 99
"""

_CAPACITY = "Capacity= 100\n\t~\tlitre\n\t~\tThe tub's size.\n\t|\n\n"


def _tub_with_card(tmp_path: Path, card: str, *, rate: str = "0.1") -> sdnet.Model:
    (tmp_path / "tub.toml").write_text(card, encoding="utf-8")
    return _write(tmp_path, "tub", _bathtub(rate_default=rate) + _CAPACITY)


def test_the_cards_checks_run_on_any_model_and_catch_what_they_check(tmp_path: Path) -> None:
    model = _tub_with_card(tmp_path, _TUB_CARD)
    report = check_model(model, checks=["conserved", "extreme_conditions", "loop_knockout"])
    # Water is not conserved (the tap fills, the drain empties): the law fails with its numbers
    conserved = report["conserved"]
    assert conserved.passed is False and "water: largest relative imbalance" in conserved.detail
    # with no drain the tap overfills the tub past its capacity: the invariant names the value
    extreme = report["extreme_conditions"]
    assert extreme.passed is False
    water = model.run({"Drain Rate": 0}, variables=["Water"])["Water"].to_numpy()
    assert f"no drain: Water <= Capacity fails (Water reaches {water.max():.3g})" in (
        extreme.detail)
    assert "huge drain" not in extreme.detail  # 1 x upper (1/Year) keeps the tub in bounds
    # the knockout reads the card's outcome with and without the drain
    knockout = report["loop_knockout"]
    cut = model.run({"Drain Rate": 0}, variables=["Water"])["Water"].iloc[-1]
    intact = model.run(variables=["Water"])["Water"].iloc[-1]
    assert knockout.passed is False  # intact < 99: the behaviour was never there
    assert f"water_at_end {intact:.2f} with the loop, {cut:.2f} with Drain Rate = 0" in (
        knockout.detail)


def test_a_card_check_naming_a_missing_stock_is_a_clear_failure(tmp_path: Path) -> None:
    card = _TUB_CARD.replace('name = "no drain"', 'name = "no drain"\ninitial = { Sand = 1 }')
    report = check_model(_tub_with_card(tmp_path, card), checks=["extreme_conditions"])
    assert report["extreme_conditions"].passed is False
    assert "no drain: run failed" in report["extreme_conditions"].detail
    assert "'Sand'" in report["extreme_conditions"].detail


@pytest.mark.parametrize(("card", "message"), [
    ('[checks]\ninvariants = ["Water >> 1"]',
     r"checks\.invariants\[0\].*neither a number nor formed\(CONSTANT\) nor a variable"),
    ('[[checks.extreme]]\nname = "x"\nset = { a = "lots" }',
     r"checks\.extreme\[0\]\.set\.a.*'F \* upper'"),
    ('[[checks.knockout]]\nname = "x"\nset = { a = 0 }\noutcome = "nope"\nthreshold = 1',
     r"checks\.knockout\[0\]\.outcome.*unknown outcome 'nope'"),
    ('[[checks.extreme]]\nname = "x"\npreset = "slow"', r"unknown preset 'slow'"),
    ("[game]\noutcome = 'A'", r"game\.population.*\[game\] needs population"),
    ("[model]\nsliders = [{ name = 'A', lower = 2, upper = 1 }]", r"model\.sliders\[0\]"),
])
def test_card_checks_are_validated(tmp_path: Path, card: str, message: str) -> None:
    from sdnet.card import load_card
    from sdnet.errors import CardError

    path = tmp_path / "c.toml"
    path.write_text(card, encoding="utf-8")
    with pytest.raises(CardError, match=message):
        load_card(path)
