"""PRIM recovers a planted box in synthetic data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sdnet.errors import InvalidValueError
from sdnet.sensitivity import prim


def _planted(n: int = 4000, seed: int = 11) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.uniform(0.0, 1.0, size=(n, 4)), columns=["a", "b", "c", "d"])
    y = ((x["a"] > 0.6) & (x["b"] < 0.3)).to_numpy()
    return x, y


def test_prim_recovers_a_planted_box() -> None:
    x, y = _planted()
    result = prim(x, y, alpha=0.05)
    box = result.to_frame().set_index("factor")
    assert sorted(box.index) == ["a", "b"]
    assert abs(box.loc["a", "lower"] - 0.6) < 0.02
    assert abs(box.loc["b", "upper"] - 0.3) < 0.02
    # the box of a noiseless planted rule is pure and holds most cases of interest
    assert result.density[result.chosen] == 1.0
    assert result.coverage[result.chosen] > 0.9
    assert (result.box_density, result.box_coverage) == (
        result.density[result.chosen], result.coverage[result.chosen])


def test_pruning_drops_restrictions_on_noise_factors() -> None:
    rng = np.random.default_rng(5)
    x = pd.DataFrame(rng.uniform(size=(600, 12)), columns=[f"f{i}" for i in range(12)])
    # the rule holds 80% of the time inside the planted box, 5% outside it
    inside = (x["f0"] > 0.5) & (x["f1"] > 0.5)
    y = np.where(inside, rng.uniform(size=600) < 0.8, rng.uniform(size=600) < 0.05)
    result = prim(x, y)
    unpruned = result.box(result.chosen)
    assert len(unpruned) > 2  # peeling on noise restricts other factors a little
    assert sorted(result.to_frame()["factor"]) == ["f0", "f1"]
    assert result.box_density <= result.density[result.chosen]
    assert result.box_coverage >= result.coverage[result.chosen]
    # the box's own numbers, recomputed from the data (not the chosen step's)
    box = result.to_frame()
    inside = np.ones(len(x), dtype=bool)
    for row in box.itertuples():
        inside &= (x[row.factor] >= row.lower).to_numpy() & (x[row.factor] <= row.upper).to_numpy()
    assert result.box_coverage == pytest.approx((y & inside).sum() / y.sum())
    assert result.box_density == pytest.approx((y & inside).sum() / inside.sum())
    assert result.box_mass == pytest.approx(inside.mean())
    assert result.box_mass > result.mass[result.chosen]


def test_trajectory_trades_coverage_for_density() -> None:
    x, y = _planted()
    result = prim(x, y)
    trajectory = result.trajectory()
    assert list(trajectory.columns) == ["step", "coverage", "density", "mass", "n_restricted",
                                        "chosen"]
    assert trajectory.index[trajectory["chosen"]].tolist() == [result.chosen]
    assert trajectory["coverage"].iloc[0] == 1.0
    assert trajectory["density"].iloc[0] == pytest.approx(y.mean())
    assert trajectory["mass"].iloc[0] == 1.0
    assert np.all(np.diff(trajectory["mass"]) < 0)
    assert np.all(np.diff(trajectory["coverage"]) <= 0)
    # each peel removes about alpha of the box's runs
    np.testing.assert_allclose(trajectory["mass"].iloc[1], 0.95, atol=1e-3)


def test_min_mass_stops_peeling() -> None:
    rng = np.random.default_rng(3)
    x = rng.uniform(size=(1000, 2))
    y = rng.uniform(size=1000) < 0.3  # no structure: peeling runs until min_mass
    result = prim(x, y, min_mass=0.2)
    assert result.mass[-1] >= 0.2
    assert result.names == ("x0", "x1")


def test_ties_are_peeled_by_value() -> None:
    # a factor on a 3-level grid: quantile peels would remove nothing, so a level is peeled
    x = np.repeat([[0.0], [1.0], [2.0]], 100, axis=0)
    y = x[:, 0] == 2.0
    result = prim(x, y, names=["level"])
    assert result.box().to_dict("records") == [{"factor": "level", "lower": 2.0, "upper": 2.0}]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"y": np.zeros(10)}, "invalid value for 'y': 'no cases of interest' (expected at "
         "least one True value to find a box around)"),
        ({"y": np.full(10, 0.5)}, "invalid value for 'y': 'array of shape (10,)' (expected "
         "10 values, each True/False or 1/0)"),
        ({"y": np.ones(10), "alpha": 0.6}, "invalid value for 'alpha': 0.6 (expected a "
         "number in (0, 0.5))"),
    ],
)
def test_prim_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidValueError) as info:
        prim(np.zeros((10, 2)), **kwargs)
    assert str(info.value) == message
