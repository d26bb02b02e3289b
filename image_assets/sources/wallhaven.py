"""Wallhaven: the wallpapers uploaded on one UTC day, from `sorting=date_added&order=desc`.

Its `created_at` has no zone (UTC is unconfirmed), so the zone is a setting. Listings lack the
uploader, so each wallpaper of the day costs one `/w/{id}` call; with 45 calls a minute shared by API
and image requests, everything goes through one throttle spaced 1.4 s apart by default.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, urlsplit

from image_assets.sources import statuses
from image_assets.sources.base import Download, DownloadError, ImageRecord, Source, SourceError
from image_assets.sources.dated import FeedItem, select_day, utc_now
from image_assets.sources.fetch import HostAllowlist, ImageFetcher
from image_assets.sources.http import ApiClient, ApiError, Throttle
from image_assets.sources.settings import HttpSettings, PartitionLimits

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://wallhaven.cc/api/v1"
DEFAULT_IMAGE_HOSTS = ("w.wallhaven.cc",)
DEFAULT_INTERVAL = 1.4  # 45 calls/minute, with margin (gallery-dl waits the same)


def parse_local_time(value: Any, zone: dt.tzinfo) -> dt.datetime | None:
    """`YYYY-MM-DD HH:MM:SS` in `zone` to an aware UTC datetime."""
    if not isinstance(value, str):
        return None
    try:
        naive = dt.datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return naive.replace(tzinfo=zone).astimezone(dt.UTC)


def load_zone(name: str) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SourceError(f"unknown time zone {name!r} in WALLHAVEN_TIMEZONE (use e.g. UTC)") from None


class WallhavenSource(Source):
    name = "wallhaven"

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str = DEFAULT_API_URL,
        query: str | None = None,
        purity: str = "100",
        categories: str = "111",
        timezone: str = "UTC",
        fetch_details: bool = True,
        limits: PartitionLimits | None = None,
        settings: HttpSettings | None = None,
        allowlist: HostAllowlist | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        if len(purity) != 3 or set(purity) - {"0", "1"}:
            raise SourceError(f"bad WALLHAVEN_PURITY {purity!r}: three 0/1 flags for sfw/sketchy/nsfw")
        if purity[2] == "1" and not api_key:
            raise SourceError("Wallhaven NSFW content needs an API key: set WALLHAVEN_API_KEY")
        self.settings = settings or HttpSettings()
        self.limits = limits or PartitionLimits()
        self.zone = load_zone(timezone)
        self.clock = clock
        self.fetch_details = fetch_details
        # Pass every filter explicitly: with a key, the account's own defaults would apply otherwise.
        self.params = {"sorting": "date_added", "order": "desc", "purity": purity, "categories": categories}
        if query:
            self.params["q"] = query
        interval = self.settings.request_interval
        throttle = Throttle(
            self.name,
            self.settings,
            min_interval=DEFAULT_INTERVAL if interval is None else interval,
            window=60.0,  # per-minute limit; quota headers, if ever sent, carry no reset time
        )
        self.api = ApiClient(
            self.name,
            base_url,
            settings=self.settings,
            throttle=throttle,
            headers={"X-API-Key": api_key} if api_key else {},  # header, never ?apikey= in a logged URL
            secrets=[api_key] if api_key else [],
            key_hint="WALLHAVEN_API_KEY",
        )
        self.fetcher = ImageFetcher(
            self.name, allowlist or HostAllowlist.of(DEFAULT_IMAGE_HOSTS), self.settings, throttle=throttle
        )

    def discover(self, day: dt.date, *, limit: int | None = None) -> Iterator[ImageRecord]:
        return select_day(self.name, day, self._page, self._record, limits=self.limits, limit=limit, now=self.clock())

    def _page(self, page: int) -> tuple[list[FeedItem], bool]:
        body, _ = self.api.get_json(self.api.url("search"), {**self.params, "page": page})
        data = body.get("data") if isinstance(body, dict) else None
        meta = body.get("meta") if isinstance(body, dict) else None
        if not isinstance(data, list) or not isinstance(meta, dict):
            raise SourceError("wallhaven: unexpected response shape from /search (no 'data' list or 'meta')")
        items = []
        for wall in data:
            created = parse_local_time(wall.get("created_at"), self.zone) if isinstance(wall, dict) else None
            if created is None or not wall.get("id"):
                log.warning("wallhaven: skipping a listed item without id or created_at")
                continue
            items.append(FeedItem(str(wall["id"]), created, created, wall))
        try:
            is_last = int(meta["current_page"]) >= int(meta["last_page"])
        except (KeyError, TypeError, ValueError):
            is_last = not data
        return items, is_last

    def _details(self, wall_id: str) -> dict[str, Any] | None:
        """The full wallpaper (adds uploader and tags); None when it vanished since the listing."""
        try:
            body, _ = self.api.get_json(self.api.url(f"w/{quote(wall_id, safe='')}"))
        except ApiError as exc:
            if exc.status == 404:
                log.info("wallhaven: %s disappeared before its details were read", wall_id)
                return None
            raise
        data = body.get("data") if isinstance(body, dict) else None
        return data if isinstance(data, dict) else None

    def _record(self, item: FeedItem) -> ImageRecord | None:
        wall = item.data
        if self.fetch_details:
            wall = {**wall, **(self._details(item.source_id) or {})}
        if not wall.get("path"):
            log.warning("wallhaven: skipping %s without a path", item.source_id)
            return None
        # Every field is checked for its type: a reply with `uploader` as a string or `colors` as an object
        # loses that field, not the record (and never the partition).
        uploader_info = wall.get("uploader")
        uploader = _text(uploader_info.get("username")) if isinstance(uploader_info, dict) else None
        page = _text(wall.get("url"))
        try:
            site = urlsplit(page or "https://wallhaven.cc")
        except ValueError:
            page, site = None, urlsplit("https://wallhaven.cc")
        profile = f"{site.scheme}://{site.netloc}/user/{quote(uploader)}" if uploader else None
        raw_tags = wall.get("tags")
        tags = (
            [n for t in raw_tags if isinstance(t, dict) and (n := _text(t.get("name")))]
            if isinstance(raw_tags, list)
            else []
        )
        raw_colors = wall.get("colors")
        colors = [c for c in raw_colors if isinstance(c, str)] if isinstance(raw_colors, list) else []
        attribution = f"Wallpaper uploaded by {uploader or 'an unknown user'} on Wallhaven ({page})"
        if wall.get("source"):
            attribution += f"; original source: {wall['source']}"
        return ImageRecord(
            source=self.name,
            source_id=item.source_id,
            image_url=wall["path"],
            page_url=page,
            width=wall.get("dimension_x"),
            height=wall.get("dimension_y"),
            photographer=uploader,
            photographer_url=profile,
            description=", ".join(tags) or None,
            color=colors[0] if colors else None,
            created_at=item.created,
            attribution=attribution,
            raw=wall,
        )

    def download(self, record: ImageRecord) -> Download:
        if record.source != self.name:
            raise DownloadError(statuses.REFUSED, f"record from {record.source!r} given to wallhaven")
        size = record.raw.get("file_size")
        return self.fetcher.fetch(record.image_url, expected_size=size if isinstance(size, int) else None)

    def close(self) -> None:
        self.api.close()
        self.fetcher.close()


def _text(value: object) -> str | None:
    """A non-empty string field of an API reply, or None for anything else (numbers, objects, lists)."""
    return value if isinstance(value, str) and value else None
