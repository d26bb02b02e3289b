"""Real Airflow runs (dag.test) in in-process mode, checked through the Dagster instance they write to."""

from __future__ import annotations

import datetime as dt

import pytest
from dagster import AssetKey, DagsterInstance, DagsterRunStatus

from tests.airflow.conftest import place_photo, utc

pytestmark = pytest.mark.integration

ASSETS = ["raw_images", "compressed_images", "stored_images", "image_catalog"]


def materialization(instance: DagsterInstance, asset: str, partition: str):
    records = instance.fetch_materializations(AssetKey(asset), limit=50).records
    return next((r for r in records if r.partition_key == partition), None)


def task_states(dag_run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


@pytest.mark.integration
def test_dag_test_materializes_every_asset_in_process(airflow_db, dagbag, tmp_path, monkeypatch) -> None:
    place_photo(tmp_path / "photos", "chelsea.png", dt.date(2026, 11, 26))
    monkeypatch.setenv("IMGPIPE_LOCAL_SOURCE", str(tmp_path / "photos"))
    monkeypatch.setenv("IMGPIPE_AIRFLOW_MODE", "in_process")

    dag_run = dagbag.dags["image_pipeline__local"].test(logical_date=utc(2026, 11, 26))

    assert str(dag_run.state) == "success", task_states(dag_run)
    with DagsterInstance.get() as instance:
        for asset in ASSETS:
            record = materialization(instance, asset, "2026-11-26|local")
            assert record is not None, f"{asset} not materialized"
            run = instance.get_run_by_id(record.run_id)
            assert run.job_name == "image_pipeline" and run.status == DagsterRunStatus.SUCCESS
            assert run.tags["airflow/dag_id"] == "image_pipeline__local"
            assert run.tags["airflow/task_id"] == asset
            assert run.tags["airflow/run_id"] == dag_run.run_id
            assert run.tags["dagster/partition"] == "2026-11-26|local"
        catalog = materialization(instance, "image_catalog", "2026-11-26|local")
        assert catalog.asset_materialization.metadata["documents"].value == 1


@pytest.mark.integration
def test_failing_asset_fails_its_task_with_dagsters_error(airflow_db, dagbag, tmp_path, monkeypatch, capfd) -> None:
    missing = tmp_path / "no-such-folder"
    monkeypatch.setenv("IMGPIPE_LOCAL_SOURCE", str(missing))
    monkeypatch.setenv("IMGPIPE_AIRFLOW_MODE", "in_process")

    dag_run = dagbag.dags["image_pipeline__local"].test(logical_date=utc(2026, 11, 20))

    assert str(dag_run.state) == "failed"
    states = task_states(dag_run)
    assert states["raw_images"] == "failed"
    assert {states[t] for t in ASSETS[1:]} == {"upstream_failed"}
    out, err = capfd.readouterr()
    assert f"local source folder {missing} does not exist" in out + err
    with DagsterInstance.get() as instance:
        (run,) = [r for r in instance.get_runs() if r.tags.get("airflow/run_id") == dag_run.run_id]
        assert run.status == DagsterRunStatus.FAILURE and run.tags["dagster/partition"] == "2026-11-20|local"


def test_date_without_partition_fails_before_any_dagster_run(monkeypatch) -> None:
    """The operator turns an out-of-range day into AirflowFailException (no retries), launching nothing."""
    from airflow.sdk.exceptions import AirflowFailException

    from airflow_bridge.export import export_graph
    from airflow_bridge.plan import plan_dags
    from airflow_bridge.render import DagsterAssetOperator
    from image_assets.definitions import defs

    plan = next(p for p in plan_dags(export_graph(defs)) if p.source == "local")
    task = next(t for t in plan.tasks if t.task_id == "raw_images")
    operator = DagsterAssetOperator(task_id="raw_images", dag_plan=plan, task_plan=task)

    class TI:
        dag_id, task_id, try_number = plan.dag_id, "raw_images", 1

    launched = []
    monkeypatch.setattr("airflow_bridge.in_process.InProcessExecutor.run", lambda self, r: launched.append(r))
    context = {
        "ti": TI(),
        "run_id": "manual__x",
        "data_interval_start": utc(2099, 1, 1),
        "logical_date": utc(2099, 1, 1),
    }
    with pytest.raises(AirflowFailException, match="2099-01-01 maps to no Dagster partition"):
        operator.execute(context)
    assert launched == []
