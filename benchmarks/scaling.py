"""Benchmark: ensembles end to end, engine time against writing, and dask clusters (issue 14).

Everything is measured in one run on this machine, so the ratios compare like with like:

1. ``sdnet ensemble models/flexnet/flexnet.mdl --samples N`` end to end (a subprocess under
   ``/usr/bin/time -v``: wall time and peak memory) for N = 10^4 and 10^5 (10^6 with
   ``--million``), and, in this process, the same N split into the engine alone (every block
   integrated, nothing kept) and the engine plus the numerical guard plus writing the Zarr
   store (:func:`sdnet.scheduler.run_into_store`, here).
2. Where blocks run, on the same N (``--cluster-runs``, default 10^5): here (the engine's
   own forked workers or numba threads), a spawn pool of 2 processes (portable), and
   LocalClusters of 1 and 2 workers (their start-up timed apart).
3. A projection of a 10^7-run study from the measured per-block throughput (one worker
   process), the client's time to write a block a remote worker sends, and bytes per run.

Usage::

    python3 benchmarks/scaling.py                      # about 3 minutes on 2 quiet cores
    python3 benchmarks/scaling.py --million            # adds 10^6 runs end to end
    python3 benchmarks/scaling.py --backend numpy      # the engine's numpy backend
    python3 benchmarks/scaling.py --sizes --cluster-runs 40000   # sections 2 and 3 only

Targets (issue 14): 10^5 runs end to end within 10 s; 10^6 within 60 s under 2 GB; a
LocalCluster of 2 workers equal to the local result and at least 1.8 times faster than 1.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "flexnet" / "flexnet.mdl"


def _end_to_end(n: int, folder: Path, backend: str, *extra: str) -> tuple[float, float, str]:
    """Wall seconds and peak RSS (MB) of `sdnet ensemble` in its own process, and its output."""
    from ensemble_end_to_end import ensemble_command  # this folder is on sys.path

    row = ensemble_command(n, folder / f"e2e_{n}", list(extra), backend=backend)
    return float(row["wall"]), float(row["peak"]), f"{float(row['written']):.0f} MB"


def _setup(n: int) -> tuple:
    from sdnet.designs import lhs_design
    from sdnet.engine import compile_model
    from sdnet.model import load_model
    from sdnet.runner import factor_table, ranged_factors
    from sdnet.scheduler import plan_job

    model = load_model(MODEL)
    table = factor_table(model, lhs_design(ranged_factors(model), n, seed=0).to_frame())
    job, columns, units = plan_job(model, table)
    return compile_model(model.path), job, columns, units, np.ascontiguousarray(
        table.to_numpy(dtype=float))


def _new_store(path: Path, job, columns, units, n: int):
    from sdnet.scheduler import BLOCK_SIZE
    from sdnet.store import EnsembleStore

    shutil.rmtree(path, ignore_errors=True)
    return EnsembleStore.create(path, times=job.times, columns=columns,
                                units=[units[c] for c in columns],
                                factor_names=list(job.factor_names), n_runs=n,
                                block_size=BLOCK_SIZE)


def _engine_only(compiled, job, factors: np.ndarray) -> float:
    from sdnet.scheduler import BLOCK_SIZE, simulate_values

    started = time.perf_counter()
    for start in range(0, factors.shape[0], BLOCK_SIZE):
        simulate_values(compiled, job, factors[start:start + BLOCK_SIZE])
    return time.perf_counter() - started


def _into_store(compiled, job, columns, units, factors, folder: Path, executor) -> float:
    from sdnet.scheduler import run_into_store

    store = _new_store(folder / "bench.zarr", job, columns, units, factors.shape[0])
    started = time.perf_counter()
    run_into_store(compiled, job, store, factors, executor=executor, workers=2)
    return time.perf_counter() - started


def _projection(folder: Path, job, n: int, one: float, two: float, here: float) -> None:
    """10^7 runs (1,000 blocks) on W single-threaded worker processes: the blocks' work
    (integrate, guard, compress) is measured per block on the 1-worker LocalCluster; a remote
    worker's block also travels to the client (its arrays, uncompressed) and is written there
    (measured), so the client's writing and its network bound the whole, whatever W, unless
    the workers share the client's file system and write the store themselves."""
    from sdnet.scheduler import BLOCK_SIZE, BlockOutcome, write_outcome
    from sdnet.store import EnsembleStore

    store = EnsembleStore.open(folder / "bench.zarr")
    size = sum(p.stat().st_size for p in (folder / "bench.zarr").rglob("*") if p.is_file()) / n
    n_blocks = -(-n // BLOCK_SIZE)
    per_block = one / n_blocks  # one worker process, one block after another
    first = store.blocks()[0]
    values = np.asarray(store._array("outputs")[first.start:first.stop])
    factors = np.asarray(store._array("factors")[first.start:first.stop])
    outcome = BlockOutcome(first, np.ones(first.size, bool), [""] * first.size,
                           [""] * first.size, [], values, factors)
    started = time.perf_counter()
    repeats = 3
    for _ in range(repeats):
        write_outcome(store, outcome)
    write = (time.perf_counter() - started) / repeats
    sent = values.nbytes + factors.nbytes
    network = 125e6  # bytes/s: 1 Gbit/s, an assumption (not measured)
    blocks = 1e7 / BLOCK_SIZE
    print(f"Measured on this machine ({os.cpu_count()} cores): a block of {BLOCK_SIZE:,} "
          f"runs takes one worker process {per_block:.2f} s (integrate, guard, compress, "
          f"store: {BLOCK_SIZE / per_block:,.0f} runs/s per process; 2 workers {one / two:.2f}"
          f"x one); the client writes a block a remote worker sends ({sent / 1e6:.0f} MB "
          f"uncompressed) in {write:.2f} s; {size:.0f} bytes per run stored (flexnet's "
          f"{job.n_kept} key variables x {job.times.size} times, float64, compressed: "
          f"{1e7 * size / 1e9:.0f} GB for 10^7 runs, float32 about half). Here (no cluster): "
          f"{n / here:,.0f} runs/s.\n")
    print("| worker processes | compute (min) | client writes (min) | network at 1 Gbit/s "
          "(min) | 10^7 runs (min) |")
    print("|---|---|---|---|---|")
    local = blocks * per_block / 2
    print(f"| 2, this machine only (workers write) | {local / 60:.1f} | - | - | "
          f"{local / 60:.1f} |")
    for workers in (8, 32, 64):
        compute = blocks * per_block / workers
        print(f"| {workers} ({workers // 2} machines like this, shared file system: workers "
              f"write) | {compute / 60:.1f} | - | - | {compute / 60:.1f} |")
    for workers in (8, 32, 64):
        compute = blocks * per_block / workers
        writes, transfer = blocks * write, blocks * sent / network
        total = max(compute, writes, transfer)
        print(f"| {workers} ({workers // 2} machines like this, blocks sent back) | "
              f"{compute / 60:.1f} | {writes / 60:.1f} | {transfer / 60:.1f} | "
              f"{total / 60:.1f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000],
                        help="runs of `sdnet ensemble` end to end (none: skip section 1)")
    parser.add_argument("--million", action="store_true", help="also 10^6 runs end to end")
    parser.add_argument("--cluster-runs", type=int, default=100_000)
    parser.add_argument("--backend", choices=("numba", "numpy"), default=None,
                        help="the engine's backend (default: its own choice)")
    args = parser.parse_args()
    if args.backend:
        os.environ["SDNET_BACKEND"] = args.backend
    backend = os.environ.get("SDNET_BACKEND", "")
    load_before = os.getloadavg()[0]
    folder = Path(tempfile.mkdtemp(prefix="sdnet-scaling-"))
    print(f"# sdnet scaling benchmark ({platform.node()}, {os.cpu_count()} cores, load "
          f"{load_before:.1f}, backend {backend or 'default'})\n")
    sizes = [*args.sizes, *([1_000_000] if args.million else [])]

    if sizes:
        print("## 1. sdnet ensemble end to end, and its parts\n")
        print("| runs | end to end (s) | peak RSS (MB) | on disk | engine only (s) | engine + "
              "guard + Zarr (s) | writing share | per run (us) |")
        print("|---|---|---|---|---|---|---|---|")
        for n in sizes:
            wall, peak, disk = _end_to_end(n, folder, backend)
            if n <= 100_000:
                compiled, job, columns, units, factors = _setup(n)
                engine = _engine_only(compiled, job, factors)
                stored = _into_store(compiled, job, columns, units, factors, folder, "here")
                share = f"{max(0.0, stored - engine) / stored:.0%}"
                parts = f"{engine:.2f} | {stored:.2f} | {share}"
            else:
                parts = "- | - | -"
            print(f"| {n:,} | {wall:.1f} | {peak:.0f} | {disk} | {parts} | {wall / n * 1e6:.0f} |",
                  flush=True)
        if args.million:
            wall, peak, disk = _end_to_end(1_000_000, folder, backend, "--dtype", "float32")
            print(f"| 1,000,000 (float32) | {wall:.1f} | {peak:.0f} | {disk} | - | - | - | "
                  f"{wall / 1e6 * 1e6:.0f} |")

    n = args.cluster_runs
    print(f"\n## 2. Where the blocks run ({n:,} runs into a Zarr store)\n")
    compiled, job, columns, units, factors = _setup(n)
    here = _into_store(compiled, job, columns, units, factors, folder, "here")
    pool = _into_store(compiled, job, columns, units, factors, folder, "processes")
    rows = [("here (engine's own workers)", here, 0.0),
            ("spawn pool, 2 processes", pool, 0.0)]
    from sdnet.cluster import connect

    reference = None
    for workers in (1, 2):
        started = time.perf_counter()
        with connect(f"local:{workers}") as client:
            startup = time.perf_counter() - started
            _into_store(compiled, job, columns, units, factors[:20_000], folder, client)  # warm
            took = _into_store(compiled, job, columns, units, factors, folder, client)
            if workers == 2:
                from sdnet.store import EnsembleStore

                reference = EnsembleStore.open(folder / "bench.zarr").read()
        rows.append((f"LocalCluster, {workers} worker(s)", took, startup))
    _into_store(compiled, job, columns, units, factors, folder, "here")
    from sdnet.store import EnsembleStore

    local = EnsembleStore.open(folder / "bench.zarr").read()
    same = reference is not None and np.array_equal(
        local.dataset["outputs"].to_numpy(), reference.dataset["outputs"].to_numpy())
    print("| where | runs (s) | start-up (s) | runs/s | vs here |")
    print("|---|---|---|---|---|")
    for name, took, startup in rows:
        print(f"| {name} | {took:.2f} | {startup:.1f} | {n / took:,.0f} | {here / took:.2f}x |")
    one, two = rows[2][1], rows[3][1]
    print(f"\n2 workers vs 1: {one / two:.2f}x faster (target >= 1.8x); results equal to here: "
          f"{same}")

    print("\n## 3. Projection of a 10^7-run study from the measured per-block throughput\n")
    _projection(folder, job, n, one, two, here)
    print(f"\nload average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
