"""One exception hierarchy for sdnet.

Every error sdnet raises on purpose is an :class:`SdnetError`. Subclasses also inherit the
matching built-in (``KeyError``, ``ValueError``, ``FileNotFoundError``) so that callers who catch
the built-in keep working. Each error carries its context as attributes (the file, the variable,
the bad value, what would be valid) and a one-line message that says all of it, which is what
the command line prints.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = [
    "AnswerFileError",
    "CardError",
    "EngineInputError",
    "ExperimentError",
    "InvalidValueError",
    "ModelFileError",
    "ModelNotFoundError",
    "ModelParseError",
    "OutOfRangeError",
    "PushScheduleError",
    "SdnetError",
    "SimulationError",
    "UnknownPresetError",
    "UnknownVariableError",
    "UnsupportedConstructError",
    "close_matches",
]


def close_matches(name: str, candidates: Iterable[str], *, n: int = 3) -> list[str]:
    """Return up to ``n`` candidates that look like ``name`` (case-insensitive).

    Used in error messages so a typo gets a "did you mean" hint.
    """
    candidates = list(candidates)
    lowered = {c.lower(): c for c in candidates}
    found = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.6)
    return [lowered[f] for f in found]


class SdnetError(Exception):
    """Base class of every error sdnet raises on purpose.

    ``str(error)`` is a single line meant for people: the command line prints it as is.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.message


class ModelFileError(SdnetError):
    """A model file cannot be used. ``path`` is the file."""

    def __init__(self, message: str, *, path: str | Path) -> None:
        super().__init__(message)
        self.path = Path(path)


class ModelNotFoundError(ModelFileError, FileNotFoundError):
    """The model file does not exist."""

    def __init__(self, path: str | Path) -> None:
        folder = Path(path)
        if folder.is_dir():  # a common slip: the model's folder instead of its file
            inside = sorted(p.name for p in folder.iterdir()
                            if p.suffix.lower() in (".mdl", ".xmile", ".stmx"))[:5]
            hint = f"; in it: {', '.join(inside)}" if inside else "; it holds no .mdl file"
            message = (f"the model path is a folder, not a file: {path} (give the path of a "
                       f"Vensim .mdl file{hint})")
        else:
            message = f"model file not found: {path} (give the path of a Vensim .mdl file)"
        super().__init__(message, path=path)


class ModelParseError(ModelFileError, ValueError):
    """PySD could not parse or translate the model file; ``line`` is the line when known."""

    def __init__(self, path: str | Path, *, line: int | None, detail: str) -> None:
        where = f"{path}, line {line}" if line is not None else f"{path}"
        super().__init__(f"cannot read model {where}: {detail}", path=path)
        self.line = line
        self.detail = detail


class UnknownVariableError(SdnetError, KeyError):
    """A name is not a variable (or not a parameter) of the model."""

    def __init__(
        self,
        name: str,
        *,
        candidates: Iterable[str] = (),
        what: str = "variable",
        where: str = "",
    ) -> None:
        candidates = list(candidates)
        matches = close_matches(str(name), candidates)
        hint = f"; did you mean {', '.join(repr(m) for m in matches)}?" if matches else ""
        place = f" of {where}" if where else ""
        super().__init__(f"unknown {what} {name!r}{place}{hint}")
        self.name = name
        self.matches = matches
        self.where = where


class InvalidValueError(SdnetError, ValueError):
    """A value is not a finite number where one is required."""

    def __init__(self, name: str, value: Any, *, expected: str = "a finite number") -> None:
        super().__init__(f"invalid value for {name!r}: {value!r} (expected {expected})")
        self.name = name
        self.value = value
        self.expected = expected


class OutOfRangeError(InvalidValueError):
    """A value lies outside the range declared in the model file."""

    def __init__(
        self, name: str, value: float, *, lower: float | None, upper: float | None
    ) -> None:
        lo = "-inf" if lower is None else f"{lower:g}"
        hi = "inf" if upper is None else f"{upper:g}"
        #: the message without the hint on how to opt out (the CLI words its own hint)
        self.summary = f"value {value!r} for {name!r} is outside its declared range [{lo}, {hi}]"
        SdnetError.__init__(
            self,
            f"{self.summary} (pass check_ranges=False to run extreme conditions on purpose)",
        )
        self.name = name
        self.value = value
        self.lower = lower
        self.upper = upper
        self.expected = f"a number in [{lo}, {hi}]"


class UnknownPresetError(SdnetError, KeyError):
    """A preset name (a named set of constants of the model card) is not known."""

    def __init__(self, name: str, *, valid: Iterable[str], kind: str = "preset") -> None:
        valid = sorted(valid)
        listed = ", ".join(valid) if valid else "none (the model's card defines no [[presets]])"
        super().__init__(f"unknown {kind} {name!r}; valid presets: {listed}")
        self.name = name
        self.valid = valid


class PushScheduleError(SdnetError, ValueError):
    """A public-push schedule is invalid (``field`` names the bad part)."""

    def __init__(self, message: str, *, field: str, value: Any) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


class UnsupportedConstructError(SdnetError, NotImplementedError):
    """The vectorized engine cannot compile a construct of the model."""

    def __init__(self, construct: str, *, variable: str, path: str | Path) -> None:
        super().__init__(
            f"the vectorized engine does not support {construct} (in variable {variable!r} "
            f"of {path}); PySD can still run this model one run at a time (engine='pysd')"
        )
        self.construct = construct
        self.variable = variable
        self.path = Path(path)


class EngineInputError(SdnetError, ValueError):
    """Bad input to the ensemble engine (parameter table or run options)."""


class SimulationError(SdnetError, RuntimeError):
    """A simulation could not be carried out."""


class ExperimentError(SdnetError, ValueError):
    """An experiment spec is invalid: names the file, the key, the bad value and what is valid."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        key: str | None = None,
        value: Any = None,
    ) -> None:
        prefix = f"{path}: " if path is not None else ""
        keypart = f"[{key}] " if key else ""
        super().__init__(f"{prefix}{keypart}{message}")
        self.path = None if path is None else Path(path)
        self.key = key
        self.value = value


class CardError(ExperimentError):
    """A model card (the TOML file beside a model) is invalid: names the file, the key, the bad
    value and what is valid. A subclass of ExperimentError: a study fails on its card the same
    way it fails on its own file."""


class AnswerFileError(SdnetError, ValueError):
    """A student's answers file (TOML) cannot be checked.

    Names the file, the key, the bad value and what would be valid, so a student can fix the
    file without reading code.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        key: str | None = None,
        value: Any = None,
        valid: str | None = None,
    ) -> None:
        prefix = f"{path}: " if path is not None else ""
        keypart = f"[{key}] " if key else ""
        validpart = f" (valid: {valid})" if valid else ""
        super().__init__(f"{prefix}{keypart}{message}{validpart}")
        self.path = None if path is None else Path(path)
        self.key = key
        self.value = value
        self.valid = valid


class TargetsError(SdnetError, ValueError):
    """A calibration targets file (TOML) or time series (CSV) is invalid.

    Names the file, the key (or column), the bad value and what is valid.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        key: str | None = None,
        value: Any = None,
    ) -> None:
        prefix = f"{path}: " if path is not None else ""
        keypart = f"[{key}] " if key else ""
        super().__init__(f"{prefix}{keypart}{message}")
        self.path = None if path is None else Path(path)
        self.key = key
        self.value = value


__all__ += ["TargetsError"]


class SdnetWarning(UserWarning):
    """Base class of the warnings sdnet issues on purpose (a result to treat with care)."""


class ConvergenceWarning(SdnetWarning):
    """Sensitivity indices whose confidence intervals are too wide to rank the top factors."""


class IntegrationWarning(SdnetWarning):
    """Metrics that change by more than the tolerance at half the time step or with RK4."""


__all__ += ["ConvergenceWarning", "IntegrationWarning", "SdnetWarning"]


class SketchError(ModelFileError, ValueError):
    """The diagram (sketch) stored in a model file is missing or cannot be read."""


class UnknownViewError(ModelFileError, KeyError):
    """A view name is not one of the views of a model's diagram; ``valid`` lists them."""

    def __init__(self, view: str, *, valid: Iterable[str], path: str | Path) -> None:
        valid = list(valid)
        matches = close_matches(str(view), valid)
        hint = f"; did you mean {', '.join(repr(m) for m in matches)}?" if matches else ""
        listed = ", ".join(repr(v) for v in valid)
        super().__init__(
            f"model {path} has no view {view!r}{hint} (valid views: {listed})", path=path
        )
        self.view = view
        self.valid = valid


class PlotInputError(SdnetError, ValueError):
    """Data given to a plot function do not have the shape or columns it needs."""


class ResultsFolderError(SdnetError, ValueError):
    """A study's results folder lacks what a report needs; ``path`` is the folder or file."""

    def __init__(self, message: str, *, path: str | Path) -> None:
        super().__init__(message)
        self.path = Path(path)


__all__ += ["PlotInputError", "ResultsFolderError", "SketchError", "UnknownViewError"]


class NotAParameterError(SdnetError, KeyError):
    """A name is a variable of the model but not a settable constant (e.g. a stock)."""

    def __init__(self, name: str, *, kind: str, hint: str = "") -> None:
        extra = f"; {hint}" if hint else ""
        super().__init__(f"{name!r} is a {kind} of the model, not a parameter{extra}")
        self.name = name
        self.kind = kind


class MissingParameterError(SdnetError, KeyError):
    """A preset or push needs parameters the model does not have; ``names`` lists them."""

    def __init__(self, names: Iterable[str], *, needed_by: str, model: str) -> None:
        names = list(names)
        super().__init__(
            f"{needed_by} needs parameters that model {model} does not have: {', '.join(names)}"
        )
        self.names = names
        self.needed_by = needed_by
        self.model = model


__all__ += ["MissingParameterError", "NotAParameterError"]


class UnreliableIndexWarning(SdnetWarning):
    """Variance-based indices that cannot be trusted: outside 0-1 beyond their interval, an
    interval wider than 0-1, or an output whose variance comes from a handful of runs."""


__all__ += ["UnreliableIndexWarning"]


class RequestError(SdnetError, ValueError):
    """A request to the simulator's server is malformed (``sdnet serve``).

    ``status`` is the HTTP status the server answers with; ``field`` names the part of the
    request at fault (a JSON key or a parameter), or is None for the request as a whole.
    """

    def __init__(self, message: str, *, status: int = 400, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


__all__ += ["RequestError"]


class OutputFolderError(SdnetError, FileExistsError):
    """An output folder cannot be written as asked; ``path`` is the folder.

    It names a file, holds files sdnet did not write, holds another output (another study,
    say) that only ``overwrite=True`` (``--overwrite``) may replace, or its manifest is
    unreadable. Nothing in the folder has been touched when this is raised.
    """

    def __init__(self, message: str, *, path: str | Path) -> None:
        super().__init__(message)
        self.path = Path(path)


class OutputFolderLockedError(OutputFolderError):
    """Another sdnet process is writing the same output folder; ``holder`` describes it."""

    def __init__(self, message: str, *, path: str | Path, holder: dict[str, Any]) -> None:
        super().__init__(message, path=path)
        self.holder = holder


class ResultFileError(SdnetError, ValueError):
    """A results file (e.g. an ensemble's NetCDF file) cannot be read; ``path`` is the file."""

    def __init__(self, message: str, *, path: str | Path) -> None:
        super().__init__(message)
        self.path = Path(path)


__all__ += ["OutputFolderError", "OutputFolderLockedError", "ResultFileError"]
