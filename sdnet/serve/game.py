"""Game mode: the player decides the levers period by period; the model restarts from its state.

Each decision period runs the model from the stocks reached so far (``initial_state`` and
``initial_time`` of :meth:`sdnet.engine.CompiledModel.simulate`; every flexnet stock is an
INTEG, so a restart is exact) with the push paying the player's grant for that period only.
After the last period the model runs on with no public money to ``final_time``.

At the end the player's decisions are replayed, with a set of simple reference policies (a
constant grant for the first few periods), in the same plausible worlds (common random
numbers, as in exercise 6's challenge), and each is scored by :attr:`GameRules` rules:
``100 * share sustained - cost_weight * mean public money ($ million)``. "Best" is the
highest-scoring reference policy, "typical" the median one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sdnet.serve.setup import GameRules, SimulatorSetup
    from sdnet.serve.worlds import Worlds
    from sdnet.teaching.challenge import EnsembleSimulator

__all__ = [
    "REFERENCE_PERIODS",
    "REFERENCE_SHARES",
    "Game",
    "PolicyOutcome",
    "play",
    "reference_policies",
    "score_policies",
]

#: amounts of the reference policies, as shares of the amount's declared upper bound
#: (flexnet's Push Amount, 0-2 M $/Year: 100k to 800k $/Year), and numbers of funded periods
REFERENCE_SHARES: tuple[float, ...] = (0.05, 0.1, 0.15, 0.25, 0.4)
REFERENCE_PERIODS: tuple[int, ...] = (1, 2, 4, 7, 10)

Decision = Mapping[str, float]


@dataclass(frozen=True, slots=True)
class PolicyOutcome:
    """How one sequence of decisions fared across the worlds.

    Attributes
    ----------
    name, description : str
        ``"your choices"`` or a reference policy, and what it does in words.
    outcome, quality, cost : float
        Means over the worlds that ran, at the final time, of the card's ``[game]`` outcome,
        quality and cost (flexnet: members in firm, embeddedness 0-1, public money in $).
    sustained : float
        Share of worlds (0-1) with the outcome at least the rules' fraction of the population.
    score : float
        Points: ``100 * sustained - cost_weight * cost / 1e6``.
    trajectory : ndarray
        Members over time in the model's own parameter values (the default world).
    n_failed : int
        Worlds in which the run went non-finite (counted as not sustained).
    """

    name: str
    description: str
    outcome: float
    quality: float
    cost: float
    sustained: float
    score: float
    trajectory: np.ndarray = field(repr=False)
    n_failed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (without the trajectory)."""
        return {"name": self.name, "description": self.description, "outcome": self.outcome,
                "quality": self.quality, "cost": self.cost,
                "sustained": self.sustained, "score": self.score, "n_failed": self.n_failed}


def _segments(rules: GameRules) -> list[tuple[float, float, int | None]]:
    """(start, end, decision index or None for the final stretch) of every run segment."""
    times = rules.decision_times
    ends = [*times[1:], rules.decide_until]
    segments: list[tuple[float, float, int | None]] = [
        (t0, t1, k) for k, (t0, t1) in enumerate(zip(times, ends, strict=True))
    ]
    if rules.final_time > rules.decide_until:
        segments.append((rules.decide_until, rules.final_time, None))
    return segments


def _segment_values(rules: GameRules, decisions: Sequence[Decision], t0: float, t1: float,
                    index: int | None) -> dict[str, np.ndarray]:
    """Lever arrays (one value per policy) for one segment: the push pays for it only."""
    chosen = [d[index] if index is not None else d[-1] for d in decisions]  # type: ignore[index]
    values = {lever: np.array([float(c[lever]) for c in chosen]) for lever in rules.levers}
    if index is None:
        values[rules.amount] = np.zeros(len(chosen))
    n = len(chosen)
    values[rules.start] = np.full(n, t0)
    values[rules.duration] = np.full(n, t1 - t0)
    if rules.taper:
        values[rules.taper] = np.zeros(n)
    return values


def _advance(simulator: EnsembleSimulator, setup: SimulatorSetup, values: Mapping[str, Any], *,
             state: Mapping[str, np.ndarray] | None, t0: float, t1: float, n_runs: int,
             variables: Sequence[str]) -> tuple[np.ndarray, dict[str, np.ndarray],
                                                 dict[str, np.ndarray]]:
    """Run one segment; return times, outputs (n_runs, n_time) and the stocks at ``t1``."""
    stocks = list(simulator.stocks)  # type: ignore[attr-defined]
    wanted = list(dict.fromkeys([*variables, *stocks]))
    simulation = simulator.simulate(
        dict(values), n_runs=n_runs, final_time=t1, time_step=setup.time_step,
        saveper=setup.saveper, variables=wanted, initial_state=state,  # type: ignore[call-arg]
        initial_time=t0 if state is not None else None,
    )
    outputs = {name: np.asarray(simulation.outputs[name], dtype=float) for name in wanted}
    final = {name: outputs[name][:, -1].copy() for name in stocks}
    return np.asarray(simulation.times, dtype=float), outputs, final


def play(simulator: EnsembleSimulator, setup: SimulatorSetup, base: Mapping[str, Any],
         decisions: Sequence[Sequence[Decision]], *, n_runs_each: int,
         variables: Sequence[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Run several decision sequences, segment by segment, each in ``n_runs_each`` runs.

    Parameters
    ----------
    base : mapping
        Values of every other constant: floats, or arrays of ``len(decisions) *
        n_runs_each`` (e.g. tiled worlds).
    decisions : sequence of sequences of mappings
        One sequence per policy; each holds one mapping (lever -> value) per decision period.

    Returns
    -------
    times, outputs
        Save times from 0 to the final time, and each variable's (n_runs, n_time) values.
    """
    rules = setup.game
    if rules is None:
        raise ValueError("this model has no game")
    n_runs = len(decisions) * n_runs_each
    state: dict[str, np.ndarray] | None = None
    all_times: list[np.ndarray] = []
    parts: dict[str, list[np.ndarray]] = {name: [] for name in variables}
    for t0, t1, index in _segments(rules):
        values: dict[str, Any] = dict(base)
        for lever, column in _segment_values(rules, decisions, t0, t1, index).items():
            values[lever] = np.repeat(column, n_runs_each)
        times, outputs, state = _advance(simulator, setup, values, state=state, t0=t0, t1=t1,
                                         n_runs=n_runs, variables=variables)
        # A segment starts where the last one ended: its first point replaces the last one's
        # end point, since flows there (the grant) belong to the new period.
        if all_times:
            all_times[-1] = all_times[-1][:-1]
            for name in variables:
                parts[name][-1] = parts[name][-1][:, :-1]
        all_times.append(times)
        for name in variables:
            parts[name].append(outputs[name])
    return np.concatenate(all_times), {k: np.concatenate(v, axis=1) for k, v in parts.items()}


def reference_policies(rules: GameRules, start: Decision) -> dict[str, tuple[str, list[Decision]]]:
    """Simple policies to compare with: none (amount 0), and a constant amount (shares of its
    declared upper bound, :data:`REFERENCE_SHARES`) for the first periods.

    Every other game lever keeps its value in ``start``.
    """
    n = len(rules.decision_times)
    policies: dict[str, tuple[str, list[Decision]]] = {
        "none": ("an amount of 0 throughout", [{**start, rules.amount: 0.0}] * n),
    }
    upper = rules.amount_upper if rules.amount_upper > 0 else 1.0
    unit = rules.time_unit or "time"
    for share in REFERENCE_SHARES:
        amount = float(f"{share * upper:.3g}")
        for periods in sorted({min(p, n) for p in REFERENCE_PERIODS}):
            span = periods * rules.period
            name = f"{_compact(amount, rules.amount_units)} for {span:g} {unit}"
            plan = [{**start, rules.amount: amount if k < periods else 0.0} for k in range(n)]
            policies[name] = (f"{amount:,g} {rules.amount_units} from the start for {span:g} "
                              f"{unit}, then nothing".replace("  ", " "), plan)
    return policies


def _compact(amount: float, units: str) -> str:
    """``300000, "$/Year"`` -> ``"$300k/Year"``; ``2.5, "widget/Month"`` ->
    ``"2.5 widget/Month"``."""
    text = (f"{amount / 1e6:g}M" if abs(amount) >= 1e6 else f"{amount / 1e3:g}k"
            if abs(amount) >= 1e3 else f"{amount:g}")
    if units.startswith("$"):
        return f"${text}{units[1:]}"
    return f"{text} {units}".strip()


def score_policies(simulator: EnsembleSimulator, setup: SimulatorSetup, base: Mapping[str, float],
                   policies: Mapping[str, tuple[str, Sequence[Decision]]],
                   worlds: Worlds) -> list[PolicyOutcome]:
    """Score every policy in the same worlds (plus the default world, for the chart).

    Parameters
    ----------
    base : mapping
        Values of the non-game constants (region, other levers), Python names.
    policies : mapping of name to (description, decisions)
        Decisions: one mapping per decision period.
    worlds : Worlds
        The plausible worlds (``sdnet.serve.worlds.load_worlds``).
    """
    rules = setup.game
    if rules is None:
        raise ValueError("this model has no game")
    params = simulator.parameters
    k, n = len(policies), worlds.n + 1  # world 0 is the model's own values
    values: dict[str, Any] = dict(base)
    for name, column in worlds.values.items():
        values[name] = np.tile(np.concatenate([[params[name].default], column]), k)
    variables = list(dict.fromkeys([rules.outcome, rules.quality, rules.cost]))
    _times, outputs = play(simulator, setup, values,
                           [plan for _description, plan in policies.values()],
                           n_runs_each=n, variables=variables)
    population = float(base.get(rules.population, params[rules.population].default))
    results = []
    for i, (name, (description, _plan)) in enumerate(policies.items()):
        block = slice(i * n + 1, (i + 1) * n)
        outcome = outputs[rules.outcome][block, -1]
        quality = outputs[rules.quality][block, -1]
        cost = outputs[rules.cost][block, -1]
        ok = np.isfinite(outcome) & np.isfinite(quality) & np.isfinite(cost)
        sustained = float(np.mean(ok & (outcome >= rules.sustain_fraction * population)))
        mean_cost = float(np.mean(cost[ok])) if ok.any() else math.nan
        results.append(PolicyOutcome(
            name=name, description=description,
            outcome=float(np.mean(outcome[ok])) if ok.any() else math.nan,
            quality=float(np.mean(quality[ok])) if ok.any() else math.nan,
            cost=mean_cost, sustained=sustained,
            score=100.0 * sustained - rules.cost_weight * mean_cost / 1e6,
            trajectory=outputs[rules.outcome][i * n], n_failed=int((~ok).sum()),
        ))
    return results


class Game:
    """One player's game, held by the server between requests.

    Parameters
    ----------
    simulator, setup
        The model and the simulator's setup (which must have game rules).
    base : mapping
        Every slider's value when the game starts (Python names): the region and the
        levers the game does not ask about stay at these values.
    """

    def __init__(self, simulator: EnsembleSimulator, setup: SimulatorSetup,
                 base: Mapping[str, float]) -> None:
        if setup.game is None:
            raise ValueError("this model has no game")
        self.simulator = simulator
        self.setup = setup
        self.rules: GameRules = setup.game
        self.start: dict[str, float] = {k: float(base[k]) for k in self.rules.levers}
        self.base = {k: float(v) for k, v in base.items() if k not in self.rules.levers}
        self.decisions: list[dict[str, float]] = []
        self.state: dict[str, np.ndarray] | None = None
        self.times = np.zeros(0)
        # what the page charts while playing: the card's [game] charts (and the explore charts)
        self.variables = list(dict.fromkeys([*(c.variable for c in self.rules.charts),
                                             *(o.variable for o in setup.outcomes)]))
        self.series: dict[str, np.ndarray] = {name: np.zeros(0) for name in self.variables}
        self.results: list[PolicyOutcome] | None = None

    @property
    def year(self) -> float:
        """Year the model has reached."""
        return float(self.times[-1]) if len(self.times) else 0.0

    @property
    def finished(self) -> bool:
        """True once the last decision period and the years after it have run."""
        return len(self.decisions) >= len(self.rules.decision_times)

    def step(self, decision: Decision) -> None:
        """Apply one period's (validated) decision and run to the next decision point.

        After the last decision the model also runs on to the final time with no public
        money.
        """
        if self.finished:
            raise ValueError("the game is over")
        index = len(self.decisions)
        self.decisions.append({k: float(decision.get(k, self.start[k])) for k in self.start})
        segments = [s for s in _segments(self.rules) if s[2] == index]
        if self.finished:
            segments += [s for s in _segments(self.rules) if s[2] is None]
        variables = self.variables
        for t0, t1, which in segments:
            values: dict[str, Any] = dict(self.base)
            values |= {k: v[0] for k, v in
                       _segment_values(self.rules, [self.decisions], t0, t1, which).items()}
            times, outputs, self.state = _advance(
                self.simulator, self.setup, values, state=self.state, t0=t0, t1=t1, n_runs=1,
                variables=variables)
            keep = len(self.times) - 1 if len(self.times) else 0  # see play()
            self.times = np.concatenate([self.times[:keep], times])
            for name in variables:
                self.series[name] = np.concatenate([self.series[name][:keep], outputs[name][0]])

    def score(self, worlds: Worlds) -> list[PolicyOutcome]:
        """Your choices, then every reference policy, scored in the same worlds (cached)."""
        if self.results is None:
            policies = {"your choices": ("the amounts and levers you chose, period by period",
                                         self.decisions)}
            policies |= reference_policies(self.rules, self.start)
            self.results = score_policies(self.simulator, self.setup, self.base, policies,
                                          worlds)
        return self.results
