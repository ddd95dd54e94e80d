"""Scalar built-ins for the numba kernels of :mod:`sdnet.engine.kernel` (imports numba).

Each function computes, for one run, exactly what the numpy engine computes element by element
on an ensemble (:mod:`sdnet.engine.functions` and numpy's array operations), so that a kernel's
results equal the numpy backend's bit for bit:

* ``+ - * /``, comparisons, ``sqrt``, ``abs`` and ``trunc`` are exactly rounded by IEEE 754 in
  both, so they are written natively (no fast-math: LLVM neither reorders nor fuses them).
* Transcendental functions (``exp``, ``log``, ``sin``, ``power``, ...) are *not* computed by the
  C library: numpy has its own vectorized implementations (AVX-512 ``exp`` and ``log``, SVML
  ``power`` and others) that round differently from libm in a few percent of arguments. The
  kernels call numpy's own inner loop for one element (:func:`call1`, :func:`call2`), through
  the address of the loop numpy registered for ``float64`` (:func:`ufunc_loops`), so they are
  numpy's numbers whatever the processor.
* ``minimum``/``maximum`` propagate NaN as numpy does; ``interp`` follows numpy's ``arr_interp``.

This module is imported only when numba is installed (the ``fast`` extra).
"""

from __future__ import annotations

import ctypes
import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

SMALL_VENSIM = 1e-6

#: the numpy ufuncs the kernels call through their float64 inner loops, by position in the
#: address array a kernel receives (``UF``)
UFUNCS: tuple[str, ...] = (
    "exp", "log", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
    "power", "remainder",
)


class _PyUFuncObject(ctypes.Structure):
    """The start of numpy's public ``PyUFuncObject`` (``numpy/ufuncobject.h``)."""

    _fields_ = [
        ("ob_refcnt", ctypes.c_ssize_t),
        ("ob_type", ctypes.c_void_p),
        ("nin", ctypes.c_int),
        ("nout", ctypes.c_int),
        ("nargs", ctypes.c_int),
        ("identity", ctypes.c_int),
        ("functions", ctypes.c_void_p),
        ("data", ctypes.c_void_p),
        ("ntypes", ctypes.c_int),
        ("reserved1", ctypes.c_int),
        ("name", ctypes.c_char_p),
        ("types", ctypes.c_void_p),
    ]


def _float64_loop(ufunc: np.ufunc) -> int:
    """The address of ``ufunc``'s inner loop for float64 arguments (0 if it has none or its
    loop needs data we cannot pass)."""
    obj = _PyUFuncObject.from_address(id(ufunc))
    if obj.name is None or obj.name.decode() != ufunc.__name__ or obj.nargs != ufunc.nargs:
        return 0
    nargs = obj.nargs
    codes = ctypes.cast(obj.types, ctypes.POINTER(ctypes.c_char))
    double = np.dtype(np.float64).num
    functions = ctypes.cast(obj.functions, ctypes.POINTER(ctypes.c_void_p))
    data = ctypes.cast(obj.data, ctypes.POINTER(ctypes.c_void_p)) if obj.data else None
    for i in range(obj.ntypes):
        if all(ord(codes[i * nargs + k]) == double for k in range(nargs)):
            if data is not None and data[i]:
                return 0
            return int(functions[i] or 0)
    return 0


def ufunc_loops() -> np.ndarray:
    """Addresses of numpy's float64 loops of :data:`UFUNCS`, in that order (per process: they
    are passed to a kernel at every call, never stored in its cache)."""
    return np.array([_float64_loop(getattr(np, name)) for name in UFUNCS], dtype=np.intp)


@intrinsic
def call1(typingctx, fptr, x):  # type: ignore[no-untyped-def]
    """``ufunc(x)`` through the float64 inner loop at address ``fptr`` (one element)."""
    sig = types.float64(types.intp, types.float64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        address, value = args
        return _loop_call(context, builder, address, [value])

    return sig, codegen


@intrinsic
def call2(typingctx, fptr, x, y):  # type: ignore[no-untyped-def]
    """``ufunc(x, y)`` through the float64 inner loop at address ``fptr`` (one element)."""
    sig = types.float64(types.intp, types.float64, types.float64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        address, a, b = args
        return _loop_call(context, builder, address, [a, b])

    return sig, codegen


def _loop_call(context, builder, address, values):  # type: ignore[no-untyped-def]
    """Call ``loop(char **args, npy_intp *dims, npy_intp *steps, void *data)`` on one element."""
    double = ir.DoubleType()
    bytep = ir.IntType(8).as_pointer()
    intp = context.get_value_type(types.intp)
    nargs = len(values) + 1
    fnty = ir.FunctionType(ir.VoidType(), [bytep.as_pointer(), intp.as_pointer(),
                                           intp.as_pointer(), bytep])
    function = builder.inttoptr(address, fnty.as_pointer())
    slots = [cgutils.alloca_once(builder, double) for _ in range(nargs)]
    argv = cgutils.alloca_once(builder, bytep, size=nargs)
    dims = cgutils.alloca_once(builder, intp)
    steps = cgutils.alloca_once(builder, intp, size=nargs)
    for slot, value in zip(slots, values, strict=False):
        builder.store(value, slot)
    for k, slot in enumerate(slots):
        index = ir.Constant(ir.IntType(32), k)
        builder.store(builder.bitcast(slot, bytep), builder.gep(argv, [index]))
        builder.store(ir.Constant(intp, 8), builder.gep(steps, [index]))
    builder.store(ir.Constant(intp, 1), dims)
    builder.call(function, [argv, dims, steps, ir.Constant(bytep, None)])
    return builder.load(slots[-1])


@intrinsic
def lanes1(typingctx, fptr, x, y, n):  # type: ignore[no-untyped-def]
    """``y[:n] = ufunc(x[:n])``: one call of the float64 inner loop at address ``fptr`` over
    ``n`` contiguous elements (the lanes kernel's way to amortize the call over its runs)."""
    sig = types.void(types.intp, x, y, types.intp)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        address, xa, ya, size = args
        arrays = [context.make_array(t)(context, builder, v)
                  for t, v in zip(signature.args[1:3], (xa, ya), strict=True)]
        _loop_call_arrays(context, builder, address, [a.data for a in arrays], size)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def lanes2(typingctx, fptr, x, y, z, n):  # type: ignore[no-untyped-def]
    """``z[:n] = ufunc(x[:n], y[:n])`` through the float64 inner loop at ``fptr``."""
    sig = types.void(types.intp, x, y, z, types.intp)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        address, xa, ya, za, size = args
        arrays = [context.make_array(t)(context, builder, v)
                  for t, v in zip(signature.args[1:4], (xa, ya, za), strict=True)]
        _loop_call_arrays(context, builder, address, [a.data for a in arrays], size)
        return context.get_dummy_value()

    return sig, codegen


def _loop_call_arrays(context, builder, address, pointers, size):  # type: ignore[no-untyped-def]
    """Call ``loop(char **args, npy_intp *dims, npy_intp *steps, void *data)`` on ``size``
    contiguous float64 elements of each array."""
    bytep = ir.IntType(8).as_pointer()
    intp = context.get_value_type(types.intp)
    nargs = len(pointers)
    fnty = ir.FunctionType(ir.VoidType(), [bytep.as_pointer(), intp.as_pointer(),
                                           intp.as_pointer(), bytep])
    function = builder.inttoptr(address, fnty.as_pointer())
    argv = cgutils.alloca_once(builder, bytep, size=nargs)
    dims = cgutils.alloca_once(builder, intp)
    steps = cgutils.alloca_once(builder, intp, size=nargs)
    for k, pointer in enumerate(pointers):
        index = ir.Constant(ir.IntType(32), k)
        builder.store(builder.bitcast(pointer, bytep), builder.gep(argv, [index]))
        builder.store(ir.Constant(intp, 8), builder.gep(steps, [index]))
    builder.store(size, dims)
    builder.call(function, [argv, dims, steps, ir.Constant(bytep, None)])


_JIT = {"cache": True, "error_model": "numpy", "nogil": True}


@njit(**_JIT)
def fmin(a: float, b: float) -> float:
    """``np.minimum`` of two floats: NaN if either is NaN, else the smaller (b when equal)."""
    if a < b:
        return a
    if a != a:
        return a
    return b


@njit(**_JIT)
def fmax(a: float, b: float) -> float:
    """``np.maximum`` of two floats: NaN if either is NaN, else the larger (b when equal)."""
    if a > b:
        return a
    if a != a:
        return a
    return b


@njit(**_JIT)
def where(condition: float, a: float, b: float) -> float:
    """``np.where`` for one element (any non-zero condition, NaN included, is true)."""
    if condition != 0:
        return float(a)
    return float(b)


@njit(**_JIT)
def land(a: float, b: float) -> float:
    """``np.logical_and`` as a number."""
    return 1.0 if (a != 0 and b != 0) else 0.0


@njit(**_JIT)
def lor(a: float, b: float) -> float:
    """``np.logical_or`` as a number."""
    return 1.0 if (a != 0 or b != 0) else 0.0


@njit(**_JIT)
def lnot(a: float) -> float:
    """``np.logical_not`` as a number."""
    return 1.0 if a == 0 else 0.0


@njit(**_JIT)
def xidz(numerator: float, denominator: float, x: float) -> float:
    """XIDZ as :func:`sdnet.engine.functions.xidz` computes each element."""
    if abs(denominator) < SMALL_VENSIM:
        return float(x)
    return numerator / denominator


@njit(**_JIT)
def zidz(numerator: float, denominator: float) -> float:
    """ZIDZ as :func:`sdnet.engine.functions.zidz` computes each element."""
    if abs(denominator) < SMALL_VENSIM:
        return 0.0
    return numerator / denominator


@njit(**_JIT)
def modulo(x: float, m: float) -> float:
    """MODULO as :func:`sdnet.engine.functions.modulo` (``x - m * trunc(x / m)``)."""
    if m < SMALL_VENSIM:
        return x - x
    return x - m * np.trunc(x / m)


@njit(**_JIT)
def quantum(a: float, b: float) -> float:
    """QUANTUM as :func:`sdnet.engine.functions.quantum` (``b * trunc(a / b)``)."""
    if b < SMALL_VENSIM:
        return float(a)
    return b * np.trunc(a / b)


@njit(**_JIT)
def step(time: float, time_step: float, value: float, tstep: float) -> float:
    """STEP: ``value * (time + time_step / 2 > tstep)``."""
    return value * (1.0 if time + time_step / 2 > tstep else 0.0)


@njit(**_JIT)
def ramp(time: float, slope: float, start: float, finish: float) -> float:
    """RAMP with a finish time: ``(time + 1e-6 > start) * slope * (min(finish, time) - start)``."""
    final = fmin(finish, time)
    return (1.0 if time + SMALL_VENSIM > start else 0.0) * slope * (final - start)


@njit(**_JIT)
def ramp_open(time: float, slope: float, start: float) -> float:
    """RAMP without a finish time."""
    return (1.0 if time + SMALL_VENSIM > start else 0.0) * slope * (time - start)


@njit(**_JIT)
def pulse(time: float, start: float, width: float) -> float:
    """PULSE: 1 in ``[start - 1e-6, start + width)``, else 0."""
    return 1.0 if (start - SMALL_VENSIM <= time and time < start + width) else 0.0


@njit(**_JIT)
def pulse_train(
    uf: np.ndarray, time: float, start: float, repeat: float, width: float, end: float
) -> float:
    """PULSE TRAIN as the numpy engine's array path (``np.mod`` through numpy's loop)."""
    if repeat == 0:
        return 1.0 if (start - SMALL_VENSIM <= time and time < start + width) else 0.0
    rem = call2(uf[12], time - start + SMALL_VENSIM, repeat)
    return 1.0 if (start <= time and time < end and rem < width) else 0.0


@njit(**_JIT)
def interp(x: float, xs: np.ndarray, ys: np.ndarray) -> float:
    """``np.interp(x, xs, ys)`` for one value (numpy's ``arr_interp``: end values held)."""
    size = xs.shape[0]
    if x != x:
        return x
    if size == 1:
        return ys[0]
    if x < xs[0]:
        return ys[0]
    if x > xs[size - 1]:
        return ys[size - 1]
    if x == xs[size - 1]:
        return ys[size - 1]
    lo = 0
    hi = size - 1  # xs[lo] <= x < xs[hi]
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if xs[mid] <= x:
            lo = mid
        else:
            hi = mid
    j = lo
    if xs[j] == x:
        return ys[j]
    slope = (ys[j + 1] - ys[j]) / (xs[j + 1] - xs[j])
    out = slope * (x - xs[j]) + ys[j]
    if out != out:
        out = slope * (x - xs[j + 1]) + ys[j + 1]
        if out != out and ys[j] == ys[j + 1]:
            out = ys[j]
    return out


@njit(**_JIT)
def stack(value: float, order: int) -> np.ndarray:
    """The stages of a SMOOTH or DELAY, all equal to ``value``."""
    out = np.empty(order)
    out[:] = value
    return out


@njit(**_JIT)
def smooth_ddt(state: np.ndarray, inp: float, smooth_time: float) -> np.ndarray:
    """:func:`sdnet.engine.functions.smooth_ddt` for one run."""
    order = state.shape[0]
    out = np.empty(order)
    for i in range(order):
        target = inp if i == 0 else state[i - 1]
        out[i] = (target - state[i]) * order / smooth_time
    return out


@njit(**_JIT)
def delay_ddt(state: np.ndarray, inp: float, delay_time: float) -> np.ndarray:
    """:func:`sdnet.engine.functions.delay_ddt` for one run."""
    order = state.shape[0]
    out = np.empty(order)
    previous = inp
    for i in range(order):
        outflow = state[i] / delay_time
        out[i] = (previous - outflow) * order
        previous = outflow
    return out


@njit(**_JIT)
def delay_n_ddt(
    state: np.ndarray, times: np.ndarray, inp: float, delay_time: float
) -> np.ndarray:
    """:func:`sdnet.engine.functions.delay_n_ddt` for one run (shifts ``times`` in place)."""
    order = state.shape[0]
    for i in range(order - 1, 0, -1):
        times[i] = times[i - 1]
    times[0] = delay_time
    out = np.empty(order)
    previous = inp
    for i in range(order):
        outflow = state[i] / times[i]
        out[i] = (previous - outflow) * order
        previous = outflow
    return out


@njit(**_JIT)
def finite(value: float) -> bool:
    """True for a finite number."""
    return math.isfinite(value)


@njit(**_JIT)
def all_finite(values: np.ndarray) -> bool:
    """True when every stage is finite."""
    for v in values:  # noqa: SIM110 (numba compiles no generator expression here)
        if not math.isfinite(v):
            return False
    return True

