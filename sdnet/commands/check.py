"""``sdnet check MODEL``: run the validity battery and print a pass/fail table."""

from __future__ import annotations

import argparse

HELP = "run the model validity battery and print a pass/fail table"
ORDER = 30
DESCRIPTION = (
    "Run sdnet's validity battery on a Vensim model: units declared and consistent with each "
    "stock, defaults inside their declared ranges, no NaN and stocks within bounds, firms "
    "conserved, extreme conditions, integration error (dt vs dt/2, any model, at the file's "
    "time step or --time-step DT), and loop knockout. "
    "Checks that need the flexnet model's variables say n/a on other models. Exit code 0 "
    "when every applicable check passes, 1 otherwise."
)
EPILOG = """examples:
  sdnet check models/flexnet/flexnet.mdl
  sdnet check models/flexnet/flexnet.mdl --only flow_units,firms_conserved
  sdnet check models/flexnet/flexnet.mdl --only integration_error --time-step 0.5
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


def run(args: argparse.Namespace) -> int:
    """Run the battery; print one line per check; return 0 if all applicable checks pass."""
    from sdnet.model import load_model
    from sdnet.validity import check_model

    model = load_model(args.model, card=getattr(args, "card", None))
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
