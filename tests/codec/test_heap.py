"""The encoder hands freed heap memory back only when holding it would matter: the rule's two sides on glibc."""

from __future__ import annotations

import numpy as np

from image_assets.codec import heap


def test_free_heap_is_known_here() -> None:
    """glibc >= 2.33 (Debian 12 has 2.36): without mallinfo2 every call would trim, as before the rule."""
    free = heap.free_heap_bytes()
    assert free is not None and free >= 0


def test_trims_only_past_the_allowance_per_pixel() -> None:
    blocks = [np.ones(20_000, np.uint8) for _ in range(200)]  # heap chunks (below the mmap threshold) ...
    del blocks[::2]  # ... half of them freed between live ones: ~2 MB the heap holds free
    free = heap.free_heap_bytes()
    assert free is not None and free > 1_000_000
    huge = np.broadcast_to(np.uint8(0), (100_000, 100_000))  # 10^10 pixels, no memory: 6e10 bytes allowed
    assert not heap.trim_heap(huge)
    assert heap.free_heap_bytes() >= free - 65_536  # kept (give or take what the calls themselves freed)
    tiny = np.zeros((4, 4), np.uint8)  # 96 bytes allowed
    assert heap.trim_heap(tiny)
    del blocks
