"""The integration check compares metrics across time steps and methods."""

from __future__ import annotations

import numpy as np
import pytest

from sdnet.errors import IntegrationWarning
from sdnet.sensitivity import integration_check, relative_change


def _decay(dt: float, method: str) -> np.ndarray:
    """y' = -k y from 1 to t = 5 for three rates k (1/Year), Euler or RK4."""
    k = np.array([0.1, 0.5, 1.0])
    y = np.ones(3)
    for _ in range(round(5 / dt)):
        if method == "euler":
            y = y + dt * (-k * y)
        else:
            k1 = -k * y
            k2 = -k * (y + dt / 2 * k1)
            k3 = -k * (y + dt / 2 * k2)
            k4 = -k * (y + dt * k3)
            y = y + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return y


def test_small_step_passes_and_large_step_warns() -> None:
    fine = {"y": _decay(1 / 256, "euler")}
    result = integration_check(fine, half_dt={"y": _decay(1 / 512, "euler")},
                               rk4={"y": _decay(1 / 256, "rk4")})
    assert result.ok.all()
    assert result.max_change_rk4[0] == pytest.approx(
        relative_change(fine["y"], _decay(1 / 256, "rk4")))
    coarse = {"y": _decay(0.25, "euler")}
    with pytest.warns(IntegrationWarning, match=r"more than 1% .*: y \("):
        result = integration_check(coarse, half_dt={"y": _decay(0.125, "euler")},
                                   rk4={"y": _decay(0.25, "rk4")})
    assert not result.ok.any()
    assert list(result.to_frame().columns) == ["metric", "max_change_half_dt",
                                               "max_change_rk4", "ok"]


def test_relative_change_is_scaled_by_the_largest_value() -> None:
    assert relative_change(np.array([0.0, 10.0]), np.array([0.5, 10.0])) == 0.05
    assert relative_change(np.zeros(2), np.zeros(2)) == 0.0
    assert relative_change(np.zeros(2), np.ones(2)) == np.inf
