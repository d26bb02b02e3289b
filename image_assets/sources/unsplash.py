"""Unsplash: the photos uploaded on one UTC day, from the latest-first `GET /photos` feed.

Its guidelines shape the client: attribution links carry utm parameters, and every photo actually
downloaded is reported through its `links.download_location` (an authorised API call).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

from image_assets.sources import statuses
from image_assets.sources.base import Download, DownloadError, ImageRecord, Source, SourceError
from image_assets.sources.dated import FeedItem, select_day, utc_now
from image_assets.sources.fetch import HostAllowlist, ImageFetcher
from image_assets.sources.http import ApiClient, Throttle
from image_assets.sources.settings import HttpSettings, PartitionLimits

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.unsplash.com"
DEFAULT_IMAGE_HOSTS = ("images.unsplash.com",)
PER_PAGE = 30  # the API maximum
QUOTA_WINDOW = 3600.0  # hourly quota, and no reset header to say when it rolls over


def parse_time(value: Any) -> dt.datetime | None:
    """ISO-8601 with an offset (e.g. 2016-05-03T11:00:28-04:00) to an aware UTC datetime."""
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(dt.UTC) if parsed.tzinfo else None


def with_utm(url: str | None, app_name: str) -> str | None:
    """Add the referral parameters the attribution guideline asks for."""
    if not url:
        return url
    sep = "&" if urlsplit(url).query else "?"
    return f"{url}{sep}{urlencode({'utm_source': app_name, 'utm_medium': 'referral'})}"


def is_premium(photo: dict[str, Any]) -> bool:
    """Unsplash+ photos are not under the free licence; the flag name has varied, so check all signs."""
    raw = (photo.get("urls") or {}).get("raw") or ""
    return bool(photo.get("premium") or photo.get("plus")) or urlsplit(raw).hostname == "plus.unsplash.com"


class UnsplashSource(Source):
    name = "unsplash"

    def __init__(
        self,
        access_key: str,
        *,
        base_url: str = DEFAULT_API_URL,
        app_name: str = "imgpipe",
        limits: PartitionLimits | None = None,
        settings: HttpSettings | None = None,
        allowlist: HostAllowlist | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        if not access_key:
            raise SourceError(
                "Unsplash needs an access key: set UNSPLASH_ACCESS_KEY (register an app at "
                "https://unsplash.com/developers)"
            )
        self.settings = settings or HttpSettings()
        self.limits = limits or PartitionLimits()
        self.app_name = app_name
        self.clock = clock
        throttle = Throttle(
            self.name, self.settings, min_interval=self.settings.request_interval or 0.0, window=QUOTA_WINDOW
        )
        self.api = ApiClient(
            self.name,
            base_url,
            settings=self.settings,
            throttle=throttle,
            headers={"Authorization": f"Client-ID {access_key}", "Accept-Version": "v1"},
            secrets=[access_key],
            key_hint="UNSPLASH_ACCESS_KEY",
        )
        # images.unsplash.com requests do not count against the API quota: no throttle there.
        self.fetcher = ImageFetcher(self.name, allowlist or HostAllowlist.of(DEFAULT_IMAGE_HOSTS), self.settings)

    def discover(self, day: dt.date, *, limit: int | None = None) -> Iterator[ImageRecord]:
        return select_day(self.name, day, self._page, self._record, limits=self.limits, limit=limit, now=self.clock())

    def _page(self, page: int) -> tuple[list[FeedItem], bool]:
        body, resp = self.api.get_json(self.api.url("photos"), {"page": page, "per_page": PER_PAGE})
        if not isinstance(body, list):
            raise SourceError("unsplash: unexpected response shape from /photos (expected a JSON array)")
        items = []
        for photo in body:
            created = parse_time(photo.get("created_at")) if isinstance(photo, dict) else None
            if created is None or not photo.get("id"):
                log.warning("unsplash: skipping a listed item without id or created_at")
                continue
            # The feed may be ordered by feature time (promoted_at) rather than upload time.
            feed_time = max(created, parse_time(photo.get("promoted_at")) or created)
            items.append(FeedItem(str(photo["id"]), created, feed_time, photo))
        # Lists end where the Link header has no rel="next"; without a Link header, at a short page.
        is_last = "next" not in resp.links if "Link" in resp.headers else len(body) < PER_PAGE
        return items, is_last

    def _record(self, item: FeedItem) -> ImageRecord | None:
        photo = item.data
        if is_premium(photo):
            log.info("unsplash: skipping Unsplash+ photo %s (not under the free licence)", item.source_id)
            return None
        urls, links = photo.get("urls") or {}, photo.get("links") or {}
        user = photo.get("user") or {}
        if not urls.get("raw"):
            log.warning("unsplash: skipping photo %s without urls.raw", item.source_id)
            return None
        name = user.get("name") or user.get("username") or "an unknown photographer"
        profile = with_utm((user.get("links") or {}).get("html"), self.app_name)
        home = with_utm("https://unsplash.com/", self.app_name)
        return ImageRecord(
            source=self.name,
            source_id=item.source_id,
            image_url=urls["raw"],
            page_url=with_utm(links.get("html"), self.app_name),
            width=photo.get("width"),
            height=photo.get("height"),
            photographer=user.get("name") or user.get("username"),
            photographer_url=profile,
            description=photo.get("description") or photo.get("alt_description"),
            color=photo.get("color"),
            created_at=item.created,
            attribution=f"Photo by {name} ({profile}) on Unsplash ({home})",
            download_location=links.get("download_location"),
            raw=photo,
        )

    def download(self, record: ImageRecord) -> Download:
        """Fetch the bytes, then report the download to Unsplash; a photo it cannot report is not kept."""
        if record.source != self.name:
            raise DownloadError(statuses.REFUSED, f"record from {record.source!r} given to unsplash")
        location = record.download_location
        if not location or not self.api.same_origin(location):
            # Never send the key anywhere but the configured API.
            raise DownloadError(statuses.REFUSED, "links.download_location is missing or not on the API host")
        data = self.fetcher.fetch(record.image_url)
        try:
            self.api.get(location)  # verbatim, keeping its ixid query parameter
        except SourceError as exc:
            raise DownloadError(statuses.HTTP_ERROR, f"download tracking call failed: {exc}") from None
        return data

    def close(self) -> None:
        self.api.close()
        self.fetcher.close()
