"""The engine against PySD, run by run, on a model using every supported construct; the inputs'
validation; non-finite runs; restarting from a state; choosing outputs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import DATA

from sdnet.engine import Simulation, compile_model
from sdnet.errors import (
    EngineInputError,
    InvalidValueError,
    SimulationError,
    UnknownVariableError,
)

KITCHEN = DATA / "kitchen.mdl"
DECAY = DATA / "decay.mdl"


def max_relative_difference(ours: np.ndarray, theirs: np.ndarray) -> float:
    scale = np.maximum(np.abs(theirs), 1e-12)
    return float(np.max(np.abs(ours - theirs) / scale))


def test_every_construct_matches_pysd_run_by_run(pysd_runner) -> None:
    model = compile_model(KITCHEN)
    rng = np.random.default_rng(7)
    varied = [p for p in model.parameters.values() if p.kind != "control" and p.bounded]
    n_runs = 4
    values = {p.name: rng.uniform(p.lower, p.upper, n_runs) for p in varied}
    sim = model.simulate(values, n_runs=n_runs)
    run_pysd = pysd_runner(KITCHEN)
    for run in range(n_runs):
        frame = run_pysd({name: float(v[run]) for name, v in values.items()})
        np.testing.assert_array_equal(sim.times, frame.index.to_numpy(dtype=float))
        assert set(frame.columns) == set(sim.outputs)
        for column in frame.columns:
            theirs = frame[column].to_numpy(dtype=float)
            assert max_relative_difference(sim.outputs[column][run], theirs) <= 1e-12, column
    assert sim.ok.all() and sim.failures == []


def test_result_is_a_frozen_simulation() -> None:
    sim = compile_model(DECAY).simulate({}, n_runs=2)
    assert isinstance(sim, Simulation)
    with pytest.raises(AttributeError):
        sim.ok = None  # type: ignore[misc]
    assert sim.outputs["Level"].shape == (2, 5)
    np.testing.assert_array_equal(sim.status, sim.ok)
    assert sim.units["Level"] == "widget"


def test_scalars_and_arrays_mix_and_both_spellings_work() -> None:
    model = compile_model(DECAY)
    a = model.simulate({"Decay Rate": [0.1, 0.2], "initial_level": 3.0}, n_runs=2)
    b = model.simulate({"decay_rate": np.array([0.1, 0.2]), "Initial Level": [3.0, 3.0]}, n_runs=2)
    np.testing.assert_array_equal(a.outputs["Level"], b.outputs["Level"])
    single = model.simulate({"decay_rate": 0.2, "initial_level": 3.0}, n_runs=1)
    np.testing.assert_array_equal(a.outputs["Level"][1], single.outputs["Level"][0])


def test_subscripted_constants_take_per_run_arrays(pysd_runner) -> None:
    model = compile_model(KITCHEN)
    base = np.array([[10.0, 20.0, 30.0], [5.0, 25.0, 40.0]])
    sim = model.simulate({"Base Demand": base}, n_runs=2, variables=["Total Stock"])
    default = model.simulate({}, n_runs=1, variables=["Total Stock"])
    np.testing.assert_array_equal(sim.outputs["Total Stock"][0], default.outputs["Total Stock"][0])
    assert sim.outputs["Total Stock"][1, 0] == pytest.approx(2 * base[1].sum())


def test_only_requested_variables_are_kept() -> None:
    model = compile_model(KITCHEN)
    sim = model.simulate({}, n_runs=2, variables=["Stock[South,Tools]", "total_stock", "TIME STEP"])
    assert list(sim.outputs) == ["Stock[South,Tools]", "Total Stock", "TIME STEP"]  # as asked
    full = model.simulate({}, n_runs=2)
    for column in sim.outputs:
        np.testing.assert_array_equal(sim.outputs[column], full.outputs[column])


def test_outputs_list_every_column_with_units() -> None:
    model = compile_model(KITCHEN)
    assert model.outputs["Stock[North,Food]"] == "unit"
    assert model.outputs["Coastal Stock[Tools]"] == "unit"
    assert "Price Table" not in model.outputs
    # INTEG, and variables defined by one SMOOTH, DELAY or TREND (as the PySD facade counts)
    assert model.stocks == (
        "Stock",
        "Outflow",
        "Perceived Price",
        "Perceived Price 3",
        "Smoothed Total",
        "Delayed N",
        "Smoothed N",
        "Stock Trend",
    )


def test_a_non_finite_run_is_marked_and_the_others_kept() -> None:
    model = compile_model(DECAY)
    sim = model.simulate({"decay_rate": [0.5, -1e200, 0.25]}, n_runs=3, final_time=4)
    assert sim.ok.tolist() == [True, False, True]
    assert len(sim.failures) == 1
    run, variable, time = sim.failures[0]
    assert (run, variable) == (1, "Level")
    level = sim.outputs["Level"][1]
    assert np.isfinite(level[sim.times < time]).all()
    assert not np.isfinite(level[sim.times == time]).all()
    alone = model.simulate({"decay_rate": [0.5, 0.25]}, n_runs=2, final_time=4)
    np.testing.assert_array_equal(sim.outputs["Level"][[0, 2]], alone.outputs["Level"])


def test_restarting_from_a_saved_state_continues_the_run() -> None:
    # in decay.mdl the stock is the whole state, so the restarted run is the same run
    decay = compile_model(DECAY)
    whole = decay.simulate({"decay_rate": [0.5, 1.0]}, n_runs=2)
    later = decay.simulate(
        {"decay_rate": [0.5, 1.0]},
        n_runs=2,
        initial_state={"Level": whole.outputs["Level"][:, 2]},
        initial_time=2.0,
    )
    np.testing.assert_array_equal(later.times, whole.times[2:])
    np.testing.assert_allclose(later.outputs["Level"], whole.outputs["Level"][:, 2:], rtol=1e-14)


def test_a_subscripted_stock_restarts_from_a_full_array() -> None:
    model = compile_model(KITCHEN)
    full = model.simulate({}, n_runs=1, variables=["Stock"])
    at = int(np.flatnonzero(full.times == 4.0)[0])
    stock = np.array(
        [[full.outputs[f"Stock[{r},{g}]"][0, at] for g in ("Food", "Tools")]
         for r in ("North", "South", "East")]
    )
    restarted = model.simulate(
        {}, n_runs=1, variables=["Stock"], initial_state={"Stock": stock[None]}, initial_time=4.0
    )
    assert restarted.times[0] == 4.0
    assert restarted.outputs["Stock[East,Food]"][0, 0] == stock[2, 0]
    assert restarted.outputs["Stock[North,Tools]"][0, 0] == stock[0, 1]


def test_a_state_object_or_per_element_values_restart_a_run() -> None:
    from sdnet.results import State

    model = compile_model(KITCHEN)
    whole = model.simulate({}, n_runs=1, variables=["Stock"])
    at = int(np.flatnonzero(whole.times == 4.0)[0])
    elements = {
        f"{r},{g}": whole.outputs[f"Stock[{r},{g}]"][0, at]
        for r in ("North", "South", "East")
        for g in ("Food", "Tools")
    }
    from_state = model.simulate(
        {}, n_runs=1, variables=["Stock"], initial_state=State(4.0, {"Stock": elements})
    )
    assert from_state.times[0] == 4.0
    for key, value in elements.items():
        assert from_state.outputs[f"Stock[{key}]"][0, 0] == value
    elements.pop("East,Tools")
    with pytest.raises(EngineInputError) as info:
        model.simulate({}, n_runs=1, initial_state={"Stock": elements}, initial_time=4.0)
    assert str(info.value) == "initial_state['Stock'] has no value for element [East,Tools]"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"values": {"decay_rat": 1.0}},
            UnknownVariableError,
            "unknown parameter 'decay_rat' of decay.mdl; did you mean 'decay_rate', 'Decay Rate'?",
        ),
        (
            {"values": {"decay_rate": [0.1, 0.2, 0.3]}},
            EngineInputError,
            "'decay_rate' has 3 values but n_runs is 2",
        ),
        (
            {"values": {"decay_rate": [0.1, np.nan]}},
            InvalidValueError,
            "invalid value for 'decay_rate': nan (expected finite numbers (run 1 is not))",
        ),
        (
            {"values": {"decay_rate": [np.inf, 0.1]}},
            InvalidValueError,
            "invalid value for 'decay_rate': inf (expected finite numbers (run 0 is not))",
        ),
        (
            {"values": {"decay_rate": "fast"}},
            InvalidValueError,
            "invalid value for 'decay_rate': 'fast' (expected numbers)",
        ),
        (
            {"values": {"decay_rate": True}},
            InvalidValueError,
            "invalid value for 'decay_rate': True (expected numbers)",
        ),
        (
            {"values": {"decay_rate": [[0.1], [0.2]]}},
            EngineInputError,
            "'decay_rate' has shape (2, 1); expected a number or (2,)",
        ),
        (
            {"values": {"Decay Rate": 0.1, "decay_rate": 0.2}},
            EngineInputError,
            "'decay_rate' and 'Decay Rate' name the same parameter",
        ),
        (
            {"values": {"TIME STEP": 0.5}},
            EngineInputError,
            "'TIME STEP' is a control variable: pass it as the time_step= option of simulate(), "
            "not in values",
        ),
        ({"time_step": 0.0}, EngineInputError, "time_step must be positive, not 0.0"),
        ({"time_step": -1}, EngineInputError, "time_step must be positive, not -1.0"),
        (
            {"time_step": float("nan")},
            InvalidValueError,
            "invalid value for 'time_step': nan (expected a finite number)",
        ),
        ({"saveper": 0.0}, EngineInputError, "saveper must be positive, not 0.0"),
        (
            {"final_time": -1},
            EngineInputError,
            "final_time (-1.0) must be after the initial time (0.0)",
        ),
        (
            {"method": "rk45"},
            EngineInputError,
            "unknown integration method 'rk45'; valid methods: euler, rk4",
        ),
        (
            {"variables": ["Levl"]},
            UnknownVariableError,
            "unknown output variable 'Levl' of decay.mdl; did you mean 'Level'?",
        ),
        (
            {"initial_state": {"Decay Rate": 1.0}},
            EngineInputError,
            "'Decay Rate' is not a stock; initial_state takes stocks: Level",
        ),
    ],
)
def test_bad_input_is_a_clear_error(kwargs, error, message) -> None:
    model = compile_model(DECAY)
    kwargs = {"n_runs": 2, **kwargs}
    with pytest.raises(error) as info:
        model.simulate(**kwargs)
    assert str(info.value) == message


def test_delay_order_must_fit_the_time_step_and_smooth_n_order_the_ensemble() -> None:
    model = compile_model(KITCHEN)
    with pytest.raises(SimulationError) as info:
        model.simulate({"shipping_delay": [3.0, 0.25]}, n_runs=2)
    assert str(info.value) == (
        "a delay time (0.25) is shorter than order x time step (3 x 0.125); PySD would lower "
        "the order of each run's delay (here to [2, 3]), and the vectorized engine can only "
        "when every run lowers it alike and to at least 1: use a smaller time step"
    )
    # every run lowering it alike (to 2 stages) runs, as PySD does
    lowered = model.simulate({"shipping_delay": [0.25, 0.25]}, n_runs=2)
    assert lowered.ok.all()
    with pytest.raises(SimulationError) as info:
        model.simulate({"smooth_order": [2.0, 3.0]}, n_runs=2)
    assert str(info.value) == (
        "the order of a SMOOTH N or DELAY N differs between runs; the vectorized engine needs "
        "one order for the whole ensemble"
    )


def test_rk4_is_refused_for_a_delay_n_with_a_changing_delay_time() -> None:
    with pytest.raises(EngineInputError) as info:
        compile_model(KITCHEN).simulate({}, n_runs=1, method="rk4")
    assert str(info.value) == (
        "this model has a DELAY N whose delay time changes during the run; it is defined step "
        "by step (as in PySD) and can only be integrated with Euler"
    )


@pytest.mark.parametrize("n_runs", [0, -3, 2.5, True])
def test_n_runs_must_be_a_positive_integer(n_runs) -> None:
    with pytest.raises(EngineInputError) as info:
        compile_model(DECAY).simulate({}, n_runs=n_runs)
    assert str(info.value) == f"n_runs must be a positive integer, not {n_runs!r}"


def test_large_ensembles_run_in_blocks_with_the_same_results() -> None:
    model = compile_model(KITCHEN)
    rng = np.random.default_rng(3)
    values = {"growth_rate": rng.uniform(0, 0.2, 50), "adjustment_time": rng.uniform(0.5, 5, 50)}
    whole = model.simulate(values, n_runs=50, variables=["Stock Trend", "Perceived Price 3"])
    model.block_size = 7
    try:
        blocked = model.simulate(values, n_runs=50, variables=["Stock Trend", "Perceived Price 3"])
    finally:
        model.block_size = 8192
    for column, array in whole.outputs.items():
        np.testing.assert_array_equal(blocked.outputs[column], array)


@pytest.mark.parametrize(
    ("name", "method"),
    [("kitchen.mdl", "euler"), ("oscillator.mdl", "rk4"), ("restart.mdl", "rk4")],
)
def test_one_run_equals_the_same_run_in_an_ensemble(name: str, method: str) -> None:
    # one run computes with numpy scalars (fast for notebook sliders), an ensemble with arrays
    model = compile_model(DATA / name)
    rng = np.random.default_rng(11)
    varied = [p for p in model.parameters.values() if p.kind != "control" and p.bounded]
    values = {p.name: rng.uniform(p.lower, p.upper, 3) for p in varied}
    ensemble = model.simulate(values, n_runs=3, method=method)
    for run in range(3):
        single = model.simulate(
            {name: float(v[run]) for name, v in values.items()}, n_runs=1, method=method
        )
        for column, array in ensemble.outputs.items():
            assert single.outputs[column].shape == (1, len(ensemble.times))
            np.testing.assert_array_equal(single.outputs[column][0], array[run], err_msg=column)


def test_a_non_finite_single_run_is_reported() -> None:
    sim = compile_model(DECAY).simulate({"decay_rate": -1e200}, n_runs=1, final_time=4)
    assert sim.ok.tolist() == [False]
    assert [(run, variable) for run, variable, _ in sim.failures] == [(0, "Level")]


def test_smooth_and_trend_stocks_restart_exactly_from_their_values() -> None:
    model = compile_model(DATA / "restart.mdl")
    assert model.stocks == ("Level", "Smoothed Level", "Level Trend", "Delayed Level")
    whole = model.simulate({}, n_runs=1)
    at = 3
    state = {name: whole.outputs[name][:, at] for name in model.stocks if name != "Delayed Level"}
    later = model.simulate({}, n_runs=1, initial_state=state, initial_time=float(at))
    for name in ("Level", "Smoothed Level", "Level Trend", "Smoothed Trend"):
        np.testing.assert_allclose(
            later.outputs[name][0], whole.outputs[name][0, at:], rtol=1e-12, err_msg=name
        )
    # a third-order delay restarts in steady state at its value (as PySD does)
    delayed = model.simulate(
        {}, n_runs=1, initial_state={"Delayed Level": 2.5}, initial_time=float(at)
    )
    assert delayed.outputs["Delayed Level"][0, 0] == 2.5


def test_delay_fixed_forecast_time_value_lowered_delays_and_macros_match_pysd(
    pysd_runner,
) -> None:
    """DELAY FIXED (its pipe length per run), FORECAST, GET TIME VALUE, a DELAY3 whose order
    PySD lowers to fit the time step, and a macro with a stock called twice: engine = PySD,
    run by run, with the delay and averaging times varied."""
    path = DATA / "pipeline.mdl"
    model = compile_model(path)
    values = {"shipping_delay": np.array([0.3, 1.0, 2.1, 3.9]),
              "averaging_time": np.array([1.0, 2.5, 4.0, 6.0])}
    sim = model.simulate(values, n_runs=4)
    with warnings.catch_warnings():  # PySD says when it rounds or lowers an order
        warnings.filterwarnings("ignore", "(?s).*[Cc]asting delay order", UserWarning)
        run_pysd = pysd_runner(path)
        frames = [run_pysd({name: float(v[run]) for name, v in values.items()})
                  for run in range(4)]
    for run, frame in enumerate(frames):
        for column in ("Shipments", "Forecast Orders", "Next Month", "Quick Transit",
                       "Shipped", "Ordered"):
            np.testing.assert_array_equal(sim.outputs[column][run],
                                          frame[column].to_numpy(dtype=float), column)
    # the pipe holds the orders of round(delay / dt) steps ago: 0.3 -> 1 step, 3.9 -> 16
    orders = 10 + 2 * sim.times
    assert sim.outputs["Shipments"][0][2] == orders[2] - 2 * 0.25
    # each call of the macro keeps its own stock
    assert sim.outputs["Ordered"][0][0] == 5 and sim.outputs["Shipped"][0][0] == 0
    # a single run (numpy scalars) equals the same run in the ensemble
    one = model.simulate({k: float(v[3]) for k, v in values.items()}, n_runs=1)
    np.testing.assert_array_equal(one.outputs["Shipments"][0], sim.outputs["Shipments"][3])

