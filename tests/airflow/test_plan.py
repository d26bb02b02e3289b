"""The planning layer, without Airflow: DAGs, tasks, edges, schedule and the run → partition mapping."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest
from dagster import AssetKey, Definitions, MaterializeResult, asset, define_asset_job

from airflow_bridge.export import export_graph
from airflow_bridge.modes import ExecutionMode
from airflow_bridge.plan import PartitionOutOfRange, TaskDefaults, partition_day, partitions_between, plan_dags
from airflow_bridge.runner import AirflowRun, asset_run
from image_assets.assets.partitions import image_partitions
from image_assets.definitions import defs
from image_assets.sources import SOURCE_NAMES

NOW = dt.datetime(2026, 11, 27, 9, tzinfo=dt.UTC)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def plans():
    return plan_dags(export_graph(defs), defaults=TaskDefaults())


def test_plan_layer_does_not_import_airflow() -> None:
    code = (
        "import sys, airflow_bridge.plan, airflow_bridge.runner, airflow_bridge.remote, airflow_bridge.in_process;"
        "sys.exit(any(m.split('.')[0] == 'airflow' for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_one_dag_per_source(plans) -> None:
    assert [p.dag_id for p in plans] == [f"image_pipeline__{s}" for s in SOURCE_NAMES]
    assert {p.source for p in plans} == set(SOURCE_NAMES)


def test_tasks_and_edges_mirror_the_asset_graph(plans) -> None:
    graph = defs.resolve_asset_graph()
    keys = defs.resolve_job_def("image_pipeline").asset_layer.executable_asset_keys
    expected_edges = {
        (p.to_user_string(), k.to_user_string()) for k in keys for p in graph.get(k).parent_keys if p in keys
    }
    for plan in plans:
        assert {t.task_id for t in plan.tasks} == {k.to_user_string() for k in keys}
        assert {AssetKey(list(t.asset_key)) for t in plan.tasks} == set(keys)
        assert plan.edges == expected_edges
    assert expected_edges == {
        ("raw_images", "compressed_images"),
        ("compressed_images", "stored_images"),
        ("stored_images", "image_catalog"),
    }


def test_schedule_from_the_daily_dimension(plans) -> None:
    schedule = plans[0].schedule
    assert (schedule.cron, schedule.timezone, schedule.start, schedule.end_offset) == (
        "0 0 * * *",
        "UTC",
        dt.date(2024, 1, 1),
        1,
    )


def test_defaults_and_metadata_overrides(plans, monkeypatch) -> None:
    task = plans[0].tasks[0]
    assert (task.retries, task.pool, task.execution_timeout_s) == (2, "default_pool", 3 * 3600)
    monkeypatch.setenv("IMGPIPE_AIRFLOW_RETRIES", "0")
    assert TaskDefaults.from_env().retries == 0

    @asset(
        partitions_def=image_partitions,
        metadata={"airflow/retries": 5, "airflow/pool": "spark", "airflow/execution_timeout_s": 60},
    )
    def tuned() -> MaterializeResult:
        return MaterializeResult()

    (tuned_plan, *_) = plan_dags(export_graph(Definitions(assets=[tuned], jobs=[define_asset_job("image_pipeline")])))
    (task,) = tuned_plan.tasks
    assert (task.retries, task.pool, task.execution_timeout_s) == (5, "spark", 60)


@pytest.mark.parametrize(
    ("interval_start", "logical_date", "day"),
    [
        # Scheduled or backfill run of a data-interval timetable: logical date == interval start == D.
        (utc(2026, 11, 26), utc(2026, 11, 26), dt.date(2026, 11, 26)),
        # `airflow dags test DAG 2026-11-26`: Airflow infers the interval [D-1, D); the logical date names D.
        (utc(2026, 11, 25), utc(2026, 11, 26), dt.date(2026, 11, 26)),
        # Manual run without a logical date: the start of its inferred interval (the last complete day).
        (utc(2026, 11, 25), None, dt.date(2026, 11, 25)),
        # Aware datetimes in another zone are read in UTC.
        (None, dt.datetime(2026, 11, 26, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-2))), dt.date(2026, 11, 27)),
    ],
)
def test_partition_day(interval_start, logical_date, day) -> None:
    assert partition_day(interval_start, logical_date) == day


def test_partition_key_and_tags(plans) -> None:
    local = next(p for p in plans if p.source == "local")
    key = local.partition_for(utc(2026, 11, 25), utc(2026, 11, 26), now=NOW)
    assert key == "2026-11-26|local"
    assert local.partition_tags(key) == {
        "dagster/partition": key,
        "dagster/partition/date": "2026-11-26",
        "dagster/partition/source": "local",
    }
    # The key is one the Dagster partitions definition knows.
    assert defs.resolve_job_def("image_pipeline").partitions_def.has_partition_key(key)


@pytest.mark.parametrize("day", [utc(2023, 12, 31), utc(2026, 11, 28), utc(2099, 1, 1)])
def test_dates_without_a_partition_fail_loudly(plans, day) -> None:
    with pytest.raises(PartitionOutOfRange, match="maps to no Dagster partition"):
        plans[0].partition_for(day, day, now=NOW)


def test_no_date_at_all_fails(plans) -> None:
    with pytest.raises(PartitionOutOfRange):
        plans[0].partition_for(None, None)
    with pytest.raises(PartitionOutOfRange, match="naive"):
        plans[0].partition_for(dt.datetime(2026, 11, 26), None)


def test_backfill_range_maps_day_by_day(plans) -> None:
    wallhaven = next(p for p in plans if p.source == "wallhaven")
    keys = partitions_between(wallhaven, dt.date(2026, 10, 30), dt.date(2026, 11, 2), now=NOW)
    assert keys == ["2026-10-30|wallhaven", "2026-10-31|wallhaven", "2026-11-01|wallhaven", "2026-11-02|wallhaven"]
    with pytest.raises(PartitionOutOfRange):
        partitions_between(wallhaven, dt.date(2023, 12, 30), dt.date(2024, 1, 2), now=NOW)


def test_asset_run_carries_the_airflow_ids(plans) -> None:
    local = next(p for p in plans if p.source == "local")
    task = next(t for t in local.tasks if t.task_id == "image_catalog")
    run = AirflowRun("image_pipeline__local", "image_catalog", "manual__x", 1, utc(2026, 11, 25), utc(2026, 11, 26))
    request = asset_run(local, task, run)
    assert (request.job_name, request.asset_key, request.partition_key) == (
        "image_pipeline",
        ("image_catalog",),
        "2026-11-26|local",
    )
    assert request.tags["airflow/dag_id"] == "image_pipeline__local"
    assert request.tags["airflow/task_id"] == "image_catalog"
    assert request.tags["airflow/run_id"] == "manual__x"


def test_execution_mode_from_env() -> None:
    assert ExecutionMode.from_env({}) is ExecutionMode.IN_PROCESS
    assert ExecutionMode.from_env({"IMGPIPE_AIRFLOW_MODE": "Remote"}) is ExecutionMode.REMOTE
    with pytest.raises(ValueError, match="in_process, remote"):
        ExecutionMode.from_env({"IMGPIPE_AIRFLOW_MODE": "celery"})
