"""Safe downloads: what is refused without a request, and what is checked once bytes arrive."""

from __future__ import annotations

import hashlib

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from image_assets.sources import statuses
from image_assets.sources.base import DownloadError
from image_assets.sources.fetch import HostAllowlist, ImageFetcher, parse_host_entry
from image_assets.sources.settings import HttpSettings


def fetcher(allowlist: HostAllowlist, settings: HttpSettings, **kw) -> ImageFetcher:
    return ImageFetcher("test", allowlist, settings, **kw)


def failure(f: ImageFetcher, url: str) -> DownloadError:
    with pytest.raises(DownloadError) as info:
        f.fetch(url)
    return info.value


def test_download_ok_records_type_and_checksum(httpserver, base, allowlist, settings, jpeg):
    httpserver.expect_request("/img.jpg").respond_with_data(jpeg, content_type="image/jpeg")
    got = fetcher(allowlist, settings).fetch(f"{base}/img.jpg")
    assert got.data == jpeg
    assert got.content_type == "image/jpeg"
    assert got.sha256 == hashlib.sha256(jpeg).hexdigest()


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/a.jpg",  # host not on the allowlist
        "ftp://127.0.0.1/a.jpg",  # not http(s)
        "file:///etc/passwd",
        "http://user@127.0.0.1/a.jpg",  # credentials in the URL
        "http://127.0.0.1:1/a.jpg",  # allowlisted host, other port
    ],
)
def test_refused_without_any_request(httpserver, allowlist, settings, url):
    err = failure(fetcher(allowlist, settings), url)
    assert err.status == statuses.REFUSED
    assert httpserver.log == []


def test_default_allowlist_refuses_loopback_and_private_addresses(settings):
    """A CDN host that resolves to a private or loopback address is refused (no explicit allowlist)."""
    lists = HostAllowlist.of(["images.example.net", "127.0.0.1", "169.254.169.254"])
    f = fetcher(lists, settings, resolver=lambda host, port: ["10.0.0.7"])
    assert failure(f, "https://images.example.net/a.jpg").status == statuses.REFUSED
    assert failure(f, "https://127.0.0.1/a.jpg").status == statuses.REFUSED
    assert failure(f, "http://169.254.169.254/latest/meta-data").status == statuses.REFUSED


def test_default_allowlist_allows_public_addresses(settings):
    f = fetcher(HostAllowlist.of(["images.example.net"]), settings, resolver=lambda h, p: ["93.184.216.34"])
    f.check_url("https://images.example.net/a.jpg")  # does not raise


def test_redirect_off_the_allowlist_is_refused(httpserver, base, allowlist, settings):
    httpserver.expect_request("/r").respond_with_response(
        Response(status=302, headers={"Location": "https://evil.example.com/x.jpg"})
    )
    err = failure(fetcher(allowlist, settings), f"{base}/r")
    assert err.status == statuses.REFUSED
    assert len(httpserver.log) == 1


def test_redirect_within_the_allowlist_is_followed(httpserver, base, allowlist, settings, png):
    httpserver.expect_request("/r").respond_with_response(Response(status=301, headers={"Location": "/i.png"}))
    httpserver.expect_request("/i.png").respond_with_data(png, content_type="image/png")
    assert fetcher(allowlist, settings).fetch(f"{base}/r").data == png


def test_too_large_by_content_length_and_by_stream(httpserver, base, allowlist, jpeg, sleeps):
    small = HttpSettings(max_image_bytes=100, backoff_base=0.001, sleep=sleeps.append)
    httpserver.expect_request("/big.jpg").respond_with_data(jpeg, content_type="image/jpeg")
    assert failure(fetcher(allowlist, small), f"{base}/big.jpg").status == statuses.TOO_LARGE

    def chunked(_request):
        return Response(iter([jpeg[:60], jpeg[60:]]), content_type="image/jpeg")  # no Content-Length

    httpserver.expect_request("/stream.jpg").respond_with_handler(chunked)
    err = failure(fetcher(allowlist, small), f"{base}/stream.jpg")
    assert err.status == statuses.TOO_LARGE
    assert "over the 100-byte limit" in err.reason


def test_listed_size_over_limit_is_not_requested(httpserver, base, allowlist, sleeps):
    small = HttpSettings(max_image_bytes=100, sleep=sleeps.append)
    with pytest.raises(DownloadError) as info:
        fetcher(allowlist, small).fetch(f"{base}/x.jpg", expected_size=101)
    assert info.value.status == statuses.TOO_LARGE
    assert httpserver.log == []


def test_html_error_page_is_bad_content(httpserver, base, allowlist, settings):
    httpserver.expect_request("/a.jpg").respond_with_data("<html>nope</html>", content_type="text/html")
    err = failure(fetcher(allowlist, settings), f"{base}/a.jpg")
    assert err.status == statuses.BAD_CONTENT


def test_declared_type_must_match_magic_bytes(httpserver, base, allowlist, settings, jpeg):
    httpserver.expect_request("/a.png").respond_with_data(jpeg, content_type="image/png")
    err = failure(fetcher(allowlist, settings), f"{base}/a.png")
    assert err.status == statuses.BAD_CONTENT
    assert "image/jpeg" in err.reason


def test_generic_content_type_is_sniffed(httpserver, base, allowlist, settings, png):
    httpserver.expect_request("/a").respond_with_data(png, content_type="application/octet-stream")
    assert fetcher(allowlist, settings).fetch(f"{base}/a").content_type == "image/png"


def test_truncated_transfer_fails_after_retries(httpserver, base, allowlist, settings, jpeg):
    def short(_request):
        resp = Response(jpeg[:100], content_type="image/jpeg")
        resp.headers["Content-Length"] = str(len(jpeg))  # promises more than it sends
        resp.automatically_set_content_length = False
        return resp

    httpserver.expect_request("/t.jpg").respond_with_handler(short)
    err = failure(fetcher(allowlist, settings), f"{base}/t.jpg")
    assert err.status == statuses.DOWNLOAD_FAILED
    assert "truncated" in err.reason
    assert len(httpserver.log) == settings.max_attempts


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_truncated_image_without_length_mismatch_is_bad_content(httpserver, base, allowlist, settings, fmt, request):
    data = request.getfixturevalue(fmt)
    httpserver.expect_request("/cut").respond_with_data(data[: len(data) // 2], content_type=f"image/{fmt}")
    err = failure(fetcher(allowlist, settings), f"{base}/cut")
    assert err.status == statuses.BAD_CONTENT
    assert "truncated" in err.reason


def test_server_error_then_success_is_retried(httpserver, base, allowlist, settings, sleeps, jpeg):
    httpserver.expect_ordered_request("/a.jpg").respond_with_data("oops", status=503)
    httpserver.expect_ordered_request("/a.jpg").respond_with_data(jpeg, content_type="image/jpeg")
    assert fetcher(allowlist, settings).fetch(f"{base}/a.jpg").data == jpeg
    assert len(sleeps) == 1 and sleeps[0] <= 0.01


def test_persistent_error_status_is_http_error(httpserver, base, allowlist, settings):
    httpserver.expect_request("/a.jpg").respond_with_data("gone", status=404)
    err = failure(fetcher(allowlist, settings), f"{base}/a.jpg")
    assert err.status == statuses.HTTP_ERROR
    assert len(httpserver.log) == 1  # 404 is not retried

    httpserver.clear()
    httpserver.expect_request("/b.jpg").respond_with_data("busy", status=500)
    err = failure(fetcher(allowlist, settings), f"{base}/b.jpg")
    assert (err.status, len(httpserver.log)) == (statuses.HTTP_ERROR, settings.max_attempts)


def test_connection_refused_is_download_failed(allowlist, settings):
    f = fetcher(HostAllowlist.of(["127.0.0.1:9"], private=["127.0.0.1:9"]), settings)
    err = failure(f, "http://127.0.0.1:9/a.jpg")
    assert err.status == statuses.DOWNLOAD_FAILED


def test_throttle_spaces_downloads(httpserver, base, allowlist, sleeps, jpeg):
    from image_assets.sources.http import Throttle

    s = HttpSettings(sleep=sleeps.append)
    httpserver.expect_request("/a.jpg").respond_with_data(jpeg, content_type="image/jpeg")
    f = fetcher(allowlist, s, throttle=Throttle("test", s, min_interval=5.0))
    f.fetch(f"{base}/a.jpg")
    f.fetch(f"{base}/a.jpg")
    assert len(sleeps) == 1 and 4.0 < sleeps[0] <= 5.0


@pytest.mark.parametrize(
    ("entry", "parsed"),
    [
        ("images.pexels.com", ("images.pexels.com", None)),
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("[::1]:9000", ("::1", 9000)),
        (" Minio:9000 ", ("minio", 9000)),
    ],
)
def test_parse_host_entry(entry, parsed):
    assert parse_host_entry(entry) == parsed


@pytest.mark.parametrize("entry", ["", "http://x/", "host:port", "a/b"])
def test_parse_host_entry_rejects_garbage(entry):
    from image_assets.sources.base import SourceError

    with pytest.raises(SourceError):
        parse_host_entry(entry)


def test_default_port_entry_does_not_allow_other_ports():
    hosts = HostAllowlist.of(["images.pexels.com"])
    assert hosts.allows("images.pexels.com", 443, "https")
    assert not hosts.allows("images.pexels.com", 8443, "https")
    assert not hosts.allows("evil.images.pexels.com", 443, "https")


def test_server_fixture_is_loopback(httpserver: HTTPServer):
    assert httpserver.host == "127.0.0.1"
