"""Metrics: pure reducers of simulated trajectories to one number per run.

A *reducer* turns an ``(n_runs, n_time)`` array of one output plus the saved ``times`` into an
``(n_runs,)`` array (final value, mean over a window, peak, ...). A :class:`Metric` names the
outputs it needs and computes its values from a :class:`Trajectories` bundle, which also carries
what differs per run besides the outputs: the time the push ends (push timing can be a factor)
and the number of firms in the region (for shares).

The built-in metrics (:data:`BUILTIN`) answer the project's question:

``members_share``
    Total Members at the horizon as a share of Number of Firms (dmnl).
``persistence_after_push``
    Total Members ten years after the push ends over Total Members when it ended (dmnl).
    The push ends at ``Push Start + Push Duration + Push Taper``. A later time past the horizon is
    read at the horizon (choose ``final_time >= push end + 10`` to avoid it). The denominator is
    at least the size at which a network counts as formed, ``max(3, 5% of firms)``: a ratio of
    two near-zero memberships says nothing, so a network that never formed has persistence near
    0, and one that forms only after the push can exceed 1.
``embeddedness``
    Embeddedness at the horizon (dmnl, 0-1).
``sustained``
    1.0 when the network is sustained, else 0.0. From model.md's behaviour tests: BR2 calls a
    network persisting when members ten years after the push ends are at least 60% of members
    when it ended, and BR1 calls a network formed when it has at least ``max(3, 5% of firms)``
    members. A network is *sustained* when both hold ten years after the push ends:
    ``persistence >= 0.6`` and ``members(end + 10) >= max(3, 0.05 * firms)``.
``alive_after_push``
    1.0 when ten years after the push ends the network still has at least
    ``max(3, 0.05 * firms)`` members (model.md BR1's size of a formed network), else 0.0. This
    is BR8's long-run membership test: unlike ``sustained`` it does not penalise a push that
    inflates membership above the level the network keeps on its own, so it is monotone in the
    push duration and is what the threshold search bisects on.
``time_to_collapse``
    Years from the push's end until Total Members first fall below ``max(3, 0.05 * firms)``;
    0 when they were already below it when the push ended, and censored at the horizon
    (``final_time - push end``) when they never fall below it.
``cost_per_member_year``
    Cumulative Public Spending at the horizon divided by the member-years (integral of Total
    Members, firm*Year) after the push ended ($/(firm*Year)); ``inf`` when no member-years
    remain. Meant for reporting; analyses skip metrics with non-finite values.

User metrics apply a reducer from :data:`REDUCERS` to one model output (:func:`user_metric`),
chosen by name in an experiment file: no strings are evaluated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sdnet.errors import InvalidValueError, UnknownVariableError

__all__ = [
    "BUILTIN",
    "REDUCERS",
    "SUSTAINED_MIN_SHARE",
    "SUSTAINED_PERSISTENCE",
    "Metric",
    "Trajectories",
    "final",
    "formed_threshold",
    "mean_over",
    "peak",
    "time_of_peak",
    "time_to_threshold",
    "user_metric",
    "value_at",
]

#: Years after the push ends at which persistence is measured (model.md BR2/BR3).
PERSISTENCE_LAG = 10.0
#: Persistence a sustained network needs (model.md BR2).
SUSTAINED_PERSISTENCE = 0.6
#: A network "exists" with at least max(3 firms, this share of firms) members (model.md BR1).
SUSTAINED_MIN_SHARE = 0.05
SUSTAINED_MIN_FIRMS = 3.0

TOTAL_MEMBERS = "Total Members"
EMBEDDEDNESS = "Embeddedness"
SPENDING = "Cumulative Public Spending"


@dataclass(frozen=True, eq=False)
class Trajectories:
    """What metrics are computed from: saved outputs of ``n_runs`` runs.

    Attributes
    ----------
    times : numpy.ndarray
        ``(n_time,)`` saved times (Year), increasing.
    outputs : Mapping[str, numpy.ndarray]
        Vensim output name -> ``(n_runs, n_time)`` values.
    push_end : numpy.ndarray
        ``(n_runs,)`` time the push ends in each run (Year).
    number_of_firms : numpy.ndarray
        ``(n_runs,)`` Number of Firms in each run's region (firm).
    """

    times: np.ndarray
    outputs: Mapping[str, np.ndarray]
    push_end: np.ndarray
    number_of_firms: np.ndarray

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return np.asarray(self.outputs[name], dtype=float)
        except KeyError:
            raise UnknownVariableError(
                name, candidates=list(self.outputs), what="output", where="the trajectories"
            ) from None

    @property
    def n_runs(self) -> int:
        """Number of runs."""
        return int(np.asarray(self.push_end).shape[0])


# ---------------------------------------------------------------- reducers (values, times)


def final(values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """The value at the last saved time."""
    return np.asarray(values, dtype=float)[:, -1]


def mean_over(
    values: np.ndarray, times: np.ndarray, *, start: float | None = None,
    end: float | None = None,
) -> np.ndarray:
    """Time average over ``[start, end]`` (Year; defaults: the whole run), trapezoid rule."""
    values, times = np.asarray(values, dtype=float), np.asarray(times, dtype=float)
    lo = times[0] if start is None else float(start)
    hi = times[-1] if end is None else float(end)
    if not times[0] <= lo < hi <= times[-1]:
        raise InvalidValueError(
            "window", [lo, hi],
            expected=f"start < end within the saved times [{times[0]:g}, {times[-1]:g}]",
        )
    grid = np.union1d(times[(times > lo) & (times < hi)], [lo, hi])
    upper = np.clip(np.searchsorted(times, grid, side="right"), 1, times.size - 1)
    lower = upper - 1
    frac = (grid - times[lower]) / (times[upper] - times[lower])
    sampled = values[:, lower] * (1.0 - frac) + values[:, upper] * frac
    return np.trapezoid(sampled, grid, axis=1) / (hi - lo)


def peak(values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """The largest value over the run."""
    return np.asarray(values, dtype=float).max(axis=1)


def time_of_peak(values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """The first saved time (Year) at which the run reaches its largest value."""
    return np.asarray(times, dtype=float)[np.asarray(values, dtype=float).argmax(axis=1)]


def time_to_threshold(
    values: np.ndarray, times: np.ndarray, *, threshold: float, direction: str = "above",
) -> np.ndarray:
    """First time (Year) the value crosses ``threshold``, linearly interpolated; ``nan`` if never.

    ``direction="above"`` finds the first time the value reaches at least ``threshold``;
    ``"below"`` the first time it falls to at most ``threshold``.
    """
    values, times = np.asarray(values, dtype=float), np.asarray(times, dtype=float)
    if direction not in ("above", "below"):
        raise InvalidValueError("direction", direction, expected="'above' or 'below'")
    sign = 1.0 if direction == "above" else -1.0
    excess = sign * (values - threshold)
    hit = excess >= 0
    first = hit.argmax(axis=1)
    found = hit.any(axis=1)
    result = np.full(values.shape[0], np.nan)
    rows = np.nonzero(found)[0]
    idx = first[rows]
    at_start = idx == 0
    result[rows[at_start]] = times[0]
    r, i = rows[~at_start], idx[~at_start]
    e0, e1 = excess[r, i - 1], excess[r, i]
    frac = -e0 / (e1 - e0)  # e0 < 0 <= e1, so the denominator is positive
    result[r] = times[i - 1] + frac * (times[i] - times[i - 1])
    return result


def value_at(values: np.ndarray, times: np.ndarray, *, time: float | np.ndarray) -> np.ndarray:
    """The value at ``time`` (Year; a number or one time per run), linearly interpolated.

    Times outside the saved range are read at the nearest end.
    """
    values, times = np.asarray(values, dtype=float), np.asarray(times, dtype=float)
    at = np.broadcast_to(np.asarray(time, dtype=float), (values.shape[0],))
    at = np.clip(at, times[0], times[-1])
    upper = np.clip(np.searchsorted(times, at, side="right"), 1, times.size - 1)
    lower = upper - 1
    span = times[upper] - times[lower]
    frac = np.where(span > 0, (at - times[lower]) / np.where(span > 0, span, 1.0), 0.0)
    rows = np.arange(values.shape[0])
    return values[rows, lower] + frac * (values[rows, upper] - values[rows, lower])


#: Reducer name -> (function, names of its keyword options). Used by experiment files.
REDUCERS: dict[str, tuple[Callable[..., np.ndarray], tuple[str, ...]]] = {
    "final": (final, ()),
    "mean": (mean_over, ("start", "end")),
    "peak": (peak, ()),
    "time_of_peak": (time_of_peak, ()),
    "time_to_threshold": (time_to_threshold, ("threshold", "direction")),
    "value_at": (value_at, ("time",)),
}
#: Options a reducer cannot do without (``time_to_threshold`` needs ``threshold``, ...).
REQUIRED_OPTIONS: dict[str, tuple[str, ...]] = {"time_to_threshold": ("threshold",),
                                                "value_at": ("time",)}
_REQUIRED = REQUIRED_OPTIONS


# ---------------------------------------------------------------- metrics


@dataclass(frozen=True)
class Metric:
    """A named outcome computed from trajectories.

    Attributes
    ----------
    name : str
        Python identifier (a column of ``metrics.csv``).
    variables : tuple[str, ...]
        Vensim names of the outputs it reads (the runner must save them).
    description : str
        One line for tables and reports.
    units : str
        Units of the metric's values.
    compute : Callable[[Trajectories], numpy.ndarray]
        Returns ``(n_runs,)`` values.
    options : Mapping[str, Any]
        How a user metric was defined (reducer and its options), for the resolved spec.
    """

    name: str
    variables: tuple[str, ...]
    description: str
    units: str
    compute: Callable[[Trajectories], np.ndarray] = field(repr=False)
    options: Mapping[str, Any] = field(default_factory=dict)

    def __call__(self, data: Trajectories) -> np.ndarray:
        """Values of the metric, one per run."""
        return np.asarray(self.compute(data), dtype=float)


def formed_threshold(number_of_firms: np.ndarray) -> np.ndarray:
    """Members a network needs to count as existing: ``max(3, 5% of firms)`` (model.md BR1)."""
    return np.maximum(SUSTAINED_MIN_FIRMS, SUSTAINED_MIN_SHARE * np.asarray(number_of_firms))


def _members_at_end_and_later(data: Trajectories) -> tuple[np.ndarray, np.ndarray]:
    members = data[TOTAL_MEMBERS]
    at_end = value_at(members, data.times, time=data.push_end)
    later = value_at(members, data.times, time=data.push_end + PERSISTENCE_LAG)
    return at_end, later


def _members_share(data: Trajectories) -> np.ndarray:
    return final(data[TOTAL_MEMBERS], data.times) / np.asarray(data.number_of_firms, float)


def _persistence(data: Trajectories) -> np.ndarray:
    at_end, later = _members_at_end_and_later(data)
    return later / np.maximum(at_end, formed_threshold(data.number_of_firms))


def _embeddedness(data: Trajectories) -> np.ndarray:
    return final(data[EMBEDDEDNESS], data.times)


def _sustained(data: Trajectories) -> np.ndarray:
    _, later = _members_at_end_and_later(data)
    ok = (_persistence(data) >= SUSTAINED_PERSISTENCE) & (
        later >= formed_threshold(data.number_of_firms)
    )
    return ok.astype(float)


def _alive(data: Trajectories) -> np.ndarray:
    _, later = _members_at_end_and_later(data)
    return (later >= formed_threshold(data.number_of_firms)).astype(float)


def _time_to_collapse(data: Trajectories) -> np.ndarray:
    members, times = data[TOTAL_MEMBERS], np.asarray(data.times, float)
    threshold = formed_threshold(data.number_of_firms)[:, None]
    after = times[None, :] >= np.asarray(data.push_end, float)[:, None]
    below = (members < threshold) & after
    at_end = value_at(members, times, time=data.push_end)
    horizon = times[-1] - np.asarray(data.push_end, float)
    first = np.where(below.any(axis=1), times[below.argmax(axis=1)] - data.push_end, horizon)
    result = np.where(at_end < threshold[:, 0], 0.0, first)
    return np.maximum(result, 0.0)


def _cost_per_member_year(data: Trajectories) -> np.ndarray:
    members, times = data[TOTAL_MEMBERS], np.asarray(data.times, float)
    spending = final(data[SPENDING], times)
    # member-years after the push ends: the whole integral minus the part before the end
    from scipy.integrate import cumulative_trapezoid

    cumulative = cumulative_trapezoid(members, times, axis=1, initial=0.0)
    end = np.clip(np.asarray(data.push_end, float), times[0], times[-1])
    lower = np.clip(np.searchsorted(times, end, side="right") - 1, 0, times.size - 1)
    rows = np.arange(members.shape[0])
    at_end = value_at(members, times, time=end)
    before = cumulative[rows, lower] + (end - times[lower]) * (members[rows, lower] + at_end) / 2
    member_years = np.maximum(cumulative[:, -1] - before, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(member_years > 0, spending / np.where(member_years > 0,
                                                              member_years, 1.0), np.inf)


BUILTIN: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("members_share", (TOTAL_MEMBERS,),
               "members at the horizon as a share of firms", "dmnl", _members_share),
        Metric("persistence_after_push", (TOTAL_MEMBERS,),
               "members 10 years after the push ends / members when it ended", "dmnl",
               _persistence),
        Metric("embeddedness", (EMBEDDEDNESS,), "embeddedness at the horizon", "dmnl",
               _embeddedness),
        Metric("sustained", (TOTAL_MEMBERS,),
               "1 if persistence >= 0.6 and members >= max(3, 5% of firms) 10 years after "
               "the push ends", "dmnl", _sustained),
        Metric("alive_after_push", (TOTAL_MEMBERS,),
               "1 if members >= max(3, 5% of firms) 10 years after the push ends", "dmnl",
               _alive),
        Metric("time_to_collapse", (TOTAL_MEMBERS,),
               "years from the push's end until members fall below max(3, 5% of firms) "
               "(censored at the horizon)", "Year", _time_to_collapse),
        Metric("cost_per_member_year", (TOTAL_MEMBERS, SPENDING),
               "public spending per member-year after the push ends", "$/(firm*Year)",
               _cost_per_member_year),
    )
}


def user_metric(
    name: str, *, variable: str, reducer: str, units: str = "", **options: Any
) -> Metric:
    """A metric that applies a named reducer to one model output.

    Parameters
    ----------
    name : str
        The metric's name (a Python identifier).
    variable : str
        Vensim name of the output (a subscripted one by element, ``Members[Micro]``).
    reducer : str
        A key of :data:`REDUCERS`: ``final``, ``mean`` (options ``start``, ``end``, Year),
        ``peak``, ``time_of_peak``, ``time_to_threshold`` (``threshold``, ``direction``) or
        ``value_at`` (``time``, Year).
    units : str
        Units of the result (the output's units for values, Year for times).
    **options
        The reducer's options.

    Raises
    ------
    InvalidValueError
        If the reducer is unknown or its options are wrong.
    """
    if reducer not in REDUCERS:
        raise InvalidValueError("reducer", reducer, expected="one of " + ", ".join(REDUCERS))
    function, allowed = REDUCERS[reducer]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise InvalidValueError(
            "options", unknown,
            expected=f"options of {reducer!r}: {', '.join(allowed) or 'none'}",
        )
    missing = [k for k in _REQUIRED.get(reducer, ()) if k not in options]
    if missing:
        raise InvalidValueError(
            "options", sorted(options), expected=f"{reducer!r} needs {', '.join(missing)}"
        )

    def compute(data: Trajectories) -> np.ndarray:
        return function(data[variable], data.times, **options)

    described = f"{reducer} of {variable}" + (
        " (" + ", ".join(f"{k}={v}" for k, v in options.items()) + ")" if options else ""
    )
    return Metric(name, (variable,), described, units, compute,
                  {"variable": variable, "reducer": reducer, **options,
                   **({"units": units} if units else {})})
