"""Unsplash against a local fake API: one UTC day from a shifting feed, throttling, download tracking."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from werkzeug import Request, Response

from image_assets.sources import statuses
from image_assets.sources.base import DownloadError, SourceError
from image_assets.sources.settings import PartitionLimits
from image_assets.sources.unsplash import UnsplashSource
from tests.sources.conftest import DAY, NOW, unsplash_photo

KEY = "us-access-key-456"


def make(base, settings, limits, allowlist, **kw) -> UnsplashSource:
    return UnsplashSource(
        KEY, base_url=base, settings=settings, limits=limits, allowlist=allowlist, clock=lambda: NOW, **kw
    )


def feed(base: str, pages: list[list[dict]]):
    """Serve `pages` of /photos as JSON arrays with the documented Link header."""

    def handler(request: Request) -> Response:
        assert request.headers["Authorization"] == f"Client-ID {KEY}"
        assert request.headers["Accept-Version"] == "v1"
        page = int(request.args["page"])
        links = [f'<{base}/photos?page=1>; rel="first"']
        if page < len(pages):
            links.append(f'<{base}/photos?page={page + 1}>; rel="next"')
        return Response(
            json.dumps(pages[page - 1]),
            content_type="application/json",
            headers={
                "Link": ", ".join(links),
                "X-Total": "1000",
                "X-Per-Page": "30",
                "X-Ratelimit-Limit": "5000",
                "X-Ratelimit-Remaining": "4990",
            },
        )

    return handler


def p(pid: str, created: str, base: str, **extra) -> dict:
    return unsplash_photo(pid, created, base, **extra)


def day_feed(base: str) -> list[list[dict]]:
    return [
        [
            p("a", "2024-05-03T10:00:00Z", base),  # the next day: skipped, keep paging
            p("b", "2024-05-02T23:00:00Z", base),
            p("c", "2024-05-02T20:00:00-04:00", base),  # = 2024-05-03T00:00Z, the next day
            p("plus", "2024-05-02T12:00:00Z", base, premium=True),
        ],  # Unsplash+: not free, skipped
        [
            p("b", "2024-05-02T23:00:00Z", base),  # shifted onto page 2 by a new upload: deduped
            p("d", "2024-05-02T00:00:00Z", base),  # first instant of the day
            p("e", "2024-05-01T23:30:00Z", base),
        ],  # before the day, within the tolerance: keep paging
        [
            p("f", "2024-05-02T05:00:00+02:00", base),  # out of order, still 2024-05-02 03:00Z
            p("g", "2024-05-01T20:00:00Z", base),
        ],
        [p("h", "2024-05-01T22:00:00Z", base), p("i", "2024-05-01T21:00:00Z", base)],  # all old: stop
        [p("never", "2024-05-02T10:00:00Z", base)],
    ]


def test_selects_exactly_the_utc_day(httpserver, base, settings, limits, allowlist):
    httpserver.expect_request("/photos").respond_with_handler(feed(base, day_feed(base)))
    records = list(make(base, settings, limits, allowlist).discover(DAY))
    assert [r.source_id for r in records] == ["b", "d", "f"]
    assert [req.args["page"] for req, _ in httpserver.log] == ["1", "2", "3", "4"]
    assert all(req.args["per_page"] == "30" for req, _ in httpserver.log)
    assert records[2].created_at == dt.datetime(2024, 5, 2, 3, 0, tzinfo=dt.UTC)


def test_record_carries_attribution_with_utm(httpserver, base, settings, limits, allowlist):
    httpserver.expect_request("/photos").respond_with_handler(feed(base, day_feed(base)))
    r = next(iter(make(base, settings, limits, allowlist, app_name="myapp").discover(DAY)))
    assert r.source == "unsplash"
    assert r.photographer == "Jane Doe"
    assert r.photographer_url == "https://unsplash.com/@janedoe?utm_source=myapp&utm_medium=referral"
    assert r.page_url == "https://unsplash.com/photos/b?utm_source=myapp&utm_medium=referral"
    assert r.attribution == (
        "Photo by Jane Doe (https://unsplash.com/@janedoe?utm_source=myapp&utm_medium=referral) on Unsplash "
        "(https://unsplash.com/?utm_source=myapp&utm_medium=referral)"
    )
    assert r.image_url == f"{base}/photo-b?ixid=M3wx&ixlib=rb-4.0.3"
    assert (r.description, r.color, r.width, r.height) == ("trees b", "#26400c", 6000, 4000)
    assert r.download_location == f"{base}/photos/b/download?ixid=M3wx"
    assert r.raw["likes"] == 12


def test_feature_time_ordering_keeps_paging(httpserver, base, settings, limits, allowlist):
    """If the feed is ordered by promoted_at, old uploads promoted on the day must not stop the read."""
    pages = [
        [p("old", "2024-04-20T10:00:00Z", base, promoted_at="2024-05-02T09:00:00Z")],
        [p("x", "2024-05-02T08:00:00Z", base, promoted_at="2024-05-02T08:30:00Z")],
        [p("y", "2024-04-01T08:00:00Z", base, promoted_at="2024-04-30T08:30:00Z")],
    ]
    httpserver.expect_request("/photos").respond_with_handler(feed(base, pages))
    assert [r.source_id for r in make(base, settings, limits, allowlist).discover(DAY)] == ["x"]
    assert len(httpserver.log) == 3


def test_limit_stops_early(httpserver, base, settings, limits, allowlist):
    httpserver.expect_request("/photos").respond_with_handler(feed(base, day_feed(base)))
    assert [r.source_id for r in make(base, settings, limits, allowlist).discover(DAY, limit=1)] == ["b"]
    assert len(httpserver.log) == 1


def test_page_budget_exhausted_fails_instead_of_returning_a_partial_day(httpserver, base, settings, allowlist):
    httpserver.expect_request("/photos").respond_with_handler(feed(base, day_feed(base)))
    src = make(base, settings, PartitionLimits(max_pages=2), allowlist)
    with pytest.raises(SourceError, match="IMGPIPE_MAX_PAGES=2"):
        list(src.discover(DAY))


def test_future_day_is_refused(httpserver, base, settings, limits, allowlist):
    with pytest.raises(SourceError, match="future"):
        list(make(base, settings, limits, allowlist).discover(NOW.date() + dt.timedelta(days=1)))
    assert httpserver.log == []


def test_plain_text_403_throttle_then_success(httpserver, base, settings, limits, allowlist, sleeps):
    httpserver.expect_ordered_request("/photos").respond_with_data(
        "Rate Limit Exceeded", status=403, content_type="text/plain"
    )
    httpserver.expect_ordered_request("/photos").respond_with_handler(
        feed(base, [[p("b", "2024-05-02T01:00:00Z", base)]])
    )
    assert [r.source_id for r in make(base, settings, limits, allowlist).discover(DAY)] == ["b"]
    assert len(sleeps) == 1


def test_other_403_is_not_retried(httpserver, base, settings, limits, allowlist):
    httpserver.expect_request("/photos").respond_with_json({"errors": ["Missing permissions"]}, status=403)
    with pytest.raises(SourceError, match="HTTP 403: Missing permissions"):
        list(make(base, settings, limits, allowlist).discover(DAY))
    assert len(httpserver.log) == 1


def test_persistent_throttle_fails_the_partition(httpserver, base, settings, limits, allowlist):
    httpserver.expect_request("/photos").respond_with_data("Rate Limit Exceeded", status=403)
    with pytest.raises(SourceError, match="HTTP 403"):
        list(make(base, settings, limits, allowlist).discover(DAY))
    assert len(httpserver.log) == settings.max_attempts


def test_quota_without_reset_stops_before_running_out(httpserver, base, settings, limits, allowlist):
    httpserver.expect_request("/photos").respond_with_json(
        [p("b", "2024-05-02T23:00:00Z", base)] * 30,
        headers={
            "Link": f'<{base}/photos?page=2>; rel="next"',
            "X-Ratelimit-Limit": "50",
            "X-Ratelimit-Remaining": "2",
        },
    )
    with pytest.raises(SourceError, match=r"quota nearly used up \(2 of 50.*try again in 3600s"):
        list(make(base, settings, limits, allowlist).discover(DAY))
    assert len(httpserver.log) == 1


def test_missing_key_fails_fast():
    with pytest.raises(SourceError, match="UNSPLASH_ACCESS_KEY"):
        UnsplashSource("")


def test_download_tracks_each_downloaded_photo(httpserver, base, settings, limits, allowlist, jpeg):
    httpserver.expect_request("/photos").respond_with_handler(feed(base, day_feed(base)))
    httpserver.expect_request("/photo-b").respond_with_data(jpeg, content_type="image/jpeg")
    httpserver.expect_request("/photo-d").respond_with_data(jpeg, content_type="image/jpeg")
    httpserver.expect_request("/photo-f").respond_with_data("<html>", status=404, content_type="text/html")
    for pid in "bdf":
        httpserver.expect_request(f"/photos/{pid}/download", query_string="ixid=M3wx").respond_with_json(
            {"url": f"{base}/photo-{pid}?ixlib=rb"}
        )
    src = make(base, settings, limits, allowlist)
    b, d, f = src.discover(DAY)
    httpserver.clear_log()
    assert src.download(b).data == jpeg
    assert src.download(d).sha256 == src.download(b).sha256
    with pytest.raises(DownloadError) as info:
        src.download(f)
    assert info.value.status == statuses.HTTP_ERROR

    tracked = [req for req, _ in httpserver.log if req.path.endswith("/download")]
    assert [req.path for req in tracked] == ["/photos/b/download", "/photos/d/download", "/photos/b/download"]
    assert all(req.headers["Authorization"] == f"Client-ID {KEY}" for req in tracked)
    assert all(req.args["ixid"] == "M3wx" for req in tracked)  # the query string kept verbatim
    images = [req for req, _ in httpserver.log if req.path.startswith("/photo-")]
    assert images and all("Authorization" not in req.headers for req in images)


def test_failed_tracking_call_fails_the_image(httpserver, base, settings, limits, allowlist, jpeg):
    httpserver.expect_request("/photos").respond_with_handler(feed(base, day_feed(base)))
    httpserver.expect_request("/photo-b").respond_with_data(jpeg, content_type="image/jpeg")
    httpserver.expect_request("/photos/b/download").respond_with_json({"errors": ["OAuth error"]}, status=401)
    src = make(base, settings, limits, allowlist)
    with pytest.raises(DownloadError) as info:
        src.download(next(iter(src.discover(DAY))))
    assert info.value.status == statuses.HTTP_ERROR
    assert "tracking" in info.value.reason


def test_tracking_url_off_the_api_host_is_refused(httpserver, base, settings, limits, allowlist):
    photo = p("b", "2024-05-02T23:00:00Z", base)
    photo["links"]["download_location"] = "https://attacker.example.com/photos/b/download?ixid=1"
    httpserver.expect_request("/photos").respond_with_handler(feed(base, [[photo]]))
    src = make(base, settings, limits, allowlist)
    (record,) = src.discover(DAY)
    httpserver.clear_log()
    with pytest.raises(DownloadError) as info:
        src.download(record)
    assert info.value.status == statuses.REFUSED
    assert httpserver.log == []  # neither the image nor the tracking call was requested


def test_image_outside_allowlist_is_refused_and_not_tracked(httpserver, base, settings, limits, allowlist):
    photo = p("b", "2024-05-02T23:00:00Z", base)
    photo["urls"]["raw"] = "https://images.example.org/photo-b"
    httpserver.expect_request("/photos").respond_with_handler(feed(base, [[photo]]))
    src = make(base, settings, limits, allowlist)
    (record,) = src.discover(DAY)
    httpserver.clear_log()
    with pytest.raises(DownloadError) as info:
        src.download(record)
    assert info.value.status == statuses.REFUSED
    assert httpserver.log == []
