"""The asset graph as plain data: which DAGs, tasks, edges and schedule Airflow gets, and which partition a run targets.

No Airflow import here, so the export can be checked (and reused by other renderers) without Airflow installed.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DAG_ID_PREFIX = "image_pipeline"
JOB_NAME = "image_pipeline"
# Per-asset overrides read from Dagster asset metadata, e.g. `metadata={"airflow/retries": 0}`.
META_RETRIES = "airflow/retries"
META_RETRY_DELAY_S = "airflow/retry_delay_s"
META_TIMEOUT_S = "airflow/execution_timeout_s"
META_POOL = "airflow/pool"
META_POOL_SLOTS = "airflow/pool_slots"


class PartitionOutOfRange(ValueError):
    """The Airflow run names a day (or source) for which the Dagster graph has no partition: never retry it."""


@dataclass(frozen=True)
class TaskDefaults:
    """Defaults for every task; asset metadata overrides them per asset (retries also from IMGPIPE_AIRFLOW_RETRIES)."""

    retries: int = 2
    retry_delay_s: int = 300
    execution_timeout_s: int = 3 * 3600
    pool: str = "default_pool"
    pool_slots: int = 1

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TaskDefaults:
        env = os.environ if env is None else env
        text = (env.get("IMGPIPE_AIRFLOW_RETRIES") or "").strip()
        return cls(retries=int(text)) if text else cls()


@dataclass(frozen=True)
class TaskPlan:
    task_id: str
    asset_key: tuple[str, ...]
    upstream: tuple[str, ...]
    retries: int
    retry_delay_s: int
    execution_timeout_s: int
    pool: str
    pool_slots: int
    description: str = ""

    @property
    def asset_name(self) -> str:
        """The asset key as Dagster prints it (`a/b`); also the name of the task's Airflow Asset outlet."""
        return "/".join(self.asset_key)


@dataclass(frozen=True)
class DailySchedule:
    """The `date` dimension: a UTC daily partition per day from `start`, the last one `end_offset - 1` days ahead."""

    cron: str
    timezone: str
    start: dt.date
    end_offset: int
    fmt: str


@dataclass(frozen=True)
class DagPlan:
    dag_id: str
    source: str
    job_name: str
    date_dimension: str
    source_dimension: str
    schedule: DailySchedule
    tasks: tuple[TaskPlan, ...]

    @property
    def edges(self) -> set[tuple[str, str]]:
        return {(up, task.task_id) for task in self.tasks for up in task.upstream}

    def partition_for(
        self, interval_start: dt.datetime | None, logical_date: dt.datetime | None, now: dt.datetime | None = None
    ) -> str:
        """The Dagster partition key (`2026-11-26|local`) an Airflow run materializes; see `partition_day`."""
        day = partition_day(interval_start, logical_date)
        check_day(self.schedule, day, now)
        return f"{day.strftime(self.schedule.fmt)}|{self.source}"

    def partition_tags(self, partition_key: str) -> dict[str, str]:
        """The run tags Dagster itself sets for a multi-partition run (needed when launching over GraphQL)."""
        date_key, source = partition_key.split("|")
        return {
            "dagster/partition": partition_key,
            f"dagster/partition/{self.date_dimension}": date_key,
            f"dagster/partition/{self.source_dimension}": source,
        }


def task_id_for(asset_key: tuple[str, ...]) -> str:
    """Airflow task ids allow [A-Za-z0-9_.-]; multi-part asset keys join with `__`."""
    return "__".join(asset_key)


def dag_id_for(source: str) -> str:
    return f"{DAG_ID_PREFIX}__{source}"


def partition_day(interval_start: dt.datetime | None, logical_date: dt.datetime | None) -> dt.date:
    """The UTC day an Airflow run targets.

    With a data-interval timetable a scheduled or backfill run for day D has logical date D == interval start, and
    `airflow dags test DAG D` / a UI trigger "for D" set logical date D while Airflow infers the *previous* complete
    interval ([D-1, D)). The logical date therefore names the day the user asked for; a run without one (Airflow 3
    manual trigger) takes the start of its inferred interval, i.e. the last complete day.
    """
    moment = logical_date or interval_start
    if moment is None:
        raise PartitionOutOfRange("the Airflow run has neither a logical date nor a data interval")
    if moment.tzinfo is None:
        raise PartitionOutOfRange(f"naive datetime {moment.isoformat()}: Airflow passes UTC-aware datetimes")
    return moment.astimezone(dt.UTC).date()


def check_day(schedule: DailySchedule, day: dt.date, now: dt.datetime | None = None) -> None:
    now = now or dt.datetime.now(dt.UTC)
    last = now.astimezone(dt.UTC).date() + dt.timedelta(days=schedule.end_offset - 1)
    if not schedule.start <= day <= last:
        raise PartitionOutOfRange(
            f"{day.isoformat()} maps to no Dagster partition: daily partitions run from "
            f"{schedule.start.isoformat()} to {last.isoformat()}"
        )


def partitions_between(plan: DagPlan, first: dt.date, last: dt.date, now: dt.datetime | None = None) -> list[str]:
    """The partitions `airflow backfill create --from-date first --to-date last` materializes, one run per day."""
    days = (first + dt.timedelta(days=n) for n in range((last - first).days + 1))
    return [plan.partition_for(dt.datetime.combine(day, dt.time(), dt.UTC), None, now) for day in days]


def plan_dags(defs: Any, job_name: str = JOB_NAME, defaults: TaskDefaults | None = None) -> list[DagPlan]:
    """One DagPlan per value of the static dimension, one task per asset of `job_name`, edges from asset deps."""
    from dagster import MultiPartitionsDefinition, StaticPartitionsDefinition, TimeWindowPartitionsDefinition

    defaults = defaults or TaskDefaults.from_env()
    graph = defs.resolve_asset_graph()
    job = defs.resolve_job_def(job_name)
    keys = sorted(job.asset_layer.executable_asset_keys, key=lambda key: key.path)
    partitions = job.partitions_def
    if not isinstance(partitions, MultiPartitionsDefinition):
        raise TypeError(f"job {job_name} must be partitioned by date × static source, not {partitions!r}")
    dims = {type(d.partitions_def): d for d in partitions.partitions_defs}
    date_dim = next((d for t, d in dims.items() if issubclass(t, TimeWindowPartitionsDefinition)), None)
    source_dim = dims.get(StaticPartitionsDefinition)
    if date_dim is None or source_dim is None:
        raise TypeError(f"job {job_name} needs one time-window and one static dimension")
    window = date_dim.partitions_def
    schedule = DailySchedule(
        cron=window.cron_schedule,
        timezone=str(window.timezone),
        start=window.start.date(),
        end_offset=window.end_offset,
        fmt=window.fmt,
    )
    tasks = tuple(_task_plan(graph.get(key), set(keys), defaults) for key in keys)
    return [
        DagPlan(
            dag_id=dag_id_for(source),
            source=source,
            job_name=job_name,
            date_dimension=date_dim.name,
            source_dimension=source_dim.name,
            schedule=schedule,
            tasks=tasks,
        )
        for source in source_dim.partitions_def.get_partition_keys()
    ]


def _task_plan(node: Any, selected: set[Any], defaults: TaskDefaults) -> TaskPlan:
    meta = {key: getattr(value, "value", value) for key, value in (node.metadata or {}).items()}
    return TaskPlan(
        task_id=task_id_for(tuple(node.key.path)),
        asset_key=tuple(node.key.path),
        upstream=tuple(sorted(task_id_for(tuple(k.path)) for k in node.parent_keys if k in selected)),
        retries=int(meta.get(META_RETRIES, defaults.retries)),
        retry_delay_s=int(meta.get(META_RETRY_DELAY_S, defaults.retry_delay_s)),
        execution_timeout_s=int(meta.get(META_TIMEOUT_S, defaults.execution_timeout_s)),
        pool=str(meta.get(META_POOL, defaults.pool)),
        pool_slots=int(meta.get(META_POOL_SLOTS, defaults.pool_slots)),
        description=node.description or "",
    )
