"""The numba backend: one compiled kernel per model, generated from the engine's own equations.

:mod:`sdnet.engine.compiler` writes every equation of a model as one line of numpy code over
arrays of runs (a node of the :class:`~sdnet.engine.compiler.ModelIR`). This module turns the
same nodes, in the same evaluation order, into a numba function that integrates a range of
runs one after another, each with plain floats, without the GIL, so that threads run blocks of
runs on every core. The arithmetic of each node is the numpy code's, operation for operation
(each line is parsed and rewritten, never re-derived), numba's fast-math is off and the
transcendental functions are numpy's own loops (:mod:`sdnet.engine._numba_rt`), so a kernel's
results equal the numpy backend's bit for bit (tested with ``np.array_equal``).

Where the model allows it (no SMOOTH/DELAY stages), :func:`plan_kernel` gives instead the
*lanes* kernel of :mod:`sdnet.engine.lanes`, which advances a block of runs through each time
step together (same numbers, several times faster on ensembles).

One kernel serves every output selection and both integration methods of a model: which
outputs to store, Euler or RK4, the time grid and the control values are arguments. The
generated source is written to ``numba/`` in sdnet's cache folder, named by its own SHA-256, and
numba caches the machine code beside it (``cache=True``), so a model is compiled once per
machine, not once per process.

Not compiled (the numpy backend runs the model, after one log message naming the construct
and the variable): subscripted equations, constants and stocks (except output-only arrays
assembled element by element from scalars, such as flexnet's ``Members[Segment]``), lookups
with one table per element, external data (GET XLS/DIRECT ...), and SMOOTH N/DELAY N whose
order is an expression.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import itertools
import os
import re
import sys
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from sdnet.engine.compiler import ModelIR, Node, StateSpec

__all__ = [
    "GENERATOR_VERSION",
    "KernelPlan",
    "NotCompiledError",
    "available",
    "load_kernel",
    "plan_kernel",
]

GENERATOR_VERSION = 1
"""Bumped whenever the generated kernel source changes (it is also part of its file name)."""

_UFUNCS = {  # numpy name -> position in _numba_rt.UFUNCS
    "exp": 0, "log": 1, "sin": 2, "cos": 3, "tan": 4, "arcsin": 5, "arccos": 6, "arctan": 7,
    "sinh": 8, "cosh": 9, "tanh": 10,
}
_POWER = 11
_EXACT_NUMPY = {"abs": "abs", "sqrt": "np.sqrt", "trunc": "np.trunc"}
_RT_CALLS = {  # engine helper -> (runtime function, number of arguments)
    "_xidz": ("xidz", 3),
    "_zidz": ("zidz", 2),
    "_modulo": ("modulo", 2),
    "_quantum": ("quantum", 2),
    "_pulse": ("pulse", 3),
}
_NUMPY_CALLS = {
    "minimum": ("fmin", 2),
    "maximum": ("fmax", 2),
    "where": ("where", 3),
    "logical_and": ("land", 2),
    "logical_or": ("lor", 2),
    "logical_not": ("lnot", 1),
}
_NUMPY_CONSTANTS = {"nan", "inf", "pi", "e"}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_CONTROL = ("initial_time", "final_time", "time_step", "saveper")


class NotCompiledError(Exception):
    """A model uses a construct the numba backend does not compile (numpy runs it)."""

    def __init__(self, construct: str, variable: str | None = None) -> None:
        self.construct = construct
        self.variable = variable
        where = f" (variable {variable!r})" if variable else ""
        super().__init__(f"{construct}{where}")


def available() -> bool:
    """True when numba can be imported (the ``fast`` extra is installed) and numpy's loops
    the kernels call are found."""
    try:
        import numba  # noqa: F401
    except Exception:  # an absent or broken numba: the numpy backend runs
        return False
    # the kernels call numpy's own float64 loops: all of them must be found
    return bool(np.all(ufunc_addresses() != 0))


@dataclass(frozen=True)
class KernelPlan:
    """A model's kernel: its source and how its arguments are laid out.

    Attributes
    ----------
    source : str
        The generated Python module (the numba function ``run(start, stop, ...)``).
    digest : str
        SHA-256 of the source (the kernel file's name).
    constants : tuple of str
        Locals of the scalar constants, in the order of the kernel's parameter table.
    states : tuple of str
        Dynamic states (locals) in the numpy backend's order (the order of ``XO``, ``XS``,
        ``XG`` and of ``bad_owner``).
    outputs : tuple of (str, int)
        Output locals computed at every save time, with their number of columns.
    fixed : tuple of (str, int)
        Output locals fixed when a run starts, with their number of columns.
    """

    source: str
    digest: str
    constants: tuple[str, ...]
    states: tuple[str, ...]
    outputs: tuple[tuple[str, int], ...]
    fixed: tuple[tuple[str, int], ...]
    lanes: bool = False
    """True for the lanes kernel (:mod:`sdnet.engine.lanes`), whose last argument is the
    number of runs integrated side by side."""
    output_rows: tuple[tuple[int, ...], ...] = ()
    """Lanes kernel: where each column of ``outputs`` is in its lane array (``oslot`` gives
    these for the columns to save, in order)."""
    fixed_rows: tuple[tuple[int, ...], ...] = ()
    """Lanes kernel: the same for ``fixed`` (``fslot``)."""


# --------------------------------------------------------------------------- translation


class _Translator(ast.NodeTransformer):
    """Rewrite one node's numpy code for one run (floats), refusing anything unknown."""

    def __init__(self, rename: Mapping[str, str], stacked: set[str], python_floats: set[str],
                 tables: dict[str, str], variable: str | None) -> None:
        self.rename = rename
        self.stacked = stacked
        self.python_floats = python_floats
        self.tables = tables
        self.variable = variable
        self.checks: list[str] = []
        self.array = False

    def fail(self, construct: str) -> NotCompiledError:
        return NotCompiledError(construct, self.variable)

    def generic_visit(self, node: ast.AST) -> ast.AST:
        allowed = (
            ast.Expression, ast.BinOp, ast.UnaryOp, ast.Compare, ast.IfExp, ast.Constant,
            ast.Add, ast.Sub, ast.Mult, ast.Div, ast.USub, ast.UAdd, ast.Eq, ast.NotEq,
            ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Load,
        )
        if not isinstance(node, allowed):
            raise self.fail(f"the expression {type(node).__name__}")
        return super().generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise self.fail(f"the literal {node.value!r}")
        return ast.Constant(float(node.value))

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        if len(node.ops) != 1:
            raise self.fail("chained comparisons")
        return self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if not _IDENTIFIER.match(node.id) or node.id in ("n", "P", "X0"):
            raise self.fail(f"the name {node.id!r} in an equation")
        if node.id in self.stacked:
            self.array = True
        return ast.Name(self.rename.get(node.id, node.id), ast.Load())

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        if _is_np(node) and node.attr in _NUMPY_CONSTANTS:
            return node
        raise self.fail("subscripted equations (array operations)")

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        # only the stages of a SMOOTH/DELAY (z[-1]) and a DELAY N's entry times (w[0])
        if (
            isinstance(node.value, ast.Name)
            and node.value.id in self.stacked
            and isinstance(node.slice, ast.Constant | ast.UnaryOp)
        ):
            index = ast.literal_eval(node.slice)
            if isinstance(index, int):
                return ast.Subscript(
                    ast.Name(self.rename.get(node.value.id, node.value.id), ast.Load()),
                    ast.Constant(index), ast.Load(),
                )
        raise self.fail("subscripted equations (indexing)")

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        if isinstance(node.op, ast.Pow):
            return self._power(node.left, node.right)
        if not isinstance(node.op, ast.Add | ast.Sub | ast.Mult | ast.Div):
            raise self.fail(f"the operator {type(node.op).__name__}")
        return ast.BinOp(self.visit(node.left), node.op, self.visit(node.right))

    def _power(self, base: ast.expr, exponent: ast.expr) -> ast.AST:
        """``a ** b`` as numpy computes it: a power of Python floats (time, control values,
        literals) is Python's (the C library's ``pow``); an array to a literal power takes
        numpy's shortcuts (``x*x``, ``sqrt``, ``1/x``); any other is numpy's power loop."""
        left, right = self.visit(base), self.visit(exponent)
        if self._python_float(base) and self._python_float(exponent):
            return _call("math.pow", left, right)
        if isinstance(exponent, ast.Constant | ast.UnaryOp):
            try:
                value = float(ast.literal_eval(exponent))
            except ValueError:
                value = None
            if value == 2.0:
                return ast.BinOp(left, ast.Mult(), left)
            if value == 0.5:
                return _call("np.sqrt", left)
            if value == -1.0:
                return ast.BinOp(ast.Constant(1.0), ast.Div(), left)
            if value == 1.0:
                return _call("float", left)
            if value == 0.0:
                return ast.Constant(1.0)
        return _call("call2", _uf(_POWER), left, right)

    def _python_float(self, node: ast.expr) -> bool:
        """True when the numpy backend holds this value as a Python float (not an array)."""
        return all(
            isinstance(n, ast.Constant)
            or (isinstance(n, ast.Name) and n.id in self.python_floats)
            or isinstance(n, ast.BinOp | ast.UnaryOp | ast.operator | ast.unaryop | ast.Load)
            for n in ast.walk(node)
        )

    def visit_Call(self, node: ast.Call) -> ast.AST:
        if node.keywords:
            raise self.fail("keyword arguments")
        func = node.func
        args = node.args
        if isinstance(func, ast.Attribute) and _is_np(func):
            name = func.attr
            if name in _UFUNCS and len(args) == 1:
                return _call("call1", _uf(_UFUNCS[name]), self.visit(args[0]))
            if name == "power" and len(args) == 2:
                return _call("call2", _uf(_POWER), *map(self.visit, args))
            if name in _EXACT_NUMPY and len(args) == 1:
                return _call(_EXACT_NUMPY[name], self.visit(args[0]))
            if name in _NUMPY_CALLS and len(args) == _NUMPY_CALLS[name][1]:
                return _call(_NUMPY_CALLS[name][0], *map(self.visit, args))
            if name == "interp" and len(args) == 3:
                return _call("interp", self.visit(args[0]), self._table(args[1]),
                             self._table(args[2]))
            raise self.fail(f"numpy.{name} (subscripted equations)")
        if not isinstance(func, ast.Name):
            raise self.fail("method calls (subscripted equations)")
        name = func.id
        if name in _RT_CALLS and len(args) == _RT_CALLS[name][1]:
            return _call(_RT_CALLS[name][0], *map(self.visit, args))
        if name == "_step" and len(args) == 4:
            return _call("step", *map(self.visit, args))
        if name == "_ramp" and len(args) == 4:
            if isinstance(args[3], ast.Constant) and args[3].value is None:
                return _call("ramp_open", *map(self.visit, args[:3]))
            return _call("ramp", *map(self.visit, args))
        if name == "_pulse_train" and len(args) == 5:
            return _call("pulse_train", ast.Name("UF", ast.Load()), *map(self.visit, args))
        if name == "_full" and len(args) == 3:
            if not _empty_tuple(args[2]):
                raise self.fail("subscripted stocks or INITIAL")
            return _call("float", self.visit(args[0]))
        if name in ("_delay_stack", "_delay_stack_checked"):
            return self._stack(name, args)
        if name in ("_smooth_ddt", "_delay_ddt") and len(args) == 4:
            self.array = True
            function = name[1:]
            return _call(function, *map(self.visit, args[:3]))
        if name == "_delay_n_ddt" and len(args) == 5:
            self.array = True
            return _call("delay_n_ddt", *map(self.visit, args[:4]))
        if name == "_order":
            raise self.fail("SMOOTH N/DELAY N whose order is an expression")
        if name == "_lookup_nd":
            raise self.fail("lookups with one table per element")
        raise self.fail(f"{name} (subscripted equations)")

    def _stack(self, name: str, args: list[ast.expr]) -> ast.AST:
        if len(args) < 4 or not _empty_tuple(args[3]):
            raise self.fail("subscripted SMOOTH or DELAY")
        order = args[1]
        if not (isinstance(order, ast.Constant) and isinstance(order.value, int)):
            raise self.fail("SMOOTH N/DELAY N whose order is an expression")
        self.array = True
        if name == "_delay_stack_checked":
            if len(args) != 6:
                raise self.fail(name)
            delay_time = ast.unparse(self.visit(args[4]))
            step = ast.unparse(self.visit(args[5]))
            self.checks.append(f"{order.value} * {step} > {delay_time}")
        return _call("stack", self.visit(args[0]), ast.Constant(order.value))

    def _table(self, node: ast.expr) -> ast.AST:
        if isinstance(node, ast.Name) and node.id.endswith(("_x", "_y")) and node.id in self.tables:
            return ast.Name(self.tables[node.id], ast.Load())
        if isinstance(node, ast.List):
            values = [float(ast.literal_eval(v)) for v in node.elts]
            key = repr(values)
            if key not in self.tables:
                self.tables[key] = f"T{len(self.tables)}"
            return ast.Name(self.tables[key], ast.Load())
        raise self.fail("lookup tables of that form")


def _is_np(node: ast.Attribute) -> bool:
    return isinstance(node.value, ast.Name) and node.value.id == "np"


def _empty_tuple(node: ast.expr) -> bool:
    return isinstance(node, ast.Tuple) and not node.elts


def _uf(index: int) -> ast.expr:
    return ast.Subscript(ast.Name("UF", ast.Load()), ast.Constant(index), ast.Load())


def _call(name: str, *args: ast.AST) -> ast.Call:
    func: ast.expr
    if "." in name:
        module, attr = name.split(".")
        func = ast.Attribute(ast.Name(module, ast.Load()), attr, ast.Load())
    else:
        func = ast.Name(name, ast.Load())
    return ast.Call(func, list(args), [])


def _assembled(node: Node) -> list[tuple[int, str]] | None:
    """``_assemble(n, sizes, [((slice(None), i, ...), scalar_local), ...])`` as (flat position,
    local) pairs, or None when the node is anything else."""
    try:
        tree = ast.parse(node.code, mode="eval").body
    except SyntaxError:
        return None
    if not (isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name)
            and tree.func.id == "_assemble" and len(tree.args) == 3):
        return None
    try:
        sizes = ast.literal_eval(tree.args[1])
    except ValueError:
        return None
    pieces = tree.args[2]
    if not isinstance(pieces, ast.List):
        return None
    out = []
    for piece in pieces.elts:
        if not (isinstance(piece, ast.Tuple) and len(piece.elts) == 2):
            return None
        index, value = piece.elts
        if not isinstance(index, ast.Tuple) or not isinstance(value, ast.Name):
            return None
        positions = []
        for item in index.elts[1:]:
            if not (isinstance(item, ast.Constant) and isinstance(item.value, int)):
                return None
            positions.append(item.value)
        if len(positions) != len(sizes) or not _IDENTIFIER.match(value.id):
            return None
        out.append((int(np.ravel_multi_index(positions, sizes)), value.id))
    return out


# --------------------------------------------------------------------------- planning


@dataclass
class _Context:
    """What both kernel generators need from a model: its nodes, states and outputs, sorted
    into constants, static and dynamic values (:func:`_context`)."""

    ir: ModelIR
    static: set[str]
    by_local: dict[str, Any]
    nodes: dict[str, Node]
    assembled: dict[str, list[tuple[int, str]]]
    sizes: dict[str, int]
    stacked: set[str]
    dynamic_states: list[StateSpec]
    constants: list[str]
    python_floats: set[str]
    tables: dict[str, str]
    dyn_outputs: list[str]
    fixed_outputs: list[str]

    def translate_tree(self, node: Node, rename: Mapping[str, str]) -> tuple[ast.expr,
                                                                          list[str], bool]:
        """A node's numpy code rewritten for one run: (expression, checks, is it a stack)."""
        owner = self.by_local.get(node.target)
        variable = (owner.vensim_name if owner
                    else _owner_of(node.target, self.ir.states, self.by_local))
        translator = _Translator(rename, self.stacked, self.python_floats, self.tables,
                                 variable)
        try:
            tree = ast.parse(node.code, mode="eval")
        except SyntaxError as err:
            raise NotCompiledError("code the translator cannot read", variable) from err
        body = translator.visit(tree.body)
        if not translator.array:
            body = _call("float", body)
        return body, translator.checks, translator.array

    def translate(self, node: Node, rename: Mapping[str, str]) -> tuple[str, list[str], bool]:
        """:meth:`translate_tree` as source text."""
        body, checks, array = self.translate_tree(node, rename)
        return ast.unparse(body), checks, array


def _context(ir: ModelIR, static: set[str]) -> _Context:
    """Sort a model's IR for the generators (raises :class:`NotCompiledError`)."""
    if ir.extra.get("external"):
        spec = next(iter(ir.extra["external"].values()))
        raise NotCompiledError("external data (GET XLS/DIRECT ..., data files)",
                               spec["variable"])
    by_local = {v.local: v for v in ir.variables}
    nodes = {n.target: n for n in ir.nodes}
    dependents: dict[str, set[str]] = {}
    for node in [*ir.nodes, *(s.init for s in ir.states),
                 *(s.deriv for s in ir.states if s.deriv is not None)]:
        for dep in node.deps:
            dependents.setdefault(dep, set()).add(node.target)
    assembled: dict[str, list[tuple[int, str]]] = {}
    sizes: dict[str, int] = {}
    for spec in ir.variables:
        if spec.kind in ("control", "lookup") or not spec.dims:
            continue
        count = int(np.prod([len(ir.ranges[d]) for d in spec.dims]))
        pieces = _assembled(nodes[spec.local]) if spec.local in nodes else None
        if pieces is None or dependents.get(spec.local) or spec.kind == "constant":
            raise NotCompiledError("subscripted equations", spec.vensim_name)
        assembled[spec.local] = pieces
        sizes[spec.local] = count
    for state in ir.states:
        if state.dims:
            raise NotCompiledError("subscripted stocks", state.owner)
    stacked = {s.name for s in ir.states if s.kind in ("smooth", "delay", "memory")}
    dynamic_states = [s for s in ir.states if s.deriv is not None]
    constants = [v.local for v in ir.variables if v.kind == "constant"]
    # values the numpy backend holds as Python floats or numpy scalars, not arrays: time, the
    # control values and the nodes computed from them only (their powers are libm's pow)
    python_floats = {"time", *_CONTROL}
    grown = True
    while grown:
        grown = False
        for node in ir.nodes:
            if node.target not in python_floats and all(d in python_floats for d in node.deps):
                python_floats.add(node.target)
                grown = True
    tables: dict[str, str] = {}
    for local in ir.tables:
        tables[f"{local}_x"] = f"{local}_x"
        tables[f"{local}_y"] = f"{local}_y"

    outputs_all = [v for v in ir.variables if v.kind not in ("control", "lookup")]
    dyn_outputs = [v.local for v in outputs_all if v.local not in static]
    fixed_outputs = [v.local for v in outputs_all if v.local in static]

    return _Context(
        ir=ir, static=static, by_local=by_local, nodes=nodes, assembled=assembled,
        sizes=sizes, stacked=stacked, dynamic_states=dynamic_states, constants=constants,
        python_floats=python_floats, tables=tables, dyn_outputs=dyn_outputs,
        fixed_outputs=fixed_outputs,
    )


def plan_kernel(
    ir: ModelIR,
    *,
    static: set[str],
    topological: Any,
    lanes: bool = True,
) -> KernelPlan:
    """Generate the kernel of a model (raises :class:`NotCompiledError`).

    Parameters
    ----------
    ir : ModelIR
        The compiled equations.
    static : set of str
        Locals that do not change during a run (``CompiledModel``'s static targets).
    topological : callable
        ``sdnet.engine.model._topological`` (evaluation order of nodes).
    lanes : bool
        Generate the lanes kernel (:mod:`sdnet.engine.lanes`: blocks of runs side by side)
        where the model allows it; False, or a model it refuses (SMOOTH or DELAY stages),
        gives the kernel that integrates one run after another.
    """
    ctx = _context(ir, static)
    if lanes:
        from sdnet.engine.lanes import plan_lanes

        try:
            return plan_lanes(ctx, topological)
        except NotCompiledError:
            pass
    return _plan_runs(ctx, topological)


def _init_lines(ctx: _Context, topological: Any, *, fixed: bool = True) -> list[str]:
    """Code setting up run ``r`` (constants, initial values, restarts and, with ``fixed``,
    the fixed outputs), indented for the body of a loop over runs."""
    ir, nodes, assembled, sizes = ctx.ir, ctx.nodes, ctx.assembled, ctx.sizes
    dynamic_states, constants, fixed_outputs = (ctx.dynamic_states, ctx.constants,
                                                ctx.fixed_outputs)
    translate = ctx.translate
    lines: list[str] = []
    emit = lines.append
    init_nodes: dict[str, Node] = {t: n.at_init() for t, n in nodes.items()}
    for s in ir.states:
        init_nodes[s.name] = s.init
    init_order = topological(init_nodes, list(init_nodes), "initial values")
    x0_index = {s.name: i for i, s in enumerate(dynamic_states)}
    emit("    time = initial_time")
    emit("    _init = True")
    for i, local in enumerate(constants):
        emit(f"    {local} = P[PO[{i}] + r * PS[{i}]]")
    for target in init_order:
        if target in assembled:
            continue
        node = init_nodes[target]
        code, checks, _ = translate(node, {})
        restart = next((s.restart for s in ir.states if s.name == target), None)
        if target in x0_index and restart is not None:
            i = x0_index[target]
            restart_node = Node(target, restart.format(value="_x0v"), node.deps)
            restart_code, restart_checks, _ = translate(restart_node, {})
            emit(f"    if XG[{i}]:")
            emit(f"        _x0v = X0[XO[{i}] + r * XS[{i}]]")
            emit(f"        {target} = {restart_code}")
            for check in restart_checks:
                emit(f"        if {check}:")
                emit("            err[r] = 1")
            emit("    else:")
            emit(f"        {target} = {code}")
            for check in checks:
                emit(f"        if {check}:")
                emit("            err[r] = 1")
        else:
            emit(f"    {target} = {code}")
            for check in checks:
                emit(f"    if {check}:")
                emit("        err[r] = 1")
    emit("    _init = False")
    for i, local in enumerate(fixed_outputs if fixed else []):
        emit(f"    if fslot[{i}] >= 0:")
        lines.extend(_store(local, assembled, sizes, "fixed[r, fslot[{i}] + {k}]".replace(
            "{i}", str(i)), "        "))
    return lines


def _plan_runs(ctx: _Context, topological: Any) -> KernelPlan:
    """The kernel that integrates one run after another (every construct the backend
    compiles)."""
    ir, static, nodes, assembled, sizes = ctx.ir, ctx.static, ctx.nodes, ctx.assembled, ctx.sizes
    stacked, dynamic_states, constants = ctx.stacked, ctx.dynamic_states, ctx.constants
    tables, dyn_outputs, fixed_outputs = ctx.tables, ctx.dyn_outputs, ctx.fixed_outputs
    translate = ctx.translate

    lines = _init_lines(ctx, topological)
    emit = lines.append
    # ---- the time loop
    rename = {s.name: f"s_{s.name}" for s in dynamic_states}
    dyn_nodes = {t: n for t, n in nodes.items() if t not in static}
    graph: dict[str, Node] = dict(dyn_nodes)
    for s in dynamic_states:
        graph[f"d_{s.name}"] = s.deriv  # type: ignore[assignment]
    derivs = [f"d_{s.name}" for s in dynamic_states]

    def body(roots: Sequence[str], indent: str) -> list[str]:
        out = []
        for target in topological(graph, list(roots), "equations"):
            if target in assembled:
                continue
            code, checks, _ = translate(graph[target], rename)
            if checks:
                raise NotCompiledError("DELAY N checks inside the run", target)
            out.append(f"{indent}{target} = {code}")
        return out

    def stage(indent: str, source: str | None) -> list[str]:
        out = []
        for s in dynamic_states:
            if source is None:
                out.append(f"{indent}s_{s.name} = {s.name}")
            else:
                out.append(f"{indent}s_{s.name} = {s.name} + {source}_{s.name}")
        return out

    emit("    j = 0")
    emit("    last = times.shape[0] - 1")
    emit("    half = dt / 2")
    emit("    for k in range(times.shape[0]):")
    emit("        t = times[k]")
    emit("        if flags[k]:")
    emit("            time = t")
    lines.extend(stage("            ", None))
    lines.extend(body([*dyn_outputs, *derivs], "            "))
    for i, local in enumerate(dyn_outputs):
        emit(f"            if oslot[{i}] >= 0:")
        lines.extend(_store(local, assembled, sizes, f"out[r, j, oslot[{i}] + {{k}}]",
                            "                "))
    emit("            j += 1")
    if dynamic_states:
        emit("            if bad_time[r] == np.inf:")
        keyword = "if"
        for i, s in enumerate(dynamic_states):
            test = "all_finite" if s.name in stacked else "finite"
            emit(f"                {keyword} not {test}({s.name}):")
            emit("                    bad_time[r] = t")
            emit(f"                    bad_owner[r] = {i}")
            keyword = "elif"
    emit("        if k == last:")
    emit("            break")
    if dynamic_states:
        # the derivatives at t when not saved (Euler), then RK4's three other stages
        emit("        for e in range(4 if rk4 else 1):")
        emit("            if e == 0:")
        emit("                if flags[k]:")
        emit("                    continue")
        emit("                time = t")
        lines.extend(stage("                ", None))
        emit("            elif e == 1:")
        for s in dynamic_states:
            emit(f"                a_{s.name} = d_{s.name}")
        emit("                time = t + half")
        for s in dynamic_states:
            emit(f"                s_{s.name} = {s.name} + half * a_{s.name}")
        emit("            elif e == 2:")
        for s in dynamic_states:
            emit(f"                b_{s.name} = d_{s.name}")
        emit("                time = t + half")
        for s in dynamic_states:
            emit(f"                s_{s.name} = {s.name} + half * b_{s.name}")
        emit("            else:")
        for s in dynamic_states:
            emit(f"                c_{s.name} = d_{s.name}")
        emit("                time = t + dt")
        for s in dynamic_states:
            emit(f"                s_{s.name} = {s.name} + dt * c_{s.name}")
        lines.extend(body(derivs, "            "))
        emit("        if rk4:")
        for s in dynamic_states:
            n = s.name
            emit(f"            {n} = {n} + dt / 6 * "
                 f"(a_{n} + 2.0 * b_{n} + 2.0 * c_{n} + d_{n})")
        emit("        else:")
        for s in dynamic_states:
            emit(f"            {s.name} = {s.name} + d_{s.name} * dt")
        for s in dynamic_states:
            if s.kind == "integ_non_negative":
                emit(f"        {s.name} = fmax({s.name}, 0.0)")
            if s.kind == "sample":
                emit(f"        {s.name} = d_{s.name}")
    source = _module(lines, ir, tables)
    return KernelPlan(
        source=source,
        digest=hashlib.sha256(source.encode()).hexdigest(),
        constants=tuple(constants),
        states=tuple(s.name for s in dynamic_states),
        outputs=tuple((local, sizes.get(local, 1)) for local in dyn_outputs),
        fixed=tuple((local, sizes.get(local, 1)) for local in fixed_outputs),
    )


def _owner_of(target: str, states: Sequence[StateSpec], by_local: Mapping[str, Any]) -> str | None:
    for s in states:
        if target in (s.name, f"d_{s.name}"):
            return s.owner
    return None


def _store(local: str, assembled: Mapping[str, list[tuple[int, str]]],
           sizes: Mapping[str, int], target: str, indent: str) -> list[str]:
    if local not in assembled:
        return [f"{indent}{target.format(k=0)} = {local}"]
    given = dict(assembled[local])
    return [
        f"{indent}{target.format(k=k)} = {given.get(k, 'np.nan')}"
        for k in range(sizes[local])
    ]


_SIGNATURE = (
    "P, PO, PS, X0, XO, XS, XG, UF, times, flags, dt, rk4, initial_time, final_time, "
    "time_step, saveper, out, oslot, fixed, fslot, bad_time, bad_owner, err"
)


def _runtime_stamp() -> str:
    """What the kernel's machine code depends on besides its own source: the runtime module
    and numba's version. numba's cache checks only the kernel file's own stamp, so this goes
    into the source (and so into its name): a changed runtime means a new kernel."""
    runtime = Path(__file__).with_name("_numba_rt.py").read_bytes()
    try:
        from importlib.metadata import version

        numba_version = version("numba")
    except Exception:  # numba's metadata missing: its module still says it
        numba_version = "?"
    return f"runtime {hashlib.sha256(runtime).hexdigest()[:16]}, numba {numba_version}"


def _module(lines: list[str], ir: ModelIR, tables: Mapping[str, str], lanes: int = 0) -> str:
    """The kernel's module: imports, lookup tables and ``run`` around ``lines``, the body of
    a loop over runs ``r`` or, with ``lanes`` (the size of the lane array), over blocks of
    ``W`` runs starting at ``r0``."""
    header = [
        f"# numba kernel generated by sdnet (generator {GENERATOR_VERSION}) from "
        f"{Path(ir.path).name}; do not edit",
        f"# {_runtime_stamp()}",
        "import math",
        "import numpy as np",
        "from numba import njit",
        "from sdnet.engine._numba_rt import (",
        "    all_finite, call1, call2, delay_ddt, delay_n_ddt, finite, fmax, fmin, interp, land,",
        "    lnot, lor, modulo, pulse, pulse_train, quantum, ramp, ramp_open, smooth_ddt, stack,",
        "    step, where, xidz, zidz," + (" lanes1, lanes2," if lanes else ""),
        ")",
        "",
    ]
    for local, (xs, ys) in sorted(ir.tables.items()):
        header.append(f"{local}_x = np.array({[float(v) for v in xs]!r})")
        header.append(f"{local}_y = np.array({[float(v) for v in np.asarray(ys).ravel()]!r})")
    for key, name in tables.items():
        if key.startswith("["):
            header.append(f"{name} = np.array({key})")
    header += [
        "",
        "",
        '@njit(cache=True, error_model="numpy", nogil=True)',
    ]
    if lanes:
        header += [
            f"def run(start, stop, {_SIGNATURE}, W):",
            f"    L = np.empty({lanes})",
            "    for r0 in range(start, stop, W):",
            "        w = min(W, stop - r0)",
        ]
    else:
        header += [
            f"def run(start, stop, {_SIGNATURE}):",
            "    for r in range(start, stop):",
        ]
    body = ["    " + line if line else line for line in lines]
    return "\n".join([*header, *body, ""])


# --------------------------------------------------------------------------- loading

_LOADED: dict[str, ModuleType] = {}
_MIN_RUNS_PER_THREAD = 64  # below this, starting a thread costs more than it saves
_BLOCKS_PER_THREAD = 4  # blocks dealt to the threads as they finish: runs differ in cost
_LOCK = threading.Lock()


def load_kernel(plan: KernelPlan, folder: Path) -> ModuleType:
    """Import a plan's module from ``folder`` (written there once, named by its SHA-256).

    numba compiles its functions at their first call and caches the machine code in
    ``__pycache__`` beside the file, so later processes load it instead of compiling.
    """
    digest = plan.digest[:32]
    with _LOCK:
        module = _LOADED.get(digest)
        if module is not None:
            return module
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"k_{digest}.py"
        if not path.is_file() or path.read_text(encoding="utf-8") != plan.source:
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(plan.source, encoding="utf-8")
            tmp.replace(path)
        name = f"sdnet_kernel_{digest}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import the kernel {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        _LOADED[digest] = module
        return module


def is_compiled(plan: KernelPlan, folder: Path) -> bool:
    """True when the kernel is compiled in this process or cached by numba in ``folder``."""
    digest = plan.digest[:32]
    module = _LOADED.get(digest)
    if module is not None and module.run.signatures:
        return True
    return any((folder / "__pycache__").glob(f"k_{digest}.run-*.nbi"))


def pack(arrays: Sequence[np.ndarray], n_runs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One flat array of per-run values: ``values[offsets[i] + run * steps[i]]`` is value
    ``i`` of a run (step 0 for a value shared by every run)."""
    if n_runs == 1 and all(a.shape == (1,) for a in arrays):  # a single run: fast path
        values = np.array([a[0] for a in arrays], dtype=np.float64) if arrays else np.zeros(1)
        return values, np.arange(len(arrays), dtype=np.int64), np.zeros(len(arrays), np.int64)
    offsets = np.zeros(len(arrays), dtype=np.int64)
    steps = np.zeros(len(arrays), dtype=np.int64)
    parts = []
    at = 0
    for i, array in enumerate(arrays):
        flat = np.asarray(array, dtype=np.float64).reshape(-1)
        offsets[i] = at
        steps[i] = 1 if flat.shape[0] == n_runs and n_runs > 1 else 0
        parts.append(flat if steps[i] else flat[:1])
        at += parts[-1].shape[0]
    values = np.concatenate(parts) if parts else np.zeros(1)
    return values, offsets, steps


_ADDRESSES: np.ndarray | None = None


def ufunc_addresses() -> np.ndarray:
    """The addresses of numpy's float64 loops the kernels call (found once per process)."""
    global _ADDRESSES
    if _ADDRESSES is None:
        from sdnet.engine._numba_rt import ufunc_loops

        _ADDRESSES = ufunc_loops()
    return _ADDRESSES


def run(module: ModuleType, args: tuple[Any, ...], *, n_runs: int, threads: int) -> None:
    """Run a loaded kernel over ``n_runs`` runs on up to ``threads`` threads.

    The kernel releases the GIL (``nogil``), so Python threads run its blocks of runs on
    several cores at once. (A ``numba.prange`` loop did the same but more than doubled the
    compile time, 14 s to 37 s of CPU for flexnet, by compiling the kernel's body twice.)
    """
    threads = max(1, min(threads, n_runs // _MIN_RUNS_PER_THREAD))
    if threads == 1:
        module.run(0, n_runs, *args)
        return
    edges = np.linspace(0, n_runs, threads * _BLOCKS_PER_THREAD + 1).round().astype(int)
    blocks = [(int(a), int(b)) for a, b in itertools.pairwise(edges) if b > a]
    with ThreadPoolExecutor(threads) as pool:
        for done in [pool.submit(module.run, a, b, *args) for a, b in blocks]:
            done.result()
