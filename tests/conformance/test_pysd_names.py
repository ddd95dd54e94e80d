"""sdnet's names equal PySD's on every variable of the conformance suite (issue 11, defect 4).

The facade reads names from PySD's translation and the engine computes them with
:func:`sdnet.params.python_names`; both must be PySD's. PySD's builder names a section's
variables with its ``NamespaceManager`` in file order; this test does the same on each model's
abstract model and compares. The models are read in place from ``../shared/conformance``.
"""

from __future__ import annotations

import builtins
import keyword
import warnings
from pathlib import Path

import pytest

from sdnet import translation
from sdnet.params import PYSD_RESERVED, python_names

CONFORMANCE = Path(__file__).resolve().parents[2].parent / "shared" / "conformance"
MODELS = (
    sorted(p for p in CONFORMANCE.glob("*/*.mdl")) if CONFORMANCE.is_dir() else []
)


def test_pysd_reserved_words_are_pysds() -> None:
    from pysd.builders.python.namespace import NamespaceManager

    pysd = {w for w in NamespaceManager._reserved_words if w == w.lower()}
    ours = set(keyword.kwlist) | set(dir(builtins)) | PYSD_RESERVED
    assert {w for w in pysd if not w.startswith("_")} == {
        w for w in ours if w == w.lower() and not w.startswith("_")
    }


@pytest.mark.skipif(
    not MODELS, reason=f"conformance models not found at {CONFORMANCE} (../shared/conformance)"
)
def test_every_name_of_the_suite_is_named_as_pysd_names_it() -> None:
    from pysd.builders.python.namespace import NamespaceManager

    compared = 0
    differences = []
    for path in MODELS:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                abstract = translation.read_abstract_model(path)
        except Exception:
            continue
        main = next(s for s in abstract.sections if s.name == "__main__")
        names = [e.name for e in main.elements]
        pysd = NamespaceManager(main.params)
        for name in names:
            pysd.add_to_namespace(name)
        ours = python_names(names)
        for name in names:
            compared += 1
            if ours[name] != pysd.namespace[name]:
                theirs = pysd.namespace[name]
                differences.append(f"{path.name}: {name!r} -> {ours[name]} (PySD {theirs})")
    assert compared > 500
    assert not differences, "\n".join(differences)
