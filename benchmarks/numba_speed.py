"""The numba backend against the numpy backend, PySD and pysimlin, on flexnet (issue 14).

Not a test: it prints a Markdown table for ``docs/engine.md``, every number measured in this
one invocation, so the ratios compare like with like on whatever the machine is doing.

* Single runs (30 years at the model's time step, one saved column, Total Members): the median
  of repeated runs on the numpy backend, on the numba backend (after compiling or loading its
  kernel, whose time is printed separately), with PySD 3.14 (``run(return_columns=...)`` of a
  translated copy) and with pysimlin when it is installed (``Model.run(analyze_loops=False)``,
  Simlin's Rust engine reading the same ``.mdl``).
* Ensembles (parameter sets uniform within every declared range; four variables saved every
  SAVEPER, as ``engine_speed.py``): time per run on the numpy backend (two forked processes),
  and on the numba backend with one and two threads. The numba runs are checked equal to the
  numpy runs with ``np.array_equal``.

Usage::

    python3 benchmarks/numba_speed.py                       # ensembles of 1e4 and 1e5
    python3 benchmarks/numba_speed.py --sizes 10000 --repeat 50 --no-pysd
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FLEXNET = ROOT / "models" / "flexnet" / "flexnet.mdl"
ONE = ["Total Members"]
VARIABLES = ["Total Members", "Embeddedness", "Trust", "Network Funds"]


def median_seconds(call: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``repeat`` calls (after one call that is not counted)."""
    call()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cpu_seconds() -> float:
    """CPU time of this process (all its threads) and of its finished worker processes."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def draw(parameters, n: int, seed: int) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    bounded = [p for p in parameters.values() if p.kind != "control" and p.bounded]
    return {p.name: rng.uniform(p.lower, p.upper, n) for p in bounded}


def pysd_single(model_path: Path, repeat: int) -> float:
    import pysd

    folder = Path(tempfile.mkdtemp(prefix="sdnet-bench-"))
    try:
        copy = folder / model_path.name
        shutil.copy(model_path, copy)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = pysd.read_vensim(str(copy))
            return median_seconds(
                lambda: model.run(return_columns=ONE, progress=False), repeat
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def simlin_single(model_path: Path, repeat: int) -> float | None:
    try:
        import simlin
    except ImportError:
        return None
    model = simlin.load(str(model_path))
    return median_seconds(lambda: model.run(analyze_loops=False), repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=FLEXNET)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=30, help="single runs timed per system")
    parser.add_argument("--no-pysd", action="store_true")
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()

    from sdnet.engine import compile_model

    model = compile_model(args.model)
    problem = model.kernel_problem()
    if problem is not None:
        raise SystemExit(f"no numba backend: {problem}")
    start = time.perf_counter()
    model.simulate(n_runs=1, variables=ONE, backend="numba")
    kernel_seconds = time.perf_counter() - start
    dt = model.parameters["time_step"].default

    single = {
        "numpy": median_seconds(
            lambda: model.simulate(n_runs=1, variables=ONE, backend="numpy"), args.repeat),
        "numba": median_seconds(
            lambda: model.simulate(n_runs=1, variables=ONE, backend="numba"),
            10 * args.repeat),
    }
    same_single = all(
        np.array_equal(a, b) for a, b in zip(
            model.simulate(n_runs=1, backend="numba").outputs.values(),
            model.simulate(n_runs=1, backend="numpy").outputs.values(), strict=True))
    if not args.no_pysd:
        single["PySD 3.14"] = pysd_single(args.model, max(5, args.repeat // 3))
    simlin = simlin_single(args.model, args.repeat)
    if simlin is not None:
        single["pysimlin"] = simlin
    base = single.get("PySD 3.14", single["numpy"])
    base_name = "PySD" if "PySD 3.14" in single else "numpy"

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, numpy {np.__version__}, load average "
          f"{os.getloadavg()[0]:.1f}")
    import numba

    print(f"numba {numba.__version__}; kernel compiled or loaded in {kernel_seconds:.1f} s")
    print(f"\nSingle run of {args.model.name}: {model.parameters['final_time'].default:g} "
          f"years at dt {dt:g}, one saved column (median of repeated runs)\n")
    print(f"| system | per run (ms) | ratio to {base_name} | numba's speed-up |")
    print("|---|---:|---:|---:|")
    for name, seconds in single.items():
        print(f"| {name} | {1e3 * seconds:.3f} | {base / seconds:,.1f} | "
              f"{seconds / single['numba']:,.1f} |")
    print(f"\nnumba single run equals numpy's on every column: {same_single}")

    print(f"\nEnsembles ({', '.join(VARIABLES)} saved every SAVEPER)\n")
    print("Wall time per run, and in brackets CPU time per run (this process, its threads and "
          "its finished worker processes: what the run costs whatever else the machine "
          "runs).\n")
    print("| runs | numpy, 2 processes (us/run) | numba, 1 thread (us/run) | "
          "numba, 2 threads (us/run) | numba 2 threads vs numpy | vs PySD single run | "
          "identical |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    for n in args.sizes:
        values = draw(model.parameters, n, args.seed)
        per_run: dict[str, float] = {}
        cpu: dict[str, float] = {}
        results = {}
        for label, backend, workers in (
            ("numpy", "numpy", 2), ("numba1", "numba", 1), ("numba2", "numba", 2)
        ):
            model.workers = workers
            start, start_cpu = time.perf_counter(), cpu_seconds()
            results[label] = model.simulate(values, n_runs=n, variables=VARIABLES,
                                            backend=backend)
            per_run[label] = (time.perf_counter() - start) / n
            cpu[label] = (cpu_seconds() - start_cpu) / n
        model.workers = 2
        identical = all(
            np.array_equal(results["numpy"].outputs[v], results[k].outputs[v], equal_nan=True)
            for v in VARIABLES for k in ("numba1", "numba2"))
        del results
        cells = " | ".join(f"{1e6 * per_run[k]:.1f} ({1e6 * cpu[k]:.1f})"
                           for k in ("numpy", "numba1", "numba2"))
        print(f"| {n:,} | {cells} | {per_run['numpy'] / per_run['numba2']:.1f} | "
              f"{base / per_run['numba2']:,.0f} | {identical} |")


if __name__ == "__main__":
    main()
