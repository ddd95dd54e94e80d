"""Frozen results of simulations, and where they came from.

* :class:`Provenance` records what produced a result: the model file and its hash, the seed, the
  spec, the versions of the libraries, the git commit of sdnet and the time.
* :class:`State` is the value of every stock at one time; it starts another run from there.
* :class:`RunResult` is one run: a time-indexed table of the saved variables (columns are Vensim
  names, one per subscript element), their units, the parameter values that were set, and the
  stocks' values at every saved time (so :meth:`RunResult.state_at` works even when fewer
  variables were saved).
* :class:`EnsembleResult` is many runs of one model: an :class:`xarray.Dataset` with ``outputs``
  (run, time, variable), ``status`` and ``failure`` per run, plus the factor table.

This module is pure data: it never imports PySD and never runs a model.
"""

from __future__ import annotations

import functools
import json
import math
import platform
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from sdnet.errors import InvalidValueError, SdnetError, UnknownVariableError
from sdnet.params import python_name

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import xarray as xr

__all__ = [
    "EnsembleResult",
    "Provenance",
    "RunResult",
    "State",
    "split_column",
]

#: distributions whose versions every provenance records (distribution name -> key)
_VERSIONED = {
    "sdnet": "sdnet",
    "pysd": "pysd",
    "numpy": "numpy",
    "scipy": "scipy",
    "SALib": "SALib",
    "pandas": "pandas",
    "xarray": "xarray",
}

#: prefix of the variables holding the factor table inside a saved ensemble
_FACTOR_PREFIX = "factor__"


def split_column(column: str) -> tuple[str, str | None]:
    """Split an output column name into the variable's Vensim name and its subscript element.

    >>> split_column("Members[Micro]")
    ('Members', 'Micro')
    >>> split_column("Trust")
    ('Trust', None)
    """
    if column.endswith("]") and "[" in column:
        base, _, rest = column.partition("[")
        return base.strip(), rest[:-1].strip()
    return column, None


@functools.cache
def _library_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for distribution, key in _VERSIONED.items():
        try:
            versions[key] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            versions[key] = "not installed"
    if versions["sdnet"] == "not installed":  # running from a checkout that is not installed
        from sdnet import __version__

        versions["sdnet"] = __version__
    versions["python"] = platform.python_version()
    return versions


@functools.cache
def _git_commit() -> str | None:
    """The commit of the sdnet checkout this code runs from, or None outside a git checkout."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        completed = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = completed.stdout.strip()
    if completed.returncode != 0 or not commit:
        return None
    try:  # tracked files that differ from the commit make the result not reproducible from it
        diff = subprocess.run(
            ["git", "-C", str(root), "diff", "--quiet", "HEAD", "--", "sdnet"],
            capture_output=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return commit
    return f"{commit}+dirty" if diff.returncode == 1 else commit


@dataclass(frozen=True)
class Provenance:
    """Where a result came from, enough to reproduce it.

    Attributes
    ----------
    model_path : str
        The model file as given (a path).
    model_sha256 : str
        SHA-256 of the model file's bytes: the same hash names the translation cache.
    seed : int or None
        Seed of the random sampling that produced the result (None for a single run).
    spec : dict
        The settings of the run or study (JSON-serialisable: names, values, options).
    versions : dict
        Versions of sdnet, pysd, numpy, scipy, SALib, pandas, xarray and python.
    git_commit : str or None
        Commit of the sdnet checkout when it runs from one, with ``+dirty`` appended when the
        package's tracked files differ from it.
    created : str
        ISO 8601 UTC time the result was made.
    """

    model_path: str
    model_sha256: str
    seed: int | None = None
    spec: Mapping[str, Any] = field(default_factory=dict)
    versions: Mapping[str, str] = field(default_factory=dict)
    git_commit: str | None = None
    created: str = ""

    @classmethod
    def collect(
        cls,
        model_path: str | Path,
        model_sha256: str,
        *,
        seed: int | None = None,
        spec: Mapping[str, Any] | None = None,
    ) -> Provenance:
        """A provenance stamped now, with the installed versions and the git commit."""
        return cls(
            model_path=str(model_path),
            model_sha256=model_sha256,
            seed=seed,
            spec=dict(spec or {}),
            versions=dict(_library_versions()),
            git_commit=_git_commit(),
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (what ``provenance.json`` holds)."""
        return {
            "model_path": self.model_path,
            "model_sha256": self.model_sha256,
            "seed": self.seed,
            "spec": _jsonable(self.spec),
            "versions": dict(self.versions),
            "git_commit": self.git_commit,
            "created": self.created,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Provenance:
        """Inverse of :meth:`to_dict`."""
        return cls(
            model_path=str(data["model_path"]),
            model_sha256=str(data["model_sha256"]),
            seed=data.get("seed"),
            spec=dict(data.get("spec") or {}),
            versions=dict(data.get("versions") or {}),
            git_commit=data.get("git_commit"),
            created=str(data.get("created", "")),
        )


def _jsonable(value: Any) -> Any:
    """Turn mappings, sequences and numpy scalars into plain JSON values."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return value.item()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


@dataclass(frozen=True)
class State:
    """The value of every stock of a model at one time.

    Obtained from :meth:`RunResult.state_at` and passed to ``Model.run(initial_state=...)`` to
    start a run from it (e.g. "what if the push stops now", or the hysteresis test BR8).

    Attributes
    ----------
    time : float
        The model time of the state (model time units, Year for flexnet).
    values : Mapping
        Vensim stock name -> value; a subscripted stock maps to ``{element: value}``.
    """

    time: float
    values: Mapping[str, float | Mapping[str, float]]

    def __post_init__(self) -> None:
        if not math.isfinite(float(self.time)):
            raise InvalidValueError("time", self.time)
        frozen = {
            name: MappingProxyType(dict(v)) if isinstance(v, Mapping) else float(v)
            for name, v in self.values.items()
        }
        object.__setattr__(self, "time", float(self.time))
        object.__setattr__(self, "values", MappingProxyType(frozen))

    def __getitem__(self, name: str) -> float | Mapping[str, float]:
        for key in (name, *(k for k in self.values if python_name(k) == python_name(name))):
            if key in self.values:
                return self.values[key]
        raise UnknownVariableError(name, candidates=self.values, what="stock", where="this state")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return {
            "time": self.time,
            "values": {
                k: dict(v) if isinstance(v, Mapping) else v for k, v in self.values.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> State:
        """Inverse of :meth:`to_dict`."""
        return cls(time=float(data["time"]), values=dict(data["values"]))


class _ColumnIndex:
    """Resolve a user's name (Vensim or Python spelling, whole variable or one element)."""

    def __init__(self, columns: Iterable[str]) -> None:
        self.columns = list(columns)
        self.exact: dict[str, str] = {}
        self.bases: dict[str, list[str]] = {}
        for column in self.columns:
            base, _element = split_column(column)
            for spelling in (column.lower(), python_name(column)):
                self.exact.setdefault(spelling, column)
            for spelling in (base.lower(), python_name(base)):
                self.bases.setdefault(spelling, [])
                if column not in self.bases[spelling]:
                    self.bases[spelling].append(column)

    def lookup(self, name: str) -> tuple[list[str], bool]:
        """The columns ``name`` denotes, and whether it named one column (not a whole variable).

        Raises UnknownVariableError with close matches.
        """
        if name in self.columns:
            return [name], True
        key = str(name).strip()
        for spelling in (key.lower(), python_name(key)):
            if spelling in self.exact:
                return [self.exact[spelling]], True
            if spelling in self.bases:
                return list(self.bases[spelling]), False
        vensim = list(dict.fromkeys([*self.columns, *(split_column(c)[0] for c in self.columns)]))
        # suggest names in the spelling the user wrote
        looks_python = key == python_name(key)
        candidates = [python_name(c) for c in vensim] if looks_python else vensim
        raise UnknownVariableError(
            name, candidates=list(dict.fromkeys(candidates)), where="this result"
        )

    def resolve(self, name: str) -> list[str]:
        """The columns ``name`` denotes."""
        return self.lookup(name)[0]


@dataclass(frozen=True, eq=False)
class RunResult:
    """One simulation run.

    Attributes
    ----------
    frame : pandas.DataFrame
        Indexed by ``time``; one column per saved variable element, headed by its Vensim name
        (``"Members[Micro]"``, ``"Trust"``).
    units : Mapping[str, str]
        Vensim variable name (without subscripts) -> units as written in the model file.
    params : Mapping[str, float]
        The parameter values that were set for this run (Python name -> value), including those
        that came from a region preset or a push; defaults that were not changed are not listed.
    provenance : Provenance or None
        Where the run came from.
    stock_frame : pandas.DataFrame or None
        Every stock's values at every saved time (same index as ``frame``), kept so that
        :meth:`state_at` works whatever variables were saved. None when the producer did not
        record the stocks.
    flags : tuple of str
        What the numerical guard (:mod:`sdnet.numerics`) found suspicious: stocks outside
        their declared bounds, step-to-step see-saws of an unstable Euler step. Empty when
        the numbers look sound.

    Notes
    -----
    ``result["Total Members"]``, ``result["total_members"]`` and ``result["Members[Micro]"]``
    give a Series; a subscripted variable's bare name (``result["Members"]``) gives a DataFrame
    with one column per element. The frames are copies made at construction; treat them as
    read-only (``to_frame()`` returns a fresh copy).
    """

    frame: pd.DataFrame
    units: Mapping[str, str]
    params: Mapping[str, float]
    provenance: Provenance | None = None
    stock_frame: pd.DataFrame | None = None
    flags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "flags", tuple(str(f) for f in self.flags))
        frame = self.frame.copy()
        frame.index = frame.index.astype(float)
        frame.index.name = "time"
        object.__setattr__(self, "frame", frame)
        if self.stock_frame is not None:
            stocks = self.stock_frame.copy()
            stocks.index = stocks.index.astype(float)
            stocks.index.name = "time"
            object.__setattr__(self, "stock_frame", stocks)
        object.__setattr__(self, "units", MappingProxyType(dict(self.units)))
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        object.__setattr__(self, "_index", _ColumnIndex(frame.columns))

    @property
    def time(self) -> np.ndarray:
        """The saved times (model time units)."""
        return self.frame.index.to_numpy()

    @property
    def variables(self) -> list[str]:
        """The saved columns (Vensim names, one per subscript element)."""
        return list(self.frame.columns)

    def columns_of(self, name: str) -> list[str]:
        """The columns a name denotes (either spelling; a bare subscripted name gives all)."""
        return self._index.resolve(name)  # type: ignore[attr-defined]

    def __getitem__(self, name: str) -> pd.Series | pd.DataFrame:
        columns, one_column = self._index.lookup(name)  # type: ignore[attr-defined]
        if one_column or (len(columns) == 1 and split_column(columns[0])[1] is None):
            return self.frame[columns[0]].copy()
        return self.frame[columns].copy()

    def __contains__(self, name: object) -> bool:
        try:
            self.columns_of(str(name))
        except UnknownVariableError:
            return False
        return True

    def units_of(self, column: str) -> str:
        """Units of a column or variable (either spelling)."""
        base = split_column(self.columns_of(column)[0])[0]
        return self.units.get(base, "")

    def to_frame(self) -> pd.DataFrame:
        """A copy of the table: index ``time``, columns Vensim names."""
        return self.frame.copy()

    def to_xarray(self) -> xr.Dataset:
        """The run as a Dataset with ``outputs`` (time, variable) and ``units`` on ``variable``."""
        import xarray as xr

        columns = list(self.frame.columns)
        dataset = xr.Dataset(
            {"outputs": (("time", "variable"), self.frame.to_numpy(dtype=float))},
            coords={
                "time": self.frame.index.to_numpy(),
                "variable": columns,
                "units": ("variable", [self.units.get(split_column(c)[0], "") for c in columns]),
            },
        )
        dataset.attrs["params"] = json.dumps(dict(self.params))
        if self.provenance is not None:
            dataset.attrs["provenance"] = json.dumps(self.provenance.to_dict())
        return dataset

    def state_at(self, time: float) -> State:
        """The value of every stock at a saved ``time``.

        Parameters
        ----------
        time : float
            A saved time of this run (model time units); matched within 1e-9 of the time step
            grid.

        Raises
        ------
        SdnetError
            If the run did not record its stocks.
        InvalidValueError
            If ``time`` is not one of the saved times.
        """
        if self.stock_frame is None:
            raise SdnetError(
                "this result does not record the stocks' values, so it cannot give a state; "
                "use a result of Model.run"
            )
        import numpy as np

        times = self.stock_frame.index.to_numpy()
        try:
            wanted = float(time)
        except (TypeError, ValueError):
            raise InvalidValueError("time", time) from None
        hits = np.flatnonzero(np.isclose(times, wanted, rtol=0.0, atol=1e-9))
        if not math.isfinite(wanted) or hits.size == 0:
            raise InvalidValueError(
                "time",
                time,
                expected=f"one of the saved times, from {times[0]:g} to {times[-1]:g} "
                f"every {(times[1] - times[0]) if times.size > 1 else 0:g}",
            )
        row = self.stock_frame.iloc[int(hits[0])]
        values: dict[str, Any] = {}
        for column, value in row.items():
            base, element = split_column(str(column))
            if element is None:
                values[base] = float(value)
            else:
                values.setdefault(base, {})[element] = float(value)
        return State(time=float(times[hits[0]]), values=values)


@dataclass(frozen=True, eq=False)
class EnsembleResult:
    """Many runs of one model.

    Attributes
    ----------
    dataset : xarray.Dataset
        ``outputs`` (run, time, variable) float64 with coordinate ``units`` on ``variable``
        (Vensim column names); ``status`` (run) str, ``"ok"`` or ``"failed"``; ``failure`` (run)
        str, which variable went non-finite at what time (empty when ok); optionally
        ``numerics`` (run) str, what the numerical guard found in the run (empty when nothing),
        and the attribute ``numerical_flags`` (JSON list of the guard's summary lines).
    factors : pandas.DataFrame
        The sampled inputs: index ``run``, one column per factor (Python names).
    provenance : Provenance or None
        Where the ensemble came from.
    """

    dataset: xr.Dataset
    factors: pd.DataFrame
    provenance: Provenance | None = None

    def __post_init__(self) -> None:
        missing = [v for v in ("outputs", "status", "failure") if v not in self.dataset]
        if missing:
            raise SdnetError(f"an ensemble dataset needs the variables {', '.join(missing)}")
        dims = tuple(self.dataset["outputs"].dims)
        if dims != ("run", "time", "variable"):
            raise SdnetError(f"ensemble outputs must have dims (run, time, variable), not {dims}")
        n_runs = self.dataset.sizes["run"]
        if len(self.factors) != n_runs:
            raise SdnetError(
                f"the factor table has {len(self.factors)} rows for {n_runs} runs"
            )
        factors = self.factors.copy()
        factors.index.name = "run"
        object.__setattr__(self, "factors", factors)
        columns = [str(v) for v in self.dataset["variable"].to_numpy()]
        object.__setattr__(self, "_index", _ColumnIndex(columns))

    @classmethod
    def from_outputs(
        cls,
        times: np.ndarray,
        outputs: Mapping[str, np.ndarray],
        *,
        units: Mapping[str, str],
        factors: pd.DataFrame,
        status: np.ndarray | None = None,
        failures: Iterable[tuple[int, str, float]] = (),
        provenance: Provenance | None = None,
    ) -> EnsembleResult:
        """Build an ensemble from per-column arrays (what the engine's ``Simulation`` holds).

        Parameters
        ----------
        times : ndarray (n_time,)
            Saved times.
        outputs : Mapping[str, ndarray (n_runs, n_time)]
            Vensim column name -> values.
        units : Mapping[str, str]
            Vensim variable name (or column name) -> units.
        factors : DataFrame
            One row per run.
        status : ndarray (n_runs,) of bool, optional
            True where the run is ok; all ok when omitted.
        failures : iterable of (run, variable, time)
            What went wrong in failed runs.
        provenance : Provenance, optional
        """
        import numpy as np

        columns = list(outputs)
        stacked = (
            np.stack([np.asarray(outputs[c], dtype=float) for c in columns], axis=-1)
            if columns
            else np.empty((len(factors), len(times), 0))
        )
        return cls.from_array(
            times,
            stacked,
            columns=columns,
            units=units,
            factors=factors,
            status=status,
            failures=failures,
            provenance=provenance,
        )

    @classmethod
    def from_array(
        cls,
        times: np.ndarray,
        values: np.ndarray,
        *,
        columns: Sequence[str],
        units: Mapping[str, str],
        factors: pd.DataFrame,
        status: np.ndarray | None = None,
        failures: Iterable[tuple[int, str, float]] = (),
        provenance: Provenance | None = None,
    ) -> EnsembleResult:
        """Build an ensemble from one (n_runs, n_time, n_columns) array, without copying it.

        ``failures`` entries are (run, variable, time); a NaN time means the run failed as a
        whole and ``variable`` holds the reason.
        """
        import numpy as np
        import xarray as xr

        n_runs = len(factors)
        ok = np.ones(n_runs, dtype=bool) if status is None else np.asarray(status, dtype=bool)
        failure = [""] * n_runs
        for run, variable, when in failures:
            if not failure[int(run)]:
                failure[int(run)] = (
                    str(variable)
                    if not np.isfinite(when)
                    else f"{variable} non-finite at time {float(when):g}"
                )
        dataset = xr.Dataset(
            {
                "outputs": (("run", "time", "variable"), np.asarray(values, dtype=float)),
                "status": ("run", np.where(ok, "ok", "failed").astype(object)),
                "failure": ("run", np.array(failure, dtype=object)),
            },
            coords={
                "run": np.arange(n_runs),
                "time": np.asarray(times, dtype=float),
                "variable": list(columns),
                "units": (
                    "variable",
                    [units.get(c, units.get(split_column(c)[0], "")) for c in columns],
                ),
            },
        )
        return cls(dataset=dataset, factors=factors.reset_index(drop=True), provenance=provenance)

    @property
    def variables(self) -> list[str]:
        """The saved columns (Vensim names)."""
        return list(self._index.columns)  # type: ignore[attr-defined]

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask (run,) of the runs that finished with finite values."""
        return (self.dataset["status"] == "ok").to_numpy()

    @property
    def flags(self) -> tuple[str, ...]:
        """The numerical guard's findings over all runs, one line each (empty: none)."""
        return tuple(json.loads(self.dataset.attrs.get("numerical_flags", "[]")))

    @property
    def flagged(self) -> np.ndarray:
        """Boolean mask (run,) of the runs in which the numerical guard found something."""
        import numpy as np

        if "numerics" not in self.dataset:
            return np.zeros(self.dataset.sizes["run"], dtype=bool)
        return np.array([bool(str(v)) for v in self.dataset["numerics"].to_numpy()])

    def with_flags(self, per_run: Sequence[str], summary: Sequence[str]) -> EnsembleResult:
        """A copy carrying the numerical guard's per-run findings and summary lines."""
        import numpy as np

        dataset = self.dataset.copy()
        dataset["numerics"] = ("run", np.array([str(v) for v in per_run], dtype=object))
        dataset.attrs["numerical_flags"] = json.dumps(list(summary))
        return EnsembleResult(dataset=dataset, factors=self.factors, provenance=self.provenance)

    def outputs(self, name: str) -> xr.DataArray:
        """The trajectories of one column (run, time); either spelling.

        A subscripted variable's bare name gives (run, time, variable) over its elements.
        """
        columns, one_column = self._index.lookup(name)  # type: ignore[attr-defined]
        if one_column or (len(columns) == 1 and split_column(columns[0])[1] is None):
            return self.dataset["outputs"].sel(variable=columns[0])
        return self.dataset["outputs"].sel(variable=columns)

    def to_xarray(self) -> xr.Dataset:
        """A copy of the dataset."""
        return self.dataset.copy()

    def to_frame(self) -> pd.DataFrame:
        """Long (tidy) table: columns ``run``, ``time``, ``variable``, ``value``, ``status``."""
        import numpy as np
        import pandas as pd

        values = self.dataset["outputs"].to_numpy()
        n_runs, n_time, n_var = values.shape
        runs = self.dataset["run"].to_numpy()
        status = self.dataset["status"].to_numpy()
        return pd.DataFrame(
            {
                "run": np.repeat(runs, n_time * n_var),
                "time": np.tile(np.repeat(self.dataset["time"].to_numpy(), n_var), n_runs),
                "variable": np.tile(np.asarray(self.variables, dtype=object), n_runs * n_time),
                "value": values.reshape(-1),
                "status": np.repeat(status, n_time * n_var),
            }
        )

    def save(self, path: str | Path, *, dtype: str = "float64") -> Path:
        """Write the ensemble (factors and provenance included); return ``path``.

        A path ending in ``.zarr`` gets a Zarr store (chunked, compressed, see
        :mod:`sdnet.store`; ``dtype="float32"`` halves it), any other a NetCDF file.
        """
        path = Path(path)
        if path.suffix == ".zarr":
            from sdnet.store import write_ensemble

            path.parent.mkdir(parents=True, exist_ok=True)
            return write_ensemble(self, path, dtype=dtype)
        dataset = self.dataset.copy()
        if dtype != "float64":
            dataset["outputs"] = dataset["outputs"].astype(dtype)
        for column in self.factors.columns:
            dataset[f"{_FACTOR_PREFIX}{column}"] = ("run", self.factors[column].to_numpy())
        dataset.attrs["factor_names"] = json.dumps([str(c) for c in self.factors.columns])
        if self.provenance is not None:
            dataset.attrs["provenance"] = json.dumps(self.provenance.to_dict())
        for name in ("status", "failure", "numerics", "units", "variable"):
            if name in dataset.variables:
                dataset[name] = dataset[name].astype(str)
        path.parent.mkdir(parents=True, exist_ok=True)
        # written beside it, then renamed: a writer killed midway leaves no half file
        partial = path.with_name(f".{path.name}.partial")
        dataset.to_netcdf(partial, engine="netcdf4")
        partial.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> EnsembleResult:
        """Read an ensemble written by :meth:`save`, :class:`EnsembleWriter` or
        ``sdnet ensemble``: a Zarr store (``.zarr`` folder) or a NetCDF file.

        Raises
        ------
        ResultFileError
            The file is missing, a folder that is not a Zarr store, not NetCDF, cut short (a
            half-written file or a store with blocks missing) or not an sdnet ensemble.
        """
        import xarray as xr

        from sdnet.errors import ResultFileError

        path = Path(path)
        if not path.exists():
            raise ResultFileError(f"ensemble file not found: {path}", path=path)
        if path.is_dir():
            from sdnet.store import EnsembleStore, is_store

            if is_store(path):
                return EnsembleStore.open(path, mode="r").read()
            raise ResultFileError(f"{path} is a folder, not an ensemble file (give the .zarr "
                                  "store or .nc file that `sdnet ensemble` or "
                                  "EnsembleResult.save wrote)", path=path)
        try:
            with xr.open_dataset(path, engine="netcdf4") as opened:
                dataset = opened.load()
        except (OSError, ValueError, RuntimeError) as error:
            reason = getattr(error, "strerror", None) or str(error)
            raise ResultFileError(
                f"cannot read ensemble file {path}: it is not a NetCDF file or was cut short "
                f"({reason}); write it again (`sdnet ensemble`, EnsembleResult.save)",
                path=path) from error
        try:
            return cls._from_dataset(dataset)
        except (KeyError, ValueError, TypeError, SdnetError) as error:
            raise ResultFileError(
                f"{path} is a NetCDF file but not an sdnet ensemble ({type(error).__name__}: "
                f"{error}); give the file `sdnet ensemble` or EnsembleResult.save wrote",
                path=path) from error

    @classmethod
    def _from_dataset(cls, dataset: Any) -> EnsembleResult:
        import pandas as pd

        for name in ("outputs", "status", "failure"):
            if name not in dataset.variables:
                raise KeyError(f"no {name!r} variable")
        names = json.loads(dataset.attrs.pop("factor_names", "[]"))
        factors = pd.DataFrame(
            {name: dataset[f"{_FACTOR_PREFIX}{name}"].to_numpy() for name in names},
            index=pd.RangeIndex(dataset.sizes["run"], name="run"),
        )
        dataset = dataset.drop_vars([f"{_FACTOR_PREFIX}{name}" for name in names])
        provenance_json = dataset.attrs.pop("provenance", None)
        provenance = (
            Provenance.from_dict(json.loads(provenance_json)) if provenance_json else None
        )
        for name in ("status", "failure", "numerics"):
            if name in dataset:
                dataset[name] = dataset[name].astype(object)
        return cls(dataset=dataset, factors=factors, provenance=provenance)


class EnsembleWriter:
    """Append the parts of a large ensemble to one NetCDF file as they finish.

    Memory then holds one part at a time, however many runs the ensemble has (a 10^6-run
    ensemble of flexnet's key variables would need about 9 GB in memory). The file has the
    layout of :meth:`EnsembleResult.save`, so :meth:`EnsembleResult.load` reads it. Use it as a
    context manager; the file is complete when it closes.

    Parameters
    ----------
    path : str or Path
        The NetCDF file to write (its folder is created).
    provenance : Provenance, optional
        Written into the file's attributes when it closes.
    """

    def __init__(self, path: str | Path, *, provenance: Provenance | None = None) -> None:
        self.path = Path(path)
        self.provenance = provenance
        self._file: Any = None
        self._runs = 0
        self._factor_names: list[str] = []
        #: the numerical guard's summary lines of the parts written so far (distinct)
        self.flags: list[str] = []

    def __enter__(self) -> EnsembleWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def n_runs(self) -> int:
        """Runs written so far."""
        return self._runs

    def _open(self, part: EnsembleResult) -> None:
        import netCDF4

        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = netCDF4.Dataset(self.path, "w", format="NETCDF4")
        n_time, n_var = part.dataset.sizes["time"], part.dataset.sizes["variable"]
        handle.createDimension("run", None)
        handle.createDimension("time", n_time)
        handle.createDimension("variable", n_var)
        handle.createVariable("run", "i8", ("run",))
        handle.createVariable("time", "f8", ("time",))[:] = part.dataset["time"].to_numpy()
        names = handle.createVariable("variable", str, ("variable",))
        units = handle.createVariable("units", str, ("variable",))
        for index, column in enumerate(part.variables):
            names[index] = column
            units[index] = str(part.dataset["units"].to_numpy()[index])
        outputs = handle.createVariable(
            "outputs", "f8", ("run", "time", "variable"),
            chunksizes=(max(1, min(4096, len(part.factors))), n_time, n_var),
        )
        outputs.coordinates = "units"  # read back as a coordinate, as xarray writes it
        handle.createVariable("status", str, ("run",))
        handle.createVariable("failure", str, ("run",))
        handle.createVariable("numerics", str, ("run",))
        self._factor_names = [str(c) for c in part.factors.columns]
        for name in self._factor_names:
            handle.createVariable(f"{_FACTOR_PREFIX}{name}", "f8", ("run",))
        handle.factor_names = json.dumps(self._factor_names)
        self._file = handle

    def append(self, part: EnsembleResult) -> None:
        """Write the runs of ``part`` after those already written (their run numbers follow)."""
        import numpy as np

        if self._file is None:
            self._open(part)
        elif [str(c) for c in part.factors.columns] != self._factor_names:
            raise SdnetError("every part of an ensemble must vary the same factors")
        handle = self._file
        count = len(part.factors)
        where = slice(self._runs, self._runs + count)
        handle["run"][where] = np.arange(self._runs, self._runs + count)
        handle["outputs"][where] = part.dataset["outputs"].to_numpy()
        handle["status"][where] = np.asarray(part.dataset["status"].to_numpy(), dtype=object)
        handle["failure"][where] = np.asarray(part.dataset["failure"].to_numpy(), dtype=object)
        numerics = (part.dataset["numerics"].to_numpy() if "numerics" in part.dataset
                    else np.full(count, "", dtype=object))
        handle["numerics"][where] = np.asarray(numerics, dtype=object)
        self.flags.extend(f for f in part.flags if f not in self.flags)
        for name in self._factor_names:
            handle[f"{_FACTOR_PREFIX}{name}"][where] = part.factors[name].to_numpy(dtype=float)
        self._runs += count

    def close(self) -> None:
        """Write the provenance and close the file (nothing happens if nothing was written)."""
        if self._file is None:
            return
        if self.provenance is not None:
            self._file.provenance = json.dumps(self.provenance.to_dict())
        self._file.numerical_flags = json.dumps(self.flags)
        self._file.close()
        self._file = None
