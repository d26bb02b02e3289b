"""A hostile image API through the whole graph: path-like and oversized ids, malformed records and a dripping image
host. The good photos land; nothing of another source is touched; nothing is written outside IMGPIPE_HOME."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, materialize
from PIL import Image
from pytest_httpserver import HTTPServer
from werkzeug import Response

from image_assets.assets import IMAGE_ASSETS
from image_assets.catalog import open_catalog
from image_assets.pipeline import layout
from image_assets.pipeline.manifests import read_manifest
from image_assets.resources import build_resources
from image_assets.settings import Settings
from image_assets.sources.local import BUNDLED_PHOTOS
from image_assets.stores import open_store
from tests.sources.conftest import pexels_photo

pytestmark = pytest.mark.integration

VICTIM_DAY = "2024-05-02"
VICTIM_KEY = f"images/unsplash/{VICTIM_DAY}/victim.svdz"
DRIP_SECONDS = 0.25


def jpeg(name: str, size: tuple[int, int] = (160, 120)) -> bytes:
    buf = io.BytesIO()
    Image.open(BUNDLED_PHOTOS / name).convert("RGB").resize(size).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def hostile_feed(base: str) -> list[dict]:
    """One good photo, photos whose ids are paths (valid images: they must land under safe keys of their own),
    and records that must become failure rows."""
    escape_ids = [
        f"../../../images/unsplash/{VICTIM_DAY}/victim",
        "../../../../../../../outside",
        "/etc/passwd",
        "..",
        {"$gt": ""},  # an object where a number belongs: str() of it is an odd but harmless id
    ]
    photos = [pexels_photo(1, base)]
    for n, pid in enumerate(escape_ids):
        photos.append(pexels_photo(100 + n, base) | {"id": pid})
    bad = {
        "x" * 3000: {},
        "line\nbreak": {},
        "w": {"width": "4000"},
        "p": {"photographer": {"name": "not a string"}},
        "u": {"src": {"original": 12345}},
        "drip": {"src": {"original": f"{base}/drip.jpg"}},
    }
    for n, (pid, fields) in enumerate(bad.items()):
        photos.append(pexels_photo(200 + n, base) | {"id": pid} | fields)
    photos.append({"id": None, "src": "not an object"})  # skipped at discovery: no id, no src.original
    return photos


@pytest.fixture
def hostile_api(monkeypatch) -> HTTPServer:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    base = server.url_for("").rstrip("/")
    for name, value in {
        "PEXELS_API_KEY": "px-test-key",
        "PEXELS_API_URL": f"{base}/v1",
        "IMGPIPE_ALLOWED_IMAGE_HOSTS": f"127.0.0.1:{server.port}",
        "IMGPIPE_ALLOW_PRIVATE_IMAGE_HOSTS": f"127.0.0.1:{server.port}",
        "IMGPIPE_REQUEST_INTERVAL": "0",
        "IMGPIPE_HTTP_ATTEMPTS": "1",
        "IMGPIPE_DOWNLOAD_TIMEOUT": "2",
    }.items():
        monkeypatch.setenv(name, value)
    server.expect_request("/v1/curated").respond_with_json({"page": 1, "per_page": 80, "photos": hostile_feed(base)})
    photo = jpeg("chelsea.png")
    for n in (1, *range(100, 105)):
        server.expect_request(f"/photos/{n}/pexels-photo-{n}.jpeg").respond_with_data(photo, content_type="image/jpeg")

    def drip(_request) -> Response:
        def body():
            for byte in photo[:40]:  # 10 s of body at one byte per 0.25 s: the 2 s deadline must cut it
                time.sleep(DRIP_SECONDS)
                yield bytes([byte])

        return Response(body(), content_type="image/jpeg")

    server.expect_request("/drip.jpg").respond_with_handler(drip)
    yield server
    server.clear()
    server.stop()


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_hostile_records_fail_alone_and_touch_nothing_else(hostile_api, tmp_path, spark_resource) -> None:
    home = tmp_path / "home"
    settings = Settings.from_env({"IMGPIPE_HOME": str(home)})
    store = open_store(settings.storage_url)
    victim = b"unsplash's published image"
    store.put(VICTIM_KEY, victim)
    outside_before = files_under(tmp_path) - files_under(home)

    today = dt.datetime.now(dt.UTC).date()
    started = time.monotonic()
    result = materialize(
        IMAGE_ASSETS,
        partition_key=f"{today.isoformat()}|pexels",
        resources=build_resources(settings) | {"spark": spark_resource},
        instance=DagsterInstance.ephemeral(),
    )
    assert result.success
    assert time.monotonic() - started < 240

    # Another source's object is untouched, and nothing was written outside IMGPIPE_HOME.
    assert store.get(VICTIM_KEY) == victim
    assert files_under(tmp_path) - files_under(home) == outside_before
    assert not any(p.name in {"outside", "passwd"} for p in files_under(tmp_path))

    rows = read_manifest(store, layout.manifest_key("raw_images", "pexels", today))
    status = {row["source_id"]: (row["status"], row["reason"]) for row in rows}
    assert len(rows) == 12
    good = ["1", *(r["source_id"] for r in rows if r["source_id"].startswith(("..", "/", "{")))]
    assert len(good) == 6 and all(status[sid][0] == "ok" for sid in good)
    assert status["w"] == ("bad_record", "width '4000' is not a pixel count")
    assert status["p"] == ("bad_record", "photographer is dict, not a string")
    assert status["u"] == ("bad_record", "image URL is int, not a string")
    assert status["line\\nbreak"][0] == "bad_record"
    assert status["x" * 256 + "…"][0] == "bad_record"
    assert status["drip"][0] == "download_failed" and "longer than 2s" in status["drip"][1]

    # Every good photo is published under a key of its own inside the pexels partition, and cataloged.
    catalog = open_catalog(None, settings.mongodb_database, settings.catalog_sqlite_path)
    try:
        docs = list(catalog.find({"source": "pexels"}))
    finally:
        catalog.close()
    assert sorted(d["source_id"] for d in docs) == sorted(good)
    prefix = layout.partition_prefix(layout.IMAGES, "pexels", today)
    keys = {d["storage"]["key"] for d in docs}
    assert len(keys) == len(good) and all(k.startswith(prefix) and k.count("/") == 3 for k in keys)
    assert set(store.list(prefix)) == keys  # no orphans either
    digest = hashlib.sha256(f"../../../images/unsplash/{VICTIM_DAY}/victim".encode()).hexdigest()[:20]
    assert f"{prefix}_images_unsplash_2024-05-02_victim-{digest}.svdz" in keys
