"""Object storage as a Dagster resource: GCS (`gs://bucket/prefix`, via dagster-gcp's GCSResource) or a local folder.

The stores themselves live in `image_assets.stores` (no Dagster import): the driver opens one with the client
GCSResource configures (project; credentials from the environment, as for any dagster-gcp user), and executors
open their own from the picklable `StoreSpec` this resource hands out.
"""

from __future__ import annotations

from dagster import ConfigurableResource
from dagster_gcp import GCSResource
from pydantic import Field

from image_assets.stores import GCSObjectStore, ObjectStore, StoreSpec


class StorageResource(ConfigurableResource):
    """Where raw images, compressed objects and manifests live (IMGPIPE_BUCKET or IMGPIPE_HOME/objects)."""

    url: str = Field(description="gs://bucket/prefix, or a local folder")
    gcs: GCSResource = Field(default_factory=GCSResource, description="GCS client settings (project)")

    def spec(self) -> StoreSpec:
        return StoreSpec.from_env(self.url, project=self.gcs.project)

    def open(self) -> ObjectStore:
        spec = self.spec()
        if spec.is_gcs:
            return GCSObjectStore(self.url, client=self.gcs.get_client())
        return spec.open()
