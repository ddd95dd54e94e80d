"""Benchmark: the flagship study end to end on the vectorized engine vs a PySD loop.

Runs ``experiments/lever_sensitivity.toml`` (Morris screening of every lever and uncertain
parameter, then a Sobol' stage on the top six, with convergence, time-resolved indices, PRIM
and the integration check) and times it end to end: design, runs, metrics, analyses and the
results folder. Then it times PySD running a sample of the same design one run at a time (the
way a loop over ``pysd.load(...).run(params=...)`` would) and extrapolates to the study's
number of runs. Both are measured in the same process on the same machine.

Usage::

    python3 benchmarks/study_speed.py [--pysd-sample 30] [--out DIR]

Target (issue 4): at least 15 factors and 30,000 runs in under 60 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "experiments" / "lever_sensitivity.toml"
TARGET_SECONDS = 60.0


def main() -> int:
    """Run the benchmark and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pysd-sample", type=int, default=30,
                        help="runs of the design timed on PySD (default 30)")
    parser.add_argument("--out", default=None, help="results folder (default: a temp dir)")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    warnings.filterwarnings("ignore", message="The inplace keyword in DataFrame.set_index")
    warnings.filterwarnings("ignore", category=UserWarning, module="sdnet")

    from sdnet.errors import SdnetWarning
    from sdnet.experiment import load_experiment, run_experiment
    from sdnet.model import load_model
    from sdnet.runner import run_ensemble

    warnings.simplefilter("ignore", SdnetWarning)
    start = time.perf_counter()
    experiment = load_experiment(FLAGSHIP)
    load_seconds = time.perf_counter() - start
    model = load_model(experiment.model_path)

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "study"
        start, cpu_start = time.perf_counter(), time.process_time()
        result = run_experiment(experiment, out=out, progress=False, resume=False)
        study_seconds = time.perf_counter() - start
        study_cpu = time.process_time() - cpu_start

    n_runs = len(result.metrics)
    n_factors = len(experiment.factors)
    sample = result.runs.drop(columns=["run", "row", "case", "stage"]).iloc[
        np.linspace(0, n_runs - 1, args.pysd_sample).astype(int)].reset_index(drop=True)
    start, cpu_start = time.perf_counter(), time.process_time()
    run_ensemble(model, sample, engine="pysd", final_time=experiment.run.final_time,
                 time_step=experiment.run.time_step, saveper=experiment.run.saveper,
                 variables=["Total Members", "Embeddedness"], progress=False)
    pysd_seconds = time.perf_counter() - start
    pysd_cpu = time.process_time() - cpu_start
    pysd_per_run = pysd_seconds / len(sample)
    pysd_total = pysd_per_run * n_runs
    integration_runs = 2 * experiment.analysis.integration_n

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}; load average before: {load_before:.1f}")
    print(f"flagship: {n_factors} factors, {n_runs:,} runs (+{integration_runs} integration-"
          f"check runs), spec loaded in {load_seconds:.1f} s")
    print()
    print("| what | runs | wall time (s) | CPU time (s) | wall per run (ms) |")
    print("|---|---:|---:|---:|---:|")
    print(f"| sdnet flagship study end to end (vectorized engine, analyses, results folder) | "
          f"{n_runs:,} | {study_seconds:.1f} | {study_cpu:.1f} | "
          f"{1000 * study_seconds / n_runs:.3f} |")
    print(f"| PySD loop, measured on {len(sample)} runs of the same design | {len(sample)} | "
          f"{pysd_seconds:.1f} | {pysd_cpu:.1f} | {1000 * pysd_per_run:.1f} |")
    print(f"| PySD loop, extrapolated to the study's runs | {n_runs:,} | {pysd_total:,.0f} | "
          f"{pysd_cpu / len(sample) * n_runs:,.0f} | {1000 * pysd_per_run:.1f} |")
    print()
    print(f"time step {experiment.run.time_step or 'model default'} Year for both; "
          f"load average after: {os.getloadavg()[0]:.1f}")
    met = study_seconds < TARGET_SECONDS and n_factors >= 15 and n_runs >= 30_000
    print(f"speed-up: {pysd_total / study_seconds:,.0f}x; target < {TARGET_SECONDS:.0f} s with "
          f">= 15 factors and >= 30,000 runs: {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
