"""Known-answer tests of the Sobol', eFAST, Morris, time-resolved and convergence analyses."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from SALib.test_functions import Ishigami, Sobol_G

from sdnet.designs import Factor, efast_design, lhs_design, morris_design, sobol_design
from sdnet.errors import ConvergenceWarning, InvalidValueError, UnreliableIndexWarning
from sdnet.sensitivity import convergence, efast, morris, sobol, time_resolved
from sdnet.sensitivity.sobol import UNINFORMATIVE_HALF_WIDTH, index_problems

ISHIGAMI = [Factor(f"x{i}", -np.pi, np.pi) for i in (1, 2, 3)]


def _ishigami_analytic(a: float = 7.0, b: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Analytic first-order and total indices (Ishigami and Homma 1990; Sobol' and Levitan)."""
    variance = a**2 / 8 + b * np.pi**4 / 5 + b**2 * np.pi**8 / 18 + 0.5
    v1 = 0.5 * (1 + b * np.pi**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = 8 * b**2 * np.pi**8 / 225
    return np.array([v1, v2, 0.0]) / variance, np.array([v1 + v13, v2, v13]) / variance


def test_sobol_matches_ishigami_within_confidence_intervals() -> None:
    s1, st = _ishigami_analytic()
    design = sobol_design(ISHIGAMI, 1024, seed=20261126)
    result = sobol(design, Ishigami.evaluate(design.values))
    assert np.all(np.abs(result.S1 - s1) <= result.S1_conf)
    assert np.all(np.abs(result.ST - st) <= result.ST_conf)
    assert result.S2 is None
    frame = result.to_frame()
    assert list(frame.columns) == ["factor", "S1", "S1_conf", "ST", "ST_conf", "reliable",
                                   "problem"]
    assert list(frame["factor"]) == ["x1", "x2", "x3"]
    assert frame["reliable"].all() and (frame["problem"] == "").all()


def test_sobol_second_order_is_read_from_the_design() -> None:
    design = sobol_design(ISHIGAMI, 512, seed=2, calc_second_order=True)
    result = sobol(design, Ishigami.evaluate(design.values))
    assert result.S2 is not None and result.S2_conf is not None
    # the only interaction of Ishigami is x1-x3: S13 = ST1 - S1 (analytic)
    s1, st = _ishigami_analytic()
    assert abs(result.S2[0, 2] - (st[0] - s1[0])) <= result.S2_conf[0, 2]
    assert len(result.second_order_frame()) == 3


def test_efast_matches_ishigami_first_order() -> None:
    s1, st = _ishigami_analytic()
    design = efast_design(ISHIGAMI, 2000, seed=1)
    result = efast(design, Ishigami.evaluate(design.values))
    # eFAST is biased a little by interference; its bootstrap intervals are only indicative
    np.testing.assert_allclose(result.S1, s1, atol=0.02)
    np.testing.assert_allclose(result.ST, st, atol=0.05)


def test_morris_ranks_sobol_g_in_known_order() -> None:
    # Sobol' G: a smaller a_i means a more important factor
    a = np.array([0.0, 1.0, 4.5, 9.0, 99.0, 99.0])
    factors = [Factor(f"g{i}", 0.0, 1.0) for i in range(6)]
    design = morris_design(factors, 50, seed=3)
    result = morris(design, Sobol_G.evaluate(design.values, a))
    assert result.top(4) == ["g0", "g1", "g2", "g3"]
    assert np.all(np.diff(result.mu_star[:4]) < 0)
    assert list(result.to_frame().columns) == ["factor", "mu", "mu_star", "sigma",
                                               "mu_star_conf"]


def test_morris_of_a_linear_function_gives_its_slopes() -> None:
    factors = [Factor("a", 0.0, 1.0), Factor("b", 0.0, 2.0), Factor("c", 0.0, 1.0)]
    design = morris_design(factors, 10, seed=4)
    v = design.values
    result = morris(design, 3.0 * v[:, 0] - 1.0 * v[:, 1] + 0.0 * v[:, 2])
    # effects are per unit of the normalised range: slope times the factor's range
    np.testing.assert_allclose(result.mu, [3.0, -2.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(result.sigma, [0.0, 0.0, 0.0], atol=1e-12)


def test_time_resolved_indices_follow_the_analytic_shares() -> None:
    # y(t) = x1 t + x2 (10 - t): S1 of x1 = t^2 / (t^2 + (10 - t)^2), no interactions
    factors = [Factor("x1", 0.0, 1.0), Factor("x2", 0.0, 1.0)]
    design = sobol_design(factors, 1024, seed=8)
    times = np.linspace(0.0, 10.0, 41)
    values = np.outer(design.values[:, 0], times) + np.outer(design.values[:, 1], 10.0 - times)
    result = time_resolved(design, values, times=times, every=2.5)
    np.testing.assert_allclose(result.times, [0.0, 2.5, 5.0, 7.5, 10.0])
    expected = result.times**2 / (result.times**2 + (10.0 - result.times) ** 2)
    s1 = np.array([r.S1[0] for r in result.results])
    conf = np.array([r.S1_conf[0] for r in result.results])
    assert np.all(np.abs(s1 - expected) <= np.maximum(conf, 1e-9))
    frame = result.to_frame()
    assert list(frame.columns) == ["time", "factor", "S1", "S1_conf", "ST", "ST_conf",
                                   "reliable", "problem"]
    assert len(frame) == 10


def test_an_output_dominated_by_one_run_is_flagged_not_ranked() -> None:
    # like embeddedness in the flagship study: about 0 in every run but one
    design = sobol_design(ISHIGAMI, 1024, seed=20261126)
    rng = np.random.default_rng(4)
    y = 1e-5 * rng.uniform(size=design.n_runs)
    y[int(np.argmax(design.values[:, 0]))] = 0.2
    deviation = np.sort((y - y.mean()) ** 2)[::-1]
    runs = int(np.searchsorted(np.cumsum(deviation) / deviation.sum(), 0.5)) + 1
    assert runs == 1
    with pytest.warns(UnreliableIndexWarning, match=(
            rf"the Sobol' indices of 'spiky' are unreliable: half of its variance comes from "
            rf"{runs} of {design.n_runs} runs: a heavy-tailed or nearly constant output; "
            "do not rank factors on them")):
        result = sobol(design, y, metric="spiky")
    assert not result.reliable.any()
    frame = result.to_frame()
    assert not frame["reliable"].any()
    assert frame["problem"].str.startswith("half of its variance comes from 1 of").all()
    # the convergence check names the reason rather than wide intervals
    with pytest.warns(ConvergenceWarning, match=(
            rf"^the Sobol' indices of 'spiky' at n={design.n} are unreliable \(half of its "
            rf"variance comes from {runs} of {design.n_runs} runs: .*\), so the top 3 factors "
            "cannot be named$")):
        assert not convergence(design, y, min_n=256, metric="spiky").rankable
    # Ishigami itself stays reliable: the check does not flag a well-behaved output
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnreliableIndexWarning)
        assert sobol(design, Ishigami.evaluate(design.values)).reliable.all()


def test_indices_outside_0_1_beyond_their_interval_are_flagged() -> None:
    # the flagship's embeddedness: ST 93.59 ± 172.51 (S1 -0.034 ± 0.127 is noise around 0);
    # a wide interval around a possible value (0.63 ± 0.54) is a caution, not a failure
    s1 = np.array([-0.034, 0.26, 0.05, -0.2, 0.1, 0.49])
    s1_conf = np.array([0.127, 0.11, 0.02, 0.05, 0.02, 0.38])
    st = np.array([93.59, 0.71, 1.3, 0.1, 0.4, 0.63])
    st_conf = np.array([172.51, 0.22, 0.1, 0.05, UNINFORMATIVE_HALF_WIDTH + 0.01, 0.54])
    problems = index_problems(s1, s1_conf, st, st_conf)
    assert problems[0] == "ST = 93.6 ± 173 is far outside the possible range 0-1"
    assert problems[1] == ""
    assert problems[2] == "ST = 1.3 ± 0.1 lies outside 0-1 by more than its interval"
    assert problems[3] == "S1 = -0.2 ± 0.05 lies outside 0-1 by more than its interval"
    assert problems[4] == (f"the interval of ST (± {UNINFORMATIVE_HALF_WIDTH + 0.01:.3g}) is "
                           "more than twice as wide as the possible range 0-1")
    assert problems[5] == ""
    assert 93.59 - 172.51 < 1  # the first is not outside 0-1 beyond its interval


def test_constant_output_gives_nan_indices() -> None:
    design = sobol_design(ISHIGAMI, 16, seed=1)
    result = sobol(design, np.ones(design.n_runs))
    assert np.isnan(result.S1).all() and np.isnan(result.ST).all()


def test_convergence_narrows_intervals_and_warns_when_top_is_unclear() -> None:
    design = sobol_design(ISHIGAMI, 1024, seed=20261126)
    y = Ishigami.evaluate(design.values)
    result = convergence(design, y, min_n=64, top_k=2)
    assert result.sizes == (64, 128, 256, 512, 1024)
    assert result.rankable
    widths = result.max_st_conf()
    assert widths[-1] < widths[0]
    assert set(result.to_frame()["n"]) == {64, 128, 256, 512, 1024}
    with pytest.warns(ConvergenceWarning, match=r"too wide to separate the top 2 factors"):
        small = convergence(sobol_design(ISHIGAMI, 16, seed=1),
                            Ishigami.evaluate(sobol_design(ISHIGAMI, 16, seed=1).values),
                            min_n=16, top_k=2)
    assert not small.rankable


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda d: sobol(d, np.ones(3)),
         "invalid value for 'y': 'array of shape (3,)' (expected one value per run of the "
         "design, shape (80,))"),
        (lambda d: sobol(d, np.full(80, np.nan)),
         "invalid value for 'y': '80 non-finite values' (expected finite values for every "
         "run (drop or repair failed runs first))"),
        (lambda d: morris(d, np.ones(80)),
         "invalid value for 'design.method': 'sobol' (expected a 'morris' design for Morris "
         "screening)"),
        (lambda d: sobol(lhs_design(ISHIGAMI, 10, seed=1), np.ones(10)),
         "invalid value for 'design.method': 'lhs' (expected a 'sobol' design for Sobol' "
         "indices)"),
    ],
)
def test_analysis_errors(call, message: str) -> None:  # type: ignore[no-untyped-def]
    design = sobol_design(ISHIGAMI, 16, seed=1)
    with pytest.raises(InvalidValueError) as info:
        call(design)
    assert str(info.value) == message
