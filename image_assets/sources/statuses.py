"""The per-image outcomes a download can have; `raw_images` counts them in its metadata."""

from __future__ import annotations

OK = "ok"
"""Bytes fetched and checked (set by the pipeline when `download()` returns)."""
REFUSED = "refused"
"""Not requested: scheme, host or address outside the allowlist, or a tracking URL off the API host."""
TOO_LARGE = "too_large"
"""Declared or streamed size above IMGPIPE_MAX_IMAGE_BYTES."""
BAD_CONTENT = "bad_content"
"""Response is not a complete supported image (content type, magic bytes, missing end marker)."""
HTTP_ERROR = "http_error"
"""The server answered an error status (after retries for 429/5xx), or Unsplash tracking failed."""
DOWNLOAD_FAILED = "download_failed"
"""Network failure: timeout, connection error, truncated transfer, deadline exceeded, unreadable file."""

DOWNLOAD_STATUSES: tuple[str, ...] = (OK, REFUSED, TOO_LARGE, BAD_CONTENT, HTTP_ERROR, DOWNLOAD_FAILED)
BAD_RECORD = "bad_record"
"""The API's record itself is unusable (an id or field of the wrong type, too long, or with control characters);
nothing was requested. Not a download outcome, so not in DOWNLOAD_STATUSES."""
