"""Image sources: plain HTTP/file clients that know nothing of Dagster or Spark."""

from image_assets.sources.base import Download, DownloadError, ImageRecord, Source, SourceError
from image_assets.sources.registry import SOURCE_NAMES, make_source
from image_assets.sources.statuses import DOWNLOAD_STATUSES

__all__ = [
    "DOWNLOAD_STATUSES",
    "SOURCE_NAMES",
    "Download",
    "DownloadError",
    "ImageRecord",
    "Source",
    "SourceError",
    "make_source",
]
