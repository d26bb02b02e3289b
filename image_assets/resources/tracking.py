"""MLflow as a Dagster resource; the tracking code itself is `image_assets.tracking` (no Dagster import)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from dagster import ConfigurableResource

from image_assets.tracking import TrackedRun, Tracker


class TrackingResource(ConfigurableResource):
    """Where compression runs are recorded (MLFLOW_TRACKING_URI, or SQLite under IMGPIPE_HOME)."""

    tracking_uri: str
    experiment: str = "image-compression"
    artifact_root: str | None = None

    def tracker(self) -> Tracker:
        return Tracker(self.tracking_uri, self.experiment, self.artifact_root)

    @contextmanager
    def run(self, run_name: str, tags: Mapping[str, str], *, parent_run_id: str | None = None) -> Iterator[TrackedRun]:
        """See `Tracker.run`."""
        with self.tracker().run(run_name, tags, parent_run_id=parent_run_id) as run:
            yield run
