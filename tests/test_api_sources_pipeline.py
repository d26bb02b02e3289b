"""raw_images → image_catalog from each image API, served by a local HTTP server speaking its protocol."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from dagster import DagsterInstance, materialize
from PIL import Image
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from image_assets.assets import IMAGE_ASSETS
from image_assets.catalog import open_catalog
from image_assets.resources import build_resources
from image_assets.settings import Settings
from image_assets.sources.local import BUNDLED_PHOTOS
from tests.sources.conftest import pexels_photo, unsplash_photo, wallhaven_item

pytestmark = pytest.mark.integration

PAST_DAY = dt.date(2024, 5, 2)


def photo_jpeg(name: str) -> bytes:
    buf = io.BytesIO()
    Image.open(BUNDLED_PHOTOS / name).convert("RGB").save(buf, format="JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture
def api(monkeypatch) -> HTTPServer:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    base = server.url_for("").rstrip("/")
    for name, value in {
        "PEXELS_API_KEY": "px-test-key",
        "PEXELS_API_URL": f"{base}/v1",
        "UNSPLASH_ACCESS_KEY": "us-test-key",
        "UNSPLASH_API_URL": base,
        "WALLHAVEN_API_URL": f"{base}/api/v1",
        "WALLHAVEN_DETAILS": "0",
        "IMGPIPE_ALLOWED_IMAGE_HOSTS": f"127.0.0.1:{server.port}",
        "IMGPIPE_ALLOW_PRIVATE_IMAGE_HOSTS": f"127.0.0.1:{server.port}",
        "IMGPIPE_REQUEST_INTERVAL": "0",
        "IMGPIPE_BACKOFF_BASE": "0.01",
        "IMGPIPE_BACKOFF_CAP": "0.05",
    }.items():
        monkeypatch.setenv(name, value)
    images = {"chelsea.png": photo_jpeg("chelsea.png"), "coffee.png": photo_jpeg("coffee.png")}

    def image(name: str):
        return lambda _req: Response(images[name], content_type="image/jpeg")

    # Pexels: the curated feed, one page (no next_page), originals on the allowlisted host.
    photos = [pexels_photo(101, base), pexels_photo(102, base)]
    server.expect_request("/v1/curated").respond_with_json({"page": 1, "per_page": 80, "photos": photos})
    server.expect_request("/photos/101/pexels-photo-101.jpeg").respond_with_handler(image("chelsea.png"))
    server.expect_request("/photos/102/pexels-photo-102.jpeg").respond_with_handler(image("coffee.png"))

    # Unsplash: the newest-first /photos feed, one photo on the day, one the day before.
    feed = [unsplash_photo("uA", "2024-05-02T10:00:00Z", base), unsplash_photo("uB", "2024-05-01T09:00:00Z", base)]

    def unsplash_feed(request: Request) -> Response:
        assert request.headers["Authorization"] == "Client-ID us-test-key"
        body = json.dumps(feed if request.args.get("page") == "1" else [])
        return Response(body, content_type="application/json", headers={"X-Ratelimit-Remaining": "4000"})

    server.expect_request("/photos").respond_with_handler(unsplash_feed)
    server.expect_request("/photo-uA").respond_with_handler(image("coffee.png"))
    server.expect_request("/photos/uA/download").respond_with_json({"url": f"{base}/photo-uA"})

    # Wallhaven: date_added desc; one wallpaper on the day, one older, last page.
    items = [
        wallhaven_item("ab12cd", "2024-05-02 08:00:00", base),
        wallhaven_item("zz99yy", "2024-04-30 08:00:00", base),
    ]
    server.expect_request("/api/v1/search").respond_with_json(
        {"data": items, "meta": {"current_page": 1, "last_page": 1, "per_page": 24, "total": 2}}
    )
    server.expect_request("/full/ab/wallhaven-ab12cd.jpg").respond_with_handler(image("chelsea.png"))
    yield server
    server.clear()
    server.stop()


def test_each_api_ingests_with_attribution(api, tmp_path, spark_resource) -> None:
    settings = Settings.from_env({"IMGPIPE_HOME": str(tmp_path)})
    resources = build_resources(settings) | {"spark": spark_resource}
    instance = DagsterInstance.ephemeral()
    today = dt.datetime.now(dt.UTC).date()
    expected = {"pexels": (today, 2), "unsplash": (PAST_DAY, 1), "wallhaven": (PAST_DAY, 1)}
    for source, (day, _) in expected.items():
        key = f"{day.isoformat()}|{source}"
        assert materialize(IMAGE_ASSETS, partition_key=key, resources=resources, instance=instance).success

    catalog = open_catalog(None, settings.mongodb_database, settings.catalog_sqlite_path)
    for source, (day, count) in expected.items():
        docs = list(catalog.find({"source": source}))
        assert len(docs) == count and {d["date"] for d in docs} == {day.isoformat()}
        for doc in docs:
            credit = doc["attribution"]
            assert credit["page_url"] and credit["text"] and doc["source"] == source
            if source != "wallhaven":  # Wallhaven's uploader needs the details call, turned off here
                assert credit["photographer"] and credit["photographer_url"]
            assert doc["bytes_out"] > 0 and doc["psnr"] >= 35.0
    assert {d["source_id"] for d in catalog.find({"source": "unsplash"})} == {"uA"}
    catalog.close()

    # Unsplash's guidelines: one authorised download-tracking call per photo actually downloaded.
    tracking = [req for req, _ in api.log if req.path == "/photos/uA/download"]
    assert len(tracking) == 1 and tracking[0].headers["Authorization"] == "Client-ID us-test-key"
    assert tracking[0].args["ixid"] == "M3wx"
