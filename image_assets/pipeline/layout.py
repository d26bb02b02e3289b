"""Object keys: deterministic per (source, day, source id), identical on GCS and the local store."""

from __future__ import annotations

import datetime as dt

RAW = "raw"
STAGING = "staging"
IMAGES = "images"
MANIFESTS = "manifests"


def partition_prefix(area: str, source: str, day: dt.date) -> str:
    return f"{area}/{source}/{day.isoformat()}/"


def raw_key(source: str, day: dt.date, source_id: str, extension: str) -> str:
    return f"{partition_prefix(RAW, source, day)}{source_id}{extension}"


def svdz_key(area: str, source: str, day: dt.date | str, source_id: str) -> str:
    """A compressed object's key in `area` (staging, images, or an experiment's own area)."""
    return f"{area}/{source}/{day if isinstance(day, str) else day.isoformat()}/{source_id}.svdz"


def image_key(source: str, day: dt.date, source_id: str) -> str:
    return svdz_key(IMAGES, source, day, source_id)


def manifest_key(asset: str, source: str, day: dt.date) -> str:
    return f"{MANIFESTS}/{asset}/{source}/{day.isoformat()}.parquet"
