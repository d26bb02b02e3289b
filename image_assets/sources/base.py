"""The one interface every image source implements: discover a partition's records, download one record."""

from __future__ import annotations

import datetime as dt
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any


class SourceError(RuntimeError):
    """A whole partition cannot be read (API unreachable, missing key, bad date). Message is user-facing."""


class DownloadError(RuntimeError):
    """One image cannot be fetched; recorded as a per-image failure, never aborts the partition."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class ImageRecord:
    """What a source knows about one image before downloading it; flows into the catalog for attribution."""

    source: str
    source_id: str
    image_url: str
    page_url: str | None = None
    width: int | None = None
    height: int | None = None
    photographer: str | None = None
    photographer_url: str | None = None
    description: str | None = None
    color: str | None = None
    created_at: dt.datetime | None = None
    attribution: str = ""
    download_location: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (datetimes as ISO-8601 strings)."""
        out = asdict(self)
        out["created_at"] = self.created_at.isoformat() if self.created_at else None
        return out


@dataclass(frozen=True)
class Download:
    """The bytes of one image, with what was checked about them."""

    data: bytes
    content_type: str | None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


class Source(ABC):
    """A place images come from. Implementations are plain Python: no Dagster or Spark imports."""

    name: str

    @abstractmethod
    def discover(self, day: dt.date, *, limit: int | None = None) -> Iterator[ImageRecord]:
        """Yield the records of partition `day`.

        Raises SourceError when the partition cannot be read at all.
        """

    @abstractmethod
    def download(self, record: ImageRecord) -> Download:
        """Fetch one record's bytes. Raises DownloadError for a per-image failure."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; sources that hold none need not override it."""
