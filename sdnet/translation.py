"""Model file -> PySD's abstract model -> PySD's Python module, with no model text run as code.

PySD's Python builder writes parts of the model file into the module it generates: variable
names and units through ``repr`` (safe), but each variable's documentation unescaped into a
docstring, and file, sheet, macro and subscript-range names between bare quotes. A comment that
closed the docstring with three double quotes and added ``+ str(__import__("os").system(...))``
then became code that ran when the model was described or run (issue 11), and three harmless
double quotes in a comment made a valid model fail to load. This module is the one place a
model file is read for translation, so that

* the file is checked against size limits first (:data:`MAX_FILE_BYTES`,
  :data:`MAX_EQUATION_BYTES`, :data:`MAX_MODEL_TEXT_BYTES`, :data:`MAX_VARIABLES`): PySD's
  parser needs about 450 MB and 20 s per megabyte of one equation's text, and its builder about
  12 ms per variable, so a 30 MB comment took 10 GB of memory and 20,000 constants more than
  four minutes before these limits;
* the documentation is taken out of the abstract model before PySD builds the module (sdnet
  keeps it beside the module, see :func:`take_documentation`), so no comment reaches code;
* every other string PySD would write between bare quotes is checked (:func:`check_strings`);
* the generated module is checked with :mod:`ast` before it is ever imported
  (:func:`check_generated_code`): only the statements, names, attributes and imports PySD's
  templates produce are accepted, and docstrings must be plain string constants. The vectorized
  engine checks its own generated code with the same function.

PySD's Vensim and XMILE translators (``pysd.translators``) and its Python builder
(``pysd.builders``) are imported here only.
"""

from __future__ import annotations

import ast
import dataclasses
import os
import re
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sdnet.errors import ModelTooLargeError, UnsafeModelError

__all__ = [
    "FORMAT",
    "MAX_EQUATION_BYTES",
    "MAX_FILE_BYTES",
    "MAX_MODEL_TEXT_BYTES",
    "MAX_VARIABLES",
    "XMILE_SUFFIXES",
    "build_python",
    "check_generated_code",
    "check_pysd_module",
    "check_size",
    "check_strings",
    "clean_partial_translations",
    "missing_controls",
    "read_abstract_model",
    "take_documentation",
    "translation_folder",
]

#: Version of what a translation writes into the cache. Part of the cache key, so translations
#: written before the documentation was taken out (unsafe) are never reused; 3: a macro's
#: module is read from the cache (it was looked for beside the model).
FORMAT = 3

#: Largest model file read at all (bytes). The sketch (diagram) counts; large real models with
#: many views stay below 10 MB.
MAX_FILE_BYTES = 32 * 1024 * 1024
#: Largest text of the equations and comments (the sketch excluded), in bytes: PySD parses
#: about 20-60 s per megabyte, so this is minutes already.
MAX_MODEL_TEXT_BYTES = 4 * 1024 * 1024
#: Largest single equation with its units and comment (bytes). PySD's parser holds about 450 MB
#: per megabyte of one equation; a long lookup table of 10,000 points is about 200 kB.
MAX_EQUATION_BYTES = 256 * 1024
#: Most definitions (variables, subscript ranges) in one model. PySD's builder takes about
#: 12 ms each, so the first translation of the largest model takes about two minutes
#: (later loads read the cache).
MAX_VARIABLES = 10_000

XMILE_SUFFIXES = frozenset({".xmile", ".xml", ".stmx"})

#: A translation folder of a process that is gone is removed after this long (seconds) even when
#: its process id cannot be checked.
_STALE_AFTER = 24 * 3600

_SKETCH = "\\\\\\---///"
_XMILE_VARIABLE = re.compile(rb"<(?:stock|flow|aux|gf|dim)\b", re.IGNORECASE)
_XMILE_TEXT = re.compile(rb"<(eqn|doc)\b[^>]*>(.*?)</\1\s*>", re.IGNORECASE | re.DOTALL)
# strings PySD writes between bare quotes: no quote, no backslash, no control character
_BARE = re.compile(r"['\"\\\x00-\x1f\x7f]")
# names written with repr() or turned into identifiers: no control characters
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _too_large(path: Path | str, what: str, value: int, limit: int) -> ModelTooLargeError:
    return ModelTooLargeError(path, what=what, value=value, limit=limit)


def check_size(path: Path) -> None:
    """Refuse a model file beyond the size limits, before PySD reads it.

    Raises
    ------
    ModelTooLargeError
        Naming the limit exceeded (file size, equation text, one equation, or the number of
        definitions) and, for one equation, the line it starts on.
    """
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise _too_large(path, "bytes", size, MAX_FILE_BYTES)
    raw = path.read_bytes()
    if path.suffix.lower() in XMILE_SUFFIXES:
        count = len(_XMILE_VARIABLE.findall(raw))
        for match in _XMILE_TEXT.finditer(raw):
            if len(match.group(2)) > MAX_EQUATION_BYTES:
                line = raw.count(b"\n", 0, match.start()) + 1
                raise _too_large(
                    f"{path}, line {line}", f"bytes in one <{match.group(1).decode()}>",
                    len(match.group(2)), MAX_EQUATION_BYTES,
                )
    else:
        equations = raw.split(_SKETCH.encode(), 1)[0]
        if len(equations) > MAX_MODEL_TEXT_BYTES:
            raise _too_large(
                path, "bytes of equations and comments", len(equations), MAX_MODEL_TEXT_BYTES
            )
        count = 0
        start = 0
        for piece in equations.split(b"|"):
            if len(piece) > MAX_EQUATION_BYTES:
                line = equations.count(b"\n", 0, start + len(piece) - len(piece.lstrip())) + 1
                raise _too_large(
                    f"{path}, line {line}", "bytes in one equation with its comment",
                    len(piece), MAX_EQUATION_BYTES,
                )
            count += b"~" in piece
            start += len(piece) + 1
    if count > MAX_VARIABLES:
        raise _too_large(path, "definitions (variables and subscript ranges)", count,
                         MAX_VARIABLES)


def read_abstract_model(path: Path, *, encoding: str | None = None) -> Any:
    """PySD's abstract model of a Vensim (``.mdl``) or XMILE file, after :func:`check_size`.

    PySD's own exceptions (parse errors and others) propagate: the caller words them.
    """
    check_size(path)
    if path.suffix.lower() in XMILE_SUFFIXES:
        from pysd.translators.xmile.xmile_file import XmileFile

        xmile = XmileFile(path)
        xmile.parse()
        return xmile.get_abstract_model()
    from pysd.translators.vensim.vensim_file import VensimFile

    vensim = VensimFile(path, encoding=encoding) if encoding else VensimFile(path)
    vensim.parse()
    return vensim.get_abstract_model()


def take_documentation(abstract_model: Any) -> dict[str, str]:
    """Remove every element's documentation from the abstract model and return it.

    Returns Vensim name -> documentation (stripped) of the main section. PySD would otherwise
    write it, unescaped, into a docstring of the generated module.
    """
    documentation: dict[str, str] = {}
    for section in abstract_model.sections:
        for element in section.elements:
            text = str(element.documentation or "").strip()
            if section.name == "__main__" and text:
                documentation[str(element.name)] = text
            element.documentation = ""
    return documentation


CONTROL_VARIABLES = ("INITIAL TIME", "FINAL TIME", "TIME STEP", "SAVEPER")


def missing_controls(abstract_model: Any) -> list[str]:
    """The simulation control variables the main section does not define (PySD needs all)."""
    main = [s for s in abstract_model.sections if s.name == "__main__"]
    names = {" ".join(str(e.name).replace("_", " ").upper().split())
             for s in main for e in s.elements}
    return [c for c in CONTROL_VARIABLES if c not in names]


def check_strings(abstract_model: Any, path: Path) -> None:
    """Refuse strings of the abstract model that PySD would write between bare quotes.

    Variable names and units are written with ``repr`` and references become identifiers, so
    any text is safe there (control characters excepted). File, sheet and cell names, macro and
    subscript-range names, data variables' names and keywords are written as ``'...'``: a quote
    or backslash in them would end the string early.

    Raises
    ------
    UnsafeModelError
        Naming the variable and the offending text.
    """
    for section in abstract_model.sections:
        _check_bare(path, "macro", section.name, str(section.name))
        for param in [*getattr(section, "params", []), *getattr(section, "returns", [])]:
            _check_bare(path, f"macro {section.name!r} parameter", param, str(param))
        for sub in section.subscripts:
            _check_bare(path, "subscript range", sub.name, str(sub.name))
            for item in _strings(sub.subscripts):
                _check_name(path, f"subscript range {sub.name!r}", item)
        for element in section.elements:
            _check_name(path, "variable", str(element.name))
            is_data = any(type(c).__name__ == "AbstractData" for c in element.components)
            if is_data:
                _check_bare(path, "data variable", element.name, str(element.name))
            for component in element.components:
                for item in _strings(component.subscripts):
                    _check_name(path, f"variable {element.name!r}", item)
                _check_syntax(path, element.name, component.ast)
                for field in ("type", "subtype", "keyword", "arguments"):
                    value = getattr(component, field, None)
                    if isinstance(value, str):
                        _check_bare(path, f"{field} of variable", element.name, value)


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _check_syntax(path: Path, variable: str, node: Any) -> None:
    """Walk one equation's syntax tree: references may hold any name, other strings are bare."""
    if isinstance(node, list | tuple):
        for item in node:
            _check_syntax(path, variable, item)
        return
    if not dataclasses.is_dataclass(node):
        return
    kind = type(node).__name__
    for field in dataclasses.fields(node):
        value = getattr(node, field.name)
        if isinstance(value, str):
            if kind == "ReferenceStructure" and field.name == "reference":
                _check_name(path, f"variable {variable!r}", value)
            else:
                is_file = field.name == "file"
                _check_bare(path, f"{kind} in variable", variable, value, file=is_file)
        elif kind == "SubscriptsReferenceStructure":
            for item in _strings(value):
                _check_name(path, f"variable {variable!r}", item)
        else:
            _check_syntax(path, variable, value)


def _check_name(path: Path, where: str, text: str) -> None:
    if _CONTROL.search(text):
        raise UnsafeModelError(path, detail=f"a name in {where} holds a control character: "
                                            f"{_short(text)!r}")


def _check_bare(path: Path, what: str, name: Any, text: str, *, file: bool = False) -> None:
    bad = _BARE.search(text)
    if file and bad is not None and bad.group() == "\\" and not text.endswith("\\"):
        # a Windows path (data\input.xlsx) is written as r'...': only a final backslash ends it
        bad = _BARE.search(text.replace("\\", "/"))
    if bad is not None:
        raise UnsafeModelError(
            path,
            detail=f"{what} {_short(str(name))!r} holds {bad.group()!r} in {_short(text)!r}, "
            "which PySD would write into the generated code unescaped; remove the quote, "
            "backslash or control character",
        )


def _short(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def build_python(abstract_model: Any) -> Path:
    """Write PySD's Python module of a checked abstract model; returns the main module's path."""
    from pysd.builders.python.python_model_builder import ModelBuilder

    return Path(ModelBuilder(abstract_model).build_model())


# ------------------------------------------------------------------------------ code checks

_NODES = frozenset({
    "Module", "Expression", "Expr", "In", "NotIn", "Constant", "Name", "Load", "Store", "Del",
    "keyword", "Call",
    "Attribute", "arguments", "arg", "Dict", "Subscript", "List", "Tuple", "FunctionDef",
    "Return", "Assign", "Delete", "Lambda", "BinOp", "UnaryOp", "BoolOp", "Compare", "IfExp",
    "alias", "ImportFrom", "Import", "For", "Slice", "Add", "Sub", "Mult", "Div", "Pow", "Mod",
    "FloorDiv", "USub", "UAdd", "Not", "And", "Or", "Eq", "NotEq", "Lt", "LtE", "Gt", "GtE",
})

#: Attributes PySD 3.14's templates use (read from its builder and from its output for every
#: model of the public test-model suite).
PYSD_ATTRIBUTES = frozenset({
    "DataArray", "abs", "add", "arange", "arccos", "arcsin", "arctan", "array", "cos", "cosh",
    "exp", "expand_dims", "final_time", "inf", "initial_time", "interp", "joinpath", "loc",
    "log", "logical_and", "logical_not", "logical_or", "maximum", "minimum", "nan",
    "ones_like", "parent", "pi", "power", "random", "rename", "reset_coords", "rvs", "saveper",
    "sin", "sinh", "sqrt", "stage", "tan", "tanh", "time_step", "transpose", "truncexpon",
    "truncnorm", "uniform", "values", "zeros_like",
})
PYSD_IMPORTS = ("pathlib", "numpy", "xarray", "scipy", "pysd")
_SAFE_BUILTINS = frozenset({"len", "float", "bool", "sum", "int", "abs", "min", "max"})
_SPECIAL = frozenset({"__data", "__file__", "__pysd_version__"})


def check_pysd_module(py_file: Path, *, path: Path) -> None:
    """Check PySD's generated module of ``path`` (and its macro modules) before importing them.

    Raises
    ------
    UnsafeModelError
        If a module holds anything PySD's templates do not produce.
    """
    for module in sorted(py_file.parent.glob("*.py")):
        source = module.read_text(encoding="utf-8")
        check_generated_code(
            source,
            path=path,
            attributes=PYSD_ATTRIBUTES,
            names=_macro_parameters(source),
            imports=PYSD_IMPORTS,
            module_calls=("add",),
        )


def _macro_parameters(source: str) -> set[str]:
    """The identifiers of a macro module's parameters (``_params = {"input": "input_1"}``).

    PySD binds them in the module when the macro is called, so the module reads them without
    binding them itself.
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return set()  # check_generated_code says so
    found: set[str] = set()
    for statement in tree.body:
        if (
            isinstance(statement, ast.Assign)
            and [ast.unparse(t) for t in statement.targets] == ["_params"]
            and isinstance(statement.value, ast.Dict)
        ):
            for value in statement.value.values:
                if (
                    isinstance(value, ast.Constant)
                    and isinstance(value.value, str)
                    and value.value.isidentifier()
                    and not value.value.startswith("_")
                ):
                    found.add(value.value)
    return found


def check_generated_code(
    source: str,
    *,
    path: Path,
    attributes: Iterable[str],
    names: Iterable[str] = (),
    imports: Iterable[str] = (),
    module_calls: Iterable[str] = (),
    mode: str = "exec",
) -> None:
    """Accept generated Python only if it is made of what the code generator itself writes.

    Parameters
    ----------
    source : str
        The generated code.
    path : Path
        The model file it was generated from (named in the error).
    attributes : iterable of str
        The attribute names the generator uses (``np.exp``, ``value.loc``).
    names : iterable of str
        Names the code may read besides those it binds itself (the namespace it runs in).
    imports : iterable of str
        Top-level packages a module-level import may name.
    module_calls : iterable of str
        Method names a bare module-level call may use (PySD's ``obj.add(...)``).
    mode : {"exec", "eval"}
        A module, or one expression.

    Raises
    ------
    UnsafeModelError
        Naming the first construct that is not accepted and its line.
    """
    try:
        tree: ast.Module | ast.Expression = ast.parse(source, mode=mode)
    except (SyntaxError, ValueError) as error:
        raise UnsafeModelError(
            path, detail=f"the code generated from it is not valid Python ({error})"
        ) from None
    allowed_attributes = frozenset(attributes)
    allowed_imports = tuple(imports)
    calls = frozenset(module_calls)
    bound = set(names) | _SAFE_BUILTINS | _SPECIAL
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.FunctionDef):
            bound.add(node.name)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])

    def refuse(node: ast.AST, what: str) -> UnsafeModelError:
        line = getattr(node, "lineno", "?")
        return UnsafeModelError(
            path,
            detail=f"text of the model file would become code ({what} at line {line} of the "
            "generated module); nothing was run",
        )

    body = tree.body if isinstance(tree, ast.Module) else []
    top_level = set(map(id, body))
    for index, statement in enumerate(body):
        if isinstance(statement, ast.Expr):
            value = statement.value
            docstring = index == 0 and isinstance(value, ast.Constant) and isinstance(
                value.value, str
            )
            method_call = (
                isinstance(value, ast.Call)
                and isinstance(value.func, ast.Attribute)
                and value.func.attr in calls
                and isinstance(value.func.value, ast.Name)
            )
            if not (docstring or method_call):
                raise refuse(statement, "a bare expression")
    for node in ast.walk(tree):
        kind = type(node).__name__
        if kind not in _NODES:
            raise refuse(node, f"a {kind} construct")
        if isinstance(node, ast.Import | ast.ImportFrom):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            modules = [module] if module else [a.name for a in node.names]
            if id(node) not in top_level or getattr(node, "level", 0) or not all(
                m.split(".")[0] in allowed_imports for m in modules
            ):
                raise refuse(node, f"an import of {', '.join(map(str, modules))}")
        elif isinstance(node, ast.Name):
            if node.id.startswith("__") and node.id not in _SPECIAL:
                raise refuse(node, f"the name {node.id}")
            if isinstance(node.ctx, ast.Load) and node.id not in bound:
                raise refuse(node, f"the name {node.id}")
        elif isinstance(node, ast.Attribute):
            if node.attr not in allowed_attributes:
                raise refuse(node, f"the attribute .{node.attr}")
        elif isinstance(node, ast.FunctionDef | ast.Lambda):
            body = node.body if isinstance(node, ast.FunctionDef) else []
            for position, statement in enumerate(body):
                if isinstance(statement, ast.Expr) and not (
                    position == 0
                    and isinstance(statement.value, ast.Constant)
                    and isinstance(statement.value.value, str)
                ):
                    raise refuse(statement, "a bare expression in a function")
            if isinstance(node, ast.FunctionDef) and node.name.startswith("__"):
                raise refuse(node, f"the function {node.name}")


# ------------------------------------------------------------------------------ cache folders

def clean_partial_translations(root: Path) -> None:
    """Remove translation folders (``.translating-<pid>-*``) left by processes that are gone.

    A translation killed mid-way (Ctrl-C twice, ``kill -9``, a full disk) cannot clean up
    after itself; the next translation does. A folder whose process still runs is kept.
    """
    try:
        folders = list(root.glob(".translating-*"))
    except OSError:
        return
    now = time.time()
    for folder in folders:
        match = re.match(r"\.translating-(\d+)-", folder.name)
        pid = int(match.group(1)) if match else None
        try:
            age = now - folder.stat().st_mtime
        except OSError:
            continue
        if (pid is not None and not _alive(pid)) or age > _STALE_AFTER:
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def translation_folder(root: Path) -> Path:
    """A new private folder in ``root`` to translate in, named after this process."""
    import tempfile

    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".translating-{os.getpid()}-", dir=root))
