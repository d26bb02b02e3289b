"""Google Cloud Storage as an object store, through google-cloud-storage."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from image_assets.stores.base import ObjectStore, check_key


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


class GCSObjectStore(ObjectStore):
    """`gs://bucket/prefix`: every key lives under the prefix. Uploads are single requests, hence atomic."""

    def __init__(self, url: str, *, client: Any = None, endpoint: str | None = None, project: str | None = None):
        bucket_name, _, prefix = url.removeprefix("gs://").partition("/")
        if not url.startswith("gs://") or not bucket_name:
            raise ValueError(f"IMGPIPE_BUCKET must look like gs://bucket/prefix, got {url!r}")
        self.url = url.rstrip("/")
        self.prefix = prefix.strip("/")
        self.client = client if client is not None else gcs_client(endpoint=endpoint, project=project)
        self.bucket = self.client.bucket(bucket_name)

    def _name(self, key: str, *, prefix: bool = False) -> str:
        check_key(key, prefix=prefix)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes) -> None:
        self.bucket.blob(self._name(key)).upload_from_string(data, content_type="application/octet-stream")

    def get(self, key: str) -> bytes:
        from google.api_core.exceptions import NotFound

        try:
            return self.bucket.blob(self._name(key)).download_as_bytes()
        except NotFound:
            raise KeyError(key) from None

    def exists(self, key: str) -> bool:
        return bool(self.bucket.blob(self._name(key)).exists())

    def delete(self, key: str) -> None:
        from google.api_core.exceptions import NotFound

        with contextlib.suppress(NotFound):
            self.bucket.blob(self._name(key)).delete()

    def list(self, prefix: str) -> Iterator[str]:
        strip = len(self.prefix) + 1 if self.prefix else 0
        for blob in self.client.list_blobs(self.bucket, prefix=self._name(prefix, prefix=True)):
            yield blob.name[strip:]

    def copy(self, src: str, dst: str) -> None:
        from google.api_core.exceptions import NotFound

        try:
            self.bucket.copy_blob(self.bucket.blob(self._name(src)), self.bucket, self._name(dst))
        except NotFound:
            raise KeyError(src) from None
