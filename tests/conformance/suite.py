"""The public SD test-model suite in ``../shared/conformance``: its index, outputs and checks.

Shared by the conformance tests (engine against the canonical outputs) and by
``benchmarks/conformance_sweep.py`` (engine against the canonical outputs *and* PySD, on every
case). The cases are read in place, never copied into the repository; PySD, which writes its
translation beside the model, runs on a copy in a temporary folder.
"""

from __future__ import annotations

import contextlib
import csv
import shutil
import tempfile
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CONFORMANCE = Path(__file__).resolve().parents[2].parent / "shared" / "conformance"
DEFAULT_TOLERANCE = 1e-5  # PySD's integration tests: |x - canon| <= 1e-5 + rtol * |canon|
PYSD_RTOL = 1e-10  # engine against PySD: the same float64 operations in the same order
#: cases where PySD solves an equation numerically and the engine solves it exactly, so the
#: two agree only to PySD's solver: ALLOCATE AVAILABLE's price (scipy's least_squares,
#: tolerances 1e-8; in allocate_available PySD's shares add up to the supply within 3.5e-7,
#: the engine's within 1e-12). The engine is compared with PySD at this absolute tolerance.
PYSD_SOLVER_ATOL = {"allocate_available": 1e-6}


@dataclass(frozen=True)
class Case:
    """One case of the suite (a row of ``index.tsv``)."""

    name: str
    folder: Path
    model: Path
    canonical: Path | None
    data_files: tuple[str, ...]
    rtol: float
    pysd_xfail: bool


def load_cases(root: Path = CONFORMANCE) -> list[Case]:
    """Every case of ``index.tsv`` (empty when the suite is absent)."""
    index = root / "index.tsv"
    if not index.is_file():
        return []
    cases = []
    with index.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            folder = root / row["case"]
            cases.append(
                Case(
                    name=row["case"],
                    folder=folder,
                    model=folder / row["model"],
                    canonical=folder / row["canonical"] if row["canonical"] else None,
                    data_files=tuple(f for f in row["data_files"].split(",") if f),
                    rtol=float(row["pysd_rtol"]) if row["pysd_rtol"] else DEFAULT_TOLERANCE,
                    pysd_xfail=row["pysd_xfail"] == "True",
                )
            )
    return cases


def load_canonical(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Read ``output.csv``/``output.tab``: times and one array per column (NaN where blank).

    Vensim writes some outputs transposed (one row per variable, one column per time); those
    are turned around.
    """
    text = path.read_text(encoding="utf-8", errors="replace")
    sep = "\t" if path.suffix.lower() == ".tab" else ","
    rows = [
        next(csv.reader([line], delimiter=sep)) for line in text.splitlines() if line.strip()
    ]
    if _is_number(rows[0][1]):  # one row per variable, one column per time: turn around
        rows = [list(col) for col in zip(*rows, strict=False)]
    header = [h.strip().strip('"') for h in rows[0]]
    data = np.full((len(rows) - 1, len(header)), np.nan)
    for i, row in enumerate(rows[1:]):
        for j, cell in enumerate(row[: len(header)]):
            cell = cell.strip()
            if cell:
                with contextlib.suppress(ValueError):  # a text cell: not a number
                    data[i, j] = float(cell)
    columns = {h: data[:, j] for j, h in enumerate(header[1:], start=1) if h}
    # the first column is the time (Stella names it after the time unit: "Months")
    return data[:, 0], columns


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def normal(name: str) -> str:
    """A column name compared case-insensitively, ignoring spaces, underscores and quotes."""
    return "".join(name.lower().split()).replace("_", "").replace('"', "")


@dataclass(frozen=True)
class Comparison:
    """The outcome of comparing a run's columns with reference columns."""

    compared: int
    worst: str | None  # first column that differs, with its largest difference

    @property
    def ok(self) -> bool:
        return self.compared > 0 and self.worst is None


def compare(
    times: np.ndarray,
    outputs: dict[str, np.ndarray],
    ref_times: np.ndarray,
    reference: dict[str, np.ndarray],
    *,
    rtol: float,
    atol: float,
    blanks: bool = True,
) -> Comparison:
    """Compare the columns both have, at the reference's times (matched to 1e-5 relative), as
    PySD's own tests do (``pysd.tools.benchmarking.assert_frames_close``).

    A value matches when ``|reference - value| <= atol + rtol |value|`` or both are NaN, so a
    NaN (Vensim's ``:NA:``, an element left undefined) matches only a NaN. ``blanks``: a
    reference column blank after its first row is a constant Vensim wrote once, compared as
    that value at every time (PySD's ``_remove_constant_nan``, applied to both sides).
    """
    ours = {normal(c): c for c in outputs}
    index = np.searchsorted(times, ref_times - 1e-9 * np.maximum(1.0, np.abs(ref_times)))
    index = np.clip(index, 0, len(times) - 1)
    if not np.allclose(times[index], ref_times, rtol=1e-5, atol=1e-9):
        return Comparison(0, "saved times differ")
    compared = 0
    for column, expected in reference.items():
        key = ours.get(normal(column))
        if key is None:
            continue
        values = np.asarray(outputs[key], dtype=float)[index]
        if blanks:
            expected, values = _constant_filled(expected), _constant_filled(values)
        compared += 1
        with np.errstate(invalid="ignore"):
            close = np.abs(expected - values) <= atol + rtol * np.abs(values)
        close |= np.isnan(expected) & np.isnan(values)
        if not close.all():
            bad = ~close
            nan_mismatch = np.isnan(expected[bad]) | np.isnan(values[bad])
            if nan_mismatch.any():
                at = float(ref_times[np.flatnonzero(bad)[np.argmax(nan_mismatch)]])
                return Comparison(compared, f"{column} (NaN on one side only at time {at:g})")
            diff = np.max(np.abs(values[bad] - expected[bad]))
            return Comparison(compared, f"{column} (max difference {diff:.3g})")
    return Comparison(compared, None)


def _constant_filled(values: np.ndarray) -> np.ndarray:
    """A column that is NaN after its first row as its first value throughout (Vensim writes
    a constant once); other columns as they are."""
    if len(values) > 1 and np.isnan(values[1:]).all():
        return np.full(values.shape, values[0])
    return values


XMILE_SUFFIXES = (".xmile", ".stmx")


def xmile_cases(cases: list[Case]) -> list[Case]:
    """The suite's XMILE files as cases of their own (``<case>/<file>``), each compared with
    Stella's output where the folder has one (``output_stella*.csv``), else the canonical
    Vensim output."""
    found = []
    for case in cases:
        files = sorted(f for f in case.folder.iterdir() if f.suffix.lower() in XMILE_SUFFIXES)
        stella = sorted(case.folder.glob("output_stella*.csv"))
        for file in files:
            if any(c.model == file for c in found):
                continue  # two cases share a folder
            found.append(
                Case(
                    name=f"{case.name}/{file.name}",
                    folder=case.folder,
                    model=file,
                    canonical=stella[0] if stella else case.canonical,
                    data_files=case.data_files,
                    rtol=case.rtol,
                    pysd_xfail=False,
                )
            )
    return found


def engine_run(case: Case, *, n_runs: int = 2) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Run ``case`` on the engine as ``n_runs`` identical runs; times and run 0's columns.

    Raises AssertionError when the runs of the ensemble differ (they are the same run)."""
    from sdnet.engine import compile_model

    model = compile_model(case.model, data_files=[case.folder / f for f in case.data_files])
    sim = model.simulate({}, n_runs=n_runs)
    for column, array in sim.outputs.items():
        if n_runs > 1 and not np.array_equal(array[1], array[0], equal_nan=True):
            raise AssertionError(f"runs of one ensemble differ in {column}")
    return sim.times, {c: a[0] for c, a in sim.outputs.items()}


def pysd_run(
    case: Case, model_file: Path | None = None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Run ``case`` with PySD on a copy of its folder (PySD writes beside the model)."""
    import pysd

    with tempfile.TemporaryDirectory(prefix="sdnet-conformance-") as tmp:
        copy = Path(tmp) / case.name
        shutil.copytree(case.folder, copy)
        source = copy / (model_file or case.model).name
        data_files = [str(copy / f) for f in case.data_files] or None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if source.suffix.lower() in (".xmile", ".stmx", ".xml"):
                model = pysd.read_xmile(str(source), data_files=data_files)
            else:
                model = pysd.read_vensim(str(source), data_files=data_files)
            frame = model.run(progress=False)
    times = frame.index.to_numpy(dtype=float)
    return times, {str(c): frame[c].to_numpy(dtype=float) for c in frame.columns}


@dataclass(frozen=True)
class EngineOutcome:
    """What the engine did with a case: ``verdict`` is ``match``, ``unsupported``, ``error``,
    ``differs`` or ``no reference``; ``detail`` names the construct, error or column."""

    case: str
    verdict: str
    detail: str = ""
    seconds: float = 0.0


def check_engine(case: Case, *, with_pysd_reference: bool = True) -> EngineOutcome:
    """Run ``case`` on the engine and compare it with its canonical output.

    Without a canonical output the reference is PySD's run (when ``with_pysd_reference``).
    A single run must also equal a run of the ensemble bit for bit (scalars vs arrays).
    """
    import time

    from sdnet.errors import UnsupportedConstructError

    started = time.perf_counter()

    def outcome(verdict: str, detail: str = "") -> EngineOutcome:
        return EngineOutcome(case.name, verdict, detail, time.perf_counter() - started)

    try:
        times, outputs = engine_run(case)
        _, single = engine_run(case, n_runs=1)
    except UnsupportedConstructError as err:
        return outcome("unsupported", f"{err.construct} ({err.variable})")
    except Exception as err:
        return outcome("error", describe_error(err))
    for column, values in outputs.items():
        # numpy's array power may round the last bit differently from its scalar power
        if not np.allclose(single[column], values, rtol=1e-15, atol=0, equal_nan=True):
            return outcome("differs", f"one run differs from a run of an ensemble: {column}")
    if case.canonical is not None:
        cmp = compare(times, outputs, *load_canonical(case.canonical), rtol=case.rtol,
                      atol=DEFAULT_TOLERANCE)
    elif with_pysd_reference and not case.pysd_xfail:
        try:
            reference = pysd_run(case)
        except Exception as err:
            return outcome("no reference", "PySD fails: " + describe_error(err))
        cmp = compare(times, outputs, *reference, rtol=PYSD_RTOL, atol=1e-12, blanks=False)
    else:
        return outcome("no reference", "no canonical output")
    if cmp.ok:
        return outcome("match", f"{cmp.compared} columns")
    return outcome("differs", cmp.worst or "no common column")


def describe_error(err: BaseException) -> str:
    """One line for a table: the error's type and first line."""
    first = (str(err).splitlines() or [""])[0]
    return f"{type(err).__name__}: {first}"[:200]


def format_traceback(err: BaseException) -> str:
    return "".join(traceback.format_exception(err))


RESULTS: dict[str, EngineOutcome] = {}
"""Outcomes of the cases run in this session (filled by the conformance test, printed by
``conftest.pytest_terminal_summary``)."""


def table(outcomes: dict[str, EngineOutcome]) -> list[str]:
    """The per-case table and the counts, as lines of text."""
    lines = [f"{'case':<58} {'engine':<13} detail"]
    for name, o in outcomes.items():
        lines.append(f"{name:<58} {o.verdict:<13} {o.detail}")
    counts: dict[str, int] = {}
    for o in outcomes.values():
        counts[o.verdict] = counts.get(o.verdict, 0) + 1
    lines.append(
        f"{len(outcomes)} cases: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    )
    return lines
