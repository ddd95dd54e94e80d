"""Packages the worlds were selected on: a study's cases that are a calibration target's scenario.

A sets study (``[design] method = "sets"``) runs in worlds that history matching kept, and
history matching kept them because the runs of each target's scenario (region preset, push,
constants set) reproduce the target. Where a package in a region *is* such a scenario, its
outcome there was partly chosen by the calibration: its success rate is partly an input, not a
finding, and so are the claims that use it. ``[design] targets`` names the targets file the
worlds were matched against; :func:`selected_by_targets` says which cases are targets'
scenarios, and the report cautions on each.

Only the scenario keys of the targets file (``name``, ``output``, ``region``, ``push``,
``set``) are read here: the experiment layer sits above :mod:`sdnet.targets` (which checks the
whole file for ``sdnet calibrate``), so this module reads what it compares and nothing else.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdnet.errors import ExperimentError, SdnetError
from sdnet.policy import Push

if TYPE_CHECKING:
    from sdnet.experiment.spec import Case
    from sdnet.model import Model

__all__ = ["TargetScenario", "read_target_scenarios", "same_values", "selected_by_targets"]

#: Relative tolerance of "the same value" (a push written 300000 or 3e5, 3.5 or 7/2).
RTOL = 1e-9


@dataclass(frozen=True)
class TargetScenario:
    """A calibration target's name, output and the constants its runs set (Python names)."""

    name: str
    output: str
    region: str | None
    values: Mapping[str, float]


def read_target_scenarios(path: str | Path, model: Model, *, spec: Path | None = None,
                          key: str = "design.targets") -> tuple[TargetScenario, ...]:
    """Each target of a targets file with the constants its scenario sets in ``model``.

    Raises
    ------
    ExperimentError
        The file is missing or not TOML, has no ``[[targets]]``, or a target's region, push or
        constants cannot be set in the model (naming the file, the target and the value).
    """
    path = Path(path)

    def fail(message: str, value: object = None) -> ExperimentError:
        return ExperimentError(f"targets file {path}: {message}", path=spec or path, key=key,
                               value=value)

    if not path.is_file():
        raise fail("not found (give the calibration targets the worlds were history-matched "
                   "against, e.g. targets = \"../models/flexnet/targets.toml\")", str(path))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise fail(f"cannot be read as TOML ({error})") from None
    entries = data.get("targets")
    if not isinstance(entries, list) or not entries:
        raise fail("has no [[targets]] (an array of tables, docs/calibration.md)")
    out = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise fail(f"targets[{i}] is not a table", entry)
        name = str(entry.get("name", f"targets[{i}]"))
        raw_push, raw_set = entry.get("push"), entry.get("set", {})
        try:
            push = Push(**raw_push) if isinstance(raw_push, Mapping) else None
            if raw_push is not None and push is None:
                raise fail(f"target {name!r}: push must be a table, not {raw_push!r}", raw_push)
            if not isinstance(raw_set, Mapping):
                raise fail(f"target {name!r}: set must be a table, not {raw_set!r}", raw_set)
            region = entry.get("region")
            values = model.scenario_values(dict(raw_set), region=region, push=push)
            region = None if region is None else model.card.preset(region).name
        except ExperimentError:
            raise
        except (SdnetError, TypeError) as error:
            raise fail(f"target {name!r}: its scenario cannot be set in {model.path.name} "
                       f"({getattr(error, 'summary', error)})") from None
        out.append(TargetScenario(name, str(entry.get("output", "")), region, values))
    return tuple(out)


def same_values(a: Mapping[str, float], b: Mapping[str, float],
                defaults: Mapping[str, float], *, rtol: float = RTOL) -> bool:
    """Whether two scenarios set every constant alike (a constant one leaves out has its
    ``defaults`` value, the model file's)."""
    for name in set(a) | set(b):
        default = defaults.get(name, math.nan)
        x, y = float(a.get(name, default)), float(b.get(name, default))
        if not math.isclose(x, y, rel_tol=rtol, abs_tol=1e-12):
            return False
    return True


def selected_by_targets(cases: Sequence[Case], targets: Sequence[TargetScenario],
                        defaults: Mapping[str, float], *,
                        claims: Sequence[tuple[str, Any]] = ()) -> list[dict[str, Any]]:
    """The cases (package x region) that are a target's scenario: same region preset and the
    same constant values (push, levers, preset values) within :data:`RTOL`.

    Parameters
    ----------
    cases : sequence of Case
        The study's cases (``values`` = every constant the case sets).
    targets : sequence of TargetScenario
        From :func:`read_target_scenarios`.
    defaults : mapping
        The model file's value of each constant (for one a scenario leaves alone).
    claims : sequence of (finding, Expectation)
        The study's parsed claims; a claim uses a case when a side names its package in its
        region or in every region.

    Returns
    -------
    list of dict
        One record per selected case: ``region``, ``package``, ``label``, ``targets`` (names),
        ``outputs`` (their outputs, once each) and ``claims`` (findings that use the case).
    """
    records = []
    for case in cases:
        matched = [t for t in targets if t.region == case.region
                   and same_values(case.values, t.values, defaults)]
        if not matched:
            continue
        used = [finding for finding, claim in claims
                if any(term.package == case.policy and term.region in (None, case.region)
                       for term in (claim.left, claim.right))]
        records.append({"region": case.region, "package": case.policy, "label": case.label,
                        "targets": [t.name for t in matched],
                        "outputs": list(dict.fromkeys(t.output for t in matched if t.output)),
                        "claims": list(dict.fromkeys(used))})
    return records
