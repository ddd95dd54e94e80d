"""The time loop for control variables computed during the run, as PySD 3.14 runs it.

Vensim lets ``FINAL TIME``, ``TIME STEP``, ``SAVEPER`` and ``INITIAL TIME`` be expressions of
Time or of model variables (``TIME STEP = IF THEN ELSE(Time < 4, 1, 0.5)``, ``FINAL TIME =
IF THEN ELSE(x > 50, Time, 100)``). PySD evaluates them like auxiliaries, at the current time
and state, each time its loop asks (``pysd.py_backend.components.Time``):

* a step is taken while ``time + 1e-5 * TIME STEP < FINAL TIME``;
* outputs are saved before it when ``(time - start) % SAVEPER`` or ``-(time - start) % SAVEPER``
  is below ``1e-5 * TIME STEP`` (``start`` the run's first time), and once more after the last
  step; each saved time is rounded to ``-log10(1e-5 * TIME STEP)`` decimals;
* Euler's step is ``state + derivative * TIME STEP`` and time advances by that ``TIME STEP``;
* the run starts at ``INITIAL TIME`` of Time ``INITIAL TIME`` of Time 0 (PySD evaluates it once
  when loading the model, with Time 0, and again when the run starts, at that time).

So the saved times are only known as the run goes. All runs of an ensemble step together: a
control value that differs between runs is an error naming it (run them one at a time).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from sdnet.engine.compiler import Node
from sdnet.errors import SimulationError

__all__ = ["integrate", "non_finite_states", "overridable", "start_time"]

RPREC = 1e-5  # PySD's relative precision (in time steps) for the final time and save times
_VENSIM = {"final_time": "FINAL TIME", "time_step": "TIME STEP", "saveper": "SAVEPER"}


def overridable(node: Node) -> Node:
    """``node`` (a control variable's equation) yielding to a value given to ``simulate()``
    (the generated program's ``OV`` mapping), as PySD's ``run(final_time=...)`` replaces the
    model's equation by the number."""
    name = node.target
    return replace(node, code=f"OV[{name!r}] if {name!r} in OV else ({node.code})")


def start_time(code: str, values: Mapping[str, float]) -> float:
    """The first time of a run whose ``INITIAL TIME`` is ``code``, an expression of ``time``
    and the plain control variables in ``values``: ``INITIAL TIME(INITIAL TIME(0))``, as PySD
    evaluates it when loading the model (Time 0) and when the run starts (at that time)."""
    time = 0.0
    for _ in range(2):
        namespace: dict[str, Any] = {"__builtins__": {}, "np": np, **values, "time": time}
        time = float(eval(code, namespace))
    if not math.isfinite(time):
        raise SimulationError(f"INITIAL TIME is {time!r}; a run must start at a finite time")
    return time


def _uniform(value: Any, name: str, time: float) -> float:
    """A control value shared by every run, as a float; an error when runs differ."""
    array = np.asarray(value, dtype=np.float64)
    first = float(array.flat[0])
    if array.size > 1 and not np.all(array == first):
        raise SimulationError(
            f"{_VENSIM[name]} differs between the runs of the ensemble at time {time:g} "
            f"({float(np.nanmin(array))!r} to {float(np.nanmax(array))!r}); the engine steps "
            "all runs together: run them one at a time (n_runs=1)"
        )
    if not math.isfinite(first) or (name != "final_time" and first <= 0):
        raise SimulationError(
            f"{_VENSIM[name]} is {first!r} at time {time:g}; it must be "
            + ("finite" if name == "final_time" else "positive")
        )
    return first


def non_finite_states(
    states: Sequence[Any],
    stacks: Sequence[bool],
    n_runs: int,
    time: float,
    bad_time: np.ndarray,
    bad_owner: np.ndarray,
    na: Sequence[bool] = (),
) -> None:
    """Record, for runs not yet recorded, ``time`` and the index of the first state that is
    NaN or infinite (the stages of a SMOOTH or DELAY come first in a stacked state); for
    states that may be NaN by definition (``na``: ``:NA:``), only an infinite value."""
    for index, (state, stacked) in enumerate(zip(states, stacks, strict=True)):
        if type(state) is np.float64:  # one run (see functions.full)
            if math.isfinite(state):
                continue
        elif np.isfinite(state.sum()):  # one pass; a NaN or inf anywhere shows here
            continue
        finite = ~np.isinf(state) if na and na[index] else np.isfinite(state)
        if stacked:
            finite = finite.all(axis=0)
        rows = np.flatnonzero(~finite.reshape(n_runs, -1).all(axis=1))
        if rows.size:
            rows = rows[~np.isfinite(bad_time[rows]) & (bad_time[rows] > time)]
            bad_time[rows] = time
            bad_owner[rows] = index


def integrate(
    f: Any,
    fd: Any,
    fc: Any,
    states: list[Any],
    *,
    start: float,
    n_runs: int,
    shapes: Sequence[tuple[int, ...]],
    stacks: Sequence[bool],
    non_negative: Sequence[int] = (),
    replaced: Sequence[int] = (),
    na: Sequence[bool] = (),
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray, np.ndarray]:
    """Euler-integrate ``states`` from ``start`` with the control values ``fc(t, *states)``
    gives at each time (``FINAL TIME``, ``TIME STEP``, ``SAVEPER``), as PySD's loop does.

    ``f(t, *states)`` returns the derivatives and the outputs (shapes ``(n_runs, *shape)``
    after broadcasting, ``shapes`` in order), ``fd`` the derivatives only. ``stacks``,
    ``non_negative``, ``replaced`` and ``na`` mark states as ``_integrate`` does.

    Returns
    -------
    times : ndarray
        The saved times, rounded as PySD rounds them.
    outputs : list of ndarray
        One array ``(n_time, n_runs, *shape)`` per output.
    bad_time, bad_owner : ndarray
        Per run, the first saved time at which a state was non-finite (inf if never) and its
        index in ``states`` (-1 if never).
    """
    bad_time = np.full(n_runs, np.inf)
    bad_owner = np.full(n_runs, -1, dtype=np.int64)
    saved: list[list[np.ndarray]] = [[] for _ in shapes]
    times: list[float] = []
    time = start
    while True:
        final, dt, saveper = (
            _uniform(v, name, time)
            for v, name in zip(fc(time, *states), _VENSIM, strict=True)
        )
        prec = dt * RPREC
        going_on = time + prec < final
        delay = time - start
        if delay % saveper < prec or -delay % saveper < prec:
            derivs, outs = f(time, *states)
            for column, shape, value in zip(saved, shapes, outs, strict=True):
                column.append(np.array(np.broadcast_to(value, (n_runs, *shape))))
            times.append(float(np.round(time, -int(np.log10(prec)))))
            non_finite_states(states, stacks, n_runs, time, bad_time, bad_owner, na)
        elif going_on:
            derivs = fd(time, *states)
        if not going_on:
            break
        states = [s + d * dt for s, d in zip(states, derivs, strict=True)]
        for i in non_negative:
            states[i] = np.maximum(states[i], 0)
        for i in replaced:  # SAMPLE IF TRUE: the "derivative" is the next value
            states[i] = derivs[i]
        time = time + dt
    outputs = [
        np.stack(column) if column else np.empty((0, n_runs, *shape))
        for column, shape in zip(saved, shapes, strict=True)
    ]
    return np.array(times), outputs, bad_time, bad_owner
