"""sdnet: a system-dynamics policy lab for embedded networks of small firms.

Which public-policy levers make a flexible manufacturing network of small firms take root
("embed") in its region and survive after public funding ends?

The public API is re-exported here lazily, so ``import sdnet`` stays fast and each layer is
imported only when used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "SdnetError": "sdnet.errors",
    "Parameter": "sdnet.params",
    "ParameterTable": "sdnet.params",
    "Provenance": "sdnet.results",
    "State": "sdnet.results",
    "RunResult": "sdnet.results",
    "EnsembleResult": "sdnet.results",
    "Model": "sdnet.model",
    "load_model": "sdnet.model",
    "Push": "sdnet.policy",
    "Region": "sdnet.policy",
    "base_push": "sdnet.policy",
    "region_values": "sdnet.policy",
    "run_ensemble": "sdnet.runner",
    "run_single": "sdnet.runner",
    "check_model": "sdnet.validity",
    "Factor": "sdnet.designs",
    "Design": "sdnet.designs",
    "make_design": "sdnet.designs",
    "Experiment": "sdnet.experiment",
    "load_experiment": "sdnet.experiment",
    "run_experiment": "sdnet.experiment",
    "StudyResult": "sdnet.experiment",
    "write_report": "sdnet.reports",
    "write_history_match": "sdnet.reports",
    "write_point_fit": "sdnet.reports",
    "Target": "sdnet.targets",
    "Targets": "sdnet.targets",
    "load_targets": "sdnet.targets",
    "history_match": "sdnet.calibration",
    "HistoryMatch": "sdnet.calibration",
    "point_fit": "sdnet.calibration",
    "PointFit": "sdnet.calibration",
    "load_series": "sdnet.calibration",
    "write_diagram": "sdnet.reports",
    "Package": "sdnet.decision",
    "equal_budget_packages": "sdnet.decision",
    "evaluate_packages": "sdnet.decision",
    "read_worlds": "sdnet.decision",
    "sample_worlds": "sdnet.decision",
    "optimize_package": "sdnet.decision.optimize",
    "OptimizeResult": "sdnet.decision.optimize",
    "pareto_front": "sdnet.decision.optimize",
}


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'sdnet' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = ["__version__", *_EXPORTS]
