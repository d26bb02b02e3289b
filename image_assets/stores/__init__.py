"""Object stores: plain classes with no Dagster import, so Spark executors can open them cheaply.

`StoreSpec` is the picklable description a driver ships to executors; `open_store` builds a store from a URL
and the environment. Dagster sees the same stores through `image_assets.resources.storage.StorageResource`.
"""

from image_assets.stores.base import InvalidKey, ObjectStore, check_key
from image_assets.stores.gcs import GCSObjectStore
from image_assets.stores.local import LocalObjectStore
from image_assets.stores.spec import StoreSpec, open_store

__all__ = [
    "GCSObjectStore",
    "InvalidKey",
    "LocalObjectStore",
    "ObjectStore",
    "StoreSpec",
    "check_key",
    "open_store",
]
