"""Per-stage wall time of encodes and decodes, for benchmarks: `with collect() as times: encode(...)` fills
`times` (stage name -> seconds, summed over calls). Outside `collect` a stage costs one attribute lookup."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

_active: dict[str, float] | None = None


@contextmanager
def collect() -> Iterator[dict[str, float]]:
    """Record the stages run inside the block (not thread-safe: one collector at a time)."""
    global _active
    previous, _active = _active, {}
    try:
        yield _active
    finally:
        _active = previous


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time the block under `name` when a collector is active."""
    if _active is None:
        yield
        return
    start = time.perf_counter()
    try:
        yield
    finally:
        if _active is not None:
            _active[name] = _active.get(name, 0.0) + time.perf_counter() - start
