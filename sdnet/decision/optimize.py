"""Robust optimisation: the cheapest policy package that succeeds in a required share of a
region's worlds, and the Pareto front of public cost against success rate (issue 13).

A *package* sets the decision variables (the push's amount, start, duration, taper and match,
and any other lever of the model) within bounds. It is judged in a region preset over the same
``N`` worlds (:mod:`sdnet.decision.worlds`): its *success rate* is the share of worlds in which
a 0/1 outcome of the model card is 1 (for flexnet ``survived_10``: a network formed during the
push and is alive ten years after it ends), its *public cost* the mean over the worlds of a cost
outcome of the card (``public_money``: the public money spent).

How the search copes with a step function
-----------------------------------------
Over ``N`` worlds the success rate moves in steps of ``1/N``: it has no gradient and is flat
between steps. So the search

* uses **common random numbers**: every candidate runs in the *same* ``N`` worlds, so two
  packages differ through the package only, never through a new draw of worlds, and a
  package's rate is a deterministic function of the package;
* uses **differential evolution** (:func:`scipy.optimize.differential_evolution`), which
  compares candidates by rank only, needs no gradient and keeps moving on flat regions; the
  gradient "polish" at the end is switched off;
* meets the constraint ``rate >= X`` by a **feasibility-first penalty** (Deb's rule): a
  feasible package scores its public cost; an infeasible one scores
  ``INFEASIBLE * (1 + X - rate)``, worse than any feasible package and better the closer its
  rate is to ``X``, so the population is pulled to feasibility before cost is traded off;
* runs each generation's whole population as **one ensemble** on the vector engine
  (candidates x worlds runs: ``vectorized=True`` with deferred updating).

The answer is the cheapest feasible package among *every* package evaluated (the optimiser's
own best is one of them). The search is deterministic for a seed: the worlds, the initial
population (a Latin hypercube) and the mutations all derive from it and the engine is
deterministic. The **Pareto front** of a region is the non-dominated set (lower cost, higher
success rate) of every package evaluated there, over all the required rates searched (an
epsilon-constraint sweep over ``X``).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sdnet import tomlcheck
from sdnet.errors import ExperimentError, SdnetError, UnknownPresetError, close_matches
from sdnet.metrics import Metric, card_metrics

if TYPE_CHECKING:
    import pandas as pd

    from sdnet.model import Model

__all__ = [
    "FLAG_REDUCERS",
    "INFEASIBLE",
    "DecisionVariable",
    "OptimizeResult",
    "OptimizeSpec",
    "Optimum",
    "draw_worlds",
    "evaluate_candidates",
    "optimize_package",
    "pareto_front",
    "parse_optimize",
]

#: The push fields a decision variable may name (the card's push schedule maps them to
#: constants).
PUSH_FIELDS = ("amount", "start", "duration", "taper", "match")
#: Keys of an ``[optimize]`` table.
KEYS = ("variables", "regions", "outcome", "cost", "rates", "worlds", "sets", "generations",
        "popsize", "seed")
#: Reducers of card outcomes that are 0/1 per run (what a success rate counts).
FLAG_REDUCERS = ("survived_after", "sustained_after", "alive_after", "formed_by_end")
#: The score of an infeasible package is this times (1 + shortfall): above any public cost.
INFEASIBLE = 1e30
#: Packages within this share of an optimum's cost count as near-optimal
#: (:meth:`OptimizeResult.near_optimal`).
NEAR_OPTIMAL = 0.05
#: What a study file's ``[optimize]`` gives when a key is absent.
DEFAULTS: Mapping[str, Any] = {"rates": [0.8], "worlds": 200, "generations": 20,
                               "popsize": 10}


@dataclass(frozen=True)
class DecisionVariable:
    """A constant the optimiser chooses, within ``[lower, upper]``.

    Attributes
    ----------
    name : str
        Python name of the model constant (``push_amount``).
    lower, upper : float
        Bounds (the constant's units), inside the range the model file declares.
    """

    name: str
    lower: float
    upper: float


@dataclass(frozen=True)
class OptimizeSpec:
    """A validated ``[optimize]`` table (build it with :func:`parse_optimize`).

    Attributes
    ----------
    variables : tuple[DecisionVariable, ...]
        What the optimiser chooses.
    regions : tuple[str or None, ...]
        Region presets searched one by one (None: the model file's values).
    outcome : str
        The 0/1 outcome of the card a success counts (e.g. ``survived_10``).
    cost : str
        The outcome of the card whose mean over the worlds is the public cost.
    rates : tuple[float, ...]
        Required success rates ``X``: one search each per region.
    worlds : int
        Worlds per candidate (the same worlds for every candidate).
    sets : Path or None
        The parameter-set file the worlds are drawn from (None: a Latin hypercube).
    generations, popsize : int
        Differential evolution's ``maxiter`` and ``popsize`` (population: popsize x number
        of variables).
    seed : int
        Seed of the worlds and the search.
    """

    variables: tuple[DecisionVariable, ...]
    regions: tuple[str | None, ...]
    outcome: str
    cost: str
    rates: tuple[float, ...]
    worlds: int
    sets: Path | None
    generations: int
    popsize: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        """The table in the study-file format (``spec.toml``)."""
        data: dict[str, Any] = {
            "variables": {v.name: [v.lower, v.upper] for v in self.variables},
            "regions": [r for r in self.regions if r is not None],
            "outcome": self.outcome, "cost": self.cost, "rates": list(self.rates),
            "worlds": self.worlds, "generations": self.generations,
            "popsize": self.popsize, "seed": self.seed}
        if self.sets is not None:
            data["sets"] = str(self.sets)
        if not data["regions"]:
            del data["regions"]
        return data


@dataclass(frozen=True)
class Optimum:
    """The cheapest package found for one region and required rate.

    Attributes
    ----------
    region : str or None
        The region preset.
    required_rate : float
        ``X``.
    found : bool
        Whether any evaluated package reached ``X``.
    package : Mapping[str, float]
        The package (variable -> value); the best-rate package when none reached ``X``.
    success_rate : float
        Its success rate over the worlds.
    cost : float
        Its public cost (mean over the worlds).
    evaluations : int
        Packages evaluated in this search.
    generations : int
        Generations run.
    flagged : Mapping[str, int]
        Per sanity check of the model card (``[[sanity]]``): how many of the worlds where the
        package succeeds the check flags (for flexnet a treadmill, or members who value
        membership below zero): a success for the wrong reason.
    """

    region: str | None
    required_rate: float
    found: bool
    package: Mapping[str, float]
    success_rate: float
    cost: float
    evaluations: int
    generations: int
    flagged: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class OptimizeResult:
    """Everything :func:`optimize_package` found.

    Attributes
    ----------
    spec : OptimizeSpec
        What was searched.
    optima : tuple[Optimum, ...]
        One per region and required rate.
    evaluated : pandas.DataFrame
        Every package evaluated: ``region``, ``required_rate`` (of the search that tried it),
        ``generation``, one column per variable, ``success_rate``, ``cost``.
    fronts : pandas.DataFrame
        The Pareto front of each region (:func:`pareto_front` of its evaluated packages),
        with a ``region`` column, by increasing cost.
    n_worlds : int
        Worlds per package.
    seconds : float
        Wall time of the search.
    """

    spec: OptimizeSpec
    optima: tuple[Optimum, ...]
    evaluated: pd.DataFrame
    fronts: pd.DataFrame
    n_worlds: int
    seconds: float = 0.0

    def front(self, region: str | None = None) -> pd.DataFrame:
        """The Pareto front of one region (the first by default)."""
        region = self.spec.regions[0] if region is None else region
        return self.fronts[self.fronts["region"] == _label(region)].reset_index(drop=True)

    def optima_frame(self) -> pd.DataFrame:
        """One row per region and required rate: the package, its rate and cost."""
        import pandas as pd

        return pd.DataFrame([{"region": _label(o.region), "required_rate": o.required_rate,
                              "found": o.found, **dict(o.package),
                              "success_rate": o.success_rate, "cost": o.cost,
                              "evaluations": o.evaluations, "generations": o.generations,
                              **{f"flagged_{k}": v for k, v in o.flagged.items()}}
                             for o in self.optima])

    def near_optimal(self, tolerance: float = NEAR_OPTIMAL) -> pd.DataFrame:
        """How sharp each optimum is: over the distinct packages evaluated in its region that
        reach its required rate at a cost within ``tolerance`` (a share) of its cost, the
        range of each decision variable.

        A wide range means the search found many packages about as cheap: read the optimum's
        cost, not the exact values of that variable. Columns ``region``, ``required_rate``,
        ``variable``, ``lower``, ``upper``, ``optimum``, ``packages``; found optima only.
        """
        import pandas as pd

        names = [v.name for v in self.spec.variables]
        distinct = self.evaluated.drop_duplicates(subset=["region", *names])
        rows = []
        for o in self.optima:
            if not o.found:
                continue
            near = distinct[(distinct["region"] == _label(o.region))
                            & (distinct["success_rate"] >= o.required_rate - 1e-12)
                            & (distinct["cost"] <= o.cost * (1 + tolerance) + 1e-9)]
            for name in names:
                rows.append({"region": _label(o.region), "required_rate": o.required_rate,
                             "variable": name, "lower": float(near[name].min()),
                             "upper": float(near[name].max()), "optimum": o.package[name],
                             "packages": len(near)})
        return pd.DataFrame(rows, columns=["region", "required_rate", "variable", "lower",
                                           "upper", "optimum", "packages"])

    def summary(self) -> dict[str, Any]:
        """Plain data for ``summary.json``."""
        return {"spec": self.spec.to_dict(), "n_worlds": self.n_worlds,
                "seconds": round(self.seconds, 2),
                "optima": [{"region": _label(o.region), "required_rate": o.required_rate,
                            "found": o.found, "package": dict(o.package),
                            "success_rate": o.success_rate, "cost": o.cost,
                            "evaluations": o.evaluations, "flagged": dict(o.flagged)}
                           for o in self.optima],
                "front_sizes": {str(k): int(v) for k, v in
                                self.fronts.groupby("region").size().items()}}


def _label(region: str | None) -> str:
    return "default" if region is None else region


# ------------------------------------------------------------------------- the Pareto filter


def pareto_front(table: pd.DataFrame, *, cost: str = "cost",
                 success: str = "success_rate") -> pd.DataFrame:
    """The non-dominated rows of ``table``: lower ``cost`` and higher ``success`` are better.

    A row is dominated when another has a cost at most as high and a success at least as high,
    one of them strictly. Of rows equal in both, the first is kept. Rows with a non-finite
    cost or success are left out. Returned by increasing cost (and so increasing success).
    """
    values = table[[cost, success]].to_numpy(dtype=float)
    finite = np.isfinite(values).all(axis=1)
    positions = np.flatnonzero(finite)
    # by cost up, then success down, then original order: the first of each cost is its best
    order = positions[np.lexsort((positions, -values[positions, 1], values[positions, 0]))]
    keep: list[int] = []
    best = -np.inf
    for position in order:
        if values[position, 1] > best:
            keep.append(int(position))
            best = values[position, 1]
    return table.iloc[keep].reset_index(drop=True)


# ---------------------------------------------------------------------------- the study table


def parse_optimize(raw: Any, model: Model, *, path: Path | None = None, seed: int = 0,
                   regions: Sequence[str | None] = (),
                   final_time: float | None = None,
                   fixed: Mapping[str, float] | None = None) -> OptimizeSpec:
    """Validate an ``[optimize]`` table against ``model``.

    Parameters
    ----------
    raw : Mapping
        The table, e.g. ``{"variables": {"amount": [0, 1e6]}, "rates": [0.8]}``.
    model : Model
        The model (its card names the push fields, presets and outcomes).
    path : Path, optional
        The study file (for messages; ``sets`` is relative to its folder).
    seed : int
        The seed when the table gives none (the study's).
    regions : sequence of str
        The regions when the table gives none (the study's cases').
    final_time : float, optional
        The horizon (default the model file's): the latest push the bounds allow must end
        early enough for the outcome to be read.
    fixed : Mapping[str, float], optional
        Constants the study sets (its push): the push fields not chosen keep these values.

    Raises
    ------
    ExperimentError
        Naming the file, the key (``optimize.rates``), the bad value and what is valid.
    """
    def err(message: str, key: str, value: Any = None) -> ExperimentError:
        return ExperimentError(message, path=path, key=f"optimize.{key}" if key else "optimize",
                               value=value)

    if not isinstance(raw, Mapping):
        raise err(f"must be a table, not {raw!r}", "", raw)
    tomlcheck.check_keys(raw, KEYS, path, "optimize", error=ExperimentError)
    variables = _variables(raw.get("variables"), model, err)
    card = model.card
    given = raw.get("regions", [r for r in regions if r is not None])
    if isinstance(given, str) or not isinstance(given, list) or not all(
            isinstance(r, str) for r in given):
        raise err(f"must be a list of region presets such as [\"typical\"], not {given!r} "
                  f"(presets: {', '.join(card.presets) or 'none'})", "regions", given)
    chosen: list[str | None] = []
    for name in given:
        try:
            chosen.append(card.preset(name).name)
        except UnknownPresetError as error:
            raise err(str(error), "regions", name) from None
    outcomes = card_metrics(card)
    flags = [n for n, m in outcomes.items() if m.options.get("reducer") in FLAG_REDUCERS]
    outcome = raw.get("outcome", "survived_10" if "survived_10" in flags else
                      (flags[0] if flags else None))
    if outcome not in flags:
        hint = close_matches(str(outcome), flags)
        did = f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
        none = "none: the card has no outcome with reducer " + ", ".join(FLAG_REDUCERS)
        raise err(f"must be a 0/1 outcome of the model card{did} (valid: "
                  f"{', '.join(flags) or none})", "outcome", outcome)
    costs = [n for n in outcomes if n not in flags]
    cost = raw.get("cost", "public_money" if "public_money" in costs else None)
    if cost not in costs:
        hint = close_matches(str(cost), costs)
        did = f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
        missing = "missing: " if cost is None else ""
        raise err(f"{missing}must name the outcome of the model card whose mean is the public "
                  f"cost{did} (valid: {', '.join(costs) or 'none'})", "cost", cost)
    rates = raw.get("rates", DEFAULTS["rates"])
    if not isinstance(rates, list) or not rates:
        raise err(f"must be a non-empty list of required success rates in (0, 1], such as "
                  f"[0.5, 0.8], not {rates!r}", "rates", rates)
    for rate in rates:
        number = tomlcheck.number(rate, path, "optimize.rates", error=ExperimentError)
        if not 0 < number <= 1:
            raise err(f"a required success rate must lie in (0, 1] (a share of the worlds), "
                      f"not {rate!r}", "rates", rate)
    counts = {key: _count(raw.get(key, DEFAULTS[key]), key, err, minimum)
              for key, minimum in (("worlds", 1), ("generations", 1), ("popsize", 2))}
    sets = _sets(raw.get("sets"), model, path, err)
    if sets is not None:
        from sdnet.decision.worlds import read_worlds

        available = len(read_worlds(sets, model, key="optimize.sets", spec=path))
        if counts["worlds"] > available:
            raise err(f"must be at most the {available} parameter sets of {sets.name}, not "
                      f"{counts['worlds']}", "worlds", counts["worlds"])
    seed_value = raw.get("seed", seed)
    if isinstance(seed_value, bool) or not isinstance(seed_value, int) or seed_value < 0:
        raise err(f"must be a non-negative integer, not {seed_value!r}", "seed", seed_value)
    spec = OptimizeSpec(tuple(variables), tuple(chosen) or (None,), str(outcome), str(cost),
                        tuple(float(r) for r in rates), counts["worlds"], sets,
                        counts["generations"], counts["popsize"], int(seed_value))
    _check_horizon(spec, model, outcomes[spec.outcome], err, final_time, fixed)
    return spec


def _variables(raw: Any, model: Model,
               err: Callable[[str, str, Any], ExperimentError]) -> list[DecisionVariable]:
    """``{name: [lower, upper]}`` -> decision variables (push fields or levers)."""
    schedule = model.card.push
    fields = dict(schedule.parameters) if schedule is not None else {}
    levers = sorted(p.name for p in model.parameters.of_kind("lever").values())
    valid = ", ".join([*fields, *[p for p in levers if p not in fields.values()]])
    if not isinstance(raw, Mapping) or not raw:
        raise err(f"must be a table of decision variables with bounds, such as "
                  f"{{ amount = [0, 1000000], duration = [0, 10] }} (valid: {valid})",
                  "variables", raw)
    variables: list[DecisionVariable] = []
    for key, bounds in raw.items():
        where = f"variables.{key}"
        if key in fields:
            name = fields[key]
        else:
            try:
                name = model.parameters[key].name
            except SdnetError:
                name = None
            if name is None or (name not in levers and name not in fields.values()):
                hint = close_matches(str(key), [*fields, *levers])
                did = f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
                raise err(f"{key!r} is not a push field or a lever of {model.path.name}{did} "
                          f"(valid: {valid})", where, key)
        if name in {v.name for v in variables}:
            raise err(f"{key!r} sets {name}, which another variable already sets", where, key)
        if not (isinstance(bounds, list) and len(bounds) == 2):
            raise err(f"must be [lower, upper], not {bounds!r}", where, bounds)
        low, high = (tomlcheck.number(b, model.path, f"optimize.{where}",
                                      error=ExperimentError) for b in bounds)
        if not low < high:
            raise err(f"must be [lower, upper] with lower < upper, not {bounds!r}", where,
                      bounds)
        parameter = model.parameters[name]
        for value in (low, high):
            try:
                parameter.check(value)
            except SdnetError as error:
                raise err(str(error), where, bounds) from None
        variables.append(DecisionVariable(name, low, high))
    return variables


def _count(value: Any, key: str, err: Callable[[str, str, Any], ExperimentError],
           minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise err(f"must be a whole number >= {minimum}, not {value!r}", key, value)
    return int(value)


def _sets(value: Any, model: Model, path: Path | None,
          err: Callable[[str, str, Any], ExperimentError]) -> Path | None:
    """The sets file: as given (relative to the study file), else ``nonimplausible.csv``
    beside the model when there is one, else None (a Latin hypercube)."""
    if value is None:
        beside = model.path.parent / "nonimplausible.csv"
        return beside.resolve() if beside.is_file() else None
    if not isinstance(value, str) or not value:
        raise err(f"must be the path of a parameter-set file (.csv or .parquet), not "
                  f"{value!r}", "sets", value)
    given = Path(value)
    found = given if given.is_absolute() or path is None else path.parent / given
    if not found.is_file():
        raise err(f"parameter-set file not found: {value!r} (relative to the study file)",
                  "sets", value)
    return found.resolve()


def _check_horizon(spec: OptimizeSpec, model: Model, outcome: Metric,
                   err: Callable[[str, str, Any], ExperimentError],
                   final_time: float | None = None,
                   fixed: Mapping[str, float] | None = None) -> None:
    """Refuse bounds whose latest push ends too late for the outcome to be read."""
    schedule = model.card.push
    if schedule is None or not outcome.after_schedule:
        return
    values = {**model.push_values(_base_push(model)), **dict(fixed or {}),
              **{v.name: v.upper for v in spec.variables}}
    latest = sum(values.get(n, model.parameters[n].default) for n in schedule.end_parameters)
    lag = float(outcome.options.get("lag", 10.0))
    horizon = final_time if final_time is not None else model.default_control("final_time")
    if latest + lag > horizon + 1e-9:
        raise err(f"the latest push these bounds allow ends in year {latest:g}, and "
                  f"{spec.outcome} reads {lag:g} years later, past the horizon (year "
                  f"{horizon:g}); narrow the bounds or set [run] final_time to at least "
                  f"{latest + lag:g}", "variables", {v.name: [v.lower, v.upper]
                                                    for v in spec.variables})


def draw_worlds(model: Model, spec: OptimizeSpec) -> pd.DataFrame:
    """The ``spec.worlds`` worlds of a search: a seeded sample of the rows of ``spec.sets``
    (:func:`~sdnet.decision.worlds.read_worlds`, :func:`~sdnet.decision.worlds.sample_worlds`),
    else a seeded Latin hypercube of the model's ``[uncertain]`` constants over their declared
    ranges.

    Raises
    ------
    ExperimentError
        The sets file is bad, or there is none and no ranged ``[uncertain]`` constant.
    """
    from sdnet.decision.worlds import read_worlds, sample_worlds

    if spec.sets is not None:
        table = read_worlds(spec.sets, model, key="optimize.sets")
        return sample_worlds(table, spec.worlds, seed=spec.seed, key="optimize.worlds")
    from sdnet.designs import lhs_design
    from sdnet.runner import ranged_factors

    names = [p.name for p in model.parameters.of_kind("uncertain").values()
             if p.bounded and p.lower < p.upper]  # type: ignore[operator]
    if not names:
        raise ExperimentError(f"{model.path.name} has no sets file and no [uncertain] constant "
                              "with a declared range to draw worlds from; give [optimize] sets",
                              key="optimize.sets")
    return lhs_design(ranged_factors(model, names), spec.worlds, seed=spec.seed).to_frame()


def _base_push(model: Model) -> Any:
    from sdnet.policy import base_push

    return base_push(model.card)


# ------------------------------------------------------------------------------ evaluation


@dataclass(frozen=True)
class RunSettings:
    """Simulation settings of every evaluation (None: the model file's)."""

    final_time: float | None = None
    time_step: float | None = None
    saveper: float | None = None
    method: str = "euler"
    params: Mapping[str, float] = field(default_factory=dict)


def evaluate_candidates(
    model: Model, candidates: Any, variables: Sequence[DecisionVariable],
    worlds: pd.DataFrame, *, region: str | None, outcome: Metric, cost: Metric,
    settings: RunSettings = RunSettings(), cluster: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Success rate and public cost of each candidate package over the same worlds.

    The candidates become :class:`~sdnet.decision.packages.Package` objects (the push fields
    among the variables replace those of the base push, other variables are lever values)
    and go to :func:`~sdnet.decision.evaluate.evaluate_packages` as one ensemble of
    ``k x N`` runs. A failed run counts as no success and is left out of the cost mean.

    Parameters
    ----------
    candidates : array-like
        ``(k, n_variables)`` package values, columns in the order of ``variables``.
    worlds : DataFrame
        ``N`` rows of uncertain constants.
    settings : RunSettings
        Simulation settings; ``params`` (Python names) hold the base push's constants and
        the constants set in every run.
    cluster : distributed.Client, optional
        Run the ensemble on this dask cluster (the same numbers).

    Returns
    -------
    (ndarray, ndarray)
        ``(k,)`` success rates and ``(k,)`` public costs.
    """
    from sdnet.decision.evaluate import evaluate_packages

    candidates = np.atleast_2d(np.asarray(candidates, dtype=float))
    packages = [_package(model, f"c{i}", row, variables, settings.params)
                for i, row in enumerate(candidates)]
    table = evaluate_packages(
        model, packages, worlds, region=region, outcomes=[outcome], cost=cost.name,
        final_time=settings.final_time, time_step=settings.time_step,
        saveper=settings.saveper, method=settings.method,  # type: ignore[arg-type]
        cluster=cluster)
    k, n = len(packages), len(worlds)
    ok = (table["status"] == "ok").to_numpy()
    success = (ok & (table[outcome.name].to_numpy(dtype=float) > 0.5)).reshape(k, n)
    spent = np.where(ok, table["public_cost"].to_numpy(dtype=float), np.nan).reshape(k, n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a candidate whose runs all failed
        costs = np.nanmean(spent, axis=1)
    return success.mean(axis=1), costs


def _package(model: Model, name: str, values: np.ndarray,
             variables: Sequence[DecisionVariable], fixed: Mapping[str, float]) -> Any:
    """A candidate as a Package: push fields from the variables, else from ``fixed``, else
    the card's base push; every other variable and fixed constant as a lever value."""
    from sdnet.decision.packages import Package
    from sdnet.policy import Push

    chosen = {v.name: float(x) for v, x in zip(variables, values, strict=True)}
    schedule = model.card.push
    if schedule is None:
        return Package(name, None, {**dict(fixed), **chosen})
    base = _base_push(model)
    fields = {}
    for field_name in PUSH_FIELDS:
        parameter = schedule.parameters.get(field_name)
        fields[field_name] = chosen.pop(parameter, fixed.get(parameter, getattr(
            base, field_name))) if parameter else getattr(base, field_name)
    rest = {k: v for k, v in fixed.items() if k not in schedule.parameters.values()}
    return Package(name, Push(**fields), {**rest, **chosen})


# ------------------------------------------------------------------------------- the search


def optimize_package(
    model: Model, spec: OptimizeSpec | Mapping[str, Any], *,
    worlds: pd.DataFrame | None = None, settings: RunSettings | None = None,
    progress: Callable[[str], None] | None = None, cluster: Any = None,
) -> OptimizeResult:
    """The cheapest package that succeeds in at least ``X`` of a region's worlds, per region
    and required rate, and the Pareto front of public cost against success rate.

    Parameters
    ----------
    model : Model
        A loaded model with a card (outcomes, presets, push schedule).
    spec : OptimizeSpec or Mapping
        What to search: a validated spec, or an ``[optimize]`` table as a dict, e.g.
        ``{"variables": {"amount": [0, 1e6], "duration": [0, 10]}, "regions":
        ["embedded_prone"], "rates": [0.5, 0.8], "worlds": 500}``.
    worlds : DataFrame, optional
        The worlds (one row per world, uncertain constants as columns); default drawn with
        :func:`draw_worlds` from ``spec.sets`` (seeded).
    settings : RunSettings, optional
        Simulation settings (horizon, time step, method, constants set in every run).
    progress : callable(str), optional
        Called with a line after each generation.
    cluster : distributed.Client, optional
        Run each generation's ensemble (and the optimum's re-run) on this dask cluster
        (:mod:`sdnet.cluster`); the numbers are the same bit for bit.

    Returns
    -------
    OptimizeResult
        Deterministic for ``spec.seed``: the same spec gives identical numbers.

    Raises
    ------
    ExperimentError
        A bad table (naming the key, the value and what is valid).
    """
    import pandas as pd
    from scipy.optimize import differential_evolution

    settings = settings or RunSettings()
    if not isinstance(spec, OptimizeSpec):
        spec = parse_optimize(spec, model)
    outcomes = card_metrics(model.card)
    _check_horizon(spec, model, outcomes[spec.outcome],
                   lambda m, k, v: ExperimentError(m, key=f"optimize.{k}", value=v),
                   settings.final_time, settings.params)
    outcome, cost = outcomes[spec.outcome], outcomes[spec.cost]
    if worlds is None:
        worlds = draw_worlds(model, spec)
    started = time.perf_counter()
    bounds = [(v.lower, v.upper) for v in spec.variables]
    names = [v.name for v in spec.variables]
    rows: list[dict[str, Any]] = []
    optima: list[Optimum] = []
    for region in spec.regions:
        cache: dict[bytes, tuple[float, float]] = {}
        for rate in spec.rates:
            generation = [0]
            tried: list[tuple[np.ndarray, float, float]] = []

            def energies(x: np.ndarray, region: str | None = region, rate: float = rate,
                         cache: dict[bytes, tuple[float, float]] = cache,
                         generation: list[int] = generation,
                         tried: list[tuple[np.ndarray, float, float]] = tried) -> np.ndarray:
                packages = np.asarray(x, dtype=float).T.reshape(-1, len(names))
                keys = [p.tobytes() for p in packages]
                fresh = list(dict.fromkeys(k for k in keys if k not in cache))
                if fresh:
                    todo = np.array([np.frombuffer(k) for k in fresh])
                    got_rates, got_costs = evaluate_candidates(
                        model, todo, spec.variables, worlds, region=region, outcome=outcome,
                        cost=cost, settings=settings, cluster=cluster)
                    cache.update({k: (float(r), float(c))
                                  for k, r, c in zip(fresh, got_rates, got_costs, strict=True)})
                scores = np.empty(len(packages))
                for i, (package, key) in enumerate(zip(packages, keys, strict=True)):
                    success, spent = cache[key]
                    tried.append((package.copy(), success, spent))
                    rows.append({"region": _label(region), "required_rate": rate,
                                 "generation": generation[0],
                                 **dict(zip(names, map(float, package), strict=True)),
                                 "success_rate": success, "cost": spent})
                    scores[i] = _score(success, spent, rate)
                generation[0] += 1
                if progress is not None:
                    feasible = [s for _, r, s in tried if r >= rate and math.isfinite(s)]
                    best = f"{min(feasible):,.0f}" if feasible else "none yet"
                    progress(f"optimise {_label(region)} X={rate:g}: generation "
                             f"{generation[0]}, cheapest feasible cost {best}")
                return scores

            differential_evolution(
                energies, bounds, maxiter=spec.generations, popsize=spec.popsize,
                rng=np.random.default_rng(spec.seed), polish=False, vectorized=True,
                updating="deferred", init="latinhypercube", tol=1e-6)
            best = _optimum(region, rate, tried, names, generation[0])
            optima.append(replace(best, flagged=_flagged(model, spec, best, worlds, settings,
                                                         cluster=cluster)))
    evaluated = pd.DataFrame(rows, columns=["region", "required_rate", "generation", *names,
                                            "success_rate", "cost"])
    fronts = _fronts(evaluated, names)
    return OptimizeResult(spec, tuple(optima), evaluated, fronts, len(worlds),
                          time.perf_counter() - started)


def _score(success: float, spent: float, rate: float) -> float:
    """Feasibility first: the cost if ``success >= rate``, else a penalty above any cost that
    shrinks as the shortfall does."""
    if success >= rate - 1e-12 and math.isfinite(spent):
        return spent
    return INFEASIBLE * (1.0 + max(rate - success, 0.0))


def _optimum(region: str | None, rate: float, tried: list[tuple[np.ndarray, float, float]],
             names: Sequence[str], generations: int) -> Optimum:
    """The cheapest feasible package tried (ties: the higher rate, then the first tried);
    without one, the package with the best rate (ties: the cheapest)."""
    feasible = [t for t in tried if t[1] >= rate - 1e-12 and math.isfinite(t[2])]
    if feasible:
        best = min(feasible, key=lambda t: (t[2], -t[1]))
    else:
        best = min(tried, key=lambda t: (-t[1], t[2] if math.isfinite(t[2]) else math.inf))
    unique = len({t[0].tobytes() for t in tried})
    return Optimum(region, rate, bool(feasible),
                   dict(zip(names, map(float, best[0]), strict=True)), float(best[1]),
                   float(best[2]), unique, generations)


def _flagged(model: Model, spec: OptimizeSpec, optimum: Optimum, worlds: pd.DataFrame,
             settings: RunSettings, *, cluster: Any = None) -> dict[str, int]:
    """Re-run the optimum in its worlds; per sanity check of the card, how many of the worlds
    where it succeeds the check flags (empty without checks)."""
    from sdnet.decision.evaluate import _trajectories, package_table
    from sdnet.numerics import NumericalWarning
    from sdnet.runner import run_ensemble
    from sdnet.sanity import flags_by_check

    checks = model.card.sanity
    if not checks or model.card.push is None:
        return {}
    values = np.array([optimum.package[v.name] for v in spec.variables])
    package = _package(model, "optimum", values, spec.variables, settings.params)
    table = package_table(model, [package], worlds, region=optimum.region).drop(
        columns=["package", "world"])
    outcome = card_metrics(model.card)[spec.outcome]
    variables = [*outcome.variables, *[name for check in checks for condition in check.when
                                       for name in condition.variables]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumericalWarning)
        run = run_ensemble(model, table, engine="vector", final_time=settings.final_time,
                           time_step=settings.time_step, saveper=settings.saveper,
                           method=settings.method,  # type: ignore[arg-type]
                           variables=list(dict.fromkeys(variables)), progress=False,
                           cluster=cluster)
    data = _trajectories(model, run, table, [outcome])
    names = {name for check in checks for name in check.constants}
    data = replace(data, constants={**data.constants, **{
        name: table[name].to_numpy(dtype=float) if name in table.columns else
        np.full(len(table), model.parameters[name].default) for name in names}})
    success = (outcome(data) > 0.5) & np.asarray(run.ok, dtype=bool)
    flags = flags_by_check(checks, data, ok=run.ok)
    return {name: int((flag & success).sum()) for name, flag in flags.items()}


def _fronts(evaluated: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """The Pareto front of each region over every package evaluated there (duplicates of a
    package, tried in several searches, once)."""
    import pandas as pd

    frames = []
    for region, part in evaluated.groupby("region", sort=False):
        unique = part.drop_duplicates(subset=list(names))
        front = pareto_front(unique)
        frames.append(front.drop(columns=["required_rate", "generation"]).assign(
            region=region))
    columns = ["region", *names, "success_rate", "cost"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]
