"""flexnet on the engine equals flexnet on PySD, run by run, for random parameter sets drawn
within the declared ranges of every constant that has one (a fast subset of the 1,000-set check
in ``benchmarks/engine_equivalence.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sdnet.engine import compile_model

FLEXNET = Path(__file__).resolve().parents[3] / "models" / "flexnet" / "flexnet.mdl"
N_SETS = 10  # each PySD run of flexnet takes about 1.5 s (its xarray output of subscripts)
TOLERANCE = 1e-9  # maximum relative difference on every saved output (issue 3)



def draw_parameter_sets(model, n: int, *, seed: int) -> dict[str, np.ndarray]:
    """Uniform draws within the declared range of every bounded non-control constant."""
    rng = np.random.default_rng(seed)
    bounded = [p for p in model.parameters.values() if p.kind != "control" and p.bounded]
    return {p.name: rng.uniform(p.lower, p.upper, n) for p in bounded}


def relative_difference(ours: np.ndarray, theirs: np.ndarray) -> float:
    difference = np.abs(ours - theirs)
    scale = np.maximum(np.abs(theirs), np.finfo(float).tiny)
    return float(np.max(np.where(difference == 0, 0.0, difference / scale)))


def test_engine_euler_equals_pysd_run_by_run(pysd_runner) -> None:
    model = compile_model(FLEXNET)
    values = draw_parameter_sets(model, N_SETS, seed=20261126)
    assert len(values) >= 20  # every bounded constant of flexnet is varied
    sim = model.simulate(values, n_runs=N_SETS)
    run_pysd = pysd_runner(FLEXNET)
    worst = 0.0
    for run in range(N_SETS):
        frame = run_pysd({name: float(v[run]) for name, v in values.items()})
        np.testing.assert_array_equal(sim.times, frame.index.to_numpy(dtype=float))
        assert set(frame.columns) == set(sim.outputs)
        for column in frame.columns:
            difference = relative_difference(
                sim.outputs[column][run], frame[column].to_numpy(dtype=float)
            )
            assert difference <= TOLERANCE, (run, column, difference)
            worst = max(worst, difference)
    print(f"flexnet: worst relative difference over {N_SETS} sets: {worst:.3g}")


def test_parameter_table_agrees_with_the_pysd_facade() -> None:
    """sdnet.params: the table built from the abstract model and the one from PySD agree."""
    from sdnet.model import load_model

    ours = compile_model(FLEXNET).parameters
    theirs = load_model(FLEXNET).parameters
    assert set(ours) == set(theirs)
    for name in ours:
        assert ours[name] == theirs[name], name
