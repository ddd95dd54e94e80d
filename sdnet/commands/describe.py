"""``sdnet describe MODEL``: what a model contains, before running it.

Prints the model's stocks, its settable parameters (kind, units, declared range, default,
meaning) and the feedback loops its equations' comments name.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from sdnet.commands._options import description_width
from sdnet.params import KINDS

HELP = "show a model's stocks, parameters and feedback loops"
ORDER = 10
DESCRIPTION = """\
Show what a Vensim model contains: its stocks, its parameters (kind, units, declared range,
default value and meaning, read from the model file) and the feedback loops named in its
equations' comments ("Loop R1 (word of mouth): ..."). Parameter kinds:
  lever      a policy choice          region     describes the region
  uncertain  a plausible range        constant   a fixed value
  control    simulation settings (INITIAL TIME, FINAL TIME, TIME STEP, SAVEPER)
"""
EPILOG = """example:
  sdnet describe models/flexnet/flexnet.mdl
  sdnet describe models/flexnet/flexnet.mdl --kind lever,region
"""

__all__ = ["DESCRIPTION", "EPILOG", "HELP", "ORDER", "add_arguments", "format_table", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``sdnet describe``."""
    parser.add_argument("model", help="path of a Vensim .mdl file")
    parser.add_argument(
        "--kind",
        default=None,
        help=f"list only parameters of these kinds, comma-separated ({', '.join(KINDS)})",
    )
    parser.add_argument(
        "--width",
        type=description_width,
        default=70,
        help="maximum width of the description column (characters; default 70)",
    )


def format_table(rows: Sequence[Sequence[object]], headers: Sequence[str]) -> str:
    """Plain-text table with left-aligned columns separated by two spaces."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _clip(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: max(width - 3, 1)] + "..."


def _range(lower: float | None, upper: float | None) -> str:
    lower = None if lower is None or lower != lower else lower  # NaN marks an open end too
    upper = None if upper is None or upper != upper else upper
    if lower is None and upper is None:
        return ""
    lo = "?" if lower is None else f"{lower:g}"
    hi = "?" if upper is None else f"{upper:g}"
    return f"[{lo}, {hi}]"


def run(args: argparse.Namespace) -> int:
    """Print the description of ``args.model``."""
    from sdnet.errors import SdnetError
    from sdnet.model import load_model

    model = load_model(args.model, card=getattr(args, "card", None),
                       data_files=getattr(args, "data", None))
    kinds = None
    if args.kind:
        kinds = [k.strip().lower() for k in args.kind.split(",") if k.strip()]
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise SdnetError(
                f"unknown parameter kind {unknown[0]!r}; valid kinds: {', '.join(KINDS)}"
            )
    width = int(args.width)
    variables = model.variables
    print(f"model {model.path}  (sha256 {model.sha256[:12]})")
    print()

    stocks = variables[variables["kind"] == "stock"]
    print(f"stocks ({len(stocks)})")
    print(
        format_table(
            [
                (
                    row.vensim_name,
                    row.units,
                    ", ".join(row.subscripts),
                    _range(row.lower, row.upper),
                    _clip(row.description, width),
                )
                for row in stocks.itertuples()
            ],
            ["stock", "units", "subscripts", "range", "description"],
        )
    )
    print()

    table = model.parameters if kinds is None else model.parameters.of_kind(*kinds)
    print(f"parameters ({len(table)})")
    print(
        format_table(
            [
                (
                    p.vensim_name,
                    p.name,
                    p.kind,
                    p.units,
                    _range(p.lower, p.upper),
                    f"{p.default:g}",
                    _clip(p.description, width),
                )
                for p in table.values()
            ],
            ["parameter", "python name", "kind", "units", "range", "default", "description"],
        )
    )
    if model.data_variables:
        print()
        source = (", ".join(f.name for f in model.data_files) if model.data_files
                  else "none given: give them with --data FILE")
        print(f"data variables read from data files ({len(model.data_variables)}): "
              f"{', '.join(model.data_variables)}")
        print(f"  data files: {source}")
    loops = model.loops
    if len(loops):
        print()
        print(f"feedback loops named in the model ({len(loops)})")
        print(
            format_table(
                [
                    (row.loop, row.name, _clip(", ".join(row.variables), width))
                    for row in loops.itertuples()
                ],
                ["loop", "name", "variables"],
            )
        )
    return 0
