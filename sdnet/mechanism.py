"""What keeps a package's successes alive: shares of a whole and states, read after the push.

A headline success rate can come from an artefact (issue 13 found networks kept alive by the
fees of members who lose money on membership). A model card's ``[mechanism]``
(:class:`sdnet.card.Mechanism`) names the parts of a whole that explain a success (for flexnet
the network's income: member fees, local sponsors, public money) and the states worth
summarising (trust, embeddedness, members' perceived net value). This module reads them
``after_push`` after the push ends in every run (:func:`mechanism_values`), summarises them
over the worlds where each package succeeds, per region (:func:`summarise_mechanism`), and
says which of the card's cautions hold on those medians (:func:`mechanism_cautions`). Pure
functions, no model knowledge; a package study writes ``analyses/mechanisms.csv`` and its
report shows them under "What keeps the successes alive".
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from sdnet.card import Mechanism, MechanismState
from sdnet.metrics import Trajectories, value_at

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["QUANTILES", "mechanism_cautions", "mechanism_values", "summarise_mechanism"]

#: The range a summary gives beside the median: the 10th and 90th percentiles.
QUANTILES = (0.1, 0.9)
_OPERATORS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_COMBINE = {"mean": np.mean, "min": np.min, "max": np.max}


def mechanism_values(mechanism: Mechanism, data: Trajectories) -> dict[str, np.ndarray]:
    """Every run's shares and states, ``after_push`` after its push ends.

    Parameters
    ----------
    mechanism : Mechanism
        From a model card's ``[mechanism]``.
    data : Trajectories
        The runs' outputs (every variable the mechanism reads) and each run's push end. A time
        past the horizon is read at the horizon.

    Returns
    -------
    dict[str, numpy.ndarray]
        Share or state name -> ``(n_runs,)`` values. A share is its variables' sum over the
        sum of every share's variables; NaN where that total is not positive or not finite
        (no whole to split). Each run's shares sum to 1 where defined. A state with
        ``change_over`` is its relative change over that time (value then / value now - 1),
        NaN where the value now is not positive or "then" is past the horizon (never read at
        the horizon instead: a shorter change would pass for the one asked).
    """
    at = data.schedule_end() + mechanism.after_push

    def read(name: str, later: float = 0.0) -> np.ndarray:
        return value_at(data[name], data.times, time=at + later)

    parts = {share.name: sum((read(v) for v in share.variables), np.zeros(data.n_runs))
             for share in mechanism.shares}
    total = sum(parts.values(), np.zeros(data.n_runs))
    defined = np.isfinite(total) & (total > 0)
    safe = np.where(defined, total, 1.0)
    values = {name: np.where(defined, part / safe, np.nan) for name, part in parts.items()}
    for state in mechanism.states:
        values[state.name] = _state(state, read)
        if state.change_over > 0:
            now = values[state.name]
            then = _state(state, lambda name, s=state: read(name, s.change_over))
            inside = (at + state.change_over <= float(np.asarray(data.times)[-1]) + 1e-9)
            defined = inside & np.isfinite(now) & (now > 0) & np.isfinite(then)
            values[state.name] = np.where(defined, then / np.where(defined, now, 1.0) - 1.0,
                                          np.nan)
    return values


def _state(state: MechanismState, read: Callable[[str], np.ndarray]) -> np.ndarray:
    """A state's value from its variables (one, or their mean, min or max)."""
    stacked = np.stack([read(v) for v in state.variables])
    return stacked[0] if len(stacked) == 1 else _COMBINE[state.combine](stacked, axis=0)


def summarise_mechanism(mechanism: Mechanism, values: pd.DataFrame, *,
                        success: str = "success",
                        by: Sequence[str] = ("region", "package")) -> pd.DataFrame:
    """Per group (region and package), the shares and states over the runs that succeed.

    Parameters
    ----------
    mechanism : Mechanism
        The card's ``[mechanism]`` (its shares and states, in order).
    values : pandas.DataFrame
        One row per run: the ``by`` columns, ``success`` (1/True for a success; 0, False or
        NaN otherwise) and a column per share and state (:func:`mechanism_values`).
    success : str
        The column that says which runs succeed.
    by : Sequence[str]
        The columns that make a group.

    Returns
    -------
    pandas.DataFrame
        One row per group and share or state, in the groups' order of appearance: the ``by``
        columns, ``successes`` (runs that succeed), ``kind`` (``"share"`` or ``"state"``),
        ``name``, ``units``, ``runs`` (successes where the value is defined), ``mean``,
        ``median``, ``low`` and ``high`` (10th and 90th percentiles). A group without a
        success has one row per share and state with ``runs`` 0 and NaN values. The means of
        a group's shares sum to 1 (each run's do).
    """
    import pandas as pd

    kinds = [("share", s.name, "dmnl") for s in mechanism.shares]
    kinds += [("state", s.name, s.units) for s in mechanism.states]
    won = pd.to_numeric(values[success], errors="coerce").fillna(0).to_numpy() >= 0.5
    rows: list[dict[str, Any]] = []
    for key, part in values.groupby(list(by), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        chosen = part[won[values.index.get_indexer(part.index)]]
        shares_ok = np.ones(len(chosen), dtype=bool)
        for share in mechanism.shares:  # a run's shares are all defined or none is
            shares_ok &= np.isfinite(chosen[share.name].to_numpy(dtype=float))
        for kind, name, units in kinds:
            column = chosen[name].to_numpy(dtype=float)
            column = column[shares_ok] if kind == "share" else column[np.isfinite(column)]
            row: dict[str, Any] = dict(zip(by, key, strict=True))
            row.update(successes=len(chosen), kind=kind, name=name, units=units,
                       runs=int(column.size))
            if column.size:
                low, median, high = np.quantile(column, (QUANTILES[0], 0.5, QUANTILES[1]))
                row.update(mean=float(column.mean()), median=float(median), low=float(low),
                           high=float(high))
            else:
                row.update(mean=np.nan, median=np.nan, low=np.nan, high=np.nan)
            rows.append(row)
    columns = [*by, "successes", "kind", "name", "units", "runs", "mean", "median", "low",
               "high"]
    return pd.DataFrame(rows, columns=columns)


def mechanism_cautions(mechanism: Mechanism, summary: pd.DataFrame, *,
                       by: Sequence[str] = ("region", "package")) -> list[dict[str, Any]]:
    """The card's cautions that hold on a group's medians (:func:`summarise_mechanism`).

    Returns
    -------
    list[dict]
        One record per group and caution whose every condition holds on the group's
        medians: the ``by`` values, ``plain``, ``conditions`` (as written) and ``medians``
        (per condition: ``name``, ``kind``, ``units`` and ``median``). A group without
        successes is never cautioned.
    """
    found: list[dict[str, Any]] = []
    for key, part in summary.groupby(list(by), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        rows = {str(r["name"]): r for _, r in part.iterrows()}
        for caution in mechanism.cautions:
            read = [rows.get(c.variables[0]) for c in caution.when]
            values = [np.nan if r is None else float(r["median"]) for r in read]
            if all(np.isfinite(v) and _OPERATORS[c.op](v, c.value)
                   for v, c in zip(values, caution.when, strict=True)):
                found.append({**dict(zip(by, key, strict=True)), "plain": caution.plain,
                              "conditions": [c.text for c in caution.when],
                              "medians": [{"name": c.variables[0], "kind": str(r["kind"]),
                                           "units": str(r["units"]), "median": v}
                                          for c, r, v in zip(caution.when, read, values,
                                                             strict=True)]})
    return found
