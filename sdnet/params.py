"""Parameters of a model: what can be set, in which units, within which declared range.

A :class:`ParameterTable` is built from the model file (by :mod:`sdnet.model` from PySD's
documentation table, by :mod:`sdnet.engine` from PySD's abstract model) and both must agree.
Kinds come from a tag at the start of the constant's Vensim comment: ``[lever]``, ``[region]``
or ``[uncertain]``; an untagged constant is of kind ``"constant"`` and the simulation control
constants (INITIAL TIME, FINAL TIME, TIME STEP, SAVEPER) are of kind ``"control"``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sdnet.errors import InvalidValueError, OutOfRangeError, UnknownVariableError

if TYPE_CHECKING:  # pandas is imported lazily: the table is small and pandas is slow to import
    import pandas as pd

__all__ = [
    "CONTROL_NAMES",
    "KINDS",
    "MAX_TIME_STEPS",
    "Kind",
    "Parameter",
    "ParameterTable",
    "kind_from_comment",
    "python_name",
    "python_names",
]

Kind = Literal["lever", "region", "uncertain", "constant", "control"]
KINDS: tuple[str, ...] = ("lever", "region", "uncertain", "constant", "control")
CONTROL_NAMES: tuple[str, ...] = ("initial_time", "final_time", "time_step", "saveper")

#: Most integration steps a run may take: beyond this a typo in final_time or time_step (1e9
#: instead of 1e2) would run for hours or allocate gigabytes before anyone noticed.
MAX_TIME_STEPS = 10_000_000

_TAG = re.compile(r"^\s*\[(lever|region|uncertain)\]\s*", re.IGNORECASE)


def kind_from_comment(comment: str | None) -> tuple[str, str]:
    """Split a Vensim comment into its kind tag and the remaining description.

    >>> kind_from_comment("[lever] Public grant per year.")
    ('lever', 'Public grant per year.')
    >>> kind_from_comment("Just a constant.")
    ('constant', 'Just a constant.')
    """
    text = (comment or "").strip()
    match = _TAG.match(text)
    if match is None:
        return "constant", text
    return match.group(1).lower(), text[match.end() :].strip()


def python_name(vensim_name: str) -> str:
    """The Python identifier PySD gives a Vensim name ("Push Amount" -> "push_amount").

    PySD's rule (``NamespaceManager.make_python_identifier``): lower case, runs of white space
    and underscores become one ``_``, accents are dropped (``ä`` -> ``a``), other characters
    are removed (``"Firm's Growth Rate"`` -> ``"firms_growth_rate"``), and a name that would
    start with a digit or an underscore, or is empty, gets ``nvs_``. The facade, the engine
    and every place that reads a name a user typed share this function; a model's own names
    also avoid Python's reserved words and each other (:func:`python_names`).

    >>> python_name("Firm's Growth Rate")
    'firms_growth_rate'
    >>> python_name("1st Year")
    'nvs_1st_year'
    """
    name = re.sub(r"[\s_]+", "_", vensim_name.strip().lower())
    name = unicodedata.normalize("NFD", name).encode("ascii", "ignore").decode("ascii")
    name = re.sub(r"[^0-9a-zA-Z_]", "", name)
    if not name or name[0].isdigit():
        name = "nvs_" + name
    elif name.startswith("_"):
        name = "nvs" + name
    return re.sub(r"_+", "_", name)


def python_names(vensim_names: Iterable[str]) -> dict[str, str]:
    """The Python identifiers PySD gives the variables of one model, in file order.

    Like :func:`python_name`, but a name that is a Python keyword or builtin, or a name of
    PySD's runtime (``step``, ``integer``, ...), or one already taken by an earlier variable,
    gets ``_1`` (``_2``, ...) as PySD's builder does. ``"Time"`` is ``time``.
    """
    used = set(_reserved_words())
    found: dict[str, str] = {}
    for vensim in vensim_names:
        base = python_name(vensim)
        name, i = base, 1
        while name in used:
            name = f"{base}_{i}"
            i += 1
        used.add(name)
        found[vensim] = name
    return found


#: Names of PySD 3.14's runtime modules that its builder does not give to a model's variable
#: (lower-case ones only: identifiers are lower case); Python's keywords and builtins are added
#: at run time, as PySD does. tests/unit/test_params.py compares this with PySD's own list.
PYSD_RESERVED: frozenset[str] = frozenset({
    "active_initial", "allocate_available", "allocate_by_priority", "compute_shape",
    "constant_cache", "dataclass", "datetime", "deepcopy", "detect_encoding", "erfc",
    "get_current_computer_time", "get_key_and_value_by_insensitive_key_or_value",
    "get_return_elements", "get_time_value", "if_then_else", "importlib", "incomplete",
    "inspect", "integer", "invert_matrix", "itertools", "json", "least_squares",
    "load_model_data", "load_modules", "load_outputs", "load_workbook", "modulo",
    "not_implemented_function", "np", "os", "p", "pd", "print_objects_format", "prod",
    "progressbar", "pulse", "quantum", "ramp", "random", "re", "rearrange", "step", "utils",
    "vector_rank", "vector_reorder", "vector_select", "vector_sort_order", "vmax", "vmin",
    "warn", "warnings", "wraps", "xidz", "xr", "xrsplit", "zidz",
})


def _reserved_words() -> frozenset[str]:
    import builtins
    import keyword

    return frozenset(keyword.kwlist) | frozenset(dir(builtins)) | PYSD_RESERVED


@dataclass(frozen=True, slots=True)
class Parameter:
    """One settable constant of a model.

    Attributes
    ----------
    name : str
        Python identifier (as PySD names it), e.g. ``"push_amount"``.
    vensim_name : str
        The name in the model file, e.g. ``"Push Amount"``.
    units : str
        Units as written in the model file.
    lower, upper : float or None
        The declared range ``[lower, upper]`` from the units field; ``None`` where open (``?``).
    default : float
        The value in the model file.
    description : str
        The comment from the model file, without the kind tag.
    kind : str
        ``"lever"``, ``"region"``, ``"uncertain"``, ``"constant"`` or ``"control"``.
    """

    name: str
    vensim_name: str
    units: str
    lower: float | None
    upper: float | None
    default: float
    description: str
    kind: str

    @property
    def bounded(self) -> bool:
        """True when both ends of the declared range are finite."""
        return self.lower is not None and self.upper is not None

    def check(self, value: Any, *, check_range: bool = True) -> float:
        """Return ``value`` as a float, or raise a clear error.

        Raises
        ------
        InvalidValueError
            If the value is not a finite real number.
        OutOfRangeError
            If ``check_range`` and the value lies outside ``[lower, upper]``.
        """
        is_real = isinstance(value, int | float) or _is_np_real(value)
        if isinstance(value, bool) or not is_real:
            raise InvalidValueError(self.name, value)
        number = float(value)
        if not math.isfinite(number):
            raise InvalidValueError(self.name, value)
        if check_range and (
            (self.lower is not None and number < self.lower)
            or (self.upper is not None and number > self.upper)
        ):
            raise OutOfRangeError(self.name, number, lower=self.lower, upper=self.upper)
        return number


def _is_np_real(value: Any) -> bool:
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a dependency
        return False
    return isinstance(value, np.integer | np.floating)


class ParameterTable(Mapping[str, Parameter]):
    """An immutable, ordered table of parameters, looked up by Python or Vensim name.

    Iterating yields Python names; ``table[name]`` accepts either spelling, and an unknown name
    raises :class:`~sdnet.errors.UnknownVariableError` with close matches.
    """

    __slots__ = ("_by_name", "_by_vensim", "_where")

    def __init__(self, parameters: Iterable[Parameter], *, where: str = "the model") -> None:
        self._by_name: dict[str, Parameter] = {p.name: p for p in parameters}
        self._by_vensim: dict[str, Parameter] = {
            p.vensim_name.lower(): p for p in self._by_name.values()
        }
        self._where = where

    def __getitem__(self, key: str) -> Parameter:
        found = self._by_name.get(key) or self._by_vensim.get(str(key).lower())
        if found is None:
            found = self._by_name.get(python_name(str(key)))
        if found is None:
            # suggest names in the spelling the caller used, so each parameter appears once
            vensim_style = " " in str(key) or any(c.isupper() for c in str(key))
            candidates = (
                [p.vensim_name for p in self._by_name.values()] if vensim_style else self._by_name
            )
            raise UnknownVariableError(
                key, candidates=candidates, what="parameter", where=self._where
            )
        return found

    def __contains__(self, key: object) -> bool:
        try:
            self[str(key)]
        except UnknownVariableError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def __repr__(self) -> str:
        return f"ParameterTable({len(self)} parameters of {self._where})"

    def of_kind(self, *kinds: str) -> ParameterTable:
        """The sub-table of parameters whose kind is one of ``kinds``."""
        return ParameterTable(
            (p for p in self._by_name.values() if p.kind in kinds), where=self._where
        )

    def defaults(self) -> dict[str, float]:
        """Default values by Python name."""
        return {name: p.default for name, p in self._by_name.items()}

    def resolve(self, values: Mapping[str, Any], *, check_ranges: bool = True) -> dict[str, float]:
        """Validate names (either spelling) and values; return them keyed by Python name."""
        resolved: dict[str, float] = {}
        for key, value in values.items():
            parameter = self[key]
            resolved[parameter.name] = parameter.check(value, check_range=check_ranges)
        return resolved

    def to_frame(self) -> pd.DataFrame:
        """The table as a DataFrame indexed by Python name."""
        import pandas as pd

        rows = [
            {
                "name": p.name,
                "vensim_name": p.vensim_name,
                "kind": p.kind,
                "units": p.units,
                "lower": p.lower,
                "upper": p.upper,
                "default": p.default,
                "description": p.description,
            }
            for p in self._by_name.values()
        ]
        columns = ["name", "vensim_name", "kind", "units", "lower", "upper", "default",
                   "description"]
        return pd.DataFrame(rows, columns=columns).set_index("name")


def check_time_settings(
    *,
    initial_time: float,
    final_time: float,
    time_step: float,
    saveper: float,
    saveper_given: bool = True,
) -> None:
    """Raise a clear error for simulation control values no run can use.

    Parameters
    ----------
    initial_time, final_time, time_step, saveper : float
        Simulation control in model time units.
    saveper_given : bool, default True
        Whether the save step or time step was chosen by the caller (then the save step must be
        a whole multiple of the time step; PySD would silently save at other times).

    Raises
    ------
    InvalidValueError
        Non-positive time step or save step, a save step that is not a whole multiple of the
        time step, a final time not after the initial time, or more than
        :data:`MAX_TIME_STEPS` steps.
    """
    if not time_step > 0:
        raise InvalidValueError("time_step", time_step, expected="a positive number")
    if not saveper > 0:
        raise InvalidValueError("saveper", saveper, expected="a positive number")
    ratio = saveper / time_step
    if saveper_given and (ratio < 1 - 1e-9 or abs(ratio - round(ratio)) > 1e-9 * ratio):
        raise InvalidValueError(
            "saveper", saveper, expected=f"a whole multiple of the time step ({time_step:g})"
        )
    if not final_time > initial_time:
        raise InvalidValueError(
            "final_time",
            final_time,
            expected=f"a time after the start of the run ({initial_time:g})",
        )
    if time_step > final_time - initial_time:
        raise InvalidValueError(
            "time_step",
            time_step,
            expected=f"at most the length of the run ({final_time - initial_time:g})",
        )
    if saveper > final_time - initial_time:
        raise InvalidValueError(
            "saveper",
            saveper,
            expected=f"at most the length of the run ({final_time - initial_time:g}), so more "
            "than the start is saved",
        )
    steps = (final_time - initial_time) / time_step
    if steps > MAX_TIME_STEPS:
        latest = initial_time + MAX_TIME_STEPS * time_step
        raise InvalidValueError(
            "final_time",
            final_time,
            expected=f"at most {MAX_TIME_STEPS:,} time steps of {time_step:g} from "
            f"{initial_time:g}, i.e. a final time <= {latest:g}",
        )
