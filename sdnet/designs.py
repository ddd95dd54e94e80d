"""Experimental designs: which parameter sets an ensemble runs.

A :class:`Design` keeps everything needed to analyse its runs later: the method, the method's
settings (``calc_second_order``, ``num_levels``, ``M``, ...), the seed, the factors with their
bounds and distributions, and the sample itself. The analyses in :mod:`sdnet.sensitivity` read
the settings back from the design, so sampling and analysis can never disagree (the mistake
behind SALib issues 172 and 397).

Sampling is done by SALib (Saltelli/Sobol', Morris, eFAST) and by :class:`LatinHypercube`
(the numbers of :class:`scipy.stats.qmc.LatinHypercube`, drawn block by block) in the unit
hypercube; each factor's distribution then maps the unit column to the factor's values by its
inverse CDF. The analyses only use the unit sample (Morris needs the sign
of each step, Sobol' and eFAST only the sample's structure), so any distribution works with
every method.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from sdnet.errors import InvalidValueError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DISTRIBUTIONS",
    "METHODS",
    "Design",
    "Factor",
    "LatinHypercube",
    "efast_design",
    "grid_design",
    "lhs_design",
    "make_design",
    "morris_design",
    "sets_design",
    "sobol_design",
]

#: Distribution names a :class:`Factor` accepts, and the extra parameters each needs.
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "uniform": (),
    "loguniform": (),
    "triangular": ("mode",),
    "truncnormal": ("mean", "sd"),
}

#: Design methods and the settings each accepts (with defaults).
METHODS: dict[str, dict[str, Any]] = {
    "lhs": {},
    "sobol": {"calc_second_order": False},
    "morris": {"num_levels": 4},
    "efast": {"M": 4},
    "grid": {},
    "sets": {},
}


@dataclass(frozen=True, slots=True)
class Factor:
    """One input varied by a design.

    Parameters
    ----------
    name : str
        The Python name of the model constant (or push field) the factor sets.
    lower, upper : float
        The range of the factor, in the constant's own units. For ``truncnormal`` this is the
        truncation interval.
    distribution : str
        ``"uniform"`` (default), ``"loguniform"`` (needs ``lower > 0``), ``"triangular"``
        (needs ``mode`` in ``[lower, upper]``) or ``"truncnormal"`` (needs ``mean`` and
        ``sd > 0``; truncated to ``[lower, upper]``).
    params : Mapping[str, float]
        The extra parameters of the distribution (see :data:`DISTRIBUTIONS`).

    Raises
    ------
    InvalidValueError
        If the bounds or the distribution's parameters are not valid.
    """

    name: str
    lower: float
    upper: float
    distribution: str = "uniform"
    params: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for label, bound in (("lower", self.lower), ("upper", self.upper)):
            if isinstance(bound, bool) or not isinstance(bound, int | float | np.number):
                raise InvalidValueError(f"{self.name}.{label}", bound)
            if not math.isfinite(float(bound)):
                raise InvalidValueError(f"{self.name}.{label}", bound)
        if not self.lower < self.upper:
            raise InvalidValueError(
                f"{self.name}.bounds", [self.lower, self.upper],
                expected="lower < upper",
            )
        if self.distribution not in DISTRIBUTIONS:
            raise InvalidValueError(
                f"{self.name}.distribution", self.distribution,
                expected="one of " + ", ".join(DISTRIBUTIONS),
            )
        needed = DISTRIBUTIONS[self.distribution]
        if set(self.params) != set(needed):
            expected = ", ".join(needed) if needed else "no parameters"
            raise InvalidValueError(
                f"{self.name}.params", dict(self.params),
                expected=f"{expected} for a {self.distribution} distribution",
            )
        if self.distribution == "loguniform" and self.lower <= 0:
            raise InvalidValueError(
                f"{self.name}.bounds", [self.lower, self.upper],
                expected="lower > 0 for a loguniform distribution",
            )
        if self.distribution == "triangular" and not (
            self.lower <= self.params["mode"] <= self.upper
        ):
            raise InvalidValueError(
                f"{self.name}.mode", self.params["mode"],
                expected=f"a number in [{self.lower:g}, {self.upper:g}]",
            )
        if self.distribution == "truncnormal" and not self.params["sd"] > 0:
            raise InvalidValueError(f"{self.name}.sd", self.params["sd"], expected="sd > 0")

    def from_unit(self, unit: np.ndarray) -> np.ndarray:
        """Map values in ``[0, 1]`` to the factor's values by the inverse CDF."""
        u = np.asarray(unit, dtype=float)
        lo, hi = float(self.lower), float(self.upper)
        if self.distribution == "uniform":
            # clip: lo + 1.0 * (hi - lo) can round past hi (0.03 + 0.3 = 0.33000000000000007),
            # which the declared-range check would then reject
            return np.clip(lo + u * (hi - lo), lo, hi)
        if self.distribution == "loguniform":
            return np.exp(np.log(lo) + u * (np.log(hi) - np.log(lo)))
        from scipy import stats

        if self.distribution == "triangular":
            c = (self.params["mode"] - lo) / (hi - lo)
            return stats.triang.ppf(u, c, loc=lo, scale=hi - lo)
        mean, sd = float(self.params["mean"]), float(self.params["sd"])
        a, b = (lo - mean) / sd, (hi - mean) / sd
        return stats.truncnorm.ppf(u, a, b, loc=mean, scale=sd)

    def to_dict(self) -> dict[str, Any]:
        """A plain description (for ``design.json``)."""
        return {
            "name": self.name,
            "bounds": [float(self.lower), float(self.upper)],
            "distribution": self.distribution,
            **{k: float(v) for k, v in self.params.items()},
        }


@dataclass(frozen=True, eq=False)
class Design:
    """A sample of factor values together with how it was drawn.

    Attributes
    ----------
    method : str
        ``"lhs"``, ``"sobol"`` (Saltelli's scheme), ``"morris"``, ``"efast"``, ``"grid"`` or
        ``"sets"`` (rows of a table of parameter sets, :func:`sets_design`).
    n : int
        The base size: samples (lhs), base rows N (sobol), trajectories (morris), samples per
        factor (efast), levels per factor (grid) or rows (sets).
    settings : Mapping[str, Any]
        Method settings, every default filled in (see :data:`METHODS`).
    seed : int
        The seed the sample was drawn with (ignored by ``grid``, kept for provenance).
    factors : tuple[Factor, ...]
        The factors, in column order.
    unit : numpy.ndarray
        ``(n_runs, n_factors)`` sample in the unit hypercube.
    values : numpy.ndarray
        ``(n_runs, n_factors)`` sample in the factors' units.
    """

    method: str
    n: int
    settings: Mapping[str, Any]
    seed: int
    factors: tuple[Factor, ...]
    unit: np.ndarray
    values: np.ndarray

    def __post_init__(self) -> None:
        self.unit.setflags(write=False)
        self.values.setflags(write=False)

    @property
    def names(self) -> list[str]:
        """Factor names, in column order."""
        return [f.name for f in self.factors]

    @property
    def n_runs(self) -> int:
        """Number of rows (runs) of the sample."""
        return int(self.values.shape[0])

    @property
    def problem(self) -> dict[str, Any]:
        """SALib's problem dict for the unit sample the analyses work on."""
        return {
            "num_vars": len(self.factors),
            "names": self.names,
            "bounds": [[0.0, 1.0]] * len(self.factors),
        }

    def columns(self) -> dict[str, np.ndarray]:
        """Factor name -> ``(n_runs,)`` values (what the runner takes)."""
        return {f.name: self.values[:, i] for i, f in enumerate(self.factors)}

    def to_frame(self) -> pd.DataFrame:
        """The sample as a DataFrame: index ``run``, one column per factor (its units)."""
        import pandas as pd

        frame = pd.DataFrame(np.array(self.values), columns=self.names)
        frame.index.name = "run"
        return frame

    def to_dict(self) -> dict[str, Any]:
        """Method, settings, seed, n and factors (what ``design.json`` holds)."""
        return {
            "method": self.method,
            "n": self.n,
            "n_runs": self.n_runs,
            "settings": dict(self.settings),
            "seed": self.seed,
            "factors": [f.to_dict() for f in self.factors],
        }

    def sobol_subset(self, n: int) -> Design:
        """The Saltelli design with the first ``n`` base rows (for convergence studies).

        SALib lays out Saltelli's sample in blocks of ``D + 2`` (or ``2D + 2``) rows per base
        row, so the first ``n`` blocks are the design of size ``n`` drawn from the same
        Sobol' sequence.
        """
        if self.method != "sobol":
            raise InvalidValueError("method", self.method, expected="'sobol' for a sub-sample")
        if not 0 < n <= self.n:
            raise InvalidValueError("n", n, expected=f"an integer in [1, {self.n}]")
        rows = n * self._block()
        return Design(
            self.method, n, self.settings, self.seed, self.factors,
            np.array(self.unit[:rows]), np.array(self.values[:rows]),
        )

    def _block(self) -> int:
        d = len(self.factors)
        return 2 * d + 2 if self.settings.get("calc_second_order") else d + 2


def _check_factors(factors: Sequence[Factor]) -> tuple[Factor, ...]:
    factors = tuple(factors)
    if not factors:
        raise InvalidValueError("factors", [], expected="at least one factor")
    names = [f.name for f in factors]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidValueError("factors", dupes, expected="each factor named once")
    return factors


def _check_n(n: int, *, minimum: int = 1) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < minimum:
        raise InvalidValueError("n", n, expected=f"an integer >= {minimum}")
    return int(n)


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InvalidValueError("seed", seed, expected="a non-negative integer")
    return int(seed)


def _finish(
    method: str, n: int, settings: dict[str, Any], seed: int,
    factors: tuple[Factor, ...], unit: np.ndarray,
) -> Design:
    unit = np.ascontiguousarray(unit, dtype=float)
    values = np.column_stack([f.from_unit(unit[:, i]) for i, f in enumerate(factors)])
    return Design(method, n, settings, seed, factors, unit, values)


def _problem(factors: tuple[Factor, ...]) -> dict[str, Any]:
    return {"num_vars": len(factors), "names": [f.name for f in factors],
            "bounds": [[0.0, 1.0]] * len(factors)}


class LatinHypercube:
    """A Latin hypercube of ``n`` runs whose rows are drawn block by block.

    The numbers are those of ``scipy.stats.qmc.LatinHypercube(d,
    rng=numpy.random.default_rng(seed)).random(n)`` (bit for bit, tested against scipy 1.17),
    without holding the ``n x d`` matrix: scipy draws the ``n x d`` jitters first, then shuffles
    one permutation of the strata per factor, from one PCG64 stream. Here the permutations are
    drawn once (``d x n`` int32: 224 MB for 10^6 runs of 56 factors, against 3 float64 copies
    of the matrix in scipy) and a block's jitters are read from the stream advanced to its
    first row. So rows ``a`` to ``b`` are the same numbers whichever blocks, processes or
    machines ask for them, in any order.

    Parameters
    ----------
    factors : sequence of Factor
        The factors, in column order.
    n : int
        Runs (rows).
    seed : int
        Seed of the stream; the same seed gives the same rows.

    Examples
    --------
    >>> cube = LatinHypercube([Factor("a", 0.0, 1.0)], 1000, seed=1)
    >>> cube[:10].shape           # rows 0-9 in the factors' units
    (10, 1)
    """

    def __init__(self, factors: Sequence[Factor], n: int, *, seed: int) -> None:
        self.factors = _check_factors(factors)
        self.n = _check_n(n)
        self.seed = _check_seed(seed)
        self._perms: np.ndarray | None = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self.n

    @property
    def shape(self) -> tuple[int, int]:
        """``(n, n_factors)``: the shape of the whole sample."""
        return self.n, len(self.factors)

    @property
    def names(self) -> list[str]:
        """Factor names, in column order."""
        return [f.name for f in self.factors]

    def _stream(self, skip: int) -> np.random.Generator:
        # scipy's QMC engines spawn a child of the Generator they are given: the child's
        # seed sequence is the seed's with spawn key (0,)
        bits = np.random.PCG64(np.random.SeedSequence(self.seed, spawn_key=(0,)))
        bits.advance(skip)  # one 64-bit draw per double
        return np.random.Generator(bits)

    def permutations(self) -> np.ndarray:
        """The ``(n_factors, n)`` strata (1 to n) of every factor, drawn on first use (a
        second or two for 10^6 runs; the shuffle releases the GIL, so a thread can draw them
        while the model loads)."""
        with self._lock:
            if self._perms is None:
                d, n = len(self.factors), self.n
                stream = self._stream(n * d)  # after scipy's n x d jitters
                perms = np.empty((d, n), dtype=np.int32 if n < 2**31 else np.int64)
                for row in perms:
                    row[:] = np.arange(1, n + 1, dtype=perms.dtype)
                    stream.shuffle(row)
                perms.setflags(write=False)
                self._perms = perms
            return self._perms

    def unit(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start`` to ``stop`` (excluded) in the unit hypercube."""
        start, stop, _ = slice(start, stop).indices(self.n)
        stop = max(start, stop)
        d = len(self.factors)
        jitter = self._stream(start * d).random((stop - start, d))
        return (self.permutations()[:, start:stop].T - jitter) / self.n

    def __getitem__(self, rows: slice) -> np.ndarray:
        """Rows of the sample in the factors' units (``cube[a:b]``: ``(b - a, n_factors)``)."""
        if not isinstance(rows, slice) or rows.step not in (None, 1):
            raise InvalidValueError("rows", rows, expected="a slice of rows, e.g. cube[0:100]")
        start, stop, _ = rows.indices(self.n)
        unit = self.unit(start, stop)
        return np.column_stack([f.from_unit(unit[:, i]) for i, f in enumerate(self.factors)])

    def design(self) -> Design:
        """The whole sample as a :class:`Design` (method ``"lhs"``)."""
        return _finish("lhs", self.n, {}, self.seed, self.factors, self.unit(0, self.n))

    def to_dict(self) -> dict[str, Any]:
        """Method, n, seed and factors: everything the rows depend on."""
        return {"method": "lhs", "n": self.n, "seed": self.seed,
                "factors": [f.to_dict() for f in self.factors]}


def lhs_design(factors: Sequence[Factor], n: int, *, seed: int) -> Design:
    """A Latin hypercube of ``n`` runs: the numbers of
    :class:`scipy.stats.qmc.LatinHypercube` seeded with ``numpy.random.default_rng(seed)``
    (see :class:`LatinHypercube`, which draws them block by block)."""
    return LatinHypercube(factors, n, seed=seed).design()


def sobol_design(
    factors: Sequence[Factor], n: int, *, seed: int, calc_second_order: bool = False
) -> Design:
    """Saltelli's extension of the Sobol' sequence (SALib), ``n * (D + 2)`` runs.

    ``n`` must be a power of 2 (the Sobol' sequence is balanced only then); with
    ``calc_second_order`` the design has ``n * (2D + 2)`` runs.

    References
    ----------
    Saltelli, A. (2002). Making best use of model evaluations to compute sensitivity indices.
    Computer Physics Communications 145(2), 280-297.
    """
    from SALib.sample import sobol as salib_sobol

    factors = _check_factors(factors)
    n, seed = _check_n(n, minimum=2), _check_seed(seed)
    if n & (n - 1):
        lower = 1 << (n.bit_length() - 1)
        raise InvalidValueError(
            "n", n, expected=f"a power of 2 for a sobol design, e.g. {lower} or {lower * 2}"
        )
    unit = salib_sobol.sample(
        _problem(factors), n, calc_second_order=bool(calc_second_order), seed=seed
    )
    return _finish("sobol", n, {"calc_second_order": bool(calc_second_order)}, seed,
                   factors, unit)


def morris_design(
    factors: Sequence[Factor], n: int, *, seed: int, num_levels: int = 4
) -> Design:
    """``n`` Morris trajectories on a ``num_levels`` grid (SALib), ``n * (D + 1)`` runs.

    References
    ----------
    Morris, M. D. (1991). Factorial sampling plans for preliminary computational experiments.
    Technometrics 33(2), 161-174.
    """
    from SALib.sample import morris as salib_morris

    factors = _check_factors(factors)
    n, seed = _check_n(n, minimum=2), _check_seed(seed)
    if isinstance(num_levels, bool) or not isinstance(num_levels, int) or num_levels < 2 \
            or num_levels % 2:
        raise InvalidValueError("num_levels", num_levels, expected="an even integer >= 2")
    unit = salib_morris.sample(_problem(factors), n, num_levels=num_levels, seed=seed)
    return _finish("morris", n, {"num_levels": num_levels}, seed, factors, unit)


def efast_design(factors: Sequence[Factor], n: int, *, seed: int, M: int = 4) -> Design:  # noqa: N803
    """Extended FAST (SALib): ``n`` samples per factor, ``n * D`` runs; needs ``n > 4 M**2``.

    References
    ----------
    Saltelli, A., Tarantola, S. and Chan, K. P.-S. (1999). A quantitative model-independent
    method for global sensitivity analysis of model output. Technometrics 41(1), 39-56.
    """
    from SALib.sample import fast_sampler

    factors = _check_factors(factors)
    seed = _check_seed(seed)
    if isinstance(M, bool) or not isinstance(M, int) or M < 1:
        raise InvalidValueError("M", M, expected="an integer >= 1")
    n = _check_n(n, minimum=4 * M * M + 1)
    unit = fast_sampler.sample(_problem(factors), n, M=M, seed=seed)
    return _finish("efast", n, {"M": M}, seed, factors, unit)


def grid_design(factors: Sequence[Factor], n: int, *, seed: int = 0) -> Design:
    """A full-factorial grid with ``n`` evenly spaced levels per factor, ``n ** D`` runs.

    Levels are evenly spaced in probability (the unit interval, ends included) and mapped by
    each factor's distribution; for uniform factors they are evenly spaced from lower to upper.
    The last factor varies fastest.
    """
    factors = _check_factors(factors)
    n, seed = _check_n(n, minimum=2), _check_seed(seed)
    levels = np.linspace(0.0, 1.0, n)
    mesh = np.meshgrid(*([levels] * len(factors)), indexing="ij")
    unit = np.column_stack([m.ravel() for m in mesh])
    return _finish("grid", n, {}, seed, factors, unit)


def sets_design(values: pd.DataFrame, factors: Sequence[Factor], *, seed: int,
                source: str = "") -> Design:
    """Given parameter sets as a design: one run per row of ``values`` (e.g. a seeded sample
    of the non-implausible worlds of a calibration).

    Parameters
    ----------
    values : pandas.DataFrame
        One column per factor (in any order), one row per run; its index (the row numbers in
        the table the sets came from) is kept in ``settings["rows"]``.
    factors : sequence of Factor
        The factors, with the bounds the unit sample is scaled by (e.g. the declared ranges).
    seed : int
        The seed the rows were sampled with (kept for provenance).
    source : str
        Where the sets came from (kept in ``settings["source"]``).

    Raises
    ------
    InvalidValueError
        A factor without a column, or a value outside its factor's bounds.
    """
    factors = _check_factors(factors)
    seed = _check_seed(seed)
    missing = [f.name for f in factors if f.name not in values.columns]
    if missing:
        raise InvalidValueError("factors", missing, expected="a column of the sets for each")
    matrix = np.column_stack([values[f.name].to_numpy(dtype=float) for f in factors])
    lower = np.array([f.lower for f in factors])
    upper = np.array([f.upper for f in factors])
    outside = (matrix < lower) | (matrix > upper)
    if outside.any():
        row, column = (int(i[0]) for i in np.nonzero(outside))
        raise InvalidValueError(
            factors[column].name, float(matrix[row, column]),
            expected=f"a value in [{lower[column]:g}, {upper[column]:g}]")
    unit = (matrix - lower) / (upper - lower)
    settings = {"source": source, "rows": [int(r) for r in values.index]}
    return Design("sets", len(matrix), settings, seed, factors,
                  np.ascontiguousarray(unit), np.ascontiguousarray(matrix))


def make_design(
    method: str, factors: Sequence[Factor], *, n: int, seed: int, **settings: Any
) -> Design:
    """Draw a design by method name (what an experiment file's ``[design]`` table calls).

    Parameters
    ----------
    method : str
        One of :data:`METHODS`.
    factors : sequence of Factor
        The factors, in column order.
    n : int
        The base size (see :class:`Design`).
    seed : int
        Seed of the sampler; the same seed gives identical numbers.
    **settings
        Method settings (see :data:`METHODS`); unknown settings are an error.
    """
    if method not in METHODS:
        raise InvalidValueError("method", method, expected="one of " + ", ".join(METHODS))
    unknown = sorted(set(settings) - set(METHODS[method]))
    if unknown:
        valid = ", ".join(METHODS[method]) or "none"
        raise InvalidValueError(
            "settings", unknown, expected=f"settings of {method!r}: {valid}"
        )
    full = {**METHODS[method], **settings}
    if method == "lhs":
        return lhs_design(factors, n, seed=seed)
    if method == "sobol":
        return sobol_design(factors, n, seed=seed, **full)
    if method == "morris":
        return morris_design(factors, n, seed=seed, **full)
    if method == "efast":
        return efast_design(factors, n, seed=seed, **full)
    if method == "sets":
        raise InvalidValueError("method", method,
                                expected="sets_design(values, factors, seed=...): a sets "
                                "design is given its rows, not drawn")
    return grid_design(factors, n, seed=seed)
