"""Worlds: the parameter sets of the uncertain constants every package is run in.

A table of worlds is a CSV file with one column per model constant (Python or Vensim names)
and one row per world, such as ``models/flexnet/nonimplausible.csv``, the non-implausible sets
``sdnet calibrate`` writes. Every package and region of a comparison runs in the same worlds,
so the differences between packages are not differences between samples.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sdnet.errors import ExperimentError, UnknownVariableError, close_matches

if TYPE_CHECKING:
    import pandas as pd

    from sdnet.model import Model

__all__ = ["read_worlds", "sample_worlds"]


def read_worlds(path: str | Path, model: Model, *, key: str | None = None,
                spec: str | Path | None = None) -> pd.DataFrame:
    """Read a table of worlds and check it against the model.

    Parameters
    ----------
    path : str or Path
        The CSV file (header row of constant names, one row per world).
    model : Model
        The model whose constants the columns name.
    key, spec : optional
        The study file and key that named the file (for messages).

    Returns
    -------
    pandas.DataFrame
        Columns renamed to Python names; index ``world``, the row's number in the file
        (0 = the first row under the header), so a world can be traced back to its file.

    Raises
    ------
    ExperimentError
        The file is missing or unreadable, has no rows, a column is not a constant of the
        model (named, with the file and close matches), a column is a simulation control, a
        value is not a finite number, or a column is given twice.
    """
    import pandas as pd

    path = Path(path)
    where = {"path": spec if spec is not None else path, "key": key}

    def fail(message: str, value: object = None) -> ExperimentError:
        return ExperimentError(f"worlds file {path}: {message}", value=value, **where)

    if not path.is_file():
        raise fail("not found (give a CSV of parameter sets, one column per constant, "
                   "e.g. the nonimplausible.csv written by sdnet calibrate)", str(path))
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise fail(f"cannot be read as CSV ({error})") from error
    if table.empty:
        raise fail("has no rows (a header and at least one parameter set are needed)")
    names: dict[str, str] = {}
    for column in table.columns:
        text = str(column)
        if text not in model.parameters:
            try:
                kind = str(model.variables.loc[model.resolve(text), "kind"])
                hint = f" ({text!r} is a {kind} of the model; only constants can be set)"
            except (UnknownVariableError, KeyError):
                close = close_matches(text, list(model.parameters))
                hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise fail(f"column {text!r} is not a constant of {model.path.name}{hint}", text)
        parameter = model.parameters[text]
        if parameter.kind == "control":
            raise fail(f"column {text!r} is a simulation control; it cannot vary by world",
                       text)
        if parameter.name in names:
            raise fail(f"columns {names[parameter.name]!r} and {text!r} both name "
                       f"{parameter.name!r}", text)
        names[parameter.name] = text
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise fail(f"column {text!r}, row {row + 1}: {table[column].iloc[row]!r} is not a "
                       "finite number", table[column].iloc[row])
        table[column] = values
    table = table.rename(columns={text: name for name, text in names.items()})
    table.index = pd.RangeIndex(len(table), name="world")
    return table


def sample_worlds(worlds: pd.DataFrame, n: int | None = None, *, seed: int,
                  path: str | Path | None = None, key: str | None = None) -> pd.DataFrame:
    """A seeded sample of ``n`` worlds without replacement (all when ``n`` is None).

    The rows keep their ``world`` index and their order in the file, so the same seed and
    ``n`` give the same worlds, whatever they are compared under.

    Raises
    ------
    ExperimentError
        ``n`` not a positive integer or larger than the table (naming both numbers).
    """
    total = len(worlds)
    if n is None:
        return worlds.copy()
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ExperimentError(f"must be a positive integer (worlds to sample), not {n!r}",
                              path=path, key=key, value=n)
    if n > total:
        raise ExperimentError(
            f"asks for {n} worlds but the worlds table has only {total} rows; give n <= "
            f"{total}, or leave n out to use every row", path=path, key=key, value=n)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(total, size=int(n), replace=False))
    return worlds.iloc[rows].copy()
