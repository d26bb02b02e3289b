"""Shared pieces for the pipeline unit tests: a real local object store, the embedded catalog, tiny images and an
in-memory image source. Nothing here starts a JVM, a server or a subprocess."""

from __future__ import annotations

import datetime as dt
import io
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from image_assets.sources import Download, DownloadError, ImageRecord, Source
from image_assets.stores import LocalObjectStore

SOURCE = "fake"
DAY = dt.date(2026, 11, 26)
PARTITION = "2026-11-26|fake"


def png_bytes(width: int = 64, height: int = 48, shift: int = 0) -> bytes:
    """A small, smooth RGB gradient as PNG bytes; `shift` gives a different picture of the same size."""
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([(x * 4 + shift) % 256, (y * 5) % 256, ((x + y) * 2) % 256], axis=-1).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def files_under(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_file()}


class FakeSource(Source):
    """Serves canned payloads by source id: bytes are downloaded, a DownloadError is raised."""

    name = SOURCE

    def __init__(self, payloads: Mapping[str, bytes | DownloadError]) -> None:
        self.payloads = dict(payloads)
        self.downloads: list[str] = []
        self._lock = threading.Lock()

    def record(self, source_id: str, **fields: object) -> ImageRecord:
        return ImageRecord(
            source=self.name, source_id=source_id, image_url=f"https://img.example/{source_id}", **fields
        )

    def discover(self, day: dt.date, *, limit: int | None = None) -> Iterator[ImageRecord]:
        ids = list(self.payloads)[:limit] if limit else list(self.payloads)
        for source_id in ids:
            yield self.record(source_id)

    def download(self, record: ImageRecord) -> Download:
        with self._lock:
            self.downloads.append(record.source_id)
        payload = self.payloads[record.source_id]
        if isinstance(payload, DownloadError):
            raise payload
        return Download(data=payload, content_type="image/png")


@pytest.fixture(scope="session")
def tiny_png() -> bytes:
    return png_bytes()


@pytest.fixture
def store_root(tmp_path: Path) -> Path:
    return tmp_path / "objects"


@pytest.fixture
def store(store_root: Path) -> LocalObjectStore:
    return LocalObjectStore(store_root)


@pytest.fixture
def catalog(tmp_path: Path):
    """The embedded SQLite catalog, closed after the test."""
    from image_assets.catalog import open_catalog

    db = open_catalog(None, "imgpipe", tmp_path / "catalog.db")
    try:
        yield db
    finally:
        db.close()
