"""`imgpipe backfill`: materialize a date range for one source (or all) as one run in the Dagster instance.

The assets' single-run backfill policy lets one run cover a whole source × date rectangle, so each Spark-backed
asset runs one Spark job for the range. The run is recorded in DAGSTER_HOME's instance with the same partition
range tags a UI-launched backfill uses, so it shows in the UI beside them.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from image_assets.assets.partitions import START_DATE, PartitionRef, image_partitions
from image_assets.sources import SOURCE_NAMES

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
BACKFILL_TAG = "imgpipe/backfill"
ASSET_ORDER = ("raw_images", "compressed_images", "stored_images", "image_catalog")


class BackfillError(ValueError):
    """A request that names no valid partitions; the message is user-facing."""


@dataclass(frozen=True)
class BackfillPlan:
    sources: tuple[str, ...]
    start: dt.date
    end: dt.date
    backfill_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def partitions(self) -> list[PartitionRef]:
        days = (self.end - self.start).days + 1
        return [PartitionRef(source, self.start + dt.timedelta(days=i)) for i in range(days) for source in self.sources]

    def tags(self) -> dict[str, str]:
        return {
            RANGE_START_TAG: PartitionRef(self.sources[0], self.start).key,
            RANGE_END_TAG: PartitionRef(self.sources[-1], self.end).key,
            BACKFILL_TAG: self.backfill_id,
        }


def plan_backfill(source: str, start: dt.date, end: dt.date) -> BackfillPlan:
    """Validate a request against the partitions definition; `source` may be `all`."""
    sources = SOURCE_NAMES if source == "all" else (source,)
    if source != "all" and source not in SOURCE_NAMES:
        raise BackfillError(f"unknown source {source!r}; choose one of {', '.join(SOURCE_NAMES)} or all")
    if start > end:
        raise BackfillError(f"--from {start} is after --to {end}")
    valid = set(image_partitions.get_partition_keys())
    for day in (start, end):
        if PartitionRef(sources[0], day).key not in valid:
            raise BackfillError(f"{day} is outside the partitions (from {START_DATE} to today, UTC)")
    return BackfillPlan(sources, start, end)


@dataclass
class BackfillOutcome:
    run_id: str
    success: bool
    steps_done: list[str]
    error: str | None = None


def run_backfill(plan: BackfillPlan, *, on_step: Callable[[str], None] | None = None) -> BackfillOutcome:
    """Execute the plan as one run of the `image_pipeline` job in the persistent instance."""
    from dagster import DagsterEventType, DagsterInstance

    from image_assets.definitions import defs
    from image_assets.demo import QUIET_LOGS
    from image_assets.settings import Settings, ensure_dagster_home

    ensure_dagster_home(Settings.from_env())
    job = defs.resolve_job_def("image_pipeline")
    run_id = str(uuid.uuid4())
    done: list[str] = []
    with DagsterInstance.get() as instance:
        outcome: dict[str, object] = {}

        def execute() -> None:
            try:
                result = job.execute_in_process(
                    instance=instance,
                    run_id=run_id,
                    tags=plan.tags(),
                    raise_on_error=False,
                    run_config=QUIET_LOGS,
                )
                outcome["success"] = result.success
                failures = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
                error = failures[0].step_failure_data.error if failures else None
                if error is not None:
                    outcome["error"] = error.message.strip().splitlines()[-1]
            except Exception as exc:  # reported as the outcome, not a traceback
                outcome["success"], outcome["error"] = False, f"{type(exc).__name__}: {exc}"

        worker = threading.Thread(target=execute, name="imgpipe-backfill")
        worker.start()
        while worker.is_alive() or len(done) < len(ASSET_ORDER):
            for record in instance.get_records_for_run(run_id, of_type=DagsterEventType.STEP_SUCCESS).records:
                step = record.event_log_entry.step_key
                if step and step not in done:
                    done.append(step)
                    if on_step:
                        on_step(step)
            if not worker.is_alive():
                break
            time.sleep(0.5)
        worker.join()
    return BackfillOutcome(run_id, bool(outcome.get("success")), done, outcome.get("error"))  # type: ignore[arg-type]
