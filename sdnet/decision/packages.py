"""A policy package: a push schedule and the other lever values a programme chooses together."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from sdnet.errors import InvalidValueError
from sdnet.policy import Push

__all__ = ["Package"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Package:
    """One policy package compared with others in the same worlds.

    Parameters
    ----------
    name : str
        A Python identifier (a column value of the comparison tables).
    push : Push or None
        The push schedule (None: the model's own constants, e.g. a model without a card's
        push schedule).
    params : Mapping[str, float]
        Other constants the package sets (Python or Vensim names of the model's levers:
        staff shares, fee, targeting), in the constants' own units.
    label : str
        Plain words for reports ("short and strong: $1,000,000/yr for 2 yr"); default the
        push's description.

    Raises
    ------
    InvalidValueError
        A name that is not an identifier, a push that is not a :class:`~sdnet.policy.Push`,
        or a parameter value that is not a finite number.
    """

    name: str
    push: Push | None = None
    params: Mapping[str, float] = field(default_factory=dict)
    label: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise InvalidValueError("package name", self.name,
                                    expected="a Python identifier (letters, digits, _)")
        if self.push is not None and not isinstance(self.push, Push):
            raise InvalidValueError(f"package {self.name!r} push", self.push,
                                    expected="a sdnet.Push or None")
        values = {}
        for key, value in dict(self.params).items():
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not math.isfinite(value):
                raise InvalidValueError(f"package {self.name!r} params.{key}", value,
                                        expected="a finite number")
            values[str(key)] = float(value)
        object.__setattr__(self, "params", MappingProxyType(values))
        if not self.label:
            object.__setattr__(self, "label", self.describe())

    def describe(self) -> str:
        """One line for people: the push (or "no push") and the other levers it sets."""
        if self.push is None:
            text = "the model's own schedule"
        elif self.push.amount == 0 or self.push.duration + self.push.taper == 0:
            text = "no push"
        else:
            text = self.push.describe()
        if self.params:
            text += "; " + ", ".join(f"{k} = {v:g}" for k, v in self.params.items())
        return text

    @property
    def nominal_cost(self) -> float:
        """The schedule's public money if every dollar is paid: ``amount * (duration +
        taper / 2)`` (model money units; a matched share may pay less); 0 without a push."""
        return 0.0 if self.push is None else self.push.total_cost
