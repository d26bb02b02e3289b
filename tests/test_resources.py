"""Each resource against its real backend: the GCS emulator, mongoeco's wire server, and the embedded defaults."""

from __future__ import annotations

import sqlite3
import uuid

import pytest
from pymongo.errors import BulkWriteError

from image_assets.catalog import open_catalog
from image_assets.catalog.sqlite import SQLiteCatalog
from image_assets.settings import Settings
from image_assets.stores import GCSObjectStore, LocalObjectStore, open_store
from tests.conftest import GCS_BUCKET


def exercise_store(store) -> None:
    store.put("a/b/one.bin", b"hello")
    store.put("a/b/two.bin", b"world")
    store.put("a/b/one.bin", b"hello again")  # overwrite is whole-object
    assert store.get("a/b/one.bin") == b"hello again"
    assert sorted(store.list("a/")) == ["a/b/one.bin", "a/b/two.bin"]
    store.copy("a/b/two.bin", "c/two.bin")
    assert store.get("c/two.bin") == b"world"
    store.delete("a/b/two.bin")
    store.delete("a/b/missing.bin")
    assert not store.exists("a/b/two.bin")
    with pytest.raises(KeyError):
        store.get("a/b/two.bin")
    assert store.delete_prefix("a/") == 1
    assert list(store.list("a/")) == []


def test_local_store(tmp_path) -> None:
    store = open_store(str(tmp_path / "objects"))
    assert isinstance(store, LocalObjectStore)
    exercise_store(store)
    with pytest.raises(ValueError):
        store.put("../escape", b"x")


@pytest.mark.integration
def test_gcs_store_against_emulator(gcs_host) -> None:
    store = open_store(f"gs://{GCS_BUCKET}/store-test-{uuid.uuid4().hex[:6]}")
    assert isinstance(store, GCSObjectStore)
    exercise_store(store)
    # The object really is in the bucket, under the prefix, seen by a separate client.
    from google.cloud import storage

    store.put("x.bin", b"1")
    names = [b.name for b in storage.Client().list_blobs(GCS_BUCKET, prefix=store.prefix)]
    assert names == [f"{store.prefix}/c/two.bin", f"{store.prefix}/x.bin"]


def exercise_catalog(catalog) -> None:
    catalog.upsert([{"_id": "local:a", "source": "local", "source_id": "a", "partition_key": "p", "date": "d"}])
    catalog.upsert(
        [{"_id": "local:a", "source": "local", "source_id": "a", "partition_key": "p", "date": "d", "psnr": 35.0}]
    )
    assert catalog.count({"source": "local"}) == 1
    assert catalog.get("local:a")["psnr"] == 35.0
    with pytest.raises((BulkWriteError, sqlite3.IntegrityError)):  # the unique (source, source_id) index is real
        catalog.upsert([{"_id": "other", "source": "local", "source_id": "a"}])
    catalog.upsert([{"_id": "local:b", "source": "local", "source_id": "b", "partition_key": "p", "date": "d"}])
    assert catalog.remove_stale("p", ["local:b"]) == 1
    assert [d["_id"] for d in catalog.find({"partition_key": "p"})] == ["local:b"]


@pytest.mark.integration
def test_catalog_on_wire_protocol_mongodb(mongodb_uri) -> None:
    from pymongo import MongoClient

    assert MongoClient(mongodb_uri).admin.command("ping")["ok"] == 1
    catalog = open_catalog(mongodb_uri, f"t{uuid.uuid4().hex[:8]}", "unused")
    assert "pymongo" in type(catalog.client).__module__
    exercise_catalog(catalog)
    catalog.close()


def test_embedded_catalog(tmp_path) -> None:
    catalog = open_catalog(None, "imgpipe", tmp_path / "catalog.db")
    assert isinstance(catalog, SQLiteCatalog)
    exercise_catalog(catalog)
    catalog.close()
    assert (tmp_path / "catalog.db").exists()


def test_settings_defaults_and_overrides(tmp_path) -> None:
    defaults = Settings.from_env({"IMGPIPE_HOME": str(tmp_path)})
    assert defaults.storage_url == str(tmp_path / "objects")
    assert defaults.mongodb_uri is None
    assert defaults.catalog_sqlite_path == tmp_path / "catalog.db"  # never the old mongoeco catalog.sqlite
    assert defaults.mlflow_tracking_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert defaults.mlflow_artifact_root.startswith("file://") and str(tmp_path) in defaults.mlflow_artifact_root
    assert defaults.spark_master == "local[*]"
    real = Settings.from_env(
        {
            "IMGPIPE_HOME": str(tmp_path),
            "IMGPIPE_BUCKET": "gs://b/p",
            "MONGODB_URI": "mongodb://db:27017",
            "SPARK_MASTER": "spark://m:7077",
            "MLFLOW_TRACKING_URI": "http://mlflow:5000",
        }
    )
    conf = Settings.from_env({"IMGPIPE_SPARK_CONF": "spark.executor.memory=4g, spark.executor.cores=2"}).spark_conf
    assert conf == {"spark.executor.memory": "4g", "spark.executor.cores": "2"}
    with pytest.raises(ValueError, match=r"spark\.key=value"):
        Settings.from_env({"IMGPIPE_SPARK_CONF": "executor.memory=4g"})
    assert (real.storage_url, real.mongodb_uri, real.spark_master, real.mlflow_tracking_uri) == (
        "gs://b/p",
        "mongodb://db:27017",
        "spark://m:7077",
        "http://mlflow:5000",
    )


@pytest.mark.integration
def test_concurrent_upserts_of_the_same_documents_converge(mongodb_uri) -> None:
    from concurrent.futures import ThreadPoolExecutor

    database = f"race{uuid.uuid4().hex[:8]}"
    docs = [
        {"_id": f"local:{i}", "source": "local", "source_id": str(i), "partition_key": "p", "date": "d"}
        for i in range(300)
    ]

    def write(_: int) -> dict[str, int]:
        catalog = open_catalog(mongodb_uri, database, "unused")
        try:
            return catalog.upsert(docs)
        finally:
            catalog.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(write, range(4)))
    catalog = open_catalog(mongodb_uri, database, "unused")
    assert catalog.count() == 300
    assert len({(doc["source"], doc["source_id"]) for doc in catalog.find()}) == 300
    assert sum(r["inserted"] for r in results) == 300  # each document inserted exactly once across the writers
    catalog.close()


def test_connection_strings_from_the_environment_stay_environment_variables(monkeypatch) -> None:
    """Dagster shows an EnvVar's name, not its value, in the UI: passwords in these URIs never reach it."""
    from dagster import EnvVar

    from image_assets.resources import build_resources

    monkeypatch.setenv("MONGODB_URI", "mongodb://imgpipe:pa55word@db.example:27017/")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://alice:pa55word@mlflow.example/")
    resources = build_resources()
    assert resources["catalog"].mongodb_uri == EnvVar("MONGODB_URI")
    assert resources["tracking"].tracking_uri == EnvVar("MLFLOW_TRACKING_URI")
    assert "pa55word" not in repr(resources["catalog"]) + repr(resources["tracking"])
    monkeypatch.delenv("MONGODB_URI")
    assert build_resources()["catalog"].mongodb_uri is None
