"""Explore mode's runs: one run of the current sliders, and a fan over plausible worlds.

Both run on the vectorized engine (``sdnet.engine.CompiledModel.simulate``): one flexnet run
at the simulator's time step of 1/8 year takes about 13 ms, and a fan of 100 worlds is one
vectorized call, not 100 runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sdnet.serve.setup import SimulatorSetup
    from sdnet.serve.worlds import Worlds
    from sdnet.teaching.challenge import EnsembleSimulator

__all__ = ["QUANTILES", "Fan", "Run", "run_fan", "run_once"]

#: the fan's bands: 5-95% and 25-75%, with the median
QUANTILES: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True, slots=True)
class Run:
    """One run: save times (Year) and each outcome's values (NaN where the run failed)."""

    times: np.ndarray
    series: Mapping[str, np.ndarray]
    ok: bool


@dataclass(frozen=True, slots=True)
class Fan:
    """Quantiles over worlds: ``bands[variable]`` is (len(QUANTILES), n_time)."""

    times: np.ndarray
    bands: Mapping[str, np.ndarray]
    n_worlds: int
    n_failed: int
    source: str


def _simulate(simulator: EnsembleSimulator, setup: SimulatorSetup, values: Mapping[str, Any],
              *, n_runs: int, variables: Sequence[str]) -> Any:
    return simulator.simulate(
        dict(values), n_runs=n_runs, final_time=setup.final_time, time_step=setup.time_step,
        variables=list(variables),
    )


def run_once(simulator: EnsembleSimulator, setup: SimulatorSetup,
             values: Mapping[str, float]) -> Run:
    """Run the model once with ``values`` (validated Python names -> numbers)."""
    variables = [o.variable for o in setup.outcomes]
    simulation = _simulate(simulator, setup, dict(values), n_runs=1,
                           variables=variables)
    series = {name: np.asarray(simulation.outputs[name], dtype=float)[0] for name in variables}
    ok = bool(np.asarray(simulation.status)[0]) and all(
        np.isfinite(v).all() for v in series.values())
    return Run(times=np.asarray(simulation.times, dtype=float), series=series, ok=ok)


def run_fan(simulator: EnsembleSimulator, setup: SimulatorSetup, values: Mapping[str, float],
            worlds: Worlds) -> Fan:
    """Run ``values`` in every world; return each outcome's quantiles over the worlds.

    A slider that sets a parameter the worlds vary (an uncertain parameter would) wins over
    the worlds: the fan then shows the other uncertainties only.
    """
    variables = [o.variable for o in setup.outcomes]
    batch: dict[str, Any] = dict(worlds.values)
    batch |= values
    simulation = _simulate(simulator, setup, batch, n_runs=worlds.n, variables=variables)
    ok = np.asarray(simulation.status, dtype=bool)
    for name in variables:  # a world counts only when every outcome stayed finite
        ok = ok & np.isfinite(np.asarray(simulation.outputs[name], dtype=float)).all(axis=1)
    bands = {}
    for name in variables:
        data = np.asarray(simulation.outputs[name], dtype=float)[ok]
        bands[name] = (np.quantile(data, QUANTILES, axis=0) if len(data)
                       else np.full((len(QUANTILES), data.shape[1]), np.nan))
    return Fan(times=np.asarray(simulation.times, dtype=float), bands=bands,
               n_worlds=worlds.n, n_failed=int(worlds.n - ok.sum()), source=worlds.source)
