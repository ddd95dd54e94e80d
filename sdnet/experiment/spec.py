"""Experiment spec objects: the frozen, validated dataclasses a study file becomes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdnet.decision.optimize import OptimizeSpec
from sdnet.designs import Factor
from sdnet.errors import ExperimentError
from sdnet.experiment.checks import _as_option, _design_n
from sdnet.metrics import Metric
from sdnet.policy import Push

if TYPE_CHECKING:

    pass


_TOP_KEYS = ("experiment", "run", "region", "push", "params", "policies", "budget", "factors",
             "design", "metrics", "analysis", "optimize")


_PUSH_FIELDS = ("amount", "start", "duration", "taper", "match")


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")




@dataclass(frozen=True)
class RunSpec:
    """Simulation settings shared by every run (Year; ``None`` = the model file's value)."""

    final_time: float | None = None
    time_step: float | None = None
    saveper: float | None = None
    method: str = "euler"
    chunk_size: int = 20_000
    variables: tuple[str, ...] = ()


@dataclass(frozen=True)
class Case:
    """One region x policy combination every design row is run under.

    Attributes
    ----------
    name : str
        ``region`` or ``policy`` name, or ``region_policy`` when both vary.
    region : str or None
        Region preset name (None: the model file's region).
    policy : str
        Policy name (``"base"`` when the study has no ``[[policies]]``).
    push : Push or None
        The push of this case (None when the model's card has no push schedule).
    values : Mapping[str, float]
        Constants this case sets (region preset, region values, push, params), Python names.
    label : str
        The policy package in plain words (``[[policies]] label``; "" for none).
    """

    name: str
    region: str | None
    policy: str
    push: Push | None
    values: Mapping[str, float]
    label: str = ""


@dataclass(frozen=True)
class AnalysisSpec:
    """Which analyses a study runs after its runs (all optional).

    Attributes
    ----------
    screen_top, screen_n, screen_metric : int, int, str or None
        Two-stage screening (Morris design only): after the Morris stage, a Sobol' stage of
        ``screen_n`` base rows over the ``screen_top`` factors with the largest mu* of
        ``screen_metric`` (pooled over the seeds and the cases); other factors stay at their
        case values.
    screen_seeds : int
        Morris screens drawn (the study's seed, then seeds derived from it): the report says
        whether their top ``screen_top`` factors agree (:func:`sdnet.sensitivity.
        screen_stability`).
    screen_keep : tuple[str, ...]
        Factors the Sobol' stage varies whatever their Morris rank (they take places of the
        ``screen_top``).
    grow_max_n, grow_top, grow_metric : int, int, str or None
        Sample growth of the Sobol' stage (0: none): the base size doubles, up to
        ``grow_max_n``, until the total-index intervals of the ``grow_top`` largest factors of
        ``grow_metric`` lie apart from the rest in every case
        (:func:`sdnet.sensitivity.separates_top`).
    calc_second_order : bool
        Second-order Sobol' indices in the screening stage.
    convergence : bool
        Convergence of the Sobol' indices (sub-samples of the Sobol' design).
    time_resolved : tuple[str, ...]
        Outputs (Vensim names) whose indices are computed at every ``time_resolved_every``
        years (Sobol' or eFAST designs).
    prim_metric : str or None
        PRIM scenario discovery on this 0/1 metric, per case.
    prim_alpha, prim_min_coverage : float
        PRIM peeling share and minimum coverage of the reported box.
    threshold_amounts : tuple[float, ...]
        Push amounts ($/Year) for the threshold search (empty: no search).
    threshold_duration : tuple[float, float]
        Searched push durations (Year).
    threshold_tol : float
        Bracket width at which the search stops (Year).
    threshold_durations : tuple[float, ...]
        Push durations (Year) for the search of the smallest sufficient amount (empty: none).
    threshold_amount : tuple[float, float]
        Searched push amounts ($/Year).
    threshold_amount_tol : float
        Bracket width at which the amount search stops ($/Year).
    threshold_metric : str
        The 0/1 built-in metric that decides "the network is sustained" in the search:
        ``alive_after_push`` (default, BR8's long-run membership, monotone in the duration) or
        ``sustained``.
    integration_n : int
        Runs re-run at half the time step and with RK4 (0: no check).
    hysteresis : bool
        Run the hysteresis test per region (PySD runs from a working network's state).
    compare_metric : str or None
        With two policies: per design row, which policy gives the larger metric.
    packages_success : str or None
        Compare the policies as packages (:mod:`sdnet.decision`): the metric deciding
        success (a run succeeds where it is >= ``packages_at_least``).
    packages_cost : str or None
        The metric giving public money per run (None: no cost columns).
    packages_satisfice : tuple[str, ...]
        Satisficing conditions (``"surviving_members_10 >= 10"``; empty: success).
    packages_confidence : float
        Of the Wilson intervals.
    packages_min_successes : int
        Fewest successes for a point value of public cost per success.
    packages_expect : tuple of (finding, claim)
        ``[[analysis.expect]]``: claims of the literature on the packages' success rates
        (:mod:`sdnet.decision.expectations`), checked per region.
    """

    screen_top: int = 0
    screen_n: int = 256
    screen_metric: str | None = None
    screen_seeds: int = 1
    screen_keep: tuple[str, ...] = ()
    grow_max_n: int = 0
    grow_top: int = 3
    grow_metric: str | None = None
    calc_second_order: bool = False
    convergence: bool = False
    time_resolved: tuple[str, ...] = ()
    time_resolved_every: float = 1.0
    prim_metric: str | None = None
    prim_alpha: float = 0.05
    prim_min_coverage: float = 0.5
    threshold_amounts: tuple[float, ...] = ()
    threshold_duration: tuple[float, float] = (0.0, 15.0)
    threshold_tol: float = 0.05
    threshold_durations: tuple[float, ...] = ()
    threshold_amount: tuple[float, float] = (0.0, 2_000_000.0)
    threshold_amount_tol: float = 1000.0
    threshold_metric: str = "alive_after_push"
    integration_n: int = 32
    hysteresis: bool = False
    compare_metric: str | None = None
    packages_success: str | None = None
    packages_at_least: float = 0.5
    packages_cost: str | None = None
    packages_satisfice: tuple[str, ...] = ()
    packages_confidence: float = 0.95
    packages_min_successes: int = 5
    packages_expect: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, eq=False)
class Experiment:
    """A validated experiment: everything needed to run it, every default filled in.

    Build one with :func:`load_experiment` (a TOML file) or :func:`parse_experiment` (a dict,
    e.g. written in Python).
    """

    name: str
    path: Path | None
    model_path: Path
    seed: int
    question: str
    run: RunSpec
    cases: tuple[Case, ...]
    params: Mapping[str, float]
    factors: tuple[Factor, ...]
    design_method: str
    design_n: int
    design_settings: Mapping[str, Any]
    metrics: tuple[Metric, ...]
    analysis: AnalysisSpec
    scenario: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(repr=False, default_factory=dict)
    card_path: Path | None = None
    optimize: OptimizeSpec | None = None
    #: the model's data files (absolute paths), ``[experiment] data`` or ``--data``
    data_files: tuple[Path, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The resolved spec as plain data in the experiment-file format, every default filled
        in (what ``spec.toml`` holds): loading it again gives the same study."""
        data: dict[str, Any] = {
            "experiment": {"name": self.name, "model": str(self.model_path), "seed": self.seed,
                           "question": self.question,
                           **({"card": str(self.card_path)} if self.card_path else {}),
                           **({"data": [str(f) for f in self.data_files]}
                              if self.data_files else {})},
            "run": {k: v for k, v in {
                "final_time": self.run.final_time, "time_step": self.run.time_step,
                "saveper": self.run.saveper, "method": self.run.method,
                "chunk_size": self.run.chunk_size, "variables": list(self.run.variables),
            }.items() if v is not None},
            **{k: v for k, v in self.scenario.items() if v},
            "params": dict(self.params),
            "factors": [f.to_dict() for f in self.factors],
            "design": {"method": self.design_method, "n": self.design_n,
                       **dict(self.design_settings)},
            "metrics": [{"name": m.name, **({} if m.from_card else dict(m.options))}
                        for m in self.metrics],
            "analysis": _analysis_tables(self.analysis),
        }
        if not data["params"]:
            del data["params"]
        if self.optimize is not None:
            data["optimize"] = self.optimize.to_dict()
        if self.design_method == "sets":  # its factors are the columns of design.file
            del data["factors"]
        return data

    def with_options(
        self, *, n: int | None = None, seed: int | None = None, screen_n: int | None = None
    ) -> Experiment:
        """A copy with another design size, seed or screening-stage size (``--n``, ``--seed``,
        ``--screen-n`` on the command line)."""
        changed = self
        if n is not None:
            try:
                _design_n(n, self.design_method, path=self.path, settings=self.design_settings)
            except ExperimentError as error:
                raise _as_option(error, "--n", "design.n") from None
            if self.design_method == "sets":
                _check_sets_n(int(n), self.design_settings, self.path)
            changed = replace(changed, design_n=int(n))
        if screen_n is not None:
            if not self.analysis.screen_top:
                raise ExperimentError(
                    f"--screen-n {screen_n!r}: the study has no screening stage ([analysis."
                    f"screen] in {self.path.name if self.path else 'the spec'})",
                    value=screen_n)
            try:
                _design_n(screen_n, "sobol", path=self.path, key="analysis.screen.n")
            except ExperimentError as error:
                raise _as_option(error, "--screen-n", "analysis.screen.n") from None
            changed = replace(changed, analysis=replace(self.analysis, screen_n=int(screen_n)))
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise ExperimentError(f"--seed must be a non-negative integer, not {seed!r} "
                                      "(it replaces [experiment.seed])", value=seed)
            changed = replace(changed, seed=int(seed))
            given = self.raw.get("optimize", {})
            if self.optimize is not None and "seed" not in given:
                # [optimize] without a seed of its own follows the study's
                changed = replace(changed, optimize=replace(self.optimize, seed=int(seed)))
        return changed


def _check_sets_n(n: int, settings: Mapping[str, Any], path: Path | None) -> None:
    """``--n`` of a sets study: at most the rows of its worlds file."""
    import pandas as pd

    file = Path(str(settings["file"]))
    rows = len(pd.read_csv(file, usecols=[0]))
    if n > rows:
        where = f" in {path.name}" if path is not None else ""
        raise ExperimentError(f"--n {n} asks for more worlds than the worlds file {file.name} "
                              f"has ({rows} rows; it replaces [design.n]{where})", value=n)


def _analysis_tables(spec: AnalysisSpec) -> dict[str, Any]:
    """An AnalysisSpec in the experiment-file format (only the analyses that run)."""
    tables: dict[str, Any] = {"integration_check": {"n": spec.integration_n}
                              if spec.integration_n else False}
    if spec.screen_top:
        tables["screen"] = {"top": spec.screen_top, "n": spec.screen_n,
                            "metric": spec.screen_metric,
                            "calc_second_order": spec.calc_second_order,
                            "seeds": spec.screen_seeds, "keep": list(spec.screen_keep)}
    if spec.grow_max_n:
        tables["grow"] = {"max_n": spec.grow_max_n, "top": spec.grow_top,
                          "metric": spec.grow_metric}
    if spec.convergence:
        tables["convergence"] = True
    if spec.time_resolved:
        tables["time_resolved"] = {"variables": list(spec.time_resolved),
                                   "every": spec.time_resolved_every}
    if spec.prim_metric:
        tables["prim"] = {"metric": spec.prim_metric, "alpha": spec.prim_alpha,
                          "min_coverage": spec.prim_min_coverage}
    if spec.threshold_amounts or spec.threshold_durations:
        tables["thresholds"] = {"amounts": list(spec.threshold_amounts),
                                "duration": list(spec.threshold_duration),
                                "tol": spec.threshold_tol,
                                "durations": list(spec.threshold_durations),
                                "amount": list(spec.threshold_amount),
                                "amount_tol": spec.threshold_amount_tol,
                                "metric": spec.threshold_metric}
    if spec.hysteresis:
        tables["hysteresis"] = True
    if spec.compare_metric:
        tables["compare"] = {"metric": spec.compare_metric}
    if spec.packages_success:
        tables["packages"] = {
            "success": spec.packages_success, "at_least": spec.packages_at_least,
            **({"cost": spec.packages_cost} if spec.packages_cost else {}),
            "satisfice": list(spec.packages_satisfice),
            "confidence": spec.packages_confidence,
            "min_successes": spec.packages_min_successes}
    if spec.packages_expect:
        tables["expect"] = [{"finding": finding, "claim": claim}
                            for finding, claim in spec.packages_expect]
    return tables
