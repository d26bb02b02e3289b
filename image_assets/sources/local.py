"""A folder of photos as a source: a file belongs to the UTC day of its modification time."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path

from image_assets.sources.base import Download, DownloadError, ImageRecord, Source, SourceError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif"})
BUNDLED_PHOTOS = Path(__file__).resolve().parent.parent / "data" / "photos"


def file_day(path: Path) -> dt.date:
    """The partition day of a file: its modification time in UTC."""
    return dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC).date()


def local_source_id(root: Path, path: Path) -> str:
    """A stable id from the path inside the folder, safe to use in object keys."""
    rel = path.relative_to(root).as_posix()
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in rel.rsplit(".", 1)[0])[:80]
    return f"{stem}-{hashlib.sha1(rel.encode()).hexdigest()[:8]}"


class LocalFolderSource(Source):
    """Images in a folder (recursively). The default folder holds the bundled public-domain demo photos."""

    name = "local"

    def __init__(self, folder: str | Path | None = None) -> None:
        self.root = Path(folder).expanduser().resolve() if folder else BUNDLED_PHOTOS

    def discover(self, day: dt.date, *, limit: int | None = None) -> Iterator[ImageRecord]:
        if not self.root.is_dir():
            raise SourceError(f"local source folder {self.root} does not exist (set IMGPIPE_LOCAL_SOURCE)")
        count = 0
        for path in sorted(self.root.rglob("*")):
            if limit is not None and count >= limit:
                return
            if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file() or file_day(path) != day:
                continue
            count += 1
            yield ImageRecord(
                source=self.name,
                source_id=local_source_id(self.root, path),
                image_url=path.as_uri(),
                page_url=None,
                description=path.name,
                created_at=dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC),
                attribution=f"{path.name} from the local folder",
                raw={"path": str(path.relative_to(self.root))},
            )

    def download(self, record: ImageRecord) -> Download:
        path = (self.root / record.raw["path"]).resolve()
        if not path.is_relative_to(self.root):
            raise DownloadError("refused", "path escapes the local source folder")
        try:
            return Download(data=path.read_bytes(), content_type=None)
        except OSError as exc:
            raise DownloadError("download_failed", f"cannot read {path.name}: {exc.strerror}") from exc
