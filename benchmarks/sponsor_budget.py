"""Who pays for a surviving flexnet network (issue #10, F4/F5 magnitude): the budget figures.

Runs the base push (300,000 $/yr from year 2 for 3.5 years) in the embedded-prone and the
typical region for every set of a table of parameter sets (default: the non-implausible sets
``models/flexnet/nonimplausible.csv``) and, over the networks alive ten years after the push
(year 15.5, members >= max(3, 5% of the firms)), prints the 5%, 50% and 95% quantiles of:
sponsor money, fees and spending per member and year; staff per member; the sponsors' share of
the income; how often the region's ``Sponsor Capacity`` is what bounds the sponsors' money.
The model README's "What changed in v2.1" table quotes these figures.

Usage::

    python3 benchmarks/sponsor_budget.py                          # about 10-30 s
    python3 benchmarks/sponsor_budget.py --sets other_sets.csv --year 30
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sdnet.metrics import formed_threshold  # noqa: E402
from sdnet.model import load_model  # noqa: E402
from sdnet.numerics import NumericalWarning  # noqa: E402
from sdnet.policy import Push  # noqa: E402
from sdnet.robustness import read_sets  # noqa: E402
from sdnet.runner import run_ensemble  # noqa: E402

BASE_PUSH = Push(amount=300_000.0, start=2.0, duration=3.5)
VARIABLES = ("Total Members", "Sponsor Contributions", "Fee Revenue", "Spending",
             "Active Staff", "Sponsor Capacity", "Embeddedness", "Number of Firms")


def _quantiles(values: np.ndarray) -> str:
    low, mid, high = np.quantile(values, [0.05, 0.5, 0.95])
    return f"{mid:,.4g} ({low:,.4g} - {high:,.4g})"


def main(argv: list[str] | None = None) -> int:
    """Print the budget figures of surviving networks per region; exit 0."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "flexnet" / "flexnet.mdl"))
    parser.add_argument("--sets", default=str(ROOT / "models" / "flexnet" / "nonimplausible.csv"))
    parser.add_argument("--year", type=float, default=15.5,
                        help="when the budget is read (default 15.5: ten years after the push)")
    args = parser.parse_args(argv)

    model = load_model(args.model)
    sets, _ = read_sets(args.sets, model)
    print(f"{len(sets)} sets from {args.sets}; base push; budgets at year {args.year:g} "
          "of the networks alive then (median, 5% - 95%)")
    for region in ("embedded_prone", "typical"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NumericalWarning)
            result = run_ensemble(model, sets, region=region, push=BASE_PUSH,
                                  variables=list(VARIABLES), progress=False)
        outputs = result.dataset["outputs"]
        times = np.asarray(result.dataset["time"].to_numpy(), float)
        column = int(np.argmin(np.abs(times - args.year)))
        data = {name: np.asarray(outputs.sel(variable=name).to_numpy(), float)[:, column]
                for name in VARIABLES}
        members = data["Total Members"]
        alive = np.asarray(result.ok, bool) & (members >= formed_threshold(data["Number of Firms"]))
        print(f"\n{region}: {int(alive.sum())} of {len(members)} networks alive")
        if not alive.any():
            continue
        per = {name: data[name][alive] / members[alive]
               for name in ("Sponsor Contributions", "Fee Revenue", "Spending", "Active Staff")}
        income = data["Sponsor Contributions"][alive] + data["Fee Revenue"][alive]
        capacity_binds = data["Sponsor Contributions"][alive] >= (
            data["Embeddedness"][alive] * data["Sponsor Capacity"][alive] * (1 - 1e-9))
        print(f"  members                          {_quantiles(members[alive])}")
        print(f"  sponsor money per member-year ($) {_quantiles(per['Sponsor Contributions'])}")
        print(f"  fees per member-year ($)          {_quantiles(per['Fee Revenue'])}")
        print(f"  spending per member-year ($)      {_quantiles(per['Spending'])}")
        print(f"  staff per member                  {_quantiles(per['Active Staff'])}")
        print(f"  sponsors' share of the income     "
              f"{_quantiles(data['Sponsor Contributions'][alive] / income)}")
        print(f"  sponsor money bounded by the region's capacity in "
              f"{100 * capacity_binds.mean():.1f}% of these networks")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
