"""The model validity battery behind ``sdnet check``.

Automated versions of the structural and behavioural checks of Sterman, *Business Dynamics*
(2000), ch. 21, and Barlas, "Formal aspects of model validity and validation in system dynamics",
*System Dynamics Review* 12(3), 1996:

* dimensional consistency: every variable has units, and each flow carries its stock's units per
  unit of time (read from the model file);
* parameters: every default lies inside its declared range;
* no NaN, stocks within their declared bounds, on the default run and on each preset of the
  model's card (with the card's base push when it has a push schedule);
* integration error: halving the time step (the model file's, or one given) changes the key
  trajectories (the card's ``report_variables``, else every stock) by less than 1%, and the
  numerical guard finds nothing at that step;
* the model's own checks, from its card's ``[checks]`` (:mod:`sdnet.card`): conservation laws
  at every time step, extreme-condition runs that must stay finite, within bounds and within
  the card's invariants, and loop knockouts that must remove a behaviour.

A check the model's card does not declare reports "not applicable". Each check is a small
function returning a :class:`CheckResult`; :func:`check_model` runs them all.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sdnet.card import UPPER_MULTIPLE, ExtremeRun, SanityCondition
from sdnet.errors import InvalidValueError, SdnetError, UnknownVariableError
from sdnet.metrics import Trajectories, card_metrics, formed_threshold
from sdnet.numerics import NumericalWarning
from sdnet.params import python_name
from sdnet.policy import base_push
from sdnet.units import UnitsError, parse_units

if TYPE_CHECKING:
    import pandas as pd

    from sdnet.model import Model
    from sdnet.results import RunResult

__all__ = [
    "CHECKS",
    "INTEGRATION_TOLERANCE",
    "CheckResult",
    "ValidityReport",
    "check_model",
]

#: Largest relative change of a key trajectory when the time step is halved (model.md).
INTEGRATION_TOLERANCE = 0.01
#: Relative tolerance of a conservation law and of invariants (round-off over many steps).
CONSERVATION_TOLERANCE = 1e-9


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one validity check.

    Attributes
    ----------
    name : str
        Short identifier, e.g. ``"flow_units"``.
    title : str
        What the check verifies, in words.
    passed : bool or None
        True/False, or None when the check does not apply to this model.
    detail : str
        What was measured: the numbers behind the verdict, or what failed.
    """

    name: str
    title: str
    passed: bool | None
    detail: str

    @property
    def status(self) -> str:
        """``"pass"``, ``"FAIL"`` or ``"n/a"``."""
        return "n/a" if self.passed is None else ("pass" if self.passed else "FAIL")


@dataclass(frozen=True)
class ValidityReport:
    """All checks run on one model."""

    model: str
    checks: tuple[CheckResult, ...]

    @property
    def passed(self) -> bool:
        """True when no applicable check failed."""
        return all(c.passed is not False for c in self.checks)

    def __getitem__(self, name: str) -> CheckResult:
        for check in self.checks:
            if check.name == name:
                return check
        raise UnknownVariableError(
            name, candidates=[c.name for c in self.checks], what="check", where=self.model
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per check: name, status, title, detail."""
        import pandas as pd

        return pd.DataFrame(
            [
                {"check": c.name, "status": c.status, "title": c.title, "detail": c.detail}
                for c in self.checks
            ]
        ).set_index("check")


# -- helpers ---------------------------------------------------------------------------------


def _not_applicable(name: str, title: str, model: Model, table: str) -> CheckResult:
    card = model.card
    where = (f"its card {card.path.name} declares no {table}" if card.path is not None
             else f"{model.path.name} has no model card (a .toml beside it) declaring {table}")
    return CheckResult(name, title, None, f"not applicable: {where}")


def _options(model: Model, preset: str, push: bool) -> dict[str, Any]:
    """The run options of a card check: its preset and, when asked, the card's base push."""
    options: dict[str, Any] = {}
    if preset:
        options["region"] = preset
    if push and model.card.push is not None:
        options["push"] = base_push(model.card)
    return options


def _series(result: RunResult, name: str) -> np.ndarray:
    """An output as (n_time, n_elements) values (one column unless subscripted)."""
    values = np.asarray(result[name].to_numpy(), dtype=float)
    return values.reshape(values.shape[0], -1)


def _constant(model: Model, name: str, options: Mapping[str, Any],
              params: Mapping[str, Any] | None = None) -> float:
    values = model.scenario_values(params, check_ranges=False, **options)
    key = python_name(name)
    return float(values.get(key, model.parameters[key].default))


_COMBINE = {"mean": np.mean, "min": np.min, "max": np.max}
_COMPARE: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {
    "<": lambda a, b, slack: a < b + slack, "<=": lambda a, b, slack: a <= b + slack,
    ">": lambda a, b, slack: a > b - slack, ">=": lambda a, b, slack: a >= b - slack,
}


def _violation(condition: SanityCondition, result: RunResult, model: Model,
               options: Mapping[str, Any], params: Mapping[str, Any] | None) -> str | None:
    """Where ``condition`` fails in a run (at any saved time), or None when it always holds."""
    parts = [_series(result, v) for v in condition.variables]
    left = parts[0] if len(parts) == 1 else _COMBINE[condition.combine](
        np.stack(parts), axis=0)
    if condition.other:
        right = _series(result, condition.other)
    elif condition.formed_of:
        right = np.asarray(formed_threshold(_constant(model, condition.formed_of, options,
                                                      params)))
    else:
        right = np.asarray(condition.value)
    slack = CONSERVATION_TOLERANCE * (1.0 + np.abs(right))
    holds = _COMPARE[condition.op](left, right, slack)
    if holds.all():
        return None
    worst = float(left[~holds].max() if condition.op in ("<", "<=") else left[~holds].min())
    return f"{condition.text} fails ({', '.join(condition.variables)} reaches {worst:.3g})"


def _bounds_violations(model: Model, result: RunResult) -> list[str]:
    """Columns of stocks that leave their declared [lower, upper] range, with the worst value."""
    problems: list[str] = []
    table = model.variables
    for column in model.stock_columns():
        stock = model.resolve(column.split("[")[0])
        lower, upper = table.loc[stock, "lower"], table.loc[stock, "upper"]
        values = result.stock_frame[column].to_numpy(dtype=float)
        scale = max(1.0, float(np.nanmax(np.abs(values))))
        slack = 1e-9 * scale
        if lower is not None and not _isnan(lower) and values.min() < lower - slack:
            problems.append(f"{column} falls to {values.min():.6g} below {lower:g}")
        if upper is not None and not _isnan(upper) and values.max() > upper + slack:
            problems.append(f"{column} rises to {values.max():.6g} above {upper:g}")
    return problems


def _isnan(value: Any) -> bool:
    try:
        return bool(np.isnan(value))
    except TypeError:
        return False


def _nonfinite(result: RunResult) -> list[str]:
    frame = result.frame
    bad = [str(c) for c in frame.columns if not np.isfinite(frame[c].to_numpy(float)).all()]
    if result.stock_frame is not None:
        bad += [
            str(c)
            for c in result.stock_frame.columns
            if not np.isfinite(result.stock_frame[c].to_numpy(float)).all() and str(c) not in bad
        ]
    return bad


# -- checks -----------------------------------------------------------------------------------


def check_units_declared(model: Model) -> CheckResult:
    """Every variable declares units."""
    title = "every variable has units"
    table = model.variables
    skip = {"time"}
    missing = [
        str(row["vensim_name"])
        for name, row in table.iterrows()
        if name not in skip and not str(row["units"]).strip() and row["kind"] != "lookup"
    ]
    if missing:
        return CheckResult("units_declared", title, False, "no units: " + ", ".join(missing))
    return CheckResult("units_declared", title, True, f"{len(table) - len(skip)} variables")


def check_flow_units(model: Model) -> CheckResult:
    """Each flow's units equal its stock's units per unit of time."""
    title = "each flow's units = its stock's units per time unit"
    try:
        time_units = parse_units(model.units("TIME STEP"))
    except (UnitsError, UnknownVariableError) as error:
        return CheckResult("flow_units", title, False, f"time unit unreadable: {error}")
    problems: list[str] = []
    checked = 0
    for stock, flows in model.stock_flows.items():
        try:
            expected = parse_units(model.units(stock)) / time_units
        except UnitsError as error:
            problems.append(str(error))
            continue
        for flow in flows:
            checked += 1
            try:
                actual = parse_units(model.units(flow))
            except UnitsError as error:
                problems.append(str(error))
                continue
            if actual != expected:
                problems.append(
                    f"{flow} is in {model.units(flow) or '(none)'}, but {stock} needs {expected}"
                )
    if problems:
        return CheckResult("flow_units", title, False, "; ".join(problems))
    return CheckResult(
        "flow_units", title, True, f"{checked} flows of {len(model.stock_flows)} stocks"
    )


def check_defaults_in_range(model: Model) -> CheckResult:
    """Every parameter's default lies inside its declared range."""
    title = "every default lies inside its declared range"
    outside = []
    for parameter in model.parameters.values():
        try:
            parameter.check(parameter.default)
        except InvalidValueError:
            outside.append(
                f"{parameter.vensim_name}={parameter.default:g} not in "
                f"[{parameter.lower}, {parameter.upper}]"
            )
    if outside:
        return CheckResult("defaults_in_range", title, False, "; ".join(outside))
    ranged = sum(1 for p in model.parameters.values() if p.bounded)
    return CheckResult(
        "defaults_in_range", title, True, f"{len(model.parameters)} parameters, {ranged} ranged"
    )


def _scenarios(model: Model) -> dict[str, dict[str, Any]]:
    """The default run and every preset of the card (with its base push, if it has one)."""
    scenarios: dict[str, dict[str, Any]] = {"default": {}}
    card = model.card
    for name in card.presets:
        options = _options(model, name, True)
        if all(python_name(k) in model.parameters for k in card.presets[name].values):
            label = f"{name} + base push" if "push" in options else name
            scenarios[label] = options
    return scenarios


def check_finite_and_bounded(model: Model) -> CheckResult:
    """No NaN; stocks within their declared bounds."""
    title = "no NaN or infinity; stocks stay within their declared bounds"
    problems = []
    scenarios = _scenarios(model)
    for label, options in scenarios.items():
        result = model.run(variables="all", **options)
        bad = _nonfinite(result)
        if bad:
            problems.append(f"{label}: non-finite {', '.join(bad[:5])}")
        problems += [f"{label}: {p}" for p in _bounds_violations(model, result)]
    if problems:
        return CheckResult("finite_and_bounded", title, False, "; ".join(problems))
    return CheckResult(
        "finite_and_bounded", title, True, f"runs: {', '.join(scenarios)}"
    )


def check_conserved(model: Model) -> CheckResult:
    """The card's conservation laws hold at every time step of every preset's run."""
    title = "conservation laws of the model's card hold at every time step"
    laws = model.card.checks.conserved
    if not laws:
        return _not_applicable("conserved", title, model, "[[checks.conserved]]")
    step = model.default_control("time_step")
    scenarios = {k: v for k, v in _scenarios(model).items() if k != "default" or
                 len(_scenarios(model)) == 1}
    details = []
    passed = True
    for law in laws:
        worst = 0.0
        for options in scenarios.values():
            result = model.run(saveper=step, variables=[*law.parts, law.total], **options)
            total = _series(result, law.total).sum(axis=1)
            parts = sum(_series(result, p).sum(axis=1) for p in law.parts)
            worst = max(worst, float(np.max(np.abs(parts - total) / np.maximum(np.abs(total),
                                                                                1.0))))
        passed &= worst <= CONSERVATION_TOLERANCE
        details.append(f"{law.plain or law.name}: largest relative imbalance {worst:.2e}")
    return CheckResult(
        "conserved", title, passed,
        f"{'; '.join(details)} (tolerance {CONSERVATION_TOLERANCE:g}) over every step of "
        f"{len(scenarios)} runs ({', '.join(scenarios)})",
    )


def _extreme_values(model: Model, run: ExtremeRun) -> dict[str, float]:
    values: dict[str, float] = {}
    for name, value in run.values.items():
        if isinstance(value, str):
            parameter = model.parameters[name]
            factor = float(UPPER_MULTIPLE.match(value)["factor"])  # type: ignore[index]
            upper = parameter.upper
            if upper is None or not math.isfinite(float(upper)):
                raise InvalidValueError(
                    f"{name} (extreme run {run.name!r})", value,
                    expected="a number: the constant declares no finite upper bound")
            values[name] = factor * float(upper)
        else:
            values[name] = float(value)
    return values


def _extreme_result(model: Model, run: ExtremeRun) -> tuple[RunResult, dict[str, Any],
                                                            dict[str, float]]:
    options = _options(model, run.preset, run.push)
    params = _extreme_values(model, run)
    if run.initial:
        start = model.run(params, check_ranges=False, **options).state_at(
            model.default_control("initial_time"))
        values = dict(start.values)
        for stock, level in run.initial.items():
            if stock not in values:
                raise UnknownVariableError(stock, candidates=list(values), what="stock",
                                           where=f"extreme run {run.name!r}")
            values[stock] = level
        state = type(start)(time=start.time, values=values)
        result = model.run(params, check_ranges=False, variables="all", initial_state=state,
                           **options)
    else:
        result = model.run(params, check_ranges=False, variables="all", **options)
    return result, options, params


def check_extreme_conditions(model: Model) -> CheckResult:
    """The card's extreme-condition runs stay finite, in bounds and within its invariants."""
    title = "extreme conditions stay finite and sensible"
    runs = model.card.checks.extreme
    if not runs:
        return _not_applicable("extreme_conditions", title, model, "[[checks.extreme]]")
    problems: list[str] = []
    for run in runs:
        try:
            result, options, params = _extreme_result(model, run)
        except SdnetError as error:
            problems.append(f"{run.name}: run failed ({error})")
            continue
        bad = _nonfinite(result)
        if bad:
            problems.append(f"{run.name}: non-finite {', '.join(bad[:5])}")
            continue
        problems += [f"{run.name}: {p}" for p in _bounds_violations(model, result)]
        for condition in (*model.card.checks.invariants, *run.expect):
            found = _violation(condition, result, model, options, params)
            if found:
                problems.append(f"{run.name}: {found}")
    if problems:
        return CheckResult("extreme_conditions", title, False, "; ".join(problems))
    return CheckResult("extreme_conditions", title, True, "; ".join(r.name for r in runs))


def _relative_change(coarse: pd.DataFrame, fine: pd.DataFrame, columns: Iterable[str]) -> dict:
    changes = {}
    for column in columns:
        a = coarse[column].to_numpy(float)
        b = fine[column].reindex(coarse.index).to_numpy(float)
        scale = max(float(np.max(np.abs(a))), float(np.max(np.abs(b))), 1e-12)
        changes[column] = float(np.max(np.abs(a - b)) / scale)
    return changes


def check_integration_error(model: Model, *, time_step: float | None = None) -> CheckResult:
    """Halving the time step changes key trajectories by less than 1% (of their range).

    Works on any model: the card's ``report_variables`` (else every stock). ``time_step``
    (default the model file's) is the step under test; the numerical guard's findings on
    that step (stocks out of their declared bounds, step-to-step see-saws) fail it too.
    """
    step = model.default_control("time_step") if time_step is None else float(time_step)
    title = (f"time step {step:g} vs {step / 2:g} within {INTEGRATION_TOLERANCE:.0%} on key "
             "trajectories, no numerical flags")
    columns = [c for c in model.card.report_variables if c in model] or model.stock_columns()
    default_save = model.default_control("saveper")
    save = step * max(1, round(default_save / step))  # a whole multiple of both steps
    scenarios = _scenarios(model)
    worst: dict[str, float] = {}
    flags: list[str] = []
    for options in scenarios.values():
        coarse_run = model.run(variables=columns, time_step=step, saveper=save, **options)
        fine = model.run(variables=columns, time_step=step / 2, saveper=save, **options).frame
        flags += [f for f in coarse_run.flags if f not in flags]
        coarse = coarse_run.frame
        for column, change in _relative_change(coarse, fine, coarse.columns).items():
            worst[column] = max(worst.get(column, 0.0), change)
    largest = max(worst.values()) if worst else 0.0
    detail = ", ".join(f"{k} {v:.2%}" for k, v in worst.items())
    detail = f"largest change (share of the trajectory's maximum): {detail}"
    if flags:
        detail += f"; numerical guard at time step {step:g}: {flags[0]}"
        if len(flags) > 1:
            detail += f" (+{len(flags) - 1} more)"
    return CheckResult(
        "integration_error",
        title,
        largest <= INTEGRATION_TOLERANCE and not flags,
        detail,
    )


def _outcome(model: Model, name: str, options: Mapping[str, Any],
             params: Mapping[str, float] | None) -> float:
    """One card outcome of one run."""
    metric = card_metrics(model.card)[name]
    result = model.run(params, check_ranges=False, variables=list(metric.variables),
                       **options)
    times = np.asarray(result.frame.index, dtype=float)
    push = options.get("push")
    data = Trajectories(
        times, {v: _series(result, v)[:, 0][None, :] for v in metric.variables},
        push_end=None if push is None else np.array([push.end]),
        constants={c: np.array([_constant(model, c, options, params)])
                   for c in metric.constants})
    return float(metric(data)[0])


def check_loop_knockout(model: Model) -> CheckResult:
    """Cutting a loop named on the card removes the behaviour it carries."""
    title = "loop knockout: cutting a loop of the card removes its behaviour"
    knockouts = model.card.checks.knockout
    if not knockouts:
        return _not_applicable("loop_knockout", title, model, "[[checks.knockout]]")
    passed, details = True, []
    for knockout in knockouts:
        options = _options(model, knockout.preset, knockout.push)
        intact = _outcome(model, knockout.outcome, options, None)
        cut = _outcome(model, knockout.outcome, options, dict(knockout.values))
        passed &= intact >= knockout.threshold > cut
        setting = ", ".join(f"{k} = {v:g}" for k, v in knockout.values.items())
        details.append(
            f"{knockout.plain or knockout.name}: {knockout.outcome} {intact:.2f} with the "
            f"loop, {cut:.2f} with {setting} (needs >= {knockout.threshold:g}, then below)")
    return CheckResult("loop_knockout", title, passed, "; ".join(details))


CHECKS: dict[str, Callable[[Model], CheckResult]] = {
    "units_declared": check_units_declared,
    "flow_units": check_flow_units,
    "defaults_in_range": check_defaults_in_range,
    "finite_and_bounded": check_finite_and_bounded,
    "conserved": check_conserved,
    "extreme_conditions": check_extreme_conditions,
    "integration_error": check_integration_error,
    "loop_knockout": check_loop_knockout,
}


def check_model(
    model: Model | str | os.PathLike[str],
    *,
    checks: Iterable[str] | None = None,
    time_step: float | None = None,
) -> ValidityReport:
    """Run the validity battery (or the named ``checks``) on a model or a model file's path.

    A check that raises an sdnet error counts as failed, with the error as its detail, so one
    broken scenario does not hide the other checks. ``time_step`` is the step the
    integration check tests (default the model file's). The numerical guard's warnings are
    silenced inside the battery: its checks report bounds and see-saws themselves, and the
    extreme-condition runs leave the declared ranges on purpose.

    Raises
    ------
    InvalidValueError
        If ``model`` is neither a Model nor a path.
    ModelNotFoundError, ModelParseError
        If a path given cannot be loaded.
    """
    from sdnet.model import Model, load_model

    if isinstance(model, str | os.PathLike) and not isinstance(model, bool):
        model = load_model(model)
    if not isinstance(model, Model):
        raise InvalidValueError(
            "model", model, expected="a Model (sdnet.load_model(path)) or a model file's path"
        )
    names = list(CHECKS) if checks is None else list(checks)
    if time_step is not None and not (isinstance(time_step, int | float)
                                      and not isinstance(time_step, bool)
                                      and math.isfinite(time_step) and time_step > 0):
        raise InvalidValueError("time_step", time_step, expected="a positive number")
    results = []
    for name in names:
        if name not in CHECKS:
            raise UnknownVariableError(name, candidates=CHECKS, what="check")
        check = CHECKS[name]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NumericalWarning)
                if name == "integration_error":
                    results.append(check_integration_error(model, time_step=time_step))
                else:
                    results.append(check(model))
        except SdnetError as error:
            doc = (CHECKS[name].__doc__ or name).strip().splitlines()[0]
            results.append(CheckResult(name, doc, False, f"could not run: {error}"))
    return ValidityReport(model=model.path.name, checks=tuple(results))
