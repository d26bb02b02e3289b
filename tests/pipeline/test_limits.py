"""Photos over the pixel limit become a `too_large` row before anything is decoded, never a crashed batch."""

from __future__ import annotations

from image_assets.codec import RankPolicy
from image_assets.pipeline import compress, layout
from tests.pipeline.conftest import DAY, SOURCE, png_bytes


def test_a_photo_over_the_pixel_limit_is_a_too_large_row(store, monkeypatch) -> None:
    monkeypatch.setattr(compress, "MAX_PIXELS", 64 * 48 - 1)
    key = layout.raw_key(SOURCE, DAY, "big", ".png")
    store.put(key, png_bytes(64, 48))
    item = {"source": SOURCE, "date": DAY.isoformat(), "source_id": "big", "raw_key": key}
    row = compress.compress_one(store, item, RankPolicy.parse("psnr=35"), layout.STAGING)
    assert row["status"] == "too_large" and "over the limit of 3071" in row["reason"]
    assert row["staged_key"] is None and not list(store.list(f"{layout.STAGING}/"))


def test_the_default_limit_is_pillows() -> None:
    from PIL import Image

    assert compress.MAX_PIXELS == Image.MAX_IMAGE_PIXELS
