"""Spark runs the encode in parallel: tasks of one compressed_images job overlap in time on local[2]."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import itertools

import numpy as np
import pytest
from PIL import Image

from image_assets.codec import RankPolicy
from image_assets.pipeline import layout
from image_assets.pipeline.compress import compress_images
from image_assets.stores import LocalObjectStore, StoreSpec

pytestmark = pytest.mark.integration
DAY = dt.date(2026, 11, 26)
# Large enough that an encode (~0.1 s) outweighs the scheduling gaps between tasks: at 384 pixels (~65 ms an encode
# once the codec got faster) the gaps alone kept the overlap near the 1.3 threshold.
SIZE = 512


def photo(seed: int, size: int = SIZE) -> bytes:
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 255, size, dtype=np.float32)
    pixels = (base[None, :, None] * 0.6 + base[:, None, None] * 0.3 + rng.normal(0, 12, (size, size, 3))).clip(0, 255)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_encode_tasks_run_concurrently_on_two_cores(spark_resource, tmp_path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    items = []
    for n in range(16):
        data = photo(n)
        key = layout.raw_key("local", DAY, f"p{n}", ".png")
        store.put(key, data)
        items.append({
            "source": "local", "date": DAY.isoformat(), "source_id": f"p{n}", "raw_key": key,
            "sha256": hashlib.sha256(data).hexdigest(), "width": SIZE, "height": SIZE,
        })  # fmt: skip
    session = spark_resource.spark_session
    assert session.sparkContext.defaultParallelism == 2
    seen: list[tuple[int, int]] = []
    rows = compress_images(
        session, StoreSpec(store.url), items, RankPolicy.parse("psnr=35"), on_progress=lambda d, t: seen.append((d, t))
    )
    assert sorted(r["source_id"] for r in rows) == sorted(i["source_id"] for i in items)
    assert all(r["status"] == "ok" and not r["reused"] for r in rows)
    assert seen[-1] == (16, 16)

    # Two Python workers, and at least one pair of images from different workers encoded at the same time.
    workers = {r["worker"] for r in rows}
    assert len(workers) == 2, workers
    overlaps = [
        (a["source_id"], b["source_id"])
        for a, b in itertools.combinations(rows, 2)
        if a["worker"] != b["worker"] and a["started_at"] < b["finished_at"] and b["started_at"] < a["finished_at"]
    ]
    assert overlaps, "no two encodes overlapped: the job ran one task at a time"
    busy = sum(r["finished_at"] - r["started_at"] for r in rows)
    span = max(r["finished_at"] for r in rows) - min(r["started_at"] for r in rows)
    assert busy / span > 1.3, f"only {busy / span:.2f} cores busy on average"

    # A rerun of the same content reuses every encode (no Spark job at all).
    again = compress_images(
        lambda: pytest.fail("Spark started"), StoreSpec(store.url), items, RankPolicy.parse("psnr=35")
    )
    assert all(r["reused"] for r in again)
