"""The image catalog: one document per stored image, with no Dagster import.

`open_catalog` picks MongoDB (pymongo) when given a URI and the embedded mongoeco SQLite catalog otherwise; both
are loaded only when a catalog is opened, so importing this package stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from image_assets.catalog.ids import document_id

if TYPE_CHECKING:
    from image_assets.catalog.mongo import Catalog

__all__ = ["Catalog", "document_id", "open_catalog"]


def open_catalog(mongodb_uri: str | None, database: str, sqlite_path: str | Path) -> Catalog:
    """A real MongoDB when a URI is given, else the embedded SQLite catalog under IMGPIPE_HOME."""
    from image_assets.catalog.mongo import open_mongo_catalog

    return open_mongo_catalog(mongodb_uri, database, sqlite_path)


def __getattr__(name: str) -> object:
    if name == "Catalog":
        from image_assets.catalog.mongo import Catalog

        return Catalog
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
