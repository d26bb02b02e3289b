"""What an executor needs to open the same store as the driver, as a small picklable value."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from image_assets.stores.base import ObjectStore
from image_assets.stores.gcs import GCSObjectStore
from image_assets.stores.local import LocalObjectStore


@dataclass(frozen=True)
class StoreSpec:
    """A store URL plus the GCS endpoint and project captured on the driver.

    Spark's Python workers keep the environment they were started with, so the endpoint and project travel with
    the URL rather than being read again from each worker's environment. Credentials do not travel: executors
    use their own Application Default Credentials.
    """

    url: str
    gcs_endpoint: str | None = None
    gcs_project: str | None = None

    @classmethod
    def from_env(cls, url: str, env: Mapping[str, str] | None = None, *, project: str | None = None) -> StoreSpec:
        env = os.environ if env is None else env
        return cls(url, env.get("STORAGE_EMULATOR_HOST") or None, project or env.get("GOOGLE_CLOUD_PROJECT") or None)

    @property
    def is_gcs(self) -> bool:
        return self.url.startswith("gs://")

    def open(self) -> ObjectStore:
        if self.is_gcs:
            return GCSObjectStore(self.url, endpoint=self.gcs_endpoint, project=self.gcs_project)
        return LocalObjectStore(self.url)


def open_store(url: str) -> ObjectStore:
    """The store for a URL (`gs://bucket/prefix` is GCS, anything else a local directory), configured from the
    environment (STORAGE_EMULATOR_HOST, GOOGLE_CLOUD_PROJECT)."""
    return StoreSpec.from_env(url).open()
