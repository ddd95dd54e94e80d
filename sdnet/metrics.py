"""Metrics: pure reducers of simulated trajectories to one number per run.

A *reducer* turns an ``(n_runs, n_time)`` array of one output plus the saved ``times`` into an
``(n_runs,)`` array (final value, mean over a window, peak, ...). A :class:`Metric` names the
outputs it needs and computes its values from a :class:`Trajectories` bundle, which also carries
what differs per run besides the outputs: the time the model card's push schedule ends (its
timing can be a factor) and the constants a metric reads per run (a population for shares).

This module knows no model: which outcomes a model has comes from its card's ``[[outcomes]]``
(:func:`outcome_metric`). Besides the plain reducers of :data:`REDUCERS`, *schedule reducers*
(:data:`SCHEDULE_REDUCERS`) read a variable relative to the end of the push schedule (start +
duration + taper); with ``population`` the constant shares are of:

``share``
    The variable at the horizon as a share of ``population`` (dmnl).
``persistence_after``
    The variable ``lag`` (default 10) years after the schedule ends over its value when it
    ended. A time past the horizon is read at the horizon (choose ``final_time >= end + lag``).
    The denominator is at least the *formed* size ``max(3, 5% of population)``: a ratio of two
    near-zero values says nothing, so an outcome that never formed has persistence near 0, and
    one that forms only after the schedule can exceed 1 (model.md BR1).
``sustained_after``
    1.0 when ``lag`` years after the end both persistence >= 0.6 (model.md BR2) and the
    variable >= ``max(3, 5% of population)`` hold, else 0.0.
``alive_after``
    1.0 when ``lag`` years after the end the variable is still at least ``max(3, 5% of
    population)``, else 0.0 (BR8's long-run test: monotone in the schedule's duration, so the
    threshold search bisects on it).
``time_to_collapse``
    Years from the end until the variable first falls below ``max(3, 5% of population)``; 0
    when it was already below it at the end, censored at the horizon when it never falls.
``formed_by_end``
    1.0 when the variable reached ``max(3, 5% of population)`` by the end (a network formed
    during the push), else 0.0.
``survived_after``
    1.0 when it formed by the end and is still at least that size ``lag`` years after it.
``survivors_after``
    The variable ``lag`` years after the end in runs that survived, else 0 (surviving member
    firms: summed over runs, a denominator that is never tiny).
``cost_per_unit_time_after``
    The ``cost`` variable at the horizon divided by the integral of the variable after the end
    (for flexnet: public spending per member-year); ``inf`` when the integral is 0. Meant for
    reporting; analyses skip metrics with non-finite values.

User metrics apply a reducer to one model output (:func:`user_metric`), chosen by name in an
experiment file or a card: no strings are evaluated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from sdnet.card import ModelCard
from sdnet.errors import CardError, InvalidValueError, UnknownVariableError
from sdnet.params import python_name

__all__ = [
    "REDUCERS",
    "SCHEDULE_REDUCERS",
    "SUSTAINED_MIN_SHARE",
    "SUSTAINED_PERSISTENCE",
    "Metric",
    "Trajectories",
    "card_metrics",
    "final",
    "formed_threshold",
    "mean_over",
    "outcome_metric",
    "peak",
    "ratio_totals",
    "time_of_peak",
    "time_to_threshold",
    "user_metric",
    "value_at",
]

#: Years after the push schedule ends at which persistence is measured (model.md BR2/BR3).
PERSISTENCE_LAG = 10.0
#: Persistence a sustained outcome needs (model.md BR2: of a network's members).
SUSTAINED_PERSISTENCE = 0.6
#: An outcome "exists" at max(3, this share of the population) (model.md BR1: members of firms).
SUSTAINED_MIN_SHARE = 0.05
SUSTAINED_MIN_FIRMS = 3.0



@dataclass(frozen=True, eq=False)
class Trajectories:
    """What metrics are computed from: saved outputs of ``n_runs`` runs.

    Attributes
    ----------
    times : numpy.ndarray
        ``(n_time,)`` saved times (model time units), increasing.
    outputs : Mapping[str, numpy.ndarray]
        Vensim output name -> ``(n_runs, n_time)`` values.
    push_end : numpy.ndarray or None
        ``(n_runs,)`` time the card's push schedule ends in each run; None when the model has
        no push schedule (schedule reducers then refuse to run).
    constants : Mapping[str, numpy.ndarray]
        Python name of a constant -> ``(n_runs,)`` its value in each run (what schedule
        reducers read as ``population``).
    """

    times: np.ndarray
    outputs: Mapping[str, np.ndarray]
    push_end: np.ndarray | None = None
    constants: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return np.asarray(self.outputs[name], dtype=float)
        except KeyError:
            raise UnknownVariableError(
                name, candidates=list(self.outputs), what="output", where="the trajectories"
            ) from None

    def constant(self, name: str) -> np.ndarray:
        """A constant's value in every run (either spelling of its name)."""
        key = python_name(name)
        if key not in self.constants:
            raise UnknownVariableError(
                name, candidates=list(self.constants), what="constant",
                where="the trajectories",
            )
        return np.asarray(self.constants[key], dtype=float)

    def schedule_end(self) -> np.ndarray:
        """When the push schedule ends in each run; an error without a schedule."""
        if self.push_end is None:
            raise InvalidValueError(
                "push_end", None,
                expected="a push schedule (the model card's [[schedules]]) for a metric that "
                "reads the time after it ends",
            )
        return np.asarray(self.push_end, dtype=float)

    @property
    def n_runs(self) -> int:
        """Number of runs."""
        first = next(iter(self.outputs.values()), None)
        if first is not None:
            return int(np.asarray(first).shape[0])
        return 0 if self.push_end is None else int(np.asarray(self.push_end).shape[0])


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


def integral(values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """The integral over the whole run (trapezoid rule; units of the value times Year): for
    members, member-years."""
    return np.trapezoid(np.asarray(values, dtype=float), np.asarray(times, dtype=float),
                        axis=1)


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
    "integral": (integral, ()),
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
    constants : tuple[str, ...]
        Python names of the constants it reads per run (:attr:`Trajectories.constants`).
    after_schedule : bool
        True when it reads the time after the push schedule ends (the model needs one).
    from_card : bool
        True for an outcome of the model's card (a study names it only by name).
    """

    name: str
    variables: tuple[str, ...]
    description: str
    units: str
    compute: Callable[[Trajectories], np.ndarray] = field(repr=False)
    options: Mapping[str, Any] = field(default_factory=dict)
    constants: tuple[str, ...] = ()
    after_schedule: bool = False
    from_card: bool = False

    def __call__(self, data: Trajectories) -> np.ndarray:
        """Values of the metric, one per run."""
        return np.asarray(self.compute(data), dtype=float)


def formed_threshold(population: np.ndarray) -> np.ndarray:
    """The size an outcome needs to count as formed: ``max(3, 5% of population)`` (model.md
    BR1: for flexnet, members of a network of firms)."""
    return np.maximum(SUSTAINED_MIN_FIRMS, SUSTAINED_MIN_SHARE * np.asarray(population))


def _at_end_and_later(data: Trajectories, variable: str,
                      lag: float) -> tuple[np.ndarray, np.ndarray]:
    values, end = data[variable], data.schedule_end()
    return (value_at(values, data.times, time=end),
            value_at(values, data.times, time=end + lag))


def share(data: Trajectories, variable: str, *, population: str) -> np.ndarray:
    """The variable at the horizon over the constant ``population``."""
    return final(data[variable], data.times) / data.constant(population)


def persistence_after(data: Trajectories, variable: str, *, population: str,
                      lag: float = PERSISTENCE_LAG) -> np.ndarray:
    """The variable ``lag`` years after the schedule ends over its value when it ended
    (the denominator at least the formed size)."""
    at_end, later = _at_end_and_later(data, variable, lag)
    return later / np.maximum(at_end, formed_threshold(data.constant(population)))


def sustained_after(data: Trajectories, variable: str, *, population: str,
                    lag: float = PERSISTENCE_LAG) -> np.ndarray:
    """1.0 when persistence >= 0.6 and the variable is at least the formed size ``lag`` years
    after the schedule ends (model.md BR1, BR2), else 0.0."""
    _, later = _at_end_and_later(data, variable, lag)
    persistence = persistence_after(data, variable, population=population, lag=lag)
    ok = (persistence >= SUSTAINED_PERSISTENCE) & (
        later >= formed_threshold(data.constant(population)))
    return ok.astype(float)


def alive_after(data: Trajectories, variable: str, *, population: str,
                lag: float = PERSISTENCE_LAG) -> np.ndarray:
    """1.0 when the variable is at least the formed size ``lag`` years after the end."""
    _, later = _at_end_and_later(data, variable, lag)
    return (later >= formed_threshold(data.constant(population))).astype(float)


def formed_by_end(data: Trajectories, variable: str, *, population: str) -> np.ndarray:
    """1.0 when the variable reached the formed size at some saved time up to the schedule's
    end (for flexnet: a network formed during the push), else 0.0."""
    values, times = data[variable], np.asarray(data.times, float)
    end = data.schedule_end()
    during = times[None, :] <= end[:, None]
    peak_during = np.where(during, values, -np.inf).max(axis=1)
    peak_during = np.maximum(peak_during, value_at(values, times, time=end))
    return (peak_during >= formed_threshold(data.constant(population))).astype(float)


def survived_after(data: Trajectories, variable: str, *, population: str,
                   lag: float = PERSISTENCE_LAG) -> np.ndarray:
    """1.0 when the variable formed by the schedule's end (:func:`formed_by_end`) and is
    still at least the formed size ``lag`` years after it, else 0.0."""
    return formed_by_end(data, variable, population=population) * alive_after(
        data, variable, population=population, lag=lag)


def survivors_after(data: Trajectories, variable: str, *, population: str,
                    lag: float = PERSISTENCE_LAG) -> np.ndarray:
    """The variable ``lag`` years after the schedule's end in runs where it
    :func:`survived_after`, else 0 (for flexnet: surviving member firms). Summed over runs it
    is the denominator of a cost per survivor that is never tiny: each surviving run adds at
    least the formed size."""
    _, later = _at_end_and_later(data, variable, lag)
    return np.where(survived_after(data, variable, population=population, lag=lag) > 0,
                    later, 0.0)


def time_to_collapse(data: Trajectories, variable: str, *, population: str) -> np.ndarray:
    """Years from the schedule's end until the variable falls below the formed size."""
    values, times = data[variable], np.asarray(data.times, float)
    end = data.schedule_end()
    threshold = formed_threshold(data.constant(population))[:, None]
    after = times[None, :] >= end[:, None]
    below = (values < threshold) & after
    at_end = value_at(values, times, time=end)
    horizon = times[-1] - end
    first = np.where(below.any(axis=1), times[below.argmax(axis=1)] - end, horizon)
    result = np.where(at_end < threshold[:, 0], 0.0, first)
    return np.maximum(result, 0.0)


def cost_per_unit_time_after(data: Trajectories, variable: str, *, cost: str) -> np.ndarray:
    """The ``cost`` output at the horizon over the integral of the variable after the end."""
    values, times = data[variable], np.asarray(data.times, float)
    spending = final(data[cost], times)
    # the integral after the end: the whole integral minus the part before the end
    from scipy.integrate import cumulative_trapezoid

    cumulative = cumulative_trapezoid(values, times, axis=1, initial=0.0)
    end = np.clip(data.schedule_end(), times[0], times[-1])
    lower = np.clip(np.searchsorted(times, end, side="right") - 1, 0, times.size - 1)
    rows = np.arange(values.shape[0])
    at_end = value_at(values, times, time=end)
    before = cumulative[rows, lower] + (end - times[lower]) * (values[rows, lower] + at_end) / 2
    amount = np.maximum(cumulative[:, -1] - before, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(amount > 0, spending / np.where(amount > 0, amount, 1.0), np.inf)


#: Schedule reducer name -> (function of (data, variable, **options), names of its options).
#: Used by the ``[[outcomes]]`` of model cards.
SCHEDULE_REDUCERS: dict[str, tuple[Callable[..., np.ndarray], tuple[str, ...]]] = {
    "share": (share, ("population",)),
    "persistence_after": (persistence_after, ("population", "lag")),
    "sustained_after": (sustained_after, ("population", "lag")),
    "alive_after": (alive_after, ("population", "lag")),
    "time_to_collapse": (time_to_collapse, ("population",)),
    "formed_by_end": (formed_by_end, ("population",)),
    "survived_after": (survived_after, ("population", "lag")),
    "survivors_after": (survivors_after, ("population", "lag")),
    "cost_per_unit_time_after": (cost_per_unit_time_after, ("cost",)),
}
_SCHEDULE_REQUIRED = {"share": ("population",), "persistence_after": ("population",),
                      "sustained_after": ("population",), "alive_after": ("population",),
                      "time_to_collapse": ("population",),
                      "formed_by_end": ("population",), "survived_after": ("population",),
                      "survivors_after": ("population",),
                      "cost_per_unit_time_after": ("cost",)}
#: Schedule reducers that read the time after the push schedule ends.
AFTER_SCHEDULE = ("persistence_after", "sustained_after", "alive_after", "time_to_collapse",
                  "survived_after", "survivors_after",
                  "cost_per_unit_time_after")


def ratio_totals(numerator: np.ndarray, denominator: np.ndarray) -> dict[str, float | None]:
    """Totals of two outcomes over runs and their ratio: ``{"numerator", "denominator",
    "value"}``, ``value`` None when the denominator's total is zero (for flexnet: public
    money per surviving member firm is None where no network survived, never a huge number).

    Runs with a non-finite value in either outcome (failed runs) are left out of both totals.
    """
    numerator = np.asarray(numerator, dtype=float)
    denominator = np.asarray(denominator, dtype=float)
    keep = np.isfinite(numerator) & np.isfinite(denominator)
    top, bottom = float(numerator[keep].sum()), float(denominator[keep].sum())
    return {"numerator": top, "denominator": bottom,
            "value": top / bottom if bottom > 0 else None}


def outcome_metric(
    name: str, *, variable: str, reducer: str, units: str = "", description: str = "",
    **options: Any,
) -> Metric:
    """The metric of a card's outcome: a plain reducer (:func:`user_metric`) or a schedule
    reducer (:data:`SCHEDULE_REDUCERS`) of one model output.

    Raises
    ------
    InvalidValueError
        If the reducer is unknown or its options are wrong.
    """
    if reducer in REDUCERS:
        metric = user_metric(name, variable=variable, reducer=reducer, units=units, **options)
        return Metric(name, metric.variables, description or metric.description, units,
                      metric.compute, metric.options)
    if reducer not in SCHEDULE_REDUCERS:
        raise InvalidValueError(
            "reducer", reducer,
            expected="one of " + ", ".join([*REDUCERS, *SCHEDULE_REDUCERS]))
    function, allowed = SCHEDULE_REDUCERS[reducer]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise InvalidValueError(
            "options", unknown, expected=f"options of {reducer!r}: {', '.join(allowed)}")
    missing = [k for k in _SCHEDULE_REQUIRED[reducer] if k not in options]
    if missing:
        raise InvalidValueError(
            "options", sorted(options), expected=f"{reducer!r} needs {', '.join(missing)}")

    def compute(data: Trajectories) -> np.ndarray:
        return function(data, variable, **options)

    outputs = (variable, *([str(options["cost"])] if "cost" in options else []))
    constants = (python_name(str(options["population"])),) if "population" in options else ()
    return Metric(name, outputs, description or f"{reducer} of {variable}", units, compute,
                  {"variable": variable, "reducer": reducer, **options,
                   **({"units": units} if units else {})},
                  constants=constants, after_schedule=reducer in AFTER_SCHEDULE)


def card_metrics(card: ModelCard) -> dict[str, Metric]:
    """The metrics of a model card's ``[[outcomes]]``, by name, in the card's order.

    Raises
    ------
    CardError
        Naming the card file and the outcome's key when its reducer or options are wrong.
    """
    metrics: dict[str, Metric] = {}
    for index, outcome in enumerate(card.outcomes.values()):
        try:
            metrics[outcome.name] = replace(outcome_metric(
                outcome.name, variable=outcome.variable, reducer=outcome.reducer,
                units=outcome.units, description=outcome.plain, **dict(outcome.options)),
                from_card=True)
        except InvalidValueError as error:
            raise CardError(str(error), path=card.path, key=f"outcomes[{index}]",
                            value=outcome.reducer) from None
    return metrics


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
        ``peak``, ``time_of_peak``, ``integral`` (over the run: member-years of members),
        ``time_to_threshold`` (``threshold``, ``direction``) or
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
