"""Robust optimisation of flexnet's push (issue 13): the cheapest package per region and
required success rate over 500 non-implausible worlds, the Pareto front, and a look inside the
optimum's runs (is the network it sustains embedded, or a treadmill?).

Runs :func:`sdnet.optimize_package` (differential evolution over the same seeded worlds on the
vector engine) and prints, per region and rate, the package, its success rate and public cost,
the size of the Pareto front and the wall time; then re-runs each optimum in its worlds and
reports, in the worlds where it succeeds, Trust, Embeddedness, the members' perceived net value,
sponsor money and the public grant ten years after the push ends, and how many of those
successes the card's sanity checks flag (treadmill, negative-value survivor).

Usage::

    python3 benchmarks/robust_optimum.py                      # 500 worlds, X = 0.5 and 0.8
    python3 benchmarks/robust_optimum.py --worlds 100 --generations 5   # a quick look
    python3 benchmarks/robust_optimum.py --out out/robust_optimum       # also the CSVs
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sdnet  # noqa: E402
from sdnet.decision.evaluate import package_table  # noqa: E402
from sdnet.decision.optimize import (  # noqa: E402
    OptimizeResult,
    Optimum,
    RunSettings,
    _package,
    draw_worlds,
    parse_optimize,
)
from sdnet.metrics import Trajectories, card_metrics, value_at  # noqa: E402
from sdnet.sanity import flags_by_check  # noqa: E402

#: What the mechanism check reads ten years after the push ends.
INSIDE = ("Total Members", "Trust", "Embeddedness", "Micro Perceived Value",
          "Established Perceived Value", "Sponsor Contributions", "Public Push Grant",
          "Fee Revenue")


def main(argv: list[str] | None = None) -> int:
    """Run the searches and print the tables as Markdown."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "flexnet" / "flexnet.mdl"))
    parser.add_argument("--worlds", type=int, default=500)
    parser.add_argument("--rates", type=float, nargs="+", default=[0.5, 0.8])
    parser.add_argument("--regions", nargs="+", default=["embedded_prone", "typical"])
    parser.add_argument("--generations", type=int, default=20)
    parser.add_argument("--popsize", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", help="folder for optima.csv, front.csv, evaluated.csv")
    args = parser.parse_args(argv)

    model = sdnet.load_model(args.model)
    table = {"variables": {"amount": [0, 1_000_000], "duration": [0, 10], "taper": [0, 5],
                           "match": [0, 1], "sponsor_cultivation_share": [0, 0.5]},
             "regions": args.regions, "rates": args.rates, "worlds": args.worlds,
             "generations": args.generations, "popsize": args.popsize, "seed": args.seed}
    spec = parse_optimize(table, model)
    worlds = draw_worlds(model, spec)
    started = time.perf_counter()
    result = sdnet.optimize_package(model, spec, worlds=worlds, progress=lambda line: print(
        f"  {time.perf_counter() - started:6.0f} s  {line}", file=sys.stderr))
    print(f"{len(worlds)} worlds ({spec.sets.name if spec.sets else 'LHS'}, seed {spec.seed}); "
          f"{len(spec.variables)} variables; generations {spec.generations}, popsize "
          f"{spec.popsize}; {len(result.evaluated)} packages evaluated; "
          f"{result.seconds:.0f} s wall time\n")
    print("| region | X | found | amount $/yr | duration yr | taper yr | match | cultivation | "
          "success | public cost $ | front size |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    sizes = result.fronts.groupby("region").size()
    for o in result.optima:
        p = o.package
        print(f"| {o.region} | {o.required_rate:g} | {'yes' if o.found else 'NO'} | "
              f"{p['push_amount']:,.0f} | {p['push_duration']:.2f} | {p['push_taper']:.2f} | "
              f"{p['local_match_requirement']:.2f} | {p['sponsor_cultivation_share']:.2f} | "
              f"{o.success_rate:.1%} | {o.cost:,.0f} | {int(sizes.get(o.region, 0))} |")
    print()
    for region in spec.regions:
        front = result.front(region)
        print(f"Pareto front, {region}: {len(front)} packages")
        print(front.to_string(index=False, float_format=lambda v: f"{v:,.3f}"))
        print()
    print("How sharp each optimum is (packages reaching the rate within 5% of its cost):")
    print(result.near_optimal().to_string(index=False, float_format=lambda v: f"{v:,.3f}"))
    print()
    print("Inside the optimum's successful worlds, 10 years after the push ends (median over "
          "them):\n")
    print("| region | X | successes | Trust | Embeddedness | perceived value $/yr | sponsor "
          "$/yr | grant $/yr | fee revenue $/yr | treadmill | negative value |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for optimum in result.optima:
        print(_inside(model, result, optimum, worlds))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        result.optima_frame().to_csv(out / "optima.csv", index=False)
        result.fronts.to_csv(out / "front.csv", index=False)
        result.evaluated.to_csv(out / "evaluated.csv", index=False)
        result.near_optimal().to_csv(out / "near.csv", index=False)
    return 0


def _inside(model: sdnet.Model, result: OptimizeResult, optimum: Optimum, worlds) -> str:
    """One Markdown row: the optimum re-run in the worlds, read where it succeeds."""
    spec = result.spec
    values = np.array([optimum.package[v.name] for v in spec.variables])
    package = replace(_package(model, "optimum", values, spec.variables, RunSettings().params),
                      label="optimum")
    table = package_table(model, [package], worlds, region=optimum.region)
    numeric = table.drop(columns=["package", "world"])
    checks = model.card.sanity
    variables = list(dict.fromkeys([*INSIDE, *[v for c in checks for cond in c.when
                                               for v in cond.variables]]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = sdnet.run_ensemble(model, numeric, variables=variables, progress=False)
    times = run.dataset["time"].to_numpy()
    end = sum(numeric[n].to_numpy() for n in model.card.push.end_parameters)
    later = end + 10.0

    def at(name: str) -> np.ndarray:
        return value_at(run.outputs(name).to_numpy(), times, time=later)

    def column(name: str) -> np.ndarray:
        if name in numeric:
            return numeric[name].to_numpy(dtype=float)
        return np.full(len(numeric), model.parameters[name].default)

    outcome = card_metrics(model.card)[spec.outcome]
    names = {*outcome.constants, *[c for check in checks for c in check.constants]}
    outputs = {v: run.outputs(v).to_numpy() for v in variables}
    data = Trajectories(times, outputs, end, {c: column(c) for c in names})
    alive = (outcome(data) > 0.5) & run.ok
    flags = flags_by_check(checks, data, ok=run.ok)
    n = int(alive.sum())
    if not n:
        return f"| {optimum.region} | {optimum.required_rate:g} | 0 | | | | | | | | |"
    value = (at("Micro Perceived Value") + at("Established Perceived Value")) / 2

    def med(x: np.ndarray, form: str) -> str:
        return format(float(np.median(x[alive])), form)

    return (f"| {optimum.region} | {optimum.required_rate:g} | {n} | {med(at('Trust'), '.3f')} | "
            f"{med(at('Embeddedness'), '.3f')} | {med(value, ',.0f')} | "
            f"{med(at('Sponsor Contributions'), ',.0f')} | "
            f"{med(at('Public Push Grant'), ',.0f')} | {med(at('Fee Revenue'), ',.0f')} | "
            f"{int((flags['treadmill'] & alive).sum())} | "
            f"{int((flags['negative_value_survivor'] & alive).sum())} |")


if __name__ == "__main__":
    raise SystemExit(main())
