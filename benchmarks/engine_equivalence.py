"""The full flexnet equivalence check of issue 3: engine (Euler) against PySD, run by run.

Draws ``--sets`` parameter sets (default 1,000) uniformly within the declared ranges of every
bounded constant of the model, runs them all at once on the engine and one by one on PySD, and
reports the maximum relative difference over every saved output of every run. Exits with status
1 when it exceeds ``--tolerance`` (default 1e-9). The normal test suite runs a fast subset
(``tests/unit/engine/test_engine_flexnet.py``); this script is the slow, complete version.

Usage::

    python3 benchmarks/engine_equivalence.py                 # 1,000 sets, about 25 minutes
    python3 benchmarks/engine_equivalence.py --sets 100 --seed 7
    python3 benchmarks/engine_equivalence.py --pysd-cache /tmp/sdnet-eq   # reuse PySD's runs
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


def _pysd_runs(args: argparse.Namespace, values: dict[str, np.ndarray]):
    """Yield (run, times, {column: values}) from PySD, or from the cache of an earlier call."""
    import hashlib

    import pysd

    cache = None
    if args.pysd_cache is not None:
        digest = hashlib.sha256(args.model.read_bytes()).hexdigest()[:16]
        cache = args.pysd_cache / f"pysd-{digest}-seed{args.seed}-sets{args.sets}.npz"
        if cache.is_file():
            with np.load(cache) as data:
                columns = [str(c) for c in data["columns"]]
                outputs, times = data["outputs"], data["times"]
            for run in range(args.sets):
                yield run, times, {c: outputs[run, :, j] for j, c in enumerate(columns)}
            return
    folder = Path(tempfile.mkdtemp())
    stored: list[np.ndarray] = []
    columns: list[str] = []
    times = np.empty(0)
    try:
        copy = folder / args.model.name
        shutil.copy(args.model, copy)
        reference = pysd.read_vensim(str(copy))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for run in range(args.sets):
                frame = reference.run(
                    params={name: float(v[run]) for name, v in values.items()}, progress=False
                )
                columns = list(frame.columns)
                times = frame.index.to_numpy(dtype=float)
                block = frame.to_numpy(dtype=float)
                if cache is not None:
                    stored.append(block)
                yield run, times, {c: block[:, j] for j, c in enumerate(columns)}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if cache is not None and len(stored) == args.sets:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, outputs=np.stack(stored), times=times, columns=np.array(columns))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=FLEXNET)
    parser.add_argument("--sets", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--tolerance", type=float, default=1e-9)
    parser.add_argument(
        "--pysd-cache",
        type=Path,
        default=None,
        help="folder for PySD's results (reused while the model, seed and sets are the same)",
    )
    args = parser.parse_args()

    model = compile_model(args.model)
    rng = np.random.default_rng(args.seed)
    bounded = [p for p in model.parameters.values() if p.kind != "control" and p.bounded]
    values = {p.name: rng.uniform(p.lower, p.upper, args.sets) for p in bounded}
    start = time.perf_counter()
    sim = model.simulate(values, n_runs=args.sets)
    engine_seconds = time.perf_counter() - start

    worst, where = 0.0, ("", -1, 0.0)
    start = time.perf_counter()
    for run, frame_times, frame in _pysd_runs(args, values):
        if not np.array_equal(sim.times, frame_times):
            print(f"run {run}: saved times differ")
            return 1
        for column, theirs in frame.items():
            diff = relative_difference(sim.outputs[column][run], theirs)
            if diff.max() > worst:
                i = int(diff.argmax())
                worst, where = float(diff.max()), (column, run, float(sim.times[i]))
        if (run + 1) % 100 == 0:
            print(f"{run + 1} runs compared; worst so far {worst:.3g}", file=sys.stderr)
    pysd_seconds = time.perf_counter() - start

    print(f"model: {args.model.name}; {args.sets} parameter sets (seed {args.seed}) over "
          f"{len(bounded)} constants; {len(sim.outputs)} outputs x {sim.times.size} saved times")
    print(f"engine: {engine_seconds:.2f} s for all sets; PySD: {pysd_seconds:.1f} s one by one "
          "(or to read its cached runs)")
    print(f"maximum relative difference: {worst:.3g}"
          + (f" ({where[0]!r}, run {where[1]}, time {where[2]})" if worst else ""))
    print(f"failed runs (non-finite) on the engine: {int((~sim.ok).sum())}")
    ok = worst <= args.tolerance
    print("OK" if ok else f"FAILED: above the tolerance {args.tolerance:g}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
