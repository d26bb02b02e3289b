"""compressed_images without Spark: compress_one on a real store, and the driver-side helpers."""

from __future__ import annotations

import hashlib

import pytest

from image_assets.codec import RankPolicy, container, decode
from image_assets.pipeline import layout
from image_assets.pipeline.compress import (
    COMPRESSED_SCHEMA,
    codec_params,
    compress_one,
    group_by_partition,
    remove_stale_staging,
)
from tests.pipeline.conftest import DAY, SOURCE

PSNR35 = RankPolicy.parse("psnr=35")


def item(source_id: str, raw_key: str | None = None) -> dict[str, str]:
    return {
        "source": SOURCE,
        "date": DAY.isoformat(),
        "source_id": source_id,
        "raw_key": raw_key or layout.raw_key(SOURCE, DAY, source_id, ".png"),
    }


def test_compress_one_ok_row(store, tiny_png) -> None:
    store.put(item("a")["raw_key"], tiny_png)
    row = compress_one(store, item("a"), PSNR35, layout.STAGING)

    assert set(row) == set(COMPRESSED_SCHEMA.names)
    assert row["status"] == "ok" and row["reason"] is None
    assert (row["source"], row["date"], row["source_id"]) == (SOURCE, "2026-11-26", "a")
    assert row["raw_key"] == "raw/fake/2026-11-26/a.png"
    assert row["staged_key"] == "staging/fake/2026-11-26/a.svdz"
    staged = store.get(row["staged_key"])
    assert row["sha256"] == hashlib.sha256(staged).hexdigest()
    assert row["bytes_in"] == len(tiny_png)
    assert row["bytes_out"] == len(staged)
    assert (row["width"], row["height"], row["channels"]) == (64, 48, 3)
    ranks = [int(rank) for rank in row["ranks"].split(",")]
    assert len(ranks) == 3 and all(rank >= 1 for rank in ranks)
    assert row["layout"]
    assert row["psnr"] >= 35.0 - 1e-6
    assert 0.0 < row["ssim"] <= 1.0
    assert row["bits_per_pixel"] == pytest.approx(8 * len(staged) / (64 * 48))
    assert 0.0 <= row["encode_seconds"] <= row["total_seconds"]
    assert decode(staged).shape == (48, 64, 3)


def test_compress_one_writes_to_the_output_area(store, tiny_png) -> None:
    store.put(item("a")["raw_key"], tiny_png)
    row = compress_one(store, item("a"), PSNR35, "experiments/psnr-30")
    assert row["staged_key"] == "experiments/psnr-30/fake/2026-11-26/a.svdz"
    assert store.exists(row["staged_key"])
    assert list(store.list("staging/")) == []


def test_compress_one_encodes_unsafe_ids(store, tiny_png) -> None:
    raw = item("../../x")
    store.put(raw["raw_key"], tiny_png)
    row = compress_one(store, raw, PSNR35, layout.STAGING)
    assert row["status"] == "ok"
    assert row["staged_key"].startswith("staging/fake/2026-11-26/_x-")


def test_compress_one_missing_raw(store) -> None:
    row = compress_one(store, item("gone"), PSNR35, layout.STAGING)
    assert row["status"] == "missing_raw"
    assert "raw/fake/2026-11-26/gone.png" in row["reason"]
    assert row["staged_key"] is None and row["bytes_out"] is None
    assert row["total_seconds"] >= 0.0
    assert list(store.list("staging/")) == []


def test_compress_one_garbage_bytes_is_codec_error(store) -> None:
    garbage = b"\x89PNG but not really" + bytes(range(64))
    store.put(item("junk")["raw_key"], garbage)
    row = compress_one(store, item("junk"), PSNR35, layout.STAGING)
    assert row["status"] == "codec_error"
    assert row["reason"]
    assert row["bytes_in"] == len(garbage)
    assert row["staged_key"] is None and row["psnr"] is None
    assert list(store.list("staging/")) == []


def test_group_by_partition() -> None:
    rows = [
        {"source": "fake", "date": "2026-11-26", "source_id": "a"},
        {"source": "other", "date": "2026-11-26", "source_id": "b"},
        {"source": "fake", "date": "2026-11-25", "source_id": "c"},
        {"source": "fake", "date": "2026-11-26", "source_id": "d"},
    ]
    groups = group_by_partition(rows)
    assert {key: [row["source_id"] for row in members] for key, members in groups.items()} == {
        ("fake", "2026-11-26"): ["a", "d"],
        ("other", "2026-11-26"): ["b"],
        ("fake", "2026-11-25"): ["c"],
    }
    assert group_by_partition([]) == {}


def test_remove_stale_staging(store) -> None:
    keep = layout.svdz_key(layout.STAGING, SOURCE, DAY, "a")
    stale = [layout.svdz_key(layout.STAGING, SOURCE, DAY, sid) for sid in ("old-1", "old-2")]
    other_day = layout.svdz_key(layout.STAGING, SOURCE, "2026-11-25", "z")
    for key in [keep, *stale, other_day]:
        store.put(key, b"svdz")
    rows = [{"staged_key": keep}, {"staged_key": None, "status": "codec_error"}]

    assert remove_stale_staging(store, SOURCE, DAY, rows) == 2
    assert list(store.list(layout.partition_prefix(layout.STAGING, SOURCE, DAY))) == [keep]
    assert store.exists(other_day)
    assert remove_stale_staging(store, SOURCE, DAY, rows) == 0


def test_codec_params() -> None:
    rows = [{"layout": "ycbcr420/tile16"}, {"layout": "ycbcr420/tile16"}, {"layout": "gray/tile8"}, {"layout": None}]
    params = codec_params(rows)
    assert params["layout"] == "ycbcr420/tile16"
    assert params["format_version"] == str(container.FORMAT_VERSION)
    assert params["entropy_coder"] == container.ENTROPY_CODER
    assert params["quantization"]
    assert codec_params([{"status": "codec_error"}])["layout"] == ""
