"""External data of a model (GET XLS/DIRECT CONSTANTS, DATA and LOOKUPS, and data variables
without an expression read from data files), read with PySD's own readers so that the engine
sees exactly the numbers PySD sees.

The compiler records *what* to read (file, sheet, cells, the definition's subscripts) in the
model's IR; :func:`load` reads it when a compiled model first runs (once per compiled model,
never per run: the values are the same in every run and broadcast over them). Files are found
relative to the model's folder, as in Vensim and PySD; nothing is written anywhere.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sdnet.errors import ModelFileError

__all__ = ["load"]


def _coords(spec: Mapping[str, Any]) -> dict[str, list[str]]:
    return {dim: list(elements) for dim, elements in spec["coords"]}


def _shape(spec: Mapping[str, Any]) -> tuple[int, ...]:
    """The definition's shape on the engine's side: element axes kept, single elements
    dropped (they select one position of the variable's dimension)."""
    return tuple(len(elements) for _dim, elements, label in spec["axes"] if label)


def _values(data: Any, spec: Mapping[str, Any]) -> np.ndarray:
    array = np.asarray(getattr(data, "values", data), dtype=np.float64)
    return array.reshape((1, *_shape(spec)))


def _read(spec: Mapping[str, Any], root: Path) -> Any:
    from pysd.py_backend.external import ExtConstant, ExtData, ExtLookup

    coords = _coords(spec)
    name = spec["variable"]
    kind = spec["kind"]
    if kind == "constant":
        obj = ExtConstant(spec["file"], spec["tab"], spec["cell"], coords, root, coords, name)
    elif kind == "data":
        obj = ExtData(
            spec["file"], spec["tab"], spec["row_or_col"], spec["cell"], spec["interp"],
            coords, root, coords, name,
        )
    else:
        final = {dim: list(elements) for dim, elements in spec["final"]}
        first, *others = spec["parts"]
        obj = ExtLookup(
            first["file"], first["tab"], first["row_or_col"], first["cell"], _coords(first),
            root, final, name,
        )
        for part in others:
            obj.add(part["file"], part["tab"], part["row_or_col"], part["cell"], _coords(part))
    obj.initialize()
    return obj


def _read_tab_data(spec: Mapping[str, Any], root: Path, data_files: Sequence[Path]) -> Any:
    """A data variable without an expression, from the first of ``data_files`` (``.tab`` or
    ``.csv``, e.g. another model's output) that has its column(s): PySD's ``TabData``."""
    from pysd.py_backend.data import TabData

    name = spec["variable"]
    if not data_files:
        raise ModelFileError(
            f"the data variable {name!r} takes its values from a data file (a DATA equation "
            "without an expression): give the .tab or .csv files that hold it (sdnet "
            "--data FILE, or compile_model(..., data_files=[...]))",
            path=root,
        )
    obj = TabData(name, spec["python_name"], _coords(spec), spec["interp"])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj.load_data([str(f) for f in data_files])
    except (OSError, ValueError, KeyError, IndexError) as err:
        detail = " ".join(str(err).split())
        raise ModelFileError(
            f"cannot read the data variable {name!r} from the data files "
            f"{', '.join(str(f) for f in data_files)}: {detail}",
            path=data_files[0],
        ) from err
    return _data_function(obj, spec)


def load(spec: Mapping[str, Any], root: Path, data_files: Sequence[Path] = ()) -> Any:
    """Read one external definition.

    Returns
    -------
    constant: ndarray ``(1, *shape)`` or float
    data: a function of time giving the ``(1, *shape)`` array (or float) at that time,
        interpolated as PySD does (``interpolate``, ``raw``, ``look_forward``,
        ``hold_backward``)
    lookup: ``(xs, ys)`` with ``ys`` of shape ``(len(xs), *shape)``

    Raises
    ------
    ModelFileError
        If the file cannot be found or read (naming the variable and the file), or a data
        variable without an expression is in none of ``data_files``.
    """
    if spec["kind"] == "tabdata":
        return _read_tab_data(spec, root, data_files)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PySD warns about missing cells it then fills
            obj = _read(spec, root)
    except (OSError, ValueError, KeyError, IndexError) as err:
        detail = " ".join(str(err).split())
        raise ModelFileError(
            f"cannot read the external data of {spec['variable']!r} from "
            f"{(root / spec['file'])} (sheet or tab {spec['tab']!r}, cells {spec['cell']!r}): "
            f"{detail}",
            path=root / spec["file"],
        ) from err
    if spec["kind"] == "constant":
        data = obj.data
        return float(data) if not spec["coords"] else _values(data, spec)
    if spec["kind"] == "lookup":
        data = obj.data
        if spec["final"]:
            data = data.transpose("lookup_dim", *(dim for dim, _ in spec["final"]))
        xs = np.asarray(data["lookup_dim"].values, dtype=np.float64)
        ys = np.asarray(data.values, dtype=np.float64)
        return xs, ys
    return _data_function(obj, spec)


def _data_function(obj: Any, spec: Mapping[str, Any]) -> Callable[[float], Any]:
    scalar = not spec["coords"]

    def at(time: float) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # extrapolation warnings of PySD's Data
            value = obj(time)
        return float(value) if scalar else _values(value, spec)

    return at
