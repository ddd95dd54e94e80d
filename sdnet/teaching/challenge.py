"""The policy-design challenge: score a policy under uncertainty with an ensemble.

A policy that works under the model's default parameters may just be lucky. The challenge
therefore runs every policy in the same ``n_runs`` plausible worlds: a Latin-hypercube sample
(seeded, so scores are reproducible) of the model's ``[uncertain]`` parameters over their
declared ranges. Every policy faces the same worlds (common random numbers), so differences in
score come from the policy, not from the draw. The score is

    ``100 * (share of worlds in which the network is sustained)
    - cost_weight * (mean public spending, $ million)``

where *sustained* means ``Total Members`` at the final time is at least ``sustain_fraction`` of
the region's ``Number of Firms`` (and the push ended at least ``years_after_push`` years before).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from sdnet.errors import InvalidValueError, UnknownVariableError
from sdnet.params import python_name

if TYPE_CHECKING:
    from sdnet.params import ParameterTable
    from sdnet.teaching.exercises import Challenge

__all__ = [
    "COST_VARIABLE",
    "MEMBERS_VARIABLE",
    "EnsembleSimulator",
    "PolicyScore",
    "push_end",
    "resolve_policy",
    "sample_worlds",
    "score_policies",
]

MEMBERS_VARIABLE = "Total Members"
COST_VARIABLE = "Cumulative Public Spending"


class EnsembleSimulator(Protocol):
    """What the challenge needs from :class:`sdnet.engine.CompiledModel`."""

    @property
    def parameters(self) -> ParameterTable: ...

    def simulate(self, values: Mapping[str, Any], *, n_runs: int, final_time: float | None = ...,
                 time_step: float | None = ...,
                 variables: Sequence[str] | None = ...) -> Any: ...


@dataclass(frozen=True, slots=True)
class PolicyScore:
    """How one policy fared in the challenge's ensemble.

    Attributes
    ----------
    name : str
        ``"your policy"`` or the reference policy's name.
    levers : mapping of str to float
        Every challenge lever's value (Python names), defaults filled in.
    sustained_share : float
        Share of worlds (0-1) in which the network is sustained; failed runs count as not.
    mean_cost : float
        Mean public spending over the worlds that ran, $.
    score : float
        ``100 * sustained_share - cost_weight * mean_cost / 1e6`` (points).
    n_runs, n_failed : int
        Ensemble size and runs that went non-finite.
    """

    name: str
    levers: Mapping[str, float]
    sustained_share: float
    mean_cost: float
    score: float
    n_runs: int
    n_failed: int


def push_end(levers: Mapping[str, float]) -> float:
    """Year the push ends: ``push_start + push_duration + push_taper`` (absent parts are 0)."""
    return sum(float(levers.get(k, 0.0)) for k in ("push_start", "push_duration", "push_taper"))


def resolve_policy(
    challenge: Challenge, levers: Mapping[str, Any], *, parameters: ParameterTable
) -> dict[str, float]:
    """Validate a policy and fill in defaults; return every challenge lever by Python name.

    Raises
    ------
    UnknownVariableError
        If a name is not one of the challenge's levers (with close matches).
    InvalidValueError, OutOfRangeError
        If a value is not a number or lies outside the model's declared range, or the push
        ends too late to judge whether the network survives it.
    """
    resolved: dict[str, float] = {}
    for lever in challenge.levers:
        resolved[lever] = float(challenge.defaults.get(lever, parameters[lever].default))
    for name, value in levers.items():
        key = python_name(name)
        if key not in challenge.levers:
            raise UnknownVariableError(name, candidates=challenge.levers, what="lever",
                                       where="the challenge")
        resolved[key] = parameters[key].check(value)
    latest = challenge.final_time - challenge.years_after_push
    if push_end(resolved) > latest:
        raise InvalidValueError(
            "push_start + push_duration + push_taper", push_end(resolved),
            expected=f"at most {latest:g} (the push must end {challenge.years_after_push:g} "
            f"years before year {challenge.final_time:g})",
        )
    return resolved


def sample_worlds(parameters: ParameterTable, n: int, *, seed: int) -> dict[str, np.ndarray]:
    """A Latin-hypercube sample of the ``[uncertain]`` parameters within their ranges.

    Parameters
    ----------
    parameters : ParameterTable
        The model's parameters; only bounded ones of kind ``"uncertain"`` are sampled.
    n : int
        Number of worlds.
    seed : int
        Seed of :class:`scipy.stats.qmc.LatinHypercube`.
    """
    from scipy.stats import qmc

    uncertain = [p for p in parameters.of_kind("uncertain").values() if p.bounded]
    if not uncertain:
        return {}
    unit = qmc.LatinHypercube(d=len(uncertain), seed=np.random.default_rng(seed)).random(n)
    return {
        p.name: float(p.lower) + unit[:, i] * (float(p.upper) - float(p.lower))  # type: ignore[arg-type]
        for i, p in enumerate(uncertain)
    }


def score_policies(
    challenge: Challenge,
    policies: Mapping[str, Mapping[str, Any]],
    *,
    simulator: EnsembleSimulator,
    region_values: Mapping[str, float] | None = None,
) -> dict[str, PolicyScore]:
    """Score several policies in the same ensemble of worlds (one vectorized run).

    Parameters
    ----------
    challenge : Challenge
        The rules.
    policies : mapping of name to levers
        Lever values by name (either spelling); missing levers take the challenge defaults.
    simulator : EnsembleSimulator
        Usually ``sdnet.engine.compile_model(exercise.model)``.
    region_values : mapping, optional
        Parameter values of the challenge's region; default
        ``sdnet.policy.region_values(challenge.region)``.

    Returns
    -------
    dict of str to PolicyScore
        In the order given.
    """
    parameters = simulator.parameters
    if region_values is None:
        from sdnet.policy import region_values as preset_values

        region_values = preset_values(challenge.region)
    region = {parameters[k].name: float(v) for k, v in region_values.items()}
    resolved = {name: resolve_policy(challenge, levers, parameters=parameters)
                for name, levers in policies.items()}
    worlds = sample_worlds(parameters, challenge.n_runs, seed=challenge.seed)
    k, n = len(resolved), challenge.n_runs
    values: dict[str, Any] = dict(region)
    for name, column in worlds.items():
        values[name] = np.tile(column, k)
    for lever in challenge.levers:
        values[lever] = np.repeat([policy[lever] for policy in resolved.values()], n)
    simulation = simulator.simulate(values, n_runs=k * n, final_time=challenge.final_time,
                                    variables=[MEMBERS_VARIABLE, COST_VARIABLE])
    members = np.asarray(simulation.outputs[MEMBERS_VARIABLE])[:, -1]
    cost = np.asarray(simulation.outputs[COST_VARIABLE])[:, -1]
    status = np.asarray(simulation.status, dtype=bool) & np.isfinite(members) & np.isfinite(cost)
    firms = float(region.get("number_of_firms", parameters["number_of_firms"].default))
    needed = challenge.sustain_fraction * firms
    scores: dict[str, PolicyScore] = {}
    for i, (name, levers) in enumerate(resolved.items()):
        part = slice(i * n, (i + 1) * n)
        ok = status[part]
        sustained = float(np.mean(ok & (members[part] >= needed)))
        mean_cost = float(np.mean(cost[part][ok])) if ok.any() else math.nan
        score = 100.0 * sustained - challenge.cost_weight * mean_cost / 1e6
        scores[name] = PolicyScore(
            name=name, levers=MappingProxyType(levers), sustained_share=sustained,
            mean_cost=mean_cost, score=score, n_runs=n, n_failed=int(n - ok.sum()),
        )
    return scores
