"""The full robust behaviour check of flexnet (issue #10, part 3): pass rates over 2,000 sets.

Runs ``sdnet check models/flexnet/flexnet.mdl --robust --samples 2000`` through the library
(:func:`sdnet.robustness.robust_check`) and prints the pass-rate table as Markdown, ready for
the model README, plus the goals of issue #10. ``tests/model/test_robust.py`` checks the same
goals on 200 sets; this script gives the full figures.

Usage::

    python3 benchmarks/robust_behaviour.py                    # 2,000 LHS sets, seed 1
    python3 benchmarks/robust_behaviour.py --samples 500 --seed 7
    python3 benchmarks/robust_behaviour.py --sets out/calibration/non_implausible.csv
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sdnet.model import load_model  # noqa: E402
from sdnet.robustness import default_sets, read_sets, robust_check  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Run the check and print the Markdown table; exit 0 when every goal is met."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "flexnet" / "flexnet.mdl"))
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sets", help="CSV/Parquet of parameter sets instead of the LHS")
    args = parser.parse_args(argv)

    model = load_model(args.model)
    if args.sets:
        sets, _ = read_sets(args.sets, model)
        source = f"{len(sets)} sets from {args.sets}"
    else:
        sets = default_sets(model, args.samples, seed=args.seed)
        source = f"LHS of {sets.shape[1]} [uncertain] parameters, seed {args.seed}"
    started = time.perf_counter()
    report = robust_check(model, sets, source=source)
    elapsed = time.perf_counter() - started

    print(f"{report.n_sets} parameter sets ({source}); {elapsed:.0f} s on the vector engine; "
          f"{report.failed_runs} runs non-finite, {report.flagged_runs} flagged by the "
          "numerical guard\n")
    print("| check | region | passed / n | rate |")
    print("|---|---|---|---|")
    for row in report.rows:
        print(f"| `{row.check}` | {row.region} | {row.passed} / {row.n} | {row.rate:.1%} |")
    print("\n| goal (issue #10) | measured | met |")
    print("|---|---|---|")
    for text, value, met in report.goals():
        print(f"| {text} | {value:.1%} | {'yes' if met else 'no'} |")
    return 0 if report.all_goals_met else 1


if __name__ == "__main__":
    raise SystemExit(main())
