"""Benchmark: is the flagship's answer the same for three seeds (issue 13, done when)?

Runs ``experiments/sustaining_levers.toml`` with three seeds (each draws other worlds from the
non-implausible sets; the optimiser is left out, it has its own seed check in
``benchmarks/robust_optimum.py``) and prints, per region, each seed's best package, its
success rate, the cheapest package per success and the verdict of every literature claim.

Usage::

    python3 benchmarks/flagship_seeds.py [--seeds 1 2 3] [--n 500]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "experiments" / "sustaining_levers.toml"


def main() -> int:
    """Run the flagship per seed and print one Markdown table per question."""
    from sdnet.experiment import load_experiment, run_experiment

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--n", type=int, default=500, help="worlds per seed (default 500)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    rows, claims = [], []
    with tempfile.TemporaryDirectory() as folder:
        for seed in args.seeds:
            study = replace(load_experiment(FLAGSHIP).with_options(n=args.n, seed=seed),
                            optimize=None)
            start = time.perf_counter()
            run_experiment(study, out=Path(folder) / f"s{seed}", progress=False)
            seconds = time.perf_counter() - start
            summary = pd.read_csv(Path(folder) / f"s{seed}" / "analyses" / "packages.csv")
            for region, part in summary.groupby("region", sort=False):
                best = part[part["success_rate"] == part["success_rate"].max()]
                cost = pd.to_numeric(part["cost_per_success"], errors="coerce")
                cheap = part.loc[cost.idxmin()] if cost.notna().any() else None
                base = part.set_index("package").loc["base", "success_rate"]
                rows.append({"seed": seed, "region": region,
                             "best": ", ".join(best["package"]),
                             "best rate": f"{best['success_rate'].iloc[0]:.1%}",
                             "base rate": f"{base:.1%}",
                             "cheapest per success": "-" if cheap is None else
                             f"{cheap['package']} ${cheap['cost_per_success']:,.0f}",
                             "seconds": f"{seconds:.0f}"})
            checks = pd.read_csv(Path(folder) / f"s{seed}" / "analyses" / "expectations.csv",
                                 keep_default_na=False)
            for finding, part in checks.groupby("finding", sort=False):
                claims.append({"seed": seed, "finding": finding.split(":")[0],
                               "holds everywhere": bool(part["holds"].all()),
                               "intervals apart everywhere": bool(part["apart"].all())})
    print(pd.DataFrame(rows).to_string(index=False))
    print()
    print(pd.DataFrame(claims).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
