"""Ensembles on disk as Zarr: chunked, compressed, written block by block, resumable.

A large ensemble does not fit in memory (10^6 runs of flexnet's key variables are 8.7 GB as
float64) and a NetCDF file is written by one process, in order. A Zarr store is a folder of
independently compressed chunks: each block of runs is one chunk of every array, so blocks are
written as they finish, in any order and by any process that sees the folder, and a store
left by a killed run says which blocks it holds (``done``), so a rerun skips them.

Layout of ``NAME.zarr`` (Zarr format 3; every array names its dimensions, so
``xarray.open_zarr`` reads it too)::

    outputs   (run, time, variable)  float64, or float32 on request; one chunk per block
    ok        (run,)                 bool: the run finished with finite values
    failure   (run,)                 str: which variable went non-finite at what time
    numerics  (run,)                 str: what the numerical guard found ("" for nothing)
    factors   (run, factor)          float64: the sampled inputs (Python names in ``factor``)
    time, variable, units, factor    coordinates
    done      (block,)               bool: the block's runs are written (set last)

Attributes: ``sdnet_ensemble`` (format), ``identity`` (what the runs are: a rerun with another
identity starts over), ``block_size``, ``n_runs``, and, when finished, ``provenance`` and
``numerical_flags`` (JSON). Blosc LZ4 with byte shuffle compresses flexnet's trajectories about
3.3 times (float64) and 6.7 times (float32) at over 1 GB/s per core.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sdnet.errors import ResultFileError, SdnetError

if TYPE_CHECKING:
    from sdnet.results import EnsembleResult, Provenance

__all__ = [
    "DTYPES",
    "FORMAT",
    "Block",
    "EnsembleStore",
    "blocks",
    "estimate_bytes",
    "is_store",
    "write_ensemble",
]

#: Version of the layout above (the ``sdnet_ensemble`` attribute).
FORMAT = 1
#: Storage types of the outputs: float64 keeps every bit; float32 halves the disk (7 digits).
DTYPES = ("float64", "float32")
#: Bytes per run besides the outputs: status, the factor table's row, string headers.
_RUN_OVERHEAD = 24


def _compressor() -> Any:
    from zarr.codecs import BloscCodec

    return BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")


def estimate_bytes(n_runs: int, n_time: int, n_columns: int, n_factors: int, *,
                   dtype: str = "float64") -> int:
    """Bytes an ensemble needs on disk at most: its arrays uncompressed (compression usually
    divides this by 3 to 7, but random-looking trajectories may not compress)."""
    item = np.dtype(dtype).itemsize
    per_run = n_time * n_columns * item + n_factors * 8 + _RUN_OVERHEAD
    return int(n_runs) * per_run + 2**20


def is_store(path: str | Path) -> bool:
    """True when ``path`` is a Zarr store (a folder holding ``zarr.json``)."""
    path = Path(path)
    return path.is_dir() and (path / "zarr.json").is_file()


@dataclass(frozen=True)
class Block:
    """One block of runs: ``index`` in the store, runs ``start`` to ``stop`` (excluded)."""

    index: int
    start: int
    stop: int

    @property
    def size(self) -> int:
        """Runs in the block."""
        return self.stop - self.start


def blocks(n_runs: int, block_size: int) -> list[Block]:
    """The blocks of ``n_runs`` runs, ``block_size`` each (the last one shorter)."""
    count = max(1, math.ceil(n_runs / block_size))
    return [Block(k, k * block_size, min(n_runs, (k + 1) * block_size)) for k in range(count)]


class EnsembleStore:
    """A Zarr store of one ensemble, open for writing blocks or reading (see module doc).

    Use :meth:`create` for a new store, :meth:`open` for an existing one.
    """

    def __init__(self, group: Any, path: Path) -> None:
        self._group = group
        self.path = path
        self._arrays: dict[str, Any] = {}

    # -- making and opening ----------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        times: np.ndarray,
        columns: Sequence[str],
        units: Sequence[str],
        factor_names: Sequence[str],
        n_runs: int,
        block_size: int,
        dtype: str = "float64",
        identity: str = "",
    ) -> EnsembleStore:
        """A new, empty store at ``path`` (replacing whatever store was there).

        Parameters
        ----------
        times : ndarray (n_time,)
            Saved times (model time units).
        columns, units : sequences of str
            Saved columns (Vensim names) and their units.
        factor_names : sequence of str
            The factor table's columns (Python names).
        n_runs, block_size : int
            Runs in the ensemble; runs per block (one chunk of every array).
        dtype : {"float64", "float32"}
            Storage type of the outputs.
        identity : str
            What the runs are (a hash of model, settings and factors): :meth:`open` callers
            compare it before resuming.
        """
        import zarr

        if dtype not in DTYPES:
            from sdnet.errors import InvalidValueError

            raise InvalidValueError("dtype", dtype, expected=f"one of {', '.join(DTYPES)}")
        path = Path(path)
        group = zarr.open_group(str(path), mode="w", zarr_format=3)
        n_time, n_var, n_fac = len(times), len(columns), len(factor_names)
        block = max(1, min(int(block_size), int(n_runs)))
        n_blocks = len(blocks(n_runs, block))
        compressor = _compressor()
        group.create_array("outputs", shape=(n_runs, n_time, n_var), chunks=(block, n_time,
                           max(1, n_var)), dtype=dtype, compressors=compressor,
                           dimension_names=("run", "time", "variable"), fill_value=np.nan)
        group.create_array("factors", shape=(n_runs, n_fac), chunks=(block, max(1, n_fac)),
                           dtype="float64", compressors=compressor,
                           dimension_names=("run", "factor"), fill_value=np.nan)
        group.create_array("ok", shape=(n_runs,), chunks=(block,), dtype="bool",
                           dimension_names=("run",), fill_value=False)
        for name in ("failure", "numerics"):
            group.create_array(name, shape=(n_runs,), chunks=(block,), dtype=str,
                               dimension_names=("run",))
        group.create_array("done", shape=(n_blocks,), chunks=(1,), dtype="bool",
                           dimension_names=("block",), fill_value=False)
        _coordinate(group, "time", np.asarray(times, dtype="float64"), "time")
        _coordinate(group, "run", np.arange(n_runs, dtype="int64"), "run", chunk=block)
        _coordinate(group, "variable", np.array(list(columns), dtype=str), "variable")
        _coordinate(group, "units", np.array(list(units), dtype=str), "variable")
        _coordinate(group, "factor", np.array(list(factor_names), dtype=str), "factor")
        group.attrs.update({
            "sdnet_ensemble": FORMAT, "identity": identity, "block_size": block,
            "n_runs": int(n_runs), "dtype": dtype, "coordinates": "units",
        })
        return cls(group, path)

    @classmethod
    def open(cls, path: str | Path, *, mode: str = "r+") -> EnsembleStore:
        """An existing store (``mode="r"`` to read only).

        Raises
        ------
        ResultFileError
            ``path`` is not a Zarr store sdnet wrote.
        """
        import zarr

        path = Path(path)
        if not is_store(path):
            raise ResultFileError(f"{path} is not a Zarr ensemble store (no zarr.json in it); "
                                  "give the .zarr folder `sdnet ensemble` wrote", path=path)
        try:
            group = zarr.open_group(str(path), mode=mode)
            version = group.attrs.get("sdnet_ensemble")
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ResultFileError(f"cannot read the Zarr store {path}: {error}",
                                  path=path) from error
        if version != FORMAT:
            raise ResultFileError(
                f"{path} is a Zarr store but not an sdnet ensemble of format {FORMAT} "
                f"(sdnet_ensemble attribute: {version!r})", path=path)
        return cls(group, path)

    # -- what it holds ---------------------------------------------------------------------

    def _array(self, name: str) -> Any:
        if name not in self._arrays:
            # every chunk is written, even one equal to the fill value: zarr's test for that
            # is a quarter of the time of writing a block of outputs (the values read back
            # are the same either way)
            self._arrays[name] = self._group[name].with_config({"write_empty_chunks": True})
        return self._arrays[name]

    @property
    def identity(self) -> str:
        """What the runs are (see :meth:`create`)."""
        return str(self._group.attrs.get("identity", ""))

    @property
    def n_runs(self) -> int:
        """Runs the store has room for."""
        return int(self._group.attrs["n_runs"])

    @property
    def block_size(self) -> int:
        """Runs per block."""
        return int(self._group.attrs["block_size"])

    @property
    def dtype(self) -> str:
        """Storage type of the outputs."""
        return str(self._group.attrs.get("dtype", "float64"))

    @property
    def finished(self) -> bool:
        """True once :meth:`finish` has recorded the provenance and the guard's findings."""
        return "numerical_flags" in self._group.attrs

    def blocks(self) -> list[Block]:
        """Every block of the store."""
        return blocks(self.n_runs, self.block_size)

    def done(self) -> np.ndarray:
        """Boolean mask (block,) of the blocks written completely."""
        return np.asarray(self._array("done")[:], dtype=bool)

    # -- writing ---------------------------------------------------------------------------

    def write_block(
        self,
        block: Block,
        *,
        values: np.ndarray,
        ok: np.ndarray,
        failure: Sequence[str],
        numerics: Sequence[str],
        factors: np.ndarray,
    ) -> None:
        """Write the runs of one block, then mark it done (a block killed midway is not)."""
        where = slice(block.start, block.stop)
        self._array("outputs")[where] = np.asarray(values, dtype=self.dtype)
        self._array("factors")[where] = np.asarray(factors, dtype="float64")
        self._array("ok")[where] = np.asarray(ok, dtype=bool)
        self._array("failure")[where] = np.array(list(failure), dtype=str)
        self._array("numerics")[where] = np.array(list(numerics), dtype=str)
        self._array("done")[block.index] = True

    def finish(self, *, provenance: Provenance | None, flags: Sequence[str]) -> None:
        """Record the provenance and the numerical guard's summary lines (the store is then
        complete)."""
        missing = int((~self.done()).sum())
        if missing:
            raise SdnetError(f"{self.path} still lacks {missing} block(s) of runs")
        attrs: dict[str, Any] = {"numerical_flags": json.dumps(list(flags))}
        if provenance is not None:
            attrs["provenance"] = json.dumps(provenance.to_dict())
        self._group.attrs.update(attrs)

    # -- reading ---------------------------------------------------------------------------

    @property
    def provenance(self) -> Provenance | None:
        """The provenance :meth:`finish` recorded (None before)."""
        from sdnet.results import Provenance

        text = self._group.attrs.get("provenance")
        return Provenance.from_dict(json.loads(str(text))) if text else None

    @property
    def flags(self) -> tuple[str, ...]:
        """The numerical guard's summary lines :meth:`finish` recorded."""
        return tuple(json.loads(str(self._group.attrs.get("numerical_flags", "[]"))))

    def read(self, block: Block | None = None) -> EnsembleResult:
        """The whole ensemble (or one block, runs numbered from 0) in memory; outputs keep
        their storage type.

        Raises
        ------
        ResultFileError
            Blocks are missing (a run that did not finish) or an array cannot be read.
        """
        import pandas as pd
        import xarray as xr

        from sdnet.results import EnsembleResult

        where = slice(None) if block is None else slice(block.start, block.stop)
        count = self.n_runs if block is None else block.size
        if block is None and not self.done().all():
            missing = int((~self.done()).sum())
            raise ResultFileError(
                f"{self.path} lacks {missing} of {len(self.done())} blocks of runs (its run "
                "did not finish); run the same command again to complete it", path=self.path)
        try:
            group = self._group
            ok = np.asarray(group["ok"][where], dtype=bool)
            names = [str(v) for v in group["factor"][:]]
            factors = pd.DataFrame(np.asarray(group["factors"][where], dtype=float),
                                   columns=names, index=pd.RangeIndex(count, name="run"))
            dataset = xr.Dataset(
                {
                    "outputs": (("run", "time", "variable"), group["outputs"][where]),
                    "status": ("run", np.where(ok, "ok", "failed").astype(object)),
                    "failure": ("run", np.asarray(group["failure"][where]).astype(object)),
                    "numerics": ("run", np.asarray(group["numerics"][where]).astype(object)),
                },
                coords={
                    "run": np.arange(count),
                    "time": np.asarray(group["time"][:], dtype=float),
                    "variable": [str(v) for v in group["variable"][:]],
                    "units": ("variable", [str(v) for v in group["units"][:]]),
                },
            )
            dataset.attrs["numerical_flags"] = json.dumps(list(self.flags))
            provenance = self.provenance
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ResultFileError(f"cannot read the Zarr store {self.path}: {error}",
                                  path=self.path) from error
        return EnsembleResult(dataset=dataset, factors=factors, provenance=provenance)


def _coordinate(group: Any, name: str, values: np.ndarray, dimension: str, *,
                chunk: int | None = None) -> None:
    # strings as Zarr's variable-length string type (fixed-width ones have no v3 spec)
    dtype: Any = str if values.dtype.kind in "UO" else values.dtype
    array = group.create_array(name, shape=values.shape, dtype=dtype,
                               chunks=(chunk or max(1, values.shape[0]),),
                               dimension_names=(dimension,))
    if values.size:
        array[:] = values


def write_ensemble(ensemble: EnsembleResult, path: str | Path, *, dtype: str = "float64",
                   block_size: int = 10_000) -> Path:
    """Write a finished ensemble as a Zarr store at ``path`` (see the module doc)."""
    import numpy as np

    path = Path(path)
    data = ensemble.dataset
    n_runs = data.sizes["run"]
    store = EnsembleStore.create(
        path, times=data["time"].to_numpy(), columns=ensemble.variables,
        units=[str(u) for u in data["units"].to_numpy()],
        factor_names=[str(c) for c in ensemble.factors.columns], n_runs=n_runs,
        block_size=block_size, dtype=dtype)
    numerics = (data["numerics"].to_numpy() if "numerics" in data
                else np.full(n_runs, "", dtype=object))
    outputs = data["outputs"].to_numpy()
    failure = data["failure"].to_numpy()
    factors = ensemble.factors.to_numpy(dtype=float)
    for block in store.blocks():
        where = slice(block.start, block.stop)
        store.write_block(block, values=outputs[where], ok=ensemble.ok[where],
                          failure=[str(v) for v in failure[where]],
                          numerics=[str(v) for v in numerics[where]], factors=factors[where])
    store.finish(provenance=ensemble.provenance, flags=ensemble.flags)
    return path

