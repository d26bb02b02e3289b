"""What one Airflow task does, minus Airflow: pick the partition, tag the run, hand it to the configured executor."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from airflow_bridge.contracts import AssetRun, Executor
from airflow_bridge.modes import ExecutionMode, executor_for
from airflow_bridge.plan import DagPlan, TaskPlan

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AirflowRun:
    """The parts of an Airflow task's context the bridge uses."""

    dag_id: str
    task_id: str
    run_id: str
    try_number: int
    interval_start: dt.datetime | None
    logical_date: dt.datetime | None


def run_tags(run: AirflowRun) -> dict[str, str]:
    return {
        "airflow/dag_id": run.dag_id,
        "airflow/task_id": run.task_id,
        "airflow/run_id": run.run_id,
        "airflow/try_number": str(run.try_number),
        "imgpipe/launched_by": "airflow",
    }


def asset_run(dag: DagPlan, task: TaskPlan, run: AirflowRun) -> AssetRun:
    """Raises PartitionOutOfRange when the run's day has no partition (before anything is launched)."""
    key = dag.partition_for(run.interval_start, run.logical_date)
    return AssetRun(
        job_name=dag.job_name, asset_key=task.asset_key, partition_key=key, tags=dag.partition_tags(key) | run_tags(run)
    )


def run_task(
    dag: DagPlan,
    task: TaskPlan,
    run: AirflowRun,
    env: Mapping[str, str] | None = None,
    executor: Executor | None = None,
) -> str:
    request = asset_run(dag, task, run)
    mode = ExecutionMode.from_env(env)
    log.info(
        "%s.%s → Dagster %s[%s] (mode %s)", run.dag_id, run.task_id, task.asset_name, request.partition_key, mode.value
    )
    return (executor or executor_for(mode, env)).run(request)
