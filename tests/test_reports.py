"""Report pictures from compressed rows: rate–distortion plot, before/after grid, Markdown preview."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image

from image_assets.codec import RankPolicy, compress_image
from image_assets.pipeline.reports import before_after_grid, preview_markdown, rate_distortion_plot
from image_assets.sources.local import BUNDLED_PHOTOS
from image_assets.stores import LocalObjectStore

PHOTOS = ["chelsea.png", "camera.png"]  # 451x300 RGB, 512x512 grey


@pytest.fixture(scope="module")
def compressed(tmp_path_factory):
    """A local store holding two raw photos and their staged `.svdz`, plus the metric rows describing them."""
    store = LocalObjectStore(tmp_path_factory.mktemp("reports") / "objects")
    rows = []
    for name in PHOTOS:
        data = (BUNDLED_PHOTOS / name).read_bytes()
        raw_key, staged_key = f"raw/local/2026-11-26/{name}", f"staging/local/2026-11-26/{name}.svdz"
        store.put(raw_key, data)
        result = compress_image(data, RankPolicy("psnr", 32))
        store.put(staged_key, result.data)
        rows.append(
            {
                "source": "local",
                "date": "2026-11-26",
                "source_id": name,
                "status": "ok",
                "reason": None,
                "raw_key": raw_key,
                "staged_key": staged_key,
                "width": result.width,
                "height": result.height,
                "bytes_in": len(data),
                "bytes_out": len(result.data),
                "psnr": result.psnr,
                "ssim": result.ssim,
                "bits_per_pixel": result.bits_per_pixel,
            }
        )
    failed = {
        "source": "local",
        "source_id": "broken",
        "status": "codec_error",
        "reason": "not an image",
        "raw_key": "raw/local/2026-11-26/broken.jpg",
        "staged_key": None,
        "psnr": None,
        "bits_per_pixel": None,
        "bytes_in": 10,
        "bytes_out": None,
    }
    return store, rows, failed


def png(path) -> Image.Image:
    img = Image.open(path)
    assert img.format == "PNG"
    img.load()
    return img


def test_rate_distortion_plot(compressed, tmp_path) -> None:
    _, rows, failed = compressed
    path = rate_distortion_plot(rows, tmp_path / "sub" / "rd.png")
    assert path == tmp_path / "sub" / "rd.png"
    assert png(path).size == (640, 440)
    # Failed rows are not plotted: the picture is the same without them.
    rate_distortion_plot([*rows, failed], tmp_path / "with_failed.png")
    assert (tmp_path / "with_failed.png").read_bytes() == path.read_bytes()
    # The target line and the points themselves change the picture.
    rate_distortion_plot(rows, tmp_path / "target.png", target=32)
    assert (tmp_path / "target.png").read_bytes() != path.read_bytes()
    moved = [row | {"psnr": row["psnr"] + 5} for row in rows]
    rate_distortion_plot(moved, tmp_path / "moved.png")
    assert (tmp_path / "moved.png").read_bytes() != path.read_bytes()
    # Grouped series and an empty input still give a picture.
    grouped = [row | {"policy": p} for row in rows for p in ("psnr=30", "psnr=40")]
    assert png(rate_distortion_plot(grouped, tmp_path / "grouped.png", group_by="policy")).size == (640, 440)
    assert png(rate_distortion_plot([failed], tmp_path / "empty.png", target=35)).size == (640, 440)


def test_before_after_grid(compressed, tmp_path) -> None:
    store, rows, failed = compressed
    one = png(before_after_grid(store, rows, tmp_path / "one.png", count=1, thumb=128))
    two = png(before_after_grid(store, rows, tmp_path / "two.png", count=4, thumb=128))
    assert one.width == two.width and two.height > 1.5 * one.height
    # Larger thumbnails make a larger picture.
    big = png(before_after_grid(store, rows, tmp_path / "big.png", count=1, thumb=256))
    assert big.width > 1.5 * one.width

    # Rows whose objects are gone (or that failed) are skipped; nothing usable means no file at all.
    gone = [rows[0] | {"raw_key": "raw/local/2026-11-26/gone.png"}, rows[1] | {"staged_key": "staging/gone.svdz"}]
    kept = png(before_after_grid(store, [failed, *gone, rows[0]], tmp_path / "kept.png", count=4, thumb=128))
    assert kept.size == one.size
    assert before_after_grid(store, [failed, *gone], tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()

    # key_field picks another compressed object (here: the images area after promotion).
    store.copy(rows[0]["staged_key"], "images/local/2026-11-26/chelsea.png.svdz")
    promoted = [rows[0] | {"staged_key": None, "key": "images/local/2026-11-26/chelsea.png.svdz"}]
    assert before_after_grid(store, promoted, tmp_path / "p.png", thumb=128) is None
    assert png(before_after_grid(store, promoted, tmp_path / "p.png", thumb=128, key_field="key")).size == one.size


def test_preview_markdown(compressed) -> None:
    store, rows, failed = compressed
    md = preview_markdown(store, rows[0])
    assert len(md) < 60_000
    assert md.startswith(f"**chelsea.png** — PSNR {rows[0]['psnr']:.2f} dB · {rows[0]['bytes_in']:,} → ")
    uris = re.findall(r"!\[(before|after)\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", md)
    assert [label for label, _ in uris] == ["before", "after"]
    before, after = (Image.open(io.BytesIO(base64.b64decode(data))) for _, data in uris)
    assert before.format == after.format == "PNG"
    assert before.size == after.size == (160, 106)  # 451x300 to 160 px on the long side
    # The thumbnails show the photo: close to a plain downscale of the original.
    reference = Image.open(BUNDLED_PHOTOS / "chelsea.png").convert("RGB").resize((160, 106), Image.Resampling.LANCZOS)
    diff = np.abs(np.asarray(before.convert("RGB"), dtype=float) - np.asarray(reference, dtype=float)).mean()
    assert diff < 12

    small = preview_markdown(store, rows[1], thumb=64)
    assert len(small) < len(md)
    for row in (failed, rows[0] | {"staged_key": "staging/gone.svdz"}):
        note = preview_markdown(store, row)
        assert "data:" not in note and note.startswith("_No preview for")
