"""``sdnet report RESULTS_DIR``: turn a finished study into a report people want to read.

Writes ``report.html`` (one self-contained file: figures and styles inline, nothing fetched
from any address), ``report.md`` with the figures in ``figures/``, and every table as CSV in
``tables/``.
"""

from __future__ import annotations

import argparse
import sys

from sdnet.commands._options import output_folder

HELP = "write the HTML and Markdown report of a finished study"
ORDER = 60
DESCRIPTION = (
    "Write the report of a study from the results folder `sdnet experiment` wrote: first a "
    "one-page brief (the answer in plain words, the decisive figure, the public cost per "
    "success, what the answer depends on), then findings written from the numbers, fan "
    "charts of the model card's report variables (else the stocks) split by regime, the "
    "lever ranking (Morris with its stability over seeds, Sobol, time-resolved), convergence "
    "with cautions, scenario-discovery boxes, threshold maps; "
    "in an appendix the model's stock-and-flow diagram, the factors and design, numerical "
    "checks, how to reproduce the study and provenance. Parts the study did not produce are "
    "replaced by a note. Progress goes to stderr (--quiet: none). Output: "
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

__all__ = ["DESCRIPTION", "EPILOG", "HELP", "ORDER", "add_arguments", "run",
           "stderr_progress"]


def stderr_progress(message: str) -> None:
    """A report's progress as one line on stderr (so a long report is never silent)."""
    print(f"report: {message}", file=sys.stderr, flush=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``sdnet report``."""
    parser.add_argument("results_dir", metavar="RESULTS_DIR",
                        help="the results folder written by `sdnet experiment`")
    parser.add_argument("--out", type=output_folder, metavar="DIR", default=None,
                        help="folder to write the report into (default: RESULTS_DIR/report)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress messages on stderr")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace another output found in the folder (only the files "
                        "sdnet wrote there are removed)")


def run(args: argparse.Namespace) -> int:
    """Write the report and print where it is."""
    from sdnet.reports import write_report

    path = write_report(args.results_dir, out=args.out, overwrite=args.overwrite,
                        progress=None if args.quiet else stderr_progress)
    print(f"wrote {path}")
    print(f"wrote {path.parent / 'report.md'} (figures in {path.parent / 'figures'}, "
          f"tables in {path.parent / 'tables'})")
    return 0
