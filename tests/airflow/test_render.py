"""The rendered Airflow DAGs, loaded the way Airflow loads them: from the dags folder, through a DagBag."""

from __future__ import annotations

import datetime as dt

import pytest

from airflow_bridge.export import export_graph
from airflow_bridge.plan import TaskDefaults, partitions_between, plan_dags
from image_assets.definitions import defs
from image_assets.sources import SOURCE_NAMES
from tests.airflow.conftest import utc

pytestmark = pytest.mark.integration


def test_dags_folder_imports_without_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dag_ids) == sorted(f"image_pipeline__{source}" for source in SOURCE_NAMES)


def test_dag_structure_equals_the_asset_graph(dagbag) -> None:
    from airflow.sdk import Asset, CronDataIntervalTimetable

    graph = defs.resolve_asset_graph()
    keys = defs.resolve_job_def("image_pipeline").asset_layer.executable_asset_keys
    parents = {k.to_user_string(): {p.to_user_string() for p in graph.get(k).parent_keys if p in keys} for k in keys}
    assert len(parents) == 4
    for dag in dagbag.dags.values():
        assert {t.task_id: set(t.upstream_task_ids) for t in dag.tasks} == parents
        for task in dag.tasks:
            assert task.outlets == [Asset(name=task.task_id, extra={"dagster_asset_key": task.task_id})]
            assert task.retries == 0  # IMGPIPE_AIRFLOW_RETRIES=0 in these tests
            assert task.pool == "default_pool" and task.execution_timeout == dt.timedelta(hours=3)
        assert isinstance(dag.timetable, CronDataIntervalTimetable)
        assert (dag.timetable.expression, str(dag.timetable.timezone)) == ("0 0 * * *", "UTC")
        assert dag.start_date == utc(2024, 1, 1) and dag.catchup is False


def test_airflow_runs_map_to_partitions_through_the_real_timetable(dagbag) -> None:
    """What the scheduler, `airflow backfill create` and `airflow dags test` hand the task, mapped to partitions."""
    from airflow.serialization.serialized_objects import DagSerialization

    plan = next(p for p in plan_dags(export_graph(defs), defaults=TaskDefaults()) if p.source == "unsplash")
    scheduler_dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dagbag.dags[plan.dag_id]))
    # Backfill/scheduled runs: one per day, logical date == data interval start.
    infos = list(scheduler_dag.iter_dagrun_infos_between(utc(2026, 10, 30), utc(2026, 11, 2)))
    mapped = [plan.partition_for(i.data_interval.start, i.logical_date) for i in infos]
    assert mapped == partitions_between(plan, dt.date(2026, 10, 30), dt.date(2026, 11, 2))
    assert mapped[0] == "2026-10-30|unsplash" and len(mapped) == 4
    # `airflow dags test DAG 2026-11-26`: Airflow infers the interval [11-25, 11-26); the run targets 11-26.
    manual = scheduler_dag.timetable.infer_manual_data_interval(run_after=utc(2026, 11, 26))
    assert (manual.start, manual.end) == (utc(2026, 11, 25), utc(2026, 11, 26))
    assert plan.partition_for(manual.start, utc(2026, 11, 26)) == "2026-11-26|unsplash"
