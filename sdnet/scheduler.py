"""Blocks of runs as tasks: where they run (here, local processes, a dask cluster) and how
their results reach a Zarr store as they finish.

An ensemble is cut into blocks (one chunk of the store each). A block is a task that needs
only the compiled model and a :class:`BlockJob` (the fixed values, time settings, columns and
the numerical guard's bounds), never the model file or PySD: the compiled model is shipped
once per worker process. A task integrates its block, runs the numerical guard on it and
either writes it into the store itself (workers that see the store's folder: this machine)
or returns the arrays for the client to write (a cluster whose workers may be elsewhere).
The store records each finished block, so a run killed midway (or a worker lost) keeps what
it finished and a rerun integrates only the missing blocks.

Where blocks run (``executor``):

* ``"here"``: in this process, one block after another; the engine integrates each block on
  forked processes where it can (Linux), see :mod:`sdnet.engine.parallel`.
* ``"processes"``: a pool of ``workers`` processes started with ``spawn`` (every platform),
  each writing its blocks into the store.
* a dask ``distributed.Client`` (:mod:`sdnet.cluster`): one task per block.

Every path runs the same function on the same blocks, so the numbers are identical bit for
bit whichever executor ran them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sdnet.errors import SdnetError
from sdnet.files import file_sha256
from sdnet.numerics import Finding, check_trajectories, describe_runs
from sdnet.store import Block, EnsembleStore

if TYPE_CHECKING:
    import pandas as pd

    from sdnet.model import Model

__all__ = [
    "BLOCK_SIZE",
    "BlockJob",
    "BlockOutcome",
    "Progress",
    "ShippedModel",
    "block_identity",
    "local_executor",
    "plan_job",
    "run_block",
    "run_into_store",
]

#: Runs per block: one chunk of the store, one task (about 87 MB of flexnet's key variables as
#: float64), and the engine's own block size, so a block is integrated in one piece.
BLOCK_SIZE = 10_000


@dataclass(frozen=True)
class BlockJob:
    """What a worker needs, besides the compiled model, to integrate any block of an ensemble.

    Attributes
    ----------
    base : Mapping[str, float]
        Constants set in every run (region, push, params), Python names.
    factor_names : tuple of str
        The varied constants, in the order of a block's factor matrix.
    settings : Mapping[str, float]
        initial_time, final_time, time_step and saveper.
    method : str
        Integration method.
    simulated : tuple of str
        Columns the engine saves: those kept, then stocks only the guard reads.
    n_kept : int
        How many of ``simulated`` (from the start) are stored.
    times : ndarray
        Saved times.
    bounds : Mapping[str, tuple[float, float]]
        Declared ranges of the simulated columns (for the numerical guard).
    stocks : frozenset of str
        Stock columns (tested for Euler see-saws).
    dtype : str
        Storage type of the outputs.
    store : str or None
        Path of the Zarr store the worker writes into; None to return the arrays instead.
    backend : {"numba", "numpy"} or None
        The engine's backend (None: its own choice, see :data:`sdnet.runner.ENGINES`).
    """

    base: Mapping[str, float]
    factor_names: tuple[str, ...]
    settings: Mapping[str, float]
    method: str
    simulated: tuple[str, ...]
    n_kept: int
    times: np.ndarray
    bounds: Mapping[str, tuple[float, float]]
    stocks: frozenset[str]
    dtype: str = "float64"
    store: str | None = None
    backend: str | None = None


@dataclass(frozen=True)
class BlockOutcome:
    """What a finished block reports back (its arrays only when the worker did not store them)."""

    block: Block
    ok: np.ndarray
    failure: list[str]
    numerics: list[str]
    findings: list[Finding]
    values: np.ndarray | None = None
    factors: np.ndarray | None = None
    engine_seconds: float = 0.0
    guard_seconds: float = 0.0


@dataclass
class Progress:
    """Counts of a run into a store, updated as blocks finish, and where the time went:
    seconds integrating and in the numerical guard (summed over the blocks run now, wherever
    they ran) and waiting for the writer thread (blocks run here)."""

    total: int
    done: int = 0
    resumed: int = 0
    failed: int = 0
    flagged: int = 0
    findings: list[Finding] = field(default_factory=list)
    engine_seconds: float = 0.0
    guard_seconds: float = 0.0
    writer_wait_seconds: float = 0.0


# -- the task ----------------------------------------------------------------------------------

_WORKER_MODEL: list[Any] = []


def _failure_texts(n_runs: int, failures: Sequence[tuple[int, str, float]]) -> list[str]:
    texts = [""] * n_runs
    for run, variable, when in failures:
        if not texts[int(run)]:
            texts[int(run)] = (str(variable) if not math.isfinite(when)
                               else f"{variable} non-finite at time {float(when):g}")
    return texts


def simulate_values(compiled: Any, job: BlockJob, factors: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, list[tuple[int, str, float]]]:
    """Integrate one block: (values (n, n_time, n_simulated), ok, failures (run, column,
    time)). The runner's vector chunks call this too, so both paths give the same numbers."""
    values: dict[str, Any] = dict(job.base)
    values.update({name: factors[:, i] for i, name in enumerate(job.factor_names)})
    n_runs = factors.shape[0]
    simulation = compiled.simulate(
        values, n_runs=n_runs, final_time=job.settings["final_time"],
        time_step=job.settings["time_step"], saveper=job.settings["saveper"],
        method=job.method, variables=list(job.simulated), backend=job.backend)
    if simulation.times.shape != job.times.shape or not np.allclose(simulation.times, job.times):
        raise SdnetError("the engine saved other times than the runner expected")
    stacked = (_stack([simulation.outputs[c] for c in job.simulated])
               if job.simulated else np.empty((n_runs, job.times.size, 0)))
    return stacked, np.asarray(simulation.ok, dtype=bool), list(simulation.failures)


def _stack(columns: Sequence[np.ndarray]) -> np.ndarray:
    """The columns as one (run, time, column) array: a view when they are neighbouring
    columns of one such array (the numba kernel's output; copying a block of 10,000 runs
    took a tenth of the engine's time), else a copy."""
    first = columns[0]
    base = first.base
    if (isinstance(base, np.ndarray) and base.ndim == 3 and base.shape[:2] == first.shape
            and base.flags.c_contiguous and base.dtype == first.dtype
            and all(c.base is base and c.strides == first.strides for c in columns)):
        origin = base.__array_interface__["data"][0]
        offsets = [(c.__array_interface__["data"][0] - origin) // base.itemsize
                   for c in columns]
        if offsets == list(range(offsets[0], offsets[0] + len(columns))):
            return base[:, :, offsets[0]:offsets[0] + len(columns)]
    return np.stack(columns, axis=-1)


def run_block(compiled: Any, job: BlockJob, block: Block, factors: np.ndarray) -> BlockOutcome:
    """Integrate one block, run the numerical guard on it and store it (or return it).

    A block that cannot run as a whole (an :class:`~sdnet.errors.SdnetError`) marks its runs
    failed, as :func:`sdnet.runner.run_ensemble` does, so one bad block never stops the rest.
    """
    started = time.perf_counter()
    try:
        values, ok, failures = simulate_values(compiled, job, factors)
    except SdnetError as error:
        values = np.full((block.size, job.times.size, len(job.simulated)), np.nan)
        ok = np.zeros(block.size, dtype=bool)
        failures = [(r, f"run failed: {error}", math.nan) for r in range(block.size)]
    integrated = time.perf_counter()
    findings = check_trajectories(job.times, values, job.simulated, bounds=job.bounds,
                                  stocks=job.stocks, runs=range(block.start, block.stop))
    seconds = {"engine_seconds": integrated - started,
               "guard_seconds": time.perf_counter() - integrated}
    shifted = [Finding(f.run - block.start, f.kind, f.column, f.time, f.value, f.limit)
               for f in findings]
    numerics = describe_runs(shifted, block.size)
    failure = _failure_texts(block.size, failures)
    kept = values[..., : job.n_kept].astype(job.dtype, copy=False)
    if job.store is None:
        return BlockOutcome(block, ok, failure, numerics, findings, kept, factors, **seconds)
    # opened for each block (a few ms): a long-lived worker must not keep the metadata of a
    # store that a later run at the same path replaced
    store = EnsembleStore.open(job.store)
    store.write_block(block, values=kept, ok=ok, failure=failure, numerics=numerics,
                      factors=factors)
    return BlockOutcome(block, ok, failure, numerics, findings, **seconds)


@dataclass(frozen=True)
class ShippedModel:
    """A compiled model as sent to workers: its equations (the IR, about 100 kB pickled),
    never the functions generated from them, which ``pickle`` cannot send; each worker
    process builds (and checks) the model once, see :func:`worker_model`."""

    ir: Any
    path: Path
    sha256: str
    data_files: tuple[Path, ...] = ()  # of data variables without an expression


def shippable(compiled: Any) -> ShippedModel:
    """What to send to workers for ``compiled`` (see :class:`ShippedModel`)."""
    return ShippedModel(
        compiled.ir, Path(compiled.path), compiled.sha256, tuple(compiled.data_files)
    )


_BUILT: dict[tuple[str, tuple[Path, ...]], Any] = {}


def worker_model(shipped: ShippedModel | Any) -> Any:
    """The compiled model in a worker process, built once per process, on one core (the
    pool or the cluster spreads the blocks over the cores)."""
    if not isinstance(shipped, ShippedModel):
        return shipped
    key = (shipped.sha256, shipped.data_files)
    built = _BUILT.get(key)
    if built is None:
        from sdnet.engine import CompiledModel

        built = CompiledModel(shipped.ir, path=shipped.path, sha256=shipped.sha256,
                              data_files=shipped.data_files)
        built.workers = 1
        _BUILT[key] = built
    return built


def _pool_init(shipped: ShippedModel) -> None:
    """A spawned worker's start: build the compiled model (shipped once)."""
    _WORKER_MODEL[:] = [worker_model(shipped)]


def _pool_task(job: BlockJob, block: Block, factors: np.ndarray) -> BlockOutcome:
    return run_block(_WORKER_MODEL[0], job, block, factors)


# -- planning -----------------------------------------------------------------------------------


def plan_job(
    model: Model,
    table: pd.DataFrame | Sequence[str],
    *,
    n_runs: int | None = None,
    region: Any = None,
    push: Any = None,
    params: Mapping[str, Any] | None = None,
    final_time: float | None = None,
    time_step: float | None = None,
    saveper: float | None = None,
    method: str = "euler",
    variables: Any = None,
    dtype: str = "float64",
    check_ranges: bool = True,
    backend: str | None = None,
    block_size: int | None = None,
) -> tuple[BlockJob, list[str], dict[str, str]]:
    """The job of an ensemble of ``model`` over a validated factor ``table``
    (:func:`sdnet.runner.factor_table`), or over the factors named in ``table`` with
    ``n_runs`` runs, with the kept columns and their units. ``block_size`` (default
    :data:`BLOCK_SIZE`) decides, as the runner's chunk size does, whether the guard can afford
    to simulate the stocks that are not kept."""
    from sdnet.errors import EngineInputError
    from sdnet.params import CONTROL_NAMES
    from sdnet.runner import _GUARD_BYTES, _run_settings, _save_times

    names = [str(c) for c in (table.columns if hasattr(table, "columns") else table)]
    rows = len(table) if n_runs is None else int(n_runs)
    base = model.scenario_values(params, region=region, push=push, check_ranges=check_ranges)
    controls: dict[str, float | None] = {"final_time": final_time, "time_step": time_step,
                                         "saveper": saveper}
    for name in CONTROL_NAMES:
        if name in names:
            raise EngineInputError(
                f"{name} cannot vary across runs; pass it as a run option instead")
        if name in base and controls.get(name) is None and name != "initial_time":
            controls[name] = base.pop(name)
    settings = _run_settings(model, controls)
    columns = model.columns(variables)
    units = {c: model.units(c) for c in columns}
    times = _save_times(settings)
    extra = [c for c in model.stock_columns() if c not in columns]
    if min(block_size or BLOCK_SIZE, rows) * times.size * len(extra) * 8 > _GUARD_BYTES:
        extra = []
    simulated = (*columns, *extra)
    job = BlockJob(
        base=dict(base), factor_names=tuple(names),
        settings=dict(settings), method=method, simulated=simulated, n_kept=len(columns),
        times=times, bounds=model.declared_bounds(list(simulated)),
        stocks=frozenset(model.stock_columns()), dtype=dtype, backend=backend)
    return job, list(columns), units


def block_identity(model: Model, job: BlockJob, factors: Any, *, extra: str = "") -> str:
    """A hash of everything that decides a block's numbers: model file, job and factors (the
    factor matrix, run x factor, or a design drawn block by block such as
    :class:`sdnet.designs.LatinHypercube`, whose description decides its rows)."""
    digest = hashlib.blake2b(digest_size=20)
    digest.update(model.sha256.encode())
    for data in getattr(model, "data_files", ()):  # the data variables' values
        digest.update(file_sha256(data).encode())
    digest.update(repr((sorted(job.base.items()), job.factor_names,
                        sorted(job.settings.items()), job.method, job.simulated, job.n_kept,
                        job.dtype, extra)).encode())
    if hasattr(factors, "to_dict") and not isinstance(factors, np.ndarray):
        digest.update(json.dumps(factors.to_dict(), sort_keys=True).encode())
        return digest.hexdigest()
    for column in np.asarray(factors, dtype=float).T:  # a column at a time: no big copy
        digest.update(np.ascontiguousarray(column).tobytes())
    return digest.hexdigest()


# -- running into a store ------------------------------------------------------------------------


def run_into_store(
    compiled: Any,
    job: BlockJob,
    store: EnsembleStore,
    factors: Any,
    *,
    executor: Any = "here",
    workers: int | None = None,
    on_block: Callable[[Progress], None] | None = None,
) -> Progress:
    """Integrate every block of ``store`` not yet done and write it there.

    Parameters
    ----------
    compiled : CompiledModel
        The model, compiled (shipped once to each worker).
    job : BlockJob
        From :func:`plan_job` (its ``store`` is set here).
    store : EnsembleStore
        Created for this job (or opened to resume it): blocks it marks done are skipped.
    factors : ndarray (n_runs, n_factors) or LatinHypercube
        The factor table, in the order of ``job.factor_names``, or a design that gives a
        block's rows when sliced (``factors[start:stop]``), drawn as the block is sent.
    executor : "here", "processes" or a distributed.Client
        Where blocks run (module doc).
    workers : int, optional
        Processes of the ``"processes"`` pool (default: the machine's cores, at most 2 per
        the engine's default).
    on_block : callable(Progress), optional
        Called after each block is written (a progress bar).

    Returns
    -------
    Progress
        Runs done, resumed, failed and flagged, and the guard's findings of the blocks run now.
    """
    done = store.done()
    todo = [b for b in store.blocks() if not done[b.index]]
    progress = Progress(total=store.n_runs)
    for b in store.blocks():
        if done[b.index]:
            progress.resumed += b.size
            progress.done += b.size
    if done.any():
        ok = np.asarray(store._array("ok")[:], dtype=bool)
        numerics = store._array("numerics")
        for b in store.blocks():
            if done[b.index]:
                progress.failed += int((~ok[b.start:b.stop]).sum())
                progress.flagged += sum(1 for v in numerics[b.start:b.stop] if str(v))
    if not todo:
        return progress

    def account(outcome: BlockOutcome) -> None:
        progress.done += outcome.block.size
        progress.failed += int((~outcome.ok).sum())
        progress.flagged += sum(1 for v in outcome.numerics if v)
        progress.findings.extend(outcome.findings)
        progress.engine_seconds += outcome.engine_seconds
        progress.guard_seconds += outcome.guard_seconds
        if on_block is not None:
            on_block(progress)

    if executor == "here":
        progress.writer_wait_seconds = _run_here(compiled, job, store, factors, todo, account)
    elif executor == "processes":
        _run_processes(compiled, job, store, factors, todo, account, workers=workers)
    else:
        from sdnet.cluster import run_on_cluster

        run_on_cluster(executor, compiled, job, store, factors, todo, account)
    return progress


def _run_here(compiled: Any, job: BlockJob, store: EnsembleStore, factors: Any,
              todo: Sequence[Block], account: Callable[[BlockOutcome], None]) -> float:
    """Blocks in this process; each block is written by a thread while the next integrates
    (compression releases the GIL, and the engine's forked workers do the integrating).
    Returns the seconds spent waiting for the writer."""
    returning = BlockJob(**{**job.__dict__, "store": None})
    writer = _Writer(store)
    try:
        for block in todo:
            outcome = run_block(compiled, returning, block, factors[block.start:block.stop])
            writer.put(outcome)
            account(outcome)
    finally:
        writer.close()
    return writer.waited


class _Writer:
    """Write finished blocks on one background thread, at most one block behind."""

    def __init__(self, store: EnsembleStore) -> None:
        self.store = store
        self.error: BaseException | None = None
        self.waited = 0.0  # seconds the caller waited for a write to end
        self._thread: threading.Thread | None = None

    def _write(self, outcome: BlockOutcome) -> None:
        try:
            write_outcome(self.store, outcome)
        except BaseException as error:  # raised again in the caller's thread
            self.error = error

    def put(self, outcome: BlockOutcome) -> None:
        self.wait()
        self._thread = threading.Thread(target=self._write, args=(outcome,), daemon=True)
        self._thread.start()

    def wait(self) -> None:
        if self._thread is not None:
            started = time.perf_counter()
            self._thread.join()
            self.waited += time.perf_counter() - started
            self._thread = None
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def close(self) -> None:
        self.wait()


def write_outcome(store: EnsembleStore, outcome: BlockOutcome) -> None:
    """Write a block a worker returned (values and factors) into the store."""
    if outcome.values is None or outcome.factors is None:
        return  # the worker wrote it
    store.write_block(outcome.block, values=outcome.values, ok=outcome.ok,
                      failure=outcome.failure, numerics=outcome.numerics,
                      factors=outcome.factors)


def _run_processes(compiled: Any, job: BlockJob, store: EnsembleStore, factors: np.ndarray,
                   todo: Sequence[Block], account: Callable[[BlockOutcome], None], *,
                   workers: int | None) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    count = max(1, min(workers or default_workers(), len(todo)))
    writing = BlockJob(**{**job.__dict__, "store": str(store.path)})
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(count, mp_context=context, initializer=_pool_init,
                             initargs=(shippable(compiled),)) as pool:
        queue: Iterator[Block] = iter(todo)
        pending: set[Any] = set()
        try:
            for block in queue:  # at most two blocks per worker in flight: bounded memory
                pending.add(pool.submit(_pool_task, writing, block,
                                        factors[block.start:block.stop]))
                if len(pending) >= 2 * count:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        account(future.result())
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    account(future.result())
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def local_executor() -> str:
    """Where an ensemble's blocks run without a cluster: ``"here"`` where the engine can fork
    its workers (Linux; measured as fast as a spawn pool or faster, since nothing is copied
    between processes), else ``"processes"``, a spawn pool (macOS, Windows), so that every
    platform uses its cores."""
    from sdnet.engine.parallel import can_fork

    return "here" if can_fork() or default_workers() < 2 else "processes"


def default_workers() -> int:
    """Worker processes on this machine: its cores (at least 1)."""
    return max(1, os.cpu_count() or 1)


def store_path(path: str | Path) -> str:
    """The absolute path workers open a store by."""
    return str(Path(path).resolve())
