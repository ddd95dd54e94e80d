"""Assemble the report's sections from a study's results."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sdnet.errors import SdnetError
from sdnet.reports._brief import brief_section
from sdnet.reports._closing import (
    _checks,
    _findings_section,
    _other_tables,
    _provenance,
    _sanity,
)
from sdnet.reports._context import ReportContext, _model_label, _section
from sdnet.reports._discovery import _discovery, _thresholds
from sdnet.reports._document import Caution, Paragraph, Section
from sdnet.reports._optimize import _optimisation
from sdnet.reports._packages import _packages
from sdnet.reports._results import StudyResults
from sdnet.reports._sensitivity import _convergence, _levers
from sdnet.reports._setup import _diagram, _factors, _study, _uncertainty

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


def build_sections(results: StudyResults, *,
                   progress: Callable[[str], None] | None = None,
                   ) -> tuple[str, str, list[Section]]:
    """The report's title, subtitle and sections, in reading order.

    The brief comes first (the answer in plain words, the decisive figure, the public cost
    per success, what the answer depends on), then the findings and the evidence; how the
    study was done (the model's diagram, factors and design, numerical checks, versions,
    the spec) follows in an appendix. ``progress`` is told as each section is built.
    Figures are not rendered here (:func:`sdnet.reports._document.render_figures`).
    """
    ctx = ReportContext(results)

    def built(build: Callable[[ReportContext], Section | None]) -> Section | None:
        if progress is not None:
            title = _TITLES.get(build.__name__, build.__name__.strip("_").replace("_", " "))
            progress(f"section {title.lower()}")
        return _guarded(build, ctx)

    packages = built(_packages)  # a policy comparison: the study's answer, first
    evidence = [built(build) for build in (
        _uncertainty, _levers, _convergence, _discovery, _thresholds, _optimisation)]
    sanity = built(_sanity)
    other = built(_other_tables)
    method = [built(build) for build in (_diagram, _factors, _checks)]
    study = _study(ctx)
    findings = _findings_section(ctx)
    provenance = _provenance(ctx)
    body = [findings, *([packages] if packages else []), *([sanity] if sanity else []),
            *[s for s in evidence if s is not None], *([other] if other else [])]
    appendix = [_section("Appendix: how the study was done", [Paragraph(
        "The model's stock-and-flow diagram, the factors and the sampling design, the "
        "numerical checks, the versions and the resolved spec of the study.")]),
        *[s for s in method if s is not None], study, provenance]
    brief = brief_section(ctx, [*body, *appendix], ctx.brief)
    sections = [brief, *body, *appendix]
    created = results.provenance.get("created")
    subtitle = f"sdnet study report · model {_model_label(results)}" + (
        f" · study run {created}" if created else "")
    return f"Study report: {results.name}", subtitle, sections
