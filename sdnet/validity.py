"""The model validity battery behind ``sdnet check``.

Automated versions of the structural and behavioural checks of Sterman, *Business Dynamics*
(2000), ch. 21, and Barlas, "Formal aspects of model validity and validation in system dynamics",
*System Dynamics Review* 12(3), 1996:

* dimensional consistency: every variable has units, and each flow carries its stock's units per
  unit of time (read from the model file);
* parameters: every default lies inside its declared range;
* no NaN, stocks within their declared bounds, on the default run and (flexnet) on each region
  preset under the base push;
* mass balance (flexnet): firms are conserved at every time step;
* extreme conditions (flexnet): zero firms, zero push, a huge push, a huge fee, trust starting at
  0 and at 1 stay finite and sensible;
* integration error: halving the time step (the model file's, or one given) changes the key
  trajectories by less than 1%, and the numerical guard finds nothing at that step;
* loop knockout (flexnet): cutting the sponsorship loop R4 removes the persistence of a network
  in an embedded-prone region (behaviour test BR2).

Checks that need flexnet's variables report "not applicable" on other models. Each check is a
small function returning a :class:`CheckResult`; :func:`check_model` runs them all.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from sdnet.errors import InvalidValueError, SdnetError, UnknownVariableError
from sdnet.numerics import NumericalWarning
from sdnet.policy import BASE_PUSH, REGIONS, Push
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
    "persistence_after_push",
]

#: Largest relative change of a key trajectory when the time step is halved (model.md).
INTEGRATION_TOLERANCE = 0.01
#: Relative tolerance of the firm balance (round-off over 480 Euler steps).
CONSERVATION_TOLERANCE = 1e-9
#: BR2: members ten years after the push ends are at least this share of members when it ended.
PERSISTENCE_THRESHOLD = 0.6
#: The flexnet variables the integration check compares (others: every stock).
KEY_TRAJECTORIES = ("Total Members", "Trust", "Collective Knowledge", "Embeddedness")
_FLEXNET_NEEDS = ("Members", "Potential Members", "Number of Firms", "Push Amount")


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


# -- helpers ----------------------------------------------------------------------------------


def is_flexnet_like(model: Model) -> bool:
    """True when the model has the flexnet variables the behavioural checks need."""
    return all(name in model for name in _FLEXNET_NEEDS)


def _not_applicable(name: str, title: str, model: Model) -> CheckResult:
    return CheckResult(
        name,
        title,
        None,
        f"not applicable: {model.path.name} lacks the variables these checks need "
        f"({', '.join(_FLEXNET_NEEDS)})",
    )


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


def persistence_after_push(result: RunResult, push: Push, *, years_after: float = 10.0) -> float:
    """Members ``years_after`` years after the push ends over members when it ended.

    The push ends at ``push.end`` (start + duration + taper). Returns NaN when no member was
    left at the end of the push.
    """
    members = result["Total Members"]
    times = members.index.to_numpy(dtype=float)
    at_end = float(np.interp(push.end, times, members.to_numpy(float)))
    later = float(np.interp(push.end + years_after, times, members.to_numpy(float)))
    return later / at_end if at_end > 0 else float("nan")


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
    scenarios: dict[str, dict[str, Any]] = {"default": {}}
    if is_flexnet_like(model):
        for name in REGIONS:
            scenarios[f"{name} + base push"] = {"region": name, "push": BASE_PUSH}
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


def check_firms_conserved(model: Model) -> CheckResult:
    """Potential members plus members equal the number of firms at every time step."""
    title = "firms conserved at every time step (potential + members = firms)"
    if not is_flexnet_like(model):
        return _not_applicable("firms_conserved", title, model)
    worst = 0.0
    step = model.default_control("time_step")
    for region in REGIONS:
        result = model.run(
            region=region, push=BASE_PUSH, saveper=step,
            variables=["Members", "Potential Members", "Number of Firms"],
        )
        firms = result["Number of Firms"].to_numpy(float).reshape(-1)
        total = result["Members"].to_numpy(float).sum(axis=1) + result[
            "Potential Members"
        ].to_numpy(float).sum(axis=1)
        worst = max(worst, float(np.max(np.abs(total - firms) / np.maximum(firms, 1.0))))
    passed = worst <= CONSERVATION_TOLERANCE
    return CheckResult(
        "firms_conserved",
        title,
        passed,
        f"largest relative imbalance {worst:.2e} (tolerance {CONSERVATION_TOLERANCE:g}) "
        f"over every step of {len(REGIONS)} region runs",
    )


def _extreme_runs(model: Model) -> dict[str, Callable[[], RunResult]]:
    parameters = model.parameters
    huge_push = 100 * (parameters["Push Amount"].upper or 1e6)
    runs: dict[str, Callable[[], RunResult]] = {
        "zero firms": lambda: model.run(
            {"Number of Firms": 0}, region="typical", push=BASE_PUSH, variables="all",
            check_ranges=False,
        ),
        "zero push": lambda: model.run(region="typical", variables="all"),
        "huge push": lambda: model.run(
            region="typical", push=replace(BASE_PUSH, amount=huge_push), variables="all",
            check_ranges=False,
        ),
    }
    if "Membership Fee" in parameters:
        huge_fee = 100 * (parameters["Membership Fee"].upper or 1e5)
        runs["huge fee"] = lambda: model.run(
            {"Membership Fee": huge_fee}, region="typical", push=BASE_PUSH, variables="all",
            check_ranges=False,
        )
    if "Trust" not in model:
        return runs
    start = model.run(region="typical", push=BASE_PUSH).state_at(0.0)
    for level in (0.0, 1.0):
        values = dict(start.values)
        values["Trust"] = level
        state = type(start)(time=start.time, values=values)
        runs[f"trust starts at {level:g}"] = (
            lambda state=state: model.run(
                region="typical", push=BASE_PUSH, variables="all", initial_state=state
            )
        )
    return runs


def check_extreme_conditions(model: Model) -> CheckResult:
    """Zero firms, zero/huge push, huge fee, trust at 0 and 1: finite and sensible."""
    title = "extreme conditions stay finite and sensible"
    if not is_flexnet_like(model):
        return _not_applicable("extreme_conditions", title, model)
    problems: list[str] = []
    for label, run in _extreme_runs(model).items():
        try:
            result = run()
        except SdnetError as error:
            problems.append(f"{label}: run failed ({error})")
            continue
        bad = _nonfinite(result)
        if bad:
            problems.append(f"{label}: non-finite {', '.join(bad[:5])}")
            continue
        problems += [f"{label}: {p}" for p in _bounds_violations(model, result)]
        members = result["Total Members"].to_numpy(float)
        firms = result["Number of Firms"].to_numpy(float).reshape(-1)
        if (members < -1e-9).any() or (members > firms * (1 + 1e-9) + 1e-9).any():
            problems.append(f"{label}: members leave [0, number of firms]")
        if label == "zero firms" and np.abs(members).max() > 0:
            problems.append(f"zero firms: members reach {members.max():.3g}")
    if problems:
        return CheckResult("extreme_conditions", title, False, "; ".join(problems))
    return CheckResult(
        "extreme_conditions", title, True, "; ".join(_extreme_runs(model))
    )


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

    Works on any model: flexnet's key trajectories, every stock of other models. ``time_step``
    (default the model file's) is the step under test; the numerical guard's findings on
    that step (stocks out of their declared bounds, step-to-step see-saws) fail it too.
    """
    step = model.default_control("time_step") if time_step is None else float(time_step)
    title = (f"time step {step:g} vs {step / 2:g} within {INTEGRATION_TOLERANCE:.0%} on key "
             "trajectories, no numerical flags")
    flexnet = is_flexnet_like(model)
    columns = (
        [c for c in KEY_TRAJECTORIES if c in model] if flexnet else model.stock_columns()
    )
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


#: The constant that cuts the sponsorship loop R4 (no sponsor recruitment).
SPONSORSHIP_LOOP_SWITCH = "Sponsor Recruitment Rate"


def check_loop_knockout(model: Model) -> CheckResult:
    """Cutting the sponsorship loop R4 removes BR2's persistence in an embedded-prone region."""
    title = "loop knockout: without sponsorship (R4), BR2's persistence disappears"
    if not is_flexnet_like(model) or SPONSORSHIP_LOOP_SWITCH not in model:
        return _not_applicable("loop_knockout", title, model)
    options: Mapping[str, Any] = {"region": "embedded_prone", "push": BASE_PUSH}
    intact = persistence_after_push(model.run(**options), BASE_PUSH)
    cut = persistence_after_push(
        model.run({SPONSORSHIP_LOOP_SWITCH: 0.0}, check_ranges=False, **options), BASE_PUSH
    )
    passed = intact >= PERSISTENCE_THRESHOLD > cut
    return CheckResult(
        "loop_knockout",
        title,
        passed,
        f"persistence 10 years after the push: {intact:.2f} with R4, {cut:.2f} with "
        f"{SPONSORSHIP_LOOP_SWITCH} = 0 (BR2 needs >= {PERSISTENCE_THRESHOLD:g})",
    )


CHECKS: dict[str, Callable[[Model], CheckResult]] = {
    "units_declared": check_units_declared,
    "flow_units": check_flow_units,
    "defaults_in_range": check_defaults_in_range,
    "finite_and_bounded": check_finite_and_bounded,
    "firms_conserved": check_firms_conserved,
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
