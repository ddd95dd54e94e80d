"""What the report reads from the model file's text: units and plain numeric constants.

The report must not run the model (it is written from a finished study), and the layers
below it must not import PySD, so the equations section is read here as text: for each
equation ``name = expression ~ units [range] ~ comment |`` the units, and the value when the
expression is a plain number. That is enough to label factor axes and to find the default
push schedule when a study did not vary it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from sdnet.params import python_name

__all__ = ["ModelText", "read_model_text"]

_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


@dataclass(frozen=True)
class ModelText:
    """Units and numeric constants of a model, by Python name, and the file's SHA-256;
    ``names`` maps each Python name to the model's own (Vensim) name, for readers."""

    path: Path
    sha256: str
    units: dict[str, str]
    constants: dict[str, float]
    names: dict[str, str] = field(default_factory=dict)


def read_model_text(path: str | Path) -> ModelText:
    """Read units and numeric constants from a Vensim ``.mdl`` file's equations (text only)."""
    path = Path(path)
    raw = path.read_bytes()
    text = raw.decode("utf-8", errors="replace")
    text = text.split("\\\\\\---///", 1)[0]
    text = text.replace("{UTF-8}", "")
    units: dict[str, str] = {}
    constants: dict[str, float] = {}
    names: dict[str, str] = {}
    for chunk in text.split("|"):
        parts = chunk.split("~")
        if len(parts) < 2:
            continue
        equation = re.sub(r"\\\s*\n", " ", parts[0]).strip()
        if "=" not in equation and ":" not in equation:
            continue
        lhs, _, rhs = equation.partition("=")
        lhs = re.sub(r"\[.*?\]", "", lhs).strip().strip('"')
        if not lhs or lhs.startswith("*") or ":" in lhs:
            continue
        name = python_name(re.sub(r"\s+", " ", lhs))
        names.setdefault(name, re.sub(r"\s+", " ", lhs))
        unit_text = re.sub(r"\s+", " ", parts[1]).strip()
        unit_text = re.sub(r"\[[^\]]*\]\s*$", "", unit_text).strip()
        if unit_text:
            units.setdefault(name, unit_text)
        value = re.sub(r"\s+", "", rhs)
        if _NUMBER.match(value):
            constants.setdefault(name, float(value))
    return ModelText(
        path=path, sha256=hashlib.sha256(raw).hexdigest(), units=units, constants=constants,
        names=names,
    )
