"""Validation helpers of study files: every error names the file, the key, the bad value and
what is valid."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdnet import tomlcheck
from sdnet.designs import METHODS
from sdnet.errors import ExperimentError

if TYPE_CHECKING:

    pass


def _err(message: str, path: Path | None, key: str, value: Any = None) -> ExperimentError:
    return ExperimentError(message, path=path, key=key, value=value)


_table = partial(tomlcheck.table, error=ExperimentError)
_check_keys = partial(tomlcheck.check_keys, error=ExperimentError)
_number = partial(tomlcheck.number, error=ExperimentError)


def _integer(value: Any, path: Path | None, key: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _err(f"must be an integer >= {minimum}, not {value!r}", path, key, value)
    return int(value)


def _string(value: Any, path: Path | None, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise _err(f"must be a non-empty string, not {value!r}", path, key, value)
    return value


def _design_n(n: Any, method: str, *, path: Path | None, key: str = "design.n",
              settings: Mapping[str, Any] | None = None) -> int:
    minimum = 1 if method in ("lhs", "sets") else 2
    number = _integer(n, path, key, minimum=minimum)
    if method == "sobol" and number & (number - 1):
        lower = 1 << (number.bit_length() - 1)
        raise _err(f"must be a power of 2 for a sobol design, not {n!r} (e.g. {lower} or "
                   f"{lower * 2})", path, key, n)
    if method == "efast":
        # SALib's eFAST needs more than 4 M**2 samples per factor (designs.efast_design)
        m = int((settings or METHODS["efast"]).get("M", METHODS["efast"]["M"]))
        if number <= 4 * m * m:
            raise _err(f"must be at least {4 * m * m + 1} for an efast design with M = {m} "
                       f"(n > 4 M^2), not {n!r}", path, key, n)
    return number


def _as_option(error: ExperimentError, option: str, key: str) -> ExperimentError:
    """The same error, blaming the command-line option (``--n``) that gave the bad value
    instead of the file key it replaces (the file is fine)."""
    detail = error.message.split("] ", 1)[1] if "] " in error.message else error.message
    where = f" in {error.path.name}" if error.path is not None else ""
    return ExperimentError(f"{option} {detail} (it replaces [{key}]{where})",
                           value=error.value)


def _ordered(lower: float, upper: float, given: Any, path: Path | None, key: str) -> None:
    """Refuse a search interval ``[lower, upper]`` that is empty or written the wrong way
    round, saying which."""
    if lower > upper:
        raise _err(f"must be [lower, upper] with lower < upper, not {given!r} (the wrong way "
                   f"round: did you mean [{given[1]!r}, {given[0]!r}]?)", path, key, given)
    if lower == upper:
        raise _err(f"must be [lower, upper] with lower < upper, not {given!r} (an empty "
                   "interval)", path, key, given)
