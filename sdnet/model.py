"""The model facade: load a Vensim model with PySD, describe it, run it without side effects.

This is the only module of sdnet that imports PySD's runtime. It

* translates the ``.mdl`` file once into a cache folder keyed by the file's SHA-256 (PySD would
  otherwise write the translated ``.py`` beside the model, PySD issue 244);
* builds the :class:`~sdnet.params.ParameterTable` from PySD's documentation table (units,
  declared ranges, comments with kind tags);
* runs every simulation on the translated model reloaded to the file's values, so a run never
  changes later runs (PySD's ``run(params=...)`` does, PySD issue 99);
* refuses settings PySD would silently misapply: a stock in ``params`` (PySD turns it into a
  constant), values outside declared ranges, non-finite values, a push starting after the end.

Example
-------
>>> import sdnet
>>> model = sdnet.load_model("models/flexnet/flexnet.mdl")               # doctest: +SKIP
>>> base = model.run(region="typical", push=sdnet.base_push(model.card))  # doctest: +SKIP
>>> base["Total Members"].iloc[-1]                                        # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import shutil
import threading
import warnings
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sdnet import translation
from sdnet.card import ModelCard, find_card
from sdnet.errors import (
    InvalidValueError,
    ModelFileError,
    ModelNotFoundError,
    ModelParseError,
    NotAParameterError,
    OutOfRangeError,
    PushScheduleError,
    SdnetError,
    SdnetWarning,
    SimulationError,
    UnknownVariableError,
)
from sdnet.files import cache_root, data_file_paths, file_sha256
from sdnet.numerics import check_trajectories, summarize
from sdnet.numerics import warn as warn_numerics
from sdnet.params import (
    CONTROL_NAMES,
    Parameter,
    ParameterTable,
    check_time_settings,
    kind_from_comment,
    python_name,
)
from sdnet.policy import Push, Region, require_parameters
from sdnet.results import Provenance, RunResult, State, split_column

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Model", "cache_dir", "file_sha256", "load_model"]

log = logging.getLogger(__name__)


#: PySD stateful subtypes that are stocks: their value at a time is their state, so a run can be
#: restarted from it (exact for INTEG and first-order SMOOTH; higher-order chains restart at
#: steady state with that output).
_STOCK_SUBTYPES = frozenset({"Integ", "Smooth", "Trend", "Delay", "DelayN", "DelayFixed"})

#: "Loop R1 (word of mouth)" in a comment names a feedback loop
#: "Loop R1 (word of mouth)": R reinforcing, B balancing, S a structure of several loops such
#: as shifting the burden
_LOOP = re.compile(r"\bLoop\s+([RBS]\d+)\s*\(([^)]*)\)", re.IGNORECASE)

_PYSD_WARNINGS = (
    "The inplace keyword in DataFrame.set_index",
    "chardet.universaldetector is deprecated",
)


def cache_dir() -> Path:
    """The folder of sdnet's caches (PySD translations go in its ``models/``)."""
    return cache_root()


def _parse_error_line(source: str, text: str, pos: int) -> int | None:
    """The line of ``source`` where a parse error at ``pos`` of the equation ``text`` lies.

    PySD parses each equation separately, so parsimonious only knows the position within the
    equation's text (whose whitespace PySD has normalised). The equation is found again in the
    file by comparing both with whitespace and line continuations removed.
    """
    kept = [(i, ch) for i, ch in enumerate(source) if not ch.isspace() and ch != "\\"]
    squeezed = "".join(ch for _, ch in kept)
    text_kept = [j for j, ch in enumerate(text) if not ch.isspace() and ch != "\\"]
    needle = "".join(text[j] for j in text_kept)
    if not needle:
        return None
    start = squeezed.find(needle)
    if start < 0:
        return None
    k = min(bisect_left(text_kept, pos), len(text_kept) - 1)
    return source.count("\n", 0, kept[start + k][0]) + 1


def _parse_error(path: Path, error: Exception) -> ModelParseError:
    """Wrap an exception PySD raised while reading ``path`` with the file and the line."""
    if path.suffix.lower() in translation.XMILE_SUFFIXES:
        problem = _xmile_problem(path)
        if problem is not None:
            return ModelParseError(path, line=None, detail=problem)
    try:
        source = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        source = ""
    equations = source.split("\\\\\\---///", 1)[0]  # the sketch follows the equations
    if not equations.replace("{UTF-8}", "").strip():
        return ModelParseError(path, line=None, detail="the file holds no model equations")
    text = getattr(error, "text", None)
    pos = getattr(error, "pos", None)
    if isinstance(text, str) and isinstance(pos, int):
        line = _parse_error_line(source, text, pos)
        near = text[pos : pos + 30].strip() or "the end of the equation"
        detail = f"PySD cannot parse the equation {_shorten(text)!r} at {near!r}"
        return ModelParseError(path, line=line, detail=detail)
    if isinstance(error, KeyError) and error.args and isinstance(error.args[0], str):
        # PySD's builder raises KeyError(python name) for a reference to an undefined name
        name = error.args[0]
        words = [re.escape(w) for w in name.split("_") if w]
        pattern = re.compile(r"(?<![\w])" + r"[\s_]+".join(words) + r"(?![\w])", re.IGNORECASE)
        match = pattern.search(equations) if words else None
        line = equations.count("\n", 0, match.start()) + 1 if match else None
        detail = f"{name!r} is used in an equation but never defined"
        return ModelParseError(path, line=line, detail=detail)
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
    # parsimonious's VisitationError marks the node PySD failed on in its message
    marked = re.search(r'matching "(.+?)">\s+<-- \*\*\* We were here', str(error))
    if marked:
        line = _parse_error_line(source, marked.group(1), 0)
        variable = _variable_at_line(equations, line) if line is not None else None
        where = f" in the equation of {variable!r}" if variable else ""
        detail = (
            f"PySD cannot translate {_shorten(marked.group(1))!r}{where} "
            f"({_shorten(first_line, 80)})"
        )
        return ModelParseError(path, line=line, detail=detail)
    detail = f"PySD cannot translate it ({type(error).__name__}: {_shorten(first_line, 160)})"
    return ModelParseError(path, line=None, detail=detail)


def _unsupported_function(path: Path, function: str) -> ModelParseError:
    """The error for a call of a function PySD cannot translate, with its line and variable."""
    source = path.read_text(encoding="utf-8", errors="replace").split("\\\\\\---///", 1)[0]
    match = re.search(r"(?<![\w])" + re.escape(function) + r"\s*\(", source, re.IGNORECASE)
    line = source.count("\n", 0, match.start()) + 1 if match else None
    variable = _variable_at_line(source, line) if line is not None else None
    where = f" in the equation of {variable!r}" if variable else ""
    return ModelParseError(
        path, line=line, detail=f"PySD does not implement the function {function}{where}"
    )


def _variable_at_line(equations: str, line: int) -> str | None:
    """The name on the left of the equation that contains ``line`` (1-based) of the file."""
    lines = equations.splitlines()
    start = min(line, len(lines)) - 1
    for index in range(start, -1, -1):
        if index < start and lines[index].strip().endswith("|"):
            break
        head = lines[index]
        if head and not head[0].isspace() and ("=" in head or ":" in head):
            return re.split(r"[=:(\[]", head, maxsplit=1)[0].strip() or None
    return None


def _shorten(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _pysd() -> Any:
    """PySD's top-level module (importing it triggers a chardet deprecation warning)."""
    with warnings.catch_warnings():
        for message in _PYSD_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        import pysd
    return pysd


def _vensim_encoding(path: Path) -> str | None:
    """The encoding to read a .mdl file with: None when it declares one ({UTF-8}).

    Files without the declaration (older Vensim versions) are read as UTF-8 when they decode
    as such, else as Latin-1, instead of PySD warning and guessing.
    """
    raw = path.read_bytes()
    if raw.lstrip(b"\xef\xbb\xbf").lstrip().startswith(b"{"):
        return None
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return "latin-1"
    return "UTF-8"


def _translate(path: Path, sha256: str) -> Path:
    """The translated ``.py`` of the model, translating into the cache when needed.

    The cache folder holds PySD's module (``model.py``, checked by
    :func:`sdnet.translation.check_pysd_module` before every import) and the variables'
    documentation (``documentation.json``), which never enters the module.
    """
    import json

    pysd = _pysd()

    target = _target(path, sha256, pysd.__version__)
    root = target.parent
    folder = path.resolve().parent
    suffix = path.suffix.lower()
    py_file = target / "model.py"
    if py_file.exists() and (target / "documentation.json").exists():
        return py_file
    translation.clean_partial_translations(root)
    work = translation.translation_folder(root)
    try:
        # a fixed name: PySD writes the file name into the module's header docstring
        copy = work / ("model.xmile" if suffix in translation.XMILE_SUFFIXES else "model.mdl")
        shutil.copyfile(path, copy)
        # PySD reads files named in the model (GET XLS SUBSCRIPT) while translating, relative
        # to the model: let it see the model's folder through links, removed afterwards
        links = _link_siblings(folder, work, skip={copy.name, "documentation.json"})
        encoding = None if suffix in translation.XMILE_SUFFIXES else _vensim_encoding(path)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                for message in _PYSD_WARNINGS:
                    warnings.filterwarnings("ignore", message=message)
                abstract = translation.read_abstract_model(copy, encoding=encoding)
                missing = translation.missing_controls(abstract)
                if missing:
                    raise ModelParseError(
                        path, line=None,
                        detail=f"it does not define {', '.join(missing)} (every model needs "
                        f"{', '.join(translation.CONTROL_VARIABLES)})",
                    )
                documentation = translation.take_documentation(abstract)
                translation.check_strings(abstract, path)
                built = translation.build_python(abstract)
        except SdnetError as error:
            if isinstance(error, ModelFileError):
                error.path = path
            raise _named(error, copy, path) from None
        except RecursionError as error:
            raise ModelParseError(
                path, line=None, detail="an equation is nested too deeply for PySD to read it"
            ) from error
        except Exception as error:  # PySD raises many kinds (parsimonious, ValueError, ...)
            raise _named(_parse_error(path, error), copy, path) from error
        finally:
            for link in links:
                link.unlink(missing_ok=True)
        _point_root_at(work, folder)
        for warning in caught:
            # PySD translates a function it does not know into code that crashes at run time
            unknown = re.match(r"Trying to translate '(.+?)' which it is not implemented",
                               str(warning.message))
            if unknown:
                raise _unsupported_function(path, unknown.group(1))
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)
        if built != work / "model.py":
            built.rename(work / "model.py")
        translation.check_pysd_module(work / "model.py", path=path)
        (work / "documentation.json").write_text(
            json.dumps(documentation, ensure_ascii=False), encoding="utf-8"
        )
        copy.unlink()
        try:
            work.rename(target)
        except OSError:  # another process translated the same file meanwhile
            if not py_file.exists():
                raise
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return py_file


def _link_siblings(folder: Path, work: Path, *, skip: set[str]) -> list[Path]:
    """Symbolic links in ``work`` to the files beside the model (its data files).

    Python files are never linked: PySD writes its modules into ``work``, and writing through a
    link would overwrite the user's file.
    """
    links = []
    try:
        siblings = [
            p for p in folder.iterdir()
            if p.is_file() and p.name not in skip and p.suffix.lower() != ".py"
        ]
    except OSError:
        return links
    for sibling in siblings:
        link = work / sibling.name
        try:
            link.symlink_to(sibling)
        except OSError:  # no symlinks here (some file systems): data files stay unseen
            continue
        links.append(link)
    return links


def _point_root_at(work: Path, folder: Path) -> None:
    """Make the translated modules read external data relative to the model's own folder.

    PySD's translation reads its data files from ``Path(__file__).parent``, which for a
    translation kept in the cache is the cache; GET XLS/DIRECT and data files are named
    relative to the model, so the translation is pointed back at the model's folder."""
    for module in work.rglob("*.py"):
        text = module.read_text(encoding="utf-8")
        fixed = text.replace(
            "_root = Path(__file__).parent", f"_root = Path({str(folder)!r})"
        )
        # a macro's module is PySD's own, written beside this one in the cache
        fixed = re.sub(r"_root\.joinpath\((\"[A-Za-z0-9_]+\.py\")\)",
                       r"Path(__file__).parent.joinpath(\1)", fixed)
        if fixed != text:
            module.write_text(fixed, encoding="utf-8")


def _range(limits: Any) -> tuple[float | None, float | None]:
    """Lower and upper bound of a units field's range; a third entry (Vensim's slider
    increment, as in ``[-10, 10, 1]``) is not a bound and is ignored."""
    values = tuple(limits or ())[:2]
    values += (None,) * (2 - len(values))
    return _limit(values[0]), _limit(values[1])


def _target(path: Path, sha256: str, pysd_version: str) -> Path:
    """The cache folder of a model's translation.

    The key holds the model's folder (the translation reads the model's data files from there,
    see :func:`_point_root_at`) and the format: translations of older sdnet versions held the
    comments as code and are never reused.
    """
    place = hashlib.sha256(str(path.resolve().parent).encode("utf-8")).hexdigest()[:8]
    return cache_dir() / "models" / (
        f"{sha256[:24]}-{place}-{_safe_stem(path)}-pysd{pysd_version}"
        f"-sdnet{translation.FORMAT}"
    )


def _safe_stem(path: Path) -> str:
    """The file's stem as a folder-name part: letters, digits, ``-`` and ``_`` only."""
    return re.sub(r"[^0-9A-Za-z_-]+", "_", path.stem)[:40] or "model"


def _named(error: SdnetError, copy: Path, path: Path) -> SdnetError:
    """The error with the translation folder's paths replaced by the user's model path."""
    message = error.message.replace(str(copy), str(path))
    error.message = message.replace(str(copy.parent), str(path.parent))
    error.args = (error.message,)
    return error


def _xmile_problem(path: Path) -> str | None:
    """Why an XMILE file is not one PySD can read: not XML, or not an <xmile> document."""
    from xml.etree import ElementTree

    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        return f"it is not well-formed XML ({error})"
    except OSError:
        return None
    tag = root.tag.rsplit("}", 1)[-1]
    if tag != "xmile":
        return f"it is not an XMILE model: its root element is <{tag}>, not <xmile>"
    if root.find("{*}model") is None:
        return "it is not an XMILE model: <xmile> holds no <model>"
    return None


def _limit(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


_EQUATION_END = re.compile(r"\|")


def _check_model_text(path: Path) -> None:
    """Refuse a model file that is not UTF-8 or defines one unsubscripted variable twice.

    Vensim refuses such a file; PySD translates it into code that fails at run time with
    ``NameError: name 'xr' is not defined`` and the engine would silently keep one of the two
    equations. Subscripted definitions (``X[A] = 1``, ``X[B] = 2``) are not duplicates.
    """
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        # PySD would drop the byte: "Growth R\xe4te" (Latin-1) would become growth_rte
        line = raw.count(b"\n", 0, error.start) + 1
        start = raw.rfind(b"\n", 0, error.start) + 1
        end = raw.find(b"\n", error.start)
        shown = raw[start:end if end >= 0 else None].decode("utf-8", errors="replace").strip()
        raise ModelParseError(
            path, line=line,
            detail=f"is not UTF-8 text (byte 0x{raw[error.start]:02x} in {shown[:60]!r}); "
            "save the model as UTF-8") from None
    text = text.split("\\\\\\---///", 1)[0]  # the sketch follows the equations
    seen: dict[str, int] = {}
    line = 1
    in_macro = False
    for equation in _EQUATION_END.split(text):
        start = line + len(equation) - len(equation.lstrip("\n\r\t {}UTF-8"))
        line += equation.count("\n")
        body = equation.split("~", 1)[0]
        if ":MACRO:" in body:
            in_macro = True
        if ":END OF MACRO:" in body:
            in_macro = False
            continue
        match = re.match(r"\s*(?:\{UTF-8\})?\s*([^=\[\(:~{}]+?)\s*(?::=|==|=)", body)
        if in_macro or match is None or "[" in body.split("=", 1)[0]:
            continue
        name = " ".join(match.group(1).replace("_", " ").lower().split()).strip('"')
        if not name:
            continue
        if name in seen:
            raise ModelParseError(
                path, line=start,
                detail=f"{match.group(1).strip()!r} is defined twice (first on line "
                f"{seen[name]}); keep one equation")
        seen[name] = start
    return None


def load_model(
    path: str | Path,
    *,
    card: str | Path | ModelCard | None = None,
    data_files: str | Path | Sequence[str | Path] | None = None,
) -> Model:
    """Load a Vensim model (``.mdl``), translating it with PySD into the cache when needed.

    Parameters
    ----------
    path : str or Path
        The model file. It is never written to, nor is anything written beside it.
    card : str, Path or ModelCard, optional
        The model card (:mod:`sdnet.card`); default: the ``.toml`` of the same stem beside the
        model, else the neutral card.
    data_files : str, Path or sequence of them, optional
        ``.tab`` or ``.csv`` files (another model's output, for instance) holding the values
        of the model's data variables that have no expression (``x[dim] :INTERPOLATE:``),
        PySD's ``data_files=``; each variable is taken from the first file that has it.
        Relative paths are relative to the model's folder, as in
        :func:`sdnet.engine.compile_model`. Runs on either engine read the same files.

    Raises
    ------
    ModelNotFoundError
        If the file does not exist.
    ModelParseError
        If PySD cannot parse or translate it (the message names the file and, when known, the
        line).
    CardError
        If the card is missing (when given) or invalid.
    ModelFileError
        If a data file is missing, not ``.tab``/``.csv`` or unreadable, or holds none of the
        values of a data variable.
    """
    return Model(path, card=card, data_files=data_files)


_CONTROL_LABELS = {"initial_time": "INITIAL TIME", "final_time": "FINAL TIME",
                   "time_step": "TIME STEP", "saveper": "SAVEPER"}


class Model:
    """A system-dynamics model loaded through PySD: its parameters, variables and runs.

    Create it with :func:`load_model`. What it describes never changes after loading; each
    call of :meth:`run` simulates the translated model reloaded to the file's values.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        card: str | Path | ModelCard | None = None,
        data_files: str | Path | Sequence[str | Path] | None = None,
    ) -> None:
        if not isinstance(path, str | os.PathLike) or not str(path).strip():
            raise InvalidValueError("model path", path,
                                    expected="the path of a Vensim .mdl file (a str or Path)")
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelNotFoundError(path)
        #: the data files (absolute paths) both engines read the data variables from
        self.data_files: tuple[Path, ...] = data_file_paths(
            data_files, base=self.path.resolve().parent,
            source=f"data files of {self.path.name}, relative to its folder")
        translation.check_size(self.path)  # before anything reads the whole file
        #: what sdnet knows about the model beyond its file (schedules, presets, outcomes,
        #: words); the neutral card when it has none
        self.card = card if isinstance(card, ModelCard) else find_card(self.path, card)
        self.sha256 = file_sha256(self.path)
        _check_model_text(self.path)
        target = _target(self.path, self.sha256, _pysd().__version__)
        fresh = not (target / "model.py").exists()
        self._py_file = _translate(self.path, self.sha256)
        try:
            # metadata and the file's values come from this instance, which never runs
            self._base = self._load_translation()
        except Exception as error:  # a cached translation damaged by a full disk, a crash...
            if fresh:  # translated just now: the model itself is the problem
                if isinstance(error, SdnetError):
                    raise
                raise _load_error(self.path, error, self._py_file) from error
            log.warning("re-translating %s: its cached translation failed to load (%s)",
                        self.path.name, type(error).__name__)
            shutil.rmtree(self._py_file.parent, ignore_errors=True)
            self._py_file = _translate(self.path, self.sha256)
            try:
                self._base = self._load_translation()
            except SdnetError:
                raise
            except Exception as again:
                raise _load_error(self.path, again, self._py_file) from again
        self._doc = self._base.doc.copy()
        documentation = json.loads(
            (self._py_file.parent / "documentation.json").read_text(encoding="utf-8")
        )
        self._doc["Comment"] = [
            documentation.get(str(name)) or None for name in self._doc["Real Name"]
        ]
        self._rows = {
            str(row["Py Name"]): row for _, row in self._doc.iterrows() if row["Py Name"] != "time"
        }
        self._by_vensim = {str(r["Real Name"]).lower(): name for name, r in self._rows.items()}
        if set(self._rows) <= {"initial_time", "final_time", "time_step", "saveper"}:
            # as the engine says (sdnet.engine.compiler): PySD read no model, so a run would
            # write an empty table
            raise ModelParseError(
                self.path, line=None,
                detail="PySD finds no model variables in it, only the control variables "
                "(a file format PySD does not read, such as an older Stella format?)")
        for row in self._rows.values():
            lower, upper = _range(row["Limits"])
            if lower is not None and upper is not None and lower > upper:
                # otherwise the parameter silently stops being a factor of any study
                raise ModelParseError(
                    self.path, line=None,
                    detail=f"{row['Real Name']!r} declares the range [{lower:g}, {upper:g}] "
                    f"in its units field, lower above upper (did you mean [{upper:g}, "
                    f"{lower:g}]?)")
        self._run_lock = threading.Lock()
        self._warned_controls = False  # default_control's warning, once per model
        if self.data_files:  # read now: a file without the model's data fails at load
            with self._run_lock:
                self._fresh()

    # -- loading ------------------------------------------------------------------------------

    def _load_translation(self) -> Any:
        # checked at every load, not only when translated: the cache is a folder of files
        translation.check_pysd_module(self._py_file, path=self.path)
        with warnings.catch_warnings():
            for message in _PYSD_WARNINGS:
                warnings.filterwarnings("ignore", message=message)
            return _pysd().load(str(self._py_file))

    def _fresh(self) -> Any:
        """A PySD model in the file's state (fresh module state, file values).

        One runtime model is kept for runs and ``reload()``-ed before each: that restores the
        file's values (PySD's ``run(params=...)`` changes them) and costs about a tenth of a
        new ``pysd.load``.
        """
        with warnings.catch_warnings():
            for message in _PYSD_WARNINGS:
                warnings.filterwarnings("ignore", message=message)
            runtime = self.__dict__.get("_runtime")
            try:
                if runtime is None:
                    runtime = _pysd().load(str(self._py_file), data_files=self._pysd_data_files)
                    self.__dict__["_runtime"] = runtime
                else:
                    runtime.reload()
            except (OSError, ValueError, KeyError, IndexError) as error:
                if not self.data_files:
                    raise
                raise self._data_error(error) from error
            return runtime

    @property
    def _pysd_data_files(self) -> list[str] | None:
        """PySD's ``data_files=``: None without data files (PySD skips reading)."""
        return [str(f) for f in self.data_files] or None

    def _data_error(self, error: Exception) -> ModelFileError:
        """A failure of PySD to read the data files, naming them (PySD's own message starts
        with the translation's internal name ``_data_x``, dropped here)."""
        text = " ".join(str(error).split())
        text = re.sub(r"^_data_\w+\s*", "", text)
        return ModelFileError(
            f"cannot read the data variables of {self.path.name} from the data files "
            f"{', '.join(str(f) for f in self.data_files)}: {_shorten(text, 200)}",
            path=self.data_files[0],
        )

    @cached_property
    def data_variables(self) -> tuple[str, ...]:
        """Vensim names of the data variables without an expression: their values come from
        :attr:`data_files` (``--data``), sorted."""
        return tuple(sorted(
            str(getattr(element, "real_name", None) or element.py_name)
            for element in getattr(self._base, "_data_elements", ())
            if type(element).__name__ == "TabData"
        ))

    def _missing_data(self) -> str | None:
        """The first data variable read from data files when none were given (PySD would
        fail mid-run with 'Trying to interpolate data variable before loading the data')."""
        if self.data_files or not self.data_variables:
            return None
        return self.data_variables[0]

    def __repr__(self) -> str:
        return f"Model({str(self.path)!r})"

    @property
    def name(self) -> str:
        """The model file's name without suffix."""
        return self.path.stem

    # -- description --------------------------------------------------------------------------

    def _value(self, py_name: str) -> Any:
        return getattr(self._base.components, py_name)()

    @cached_property
    def parameters(self) -> ParameterTable:
        """The settable scalar constants (with kind tags) and the four control constants."""
        parameters = []
        for name, row in self._rows.items():
            is_control = name in CONTROL_NAMES
            if not is_control and (row["Type"] != "Constant" or row["Subscripts"] is not None):
                continue
            try:
                default = float(self._value(name))
            except (TypeError, ValueError):  # a subscripted constant without a subscript entry
                continue
            kind, description = kind_from_comment(_text(row["Comment"]))
            lower, upper = _range(row["Limits"])
            parameters.append(
                Parameter(
                    name=name,
                    vensim_name=str(row["Real Name"]),
                    units=_text(row["Units"]),
                    lower=lower,
                    upper=upper,
                    default=default,
                    description=description,
                    kind="control" if is_control else kind,
                )
            )
        parameters.sort(key=lambda p: (p.kind == "control", p.name))
        return ParameterTable(parameters, where=self.path.name)

    @cached_property
    def _flows(self) -> frozenset[str]:
        flows: set[str] = set()
        for stateful, deps in self._base.dependencies.items():
            if stateful.startswith("_integ_") and isinstance(deps, Mapping):
                flows.update(deps.get("step", {}) or {})
        return frozenset(
            n for n in flows if n in self._rows and self._kind_of_row(n) == "auxiliary"
        )

    @cached_property
    def stock_flows(self) -> dict[str, tuple[str, ...]]:
        """Vensim stock name -> Vensim names of the variables its rate (INTEG's first argument)
        refers to: its in- and outflows in a well-formed model."""
        integ_of: dict[str, str] = {}
        for name, deps in self._base.dependencies.items():
            if name in self._rows and isinstance(deps, Mapping):
                for dep in deps:
                    if str(dep).startswith("_integ_"):
                        integ_of[str(dep)] = name
        flows: dict[str, tuple[str, ...]] = {}
        for stateful, deps in self._base.dependencies.items():
            stock = integ_of.get(str(stateful))
            if stock is None or not isinstance(deps, Mapping):
                continue
            used = [d for d in (deps.get("step", {}) or {}) if d in self._rows]
            vensim = str(self._rows[stock]["Real Name"])
            previous = flows.get(vensim, ())
            flows[vensim] = tuple(dict.fromkeys(
                [*previous, *(str(self._rows[d]["Real Name"]) for d in used)]
            ))
        return flows

    def _kind_of_row(self, name: str) -> str:
        row = self._rows[name]
        if name in CONTROL_NAMES:
            return "control"
        if row["Type"] == "Stateful":
            return "stock" if row["Subtype"] in _STOCK_SUBTYPES else "auxiliary"
        if row["Type"] == "Constant":
            return "constant"
        if row["Type"] == "Lookup":
            return "lookup"
        if row["Type"] == "Data":
            return "data"
        return "auxiliary"

    @cached_property
    def variables(self) -> pd.DataFrame:
        """Every variable: name (Python), vensim_name, kind, units, subscripts, range, comment.

        ``kind`` is ``"stock"``, ``"flow"`` (an auxiliary in a stock's rate), ``"auxiliary"``,
        ``"constant"``, ``"control"`` (INITIAL TIME, FINAL TIME, TIME STEP, SAVEPER) or, for
        models that have them, ``"lookup"`` and ``"data"``. ``subscripts`` is a tuple of the
        subscript ranges (empty for scalars).
        """
        import pandas as pd

        rows = []
        for name, row in self._rows.items():
            kind = self._kind_of_row(name)
            if kind == "auxiliary" and name in self._flows:
                kind = "flow"
            lower, upper = _range(row["Limits"])
            rows.append(
                {
                    "name": name,
                    "vensim_name": str(row["Real Name"]),
                    "kind": kind,
                    "units": _text(row["Units"]),
                    "subscripts": tuple(row["Subscripts"] or ()),
                    "lower": lower,
                    "upper": upper,
                    "description": kind_from_comment(_text(row["Comment"]))[1],
                }
            )
        frame = pd.DataFrame(rows).sort_values("name", kind="stable")
        return frame.set_index("name")

    @cached_property
    def loops(self) -> pd.DataFrame:
        """Feedback loops named in the equations' comments (``Loop R1 (word of mouth): ...``).

        Columns ``loop`` (``"R1"``), ``name`` and ``variables`` (Vensim names of the variables
        whose comments name the loop, a tuple); reinforcing loops first, then balancing, then
        structures of several loops (``S1``, shifting the burden).
        """
        import pandas as pd

        found: dict[str, dict[str, list[str]]] = {}
        for row in self._rows.values():
            for code, label in _LOOP.findall(_text(row["Comment"])):
                entry = found.setdefault(code.upper(), {"names": [], "variables": []})
                if label.strip() and label.strip() not in entry["names"]:
                    entry["names"].append(label.strip())
                if row["Real Name"] not in entry["variables"]:
                    entry["variables"].append(str(row["Real Name"]))
        ordered = sorted(found, key=lambda c: ("RBS".index(c[0]), int(c[1:])))
        return pd.DataFrame(
            [
                {
                    "loop": c,
                    # a loop described under two names in different comments keeps both
                    "name": " / ".join(found[c]["names"]),
                    "variables": tuple(found[c]["variables"]),
                }
                for c in ordered
            ],
            columns=["loop", "name", "variables"],
        )

    @property
    def stocks(self) -> tuple[str, ...]:
        """Vensim names of the stocks (INTEG and first-order smooths), in file order."""
        return tuple(self._stock_map.values())

    @cached_property
    def _stock_map(self) -> dict[str, str]:
        """Python name -> Vensim name of every stock."""
        return {
            name: str(row["Real Name"])
            for name, row in self._rows.items()
            if self._kind_of_row(name) == "stock"
        }

    @cached_property
    def _approximate_restart(self) -> tuple[str, ...]:
        """Stocks whose PySD state has hidden levels a :class:`State` does not hold.

        INTEG and first-order SMOOTH restart exactly from their value. DELAYs and
        higher-order SMOOTHs keep a chain of levels, and a TREND's state is its average input,
        not its value: those restart in steady state.
        """
        approximate = []
        elements = self._base._stateful_elements
        for name, vensim in self._stock_map.items():
            deps = self._base.dependencies.get(name) or {}
            for stateful in deps:
                element = elements.get(stateful)
                if element is None:
                    continue
                kind = type(element).__name__
                size = np.size(getattr(element, "state", 0.0))
                value_size = np.size(self._value(name))
                exact = kind == "Integ" or (kind == "Smooth" and size == value_size)
                if not exact:
                    approximate.append(vensim)
                break
        return tuple(approximate)

    @property
    def subscripts(self) -> dict[str, list[str]]:
        """Subscript range -> its elements."""
        return {k: list(v) for k, v in self._base.subscripts.items()}

    @cached_property
    def key_variables(self) -> tuple[str, ...]:
        """What a run saves by default: the card's ``[model] variables`` the model has, else its
        stocks."""
        present = tuple(v for v in self.card.variables if v.lower() in self._by_vensim)
        return present or self.stocks

    def __contains__(self, name: object) -> bool:
        """True when ``name`` (either spelling) is a variable of the model."""
        try:
            self.resolve(str(name))
        except UnknownVariableError:
            return False
        return True

    def resolve(self, name: str) -> str:
        """The Python name of a variable given either spelling.

        Raises
        ------
        UnknownVariableError
            With close matches among the model's variables.
        """
        key = str(name).strip()
        if key in self._rows:
            return key
        found = self._by_vensim.get(key.lower())
        if found is None and python_name(key) in self._rows:
            found = python_name(key)
        if found is None:
            candidates = _spelled_like(key, [str(r["Real Name"]) for r in self._rows.values()])
            raise UnknownVariableError(name, candidates=candidates, where=self.path.name)
        return found

    def vensim_name(self, name: str) -> str:
        """The Vensim name of a variable given either spelling."""
        return str(self._rows[self.resolve(name)]["Real Name"])

    def units(self, name: str) -> str:
        """Units of a variable (either spelling, or a column such as ``Members[Micro]``)."""
        return _text(self._rows[self.resolve(split_column(str(name))[0])]["Units"])

    def _elements(self, name: str) -> list[str]:
        """Column names of a variable: ``["X"]``, or ``["X[a]", "X[b]"]`` when subscripted."""
        vensim = str(self._rows[name]["Real Name"])
        coords_dims = self._base.get_coords(name)
        if not coords_dims:
            return [vensim]
        coords, dims = coords_dims
        import itertools

        return [
            f"{vensim}[{','.join(combo)}]"
            for combo in itertools.product(*(coords[d] for d in dims))
        ]

    def columns(self, variables: str | Sequence[str] | None = None) -> list[str]:
        """The output columns (Vensim names, one per subscript element) a run would save.

        ``variables`` is as in :meth:`run`: None for the key variables, ``"all"``, or names.
        """
        out: list[str] = []
        for name, element in self._capture(variables):
            own = self._elements(name)
            if element is not None:
                vensim = str(self._rows[name]["Real Name"])
                wanted = f"{vensim}[{element}]"
                if wanted not in own:
                    raise UnknownVariableError(
                        wanted, candidates=own, what="variable element", where=self.path.name
                    )
                own = [wanted]
            out.extend(c for c in own if c not in out)
        return out

    def stock_columns(self) -> list[str]:
        """The columns of every stock (what a :class:`State` holds)."""
        return [c for name in self._stock_map for c in self._elements(name)]

    def default_control(self, name: str) -> float:
        """The model file's value of a control constant (``"final_time"``, ...).

        A control variable the model computes during the run (of Time or of model variables,
        :attr:`run_controls`) gives its value at the start, which sdnet's runs then keep: an
        :class:`~sdnet.errors.SdnetWarning` says so once per model, naming them all (PySD's
        own run and the engine's ``simulate()`` follow them as the run goes).
        """
        value = float(self._value(name))
        if name in self.run_controls and not self._warned_controls:
            self._warned_controls = True
            starts = ", ".join(f"{_CONTROL_LABELS[n]} {float(self._value(n)):g}"
                               for n in CONTROL_NAMES if n in self.run_controls)
            warnings.warn(
                SdnetWarning(
                    f"{self.path.name} computes its control variables during the run (from "
                    f"Time or model variables); sdnet's runs keep their values at the start "
                    f"({starts}) unless given; PySD's own run and sdnet.engine's simulate() "
                    "follow them as the run goes"
                ),
                stacklevel=2,
            )
        return value

    @cached_property
    def run_controls(self) -> frozenset[str]:
        """The control variables (``"final_time"``, ...) the model computes during the run
        (PySD evaluates them at every step), which :meth:`default_control` warns about."""
        cache = getattr(self._base, "cache_type", None) or {}
        return frozenset(name for name in CONTROL_NAMES if cache.get(name) == "step")

    # -- running ------------------------------------------------------------------------------

    def _resolve_params(
        self, params: Mapping[str, Any] | None, *, check_ranges: bool
    ) -> dict[str, float]:
        if params is None:
            return {}
        if not isinstance(params, Mapping):
            raise InvalidValueError("params", params, expected="a mapping of names to numbers")
        for key in params:
            try:
                name = self.resolve(str(key))
            except UnknownVariableError:
                names = [p.vensim_name for p in self.parameters.values()]
                raise UnknownVariableError(
                    key,
                    candidates=_spelled_like(str(key), names),
                    what="parameter",
                    where=self.path.name,
                ) from None
            kind = self._kind_of_row(name)
            if kind == "stock":
                raise NotAParameterError(
                    str(key),
                    kind="stock",
                    hint="to start from other stock values pass initial_state= "
                    "(e.g. result.state_at(10))",
                )
            if name not in self.parameters:
                hint = "it is computed from other variables" if kind != "constant" else (
                    "subscripted constants cannot be set yet"
                )
                raise NotAParameterError(str(key), kind=self.variables.loc[name, "kind"], hint=hint)
        return self.parameters.resolve(params, check_ranges=check_ranges)

    def push_values(self, push: Push) -> dict[str, float]:
        """The constants (Python name -> value) a push sets, as the card's push schedule
        names them.

        Raises
        ------
        PushScheduleError
            If the model's card has no push schedule (or the model has no card).
        MissingParameterError
            If the model lacks a constant the schedule names.
        """
        schedule = self.card.push
        if schedule is None:
            where = (f"its card {self.card.path.name} has no" if self.card.path is not None
                     else "it has no model card, so no")
            raise PushScheduleError(
                f"a push needs a push schedule, and {where} [[schedules]] entry of kind "
                f"\"push\" naming the constants a push sets (model {self.path.name})",
                field="push", value=push)
        require_parameters(schedule.parameters.values(), self.parameters,
                           needed_by="a push schedule", model=self.path.name)
        return push.as_params(self.card)

    def scenario_values(
        self,
        params: Mapping[str, Any] | None = None,
        *,
        region: str | Region | None = None,
        push: Push | None = None,
        check_ranges: bool = True,
    ) -> dict[str, float]:
        """The constants a run sets: region preset, then push, then explicit ``params``.

        Later sources win. Returned keyed by Python name, validated against the declared
        ranges (unless ``check_ranges=False``). Shared by :meth:`run` and the ensemble runner
        so both engines read a scenario the same way.
        """
        values: dict[str, float] = {}
        if region is not None:
            preset = self.card.preset(region)
            require_parameters(
                preset.values, self.parameters,
                needed_by=f"{self.card.word('preset')} preset {preset.name!r}".replace(
                    "preset preset", "preset"),
                model=self.path.name,
            )
            values.update(self.parameters.resolve(preset.values, check_ranges=check_ranges))
        if push is not None:
            if not isinstance(push, Push):
                raise PushScheduleError(
                    f"push must be a sdnet.Push, not {type(push).__name__}",
                    field="push", value=push,
                )
            values.update(self.parameters.resolve(self.push_values(push),
                                                  check_ranges=check_ranges))
        values.update(self._resolve_params(params, check_ranges=check_ranges))
        return values

    def _control(self, name: str, given: Any, values: dict[str, float]) -> float:
        if given is not None:
            number = self.parameters[name].check(given, check_range=False)
            values[name] = number
            return number
        return values.get(name, self.default_control(name))

    def _initial_condition(
        self, state: State, *, check_ranges: bool = True
    ) -> tuple[float, dict[str, Any]]:
        """PySD's ``initial_condition`` tuple for a State; every stock must be given.

        With ``check_ranges``, each value must lie in the stock's declared range.
        """
        import xarray as xr

        if not isinstance(state, State):
            raise InvalidValueError(
                "initial_state", state, expected="a State, e.g. result.state_at(10)"
            )
        given: dict[str, Any] = {}
        for vensim, value in state.values.items():
            name = self.resolve(vensim)
            if name not in self._stock_map:
                raise NotAParameterError(
                    vensim, kind=str(self.variables.loc[name, "kind"]),
                    hint="an initial state holds stocks only",
                )
            given[name] = value
        missing = [v for n, v in self._stock_map.items() if n not in given]
        if missing:
            raise InvalidValueError(
                "initial_state",
                f"<State at time {state.time:g}>",
                expected=f"a value for every stock; missing: {', '.join(missing)}",
            )
        condition: dict[str, Any] = {}
        for name, value in given.items():
            vensim = self._stock_map[name]
            coords_dims = self._base.get_coords(name)
            if isinstance(value, Mapping):
                if not coords_dims:
                    raise InvalidValueError(vensim, dict(value), expected="a number")
                coords, dims = coords_dims
                array = np.full([len(coords[d]) for d in dims], np.nan)
                for element, number in value.items():
                    parts = [p.strip() for p in str(element).split(",")]
                    try:
                        index = tuple(coords[d].index(p) for d, p in zip(dims, parts, strict=True))
                    except ValueError:
                        raise UnknownVariableError(
                            f"{vensim}[{element}]",
                            candidates=[f"{vensim}[{e}]" for e in coords[dims[0]]],
                            what="stock element",
                            where=self.path.name,
                        ) from None
                    array[index] = self._stock_value(
                        name, f"{vensim}[{element}]", number, check_ranges=check_ranges
                    )
                if np.isnan(array).any():
                    raise InvalidValueError(
                        vensim, dict(value), expected="a value for every subscript element"
                    )
                condition[name] = xr.DataArray(array, {d: coords[d] for d in dims}, dims)
            else:
                condition[name] = self._stock_value(
                    name, vensim, value, check_ranges=check_ranges
                )
        return state.time, condition

    def _stock_value(self, name: str, label: str, value: Any, *, check_ranges: bool) -> float:
        """A stock's starting value as a float, checked against its declared range."""
        number = _finite(label, value)
        if check_ranges:
            lower, upper = _range(self._rows[name]["Limits"])
            # a state saved from a run may overshoot a bound by rounding (-1e-17 firms)
            slack = 1e-9 * max(1.0, abs(number))
            if (lower is not None and number < lower - slack) or (
                upper is not None and number > upper + slack
            ):
                raise OutOfRangeError(label, number, lower=lower, upper=upper)
        return number

    def _capture(self, variables: str | Sequence[str] | None) -> list[tuple[str, str | None]]:
        """(python name, element or None) of each requested variable, in order."""
        if variables is None:
            names: Sequence[str] = self.key_variables
        elif isinstance(variables, str) and variables.strip().lower() == "all":
            names = [
                n
                for n, r in self._rows.items()
                if self._kind_of_row(n) not in {"control", "lookup"}
            ]
        elif isinstance(variables, str):
            names = [variables]
        else:
            names = list(variables)
        wanted: list[tuple[str, str | None]] = []
        for given in names:
            base, element = split_column(str(given))
            name = self.resolve(base)
            if element is not None:
                element = self._element(name, element)
            item = (name, element)
            if item not in wanted:
                wanted.append(item)
        return wanted

    def _element(self, name: str, element: str) -> str:
        """The model's spelling of a subscript element of a variable ("micro" -> "Micro")."""
        own = self._elements(name)
        key = ",".join(part.strip().lower() for part in element.split(","))
        for column in own:
            found = split_column(column)[1]
            if found is not None and found.replace(" ,", ",").lower() == key:
                return found
        vensim = str(self._rows[name]["Real Name"])
        raise UnknownVariableError(
            f"{vensim}[{element}]", candidates=own, what="variable element", where=self.path.name
        )

    def run(
        self,
        params: Mapping[str, Any] | None = None,
        *,
        region: str | Region | None = None,
        push: Push | None = None,
        final_time: float | None = None,
        time_step: float | None = None,
        saveper: float | None = None,
        variables: str | Sequence[str] | None = None,
        initial_state: State | None = None,
        check_ranges: bool = True,
    ) -> RunResult:
        """Simulate the model once, leaving the model unchanged.

        Parameters
        ----------
        params : Mapping[str, float], optional
            Constants to set (either spelling). Applied after the region and the push, so an
            explicit value wins. Stocks cannot be set here: use ``initial_state``.
        region : str or Region, optional
            A region preset (``"typical"``, ``"embedded_prone"``, ``"externally_networked"``).
        push : Push, optional
            The public-push schedule; it sets Push Amount, Push Start, Push Duration, Push Taper
            and Local Match Requirement.
        final_time, time_step, saveper : float, optional
            Simulation control (model time units, Year for flexnet); default: the model file's.
        variables : "all", a name or a list of names, optional
            What to save: default the key variables (:attr:`key_variables`), ``"all"`` every
            variable, or names in either spelling (``"Members[Micro]"`` for one element).
        initial_state : State, optional
            Start from this state (e.g. ``other_result.state_at(10)``): the run starts at the
            state's time with every stock at its value. Exact for INTEG, TREND and first-order
            SMOOTH; DELAYs and higher-order SMOOTHs restart in steady state with their saved
            output (an :class:`~sdnet.errors.SdnetWarning` says which).
        check_ranges : bool, default True
            Reject values outside the ranges declared in the model file. Turn off on purpose
            for extreme-condition tests.

        Returns
        -------
        RunResult
            Time-indexed table of the saved variables, with units, the values set and
            provenance; the stocks' values are recorded too so ``state_at`` works.

        Raises
        ------
        UnknownVariableError, NotAParameterError, InvalidValueError, OutOfRangeError,
        UnknownPresetError, MissingParameterError, PushScheduleError, SimulationError
        """
        missing = self._missing_data()
        if missing is not None:
            raise ModelFileError(
                f"the data variable {missing!r} of {self.path.name} takes its values from a "
                "data file (a DATA equation without an expression): give the .tab or .csv "
                "files that hold it (sdnet --data FILE, or load_model(..., data_files=[...]))",
                path=self.path)
        values = self.scenario_values(
            params, region=region, push=push, check_ranges=check_ranges
        )
        spec: dict[str, Any] = {}
        if self.data_files:
            spec["data_files"] = {str(f): file_sha256(f) for f in self.data_files}
        if region is not None:
            spec["region"] = self.card.preset(region).name
        if push is not None:
            spec["push"] = asdict(push)
        explicit = self._resolve_params(params, check_ranges=check_ranges)
        if explicit:
            spec["params"] = explicit

        controls = {k: values.pop(k) for k in list(values) if k in CONTROL_NAMES}
        final = self._control("final_time", final_time, controls)
        step = self._control("time_step", time_step, controls)
        save = self._control("saveper", saveper, controls)
        start = (
            initial_state.time
            if isinstance(initial_state, State)
            else controls.get("initial_time", self.default_control("initial_time"))
        )
        check_time_settings(
            initial_time=start,
            final_time=final,
            time_step=step,
            saveper=save,
            saveper_given="time_step" in controls or "saveper" in controls,
        )
        if push is not None and push.start > final:
            raise PushScheduleError(
                f"push start {push.start:g} is after the end of the run (final time {final:g})",
                field="start",
                value=push.start,
            )
        spec.update({"final_time": final, "time_step": step, "saveper": save})

        wanted = self._capture(variables)
        capture = list(dict.fromkeys([*(n for n, _ in wanted), *self._stock_map]))
        condition: Any = "original"
        if initial_state is not None:
            condition = self._initial_condition(initial_state, check_ranges=check_ranges)
            if self._approximate_restart:
                warnings.warn(
                    SdnetWarning(
                        "a restart from a state is approximate for "
                        f"{', '.join(self._approximate_restart)}: the hidden levels of a DELAY, "
                        "TREND or higher-order SMOOTH are not in the state and restart in "
                        "steady state"
                    ),
                    stacklevel=2,
                )
            spec["initial_state_time"] = initial_state.time

        if initial_state is None and "initial_time" in controls:
            # PySD ignores INITIAL TIME in params; an empty initial condition moves the start
            condition = (controls["initial_time"], {})
        run_params = dict(values)
        # one PySD runtime is reused (reloaded per run), so runs from threads take turns
        with self._run_lock:
            pysd_model = self._fresh()
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    for message in _PYSD_WARNINGS:
                        warnings.filterwarnings("ignore", message=message)
                    output = pysd_model.run(
                        params=run_params or None,
                        # Vensim names, so PySD heads the columns with them ("Members[Micro]")
                        return_columns=[str(self._rows[n]["Real Name"]) for n in capture],
                        initial_condition=condition,
                        final_time=final,
                        time_step=step,
                        saveper=save,
                        progress=False,
                    )
                _warn_once_each(caught, model=self.path.name)
            except RecursionError as error:
                loop = _loop_variables(error, self._py_file)
                named = f" ({', '.join(loop)})" if loop else ""
                raise SimulationError(
                    f"PySD could not run {self.path}: its equations{named} refer to each other "
                    "without a stock between them (an algebraic loop); break the loop with a "
                    "stock or a SMOOTH"
                ) from None
            except Exception as error:
                variable = _failing_variable(error, self._py_file)
                where = f" in the equation of {variable!r}" if variable else ""
                text = str(error).replace(str(self._py_file.parent), "<translation>")
                raise SimulationError(
                    f"PySD could not run {self.path.name}{where}: {type(error).__name__}: "
                    f"{_shorten(text, 200)}"
                ) from error

        output = output.astype(float)  # PySD keeps ints where an equation gives ints
        output.index = output.index.astype(float)
        output.index.name = "time"
        columns: list[str] = []
        for name, element in wanted:
            vensim = str(self._rows[name]["Real Name"])
            own = [c for c in output.columns if split_column(str(c))[0] == vensim]
            if element is not None:
                own = [c for c in own if split_column(str(c))[1] == element]
                if not own:
                    raise UnknownVariableError(
                        f"{vensim}[{element}]",
                        candidates=[c for c in output.columns if str(c).startswith(vensim)],
                        where=self.path.name,
                    )
            columns.extend(c for c in own if c not in columns)
        stock_names = set(self._stock_map.values())
        stock_columns = [c for c in output.columns if split_column(str(c))[0] in stock_names]
        units = {
            str(self._rows[n]["Real Name"]): _text(self._rows[n]["Units"])
            for n in capture
        }
        units.setdefault("Time", _text(self._rows["initial_time"]["Units"]))
        set_values = {**values, **controls}
        flags = self._guard(output, [*columns, *(c for c in stock_columns if c not in columns)],
                            stocks=stock_columns, time_step=step)
        return RunResult(
            frame=output[columns],
            units=units,
            params=set_values,
            provenance=Provenance.collect(self.path, self.sha256, spec=spec),
            stock_frame=output[stock_columns],
            flags=flags,
        )

    def declared_bounds(self, columns: Sequence[str]) -> dict[str, tuple[float, float]]:
        """Column -> (lower, upper) declared in the model file; NaN for an open side.

        Only computed columns (stocks, flows, auxiliaries) are listed: ``Members[Micro]`` takes
        the range of ``Members``; constants and columns without a declared range are left out.
        """
        table = self.variables
        bounds: dict[str, tuple[float, float]] = {}
        for column in columns:
            try:
                name = self.resolve(split_column(str(column))[0])
            except UnknownVariableError:
                continue
            if name not in table.index or table.loc[name, "kind"] not in _GUARDED_KINDS:
                continue  # a constant outside its range was set so on purpose (or refused)
            lower, upper = (_finite_or_nan(table.loc[name, k]) for k in ("lower", "upper"))
            if not (math.isnan(lower) and math.isnan(upper)):
                bounds[str(column)] = (lower, upper)
        return bounds

    def _guard(self, output: pd.DataFrame, columns: Sequence[str], *, stocks: Sequence[str],
               time_step: float) -> tuple[str, ...]:
        """The numerical guard on one PySD run; each finding is also a NumericalWarning."""
        values = output[list(columns)].to_numpy(dtype=float)[None]
        findings = check_trajectories(output.index.to_numpy(dtype=float), values, columns,
                                      bounds=self.declared_bounds(columns), stocks=stocks)
        summary = summarize(findings, 1, time_step=time_step)
        warn_numerics(summary, source=self.path.name, stacklevel=3)
        return summary


#: Kinds of variable whose declared range the numerical guard checks in the trajectories.
_GUARDED_KINDS = ("stock", "flow", "auxiliary")


def _finite_or_nan(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def _spelled_like(key: str, vensim_names: Sequence[str]) -> list[str]:
    """Candidate names for a "did you mean" hint, in the spelling the user wrote."""
    key = key.strip()
    if key == python_name(key):
        return [python_name(n) for n in vensim_names]
    return list(vensim_names)


def _warn_once_each(caught: Sequence[warnings.WarningMessage], *, model: str) -> None:
    """Re-emit the warnings of one PySD run once per distinct message, with a count.

    PySD warns at every time step (e.g. a lookup extrapolating), which buried the output in
    hundreds of identical lines.
    """
    counts: dict[tuple[type[Warning], str], int] = {}
    for warning in caught:
        key = (warning.category, str(warning.message))
        counts[key] = counts.get(key, 0) + 1
    for (category, message), count in counts.items():
        times = f", {count} times in this run" if count > 1 else ""
        warnings.warn(f"{model}: {message} (PySD{times})", category, stacklevel=4)


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InvalidValueError(name, value)
    number = float(value)
    if not math.isfinite(number):
        raise InvalidValueError(name, value)
    return number


def _load_error(path: Path, error: Exception, py_file: Path) -> ModelParseError:
    """A clear error for a translation PySD wrote but cannot load, naming the variable."""
    variable = _failing_variable(error, py_file)
    where = f" (in the equation of {variable!r})" if variable else ""
    if isinstance(error, ZeroDivisionError):
        detail = f"a division by zero while computing the initial values{where}"
    elif isinstance(error, RecursionError):
        detail = f"its equations refer to each other without a stock between them{where}"
    elif isinstance(error, FileNotFoundError):
        missing = Path(str(error.filename or "")).name or "a data file"
        detail = f"it reads {missing!r}, which sdnet cannot find (external data files are " \
            "not supported)"
    else:
        text = str(error).replace(str(py_file.parent), "<translation>")
        detail = f"PySD cannot load it{where} ({type(error).__name__}: {_shorten(text, 120)})"
    return ModelParseError(path, line=None, detail=detail)


def _failing_variable(error: BaseException, py_file: Path) -> str | None:
    """The Vensim name of the innermost equation of the translated module in the traceback."""
    import traceback

    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if Path(f.filename).name == py_file.name]
    if not frames:
        return None
    names = _component_names(py_file)
    if frames[-1].name in names:
        return names[frames[-1].name]
    return _owner_of_line(py_file, frames[-1].lineno, names)


def _owner_of_line(py_file: Path, line: int | None, names: Mapping[str, str]) -> str | None:
    """The variable whose stateful object (``_integ_x = Integ(lambda: ...)``) holds ``line``."""
    import ast

    if line is None:
        return None
    try:
        tree = ast.parse(py_file.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None
    target = None
    for node in tree.body:
        end = getattr(node, "end_lineno", node.lineno)
        if isinstance(node, ast.Assign) and node.lineno <= line <= end:
            target = next((t.id for t in node.targets if isinstance(t, ast.Name)), None)
    if target is None:
        return None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in names and any(
            isinstance(n, ast.Name) and n.id == target for n in ast.walk(node)
        ):
            return names[node.name]
    return None


def _component_names(py_file: Path) -> dict[str, str]:
    """Function name -> Vensim name (``@component.add(name=...)``) of PySD's module."""
    import ast

    names: dict[str, str] = {}
    try:
        tree = ast.parse(py_file.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return names
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                for keyword in getattr(decorator, "keywords", []):
                    if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                        names[node.name] = str(keyword.value.value)
    return names


def _loop_variables(error: BaseException, py_file: Path) -> list[str]:
    """The Vensim names of the equations a RecursionError went round (an algebraic loop)."""
    import traceback

    names = _component_names(py_file)
    frames = traceback.extract_tb(error.__traceback__)[-200:]
    found = [names[f.name] for f in frames
             if Path(f.filename).name == py_file.name and f.name in names]
    return list(dict.fromkeys(found))
