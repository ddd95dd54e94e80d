"""The ``sdnet`` command line: a thin layer over the public API.

Each subcommand lives in its own module of :mod:`sdnet.commands` and provides

* ``HELP`` (one line), ``ORDER`` (an int: where it appears in ``sdnet --help``),
* ``add_arguments(parser)`` and ``run(args) -> int``.

This is the only module that configures logging. Any :class:`~sdnet.errors.SdnetError` ends the
command with exit code 2 and a one-line message on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import logging
import os
import pkgutil
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn, TextIO

import sdnet.commands
from sdnet.commands._options import data_files
from sdnet.errors import OutOfRangeError, SdnetError

__all__ = ["build_parser", "main"]


def _command_modules() -> list[tuple[str, ModuleType]]:
    modules = []
    for info in pkgutil.iter_modules(sdnet.commands.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"sdnet.commands.{info.name}")
        modules.append((info.name, module))
    modules.sort(key=lambda item: (getattr(item[1], "ORDER", 100), item[0]))
    return modules


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, like every other error of the CLI."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


#: Commands that read a model, so take --card.
_MODEL_COMMANDS = ("describe", "check", "run", "ensemble", "experiment")

#: Commands that read a model, so take --data (serve and calibrate take their own --card).
_DATA_COMMANDS = (*_MODEL_COMMANDS, "calibrate", "serve")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with one subparser per command module."""
    from sdnet import __version__

    parser = _Parser(
        prog="sdnet",
        description=(
            "sdnet: a system-dynamics policy lab for Vensim and XMILE models: describe, check, "
            "run, ensembles, sensitivity studies with reports, calibration, diagrams, a flight "
            "simulator and teaching exercises. What sdnet knows about one model (its levers "
            "over time, presets, outcomes, words) comes from a model card beside it."
        ),
    )
    parser.add_argument("--version", action="version", version=f"sdnet {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in _command_modules():
        sub = subparsers.add_parser(
            name,
            help=module.HELP,
            description=getattr(module, "DESCRIPTION", module.HELP),
            epilog=getattr(module, "EPILOG", None),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
        if name in _MODEL_COMMANDS:
            sub.add_argument(
                "--card", metavar="TOML",
                help="the model card (default: the .toml of the same name beside the model; "
                     "neutral wording without one)")
        if name in _DATA_COMMANDS:
            sub.add_argument(
                "--data", metavar="FILE[,FILE...]", type=data_files, action="extend",
                default=None,
                help="data files (.tab or .csv, e.g. another model's output) holding the "
                     "model's data variables without an expression; repeatable"
                     + ("; replaces the study's [experiment] data" if name == "experiment"
                        else ""))
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sdnet`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(levelname)s %(name)s: %(message)s",
    )
    # PySD 3.14 triggers a pandas deprecation warning on every run; users cannot act on it.
    warnings.filterwarnings("ignore", message="The inplace keyword in DataFrame.set_index")
    warnings.filterwarnings("ignore", message="chardet.universaldetector is deprecated")
    shown_before = warnings.showwarning
    warnings.showwarning = functools.partial(_show_warning, command=args.command)
    try:
        return int(args._run(args) or 0)
    except SdnetError as error:
        message = str(error)
        if isinstance(error, OutOfRangeError):
            opt_out = hasattr(args, "no_check_ranges")
            message = error.summary + (
                " (--no-check-ranges runs extreme conditions on purpose)" if opt_out else ""
            )
        print(f"sdnet {args.command}: error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away (e.g. `sdnet describe MODEL | head`): not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as error:
        # a file or folder that cannot be read or written (e.g. --out names a file)
        what = f"cannot use {error.filename}: " if error.filename else ""
        print(f"sdnet {args.command}: error: {what}{error.strerror or error}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"sdnet {args.command}: error: out of memory (try fewer runs, fewer saved "
              "variables or a coarser save step)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sdnet {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.showwarning = shown_before


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: TextIO | None = None, line: str | None = None, *, command: str) -> None:
    """Print a warning as one line, like the errors (not Python's file, line and source)."""
    print(f"sdnet {command}: warning: {message}", file=file or sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
