"""ALLOCATE BY PRIORITY and ALLOCATE AVAILABLE on the engine against PySD's own functions
(``pysd.py_backend.allocation``), row by row and through a whole model run by run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pysd.py_backend.allocation import _allocate_available_1d, _allocate_by_priority_1d

from sdnet.engine import compile_model
from sdnet.engine.allocation import allocate_available, allocate_by_priority
from sdnet.errors import EngineInputError

MODEL = Path(__file__).resolve().parents[2] / "data" / "allocation.mdl"


def _requests(rng: np.random.Generator, rows: int, n: int) -> np.ndarray:
    return rng.choice([0.0, 0.5, 1.0, 2.0, 3.3, 7.0], (rows, n))


def test_by_priority_equals_pysd_bit_for_bit() -> None:
    rng = np.random.default_rng(12)
    for n in (1, 3, 5, 9):  # 9: numpy sums 8 and more elements pairwise
        req = _requests(rng, 60, n)
        pri = rng.choice([0.0, 1.0, 1.5, 2.0, 5.0, -2.0], (60, n))  # many ties
        pri[30:] += rng.normal(0, 0.3, (30, n))
        width = rng.uniform(0.2, 5, (60, 1))
        supply = rng.uniform(0, 1.2, (60, 1)) * req.sum(axis=1, keepdims=True)
        supply[::7] = 0
        ours = allocate_by_priority(req, pri, width, supply, 1, "x")
        theirs = [_allocate_by_priority_1d(req[i], pri[i], width[i, 0], supply[i, 0])
                  for i in range(60)]
        np.testing.assert_array_equal(ours, np.array(theirs, dtype=float))


def test_available_equals_pysd_within_its_solver_tolerance() -> None:
    """PySD finds the price with least_squares (tolerances 1e-8); the engine bisects to
    adjacent floats, so its shares add up to the supply where PySD's nearly do."""
    rng = np.random.default_rng(5)
    req = rng.choice([0.0, 100.0, 300.0, 500.0], (40, 3))
    pp = np.zeros((40, 3, 4))
    pp[..., 0] = np.tile([1, 3, 4], (40, 1))  # rectangular, normal, exponential
    pp[..., 1] = rng.uniform(0, 10, (40, 3))
    pp[..., 2] = rng.uniform(0.5, 5, (40, 3))
    avail = rng.uniform(0, 1.1, (40, 1)) * req.sum(axis=1, keepdims=True)
    ours = allocate_available(req, pp, avail, 1)
    theirs = np.array([_allocate_available_1d(req[i], pp[i], avail[i, 0]) for i in range(40)],
                      dtype=float)
    np.testing.assert_allclose(ours, theirs, rtol=1e-7, atol=1e-6)
    np.testing.assert_allclose(ours.sum(axis=1), np.minimum(avail[:, 0], req.sum(axis=1)),
                               rtol=1e-12)


def test_model_equals_pysd_run_by_run(pysd_runner) -> None:
    capacities = np.array([1.0, 4.0])
    sim = compile_model(MODEL).simulate({"capacity": capacities}, n_runs=2)
    run_pysd = pysd_runner(MODEL)
    for run, capacity in enumerate(capacities):
        frame = run_pysd({"capacity": float(capacity)})
        for column in frame.columns:
            ours, theirs = sim.outputs[column][run], frame[column].to_numpy(dtype=float)
            if column.startswith("Market Shares"):  # PySD's solver: see the test above
                np.testing.assert_allclose(ours, theirs, rtol=1e-7, atol=1e-6, err_msg=column)
            else:
                np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0, err_msg=column)
    # at first North, a full width above the others, takes the whole short supply; at the
    # largest capacity the supply covers every demand at the end
    assert sim.outputs["Shipments[North]"][0, 0] == 1.0
    assert sim.outputs["Shipments[South]"][0, 0] == sim.outputs["Shipments[East]"][0, 0] == 0
    assert sim.outputs["Shipments[South]"][1, -1] == sim.outputs["Market Shares[East]"][1, -1] == 2


def test_a_run_pysd_refuses_gets_nan_and_the_others_go_on() -> None:
    """PySD raises for the whole variable of a run with a negative request or supply, a
    width or pwidth <= 0 or a profile type it does not implement: that run is NaN here (a
    failed run) and the other runs keep PySD's numbers."""
    req = np.array([[1.0, 2.0], [1.0, -1.0], [1.0, 2.0], [1.0, 2.0]])
    width = np.array([[1.0], [1.0], [0.0], [1.0]])
    supply = np.array([[1.5], [1.0], [1.0], [-1.0]])
    got = allocate_by_priority(req, np.array([[2.0, 1.0]]), width, supply, 1, "x")
    np.testing.assert_array_equal(got[0], _allocate_by_priority_1d(req[0], np.array([2.0, 1.0]),
                                                                   1.0, 1.5))
    assert np.isnan(got[1:]).all()
    # runs of two allocations each (run, allocation, element): one bad row spoils its run
    pp = np.broadcast_to(np.array([1.0, 5, 2, 0]), (2, 2, 2, 4)).copy()
    pp[1, 0, 1, 0] = 5  # constant elasticity: PySD does not implement it
    got = allocate_available(np.ones((2, 2, 2)), pp, np.full((2, 2, 1), 1.5), 2)
    np.testing.assert_allclose(got[0], [[0.75, 0.75], [0.75, 0.75]], rtol=1e-15)
    assert np.isnan(got[1]).all()
    pp[0, 1, 0, 1] = np.nan  # a priority that is not a number: that row is NaN
    assert np.isnan(allocate_available(np.ones((2, 2, 2)), pp, 1.5, 2)[0, 1]).all()
    # enough supply: PySD returns the requests without reading the profiles
    assert (allocate_available(np.ones((2, 2, 2)), pp, 2.0, 2) == 1).all()
    # in a model: a negative capacity makes a negative supply in run 0 only
    sim = compile_model(MODEL).simulate({"capacity": np.array([-1.0, 2.0])}, n_runs=2)
    assert sim.ok.tolist() == [False, True]
    assert sim.failures[0][:2] == (0, "Shipments[North]")


def test_numba_backend_leaves_allocations_to_numpy() -> None:
    """Allocations are subscripted: the numba backend refuses them cleanly, numpy runs them."""
    model = compile_model(MODEL)
    assert model.simulate({}, n_runs=2, backend="auto").backend == "numpy"
    assert "subscripted" in str(model.kernel_problem())
    with pytest.raises(EngineInputError, match="subscripted"):
        model.simulate({}, n_runs=2, backend="numba")
