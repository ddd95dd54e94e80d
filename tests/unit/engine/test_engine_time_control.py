"""Control variables computed during the run (FINAL TIME of a stock, TIME STEP and SAVEPER of
Time, INITIAL TIME of Time) and a SAVEPER that is not a multiple of TIME STEP: the engine
saves the times PySD saves, with PySD's numbers."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import DATA

from sdnet.engine import compile_model
from sdnet.engine.model import pysd_save_times
from sdnet.errors import EngineInputError, SimulationError

TIME_CONTROL = DATA / "time_control.mdl"


@pytest.fixture(scope="module")
def translated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """PySD's translations of the two models (made once, in a temporary folder)."""
    import pysd

    folder = tmp_path_factory.mktemp("pysd-time-control")
    out = {}
    for model_file in (TIME_CONTROL, DATA / "decay.mdl"):
        copy = folder / model_file.name
        shutil.copy(model_file, copy)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pysd.read_vensim(str(copy))
        out[model_file.stem] = copy.with_suffix(".py")
    return out


def pysd_fresh_run(python_file: Path, **run: object) -> pd.DataFrame:
    """One run of a freshly loaded PySD model (PySD starts a second run of a model whose
    INITIAL TIME reads Time from where the first one ended)."""
    import pysd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pysd.load(str(python_file)).run(progress=False, **run)


def assert_same(sim_times, outputs, frame: pd.DataFrame, run: int = 0) -> None:
    np.testing.assert_array_equal(sim_times, frame.index.to_numpy(dtype=float))
    assert set(frame.columns) <= set(outputs)
    for column in frame.columns:
        np.testing.assert_array_equal(
            outputs[column][run], frame[column].to_numpy(dtype=float), column
        )


@pytest.mark.parametrize("growth", [0.2, 0.35])
def test_control_variables_of_time_and_state_match_pysd(
    translated: dict[str, Path], growth: float
) -> None:
    model = compile_model(TIME_CONTROL)
    sim = model.simulate({"growth": growth}, n_runs=1)
    frame = pysd_fresh_run(translated["time_control"], params={"growth": growth})
    assert_same(sim.times, sim.outputs, frame)
    # PySD starts at INITIAL TIME(INITIAL TIME(0)) = 0.5, steps by 0.5 then 0.25, saves every
    # step until 3 then yearly, and stops once Level > Limit
    assert sim.times[0] == 0.5 and sim.times[1] == 1.0
    ends = {0.2: 5.5, 0.35: 3.5}
    assert sim.times[-1] == ends[growth]
    assert sim.outputs["FINAL TIME"][0][0] == 20
    assert sim.ok.all()


def test_given_control_values_replace_their_equations_as_in_pysd(
    translated: dict[str, Path],
) -> None:
    model = compile_model(TIME_CONTROL)
    sim = model.simulate({}, n_runs=2, final_time=4.0, time_step=0.5)
    frame = pysd_fresh_run(translated["time_control"], final_time=4.0, time_step=0.5)
    assert_same(sim.times, sim.outputs, frame, run=1)
    np.testing.assert_array_equal(sim.times, [0.5, 1.0, 1.5, 2.0, 2.5, 3.5])


def test_parameters_give_the_control_values_at_the_start() -> None:
    parameters = compile_model(TIME_CONTROL).parameters
    starts = {name: parameters[name].default
              for name in ("initial_time", "final_time", "time_step", "saveper")}
    assert starts == {"initial_time": 0.5, "final_time": 20.0, "time_step": 0.5, "saveper": 0.5}


def test_runs_that_would_stop_at_different_times_are_refused() -> None:
    model = compile_model(TIME_CONTROL)
    with pytest.raises(SimulationError, match="FINAL TIME differs between the runs"):
        model.simulate({"growth": np.array([0.2, 0.35])}, n_runs=2)
    with pytest.raises(EngineInputError, match="only do with Euler"):
        model.simulate({}, n_runs=1, method="rk4")


def test_a_saveper_between_time_steps_saves_where_pysd_saves(translated: dict[str, Path]) -> None:
    """SAVEPER 0.3 with TIME STEP 0.25: PySD saves the steps within 1e-5 steps of a multiple
    of 0.3 (0, 1.5, 3), as the engine does."""
    decay = DATA / "decay.mdl"
    sim = compile_model(decay).simulate({}, n_runs=1, saveper=0.3)
    frame = pysd_fresh_run(translated["decay"], saveper=0.3)
    assert_same(sim.times, sim.outputs, frame)
    np.testing.assert_array_equal(sim.times, [0.0, 1.5, 3.0])
    # the runner lays out a model's own such SAVEPER with the same times
    np.testing.assert_array_equal(pysd_save_times(0.0, 4.0, 0.25, 0.3), sim.times)


def test_sdnet_runs_say_they_keep_the_start_values() -> None:
    """sdnet's runner fixes the control values for a run (its times are laid out before the
    run): a model that computes them during the run gets one warning naming their values."""
    from sdnet.errors import SdnetWarning
    from sdnet.model import load_model

    model = load_model(TIME_CONTROL)
    assert model.run_controls == {"initial_time", "final_time", "time_step", "saveper"}
    with pytest.warns(SdnetWarning, match=r"keep their values at the start \(INITIAL TIME 0.5, "
                      r"FINAL TIME 20, TIME STEP 0.5, SAVEPER 0.5\)"):
        assert model.default_control("final_time") == 20
    assert load_model(DATA / "decay.mdl").run_controls == frozenset()
