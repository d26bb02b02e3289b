"""The boundary check on an API record: a record that could hurt a later stage becomes a `bad_record` row.

Sources build `ImageRecord`s from untrusted JSON. Ids are made key-safe later (`pipeline.layout.key_segment`), so
path-like ids are fine here; what is refused is what no stage should have to handle: values of the wrong type,
unbounded lengths, and control characters in an id (they would reach log lines and terminals verbatim).
"""

from __future__ import annotations

import datetime as dt

from image_assets.sources.base import ImageRecord

MAX_ID_CHARS = 256
MAX_URL_CHARS = 4096
MAX_TEXT_CHARS = 10_000
MAX_SIDE = 1_000_000  # pixels; listed sizes are informational, but must be sane numbers
TEXT_FIELDS = ("page_url", "photographer", "photographer_url", "description", "color", "attribution")


def record_problem(record: ImageRecord) -> str | None:
    """Why `record` cannot be ingested, in one line, or None when it can."""
    sid = record.source_id
    if not isinstance(sid, str) or not sid:
        return f"source id is {type(sid).__name__}, not a non-empty string"
    if len(sid) > MAX_ID_CHARS:
        return f"source id is {len(sid):,} characters long (at most {MAX_ID_CHARS})"
    if any(_is_control(char) for char in sid):
        return "source id contains control characters"
    if not isinstance(record.image_url, str) or not record.image_url:
        return f"image URL is {type(record.image_url).__name__}, not a string"
    if len(record.image_url) > MAX_URL_CHARS:
        return f"image URL is over {MAX_URL_CHARS} characters"
    for name in ("width", "height"):
        value = getattr(record, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_SIDE):
            return f"{name} {str(value)[:40]!r} is not a pixel count"
    for name in (*TEXT_FIELDS, "download_location"):
        value = getattr(record, name)
        if value is not None and not isinstance(value, str):
            return f"{name} is {type(value).__name__}, not a string"
        if isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
            return f"{name} is over {MAX_TEXT_CHARS:,} characters"
    if record.created_at is not None and not isinstance(record.created_at, dt.datetime):
        return "created_at is not a timestamp"
    return None


def printable_id(value: object) -> str:
    """An id fit for a manifest row and a log line: control characters escaped, length bounded."""
    text = value if isinstance(value, str) else repr(value)
    text = "".join(char if not _is_control(char) else repr(char)[1:-1] for char in text)
    return text if len(text) <= MAX_ID_CHARS else f"{text[:MAX_ID_CHARS]}…"


def _is_control(char: str) -> bool:
    code = ord(char)
    return code < 0x20 or 0x7F <= code < 0xA0 or code in (0x2028, 0x2029)
