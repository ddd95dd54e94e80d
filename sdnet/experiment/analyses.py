"""A study's analyses: indices per stage, policy comparison, thresholds, the integration
check and hysteresis."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from sdnet.designs import Design
from sdnet.experiment.simulate import _metric_table, _simulate, _trajectories
from sdnet.experiment.spec import Case, Experiment
from sdnet.metrics import PERSISTENCE_LAG
from sdnet.policy import Push
from sdnet.sensitivity import (
    IntegrationCheckResult,
    ThresholdResult,
    bisect_threshold,
    efast,
    integration_check,
    morris,
    prim,
    sobol,
)

if TYPE_CHECKING:
    import pandas as pd

    from sdnet.model import Model
    from sdnet.results import EnsembleResult


def _indices(design: Design, values: np.ndarray, *, seed: int, metric: str) -> Any:
    if design.method == "sobol":
        return sobol(design, values, seed=seed, metric=metric)
    if design.method == "efast":
        return efast(design, values, seed=seed, metric=metric)
    if design.method == "morris":
        return morris(design, values, seed=seed)
    return None


def _analyse_stage(experiment: Experiment, design: Design, metrics: pd.DataFrame,
                   analyses: dict[str, Any], skipped: list[str]) -> None:
    if design.method not in ("sobol", "efast", "morris"):
        return  # lhs and grid designs feed PRIM, thresholds and comparisons, not indices
    for case in experiment.cases:
        part = metrics[metrics["case"] == case.name]
        for metric in experiment.metrics:
            values = part[metric.name].to_numpy(dtype=float)
            if not np.isfinite(values).all():
                bad = int((~np.isfinite(values)).sum())
                skipped.append(f"{design.method} of {metric.name} ({case.name}): {bad} runs "
                               "failed or gave non-finite values")
                continue
            if np.ptp(values) == 0:
                skipped.append(f"{design.method} of {metric.name} ({case.name}): the metric "
                               f"is {values[0]:g} in every run")
                continue
            result = _indices(design, values, seed=experiment.seed, metric=metric.name)
            if result is not None:
                analyses[f"{design.method}/{metric.name}/{case.name}"] = result


def _compare(experiment: Experiment, design: Design, metrics: pd.DataFrame,
             analyses: dict[str, Any], skipped: list[str]) -> pd.DataFrame:
    """Per design row and region, which of the two policies gives the larger metric."""
    import pandas as pd

    metric = str(experiment.analysis.compare_metric)
    policies = list(dict.fromkeys(c.policy for c in experiment.cases))
    regions = list(dict.fromkeys(c.region for c in experiment.cases))
    rows = []
    for region in regions:
        by_policy = {}
        for case in experiment.cases:
            if case.region == region:
                by_policy[case.policy] = metrics.loc[metrics["case"] == case.name,
                                                     metric].to_numpy(dtype=float)
        a, b = by_policy[policies[0]], by_policy[policies[1]]
        first_wins = a > b + 1e-12
        second_wins = b > a + 1e-12
        rows.append({"region": region or "default", "metric": metric,
                     f"{policies[0]}_wins": float(first_wins.mean()),
                     f"{policies[1]}_wins": float(second_wins.mean()),
                     "ties": float((~first_wins & ~second_wins).mean()),
                     f"{policies[0]}_mean": float(np.nanmean(a)),
                     f"{policies[1]}_mean": float(np.nanmean(b))})
        if first_wins.any() and experiment.analysis.prim_metric is None:
            analyses[f"prim/{policies[0]}_wins/{region or 'default'}"] = prim(
                design.to_frame(), first_wins)
        elif not first_wins.any():
            skipped.append(f"prim of {policies[0]} wins ({region}): it never wins")
    return pd.DataFrame(rows)


def _base_values(model: Model, experiment: Experiment, case: Case) -> dict[str, float]:
    values = dict(case.values)
    for factor in experiment.factors:
        if factor.name not in values:
            default = model.parameters[factor.name].default
            values[factor.name] = min(max(default, factor.lower), factor.upper)
    return values


def _sustained_of(model: Model, experiment: Experiment, table: pd.DataFrame, *,
                  cluster: Any = None) -> np.ndarray:
    """Run the table on the engine (on ``cluster`` when given); True where the threshold
    metric says "sustained"."""
    from sdnet.metrics import card_metrics
    from sdnet.runner import run_ensemble

    run = experiment.run
    metric = card_metrics(model.card)[experiment.analysis.threshold_metric]
    result = run_ensemble(model, table, final_time=run.final_time, time_step=run.time_step,
                          saveper=run.saveper, method=run.method,  # type: ignore[arg-type]
                          variables=list(metric.variables), progress=False,
                          cluster=cluster)
    table = table.assign(case="", stage="", row=0)
    data = _trajectories(result, table, model, metrics=[metric])
    flag = metric(data)
    return (flag > 0.5) & result.ok


def _thresholds(model: Model, experiment: Experiment, *, search: str,
                cluster: Any = None) -> pd.DataFrame:
    """Smallest push duration (per amount) or amount (per duration) that sustains the
    network, per region; one engine ensemble per bisection step."""
    import pandas as pd

    analysis = experiment.analysis
    regions: dict[str, Case] = {}
    for case in experiment.cases:
        regions.setdefault(case.region or "default", case)
    names = model.card.push.parameters  # type: ignore[union-attr]  # parse checked it
    if search == "duration":
        given, levels = names["amount"], analysis.threshold_amounts
        (lo, hi), tol, label = analysis.threshold_duration, analysis.threshold_tol, \
            "min_duration"
    else:
        given, levels = names["duration"], analysis.threshold_durations
        (lo, hi), tol, label = analysis.threshold_amount, analysis.threshold_amount_tol, \
            "min_amount"
    problems = [(region, case, level) for region, case in regions.items() for level in levels]
    base_rows = []
    for _, case, level in problems:
        values = _base_values(model, experiment, case)
        values[given] = level
        base_rows.append(values)
    base = pd.DataFrame(base_rows)

    def sustains(candidates: np.ndarray) -> np.ndarray:
        table = base.copy()
        table[names[search]] = candidates
        return _sustained_of(model, experiment, table, cluster=cluster)

    found: ThresholdResult = bisect_threshold(sustains, (lo, hi), tol=tol, size=len(problems))
    return pd.DataFrame({
        "region": [p[0] for p in problems],
        given: [p[2] for p in problems],
        label: found.threshold,
        "bracket_low": found.bracket_low,
        "bracket_high": found.bracket_high,
        "found": found.found,
    })


def _integration(model: Model, experiment: Experiment, table: pd.DataFrame,
                 metrics: pd.DataFrame, ensemble: EnsembleResult,
                 seed: int, cluster: Any = None,
                 rk4: bool = True) -> IntegrationCheckResult | None:
    """Re-run a sample of the main runs at half the time step and with RK4 (on ``cluster``,
    a ``distributed.Client``, when given); without ``rk4`` (PySD runs the study: Euler only)
    the check reads the half step alone (the RK4 change is NaN)."""
    ok_rows = np.nonzero(ensemble.ok)[0]
    if ok_rows.size == 0:
        return None
    rng = np.random.default_rng(seed)
    n = min(experiment.analysis.integration_n, ok_rows.size)
    rows = np.sort(rng.choice(ok_rows, size=n, replace=False))
    sample = table.iloc[rows].reset_index(drop=True)
    time_step = experiment.run.time_step or model.default_control("time_step")
    names = [m.name for m in experiment.metrics]
    base = {m: metrics[m].to_numpy(dtype=float)[rows] for m in names}
    small = replace(experiment, run=replace(experiment.run, chunk_size=max(n, 1)))
    half = _simulate(model, small, sample, stage="half_dt", chunk_file=None, resume=False,
                     progress=False, time_step=time_step / 2, cluster=cluster)
    m_half = _metric_table(experiment, half, sample, model)
    if rk4:
        run = _simulate(model, small, sample, stage="rk4", chunk_file=None, resume=False,
                        progress=False, method="rk4", time_step=time_step, cluster=cluster)
        m_rk4 = _metric_table(experiment, run, sample, model)
        by_rk4: dict[str, np.ndarray] | None = {m: m_rk4[m].to_numpy(float) for m in names}
    else:
        by_rk4 = None
    return integration_check(base, half_dt={m: m_half[m].to_numpy(float) for m in names},
                             rk4=by_rk4)


def _hysteresis(model: Model, experiment: Experiment) -> pd.DataFrame:
    """Per region: does a working network's full state persist with no push?

    A run with a long push (the upper end of the threshold search's durations) gives the
    state of a working network when the push ends; a run from that state with no push shows
    whether it persists (members ten years later over members at the start). A run from the
    state half a year into the push (below critical mass) is the contrast (model.md BR8).
    """
    import pandas as pd

    from sdnet.metrics import card_metrics, formed_threshold

    outcomes = card_metrics(model.card)
    metric = outcomes.get(experiment.analysis.threshold_metric) or next(
        m for m in outcomes.values()
        if m.options.get("reducer") in ("alive_after", "sustained_after"))
    variable, population = metric.variables[0], metric.constants[0]
    schedule = model.card.push.parameters  # type: ignore[union-attr]  # parse checked it
    rows = []
    seen: set[str] = set()
    final_time = experiment.run.final_time
    for case in experiment.cases:
        region = case.region or "default"
        if region in seen:
            continue
        seen.add(region)
        values = {k: v for k, v in case.values.items() if k not in schedule.values()}
        long_push = replace(case.push, duration=experiment.analysis.threshold_duration[1],
                            taper=0.0)
        start_run = model.run(values, push=long_push, final_time=final_time,
                              time_step=experiment.run.time_step)
        firms = values.get(population, model.parameters[population].default)
        for label, when in (("working", long_push.end), ("early", long_push.start + 0.5)):
            state = start_run.state_at(when)
            no_push = Push(amount=0.0, start=0.0, duration=0.0)
            after = model.run(values, push=no_push, initial_state=state,
                              final_time=when + PERSISTENCE_LAG,
                              time_step=experiment.run.time_step)
            members = after[variable].to_numpy(dtype=float)
            ratio = float(members[-1] / members[0]) if members[0] > 1e-9 else 0.0
            persists = ratio >= 0.6 and members[-1] >= float(formed_threshold(
                np.array([firms]))[0])
            rows.append({"region": region, "start": label, "start_time": when,
                         "members_start": float(members[0]), "members_after_10y":
                         float(members[-1]), "ratio": ratio, "persists": bool(persists)})
    return pd.DataFrame(rows)
