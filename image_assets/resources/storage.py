"""Object storage: Google Cloud Storage for `gs://bucket/prefix`, a local directory otherwise.

Both backends use the same object keys, so moving from the embedded default to GCS changes nothing but
IMGPIPE_BUCKET. Plain `ObjectStore` classes are what Spark executors use (built from the URL string);
`StorageResource` is the Dagster face of the same thing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from dagster import ConfigurableResource


class ObjectStore(ABC):
    """Minimal blob store: whole-object puts are atomic, so a crashed write never leaves a partial object."""

    url: str

    @abstractmethod
    def put(self, key: str, data: bytes) -> None: ...

    @abstractmethod
    def get(self, key: str) -> bytes: ...

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove an object; removing one that is absent is not an error."""

    @abstractmethod
    def list(self, prefix: str) -> Iterator[str]:
        """Keys under `prefix` (a folder-like prefix ending in '/')."""

    @abstractmethod
    def copy(self, src: str, dst: str) -> None: ...

    def uri(self, key: str) -> str:
        return f"{self.url.rstrip('/')}/{key}"

    def delete_prefix(self, prefix: str) -> int:
        keys = list(self.list(prefix))
        for key in keys:
            self.delete(key)
        return len(keys)


class LocalObjectStore(ObjectStore):
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.url = str(self.root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"object key {key!r} escapes the storage root")
        return path

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise KeyError(key) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def list(self, prefix: str) -> Iterator[str]:
        base = self._path(prefix)
        if not base.is_dir():
            return
        for path in sorted(base.rglob("*")):
            if path.is_file() and not path.name.startswith(".tmp-"):
                yield path.relative_to(self.root).as_posix()

    def copy(self, src: str, dst: str) -> None:
        target = self._path(dst)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        os.close(fd)
        try:
            shutil.copyfile(self._path(src), tmp)
            os.replace(tmp, target)
        except FileNotFoundError:
            Path(tmp).unlink(missing_ok=True)
            raise KeyError(src) from None


class GCSObjectStore(ObjectStore):
    """GCS through google-cloud-storage; an explicit endpoint (an emulator) uses anonymous credentials."""

    def __init__(self, url: str, *, endpoint: str | None = None, project: str | None = None) -> None:
        from google.cloud import storage

        bucket_name, _, prefix = url.removeprefix("gs://").partition("/")
        if not bucket_name:
            raise ValueError(f"IMGPIPE_BUCKET must look like gs://bucket/prefix, got {url!r}")
        self.url = url.rstrip("/")
        self.prefix = prefix.strip("/")
        if endpoint:
            from google.auth.credentials import AnonymousCredentials

            self.client = storage.Client(
                project=project or "imgpipe-local",
                credentials=AnonymousCredentials(),
                client_options={"api_endpoint": endpoint},
            )
        else:
            self.client = storage.Client(project=project)
        self.bucket = self.client.bucket(bucket_name)

    def _name(self, key: str) -> str:
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
        return self.bucket.blob(self._name(key)).exists()

    def delete(self, key: str) -> None:
        from google.api_core.exceptions import NotFound

        with contextlib.suppress(NotFound):
            self.bucket.blob(self._name(key)).delete()

    def list(self, prefix: str) -> Iterator[str]:
        strip = len(self.prefix) + 1 if self.prefix else 0
        for blob in self.client.list_blobs(self.bucket, prefix=self._name(prefix)):
            yield blob.name[strip:]

    def copy(self, src: str, dst: str) -> None:
        from google.api_core.exceptions import NotFound

        try:
            self.bucket.copy_blob(self.bucket.blob(self._name(src)), self.bucket, self._name(dst))
        except NotFound:
            raise KeyError(src) from None


@dataclass(frozen=True)
class StoreSpec:
    """Everything an executor needs to open the same store as the driver.

    Spark's Python workers keep the environment they were started with, so the GCS endpoint and project are
    captured on the driver and shipped with the URL rather than read again from each worker's environment.
    """

    url: str
    gcs_endpoint: str | None = None
    gcs_project: str | None = None

    @classmethod
    def from_env(cls, url: str, env: Mapping[str, str] | None = None) -> StoreSpec:
        env = os.environ if env is None else env
        return cls(url, env.get("STORAGE_EMULATOR_HOST") or None, env.get("GOOGLE_CLOUD_PROJECT") or None)

    def open(self) -> ObjectStore:
        if self.url.startswith("gs://"):
            return GCSObjectStore(self.url, endpoint=self.gcs_endpoint, project=self.gcs_project)
        return LocalObjectStore(self.url)


def open_store(url: str) -> ObjectStore:
    """The store for a URL (`gs://bucket/prefix` is GCS, anything else a local directory), configured from the
    environment (STORAGE_EMULATOR_HOST, GOOGLE_CLOUD_PROJECT)."""
    return StoreSpec.from_env(url).open()


class StorageResource(ConfigurableResource):
    """Where raw images, compressed objects and manifests live (IMGPIPE_BUCKET or IMGPIPE_HOME/objects)."""

    url: str

    def spec(self) -> StoreSpec:
        return StoreSpec.from_env(self.url)

    def open(self) -> ObjectStore:
        return self.spec().open()
