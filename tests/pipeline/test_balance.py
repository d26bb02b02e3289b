"""Pixel-balanced Spark slices and per-image progress lines."""

from __future__ import annotations

import random

from image_assets.pipeline.balance import ITEMS_PER_SLICE, SLICES_PER_CORE, balanced_slices
from image_assets.pipeline.progress import Progress
from image_assets.resources.spark import with_local_retries


def test_slices_balance_pixels_not_counts() -> None:
    rng = random.Random(7)
    sizes = [rng.choice([0.1, 0.5, 2, 2, 2, 12, 24]) * 1e6 for _ in range(200)]
    slices = balanced_slices(sizes, float, parallelism=2)
    assert len(slices) == 200 // ITEMS_PER_SLICE  # more than 2 * SLICES_PER_CORE: progress moves in small steps
    assert sorted(x for s in slices for x in s) == sorted(sizes)  # every item exactly once
    loads = [sum(s) for s in slices]
    assert max(loads) <= 1.34 * (sum(sizes) / len(slices)) + max(sizes)  # LPT bound
    assert max(loads) / min(loads) < 1.6
    # Equal counts would not balance: the same photos split 25 a slice load far less evenly.
    naive = [sum(sizes[i : i + ITEMS_PER_SLICE]) for i in range(0, 200, ITEMS_PER_SLICE)]
    assert max(naive) / min(naive) > 1.3 and len(set(map(len, slices))) > 1


def test_few_items_make_few_slices() -> None:
    assert balanced_slices([], float, 4) == []
    assert sorted(map(len, balanced_slices([1.0, 2.0, 3.0], float, 4))) == [1, 1, 1]
    assert len(balanced_slices([1.0] * 20, float, 2)) == 2 * SLICES_PER_CORE


def test_progress_reports_rate_and_eta() -> None:
    now = [100.0]
    lines: list[str] = []
    progress = Progress(total=10, emit=lines.append, every_s=5, clock=lambda: now[0])
    now[0] = 102.0
    progress.update(4)
    now[0] = 103.0
    progress.update(5)  # within 5 s of the last line: quiet
    progress.update(10, force=True)
    assert lines == ["encoded 4/10 images (2.00 images/s, ETA 3 s)", "encoded 10/10 images (3.33 images/s, ETA 0 s)"]


def test_local_masters_get_task_retries() -> None:
    assert with_local_retries("local[*]") == "local[*,3]"
    assert with_local_retries("local[2]") == "local[2,3]"
    assert with_local_retries("local[2,5]") == "local[2,5]"
    assert with_local_retries("spark://h:7077") == "spark://h:7077"
