"""Per-image progress of a long step: done/total, images per second and an ETA, reported at most every few seconds."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Progress:
    """Counts finished images and hands a one-line report to `emit` (a logger, a progress bar)."""

    total: int
    emit: Callable[[str], None]
    label: str = "encoded"
    every_s: float = 5.0
    clock: Callable[[], float] = time.monotonic
    done: int = 0
    started: float = field(default=0.0)
    _last: float = field(default=float("-inf"))

    def __post_init__(self) -> None:
        self.started = self.clock()

    def line(self) -> str:
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        eta_text = f"{eta:.0f} s" if eta != float("inf") else "?"
        return f"{self.label} {self.done}/{self.total} images ({rate:.2f} images/s, ETA {eta_text})"

    def update(self, done: int, *, force: bool = False) -> None:
        self.done = min(max(done, self.done), self.total)
        now = self.clock()
        if force or now - self._last >= self.every_s:
            self._last = now
            self.emit(self.line())


class Stopwatch:
    """Seconds spent per named stage, summed over repeats: `with watch("listing"): ...`.

    Assets put `watch.metadata()` on their materializations, which is where `benchmarks/pipeline.py` reads its
    per-stage table from."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        started = self.clock()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + self.clock() - started

    def metadata(self) -> dict[str, float]:
        return {f"seconds_{stage}": round(value, 3) for stage, value in self.seconds.items()}
