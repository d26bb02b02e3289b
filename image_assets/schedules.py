"""Daily schedules, one per source, off by default: the Dagster-side production entry point.

Each tick materializes the previous UTC day's partition of its source, so the day is complete before it is
read. Turn one on in the UI (Automation) or with `dagster schedule start image_pipeline__<source>_daily`.
"""

from __future__ import annotations

import datetime as dt

from dagster import (
    DefaultScheduleStatus,
    MultiPartitionKey,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    schedule,
)

from image_assets.sources import SOURCE_NAMES

DAILY_CRON = "30 0 * * *"  # 00:30 UTC: half an hour of slack for late uploads of the day before


def previous_day_partition(source: str, tick: dt.datetime) -> str:
    day = (tick.astimezone(dt.UTC) - dt.timedelta(days=1)).date()
    return str(MultiPartitionKey({"date": day.isoformat(), "source": source}))


def daily_schedule(source: str, job) -> ScheduleDefinition:
    @schedule(
        name=f"image_pipeline__{source}_daily",
        cron_schedule=DAILY_CRON,
        execution_timezone="UTC",
        job=job,
        default_status=DefaultScheduleStatus.STOPPED,
        description=f"Materialize yesterday's {source} partition of the image pipeline.",
    )
    def _schedule(context: ScheduleEvaluationContext) -> RunRequest:
        partition = previous_day_partition(source, context.scheduled_execution_time)
        return RunRequest(run_key=partition, partition_key=partition, tags={"imgpipe/schedule": "daily"})

    return _schedule


def daily_schedules(job) -> list[ScheduleDefinition]:
    return [daily_schedule(source, job) for source in SOURCE_NAMES]
