"""Vensim macros, inlined: every call of a macro becomes equations of the main model.

PySD's translator reads each ``:MACRO: NAME(params) ... :END OF MACRO:`` into a section of its
own (``section.params``; the macro's value is the element named like the macro). PySD's Python
builder makes one macro object per call site; here each call site gets its own copy of the
macro's equations instead, named ``"<macro> <n> <element>"``, with each parameter a variable
equal to the call's argument and the call replaced by a reference to the copy of the macro's
value. The compiler then treats them as ordinary equations (stocks included), so a macro with a
stock keeps one state per call, as in PySD. Macros calling macros are expanded the same way.
Macros with extra outputs (``returns``, called with ``:``) are refused with a clear name.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sdnet.errors import UnsupportedConstructError

__all__ = ["inline_macros"]

_MAX_DEPTH = 20


def _clean(name: str) -> str:
    """How a name is written in references of the abstract model (``"EXPRESSION MACRO"`` ->
    ``"expression_macro"``)."""
    return name.lower().replace(" ", "_")


def _walk(node: Any, visit: Callable[[Any], Any | None]) -> Any:
    """A copy of an abstract-syntax tree, each node first offered to ``visit`` (its result
    replaces the node unless None)."""
    found = visit(node)
    if found is not None:
        return found
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        changes = {f.name: _walk(getattr(node, f.name), visit)
                   for f in dataclasses.fields(node) if f.init}
        return dataclasses.replace(node, **changes)
    if isinstance(node, tuple):
        return tuple(_walk(item, visit) for item in node)
    if isinstance(node, list):
        return [_walk(item, visit) for item in node]
    return node


class _Inliner:
    def __init__(self, macros: dict[str, Any], path: Path) -> None:
        self.macros = macros
        self.path = path
        self.counter: Iterator[int] = itertools.count(1)
        self.added: list[Any] = []
        self.reference_type: Any = None  # PySD's ReferenceStructure (read from a call)

    def rewrite(self, ast: Any, rename: dict[str, str], depth: int, owner: str) -> Any:
        """``ast`` with macro calls replaced by references to their copies and the names in
        ``rename`` (a macro's parameters and own elements) replaced."""

        def visit(node: Any) -> Any | None:
            kind = type(node).__name__
            if kind == "CallStructure":
                function = getattr(node.function, "reference", None)
                if function in self.macros:
                    self.reference_type = type(node.function)
                    arguments = tuple(self.rewrite(a, rename, depth, owner)
                                      for a in node.arguments)
                    return self.expand(function, arguments, depth + 1, owner)
            if kind == "ReferenceStructure" and node.reference in rename:
                subscripts = node.subscripts
                return dataclasses.replace(node, reference=rename[node.reference],
                                           subscripts=subscripts)
            return None

        return _walk(ast, visit)

    def expand(self, name: str, arguments: tuple[Any, ...], depth: int, owner: str) -> Any:
        """Copy macro ``name``'s equations for one call; return the reference to its value."""
        section = self.macros[name]
        if depth > _MAX_DEPTH:
            raise UnsupportedConstructError("macros that call themselves", variable=owner,
                                            path=self.path)
        if section.returns:
            raise UnsupportedConstructError("macros with more than one output", variable=owner,
                                            path=self.path)
        if len(arguments) != len(section.params):
            raise UnsupportedConstructError(
                f"a call of macro {name} with {len(arguments)} arguments (it takes "
                f"{len(section.params)})", variable=owner, path=self.path)
        prefix = f"{name} {next(self.counter)}"
        rename: dict[str, str] = {}
        for param in section.params:
            rename[_clean(param)] = _clean(f"{prefix} {param}")
        for element in section.elements:
            rename[_clean(element.name)] = _clean(f"{prefix} {element.name}")
        first = section.elements[0]
        component = next(c for c in type(first.components[0]).__mro__
                         if c.__name__ == "AbstractComponent")
        for param, argument in zip(section.params, arguments, strict=True):
            self.added.append(dataclasses.replace(
                first, name=f"{prefix} {param}", units="", limits=(None, None),
                documentation=f"argument {param} of a call of macro {name}",
                components=[component(subscripts=([], []), ast=argument)]))
        for element in section.elements:
            self.added.append(dataclasses.replace(
                element, name=f"{prefix} {element.name}",
                components=[dataclasses.replace(
                    c, ast=self.rewrite(c.ast, rename, depth, element.name))
                    for c in element.components]))
        if not any(_clean(e.name) == name for e in section.elements):
            raise UnsupportedConstructError(f"macro {name} without an equation of its own name",
                                            variable=owner, path=self.path)
        return self.reference_type(reference=rename[name], subscripts=None)


def inline_macros(abstract_model: Any, path: Path) -> Any:
    """``abstract_model`` with one main section in which every macro call is inlined.

    Raises
    ------
    UnsupportedConstructError
        For macros with several outputs, calls with the wrong number of arguments, macros
        that call themselves.
    """
    sections = list(abstract_model.sections)
    main = [s for s in sections if s.name == "__main__"]
    if len(sections) == 1 or len(main) != 1:
        return abstract_model
    macros = {s.name: s for s in sections if s.name != "__main__"}
    inliner = _Inliner(macros, path)
    elements = []
    for element in main[0].elements:
        elements.append(dataclasses.replace(element, components=[
            dataclasses.replace(c, ast=inliner.rewrite(c.ast, {}, 0, element.name))
            for c in element.components]))
    section = dataclasses.replace(main[0], elements=[*elements, *inliner.added])
    return dataclasses.replace(abstract_model, sections=[section])
