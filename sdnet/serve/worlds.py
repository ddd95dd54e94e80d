"""The plausible worlds behind a fan of runs: non-implausible parameter sets, else an LHS.

A fan shows what the same policy gives across what we do not know about the model. Its worlds
are, in order of preference,

1. the rows of ``nonimplausible.csv`` beside the model file (parameter sets that history
   matching kept: one column per parameter, either spelling; other columns such as ``run``
   or ``implausibility`` are ignored), at most ``n`` of them, evenly spaced through the file;
2. otherwise a seeded Latin-hypercube sample of the model's ``[uncertain]`` parameters over
   their declared ranges (:func:`sdnet.teaching.sample_worlds`, the same worlds as
   exercise 6's challenge when the seeds agree).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np

from sdnet.errors import ExperimentError, OutOfRangeError, SdnetError
from sdnet.params import ParameterTable

__all__ = ["NONIMPLAUSIBLE_FILE", "Worlds", "load_worlds"]

#: name of the file of non-implausible parameter sets looked for beside the model
NONIMPLAUSIBLE_FILE = "nonimplausible.csv"


@dataclass(frozen=True, slots=True)
class Worlds:
    """Parameter sets to run a policy in.

    Attributes
    ----------
    source : str
        Where they come from, in words (shown on the page).
    values : mapping of str to ndarray
        Python parameter name -> (n,) values.
    n : int
        Number of worlds.
    """

    source: str
    values: Mapping[str, np.ndarray] = field(default_factory=lambda: MappingProxyType({}))
    n: int = 0

    def tiled(self, repeats: int) -> dict[str, np.ndarray]:
        """Every world ``repeats`` times in a row (world-major blocks, one per policy)."""
        return {name: np.tile(column, repeats) for name, column in self.values.items()}


def load_worlds(model_path: str | Path, parameters: ParameterTable, *, n: int,
                seed: int) -> Worlds:
    """The worlds of a model: its ``nonimplausible.csv`` when present, else an LHS.

    Parameters
    ----------
    model_path : path
        The model file; ``nonimplausible.csv`` is looked for in its folder.
    parameters : ParameterTable
        The model's parameters (columns are validated against them, ranges included).
    n : int
        Most worlds to use.
    seed : int
        Seed of the Latin-hypercube sample.

    Raises
    ------
    ExperimentError
        If the CSV has no parameter column, or a value that is not a number in its range
        (naming the file, row and column).
    """
    if n < 1:
        raise ExperimentError(f"the number of worlds must be at least 1, not {n}")
    path = Path(model_path).parent / NONIMPLAUSIBLE_FILE
    if path.is_file():
        return _from_csv(path, parameters, n=n)
    from sdnet.teaching.challenge import sample_worlds

    values = sample_worlds(parameters, n, seed=seed)
    return Worlds(
        source=f"a Latin-hypercube sample of {len(values)} uncertain parameters over their "
        f"declared ranges (seed {seed})",
        values=MappingProxyType(values), n=n if values else 1,
    )


def _from_csv(path: Path, parameters: ParameterTable, *, n: int) -> Worlds:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        raise ExperimentError(f"{path}: empty file (expected a header of parameter names)")
    header = rows[0]
    body = [(line, r) for line, r in enumerate(rows[1:], start=2) if any(c.strip() for c in r)]
    columns = {i: parameters[name].name for i, name in enumerate(header)
               if name.strip() and name in parameters}
    if not columns or not body:
        raise ExperimentError(
            f"{path}: expected a header naming model parameters and at least one row; "
            f"found columns {header[:5]} and {len(body)} rows"
        )
    picked = body if len(body) <= n else [body[int(i)] for i in
                                          np.linspace(0, len(body) - 1, n).round()]
    values: dict[str, list[float]] = {name: [] for name in columns.values()}
    for line, row in picked:
        for i, name in columns.items():
            cell = row[i].strip() if i < len(row) else ""
            try:
                number = float(cell)
            except ValueError:
                raise ExperimentError(f"{path}: line {line}, column {header[i]!r}: {cell!r} "
                                      "is not a number") from None
            if not math.isfinite(number):
                raise ExperimentError(f"{path}: line {line}, column {header[i]!r}: {cell!r} "
                                      "is not a finite number")
            try:
                values[name].append(parameters[name].check(number))
            except SdnetError as error:
                message = error.summary if isinstance(error, OutOfRangeError) else str(error)
                raise ExperimentError(f"{path}: line {line}: {message}") from error
    return Worlds(
        source=f"{len(picked)} non-implausible parameter sets from {path.name}",
        values=MappingProxyType({k: np.asarray(v) for k, v in values.items()}), n=len(picked),
    )
