"""Public-push schedules and region presets, expressed as parameter values of a model.

A :class:`Push` is the public grant: ``amount`` $/Year from ``start`` for ``duration`` years,
then falling linearly to zero over ``taper`` years, with a local-match requirement. A
:class:`Region` is a named set of region descriptors (community-entrepreneur density, external
networking). Both turn into plain ``{python_name: value}`` dicts that ``Model.run`` applies, so
a scripted experiment reads::

    model.run(region="typical", push=Push(amount=300_000, start=2, duration=3.5))

The presets follow ``../shared/design/model.md`` (behaviour tests BR1-BR8): a typical region
(CE 0.2, X 0.2), an embedded-prone region (CE 0.8, X 0.2) and an externally networked region
(CE 0.2, X 0.8).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from sdnet.errors import MissingParameterError, PushScheduleError, UnknownPresetError
from sdnet.params import python_name

__all__ = [
    "BASE_PUSH",
    "PUSH_PARAMETERS",
    "REGIONS",
    "Push",
    "Region",
    "get_region",
    "region_values",
    "require_parameters",
]

#: Push field -> the model's parameter (Python name) it sets
PUSH_PARAMETERS: Mapping[str, str] = MappingProxyType(
    {
        "amount": "push_amount",
        "start": "push_start",
        "duration": "push_duration",
        "taper": "push_taper",
        "match": "local_match_requirement",
    }
)


@dataclass(frozen=True)
class Push:
    """A public-push schedule: the grant a public programme pays the network.

    Parameters
    ----------
    amount : float
        Grant while the push runs at full strength ($/Year).
    start : float
        When the grant starts (Year, model time).
    duration : float
        Years at full strength (Year).
    taper : float, default 0
        Years over which the grant then falls linearly to zero (Year).
    match : float, default 0
        Local-match requirement: share of the grant local sponsors must match (dmnl, 0-1).

    Raises
    ------
    PushScheduleError
        If a field is not a finite number, is negative, or ``match`` exceeds 1. Whether the
        push starts within the simulated horizon is checked by ``Model.run``, which knows it.
    """

    amount: float
    start: float
    duration: float
    taper: float = 0.0
    match: float = 0.0

    def __post_init__(self) -> None:
        for name in ("amount", "start", "duration", "taper", "match"):
            value = getattr(self, name)
            if isinstance(value, bool | str) or not hasattr(value, "__float__"):
                raise PushScheduleError(
                    f"push {name} must be a number, not {value!r}", field=name, value=value
                )
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise PushScheduleError(
                    f"push {name} must be a number, not {value!r}", field=name, value=value
                ) from None
            if not math.isfinite(number):
                raise PushScheduleError(
                    f"push {name} must be a finite number, not {value!r}", field=name, value=value
                )
            if number < 0:
                raise PushScheduleError(
                    f"push {name} must not be negative (got {number:g})", field=name, value=value
                )
            object.__setattr__(self, name, number)
        if self.match > 1:
            raise PushScheduleError(
                f"push match is a share of the grant and must lie in [0, 1] (got {self.match:g})",
                field="match",
                value=self.match,
            )

    @property
    def end(self) -> float:
        """When the grant reaches zero: ``start + duration + taper`` (Year)."""
        return self.start + self.duration + self.taper

    @property
    def total_cost(self) -> float:
        """Total public money paid: ``amount * (duration + taper / 2)`` ($)."""
        return self.amount * (self.duration + self.taper / 2.0)

    def as_params(self) -> dict[str, float]:
        """The model parameters this push sets (Python name -> value)."""
        return {parameter: getattr(self, name) for name, parameter in PUSH_PARAMETERS.items()}

    def describe(self) -> str:
        """One line for people, e.g. ``"$300,000/yr from year 2 for 3.5 yr"``."""
        text = f"${self.amount:,.0f}/yr from year {self.start:g} for {self.duration:g} yr"
        if self.taper:
            text += f", tapering over {self.taper:g} yr"
        if self.match:
            text += f", local match {self.match:.0%}"
        return text


#: The base push of model.md: a few hundred thousand $/yr for 3.5 years starting in year 2.
BASE_PUSH = Push(amount=300_000, start=2, duration=3.5)


@dataclass(frozen=True)
class Region:
    """A named region type: values of the model's region descriptors.

    Attributes
    ----------
    name : str
        Preset name (``"typical"``).
    description : str
        What kind of region this is and why.
    values : Mapping[str, float]
        Python parameter name -> value.
    """

    name: str
    description: str
    values: Mapping[str, float]

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "values", MappingProxyType({k: float(v) for k, v in self.values.items()})
        )


REGIONS: Mapping[str, Region] = MappingProxyType(
    {
        "typical": Region(
            "typical",
            "few community entrepreneurs and little informal networking outside the region "
            "(CE 0.2, X 0.2): the network needs a push to form (model.md, F7)",
            {"community_entrepreneur_density": 0.2, "external_networking": 0.2},
        ),
        "embedded_prone": Region(
            "embedded_prone",
            "many community entrepreneurs and local institutions ready to sponsor a network "
            "(CE 0.8, X 0.2): a pushed network can embed and persist (model.md, F4-F5)",
            {"community_entrepreneur_density": 0.8, "external_networking": 0.2},
        ),
        "externally_networked": Region(
            "externally_networked",
            "firms already network actively with firms outside the locality (CE 0.2, X 0.8): "
            "informal ties nearly substitute for a network (model.md, F6)",
            {"community_entrepreneur_density": 0.2, "external_networking": 0.8},
        ),
    }
)


def get_region(name: str | Region) -> Region:
    """The preset called ``name`` (``"embedded-prone"`` and ``"Embedded Prone"`` work too).

    Raises
    ------
    UnknownPresetError
        If no preset has that name; the message lists the valid ones.
    """
    if isinstance(name, Region):
        return name
    if not isinstance(name, str):
        raise UnknownPresetError(repr(name), valid=REGIONS)
    key = python_name(name)
    if key not in REGIONS:
        raise UnknownPresetError(name, valid=REGIONS)
    return REGIONS[key]


def region_values(name: str | Region) -> dict[str, float]:
    """The parameter values (Python name -> value) of a region preset."""
    return dict(get_region(name).values)


def require_parameters(
    names: Iterable[str], available: Iterable[str], *, needed_by: str, model: str
) -> None:
    """Raise MissingParameterError naming every one of ``names`` the model lacks.

    ``available`` holds the model's parameter names (any spelling; compared as Python names).
    """
    have = {python_name(n) for n in available}
    missing = [n for n in names if python_name(n) not in have]
    if missing:
        raise MissingParameterError(missing, needed_by=needed_by, model=model)

