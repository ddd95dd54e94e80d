"""The policy-design challenge: score a policy under uncertainty with an ensemble.

A policy that works under the model's default parameters may just be lucky. The challenge
therefore runs every policy in the same ``n_runs`` plausible worlds: a Latin-hypercube sample
(seeded, so scores are reproducible) of the model's ``[uncertain]`` parameters over their
declared ranges. Every policy faces the same worlds (common random numbers), so differences in
score come from the policy, not from the draw. The score is

    ``100 * (share of worlds in which the outcome is sustained)
    - cost_weight * (mean public spending, $ million)``

where *sustained* means the card's ``[game] outcome`` at the final time is at least
``sustain_fraction`` of its ``[game] population`` (and the card's push schedule ended at least
``years_after_push`` years before); the cost is ``[game] cost`` (:mod:`sdnet.card`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from sdnet.card import Game, ModelCard
from sdnet.errors import CardError, InvalidValueError, UnknownVariableError
from sdnet.params import python_name

if TYPE_CHECKING:
    from sdnet.params import ParameterTable
    from sdnet.teaching.exercises import Challenge

__all__ = [
    "EnsembleSimulator",
    "PolicyScore",
    "push_end",
    "resolve_policy",
    "sample_worlds",
    "score_policies",
]


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
        Share of worlds (0-1) in which the outcome is sustained; failed runs count as not.
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


def _end_names(card: ModelCard) -> tuple[str, ...]:
    schedule = card.push
    return () if schedule is None else schedule.end_parameters


def push_end(levers: Mapping[str, float], card: ModelCard) -> float:
    """When the card's push ends: start + duration + taper of ``levers`` (absent parts 0)."""
    return sum(float(levers.get(k, 0.0)) for k in _end_names(card))


def _game(card: ModelCard) -> Game:
    if card.game is None:
        where = card.path.name if card.path is not None else "the model (it has no card)"
        raise CardError("a challenge scores what the card's [game] names (outcome, population, "
                        f"cost); {where} has no [game]", path=card.path, key="game")
    return card.game


def resolve_policy(
    challenge: Challenge, levers: Mapping[str, Any], *, parameters: ParameterTable,
    card: ModelCard,
) -> dict[str, float]:
    """Validate a policy and fill in defaults; return every challenge lever by Python name.

    Raises
    ------
    UnknownVariableError
        If a name is not one of the challenge's levers (with close matches).
    InvalidValueError, OutOfRangeError
        If a value is not a number or lies outside the model's declared range, or the push
        ends too late to judge whether the outcome lasts.
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
    if push_end(resolved, card) > latest:
        raise InvalidValueError(
            " + ".join(_end_names(card)), push_end(resolved, card),
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
    card: ModelCard,
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
    card : ModelCard
        The model's card: its ``[game]`` names what is scored, its push schedule when the
        push ends, its presets the challenge's region.
    region_values : mapping, optional
        Parameter values of the challenge's region; default the card's preset.

    Returns
    -------
    dict of str to PolicyScore
        In the order given.
    """
    parameters = simulator.parameters
    game = _game(card)
    if region_values is None:
        region_values = card.preset(challenge.region).values
    region = {parameters[k].name: float(v) for k, v in region_values.items()}
    resolved = {name: resolve_policy(challenge, levers, parameters=parameters, card=card)
                for name, levers in policies.items()}
    worlds = sample_worlds(parameters, challenge.n_runs, seed=challenge.seed)
    k, n = len(resolved), challenge.n_runs
    values: dict[str, Any] = dict(region)
    for name, column in worlds.items():
        values[name] = np.tile(column, k)
    for lever in challenge.levers:
        values[lever] = np.repeat([policy[lever] for policy in resolved.values()], n)
    simulation = simulator.simulate(values, n_runs=k * n, final_time=challenge.final_time,
                                    variables=[game.outcome, game.cost])
    members = np.asarray(simulation.outputs[game.outcome])[:, -1]
    cost = np.asarray(simulation.outputs[game.cost])[:, -1]
    status = np.asarray(simulation.status, dtype=bool) & np.isfinite(members) & np.isfinite(cost)
    population = parameters[game.population].name
    firms = float(region.get(population, parameters[population].default))
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
