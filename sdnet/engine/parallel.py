"""Integrate blocks of runs on several cores, in forked worker processes.

Why processes and not threads: the engine evaluates a model as a few hundred small numpy
operations per time step. numpy releases the GIL inside each operation, but every operation
also needs the GIL for about a microsecond to be dispatched, so two threads hand the GIL back
and forth hundreds of thousands of times per ensemble. Measured on flexnet (10^4 runs, 2
cores): one thread 0.61 s, two threads 0.85 s. Forked processes share nothing but the output
arrays, which live in anonymous shared memory created before the fork.

Forking is used only on Linux (macOS system libraries are not fork-safe) and only for work
that needs no more than numpy arithmetic on memory the child owns: a child writes its blocks
into the shared arrays and leaves with :func:`os._exit`, never running ``atexit`` handlers,
flushing files or touching locks that another thread of the parent might hold. A child that
fails or is killed is not trusted: the parent integrates its blocks again itself, so a genuine
error is raised in the parent with its own type and message, and an interrupted child only
costs time.
"""

from __future__ import annotations

import mmap
import os
import signal
import sys
import warnings
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["can_fork", "run_blocks", "shared_empty"]


def can_fork() -> bool:
    """True where blocks may be integrated in forked processes (Linux with ``os.fork``)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def shared_empty(shape: tuple[int, ...], dtype: np.dtype | type = np.float64) -> np.ndarray:
    """An uninitialised array in anonymous shared memory (seen by forked children).

    The memory is released when the array and every view of it are gone (the array keeps the
    mapping alive).
    """
    dtype = np.dtype(dtype)
    count = int(np.prod(shape, dtype=np.int64))
    buffer = mmap.mmap(-1, max(count * dtype.itemsize, 1))
    return np.frombuffer(buffer, dtype=dtype, count=count).reshape(shape)


def run_blocks(
    run_block: Callable[[int, int], None],
    blocks: Sequence[tuple[int, int]],
    *,
    workers: int,
) -> None:
    """Call ``run_block(start, stop)`` for every block, on ``workers`` processes at most.

    With one worker (or where forking is unavailable) the blocks run here in order. Otherwise
    blocks are dealt round-robin to ``workers`` groups; ``workers - 1`` forked children take
    one group each and this process the first. ``run_block`` must write its results only into
    arrays made by :func:`shared_empty` (anything else a child changes is lost with it).

    Raises whatever ``run_block`` raises when this process runs a block (including a block a
    failed child gave back).
    """
    if workers <= 1 or len(blocks) <= 1 or not can_fork():
        for start, stop in blocks:
            run_block(start, stop)
        return
    groups = [list(blocks[i::workers]) for i in range(min(workers, len(blocks)))]
    children: dict[int, list[tuple[int, int]]] = {}
    try:
        for group in groups[1:]:
            pid = _fork()
            if pid == 0:  # the child: integrate, then leave without any cleanup
                status = 1
                try:
                    for start, stop in group:
                        run_block(start, stop)
                    status = 0
                finally:
                    os._exit(status)
            children[pid] = group
        for start, stop in groups[0]:
            run_block(start, stop)
        failed: list[tuple[int, int]] = []
        for pid in list(children):
            _, status = os.waitpid(pid, 0)
            if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
                failed.extend(children[pid])
            del children[pid]
        for start, stop in failed:  # again here, where an error gets its own traceback
            run_block(start, stop)
    finally:
        for pid in children:  # this process failed or was interrupted: stop the others
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


def _fork() -> int:
    """``os.fork()``, without Python 3.12's warning about forking a multi-threaded process.

    The warning is about children that take locks held by the parent's other threads (numpy's
    BLAS pool and notebook kernels start threads). The children here only compute with numpy
    elementwise operations and leave with ``os._exit``; see the module docstring.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()
