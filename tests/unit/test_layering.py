"""Imports go one way: the layer order of docs/architecture.md, checked by parsing sdnet with ast.

The layers are read from the diagram in docs/architecture.md, so the contract and this test
cannot drift apart. A module may import sdnet modules of its own layer or of layers above it
(earlier in the diagram); the special rules of the contract are checked on top.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "sdnet"
CONTRACT = ROOT / "docs" / "architecture.md"


def _layers() -> dict[str, int]:
    """Layer name (``"model"``, ``"engine"``) -> rank (0 at the top) from the contract."""
    text = CONTRACT.read_text(encoding="utf-8")
    section = text.split("## Layers", 1)[1]
    block = section.split("```", 2)[1]
    ranks: dict[str, int] = {}
    for rank, line in enumerate(line for line in block.splitlines() if line.strip()):
        parts = re.split(r"\s{2,}", line.strip())
        for part in parts[:-1] if len(parts) > 1 else parts:
            for name in part.split(","):
                ranks[name.strip().rstrip("/")] = rank
    return ranks


def _layer_of(path: Path) -> str:
    """The layer a source file belongs to: ``sdnet/engine/x.py`` -> ``"engine"``."""
    return path.relative_to(PACKAGE).with_suffix("").parts[0]


def _layer_of_module(module: str) -> str | None:
    """The layer of an imported sdnet module name, or None for ``sdnet`` itself."""
    parts = module.split(".")
    if parts[0] != "sdnet" or len(parts) == 1:
        return None
    return parts[1]


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@functools.cache
def _imports(path: Path) -> tuple[tuple[str, int, bool], ...]:
    """(imported module, line, inside an ``if TYPE_CHECKING:`` block) for every import."""
    return tuple(_find_imports(path))


def _find_imports(path: Path) -> Iterator[tuple[str, int, bool]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                for inner in ast.walk(child):
                    type_only.add(id(inner))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, id(node) in type_only
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            yield module, node.lineno, id(node) in type_only
            for alias in node.names:  # "from sdnet import model" imports a layer too
                if module == "sdnet":
                    yield f"sdnet.{alias.name}", node.lineno, id(node) in type_only


def _where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT)}:{line}"


def test_the_contract_lists_the_layers() -> None:
    ranks = _layers()
    for name in ("errors", "params", "results", "model", "engine", "policy", "cli"):
        assert name in ranks, name
    assert ranks["errors"] < ranks["params"] < ranks["model"] < ranks["cli"]


def test_every_module_has_a_layer() -> None:
    ranks = _layers()
    missing = sorted(
        {_layer_of(p) for p in _sources() if p != PACKAGE / "__init__.py"} - set(ranks)
    )
    assert not missing, (
        f"modules without a layer in docs/architecture.md: {missing}; add them to the diagram"
    )


def test_imports_follow_the_layer_order() -> None:
    ranks = _layers()
    wrong = []
    for path in _sources():
        if path == PACKAGE / "__init__.py":  # the lazy re-exporter names every layer
            continue
        own = _layer_of(path)
        if own not in ranks:
            continue
        for module, line, type_only in _imports(path):
            target = _layer_of_module(module)
            if target is None or target == own or target not in ranks or type_only:
                continue
            if ranks[target] > ranks[own]:
                wrong.append(f"{_where(path, line)}: {own} imports {module} (a lower layer)")
    assert not wrong, "\n".join(wrong)


def _offenders(predicate, allowed) -> list[str]:  # type: ignore[no-untyped-def]
    found = []
    for path in _sources():
        for module, line, _type_only in _imports(path):
            if predicate(module) and not allowed(path):
                found.append(f"{_where(path, line)}: imports {module}")
    return found


# What the engine may take from PySD besides its translators: the subscript manager of its
# builder (copied, mapped and file-defined ranges) and its readers of external data (GET XLS,
# GET DIRECT, data files), so that the engine reads exactly what PySD reads.
ENGINE_PYSD_READERS = (
    "pysd.translators",
    "pysd.builders.python.subscripts",
    "pysd.py_backend.external",
    "pysd.py_backend.data",
    "pysd.py_backend.lookups",
)
# PySD's Python builder writes code from model text: only sdnet.translation runs it, and checks
# what it writes before anything imports it.
PYSD_BUILDER = "pysd.builders.python.python_model_builder"


def _is_pysd_runtime(module: str) -> bool:
    return (module == "pysd" or module.startswith("pysd.")) and not module.startswith(
        (*ENGINE_PYSD_READERS, PYSD_BUILDER)
    )


def test_pysd_readers_only_in_engine() -> None:
    offenders = _offenders(
        lambda m: m.startswith(ENGINE_PYSD_READERS[1:]),
        lambda path: path.is_relative_to(PACKAGE / "engine"),
    )
    assert not offenders, "\n".join(offenders)


def test_pysd_runtime_only_in_model() -> None:
    offenders = _offenders(_is_pysd_runtime, lambda path: path == PACKAGE / "model.py")
    assert not offenders, "\n".join(offenders)


def test_pysd_translators_only_in_translation_and_engine() -> None:
    offenders = _offenders(
        lambda m: m.startswith("pysd.translators"),
        lambda path: path == PACKAGE / "translation.py" or path.is_relative_to(PACKAGE / "engine"),
    )
    assert not offenders, "\n".join(offenders)


def test_pysd_builder_only_in_translation() -> None:
    # model files are turned into code (and the code checked) in one place only
    offenders = _offenders(
        lambda m: m.startswith(PYSD_BUILDER), lambda path: path == PACKAGE / "translation.py"
    )
    assert not offenders, "\n".join(offenders)


def test_model_and_engine_never_import_each_other() -> None:
    offenders = _offenders(
        lambda m: m.startswith("sdnet.engine"), lambda path: path != PACKAGE / "model.py"
    )
    offenders += _offenders(
        lambda m: m == "sdnet.model",
        lambda path: not path.is_relative_to(PACKAGE / "engine"),
    )
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("layer", ["metrics", "sanity", "sensitivity", "plotting"])
def test_analysis_and_plotting_never_import_pysd_or_the_runner(layer: str) -> None:
    def inside(path: Path) -> bool:
        return _layer_of(path) == layer

    offenders = _offenders(
        lambda m: m == "pysd" or m.startswith("pysd.") or m in {"sdnet.runner", "sdnet.model"},
        lambda path: not inside(path),
    )
    assert not offenders, "\n".join(offenders)


def test_results_are_pure_data() -> None:
    offenders = _offenders(
        lambda m: m == "pysd" or m.startswith("pysd.") or m == "sdnet.model",
        lambda path: path != PACKAGE / "results.py",
    )
    assert not offenders, "\n".join(offenders)


def test_only_the_cli_sets_logging() -> None:
    offenders = []
    for path in _sources():
        if path == PACKAGE / "cli.py":
            continue
        text = path.read_text(encoding="utf-8")
        for number, line in enumerate(text.splitlines(), start=1):
            if "logging.basicConfig" in line or ".setLevel(" in line:
                offenders.append(_where(path, number))
    assert not offenders, "\n".join(offenders)
