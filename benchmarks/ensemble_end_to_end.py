"""Benchmark: `sdnet ensemble` end to end against the engine alone, measured in one run (issue 14).

For each size (10^5 runs, and 10^6 unless ``--no-million``) this runs, in its own process
under ``/usr/bin/time``::

    sdnet ensemble models/flexnet/flexnet.mdl --samples N --seed 1 --out DIR --timings

and prints its wall time, CPU time (user + system: on a shared machine the wall time is
inflated by the other sessions' load, the CPU time much less), peak memory (RSS), the disk
it estimated before starting and the disk it wrote, and the engine's own time inside that
same command (``--timings``: integrating the blocks, summed). Beside it, in this process, the
engine alone integrates the same design (no guard, no storage, no design drawing, no imports
counted) for the baseline ratio "end to end / engine alone". For 10^6 runs the engine alone is
measured on the first ``--engine-runs`` runs (default 10^5) and scaled, which the table says.
The load average before and after is printed: quote only runs on a quiet machine.

Usage::

    python3 benchmarks/ensemble_end_to_end.py                 # 10^5 and 10^6: ~4 min quiet
    python3 benchmarks/ensemble_end_to_end.py --no-million    # 10^5 only: ~40 s
    python3 benchmarks/ensemble_end_to_end.py --sizes 20000   # other sizes

Targets (issue 14): 10^5 runs within 10 s end to end; 10^6 within 60 s and under 2 GB of
memory, with the disk they need printed before they start.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "flexnet" / "flexnet.mdl"
SEED = 1


def ensemble_command(n: int, out: Path, extra: list[str], *,
                     backend: str | None = None) -> dict[str, float | str]:
    """Run `sdnet ensemble` for n runs in its own process (``backend``: SDNET_BACKEND for it);
    what it took: wall and CPU seconds, peak RSS (MB), disk estimated and written (MB), and
    the engine's, the guard's and the writer's seconds from its ``--timings`` line.
    benchmarks/scaling.py times the command with this too."""
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if backend:
        env["SDNET_BACKEND"] = backend
    command = [sys.executable, "-m", "sdnet.cli", "ensemble", str(MODEL), "--samples", str(n),
               "--seed", str(SEED), "--out", str(out), "--no-progress", "--timings", *extra]
    report = out.parent / f"time_{n}.txt"
    timer = (["/usr/bin/time", "-f", "%e %U %S %M", "-o", str(report)]
             if Path("/usr/bin/time").exists() else [])
    started = time.perf_counter()
    done = subprocess.run([*timer, *command], capture_output=True, text=True, env=env,
                          check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"sdnet ensemble failed:\n{done.stderr}")
    cpu, peak = float("nan"), float("nan")
    if timer:
        _, user, system, rss = report.read_text().split()[-4:]
        cpu, peak = float(user) + float(system), int(rss) / 1024
    estimate = re.search(r"need at most (.+?) on disk", done.stdout)
    engine = re.search(r"engine ([\d.]+) s, numerical guard ([\d.]+) s, waiting for the "
                       r"writer ([\d.]+) s", done.stdout)
    if engine is None:
        raise SystemExit(f"no timings line in:\n{done.stdout}")
    written = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"wall": wall, "cpu": cpu, "peak": peak, "written": written / 1e6,
            "estimate": estimate.group(1) if estimate else "?",
            "engine": float(engine.group(1)), "guard": float(engine.group(2)),
            "writer": float(engine.group(3))}


def _engine_alone(n: int, runs: int) -> float:
    """Seconds the engine takes for the first ``runs`` of the n-run design, block by block."""
    from sdnet.designs import LatinHypercube
    from sdnet.engine import compile_model
    from sdnet.model import load_model
    from sdnet.runner import ranged_factors
    from sdnet.scheduler import BLOCK_SIZE, plan_job, simulate_values

    model = load_model(MODEL)
    cube = LatinHypercube(ranged_factors(model), n, seed=SEED)
    job, _, _ = plan_job(model, cube.names, n_runs=n)
    compiled = compile_model(model.path)
    blocks = [cube[s:min(runs, s + BLOCK_SIZE)] for s in range(0, runs, BLOCK_SIZE)]
    simulate_values(compiled, job, blocks[0][:100])  # the kernel loaded, as in the command
    started = time.perf_counter()
    for factors in blocks:
        simulate_values(compiled, job, factors)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--no-million", action="store_true", help="skip 10^6 runs")
    parser.add_argument("--engine-runs", type=int, default=100_000,
                        help="runs the engine alone integrates at most (scaled to N above)")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    args = parser.parse_args()
    sizes = [*args.sizes, *([] if args.no_million else [1_000_000])]
    load = os.getloadavg()
    print(f"# sdnet ensemble end to end ({platform.node()}, {os.cpu_count()} cores, load "
          f"average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}, "
          f"SDNET_BACKEND={os.environ.get('SDNET_BACKEND', 'default')}, {args.dtype})\n")
    print("| runs | wall (s) | CPU (s) | peak RSS (MB) | disk estimated / written (MB) | "
          "engine in the command (s) | guard (s) | waiting for writer (s) | engine alone (s) "
          "| wall / engine alone | us per run |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    folder = Path(tempfile.mkdtemp(prefix="sdnet-e2e-"))
    try:
        for n in sizes:
            extra = ["--dtype", args.dtype] if args.dtype != "float64" else []
            row = ensemble_command(n, folder / f"ens_{n}", extra)
            runs = min(n, args.engine_runs)
            alone = _engine_alone(n, runs) * n / runs
            scaled = "" if runs == n else f" (first {runs:,}, x{n / runs:g})"
            print(f"| {n:,} | {row['wall']:.1f} | {row['cpu']:.1f} | {row['peak']:.0f} | "
                  f"{row['estimate']} / {row['written']:.0f} | {row['engine']:.1f} | "
                  f"{row['guard']:.1f} | {row['writer']:.1f} | {alone:.1f}{scaled} | "
                  f"{row['wall'] / alone:.2f}x | {row['wall'] / n * 1e6:.0f} |", flush=True)
            shutil.rmtree(folder / f"ens_{n}", ignore_errors=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    load = os.getloadavg()
    print(f"\nload average after: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}; "
          "targets: 10^5 within 10 s, 10^6 within 60 s and under 2 GB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
