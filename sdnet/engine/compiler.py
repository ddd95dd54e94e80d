"""Translate PySD's abstract model of a Vensim file into vectorized numpy code.

The compiler walks the syntax tree PySD's Vensim translator builds for each equation and writes
one line of numpy code per equation (a *node*). Every value in that code is either a Python
float (literals, ``time``, the control variables and expressions of them only) or an ndarray
whose first axis is the run (length ``n_runs``, or 1 for values equal in every run) followed by
one axis per subscript range of the value, in the order of the equation's left-hand side. The
result, a :class:`ModelIR`, is plain data (JSON-serializable) so it can be cached by the model
file's hash; :mod:`sdnet.engine.model` assembles it into a simulation function.

Arithmetic is written exactly as PySD's Python builder writes it (same operand grouping and
parentheses, same numpy functions), so that Euler results agree with PySD to rounding.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from sdnet.engine.macros import inline_macros
from sdnet.errors import ModelParseError, SdnetError, UnsupportedConstructError
from sdnet.params import CONTROL_NAMES, python_name, python_names
from sdnet.translation import read_abstract_model

__all__ = ["IR_VERSION", "ModelIR", "Node", "StateSpec", "VariableSpec", "build_ir"]

IR_VERSION = 15
"""Bumped whenever the generated code changes, so stale cache entries are ignored."""

XMILE_SUFFIXES = (".xmile", ".stmx", ".xml")
"""Model files read with PySD's XMILE translator (Stella, iThink, XMILE); others are Vensim."""

_CONTROL_VENSIM = {
    "initial_time": "INITIAL TIME",
    "final_time": "FINAL TIME",
    "time_step": "TIME STEP",
    "saveper": "SAVEPER",
}
_SCALAR_LOCALS = {"time", *CONTROL_NAMES}


@dataclass
class Node:
    """One line of generated code that assigns ``target`` from the locals in ``deps``."""

    target: str
    code: str
    deps: list[str]
    uses_time: bool = False
    # the deps while the run is set up, where they differ: an ACTIVE INITIAL reads only its
    # initial value then, so a loop through its expression is no loop at the start
    init_deps: list[str] | None = None

    def at_init(self) -> Node:
        """This node as the run's set-up evaluates it (see ``init_deps``)."""
        return self if self.init_deps is None else replace(self, deps=self.init_deps)


@dataclass
class StateSpec:
    """A piece of integrated state: an INTEG, or the stages of a SMOOTH/DELAY/TREND/INITIAL.

    ``name`` is the local holding the state, ``init`` the node computing its initial value and
    ``deriv`` the node computing its time derivative (None for INITIAL, which never changes).
    """

    name: str
    kind: str
    owner: str
    dims: list[str]
    init: Node
    deriv: Node | None
    restart: str | None = None  # code giving the state from the variable's value ``{value}``


@dataclass
class VariableSpec:
    """A model variable as the engine sees it (Vensim name, Python name, local, shape)."""

    vensim_name: str
    name: str
    local: str
    kind: str  # "constant", "stock", "auxiliary", "lookup" or "control"
    dims: list[str]
    units: str
    lower: float | None
    upper: float | None
    documentation: str
    default: Any = None  # constants: float or nested list
    stock_state: str | None = None  # stocks defined by one INTEG: the state's local


@dataclass
class ModelIR:
    """Everything the engine needs from a model file, as plain data."""

    path: str
    ranges: dict[str, list[str]]
    variables: list[VariableSpec]
    nodes: list[Node]
    states: list[StateSpec]
    tables: dict[str, list[list[float]]]
    control_nodes: list[Node]
    version: int = IR_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable copy."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelIR:
        """Rebuild from :meth:`to_dict` output."""

        def node(d: dict[str, Any] | None) -> Node | None:
            return None if d is None else Node(**d)

        return cls(
            path=data["path"],
            ranges=data["ranges"],
            variables=[VariableSpec(**v) for v in data["variables"]],
            nodes=[Node(**n) for n in data["nodes"]],
            states=[
                StateSpec(**{**s, "init": node(s["init"]), "deriv": node(s["deriv"])})
                for s in data["states"]
            ],
            tables=data["tables"],
            control_nodes=[Node(**n) for n in data["control_nodes"]],
            version=data["version"],
            extra=data.get("extra", {}),
        )


# --------------------------------------------------------------------------- expressions


@dataclass
class _Expr:
    """A compiled sub-expression: code, axis labels after the run axis, scalar flag, order."""

    code: str
    dims: tuple[str, ...] = ()
    scalar: bool = False
    order: int = 0  # PySD's arithmetic order: 0 atom, 1 power, 2 product, 3 sum, 4 comparison
    static: bool = False  # the same at every time step (set by _Compiler._visit)
    refs: frozenset[str] = frozenset()  # the locals the code reads
    time: bool = False  # reads ``time`` directly

    def lowered(self, new_order: int) -> _Expr:
        """Parenthesize like PySD's ``BuildAST.lower_order``."""
        if self.order >= new_order and self.order != 0 and new_order != 0:
            return replace(self, code=f"({self.code})", order=0)
        return self

    @property
    def composite(self) -> bool:
        """True unless the code is a bare name or number (nothing to save by hoisting it)."""
        return not _ATOM.fullmatch(self.code)


_BINARY = {
    "^": ("{l}**{r}", 1),
    "*": ("{l}*{r}", 2),
    "/": ("{l}/{r}", 2),
    "+": ("{l} + {r}", 3),
    "-": ("{l} - {r}", 3),
    "=": ("{l} == {r}", 4),
    "<>": ("{l} != {r}", 4),
    ">=": ("{l} >= {r}", 4),
    ">": ("{l} > {r}", 4),
    "<=": ("{l} <= {r}", 4),
    "<": ("{l} < {r}", 4),
    ":AND:": ("np.logical_and({l}, {r})", 0),
    ":OR:": ("np.logical_or({l}, {r})", 0),
}

_UNARY_NUMPY = {
    "abs": "np.abs",
    "exp": "np.exp",
    "sin": "np.sin",
    "cos": "np.cos",
    "tan": "np.tan",
    "arcsin": "np.arcsin",
    "arccos": "np.arccos",
    "arctan": "np.arctan",
    "sinh": "np.sinh",
    "cosh": "np.cosh",
    "tanh": "np.tanh",
    "sqrt": "np.sqrt",
    "ln": "np.log",
    "integer": "np.trunc",
}
_AGGREGATES = {"sum": "np.sum", "prod": "np.prod", "vmin": "np.min", "vmax": "np.max"}
_VECTOR_FUNCTIONS = {"vector_select", "vector_sort_order", "vector_rank", "vector_reorder"}
_SAFE_NAME = re.compile(r"[^0-9a-zA-Z_]")
_ATOM = re.compile(r"-?[A-Za-z_][A-Za-z0-9_]*|-?[0-9.e+-]+|np\.pi")
_TIME_FUNCTIONS = {"step", "ramp", "pulse", "pulse_train"}
_RESTARTABLE = {
    "SmoothStructure",
    "SmoothNStructure",
    "DelayStructure",
    "DelayNStructure",
    "TrendStructure",
}
_STATEFUL = {
    "IntegStructure",
    "SmoothStructure",
    "SmoothNStructure",
    "DelayStructure",
    "DelayNStructure",
    "TrendStructure",
    "DelayFixedStructure",
    "ForecastStructure",
    "SampleIfTrueStructure",
}


class _Compiler:
    """Builds a :class:`ModelIR` from PySD's abstract model (one pass, then validation)."""

    def __init__(self, abstract_model: Any, path: Path) -> None:
        self.path = path
        sections = inline_macros(abstract_model, path).sections
        main = [s for s in sections if s.name == "__main__"]
        if len(sections) != 1 or not main:
            raise UnsupportedConstructError("macros", variable=sections[-1].name, path=path)
        self.section = main[0]
        self.ranges, self.mapping, self._range_values = _read_ranges(self.section, path)
        self._range_key: dict[str, str] = {name.lower(): name for name in self.ranges}
        self.elements: dict[str, Any] = {}
        self.locals: dict[str, str] = {}
        self.variables: dict[str, VariableSpec] = {}
        used: set[str] = set(_SCALAR_LOCALS)
        # the names PySD gives (shared with the facade): "Firm's Rate" is firms_rate
        self.python_names = python_names(e.name for e in self.section.elements)
        for element in self.section.elements:
            clean = element.name.lower().replace(" ", "_")
            self.elements[clean] = element
            name = python_name(element.name)
            if clean in {c.replace(" ", "_").lower() for c in _CONTROL_VENSIM.values()}:
                local = python_name(element.name)
            else:
                local = "v_" + _SAFE_NAME.sub("_", name)
                base, i = local, 1
                while local in used:
                    local = f"{base}_{i}"
                    i += 1
            used.add(local)
            self.locals[clean] = local
        self.nodes: list[Node] = []
        self.states: list[StateSpec] = []
        self.tables: dict[str, list[list[float]]] = {}
        self.control_nodes: list[Node] = []
        self.external: dict[str, dict[str, Any]] = {}
        self._initial_time_code: str | None = None  # an INITIAL TIME of Time: its code
        self._na_sources: set[str] = set()  # variables that may be NaN by definition
        self._comp_subs: list[str] = []
        self._spec: Any = None
        self._keyword: str | None = None
        self._counter = 0
        self._static_locals: set[str] = {"n"}  # and the static control variables (prepass)
        self._graph_controls: set[str] = set()  # control variables computed during the run
        self._scalar_controls: set[str] = set()  # control variables that are Python floats
        self._memo: dict[str, str] = {}
        self._ctx: list[str] = []
        self._lhs: tuple[str, ...] = ()
        self._last_state: str | None = None
        self._element: Any = None
        self._deps: set[str] = set()
        self._time = False
        self._active_only: set[str] = set()  # read only by ACTIVE INITIAL's expression

    # ------------------------------------------------------------------ helpers

    def _fail(self, construct: str) -> UnsupportedConstructError:
        name = self._element.name if self._element is not None else "?"
        return UnsupportedConstructError(construct, variable=name, path=self.path)

    def _fresh(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._counter}"

    def _range_of(self, token: str) -> str | None:
        return self._range_key.get(token.strip().lower())

    def _elements_of(self, range_name: str) -> list[str]:
        return self.ranges[range_name]

    def _sizes(self, dims: tuple[str, ...] | list[str]) -> tuple[int, ...]:
        return tuple(len(self.ranges[d.rstrip("!")]) for d in dims)

    def _element_index(self, range_name: str, token: str) -> int | None:
        lowered = [e.lower() for e in self.ranges[range_name]]
        token = token.strip().lower()
        return lowered.index(token) if token in lowered else None

    # ------------------------------------------------------------------ variables

    def _var_dims(self, element: Any) -> list[str]:
        """The full dims of an element (PySD's ``make_merge_list``, simplified)."""
        subs_list = [c.subscripts[0] for c in element.components]
        if not subs_list or not subs_list[0]:
            return []
        n = len(subs_list[0])
        dims: list[str] = []
        for i in range(n):
            covered: set[str] = set()
            named: list[str] = []
            for subs in subs_list:
                if len(subs) != n:
                    raise UnsupportedConstructError(
                        "definitions with different numbers of subscripts",
                        variable=element.name,
                        path=self.path,
                    )
                rng = self._range_of(subs[i])
                if rng is not None:
                    covered.update(self.ranges[rng])
                    named.append(rng)
                else:
                    owner = self._owner_range(subs[i], element)
                    covered.add(self.ranges[owner][self._element_index(owner, subs[i])])
            exact = [r for r in named if set(self.ranges[r]) == covered]
            if exact:
                dims.append(exact[0])
                continue
            candidates = [r for r, els in self.ranges.items() if set(els) == covered]
            if not candidates:
                candidates = sorted(
                    (r for r, els in self.ranges.items() if covered <= set(els)),
                    key=lambda r: len(self.ranges[r]),
                )
            if not candidates:
                raise UnsupportedConstructError(
                    "subscripts outside any range", variable=element.name, path=self.path
                )
            dims.append(candidates[0])
        return dims

    def _owner_range(self, token: str, element: Any) -> str:
        for rng in self.ranges:
            if self._element_index(rng, token) is not None:
                return rng
        raise ModelParseError(
            self.path, line=None, detail=f"unknown subscript {token!r} in {element.name!r}"
        )

    def _classify(self, element: Any) -> str:
        comps = element.components
        if type(element).__name__ == "AbstractControlElement":
            return "control"
        if all(type(c).__name__ == "AbstractLookup" for c in comps):
            return "lookup"
        if all(
            type(c).__name__ in ("AbstractComponent", "AbstractUnchangeableConstant")
            and _is_literal(c.ast)
            for c in comps
        ) and all(not c.subscripts[1] for c in comps):
            return "constant"
        if any(type(c).__name__ not in ("AbstractComponent", "AbstractData") for c in comps):
            raise UnsupportedConstructError(
                f"{type(comps[0]).__name__} definitions",
                variable=element.name,
                path=self.path,
            )
        if all(type(c.ast).__name__ == "IntegStructure" for c in comps):
            return "stock"
        return "auxiliary"

    # ------------------------------------------------------------------ main

    def build(self) -> ModelIR:
        specs: list[VariableSpec] = []
        for clean, element in self.elements.items():
            self._element = element
            kind = self._classify(element)
            dims = self._var_dims(element) if kind != "control" else []
            lower, upper = ([*list(element.limits), None, None])[:2]
            spec = VariableSpec(
                vensim_name=element.name,
                name=self.python_names[element.name],
                local=self.locals[clean],
                kind=kind,
                dims=dims,
                units=str(element.units or ""),
                lower=_opt_float(lower),
                upper=_opt_float(upper),
                documentation=str(element.documentation or ""),
            )
            self.variables[clean] = spec
            specs.append(spec)
        self._static_prepass()
        for clean, element in self.elements.items():
            self._element = element
            spec = self.variables[clean]
            if spec.kind == "control":
                self._compile_control(element, spec)
            elif spec.kind == "constant":
                spec.default = self._constant_value(element, spec)
            elif spec.kind == "lookup":
                self._compile_lookup(element, spec)
            else:
                self._compile_variable(element, spec)
            if spec.kind != "lookup" and (_holds_na(element) or self._partly_defined(spec)
                                          or _raw_data(element)):
                self._na_sources.add(spec.local)
        self._element = None
        missing = set(_CONTROL_VENSIM) - {n.target for n in self.control_nodes}
        missing -= self._graph_controls
        if missing:
            raise ModelParseError(
                self.path,
                line=None,
                detail="missing control variables: "
                + ", ".join(_CONTROL_VENSIM[m] for m in sorted(missing)),
            )
        if all(v.kind == "control" for v in specs):
            raise ModelParseError(
                self.path,
                line=None,
                detail="PySD finds no model variables in it, only the control variables "
                "(a file format PySD does not read, such as an older Stella format?)",
            )
        return ModelIR(
            path=str(self.path),
            ranges=self.ranges,
            variables=specs,
            nodes=self.nodes,
            states=self.states,
            tables=self.tables,
            control_nodes=self.control_nodes,
            extra={
                "external": self.external,
                "graph_controls": sorted(self._graph_controls),
                "initial_time_code": self._initial_time_code,
                "na_sources": sorted(self._na_sources),
            },
        )

    def _static_prepass(self) -> None:
        """Find the variables that never change during a run (constants and their functions)
        and the control variables that must be computed during the run (see
        :meth:`_classify_controls`)."""
        static = {c for c, v in self.variables.items() if v.kind == "constant"}
        scans = {}
        for clean, element in self.elements.items():
            if self.variables[clean].kind in ("auxiliary", "control"):
                refs: set[str] = set()
                dynamic = [False]
                for comp in element.components:
                    _scan(comp.ast, refs, dynamic)
                scans[clean] = (refs, dynamic[0])
        changed = True
        while changed:
            changed = False
            for clean, (refs, dynamic) in scans.items():
                if clean in static or dynamic:
                    continue
                if all(
                    r in static or r not in self.variables or self.variables[r].kind == "lookup"
                    for r in refs
                ):
                    static.add(clean)
                    changed = True
        self._static_locals |= {self.variables[c].local for c in static}
        self._classify_controls(static, {c: refs for c, (refs, _) in scans.items()})

    def _classify_controls(self, static: set[str], refs: dict[str, set[str]]) -> None:
        """Split the control variables into *plain* ones (numbers, or expressions of numbers
        and other plain control variables: evaluated once before the run, as floats) and
        *graph* ones, which PySD evaluates at every time step like an auxiliary: those that
        read Time (``TIME STEP = IF THEN ELSE(Time < 4, 1, 0.5)``) or model variables
        (``FINAL TIME = IF THEN ELSE(x > 50, Time, 100)``, ``FINAL TIME = horizon``).

        A control variable is *scalar* (the same Python float in every run) when it reads
        only Time, numbers and scalar control variables."""
        controls = {c for c, v in self.variables.items() if v.kind == "control"}
        scalar = set(controls)
        changed = True
        while changed:
            changed = False
            for clean in sorted(scalar):
                if any(r in self.variables and r not in scalar for r in refs[clean]):
                    scalar.discard(clean)
                    changed = True
        self._scalar_controls = {self.variables[c].local for c in scalar}
        self._graph_controls = {
            self.variables[c].local for c in controls if not (c in static and c in scalar)
        }

    def _shared(self, expr: _Expr) -> _Expr:
        """Give ``expr`` its own node (or reuse the node of an identical expression).

        Exact: the node computes the same operations on the same values. Static expressions
        become static nodes, evaluated once per run instead of once per time step; a dynamic
        expression written twice (``EXP(x)`` in two equations) is evaluated once per step.
        """
        key = f"{expr.code}|{expr.dims}"
        target = self._memo.get(key)
        if target is None:
            target = self._fresh("c")
            self._memo[key] = target
            self.nodes.append(Node(target, expr.code, sorted(expr.refs), expr.time))
            if expr.static:
                self._static_locals.add(target)
        self._deps.add(target)
        return replace(expr, code=target, order=0, refs=frozenset({target}), time=False)

    def _begin(self) -> None:
        self._deps = set()
        self._time = False
        self._active_only = set()

    def _node(self, target: str, code: str) -> Node:
        # the locals its code reads (a SMOOTH's hoisted input is read by its derivative, not
        # by the variable, whose value is the state's: no loop through it, as in PySD)
        deps = (self._deps & set(re.findall(r"[A-Za-z_]\w*", code))) - {target}
        node = Node(target, code, sorted(deps), self._time)
        if deps & self._active_only:
            node.init_deps = sorted(deps - self._active_only)
        return node

    # ------------------------------------------------------------------ element kinds

    def _compile_control(self, element: Any, spec: VariableSpec) -> None:
        comp = element.components[0]
        self._begin()
        expr = self._expr(comp.ast, ())
        if spec.local not in self._graph_controls:  # a number before the run
            self.control_nodes.append(self._node(spec.local, expr.code))
            return
        if expr.scalar != (spec.local in self._scalar_controls) or expr.dims:
            raise self._fail("control variables of this form")
        if spec.local == "initial_time":
            # the run starts where PySD starts it (``INITIAL TIME`` of Time, evaluated twice
            # before the run): only Time, numbers and plain control variables can say where
            if not expr.scalar or self._deps & self._graph_controls:
                raise self._fail("an INITIAL TIME that depends on model variables")
            self._initial_time_code = expr.code
        # evaluated like an auxiliary, at every time step (see sdnet.engine.model)
        self.nodes.append(self._node(spec.local, expr.code))

    def _constant_value(self, element: Any, spec: VariableSpec) -> Any:
        if not spec.dims:
            return float(element.components[0].ast)
        values = np.full(self._sizes(spec.dims), np.nan)
        for comp in element.components:
            index, lhs = self._lhs_index(comp.subscripts[0], spec.dims)
            block = np.asarray(comp.ast, dtype=float)
            target_shape = self._sizes(lhs)
            if block.size == int(np.prod(target_shape)):
                block = block.reshape(target_shape)
            values[index] = np.broadcast_to(block, target_shape)
        missing = self._undefined_elements(spec)
        if missing:
            shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more"
                                              if len(missing) > 6 else "")
            raise self._fail(
                f"subscripted constants defined for only some elements ({shown} "
                "undefined; PySD gives them NaN)"
            )
        return values.tolist()

    def _compile_lookup(self, element: Any, spec: VariableSpec) -> None:
        comps = element.components
        if all(type(c.ast).__name__ == "GetLookupsStructure" for c in comps):
            # one reader for all definitions, as PySD's ExtLookup.add merges them
            self._spec = spec
            parts = []
            for comp in comps:
                self._comp_subs = comp.subscripts[0]
                parts.append(
                    self._external_spec("lookup", comp.ast, row_or_col=comp.ast.x_row_or_col)
                )
            self.external[spec.local] = {
                **parts[0],
                "parts": parts,
                "final": [(d, list(self.ranges[d])) for d in spec.dims],
            }
            return
        for comp in comps:
            table = comp.ast
            if type(table).__name__ != "LookupsStructure" or table.type != "interpolate":
                raise self._fail("lookups other than interpolated tables")
        if not spec.dims:
            table = comps[0].ast
            self.tables[spec.local] = [
                [float(x) for x in table.x],
                [float(y) for y in table.y],
            ]
            return
        self.tables[spec.local] = self._subscripted_table(element, spec)

    def _subscripted_table(self, element: Any, spec: VariableSpec) -> list[Any]:
        """A lookup with one table per element, merged as PySD merges them (one x axis, the
        union of every table's x, missing values interpolated): ``[xs, ys (n_x, *dims)]``."""
        from pysd.py_backend.lookups import HardcodedLookups

        final = {d: list(self.ranges[d]) for d in spec.dims}
        tables = None
        for comp in element.components:
            coords = {}
            for token, dim in zip(comp.subscripts[0], spec.dims, strict=True):
                rng = self._range_of(token)
                if rng is not None:
                    coords[dim] = [e for e in self.ranges[dim] if e in self.ranges[rng]]
                else:
                    coords[dim] = [self.ranges[dim][self._element_index(dim, token)]]
            x = [float(v) for v in comp.ast.x]
            y = [float(v) for v in comp.ast.y]
            if tables is None:
                tables = HardcodedLookups(x, y, coords, "interpolate", final, spec.name)
            else:
                tables.add(x, y, coords)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tables.initialize()
        # elements without a table stay NaN, as in PySD
        data = tables.data.transpose("lookup_dim", *spec.dims)
        return [[float(v) for v in data["lookup_dim"].values], data.values.tolist()]

    def _external_axes(self) -> list[tuple[str, list[str], str | None]]:
        """The current definition's subscripts as PySD's readers take them: (dimension,
        elements, label) per subscript; a single element is a length-1 axis without a label
        (the engine drops it)."""
        axes = []
        for token, dim in zip(self._comp_subs, self._spec.dims, strict=True):
            rng = self._range_of(token)
            if rng is not None:
                axes.append((dim, list(self.ranges[rng]), rng))
            else:
                pos = self._element_index(dim, token)
                if pos is None:
                    raise self._fail(f"subscript {token!r} outside range {dim!r}")
                axes.append((dim, [self.ranges[dim][pos]], None))
        return axes

    def _external_spec(self, kind: str, ast: Any, **extra: Any) -> dict[str, Any]:
        axes = self._external_axes()
        return {
            "kind": kind,
            "variable": self._spec.vensim_name,
            "file": str(ast.file),
            "tab": str(ast.tab),
            "cell": str(ast.cell),
            "coords": [(d, e) for d, e, _ in axes],
            "axes": axes,
            **extra,
        }

    def _v_GetConstantsStructure(self, ast: Any) -> _Expr:  # noqa: N802
        name = self._fresh("x")
        spec = self._external_spec("constant", ast)
        self.external[name] = spec
        self._static_locals.add(name)
        self._deps.add(name)
        labels = tuple(label for _, _, label in spec["axes"] if label)
        return _Expr(name, labels, not labels, 0)

    def _v_GetDataStructure(self, ast: Any) -> _Expr:  # noqa: N802
        name = self._fresh("x")
        spec = self._external_spec(
            "data", ast, row_or_col=str(ast.time_row_or_col), interp=self._keyword
        )
        self.external[name] = spec
        self._time = True
        labels = tuple(label for _, _, label in spec["axes"] if label)
        return _Expr(f"{name}(time)", labels, not labels, 0)

    def _v_DataStructure(self, ast: Any) -> _Expr:  # noqa: N802
        """A data variable without an expression: its values come from the data files given
        to ``compile_model(data_files=...)``, read with PySD's ``TabData`` when the model
        first runs (``sdnet.engine.external``)."""
        spec = self._spec
        if self._lhs != tuple(spec.dims) or len(self._element.components) != 1:
            raise self._fail("data variables read from data files, defined element by element")
        name = self._fresh("x")
        self.external[name] = {
            "kind": "tabdata",
            "variable": spec.vensim_name,
            "python_name": spec.name,
            "interp": self._keyword or "interpolate",
            "coords": [(d, list(self.ranges[d])) for d in spec.dims],
            "axes": [(d, list(self.ranges[d]), d) for d in spec.dims],
        }
        self._time = True
        return _Expr(f"{name}(time)", tuple(spec.dims), not spec.dims, 0)

    def _lhs_index(
        self, subs: list[str], dims: list[str]
    ) -> tuple[tuple[Any, ...], tuple[str, ...]]:
        """Index into the full array for one definition, and the labels it keeps."""
        index: list[Any] = []
        labels: list[str] = []
        for token, dim in zip(subs, dims, strict=True):
            rng = self._range_of(token)
            if rng is None:
                pos = self._element_index(dim, token)
                if pos is None:
                    raise self._fail(f"subscript {token!r} outside range {dim!r}")
                index.append(pos)
            elif rng == dim:
                index.append(slice(None))
                labels.append(rng)
            else:
                positions = [self._element_index(dim, e) for e in self.ranges[rng]]
                if any(p is None for p in positions):
                    raise self._fail(f"subscript range {rng!r} not inside {dim!r}")
                index.append(_slice_or_list(positions))
                labels.append(rng)
        if sum(isinstance(i, list) for i in index) > 1:
            raise self._fail("several non-contiguous subranges on one left-hand side")
        return tuple(index), tuple(labels)

    def _compile_variable(self, element: Any, spec: VariableSpec) -> None:
        comps = element.components
        whole = (
            len(comps) == 1
            and not comps[0].subscripts[1]
            and self._lhs_index(comps[0].subscripts[0], spec.dims)[1] == tuple(spec.dims)
        )
        if whole:
            self._begin()
            lhs = tuple(spec.dims)
            self._last_state = None
            expr = self._component_expr(comps[0], lhs, spec)
            if type(comps[0].ast).__name__ in _RESTARTABLE and self._last_state is not None:
                # defined by one SMOOTH/DELAY/TREND: a stock, restartable from its value
                spec.kind = "stock"
                spec.stock_state = self._last_state
            code = self._to_full(expr, lhs) if lhs else expr.code
            self.nodes.append(self._node(spec.local, code))
            return
        # element-wise definitions: compute each piece, then assemble the full array
        self._begin()
        pieces: list[str] = []
        sizes = self._sizes(spec.dims)
        for comp in comps:
            index, lhs = self._lhs_index(comp.subscripts[0], spec.dims)
            expr = self._component_expr(comp, lhs, spec)
            aligned = self._align(expr, lhs)
            if comp.subscripts[1]:  # :EXCEPT: the piece is written where the mask is True
                mask = self._except_mask(comp.subscripts[0], comp.subscripts[1], spec.dims)
                pieces.append(f"({_index_code(index)}, {aligned.code}, {mask})")
            else:
                pieces.append(f"({_index_code(index)}, {aligned.code})")
        code = f"_assemble(n, {sizes!r}, [{', '.join(pieces)}])"
        self._deps.add("n")
        self.nodes.append(self._node(spec.local, code))

    def _partly_defined(self, spec: VariableSpec) -> bool:
        """True when the definitions of a subscripted variable leave elements undefined (NaN,
        as in PySD)."""
        return bool(self._undefined_elements(spec))

    def _undefined_elements(self, spec: VariableSpec) -> list[str]:
        """The columns (``name[A,B]``) no definition of the current element covers; a
        definition with :EXCEPT: counts as covering its whole region."""
        if not spec.dims or spec.kind == "control":
            return []
        covered = np.zeros(self._sizes(spec.dims), dtype=bool)
        for comp in self._element.components:
            covered[self._lhs_index(comp.subscripts[0], spec.dims)[0]] = True
        names = [self.ranges[d] for d in spec.dims]
        return [
            f"{spec.vensim_name}[{','.join(n[i] for n, i in zip(names, at, strict=True))}]"
            for at in zip(*np.nonzero(~covered), strict=True)
        ]

    def _positions(self, token: str, dim: str) -> list[int]:
        rng = self._range_of(token)
        names = self.ranges[rng] if rng is not None else [token]
        positions = [self._element_index(dim, e) for e in names]
        if any(p is None for p in positions):
            raise self._fail(f"subscript {token!r} outside range {dim!r}")
        return positions

    def _except_mask(self, subs: list[str], excepts: list[list[str]], dims: list[str]) -> str:
        """Code of a boolean array over a definition's region (its range subscripts): False
        at the combinations of elements an :EXCEPT: list removes."""
        kept = [self._positions(t, d) for t, d in zip(subs, dims, strict=True)]
        ranged = [i for i, t in enumerate(subs) if self._range_of(t) is not None]
        mask = np.ones([len(kept[i]) for i in ranged], dtype=bool)
        for entry in excepts:
            if len(entry) != len(dims):
                raise self._fail(":EXCEPT: lists with another number of subscripts")
            removed = [set(self._positions(t, d)) for t, d in zip(entry, dims, strict=True)]
            if any(not set(k) & r for k, r in zip(kept, removed, strict=True)):
                continue  # removes nothing of this definition
            hit = np.ones(mask.shape, dtype=bool)
            for axis, i in enumerate(ranged):
                along = np.array([p in removed[i] for p in kept[i]])
                shape = [1] * mask.ndim
                shape[axis] = len(along)
                hit &= along.reshape(shape)
            mask &= ~hit
        flat = ", ".join("True" if v else "False" for v in mask.ravel())
        return f"np.array([{flat}]).reshape({(1, *mask.shape)!r})"

    def _component_expr(self, comp: Any, lhs: tuple[str, ...], spec: VariableSpec) -> _Expr:
        self._comp_subs = comp.subscripts[0]
        self._spec = spec
        self._keyword = getattr(comp, "keyword", None)
        ctx = list(lhs) + self._bang_labels(comp.ast)
        self._ctx = ctx
        self._lhs = lhs
        ast = comp.ast
        if type(ast).__name__ == "IntegStructure":
            return self._integ(ast, lhs, spec, single=len(spec.dims) == len(lhs))
        return self._expr(ast, tuple(ctx))

    # ------------------------------------------------------------------ alignment

    def _align(self, expr: _Expr, target: tuple[str, ...]) -> _Expr:
        """Insert length-1 axes so ``expr`` broadcasts against ``target`` labels."""
        if expr.scalar or expr.dims == target:
            return expr
        missing = [d for d in expr.dims if d not in target]
        if missing:
            raise self._fail(f"subscript {missing[0]!r} that is not on the left-hand side")
        index = [":" if d in expr.dims else "None" for d in target]
        low = expr.lowered(-1)
        if not expr.dims:
            # a scalar variable of one run is a number, not an array (see functions.full):
            # `...` stands for its run axis, which it may not have
            return replace(
                low, code=f"np.asarray({low.code})[..., {', '.join(index)}]", dims=target,
                order=0,
            )
        return replace(low, code=f"{low.code}[:, {', '.join(index)}]", dims=target, order=0)

    def _to_full(self, expr: _Expr, lhs: tuple[str, ...]) -> str:
        """Code broadcasting ``expr`` to the full shape ``(R, *sizes(lhs))``."""
        sizes = self._sizes(lhs)
        if not expr.scalar and expr.dims == lhs:
            return expr.code
        aligned = self._align(expr, lhs)
        return f"_bcast({aligned.code}, {sizes!r})"

    def _union(self, exprs: list[_Expr]) -> tuple[str, ...]:
        labels = {d for e in exprs for d in e.dims}
        order = list(self._ctx)
        for d in labels:
            if d not in order:
                raise self._fail(f"subscript {d!r} that is not on the left-hand side")
        return tuple(d for d in order if d in labels)

    def _combine(self, exprs: list[_Expr]) -> tuple[list[_Expr], tuple[str, ...], bool]:
        target = self._union(exprs)
        scalar = all(e.scalar for e in exprs)
        return [self._align(e, target) for e in exprs], target, scalar

    def _bang_labels(self, ast: Any) -> list[str]:
        found: list[str] = []

        def visit(node: Any) -> None:
            name = type(node).__name__
            if name == "ReferenceStructure" and node.subscripts is not None:
                for token in node.subscripts.subscripts:
                    if token.strip().endswith("!"):
                        rng = self._range_of(token.strip()[:-1])
                        label = f"{rng}!"
                        if rng is not None and label not in found:
                            found.append(label)
            if hasattr(node, "__dataclass_fields__"):
                for f in node.__dataclass_fields__:
                    visit(getattr(node, f))
            elif isinstance(node, list | tuple):
                for item in node:
                    visit(item)

        visit(ast)
        return found

    # ------------------------------------------------------------------ expressions

    def _expr(self, ast: Any, ctx: tuple[str, ...]) -> _Expr:
        self._ctx = list(ctx)
        return self._visit(ast)

    def _visit(self, ast: Any) -> _Expr:
        outer_deps, outer_time = self._deps, self._time
        self._deps, self._time = set(), False
        try:
            expr = self._dispatch(ast)
            inner_deps, inner_time = self._deps, self._time
        finally:
            outer_deps.update(self._deps)
            self._deps, self._time = outer_deps, outer_time or self._time
        expr.refs = frozenset(inner_deps)
        expr.time = inner_time
        expr.static = not inner_time and all(d in self._static_locals for d in inner_deps)
        return expr

    def _dispatch(self, ast: Any) -> _Expr:
        if isinstance(ast, bool):
            return _Expr(repr(ast), scalar=True)
        if isinstance(ast, int | float | np.integer | np.floating):
            # written bare like PySD does, so "-2^2" is -(2**2) as in Vensim
            return _Expr(_number(float(ast)), scalar=True)
        name = type(ast).__name__
        method = getattr(self, f"_v_{name}", None)
        if method is None:
            raise self._fail(_construct_name(ast))
        return method(ast)

    def _v_ArithmeticStructure(self, ast: Any) -> _Expr:  # noqa: N802
        return self._operation(list(ast.operators), list(ast.arguments))

    def _v_LogicStructure(self, ast: Any) -> _Expr:  # noqa: N802
        if ast.operators == [":NOT:"]:
            arg = self._visit(ast.arguments[0])
            return _Expr(f"np.logical_not({arg.code})", arg.dims, arg.scalar, 0)
        return self._operation(list(ast.operators), list(ast.arguments))

    def _operation(self, operators: list[str], arguments: list[Any]) -> _Expr:
        args = [self._visit(a) for a in arguments]
        if len(args) == 1:
            if operators[0] != "negative":
                raise self._fail(f"operator {operators[0]}")
            arg = args[0].lowered(3)
            return _Expr(f"-{arg.code}", arg.dims, arg.scalar, 1)
        for op in operators:
            if op not in _BINARY:
                raise self._fail(f"operator {op}")
        aligned, dims, scalar = self._combine(args)
        operators = list(operators)
        if not all(a.static for a in args):
            aligned = [self._hoisted(a) for a in aligned]
            if all(op in "+-*/" for op in operators):
                # a static left end of a left-to-right chain is computed once per run:
                # a*b*x is (a*b)*x in Python too, so this changes no rounding
                lead = 0
                while lead < len(aligned) and aligned[lead].static:
                    lead += 1
                if lead >= 2:
                    head = aligned[:lead]
                    code, order = self._chain(head, operators[: lead - 1])
                    prefix = _Expr(
                        code,
                        self._union(head),
                        all(h.scalar for h in head),
                        order,
                        True,
                        frozenset().union(*(h.refs for h in head)),
                    )
                    if not prefix.scalar:
                        prefix = self._shared(prefix)
                    aligned = [prefix, *aligned[lead:]]
                    operators = operators[lead - 1 :]
        if len(aligned) == 1:
            return aligned[0]
        code, order = self._chain(aligned, operators)
        return _Expr(code, dims, scalar, order)

    def _chain(self, aligned: list[_Expr], operators: list[str]) -> tuple[str, int]:
        """Write ``a op b op c`` as PySD does (right to left, parenthesizing by order)."""
        aligned = list(aligned)
        ops = list(operators)
        last_order = _BINARY[ops[-1]][1]
        if ops[-1] == "^":
            aligned[-1] = aligned[-1].lowered(2)
        else:
            aligned[-1] = aligned[-1].lowered(last_order)
        code = aligned.pop().code
        while aligned:
            template, order = _BINARY[ops.pop()]
            left = aligned.pop().lowered(order)
            code = template.format(l=left.code, r=code)
        return code, last_order

    def _hoisted(self, expr: _Expr) -> _Expr:
        """A static, non-trivial array operand of a dynamic expression gets its own node."""
        if expr.static and not expr.scalar and expr.composite:
            return self._shared(expr)
        return expr

    def _v_ReferenceStructure(self, ast: Any) -> _Expr:  # noqa: N802
        ref = ast.reference
        if ref == "time":
            self._time = True
            return _Expr("time", scalar=True)
        if ref == "pi" and ref not in self.elements:
            return _Expr("np.pi", scalar=True)
        if ref not in self.elements and ref in self._range_values:
            return self._range_value(ref)
        if ref not in self.elements:
            raise ModelParseError(
                self.path,
                line=None,
                detail=f"{self._element.name!r} refers to unknown variable {ref!r}",
            )
        spec = self.variables[ref]
        if spec.kind == "control":
            self._deps.add(spec.local)
            return _Expr(spec.local, scalar=spec.local in self._scalar_controls)
        if spec.kind == "lookup":
            raise self._fail(f"lookup table {spec.vensim_name!r} used as a value")
        self._deps.add(spec.local)
        if not spec.dims:
            return _Expr(spec.local)
        return self._indexed(spec.local, spec, ast.subscripts)

    def _indexed(self, code: str, spec: VariableSpec, subscripts: Any) -> _Expr:
        """``code`` (axis 0 the run, or a lookup table's x) indexed by a reference's
        subscripts, its axes transposed into the order of the left-hand side."""
        subs = subscripts.subscripts if subscripts is not None else None
        if subs is None:
            subs = list(spec.dims)
        if len(subs) != len(spec.dims):
            raise self._fail(f"reference to {spec.vensim_name!r} with wrong number of subscripts")
        basic: list[str] = []
        lists: list[tuple[int, list[int]]] = []
        labels: list[str] = []
        for token, dim in zip(subs, spec.dims, strict=True):
            token = token.strip()
            bang = token.endswith("!")
            rng = self._range_of(token[:-1] if bang else token)
            if rng is None:
                pos = self._element_index(dim, token)
                if pos is None:
                    raise self._fail(f"subscript {token!r} outside range {dim!r}")
                basic.append(str(pos))
                continue
            label = f"{rng}!" if bang else rng
            axis = len(labels) + 1
            labels.append(label)
            if rng == dim:
                basic.append(":")
                continue
            positions = [self._element_index(dim, e) for e in self.ranges[rng]]
            if any(p is None for p in positions):
                raise self._fail(f"subscript mapping from {rng!r} to {dim!r}")
            sel = _slice_or_list(positions)
            if isinstance(sel, slice):
                basic.append(f"{sel.start}:{sel.stop}")
            else:
                basic.append(":")
                lists.append((axis, sel))
        if any(b != ":" for b in basic):
            code = f"{code}[:, {', '.join(basic)}]"
        for axis, positions in lists:
            code = f"{code}[{', '.join([':'] * axis + [repr(positions)])}]"
        labels = [self._mapped(lab, labels) for lab in labels]
        order = [lab for lab in self._ctx if lab in labels]
        extra = [lab for lab in labels if lab not in self._ctx]
        if extra:
            raise self._fail(
                f"subscript {extra[0]!r} in a reference to {spec.vensim_name!r} that is not on "
                "the left-hand side (subscript mapping)"
            )
        if order != labels:
            perm = (0, *(labels.index(lab) + 1 for lab in order))
            code = f"{code}.transpose({perm!r})"
        return _Expr(code, tuple(order), False, 0)

    def _mapped(self, label: str, labels: list[str]) -> str:
        """The left-hand side range that ``label`` maps to (``DimC: c1, c2 -> DimB``).

        A mapping relabels an axis element by element (as PySD does); a label on the left-hand
        side, or one without a mapping there, stays."""
        if label in self._ctx or label.endswith("!"):
            return label
        for target in self.mapping.get(label, []):
            if (
                target in self._ctx
                and target not in labels
                and len(self.ranges[target]) == len(self.ranges[label])
            ):
                return target
        return label

    def _range_value(self, ref: str) -> _Expr:
        """A subscript range or element used as a number: its 1-based position (PySD)."""
        value, rng = self._range_values[ref]
        if rng is None:
            return _Expr(_number(float(value)), scalar=True)
        row = ", ".join(_number(float(v)) for v in value)
        return _Expr(f"np.array([[{row}]])", (rng,), False, 0)

    def _v_CallStructure(self, ast: Any) -> _Expr:  # noqa: N802
        func = ast.function.reference
        if func in self.elements and self.variables[func].kind == "lookup":
            if len(ast.arguments) != 1:
                raise self._fail(f"lookup {func!r} called with {len(ast.arguments)} arguments")
            arg = self._visit(ast.arguments[0])
            spec = self.variables[func]
            local = spec.local
            if spec.dims:  # one table per element: interpolate each element in its own
                table = self._indexed(f"{local}_y", spec, ast.function.subscripts)
                (x, y), dims, _ = self._combine([arg, table])
                return _Expr(f"_lookup_nd({x.code}, {local}_x, {y.code})", dims, False, 0)
            return _Expr(
                f"np.interp({arg.code}, {local}_x, {local}_y)", arg.dims, arg.scalar, 0
            )
        args = [self._visit(a) for a in ast.arguments]
        if func == "elmcount" and len(args) == 1:
            if not args[0].dims:
                raise self._fail("ELMCOUNT of something other than a subscript range")
            return _Expr(_number(float(self._sizes(args[0].dims)[0])), scalar=True)
        if func == "active_initial" and len(args) == 2:
            # the initial value while the run is set up, the expression afterwards (_init is
            # True inside the set-up of generated code only); never a static node
            (expr, init), dims, scalar = self._combine(args)
            self._active_only |= set(args[0].refs) - set(args[1].refs)
            self._time = True
            return _Expr(f"({init.code} if _init else {expr.code})", dims, scalar, 0)
        if func == "invert_matrix" and len(args) in (1, 2):
            arg = args[0]  # the second argument is the matrix's size
            if len(arg.dims) < 2 or self._sizes(arg.dims[-1:]) != self._sizes(arg.dims[-2:-1]):
                raise self._fail("INVERT MATRIX of something other than square matrices")
            # the last two axes are the matrix's; numpy inverts each run's matrix as PySD does
            return _Expr(f"np.linalg.inv({arg.code})", arg.dims, False, 0)
        if func in _UNARY_NUMPY and len(args) == 1:
            a = self._hoisted(args[0]) if not args[0].static else args[0]
            result = _Expr(
                f"{_UNARY_NUMPY[func]}({a.code})", a.dims, a.scalar, 0, a.static, a.refs, a.time
            )
            if not a.scalar and not a.static:
                return self._shared(result)
            return result
        if func == "pi" and not args:
            return _Expr("np.pi", scalar=True)
        if func == "get_time_value" and len(args) == 3:
            return self._time_value(*args)
        if func in _AGGREGATES and len(args) == 1:
            return self._aggregate(func, args[0])
        if func in _VECTOR_FUNCTIONS:
            return self._vector_call(func, args, list(ast.arguments))
        handler = _CALLS.get(func)
        if handler is None or len(args) not in handler[1]:
            raise self._fail(f"the function {func.upper()}")
        template, _counts, time = handler
        if func == "if_then_else" and all(a.scalar for a in args):
            c, a, b = args
            return _Expr(f"({a.code} if {c.code} else {b.code})", (), True, 0)
        aligned, dims, scalar = self._combine(args)
        if not all(a.static for a in args) or time:
            aligned = [self._hoisted(a) for a in aligned]
        refs = frozenset().union(*(a.refs for a in aligned))
        if time:
            self._time = True
            self._deps.add("time_step")
            refs |= {"time_step"}
        code = template.format(*[a.code for a in aligned])
        result = _Expr(code, dims, scalar, 0, False, refs, time or any(a.time for a in aligned))
        result.static = not result.time and all(r in self._static_locals for r in refs)
        if not scalar and not result.static:
            # the same call in several equations (EXP(x), ZIDZ(a, b)) is computed once a step
            return self._shared(result)
        return result

    def _time_value(self, relative: _Expr, offset: _Expr, measure: _Expr) -> _Expr:
        """GET TIME VALUE(0, offset, 0): the model's time plus ``offset`` (PySD's
        ``get_time_value``; relative to the initial time or the computer's clock, and calendar
        measures, are refused)."""
        if relative.code != "0.0" or measure.code != "0.0":
            raise self._fail("GET TIME VALUE other than the model's time (relativeto 0, "
                             "measure 0)")
        self._time = True
        off = offset.lowered(3)
        return _Expr(f"time + {off.code}", off.dims, off.scalar, 3, False, off.refs, True)

    def _aggregate(self, func: str, arg: _Expr) -> _Expr:
        axes = tuple(i + 1 for i, d in enumerate(arg.dims) if d.endswith("!"))
        if not axes:
            return arg
        dims = tuple(d for d in arg.dims if not d.endswith("!"))
        return _Expr(f"{_AGGREGATES[func]}({arg.code}, axis={axes!r})", dims, False, 0)

    def _vector_call(self, func: str, args: list[_Expr], asts: list[Any]) -> _Expr:
        """VECTOR SELECT, SORT ORDER, RANK and REORDER (``sdnet.engine.vectors``), with the
        arguments lined up on the left-hand side's subscripts. VECTOR SELECT reduces the
        subscripts marked ``!``; the others work along the last subscript of their (order)
        argument as it is written, as PySD's do."""
        label = func.upper().replace("_", " ")
        count = 5 if func == "vector_select" else 2
        if len(args) != count:
            raise self._fail(f"{label} with {len(args)} arguments (it takes {count})")
        if func == "vector_select":
            arrays, scalars = args[:2], args[2:]
            what = ("missing value", "numerical action", "error action")
        elif func == "vector_reorder":
            arrays, scalars, what = args, [], ()
        else:
            arrays, scalars, what = args[:1], args[1:], ("direction",)
        for arg, name in zip(scalars, what, strict=True):
            if arg.dims:
                raise self._fail(f"{label} with a subscripted {name}")
        if any(not a.dims for a in arrays):
            raise self._fail(f"{label} of a value without subscripts")
        aligned, dims, _ = self._combine(arrays)
        if not all(a.static for a in args):  # static operands computed once per run
            aligned = [self._hoisted(a) for a in aligned]
            scalars = [self._hoisted(a) for a in scalars]
        if func == "vector_select":
            axes = tuple(i + 1 for i, d in enumerate(dims) if d.endswith("!"))
            if not axes:
                raise self._fail("VECTOR SELECT without a subscript marked !")
            out_dims = tuple(d for d in dims if not d.endswith("!"))
            code = (f"_vector_select({aligned[0].code}, {aligned[1].code}, {axes!r}, "
                    f"{', '.join(a.code for a in scalars)})")
        elif func == "vector_reorder":
            if arrays[0].dims != arrays[1].dims:
                raise self._fail("VECTOR REORDER of a vector and an order with different "
                                 "subscripts")
            out_dims = dims
            axis = self._vector_axis(asts[1], arrays[1], dims, label)
            code = f"_vector_reorder({aligned[0].code}, {aligned[1].code}, {axis})"
        else:
            if any(d.endswith("!") for d in dims):
                raise self._fail(f"{label} over a subscript marked !")
            out_dims = dims
            axis = self._vector_axis(asts[0], arrays[0], dims, label)
            code = f"_{func}({aligned[0].code}, {scalars[0].code}, {axis})"
        parts = [*aligned, *scalars]
        refs = frozenset().union(*(a.refs for a in parts))
        uses_time = any(a.time for a in parts)
        result = _Expr(code, out_dims, False, 0, False, refs, uses_time)
        result.static = not uses_time and all(r in self._static_locals for r in refs)
        return result if result.static else self._shared(result)

    def _vector_axis(self, ast: Any, expr: _Expr, dims: tuple[str, ...], label: str) -> int:
        """The array axis of the last subscript of a vector argument *as written* (PySD sorts
        the argument's last axis before lining the result up on the left-hand side): known
        for a variable's reference, and for a value with one subscript."""
        if len(expr.dims) == 1:
            return dims.index(expr.dims[0]) + 1
        if type(ast).__name__ != "ReferenceStructure" or ast.reference not in self.variables:
            raise self._fail(f"{label} of an expression with several subscripts (only of a "
                             "variable)")
        spec = self.variables[ast.reference]
        tokens = ast.subscripts.subscripts if ast.subscripts is not None else spec.dims
        written = []
        for token in tokens:
            bang = token.strip().endswith("!")
            rng = self._range_of(token.strip().rstrip("!"))
            if rng is not None:
                written.append(f"{rng}!" if bang else rng)
        last = self._mapped(written[-1], written)
        return dims.index(last) + 1

    def _v_InlineLookupsStructure(self, ast: Any) -> _Expr:  # noqa: N802
        table = ast.lookups
        if table.type != "interpolate":
            raise self._fail("lookups other than interpolated tables")
        arg = self._visit(ast.argument)
        xs = "[" + ", ".join(_number(float(x)) for x in table.x) + "]"
        ys = "[" + ", ".join(_number(float(y)) for y in table.y) + "]"
        return _Expr(f"np.interp({arg.code}, {xs}, {ys})", arg.dims, arg.scalar, 0)

    def _v_ndarray(self, ast: Any) -> _Expr:
        """An array literal inside an expression: the definition's shape, as PySD's
        ArrayBuilder reshapes it (single-element subscripts are dropped here)."""
        labels = tuple(self._lhs)
        sizes = self._sizes(labels)
        values = np.asarray(ast, dtype=np.float64)
        if values.size != int(np.prod(sizes)):
            raise self._fail("array literals of another shape than their definition")
        flat = ", ".join(_number(float(v)) for v in values.ravel())
        return _Expr(f"np.array([{flat}]).reshape({(1, *sizes)!r})", labels, False, 0)

    # ------------------------------------------------------------------ stateful

    def _hoist(self, ast: Any, dims: tuple[str, ...]) -> _Expr:
        """Compile ``ast`` into its own temp node (so a stateful object can reuse it)."""
        outer_deps, outer_time = self._deps, self._time
        self._deps, self._time = set(), False
        expr = self._visit(ast)
        aligned = self._align(expr, dims) if not expr.scalar else expr
        target = self._fresh("a")
        self.nodes.append(self._node(target, aligned.code))
        if expr.static:
            self._static_locals.add(target)
        self._deps, self._time = outer_deps, outer_time
        self._deps.add(target)
        return _Expr(target, aligned.dims, aligned.scalar, 0, expr.static, frozenset({target}))

    def _state_dims(self) -> tuple[str, ...]:
        return tuple(self._lhs)

    def _integ(
        self, ast: Any, lhs: tuple[str, ...], spec: VariableSpec, *, single: bool
    ) -> _Expr:
        outer = self._deps, self._time
        self._deps, self._time = set(), False
        flow = self._visit(ast.flow)
        flow = self._align(flow, lhs) if not flow.scalar else flow
        deriv_deps, deriv_time = self._deps, self._time
        self._deps, self._time = set(), False
        init = self._visit(ast.initial)
        init = self._align(init, lhs) if not init.scalar else init
        name = self._fresh("z")
        sizes = self._sizes(lhs)
        self._deps.add("n")
        init_node = self._node(name, f"_full({init.code}, n, {sizes!r})")
        self._deps, self._time = deriv_deps, deriv_time
        deriv_node = self._node("d_" + name, flow.code)
        self.states.append(
            StateSpec(
                name,
                # a non-negative stock (XMILE) is clamped at 0 after each step, as PySD does
                "integ_non_negative" if ast.non_negative else "integ",
                spec.vensim_name,
                list(lhs),
                init_node,
                deriv_node,
                "{value}",
            )
        )
        if single:
            spec.stock_state = name
        self._deps, self._time = outer
        self._deps.add(name)
        return _Expr(name, lhs, False, 0)

    def _stateful(
        self,
        kind: str,
        *,
        init_code: str,
        deriv_code: str,
        out_code: str,
        arg_deps: set[str],
        init_deps: set[str],
        uses_time: bool = False,
        restart: str | None = None,
    ) -> _Expr:
        name = self._fresh("z")
        dims = self._state_dims()
        init_node = Node(name, init_code.format(z=name), sorted(init_deps | {"n"}), False)
        deriv_node = Node("d_" + name, deriv_code.format(z=name), sorted(arg_deps), uses_time)
        self.states.append(
            StateSpec(name, kind, self._element.name, list(dims), init_node, deriv_node, restart)
        )
        self._last_state = name
        out = self._fresh("o")
        code = out_code.format(z=name)
        # the output reads the state and what its code names (a SMOOTH's output is its last
        # stage only, so a loop through its input is no loop, as in PySD)
        read = set(re.findall(r"[A-Za-z_]\w*", code)) & (arg_deps | {name})
        self.nodes.append(Node(out, code, sorted(read), False))
        self._deps.add(out)
        return _Expr(out, dims, False, 0)

    def _order_of(self, order: Any) -> tuple[str, set[str]]:
        if isinstance(order, int | float | np.integer | np.floating):
            return repr(int(order)), set()
        expr = self._hoist(order, ())
        return f"_order({expr.code})", {expr.code}

    def _v_SmoothStructure(self, ast: Any) -> _Expr:  # noqa: N802
        return self._smooth(ast)

    def _v_SmoothNStructure(self, ast: Any) -> _Expr:  # noqa: N802
        return self._smooth(ast)

    def _smooth(self, ast: Any) -> _Expr:
        dims = self._state_dims()
        inp = self._hoist(ast.input, dims)
        stime = self._hoist(ast.smooth_time, dims)
        init = self._hoist(ast.initial, dims)
        order, order_deps = self._order_of(ast.order)
        sizes = self._sizes(dims)
        self._deps -= {init.code, *order_deps}
        return self._stateful(
            "smooth",
            init_code=f"_delay_stack({init.code}, {order}, n, {sizes!r})",
            deriv_code=f"_smooth_ddt({{z}}, {inp.code}, {stime.code}, {{z}}.shape[0])",
            out_code="{z}[-1]",
            arg_deps={inp.code, stime.code},
            init_deps={init.code, *order_deps},
            # every stage at the value: exact for order 1, steady state above (as PySD)
            restart=f"_delay_stack({{value}}, {order}, n, {sizes!r})",
        )

    def _v_DelayStructure(self, ast: Any) -> _Expr:  # noqa: N802
        return self._delay(ast)

    def _v_DelayNStructure(self, ast: Any) -> _Expr:  # noqa: N802
        return self._delay(ast, n_form=True)

    def _delay(self, ast: Any, *, n_form: bool = False) -> _Expr:
        dims = self._state_dims()
        inp = self._hoist(ast.input, dims)
        dtime = self._hoist(ast.delay_time, dims)
        init = self._hoist(ast.initial, dims)
        order, order_deps = self._order_of(ast.order)
        sizes = self._sizes(dims)
        self._deps -= {init.code, *order_deps}
        if n_form and not dtime.static:
            return self._delay_n(inp, dtime, init, order, order_deps, dims)
        return self._stateful(
            "delay",
            init_code=(
                f"_delay_stack_checked({init.code} * {dtime.code}, {order}, n, {sizes!r}, "
                f"{dtime.code}, time_step)"
            ),
            deriv_code=f"_delay_ddt({{z}}, {inp.code}, {dtime.code}, {{z}}.shape[0])",
            out_code=f"{{z}}[-1] / {dtime.code}",
            arg_deps={inp.code, dtime.code},
            init_deps={init.code, dtime.code, "time_step", *order_deps},
            restart=(
                f"_delay_stack_checked({{value}} * {dtime.code}, {order}, n, {sizes!r}, "
                f"{dtime.code}, time_step)"
            ),
        )

    def _delay_n(
        self,
        inp: _Expr,
        dtime: _Expr,
        init: _Expr,
        order: str,
        order_deps: set[str],
        dims: tuple[str, ...],
    ) -> _Expr:
        """DELAY N with a changing delay time, as PySD's ``DelayN``.

        Each stage divides by the delay time of the step at which its content entered
        (``times``, shifted by one stage at every derivative evaluation), and the output uses
        the delay time of the previous step. The ``times`` stack is kept in a "memory" state
        that the derivative updates in place, once per Euler step (so RK4 is refused).
        """
        sizes = self._sizes(dims)
        name = self._fresh("z")
        memory = self._fresh("w")
        self.states.append(
            StateSpec(
                name,
                "delay",
                self._element.name,
                list(dims),
                Node(
                    name,
                    f"_delay_stack_checked({init.code} * {dtime.code}, {order}, n, {sizes!r}, "
                    f"{dtime.code}, time_step)",
                    sorted({init.code, dtime.code, "time_step", "n", *order_deps}),
                ),
                Node(
                    "d_" + name,
                    f"_delay_n_ddt({name}, {memory}, {inp.code}, {dtime.code}, {name}.shape[0])",
                    # after the output node: the output reads the times before this update
                    sorted({name, memory, inp.code, dtime.code, f"o_{name}"}),
                ),
                f"_delay_stack_checked({{value}} * {dtime.code}, {order}, n, {sizes!r}, "
                f"{dtime.code}, time_step)",
            )
        )
        self._last_state = name
        self.states.append(
            StateSpec(
                memory,
                "memory",
                self._element.name,
                list(dims),
                Node(
                    memory,
                    # lowered like the stages (the same delay time and time step)
                    f"_delay_stack_checked({dtime.code}, {order}, n, {sizes!r}, "
                    f"{dtime.code}, time_step)",
                    sorted({dtime.code, "n", "time_step", *order_deps}),
                ),
                None,
            )
        )
        self._static_locals.add(memory)
        out = f"o_{name}"
        self.nodes.append(Node(out, f"{name}[-1] / {memory}[0]", [memory, name], False))
        self._deps.add(out)
        return _Expr(out, dims, False, 0)

    def _allocation_dim(self, request: Any, expr: _Expr, what: str) -> str:
        """The range an allocation shares along: the request's last subscript (PySD's
        builder keeps it last)."""
        label = None
        if type(request).__name__ == "ReferenceStructure" and request.reference in self.variables:
            spec = self.variables[request.reference]
            subs = request.subscripts.subscripts if request.subscripts is not None else spec.dims
            # the last subscript that is a range (single elements drop out, as in PySD)
            ranges = [self._range_of(t.strip().rstrip("!")) for t in subs]
            label = next((r for r in reversed(ranges) if r is not None), None)
            if label is not None and label not in expr.dims:
                label = self._mapped(label, [label])
        elif len(expr.dims) == 1:
            label = expr.dims[0]
        if label is None or label not in expr.dims:
            raise self._fail(f"{what} whose request is not subscripted by a range")
        return label

    def _allocation_args(
        self, request: _Expr, others: list[_Expr], per_element: list[_Expr], alloc: str,
        what: str,
    ) -> tuple[list[_Expr], tuple[str, ...], int]:
        """Align an allocation's arguments on the union of their ranges: the request and
        ``per_element`` arguments along the shared range, ``others`` (the width, the supply)
        with length 1 there; returns them, the labels and the shared range's axis."""
        for other in others:
            if alloc in other.dims:
                raise self._fail(f"{what} whose supply or width is subscripted by the range "
                                 f"it shares along ({alloc!r})")
        target = self._union([request, *others, *per_element])
        aligned = [self._align(e, target) for e in (request, *per_element, *others)]
        return aligned, target, 1 + target.index(alloc)

    def _v_AllocateByPriorityStructure(self, ast: Any) -> _Expr:  # noqa: N802
        """ALLOCATE BY PRIORITY(request, priority, size, width, supply), as PySD's
        ``allocate_by_priority`` (sdnet.engine.allocation; the size is not needed)."""
        what = "ALLOCATE BY PRIORITY"
        request = self._visit(ast.request)
        alloc = self._allocation_dim(ast.request, request, what)
        priority, width, supply = (self._visit(a) for a in (ast.priority, ast.width, ast.supply))
        (req, pri, wid, sup), target, axis = self._allocation_args(
            request, [width, supply], [priority], alloc, what
        )
        name = repr(self._element.name)
        code = f"_alloc_priority({req.code}, {pri.code}, {wid.code}, {sup.code}, {axis}, {name})"
        return _Expr(code, target, False, 0)

    def _v_AllocateAvailableStructure(self, ast: Any) -> _Expr:  # noqa: N802
        """ALLOCATE AVAILABLE(request, priority profile, available), as PySD's
        ``allocate_available`` (sdnet.engine.allocation). The profile's last subscript (one
        of ptype, ppriority, pwidth, pextra) stands for its whole range, as in PySD."""
        what = "ALLOCATE AVAILABLE"
        request = self._visit(ast.request)
        alloc = self._allocation_dim(ast.request, request, what)
        pp = ast.pp
        if type(pp).__name__ != "ReferenceStructure" or pp.reference not in self.variables:
            raise self._fail(f"{what} whose priority profile is not a variable")
        spec = self.variables[pp.reference]
        if not spec.dims or pp.subscripts is None:
            raise self._fail(f"{what} whose priority profile is not subscripted")
        profile_dim = spec.dims[-1]
        if len(self.ranges[profile_dim]) != 4:
            raise self._fail(f"{what} whose profile range {profile_dim!r} does not have the 4 "
                             "elements ptype, ppriority, pwidth, pextra")
        if profile_dim in self._ctx:
            raise self._fail(f"{what} whose profile range {profile_dim!r} is on the "
                             "left-hand side")
        subs = [*pp.subscripts.subscripts[:-1], profile_dim]
        whole = replace(pp, subscripts=replace(pp.subscripts, subscripts=subs))
        ctx = list(self._ctx)
        self._ctx = [*ctx, profile_dim]
        try:
            profile = self._visit(whole)
        finally:
            self._ctx = ctx
        avail = self._visit(ast.avail)
        rows = replace(profile, dims=tuple(d for d in profile.dims if d != profile_dim))
        (req, _, av), target, axis = self._allocation_args(request, [avail], [rows], alloc, what)
        self._ctx = [*ctx, profile_dim]
        try:
            pp_code = self._align(profile, (*target, profile_dim)).code
        finally:
            self._ctx = ctx
        code = f"_alloc_available({req.code}, {pp_code}, {av.code}, {axis})"
        return _Expr(code, target, False, 0)

    def _v_GameStructure(self, ast: Any) -> _Expr:  # noqa: N802
        # GAME(x) is x outside Vensim's gaming mode (PySD does the same)
        return self._visit(ast.expression)

    def _v_SampleIfTrueStructure(self, ast: Any) -> _Expr:  # noqa: N802
        """SAMPLE IF TRUE(condition, input, initial): the input where the condition holds, else
        the value kept from the last step at which it held (PySD's SampleIfTrue). The state's
        "derivative" is its next value: the integrator replaces it (kind ``sample``)."""
        dims = self._state_dims()
        cond = self._hoist(ast.condition, dims)
        inp = self._hoist(ast.input, dims)
        init = self._hoist(ast.initial, dims)
        sizes = self._sizes(dims)
        self._deps -= {init.code}
        return self._stateful(
            "sample",
            init_code=f"_full({init.code}, n, {sizes!r})",
            deriv_code=f"_full(np.where({cond.code}, {inp.code}, {{z}}), n, {sizes!r})",
            out_code=f"np.where({cond.code}, {inp.code}, {{z}})",
            arg_deps={cond.code, inp.code, "n"},
            init_deps={init.code},
        )

    def _v_DelayFixedStructure(self, ast: Any) -> _Expr:  # noqa: N802
        """DELAY FIXED(input, delay time, initial): the input of ``order`` steps ago, with
        ``order = round(delay time / TIME STEP)`` fixed at the start (PySD's ring buffer).
        The pipe is a state the integrator replaces with its next value (kind ``sample``);
        the order is fixed once, like INITIAL."""
        dims = self._state_dims()
        inp = self._hoist(ast.input, dims)
        dtime = self._hoist(ast.delay_time, dims)
        init = self._hoist(ast.initial, dims)
        sizes = self._sizes(dims)
        self._deps -= {init.code, dtime.code}
        order = self._fresh("z")
        self.states.append(StateSpec(
            order, "initial", self._element.name, list(dims),
            Node(order, f"_fixed_order({dtime.code}, time_step, n, {sizes!r})",
                 sorted({dtime.code, "time_step", "n"}), False), None))
        self._static_locals.add(order)
        return self._stateful(
            "sample",
            init_code=f"_fixed_init({init.code}, {order}, n, {sizes!r})",
            deriv_code=f"_fixed_next({{z}}, {inp.code})",
            out_code=f"_fixed_out({{z}}, {order})",
            arg_deps={inp.code, order},
            init_deps={init.code, order},
        )

    def _v_ForecastStructure(self, ast: Any) -> _Expr:  # noqa: N802
        """FORECAST(input, average time, horizon, initial trend), as PySD's ``Forecast``."""
        dims = self._state_dims()
        inp = self._hoist(ast.input, dims)
        avg = self._hoist(ast.average_time, dims)
        horizon = self._hoist(ast.horizon, dims)
        init = self._hoist(ast.initial_trend, dims)
        sizes = self._sizes(dims)
        self._deps -= {init.code}
        return self._stateful(
            "trend",
            init_code=f"_full({inp.code} / (1 + {init.code}), n, {sizes!r})",
            deriv_code=f"({inp.code} - {{z}}) / {avg.code}",
            out_code=(f"{inp.code} * (1 + _zidz({inp.code} - {{z}}, {avg.code} * {{z}})"
                      f"*{horizon.code})"),
            arg_deps={inp.code, avg.code, horizon.code},
            init_deps={inp.code, init.code},
        )

    def _v_TrendStructure(self, ast: Any) -> _Expr:  # noqa: N802
        dims = self._state_dims()
        inp = self._hoist(ast.input, dims)
        avg = self._hoist(ast.average_time, dims)
        init = self._hoist(ast.initial_trend, dims)
        sizes = self._sizes(dims)
        self._deps -= {init.code}
        return self._stateful(
            "trend",
            init_code=f"_full({inp.code} / (1 + {init.code}*{avg.code}), n, {sizes!r})",
            deriv_code=f"({inp.code} - {{z}}) / {avg.code}",
            out_code=f"_zidz({inp.code} - {{z}}, {avg.code} * np.abs({{z}}))",
            arg_deps={inp.code, avg.code},
            init_deps={inp.code, avg.code, init.code},
            # the trend's value is its initial trend (exact, as PySD)
            restart=f"_full({inp.code} / (1 + {{value}}*{avg.code}), n, {sizes!r})",
        )

    def _v_InitialStructure(self, ast: Any) -> _Expr:  # noqa: N802
        dims = self._state_dims()
        init = self._hoist(ast.initial, dims)
        sizes = self._sizes(dims)
        self._deps -= {init.code}
        name = self._fresh("z")
        init_node = Node(name, f"_full({init.code}, n, {sizes!r})", [init.code, "n"], False)
        self.states.append(StateSpec(name, "initial", self._element.name, list(dims),
                                     init_node, None))
        self._static_locals.add(name)
        self._deps.add(name)
        return _Expr(name, dims, False, 0)


_CALLS: dict[str, tuple[str, tuple[int, ...], bool]] = {
    "min": ("np.minimum({0}, {1})", (2,), False),
    "max": ("np.maximum({0}, {1})", (2,), False),
    "power": ("np.power({0}, {1})", (2,), False),
    "log": ("(np.log({0})/np.log({1}))", (2,), False),
    "if_then_else": ("np.where({0}, {1}, {2})", (3,), False),
    "xidz": ("_xidz({0}, {1}, {2})", (3,), False),
    "zidz": ("_zidz({0}, {1})", (2,), False),
    "modulo": ("_modulo({0}, {1})", (2,), False),
    "quantum": ("_quantum({0}, {1})", (2,), False),
    "step": ("_step(time, time_step, {0}, {1})", (2,), True),
    "ramp": ("_ramp(time, {0}, {1}, {2})", (3,), True),
    "pulse": ("_pulse(time, {0}, {1})", (2,), True),
    "pulse_train": ("_pulse_train(time, {0}, {1}, {2}, {3})", (4,), True),
}


def _scan(ast: Any, refs: set[str], dynamic: list[bool]) -> None:
    """Collect the variables an equation reads; flag it dynamic if it reads time or state."""
    name = type(ast).__name__
    if name == "InitialStructure":
        return  # fixed once the run starts
    if name in _STATEFUL or name in ("GetDataStructure", "DataStructure"):
        dynamic[0] = True
        return
    if name == "ReferenceStructure":
        if ast.reference == "time":
            dynamic[0] = True
        refs.add(ast.reference)
        return
    if name == "CallStructure":
        if ast.function.reference in _TIME_FUNCTIONS:
            dynamic[0] = True
        refs.add(ast.function.reference)
        for arg in ast.arguments:
            _scan(arg, refs, dynamic)
        return
    if hasattr(ast, "__dataclass_fields__"):
        for f in ast.__dataclass_fields__:
            _scan(getattr(ast, f), refs, dynamic)
    elif isinstance(ast, list | tuple):
        for item in ast:
            _scan(item, refs, dynamic)


def _raw_data(element: Any) -> bool:
    """True for a data variable read ``:RAW:`` (from a data file or GET DATA): PySD gives
    NaN between the file's times, by definition, as Vensim gives :NA:."""
    return any(str(getattr(comp, "keyword", None) or "").lower() == "raw"
               for comp in element.components)


def _holds_na(element: Any) -> bool:
    """True when an equation of ``element`` holds Vensim's ``:NA:`` (NaN in PySD's syntax
    tree, as in PySD's Python model)."""

    def walk(ast: Any) -> bool:
        if isinstance(ast, float | np.floating):
            return bool(np.isnan(ast))
        if isinstance(ast, np.ndarray):
            return bool(ast.dtype.kind == "f" and np.isnan(ast).any())
        if hasattr(ast, "__dataclass_fields__"):  # a lookup's unset limits are NaN too
            return any(walk(getattr(ast, f)) for f in ast.__dataclass_fields__
                       if f not in ("x_limits", "y_limits"))
        if isinstance(ast, list | tuple):
            return any(walk(item) for item in ast)
        return False

    return any(walk(comp.ast) for comp in element.components)


def _number(value: float) -> str:
    """Python source for a float literal (``repr`` round-trips; inf and nan need numpy)."""
    if np.isnan(value):
        return "np.nan"
    if np.isinf(value):
        return "np.inf" if value > 0 else "(-np.inf)"
    return repr(value)


def _is_literal(ast: Any) -> bool:
    return isinstance(ast, int | float | np.integer | np.floating | np.ndarray) and not isinstance(
        ast, bool
    )


def _opt_float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if np.isnan(number) else number


def _slice_or_list(positions: list[Any]) -> slice | list[int]:
    ints = [int(p) for p in positions]
    if ints == list(range(ints[0], ints[0] + len(ints))):
        return slice(ints[0], ints[0] + len(ints))
    return ints


def _index_code(index: tuple[Any, ...]) -> str:
    parts = ["slice(None)"]
    for i in index:
        if isinstance(i, slice):
            parts.append(f"slice({i.start}, {i.stop})")
        else:
            parts.append(repr(i))
    return f"({', '.join(parts)},)"


def _construct_name(ast: Any) -> str:
    name = type(ast).__name__
    labels = {
        "DelayFixedStructure": "DELAY FIXED",
        "ForecastStructure": "FORECAST",
        "SampleIfTrueStructure": "SAMPLE IF TRUE",
        "GameStructure": "GAME",
        "AllocateAvailableStructure": "ALLOCATE AVAILABLE",
        "AllocateByPriorityStructure": "ALLOCATE BY PRIORITY",
        "DataStructure": "data variables",
        "GetLookupsStructure": "GET LOOKUPS",
        "GetDataStructure": "GET DATA",
        "GetConstantsStructure": "GET CONSTANTS",
        "LookupsStructure": "lookup tables inside expressions",
    }
    return labels.get(name, name.replace("Structure", ""))


def _read_ranges(
    section: Any, path: Path
) -> tuple[dict[str, list[str]], dict[str, list[str]], dict[str, tuple[Any, str | None]]]:
    """Subscript ranges, their mappings, and the values of ranges used as numbers.

    PySD's own subscript manager resolves copied ranges (``B <-> A``), ranges defined from
    subranges, and ranges read from spreadsheets (GET XLS/DIRECT SUBSCRIPT, relative to the
    model's folder). A range or element used as a value is its 1-based position in its main
    range, as in PySD: ``(position, None)`` for an element, ``(positions, range)`` for a range.
    """
    from pysd.builders.python.subscripts import SubscriptManager

    try:
        manager = SubscriptManager(list(section.subscripts), path.parent)
    except (ValueError, OSError, KeyError, IndexError) as err:
        raise ModelParseError(
            path, line=None, detail=f"cannot read its subscript ranges: {err}"
        ) from err
    ranges = {name: [str(e) for e in subs] for name, subs in manager.subscripts.items()}
    mapping: dict[str, list[str]] = {}
    for name, targets in manager.mapping.items():
        if any(not isinstance(t, str) for t in targets):
            raise UnsupportedConstructError(
                "subscript mappings of single elements", variable=name, path=path
            )
        mapping[name] = [t for t in targets if t in ranges]
    values: dict[str, tuple[Any, str | None]] = {}
    for main, subranges in manager.subranges.items():
        elements = ranges[main]
        values[main.replace(" ", "_").lower()] = (list(range(1, len(elements) + 1)), main)
        for i, element in enumerate(elements, start=1):
            values.setdefault(element.replace(" ", "_").lower(), (i, None))
        for sub in subranges:
            positions = [elements.index(e) + 1 for e in ranges[sub]]
            values[sub.replace(" ", "_").lower()] = (positions, sub)
    return ranges, mapping, values


def build_ir(path: Path) -> ModelIR:
    """Parse ``path`` with PySD's Vensim or XMILE translator (by its suffix: ``.xmile``,
    ``.stmx``, ``.xml`` are XMILE) and compile it to a :class:`ModelIR`.

    Raises
    ------
    ModelParseError
        If PySD cannot parse the file.
    UnsupportedConstructError
        If the model uses a construct the engine does not vectorize.
    """
    try:
        abstract_model = read_abstract_model(path)  # Vensim or XMILE, after the size limits
    except SdnetError:
        raise
    except Exception as err:  # any failure of PySD's parser: it cannot read the file
        first = (str(err).splitlines() or [type(err).__name__])[0]
        raise ModelParseError(path, line=None, detail=f"PySD cannot parse it: {first}") from err
    return _Compiler(abstract_model, path).build()
