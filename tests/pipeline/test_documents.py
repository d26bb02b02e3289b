"""build_documents: one catalog document per stored image, joining the raw, compressed and stored manifests."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from image_assets.catalog import document_id
from image_assets.pipeline import layout
from image_assets.pipeline.compress import COMPRESSED_SCHEMA
from image_assets.pipeline.documents import build_documents
from image_assets.pipeline.manifests import read_manifest, write_manifest
from tests.pipeline.conftest import DAY, PARTITION, SOURCE

RECORD = {
    "source": SOURCE,
    "source_id": "a",
    "photographer": "Ana Müller",
    "photographer_url": "https://example.org/ana",
    "page_url": "https://example.org/photos/a",
    "image_url": "https://img.example/a.jpg",
    "attribution": "Photo by Ana Müller",
    "description": "a red door",
    "color": "#aa2211",
    "created_at": "2026-11-20T08:00:00+00:00",
}


def raw_row(sid: str, *, record: dict | None = None) -> dict:
    return {
        "source": SOURCE,
        "source_id": sid,
        "status": "ok",
        "raw_key": f"raw/fake/2026-11-26/{sid}.png",
        "sha256": f"orig-{sid}",
        "record": json.dumps(record if record is not None else {"source_id": sid}),
    }


def compressed_row(sid: str, **fields) -> dict:
    return {
        "source": SOURCE,
        "date": "2026-11-26",
        "source_id": sid,
        "status": "ok",
        "width": 64,
        "height": 48,
        "channels": 3,
        "bytes_in": 3000,
        "bytes_out": 1000,
        "ranks": "14,5,8",
        "psnr": 36.5,
        "ssim": 0.95,
        "bits_per_pixel": 2.5,
        "encode_seconds": 0.02,
        "total_seconds": 0.03,
        "staged_key": f"staging/fake/2026-11-26/{sid}.svdz",
        "sha256": f"svdz-{sid}",
        "mlflow_run_id": f"mlflow-{sid}",
    } | fields


def stored_row(sid: str, status: str = "ok") -> dict:
    key = layout.image_key(SOURCE, DAY, sid) if status == "ok" else None
    return {
        "source": SOURCE,
        "source_id": sid,
        "status": status,
        "key": key,
        "uri": f"/objects/{key}" if key else None,
        "sha256": f"svdz-{sid}" if key else None,
    }


def build(raw, compressed, stored, **kwargs) -> list[dict]:
    return list(build_documents(PARTITION, DAY, raw, compressed, stored, **kwargs))


def test_one_document_per_ok_stored_row() -> None:
    docs = build(
        [raw_row("a", record=RECORD), raw_row("b")],
        [compressed_row("a"), compressed_row("b")],
        [stored_row("a"), stored_row("b", status="missing_staged")],
        run_id="dagster-1",
    )
    assert [doc["_id"] for doc in docs] == [document_id(SOURCE, "a")] == ["fake:a"]
    doc = docs[0]
    assert doc["source"] == SOURCE and doc["source_id"] == "a"
    assert doc["partition_key"] == PARTITION
    assert doc["date"] == "2026-11-26"
    assert doc["storage"] == {
        "key": "images/fake/2026-11-26/a.svdz",
        "uri": "/objects/images/fake/2026-11-26/a.svdz",
        "raw_key": "raw/fake/2026-11-26/a.png",
    }
    assert (doc["width"], doc["height"], doc["channels"]) == (64, 48, 3)
    assert (doc["bytes_in"], doc["bytes_out"]) == (3000, 1000)
    assert (doc["psnr"], doc["ssim"], doc["bits_per_pixel"]) == (36.5, 0.95, 2.5)
    assert doc["timings"] == {"encode_s": 0.02, "total_s": 0.03}
    assert doc["sha256"] == "svdz-a"
    assert doc["original_sha256"] == "orig-a"
    assert isinstance(doc["updated_at"], dt.datetime) and doc["updated_at"].tzinfo is not None


def test_ratio_and_ranks() -> None:
    docs = build(
        [raw_row("a"), raw_row("b"), raw_row("c")],
        [
            compressed_row("a", bytes_in=3000, bytes_out=1200),
            compressed_row("b", ranks="", bytes_out=0),
            compressed_row("c", ranks="7"),
        ],
        [stored_row("a"), stored_row("b"), stored_row("c")],
    )
    by_id = {doc["source_id"]: doc for doc in docs}
    assert by_id["a"]["ratio"] == pytest.approx(2.5)
    assert by_id["a"]["ranks"] == [14, 5, 8]
    assert all(isinstance(rank, int) for rank in by_id["a"]["ranks"])
    assert by_id["b"]["ratio"] is None  # no division by zero
    assert by_id["b"]["ranks"] == []
    assert by_id["c"]["ranks"] == [7]


def test_attribution_comes_from_the_raw_record() -> None:
    (doc,) = build([raw_row("a", record=RECORD)], [compressed_row("a")], [stored_row("a")])
    assert doc["attribution"] == {
        "photographer": "Ana Müller",
        "photographer_url": "https://example.org/ana",
        "page_url": "https://example.org/photos/a",
        "image_url": "https://img.example/a.jpg",
        "text": "Photo by Ana Müller",
    }
    assert doc["description"] == "a red door"
    assert doc["color"] == "#aa2211"
    assert doc["created_at"] == "2026-11-20T08:00:00+00:00"


def test_missing_raw_row_leaves_attribution_empty() -> None:
    (doc,) = build([], [compressed_row("a")], [stored_row("a")])
    assert doc["storage"]["raw_key"] is None
    assert doc["original_sha256"] is None
    assert set(doc["attribution"].values()) == {None}
    assert doc["description"] is None


def test_run_ids() -> None:
    docs = build(
        [raw_row("a"), raw_row("b")],
        [compressed_row("a", mlflow_run_id="m1"), compressed_row("b", mlflow_run_id="m2")],
        [stored_row("a"), stored_row("b")],
        run_id="dagster-7",
    )
    assert {doc["source_id"]: doc["mlflow_run_id"] for doc in docs} == {"a": "m1", "b": "m2"}
    assert {doc["dagster_run_id"] for doc in docs} == {"dagster-7"}
    # Without a run id or an MLflow column the fields are present but empty.
    (doc,) = build(
        [raw_row("a")], [{k: v for k, v in compressed_row("a").items() if k != "mlflow_run_id"}], [stored_row("a")]
    )
    assert doc["dagster_run_id"] is None and doc["mlflow_run_id"] is None


def test_no_stored_rows_no_documents() -> None:
    assert build([raw_row("a")], [compressed_row("a")], []) == []
    assert build([raw_row("a")], [compressed_row("a")], [stored_row("a", status="missing_staged")]) == []


def test_mlflow_run_id_survives_the_compressed_manifest(store) -> None:
    key = layout.manifest_key("compressed_images", SOURCE, DAY)
    row = {name: None for name in COMPRESSED_SCHEMA.names} | compressed_row("a", mlflow_run_id="m1")
    write_manifest(store, key, [row], COMPRESSED_SCHEMA)
    (doc,) = build([raw_row("a")], read_manifest(store, key), [stored_row("a")])
    assert doc["mlflow_run_id"] == "m1"
