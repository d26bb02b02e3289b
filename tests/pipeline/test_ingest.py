"""raw_images: a partition's records downloaded into the store, one row per image, bad images as rows."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import json

from PIL import Image

from image_assets.pipeline import layout
from image_assets.pipeline.ingest import ingest_one, ingest_partition
from image_assets.pipeline.manifests import read_manifest
from image_assets.sources import DownloadError
from tests.pipeline.conftest import DAY, SOURCE, FakeSource, files_under, png_bytes

PREFIX = "raw/fake/2026-11-26/"


def raw_objects(store) -> list[str]:
    return list(store.list(layout.partition_prefix(layout.RAW, SOURCE, DAY)))


def test_ingest_one_stores_the_image(store, tiny_png) -> None:
    source = FakeSource({"a": tiny_png})
    created = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
    record = source.record("a", photographer="Ana", attribution="Photo by Ana", created_at=created)
    row = ingest_one(source, store, record, DAY)
    assert row["status"] == "ok" and row["reason"] is None
    assert row["raw_key"] == "raw/fake/2026-11-26/a.png"
    assert row["format"] == "PNG"
    assert row["bytes"] == len(tiny_png)
    assert row["sha256"] == hashlib.sha256(tiny_png).hexdigest()
    assert store.get(row["raw_key"]) == tiny_png
    record_json = json.loads(row["record"])
    assert record_json["photographer"] == "Ana"
    assert record_json["attribution"] == "Photo by Ana"
    assert record_json["created_at"] == "2026-11-20T08:00:00+00:00"
    assert record_json["image_url"] == "https://img.example/a"


def test_extension_follows_the_bytes_not_the_url(store) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format="JPEG")
    source = FakeSource({"j": buffer.getvalue()})
    row = ingest_one(source, store, source.record("j"), DAY)
    assert row["format"] == "JPEG"
    assert row["raw_key"] == "raw/fake/2026-11-26/j.jpg"


def test_non_image_payload_is_bad_content(store) -> None:
    source = FakeSource({"html": b"<html>rate limited</html>"})
    row = ingest_one(source, store, source.record("html"), DAY)
    assert row["status"] == "bad_content"
    assert row["reason"]
    assert row["raw_key"] is None and row["bytes"] is None and row["sha256"] is None
    assert json.loads(row["record"])["source_id"] == "html"  # the record is kept for the failure row
    assert raw_objects(store) == []


def test_download_error_keeps_its_status_and_reason(store) -> None:
    source = FakeSource({"gone": DownloadError("http_error", "HTTP 404 from img.example")})
    row = ingest_one(source, store, source.record("gone"), DAY)
    assert row["status"] == "http_error"
    assert row["reason"] == "HTTP 404 from img.example"
    assert row["raw_key"] is None
    assert raw_objects(store) == []


def test_ingest_partition_rows_dedup_and_manifest(store, tiny_png) -> None:
    source = FakeSource(
        {
            "a": tiny_png,
            "b": png_bytes(shift=50),
            "text": b"not an image",
            "big": DownloadError("too_large", "over the limit"),
        }
    )
    records = [source.record(sid) for sid in ("a", "b", "text", "big", "a")]  # "a" listed twice
    rows = ingest_partition(source, store, records, DAY, workers=2)

    assert [row["source_id"] for row in rows] == ["a", "b", "text", "big"]
    assert sorted(source.downloads) == ["a", "b", "big", "text"]  # the duplicate is downloaded once
    assert {row["source_id"]: row["status"] for row in rows} == {
        "a": "ok",
        "b": "ok",
        "text": "bad_content",
        "big": "too_large",
    }
    assert raw_objects(store) == [PREFIX + "a.png", PREFIX + "b.png"]
    manifest = read_manifest(store, layout.manifest_key("raw_images", SOURCE, DAY))
    assert manifest == rows


def test_rerun_removes_stale_raw_objects(store, tiny_png) -> None:
    source = FakeSource({"a": tiny_png, "b": png_bytes(shift=50)})
    ingest_partition(source, store, [source.record("a"), source.record("b")], DAY)
    store.put(PREFIX + "leftover.png", b"from a crashed run")
    store.put("raw/fake/2026-11-25/other-day.png", tiny_png)

    source.payloads["b"] = DownloadError("download_failed", "timeout")
    rows = ingest_partition(source, store, [source.record("a"), source.record("b")], DAY)

    assert {row["source_id"]: row["status"] for row in rows} == {"a": "ok", "b": "download_failed"}
    assert raw_objects(store) == [PREFIX + "a.png"]
    assert store.exists("raw/fake/2026-11-25/other-day.png")  # another partition is untouched
    manifest = read_manifest(store, layout.manifest_key("raw_images", SOURCE, DAY))
    assert [row["status"] for row in manifest] == ["ok", "download_failed"]


def test_unsafe_ids_stay_inside_the_partition(tmp_path, store, store_root, tiny_png) -> None:
    ids = ["../../x", "../../../../../escape", "a b", "ü", "a/b", ".hidden"]
    source = FakeSource(dict.fromkeys(ids, tiny_png))
    rows = ingest_partition(source, store, [source.record(sid) for sid in ids], DAY)

    assert [row["status"] for row in rows] == ["ok"] * len(ids)
    keys = [row["raw_key"] for row in rows]
    assert len(set(keys)) == len(ids)
    for key in keys:
        assert key.startswith(PREFIX + "_"), key
        assert key.count("/") == 3, key
        assert key.endswith(".png")
        assert store.get(key) == tiny_png
    assert sorted(raw_objects(store)) == sorted(keys)
    # Everything written is inside the store root; nothing landed beside or above it.
    outside = {path for path in files_under(tmp_path) if not path.is_relative_to(store_root)}
    assert outside == set()
    assert len(files_under(store_root / "raw")) == len(ids)
    # A rerun keeps every encoded object (none is taken for stale).
    ingest_partition(source, store, [source.record(sid) for sid in ids], DAY)
    assert sorted(raw_objects(store)) == sorted(keys)


def test_unusable_records_become_bad_record_rows(store, tiny_png) -> None:
    """Records no stage should handle are refused before any request; the good ones in the same partition land."""
    source = FakeSource({"good": tiny_png})
    bad = {
        "long": source.record("x" * 3000),
        "newline": source.record("a\nb"),
        "escape": source.record("\x1b]0;owned\x07"),
        "dict id": source.record({"$gt": ""}),  # type: ignore[arg-type]
        "empty id": source.record(""),
        "url not str": dataclasses.replace(source.record("u"), image_url=12345),
        "width str": source.record("w", width="4000"),  # type: ignore[arg-type]
        "width bool": source.record("b", width=True),
        "photographer dict": source.record("p", photographer={"name": "x"}),  # type: ignore[arg-type]
        "huge description": source.record("d", description="x" * 20_000),
    }
    rows = ingest_partition(source, store, [source.record("good"), *bad.values()], DAY)
    by_status: dict[str, int] = {}
    for row in rows:
        by_status[row["status"]] = by_status.get(row["status"], 0) + 1
        assert "\n" not in row["source_id"] and "\x1b" not in row["source_id"] and len(row["source_id"]) <= 257
    assert by_status == {"ok": 1, "bad_record": len(bad)}
    assert source.downloads == ["good"]  # nothing was requested for a bad record
    assert raw_objects(store) == [PREFIX + "good.png"]
    reasons = {row["reason"] for row in rows if row["status"] == "bad_record"}
    assert "source id is 3,000 characters long (at most 256)" in reasons
    assert "source id contains control characters" in reasons
    assert "width '4000' is not a pixel count" in reasons


def test_an_unforeseen_error_in_a_download_fails_that_image_only(store, tiny_png) -> None:
    class Broken(FakeSource):
        def download(self, record):
            if record.source_id == "boom":
                raise AttributeError("'list' object has no attribute 'get'")
            return super().download(record)

    source = Broken({"good": tiny_png, "boom": tiny_png})
    rows = ingest_partition(source, store, [source.record("good"), source.record("boom")], DAY)
    assert {row["source_id"]: (row["status"], row["reason"]) for row in rows} == {
        "good": ("ok", None),
        "boom": ("download_failed", "unexpected AttributeError"),
    }
