"""Compilation options shared by the codec's numba kernels.

`NO_REFCOUNTS` compiles a kernel without numba's reference counting. numba counts references to every array an
inlined helper receives, and where the helper branches the counts survive its optimiser: two atomic instructions
per array per call, each draining the store buffer. A loop calling such helpers per tile or per symbol spent a
fifth of its time there (tiles to plane at 1080p: 3.2 -> 2.6 ms without them; see docs/results). Compiled this
way a kernel cannot allocate, so a kernel that needs scratch arrays is a thin wrapper that allocates them and a body
compiled without counts (`tests/codec/test_compiled.py` checks every loop kernel is one or the other).
"""

from typing import Any

NO_REFCOUNTS: dict[str, Any] = {"_nrt": False}  # numba 0.68 target option (underscored: used by its own tests, not in its docs)
