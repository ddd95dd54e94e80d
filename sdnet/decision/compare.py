"""Comparing policy packages over the same worlds: success rates, cost per success, regret and
satisficing robustness (pure functions over tables; nothing here runs a model).

The input is the tidy table :func:`sdnet.decision.evaluate_packages` returns (one row per
region, package and world). Definitions, per region and package, over its worlds:

* **success rate**: share of worlds where the success outcome is at least ``at_least``, with
  a Wilson score interval (:func:`success_interval`, scipy.stats.binomtest);
* **public cost per success**: the package's public money summed over the worlds divided by
  its successes (:func:`cost_per_success`); None, with the reason, when there are fewer than
  ``min_successes`` successes, never a ratio over a tiny denominator. Its interval divides the
  same total by the successes at the ends of the success rate's interval;
* **regret**: in each world, how far the package falls short of the best package *in that
  world*; on success (:func:`regret`: 1 where another package succeeds and this one fails)
  and on public cost (:func:`cost_regret`: in a world where the package succeeds, the public
  money it spends beyond the cheapest package that also succeeds there; a package that
  spends nothing and never succeeds has no cost regret, only success regret); the mean and
  the maximum (minimax regret) over worlds;
* **satisficing robustness** (:func:`satisficing`): share of worlds where the package meets
  every condition (``"surviving_members_10 >= 10"``, ``"public_money <= 2e6"``), the domain
  criterion of robust decision making (Lempert, Popper and Bankes 2003; Starr 1963).

References
----------
Lempert, R. J., Popper, S. W. and Bankes, S. C. (2003). Shaping the Next One Hundred Years.
RAND MR-1626. Wilson, E. B. (1927). Probable inference, the law of succession, and
statistical inference. JASA 22(158), 209-212.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np

from sdnet.errors import InvalidValueError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MIN_SUCCESSES",
    "Condition",
    "compare_packages",
    "cost_per_success",
    "cost_regret",
    "parse_condition",
    "regret",
    "satisficing",
    "success_interval",
]

#: Fewest successes for a point value of public cost per success: with 5 successes in 500
#: worlds the 95% Wilson interval of the rate is 0.004-0.023, so the cost per success is
#: known only within a factor of about five; with fewer, only its interval is reported.
MIN_SUCCESSES = 5

_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}
_CONDITION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|>|<)\s*(\S+)\s*$")


@dataclass(frozen=True)
class Condition:
    """``outcome op value``: one satisficing threshold on an outcome of the comparison."""

    outcome: str
    op: str
    value: float

    def holds(self, values: np.ndarray) -> np.ndarray:
        """Where the condition holds (False where the value is missing)."""
        values = np.asarray(values, dtype=float)
        with np.errstate(invalid="ignore"):
            return np.isfinite(values) & _OPERATORS[self.op](values, self.value)

    def __str__(self) -> str:
        return f"{self.outcome} {self.op} {self.value:g}"


def parse_condition(text: str) -> Condition:
    """``"surviving_members_10 >= 10"`` -> :class:`Condition`.

    Raises
    ------
    InvalidValueError
        Not of the form ``name op number`` with op one of >=, <=, >, <.
    """
    match = _CONDITION.match(text) if isinstance(text, str) else None
    value = None
    if match:
        try:
            value = float(match.group(3))
        except ValueError:
            value = None
    if match is None or value is None or not math.isfinite(value):
        raise InvalidValueError("condition", text,
                                expected="'outcome op number' with op one of >=, <=, >, <, "
                                "e.g. 'surviving_members_10 >= 10'")
    return Condition(match.group(1), match.group(2), value)


def success_interval(successes: int, trials: int, *, confidence: float = 0.95
                     ) -> tuple[float, float]:
    """Wilson score interval of a success rate.

    Wilson's interval keeps its coverage near the nominal level at rates near 0 or 1 and
    small samples, where the normal approximation's does not (Brown, Cai and DasGupta 2001).
    Written out from its closed form with the standard library's normal quantile
    (:class:`statistics.NormalDist`): the same numbers as
    ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")`` (the tests check it),
    without binomtest's p-value (70 ms a call) or importing scipy.stats, which matters when
    an optimiser compares thousands of packages.

    Raises
    ------
    InvalidValueError
        Counts that are not integers with 0 <= successes <= trials, trials >= 1, or a
        confidence outside (0, 1).
    """
    for name, value in (("successes", successes), ("trials", trials)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise InvalidValueError(name, value, expected="an integer")
    if trials < 1 or not 0 <= successes <= trials:
        raise InvalidValueError("successes", successes,
                                expected=f"an integer in [0, trials] with trials >= 1 "
                                f"(trials = {trials})")
    if not 0 < confidence < 1:
        raise InvalidValueError("confidence", confidence, expected="a number in (0, 1)")
    n, p = float(trials), successes / trials
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


def cost_per_success(total_cost: float, successes: int, trials: int, *,
                     confidence: float = 0.95, min_successes: int = MIN_SUCCESSES
                     ) -> dict[str, Any]:
    """Public money per success, with an interval from the success rate's.

    Returns
    -------
    dict
        ``value`` (None when there are fewer than ``min_successes`` successes), ``low`` and
        ``high`` (``total / (trials * rate)`` at the ends of the rate's Wilson interval;
        ``high`` None when the interval reaches 0) and ``note``: why a value is missing, or
        "".
    """
    if isinstance(min_successes, bool) or not isinstance(min_successes, int) \
            or min_successes < 1:
        raise InvalidValueError("min_successes", min_successes, expected="an integer >= 1")
    total = float(total_cost)
    low_rate, high_rate = success_interval(successes, trials, confidence=confidence)
    low = total / (trials * high_rate) if high_rate > 0 else None
    high = total / (trials * low_rate) if low_rate > 0 else None
    if successes == 0:
        return {"value": None, "low": low, "high": None,
                "note": f"no success in {trials} worlds: undefined"}
    if successes < min_successes:
        return {"value": None, "low": low, "high": high,
                "note": f"only {successes} successes in {trials} worlds (fewer than "
                f"{min_successes}): too few for a value"}
    return {"value": total / successes, "low": low, "high": high, "note": ""}


def regret(values: np.ndarray, *, good: str = "higher") -> np.ndarray:
    """Regret of each package in each world against the best package in that world.

    Parameters
    ----------
    values : array (worlds, packages)
        An outcome of every package in every world.
    good : {"higher", "lower"}
        Which direction is better.

    Returns
    -------
    numpy.ndarray
        Same shape, >= 0: ``best_in_world - value`` (``value - best`` when lower is
        better); NaN in a world where any package's value is missing (a failed run: the
        best there is unknown).
    """
    matrix = np.asarray(values, dtype=float)
    if matrix.ndim != 2:
        raise InvalidValueError("values", matrix.shape, expected="a (worlds, packages) array")
    if good not in ("higher", "lower"):
        raise InvalidValueError("good", good, expected="'higher' or 'lower'")
    complete = np.isfinite(matrix).all(axis=1, keepdims=True)
    if good == "higher":
        result = np.max(matrix, axis=1, keepdims=True, initial=-np.inf, where=np.isfinite(
            matrix)) - matrix
    else:
        result = matrix - np.min(matrix, axis=1, keepdims=True, initial=np.inf,
                                 where=np.isfinite(matrix))
    return np.where(complete, result, np.nan)


def cost_regret(costs: np.ndarray, successes: np.ndarray) -> np.ndarray:
    """Public money a package spends beyond the cheapest package that also succeeds, per world.

    Parameters
    ----------
    costs, successes : arrays (worlds, packages)
        Public money and success (1/0) of every package in every world.

    Returns
    -------
    numpy.ndarray
        Same shape, >= 0 where the package succeeds: its cost minus the lowest cost among the
        packages succeeding in that world; NaN where it does not succeed (its shortfall is
        success regret) or a value is missing.
    """
    cost = np.asarray(costs, dtype=float)
    won = np.asarray(successes, dtype=float)
    if cost.ndim != 2 or cost.shape != won.shape:
        raise InvalidValueError("costs", cost.shape,
                                expected=f"a (worlds, packages) array shaped like successes "
                                f"{won.shape}")
    winning = (won == 1) & np.isfinite(cost)
    cheapest = np.min(cost, axis=1, keepdims=True, initial=np.inf, where=winning)
    return np.where(winning, cost - cheapest, np.nan)


def satisficing(table: pd.DataFrame, conditions: Sequence[Condition]) -> np.ndarray:
    """Where every condition holds, row by row (False where an outcome is missing).

    Raises
    ------
    InvalidValueError
        A condition names a column the table lacks.
    """
    ok = np.ones(len(table), dtype=bool)
    for condition in conditions:
        if condition.outcome not in table.columns:
            raise InvalidValueError("condition", str(condition),
                                    expected=f"an outcome of the table: "
                                    f"{', '.join(map(str, table.columns))}")
        ok &= condition.holds(table[condition.outcome].to_numpy(dtype=float))
    return ok


def compare_packages(
    table: pd.DataFrame, *, success: str, at_least: float = 0.5, cost: str | None = None,
    satisfice: Sequence[Condition | str] = (), confidence: float = 0.95,
    min_successes: int = MIN_SUCCESSES, labels: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Compare packages over the same worlds, per region.

    Parameters
    ----------
    table : pandas.DataFrame
        Tidy: ``region``, ``package``, ``world``, ``status`` ("ok" or "failed") and one
        column per outcome (what :func:`~sdnet.decision.evaluate_packages` returns).
    success : str
        The outcome that decides success; a world is a success where it is >= ``at_least``
        (default 0.5: a 0/1 outcome's 1).
    cost : str, optional
        The outcome giving public money per world (none: no cost columns).
    satisfice : sequence of Condition or str
        Conditions a package must meet in a world to count there (default: success).
    confidence : float, default 0.95
        Of the Wilson intervals.
    min_successes : int
        Fewest successes for a point value of cost per success (:data:`MIN_SUCCESSES`).
    labels : Mapping[str, str], optional
        Package name -> plain words.

    Returns
    -------
    (summary, worlds) : tuple of pandas.DataFrame
        ``summary``: one row per region and package (columns in docs/studies.md);
        ``worlds``: one row per region, package and world with ``success``, ``regret_success``,
        ``regret_cost`` and ``satisficed``.

    Raises
    ------
    InvalidValueError
        A missing column, a world missing for some package, or a bad condition.
    """
    import pandas as pd

    needed = ["region", "package", "world", "status", success, *([cost] if cost else [])]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise InvalidValueError("table", missing, expected=f"columns {', '.join(needed)}")
    conditions = [c if isinstance(c, Condition) else parse_condition(c) for c in satisfice]
    labels = dict(labels or {})
    frame = table.reset_index(drop=True)  # tables of several regions may repeat an index
    frame["region"] = frame["region"].fillna("default").astype(str)
    ok = (frame["status"] == "ok").to_numpy()
    values = frame[success].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        frame["success"] = np.where(ok & np.isfinite(values), values >= at_least, np.nan)
    met = satisficing(frame, conditions) if conditions else frame["success"].to_numpy() == 1
    frame["satisficed"] = np.where(ok, met, np.nan)
    frame["regret_success"] = np.nan
    frame["regret_cost"] = np.nan
    rows: list[dict[str, Any]] = []
    for region in dict.fromkeys(frame["region"]):
        part = frame[frame["region"] == region]
        packages = list(dict.fromkeys(part["package"]))
        worlds = sorted(set(part["world"]))
        counts = part.groupby("package")["world"].nunique()
        short = [p for p in packages if counts[p] != len(worlds)]
        if short:
            raise InvalidValueError("table", short, expected=f"every package in the same "
                                    f"{len(worlds)} worlds of region {region!r}")
        wide = part.pivot(index="world", columns="package", values="success").loc[
            worlds, packages]
        success_regret = regret(wide.to_numpy(dtype=float), good="higher")
        extra = None
        if cost:
            wide_cost = part.pivot(index="world", columns="package", values=cost).loc[
                worlds, packages]
            won = part.pivot(index="world", columns="package", values="success").loc[
                worlds, packages]
            extra = cost_regret(wide_cost.to_numpy(dtype=float), won.to_numpy(dtype=float))
        for j, package in enumerate(packages):
            index = part.index[part["package"] == package]
            by_world = pd.Series(success_regret[:, j], index=worlds)
            order = part.loc[index, "world"].to_numpy()
            frame.loc[index, "regret_success"] = by_world.loc[order].to_numpy()
            if extra is not None:
                frame.loc[index, "regret_cost"] = pd.Series(
                    extra[:, j], index=worlds).loc[order].to_numpy()
            rows.append(_summary_row(frame.loc[index], region, package, labels.get(
                package, package), cost=cost, confidence=confidence,
                min_successes=min_successes))
    summary = pd.DataFrame(rows)
    keep = ["region", "package", "world", "status", success, *([cost] if cost else []),
            *[c.outcome for c in conditions if c.outcome not in (success, cost)],
            "success", "satisficed", "regret_success", "regret_cost"]
    return summary, frame[list(dict.fromkeys(keep))].reset_index(drop=True)


def _summary_row(part: pd.DataFrame, region: str, package: str, label: str, *,
                 cost: str | None, confidence: float, min_successes: int) -> dict[str, Any]:
    """One region and package: counts, rate and interval, cost, regret, robustness."""
    ok = (part["status"] == "ok").to_numpy() & np.isfinite(part["success"].to_numpy(float))
    n = int(ok.sum())
    wins = int(part.loc[ok, "success"].sum())
    row: dict[str, Any] = {"region": region, "package": package, "label": label,
                           "worlds": n, "failed": int(len(part) - n), "successes": wins}
    if n:
        low, high = success_interval(wins, n, confidence=confidence)
        met = int(np.nansum(part.loc[ok, "satisficed"].to_numpy(float)))
        s_low, s_high = success_interval(met, n, confidence=confidence)
    else:
        low = high = s_low = s_high = math.nan
        met = 0
    row.update({"success_rate": wins / n if n else math.nan, "success_low": low,
                "success_high": high})
    if cost:
        costs = part.loc[ok, cost].to_numpy(dtype=float)
        total = float(np.nansum(costs))
        per = cost_per_success(total, wins, n, confidence=confidence,
                               min_successes=min_successes) if n else {
            "value": None, "low": None, "high": None, "note": "no finished run"}
        row.update({"public_cost_total": total,
                    "public_cost_mean": total / n if n else math.nan,
                    "cost_per_success": per["value"], "cost_per_success_low": per["low"],
                    "cost_per_success_high": per["high"], "cost_per_success_note":
                    per["note"]})
    regret_s = part["regret_success"].to_numpy(dtype=float)
    regret_c = part["regret_cost"].to_numpy(dtype=float)
    row.update({
        "regret_success_mean": _mean(regret_s), "regret_success_max": _max(regret_s),
        **({"regret_cost_mean": _mean(regret_c), "regret_cost_max": _max(regret_c)}
           if cost else {}),
        "satisficing": met / n if n else math.nan, "satisficing_low": s_low,
        "satisficing_high": s_high,
    })
    return row


def _mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else math.nan


def _max(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else math.nan
