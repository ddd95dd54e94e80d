"""Stability of a Morris screen over several seeds, and the factors a second stage varies.

A Morris screen with a few dozen trajectories ranks factors with wide intervals: with another
seed the top of the ranking can change (issue 13 found only one of six top factors kept over
three seeds). :func:`screen_stability` compares the top ``k`` of screens drawn with different
seeds (and over several cases, e.g. region presets) and picks the factors a Sobol' stage
varies from their pooled ranking, always including the factors the study forces in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sdnet.errors import InvalidValueError
from sdnet.sensitivity.morris import MorrisResult

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ScreenStability", "pooled_scores", "screen_stability"]


@dataclass(frozen=True, eq=False)
class ScreenStability:
    """The top factors of Morris screens drawn with several seeds.

    Attributes
    ----------
    names : tuple[str, ...]
        The screened factors, in design order.
    seeds : tuple[int, ...]
        The seeds of the screens, in the order they were drawn.
    top : int
        How many top factors each screen names.
    sets : tuple[tuple[str, ...], ...]
        Per seed, its top ``top`` factors, best first.
    scores : numpy.ndarray
        ``(n_seeds, n_factors)`` score of each factor in each screen: its mu* as a share of the
        largest mu* of that screen, averaged over the cases (dmnl, 0-1).
    always : tuple[str, ...]
        Factors in the top of every seed.
    moved : tuple[str, ...]
        Factors in the top of some seeds but not of others (empty: the screen is stable).
    chosen : tuple[str, ...]
        The factors a second stage varies: ``keep`` first, then the best of the pooled
        ranking (mean score over seeds) until there are ``top``.
    kept : tuple[str, ...]
        The factors forced into the second stage whatever their rank.
    """

    names: tuple[str, ...]
    seeds: tuple[int, ...]
    top: int
    sets: tuple[tuple[str, ...], ...]
    scores: np.ndarray
    always: tuple[str, ...]
    moved: tuple[str, ...]
    chosen: tuple[str, ...]
    kept: tuple[str, ...]

    @property
    def stable(self) -> bool:
        """True when every seed names the same top factors (order aside)."""
        return not self.moved

    def to_frame(self) -> pd.DataFrame:
        """Long table: seed, rank (1 = largest score), factor, score, in_top."""
        import pandas as pd

        rows = []
        for seed, scores, chosen in zip(self.seeds, self.scores, self.sets, strict=True):
            order = np.argsort(-scores, kind="stable")
            for rank, i in enumerate(order, start=1):
                rows.append({"seed": seed, "rank": rank, "factor": self.names[i],
                             "score": float(scores[i]), "in_top": self.names[i] in chosen})
        return pd.DataFrame(rows, columns=["seed", "rank", "factor", "score", "in_top"])

    def to_dict(self) -> dict[str, object]:
        """Plain data (what ``summary.json`` holds under ``screen_stability``)."""
        return {"seeds": list(self.seeds), "top": self.top, "stable": self.stable,
                "sets": [list(s) for s in self.sets], "always": list(self.always),
                "moved": list(self.moved), "chosen": list(self.chosen),
                "kept": list(self.kept)}


def pooled_scores(results: Sequence[MorrisResult]) -> np.ndarray:
    """The mean over ``results`` (one screen's cases) of each factor's mu* as a share of the
    largest mu* of its result: a ranking comparable across outputs of different scales.

    A result whose mu* are all 0 (a constant output) adds nothing to any factor.
    """
    if not results:
        raise InvalidValueError("results", [], expected="at least one Morris result")
    names = results[0].names
    shares = []
    for result in results:
        if result.names != names:
            raise InvalidValueError("results", result.names,
                                    expected=f"the factors {names} in the same order")
        mu = np.nan_to_num(np.asarray(result.mu_star, dtype=float), nan=0.0)
        largest = float(mu.max()) if mu.size else 0.0
        shares.append(mu / largest if largest > 0 else np.zeros_like(mu))
    return np.mean(shares, axis=0)


def screen_stability(
    screens: Mapping[int, Sequence[MorrisResult]], *, top: int, keep: Sequence[str] = (),
) -> ScreenStability:
    """Compare the top ``top`` factors of Morris screens drawn with different seeds.

    Parameters
    ----------
    screens : Mapping[int, Sequence[MorrisResult]]
        Seed -> the screen's results, one per case (region preset, policy) of the study, all
        over the same factors in the same order.
    top : int
        How many top factors to compare, and how many the second stage varies.
    keep : Sequence[str]
        Factors the second stage varies whatever their rank (e.g. the push's amount and
        duration, the levers the study is about); they take places of the ``top``.

    Returns
    -------
    ScreenStability
        The per-seed top sets, the factors that move between seeds and the chosen factors.

    Raises
    ------
    InvalidValueError
        No screens, ``top`` not in ``[1, n_factors]``, more ``keep`` than ``top``, or a
        ``keep`` name that is not a screened factor.
    """
    if not screens:
        raise InvalidValueError("screens", {}, expected="at least one seed's screen")
    seeds = tuple(int(s) for s in screens)
    first = next(iter(screens.values()))
    if not first:
        raise InvalidValueError("screens", [], expected="at least one Morris result per seed")
    names = tuple(first[0].names)
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= len(names):
        raise InvalidValueError("top", top, expected=f"an integer in [1, {len(names)}]")
    keep = tuple(dict.fromkeys(keep))
    unknown = [k for k in keep if k not in names]
    if unknown:
        raise InvalidValueError("keep", unknown, expected=f"factors of the screen: "
                                f"{', '.join(names)}")
    if len(keep) > top:
        raise InvalidValueError("keep", list(keep), expected=f"at most top = {top} factors")
    scores = np.array([pooled_scores(screens[s]) for s in screens])
    sets = tuple(tuple(names[i] for i in np.argsort(-row, kind="stable")[:top])
                 for row in scores)
    always = tuple(n for n in sets[0] if all(n in s for s in sets))
    seen = list(dict.fromkeys(n for s in sets for n in s))
    moved = tuple(n for n in seen if n not in always)
    pooled = scores.mean(axis=0)
    ranked = [names[i] for i in np.argsort(-pooled, kind="stable") if names[i] not in keep]
    chosen = keep + tuple(ranked[: top - len(keep)])
    return ScreenStability(names, seeds, top, sets, scores, always, moved, chosen, keep)
