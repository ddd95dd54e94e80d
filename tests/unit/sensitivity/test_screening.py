"""Stability of Morris screens over seeds, and the factors a Sobol' stage varies."""

from __future__ import annotations

import numpy as np
import pytest

from sdnet.designs import Factor, make_design
from sdnet.errors import InvalidValueError
from sdnet.sensitivity import MorrisResult, morris, pooled_scores, screen_stability

NAMES = ("a", "b", "c", "d")


def _result(mu_star: list[float]) -> MorrisResult:
    mu = np.array(mu_star, dtype=float)
    return MorrisResult(NAMES, mu, mu, mu, np.zeros(4), 0.95)


def test_scores_are_shares_of_the_largest_mu_star_averaged_over_cases() -> None:
    # one case ranks a first, the other b; in each the largest mu* counts as 1
    scores = pooled_scores([_result([4, 2, 1, 0]), _result([10, 20, 5, 0])])
    np.testing.assert_allclose(scores, [(1 + 0.5) / 2, (0.5 + 1) / 2, (0.25 + 0.25) / 2, 0])


def test_a_constant_output_adds_nothing() -> None:
    np.testing.assert_allclose(pooled_scores([_result([0, 0, 0, 0]), _result([1, 2, 4, 0])]),
                               [0.125, 0.25, 0.5, 0.0])


def test_seeds_that_agree_make_a_stable_screen() -> None:
    found = screen_stability({1: [_result([4, 3, 1, 0])], 2: [_result([3, 4, 0.5, 0.1])]},
                             top=2)
    assert found.stable
    assert found.sets == (("a", "b"), ("b", "a"))
    assert found.always == ("a", "b") and found.moved == ()
    assert found.chosen == ("a", "b")
    assert found.to_dict()["stable"] is True


def test_seeds_that_disagree_name_the_factors_that_move() -> None:
    found = screen_stability({1: [_result([4, 3, 1, 0])], 2: [_result([4, 0.5, 3, 0])],
                              3: [_result([4, 1, 0, 3.5])]}, top=2)
    assert not found.stable
    assert found.sets == (("a", "b"), ("a", "c"), ("a", "d"))
    assert found.always == ("a",)
    assert found.moved == ("b", "c", "d")
    # pooled: a 1, b (0.75 + 0.125 + 0.25) / 3 = 0.375, c (0.25 + 0.75) / 3, d 0.875 / 3
    assert found.chosen == ("a", "b")
    frame = found.to_frame()
    assert list(frame.columns) == ["seed", "rank", "factor", "score", "in_top"]
    assert frame[frame["seed"] == 3]["factor"].tolist() == ["a", "d", "b", "c"]
    assert frame["in_top"].sum() == 6


def test_kept_factors_take_places_of_the_top_whatever_their_rank() -> None:
    found = screen_stability({1: [_result([4, 3, 1, 0])]}, top=2, keep=["d"])
    assert found.chosen == ("d", "a")
    assert found.kept == ("d",)
    assert found.sets == (("a", "b"),)  # the screen's own ranking is unchanged


@pytest.mark.parametrize(
    ("screens", "options", "message"),
    [
        ({}, {"top": 2}, "invalid value for 'screens': {} (expected at least one seed's "
                         "screen)"),
        ({1: [_result([1, 2, 3, 4])]}, {"top": 5},
         "invalid value for 'top': 5 (expected an integer in [1, 4])"),
        ({1: [_result([1, 2, 3, 4])]}, {"top": 1, "keep": ["a", "b"]},
         "invalid value for 'keep': ['a', 'b'] (expected at most top = 1 factors)"),
        ({1: [_result([1, 2, 3, 4])]}, {"top": 2, "keep": ["e"]},
         "invalid value for 'keep': ['e'] (expected factors of the screen: a, b, c, d)"),
    ],
)
def test_bad_input_is_a_clear_error(screens: dict, options: dict, message: str) -> None:
    with pytest.raises(InvalidValueError) as info:
        screen_stability(screens, **options)
    assert str(info.value) == message


def test_screens_of_a_known_function_agree_on_its_influential_factors() -> None:
    # y = 10 x0 + 5 x1 + 0.01 x2: every seed's top two are x0 and x1
    factors = [Factor(f"x{i}", 0.0, 1.0) for i in range(3)]
    screens = {}
    for seed in (1, 2, 3):
        design = make_design("morris", factors, n=6, seed=seed, num_levels=4)
        x = design.values
        screens[seed] = [morris(design, 10 * x[:, 0] + 5 * x[:, 1] + 0.01 * x[:, 2])]
    found = screen_stability(screens, top=2)
    assert found.stable and set(found.chosen) == {"x0", "x1"}
    np.testing.assert_allclose(found.scores[:, 0], 1.0)
    np.testing.assert_allclose(found.scores[:, 1], 0.5)
