"""Settings for the whole test suite.

The engine's tests run on its numpy backend unless they ask for another (``backend=`` or
``--engine numba``): numba compiles a kernel per model in seconds, which most tests, each with
its own temporary cache folder, would pay again and again. The two backends give the same
numbers bit for bit; ``tests/unit/engine/test_engine_numba.py`` checks that and the choice.
"""

from __future__ import annotations

import os

os.environ.setdefault("SDNET_BACKEND", "numpy")
