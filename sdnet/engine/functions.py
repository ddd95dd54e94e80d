"""Vectorized Vensim built-ins used by the code the engine generates.

Each function reproduces, element by element, what PySD's ``pysd.py_backend.functions`` does for
one run (same comparisons, same operation order, same "Vensim zero" of ``1e-6``), but works on
arrays whose first axis is the run. The generated model code calls them by these names.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "SMALL_VENSIM",
    "delay_ddt",
    "delay_n_ddt",
    "delay_stack",
    "fixed_delay_init",
    "fixed_delay_next",
    "fixed_delay_order",
    "fixed_delay_out",
    "full",
    "lookup_nd",
    "modulo",
    "pulse",
    "pulse_train",
    "quantum",
    "ramp",
    "smooth_ddt",
    "step",
    "xidz",
    "zidz",
]

SMALL_VENSIM = 1e-6
"""What Vensim (and PySD) treat as zero in XIDZ, ZIDZ, RAMP, PULSE and MODULO."""

Value = Any  # a Python float or an ndarray whose first axis is the run


def full(value: Value, n: int, tail: tuple[int, ...]) -> np.ndarray | np.float64:
    """Return a float64 array of shape ``(n, *tail)`` holding ``value`` broadcast.

    One run of a scalar variable (``n == 1``, no ``tail``) gets a numpy scalar instead: an
    operation on scalars costs a fraction of one on a one-element array, and a single run
    (a notebook slider) is all per-operation cost.
    """
    if n == 1 and not tail:
        return np.float64(np.asarray(value, dtype=np.float64).item())
    out = np.empty((n, *tail), dtype=np.float64)
    out[...] = value
    return out


def step(time: float, time_step: float, value: Value, tstep: Value) -> Value:
    """STEP(value, tstep): ``value`` from ``tstep`` on (half a time step early, as PySD)."""
    return value * (time + time_step / 2 > tstep)


def ramp(time: float, slope: Value, start: Value, finish: Value = None) -> Value:
    """RAMP(slope, start, finish): ``slope * (min(time, finish) - start)`` after ``start``."""
    final = time if finish is None else np.minimum(finish, time)
    return (time + SMALL_VENSIM > start) * slope * (final - start)


def pulse(time: float, start: Value, width: Value) -> Value:
    """PULSE(start, width): 1 in ``[start, start + width)``, else 0."""
    if np.ndim(start) == 0 and np.ndim(width) == 0:
        return 1 if start - SMALL_VENSIM <= time < start + width else 0
    return np.where((start - SMALL_VENSIM <= time) & (time < start + width), 1.0, 0.0)


def pulse_train(time: float, start: Value, repeat: Value, width: Value, end: Value) -> Value:
    """PULSE TRAIN(start, width, repeat, end) (arguments in PySD's order: start, repeat...)."""
    if all(np.ndim(a) == 0 for a in (start, repeat, width, end)):
        if repeat == 0:
            return 1 if start - SMALL_VENSIM <= time < start + width else 0
        if start <= time < end:
            return 1 if (time - start + SMALL_VENSIM) % repeat < width else 0
        return 0
    single = (start - SMALL_VENSIM <= time) & (time < start + width)
    with np.errstate(all="ignore"):
        train = (start <= time) & (time < end) & (
            np.mod(time - start + SMALL_VENSIM, repeat) < width
        )
    return np.where(repeat == 0, single, train).astype(np.float64)


def _all_away_from_zero(values: np.ndarray) -> bool:
    """True when every ``|value| >= 1e-6`` (one reduction when all have the same sign; False
    with NaN, which then takes the elementwise path)."""
    return bool(values.min() >= SMALL_VENSIM or values.max() <= -SMALL_VENSIM)


def xidz(numerator: Value, denominator: Value, x: Value) -> Value:
    """XIDZ(a, b, x): ``a / b``, or ``x`` where ``|b| < 1e-6``."""
    if np.ndim(denominator) == 0:
        return x if abs(denominator) < SMALL_VENSIM else numerator / denominator
    quotient = numerator / denominator
    if _all_away_from_zero(denominator) and (np.ndim(x) == 0 or np.shape(x) == quotient.shape):
        return quotient  # the usual case, and much faster than np.where
    return np.where(np.abs(denominator) < SMALL_VENSIM, x, quotient)


def zidz(numerator: Value, denominator: Value) -> Value:
    """ZIDZ(a, b): ``a / b``, or 0 where ``|b| < 1e-6``."""
    if np.ndim(denominator) == 0:
        if abs(denominator) < SMALL_VENSIM:
            return np.zeros(np.shape(numerator)) if np.ndim(numerator) else 0
        return numerator / denominator
    quotient = numerator / denominator
    if _all_away_from_zero(denominator):
        return quotient  # the usual case, and much faster than np.where
    return np.where(np.abs(denominator) < SMALL_VENSIM, 0.0, quotient)


def modulo(x: Value, m: Value) -> Value:
    """MODULO(x, m) as PySD: ``x - m * trunc(x / m)`` (``x`` where ``m < 1e-6``)."""
    if np.ndim(x) == 0 and np.ndim(m) == 0:
        return x - (x if m < SMALL_VENSIM else m * int(x / m))
    return x - np.where(m < SMALL_VENSIM, x, m * np.trunc(x / m))


def delay_stack(value: Value, order: int, n: int, tail: tuple[int, ...]) -> np.ndarray:
    """The stacked state ``(order, n, *tail)`` of a material delay or smooth, all equal."""
    out = np.empty((order, n, *tail), dtype=np.float64)
    out[...] = value
    return out


def smooth_ddt(state: np.ndarray, inp: Value, smooth_time: Value, order: float) -> np.ndarray:
    """Derivative of an ``order``-stage exponential smooth (PySD's ``Smooth.ddt``)."""
    targets = np.empty_like(state)
    targets[0] = inp
    targets[1:] = state[:-1]
    return (targets - state) * order / smooth_time


def delay_ddt(state: np.ndarray, inp: Value, delay_time: Value, order: float) -> np.ndarray:
    """Derivative of an ``order``-stage material delay (PySD's ``Delay.ddt``)."""
    outflows = state / delay_time
    inflows = np.empty_like(outflows)
    inflows[0] = inp
    inflows[1:] = outflows[:-1]
    return (inflows - outflows) * order


def delay_n_ddt(
    state: np.ndarray, times: np.ndarray, inp: Value, delay_time: Value, order: float
) -> np.ndarray:
    """Derivative of a DELAY N whose delay time changes (PySD's ``DelayN.ddt``).

    ``times`` holds the delay time each stage's content entered with; it is shifted by one
    stage and gets the current delay time, in place, at every call.
    """
    times[1:] = times[:-1].copy()
    times[0] = delay_time
    outflows = state / times
    inflows = np.empty_like(outflows)
    inflows[0] = inp
    inflows[1:] = outflows[:-1]
    return (inflows - outflows) * order


def lookup_nd(x: Value, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """A lookup with one table per element: ``ys`` is ``(len(xs), *dims)`` (or broadcasts to
    it), ``x`` a number or ``(runs, *dims)``; each element is interpolated in its own table
    with ``np.interp`` (end values held beyond the table, as PySD and Vensim do)."""
    x = np.asarray(x, dtype=np.float64)
    shape = np.broadcast_shapes(x.shape, (1, *ys.shape[1:]))
    xb = np.broadcast_to(x, shape)
    yb = np.broadcast_to(ys, (ys.shape[0], *shape[1:]))
    out = np.empty(shape)
    for index in np.ndindex(*shape[1:]):
        at = (slice(None), *index)
        out[at] = np.interp(xb[at], xs, yb[at])
    return out


def fixed_delay_order(delay_time: Value, time_step: float, n: int,
                      tail: tuple[int, ...]) -> np.ndarray | np.float64:
    """DELAY FIXED's pipe length in steps, per run: ``round(max(delay_time / dt, 1))``, fixed
    at the start (PySD's ``DelayFixed.initialize``; a small amount is added so that 0.5
    rounds up, as PySD does)."""
    order = np.maximum(np.asarray(delay_time, dtype=np.float64) / time_step, 1.0)
    return full(np.round(order + SMALL_VENSIM), n, tail)


def fixed_delay_init(initial: Value, order: Value, n: int,
                     tail: tuple[int, ...]) -> np.ndarray:
    """DELAY FIXED's pipe ``(n, *tail, longest order)``, every place holding the initial
    value. Place ``i`` holds the input of ``i + 1`` steps ago."""
    longest = int(np.max(order))
    out = np.empty((*np.shape(full(0.0, n, tail)), longest), dtype=np.float64)
    out[...] = np.asarray(initial, dtype=np.float64)[..., None]
    return out


def fixed_delay_next(pipe: np.ndarray, inp: Value) -> np.ndarray:
    """The pipe one step later: this step's input enters, everything moves one place on."""
    out = np.empty_like(pipe)
    out[..., 0] = inp
    out[..., 1:] = pipe[..., :-1]
    return out


def fixed_delay_out(pipe: np.ndarray, order: Value) -> Value:
    """DELAY FIXED's value: the input of ``order`` steps ago (the initial value before), as
    PySD's ring buffer gives it."""
    index = np.asarray(order, dtype=np.int64) - 1
    if pipe.ndim == 1:  # one run of a scalar (see full)
        return np.float64(pipe[int(index)])
    index = np.broadcast_to(index, pipe.shape[:-1])[..., None]
    return np.take_along_axis(pipe, index, axis=-1)[..., 0]


def quantum(a: Value, b: Value) -> Value:
    """QUANTUM(a, b) as PySD: ``b * trunc(a / b)``, or ``a`` where ``b < 1e-6``."""
    if np.ndim(a) == 0 and np.ndim(b) == 0:
        return a if b < SMALL_VENSIM else b * int(a / b)
    with np.errstate(all="ignore"):
        return np.where(b < SMALL_VENSIM, a, b * np.trunc(a / b))
