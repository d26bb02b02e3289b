"""The image catalog: one document per stored image, with no Dagster import.

`open_catalog` picks MongoDB (pymongo) when given a URI and the embedded SQLite catalog (standard library only)
otherwise. Backends are imported only when a catalog is opened, so importing this package never loads pymongo.
`Catalog` is the `CatalogStore` protocol both backends satisfy, for type hints.
"""

from __future__ import annotations

from pathlib import Path

from image_assets.catalog.base import CatalogStore
from image_assets.catalog.ids import document_id

Catalog = CatalogStore

__all__ = ["Catalog", "CatalogStore", "document_id", "open_catalog"]


def open_catalog(mongodb_uri: str | None, database: str, sqlite_path: str | Path) -> CatalogStore:
    """A real MongoDB when a URI is given, else the embedded SQLite catalog at `sqlite_path` (folders created)."""
    if mongodb_uri:
        from image_assets.catalog.mongo import open_mongo_catalog

        return open_mongo_catalog(mongodb_uri, database, sqlite_path)
    from image_assets.catalog.sqlite import SQLiteCatalog

    return SQLiteCatalog(sqlite_path)
