"""Parquet manifests in object storage: what is written is read back, an absent one is ManifestMissing."""

from __future__ import annotations

import pyarrow as pa
import pytest

from image_assets.pipeline import layout
from image_assets.pipeline.ingest import RAW_SCHEMA
from image_assets.pipeline.manifests import ManifestMissing, read_manifest, write_manifest
from tests.pipeline.conftest import DAY, SOURCE

ROWS = [
    {
        "source": SOURCE,
        "source_id": "a",
        "status": "ok",
        "reason": None,
        "raw_key": "raw/fake/2026-11-26/a.png",
        "bytes": 2**40,  # int64, not int32
        "sha256": "0" * 64,
        "format": "PNG",
        "width": 640,
        "height": 480,
        "record": '{"photographer": "Ana Müller"}',
    },
    {
        "source": SOURCE,
        "source_id": "b",
        "status": "bad_content",
        "reason": "not an image",
        "raw_key": None,
        "bytes": None,
        "sha256": None,
        "format": None,
        "width": None,
        "height": None,
        "record": "{}",
    },
]


def test_round_trip(store) -> None:
    key = layout.manifest_key("raw_images", SOURCE, DAY)
    write_manifest(store, key, ROWS, RAW_SCHEMA)
    assert store.exists(key)
    assert store.get(key)[:4] == b"PAR1"
    assert read_manifest(store, key) == ROWS


def test_empty_manifest_round_trips(store) -> None:
    key = layout.manifest_key("raw_images", SOURCE, DAY)
    write_manifest(store, key, [], RAW_SCHEMA)
    assert read_manifest(store, key) == []


def test_rewrite_replaces_rows(store) -> None:
    key = layout.manifest_key("raw_images", SOURCE, DAY)
    write_manifest(store, key, ROWS, RAW_SCHEMA)
    write_manifest(store, key, ROWS[1:], RAW_SCHEMA)
    assert [row["source_id"] for row in read_manifest(store, key)] == ["b"]


def test_absent_manifest_is_manifest_missing(store) -> None:
    key = layout.manifest_key("compressed_images", SOURCE, DAY)
    with pytest.raises(ManifestMissing, match="compressed_images"):
        read_manifest(store, key)
    assert issubclass(ManifestMissing, LookupError)


def test_schema_types_are_enforced(store) -> None:
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        write_manifest(store, "manifests/x/fake/2026-11-26.parquet", [ROWS[0] | {"bytes": "many"}], RAW_SCHEMA)
    assert not store.exists("manifests/x/fake/2026-11-26.parquet")
