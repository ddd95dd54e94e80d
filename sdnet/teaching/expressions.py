"""A small, safe arithmetic language for exercise files.

Exercise files (TOML) compute answers from measured numbers, for example
``"members_after / members_at_end"`` or ``"members_no_push < 3"``. The expressions are parsed
with :mod:`ast` and only numbers, names, arithmetic, comparisons, ``and``/``or``/``not`` and the
functions ``min``, ``max`` and ``abs`` are allowed, so an exercise file can never run code.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

from sdnet.errors import ExperimentError

__all__ = ["comparison_sides", "evaluate", "names_in"]

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_FUNCTIONS: dict[str, Callable[..., float]] = {"min": min, "max": max, "abs": abs}


_ARITY: dict[str, tuple[int, int | None]] = {"min": (1, None), "max": (1, None), "abs": (1, 1)}


def _parse(expression: str) -> ast.Expression:
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as error:
        raise ExperimentError(f"cannot parse expression {expression!r}: {error.msg}") from error
    except (RecursionError, MemoryError) as error:  # thousands of nested brackets
        raise ExperimentError(f"expression {expression[:40]!r}... is nested too deeply"
                              ) from error
    for node in ast.walk(tree):
        allowed = (
            ast.Expression, ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp, ast.Name,
            ast.Constant, ast.Call, ast.Load, ast.USub, ast.UAdd, ast.Not, ast.And, ast.Or,
            *_BINARY, *_COMPARE,
        )
        if not isinstance(node, allowed):
            raise ExperimentError(
                f"expression {expression!r} uses {type(node).__name__}, which is not allowed "
                "(use numbers, names, + - * / **, comparisons, and/or/not, min, max, abs)"
            )
        if isinstance(node, ast.Call) and (
            not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS or node.keywords
        ):
            raise ExperimentError(
                f"expression {expression!r} calls a function other than min, max, abs"
            )
        if isinstance(node, ast.Call):
            least, most = _ARITY[node.func.id]  # type: ignore[union-attr]
            if len(node.args) < least or (most is not None and len(node.args) > most):
                wanted = "one value" if most == 1 else "one or more values"
                raise ExperimentError(
                    f"expression {expression!r} calls {node.func.id}() with "  # type: ignore[union-attr]
                    f"{len(node.args)} argument(s) (it takes {wanted})"
                )
        if isinstance(node, ast.Constant) and (
            isinstance(node.value, bool) or not isinstance(node.value, int | float)
        ):
            raise ExperimentError(f"expression {expression!r} has a non-numeric constant")
    return tree


def names_in(expression: str) -> set[str]:
    """The variable names an expression refers to (function names excluded).

    >>> sorted(names_in("max(a, b) / c"))
    ['a', 'b', 'c']
    """
    tree = _parse(expression)
    calls = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in calls
    }


def evaluate(expression: str, names: Mapping[str, float]) -> float | bool:
    """Evaluate ``expression`` with the given named values.

    Parameters
    ----------
    expression : str
        For example ``"after / at_end"`` or ``"no_push < 3"``.
    names : mapping of str to float
        The values the expression may use.

    Returns
    -------
    float or bool
        A float for arithmetic, a bool for comparisons and logic.

    Raises
    ------
    ExperimentError
        If the expression is not allowed, names an unknown value, or divides by zero.

    >>> evaluate("a / b > 0.5", {"a": 3.0, "b": 4.0})
    True
    """
    tree = _parse(expression)

    def walk(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant):
            return float(node.value)  # an integer too large for a float overflows: caught below
        if isinstance(node, ast.Name):
            if node.id not in names:
                raise ExperimentError(
                    f"expression {expression!r} uses unknown name {node.id!r}; "
                    f"known: {', '.join(sorted(names))}"
                )
            return names[node.id]
        if isinstance(node, ast.UnaryOp):
            value = walk(node.operand)
            if isinstance(node.op, ast.Not):
                return not value
            return -value if isinstance(node.op, ast.USub) else +value
        if isinstance(node, ast.BinOp):
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Div) and right == 0:
                raise ExperimentError(f"expression {expression!r} divides by zero")
            if isinstance(node.op, ast.Pow) and left == 0 and right < 0:
                raise ExperimentError(f"expression {expression!r} divides by zero")
            result = _BINARY[type(node.op)](left, right)
            if isinstance(result, complex):  # a negative number to a fractional power
                raise ExperimentError(f"expression {expression!r} has no real value "
                                      f"({left:g} ** {right:g})")
            return result
        if isinstance(node, ast.Compare):
            left = walk(node.left)
            for op, comparator in zip(node.ops, node.comparators, strict=True):
                right = walk(comparator)
                if not _COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.BoolOp):
            values = [bool(walk(v)) for v in node.values]
            return all(values) if isinstance(node.op, ast.And) else any(values)
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else ""  # checked by _parse
            args = [walk(a) for a in node.args]
            return _FUNCTIONS[name](*args) if name == "abs" else _FUNCTIONS[name](args)
        raise ExperimentError(f"cannot evaluate {expression!r}")  # pragma: no cover

    try:
        result = walk(tree)
    except OverflowError as error:
        raise ExperimentError(f"expression {expression!r} overflows (its value exceeds "
                              "1.8e308, the largest float)") from error
    except RecursionError as error:
        raise ExperimentError(f"expression {expression[:40]!r}... is nested too deeply"
                              ) from error
    if isinstance(result, bool):
        return result
    result = float(result)
    if not math.isfinite(result):
        raise ExperimentError(f"expression {expression!r} is not finite ({result})")
    return result


def comparison_sides(expression: str, names: Mapping[str, float]) -> tuple[float, float] | None:
    """Both sides of ``expression`` when it is one comparison ``left OP right``, else None.

    Used to tell how decisively a yes/no answer holds (``3.1 > 3`` is a close call).

    >>> comparison_sides("a / b > 0.5", {"a": 3.0, "b": 4.0})
    (0.75, 0.5)
    """
    body = _parse(expression).body
    if not isinstance(body, ast.Compare) or len(body.ops) != 1:
        return None
    left = evaluate(ast.unparse(body.left), names)
    right = evaluate(ast.unparse(body.comparators[0]), names)
    if isinstance(left, bool) or isinstance(right, bool):
        return None
    return float(left), float(right)
