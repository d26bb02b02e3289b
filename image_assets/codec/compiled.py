"""Compilation options shared by the codec's numba kernels.

`NO_REFCOUNTS` compiles a kernel without numba's reference counting. numba counts references to every array an
inlined helper receives, and where the helper branches the counts survive its optimiser: two atomic instructions
per array per call, each draining the store buffer. A loop calling such helpers per tile or per symbol spent a
fifth of its time there (tiles to plane at 1080p: 3.2 -> 2.6 ms without them; see docs/results). Compiled this
way a kernel cannot allocate, so a kernel that needs scratch arrays is a thin wrapper that allocates them and a body
compiled without counts (`tests/codec/test_compiled.py` checks the hot loops' machine code).
"""

from typing import Any

# numba 0.68's target option (underscored: its own tests use it, its docs do not mention it; uv.lock pins numba)
NO_REFCOUNTS: dict[str, Any] = {"_nrt": False}
