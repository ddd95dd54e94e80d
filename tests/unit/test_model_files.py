"""Model files that are too large, broken or strange end in a clear error (issue 11).

Defect 9: a 30 MB comment used 10.6 GB of memory and 20,000 constants did not load in 280 s;
killed translations left ``.translating-*`` folders. Defect 11 (part): PySD internals shown as
the reason (a temporary cache path, ``_control_vars`` not found, ``RecursionError``, ``nsmap``,
``ZeroDivisionError``). Defect 10 (part): ``load_model(None)``, ``load_model(123)``,
``check_model("x.mdl")``.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from sdnet import translation
from sdnet.engine import compile_model
from sdnet.errors import (
    InvalidValueError,
    ModelNotFoundError,
    ModelParseError,
    ModelTooLargeError,
    SimulationError,
)
from sdnet.model import load_model
from sdnet.validity import check_model

DATA = Path(__file__).resolve().parents[1] / "data"
CONTROL = (
    "FINAL TIME = 4 ~ Year ~ f |\nINITIAL TIME = 0 ~ Year ~ i |\n"
    "SAVEPER = 1 ~ Year ~ s |\nTIME STEP = 1 ~ Year ~ t |\n"
)


def _model(folder: Path, body: str, *, control: str = CONTROL, name: str = "m.mdl") -> Path:
    path = folder / name
    path.write_text("{UTF-8}\n" + body + control, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- defect 9

def test_a_huge_comment_is_refused_before_pysd_reads_it(tmp_path: Path, cache: Path) -> None:
    comment = "word " * (translation.MAX_EQUATION_BYTES // 5 + 10)
    path = _model(tmp_path, f"A = 1 ~ unit ~ short |\n\nStock = INTEG(A, 0) ~ unit ~ {comment}|\n")
    for load in (load_model, compile_model):
        with pytest.raises(ModelTooLargeError) as info:
            load(path)
        message = str(info.value)
        assert message.startswith(f"model {path}, line 4 is too large: ")
        assert f"bytes in one equation with its comment (the limit is {262144:,};" in message


def test_too_many_variables_are_refused(tmp_path: Path, cache: Path) -> None:
    body = "".join(f"C{i} = {i} ~ unit ~ c |\n" for i in range(translation.MAX_VARIABLES + 1))
    path = _model(tmp_path, body)
    with pytest.raises(ModelTooLargeError) as info:
        load_model(path)
    assert info.value.what == "definitions (variables and subscript ranges)"
    assert info.value.value == translation.MAX_VARIABLES + 5  # the control variables count
    assert "the limit is 10,000" in str(info.value)


def test_a_file_beyond_the_size_limit_is_not_read(tmp_path: Path, cache: Path) -> None:
    path = tmp_path / "huge.mdl"
    with path.open("wb") as handle:  # sparse: nothing is written
        handle.truncate(translation.MAX_FILE_BYTES + 1)
    with pytest.raises(ModelTooLargeError, match=r"33,554,433 bytes \(the limit is 33,554,432"):
        load_model(path)


def test_translations_left_by_dead_processes_are_removed(tmp_path: Path, cache: Path) -> None:
    root = cache / "models"
    root.mkdir(parents=True, exist_ok=True)
    dead = root / ".translating-4194999-abc"  # above Linux's largest process id
    live = root / f".translating-{os.getpid()}-abc"
    old = root / ".translating-xyz"  # sdnet before the process id was in the name
    for folder in (dead, live, old):
        folder.mkdir()
        (folder / "model.py").write_text("partial", encoding="utf-8")
    day_ago = time.time() - 25 * 3600
    os.utime(old, (day_ago, day_ago))
    load_model(_model(tmp_path, "Stock = INTEG(1, 0) ~ unit ~ s |\n"))
    assert not dead.exists() and not old.exists()
    assert live.exists()  # a translation under way in a running process is left alone
    shutil.rmtree(live)


def test_a_failed_translation_leaves_no_folder(tmp_path: Path, cache: Path) -> None:
    with pytest.raises(ModelParseError):
        load_model(DATA / "malformed.mdl")
    assert not list((cache / "models").glob(".translating-*"))


# ---------------------------------------------------------------------------- defect 11

def test_errors_never_name_the_temporary_translation_folder(cache: Path) -> None:
    path = DATA / "malformed.mdl"
    with pytest.raises(ModelParseError) as info:
        load_model(path)
    assert ".translating" not in str(info.value)
    assert str(info.value).startswith(f"cannot read model {path}")


def test_missing_control_variables_are_named(tmp_path: Path, cache: Path) -> None:
    path = _model(tmp_path, "Stock = INTEG(1, 0) ~ unit ~ s |\n",
                  control="FINAL TIME = 4 ~ Year ~ f |\nINITIAL TIME = 0 ~ Year ~ i |\n")
    with pytest.raises(ModelParseError) as info:
        load_model(path)
    assert str(info.value) == (
        f"cannot read model {path}: it does not define TIME STEP, SAVEPER (every model needs "
        "INITIAL TIME, FINAL TIME, TIME STEP, SAVEPER)"
    )


def test_an_algebraic_loop_is_named(tmp_path: Path, cache: Path) -> None:
    path = _model(tmp_path, "A = B + 1 ~ unit ~ a |\nB = A * 2 ~ unit ~ b |\n"
                            "Stock = INTEG(A, 0) ~ unit ~ s |\n")
    model = load_model(path)
    with pytest.raises(SimulationError) as info:
        model.run()
    message = str(info.value)
    assert "(A, B) refer to each other without a stock between them" in message
    assert "Recursion" not in message and str(path) in message


def test_a_division_by_zero_names_the_variable(tmp_path: Path, cache: Path) -> None:
    path = _model(tmp_path, "Stock = INTEG(1, 1/Zero) ~ unit ~ s |\nZero = 0 ~ unit ~ z |\n")
    with pytest.raises(ModelParseError) as info:
        load_model(path)
    assert str(info.value) == (
        f"cannot read model {path}: a division by zero while computing the initial values "
        "(in the equation of 'Stock')"
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('<?xml version="1.0"?>\n<root><a>1</a></root>\n',
         "it is not an XMILE model: its root element is <root>, not <xmile>"),
        ("this is not xml", "it is not well-formed XML (syntax error: line 1, column 0)"),
    ],
)
def test_a_bad_xmile_file_says_why(text: str, reason: str, tmp_path: Path, cache: Path) -> None:
    path = tmp_path / "bad.xmile"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ModelParseError) as info:
        load_model(path)
    assert str(info.value) == f"cannot read model {path}: {reason}"


# ---------------------------------------------------------------------------- defect 10

@pytest.mark.parametrize("given", [None, 123, True])
def test_load_model_of_something_not_a_path(given: object) -> None:
    with pytest.raises(InvalidValueError) as info:
        load_model(given)  # type: ignore[arg-type]
    assert str(info.value).startswith(f"invalid value for 'model path': {given!r} (expected")


def test_check_model_takes_a_path(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"model file not found: x\.mdl"):
        check_model("x.mdl")
    with pytest.raises(InvalidValueError, match="expected a Model"):
        check_model(123)  # type: ignore[arg-type]


def test_a_model_with_macros_runs_on_pysd_from_the_cache_and_equals_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PySD writes each macro into a module of its own beside the translation (in the cache):
    the translation reads it from there, not from the model's folder."""
    import warnings

    import numpy as np

    monkeypatch.setenv("SDNET_CACHE_DIR", str(tmp_path / "cache"))
    source = Path(__file__).resolve().parent / "engine" / "data" / "pipeline.mdl"
    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copy(source, folder)
    with warnings.catch_warnings():  # PySD says when it rounds or lowers a delay's order
        warnings.filterwarnings("ignore", "(?s).*[Cc]asting delay order", UserWarning)
        model = load_model(folder / "pipeline.mdl")
        result = model.run(variables=["Shipped", "Ordered"])
    assert sorted(p.name for p in folder.iterdir()) == ["pipeline.mdl"]  # nothing written
    engine = compile_model(folder / "pipeline.mdl").simulate({}, n_runs=1)
    for column in ("Shipped", "Ordered"):
        np.testing.assert_array_equal(result[column].to_numpy(), engine.outputs[column][0])
