"""Run blocks of an ensemble or a study on a dask.distributed cluster.

``--cluster local:N`` starts a LocalCluster of N worker processes on this machine (one thread
each: the engine is numpy code that holds the GIL between operations); ``--cluster
tcp://HOST:PORT`` connects to a running scheduler (``dask scheduler`` on one machine, ``dask
worker tcp://HOST:PORT`` on each of the others; docs/scaling.md). dask is imported only here
and only when a cluster is asked for: without ``--cluster`` nothing needs it
(``pip install "sdnet[scale]"`` installs it).

The compiled model is scattered to every worker once; each block of runs is one task. Workers
that see the store's folder (a LocalCluster, or machines sharing the file system at the same
path: :func:`sees_folder`) write their blocks straight into the Zarr store; otherwise they
send the arrays back and this process writes them, as each block finishes. A lost worker's
tasks are run again by the scheduler; a killed client keeps the blocks written so far and a
rerun skips them.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdnet.errors import ClusterError

if TYPE_CHECKING:
    import numpy as np

    from sdnet.numerics import Finding
    from sdnet.scheduler import BlockJob, BlockOutcome
    from sdnet.store import Block, EnsembleStore

__all__ = ["CONNECT_TIMEOUT", "ClusterSpec", "check_environment", "client_for", "connect",
           "environment", "parse_cluster", "run_on_cluster", "run_runs", "run_tasks",
           "sees_folder"]

#: Seconds to wait for a scheduler to answer before giving up.
CONNECT_TIMEOUT = 10.0
_FORMS = ("local:N (a LocalCluster of N worker processes on this machine, e.g. local:2) or "
          "tcp://HOST:PORT (a running dask scheduler, e.g. tcp://10.0.0.5:8786)")
_TCP = re.compile(r"^tcp://(\[[0-9a-fA-F:]+\]|[A-Za-z0-9._-]+):(\d{1,5})$")


@dataclass(frozen=True)
class ClusterSpec:
    """Where to run: ``kind`` ``"local"`` with ``workers`` processes, or ``"address"``."""

    kind: str
    workers: int = 0
    address: str = ""

    def __str__(self) -> str:
        return f"local:{self.workers}" if self.kind == "local" else self.address


def parse_cluster(text: str | ClusterSpec, *, option: str = "--cluster") -> ClusterSpec:
    """Read ``local:N`` or ``tcp://HOST:PORT``.

    Raises
    ------
    ClusterError
        Naming ``option``, the value and the valid forms.

    >>> parse_cluster("local:2")
    ClusterSpec(kind='local', workers=2, address='')
    """
    if isinstance(text, ClusterSpec):
        return text
    value = str(text).strip()
    bad = ClusterError(f"invalid value for {option}: {text!r} (expected {_FORMS})", value=value)
    if value.lower().startswith("local:"):
        count = value.split(":", 1)[1]
        if not count.isdigit() or not 1 <= int(count) <= 1024:
            raise bad
        return ClusterSpec("local", workers=int(count))
    match = _TCP.match(value)
    if match is None or not 1 <= int(match.group(2)) <= 65535:
        raise bad
    return ClusterSpec("address", address=value)


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as error:
        raise ClusterError(
            "--cluster needs dask.distributed, which is not installed: pip install "
            "'sdnet[scale]' (or run without --cluster)", value="") from error
    return distributed


@contextlib.contextmanager
def connect(spec: str | ClusterSpec, *, timeout: float = CONNECT_TIMEOUT) -> Iterator[Any]:
    """A ``distributed.Client`` of the cluster ``spec`` names, closed (and a LocalCluster
    stopped) when the block ends.

    Raises
    ------
    ClusterError
        A bad value, dask missing, or a scheduler that does not answer within ``timeout``
        seconds.
    """
    spec = parse_cluster(spec)
    distributed = _import_distributed()
    import dask

    if spec.kind == "local":
        # workers are processes of one thread each (the engine holds the GIL between numpy
        # operations), with no memory limit of their own (a block's size bounds what they
        # hold); a busy machine may take long to start them: give them a minute
        with dask.config.set({"distributed.comm.timeouts.connect": "60s",
                              "distributed.admin.system-monitor.gil.enabled": False}):
            cluster = distributed.LocalCluster(
                n_workers=spec.workers, threads_per_worker=1, processes=True,
                dashboard_address=":0", memory_limit=0, silence_logs=50)
        try:
            with distributed.Client(cluster, timeout=max(timeout, 60.0)) as client:
                yield client
        finally:
            cluster.close()
        return
    try:
        client = distributed.Client(spec.address, timeout=timeout)
    except (OSError, TimeoutError) as error:
        raise ClusterError(
            f"cannot reach the dask scheduler at {spec.address} within {timeout:g} s "
            f"({type(error).__name__}: {error}); start one with `dask scheduler` and "
            "workers with `dask worker ADDRESS` (docs/scaling.md), or check the address",
            value=spec.address) from error
    try:
        check_environment(client)
        yield client
    finally:
        client.close()


@functools.cache
def environment() -> dict[str, str]:
    """What decides a run's numbers besides its inputs, in this process: the versions of
    Python, numpy and numba, and a fingerprint of sdnet's own code (an editable install on
    another commit has the same version number); read once per process."""
    import hashlib
    import platform
    from importlib import metadata
    from pathlib import Path

    import sdnet

    versions = {}
    for name in ("numpy", "numba"):
        try:  # read from the installed metadata: importing numba takes a second
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    digest = hashlib.sha256()
    root = Path(sdnet.__file__).resolve().parent
    for file in sorted(root.rglob("*.py")):
        digest.update(file.relative_to(root).as_posix().encode())
        digest.update(file.read_bytes())
    return {"python": platform.python_version(), **versions, "sdnet": sdnet.__version__,
            "sdnet code": digest.hexdigest()[:12]}


def check_environment(client: Any, *, here: dict[str, str] | None = None) -> None:
    """Refuse workers whose environment differs from this process's (:func:`environment`):
    their numbers would not be this machine's bit for bit, or they could not run sdnet.

    Raises
    ------
    ClusterError
        Naming each differing worker, what differs (its value and this machine's) and what
        to install; or the worker that cannot import sdnet.
    """
    here = dict(environment()) if here is None else here
    found = client.run(environment, on_error="return")
    problems = []
    for worker, theirs in sorted(found.items()):
        if isinstance(theirs, BaseException):
            problems.append(f"{worker} cannot run sdnet ({type(theirs).__name__}: {theirs})")
            continue
        differ = [f"{key} {theirs.get(key, 'unknown')} (here {value})"
                  for key, value in here.items() if theirs.get(key) != value]
        if differ:
            problems.append(f"{worker} has {', '.join(differ)}")
    if problems:
        address = str(getattr(client, "scheduler", None) and client.scheduler.address)
        raise ClusterError(
            f"the workers of {address} do not run what this machine runs, so their numbers "
            f"would not be the same bit for bit: {'; '.join(problems)}. Install the same "
            "Python, numpy, numba and sdnet on every worker (docs/scaling.md, \"Several "
            "machines\")", value=address)


@contextlib.contextmanager
def client_for(cluster: Any) -> Iterator[Any]:
    """``None`` for no cluster, a client of the cluster a ``local:N``/``tcp://`` value (or
    :class:`ClusterSpec`) names (closed at the end), or a ``distributed.Client`` as given."""
    if cluster is None:
        yield None
    elif isinstance(cluster, str | ClusterSpec):
        with connect(cluster) as client:
            yield client
    else:
        yield cluster


def sees_folder(client: Any, folder: str | Path) -> bool:
    """True when every worker of ``client`` sees ``folder`` as this process does: on this
    machine, or on a file system shared at the same path. A probe file of a unique name is
    written there and each worker looks for it (a folder of the same name elsewhere does not
    hold it)."""
    import os
    import uuid

    probe = Path(folder) / f".sdnet-probe-{uuid.uuid4().hex}"
    probe.write_bytes(b"")
    try:
        found = client.run(os.path.exists, str(probe), on_error="return")
    finally:
        probe.unlink(missing_ok=True)
    return bool(found) and all(value is True for value in found.values())


def n_workers(client: Any) -> int:
    """Workers the scheduler knows now (at least 1)."""
    return max(1, len(client.scheduler_info().get("workers", {})))


def _cluster_task(compiled: Any, job: BlockJob, block: Block, factors: np.ndarray
                  ) -> BlockOutcome:
    from sdnet.scheduler import run_block, worker_model

    return run_block(worker_model(compiled), job, block, factors)


def run_tasks(
    client: Any,
    compiled: Any,
    job: BlockJob,
    tasks: Iterable[tuple[Any, Block, np.ndarray]],
    finished: Callable[[Any, BlockOutcome], None],
) -> None:
    """Run ``(key, block, factors)`` tasks on ``client``, at most two per worker in flight (so
    finished blocks never pile up in memory), calling ``finished(key, outcome)`` in this
    process as each one finishes. The compiled model is scattered once to every worker; a
    task of a lost worker is retried (up to 3 times) on another."""
    from sdnet.scheduler import shippable

    distributed = _import_distributed()
    model = client.scatter(shippable(compiled), broadcast=True, hash=False)
    window = 2 * n_workers(client)
    queue = iter(tasks)
    keys: dict[str, Any] = {}

    def submit(task: tuple[Any, Block, np.ndarray]) -> Any:
        key, block, factors = task
        future = client.submit(_cluster_task, model, job, block, factors, pure=False,
                               retries=3)
        keys[future.key] = key
        return future

    futures = distributed.as_completed([submit(t) for t in itertools.islice(queue, window)])
    try:
        for future in futures:
            outcome = future.result()
            key = keys.pop(future.key)
            future.release()
            finished(key, outcome)
            task = next(queue, None)
            if task is not None:
                futures.add(submit(task))
    except BaseException:
        client.cancel(list(futures.futures))
        raise


def run_runs(
    client: Any, compiled: Any, job: BlockJob, factors: np.ndarray, *, largest: int,
) -> tuple[np.ndarray, np.ndarray, list[str], list[Finding]]:
    """Every run of ``factors`` (run x factor, in the order of ``job.factor_names``) as
    tasks on ``client`` (two per worker, at most ``largest`` runs each), gathered here: the
    kept outputs (run, time, column), the status, the failure texts and the numerical
    guard's findings (runs numbered from 0), as one block of them all would give them."""
    from dataclasses import replace

    import numpy as np

    from sdnet.store import Block

    n = factors.shape[0]
    piece = max(1, min(largest, -(-n // (2 * n_workers(client)))))
    tasks = [(start, Block(k, 0, min(piece, n - start)),
              np.ascontiguousarray(factors[start:start + piece]))
             for k, start in enumerate(range(0, n, piece))]
    outputs = np.empty((n, job.times.size, job.n_kept), dtype=job.dtype)
    ok = np.zeros(n, dtype=bool)
    failure = [""] * n
    found: dict[int, list[Finding]] = {}

    def finished(start: int, outcome: BlockOutcome) -> None:
        stop = start + outcome.block.size
        outputs[start:stop] = outcome.values
        ok[start:stop] = outcome.ok
        failure[start:stop] = outcome.failure
        found[start] = [replace(f, run=f.run + start) for f in outcome.findings]

    run_tasks(client, compiled, replace(job, store=None), tasks, finished)
    return outputs, ok, failure, [f for start in sorted(found) for f in found[start]]


def run_on_cluster(
    client: Any,
    compiled: Any,
    job: BlockJob,
    store: EnsembleStore,
    factors: Any,
    todo: Sequence[Block],
    account: Callable[[BlockOutcome], None],
) -> None:
    """Run the blocks ``todo`` of ``store`` as tasks and write each into it as it finishes:
    workers that see the store's folder (on this machine or a shared file system,
    :func:`sees_folder`) write their blocks themselves, else they send them here."""
    from dataclasses import replace

    from sdnet.scheduler import store_path, write_outcome

    writes = sees_folder(client, Path(store.path).resolve().parent)
    task_job = replace(job, store=store_path(store.path) if writes else None)

    def finished(_key: Any, outcome: BlockOutcome) -> None:
        write_outcome(store, outcome)
        account(outcome)

    # a generator: a block's factors are drawn only when its task is sent
    run_tasks(client, compiled, task_job,
              ((b.index, b, factors[b.start:b.stop]) for b in todo), finished)
