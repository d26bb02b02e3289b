"""One module per external system, and the one place (`build_resources`) that picks them per environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from dagster import EnvVar
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


def from_environment(name: str, value: str | None) -> Any:
    """`EnvVar(name)` when `value` came from the process environment: Dagster then shows the variable's name, not
    its value (connection strings carry passwords), in the UI's resource details."""
    return EnvVar(name) if value and os.environ.get(name) == value else value


def build_resources(settings: Settings | None = None, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Resources for this deployment, chosen from the environment (see README's variable table)."""
    settings = settings or Settings.from_env(env)
    return {
        "storage": StorageResource(url=settings.storage_url, gcs=GCSResource(project=settings.gcp_project)),
        "catalog": CatalogResource(
            mongodb_uri=from_environment("MONGODB_URI", settings.mongodb_uri),
            database=settings.mongodb_database,
            sqlite_path=str(settings.catalog_sqlite_path),
        ),
        "tracking": TrackingResource(
            tracking_uri=from_environment("MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri),
            experiment=settings.mlflow_experiment,
            artifact_root=None
            if settings.mlflow_tracking_uri.startswith(("http", "databricks"))
            else settings.mlflow_artifact_root,
        ),
        "spark": make_spark_resource(settings.spark_master, settings.spark_conf),
    }
