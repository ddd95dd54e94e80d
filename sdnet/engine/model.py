"""Compiled models: run thousands of parameter sets of one Vensim model at once.

:func:`compile_model` turns a model file into a :class:`CompiledModel` (through
:mod:`sdnet.engine.compiler`, cached by the file's SHA-256). :meth:`CompiledModel.simulate`
integrates every run together: each equation is one numpy operation over all runs, so the
per-step Python overhead is paid once for the whole ensemble rather than once per run.

Time stepping follows PySD 3.14 exactly (``pysd.py_backend.model.Model._integrate``): time
advances by repeated addition of the time step, a step is taken while
``time + 1e-5 * time_step < final_time``, outputs are saved before each step when
``time - initial_time`` is a multiple of the save step (within ``1e-5`` time steps) and once
more after the last step, and Euler's step is ``state + derivative * time_step``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise, product
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sdnet.engine import allocation as _alloc
from sdnet.engine import dynamic_time as _dt
from sdnet.engine import external as _ext
from sdnet.engine import functions as _fn
from sdnet.engine import lanes as _ln
from sdnet.engine import parallel as _par
from sdnet.engine import vectors as _vec
from sdnet.engine.compiler import IR_VERSION, ModelIR, Node, VariableSpec, build_ir
from sdnet.errors import (
    EngineInputError,
    InvalidValueError,
    ModelNotFoundError,
    SimulationError,
    UnknownVariableError,
)
from sdnet.files import cache_root, data_file_paths, file_sha256
from sdnet.params import CONTROL_NAMES, Parameter, ParameterTable, kind_from_comment
from sdnet.translation import check_generated_code

if TYPE_CHECKING:
    from sdnet.results import State

__all__ = [
    "AUTO_COMPILE_RUNS",
    "BACKENDS",
    "METHODS",
    "CompiledModel",
    "Simulation",
    "cache_dir",
    "compile_model",
]

BACKENDS: tuple[str, ...] = ("auto", "numba", "numpy")
AUTO_COMPILE_RUNS = 2_000
"""Runs from which ``backend="auto"`` compiles a model's numba kernel that is not compiled yet
(compiling flexnet's takes seconds, about what numpy needs for this many runs)."""
_LOG = logging.getLogger("sdnet.engine")

METHODS: tuple[str, ...] = ("euler", "rk4")
_RPREC = 1e-5  # PySD's relative precision (in time steps) for the final time and save times
_CONTROL_VENSIM = {
    "initial_time": "INITIAL TIME",
    "final_time": "FINAL TIME",
    "time_step": "TIME STEP",
    "saveper": "SAVEPER",
}


@dataclass(frozen=True)
class Simulation:
    """The saved trajectories of an ensemble run by :meth:`CompiledModel.simulate`.

    Attributes
    ----------
    times : ndarray, shape (n_time,)
        Saved times (model time units), rounded as PySD rounds them.
    outputs : dict of str to ndarray, shape (n_runs, n_time)
        One array per Vensim column name (``"Members[Micro]"`` for subscripted variables).
        The arrays are views into time-major buffers (transposed, not C-contiguous); columns
        of variables that cannot change during a run (constants, control variables and
        functions of constants only) are read-only broadcast views, stored once per run.
    ok : ndarray of bool, shape (n_runs,)
        False for runs whose state or saved outputs became NaN or infinite.
    failures : list of (int, str, float)
        For each failed run: the run index, the first variable (Vensim column name) found
        non-finite and the first saved time at which it was.
    units : dict of str to str
        Units of each output column, from the model file.
    backend : str
        ``"numba"`` or ``"numpy"``: the backend that ran (the same numbers either way).
    """

    times: np.ndarray
    outputs: dict[str, np.ndarray]
    ok: np.ndarray
    failures: list[tuple[int, str, float]]
    units: dict[str, str] = field(default_factory=dict)
    backend: str = "numpy"

    @property
    def status(self) -> np.ndarray:
        """Alias of :attr:`ok` (the name used in ``docs/architecture.md``)."""
        return self.ok

    @property
    def n_runs(self) -> int:
        """Number of runs."""
        return int(self.ok.shape[0])


def cache_dir() -> Path:
    """Where compiled models are cached: ``engine/`` in sdnet's cache folder."""
    return cache_root() / "engine"


_MEMORY: dict[str, CompiledModel] = {}
_LOCK = threading.Lock()


def compile_model(
    path: str | Path, *, data_files: Sequence[str | Path] | None = None
) -> CompiledModel:
    """Compile a Vensim model file for vectorized simulation.

    The result is cached by the SHA-256 of the file's bytes, in memory and as JSON under
    :func:`cache_dir` (never beside the model file), so a changed file is recompiled.

    Parameters
    ----------
    path : str or Path
        The ``.mdl`` file.
    data_files : sequence of str or Path, optional
        ``.tab`` or ``.csv`` files (another model's output, for instance) holding the values
        of the model's data variables that have no expression (``x[dim] :INTERPOLATE:``),
        as PySD's ``data_files=``; each variable is taken from the first file that has it.
        Relative paths are relative to the model's folder. Read when the model first runs.

    Raises
    ------
    ModelNotFoundError
        If the file does not exist.
    ModelFileError
        If a data file does not exist, is not .tab or .csv, or cannot be read.
    ModelParseError
        If PySD cannot parse it.
    UnsupportedConstructError
        If it uses a construct the engine cannot vectorize (PySD can still run it).
    """
    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(path)
    files = _data_files(path, data_files)
    digest = file_sha256(path)
    with _LOCK:
        cached = _MEMORY.get(digest)
        if cached is not None and cached.path == path.resolve() and cached.data_files == files:
            return cached
    ir = _load_cached_ir(digest)
    if ir is None:
        ir = build_ir(path)
        _store_ir(digest, ir)
    compiled = CompiledModel(ir, path=path.resolve(), sha256=digest, data_files=files)
    with _LOCK:
        _MEMORY[digest] = compiled
    return compiled


def _data_files(model: Path, files: Sequence[str | Path] | None) -> tuple[Path, ...]:
    """The data files as absolute paths (relative ones from the model's folder), each
    checked to be a readable .tab or .csv file."""
    return data_file_paths(files, base=model.resolve().parent,
                           source=f"data_files of {model.name}, relative to its folder")


def _cache_file(digest: str) -> Path:
    return cache_dir() / f"{digest}-ir{IR_VERSION}.json"


def _load_cached_ir(digest: str) -> ModelIR | None:
    file = _cache_file(digest)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        ir = ModelIR.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return ir if ir.version == IR_VERSION else None


def _store_ir(digest: str, ir: ModelIR) -> None:
    file = _cache_file(digest)
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(ir.to_dict()), encoding="utf-8")
        tmp.replace(file)
    except OSError:  # a read-only cache only costs a recompilation next time
        pass


def _columns(spec: VariableSpec, ranges: Mapping[str, list[str]]) -> list[str]:
    if not spec.dims:
        return [spec.vensim_name]
    combos = product(*(ranges[d] for d in spec.dims))
    return [f"{spec.vensim_name}[{','.join(c)}]" for c in combos]


def _na_closure(
    sources: Iterable[str], nodes: Mapping[str, Node], states: Sequence[Any]
) -> frozenset[str]:
    """The locals (nodes and states) that may be NaN by definition: the variables holding
    ``:NA:`` or undefined elements (``sources``) and everything computed from them."""
    na = set(sources)
    edges = [(n.target, n.deps) for n in nodes.values()]
    for state in states:
        edges.append((state.name, state.init.deps))
        if state.deriv is not None:
            edges.append((state.name, state.deriv.deps))
    changed = bool(na)
    while changed:
        changed = False
        for target, deps in edges:
            if target not in na and not na.isdisjoint(deps):
                na.add(target)
                changed = True
    return frozenset(na)


def _topological(nodes: Mapping[str, Node], roots: Sequence[str], what: str) -> list[str]:
    """Targets needed for ``roots`` in evaluation order; raise on a cycle."""
    order: list[str] = []
    state: dict[str, int] = {}
    for root in roots:
        if root not in nodes or state.get(root) == 2:
            continue
        stack = [(root, iter(nodes[root].deps))]
        state[root] = 1
        while stack:
            target, deps = stack[-1]
            for dep in deps:
                if dep not in nodes:
                    continue
                mark = state.get(dep)
                if mark == 1:
                    raise SimulationError(
                        f"the model's {what} contain a loop without a stock through {dep!r}"
                    )
                if mark is None:
                    state[dep] = 1
                    stack.append((dep, iter(nodes[dep].deps)))
                    break
            else:
                stack.pop()
                state[target] = 2
                order.append(target)
    return order


class CompiledModel:
    """A model compiled to vectorized numpy code; see :func:`compile_model`.

    Attributes
    ----------
    path : Path
        The model file.
    sha256 : str
        SHA-256 of the file's bytes when it was compiled.
    data_files : tuple of Path
        The data files its data variables without an expression are read from.
    parameters : ParameterTable
        Every scalar constant (kinds from the comment tags) and the control variables.
    stocks : tuple of str
        Vensim names of the stocks (INTEG variables).
    outputs : dict of str to str
        Every column :meth:`simulate` can save (Vensim names, ``Name[Elem]`` for subscripted
        variables) and its units, in PySD's column order.
    ir : ModelIR
        The compiled equations (what is cached).
    block_size : int
        Runs integrated together (default 10,000: large enough that numpy's per-operation
        overhead is small, small enough that one step's arrays stay in the processor's cache).
    workers : int
        Processes integrating blocks at once at most (default 2, or 1 on a one-core machine;
        see :mod:`sdnet.engine.parallel`): one where processes cannot be forked, and for
        ensembles too small to give every worker 1,024 runs.
    """

    def __init__(
        self, ir: ModelIR, *, path: Path, sha256: str, data_files: tuple[Path, ...] = ()
    ) -> None:
        self.ir = ir
        self.path = path
        self.sha256 = sha256
        self.data_files = data_files
        self._vars: dict[str, VariableSpec] = {}
        for spec in ir.variables:
            self._vars[spec.name] = spec
            self._vars.setdefault(spec.vensim_name.lower(), spec)
        # control variables PySD evaluates at every time step (they read Time or model
        # variables): nodes of the model, whose code yields to a value given to simulate()
        self._graph_controls = frozenset(ir.extra.get("graph_controls", ()))
        self._nodes = {
            n.target: _dt.overridable(n) if n.target in self._graph_controls else n
            for n in ir.nodes
        }
        self._states = ir.states
        self._na = _na_closure(ir.extra.get("na_sources", ()), self._nodes, ir.states)
        self._control_code: list[tuple[str, Any]] | None = None
        for node in ir.control_nodes:  # the IR may come from the cache folder: checked again
            _check_code(node.code, path, names=CONTROL_NAMES, mode="eval")
        start_code = ir.extra.get("initial_time_code")
        if start_code is not None:
            _check_code(start_code, path, names={"time", *CONTROL_NAMES}, mode="eval")
        self._externals: dict[str, Any] | None = None
        self._static = self._static_targets()
        self._programs: dict[tuple[tuple[str, ...], tuple[str, ...]], Any] = {}
        self._control_defaults = self._control_values({})
        if self._graph_controls:  # their values at the start of a run with the defaults
            self._control_defaults.update(self._start_controls())
        self.parameters = self._parameter_table()
        self.stocks = tuple(s.vensim_name for s in ir.variables if s.kind == "stock")
        control = [s for s in ir.variables if s.kind == "control"]
        control.sort(key=lambda s: s.vensim_name)
        others = [s for s in ir.variables if s.kind not in ("control", "lookup")]
        self._output_specs = control + others
        self.outputs: dict[str, str] = {}
        self._column_owner: dict[str, tuple[VariableSpec, int]] = {}
        for spec in self._output_specs:
            for i, col in enumerate(_columns(spec, ir.ranges)):
                self.outputs[col] = spec.units
                self._column_owner[col.lower()] = (spec, i)
        self._plan: Any = None  # the numba kernel's plan, or why there is none
        self.block_size = 10_000
        self.workers = min(2, os.cpu_count() or 1)
        # runs the numba lanes kernel integrates side by side (at most lanes.MAX_LANES)
        self.lane_width = _ln.LANE_WIDTH

    def __repr__(self) -> str:
        return f"CompiledModel({str(self.path)!r}, {len(self.outputs)} outputs)"

    @property
    def na_columns(self) -> frozenset[str]:
        """The output columns that may be NaN by definition, as in PySD: variables holding
        Vensim's ``:NA:``, subscripted variables left undefined for some elements, and
        everything computed from them. A NaN there does not fail a run (an inf does)."""
        return frozenset(
            column
            for spec in self._output_specs
            if spec.local in self._na
            for column in _columns(spec, self.ir.ranges)
        )

    # ------------------------------------------------------------------ metadata

    def _parameter_table(self) -> ParameterTable:
        params: list[Parameter] = []
        for spec in self.ir.variables:
            if spec.kind == "control":
                kind, description = "control", spec.documentation.strip()
                default = float(self._control_defaults[spec.local])
            elif spec.kind == "constant" and not spec.dims:
                kind, description = kind_from_comment(spec.documentation)
                default = float(spec.default)
            else:
                continue
            params.append(
                Parameter(
                    name=spec.name,
                    vensim_name=spec.vensim_name,
                    units=spec.units,
                    lower=spec.lower,
                    upper=spec.upper,
                    default=default,
                    description=description,
                    kind=kind,
                )
            )
        return ParameterTable(params, where=str(self.path.name))

    def _control_values(self, overrides: Mapping[str, float]) -> dict[str, float]:
        if self._control_code is None:  # compiled once: a single run is all overhead
            nodes = {n.target: n for n in self.ir.control_nodes}
            self._control_code = [
                (target, compile(nodes[target].code, "<control>", "eval"))
                for target in _topological(nodes, list(nodes), "control variables")
            ]
        values: dict[str, float] = dict(overrides)
        for target, code in self._control_code:
            if target in values:
                continue
            namespace: dict[str, Any] = {"__builtins__": {}, "np": np, **values}
            values[target] = float(eval(code, namespace))
        start_code = self.ir.extra.get("initial_time_code")
        if start_code is not None and "initial_time" not in values:
            values["initial_time"] = _dt.start_time(start_code, values)
        for name in self._graph_controls - set(values):  # computed during the run
            values[name] = math.nan
        return values

    def _start_controls(self) -> dict[str, float]:
        """The control variables computed during the run, at the start of a run with the
        model's own values (the defaults of :attr:`parameters`)."""
        make, _ = self._program((), ())
        control = self._control_values({})
        params = self._resolve_values({}, 1)
        with np.errstate(all="ignore"):
            built = make(
                {k: _as_scalar(v) for k, v in params.items()}, {}, 1,
                *(control[name] for name in _CONTROL_VENSIM), {},
            )
            values = built[4](control["initial_time"], *built[0])
        out = {"initial_time": control["initial_time"]}
        out.update(zip(("final_time", "time_step", "saveper"), values, strict=True))
        return {k: float(np.asarray(v, dtype=np.float64).flat[0]) for k, v in out.items()}

    def _static_targets(self) -> set[str]:
        sources = {s.local for s in self.ir.variables if s.kind == "constant"}
        sources |= (set(CONTROL_NAMES) - self._graph_controls) | {"n"}
        sources |= {s.name for s in self._states if s.deriv is None}  # INITIAL, DELAY N memory
        sources |= {
            name for name, spec in self.ir.extra.get("external", {}).items()
            if spec["kind"] == "constant"
        }
        static = set(sources)
        order = _topological(self._nodes, list(self._nodes), "equations")
        for target in order:
            node = self._nodes[target]
            if not node.uses_time and all(
                d in static or (d not in self._nodes and d in sources) for d in node.deps
            ):
                static.add(target)
        return static

    # ------------------------------------------------------------------ code assembly

    def _program(self, out_locals: tuple[str, ...], static_locals: tuple[str, ...] = ()) -> Any:
        key = (out_locals, static_locals)
        program = self._programs.get(key)
        if program is None:
            program = self._build_program(out_locals, static_locals)
            self._programs[key] = program
        return program

    def _build_program(self, out_locals: tuple[str, ...], static_locals: tuple[str, ...]) -> Any:
        dynamic_states = [s for s in self._states if s.deriv is not None]
        init_nodes = {t: n.at_init() for t, n in self._nodes.items()}
        for s in self._states:
            init_nodes[s.name] = s.init
        init_order = _topological(init_nodes, list(init_nodes), "initial values")
        dyn_nodes = {t: n for t, n in self._nodes.items() if t not in self._static}
        restarts = {s.name: s.restart for s in self._states if s.restart is not None}
        lines = [
            "def _make(P, X0, n, initial_time, final_time, time_step, saveper, OV):",
            "    time = initial_time",
            "    _init = True  # ACTIVE INITIAL: its initial value while setting up",
        ]
        for spec in self.ir.variables:
            if spec.kind == "constant":
                lines.append(f"    {spec.local} = P[{spec.local!r}]")
        for target in init_order:
            node = init_nodes[target]
            if target in restarts:
                restart = restarts[target].format(value=f"X0[{target!r}]")
                lines.append(f"    {target} = ({restart}) if {target!r} in X0 else {node.code}")
            else:
                lines.append(f"    {target} = {node.code}")
        # derivatives join the graph so that each is computed as soon as its inputs are
        # (and those can be freed early: see _with_deletions)
        graph = dict(dyn_nodes)
        for st in dynamic_states:
            graph[f"d_{st.name}"] = st.deriv
        derivs = [f"d_{st.name}" for st in dynamic_states]
        names = "".join(f", {st.name}" for st in dynamic_states)
        returned_derivs = "".join(f"{d}, " for d in derivs)
        outs = "".join(f"{o}, " for o in out_locals)
        # _fo (derivatives and outputs) runs at save times; _fd (derivatives only) otherwise
        for function, roots_, returned in (
            ("_fo", [*out_locals, *derivs], f"({returned_derivs}), ({outs})"),
            ("_fd", derivs, f"({returned_derivs})"),
        ):
            order = _topological(graph, roots_, "equations")
            lines.append(f"    def {function}(time{names}):")
            body = [(t, graph[t].code, graph[t].deps) for t in order]
            lines.extend(_with_deletions(body, keep=set(re.findall(r"\w+", returned))))
            lines.append(f"        return {returned}")
        # _fc: the control values that decide the next step (those computed during the run)
        controls = ("final_time", "time_step", "saveper")
        order = _topological(graph, [c for c in controls if c in graph], "equations")
        lines.append(f"    def _fc(time{names}):")
        body = [(t, graph[t].code, graph[t].deps) for t in order]
        lines.extend(_with_deletions(body, keep=set(controls)))
        lines.append(f"        return ({', '.join(controls)})")
        statics = "".join(f"{o}, " for o in static_locals)
        lines.append("    _init = False")
        lines.append(
            f"    return ({''.join(s.name + ', ' for s in dynamic_states)}), _fo, _fd, "
            f"({statics}), _fc"
        )
        source = "\n".join(lines) + "\n"
        namespace: dict[str, Any] = {
            "np": np,
            "_full": _fn.full,
            "_bcast": _bcast,
            "_assemble": _assemble,
            "_step": _fn.step,
            "_ramp": _fn.ramp,
            "_pulse": _fn.pulse,
            "_pulse_train": _fn.pulse_train,
            "_xidz": _fn.xidz,
            "_zidz": _fn.zidz,
            "_modulo": _fn.modulo,
            "_quantum": _fn.quantum,
            "_delay_stack": _fn.delay_stack,
            "_fixed_order": _fn.fixed_delay_order,
            "_fixed_init": _fn.fixed_delay_init,
            "_fixed_next": _fn.fixed_delay_next,
            "_fixed_out": _fn.fixed_delay_out,
            "_delay_stack_checked": _delay_stack_checked,
            "_smooth_ddt": _fn.smooth_ddt,
            "_delay_ddt": _fn.delay_ddt,
            "_delay_n_ddt": _fn.delay_n_ddt,
            "_order": _order,
            "_lookup_nd": _fn.lookup_nd,
            "_vector_select": _vec.vector_select,
            "_vector_sort_order": _vec.vector_sort_order,
            "_vector_rank": _vec.vector_rank,
            "_vector_reorder": _vec.vector_reorder,
            "_alloc_priority": _alloc.allocate_by_priority,
            "_alloc_available": _alloc.allocate_available,
        }
        for local, (xs, ys) in self.ir.tables.items():
            namespace[f"{local}_x"] = np.asarray(xs, dtype=np.float64)
            namespace[f"{local}_y"] = np.asarray(ys, dtype=np.float64)
        namespace.update(self._external_values())
        # the source is generated from the parsed model only (identifiers are sanitized by the
        # compiler); no text given at run time reaches it, and it is checked before it runs
        _check_code(source, self.path, names=namespace)
        exec(compile(source, f"<sdnet engine: {self.path.name}>", "exec"), namespace)
        make = namespace["_make"]
        make.source = source
        return make, [s.name for s in dynamic_states]

    def _external_values(self) -> dict[str, Any]:
        """The model's external data (GET XLS/DIRECT ...), read once per compiled model from
        files relative to the model's folder, with PySD's readers."""
        if self._externals is None:
            values: dict[str, Any] = {}
            for name, spec in self.ir.extra.get("external", {}).items():
                value = _ext.load(spec, self.path.parent, self.data_files)
                if spec["kind"] == "lookup":
                    values[f"{name}_x"], values[f"{name}_y"] = value
                else:
                    values[name] = value
            self._externals = values
        return self._externals

    # ------------------------------------------------------------------ inputs

    def _lookup_variable(self, key: str) -> VariableSpec:
        from sdnet.params import python_name

        spec = self._vars.get(key) or self._vars.get(str(key).lower())
        if spec is None:
            spec = self._vars.get(python_name(str(key)))
        if spec is None:
            raise UnknownVariableError(
                key,
                candidates=[
                    *(s.vensim_name for s in self.ir.variables),
                    *(s.name for s in self.ir.variables),
                ],
                where=str(self.path.name),
            )
        return spec

    def _resolve_values(
        self, values: Mapping[str, Any], n_runs: int
    ) -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {}
        given: dict[str, str] = {}
        for key, value in values.items():
            if key in self.parameters:
                spec = self._vars[self.parameters[key].name]
            else:
                spec = None
                with contextlib.suppress(UnknownVariableError):
                    spec = self._lookup_variable(key)
                if spec is None or spec.kind != "constant":
                    raise UnknownVariableError(
                        key,
                        candidates=[*self.parameters, *(p.vensim_name for p in
                                                         self.parameters.values())],
                        what="parameter",
                        where=str(self.path.name),
                    )
            if spec.kind == "control":
                raise EngineInputError(
                    f"{spec.vensim_name!r} is a control variable: pass it as the "
                    f"{spec.name}= option of simulate(), not in values"
                )
            if spec.local in given:
                raise EngineInputError(
                    f"{key!r} and {given[spec.local]!r} name the same parameter"
                )
            given[spec.local] = key
            arrays[spec.local] = self._as_run_array(spec, key, value, n_runs)
        for spec in self.ir.variables:
            if spec.kind == "constant" and spec.local not in arrays:
                default = np.asarray(spec.default, dtype=np.float64)
                arrays[spec.local] = default.reshape((1, *default.shape))
        return arrays

    def _as_run_array(
        self, spec: VariableSpec, key: str, value: Any, n_runs: int
    ) -> np.ndarray:
        tail = tuple(len(self.ir.ranges[d]) for d in spec.dims)
        if isinstance(value, bool) or np.asarray(value).dtype == bool:
            raise InvalidValueError(key, value, expected="numbers")
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise InvalidValueError(key, value, expected="numbers") from err
        if array.shape == tail:
            array = array.reshape((1, *tail))
        elif array.shape != (n_runs, *tail):
            if array.ndim >= 1 and array.shape[1:] == tail:
                raise EngineInputError(
                    f"{key!r} has {array.shape[0]} values but n_runs is {n_runs}"
                )
            expected = f"{tail} or {(n_runs, *tail)}" if tail else f"a number or {(n_runs,)}"
            raise EngineInputError(
                f"{key!r} has shape {array.shape}; expected {expected}"
            )
        if not np.isfinite(array).all():
            bad = np.argwhere(~np.isfinite(array.reshape(array.shape[0], -1)))[0, 0]
            flat = array.reshape(array.shape[0], -1)[bad]
            raise InvalidValueError(
                key,
                float(flat[~np.isfinite(flat)][0]),
                expected=f"finite numbers (run {int(bad)} is not)",
            )
        return array

    def _resolve_outputs(
        self, variables: Sequence[str] | None
    ) -> tuple[list[VariableSpec], dict[str, list[int] | None]]:
        if variables is None:
            return list(self._output_specs), {s.local: None for s in self._output_specs}
        if isinstance(variables, str):
            variables = [variables]
        chosen: dict[str, VariableSpec] = {}
        columns: dict[str, list[int] | None] = {}
        for key in variables:
            owner = self._column_owner.get(str(key).lower())
            if owner is not None and owner[0].dims:
                spec, i = owner
                chosen.setdefault(spec.local, spec)
                current = columns.get(spec.local, [])
                if current is not None and i not in current:
                    columns[spec.local] = [*current, i]
                continue
            try:
                spec = self._lookup_variable(key)
            except UnknownVariableError as err:
                raise UnknownVariableError(
                    key,
                    candidates=[*(s.name for s in self._output_specs), *self.outputs],
                    what="output variable",
                    where=str(self.path.name),
                ) from err
            if spec.kind == "lookup":
                raise EngineInputError(
                    f"{spec.vensim_name!r} is a lookup table, not an output variable"
                )
            chosen[spec.local] = spec
            columns[spec.local] = None
        return list(chosen.values()), columns

    def _resolve_initial_state(
        self, initial_state: Mapping[str, Any] | None, n_runs: int
    ) -> dict[str, np.ndarray]:
        if not initial_state:
            return {}
        out: dict[str, np.ndarray] = {}
        for key, value in initial_state.items():
            spec = self._lookup_variable(key)
            if spec.kind != "stock":
                raise EngineInputError(
                    f"{spec.vensim_name!r} is not a stock; initial_state takes stocks: "
                    + ", ".join(self.stocks)
                )
            if spec.stock_state is None:
                raise EngineInputError(
                    f"stock {spec.vensim_name!r} is defined element by element; its initial "
                    "state cannot be set"
                )
            tail = tuple(len(self.ir.ranges[d]) for d in spec.dims)
            if isinstance(value, Mapping):
                value = self._from_elements(spec, key, value, n_runs)
            array = self._as_run_array(spec, key, value, n_runs)
            out[spec.stock_state] = np.broadcast_to(array, (n_runs, *tail)).copy()
        return out

    def _from_elements(
        self, spec: VariableSpec, key: str, value: Mapping[Any, Any], n_runs: int
    ) -> np.ndarray:
        """``{element: value}`` (``"a,b"`` or ``("a", "b")`` keys for 2-D) -> array."""
        given = {
            (k if isinstance(k, str) else ",".join(k)).replace(" ,", ",").replace(", ", ",")
            .lower(): v
            for k, v in value.items()
        }
        combos = list(product(*(self.ir.ranges[d] for d in spec.dims)))
        columns = []
        for combo in combos:
            name = ",".join(combo).lower()
            if name not in given:
                raise EngineInputError(
                    f"initial_state[{key!r}] has no value for element [{','.join(combo)}]"
                )
            columns.append(np.broadcast_to(np.asarray(given.pop(name), dtype=float), (n_runs,)))
        if given:
            raise EngineInputError(
                f"initial_state[{key!r}] has unknown elements: {', '.join(sorted(given))}"
            )
        tail = tuple(len(self.ir.ranges[d]) for d in spec.dims)
        return np.stack(columns, axis=1).reshape((n_runs, *tail))

    # ------------------------------------------------------------------ simulate

    def simulate(
        self,
        values: Mapping[str, Any] | None = None,
        *,
        n_runs: int,
        final_time: float | None = None,
        time_step: float | None = None,
        saveper: float | None = None,
        method: str = "euler",
        variables: Sequence[str] | None = None,
        initial_state: Mapping[str, Any] | State | None = None,
        initial_time: float | None = None,
        backend: str | None = None,
    ) -> Simulation:
        """Run ``n_runs`` parameter sets at once.

        Parameters
        ----------
        values : mapping of str to float or ndarray, optional
            Constants to set, by Python or Vensim name: a number (same in every run) or an
            array of shape ``(n_runs,)`` (``(n_runs, *dims)`` or ``dims`` for subscripted
            constants). Constants not given keep the model's value.
        n_runs : int
            Number of runs (parameter sets).
        final_time, time_step, saveper : float, optional
            Control variables in model time units; the model's values when not given (a
            value given replaces the model's equation, which may be computed during the run:
            :mod:`sdnet.engine.dynamic_time`). A ``saveper`` that is not a multiple of
            ``time_step`` saves the steps PySD saves.
        method : {"euler", "rk4"}
            Integration method: Euler as PySD and Vensim, or classic fourth-order Runge-Kutta.
        variables : sequence of str, optional
            Variables (Python or Vensim names, or ``Name[Elem]`` columns) to save; all outputs
            when not given. Only these are kept, which bounds memory for large ensembles.
        initial_state : mapping of str to float or ndarray, or State, optional
            Values of stocks (by name; numbers, ``(n_runs, *dims)`` arrays, or
            ``{element: value}`` for subscripted stocks) to start from instead of their initial
            equations; other stocks start from their equations. A
            :class:`sdnet.results.State` gives its stocks and, unless ``initial_time`` is
            given, its time.
        initial_time : float, optional
            Start time (model time units) instead of INITIAL TIME, e.g. the time at which
            ``initial_state`` was taken.
        backend : {"auto", "numba", "numpy"}, optional
            ``"numpy"``: the vectorized numpy code. ``"numba"``: the model's compiled kernel
            (:mod:`sdnet.engine.kernel`; the same numbers bit for bit), an error if numba is
            missing or the model uses a construct it does not compile. ``"auto"`` (default,
            or ``$SDNET_BACKEND``): the kernel when numba is installed, the model compiles
            and the kernel is already compiled (in this process or in the cache folder) or
            the ensemble is large enough to repay compiling it (:data:`AUTO_COMPILE_RUNS`);
            numpy otherwise.

        Returns
        -------
        Simulation

        Raises
        ------
        UnknownVariableError
            For a name that is not a constant (``values``), output (``variables``) or stock.
        InvalidValueError
            For NaN, infinite or non-numeric values.
        EngineInputError
            For arrays whose length is not ``n_runs``, bad run options or a bad method; with
            ``backend="numba"``, when numba is missing or does not compile the model.
        """
        backend = _backend_choice(backend)
        if isinstance(n_runs, bool) or not isinstance(n_runs, int | np.integer) or n_runs < 1:
            raise EngineInputError(f"n_runs must be a positive integer, not {n_runs!r}")
        n_runs = int(n_runs)
        if method not in METHODS:
            raise EngineInputError(
                f"unknown integration method {method!r}; valid methods: {', '.join(METHODS)}"
            )
        if (
            initial_state is not None
            and not isinstance(initial_state, Mapping)
            and hasattr(initial_state, "values")
            and hasattr(initial_state, "time")
        ):  # a sdnet.results.State: its stocks at its time
            if initial_time is None:
                initial_time = float(initial_state.time)
            initial_state = initial_state.values
        control = self._run_control(final_time, time_step, saveper, initial_time)
        if method != "euler" and any(s.kind == "sample" for s in self._states):
            raise EngineInputError(
                "this model has a SAMPLE IF TRUE or a DELAY FIXED, which is defined step by "
                "step (as in PySD) "
                "and can only be integrated with Euler"
            )
        if method != "euler" and self._graph_controls:
            raise EngineInputError(
                "this model's control variables ("
                + ", ".join(_CONTROL_VENSIM[c] for c in sorted(self._graph_controls))
                + ") are computed during the run, as PySD does, which PySD and the engine "
                "can only do with Euler"
            )
        if method != "euler" and any(s.kind == "memory" for s in self._states):
            raise EngineInputError(
                "this model has a DELAY N whose delay time changes during the run; it is "
                "defined step by step (as in PySD) and can only be integrated with Euler"
            )
        params = self._resolve_values(values or {}, n_runs)
        specs, columns = self._resolve_outputs(variables)
        x0 = self._resolve_initial_state(initial_state, n_runs)
        # variables that never change during a run are computed and stored once per run
        computed = [s for s in specs if not self._plain_control(s)]
        fixed_specs = [s for s in computed if s.local in self._static]
        dyn_specs = [s for s in computed if s.local not in self._static]
        if self._graph_controls:  # the saved times are known as the run goes
            given = {"initial_time": initial_time, "final_time": final_time,
                     "time_step": time_step, "saveper": saveper}
            overrides = {k: control[k] for k, v in given.items()
                         if v is not None and k in self._graph_controls}
            times, stored, state_bad_time, state_bad_owner, state_names = self._run_dynamic(
                params, x0, control, overrides, n_runs, dyn_specs, fixed_specs
            )
            return self._collect(
                specs, columns, control, times, stored, state_bad_time, state_bad_owner,
                state_names, n_runs,
            )
        times, save = _time_grid(control)
        n_time = len(times)
        kernel = self._kernel(backend, n_runs)
        ran = None
        if kernel is not None:
            ran = self._run_kernel(
                kernel, backend, params, x0, control, save, method, n_runs, dyn_specs,
                fixed_specs,
            )
        if ran is not None:
            stored, state_bad_time, state_bad_owner, state_names = ran
        else:
            stored, state_bad_time, state_bad_owner, state_names = self._run_numpy(
                params, x0, control, save, method, n_runs, dyn_specs, fixed_specs, n_time
            )
        result = self._collect(
            specs, columns, control, times, stored, state_bad_time, state_bad_owner,
            state_names, n_runs,
        )
        return result if ran is None else replace(result, backend="numba")

    def kernel_problem(self) -> str | None:
        """Why the numba backend cannot run this model (numba missing, or the construct it
        does not compile and its variable), or None when it can."""
        from sdnet.engine import kernel as _kn

        if not _kn.available():
            return "numba is not installed (pip install 'sdnet[fast]')"
        plan = self._kernel_plan()
        if isinstance(plan, _kn.NotCompiledError):
            return f"the numba backend does not compile {plan} in {self.path.name}"
        return None

    def check_backend(self, backend: str) -> None:
        """Raise :class:`~sdnet.errors.EngineInputError` when ``backend`` cannot run this
        model (an unknown name, or ``"numba"`` where :meth:`kernel_problem` says why not)."""
        backend = _backend_choice(backend)
        problem = self.kernel_problem() if backend == "numba" else None
        if problem is not None:
            raise EngineInputError(
                f"{problem}; the numpy backend runs it (backend 'numpy' or 'auto', "
                "--engine vector or numpy)"
            )

    def _kernel(self, backend: str, n_runs: int) -> Any:
        """The loaded kernel module to run on, or None for the numpy backend."""
        if backend == "numpy":
            return None
        if backend == "numba":
            self.check_backend("numba")
        elif self.kernel_problem() is not None:
            return None
        from sdnet.engine import kernel as _kn

        plan = self._kernel_plan()
        folder = cache_root() / "numba"
        if not _kn.is_compiled(plan, folder):
            if backend == "auto" and n_runs < AUTO_COMPILE_RUNS:
                _LOG.debug(
                    "%s: numba kernel not compiled yet; numpy runs these %d runs (a run of "
                    "%d or more, or backend='numba', compiles it once)",
                    self.path.name, n_runs, AUTO_COMPILE_RUNS,
                )
                return None
            _LOG.info(
                "%s: compiling its numba kernel (once per machine: a model of 150 variables "
                "takes about 15 s of CPU)", self.path.name,
            )
        return _kn.load_kernel(plan, folder)

    def _kernel_plan(self) -> Any:
        """This model's :class:`~sdnet.engine.kernel.KernelPlan`, or the
        :class:`~sdnet.engine.kernel.NotCompiledError` saying why there is none (logged
        once per model)."""
        if self._plan is None:
            from sdnet.engine import kernel as _kn

            if self._graph_controls:
                self._plan = _kn.NotCompiledError(
                    "control variables computed during the run ("
                    + ", ".join(_CONTROL_VENSIM[c] for c in sorted(self._graph_controls)) + ")"
                )
                return self._plan
            na_stock = next((s.owner for s in self._states if s.name in self._na), None)
            if na_stock is not None:  # the kernel counts any NaN state as a failure
                self._plan = _kn.NotCompiledError(f"a stock that may be :NA: ({na_stock})")
                return self._plan
            try:
                self._plan = _kn.plan_kernel(
                    self.ir, static=self._static, topological=_topological
                )
            except _kn.NotCompiledError as err:
                _LOG.info(
                    "%s: the numba backend does not compile %s; the numpy backend runs it",
                    self.path.name, err,
                )
                self._plan = err
        return self._plan

    def _run_kernel(
        self,
        kernel: Any,
        backend: str,
        params: dict[str, np.ndarray],
        x0: dict[str, np.ndarray],
        control: dict[str, float],
        save: tuple[Sequence[float], Sequence[bool]],
        method: str,
        n_runs: int,
        dyn_specs: list[VariableSpec],
        fixed_specs: list[VariableSpec],
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, list[str]] | None:
        """Integrate every run with the model's numba kernel; None when a run needs the
        numpy backend's error (a delay shorter than its order's time steps)."""
        from sdnet.engine import kernel as _kn

        plan = self._kernel_plan()
        values, offsets, steps = _kn.pack([params[local] for local in plan.constants], n_runs)
        given = [x0.get(name) for name in plan.states]
        x0_values, x0_offsets, x0_steps = _kn.pack(
            [np.zeros(1) if g is None else g.reshape(g.shape[0]) for g in given], n_runs
        )
        x0_given = np.array([g is not None for g in given], dtype=np.bool_)
        times_all, flags = _grid_arrays(save)
        n_time = int(flags.sum())

        def layout(entries: Sequence[tuple[str, int]], chosen: list[VariableSpec],
                   rows: Sequence[tuple[int, ...]]) -> Any:
            """Where the chosen outputs go: per output, its first column (-1: not saved);
            for the lanes kernel, per saved column, its row in the kernel's lane array."""
            index = {local: i for i, (local, _) in enumerate(entries)}
            slots = np.full(len(entries), -1, dtype=np.int64)
            lane_rows: list[int] = []
            where: dict[str, tuple[int, int]] = {}
            width = 0
            for spec in chosen:
                i = index[spec.local]
                slots[i] = width
                where[spec.local] = (width, width + entries[i][1])
                width += entries[i][1]
                if plan.lanes:
                    lane_rows.extend(rows[i])
            if plan.lanes:
                slots = np.array(lane_rows, dtype=np.int64)
            return slots, where, width

        out_slots, out_where, out_width = layout(plan.outputs, dyn_specs, plan.output_rows)
        fixed_slots, fixed_where, fixed_width = layout(plan.fixed, fixed_specs,
                                                       plan.fixed_rows)
        out = np.empty((n_runs, n_time, out_width))
        fixed = np.empty((n_runs, fixed_width))
        bad_time = np.full(n_runs, np.inf)
        bad_owner = np.full(n_runs, -1, dtype=np.int64)
        err = np.zeros(n_runs, dtype=np.uint8)
        args = (
            values, offsets, steps, x0_values, x0_offsets, x0_steps, x0_given,
            _kn.ufunc_addresses(), times_all, flags, float(control["time_step"]),
            method == "rk4",
            float(control["initial_time"]), float(control["final_time"]),
            float(control["time_step"]), float(control["saveper"]),
            out, out_slots, fixed, fixed_slots, bad_time, bad_owner, err,
        )
        if plan.lanes:
            args = (*args, max(1, min(self.lane_width, _ln.MAX_LANES)))
        from numba.core.errors import NumbaError

        try:
            _kn.run(kernel, args, n_runs=n_runs, threads=self.workers)
        except NumbaError as error:  # numba cannot compile the kernel: numpy runs the model
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            self._plan = _kn.NotCompiledError(f"this model (numba failed: {first})")
            _LOG.warning("%s: numba failed to compile its kernel (%s); the numpy backend "
                         "runs it", self.path.name, first)
            if backend == "numba":
                raise EngineInputError(
                    f"the numba backend failed to compile {self.path.name}'s kernel: {first}"
                ) from None
            return None
        if err.any():
            return None
        stored: dict[str, np.ndarray] = {
            local: out[:, :, a:b] for local, (a, b) in out_where.items()
        }
        for local, (a, b) in fixed_where.items():
            stored[local] = np.broadcast_to(
                fixed[:, a:b].reshape(n_runs, 1, b - a), (n_runs, n_time, b - a)
            )
        return stored, bad_time, bad_owner, list(plan.states)

    def _run_numpy(
        self,
        params: dict[str, np.ndarray],
        x0: dict[str, np.ndarray],
        control: dict[str, float],
        save: tuple[Sequence[float], Sequence[bool]],
        method: str,
        n_runs: int,
        dyn_specs: list[VariableSpec],
        fixed_specs: list[VariableSpec],
        n_time: int,
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, list[str]]:
        """Integrate on the numpy backend (blocks of runs, forked workers)."""
        make, state_names = self._program(
            tuple(s.local for s in dyn_specs), tuple(s.local for s in fixed_specs)
        )

        def shape(spec: VariableSpec) -> tuple[int, ...]:
            return tuple(len(self.ir.ranges[d]) for d in spec.dims)

        # time-major, so that saving one time writes contiguous memory
        blocks = _blocks(n_runs, self.block_size, self.workers)
        workers = min(self.workers, len(blocks))
        # what the blocks write must be seen by this process when they run in forked workers
        empty = _par.shared_empty if workers > 1 and _par.can_fork() else np.empty
        buffers = [empty((n_time, n_runs, *shape(s))) for s in dyn_specs]
        fixed = [empty((n_runs, *shape(s))) for s in fixed_specs]
        kinds = {s.name: s.kind for s in self._states}
        state_stacked = [kinds[name] in ("smooth", "delay") for name in state_names]
        state_na = [name in self._na for name in state_names]
        replaced = [i for i, name in enumerate(state_names) if kinds[name] == "sample"]
        non_negative = [
            i for i, name in enumerate(state_names) if kinds[name] == "integ_non_negative"
        ]
        state_bad_time = empty((n_runs,))
        state_bad_owner = empty((n_runs,), np.int64)  # index into state_owners

        def run_block(start: int, stop: int) -> None:
            size = stop - start
            block_params = {
                k: v[start:stop] if v.shape[0] == n_runs and n_runs > 1 else v
                for k, v in params.items()
            }
            block_x0 = {k: v[start:stop] for k, v in x0.items()}
            if size == 1:  # one run: scalars, see functions.full
                block_params = {k: _as_scalar(v) for k, v in block_params.items()}
                block_x0 = {k: _as_scalar(v) for k, v in block_x0.items()}
            with np.errstate(all="ignore"):  # errstate is per thread
                states, f, fd, fixed_values, _ = make(
                    block_params,
                    block_x0,
                    size,
                    control["initial_time"],
                    control["final_time"],
                    control["time_step"],
                    control["saveper"],
                    {},
                )
                bad_time, bad_owner = _integrate(
                    f,
                    fd,
                    list(states),
                    times_all=save[0],
                    save_flags=save[1],
                    dt=control["time_step"],
                    method=method,
                    buffers=[b[:, start:stop] for b in buffers],
                    stacks=state_stacked,
                    na=state_na,
                    n_runs=size,
                    non_negative=non_negative,
                    replaced=replaced,
                )
            state_bad_time[start:stop] = bad_time
            state_bad_owner[start:stop] = bad_owner
            for array, value in zip(fixed, fixed_values, strict=True):
                array[start:stop] = value

        _par.run_blocks(run_block, blocks, workers=workers)
        # (n_runs, n_time, n_columns) views: transposed time-major buffers, or a fixed value
        # broadcast over time
        stored = {
            s.local: b.reshape(n_time, n_runs, -1).transpose(1, 0, 2)
            for s, b in zip(dyn_specs, buffers, strict=True)
        }
        stored.update(
            (s.local, np.broadcast_to(a.reshape(n_runs, 1, -1), (n_runs, n_time, a[0].size)))
            for s, a in zip(fixed_specs, fixed, strict=True)
        )
        return stored, state_bad_time, state_bad_owner, state_names

    def _plain_control(self, spec: VariableSpec) -> bool:
        """A control variable known before the run (a number, the same in every run)."""
        return spec.kind == "control" and spec.local not in self._graph_controls

    def _run_dynamic(
        self,
        params: dict[str, np.ndarray],
        x0: dict[str, np.ndarray],
        control: dict[str, float],
        overrides: dict[str, float],
        n_runs: int,
        dyn_specs: list[VariableSpec],
        fixed_specs: list[VariableSpec],
    ) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, np.ndarray, list[str]]:
        """Integrate a model whose control variables are computed during the run
        (:mod:`sdnet.engine.dynamic_time`): blocks of runs one after another in this process,
        every block saving the same times (else an error). ``overrides``: the control
        variables given to :meth:`simulate`, which replace their equations as in PySD."""
        make, state_names = self._program(
            tuple(s.local for s in dyn_specs), tuple(s.local for s in fixed_specs)
        )
        shapes = [tuple(len(self.ir.ranges[d]) for d in s.dims) for s in dyn_specs]
        fixed_shapes = [tuple(len(self.ir.ranges[d]) for d in s.dims) for s in fixed_specs]
        kinds = {s.name: s.kind for s in self._states}
        times: np.ndarray | None = None
        parts: list[list[np.ndarray]] = []
        fixed_parts: list[tuple[Any, ...]] = []
        bad_times, bad_owners = [], []
        for start, stop in _blocks(n_runs, self.block_size, 1):
            size = stop - start
            block_params = {k: v[start:stop] if v.shape[0] == n_runs and n_runs > 1 else v
                            for k, v in params.items()}
            block_x0 = {k: v[start:stop] for k, v in x0.items()}
            if size == 1:  # one run: scalars, see functions.full
                block_params = {k: _as_scalar(v) for k, v in block_params.items()}
                block_x0 = {k: _as_scalar(v) for k, v in block_x0.items()}
            with np.errstate(all="ignore"):
                states, f, fd, fixed_values, fc = make(
                    block_params, block_x0, size,
                    *(control[name] for name in _CONTROL_VENSIM), overrides,
                )
                block_times, outputs, bad_time, bad_owner = _dt.integrate(
                    f, fd, fc, list(states), start=control["initial_time"], n_runs=size,
                    shapes=shapes,
                    stacks=[kinds[n] in ("smooth", "delay") for n in state_names],
                    na=[n in self._na for n in state_names],
                    non_negative=[i for i, n in enumerate(state_names)
                                  if kinds[n] == "integ_non_negative"],
                    replaced=[i for i, n in enumerate(state_names) if kinds[n] == "sample"],
                )
            if times is not None and not np.array_equal(times, block_times):
                raise SimulationError(
                    "the runs of this ensemble save different times (its control variables "
                    "are computed during the run and differ between runs): run them one at "
                    "a time (n_runs=1)"
                )
            times = block_times
            parts.append(outputs)
            fixed_parts.append(tuple(
                np.broadcast_to(v, (size, *shape))
                for v, shape in zip(fixed_values, fixed_shapes, strict=True)
            ))
            bad_times.append(bad_time)
            bad_owners.append(bad_owner)
        assert times is not None
        n_time = len(times)
        stored = {
            s.local: np.concatenate([p[i] for p in parts], axis=1)
            .reshape(n_time, n_runs, -1).transpose(1, 0, 2)
            for i, s in enumerate(dyn_specs)
        }
        for i, s in enumerate(fixed_specs):
            value = np.concatenate([p[i] for p in fixed_parts]).reshape(n_runs, 1, -1)
            stored[s.local] = np.broadcast_to(value, (n_runs, n_time, value.shape[2]))
        return (times, stored, np.concatenate(bad_times), np.concatenate(bad_owners),
                state_names)

    def _collect(
        self,
        specs: list[VariableSpec],
        columns: dict[str, list[int] | None],
        control: dict[str, float],
        times: np.ndarray,
        stored: dict[str, np.ndarray],
        state_bad_time: np.ndarray,
        state_bad_owner: np.ndarray,
        state_names: list[str],
        n_runs: int,
    ) -> Simulation:
        """The :class:`Simulation` of either backend: output columns and non-finite runs."""
        n_time = len(times)
        owners = {s.name: s.owner for s in self._states}
        state_owners = [owners[name] for name in state_names]
        outputs: dict[str, np.ndarray] = {}
        units: dict[str, str] = {}
        failures_time = np.full(n_runs, np.inf)
        failures_var = np.empty(n_runs, dtype=object)
        for spec in specs:
            cols = _columns(spec, self.ir.ranges)
            wanted = columns[spec.local]
            keep = range(len(cols)) if wanted is None else wanted
            if self._plain_control(spec):
                value = np.float64(control[spec.local])
                for i in keep:
                    outputs[cols[i]] = np.broadcast_to(value, (n_runs, n_time))
                    units[cols[i]] = spec.units
                continue
            flat = stored[spec.local]
            finite = bool(np.isfinite(flat).all())
            # NaN is a value of variables that may be NaN by definition (:NA:, undefined
            # elements, and what is computed from them), as in PySD; inf is still a failure
            na = spec.local in self._na
            for i in keep:
                column = flat[:, :, i]
                outputs[cols[i]] = column
                units[cols[i]] = spec.units
                if finite:
                    continue
                bad = np.isinf(column) if na else ~np.isfinite(column)
                rows = np.flatnonzero(bad.any(axis=1))
                if rows.size:
                    first = times[bad[rows].argmax(axis=1)]
                    newer = first < failures_time[rows]
                    failures_time[rows[newer]] = first[newer]
                    failures_var[rows[newer]] = cols[i]
        rows = np.flatnonzero(state_bad_time < failures_time)
        failures_time[rows] = state_bad_time[rows]
        failures_var[rows] = [state_owners[i] for i in state_bad_owner[rows]]
        ok = ~np.isfinite(failures_time)
        failures = [
            (int(r), str(failures_var[r]), float(failures_time[r]))
            for r in np.flatnonzero(~ok)
        ]
        return Simulation(times=times, outputs=outputs, ok=ok, failures=failures, units=units)

    def _run_control(
        self,
        final_time: float | None,
        time_step: float | None,
        saveper: float | None,
        initial_time: float | None,
    ) -> dict[str, float]:
        overrides: dict[str, float] = {}
        for name, value in (
            ("initial_time", initial_time),
            ("final_time", final_time),
            ("time_step", time_step),
            ("saveper", saveper),
        ):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                raise InvalidValueError(name, value)
            if not math.isfinite(float(value)):
                raise InvalidValueError(name, value)
            overrides[name] = float(value)
        control = self._control_values(overrides)
        # control variables computed during the run are NaN here (checked as the run goes)
        dt = control["time_step"]
        if dt <= 0:
            raise EngineInputError(f"time_step must be positive, not {dt!r}")
        if control["final_time"] <= control["initial_time"]:
            raise EngineInputError(
                f"final_time ({control['final_time']!r}) must be after the initial time "
                f"({control['initial_time']!r})"
            )
        if control["saveper"] <= 0:
            # not necessarily a multiple of time_step: outputs are saved at the time steps
            # PySD saves (those within 1e-5 time steps of a multiple of saveper)
            raise EngineInputError(f"saveper must be positive, not {control['saveper']!r}")
        return control

    def source(self, variables: Sequence[str] | None = None) -> str:
        """The generated Python source for ``variables`` (for reading and debugging)."""
        specs, _ = self._resolve_outputs(variables)
        computed = [s for s in specs if not self._plain_control(s)]
        make, _ = self._program(
            tuple(s.local for s in computed if s.local not in self._static),
            tuple(s.local for s in computed if s.local in self._static),
        )
        return make.source


#: numpy functions the generated code may call besides ufuncs (all pure array functions)
_NUMPY_FUNCTIONS = frozenset({
    "all", "any", "arange", "argmax", "argmin", "array", "asarray", "broadcast_to", "clip",
    "concatenate", "cumprod", "cumsum", "e", "einsum", "empty", "expand_dims", "float64",
    "full", "full_like", "inf", "interp", "inv", "isfinite", "isnan", "linalg", "max", "mean",
    "min",
    "moveaxis", "nan", "newaxis", "ones", "ones_like", "pi", "prod", "reshape", "round",
    "searchsorted", "sort", "stack", "sum", "swapaxes", "take", "take_along_axis", "transpose",
    "trunc", "where", "zeros", "zeros_like",
})
_ARRAY_ATTRIBUTES = frozenset({
    "T", "astype", "copy", "ndim", "reshape", "shape", "size", "sum", "transpose",
})
_ENGINE_ATTRIBUTES = (
    frozenset(n for n in dir(np) if isinstance(getattr(np, n, None), np.ufunc))
    | _NUMPY_FUNCTIONS
    | _ARRAY_ATTRIBUTES
)


def _check_code(
    source: str, path: Path, *, names: Iterable[str], mode: str = "exec"
) -> None:
    """Refuse generated code that holds anything the compiler does not write (defence in
    depth: the compiler writes only sanitized identifiers, numbers and its own templates)."""
    check_generated_code(
        source, path=path, attributes=_ENGINE_ATTRIBUTES, names={*names, "slice"}, mode=mode
    )


def _backend_choice(backend: str | None) -> str:
    """The backend asked for: the argument, else ``$SDNET_BACKEND``, else ``"auto"``."""
    if backend is None:
        backend = os.environ.get("SDNET_BACKEND", "").strip().lower() or "auto"
        where = "SDNET_BACKEND"
    else:
        where = "backend"
    if backend not in BACKENDS:
        raise EngineInputError(
            f"unknown {where} {backend!r}; valid backends: {', '.join(BACKENDS)}"
        )
    return backend


def _as_scalar(value: np.ndarray) -> np.ndarray | np.float64:
    """A one-run value of a scalar variable (shape ``(1,)``) as a numpy scalar; others as
    they are (subscripted variables keep their element axes)."""
    if value.shape == (1,):
        return value[0]
    return value


def _blocks(n_runs: int, block_size: int, workers: int) -> list[tuple[int, int]]:
    """Split the runs into equal blocks of at most ``block_size``, a multiple of ``workers``
    of them when there is enough work for every worker (at least 1,024 runs each)."""
    count = -(-n_runs // block_size)
    if workers > 1 and n_runs >= 1024 * workers:
        count = -(-count // workers) * workers
    edges = np.linspace(0, n_runs, count + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in pairwise(edges)]


def _with_deletions(body: list[tuple[str, str, list[str]]], *, keep: set[str]) -> list[str]:
    """Code lines assigning each target, deleting each local after its last use.

    Freed arrays are reused at once by the allocator while still in the processor's cache, so
    the arrays of one time step stay cache-sized however many equations the model has.
    """
    assigned = {target for target, _, _ in body}
    last_use: dict[str, int] = {}
    for i, (_, _, deps) in enumerate(body):
        for dep in deps:
            if dep in assigned:
                last_use[dep] = i
    lines = []
    for i, (target, code, _) in enumerate(body):
        lines.append(f"        {target} = {code}")
        if target not in last_use and target not in keep:
            lines.append(f"        del {target}")
        dead = sorted(d for d, j in last_use.items() if j == i and d not in keep)
        if dead:
            lines.append(f"        del {', '.join(dead)}")
    return lines


def _bcast(value: Any, sizes: tuple[int, ...]) -> np.ndarray:
    runs = np.shape(value)[0] if np.ndim(value) else 1
    return np.broadcast_to(value, (runs, *sizes))


def _assemble(n: int, sizes: tuple[int, ...], pieces: list[tuple[Any, ...]]) -> np.ndarray:
    runs = max((np.shape(p[1])[0] for p in pieces if np.ndim(p[1])), default=1)
    out = np.full((min(runs, n) if runs == 1 else n, *sizes), np.nan)  # NaN where undefined
    for index, value, *mask in pieces:
        if mask:  # :EXCEPT: only where the mask is True
            out[index] = np.where(mask[0], value, out[index])
        else:
            out[index] = value
    return out


def _order(value: Any) -> int:
    array = np.asarray(value, dtype=np.float64)
    first = float(array.flat[0])
    if not np.all(array == first):
        raise SimulationError(
            "the order of a SMOOTH N or DELAY N differs between runs; the vectorized engine "
            "needs one order for the whole ensemble"
        )
    return int(first)


def _delay_stack_checked(
    value: Any, order: int, n: int, tail: tuple[int, ...], delay_time: Any, time_step: float
) -> np.ndarray:
    """The stages of a material delay; its order lowered as PySD's ``Delay.initialize`` does
    when order x time step exceeds the (smallest element's) delay time, so that every run
    lowers it alike. Runs that would need different orders cannot share one stack: an error
    says so."""
    times = np.asarray(delay_time, dtype=np.float64)
    per_run = times.reshape(times.shape[0], -1).min(axis=1) if times.ndim else times[None]
    lowered = np.minimum(order, np.floor(per_run / time_step + 1e-12)).astype(int)
    # PySD steps the order down while order * time_step > delay time (exact comparison)
    for i, k in enumerate(lowered):
        while k < order and (k + 1) * time_step <= per_run[i]:
            k += 1
        while k > 0 and k * time_step > per_run[i]:
            k -= 1
        lowered[i] = k
    if lowered.min() < 1 or lowered.min() != lowered.max():
        raise SimulationError(
            f"a delay time ({float(per_run.min())!r}) is shorter than order x time step "
            f"({order} x {time_step!r}); PySD would lower the order of each run's delay "
            f"(here to {sorted(set(lowered.tolist()))}), and the vectorized engine can only "
            "when every run lowers it alike and to at least 1: use a smaller time step"
        )
    return _fn.delay_stack(value, int(lowered[0]), n, tail)


def _time_grid(
    control: Mapping[str, float],
) -> tuple[np.ndarray, tuple[Sequence[float], Sequence[bool]]]:
    """Replay PySD's time loop: every time visited, and which of them are saved."""
    saved, (visited, flags) = _grid(
        control["initial_time"], control["time_step"], control["final_time"], control["saveper"]
    )
    return saved.copy(), (visited, flags)


def pysd_save_times(
    initial_time: float, final_time: float, time_step: float, saveper: float
) -> np.ndarray:
    """The times PySD 3.14 saves for these control values (those :meth:`CompiledModel.simulate`
    saves): the time steps within ``1e-5`` steps of a multiple of ``saveper``, and the last."""
    return _grid(float(initial_time), float(time_step), float(final_time), float(saveper))[0].copy()


_GRID_ARRAYS: dict[int, tuple[Any, np.ndarray, np.ndarray]] = {}


def _grid_arrays(save: tuple[Sequence[float], Sequence[bool]]) -> tuple[np.ndarray, np.ndarray]:
    """The times visited and the save flags of :func:`_time_grid` as arrays (kept with the
    cached grid they come from)."""
    key = id(save[0])
    entry = _GRID_ARRAYS.get(key)
    if entry is None or entry[0] is not save[0]:
        entry = (save[0], np.asarray(save[0], dtype=np.float64), np.asarray(save[1], dtype=bool))
        if len(_GRID_ARRAYS) > 64:
            _GRID_ARRAYS.clear()
        _GRID_ARRAYS[key] = entry
    return entry[1], entry[2]


@functools.lru_cache(maxsize=64)
def _grid(
    t0: float, dt: float, tf: float, saveper: float
) -> tuple[np.ndarray, tuple[tuple[float, ...], tuple[bool, ...]]]:
    """:func:`_time_grid` for one set of control values (cached: a single run of a 30-year
    model at dt 1/16 spends a millisecond replaying the loop)."""
    prec = dt * _RPREC
    visited: list[float] = []
    flags: list[bool] = []
    t = t0
    while True:
        delay = t - t0
        flags.append(delay % saveper < prec or -delay % saveper < prec)
        visited.append(t)
        if not t + prec < tf:
            break
        t = t + dt
    decimals = -int(np.log10(prec))
    saved = np.round(np.array([v for v, s in zip(visited, flags, strict=True) if s]), decimals)
    return saved, (tuple(visited), tuple(flags))


def _integrate(
    f: Any,
    fd: Any,
    states: list[np.ndarray],
    *,
    times_all: Sequence[float],
    save_flags: Sequence[bool],
    dt: float,
    method: str,
    buffers: list[np.ndarray],
    stacks: list[bool],
    n_runs: int,
    non_negative: Sequence[int] = (),
    replaced: Sequence[int] = (),
    na: Sequence[bool] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """Step ``states`` through ``times_all``, writing saved outputs into ``buffers``.

    ``f(t, *states)`` returns the derivatives and the outputs, ``fd`` the derivatives only
    (used between save times and for the Runge-Kutta stages). The states at the indices
    ``non_negative`` (XMILE's non-negative stocks) are set to ``max(state, 0)`` after each step,
    as PySD's ``NonNegativeInteg`` does. ``na``: per state, whether it may be NaN by
    definition (then only an infinite value is a failure).

    Returns, per run, the first saved time at which a state was non-finite (inf if never)
    and the index of that state in ``states`` (-1 if never).
    """
    bad_time = np.full(n_runs, np.inf)
    bad_owner = np.full(n_runs, -1, dtype=np.int64)
    j = 0
    last = len(times_all) - 1
    half = dt / 2
    for k, t in enumerate(times_all):
        if save_flags[k]:
            derivs, outs = f(t, *states)
            for buf, value in zip(buffers, outs, strict=True):
                buf[j] = value
            j += 1
            _dt.non_finite_states(states, stacks, n_runs, t, bad_time, bad_owner, na)
        elif k < last:
            derivs = fd(t, *states)
        if k == last:
            break
        if method == "euler":
            states = [s + d * dt for s, d in zip(states, derivs, strict=True)]
        else:
            k1 = derivs
            k2 = fd(t + half, *[s + half * d for s, d in zip(states, k1, strict=True)])
            k3 = fd(t + half, *[s + half * d for s, d in zip(states, k2, strict=True)])
            k4 = fd(t + dt, *[s + dt * d for s, d in zip(states, k3, strict=True)])
            states = [
                s + dt / 6 * (a + 2 * b + 2 * c + e)
                for s, a, b, c, e in zip(states, k1, k2, k3, k4, strict=True)
            ]
        for i in non_negative:
            states[i] = np.maximum(states[i], 0)
        for i in replaced:  # SAMPLE IF TRUE: the "derivative" is the next value
            states[i] = derivs[i]
    return bad_time, bad_owner
