"""Vensim's ALLOCATE BY PRIORITY and ALLOCATE AVAILABLE over arrays of runs.

Both share a supply among the elements of one subscript range (the last range of the
request), separately for every run and every combination of the other ranges. They reproduce
PySD's ``pysd.py_backend.allocation`` (the engine's promise: where it runs, it equals PySD):

* ALLOCATE BY PRIORITY is PySD's exact piecewise-linear walk (``_allocate_by_priority_1d``),
  run for all rows at once in lockstep: the same operations in the same order on each row, so
  the results are PySD's bit for bit (a row that is done stops changing). Rows whose requests
  are zero at the same places are sorted together, as PySD sorts each row without its zero
  requests (numpy's sort of ties depends on the array it sorts).
* ALLOCATE AVAILABLE gives each element its priority profile's share at the "price" where the
  shares add up to the supply. PySD finds that price with ``scipy.optimize.least_squares``
  (tolerances 1e-8); here a bisection of all rows at once runs to adjacent floating-point
  numbers, so the price is exact where PySD's is within its tolerance, and each share is then
  computed with PySD's own formulas.

References
----------
Vensim documentation, "Allocation functions": https://www.vensim.com/documentation/allocation_overview.html
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import erfc

from sdnet.errors import SimulationError

__all__ = ["PROFILES", "allocate_available", "allocate_by_priority"]

PROFILES = {1: "rectangular", 2: "triangular", 3: "normal", 4: "exponential"}
"""The priority profiles (``ptype``) ALLOCATE AVAILABLE accepts, as PySD: fixed quantity (0)
and constant elasticity (5) are not implemented there either."""

# half-widths (in pwidth) beyond which PySD treats a normal or exponential profile as flat
_NORMAL_REACH = 8.2923611
_EXPONENTIAL_REACH = 36.7368005696


def _rows(value: Any, shape: tuple[int, ...], axis: int) -> np.ndarray:
    """``value`` broadcast to ``shape``, the allocation axis last, as rows ``(M, n)``."""
    full = np.broadcast_to(np.asarray(value, dtype=np.float64), shape)
    moved = np.moveaxis(full, axis, -1)
    return np.ascontiguousarray(moved).reshape(-1, shape[axis])


def _per_row(value: Any, shape: tuple[int, ...], axis: int) -> np.ndarray:
    """A value without the allocation axis (length 1 there) as one number per row ``(M,)``."""
    squeezed = list(shape)
    squeezed[axis] = 1
    full = np.broadcast_to(np.asarray(value, dtype=np.float64), squeezed)
    return np.ascontiguousarray(np.moveaxis(full, axis, -1)).reshape(-1)


def _restore(rows: np.ndarray, shape: tuple[int, ...], axis: int) -> np.ndarray:
    """Rows ``(M, n)`` back to ``shape`` with the allocation axis in its place."""
    moved = list(shape)
    n = moved.pop(axis)
    return np.moveaxis(rows.reshape(*moved, n), -1, axis)


def _whole_runs(bad: np.ndarray, runs: int) -> np.ndarray:
    """Rows flagged ``bad`` spread to every row of their run: PySD refuses a whole variable
    of a run when any element of it is invalid."""
    per_run = bad.reshape(runs, -1).any(axis=1)
    return np.repeat(per_run, bad.size // runs)


# --------------------------------------------------------------------------- BY PRIORITY


def allocate_by_priority(
    request: Any, priority: Any, width: Any, supply: Any, axis: int, variable: str
) -> np.ndarray:
    """ALLOCATE BY PRIORITY(request, priority, size, width, supply) for arrays of runs.

    Parameters
    ----------
    request, priority : ndarray
        Request (units of the supply, non-negative) and priority of each element; the
        elements are along ``axis``.
    width : float or ndarray
        The priority gap (priority units, positive) beyond which a lower priority gets only
        what the higher one leaves; length 1 along ``axis`` (one per allocation).
    supply : float or ndarray
        What there is to share (non-negative); length 1 along ``axis``.
    axis : int
        The axis of the elements that share (the run is axis 0).
    variable : str
        The variable's name, for the error of a walk that does not end.

    Returns
    -------
    ndarray
        What each element gets, the broadcast shape of the arguments.

        A run in which PySD raises (a negative request or supply, a width that is not
        positive, anywhere in the variable) gets NaN, so it is reported as a failed run
        and the other runs go on.
    """
    shape = np.broadcast_shapes(*(np.shape(v) for v in (request, priority, width, supply)))
    req = _rows(request, shape, axis)
    pri = _rows(priority, shape, axis)
    wid = _per_row(width, shape, axis)
    sup = _per_row(supply, shape, axis)
    refused = _whole_runs((req < 0).any(axis=1) | (wid <= 0) | (sup < 0), shape[0])
    out = np.zeros_like(req)
    total = np.sum(req, axis=1)
    enough = (sup >= total) & ~refused
    out[enough] = req[enough]
    out[refused] = np.nan
    work = ~enough & ~refused & (sup != 0)
    if work.any():
        _by_priority_groups(req, pri, wid, sup, work, out, variable)
    return _restore(out, shape, axis)


def _by_priority_groups(
    req: np.ndarray, pri: np.ndarray, wid: np.ndarray, sup: np.ndarray, work: np.ndarray,
    out: np.ndarray, variable: str,
) -> None:
    """Fill ``out`` for the ``work`` rows, one group per pattern of non-zero requests (PySD
    drops the zero requests of a row before sorting it by priority)."""
    rows = np.flatnonzero(work)
    patterns, group = np.unique(req[rows] != 0, axis=0, return_inverse=True)
    for g, pattern in enumerate(patterns):
        these = rows[group.ravel() == g]
        cols = np.flatnonzero(pattern)
        r = req[np.ix_(these, cols)]
        p = pri[np.ix_(these, cols)]
        order = np.argsort(-p, axis=1)  # row by row, as PySD's argsort of each row
        shares = _by_priority_walk(
            np.take_along_axis(r, order, axis=1), np.take_along_axis(p, order, axis=1),
            wid[these], sup[these].copy(), variable,
        )
        back = np.empty_like(shares)
        np.put_along_axis(back, order, shares, axis=1)
        out[np.ix_(these, cols)] = back


def _by_priority_walk(
    request: np.ndarray, priority: np.ndarray, width: np.ndarray, supply: np.ndarray,
    variable: str,
) -> np.ndarray:
    """PySD's walk down the priorities (rows sorted by decreasing priority, no zero request),
    every row in lockstep: each pass gives every live row its next linear piece."""
    n_rows, m = request.shape
    out = np.zeros_like(request)
    distances = np.full_like(request, np.nan)
    distances[:, :-1] = np.minimum(-np.diff(priority, axis=1) / width[:, None], 1) * (
        request[:, :-1]
    )
    active = np.zeros(request.shape, dtype=bool)
    active[:, 0] = True
    started = np.zeros(n_rows, dtype=np.int64)
    live = np.flatnonzero(supply > 0)
    passes = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        while live.size:
            passes += 1
            if passes > 4 * m + 16:  # each pass starts or fills an element, or ends the row
                raise SimulationError(
                    f"{variable!r}: ALLOCATE BY PRIORITY did not finish sharing the supply "
                    f"after {passes - 1} steps (a request or priority that is not finite?)"
                )
            idx = np.arange(live.size)
            req, act, got = request[live], active[live], out[live]
            first, left = started[live], supply[live]
            slopes = req * act
            slopes /= np.sum(slopes, axis=1, keepdims=True)
            to_top = np.nanmin(np.where(act, (req - got) / slopes, np.nan), axis=1)
            to_start = (distances[live, first] - got[idx, first]) / slopes[idx, first]
            dx = np.nanmin(np.stack([to_top, to_start, left], axis=1), axis=1)
            got += slopes * dx[:, None]
            begins = np.isclose(dx, to_start, rtol=1e-10, atol=1e-16)
            first = first + begins
            act[idx[begins], first[begins]] = True
            filled = dx == to_top
            act[filled] &= got[filled] != req[filled]
            left = left - dx
            out[live], active[live], started[live], supply[live] = got, act, first, left
            live = live[left > 0]
    return out


# --------------------------------------------------------------------------- AVAILABLE


class _Profiles:
    """The priority profiles of the rows being shared ``(M, n)``, with what every price
    evaluation reuses: the terms of PySD's formulas and which profile types occur."""

    def __init__(self, q0: np.ndarray, kind: np.ndarray, centre: np.ndarray,
                 wide: np.ndarray) -> None:
        self.q0, self.centre, self.wide = q0, centre, wide
        self.half = wide * .5
        self.low = centre - self.half
        self.high = centre + self.half
        self.square = wide ** 2
        self.scale = np.sqrt(2) * wide
        asking = q0 != 0
        self.masks = {k: (kind == k) & asking for k in PROFILES if ((kind == k) & asking).any()}
        self.only = next(iter(self.masks)) if len(self.masks) == 1 and asking.all() else None

    def shares(self, x: np.ndarray) -> np.ndarray:
        """Each element's share at the price ``x`` (``(M, 1)``), with PySD's formulas
        (``Priorities.rectangular`` ...); 0 where nothing is requested."""
        with np.errstate(all="ignore"):  # a formula is computed for every element
            if self.only is not None:
                return self._formula(self.only, x)
            out = np.zeros_like(self.q0)
            for kind, mask in self.masks.items():
                np.copyto(out, self._formula(kind, x), where=mask)
            return out

    def _formula(self, kind: int, x: np.ndarray) -> np.ndarray:
        q0, centre, wide, half = self.q0, self.centre, self.wide, self.half
        if kind == 1:
            return np.where(x <= self.low, q0,
                            np.where(x < self.high, q0 * (1 - (x - centre + half) / wide), 0))
        if kind == 2:
            return np.where(
                x <= self.low, q0,
                np.where(x < centre, q0 * (1 - 2 * (x - centre + half) ** 2 / self.square),
                         np.where(x < self.high,
                                  2 * q0 * (centre + half - x) ** 2 / self.square, 0)),
            )
        if kind == 3:
            return q0 * .5 * (2 - erfc((centre - x) / self.scale))
        return np.where(x < centre, q0 * (1 - .5 * np.exp((x - centre) / wide)),
                        q0 * .5 * np.exp((centre - x) / wide))


def allocate_available(request: Any, profile: Any, avail: Any, axis: int) -> np.ndarray:
    """ALLOCATE AVAILABLE(request, priority profile, available) for arrays of runs.

    Parameters
    ----------
    request : ndarray
        Request of each element (non-negative), the elements along ``axis``.
    profile : ndarray
        The priority profile of each element on one more, last, axis: ptype (1 rectangular,
        2 triangular, 3 normal, 4 exponential), ppriority, pwidth (> 0), pextra (unused).
    avail : float or ndarray
        What there is to share (non-negative); length 1 along ``axis``.
    axis : int
        The axis of the elements that share (the run is axis 0).

    Returns
    -------
    ndarray
        What each element gets, the broadcast shape of ``request`` and ``avail``.

        A run in which PySD raises (a negative request or supply; where the supply is
        short, a pwidth that is not positive or a profile type other than 1-4 for an element
        that requests something) gets NaN, so it is reported as a failed run and the other
        runs go on.
    """
    pp = np.asarray(profile, dtype=np.float64)
    shape = np.broadcast_shapes(np.shape(request), pp.shape[:-1], np.shape(avail))
    req = _rows(request, shape, axis)
    sup = _per_row(avail, shape, axis)
    kind, centre, wide = (_rows(pp[..., k], shape, axis) for k in range(3))
    total = np.sum(req, axis=1)
    short = ~(sup >= total) & (sup != 0)  # PySD checks the profiles of these rows only
    profile_bad = (wide <= 0).any(axis=1) | (~np.isin(kind, list(PROFILES)) & (req != 0)).any(
        axis=1
    )
    refused = _whole_runs((req < 0).any(axis=1) | (sup < 0) | (short & profile_bad), shape[0])
    out = np.zeros_like(req)
    enough = (sup >= total) & ~refused
    out[enough] = req[enough]
    out[refused] = np.nan
    work = np.flatnonzero(short & ~refused)
    if work.size:
        profiles = _Profiles(req[work], kind[work], centre[work], wide[work])
        price = _price(profiles, sup[work], kind[work])
        shares = profiles.shares(price[:, None])
        shares[np.isnan(price)] = np.nan  # a profile that is not finite: a failed run
        out[work] = shares
    return _restore(out, shape, axis)


def _price(profiles: _Profiles, avail: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """The price at which the rows' shares add up to ``avail``: bisection on the total (which
    falls as the price rises) until the bracket holds two adjacent floats, then the end whose
    total is nearer ``avail``."""
    reach = np.select([kind == 3, kind == 4], [_NORMAL_REACH, _EXPONENTIAL_REACH], 0.5)
    reach = reach * profiles.wide
    asking = profiles.q0 > 0
    lo = np.min(np.where(asking, profiles.centre - reach, np.inf), axis=1)
    hi = np.max(np.where(asking, profiles.centre + reach, -np.inf), axis=1)
    finite = np.isfinite(lo) & np.isfinite(hi)  # a NaN profile: NaN shares, no search
    for _ in range(2200):  # float64 bisection ends within ~1100 halvings of any bracket
        mid = lo + (hi - lo) * .5
        open_ = (mid != lo) & (mid != hi) & finite
        if not open_.any():
            break
        total = np.sum(profiles.shares(mid[:, None]), axis=1)
        above = total > avail  # the price must rise
        lo = np.where(open_ & above, mid, lo)
        hi = np.where(open_ & ~above, mid, hi)
    at_lo = np.sum(profiles.shares(lo[:, None]), axis=1)
    at_hi = np.sum(profiles.shares(hi[:, None]), axis=1)
    price = np.where(np.abs(at_lo - avail) <= np.abs(at_hi - avail), lo, hi)
    return np.where(finite, price, np.nan)
