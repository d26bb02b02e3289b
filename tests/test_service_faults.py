"""Faults injected into the real services mid-run: storage answering 503, stalling and dropping connections; the
GCS emulator and the MongoDB wire server stopped and started again; a Spark Python worker killed mid-task. Each
run ends with every photo cataloged once, every object accounted for, and what happened in the run's log."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from dagster import DagsterEventType, DagsterInstance, materialize

from image_assets.assets import IMAGE_ASSETS
from image_assets.catalog import open_catalog
from image_assets.pipeline import layout, publish
from image_assets.resources import build_resources
from image_assets.settings import Settings
from image_assets.sources.local import BUNDLED_PHOTOS
from image_assets.stores import GCSObjectStore, ObjectStore, open_store
from tests.servers import FaultPlan, faulty_proxy, free_port, gcs_emulator, mongo_wire_server

pytestmark = pytest.mark.integration

DAY = dt.date(2026, 11, 10)
PARTITION = f"{DAY.isoformat()}|local"


def photo_folder(root: Path, copies: int = 2) -> Path:
    """The bundled photos, each `copies` (≤ 4) times, mirrored or flipped so no two share a hash, dated DAY."""
    from PIL import Image, ImageOps

    transforms = (lambda i: i, ImageOps.mirror, ImageOps.flip, lambda i: i.rotate(180))

    folder = root / "photos"
    folder.mkdir()
    noon = dt.datetime.combine(DAY, dt.time(12), tzinfo=dt.UTC).timestamp()
    for path in sorted(BUNDLED_PHOTOS.glob("*.png")):
        for n in range(copies):
            image = Image.open(path).convert("RGB")
            target = folder / f"{path.stem}-{n}.png"
            transforms[n](image).save(target)
            os.utime(target, (noon, noon))
    return folder


def run_partition(settings: Settings, spark_resource, instance: DagsterInstance):
    return materialize(
        IMAGE_ASSETS,
        partition_key=PARTITION,
        resources=build_resources(settings) | {"spark": spark_resource},
        instance=instance,
        raise_on_error=False,
    )


def assert_exact(settings: Settings, store: ObjectStore, photos: int) -> None:
    """One document per photo, each with its published object, and no other object under images/ or staging/."""
    catalog = open_catalog(settings.mongodb_uri, settings.mongodb_database, settings.catalog_sqlite_path)
    try:
        docs = list(catalog.find({"partition_key": PARTITION}))
    finally:
        catalog.close()
    assert len(docs) == photos and len({d["_id"] for d in docs}) == photos
    assert len({d["original_sha256"] for d in docs}) == photos
    published = set(store.list(layout.partition_prefix(layout.IMAGES, "local", DAY)))
    assert published == {d["storage"]["key"] for d in docs}  # no orphans, nothing missing
    assert list(store.list(layout.partition_prefix(layout.STAGING, "local", DAY))) == []


def when(condition: Callable[[], bool], action: Callable[[], None], timeout: float = 300.0) -> threading.Thread:
    """Run `action` in a thread as soon as `condition()` holds (polled every 20 ms)."""

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if condition():
                    action()
                    return
            except Exception:  # a service being restarted may refuse the probe itself
                pass
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_gcs_store_rides_out_503s_stalls_and_dropped_connections() -> None:
    """Every store operation succeeds through a proxy that spoils every other request (503, stall, drop)."""
    plan = FaultPlan(stall=1.0)
    with gcs_emulator("faults") as emulator, faulty_proxy(emulator, plan) as proxy:
        store = GCSObjectStore("gs://faults/run", endpoint=proxy, project="p", timeout=0.5, retry_deadline=60)
        payloads = {f"images/local/2026-11-10/p{n}.svdz": os.urandom(1000 + n) for n in range(4)}
        for key, data in payloads.items():
            store.put(key, data)
        assert {key: store.get(key) for key in payloads} == payloads
        assert sorted(store.list("images/local/2026-11-10/")) == sorted(payloads)
        store.copy("images/local/2026-11-10/p0.svdz", "images/local/2026-11-10/copy.svdz")
        for key in payloads:
            store.delete(key)
        assert list(store.list("images/local/2026-11-10/")) == ["images/local/2026-11-10/copy.svdz"]
        assert store.exists("images/local/2026-11-10/copy.svdz")
    assert plan.done["503"] >= 3 and plan.done["stall"] >= 3 and plan.done["drop"] >= 3, plan.done


def test_run_survives_the_gcs_emulator_restarting_mid_encode(tmp_path, spark_resource, monkeypatch) -> None:
    """The emulator (persisting to disk) stops once the first encoded object is staged and comes back 4 s later;
    the executors' retries carry every write over the gap."""
    from gcp_storage_emulator.server import create_server

    port, data = free_port(), tmp_path / "gcs-data"
    host = f"http://127.0.0.1:{port}"
    server = create_server("127.0.0.1", port, in_memory=False, data_dir=str(data), default_bucket="restart")
    server.start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", host)
    photos = photo_folder(tmp_path)
    settings = Settings.from_env(
        {
            "IMGPIPE_HOME": str(tmp_path / "home"),
            "IMGPIPE_BUCKET": "gs://restart/run",
            "IMGPIPE_LOCAL_SOURCE": str(photos),
        }
    )
    monkeypatch.setenv("IMGPIPE_LOCAL_SOURCE", str(photos))
    probe = GCSObjectStore("gs://restart/run", endpoint=host, project="p", timeout=1, retry_deadline=1)
    staging = layout.partition_prefix(layout.STAGING, "local", DAY)
    outage: dict[str, object] = {}

    def restart() -> None:
        nonlocal server
        outage["staged"] = len(list(probe.list(staging)))
        server.stop()
        time.sleep(4)
        server = create_server("127.0.0.1", port, in_memory=False, data_dir=str(data), default_bucket="restart")
        server.start()
        outage["back"] = True

    watcher = when(lambda: any(True for _ in probe.list(staging)), restart)
    try:
        result = run_partition(settings, spark_resource, DagsterInstance.ephemeral())
        watcher.join(timeout=60)
        assert result.success
        total = len(list(photos.iterdir()))
        assert outage.get("back") and 0 < int(outage["staged"]) < total, outage  # the outage hit mid-encode
        assert_exact(settings, open_store(settings.storage_url), total)
    finally:
        server.stop()


def test_run_retries_the_catalog_step_while_mongodb_is_down(tmp_path, spark_resource, monkeypatch) -> None:
    """The wire server stops when stored_images finishes and starts again 6 s later: image_catalog fails (server
    selection times out in 2 s), Dagster retries it, and the retry lands every document once."""
    port, sqlite = free_port(), tmp_path / "mongo.sqlite"
    uri = f"mongodb://127.0.0.1:{port}/?directConnection=true&serverSelectionTimeoutMS=2000"
    photos = photo_folder(tmp_path, copies=1)
    monkeypatch.setenv("IMGPIPE_LOCAL_SOURCE", str(photos))
    settings = Settings.from_env(
        {"IMGPIPE_HOME": str(tmp_path / "home"), "MONGODB_URI": uri, "IMGPIPE_LOCAL_SOURCE": str(photos)}
    )
    store = open_store(settings.storage_url)
    published = layout.manifest_key(publish.ASSET, "local", DAY)
    server = mongo_wire_server(sqlite, port=port)
    server.__enter__()
    state: dict[str, object] = {}

    def outage() -> None:
        nonlocal server
        server.__exit__(None, None, None)
        state["down"] = time.monotonic()
        time.sleep(6)
        server = mongo_wire_server(sqlite, port=port)
        server.__enter__()

    watcher = when(lambda: store.exists(published), outage)
    instance = DagsterInstance.ephemeral()
    try:
        result = run_partition(settings, spark_resource, instance)
        watcher.join(timeout=60)
        assert result.success and "down" in state
        retries = [
            e
            for e in result.all_events
            if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY and e.step_key == "image_catalog"
        ]
        assert retries, "image_catalog was never retried: the outage missed it"
        error = retries[0].event_specific_data.error  # the policy's wrapper, caused by pymongo's own error
        message = error.to_string()
        # pymongo's own error about this server: a selection timeout if the step began during the outage (its
        # monitor saw the port refuse, or had no answer yet from the server going down), AutoReconnect if mid-query
        assert str(port) in message and ("ServerSelectionTimeoutError" in message or "AutoReconnect" in message), (
            message
        )
        assert any(cause in message for cause in ("Connection refused", "No servers found yet", "connection closed")), (
            message
        )
        assert_exact(settings, store, len(list(photos.iterdir())))
    finally:
        server.__exit__(None, None, None)


def test_a_killed_spark_python_worker_costs_a_task_retry(tmp_path, spark_resource, monkeypatch) -> None:
    """SIGKILL of a busy pyspark worker process mid-encode: Spark (local[2,3]) retries its task elsewhere and the
    run still stores and catalogs every photo exactly once."""
    photos = photo_folder(tmp_path, copies=2)
    monkeypatch.setenv("IMGPIPE_LOCAL_SOURCE", str(photos))
    settings = Settings.from_env({"IMGPIPE_HOME": str(tmp_path / "home"), "IMGPIPE_LOCAL_SOURCE": str(photos)})
    store = open_store(settings.storage_url)
    staging = layout.partition_prefix(layout.STAGING, "local", DAY)
    total = len(list(photos.iterdir()))
    killed: list[int] = []

    def busy_worker() -> psutil.Process | None:
        """A forked pyspark worker (a child of the pyspark daemon) that is using CPU right now."""
        for proc in psutil.process_iter(["cmdline", "ppid"]):
            cmd = " ".join(proc.info["cmdline"] or [])
            if "pyspark.daemon" not in cmd and "pyspark/daemon" not in cmd:
                continue
            try:
                parent = psutil.Process(proc.info["ppid"])
                if "daemon" not in " ".join(parent.cmdline()):
                    continue  # the daemon itself, not a worker
                before = proc.cpu_times().user
                time.sleep(0.05)
                if proc.cpu_times().user > before:
                    return proc
            except psutil.Error:
                continue
        return None

    def kill() -> None:
        worker = busy_worker()
        if worker is not None:
            worker.send_signal(signal.SIGKILL)
            killed.append(worker.pid)

    watcher = when(lambda: not killed and 0 < len(list(store.list(staging))) < total - 2, kill)
    result = run_partition(settings, spark_resource, DagsterInstance.ephemeral())
    watcher.join(timeout=30)
    assert result.success
    assert killed, "no busy Python worker was found to kill"
    assert not psutil.pid_exists(killed[0]) or psutil.Process(killed[0]).status() == psutil.STATUS_ZOMBIE
    assert_exact(settings, store, total)
    shutil.rmtree(tmp_path / "home", ignore_errors=True)
