"""The pipeline functions chained by hand, as the assets chain them, with Spark's part done by compress_one."""

from __future__ import annotations

from image_assets.codec import RankPolicy
from image_assets.pipeline import layout
from image_assets.pipeline.checks import partition_consistency
from image_assets.pipeline.compress import compress_one
from image_assets.pipeline.documents import build_documents
from image_assets.pipeline.ingest import ingest_partition
from image_assets.pipeline.publish import publish_partition
from image_assets.sources import DownloadError
from tests.pipeline.conftest import DAY, PARTITION, SOURCE, FakeSource, png_bytes


def test_ingest_compress_publish_catalog_check(store, catalog, tiny_png) -> None:
    source = FakeSource(
        {
            "a": tiny_png,
            "a b": png_bytes(shift=80),
            "copy-of-a": tiny_png,  # the same photo listed under another id
            "broken": b"GIF89a-truncated",
            "gone": DownloadError("http_error", "HTTP 410"),
        }
    )
    raw_rows = ingest_partition(source, store, list(source.discover(DAY)), DAY)
    items = [row | {"date": DAY.isoformat()} for row in raw_rows if row["status"] == "ok"]
    compressed_rows = [compress_one(store, item, RankPolicy.parse("psnr=35"), layout.STAGING) for item in items]
    assert {row["status"] for row in compressed_rows} == {"ok"}
    stored_rows = publish_partition(store, SOURCE, DAY, compressed_rows)
    docs = list(build_documents(PARTITION, DAY, raw_rows, compressed_rows, stored_rows, run_id="run-1"))
    catalog.upsert(docs)

    assert sorted(doc["_id"] for doc in docs) == ["fake:a", "fake:a b", "fake:copy-of-a"]
    for doc in docs:
        assert store.exists(doc["storage"]["key"])
        assert store.exists(doc["storage"]["raw_key"])
    state = partition_consistency(store, catalog, SOURCE, DAY, PARTITION)
    assert state.matched
    assert (state.objects, state.documents) == (3, 3)
    assert state.same_content == [["fake:a", "fake:copy-of-a"]]

    # An image deleted behind the pipeline's back is reported as a document without object.
    store.delete(layout.image_key(SOURCE, DAY, "a b"))
    state = partition_consistency(store, catalog, SOURCE, DAY, PARTITION)
    assert state.documents_without_object == ["fake:a b"]
