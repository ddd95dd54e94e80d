"""Assemble the report's sections from a study's results."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sdnet.errors import SdnetError
from sdnet.reports._closing import (
    _checks,
    _findings_section,
    _other_tables,
    _provenance,
    _sanity,
)
from sdnet.reports._context import ReportContext, _model_label, _section
from sdnet.reports._discovery import _discovery, _thresholds
from sdnet.reports._document import Caution, Section
from sdnet.reports._optimize import _optimisation
from sdnet.reports._packages import _packages
from sdnet.reports._results import StudyResults
from sdnet.reports._sensitivity import _convergence, _levers
from sdnet.reports._setup import _diagram, _factors, _question, _study, _uncertainty

__all__ = ["ReportContext", "build_sections"]

logger = logging.getLogger(__name__)


_TITLES = {
    "_diagram": "The model's stock-and-flow structure",
    "_factors": "Factors and design",
    "_uncertainty": "Uncertainty over time",
    "_levers": "Which levers matter",
    "_convergence": "Are the indices settled?",
    "_discovery": "Scenario discovery",
    "_thresholds": "How long a push must last (threshold maps)",
    "_optimisation": "Robust optimisation",
    "_checks": "Numerical checks",
    "_sanity": "Sanity checks",
    "_other_tables": "Other analyses",
    "_packages": "Policy comparison",
}


def _guarded(build: Callable[[ReportContext], Section | None],
             ctx: ReportContext) -> Section | None:
    """Build a section; a malformed table of the study becomes a caution in that section
    instead of stopping the whole report."""
    try:
        return build(ctx)
    except (SdnetError, KeyError, ValueError, TypeError) as error:
        title = _TITLES.get(build.__name__, build.__name__.strip("_"))
        logger.warning("report section %r could not be written: %s", title, error)
        return _section(title, [Caution(
            f"this section could not be written from the study's files: {error}"
        )])


def build_sections(results: StudyResults) -> tuple[str, str, list[Section]]:
    """The report's title, subtitle and sections, in reading order.

    Findings are collected while the analysis sections are built, then placed right after
    the question, where readers look first.
    """
    ctx = ReportContext(results)
    question = _question(ctx)
    study = _study(ctx)
    packages = _guarded(_packages, ctx)
    built = [_guarded(build, ctx) for build in (
        _diagram, _factors, _uncertainty, _levers, _convergence, _discovery, _thresholds,
        _optimisation,
    )]
    checks = _guarded(_checks, ctx)
    sanity = _guarded(_sanity, ctx)
    other = _guarded(_other_tables, ctx)
    findings = _findings_section(ctx)
    provenance = _provenance(ctx)
    sections = [question, findings, *([packages] if packages else []),
                *([sanity] if sanity else []), study,
                *[s for s in built if s is not None]]
    sections += [s for s in (other, checks) if s is not None]
    sections.append(provenance)
    created = results.provenance.get("created")
    subtitle = f"sdnet study report · model {_model_label(results)}" + (
        f" · study run {created}" if created else "")
    return f"Study report: {results.name}", subtitle, sections
