"""Hand freed heap memory back to the OS when holding it would matter (glibc; nothing elsewhere).

Band-sized blocks (factors, the spectrum's and trials' temporaries) live in the heap between live ones; once freed
they stay resident under what comes next (the canvas, the payload), so the resident peak could exceed the
allocated one by several bytes per pixel. `malloc_trim` hands them back, but every page handed back is faulted in
again by the next allocation that reuses it (~4 us per 4 KiB page on the development VM: ~4,400 faults, ~15 ms, of
a 1080p encode's ~110 ms when it trimmed unconditionally). So the encoder trims only when the heap holds more free
memory than `KEEP_FREE_BYTES_PER_PIXEL` of the image: photos never get there (0-5.5 bytes per pixel free at the
trim points), noise-like images, whose factors are recomputed band by band, do (6-13).
"""

from __future__ import annotations

import ctypes
import functools

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


def trim_heap(image: np.ndarray) -> bool:
    """Hand free heap memory back if there is more than `KEEP_FREE_BYTES_PER_PIXEL` per pixel of `image` (the one
    being encoded); returns whether it trimmed."""
    libc = _libc()
    if libc is None:
        return False
    free = free_heap_bytes()
    if free is not None and free <= KEEP_FREE_BYTES_PER_PIXEL * image.shape[0] * image.shape[1]:
        return False
    libc.malloc_trim(0)
    return True
