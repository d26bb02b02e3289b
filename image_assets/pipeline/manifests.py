"""Per-partition Parquet manifests: the small rows each asset hands to the next, kept in object storage."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from image_assets.stores import ObjectStore


class ManifestMissing(LookupError):
    """The upstream asset has not been materialized for this partition."""


def write_manifest(store: ObjectStore, key: str, rows: Sequence[dict[str, Any]], schema: pa.Schema) -> None:
    table = pa.Table.from_pylist(list(rows), schema=schema)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    store.put(key, buffer.getvalue())


def read_manifest(store: ObjectStore, key: str) -> list[dict[str, Any]]:
    try:
        data = store.get(key)
    except KeyError:
        raise ManifestMissing(key) from None
    return pq.read_table(io.BytesIO(data)).to_pylist()
