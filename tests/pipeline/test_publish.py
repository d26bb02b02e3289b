"""stored_images: staged `.svdz` objects are copied to their images key, stale published objects go."""

from __future__ import annotations

import hashlib

from image_assets.pipeline import layout
from image_assets.pipeline.publish import publish_one, publish_partition
from tests.pipeline.conftest import DAY, SOURCE


def stage(store, source_id: str, data: bytes | None = None) -> dict:
    """Put a staged object and return the compressed row describing it."""
    key = layout.svdz_key(layout.STAGING, SOURCE, DAY, source_id)
    payload = data if data is not None else f"svdz of {source_id}".encode()
    store.put(key, payload)
    return {
        "source": SOURCE,
        "source_id": source_id,
        "status": "ok",
        "staged_key": key,
        "bytes_out": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
    }


def images(store) -> list[str]:
    return list(store.list(layout.partition_prefix(layout.IMAGES, SOURCE, DAY)))


def staged(store) -> list[str]:
    return list(store.list(layout.partition_prefix(layout.STAGING, SOURCE, DAY)))


def test_publish_one_moves_staged_to_images(store) -> None:
    row = stage(store, "a", b"compressed-a")
    out = publish_one(store, SOURCE, DAY, row)
    key = "images/fake/2026-11-26/a.svdz"
    assert out == {
        "source": SOURCE,
        "source_id": "a",
        "status": "ok",
        "reason": None,
        "key": key,
        "uri": store.uri(key),
        "bytes": len(b"compressed-a"),
        "sha256": hashlib.sha256(b"compressed-a").hexdigest(),
    }
    assert store.get(key) == b"compressed-a"
    assert not store.exists(row["staged_key"])
    assert out["uri"].startswith(str(store.root))


def test_publish_one_missing_staged(store) -> None:
    row = stage(store, "a")
    store.delete(row["staged_key"])
    out = publish_one(store, SOURCE, DAY, row)
    assert out["status"] == "missing_staged"
    assert out["reason"]
    assert out["key"] is None and out["uri"] is None
    assert images(store) == []


def test_publish_one_missing_staged_but_already_published_is_ok(store) -> None:
    row = stage(store, "a", b"first")
    assert publish_one(store, SOURCE, DAY, row)["status"] == "ok"
    again = publish_one(store, SOURCE, DAY, row)  # the staged object is gone now
    assert again["status"] == "ok"
    assert again["key"] == layout.image_key(SOURCE, DAY, "a")
    assert store.get(again["key"]) == b"first"


def test_publish_one_encodes_unsafe_ids(store) -> None:
    row = stage(store, "../../x", b"x")
    out = publish_one(store, SOURCE, DAY, row)
    assert out["status"] == "ok"
    assert out["key"].startswith("images/fake/2026-11-26/_x-")
    assert images(store) == [out["key"]]


def test_publish_partition_publishes_ok_rows_and_removes_stale(store) -> None:
    stale = layout.image_key(SOURCE, DAY, "old")
    store.put(stale, b"from an earlier run")
    other_day = "images/fake/2026-11-25/keep.svdz"
    store.put(other_day, b"another partition")
    rows = [stage(store, "a"), stage(store, "b"), {"source": SOURCE, "source_id": "c", "status": "codec_error"}]

    out = publish_partition(store, SOURCE, DAY, rows, workers=2)

    assert [row["source_id"] for row in out] == ["a", "b"]  # failed rows are not published
    assert {row["status"] for row in out} == {"ok"}
    assert images(store) == ["images/fake/2026-11-26/a.svdz", "images/fake/2026-11-26/b.svdz"]
    assert store.get("images/fake/2026-11-26/b.svdz") == b"svdz of b"
    assert not store.exists(stale)
    assert store.exists(other_day)  # other partitions are untouched
    assert staged(store) == []


def test_publish_partition_rerun_is_idempotent(store) -> None:
    rows = [stage(store, "a"), stage(store, "b")]
    first = publish_partition(store, SOURCE, DAY, rows)
    contents = {key: store.get(key) for key in images(store)}
    second = publish_partition(store, SOURCE, DAY, rows)
    assert second == first
    assert {key: store.get(key) for key in images(store)} == contents
    assert len(contents) == 2


def test_publish_partition_missing_staged_object(store) -> None:
    rows = [stage(store, "a"), stage(store, "b")]
    store.delete(rows[1]["staged_key"])
    out = publish_partition(store, SOURCE, DAY, rows)
    assert {row["source_id"]: row["status"] for row in out} == {"a": "ok", "b": "missing_staged"}
    assert images(store) == ["images/fake/2026-11-26/a.svdz"]


def test_publish_partition_drops_images_no_longer_produced(store) -> None:
    publish_partition(store, SOURCE, DAY, [stage(store, "a"), stage(store, "b")])
    out = publish_partition(store, SOURCE, DAY, [stage(store, "b")])
    assert [row["source_id"] for row in out] == ["b"]
    assert images(store) == ["images/fake/2026-11-26/b.svdz"]
