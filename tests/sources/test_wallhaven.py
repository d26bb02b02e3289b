"""Wallhaven against a local fake API: the day's uploads, zone setting, optional key, details, throttle."""

from __future__ import annotations

import dataclasses
import json

import pytest
from werkzeug import Request, Response

from image_assets.sources import statuses
from image_assets.sources.base import DownloadError, SourceError
from image_assets.sources.wallhaven import WallhavenSource
from tests.sources.conftest import DAY, NOW, wallhaven_item

KEY = "wh-key-789"


def make(base, settings, limits, allowlist, **kw) -> WallhavenSource:
    return WallhavenSource(
        base_url=f"{base}/api/v1",
        settings=settings,
        limits=limits,
        allowlist=allowlist,
        clock=lambda: NOW,
        **kw,
    )


def search(base: str, pages: list[list[tuple[str, str]]], *, key: str | None = None):
    def handler(request: Request) -> Response:
        assert request.headers.get("X-API-Key") == key
        assert "apikey" not in request.args  # the key travels in a header, never in a logged URL
        args = request.args
        assert (args["sorting"], args["order"], args["purity"], args["categories"]) == (
            "date_added",
            "desc",
            "100",
            "111",
        )
        page = int(args["page"])
        body = {
            "data": [wallhaven_item(wid, created, base) for wid, created in pages[page - 1]],
            "meta": {
                "current_page": page,
                "last_page": len(pages),
                "per_page": 24,
                "total": 99,
                "query": None,
                "seed": None,
            },
        }
        return Response(json.dumps(body), content_type="application/json")

    return handler


def details(request: Request) -> Response:
    wid = request.path.rsplit("/", 1)[1]
    data = {
        "id": wid,
        "uploader": {"username": f"user-{wid}", "group": "User"},
        "tags": [{"id": 1, "name": "forest"}, {"id": 2, "name": "mist"}],
        "source": "https://www.example.com/artwork/123",
    }
    return Response(json.dumps({"data": data}), content_type="application/json")


PAGES = [
    [("k7q2m9", "2024-05-03 00:10:00"), ("3lxw8d", "2024-05-02 23:59:59")],
    [("3lxw8d", "2024-05-02 23:59:59"), ("p8m1zq", "2024-05-02 00:00:00"), ("old001", "2024-05-01 23:30:00")],
    [("old002", "2024-05-01 22:00:00"), ("old003", "2024-05-01 21:00:00")],
    [("never1", "2024-05-02 10:00:00")],
]


def test_selects_the_utc_day_with_details(httpserver, base, settings, limits, allowlist):
    httpserver.expect_request("/api/v1/search").respond_with_handler(search(base, PAGES))
    httpserver.expect_request("/api/v1/w/3lxw8d").respond_with_handler(details)
    httpserver.expect_request("/api/v1/w/p8m1zq").respond_with_handler(details)
    records = list(make(base, settings, limits, allowlist).discover(DAY))
    assert [r.source_id for r in records] == ["3lxw8d", "p8m1zq"]
    searches = [req.args["page"] for req, _ in httpserver.log if req.path.endswith("/search")]
    assert searches == ["1", "2", "3"]  # page 3 is entirely before the day minus the tolerance
    r = records[0]
    assert (r.source, r.photographer, r.photographer_url) == (
        "wallhaven",
        "user-3lxw8d",
        "https://wallhaven.cc/user/user-3lxw8d",
    )
    assert r.page_url == "https://wallhaven.cc/w/3lxw8d"
    assert r.attribution == (
        "Wallpaper uploaded by user-3lxw8d on Wallhaven (https://wallhaven.cc/w/3lxw8d); "
        "original source: https://www.example.com/artwork/123"
    )
    assert (r.width, r.height, r.color, r.description) == (3840, 2160, "#424153", "forest, mist")
    assert r.created_at.isoformat() == "2024-05-02T23:59:59+00:00"
    assert r.raw["file_type"] == "image/jpeg" and r.raw["uploader"]["username"] == "user-3lxw8d"


def test_timezone_setting_moves_the_day(httpserver, base, settings, limits, allowlist):
    pages = [[("late", "2024-05-02 21:30:00"), ("early", "2024-05-01 21:30:00"), ("old", "2024-05-01 12:00:00")]]
    httpserver.expect_request("/api/v1/search").respond_with_handler(search(base, pages))
    src = make(base, settings, limits, allowlist, fetch_details=False, timezone="America/New_York")
    # 21:30 EDT is 01:30 UTC the next day.
    assert [(r.source_id, r.created_at.hour) for r in src.discover(DAY)] == [("early", 1)]
    utc = make(base, settings, limits, allowlist, fetch_details=False)
    assert [r.source_id for r in utc.discover(DAY)] == ["late"]


def test_stops_at_the_last_page(httpserver, base, settings, limits, allowlist):
    pages = [[("a1", "2024-05-02 12:00:00")], [("a2", "2024-05-02 11:00:00")]]
    httpserver.expect_request("/api/v1/search").respond_with_handler(search(base, pages))
    src = make(base, settings, limits, allowlist, fetch_details=False)
    assert [r.source_id for r in src.discover(DAY)] == ["a1", "a2"]
    assert len(httpserver.log) == 2


def test_key_is_sent_as_header(httpserver, base, settings, limits, allowlist):
    pages = [[("a1", "2024-05-02 12:00:00")]]
    httpserver.expect_request("/api/v1/search").respond_with_handler(search(base, pages, key=KEY))
    src = WallhavenSource(
        KEY,
        base_url=f"{base}/api/v1",
        settings=settings,
        limits=limits,
        allowlist=allowlist,
        clock=lambda: NOW,
        fetch_details=False,
    )
    assert len(list(src.discover(DAY))) == 1


def test_nsfw_without_key_fails_fast():
    with pytest.raises(SourceError, match="WALLHAVEN_API_KEY"):
        WallhavenSource(purity="111")


def test_bad_timezone_is_a_clear_error():
    with pytest.raises(SourceError, match="WALLHAVEN_TIMEZONE"):
        WallhavenSource(timezone="Mars/Olympus")


def test_500_then_success_and_html_429(httpserver, base, settings, limits, allowlist, sleeps):
    httpserver.expect_ordered_request("/api/v1/search").respond_with_data("boom", status=500)
    httpserver.expect_ordered_request("/api/v1/search").respond_with_data(
        "<html><body>429 - Too many requests</body></html>",
        status=429,
        content_type="text/html",
        headers={"Retry-After": "2"},
    )
    httpserver.expect_ordered_request("/api/v1/search").respond_with_handler(
        search(base, [[("a1", "2024-05-02 12:00:00")]])
    )
    src = make(base, settings, limits, allowlist, fetch_details=False)
    assert [r.source_id for r in src.discover(DAY)] == ["a1"]
    assert len(sleeps) == 2 and sleeps[1] == 2.0


def test_vanished_wallpaper_keeps_its_listing(httpserver, base, settings, limits, allowlist):
    httpserver.expect_request("/api/v1/search").respond_with_handler(
        search(base, [[("gone01", "2024-05-02 12:00:00")]])
    )
    httpserver.expect_request("/api/v1/w/gone01").respond_with_json({"error": "Nothing here"}, status=404)
    (record,) = make(base, settings, limits, allowlist).discover(DAY)
    assert record.photographer is None and record.image_url.endswith("wallhaven-gone01.jpg")
    assert "an unknown user" in record.attribution


def test_download_is_throttled_with_the_api(httpserver, base, settings, limits, allowlist, sleeps, png):
    httpserver.expect_request("/api/v1/search").respond_with_handler(
        search(base, [[("a1", "2024-05-02 12:00:00"), ("a2", "2024-05-02 11:00:00")]])
    )
    httpserver.expect_request("/full/a1/wallhaven-a1.jpg").respond_with_data(png, content_type="image/png")
    httpserver.expect_request("/full/a2/wallhaven-a2.jpg").respond_with_data(b"\x00" * 10, content_type="image/jpeg")
    default_interval = dataclasses.replace(settings, request_interval=None)
    src = make(base, default_interval, limits, allowlist, fetch_details=False)
    a1, a2 = src.discover(DAY)
    assert src.download(a1).content_type == "image/png"  # file_type in the listing is a hint, not trusted
    with pytest.raises(DownloadError) as info:
        src.download(a2)
    assert info.value.status == statuses.BAD_CONTENT
    assert len(sleeps) == 2 and all(1.0 < s <= 1.4 for s in sleeps)  # 45 calls/min, API and images together
    assert all("X-API-Key" not in req.headers for req, _ in httpserver.log)


def test_unconfirmed_quota_headers_are_honoured(httpserver, base, settings, limits, allowlist, sleeps, jpeg):
    """If Wallhaven does send X-RateLimit-* headers, a spent quota waits a minute, or fails only the image."""

    def search_low(request: Request) -> Response:
        resp = search(base, [[("a1", "2024-05-02 12:00:00")]])(request)
        resp.headers.update({"X-RateLimit-Limit": "45", "X-RateLimit-Remaining": "1"})
        return resp

    httpserver.expect_request("/api/v1/search").respond_with_handler(search_low)
    httpserver.expect_request("/full/a1/wallhaven-a1.jpg").respond_with_data(jpeg, content_type="image/jpeg")
    patient = dataclasses.replace(settings, max_wait=120)
    src = make(base, patient, limits, allowlist, fetch_details=False)
    (record,) = src.discover(DAY)
    assert src.download(record).data == jpeg
    assert sleeps == [60.0]

    impatient = make(base, dataclasses.replace(settings, max_wait=10), limits, allowlist, fetch_details=False)
    (record,) = impatient.discover(DAY)
    httpserver.clear_log()
    with pytest.raises(DownloadError) as info:
        impatient.download(record)
    assert info.value.status == statuses.DOWNLOAD_FAILED and "quota" in info.value.reason
    assert httpserver.log == []
