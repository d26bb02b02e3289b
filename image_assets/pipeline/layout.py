"""Object keys: deterministic per (source, day, source id), identical on GCS and the local store.

Source ids come from outside (API responses, file names), so they never go into a key as they are unless they are
plainly safe: `key_segment` keeps short ids of letters, digits, `-` and `_` that start with a letter or digit, and
turns anything else into `_<readable part>-<sha256 prefix>`. The two forms cannot collide (only the encoded form
starts with `_`), and the hash keeps distinct ids distinct. Every key then passes `stores.check_key` as well.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

RAW = "raw"
STAGING = "staging"
ENCODED = "encoded"  # sidecars: what each staged/published object was encoded from, and how
IMAGES = "images"
MANIFESTS = "manifests"

_PLAIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def key_segment(source_id: str) -> str:
    """A key-safe, collision-free name for an untrusted source id (see the module docstring)."""
    if _PLAIN_ID.fullmatch(source_id):
        return source_id
    readable = _UNSAFE.sub("_", source_id).strip("_")[:40]
    digest = hashlib.sha256(source_id.encode("utf-8", "surrogatepass")).hexdigest()[:20]
    return f"_{readable}-{digest}" if readable else f"_{digest}"


def _day(day: dt.date | str) -> str:
    return day if isinstance(day, str) else day.isoformat()


def partition_prefix(area: str, source: str, day: dt.date | str) -> str:
    return f"{area}/{source}/{_day(day)}/"


def raw_key(source: str, day: dt.date, source_id: str, extension: str) -> str:
    return f"{partition_prefix(RAW, source, day)}{key_segment(source_id)}{extension}"


def svdz_key(area: str, source: str, day: dt.date | str, source_id: str) -> str:
    """A compressed object's key in `area` (staging, images, or an experiment's own area)."""
    return f"{partition_prefix(area, source, day)}{key_segment(source_id)}.svdz"


def sidecar_key(source: str, day: dt.date | str, source_id: str) -> str:
    return f"{partition_prefix(ENCODED, source, day)}{key_segment(source_id)}.json"


def image_key(source: str, day: dt.date, source_id: str) -> str:
    return svdz_key(IMAGES, source, day, source_id)


def manifest_key(asset: str, source: str, day: dt.date) -> str:
    return f"{MANIFESTS}/{asset}/{source}/{day.isoformat()}.parquet"
