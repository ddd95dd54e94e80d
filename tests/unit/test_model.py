"""The model facade: cached translation, parameters from the file, runs that never mutate."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sdnet.errors import SdnetWarning
from sdnet.model import Model, load_model
from sdnet.policy import Push, region_values
from sdnet.results import RunResult

BASE_PUSH = Push(amount=300_000, start=2, duration=3.5)  # flexnet's card's base push

DATA = Path(__file__).resolve().parent.parent / "data"
FLEXNET = Path(__file__).resolve().parents[2] / "models" / "flexnet" / "flexnet.mdl"


def _file_value(path: Path, vensim_name: str) -> float:
    """The number written as a constant's equation in the model file."""
    match = re.search(rf"^{re.escape(vensim_name)}\s*=\s*([-0-9.e+]+)", path.read_text(), re.M)
    assert match is not None, vensim_name
    return float(match.group(1))


def test_translation_is_cached_never_beside_the_model(tmp_path: Path, cache: Path) -> None:
    source = tmp_path / "bathtub.mdl"
    shutil.copyfile(DATA / "bathtub.mdl", source)
    model = load_model(source)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bathtub.mdl"]
    translated = list((cache / "models").glob(f"{model.sha256[:24]}-*-bathtub-*/model.py"))
    assert len(translated) == 1
    stamp = translated[0].stat().st_mtime_ns
    again = load_model(source)
    assert again.sha256 == model.sha256
    assert translated[0].stat().st_mtime_ns == stamp  # reused, not translated again


def test_parameters_come_from_the_file(bathtub: Model) -> None:
    table = bathtub.parameters
    faucet = table["Faucet Flow"]
    assert faucet is table["faucet_flow"]
    assert faucet.kind == "lever"
    assert faucet.units == "litre/Minute"
    assert (faucet.lower, faucet.upper) == (0.0, 20.0)
    assert faucet.default == _file_value(DATA / "bathtub.mdl", "Faucet Flow")
    assert faucet.description == "How far the faucet is open."
    assert table["drain_time"].kind == "uncertain"
    assert table["initial_water"].kind == "constant"
    assert {p.name for p in table.of_kind("control").values()} == {
        "initial_time", "final_time", "time_step", "saveper",
    }
    assert table["saveper"].default == _file_value(DATA / "bathtub.mdl", "SAVEPER")
    # stocks and computed variables are not parameters
    assert "water_in_tub" not in table
    assert "outflow" not in table


def test_variables_table_kinds(bathtub: Model, network: Model) -> None:
    kinds = bathtub.variables["kind"].to_dict()
    assert kinds["water_in_tub"] == "stock"
    assert kinds["smoothed_level"] == "stock"  # a first-order SMOOTH is a stock
    assert kinds["inflow"] == kinds["outflow"] == "flow"
    assert kinds["faucet_flow"] == "constant"
    assert kinds["time_step"] == "control"
    assert bathtub.variables.loc["outflow", "units"] == "litre/Minute"
    assert bathtub.stocks == ("Smoothed Level", "Water in Tub")
    net = network.variables
    assert net.loc["members", "subscripts"] == ("Segment",)
    assert net.loc["joining", "kind"] == "flow"
    assert net.loc["total_members", "kind"] == "auxiliary"
    assert network.subscripts == {"Segment": ["Micro", "Established"]}
    assert network.key_variables == ("Members", "Total Members", "Trust", "Public Push Grant")
    assert bathtub.key_variables == bathtub.stocks


def test_loops_from_comments(bathtub: Model) -> None:
    loops = bathtub.loops
    assert loops.to_dict("records") == [
        {"loop": "B1", "name": "draining", "variables": ("Outflow",)}
    ]


def test_bathtub_matches_the_exact_euler_solution(bathtub: Model) -> None:
    result = bathtub.run()
    faucet = bathtub.parameters["faucet_flow"].default
    drain = bathtub.parameters["drain_time"].default
    water0 = bathtub.parameters["initial_water"].default
    dt = bathtub.parameters["time_step"].default
    steps = result.time / dt
    expected = faucet * drain + (water0 - faucet * drain) * (1 - dt / drain) ** steps
    np.testing.assert_allclose(result["Water in Tub"].to_numpy(), expected, rtol=1e-12)
    assert result.units["Water in Tub"] == "litre"


def test_runs_never_mutate(bathtub: Model) -> None:
    first = bathtub.run(variables="all")
    changed = bathtub.run({"faucet_flow": 12.0, "Drain Time": 2.0}, variables="all")
    after = bathtub.run(variables="all")
    pd.testing.assert_frame_equal(after.frame, first.frame)
    assert not np.allclose(changed["Water in Tub"], first["Water in Tub"])
    assert changed.params == {"faucet_flow": 12.0, "drain_time": 2.0}
    assert first.params == {}


def test_network_runs_never_mutate_with_region_and_push(network: Model) -> None:
    fresh = network.run()
    pushed = network.run(region="embedded-prone", push=BASE_PUSH)
    again = network.run()
    pd.testing.assert_frame_equal(again.frame, fresh.frame)
    assert pushed["Total Members"].iloc[-1] > fresh["Total Members"].iloc[-1]
    expected = {**region_values("embedded_prone", card=network.card),
                **BASE_PUSH.as_params(network.card)}
    assert pushed.params == expected
    grant = pushed["Public Push Grant"]
    during = (grant.index >= BASE_PUSH.start) & (grant.index < BASE_PUSH.end)
    assert np.all(grant[during] == BASE_PUSH.amount)
    assert np.all(grant[~during] == 0.0)


def test_explicit_params_win_over_region_and_push(network: Model) -> None:
    result = network.run(
        {"external_networking": 0.5, "push_amount": 1000.0},
        region="typical",
        push=BASE_PUSH,
        final_time=3,
    )
    assert result.params["external_networking"] == 0.5
    assert result.params["push_amount"] == 1000.0
    assert result.params["community_entrepreneur_density"] == 0.2


def test_restart_from_a_state_continues_the_run(bathtub: Model, network: Model) -> None:
    for model, options in ((bathtub, {}), (network, {"region": "typical", "push": BASE_PUSH})):
        whole = model.run(**options)
        middle = float(whole.time[len(whole.time) // 2])
        state = whole.state_at(middle)
        assert set(state.values) == set(model.stocks)
        rest = model.run(initial_state=state, **options)
        assert rest.time[0] == middle
        pd.testing.assert_frame_equal(rest.frame, whole.frame.loc[middle:], rtol=1e-12)


def test_state_from_one_run_starts_another_setting(network: Model) -> None:
    pushed = network.run(region="embedded_prone", push=BASE_PUSH)
    state = pushed.state_at(6.0)
    unpushed = network.run(initial_state=state, region="embedded_prone")
    assert unpushed.time[0] == 6.0
    np.testing.assert_allclose(
        unpushed.frame.iloc[0]["Members[Micro]"], pushed.frame.loc[6.0, "Members[Micro]"]
    )


def test_variables_option(bathtub: Model, network: Model) -> None:
    everything = bathtub.run(variables="all")
    assert set(everything.variables) == {
        "Water in Tub", "Inflow", "Outflow", "Smoothed Level", "Faucet Flow", "Drain Time",
        "Initial Water", "Smoothing Time",
    }
    some = bathtub.run(variables=["outflow", "Inflow"])
    assert some.variables == ["Outflow", "Inflow"]
    # the stocks are kept for state_at although not saved
    assert set(some.state_at(5.0).values) == {"Water in Tub", "Smoothed Level"}
    one = network.run(variables=["Members[Established]"], final_time=2)
    assert one.variables == ["Members[Established]"]
    assert network.run(variables=["members[ micro ]"], final_time=2).variables == [
        "Members[Micro]"
    ]
    whole = network.run(variables="members", final_time=2)
    assert whole.variables == ["Members[Micro]", "Members[Established]"]


def test_time_controls(bathtub: Model) -> None:
    result = bathtub.run(final_time=10, time_step=0.25, saveper=0.5)
    np.testing.assert_allclose(result.time, np.arange(0.0, 10.0 + 1e-9, 0.5))
    assert result.params == {"final_time": 10.0, "time_step": 0.25, "saveper": 0.5}
    assert result.provenance is not None
    assert result.provenance.spec["time_step"] == 0.25
    assert result.provenance.model_sha256 == bathtub.sha256


def test_control_constants_in_params(bathtub: Model) -> None:
    later = bathtub.run({"initial_time": 5, "FINAL TIME": 12})
    np.testing.assert_allclose(later.time, np.arange(5.0, 12.0 + 1e-9, 1.0))
    # the stocks start from their initial values at the new start
    assert later["Water in Tub"].iloc[0] == bathtub.run()["Water in Tub"].iloc[0]
    assert later.params == {"initial_time": 5.0, "final_time": 12.0}


def test_run_result_type_and_provenance(network: Model) -> None:
    result = network.run(region="typical", push=BASE_PUSH, final_time=4)
    assert isinstance(result, RunResult)
    spec = result.provenance.spec
    assert spec["region"] == "typical"
    assert spec["push"] == {"amount": 300000.0, "start": 2.0, "duration": 3.5, "taper": 0.0,
                            "match": 0.0}


def test_check_ranges_opt_out_runs_extremes(bathtub: Model) -> None:
    result = bathtub.run(
        {"faucet_flow": 1000.0}, check_ranges=False, final_time=2, variables=["Inflow"]
    )
    assert result["Inflow"].iloc[0] == 1000.0


def test_flexnet_typical_push_and_non_mutation(cache: Path) -> None:
    model = load_model(FLEXNET)
    horizon = BASE_PUSH.end + 2.0  # short, to keep PySD's subscripted run quick
    fresh = model.run(final_time=horizon)
    pushed = model.run(region="typical", push=BASE_PUSH, final_time=horizon)
    again = model.run(final_time=horizon)
    pd.testing.assert_frame_equal(again.frame, fresh.frame)
    assert set(model.key_variables) <= {split for split in pushed.units}
    assert pushed["Public Push Grant"].loc[BASE_PUSH.start + 1.0] == BASE_PUSH.amount
    grew = pushed["Total Members"].loc[BASE_PUSH.end] > pushed["Total Members"].iloc[0]
    assert grew
    assert {"Members[Micro]", "Members[Established]"} <= set(pushed.variables)
    push = Push(amount=0, start=0, duration=0)
    nothing = model.run(region="typical", push=push, final_time=horizon)
    assert nothing["Public Push Grant"].max() == 0.0


def test_flexnet_restart_from_the_state_when_the_push_ends(cache: Path) -> None:
    model = load_model(FLEXNET)
    horizon = BASE_PUSH.end + 3.0
    whole = model.run(region="typical", push=BASE_PUSH, final_time=horizon, variables="all")
    state = whole.state_at(BASE_PUSH.end)
    assert set(state.values) == set(model.stocks)
    rest = model.run(
        region="typical", push=BASE_PUSH, final_time=horizon, variables="all",
        initial_state=state,
    )
    pd.testing.assert_frame_equal(rest.frame, whole.frame.loc[BASE_PUSH.end :], rtol=1e-9)


def test_restart_warns_when_delay_levels_are_not_in_the_state(cache: Path) -> None:
    model = load_model(DATA / "delay_chain.mdl")
    assert model.stocks == ("Shipments", "Shipped")
    whole = model.run()
    with pytest.warns(SdnetWarning) as caught:
        rest = model.run(initial_state=whole.state_at(4.0))
    assert str(caught[0].message) == (
        "a restart from a state is approximate for Shipments: the hidden levels of a DELAY, "
        "TREND or higher-order SMOOTH are not in the state and restart in steady state"
    )
    # the restart holds the saved output, not the chain behind it, so it drifts
    assert rest["Shipments"].iloc[0] == whole["Shipments"].loc[4.0]
    assert not np.allclose(rest["Shipments"].to_numpy(), whole["Shipments"].loc[4.0:].to_numpy())


def test_runs_from_threads_do_not_interfere(bathtub: Model) -> None:
    from concurrent.futures import ThreadPoolExecutor

    flows = [1.0, 5.0, 10.0, 15.0]
    alone = {flow: bathtub.run({"faucet_flow": flow}).frame for flow in flows}
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda f: (f, bathtub.run({"faucet_flow": f}).frame), flows * 2))
    for flow, frame in together:
        pd.testing.assert_frame_equal(frame, alone[flow])


def test_restart_of_a_trend_is_flagged_approximate(cache: Path) -> None:
    # PySD keeps a TREND's average input as its state, not the trend value a State holds
    model = load_model(Path(__file__).parent / "engine" / "data" / "restart.mdl")
    trends = [s for s in model.stocks if "Trend" in s]
    assert trends
    whole = model.run()
    with pytest.warns(SdnetWarning) as caught:
        model.run(initial_state=whole.state_at(3.0))
    message = str(caught[0].message)
    assert message.startswith("a restart from a state is approximate for ")
    assert all(name in message for name in trends)


def test_a_damaged_cached_translation_is_translated_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SDNET_CACHE_DIR", str(tmp_path / "cache"))
    first = load_model(DATA / "bathtub.mdl")
    expected = first.run().frame
    first._py_file.write_text("garbage(\n")  # e.g. a disk that filled up mid-write
    second = load_model(DATA / "bathtub.mdl")
    pd.testing.assert_frame_equal(second.run().frame, expected)


def test_membership_of_a_variable_in_either_spelling(bathtub: Model) -> None:
    assert "Water in Tub" in bathtub and "water_in_tub" in bathtub
    assert "Watr in Tub" not in bathtub


# --------------------------------------------------------------------------- issue 11 (#5, #8)
_CONSTANTS = (DATA / "constants_only.mdl").read_text(encoding="utf-8")  # no stock


@pytest.mark.parametrize(
    ("text", "encoding", "message"),
    [
        (_CONSTANTS.replace("Output = Growth Rate * 2", "Output = Growth Rate * 2\n\t~\t1/Year"
                            "\n\t~\tfirst\n\t|\n\nOutput = Growth Rate * 3"), "utf-8",
         r"line 12: 'Output' is defined twice \(first on line 7\); keep one equation"),
        (_CONSTANTS.replace("Growth Rate", "Growth R\xe4te"), "latin-1",
         r"line 2: is not UTF-8 text \(byte 0xe4 in 'Growth R.te = 0.5'\); save the model as "
         r"UTF-8"),
        (_CONSTANTS.replace("[0,1]", "[1,0]"), "utf-8",
         r"'Growth Rate' declares the range \[1, 0\] in its units field, lower above upper "
         r"\(did you mean \[0, 1\]\?\)"),
    ],
)
def test_model_files_pysd_would_misread_are_refused(
    tmp_path: Path, cache: Path, text: str, encoding: str, message: str
) -> None:
    from sdnet.errors import ModelParseError

    path = tmp_path / "m.mdl"
    path.write_bytes(text.encode(encoding))
    with pytest.raises(ModelParseError, match=message):
        load_model(path)


def test_a_model_without_stocks_runs_on_both_engines(
    tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sdnet.cli import main

    path = tmp_path / "m.mdl"
    path.write_text(_CONSTANTS, encoding="utf-8")
    for engine in ("pysd", "vector"):
        assert main(["run", str(path), "--engine", engine, "--out", str(tmp_path / engine)]) == 0
        frame = pd.read_csv(tmp_path / engine / "run.csv", index_col="time")
        assert frame["Output"].tolist() == [1.0] * 11
    assert "Traceback" not in capsys.readouterr().err
