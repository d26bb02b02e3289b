"""IMGPIPE_DOWNLOAD_TIMEOUT is one wall-clock budget for a whole fetch, however slowly the bytes come."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from werkzeug import Response

from image_assets.sources import statuses
from image_assets.sources.base import DownloadError
from image_assets.sources.fetch import HostAllowlist, ImageFetcher
from image_assets.sources.settings import HttpSettings


class DripServer:
    """A raw HTTP server on 127.0.0.1: for each request, `prelude` at once, then `drip` a byte every `interval`.

    Connections are kept alive and served in turn from one thread; `hung_up` is set when a client hangs up
    on a response still being sent.
    """

    def __init__(self, responses: list[tuple[bytes, bytes]], interval: float = 0.2) -> None:
        self.responses = responses
        self.interval = interval
        self.connections = 0
        self.requests = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self._stop = threading.Event()
        self.hung_up = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.port = self._listener.getsockname()[1]
        self.entry = f"127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(5)
                try:
                    while conn.recv(65536):  # one request per recv is enough for these GETs
                        prelude, drip = self.responses[min(self.requests, len(self.responses) - 1)]
                        self.requests += 1
                        conn.sendall(prelude)
                        for i in range(len(drip)):
                            if self._stop.is_set():
                                return
                            time.sleep(self.interval)
                            conn.sendall(drip[i : i + 1])
                except OSError:  # the client hung up, as a deadline should make it
                    self.hung_up.set()

    def __enter__(self) -> DripServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.thread.join(timeout=5)
        self._listener.close()


def response(body: bytes, *, headers: bytes = b"Content-Type: image/jpeg\r\n") -> bytes:
    return b"HTTP/1.1 200 OK\r\n" + headers + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


@pytest.fixture
def quick(sleeps: list[float]) -> HttpSettings:
    """A one-second budget, read timeouts far longer than the drip interval, retries allowed."""
    return HttpSettings(
        max_attempts=3, backoff_base=0.001, backoff_cap=0.002, download_timeout=1.0, sleep=sleeps.append
    )


def fetcher(server: DripServer, settings: HttpSettings) -> ImageFetcher:
    return ImageFetcher("test", HostAllowlist.of([server.entry], private=[server.entry]), settings)


def timed_failure(f: ImageFetcher, url: str) -> tuple[DownloadError, float]:
    start = time.monotonic()
    with pytest.raises(DownloadError) as info:
        f.fetch(url)
    return info.value, time.monotonic() - start


def test_dripping_body_fails_at_the_deadline_and_is_not_retried(jpeg, quick):
    head = response(jpeg)[: -len(jpeg)]
    with DripServer([(head, jpeg)]) as server:
        err, took = timed_failure(fetcher(server, quick), f"http://{server.entry}/a.jpg")
        assert server.hung_up.wait(1.0)  # the server is not left dripping into a dead connection
    assert (err.status, err.reason) == (statuses.DOWNLOAD_FAILED, "took longer than 1s")
    assert 0.9 < took < 2.0
    assert (server.connections, server.requests) == (1, 1)


def test_dripping_status_line_and_headers_fail_at_the_deadline(jpeg, quick):
    with DripServer([(b"", response(jpeg))]) as server:
        err, took = timed_failure(fetcher(server, quick), f"http://{server.entry}/a.jpg")
    assert (err.status, err.reason) == (statuses.DOWNLOAD_FAILED, "took longer than 1s")
    assert took < 2.0
    assert server.requests == 1


def test_slow_download_within_the_deadline_succeeds(jpeg, quick):
    body = response(jpeg)
    with DripServer([(body[:-3], body[-3:])], interval=0.1) as server:
        assert fetcher(server, quick).fetch(f"http://{server.entry}/a.jpg").data == jpeg


def test_drip_on_a_kept_alive_connection_is_cut_too(jpeg, quick):
    """A pooled connection opened by an earlier fetch is watched by the current fetch's deadline."""
    body = response(jpeg)
    with DripServer([(body, b""), (body[:-5], body[-5:])], interval=0.5) as server:
        f = fetcher(server, quick)
        assert f.fetch(f"http://{server.entry}/a.jpg").data == jpeg
        err, took = timed_failure(f, f"http://{server.entry}/b.jpg")
    assert err.reason == "took longer than 1s" and took < 2.0
    assert (server.connections, server.requests) == (1, 2)


def test_silent_server_fails_at_the_deadline_not_after_the_read_timeout(quick):
    """Read and connect timeouts are capped by the time left: a 30 s read timeout cannot outlast a 1 s budget."""
    with DripServer([(b"", b"")]) as server:
        err, took = timed_failure(fetcher(server, quick), f"http://{server.entry}/a.jpg")
    assert (err.status, err.reason) == (statuses.DOWNLOAD_FAILED, "took longer than 1s")
    assert took < 2.0


def test_retry_whose_wait_outlasts_the_deadline_is_not_attempted(httpserver, base, allowlist, sleeps):
    s = HttpSettings(max_attempts=3, max_wait=30.0, download_timeout=10.0, sleep=sleeps.append)
    httpserver.expect_request("/a.jpg").respond_with_response(Response("busy", 503, headers={"Retry-After": "20"}))
    with pytest.raises(DownloadError) as info:
        ImageFetcher("test", allowlist, s).fetch(f"{base}/a.jpg")
    assert info.value.status == statuses.HTTP_ERROR
    assert sleeps == [] and len(httpserver.log) == 1


def test_retries_share_one_deadline(httpserver, base, allowlist):
    """Real backoff sleeps: the attempts stop within the budget, not one budget per attempt."""
    s = HttpSettings(max_attempts=50, backoff_base=0.2, backoff_cap=0.2, download_timeout=1.0)
    httpserver.expect_request("/a.jpg").respond_with_data("busy", status=503)
    start = time.monotonic()
    with pytest.raises(DownloadError) as info:
        ImageFetcher("test", allowlist, s).fetch(f"{base}/a.jpg")
    assert time.monotonic() - start < 1.3
    assert info.value.status == statuses.HTTP_ERROR
    assert 2 <= len(httpserver.log) <= 6


@pytest.fixture(autouse=True)
def _no_leaked_timers() -> Iterator[None]:
    """Each fetch's watchdog timer is cancelled when the fetch ends."""
    yield
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline and any(isinstance(t, threading.Timer) for t in threading.enumerate()):
        time.sleep(0.01)
    assert not any(isinstance(t, threading.Timer) for t in threading.enumerate())
