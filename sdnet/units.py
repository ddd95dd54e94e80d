"""A small algebra of Vensim unit strings, for the dimensional-consistency check.

Vensim writes units as products and quotients of names, e.g. ``$/(firm*Year)``, ``1/Year`` or
``Dmnl``. :func:`parse_units` turns such a string into a canonical :class:`Units` (a frozen
mapping of base unit to integer exponent), so two spellings of the same dimension compare equal:
``parse_units("$/firm/Year") == parse_units("$/(firm*Year)")``.

Names are compared case-insensitively; ``dmnl``, ``1`` and the empty string are dimensionless.
Vensim's unit equivalences (``firm`` = ``firms``) are not modelled: a model should spell a unit
one way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from sdnet.errors import SdnetError

__all__ = ["DIMENSIONLESS", "Units", "UnitsError", "parse_units"]

_DIMENSIONLESS_NAMES = frozenset({"dmnl", "dimensionless", "1", "fraction", "nil"})
_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?)"
    r"|(?P<name>[A-Za-z$%_][\w$% ]*?)(?=\s*[*/^()]|\s*$)"
    r"|(?P<op>[*/^()-]))"
)


class UnitsError(SdnetError, ValueError):
    """A units string cannot be parsed."""

    def __init__(self, text: str, detail: str) -> None:
        super().__init__(f"cannot read units {text!r}: {detail}")
        self.text = text


@dataclass(frozen=True)
class Units:
    """Canonical units: base unit name (lower case) -> non-zero integer exponent."""

    exponents: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        cleaned = {k: v for k, v in sorted(self.exponents.items()) if v != 0}
        object.__setattr__(self, "exponents", MappingProxyType(cleaned))

    def __mul__(self, other: Units) -> Units:
        out = dict(self.exponents)
        for name, power in other.exponents.items():
            out[name] = out.get(name, 0) + power
        return Units(out)

    def __truediv__(self, other: Units) -> Units:
        return self * other ** -1

    def __pow__(self, power: int) -> Units:
        return Units({k: v * power for k, v in self.exponents.items()})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Units) and dict(self.exponents) == dict(other.exponents)

    def __hash__(self) -> int:
        return hash(tuple(self.exponents.items()))

    def __str__(self) -> str:
        if not self.exponents:
            return "dmnl"
        up = [k if v == 1 else f"{k}^{v}" for k, v in self.exponents.items() if v > 0]
        down = [k if v == -1 else f"{k}^{-v}" for k, v in self.exponents.items() if v < 0]
        top = "*".join(up) or "1"
        if not down:
            return top
        bottom = down[0] if len(down) == 1 else "(" + "*".join(down) + ")"
        return f"{top}/{bottom}"


DIMENSIONLESS = Units({})


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise UnitsError(text, f"unexpected character at position {position}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind).strip()))
        position = match.end()
    return tokens


def parse_units(text: str | None) -> Units:
    """Parse a Vensim units string (without its ``[min,max]`` range) into :class:`Units`.

    Raises
    ------
    UnitsError
        If the string is not a product/quotient of names and integer powers.
    """
    source = (text or "").strip()
    tokens = _tokenize(source)
    position = 0

    def peek() -> tuple[str, str] | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal position
        token = tokens[position]
        position += 1
        return token

    def factor() -> Units:
        token = peek()
        if token is None:
            raise UnitsError(source, "expression ends too early")
        kind, value = take()
        if value == "(":
            inner = product()
            if peek() != ("op", ")"):
                raise UnitsError(source, "missing ')'")
            take()
            base = inner
        elif kind == "num":
            if float(value) != 1.0:
                raise UnitsError(source, f"a number other than 1 ({value}) is not a unit")
            base = DIMENSIONLESS
        elif kind == "name":
            name = " ".join(value.lower().split())
            base = DIMENSIONLESS if name in _DIMENSIONLESS_NAMES else Units({name: 1})
        else:
            raise UnitsError(source, f"unexpected {value!r}")
        if peek() == ("op", "^"):
            take()
            sign = 1
            if peek() == ("op", "-"):
                take()
                sign = -1
            kind, value = take() if peek() else ("", "")
            if kind != "num" or not float(value).is_integer():
                raise UnitsError(source, "an exponent must be an integer")
            base = base ** (sign * int(float(value)))
        return base

    def product() -> Units:
        result = factor()
        while peek() in (("op", "*"), ("op", "/")):
            _, op = take()
            right = factor()
            result = result * right if op == "*" else result / right
        return result

    if not tokens:
        return DIMENSIONLESS
    units = product()
    if position != len(tokens):
        raise UnitsError(source, f"unexpected {tokens[position][1]!r}")
    return units
