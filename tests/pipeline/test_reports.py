"""Report pictures: the rate–distortion PNG (also when nothing compressed) and the Markdown preview's fallback."""

from __future__ import annotations

import pytest
from PIL import Image

from image_assets.codec import RankPolicy
from image_assets.pipeline import layout
from image_assets.pipeline.compress import compress_one
from image_assets.pipeline.reports import preview_markdown, rate_distortion_plot
from tests.pipeline.conftest import DAY, SOURCE


def metric_row(psnr: float | None, bpp: float | None, status: str = "ok") -> dict:
    return {"status": status, "source_id": "a", "psnr": psnr, "bits_per_pixel": bpp}


def read_png(path) -> Image.Image:
    with Image.open(path) as img:
        assert img.format == "PNG"
        img.load()
        return img.copy()


def test_rate_distortion_plot_writes_a_png(tmp_path) -> None:
    rows = [metric_row(34.0, 1.5), metric_row(38.0, 2.5), metric_row(None, None, status="codec_error")]
    path = rate_distortion_plot(rows, tmp_path / "nested" / "rd.png", target=35.0)
    assert path == tmp_path / "nested" / "rd.png"
    assert read_png(path).size == (640, 440)


@pytest.mark.parametrize("rows", [[], [metric_row(None, None, status="missing_raw")]], ids=["no-rows", "no-ok-rows"])
def test_rate_distortion_plot_without_ok_rows(tmp_path, rows) -> None:
    path = rate_distortion_plot(rows, tmp_path / "empty.png")
    assert read_png(path).size == (640, 440)
    # The empty plot is a different picture from one with points.
    full = rate_distortion_plot([metric_row(34.0, 1.5)], tmp_path / "full.png")
    assert path.read_bytes() != full.read_bytes()


def test_preview_markdown_falls_back_when_objects_are_missing(store) -> None:
    row = {
        "status": "ok",
        "source_id": "a",
        "raw_key": "raw/fake/2026-11-26/a.png",
        "staged_key": "staging/fake/2026-11-26/a.svdz",
        "psnr": 36.0,
    }
    text = preview_markdown(store, row)
    assert text == "_No preview for `a`: its original or compressed object is missing or unreadable._"
    assert "data:image/png" not in text
    # No source id: the raw key names it; a failed row gets the note without reading anything.
    assert "`raw/fake/2026-11-26/a.png`" in preview_markdown(store, row | {"source_id": None})
    assert preview_markdown(store, row | {"status": "codec_error", "staged_key": None}).startswith("_No preview")


def test_preview_markdown_with_objects_and_with_the_compressed_one_gone(store, tiny_png) -> None:
    raw_key = layout.raw_key(SOURCE, DAY, "a", ".png")
    store.put(raw_key, tiny_png)
    item = {"source": SOURCE, "date": DAY.isoformat(), "source_id": "a", "raw_key": raw_key}
    row = compress_one(store, item, RankPolicy.parse("psnr=35"), layout.STAGING)

    text = preview_markdown(store, row)
    assert text.startswith("**a** — PSNR ")
    assert text.count("data:image/png;base64,") == 2

    store.delete(row["staged_key"])
    assert preview_markdown(store, row).startswith("_No preview for `a`")
    # Unreadable compressed bytes are treated like missing ones.
    store.put(row["staged_key"], b"not an svdz file")
    assert preview_markdown(store, row).startswith("_No preview for `a`")
