"""The lanes kernel: a block of runs integrated side by side, numpy's ``exp`` called once per block.

The kernel of :mod:`sdnet.engine.kernel` integrates one run after another with plain floats.
Bit-for-bit equality with the numpy backend makes it call numpy's own float64 inner loops for
``exp``, ``log``, ``power`` ... one element at a time, about 16 ns a call: on flexnet 40% of its
time. This generator writes a kernel that advances a block of ``W`` runs (the *lanes*; ``W`` is
an argument, not unrolled, so the machine code stays as small as the per-run kernel's) through
each time step together:

* Each step's equations are cut into *segments* at the transcendental calls: a segment is one
  loop over the lanes evaluating, with plain floats as the per-run kernel does, every equation
  whose inputs are ready; the arguments of the calls it reaches are stored in a lane array, and
  numpy's loop is called once over the ``W`` arguments (one call of the inner loop numpy
  itself makes over an array, so the same numbers); the next segment reads the results.
  Flexnet's three ``exp`` per step are independent, so a step is two segments and one batch.
* Values that cross segments, the states and the per-run constants the step reads live in one
  flat array ``L`` whose rows are :data:`MAX_LANES` apart (a constant, so LLVM sees rows that
  never overlap and compiles the loops over lanes to vector code); a segment loads what it
  reads at its start and stores what later segments read at its end. Constants are computed
  once per run (the IR marks them static), never in the step. Outputs are copied from their
  rows at save times.
* Every operation is the numpy code's, in the same order, so the results equal the numpy
  backend's bit for bit; only the schedule (lane after lane within a segment) differs.

Models with SMOOTH or DELAY stages (arrays per run) are refused here with
:class:`~sdnet.engine.kernel.NotCompiledError`; :func:`~sdnet.engine.kernel.plan_kernel` then
gives them the per-run kernel.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sdnet.engine.compiler import Node

if TYPE_CHECKING:
    from sdnet.engine.kernel import KernelPlan, _Context

__all__ = ["LANE_WIDTH", "plan_lanes"]

LANE_WIDTH = 32
"""Runs integrated side by side (the kernel's ``W``; measured on flexnet, see docs/engine.md)."""

MAX_LANES = 64
"""The most lanes a kernel takes: the stride of the rows of its lane array. A constant, so
that LLVM sees rows that never overlap and turns the loops over lanes into vector code."""

_UFUNC_CALLS = {"call1": 1, "call2": 2}


@dataclass
class _Statement:
    """One assignment of a step: ``target = expr`` for one lane, or (``ufunc`` set) a call of
    numpy's loop number ``ufunc`` over the lanes of ``args``."""

    target: str
    expr: ast.expr | None
    uses: set[str]
    ufunc: int | None = None
    args: list[str] = field(default_factory=list)
    level: int = 0


class _Hoist(ast.NodeTransformer):
    """Take every call of a numpy loop (``call1(UF[i], x)``) out of an expression: its
    arguments become statements of their own, the call a batch statement, the expression
    reads the result."""

    def __init__(self, counter: list[int]) -> None:
        self.counter = counter
        self.statements: list[_Statement] = []

    def _name(self, prefix: str) -> str:
        self.counter[0] += 1
        return f"{prefix}{self.counter[0]}"

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)  # inner calls first
        func = node.func
        if not (isinstance(func, ast.Name) and func.id in _UFUNC_CALLS):
            return node
        index = node.args[0]
        assert isinstance(index, ast.Subscript) and isinstance(index.slice, ast.Constant)
        args = []
        for arg in node.args[1:]:
            name = self._name("_la")
            self.statements.append(_Statement(name, arg, _reads(arg)))
            args.append(name)
        result = self._name("_lu")
        self.statements.append(
            _Statement(result, None, set(args), ufunc=int(index.slice.value), args=args)
        )
        return ast.Name(result, ast.Load())


def _reads(expr: ast.AST) -> set[str]:
    """The variables an expression reads (not the functions it calls nor the modules)."""
    called = {id(n.func) for n in ast.walk(expr) if isinstance(n, ast.Call)}
    modules = {id(n.value) for n in ast.walk(expr) if isinstance(n, ast.Attribute)}
    return {
        n.id for n in ast.walk(expr)
        if isinstance(n, ast.Name) and id(n) not in called and id(n) not in modules
    }


def _schedule(statements: list[_Statement]) -> int:
    """Give each statement its segment; the count of segments.

    A batch of numpy loops runs as soon as its arguments are computed (the fewest segments);
    every other statement as late as its readers allow, so that few values cross from one
    segment to the next through the lane array.
    """
    level: dict[str, int] = {}
    for st in statements:
        deps = [level[u] for u in st.uses if u in level]
        st.level = max(deps, default=0) + (1 if st.ufunc is not None else 0)
        level[st.target] = st.level
    count = max((st.level for st in statements), default=0) + 1
    readers: dict[str, list[_Statement]] = {}
    for st in statements:
        for name in st.uses:
            readers.setdefault(name, []).append(st)
    for st in reversed(statements):
        if st.ufunc is not None:
            continue
        late = [r.level - 1 if r.ufunc is not None else r.level
                for r in readers.get(st.target, [])]
        st.level = min(late, default=count - 1)
    return count


class _Rename(ast.NodeTransformer):
    """Rename the variables of an expression (not the functions it calls)."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    def visit_Call(self, node: ast.Call) -> ast.AST:
        return ast.Call(node.func, [self.visit(a) for a in node.args], [])

    def visit_Name(self, node: ast.Name) -> ast.AST:
        return ast.Name(self.names.get(node.id, node.id), ast.Load())


_FLOAT_CALLS = {
    "fmin", "fmax", "where", "xidz", "zidz", "modulo", "quantum", "step", "ramp", "ramp_open",
    "pulse", "pulse_train", "interp", "land", "lor", "lnot", "float", "abs",
}


def _is_float(expr: ast.expr) -> bool:
    """True when numba types ``expr`` as a float (locals, literals, the runtime's functions
    and arithmetic on them), so that ``float(expr)`` is the same value and can go."""
    if isinstance(expr, ast.Name | ast.Constant):
        return True
    if isinstance(expr, ast.BinOp):
        return _is_float(expr.left) and _is_float(expr.right)
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.USub | ast.UAdd):
        return _is_float(expr.operand)
    if isinstance(expr, ast.Call):
        func = expr.func
        if isinstance(func, ast.Name):
            return func.id in _FLOAT_CALLS
        return isinstance(func, ast.Attribute) and func.attr in ("sqrt", "trunc", "pow")
    return False


def _unwrap_float(expr: ast.expr) -> ast.expr:
    """``float(x)`` as ``x`` where ``x`` is a float already (fewer calls for numba to type)."""
    if (isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name)
            and expr.func.id == "float" and len(expr.args) == 1 and _is_float(expr.args[0])):
        return expr.args[0]
    return expr


def _uses_svml() -> bool:
    """True when numba vectorizes the C library's functions with Intel's SVML."""
    try:
        import numba
    except Exception:  # no numba: no kernel runs anyway
        return False
    return bool(getattr(numba.config, "USING_SVML", False))


class _Rows:
    """Where each value's lanes start in the lane array ``L`` (rows of :data:`MAX_LANES`)."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def __call__(self, name: str) -> int:
        if name not in self.index:
            self.index[name] = len(self.index)
        return self.index[name] * MAX_LANES


def plan_lanes(ctx: _Context, topological: Any) -> KernelPlan:
    """Generate the lanes kernel of a model (raises
    :class:`~sdnet.engine.kernel.NotCompiledError` for the constructs it leaves to the
    per-run kernel)."""
    from sdnet.engine.kernel import (
        KernelPlan,
        NotCompiledError,
        _init_lines,
        _module,
    )

    if ctx.stacked:
        raise NotCompiledError("SMOOTH or DELAY stages in the lanes kernel")
    ir, nodes, assembled, sizes = ctx.ir, ctx.nodes, ctx.assembled, ctx.sizes
    states = ctx.dynamic_states
    dyn_outputs = ctx.dyn_outputs
    rename = {s.name: f"s_{s.name}" for s in states}
    staged = set(rename.values())
    graph: dict[str, Node] = {t: n for t, n in nodes.items() if t not in ctx.static}
    for s in states:
        graph[f"d_{s.name}"] = s.deriv  # type: ignore[assignment]
    derivs = [f"d_{s.name}" for s in states]
    per_run = set(nodes) | {s.name for s in ir.states} | set(ctx.constants)
    rows = _Rows()
    counter = [0]
    svml = _uses_svml()

    def statements(roots: Sequence[str]) -> list[_Statement]:
        out: list[_Statement] = []
        for target in topological(graph, list(roots), "equations"):
            if target in assembled:
                continue
            expr, checks, array = ctx.translate_tree(graph[target], rename)
            if checks or array:
                raise NotCompiledError("SMOOTH or DELAY stages in the lanes kernel",
                                       target)
            if svml and any(isinstance(n, ast.Attribute) and n.attr == "pow"
                            for n in ast.walk(expr)):
                # LLVM would vectorize the C library's pow with Intel's SVML, which rounds
                # differently; the per-run kernel keeps libm's
                raise NotCompiledError("a power of Python floats where numba uses SVML", target)
            hoist = _Hoist(counter)
            expr = hoist.visit(expr)
            out.extend(hoist.statements)
            out.append(_Statement(target, expr, _reads(expr)))
        return out

    def output_names(locals_: Sequence[str]) -> list[list[str]]:
        """The values of each output's columns (assembled arrays: one per element)."""
        return [[dict(assembled[local]).get(k, "_nan") for k in range(sizes[local])]
                if local in assembled else [local] for local in locals_]

    dyn_columns = output_names(dyn_outputs)
    fixed_columns = output_names(ctx.fixed_outputs)

    def segments(roots: Sequence[str], indent: str, tag: str) -> list[str]:
        """A step's code: segments (loops over the lanes) and batches of numpy loops. Every
        local of a segment is renamed ``<name>_<tag><segment>``, so that each is assigned
        once in the whole kernel (numba's compile time grows with reassigned variables)."""
        save = tag == "S"
        body = statements(roots)
        count = _schedule(body)
        defined = {st.target: st.level for st in body}
        batched = {st.target for st in body if st.ufunc is not None}  # written by batches
        # what each segment must store for later segments, batches and the saved outputs
        stores: dict[str, int] = {}
        for st in body:
            reads = set(st.args) if st.ufunc is not None else st.uses
            for name in sorted(reads - batched):  # set order varies with the hash seed
                if name in defined and (defined[name] < st.level or st.ufunc is not None):
                    stores[name] = defined[name]
        wanted = list(derivs)
        if save:
            wanted += [name for names in dyn_columns for name in names]
        for name in wanted:
            if name in defined and name not in batched:
                stores[name] = defined[name]
            elif name not in batched and name != "_nan":
                rows(name)  # a per-run value stored when the run is set up
        out: list[str] = []
        for level in range(count):
            segment = [st for st in body if st.level == level and st.ufunc is None]
            reads: set[str] = set()
            for st in segment:
                reads |= st.uses
            loads = sorted(
                name for name in reads
                if name in batched
                or (name in defined and defined[name] < level)
                or (name not in defined and (name in staged or name in per_run))
            )
            own_stores = [name for name, at in stores.items() if at == level]
            if segment or own_stores:
                local = {name: f"{name}_{tag}{level}" for name in
                         [*loads, *(st.target for st in segment)]}
                renamer = _Rename(local)
                out.append(f"{indent}for i in range(w):")
                inner = indent + "    "
                out.extend(f"{inner}{local[name]} = L[{rows(name)} + i]" for name in loads)
                for st in segment:
                    code = ast.unparse(renamer.visit(_unwrap_float(st.expr)))  # type: ignore[arg-type]
                    out.append(f"{inner}{local[st.target]} = {code}")
                out.extend(f"{inner}L[{rows(name)} + i] = {local[name]}" for name in own_stores)
            for st in body:
                if st.ufunc is not None and st.level == level + 1:
                    arrays = ", ".join(f"L[{rows(a)}:{rows(a)} + w]"
                                       for a in [*st.args, st.target])
                    out.append(f"{indent}lanes{len(st.args)}(UF[{st.ufunc}], {arrays}, w)")
        if save:  # the chosen outputs, from their rows
            out.append(f"{indent}for i in range(w):")
            out.append(f"{indent}    r = r0 + i")
            out.append(f"{indent}    for c in range(oslot.shape[0]):")
            out.append(f"{indent}        out[r, j, c] = L[oslot[c] + i]")
        return out

    step_save = segments([*dyn_outputs, *derivs], "                ", "S")
    step_derivs = segments(derivs, "                    ", "D")
    for name in (n for names in fixed_columns for n in names if n != "_nan"):
        rows(name)
    nan_row = rows("_nan")
    # the per-run values the steps read, stored when each run is set up
    setup_rows = sorted((name for name in rows.index
                         if name in per_run and name not in graph), key=rows)
    lines: list[str] = []
    emit = lines.append
    emit("    for i in range(w):")
    emit("        r = r0 + i")
    lines.extend("    " + line for line in _init_lines(ctx, topological, fixed=False))
    for name in setup_rows:
        emit(f"        L[{rows(name)} + i] = {name}")
    for s in states:
        emit(f"        L[{rows(s.name)} + i] = {s.name}")
    emit(f"        L[{nan_row} + i] = np.nan")
    emit("        for c in range(fslot.shape[0]):")
    emit("            fixed[r, c] = L[fslot[c] + i]")
    emit("    _init = False")
    emit("    j = 0")
    emit("    last = times.shape[0] - 1")
    emit("    half = dt / 2")
    emit("    for k in range(times.shape[0]):")
    emit("        t = times[k]")
    emit("        if flags[k]:")
    emit("            time = t")
    if states:
        emit("            for i in range(w):")
        for s in states:
            emit(f"                L[{rows(rename[s.name])} + i] = L[{rows(s.name)} + i]")
        emit("                r = r0 + i")
        emit("                if bad_time[r] == np.inf:")
        keyword = "if"
        for m, s in enumerate(states):
            emit(f"                    {keyword} not finite(L[{rows(s.name)} + i]):")
            emit("                        bad_time[r] = t")
            emit(f"                        bad_owner[r] = {m}")
            keyword = "elif"
    lines.extend(line[4:] for line in step_save)
    emit("            j += 1")
    emit("        if k == last:")
    emit("            break")
    if states:

        def stage(source: str | None, factor: str) -> None:
            emit("                for i in range(w):")
            for s in states:
                z, sz = rows(s.name), rows(rename[s.name])
                if source is None:
                    emit(f"                    L[{sz} + i] = L[{z} + i]")
                else:
                    a = rows(f"{source}_{s.name}")
                    emit(f"                    L[{a} + i] = L[{rows(f'd_{s.name}')} + i]")
                    emit(f"                    L[{sz} + i] = L[{z} + i] + {factor} * L[{a} + i]")

        emit("        for e in range(4 if rk4 else 1):")
        emit("            if e == 0:")
        emit("                if flags[k]:")
        emit("                    continue")
        emit("                time = t")
        stage(None, "")
        emit("            elif e == 1:")
        emit("                time = t + half")
        stage("a", "half")
        emit("            elif e == 2:")
        emit("                time = t + half")
        stage("b", "half")
        emit("            else:")
        emit("                time = t + dt")
        stage("c", "dt")
        lines.extend(line[8:] for line in step_derivs)
        emit("        for i in range(w):")
        emit("            if rk4:")
        for s in states:
            z, a, b, c, d = (rows(f"{p}{s.name}") for p in ("", "a_", "b_", "c_", "d_"))
            emit(f"                L[{z} + i] = L[{z} + i] + dt / 6 * "
                 f"(L[{a} + i] + 2.0 * L[{b} + i] + 2.0 * L[{c} + i] + L[{d} + i])")
        emit("            else:")
        for s in states:
            z, d = rows(s.name), rows(f"d_{s.name}")
            emit(f"                L[{z} + i] = L[{z} + i] + L[{d} + i] * dt")
        for s in states:
            z, d = rows(s.name), rows(f"d_{s.name}")
            if s.kind == "integ_non_negative":
                emit(f"            L[{z} + i] = fmax(L[{z} + i], 0.0)")
            if s.kind == "sample":
                emit(f"            L[{z} + i] = L[{d} + i]")
    source = _module(lines, ir, ctx.tables, lanes=max(1, len(rows.index)) * MAX_LANES)
    return KernelPlan(
        source=source,
        digest=hashlib.sha256(source.encode()).hexdigest(),
        constants=tuple(ctx.constants),
        states=tuple(s.name for s in states),
        outputs=tuple((local, sizes.get(local, 1)) for local in dyn_outputs),
        fixed=tuple((local, sizes.get(local, 1)) for local in ctx.fixed_outputs),
        lanes=True,
        output_rows=tuple(tuple(rows(n) for n in names) for names in dyn_columns),
        fixed_rows=tuple(tuple(rows(n) for n in names) for names in fixed_columns),
    )
