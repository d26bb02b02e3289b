"""Tunables shared by the HTTP sources: timeouts, retry budget, per-partition limits.

Defaults suit the real APIs; tests shrink the waits so the suite runs in seconds.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class HttpSettings:
    """How hard and how long to try before a request counts as failed."""

    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    #: Wall-clock deadline for one image download, however slowly the bytes trickle in.
    download_timeout: float = 120.0
    #: Attempts per request (first try included) for 429, 5xx, timeouts and connection errors.
    max_attempts: int = 4
    backoff_base: float = 1.0
    backoff_cap: float = 30.0
    #: Longest single wait (Retry-After, quota reset) worth sleeping through; longer ones fail instead.
    max_wait: float = 120.0
    max_image_bytes: int = 50 * 1024 * 1024
    #: Minimum seconds between requests; None means the source's own default (Wallhaven: 1.4 s).
    request_interval: float | None = None
    #: Stop this many requests before a reported quota (X-Ratelimit-Remaining) runs out.
    quota_reserve: int = 2
    user_agent: str = "imgpipe/0.1 (image ingestion pipeline)"
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout, self.read_timeout)


@dataclass(frozen=True)
class PartitionLimits:
    """Bounds on one (source, day) partition, so a backfill cannot turn into a mass download."""

    max_images: int = 100
    max_pages: int = 10
    #: How far past the start of the day to keep paging a newest-first feed (it is not strictly ordered).
    tolerance: dt.timedelta = dt.timedelta(hours=1)

    def cap(self, limit: int | None) -> int:
        """The effective image cap: the caller's limit, never above the configured maximum."""
        return self.max_images if limit is None else max(0, min(limit, self.max_images))
