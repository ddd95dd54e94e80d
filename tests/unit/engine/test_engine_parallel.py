"""Blocks of runs integrated in forked worker processes give the same results as one process;
a failing worker's blocks are integrated again here."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import DATA

from sdnet.engine import compile_model, parallel
from sdnet.errors import SimulationError

KITCHEN = DATA / "kitchen.mdl"
DECAY = DATA / "decay.mdl"

needs_fork = pytest.mark.skipif(
    not parallel.can_fork(), reason="forked workers are used only on Linux"
)


def _simulate(model, values, n_runs, *, workers, block_size, **options):
    saved = model.workers, model.block_size
    model.workers, model.block_size = workers, block_size
    try:
        return model.simulate(values, n_runs=n_runs, **options)
    finally:
        model.workers, model.block_size = saved


@needs_fork
def test_forked_workers_give_the_same_results_as_one_process() -> None:
    model = compile_model(KITCHEN)
    rng = np.random.default_rng(5)
    n_runs = 4_100  # enough for two workers (at least 1,024 runs each), uneven blocks
    values = {"growth_rate": rng.uniform(0, 0.2, n_runs)}
    variables = ["Stock Trend", "Perceived Price 3", "Growth Rate"]
    alone = _simulate(model, values, n_runs, workers=1, block_size=10_000, variables=variables)
    forked = _simulate(model, values, n_runs, workers=2, block_size=1_000, variables=variables)
    assert forked.ok.all()
    for column, array in alone.outputs.items():
        np.testing.assert_array_equal(forked.outputs[column], array, err_msg=column)


@needs_fork
def test_non_finite_runs_in_a_worker_are_reported() -> None:
    model = compile_model(DECAY)
    n_runs = 3_000
    rates = np.full(n_runs, 0.5)
    bad = [10, 2_999]  # one in this process's block, one in the worker's
    rates[bad] = -1e200
    sim = _simulate(
        model, {"decay_rate": rates}, n_runs, workers=2, block_size=1_500, final_time=4
    )
    assert np.flatnonzero(~sim.ok).tolist() == bad
    assert [(run, variable) for run, variable, _ in sim.failures] == [
        (10, "Level"), (2_999, "Level")
    ]


@needs_fork
def test_blocks_of_a_failed_worker_are_run_again_here() -> None:
    parent = os.getpid()
    done = parallel.shared_empty((4,))
    done[:] = 0.0
    ran_here: list[int] = []

    def run_block(start: int, stop: int) -> None:
        if os.getpid() != parent:
            raise RuntimeError("worker fails")
        ran_here.append(start)
        done[start:stop] += 1.0

    parallel.run_blocks(run_block, [(0, 1), (1, 2), (2, 3), (3, 4)], workers=2)
    np.testing.assert_array_equal(done, [1.0, 1.0, 1.0, 1.0])
    assert sorted(ran_here) == [0, 1, 2, 3]


@needs_fork
def test_an_error_in_every_process_is_raised_here_with_its_type() -> None:
    def run_block(start: int, stop: int) -> None:
        raise SimulationError(f"block {start}-{stop} failed")

    with pytest.raises(SimulationError, match="block 0-1 failed"):
        parallel.run_blocks(run_block, [(0, 1), (1, 2)], workers=2)


def test_one_worker_runs_every_block_in_order_here() -> None:
    seen: list[tuple[int, int]] = []
    parallel.run_blocks(lambda a, b: seen.append((a, b)), [(0, 2), (2, 5), (5, 6)], workers=1)
    assert seen == [(0, 2), (2, 5), (5, 6)]
