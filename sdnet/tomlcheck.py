"""Checks of values read from TOML files (studies, targets): one error per bad value, naming
the file, the key, the value and what is valid. The caller names the error class, so a study
file raises ``ExperimentError`` and a targets file ``TargetsError`` from the same checks."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sdnet.errors import SdnetError, close_matches

__all__ = ["check_keys", "number", "table"]


def table(data: Mapping[str, Any], key: str, path: Path | None, allowed: Sequence[str], *,
          error: type[SdnetError], where: str | None = None) -> dict[str, Any]:
    """The sub-table ``data[key]`` (empty when absent), with only ``allowed`` keys."""
    where = where or key
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise error(f"must be a table, not {value!r}", path=path, key=where, value=value)
    check_keys(value, allowed, path, where, error=error)
    return dict(value)


def check_keys(entries: Mapping[str, Any], allowed: Sequence[str], path: Path | None,
               where: str, *, error: type[SdnetError]) -> None:
    """Refuse a key not in ``allowed``, suggesting close matches."""
    for key in entries:
        if key not in allowed:
            hint = close_matches(key, allowed)
            did = f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
            raise error(f"unknown key {key!r}{did} (valid: {', '.join(allowed)})", path=path,
                        key=f"{where}.{key}" if where else str(key), value=key)


def number(value: Any, path: Path | None, key: str, *, error: type[SdnetError],
           positive: bool = False, minimum: float | None = None) -> float:
    """A finite number (not a boolean), optionally positive or at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise error(f"must be a number, not {value!r}", path=path, key=key, value=value)
    if positive and value <= 0:
        raise error(f"must be a positive number, not {value!r}", path=path, key=key,
                    value=value)
    if minimum is not None and value < minimum:
        raise error(f"must be at least {minimum:g}, not {value!r}", path=path, key=key,
                    value=value)
    return float(value)
