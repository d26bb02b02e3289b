"""Google Cloud Storage as an object store, through google-cloud-storage."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from image_assets.stores.base import ObjectStore, check_key

log = logging.getLogger(__name__)


def gcs_client(*, endpoint: str | None = None, project: str | None = None) -> Any:
    """A storage.Client; an explicit endpoint (an emulator) gets anonymous credentials."""
    from google.cloud import storage

    if endpoint:
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(
            project=project or "imgpipe-local",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": endpoint},
        )
    return storage.Client(project=project)


# Every operation here is idempotent (whole-object puts of the same bytes, deletes, copies), so each one is retried
# on 429/5xx, connection errors and timeouts, including uploads and deletes, which google-cloud-storage retries by
# default only when given a generation precondition. Backoff 1 s doubling up to 16 s, for at most RETRY_DEADLINE_S;
# each request may take REQUEST_TIMEOUT_S.
RETRY_DEADLINE_S = 120.0
REQUEST_TIMEOUT_S = 60.0


def _retry(deadline: float) -> Any:
    """google-cloud-storage's own retry rule (its DEFAULT_RETRY predicate), with a warning on every retried error so
    an outage shows in the run's logs rather than only as a slow step."""
    from google.api_core.retry import Retry
    from google.cloud.storage.retry import DEFAULT_RETRY

    def warn(exc: Exception) -> None:
        log.warning("GCS request failed, retrying for up to %.0f s: %s", deadline, str(exc).splitlines()[0][:200])

    return Retry(
        predicate=DEFAULT_RETRY._predicate, initial=1.0, maximum=16.0, multiplier=2.0, timeout=deadline, on_error=warn
    )


class GCSObjectStore(ObjectStore):
    """`gs://bucket/prefix`: every key lives under the prefix. Uploads are single requests, hence atomic."""

    def __init__(
        self,
        url: str,
        *,
        client: Any = None,
        endpoint: str | None = None,
        project: str | None = None,
        timeout: float = REQUEST_TIMEOUT_S,
        retry_deadline: float = RETRY_DEADLINE_S,
    ):
        bucket_name, _, prefix = url.removeprefix("gs://").partition("/")
        if not url.startswith("gs://") or not bucket_name:
            raise ValueError(f"IMGPIPE_BUCKET must look like gs://bucket/prefix, got {url!r}")
        self.url = url.rstrip("/")
        self.prefix = prefix.strip("/")
        self.client = client if client is not None else gcs_client(endpoint=endpoint, project=project)
        self.bucket = self.client.bucket(bucket_name)
        self.retry = _retry(retry_deadline)
        self.timeout = timeout

    def _name(self, key: str, *, prefix: bool = False) -> str:
        check_key(key, prefix=prefix)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes) -> None:
        self.bucket.blob(self._name(key)).upload_from_string(
            data, content_type="application/octet-stream", retry=self.retry, timeout=self.timeout
        )

    def get(self, key: str) -> bytes:
        from google.api_core.exceptions import NotFound

        try:
            return self.bucket.blob(self._name(key)).download_as_bytes(retry=self.retry, timeout=self.timeout)
        except NotFound:
            raise KeyError(key) from None

    def exists(self, key: str) -> bool:
        return bool(self.bucket.blob(self._name(key)).exists(retry=self.retry, timeout=self.timeout))

    def delete(self, key: str) -> None:
        from google.api_core.exceptions import NotFound

        with contextlib.suppress(NotFound):
            self.bucket.blob(self._name(key)).delete(retry=self.retry, timeout=self.timeout)

    def list(self, prefix: str) -> Iterator[str]:
        strip = len(self.prefix) + 1 if self.prefix else 0
        blobs = self.client.list_blobs(
            self.bucket, prefix=self._name(prefix, prefix=True), retry=self.retry, timeout=self.timeout
        )
        for blob in blobs:
            yield blob.name[strip:]

    def copy(self, src: str, dst: str) -> None:
        from google.api_core.exceptions import NotFound

        try:
            self.bucket.copy_blob(
                self.bucket.blob(self._name(src)), self.bucket, self._name(dst), retry=self.retry, timeout=self.timeout
            )
        except NotFound:
            raise KeyError(src) from None
