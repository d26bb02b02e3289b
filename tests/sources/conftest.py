"""A local fake of the three APIs: payload builders in the documented shapes, and fast settings."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image
from pytest_httpserver import HTTPServer

from image_assets.sources.fetch import HostAllowlist
from image_assets.sources.settings import HttpSettings, PartitionLimits

DAY = dt.date(2024, 5, 2)
NOW = dt.datetime(2024, 5, 3, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="session")
def _server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0)  # loopback: reachable only when allowed to be private
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def httpserver(_server: HTTPServer) -> Iterator[HTTPServer]:
    """pytest-httpserver on 127.0.0.1; fails the test if a handler raised or a request went unanswered."""
    _server.clear()
    yield _server
    _server.check_assertions()
    _server.clear()


@pytest.fixture
def base(httpserver: HTTPServer) -> str:
    return httpserver.url_for("").rstrip("/")


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def settings(sleeps: list[float]) -> HttpSettings:
    """Real retry policy with recorded, not slept, waits."""
    return HttpSettings(
        max_attempts=3,
        backoff_base=0.001,
        backoff_cap=0.005,
        max_wait=30.0,
        request_interval=0.0,
        download_timeout=10.0,
        sleep=sleeps.append,
    )


@pytest.fixture
def limits() -> PartitionLimits:
    return PartitionLimits(max_images=100, max_pages=5, tolerance=dt.timedelta(hours=1))


@pytest.fixture
def allowlist(httpserver: HTTPServer) -> HostAllowlist:
    """The test server, allowed and (being on loopback) explicitly allowed to be private."""
    entry = f"127.0.0.1:{httpserver.port}"
    return HostAllowlist.of([entry], private=[entry])


def _image(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 120, 40)).save(buf, format=fmt)
    return buf.getvalue()


@pytest.fixture(scope="session")
def jpeg() -> bytes:
    return _image("JPEG")


@pytest.fixture(scope="session")
def png() -> bytes:
    return _image("PNG")


def pexels_photo(pid: int, base: str, ext: str = "jpeg") -> dict[str, Any]:
    return {
        "id": pid,
        "width": 4000,
        "height": 3000,
        "url": f"https://www.pexels.com/photo/green-forest-{pid}/",
        "photographer": f"Jane Doe {pid}",
        "photographer_url": "https://www.pexels.com/@jane-doe",
        "photographer_id": 111222,
        "avg_color": "#4A5B3C",
        "src": {"original": f"{base}/photos/{pid}/pexels-photo-{pid}.{ext}", "tiny": "https://x.invalid/t"},
        "liked": False,
        "alt": f"Forest {pid}",
    }


def unsplash_photo(pid: str, created: str, base: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": pid,
        "created_at": created,
        "updated_at": created,
        "promoted_at": None,
        "width": 6000,
        "height": 4000,
        "color": "#26400c",
        "description": None,
        "alt_description": f"trees {pid}",
        "urls": {"raw": f"{base}/photo-{pid}?ixid=M3wx&ixlib=rb-4.0.3", "full": f"{base}/photo-{pid}?fm=jpg"},
        "links": {
            "self": f"{base}/photos/{pid}",
            "html": f"https://unsplash.com/photos/{pid}",
            "download": f"https://unsplash.com/photos/{pid}/download?ixid=M3wx",
            "download_location": f"{base}/photos/{pid}/download?ixid=M3wx",
        },
        "likes": 12,
        "user": {
            "id": "pXhwzz1JtQU",
            "username": "janedoe",
            "name": "Jane Doe",
            "links": {"self": f"{base}/users/janedoe", "html": "https://unsplash.com/@janedoe"},
        },
        **extra,
    }


def wallhaven_item(wid: str, created: str, base: str) -> dict[str, Any]:
    return {
        "id": wid,
        "url": f"https://wallhaven.cc/w/{wid}",
        "short_url": f"https://whvn.cc/{wid}",
        "views": 152,
        "favorites": 4,
        "source": "",
        "purity": "sfw",
        "category": "general",
        "dimension_x": 3840,
        "dimension_y": 2160,
        "resolution": "3840x2160",
        "ratio": "1.78",
        "file_size": 4187342,
        "file_type": "image/jpeg",
        "created_at": created,
        "colors": ["#424153", "#336600"],
        "path": f"{base}/full/{wid[:2]}/wallhaven-{wid}.jpg",
        "thumbs": {"large": f"https://th.wallhaven.cc/lg/{wid[:2]}/{wid}.jpg"},
    }
