"""Global sensitivity analysis and scenario discovery over designs and metrics.

Small pure functions: each takes a :class:`~sdnet.designs.Design` (whose method settings it
reads) and a metric vector, or plain arrays, and returns a frozen result with ``.to_frame()``.
Nothing here runs the model, prints, plots or writes files.
"""

from __future__ import annotations

from sdnet.sensitivity.convergence import ConvergenceResult, convergence, separates_top
from sdnet.sensitivity.fast import efast
from sdnet.sensitivity.integration_check import (
    IntegrationCheckResult,
    integration_check,
    relative_change,
)
from sdnet.sensitivity.morris import MorrisResult, morris
from sdnet.sensitivity.prim import PrimResult, prim
from sdnet.sensitivity.screening import ScreenStability, pooled_scores, screen_stability
from sdnet.sensitivity.sobol import IndicesResult, sobol
from sdnet.sensitivity.threshold import ThresholdResult, bisect_threshold
from sdnet.sensitivity.time_resolved import TimeResolvedResult, time_resolved

__all__ = [
    "ConvergenceResult",
    "IndicesResult",
    "IntegrationCheckResult",
    "MorrisResult",
    "PrimResult",
    "ScreenStability",
    "ThresholdResult",
    "TimeResolvedResult",
    "bisect_threshold",
    "convergence",
    "efast",
    "integration_check",
    "morris",
    "pooled_scores",
    "prim",
    "relative_change",
    "screen_stability",
    "separates_top",
    "sobol",
    "time_resolved",
]
