"""Argument types shared by the subcommands: bad option values fail while parsing, named.

Each function is an ``argparse`` ``type=``: it returns the parsed value or raises
``argparse.ArgumentTypeError``, which argparse reports as ``sdnet CMD: error: argument
--OPTION: MESSAGE`` with exit code 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["cluster_option", "data_files", "description_width", "export_list", "output_folder",
           "variable_list"]

#: Narrowest description column of ``sdnet describe`` (room for a word and "...").
MIN_WIDTH = 10


def output_folder(text: str) -> Path:
    """A folder to write into: new or existing, but not a file (nor under one).

    >>> output_folder("out/run")
    PosixPath('out/run')
    """
    if not text.strip():
        raise argparse.ArgumentTypeError("empty folder name (give the folder to write into)")
    path = Path(text)
    for part in (path, *path.parents):
        if part.exists() and not part.is_dir():
            raise argparse.ArgumentTypeError(
                f"{part} is a file, not a folder (give a new or existing folder to write into)")
    return path


def variable_list(text: str) -> str | list[str]:
    """``"all"`` or the names separated by commas; at least one name.

    >>> variable_list(" Total Members, Trust ")
    ['Total Members', 'Trust']
    """
    if text.strip().lower() == "all":
        return "all"
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(
            f"no variable names in {text!r} (give 'all' or names separated by commas)")
    return names


def description_width(text: str) -> int:
    """A column width in characters, at least :data:`MIN_WIDTH`."""
    try:
        width = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of characters, got {text!r}") from None
    if width < MIN_WIDTH:
        raise argparse.ArgumentTypeError(
            f"{width} is too narrow (give at least {MIN_WIDTH} characters)")
    return width


def cluster_option(text: str) -> object:
    """``local:N`` or ``tcp://HOST:PORT`` (:func:`sdnet.cluster.parse_cluster`), checked
    without importing dask.

    >>> str(cluster_option("local:2"))
    'local:2'
    """
    from sdnet.cluster import parse_cluster
    from sdnet.errors import ClusterError

    try:
        return parse_cluster(text)
    except ClusterError as error:
        raise argparse.ArgumentTypeError(str(error).replace(
            "invalid value for --cluster: ", "invalid value ")) from None


def export_list(text: str) -> tuple[str, ...]:
    """Export formats separated by commas: ``netcdf``, ``csv``.

    >>> export_list("csv, netcdf")
    ('csv', 'netcdf')
    """
    names = tuple(dict.fromkeys(n.strip().lower() for n in text.split(",") if n.strip()))
    bad = [n for n in names if n not in ("netcdf", "csv")]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"invalid value {text!r} (expected netcdf, csv or netcdf,csv)")
    return names


def data_files(text: str) -> tuple[Path, ...]:
    """``--data FILE[,FILE...]``: data files relative to the current directory, each checked
    to be a readable ``.tab`` or ``.csv`` file (:func:`sdnet.files.data_file_paths`), so a
    missing one ends the command while its options are read, naming it.
    """
    from sdnet.errors import ModelFileError
    from sdnet.files import data_file_paths

    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(
            f"no file in {text!r} (give .tab or .csv files separated by commas)")
    try:
        return data_file_paths(names, base=Path.cwd(), source="--data, relative to the "
                               "current directory")
    except ModelFileError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
