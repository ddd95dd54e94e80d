"""``sdnet ensemble MODEL``: draw N parameter sets and run them all at once."""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any

from sdnet.commands._options import (
    cluster_option,
    export_list,
    output_folder,
    variable_list,
)

HELP = ("run N Latin-hypercube parameter sets (vectorized engine); write ensemble.zarr and "
        "the factor table")
ORDER = 40
DESCRIPTION = (
    "Draw N parameter sets by Latin hypercube within the declared ranges of the named "
    "constants (or of every constant with a declared range), run them all on the vectorized "
    "engine (or PySD, one run at a time) and write DIR/ensemble.zarr (a Zarr store: run x "
    "time x variable, chunked and compressed, with units, per-run status and provenance; "
    "EnsembleResult.load and xarray.open_zarr read it) and the factor table (run, then one "
    "column per factor): DIR/factors.csv, or DIR/factors.parquet from 20,000 runs. The disk "
    "space the ensemble needs is printed before it starts and checked against the free space. "
    "Blocks of runs are written as they finish; an interrupted ensemble leaves DIR as it was "
    "and keeps its finished blocks beside it, so the same command resumes. --cluster runs the "
    "blocks on a dask cluster. Rerunning the same command replaces DIR's ensemble; a folder "
    "holding files sdnet did not write is refused, and another output (an ensemble with other "
    "settings, a study) is replaced only with --overwrite (only the files sdnet wrote there "
    "are removed)."
)
EPILOG = """examples:
  sdnet ensemble models/flexnet/flexnet.mdl --samples 10000 --seed 1 --out out/ens
  sdnet ensemble models/flexnet/flexnet.mdl --samples 1000000 --dtype float32 --out out/big
  sdnet ensemble models/flexnet/flexnet.mdl --samples 100000 --cluster local:2 --out out/ens
  sdnet ensemble models/flexnet/flexnet.mdl --samples 200 --seed 7 \\
      --factors push_duration,sponsor_recruitment_rate --region typical --engine pysd \\
      --export netcdf,csv
"""

__all__ = ["DESCRIPTION", "EPILOG", "HELP", "ORDER", "add_arguments", "run"]

#: From this many runs the factor table is written as Parquet (a CSV of 10^6 runs of flexnet's
#: 54 factors is 1 GB and takes minutes to write; the Parquet file is a third of it, in
#: seconds).
PARQUET_ROWS = 20_000
#: What --export can add beside ensemble.zarr.
EXPORTS = ("netcdf", "csv")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``sdnet ensemble``."""
    parser.add_argument("model", help="path of a Vensim .mdl file")
    parser.add_argument("--samples", type=int, required=True, metavar="N", help="runs to draw")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    parser.add_argument(
        "--factors",
        metavar="NAME,...",
        help="constants to vary (default: every constant with a declared range, except the "
        "region descriptors when --region is given)",
    )
    parser.add_argument("--region", help="region preset applied to every run")
    parser.add_argument(
        "--engine", choices=("auto", "vector", "numba", "numpy", "pysd"), default="auto",
        help="auto (default): the vectorized engine, or PySD in worker processes for a model "
        "it cannot compile (with a warning); vector: the engine only (its numba kernel where "
        "numba is installed and compiles the model, else numpy); numba, numpy: the engine on "
        "that backend only (the same numbers); pysd: PySD only",
    )
    parser.add_argument("--method", choices=("euler", "rk4"), default="euler")
    parser.add_argument("--vars", type=variable_list, metavar="all|NAME,...",
                        help="variables to keep: 'all' or names separated by commas")
    parser.add_argument("--final-time", type=float, metavar="T")
    parser.add_argument("--saveper", type=float, metavar="DT", help="save step (model time)")
    parser.add_argument("--out", type=output_folder, default="out/ensemble", metavar="DIR",
                        help="output folder")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace another output found in DIR (only the files sdnet wrote "
                        "there are removed)")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                        help="storage type of the trajectories: float64 (default, every bit) "
                        "or float32 (half the disk, 7 significant digits)")
    parser.add_argument("--export", type=export_list, default=(), metavar="netcdf,csv",
                        help="also write ensemble.nc (netcdf) and/or trajectories.csv with "
                        "factors.csv (csv)")
    parser.add_argument("--cluster", type=cluster_option, default=None,
                        metavar="local:N|tcp://HOST:PORT",
                        help="run blocks of runs on a dask cluster: a LocalCluster of N "
                        "worker processes, or the scheduler at that address (needs "
                        "sdnet[scale]; docs/scaling.md)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--timings", action="store_true",
                        help="print where the time went: the command, the engine (summed over "
                        "blocks), the numerical guard, waiting for the writer")


def run(args: argparse.Namespace) -> int:
    """Draw, check the disk, run block by block into the store, export; print a summary."""
    import threading

    from sdnet import outputs
    from sdnet.designs import LatinHypercube
    from sdnet.errors import InvalidValueError
    from sdnet.model import load_model
    from sdnet.numerics import warn as warn_numerics
    from sdnet.runner import choose_engine, ranged_factors
    from sdnet.scheduler import plan_job

    started = time.perf_counter()
    if args.samples < 1:
        raise InvalidValueError("--samples", args.samples, expected="a positive integer")
    model = load_model(args.model, card=getattr(args, "card", None),
                       data_files=getattr(args, "data", None))
    names = None
    if args.factors is not None:
        names = [n.strip() for n in args.factors.split(",") if n.strip()]
    # a region preset fixes the region descriptors: do not sample them by default
    exclude = ("region",) if args.region else ()
    # the design is drawn block by block as the blocks run (10^6 runs of 56 factors are
    # 450 MB a copy); its strata are shuffled on a thread while the engine gets ready. The
    # factors are uniform over the declared ranges of the model's constants (ranged_factors
    # checked the names and ranges), so every value is valid by construction
    cube = LatinHypercube(ranged_factors(model, names, exclude_kinds=exclude), args.samples,
                          seed=args.seed)
    threading.Thread(target=cube.permutations, name="sdnet-strata", daemon=True).start()
    chosen = choose_engine(model, args.engine)  # one fallback warning, not one per block
    backend = args.engine if args.engine in ("numba", "numpy") else None
    if backend is None:  # a backend of the vector engine stays asked for
        args.engine = chosen
    job, columns, units = plan_job(
        model, cube.names, n_runs=len(cube), region=args.region, final_time=args.final_time,
        saveper=args.saveper, method=args.method, variables=args.vars, dtype=args.dtype,
        backend=backend)
    out = Path(args.out)
    settings = {key: getattr(args, key) for key in (
        "samples", "seed", "factors", "region", "engine", "method", "vars", "final_time",
        "saveper", "dtype")}
    identity = json.dumps({"model": str(model.path.resolve()), **settings,
                           **({"data": [str(f) for f in model.data_files]}
                              if model.data_files else {}),
                           "export": sorted(args.export)}, sort_keys=True)
    label = f"the ensemble of {model.path.name} ({args.samples} runs, seed {args.seed})"
    n_runs, n_factors = cube.shape
    needed = _disk_needed(n_runs, job, n_factors, args)
    free = outputs.check_disk_space(out, needed, what=label)
    print(f"{label}: {n_runs} runs x {job.times.size} times x {len(columns)} variables "
          f"({args.dtype}) need at most {_size(needed)} on disk ({_size(free)} free)",
          flush=True)
    factor_file = "factors.parquet" if n_runs >= PARQUET_ROWS else "factors.csv"
    with outputs.output_folder(out, kind="ensemble", identity=identity, label=label,
                               overwrite=args.overwrite) as staging:
        # the factor table does not depend on the runs: written on a thread meanwhile
        with _Background(_write_factors, cube, staging.path / factor_file) as factors_done:
            result = _run_store(model, cube, job, columns, units, staging, args)
            store_path = staging.path / "ensemble.zarr"
            result["store"].replace(store_path)
        factors_done()
        written = [factor_file, "ensemble.zarr"]
        if "netcdf" in args.export or "csv" in args.export:
            written += _export(store_path, staging.path, args.export, cube)
    if result["flagged"]:
        flags = result["flags"] or ["see the numerics variable of ensemble.zarr"]
        warn_numerics([f"the numerical guard flagged {result['flagged']} of {n_runs} runs "
                       "(the numerics variable of ensemble.zarr says what in each): "
                       + flags[0], *flags[1:]], source=model.path.name)
    resumed = (f", {result['resumed']} of them kept from an interrupted attempt"
               if result["resumed"] else "")
    where = f" on {args.cluster}" if args.cluster else ""
    print(
        f"{n_runs} runs of {model.path.name} ({args.engine}, {args.method}{where}), "
        f"{n_factors} factors, {result['failed']} failed, {result['flagged']} flagged "
        f"by the numerical guard{resumed}"
    )
    print("wrote " + ", ".join(str(out / name) for name in dict.fromkeys(written)))
    if getattr(args, "timings", False):
        print(f"timings: {time.perf_counter() - started:.2f} s from loading the model to the "
              f"end, engine {result['engine_seconds']:.2f} s, numerical guard "
              f"{result['guard_seconds']:.2f} s, waiting for the writer "
              f"{result['writer_wait_seconds']:.2f} s (engine and guard summed over the "
              "blocks run now)")
    return 0


class _Background:
    """Run ``function(*args, stop=event)`` on a thread for the length of a ``with`` block.

    Leaving the block normally gives a callable that waits for the thread and raises its
    error; leaving it by an exception asks the thread to stop (``stop`` is set) and waits, so
    nothing writes into a folder that is being removed.
    """

    def __init__(self, function: Any, *args: Any) -> None:
        import threading

        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._target, args=(function, *args),
                                        name="sdnet-background", daemon=True)

    def _target(self, function: Any, *args: Any) -> None:
        try:
            function(*args, stop=self._stop)
        except BaseException as error:  # raised again in the caller's thread
            self._error = error

    def __enter__(self) -> Any:
        self._thread.start()
        return self.wait

    def wait(self) -> None:
        """Wait for the thread; raise what it raised."""
        self._thread.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def __exit__(self, kind: Any, *_: Any) -> None:
        if kind is not None:
            self._stop.set()
            self._thread.join()


def _frame(cube: Any, start: int, stop: int) -> Any:
    """Rows ``start`` to ``stop`` of the design as a factor table (index ``run``)."""
    import pandas as pd

    return pd.DataFrame(cube[start:stop], columns=cube.names,
                        index=pd.RangeIndex(start, stop, name="run"))


def _size(n_bytes: float) -> str:
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if n_bytes < 1000 or unit == "TB":
            return f"{n_bytes:.0f} {unit}" if unit == "bytes" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1000
    raise AssertionError("unreachable")


def _disk_needed(n_runs: int, job: Any, n_factors: int, args: argparse.Namespace) -> int:
    """Bytes at most: the store uncompressed, the factor table and the exports."""
    from sdnet.store import estimate_bytes

    n_time, n_cols = job.times.size, job.n_kept
    needed = estimate_bytes(n_runs, n_time, n_cols, n_factors, dtype=args.dtype)
    needed += n_runs * n_factors * (8 if n_runs >= PARQUET_ROWS else 24)
    if "netcdf" in args.export:
        needed += estimate_bytes(n_runs, n_time, n_cols, n_factors, dtype=args.dtype)
    if "csv" in args.export:
        needed += n_runs * (n_time * (n_cols + 2) * 24 + n_factors * 24)
    return needed


def _write_factors(cube: Any, file: Path, *, rows: int = 100_000,
                   stop: Any = None) -> None:
    """The factor table as CSV, or as Parquet written ``rows`` at a time from the design
    (never the whole table in memory). ``stop`` (a threading.Event) ends it early."""
    if file.suffix != ".parquet":
        _frame(cube, 0, len(cube)).to_csv(file, index_label="run")
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    try:
        for start in range(0, len(cube), rows):
            if stop is not None and stop.is_set():
                return
            part = pa.Table.from_pandas(_frame(cube, start, min(len(cube), start + rows)),
                                        preserve_index=True)
            if writer is None:
                # no dictionary encoding: sampled floats never repeat, and trying it was
                # five sixths of the writing time
                writer = pq.ParquetWriter(file, part.schema, compression="zstd",
                                          use_dictionary=False)
            writer.write_table(part)
    finally:
        if writer is not None:
            writer.close()


def _run_store(model: Any, cube: Any, job: Any, columns: list[str], units: dict[str, str],
               staging: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Run every block not yet in the work store (kept beside DIR, so a killed run resumes)
    and finish the store; return it with the counts."""
    import shutil

    from sdnet.numerics import summarize
    from sdnet.scheduler import BLOCK_SIZE, block_identity, local_executor, run_into_store
    from sdnet.store import EnsembleStore, is_store

    identity = block_identity(model, job, cube, extra=args.engine)
    path = staging.work_file("ensemble.zarr")
    store = None
    if is_store(path):
        try:
            found = EnsembleStore.open(path)
            if found.identity == identity and found.n_runs == len(cube):
                store = found
        except Exception:
            store = None
    if store is None:
        if path.exists():
            shutil.rmtree(path)  # sdnet's own work files (recorded in the work manifest)
        store = EnsembleStore.create(
            path, times=job.times, columns=columns, units=[units[c] for c in columns],
            factor_names=list(job.factor_names), n_runs=len(cube), block_size=BLOCK_SIZE,
            dtype=args.dtype, identity=identity)
    elif store.done().any():
        kept = sum(b.size for b in store.blocks() if store.done()[b.index])
        print(f"resuming: {kept} of {len(cube)} runs were written by an interrupted attempt "
              "(kept)", flush=True)
    bar = _progress(len(cube), enabled=not args.no_progress, engine=args.engine)
    seen = [0]

    def on_block(progress: Any) -> None:
        bar.update(progress.done - progress.resumed - seen[0])
        seen[0] = progress.done - progress.resumed

    with bar:
        if args.engine == "pysd":
            progress = _run_pysd(model, cube, job, store, args, on_block)
        elif args.cluster is not None:
            from sdnet.cluster import connect
            from sdnet.engine import compile_model

            with connect(args.cluster) as client:
                progress = run_into_store(
                    compile_model(model.path, data_files=model.data_files), job, store, cube,
                    executor=client, on_block=on_block)
        else:
            from sdnet.engine import compile_model

            progress = run_into_store(
                compile_model(model.path, data_files=model.data_files), job, store, cube,
                executor=local_executor(), on_block=on_block)
    flags = list(summarize(progress.findings, len(cube),
                           time_step=job.settings["time_step"]))
    provenance = _provenance(model, job, cube, args)
    store.finish(provenance=provenance, flags=flags)
    return {"store": path, "failed": progress.failed, "flagged": progress.flagged,
            "flags": flags, "resumed": progress.resumed,
            "engine_seconds": progress.engine_seconds, "guard_seconds": progress.guard_seconds,
            "writer_wait_seconds": progress.writer_wait_seconds}


def _provenance(model: Any, job: Any, cube: Any, args: argparse.Namespace) -> Any:
    from sdnet.results import Provenance

    spec = {"engine": args.engine, "method": args.method, "n_runs": len(cube),
            "factors": list(cube.names), "fixed": dict(job.base), **job.settings,
            "dtype": args.dtype, "cluster": str(args.cluster) if args.cluster else None}
    if model.data_files:
        from sdnet.files import file_sha256

        spec["data_files"] = {str(f): file_sha256(f) for f in model.data_files}
    return Provenance.collect(model.path, model.sha256, seed=args.seed, spec=spec)


def _run_pysd(model: Any, cube: Any, job: Any, store: Any, args: argparse.Namespace,
              on_block: Any) -> Any:
    """PySD runs (one at a time, in worker processes) block by block into the store."""
    from sdnet.numerics import NumericalWarning, check_trajectories
    from sdnet.runner import run_ensemble
    from sdnet.scheduler import BlockOutcome, Progress, write_outcome

    progress = Progress(total=len(cube))
    done = store.done()
    for block in store.blocks():
        if done[block.index]:
            progress.done += block.size
            progress.resumed += block.size
            continue
        part = _frame(cube, block.start, block.stop)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NumericalWarning)  # told once, for all blocks
            ensemble = run_ensemble(model, part, engine="pysd", region=args.region,
                                    final_time=args.final_time, saveper=args.saveper,
                                    variables=list(job.simulated[: job.n_kept]),
                                    progress=False, seed=args.seed)
        data = ensemble.dataset
        values = data["outputs"].to_numpy()
        findings = check_trajectories(job.times, values, job.simulated[: job.n_kept],
                                      bounds=job.bounds, stocks=job.stocks,
                                      runs=range(block.start, block.stop))
        outcome = BlockOutcome(block, ensemble.ok, [str(v) for v in data["failure"].values],
                               [str(v) for v in data["numerics"].values], findings,
                               values.astype(job.dtype), part.to_numpy(dtype=float))
        write_outcome(store, outcome)
        progress.done += block.size
        progress.failed += int((~ensemble.ok).sum())
        progress.flagged += int(ensemble.flagged.sum())
        progress.findings.extend(findings)
        on_block(progress)
    return progress


def _export(store_path: Path, folder: Path, formats: Any, cube: Any) -> list[str]:
    """NetCDF and CSV copies of the store, written block by block (memory: one block)."""
    from sdnet.results import EnsembleWriter
    from sdnet.store import EnsembleStore

    store = EnsembleStore.open(store_path, mode="r")
    written: list[str] = []
    writer = (EnsembleWriter(folder / "ensemble.nc", provenance=store.provenance)
              if "netcdf" in formats else None)
    csv = ((folder / "trajectories.csv").open("w", encoding="utf-8", newline="")
           if "csv" in formats else None)
    try:
        for block in store.blocks():
            part = store.read(block)
            if writer is not None:
                writer.append(part)
            if csv is not None:
                _write_csv_block(part, csv, block.start, header=block.index == 0)
    finally:
        if writer is not None:
            writer.flags = list(store.flags)
            writer.close()
        if csv is not None:
            csv.close()
    if writer is not None:
        written.append("ensemble.nc")
    if csv is not None:
        _write_factors(cube, folder / "factors.csv")
        written += ["trajectories.csv", "factors.csv"]
    return written


def _write_csv_block(part: Any, handle: Any, start: int, *, header: bool) -> None:
    """One block as rows (run, time, one column per variable)."""
    import numpy as np
    import pandas as pd

    values = part.dataset["outputs"].to_numpy()
    n_runs, n_time, n_var = values.shape
    frame = pd.DataFrame(values.reshape(n_runs * n_time, n_var), columns=part.variables)
    frame.insert(0, "time", np.tile(part.dataset["time"].to_numpy(), n_runs))
    frame.insert(0, "run", np.repeat(np.arange(start, start + n_runs), n_time))
    frame.to_csv(handle, index=False, header=header)


def _progress(total: int, *, enabled: bool, engine: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"sdnet runs ({engine})", unit="run", leave=False,
                disable=not enabled)
