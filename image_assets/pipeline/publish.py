"""stored_images: move staged `.svdz` objects to their deterministic keys and remove what is stale.

A move (a rename on the local store, copy then delete on GCS) keeps it rerunnable: an object already published
by an earlier run is kept as it is, once its hash matches the manifest row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa

from image_assets.pipeline import layout
from image_assets.stores import ObjectStore

ASSET = "stored_images"

STORED_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("source_id", pa.string()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("key", pa.string()),
        ("uri", pa.string()),
        ("bytes", pa.int64()),
        ("sha256", pa.string()),
    ]
)


def publish_one(store: ObjectStore, source: str, day: dt.date, row: dict[str, Any]) -> dict[str, Any]:
    key = layout.image_key(source, day, row["source_id"])
    out = {
        "source": source,
        "source_id": row["source_id"],
        "status": "ok",
        "reason": None,
        "key": key,
        "uri": store.uri(key),
        "bytes": row["bytes_out"],
        "sha256": row["sha256"],
    }
    if row.get("staged_key"):
        try:
            store.move(row["staged_key"], key)
            return out
        except KeyError:
            pass  # an earlier run published it and then stopped before writing its manifest
    # No staged object: what is published must be exactly what the row describes.
    if published_hash(store, key) != row["sha256"]:
        return out | {"status": "missing_staged", "reason": "staged object is gone", "key": None, "uri": None}
    return out


def published_hash(store: ObjectStore, key: str) -> str | None:
    try:
        return hashlib.sha256(store.get(key)).hexdigest()
    except KeyError:
        return None


def publish_partition(
    store: ObjectStore, source: str, day: dt.date, compressed_rows: Sequence[dict[str, Any]], *, workers: int = 8
) -> list[dict[str, Any]]:
    """Publish every successfully compressed image and delete published objects no longer produced."""
    ready = [row for row in compressed_rows if row["status"] == "ok"]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        rows = list(pool.map(lambda row: publish_one(store, source, day, row), ready))
    keep = {row["key"] for row in rows if row["key"]}
    for key in list(store.list(layout.partition_prefix(layout.IMAGES, source, day))):
        if key not in keep:
            store.delete(key)
    return rows
