"""No repeated work: an earlier encode of the same content, policy and format is reused, anything else is not."""

from __future__ import annotations

import hashlib

import pytest

from image_assets.codec import RankPolicy
from image_assets.pipeline import layout
from image_assets.pipeline.compress import compress_images, compress_one, fingerprint, reusable_row
from image_assets.pipeline.publish import publish_partition
from image_assets.stores import StoreSpec
from tests.pipeline.conftest import DAY, SOURCE, png_bytes

PSNR35 = RankPolicy.parse("psnr=35")


def stage(store, source_id: str, payload: bytes) -> dict:
    """A raw object plus the raw-manifest fields compress_images reads."""
    key = layout.raw_key(SOURCE, DAY, source_id, ".png")
    store.put(key, payload)
    return {
        "source": SOURCE, "date": DAY.isoformat(), "source_id": source_id, "raw_key": key,
        "sha256": hashlib.sha256(payload).hexdigest(), "width": 64, "height": 48,
    }  # fmt: skip


def no_spark():
    raise AssertionError("Spark was started although every image could be reused")


def test_recorded_encode_is_reused_until_content_policy_or_object_change(store) -> None:
    item = stage(store, "a", png_bytes())
    row = compress_one(store, item, PSNR35, layout.STAGING, record=True)
    assert store.exists(layout.sidecar_key(SOURCE, DAY, "a"))

    reused = reusable_row(store, item, fingerprint(PSNR35))
    assert reused is not None and reused["reused"] and reused["sha256"] == row["sha256"]
    assert reused["staged_key"] == row["staged_key"]

    assert reusable_row(store, item, fingerprint(RankPolicy.parse("psnr=30"))) is None  # another policy
    assert reusable_row(store, item | {"sha256": "0" * 64}, fingerprint(PSNR35)) is None  # new raw content
    store.put(row["staged_key"], b"not the recorded object")
    assert reusable_row(store, item, fingerprint(PSNR35)) is None  # object changed since


def test_published_object_is_reused_after_the_staged_one_moved(store) -> None:
    item = stage(store, "a", png_bytes())
    row = compress_one(store, item, PSNR35, layout.STAGING, record=True)
    (published,) = publish_partition(store, SOURCE, DAY, [row])
    assert not store.exists(row["staged_key"])

    reused = reusable_row(store, item, fingerprint(PSNR35))
    assert reused is not None and reused["staged_key"] is None
    # Publishing a reused row keeps the object where it is.
    (again,) = publish_partition(store, SOURCE, DAY, [reused])
    assert again["status"] == "ok" and again["key"] == published["key"] and store.exists(published["key"])


def test_a_fully_reused_rerun_never_starts_spark(store) -> None:
    items = [stage(store, sid, png_bytes(shift=n)) for n, sid in enumerate("abc")]
    first = [compress_one(store, item, PSNR35, layout.STAGING, record=True) for item in items]
    progress: list[tuple[int, int]] = []
    rows = compress_images(
        no_spark, StoreSpec(store.url), items, PSNR35, on_progress=lambda d, t: progress.append((d, t))
    )
    assert sorted(r["sha256"] for r in rows) == sorted(r["sha256"] for r in first)
    assert all(r["reused"] for r in rows) and progress == [(3, 3)]


def test_failed_encodes_leave_no_sidecar(store) -> None:
    item = stage(store, "bad", b"not an image")
    row = compress_one(store, item, PSNR35, layout.STAGING, record=True)
    assert row["status"] == "codec_error"
    assert not store.exists(layout.sidecar_key(SOURCE, DAY, "bad"))


@pytest.mark.parametrize("sidecar", [b"{", b"[]", b'{"fingerprint": 1}', b'{"fingerprint": "x", "row": null}'])
def test_damaged_sidecars_mean_encode_again(store, sidecar: bytes) -> None:
    item = stage(store, "a", png_bytes())
    store.put(layout.sidecar_key(SOURCE, DAY, "a"), sidecar)
    assert reusable_row(store, item, fingerprint(PSNR35)) is None
