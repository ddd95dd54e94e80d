"""Running policy packages in the same worlds: :func:`evaluate_packages`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from sdnet.decision.packages import Package
from sdnet.errors import InvalidValueError, SdnetError, close_matches
from sdnet.metrics import Metric, Trajectories, card_metrics
from sdnet.runner import DEFAULT_CHUNK_SIZE, run_ensemble

if TYPE_CHECKING:
    import pandas as pd

    from sdnet.model import Model

__all__ = ["default_cost", "evaluate_packages", "package_table"]


def _metrics(model: Model, outcomes: Sequence[str | Metric]) -> list[Metric]:
    """The outcomes as metrics: names of the card's ``[[outcomes]]`` or Metric objects."""
    known = card_metrics(model.card)
    chosen: list[Metric] = []
    for outcome in outcomes:
        if isinstance(outcome, Metric):
            chosen.append(outcome)
            continue
        if outcome not in known:
            close = close_matches(str(outcome), list(known))
            did = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            valid = ", ".join(known) or (
                "none: the model has no card with [[outcomes]]; pass sdnet.metrics."
                "user_metric(...) objects")
            raise InvalidValueError("outcome", outcome, expected=f"an outcome of the model's "
                                    f"card{did} (valid: {valid})")
        chosen.append(known[outcome])
    names = [m.name for m in chosen]
    if not names or len(set(names)) != len(names):
        raise InvalidValueError("outcomes", names, expected="at least one outcome, each once")
    return chosen


def default_cost(model: Model, outcomes: Sequence[str]) -> str | None:
    """The outcome that counts public money: the numerator of the card's first
    ``[[ratios]]`` entry whose denominator is one of ``outcomes`` (flexnet: public_money
    over survived_10); None when the card has none."""
    for ratio in model.card.ratios:
        if ratio.denominator in outcomes:
            return ratio.numerator
    return None


def package_table(model: Model, packages: Sequence[Package], worlds: pd.DataFrame, *,
                  region: str | None = None) -> pd.DataFrame:
    """The stacked runs: every package in every world, with its constants and the region's.

    Returns a table with ``package`` and ``world`` columns then one column per constant set
    by a package, the region or a world (a constant set by some packages only takes the
    model's value in the others).

    Raises
    ------
    InvalidValueError
        No packages, duplicate names, no worlds, worlds whose index repeats a label, or a
        constant set both by a world and by a package or the region preset (the world would
        silently win).
    """
    import pandas as pd

    if not packages:
        raise InvalidValueError("packages", [], expected="at least one Package")
    names = [p.name for p in packages]
    if len(set(names)) != len(names):
        raise InvalidValueError("packages", names, expected="unique package names")
    if len(worlds) == 0:
        raise InvalidValueError("worlds", 0, expected="at least one world (a row)")
    if not worlds.index.is_unique:
        twice = sorted(set(worlds.index[worlds.index.duplicated()].tolist()))[:5]
        raise InvalidValueError("worlds", twice, expected="a unique index: it labels the "
                                "worlds, and these labels are given twice")
    world_columns = [model.parameters[str(c)].name for c in worlds.columns]
    values = [model.scenario_values(dict(p.params), region=region, push=p.push)
              for p in packages]
    for package, set_here in zip(packages, values, strict=True):
        clash = sorted(set(set_here) & set(world_columns))
        if clash:
            raise InvalidValueError(
                "worlds", clash, expected=f"worlds that leave the constants of package "
                f"{package.name!r} and region {region!r} alone ({', '.join(clash)} is set "
                "by both)")
    constants = list(dict.fromkeys(k for v in values for k in v))
    world_values = worlds.to_numpy(dtype=float)
    count = len(packages)
    # built column by column (package-major blocks of the worlds): an optimiser evaluates
    # hundreds of packages per call, and a frame per package cost seconds
    columns: dict[str, np.ndarray] = {
        "package": np.repeat(np.array(names, dtype=object), len(worlds)),
        "world": np.tile(worlds.index.to_numpy(), count)}
    for j, name in enumerate(world_columns):
        columns[name] = np.tile(world_values[:, j], count)
    for name in constants:
        default = model.parameters[name].default
        columns[name] = np.repeat(np.array([float(v.get(name, default)) for v in values]),
                                  len(worlds))
    return pd.DataFrame(columns)


def evaluate_packages(
    model: Model,
    packages: Sequence[Package],
    worlds: pd.DataFrame,
    *,
    region: str | None = None,
    outcomes: Sequence[str | Metric],
    cost: str | None = "auto",
    final_time: float | None = None,
    time_step: float | None = None,
    saveper: float | None = None,
    method: Literal["euler", "rk4"] = "euler",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: bool = False,
    cluster: Any = None,
) -> pd.DataFrame:
    """Run every package in every world of one region; one row per package and world.

    All ``len(packages) * len(worlds)`` runs go to the vectorized engine at once (in
    chunks), so a caller such as an optimiser can evaluate a population of candidate
    packages in one call.

    Parameters
    ----------
    model : Model
        The model (its card gives the push schedule, presets and named outcomes).
    packages : sequence of Package
        The packages, each with a unique name.
    worlds : pandas.DataFrame
        One column per uncertain constant, one row per world (e.g. :func:`read_worlds` then
        :func:`sample_worlds`); its index labels the worlds.
    region : str, optional
        A preset of the model's card (flexnet: "typical", "embedded_prone", ...).
    outcomes : sequence of str or Metric
        Names of the card's ``[[outcomes]]`` (e.g. "survived_10", "public_money") or
        :class:`~sdnet.metrics.Metric` objects (:func:`sdnet.metrics.user_metric`).
    cost : str or None, default "auto"
        The outcome giving public money, copied to the ``public_cost`` column (it is measured
        even if not in ``outcomes``); "auto": the numerator of the card's ``[[ratios]]``
        whose denominator is one of the outcomes (flexnet: public_money); None: no cost.
    final_time, time_step, saveper, method, chunk_size, progress, cluster
        As :func:`sdnet.run_ensemble` (time in the model's units; ``cluster``: a
        ``distributed.Client`` to run on).

    Returns
    -------
    pandas.DataFrame
        Columns ``region``, ``package``, ``world``, ``status`` ("ok"/"failed"), one column
        per outcome (NaN for a failed run), and ``public_cost`` when a cost outcome is known.
        Rows are package-major in the order given, worlds in the table's order.

    Raises
    ------
    InvalidValueError, SdnetError
        Unknown outcomes, clashing constants, unknown region, values outside declared ranges.
    """
    names = [o.name if isinstance(o, Metric) else str(o) for o in outcomes]
    if cost == "auto":
        cost = default_cost(model, names)
    wanted = list(outcomes) + ([cost] if cost and cost not in names else [])
    metrics = _metrics(model, wanted)
    table = package_table(model, packages, worlds, region=region)
    numeric = table.drop(columns=["package", "world"])
    variables = list(dict.fromkeys(v for m in metrics for v in m.variables))
    result = run_ensemble(model, numeric, final_time=final_time, time_step=time_step,
                          saveper=saveper, method=method, variables=variables,
                          chunk_size=chunk_size, progress=progress, cluster=cluster)
    data = _trajectories(model, result, numeric, metrics)
    frame = table[["package", "world"]].copy()
    frame.insert(0, "region", region if region is not None else "default")
    frame["status"] = np.where(result.ok, "ok", "failed")
    for metric in metrics:
        try:
            values = np.asarray(metric(data), dtype=float)
        except SdnetError as error:
            raise InvalidValueError("outcome", metric.name, expected=str(error)) from error
        frame[metric.name] = np.where(result.ok, values, np.nan)
    if cost:
        frame["public_cost"] = frame[cost]
    return frame


def _trajectories(model: Model, result: object, numeric: pd.DataFrame,
                  metrics: Sequence[Metric]) -> Trajectories:
    """What the metrics read: outputs, each run's push end and the constants they need."""

    def column(name: str) -> np.ndarray:
        if name in numeric.columns:
            return numeric[name].to_numpy(dtype=float)
        return np.full(len(numeric), model.parameters[name].default)

    dataset = result.dataset  # type: ignore[attr-defined]
    outputs = {str(v): dataset["outputs"].sel(variable=v).to_numpy()
               for v in dataset["variable"].to_numpy()}
    schedule = model.card.push
    ends = None if schedule is None else sum(
        (column(name) for name in schedule.end_parameters), np.zeros(len(numeric)))
    constants = {name: column(name) for metric in metrics for name in metric.constants}
    return Trajectories(dataset["time"].to_numpy(), outputs, ends, constants)
