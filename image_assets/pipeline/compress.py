"""compressed_images: Spark executors read raw objects, encode them with the SVD codec, write `.svdz`.

Only storage references and small metric rows cross the driver; image bytes stay on executors. Each image
is caught on its own, so a bad photo becomes a row with a status and a reason, never a failed Spark job.

Work is never done twice: after writing a staged `.svdz`, the executor writes a small sidecar
(`encoded/<source>/<day>/<id>.json`) naming the raw content hash, the policy and the format version it encoded
for. Before starting Spark, the driver looks for sidecars that match and whose object (staged or already
published) still has the recorded hash; those rows are reused as they are. A finished day reruns without encoding,
and a killed run resumes where it stopped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa

from image_assets.pipeline import layout
from image_assets.pipeline.balance import balanced_slices
from image_assets.pipeline.progress import Stopwatch
from image_assets.stores import ObjectStore, StoreSpec

ASSET = "compressed_images"
# An exact reconstruction (a flat crop, a solid-colour wallpaper) has infinite PSNR. Manifests, MLflow, metadata
# and the catalog record it as this finite value with `lossless` true, so every store and every JSON output stays
# strict (SQLite's JSON and strict JSON parsers have no Infinity) and `--min-psnr` filters still match it.
LOSSLESS_PSNR = 100.0
# Photos above this are a `too_large` row, not an encode: Pillow's decompression-bomb limit (89.5 MP).
MAX_PIXELS = 89_478_485

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
        ("lossless", pa.bool_()),
        ("ssim", pa.float64()),
        ("bits_per_pixel", pa.float64()),
        ("encode_seconds", pa.float64()),
        ("total_seconds", pa.float64()),
        # What was encoded, and how: together they decide whether a rerun may reuse the object.
        ("raw_sha256", pa.string()),
        ("fingerprint", pa.string()),
        ("reused", pa.bool_()),
        # The Python worker (host:pid) that encoded the image, and when it started and finished it.
        ("worker", pa.string()),
        ("started_at", pa.float64()),
        ("finished_at", pa.float64()),
        # Set on the driver once the partition's MLflow run exists.
        ("mlflow_run_id", pa.string()),
        ("mlflow_experiment_id", pa.string()),
    ]
)


def fingerprint(policy: Any) -> str:
    """How an image is encoded: the rank policy and the `.svdz` format version (a new format re-encodes)."""
    from image_assets.codec import container

    return f"{policy.describe()}|svdz-v{container.FORMAT_VERSION}"


def compress_one(
    store: Any, item: Mapping[Any, Any], policy: Any, output_area: str, *, record: bool = False
) -> dict[str, Any]:
    """Encode one raw object to `<output_area>/<source>/<date>/<id>.svdz`; failures are rows, never raised.

    With `record`, a sidecar names what was encoded (see the module docstring), written after the object so a
    crash between the two only costs a re-encode.
    """
    from image_assets.codec import CodecError, ImageTooLarge, compress_image

    source, day, source_id, raw_key = item["source"], item["date"], item["source_id"], item["raw_key"]
    row: dict[str, Any] = {name: None for name in COMPRESSED_SCHEMA.names}
    row.update(
        source=source, date=day, source_id=source_id, raw_key=raw_key, status="ok", reused=False,
        raw_sha256=item.get("sha256"), fingerprint=fingerprint(policy),
        worker=f"{socket.gethostname()}:{os.getpid()}", started_at=time.time(),
    )  # fmt: skip
    started = time.perf_counter()
    try:
        data = store.get(raw_key)
        row["bytes_in"] = len(data)
        row["raw_sha256"] = item.get("sha256") or hashlib.sha256(data).hexdigest()
        result = compress_image(data, policy, max_pixels=MAX_PIXELS)
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
            psnr=min(float(result.psnr), LOSSLESS_PSNR),
            lossless=math.isinf(result.psnr),
            ssim=float(result.ssim),
            bits_per_pixel=float(result.bits_per_pixel),
            encode_seconds=float(result.encode_seconds),
        )
    except KeyError:
        row.update(status="missing_raw", reason=f"raw object {raw_key} is gone; rematerialize raw_images")
    except ImageTooLarge as exc:
        row.update(status="too_large", reason=str(exc))
    except CodecError as exc:
        row.update(status="codec_error", reason=str(exc))
    except Exception as exc:  # one image must never fail the batch
        row.update(status="error", reason=f"{type(exc).__name__}: {exc}"[:500])
    row["total_seconds"] = time.perf_counter() - started
    row["finished_at"] = time.time()
    if record and row["status"] == "ok":
        sidecar = {"fingerprint": row["fingerprint"], "raw_sha256": row["raw_sha256"], "row": row}
        store.put(layout.sidecar_key(source, day, source_id), json.dumps(sidecar).encode())
    return row


def reusable_row(store: ObjectStore, item: Mapping[str, Any], expected: str) -> dict[str, Any] | None:
    """The row of an earlier encode of this exact raw content under `expected` (a fingerprint), if its object
    is still there with the recorded hash: the staged object first, else the published one (staged_key None)."""
    raw_sha = item.get("sha256")
    if not raw_sha:
        return None
    try:
        sidecar = json.loads(store.get(layout.sidecar_key(item["source"], item["date"], item["source_id"])))
        row = sidecar["row"]
        if sidecar["fingerprint"] != expected or sidecar["raw_sha256"] != raw_sha or row["status"] != "ok":
            return None
    except (KeyError, TypeError, ValueError):
        return None
    published = layout.image_key(item["source"], dt.date.fromisoformat(item["date"]), item["source_id"])
    for key in (row.get("staged_key"), published):
        try:
            data = store.get(key) if key else None
        except KeyError:
            continue
        if data is not None and hashlib.sha256(data).hexdigest() == row.get("sha256"):
            return row | {"staged_key": key if key != published else None, "reused": True}
    return None


def slice_encoder(
    store_spec: StoreSpec, policy: Any, output_area: str, record: bool
) -> Callable[[Iterator[list[dict[str, Any]]]], Iterator[dict[str, Any]]]:
    """What Spark ships to executors: each partition holds one slice (a list of items); one store per task and
    one BLAS thread per encode, because Spark already runs one task per core."""

    def run(slices: Iterator[list[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
        from image_assets.codec import blas_threads

        store = store_spec.open()
        with blas_threads(1):
            for items in slices:
                for item in items:
                    yield compress_one(store, item, policy, output_area, record=record)

    return run


def pixel_weight(item: Mapping[str, Any]) -> float:
    """Encode cost grows with pixels; raw manifests record them (older ones only bytes, a fair proxy)."""
    if item.get("width") and item.get("height"):
        return float(item["width"]) * float(item["height"])
    return float(item.get("bytes") or 1) * 4.0


def compress_images(
    spark: Any,
    store_spec: StoreSpec,
    items: Sequence[Mapping[str, Any]],
    policy: Any,
    *,
    output_area: str = layout.STAGING,
    reuse: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
    watch: Stopwatch | None = None,
    while_encoding: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    """Encode many images (any mix of partitions) in one Spark job; one small metrics row per image.

    `items` hold `source`, `date` (ISO day), `source_id`, `raw_key`, and from raw manifests `sha256`, `width`,
    `height`. With `reuse` (the pipeline's staging area), earlier encodes of the same content are reused and
    new ones recorded; `spark` is a callable returning the session, so a fully reused run never starts Spark.
    Slices are pixel-balanced and all run at once (`collect` of small rows). `on_progress(done, total)` is
    called while the job runs; `watch` times the stages (reuse_check, spark_start, encode_job);
    `while_encoding` is called once Spark has started, just before the job (the driver is idle during it).
    """
    watch = watch or Stopwatch()
    fields = ("source", "date", "source_id", "raw_key", "sha256", "width", "height", "bytes")
    refs = [{k: item.get(k) for k in fields} for item in items]
    if not refs:
        return []
    rows: list[dict[str, Any]] = []
    todo = refs
    if reuse:
        store, expected = store_spec.open(), fingerprint(policy)
        with watch("reuse_check"), ThreadPoolExecutor(max_workers=16) as pool:
            found = list(pool.map(lambda ref: reusable_row(store, ref, expected), refs))
        rows = [row for row in found if row is not None]
        todo = [ref for ref, row in zip(refs, found, strict=True) if row is None]
    if on_progress:
        on_progress(len(rows), len(refs))
    if todo:
        with watch("spark_start"):
            session = spark() if callable(spark) else spark
        if while_encoding:
            while_encoding()
        with watch("encode_job"):
            rows += run_encode_job(session, store_spec, todo, policy, output_area, reuse, on_progress, len(rows))
    return rows


def run_encode_job(
    session: Any,
    store_spec: StoreSpec,
    todo: Sequence[dict[str, Any]],
    policy: Any,
    output_area: str,
    record: bool,
    on_progress: Callable[[int, int], None] | None,
    already: int,
) -> list[dict[str, Any]]:
    """One Spark job over pixel-balanced slices; a watcher thread turns finished tasks into progress."""
    context = session.sparkContext
    slices = balanced_slices(todo, pixel_weight, int(context.defaultParallelism))
    group = f"imgpipe-encode-{uuid.uuid4().hex[:8]}"
    context.setJobGroup(group, f"encode {len(todo)} images in {len(slices)} slices", interruptOnCancel=True)
    stop = threading.Event()
    watcher = None
    if on_progress:
        sizes = [len(s) for s in slices]
        watcher = threading.Thread(
            target=_watch, args=(context, group, sizes, already, already + len(todo), on_progress, stop), daemon=True
        )
        watcher.start()
    try:
        rdd = context.parallelize(slices, len(slices))
        return list(rdd.mapPartitions(slice_encoder(store_spec, policy, output_area, record)).collect())
    finally:
        stop.set()
        if watcher:
            watcher.join(timeout=5)
        if on_progress:
            on_progress(already + len(todo), already + len(todo))


def _watch(
    context: Any, group: str, sizes: list[int], already: int, total: int,
    on_progress: Callable[[int, int], None], stop: threading.Event,
) -> None:  # fmt: skip
    """Poll Spark's status tracker: finished tasks × the mean slice size ≈ images done."""
    tracker = context.statusTracker()
    mean = sum(sizes) / max(len(sizes), 1)
    while not stop.wait(2.0):
        finished = 0
        for job_id in tracker.getJobIdsForGroup(group):
            job = tracker.getJobInfo(job_id)
            for stage_id in job.stageIds if job else ():
                stage = tracker.getStageInfo(stage_id)
                finished += stage.numCompletedTasks if stage else 0
        on_progress(min(total, already + round(finished * mean)), total)


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
        "entropy_coder": container.ENTROPY_CODER,
        "quantization": "uniform, per-vector step",
    }


def remove_stale_staging(store: Any, source: str, day: dt.date, rows: Sequence[dict]) -> int:
    """Delete staged objects and sidecars of the partition that no current row refers to."""
    keep = {row["staged_key"] for row in rows if row.get("staged_key")}
    keep |= {layout.sidecar_key(source, day, row["source_id"]) for row in rows if row.get("status") == "ok"}
    stale = [
        key
        for area in (layout.STAGING, layout.ENCODED)
        for key in store.list(layout.partition_prefix(area, source, day))
        if key not in keep
    ]
    for key in stale:
        store.delete(key)
    return len(stale)
