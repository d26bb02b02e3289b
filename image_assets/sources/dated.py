"""Select one UTC day's uploads from a newest-first feed that shifts while it is read.

Unsplash `GET /photos` and Wallhaven `sorting=date_added&order=desc` list the newest uploads first,
with no date filter. New uploads push items onto later pages mid-read (so ids repeat: dedupe) and the
order is not guaranteed to follow `created_at` (Unsplash may order by feature time), so paging stops
only at a page whose every item is older than the day's start minus a tolerance, judged on the latest
timestamp that could order the feed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from image_assets.sources.base import ImageRecord, SourceError
from image_assets.sources.settings import PartitionLimits


def utc_now() -> dt.datetime:
    """The default clock of the dated sources (tests pass their own)."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class FeedItem:
    """One listed item: `created` (UTC) picks the day, `feed_time` (UTC, >= created) decides when to stop."""

    source_id: str
    created: dt.datetime
    feed_time: dt.datetime
    data: dict[str, Any]


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=1)


def select_day(
    source: str,
    day: dt.date,
    fetch_page: Callable[[int], tuple[list[FeedItem], bool]],
    to_record: Callable[[FeedItem], ImageRecord | None],
    *,
    limits: PartitionLimits,
    limit: int | None,
    now: dt.datetime,
) -> Iterator[ImageRecord]:
    """Yield the records uploaded on `day` (UTC). `fetch_page(n)` returns (items, is_last_page).

    `to_record` runs only for items of the day (it may cost a details call) and may return None to
    skip an item. Raises SourceError for a future day, or when the page budget ends before the feed
    reaches the day's start, since the partition would silently be incomplete.
    """
    start, end = day_bounds(day)
    if start > now:
        raise SourceError(f"{source}: {day} is in the future")
    cap = limits.cap(limit)
    if cap == 0:
        return
    cutoff = start - limits.tolerance
    seen: set[str] = set()
    count = 0
    for page in range(1, limits.max_pages + 1):
        items, is_last = fetch_page(page)
        for item in items:
            if item.source_id in seen:
                continue
            seen.add(item.source_id)
            if not start <= item.created < end:
                continue
            record = to_record(item)
            if record is None:
                continue
            yield record
            count += 1
            if count >= cap:
                return
        if is_last or not items or all(item.feed_time < cutoff for item in items):
            return
    raise SourceError(
        f"{source}: read IMGPIPE_MAX_PAGES={limits.max_pages} pages without reaching the start of {day}; "
        "raise IMGPIPE_MAX_PAGES (mind the API's rate limit) or pick a more recent day"
    )
