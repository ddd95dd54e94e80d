"""How long a study's report takes, figures rendered one after the other against in parallel.

    python benchmarks/report_speed.py out/sustaining_levers [--workers 2] [--repeat 1]

Writes the report of an existing results folder twice per repeat into temporary folders:
once with ``workers=1`` (every figure rendered in this process, as before issue 13) and once
with ``--workers`` processes, and prints both times and their ratio (measured in the same run,
so the machine's load affects both alike; alternate runs even it out).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from sdnet.reports import write_report


def _time(results: Path, workers: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        write_report(results, out=Path(folder) / "report", workers=workers)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    serial, parallel = [], []
    for _ in range(args.repeat):
        serial.append(_time(args.results, 1))
        parallel.append(_time(args.results, args.workers))
        print(f"serial {serial[-1]:.1f} s, {args.workers} workers {parallel[-1]:.1f} s",
              file=sys.stderr)
    best_s, best_p = min(serial), min(parallel)
    print(f"{args.results}: report in {best_s:.1f} s rendering serially, {best_p:.1f} s with "
          f"{args.workers} workers: {best_s / best_p:.2f}x")


if __name__ == "__main__":
    main()
