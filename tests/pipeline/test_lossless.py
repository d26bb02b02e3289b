"""Exact reconstructions are ordinary: a finite PSNR with a `lossless` flag, all the way to strict JSON."""

from __future__ import annotations

import io
import json
import math

import numpy as np
from PIL import Image

from image_assets.codec import RankPolicy
from image_assets.pipeline import layout
from image_assets.pipeline.compress import LOSSLESS_PSNR, compress_one
from image_assets.pipeline.summary import compression_summary, quality_check
from tests.pipeline.conftest import DAY, SOURCE


def solid_png(colour: tuple[int, int, int] = (128, 128, 128)) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((48, 64, 3), colour, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_solid_colour_photo_is_lossless_with_a_finite_psnr(store) -> None:
    key = layout.raw_key(SOURCE, DAY, "flat", ".png")
    store.put(key, solid_png())
    item = {"source": SOURCE, "date": DAY.isoformat(), "source_id": "flat", "raw_key": key}
    row = compress_one(store, item, RankPolicy.parse("psnr=35"), layout.STAGING)
    assert row["status"] == "ok" and row["lossless"] is True
    assert row["psnr"] == LOSSLESS_PSNR and math.isfinite(row["psnr"])

    summary = compression_summary([row], 1.0)
    assert all(math.isfinite(v) for v in summary.values())
    assert json.loads(json.dumps(summary, allow_nan=False))["psnr_mean"] == LOSSLESS_PSNR
    passed, _ = quality_check([row], RankPolicy.parse("psnr=35"))
    assert passed
