"""Speed of the vectorized engine against PySD's sequential loop, on flexnet.

Not a test: it prints a Markdown table (runs per second, ratio to PySD, peak memory) for
``docs/engine.md``. Each measurement runs in a fresh Python process so that its peak resident
memory (``resource.getrusage``) is its own.

Usage::

    python3 benchmarks/engine_speed.py                      # N = 1e3, 1e4, 1e5 and 1e6
    python3 benchmarks/engine_speed.py --sizes 1000 10000 --pysd-runs 10 --no-million

Parameter sets are drawn uniformly within the declared ranges of every bounded constant of the
model; both engines save the same few variables (``--variables``) at every SAVEPER.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FLEXNET = ROOT / "models" / "flexnet" / "flexnet.mdl"
DEFAULT_VARIABLES = ["Total Members", "Embeddedness", "Trust", "Network Funds"]
CHUNK = 100_000  # runs per simulate() call for the 1e6 ensemble (bounded memory)


def draw(parameters, n: int, seed: int) -> dict[str, np.ndarray]:
    """Uniform parameter sets within the declared ranges of every bounded constant."""
    rng = np.random.default_rng(seed)
    bounded = [p for p in parameters.values() if p.kind != "control" and p.bounded]
    return {p.name: rng.uniform(p.lower, p.upper, n) for p in bounded}


def peak_mib() -> float:
    """Peak resident memory, MiB (Linux reports KiB): the larger of this process and its
    forked workers (they share the output arrays, so the two are not added)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, workers) / 1024


def _cpu_seconds() -> float:
    """CPU time of this process and its finished worker processes, s."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def measure_engine(
    model_path: Path, n: int, variables: list[str], seed: int, workers: int | None = None
) -> dict:
    sys.path.insert(0, str(ROOT))
    from sdnet.engine import compile_model

    model = compile_model(model_path)
    if workers is not None:
        model.workers = workers
    model.simulate({}, n_runs=2, variables=variables)  # builds the program once
    values = draw(model.parameters, n, seed)
    start = time.perf_counter()
    if n <= CHUNK:
        sim = model.simulate(values, n_runs=n, variables=variables)
        failed = int((~sim.ok).sum())
    else:
        # as the runner does: chunks, keeping only what is written out (final values here)
        failed = 0
        finals = {v: np.empty(n) for v in variables}
        for begin in range(0, n, CHUNK):
            end = min(begin + CHUNK, n)
            chunk = {k: v[begin:end] for k, v in values.items()}
            sim = model.simulate(chunk, n_runs=end - begin, variables=variables)
            for v in variables:
                finals[v][begin:end] = sim.outputs[v][:, -1]
            failed += int((~sim.ok).sum())
            del sim
    seconds = time.perf_counter() - start
    return {
        "engine": "vector", "n": n, "seconds": seconds, "failed": failed, "peak_mib": peak_mib(),
        "workers": model.workers, "cpu_seconds": _cpu_seconds(),
    }


def measure_pysd(model_path: Path, k: int, variables: list[str], seed: int) -> dict:
    import pysd

    sys.path.insert(0, str(ROOT))
    from sdnet.engine import compile_model

    values = draw(compile_model(model_path).parameters, k, seed)
    folder = Path(tempfile.mkdtemp())
    try:
        copy = folder / model_path.name
        shutil.copy(model_path, copy)
        model = pysd.read_vensim(str(copy))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.run(progress=False, return_columns=variables)
            start = time.perf_counter()
            for i in range(k):
                model.run(
                    params={name: float(v[i]) for name, v in values.items()},
                    return_columns=variables,
                    progress=False,
                )
            seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"engine": "pysd", "n": k, "seconds": seconds, "failed": 0, "peak_mib": peak_mib()}


def in_subprocess(args: list[str]) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=FLEXNET)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--no-million", action="store_true", help="skip N = 1e6")
    parser.add_argument("--pysd-runs", type=int, default=20, help="K runs of PySD's loop")
    parser.add_argument("--variables", nargs="+", default=DEFAULT_VARIABLES)
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument(
        "--workers", type=int, default=None, help="engine worker processes (default 2)"
    )
    parser.add_argument("--one", nargs=2, metavar=("ENGINE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.one:
        engine, n = args.one[0], int(args.one[1])
        if engine == "pysd":
            result = measure_pysd(args.model, n, args.variables, args.seed)
        else:
            result = measure_engine(args.model, n, args.variables, args.seed, args.workers)
        print(json.dumps(result))
        return

    common = ["--model", str(args.model), "--seed", str(args.seed), "--variables",
              *args.variables]
    if args.workers is not None:
        common += ["--workers", str(args.workers)]
    pysd_result = in_subprocess([*common, "--one", "pysd", str(args.pysd_runs)])
    pysd_rate = pysd_result["n"] / pysd_result["seconds"]
    sizes = list(args.sizes) + ([] if args.no_million else [1_000_000])
    rows = []
    for n in sizes:
        result = in_subprocess([*common, "--one", "vector", str(n)])
        rate = n / result["seconds"]
        rows.append((n, result, rate))
        print(f"N={n}: {result['seconds']:.2f} s", file=sys.stderr)

    shown = args.model.relative_to(ROOT) if args.model.is_relative_to(ROOT) else args.model
    print(f"Model: {shown}; saved variables: {', '.join(args.variables)}")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, numpy {np.__version__}; load average "
          f"{os.getloadavg()[0]:.2f} at the end")
    print()
    print(
        "| engine | runs | time (s) | runs/s | per run | ratio to PySD | peak memory (MiB) "
        "| process CPU (s) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| PySD loop | {pysd_result['n']} | {pysd_result['seconds']:.2f} | {pysd_rate:.1f} | "
        f"{1e3 * pysd_result['seconds'] / pysd_result['n']:.1f} ms | 1 | "
        f"{pysd_result['peak_mib']:.0f} | |"
    )
    for n, result, rate in rows:
        print(
            f"| engine (<= {result['workers']} processes) | {n:.0e} | {result['seconds']:.2f} | "
            f"{rate:,.0f} | {1e6 * result['seconds'] / n:.0f} us | {rate / pysd_rate:,.0f} | "
            f"{result['peak_mib']:.0f} | {result['cpu_seconds']:.1f} |"
        )


if __name__ == "__main__":
    main()
