"""Behaviour tests as probabilities: BR1-BR8 and the flexnet v2 goals over many parameter sets.

``tests/model`` checks the behaviour tests of ``../shared/design/model.md`` at the model file's
defaults. A finding that holds only at one point of a wide uncertainty says little, so this
module restates the tests per parameter set and reports *pass rates with counts* over a table
of sets: by default a Latin hypercube of the ``[uncertain]`` parameters' declared ranges, or
the non-implausible sets ``sdnet calibrate`` keeps (a CSV or Parquet file with one column per
parameter). Every set is run in every region preset without a push and with the base push (and
in the embedded-prone region with shorter and longer pushes, for BR8), on the vector engine.

Per set and region (``n`` counts sets; a pass is one set):

``no_network_without_push``
    BR1/F7: without a push, members stay below ``max(3, 5% of firms)`` over the whole horizon.
``push_grows_network``
    With the base push, members when the push ends reach ``max(3, 5% of firms)``.
``alive_after_push``
    Ten years after the push ends members are still at least ``max(3, 5% of firms)``.
``br2_persists`` (embedded-prone)
    Grows and keeps at least 60% of its members ten years after the push ends.
``br3_declines`` (typical)
    Grows, then keeps at most 35% of its members ten years after the push ends.
``br4_embedded_gives_more``
    Mean Average Member Benefit over the ten years after the push: embedded-prone at least
    1.25 times typical (paired sets).
``f1_micro_gain_more``
    F1: micro/new members gain more per member than established ones at every saved time from
    half a year after the push starts (base push).
``br5_micro_gain_and_over_represented``
    BR5: F1, and micro/new firms are over-represented among members (the mean micro share of
    members while a network exists exceeds the region's micro share).
``br6_external_lower_peak``
    Peak members with the push in the externally networked region at most 60% of the typical
    region's (paired sets where the typical network formed).
``br6_external_access``
    Without a push, firms' knowledge access in the externally networked region within 20% of
    that of members of the embedded-prone network (both segments, end of the horizon).
``br7_phase_order`` (typical)
    Joining peak before the peak of net trust growth before the knowledge peak.
``br7_no_knowledge_below_mass`` (typical)
    Without a push, collective knowledge stays below 0.05.
``br8_monotone_in_duration`` (embedded-prone)
    Members at the horizon non-decreasing in push duration (0, 1.5, 3.5, 6 years; dips of 1%
    of the largest value allowed).
``embedded_at_least_typical``
    Paired sets: with the push, the embedded-prone network ends at least as large as the
    typical one (0.01 firm tolerance).
``fee_pump_dies`` (typical)
    The fee-pump run of issue #10 (fee 18,000 $/yr, 70% of staff brokering, base push) ends
    with fewer than 1 member.
``no_negative_value_network``
    In every scenario run of the set (the fee-pump run included), no network (members at
    least ``max(3, 5% of firms)``) lasts ten years while its members' perceived net value is
    negative throughout.

The goals of issue #10 are judged on these rates. BR8's hysteresis tests (restarting from a
state) and the sharpness of the transition stay default-only tests.

What the checks read, the presets they run in (typical, embedded-prone, externally networked
above), the durations of BR8's scan, the fee-pump constants and the goals come from the model
card's ``[robust]`` table (:class:`sdnet.card.Robust`; flexnet's in
``models/flexnet/flexnet.toml``), by role (:data:`sdnet.card.ROBUST_ROLES`): this module
names no model's variables. A model whose card has no ``[robust]`` gets a clear error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sdnet.card import Robust
from sdnet.errors import CardError, EngineInputError, InvalidValueError, SdnetError
from sdnet.metrics import PERSISTENCE_LAG, SUSTAINED_PERSISTENCE, formed_threshold, value_at
from sdnet.policy import Push, base_push

if TYPE_CHECKING:
    import pandas as pd

    from sdnet.model import Model

__all__ = [
    "RobustReport",
    "RobustRow",
    "default_sets",
    "read_sets",
    "robust_check",
    "robust_spec",
    "uncertain_factors",
]

#: Columns of a sets file that describe a set rather than set a parameter (ignored).
METADATA_COLUMNS = frozenset({"run", "set", "wave", "weight"})
NEGATIVE_VALUE_YEARS = 10.0


@dataclass(frozen=True)
class RobustRow:
    """One check in one region: ``passed`` of ``n`` sets."""

    check: str
    region: str
    passed: int
    n: int

    @property
    def rate(self) -> float:
        """Share of sets that pass (NaN when no set applies)."""
        return self.passed / self.n if self.n else float("nan")


@dataclass(frozen=True)
class RobustReport:
    """Pass rates of the behaviour checks over a table of parameter sets.

    Attributes
    ----------
    rows : tuple of RobustRow
        One per check and region.
    n_sets : int
        Parameter sets checked (each in every scenario).
    source : str
        Where the sets came from (``"LHS of 40 uncertain parameters, seed 1"`` or a file).
    failed_runs : int
        Scenario runs that went non-finite (their sets fail every check they enter).
    flagged_runs : int
        Scenario runs the numerical guard (:mod:`sdnet.numerics`) flagged: a stock out of its
        declared bounds or an Euler see-saw. They are counted like any other run.
    spec : Robust or None
        The card's ``[robust]`` the checks ran with (its presets and goals).
    """

    rows: tuple[RobustRow, ...]
    n_sets: int
    source: str
    failed_runs: int = 0
    flagged_runs: int = 0
    spec: Robust | None = None

    def row(self, check: str, region: str) -> RobustRow:
        """The row of ``check`` in ``region``."""
        for row in self.rows:
            if row.check == check and row.region == region:
                return row
        raise KeyError(f"no row {check!r} in region {region!r}")

    def rate(self, check: str, region: str) -> float:
        """Pass rate of ``check`` in ``region``."""
        return self.row(check, region).rate

    @property
    def alive_gap(self) -> float:
        """Alive ten years after the push: the ``high`` preset's rate minus the ``low``'s."""
        if self.spec is None:
            return float("nan")
        presets = self.spec.presets
        return (self.rate("alive_after_push", presets["high"])
                - self.rate("alive_after_push", presets["low"]))

    def goals(self) -> list[tuple[str, float, bool]]:
        """Each goal of the card's ``[robust]`` as (text, worst measured value, met)."""
        if self.spec is None:
            return []
        judged = []
        for goal in self.spec.goals:
            rates = [self.rate(goal.check, preset) for preset in goal.presets]
            worst = min(rates)
            judged.append((goal.text or goal.check, worst, bool(worst >= goal.rate)))
        gap = self.alive_gap
        judged.append((self.spec.gap_text or f"alive after the schedule: high minus low "
                       f"preset >= {self.spec.gap:.0%}", gap, bool(gap >= self.spec.gap)))
        return judged

    @property
    def all_goals_met(self) -> bool:
        """True when every goal of issue #10 is met."""
        return all(met for _, _, met in self.goals())

    def to_frame(self) -> pd.DataFrame:
        """One row per check and region: passed, n, rate."""
        import pandas as pd

        return pd.DataFrame(
            [{"check": r.check, "region": r.region, "passed": r.passed, "n": r.n,
              "rate": r.rate} for r in self.rows]
        )


# ------------------------------------------------------------------------------ parameter sets


def uncertain_factors(model: Model) -> list[Any]:
    """Uniform factors over the declared ranges of the model's ``[uncertain]`` parameters."""
    from sdnet.runner import ranged_factors

    names = [p.name for p in model.parameters.of_kind("uncertain").values()
             if p.bounded and p.lower < p.upper]  # type: ignore[operator]
    if not names:
        raise EngineInputError(
            f"{model.path.name} has no [uncertain] parameter with a declared range to sample"
        )
    return ranged_factors(model, names)


def default_sets(model: Model, n: int, *, seed: int = 1) -> pd.DataFrame:
    """A Latin hypercube of ``n`` sets over the ``[uncertain]`` parameters' declared ranges."""
    from sdnet.designs import lhs_design

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidValueError("samples", n, expected="a positive whole number of sets")
    return lhs_design(uncertain_factors(model), n, seed=seed).to_frame()


def read_sets(path: str | Path, model: Model) -> tuple[pd.DataFrame, list[str]]:
    """Read parameter sets from a CSV or Parquet file (one column per parameter).

    Columns are parameter names (Python or Vensim spelling). Columns named ``run``, ``set``,
    ``wave`` or ``weight``, or containing ``implausib``, describe the sets and are ignored;
    region descriptors and levers are set by the scenarios, so their columns are dropped.

    Returns
    -------
    (DataFrame, list of str)
        The sets (Python names as columns) and the names of the dropped columns.

    Raises
    ------
    SdnetError
        The file is missing, unreadable, empty, or not CSV/Parquet.
    UnknownVariableError
        A column is not a parameter of the model (with close matches).
    InvalidValueError, OutOfRangeError
        A value is not a finite number or lies outside its declared range.
    """
    import pandas as pd

    from sdnet.runner import factor_table

    path = Path(path)
    if not path.is_file():
        raise SdnetError(f"sets file {path} not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            table = pd.read_csv(path)
        elif suffix in (".parquet", ".pq"):
            table = pd.read_parquet(path)
        else:
            raise SdnetError(
                f"sets file {path} must be .csv or .parquet (one column per parameter)"
            )
    except (OSError, ValueError, ImportError) as error:
        raise SdnetError(f"cannot read sets file {path}: {error}") from None
    if table.empty:
        raise SdnetError(f"sets file {path} has no rows")
    dropped: list[str] = []
    keep: dict[str, Any] = {}
    for column in table.columns:
        name = str(column)
        if name.lower() in METADATA_COLUMNS or "implausib" in name.lower():
            dropped.append(name)
            continue
        parameter = model.parameters[name]  # UnknownVariableError with close matches
        if parameter.kind in ("region", "lever", "control"):
            dropped.append(name)
            continue
        keep[name] = table[column].to_numpy()
    if not keep:
        raise SdnetError(f"sets file {path} has no parameter columns")
    return factor_table(model, keep), dropped


# ---------------------------------------------------------------------------------- the checks


Scenario = tuple[str, "Push | None", Mapping[str, float]]


def robust_spec(model: Model) -> Robust:
    """The model card's ``[robust]``, checked against the model's outputs.

    Raises
    ------
    CardError
        The model has no card, its card no ``[robust]`` table, or a role names an output the
        model lacks (naming the card file and the key).
    """
    card = model.card
    if card.robust is None:
        where = (f"its card {card.path.name} has no [robust] table" if card.path is not None
                 else f"it has no model card ({model.path.stem}.toml beside it)")
        raise CardError(f"sdnet check --robust runs the behaviour tests a model card's "
                        f"[robust] table names, and {where}", path=card.path, key="robust",
                        value=None)
    columns = set(model.columns("all"))
    for role, column in card.robust.variables.items():
        if column not in columns:
            raise CardError(f"the model has no output {column!r}", path=card.path,
                            key=f"robust.variables.{role}", value=column)
    for name in card.robust.stress:
        if name not in model.parameters:
            raise CardError(f"the model has no constant {name!r}", path=card.path,
                            key=f"robust.stress.{name}", value=name)
    return card.robust


def _scenarios(base: Push, spec: Robust) -> dict[str, Scenario]:
    runs: dict[str, Scenario] = {}
    for region in dict.fromkeys(spec.presets.values()):
        runs[f"{region}/none"] = (region, None, {})
        runs[f"{region}/base"] = (region, base, {})
    high, low = spec.presets["high"], spec.presets["low"]
    for duration in spec.durations:
        if duration not in (0.0, base.duration):
            runs[f"{high}/{duration:g}"] = (high, replace(base, duration=duration), {})
    runs[f"{low}/stress"] = (low, base, spec.stress)
    return runs


@dataclass(frozen=True)
class _Run:
    times: np.ndarray
    data: Mapping[str, np.ndarray]
    ok: np.ndarray
    push: Push | None
    flagged: np.ndarray

    def __getitem__(self, name: str) -> np.ndarray:
        return self.data[name]

    @property
    def threshold(self) -> np.ndarray:
        return formed_threshold(self.data["population"][:, 0])

    def at(self, name: str, time: float) -> np.ndarray:
        return value_at(self.data[name], self.times, time=np.full(len(self.ok), time))

    def window(self, start: float, end: float) -> np.ndarray:
        return (self.times >= start - 1e-9) & (self.times <= end + 1e-9)


def _simulate(model: Model, sets: pd.DataFrame, region: str, push: Push | None,
              params: Mapping[str, float] | None = None, *, chunk_size: int,
              variables: Mapping[str, str]) -> _Run:
    """The scenario's runs, their outputs keyed by role (``variables``: role -> column)."""
    import warnings

    from sdnet.numerics import NumericalWarning
    from sdnet.runner import run_ensemble

    with warnings.catch_warnings():
        # counted per run below (RobustReport.flagged_runs) rather than printed per scenario
        warnings.simplefilter("ignore", NumericalWarning)
        result = run_ensemble(model, sets, region=region, push=push, params=params or None,
                              variables=list(dict.fromkeys(variables.values())),
                              progress=False, chunk_size=chunk_size)
    array = result.dataset["outputs"]
    times = np.asarray(result.dataset["time"].to_numpy(), float)
    data = {role: np.asarray(array.sel(variable=column).to_numpy(), float)
            for role, column in variables.items()}
    return _Run(times, data, np.asarray(result.ok, bool), push,
                np.asarray(result.flagged, bool))


def _grows(run: _Run) -> np.ndarray:
    push = run.push
    assert push is not None
    return run.at("outcome", push.end) >= run.threshold


def _later(run: _Run) -> tuple[np.ndarray, np.ndarray]:
    push = run.push
    assert push is not None
    return run.at("outcome", push.end), run.at("outcome", push.end + PERSISTENCE_LAG)


def _mean(run: _Run, name: str, start: float, end: float) -> np.ndarray:
    return run[name][:, run.window(start, end)].mean(axis=1)


def _f1(run: _Run) -> np.ndarray:
    push = run.push
    assert push is not None
    window = run.window(push.start + 0.5, float(run.times[-1]))
    return (run["benefit_a"][:, window] > run["benefit_b"][:, window]).all(axis=1)


def _over_represented(run: _Run) -> np.ndarray:
    network = run["outcome"] >= run.threshold[:, None]
    share = np.where(network, run["part_a_share"], 0.0).sum(axis=1)
    count = network.sum(axis=1)
    mean_share = np.divide(share, count, out=np.zeros_like(share), where=count > 0)
    return (count == 0) | (mean_share > run["population_a_share"][:, 0])


def _negative_value_network(run: _Run) -> np.ndarray:
    """True where a network lasts ten years with negative member-weighted perceived value."""
    part_a, part_b = run["part_a"], run["part_b"]
    total = part_a + part_b
    value = np.divide(
        part_a * run["value_a"] + part_b * run["value_b"],
        total, out=np.zeros_like(total), where=total > 0,
    )
    bad = (run["outcome"] >= run.threshold[:, None]) & (value < 0)
    step = float(run.times[1] - run.times[0]) if run.times.size > 1 else 1.0
    needed = round(NEGATIVE_VALUE_YEARS / step) + 1
    longest = np.zeros(bad.shape[0], dtype=int)
    current = np.zeros(bad.shape[0], dtype=int)
    for column in bad.T:
        current = np.where(column, current + 1, 0)
        longest = np.maximum(longest, current)
    return longest >= needed


def _phase_order(run: _Run) -> np.ndarray:
    times = run.times
    joining = times[(run["inflow_a"] + run["inflow_b"]).argmax(axis=1)]
    trust = times[(run["growth_in"] - run["growth_out"]).argmax(axis=1)]
    knowledge = times[run["accumulation"].argmax(axis=1)]
    return (joining < trust) & (trust < knowledge)


def _set_checks(runs: Mapping[str, _Run], base: Push,
                spec: Robust) -> dict[tuple[str, str], np.ndarray]:
    """Boolean pass arrays (per set) keyed by (check, preset); NaN-free (failed runs fail)."""
    low, high, external = (spec.presets[r] for r in ("low", "high", "external"))
    checks: dict[tuple[str, str], np.ndarray] = {}
    for region in dict.fromkeys(spec.presets.values()):
        # (not `base`: that name is the base push this function is given)
        none, pushed = runs[f"{region}/none"], runs[f"{region}/base"]
        peak = none["outcome"].max(axis=1)
        checks[("no_network_without_push", region)] = none.ok & (peak < none.threshold)
        checks[("push_grows_network", region)] = pushed.ok & _grows(pushed)
        _, later = _later(pushed)
        checks[("alive_after_push", region)] = pushed.ok & (later >= pushed.threshold)
    typical, embedded = runs[f"{low}/base"], runs[f"{high}/base"]
    outside = runs[f"{external}/base"]
    at_end, later = _later(embedded)
    checks[("br2_persists", high)] = embedded.ok & _grows(embedded) & (
        later >= SUSTAINED_PERSISTENCE * at_end) & (later >= embedded.threshold)
    at_end, later = _later(typical)
    checks[("br3_declines", low)] = typical.ok & _grows(typical) & (later <= 0.35 * at_end)
    end = base.end
    benefit_e = _mean(embedded, "benefit_mean", end, end + PERSISTENCE_LAG)
    benefit_t = _mean(typical, "benefit_mean", end, end + PERSISTENCE_LAG)
    checks[("br4_embedded_gives_more", "paired")] = (
        embedded.ok & typical.ok & (benefit_e >= 1.25 * benefit_t))
    for region in (low, high):
        run = runs[f"{region}/base"]
        checks[("f1_micro_gain_more", region)] = run.ok & _f1(run)
        checks[("br5_micro_gain_and_over_represented", region)] = (
            run.ok & _f1(run) & _over_represented(run))
    formed = typical.ok & _grows(typical)
    lower = outside["outcome"].max(axis=1) <= 0.6 * typical["outcome"].max(axis=1)
    checks[("br6_external_lower_peak", "paired")] = np.where(formed, outside.ok & lower, False)
    checks[("br6_external_lower_peak", "n_formed")] = formed
    quiet = runs[f"{external}/none"]
    members_access = embedded["access_parts"][:, -1]
    close = np.ones(len(quiet.ok), dtype=bool)
    for segment in ("access_a", "access_b"):
        access = quiet[segment][:, -1]
        close &= np.abs(access - members_access) <= 0.2 * np.abs(members_access)
    checks[("br6_external_access", "paired")] = quiet.ok & embedded.ok & close
    checks[("br7_phase_order", low)] = typical.ok & _phase_order(typical)
    quiet_typical = runs[f"{low}/none"]
    checks[("br7_no_knowledge_below_mass", low)] = quiet_typical.ok & (
        quiet_typical["accumulation"].max(axis=1) < 0.05)
    scan = []
    ok = np.ones(len(embedded.ok), dtype=bool)
    for duration in spec.durations:
        key = (f"{high}/none" if duration == 0.0 else f"{high}/base"
               if duration == base.duration else f"{high}/{duration:g}")
        scan.append(runs[key]["outcome"][:, -1])
        ok &= runs[key].ok
    finals = np.stack(scan, axis=1)
    steps = np.diff(finals, axis=1).min(axis=1) if finals.shape[1] > 1 else np.zeros(len(ok))
    checks[("br8_monotone_in_duration", high)] = ok & (steps >= -0.01 * finals.max(axis=1))
    final_e, final_t = embedded["outcome"][:, -1], typical["outcome"][:, -1]
    checks[("embedded_at_least_typical", "paired")] = (
        embedded.ok & typical.ok & (final_e >= final_t - 0.01))
    pump = runs[f"{low}/stress"]
    checks[("fee_pump_dies", low)] = pump.ok & (pump["outcome"][:, -1] < 1.0)
    clean = np.ones(len(embedded.ok), dtype=bool)
    for run in runs.values():
        clean &= run.ok & ~_negative_value_network(run)
    checks[("no_negative_value_network", "all")] = clean
    return checks


def robust_check(
    model: Model,
    sets: pd.DataFrame,
    *,
    source: str = "",
    chunk_size: int = 500,
) -> RobustReport:
    """Run every set in every scenario and count the sets that pass each check.

    Parameters
    ----------
    model : Model
        A model whose card has a ``[robust]`` table (flexnet's does).
    sets : DataFrame
        One row per parameter set, one column per parameter (:func:`default_sets`,
        :func:`read_sets`).
    source : str
        Where the sets came from, for the report.
    chunk_size : int, default 500
        Sets simulated at a time: bounds memory (every scenario's outputs of a chunk are held).

    Raises
    ------
    CardError
        The model's card has no ``[robust]`` table, or it names an output or constant the
        model lacks (:func:`robust_spec`).
    """
    spec = robust_spec(model)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise InvalidValueError("chunk_size", chunk_size, expected="a positive integer")
    totals: dict[tuple[str, str], list[int]] = {}
    failed = flagged = 0
    base = base_push(model.card)
    scenarios = _scenarios(base, spec)
    for start in range(0, len(sets), chunk_size):
        part = sets.iloc[start:start + chunk_size].reset_index(drop=True)
        runs = {key: _simulate(model, part, region, push, params, chunk_size=chunk_size,
                               variables=spec.variables)
                for key, (region, push, params) in scenarios.items()}
        failed += sum(int((~run.ok).sum()) for run in runs.values())
        flagged += sum(int(run.flagged.sum()) for run in runs.values())
        checks = _set_checks(runs, base, spec)
        formed = checks.pop(("br6_external_lower_peak", "n_formed"))
        for key, passes in checks.items():
            count = totals.setdefault(key, [0, 0])
            count[0] += int(passes.sum())
            count[1] += int(formed.sum()) if key[0] == "br6_external_lower_peak" else len(part)
    rows = tuple(RobustRow(check, region, passed, n)
                 for (check, region), (passed, n) in totals.items())
    return RobustReport(rows=rows, n_sets=len(sets), source=source, failed_runs=failed,
                        flagged_runs=flagged, spec=spec)


def format_report(report: RobustReport) -> str:
    """The report as a plain-text table (what ``sdnet check --robust`` prints)."""
    presets = len(set(report.spec.presets.values())) if report.spec is not None else 0
    lines = [f"robust behaviour check: {report.n_sets} parameter sets ({report.source}); "
             f"each in {presets} presets x (no schedule, base schedule), the duration scan "
             "and the stress run"]
    width = max(len(r.check) for r in report.rows)
    for row in report.rows:
        lines.append(f"  {row.check:<{width}}  {row.region:<20}  {row.passed:>6} / {row.n:<6}"
                     f"  {row.rate:7.1%}")
    if report.failed_runs:
        lines.append(f"  ({report.failed_runs} scenario runs went non-finite; their sets fail)")
    if report.flagged_runs:
        lines.append(f"  ({report.flagged_runs} scenario runs flagged by the numerical guard: "
                     "see-saws or stocks out of bounds; try a smaller time step)")
    lines.append("goals (issue #10):")
    for text, value, met in report.goals():
        lines.append(f"  {'met ' if met else 'MISS'}  {value:7.1%}  {text}")
    return "\n".join(lines)

