"""No text of a model file ever runs as code, whichever engine runs it (issue 11, defect 1).

PySD 3.14 copied each variable's documentation unescaped into a docstring of the module it
generates: a comment closing that docstring ran its payload on ``describe``, ``run`` (both
engines) and ``experiment``. Each model of ``injection_corpus`` carries a payload that would
create a marker file; every test asserts that the file never appears, whatever sdnet does with
the model (load it, run it with PySD and with the vectorized engine, run a study of it, or
refuse it with a clear error).
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from injection_corpus import DOUBLE, HARMLESS, MDL, XMILE

from sdnet import translation
from sdnet.cli import main
from sdnet.engine import compile_model
from sdnet.engine.model import CompiledModel
from sdnet.errors import (
    SdnetError,
    SdnetWarning,
    UnsafeModelError,
)
from sdnet.experiment import run_experiment
from sdnet.model import load_model

CORPUS = {
    **{k: (v, ".mdl") for k, v in MDL.items()},
    **{k: (v, ".xmile") for k, v in XMILE.items()},
}


def _write(folder: Path, text: str, suffix: str = ".mdl") -> tuple[Path, Path]:
    """The model file (payload aimed at ``folder/MARKER``) and the marker's path."""
    marker = folder / "MARKER"
    path = folder / f"model{suffix}"
    path.write_text(text.replace("{mark}", str(marker)).format(), encoding="utf-8")
    return path, marker


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_no_model_text_runs_on_load_or_either_engine(
    case: str, tmp_path: Path, cache: Path
) -> None:
    text, suffix = CORPUS[case]
    path, marker = _write(tmp_path, text, suffix)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model = load_model(path)
        except SdnetError as error:  # refusing is fine: naming the file, never a traceback
            assert str(path) in str(error)
            model = None
        if model is not None:
            assert "stock" in model.variables.index  # what describe shows
            result = model.run()
            assert np.isfinite(result.frame.to_numpy()).all()
        if suffix == ".mdl":
            try:
                compiled = compile_model(path)
            except SdnetError:
                compiled = None
            if compiled is not None:
                try:
                    simulation = compiled.simulate({}, n_runs=2)
                except SdnetError as error:  # e.g. an external file that is not there
                    assert str(path) in str(error) or "Flow" in str(error)
                else:
                    assert simulation.ok.all()
    assert not marker.exists()


def test_describe_and_run_on_the_command_line_run_nothing(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, marker = _write(tmp_path, MDL["documentation"])
    monkeypatch.chdir(tmp_path)
    assert main(["describe", str(path)]) == 0
    for engine in ("pysd", "vector"):
        assert main(["run", str(path), "--engine", engine, "--out", str(tmp_path / engine)]) == 0
    assert not marker.exists()


def test_a_study_of_the_model_runs_nothing(tmp_path: Path, cache: Path) -> None:
    tiny = (Path(__file__).resolve().parents[1] / "data" / "tiny_network.mdl").read_text("utf-8")
    payload = 'x """ + str(' + DOUBLE + ') + """ y'
    text = tiny.replace("Member firms.", payload, 1).replace("{", "{{").replace("}", "}}")
    path, marker = _write(tmp_path, text.replace("{{mark}}", "{mark}"))
    assert payload.split("(")[0] in path.read_text("utf-8")
    study = tmp_path / "study.toml"
    study.write_text(
        '[experiment]\nname = "inject"\nmodel = "model.mdl"\nseed = 1\n'
        '[[factors]]\nname = "push_duration"\nbounds = [0, 8]\n'
        '[design]\nmethod = "lhs"\nn = 4\n'
        '[[metrics]]\nname = "m"\nvariable = "Trust"\nreducer = "peak"\n',
        encoding="utf-8",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SdnetWarning)  # the integration check's advice
        run_experiment(study, progress=False, out=tmp_path / "out")
    assert (tmp_path / "out" / "metrics.csv").is_file()
    assert not marker.exists()


def test_three_quotes_in_a_comment_load_and_run(tmp_path: Path, cache: Path) -> None:
    path, _ = _write(tmp_path, HARMLESS)
    model = load_model(path)
    assert model.variables.loc["flow", "description"] == 'He said """hello""" and left.'
    # Euler with a step of one year: Stock(4) = 1.1 ** 4
    assert model.run()["Stock"].iloc[-1] == pytest.approx(1.1**4, rel=1e-12)
    assert compile_model(path).simulate({}, n_runs=1).outputs["Stock"][0, -1] == pytest.approx(
        1.1**4, rel=1e-12
    )


def test_a_tampered_cached_translation_is_checked_before_it_is_imported(
    tmp_path: Path, cache: Path
) -> None:
    path, marker = _write(tmp_path, HARMLESS)
    model = load_model(path)
    cached = model._py_file
    payload = f'\n__import__("pathlib").Path(r"{marker}").touch()\n'
    cached.write_text(cached.read_text(encoding="utf-8") + payload, encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = load_model(path)  # refused, translated afresh
    assert not marker.exists()
    assert payload not in again._py_file.read_text(encoding="utf-8")
    assert f"sdnet{translation.FORMAT}" in again._py_file.parent.name


def test_engine_code_is_checked_before_it_runs(tmp_path: Path, cache: Path) -> None:
    path, marker = _write(tmp_path, HARMLESS)
    compiled = compile_model(path)
    payload = f"__import__('pathlib').Path(r'{marker}').touch()"
    nodes = [dataclasses.replace(n, code=payload) if i == 0 else n
             for i, n in enumerate(compiled.ir.nodes)]
    bad = dataclasses.replace(compiled.ir, nodes=nodes)
    with pytest.raises(UnsafeModelError, match="would become code"):
        CompiledModel(bad, path=path, sha256=compiled.sha256).simulate({}, n_runs=1)
    control = [dataclasses.replace(compiled.ir.control_nodes[0], code=payload),
               *compiled.ir.control_nodes[1:]]
    with pytest.raises(UnsafeModelError, match="would become code"):
        CompiledModel(dataclasses.replace(compiled.ir, control_nodes=control), path=path,
                      sha256=compiled.sha256)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("source", "what"),
    [
        ('def f():\n    """doc"""\n    return __import__("os")\n', "the name __import__"),
        ("import os\n", "an import of os"),
        ("from numpy import load\n", None),
        ("x = np.lib\n", "the attribute .lib"),
        ('def f():\n    """doc"""\n    open("x")\n', "a bare expression in a function"),
        ("def f():\n    return eval('1')\n", "the name eval"),
        ("def f():\n    return (1).__class__\n", "the attribute .__class__"),
        ("f = [x for x in range(3)]\n", "a ListComp construct"),
        ("x = 1\n'not a docstring'\n", "a bare expression"),
    ],
)
def test_the_code_check_refuses_what_pysd_never_writes(source: str, what: str | None) -> None:
    def check() -> None:
        translation.check_generated_code(
            "import numpy as np\n" + source, path=Path("m.mdl"),
            attributes=translation.PYSD_ATTRIBUTES, imports=translation.PYSD_IMPORTS,
        )

    if what is None:
        check()  # importing a name is harmless until it is used
        return
    with pytest.raises(UnsafeModelError) as info:
        check()
    assert what in str(info.value)
    assert str(info.value).startswith("refusing model m.mdl: text of the model file would")


def test_documentation_never_reaches_the_generated_module(tmp_path: Path, cache: Path) -> None:
    path, _ = _write(tmp_path, HARMLESS)
    model = load_model(path)
    source = model._py_file.read_text(encoding="utf-8")
    assert "hello" not in source
    stored = json.loads((model._py_file.parent / "documentation.json").read_text("utf-8"))
    assert stored["Flow"] == 'He said """hello""" and left.'
    assert stored["Rate"] == "[lever] The rate."


def test_a_quote_in_an_external_file_name_is_refused(tmp_path: Path, cache: Path) -> None:
    path, marker = _write(tmp_path, MDL["external_file"])
    with pytest.raises(UnsafeModelError) as info:
        load_model(path)
    assert str(info.value).startswith(f"refusing model {path}: GetConstantsStructure in ")
    assert "'Flow'" in str(info.value)
    with pytest.raises(SdnetError):  # the engine reads the file's text as a file name only
        compile_model(path).simulate({}, n_runs=1)
    assert not marker.exists()
