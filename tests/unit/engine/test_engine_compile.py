"""Compiling: the parameter table, the compile cache keyed by the file's hash, and the errors
for missing files and unsupported constructs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import DATA

from sdnet.engine import CompiledModel, cache_dir, compile_model
from sdnet.errors import ModelNotFoundError, UnsupportedConstructError
from sdnet.params import kind_from_comment


def test_parameter_table_has_kinds_ranges_and_control_variables() -> None:
    model = compile_model(DATA / "kitchen.mdl")
    table = model.parameters
    assert table["growth_rate"].kind == "lever"
    assert table["Adjustment Time"].kind == "uncertain"
    assert table["shipping_delay"].kind == "region"
    assert table["threshold"].kind == "constant"
    assert (table["growth_rate"].lower, table["growth_rate"].upper) == (0.0, 0.2)
    assert table["growth_rate"].units == "1/Year"
    assert table["growth_rate"].description == kind_from_comment(
        "[lever] Growth of demand per year."
    )[1]
    control = table.of_kind("control")
    assert sorted(control) == ["final_time", "initial_time", "saveper", "time_step"]
    # SAVEPER = TIME STEP * 2 is evaluated
    assert table["saveper"].default == 2 * table["time_step"].default
    # subscripted constants are settable but are not scalar parameters
    assert "base_demand" not in table


def test_compiled_models_are_cached_by_file_hash(tmp_path: Path, private_cache: Path) -> None:
    model_file = tmp_path / "decay.mdl"
    shutil.copy(DATA / "decay.mdl", model_file)
    before = set(tmp_path.iterdir())
    first = compile_model(model_file)
    assert isinstance(first, CompiledModel)
    assert compile_model(model_file) is first
    assert cache_dir() == private_cache / "engine"
    cached = list(cache_dir().glob(f"{first.sha256}-*.json"))
    assert len(cached) == 1
    # nothing is written beside the model file
    assert set(tmp_path.iterdir()) == before
    text = model_file.read_text(encoding="utf-8")
    model_file.write_text(text.replace("0.5\n\t~\t1/Year", "0.25\n\t~\t1/Year"), encoding="utf-8")
    second = compile_model(model_file)
    assert second.sha256 != first.sha256
    assert second.parameters["decay_rate"].default == 0.25
    assert first.parameters["decay_rate"].default == 0.5
    assert len(list(cache_dir().glob("*.json"))) == 2


def test_a_cached_compilation_gives_the_same_results(tmp_path: Path) -> None:
    model_file = tmp_path / "kitchen.mdl"
    shutil.copy(DATA / "kitchen.mdl", model_file)
    fresh = compile_model(model_file)
    from sdnet.engine import model as engine_model

    engine_model._MEMORY.clear()
    reloaded = compile_model(model_file)
    assert reloaded is not fresh
    a = fresh.simulate({}, n_runs=1)
    b = reloaded.simulate({}, n_runs=1)
    assert a.outputs.keys() == b.outputs.keys()
    for column in a.outputs:
        assert (a.outputs[column] == b.outputs[column]).all()


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        compile_model(tmp_path / "nope.mdl")
    assert str(info.value) == (
        f"model file not found: {tmp_path / 'nope.mdl'} (give the path of a Vensim .mdl file)"
    )


def test_unsupported_construct_fails_at_compile_time() -> None:
    path = DATA / "unsupported.mdl"
    with pytest.raises(UnsupportedConstructError) as info:
        compile_model(path)
    assert str(info.value) == (
        f"the vectorized engine does not support the function RANDOM_UNIFORM (in variable "
        f"'Shipped' of {path}); PySD can still run this model one run at a time (engine='pysd')"
    )
    assert info.value.construct == "the function RANDOM_UNIFORM"
    assert info.value.variable == "Shipped"


def test_generated_source_is_readable() -> None:
    source = compile_model(DATA / "decay.mdl").source(["Level"])
    assert source.startswith("def _make(")
    assert "d_z1 = -v_decay_rate*v_level" in source
