"""ALLOCATE BY PRIORITY and ALLOCATE AVAILABLE on the engine against PySD's own functions
(``pysd.py_backend.allocation``), row by row and through a whole model run by run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pysd.py_backend.allocation import _allocate_available_1d, _allocate_by_priority_1d

from sdnet.engine import compile_model
from sdnet.engine.allocation import allocate_available, allocate_by_priority
from sdnet.errors import EngineInputError, SimulationError

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
    ours = allocate_available(req, pp, avail, 1, "x")
    theirs = np.array([_allocate_available_1d(req[i], pp[i], avail[i, 0]) for i in range(40)],
                      dtype=float)
    np.testing.assert_allclose(ours, theirs, rtol=1e-7, atol=1e-6)
    np.testing.assert_allclose(ours.sum(axis=1), np.minimum(avail[:, 0], req.sum(axis=1)),
                               rtol=1e-12)


def test_model_equals_pysd_run_by_run(pysd_runner) -> None:
    capacities = np.array([1.0, 2.5, 4.0])
    sim = compile_model(MODEL).simulate({"capacity": capacities}, n_runs=3)
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
    assert sim.outputs["Shipments[South]"][2, -1] == sim.outputs["Market Shares[East]"][2, -1] == 2


def test_bad_inputs_are_named() -> None:
    with pytest.raises(SimulationError, match=r"'Shipments': ALLOCATE BY PRIORITY needs "
                       r"requests >= 0 \(found -1.0\)"):
        allocate_by_priority(np.array([[1.0, -1.0]]), np.zeros((1, 2)), 1.0, 1.0, 1,
                             "Shipments")
    with pytest.raises(SimulationError, match=r"needs a width > 0 \(found 0.0\)"):
        allocate_by_priority(np.ones((1, 2)), np.zeros((1, 2)), 0.0, 1.0, 1, "x")
    pp = np.array([[[5.0, 1, 1, 0], [1, 1, 1, 0]]])
    with pytest.raises(SimulationError, match=r"profile type \(ptype\) must be 1 .* \(found "
                       r"5.0\)"):
        allocate_available(np.ones((1, 2)), pp, 1.0, 1, "x")


def test_numba_backend_leaves_allocations_to_numpy() -> None:
    """Allocations are subscripted: the numba backend refuses them cleanly, numpy runs them."""
    model = compile_model(MODEL)
    assert model.simulate({}, n_runs=2, backend="auto").backend == "numpy"
    assert "subscripted" in str(model.kernel_problem())
    with pytest.raises(EngineInputError, match="subscripted"):
        model.simulate({}, n_runs=2, backend="numba")
