"""``sdnet report RESULTS_DIR``: turn a finished study into a report people want to read.

Writes ``report.html`` (one self-contained file: figures and styles inline, nothing fetched
from any address), ``report.md`` with the figures in ``figures/``, and every table as CSV in
``tables/``.
"""

from __future__ import annotations

import argparse

from sdnet.commands._options import output_folder

HELP = "write the HTML and Markdown report of a finished study"
ORDER = 60
DESCRIPTION = (
    "Write the report of a study from the results folder `sdnet experiment` wrote: the "
    "question, the model and how to reproduce the study, the model's stock-and-flow diagram, "
    "the factors and design, fan charts of the model card's report variables (else the "
    "stocks) split by regime, the lever ranking (Morris, Sobol, time-resolved), convergence "
    "with cautions, "
    "scenario-discovery boxes, threshold maps, findings written from the numbers, and "
    "provenance. Parts the study did not produce are replaced by a note. Output: "
    "OUT/report.html (self-contained, opens offline in any browser), OUT/report.md, "
    "OUT/figures/*.svg and OUT/tables/*.csv. OUT appears whole when the report is done; an "
    "earlier report of the same study there is replaced (only the files sdnet wrote are "
    "removed), a folder holding files sdnet did not write is refused, and another output "
    "(e.g. the report of another study) is replaced only with --overwrite."
)
EPILOG = """examples:
  sdnet report out/sustaining_levers
  sdnet report out/sustaining_levers --out reports/sustaining_levers
"""

__all__ = ["DESCRIPTION", "EPILOG", "HELP", "ORDER", "add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``sdnet report``."""
    parser.add_argument("results_dir", metavar="RESULTS_DIR",
                        help="the results folder written by `sdnet experiment`")
    parser.add_argument("--out", type=output_folder, metavar="DIR", default=None,
                        help="folder to write the report into (default: RESULTS_DIR/report)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace another output found in the folder (only the files "
                        "sdnet wrote there are removed)")


def run(args: argparse.Namespace) -> int:
    """Write the report and print where it is."""
    from sdnet.reports import write_report

    path = write_report(args.results_dir, out=args.out, overwrite=args.overwrite)
    print(f"wrote {path}")
    print(f"wrote {path.parent / 'report.md'} (figures in {path.parent / 'figures'}, "
          f"tables in {path.parent / 'tables'})")
    return 0
