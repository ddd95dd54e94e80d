"""Threshold bisection finds a known threshold in a toy model."""

from __future__ import annotations

import numpy as np
import pytest

from sdnet.errors import InvalidValueError
from sdnet.sensitivity import bisect_threshold

DT = 1.0 / 64  # Year


def _toy_persists(duration: np.ndarray, *, push: np.ndarray, allee: float) -> np.ndarray:
    """A toy network: members grow by ``push`` firm/Year while pushed, then follow Allee
    dynamics dm/dt = m (m - A)(1 - m) that keep it only when m ended above A.

    Euler with step DT; the push lasts ``duration`` years, so members at its end are
    push * ceil(duration / DT) * DT.
    """
    m = np.zeros_like(duration)
    for step in range(int(40 / DT)):
        t = step * DT
        pushed = t < duration
        m = m + DT * np.where(pushed, push, m * (m - allee) * (1.0 - m))
    return m > 0.5


def test_bisection_finds_the_toy_threshold_per_problem() -> None:
    push = np.array([0.1, 0.2, 0.05])
    allee = 0.3
    result = bisect_threshold(
        lambda d: _toy_persists(d, push=push, allee=allee), (0.0, 10.0), tol=1e-3, size=3
    )
    # analytic threshold A / push, resolved to the Euler step of the toy
    expected = allee / push
    assert np.all(np.abs(result.threshold - expected) <= DT + 1e-3)
    assert result.found.all()
    assert np.all(result.bracket_high - result.bracket_low <= 1e-3)
    assert list(result.to_frame().columns) == ["threshold", "bracket_low", "bracket_high",
                                               "found"]


def test_bracket_ends_that_do_not_bracket() -> None:
    result = bisect_threshold(
        lambda d: d >= np.array([5.0, -1.0, 20.0]), (0.0, 10.0), tol=0.01, size=3
    )
    assert result.threshold[0] == pytest.approx(5.0, abs=0.01)
    assert result.threshold[1] == 0.0  # already sustained at the lower end
    assert np.isnan(result.threshold[2])  # not sustained even at the upper end
    np.testing.assert_array_equal(result.found, [True, True, False])


def test_threshold_errors() -> None:
    with pytest.raises(InvalidValueError) as info:
        bisect_threshold(lambda d: d > 1, (2.0, 1.0), tol=0.1)
    assert str(info.value) == ("invalid value for 'bounds': [2.0, 1.0] (expected finite "
                               "lower < upper)")
