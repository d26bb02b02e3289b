"""raw_images: download a partition's records into object storage, one failure record per bad image."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa
from PIL import Image, UnidentifiedImageError

from image_assets.pipeline import layout
from image_assets.pipeline.manifests import write_manifest
from image_assets.sources import DownloadError, ImageRecord, Source, statuses
from image_assets.sources.records import printable_id, record_problem
from image_assets.stores import ObjectStore

log = logging.getLogger(__name__)

ASSET = "raw_images"
EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "TIFF": ".tif", "BMP": ".bmp", "GIF": ".gif"}

RAW_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("source_id", pa.string()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("raw_key", pa.string()),
        ("bytes", pa.int64()),
        ("sha256", pa.string()),
        ("format", pa.string()),
        ("width", pa.int64()),  # from the image header: compressed_images balances Spark slices by pixels
        ("height", pa.int64()),
        ("record", pa.string()),  # the ImageRecord as JSON: attribution and provenance for the catalog
    ]
)


def sniff(data: bytes) -> tuple[str, int | None, int | None]:
    """(format, width, height) from the image header alone, never from a URL's extension; ("", None, None) when the
    bytes are no image."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.format or "", img.width, img.height
    except (UnidentifiedImageError, OSError, ValueError):
        return "", None, None


def ingest_one(source: Source, store: ObjectStore, record: ImageRecord, day: dt.date) -> dict[str, Any]:
    """One record's manifest row: downloaded and stored, or a failure status and reason; never an exception for
    anything the record or the server did."""
    row: dict[str, Any] = {
        "source": source.name,
        "source_id": printable_id(record.source_id),
        "status": "ok",
        "reason": None,
        "raw_key": None,
        "width": None,
        "height": None,
        "bytes": None,
        "sha256": None,
        "format": None,
        "record": None,
    }
    problem = record_problem(record)
    if problem is not None:
        return row | {"status": statuses.BAD_RECORD, "reason": problem}
    row["record"] = json.dumps(record.to_dict(), default=str)
    try:
        download = source.download(record)
    except DownloadError as exc:
        return row | {"status": exc.status, "reason": exc.reason}
    except Exception as exc:  # a record shaped in a way the source client did not foresee: fail this image only
        log.warning("%s: unexpected error downloading %s", source.name, row["source_id"], exc_info=True)
        return row | {"status": statuses.DOWNLOAD_FAILED, "reason": f"unexpected {type(exc).__name__}"}
    fmt, width, height = sniff(download.data)
    if fmt not in EXTENSIONS:
        return row | {"status": "bad_content", "reason": "downloaded bytes are not a supported image"}
    key = layout.raw_key(source.name, day, record.source_id, EXTENSIONS[fmt])
    store.put(key, download.data)
    return row | {
        "raw_key": key,
        "bytes": len(download.data),
        "format": fmt,
        "width": width,
        "height": height,
        "sha256": hashlib.sha256(download.data).hexdigest(),
    }


def ingest_partition(
    source: Source, store: ObjectStore, records: Sequence[ImageRecord], day: dt.date, *, workers: int = 4
) -> list[dict[str, Any]]:
    """Download every record, write the manifest, and drop raw objects the partition no longer has."""
    unique = list({printable_id(r.source_id): r for r in records}.values())
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        rows = list(pool.map(lambda r: ingest_one(source, store, r, day), unique))
    write_manifest(store, layout.manifest_key(ASSET, source.name, day), rows, RAW_SCHEMA)
    keep = {row["raw_key"] for row in rows if row["raw_key"]}
    for key in list(store.list(layout.partition_prefix(layout.RAW, source.name, day))):
        if key not in keep:
            store.delete(key)
    return rows
