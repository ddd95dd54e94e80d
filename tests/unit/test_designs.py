"""Tests of sdnet.designs: samplers keep their settings and seed, and map distributions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sdnet.designs import (
    Factor,
    LatinHypercube,
    efast_design,
    grid_design,
    lhs_design,
    make_design,
    morris_design,
    sobol_design,
)
from sdnet.errors import InvalidValueError

FACTORS = (Factor("push_amount", 0.0, 1e6), Factor("push_duration", 0.0, 8.0),
           Factor("broker_share", 0.1, 0.9))


@pytest.mark.parametrize(
    ("method", "n", "rows"),
    [("lhs", 50, 50), ("sobol", 16, 16 * 5), ("morris", 10, 10 * 4), ("efast", 65, 65 * 3),
     ("grid", 3, 27)],
)
def test_same_seed_gives_identical_numbers_and_other_seed_differs(
    method: str, n: int, rows: int
) -> None:
    a = make_design(method, FACTORS, n=n, seed=7)
    b = make_design(method, FACTORS, n=n, seed=7)
    assert a.values.shape == (rows, 3)
    np.testing.assert_array_equal(a.values, b.values)
    if method != "grid":
        c = make_design(method, FACTORS, n=n, seed=8)
        assert not np.array_equal(a.values, c.values)


def test_values_lie_within_bounds_and_frame_has_names() -> None:
    design = lhs_design(FACTORS, 200, seed=1)
    for i, factor in enumerate(FACTORS):
        assert design.values[:, i].min() >= factor.lower
        assert design.values[:, i].max() <= factor.upper
    frame = design.to_frame()
    assert list(frame.columns) == ["push_amount", "push_duration", "broker_share"]
    assert frame.index.name == "run"


def test_lhs_puts_one_point_in_each_stratum() -> None:
    design = lhs_design(FACTORS, 40, seed=3)
    strata = np.floor(design.unit * 40).astype(int)
    for column in strata.T:
        assert sorted(column) == list(range(40))


@pytest.mark.parametrize(("n", "seed"), [(1, 0), (7, 1), (1000, 20261203)])
def test_lhs_draws_scipys_numbers(n: int, seed: int) -> None:
    """The sample of every earlier version (scipy's LatinHypercube with default_rng(seed)),
    drawn without scipy and block by block."""
    from scipy.stats import qmc

    expected = qmc.LatinHypercube(3, rng=np.random.default_rng(seed)).random(n)
    design = lhs_design(FACTORS, n, seed=seed)
    assert design.unit.tobytes() == expected.tobytes()
    values = np.column_stack([f.from_unit(expected[:, i]) for i, f in enumerate(FACTORS)])
    assert design.values.tobytes() == values.tobytes()


def test_lhs_blocks_are_the_same_rows_in_any_order_and_size() -> None:
    whole = lhs_design(FACTORS, 1000, seed=5).values
    cube = LatinHypercube(FACTORS, 1000, seed=5)
    for size in (1, 64, 333, 1000):
        starts = list(range(0, 1000, size))[::-1]  # last block first
        parts = {s: cube[s:s + size] for s in starts}
        assert np.vstack([parts[s] for s in sorted(parts)]).tobytes() == whole.tobytes()
    assert cube[990:2000].shape == (10, 3) and cube.shape == (1000, 3)
    assert cube.to_dict()["seed"] == 5
    with pytest.raises(InvalidValueError, match="a slice of rows"):
        cube[3]  # type: ignore[index]


def test_design_keeps_settings_read_by_analyses() -> None:
    assert sobol_design(FACTORS, 8, seed=1, calc_second_order=True).settings == {
        "calc_second_order": True}
    assert sobol_design(FACTORS, 8, seed=1, calc_second_order=True).n_runs == 8 * 8
    assert morris_design(FACTORS, 4, seed=1, num_levels=6).settings == {"num_levels": 6}
    assert efast_design(FACTORS, 101, seed=1, M=5).settings == {"M": 5}
    assert make_design("sobol", FACTORS, n=8, seed=1).settings == {"calc_second_order": False}


def test_sample_is_read_only() -> None:
    design = lhs_design(FACTORS, 5, seed=1)
    with pytest.raises(ValueError, match="read-only"):
        design.values[0, 0] = 1.0


def test_sobol_subset_is_the_smaller_design() -> None:
    big = sobol_design(FACTORS, 64, seed=5)
    small = sobol_design(FACTORS, 16, seed=5)
    np.testing.assert_array_equal(big.sobol_subset(16).values, small.values)


def test_grid_levels_span_the_bounds() -> None:
    design = grid_design(FACTORS[:2], 5)
    np.testing.assert_allclose(np.unique(design.values[:, 1]), np.linspace(0, 8, 5))
    assert design.n_runs == 25


def test_distributions_follow_scipy_inverse_cdfs() -> None:
    u = np.array([0.1, 0.5, 0.9])
    tri = Factor("x", 1.0, 5.0, "triangular", {"mode": 2.0})
    np.testing.assert_allclose(tri.from_unit(u), stats.triang.ppf(u, 0.25, loc=1, scale=4))
    tn = Factor("x", 0.0, 1.0, "truncnormal", {"mean": 0.3, "sd": 0.2})
    np.testing.assert_allclose(
        tn.from_unit(u), stats.truncnorm.ppf(u, -1.5, 3.5, loc=0.3, scale=0.2)
    )
    lu = Factor("x", 1.0, 100.0, "loguniform")
    np.testing.assert_allclose(lu.from_unit(u), 10 ** (2 * u))


def test_design_to_dict_describes_the_design() -> None:
    info = morris_design(FACTORS[:1], 3, seed=9).to_dict()
    assert info["method"] == "morris"
    assert info["seed"] == 9
    assert info["factors"] == [{"name": "push_amount", "bounds": [0.0, 1e6],
                                "distribution": "uniform"}]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: sobol_design(FACTORS, 100, seed=1),
         "invalid value for 'n': 100 (expected a power of 2 for a sobol design, e.g. 64 or 128)"),
        (lambda: make_design("latin", FACTORS, n=10, seed=1),
         "invalid value for 'method': 'latin' (expected one of lhs, sobol, morris, efast, grid, "
         "sets)"),
        (lambda: make_design("lhs", FACTORS, n=10, seed=1, M=4),
         "invalid value for 'settings': ['M'] (expected settings of 'lhs': none)"),
        (lambda: Factor("x", 2.0, 1.0),
         "invalid value for 'x.bounds': [2.0, 1.0] (expected lower < upper)"),
        (lambda: Factor("x", 0.0, 1.0, "beta"),
         "invalid value for 'x.distribution': 'beta' (expected one of uniform, loguniform, "
         "triangular, truncnormal)"),
        (lambda: Factor("x", 0.0, 1.0, "triangular"),
         "invalid value for 'x.params': {} (expected mode for a triangular distribution)"),
        (lambda: efast_design(FACTORS, 64, seed=1),
         "invalid value for 'n': 64 (expected an integer >= 65)"),
        (lambda: lhs_design(FACTORS, 10, seed=-1),
         "invalid value for 'seed': -1 (expected a non-negative integer)"),
        (lambda: lhs_design([FACTORS[0], FACTORS[0]], 10, seed=1),
         "invalid value for 'factors': ['push_amount'] (expected each factor named once)"),
    ],
)
def test_errors_say_what_is_valid(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidValueError) as info:
        call()
    assert str(info.value) == message


def test_uniform_factor_ends_stay_inside_the_declared_range() -> None:
    """The top of the unit interval maps to the upper bound exactly, never past it by rounding
    (0.03 + 1.0 * (0.33 - 0.03) is 0.33000000000000007 in floating point)."""
    from sdnet.designs import Factor

    factor = Factor("legitimacy_half_share", 0.03, 0.33)
    values = factor.from_unit(np.array([0.0, 1.0]))
    assert values[0] == 0.03 and values[1] == 0.33
