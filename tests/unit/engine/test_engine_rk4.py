"""Fourth-order Runge-Kutta converges at fourth order on models with analytic solutions; Euler
at first order (the same check shows both integrators are what they claim to be)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DATA

from sdnet.engine import compile_model

STEPS = {
    "rk4": [0.25, 0.125, 0.0625, 0.03125],
    # Euler's error is first order only once the step is small against the oscillation period
    "euler": [2.0**-7, 2.0**-8, 2.0**-9, 2.0**-10],
}


def observed_orders(errors: list[float]) -> np.ndarray:
    """log2 of the error ratio between successive halvings of the time step."""
    errors_array = np.asarray(errors)
    return np.log2(errors_array[:-1] / errors_array[1:])


def decay_errors(method: str) -> list[float]:
    model = compile_model(DATA / "decay.mdl")
    rates = np.array([0.5, 1.0, 1.5])
    errors = []
    for dt in STEPS[method]:
        sim = model.simulate({"decay_rate": rates}, n_runs=3, time_step=dt, method=method)
        exact = np.exp(-rates[:, None] * sim.times[None, :])
        errors.append(float(np.max(np.abs(sim.outputs["Level"] - exact))))
    return errors


def oscillator_errors(method: str) -> list[float]:
    model = compile_model(DATA / "oscillator.mdl")
    omega = np.array([0.5, 1.0, 2.0])
    errors = []
    for dt in STEPS[method]:
        sim = model.simulate({"angular_frequency": omega}, n_runs=3, time_step=dt, method=method)
        phase = omega[:, None] * sim.times[None, :]
        position_error = np.abs(sim.outputs["Position"] - np.cos(phase))
        velocity_error = np.abs(sim.outputs["Velocity"] + omega[:, None] * np.sin(phase))
        errors.append(float(max(position_error.max(), velocity_error.max())))
    return errors


@pytest.mark.parametrize("errors", [decay_errors, oscillator_errors], ids=["decay", "oscillator"])
def test_rk4_converges_at_fourth_order(errors) -> None:
    orders = observed_orders(errors("rk4"))
    assert np.all(np.abs(orders - 4) < 0.25), orders


@pytest.mark.parametrize("errors", [decay_errors, oscillator_errors], ids=["decay", "oscillator"])
def test_euler_converges_at_first_order(errors) -> None:
    orders = observed_orders(errors("euler"))
    assert np.all(np.abs(orders - 1) < 0.25), orders


def test_rk4_is_far_more_accurate_than_euler_at_the_same_step() -> None:
    model = compile_model(DATA / "decay.mdl")
    exact = np.exp(-0.5 * np.arange(5.0))
    errors = {}
    for method in ("euler", "rk4"):
        level = model.simulate({}, n_runs=1, method=method).outputs["Level"][0]
        errors[method] = np.abs(level - exact).max()
    assert errors["rk4"] < errors["euler"] / 100
