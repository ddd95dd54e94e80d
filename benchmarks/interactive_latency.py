"""How fast do the teaching notebooks' sliders respond? (target: 100 ms per change)

Measures, on this machine and in one process:

1. one PySD run of the flexnet model through the facade (the baseline a naive notebook uses);
2. one vectorized-engine run, at the model's time step and at the explorer's (1/8 year);
3. the explorer's update after a slider move, cold (the run is not cached: model run + redraw)
   and warm (the move was prefetched: cache lookup + redraw), over random one-slider moves;
4. the prefetch itself (every one-move neighbour, one vectorized call), which runs after the
   figure is shown.

Run:  python3 benchmarks/interactive_latency.py [--moves 40] [--skip-pysd]
Prints a table (median, 90th percentile and maximum, in milliseconds) and a verdict on the
slowest move; exits 1 when a move took longer than the target.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MODEL = ROOT / "models" / "flexnet" / "flexnet.mdl"
TARGET_MS = 100.0


def _ms(samples: list[float]) -> tuple[float, float, float]:
    """Median, 90th percentile and maximum, in milliseconds."""
    values = sorted(1000 * s for s in samples)
    p90 = values[min(len(values) - 1, round(0.9 * (len(values) - 1)))]
    return statistics.median(values), p90, values[-1]


def main() -> int:
    """Run the measurements and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=40, help="random slider moves to time")
    parser.add_argument("--skip-pysd", action="store_true", help="skip the PySD baseline")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    from sdnet.card import find_card
    from sdnet.engine import compile_model
    from sdnet.policy import base_push, region_values
    from sdnet.teaching.explorer import Explorer

    card = find_card(MODEL)
    BASE_PUSH = base_push(card)  # noqa: N806 - the card's base push, read once
    rows: list[tuple[str, float, float, float, int]] = []
    values = {**region_values("typical", card=card), **BASE_PUSH.as_params(card)}
    if not args.skip_pysd:
        from sdnet.model import load_model

        model = load_model(MODEL)
        model.run(region="typical", push=BASE_PUSH)  # warm-up (translation cache, imports)
        samples = []
        for _ in range(3):
            began = time.perf_counter()
            model.run(region="typical", push=BASE_PUSH, variables=["Total Members"])
            samples.append(time.perf_counter() - began)
        rows.append(("PySD facade, one run (dt model)", *_ms(samples), len(samples)))

    compiled = compile_model(MODEL)
    for label, step in (("engine, one run, dt model", None), ("engine, one run, dt 1/8", 0.125)):
        compiled.simulate(values, n_runs=1, time_step=step, variables=["Total Members"])
        samples = []
        for _ in range(10):
            began = time.perf_counter()
            compiled.simulate(values, n_runs=1, time_step=step, variables=["Total Members"])
            samples.append(time.perf_counter() - began)
        rows.append((label, *_ms(samples), len(samples)))

    rng = np.random.default_rng(args.seed)
    cold_explorer = Explorer(compiled, card=card, region="typical", push=BASE_PUSH,
                             prefetch=False)
    warm_explorer = Explorer(compiled, card=card, region="typical", push=BASE_PUSH,
                             prefetch=True)
    cold, warm, prefetch = [], [], []
    for _ in range(args.moves):
        slider = cold_explorer.sliders[int(rng.integers(len(cold_explorer.sliders)))]
        value = float(rng.choice(slider.positions))
        cold_explorer._cache.clear()  # force a model run: the cold path
        cold.append(cold_explorer.update(**{slider.name: value}))
        began = time.perf_counter()
        warm_explorer.prefetch()
        prefetch.append(time.perf_counter() - began)
        warm.append(warm_explorer.update(**{slider.name: value}))
    rows.append(("explorer update, cold (run + redraw)", *_ms(cold), len(cold)))
    rows.append(("explorer update, warm (prefetched + redraw)", *_ms(warm), len(warm)))
    rows.append(("explorer prefetch (after the redraw)", *_ms(prefetch), len(prefetch)))

    print(f"interactive latency on {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.2f}; target {TARGET_MS:.0f} ms per change")
    print(f"{'what':<46} {'median ms':>10} {'p90 ms':>8} {'max ms':>8} {'n':>4}")
    for label, median, p90, worst, n in rows:
        print(f"{label:<46} {median:>10.1f} {p90:>8.1f} {worst:>8.1f} {n:>4}")
    # every change counts: the verdict is on the slowest move, cold or prefetched
    slowest = max(_ms(cold)[2], _ms(warm)[2])
    verdict = "meets" if slowest <= TARGET_MS else "misses"
    print(f"\nEvery slider move {verdict} the {TARGET_MS:.0f} ms target: slowest "
          f"{slowest:.1f} ms (cold median {_ms(cold)[0]:.1f} ms, prefetched median "
          f"{_ms(warm)[0]:.1f} ms).")
    return 0 if slowest <= TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
