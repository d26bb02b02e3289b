"""Spark slices of balanced work: images vary from 0.1 to 24 megapixels, so slices are sized by pixels, not count."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence

SLICES_PER_CORE = 4  # enough slices that one big photo cannot leave a core idle for long ...
ITEMS_PER_SLICE = 8  # ... and small enough that progress (counted per finished task) moves steadily


def balanced_slices[T](items: Sequence[T], weight: Callable[[T], float], parallelism: int) -> list[list[T]]:
    """Split `items` into slices of nearly equal total weight: `parallelism * SLICES_PER_CORE` of them, or more
    when that leaves over `ITEMS_PER_SLICE` items a slice.

    Longest-processing-time first: heaviest item into the lightest slice, which keeps the heaviest slice within
    4/3 of the optimum. Empty slices are dropped; order inside a slice is heaviest first.
    """
    if not items:
        return []
    count = max(1, min(len(items), max(parallelism * SLICES_PER_CORE, -(-len(items) // ITEMS_PER_SLICE))))
    heap: list[tuple[float, int]] = [(0.0, index) for index in range(count)]
    slices: list[list[T]] = [[] for _ in range(count)]
    for item in sorted(items, key=weight, reverse=True):
        load, index = heapq.heappop(heap)
        slices[index].append(item)
        heapq.heappush(heap, (load + max(float(weight(item)), 1.0), index))
    return [s for s in slices if s]
