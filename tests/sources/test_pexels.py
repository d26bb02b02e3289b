"""Pexels against a local fake API: paging, fetch-day partitions, auth, throttling and errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import time

import pytest
from werkzeug import Request, Response

from image_assets.sources import statuses
from image_assets.sources.base import DownloadError, SourceError
from image_assets.sources.pexels import PexelsSource
from image_assets.sources.settings import PartitionLimits
from tests.sources.conftest import NOW, pexels_photo

KEY = "px-secret-key-123"
TODAY = NOW.date()


def make(base, settings, limits, allowlist, **kw) -> PexelsSource:
    return PexelsSource(
        KEY,
        base_url=f"{base}/v1",
        settings=settings,
        limits=limits,
        allowlist=allowlist,
        clock=lambda: NOW,
        **kw,
    )


def paged(base: str, pages: list[list[int]], *, path: str = "curated"):
    """A handler serving `pages` of photo ids, with next_page on all but the last."""

    def handler(request: Request) -> Response:
        assert request.headers["Authorization"] == KEY  # raw key, no Bearer
        page = int(request.args["page"])
        body = {
            "page": page,
            "per_page": int(request.args["per_page"]),
            "photos": [pexels_photo(i, base) for i in pages[page - 1]],
        }
        if page < len(pages):
            body["next_page"] = f"https://api.pexels.com/v1/{path}/?page={page + 1}"
        return Response(
            json.dumps(body),
            content_type="application/json",
            headers={
                "X-Ratelimit-Limit": "20000",
                "X-Ratelimit-Remaining": "19000",
                "X-Ratelimit-Reset": str(int(time.time()) + 86400),
            },
        )

    return handler


def test_discovers_every_page_until_the_last(httpserver, base, settings, limits, allowlist):
    httpserver.expect_request("/v1/curated").respond_with_handler(paged(base, [[1, 2], [3, 4], [5]]))
    records = list(make(base, settings, limits, allowlist).discover(TODAY))
    assert [r.source_id for r in records] == ["1", "2", "3", "4", "5"]
    assert len(httpserver.log) == 3  # stopped at the page without next_page
    r = records[0]
    assert (r.source, r.page_url, r.photographer, r.photographer_url) == (
        "pexels",
        "https://www.pexels.com/photo/green-forest-1/",
        "Jane Doe 1",
        "https://www.pexels.com/@jane-doe",
    )
    assert r.attribution == "Photo by Jane Doe 1 on Pexels"
    assert (r.width, r.height, r.color, r.description, r.created_at) == (
        4000,
        3000,
        "#4A5B3C",
        "Forest 1",
        None,
    )
    assert r.image_url == f"{base}/photos/1/pexels-photo-1.jpeg"
    assert r.raw["photographer_id"] == 111222


def test_limits_and_max_pages(httpserver, base, settings, allowlist):
    httpserver.expect_request("/v1/curated").respond_with_handler(paged(base, [[1, 2], [3, 4], [5, 6], [7]]))
    src = make(base, settings, PartitionLimits(max_images=100, max_pages=2), allowlist)
    assert [r.source_id for r in src.discover(TODAY)] == ["1", "2", "3", "4"]
    httpserver.clear_log()
    assert len(list(src.discover(TODAY, limit=3))) == 3
    assert httpserver.log[0][0].args["per_page"] == "3"  # no larger page than needed


def test_queries_and_curated_are_deduped(httpserver, base, settings, limits, allowlist):
    httpserver.expect_request("/v1/curated").respond_with_handler(paged(base, [[1, 2]]))
    httpserver.expect_request(
        "/v1/search", query_string={"query": "forest", "page": "1", "per_page": "80"}
    ).respond_with_handler(paged(base, [[2, 3]], path="search"))
    src = make(base, settings, limits, allowlist, feeds=["curated", "forest"])
    assert [r.source_id for r in src.discover(TODAY)] == ["1", "2", "3"]


def test_past_day_is_refused_clearly(httpserver, base, settings, limits, allowlist):
    src = make(base, settings, limits, allowlist)
    with pytest.raises(SourceError, match="cannot be reproduced"):
        list(src.discover(TODAY - dt.timedelta(days=1)))
    assert httpserver.log == []


def test_missing_key_fails_fast():
    with pytest.raises(SourceError, match="PEXELS_API_KEY"):
        PexelsSource("")


def test_429_then_success(httpserver, base, settings, limits, allowlist, sleeps):
    httpserver.expect_ordered_request("/v1/curated").respond_with_data("Too Many Requests", status=429)
    httpserver.expect_ordered_request("/v1/curated").respond_with_handler(paged(base, [[1]]))
    assert [r.source_id for r in make(base, settings, limits, allowlist).discover(TODAY)] == ["1"]
    assert len(sleeps) == 1 and sleeps[0] <= settings.backoff_cap + settings.backoff_base


def test_retry_after_is_honoured(httpserver, base, settings, limits, allowlist, sleeps):
    httpserver.expect_ordered_request("/v1/curated").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "7"}
    )
    httpserver.expect_ordered_request("/v1/curated").respond_with_handler(paged(base, [[1]]))
    assert len(list(make(base, settings, limits, allowlist).discover(TODAY))) == 1
    assert sleeps == [7.0]


def test_retry_after_beyond_max_wait_fails_the_partition(httpserver, base, settings, limits, allowlist, sleeps):
    httpserver.expect_request("/v1/curated").respond_with_data("no", status=429, headers={"Retry-After": "3600"})
    with pytest.raises(SourceError, match="rate limit"):
        list(make(base, settings, limits, allowlist).discover(TODAY))
    assert sleeps == [] and len(httpserver.log) == 1


def test_unreachable_api_after_retries(httpserver, base, settings, limits, allowlist):
    httpserver.expect_request("/v1/curated").respond_with_data(
        "<html>bad gateway</html>", status=502, content_type="text/html"
    )
    with pytest.raises(SourceError, match=r"unreachable.*HTTP 502 \(HTML error page\)"):
        list(make(base, settings, limits, allowlist).discover(TODAY))
    assert len(httpserver.log) == settings.max_attempts


def test_malformed_json_is_a_clear_error(httpserver, base, settings, limits, allowlist):
    httpserver.expect_request("/v1/curated").respond_with_data('{"photos": [', content_type="application/json")
    with pytest.raises(SourceError, match="malformed JSON"):
        list(make(base, settings, limits, allowlist).discover(TODAY))


def test_unexpected_shape_is_a_clear_error(httpserver, base, settings, limits, allowlist):
    httpserver.expect_request("/v1/curated").respond_with_json({"error": "huh"})
    with pytest.raises(SourceError, match="unexpected response shape"):
        list(make(base, settings, limits, allowlist).discover(TODAY))


def test_401_names_the_variable_but_never_the_key(httpserver, base, settings, limits, allowlist, caplog):
    caplog.set_level(logging.DEBUG)
    httpserver.expect_request("/v1/curated").respond_with_json({"error": f"bad key {KEY}"}, status=401)
    with pytest.raises(SourceError) as info:
        list(make(base, settings, limits, allowlist).discover(TODAY))
    assert "PEXELS_API_KEY" in str(info.value)
    assert KEY not in str(info.value) and KEY not in caplog.text


def test_error_bodies_echoing_the_key_are_redacted(httpserver, base, settings, limits, allowlist):
    httpserver.expect_request("/v1/curated").respond_with_json({"error": f"key {KEY} lacks access"}, status=422)
    with pytest.raises(SourceError) as info:
        list(make(base, settings, limits, allowlist).discover(TODAY))
    assert "[redacted]" in str(info.value) and KEY not in str(info.value)


def test_quota_near_reset_waits_then_continues(httpserver, base, settings, limits, allowlist, sleeps):
    reset = int(time.time()) + 10
    httpserver.expect_ordered_request("/v1/curated").respond_with_json(
        {"page": 1, "photos": [pexels_photo(1, base)], "next_page": "x"},
        headers={"X-Ratelimit-Limit": "200", "X-Ratelimit-Remaining": "2", "X-Ratelimit-Reset": str(reset)},
    )
    httpserver.expect_ordered_request("/v1/curated").respond_with_handler(paged(base, [[9], [2]]))
    assert [r.source_id for r in make(base, settings, limits, allowlist).discover(TODAY)] == ["1", "2"]
    assert len(sleeps) == 1 and 5 < sleeps[0] <= 10  # waited for the reset instead of spending the reserve


def test_quota_far_from_reset_stops_before_running_out(httpserver, base, settings, limits, allowlist):
    httpserver.expect_request("/v1/curated").respond_with_json(
        {"page": 1, "photos": [pexels_photo(1, base)], "next_page": "x"},
        headers={
            "X-Ratelimit-Limit": "20000",
            "X-Ratelimit-Remaining": "1",
            "X-Ratelimit-Reset": str(int(time.time()) + 86400),
        },
    )
    with pytest.raises(SourceError, match="quota nearly used up"):
        list(make(base, settings, limits, allowlist).discover(TODAY))
    assert len(httpserver.log) == 1


def test_low_quota_slows_requests_down(httpserver, base, settings, limits, allowlist, sleeps):
    def serve() -> None:
        reset = int(time.time()) + 1000
        httpserver.expect_ordered_request("/v1/curated").respond_with_json(
            {"page": 1, "photos": [pexels_photo(1, base)], "next_page": "x"},
            headers={
                "X-Ratelimit-Limit": "200",
                "X-Ratelimit-Remaining": "12",
                "X-Ratelimit-Reset": str(reset),
            },
        )
        httpserver.expect_ordered_request("/v1/curated").respond_with_handler(paged(base, [[9], [2]]))

    serve()
    list(make(base, dataclasses.replace(settings, max_wait=500), limits, allowlist).discover(TODAY))
    assert len(sleeps) == 1 and 90 < sleeps[0] <= 100  # ~1000 s spread over the 10 requests left
    sleeps.clear()
    serve()
    list(make(base, settings, limits, allowlist).discover(TODAY))
    assert len(sleeps) == 1 and 29 < sleeps[0] <= settings.max_wait  # but never longer than max_wait


def test_download_ok_and_failures_are_download_errors(httpserver, base, settings, limits, allowlist, jpeg):
    httpserver.expect_request("/v1/curated").respond_with_handler(paged(base, [[1, 2]]))
    httpserver.expect_request("/photos/1/pexels-photo-1.jpeg").respond_with_data(jpeg, content_type="image/jpeg")
    httpserver.expect_request("/photos/2/pexels-photo-2.jpeg").respond_with_data("x", status=404)
    src = make(base, settings, limits, allowlist)
    one, two = src.discover(TODAY)
    assert src.download(one).data == jpeg
    with pytest.raises(DownloadError) as info:
        src.download(two)
    assert info.value.status == statuses.HTTP_ERROR
    for request, _ in httpserver.log:
        if request.path.startswith("/photos/"):
            assert "Authorization" not in request.headers  # the key never goes to the image host


def test_default_allowlist_refuses_the_fake_server(httpserver, base, settings, limits):
    httpserver.expect_request("/v1/curated").respond_with_handler(paged(base, [[1]]))
    src = PexelsSource(KEY, base_url=f"{base}/v1", settings=settings, limits=limits, clock=lambda: NOW)
    (record,) = src.discover(TODAY)
    with pytest.raises(DownloadError) as info:
        src.download(record)
    assert info.value.status == statuses.REFUSED
    assert all(not req.path.startswith("/photos/") for req, _ in httpserver.log)
