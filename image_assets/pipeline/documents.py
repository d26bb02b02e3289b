"""image_catalog: one document per stored image, joining the three upstream manifests."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from typing import Any

from image_assets.catalog import document_id


def build_documents(
    partition_key: str,
    day: dt.date,
    raw_rows: Sequence[dict[str, Any]],
    compressed_rows: Sequence[dict[str, Any]],
    stored_rows: Sequence[dict[str, Any]],
    *,
    run_id: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Documents for the partition's stored images; each names the Dagster run that wrote it and the MLflow run
    that compressed it (from the compressed manifest)."""
    raw = {row["source_id"]: row for row in raw_rows}
    compressed = {row["source_id"]: row for row in compressed_rows}
    now = dt.datetime.now(dt.UTC)
    for stored in stored_rows:
        if stored["status"] != "ok":
            continue
        sid = stored["source_id"]
        c, r = compressed[sid], raw.get(sid, {})
        record = json.loads(r["record"]) if r.get("record") else {}
        yield {
            "_id": document_id(stored["source"], sid),
            "source": stored["source"],
            "source_id": sid,
            "partition_key": partition_key,
            "date": day.isoformat(),
            "storage": {"key": stored["key"], "uri": stored["uri"], "raw_key": r.get("raw_key")},
            "width": c["width"],
            "height": c["height"],
            "channels": c["channels"],
            "bytes_in": c["bytes_in"],
            "bytes_out": c["bytes_out"],
            "ratio": (c["bytes_in"] / c["bytes_out"]) if c["bytes_out"] else None,
            "ranks": [int(x) for x in c["ranks"].split(",")] if c["ranks"] else [],
            "psnr": c["psnr"],
            "lossless": bool(c.get("lossless")),
            "ssim": c["ssim"],
            "bits_per_pixel": c["bits_per_pixel"],
            "timings": {"encode_s": c["encode_seconds"], "total_s": c["total_seconds"]},
            "sha256": stored["sha256"],
            "original_sha256": r.get("sha256"),
            "attribution": {
                "photographer": record.get("photographer"),
                "photographer_url": record.get("photographer_url"),
                "page_url": record.get("page_url"),
                "image_url": record.get("image_url"),
                "text": record.get("attribution"),
            },
            "description": record.get("description"),
            "color": record.get("color"),
            "created_at": record.get("created_at"),
            "dagster_run_id": run_id,
            "mlflow_run_id": c.get("mlflow_run_id"),
            "mlflow_experiment_id": c.get("mlflow_experiment_id"),
            "updated_at": now,
        }
