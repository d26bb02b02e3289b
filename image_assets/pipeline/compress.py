"""compressed_images: Spark executors read raw objects, encode them with the SVD codec, write `.svdz`.

Only storage references and small metric rows cross the driver; image bytes stay on executors. Each image
is caught on its own, so a bad photo becomes a row with a status and a reason, never a failed Spark job.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa

from image_assets.pipeline import layout
from image_assets.stores import StoreSpec

ASSET = "compressed_images"

COMPRESSED_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("date", pa.string()),
        ("source_id", pa.string()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("raw_key", pa.string()),
        ("staged_key", pa.string()),
        ("sha256", pa.string()),
        ("width", pa.int64()),
        ("height", pa.int64()),
        ("channels", pa.int64()),
        ("bytes_in", pa.int64()),
        ("bytes_out", pa.int64()),
        ("ranks", pa.string()),
        ("layout", pa.string()),
        ("psnr", pa.float64()),
        ("ssim", pa.float64()),
        ("bits_per_pixel", pa.float64()),
        ("encode_seconds", pa.float64()),
        ("total_seconds", pa.float64()),
    ]
)
SPARK_SCHEMA = ", ".join(
    f"{field.name} {'bigint' if field.type == pa.int64() else 'double' if field.type == pa.float64() else 'string'}"
    for field in COMPRESSED_SCHEMA
)


def compress_one(store: Any, item: Mapping[Any, Any], policy: Any, output_area: str) -> dict[str, Any]:
    """Encode one raw object to `<output_area>/<source>/<date>/<id>.svdz`; failures are rows, never raised."""
    from image_assets.codec import CodecError, compress_image

    source, day, source_id, raw_key = item["source"], item["date"], item["source_id"], item["raw_key"]
    row: dict[str, Any] = {name: None for name in COMPRESSED_SCHEMA.names}
    row.update(source=source, date=day, source_id=source_id, raw_key=raw_key, status="ok")
    started = time.perf_counter()
    try:
        data = store.get(raw_key)
        row["bytes_in"] = len(data)
        result = compress_image(data, policy)
        key = layout.svdz_key(output_area, source, day, source_id)
        store.put(key, result.data)
        row.update(
            staged_key=key,
            sha256=hashlib.sha256(result.data).hexdigest(),
            width=result.width,
            height=result.height,
            channels=result.channels,
            bytes_out=len(result.data),
            ranks=",".join(str(r) for r in result.ranks),
            layout=result.layout,
            psnr=float(result.psnr),
            ssim=float(result.ssim),
            bits_per_pixel=float(result.bits_per_pixel),
            encode_seconds=float(result.encode_seconds),
        )
    except KeyError:
        row.update(status="missing_raw", reason=f"raw object {raw_key} is gone; rematerialize raw_images")
    except CodecError as exc:
        row.update(status="codec_error", reason=str(exc))
    except Exception as exc:  # one image must never fail the batch
        row.update(status="error", reason=f"{type(exc).__name__}: {exc}"[:500])
    row["total_seconds"] = time.perf_counter() - started
    return row


def batch_compressor(
    store_spec: StoreSpec, policy: Any, output_area: str
) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """The function mapInPandas ships to executors: one store per task, one BLAS thread per encode."""

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from image_assets.codec import blas_threads

        store = store_spec.open()
        with blas_threads(1):
            for batch in batches:
                rows = [compress_one(store, item, policy, output_area) for item in batch.to_dict("records")]
                yield pd.DataFrame(rows, columns=COMPRESSED_SCHEMA.names)

    return run


def compress_images(
    spark: Any,
    store_spec: StoreSpec,
    items: Sequence[dict[str, str]],
    policy: Any,
    *,
    output_area: str = layout.STAGING,
) -> list[dict[str, Any]]:
    """Encode many images (any mix of partitions) in one Spark job; one small metrics row per image.

    `items` hold `source`, `date` (ISO day), `source_id` and `raw_key`. The Spark partitioning follows the
    cluster's parallelism, and Arrow batches stay small (see resources.spark.ARROW_BATCH_ROWS).
    """
    refs = [{k: str(item[k]) for k in ("source", "date", "source_id", "raw_key")} for item in items]
    if not refs:
        return []
    slices = max(1, min(len(refs), spark.sparkContext.defaultParallelism * 2))
    frame = spark.createDataFrame(pd.DataFrame(refs)).repartition(slices)
    results = frame.mapInPandas(batch_compressor(store_spec, policy, output_area), schema=SPARK_SCHEMA)
    return [row.asDict() for row in results.toLocalIterator()]


def group_by_partition(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Rows keyed by (source, ISO date), for the per-partition manifests and MLflow runs."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["source"], row["date"]), []).append(row)
    return groups


def codec_params(rows: Sequence[dict[str, Any]]) -> dict[str, str]:
    """What MLflow should know about how the codec ran: layout (colour model and block size), format, coder."""
    from collections import Counter

    from image_assets.codec import container

    layouts = Counter(row["layout"] for row in rows if row.get("layout"))
    return {
        "layout": layouts.most_common(1)[0][0] if layouts else "",
        "format_version": str(container.FORMAT_VERSION),
        "entropy_coder": f"zstd-{container.ZSTD_LEVEL}",
        "quantization": "uniform, per-vector step",
    }


def remove_stale_staging(store: Any, source: str, day: dt.date, rows: Sequence[dict]) -> int:
    keep = {row["staged_key"] for row in rows if row.get("staged_key")}
    stale = [k for k in store.list(layout.partition_prefix(layout.STAGING, source, day)) if k not in keep]
    for key in stale:
        store.delete(key)
    return len(stale)
