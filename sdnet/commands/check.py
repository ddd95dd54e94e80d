"""``sdnet check MODEL``: run the validity battery and print a pass/fail table.

``sdnet check MODEL --robust`` restates the behaviour tests and the goals of issue #10 as pass
rates over many parameter sets instead (:mod:`sdnet.robustness`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from sdnet.errors import SdnetError

if TYPE_CHECKING:
    from sdnet.model import Model

HELP = "run the model validity battery and print a pass/fail table"
ORDER = 30
DESCRIPTION = (
    "Run sdnet's validity battery on a Vensim model: units declared and consistent with each "
    "stock, defaults inside their declared ranges, no NaN and stocks within bounds (also in "
    "each preset of the model card), integration error (dt vs dt/2, at the file's time step "
    "or --time-step DT), and the model card's own [checks]: conservation laws, extreme "
    "conditions and loop knockouts (n/a when the card declares none). Exit code 0 when every "
    "applicable check passes, 1 otherwise. With --robust (the flagship model's behaviour "
    "tests BR1-BR8 and goals, on a model with its outputs): pass rates (with counts) over many "
    "parameter sets in every preset, on the vector engine: a Latin hypercube of the [uncertain] "
    "parameters' declared ranges (--samples, --seed), or the sets in a CSV/Parquet file with "
    "one column per parameter (--sets, e.g. the non-implausible sets of sdnet calibrate). "
    "Exit code 0 when every goal is met, 1 otherwise."
)
EPILOG = """examples:
  sdnet check models/flexnet/flexnet.mdl
  sdnet check models/flexnet/flexnet.mdl --only flow_units,conserved
  sdnet check models/flexnet/flexnet.mdl --only integration_error --time-step 0.5
  sdnet check models/flexnet/flexnet.mdl --robust --samples 2000
  sdnet check models/flexnet/flexnet.mdl --robust --sets out/calibration/non_implausible.csv
"""

__all__ = ["DESCRIPTION", "EPILOG", "HELP", "ORDER", "add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``sdnet check``."""
    parser.add_argument("model", help="path of a Vensim .mdl file")
    parser.add_argument(
        "--only", metavar="NAME,...", help="run only these checks (comma-separated names)"
    )
    parser.add_argument(
        "--time-step", type=float, metavar="DT", default=None,
        help="time step the integration check tests against its half (default: the model "
        "file's); e.g. before running with --time-step DT",
    )
    parser.add_argument(
        "--robust", action="store_true",
        help="behaviour tests as pass rates over many parameter sets (see above)",
    )
    parser.add_argument(
        "--samples", type=int, default=2000, metavar="N",
        help="with --robust: Latin hypercube sets of the [uncertain] parameters (default 2000)",
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="with --robust: seed of the Latin hypercube (default 1)"
    )
    parser.add_argument(
        "--sets", metavar="FILE",
        help="with --robust: CSV or Parquet file of parameter sets (one column per parameter) "
        "instead of the Latin hypercube",
    )
    parser.add_argument(
        "--csv", metavar="FILE", help="with --robust: also write the pass-rate table as CSV"
    )


def run(args: argparse.Namespace) -> int:
    """Run the battery; print one line per check; return 0 if all applicable checks pass."""
    from sdnet.model import load_model
    from sdnet.validity import check_model

    model = load_model(args.model, card=getattr(args, "card", None),
                       data_files=getattr(args, "data", None))
    if args.robust:
        return _robust(model, args)
    if args.sets or args.csv:
        raise SdnetError("--sets and --csv need --robust")
    only = [c.strip() for c in args.only.split(",") if c.strip()] if args.only else None
    report = check_model(model, checks=only, time_step=args.time_step)
    width = max(len(c.name) for c in report.checks)
    print(f"validity checks of {model.path}")
    for check in report.checks:
        print(f"  {check.status:<4}  {check.name:<{width}}  {check.title}")
        print(f"        {'':<{width}}  {check.detail}")
    failed = [c.name for c in report.checks if c.passed is False]
    verdict = "all applicable checks pass" if not failed else f"FAILED: {', '.join(failed)}"
    print(verdict)
    return 0 if not failed else 1


def _robust(model: Model, args: argparse.Namespace) -> int:
    """``--robust``: pass rates over parameter sets; return 0 if every goal is met."""
    from sdnet.robustness import default_sets, format_report, read_sets, robust_check

    if args.only:
        raise SdnetError("--only applies to the validity battery, not to --robust")
    if args.sets:
        sets, dropped = read_sets(args.sets, model)
        source = f"{len(sets)} sets from {args.sets}"
        if dropped:
            source += f"; columns ignored: {', '.join(dropped)}"
    else:
        sets = default_sets(model, args.samples, seed=args.seed)
        source = f"Latin hypercube of {sets.shape[1]} [uncertain] parameters, seed {args.seed}"
    report = robust_check(model, sets, source=source)
    print(format_report(report))
    if args.csv:
        path = Path(args.csv)
        path.parent.mkdir(parents=True, exist_ok=True)
        report.to_frame().to_csv(path, index=False)
        print(f"wrote {path}")
    return 0 if report.all_goals_met else 1
