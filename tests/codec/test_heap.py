"""The encoder hands freed heap memory back only when holding it would matter: the rule's two sides on glibc."""

from __future__ import annotations

import numpy as np

from image_assets.codec import heap


def test_free_heap_is_known_here() -> None:
    """glibc >= 2.33 (Debian 12 has 2.36): without mallinfo2 every call would trim, as before the rule."""
    free = heap.free_heap_bytes()
    assert free is not None and free >= 0


def _blocks(count: int) -> list[np.ndarray]:
    """Heap chunks below the mmap threshold (20 KB each)."""
    return [np.ones(20_000, np.uint8) for _ in range(count)]


def _free_every_other(blocks: list[np.ndarray]) -> None:
    """Holes between live chunks: memory the heap holds free (it cannot shrink past live chunks on its own)."""
    del blocks[::2]


def test_trims_only_past_the_allowance_per_pixel() -> None:
    huge = np.broadcast_to(np.uint8(0), (100_000, 100_000))  # 10^10 pixels, no memory: 6e10 bytes allowed
    tiny = np.zeros((4, 4), np.uint8)  # 96 bytes allowed
    blocks = _blocks(200)
    trimmer = heap.HeapTrimmer()
    _free_every_other(blocks)  # ~2 MB freed after the call began
    free = heap.free_heap_bytes()
    assert free is not None and free > 1_000_000
    assert not trimmer.trim(huge)
    assert heap.free_heap_bytes() >= free - 65_536  # kept (give or take what the calls themselves freed)
    assert trimmer.trim(tiny)
    del blocks


def test_free_memory_from_before_the_encode_is_not_its_own() -> None:
    """A process encoding image after image finds the last one's freed memory in the heap: that was resident before
    this encode began, so trimming it (and faulting it back in) would not lower this encode's growth."""
    earlier, mine = _blocks(200), _blocks(200)
    _free_every_other(earlier)  # a previous encode's leftovers: ~2 MB free before this one starts
    pixels = np.zeros((300, 300), np.uint8)  # 540 KB allowed
    with heap.call_scope() as trimmer:
        assert not trimmer.trim(pixels)
        _free_every_other(mine)  # this encode frees ~2 MB beyond what it found: past its allowance
        with heap.call_scope() as inner:  # the encode inside a file's decode and encode: the same call
            assert inner is trimmer
        assert trimmer.trim(pixels)
    del earlier, mine
