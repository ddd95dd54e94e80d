"""Policy packages in a study: worlds from a table (``[design] method = "sets"``), packages at
equal budget (``[budget]``) and their comparison (``[analysis] packages``).

A study's ``[[policies]]`` are its packages: each is a push (amount, start, duration, taper,
match) and other lever values (``params``), with an optional plain ``label``. Every package
and region preset runs in the same design rows, so with a sets design the same worlds; the
comparison (:func:`sdnet.decision.compare_packages`) is written to
``analyses/packages.csv`` and ``analyses/package_worlds.csv``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdnet.decision import (
    Package,
    equal_budget_packages,
    parse_condition,
    read_worlds,
    sample_worlds,
)
from sdnet.decision.compare import MIN_SUCCESSES
from sdnet.designs import Design, Factor, sets_design
from sdnet.errors import ExperimentError, InvalidValueError
from sdnet.experiment.checks import _err, _integer, _number, _string, _table
from sdnet.experiment.selection import read_target_scenarios, selected_by_targets
from sdnet.experiment.spec import Case, Experiment
from sdnet.metrics import Metric
from sdnet.policy import Push

if TYPE_CHECKING:
    import pandas as pd

    from sdnet.model import Model

_BUDGET_KEYS = ("total", "start", "durations", "taper", "match", "params")


def _worlds_path(value: Any, path: Path | None, *, key: str = "design.file") -> Path:
    """``[design] file`` (or ``targets``), relative to the study file's folder."""
    text = _string(value, path, key)
    given = Path(text)
    if not given.is_absolute() and path is not None:
        given = path.parent / given
    return given.resolve()


def parse_sets(design: Mapping[str, Any], path: Path | None, model: Model, *,
               seed: int, has_factors: bool, cases: Sequence[Case]
               ) -> tuple[list[Factor], int, dict[str, Any]]:
    """``[design] method = "sets"``: the worlds file, how many rows, the factors it varies.

    Returns the factors (one per column, bounded by the model's declared range, else by the
    column's own range), ``n`` (every row when ``n`` is left out) and the settings
    (``file``).

    Raises
    ------
    ExperimentError
        No file, a missing or unreadable file, an unknown column (naming it and the file), a
        value outside a declared range, ``n`` larger than the table, [[factors]] given too,
        or a column a region preset, the push or a policy also sets; ``targets`` (the
        calibration targets the worlds were matched against) missing or not settable.
    """
    if "file" not in design:
        raise _err("missing (a sets design runs the rows of a CSV of parameter sets, e.g. "
                   "file = \"../models/flexnet/nonimplausible.csv\")", path, "design.file")
    if has_factors:
        raise _err("a sets design takes its factors from the columns of design.file; remove "
                   "[[factors]]", path, "factors")
    file = _worlds_path(design["file"], path)
    table = read_worlds(file, model, key="design.file", spec=path)
    factors = []
    for column in table.columns:
        parameter = model.parameters[column]
        values = table[column].to_numpy(dtype=float)
        low, high = float(values.min()), float(values.max())
        try:
            parameter.check(low)
            parameter.check(high)
        except InvalidValueError as error:
            raise _err(f"worlds file {file}: column {column!r}: {getattr(error, 'summary', error)}",
                       path, "design.file", column) from None
        if parameter.bounded and parameter.lower < parameter.upper:  # type: ignore[operator]
            low, high = float(parameter.lower), float(parameter.upper)  # type: ignore[arg-type]
        elif not low < high:
            pad = max(abs(low), 1.0) * 1e-9
            low, high = low - pad, high + pad
        factors.append(Factor(column, low, high))
    clash = sorted({k for case in cases for k in case.values} & set(table.columns))
    if clash:
        raise _err(f"worlds file {file}: column {clash[0]!r} is also set by the study (a "
                   "region preset, the push, [params] or a policy's params); a world may only "
                   "vary what the study leaves alone", path, "design.file", clash[0])
    n = design.get("n")
    if n is not None:
        n = _integer(n, path, "design.n", minimum=1)
        sample_worlds(table, n, seed=seed, path=path, key="design.n")  # n <= rows
    settings: dict[str, Any] = {"file": str(file)}
    if "targets" in design:  # the calibration the worlds come from (sdnet.experiment.selection)
        targets = _worlds_path(design["targets"], path, key="design.targets")
        read_target_scenarios(targets, model, spec=path)
        settings["targets"] = str(targets)
    return factors, len(table) if n is None else n, settings


def sets_main_design(experiment: Experiment, model: Model) -> Design:
    """The sampled worlds of a sets study as its design (same seed, same rows)."""
    file = Path(str(experiment.design_settings["file"]))
    table = read_worlds(file, model, key="design.file", spec=experiment.path)
    chosen = sample_worlds(table, experiment.design_n, seed=experiment.seed,
                           path=experiment.path, key="design.n")
    return sets_design(chosen[[f.name for f in experiment.factors]], experiment.factors,
                       seed=experiment.seed, source=file.name)


def budget_policies(data: Mapping[str, Any], path: Path | None, model: Model,
                    base: Push | None, *, push: Callable[..., Push],
                    values: Callable[[Any, str], dict[str, float]]
                    ) -> list[tuple[str, Push, dict[str, float], str]]:
    """``[budget]``: the packages that spend ``total`` differently, as policies.

    ``push`` checks a push against the declared ranges (naming the key), ``values`` reads a
    table of lever values.
    """
    if "budget" not in data:
        return []
    table = _table(data, "budget", path, _BUDGET_KEYS)
    if base is None:
        from sdnet.experiment.parse import _no_schedule

        raise _err(f"equal-budget packages are pushes, and {_no_schedule(model)}", path,
                   "budget", dict(table))
    if "total" not in table:
        raise _err("missing (the public budget every package spends, in the push amount's "
                   "money, e.g. total = 2000000)", path, "budget.total")
    kwargs: dict[str, Any] = {"total": _number(table["total"], path, "budget.total",
                                               positive=True),
                              "start": base.start}
    for key in ("start", "taper", "match"):
        if key in table:
            kwargs[key] = _number(table[key], path, f"budget.{key}", minimum=0.0)
    if "durations" in table:
        raw = table["durations"]
        if not isinstance(raw, list) or len(raw) != 3:
            raise _err("must be three durations [short, medium, long] (Year)", path,
                       "budget.durations", raw)
        kwargs["durations"] = tuple(_number(d, path, "budget.durations", positive=True)
                                    for d in raw)
    extra = values(table.get("params", {}), "budget.params")
    try:
        packages = equal_budget_packages(kwargs.pop("total"), params=extra, **kwargs)
    except InvalidValueError as error:
        key = str(error.name).replace("budget ", "budget.")
        raise _err(f"{error.value!r}: expected {error.expected}", path, key,
                   error.value) from None
    policies = []
    for package in packages:
        if package.push is None:  # never: equal-budget packages always push
            continue
        fields = {f: getattr(package.push, f) for f in ("amount", "start", "duration",
                                                        "taper", "match")}
        try:
            checked = push(fields, base, path, "budget", model)
        except ExperimentError as error:
            raise _err(f"the {package.label.split(':')[0]} package ({package.name}) is out "
                       f"of range: {error.message.split('] ', 1)[-1]}", path, "budget.total",
                       table["total"]) from None
        policies.append((package.name, checked, dict(extra), package.label))
    return policies


def parse_packages_analysis(table: Mapping[str, Any], path: Path | None,
                            metrics: Sequence[Metric], cases: Sequence[Case],
                            model: Model) -> dict[str, Any]:
    """``[analysis] packages = {success, at_least, cost, satisfice, confidence,
    min_successes}`` -> AnalysisSpec fields."""
    from sdnet.decision.evaluate import default_cost
    from sdnet.experiment.parse import _metric_name

    where = "analysis.packages"
    spec = _table(table, "packages", path, ("success", "at_least", "cost", "satisfice",
                                            "confidence", "min_successes"), where=where)
    policies = list(dict.fromkeys(c.policy for c in cases))
    if len(policies) < 2:
        raise _err(f"comparing packages needs at least two [[policies]] (or a [budget]), not "
                   f"{len(policies)}", path, where, dict(spec))
    names = [m.name for m in metrics]
    if "success" not in spec:
        raise _err(f"missing (the outcome that decides success, one of the study's metrics: "
                   f"{', '.join(names)})", path, f"{where}.success")
    success = _metric_name(spec["success"], metrics, path, f"{where}.success")
    at_least = _number(spec.get("at_least", 0.5), path, f"{where}.at_least")
    if "cost" in spec:
        cost: str | None = _metric_name(spec["cost"], metrics, path, f"{where}.cost")
    else:
        cost = default_cost(model, [success])
        cost = cost if cost in names else None
    satisfice = spec.get("satisfice", [])
    if not isinstance(satisfice, list) or not all(isinstance(s, str) for s in satisfice):
        raise _err("must be a list of conditions such as \"surviving_members_10 >= 10\"",
                   path, f"{where}.satisfice", satisfice)
    for i, text in enumerate(satisfice):
        try:
            condition = parse_condition(text)
        except InvalidValueError as error:
            raise _err(f"{text!r}: expected {error.expected}", path,
                       f"{where}.satisfice[{i}]", text) from None
        _metric_name(condition.outcome, metrics, path, f"{where}.satisfice[{i}]")
    confidence = _number(spec.get("confidence", 0.95), path, f"{where}.confidence")
    if not 0 < confidence < 1:
        raise _err(f"must be a number in (0, 1), not {confidence!r}", path,
                   f"{where}.confidence", confidence)
    minimum = _integer(spec.get("min_successes", MIN_SUCCESSES), path,
                       f"{where}.min_successes", minimum=1)
    return {"packages_success": success, "packages_at_least": at_least,
            "packages_cost": cost, "packages_satisfice": tuple(satisfice),
            "packages_confidence": confidence, "packages_min_successes": minimum}


def parse_expectations(raw: Any, path: Path | None, cases: Sequence[Case]
                       ) -> tuple[tuple[str, str], ...]:
    """``[[analysis.expect]]`` entries (``finding``, ``claim``) -> (finding, claim) pairs,
    each claim checked against the study's packages and regions."""
    from sdnet.decision.expectations import parse_claim

    if not isinstance(raw, list) or not raw:
        raise _err("must be a non-empty array of tables ([[analysis.expect]] with finding and "
                   "claim)", path, "analysis.expect", raw)
    packages = list(dict.fromkeys(c.policy for c in cases))
    regions = list(dict.fromkeys(c.region or "default" for c in cases))
    pairs = []
    for i, entry in enumerate(raw):
        key = f"analysis.expect[{i}]"
        if not isinstance(entry, Mapping):
            raise _err("must be a table with finding and claim", path, key, entry)
        unknown = sorted(set(entry) - {"finding", "claim"})
        if unknown:
            raise _err(f"unknown key {unknown[0]!r} (valid: finding, claim)", path, key,
                       dict(entry))
        finding = _string(entry.get("finding"), path, f"{key}.finding")
        claim = _string(entry.get("claim"), path, f"{key}.claim")
        try:
            parse_claim(finding, claim, packages=packages, regions=regions)
        except InvalidValueError as error:
            raise _err(f"{claim!r}: expected {error.expected}", path, f"{key}.claim",
                       claim) from None
        pairs.append((finding, claim))
    return tuple(pairs)


def check_study_expectations(experiment: Experiment, summary: pd.DataFrame
                             ) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The study's claims checked on its package comparison: (per region, verdicts)."""
    from sdnet.decision.expectations import check_expectations, parse_claim, verdicts

    pairs = experiment.analysis.packages_expect
    if not pairs:
        return None
    packages = list(dict.fromkeys(c.policy for c in experiment.cases))
    regions = list(dict.fromkeys(c.region or "default" for c in experiment.cases))
    claims = [parse_claim(f, c, packages=packages, regions=regions) for f, c in pairs]
    checks = check_expectations(summary, claims)
    return checks, verdicts(checks)


def compare_study_packages(experiment: Experiment, design: Design, metrics: pd.DataFrame,
                           model: Model) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The comparison of a study's packages over its main stage: (summary, per world).

    The summary also carries, per region and package, each of the card's ``[[ratios]]``
    whose two outcomes the study measures (flexnet: public money per surviving member firm),
    as totals over the package's worlds (empty where the denominator's total is 0).
    """
    from sdnet.decision import compare_packages
    from sdnet.metrics import ratio_totals

    analysis = experiment.analysis
    by_case = {c.name: c for c in experiment.cases}
    rows = design.settings.get("rows") if design.method == "sets" else None
    frame = metrics.copy()
    frame["region"] = [by_case[c].region or "default" for c in frame["case"]]
    frame["package"] = [by_case[c].policy for c in frame["case"]]
    row = frame.groupby("case").cumcount().to_numpy()
    frame["world"] = [rows[r] for r in row] if rows is not None else row
    labels = {c.policy: c.label or Package(c.policy, c.push).describe()
              for c in experiment.cases}
    summary, worlds = compare_packages(
        frame, success=str(analysis.packages_success), at_least=analysis.packages_at_least,
        cost=analysis.packages_cost, satisfice=analysis.packages_satisfice,
        confidence=analysis.packages_confidence,
        min_successes=analysis.packages_min_successes, labels=labels)
    ok = frame["status"] == "ok"
    for ratio in model.card.ratios:
        if not {ratio.numerator, ratio.denominator} <= set(frame.columns):
            continue
        values = []
        for region, package in zip(summary["region"], summary["package"], strict=True):
            part = frame[ok & (frame["region"] == region) & (frame["package"] == package)]
            values.append(ratio_totals(part[ratio.numerator].to_numpy(dtype=float),
                                       part[ratio.denominator].to_numpy(dtype=float))["value"])
        summary[ratio.name] = values
    return summary, worlds


def study_mechanism(experiment: Experiment, metrics: pd.DataFrame, values: pd.DataFrame,
                    model: Model) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    """What keeps each package's successes alive (the card's ``[mechanism]``), per region.

    Parameters
    ----------
    metrics : pandas.DataFrame
        The main stage's metrics (``case``, ``status`` and the success metric), one row per
        run, in the order of ``values``.
    values : pandas.DataFrame
        :func:`sdnet.experiment.simulate.mechanism_table` of the same runs.

    Returns
    -------
    (pandas.DataFrame, dict) or None
        :func:`sdnet.mechanism.summarise_mechanism` over the runs where the package succeeds
        (its success metric at least ``at_least``), and what ``summary.json`` records
        (``plain``, ``after_push``, ``success``, ``shares``, ``states``, ``cautions``); None
        without a mechanism.
    """
    import numpy as np

    from sdnet.mechanism import mechanism_cautions, summarise_mechanism

    mechanism = model.card.mechanism
    if mechanism is None:
        return None
    analysis = experiment.analysis
    by_case = {c.name: c for c in experiment.cases}
    frame = values.reset_index(drop=True).copy()
    cases = metrics["case"].to_numpy()
    frame.insert(0, "region", [by_case[c].region or "default" for c in cases])
    frame.insert(1, "package", [by_case[c].policy for c in cases])
    outcome = metrics[str(analysis.packages_success)].to_numpy(dtype=float)
    ok = (metrics["status"] == "ok").to_numpy()
    with np.errstate(invalid="ignore"):
        frame["success"] = ok & np.isfinite(outcome) & (outcome >= analysis.packages_at_least)
    summary = summarise_mechanism(mechanism, frame)
    record = {"plain": mechanism.plain, "after_push": mechanism.after_push,
              "success": analysis.packages_success,
              "shares": [s.name for s in mechanism.shares],
              "states": [s.name for s in mechanism.states],
              "cautions": mechanism_cautions(mechanism, summary)}
    return summary, record


def study_selected_by_targets(experiment: Experiment, model: Model) -> list[dict[str, Any]] | None:
    """The cases of a sets study that are a scenario of the targets its worlds were
    history-matched against (``[design] targets``); None when the study names no targets."""
    from sdnet.decision.expectations import parse_claim

    file = experiment.design_settings.get("targets")
    if experiment.design_method != "sets" or not file:
        return None
    scenarios = read_target_scenarios(file, model, spec=experiment.path)
    packages = list(dict.fromkeys(c.policy for c in experiment.cases))
    regions = list(dict.fromkeys(c.region or "default" for c in experiment.cases))
    claims = [(f, parse_claim(f, c, packages=packages, regions=regions))
              for f, c in experiment.analysis.packages_expect]
    defaults = {name: float(model.parameters[name].default) for name in model.parameters}
    return selected_by_targets(experiment.cases, scenarios, defaults, claims=claims)
