"""Where sdnet keeps its caches, the hash that names a model file in them, and the checked
paths of a model's data files.

Both the PySD facade and the vectorized engine cache what they derive from a model file, keyed
by the file's SHA-256, in one user cache folder, and both read the same data files; this module
is their common ground (they may not import each other).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from sdnet.errors import ModelFileError

__all__ = ["DATA_SUFFIXES", "cache_root", "data_file_paths", "file_sha256", "packaged_data"]

#: What a data file may be: another model's output as PySD's ``TabData`` reads it (tab- or
#: comma-separated, names in the first row or column; PySD matches the suffix exactly).
DATA_SUFFIXES = (".tab", ".csv")


def cache_root() -> Path:
    """sdnet's cache folder: ``$SDNET_CACHE_DIR`` if set, else the user cache folder."""
    override = os.environ.get("SDNET_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("sdnet"))


def file_sha256(path: str | Path) -> str:
    """SHA-256 (hex) of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def packaged_data(name: str) -> Path | None:
    """The folder of data installed with the package (``sdnet.data.<name>``: ``flexnet``, the
    flagship model and its card; ``teaching``, the exercises), or None in a checkout, where the
    same files live in ``models/flexnet`` and ``experiments/teaching`` (pyproject.toml maps
    those folders into the wheel)."""
    import importlib.resources

    try:
        folder = importlib.resources.files(f"sdnet.data.{name}")
    except ModuleNotFoundError:
        return None
    path = Path(str(folder))
    return path if path.is_dir() else None


def data_file_paths(
    files: str | Path | Sequence[str | Path] | None, *, base: str | Path, source: str
) -> tuple[Path, ...]:
    """The data files as absolute paths, each checked to be a readable ``.tab``/``.csv`` file.

    Data files hold the values of a model's data variables that have no expression
    (``x[dim] :INTERPOLATE:``), PySD's ``data_files=``: both engines read them where they are,
    so nothing is copied or written beside them.

    Parameters
    ----------
    files : str, Path, sequence of them, or None
        The files as the user gave them; None or empty gives ``()``.
    base : str or Path
        The folder relative paths start from (the model's folder for the API, the current
        directory for ``--data``, the study file's folder for ``[experiment] data``).
    source : str
        Where the files were given, for messages: ``"--data"``, ``"data_files of x.mdl"``.

    Raises
    ------
    ModelFileError
        Naming the file as given, where it was looked for, ``source`` and what is valid, when
        a file is missing, is a folder, is not ``.tab``/``.csv`` or cannot be read.
    """
    if isinstance(files, str | os.PathLike):
        files = [files]
    found: list[Path] = []
    for given in files or ():
        if not isinstance(given, str | os.PathLike) or not str(given).strip():
            raise ModelFileError(
                f"invalid data file {given!r} ({source}: the paths of .tab or .csv files)",
                path=Path(base))
        full = (Path(base) / Path(given).expanduser()).resolve()
        where = "" if str(full) == str(given) else f"looked at {full}; "
        if full.is_dir():
            problem = f"data file is a folder: {given}"
        elif not full.is_file():
            problem = f"data file not found: {given}"
        elif full.suffix not in DATA_SUFFIXES:
            problem = f"data file {given} is not a .tab or .csv file"
        else:
            problem = _unreadable(full, given)
        if problem:
            raise ModelFileError(
                f"{problem} ({where}{source}: .tab or .csv files, another model's output as "
                "PySD reads it)", path=full)
        if full not in found:
            found.append(full)
    return tuple(found)


def _unreadable(path: Path, given: str | Path) -> str:
    """Why ``path`` cannot be read, or ``""``."""
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as error:
        return f"data file {given} cannot be read: {error.strerror or error}"
    return ""
