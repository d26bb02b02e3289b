"""One module per external system, and the one place (`build_resources`) that picks them per environment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster_gcp import GCSResource

from image_assets.resources.catalog import CatalogResource
from image_assets.resources.spark import SparkResource, make_spark_resource
from image_assets.resources.storage import StorageResource
from image_assets.resources.tracking import TrackingResource
from image_assets.settings import Settings

__all__ = [
    "CatalogResource",
    "SparkResource",
    "StorageResource",
    "TrackingResource",
    "build_resources",
]


def build_resources(settings: Settings | None = None, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Resources for this deployment, chosen from the environment (see README's variable table)."""
    settings = settings or Settings.from_env(env)
    return {
        "storage": StorageResource(url=settings.storage_url, gcs=GCSResource(project=settings.gcp_project)),
        "catalog": CatalogResource(
            mongodb_uri=settings.mongodb_uri,
            database=settings.mongodb_database,
            sqlite_path=str(settings.catalog_sqlite_path),
        ),
        "tracking": TrackingResource(
            tracking_uri=settings.mlflow_tracking_uri,
            experiment=settings.mlflow_experiment,
            artifact_root=None
            if settings.mlflow_tracking_uri.startswith(("http", "databricks"))
            else settings.mlflow_artifact_root,
        ),
        "spark": make_spark_resource(settings.spark_master, settings.spark_conf),
    }
