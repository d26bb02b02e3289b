"""`imgpipe sources list`: the dry run, in-process, for every source."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil

import pytest
from werkzeug import Request, Response

from image_assets.cli import main
from image_assets.sources.local import BUNDLED_PHOTOS
from tests.sources.conftest import unsplash_photo, wallhaven_item

SETTINGS_VARS = [
    "PEXELS_API_KEY",
    "UNSPLASH_ACCESS_KEY",
    "WALLHAVEN_API_KEY",
    "PEXELS_API_URL",
    "UNSPLASH_API_URL",
    "WALLHAVEN_API_URL",
    "IMGPIPE_ALLOWED_IMAGE_HOSTS",
    "IMGPIPE_ALLOW_PRIVATE_IMAGE_HOSTS",
    "IMGPIPE_MAX_IMAGES",
    "IMGPIPE_MAX_PAGES",
    "IMGPIPE_LOCAL_SOURCE",
    "PEXELS_QUERIES",
    "WALLHAVEN_TIMEZONE",
    "WALLHAVEN_PURITY",
    "WALLHAVEN_QUERY",
]


@pytest.fixture
def clean_env(monkeypatch, base):
    for var in SETTINGS_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("IMGPIPE_BACKOFF_BASE", "0.001")
    monkeypatch.setenv("IMGPIPE_BACKOFF_CAP", "0.002")
    monkeypatch.setenv("IMGPIPE_REQUEST_INTERVAL", "0")
    monkeypatch.setenv("UNSPLASH_API_URL", base)
    monkeypatch.setenv("WALLHAVEN_API_URL", f"{base}/api/v1")
    monkeypatch.setenv("PEXELS_API_URL", f"{base}/v1")
    return monkeypatch


def unsplash_feed(base: str):
    photos = [
        unsplash_photo("a", "2024-05-03T01:00:00Z", base),
        unsplash_photo("b", "2024-05-02T12:00:00Z", base),
        unsplash_photo("c", "2024-05-02T01:00:00Z", base),
        unsplash_photo("d", "2024-05-01T10:00:00Z", base),
    ]

    def handler(_request: Request) -> Response:
        return Response(json.dumps(photos), content_type="application/json")

    return handler


def test_json_lines_for_unsplash(httpserver, base, clean_env, capsys):
    clean_env.setenv("UNSPLASH_ACCESS_KEY", "cli-key-1")
    httpserver.expect_request("/photos").respond_with_handler(unsplash_feed(base))
    assert main(["sources", "list", "unsplash", "--date", "2024-05-02", "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["source_id"] for r in rows] == ["b", "c"]
    assert rows[0]["created_at"] == "2024-05-02T12:00:00+00:00"
    assert rows[0]["attribution"].startswith("Photo by Jane Doe")
    assert rows[0]["raw"]["id"] == "b"
    assert not any(req.path.startswith("/photo-") for req, _ in httpserver.log)  # nothing downloaded


def test_limit_and_table_for_wallhaven(httpserver, base, clean_env, capsys):
    def search(_request: Request) -> Response:
        body = {
            "data": [
                wallhaven_item("w1", "2024-05-02 10:00:00", base),
                wallhaven_item("w2", "2024-05-02 09:00:00", base),
            ],
            "meta": {"current_page": 1, "last_page": 1},
        }
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/api/v1/search").respond_with_handler(search)
    httpserver.expect_request("/api/v1/w/w1").respond_with_json({"data": {"uploader": {"username": "alice"}}})
    assert main(["sources", "list", "wallhaven", "--date", "2024-05-02", "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "w1" in out and "alice" in out and "w2" not in out
    assert "1 record(s)" in out


def test_local_source(tmp_path, clean_env, capsys):
    photo = tmp_path / "rocket.jpg"
    shutil.copy(BUNDLED_PHOTOS / "rocket.jpg", photo)
    stamp = dt.datetime(2024, 5, 2, 12, tzinfo=dt.UTC).timestamp()
    os.utime(photo, (stamp, stamp))
    clean_env.setenv("IMGPIPE_LOCAL_SOURCE", str(tmp_path))
    assert main(["sources", "list", "local", "--date", "2024-05-02", "--json"]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["source"] == "local" and row["description"] == "rocket.jpg"


def test_pexels_today_and_past_day(httpserver, base, clean_env, capsys):
    clean_env.setenv("PEXELS_API_KEY", "px-cli-key")
    httpserver.expect_request("/v1/curated").respond_with_json({"page": 1, "photos": []})
    today = dt.datetime.now(dt.UTC).date()
    assert main(["sources", "list", "pexels", "--date", today.isoformat(), "--json"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["sources", "list", "pexels", "--date", "2024-05-02"]) == 2
    err = capsys.readouterr().err
    assert "cannot be reproduced" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sources", "list", "unsplash", "--date", "2024-5-2"], "invalid --date"),
        (["sources", "list", "flickr", "--date", "2024-05-02"], "unknown source 'flickr'"),
        (["sources", "list", "pexels", "--date", "2024-05-02"], "PEXELS_API_KEY"),
        (["sources", "list", "wallhaven", "--date", "2024-05-02", "--limit", "0"], "--limit"),
    ],
)
def test_user_errors_are_one_line(clean_env, capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_unreachable_api_is_one_line_without_key(httpserver, clean_env, capsys):
    clean_env.setenv("UNSPLASH_ACCESS_KEY", "very-secret-cli-key")
    httpserver.expect_request("/photos").respond_with_data("down", status=503)
    assert main(["sources", "list", "unsplash", "--date", "2024-05-02"]) == 2
    err = capsys.readouterr().err
    assert "unreachable" in err and "very-secret-cli-key" not in err
