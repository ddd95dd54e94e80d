"""Vensim's vector functions, vectorized over runs: VECTOR SELECT, SORT ORDER, RANK, REORDER.

Each function does what PySD's ``pysd.py_backend.functions`` does for one run (same numpy
sort, same masking, same reductions), on arrays whose first axis is the run. The other axes
are the equation's subscripts in the order of its left-hand side, as the compiler lines them
up. Like PySD, the sorting functions work along the *last* subscript of their argument as it
is written ("relative to the last subscript", Vensim's manual); the compiler gives its axis.

Where PySD would raise for one run (a VECTOR SELECT error action that fires, a VECTOR REORDER
order that is not a position), the engine gives that run NaN instead, so that it is reported
as a failed run (``Simulation.failures``) and the other runs of the ensemble go on.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sdnet.errors import SimulationError

__all__ = ["vector_rank", "vector_reorder", "vector_select", "vector_sort_order"]

Value = Any  # a Python float or an ndarray whose first axis is the run

_ACTIONS = range(11)


def _per_run(value: Value, ndim: int) -> np.ndarray:
    """A run-level value (a number, or ``(runs,)``) shaped to broadcast against an array of
    ``ndim`` axes whose first is the run."""
    array = np.asarray(value)
    if array.ndim == 0:
        return array
    return array.reshape(array.shape[:1] + (1,) * (ndim - 1))


def vector_sort_order(vector: np.ndarray, direction: Value, axis: int = -1) -> np.ndarray:
    """VECTOR SORT ORDER(vector, direction): the 0-based positions that sort ``axis``,
    ascending where ``direction > 0``, else descending (PySD flips the ascending order, so
    ties come out in reverse order then)."""
    order = np.argsort(vector, axis=axis)
    flip = _per_run(np.asarray(direction) <= 0, order.ndim)
    if flip.ndim == 0:
        chosen = np.flip(order, axis=axis) if flip else order
    else:
        chosen = np.where(flip, np.flip(order, axis=axis), order)
    return chosen.astype(np.float64)


def vector_rank(vector: np.ndarray, direction: Value, axis: int = -1) -> np.ndarray:
    """VECTOR RANK(vector, direction): each element's 1-based rank along ``axis`` (PySD: the
    sort order's own sort order, plus one)."""
    order = vector_sort_order(vector, direction, axis)
    return (np.argsort(order, axis=axis) + 1).astype(np.float64)


def vector_reorder(vector: np.ndarray, order: np.ndarray, axis: int = -1) -> np.ndarray:
    """VECTOR REORDER(vector, order): ``out[..., i] = vector[..., order[..., i]]`` along
    ``axis`` (``order`` holds 0-based positions, as VECTOR SORT ORDER gives them).

    A run whose order holds something other than a position along the axis (NaN, a
    fraction, out of range) gets NaN in those elements (PySD cannot run it)."""
    vector, order = np.broadcast_arrays(vector, order)
    size = vector.shape[axis]
    with np.errstate(invalid="ignore"):
        valid = (order == np.trunc(order)) & (order >= -size) & (order < size)
    index = np.where(valid, order, 0).astype(np.int64)
    out = np.take_along_axis(vector, index, axis=axis)
    if not valid.all():
        out = np.where(valid, out, np.nan)
    return out


def vector_select(
    selection: np.ndarray,
    expression: np.ndarray,
    axes: tuple[int, ...],
    missing: Value,
    action: Value,
    error: Value,
) -> np.ndarray:
    """VECTOR SELECT(selection[dim!], expression[dim!], missing, numerical action, error
    action) over the ``axes`` marked ``!``, as PySD's ``vector_select``.

    The selection and the expression are broadcast to one shape first (PySD reshapes both to
    the call's subscripts). Elements whose selection is 0 are left out; the rest are combined
    by the numerical action (0 sum, 1 product, 2 min, 3 max, 4 mean of ``selection *
    expression``; 5 product of ``expression ** selection``; 6-10 sum, product, min, max, mean
    of the expression). Where every selection is 0 the result is ``missing``. Error action 1
    or 3 (every selection 0) and 2 or 3 (more than one non-zero) make a run where that happens
    NaN (PySD raises a floating-point error).

    Raises
    ------
    SimulationError
        If a numerical action is not a whole number from 0 to 10 (PySD raises ValueError).
    """
    selection, expression = np.broadcast_arrays(selection, expression)
    zeros = np.all(selection == 0, axis=axes)
    out = None
    for value in np.unique(np.asarray(action, dtype=np.float64)):
        if value not in _ACTIONS:
            raise SimulationError(
                f"VECTOR SELECT's numerical action must be 0, 1, ..., 10, not {value:g}"
            )
        result = _select(selection, expression, axes, int(value))
        if out is None:
            out = result
        else:  # the action differs between runs
            out = np.where(_per_run(np.asarray(action) == value, result.ndim), result, out)
    out = np.where(zeros, _per_run(missing, zeros.ndim), out)
    errors = _per_run(np.asarray(error, dtype=np.float64), 1)
    if np.any((errors >= 1) & (errors <= 3)):
        out = _flag_errors(out, selection, zeros, axes, errors)
    return out


_REDUCTIONS = ("sum", "prod", "min", "max", "mean", "prod", "sum", "prod", "min", "max", "mean")
"""The reduction of each numerical action (0 to 10)."""


def _select(selection: np.ndarray, expression: np.ndarray, axes: tuple[int, ...],
            action: int) -> np.ndarray:
    """One numerical action over ``axes``, leaving out the elements selected by 0."""
    with np.errstate(all="ignore"):
        if action <= 4:
            values = selection * expression
        elif action == 5:  # PySD, as Vensim: expression ** selection (not as the manual says)
            values = expression**selection
        else:
            values = expression
        array = np.where(selection == 0, np.nan, values)
        reduction = _REDUCTIONS[action]
        if reduction == "sum":
            return np.nansum(array, axis=axes)
        if reduction == "prod":
            return np.nanprod(array, axis=axes)
        if reduction == "min":  # NaN only where every element is (as xarray), no warning
            return np.fmin.reduce(array, axis=axes)
        if reduction == "max":
            return np.fmax.reduce(array, axis=axes)
        count = np.sum(~np.isnan(array), axis=axes)
        return np.nansum(array, axis=axes) / count


def _flag_errors(out: np.ndarray, selection: np.ndarray, zeros: np.ndarray,
                 axes: tuple[int, ...], errors: np.ndarray) -> np.ndarray:
    """NaN for every run in which the error action fires (PySD checks the whole variable:
    any element without a selection, or any with more than one)."""
    rest = tuple(range(1, zeros.ndim))
    none_selected = np.any(zeros, axis=rest)
    several = np.any(np.sum(selection != 0, axis=axes) > 1, axis=rest)
    fired = (((errors == 1) | (errors == 3)) & none_selected) | (
        ((errors == 2) | (errors == 3)) & several
    )
    if not np.any(fired):
        return out
    shape = np.broadcast_shapes(out.shape, fired.shape[:1] + (1,) * (out.ndim - 1))
    flagged = np.array(np.broadcast_to(out, shape), dtype=np.float64)
    flagged[np.broadcast_to(_per_run(fired, flagged.ndim), shape)] = np.nan
    return flagged
