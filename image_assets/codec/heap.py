"""Hand freed heap memory back to the OS when holding it would matter (glibc; nothing elsewhere).

Band-sized blocks (factors, the spectrum's and trials' temporaries) live in the heap between live ones; once freed
they stay resident under what comes next (the canvas, the payload), so the resident peak could exceed the
allocated one by several bytes per pixel. `malloc_trim` hands them back, but every page handed back is faulted in
again by the next allocation that reuses it (~4 us per 4 KiB page on the development VM). So an encode trims only
when the heap holds more free memory than `KEEP_FREE_BYTES_PER_PIXEL` of the image *beyond what it held free when
the encode began* (that was resident before the call, so it adds nothing to the call's growth): a first encode of
a photo never gets there (0-5.5 bytes per pixel), noise-like images, whose factors are recomputed band by band,
do (6-13). Counting from zero instead, a process encoding photo after photo found the previous encode's free
memory at every trim point and trimmed 3-4 times an encode: ~4,000 page faults, ~15 ms of a 1080p encode's ~85.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

KEEP_FREE_BYTES_PER_PIXEL = 6  # a resident overshoot this small keeps every encode within its 32 bytes per pixel


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks")
    ] + [("keepcost", ctypes.c_size_t)]


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None)
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):
        return None
    if hasattr(libc, "mallinfo2"):  # glibc >= 2.33; without it every call trims
        libc.mallinfo2.restype = _MallInfo2
    return libc


def free_heap_bytes() -> int | None:
    """Bytes the heap holds free (glibc's `fordblks`), or None where that is not known."""
    libc = _libc()
    if libc is None or not hasattr(libc, "mallinfo2"):
        return None
    return int(libc.mallinfo2().fordblks)


class HeapTrimmer:
    """One call's trims of the heap (an encode, or a file's decode and encode): made when the call starts, it notes
    the free memory then."""

    def __init__(self) -> None:
        self.baseline = free_heap_bytes() or 0

    def trim(self, image: np.ndarray) -> bool:
        """Hand free heap memory back if it exceeds the free memory at the start by more than
        `KEEP_FREE_BYTES_PER_PIXEL` of `image` (the one being encoded); returns whether it trimmed."""
        libc = _libc()
        if libc is None:
            return False
        free = free_heap_bytes()
        allowance = KEEP_FREE_BYTES_PER_PIXEL * image.shape[0] * image.shape[1]
        if free is not None and free - self.baseline <= allowance:
            return False
        libc.malloc_trim(0)
        self.baseline = min(self.baseline, free_heap_bytes() or 0)  # what a trim leaves free stays resident
        return True


M_ARENA_MAX = -8  # glibc's mallopt parameter


@functools.cache
def share_one_arena() -> bool:
    """Make threads allocate from the main heap rather than one arena each (glibc; once per process; returns
    whether it took). A codec thread's band-sized blocks, freed in its own arena, were handed back to the OS
    between encodes and faulted in again by the next (0.4k-13k page faults, up to ~50 ms of CPU, in the tile SVDs
    of a 12 MP encode on two threads, none on one); in one heap the next band reuses them on any thread. The
    codec's allocations are few and large, so the arena lock they then share costs nothing measurable."""
    libc = _libc()
    return bool(libc is not None and hasattr(libc, "mallopt") and libc.mallopt(M_ARENA_MAX, 1))


_current: ContextVar[HeapTrimmer | None] = ContextVar("heap_trimmer", default=None)


@contextmanager
def call_scope() -> Iterator[HeapTrimmer]:
    """The trimmer of the outermost call under way in this thread (a new one if none is): a file's decode and its
    encode share one, since the memory the decode frees is the call's growth too."""
    current = _current.get()
    if current is not None:
        yield current
        return
    trimmer = HeapTrimmer()
    token = _current.set(trimmer)
    try:
        yield trimmer
    finally:
        _current.reset(token)
