"""The numba backend against the numpy backend, PySD and pysimlin, on flexnet (issue 14).

Not a test: it prints Markdown tables for ``docs/engine.md``, every number measured in this
one invocation, so the ratios compare like with like on whatever the machine is doing (the
load average is printed at the start and the end).

* Compiling: the CPU time of a fresh process compiling each kernel into an empty cache folder
  (the lanes kernel of ``sdnet/engine/lanes.py`` and the per-run kernel it replaced for
  flexnet, which models with SMOOTH/DELAY stages still use).
* Single runs (30 years at the model's time step, one saved column, Total Members): the median
  of repeated runs on the numpy backend, on both kernels, with PySD 3.14
  (``run(return_columns=...)`` of a translated copy) and with pysimlin when it is installed
  (``Model.run(analyze_loops=False)``, Simlin's Rust engine reading the same ``.mdl``).
* Ensembles at each time step of ``--time-steps`` (the model's own, 1/32, and the issue's
  baseline, 1/16; parameter sets uniform within every declared range; four variables saved
  every SAVEPER, as ``engine_speed.py``): wall and CPU time per run on the numpy backend (two
  forked processes), the per-run kernel (two threads) and the lanes kernel (one and two
  threads), and PySD's single run at the same time step for the ratio. Every kernel's
  results are checked equal to the numpy backend's with ``np.array_equal``.

Usage::

    python3 benchmarks/numba_speed.py                       # ensembles of 1e4 and 1e5
    python3 benchmarks/numba_speed.py --sizes 10000 --repeat 10 --no-pysd --no-compile
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
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
COMPILE = """
import resource, sys
from sdnet.engine import compile_model
from sdnet.engine import kernel as kn
from sdnet.engine.model import _topological
model = compile_model(sys.argv[1])
before = resource.getrusage(resource.RUSAGE_SELF)
model._plan = kn.plan_kernel(model.ir, static=model._static, topological=_topological,
                             lanes=sys.argv[2] == "lanes")
model.simulate(n_runs=1, backend="numba")
after = resource.getrusage(resource.RUSAGE_SELF)
print(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
"""


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


def compile_cpu(model_path: Path, kind: str) -> float:
    """CPU seconds a fresh process takes to compile a kernel into an empty cache folder."""
    folder = tempfile.mkdtemp(prefix="sdnet-bench-cache-")
    try:
        env = {**os.environ, "SDNET_CACHE_DIR": folder, "PYTHONPATH": str(ROOT)}
        done = subprocess.run([sys.executable, "-c", COMPILE, str(model_path), kind],
                              env=env, capture_output=True, text=True, check=True)
        return float(done.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def draw(parameters, n: int, seed: int) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    bounded = [p for p in parameters.values() if p.kind != "control" and p.bounded]
    return {p.name: rng.uniform(p.lower, p.upper, n) for p in bounded}


def pysd_single(model_path: Path, repeat: int, time_steps: list[float]) -> dict[float, float]:
    """PySD's median single run at each time step."""
    import pysd

    folder = Path(tempfile.mkdtemp(prefix="sdnet-bench-"))
    try:
        copy = folder / model_path.name
        shutil.copy(model_path, copy)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = pysd.read_vensim(str(copy))
            return {
                dt: median_seconds(
                    lambda dt=dt: model.run(return_columns=ONE, progress=False, time_step=dt),
                    repeat)
                for dt in time_steps
            }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def simlin_single(model_path: Path, repeat: int) -> float | None:
    try:
        import simlin
    except ImportError:
        return None
    model = simlin.load(str(model_path))
    return median_seconds(lambda: model.run(analyze_loops=False), repeat)


def same(a, b) -> bool:  # type: ignore[no-untyped-def]
    return all(np.array_equal(a.outputs[v], b.outputs[v], equal_nan=True) for v in a.outputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=FLEXNET)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--time-steps", type=float, nargs="+", default=None,
                        help="ensembles at these TIME STEPs (default: the model's and 1/16)")
    parser.add_argument("--repeat", type=int, default=30, help="single runs timed per system")
    parser.add_argument("--no-pysd", action="store_true")
    parser.add_argument("--no-compile", action="store_true",
                        help="skip timing the kernels' compilation in fresh processes")
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()

    from sdnet.engine import compile_model
    from sdnet.engine import kernel as kn
    from sdnet.engine.model import CompiledModel, _topological

    load_start = os.getloadavg()
    compile_seconds = {} if args.no_compile else {
        kind: compile_cpu(args.model, kind) for kind in ("lanes", "runs")}
    lanes = compile_model(args.model)
    problem = lanes.kernel_problem()
    if problem is not None:
        raise SystemExit(f"no numba backend: {problem}")
    runs = CompiledModel(lanes.ir, path=lanes.path, sha256=lanes.sha256)
    runs._plan = kn.plan_kernel(runs.ir, static=runs._static, topological=_topological,
                                lanes=False)
    lanes_kind = "lanes" if lanes._kernel_plan().lanes else "per-run (lanes refused)"
    start = time.perf_counter()
    lanes.simulate(n_runs=1, variables=ONE, backend="numba")
    runs.simulate(n_runs=1, variables=ONE, backend="numba")
    kernel_seconds = time.perf_counter() - start
    dt = lanes.parameters["time_step"].default
    time_steps = args.time_steps or sorted({dt, 1 / 16})

    single = {
        "numpy backend": median_seconds(
            lambda: lanes.simulate(n_runs=1, variables=ONE, backend="numpy"), args.repeat),
        "per-run kernel": median_seconds(
            lambda: runs.simulate(n_runs=1, variables=ONE, backend="numba"), 10 * args.repeat),
        f"{lanes_kind} kernel": median_seconds(
            lambda: lanes.simulate(n_runs=1, variables=ONE, backend="numba"),
            10 * args.repeat),
    }
    reference = lanes.simulate(n_runs=1, backend="numpy")
    same_single = same(lanes.simulate(n_runs=1, backend="numba"), reference) and same(
        runs.simulate(n_runs=1, backend="numba"), reference)
    pysd = {} if args.no_pysd else pysd_single(args.model, max(5, args.repeat // 3),
                                              time_steps)
    if dt in pysd:
        single["PySD 3.14"] = pysd[dt]
    simlin = simlin_single(args.model, args.repeat)
    if simlin is not None:
        single["pysimlin"] = simlin
    base = single.get("PySD 3.14", single["numpy backend"])
    base_name = "PySD" if "PySD 3.14" in single else "numpy"

    import numba

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, numpy {np.__version__}, numba "
          f"{numba.__version__}; load average at the start {load_start[0]:.1f}")
    if compile_seconds:
        print(f"compiling in a fresh process with an empty cache: lanes kernel "
              f"{compile_seconds['lanes']:.1f} s of CPU, per-run kernel "
              f"{compile_seconds['runs']:.1f} s of CPU")
    print(f"both kernels compiled or loaded here in {kernel_seconds:.1f} s")
    print(f"\nSingle run of {args.model.name}: {lanes.parameters['final_time'].default:g} "
          f"years at dt {dt:g}, one saved column (median of repeated runs)\n")
    print(f"| system | per run (ms) | ratio to {base_name} |")
    print("|---|---:|---:|")
    for name, seconds in single.items():
        print(f"| {name} | {1e3 * seconds:.3f} | {base / seconds:,.1f} |")
    print(f"\nboth kernels' single runs equal numpy's on every column: {same_single}")

    systems = (("numpy, 2 processes", lanes, "numpy", 2),
               ("per-run kernel, 2 threads", runs, "numba", 2),
               (f"{lanes_kind} kernel, 1 thread", lanes, "numba", 1),
               (f"{lanes_kind} kernel, 2 threads", lanes, "numba", 2))
    for step in time_steps:
        print(f"\nEnsembles at TIME STEP {step:g} ({', '.join(VARIABLES)} saved every SAVEPER). "
              "Wall time per run, and in brackets CPU time per run (this process, its threads "
              "and its finished worker processes).\n")
        print("| runs | " + " | ".join(f"{name} (us/run)" for name, *_ in systems)
              + " | lanes 2 threads vs numpy (wall, CPU) | vs PySD single run | identical |")
        print("|---:|" + "---:|" * (len(systems) + 2) + "---|")
        for n in args.sizes:
            values = draw(lanes.parameters, n, args.seed)
            wall: list[float] = []
            cpu: list[float] = []
            identical = True
            reference = None
            for _name, model, backend, workers in systems:
                model.workers = workers
                begin, begin_cpu = time.perf_counter(), cpu_seconds()
                result = model.simulate(values, n_runs=n, variables=VARIABLES,
                                        backend=backend, time_step=step)
                wall.append((time.perf_counter() - begin) / n)
                cpu.append((cpu_seconds() - begin_cpu) / n)
                if reference is None:
                    reference = result
                else:
                    identical = identical and same(result, reference)
                del result
            del reference
            cells = " | ".join(f"{1e6 * w:.1f} ({1e6 * c:.1f})"
                               for w, c in zip(wall, cpu, strict=True))
            versus = (f"{pysd[step] / wall[-1]:,.0f}" if step in pysd else "")
            print(f"| {n:,} | {cells} | {wall[0] / wall[-1]:.1f}, {cpu[0] / cpu[-1]:.1f} | "
                  f"{versus} | {identical} |")
    lanes.workers = runs.workers = 2
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
