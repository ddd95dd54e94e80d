"""Model cards: what sdnet knows about one model, kept in a TOML file beside the model.

The package core is model-agnostic. What it knows about a particular model (its levers over
time, its named presets, the outcomes worth measuring, the words a report uses) comes from a
*card*: ``flexnet.toml`` beside ``flexnet.mdl`` (found automatically: same folder, same stem),
or any file given with ``--card``. A model without a card works everywhere with neutral
wording (:data:`NEUTRAL_WORDS`, no schedules, no presets, no outcomes)::

    [model]                     # all optional
    file = "flexnet.mdl"        # the model this card describes (relative to the card)
    title = "flexnet"
    description = "Local networks of small firms: how a public push can start one."
    time_unit = "Year"
    variables = ["Total Members", "Trust"]   # what a run saves by default (else: stocks)
    report_variables = ["Total Members"]     # a study's fan charts (else: the stocks)
    panels = [["Total Members"], ["Trust"]]  # sdnet run's figure (else: stocks by units)
    charts = ["Total Members"]               # the simulator's charts (else report_variables)
    sliders = ["Push Taper", { name = "Push Amount", label = "push $/yr", lower = 0,
               upper = 1e6, step = 5e4 }]  # the explorer's sliders (else levers, regions)

    [[schedules]]               # levers over time; kind "push" is the only kind so far:
    name = "push"               # an amount from start for duration, then a linear taper,
    kind = "push"               # with a matching requirement
    description = "the public grant"
    parameters = { amount = "Push Amount", start = "Push Start", duration = "Push Duration",
                   taper = "Push Taper", match = "Local Match Requirement" }
    base = { amount = 300000, start = 2, duration = 3.5 }

    [[presets]]                 # named sets of constants (Python or Vensim names)
    name = "typical"
    description = "few community entrepreneurs ..."
    values = { community_entrepreneur_density = 0.2, external_networking = 0.2 }

    [[outcomes]]                # named outcomes: a reducer of a variable (sdnet.metrics)
    name = "embeddedness"
    variable = "Embeddedness"
    reducer = "final"           # final, mean, peak, ..., or a schedule reducer such as
    units = "dmnl"              # "persistence_after" (options: population, lag, ...)
    plain = "embeddedness at the horizon"
    good = "higher"             # higher, lower or "" (neither)
    default = true              # measured by a study that lists no [[metrics]]

    [[ratios]]                  # totals of two outcomes over a case's runs and their ratio
    name = "cost_per_survivor"  # (None when the denominator's total is 0)
    numerator = "public_money"
    denominator = "surviving_members_10"
    units = "$/firm"

    [[sanity]]                  # runs every study flags, counts and locates (sdnet.sanity):
    name = "treadmill"          # all conditions hold after_push after the push ends
    plain = "alive with near-zero trust: a treadmill"
    after_push = 10
    when = ["Total Members >= formed(Number of Firms)", "Trust < 0.05"]

    [mechanism]                 # what keeps a package's successes alive (sdnet.mechanism):
    plain = "the network's income"   # what the shares are shares of
    after_push = 10             # read this long after the push ends (as survived_10)
    [[mechanism.shares]]        # parts of a whole: each a sum of flows, shares of their total
    name = "member fees"
    variables = ["Fee Revenue"]
    [[mechanism.shares]]
    name = "local sponsors"
    variables = ["Sponsor Contributions"]
    [[mechanism.states]]        # state variables summarised over the successes
    name = "trust"
    variable = "Trust"          # or "mean(A, B)" (min, max)
    units = "dmnl"
    [[mechanism.states]]        # change_over = N: the relative change over the next N time
    name = "members' change over the next 10 years"   # units (later / now - 1): a success
    variable = "Total Members"  # still shrinking when it is read is a slow death
    change_over = 10
    [[mechanism.cautions]]      # said when every condition holds on the successes' medians
    plain = "the successes live on fees of members who lose money on membership"
    when = ["member fees > 0.8", "trust < 0.05"]   # share or state name OP number

    [words]                     # what reports call things (keys of NEUTRAL_WORDS)
    system = "the network"

    [game]                      # what the simulator's game and a teaching challenge score:
    outcome = "Total Members"   # counted at the horizon, sustained at a share of population
    population = "Number of Firms"
    cost = "Cumulative Public Spending"
    quality = "Embeddedness"    # shown beside the outcome
    charts = ["Total Members", "Public Push Grant"]   # charted while playing (optional)

    [checks]                    # the model's own checks in the validity battery (sdnet check)
    invariants = ["Total Members >= 0", "Total Members <= Number of Firms"]
    [[checks.conserved]]        # parts (summed over subscripts) equal total at every step
    name = "firms"
    parts = ["Members", "Potential Members"]
    total = "Number of Firms"
    [[checks.extreme]]          # an extreme run: stays finite, in bounds and invariants
    name = "zero firms"
    preset = "typical"          # optional; push = true runs the base push (default)
    set = { "Number of Firms" = 0 }   # a number, or "100 * upper" (of the declared range)
    initial = { Trust = 0 }     # stocks to start at (optional)
    expect = ["Total Members <= 0"]
    [[checks.knockout]]         # cutting a loop removes a behaviour: outcome >= threshold
    name = "R4"                 # with the loop, < threshold without it
    plain = "without sponsorship (R4), persistence disappears"
    preset = "embedded_prone"
    set = { "Sponsor Recruitment Rate" = 0 }
    outcome = "persistence_after_push"
    threshold = 0.6

    [robust]                    # sdnet check --robust (sdnet.robustness): behaviour tests of
    presets = { low = "typical", high = "embedded_prone", external = "externally_networked" }
    durations = [0, 1.5, 3.5, 6]                 # the duration scan in the high preset
    stress = { membership_fee = 18000 }          # the stress run (low preset, base schedule)
    gap = 0.3                                    # alive after: high minus low at least this
    [robust.variables]          # every role of ROBUST_ROLES -> an output column
    outcome = "Total Members"
    [[robust.goals]]            # judged on the pass rates
    check = "no_network_without_push"
    presets = ["typical", "embedded_prone"]      # or "paired", "all"
    rate = 0.95
    text = "no push -> no network in >= 95% of sets"

Errors name the card file, the key, the bad value and what is valid (:class:`CardError`).
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sdnet.errors import CardError, UnknownPresetError, close_matches
from sdnet.params import python_name

__all__ = [
    "NEUTRAL_WORDS",
    "ROBUST_PRESETS",
    "ROBUST_ROLES",
    "SCHEDULE_FIELDS",
    "Checks",
    "Conserved",
    "ExtremeRun",
    "Game",
    "Knockout",
    "Mechanism",
    "MechanismCaution",
    "MechanismShare",
    "MechanismState",
    "ModelCard",
    "Outcome",
    "Preset",
    "Ratio",
    "Robust",
    "RobustGoal",
    "SanityCheck",
    "SanityCondition",
    "Schedule",
    "card_path_for",
    "find_card",
    "load_card",
    "parse_card",
]

#: The words a report uses, and their neutral values for a model without a card.
NEUTRAL_WORDS: Mapping[str, str] = MappingProxyType({
    "system": "the system",          # what the study is about ("the network")
    "schedule": "the schedule",      # the lever over time ("the public push")
    "preset": "preset",              # a named set of constants ("region")
    "members": "the main outcome",   # what the fan charts and regimes count ("members")
    "population": "the population",  # what shares are of ("firms")
    "sustained": "sustained",        # a run whose outcome lasts ("sustained the network")
    # what a study report shows, after "It shows"
    "about": "which factors decide the outcomes the study measures",
})
#: Fields of a "push" schedule: the card names the model constant each one sets.
SCHEDULE_FIELDS: tuple[str, ...] = ("amount", "start", "duration", "taper", "match")
SCHEDULE_KINDS: tuple[str, ...] = ("push",)
GOOD_DIRECTIONS: tuple[str, ...] = ("higher", "lower", "")
_TOP_KEYS = ("model", "schedules", "presets", "outcomes", "ratios", "sanity", "mechanism",
             "words", "game", "checks", "robust")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Schedule:
    """A lever over time: a "push" sets an amount from start for duration, then tapers.

    Attributes
    ----------
    name : str
        The schedule's name (``"push"``; studies write it as a ``[push]`` table).
    kind : str
        ``"push"`` (the only kind so far).
    parameters : Mapping[str, str]
        Field (``amount``, ``start``, ``duration``, ``taper``, ``match``) -> the model
        constant it sets (Python name). ``amount``, ``start`` and ``duration`` are required.
    base : Mapping[str, float]
        Field -> the value a study's schedule starts from.
    description : str
        One line for people.
    """

    name: str
    kind: str
    parameters: Mapping[str, str]
    base: Mapping[str, float] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "parameters", MappingProxyType(dict(self.parameters)))
        object.__setattr__(self, "base", MappingProxyType(
            {k: float(v) for k, v in self.base.items()}))

    @property
    def end_parameters(self) -> tuple[str, ...]:
        """The constants whose sum is the time the schedule ends (start + duration + taper)."""
        return tuple(self.parameters[f] for f in ("start", "duration", "taper")
                     if f in self.parameters)


@dataclass(frozen=True)
class Preset:
    """A named set of constants (for flexnet: a region type).

    Attributes
    ----------
    name : str
        Preset name (a Python identifier, ``"typical"``).
    description : str
        What the preset stands for and why.
    values : Mapping[str, float]
        Python parameter name -> value.
    """

    name: str
    description: str
    values: Mapping[str, float]

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "values",
            MappingProxyType({python_name(k): float(v) for k, v in self.values.items()}),
        )


@dataclass(frozen=True)
class Outcome:
    """A named outcome: a reducer of one model variable (see :mod:`sdnet.metrics`).

    Attributes
    ----------
    name : str
        Python identifier (a metric name in studies, a column of ``metrics.csv``).
    variable : str
        The output it reads (Vensim name as written in the card).
    reducer : str
        A reducer of :data:`sdnet.metrics.REDUCERS` or :data:`sdnet.metrics.SCHEDULE_REDUCERS`.
    options : Mapping[str, Any]
        The reducer's options (``population``, ``lag``, ``threshold``, ...).
    units : str
        Units of the outcome's values.
    plain : str
        A plain-language name for reports.
    good : str
        ``"higher"``, ``"lower"`` or ``""``: which direction is better.
    default : bool
        Measured by a study that lists no ``[[metrics]]``.
    """

    name: str
    variable: str
    reducer: str
    options: Mapping[str, Any] = field(default_factory=dict)
    units: str = ""
    plain: str = ""
    good: str = ""
    default: bool = False


@dataclass(frozen=True)
class Ratio:
    """A ratio of two outcomes' totals over a case's runs (``[[ratios]]``), such as public
    money spent per surviving member firm: the sums are reported beside it, and it is None
    when the denominator's total is zero (never a huge number from a tiny denominator, so
    the denominator should be a count such as surviving firms).

    Attributes
    ----------
    name : str
        Python identifier (a key of ``summary.json``'s ``ratios``).
    numerator, denominator : str
        Names of two of the card's outcomes.
    units : str
        Units of the ratio.
    plain : str
        What it is, in plain words.
    """

    name: str
    numerator: str
    denominator: str
    units: str = ""
    plain: str = ""


#: Comparisons a sanity condition may use.
SANITY_OPERATORS: tuple[str, ...] = ("<=", ">=", "<", ">")
#: How a condition combines several variables (``mean(A, B) < 0``).
SANITY_COMBINE: tuple[str, ...] = ("mean", "min", "max")
_CONDITION = re.compile(
    r"^\s*(?:(?P<combine>[a-z]+)\s*\((?P<inner>[^()]+)\)|(?P<single>[^<>()=]+?))\s*"
    r"(?P<op><=|>=|<|>)\s*(?P<rhs>.+?)\s*$")
_FORMED = re.compile(r"^formed\s*\((?P<constant>[^()]+)\)$")


@dataclass(frozen=True)
class SanityCondition:
    """One comparison of a sanity check, read from a string such as
    ``"mean(Micro Perceived Value, Established Perceived Value) < 0"``.

    Attributes
    ----------
    variables : tuple[str, ...]
        The outputs compared (Vensim names as written); several are combined by ``combine``.
    combine : str
        ``"mean"``, ``"min"`` or ``"max"`` of the variables (``""`` for one variable).
    op : str
        ``"<"``, ``"<="``, ``">"`` or ``">="``.
    value : float
        The number compared with (unused when ``formed_of`` is given).
    formed_of : str
        A constant (Python name): compare with the formed size ``max(3, 5% of it)`` of
        :func:`sdnet.metrics.formed_threshold` instead of a number (``formed(Number of Firms)``).
    text : str
        The condition as written on the card.
    other : str
        A variable compared with instead of a number (``Total Members <= Number of Firms``;
        only in ``[checks]``, which read every saved time).
    """

    variables: tuple[str, ...]
    combine: str
    op: str
    value: float = 0.0
    formed_of: str = ""
    text: str = ""
    other: str = ""


@dataclass(frozen=True)
class SanityCheck:
    """A sanity check: runs meeting every condition at one time are flagged, counted and
    reported (for flexnet: a network alive with negative perceived net value, or one kept
    alive with near-zero trust and embeddedness, a treadmill rather than an embedded network).

    Attributes
    ----------
    name : str
        Python identifier (a key of ``summary.json``'s ``sanity``).
    plain : str
        What a flagged run is, in plain words (reports quote it).
    after_push : float
        The conditions are read this long after the push schedule ends (model time units;
        read at the horizon when later).
    when : tuple[SanityCondition, ...]
        All must hold for a run to be flagged.
    """

    name: str
    plain: str
    after_push: float
    when: tuple[SanityCondition, ...]

    @property
    def variables(self) -> tuple[str, ...]:
        """Every output the conditions read."""
        return tuple(dict.fromkeys(v for c in self.when for v in c.variables))

    @property
    def constants(self) -> tuple[str, ...]:
        """Every constant (Python name) the conditions read."""
        return tuple(dict.fromkeys(c.formed_of for c in self.when if c.formed_of))


@dataclass(frozen=True)
class MechanismShare:
    """One part of a whole the mechanism splits (for flexnet: member fees in the network's
    income): the sum of ``variables`` (non-negative flows) as a share of the sum of every
    part's variables."""

    name: str
    variables: tuple[str, ...]


@dataclass(frozen=True)
class MechanismState:
    """A state summarised over the successes (for flexnet: trust): one variable, or the
    mean, min or max of several (``combine``).

    ``change_over`` > 0 makes it the state's relative change over the next ``change_over``
    time units (value then / value now - 1): a success that is still shrinking when success
    is read (for flexnet: members falling in the decade after survived_10 is read) is a slow
    death, not a network that lasts. 0 (the default): the state's value when it is read."""

    name: str
    variables: tuple[str, ...]
    combine: str = ""
    units: str = ""
    text: str = ""
    change_over: float = 0.0


@dataclass(frozen=True)
class MechanismCaution:
    """A caution a report says when every condition holds on the successes' medians of one
    region and package (a condition names a share or a state: ``"member fees > 0.8"``)."""

    plain: str
    when: tuple[SanityCondition, ...]


@dataclass(frozen=True)
class Mechanism:
    """``[mechanism]``: what keeps a package's successes alive, read ``after_push`` after the
    push ends in the worlds where the package succeeds (:mod:`sdnet.mechanism`).

    Attributes
    ----------
    plain : str
        What the shares are shares of (``"the network's income"``).
    after_push : float
        When the shares and states are read: this long after the push ends (model time
        units; the horizon when later).
    shares : tuple[MechanismShare, ...]
        The parts of the whole (at least two).
    states : tuple[MechanismState, ...]
        The states summarised beside the shares.
    cautions : tuple[MechanismCaution, ...]
        What a report warns about when the successes' medians meet its conditions.
    """

    plain: str
    after_push: float
    shares: tuple[MechanismShare, ...]
    states: tuple[MechanismState, ...] = ()
    cautions: tuple[MechanismCaution, ...] = ()

    @property
    def variables(self) -> tuple[str, ...]:
        """Every output the shares and states read (what a study must save)."""
        names = [v for s in self.shares for v in s.variables]
        names += [v for s in self.states for v in s.variables]
        return tuple(dict.fromkeys(names))

    @property
    def names(self) -> tuple[str, ...]:
        """The shares' and states' names, in the card's order."""
        return tuple(s.name for s in self.shares) + tuple(s.name for s in self.states)


@dataclass(frozen=True)
class Game:
    """What a game or a teaching challenge scores (``[game]``): a run *sustains* when
    ``outcome`` at the horizon is at least a share of ``population``; ``cost`` is the public
    money spent; ``quality`` is shown beside the outcome.

    Attributes
    ----------
    outcome, cost, quality : str
        Output columns (Vensim names as written).
    population : str
        A constant (Vensim name as written).
    charts : tuple of str
        Output columns the simulator's game charts while it is played (default: outcome,
        quality and cost; flexnet adds its grant over time, ``Public Push Grant``).
    """

    outcome: str
    population: str
    cost: str
    quality: str = ""
    charts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Conserved:
    """A conservation law the validity battery checks at every time step: the sum of
    ``parts`` (each summed over its subscripts) equals ``total``."""

    name: str
    parts: tuple[str, ...]
    total: str
    plain: str = ""


@dataclass(frozen=True)
class ExtremeRun:
    """An extreme-condition run of the validity battery: it must stay finite, within the
    stocks' declared bounds, within the card's invariants and meet ``expect``.

    Attributes
    ----------
    name : str
        What the run is, in words (``"zero firms"``).
    preset : str
        A preset of the card to start from (``""``: none).
    push : bool
        Run the card's base push (when the card has a push schedule).
    values : Mapping[str, float | str]
        Constants to set: a number, or ``"F * upper"`` (F times the declared upper bound).
    initial : Mapping[str, float]
        Stocks to start at (the rest start where the model starts them).
    expect : tuple[SanityCondition, ...]
        Conditions that must hold at every saved time.
    """

    name: str
    preset: str = ""
    push: bool = True
    values: Mapping[str, float | str] = field(default_factory=dict)
    initial: Mapping[str, float] = field(default_factory=dict)
    expect: tuple[SanityCondition, ...] = ()


@dataclass(frozen=True)
class Knockout:
    """A loop knockout of the validity battery: with the loop, ``outcome`` is at least
    ``threshold``; with ``values`` set (the loop cut), it is below it."""

    name: str
    outcome: str
    threshold: float
    values: Mapping[str, float]
    preset: str = ""
    push: bool = True
    plain: str = ""


@dataclass(frozen=True)
class Checks:
    """``[checks]``: the model's own checks in the validity battery (empty without a card)."""

    invariants: tuple[SanityCondition, ...] = ()
    conserved: tuple[Conserved, ...] = ()
    extreme: tuple[ExtremeRun, ...] = ()
    knockout: tuple[Knockout, ...] = ()


#: What the behaviour tests of ``sdnet check --robust`` (:mod:`sdnet.robustness`) read, by
#: role, in a model of members of a population in two segments (``a`` and ``b``): the card's
#: ``[robust.variables]`` names the output column of each.
ROBUST_ROLES: tuple[str, ...] = (
    "outcome", "population", "part_a", "part_b", "value_a", "value_b", "benefit_a",
    "benefit_b", "benefit_mean", "part_a_share", "population_a_share", "access_a", "access_b",
    "access_parts", "inflow_a", "inflow_b", "growth_in", "growth_out", "accumulation",
)
#: The presets the behaviour tests run in, by role (``[robust] presets``).
ROBUST_PRESETS: tuple[str, ...] = ("low", "high", "external")
#: What a goal's presets may name besides the card's presets: paired sets, every scenario.
ROBUST_GROUPS: tuple[str, ...] = ("paired", "all")


@dataclass(frozen=True)
class RobustGoal:
    """A goal judged on a pass rate: ``check`` reaches ``rate`` in each of ``presets``."""

    check: str
    presets: tuple[str, ...]
    rate: float
    text: str


@dataclass(frozen=True)
class Robust:
    """``[robust]``: what ``sdnet check --robust`` runs and reads (:mod:`sdnet.robustness`).

    Attributes
    ----------
    variables : Mapping[str, str]
        Every role of :data:`ROBUST_ROLES` -> an output column (Vensim name).
    presets : Mapping[str, str]
        Every role of :data:`ROBUST_PRESETS` -> a preset of the card.
    durations : tuple of float
        Schedule durations of the duration scan in the ``high`` preset (0: no schedule).
    stress : Mapping[str, float]
        Constants of the stress run (the ``low`` preset with the base schedule).
    goals : tuple of RobustGoal
        Judged on the pass rates.
    gap, gap_text : float, str
        The goal on "alive after the schedule": ``high`` minus ``low`` at least ``gap``.
    """

    variables: Mapping[str, str]
    presets: Mapping[str, str]
    durations: tuple[float, ...]
    stress: Mapping[str, float]
    goals: tuple[RobustGoal, ...]
    gap: float
    gap_text: str


@dataclass(frozen=True)
class ModelCard:
    """What sdnet knows about one model (empty for a model without a card).

    Attributes
    ----------
    path : Path or None
        The card file (None for the neutral card of a model without one).
    model_file : Path or None
        The model the card describes (``[model] file``), resolved against the card's folder.
    title, description, time_unit : str
        ``[model]``: how reports introduce the model.
    variables : tuple[str, ...]
        ``[model] variables``: what a run saves by default (Vensim names; else the stocks).
    report_variables : tuple[str, ...]
        ``[model] report_variables``: what a study always saves and its report draws as fan
        charts (else the stocks).
    panels : tuple[tuple[str, ...], ...]
        ``[model] panels``: the panels of ``sdnet run``'s figure (else stocks by units).
    charts : tuple[str, ...]
        ``[model] charts``: what the simulator charts (else ``report_variables``, else stocks).
    sliders : tuple[Mapping[str, Any], ...]
        ``[model] sliders``: the constants the explorer offers (else every lever and region
        constant with a declared range): ``name`` and optionally ``label``, ``lower``,
        ``upper`` and ``step`` (a name alone: its declared range in 20 steps).
    schedules : Mapping[str, Schedule]
        By name.
    presets : Mapping[str, Preset]
        By name.
    outcomes : Mapping[str, Outcome]
        By name, in the card's order.
    ratios : tuple[Ratio, ...]
        ``[[ratios]]``: totals of two outcomes over a case's runs and their ratio.
    sanity : tuple[SanityCheck, ...]
        ``[[sanity]]``: the checks every study runs on its runs (:mod:`sdnet.sanity`).
    mechanism : Mechanism or None
        ``[mechanism]``: what a package study shows of what keeps its successes alive.
    words : Mapping[str, str]
        Every key of :data:`NEUTRAL_WORDS`, the card's value where it gives one.
    game : Game or None
        ``[game]``: what the simulator's game and a teaching challenge score.
    checks : Checks
        ``[checks]``: the model's own checks in the validity battery.
    robust : Robust or None
        ``[robust]``: what ``sdnet check --robust`` runs and reads.
    """

    path: Path | None = None
    model_file: Path | None = None
    title: str = ""
    description: str = ""
    time_unit: str = ""
    variables: tuple[str, ...] = ()
    report_variables: tuple[str, ...] = ()
    panels: tuple[tuple[str, ...], ...] = ()
    charts: tuple[str, ...] = ()
    sliders: tuple[Mapping[str, Any], ...] = ()
    schedules: Mapping[str, Schedule] = field(default_factory=dict)
    presets: Mapping[str, Preset] = field(default_factory=dict)
    outcomes: Mapping[str, Outcome] = field(default_factory=dict)
    ratios: tuple[Ratio, ...] = ()
    sanity: tuple[SanityCheck, ...] = ()
    mechanism: Mechanism | None = None
    words: Mapping[str, str] = field(default_factory=lambda: dict(NEUTRAL_WORDS))
    game: Game | None = None
    checks: Checks = field(default_factory=Checks)
    robust: Robust | None = None

    def __post_init__(self) -> None:
        for name in ("schedules", "presets", "outcomes"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))
        object.__setattr__(self, "words", MappingProxyType({**NEUTRAL_WORDS, **self.words}))

    @property
    def push(self) -> Schedule | None:
        """The card's push schedule (the first schedule of kind ``"push"``), if any."""
        return next((s for s in self.schedules.values() if s.kind == "push"), None)

    @property
    def default_outcomes(self) -> tuple[Outcome, ...]:
        """The outcomes a study measures when it lists no ``[[metrics]]``."""
        return tuple(o for o in self.outcomes.values() if o.default)

    def word(self, key: str) -> str:
        """What reports call ``key`` (``"system"`` -> ``"the network"`` for flexnet)."""
        return self.words.get(key, NEUTRAL_WORDS.get(key, key))

    def preset(self, name: str | Preset) -> Preset:
        """The preset called ``name`` (``"embedded-prone"`` and ``"Embedded Prone"`` work).

        Raises
        ------
        UnknownPresetError
            If the card has no such preset; the message lists the valid ones (none for a
            model without a card).
        """
        if isinstance(name, Preset):
            return name
        kind = self.preset_kind
        if not isinstance(name, str):
            raise UnknownPresetError(repr(name), valid=self.presets, kind=kind)
        key = python_name(name.replace("-", " "))  # "embedded-prone" is embedded_prone
        if key not in self.presets:
            raise UnknownPresetError(name, valid=self.presets, kind=kind)
        return self.presets[key]

    @property
    def preset_kind(self) -> str:
        """How errors and reports name a preset: ``"region preset"`` for flexnet."""
        word = self.word("preset")
        return "preset" if word == "preset" else f"{word} preset"


# ------------------------------------------------------------------------------- finding


def card_path_for(model_path: str | Path) -> Path:
    """Where a model's card is looked for: same folder, same stem, ``.toml``."""
    return Path(model_path).with_suffix(".toml")


def find_card(model_path: str | Path, card: str | Path | None = None) -> ModelCard:
    """The card of a model: ``card`` when given, else the file beside the model, else the
    neutral card (no schedules, presets or outcomes; neutral words).

    Raises
    ------
    CardError
        If ``card`` is given and missing, or a card file is invalid.
    """
    if card is not None:
        return load_card(card)
    beside = card_path_for(model_path)
    if beside.is_file():
        return load_card(beside)
    return ModelCard()


def load_card(path: str | Path) -> ModelCard:
    """Read and validate a card file.

    Raises
    ------
    CardError
        Naming the file, the key, the bad value and what is valid.
    """
    path = Path(path)
    if not path.is_file():
        raise CardError("model card not found (give the path of a .toml card)", path=path,
                        value=str(path))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise CardError(f"not valid TOML: {error}", path=path) from error
    return parse_card(data, path=path)


# ------------------------------------------------------------------------------- parsing


def _check_keys(table: Mapping[str, Any], allowed: tuple[str, ...], path: Path | None,
                where: str) -> None:
    for key in table:
        if key not in allowed:
            hint = close_matches(key, allowed)
            did = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise CardError(f"unknown key {key!r}{did}; valid keys: {', '.join(allowed)}",
                            path=path, key=f"{where}.{key}" if where else key, value=key)


def _table(value: Any, path: Path | None, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise CardError(f"must be a table, not {value!r}", path=path, key=key, value=value)
    return value


def _tables(data: Mapping[str, Any], key: str, path: Path | None) -> list[Mapping[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise CardError(f"must be an array of tables ([[{key}]]), not {value!r}", path=path,
                        key=key, value=value)
    return value


def _string(value: Any, path: Path | None, key: str, *, name: bool = False) -> str:
    if not isinstance(value, str) or (name and not _NAME.match(python_name(value))):
        what = "a name (letters, digits, _)" if name else "a string"
        raise CardError(f"must be {what}, not {value!r}", path=path, key=key, value=value)
    return value


def _number(value: Any, path: Path | None, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CardError(f"must be a finite number, not {value!r}", path=path, key=key,
                        value=value)
    return float(value)


def _unique(names: list[str], path: Path | None, key: str) -> None:
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name in seen:
            raise CardError(f"{name!r} is defined twice", path=path,
                            key=f"{key}[{index}].name", value=name)
        seen.add(name)


def _parse_schedule(raw: Mapping[str, Any], path: Path | None, key: str) -> Schedule:
    _check_keys(raw, ("name", "kind", "description", "parameters", "base"), path, key)
    name = python_name(_string(raw.get("name"), path, f"{key}.name", name=True))
    kind = raw.get("kind", "push")
    if kind not in SCHEDULE_KINDS:
        raise CardError(f"unknown schedule kind {kind!r}; valid kinds: "
                        f"{', '.join(SCHEDULE_KINDS)}", path=path, key=f"{key}.kind", value=kind)
    parameters = _table(raw.get("parameters"), path, f"{key}.parameters")
    _check_keys(parameters, SCHEDULE_FIELDS, path, f"{key}.parameters")
    missing = [f for f in ("amount", "start", "duration") if f not in parameters]
    if missing:
        raise CardError(f"a push schedule needs the constants its {', '.join(missing)} set "
                        f"(fields: {', '.join(SCHEDULE_FIELDS)})", path=path,
                        key=f"{key}.parameters", value=dict(parameters))
    names = {f: python_name(_string(v, path, f"{key}.parameters.{f}"))
             for f, v in parameters.items()}
    base_raw = _table(raw.get("base", {}), path, f"{key}.base")
    _check_keys(base_raw, tuple(names), path, f"{key}.base")
    base = {f: _number(v, path, f"{key}.base.{f}") for f, v in base_raw.items()}
    for f, v in base.items():
        if v < 0 or (f == "match" and v > 1):
            valid = "[0, 1]" if f == "match" else ">= 0"
            raise CardError(f"must be {valid}, not {v:g}", path=path, key=f"{key}.base.{f}",
                            value=v)
    return Schedule(name, kind, names, base,
                    _string(raw.get("description", ""), path, f"{key}.description"))


def _parse_preset(raw: Mapping[str, Any], path: Path | None, key: str) -> Preset:
    _check_keys(raw, ("name", "description", "values"), path, key)
    name = python_name(_string(raw.get("name"), path, f"{key}.name", name=True))
    values = _table(raw.get("values"), path, f"{key}.values")
    if not values:
        raise CardError("a preset sets at least one constant", path=path, key=f"{key}.values",
                        value={})
    numbers = {k: _number(v, path, f"{key}.values.{k}") for k, v in values.items()}
    return Preset(name, _string(raw.get("description", ""), path, f"{key}.description"),
                  numbers)


_OUTCOME_KEYS = ("name", "variable", "reducer", "units", "plain", "good", "default")


def _parse_outcome(raw: Mapping[str, Any], path: Path | None, key: str) -> Outcome:
    name = _string(raw.get("name"), path, f"{key}.name", name=True)
    if not _NAME.match(name):
        raise CardError("must be a Python identifier (letters, digits, _)", path=path,
                        key=f"{key}.name", value=name)
    variable = _string(raw.get("variable"), path, f"{key}.variable")
    reducer = _string(raw.get("reducer", "final"), path, f"{key}.reducer")
    good = raw.get("good", "")
    if good not in GOOD_DIRECTIONS:
        raise CardError(f"must be one of 'higher', 'lower' or '' (neither), not {good!r}",
                        path=path, key=f"{key}.good", value=good)
    default = raw.get("default", False)
    if not isinstance(default, bool):
        raise CardError(f"must be true or false, not {default!r}", path=path,
                        key=f"{key}.default", value=default)
    options = {k: v for k, v in raw.items() if k not in _OUTCOME_KEYS}
    return Outcome(name, variable, reducer, MappingProxyType(options),
                   _string(raw.get("units", ""), path, f"{key}.units"),
                   _string(raw.get("plain", ""), path, f"{key}.plain"), good, default)


def _parse_condition(text: Any, path: Path | None, key: str, *,
                     variables_ok: bool = False) -> SanityCondition:
    valid = ("'VARIABLE OP NUMBER', 'mean(A, B) OP NUMBER' (or min, max) or "
             "'VARIABLE OP formed(CONSTANT)'" + (" or 'VARIABLE OP VARIABLE'" if variables_ok
                                                 else "") + ", with OP one of <, <=, >, >=")
    if not isinstance(text, str):
        raise CardError(f"must be a condition string ({valid}), not {text!r}", path=path,
                        key=key, value=text)
    match = _CONDITION.match(text)
    if match is None:
        raise CardError(f"cannot read the condition {text!r}; write {valid}", path=path,
                        key=key, value=text)
    combine = match["combine"] or ""
    if combine and combine not in SANITY_COMBINE:
        raise CardError(f"unknown combination {combine!r} in {text!r}; valid: "
                        f"{', '.join(SANITY_COMBINE)}", path=path, key=key, value=text)
    names = match["inner"].split(",") if combine else [match["single"]]
    variables = tuple(n.strip() for n in names)
    if not all(variables):
        raise CardError(f"an empty variable name in {text!r}", path=path, key=key, value=text)
    rhs = match["rhs"]
    formed = _FORMED.match(rhs)
    if formed:
        return SanityCondition(variables, combine, match["op"],
                               formed_of=python_name(formed["constant"].strip()), text=text)
    try:
        value = float(rhs)
    except ValueError:
        if variables_ok and not re.search(r"[()<>=]", rhs):
            return SanityCondition(variables, combine, match["op"], text=text, other=rhs)
        raise CardError(f"{rhs!r} in {text!r} is neither a number nor formed(CONSTANT)"
                        + (" nor a variable" if variables_ok else ""),
                        path=path, key=key, value=text) from None
    if not math.isfinite(value):
        raise CardError(f"must compare with a finite number, not {rhs!r}", path=path,
                        key=key, value=text)
    return SanityCondition(variables, combine, match["op"], value, text=text)


def _parse_ratio(raw: Mapping[str, Any], path: Path | None, key: str,
                 outcomes: tuple[str, ...]) -> Ratio:
    _check_keys(raw, ("name", "numerator", "denominator", "units", "plain"), path, key)
    name = _string(raw.get("name"), path, f"{key}.name", name=True)
    if not _NAME.match(name):
        raise CardError("must be a Python identifier (letters, digits, _)", path=path,
                        key=f"{key}.name", value=name)
    parts = {}
    for part in ("numerator", "denominator"):
        value = _string(raw.get(part), path, f"{key}.{part}")
        if value not in outcomes:
            hint = close_matches(value, outcomes)
            did = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise CardError(f"unknown outcome {value!r}{did}; the card's outcomes: "
                            f"{', '.join(outcomes) or 'none'}", path=path, key=f"{key}.{part}",
                            value=value)
        parts[part] = value
    return Ratio(name, parts["numerator"], parts["denominator"],
                 _string(raw.get("units", ""), path, f"{key}.units"),
                 _string(raw.get("plain", ""), path, f"{key}.plain"))


def _parse_sanity(raw: Mapping[str, Any], path: Path | None, key: str) -> SanityCheck:
    _check_keys(raw, ("name", "plain", "after_push", "when"), path, key)
    name = _string(raw.get("name"), path, f"{key}.name", name=True)
    if not _NAME.match(name):
        raise CardError("must be a Python identifier (letters, digits, _)", path=path,
                        key=f"{key}.name", value=name)
    after = _number(raw.get("after_push", 0.0), path, f"{key}.after_push")
    if after < 0:
        raise CardError(f"must be >= 0 (time after the push ends), not {after:g}", path=path,
                        key=f"{key}.after_push", value=after)
    when = raw.get("when")
    if not isinstance(when, list) or not when:
        raise CardError(f"must be a non-empty list of conditions, all of which flag a run, "
                        f"not {when!r}", path=path, key=f"{key}.when", value=when)
    conditions = tuple(_parse_condition(c, path, f"{key}.when[{j}]")
                       for j, c in enumerate(when))
    plain = _string(raw.get("plain", ""), path, f"{key}.plain")
    return SanityCheck(name, plain or " and ".join(c.text for c in conditions), after,
                       conditions)


_EXPRESSION = re.compile(
    r"^\s*(?:(?P<combine>[a-z]+)\s*\((?P<inner>[^()]+)\)|(?P<single>[^<>()=,]+?))\s*$")


def _parse_mechanism(raw: Any, path: Path | None) -> Mechanism | None:
    if raw is None:
        return None
    raw = _table(raw, path, "mechanism")
    _check_keys(raw, ("plain", "after_push", "shares", "states", "cautions"), path,
                "mechanism")
    after = _number(raw.get("after_push", 0.0), path, "mechanism.after_push")
    if after < 0:
        raise CardError(f"must be >= 0 (time after the push ends), not {after:g}", path=path,
                        key="mechanism.after_push", value=after)
    shares = []
    for i, entry in enumerate(_tables(raw, "shares", path)):
        key = f"mechanism.shares[{i}]"
        _check_keys(entry, ("name", "variables"), path, key)
        name = _string(entry.get("name"), path, f"{key}.name").strip()
        if not name:
            raise CardError("must be a plain name such as \"fees\", not empty",
                            path=path, key=f"{key}.name", value=entry.get("name"))
        variables = entry.get("variables")
        if isinstance(variables, str):
            variables = [variables]
        if variables == []:
            raise CardError("must name at least one variable (flows whose sum is this part)",
                            path=path, key=f"{key}.variables", value=variables)
        shares.append(MechanismShare(name, _names(variables, path, f"{key}.variables")))
    if len(shares) < 2:
        raise CardError(f"needs at least two [[mechanism.shares]] (the parts of a whole, e.g. "
                        f"fees and donations), not {len(shares)}", path=path,
                        key="mechanism.shares", value=raw.get("shares"))
    states = []
    for i, entry in enumerate(_tables(raw, "states", path)):
        key = f"mechanism.states[{i}]"
        _check_keys(entry, ("name", "variable", "units", "change_over"), path, key)
        name = _string(entry.get("name"), path, f"{key}.name").strip()
        text = _string(entry.get("variable"), path, f"{key}.variable")
        match = _EXPRESSION.match(text)
        combine = (match["combine"] or "") if match else ""
        if not name or match is None or (combine and combine not in SANITY_COMBINE):
            raise CardError(f"needs a plain name and a variable ('VARIABLE' or 'mean(A, B)', "
                            f"or min, max), not name {name!r}, variable {text!r}", path=path,
                            key=key, value=dict(entry))
        names = match["inner"].split(",") if combine else [match["single"]]
        variables = tuple(n.strip() for n in names)
        if not all(variables):
            raise CardError(f"an empty variable name in {text!r}", path=path,
                            key=f"{key}.variable", value=text)
        change_over = _number(entry.get("change_over", 0.0), path, f"{key}.change_over")
        if change_over < 0:
            raise CardError(f"must be >= 0 (time units over which the state's relative change "
                            f"is read; 0 reads its value), not {change_over:g}", path=path,
                            key=f"{key}.change_over", value=change_over)
        states.append(MechanismState(name, variables, combine,
                                     _string(entry.get("units", ""), path, f"{key}.units"),
                                     text, change_over))
    known = [s.name for s in shares] + [s.name for s in states]
    for index, name in enumerate(known):
        if name in known[:index]:
            kind, j = (("shares", index) if index < len(shares)
                       else ("states", index - len(shares)))
            raise CardError(f"{name!r} is defined twice among the shares and states (each "
                            f"needs its own name)", path=path,
                            key=f"mechanism.{kind}[{j}].name", value=name)
    cautions = []
    for i, entry in enumerate(_tables(raw, "cautions", path)):
        key = f"mechanism.cautions[{i}]"
        _check_keys(entry, ("plain", "when"), path, key)
        when = entry.get("when")
        if not isinstance(when, list) or not when:
            raise CardError(f"must be a non-empty list of conditions such as "
                            f"\"{known[0]} > 0.8\", not {when!r}", path=path,
                            key=f"{key}.when", value=when)
        conditions = []
        for j, text in enumerate(when):
            condition = _parse_condition(text, path, f"{key}.when[{j}]")
            name = condition.variables[0]
            if condition.combine or condition.formed_of or name not in known:
                hint = close_matches(name, known)
                did = f" (did you mean {hint[0]!r}?)" if hint else ""
                raise CardError(f"must compare one of the mechanism's shares or states with a "
                                f"number: {', '.join(known)}; not {text!r}{did}", path=path,
                                key=f"{key}.when[{j}]", value=text)
            conditions.append(condition)
        plain = _string(entry.get("plain", ""), path, f"{key}.plain")
        cautions.append(MechanismCaution(plain or " and ".join(c.text for c in conditions),
                                         tuple(conditions)))
    plain = _string(raw.get("plain", "the whole"), path, "mechanism.plain")
    return Mechanism(plain, after, tuple(shares), tuple(states), tuple(cautions))


def _names(value: Any, path: Path | None, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise CardError(f"must be a list of variable names, not {value!r}", path=path,
                        key=key, value=value)
    return tuple(value)


def _flag(value: Any, path: Path | None, key: str) -> bool:
    if not isinstance(value, bool):
        raise CardError(f"must be true or false, not {value!r}", path=path, key=key,
                        value=value)
    return value


def _parse_sliders(raw: Any, path: Path | None) -> tuple[Mapping[str, Any], ...]:
    if not isinstance(raw, list):
        raise CardError(f"must be a list of constant names or tables, not {raw!r}", path=path,
                        key="model.sliders", value=raw)
    sliders = []
    for i, entry in enumerate(raw):
        key = f"model.sliders[{i}]"
        if isinstance(entry, str):
            entry = {"name": entry}
        entry = _table(entry, path, key)
        _check_keys(entry, ("name", "label", "lower", "upper", "step"), path, key)
        slider: dict[str, Any] = {"name": _string(entry.get("name"), path, f"{key}.name")}
        if "label" in entry:
            slider["label"] = _string(entry["label"], path, f"{key}.label")
        for bound in ("lower", "upper", "step"):
            if bound in entry:
                slider[bound] = _number(entry[bound], path, f"{key}.{bound}")
        if slider.get("step", 1.0) <= 0 or slider.get("lower", -math.inf) >= slider.get(
                "upper", math.inf):
            raise CardError("needs lower < upper and a positive step", path=path, key=key,
                            value=dict(entry))
        sliders.append(MappingProxyType(slider))
    return tuple(sliders)


def _parse_game(raw: Any, path: Path | None) -> Game | None:
    if raw is None:
        return None
    raw = _table(raw, path, "game")
    _check_keys(raw, ("outcome", "population", "cost", "quality", "charts"), path, "game")
    for required in ("outcome", "population", "cost"):
        if required not in raw:
            raise CardError(f"[game] needs {required} (keys: outcome, population, cost, "
                            "quality, charts)", path=path, key=f"game.{required}", value=None)
    charts = _names(raw.get("charts", []), path, "game.charts")
    return Game(**{k: _string(v, path, f"game.{k}") for k, v in raw.items() if k != "charts"},
                charts=charts)


#: ``"100 * upper"``: a multiple of a constant's declared upper bound (extreme runs).
UPPER_MULTIPLE = re.compile(r"^\s*(?P<factor>[0-9.eE+-]+)\s*\*\s*upper\s*$")


def _setting(value: Any, path: Path | None, key: str) -> float | str:
    if isinstance(value, str):
        match = UPPER_MULTIPLE.match(value)
        try:
            factor = float(match["factor"]) if match else math.nan
        except ValueError:
            factor = math.nan
        if not math.isfinite(factor):
            raise CardError(f"must be a number or 'F * upper' (F times the declared upper "
                            f"bound), not {value!r}", path=path, key=key, value=value)
        return value
    return _number(value, path, key)


def _parse_checks(raw: Any, path: Path | None, presets: tuple[str, ...],
                  outcomes: tuple[str, ...]) -> Checks:
    raw = _table(raw if raw is not None else {}, path, "checks")
    _check_keys(raw, ("invariants", "conserved", "extreme", "knockout"), path, "checks")
    invariants = raw.get("invariants", [])
    if not isinstance(invariants, list):
        raise CardError(f"must be a list of conditions, not {invariants!r}", path=path,
                        key="checks.invariants", value=invariants)
    conditions = tuple(_parse_condition(c, path, f"checks.invariants[{j}]", variables_ok=True)
                       for j, c in enumerate(invariants))

    def preset(entry: Mapping[str, Any], key: str) -> str:
        name = _string(entry.get("preset", ""), path, f"{key}.preset")
        if name and python_name(name.replace("-", " ")) not in presets:
            raise CardError(f"unknown preset {name!r}; the card's presets: "
                            f"{', '.join(presets) or 'none'}", path=path, key=f"{key}.preset",
                            value=name)
        return python_name(name.replace("-", " ")) if name else ""

    conserved = []
    for i, entry in enumerate(_tables(raw, "conserved", path)):
        key = f"checks.conserved[{i}]"
        _check_keys(entry, ("name", "plain", "parts", "total"), path, key)
        conserved.append(Conserved(
            _string(entry.get("name"), path, f"{key}.name"),
            _names(entry.get("parts"), path, f"{key}.parts"),
            _string(entry.get("total"), path, f"{key}.total"),
            _string(entry.get("plain", ""), path, f"{key}.plain")))
    extreme = []
    for i, entry in enumerate(_tables(raw, "extreme", path)):
        key = f"checks.extreme[{i}]"
        _check_keys(entry, ("name", "preset", "push", "set", "initial", "expect"), path, key)
        values = _table(entry.get("set", {}), path, f"{key}.set")
        initial = _table(entry.get("initial", {}), path, f"{key}.initial")
        expect = entry.get("expect", [])
        if not isinstance(expect, list):
            raise CardError(f"must be a list of conditions, not {expect!r}", path=path,
                            key=f"{key}.expect", value=expect)
        extreme.append(ExtremeRun(
            _string(entry.get("name"), path, f"{key}.name"), preset(entry, key),
            _flag(entry.get("push", True), path, f"{key}.push"),
            MappingProxyType({k: _setting(v, path, f"{key}.set.{k}") for k, v in values.items()}),
            MappingProxyType({k: _number(v, path, f"{key}.initial.{k}")
                              for k, v in initial.items()}),
            tuple(_parse_condition(c, path, f"{key}.expect[{j}]", variables_ok=True)
                  for j, c in enumerate(expect))))
    knockout = []
    for i, entry in enumerate(_tables(raw, "knockout", path)):
        key = f"checks.knockout[{i}]"
        _check_keys(entry, ("name", "plain", "preset", "push", "set", "outcome", "threshold"),
                    path, key)
        outcome = _string(entry.get("outcome"), path, f"{key}.outcome")
        if outcome not in outcomes:
            raise CardError(f"unknown outcome {outcome!r}; the card's outcomes: "
                            f"{', '.join(outcomes) or 'none'}", path=path, key=f"{key}.outcome",
                            value=outcome)
        values = _table(entry.get("set"), path, f"{key}.set")
        if not values:
            raise CardError("a knockout sets at least one constant (the loop's switch)",
                            path=path, key=f"{key}.set", value={})
        knockout.append(Knockout(
            _string(entry.get("name"), path, f"{key}.name"), outcome,
            _number(entry.get("threshold"), path, f"{key}.threshold"),
            MappingProxyType({k: _number(v, path, f"{key}.set.{k}") for k, v in values.items()}),
            preset(entry, key), _flag(entry.get("push", True), path, f"{key}.push"),
            _string(entry.get("plain", ""), path, f"{key}.plain")))
    return Checks(conditions, tuple(conserved), tuple(extreme), tuple(knockout))


def parse_card(data: Mapping[str, Any], *, path: Path | None = None) -> ModelCard:
    """Validate a card given as plain data (what :func:`load_card` reads from TOML).

    Outcome reducers and the names a card gives are checked against the model where they are
    used (:func:`sdnet.metrics.outcome_metric`, ``Model.run``), since a card alone does not
    know the model's variables.

    Raises
    ------
    CardError
        Naming the file, the key, the bad value and what is valid.
    """
    _check_keys(data, _TOP_KEYS, path, "")
    head = _table(data.get("model", {}), path, "model")
    _check_keys(head, ("file", "title", "description", "time_unit", "variables",
                       "report_variables", "panels", "charts", "sliders"), path, "model")
    panels = head.get("panels", [])
    if not isinstance(panels, list) or not all(
            isinstance(p, list) and all(isinstance(v, str) for v in p) for p in panels):
        raise CardError(f"must be a list of lists of variable names, not {panels!r}",
                        path=path, key="model.panels", value=panels)
    lists = {}
    sliders = _parse_sliders(head.get("sliders", []), path)
    for name in ("variables", "report_variables", "charts"):
        value = head.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise CardError(f"must be a list of variable names, not {value!r}", path=path,
                            key=f"model.{name}", value=value)
        lists[name] = tuple(value)
    model_file = None
    if "file" in head:
        file = Path(_string(head["file"], path, "model.file"))
        model_file = file if file.is_absolute() or path is None else path.parent / file
    schedules = [_parse_schedule(raw, path, f"schedules[{i}]")
                 for i, raw in enumerate(_tables(data, "schedules", path))]
    presets = [_parse_preset(raw, path, f"presets[{i}]")
               for i, raw in enumerate(_tables(data, "presets", path))]
    outcomes = [_parse_outcome(raw, path, f"outcomes[{i}]")
                for i, raw in enumerate(_tables(data, "outcomes", path))]
    ratios = [_parse_ratio(raw, path, f"ratios[{i}]", tuple(o.name for o in outcomes))
              for i, raw in enumerate(_tables(data, "ratios", path))]
    sanity = [_parse_sanity(raw, path, f"sanity[{i}]")
              for i, raw in enumerate(_tables(data, "sanity", path))]
    for key, items in (("schedules", schedules), ("presets", presets), ("outcomes", outcomes),
                       ("ratios", ratios), ("sanity", sanity)):
        _unique([item.name for item in items], path, key)
    words = _table(data.get("words", {}), path, "words")
    _check_keys(words, tuple(NEUTRAL_WORDS), path, "words")
    return ModelCard(
        path=path, model_file=model_file,
        title=_string(head.get("title", ""), path, "model.title"),
        description=_string(head.get("description", ""), path, "model.description"),
        time_unit=_string(head.get("time_unit", ""), path, "model.time_unit"),
        variables=lists["variables"],
        report_variables=lists["report_variables"],
        panels=tuple(tuple(p) for p in panels),
        schedules={s.name: s for s in schedules},
        presets={p.name: p for p in presets},
        outcomes={o.name: o for o in outcomes},
        ratios=tuple(ratios),
        sanity=tuple(sanity),
        mechanism=_parse_mechanism(data.get("mechanism"), path),
        words={k: _string(v, path, f"words.{k}") for k, v in words.items()},
        charts=lists["charts"],
        sliders=sliders,
        game=_parse_game(data.get("game"), path),
        checks=_parse_checks(data.get("checks"), path, tuple(p.name for p in presets),
                             tuple(o.name for o in outcomes)),
        robust=_parse_robust(data.get("robust"), path, tuple(p.name for p in presets)),
    )


def _parse_robust(raw: Any, path: Path | None, presets: tuple[str, ...]) -> Robust | None:
    """``[robust]``: every role named, presets of the card, numbers where numbers go."""
    if raw is None:
        return None
    raw = _table(raw, path, "robust")
    _check_keys(raw, ("variables", "presets", "durations", "stress", "goals", "gap",
                      "gap_text"), path, "robust")
    found: dict[str, Mapping[str, str]] = {}
    for key, roles in (("variables", ROBUST_ROLES), ("presets", ROBUST_PRESETS)):
        table = _table(raw.get(key, {}), path, f"robust.{key}")
        _check_keys(table, roles, path, f"robust.{key}")
        missing = [r for r in roles if r not in table]
        if missing:
            raise CardError(f"needs {', '.join(missing)} (every one of: {', '.join(roles)})",
                            path=path, key=f"robust.{key}", value=dict(table))
        found[key] = {r: _string(table[r], path, f"robust.{key}.{r}") for r in roles}
    for role, name in found["presets"].items():
        if name not in presets:
            raise CardError(f"unknown preset {name!r} (the card's presets: "
                            f"{', '.join(presets) or 'none'})", path=path,
                            key=f"robust.presets.{role}", value=name)
    durations = raw.get("durations", [])
    if not isinstance(durations, list) or not durations:
        raise CardError(f"must be a non-empty list of durations, not {durations!r}",
                        path=path, key="robust.durations", value=durations)
    scan = tuple(_number(d, path, f"robust.durations[{i}]") for i, d in enumerate(durations))
    if any(d < 0 for d in scan) or list(scan) != sorted(set(scan)):
        raise CardError(f"must be increasing durations of at least 0, not {durations!r}",
                        path=path, key="robust.durations", value=durations)
    stress = _table(raw.get("stress", {}), path, "robust.stress")
    goals = []
    for i, goal in enumerate(_tables(raw, "goals", path)):
        where = f"robust.goals[{i}]"
        _check_keys(goal, ("check", "presets", "rate", "text"), path, where)
        names = goal.get("presets", [])
        if not isinstance(names, list) or not names or not all(
                n in presets or n in ROBUST_GROUPS for n in names):
            raise CardError(f"must be a list of the card's presets or {', '.join(ROBUST_GROUPS)}"
                            f", not {names!r}", path=path, key=f"{where}.presets", value=names)
        rate = _number(goal.get("rate"), path, f"{where}.rate")
        if not 0 <= rate <= 1:
            raise CardError(f"must lie in [0, 1], not {rate!r}", path=path, key=f"{where}.rate",
                            value=rate)
        goals.append(RobustGoal(_string(goal.get("check"), path, f"{where}.check", name=True),
                                tuple(names), rate, _string(goal.get("text", ""), path,
                                                            f"{where}.text")))
    return Robust(
        variables=MappingProxyType(found["variables"]),
        presets=MappingProxyType(found["presets"]), durations=scan,
        stress=MappingProxyType({k: _number(v, path, f"robust.stress.{k}")
                                 for k, v in stress.items()}),
        goals=tuple(goals), gap=_number(raw.get("gap", 0.0), path, "robust.gap"),
        gap_text=_string(raw.get("gap_text", ""), path, "robust.gap_text"))
