"""The whole graph on real components: Spark local, the GCS emulator, wire-protocol MongoDB, MLflow SQLite."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid

import pytest
from dagster import DagsterInstance, materialize
from PIL import Image
from pymongo import MongoClient

from image_assets.assets import IMAGE_ASSETS
from image_assets.codec import container, decode
from image_assets.resources import build_resources
from image_assets.settings import Settings
from image_assets.sources.local import BUNDLED_PHOTOS
from tests.conftest import GCS_BUCKET

pytestmark = pytest.mark.integration

DAY = dt.date(2026, 11, 26)
PARTITION = "2026-11-26|local"
PHOTOS = ["chelsea.png", "coffee.png", "rocket.jpg"]


def place(folder, name: str, day: dt.date, data: bytes | None = None) -> None:
    path = folder / name
    if data is None:
        shutil.copy(BUNDLED_PHOTOS / name, path)
    else:
        path.write_bytes(data)
    noon = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC).timestamp()
    os.utime(path, (noon, noon))


@pytest.fixture
def e2e(request, tmp_path, monkeypatch, mongodb_uri, spark_resource):
    # Spark's Python workers start before the GCS endpoint is known, as on a cluster whose executors were
    # launched earlier: the store's settings must travel with the job, not come from the worker environment.
    assert spark_resource.spark_session.range(1).count() == 1
    request.getfixturevalue("gcs_host")
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in PHOTOS:
        place(folder, name, DAY)
    place(folder, "broken.jpg", DAY, b"\xff\xd8\xff not really a jpeg")
    place(folder, "other-day.png", DAY - dt.timedelta(days=1), (BUNDLED_PHOTOS / "camera.png").read_bytes())
    monkeypatch.setenv("IMGPIPE_LOCAL_SOURCE", str(folder))
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    settings = Settings.from_env(
        {
            "IMGPIPE_HOME": str(tmp_path / "home"),
            "IMGPIPE_BUCKET": f"gs://{GCS_BUCKET}/{prefix}",
            "MONGODB_URI": mongodb_uri,
            "IMGPIPE_MONGODB_DB": prefix.replace("-", "_"),
        }
    )
    resources = build_resources(settings) | {"spark": spark_resource}
    instance = DagsterInstance.ephemeral()

    def run():
        result = materialize(IMAGE_ASSETS, partition_key=PARTITION, resources=resources, instance=instance)
        assert result.success
        return result

    return folder, settings, prefix, run


def blob_names(prefix: str, area: str) -> list[str]:
    from google.cloud import storage

    return sorted(b.name for b in storage.Client().list_blobs(GCS_BUCKET, prefix=f"{prefix}/{area}/"))


def test_materialize_twice_lands_everything_once(e2e) -> None:
    folder, settings, prefix, run = e2e
    result = run()

    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"quality_target_met": True, "objects_match_documents": True, "no_duplicate_images": True}
    raw_meta = result.asset_materializations_for_node("raw_images")[0].metadata
    assert raw_meta["status_counts"].value == {"bad_content": 1, "ok": 3}

    # Objects: one .svdz per good photo under deterministic keys, decoding to the photo's size.
    images = blob_names(prefix, "images")
    assert len(images) == 3 and all(n.startswith(f"{prefix}/images/local/2026-11-26/") for n in images)
    assert blob_names(prefix, "staging") == []
    from google.cloud import storage

    bucket = storage.Client().bucket(GCS_BUCKET)
    sizes = sorted(decode(bucket.blob(n).download_as_bytes()).shape[:2] for n in images)
    expected = sorted(Image.open(folder / name).size[::-1] for name in PHOTOS)
    assert sizes == expected

    # Documents: one per image, through a real pymongo client, with what the catalog promises.
    collection = MongoClient(settings.mongodb_uri)[settings.mongodb_database]["images"]
    docs = list(collection.find({"partition_key": PARTITION}))
    assert len(docs) == 3
    for doc in docs:
        assert doc["_id"] == f"local:{doc['source_id']}"
        assert doc["storage"]["uri"].startswith(f"gs://{GCS_BUCKET}/{prefix}/images/")
        assert doc["psnr"] >= 35.0 - 1e-6 and 0 < doc["ssim"] <= 1
        assert doc["bytes_out"] > 0 and doc["bytes_in"] > 0 and doc["width"] > 0
        assert doc["ranks"] and doc["timings"]["encode_s"] > 0

    # MLflow: one finished run for the partition with params, metrics and tags.
    from mlflow.tracking import MlflowClient

    client = MlflowClient(settings.mlflow_tracking_uri)
    experiment = client.get_experiment_by_name(settings.mlflow_experiment)
    assert experiment.artifact_location.startswith(settings.mlflow_artifact_root)
    (mlrun,) = client.search_runs([experiment.experiment_id])
    assert mlrun.info.status == "FINISHED"
    assert mlrun.data.tags["source"] == "local" and mlrun.data.tags["date"] == "2026-11-26"
    assert mlrun.data.params["policy"] == "psnr"
    assert mlrun.data.metrics["images_ok"] == 3 and mlrun.data.metrics["psnr_mean"] >= 35.0
    assert mlrun.data.params["layout"] and mlrun.data.params["entropy_coder"] == container.ENTROPY_CODER
    assert {a.path for a in client.list_artifacts(mlrun.info.run_id)} == {"rate_distortion.png", "before_after.png"}
    compressed_meta = result.asset_materializations_for_node("compressed_images")[0].metadata
    assert compressed_meta["preview"].value.count("data:image/png;base64,") == 2
    assert f"runs/{mlrun.info.run_id}" in compressed_meta["mlflow_run"].value
    # Every catalog document names the MLflow run that compressed it.
    assert {doc["mlflow_run_id"] for doc in docs} == {mlrun.info.run_id}
    # image_catalog's metadata carries the partition's catalog stats (what `imgpipe catalog stats` prints).
    (stats,) = result.asset_materializations_for_node("image_catalog")[0].metadata["catalog_stats"].value
    assert (stats["source"], stats["date"], stats["images"]) == ("local", "2026-11-26", 3)
    assert stats["bytes_out"] == sum(doc["bytes_out"] for doc in docs)

    # Rerun: nothing duplicated.
    run()
    assert blob_names(prefix, "images") == images
    assert collection.count_documents({}) == 3
    assert blob_names(prefix, "staging") == []

    # A photo that left the folder leaves storage and the catalog on the next run.
    (folder / PHOTOS[0]).unlink()
    run()
    assert len(blob_names(prefix, "images")) == 2
    assert collection.count_documents({"partition_key": PARTITION}) == 2
    assert len(blob_names(prefix, "raw")) == 2
