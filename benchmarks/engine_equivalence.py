"""The full flexnet equivalence check of issue 3: engine (Euler) against PySD, run by run.

Draws ``--sets`` parameter sets (default 1,000) uniformly within the declared ranges of every
bounded constant of the model, runs them all at once on the engine and one by one on PySD, and
reports the maximum relative difference over every saved output of every run. Exits with status
1 when it exceeds ``--tolerance`` (default 1e-9). The normal test suite runs a fast subset
(``tests/unit/engine/test_engine_flexnet.py``); this script is the slow, complete version.

Usage::

    python3 benchmarks/engine_equivalence.py                 # 1,000 sets, about 25 minutes
    python3 benchmarks/engine_equivalence.py --sets 100 --seed 7
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sdnet.engine import compile_model  # noqa: E402

FLEXNET = ROOT / "models" / "flexnet" / "flexnet.mdl"


def relative_difference(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """Elementwise |ours - theirs| / |theirs| (0 where they are equal, including both NaN)."""
    difference = np.abs(ours - theirs)
    scale = np.maximum(np.abs(theirs), np.finfo(float).tiny)
    same = (ours == theirs) | (np.isnan(ours) & np.isnan(theirs))
    return np.where(same, 0.0, difference / scale)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=FLEXNET)
    parser.add_argument("--sets", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--tolerance", type=float, default=1e-9)
    args = parser.parse_args()

    import pysd

    model = compile_model(args.model)
    rng = np.random.default_rng(args.seed)
    bounded = [p for p in model.parameters.values() if p.kind != "control" and p.bounded]
    values = {p.name: rng.uniform(p.lower, p.upper, args.sets) for p in bounded}
    start = time.perf_counter()
    sim = model.simulate(values, n_runs=args.sets)
    engine_seconds = time.perf_counter() - start

    folder = Path(tempfile.mkdtemp())
    worst, where = 0.0, ("", -1, 0.0)
    try:
        copy = folder / args.model.name
        shutil.copy(args.model, copy)
        reference = pysd.read_vensim(str(copy))
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for run in range(args.sets):
                frame = reference.run(
                    params={name: float(v[run]) for name, v in values.items()}, progress=False
                )
                if not np.array_equal(sim.times, frame.index.to_numpy(dtype=float)):
                    print(f"run {run}: saved times differ")
                    return 1
                for column in frame.columns:
                    diff = relative_difference(
                        sim.outputs[column][run], frame[column].to_numpy(dtype=float)
                    )
                    if diff.max() > worst:
                        i = int(diff.argmax())
                        worst, where = float(diff.max()), (column, run, float(sim.times[i]))
                if (run + 1) % 100 == 0:
                    print(f"{run + 1} runs compared; worst so far {worst:.3g}", file=sys.stderr)
        pysd_seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    print(f"model: {args.model.name}; {args.sets} parameter sets (seed {args.seed}) over "
          f"{len(bounded)} constants; {len(sim.outputs)} outputs x {sim.times.size} saved times")
    print(f"engine: {engine_seconds:.2f} s for all sets; PySD: {pysd_seconds:.1f} s one by one")
    print(f"maximum relative difference: {worst:.3g}"
          + (f" ({where[0]!r}, run {where[1]}, time {where[2]})" if worst else ""))
    print(f"failed runs (non-finite) on the engine: {int((~sim.ok).sum())}")
    ok = worst <= args.tolerance
    print("OK" if ok else f"FAILED: above the tolerance {args.tolerance:g}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
