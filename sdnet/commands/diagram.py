"""``sdnet diagram MODEL --out FILE.svg``: draw a model's stock-and-flow diagram.

Drawn from the sketch Vensim stores in the ``.mdl`` file (stocks, flows with their valves and
clouds, causal links, at the positions the modeller chose), for readers without Vensim, for
teaching and for papers.
"""

from __future__ import annotations

import argparse

HELP = "draw a model's stock-and-flow diagram (from its .mdl sketch) to SVG/PNG/PDF"
ORDER = 70
DESCRIPTION = (
    "Draw the stock-and-flow diagram stored in a Vensim .mdl file: stocks as boxes, flows as "
    "thick pipes with valves and clouds, causal links as thin arrows with their polarity, "
    "every name where the modeller put it. One view with --view, else every view one above "
    "the other. The output's suffix picks the format (.svg, .png or .pdf)."
)
EPILOG = """examples:
  sdnet diagram models/flexnet/flexnet.mdl --out flexnet.svg
  sdnet diagram models/flexnet/flexnet.mdl --view membership --out membership.png
"""

__all__ = ["DESCRIPTION", "EPILOG", "HELP", "ORDER", "add_arguments", "run"]

_FORMATS = (".svg", ".png", ".pdf")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``sdnet diagram``."""
    parser.add_argument("model", metavar="MODEL", help="path of a Vensim .mdl file")
    parser.add_argument("--view", default=None,
                        help="name of the view to draw (default: every view, stacked)")
    parser.add_argument("--out", metavar="FILE", required=True,
                        help="image to write: FILE.svg, FILE.png or FILE.pdf")


def run(args: argparse.Namespace) -> int:
    """Draw the diagram and print where it is."""
    from pathlib import Path

    from sdnet.errors import InvalidValueError
    from sdnet.reports import write_diagram

    if Path(args.out).suffix.lower() not in _FORMATS:
        raise InvalidValueError(
            "--out", args.out, expected=f"a file name ending in {', '.join(_FORMATS)}"
        )
    path = write_diagram(args.model, args.out, view=args.view)
    print(f"wrote {path}")
    return 0
