"""The asset graph as plain data: which DAGs, tasks, edges and schedule Airflow gets, and which partition a run targets.

Input is the JSON that `export` writes from the Dagster definitions (committed as `asset_graph.json`), so planning
imports neither Airflow nor Dagster: a DAG file parses in well under a second, and the plan can be checked (and
reused by other renderers) anywhere.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DAG_ID_PREFIX = "image_pipeline"
GRAPH_FILE = Path(__file__).with_name("asset_graph.json")
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


def load_graph(path: str | Path = GRAPH_FILE) -> dict[str, Any]:
    """The exported asset graph (see `export`)."""
    graph = json.loads(Path(path).read_text())
    if not isinstance(graph, dict) or graph.get("format") != 1:
        raise ValueError(f"{path} is not an asset graph export of format 1; rerun `python -m airflow_bridge.export`")
    return graph


def plan_dags(graph: Mapping[str, Any], defaults: TaskDefaults | None = None) -> list[DagPlan]:
    """One DagPlan per source, one task per asset of the exported job, edges from asset deps."""
    defaults = defaults or TaskDefaults.from_env()
    date_dim, source_dim = graph["date_dimension"], graph["source_dimension"]
    schedule = DailySchedule(
        cron=date_dim["cron"],
        timezone=date_dim["timezone"],
        start=dt.date.fromisoformat(date_dim["start"]),
        end_offset=int(date_dim["end_offset"]),
        fmt=date_dim["fmt"],
    )
    tasks = tuple(_task_plan(asset, defaults) for asset in graph["assets"])
    return [
        DagPlan(
            dag_id=dag_id_for(source),
            source=source,
            job_name=graph["job"],
            date_dimension=date_dim["name"],
            source_dimension=source_dim["name"],
            schedule=schedule,
            tasks=tasks,
        )
        for source in source_dim["values"]
    ]


def _task_plan(asset: Mapping[str, Any], defaults: TaskDefaults) -> TaskPlan:
    meta = asset.get("airflow") or {}
    key = tuple(asset["key"])
    return TaskPlan(
        task_id=task_id_for(key),
        asset_key=key,
        upstream=tuple(sorted(task_id_for(tuple(k)) for k in asset["upstream"])),
        retries=int(meta.get(META_RETRIES, defaults.retries)),
        retry_delay_s=int(meta.get(META_RETRY_DELAY_S, defaults.retry_delay_s)),
        execution_timeout_s=int(meta.get(META_TIMEOUT_S, defaults.execution_timeout_s)),
        pool=str(meta.get(META_POOL, defaults.pool)),
        pool_slots=int(meta.get(META_POOL_SLOTS, defaults.pool_slots)),
        description=asset.get("description") or "",
    )
