"""Where sdnet keeps its caches, and the hash that names a model file in them.

Both the PySD facade and the vectorized engine cache what they derive from a model file, keyed
by the file's SHA-256, in one user cache folder; this module is their common ground (they may
not import each other).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["cache_root", "file_sha256", "packaged_data"]


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
