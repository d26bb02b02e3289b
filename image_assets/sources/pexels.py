"""Pexels: the curated feed and/or search queries, partitioned by the day they were fetched.

Pexels photos carry no upload date and no endpoint sorts or filters by one, so a partition holds what
the feeds showed on the day it ran; any other day cannot be reproduced and is refused.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from image_assets.sources.base import Download, DownloadError, ImageRecord, Source, SourceError
from image_assets.sources.dated import utc_now
from image_assets.sources.fetch import HostAllowlist, ImageFetcher
from image_assets.sources.http import ApiClient, Throttle
from image_assets.sources.settings import HttpSettings, PartitionLimits

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.pexels.com/v1"
DEFAULT_IMAGE_HOSTS = ("images.pexels.com",)
CURATED = "curated"
MAX_PER_PAGE = 80


class PexelsSource(Source):
    name = "pexels"

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_API_URL,
        feeds: Sequence[str] = (CURATED,),
        limits: PartitionLimits | None = None,
        settings: HttpSettings | None = None,
        allowlist: HostAllowlist | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        if not api_key:
            raise SourceError("Pexels needs an API key: set PEXELS_API_KEY (free at https://www.pexels.com/api/)")
        self.settings = settings or HttpSettings()
        self.limits = limits or PartitionLimits()
        self.feeds = tuple(feeds) or (CURATED,)
        self.clock = clock
        interval = self.settings.request_interval or 0.0
        self.api = ApiClient(
            self.name,
            base_url,
            settings=self.settings,
            throttle=Throttle(self.name, self.settings, min_interval=interval),
            headers={"Authorization": api_key},  # the raw key, no "Bearer" prefix
            secrets=[api_key],
            key_hint="PEXELS_API_KEY",
        )
        self.fetcher = ImageFetcher(self.name, allowlist or HostAllowlist.of(DEFAULT_IMAGE_HOSTS), self.settings)

    def discover(self, day: dt.date, *, limit: int | None = None) -> Iterator[ImageRecord]:
        today = self.clock().astimezone(dt.UTC).date()
        if day != today:
            raise SourceError(
                f"pexels: photos have no upload date, so a Pexels partition is the day it was fetched; "
                f"{day} cannot be reproduced (only today, {today}, can be ingested)"
            )
        cap = self.limits.cap(limit)
        seen: set[str] = set()  # pages shift and feeds overlap: one record per photo id
        for feed in self.feeds:
            if len(seen) >= cap:
                return
            for photo in self._feed(feed, per_page=min(MAX_PER_PAGE, cap)):
                record = self._record(photo)
                if record is None or record.source_id in seen:
                    continue
                seen.add(record.source_id)
                yield record
                if len(seen) >= cap:
                    return

    def _feed(self, feed: str, *, per_page: int) -> Iterator[dict[str, Any]]:
        """The photos of one feed (curated, or one search query), page by page up to the page limit."""
        path, params = (CURATED, {}) if feed == CURATED else ("search", {"query": feed})
        for page in range(1, self.limits.max_pages + 1):
            body, _ = self.api.get_json(self.api.url(path), {**params, "page": page, "per_page": per_page})
            photos = body.get("photos") if isinstance(body, dict) else None
            if not isinstance(photos, list):
                raise SourceError(f"pexels: unexpected response shape from /{path} (no 'photos' list)")
            yield from (p for p in photos if isinstance(p, dict))
            # next_page is a full URL on api.pexels.com; only its presence matters, so the key never
            # follows a URL taken from a response.
            if not body.get("next_page") or not photos:
                return

    def _record(self, photo: dict[str, Any]) -> ImageRecord | None:
        src = photo.get("src") or {}
        original = src.get("original") if isinstance(src, dict) else None
        if photo.get("id") is None or not original:
            log.warning("pexels: skipping a photo without id or src.original")
            return None
        name = photo.get("photographer") or "an unknown photographer"
        return ImageRecord(
            source=self.name,
            source_id=str(photo["id"]),
            image_url=original,
            page_url=photo.get("url"),
            width=photo.get("width"),
            height=photo.get("height"),
            photographer=photo.get("photographer"),
            photographer_url=photo.get("photographer_url"),
            description=photo.get("alt") or None,
            color=photo.get("avg_color"),
            created_at=None,
            attribution=f"Photo by {name} on Pexels",
            raw=photo,
        )

    def download(self, record: ImageRecord) -> Download:
        if record.source != self.name:
            raise DownloadError("refused", f"record from {record.source!r} given to pexels")
        return self.fetcher.fetch(record.image_url)

    def close(self) -> None:
        self.api.close()
        self.fetcher.close()
