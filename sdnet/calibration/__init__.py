"""Calibration: history matching against targets, and point fits against time series.

* :func:`history_match` rules out, in waves of Latin hypercube runs on the vectorized engine,
  the parameter sets whose runs miss a target (:mod:`sdnet.targets`) by more than its
  observation and model-discrepancy uncertainty allow; what is left is a table of
  non-implausible sets with the range each parameter keeps.
* :func:`point_fit` finds the one set whose run best matches an observed time series
  (scipy's least squares, optionally after differential evolution).

Analysis functions here are pure; files are written by :mod:`sdnet.reports.calibration`.
"""

from __future__ import annotations

from sdnet.calibration.history import (
    MEASURES,
    SAMPLERS,
    HistoryMatch,
    Wave,
    default_factors,
    history_match,
    implausibility,
    implausibility_measure,
    margins,
    next_box,
    resample_survivors,
    simulate_targets,
)
from sdnet.calibration.pointfit import FIT_METHODS, PointFit, Series, load_series, point_fit

__all__ = [
    "FIT_METHODS",
    "MEASURES",
    "SAMPLERS",
    "HistoryMatch",
    "PointFit",
    "Series",
    "Wave",
    "default_factors",
    "history_match",
    "implausibility",
    "implausibility_measure",
    "load_series",
    "margins",
    "next_box",
    "point_fit",
    "resample_survivors",
    "simulate_targets",
]
