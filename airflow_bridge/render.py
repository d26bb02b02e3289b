"""Plans → Airflow DAG objects. Thin on purpose: every decision lives in `plan`; every Airflow name in `compat`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow_bridge.compat import DAG, AirflowFailException, Asset, BaseOperator, Context, CronDataIntervalTimetable
from airflow_bridge.plan import DagPlan, PartitionOutOfRange, TaskPlan
from airflow_bridge.runner import AirflowRun, run_task


class DagsterAssetOperator(BaseOperator):
    """Materializes one Dagster asset for the partition of the Airflow run (mode from IMGPIPE_AIRFLOW_MODE)."""

    ui_color = "#4F43DD"

    def __init__(self, *, dag_plan: DagPlan, task_plan: TaskPlan, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dag_plan, self.task_plan = dag_plan, task_plan

    def execute(self, context: Context) -> str:
        ti = context["ti"]
        run = AirflowRun(
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            run_id=context["run_id"],
            try_number=ti.try_number,
            interval_start=context.get("data_interval_start"),
            logical_date=context.get("logical_date"),
        )
        try:
            return run_task(self.dag_plan, self.task_plan, run)
        except PartitionOutOfRange as exc:  # retrying cannot help: fail now, loudly
            raise AirflowFailException(str(exc)) from exc


def render_dag(plan: DagPlan) -> DAG:
    schedule = plan.schedule
    start = dt.datetime.combine(schedule.start, dt.time(), dt.UTC)
    with DAG(
        dag_id=plan.dag_id,
        schedule=CronDataIntervalTimetable(schedule.cron, timezone=schedule.timezone),
        start_date=start,
        catchup=False,
        description=f"Dagster job {plan.job_name} for source {plan.source}, one daily partition per run",
        doc_md=_doc(plan),
        tags=["imgpipe", "dagster", f"source:{plan.source}"],
        default_args={"owner": "imgpipe"},
    ) as dag:
        operators = {task.task_id: _operator(plan, task) for task in plan.tasks}
        for upstream, downstream in sorted(plan.edges):
            operators[upstream] >> operators[downstream]
    return dag


def render_dags(plans: list[DagPlan]) -> dict[str, DAG]:
    return {plan.dag_id: render_dag(plan) for plan in plans}


def _operator(plan: DagPlan, task: TaskPlan) -> DagsterAssetOperator:
    return DagsterAssetOperator(
        task_id=task.task_id,
        dag_plan=plan,
        task_plan=task,
        retries=task.retries,
        retry_delay=dt.timedelta(seconds=task.retry_delay_s),
        execution_timeout=dt.timedelta(seconds=task.execution_timeout_s),
        pool=task.pool,
        pool_slots=task.pool_slots,
        outlets=[Asset(name=task.asset_name, extra={"dagster_asset_key": task.asset_name})],
        doc_md=task.description or None,
    )


def _doc(plan: DagPlan) -> str:
    return (
        f"Exported from the Dagster job `{plan.job_name}` by `airflow_bridge`. The run for day D materializes "
        f"partition `D|{plan.source}` of each asset (D = logical date, else data interval start, in UTC). "
        "Execution mode: `IMGPIPE_AIRFLOW_MODE` (in_process | remote) on the workers."
    )
