"""The image catalog as a Dagster resource; the catalog itself is `image_assets.catalog` (no Dagster import)."""

from __future__ import annotations

from dagster import ConfigurableResource

from image_assets.catalog import Catalog, open_catalog


class CatalogResource(ConfigurableResource):
    """Image catalog (MONGODB_URI, or the embedded SQLite catalog under IMGPIPE_HOME)."""

    mongodb_uri: str | None = None
    database: str = "imgpipe"
    sqlite_path: str

    def open(self) -> Catalog:
        return open_catalog(self.mongodb_uri, self.database, self.sqlite_path)
