"""Helpers shared by the sensitivity analyses (input checks, warning filters)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from sdnet.designs import Design
from sdnet.errors import InvalidValueError

__all__ = ["check_method", "check_outputs", "quiet_salib"]


def check_method(design: Design, *methods: str, analysis: str) -> None:
    """Raise unless ``design`` was drawn by one of ``methods``."""
    if design.method not in methods:
        raise InvalidValueError(
            "design.method", design.method,
            expected=f"a {' or '.join(repr(m) for m in methods)} design for {analysis}",
        )


def check_outputs(design: Design, y: np.ndarray, *, name: str = "y") -> np.ndarray:
    """Return ``y`` as a float vector with one finite value per run of ``design``."""
    y = np.asarray(y, dtype=float)
    if y.ndim != 1 or y.shape[0] != design.n_runs:
        raise InvalidValueError(
            name, f"array of shape {y.shape}",
            expected=f"one value per run of the design, shape ({design.n_runs},)",
        )
    bad = int(np.count_nonzero(~np.isfinite(y)))
    if bad:
        raise InvalidValueError(
            name, f"{bad} non-finite values",
            expected="finite values for every run (drop or repair failed runs first)",
        )
    return y


@contextmanager
def quiet_salib() -> Iterator[None]:
    """Silence SALib's notices that the result objects already report.

    SALib warns on every eFAST analysis that its bootstrap intervals are indicative only
    (SALib issue 649); sdnet documents that on :func:`sdnet.sensitivity.efast`. Division by a
    zero variance (a constant output) is turned into NaN indices by the callers.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="FAST confidence intervals")
        with np.errstate(divide="ignore", invalid="ignore"):
            yield
