"""What every catalog backend offers, as a structural type: MongoDB (`mongo.MongoCatalog`) and the embedded
SQLite catalog (`sqlite.SQLiteCatalog`) share no base class, so type hints name this protocol instead.

Importing this module is free of pymongo and sqlite3, so type hints never load a backend.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol, runtime_checkable

from image_assets.catalog.order import DEFAULT_ORDER, Order


@runtime_checkable
class CatalogStore(Protocol):
    """One document per image, keyed by `_id = "<source>:<source_id>"`; `find`/`count` take a MongoDB filter."""

    def ensure_indexes(self) -> None:
        """Create the indexes the queries rely on (idempotent)."""
        ...

    def upsert(self, documents: Iterable[Mapping[str, Any]]) -> dict[str, int]:
        """Write documents by `_id` in batches; returns `{"inserted": n, "updated": m}`."""
        ...

    def remove_stale(self, partition_key: str, keep_ids: Iterable[str]) -> int:
        """Delete the partition's documents not in `keep_ids`; returns how many were deleted."""
        ...

    def find(
        self, query: Mapping[str, Any] | None = None, *, limit: int = 0, order: Order = DEFAULT_ORDER
    ) -> Iterator[dict[str, Any]]:
        """Matching documents in `order` (default: newest `date` first, then by `_id`); `limit=0` means all."""
        ...

    def get(self, doc_id: str) -> dict[str, Any] | None:
        """The document with this `_id`, or None."""
        ...

    def same_content(self, partition_key: str) -> list[list[str]]:
        """Sorted groups of ids in a partition whose originals share a SHA-256."""
        ...

    def count(self, query: Mapping[str, Any] | None = None) -> int:
        """How many documents match."""
        ...

    def stats(self, query: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Per (source, date) of the matching documents: `images`, `bytes_in`, `bytes_out`, `psnr_mean`,
        `ssim_mean`; newest date first, then by source. Computed by the backend, not by reading documents here."""
        ...

    def close(self) -> None:
        """Release the connection(s)."""
        ...


def stats_row(
    source: str, date: str, images: int, bytes_in: Any, bytes_out: Any, psnr: Any, ssim: Any
) -> dict[str, Any]:
    """One `stats` row, numbers as plain ints and floats (None where no document had the field)."""
    return {
        "source": source,
        "date": date,
        "images": int(images),
        "bytes_in": int(bytes_in or 0),
        "bytes_out": int(bytes_out or 0),
        "psnr_mean": None if psnr is None else float(psnr),
        "ssim_mean": None if ssim is None else float(ssim),
    }
