"""MLflow tracking of compression runs, with no Dagster import (the resource wraps `Tracker`)."""

from image_assets.tracking.mlflow_runs import TrackedRun, Tracker

__all__ = ["TrackedRun", "Tracker"]
