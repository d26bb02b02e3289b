"""MLflow tracking: one run per compressed partition, through MlflowClient (no global mlflow state, no Dagster).

The embedded default is a SQLite file under IMGPIPE_HOME with artifacts beside it, so nothing lands in a
stray ./mlruns; MLFLOW_TRACKING_URI points at a real server instead.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from image_assets.tracking.links import run_url


@dataclass
class TrackedRun:
    """An open MLflow run; metrics and params are sent in one batch when the run ends."""

    run_id: str
    experiment_id: str
    tracking_uri: str
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    artifacts: list[Path] = field(default_factory=list)

    @property
    def link(self) -> str:
        """The run's page (see `links.run_url`); never carries the tracking URI's credentials."""
        return run_url(self.tracking_uri, self.experiment_id, self.run_id)


@dataclass(frozen=True)
class Tracker:
    """Where compression runs are recorded; mlflow is imported only when a run is opened."""

    tracking_uri: str
    experiment: str = "image-compression"
    artifact_root: str | None = None

    def _client(self):
        from mlflow.tracking import MlflowClient

        for noisy in ("mlflow.store.db.utils", "alembic"):  # schema-migration chatter on first use
            logging.getLogger(noisy).setLevel(logging.WARNING)
        # MLflow prints "View run … at: <tracking URI>" to stdout when a run on a server ends, user info and
        # password included; the run's link is in the asset metadata already, without them (links.run_url).
        os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"

        if self.tracking_uri.startswith("sqlite:///"):
            Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return MlflowClient(tracking_uri=self.tracking_uri)

    def experiment_id(self, client=None) -> str:
        client = client or self._client()
        found = client.get_experiment_by_name(self.experiment)
        if found is not None:
            return found.experiment_id
        location = f"{self.artifact_root.rstrip('/')}/{self.experiment}" if self.artifact_root else None
        try:
            return client.create_experiment(self.experiment, artifact_location=location)
        except Exception:  # another process created it first
            found = client.get_experiment_by_name(self.experiment)
            if found is None:
                raise
            return found.experiment_id

    @contextmanager
    def run(self, run_name: str, tags: Mapping[str, str], *, parent_run_id: str | None = None) -> Iterator[TrackedRun]:
        """Open a run (nested under `parent_run_id` when given), yield it for params/metrics/artifacts, and
        close it FINISHED or FAILED."""
        from mlflow.entities import Metric, Param

        client = self._client()
        experiment_id = self.experiment_id(client)
        all_tags = dict(tags) | ({"mlflow.parentRunId": parent_run_id} if parent_run_id else {})
        created = client.create_run(experiment_id, run_name=run_name, tags=all_tags)
        tracked = TrackedRun(created.info.run_id, experiment_id, self.tracking_uri)
        status = "FAILED"
        try:
            yield tracked
            status = "FINISHED"
        finally:
            now = int(time.time() * 1000)
            client.log_batch(
                tracked.run_id,
                metrics=[Metric(k, float(v), now, 0) for k, v in tracked.metrics.items()],
                params=[Param(k, str(v)) for k, v in tracked.params.items()],
            )
            for path in tracked.artifacts:
                client.log_artifact(tracked.run_id, str(path))
            client.set_terminated(tracked.run_id, status=status)
