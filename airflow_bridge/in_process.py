"""In-process mode: the Airflow worker materializes the asset itself, recorded in the shared Dagster instance.

The worker needs the whole stack (Spark, the codec); in exchange there is no Dagster deployment to run, and the run,
its logs and materializations still show in the Dagster UI because they land in DAGSTER_HOME.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from airflow_bridge.contracts import AssetRun, DagsterRunFailed

log = logging.getLogger(__name__)
LOCK_FILE = ".airflow_bridge.lock"


class InProcessExecutor:
    def run(self, request: AssetRun) -> str:
        from dagster import AssetKey, Definitions

        from image_assets.definitions import defs
        from image_assets.instance import ensure_dagster_home
        from image_assets.resources import build_resources
        from image_assets.settings import Settings

        settings = Settings.from_env()  # read now, at task run time, not when the DAG file was parsed
        home = ensure_dagster_home(settings)
        # Rebind resources from the environment now: `defs` chose its resources when the DAG file was parsed.
        fresh = Definitions(assets=defs.assets, jobs=defs.jobs, resources=build_resources(settings))
        job = fresh.resolve_job_def(request.job_name)
        log.info(
            "materializing %s for %s in-process (DAGSTER_HOME=%s)",
            "/".join(request.asset_key),
            request.partition_key,
            home,
        )
        with open_instance(home) as instance:
            result = job.execute_in_process(
                instance=instance,
                partition_key=request.partition_key,
                asset_selection=[AssetKey(list(request.asset_key))],
                tags=dict(request.tags),
                raise_on_error=False,
            )
        if not result.success:
            raise DagsterRunFailed(result.run_id, "FAILURE", list(failure_messages(result.all_events)))
        log.info("Dagster run %s succeeded", result.run_id)
        return result.run_id


def open_instance(home: Path) -> Any:
    """DagsterInstance.get(), one process at a time.

    Opening an instance creates and stamps its SQLite schemas on first use; Airflow starts several tasks at once,
    and concurrent first opens left two alembic heads in schedules.db, breaking the instance for good.
    """
    from dagster import DagsterInstance

    with (home / LOCK_FILE).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return DagsterInstance.get()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def failure_messages(events: Iterable[Any]) -> Iterable[str]:
    """Step failures first-hand (with the step key), then run-level failure messages."""
    for event in events:
        if event.is_step_failure and event.step_failure_data is not None:
            yield f"[{event.step_key}] {event.step_failure_data.error.message.strip()}"
        elif event.is_run_failure:
            yield event.message or "run failed"
