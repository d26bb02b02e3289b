"""make_source: every setting from the environment, clear failures, and an end-to-end run per API."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from werkzeug import Request, Response

from image_assets.sources import DOWNLOAD_STATUSES, DownloadError, SourceError, make_source
from image_assets.sources.local import LocalFolderSource
from image_assets.sources.pexels import PexelsSource
from image_assets.sources.unsplash import UnsplashSource
from image_assets.sources.wallhaven import WallhavenSource
from tests.sources.conftest import DAY, pexels_photo, unsplash_photo, wallhaven_item


@pytest.fixture
def env(base, httpserver) -> dict[str, str]:
    return {
        "PEXELS_API_KEY": "pk",
        "UNSPLASH_ACCESS_KEY": "uk",
        "PEXELS_API_URL": f"{base}/v1",
        "UNSPLASH_API_URL": base,
        "WALLHAVEN_API_URL": f"{base}/api/v1",
        "IMGPIPE_ALLOWED_IMAGE_HOSTS": f"cdn.example.com, 127.0.0.1:{httpserver.port}",
        "IMGPIPE_ALLOW_PRIVATE_IMAGE_HOSTS": f"127.0.0.1:{httpserver.port}",
        "IMGPIPE_BACKOFF_BASE": "0.001",
        "IMGPIPE_BACKOFF_CAP": "0.002",
        "IMGPIPE_REQUEST_INTERVAL": "0",
    }


def test_builds_each_source_from_env(env, httpserver):
    env |= {
        "IMGPIPE_MAX_IMAGES": "7",
        "IMGPIPE_MAX_PAGES": "3",
        "IMGPIPE_DATE_TOLERANCE_MINUTES": "30",
        "IMGPIPE_MAX_IMAGE_BYTES": "1000",
        "IMGPIPE_HTTP_ATTEMPTS": "2",
        "PEXELS_QUERIES": "curated, forest",
    }
    px = make_source("pexels", env)
    assert isinstance(px, PexelsSource) and px.feeds == ("curated", "forest")
    assert (px.limits.max_images, px.limits.max_pages, px.limits.tolerance) == (
        7,
        3,
        dt.timedelta(minutes=30),
    )
    assert (px.settings.max_image_bytes, px.settings.max_attempts) == (1000, 2)
    assert px.fetcher.allowlist.allows("cdn.example.com", 443, "https")
    assert not px.fetcher.allowlist.allows_private("cdn.example.com", 443, "https")
    assert px.fetcher.allowlist.allows_private("127.0.0.1", httpserver.port, "http")
    assert isinstance(make_source("unsplash", env), UnsplashSource)
    wh = make_source("wallhaven", env | {"WALLHAVEN_TIMEZONE": "Europe/Paris", "WALLHAVEN_QUERY": "forest"})
    assert isinstance(wh, WallhavenSource) and wh.params["q"] == "forest" and str(wh.zone) == "Europe/Paris"
    assert isinstance(make_source("local", {}), LocalFolderSource)


def test_allowlisted_host_on_loopback_needs_the_private_opt_in(httpserver, base, env):
    """IMGPIPE_ALLOWED_IMAGE_HOSTS alone no longer lifts the private-address check."""
    del env["IMGPIPE_ALLOW_PRIVATE_IMAGE_HOSTS"]
    src = make_source("pexels", env)
    try:
        with pytest.raises(DownloadError) as info:
            src.fetcher.fetch(f"{base}/a.jpg")
    finally:
        src.close()
    assert info.value.status == "refused" and "private" in info.value.reason
    assert httpserver.log == []


def test_default_allowlists_are_the_public_cdns():
    px = make_source("pexels", {"PEXELS_API_KEY": "k"})
    us = make_source("unsplash", {"UNSPLASH_ACCESS_KEY": "k"})
    wh = make_source("wallhaven", {})
    assert px.fetcher.allowlist.entries == {("images.pexels.com", None)}
    assert us.fetcher.allowlist.entries == {("images.unsplash.com", None)}
    assert wh.fetcher.allowlist.entries == {("w.wallhaven.cc", None)}
    assert not any(s.fetcher.allowlist.private for s in (px, us, wh))
    assert wh.api.base_url == "https://wallhaven.cc/api/v1" and "X-API-Key" not in wh.api.session.headers


@pytest.mark.parametrize(("name", "var"), [("pexels", "PEXELS_API_KEY"), ("unsplash", "UNSPLASH_ACCESS_KEY")])
def test_missing_key_is_one_clear_message(name, var):
    with pytest.raises(SourceError, match=var):
        make_source(name, {var: "  "})


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("IMGPIPE_MAX_IMAGES", "lots"),
        ("IMGPIPE_MAX_PAGES", "0"),
        ("IMGPIPE_BACKOFF_CAP", "-1"),
        ("IMGPIPE_ALLOWED_IMAGE_HOSTS", "http://x/y"),
        ("IMGPIPE_ALLOW_PRIVATE_IMAGE_HOSTS", "http://x/y"),
        ("IMGPIPE_ALLOW_PRIVATE_IMAGE_HOSTS", "127.0.0.1:8080"),  # not on the allowlist: allows nothing
        ("WALLHAVEN_PURITY", "abc"),
    ],
)
def test_bad_settings_are_clear_errors(var, value):
    with pytest.raises(SourceError, match=var):
        make_source("wallhaven", {var: value})


def test_unknown_source():
    with pytest.raises(SourceError, match="unknown source 'flickr'"):
        make_source("flickr", {})


def test_statuses_are_a_small_documented_set():
    assert DOWNLOAD_STATUSES == ("ok", "refused", "too_large", "bad_content", "http_error", "download_failed")


def test_end_to_end_every_api_through_env(httpserver, base, env, jpeg, png):
    """Discover and download from each API pointed at the local server through the variables only."""
    today = dt.datetime.now(dt.UTC).date()
    httpserver.expect_request("/v1/curated").respond_with_json({"page": 1, "photos": [pexels_photo(1, base)]})
    httpserver.expect_request("/photos/1/pexels-photo-1.jpeg").respond_with_data(jpeg, content_type="image/jpeg")
    httpserver.expect_request("/photos").respond_with_json([unsplash_photo("u1", "2024-05-02T08:00:00Z", base)])
    httpserver.expect_request("/photo-u1").respond_with_data(png, content_type="image/png")
    httpserver.expect_request("/photos/u1/download").respond_with_json({"url": "x"})

    def search(_request: Request) -> Response:
        body = {
            "data": [wallhaven_item("w1", "2024-05-02 08:00:00", base)],
            "meta": {"current_page": 1, "last_page": 1, "per_page": 24, "total": 1},
        }
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/api/v1/search").respond_with_handler(search)
    httpserver.expect_request("/api/v1/w/w1").respond_with_json({"data": {"uploader": {"username": "bob"}}})
    httpserver.expect_request("/full/w1/wallhaven-w1.jpg").respond_with_data(jpeg, content_type="image/jpeg")

    for name, day in (("pexels", today), ("unsplash", DAY), ("wallhaven", DAY)):
        src = make_source(name, env)
        try:
            (record,) = src.discover(day)
            assert record.source == name and record.attribution and record.photographer and record.page_url
            assert record.photographer_url
            assert src.download(record).data in (jpeg, png)
        finally:
            src.close()
    assert any(req.path == "/photos/u1/download" for req, _ in httpserver.log)
