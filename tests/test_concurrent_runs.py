"""Two runs of the same partition at once converge on one set of objects and documents."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from dagster import DagsterInstance, materialize
from pymongo import MongoClient

from image_assets.assets import IMAGE_ASSETS
from image_assets.pipeline import layout
from image_assets.resources import build_resources
from image_assets.settings import Settings
from image_assets.sources.local import BUNDLED_PHOTOS
from image_assets.stores import open_store

pytestmark = pytest.mark.integration

DAY = dt.date(2026, 11, 21)
PHOTOS = ["chelsea.png", "coffee.png", "rocket.jpg", "camera.png"]


def run_partition(resources: dict, partition_key: str) -> bool:
    """One run of the four assets. Each run has its own (in-memory) Dagster instance, as two run workers would; what
    they share is the product's state: object storage, the catalog, MLflow and Spark."""
    return materialize(
        IMAGE_ASSETS,
        partition_key=partition_key,
        resources=resources,
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    ).success


def test_concurrent_runs_of_one_partition(tmp_path, monkeypatch, mongodb_uri, spark_resource) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    noon = dt.datetime.combine(DAY, dt.time(12), tzinfo=dt.UTC).timestamp()
    for name in PHOTOS:
        shutil.copy(BUNDLED_PHOTOS / name, folder / name)
        os.utime(folder / name, (noon, noon))
    monkeypatch.setenv("IMGPIPE_LOCAL_SOURCE", str(folder))
    database = f"concurrent_{uuid.uuid4().hex[:8]}"
    settings = Settings.from_env(
        {"IMGPIPE_HOME": str(tmp_path / "home"), "MONGODB_URI": mongodb_uri, "IMGPIPE_MONGODB_DB": database}
    )
    resources = build_resources(settings) | {"spark": spark_resource}

    with ThreadPoolExecutor(max_workers=2) as pool:
        assert list(pool.map(lambda _: run_partition(resources, f"{DAY}|local"), range(2))) == [True, True]

    store = open_store(settings.storage_url)
    objects = sorted(store.list(layout.partition_prefix(layout.IMAGES, "local", DAY)))
    assert len(objects) == len(PHOTOS)
    assert list(store.list(layout.partition_prefix(layout.STAGING, "local", DAY))) == []
    collection = MongoClient(mongodb_uri)[database]["images"]
    docs = list(collection.find({}))
    assert len(docs) == len(PHOTOS) == len({(d["source"], d["source_id"]) for d in docs})
    assert sorted(d["storage"]["key"] for d in docs) == objects
    # Every document points at an object that decodes: no torn writes.
    from image_assets.codec import decode

    for doc in docs:
        assert decode(store.get(doc["storage"]["key"])).shape[:2] == (doc["height"], doc["width"])


def test_concurrent_runs_of_two_partitions_share_the_embedded_catalog(tmp_path, monkeypatch, spark_resource) -> None:
    """Two days materialized at once (two runs, as two run workers would) into the default SQLite catalog: both
    land every document, neither blocks the other for good, and each partition's checks see only its own."""
    folder = tmp_path / "photos"
    folder.mkdir()
    days = [DAY, DAY + dt.timedelta(days=1)]
    for n, day in enumerate(days):
        noon = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC).timestamp()
        for name in PHOTOS[n * 2 : n * 2 + 2]:
            shutil.copy(BUNDLED_PHOTOS / name, folder / name)
            os.utime(folder / name, (noon, noon))
    monkeypatch.setenv("IMGPIPE_LOCAL_SOURCE", str(folder))
    settings = Settings.from_env({"IMGPIPE_HOME": str(tmp_path / "home")})
    resources = build_resources(settings) | {"spark": spark_resource}

    with ThreadPoolExecutor(max_workers=2) as pool:
        assert list(pool.map(lambda day: run_partition(resources, f"{day}|local"), days)) == [True, True]

    from image_assets.catalog import open_catalog

    catalog = open_catalog(None, settings.mongodb_database, settings.catalog_sqlite_path)
    store = open_store(settings.storage_url)
    try:
        for n, day in enumerate(days):
            docs = list(catalog.find({"partition_key": f"{day}|local"}))
            assert sorted(d["source_id"].rsplit("-", 1)[0] for d in docs) == sorted(
                name.rsplit(".", 1)[0] for name in PHOTOS[n * 2 : n * 2 + 2]
            )
            keys = {d["storage"]["key"] for d in docs}
            assert set(store.list(layout.partition_prefix(layout.IMAGES, "local", day))) == keys
        assert catalog.count() == len(PHOTOS)
    finally:
        catalog.close()
